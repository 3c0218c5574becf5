"""A live run without Qt: the Trainer, its recorded history, and what a user does to it.

Every driver of a run goes through a LiveSession: the ``train`` command, ``agf
--compare``, the window's training worker (a thin QThread over it), a notebook, a sweep
worker. The session

- steps the trainer in chunks (``advance``), paced by time (``backend.chunk_pacing``) but
  cut at the steps of the snapshot schedule (``backend.snapshot_schedule``), so the
  recorded steps depend on the configuration only, never on the machine's speed;
- records every step's loss and a full MetricSnapshot at each scheduled step in its
  ``history`` (a snapshot is measured from the forward pass of the step that starts at
  those weights, ``Trainer.metrics_then_step``);
- runs to a number of steps (``train_to``, ``step``) or to the next loss drop
  (``run_to_next_drop``, which gives up with a message after a bounded horizon);
- perturbs, reseeds, resets and loads a state;
- reports progress through a plain callable, after every chunk.

Headless use::

    session = LiveSession(load_preset("c11-agf"))
    session.train_to(4000, on_progress=lambda p: print(p.step, p.loss))
    outcome = session.run_to_next_drop()      # outcome.found, .step, .message
    final = session.snapshot()                # measured and recorded
    session.history.snapshots, session.trainer.state_dict()

Chunking never changes the result: ``step(a); step(b)`` gives the same bits and the
same history as ``step(a + b)``.
"""

from __future__ import annotations

import collections
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from backend.chunk_pacing import HEADLESS_CHUNK_SECONDS, ChunkPacer
from backend.drop_watch import DropOutcome, DropWatch
from backend.snapshot_schedule import SnapshotSchedule
from backend.threads import ThreadTuner, apply_thread_policy, set_threads

