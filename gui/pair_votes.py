"""A pair's majority vote for the answers view, measured on the live weights.

The window never touches the worker's model: it asks the worker for a copy of the
trainer's state (``FetchState``, answered between two chunks of training) and measures
the vote in a thread of its own, on a second Trainer of the same configuration kept for
this purpose (built on the first request of a run). The numbers come from
``backend.answers.pair_vote``; the dominant orbits are those of the same weights.
"""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
from PyQt6.QtCore import QObject, pyqtSignal


class PairVotes(QObject):
    """Measures votes on request; ``vote_ready(vote, step, note)`` brings each back (the
    vote None and a note saying why when it could not be measured)."""

    vote_ready = pyqtSignal(object, int, str)
    _measured = pyqtSignal(int, object, int, str)  # token, vote, step, note

    def __init__(self, worker: Any, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.worker = worker
        self._token = 0
        self._lock = threading.Lock()
        self._trainer: Any = None
        self._measured.connect(self._deliver)

    def forget(self) -> None:
        """A new run: votes still being measured belong to the old one."""
        self._token += 1

    def request(self, config: Any, g1: int, g2: int) -> None:
        """Measure the vote of (g1, g2) on the worker's current weights."""
        from gui.export.state_request import FetchState  # loads the backend: not at launch

        self._token += 1
        token = self._token

        def reply(state: dict) -> None:  # in the worker's thread: hand over at once
            threading.Thread(target=self._measure, args=(token, config, state, g1, g2),
                             name="pair-vote", daemon=True).start()

        self.worker.send(FetchState(reply))

    def _measure(self, token: int, config: Any, state: dict, g1: int, g2: int) -> None:
        try:
            from backend.answers import pair_vote
            from backend.metrics import neuron_metrics
            from backend.training.trainer import Trainer

            with self._lock:
                if self._trainer is None or self._trainer.config != config:
                    self._trainer = Trainer(config)
                trainer = self._trainer
                trainer.load_state_dict(state)
                effective = trainer.effective_functions()
                dominant = neuron_metrics(np.stack(effective),
                                          trainer.spectral)["dominant_orbit"]
                vote = pair_vote(g1, g2, effective=effective, scales=trainer.output_scales(),
                                 activation=trainer.config.activation, dominant=dominant,
                                 num_orbits=trainer.spectral.num_orbits,
                                 table=trainer.task.table)
                step = int(trainer.step_count)
            self._measured.emit(token, vote, step, "")
        except Exception as error:  # shown in words: the window must stay up
            self._measured.emit(token, None, -1, f"could not measure the vote: {error}")

    def _deliver(self, token: int, vote: Any, step: int, note: str) -> None:
        if token == self._token:
            self.vote_ready.emit(vote, step, note)
