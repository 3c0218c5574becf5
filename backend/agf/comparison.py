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
from dataclasses import dataclass, replace

import numpy as np

from backend.agf.orbit_fit import (
    LEARNED_FRACTION,
    PURE_FRACTION,
    explained_fraction,
    learned_step,
    powered,
    pure_until,
)
from backend.agf.simulation import AgfResult, LossSpike
from backend.agf.staircase import find_plateaus, flattest_level, left_drop
from backend.agf.theory import PredictedDrop
from backend.config import RunConfig

CHECKPOINTS = 400
VANISHED_LEVEL = 0.01
"""A measured level below this share of the initial loss counts as the end of the
staircase: its error is taken relative to the drop into it."""

LEVEL_TARGET = 0.02
"""A predicted level within this relative error of gradient descent's counts as met."""

STEP_TARGET = 0.15
"""A predicted drop step within this relative error of gradient descent's counts as met."""


@dataclass
class GradientDescentRun:
    """Loss of every step, explained fraction per orbit at checkpoints, wall time. Also
    holds a live record (``run_from_snapshots``) and AGF (simulated)'s recorded curve
    (``agf_orbit_drops``), so that all three are read by the same rule."""

    steps: np.ndarray
    losses: np.ndarray
    checkpoint_steps: np.ndarray
    explained: np.ndarray  # (checkpoints, num_orbits)
    orbit_labels: list[str]
    orbit_dims: list[int]
    template_power: np.ndarray
    seconds: float


CLIMB_RISE = 0.1
"""Gradient descent's loss climbs where it rises above its lowest value so far by more
than this share of that value (a staircase falls from plateau to plateau)."""


def loss_climb(steps: np.ndarray, losses: np.ndarray) -> LossSpike | None:
    """The largest climb of a recorded loss above its lowest value so far, relative to
    that value, L_t / min_{s≤t} L_s − 1, where it exceeds CLIMB_RISE (None otherwise).
    Set beside a climbing simulated drop it says whether gradient descent climbs too (a
    learning rate at the edge of stability: D5 with a random template, seed 3, climbs at
    step 1546 simulated and 1575 in gradient descent) or not (C20 reference)."""
    losses = np.asarray(losses, dtype=np.float64)
    finite = np.isfinite(losses)
    if finite.sum() < 2:
        return None
    steps, losses = np.asarray(steps, dtype=np.float64)[finite], losses[finite]
    lowest = np.minimum.accumulate(losses)
    rise = losses / np.maximum(lowest, 1e-300) - 1.0
    top = int(np.argmax(rise))
    if rise[top] <= CLIMB_RISE:
        return None
    return LossSpike(step=float(steps[top]), low=float(lowest[top]), high=float(losses[top]))


def climb_sentence(climb: LossSpike | None) -> str:
    """Whether gradient descent's loss climbs too (``loss_climb``), said beside a
    simulated climb."""
    if climb is None:
        return ("gradient descent's loss never climbs: the simulated climb is the "
                "simulation's own")
    return (f"gradient descent's loss climbs too ({climb.low:.4g} → {climb.high:.4g} at "
            f"step {climb.step:.0f}): the learning rate is at the edge of stability")


@dataclass(frozen=True)
class MeasuredDrop:
    """An orbit learned by gradient descent: label, irrep dimension, step, plateau after."""

    orbit: str
    dim: int
    step: float
    level: float


def orbit_explained(trainer, problem=None) -> np.ndarray:
    """Each orbit's explained share of the trainer's network now,
    1 − mean_pairs P_O(y − f)/P_O(t) (``orbit_fit``; NaN for orbits without power). With
    an AGF ``problem`` (``exact_problem.ExactAgfProblem`` on large groups) it is computed
    by that problem, without the n² × n outputs."""
    if problem is not None:
        theta = trainer.theta.detach().cpu().numpy().astype(np.float64)
        return problem.explained(problem.residual(theta))
    residual = trainer.task.targets() - trainer.all_outputs()
    left = trainer.fourier.orbit_power(residual).mean(axis=0)
    return explained_fraction(left, trainer.task.template_power)


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
    power = np.asarray(trainer.task.template_power, dtype=np.float64)
    steps, losses, checkpoints, explained = [], [], [], []
    problem = None
    if trainer.step_path == "exact" and config.parameterisation == "free":
        from backend.agf.exact_problem import ExactAgfProblem

        problem = ExactAgfProblem(config)

    def record() -> None:
        checkpoints.append(trainer.step_count)
        explained.append(orbit_explained(trainer, problem))

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


