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
    """(L, ∂L/∂θ) of an ``AgfProblem``'s training pairs in ``precision``. Every
    intermediate lives in a buffer made once: a drop evaluates thousands of gradients,
    and fresh temporaries of these sizes grew the heap by up to 180 MB over one S4 run."""

    def __init__(self, problem, precision: str) -> None:
        dtype = torch.float64 if precision == "float64" else torch.float32
        self.encoding = torch.as_tensor(problem.encoding, dtype=dtype)
        self.targets = torch.as_tensor(problem.targets, dtype=dtype)
        self.shared = problem.shared
        self.all_pairs = problem.task.uses_all_pairs  # pairs p = g1·n + g2 in order
        self.first = torch.as_tensor(problem.first, dtype=torch.int64)
        self.second = torch.as_tensor(problem.second, dtype=torch.int64)
        layers, order, width = problem.initial_theta.shape
        pairs, outputs = self.targets.shape
        empty = lambda *shape: torch.empty(shape, dtype=dtype)  # noqa: E731
        self.weights = empty(layers, order, width)
        self.gradient = empty(layers, order, width)
        self.first_embedding, self.second_embedding = empty(order, width), empty(order, width)
        self.hidden, self.squared = empty(pairs, width), empty(pairs, width)
        self.error, self.hidden_gradient = empty(pairs, outputs), empty(pairs, width)
        self.first_sum, self.second_sum = empty(order, width), empty(order, width)

    def __call__(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        weights, x = self.weights, self.encoding
        weights.copy_(torch.from_numpy(np.ascontiguousarray(theta)))
        a = torch.mm(x, weights[0], out=self.first_embedding)
        b = a if self.shared else torch.mm(x, weights[1], out=self.second_embedding)
        hidden = self.hidden
        if self.all_pairs:
            torch.add(a[:, None, :], b[None, :, :], out=hidden.view(a.shape[0], -1, a.shape[1]))
        else:
            torch.index_select(a, 0, self.first, out=hidden)
            hidden.add_(torch.index_select(b, 0, self.second, out=self.hidden_gradient))
        squared = torch.mul(hidden, hidden, out=self.squared)
        error = torch.mm(squared, weights[-1].T, out=self.error).sub_(self.targets)
        loss = float(torch.linalg.vector_norm(error, dtype=torch.float64)) ** 2 / error.numel()
        error.mul_(2.0 / error.numel())
        torch.mm(error.T, squared, out=self.gradient[-1])
        hidden_gradient = torch.mm(error, weights[-1], out=self.hidden_gradient)
        hidden_gradient.mul_(hidden).mul_(2.0)
        if self.all_pairs:
            grid = hidden_gradient.view(x.shape[0], x.shape[0], -1)
            torch.sum(grid, 1, out=self.first_sum)
            torch.sum(grid, 0, out=self.second_sum)
        else:
            self.first_sum.zero_().index_add_(0, self.first, hidden_gradient)
            self.second_sum.zero_().index_add_(0, self.second, hidden_gradient)
        if self.shared:
            self.first_sum.add_(self.second_sum)
            torch.mm(x.T, self.first_sum, out=self.gradient[0])
        else:
            torch.mm(x.T, self.first_sum, out=self.gradient[0])
            torch.mm(x.T, self.second_sum, out=self.gradient[1])
        return loss, self.gradient.numpy().astype(np.float64)
