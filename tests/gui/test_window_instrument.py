"""The window as an instrument: sizes, labels, keys, timeline, alignment, answers, CSV."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PyQt6.QtCore import QPoint, Qt
from PyQt6.QtWidgets import QApplication

from gui.panels.orbit_axis import ColumnAxis
from gui.timeline import TICKS, nearest_index, step_positions
from tests.gui.conftest import small_config, wait_idle


def open_window(qtbot, size=None, **changes):
    from gui.main_window import MainWindow

    window = MainWindow(small_config(**changes))
    qtbot.addWidget(window)
    if size is not None:
        window.resize(*size)
    window.show()
    qtbot.waitUntil(lambda: window.context is not None and len(window.record) > 0,
                    timeout=30000)
    return window


def column_axes(window) -> list[ColumnAxis]:
    axes = [plot.getAxis("bottom") for plot in window.heatmaps.plots]
    axes.append(window.diversification_panel.plot.getPlotItem().getAxis("bottom"))
    return axes


@pytest.mark.parametrize("size", [(1024, 700), (1280, 800), (1920, 1080)])
@pytest.mark.parametrize("group", ["S4", "Q8xS3"])
def test_layout_fits_and_no_column_label_is_clipped(qtbot, size, group):
    window = open_window(qtbot, size, group=group, width=32)
    try:
        window.grab()  # lay out and paint every axis
        qtbot.wait(50)
        window.grab()
        assert window.width() <= size[0] and window.height() <= size[1]
        for key, dock in window.docks.items():
            if not dock.isFloating() and window.tabifiedDockWidgets(dock) == []:
                assert dock.width() >= dock.minimumWidth() and dock.height() > 0, key
        labels = window.context.num_orbits
        for axis in column_axes(window):
            drawn = axis.drawn_labels()
            assert drawn, "no label drawn"
            bounds = axis.boundingRect().adjusted(-1, -1, 1, 1)
            for text, rect in drawn:
                assert text and bounds.contains(rect), (text, rect, bounds)
            ordered = sorted((rect.left(), rect.right()) for _text, rect in drawn)
            for (_l1, r1), (l2, _r2) in zip(ordered, ordered[1:], strict=False):
                assert r1 <= l2 + 0.5, "labels overlap"
            if size[0] >= 1920 or (size[0] >= 1280 and labels <= 10):
                assert len(drawn) == labels, f"labels left out at {size}"
            else:  # a line of text per column does not fit: every other one at least
                assert len(drawn) >= labels // 3
    finally:
        window.worker.shutdown(2000)


def test_agf_round_maps_label_their_columns_apart_and_the_loss_plot_keeps_its_curve(qtbot):
    """The AGF rounds page at 1280x800 on C20 (11 orbits in a map a hundred pixels wide):
    level labels that never touch, the same columns labelled under both maps; below
    COMPACT_HEIGHT the loss plot gives its axis titles' room to the curve."""
    from gui.panels.agf_rounds import COMPACT_HEIGHT

    window = open_window(qtbot, (1280, 800), group="C20", width=32)
    try:
        window.docks["agf"].raise_()
        panel = window.agf_panel
        window.grab()
        qtbot.wait(50)
        window.grab()
        axes = [plot.getAxis("bottom") for plot in panel.map_plots]
        drawn = [axis.drawn_labels() for axis in axes]
        assert drawn[0] and [t for t, _ in drawn[0]] == [t for t, _ in drawn[1]]
        assert drawn[0][0][0] == "k=0" and not any(axis.rotated for axis in axes)
        assert 1 < axes[0].stride < window.context.num_orbits
        for labels, axis in zip(drawn, axes, strict=True):
            bounds = axis.boundingRect().adjusted(-1, -1, 1, 1)
            ordered = sorted((rect.left(), rect.right()) for _text, rect in labels)
            assert all(bounds.contains(rect) for _text, rect in labels)
            for (_l1, r1), (l2, _r2) in zip(ordered, ordered[1:], strict=False):
                assert r1 <= l2 + 0.5, "labels overlap"
        titles = [panel.plot.getAxis(side).label for side in ("bottom", "left")]
        short = panel.plot.geometry().height() < COMPACT_HEIGHT
        assert all(title.isVisible() != short for title in titles)
        panel.canvas.resize(panel.canvas.width(), COMPACT_HEIGHT - 40)
        assert not any(title.isVisible() for title in titles)
        panel.canvas.resize(panel.canvas.width(), COMPACT_HEIGHT + 40)
        assert all(title.isVisible() for title in titles)
    finally:
        window.worker.shutdown(2000)


