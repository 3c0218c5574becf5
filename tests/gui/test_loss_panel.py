"""The loss panel: decade labels on its log axis, accuracies joined only where they were
measured densely, AGF drop labels that never overlap, and its curves one pixel wide in the
window but at full width in pictures."""

from __future__ import annotations

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest

from gui.export.snapshot import render_widget
from gui.panels import LossPanel
from gui.panels.line_widths import LIVE_WIDTH, full_widths
from gui.panels.log_axis import DecadeAxis, decade_text, decade_ticks, value_text
from gui.panels.loss import DENSE_GAP, joined_samples, label_rows, lone_samples
from gui.run_context import RunContext
from tests.gui.conftest import axis_labels


class Recorded:
    """What a LossPanel reads from a RunRecord: a loss per step, and the accuracies and
    steps of the snapshots."""

    def __init__(self, loss_steps, losses, snapshot_steps, train, test) -> None:
        self.loss_steps = np.asarray(loss_steps, dtype=np.int64)
        self.losses = np.asarray(losses, dtype=float)
        self.snapshot_steps = np.asarray(snapshot_steps, dtype=np.int64)
        self.scalars = {"train_accuracy": np.asarray(train, dtype=float),
                        "test_accuracy": np.asarray(test, dtype=float)}

    def __len__(self) -> int:
        return len(self.snapshot_steps)

    def loss_curve(self, upto=None):
        end = len(self.loss_steps) if upto is None else int(
            np.searchsorted(self.loss_steps, upto, side="right"))
        return self.loss_steps[:end], self.losses[:end]

    def series(self, name, upto=None):
        end = len(self.snapshot_steps) if upto is None else int(
            np.searchsorted(self.snapshot_steps, upto, side="right"))
        return self.snapshot_steps[:end], self.scalars[name][:end]

    def train_accuracy_curve(self, upto=None):
        return self.series("train_accuracy", upto)


def drop(step: float, label: str) -> SimpleNamespace:
    return SimpleNamespace(step=step, label=f"{label} (1-dim, complex)", dim=1, level=0.01,
                           utility=0.5)


def context(drops=()) -> RunContext:
    return RunContext(config=None, group_name="C11", element_names=tuple("abc"),
                      orbit_labels=("χ0", "χ1"), orbit_dims=np.array([1, 1]),
                      orbit_trivial=np.array([True, False]), width=8, device="cpu",
                      predicted_drops=tuple(drops))


def shown_panel(qtbot, record: Recorded, drops=()) -> LossPanel:
    panel = LossPanel()
    qtbot.addWidget(panel)
    panel.resize(480, 320)
    panel.show()
    qtbot.waitExposed(panel)
    panel.set_context(context(drops))
    panel.show_history(record, None)
    qtbot.wait(20)
    return panel


def falling_loss(last_step: int, decades: float = 4.0):
    steps = np.arange(last_step + 1)
    return steps, 10.0 ** (-decades * steps / last_step)


# ------------------------------------------------------------------ log axis
def test_decades_are_written_as_people_write_them():
    assert [decade_text(e) for e in (-5, -1, 0, 1, 2)] == ["10⁻⁵", "10⁻¹", "1", "10", "10²"]
    assert [value_text(math.log10(v)) for v in (0.02, 5e-5, 1e-2, 1e-6)] == \
        ["0.02", "5·10⁻⁵", "0.01", "10⁻⁶"]


def test_decade_ticks_label_decades_and_leave_minor_ticks_bare():
    (spacing, labelled), (minor_spacing, minor) = decade_ticks(-4.0, 0.0, 240)
    assert labelled == [-4.0, -3.0, -2.0, -1.0, 0.0]
    assert minor_spacing is None and len(minor) == 4 * 8
    assert not any(float(v).is_integer() for v in minor)
    (stride, thinned), _ = decade_ticks(-12, 0, 120)  # 13 decades in 120 pixels
    assert stride > 1 and len(thinned) <= 120 // 26 + 1
    (_, zoomed), _ = decade_ticks(math.log10(0.004), math.log10(0.03), 200)
    assert [value_text(v) for v in zoomed] == ["0.005", "0.01", "0.02"]
    (spacing, one_decade), (_, minor) = decade_ticks(0.0, 1.0, 200)  # room for 2 and 5
    assert spacing < 1 and [value_text(v) for v in one_decade] == ["1", "2", "5", "10"]
    assert len(minor) == 6


