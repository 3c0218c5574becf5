"""RunDirectory save / load / continue, and the run summary."""

import json

import pytest
import torch

from backend.config import RunConfig
from backend.recording import MetricHistory
from backend.run_directory import RunDirectory, RunDirectoryError, build_summary, load_trainer
from backend.training.trainer import Trainer

SUMMARY_KEYS = {"steps", "loss", "train_accuracy", "test_accuracy", "mean_sparsity",
                "mean_alignment", "rank_one_fraction", "quaternionic_rank_one_fraction",
                "orbit_counts", "steps_per_second", "wall_seconds", "sampled_pairs",
                "step_path"}


@pytest.fixture(scope="module")
def trainer():
    config = RunConfig(group="C5", width=6, parameterisation="free", loss="mse",
                       encoding="random_fourier", optimiser="adam", init_scale=0.5,
                       train_fraction=0.7, learning_rate=0.01)
    return Trainer(config)


def test_run_directory_saves_loads_and_continues_bit_for_bit(tmp_path):
    config = RunConfig(group="D4", width=10, optimiser="adam", learning_rate=0.01,
                       stage_two_after=12)
    uninterrupted = Trainer(config)
    uninterrupted.step(20)

    first = Trainer(config)
    first.step(8)
    directory = RunDirectory(tmp_path / "run")
    directory.prepare()
    directory.write_config(config)
    history = MetricHistory()
    history.add_losses(*first.recent_losses())
    history.add_snapshot(first.metrics())
    directory.commit(config, first.state_dict(), history)
    assert sorted(p.name for p in (tmp_path / "run").iterdir()) == [
        "checkpoint.npz", "config.toml", "history.npz"]

    resumed, loaded_history = load_trainer(tmp_path / "run")
    assert resumed.step_count == 8
    assert loaded_history.latest.step == 8
    resumed.step(12)
    assert resumed.stage == uninterrupted.stage == "stage II"
    assert torch.equal(resumed.theta, uninterrupted.theta)
    assert torch.equal(resumed.scale, uninterrupted.scale)


def test_run_directory_refuses_to_mix_runs(tmp_path):
    directory = RunDirectory(tmp_path)
    directory.prepare()
    directory.write_config(RunConfig())
    with pytest.raises(RunDirectoryError, match="already holds a run.*--overwrite"):
        RunDirectory(tmp_path).prepare()
    RunDirectory(tmp_path).prepare(overwrite=True)
    assert not (tmp_path / "config.toml").exists()  # the old run's files are gone first
    with pytest.raises(RunDirectoryError, match="does not exist"):
        RunDirectory.load(tmp_path / "elsewhere")


def test_summary_has_exactly_the_documented_keys(trainer, tmp_path):
    snapshot = trainer.metrics()
    summary = build_summary(snapshot, trainer.spectral.labels, trainer.spectral.orbit_dims,
                            steps_per_second=10.0, wall_seconds=1.0)
    assert set(summary) == SUMMARY_KEYS
    directory = RunDirectory(tmp_path)
    directory.write_summary(summary)
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert set(summary["orbit_counts"]) == set(trainer.spectral.labels)
    assert sum(summary["orbit_counts"].values()) == 6


# ------------------------------------------------------------------ interrupted saves
def _train(*argv):
    from backend.cli import main

    return main(["train", "--set", "group=C5", "--set", "width=6", "--set", "seed=1",
                 "--quiet", "--checkpoint-every", "3", *argv])


def _resume(folder, steps, *argv):
    from backend.cli import main

    return main(["train", "--resume", str(folder), "--steps", str(steps), "--quiet", *argv])


