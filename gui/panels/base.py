"""The common shape of every view: context once, then snapshots (and history) to draw."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pyqtgraph as pg
from PyQt6 import sip
from PyQt6.QtCore import Qt
from PyQt6.QtGui import QFontMetricsF, QImage, QPainter, QRegion, QTextDocument
from PyQt6.QtWidgets import QGraphicsItem, QLabel, QVBoxLayout, QWidget
from pyqtgraph.graphicsItems.LegendItem import ItemSample

from gui import theme
from gui.run_context import RunContext

NICE_MANTISSAS = (1.0, 1.2, 1.5, 2.0, 2.5, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0)
HEADROOM = 1.2  # a growing step axis that must widen makes room for this factor more
CACHED = QGraphicsItem.CacheMode.DeviceCoordinateCache
PREMULTIPLIED = QImage.Format.Format_ARGB32_Premultiplied
TOP_LABEL_ROOM = 8  # pixels above a panel's main plot


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

    def showEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().showEvent(event)
        settle_plots(self)

    def set_context(self, context: RunContext) -> None:
        """Adopt a new run: labels, sizes and predictions."""
        self.context = context
        self.snapshot = None

    def show_snapshot(self, snapshot: Any) -> None:
        """Draw one MetricSnapshot."""
        self.snapshot = snapshot

    def show_history(self, history: Any, step: int | None = None) -> None:
        """Draw the recorded history up to ``step`` (None: all of it). Default: nothing."""

    log_steps = False

    def set_log_steps(self, on: bool) -> None:
        """Put the step axis of this panel's plots on a log scale (panels whose plots
        have no step axis ignore it). The next ``show_history`` draws it."""
        self.log_steps = bool(on)

    def add_main_plot(self, tooltip: str, left: str = "", bottom: str = "") -> pg.PlotItem:
        """The panel's one plot, filling it: a styled PlotWidget stored as ``self.plot``,
        with its axis labels; returns its PlotItem."""
        self.plot = self.new_plot(tooltip=tooltip)
        self.layout_.addWidget(self.plot, 1)
        item = self.plot.getPlotItem()
        # room above the plot for the top tick's label (centred on the top edge, it
        # would lose its upper half to the edge of the widget)
        margins = list(item.layout.getContentsMargins())
        margins[1] = max(margins[1], TOP_LABEL_ROOM)
        item.layout.setContentsMargins(*margins)
        if left:
            fit_axis_label(item.getAxis("left"), [left])
        if bottom:
            item.setLabel("bottom", bottom)
        return item

    def new_plot(self, title: str = "", tooltip: str = "") -> pg.PlotWidget:
        """A PlotWidget in the app's style, added to this panel."""
        plot = pg.PlotWidget()
        plot.setMenuEnabled(False)
        item = plot.getPlotItem()
        item.hideButtons()
        if title:
            item.setTitle(theme.plot_title(title))
        # no grid: an axis that draws one covers its whole plot and must be redrawn with
        # every change of a curve, which would double the cost of a frame
        if tooltip:
            plot.setToolTip(tooltip)
        return plot


TEXT_ITEMS = (pg.AxisItem, pg.LegendItem, pg.LabelItem, pg.TextItem, ItemSample)


def settle_plots(widget: QWidget) -> None:
    """Make the plots of ``widget`` cheap to repaint when their data change.

    - Axes, legends (with their line samples), titles and text are kept as pixmaps,
      redrawn only when they change: drawing text is the dearest part of a frame, and a
      curve that changes under a legend makes it repaint.
    - Axes keep their label when their range changes (no automatic SI prefix, which
      would set the label's text again and re-measure the axis at every new range).
    - Plot views are opaque (their background fills them), so a change inside a view
      repaints the view alone, not the dock and window behind it.
    """
    views = widget.findChildren(pg.GraphicsView)
    if isinstance(widget, pg.GraphicsView):
        views.append(widget)
    for view in views:
        view.viewport().setAttribute(Qt.WidgetAttribute.WA_OpaquePaintEvent, True)
        for item in view.scene().items():
            if isinstance(item, pg.AxisItem) and item.autoSIPrefix:
                item.enableAutoSIPrefix(False)
            if isinstance(item, TEXT_ITEMS) and item.cacheMode() != CACHED:
                item.setCacheMode(CACHED)


