"""(d) Power of the learned function per orbit over time, against the template's."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt

from backend.agf.orbit_fit import powered
from backend.pair_sample import sampled_label_forms
from gui import theme
from gui.panels.base import (
    LegendAbove,
    Panel,
    SteadyRange,
    fit_axis_label,
    set_step_axis_log,
    step_coordinates,
    step_position,
)
from gui.panels.line_widths import thin_in_window
from gui.run_context import RunContext

DEFINITION = (
    "Learned-function power per orbit: the mean over pairs (g1, g2) of P_O(f(g1, g2)), "
    "solid, against the template's power P_O(t), dashed in the same colour (the target "
    "has the template's power at every pair).\nAn orbit is learned when its solid line "
    "reaches its dashed line; each such rise is one step of the loss staircase."
)
MAX_LEGEND = 12


class FunctionPowerPanel(Panel):
    """One curve per orbit over steps, with the template's level dashed: every nontrivial
    orbit, and the trivial one where the template has power on it and the loss sees it
    (MSE on a one-hot target's mean, the first orbit d3-agf-onehot learns; cross-entropy
    is blind to a constant added to every logit)."""

    title = "Learned function power"
    definition = DEFINITION

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        item = self.add_main_plot(DEFINITION, left="power", bottom="step")
        self.curves: list[pg.PlotDataItem] = []
        self.targets: list[pg.InfiniteLine] = []
        self.orbits: np.ndarray = np.zeros(0, dtype=np.int64)
        self.cursor = pg.InfiniteLine(angle=90, pen=pg.mkPen(theme.CURSOR_COLOUR, width=1))
        self.cursor.setVisible(False)
        item.addItem(self.cursor, ignoreBounds=True)
        self.x_range = SteadyRange(item, "x")
        self.y_range = SteadyRange(item, "y")
        self.legend_strip = LegendAbove(item)

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        item = self.plot.getPlotItem()
        for curve in self.curves:
            item.removeItem(curve)
        for line in self.targets:
            item.removeItem(line)
        if item.legend is not None:
            item.legend.scene().removeItem(item.legend)
            item.legend = None
        self.x_range.reset()
        self.y_range.reset()
        shown = ~context.orbit_trivial
        if context.template_power is not None and getattr(context.config, "loss",
                                                           "mse") == "mse":
            shown |= powered(context.template_power)
        self.orbits = np.flatnonzero(shown)
        legend = item.addLegend(offset=(-8, 8), labelTextSize="8pt", colCount=2) \
            if len(self.orbits) <= MAX_LEGEND else None
        self.legend_strip.attach(legend)  # above the curves, never over them
        self.curves, self.targets = [], []
        for orbit in self.orbits:
            colour = theme.orbit_colour(int(orbit), context.num_orbits)
            curve = thin_in_window(item.plot(skipFiniteCheck=True), pg.mkPen(colour, width=1.6))
            if legend is not None:
                legend.addItem(curve, context.orbit_labels[orbit])
            line = pg.InfiniteLine(angle=0, pen=pg.mkPen(colour, width=1,
                                                         style=Qt.PenStyle.DashLine))
            line.setVisible(False)
            item.addItem(line)
            self.curves.append(curve)
            self.targets.append(line)
        self.legend_strip.fit()

    def set_log_steps(self, on: bool) -> None:
        super().set_log_steps(on)
        set_step_axis_log(self.plot.getPlotItem(), on)
        self.x_range.log = bool(on)
        self.x_range.reset()

    def show_snapshot(self, snapshot: Any) -> None:
        super().show_snapshot(snapshot)
        if snapshot is None or self.context is None:
            return
        fit_axis_label(self.plot.getPlotItem().getAxis("left"), sampled_label_forms(
            "power", getattr(snapshot, "sampled_pairs", 0)))
        template = np.asarray(snapshot.template_power, dtype=float)
        for line, orbit in zip(self.targets, self.orbits, strict=True):
            line.setPos(float(template[orbit]))
            line.setVisible(True)

    def show_history(self, history: Any, step: int | None = None) -> None:
        steps, power = history.series("function_power", step)
        if len(steps) == 0 or np.ndim(power) != 2:
            return
        x, kept = step_coordinates(steps, self.log_steps)
        for curve, orbit in zip(self.curves, self.orbits, strict=True):
            curve.setData(x, power[kept, orbit])
        last = float(history.snapshot_steps[-1]) if len(history) else 1.0
        self.x_range.follow(last)
        top = float(np.nanmax(power[:, self.orbits])) if len(self.orbits) else 0.0
        if self.snapshot is not None and len(self.orbits):
            template = np.asarray(self.snapshot.template_power, dtype=float)[self.orbits]
            top = max(top, float(np.nanmax(template)))
        self.y_range.set_ceiling(1.05 * top)
        position = None if step is None else step_position(float(step), self.log_steps)
        if position is None:
            self.cursor.setVisible(False)
        else:
            self.cursor.setPos(position)
            self.cursor.setVisible(True)
