"""The AGF problem by the exact quadratic identity against the dense problem (pairs formed)."""

from __future__ import annotations

import numpy as np
import pytest

from backend.agf import exact_problem, simulation
from backend.agf.exact_problem import ExactAgfProblem
from backend.config import ConfigError
from backend.presets import load_preset

CASES = {
    "C11 template": dict(),
    "C5 one-hot": dict(group="C5", encoding="onehot"),
    "D4 template": dict(group="D4", template_powers=[1.0, 2.0, 0.5, 3.0]),
    "D4 one-hot": dict(group="D4", encoding="onehot"),
    "S4 template": dict(group="S4", template_powers=[1.0, 2.0, 3.0, 4.0]),
    "S4 two orbits": dict(group="S4", template_powers=[0.0, 2.0, 0.0, 4.0]),
    "C11 shared": dict(shared_embedding=True),
}


def problems(change: dict) -> tuple[simulation.AgfProblem, ExactAgfProblem]:
    config = load_preset("c11-agf").replace(width=12, **change)
    return simulation.AgfProblem(config), ExactAgfProblem(config)


def relative(left: np.ndarray, right: np.ndarray) -> float:
    return float(np.max(np.abs(left - right)) / np.max(np.abs(right)))


@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize("active_width", [0, 5])
def test_utility_loss_and_explained_match_the_dense_problem(name, active_width):
    """G, ∇G of 7 dormant directions, the residual's loss and every orbit's explained
    share, against a residual of none or 5 active neurons of order one."""
    dense, exact = problems(CASES[name])
    rng = np.random.default_rng(1)
    layers, n = dense.initial_theta.shape[:2]
    active = 0.4 * rng.standard_normal((layers, n, active_width))
    directions = rng.standard_normal((layers, n, 7))
    directions /= np.sqrt((directions**2).sum((0, 1)))
    dense_residual, exact_residual = dense.residual(active), exact.residual(active)
    assert exact.residual_loss(exact_residual) == pytest.approx(
        dense.residual_loss(dense_residual), rel=1e-12)
    utility, gradient = dense.utility_and_gradient(directions, dense_residual)
    exact_utility, exact_gradient = exact.utility_and_gradient(directions, exact_residual)
    assert relative(exact_utility, utility) < 1e-10
    assert relative(exact_gradient, gradient) < 1e-10
    explained = dense.explained(dense_residual)
    exact_explained = exact.explained(exact_residual)
    np.testing.assert_array_equal(np.isnan(exact_explained), np.isnan(explained))
    keep = ~np.isnan(explained)
    assert keep.any()
    np.testing.assert_allclose(exact_explained[keep], explained[keep], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["S4 two orbits", "C11 shared"])
def test_utility_in_blocks_matches_the_dense_problem(name, monkeypatch):
    """Directions evaluated UTILITY_BLOCK at a time (here 3 of 7, a short last block)
    give the dense problem's G and ∇G."""
    monkeypatch.setattr(exact_problem, "UTILITY_BLOCK", 3)
    dense, exact = problems(CASES[name])
    rng = np.random.default_rng(3)
    layers, n = dense.initial_theta.shape[:2]
    active = 0.4 * rng.standard_normal((layers, n, 4))
    directions = rng.standard_normal((layers, n, 7))
    directions /= np.sqrt((directions**2).sum((0, 1)))
    utility, gradient = dense.utility_and_gradient(directions, dense.residual(active))
    ours, our_gradient = exact.utility_and_gradient(directions, exact.residual(active))
    assert relative(ours, utility) < 1e-10
    assert relative(our_gradient, gradient) < 1e-10


@pytest.mark.parametrize("name", ["C11 template", "S4 two orbits", "D4 one-hot"])
def test_orbits_and_output_norms_match_the_dense_problem(name):
    """The dominant orbit of every effective function, the norms on given orbits and the
    output norms ρ_out of dormant neurons, from the support's coordinates."""
    dense, exact = problems(CASES[name])
    rng = np.random.default_rng(5)
    directions = rng.standard_normal(dense.initial_theta.shape)
    np.testing.assert_array_equal(exact.layer_orbits(directions), dense.layer_orbits(directions))
    orbit = rng.integers(0, len(dense.irreps.orbits), size=directions.shape[2])
    np.testing.assert_allclose(exact.orbit_norms(directions, orbit),
                               dense.orbit_norms(directions, orbit), rtol=1e-10, atol=1e-14)
    log_norms = rng.standard_normal(directions.shape[2])
    ours = simulation.output_log_norms(exact, directions, log_norms)
    theirs = simulation.output_log_norms(dense, directions, log_norms)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-10)
    np.testing.assert_array_equal(ours[1], theirs[1])


