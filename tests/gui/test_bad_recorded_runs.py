"""Damaged, mixed and foreign run directories and session files, given to every command
that reads a recorded run (`train --resume`, `snapshot` as a picture and as a state,
`video`, `open`): each is refused with one `error:` line naming the problem, exit status
2, no traceback, and not one of the user's files changed."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.bad_runs import (
    DAMAGES,
    PAYLOAD_MARKER,
    assert_one_clean_refusal,
    record_run,
    rewrite,
    tree_digest,
    truncate,
)


def _resume(run: Path, out: Path) -> int:
    from backend.cli import main

    return main(["train", "--resume", str(run), "--steps", "30", "--quiet"])


def _snapshot_picture(run: Path, out: Path) -> int:
    from gui.commands import run_qt_command

    return run_qt_command(["snapshot", str(run), "--out", str(out / "picture.png"),
                           "--size", "320x240"])


def _snapshot_state(run: Path, out: Path) -> int:
    from gui.commands import run_qt_command

    return run_qt_command(["snapshot", str(run), "--out", str(out / "state.npz")])


def _video(run: Path, out: Path) -> int:
    from gui.commands import run_qt_command

    return run_qt_command(["video", str(run), "--out", str(out / "run.gif"), "--size",
                           "320x240"])


def _open(run: Path, out: Path) -> int:
    """`open RUN` up to the window: the request is read and checked (a refusal prints
    the message and returns 2, as run_app does; a run that passes would open)."""
    import sys

    from backend.errors import UserError
    from gui.app import parse_request

    try:
        parse_request(["open", str(run)])
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


COMMANDS = {"resume": _resume, "snapshot png": _snapshot_picture,
            "snapshot state": _snapshot_state, "video": _video, "open": _open}


@pytest.fixture(scope="module")
def templates(tmp_path_factory):
    root = tmp_path_factory.mktemp("templates")
    return {
        "run": record_run(root / "run"),
        "other_group": record_run(root / "c7", "--set", "group=C7"),
        "other_width": record_run(root / "wide", "--set", "width=8"),
    }


def _refused(command, target: Path, tmp_path: Path, capsys, pattern: str) -> None:
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    before = tree_digest(tmp_path)
    status = command(target, out)
    assert_one_clean_refusal(status, capsys.readouterr().err, pattern)
    assert tree_digest(tmp_path) == before  # nothing the user had changed, nothing written
    assert not (target / PAYLOAD_MARKER).exists() if target.is_dir() else True


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("damage", DAMAGES)
def test_damaged_run_directory_is_refused(qtbot, tmp_path, capsys, templates, damage, command):
    run = tmp_path / "run"
    shutil.copytree(templates["run"], run)
    spoil, pattern = DAMAGES[damage]
    spoil(run, templates)
    _refused(COMMANDS[command], run, tmp_path, capsys, pattern)


PATHS = {
    "a missing folder": (lambda t: t / "nowhere", "does not exist"),
    "a plain text file": (lambda t: _write(t / "notes.txt", b"hello"),
                          "not an Irrep Studio session|is a file|not a run directory"),
    "an empty folder": (lambda t: _mkdir(t / "empty"), "not a run directory"),
}


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("case", PATHS)
def test_wrong_paths_are_refused(qtbot, tmp_path, capsys, case, command):
    make, pattern = PATHS[case]
    _refused(COMMANDS[command], make(tmp_path), tmp_path, capsys, pattern)


# ------------------------------------------------------------------ session files
@pytest.fixture(scope="module")
def session(tmp_path_factory, templates):
    from backend.run_directory import RunDirectory
    from backend.session_file import save_session

    config, state, history = RunDirectory.load(templates["run"])
    return save_session(tmp_path_factory.mktemp("sessions") / "run.irrep", config, state,
                        history)


def _foreign_history(members: dict, other: Path) -> None:
    with np.load(other / "history.npz") as archive:
        for key in archive.files:
            if key != "setting_changes":
                members[f"history/{key}"] = archive[key]


def _swap_config(members: dict) -> None:
    members["config"] = np.array(str(members["config"]).replace('group = "C5"',
                                                                'group = "C7"'))


SESSION_DAMAGES = {
    "truncated": (lambda p, t: truncate(p), "truncated|damaged|not an Irrep Studio session"),
    "random bytes": (lambda p, t: p.write_bytes(b"\x89" * 100), "not an Irrep Studio session"),
    "foreign archive": (lambda p, t: np.savez(p.with_suffix(".npz"), a=np.ones(2)) or
                        p.with_suffix(".npz").replace(p), "not an Irrep Studio session"),
    "newer version": (lambda p, t: rewrite(p, lambda m: m.update(version=np.array(7))),
                      "newer Irrep Studio"),
    "another group's history": (lambda p, t: rewrite(p, lambda m: _foreign_history(
        m, t["other_group"])), "describes another run"),
    "another width's history": (lambda p, t: rewrite(p, lambda m: _foreign_history(
        m, t["other_width"])), "describes another run"),
    "configuration of another group": (lambda p, t: rewrite(p, _swap_config),
                                       "belong to another run"),
    "invalid configuration": (lambda p, t: rewrite(p, lambda m: m.update(
        config=np.array("width = 'many'"))), "configuration is invalid"),
    "lost weights": (lambda p, t: rewrite(p, lambda m: m.pop("state/theta")),
                     "weights are incomplete"),
    "no history": (lambda p, t: rewrite(p, lambda m: m.pop("history/loss_values")),
                   "lacks loss_values"),
}


@pytest.mark.parametrize("command", [name for name in COMMANDS if name != "resume"])
@pytest.mark.parametrize("damage", SESSION_DAMAGES)
def test_damaged_session_file_is_refused(qtbot, tmp_path, capsys, templates, session, damage,
                                         command):
    target = tmp_path / "run.irrep"
    shutil.copy(session, target)
    spoil, pattern = SESSION_DAMAGES[damage]
    spoil(target, templates)
    _refused(COMMANDS[command], target, tmp_path, capsys, pattern)


def test_open_accepts_a_session_file_and_a_run_directory(qtbot, templates, session):
    from gui.app import parse_request

    from_directory = parse_request(["open", str(templates["run"])])
    from_session = parse_request(["open", str(session)])
    assert from_directory.config == from_session.config
    assert int(from_session.state["step_count"]) == 12
    assert from_directory.history.latest.step == from_session.history.latest.step == 12


@pytest.mark.parametrize("command", COMMANDS)
def test_undamaged_run_is_accepted(qtbot, tmp_path, capsys, templates, command):
    """The control: the same commands on the run as recorded succeed."""
    run = tmp_path / "run"
    shutil.copytree(templates["run"], run)
    out = tmp_path / "out"
    out.mkdir()
    assert COMMANDS[command](run, out) == 0, capsys.readouterr().err
