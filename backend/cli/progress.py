"""A one-line progress bar for headless commands: steps, steps/s, loss and ETA.

Redrawn in place on a terminal (carriage return), at most a few times per second; on a
pipe or file it prints a plain line at most every ``plain_interval`` seconds.
"""

from __future__ import annotations

import math
import sys
import time
from typing import TextIO


def format_duration(seconds: float) -> str:
    """12s, 3m05s, 1h02m."""
    if not math.isfinite(seconds) or seconds < 0:
        return "--"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{(seconds % 3600) // 60:02d}m"


class ProgressBar:
    """``update(done, loss)`` redraws; ``finish()`` ends the line."""

    def __init__(
        self,
        total: int,
        *,
        label: str = "",
        stream: TextIO | None = None,
        width: int = 28,
        plain_interval: float = 5.0,
        with_loss: bool = True,
    ) -> None:
        self.total = max(int(total), 0)
        self.label = label
        self.with_loss = with_loss  # False: a task with no loss to show (no "loss --")
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.2 if self.interactive else plain_interval
        self.start = time.perf_counter()
        self.last_draw = -math.inf
        self.start_done = 0

    def rate(self, done: int) -> float:
        elapsed = time.perf_counter() - self.start
        return (done - self.start_done) / elapsed if elapsed > 0 else 0.0

    def line(self, done: int, loss: float | None) -> str:
        fraction = done / self.total if self.total else 1.0
        filled = int(round(self.width * min(max(fraction, 0.0), 1.0)))
        bar = "#" * filled + "-" * (self.width - filled)
        rate = self.rate(done)
        eta = (self.total - done) / rate if rate > 0 else math.inf
        loss_text = "--" if loss is None else f"{loss:.4g}"
        prefix = f"{self.label} " if self.label else ""
        shown_loss = f"loss {loss_text}  " if self.with_loss else ""
        return (
            f"{prefix}[{bar}] {done}/{self.total} steps  {rate:,.0f} steps/s  "
            f"{shown_loss}ETA {format_duration(eta)}"
        )

    def update(self, done: int, loss: float | None = None, *, force: bool = False) -> None:
        now = time.perf_counter()
        if not force and now - self.last_draw < self.interval:
            return
        self.last_draw = now
        text = self.line(done, loss)
        if self.interactive:
            self.stream.write("\r" + text + "\033[K")
        else:
            self.stream.write(text + "\n")
        self.stream.flush()

    def finish(self, done: int, loss: float | None = None) -> None:
        self.update(done, loss, force=True)
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
