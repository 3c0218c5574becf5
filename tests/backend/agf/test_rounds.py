"""Each AGF round measured like a live snapshot: the Trainer's metrics of its weights."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from backend.agf.rounds import round_snapshots
from backend.presets import load_preset
from backend.training.trainer import Trainer


@dataclass
class Round:
    step: float
    weights: tuple


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
