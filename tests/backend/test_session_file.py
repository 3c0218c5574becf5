"""Session files: a saved run comes back exactly; damaged, foreign or unwritable files are
refused in words and leave nothing behind."""

from __future__ import annotations

import errno
import os
import zipfile

import numpy as np
import pytest
import torch

from backend.config import RunConfig
from backend.errors import UserError
from backend.recording import MetricHistory
from backend.run_directory import RunDirectory
from backend.session_file import (
    FORMAT_VERSION,
    SessionFileError,
    history_from_record,
    is_session_file,
    load_recorded_run,
    load_session,
    save_session,
)
from backend.training.trainer import Trainer


@pytest.fixture(scope="module")
def recorded():
    """A small trained run: (trainer, history) after 4 × 6 Adam steps on C5."""
    config = RunConfig().replace(group="C5", width=12, learning_rate=0.05, seed=7, steps=50,
                                 train_fraction=0.8)
    trainer = Trainer(config)
    history = MetricHistory()
    for _ in range(4):
        trainer.step(6)
        steps, losses = trainer.recent_losses()
        history.add_losses(steps, losses)
        history.add_snapshot(trainer.metrics())
    return trainer, history


def _same_tree(saved, loaded) -> None:
    if isinstance(saved, torch.Tensor):
        assert isinstance(loaded, torch.Tensor)
        assert saved.dtype == loaded.dtype and saved.shape == loaded.shape
        assert torch.equal(saved, loaded)
    elif isinstance(saved, dict):
        assert saved.keys() == loaded.keys()
        for key in saved:
            _same_tree(saved[key], loaded[key])
    elif isinstance(saved, list | tuple):
        assert type(saved) is type(loaded) and len(saved) == len(loaded)
        for a, b in zip(saved, loaded, strict=True):
            _same_tree(a, b)
    elif isinstance(saved, float) and np.isnan(saved):
        assert np.isnan(loaded)
    else:
        assert saved == loaded and type(saved) is type(loaded)


def test_round_trip_is_exact(tmp_path, recorded):
    trainer, history = recorded
    state = trainer.state_dict()
    path = save_session(tmp_path / "run.irrep", trainer.config, state, history)
    session = load_session(path)
    assert session.config == trainer.config
    _same_tree(state, session.state)
    saved, loaded = history.to_arrays(), session.history.to_arrays()
    assert saved.keys() == loaded.keys()
    for key in saved:
        np.testing.assert_array_equal(saved[key], loaded[key])
    assert is_session_file(path)
    assert os.listdir(tmp_path) == ["run.irrep"]


def test_loaded_session_continues_exactly(tmp_path, recorded):
    trainer, history = recorded
    path = save_session(tmp_path / "run.irrep", trainer.config, trainer.state_dict(), history)
    session = load_session(path)
    resumed = Trainer(session.config)
    resumed.load_state_dict(session.state)
    original = Trainer(trainer.config)
    original.load_state_dict(trainer.state_dict())
    assert resumed.step(5) == original.step(5)
    assert torch.equal(resumed.theta, original.theta)


def test_session_without_weights_and_run_directory(tmp_path, recorded):
    trainer, history = recorded
    path = save_session(tmp_path / "plain.irrep", trainer.config, None, history)
    assert load_session(path).state is None
    run = RunDirectory(tmp_path / "run")
    run.prepare()
    run.write_config(trainer.config)
    run.commit(trainer.config, trainer.state_dict(), history)
    from_directory = load_recorded_run(tmp_path / "run")
    assert from_directory.config == trainer.config
    assert torch.equal(from_directory.state["theta"], trainer.state_dict()["theta"])
    assert load_recorded_run(path).config == trainer.config


def test_history_from_record_keeps_every_snapshot(recorded):
    _, history = recorded
    rebuilt = history_from_record((history.losses.steps, history.losses.values[:, 0]),
                                  history.snapshots)
    assert [s.step for s in rebuilt.snapshots] == [s.step for s in history.snapshots]
    np.testing.assert_array_equal(rebuilt.losses.steps, history.losses.steps)


