"""The window's controls, end to end against a real (small) run."""

from __future__ import annotations

import random
import time

import numpy as np
from PyQt6.QtCore import QPointF, Qt

from tests.gui.conftest import wait_idle


def test_space_starts_and_pauses_and_views_move(qtbot, window):
    first = window.heatmaps.images[0].image.copy()
    qtbot.keyClick(window, Qt.Key.Key_Space)
    qtbot.waitUntil(lambda: window.last_report.running
                    and window.last_report.snapshot.step > 0, timeout=5000)
    qtbot.waitUntil(lambda: not np.array_equal(window.heatmaps.images[0].image, first),
                    timeout=5000)
    qtbot.keyClick(window, Qt.Key.Key_Space)
    wait_idle(qtbot, window)
    assert "paused" in window.mode_label.text()
    assert window.start_action.text().endswith("Start")


def test_arrow_steps_once_and_shift_arrow_steps_n(qtbot, window):
    qtbot.keyClick(window, Qt.Key.Key_Right)
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 1, timeout=5000)
    window.step_count_spin.setValue(25)
    qtbot.keyClick(window, Qt.Key.Key_Right, Qt.KeyboardModifier.ShiftModifier)
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 26
                    and not window.last_report.running, timeout=10000)
    assert window.step_label.text() == "step 26"


def test_reset_new_seed_and_perturb(qtbot, window):
    window.step_count_spin.setValue(20)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 20, timeout=10000)
    window.reset()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 0, timeout=10000)
    seed_before = window.form.seed_spin.value()
    window.new_seed()
    # the worker has no trainer for a moment while it builds the new one
    qtbot.waitUntil(lambda: getattr(window.worker._trainer, "seed", seed_before) != seed_before,
                    timeout=10000)
    assert window.worker._trainer.seed == window.form.seed_spin.value()

    before = window.record.latest().power.copy()
    window.perturb_scale_spin.setValue(1.0)
    window.perturb()
    qtbot.waitUntil(lambda: not np.array_equal(window.record.latest().power, before), timeout=5000)

    window.perturb_selected_box.setChecked(True)
    window.selected_neurons = []
    window.perturb()
    assert "No neuron is selected" in window.last_message
    window.select_neurons([2])
    before = window.record.latest().power.copy()
    window.perturb()
    qtbot.waitUntil(lambda: not np.array_equal(window.record.latest().power, before), timeout=5000)
    after = window.record.latest().power
    changed = np.flatnonzero(np.any(np.abs(after - before) > 1e-6, axis=(0, 2)))
    assert changed.tolist() == [2]


def test_group_spec_is_checked_as_you_type(qtbot, window):
    form = window.form
    form.group_edit.clear()
    qtbot.keyClicks(form.group_edit, "D9x")
    qtbot.waitUntil(lambda: form.group_status.objectName() == "error", timeout=3000)
    assert form.group_status.text()
    assert form.apply() is None
    form.group_edit.clear()
    qtbot.keyClicks(form.group_edit, "S4")
    qtbot.waitUntil(lambda: "order 24" in form.group_status.text(), timeout=3000)
    assert form.group_status.objectName() == "hint"


def test_settings_apply_to_a_new_run(qtbot, window):
    form = window.form
    form.group_edit.setText("C6")
    form.width_spin.setValue(20)
    form.choices["activation"].setCurrentText("relu")
    form.choices["optimiser"].setCurrentText("gd")
    form.lr_edit.setText("0.2")
    form.seed_spin.setValue(5)
    form.overrides_edit.setText("momentum=0.5")
    form.apply()
    qtbot.waitUntil(lambda: window.context.group_name == "C6", timeout=10000)
    config = window.context.config
    assert (config.width, config.activation, config.optimiser) == (20, "relu", "gd")
    assert (config.learning_rate, config.seed, config.momentum) == (0.2, 5, 0.5)
    # the context comes first; the heat map is drawn from the run's first report
    shape = (20, window.context.num_orbits)
    qtbot.waitUntil(lambda: window.heatmaps.images[0].image is not None
                    and window.heatmaps.images[0].image.shape == shape, timeout=10000)

    form.lr_edit.setText("abc")
    assert form.apply() is None and "not a number" in form.problem.text()
    form.lr_edit.setText("0.2")
    form.overrides_edit.setText("momentum=2")
    assert form.apply() is None and "momentum" in form.problem.text()
    form.overrides_edit.clear()
    form.choices["encoding"].setCurrentText("template")  # needs template_powers
    assert form.apply() is None and "template_powers" in form.problem.text()


def test_learning_rate_changes_while_training(qtbot, window):
    window.start()
    qtbot.waitUntil(lambda: window.mode == "running", timeout=5000)
    window.form.lr_edit.setText("0.0125")
    window.form.lr_edit.editingFinished.emit()
    qtbot.waitUntil(lambda: window.worker._trainer.learning_rate == 0.0125, timeout=5000)
    assert window.mode == "running"
    window.pause()
    wait_idle(qtbot, window)


