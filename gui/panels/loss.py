"""(c) Loss (log scale) and accuracy over steps, with the AGF staircase overlaid."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt

from gui import theme
from gui.panels.base import Panel, SteadyRange, decade_range, nice_ceiling
from gui.run_context import RunContext

DEFINITION = (
    "Training loss (log scale, left axis) and train / held-out accuracy (right axis) "
    "against optimiser steps.\nDashed gold: the staircase Alternating Gradient Flows "
    "predicts for this configuration (σ = z², MSE): a vertical line at each predicted drop "
    "step, labelled with the orbit learned, and the predicted plateau after it, "
    "(1/n) Σ of the template power of the orbits not yet learned.\n"
    "The red line marks the moment the other views show."
)


class LossPanel(Panel):
    """Log-loss curve, accuracies, predicted plateaus and jump steps, and a time cursor."""

    title = "Loss and accuracy"
    definition = DEFINITION

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        item = self.add_main_plot(DEFINITION, left="loss")
        item.setLogMode(x=False, y=True)
        item.vb.setLimits(minYRange=0.3)  # at least a third of a decade: plateaus look flat
        item.showAxis("right")
        item.getAxis("right").setLogMode(False)
        item.setLabel("bottom", "step")
        item.addLegend(offset=(-8, 8), labelTextSize="8pt",
                       brush=pg.mkBrush(32, 37, 47, 200))
        self.loss_curve = item.plot(pen=pg.mkPen(theme.LOSS_COLOUR, width=1.6), name="loss",
                                    skipFiniteCheck=True)
        self.loss_curve.setDownsampling(auto=True, method="peak")
        self.loss_curve.setClipToView(True)
        self.x_range = SteadyRange(item, "x")
        self.y_range = SteadyRange(item, "y", padding=0.03)

        self.accuracy_box = pg.ViewBox()
        item.scene().addItem(self.accuracy_box)
        item.getAxis("right").linkToView(self.accuracy_box)
        item.getAxis("right").setLabel("accuracy")
        self.accuracy_box.setXLink(item)
        self.accuracy_box.setYRange(0, 1.02, padding=0)
        self.accuracy_box.setMouseEnabled(x=False, y=False)
        item.vb.sigResized.connect(self._sync_views)
        self.train_accuracy = pg.PlotCurveItem(pen=pg.mkPen(theme.TRAIN_ACCURACY_COLOUR, width=1.2))
        self.test_accuracy = pg.PlotCurveItem(
            pen=pg.mkPen(theme.TEST_ACCURACY_COLOUR, width=1.2, style=Qt.PenStyle.DashLine))
        self.accuracy_box.addItem(self.train_accuracy)
        self.accuracy_box.addItem(self.test_accuracy)
        legend = item.legend
        legend.addItem(self.train_accuracy, "train acc.")
        legend.addItem(self.test_accuracy, "held-out acc.")

        prediction_pen = pg.mkPen(theme.PREDICTION_COLOUR, width=1.2, style=Qt.PenStyle.DashLine)
        self.plateaus = pg.PlotCurveItem(pen=prediction_pen, connect="pairs")
        self.jumps: list[pg.InfiniteLine] = []
        item.addItem(self.plateaus)
        legend.addItem(self.plateaus, "AGF prediction")
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CURSOR_COLOUR, width=1))
        self.cursor.setVisible(False)
        item.addItem(self.cursor, ignoreBounds=True)

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
        for drop in context.predicted_drops:
            line = pg.InfiniteLine(
                pos=float(drop.step), angle=90,
                pen=pg.mkPen(theme.PREDICTION_COLOUR, width=1, style=Qt.PenStyle.DotLine),
                label=str(drop.label).split(" (")[0],
                labelOpts={"position": 0.92, "color": theme.PREDICTION_COLOUR, "movable": False})
            line.setToolTip(f"AGF: orbit {drop.label} (dim {drop.dim}) learned near step "
                            f"{drop.step:.0f}; plateau after it {drop.level:.4g}; "
                            f"utility U* = {drop.utility:.4g}")
            item.addItem(line, ignoreBounds=True)
            self.jumps.append(line)
        self._draw_plateaus(None)
        self.x_range.reset()
        self.y_range.reset()
        self.loss_curve.setData([], [])
        self.train_accuracy.setData([], [])
        self.test_accuracy.setData([], [])

    def _draw_plateaus(self, last_step: float | None) -> None:
        drops = self.context.predicted_drops if self.context else ()
        if not drops:
            self.plateaus.setData([], [])
            return
        starts = np.array([float(d.step) for d in drops])
        levels = np.array([float(d.level) for d in drops])
        end = max(float(starts[-1]) * 1.25, float(last_step or 0.0))
        stops = np.append(starts[1:], end)
        positive = levels > 0  # a zero plateau cannot be drawn on a log axis
        x = np.column_stack([starts, stops])[positive].ravel()
        y = np.log10(np.repeat(levels[positive], 2))
        self.plateaus.setData(x, y)

    def _fit_ranges(self, losses: np.ndarray, last_step: float | None) -> None:
        """Whole decades of loss and a rounded step range, kept until the data leave them."""
        drops = self.context.predicted_drops if self.context else ()
        end = max(float(last_step or 0.0), 1.0)
        if drops:
            end = max(end, 1.25 * max(float(d.step) for d in drops))
        self.x_range.set(0.0, nice_ceiling(end))
        levels = np.array([float(d.level) for d in drops], dtype=float)
        decades = decade_range(np.concatenate([losses, levels]))
        if decades is not None:
            self.y_range.set(*decades)

    def show_history(self, history: Any, step: int | None = None) -> None:
        steps, losses = history.loss_curve(step)
        positive = losses > 0
        self.loss_curve.setData(steps[positive], losses[positive])
        acc_steps, train = history.series("train_accuracy", step)
        if len(acc_steps):
            self.train_accuracy.setData(acc_steps, np.asarray(train, dtype=float))
            _, test = history.series("test_accuracy", step)
            test = np.asarray(test, dtype=float)
            if np.isfinite(test).any():
                self.test_accuracy.setData(acc_steps, test, connect="finite")
            else:
                self.test_accuracy.setData([], [])
        last = float(history.snapshot_steps[-1]) if len(history) else None
        self._draw_plateaus(last)
        self._fit_ranges(losses[positive], last)
        if step is None:
            self.cursor.setVisible(False)
        else:
            self.cursor.setPos(float(step))
            self.cursor.setVisible(True)
