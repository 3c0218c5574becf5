"""The common shape of every view: context once, then snapshots (and history) to draw."""

from __future__ import annotations

from typing import Any

import pyqtgraph as pg
from PyQt6.QtWidgets import QVBoxLayout, QWidget

from gui import theme
from gui.run_context import RunContext


class Panel(QWidget):
    """A view of one aspect of a run.

    ``set_context`` is called once per run (group, labels, width); ``show_snapshot`` draws
    one MetricSnapshot; ``show_history`` draws the recorded history up to the moment shown
    (panels that only need the snapshot ignore it). Drawing depends on nothing else, so a
    hidden panel of fixed size renders the same picture as the one in the window.
    """

    title: str = ""
    definition: str = ""  # the tooltip: what the panel shows and how it is defined

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.context: RunContext | None = None
        self.snapshot: Any = None
        self.setToolTip(self.definition)
        self.layout_ = QVBoxLayout(self)
        self.layout_.setContentsMargins(2, 2, 2, 2)
        self.layout_.setSpacing(2)

    def set_context(self, context: RunContext) -> None:
        """Adopt a new run: labels, sizes and predictions."""
        self.context = context
        self.snapshot = None

    def show_snapshot(self, snapshot: Any) -> None:
        """Draw one MetricSnapshot."""
        self.snapshot = snapshot

    def show_history(self, history: Any, step: int | None = None) -> None:
        """Draw the recorded history up to ``step`` (None: all of it). Default: nothing."""

    def new_plot(self, title: str = "", tooltip: str = "") -> pg.PlotWidget:
        """A PlotWidget in the app's style, added to this panel."""
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        item = plot.getPlotItem()
        item.hideButtons()
        if title:
            item.setTitle(theme.plot_title(title))
        plot.showGrid(x=True, y=True, alpha=theme.GRID_ALPHA)
        if tooltip:
            plot.setToolTip(tooltip)
        return plot
