"""The training worker: a QThread that drives a backend LiveSession on queued commands.

All the logic of a live run (chunks, the snapshot schedule, run to the next drop,
perturb, reseed, the thread count) lives in ``backend.live_session``; this adapter only
carries commands in and reports out. The window puts commands (gui.worker_commands) on a
``queue.Queue``; the worker advances the session one short chunk at a time (about 8 ms,
so the window's thread gets the interpreter lock between chunks) and reads the queue
between chunks. Every snapshot the session records on its schedule reaches the window,
gathered into reports sent at most ``REPORTS_PER_SECOND`` times a second and only while
the window has fewer than ``MAX_REPORTS_IN_FLIGHT`` reports waiting, so a busy window
never builds a backlog and never loses a snapshot; a report always follows a pause, a
finished step, a reset, a perturbation and a divergence.
"""

from __future__ import annotations

import dataclasses
import queue
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

import numpy as np
from PyQt6.QtCore import QThread, pyqtSignal

from backend.chunk_pacing import WINDOW_CHUNK_SECONDS
from backend.errors import UserError
from backend.live_session import default_trainer_factory
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

REPORTS_PER_SECOND = 10.0
MAX_REPORTS_IN_FLIGHT = 2

IDLE, RUNNING, STEPPING, TO_DROP = "idle", "running", "stepping", "to next drop"


def yield_interpreter() -> None:
    """Let another thread (the window's) take the interpreter lock now, if it waits."""
    time.sleep(0)


