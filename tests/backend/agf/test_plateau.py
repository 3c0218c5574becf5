"""The plateau between two drops (backend.agf.plateau): the dormant flow taken in
stretches while the held network goes on relaxing."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from backend.agf import comparison, drops, optimiser_flow, simulation
from backend.agf.plateau import run_plateau
from backend.config import RunConfig
from backend.presets import load_preset
from backend.training.trainer import Trainer

C11 = dict(group="C11", encoding="template", template_powers=[12.5, 10.0, 7.5, 5.0, 2.5],
           parameterisation="free", loss="mse", activation="square", width=32,
           precision="float64", device="cpu", optimiser="scaled_gd", learning_rate=0.02,
           init_scale=1e-5, steps=5000)


def _held_state(steps: int):
    """The trainer's weights after ``steps`` (on the plateau after k=±1, k=±2 and k=±3 at
    1200), the neurons of norm ≥ ACTIVE_NORM held and the others shrunk by 10⁻⁶, so that
    over a thousand steps they cannot touch the held ones."""
    config = RunConfig(**C11).validate()
    trainer = Trainer(config)
    trainer.step(steps)
    theta = trainer.theta.numpy().astype(np.float64).copy()
    active = np.sqrt((theta**2).sum((0, 1))) >= drops.ACTIVE_NORM
    theta[:, :, ~active] *= 1e-6
    return config, trainer, theta, active


def test_the_held_network_relaxes_as_gradient_descent_does():
    """Over 1000 steps of a plateau the held neurons move as the trainer's own steps move
    them from the same weights (per-neuron scaled GD, its backward pass): within 0.5 % of
    how far they moved (measured 0.09 %), in 40 % of the steps' gradients or fewer
    (stretched steps; measured 356), and the orbits' unexplained shares, which fall by
    half or more, read as the trainer's."""
    config, trainer, theta, active = _held_state(1200)
    problem = simulation.agf_problem(config)
    norms = np.sqrt((theta**2).sum((0, 1)))
    plateau = run_plateau(problem, theta, active, theta / norms, np.log(norms), 0.0, 1000.0,
                          simulation.TOLERANCE, drops.START_OUTPUT, drops.START_NORM)
    assert not plateau.arrived and plateau.end == 1000.0
    assert plateau.evaluations <= 400
    with torch.no_grad():
        trainer.theta.copy_(torch.from_numpy(theta))
    trainer.step(1000)
    after = trainer.theta.numpy()
    moved = np.abs(after[:, :, active] - theta[:, :, active]).max()
    error = np.abs(after[:, :, active] - plateau.theta[:, :, active]).max()
    assert moved > 1e-2 and error < 5e-3 * moved
    before = 1.0 - problem.explained(problem.residual(theta))[1:4]
    trained = 1.0 - problem.explained(problem.residual(after))[1:4]
    step, loss, shares = plateau.readings[-1]
    assert step == 1000.0 and loss == pytest.approx(problem.loss(after), rel=1e-6)
    assert (trained < 0.5 * before).all()
    np.testing.assert_allclose(1.0 - shares[1:4], trained, rtol=1e-2)
    np.testing.assert_array_equal(plateau.theta[:, :, ~active], theta[:, :, ~active])


