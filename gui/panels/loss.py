"""(c) Loss (log scale) and accuracy over steps, with the AGF staircase overlaid."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt

from backend.pair_sample import sampled_label_forms
from gui import theme
from gui.panels.base import (
    LegendAbove,
    Panel,
    SteadyRange,
    decade_range,
    fit_axis_label,
    set_step_axis_log,
    step_coordinates,
    step_position,
)
from gui.panels.line_widths import thin_in_window
from gui.panels.log_axis import DecadeAxis
from gui.run_context import RunContext

DEFINITION = (
    "Training loss (log scale, left axis) and train / held-out accuracy (right axis) "
    "against optimiser steps.\nDashed gold, AGF (closed form), for σ = z² and MSE: the "
    "plateau after each orbit, (1/n) Σ of the template power of the orbits not yet "
    "learned, in the order of maximal utility; a dotted vertical line at a drop step only "
    "where the closed-form time is valid for the optimiser (the first drop with per-neuron "
    "scaled SGD, none with plain gradient descent), and the level drawn from there; a level "
    "without a valid time spans the whole axis.\n"
    "Solid violet, AGF (simulated), once computed in the AGF rounds panel: the loss of the "
    "numerical AGF, dropping at each round's step (with drops by the optimiser, each drop "
    "as the optimiser took it).\n"
    "The train accuracy is measured at every step (on the exact path, which forms no "
    "output, at the snapshots only), the held-out accuracy at the snapshots: samples "
    "further apart than "
    "2 % of the step axis are not joined, and a sample joined to neither neighbour is "
    "drawn as a dot.\n"
    "The red line marks the moment the other views show."
)
DENSE_GAP = 0.02
"""Accuracy samples at most this share of the step axis apart are joined by a line (the
accuracy between two snapshots is not measured; over so short a gap a line says nothing
false)."""
JUMP_Z = 4  # the closed form's drop markers and the cursor, over the loss (z 3)
DROP_LABEL_ROWS = (0.94, 0.86, 0.78)  # the drop labels' rows when nothing is drawn yet
DROP_LABEL_SHARE = 1 / 3
"""The drop labels' rows take at most this share of the plot's height: in a plot a few
lines high a label would hide the plateaus it names (at 1280×800 the loss plot is 61
pixels high and a label 22), so there it is left out and its line keeps the tooltip."""
DROP_LABEL_GAP = 4  # pixels between two drop labels in one row


def joined_samples(steps: np.ndarray, values: np.ndarray, span: float) -> np.ndarray:
    """connect[i]: whether sample i is joined to sample i + 1 (both finite and at most
    DENSE_GAP · span steps apart); the last entry is False."""
    steps = np.asarray(steps, dtype=float)
    values = np.asarray(values, dtype=float)
    connect = np.zeros(len(steps), dtype=bool)
    if len(steps) > 1:
        finite = np.isfinite(values)
        connect[:-1] = (np.diff(steps) <= DENSE_GAP * span) & finite[:-1] & finite[1:]
    return connect


def lone_samples(connect: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Finite samples joined to neither neighbour (drawn as dots)."""
    joined_before = np.concatenate([[False], connect[:-1]]) if len(connect) else connect
    return np.isfinite(np.asarray(values, dtype=float)) & ~connect & ~joined_before


def label_rows(centres: np.ndarray, widths: np.ndarray, rows: int,
               gap: float = DROP_LABEL_GAP,
               blocked: list[tuple[float, float] | None] | None = None) -> list[int | None]:
    """A row for each label centred at ``centres`` (pixels, in increasing order) so that
    labels in one row never overlap each other nor the row's ``blocked`` interval (the
    legend): the lowest-numbered row with room, or None (the label is hidden) when no row
    has room."""
    ends = [-np.inf] * rows
    blocked = list(blocked or []) + [None] * rows

    def free(row: int, left: float, right: float) -> bool:
        if left < ends[row] + gap:
            return False
        block = blocked[row]
        return block is None or right + gap <= block[0] or left >= block[1] + gap

    chosen: list[int | None] = []
    for centre, width in zip(centres, widths, strict=True):
        row = next((r for r in range(rows)
                    if free(r, centre - width / 2, centre + width / 2)), None)
        if row is not None:
            ends[row] = centre + width / 2
        chosen.append(row)
    return chosen


