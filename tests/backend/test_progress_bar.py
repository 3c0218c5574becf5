"""The headless commands' progress line (backend.cli.progress)."""

from __future__ import annotations

import io

from backend.cli.progress import ProgressBar, format_duration


def test_durations_read_as_seconds_minutes_and_hours():
    assert [format_duration(s) for s in (12, 185, 3720)] == ["12s", "3m05s", "1h02m"]
    assert format_duration(float("inf")) == "--"


def test_a_bar_on_a_pipe_prints_plain_lines_with_or_without_a_loss():
    """On a pipe each update is a line (no carriage return); a bar for a task without a
    loss (the AGF simulation) leaves the loss out instead of printing "loss --"."""
    stream = io.StringIO()
    bar = ProgressBar(100, label="gradient descent", stream=stream)
    bar.finish(100, 0.25)
    line = stream.getvalue()
    assert line.startswith("gradient descent [") and "100/100 steps" in line
    assert "loss 0.25" in line and "\r" not in line
    stream = io.StringIO()
    ProgressBar(100, label="AGF (simulated)", stream=stream, with_loss=False).finish(40)
    assert "40/100 steps" in stream.getvalue() and "loss" not in stream.getvalue()