def test_sampled_figures_title_their_axes_with_what_fits(qtbot):
    """S5 on the exact path estimates accuracy and learned-function power on a sample
    of 4096 of its 14 400 pairs: each axis says so in the longest form that fits its
    length, or not at all (never cut at both ends), the whole sentence in its tooltip;
    a larger window gets a longer form."""
    from PyQt6.QtGui import QFontMetricsF

    window = open_window(qtbot, (1024, 700), group="S5", width=16, step_path="exact",
                         loss="mse", activation="square")
    try:
        window.docks["function_power"].raise_()
        axes = {"accuracy": window.loss_panel.plot.getPlotItem().getAxis("right"),
                "power": window.function_panel.plot.getPlotItem().getAxis("left")}

        def shown():
            window.grab()
            qtbot.wait(50)
            for name, axis in axes.items():
                room = axis.geometry().height()
                text = axis.labelText if axis.label.isVisible() else ""
                assert text.startswith(name) or not text, text
                assert QFontMetricsF(axis.label.font()).horizontalAdvance(text) <= room, text
                whole = f"{name}, 4096 sampled pairs"
                assert axis.toolTip() == ("" if text == whole else whole)
            return [axis.labelText if axis.label.isVisible() else "" for axis in axes.values()]

        small = shown()
        window.resize(1920, 1080)
        large = shown()
        assert any(len(b) > len(a) for a, b in zip(small, large, strict=True))
    finally:
        window.worker.shutdown(2000)


@pytest.mark.parametrize("size", [(1024, 700), (1280, 800), (1600, 900)])
def test_settings_dock_shows_every_field_whole(qtbot, size):
    from gui import theme

    app = QApplication.instance()
    previous = app.styleSheet()
    app.setStyleSheet(theme.style_sheet())  # the app's look: its padding widens fields
    window = open_window(qtbot, size)
    try:
        window.grab()
        qtbot.wait(50)
        scroll = window.settings_scroll
        assert not scroll.horizontalScrollBar().isVisible()
        viewport = scroll.viewport().width()
        assert window.form.sizeHint().width() <= viewport
        fields = [window.form.group_edit, window.form.width_spin, window.form.seed_spin,
                  window.form.lr_edit, window.form.init_edit, window.form.overrides_edit,
                  *window.form.choices.values()]
        for field in fields:  # a combo box narrower than its hint cuts its text
            assert field.width() >= field.sizeHint().width(), field
            assert field.mapTo(window.form, field.rect().topRight()).x() < viewport, field
        window.reset_layout()
        qtbot.wait(50)
        assert window.docks["controls"].width() >= window.settings_width()
    finally:
        window.worker.shutdown(2000)
        app.setStyleSheet(previous)


def test_default_window_fits_the_screen(qtbot):
    from gui.main_window import PREFERRED_SIZE, default_window_size

    window = open_window(qtbot)
    try:
        available = window.screen().availableGeometry()
        size = default_window_size(window)
        assert size.width() <= max(PREFERRED_SIZE[0], 640)
        assert size.width() <= max(available.width(), 640)
        assert size.height() <= max(available.height(), 480)
    finally:
        window.worker.shutdown(2000)


