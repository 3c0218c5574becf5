"""AGF rounds whose drops are resolved by the configuration's own optimiser.

The cost-minimised round (``simulation.run_agf``) jumps from one plateau to the next and
keeps every active neuron pure on its orbit. Gradient descent instead moves through a
drop of finite duration, during which its neurons pick up parts on other orbits, and a
neuron half-grown on an orbit that gets fitted may change orbit later. Here each drop is
a flow of finite duration: when the output the dormant neurons wrote into one orbit
since the residual was taken reaches ``START_OUTPUT`` (ρ_O³ = Σ of their gains in ρ_out³,
``simulation.arrival_margins``; many neurons of scaled SGD grow at one rate and add up
while each is small), or one neuron's norm reaches ``START_NORM``, or the dormant
neurons have moved the whole network's loss by ``LOSS_DEPARTURE`` (``LossDeparture``),
the whole network takes the optimiser's own steps (``AgfProblem.optimiser_gradient``: the
trainer's network in the configuration's precision, as gradient descent computes them;
the weights are kept in float64):

    gradient descent   v ← μ v + g,  θ ← θ − η v     (v starts at g/(1 − μ), the steady
                                                      velocity of the plateau before)
    scaled GD          θ_m ← θ_m − η c ‖θ_m‖^{1−k} g_m   per neuron m,

until the drop has settled. Over a window of the last ``SETTLE_WINDOW`` of the drop's
steps (at least ``SETTLE_STEPS``) the loss must have fallen by less than
``SETTLE_SHARE`` of its value, or at a rate per step below ``SETTLE_PEAK`` times the
steepest such rate of the drop (the slow tail of the fit); and every neuron of norm ≥
``ACTIVE_NORM``, and every neuron arriving at the drop's start (``ARRIVING_RATE``), must
change its norm per step by less than ``SETTLE_GROWTH`` times the fastest relative
growth at the drop's start (the neurons that started the drop have joined a fit, or
stopped); and no orbit still to learn may be partly fitted (its explained
share between ``PARTLY_FITTED`` and 1/2: a matrix orbit of a random template is fitted
in parts, and its neurons held half-way stay so). The state is then handed back to the
dormant flow: a neuron of norm ≥ ``ACTIVE_NORM`` stays active (its output ∝ ρ³ is part
of the fit) and goes on relaxing in the optimiser's steps along the plateau
(``plateau.run_plateau``); every other neuron is dormant again, with the direction
and norm it has, mixed parts included, and follows its utility on the residual of the
whole network (its own small output included, so that a neuron left on a fitted orbit
sees no residual there). Each crossing of an orbit's explained share 1/2 inside a drop
is the step at which that orbit is learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

import numpy as np

from backend.agf import simulation, staircase
from backend.agf.optimiser_flow import FlowStepper
from backend.agf.orbit_fit import LEARNED_FRACTION, PURE_FRACTION, learned_step, pure_until
from backend.agf.plateau import run_plateau
from backend.agf.simulation import AgfProblem, AgfResult, AgfRound, column_norms

START_OUTPUT = 0.1
"""A drop starts when the dormant neurons' output on one orbit, written since the residual
was taken, reaches this output norm: (Σ_m gain in ρ_out,m³)^{1/3}
(``simulation.arrival_margins`` with ``since``)."""

START_NORM = 1.0
"""... or the first dormant neuron's norm ρ reaches this value (a neuron whose layers lie
on different orbits writes an output that ρ_out does not measure, ∝ ρ³, into the
loss: the dormant flow leaves its self-interaction out)."""

ACTIVE_NORM = 0.3
"""After a drop, neurons of at least this norm stay active (their output ∝ ρ³ is no
longer negligible); the others follow the dormant flow."""

SETTLE_SHARE = 1e-3
"""A drop's loss is flat once it fell by less than this share over the last window..."""

SETTLE_PEAK = 0.001
"""... or at a relative rate per step below this share of the steepest such rate over a
window in the drop (the slow tail of the fit: gradient descent keeps creeping towards the
level)."""

SETTLE_STEPS = 50
"""Shortest settling window, in optimiser steps."""

SETTLE_WINDOW = 0.25
"""Settling window as a share of the steps the drop has taken so far."""

