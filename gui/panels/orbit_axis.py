"""A bottom axis with one label per column (an orbit, an element) that stays readable for
any number of columns.

The labels stand level when every one fits its column; otherwise they turn a quarter
turn and stand upright in their column, cut to MAX_CHARACTERS with "…" (the full names
are in the tooltips of the cells). Only when even upright labels are taller than a
column is wide (a line of text per column) is every second, third… label left out.
A ``level_only`` axis (a thumbnail too short for upright labels) never turns its labels:
it leaves out every second, third… label as soon as level ones would touch.
``drawn_labels`` says what was drawn where, so tests can check that nothing is clipped.
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PyQt6 import sip
from PyQt6.QtCore import QRectF, Qt
from PyQt6.QtGui import QFont, QFontMetricsF

MAX_CHARACTERS = 12
GAP = 3  # pixels between two level labels
OFFSET = 3  # pixels between the ticks and the text
LABEL_POINTS = 7.5


def abbreviate(label: str, limit: int = MAX_CHARACTERS) -> str:
    """``label`` without its parenthesised note and spaces around ⊗ and commas, cut to
    ``limit`` characters with "…"."""
    short = label.split(" (")[0].replace(" ⊗ ", "⊗").replace(", ", ",")
    return short if len(short) <= limit else short[: limit - 1] + "…"


class ColumnAxis(pg.AxisItem):
    """Bottom axis of a map whose column i spans [i, i + 1) (see the module)."""

    def __init__(self, level_only: bool = False) -> None:
        self.labels: list[str] = []
        self.level_only = level_only
        self.peers: list[ColumnAxis] = [self]
        super().__init__("bottom")
        font = QFont()
        font.setPointSizeF(LABEL_POINTS)
        self.setStyle(tickFont=font)
        self.rotated = False
        self.stride = 1
        self.drawn: list[tuple[str, QRectF]] = []

    def set_labels(self, labels: list[str]) -> None:
        """One label per column, in column order (abbreviated here); the columns fill the
        axis (the plot's x range is [0, number of labels])."""
        self.labels = [abbreviate(label) for label in labels]
        self.setTicks([[(i + 0.5, "") for i in range(len(self.labels))], []])
        self._fit()
        self.picture = None
        self.update()

    def resizeEvent(self, event=None) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        self._fit()

    def _spacing(self) -> float:
        return self.geometry().width() / max(len(self.labels), 1)

    def _fit(self) -> None:
        """Take the height the labels need at the present width (before painting, so a
        paint never changes the layout), the same as the peers'."""
        if not getattr(self, "labels", None):
            return
        self.peers = [axis for axis in self.peers if not sip.isdeleted(axis)]
        layouts = [axis._choose_layout(axis._spacing()) for axis in self.peers if axis.labels]
        rotated = any(layout[0] for layout in layouts)
        height = max(self._choose_layout(axis._spacing(), rotated)[2]
                     for axis in self.peers if axis.labels)
        for axis in self.peers:
            if axis.labels and abs(axis.height() - height) > 1:
                axis.setHeight(height)

    def share_layout(self, axes: list[ColumnAxis]) -> None:
        """Axes under maps that sit side by side: they take one height and turn their
        labels together, so the maps' rows stay level."""
        for axis in axes:
            axis.peers = list(axes)

    def drawn_labels(self) -> list[tuple[str, QRectF]]:
        """(text, rectangle in the axis's coordinates) of every label of the last paint."""
        return list(self.drawn)

    def _metrics(self) -> QFontMetricsF:
        font = self.style["tickFont"]
        return QFontMetricsF(font) if font is not None else QFontMetricsF(self.font())

    def _choose_layout(self, spacing: float, rotated: bool = False
                       ) -> tuple[bool, int, float]:
        """(rotated, stride, height) for columns ``spacing`` pixels apart (``rotated``:
        upright labels even where level ones would fit)."""
        metrics = self._metrics()
        widest = max((metrics.horizontalAdvance(t) for t in self.labels), default=0.0)
        line = metrics.ascent() + metrics.descent()
        if widest + GAP <= spacing and not rotated:
            return False, 1, line + OFFSET + 4
        spacing = max(spacing, 1e-6)
        if self.level_only:
            return False, math.ceil((widest + GAP) / spacing), line + OFFSET + 4
        # below a line per column, the end labels are pushed inside the axis by
        # (line − spacing)/2, and the next label drawn must still clear them
        stride = 1 if spacing >= line else math.ceil((1.5 * line - 0.5 * spacing) / spacing)
        return True, stride, widest + OFFSET + 6

    def drawPicture(self, p, axisSpec, tickSpecs, textSpecs):  # noqa: N802 - pyqtgraph
        super().drawPicture(p, axisSpec, tickSpecs, [])
        self.drawn = []
        centres = [spec[1].x() for spec in tickSpecs]
        if not centres or len(centres) != len(self.labels):
            return
        spacing = (centres[-1] - centres[0]) / (len(centres) - 1) if len(centres) > 1 \
            else self.boundingRect().width()
        together = any(axis._choose_layout(axis._spacing())[0]
                       for axis in self.peers if not sip.isdeleted(axis) and axis.labels)
        rotated, stride, _height = self._choose_layout(abs(spacing), together)
        if self.level_only:  # side by side maps leave out the same columns
            stride = max([stride] + [axis._choose_layout(axis._spacing())[1]
                                     for axis in self.peers
                                     if not sip.isdeleted(axis) and axis.labels])
        self.rotated, self.stride = rotated, stride
        bounds = self.boundingRect()
        metrics = self._metrics()
        line = metrics.ascent() + metrics.descent()
        top = self.boundingRect().top() + OFFSET + (self.style["tickLength"]
                                                   if self.style["tickLength"] < 0 else 0)
        top = max(top, OFFSET)
        if self.style["tickFont"] is not None:
            p.setFont(self.style["tickFont"])
        p.setPen(self.textPen())
        for index in range(0, len(self.labels), stride):
            text, x = self.labels[index], centres[index]
            width = metrics.horizontalAdvance(text)
            half = (line if rotated else width) / 2  # kept inside the axis at its ends
            x = min(max(x, bounds.left() + half), bounds.right() - half)
            if rotated:
                rect = QRectF(x - line / 2, top, line, width)  # as drawn, upright
                p.save()
                p.translate(x, top)
                p.rotate(90)
                p.drawText(QRectF(0, -line / 2, width + 1, line),
                           int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter),
                           text)
                p.restore()
            else:
                rect = QRectF(x - width / 2, top, width, line)
                p.drawText(rect.adjusted(-1, 0, 1, 0), int(Qt.AlignmentFlag.AlignCenter), text)
            self.drawn.append((text, rect))
