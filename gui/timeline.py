"""The timeline: a slider over the recorded moments that jumps to a click, with a linear
or logarithmic step axis.

The slider runs over TICKS positions; a position stands for a step, linearly or on a
log scale between the first and the last recorded step, and shows the recorded moment
whose position is nearest. The last position follows the live run.
"""

from __future__ import annotations

import numpy as np
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QSlider, QStyle, QStyleOptionSlider

TICKS = 1000


def step_positions(steps: np.ndarray, log: bool) -> np.ndarray:
    """Slider position (0…TICKS) of each recorded step: linear in the step, or in
    log10(1 + step), between the first and the last one."""
    steps = np.asarray(steps, dtype=np.float64)
    if steps.size == 0:
        return np.zeros(0)
    values = np.log10(1.0 + np.maximum(steps, 0.0)) if log else steps
    low, high = float(values[0]), float(values[-1])
    if high <= low:
        return np.full(steps.size, float(TICKS))
    return TICKS * (values - low) / (high - low)


def nearest_index(steps: np.ndarray, position: int, log: bool) -> int:
    """The recorded moment whose slider position is nearest to ``position``."""
    positions = step_positions(steps, log)
    if positions.size == 0:
        return 0
    return int(np.argmin(np.abs(positions - float(position))))


class TimelineSlider(QSlider):
    """A horizontal slider whose click moves the handle to the click (not by a page)."""

    def __init__(self) -> None:
        super().__init__(Qt.Orientation.Horizontal)
        self.setRange(0, TICKS)
        self.setValue(TICKS)
        self.setFocusPolicy(Qt.FocusPolicy.NoFocus)  # arrows step the run, not the slider

    def value_at(self, x: float) -> int:
        """The slider value under the horizontal pixel ``x``."""
        option = QStyleOptionSlider()
        self.initStyleOption(option)
        style = self.style()
        groove = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                      QStyle.SubControl.SC_SliderGroove, self)
        handle = style.subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                      QStyle.SubControl.SC_SliderHandle, self)
        span = max(1, groove.width() - handle.width())
        offset = int(round(x - groove.x() - handle.width() / 2))
        return QStyle.sliderValueFromPosition(self.minimum(), self.maximum(),
                                              min(max(offset, 0), span), span)

    def mousePressEvent(self, event) -> None:  # noqa: N802 - Qt override
        if event.button() == Qt.MouseButton.LeftButton:
            option = QStyleOptionSlider()
            self.initStyleOption(option)
            handle = self.style().subControlRect(QStyle.ComplexControl.CC_Slider, option,
                                                 QStyle.SubControl.SC_SliderHandle, self)
            if not handle.contains(event.position().toPoint()):
                self.setValue(self.value_at(event.position().x()))
        super().mousePressEvent(event)