def test_the_loss_axis_draws_decade_labels_only(qtbot):
    steps, losses = falling_loss(1000)
    panel = shown_panel(qtbot, Recorded(steps, losses, [0, 1000], [0.1, 1.0], [0.1, 0.9]))
    axis = panel.plot.getPlotItem().getAxis("left")
    assert isinstance(axis, DecadeAxis) and axis.logMode
    drawn = [text for text, _ in axis_labels(axis)]
    assert drawn == ["10⁻⁴", "10⁻³", "10⁻²", "10⁻¹", "1"]


# ------------------------------------------------------------------ accuracy
def test_samples_are_joined_only_where_they_lie_close():
    steps = np.array([0, 600, 610, 620, 630, 2000])
    values = np.array([0.1, 0.9, 0.95, np.nan, 1.0, 1.0])
    connect = joined_samples(steps, values, span=2000)
    assert connect.tolist() == [False, True, False, False, False, False]
    assert lone_samples(connect, values).tolist() == [True, False, False, False, True, True]
    assert DENSE_GAP * 2000 < 600  # the first gap is wide


def test_sparse_accuracy_is_drawn_as_dots_and_dense_accuracy_as_a_line(qtbot):
    steps, losses = falling_loss(2000)
    snapshot_steps = [0, 600, 610, 620, 630, 2000]
    train = [0.05, 0.9, 0.92, 0.95, 0.97, 1.0]
    panel = shown_panel(qtbot, Recorded(steps, losses, snapshot_steps, train, [np.nan] * 6))
    x, y = panel.train_accuracy.getData()
    connect = np.asarray(panel.train_accuracy.opts["connect"], dtype=bool)
    joined = {(x[i], x[i + 1]) for i in np.flatnonzero(connect)}
    assert joined == {(600, 610), (610, 620), (620, 630)}  # never from 0 to 600
    dots_x, dots_y = panel.train_points.getData()
    assert dots_x.tolist() == [0, 2000] and dots_y.tolist() == [0.05, 1.0]
    assert len(panel.test_accuracy.getData()[0]) == 0  # no held-out pairs
    assert len(panel.test_points.getData()[0]) == 0


# ------------------------------------------------------------------ AGF drop labels
def test_label_rows_stagger_and_hide_what_has_no_room():
    rows = label_rows(np.array([10.0, 14.0, 18.0, 22.0, 300.0]), np.full(5, 20.0), rows=3)
    assert rows == [0, 1, 2, None, 0]
    legend = [(280.0, 400.0), (280.0, 400.0), None]  # the legend covers the top two rows
    rows = label_rows(np.array([10.0, 300.0]), np.full(2, 20.0), rows=3, blocked=legend)
    assert rows == [0, 2]


def test_close_drop_labels_never_overlap_and_keep_their_tooltips(qtbot):
    steps, losses = falling_loss(1000)
    drops = [drop(100, "χ1"), drop(108, "χ2/χ3"), drop(116, "χ4"), drop(124, "χ5"),
             drop(900, "χ6")]
    panel = shown_panel(qtbot, Recorded(steps, losses, [0, 1000], [0.1, 1.0], [0.1, 0.9]),
                        drops)
    labels = [line.label for line in panel.jumps]
    shown = [label for label in labels if label.isVisible()]
    for label in shown:
        label.updateTransform(force=True)
    boxes = [label.sceneBoundingRect() for label in shown]
    assert all(not a.intersects(b) for a, b in itertools.combinations(boxes, 2))
    assert len({label.orthoPos for label in shown}) >= 2  # staggered, not all in one row
    view = panel.plot.getPlotItem().vb.sceneBoundingRect().adjusted(-0.5, -0.5, 0.5, 0.5)
    legend = panel.legend.sceneBoundingRect()
    for box in boxes:  # never clipped by the plot's edges, never under the legend
        assert view.contains(box) and not box.intersects(legend)
    assert labels[-1].isVisible()
    assert all("AGF (closed form): orbit" in line.toolTip() for line in panel.jumps)

    panel.resize(3200, 320)  # wide enough: every label finds a place
    qtbot.waitUntil(lambda: all(label.isVisible() for label in labels), timeout=2000)


