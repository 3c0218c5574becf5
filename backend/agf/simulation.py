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

t in optimiser steps. The dormant neurons are integrated together (one vectorised
evaluation of G and its gradient per time step, the step chosen so that no neuron turns by
more than ``angle_step`` radians or grows by more than that in log-norm). A neuron
**activates** when its norm reaches 1; the active neurons (the new ones at their current
weights) are then trained to convergence on the loss by L-BFGS (**cost minimisation**),
which changes the residual. Dormant neurons keep their directions and norms. The loop
ends when no neuron is dormant, the loss has vanished, nothing is left to grow, or the
horizon is reached. Each round records its time, activated neurons, their orbits, the
loss before and after, and all weights after the round.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import minimize

from backend.agf.theory import AgfTheoryError
from backend.config import RunConfig

ACTIVATION_NORM = 1.0
"""A dormant neuron becomes active when its norm ‖(θ¹, θ², ξ)‖ reaches this value."""

HORIZON_FACTOR = 3.0
"""By default AGF runs up to this many times the configuration's number of steps."""

ANGLE_STEP = 0.05
"""Largest turn (radians) or log-norm growth of any dormant neuron in one time step."""

COST_ITERATIONS = 500
"""Most L-BFGS iterations of one cost minimisation."""

VANISHED_LOSS = 1e-9
"""AGF stops once the loss is below this fraction of the initial loss."""


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


def check_agf_config(config: RunConfig) -> None:
    """Refuse, before any work, a configuration that AGF does not describe."""
    problems = []
    if config.parameterisation != "free":
        problems.append(
            "parameterisation = 'sphere' keeps every weight vector at unit norm, so no neuron "
            "is ever dormant; set parameterisation = 'free' with a small init_scale"
        )
    if config.activation != "square":
        problems.append(
            f"activation = {config.activation!r}: AGF here is derived for σ(z) = z²; "
            "set activation = 'square'"
        )
    if config.loss != "mse":
        problems.append("loss = 'cross_entropy': AGF needs loss = 'mse'")
    if config.optimiser not in ("gd", "scaled_gd"):
        problems.append(
            f"optimiser = {config.optimiser!r}: AGF predicts gradient descent; set optimiser "
            "= 'gd' (optionally with momentum) or 'scaled_gd'"
        )
    if config.weight_decay > 0:
        problems.append("weight_decay > 0 is not part of AGF; set weight_decay = 0")
    if config.init_scale >= 0.1:
        problems.append(
            f"init_scale = {config.init_scale:g} is not small; AGF needs a small "
            "initialisation, e.g. init_scale = 1e-3"
        )
    if problems:
        raise AgfTheoryError(
            "this configuration is outside Alternating Gradient Flows: " + "; ".join(problems)
        )


@dataclass(frozen=True)
class GrowthLaw:
    """Optimiser step δ_m = −rate ρ_m^{1−k} ∇_{θ_m} L seen by a dormant neuron."""

    rate: float
    exponent: float

    @classmethod
    def of(cls, config: RunConfig) -> GrowthLaw:
        if config.optimiser == "scaled_gd":
            factor = math.log(1.0 / config.init_scale) if config.scaled_log_factor else 1.0
            return cls(config.learning_rate * factor, config.scaled_exponent)
        return cls(config.learning_rate / (1.0 - config.momentum), 1.0)

    def speed(self, norms: np.ndarray) -> np.ndarray:
        """η_eff ρ^{2−k}: the angular speed per unit projected gradient."""
        return self.rate * norms ** (2.0 - self.exponent)

    def grow(
        self, norms: np.ndarray, utility: np.ndarray, turn: np.ndarray, dt: float
    ) -> np.ndarray:
        """ρ after dt steps at fixed direction.

        k = 2 (exponential growth): one optimiser step multiplies ρ by exactly
        m = sqrt((1 + 3ηG)² + (η‖P⊥∇G‖)²), so ρ ← ρ m^dt — the discrete steps, not the
        flow e^{3ηG dt}, which at 3ηG ≈ 0.05 would run ~25 % fast over a few hundred
        steps. Otherwise ρ^{k−2} changes linearly by −3(2−k)ηG dt (the flow; there the
        per-step growth 3ηρ^{2−k}G is tiny while the neuron is dormant), and blow-up, for
        k < 2, is cut at the activation norm. ``turn`` is η ρ^{2−k} ‖P⊥∇G‖.
        """
        k = self.exponent
        if abs(k - 2.0) < 1e-12:
            radial = 1.0 + 3.0 * self.rate * utility
            factor = np.sqrt(radial**2 + turn**2)
            return norms * np.exp(dt * np.log(np.maximum(factor, 1e-300)))
        q = norms ** (k - 2.0) - 3.0 * (2.0 - k) * self.rate * utility * dt
        if k < 2.0:
            q = np.maximum(q, ACTIVATION_NORM ** (k - 2.0))
        return np.maximum(q, 1e-300) ** (1.0 / (k - 2.0))

    def time_to_activation(self, norms: np.ndarray, utility: np.ndarray) -> np.ndarray:
        """Time for ρ to reach the activation norm at fixed direction (inf if never)."""
        k = self.exponent
        positive = utility > 0
        safe = np.where(positive, utility, 1.0)
        if abs(k - 2.0) < 1e-12:
            time = np.log(ACTIVATION_NORM / norms) / np.log1p(3.0 * self.rate * safe)
        elif k < 2.0:
            gap = norms ** (k - 2.0) - ACTIVATION_NORM ** (k - 2.0)
            time = gap / (3.0 * (2.0 - k) * self.rate * safe)
        else:
            return np.full_like(norms, math.inf)
        return np.where(positive, np.maximum(time, 0.0), math.inf)


