"""The answer table and a pair's vote against the network's own outputs and loops."""

import numpy as np
import pytest
import torch

from backend.answers import (
    ANSWER_PAIRS_PER_CELL,
    answer_pair_sample,
    block_edges,
    block_means,
    held_out_table,
    pair_margins,
    pair_vote,
    pairs_per_cell,
    sampled_answer_table,
)
from backend.config import RunConfig
from backend.metrics import class_scores
from backend.pair_sample import answers_label, metric_pair_sample
from backend.recording import MetricHistory
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


# --------------------------------------------------------------------- sampled tables
def sampled_trainer(group, side, per_cell, **changes):
    """A trainer on the exact path whose snapshots are forced to sample (the grid of
    ``side`` cells, ``per_cell`` pairs in each) although the group is small enough for
    every pair, so that the dense table can check the sampled one."""
    config = RunConfig(group=group, loss="mse", activation="square", step_path="exact",
                       init_scale=1.0, optimiser="gd", learning_rate=0.01, **changes)
    trainer = Trainer(config.validate())
    trainer.step(5)
    n = trainer.group.order
    trainer.metric_pairs = metric_pair_sample(n, 0, count=n * n // 3)
    trainer.answer_sample = answer_pair_sample(n, 7, per_cell, side)
    return trainer


def dense_margins(trainer) -> np.ndarray:
    """Every pair's margin (n, n) from the dense forward pass, by a loop over classes."""
    scores = class_scores(trainer.all_outputs(), trainer.task)
    classes = trainer.task.table.reshape(-1)
    right = scores[np.arange(classes.size), classes]
    others = np.where(np.arange(scores.shape[1])[None, :] == classes[:, None], -np.inf,
                      scores).max(axis=1)
    n = trainer.group.order
    return (right - others).reshape(n, n)


@pytest.mark.parametrize(("group", "side", "changes"), [
    ("S4", 8, {"encoding": "template", "template_powers": [1.0, 2.0, 0.5], "width": 40}),
    ("C12", 6, {"encoding": "onehot", "width": 24, "parameterisation": "sphere",
                "sphere_scale": 3.0, "precision": "float32"}),
    ("C12", 6, {"encoding": "template", "template_powers": [1.0, 0.0, 2.0], "width": 24,
                "parameterisation": "sphere", "stage_two_after": 2,
                "stage_two_scale": "per_neuron"}),
])
def test_sampled_cells_are_the_means_of_their_sampled_pairs(group, side, changes):
    trainer = sampled_trainer(group, side=side, per_cell=2, **changes)
    snapshot = trainer.metrics()
    sample = trainer.answer_sample
    assert snapshot.answer_pairs_per_cell == sample.per_cell == 2
    assert snapshot.answer_margin.shape == (side, side)
    assert sample.pairs.size == side * side * 2
    margins = dense_margins(trainer).reshape(-1)
    n = trainer.group.order
    edges = block_edges(n, side)
    for row in range(side):
        for column in range(side):
            index = row * side + column
            cell = sample.pairs[index * 2 : (index + 1) * 2]
            g1, g2 = np.divmod(cell, n)
            assert np.all((edges[row] <= g1) & (g1 < edges[row + 1]))
            assert np.all((edges[column] <= g2) & (g2 < edges[column + 1]))
            assert snapshot.answer_margin[row, column] == pytest.approx(
                margins[cell].mean(), rel=1e-4, abs=1e-6)
            assert snapshot.answer_correct[row, column] == pytest.approx(
                np.mean(margins[cell] > 0))


def test_a_sample_of_whole_cells_is_the_dense_block_table():
    """With as many pairs per cell as a cell holds, the sampled table is the block means
    of every pair's margin (S4 on a grid of 8: blocks of 3, cells of 9 pairs)."""
    trainer = sampled_trainer("S4", side=8, per_cell=9, encoding="template",
                              template_powers=[1.0, 2.0, 0.5], width=40)
    snapshot = trainer.metrics()
    margins = dense_margins(trainer)
    edges = block_edges(24, 8)
    np.testing.assert_allclose(snapshot.answer_margin, block_means(margins, edges),
                               rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(snapshot.answer_correct,
                               block_means((margins > 0).astype(float), edges), atol=1e-6)


def test_the_answer_sample_is_seeded_distinct_and_bounded_by_the_smallest_cell():
    first = answer_pair_sample(100, 3, per_cell=4, side=48)
    again = answer_pair_sample(100, 3, per_cell=4, side=48)
    np.testing.assert_array_equal(first.pairs, again.pairs)
    assert not np.array_equal(first.pairs, answer_pair_sample(100, 4, 4, 48).pairs)
    assert first.rows == 48 and first.per_cell == 4
    assert np.unique(first.pairs).size == first.pairs.size == 48 * 48 * 4
    # blocks of 2 or 3 elements: the smallest cell holds 4 pairs, so 4 and not 6
    assert answer_pair_sample(100, 3, per_cell=6, side=48).per_cell == 4
    # the chunks of a few block rows give the same table as one chunk
    trainer = sampled_trainer("C12", side=6, per_cell=3, width=16)
    effective = trainer.network.effective_functions(trainer.theta).detach()
    args = (effective, trainer._scale_for_forward(), "square", trainer.task.table,
            trainer.answer_sample)
    whole = sampled_answer_table(*args, chunk_pairs=10**6)
    chunked = sampled_answer_table(*args, chunk_pairs=1)
    for one, other in zip(whole, chunked, strict=True):
        np.testing.assert_array_equal(one, other)


def test_pairs_per_cell_follows_the_step_cost():
    cells = 48 * 48
    # a table of k pairs per cell costs cells·k·M·n multiply-adds
    assert pairs_per_cell(cells * 100 * 720 * 3 * 1.5, 720, 100) == 3
    assert pairs_per_cell(cells * 100 * 720 * 50.0, 720, 100) == ANSWER_PAIRS_PER_CELL
    assert pairs_per_cell(1.0, 720, 100) == 1
    assert answers_label(4) == "answers, 4 sampled pairs per cell"
    assert answers_label(0) == "answers"


def test_large_groups_on_the_exact_path_record_a_sampled_table(tmp_path):
    config = RunConfig(group="S5", width=64, loss="mse", encoding="template",
                       template_powers=[2.0, 1.0, 3.0], init_scale=1.0, optimiser="gd",
                       learning_rate=0.01)
    trainer = Trainer(config)
    trainer.step(2)
    snapshot = trainer.metrics()
    assert trainer.metric_pairs is not None
    assert snapshot.answer_margin.shape == snapshot.answer_correct.shape == (48, 48)
    assert snapshot.answer_pairs_per_cell == trainer.answer_sample.per_cell >= 1
    assert trainer.network._targets is None
    history = MetricHistory()
    history.add_snapshot(snapshot)
    history.save(tmp_path / "history.npz")
    loaded = MetricHistory.load(tmp_path / "history.npz").latest
    assert loaded.answer_pairs_per_cell == snapshot.answer_pairs_per_cell
    np.testing.assert_array_equal(loaded.answer_margin, snapshot.answer_margin)
    np.testing.assert_array_equal(loaded.answer_correct, snapshot.answer_correct)
