"""Sweeps on a real Ray: a local instance of 2 CPUs, and a head started on 127.0.0.1.

Tiny runs (width 8, 40 steps) keep these tests to seconds beyond Ray's own start-up.
"""

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from backend.run_directory import RunDirectory, load_trainer
from backend.sweeps.directory import SweepDirectory, SweepDirectoryError
from backend.sweeps.engine import EngineOptions, RayEngine
from backend.sweeps.runner import run_sweep
from backend.sweeps.spec import parse_sweep
from backend.sweeps.table import read_results_csv

ROOT = Path(__file__).resolve().parents[3]
OBJECT_STORE = 80 * 1024**2

# shared_embedding = true fits the commutative C5 and makes every D3 run fail
SWEEP = """
[sweep]
preset = "z3xz5-sphere"
seeds = 2

[base]
width = 8
steps = 40
stage_two_after = 0
shared_embedding = true

[grid]
group = ["C5", "D3"]
"""


def local_engine() -> RayEngine:
    return RayEngine(EngineOptions(num_cpus=2, object_store_memory=OBJECT_STORE))


def test_local_sweep_writes_runs_and_table_and_resumes(tmp_path):
    spec = parse_sweep(SWEEP, source="sweep.toml")
    directory = SweepDirectory(tmp_path / "sweep")
    assert directory.prepare(spec) is False
    outcome = run_sweep(spec, directory, local_engine())
    assert outcome.counts == {"pending": 0, "done": 2, "diverged": 0, "failed": 2}
    assert (directory.path / "sweep.toml").read_text() == SWEEP

    header, rows = read_results_csv(directory.path / "results.csv")
    assert [row["run_id"] for row in rows] == [run.run_id for run in spec.runs]
    assert header[:5] == ["run_id", "status", "message", "group", "seed"]
    for run, row in zip(spec.runs, rows, strict=True):
        assert (row["group"], int(row["seed"])) == (run.config.group, run.config.seed)
        folder = directory.run_path(run.run_id)
        if run.config.group == "D3":
            assert row["status"] == "failed"
            assert "shared_embedding" in row["message"] and "D3" in row["message"]
            assert not folder.exists()
            continue
        assert row["status"] == "done" and row["message"] == ""
        summary = json.loads((folder / RunDirectory.SUMMARY).read_text())
        assert float(row["loss"]) == summary["loss"]
        assert float(row["train_accuracy"]) == summary["train_accuracy"]
        counts = {key[len("neurons "):]: int(value) for key, value in row.items()
                  if key.startswith("neurons ") and value != ""}
        assert counts == summary["orbit_counts"] and sum(counts.values()) == 8
        assert float(row["wall_seconds"]) > 0 and row["attempts"] == "1"
        config, state, history = RunDirectory.load(folder)
        assert config == run.config
        trainer, _ = load_trainer(folder)
        assert trainer.step_count == 40 == summary["steps"]
        assert history.latest.step == 40

    # a lost run (its folder gone) and the failed runs run again; the other is kept
    lost, kept = spec.runs[0], spec.runs[1]
    lost_summary = json.loads((directory.run_path(lost.run_id) / "summary.json").read_text())
    for path in directory.run_path(lost.run_id).iterdir():
        path.unlink()
    directory.run_path(lost.run_id).rmdir()
    kept_file = directory.run_path(kept.run_id) / "checkpoint.npz"
    kept_time = kept_file.stat().st_mtime_ns

    again = parse_sweep(SWEEP, source="sweep.toml")
    assert directory.prepare(again) is True
    outcome = run_sweep(again, directory, local_engine())
    assert (outcome.ran, outcome.skipped) == (3, 1)
    _, rows = read_results_csv(directory.path / "results.csv")
    assert [row["attempts"] for row in rows] == ["2", "1", "2", "2"]
    assert kept_file.stat().st_mtime_ns == kept_time
    redone = json.loads((directory.run_path(lost.run_id) / "summary.json").read_text())
    assert redone["loss"] == pytest.approx(lost_summary["loss"], rel=1e-5)
    assert redone["orbit_counts"] == lost_summary["orbit_counts"]


