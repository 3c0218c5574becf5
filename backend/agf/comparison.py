"""Predicted against measured: run gradient descent and read its staircase per orbit.

The GD run records the loss of every step and, at about ``CHECKPOINTS`` evenly spaced
steps, the fraction of each orbit's target power that the network has fitted,

    explained_O = 1 − mean_pairs P_O(y − f) / P_O(t)     (1 once O is learned).

An orbit is **learned** at the step where explained_O first reaches 1/2 (interpolated
between checkpoints); the measured order is the orbits sorted by that step. Orbits
without template power (orbit_fit.powered: e.g. the trivial orbit of a mean-centred
template, whose round-off power makes explained_O meaningless) are never counted as
learned. The measured level after an orbit is read from a plateau
(staircase.find_plateaus) between its step and the next orbit's on which the orbits not
yet learned are still unfitted (explained < PURE_FRACTION at the plateau's middle): a
later plateau that already holds a partial fit of the next orbit is not this orbit's level.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from backend.agf.orbit_fit import explained_fraction, powered
from backend.agf.simulation import AgfResult
from backend.agf.staircase import find_plateaus, flattest_level
from backend.agf.theory import PredictedDrop
from backend.config import RunConfig

CHECKPOINTS = 400
LEARNED_FRACTION = 0.5
PURE_FRACTION = 0.1
"""A plateau is an orbit's level while every orbit learned later is fitted below this."""


@dataclass
class GradientDescentRun:
    """Loss of every step, explained fraction per orbit at checkpoints, wall time."""

    steps: np.ndarray
    losses: np.ndarray
    checkpoint_steps: np.ndarray
    explained: np.ndarray  # (checkpoints, num_orbits)
    orbit_labels: list[str]
    orbit_dims: list[int]
    template_power: np.ndarray
    seconds: float


@dataclass(frozen=True)
class MeasuredDrop:
    """An orbit learned by gradient descent: label, irrep dimension, step, plateau after."""

    orbit: str
    dim: int
    step: float
    level: float


def run_gradient_descent(
    config: RunConfig, progress: Callable[[int, float], None] | None = None
) -> GradientDescentRun:
    """Train ``config`` for ``config.steps`` steps with a LiveSession (the drivers' one
    pacing and thread policy), recording as above."""
    from backend.live_session import LiveSession

    start = time.perf_counter()
    session = LiveSession(config, snapshots=False)
    trainer = session.trainer
    total = int(config.steps)
    stops = np.unique(np.linspace(0, total, CHECKPOINTS + 1).round().astype(np.int64))
    targets = trainer.task.targets()
    power = np.asarray(trainer.task.template_power, dtype=np.float64)
    steps, losses, checkpoints, explained = [], [], [], []

    def record() -> None:
        residual = targets - trainer.all_outputs()
        left = trainer.fourier.orbit_power(residual).mean(axis=0)
        checkpoints.append(trainer.step_count)
        explained.append(explained_fraction(left, power))

    record()
    def keep_losses(report) -> None:
        steps.append(report.chunk.steps)
        losses.append(report.chunk.losses)

    for stop in stops[1:]:
        session.train_to(int(stop), keep_losses)
        record()
        if trainer.divergence:
            break
        if progress is not None:
            last = float(trainer.last_loss) if trainer.step_count else math.nan
            progress(trainer.step_count, last)
    orbits = trainer.irreps.orbits
    return GradientDescentRun(
        steps=np.concatenate(steps) if steps else np.zeros(0),
        losses=np.concatenate(losses) if losses else np.zeros(0),
        checkpoint_steps=np.asarray(checkpoints, dtype=np.float64),
        explained=np.asarray(explained),
        orbit_labels=[orbit.label for orbit in orbits],
        orbit_dims=[int(orbit.dim) for orbit in orbits],
        template_power=power,
        seconds=time.perf_counter() - start,
    )


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


