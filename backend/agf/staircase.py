"""Plateaus and drops of a recorded loss curve.

The curve is resampled uniformly in log-time u = ln(s − s₀ + δ), δ = (last − first step)/1000:
the plateaus of a staircase from small initialisation get longer as training goes on
(each drop takes a time proportional to when it happens), and a window of fixed length
in steps would miss the short early plateaus or blur the late drops. A point lies on a
**plateau** when the loss changes by less than ``flatness`` × L(0) between u − W and
u + W, W = ``window`` × (u range). Runs of such points at least 2W long are plateaus (one
touching either end of the curve may be shorter), with the loss where the run is
flattest as their level (``flattest_level``; the median of the resampled run where
fewer than three readings lie in it), so a plateau that creeps slowly still has a
level, and a run that creeps from one resting value to another reads the value it rests
at; neighbouring plateaus whose levels differ by less than ``min_drop`` × L(0) are
merged, keeping the later level. Between two plateaus lies a **drop**: its step is where
the loss first crosses the midpoint of the two levels after the earlier plateau ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.errors import UserError

FLATNESS_POWER = 4  # a point twice as steep as the flattest weighs 1/16 in its level

SETTLED_SLOPE = 0.1
"""A curve has left its drop by ``stop`` once its flattest fall in [start, stop] is below
this share of its steepest over as many steps before ``start`` (``left_drop``)."""


@dataclass(frozen=True)
class DetectedDrop:
    """One measured step of the staircase: where the loss crosses halfway, the plateau
    level before and the plateau level after."""

    step: float
    level_before: float
    level_after: float


@dataclass(frozen=True)
class Plateau:
    start: float
    end: float
    level: float


def _log_uniform(
    steps: np.ndarray, losses: np.ndarray, points: int
) -> tuple[np.ndarray, np.ndarray]:
    """(steps, losses) on a grid uniform in u = ln(s − s₀ + δ)."""
    offset = (steps[-1] - steps[0]) / 1000.0
    times = np.log(steps - steps[0] + offset)
    grid = np.exp(np.linspace(times[0], times[-1], points)) - offset + steps[0]
    grid[0], grid[-1] = steps[0], steps[-1]
    return grid, np.interp(grid, steps, losses)


def find_plateaus(
    steps,
    losses,
    *,
    window: float = 0.005,
    flatness: float = 0.004,
    min_drop: float = 0.02,
) -> list[Plateau]:
    """Flat stretches of the curve (see the module docstring), in time order."""
    steps = np.asarray(steps, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    if steps.ndim != 1 or steps.shape != losses.shape or steps.size < 3:
        raise UserError(
            "a loss curve needs matching one-dimensional steps and losses with at least "
            "3 points"
        )
    if not np.all(np.diff(steps) > 0):
        raise UserError("the steps of a loss curve must increase strictly")
    finite = np.isfinite(losses)
    steps, losses = steps[finite], losses[finite]
    grid, values = _log_uniform(steps, losses, 2001)
    scale = max(abs(float(values[0])), 1e-300)
    half = max(int(round(window * (grid.size - 1))), 1)
    padded = np.pad(values, half, mode="edge")
    change = np.abs(padded[2 * half :] - padded[: -2 * half])
    flat = change < flatness * scale
    plateaus: list[Plateau] = []
    edges = np.flatnonzero(np.diff(np.concatenate([[0], flat.astype(np.int8), [0]])))
    for begin, end in zip(edges[::2], edges[1::2], strict=True):
        if end - begin < 2 * half and not (begin == 0 or end == grid.size):
            continue
        start, stop = float(grid[begin]), float(grid[end - 1])
        recorded = np.count_nonzero((steps >= start) & (steps <= stop))
        # a stretch between two sparse readings has no slope of its own to weigh
        level = (flattest_level(steps, losses, start, stop) if recorded >= 3
                 else float(np.median(values[begin:end])))
        candidate = Plateau(start, stop, level)
        if plateaus and abs(plateaus[-1].level - level) < min_drop * scale:
            previous = plateaus[-1]
            candidate = Plateau(previous.start, candidate.end, level)
            plateaus[-1] = candidate
        else:
            plateaus.append(candidate)
    return plateaus


def detect_drops(steps, losses, **options) -> list[DetectedDrop]:
    """The drops of a loss curve: one between every two consecutive plateaus.

    ``steps`` and ``losses`` are matching 1-d sequences (any sampling, increasing steps).
    """
    steps = np.asarray(steps, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    plateaus = find_plateaus(steps, losses, **options)
    drops = []
    for before, after in zip(plateaus, plateaus[1:], strict=False):
        if after.level >= before.level:
            continue
        middle = 0.5 * (before.level + after.level)
        inside = (steps >= before.end) & (steps <= after.start)
        candidates = steps[inside & (losses <= middle)]
        step = float(candidates[0]) if candidates.size else 0.5 * (before.end + after.start)
        drops.append(DetectedDrop(step, before.level, after.level))
    return drops


def flattest_level(steps, losses, start: float, stop: float) -> float:
    """The loss where the curve is flattest between ``start`` and ``stop``: the level of
    a plateau too short or too tilted for ``find_plateaus``, or of a curve that creeps on
    to the end of the run. On 201 points s_i evenly spread over [start, stop], with
    ς_i = |dL/ds| averaged over 9 neighbours, it is the flatness-weighted mean

        Σ_i w_i L(s_i) / Σ_i w_i,   w_i = (min_j ς_j / ς_i)^FLATNESS_POWER,

    which is the plateau's value where there is one, and which two curves that agree at
    every step read alike (the single flattest point of a slowly creeping tail jumps
    between nearly equal minima). NaN only when no recorded step lies in [start, stop]."""
    steps = np.asarray(steps, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    inside = (steps >= start) & (steps <= stop) & np.isfinite(losses)
    if not inside.any():
        return float("nan")
    if inside.sum() < 3:
        return float(losses[inside][-1])
    values, smooth = _smoothed(steps[inside], losses[inside], max(start, steps[inside][0]),
                               min(stop, steps[inside][-1]))
    smooth = np.maximum(smooth, 1e-12 * max(float(smooth.max()), 1e-300))
    weights = (smooth.min() / smooth) ** FLATNESS_POWER
    return float(np.sum(weights * values) / np.sum(weights))


def _smoothed(steps: np.ndarray, losses: np.ndarray, start: float, stop: float
              ) -> tuple[np.ndarray, np.ndarray]:
    """(L, |dL/ds| averaged over 9 neighbours) at the 193 inner points of 201 evenly
    spread over [start, stop]."""
    grid = np.linspace(start, stop, 201)
    values = np.interp(grid, steps, losses)
    slope = np.abs(np.gradient(values, grid))
    return values[4:-4], np.convolve(slope, np.ones(9) / 9.0, mode="same")[4:-4]


def left_drop(steps, losses, start: float, stop: float) -> bool:
    """Whether the curve has flattened out of the drop it is in at ``start`` by ``stop``:
    its flattest smoothed fall |dL/ds| over [start, stop] is at most SETTLED_SLOPE × its
    steepest over the stop − start steps before ``start``. A run that ends a few steps
    after an orbit crosses half its power is still falling at the drop's own pace there:
    the loss it ends on is no plateau level."""
    steps = np.asarray(steps, dtype=np.float64)
    losses = np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(losses)
    steps, losses = steps[finite], losses[finite]
    if steps.size < 3 or stop <= start or start <= steps[0]:
        return True
    _, before = _smoothed(steps, losses, max(start - (stop - start), steps[0]), start)
    _, after = _smoothed(steps, losses, start, min(stop, steps[-1]))
    return float(after.min()) <= SETTLED_SLOPE * float(before.max())