class TrainingWorker(QThread):
    """Owns one LiveSession; obeys queued commands; reports what the session records."""

    context_ready = pyqtSignal(object)  # RunContext, after every (re)build of the trainer
    report_ready = pyqtSignal(object)  # WorkerReport
    failed = pyqtSignal(str)  # a message for people
    mode_changed = pyqtSignal(str)  # idle / running / stepping / to next drop

    def __init__(self, trainer_factory: Callable[[Any], Any] = default_trainer_factory,
                 parent=None) -> None:
        super().__init__(parent)
        self._commands: queue.Queue = queue.Queue()
        self._factory = trainer_factory
        self.session: Any = None  # backend.live_session.LiveSession, built on Reset
        self._mode = IDLE
        self._target_step = 0
        self._watch: Any = None  # the DropWatch of "run to the next drop"
        self._inspected: int | None = None
        self._in_flight = 0
        self._in_flight_lock = threading.Lock()
        self._last_emit = 0.0
        self._pending_steps: list[np.ndarray] = []
        self._pending_losses: list[np.ndarray] = []
        self._pending_accuracies: list[np.ndarray] = []
        self._pending_snapshots: list[Any] = []
        self._latest: Any = None  # the newest snapshot handed on

    @property
    def _trainer(self) -> Any:
        return None if self.session is None else self.session.trainer

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
        while True:
            busy = self._mode != IDLE and self.session is not None
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
        self.session = None

    def _obey(self, command: Any) -> None:
        try:
            self._dispatch(command)
        except Exception as error:  # a message in the window, never a traceback
            self._set_mode(IDLE)
            self._report_failure(error)

    def _dispatch(self, command: Any) -> None:
        from gui.export.state_request import FetchState  # loads the backend: not at launch

        if isinstance(command, (Reset, LoadState)):
            self._rebuild(command)
            return
        session = self.session
        if session is None:
            return
        if isinstance(command, Start):
            self._set_mode(RUNNING)
        elif isinstance(command, Pause):
            was_busy = self._mode != IDLE
            self._set_mode(IDLE)
            if was_busy:
                self._emit()
        elif isinstance(command, Step):
            self._target_step = session.step_count + max(1, int(command.count))
            self._set_mode(STEPPING)
        elif isinstance(command, RunToNextDrop):
            self._watch = session.watch_for_drop(command.horizon)
            self._set_mode(TO_DROP)
        elif isinstance(command, SetLearningRate):
            session.set_learning_rate(command.learning_rate)
        elif isinstance(command, Perturb):
            session.perturb(command.neurons, command.relative_scale, command.seed)
            self._emit()
        elif isinstance(command, Inspect):
            self._inspected = command.neuron
            if self._mode == IDLE:
                self._emit()
        elif isinstance(command, FetchState):
            command.reply(session.trainer.state_dict())

    def _rebuild(self, command: Reset | LoadState) -> None:
        self._set_mode(IDLE)
        session = self.session
        if isinstance(command, LoadState):
            if session is None:
                session = self._new_session(command.config)
            session.load_state(command.config, command.state, command.history)
        elif command.config is not None:
            config = command.config
            if session is None:
                if command.seed is not None:
                    config = config.replace(seed=int(command.seed))
                session = self._new_session(config)
            else:
                session.reset(config, command.seed)
        elif session is not None:
            session.reseed(command.seed)
        else:
            return
        self.session = session
        self._pending_steps.clear()
        self._pending_losses.clear()
        self._pending_accuracies.clear()
        self._pending_snapshots.clear()
        self._latest = None
        context = context_from_trainer(session.trainer)
        if isinstance(command, LoadState) and command.history is not None:
            context = dataclasses.replace(context, recorded_history=command.history)
        if self._inspected is not None and self._inspected >= context.width:
            self._inspected = None
        self.context_ready.emit(context)
        self._emit()

    def _new_session(self, config: Any) -> Any:
        from backend.live_session import LiveSession

        return LiveSession(config, trainer_factory=self._factory,
                           chunk_seconds=WINDOW_CHUNK_SECONDS)

    def _train_chunk(self) -> None:
        session = self.session
        stop_at = None
        if self._mode == STEPPING:
            stop_at = self._target_step
        elif self._mode == TO_DROP:
            stop_at = self._watch.next_look
        try:
            result = session.advance(session.pacer.chunk, stop_at=stop_at)
        except Exception as error:
            self._set_mode(IDLE)
            self._report_failure(error)
            self._emit()
            return
        if result.count:
            self._pending_steps.append(result.steps)
            self._pending_losses.append(result.losses)
            self._pending_accuracies.append(result.accuracies)
        self._hand_on(result.snapshots)
        step = session.step_count
        if result.divergence:
            self._set_mode(IDLE)
            self._emit(message=f"Training stopped: {result.divergence}")
            return
        if self._mode == STEPPING and step >= self._target_step:
            self._set_mode(IDLE)
            self._emit()
            return
        if self._mode == TO_DROP:
            outcome = self._watch.look(step)
            if outcome is not None:
                self._set_mode(IDLE)
                self._emit(message=outcome.message)
                return
        if self._report_due():
            self._send()
        yield_interpreter()

    def _hand_on(self, snapshots) -> None:
        for snapshot in snapshots:
            if snapshot is not self._latest:
                self._pending_snapshots.append(snapshot)
                self._latest = snapshot

    def _set_mode(self, mode: str) -> None:
        if mode != self._mode:
            self._mode = mode
            self.mode_changed.emit(mode)

    def _report_due(self) -> bool:
        if not (self._pending_snapshots or self._pending_steps):
            return False
        if time.perf_counter() - self._last_emit < 1.0 / REPORTS_PER_SECOND:
            return False
        with self._in_flight_lock:
            return self._in_flight < MAX_REPORTS_IN_FLIGHT

    def _emit(self, message: str = "") -> None:
        """Measure the current weights (once per state of them) and report now."""
        if self.session is None:
            return
        try:
            self._hand_on((self.session.snapshot(),))
        except Exception as error:
            self._set_mode(IDLE)
            self._report_failure(error)
            return
        self._send(message)

    def _send(self, message: str = "") -> None:
        """Report the snapshots and losses gathered since the last report."""
        if self._latest is None:
            return
        self._last_emit = time.perf_counter()
        session = self.session
        trainer = session.trainer
        report = WorkerReport(
            snapshot=self._latest,
            snapshots=tuple(self._pending_snapshots),
            running=self._mode != IDLE,
            steps_per_second=session.steps_per_second,
            stage=str(getattr(trainer, "stage", "")),
            device=str(getattr(trainer, "device", "")),
            loss_steps=_joined(self._pending_steps, np.int64),
            loss_values=_joined(self._pending_losses, np.float64),
            accuracy_values=_joined(self._pending_accuracies, np.float64),
            neuron_functions=self._neuron_functions(),
            message=message,
        )
        self._pending_steps.clear()
        self._pending_losses.clear()
        self._pending_accuracies.clear()
        self._pending_snapshots.clear()
        with self._in_flight_lock:
            self._in_flight += 1
        self.report_ready.emit(report)

    def _neuron_functions(self) -> NeuronFunctions | None:
        if self._inspected is None:
            return None
        trainer = self.session.trainer
        a, b, c = trainer.effective_functions()
        m = int(self._inspected)
        stacked = np.stack([np.asarray(a)[m], np.asarray(b)[m], np.asarray(c)[m]]).copy()
        return NeuronFunctions(neuron=m, functions=stacked, step=int(trainer.step_count))

    def _report_failure(self, error: BaseException) -> None:
        if isinstance(error, UserError):
            self.failed.emit(str(error))
            return
        traceback.print_exception(error, file=sys.stderr)
        self.failed.emit(f"Internal error ({type(error).__name__}): {error}. "
                         "The run is paused; Reset starts it afresh.")


def _joined(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


__all__ = ["TrainingWorker", "RunContext", "IDLE", "RUNNING", "STEPPING", "TO_DROP"]
