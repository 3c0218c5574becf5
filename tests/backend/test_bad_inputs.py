"""Bad input to the headless commands, as a new user could give it: each case is refused
before any work with one `error:` line naming the problem and the fix, exit status 2, no
traceback, and no file the user had is changed (nor any new one left behind)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from backend.cli import main
from tests.bad_runs import (
    SMALL,
    assert_one_clean_refusal,
    noise,
    record_run,
    rewrite,
    tree_digest,
    truncate,
)


def refused(argv: list[str], root: Path, capsys, pattern: str) -> str:
    """Run ``argv``; check the refusal and that nothing under ``root`` changed."""
    before = tree_digest(root)
    status = main(argv)
    line = assert_one_clean_refusal(status, capsys.readouterr().err, pattern)
    assert tree_digest(root) == before
    return line


# ------------------------------------------------------------------ Cayley tables
LATIN_NOT_GROUP = "0,1,2,3,4\n1,0,3,4,2\n2,4,0,1,3\n3,2,4,0,1\n4,3,1,2,0\n"
TABLES: dict[str, tuple[str, bytes, str]] = {
    "Latin-1 text": ("t.csv", "e,a\na,e\n".replace("a", "\xe9").encode("latin-1"),
                     "not UTF-8"),
    "random bytes": ("t.csv", noise(400, 5), "binary|not UTF-8"),
    "NUL bytes": ("t.csv", b"0,1\x00\n1,0\n", "binary"),
    "UTF-16": ("t.csv", "0,1\n1,0\n".encode("utf-16"), "binary|not UTF-8"),
    "empty": ("t.csv", b"", "empty"),
    "only blank lines": ("t.csv", b"\n\n,,\n", "empty"),
    "not square": ("t.csv", b"0,1,2\n1,2,0\n", "square"),
    "ragged rows": ("t.csv", b"0,1,2\n1,2\n2,0,1\n", "square"),
    "a word in a cell": ("t.csv", b"0,1\n1,x\n", "not an integer"),
    "a huge number": ("t.csv", b"0,99999999999999999999\n1,0\n", "not an integer"),
    "a negative index": ("t.csv", b"0,-1\n1,0\n", "."),
    "an index out of range": ("t.csv", b"0,1\n1,7\n", "."),
    "no identity": ("t.csv", b"1,0,2\n0,2,1\n2,1,0\n", "."),
    "not associative": ("t.csv", LATIN_NOT_GROUP.encode(), "."),
    "repeated rows": ("t.csv", b"0,1,2\n0,1,2\n2,0,1\n", "."),
    "names that do not match": ("t.csv", b",e,a\ne,e,a\nb,a,e\n", "."),
    "a cell not in the header": ("t.csv", b",e,a\ne,e,z\na,a,e\n", "not one of the element"),
    "JSON syntax error": ("t.json", b"[[0, 1], [1, 0]", "not valid JSON"),
    "JSON number": ("t.json", b"42", "list of rows"),
    "JSON object without table": ("t.json", b'{"elements": ["e"]}', '"table" entry'),
    "JSON floats": ("t.json", b"[[0.0, 1.0], [1.0, 0.0]]", "integers"),
    "JSON too few names": ("t.json", b'{"elements": ["e"], "table": [[0, 1], [1, 0]]}',
                           "element names"),
    "JSON nested too deep": ("t.json", b"[" * 100000 + b"]" * 100000, "not valid JSON"),
    "JSON binary": ("t.json", noise(300, 6), "binary|not UTF-8"),
    "unknown suffix": ("t.txt", b"0,1\n1,0\n", ".csv or .json"),
    "too many rows": ("t.csv", b"0\n" * 1100, "."),
}


def _table(tmp_path: Path, case: str) -> Path:
    name, data, _ = TABLES[case]
    folder = tmp_path / "tables"
    folder.mkdir()
    path = folder / name
    path.write_bytes(data)
    return path


@pytest.mark.parametrize("case", TABLES)
def test_bad_table_file_for_group(tmp_path, capsys, case):
    path = _table(tmp_path, case)
    refused(["group", str(path)], tmp_path, capsys, TABLES[case][2])


@pytest.mark.parametrize("case", TABLES)
def test_bad_table_file_for_train_leaves_no_folder(tmp_path, capsys, case):
    path = _table(tmp_path, case)
    refused(["train", *SMALL, "--set", f"group={path}", "--steps", "1", "--out",
             str(tmp_path / "run")], tmp_path, capsys, TABLES[case][2])
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["a missing file", "a folder"])
@pytest.mark.parametrize("command", ["group", "train"])
def test_table_path_that_is_not_a_file(tmp_path, capsys, kind, command):
    path = tmp_path / "table.csv"
    if kind == "a folder":
        path.mkdir()
    argv = ["group", str(path)] if command == "group" else [
        "train", *SMALL, "--set", f"group={path}", "--steps", "1"]
    refused(argv, tmp_path, capsys, "no such table file|folder|does not exist")


# ------------------------------------------------------------------ configuration files
CONFIGS: dict[str, tuple[bytes | None, str]] = {
    "binary": (noise(600, 7), "binary|not UTF-8"),
    "Latin-1": ('group = "C5" # caf\xe9\n'.encode("latin-1"), "not UTF-8"),
    "not TOML": (b"width = = 3\n", "not valid TOML"),
    "a CSV table": (b"0,1\n1,0\n", "not valid TOML"),
    "unknown key": (b"colour = 3\n", "unknown key 'colour'"),
    "misspelt key": (b"lerning_rate = 0.1\n", "did you mean 'learning_rate'"),
    "width as text": (b'width = "many"\n', "width = 'many' is not a whole number"),
    "negative width": (b"width = -4\n", "width = -4 must be at least 1"),
    "NaN learning rate": (b"learning_rate = nan\n", "not a finite number"),
    "infinite learning rate": (b"learning_rate = inf\n", "not a finite number"),
    "a table for a key": (b"[width]\nvalue = 3\n", "width"),
    "a list for the group": (b"group = [1, 2]\n", "group"),
    "seed too large": (b"seed = 9223372036854775807\ndata_seed = -1\n", "data_seed = -1"),
    "nested too deep": (b"template_powers = " + b"[" * 5000 + b"]" * 5000 + b"\n", "."),
    "unknown encoding": (b'encoding = "onehott"\n', "did you mean 'onehot'"),
}


@pytest.mark.parametrize("case", CONFIGS)
def test_bad_config_file(tmp_path, capsys, case):
    data, pattern = CONFIGS[case]
    path = tmp_path / "config.toml"
    path.write_bytes(data)
    refused(["train", "--config", str(path), "--steps", "1", "--out", str(tmp_path / "run")],
            tmp_path, capsys, pattern)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_config_path_that_is_not_a_file(tmp_path, capsys, kind):
    path = tmp_path / "config.toml"
    if kind == "folder":
        path.mkdir()
    refused(["train", "--config", str(path), "--steps", "1"], tmp_path, capsys,
            "does not exist|is a folder")


# ------------------------------------------------------------------ --set values
SETTINGS: dict[str, tuple[list[str], str]] = {
    "seed beyond any generator": (["seed=1180591620717411303424"], "seed = .* out of range"),
    "negative seed": (["seed=-3"], "seed = -3 is out of range"),
    "data seed beyond range": (["data_seed=99999999999999999999999"], "data_seed = .* range"),
    "width zero": (["width=0"], "width = 0 must be at least 1"),
    "width beyond memory": (["width=50000000"], "GiB of memory.*choose width"),
    "width astronomically large": (["width=100000000000000000000"], "GiB of memory"),
    "steps negative": (["steps=-1"], "steps = -1 is out of range"),
    "steps beyond int64": (["steps=100000000000000000000"], "steps = .* out of range"),
    "batch size negative": (["batch_size=-2"], "batch_size = -2"),
    "learning rate zero": (["learning_rate=0"], "learning_rate = 0.0 must be positive"),
    "learning rate negative": (["learning_rate=-0.1"], "must be positive"),
    "learning rate NaN": (["learning_rate=nan"], "not a finite number"),
    "an initial scale below double precision": (["init_scale=1e-400"],
                                                "beyond double precision"),
    "a learning rate above double precision": (["learning_rate=1e400"],
                                               "beyond double precision"),
    "learning rate text": (["learning_rate=fast"], "not a finite number"),
    "momentum one": (["momentum=1"], r"momentum = 1.0 must be in \[0, 1\)"),
    "train fraction zero": (["train_fraction=0"], r"must be in \(0, 1\]"),
    "train fraction above one": (["train_fraction=2"], r"must be in \(0, 1\]"),
    "garbage group": (["group=garbage"], "unknown group 'garbage'"),
    "empty group": (["group="], "group is empty"),
    "trivial group": (["group=C1"], "single element"),
    "too large a symmetric group": (["group=S9"], "."),
    "product missing a side": (["group=C3x"], "both sides of x"),
    "bad permutation": (["group=perm:(1 2"], "."),
    "unknown encoding": (["encoding=fourier"], "encoding = 'fourier' is not allowed"),
    "cross entropy with a template": (["encoding=gaussian"], "cross_entropy"),
    "template without powers": (["encoding=template", "loss=mse"], "needs template_powers"),
    "scaled gd on the sphere": (["optimiser=scaled_gd"], "scaled_gd"),
    "shared embedding on a non-commutative group": (
        ["group=S3", "shared_embedding=true"], "commutative group"),
    "unknown precision": (["precision=float16"], "precision = 'float16' is not allowed"),
    "unknown key": (["colour=red"], "unknown key 'colour'"),
    "no equals sign": (["width"], "write key=value"),
    "boolean for width": (["width=true"], "width = True is not a whole number"),
    "list for learning rate": (["learning_rate=[1, 2]"], "not a finite number"),
    "negative template power": (["encoding=template", "loss=mse", "template_powers=[-1.0]"],
                                "non-negative powers"),
    "stage two switch beyond range": (["stage_two_after=10000000000000000"], "out of range"),
}


@pytest.mark.parametrize("case", SETTINGS)
def test_bad_setting_leaves_nothing_behind(tmp_path, capsys, case):
    values, pattern = SETTINGS[case]
    sets = [item for value in values for item in ("--set", value)]
    refused(["train", "--set", "group=C5", "--set", "width=6", *sets, "--steps", "1", "--out",
             str(tmp_path / "run"), "--quiet"], tmp_path, capsys, pattern)
    assert not (tmp_path / "run").exists()


# ------------------------------------------------------------------ resume misuse
@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    return record_run(tmp_path_factory.mktemp("finished") / "run")


@pytest.fixture
def run_copy(tmp_path, finished):
    run = tmp_path / "run"
    shutil.copytree(finished, run)
    return run


RESUME_MISUSE: dict[str, tuple[list[str], str]] = {
    "with --preset": (["--preset", "c11-agf"], "--preset cannot be used"),
    "with --config": (["--config", "x.toml"], "--config cannot be used"),
    "with --out": (["--out", "elsewhere"], "--out cannot be used"),
    "with --overwrite": (["--overwrite"], "--overwrite cannot be used"),
    "changing the width": (["--set", "width=8"], "--resume cannot change width"),
    "changing the group": (["--set", "group=C7"], "--resume cannot change group"),
    "changing the seed": (["--set", "seed=4"], "--resume cannot change seed"),
    "changing the encoding": (["--set", "encoding=gaussian", "--set", "loss=mse"],
                              "--resume cannot change encoding"),
    "a bad new learning rate": (["--set", "learning_rate=-1"], "must be positive"),
    "no more steps": (["--steps", "12"], "already taken 12 steps"),
    "fewer steps": (["--steps", "5"], "already taken 12 steps"),
    "an unknown key": (["--set", "colour=1"], "unknown key"),
}


@pytest.mark.parametrize("case", RESUME_MISUSE)
def test_resume_misuse_is_refused(tmp_path, capsys, run_copy, case):
    extra, pattern = RESUME_MISUSE[case]
    argv = ["train", "--resume", str(run_copy), "--quiet", *extra]
    if "--steps" not in extra:
        argv += ["--steps", "30"]
    refused(argv, tmp_path, capsys, pattern)


def _drop_checkpoint(run: Path) -> None:
    (run / "checkpoint.npz").unlink()


def _drop_history(run: Path) -> None:
    (run / "history.npz").unlink()


def _history_with_a_hole(run: Path) -> None:
    def cut(members: dict) -> None:
        keep = members["loss_steps"] < 4
        members["loss_steps"], members["loss_values"] = (members["loss_steps"][keep],
                                                         members["loss_values"][keep])
        keep = members["scalar_steps"] < 4
        members["scalar_steps"] = members["scalar_steps"][keep]
        members["scalar_values"] = members["scalar_values"][keep]
        keep = members["snapshot_step"] < 4
        for key in [k for k in members if k.startswith("snapshot_")]:
            members[key] = members[key][keep]

    rewrite(run / "history.npz", cut)


def _diverged(run: Path) -> None:
    rewrite(run / "checkpoint.npz", lambda m: m.update(state=np.array(
        str(m["state"]).replace('["divergence", null]',
                                '["divergence", "Training diverged: test."]'))))


BROKEN_RUNS = {
    "no checkpoint (no silent restart)": (_drop_checkpoint, "holds no checkpoint.*--overwrite"),
    "no history": (_drop_history, "no history.npz"),
    "history that stops before the checkpoint": (_history_with_a_hole, "would have a gap"),
    "diverged, same learning rate": (_diverged, "diverged.*--set learning_rate="),
}


@pytest.mark.parametrize("case", BROKEN_RUNS)
def test_resume_of_an_incomplete_run_is_refused(tmp_path, capsys, run_copy, case):
    spoil, pattern = BROKEN_RUNS[case]
    spoil(run_copy)
    refused(["train", "--resume", str(run_copy), "--steps", "30", "--quiet"], tmp_path, capsys,
            pattern)


def test_the_diverged_run_continues_at_a_lower_rate(tmp_path, capsys, run_copy):
    _diverged(run_copy)
    assert main(["train", "--resume", str(run_copy), "--steps", "15", "--quiet",
                 "--set", "learning_rate=0.000123"]) == 0
    assert "learning_rate" in capsys.readouterr().err


# ------------------------------------------------------------------ folders that cannot be written
@pytest.fixture
def read_only(monkeypatch):
    """Folders named ``ro`` refuse writes (as for a user without permission; the tests
    may run as root, who is never refused)."""
    real = os.access

    def access(path, mode):
        if Path(path).name == "ro" and mode & os.W_OK:
            return False
        return real(path, mode)

    monkeypatch.setattr(os, "access", access)


def test_group_save_into_a_read_only_folder(tmp_path, capsys, read_only):
    (tmp_path / "ro").mkdir()
    refused(["group", "S4", "--save", str(tmp_path / "ro" / "s4.npz")], tmp_path, capsys,
            "not writable")


def test_group_save_into_a_missing_folder(tmp_path, capsys):
    refused(["group", "S4", "--save", str(tmp_path / "nowhere" / "s4.npz")], tmp_path, capsys,
            "does not exist")


def test_train_into_a_read_only_folder(tmp_path, capsys, read_only):
    (tmp_path / "ro").mkdir()
    refused(["train", *SMALL, "--steps", "3", "--out", str(tmp_path / "ro")], tmp_path, capsys,
            "not writable")


def test_resume_of_a_read_only_run(tmp_path, capsys, finished, read_only):
    shutil.copytree(finished, tmp_path / "ro")
    refused(["train", "--resume", str(tmp_path / "ro"), "--steps", "30", "--quiet"], tmp_path,
            capsys, "not writable.*copy")


def test_train_out_is_a_file(tmp_path, capsys):
    (tmp_path / "run").write_text("mine")
    refused(["train", *SMALL, "--steps", "3", "--out", str(tmp_path / "run")], tmp_path, capsys,
            "is a file")


def test_train_out_already_holds_a_run(tmp_path, capsys, run_copy):
    refused(["train", *SMALL, "--steps", "3", "--out", str(run_copy)], tmp_path, capsys,
            "already holds a run.*--overwrite.*--resume")


# ------------------------------------------------------------------ loaders called directly
@pytest.fixture(scope="module")
def exported(tmp_path_factory, finished):
    from backend.run_directory import RunDirectory
    from backend.session_file import save_session
    from backend.trainer_state import STATE_EXPORT_FORMAT, WEIGHTS_PREFIX, state_members

    folder = tmp_path_factory.mktemp("exports")
    config, state, history = RunDirectory.load(finished)
    members = state_members({k: v for k, v in state.items() if k != "config"}, WEIGHTS_PREFIX)
    members.update(format=np.array(STATE_EXPORT_FORMAT), version=np.array(1),
                   config=np.array(config.to_toml_text()))
    np.savez(folder / "state.npz", **members)
    return {"state": folder / "state.npz",
            "session": save_session(folder / "run.irrep", config, state, history)}


def test_state_export_reads_back_exactly(exported, finished):
    import torch

    from backend.run_directory import RunDirectory
    from backend.trainer_state import read_state_export

    config, state = read_state_export(exported["state"])
    saved = RunDirectory.read(finished)
    assert config == saved.config
    assert torch.equal(state["theta"], saved.state["theta"])


STATE_EXPORT_DAMAGES = {
    "truncated": (truncate, "truncated|damaged|not a NumPy archive"),
    "random bytes": (lambda p: p.write_bytes(noise(900, 8)), "not a NumPy archive"),
    "foreign archive": (lambda p: np.savez(p, x=np.ones(1)), "not an Irrep Studio state"),
    "weights of another width": (lambda p: rewrite(p, lambda m: m.update(
        {"weights/theta": np.zeros((3, 5, 9), np.float32)})), "belong to another run"),
    "lost weights": (lambda p: rewrite(p, lambda m: m.pop("weights/theta")),
                     "weights are incomplete"),
    "newer version": (lambda p: rewrite(p, lambda m: m.update(version=np.array(5))),
                      "newer Irrep Studio"),
}


@pytest.mark.parametrize("case", STATE_EXPORT_DAMAGES)
def test_damaged_state_export_is_refused(tmp_path, exported, case):
    from backend.errors import UserError
    from backend.trainer_state import read_state_export

    path = tmp_path / "state.npz"
    shutil.copy(exported["state"], path)
    spoil, pattern = STATE_EXPORT_DAMAGES[case]
    spoil(path)
    before = tree_digest(tmp_path)
    with pytest.raises(UserError, match=pattern):
        read_state_export(path)
    assert tree_digest(tmp_path) == before


def test_summary_json_is_valid_and_describes_the_checkpoint(finished):
    from backend.run_directory import RunDirectory

    summary = json.loads((finished / "summary.json").read_text())
    assert summary["steps"] == RunDirectory.read(finished).step == 12


@pytest.mark.parametrize("suffix", [".csv", ".json"])
def test_a_huge_table_file_is_refused_before_it_is_read(tmp_path, capsys, suffix):
    path = tmp_path / f"huge{suffix}"
    with open(path, "wb") as handle:
        handle.truncate(100 * 1024**2)
    refused(["group", str(path)], tmp_path, capsys, "more than any Cayley table file needs")
