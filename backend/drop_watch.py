"""Watching a live run's loss curve for its next drop, for a bounded number of steps.

The watch counts the drops ``backend.agf.staircase.detect_drops`` finds on the history's
loss curve when it starts, and looks again each time the run has grown by
``LOOK_SHARE`` of its steps (at least ``LOOK_MIN_STEPS``): one more drop ends the watch.
The steps it looks at depend only on where it started, so a run paused at a drop
pauses at the same step on any machine. A run whose loss has converged has no next
drop: after ``horizon`` steps the watch gives up with a message. The default horizon is
as many steps as the run has taken, and at least its configured length, so it grows
with the run (later plateaus last longer) but never runs forever.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

LOOK_SHARE = 0.01
LOOK_MIN_STEPS = 16


def default_horizon(step: int, configured_steps: int) -> int:
    """Steps to wait for a drop from ``step``: max(configured steps, steps so far, 1)."""
    return max(int(configured_steps), int(step), 1)


@dataclass(frozen=True)
class DropOutcome:
    """How a watch ended: ``found`` a drop, or not (converged, diverged), at ``step``."""

    found: bool
    step: int
    message: str


class DropWatch:
    """Says when the curve of ``history.losses`` shows one more drop than at the start."""

    def __init__(self, history: Any, start_step: int, configured_steps: int,
                 horizon: int | None = None) -> None:
        self.history = history
        self.start_step = int(start_step)
        self.horizon = (default_horizon(start_step, configured_steps) if horizon is None
                        else max(int(horizon), 1))
        self.end_step = self.start_step + self.horizon
        self.drops_at_start = self.drop_count()
        self.next_look = self._look_after(self.start_step)

    def _look_after(self, step: int) -> int:
        return min(step + max(LOOK_MIN_STEPS, int(LOOK_SHARE * step)), self.end_step)

    def drop_count(self) -> int:
        """Drops detected on the recorded loss curve now."""
        from backend.agf.staircase import detect_drops

        losses = self.history.losses
        if len(losses) < 3:
            return 0
        return len(detect_drops(losses.steps, losses.values[:, 0]))

    def look(self, step: int, divergence: str | None = None) -> DropOutcome | None:
        """The outcome once the run is at ``step`` (None: keep training to
        ``next_look``)."""
        if divergence:
            return DropOutcome(False, step, f"Training stopped: {divergence}")
        if step < self.next_look:
            return None
        if self.drop_count() > self.drops_at_start:
            return DropOutcome(True, step, f"Paused after a loss drop, at step {step:,}.")
        if step >= self.end_step:
            return DropOutcome(
                False, step,
                f"No loss drop within {self.horizon:,} steps (from step {self.start_step:,} "
                f"to {step:,}): the loss has probably converged. Paused.")
        self.next_look = self._look_after(step)
        return None
