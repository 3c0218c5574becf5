"""(f) How the neurons spread over the orbits, against the uniform law."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QToolTip

from gui import theme
from gui.panels.base import Panel, SteadyRange
from gui.panels.orbit_axis import ColumnAxis
from gui.run_context import RunContext

DEFINITION = (
    "Diversification: the number of neurons whose dominant orbit is each orbit (bars), "
    "against the uniform law over the nontrivial orbits (dashed line).\n"
    "TV is the total-variation distance between the two. Theory (Abelian group, one-hot, "
    "no self-conjugate nontrivial character, cross-entropy): uniform, TV → 0. For a "
    "non-Abelian group (TV marked *) the uniform law is only a reference."
)


class DiversificationPanel(Panel):
    """A bar per orbit (neuron counts) with the uniform level and the TV distance."""

    title = "Diversification"
    definition = DEFINITION

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        item = self.add_main_plot(DEFINITION, left="neurons")
        item.setAxisItems({"bottom": ColumnAxis()})
        item.setMouseEnabled(x=False, y=False)
        self.plot.scene().sigMouseMoved.connect(self._hovered)
        self.bars = pg.BarGraphItem(x=[], height=[], width=0.8)
        item.addItem(self.bars)
        self.uniform = pg.InfiniteLine(angle=0, pen=pg.mkPen(theme.PREDICTION_COLOUR, width=1.2,
                                                             style=Qt.PenStyle.DashLine))
        item.addItem(self.uniform)
        self.tv_text = pg.TextItem("", color=theme.FOREGROUND, anchor=(1, 0))
        item.addItem(self.tv_text, ignoreBounds=True)
        self.brushes: list = []
        self.y_range = SteadyRange(item, "y")

    def set_context(self, context: RunContext) -> None:
        super().set_context(context)
        k = context.num_orbits
        self.plot.getPlotItem().getAxis("bottom").set_labels(list(context.orbit_labels))
        self.brushes = [pg.mkBrush(theme.orbit_colour(i, k)) for i in range(k)]
        self.bars.setOpts(x=np.arange(k) + 0.5, height=np.zeros(k), width=0.8,
                          brushes=self.brushes)
        self.plot.getPlotItem().setXRange(0, k, padding=0)

    def show_snapshot(self, snapshot: Any) -> None:
        super().show_snapshot(snapshot)
        if snapshot is None or self.context is None:
            return
        counts = np.asarray(snapshot.orbit_counts, dtype=float)
        k = len(counts)
        self.bars.setOpts(x=np.arange(k) + 0.5, height=counts, width=0.8,
                          brushes=self.brushes)
        nontrivial = int(np.count_nonzero(~self.context.orbit_trivial))
        level = counts.sum() / nontrivial if nontrivial else 0.0
        self.uniform.setPos(level)
        self.y_range.set_ceiling(max(float(counts.max()) if k else 1.0, level, 1.0) * 1.15)
        top = self.y_range.current[1]
        self.tv_text.setText(tv_caption(float(snapshot.diversification_tv), self.context.abelian))
        self.tv_text.setPos(k, top)

    def bar_text(self, column: int) -> str | None:
        """What the tooltip says of one bar: the orbit's full name, its count, the
        uniform level."""
        snapshot, context = self.snapshot, self.context
        if snapshot is None or context is None or not 0 <= column < context.num_orbits:
            return None
        counts = np.asarray(snapshot.orbit_counts)
        nontrivial = int(np.count_nonzero(~context.orbit_trivial))
        level = counts.sum() / nontrivial if nontrivial else 0.0
        return (f"orbit {context.orbit_labels[column]} (dim "
                f"{int(context.orbit_dims[column])})\n{int(counts[column])} neurons "
                f"(uniform level {level:.1f})")

    def _hovered(self, position) -> None:
        view = self.plot.getPlotItem().vb
        if not view.sceneBoundingRect().contains(position):
            return
        text = self.bar_text(int(np.floor(view.mapSceneToView(position).x())))
        if text:
            QToolTip.showText(self.plot.mapToGlobal(self.plot.mapFromScene(position)), text,
                              self.plot)


def tv_caption(tv: float, abelian: bool) -> str:
    """The TV distance, marked when the theory predicts uniformity only for Abelian
    groups (the tooltip says so)."""
    return f"TV = {tv:.3f}" if abelian else f"TV = {tv:.3f} *"