@pytest.fixture(scope="module")
def straight_and_half(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    assert _train("--steps", "12", "--out", str(root / "straight")) == 0
    assert _train("--steps", "6", "--out", str(root / "half")) == 0
    return root / "straight", root / "half"


def _copy(source, target):
    import shutil

    shutil.copytree(source, target)
    return target


def _same_run(first, second):
    import numpy as np

    a, b = RunDirectory.read(first), RunDirectory.read(second)
    assert a.step == b.step
    np.testing.assert_array_equal(a.history.losses.steps, b.history.losses.steps)
    np.testing.assert_array_equal(a.history.losses.values, b.history.losses.values)
    assert torch.equal(a.state["theta"], b.state["theta"])


def test_history_ahead_of_the_checkpoint_is_cut_back_and_resumes_exactly(
        tmp_path, straight_and_half, capsys):
    straight, half = straight_and_half
    run = _copy(half, tmp_path / "run")
    (run / "history.npz").write_bytes((straight / "history.npz").read_bytes())
    (run / "summary.json").write_bytes((straight / "summary.json").read_bytes())
    (run / ".checkpoint.abc123.tmp").write_bytes(b"half a checkpoint")
    saved = RunDirectory.read(run)
    assert saved.history_cut and saved.stale_summary and saved.step == 6
    assert max(saved.history.snapshot_steps()) <= 6
    assert saved.history.losses.steps[-1] == 5
    assert _resume(run, 12) == 0
    notes = capsys.readouterr().err
    assert "cut back to step 6" in notes and "summary.json did not describe" in notes
    assert "temporary file" in notes and not (run / ".checkpoint.abc123.tmp").exists()
    _same_run(run, straight)


def test_config_changed_but_not_saved_is_put_back(tmp_path, straight_and_half, capsys):
    _, half = straight_and_half
    run = _copy(half, tmp_path / "run")
    text = (run / "config.toml").read_text()
    (run / "config.toml").write_text(text.replace("seed = 1", "seed = 1\n# edited")
                                     .replace("learning_rate = ", "learning_rate = 0.5 #"))
    saved = RunDirectory.read(run)
    assert saved.config_differs and "learning_rate" in saved.notes[-1]
    assert saved.config.learning_rate != 0.5
    assert _resume(run, 9) == 0
    assert RunConfig.from_toml(run / "config.toml").learning_rate == saved.config.learning_rate


def test_resume_at_a_new_learning_rate_continues_and_records_the_change(
        tmp_path, straight_and_half):
    import numpy as np

    _, half = straight_and_half
    run = _copy(half, tmp_path / "run")
    before = RunDirectory.read(run)
    assert _resume(run, 10, "--set", "learning_rate=0.003") == 0
    after = RunDirectory.read(run)
    assert after.config.learning_rate == 0.003
    change = {"step": 6, "key": "learning_rate", "from": before.config.learning_rate,
              "to": 0.003}
    assert after.changes == [change]
    with np.load(run / "history.npz") as arrays:
        assert json.loads(str(arrays["setting_changes"])) == [change]
    expected = Trainer(before.config)
    expected.load_state_dict(before.state)
    expected.set_learning_rate(0.003)
    expected.step(4)
    assert torch.equal(after.state["theta"], expected.theta)
    np.testing.assert_array_equal(after.history.losses.values[6:10, 0], expected.recent_losses()[1])


def test_overwrite_removes_the_old_run_first_and_keeps_other_files(tmp_path, straight_and_half):
    straight, _ = straight_and_half
    run = _copy(straight, tmp_path / "run")
    (run / "notes.txt").write_text("mine")
    (run / ".history.x1.tmp").write_bytes(b"")
    RunDirectory(run).prepare(overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]


def test_a_legacy_pytorch_checkpoint_is_read_and_replaced_on_the_next_save(
        tmp_path, straight_and_half):
    _, half = straight_and_half
    run = _copy(half, tmp_path / "run")
    state = RunDirectory.read(run).state
    (run / "checkpoint.npz").unlink()
    torch.save(state, run / "checkpoint.pt")
    saved = RunDirectory.read(run)
    assert saved.legacy_checkpoint and torch.equal(saved.state["theta"], state["theta"])
    assert _resume(run, 9) == 0
    assert not (run / "checkpoint.pt").exists() and (run / "checkpoint.npz").exists()


def test_checkpoint_alone_names_the_saved_step(tmp_path, straight_and_half):
    import numpy as np

    straight, _ = straight_and_half
    with np.load(straight / "checkpoint.npz") as members:
        commit = json.loads(str(members["commit"]))
        assert str(members["format"]) == "irrep-studio-checkpoint"
    assert commit == {"step": 12, "reach": 12, "summary": True, "setting_changes": []}


def test_a_diverged_run_says_how_to_continue_and_continues(tmp_path, capsys):
    import re

    run = tmp_path / "run"
    assert _train("--set", "parameterisation=free", "--set", "optimiser=gd",
                  "--set", "learning_rate=1000", "--steps", "40",
                  "--out", str(run)) == 1
    error = capsys.readouterr().err
    command = re.search(r"to continue at a lower rate: python main.py (train .*)", error)
    assert command, error
    argv = command.group(1).split() + ["--steps", "60", "--quiet"]
    argv[argv.index("--set") + 1] = "learning_rate=1e-7"  # the last finite weights are steep
    from backend.cli import main

    assert main(argv) == 0
    saved = RunDirectory.read(run)
    assert saved.step == 60 and saved.state["divergence"] is None
    assert saved.changes[0]["key"] == "learning_rate" and saved.changes[0]["to"] == 1e-7
    assert "cut back" not in capsys.readouterr().err  # the diverged run's save was complete