SETTLE_GROWTH = 0.01
"""... and once every neuron of norm ≥ ACTIVE_NORM, and every neuron that was arriving
when the drop began, changes its norm per step by less than this share of the fastest
relative growth at the start of the drop (the neurons that started the drop must have
become part of a fit, or stopped, before they are held: with many of them, the drop
begins while each is far below ACTIVE_NORM)."""

ARRIVING_RATE = 0.5
"""A neuron below ACTIVE_NORM is arriving at a drop's start when it grows by at least
this share of the fastest relative growth there."""

PARTLY_FITTED = 0.05
"""... and no orbit still to learn may have more than this share of its power explained
(and less than LEARNED): such an orbit is being fitted — a matrix orbit of a random
template comes in parts, one plateau-like slowdown after each — and neurons held in the
middle of its fit stay there (S4 random template seed 1: the first drop settled at step
703 with [2,2] explained 0.45 and [2,1,1] 0.23; held so for the 133 steps of the plateau
that followed, [3,1] came at step 6017 against gradient descent's 5130)."""

CHECK_EVERY = 10
"""Steps between two readings of the orbits' explained shares inside a drop."""

LEARNED = LEARNED_FRACTION

HELD_BYTES = 256 * 2**20
"""At most this many bytes of held weights per drop, one copy per orbit learned inside it
(S6 at width 2048: 35 MB a copy; a round past them takes the drop's end)."""

SPIKE_RISE = 0.1
"""A drop spikes where its loss climbs above the lowest value it had reached by more than
this share of its loss at the start (``simulation.LossSpike``): a fall from plateau to
plateau never climbs, so the rounds from there on are not to be trusted."""


@dataclass
class Drop:
    """One drop resolved by the optimiser: the weights after it, the optimiser steps it
    took, the loss before and after, and per orbit index the step (counted from the start
    of the run) where its explained share reached LEARNED inside the drop."""

    theta: np.ndarray
    steps: float
    loss_before: float
    loss_after: float
    learned_at: dict[int, float]
    losses: np.ndarray
    checks: list[tuple[float, np.ndarray]]
    """(step from the run's start, explained shares) at the drop's start, at every
    reading inside it (the orbits still to learn only, NaN for the others; every orbit at
    a step of ``learned_at``) and at its end (every orbit)."""
    times: np.ndarray | None = None
    """Steps (from the drop's start) at which ``losses`` were taken; None: 0, 1, 2, …"""
    evaluations: int = 0
    """Gradients the drop evaluated."""
    held: dict[float, np.ndarray] = field(default_factory=dict)
    """The weights by step from the run's start at which each orbit learned inside the
    drop held its level (``HeldWeights``, read by ``drop_rounds``)."""

    @property
    def shares(self) -> dict[float, np.ndarray]:
        """The explained shares by step (every orbit's at each step of ``learned_at`` and
        at the end)."""
        return dict(self.checks)

    def spike(self, start: float) -> simulation.LossSpike | None:
        """The largest climb of the loss above its lowest value so far, L_t − min_{s≤t}
        L_s, where it exceeds SPIKE_RISE × the loss at the drop's start; steps counted
        from the run's start (the drop began at ``start``)."""
        losses = np.asarray(self.losses, dtype=np.float64)
        if losses.size < 2 or not np.isfinite(losses).all():
            return None
        lowest = np.minimum.accumulate(losses)
        top = int(np.argmax(losses - lowest))
        if losses[top] - lowest[top] <= SPIKE_RISE * losses[0]:
            return None
        steps = np.arange(losses.size) if self.times is None else np.asarray(self.times)
        return simulation.LossSpike(step=start + float(steps[top]),
                                    low=float(lowest[top]), high=float(losses[top]))


