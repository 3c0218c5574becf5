"""A number axis whose tick labels never run together.

pyqtgraph asks for at least 2.25 intervals between major ticks whatever the axis length,
so on a plot a hundred pixels wide the steps 1000, 2000 and 3000 print as one word
("100020003000"), and on a plot a few lines high 0.2, 0.0 and −0.2 print over each
other. ``SpacedAxis`` widens the major spacing to the next 1-2-5 step at which every
label fits its interval with a gap to spare (across a horizontal axis, labels as wide as
the widest of them and GAP pixels; along a vertical one, a line of text and
VERTICAL_GAP), leaving out the minor ticks; where pyqtgraph's own spacing fits, it is
kept. Ticks set by hand (``setTicks``) keep their values, and a label that would touch
one drawn before it is left out (a histogram's 0 and its top on a plot one line high).
"""

from __future__ import annotations

import math

import pyqtgraph as pg
from PyQt6.QtGui import QFontMetricsF

GAP = 8  # pixels between two labels side by side
VERTICAL_GAP = 2  # pixels between two labels one above the other


def next_step(spacing: float) -> float:
    """The next 1-2-5 × 10^k spacing above ``spacing``."""
    power = 10.0 ** math.floor(math.log10(spacing))
    for mantissa in (1.0, 2.0, 5.0, 10.0):
        if mantissa * power > spacing * (1.0 + 1e-9):
            return mantissa * power
    return 10.0 * power


class SpacedAxis(pg.AxisItem):
    """An axis of plain numbers (see the module)."""

    def label_extent(self, values: list[float], spacing: float) -> float:
        """Pixels one label of ``values`` at ``spacing`` takes along the axis, with its
        gap: the widest label's width across a horizontal axis, a line along a vertical
        one."""
        metrics = QFontMetricsF(self.style.get("tickFont") or self.font())
        if self.orientation in ("left", "right"):
            return metrics.height() + VERTICAL_GAP
        # as pyqtgraph formats them: tickSpacing's values are already multiplied by scale
        strings = self.tickStrings([value / self.scale for value in values],
                                   self.autoSIPrefixScale * self.scale, spacing / self.scale)
        return max((metrics.horizontalAdvance(text) for text in strings), default=0.0) + GAP

    def tickSpacing(self, minVal: float, maxVal: float, size: float):  # noqa: N802, N803
        levels = super().tickSpacing(minVal, maxVal, size)
        span = abs(maxVal - minVal)
        if not levels or size <= 0 or span == 0 or self._tickSpacing is not None:
            return levels  # (a spacing set by hand is kept)
        low, high = sorted((minVal, maxVal))
        spacing = levels[0][0]
        for _ in range(60):
            ends = [math.ceil(low / spacing) * spacing, math.floor(high / spacing) * spacing]
            if self.label_extent(ends, spacing) * span / spacing <= size:
                break
            spacing = next_step(spacing)
        return levels if spacing == levels[0][0] else [(spacing, 0.0)]

    def generateDrawSpecs(self, p):  # noqa: N802 - pyqtgraph override
        specs = super().generateDrawSpecs(p)
        if specs is None:
            return specs
        axis, ticks, texts = specs
        across, along = ((GAP / 2, 0.0) if self.orientation in ("bottom", "top")
                         else (0.0, VERTICAL_GAP / 2))
        kept = []
        for rect, flags, text in texts:
            grown = rect.adjusted(-across, -along, across, along)
            if not any(grown.intersects(other) for other, _, _ in kept):
                kept.append((rect, flags, text))
        return axis, ticks, kept
