"""The configuration's optimiser on numpy weights, and its steps taken as a flow.

Gradient descent with heavy-ball momentum and per-neuron scaled GD step the weights as the
trainer does (``OptimiserSteps``); ``FlowStepper`` takes those steps in stretches where
the flow creeps, for the drops (``drops``) and the held network's relaxation on a plateau
(``plateau``).
"""

from __future__ import annotations

import math

import numpy as np

from backend.agf.simulation import AgfProblem, column_norms

STEP_TOLERANCE = 1e-4
"""Largest local error of a stretched step, relative to each neuron's norm."""

MAX_STEP_LENGTH = 64.0
"""Longest stretched step, in optimiser steps."""


class OptimiserSteps:
    """The configuration's optimiser (gd with momentum, or per-neuron scaled GD) on numpy
    weights (L, n, M), float64: its step's displacement before momentum (``FlowStepper``
    carries the momentum)."""

    def __init__(self, config) -> None:
        self.scaled = config.optimiser == "scaled_gd"
        self.rate = float(config.learning_rate)
        self.momentum = 0.0 if self.scaled else float(config.momentum)
        self.exponent = float(config.scaled_exponent)
        self.factor = (math.log(1.0 / config.init_scale)
                       if self.scaled and config.scaled_log_factor else 1.0)

    def displacement(self, theta: np.ndarray, gradient: np.ndarray) -> np.ndarray:
        """D = η P(θ) g, the step without momentum: P = 1, or c ‖θ_m‖^{1−k} per neuron."""
        if self.scaled:
            scale = np.maximum(column_norms(theta), 1e-300) ** (1.0 - self.exponent)
            return (self.rate * self.factor) * gradient * scale
        return self.rate * gradient


class FlowStepper:
    """Steps of the optimiser's flow. One optimiser step is v ← μ v + D(θ), θ ← θ − v
    (``OptimiserSteps.displacement``: D = η P(θ) ∇L; μ = 0 without momentum), v starting
    at the plateau's steady D/(1 − μ). A stretched step of length h ≥ 1 moves
    θ ← θ − h v: where the network creeps, v is at its steady D/(1 − μ) and the step
    stands for h optimiser steps of the flow θ' = −D(θ)/(1 − μ). h is the largest (up to
    ``MAX_STEP_LENGTH``) for which every neuron's local error of that flow, estimated by
    (h/2) ‖D_m(θ − h v) − D_m(θ)‖/(1 − μ) against its norm, stays below
    ``STEP_TOLERANCE``: h grows where a drop's slow tail or a plateau creeps and falls
    back to 1, the optimiser's own step, where anything moves fast. Without momentum
    this is Euler's method on the flow. With momentum it is heavy-ball at the rate hη,
    stable along a curvature λ while hηλ < 2(1 + μ) (h is also kept within half of that,
    λ read along each step); its stiff directions ring, so a drop with momentum keeps
    h = 1, the trainer's own steps, and only the held network's relaxation on a plateau
    (``moving``: a mask of the neurons that move, the others stay as they are) is
    stretched."""

    def __init__(self, problem: AgfProblem, theta: np.ndarray,
                 moving: np.ndarray | None = None) -> None:
        self.problem = problem
        self.moving = moving
        self.optimiser = OptimiserSteps(problem.config)
        self.momentum = self.optimiser.momentum
        self.stretch = self.momentum == 0.0 or moving is not None
        self.length = 1.0
        self.evaluations = 0
        self.theta = theta
        self.loss, self.force = self._force_at(theta)
        self.velocity = self.force / (1.0 - self.momentum)  # the steady velocity

    @property
    def flow(self) -> np.ndarray:
        """The next optimiser step's displacement, μ v + D(θ)."""
        return self.momentum * self.velocity + self.force

    def _force_at(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        loss, gradient = self.problem.optimiser_gradient(theta)
        self.evaluations += 1
        force = self.optimiser.displacement(theta, gradient)
        if self.moving is not None:
            force[:, :, ~self.moving] = 0.0
        return loss, force

    def advance(self, most: float, norms: np.ndarray) -> float:
        """One accepted step of at most ``most`` optimiser steps; returns its length."""
        velocity = self.flow
        while True:
            length = min(self.length, most) if self.stretch else 1.0
            moved = self.theta - length * velocity
            loss, force = self._force_at(moved)
            if not self.stretch:
                break
            change = force - self.force
            error = float((0.5 * length / (1.0 - self.momentum) * column_norms(change)
                           / np.maximum(np.maximum(norms, column_norms(moved)), 1e-300)).max())
            grow = 0.9 * math.sqrt(STEP_TOLERANCE / max(error, 1e-300))
            stable = self._stable_length(change, length * velocity)
            if (error <= STEP_TOLERANCE and length <= stable) or length <= 1.0:
                self.length = min(MAX_STEP_LENGTH, stable,
                                  max(1.0, length * min(2.0, grow)))
                break
            self.length = max(1.0, min(length * max(0.2, grow), stable))
        self.theta, self.loss, self.force, self.velocity = moved, loss, force, velocity
        return length

    def _stable_length(self, change: np.ndarray, step: np.ndarray) -> float:
        """With momentum, half the longest stable step along the curvature the step
        met: ηλ ≈ ‖ΔD‖/‖Δθ‖, and heavy-ball at the rate hη is stable while
        hηλ < 2(1 + μ). Without, no bound (the error estimate keeps Euler's step
        stable)."""
        if self.momentum == 0.0:
            return math.inf
        bend = math.sqrt(float(np.sum(change**2)) / max(float(np.sum(step**2)), 1e-300))
        return max(1.0, (1.0 + self.momentum) / max(bend, 1e-300))