class SettleRule:
    """Whether a drop has settled (module docstring): the loss flat over the last window
    and every large neuron's norm still. Holds the drop's loss curve, at the steps
    (from the drop's start, not evenly spaced) where it was taken."""

    def __init__(self) -> None:
        self.times: list[float] = []
        self.losses: list[float] = []
        self.steepest = 0.0
        self.initial_rate: float | None = None
        self.arriving: np.ndarray | None = None
        self._behind = 0

    def settled(self, covered: float, loss: float, norms: np.ndarray,
                rates: np.ndarray) -> bool:
        """Record the loss at step ``covered``; ``rates`` are the neurons' relative norm
        changes per step there."""
        self.times.append(covered)
        self.losses.append(loss)
        if self.initial_rate is None:
            self.initial_rate = float(np.abs(rates).max())
            self.arriving = (rates >= ARRIVING_RATE * self.initial_rate) & (
                norms < ACTIVE_NORM)
        window = max(SETTLE_STEPS, SETTLE_WINDOW * covered)
        if covered <= window:
            return False
        fall = (self._loss_at(covered - window) - loss) / (window * max(loss, 1e-300))
        self.steepest = max(self.steepest, fall)
        flat = fall < max(SETTLE_SHARE / window, SETTLE_PEAK * self.steepest)
        watched = (norms >= ACTIVE_NORM) | self.arriving
        still = not watched.any() or (
            float(np.abs(rates[watched]).max()) < SETTLE_GROWTH * self.initial_rate)
        return flat and still

    def _loss_at(self, step: float) -> float:
        """The loss at ``step``, linear between recorded steps (the window's start only
        moves forward, so the search resumes where it stopped)."""
        times = self.times
        while self._behind + 1 < len(times) and times[self._behind + 1] <= step:
            self._behind += 1
        left = self._behind
        if left + 1 >= len(times) or times[left] >= step:
            return self.losses[left]
        share = (step - times[left]) / (times[left + 1] - times[left])
        return self.losses[left] + share * (self.losses[left + 1] - self.losses[left])


class HeldWeights:
    """The weights a drop keeps for its rounds (``Drop.held``): after each crossing of
    LEARNED, those of the reading where the loss fell slowest until the next orbit came in
    (an orbit still to learn first explained PURE_FRACTION) or was learned — where that
    round's level lies. The optimiser's steps make new arrays, so keeping one costs no copy; at
    most HELD_BYTES are kept."""

    def __init__(self, start: float, loss: float) -> None:
        self.held: dict[float, np.ndarray] = {}
        self.last = (start, loss)
        self.slowest: tuple[float, float, np.ndarray] | None = None  # (rate, step, θ)
        self.tracking = False  # between a crossing and the next orbit's coming in
        self.begun: set[int] = set()  # orbits that have been explained PURE_FRACTION

    def read(self, step: float, theta: np.ndarray, loss: float, fitted: set[int],
             crossed: bool) -> None:
        """One reading: the step, weights and loss there, the orbits still to learn that
        are explained PURE_FRACTION or more, and whether one crossed LEARNED."""
        coming = bool(fitted - self.begun)
        self.begun |= fitted
        if self.tracking and step > self.last[0]:
            rate = abs(loss - self.last[1]) / (step - self.last[0])
            if self.slowest is None or rate < self.slowest[0]:
                self.slowest = (rate, step, theta)
        if self.tracking and (coming or crossed) and self.slowest is not None:
            _, kept_step, kept = self.slowest
            if (len(self.held) + 1) * kept.nbytes <= HELD_BYTES:
                self.held[kept_step] = kept
        if crossed:
            self.tracking, self.slowest = True, None
        elif coming:
            self.tracking = False
        self.last = (step, loss)


def partly_fitted(shares: np.ndarray) -> bool:
    """Whether an orbit's explained share (NaN: not read) lies in [PARTLY_FITTED, LEARNED)."""
    with np.errstate(invalid="ignore"):
        return bool(((shares >= PARTLY_FITTED) & (shares < LEARNED)).any())


def learned_by(step: float, to_learn: list[int], learned: dict[int, float]) -> bool:
    """Whether every orbit of ``to_learn`` was learned (``learned``: orbit → step) at or
    before ``step``. An orbit learned later keeps its drop going to the horizon, so that
    its level is read from the drop's own tail; with every neuron active but an orbit
    left, gradient descent may still learn it by turning neurons over (c11-agf at width
    8 learns k=±3 at step 8 323 so), so that is no reason to stop."""
    return all(k in learned and learned[k] <= step for k in to_learn)


