"""A recorded run, ready to draw offscreen: configuration, weights, the panels' context
and the history as the window's RunRecord."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.recording import MetricHistory
from backend.session_file import load_recorded_run
from gui.run_context import RunContext, context_from_trainer
from gui.run_record import RunRecord


@dataclass
class RecordedRun:
    """Everything the export needs from a run directory or a session file."""

    source: Path
    config: Any
    state: dict | None
    history: MetricHistory
    context: RunContext
    record: RunRecord


def open_recorded_run(path: str | Path) -> RecordedRun:
    """Load a run directory or a session file (UserError with a message otherwise)."""
    from backend.training.trainer import Trainer

    session = load_recorded_run(path)
    trainer = Trainer(session.config)
    return RecordedRun(
        source=Path(path),
        config=session.config,
        state=session.state,
        history=session.history,
        context=context_from_trainer(trainer),
        record=record_from_history(session.history),
    )


def record_from_history(history: MetricHistory) -> RunRecord:
    """The window's RunRecord showing a backend MetricHistory (every snapshot kept)."""
    return RunRecord.from_history(history)