@pytest.mark.parametrize("name", ["C11 template", "S4 template", "C11 shared"])
def test_loss_and_gradient_match_the_dense_problem(name):
    dense, exact = problems(CASES[name])
    theta = 0.3 * np.random.default_rng(2).standard_normal(dense.initial_theta.shape)
    loss, gradient = dense.loss_and_gradient(theta)
    exact_loss, exact_gradient = exact.loss_and_gradient(theta)
    assert exact_loss == pytest.approx(loss, rel=1e-12)
    assert relative(exact_gradient, gradient) < 1e-10


def test_utility_gradient_against_finite_differences():
    """∇G of the exact problem against central differences of its own G (S4, a residual
    of 3 active neurons): the hand-written gradient is the derivative of the sum."""
    _, exact = problems(CASES["S4 template"])
    rng = np.random.default_rng(3)
    layers, n = exact.initial_theta.shape[:2]
    residual = exact.residual(0.4 * rng.standard_normal((layers, n, 3)))
    directions = rng.standard_normal((layers, n, 2))
    _, gradient = exact.utility_and_gradient(directions, residual)
    step = 1e-6
    for layer, row in [(0, 3), (1, 10), (2, 17)]:
        shifted = directions.copy()
        shifted[layer, row] += step
        up, _ = exact.utility_and_gradient(shifted, residual)
        shifted[layer, row] -= 2 * step
        down, _ = exact.utility_and_gradient(shifted, residual)
        np.testing.assert_allclose((up - down) / (2 * step), gradient[layer, row], rtol=1e-6)


def test_restriction_and_reduced_coordinates():
    """restrict applies Π_O of each weight vector's orbit; orbit_basis is an orthonormal
    basis of Π_O ℝⁿ (U Uᵀ = Π_O) of dimension Σ_{ρ∈O} d_ρ²."""
    dense, _ = problems(CASES["S4 template"])
    projectors = dense.orbit_projectors()
    rng = np.random.default_rng(4)
    theta = rng.standard_normal((3, 24, 6))
    orbits = rng.integers(0, len(projectors), size=(3, 6))
    expected = np.einsum("lmab,lbm->lam", projectors[orbits], theta)
    np.testing.assert_allclose(dense.restrict(theta, orbits), expected, atol=1e-13)
    for index, orbit in enumerate(dense.irreps.orbits):
        basis = dense.orbit_basis(index)
        assert basis.shape == (24, orbit.real_dim)
        np.testing.assert_allclose(basis.T @ basis, np.eye(orbit.real_dim), atol=1e-12)
        np.testing.assert_allclose(basis @ basis.T, projectors[index], atol=1e-12)


@pytest.mark.parametrize("preset, width, seed, rounds", [
    ("c11-agf", 24, 3, None), ("d3-agf-onehot", 24, 0, 4)])
def test_both_problems_give_the_same_rounds(preset, width, seed, rounds):
    """AGF takes the same rounds on both problems: the same steps, neurons and orbits, the
    same losses (C11: the whole run; D3 one-hot: up to its first partial fit of the 2-dim
    irrep, a stationary point where the two problems' round-off of 1e-16 sends the
    minimiser to neighbouring points and the later rounds apart by ~1e-4)."""
    config = load_preset(preset).replace(width=width, seed=seed)
    dense_problem, exact_problem = simulation.AgfProblem(config), ExactAgfProblem(config)
    exact_problem.law = dense_problem.law  # the same dormant flow (the exact problem's
    # own is first order: its evaluations cost more)
    dense = simulation.run_agf(config, rounds, problem=dense_problem)
    exact = simulation.run_agf(config, rounds, problem=exact_problem)
    assert len(dense.rounds) >= 2
    assert [r.orbits for r in exact.rounds] == [r.orbits for r in dense.rounds]
    assert [r.neurons for r in exact.rounds] == [r.neurons for r in dense.rounds]
    for ours, theirs in zip(exact.rounds, dense.rounds, strict=True):
        assert ours.step == pytest.approx(theirs.step, rel=1e-6)
        assert ours.loss_after == pytest.approx(theirs.loss_after, rel=1e-6)
    np.testing.assert_allclose(exact.explained, dense.explained, rtol=1e-6, atol=1e-9)