class AgfProblem:
    """The data and initial weights of one configuration, with the loss, its gradient and
    the dormant utility written out in numpy (float64).

    Weights are held like the network's ``theta``: (L, n, M), layers θ¹, θ², ξ (L = 2 with
    a shared embedding). With X the encoding (row g = x_g), E1, E2 the (n, P) incidence
    matrices of the first and second element of each training pair:
    A = X θ¹, B = X θ², H = E1ᵀA + E2ᵀB (P × M), f = H² ξᵀ (P × n).
    """

    def __init__(self, config: RunConfig) -> None:
        from backend.trainer import Trainer

        check_agf_config(config)
        self.config = config
        trainer = Trainer(config.replace(precision="float64", device="cpu"))
        self.irreps = trainer.irreps
        self.fourier = trainer.fourier
        self.task = trainer.task
        self.shared = bool(config.shared_embedding)
        self.initial_theta = trainer.theta.detach().cpu().numpy().astype(np.float64)
        n = self.task.order
        pairs = np.asarray(self.task.train_pairs, dtype=np.int64)
        first, second = pairs // n, pairs % n
        self.first_incidence = np.zeros((n, pairs.size))
        self.first_incidence[first, np.arange(pairs.size)] = 1.0
        self.second_incidence = np.zeros((n, pairs.size))
        self.second_incidence[second, np.arange(pairs.size)] = 1.0
        self.first, self.second = first, second
        self.encoding = np.asarray(self.task.encoding, dtype=np.float64)
        self.targets = np.asarray(self.task.targets(), dtype=np.float64)[pairs]
        self.law = GrowthLaw.of(config)

    @property
    def order(self) -> int:
        return self.task.order

    def hidden(self, theta: np.ndarray) -> np.ndarray:
        """H (P × M): pre-activations of the training pairs."""
        a = self.encoding @ theta[0]
        b = a if self.shared else self.encoding @ theta[1]
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

    def minimise_cost(self, theta: np.ndarray) -> np.ndarray:
        """Train the active neurons to a stationary point of the loss (L-BFGS)."""
        shape = theta.shape

        def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
            loss, gradient = self.loss_and_gradient(flat.reshape(shape))
            return loss, gradient.ravel()

        result = minimize(
            objective,
            theta.ravel(),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": COST_ITERATIONS, "ftol": 1e-12, "gtol": 1e-9, "maxcor": 20},
        )
        return result.x.reshape(shape)

    def explained(self, residual: np.ndarray) -> np.ndarray:
        """1 − mean_pairs P_O(r(pair)) / P_O(t) per orbit (NaN where P_O(t) = 0)."""
        power = np.asarray(self.task.template_power, dtype=np.float64)
        left = self.fourier.orbit_power(residual).mean(axis=0)
        return np.where(power > 0, 1.0 - left / np.where(power > 0, power, 1.0), np.nan)

    def dominant_orbits(self, theta: np.ndarray) -> np.ndarray:
        """Dominant real orbit of each neuron: argmax_O Σ_layers P_O(·)/‖·‖² over a, b, c."""
        a = self.encoding @ theta[0]
        b = a if self.shared else self.encoding @ theta[1]
        c = self.encoding @ theta[-1]
        power = self.fourier.orbit_power(np.stack([a.T, b.T, c.T]))  # (3, M, K)
        totals = power.sum(axis=2, keepdims=True)
        normalised = np.divide(power, totals, out=np.zeros_like(power), where=totals > 0)
        return normalised.sum(axis=0).argmax(axis=1)


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


