"""Plateaus and drops of a recorded loss curve.

A point s of the curve lies on a **plateau** when the loss changes by less than
``flatness`` × L(0) between s − W and s + W, W = ``window`` × (last step − first step).
Runs of such points at least 2W long are plateaus, with the median loss as their level;
neighbouring plateaus whose levels differ by less than ``min_drop`` × L(0) are merged.
Between two plateaus lies a **drop**: its step is where the loss first crosses the
midpoint of the two levels after the earlier plateau ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.errors import UserError


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


def _uniform(steps: np.ndarray, losses: np.ndarray, points: int) -> tuple[np.ndarray, np.ndarray]:
    grid = np.linspace(steps[0], steps[-1], points)
    return grid, np.interp(grid, steps, losses)


def find_plateaus(
    steps,
    losses,
    *,
    window: float = 0.01,
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
    grid, values = _uniform(steps, losses, 2001)
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
        level = float(np.median(values[begin:end]))
        candidate = Plateau(float(grid[begin]), float(grid[end - 1]), level)
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
