"""The worker: queued commands, step implies pause, paced reports that carry every
scheduled snapshot, errors as messages."""

from __future__ import annotations

import time

import numpy as np
import pytest

from gui.training_worker import IDLE, REPORTS_PER_SECOND, TrainingWorker
from gui.worker_commands import Pause, Perturb, Reset, SetLearningRate, Start, Step
from tests.gui.conftest import small_config


class Collector:
    def __init__(self, worker: TrainingWorker) -> None:
        self.reports, self.contexts, self.failures, self.modes = [], [], [], []
        self.worker = worker
        worker.report_ready.connect(self._report)
        worker.context_ready.connect(self.contexts.append)
        worker.failed.connect(self.failures.append)
        worker.mode_changed.connect(self.modes.append)

    def _report(self, report) -> None:
        self.reports.append(report)
        self.worker.acknowledge_report()


def worker_schedule():
    from backend.snapshot_schedule import SnapshotSchedule

    return SnapshotSchedule.for_steps(small_config().steps)


def make_worker(qtbot):
    worker = TrainingWorker()
    collector = Collector(worker)
    worker.start()
    worker.send(Reset(config=small_config()))
    qtbot.waitUntil(lambda: bool(collector.contexts and collector.reports), timeout=20000)
    return worker, collector


def test_step_trains_exactly_and_pauses(qtbot):
    worker, seen = make_worker(qtbot)
    try:
        assert seen.reports[-1].snapshot.step == 0
        worker.send(Step(7))
        qtbot.waitUntil(lambda: seen.reports[-1].snapshot.step == 7
                        and not seen.reports[-1].running, timeout=20000)
        # step implies pause: after a Start, a Step ends in the paused state
        worker.send(Start())
        qtbot.waitUntil(lambda: seen.reports[-1].snapshot.step > 7, timeout=20000)
        worker.send(Step(2))
        qtbot.waitUntil(lambda: bool(seen.modes) and seen.modes[-1] == IDLE
                        and not seen.reports[-1].running, timeout=20000)
        final = seen.reports[-1].snapshot.step
        qtbot.wait(200)
        assert seen.reports[-1].snapshot.step == final  # nothing trains after the pause
        # loss samples arrive for every step, in order
        steps = np.concatenate([r.loss_steps for r in seen.reports])
        assert np.all(np.diff(steps) > 0)
        assert not seen.failures
    finally:
        assert worker.shutdown(2000)


def test_reports_are_paced_and_pause_sends_one(qtbot):
    worker, seen = make_worker(qtbot)
    try:
        worker.send(Start())
        qtbot.waitUntil(lambda: seen.reports[-1].running, timeout=20000)
        before = len(seen.reports)
        started = time.perf_counter()
        qtbot.wait(1000)
        elapsed = time.perf_counter() - started
        during = len(seen.reports) - before
        assert 1 <= during <= REPORTS_PER_SECOND * elapsed + 2
        worker.send(Pause())
        qtbot.waitUntil(lambda: not seen.reports[-1].running, timeout=5000)
        assert seen.modes[-1] == IDLE
    finally:
        assert worker.shutdown(2000)


def test_snapshots_while_training_match_the_loss_of_their_own_step(qtbot):
    worker, seen = make_worker(qtbot)
    try:
        worker.send(Start())
        qtbot.waitUntil(lambda: sum(r.running for r in seen.reports) >= 4, timeout=20000)
        worker.send(Pause())
        qtbot.waitUntil(lambda: not seen.reports[-1].running, timeout=5000)
    finally:
        assert worker.shutdown(2000)
    steps = np.concatenate([r.loss_steps for r in seen.reports])
    losses = np.concatenate([r.loss_values for r in seen.reports])
    assert np.all(np.diff(steps) == 1)  # every step once, in order
    loss_of_step = dict(zip(steps.tolist(), losses.tolist(), strict=True))
    measured = [s for r in seen.reports if r.running for s in r.snapshots]
    assert len(measured) >= 4
    # every scheduled snapshot reaches the window, once and in order
    recorded = [s.step for r in seen.reports for s in r.snapshots]
    assert np.all(np.diff(recorded) > 0)
    scheduled = worker_schedule().steps_until(max(recorded))
    assert set(scheduled) <= set(recorded)
    for snapshot in measured:
        # measured from the forward pass of the step that starts at these weights
        assert snapshot.loss == pytest.approx(loss_of_step[snapshot.step], rel=1e-6)


def test_learning_rate_perturb_and_bad_reset(qtbot):
    worker, seen = make_worker(qtbot)
    try:
        worker.send(SetLearningRate(0.001))
        worker.send(Perturb(None, 0.5, 11))
        qtbot.waitUntil(lambda: len(seen.reports) >= 2, timeout=5000)
        assert worker._trainer.learning_rate == 0.001
        before = seen.reports[0].snapshot
        after = seen.reports[-1].snapshot
        assert not np.allclose(before.power, after.power)  # the perturbation changed weights
        worker.send(Reset(config=small_config(group="S4", width=8).replace(group="C4")))
        qtbot.waitUntil(lambda: len(seen.contexts) == 2, timeout=20000)
        assert seen.contexts[-1].group_name == "C4"
        worker.send(Step(10**9))
        qtbot.wait(50)
        worker.send(Pause())
        qtbot.waitUntil(lambda: not seen.reports[-1].running, timeout=5000)
        assert not seen.failures
    finally:
        assert worker.shutdown(2000)


def test_backend_failure_becomes_a_message(qtbot):
    def broken_factory(config):
        raise RuntimeError("simulated breakage")

    worker = TrainingWorker(trainer_factory=broken_factory)
    seen = Collector(worker)
    worker.start()
    try:
        worker.send(Reset(config=small_config()))
        qtbot.waitUntil(lambda: bool(seen.failures), timeout=5000)
        assert "simulated breakage" in seen.failures[0]
        assert "Traceback" not in seen.failures[0]
        worker.send(Start())  # no trainer: ignored, no crash
        qtbot.wait(50)
        assert worker.isRunning()
    finally:
        assert worker.shutdown(2000)