def _column_norms(theta: np.ndarray) -> np.ndarray:
    return np.sqrt(np.einsum("lnm,lnm->m", theta, theta))


def run_agf(
    config: RunConfig,
    max_rounds: int | None = None,
    *,
    horizon: float | None = None,
    angle_step: float = ANGLE_STEP,
    problem: AgfProblem | None = None,
) -> AgfResult:
    """Alternate utility maximisation and cost minimisation (see the module docstring).

    ``horizon`` is the last optimiser step simulated (default HORIZON_FACTOR × steps).
    """
    problem = problem or AgfProblem(config)
    horizon = float(horizon if horizon is not None else HORIZON_FACTOR * max(config.steps, 1))
    law = problem.law
    theta = problem.initial_theta.copy()
    width = theta.shape[2]
    norms = _column_norms(theta)
    directions = theta / np.maximum(norms, 1e-300)
    active = np.zeros(width, dtype=bool)
    residual = problem.targets.copy()
    initial_loss = float(np.mean(residual**2))
    current_loss = initial_loss
    labels = [orbit.label for orbit in problem.irreps.orbits]
    rounds: list[AgfRound] = []
    explained: list[np.ndarray] = []
    time = 0.0
    stop_reason = "horizon reached"
    while True:
        dormant = np.flatnonzero(~active)
        if dormant.size == 0:
            stop_reason = "every neuron is active"
            break
        if current_loss <= VANISHED_LOSS * initial_loss:
            stop_reason = "the loss has vanished"
            break
        if max_rounds is not None and len(rounds) >= max_rounds:
            stop_reason = f"{max_rounds} rounds done"
            break
        current = directions[:, :, dormant]
        utility, gradient = problem.utility_and_gradient(current, residual)
        tangent = gradient - 3.0 * utility * current
        # One optimiser step moves θ̄ by η s P⊥∇G / (1 + 3η s G), s = ρ^{2−k}.
        speed = law.speed(norms[dormant])
        speed = speed / np.maximum(1.0 + 3.0 * speed * utility, 1e-3)
        turn = speed * np.sqrt(np.einsum("lnm,lnm->m", tangent, tangent))
        growth = 3.0 * speed * np.abs(utility)
        fastest = float(np.maximum(turn, growth).max())
        dt = angle_step / fastest if fastest > 0 else math.inf
        hit = law.time_to_activation(norms[dormant], utility)
        dt = min(dt, float(hit.min()), horizon - time)
        if not math.isfinite(dt) or dt <= 0:
            stop_reason = "horizon reached" if time >= horizon else "nothing left to grow"
            break
        time += dt
        moved = current + (dt * speed) * tangent
        directions[:, :, dormant] = moved / _column_norms(moved)
        new_norms = law.grow(norms[dormant], utility, turn, dt)
        norms[dormant] = new_norms
        arrived = dormant[new_norms >= ACTIVATION_NORM * (1.0 - 1e-9)]
        if arrived.size == 0:
            continue
        norms[arrived] = ACTIVATION_NORM
        theta[:, :, arrived] = directions[:, :, arrived] * ACTIVATION_NORM
        active[arrived] = True
        loss_before = current_loss
        trained = problem.minimise_cost(theta[:, :, active])
        theta[:, :, active] = trained
        active_norms = _column_norms(trained)
        norms[active] = active_norms
        directions[:, :, active] = trained / np.maximum(active_norms, 1e-300)
        residual = problem.targets - problem.outputs(trained)
        current_loss = float(np.mean(residual**2))
        snapshot = _current_weights(theta, directions, norms, active)
        orbit_index = problem.dominant_orbits(theta[:, :, arrived])
        explained.append(problem.explained(residual))
        rounds.append(
            AgfRound(
                round=len(rounds) + 1,
                step=time,
                orbits=sorted({labels[i] for i in orbit_index}, key=labels.index),
                neurons=[int(i) for i in arrived],
                loss_before=loss_before,
                loss_after=current_loss,
                weights=_split_weights(snapshot),
            )
        )
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