SNAPSHOT_CAPACITY = 300
"""Full snapshots a session's history keeps (decimated beyond)."""
RATE_WINDOW_SECONDS = 1.0


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk did: the (step, loss) of every step taken, the snapshots recorded
    (in step order), its duration, the trainer's divergence message if it stopped, and
    the training accuracy of every step taken (``Trainer.recent_accuracies``)."""

    steps: np.ndarray
    losses: np.ndarray
    snapshots: tuple = ()
    seconds: float = 0.0
    divergence: str | None = None
    accuracies: np.ndarray = field(default_factory=lambda: np.zeros(0))

    @property
    def count(self) -> int:
        return int(self.steps.size)


@dataclass(frozen=True)
class Progress:
    """Handed to ``on_progress`` after every chunk of a blocking run: where the run is,
    where it is going, and the chunk itself (every step's loss, its snapshots)."""

    step: int
    target: int | None
    loss: float
    steps_per_second: float
    chunk: ChunkResult


ProgressCallback = Callable[[Progress], None]


def default_trainer_factory(config: Any) -> Any:
    """The backend Trainer for ``config`` (imported here: torch loads only when needed)."""
    from backend.training.trainer import Trainer

    return Trainer(config)


def _new_history(capacity: int) -> Any:
    from backend.recording import MetricHistory

    return MetricHistory(capacity)


class LiveSession:
    """One live run: ``trainer``, ``history``, ``schedule``; see the module docstring."""

    def __init__(
        self,
        config: Any,
        *,
        trainer: Any = None,
        history: Any = None,
        trainer_factory: Callable[[Any], Any] = default_trainer_factory,
        chunk_seconds: float = HEADLESS_CHUNK_SECONDS,
        snapshot_capacity: int = SNAPSHOT_CAPACITY,
        threads: int | None = None,
        snapshots: bool = True,
    ) -> None:
        """A session of ``config`` (a RunConfig). ``trainer`` and ``history`` continue an
        existing run; ``threads`` overrides the thread policy (``backend.threads``);
        ``snapshots=False`` records losses only (no scheduled snapshot)."""
        self.records_snapshots = bool(snapshots)
        apply_thread_policy(threads)
        self.tuner = ThreadTuner(threads)
        self._factory = trainer_factory
        self._capacity = int(snapshot_capacity)
        self.pacer = ChunkPacer(chunk_seconds)
        self.trainer = trainer if trainer is not None else trainer_factory(config)
        self.history = history if history is not None else _new_history(self._capacity)
        self._restart_bookkeeping()

    @classmethod
    def from_trainer(cls, trainer: Any, history: Any = None, **options: Any) -> LiveSession:
        """A session continuing ``trainer`` (and its recorded ``history``, if any)."""
        return cls(trainer.config, trainer=trainer, history=history, **options)

    # ----------------------------------------------------------------- state
    @property
    def config(self) -> Any:
        return self.trainer.config

    @property
    def step_count(self) -> int:
        return int(self.trainer.step_count)

    @property
    def threads(self) -> int:
        """The thread count the session trains on now (``backend.threads``)."""
        return self.tuner.current

    @property
    def steps_per_second(self) -> float:
        """Training speed over about the last second of training (pauses left out; 0
        before the first chunk)."""
        seconds, count = self._rate_totals
        return count / seconds if seconds > 0 else 0.0

    def _restart_bookkeeping(self) -> None:
        self.schedule = SnapshotSchedule.for_steps(int(self.trainer.config.steps))
        self._measured_step: int | None = None  # a snapshot of the current weights exists
        self._measured: Any = None  # ... and this is it
        self.pacer.reset()
        self._rates: collections.deque[tuple[float, int]] = collections.deque()
        self._rate_totals = (0.0, 0)  # sums over _rates

    # ----------------------------------------------------------------- stepping
    def advance(self, max_steps: int, *, stop_at: int | None = None) -> ChunkResult:
        """One chunk: at most ``max_steps`` steps (and not past step ``stop_at``), ending
        at the next scheduled snapshot; records the losses and, when the current step is
        scheduled, its snapshot."""
        trainer = self.trainer
        start = self.step_count
        end = start + max(int(max_steps), 0)
        if self.records_snapshots:
            end = min(end, self.schedule.next_due(start))
        if stop_at is not None:
            end = min(end, int(stop_at))
        count = end - start
        if count <= 0 or trainer.divergence is not None:
            return ChunkResult(np.zeros(0, np.int64), np.zeros(0), (), 0.0, trainer.divergence)
        measure = (self.records_snapshots and self.schedule.is_due(start)
                   and self._measured_step != start)
        set_threads(self.tuner.current)
        started = time.perf_counter()
        snapshots: tuple = ()
        if measure:
            snapshot = trainer.metrics_then_step(count)
            self.history.add_snapshot(snapshot)
            snapshots = (snapshot,)
        else:
            trainer.step(count)
        seconds = time.perf_counter() - started
        steps, losses = trainer.recent_losses()
        self.history.add_losses(steps, losses)
        accuracies = trainer.recent_accuracies()[1]
        self.history.add_accuracies(steps, accuracies)
        self._measured_step = None
        self.pacer.note(count, seconds)
        if not measure:  # a snapshot's cost would blur the comparison of thread counts
            threads = self.tuner.current
            if self.tuner.note(count, seconds) != threads:
                # a chunk sized for the old count may take far longer on the new one (on a
                # loaded machine two threads can be a hundred times slower): start small
                self.pacer.reset()
        self._note_rate(seconds, count)
        return ChunkResult(steps, losses, snapshots, seconds, trainer.divergence, accuracies)

    def _note_rate(self, seconds: float, count: int) -> None:
        self._rates.append((seconds, count))
        total_seconds, total_count = self._rate_totals
        total_seconds, total_count = total_seconds + seconds, total_count + count
        while len(self._rates) > 1 and total_seconds - self._rates[0][0] > RATE_WINDOW_SECONDS:
            old_seconds, old_count = self._rates.popleft()
            total_seconds, total_count = total_seconds - old_seconds, total_count - old_count
        self._rate_totals = (total_seconds, total_count)

    def train_to(self, total_steps: int, on_progress: ProgressCallback | None = None) -> None:
        """Train until ``total_steps`` steps in all (or a divergence). The snapshot of
        where it stops is the caller's to take (``snapshot``): a driver that goes on
        training needs none."""
        total = int(total_steps)
        while self.step_count < total and self.trainer.divergence is None:
            result = self.advance(self.pacer.chunk, stop_at=total)
            self._tell(on_progress, total, result)

    def step(self, count: int, on_progress: ProgressCallback | None = None) -> None:
        """Train ``count`` more steps (see ``train_to``)."""
        self.train_to(self.step_count + max(int(count), 0), on_progress)

    def watch_for_drop(self, horizon: int | None = None) -> DropWatch:
        """A watch that says when the loss curve shows one more drop than now (for a
        driver that advances the session itself; ``run_to_next_drop`` uses one)."""
        return DropWatch(self.history, self.step_count, int(self.config.steps), horizon)

    def run_to_next_drop(self, horizon: int | None = None,
                         on_progress: ProgressCallback | None = None) -> DropOutcome:
        """Train until the loss curve shows one more drop, or give up after ``horizon``
        steps (default: ``drop_watch.default_horizon``) with a message."""
        watch = self.watch_for_drop(horizon)
        outcome = None
        while outcome is None:
            result = self.advance(self.pacer.chunk, stop_at=watch.next_look)
            self._tell(on_progress, watch.end_step, result)
            outcome = watch.look(self.step_count, self.trainer.divergence)
        return outcome

    def _tell(self, on_progress: ProgressCallback | None, target: int | None,
              result: ChunkResult) -> None:
        if on_progress is not None:
            loss = float(result.losses[-1]) if result.count else float(self.trainer.last_loss)
            on_progress(Progress(self.step_count, target, loss, self.steps_per_second, result))

    # ----------------------------------------------------------------- measuring
    def snapshot(self) -> Any:
        """A snapshot of the current weights, recorded in the history (measured once per
        state of the weights)."""
        if self._measured_step == self.step_count and self._measured is not None:
            return self._measured
        snapshot = self.trainer.metrics()
        self.history.add_snapshot(snapshot)
        self._measured_step, self._measured = self.step_count, snapshot
        return snapshot

    def agf_rounds(self, drops: str = "optimiser", progress: Any = None) -> Any:
        """The AGF simulation of this configuration, each round measured like a snapshot
        (``backend.agf.rounds.AgfStates``; ``drops`` "cost" or "optimiser"; ``progress``
        as in ``simulation.run_agf``); raises UserError where AGF does not apply."""
        from backend.agf.rounds import simulate_agf

        return simulate_agf(self.config, drops, progress)

    # ----------------------------------------------------------------- changing the run
    def perturb(self, neurons: Sequence[int] | None, relative_scale: float, seed: int) -> None:
        """Noise of ``relative_scale`` on the listed neurons (None: all); see
        ``Trainer.perturb``."""
        self.trainer.perturb(None if neurons is None else list(neurons),
                             float(relative_scale), int(seed))
        self._measured_step = None

    def set_learning_rate(self, learning_rate: float) -> None:
        self.trainer.set_learning_rate(float(learning_rate))

    def reseed(self, seed: int | None) -> None:
        """Start the same configuration afresh from weights drawn with ``seed`` (None: the
        configured seed); the history starts afresh too."""
        self.trainer.reinitialise(seed)
        self.history = _new_history(self._capacity)
        self._restart_bookkeeping()

    def reset(self, config: Any = None, seed: int | None = None) -> None:
        """A new run: a new trainer of ``config`` (None: the current configuration,
        reinitialised), with ``seed`` instead of the configured one when given."""
        if config is None:
            self.reseed(seed)
            return
        if seed is not None:
            config = config.replace(seed=int(seed))
        self.trainer = self._factory(config)
        self.history = _new_history(self._capacity)
        self._restart_bookkeeping()

    def load_state(self, config: Any, state: dict, history: Any = None) -> None:
        """Continue a saved run: a trainer of ``config`` loaded from ``state``, and its
        recorded ``history`` (None: an empty one)."""
        trainer = self._factory(config)
        trainer.load_state_dict(state)
        self.trainer = trainer
        self.history = history if history is not None else _new_history(self._capacity)
        self._restart_bookkeeping()


__all__ = ["ChunkResult", "DropOutcome", "LiveSession", "Progress"]
