"""Run a sweep: skip finished runs, submit the others to Ray, write each result as it
arrives, keep going through failures, stop cleanly on Ctrl-C."""

from __future__ import annotations

import math
import sys
import time
from collections import deque
from dataclasses import dataclass
from typing import TextIO

from backend.cli.progress import format_duration
from backend.file_reading import write_failure
from backend.run_directory import RunDirectory
from backend.sweeps.directory import SweepDirectory, SweepDirectoryError
from backend.sweeps.engine import RayEngine
from backend.sweeps.spec import SweepSpec
from backend.sweeps.table import FINISHED, SweepTable, summary_columns

WAIT_SECONDS = 0.5


@dataclass
class SweepOutcome:
    counts: dict[str, int]
    ran: int
    """Runs attempted by this start (finished, diverged or failed)."""
    skipped: int
    """Runs already finished by an earlier start."""
    interrupted: bool
    ray_start_seconds: float
    wall_seconds: float


def runs_to_do(spec: SweepSpec, table: SweepTable, directory: SweepDirectory) -> list:
    """Runs not finished yet: pending, failed, or finished but their folder is gone."""
    todo = []
    for run in spec.runs:
        finished = table.status_of(run.run_id) in FINISHED
        present = (directory.run_path(run.run_id) / RunDirectory.SUMMARY).is_file()
        if not (finished and present):
            todo.append(run)
    return todo


def run_sweep(spec: SweepSpec, directory: SweepDirectory, engine: RayEngine,
              progress: SweepProgress | None = None) -> SweepOutcome:
    """Run every unfinished run of ``spec`` into ``directory`` (prepared) on ``engine``."""
    begin = time.perf_counter()
    table = SweepTable(spec, directory.path)
    table.load()
    todo = runs_to_do(spec, table, directory)
    skipped = len(spec.runs) - len(todo)
    for run in todo:
        table.mark_pending(run.run_id)
    table.save()
    ran = 0
    interrupted = False
    if todo:
        queue = deque(todo)
        in_flight: dict = {}
        try:
            engine.start()
            if progress is not None:
                progress.begin(len(todo))
            _fill(engine, queue, in_flight, spec.compute)
            while in_flight:
                finished, _ = engine.wait(list(in_flight), WAIT_SECONDS)
                for reference in finished:
                    run = in_flight.pop(reference)
                    _store(run, engine.result(reference), table, directory)
                    ran += 1
                _fill(engine, queue, in_flight, spec.compute)
                if progress is not None:
                    progress.update(table.counts(), len(in_flight), ran)
        except KeyboardInterrupt:
            interrupted = True
            engine.cancel(list(in_flight))
        finally:
            engine.stop()
        if progress is not None:
            progress.finish(table.counts(), 0, ran)
    return SweepOutcome(table.counts(), ran, skipped, interrupted, engine.started_seconds,
                        time.perf_counter() - begin)


def _fill(engine: RayEngine, queue: deque, in_flight: dict, compute: str) -> None:
    """Submit queued runs until the cluster's slots are full."""
    capacity = engine.capacity()
    while queue and len(in_flight) < capacity:
        run = queue.popleft()
        in_flight[engine.submit(run.config.to_dict(), compute)] = run


def _store(run, result: dict, table: SweepTable, directory: SweepDirectory) -> None:
    """Write a finished run's files, then its row. A failed write stops the sweep with a
    message: every file is written atomically, so the runs stored before it stay whole and
    the same command resumes the sweep."""
    try:
        if result.get("files"):
            directory.write_run(run.run_id, result["files"])
        table.record(run.run_id, result["status"], result.get("message", ""),
                     result.get("wall_seconds", 0.0),
                     summary_columns(result.get("summary"), result.get("agf")))
        table.save()
    except OSError as error:
        raise SweepDirectoryError(
            write_failure(directory.path, error)
            + "; the runs stored so far are kept, and the same command resumes the sweep"
        ) from None


class SweepProgress:
    """One line: runs finished / total, done, diverged, failed, running, time left."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 24,
                 plain_interval: float = 10.0) -> None:
        self.total = total
        self.stream = stream if stream is not None else sys.stderr
        self.width = width
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self.interval = 0.5 if self.interactive else plain_interval
        self.last_draw = -math.inf
        self.start = time.perf_counter()
        self.to_run = 0

    def begin(self, to_run: int) -> None:
        self.start = time.perf_counter()
        self.to_run = to_run

    def line(self, counts: dict[str, int], running: int, ran: int) -> str:
        finished = counts["done"] + counts["diverged"] + counts["failed"]
        fraction = finished / self.total if self.total else 1.0
        filled = int(round(self.width * fraction))
        elapsed = time.perf_counter() - self.start
        left = (self.to_run - ran) * elapsed / ran if ran else math.inf
        return (
            f"sweep [{'#' * filled}{'-' * (self.width - filled)}] {finished}/{self.total} runs"
            f"  done {counts['done']}  diverged {counts['diverged']}  failed {counts['failed']}"
            f"  running {running}  elapsed {format_duration(elapsed)}"
            f"  left {format_duration(left) if ran < self.to_run else '0s'}"
        )

    def update(self, counts: dict[str, int], running: int, ran: int, *, force: bool = False
               ) -> None:
        now = time.perf_counter()
        if not force and now - self.last_draw < self.interval:
            return
        self.last_draw = now
        text = self.line(counts, running, ran)
        self.stream.write("\r" + text + "\033[K" if self.interactive else text + "\n")
        self.stream.flush()

    def finish(self, counts: dict[str, int], running: int, ran: int) -> None:
        self.update(counts, running, ran, force=True)
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
