"""The training worker: one QThread that owns the Trainer and obeys queued commands.

The window never touches the model. It puts commands (gui.worker_commands) on a
``queue.Queue``; the worker trains in chunks of about 8 ms, reads the queue between
chunks and lets the window's thread have the interpreter lock between them (a chunk that
held it for long would freeze the window). It emits copied MetricSnapshots at most about
10 times a second, fewer when computing the metrics would take more than 5 per cent
of the time, plus always one after a pause, a finished step, a reset and a divergence.
While training, a snapshot is measured at the start of a chunk from the forward pass of
its first step (``Trainer.metrics_then_step``), so a full-batch run's snapshot needs no
forward pass over the training pairs of its own.
A report is only emitted while the window has fewer than two reports waiting, so a busy
window never builds a backlog. (The window records every report but draws at its own
pace: see MainWindow.)
"""

from __future__ import annotations

import collections
import dataclasses
import os
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal

from backend.errors import UserError
from gui.run_context import RunContext, context_from_trainer
from gui.worker_commands import (
    Inspect,
    LoadState,
    NeuronFunctions,
    Pause,
    Perturb,
    Reset,
    RunToNextDrop,
    SetLearningRate,
    Start,
    Step,
    Stop,
    WorkerReport,
)

CHUNK_SECONDS = 0.008  # target duration of one chunk of optimiser steps
MAX_CHUNK = 100_000
MAX_SNAPSHOTS_PER_SECOND = 10.0
METRICS_TIME_SHARE = 0.05  # at most this share of the worker's time goes to snapshots
LOSS_CURVE_CAPACITY = 20_000  # loss samples kept for "run to the next drop" (decimated)
DROP_CHECK_SECONDS = 0.25  # "run to the next drop" looks at the loss curve this often,
DROP_CHECK_SHARE = 0.01  # ... or sooner once the run has grown by this share of its steps,
DROP_CHECK_MIN_SECONDS = 0.03  # ... but not more often than this
MAX_REPORTS_IN_FLIGHT = 2

IDLE, RUNNING, STEPPING, TO_DROP = "idle", "running", "stepping", "to next drop"


def next_chunk(chunk: int, count: int, elapsed: float) -> int:
    """The size of the next chunk after ``count`` steps took ``elapsed`` seconds: enough
    steps for about CHUNK_SECONDS, growing at most twofold per chunk. A count below the
    current chunk (the short tail of a step request) says little and changes nothing."""
    if count < chunk:
        return chunk
    per_step = max(elapsed, 1e-6) / count
    ideal = CHUNK_SECONDS / per_step
    return int(min(max(1, ideal), 2 * chunk, MAX_CHUNK))


def yield_interpreter() -> None:
    """Let another thread (the window's) take the interpreter lock now, if it waits."""
    time.sleep(0)


def leave_a_core_for_the_window() -> None:
    """Train on all cores but one, so that drawing never waits for a core: torch's
    parallel operations stall whenever one of their threads loses its core, and the
    window's thread would take it many times a second."""
    import torch

    cores = os.cpu_count() or 1
    if cores > 1 and torch.get_num_threads() >= cores:
        torch.set_num_threads(cores - 1)


def default_trainer_factory(config: Any) -> Any:
    """Build the backend Trainer for ``config`` (imported here so tests may substitute)."""
    from backend.training.trainer import Trainer

    return Trainer(config)


def default_drop_detector(steps: np.ndarray, losses: np.ndarray) -> list:
    """Detected loss drops of a recorded curve (backend.agf.staircase)."""
    from backend.agf.staircase import detect_drops

    return list(detect_drops(steps, losses))


