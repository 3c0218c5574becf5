"""`train` and `presets` end to end, as a user runs them."""

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def run(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)


def test_train_writes_a_run_directory_and_prints_a_summary(tmp_path):
    out = tmp_path / "run"
    result = run("train", "--preset", "frobenius21-sphere", "--set", "width=48",
                 "--set", "train_fraction=0.8", "--steps", "120", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "steps/s" in result.stderr and "ETA" in result.stderr
    assert "frobenius21-sphere · C7:C3" in result.stdout
    assert "train accuracy" in result.stdout and f"run saved in {out}" in result.stdout
    assert sorted(p.name for p in out.iterdir()) == [
        "checkpoint.npz", "config.toml", "history.npz", "summary.json"]
    summary = json.loads((out / "summary.json").read_text())
    assert summary["steps"] == 120
    assert isinstance(summary["test_accuracy"], float)
    assert sum(summary["orbit_counts"].values()) == 48
    assert "width = 48" in (out / "config.toml").read_text()

    again = run("train", "--preset", "frobenius21-sphere", "--steps", "1", "--out", str(out))
    assert again.returncode == 2
    assert "already holds a run" in again.stderr and "Traceback" not in again.stderr


def test_resume_continues_exactly_where_the_run_stopped(tmp_path):
    import torch

    from backend.run_directory import RunDirectory

    common = ["--preset", "frobenius21-sphere", "--set", "width=24", "--quiet"]
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    assert run("train", *common, "--steps", "90", "--out", str(straight)).returncode == 0
    assert run("train", *common, "--steps", "40", "--out", str(resumed)).returncode == 0
    result = run("train", "--resume", str(resumed), "--steps", "90", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "90 steps" in result.stdout and f"run saved in {resumed}" in result.stdout

    def final_weights(folder):
        return RunDirectory.read(folder).state["theta"]

    assert torch.equal(final_weights(resumed), final_weights(straight))
    summary = json.loads((resumed / "summary.json").read_text())
    assert summary["steps"] == 90
    first_session = RunDirectory.read(straight).state["wall_seconds"]
    assert first_session > 0  # the checkpoint carries the run's wall time to a resumed session
    assert "steps = 90" in (resumed / "config.toml").read_text()
    import numpy as np

    recorded = np.load(resumed / "history.npz")["snapshot_step"]
    assert recorded[0] == 0 and recorded[-1] == 90 and 40 in recorded  # both sessions kept

    done = run("train", "--resume", str(resumed), "--steps", "90")
    assert done.returncode == 2 and "already taken 90 steps" in done.stderr
    mixed = run("train", "--resume", str(resumed), "--set", "width=8", "--steps", "100")
    assert mixed.returncode == 2 and "--resume cannot change width" in mixed.stderr
    missing = run("train", "--resume", str(tmp_path / "nothing"), "--steps", "100")
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_train_refuses_unknown_keys_values_and_presets():
    result = run("train", "--set", "lerning_rate=0.1", "--steps", "1")
    assert result.returncode == 2
    assert "error: unknown key 'lerning_rate'" in result.stderr
    assert "did you mean 'learning_rate'" in result.stderr
    result = run("train", "--set", "loss=hinge", "--steps", "1")
    assert result.returncode == 2 and "'mse', 'cross_entropy'" in result.stderr
    result = run("train", "--preset", "nope", "--steps", "1")
    assert result.returncode == 2 and "unknown preset 'nope'" in result.stderr
    result = run("train", "--bogus")
    assert result.returncode == 2 and "unrecognized arguments: --bogus" in result.stderr


def test_presets_lists_every_preset_with_one_line():
    result = run("presets")
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 9
    assert lines[0].startswith("frobenius21-sphere") and lines[0].endswith("(default)")
    shown = run("presets", "--show", "c11-agf")
    assert 'group = "C11"' in shown.stdout
    keys = run("presets", "--keys")
    assert "learning_rate = 0.01" in keys.stdout
