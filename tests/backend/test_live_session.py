"""The live session without Qt: chunking changes nothing, the schedule is the machine's
speed's business no more, run to the next drop stops there or gives up."""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch

from backend.agf.staircase import detect_drops
from backend.config import RunConfig
from backend.live_session import LiveSession
from backend.presets import DEFAULT_PRESET, load_preset
from backend.snapshot_schedule import SnapshotSchedule
from backend.training.trainer import Trainer


def small_config(**changes) -> RunConfig:
    values = dict(group="C7:C3", width=32, learning_rate=0.05, seed=3, steps=300)
    values.update(changes)
    return RunConfig().replace(**values)


def assert_same_history(first, second) -> None:
    assert np.array_equal(first.losses.steps, second.losses.steps)
    assert np.array_equal(first.losses.values, second.losses.values)
    assert np.array_equal(first.accuracies.steps, second.accuracies.steps)
    assert np.array_equal(first.accuracies.values, second.accuracies.values)
    assert np.array_equal(first.snapshot_steps(), second.snapshot_steps())
    for a, b in zip(first.snapshots, second.snapshots, strict=True):
        assert a.loss == b.loss and a.train_accuracy == b.train_accuracy
        assert np.array_equal(a.power, b.power) and np.array_equal(a.norms, b.norms)


def test_chunked_stepping_gives_the_same_bits_as_one_long_run():
    config = small_config()
    whole = LiveSession(config)
    whole.train_to(300)
    chunked = LiveSession(config)
    rng = np.random.default_rng(0)
    while chunked.step_count < 300:  # chunks of any size, cut anywhere
        chunked.advance(int(rng.integers(1, 40)), stop_at=300)
    assert torch.equal(whole.trainer.state_dict()["theta"], chunked.trainer.state_dict()["theta"])
    assert_same_history(whole.history, chunked.history)
    split = LiveSession(config)
    split.step(37)
    split.step(263)
    assert torch.equal(whole.trainer.theta, split.trainer.theta)
    assert_same_history(whole.history, split.history)
    assert whole.history.snapshot_steps().tolist() == SnapshotSchedule.for_steps(
        300).steps_until(300)


class SlowTrainer(Trainer):
    """The same run on a machine a few times slower."""

    def step(self, k: int = 1) -> float:
        time.sleep(0.002 + 0.0002 * k)
        return super().step(k)


def test_the_schedule_is_the_same_on_a_slow_and_a_fast_run():
    config = small_config(steps=400)
    fast = LiveSession(config)
    fast.train_to(600)
    slow = LiveSession(config, trainer_factory=SlowTrainer)
    slow.train_to(600)
    assert fast.history.snapshot_steps().tolist() == slow.history.snapshot_steps().tolist()
    assert fast.history.snapshot_steps().tolist() == SnapshotSchedule.for_steps(
        400).steps_until(600)
    assert_same_history(fast.history, slow.history)


def test_the_default_run_records_at_least_50_snapshots_in_its_first_1500_steps():
    session = LiveSession(load_preset(DEFAULT_PRESET))
    session.train_to(1500)
    assert len(session.history.snapshots) >= 50
    assert len(session.history.losses) == 1500  # the loss of every step


def test_run_to_next_drop_stops_at_the_drop():
    session = LiveSession(load_preset("c11-agf"))  # a staircase from tiny initialisation
    outcome = session.run_to_next_drop()
    assert outcome.found, outcome.message
    assert outcome.step == session.step_count
    losses = session.history.losses
    drops = detect_drops(losses.steps, losses.values[:, 0])
    assert len(drops) == 1
    # it pauses soon after the drop: within a few looks (each 1 % of the steps)
    assert drops[0].step < outcome.step < 1.2 * drops[0].step + 200
    second = session.run_to_next_drop()
    assert second.found and second.step > outcome.step
    assert len(detect_drops(session.history.losses.steps,
                            session.history.losses.values[:, 0])) == 2


def test_run_to_next_drop_gives_up_after_its_horizon():
    session = LiveSession(small_config(steps=200))
    session.train_to(400)
    outcome = session.run_to_next_drop(horizon=250)
    assert not outcome.found
    assert session.step_count == outcome.step == 650
    assert "No loss drop within 250 steps" in outcome.message
    default = session.run_to_next_drop()  # default horizon: as many steps as so far
    assert not default.found and session.step_count == 1300


def test_perturb_reseed_reset_and_the_snapshot_of_now():
    session = LiveSession(small_config())
    first = session.snapshot()
    assert session.snapshot() is first  # measured once per state of the weights
    session.perturb([0, 1], 0.5, seed=4)
    moved = session.snapshot()
    assert moved is not first and not np.array_equal(moved.power, first.power)
    session.step(20)
    session.reseed(9)
    assert session.step_count == 0 and len(session.history.snapshots) == 0
    fresh = LiveSession(small_config(seed=9)).trainer
    assert torch.equal(session.trainer.theta, fresh.theta)  # the weights of seed 9
    session.reset(small_config(group="C5"), seed=2)
    assert session.trainer.group.order == 5 and session.config.seed == 2
    fresh = LiveSession(small_config(group="C5", seed=2)).trainer
    assert torch.equal(session.trainer.theta, fresh.theta)


def test_progress_reports_every_chunk_and_every_loss():
    session = LiveSession(small_config())
    seen = []
    session.train_to(120, on_progress=seen.append)
    steps = np.concatenate([p.chunk.steps for p in seen])
    assert steps.tolist() == list(range(120))
    assert seen[-1].step == 120 and seen[-1].target == 120
    assert [s.step for p in seen for s in p.chunk.snapshots] == SnapshotSchedule.for_steps(
        300).steps_until(120)


@pytest.mark.parametrize("changes", [{}, dict(loss="mse", encoding="template",
                                              template_powers=[3.0, 2.0], precision="float64")])
def test_every_step_records_its_accuracy_which_the_snapshots_confirm(changes):
    session = LiveSession(small_config(**changes))
    session.train_to(200)
    accuracies = session.history.accuracies
    assert accuracies.steps.tolist() == list(range(200))
    assert np.isfinite(accuracies.values).all() and len(np.unique(accuracies.values)) > 1
    snapshots = [s for s in session.history.snapshots if s.step < 200]
    assert len(snapshots) > 10
    # a snapshot at step s measures the weights that step s starts from: the same figure
    # for one-hot (the scores are the outputs); a template's scores ⟨f, x_j⟩ are summed in
    # another order, which may turn a near tie of the first two classes (on this run's
    # plateau the outputs are nearly 0: in float32 a few pairs differ, hence float64)
    pairs = session.trainer.network.train_pairs.numel()
    tolerance = 0 if session.trainer.task.one_hot else 2 / pairs
    for snapshot in snapshots:
        assert abs(accuracies.values[snapshot.step, 0] - snapshot.train_accuracy) <= tolerance


@pytest.mark.parametrize("threads", [1, 2])
def test_a_fixed_thread_count_is_kept(threads):
    before = torch.get_num_threads()
    torch.set_num_threads(3 - threads)  # start from the other count: keeping it would fail
    try:
        session = LiveSession(small_config(), threads=threads)
        session.train_to(50)
        assert session.threads == threads and torch.get_num_threads() == threads
    finally:
        torch.set_num_threads(before)