def run_from_snapshots(
    loss_steps: np.ndarray,
    losses: np.ndarray,
    snapshots: list,
    orbit_labels: list[str],
    orbit_dims: list[int],
) -> GradientDescentRun:
    """A GradientDescentRun read from a live record: the loss of every recorded step and
    the MetricSnapshots (``residual_power``, ``template_power``): explained_O =
    1 − P_O(y − f)/P_O(t), as gradient descent's own run reads it.

    A record from before snapshots held the residual power has the learned-function
    power P_O(f) only; on the staircase the fit of an orbit is a multiple a·Π_O t of the
    target's part (each orbit's neurons grow as one), so P_O(f) = a² P_O(t),
    P_O(y − f) = (1 − a)² P_O(t) and explained_O = 1 − (1 − sqrt(P_O(f)/P_O(t)))², which
    reads an orbit learned in parts (a random template) early."""
    power = np.asarray(snapshots[0].template_power, dtype=np.float64) if snapshots else \
        np.zeros(len(orbit_labels))
    if snapshots and all(getattr(s, "residual_power", None) is not None for s in snapshots):
        explained = np.array([explained_fraction(np.asarray(s.residual_power), power)
                              for s in snapshots])
    else:  # a record from before the residual power was measured
        fitted = np.array([np.asarray(s.function_power, dtype=np.float64)
                           for s in snapshots])
        keep = powered(power)
        share = np.sqrt(np.clip(fitted / np.where(keep, power, 1.0), 0.0, None))
        explained = np.where(keep, 1.0 - (1.0 - np.minimum(share, 1.0)) ** 2, np.nan)
    return GradientDescentRun(
        steps=np.asarray(loss_steps, dtype=np.float64),
        losses=np.asarray(losses, dtype=np.float64),
        checkpoint_steps=np.array([float(s.step) for s in snapshots]),
        explained=explained.reshape(len(snapshots), len(orbit_labels)),
        orbit_labels=list(orbit_labels),
        orbit_dims=list(orbit_dims),
        template_power=power,
        seconds=math.nan,
    )


def measured_drops(run: GradientDescentRun) -> list[MeasuredDrop]:
    """The orbits learned by the run in the order they were learned, with their plateaus
    (read on no plateau that holds part of an orbit not yet learned: learned later, or
    never within the run, as one singular component of a matrix orbit can be)."""
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
    never = [i for i in np.flatnonzero(keep) if i not in {j for _, j, _ in found}]
    drops = []
    for position, (step, index, label) in enumerate(found):
        following = found[position + 1][0] if position + 1 < len(found) else math.inf
        later = [i for _, i, _ in found[position + 1 :]] + never
        level = _plateau_level(run, plateaus, step, following, later)
        drops.append(MeasuredDrop(label, run.orbit_dims[index], step, level))
    return drops


def _plateau_level(run: GradientDescentRun, plateaus, step: float, following: float,
                   later: list[int]) -> float:
    """The loss plateau after an orbit learned at ``step``: the last plateau before
    ``following`` on which the ``later`` orbits are fitted below PURE_FRACTION; failing
    that the first plateau after ``step``, or the flattest stretch of the curve from
    ``step`` until a later orbit is fitted to PURE_FRACTION (``pure_until``). A plateau
    that runs on into a later orbit's partial fit (``find_plateaus`` merges levels closer
    than its ``min_drop``: C20's 0.0313 with the 0.0235 of half of k=±5's neurons) is read
    only up to where that fit reaches PURE_FRACTION. NaN where the run ends still inside
    the orbit's drop (``left_drop``): it shows no level to read."""
    after = [p for p in plateaus if p.end > step and p.start < following]
    pure = [p for p in after if _later_fit(run, 0.5 * (max(p.start, step) + p.end), later)
            < PURE_FRACTION]
    if pure:
        chosen = pure[-1]
        begin = max(chosen.start, step)
        until = pure_until(run.checkpoint_steps, run.explained, begin, chosen.end, later)
        if until < chosen.end:
            return flattest_level(run.steps, run.losses, begin, until)
        return chosen.level
    if after:
        return after[0].level
    stop = min(following, run.steps[-1])
    until = pure_until(run.checkpoint_steps, run.explained, step, stop, later)
    if until >= run.steps[-1] and not left_drop(run.steps, run.losses, step, until):
        return math.nan
    return flattest_level(run.steps, run.losses, step, until)


