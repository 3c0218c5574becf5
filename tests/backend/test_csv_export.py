"""The CSV table against the history it comes from, and `export-csv` end to end."""

import csv
import io
import math
import subprocess
import sys
from pathlib import Path

import numpy as np

from backend.config import RunConfig
from backend.csv_export import history_csv_text, orbit_labels_of
from backend.recording import MetricHistory
from backend.training.trainer import Trainer

ROOT = Path(__file__).resolve().parents[2]


def recorded_history():
    trainer = Trainer(RunConfig(group="S3", width=16, train_fraction=0.6, steps=20).validate())
    history = MetricHistory()
    for _ in range(4):
        history.add_snapshot(trainer.metrics())
        trainer.step(5)
        history.add_losses(*trainer.recent_losses())
    history.add_snapshot(trainer.metrics())
    return history


def test_every_series_and_count_lands_in_its_row():
    history = recorded_history()
    labels = orbit_labels_of("S3")
    rows = list(csv.DictReader(io.StringIO(history_csv_text(history, labels))))
    by_step = {int(row["step"]): row for row in rows}
    assert sorted(by_step) == sorted(set(history.losses.steps.tolist())
                                     | set(history.scalars.steps.tolist()))
    for step, loss in zip(history.losses.steps, history.losses.values[:, 0], strict=True):
        assert float(by_step[int(step)]["loss"]) == loss
    for snapshot in history.snapshots:
        row = by_step[snapshot.step]
        assert float(row["train_accuracy"]) == snapshot.train_accuracy
        assert float(row["test_accuracy"]) == snapshot.test_accuracy
        assert math.isclose(float(row["mean_alignment"]), snapshot.mean_alignment)
        counts = [int(row[f"count[{label}]"]) for label in labels]
        assert counts == np.asarray(snapshot.orbit_counts).tolist()
    between = [row for step, row in by_step.items()
               if step not in {s.step for s in history.snapshots}]
    assert between and all(row["train_accuracy"] == "" for row in between)


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_export_csv_command(tmp_path):
    out = tmp_path / "run"
    trained = run("train", "--preset", "frobenius21-sphere", "--set", "width=16",
                  "--steps", "30", "--out", str(out), "--quiet")
    assert trained.returncode == 0, trained.stderr
    result = run("export-csv", str(out), "--out", str(tmp_path / "series.csv"))
    assert result.returncode == 0, result.stderr
    header = next(csv.reader((tmp_path / "series.csv").open()))
    assert header[:4] == ["step", "loss", "train_accuracy", "test_accuracy"]
    assert sum(name.startswith("count[") for name in header) == 3  # C7:C3 has 3 orbits
    wrong = run("export-csv", str(out), "--out", str(tmp_path / "series.txt"))
    assert wrong.returncode == 2 and wrong.stderr.startswith("error:")
    missing = run("export-csv", str(tmp_path / "nothing"), "--out", str(tmp_path / "a.csv"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    (tmp_path / "taken.csv").mkdir()
    folder = run("export-csv", str(out), "--out", str(tmp_path / "taken.csv"))
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    assert "Traceback" not in folder.stderr


def test_histories_recorded_before_the_answer_table_still_load():
    from backend.run_checks import history_from_arrays

    arrays = recorded_history().to_arrays()
    for name in ("singular_overlap", "answer_margin", "answer_correct"):
        del arrays[f"snapshot_{name}"]
    history = history_from_arrays(arrays, "an older run")
    assert history.snapshots and history.latest.answer_margin is None
    assert history.latest.singular_overlap is None
    full = history_from_arrays(recorded_history().to_arrays(), "a new run")
    assert full.latest.answer_margin.shape == (6, 6)
