"""The loss gradient a drop's optimiser steps take, in the trainer's precision.

Inside a drop resolved by the optimiser (``drops``) the whole network takes the
configuration's own steps, so each step needs L and ∂L/∂θ of the dense problem,

    H = E1ᵀ X θ¹ + E2ᵀ X θ²,  E = H² ξᵀ − Y,  L = mean E²,
    ∂L/∂ξ = (2/(P n)) Eᵀ H²,  ∂L/∂H = (4/(P n)) H ⊙ (E ξ),  ∂L/∂θ^i = Xᵀ Ei ∂L/∂H,

written here in torch in the configuration's ``precision`` — the precision gradient
descent itself runs in — instead of numpy float64 (``AgfProblem.loss_and_gradient``, the
reference): float32 on S4 at width 256 takes 0.24 ms where numpy float64 takes 2.4 ms.
The loss is summed in float64. Weights come and go as numpy float64 (L, n, M).
"""

from __future__ import annotations

import numpy as np
import torch


class DenseDropGradient:
    """(L, ∂L/∂θ) of an ``AgfProblem``'s training pairs in ``precision``."""

    def __init__(self, problem, precision: str) -> None:
        self.dtype = torch.float64 if precision == "float64" else torch.float32
        self.encoding = torch.as_tensor(problem.encoding, dtype=self.dtype)
        self.targets = torch.as_tensor(problem.targets, dtype=self.dtype)
        self.shared = problem.shared
        self.order = problem.order
        self.all_pairs = problem.task.uses_all_pairs  # pairs p = g1·n + g2 in order
        self.first = torch.as_tensor(problem.first, dtype=torch.int64)
        self.second = torch.as_tensor(problem.second, dtype=torch.int64)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights = torch.as_tensor(theta, dtype=self.dtype)
        x = self.encoding
        a = x @ weights[0]
        b = a if self.shared else x @ weights[1]
        if self.all_pairs:
            hidden = (a[:, None, :] + b[None, :, :]).reshape(-1, a.shape[1])
        else:
            hidden = a[self.first] + b[self.second]
        squared = hidden * hidden
        error = squared @ weights[-1].T - self.targets
        loss = float((error * error).sum(dtype=torch.float64)) / error.numel()
        error *= 2.0 / error.numel()
        readout = error.T @ squared
        hidden_gradient = 2.0 * hidden * (error @ weights[-1])
        if self.all_pairs:
            grid = hidden_gradient.reshape(self.order, self.order, -1)
            first, second = x.T @ grid.sum(1), x.T @ grid.sum(0)
        else:
            width = hidden_gradient.shape[1]
            zeros = hidden_gradient.new_zeros((self.order, width))
            first = x.T @ zeros.index_add(0, self.first, hidden_gradient)
            second = x.T @ zeros.index_add(0, self.second, hidden_gradient)
        layers = [first + second] if self.shared else [first, second]
        gradient = torch.stack([*layers, readout])
        return loss, gradient.numpy().astype(np.float64)