def label_anchors(at: np.ndarray, widths: np.ndarray, view_width: float) -> np.ndarray:
    """Horizontal anchor of each drop label (0: starts at its line, 0.5: centred on it,
    1: ends at it) so that no label leaves the plot; NaN for a line outside the plot or
    a label wider than the plot (hidden)."""
    at = np.asarray(at, dtype=float)
    widths = np.asarray(widths, dtype=float)
    anchors = np.full(at.shape, 0.5)
    anchors[at - widths / 2 < 0] = 0.0
    anchors[at + widths / 2 > view_width] = 1.0
    outside = (at < 0) | (at > view_width) | (widths > view_width)
    anchors[outside] = np.nan
    return anchors


def timed_drops(drops) -> list:
    """The closed-form drops whose step is valid for the optimiser (PredictedDrop.timed)."""
    return [d for d in drops if getattr(d, "timed", True)]


def simulated_staircase(rounds, end: float, curve=None) -> tuple[np.ndarray, np.ndarray]:
    """(steps, losses) of AGF (simulated): the loss before the first round from step 0,
    dropping to each round's loss after at its step, held to ``end``; with drops by the
    optimiser their recorded ``curve`` (simulation.SimulatedCurve), held to ``end``."""
    if curve is not None and len(curve.steps):
        x, y = np.asarray(curve.steps, dtype=np.float64), np.asarray(curve.losses)
        if end > x[-1]:
            x, y = np.append(x, end), np.append(y, y[-1])
        return x, y
    if not rounds:
        return np.zeros(0), np.zeros(0)
    steps = np.array([float(r.step) for r in rounds])
    after = np.array([float(r.loss_after) for r in rounds])
    x = np.concatenate([[0.0], np.repeat(steps, 2), [max(end, float(steps[-1]))]])
    y = np.concatenate([[float(rounds[0].loss_before)] * 2, np.repeat(after[:-1], 2),
                        [after[-1]] * 2])
    return x, y


