"""The numerical AGF against gradient descent run by the Trainer."""

from __future__ import annotations

import numpy as np
import pytest

from backend.agf import comparison, simulation
from backend.agf.theory import AgfTheoryError
from backend.config import RunConfig
from backend.presets import load_preset
from backend.trainer import Trainer

C11 = dict(group="C11", encoding="template", template_powers=[12.5, 10.0, 7.5, 5.0, 2.5],
           parameterisation="free", loss="mse", activation="square", width=32,
           precision="float64", device="cpu")


@pytest.mark.parametrize(
    "optimiser, alpha, rate, steps, tolerance",
    [("scaled_gd", 1e-5, 0.02, 200, 0.12), ("gd", 1e-2, 0.01, 3000, 0.06)],
)
def test_dormant_phase_follows_gradient_descent(optimiser, alpha, rate, steps, tolerance):
    """Before any neuron activates, every neuron's norm and direction match the trainer
    (scaled: ~7 e-foldings of growth, so 12 % is 2 % of the log-norm)."""
    config = RunConfig(**C11, optimiser=optimiser, init_scale=alpha, learning_rate=rate,
                       steps=steps).validate()
    trainer = Trainer(config)
    initial = trainer.theta.numpy().copy()
    trainer.step(steps)
    trained = trainer.theta.numpy()
    result = simulation.run_agf(config, horizon=float(steps), angle_step=0.01)
    assert result.rounds == []
    simulated = np.stack([result.final_weights[0], result.final_weights[1],
                          result.final_weights[2]]).transpose(0, 2, 1)
    norm0 = np.sqrt((initial**2).sum((0, 1)))
    norm_gd = np.sqrt((trained**2).sum((0, 1)))
    norm_agf = np.sqrt((simulated**2).sum((0, 1)))
    assert np.max(norm_gd / norm0) > 1.15  # the neurons did grow
    np.testing.assert_allclose(norm_agf, norm_gd, rtol=tolerance)
    cosine = (trained * simulated).sum((0, 1)) / (norm_gd * norm_agf)
    assert cosine.min() > 0.995


def test_c11_first_orbits_match_gradient_descent():
    """c11-agf: AGF learns k=±1 then k=±2 at GD's steps (within 25 %)."""
    config = load_preset("c11-agf").replace(steps=16000)
    result = simulation.run_agf(config, horizon=16000.0)
    gd = comparison.run_gradient_descent(config)
    simulated = comparison.agf_orbit_drops(result)
    measured = comparison.measured_drops(gd)
    assert [d.orbit for d in simulated[:2]] == ["k=±1", "k=±2"]
    assert [d.orbit for d in measured[:2]] == ["k=±1", "k=±2"]
    for agf_drop, gd_drop in zip(simulated[:2], measured[:2], strict=True):
        assert agf_drop.step == pytest.approx(gd_drop.step, rel=0.25)
    first = result.rounds[0]
    assert first.loss_after < first.loss_before
    assert all(w.shape == (config.width, 11) for w in first.weights)


@pytest.mark.parametrize(
    "change, words",
    [
        (dict(parameterisation="sphere"), "parameterisation"),
        (dict(optimiser="adam"), "optimiser"),
        (dict(activation="relu"), "activation"),
        (dict(init_scale=0.5), "init_scale"),
    ],
)
def test_configurations_outside_agf_are_refused(change, words):
    config = load_preset("c11-agf").replace(**change)
    with pytest.raises(AgfTheoryError, match=words):
        simulation.check_agf_config(config)