def test_docks_recover_after_shrinking_and_reset_layout_restores_them(qtbot, window):
    window.resize(1400, 900)
    qtbot.wait(200)
    window.resize(700, 500)
    qtbot.wait(300)
    window.resize(1400, 900)
    qtbot.waitUntil(lambda: window.docks["controls"].width() >= 0.6 * 0.15 * 1400,
                    timeout=3000)
    window.docks["loss"].close()
    window.docks["phases"].setFloating(True)
    window.reset_layout()
    for dock in window.docks.values():
        assert not dock.isFloating()
    assert window.docks["loss"].isVisible()
    assert window.reset_layout_action in window.menuBar().actions()[-1].menu().actions() or \
        any(window.reset_layout_action in menu.menu().actions()
            for menu in window.menuBar().actions() if menu.menu())


def test_shortcuts_act_from_a_number_field_and_escape_leaves_a_text_field(qtbot, window):
    window.activateWindow()
    window.form.seed_spin.setFocus()
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.form.seed_spin, timeout=2000)
    qtbot.keyClick(window.form.seed_spin, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 1, timeout=5000)
    window.form.lr_edit.setFocus()
    text = window.form.lr_edit.text()
    qtbot.keyClick(window.form.lr_edit, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 2, timeout=5000)
    assert window.form.lr_edit.text() == text
    edit = window.form.group_edit
    edit.setFocus()
    edit.end(False)
    qtbot.keyClick(edit, Qt.Key.Key_D)  # text fields type letters
    assert edit.text().endswith("d")
    qtbot.keyClick(edit, Qt.Key.Key_Escape)
    assert QApplication.focusWidget() is not edit
    qtbot.keyClick(QApplication.focusWidget() or window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.last_report.running, timeout=5000)
    window.pause()
    wait_idle(qtbot, window)


