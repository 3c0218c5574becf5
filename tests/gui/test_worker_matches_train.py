"""The window's worker and the ``train`` command record the same history, bit for bit."""

from __future__ import annotations

import numpy as np

from backend.cli import main as cli_main
from backend.recording import MetricHistory
from gui.training_worker import TrainingWorker
from gui.worker_commands import Reset, Step
from tests.gui.conftest import small_config


def test_window_and_train_record_identical_histories(qtbot, tmp_path):
    config = small_config(steps=600)
    config.to_toml(tmp_path / "config.toml")
    assert cli_main(["train", "--config", str(tmp_path / "config.toml"), "--quiet",
                     "--out", str(tmp_path / "run")]) == 0
    recorded = MetricHistory.load(tmp_path / "run" / "history.npz")

    worker = TrainingWorker()
    reports = []

    def take(report) -> None:
        reports.append(report)
        worker.acknowledge_report()

    worker.report_ready.connect(take)
    worker.start()
    try:
        worker.send(Reset(config=config))
        qtbot.waitUntil(lambda: bool(reports), timeout=20000)
        worker.send(Step(600))
        qtbot.waitUntil(lambda: reports[-1].snapshot.step == 600 and not reports[-1].running,
                        timeout=60000)
    finally:
        assert worker.shutdown(2000)

    shown = [s for r in reports for s in r.snapshots]
    assert [s.step for s in shown] == recorded.snapshot_steps().tolist()
    assert len(shown) >= 50
    for window_snapshot, cli_snapshot in zip(shown, recorded.snapshots, strict=True):
        assert window_snapshot.loss == cli_snapshot.loss
        assert window_snapshot.train_accuracy == cli_snapshot.train_accuracy
        for name in ("power", "norms", "alignment", "sparsity"):
            assert np.array_equal(getattr(window_snapshot, name), getattr(cli_snapshot, name),
                                  equal_nan=True), name
    steps = np.concatenate([r.loss_steps for r in reports])
    losses = np.concatenate([r.loss_values for r in reports])
    assert steps.tolist() == recorded.losses.steps.tolist() == list(range(600))
    assert np.array_equal(losses, recorded.losses.values[:, 0])
