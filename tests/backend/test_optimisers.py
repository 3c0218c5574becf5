"""The hand-written optimisers against torch.optim and the formulas of the reference."""

import math

import pytest
import torch

from backend.training.optimisers import Adam, AdamW, GradientDescent, ScaledGradientDescent


def quadratic_gradient(param):
    return 2.0 * (param - torch.linspace(-1, 1, param.numel(), dtype=param.dtype)
                  .reshape(param.shape))


@pytest.mark.parametrize("kind, reference, decay", [
    (Adam, torch.optim.Adam, 0.0), (Adam, torch.optim.Adam, 0.1),
    (AdamW, torch.optim.AdamW, 0.1),
])
def test_adam_matches_torch(kind, reference, decay):
    start = torch.randn(2, 3, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    mine = start.clone()
    optimiser = kind(0.05, 0.8, 0.95, 1e-8, weight_decay=decay)
    theirs = start.clone().requires_grad_(True)
    torch_optimiser = reference([theirs], lr=0.05, betas=(0.8, 0.95), eps=1e-8,
                                weight_decay=decay)
    for _ in range(25):
        optimiser.step(mine, quadratic_gradient(mine))
        torch_optimiser.zero_grad()
        theirs.grad = quadratic_gradient(theirs.detach())
        torch_optimiser.step()
    torch.testing.assert_close(mine, theirs.detach(), rtol=1e-12, atol=1e-12)


def test_momentum_matches_torch_sgd():
    start = torch.randn(5, 4, dtype=torch.float64)
    mine, theirs = start.clone(), start.clone().requires_grad_(True)
    optimiser = GradientDescent(0.1, momentum=0.7, weight_decay=0.01)
    torch_optimiser = torch.optim.SGD([theirs], lr=0.1, momentum=0.7, weight_decay=0.01)
    for _ in range(20):
        optimiser.step(mine, quadratic_gradient(mine))
        theirs.grad = quadratic_gradient(theirs.detach())
        torch_optimiser.step()
    torch.testing.assert_close(mine, theirs.detach(), rtol=1e-12, atol=1e-12)


def test_projected_step_on_the_sphere():
    """ν ← normalise(ν − η (g − ⟨g, ν⟩ν)) column by column."""
    nu = torch.randn(3, 6, 5, dtype=torch.float64)
    nu /= nu.norm(dim=1, keepdim=True)
    g = torch.randn(3, 6, 5, dtype=torch.float64)
    expected = nu - 0.2 * (g - (g * nu).sum(1, keepdim=True) * nu)
    expected /= expected.norm(dim=1, keepdim=True)
    GradientDescent(0.2, sphere=True).step(nu, g.clone())
    torch.testing.assert_close(nu, expected)
    torch.testing.assert_close(nu.norm(dim=1), torch.ones(3, 5, dtype=torch.float64))


def test_scaled_step_uses_each_neurons_norm():
    """θ_m ← θ_m − η c ‖θ_m‖^{1−k} g_m with θ_m all of neuron m's parameters."""
    theta = torch.randn(3, 4, 7, dtype=torch.float64)
    g = torch.randn(3, 4, 7, dtype=torch.float64)
    norms = theta.pow(2).sum(dim=(0, 1)).sqrt()
    expected = theta - 0.1 * math.log(1e4) * norms.pow(-1.0) * g
    ScaledGradientDescent(0.1, exponent=2.0, factor=math.log(1e4)).step(theta, g.clone())
    torch.testing.assert_close(theta, expected)