def test_a_different_sweep_into_the_same_folder_is_refused(tmp_path):
    spec = parse_sweep(SWEEP)
    SweepDirectory(tmp_path).prepare(spec)
    other = parse_sweep(SWEEP.replace("seeds = 2", "seeds = 3"))
    with pytest.raises(SweepDirectoryError, match="different sweep"):
        SweepDirectory(tmp_path).prepare(other)
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "elsewhere" / "notes.txt").write_text("mine")
    with pytest.raises(SweepDirectoryError, match="not empty"):
        SweepDirectory(tmp_path / "elsewhere").prepare(spec)
    assert (tmp_path / "elsewhere" / "notes.txt").read_text() == "mine"


def test_unwritable_folder_is_refused(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(SweepDirectoryError, match="cannot write"):
        SweepDirectory(blocker / "sweep").prepare(parse_sweep(SWEEP))
    with pytest.raises(SweepDirectoryError, match="is a file"):
        SweepDirectory(blocker).prepare(parse_sweep(SWEEP))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _sweep_command(sweep_file: Path, out: Path, address: str, env: dict
                   ) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "sweep", str(sweep_file), "--out", str(out),
         "--address", address, "--quiet"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=240,
    )


def test_sweep_attaches_to_a_head_started_on_loopback(tmp_path):
    port = _free_port()
    token = secrets.token_hex(16)
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token}
    env.pop("RAY_ADDRESS", None)
    ray = Path(sys.executable).parent / "ray"
    ray_files = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))  # socket paths stay short
    head_log = open(tmp_path / "head.log", "wb")
    # no 30 s drain when the test stops its head (that only helps Ray Serve's proxies)
    head_env = {**env, "RAY_GRACEFUL_SHUTDOWN_DRAIN_TIMEOUT_S": "0"}
    head = subprocess.Popen(
        [str(ray), "start", "--head", f"--port={port}", "--node-ip-address=127.0.0.1",
         "--num-cpus=2", "--include-dashboard=false", f"--object-store-memory={OBJECT_STORE}",
         "--disable-usage-stats", f"--temp-dir={ray_files}", "--block"],
        stdout=head_log, stderr=subprocess.STDOUT, env=head_env, start_new_session=True,
    )
    try:
        sweep_file = tmp_path / "sweep.toml"
        sweep_file.write_text(SWEEP.replace('["C5", "D3"]', '["C5"]'))
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert head.poll() is None and time.monotonic() < deadline, (
                    "the head did not start: "
                    + (tmp_path / "head.log").read_text(errors="replace")[-1500:])
                time.sleep(0.2)
        result = _sweep_command(sweep_file, tmp_path / "out", f"127.0.0.1:{port}", env)
        assert result.returncode == 0, result.stderr[-2000:]
        assert f"cluster 127.0.0.1:{port}" in result.stdout
        _, rows = read_results_csv(tmp_path / "out" / "results.csv")
        assert [row["status"] for row in rows] == ["done", "done"]
        assert all((tmp_path / "out" / "runs" / row["run_id"] / "checkpoint.npz").is_file()
                   for row in rows)
        assert head.poll() is None  # attaching never stops the cluster
    finally:
        _stop_head(head)
        head_log.close()
        shutil.rmtree(ray_files, ignore_errors=True)


def _stop_head(head: subprocess.Popen) -> None:
    """SIGTERM to the session of `ray start --block`: it stops the processes it started."""
    try:
        os.killpg(head.pid, signal.SIGTERM)
        head.wait(timeout=60)
    except ProcessLookupError:
        pass
    except subprocess.TimeoutExpired:
        os.killpg(head.pid, signal.SIGKILL)
        head.wait()


def test_an_address_that_does_not_answer_is_refused_before_anything(tmp_path):
    sweep_file = tmp_path / "sweep.toml"
    sweep_file.write_text(SWEEP)
    env = {key: value for key, value in os.environ.items() if key != "RAY_ADDRESS"}
    start = time.monotonic()
    result = _sweep_command(sweep_file, tmp_path / "out", f"127.0.0.1:{_free_port()}", env)
    assert result.returncode == 2
    assert result.stderr.startswith("error: the Ray cluster at 127.0.0.1:")
    assert result.stderr.count("\n") == 1 and "does not answer" in result.stderr
    assert time.monotonic() - start < 35
    assert not (tmp_path / "out").exists()