def test_timeline_jumps_to_a_click_and_offers_log_steps(qtbot, window):
    window.step_count_spin.setValue(200)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 200
                    and not window.last_report.running, timeout=20000)
    slider = window.timeline
    x = slider.width() // 4
    qtbot.mouseClick(slider, Qt.MouseButton.LeftButton, pos=QPoint(x, slider.height() // 2))
    assert window.scrub_index is not None
    steps = window.record.snapshot_steps
    expected = nearest_index(steps, slider.value_at(x), False)
    assert window.scrub_index == expected
    window.go_live()
    window.set_log_steps(True)
    assert window.loss_panel.plot.getPlotItem().getAxis("bottom").logMode
    assert window.function_panel.plot.getPlotItem().getAxis("bottom").logMode
    assert window.inspector.race_plot.getAxis("bottom").logMode
    x_data = window.loss_panel.loss_curve.xData
    assert x_data is not None and np.nanmax(x_data) == pytest.approx(np.log10(200), abs=1e-6)
    assert window.log_steps_action.isChecked() and window.log_steps_box.isChecked()
    positions = step_positions(np.array([0, 9, 99, 999]), True)
    assert positions == pytest.approx([0, TICKS / 3, 2 * TICKS / 3, TICKS])


def test_legend_lists_only_drawn_series(qtbot):
    window = open_window(qtbot, train_fraction=0.5)
    try:
        names = [label.text for _sample, label in window.loss_panel.legend.items]
        assert "held-out acc." in names
        assert ("AGF prediction" in names) == bool(window.context.predicted_drops)
    finally:
        window.worker.shutdown(2000)


def test_alignment_view_follows_group_and_orbit_without_stale_points(qtbot, window):
    panel = window.phase_panel
    window.form.set_config(small_config(group="S4", width=64))
    window.form.apply()
    qtbot.waitUntil(lambda: window.context.group_name == "S4" and len(window.record) > 0,
                    timeout=20000)
    window.step_count_spin.setValue(20)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 20
                    and not window.last_report.running, timeout=20000)
    snapshot = window.record.latest()
    counts = np.asarray(snapshot.orbit_counts).copy()
    counts[window.context.orbit_trivial] = -1
    assert panel.chosen_orbit() == int(np.argmax(counts))  # any dimension
    matrix = [i for i in range(window.context.num_orbits) if window.context.orbit_dims[i] >= 2
              and snapshot.orbit_counts[i] > 0][0]
    panel.orbit_box.setCurrentIndex(panel.orbit_box.findData(matrix))
    members = int(snapshot.orbit_counts[matrix])
    assert panel.matrix_mode
    assert len(panel.scatters[4].getData()[0]) == members  # the overlap, one per neuron
    radii = np.sort(np.hypot(*panel.scatters[0].getData()))
    expected = np.sort(snapshot.rank_one[0, snapshot.dominant_orbit == matrix])
    assert radii == pytest.approx(expected, abs=1e-5)  # r₁(â) as the radius
    window.form.set_config(small_config(group="C5", width=16))
    window.form.apply()
    qtbot.waitUntil(lambda: window.context.group_name == "C5" and len(window.record) > 0,
                    timeout=20000)
    qtbot.waitUntil(lambda: panel.snapshot is not None, timeout=5000)
    assert not panel.matrix_mode
    assert "φ" in panel.circle_plots[0].titleLabel.text
    orbit = panel.chosen_orbit()
    members = int(np.sum(window.record.latest().dominant_orbit == orbit))
    for layer in range(3):
        assert len(panel.scatters[layer].getData()[0]) == members
    assert len(panel.scatters[4].getData()[0]) == 0


def test_answers_table_is_drawn_and_a_click_shows_the_vote(qtbot, window):
    panel = window.answers_panel
    window.show_panel("answers")
    qtbot.waitUntil(lambda: panel.table_image.image is not None, timeout=5000)
    n = window.context.order
    assert panel.table_image.image.shape[:2] == (n, n)
    assert "·" in panel.cell_text(1, 2)
    window._pair_clicked(1, 2)
    qtbot.waitUntil(lambda: panel.vote is not None, timeout=20000)
    assert panel.vote.per_orbit.shape == (window.context.num_orbits, n)
    assert panel.vote.correct == int(window.context.cayley_table[1, 2])
    assert "live weights" in panel.vote_note.text()


def test_a_sampled_answer_table_names_its_sample(qtbot, window):
    panel = window.answers_panel
    snapshot = window.record.latest().copy()
    assert "sampled" not in panel.summary.text()
    snapshot.answer_pairs_per_cell = 3
    panel.show_snapshot(snapshot)
    assert panel.summary.text().startswith("answers, 3 sampled pairs per cell: ")
    panel.show_snapshot(window.record.latest())
    assert "sampled" not in panel.summary.text()


def test_heat_map_cells_tell_their_neuron_orbit_and_value(qtbot, window):
    text = window.heatmaps.cell_text(1, 0, 2)
    neuron = window.heatmaps.neuron_at_row(0)
    value = window.record.latest().power[1, neuron, 2]
    assert f"neuron {neuron}" in text and window.context.orbit_labels[2] in text
    assert f"{value:.3f}" in text
    assert "orbit" in window.diversification_panel.bar_text(1)


def test_series_export_from_the_file_menu(qtbot, window, tmp_path):
    from gui.export_actions import install_export_actions

    actions = install_export_actions(window)
    path = actions.export_csv(tmp_path / "series.csv")
    rows = list(csv.reader(path.open()))
    assert rows[0][:4] == ["step", "loss", "train_accuracy", "test_accuracy"]
    assert any(name.startswith("count[") for name in rows[0])
    assert len(rows) > 1


def test_the_three_heat_maps_keep_their_rows_level(qtbot):
    window = open_window(qtbot, (1280, 800), group="S4", width=32)
    try:
        window.grab()
        qtbot.wait(50)
        window.grab()
        plots = window.heatmaps.plots
        tops = {round(plot.vb.sceneBoundingRect().top()) for plot in plots}
        bottoms = {round(plot.vb.sceneBoundingRect().bottom()) for plot in plots}
        assert len(tops) == 1 and len(bottoms) == 1
        assert len({plot.getAxis("bottom").rotated for plot in plots}) == 1
    finally:
        window.worker.shutdown(2000)