def test_timeline_scrubs_every_view(qtbot, window):
    window.step_count_spin.setValue(60)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 60
                    and not window.last_report.running, timeout=10000)
    for target in (61, 62, 63):
        window.step_once()
        qtbot.waitUntil(lambda t=target: window.last_report.snapshot.step == t
                        and not window.last_report.running, timeout=5000)
    assert len(window.record) >= 3
    window.timeline.setValue(0)
    assert window.scrub_index == 0 and window.shown_step() == 0
    first = window.record.snapshots[0]
    assert np.array_equal(window.heatmaps.images[0].image,
                          first.power[0][window.heatmaps.order].astype(np.float32))
    assert window.loss_panel.cursor.isVisible() and window.loss_panel.cursor.value() == 0
    assert "scrubbed" in window.timeline_label.text()
    window.go_live()
    assert window.scrub_index is None and window.timeline_label.text() == "live"
    assert not window.loss_panel.cursor.isVisible()


def test_a_view_in_a_tab_behind_another_is_drawn_when_it_shows(qtbot, window):
    window.docks["function_power"].raise_()
    window.step_count_spin.setValue(10)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 10
                    and not window.last_report.running, timeout=10000)
    qtbot.waitUntil(lambda: window._drawn.get("loss", (0, 0, None))[2:] == (None, id(
        window.record.latest())), timeout=5000)
    assert window._drawn.get("agf") != window._drawn["loss"]  # behind its tab: not drawn
    window.docks["agf"].raise_()
    qtbot.waitUntil(lambda: window._drawn.get("agf") == window._drawn["loss"], timeout=5000)


def test_clicking_a_heatmap_row_inspects_that_neuron(qtbot, window):
    panel = window.heatmaps
    plot = panel.plots[1]
    row = 5
    neuron = panel.neuron_at_row(row)
    scene_point = plot.vb.mapViewToScene(QPointF(0.5, row + 0.5))
    view_point = panel.canvas.mapFromScene(scene_point)
    qtbot.mouseClick(panel.canvas.viewport(), Qt.MouseButton.LeftButton, pos=view_point)
    qtbot.waitUntil(lambda: window.inspector.neuron == neuron, timeout=3000)
    assert f"Neuron {neuron}" in window.inspector.heading.text()
    qtbot.waitUntil(lambda: window.last_report.neuron_functions is not None
                    and window.last_report.neuron_functions.neuron == neuron, timeout=5000)
    x, y = window.inspector.function_curves[0].getData()
    assert len(x) == window.context.order


def test_sort_toggle_and_resort(qtbot, window):
    window.step_count_spin.setValue(40)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 40, timeout=10000)
    snapshot = window.record.latest()
    order = window.heatmaps.order
    assert np.all(np.diff(snapshot.dominant_orbit[order]) >= 0)
    window.heatmaps.sort_box.setChecked(False)
    assert np.array_equal(window.heatmaps.order, np.arange(window.context.width))
    window.heatmaps.sort_box.setChecked(True)
    assert np.all(np.diff(snapshot.dominant_orbit[window.heatmaps.order]) >= 0)


def test_a_short_run_concentrates_each_neuron_on_one_orbit(qtbot, window):
    window.step_count_spin.setValue(150)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 150
                    and not window.last_report.running, timeout=60000)
    images = [image.image for image in window.heatmaps.images]
    for image in images:  # rows are neurons, columns orbits, drawn from the snapshot
        assert image.shape == (window.context.width, window.context.num_orbits)
        assert np.mean(image.max(axis=1) > 0.9) >= 0.9
    dominant = window.record.latest().dominant_orbit[window.heatmaps.order]
    assert not np.any(window.context.orbit_trivial[dominant])


def test_random_rapid_clicks_never_hang(qtbot, window):
    rng = random.Random(7)
    window.step_count_spin.setValue(5)
    window.perturb_scale_spin.setValue(0.05)
    actions = [window.toggle_training, window.step_once, window.step_many, window.reset,
               window.perturb, window.start, window.pause]
    errors: list[str] = []
    window.worker.failed.connect(errors.append)
    for i in range(500):
        rng.choice(actions)()
        if i % 25 == 0:
            qtbot.wait(1)
    window.pause()
    started = time.perf_counter()
    wait_idle(qtbot, window, timeout=20000)
    assert time.perf_counter() - started < 20
    assert window.worker.isRunning()
    assert not errors
    qtbot.waitUntil(lambda: window.worker._commands.empty() and window.mode == "idle",
                    timeout=20000)
    wait_idle(qtbot, window)
    step = window.worker._trainer.step_count  # every command is done: this is final
    window.step_once()  # still obeys
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == step + 1, timeout=5000)


def test_closing_while_training_ends_quickly(qtbot, window):
    window.start()
    qtbot.waitUntil(lambda: window.mode == "running", timeout=5000)
    qtbot.wait(200)
    started = time.perf_counter()
    window.close()
    elapsed = time.perf_counter() - started
    assert window.worker.isFinished()
    assert elapsed < 1.0


def test_diversification_says_uniformity_is_predicted_for_abelian_groups_only(qtbot, window):
    from backend.training.trainer import Trainer
    from gui.panels.diversification import tv_caption
    from gui.run_context import context_from_trainer
    from tests.gui.conftest import small_config

    panel = window.diversification_panel
    qtbot.waitUntil(lambda: panel.tv_text.toPlainText().startswith("TV = "), timeout=5000)
    assert panel.tv_text.toPlainText().endswith("*")  # C7:C3: a reference only
    assert "non-Abelian group (TV marked *)" in panel.definition
    abelian = context_from_trainer(Trainer(small_config(group="C5", width=8)))
    assert abelian.abelian
    assert tv_caption(0.25, abelian.abelian) == "TV = 0.250"