def test_the_problem_follows_step_path():
    """auto: dense below AGF_EXACT_MIN_ORDER, exact from it on where the identity holds;
    a forced path is taken; exact where it cannot hold is refused by name."""
    small = load_preset("c11-agf").replace(width=8)
    assert type(simulation.agf_problem(small)) is simulation.AgfProblem
    assert type(simulation.agf_problem(small.replace(step_path="exact"))) is ExactAgfProblem
    large = load_preset("a5-agf").replace(width=8)
    assert large.group == "A5" and 60 >= simulation.AGF_EXACT_MIN_ORDER
    assert type(simulation.agf_problem(large)) is ExactAgfProblem
    assert type(simulation.agf_problem(large.replace(step_path="dense"))) is \
        simulation.AgfProblem
    held_out = large.replace(train_fraction=0.8)
    assert type(simulation.agf_problem(held_out)) is simulation.AgfProblem
    with pytest.raises(ConfigError, match="train_fraction"):
        simulation.agf_problem(held_out.replace(step_path="exact"))


def test_cost_minimisation_in_the_support_matches_the_dense_problem():
    """Six neurons kept on the two powered orbits of S4 (three each), trained by both
    problems from the same weights: the exact one works in the support's coordinates
    (U_Sᵀθ, encoding X_S) and reaches the dense one's loss, its weights on their orbits,
    at a stationary point of the whole loss (its gradient restricted to the orbits; both
    stop where the loss no longer changes in float64, the gradient ~1e-6 along flat
    directions of a partial fit)."""
    dense, exact = problems(CASES["S4 two orbits"])
    support = exact.support
    assert len(support) == 2 and exact.support_basis is not None
    rng = np.random.default_rng(6)
    orbits = np.repeat(np.array(support)[None, [0, 0, 0, 1, 1, 1]], 3, axis=0)
    theta = dense.restrict(0.5 * rng.standard_normal((3, 24, 6)), orbits)
    trained_dense = dense.minimise_cost(theta, orbits)
    trained_exact = exact.minimise_cost(theta, orbits)
    np.testing.assert_allclose(exact.restrict(trained_exact, orbits), trained_exact,
                               atol=1e-12)
    loss, gradient = dense.loss_and_gradient(trained_exact)
    assert loss == pytest.approx(dense.loss(trained_dense), rel=1e-5)  # flat minima
    assert loss < 0.5 * dense.loss(theta)
    _, start = dense.loss_and_gradient(theta)
    restricted = np.abs(dense.restrict(gradient, orbits)).max()
    assert restricted < 1e-3 * np.abs(dense.restrict(start, orbits)).max()


def test_a_dense_problem_that_cannot_fit_is_refused_before_allocating():
    """S6 forced onto the dense problem needs tens of GiB: refused with the estimate and
    the fix (the check runs on the numbers alone)."""
    config = load_preset("s6-agf").replace(step_path="dense")
    assert simulation.dense_problem_bytes(720, 720 * 720, 2048) > 20 * 1024**3
    with pytest.raises(ConfigError, match="step_path = 'auto' or 'exact'"):
        simulation.check_dense_memory(config, 720, 720 * 720, available=8 * 1024**3)
    simulation.check_dense_memory(config.replace(group="C11", width=256), 11, 121,
                                  available=8 * 1024**3)


def test_gradient_descent_explained_share_by_the_exact_problem_matches_the_dense_one():
    import torch

    from backend.agf.comparison import orbit_explained
    from backend.training.trainer import Trainer

    config = load_preset("a5-agf").replace(step_path="exact", precision="float64", width=12,
                                           init_scale=1e-3)
    trainer = Trainer(config)
    with torch.no_grad():  # a network that fits every orbit in part
        trainer.theta.copy_(0.3 * torch.randn(trainer.theta.shape, dtype=torch.float64,
                                              generator=torch.Generator().manual_seed(2)))
    dense = orbit_explained(trainer)
    exact = orbit_explained(trainer, ExactAgfProblem(config))
    assert np.isnan(dense[0]) and np.isnan(exact[0])
    assert np.nanmax(np.abs(dense)) > 1e-3
    np.testing.assert_allclose(exact[1:], dense[1:], rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["S4 template", "C11 template"])
def test_explained_on_listed_orbits_only(name):
    """explained(residual, orbits): the listed orbits' shares as in the full reading, NaN
    for the others, on both problems."""
    dense, exact = problems(CASES[name])
    active = 0.4 * np.random.default_rng(4).standard_normal(
        (*dense.initial_theta.shape[:2], 5))
    listed = [1, 3]
    for problem in (dense, exact):
        residual = problem.residual(active)
        full = problem.explained(residual)
        part = problem.explained(residual, listed)
        np.testing.assert_allclose(part[listed], full[listed], rtol=1e-12)
        assert np.isnan(np.delete(part, listed)).all()
        assert np.isfinite(full[listed]).all()