def resolve_drop(problem: AgfProblem, theta: np.ndarray, start: float,
                 most_steps: int, run_end: float = math.inf) -> Drop:
    """The optimiser's flow (``FlowStepper``) on the whole network from step ``start``
    until the drop settles (``SettleRule``) with no orbit partly fitted at the last
    reading of the explained shares (``partly_fitted``), or ``most_steps`` steps were
    covered, or it reached step ``run_end`` (the run's steps) with every orbit learned
    before it (``learned_by``, and none taken back by a climb): it then ends where a
    simulation up to the run's end ends, and what it would go on to is the slow tail of
    fits already made. Otherwise its steps are those it took without ``run_end``."""
    stepper = FlowStepper(problem, theta)
    rule = SettleRule()
    learned: dict[int, float] = {}
    before = problem.explained(problem.residual(theta))
    to_learn = [int(k) for k in np.flatnonzero(np.isfinite(before) & (before < LEARNED))]
    checks = [(start, before)]
    held = HeldWeights(start, stepper.loss)
    covered = 0.0
    ends_at_run_end = math.isfinite(run_end)
    while covered < most_steps and math.isfinite(stepper.loss):
        norms = column_norms(stepper.theta)
        rates = -np.einsum("lnm,lnm->m", stepper.flow, stepper.theta) / np.maximum(
            norms, 1e-300) ** 2
        if rule.settled(covered, stepper.loss, norms, rates) and not partly_fitted(
                checks[-1][1]):
            break
        may_end = ends_at_run_end and learned_by(run_end, to_learn, learned)
        if may_end and start + covered >= run_end:
            # a climb may have taken back an orbit learned before: then go on as before
            if not simulation.orbits_left(problem.explained(problem.residual(stepper.theta))):
                break
            ends_at_run_end = may_end = False
        checked = int(covered // CHECK_EVERY)
        simulation.reached(start + covered)
        most = most_steps - covered
        if may_end:  # land on the run's end (only then: the steps stay the old ones)
            most = min(most, run_end - start - covered)
        covered += stepper.advance(most, norms)
        pending = [k for k in to_learn if k not in learned]
        if int(covered // CHECK_EVERY) > checked and pending:
            residual = problem.residual(stepper.theta)
            shares = problem.explained(residual, pending)  # the orbits still to learn
            crossed = [k for k in pending if shares[k] >= LEARNED]
            fitted = {k for k in pending if shares[k] >= PURE_FRACTION}
            held.read(start + covered, stepper.theta, stepper.loss, fitted, bool(crossed))
            if crossed:
                shares = problem.explained(residual)
                for index in crossed:
                    learned[index] = start + covered
            checks.append((start + covered, shares))
    else:
        rule.times.append(covered)
        rule.losses.append(stepper.loss)
    theta = stepper.theta
    shares = problem.explained(problem.residual(theta))
    for index in np.flatnonzero((shares >= LEARNED) & ~(before >= LEARNED)):
        learned.setdefault(int(index), start + covered)
    if checks[-1][0] == start + covered:
        checks.pop()
    checks.append((start + covered, shares))
    return Drop(theta, covered, rule.losses[0], stepper.loss, learned,
                np.asarray(rule.losses), checks, np.asarray(rule.times), stepper.evaluations,
                held.held)


def mixed_starter(problem: AgfProblem, dormant: np.ndarray, directions: np.ndarray,
                  log_norms: np.ndarray, labels: list[str]) -> str:
    """The dormant neuron that leads a drop's start (the furthest towards START_OUTPUT in
    its own ρ_out or START_NORM in ρ), named with the orbits of its layers and its norm
    when they are not all one orbit; "" when they are."""
    lead = int(np.argmax(simulation.arrival_margins(problem, directions, log_norms,
                                                    START_OUTPUT, START_NORM)))
    layers = problem.layer_orbits(directions[:, :, [lead]])[:, 0]
    if np.unique(layers).size == 1:
        return ""
    names = ", ".join(labels[int(orbit)].split(" (")[0] for orbit in layers)
    return (f"neuron {int(dormant[lead])}, whose layers lie on {names} "
            f"(norm {math.exp(log_norms[lead]):.2g})")


def continues_plateau(drop: Drop, spike: simulation.LossSpike | None) -> bool:
    """A drop that learned no orbit, moved the loss by less than DROP_SHARE and did not
    climb is the plateau going on in the optimiser's steps (handed over because the
    dormant neurons had moved the loss, ``LossDeparture``): it is no round."""
    moved = abs(drop.loss_after - drop.loss_before)
    return (not drop.learned_at and spike is None
            and moved < simulation.DROP_SHARE * drop.loss_before)


def drop_rounds(drop: Drop, start: float, starter: str, labels: list[str]
                ) -> list[tuple[list[str], float, float, float, np.ndarray, np.ndarray,
                                float]]:
    """(orbits, step, loss before, loss after, explained shares, weights, weights' step)
    of the rounds of one drop: one per step at which orbits became learned inside it, its
    level the flattest loss between that step and the next one's (the loss after the drop
    for the last), so that a drop that went on through the next orbit's drop still gives
    each orbit its own plateau, and its weights the network as it stood on that level
    (``Drop.held``, the kept weights whose loss is nearest it; the drop's end for the
    last), at the step where they were kept. A drop in which no orbit became learned is
    one round at its end, named by ``starter``."""
    end = start + drop.steps
    if not drop.learned_at:
        return [([starter], end, drop.loss_before, drop.loss_after, drop.shares[end],
                 drop.theta, end)]
    crossings = sorted(set(drop.learned_at.values()))
    steps = start + (np.arange(drop.losses.size) if drop.times is None else drop.times)
    reading_steps = np.array([reading for reading, _ in drop.checks])
    readings = np.stack([shares for _, shares in drop.checks])
    end_shares = readings[-1]
    never = [int(i) for i in np.flatnonzero(np.isfinite(end_shares) & (end_shares < LEARNED))]
    rounds = []
    before = drop.loss_before
    for position, step in enumerate(crossings):
        learned = [i for i, s in sorted(drop.learned_at.items()) if s == step]
        orbits = [labels[i] for i in learned]
        if position + 1 < len(crossings):
            later = [i for i, s in drop.learned_at.items() if s > step] + never
            stop = pure_until(reading_steps, readings, step, crossings[position + 1], later)
            after = staircase.flattest_level(steps, drop.losses, step, stop)
            shares = drop.shares[step]
            kept_at, weights = _held_nearest(drop, steps, step, stop, after, end)
        else:
            after, shares = drop.loss_after, drop.shares[end]
            kept_at, weights = end, drop.theta
        rounds.append((orbits, _crossing(reading_steps, readings, learned, step), before,
                       after, shares, weights, kept_at))
        before = after
    return rounds


def _held_nearest(drop: Drop, steps: np.ndarray, begin: float, stop: float,
                  level: float, end: float) -> tuple[float, np.ndarray]:
    """(step, weights) of the weights held between ``begin`` and ``stop`` whose loss is
    nearest ``level`` (the drop's end, step ``end``, where none was held there)."""
    kept = [step for step in drop.held if begin <= step <= stop]
    if not kept:
        return end, drop.theta
    losses = np.interp(kept, steps, drop.losses)
    nearest = kept[int(np.argmin(np.abs(losses - level)))]
    return nearest, drop.held[nearest]


def _crossing(reading_steps: np.ndarray, readings: np.ndarray, learned: list[int],
              step: float) -> float:
    """Where the first of the ``learned`` orbits reached LEARNED, interpolated between the
    readings (every CHECK_EVERY steps) up to ``step``, the reading past it: gradient
    descent's rule, so the round's step is the one the comparison reads."""
    upto = reading_steps <= step  # the readings come in step order
    found = [learned_step(reading_steps[upto], readings[upto, index], LEARNED)
             for index in learned]
    return min((s for s in found if s is not None and math.isfinite(s)), default=step)


class CurveRecorder:
    """Builds the run's ``simulation.SimulatedCurve``: the loss and explained shares along
    each plateau at the end of each stretch of the held network's relaxation
    (``add_readings``; the dormant neurons' outputs are negligible there), and the drops'
    losses and explained-share readings as the optimiser took them (``add``)."""

    def __init__(self, loss: float, shares: np.ndarray) -> None:
        self.steps, self.losses = [np.zeros(1)], [np.array([loss])]
        self.check_steps, self.shares = [0.0], [shares]
        self.last = 0.0

    def add(self, drop: Drop, start: float) -> None:
        times = start + (np.arange(drop.losses.size) if drop.times is None else drop.times)
        later = times > self.last
        self.steps.append(times[later])
        self.losses.append(np.asarray(drop.losses)[later])
        if later.any():
            self.last = float(times[later][-1])
        for step, shares in drop.checks:
            if step > self.check_steps[-1]:
                self.check_steps.append(step)
                self.shares.append(shares)

    def add_readings(self, readings: list[tuple[float, float, np.ndarray]]) -> None:
        """(step, loss, explained shares) read along a plateau (``plateau.Plateau``)."""
        for step, loss, shares in readings:
            if step > self.last:
                self.steps.append(np.array([step]))
                self.losses.append(np.array([loss]))
                self.last = step
            if step > self.check_steps[-1]:
                self.check_steps.append(step)
                self.shares.append(shares)

    def curve(self, end: float, loss: float, template_power: np.ndarray
              ) -> simulation.SimulatedCurve:
        """The curve, held at ``loss`` from its last reading to step ``end``."""
        steps, losses = np.concatenate(self.steps), np.concatenate(self.losses)
        check_steps, shares = list(self.check_steps), list(self.shares)
        if end > steps[-1]:
            steps, losses = np.append(steps, end), np.append(losses, loss)
        if end > check_steps[-1]:
            check_steps.append(end)
            shares.append(shares[-1])
        return simulation.SimulatedCurve(steps, losses, np.asarray(check_steps),
                                         np.asarray(shares),
                                         np.asarray(template_power, dtype=np.float64))


def _neurons_by_round(joined: np.ndarray, writes_into: np.ndarray,
                      round_orbits: list[list[str]], labels: list[str]) -> list[list[int]]:
    """The neurons that became active in a drop, by round: each round lists those that
    write (with ξ) into one of its orbits, and the last round also every other one (a
    neuron that joined a fit of an orbit learned earlier), so every active neuron is
    listed once."""
    left = joined.copy()
    listed = []
    for orbits in round_orbits:
        wanted = [labels.index(orbit) for orbit in orbits if orbit in labels]
        chosen = left & np.isin(writes_into, wanted)
        left &= ~chosen
        listed.append(chosen)
    if listed:
        listed[-1] = listed[-1] | left
    return [[int(i) for i in np.flatnonzero(chosen)] for chosen in listed]


def run_agf_with_drops(
    problem: AgfProblem,
    horizon: float,
    max_rounds: int | None = None,
    tolerance: float = simulation.TOLERANCE,
    run_end: float = math.inf,
) -> AgfResult:
    """Dormant flow between drops, each drop resolved by ``resolve_drop``. One AgfRound
    per step inside a drop at which orbits became learned (``drop_rounds``; one at the
    drop's end when none did): its ``step`` is where the first of them crossed LEARNED,
    interpolated between readings as the comparison reads it, its ``orbits`` the orbits
    learned there (else the orbit of the neuron that started the drop), its ``neurons``
    the neurons that became active in the drop and write into those orbits (``ξ``'s
    orbit; ``_neurons_by_round``). ``optimiser_steps`` of the result counts the steps all
    drops took. Past ``run_end`` (the run's steps) it stops once no orbit is left to learn
    (``simulation.learning_horizon``)."""
    theta = problem.initial_theta.copy()
    width = theta.shape[2]
    norms = column_norms(theta)
    log_norms = np.log(np.maximum(norms, 1e-300))
    directions = theta / np.maximum(norms, 1e-300)
    active = np.zeros(width, dtype=bool)
    joined = np.zeros(width, dtype=bool)  # became active since the last round
    residual = problem.residual(theta[:, :, active])
    initial_loss = problem.residual_loss(residual)
    current_loss = initial_loss
    labels = [orbit.label for orbit in problem.irreps.orbits]
    rounds: list[AgfRound] = []
    explained: list[np.ndarray] = []
    time = 0.0
    spent = 0
    evaluations = 0
    relaxation = 0
    spikes: list[simulation.LossSpike] = []
    recorder = CurveRecorder(initial_loss, problem.explained(residual))
    stop_reason = simulation.HORIZON_REACHED
    shares = recorder.shares[-1]
    while True:
        dormant = np.flatnonzero(~active)
        limit = simulation.learning_horizon(horizon, run_end, time, shares)
        reason = simulation.stop_before_round(dormant, current_loss, initial_loss,
                                              len(rounds), max_rounds, time, limit)
        if reason is not None:
            stop_reason = simulation.past_learning(reason, limit, horizon)
            break
        plateau = run_plateau(problem, theta, active, directions, log_norms, time, limit,
                              tolerance, START_OUTPUT, START_NORM)
        time, theta = plateau.end, plateau.theta.copy()
        relaxation += plateau.evaluations
        recorder.add_readings(plateau.readings)
        if plateau.readings:
            current_loss = plateau.readings[-1][1]
        if not plateau.arrived:
            stop_reason = simulation.past_learning(stop_reason, limit, horizon)
            break
        moved, grown = directions[:, :, dormant], log_norms[dormant]
        output, dominant = simulation.output_log_norms(problem, moved, grown)
        starter = labels[int(dominant[np.argmax(output)])]
        mixed = mixed_starter(problem, dormant, moved, grown, labels)
        theta[:, :, ~active] = directions[:, :, ~active] * np.exp(log_norms[~active])
        with np.errstate(over="ignore", invalid="ignore"):
            drop = resolve_drop(problem, theta, time, max(1, int(horizon - time)),
                                run_end=run_end)
        spent += int(round(drop.steps))
        evaluations += drop.evaluations
        recorder.add(drop, time)
        if not math.isfinite(drop.loss_after):
            stop_reason = (f"{simulation.DIVERGED} in the drop that began at step "
                           f"{time:.0f}: the learning rate is too large")
            break
        spike = drop.spike(time)
        if spike is not None:
            spikes.append(replace(spike, starter=mixed))
        theta = drop.theta
        norms = column_norms(theta)
        newly = ~active & (norms >= ACTIVE_NORM)
        active = norms >= ACTIVE_NORM
        log_norms = np.log(np.maximum(norms, 1e-300))
        directions = theta / np.maximum(norms, 1e-300)
        current_loss = drop.loss_after
        joined |= newly
        shares = drop.checks[-1][1]
        if continues_plateau(drop, spike):
            time += drop.steps
            continue
        found = drop_rounds(drop, time, starter, labels)
        listed = _neurons_by_round(joined, problem.layer_orbits(theta)[-1],
                                   [orbits for orbits, *_ in found], labels)
        for (orbits, step, before, after, round_shares, weights, kept_at), neurons in zip(
                found, listed, strict=True):
            explained.append(round_shares)
            rounds.append(AgfRound(
                round=len(rounds) + 1, step=step, orbits=orbits, neurons=neurons,
                loss_before=before, loss_after=after,
                weights=simulation._split_weights(weights.copy()),
                partial=simulation.part_only(orbits, labels, round_shares),
                level_step=kept_at,
            ))
        joined[:] = False
        time += drop.steps
    # the network stays as it is to the horizon, unless its last drop diverged
    held_to = (time if stop_reason.startswith(simulation.DIVERGED)
               or stop_reason == simulation.EVERY_ORBIT_LEARNED
               or not math.isfinite(horizon) else max(time, horizon))
    return AgfResult(
        rounds=rounds, initial_loss=initial_loss, stop_reason=stop_reason, final_step=time,
        orbit_labels=labels,
        final_weights=simulation._split_weights(
            simulation._current_weights(theta, directions, np.exp(log_norms), active)),
        orbit_dims=[int(orbit.dim) for orbit in problem.irreps.orbits],
        explained=explained,
        optimiser_steps=spent,
        optimiser_evaluations=evaluations,
        relaxation_evaluations=relaxation,
        loss_spikes=spikes,
        diverged_at=time if stop_reason.startswith(simulation.DIVERGED) else None,
        curve=recorder.curve(held_to, current_loss, problem.task.template_power),
    )