def measured_drops(run: GradientDescentRun) -> list[MeasuredDrop]:
    """The orbits learned by the run in the order they were learned, with their plateaus."""
    plateaus = find_plateaus(run.steps, run.losses) if run.steps.size >= 3 else []
    keep = powered(run.template_power)
    found = []
    for index, label in enumerate(run.orbit_labels):
        if not keep[index]:
            continue
        step = learned_step(run.checkpoint_steps, run.explained[:, index])
        if step is not None:
            found.append((step, index, label))
    found.sort()
    drops = []
    for position, (step, index, label) in enumerate(found):
        following = found[position + 1][0] if position + 1 < len(found) else math.inf
        later = [i for _, i, _ in found[position + 1 :]]
        level = _plateau_level(run, plateaus, step, following, later)
        drops.append(MeasuredDrop(label, run.orbit_dims[index], step, level))
    return drops


def _plateau_level(run: GradientDescentRun, plateaus, step: float, following: float,
                   later: list[int]) -> float:
    """The loss plateau after an orbit learned at ``step``: the last plateau before
    ``following`` on which the ``later`` orbits are fitted below PURE_FRACTION; failing
    that the first plateau after ``step``, or the flattest point of the curve there."""
    after = [p for p in plateaus if p.end > step and p.start < following]
    pure = [p for p in after if _later_fit(run, 0.5 * (max(p.start, step) + p.end), later)
            < PURE_FRACTION]
    if pure:
        return pure[-1].level
    if after:
        return after[0].level
    return flattest_level(run.steps, run.losses, step, min(following, run.steps[-1]))


def _later_fit(run: GradientDescentRun, step: float, later: list[int]) -> float:
    """The largest explained fraction, at ``step``, of the orbits learned later."""
    if not later:
        return 0.0
    values = [np.interp(step, run.checkpoint_steps, np.nan_to_num(run.explained[:, i]))
              for i in later]
    return float(max(values))


def agf_orbit_drops(result: AgfResult) -> list[MeasuredDrop]:
    """The AGF simulation's staircase read per orbit: an orbit is learned at the first
    round after which explained_O ≥ 1/2; its level is the loss after the last round
    before the next orbit is learned (orbits learned in the same round share it).
    Orbits without template power have explained_O = NaN and are never learned."""
    found = []
    for index, label in enumerate(result.orbit_labels):
        for round_, fractions in zip(result.rounds, result.explained, strict=True):
            if fractions[index] >= LEARNED_FRACTION:
                found.append((round_.step, index, label))
                break
    found.sort()
    drops = []
    for step, index, label in found:
        following = min((s for s, _, _ in found if s > step), default=math.inf)
        level = [r.loss_after for r in result.rounds if step <= r.step < following][-1]
        drops.append(MeasuredDrop(label, result.orbit_dims[index], step, level))
    return drops


@dataclass(frozen=True)
class ComparisonRow:
    """One position in the staircase: predicted and measured orbit, step and level."""

    position: int
    predicted: PredictedDrop
    measured: MeasuredDrop | None
    drop: float = math.nan
    """The predicted size of this drop (level before − level after)."""

    @property
    def level_error(self) -> float:
        """|predicted − measured| relative to the predicted level; after the last drop,
        where the predicted level is 0, relative to the size of that drop."""
        if self.measured is None or not math.isfinite(self.measured.level):
            return math.nan
        reference = self.predicted.level if self.predicted.level > 0 else self.drop
        return abs(self.predicted.level - self.measured.level) / max(reference, 1e-300)



def compare(
    predicted: list[PredictedDrop],
    measured: list[MeasuredDrop],
    initial_level: float = math.nan,
) -> list[ComparisonRow]:
    """Pair the i-th predicted drop with the i-th measured one (``initial_level``: the
    loss before the first drop, ‖t‖²/n)."""
    rows = []
    for i, drop in enumerate(predicted):
        before = predicted[i - 1].level if i > 0 else initial_level
        size = before - drop.level
        rows.append(
            ComparisonRow(i + 1, drop, measured[i] if i < len(measured) else None, size)
        )
    return rows


def order_matches(predicted: list[PredictedDrop], measured: list[MeasuredDrop]) -> bool:
    """True when every measured orbit comes in the predicted position."""
    count = min(len(predicted), len(measured))
    return count > 0 and all(predicted[i].label == measured[i].orbit for i in range(count))
