"""The training accuracy recorded at every step: the share of a step's pairs whose class is
the first maximum of their class scores, checked against a dense forward pass in float64
with argmax, on the fused kernels and on PyTorch's code."""

import math

import numpy as np
import pytest
import torch

import backend.training.network
from backend.config import RunConfig
from backend.training import kernels
from backend.training.network import activation_value
from backend.training.trainer import Trainer

CONFIGS = {
    "cross-entropy one-hot": dict(group="C7:C3", width=24, parameterisation="free",
                                  loss="cross_entropy", encoding="onehot", optimiser="adam",
                                  learning_rate=0.05, init_scale=1.0, train_fraction=1.0,
                                  precision="float64"),
    "mse template": dict(group="C7", width=16, parameterisation="free", loss="mse",
                         encoding="template", template_powers=[3.0, 2.0, 1.0],
                         optimiser="adam", learning_rate=0.05, init_scale=1.0,
                         precision="float64"),
}
PATHS = ["kernels", "pytorch"] if kernels.AVAILABLE else ["pytorch"]


def dense_accuracy(trainer: Trainer, theta: np.ndarray, pairs: np.ndarray) -> float:
    """f(g1, g2) = Σ_m ξ_m σ(⟨θ¹_m, x_g1⟩ + ⟨θ²_m, x_g2⟩) over all pairs in float64; the
    share of ``pairs`` whose argmax_j of f_j (one-hot) or ⟨f, x_j⟩ is g1·g2."""
    task = trainer.task
    encoding = task.encoding
    n = task.order
    first, second = encoding @ theta[0], encoding @ theta[1]
    hidden = torch.from_numpy(first[:, None, :] + second[None, :, :]).reshape(n * n, -1)
    activated = activation_value(trainer.config.activation, hidden).numpy()
    outputs = activated @ theta[-1].T
    scores = outputs if task.one_hot else outputs @ encoding.T
    correct = scores.argmax(axis=1) == task.table.reshape(-1)
    return float(correct[pairs].mean())


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("name", CONFIGS)
def test_every_step_records_the_accuracy_of_a_dense_forward_pass(monkeypatch, name, path):
    config = RunConfig(**CONFIGS[name]).validate()
    # blocks of two rows g1, so that the step runs several blocks (and lanes)
    monkeypatch.setattr(backend.training.network, "STEP_BLOCK", 2 * 21 * config.width)
    trainer = Trainer(config)
    trainer.network.fused = path == "kernels"
    expected = []
    for _ in range(12):
        expected.append(dense_accuracy(trainer, trainer.theta.numpy().copy(),
                                       trainer.task.train_pairs))
        trainer.step(1)
    whole = Trainer(config)
    whole.network.fused = path == "kernels"
    whole.step(12)
    steps, accuracies = whole.recent_accuracies()
    np.testing.assert_array_equal(steps, np.arange(12))
    np.testing.assert_array_equal(accuracies, np.array(expected))
    assert len(set(expected)) > 1  # the accuracy moves over these steps
    assert (whole.network._fused_step is not None) == (path == "kernels")


def test_a_minibatch_step_records_the_accuracy_of_its_batch():
    config = RunConfig(**CONFIGS["cross-entropy one-hot"], batch_size=40).validate()
    trainer = Trainer(config)
    generator = torch.Generator()
    generator.set_state(trainer.batch_generator.get_state())
    train = trainer.task.train_pairs
    expected = []
    for _ in range(5):
        batch = train[torch.randperm(train.size, generator=generator)[:40].numpy()]
        expected.append(dense_accuracy(trainer, trainer.theta.numpy().copy(), batch))
        trainer.step(1)
    replay = Trainer(config)
    replay.step(5)
    np.testing.assert_allclose(replay.recent_accuracies()[1], expected, rtol=0, atol=1e-12)


def test_the_exact_path_records_no_accuracy():
    config = RunConfig(group="C7", width=8, loss="mse", encoding="template",
                       template_powers=[3.0, 2.0, 1.0], activation="square",
                       step_path="exact").validate()
    trainer = Trainer(config)
    trainer.step(3)
    steps, accuracies = trainer.recent_accuracies()
    np.testing.assert_array_equal(steps, np.arange(3))
    assert all(math.isnan(value) for value in accuracies)


@pytest.mark.skipif(not kernels.AVAILABLE, reason=kernels.UNAVAILABLE_REASON or "")
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ties_count_only_when_the_class_is_the_first_maximum(dtype):
    # four pairs (columns) over three classes: the class is the first of two maxima, the
    # second of two maxima, the sole maximum, and below the maximum
    outputs = np.array([[2.0, 2.0, 0.0, 1.0],
                        [1.0, 2.0, 3.0, 0.0],
                        [2.0, 0.0, 1.0, 2.0]], dtype=dtype)
    classes = np.array([0, 1, 1, 0], dtype=np.int64)
    assert kernels.first_argmax_hits(outputs, classes, 1.0) == 2
    np.testing.assert_array_equal(np.argmax(outputs, axis=0) == classes,
                                  [True, False, True, False])
    # with an encoding the scores are X F: X = I reversed puts the classes in reverse
    reverse = np.eye(3, dtype=dtype)[::-1].copy()
    reversed_classes = np.array([0, 1, 1, 2], np.int64)
    assert kernels.first_argmax_hits(reverse @ outputs, reversed_classes, 1.0) == 3
    np.testing.assert_array_equal(np.argmax(reverse @ outputs, axis=0) == reversed_classes,
                                  [True, True, True, False])
    # the scale multiplies the scores before they are compared
    assert kernels.first_argmax_hits(outputs, classes, 0.5) == 2
    # a NaN score never wins (pair 0), a NaN at the class is wrong (pair 2)
    with_nan = outputs.copy()
    with_nan[2, 0] = with_nan[1, 2] = np.nan
    assert kernels.first_argmax_hits(with_nan, classes, 1.0) == 1
