"""AGF rounds whose drops are resolved by the configuration's own optimiser.

The cost-minimised round (``simulation.run_agf``) jumps from one plateau to the next and
keeps every active neuron pure on its orbit. Gradient descent instead moves through a
drop of finite duration, during which its neurons pick up parts on other orbits, and a
neuron half-grown on an orbit that gets fitted may change orbit later. Here each drop is
a flow of finite duration: when the first dormant neuron's output reaches
``START_OUTPUT`` of order one (ρ_out, ``simulation.output_log_norms``), the whole network
takes the optimiser's own steps (float64, ``AgfProblem.loss_and_gradient``):

    gradient descent   v ← μ v + g,  θ ← θ − η v     (v starts at g/(1 − μ), the steady
                                                      velocity of the plateau before)
    scaled GD          θ_m ← θ_m − η c ‖θ_m‖^{1−k} g_m   per neuron m,

until the drop has settled. Over a window of the last ``SETTLE_WINDOW`` of the drop's
steps (at least ``SETTLE_STEPS``) the loss must have fallen by less than
``SETTLE_SHARE`` of its value, or at a rate per step below ``SETTLE_PEAK`` times the
steepest such rate of the drop (the slow tail of the fit); and every neuron of norm
≥ ``ACTIVE_NORM`` must change its norm per step by less than ``SETTLE_GROWTH`` times the
fastest relative growth at the drop's start (the neuron that started the drop has joined
a fit, or stopped). The state is then handed back to the dormant flow: a neuron of norm
≥ ``ACTIVE_NORM`` stays active and is held as it is (its output ∝ ρ³ is part of the
fit); every other neuron is dormant again, with the direction and norm it has, mixed
parts included, and follows its utility on the residual of the whole network (its own
small output included, so that a neuron left on a fitted orbit sees no residual there).
Each crossing of an orbit's explained share 1/2 inside a drop is the step at which that
orbit is learned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from backend.agf import simulation, staircase
from backend.agf.simulation import AgfProblem, AgfResult, AgfRound

START_OUTPUT = 0.3
"""A drop starts when the first dormant neuron's output norm ρ_out reaches this value."""

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
"""... and once every neuron of norm ≥ ACTIVE_NORM changes its norm per step by less
than this share of the fastest relative growth at the start of the drop (the neuron
that started the drop must have become part of a fit, or stopped, before it is held)."""

CHECK_EVERY = 10
"""Steps between two readings of the orbits' explained shares inside a drop."""

LEARNED = 0.5
"""An orbit is learned once the network explains this share of its template power."""


