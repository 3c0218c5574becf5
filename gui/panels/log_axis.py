"""A logarithmic axis labelled at whole decades, or at a few 1-2-5 values.

pyqtgraph labels a log axis that spans a few decades at every minor tick (2, 3, …, 9 times
each power of ten), and those labels crowd. This axis labels the decades (every second
or third one when they do not fit) and marks the minor ticks without labels; only when
it shows fewer than two decades, or at most three with plenty of room, does it label
1, 2 and 5 times each power of ten instead.
"""

from __future__ import annotations

import math

import numpy as np
import pyqtgraph as pg

LABEL_PIXELS = 26  # at most one label per this many pixels along the axis
MINOR_TICK_PIXELS = 36  # minor ticks only when a decade is at least this long
SUPERSCRIPTS = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
MINOR_MANTISSAS = np.log10(np.arange(2, 10))
ONE_TWO_FIVE = np.log10([1.0, 2.0, 5.0])
ONE_TWO_FIVE_PIXELS = 4 * LABEL_PIXELS  # a decade this long has room for its 2 and 5 too
ONE_TWO_FIVE_SPACING = 0.3  # the spacing reported for the 1-2-5 level: below one decade


def decade_text(exponent: int) -> str:
    """10^exponent as a label: 1, 10, and 10ⁿ otherwise (10⁻³, 10²)."""
    if exponent in (0, 1):
        return str(10**exponent)
    return "10" + str(exponent).translate(SUPERSCRIPTS)


def value_text(log_value: float) -> str:
    """The value 10^log_value, short (the 1-2-5 labels of a zoomed-in axis): 0.005,
    20, 5·10⁻⁵."""
    value = 10.0**log_value
    if 1e-3 <= value < 1e4:
        return f"{value:.4g}"
    mantissa, power = f"{value:.0e}".split("e")
    prefix = "" if mantissa == "1" else f"{mantissa}·"
    return f"{prefix}10" + str(int(power)).translate(SUPERSCRIPTS)


def decade_ticks(low: float, high: float,
                 pixels: float) -> list[tuple[float | None, list[float]]]:
    """Tick levels (spacing, values) for a log axis over [low, high] (log10 units)
    ``pixels`` long: the labelled level first, then the minor ticks, whose spacing is None
    and which carry no labels. The labelled level holds the decades (every second or
    third one when they do not fit), or the 1-2-5 values when fewer than two decades are
    in view, or at most three with room for them."""
    if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
        return []
    span = high - low
    decades = list(range(math.ceil(low - 1e-9), math.floor(high + 1e-9) + 1))
    below, above = math.floor(low), math.ceil(high)

    def inside(values) -> list[float]:
        return [float(v) for v in values if low - 1e-9 <= v <= high + 1e-9]

    if len(decades) < 2 or (len(decades) <= 3 and pixels / span >= ONE_TWO_FIVE_PIXELS):
        labelled = inside([d + m for d in range(below, above) for m in ONE_TWO_FIVE] + [above])
        minor = inside(d + m for d in range(below, above) for m in MINOR_MANTISSAS)
        return [(ONE_TWO_FIVE_SPACING, labelled),
                (None, [v for v in minor if v not in labelled])]
    fitting = max(2, int(pixels // LABEL_PIXELS))
    stride = max(1, math.ceil(len(decades) / fitting))
    labelled = [float(d) for d in decades if d % stride == 0]
    if pixels / span >= MINOR_TICK_PIXELS:
        minor = inside(d + m for d in range(below, above) for m in MINOR_MANTISSAS)
    else:
        minor = [float(d) for d in decades if d % stride]
    return [(float(stride), labelled), (None, minor)]


class DecadeAxis(pg.AxisItem):
    """An AxisItem that, in log mode, labels whole decades only (see the module)."""

    def logTickValues(self, minVal, maxVal, size, stdTicks):  # noqa: N802, N803 - pyqtgraph
        return decade_ticks(float(minVal), float(maxVal), float(size))

    def logTickStrings(self, values, scale, spacing):  # noqa: N802 - pyqtgraph override
        if spacing is None:  # the minor ticks
            return ["" for _ in values]
        if spacing >= 1:  # whole decades
            return [decade_text(round(float(v))) for v in values]
        return [value_text(float(v)) for v in values]