def test_a_plot_a_few_lines_high_shows_no_drop_label_over_its_plateaus(qtbot):
    """In a plot whose labels would take more than DROP_LABEL_SHARE of its height (the loss
    plot is 61 pixels high at 1280×800) the labels are left out; the lines stay, with their
    tooltips, and the labels come back when the plot grows."""
    steps, losses = falling_loss(1000)
    panel = shown_panel(qtbot, Recorded(steps, losses, [0, 1000], [0.1, 1.0], [0.1, 0.9]),
                        [drop(100, "χ1"), drop(600, "χ2")])
    labels = [line.label for line in panel.jumps]
    assert all(label.isVisible() for label in labels)
    panel.resize(480, 120)
    qtbot.waitUntil(lambda: panel.plot.getPlotItem().vb.height() < 66, timeout=2000)
    qtbot.waitUntil(lambda: not any(label.isVisible() for label in labels), timeout=2000)
    assert all(line.isVisible() and "AGF (closed form)" in line.toolTip()
               for line in panel.jumps)
    panel.resize(480, 320)
    qtbot.waitUntil(lambda: all(label.isVisible() for label in labels), timeout=2000)


# ------------------------------------------------------------------ line widths
def test_curves_are_thin_in_the_window_and_full_in_pictures(qtbot):
    steps, losses = falling_loss(1000)
    panel = shown_panel(qtbot, Recorded(steps, losses, [0, 1000], [0.1, 1.0], [0.1, 0.9]))
    curves = (panel.loss_curve, panel.train_accuracy, panel.test_accuracy)
    assert [c.opts["pen"].widthF() for c in curves] == [LIVE_WIDTH] * 3
    with full_widths(panel):
        assert [c.opts["pen"].widthF() for c in curves] == pytest.approx([1.6, 1.2, 1.2])
    render_widget(panel)
    assert [c.opts["pen"].widthF() for c in curves] == [LIVE_WIDTH] * 3


# ------------------------------------------------------------------ AGF (simulated)
def test_simulated_staircase_holds_each_round_until_the_next():
    from gui.panels.loss import simulated_staircase

    rounds = [SimpleNamespace(step=10.0, loss_before=1.0, loss_after=0.5),
              SimpleNamespace(step=30.0, loss_before=0.5, loss_after=0.1)]
    x, y = simulated_staircase(rounds, 50.0)
    assert x.tolist() == [0.0, 10.0, 10.0, 30.0, 30.0, 50.0]
    assert y.tolist() == [1.0, 1.0, 0.5, 0.5, 0.1, 0.1]
    assert simulated_staircase([], 5.0)[0].size == 0


def test_untimed_closed_form_drops_draw_no_step_line(qtbot):
    steps, losses = falling_loss(1000)
    untimed = SimpleNamespace(**{**vars(drop(400, "χ2")), "timed": False})
    panel = shown_panel(qtbot, Recorded(steps, losses, [0, 1000], [0.1, 1.0], [0.1, 0.9]),
                        [drop(100, "χ1"), untimed])
    assert [line.value() for line in panel.jumps] == [100]
    x, _ = panel.plateaus.getData()
    assert x.tolist()[:3] == [100.0, x[1], 0.0]


def test_simulated_curve_is_drawn_as_recorded_and_held_to_the_end():
    """With drops by the optimiser the recorded curve is drawn point for point, then held
    at its last loss up to the plot's end."""
    from backend.agf.simulation import SimulatedCurve
    from gui.panels.loss import simulated_staircase

    curve = SimulatedCurve(np.array([0.0, 10.0, 11.0, 12.5]), np.array([1.0, 1.0, 0.6, 0.5]),
                           np.array([0.0, 12.5]), np.zeros((2, 1)), np.ones(1))
    x, y = simulated_staircase([object()], 40.0, curve)
    np.testing.assert_array_equal(x, [0.0, 10.0, 11.0, 12.5, 40.0])
    np.testing.assert_array_equal(y, [1.0, 1.0, 0.6, 0.5, 0.5])


def test_the_measured_loss_is_drawn_over_the_predictions(qtbot):
    """Where a prediction is right it lies under the measured curve (d3-agf-onehot's
    plateaus at the closed form's levels): the loss above AGF (simulated) above AGF
    (closed form)."""
    steps, losses = falling_loss(100)
    panel = shown_panel(qtbot, Recorded(steps, losses, [0, 100], [0.1, 1.0], [0.1, 0.9]),
                        drops=[drop(40.0, "χ1")])
    assert len(panel.jumps) == 1
    assert panel.loss_curve.zValue() > panel.simulated.zValue() > panel.plateaus.zValue()
    assert panel.cursor.zValue() > panel.loss_curve.zValue()  # the cursor and the drop
    assert all(line.zValue() > panel.loss_curve.zValue() for line in panel.jumps)  # labels