def test_session_keeps_the_per_step_accuracies(tmp_path, recorded):
    trainer, history = recorded
    steps = history.losses.steps
    accuracies = np.linspace(0.0, 1.0, steps.size)
    rebuilt = history_from_record((steps, history.losses.values[:, 0]), history.snapshots,
                                  (steps, accuracies))
    path = save_session(tmp_path / "acc.irrep", trainer.config, None, rebuilt)
    loaded = load_session(path).history.accuracies
    np.testing.assert_array_equal(loaded.steps, steps)
    np.testing.assert_array_equal(loaded.values.reshape(-1), accuracies)


# ------------------------------------------------------------------ refused files
@pytest.fixture
def saved(tmp_path, recorded):
    trainer, history = recorded
    return save_session(tmp_path / "good.irrep", trainer.config, trainer.state_dict(), history)


def test_truncated_file_is_refused(tmp_path, saved):
    data = saved.read_bytes()
    cut = tmp_path / "cut.irrep"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="truncated"):
        load_session(cut)


def test_corrupted_member_is_refused(tmp_path, saved):
    damaged = tmp_path / "damaged.irrep"
    data = bytearray(saved.read_bytes())
    with zipfile.ZipFile(saved) as archive:
        info = archive.getinfo("state/theta.npy")  # the weights
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for offset in range(start + 20, start + 60):
        data[offset] ^= 0xFF
    damaged.write_bytes(bytes(data))
    with pytest.raises(UserError, match="damaged"):
        load_session(damaged)


def test_foreign_files_are_refused(tmp_path):
    foreign = tmp_path / "other.npz"
    np.savez(foreign, weights=np.ones(3))
    with pytest.raises(SessionFileError, match="not an Irrep Studio session"):
        load_session(foreign)
    text = tmp_path / "notes.irrep"
    text.write_text("hello")
    with pytest.raises(SessionFileError, match="not an Irrep Studio session"):
        load_session(text)
    assert not is_session_file(text) and not is_session_file(foreign)
    with pytest.raises(UserError, match="does not exist"):
        load_session(tmp_path / "missing.irrep")
    with pytest.raises(SessionFileError, match="is a folder"):
        load_session(tmp_path)


def _rewrite(source, target, change) -> None:
    with np.load(source, allow_pickle=False) as archive:
        members = {key: archive[key] for key in archive.files}
    change(members)
    np.savez(target, **members)


INCONSISTENT_MEMBERS = {
    "newer version": (lambda m: m.update(version=np.array(FORMAT_VERSION + 1)),
                      "newer Irrep Studio"),
    "no history": (lambda m: m.pop("history/loss_steps"), "lacks loss_steps"),
    "wrong width": (lambda m: m.update(config=np.array(
        str(m["config"]).replace("width = 12", "width = 13"))), "width 12"),
    "bad config": (lambda m: m.update(config=np.array("width = 'many'")),
                   "configuration is invalid"),
    "lost weights": (lambda m: m.pop("state/theta"), "weights are incomplete"),
}


@pytest.mark.parametrize("case", INCONSISTENT_MEMBERS)
def test_newer_version_and_inconsistent_members_are_refused(tmp_path, saved, case):
    change, message = INCONSISTENT_MEMBERS[case]
    changed = tmp_path / "changed.npz"
    _rewrite(saved, changed, change)
    with pytest.raises(UserError, match=message):
        load_session(changed)


# ------------------------------------------------------------------ refused targets
def test_bad_targets_are_refused_before_writing(tmp_path, recorded, monkeypatch):
    trainer, history = recorded
    with pytest.raises(SessionFileError, match="does not exist"):
        save_session(tmp_path / "nowhere" / "run.irrep", trainer.config, None, history)
    with pytest.raises(SessionFileError, match="is a folder"):
        save_session(tmp_path, trainer.config, None, history)
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode: False if str(p) == str(locked)
                        else real_access(p, mode))
    with pytest.raises(SessionFileError, match="not writable"):
        save_session(locked / "run.irrep", trainer.config, None, history)
    assert os.listdir(locked) == []


def test_full_disk_leaves_no_partial_file_and_keeps_the_old_one(tmp_path, saved, recorded,
                                                                 monkeypatch):
    trainer, history = recorded
    before = saved.read_bytes()

    def full_disk(stream, **arrays):
        stream.write(b"\0" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(np, "savez_compressed", full_disk)
    with pytest.raises(SessionFileError, match="disk is full"):
        save_session(saved, trainer.config, trainer.state_dict(), history)
    assert os.listdir(saved.parent) == [saved.name]
    assert saved.read_bytes() == before
