"""How much of each orbit's template power a network has fitted.

    explained_O = 1 − mean_pairs P_O(y − f) / P_O(t)      (1 once O is learned)

Orbits without template power (P_O(t) ≤ ZERO_POWER · ‖t‖²) get NaN: the trivial orbit
of a mean-centred template holds only round-off, and a ratio of round-offs would read
as "learned" at step 0.
"""

from __future__ import annotations

import numpy as np

LEARNED_FRACTION = 0.5
"""An orbit is learned at the first step where it is explained this much (interpolated
between readings, ``learned_step``)."""

PURE_FRACTION = 0.1
"""A stretch of the loss curve is an orbit's level while every orbit not yet learned is
fitted below this share (``pure_until``; comparison._plateau_level, drops.drop_rounds)."""

ZERO_POWER = 1e-9
"""An orbit whose template power is below this share of ‖t‖² has none."""


def powered(power: np.ndarray) -> np.ndarray:
    """Orbits that carry template power: P_O(t) > ZERO_POWER · Σ_O P_O(t)."""
    power = np.asarray(power, dtype=np.float64)
    return power > ZERO_POWER * max(float(power.sum()), 1e-300)


def explained_fraction(left: np.ndarray, power: np.ndarray) -> np.ndarray:
    """1 − left_O/P_O(t) per orbit (NaN for orbits without power, see ``powered``)."""
    power = np.asarray(power, dtype=np.float64)
    keep = powered(power)
    return np.where(keep, 1.0 - left / np.where(keep, power, 1.0), np.nan)


def only_listed(shares: np.ndarray, orbits=None) -> np.ndarray:
    """``shares`` with NaN for every orbit not in ``orbits`` (indices; None keeps all)."""
    if orbits is None:
        return shares
    listed = np.zeros(shares.shape, dtype=bool)
    listed[np.asarray(orbits, dtype=np.int64)] = True
    return np.where(listed, shares, np.nan)


def pure_until(reading_steps: np.ndarray, shares: np.ndarray, step: float, stop: float,
               later: list[int]) -> float:
    """Where the level of an orbit learned at ``step`` can be read up to: the first
    reading in (step, stop] at which an orbit of ``later`` (not yet learned) is explained
    PURE_FRACTION or more — beyond it the loss falls as that orbit comes in — or
    ``stop`` where there is none, or where it is the very first reading (no stretch
    left to read). ``shares`` (readings × orbits) may hold NaN for orbits not read."""
    reading_steps = np.asarray(reading_steps, dtype=np.float64)
    inside = (reading_steps > step) & (reading_steps <= stop)
    if not later or not inside.any():
        return stop
    fitted = np.nan_to_num(np.asarray(shares)[inside][:, later]).max(axis=1) >= PURE_FRACTION
    first = int(np.argmax(fitted))
    return float(reading_steps[inside][first]) if fitted.any() and first > 0 else stop


def learned_step(steps: np.ndarray, fraction: np.ndarray, threshold: float = LEARNED_FRACTION):
    """First step where ``fraction`` reaches ``threshold`` (linear interpolation), or None."""
    above = np.flatnonzero(fraction >= threshold)
    if above.size == 0:
        return None
    i = int(above[0])
    if i == 0:
        return float(steps[0])
    f0, f1 = fraction[i - 1], fraction[i]
    weight = (threshold - f0) / (f1 - f0) if f1 != f0 else 1.0
    return float(steps[i - 1] + weight * (steps[i] - steps[i - 1]))
