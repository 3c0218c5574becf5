"""The answer table and a pair's vote against the network's own outputs and loops."""

import numpy as np
import pytest
import torch

from backend.answers import (
    block_edges,
    block_means,
    held_out_table,
    pair_margins,
    pair_vote,
)
from backend.config import RunConfig
from backend.metrics import class_scores
from backend.training.trainer import Trainer


def small_trainer(**changes):
    config = RunConfig(group="S3", width=24, steps=10, **changes).validate()
    trainer = Trainer(config)
    trainer.step(30)
    return trainer


def test_pair_margins_against_a_loop():
    rng = np.random.default_rng(0)
    scores = rng.standard_normal((30, 7))
    classes = rng.integers(0, 7, 30)
    expected = [scores[p, classes[p]] - max(scores[p, j] for j in range(7) if j != classes[p])
                for p in range(30)]
    got = pair_margins(torch.from_numpy(scores), torch.from_numpy(classes)).numpy()
    assert got == pytest.approx(expected)


def test_block_means_against_a_loop():
    rng = np.random.default_rng(1)
    values = rng.standard_normal((10, 10))
    edges = block_edges(10, side=4)
    assert edges[0] == 0 and edges[-1] == 10 and len(edges) == 5
    got = block_means(values, edges)
    for i in range(4):
        for j in range(4):
            block = values[edges[i]:edges[i + 1], edges[j]:edges[j + 1]]
            assert got[i, j] == pytest.approx(block.mean())
    assert len(block_edges(7, side=48)) == 8  # one element per row for small groups


@pytest.mark.parametrize("changes", [{}, {"train_fraction": 0.5}])
def test_snapshot_table_against_the_outputs(changes):
    trainer = small_trainer(**changes)
    snapshot = trainer.metrics()
    n = trainer.group.order
    scores = class_scores(trainer.all_outputs(), trainer.task)
    classes = trainer.task.table.reshape(-1)
    for p in range(n * n):
        g1, g2 = divmod(p, n)
        others = np.delete(scores[p], classes[p])
        assert snapshot.answer_margin[g1, g2] == pytest.approx(
            scores[p, classes[p]] - others.max(), rel=1e-4, abs=1e-5)
    right = (scores.argmax(axis=1) == classes).reshape(n, n)
    assert np.array_equal(snapshot.answer_correct == 1.0, right)
    train = np.zeros(n * n, dtype=bool)
    train[trainer.task.train_pairs] = True
    assert right.reshape(-1)[train].mean() == pytest.approx(snapshot.train_accuracy)
    held = held_out_table(trainer.task.test_pairs, n)
    assert held.sum() == trainer.task.test_pairs.size


def test_large_groups_get_a_bounded_table():
    config = RunConfig(group="C60", width=16, steps=5).validate()
    snapshot = Trainer(config).metrics()
    assert snapshot.answer_margin.shape == (48, 48)
    assert 0.0 <= snapshot.answer_correct.min() and snapshot.answer_correct.max() <= 1.0
    sizes = np.diff(block_edges(60))
    weighted = np.sum(snapshot.answer_correct * np.outer(sizes, sizes)) / 60**2
    assert weighted == pytest.approx(snapshot.train_accuracy, abs=1e-6)


def test_pair_vote_sums_to_the_network_output_and_matches_the_trainer():
    trainer = small_trainer(encoding="onehot")
    snapshot = trainer.metrics()
    n = trainer.group.order
    for g1, g2 in [(0, 0), (2, 5), (4, 1)]:
        vote = pair_vote(g1, g2, effective=trainer.effective_functions(),
                         scales=trainer.output_scales(), activation=trainer.config.activation,
                         dominant=snapshot.dominant_orbit, num_orbits=len(snapshot.orbit_counts),
                         table=trainer.task.table)
        outputs = trainer.all_outputs()[g1 * n + g2]
        assert vote.scores == pytest.approx(outputs, rel=1e-4, abs=1e-6)
        reference = trainer.majority_vote(g1, g2)
        assert vote.per_orbit == pytest.approx(reference.per_orbit, rel=1e-6, abs=1e-9)
        assert vote.correct == trainer.task.table[g1, g2]
        assert vote.answer == int(np.argmax(outputs))
