"""MetricHistory decimation and files."""

import numpy as np
import pytest

from backend.config import RunConfig
from backend.recording import DecimatedSeries, MetricHistory
from backend.training.trainer import Trainer


def test_decimated_series_is_bounded_dense_early_and_keeps_the_latest():
    series = DecimatedSeries(1, capacity=500)
    total = 1_000_000
    for start in range(0, total, 50_000):
        steps = np.arange(start, start + 50_000)
        series.extend(steps, np.sin(steps))
    assert len(series) <= 501
    np.testing.assert_array_equal(series.steps[:10], np.arange(10))  # dense early
    assert series.steps[-1] == total - 1  # always the latest
    assert np.all(np.diff(series.steps) > 0)
    np.testing.assert_allclose(series.values[:, 0], np.sin(series.steps))
    # log-spaced later: the gaps grow roughly in proportion to the step
    gaps = np.diff(series.steps[len(series) // 2 :])
    assert gaps[-2] > 5 * gaps[0]


def test_rewritten_tail_replaces_later_records():
    series = DecimatedSeries(1, capacity=100)
    series.extend(np.arange(20), np.arange(20))
    series.extend(np.arange(10, 15), -np.ones(5))
    assert series.steps[-1] == 14 and series.values[-1, 0] == -1


@pytest.fixture(scope="module")
def trainer():
    config = RunConfig(group="C5", width=6, parameterisation="free", loss="mse",
                       encoding="random_fourier", optimiser="adam", init_scale=0.5,
                       train_fraction=0.7, learning_rate=0.01)
    return Trainer(config)


def test_history_snapshots_are_capped_and_round_trip(trainer, tmp_path):
    history = MetricHistory(snapshot_capacity=20, loss_capacity=300)
    base = trainer.metrics()
    for step in range(0, 5000, 7):
        snapshot = base.copy()
        snapshot.step = step
        snapshot.loss = float(step)
        history.add_snapshot(snapshot)
    history.add_losses(np.arange(5000), np.linspace(1, 0, 5000))
    assert len(history.snapshots) <= 21
    assert history.latest.step == 4998
    assert history.snapshots[0].step == 0
    assert history.snapshot_at(2400).step == pytest.approx(2400, abs=600)
    path = tmp_path / "history.npz"
    history.save(path)
    loaded = MetricHistory.load(path)
    assert [s.step for s in loaded.snapshots] == [s.step for s in history.snapshots]
    for original, copy in zip(history.snapshots, loaded.snapshots, strict=True):
        np.testing.assert_array_equal(original.power, copy.power)
        np.testing.assert_array_equal(original.alignment, copy.alignment)
        assert original.test_accuracy == copy.test_accuracy
    np.testing.assert_array_equal(loaded.losses.steps, history.losses.steps)
    np.testing.assert_array_equal(loaded.scalars.values, history.scalars.values)


def test_appending_decimates_exactly_as_decimating_everything_again():
    from backend.recording import DecimatedSeries

    rng = np.random.default_rng(5)
    for capacity in (7, 60, 400):
        appended, reference = DecimatedSeries(1, capacity), DecimatedSeries(1, capacity)
        start = 0
        for _ in range(40):
            steps = np.arange(start, start + int(rng.integers(1, 3000)))
            start = int(steps[-1]) + 1
            appended.extend(steps, steps * 0.5)
            reference.steps = np.concatenate([reference.steps, steps])
            reference.values = np.concatenate([reference.values, (steps * 0.5)[:, None]])
            reference._decimate()  # the whole series decimated from scratch
            assert np.array_equal(appended.steps, reference.steps)
            assert np.array_equal(appended.values, reference.values)
            assert appended.resolution == reference.resolution