class HeatMapImage(pg.ImageItem):
    """An ImageItem kept as a premultiplied 32-bit picture, the format Qt draws fastest.

    pyqtgraph renders a colour-mapped image as 8-bit indices with a colour table, which Qt
    converts at every paint: for a 1024 × 7 map scaled into a view, 0.3–0.5 ms a paint,
    against 0.05 ms for the converted picture (converted once per new image, for less).
    """

    def render(self) -> None:
        super().render()
        if self.qimage is not None and self.qimage.format() != PREMULTIPLIED:
            self.qimage = self.qimage.convertToFormat(PREMULTIPLIED)


def nice_ceiling(value: float) -> float:
    """The smallest m·10^k ≥ ``value`` with m in NICE_MANTISSAS (about ten per decade), so
    an axis that follows growing data changes its range now and then, not every frame."""
    if not math.isfinite(value) or value <= 0:
        return 1.0
    exponent = math.floor(math.log10(value))
    for mantissa in NICE_MANTISSAS:
        ceiling = mantissa * 10.0**exponent
        if ceiling >= value * (1 - 1e-12):
            return ceiling
    return 10.0 ** (exponent + 1)


def decade_range(values: np.ndarray) -> tuple[float, float] | None:
    """(floor, ceil) of log10 over the positive finite ``values``: a log axis range that
    changes only when the data cross a decade (None without such values)."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values) & (values > 0)]
    if values.size == 0:
        return None
    low = math.floor(math.log10(float(values.min())))
    high = math.ceil(math.log10(float(values.max())))
    return float(low), float(max(high, low + 1))


def step_coordinates(steps: np.ndarray, log: bool) -> tuple[np.ndarray, np.ndarray]:
    """(x, kept) for drawing ``steps`` on a step axis: the steps themselves, or log10 of
    the positive ones on a log axis (``kept`` marks the steps drawn)."""
    steps = np.asarray(steps, dtype=np.float64)
    if not log:
        return steps, np.ones(steps.shape, dtype=bool)
    kept = steps > 0
    return np.log10(steps[kept]), kept


def step_position(step: float, log: bool) -> float | None:
    """Where one step sits on a (log) step axis; None when a log axis cannot show it."""
    if not log:
        return float(step)
    return math.log10(step) if step > 0 else None


def set_step_axis_log(plot_item: pg.PlotItem, log: bool) -> None:
    """Label the bottom (step) axis at decades when ``log`` (the data are given in
    log10 units by the panel: see step_coordinates)."""
    plot_item.getAxis("bottom").setLogMode(bool(log))


class SteadyRange:
    """Sets a plot's x or y range only when it differs from the one set last (a new range
    regenerates the axis, which is one of the dearest things in a frame). With ``log``
    a step range is kept in log10 units, from step 1."""

    def __init__(self, plot_item: pg.PlotItem, axis: str, padding: float = 0.0) -> None:
        self.plot_item = plot_item
        self.axis = axis
        self.padding = padding
        self.current: tuple[float, float] | None = None
        self.log = False
        self._linear_end: float | None = None

    def set(self, low: float, high: float) -> None:
        wanted = (float(low), float(high))
        if wanted == self.current or not (math.isfinite(wanted[0]) and math.isfinite(wanted[1])):
            return
        if wanted[1] <= wanted[0]:
            wanted = (wanted[0], wanted[0] + 1.0)
        self.current = wanted
        if self.axis == "x":
            self.plot_item.setXRange(*wanted, padding=self.padding)
        else:
            self.plot_item.setYRange(*wanted, padding=self.padding)

    def set_ceiling(self, top: float, fill: float = 0.4) -> None:
        """The range [0, nice_ceiling(top)], kept while it still holds ``top`` and ``top``
        fills at least ``fill`` of it: counts that wander up and down leave the axis
        alone instead of stepping between neighbouring ceilings."""
        if self.current is not None and self.current[0] == 0.0:
            ceiling = self.current[1]
            if fill * ceiling <= top <= ceiling:
                return
        self.set(0.0, nice_ceiling(top))

    def follow(self, end: float) -> None:
        """The range [0, nice_ceiling(end)] at first; afterwards kept while it holds
        ``end``, and once ``end`` passes it, [0, nice_ceiling(HEADROOM · end)]: the step
        axis of a growing run widens now and then with room to grow (each new range
        regenerates the axis), and a finished record fills its axis."""
        end = max(float(end), 1.0)
        if self.current is None or self.current[0] != 0.0 or self._linear_end is None:
            ceiling = nice_ceiling(end)
        elif end > self._linear_end:
            ceiling = nice_ceiling(HEADROOM * end)
        else:
            return
        self._linear_end = ceiling
        self.set(0.0, math.log10(max(ceiling, 10.0)) if self.log else ceiling)

    def reset(self) -> None:
        self.current = None
        self._linear_end = None


def fix_text_height(label, lines: int) -> None:
    """Give a (word-wrapped) label room for ``lines`` lines whatever its text, so that new
    text never changes the layout around it (which would repaint whole docks)."""
    from PyQt6.QtWidgets import QSizePolicy

    height = label.fontMetrics().lineSpacing() * lines + 4
    label.setFixedHeight(height)
    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
    label.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)


TITLE_MARGIN = 2  # pixels an axis title leaves free along its axis


def fit_axis_label(axis: pg.AxisItem, forms: list[str]) -> None:
    """Title ``axis`` with the longest of ``forms`` (longest first) that fits its length,
    now and after every resize, or with none where none fits (the legend and ticks
    remain), the first in full as the axis's tooltip when it is not shown whole: a title
    longer than a short plot is cut at both ends ("power, 4096 sample")."""
    first_time = not hasattr(axis, "fitted_forms")
    axis.fitted_forms = list(forms)
    if first_time:
        axis.geometryChanged.connect(lambda: _refit_axis_label(axis))
    _refit_axis_label(axis)


def _refit_axis_label(axis: pg.AxisItem) -> None:
    if sip.isdeleted(axis) or sip.isdeleted(axis.label):  # a geometry change as it goes
        return
    forms = axis.fitted_forms
    rect = axis.geometry()
    room = rect.height() if axis.orientation in ("left", "right") else rect.width()
    metrics = QFontMetricsF(axis.label.font())
    chosen = next((form for form in forms
                   if metrics.horizontalAdvance(form) + TITLE_MARGIN <= room), None)
    if chosen is None:
        if axis.label.isVisible():
            axis.showLabel(False)
    elif axis.labelText != chosen or not axis.label.isVisible():
        axis.setLabel(chosen)
    axis.setToolTip("" if chosen == forms[0] else forms[0])


def fix_text_width(label) -> None:
    """Let a one-line label take the width its layout gives it, whatever its text."""
    from PyQt6.QtWidgets import QSizePolicy

    label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)


class LegendAbove:
    """Keeps a plot's legend in a strip above its data instead of over it: the legend
    sits in the plot's title row, its entries in as many columns as the plot's width
    holds, and the row is as high as the legend. A legend that would take more than
    MAX_SHARE of the plot's height is hidden (the plot is too small for it: the colours
    are named in the other views). ``attach`` a (new) legend, or None for no strip; call
    ``fit`` after adding or removing entries (a resize fits by itself)."""

    MARGIN = 8  # pixels between the legend and the plot's right edge
    MAX_SHARE = 0.35

    def __init__(self, item: pg.PlotItem, legend: pg.LegendItem | None = None) -> None:
        self.item = item
        self.legend: pg.LegendItem | None = None
        self._fitting = False
        self._height = -1
        self._margins = list(item.layout.getContentsMargins())
        item.vb.sigResized.connect(self.fit)
        self.attach(legend)

    def attach(self, legend: pg.LegendItem | None) -> None:
        self.legend = legend
        if legend is not None:
            legend.setParentItem(self.item)
            legend.layout.setContentsMargins(4, 2, 4, 2)  # a strip: no frame of air
            legend.anchor(itemPos=(1, 0), parentPos=(1, 0), offset=(-self.MARGIN, 0))
        self.fit()

    def fit(self, *_args) -> None:
        if self._fitting:
            return
        self._fitting = True
        try:
            legend = self.legend
            height = 0
            if legend is not None and legend.items:
                room = self.item.width() - 2 * self.MARGIN
                columns = len(legend.items)
                arrange_legend(legend, columns)
                while columns > 1 and legend.width() > room:
                    columns -= 1
                    arrange_legend(legend, columns)
                height = int(math.ceil(legend.height()))
                fits = height <= self.MAX_SHARE * self.item.height()
                legend.setVisible(fits)
                height = height if fits else 0
            if height != self._height:
                self._height = height
                self.item.layout.setRowFixedHeight(0, height)
                # the strip also makes room for the top tick's label: no margin above it
                margins = list(self._margins)
                margins[1] = max(margins[1] - height, 0)
                self.item.layout.setContentsMargins(*margins)
        finally:
            self._fitting = False


def arrange_legend(legend: pg.LegendItem, columns: int) -> None:
    """Lay out a legend's entries row by row, ``columns`` to a row, from the top (the
    legend's own re-layout keeps the rows its grid once had and starts below them)."""
    layout = legend.layout
    for index in range(layout.count() - 1, -1, -1):
        layout.removeAt(index)
    for index, (sample, label) in enumerate(legend.items):
        row, column = divmod(index, columns)
        layout.addItem(sample, row, 2 * column, alignment=Qt.AlignmentFlag.AlignVCenter)
        layout.addItem(label, row, 2 * column + 1)
    legend.columnCount = columns
    legend.rowCount = math.ceil(len(legend.items) / columns)
    legend.updateSize()


