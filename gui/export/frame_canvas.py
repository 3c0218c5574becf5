"""The offscreen canvas that video frames and command-line pictures are painted from.

A hidden widget of fixed size holds fresh panel instances in a named layout under a
one-line header (group, step, loss). ``draw(step)`` feeds the recorded moment into the
panels (items are created once and updated with setData/setImage by the panels) and
paints the widget into one reused QImage; the visible window is never grabbed, so the
frame size does not depend on the window or on the display's scaling. Its time curves
are drawn at their full width (the window draws them one pixel wide).
"""

from __future__ import annotations

import math
from typing import Any

import pyqtgraph as pg
from PyQt6.QtCore import QEvent, Qt
from PyQt6.QtGui import QColor, QImage, QPainter
from PyQt6.QtWidgets import (
    QAbstractButton,
    QApplication,
    QComboBox,
    QGraphicsItem,
    QLabel,
    QWidget,
)

from gui import theme
from gui.export.frame_layouts import FrameLayout
from gui.export.output_files import ExportError
from gui.panels.line_widths import set_full_widths
from gui.panels.registry import frame_panel_classes, panel_entry
from gui.run_context import RunContext
from gui.run_record import RunRecord

MIN_SIZE = (320, 240)
MAX_SIZE = (3840, 2160)
SIZE_MULTIPLE = 8
HEADER_HEIGHT = 24
MARGIN = 4
SPACING = 4
TIME_AXIS_PANELS = ("loss", "function_power")
"""Panels whose x axis is the step: their ranges are fixed to the whole record, so curves
grow across a still frame instead of rescaling every frame."""


def check_frame_size(width: int, height: int) -> tuple[int, int]:
    """Refuse sizes a video encoder or the screen layout cannot use, with a message."""
    width, height = int(width), int(height)
    if not (MIN_SIZE[0] <= width <= MAX_SIZE[0] and MIN_SIZE[1] <= height <= MAX_SIZE[1]):
        raise ExportError(
            f"frame size {width}×{height} is out of range; choose from "
            f"{MIN_SIZE[0]}×{MIN_SIZE[1]} to {MAX_SIZE[0]}×{MAX_SIZE[1]} (e.g. 1280x720)"
        )
    if width % SIZE_MULTIPLE or height % SIZE_MULTIPLE:
        raise ExportError(
            f"frame size {width}×{height}: width and height must be multiples of "
            f"{SIZE_MULTIPLE} for the video encoder (e.g. 1280x720 or 1920x1080)"
        )
    return width, height


