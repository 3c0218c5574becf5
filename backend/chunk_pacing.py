"""How many optimiser steps a live run takes between two looks at its commands.

A chunk should last about ``target_seconds``: long enough that the per-chunk work (reading
the losses, recording them, answering commands) costs little, short enough that a pause
or a new command is obeyed at once. Chunk sizes change only the pacing, never the
trajectory (the steps are the same whatever their grouping).
"""

from __future__ import annotations

MAX_CHUNK = 100_000
WINDOW_CHUNK_SECONDS = 0.008
"""The window's worker: a chunk holds the interpreter lock, so it must stay short."""
HEADLESS_CHUNK_SECONDS = 0.05
"""Headless drivers (the CLI, a notebook, a sweep): fewer, longer chunks."""


def next_chunk(chunk: int, count: int, elapsed: float, target_seconds: float) -> int:
    """The size of the next chunk after ``count`` steps took ``elapsed`` seconds: enough
    steps for about ``target_seconds``, growing at most twofold per chunk. A count below
    the current chunk (a chunk cut short by a snapshot or a target) says little and
    changes nothing."""
    if count < chunk:
        return chunk
    per_step = max(elapsed, 1e-6) / count
    ideal = target_seconds / per_step
    return int(min(max(1, ideal), 2 * chunk, MAX_CHUNK))


class ChunkPacer:
    """The current chunk size, adapted to the measured time of the steps."""

    def __init__(self, target_seconds: float = HEADLESS_CHUNK_SECONDS) -> None:
        self.target_seconds = float(target_seconds)
        self.chunk = 1

    def reset(self) -> None:
        self.chunk = 1

    def note(self, count: int, elapsed: float) -> None:
        """``count`` steps (without any snapshot) took ``elapsed`` seconds."""
        self.chunk = next_chunk(self.chunk, count, elapsed, self.target_seconds)