class WrappedLabel(QLabel):
    """A word-wrapped label as tall as its text needs at its width, between
    ``fewest`` and ``most`` lines: its height changes only when the number of lines does
    (a new text of the same length never moves the layout around it), and text beyond
    ``most`` lines is reachable through the tooltip."""

    def __init__(self, fewest: int, most: int, parent=None) -> None:
        super().__init__("", parent)
        self.fewest, self.most = int(fewest), int(most)
        self.setWordWrap(True)
        self._lines = 0
        self._tip = ""
        self._fit()

    def set_tip(self, tip: str) -> None:
        """A tooltip of the caller's (a fuller account than the text), kept whatever the
        text's length; empty: the whole text where it is cut."""
        self._tip = tip
        self._fit()

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        if text == self.text():
            return
        super().setText(text)
        self._fit()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():
            self._fit()

    def lines_needed(self) -> int:
        """Lines the text takes at the label's width."""
        return max(1, len(self._line_bottoms()))

    def _laid_out(self) -> QTextDocument:
        """The text laid out at the label's width, as the label lays it out."""
        document = QTextDocument()  # a fresh one lays out faster than a reused one
        document.setDefaultFont(self.font())
        document.setDocumentMargin(0)
        if Qt.mightBeRichText(self.text()):
            document.setHtml(self.text())
        else:
            document.setPlainText(self.text())
        document.setTextWidth(max(self.contentsRect().width(), 1))
        document.size()  # lays the text out (the lines exist once it is)
        return document

    def _line_bottoms(self) -> list[float]:
        """Where each line of the laid-out text ends (its descenders included)."""
        if not self.text():
            return []
        bottoms = []
        document = self._laid_out()  # held while its blocks are read
        block = document.begin()
        while block.isValid():
            layout = block.layout()
            top = layout.position().y()
            for index in range(layout.lineCount()):
                line = layout.lineAt(index)
                bottoms.append(top + line.y() + line.height())
            block = block.next()
        return bottoms

    def _fit(self) -> None:
        """Take the height of the lines needed, within the bounds; the whole text as
        tooltip where it needs more, and then only whole lines shown (the top of the next
        line's letters would show in the label's margin)."""
        bottoms = self._line_bottoms()  # one layout of the text serves both
        needed = max(1, len(bottoms))
        lines = min(self.most, max(self.fewest, needed))
        if lines != self._lines:
            self._lines = lines
            fix_text_height(self, lines)
        if needed > self.most:
            shown = self.contentsRect().top() + math.ceil(bottoms[lines - 1])
            self.setMask(QRegion(0, 0, max(self.width(), 1), shown))
        else:
            self.clearMask()
        self.setToolTip(self._tip or (self.text() if needed > self.most else ""))


class ElidedLabel(QLabel):
    """A one-line label that ends in "…" when its text is wider than the label (a cut
    text could read as another value: "step 1" for step 1,500); the whole text is its
    tooltip. ``text()`` stays the whole text."""

    def setText(self, text: str) -> None:  # noqa: N802 - Qt override
        super().setText(text)
        self.setToolTip(text)

    def paintEvent(self, event) -> None:  # noqa: N802 - Qt override
        painter = QPainter(self)
        rect = self.contentsRect()
        shown = self.fontMetrics().elidedText(self.text(), Qt.TextElideMode.ElideRight,
                                              rect.width())
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.drawText(rect, int(self.alignment()), shown)
