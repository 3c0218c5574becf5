"""Numerical Alternating Gradient Flows: the staircase as rounds, for any group and template.

Every neuron m is dormant (norm ρ_m ≪ 1) or active. With the residual r = y − f of the
active network, a dormant neuron with unit direction θ̄ = (u, v, w) has the growth utility

    G(θ̄) = (2/(P n)) Σ_{pairs} (⟨u, x_g1⟩ + ⟨v, x_g2⟩)² ⟨w, r(g1, g2)⟩,

P the number of training pairs (−∇L at a small neuron is ∇G for the loss
L = (1/(P n)) Σ ‖f − y‖²). The optimiser step δ_m = −η_eff ρ_m^{1−k} ∇_{θ_m} L (k = 1 for
gradient descent, η_eff = η/(1 − μ) with momentum μ; k and the optional log(1/α) factor of
per-neuron scaled SGD otherwise) gives, for a z² neuron (homogeneous of degree κ = 3),

    dθ̄/dt = η_eff ρ^{2−k} (∇G − 3 G θ̄)        (projected ascent on the sphere)
    dρ/dt  = 3 η_eff ρ^{3−k} G(θ̄),

t in optimiser steps. In (θ̄, ln ρ) the dormant dynamics is smooth — for scaled SGD
(k = 2) it does not depend on ρ at all, and ln ρ grows linearly once θ̄ has settled — so
all dormant neurons are integrated together by an adaptive Runge–Kutta method (one
vectorised evaluation of G and ∇G per stage, long steps where nothing turns; with scaled
SGD the modified equation of the steps to second order, ``GrowthLaw.step_rate``, and
above STEP_GROWTH per step the optimiser's own steps, ``step_dormant``), stopped by
an event when the first neuron's output becomes of order one (ρ_out = 1,
output_log_norms: the norm of the balanced neuron with the same output on the orbit O
of its ξ). That neuron **activates**, with every dormant neuron of ρ_out ≥ COACTIVATION;
every layer of an activated neuron is put on O and kept there, and the active neurons
writing into the orbits that gained neurons are trained to convergence by L-BFGS
(**cost minimisation**), which changes the residual. Dormant neurons keep their
directions and norms. The loop ends when no neuron is dormant, the loss has vanished, or
the horizon is reached. Each round records its time, activated neurons, their orbits, the
loss before and after, and all weights after the round.

The sums over pairs live in the problem (``agf_problem``): ``AgfProblem`` forms the P × n
residual; ``exact_problem.ExactAgfProblem`` holds the active network instead and sums by
the identity of the exact quadratic path (MATH §6), for large groups. The rounds read
the residual only through the problem's methods.
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass, field

import numpy as np
from scipy.integrate import solve_ivp
from scipy.optimize import minimize

from backend.agf.applicability import check_agf_config
from backend.agf.orbit_fit import LEARNED_FRACTION, explained_fraction, only_listed
from backend.config import RunConfig

ACTIVATION_NORM = 1.0
"""A dormant neuron becomes active when its norm ‖(θ¹, θ², ξ)‖ reaches this value."""

HORIZON_FACTOR = 3.0
"""By default AGF runs up to this many times the configuration's number of steps, to
predict the orbits gradient descent would learn after the run's end; past the run's
steps it stops once every orbit is learned (``EVERY_ORBIT_LEARNED``)."""

HORIZON_REACHED = "horizon reached"

EVERY_ORBIT_LEARNED = "every orbit is learned"
"""Why AGF stops past the run's steps: no orbit with template power is left to learn
(``orbits_left``), and what follows is the slow tail of fits already made."""

TOLERANCE = 1e-6
"""Relative accuracy of the adaptive integration of the dormant neurons."""

COACTIVATION = 0.3
"""Dormant neurons whose output norm ρ_out is at least this fraction of the activation
norm when a neuron activates join the same round (their output, ∝ ρ_out³, is no longer
negligible)."""


COST_ITERATIONS = 3000
"""Most L-BFGS iterations of one cost minimisation."""

COST_FTOL = 1e-15
"""Cost minimisation stops when an iteration lowers the loss by less than this share."""

COST_GTOL = 1e-11
"""... or when no reduced coordinate of the gradient exceeds this."""

DROP_SHARE = 0.01
"""A round whose loss falls by less than this share of the loss before learned nothing:
its neurons activated, but on orbits already fitted or without a fit to add."""

DROP_MODES = ("cost", "optimiser")
"""How a round's drop is resolved: cost minimisation, or the optimiser's own steps."""

VANISHED_LOSS = 1e-9
"""AGF stops once the loss is below this fraction of the initial loss."""

DIVERGED = "the loss diverged"
"""How the stop reason of a run whose drop diverged begins (``drops``)."""

STEP_GROWTH = 0.1
"""Most relative growth of a dormant neuron in one optimiser step for the flow through
each step's displacement to follow the steps. Above it (per-neuron scaled SGD, where the
growth per step does not depend on the norm) the dormant phase is taken step by step."""

COLLECT_STATE_BYTES = 4 * 2**20
"""A dormant state of at least this size is garbage-collected after its integration."""


@dataclass
class AgfRound:
    """One AGF round: at optimiser step ``step`` the ``neurons`` activated (their dominant
    orbits' labels in ``orbits``); the loss went from ``loss_before`` to ``loss_after``
    by cost minimisation; ``weights`` = (θ¹, θ², ξ), numpy (M, n) each, after the round
    (dormant neurons at their small current norms; θ² = θ¹ with a shared embedding)."""

    round: int
    step: float
    orbits: list[str]
    neurons: list[int]
    loss_before: float
    loss_after: float
    weights: tuple[np.ndarray, np.ndarray, np.ndarray]
    partial: bool = False
    """No orbit it names has half of its power explained after it: the round fitted a
    part of an orbit (``part_only``)."""
    level_step: float | None = None
    """The optimiser step at which ``weights`` and ``loss_after`` stand, on the round's
    level: a drop by the optimiser reads them after ``step`` (its orbit's crossing of
    LEARNED_FRACTION, half-way down the drop); None for a cost-minimised round, whose
    jump ends at ``step``."""

    @property
    def weights_step(self) -> float:
        """Where the round's network stands: ``level_step``, or ``step`` without one."""
        return float(self.step if self.level_step is None else self.level_step)

    @property
    def dropped(self) -> bool:
        """Whether the loss fell in this round: by at least DROP_SHARE of its value before."""
        return self.loss_after < (1.0 - DROP_SHARE) * self.loss_before


def part_only(orbits: list[str], labels: list[str], shares: np.ndarray) -> bool:
    """Whether none of ``orbits`` (labels) has an explained share ≥ LEARNED_FRACTION in
    ``shares`` (per orbit, in the order of ``labels``)."""
    return not any(np.nan_to_num(shares[labels.index(orbit)]) >= LEARNED_FRACTION
                   for orbit in orbits if orbit in labels)


@dataclass(frozen=True)
class LossSpike:
    """The loss climbing inside a drop from ``low`` (its lowest value so far) to ``high``
    at optimiser step ``step`` (``drops.SPIKE_RISE``). Two causes were seen: a learning
    rate at the edge of stability (S5 template at rate 1: gradient descent spikes alike)
    and a dormant neuron whose layers lie on different orbits, grown in the dormant flow on
    the residual held at the last drop's end, part of which gradient descent's active
    network removes as it keeps relaxing (C20 reference: gradient descent does not spike;
    ``starter`` names such a neuron)."""

    step: float
    low: float
    high: float
    starter: str = ""
    """The neuron that started the drop, with the orbits of its layers, when they are not
    one orbit (``drops.mixed_starter``); "" otherwise."""

    @property
    def rise(self) -> float:
        return self.high - self.low

    def headline(self) -> str:
        """The climb in a few words, for a small panel (``sentence`` says why)."""
        return (f"the loss climbs in a drop at step {self.step:.0f} ({self.low:.3g} → "
                f"{self.high:.3g}); later rounds are not reliable")

    def sentence(self) -> str:
        climb = self._climb()
        if self.starter:
            return (f"{climb}: the drop began with {self.starter}, grown in the dormant "
                    f"flow on the residual held at the last drop's end, part of which "
                    f"gradient descent's active network removes as it keeps relaxing on the "
                    f"plateau; rounds and levels from there on are not reliable")
        return (f"{climb}: the learning rate is too large for smooth drops, or a neuron grew "
                f"in the dormant flow past what the flow models; rounds and levels from "
                f"there on are not reliable")

    def _climb(self) -> str:
        return (f"the loss climbs inside a drop ({self.low:.4g} → {self.high:.4g} at step "
                f"{self.step:.0f})")


@dataclass
class SimulatedCurve:
    """The loss of a simulation with drops resolved by the optimiser, as gradient
    descent's run is recorded (``comparison.GradientDescentRun``): ``losses`` at
    ``steps`` (along each plateau as the held network relaxes, read at the end of each
    stretch of ``plateau.run_plateau``; every step the optimiser took inside a drop),
    and each orbit's explained share at ``checkpoint_steps`` (rows of ``explained``; NaN
    for an orbit not read there, i.e. one learned before that drop began or without
    template power), with the template's power per orbit. Read by gradient descent's own
    rule (``comparison.agf_orbit_drops``)."""

    steps: np.ndarray
    losses: np.ndarray
    checkpoint_steps: np.ndarray
    explained: np.ndarray
    template_power: np.ndarray

    def until(self, step: float) -> SimulatedCurve:
        """The curve up to optimiser step ``step`` (ending there, at the loss it had)."""
        kept = self.steps <= step
        steps, losses = self.steps[kept], self.losses[kept]
        if step < self.steps[-1] and (not steps.size or steps[-1] < step):
            steps = np.append(steps, step)
            losses = np.append(losses, np.interp(step, self.steps, self.losses))
        read = self.checkpoint_steps <= step
        return SimulatedCurve(steps, losses, self.checkpoint_steps[read],
                              self.explained[read], self.template_power)


@dataclass
class AgfResult:
    """The rounds of one AGF run, the initial loss and why it stopped."""

    rounds: list[AgfRound]
    initial_loss: float
    stop_reason: str
    final_step: float
    orbit_labels: list[str] = field(default_factory=list)
    final_weights: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None
    orbit_dims: list[int] = field(default_factory=list)
    explained: list[np.ndarray] = field(default_factory=list)
    """Per round: 1 − mean_pairs P_O(r)/P_O(t) for every orbit (NaN where P_O(t) = 0)."""
    optimiser_steps: int = 0
    """Optimiser steps covered on the whole network (drops resolved by the optimiser)."""
    optimiser_evaluations: int = 0
    """Gradients of the whole network those drops evaluated (fewer than the steps where
    their steps were stretched, ``optimiser_flow.FlowStepper``)."""
    relaxation_evaluations: int = 0
    """Gradients the held network's relaxation on the plateaus between those drops
    evaluated (``plateau``)."""
    loss_spikes: list[LossSpike] = field(default_factory=list)
    """Every climb of the loss inside a drop resolved by the optimiser, in step order."""
    diverged_at: float | None = None
    """The step at which the drop that diverged began (None when none did)."""
    curve: SimulatedCurve | None = None
    """The loss curve and explained shares of drops resolved by the optimiser (None for
    cost-minimised rounds, which are read round by round)."""

    @property
    def loss_spike(self) -> LossSpike | None:
        """The largest climb inside a drop anywhere in the simulation, if any."""
        return self.spike_until(math.inf)

    def spike_until(self, step: float) -> LossSpike | None:
        """The largest climb inside a drop at or before optimiser step ``step``."""
        seen = [spike for spike in self.loss_spikes if spike.step <= step]
        return max(seen, key=lambda spike: spike.rise, default=None)

    @property
    def caution(self) -> str:
        """Why the rounds are not to be trusted from some step on: a drop whose loss
        climbed (``loss_spike``) or diverged (the stop reason); empty when neither."""
        return self.caution_until(math.inf)

    def caution_until(self, step: float, headline: bool = False) -> str:
        """``caution`` for what the simulation did up to optimiser step ``step`` (the run's
        own length: the simulation runs on past it, HORIZON_FACTOR), the climb in a few
        words with ``headline`` (``LossSpike.headline``)."""
        spike = self.spike_until(step)
        parts = [] if spike is None else [spike.headline() if headline else spike.sentence()]
        if self.diverged_at is not None and self.diverged_at <= step:
            parts.append(self.stop_reason)
        return "; ".join(parts)


@dataclass(frozen=True)
class GrowthLaw:
    """Optimiser step δ_m = −rate ρ_m^{1−k} ∇_{θ_m} L seen by a dormant neuron."""

    rate: float
    exponent: float
    stepped: bool = False
    """The dormant phase is taken in the optimiser's own steps (``step_dormant``), not as
    a flow: a step grows a dormant neuron by more than STEP_GROWTH."""
    second_order: bool = False
    """The flow is the steps' modified equation to second order (``step_rate``): with
    scaled SGD, whose growth per step (a few per cent) does not shrink with the norm, on
    the dense problem (small groups)."""

    @classmethod
    def of(cls, config: RunConfig, peak_utility: float = 0.0,
           second_order: bool = True) -> GrowthLaw:
        """The law of ``config``'s optimiser; ``peak_utility`` is the largest growth
        utility G* = (2/n) U* of the template (the residual's only fall below it);
        ``second_order`` allows the second-order flow (scaled SGD only)."""
        if config.optimiser == "scaled_gd":
            factor = math.log(1.0 / config.init_scale) if config.scaled_log_factor else 1.0
            rate = config.learning_rate * factor
            stepped = config.scaled_exponent == 2.0 and 3.0 * rate * peak_utility > STEP_GROWTH
            return cls(rate, config.scaled_exponent, stepped, second_order)
        return cls(config.learning_rate / (1.0 - config.momentum), 1.0)

    def flow(
        self, problem: AgfProblem, directions: np.ndarray, log_norms: np.ndarray,
        residual: np.ndarray,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(s', P⊥∇G, d ln ρ/dt) of dormant neurons, per optimiser step.

        One step moves θ = ρθ̄ by s ρ ∇G, s = η_eff ρ^{2−k}; with ∇G = 3Gθ̄ + P⊥∇G the new
        direction is normalise(θ̄ + s' P⊥∇G), s' = s/(1 + 3sG), and the norm is multiplied
        by sqrt((1 + 3sG)² + (s‖P⊥∇G‖)²). Taken per step (not as the flow e^{3sG}), which
        keeps the log-norm exact for scaled SGD, where 3sG is a few per cent.
        """
        utility, tangent = problem.utility_and_gradient(directions, residual)
        tangent -= 3.0 * utility * directions  # ∇G − 3Gθ̄, in the gradient's place
        speed = self.rate * np.exp((2.0 - self.exponent) * log_norms)
        radial = np.maximum(1.0 + 3.0 * speed * utility, 1e-3)
        turn = speed * np.sqrt(np.einsum("lnm,lnm->m", tangent, tangent))
        growth = 0.5 * np.log(radial**2 + turn**2)
        return speed / radial, tangent, growth

    def step_rate(
        self, problem: AgfProblem, directions: np.ndarray, log_norms: np.ndarray,
        residual: np.ndarray, out: np.ndarray,
    ) -> np.ndarray:
        """d ln ρ/dt of the flow that stands for the optimiser's steps, its dθ̄/dt written
        into ``out`` (the shape of ``directions``: no state-size copy on the first order).

        With F(y) the displacement of one step of y = (θ̄, ln ρ) (``flow``), the flow
        ẏ = F has a time-1 map off the step's by ½F′F, a relative error about the growth
        per step g in the log-norm reached (C11, scaled SGD: 4.6 % at g = 4.6 %). With
        ``second_order`` the modified flow ẏ = F − ½F′F is integrated, F′F taken as
        F(y + F) − F(y), so ẏ = (3/2)F(y) − ½F(y + F) (its direction part kept tangent):
        then 0.10 % at g = 4.6 % and 0.45 % at g = 9.3 %, for a second evaluation."""
        scale, tangent, growth = self.flow(problem, directions, log_norms, residual)
        np.multiply(scale, tangent, out=out)
        if not self.second_order:
            return growth
        moved = directions + out
        moved /= np.maximum(column_norms(moved), 1e-300)
        scale, tangent, grown = self.flow(problem, moved, log_norms + growth, residual)
        ahead = scale * tangent
        ahead -= np.einsum("lnm,lnm->m", ahead, directions) * directions
        out *= 1.5
        out -= 0.5 * ahead
        return 1.5 * growth - 0.5 * grown


class AgfProblem:
    """The data and initial weights of one configuration, with the loss, its gradient and
    the dormant utility written out in numpy (float64).

    Weights are held like the network's ``theta``: (L, n, M), layers θ¹, θ², ξ (L = 2 with
    a shared embedding). With X the encoding (row g = x_g), E1, E2 the (n, P) incidence
    matrices of the first and second element of each training pair:
    A = X θ¹, B = X θ², H = E1ᵀA + E2ᵀB (P × M), f = H² ξᵀ (P × n).
    """

    backend = "dense"

    def __init__(self, config: RunConfig) -> None:
        from backend.training.trainer import Trainer

        check_agf_config(config)
        self.config = config
        if self.backend == "dense":  # before the trainer forms its own pair targets
            from backend.spectral import load_group

            order = load_group(config.group).order
            check_dense_memory(config, order, int(config.train_fraction * order * order))
        trainer = Trainer(config.replace(precision="float64", device="cpu",
                                         step_path=self.backend))
        self.irreps = trainer.irreps
        self.fourier = trainer.fourier
        self.task = trainer.task
        self.shared = bool(config.shared_embedding)
        self.initial_theta = trainer.theta.detach().cpu().numpy().astype(np.float64)
        self.encoding = np.asarray(self.task.encoding, dtype=np.float64)
        from backend.agf.theory import growth_utilities

        peak = float(growth_utilities(self.irreps, self.task.template).max(initial=0.0))
        # The exact problem's utility costs 0.3–0.5 s on S6: there the second order
        # doubled the first plateau's time (128 → 233 s) to move its end by 0.4 %.
        self.law = GrowthLaw.of(config, peak, second_order=self.backend == "dense")
        self._projectors: np.ndarray | None = None
        self._bases: dict[int, np.ndarray] = {}
        self._drop_network = None  # (network, weights, gradient) of optimiser_gradient
        self._build_pairs(trainer)

    def _build_pairs(self, trainer) -> None:
        """The P × n targets and, for a subset of the pairs, their incidence matrices
        (``__init__`` refuses first a problem whose pairs cannot fit)."""
        n = self.task.order
        pairs = np.asarray(self.task.train_pairs, dtype=np.int64)
        first, second = pairs // n, pairs % n
        if not self.task.uses_all_pairs:
            self.first_incidence = np.zeros((n, pairs.size))
            self.first_incidence[first, np.arange(pairs.size)] = 1.0
            self.second_incidence = np.zeros((n, pairs.size))
            self.second_incidence[second, np.arange(pairs.size)] = 1.0
        self.first, self.second = first, second
        self.targets = np.asarray(self.task.targets(), dtype=np.float64)[pairs]

    def residual(self, theta: np.ndarray) -> np.ndarray:
        """r = y − f (P × n) of the given (active) neurons; the other problem holds it
        as the network itself. Everything that reads a residual takes what this gives."""
        return self.targets - self.outputs(theta)

    def residual_loss(self, residual: np.ndarray) -> float:
        """The loss of the network whose residual this is: mean of r²."""
        return float(np.mean(residual**2))

    @property
    def order(self) -> int:
        return self.task.order

    def hidden(self, theta: np.ndarray) -> np.ndarray:
        """H (P × M): pre-activations of the training pairs."""
        a = self.encoding @ theta[0]
        b = a if self.shared else self.encoding @ theta[1]
        if self.task.uses_all_pairs:  # pairs p = g1·n + g2 in order
            return (a[:, None, :] + b[None, :, :]).reshape(-1, a.shape[1])
        return a[self.first] + b[self.second]

    def outputs(self, theta: np.ndarray) -> np.ndarray:
        """f (P × n) of the given neurons on the training pairs."""
        if theta.shape[2] == 0:
            return np.zeros_like(self.targets)
        hidden = self.hidden(theta)
        return (hidden * hidden) @ theta[-1].T

    def loss(self, theta: np.ndarray) -> float:
        """L = (1/(P n)) Σ ‖f − y‖² (the trainer's mean squared error)."""
        return float(np.mean((self.outputs(theta) - self.targets) ** 2))

    def _pull_back(self, hidden_gradient: np.ndarray) -> list[np.ndarray]:
        """∂/∂θ¹ = Xᵀ E1 ∂/∂H and ∂/∂θ² = Xᵀ E2 ∂/∂H (summed when shared)."""
        if self.task.uses_all_pairs:
            grid = hidden_gradient.reshape(self.order, self.order, -1)
            first, second = self.encoding.T @ grid.sum(1), self.encoding.T @ grid.sum(0)
        else:
            first = self.encoding.T @ (self.first_incidence @ hidden_gradient)
            second = self.encoding.T @ (self.second_incidence @ hidden_gradient)
        return [first + second] if self.shared else [first, second]

    def loss_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """L and ∂L/∂theta: with E = 2(f − y)/(P n), ∂L/∂ξ = Eᵀ H², ∂L/∂H = 2H ⊙ (E ξ)."""
        hidden = self.hidden(theta)
        squared = hidden * hidden
        error = squared @ theta[-1].T - self.targets
        loss = float(np.mean(error**2))
        error *= 2.0 / error.size
        readout = error.T @ squared
        hidden_gradient = 2.0 * hidden * (error @ theta[-1])
        return loss, np.stack([*self._pull_back(hidden_gradient), readout])

    def optimiser_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        """L and ∂L/∂θ for the optimiser's steps inside a drop, computed by the trainer's
        own ``CompositionNetwork.loss_and_gradient`` (its fused kernels) in the
        configuration's precision, as gradient descent computes them: on S4 at width 256
        0.21 ms in float32 where ``loss_and_gradient`` (numpy float64) takes 2.4 ms.
        The weights come and go as numpy float64."""
        import torch

        if self._drop_network is None:
            from backend.training.network import CompositionNetwork

            dtype = torch.float64 if self.config.precision == "float64" else torch.float32
            network = CompositionNetwork(
                self.task, activation=self.config.activation, loss=self.config.loss,
                shared_embedding=self.shared, device=torch.device("cpu"), dtype=dtype)
            weights = torch.empty(theta.shape, dtype=dtype)
            self._drop_network = (network, weights, torch.empty_like(weights))
        network, weights, gradient = self._drop_network
        weights.copy_(torch.from_numpy(np.ascontiguousarray(theta)))
        loss, _ = network.loss_and_gradient(weights, 1.0, gradient)
        return float(loss), gradient.numpy().astype(np.float64)

    def utility_and_gradient(
        self, directions: np.ndarray, residual: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """G(θ̄_m) (M,) and ∇G (L, n, M) for directions (L, n, M) and residual r (P × n).

        G = c Σ_p H² ⊙ (r ξ), c = 2/(P n); ∇_ξ G = c rᵀ H², ∇_H G = 2c H ⊙ (r ξ).
        """
        hidden = self.hidden(directions)
        on_residual = residual @ directions[-1]
        scale = 2.0 / residual.size
        squared = hidden * hidden
        utility = scale * np.einsum("pm,pm->m", squared, on_residual)
        readout = scale * (residual.T @ squared)
        hidden_gradient = (2.0 * scale) * hidden * on_residual
        return utility, np.stack([*self._pull_back(hidden_gradient), readout])

    def orbit_projectors(self) -> np.ndarray:
        """Π_O (K, n, n): the orthogonal projector of ℝⁿ onto orbit O's isotypic part,
        Π_O[x, y] = Σ_{ρ∈O} (d_ρ/n) Re χ_ρ(g_x g_y⁻¹). It commutes with every λ(g), so a
        weight vector in Π_O ℝⁿ has effective functions ⟨θ, x_g⟩ on O alone."""
        if self._projectors is None:
            group = self.irreps.group
            n = group.order
            table = np.asarray(group.table)
            quotient = table[np.arange(n)[:, None], np.asarray(group.inverse)[None, :]]
            projectors = np.zeros((len(self.irreps.orbits), n, n))
            for k, orbit in enumerate(self.irreps.orbits):
                for index in orbit.irreps:
                    irrep = self.irreps.irreps[index]
                    character = np.asarray(irrep.character)
                    projectors[k] += (irrep.dim / n) * character[quotient].real
            self._projectors = projectors
        return self._projectors

    def restrict(self, theta: np.ndarray, orbits: np.ndarray) -> np.ndarray:
        """Each weight vector projected on its orbit: Π_{O[l, m]} θ[l, :, m]; ``orbits``
        (L, M) gives one orbit per layer and neuron. One product per layer and orbit
        present (the weight vectors grouped by orbit)."""
        projectors = self.orbit_projectors()
        restricted = np.empty_like(theta)
        for layer in range(theta.shape[0]):
            for orbit in np.unique(orbits[layer]):
                columns = orbits[layer] == orbit
                restricted[layer][:, columns] = projectors[orbit] @ theta[layer][:, columns]
        return restricted

    def orbit_basis(self, orbit: int) -> np.ndarray:
        """U_O (n × dim_O): an orthonormal basis of Π_O ℝⁿ (dim_O = Σ_{ρ∈O} d_ρ²), the
        eigenvectors of Π_O with eigenvalue 1."""
        if orbit not in self._bases:
            values, vectors = np.linalg.eigh(self.orbit_projectors()[orbit])
            self._bases[orbit] = np.ascontiguousarray(vectors[:, values > 0.5])
        return self._bases[orbit]

    def layer_orbits(self, theta: np.ndarray) -> np.ndarray:
        """Dominant orbit of every weight vector (L, M): argmax_O P_O(·) of its effective
        function ⟨θ[l, :, m], x_g⟩."""
        functions = np.einsum("gi,lim->lmg", self.encoding, theta)
        return self.fourier.orbit_power(functions).argmax(axis=2)

    def orbit_norms(self, theta: np.ndarray, orbit: np.ndarray) -> np.ndarray:
        """‖Π_{O_m} θ[l, :, m]‖ (L, M) for one orbit O_m per neuron (``orbit`` (M,))."""
        power = self.fourier.orbit_power(theta.transpose(0, 2, 1))  # (L, M, K)
        return np.sqrt(np.take_along_axis(power, orbit[None, :, None], 2)[..., 0])

    def minimise_cost(self, theta: np.ndarray, orbits: np.ndarray | None = None) -> np.ndarray:
        """Train the active neurons to a stationary point of the loss (L-BFGS).

        With ``orbits`` (L, M) every weight vector stays on its orbit: it is written in
        reduced coordinates z, θ[l, :, m] = U_O z[l, m] (``orbit_basis``), so that the
        minimiser sees Σ dim_O variables per neuron instead of L n (the gradient is
        U_Oᵀ ∂L/∂θ). The orbit-restricted minimiser is a stationary point
        of the whole loss; an unconstrained quasi-Newton method would leave the saddles of
        the orbits not yet learned at once and fit orbits that gradient descent learns only
        rounds later. Gradient descent's active neurons do carry parts on other orbits (a
        few per cent of their power, mixed in along the drops), which this leaves out.

        It stops when the loss has converged (a relative decrease below COST_FTOL over an
        iteration) or the gradient has vanished (COST_GTOL): the loss has flat directions
        (a neuron's (u, v, w) → (cu, cv, w/c²), rotations among the neurons of one orbit)
        along which the gradient decays slowly while the network's output and residual no
        longer change.
        """
        return self._minimise(theta, orbits, self.loss_and_gradient, self.orbit_basis)

    def _minimise(self, theta: np.ndarray, orbits: np.ndarray | None, loss_and_gradient,
                  basis_of) -> np.ndarray:
        """L-BFGS on ``loss_and_gradient`` from theta, every weight vector in the basis
        ``basis_of(orbit)`` of its orbit (``orbits``) or free (None)."""
        pack, unpack = self._coordinates(theta.shape, orbits, basis_of)

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            loss, gradient = loss_and_gradient(unpack(flat))
            return loss, pack(gradient)

        result = minimize(
            objective,
            pack(theta),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": COST_ITERATIONS, "ftol": COST_FTOL, "gtol": COST_GTOL,
                     "maxcor": 30},
        )
        return unpack(result.x)

    def _coordinates(self, shape: tuple[int, ...], orbits: np.ndarray | None, basis_of):
        """(pack, unpack): theta (L, n, M) ↔ its flat reduced coordinates (every weight
        vector in the basis ``basis_of(orbit)`` of its orbit; all n entries without
        ``orbits``)."""
        if orbits is None:
            return (lambda theta: theta.ravel().copy()), (lambda flat: flat.reshape(shape))
        blocks = []  # (layer, columns, basis, offset, size)
        offset = 0
        for layer in range(shape[0]):
            for orbit in np.unique(orbits[layer]):
                columns = np.flatnonzero(orbits[layer] == orbit)
                basis = basis_of(int(orbit))
                size = basis.shape[1] * columns.size
                blocks.append((layer, columns, basis, offset, size))
                offset += size

        def pack(theta: np.ndarray) -> np.ndarray:
            flat = np.empty(offset)
            for layer, columns, basis, start, size in blocks:
                flat[start:start + size] = (basis.T @ theta[layer][:, columns]).ravel()
            return flat

        def unpack(flat: np.ndarray) -> np.ndarray:
            theta = np.zeros(shape)
            for layer, columns, basis, start, size in blocks:
                theta[layer][:, columns] = basis @ flat[start:start + size].reshape(
                    basis.shape[1], columns.size)
            return theta

        return pack, unpack

    def explained(self, residual: np.ndarray, orbits=None) -> np.ndarray:
        """1 − mean_pairs P_O(r(pair)) / P_O(t) per orbit (NaN where the orbit carries no
        template power, see orbit_fit.powered; with ``orbits`` (indices), NaN too for every
        orbit not listed)."""
        left = self.fourier.orbit_power(residual).mean(axis=0)
        return only_listed(explained_fraction(left, self.task.template_power), orbits)


def dense_problem_bytes(order: int, pairs: int, width: int) -> int:
    """A lower bound of the dense problem's memory: float64 targets and residual (2 P n),
    the utility's P × M pre-activations, squares and gradient (3 P M)."""
    return 8 * pairs * (2 * order + 3 * width)


def check_dense_memory(config: RunConfig, order: int, pairs: int,
                       available: int | None = None) -> None:
    """ConfigError, before any allocation, when the dense problem cannot fit."""
    from backend.config import ConfigError
    from backend.memory_estimate import GIB, available_bytes

    available = available_bytes() if available is None else available
    needed = dense_problem_bytes(order, pairs, config.width)
    if available is None or needed <= available:
        return
    raise ConfigError(
        f"AGF on the dense problem for {config.group} (order {order}, width {config.width}) "
        f"needs at least {needed / GIB:.1f} GiB for its pairs, {available / GIB:.1f} GiB "
        "are available; use step_path = 'auto' or 'exact' (σ = z², MSE, every pair: no "
        "pairs are formed), a smaller width or a smaller group")


AGF_EXACT_MIN_ORDER = 40
"""With step_path = 'auto', AGF takes the exact problem (``exact_problem``) on groups of
order n ≥ this where the identity holds; it holds no P × n residual. Measured on 2
shared cores (``utility_and_gradient`` of 256 dormant directions, a residual of 8
neurons; ``loss_and_gradient`` of 8 neurons): utility dense/exact 75/1.4 ms on S4,
167/2.4 on D20, 436/8.9 on A5, 1239/18 on S5; loss 0.07/0.68 ms on S4, 0.20/0.59 on
D20, 31/0.9 on A5. Whole runs, where thousands of small loss evaluations dominate, take
4–5× longer on the exact problem at orders 6, 11 and 20 (torch's per-operation cost)."""


def agf_problem(config: RunConfig) -> AgfProblem:
    """The AGF problem of ``config``: the dense one (the residual as a P × n matrix), or
    the exact one by the identity of MATH §6 where σ = z², MSE and every pair
    (``step_path``: 'dense' and 'exact' force one, a forced 'exact' where the identity does
    not hold is a ConfigError naming why; 'auto' takes the exact one from order
    AGF_EXACT_MIN_ORDER on)."""
    from backend.spectral import load_group
    from backend.training.step_path import choose_step_path, exact_path_obstacles

    check_agf_config(config)
    order = load_group(config.group).order
    path = choose_step_path(config, order)  # refuses a forced 'exact' that cannot hold
    if config.step_path == "auto" and not exact_path_obstacles(config, order):
        path = "exact" if order >= AGF_EXACT_MIN_ORDER else "dense"
    if path == "exact":
        from backend.agf.exact_problem import ExactAgfProblem

        return ExactAgfProblem(config)
    return AgfProblem(config)


def _split_weights(theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(θ¹, θ², ξ) as numpy (M, n) each from theta (L, n, M)."""
    layers = theta.transpose(0, 2, 1).copy()
    if layers.shape[0] == 2:
        return layers[0], layers[0].copy(), layers[1]
    return layers[0], layers[1], layers[2]


def _current_weights(
    theta: np.ndarray, directions: np.ndarray, norms: np.ndarray, active: np.ndarray
) -> np.ndarray:
    """All weights now: active neurons as trained, dormant ones as ρ θ̄."""
    weights = theta.copy()
    weights[:, :, ~active] = directions[:, :, ~active] * norms[~active]
    return weights


def output_log_norms(
    problem: AgfProblem, directions: np.ndarray, log_norms: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(ln ρ_out, orbit) of dormant neurons: the orbit O of ξ (where the neuron writes)
    and the norm of the balanced neuron whose output on O equals this one's,

        ρ_out = ρ (‖Π_O ū‖ ‖Π_O v̄‖ ‖Π_O w̄‖ / max)^{1/3},

    max = 1/(3√3) the largest product on the unit sphere (2/(3√3) with a shared
    embedding, ū = v̄). A neuron counts as of order one when ρ_out is: its output on O is
    ρ_out³ times that of a balanced unit neuron. Its total norm may be dominated by input
    weights grown on an orbit learned earlier, which write nothing into O.

    The weights are read in C order whatever their layout: a neuron whose ξ is split
    evenly between two orbits has its dominant orbit decided in the last bit, and the
    dormant flow's stopping event and the round that follows must decide it alike."""
    directions = np.ascontiguousarray(directions)
    orbit = problem.layer_orbits(directions)[-1]
    on_orbit = problem.orbit_norms(directions, orbit)
    if on_orbit.shape[0] == 2:
        product = on_orbit[0] ** 2 * on_orbit[1] / (2.0 / (3.0 * math.sqrt(3.0)))
    else:
        product = on_orbit[0] * on_orbit[1] * on_orbit[2] * (3.0 * math.sqrt(3.0))
    return log_norms + np.log(np.maximum(product, 1e-300)) / 3.0, orbit


def arrival_margins(problem: AgfProblem, directions: np.ndarray, log_norms: np.ndarray,
                    threshold: float, norm_threshold: float = math.inf,
                    since: tuple[np.ndarray, np.ndarray] | None = None) -> np.ndarray:
    """Per dormant neuron, max(ln ρ_out − ln threshold, ln ρ − ln norm_threshold): ≥ 0
    once its output (``output_log_norms``) or its norm has reached the round's start.

    With ``since`` (``output_log_norms`` of the same neurons when the residual was taken)
    the output read is the orbit's, and only what it gained since: the neurons writing
    into one orbit O add their outputs there, each ∝ ρ_out³, and the residual already
    holds what they wrote before, so every neuron on O reads

        ρ_O³ = Σ_{m on O} max(ρ_out,m³ − ρ⁰_out,m³, 0)    (ρ⁰_out,m = 0 if m wrote elsewhere).

    With scaled SGD many neurons grow at one rate and reach order one together (S4, random
    template, seed 8: ρ_O = 0.62 when the largest ρ_out is 0.30), and the dormant flow,
    which leaves their outputs out of each other's residual, must hand over before their
    sum matters; a neuron left dormant after a drop with ρ_out near the threshold starts
    again from ρ_O = 0.
    """
    output, orbit = output_log_norms(problem, directions, log_norms)
    if since is not None and output.size:
        before, before_orbit = since
        with np.errstate(over="ignore"):
            cubes = np.exp(3.0 * output)
            gained = np.maximum(cubes - np.where(orbit == before_orbit,
                                                 np.exp(3.0 * before), 0.0), 0.0)
        summed = np.bincount(orbit, weights=gained)
        output = np.log(np.maximum(summed[orbit], 1e-300)) / 3.0
    return np.maximum(output - math.log(threshold), log_norms - math.log(norm_threshold))


def column_norms(theta: np.ndarray) -> np.ndarray:
    """‖θ_m‖ of every neuron of weights (L, n, M)."""
    return np.sqrt(np.einsum("lnm,lnm->m", theta, theta))


def integrate_dormant(
    problem: AgfProblem,
    directions: np.ndarray,
    log_norms: np.ndarray,
    residual: np.ndarray,
    start: float,
    stop: float,
    tolerance: float = TOLERANCE,
    threshold: float = ACTIVATION_NORM,
    norm_threshold: float = math.inf,
    collective: bool = False,
    departure: Callable[[np.ndarray, np.ndarray], float] | None = None,
    since: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, np.ndarray, np.ndarray, bool]:
    """Integrate the dormant neurons from optimiser step ``start`` until the first one
    reaches the activation norm (``threshold``, in output norm ρ_out, or with
    ``collective`` the output an orbit's neurons wrote together since ``start``, or since
    the state ``since``, their ``output_log_norms`` then, when a plateau is taken in
    stretches; or ``norm_threshold`` in norm ρ: ``arrival_margins``) or ``stop`` (where the law is
    ``stepped``, the optimiser's own steps instead: ``step_dormant``). ``departure``
    (directions, log-norms → a margin, ≥ 0 to stop) adds a condition of the caller's.

    ``directions`` (L, n, D) are unit columns, ``log_norms`` (D,) their ln ρ. The state is
    (θ̄, ln ρ) of every dormant neuron at once; an adaptive Runge–Kutta method (DOP853)
    takes large steps wherever the directions have settled (with scaled SGD the log-norms
    then grow linearly), and an event stops it at the activation. Only the end state is
    kept (t_eval, y_events): every intermediate state would cost the size of the weights
    per step (35 MB a step on S6 at width 2048). Returns the time
    reached, the directions and log-norms there, and whether a neuron activated.
    """
    law = problem.law
    if stop <= start:
        return start, directions, log_norms, False
    if law.stepped:
        return step_dormant(problem, directions, log_norms, residual, start, stop,
                            threshold, norm_threshold, collective, departure, since)
    if collective and since is None:
        since = output_log_norms(problem, directions, log_norms)
    shape = directions.shape
    size = directions.size

    def field(_, state: np.ndarray) -> np.ndarray:
        current = state[:size].reshape(shape)
        current = current / np.maximum(column_norms(current), 1e-300)
        rate = np.empty_like(state)  # written in place: the state is the weights' size
        rate[size:] = law.step_rate(problem, current, state[size:], residual,
                                    out=rate[:size].reshape(shape))
        return rate

    def activation(_, state: np.ndarray) -> float:
        current = state[:size].reshape(shape)
        current = current / np.maximum(column_norms(current), 1e-300)
        margin = float(arrival_margins(problem, current, state[size:], threshold,
                                       norm_threshold, since).max())
        if departure is not None:
            margin = max(margin, departure(current, state[size:]))
        return margin

    activation.terminal = True
    activation.direction = 1.0
    solution = solve_ivp(
        field,
        (start, stop),
        np.concatenate([directions.ravel(), log_norms]),
        method="DOP853",
        events=activation,
        rtol=tolerance,
        atol=tolerance * 1e-4,
        t_eval=(stop,),
    )
    if directions.nbytes >= COLLECT_STATE_BYTES:
        # SciPy's solver and its wrapped field refer to each other, so the solver's stage
        # vectors (16 × the state: 0.57 GB on S6 at width 2048) wait for the cyclic
        # garbage collector, and several spent solvers add up (the whole s6-agf run:
        # peak 3.54 GiB, 1.91 with this). A collection takes ~0.1 s: large states only.
        gc.collect()
    arrived = bool(solution.status == 1 and solution.t_events[0].size)
    if arrived:
        reached, final = float(solution.t_events[0][0]), solution.y_events[0][0]
    elif solution.t.size:
        reached, final = float(solution.t[-1]), solution.y[:, -1]
    else:  # the step size underflowed before ``stop``: nothing moved that can be trusted
        return start, directions, log_norms, False
    moved = final[:size].reshape(shape)
    moved = moved / np.maximum(column_norms(moved), 1e-300)
    return reached, moved, final[size:].copy(), arrived


def step_dormant(
    problem: AgfProblem,
    directions: np.ndarray,
    log_norms: np.ndarray,
    residual: np.ndarray,
    start: float,
    stop: float,
    threshold: float = ACTIVATION_NORM,
    norm_threshold: float = math.inf,
    collective: bool = False,
    departure: Callable[[np.ndarray, np.ndarray], float] | None = None,
    since: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[float, np.ndarray, np.ndarray, bool]:
    """``integrate_dormant`` in the optimiser's own steps: each step maps every dormant
    neuron by θ̄ ← normalise(θ̄ + s' P⊥∇G), ln ρ ← ln ρ + ln‖(1 + 3sG) θ̄ + s P⊥∇G‖
    (``GrowthLaw.flow``), the step gradient descent takes on the held residual, until the
    first step after which a neuron's ρ_out (or its orbit's since ``start``,
    ``collective``) reaches ``threshold`` (or ρ reaches ``norm_threshold``, or
    ``departure`` is ≥ 0), or the last whole step before ``stop``. Exact while a step
    changes a norm by less than 100 % (``flow`` keeps 1 + 3sG ≥ 10⁻³)."""
    law = problem.law
    # no arrival while every ρ is below both thresholds (ρ_out ≤ ρ; an orbit's gain ρ_O
    # is at most (number of neurons)^{1/3} times the largest ρ_out)
    reach = threshold / max(log_norms.size, 1) ** (1.0 / 3.0) if collective else threshold
    within_reach = math.log(min(reach, norm_threshold))
    if collective and since is None:
        since = output_log_norms(problem, directions, log_norms)
    directions = directions.copy()
    log_norms = log_norms.copy()
    time = start
    while time + 1.0 <= stop:  # whole steps only: a drop may have ended between two
        turn, tangent, growth = law.flow(problem, directions, log_norms, residual)
        directions += turn * tangent
        directions /= np.maximum(column_norms(directions), 1e-300)
        log_norms += growth
        time += 1.0
        if log_norms.max(initial=-math.inf) >= within_reach and arrival_margins(
                problem, directions, log_norms, threshold, norm_threshold,
                since).max() >= 0.0:
            return time, directions, log_norms, True
        if departure is not None and departure(directions, log_norms) >= 0.0:
            return time, directions, log_norms, True
    return time, directions, log_norms, False


def orbits_left(shares: np.ndarray) -> bool:
    """Whether an orbit with template power (a finite explained share) is explained less
    than LEARNED_FRACTION."""
    shares = np.asarray(shares, dtype=np.float64)
    return bool((np.isfinite(shares) & (shares < LEARNED_FRACTION)).any())


def learning_horizon(horizon: float, run_end: float, time: float, shares: np.ndarray
                     ) -> float:
    """The last step worth simulating from ``time``: ``horizon`` while an orbit is left
    to learn (``orbits_left``), else the run's end ``run_end`` (or ``time`` past it) —
    the loss curve is compared with gradient descent's over the run's steps."""
    if orbits_left(shares):
        return horizon
    return min(horizon, max(run_end, time))


class SimulationStopped(Exception):
    """Raised by ``run_agf``'s ``progress`` callback to end the simulation where it is;
    nothing of it is returned."""


Progress = Callable[[float, float], None]
"""progress(step, horizon): the simulation has reached optimiser step ``step`` of at most
``horizon``; called often (every step of a drop, stretched or not, and every stretch of a
plateau), so it should be cheap."""

_PROGRESS: ContextVar[tuple[Progress, float] | None] = ContextVar("agf_progress",
                                                                  default=None)


def reached(step: float) -> None:
    """Tell ``run_agf``'s ``progress`` callback, if any, that the simulation has reached
    optimiser step ``step`` (the callback may raise SimulationStopped)."""
    listener = _PROGRESS.get()
    if listener is not None:
        listener[0](float(step), listener[1])


def past_learning(reason: str, limit: float, horizon: float) -> str:
    """``reason``, or EVERY_ORBIT_LEARNED where the horizon reached is the run's end that
    ``learning_horizon`` gave once no orbit was left to learn."""
    return EVERY_ORBIT_LEARNED if reason == HORIZON_REACHED and limit < horizon else reason


def stop_before_round(dormant: np.ndarray, loss: float, initial_loss: float, done: int,
                      max_rounds: int | None, time: float, horizon: float) -> str | None:
    """Why AGF stops before another round, or None to go on: no dormant neuron left, the
    loss vanished (below VANISHED_LOSS of the initial loss), ``max_rounds`` done, or the
    horizon reached."""
    if dormant.size == 0:
        return "every neuron is active"
    if loss <= VANISHED_LOSS * initial_loss:
        return "the loss has vanished"
    if max_rounds is not None and done >= max_rounds:
        return f"{max_rounds} rounds done"
    if time >= horizon:
        return HORIZON_REACHED
    return None


def run_agf(
    config: RunConfig,
    max_rounds: int | None = None,
    *,
    horizon: float | None = None,
    tolerance: float = TOLERANCE,
    problem: AgfProblem | None = None,
    drops: str = "cost",
    progress: Progress | None = None,
) -> AgfResult:
    """Alternate utility maximisation and cost minimisation (see the module docstring).

    ``horizon`` is the last optimiser step simulated (default HORIZON_FACTOR × steps;
    past the run's own steps the simulation stops earlier once every orbit is learned,
    ``learning_horizon``);
    ``tolerance`` the relative accuracy of the dormant integration. ``drops`` = "cost"
    resolves each drop by cost minimisation (above), "optimiser" by the configuration's
    own optimiser steps on the whole network (``backend.agf.drops``). ``progress``
    (``Progress``) hears how far the simulation has come, and may stop it by raising
    SimulationStopped.
    """
    if drops not in DROP_MODES:
        raise ValueError(f"drops must be one of {', '.join(DROP_MODES)}, not {drops!r}")
    from backend.threads import thread_policy

    last = float(horizon if horizon is not None else HORIZON_FACTOR * max(config.steps, 1))
    listening = _PROGRESS.set(None if progress is None else (progress, last))
    try:
        with thread_policy():  # the drivers' policy: one thread unless IRREP_STUDIO_THREADS
            return _run_agf(config, max_rounds, last, tolerance, problem, drops)
    finally:
        _PROGRESS.reset(listening)


def _run_agf(config: RunConfig, max_rounds: int | None, horizon: float,
             tolerance: float, problem: AgfProblem | None, drops: str) -> AgfResult:
    problem = problem or agf_problem(config)
    if drops == "optimiser":
        from backend.agf.drops import run_agf_with_drops

        return run_agf_with_drops(problem, horizon, max_rounds, tolerance,
                                  run_end=float(config.steps))
    theta = problem.initial_theta.copy()
    width = theta.shape[2]
    norms = column_norms(theta)
    log_norms = np.log(np.maximum(norms, 1e-300))
    directions = theta / np.maximum(norms, 1e-300)
    active = np.zeros(width, dtype=bool)
    orbit_of = np.full((theta.shape[0], width), -1, dtype=np.int64)
    residual = problem.residual(theta[:, :, active])
    initial_loss = problem.residual_loss(residual)
    current_loss = initial_loss
    labels = [orbit.label for orbit in problem.irreps.orbits]
    rounds: list[AgfRound] = []
    explained: list[np.ndarray] = []
    time = 0.0
    stop_reason = HORIZON_REACHED
    together = math.log(COACTIVATION * ACTIVATION_NORM)
    run_end = float(config.steps)
    while True:
        reached(time)
        dormant = np.flatnonzero(~active)
        limit = learning_horizon(horizon, run_end, time, explained[-1] if explained
                                 else problem.explained(residual))
        reason = stop_before_round(dormant, current_loss, initial_loss, len(rounds),
                                   max_rounds, time, limit)
        if reason is not None:
            stop_reason = past_learning(reason, limit, horizon)
            break
        time, moved, grown, arrived = integrate_dormant(
            problem, directions[:, :, dormant], log_norms[dormant], residual, time, limit,
            tolerance,
        )
        directions[:, :, dormant] = moved
        log_norms[dormant] = grown
        reached(time)
        if not arrived:
            stop_reason = past_learning(HORIZON_REACHED, limit, horizon)
            break
        # Neurons within a factor COACTIVATION of the activation norm are of order one as
        # well (their output, ∝ ρ³, is no longer negligible): they join the round. A
        # neuron writes into the orbit of its output weights ξ, which labels it.
        # A neuron is of order one when its output on the orbit of ξ is (output_log_norms);
        # every layer of a newcomer is then kept on that orbit, and its parts elsewhere
        # (input weights grown on an orbit learned earlier) are dropped.
        output, dominant = output_log_norms(problem, directions[:, :, dormant], grown)
        joining = output >= together
        # The neuron furthest on is the one that arrived, and joins whatever its output
        # reads here: where its ξ is near-tied between two orbits the stopping event's
        # margin jumps as its dominant orbit flips, and the root returned may lie on the
        # low side of the jump (c11-agf seed 32, step ≈ 8036).
        joining[np.argmax(output)] = True
        newcomers = dormant[joining]
        log_norms[newcomers] = np.minimum(log_norms[newcomers], math.log(ACTIVATION_NORM))
        orbit_index = dominant[joining]
        orbit_of[:, newcomers] = orbit_index[None, :]
        active[newcomers] = True
        theta[:, :, active] = directions[:, :, active] * np.exp(log_norms[active])
        theta[:, :, newcomers] = problem.restrict(theta[:, :, newcomers],
                                                  orbit_of[:, newcomers])
        loss_before = current_loss
        # The loss splits over orbits (a neuron writes only into its ξ's orbit of the
        # output), so only the orbits that gained neurons are trained again.
        changed = active & np.isin(orbit_of[-1], orbit_index)
        trained = problem.minimise_cost(theta[:, :, changed], orbit_of[:, changed])
        theta[:, :, changed] = trained
        changed_norms = column_norms(trained)
        log_norms[changed] = np.log(np.maximum(changed_norms, 1e-300))
        directions[:, :, changed] = trained / np.maximum(changed_norms, 1e-300)
        residual = problem.residual(theta[:, :, active])
        current_loss = problem.residual_loss(residual)
        norms = np.exp(log_norms)
        snapshot = _current_weights(theta, directions, norms, active)
        explained.append(problem.explained(residual))
        named = sorted({labels[i] for i in orbit_index}, key=labels.index)
        rounds.append(
            AgfRound(
                round=len(rounds) + 1,
                step=time,
                orbits=named,
                neurons=[int(i) for i in newcomers],
                loss_before=loss_before,
                loss_after=current_loss,
                weights=_split_weights(snapshot),
                partial=part_only(named, labels, explained[-1]),
            )
        )
    norms = np.exp(log_norms)
    return AgfResult(
        rounds=rounds,
        initial_loss=initial_loss,
        stop_reason=stop_reason,
        final_step=time,
        orbit_labels=labels,
        final_weights=_split_weights(_current_weights(theta, directions, norms, active)),
        orbit_dims=[int(orbit.dim) for orbit in problem.irreps.orbits],
        explained=explained,
    )