def test_the_dormant_flow_in_stretches_is_the_flow_in_one():
    """With nothing held, the dormant flow integrated in two stretches (the second told
    where the orbits' outputs were counted from, ``since``) arrives where one integration
    does: the same step within 0.1 %, the same log-norms within 10⁻⁴."""
    config = RunConfig(**C11).validate()
    problem = simulation.agf_problem(config)
    theta = problem.initial_theta
    norms = np.sqrt((theta**2).sum((0, 1)))
    directions, log_norms = theta / norms, np.log(norms)
    residual = problem.residual(theta[:, :, :0])
    since = simulation.output_log_norms(problem, directions, log_norms)
    kwargs = dict(threshold=drops.START_OUTPUT, norm_threshold=drops.START_NORM,
                  collective=True)
    whole = simulation.integrate_dormant(problem, directions, log_norms, residual, 0.0,
                                         5000.0, **kwargs)
    assert whole[3] and 100.0 < whole[0] < 5000.0
    half = 0.5 * whole[0]
    first = simulation.integrate_dormant(problem, directions, log_norms, residual, 0.0,
                                         half, **kwargs)
    assert not first[3] and first[0] == half
    second = simulation.integrate_dormant(problem, first[1], first[2], residual, half,
                                          5000.0, since=since, **kwargs)
    assert second[3] and second[0] == pytest.approx(whole[0], rel=1e-3)
    np.testing.assert_allclose(second[2], whole[2], atol=1e-4)
    # counted afresh from the middle, the orbit's output would arrive later
    fresh = simulation.integrate_dormant(problem, first[1], first[2], residual, half,
                                         5000.0, **kwargs)
    assert fresh[0] > second[0]


def test_momentum_relaxes_in_stretched_heavy_ball_steps(monkeypatch):
    """With momentum 0.9 the held network relaxes on the plateaus in heavy-ball steps at
    the rate hη: the same rounds as the trainer's steps one at a time (steps within 1 %,
    levels within 0.5 %) for at most 60 % of the relaxation's gradients (measured 125
    against 234); the drops keep the trainer's own steps (one gradient a step)."""
    config = RunConfig(**{**C11, "optimiser": "gd", "momentum": 0.9, "init_scale": 1e-2,
                          "steps": 4000}).validate()
    stretched = simulation.run_agf(config, horizon=4000.0, drops="optimiser")
    monkeypatch.setattr(optimiser_flow, "MAX_STEP_LENGTH", 1.0)
    single = simulation.run_agf(config, horizon=4000.0, drops="optimiser")
    assert [r.orbits for r in single.rounds] == [[f"k=±{k}"] for k in range(1, 6)]
    assert [r.orbits for r in stretched.rounds] == [r.orbits for r in single.rounds]
    for fast, slow in zip(stretched.rounds, single.rounds, strict=True):
        assert fast.step == pytest.approx(slow.step, rel=0.01)
        assert fast.loss_after == pytest.approx(slow.loss_after, rel=5e-3)
    # one gradient a step in the drops, and one more as each begins
    assert stretched.optimiser_steps <= stretched.optimiser_evaluations <= (
        stretched.optimiser_steps + 2 * len(stretched.rounds))
    assert 0 < stretched.relaxation_evaluations <= 0.6 * single.relaxation_evaluations


def test_c20_learns_its_third_orbit_when_gradient_descent_does():
    """The C20 reference setting (momentum 0.9, 90 000 steps): with the held network
    relaxing on the plateaus, k=±5 comes within 15 % of gradient descent's step (measured
    −0.7 %: 63 779 against 64 242; held fixed it came at 84 014, +31 %), at its level
    within 2 %, after k=±1 and k=±3 at theirs."""
    config = load_preset("c11-agf").replace(
        group="C20", encoding="template", template_powers=[10.0, 0.0, 2.5, 0.0, 0.625],
        width=18, activation="square", shared_embedding=False, parameterisation="free",
        init_scale=1e-2, loss="mse", optimiser="gd", learning_rate=0.01, momentum=0.9,
        steps=90000, seed=0, precision="float64")
    result = simulation.run_agf(config, horizon=float(config.steps), drops="optimiser")
    measured = comparison.measured_drops(comparison.run_gradient_descent(config))
    simulated = comparison.agf_orbit_drops(result)
    assert [d.orbit for d in simulated] == [d.orbit for d in measured] == [
        "k=±1", "k=±3", "k=±5"]
    for ours, theirs in zip(simulated, measured, strict=True):
        assert ours.step == pytest.approx(theirs.step, rel=0.15)
        assert ours.level == pytest.approx(theirs.level, rel=0.02)
