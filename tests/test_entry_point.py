"""The entry point: help lists the commands; no display gives one clear line, not a trace."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_main(*args: str, env_update: dict | None = None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env.pop("QT_QPA_PLATFORM", None)
    env.update(env_update or {})
    return subprocess.run(
        [sys.executable, str(ROOT / "main.py"), *args],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    )


def test_help_lists_headless_commands():
    result = run_main("--help")
    assert result.returncode == 0
    for command in ("group", "train", "presets", "agf", "open", "video"):
        assert command in result.stdout
    for option in ("--preset", "--run-steps", "--window-size", "--screenshot"):
        assert option in result.stdout  # the window's options, named


def test_the_windows_help_needs_no_display():
    result = run_main("--preset", "c11-agf", "--help")
    assert result.returncode == 0 and result.stderr == ""
    assert "--run-steps N" in result.stdout and "--window-size" in result.stdout


def test_window_without_display_prints_one_clear_line():
    result = run_main()
    assert result.returncode == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "no display" in lines[0] and "xvfb-run" in lines[0]
    assert "Traceback" not in result.stderr