class LossPanel(Panel):
    """Log-loss curve, accuracies, predicted plateaus and jump steps, and a time cursor."""

    title = "Loss and accuracy"
    definition = DEFINITION

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        item = self.add_main_plot(DEFINITION)
        item.setAxisItems({"left": DecadeAxis("left")})
        fit_axis_label(item.getAxis("left"), ["loss"])
        item.setLogMode(x=False, y=True)
        item.vb.setLimits(minYRange=0.3)  # at least a third of a decade: plateaus look flat
        item.showAxis("right")
        item.getAxis("right").setLogMode(False)
        item.setLabel("bottom", "step")
        item.addLegend(offset=(-8, 8), labelTextSize="8pt",
                       brush=pg.mkBrush(32, 37, 47, 200))
        self.loss_curve = item.plot(name="loss", skipFiniteCheck=True)
        thin_in_window(self.loss_curve, pg.mkPen(theme.LOSS_COLOUR, width=1.6))
        self.loss_curve.setDownsampling(auto=True, method="peak")
        self.loss_curve.setClipToView(True)
        self.x_range = SteadyRange(item, "x")
        self.y_range = SteadyRange(item, "y", padding=0.03)

        self.accuracy_box = pg.ViewBox()
        item.scene().addItem(self.accuracy_box)
        item.getAxis("right").linkToView(self.accuracy_box)
        fit_axis_label(item.getAxis("right"), ["accuracy"])
        # three ticks: six would run together in a plot a few lines high
        item.getAxis("right").setTicks([[(0.0, "0"), (0.5, "0.5"), (1.0, "1")], []])
        self.accuracy_box.setXLink(item)
        self.accuracy_box.setYRange(0, 1.02, padding=0)
        self.accuracy_box.setMouseEnabled(x=False, y=False)
        item.vb.sigResized.connect(self._sync_views)
        item.vb.sigResized.connect(self._place_drop_labels)
        item.vb.sigXRangeChanged.connect(self._place_drop_labels)
        self.train_accuracy = thin_in_window(pg.PlotCurveItem(skipFiniteCheck=True), pg.mkPen(
            theme.TRAIN_ACCURACY_COLOUR, width=1.2))
        self.test_accuracy = thin_in_window(pg.PlotCurveItem(skipFiniteCheck=True), pg.mkPen(
            theme.TEST_ACCURACY_COLOUR, width=1.2, style=Qt.PenStyle.DashLine))
        self.train_points = pg.ScatterPlotItem(
            size=5, pen=None, brush=pg.mkBrush(theme.TRAIN_ACCURACY_COLOUR), hoverable=False)
        self.test_points = pg.ScatterPlotItem(
            size=5, pen=pg.mkPen(theme.TEST_ACCURACY_COLOUR, width=1.2), brush=None,
            hoverable=False)
        for accuracy_item in (self.train_accuracy, self.test_accuracy, self.train_points,
                              self.test_points):
            self.accuracy_box.addItem(accuracy_item)
        legend = item.legend
        self.legend = legend
        legend.addItem(self.train_accuracy, "train acc.")
        legend.addItem(self.test_accuracy, "held-out acc.")
        self._legend_names = {id(self.test_accuracy): "held-out acc."}

        prediction_pen = pg.mkPen(theme.PREDICTION_COLOUR, width=1.2, style=Qt.PenStyle.DashLine)
        self.plateaus = pg.PlotCurveItem(pen=prediction_pen, connect="pairs")
        self.jumps: list[pg.InfiniteLine] = []
        for moved in (legend.xChanged, legend.yChanged, legend.geometryChanged):
            moved.connect(self._place_drop_labels)  # the labels keep out of its way
        item.addItem(self.plateaus)
        legend.addItem(self.plateaus, "AGF (closed form)")
        self._legend_names[id(self.plateaus)] = "AGF (closed form)"
        self.legend_strip = LegendAbove(item, legend)  # the legend never covers the curves
        self.simulated = pg.PlotCurveItem(pen=pg.mkPen(theme.SIMULATED_COLOUR, width=1.4))
        item.addItem(self.simulated)
        self._legend_names[id(self.simulated)] = "AGF (simulated)"
        # the measured loss over the predictions: where a prediction is right it lies
        # under the curve and shows at its edges, and where it is off it shows apart
        self.plateaus.setZValue(1)
        self.simulated.setZValue(2)
        self.loss_curve.setZValue(3)
        self.simulated_rounds: tuple = ()
        self.simulated_curve = None
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CURSOR_COLOUR, width=1))
        self.cursor.setVisible(False)
        self.cursor.setZValue(JUMP_Z + 1)
        item.addItem(self.cursor, ignoreBounds=True)

    def set_log_steps(self, on: bool) -> None:
        super().set_log_steps(on)
        set_step_axis_log(self.plot.getPlotItem(), on)
        self.x_range.log = bool(on)
        self.x_range.reset()
        for line in self.jumps:
            position = step_position(float(line.step), self.log_steps)
            line.setVisible(position is not None)
            if position is not None:
                line.setPos(position)
        self._draw_plateaus(None)
        self._place_drop_labels()

    def _show_in_legend(self, item, shown: bool) -> None:
        """List a series in the legend only when it is drawn for this run."""
        listed = any(sample.item is item for sample, _label in self.legend.items)
        if shown and not listed:
            self.legend.addItem(item, self._legend_names[id(item)])
        elif listed and not shown:
            self.legend.removeItem(item)
        if shown != listed:
            self.legend_strip.fit()

    def _sync_views(self) -> None:
        item = self.plot.getPlotItem()
        self.accuracy_box.setGeometry(item.vb.sceneBoundingRect())
        self.accuracy_box.linkedViewChanged(item.vb, self.accuracy_box.XAxis)

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        item = self.plot.getPlotItem()
        for line in self.jumps:
            item.removeItem(line)
        self.jumps = []
        self.simulated_rounds = ()
        self.simulated_curve = None
        self.simulated.setData([], [])
        self._show_in_legend(self.simulated, False)
        for drop in timed_drops(context.predicted_drops):
            line = pg.InfiniteLine(
                pos=float(drop.step), angle=90,
                pen=pg.mkPen(theme.PREDICTION_COLOUR, width=1, style=Qt.PenStyle.DotLine),
                label=str(drop.label).split(" (")[0],
                labelOpts={"position": DROP_LABEL_ROWS[0], "color": theme.PREDICTION_COLOUR,
                           "movable": False, "anchors": [(0.5, 0.5), (0.5, 0.5)],
                           "fill": pg.mkBrush(theme.PANEL_BACKGROUND)})
            tip = (f"AGF (closed form): orbit {drop.label} (dim {drop.dim}) learned near step "
                   f"{drop.step:.0f}; plateau after it {drop.level:.4g}; "
                   f"utility U* = {drop.utility:.4g}")
            line.setToolTip(tip)
            line.label.setToolTip(tip)
            line.step = float(drop.step)
            line.setZValue(JUMP_Z)  # the marker and its label over the curves
            position = step_position(line.step, self.log_steps)
            line.setVisible(position is not None)
            if position is not None:
                line.setPos(position)
            item.addItem(line, ignoreBounds=True)
            self.jumps.append(line)
        self._draw_plateaus(None)
        self._show_in_legend(self.plateaus, bool(context.predicted_drops))
        held_out = float(getattr(context.config, "train_fraction", 1.0)) < 1.0
        self._show_in_legend(self.test_accuracy, held_out)
        self.x_range.reset()
        self.y_range.reset()
        self.loss_curve.setData([], [])
        for accuracy_item in (self.train_accuracy, self.test_accuracy, self.train_points,
                              self.test_points):
            accuracy_item.setData([], [])
        self._place_drop_labels()

    def _place_drop_labels(self, *_args) -> None:
        """Stagger the drop labels over DROP_LABEL_ROWS so that none overlaps another;
        a label with no room in any row is hidden (its line keeps the tooltip)."""
        if not self.jumps:
            return
        view = self.plot.getPlotItem().vb
        (low, high), _ = view.viewRange()
        if view.width() <= 0 or high <= low:
            return
        pixels_per_step = view.width() / (high - low)
        lines = sorted((line for line in self.jumps if line.isVisible()),
                       key=lambda line: line.value())
        at = np.array([(line.value() - low) * pixels_per_step for line in lines])
        widths = np.array([line.label.textItem.boundingRect().width() for line in lines])
        anchors = label_anchors(at, widths, view.width())
        centres = at + (0.5 - np.nan_to_num(anchors, nan=0.5)) * widths
        heights = [line.label.textItem.boundingRect().height() for line in lines]
        height = max(heights, default=14.0)
        positions, blocked = self._label_row_places(view, height)
        rows = label_rows(centres, widths, len(positions), blocked=blocked)
        for line, row, anchor in zip(lines, rows, anchors, strict=True):
            if row is None or np.isnan(anchor):
                line.label.setVisible(False)
                continue
            if line.label.anchors[0][0] != anchor:
                line.label.anchors = [(float(anchor), 0.5), (float(anchor), 0.5)]
                line.label.updatePosition()
            if line.label.orthoPos != positions[row]:
                line.label.setPosition(positions[row])
            if not line.label.isVisible():
                line.label.setVisible(True)

    def _label_row_places(self, view, height: float
                          ) -> tuple[list[float], list[tuple[float, float] | None]]:
        """The rows' places along the lines (share of the plot's height, from the bottom)
        that keep labels ``height`` pixels tall inside the top DROP_LABEL_SHARE of the plot
        and apart, at most len(DROP_LABEL_ROWS) of them; and, per row, the stretch (pixels
        from the plot's left) that the legend covers, if any."""
        area = view.sceneBoundingRect()
        total = max(area.height(), 1.0)
        legend = self.legend.sceneBoundingRect() if self.legend.isVisible() else None
        positions, blocked = [], []
        for row in range(len(DROP_LABEL_ROWS)):
            middle = height / 2 + 1 + row * (height + 2)  # pixels below the top
            if middle + height / 2 > DROP_LABEL_SHARE * total:
                break
            positions.append(1.0 - middle / total)
            top = area.top() + (1.0 - positions[-1]) * total - height / 2
            if legend is not None and top < legend.bottom() and top + height > legend.top():
                blocked.append((legend.left() - area.left(), legend.right() - area.left()))
            else:
                blocked.append(None)
        if legend is not None and any(blocked):  # one more row, below legend and rows
            lowest = (1.0 - positions[-1]) * total + height / 2
            middle = max(legend.bottom() - area.top(), lowest) + 2 + height / 2
            if middle + height / 2 <= DROP_LABEL_SHARE * total:
                positions.append(1.0 - middle / total)
                blocked.append(None)
        return positions, blocked

    def _draw_plateaus(self, last_step: float | None) -> None:
        drops = self.context.predicted_drops if self.context else ()
        if not drops:
            self.plateaus.setData([], [])
            return
        timed = np.array([getattr(d, "timed", True) for d in drops])
        starts = np.array([float(d.step) if t else 0.0 for d, t in zip(drops, timed,
                                                                      strict=True)])
        levels = np.array([float(d.level) for d in drops])
        shown = starts[timed]
        end = max(float(shown.max()) * 1.25 if shown.size else 0.0, float(last_step or 0.0),
                  self._simulated_end(), 1.0)
        stops = np.full(len(drops), end)
        # a timed plateau ends where the next timed drop begins
        following = [next((float(drops[j].step) for j in range(i + 1, len(drops))
                           if timed[j]), end) for i in range(len(drops))]
        stops[timed] = np.asarray(following)[timed]
        positive = levels > 0  # a zero plateau cannot be drawn on a log axis
        if self.log_steps:
            positive &= starts > 0
        x = np.column_stack([starts, stops])[positive].ravel()
        y = np.log10(np.repeat(levels[positive], 2))
        self.plateaus.setData(np.log10(x) if self.log_steps else x, y)
        self._draw_simulated(end)

    def show_simulated(self, rounds, curve=None) -> None:
        """Overlay AGF (simulated): the loss of the numerical AGF's rounds (AgfRound
        objects, in order; empty: none) as a staircase, or the ``curve`` its drops by the
        optimiser recorded."""
        self.simulated_rounds = tuple(rounds or ())
        self.simulated_curve = curve if self.simulated_rounds else None
        self._show_in_legend(self.simulated, bool(self.simulated_rounds))
        self._draw_simulated(max(self._simulated_end(), 1.0))

    def _simulated_end(self) -> float:
        if not self.simulated_rounds:
            return 0.0
        return 1.25 * float(self.simulated_rounds[-1].step)

    def _draw_simulated(self, end: float) -> None:
        x, y = simulated_staircase(self.simulated_rounds, end, self.simulated_curve)
        positive = y > 0
        if self.log_steps:
            positive &= x > 0
            x = np.log10(np.where(positive, x, 1.0))
        self.simulated.setData(x[positive], np.log10(np.where(positive, y, 1.0))[positive])

    def _fit_ranges(self, losses: np.ndarray, last_step: float | None) -> float:
        """Whole decades of loss and a rounded step range, kept until the data leave them."""
        drops = self.context.predicted_drops if self.context else ()
        end = max(float(last_step or 0.0), 1.0, self._simulated_end())
        timed = timed_drops(drops)
        if timed:
            end = max(end, 1.25 * max(float(d.step) for d in timed))
        self.x_range.follow(end)
        levels = np.array([float(d.level) for d in drops], dtype=float)
        decades = decade_range(np.concatenate([losses, levels]))
        if decades is not None:
            self.y_range.set(*decades)
        low, high = self.x_range.current
        return high - low

    def show_snapshot(self, snapshot: Any) -> None:
        super().show_snapshot(snapshot)
        if snapshot is not None:
            fit_axis_label(self.plot.getPlotItem().getAxis("right"), sampled_label_forms(
                "accuracy", getattr(snapshot, "sampled_pairs", 0)))

    def show_history(self, history: Any, step: int | None = None) -> None:
        steps, losses = history.loss_curve(step)
        positive = losses > 0
        x, kept = step_coordinates(steps[positive], self.log_steps)
        self.loss_curve.setData(x, losses[positive][kept])
        last = float(history.snapshot_steps[-1]) if len(history) else None
        self._draw_plateaus(last)
        span = self._fit_ranges(losses[positive], last)
        train_steps, train = history.train_accuracy_curve(step)
        train_x, kept = step_coordinates(train_steps, self.log_steps)
        self._draw_accuracy(self.train_accuracy, self.train_points, train_x, train[kept], span)
        test_steps, test = history.series("test_accuracy", step)
        test_x, kept = step_coordinates(test_steps, self.log_steps)
        self._draw_accuracy(self.test_accuracy, self.test_points, test_x, test[kept], span)
        position = None if step is None else step_position(float(step), self.log_steps)
        if position is None:
            self.cursor.setVisible(False)
        else:
            self.cursor.setPos(position)
            self.cursor.setVisible(True)

    @staticmethod
    def _draw_accuracy(curve: pg.PlotCurveItem, points: pg.ScatterPlotItem,
                       steps: np.ndarray, values: np.ndarray, span: float) -> None:
        """Join the samples that lie close together; mark the lone ones with a dot."""
        steps = np.asarray(steps, dtype=float)
        values = np.asarray(values, dtype=float)
        connect = joined_samples(steps, values, span)
        finite = np.isfinite(values)
        if connect.any():
            curve.setData(steps[finite], values[finite], connect=connect[finite])
        else:
            curve.setData([], [])
        lone = lone_samples(connect, values)
        points.setData(steps[lone], values[lone])
        points.setVisible(bool(lone.any()))
