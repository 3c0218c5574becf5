"""The configuration's optimiser on numpy weights, and its steps taken as a flow.

Gradient descent with heavy-ball momentum and per-neuron scaled GD step the weights as the
trainer does (``OptimiserSteps``); ``FlowStepper`` takes those steps in stretches where
the flow creeps, for the drops (``drops``) and the held network's relaxation on a plateau
(``plateau``).
"""

from __future__ import annotations

import math

import numpy as np

from backend.agf.simulation import AgfProblem

STEP_TOLERANCE = 1e-4
"""Largest local error of a stretched step, relative to each neuron's norm."""

MAX_STEP_LENGTH = 64.0
"""Longest stretched step, in optimiser steps."""


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


class FlowStepper:
    """Steps of the optimiser's flow. Without momentum the optimiser's step is an Euler
    step of length 1 of its flow θ' = F(θ) = −η P(θ) ∇L (P = 1, or c ‖θ_m‖^{1−k} per
    neuron), so a step of length h ≥ 1 is the same step at the rate h η. The length is
    chosen so that every neuron's local error, estimated by (h/2) ‖F_m(θ + h F) − F_m(θ)‖
    against its norm, stays below ``STEP_TOLERANCE``: h grows where the drop's slow tail
    creeps and falls back to 1, the optimiser's own step, where anything moves fast.
    Heavy-ball momentum keeps h = 1 (the trainer's steps exactly). With ``moving`` (a
    mask of neurons) only those neurons move; the others stay as they are."""

    def __init__(self, problem: AgfProblem, theta: np.ndarray,
                 moving: np.ndarray | None = None) -> None:
        self.problem = problem
        self.moving = moving
        self.optimiser = OptimiserSteps(problem.config)
        self.stretch = self.optimiser.momentum == 0.0
        self.length = 1.0
        self.evaluations = 0
        self.theta = theta
        self.loss, self.flow = self._flow_at(theta)

    def _flow_at(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        loss, gradient = self.problem.optimiser_gradient(theta)
        self.evaluations += 1
        flow = theta - self.optimiser.step(theta, gradient)
        if self.moving is not None:
            flow[:, :, ~self.moving] = 0.0
        return loss, flow

    def advance(self, most: float, norms: np.ndarray) -> float:
        """One accepted step of at most ``most`` optimiser steps; returns its length."""
        while True:
            length = min(self.length, most) if self.stretch else 1.0
            moved = self.theta - length * self.flow
            loss, flow = self._flow_at(moved)
            if not self.stretch:
                break
            error = float((0.5 * length * column_norms(flow - self.flow)
                           / np.maximum(np.maximum(norms, column_norms(moved)), 1e-300)).max())
            grow = 0.9 * math.sqrt(STEP_TOLERANCE / max(error, 1e-300))
            if error <= STEP_TOLERANCE or length <= 1.0:
                self.length = min(MAX_STEP_LENGTH, max(1.0, length * min(2.0, grow)))
                break
            self.length = max(1.0, length * max(0.2, grow))
        self.theta, self.loss, self.flow = moved, loss, flow
        return length


def column_norms(theta: np.ndarray) -> np.ndarray:
    """‖θ_m‖ of every neuron of weights (L, n, M)."""
    return np.sqrt(np.einsum("lnm,lnm->m", theta, theta))
