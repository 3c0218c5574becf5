"""Each AGF round measured like a live snapshot: the Trainer's metrics of its weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from backend.agf.rounds import round_snapshots, simulate_agf
from backend.agf.simulation import run_agf
from backend.presets import load_preset
from backend.training.trainer import Trainer


@dataclass
class Round:
    step: float
    weights: tuple

    @property
    def weights_step(self) -> float:  # a cost-minimised round's network stands at its step
        return self.step


def test_a_round_is_measured_as_the_trainer_measures_the_same_weights():
    config = load_preset("c11-agf").replace(width=16, init_scale=0.3, device="cpu")
    reference = Trainer(config)
    reference.perturb(None, 0.7, seed=5)  # weights no fresh trainer of the config has
    theta = reference.state_dict()["theta"].numpy()  # (layers, n, M)
    weights = tuple(layer.T for layer in theta)  # a round gives (M, n) per layer
    expected = reference.metrics()

    (snapshot,) = round_snapshots(config, [Round(step=41.6, weights=weights)])
    assert snapshot.step == 42
    assert np.allclose(snapshot.power, expected.power, atol=1e-12)
    assert np.allclose(snapshot.norms, expected.norms)
    assert abs(snapshot.loss - expected.loss) < 1e-12
    assert round_snapshots(config, []) == []


def test_simulated_rounds_carry_the_drop_mode_and_its_caution():
    """c11-agf at 10× its learning rate: drops by the optimiser climb (gradient descent's
    loss climbs at the same step), and the measured rounds say so; cost minimisation has
    no drop to climb in."""
    config = load_preset("c11-agf").replace(learning_rate=0.1, steps=600)
    by_optimiser = simulate_agf(config, "optimiser")
    assert "climbs inside a drop" in by_optimiser.caution
    assert len(by_optimiser.snapshots) == len(by_optimiser.rounds) >= 3
    assert by_optimiser.optimiser_steps > 0
    by_cost = simulate_agf(config.replace(learning_rate=0.01, steps=3000), "cost")
    assert by_cost.caution == ""
    assert by_cost.rounds and by_cost.optimiser_steps == 0


def test_a_climb_past_the_runs_end_is_no_caution():
    """The window simulates to HORIZON_FACTOR × the run's steps: c11-agf at 10× its
    learning rate climbs at step 164, past a 150-step run, so the run's rounds carry no
    caution (the comparison reads the same 150 steps), while the whole simulation has it."""
    config = load_preset("c11-agf").replace(learning_rate=0.1, steps=150)
    states = simulate_agf(config, "optimiser")
    assert states.caution == "" and states.caution_headline == "" and states.spike is None
    result = run_agf(config, drops="optimiser")
    assert result.loss_spike is not None and result.loss_spike.step > config.steps
    assert result.caution == result.loss_spike.sentence()
    assert result.caution_until(config.steps) == ""
    assert result.caution_until(3 * config.steps, headline=True) == result.loss_spike.headline()


def test_a_rounds_network_stands_on_its_level_after_the_crossing():
    """With drops by the optimiser a round's step is its orbit's crossing of one half,
    half-way down the drop; its weights and loss after are read later, on its level
    (``AgfRound.level_step``), and the round's snapshot is measured there: its loss is the
    round's level, not the loss half-way down."""
    config = load_preset("c11-agf").replace(width=32, steps=2000)
    states = simulate_agf(config, "optimiser")
    assert len(states.rounds) >= 3
    for agf_round, snapshot in zip(states.rounds, states.snapshots, strict=True):
        assert agf_round.level_step is not None
        assert agf_round.weights_step >= agf_round.step
        assert snapshot.step == round(agf_round.weights_step)
        assert snapshot.loss == pytest.approx(agf_round.loss_after, rel=0.02)
    assert any(r.weights_step > r.step + 10 for r in states.rounds)
