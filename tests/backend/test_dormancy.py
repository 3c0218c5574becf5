"""Dormant neurons against norms computed from the weights by hand."""

import numpy as np

from backend.dormancy import DORMANT_SHARE, dormant_neurons, neuron_sizes


def test_sizes_are_the_norm_of_the_three_functions_together():
    rng = np.random.default_rng(0)
    a, b, c = rng.standard_normal((3, 5, 7))
    norms = np.stack([np.linalg.norm(v, axis=1) for v in (a, b, c)])
    expected = np.linalg.norm(np.concatenate([a, b, c], axis=1), axis=1)
    assert np.allclose(neuron_sizes(norms), expected)


def test_small_neurons_are_dormant_relative_to_the_largest():
    norms = np.array([[1.0, 1e-4, 0.5, 0.0], [1.0, 1e-4, 0.0, 0.0], [1.0, 1e-4, 0.0, 0.0]])
    largest = np.sqrt(3.0)
    assert 0.5 >= DORMANT_SHARE * largest  # the third neuron is small but awake
    assert dormant_neurons(norms).tolist() == [False, True, False, True]
    assert not dormant_neurons(np.zeros((3, 4))).any()