class TrainingWorker(QThread):
    """Owns one Trainer; trains, perturbs and resets it on command; reports snapshots."""

    context_ready = pyqtSignal(object)  # RunContext, after every (re)build of the trainer
    report_ready = pyqtSignal(object)  # WorkerReport
    failed = pyqtSignal(str)  # a message for people
    mode_changed = pyqtSignal(str)  # idle / running / stepping / to next drop

    def __init__(
        self,
        trainer_factory: Callable[[Any], Any] = default_trainer_factory,
        drop_detector: Callable[[np.ndarray, np.ndarray], list] = default_drop_detector,
        parent=None,
    ) -> None:
        super().__init__(parent)
        self._commands: queue.Queue = queue.Queue()
        self._factory = trainer_factory
        self._detect_drops = drop_detector
        self._trainer: Any = None
        self._mode = IDLE
        self._steps_left = 0
        self._chunk = 1
        self._inspected: int | None = None
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._last_emit = 0.0
        self._metrics_costs: collections.deque[float] = collections.deque(maxlen=5)
        self._seconds_per_step = 0.0
        self._last_queued_step = -1
        self._rate_window: list[tuple[float, int]] = []
        self._steps_per_second = 0.0
        self._pending_steps: list[int] = []
        self._pending_losses: list[float] = []
        self._curve: Any = None  # the loss curve "run to the next drop" watches
        self._curve_pending: list[tuple[np.ndarray, np.ndarray]] = []
        self._drops_at_start = 0
        self._last_drop_check = 0.0
        self._last_drop_step = 0

    # ----------------------------------------------------------------- window side
    def send(self, command: Any) -> None:
        """Queue a command for the worker (safe from any thread)."""
        self._commands.put(command)

    def acknowledge_report(self) -> None:
        """The window has taken a report; the worker may send another."""
        with self._in_flight_lock:
            self._in_flight = max(0, self._in_flight - 1)

    def shutdown(self, timeout_ms: int = 900) -> bool:
        """Ask the loop to end and wait for it; True when the thread has finished."""
        self.send(Stop())
        return self.wait(timeout_ms)

    # ----------------------------------------------------------------- worker side
    def run(self) -> None:  # noqa: D401 - QThread entry point
        leave_a_core_for_the_window()
        while True:
            busy = self._mode != IDLE and self._trainer is not None
            try:
                command = self._commands.get_nowait() if busy else self._commands.get()
            except queue.Empty:
                command = None
            if isinstance(command, Stop):
                break
            if command is not None:
                self._obey(command)
                continue
            self._train_chunk()
        self._trainer = None

    def _obey(self, command: Any) -> None:
        try:
            self._dispatch(command)
        except Exception as error:  # a message in the window, never a traceback
            self._report_failure(error)

    def _dispatch(self, command: Any) -> None:
        from gui.export.state_request import FetchState  # loads the backend: not at launch

        if isinstance(command, (Reset, LoadState)):
            self._rebuild(command)
            return
        if self._trainer is None:
            return
        if isinstance(command, Start):
            self._set_mode(RUNNING)
        elif isinstance(command, Pause):
            was_busy = self._mode != IDLE
            self._set_mode(IDLE)
            if was_busy:
                self._emit()
        elif isinstance(command, Step):
            self._steps_left = max(1, int(command.count))
            self._set_mode(STEPPING)
        elif isinstance(command, RunToNextDrop):
            self._curve = _loss_curve()
            self._curve_pending.clear()
            steps = np.asarray(command.steps, dtype=np.int64)
            known = steps < int(self._trainer.step_count)
            self._curve.extend(steps[known], np.asarray(command.losses, dtype=float)[known])
            unreported = _joined(self._pending_steps, np.int64)
            later = unreported > (int(steps[known][-1]) if known.any() else -1)
            self._curve_pending.append(
                (unreported[later], _joined(self._pending_losses, np.float64)[later]))
            self._drops_at_start = len(self._current_drops())
            self._last_drop_check = time.perf_counter()
            self._last_drop_step = int(self._trainer.step_count)
            self._set_mode(TO_DROP)
        elif isinstance(command, SetLearningRate):
            self._trainer.set_learning_rate(float(command.learning_rate))
        elif isinstance(command, Perturb):
            neurons = None if command.neurons is None else list(command.neurons)
            self._trainer.perturb(neurons, float(command.relative_scale), int(command.seed))
            self._emit()
        elif isinstance(command, Inspect):
            self._inspected = command.neuron
            if self._mode == IDLE:
                self._emit()
        elif isinstance(command, FetchState):
            command.reply(self._trainer.state_dict())

    def _rebuild(self, command: Reset | LoadState) -> None:
        self._set_mode(IDLE)
        if isinstance(command, LoadState):
            trainer = self._factory(command.config)
            trainer.load_state_dict(command.state)
        elif command.config is not None:
            config = command.config
            if command.seed is not None:
                config = _with_seed(config, command.seed)
            trainer = self._factory(config)
        elif self._trainer is not None:
            trainer = self._trainer
            trainer.reinitialise(command.seed)
        else:
            return
        context = context_from_trainer(trainer)
        if isinstance(command, LoadState) and command.history is not None:
            context = dataclasses.replace(context, recorded_history=command.history)
        self._trainer = trainer
        self._chunk = 1
        self._rate_window.clear()
        self._steps_per_second = 0.0
        self._pending_steps.clear()
        self._pending_losses.clear()
        self._last_queued_step = int(getattr(trainer, "step_count", 0)) - 1
        self._curve = None
        self._curve_pending.clear()
        if self._inspected is not None and self._inspected >= context.width:
            self._inspected = None
        self.context_ready.emit(context)
        self._emit()
        self._metrics_costs.clear()
        self._seconds_per_step = 0.0

    def _train_chunk(self) -> None:
        trainer = self._trainer
        count = self._chunk
        if self._mode == STEPPING:
            count = min(count, self._steps_left)
        # the last chunk of a Step is measured once, by the report that ends it
        last_of_steps = self._mode == STEPPING and count >= self._steps_left
        measured = None
        started = time.perf_counter()
        try:
            if not last_of_steps and self._snapshot_due():
                measured = self._measure_then_step(count)
                loss = float(getattr(trainer, "last_loss", np.nan))
            else:
                loss = float(trainer.step(count))
        except Exception as error:
            self._set_mode(IDLE)
            self._report_failure(error)
            self._queue_losses(*_chunk_losses(trainer, int(trainer.step_count), np.nan))
            self._emit()
            return
        elapsed = time.perf_counter() - started
        if measured is None:
            self._seconds_per_step = elapsed / max(count, 1)
        else:
            # the snapshot's share of the chunk: what it took beyond the steps themselves
            cost = max(0.0, elapsed - count * self._seconds_per_step)
            self._note_metrics_cost(cost)
            elapsed -= cost
        self._chunk = next_chunk(self._chunk, count, elapsed)
        self._note_rate(trainer.step_count)
        step = int(trainer.step_count)
        steps, losses = self._queue_losses(*_chunk_losses(trainer, step, loss))
        if self._mode == TO_DROP:
            self._curve_pending.append((steps, losses))
        if measured is not None:
            self._send(*measured)

        if trainer.divergence:
            self._set_mode(IDLE)
            self._emit(message=f"Training stopped: {trainer.divergence}")
            return
        if self._mode == STEPPING:
            self._steps_left -= count
            if self._steps_left <= 0:
                self._set_mode(IDLE)
                self._emit()
                return
        if self._mode == TO_DROP and self._drop_reached():
            self._set_mode(IDLE)
            self._emit(message=f"Paused after a loss drop, at step {step}.")
            return
        yield_interpreter()

    def _queue_losses(self, steps: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Queue the (step, loss) pairs not queued yet for the next report; return them.
        (After a failure the trainer's last losses may be those already queued.)"""
        new = steps > self._last_queued_step
        steps, losses = steps[new], losses[new]
        if steps.size:
            self._last_queued_step = int(steps[-1])
            self._pending_steps.append(steps)
            self._pending_losses.append(losses)
        return steps, losses

    def _note_rate(self, step_count: int) -> None:
        now = time.perf_counter()
        self._rate_window.append((now, int(step_count)))
        while len(self._rate_window) > 2 and now - self._rate_window[1][0] > 1.0:
            self._rate_window.pop(0)
        first_time, first_step = self._rate_window[0]
        if now > first_time and step_count > first_step:
            self._steps_per_second = (step_count - first_step) / (now - first_time)

    def _current_drops(self) -> list:
        if self._curve is None:
            return []
        if self._curve_pending:
            self._curve.extend(np.concatenate([s for s, _ in self._curve_pending]),
                               np.concatenate([v for _, v in self._curve_pending]))
            self._curve_pending.clear()
        if len(self._curve) < 3:
            return []
        return self._detect_drops(self._curve.steps, self._curve.values[:, 0])

    def _drop_reached(self) -> bool:
        now = time.perf_counter()
        step = int(self._trainer.step_count)
        since = now - self._last_drop_check
        grown = step - self._last_drop_step >= max(1, DROP_CHECK_SHARE * step)
        if since < DROP_CHECK_MIN_SECONDS or (since < DROP_CHECK_SECONDS and not grown):
            return False
        self._last_drop_check, self._last_drop_step = now, step
        return len(self._current_drops()) > self._drops_at_start

    def _set_mode(self, mode: str) -> None:
        if mode != IDLE:
            self._rate_window.clear()
        else:
            self._steps_left = 0
        if mode != self._mode:
            self._mode = mode
            self.mode_changed.emit(mode)

    def _snapshot_due(self) -> bool:
        """Whether the next chunk should also measure: the time of a step is known (so
        the snapshot's own cost can be told from the chunk's), enough time has passed for
        the snapshot rate and the metrics' time share, and the window keeps up."""
        if self._seconds_per_step == 0.0:
            return False
        interval = max(1.0 / MAX_SNAPSHOTS_PER_SECOND, self._metrics_seconds / METRICS_TIME_SHARE)
        if time.perf_counter() - self._last_emit < interval:
            return False
        with self._in_flight_lock:
            return self._in_flight < MAX_REPORTS_IN_FLIGHT

    def _measure_then_step(self, count: int) -> tuple[Any, NeuronFunctions | None]:
        """(snapshot, inspected neuron's functions) of the weights before ``count`` steps,
        then the steps; the snapshot reuses the first step's forward pass when the
        trainer can (``metrics_then_step``)."""
        trainer = self._trainer
        functions = self._neuron_functions()
        measuring_step = getattr(trainer, "metrics_then_step", None)
        if measuring_step is not None:
            return measuring_step(count), functions
        snapshot = trainer.metrics()
        trainer.step(count)
        return snapshot, functions

    @property
    def _metrics_seconds(self) -> float:
        """The cost of one snapshot while training: the least of the last few, so that a
        first measurement (warming caches up) or one slowed by the window does not hold
        the snapshot rate down."""
        return min(self._metrics_costs, default=0.0)

    def _note_metrics_cost(self, cost: float) -> None:
        self._metrics_costs.append(cost)

    def _emit(self, message: str = "") -> None:
        """Measure the current weights and report them now (after a pause, a finished
        step, a reset, a divergence: outside the snapshot rate)."""
        if self._trainer is None:
            return
        try:
            snapshot = self._trainer.metrics()
            functions = self._neuron_functions()
        except Exception as error:
            self._set_mode(IDLE)
            self._report_failure(error)
            return
        self._send(snapshot, functions, message)

    def _send(self, snapshot: Any, functions: NeuronFunctions | None, message: str = "") -> None:
        """Report a snapshot with the losses gathered since the last report."""
        self._last_emit = time.perf_counter()
        report = WorkerReport(
            snapshot=snapshot,
            running=self._mode != IDLE,
            steps_per_second=self._steps_per_second,
            stage=str(getattr(self._trainer, "stage", "")),
            device=str(getattr(self._trainer, "device", "")),
            loss_steps=_joined(self._pending_steps, np.int64),
            loss_values=_joined(self._pending_losses, np.float64),
            neuron_functions=functions,
            message=message,
        )
        self._pending_steps.clear()
        self._pending_losses.clear()
        with self._in_flight_lock:
            self._in_flight += 1
        self.report_ready.emit(report)

    def _neuron_functions(self) -> NeuronFunctions | None:
        if self._inspected is None:
            return None
        a, b, c = self._trainer.effective_functions()
        m = int(self._inspected)
        stacked = np.stack([np.asarray(a)[m], np.asarray(b)[m], np.asarray(c)[m]]).copy()
        return NeuronFunctions(neuron=m, functions=stacked, step=int(self._trainer.step_count))

    def _report_failure(self, error: BaseException) -> None:
        if isinstance(error, UserError):
            self.failed.emit(str(error))
            return
        traceback.print_exception(error, file=sys.stderr)
        self.failed.emit(f"Internal error ({type(error).__name__}): {error}. "
                         "The run is paused; Reset starts it afresh.")


def _chunk_losses(trainer: Any, step: int, loss: float) -> tuple[np.ndarray, np.ndarray]:
    """Every (step, loss) of the last chunk when the trainer keeps them, else the last one."""
    recent = getattr(trainer, "recent_losses", None)
    if recent is not None:
        steps, losses = recent()
        if len(steps):
            return (np.array(steps, dtype=np.int64), np.array(losses, dtype=np.float64))
    if not np.isfinite(loss):
        return np.zeros(0, np.int64), np.zeros(0, np.float64)
    return np.array([step], dtype=np.int64), np.array([loss], dtype=np.float64)


def _loss_curve() -> Any:
    """An empty decimated (step, loss) series of bounded size (backend.recording)."""
    from backend.recording import DecimatedSeries

    return DecimatedSeries(1, LOSS_CURVE_CAPACITY)


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _with_seed(config: Any, seed: int) -> Any:
    """A copy of ``config`` with another seed."""
    return config.replace(seed=int(seed))


__all__ = ["TrainingWorker", "RunContext", "IDLE", "RUNNING", "STEPPING", "TO_DROP"]