def _later_fit(run: GradientDescentRun, step: float, later: list[int]) -> float:
    """The largest explained fraction, at ``step``, of the orbits learned later."""
    if not later:
        return 0.0
    values = [np.interp(step, run.checkpoint_steps, np.nan_to_num(run.explained[:, i]))
              for i in later]
    return float(max(values))


def agf_orbit_drops(result: AgfResult, until: float | None = None) -> list[MeasuredDrop]:
    """The AGF simulation's staircase read per orbit. Drops resolved by the optimiser
    leave a loss curve and explained shares (``AgfResult.curve``), read by gradient
    descent's own rule (``measured_drops``), so that both levels of an orbit learned in
    parts come from the same plateau. Cost-minimised rounds are read round by round: an
    orbit is learned at the first
    round after which explained_O ≥ 1/2; its level is the loss after the last round
    before the next orbit is learned on which every orbit learned later is fitted below
    PURE_FRACTION (gradient descent's rule, ``_plateau_level``: a round that fits part
    of the next orbit is not this orbit's level), else after the first round (orbits
    learned in the same round share it). Orbits without template power have
    explained_O = NaN and are never learned. ``until``: read only the steps up to it (the
    run's length, over which gradient descent's staircase is read; the last level of a
    longer simulation would be read on a longer tail)."""
    if result.curve is not None:
        curve = result.curve if until is None else result.curve.until(until)
        return measured_drops(GradientDescentRun(
            curve.steps, curve.losses, curve.checkpoint_steps, curve.explained,
            list(result.orbit_labels), list(result.orbit_dims), curve.template_power,
            seconds=math.nan))
    if until is not None:
        kept = [i for i, r in enumerate(result.rounds) if r.step <= until]
        result = replace(result, rounds=[result.rounds[i] for i in kept],
                         explained=[result.explained[i] for i in kept])
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
        later = [i for s, i, _ in found if s > step]
        between = [(r, fractions) for r, fractions in zip(result.rounds, result.explained,
                                                           strict=True)
                   if step <= r.step < following]
        pure = [r for r, fractions in between
                if max((np.nan_to_num(fractions[i]) for i in later), default=0.0)
                < PURE_FRACTION]
        level = (pure[-1] if pure else between[0][0]).loss_after
        drops.append(MeasuredDrop(label, result.orbit_dims[index], step, level))
    return drops


def agf_orbit_drops_of_rounds(rounds: list, orbit_labels: list[str],
                              orbit_dims: list[int]) -> list[MeasuredDrop]:
    """``agf_orbit_drops`` for rounds alone (no explained fractions): an orbit is learned
    at the first round that names it and lowers the loss (AgfRound.dropped)."""
    seen: dict[str, tuple[float, int]] = {}
    for position, entry in enumerate(rounds):
        if not entry.dropped:
            continue
        for label in entry.orbits:
            seen.setdefault(label, (float(entry.step), position))
    ordered = sorted(seen.items(), key=lambda item: item[1])
    drops = []
    for i, (label, (step, position)) in enumerate(ordered):
        end = ordered[i + 1][1][1] if i + 1 < len(ordered) else len(rounds)
        level = float(rounds[max(end - 1, position)].loss_after)
        dim = orbit_dims[orbit_labels.index(label)] if label in orbit_labels else 0
        drops.append(MeasuredDrop(label, dim, step, level))
    return drops


def relative_error(predicted: float, measured: float, reference: float | None = None) -> float:
    """(predicted − measured)/reference, reference = measured by default; NaN when either
    is missing or the reference is 0."""
    reference = measured if reference is None else reference
    if not (math.isfinite(predicted) and math.isfinite(measured) and reference):
        return math.nan
    return (predicted - measured) / abs(reference)