class OptimiserSteps:
    """The configuration's optimiser (gd with momentum, or per-neuron scaled GD) on numpy
    weights (L, n, M), float64. With ``steady_velocity`` the momentum starts at the
    plateau's steady velocity g/(1 − μ); without, at g (the trainer's first step)."""

    def __init__(self, config, steady_velocity: bool = True) -> None:
        self.steady_velocity = steady_velocity
        self.scaled = config.optimiser == "scaled_gd"
        self.rate = float(config.learning_rate)
        self.momentum = 0.0 if self.scaled else float(config.momentum)
        self.exponent = float(config.scaled_exponent)
        self.factor = (math.log(1.0 / config.init_scale)
                       if self.scaled and config.scaled_log_factor else 1.0)
        self.velocity: np.ndarray | None = None

    def step(self, theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """θ after one step with gradient g."""
        if self.scaled:
            norms = np.sqrt(np.einsum("lnm,lnm->m", theta, theta))
            scale = np.maximum(norms, 1e-300) ** (1.0 - self.exponent)
            return theta - (self.rate * self.factor) * gradient * scale
        if self.momentum == 0.0:
            return theta - self.rate * gradient
        if self.velocity is None:
            self.velocity = gradient / (1.0 - self.momentum) if self.steady_velocity else (
                gradient.copy())
        else:
            self.velocity = self.momentum * self.velocity + gradient
        return theta - self.rate * self.velocity


@dataclass
class Drop:
    """One drop resolved by the optimiser: the weights after it, the optimiser steps it
    took, the loss before and after, and per orbit index the step (counted from the start
    of the run) where its explained share reached LEARNED inside the drop."""

    theta: np.ndarray
    steps: int
    loss_before: float
    loss_after: float
    learned_at: dict[int, float]
    losses: np.ndarray
    shares: dict[float, np.ndarray]
    """Explained share of every orbit at each step of ``learned_at`` and at the end."""


def resolve_drop(problem: AgfProblem, theta: np.ndarray, start: float,
                 most_steps: int) -> Drop:
    """Optimiser steps on the whole network from step ``start`` until the loss settles
    (module docstring) or ``most_steps`` steps were taken."""
    optimiser = OptimiserSteps(problem.config)
    losses: list[float] = []
    learned: dict[int, float] = {}
    seen: dict[float, np.ndarray] = {}
    before = problem.explained(problem.targets - problem.outputs(theta))
    taken = 0
    steepest = 0.0
    initial_rate = None
    while taken < most_steps:
        loss, gradient = problem.loss_and_gradient(theta)
        losses.append(loss)
        if not math.isfinite(loss):
            break
        moved = optimiser.step(theta, gradient)
        norms = _norms(theta)
        rates = np.einsum("lnm,lnm->m", moved - theta, theta) / np.maximum(norms, 1e-300) ** 2
        if initial_rate is None:
            initial_rate = float(np.abs(rates).max())
        window = max(SETTLE_STEPS, int(SETTLE_WINDOW * taken))
        if taken > window:
            fall = (losses[-1 - window] - loss) / (window * max(loss, 1e-300))
            steepest = max(steepest, fall)
            flat = fall < max(SETTLE_SHARE / window, SETTLE_PEAK * steepest)
            large = norms >= ACTIVE_NORM
            still = not large.any() or (
                float(np.abs(rates[large]).max()) < SETTLE_GROWTH * initial_rate)
            if flat and still:
                break
        theta = moved
        taken += 1
        if taken % CHECK_EVERY == 0:
            shares = problem.explained(problem.targets - problem.outputs(theta))
            for index in np.flatnonzero((shares >= LEARNED) & ~(before >= LEARNED)):
                if int(index) not in learned:
                    learned[int(index)] = start + taken
                    seen[start + taken] = shares
    loss = problem.loss(theta)
    shares = problem.explained(problem.targets - problem.outputs(theta))
    for index in np.flatnonzero((shares >= LEARNED) & ~(before >= LEARNED)):
        learned.setdefault(int(index), start + taken)
    seen[start + taken] = shares
    return Drop(theta, taken, losses[0] if losses else loss, loss, learned,
                np.asarray(losses), seen)


def drop_rounds(drop: Drop, start: float, starter: str, labels: list[str]
                ) -> list[tuple[list[str], float, float, float, np.ndarray]]:
    """(orbits, step, loss before, loss after, explained shares) of the rounds of one
    drop: one per step at which orbits became learned inside it, its level the flattest
    loss between that step and the next one's (the loss after the drop for the last), so
    that a drop that went on through the next orbit's drop still gives each orbit its own
    plateau. A drop in which no orbit became learned is one round at its end, named by
    ``starter``."""
    if not drop.learned_at:
        return [([starter], start + drop.steps, drop.loss_before, drop.loss_after,
                 drop.shares[start + drop.steps])]
    crossings = sorted(set(drop.learned_at.values()))
    steps = start + np.arange(drop.losses.size)
    rounds = []
    before = drop.loss_before
    for position, step in enumerate(crossings):
        orbits = [labels[i] for i, s in sorted(drop.learned_at.items()) if s == step]
        if position + 1 < len(crossings):
            after = staircase.flattest_level(steps, drop.losses, step, crossings[position + 1])
            shares = drop.shares[step]
        else:
            after, shares = drop.loss_after, drop.shares[start + drop.steps]
        rounds.append((orbits, step, before, after, shares))
        before = after
    return rounds


def _norms(theta: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("lnm,lnm->m", theta, theta))


def run_agf_with_drops(
    problem: AgfProblem,
    horizon: float,
    max_rounds: int | None = None,
    tolerance: float = simulation.TOLERANCE,
) -> AgfResult:
    """Dormant flow between drops, each drop resolved by ``resolve_drop``. One AgfRound
    per drop: its ``step`` is the first step inside the drop at which an orbit became
    learned (the drop's end when none did), its ``orbits`` the orbits learned in it (else
    the orbit of the neuron that started it), its ``neurons`` the neurons that became
    active. ``optimiser_steps`` of the result counts the steps all drops took."""
    theta = problem.initial_theta.copy()
    width = theta.shape[2]
    norms = _norms(theta)
    log_norms = np.log(np.maximum(norms, 1e-300))
    directions = theta / np.maximum(norms, 1e-300)
    active = np.zeros(width, dtype=bool)
    residual = problem.targets.copy()
    initial_loss = float(np.mean(residual**2))
    current_loss = initial_loss
    labels = [orbit.label for orbit in problem.irreps.orbits]
    rounds: list[AgfRound] = []
    explained: list[np.ndarray] = []
    time = 0.0
    spent = 0
    stop_reason = "horizon reached"
    while True:
        dormant = np.flatnonzero(~active)
        reason = simulation.stop_before_round(dormant, current_loss, initial_loss,
                                              len(rounds), max_rounds, time, horizon)
        if reason is not None:
            stop_reason = reason
            break
        time, moved, grown, arrived = simulation.integrate_dormant(
            problem, directions[:, :, dormant], log_norms[dormant], residual, time, horizon,
            tolerance, threshold=START_OUTPUT, norm_threshold=START_NORM,
        )
        directions[:, :, dormant] = moved
        log_norms[dormant] = grown
        if not arrived:
            break
        output, dominant = simulation.output_log_norms(problem, moved, grown)
        starter = labels[int(dominant[np.argmax(output)])]
        theta[:, :, ~active] = directions[:, :, ~active] * np.exp(log_norms[~active])
        drop = resolve_drop(problem, theta, time, int(math.ceil(horizon - time)))
        spent += drop.steps
        theta = drop.theta
        norms = _norms(theta)
        newly = ~active & (norms >= ACTIVE_NORM)
        active = norms >= ACTIVE_NORM
        log_norms = np.log(np.maximum(norms, 1e-300))
        directions = theta / np.maximum(norms, 1e-300)
        residual = problem.targets - problem.outputs(theta)
        current_loss = drop.loss_after
        for orbits, step, before, after, shares in drop_rounds(drop, time, starter, labels):
            explained.append(shares)
            rounds.append(AgfRound(
                round=len(rounds) + 1, step=step, orbits=orbits,
                neurons=[int(i) for i in np.flatnonzero(newly)],
                loss_before=before, loss_after=after,
                weights=simulation._split_weights(theta.copy()),
            ))
        time += drop.steps
    return AgfResult(
        rounds=rounds, initial_loss=initial_loss, stop_reason=stop_reason, final_step=time,
        orbit_labels=labels,
        final_weights=simulation._split_weights(
            simulation._current_weights(theta, directions, np.exp(log_norms), active)),
        orbit_dims=[int(orbit.dim) for orbit in problem.irreps.orbits],
        explained=explained,
        optimiser_steps=spent,
    )