class FrameCanvas(QWidget):
    """A fixed-size, never-shown-on-screen widget of panels that renders recorded moments."""

    def __init__(self, context: RunContext, record: RunRecord, layout: FrameLayout,
                 size: tuple[int, int] = (1280, 720)) -> None:
        super().__init__()
        if not len(record):
            raise ExportError("the run has no recorded moments to draw; train a few steps "
                              "(or record the run with `train --out DIR`) first")
        width, height = check_frame_size(*size)
        self.context = context
        self.record = record
        self.layout_spec = layout
        self.setAttribute(Qt.WidgetAttribute.WA_DontShowOnScreen, True)
        self.setFixedSize(width, height)
        self.setObjectName("FrameCanvas")
        self.setAutoFillBackground(True)
        palette = self.palette()
        palette.setColor(self.backgroundRole(), QColor(theme.BACKGROUND))
        self.setPalette(palette)
        self.setStyleSheet(
            f"#FrameCanvas {{ background: {theme.BACKGROUND}; }} "
            f"QLabel {{ color: {theme.FOREGROUND}; background: transparent; }} "
            f"QLabel#frame_title {{ font-weight: bold; }} "
            f"QLabel#frame_figures {{ color: {theme.MUTED}; }}"
        )
        self.panels: dict[str, Any] = {}
        self._build()
        self.image = QImage(width, height, QImage.Format.Format_RGB32)
        self.show()  # polish and size every child once, then keep it off the screen's
        self.hide()  # paint cycle: frames are painted by render() alone
        self._cache_text_items()
        self._set_context()
        self._freeze_time_axes()

    # ------------------------------------------------------------------ building
    def _build(self) -> None:
        """Header labels and panels at fixed rectangles: the grid is computed once, so no
        layout manager re-arranges anything while frames are drawn."""
        width, height = self.width(), self.height()
        self.title_label = QLabel(self._title_text(), self)
        self.title_label.setObjectName("frame_title")
        self.title_label.setGeometry(MARGIN, 0, width // 2, HEADER_HEIGHT)
        self.figures_label = QLabel("", self)
        self.figures_label.setObjectName("frame_figures")
        self.figures_label.setAlignment(Qt.AlignmentFlag.AlignRight
                                        | Qt.AlignmentFlag.AlignVCenter)
        self.figures_label.setGeometry(width // 2, 0, width - width // 2 - MARGIN,
                                       HEADER_HEIGHT)
        spec = self.layout_spec
        columns = _edges(spec.column_stretch, MARGIN, width - MARGIN)
        rows = _edges(spec.row_stretch, HEADER_HEIGHT, height - MARGIN)
        for placement in spec.placements:
            if placement.panel not in frame_panel_classes():
                raise ExportError(f"the panel {placement.panel!r} cannot be drawn in a frame")
            panel = panel_entry(placement.panel).panel_class(self)
            for control in panel.findChildren(QAbstractButton) + panel.findChildren(QComboBox):
                control.hide()
            left = columns[placement.column]
            right = columns[placement.column + placement.column_span]
            top = rows[placement.row]
            bottom = rows[placement.row + placement.row_span]
            panel.setGeometry(left, top, right - left - SPACING, bottom - top - SPACING)
            self.panels[placement.panel] = panel

    def _cache_text_items(self) -> None:
        """Keep axes and plot titles as cached pixmaps: they are repainted only when they
        change (a new range or text), not replayed glyph by glyph in every frame."""
        for view in self.findChildren(pg.GraphicsView):
            for item in view.scene().items():
                if isinstance(item, pg.AxisItem | pg.LabelItem):
                    item.setCacheMode(QGraphicsItem.CacheMode.DeviceCoordinateCache)

    def _title_text(self) -> str:
        context = self.context
        parts = [f"Irrep Studio — {context.group_name}", f"width {context.width}"]
        preset = getattr(context.config, "preset", "")
        if preset:
            parts.append(str(preset))
        return "   ·   ".join(parts)

    def _set_context(self) -> None:
        for panel in self.panels.values():
            panel.set_context(self.context)
        set_full_widths(self, True)  # the panels make some curves anew for a context

    def _freeze_time_axes(self) -> None:
        """Draw the whole record once, let the time plots fit it, then keep those ranges."""
        frozen = [self.panels[key] for key in TIME_AXIS_PANELS if key in self.panels]
        if not frozen:
            return
        last = int(self.record.snapshot_steps[-1])
        self.draw(last)
        for panel in frozen:
            panel.plot.getPlotItem().getViewBox().disableAutoRange()
        self._set_context()

    # ------------------------------------------------------------------ drawing
    @property
    def frame_size(self) -> tuple[int, int]:
        return self.width(), self.height()

    def show_moment(self, step: int) -> None:
        """Give every panel the recorded moment at (or just before) ``step``."""
        snapshot = self.record.snapshot_at(int(step))
        self.figures_label.setText(_figures_text(snapshot))
        for panel in self.panels.values():
            panel.show_snapshot(snapshot)
            panel.show_history(self.record, int(step))

    def draw(self, step: int) -> QImage:
        """The frame for ``step`` (the same QImage object, repainted each call)."""
        self.show_moment(step)
        # Re-arrange plots whose labels changed size; nothing else (no on-screen painting).
        QApplication.sendPostedEvents(None, QEvent.Type.LayoutRequest.value)
        painter = QPainter(self.image)
        try:
            self.render(painter)
        finally:
            painter.end()
        return self.image


def _edges(stretch: tuple[int, ...], start: int, stop: int) -> list[int]:
    """Cell boundaries sharing [start, stop] in proportion to ``stretch``."""
    total = float(sum(stretch))
    cumulative = [0.0]
    for part in stretch:
        cumulative.append(cumulative[-1] + part)
    return [start + round((stop - start + SPACING) * value / total) for value in cumulative]


def _figures_text(snapshot: Any) -> str:
    parts = [f"step {int(snapshot.step):,}"]
    loss = float(snapshot.loss)
    parts.append(f"loss {loss:.4g}" if math.isfinite(loss) else "loss —")
    parts.append(f"train acc. {100 * float(snapshot.train_accuracy):.1f}%")
    if snapshot.test_accuracy is not None:
        parts.append(f"held-out {100 * float(snapshot.test_accuracy):.1f}%")
    return "    ".join(parts)
