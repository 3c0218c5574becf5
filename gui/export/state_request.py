"""Asking the training worker for a copy of its Trainer's state, from the window.

The window never touches the model: it queues a ``FetchState`` command; the worker thread
calls ``reply(trainer.state_dict())`` between two chunks of training (the state is a copy
on the CPU), and the window waits for it while still processing its own events.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PyQt6.QtWidgets import QApplication

from gui.export.output_files import ExportError

WAIT_SECONDS = 15.0


@dataclass(frozen=True)
class FetchState:
    """Worker command: call ``reply`` with ``Trainer.state_dict()`` (in the worker thread)."""

    reply: Callable[[dict], None]


def request_trainer_state(worker: Any, timeout: float = WAIT_SECONDS) -> dict:
    """The worker's current Trainer state; ExportError when it does not answer in time."""
    answered = threading.Event()
    box: dict[str, dict] = {}

    def reply(state: dict) -> None:
        box["state"] = state
        answered.set()

    worker.send(FetchState(reply))
    deadline = time.monotonic() + float(timeout)
    while not answered.wait(0.01):
        QApplication.processEvents()
        if time.monotonic() > deadline:
            raise ExportError(
                f"the training worker did not hand over the weights within {timeout:g} s; "
                "pause training, make sure a run is loaded, and try again"
            )
    return box["state"]