@dataclass(frozen=True)
class ComparisonRow:
    """One position of the staircase: AGF (closed form), AGF (simulated) and gradient
    descent's orbit, step and level, with the predictions' relative errors.

    Step error (predicted − measured)/measured; level error (predicted − measured)/
    measured, except once the loss has all but vanished (measured level below
    VANISHED_LEVEL of the initial loss, after the last drop; without an initial loss,
    where the closed form's level is 0), where it is relative to the measured drop into
    it (NaN without an initial loss). A closed-form step that is not valid for the optimiser
    (PredictedDrop.timed) is left out (NaN)."""

    position: int
    closed_form: PredictedDrop | None
    simulated: MeasuredDrop | None
    measured: MeasuredDrop | None
    drop: float = math.nan
    """The measured size of this drop (level before − level after)."""
    initial: float = math.nan
    """The loss before the first drop."""

    @property
    def closed_form_step(self) -> float:
        if self.closed_form is None or not self.closed_form.timed:
            return math.nan
        return self.closed_form.step

    def _level_error(self, level: float) -> float:
        if self.measured is None:
            return math.nan
        vanished = self.measured.level <= VANISHED_LEVEL * self.initial or (
            not math.isfinite(self.initial) and self.closed_form is not None
            and self.closed_form.level == 0.0)
        reference = self.drop if vanished else self.measured.level
        return relative_error(level, self.measured.level, reference)

    @property
    def closed_form_step_error(self) -> float:
        return relative_error(self.closed_form_step,
                              self.measured.step if self.measured else math.nan)

    @property
    def simulated_step_error(self) -> float:
        return relative_error(self.simulated.step if self.simulated else math.nan,
                              self.measured.step if self.measured else math.nan)

    @property
    def closed_form_level_error(self) -> float:
        return self._level_error(self.closed_form.level if self.closed_form else math.nan)

    @property
    def simulated_level_error(self) -> float:
        return self._level_error(self.simulated.level if self.simulated else math.nan)

    @property
    def level_error(self) -> float:
        """|closed-form level error| (kept for scripts that read one level error)."""
        return abs(self.closed_form_level_error)

    def as_dict(self) -> dict:
        """The row as JSON-ready values (None for what is missing)."""
        def number(value: float) -> float | None:
            return float(value) if math.isfinite(value) else None

        def orbit(drop) -> str | None:
            return None if drop is None else (drop.label if hasattr(drop, "label")
                                              else drop.orbit)

        return {
            "position": self.position,
            "orbit": {"closed_form": orbit(self.closed_form), "simulated": orbit(self.simulated),
                      "gradient_descent": orbit(self.measured)},
            "step": {"closed_form": number(self.closed_form_step),
                     "simulated": number(self.simulated.step) if self.simulated else None,
                     "gradient_descent": number(self.measured.step) if self.measured else None},
            "level": {"closed_form": number(self.closed_form.level) if self.closed_form else None,
                      "simulated": number(self.simulated.level) if self.simulated else None,
                      "gradient_descent": number(self.measured.level) if self.measured else None},
            "step_error": {"closed_form": number(self.closed_form_step_error),
                           "simulated": number(self.simulated_step_error)},
            "level_error": {"closed_form": number(self.closed_form_level_error),
                            "simulated": number(self.simulated_level_error)},
        }


def compare(
    predicted: list[PredictedDrop],
    measured: list[MeasuredDrop],
    initial_level: float = math.nan,
    simulated: list[MeasuredDrop] | None = None,
) -> list[ComparisonRow]:
    """Pair the i-th drop of each list, position by position (``initial_level``: the loss
    before the first drop, ‖t‖²/n, for the size of the first measured drop)."""
    simulated = simulated or []
    rows = []
    for i in range(max(len(predicted), len(measured), len(simulated))):
        m = measured[i] if i < len(measured) else None
        before = measured[i - 1].level if i > 0 and i - 1 < len(measured) else initial_level
        size = before - m.level if m is not None else math.nan
        rows.append(ComparisonRow(
            i + 1,
            predicted[i] if i < len(predicted) else None,
            simulated[i] if i < len(simulated) else None,
            m,
            size,
            initial_level,
        ))
    return rows


def order_matches(predicted: list, measured: list[MeasuredDrop]) -> bool:
    """True when every orbit gradient descent learned comes in the predicted position
    (``predicted``: PredictedDrop or MeasuredDrop items) and none is missing from it."""
    def label(drop) -> str:
        return drop.label if hasattr(drop, "label") else drop.orbit

    return (len(measured) > 0 and len(predicted) >= len(measured)
            and all(label(predicted[i]) == measured[i].orbit for i in range(len(measured))))
