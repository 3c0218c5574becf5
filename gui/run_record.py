"""What the window shows of a run: a view over the backend's MetricHistory.

The record itself is the backend's decimated ``MetricHistory`` (dense early, log-spaced
later, always the latest; bounded memory however long the run). Live, it grows from the
worker's reports; opened from a run directory or a session file, it *is* that run's
history. This class adds only what the views need on top: the moment shown for a
scrubbed step (the last snapshot at or before it), and the per-step series the curves
draw, cached until the history changes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from backend.recording import MetricHistory

DEFAULT_MAX_SNAPSHOTS = 800
SCALAR_COLUMNS = {"loss": 0, "train_accuracy": 1, "test_accuracy": 2}


class RunRecord:
    """Loss samples and snapshots of one run, ordered by step (a MetricHistory underneath)."""

    def __init__(self, max_snapshots: int = DEFAULT_MAX_SNAPSHOTS,
                 history: MetricHistory | None = None) -> None:
        self.max_snapshots = max(8, int(max_snapshots))
        self._history = history  # made on first use: the backend loads slowly at launch
        self.version = 0  # grows with every change; views compare it to skip redrawing
        self._cache: dict[Any, Any] = {}

    @property
    def history(self) -> MetricHistory:
        """The backend's record underneath."""
        if self._history is None:
            from backend.recording import MetricHistory

            self._history = MetricHistory(self.max_snapshots)
        return self._history

    @classmethod
    def from_history(cls, history: MetricHistory) -> RunRecord:
        """A record showing a recorded run's history (used as is, not copied)."""
        return cls(max(history.snapshot_capacity, len(history.snapshots)), history)

    def clear(self) -> None:
        """Forget everything (a new run)."""
        self._history = None
        self._changed()

    def _changed(self) -> None:
        self.version += 1
        self._cache.clear()

    def _cached(self, key: Any, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    # ------------------------------------------------------------------ filling
    def add_losses(self, steps: np.ndarray, values: np.ndarray) -> None:
        """Append (step, loss) samples after the recorded ones (non-finite ones are left out)."""
        steps = np.asarray(steps, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        last = self.last_loss_step()
        keep = np.isfinite(values) if last is None else np.isfinite(values) & (steps > last)
        if keep.any():
            self.history.add_losses(steps[keep], values[keep])
            self._changed()

    def add_accuracies(self, steps: np.ndarray, values: np.ndarray) -> None:
        """Append the training accuracy of steps after the recorded ones (NaN where a
        step forms no output)."""
        steps = np.asarray(steps, dtype=np.int64).reshape(-1)
        values = np.asarray(values, dtype=np.float64).reshape(-1)
        if steps.size != values.size:
            return  # a report without accuracies
        recorded = self.history.accuracies.steps
        keep = steps > recorded[-1] if recorded.size else np.ones(steps.size, dtype=bool)
        if keep.any():
            self.history.add_accuracies(steps[keep], values[keep])
            self._changed()

    def add_snapshot(self, snapshot: Any) -> None:
        """Append a snapshot (one at the same step as the last replaces it). Its loss joins
        the loss curve when no loss sample covers its step yet."""
        latest = self.history.latest
        if latest is not None and int(snapshot.step) < int(latest.step):
            return
        self.history.add_snapshot(snapshot)
        self.add_losses(np.array([int(snapshot.step)]), np.array([float(snapshot.loss)]))
        self._changed()

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.snapshots)

    @property
    def snapshots(self) -> list[Any]:
        if self._history is None:
            return []
        return self._cached("snapshots", lambda: self._history.snapshots)

    @property
    def snapshot_steps(self) -> np.ndarray:
        if self._history is None:
            return np.zeros(0, dtype=np.int64)
        return self._cached("steps", self._history.snapshot_steps)

    def last_loss_step(self) -> int | None:
        steps = self._history.losses.steps if self._history is not None else []
        return int(steps[-1]) if len(steps) else None

    def latest(self) -> Any:
        return self._history.latest if self._history is not None else None

    def index_at(self, step: int) -> int:
        """Index of the last snapshot taken at or before ``step`` (0 when none is)."""
        index = int(np.searchsorted(self.snapshot_steps, int(step), side="right")) - 1
        return max(index, 0)

    def snapshot_at(self, step: int | None) -> Any:
        """The snapshot shown for ``step``: the last one at or before it (None: the latest)."""
        snapshots = self.snapshots
        if not snapshots:
            return None
        return snapshots[-1] if step is None else snapshots[self.index_at(step)]

    def loss_curve(self, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, losses) up to and including ``upto`` (None: all)."""
        steps = self.history.losses.steps
        values = self.history.losses.values.reshape(-1)
        if upto is None:
            return steps, values
        end = int(np.searchsorted(steps, int(upto), side="right"))
        return steps[:end], values[:end]

    def train_accuracy_curve(self, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, training accuracy) up to ``upto``: the accuracy of every step where the
        steps recorded one, else the snapshots' (the exact path forms no output)."""
        steps = self.history.accuracies.steps
        values = self.history.accuracies.values.reshape(-1)
        if not np.isfinite(values).any():
            return self.series("train_accuracy", upto)
        end = len(steps) if upto is None else int(
            np.searchsorted(steps, int(upto), side="right"))
        return steps[:end], values[:end]

    def series(self, name: str, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one snapshot field over the snapshots up to ``upto``.

        Loss and accuracies come from the history's scalar series (a row per snapshot
        ever taken); other fields are stacked over the kept snapshots.
        """
        if name in SCALAR_COLUMNS:
            steps = self.history.scalars.steps
            values = self.history.scalars.values
            values = values[:, SCALAR_COLUMNS[name]] if len(steps) else np.zeros(0)
            end = len(steps) if upto is None else int(
                np.searchsorted(steps, int(upto), side="right"))
            return steps[:end], values[:end]
        stacked = self._cached(("series", name), lambda: self._stack(name))
        end = len(stacked[0]) if upto is None else self.index_at(upto) + 1
        return stacked[0][:end], stacked[1][:end]

    def _stack(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        snapshots = self.snapshots
        if not snapshots:
            return self.snapshot_steps, np.zeros(0)
        return self.snapshot_steps, np.stack([np.asarray(getattr(s, name)) for s in snapshots])

    def neuron_power(self, neuron: int, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, power (T, 3, K)) of one neuron over the snapshots up to ``upto``."""
        end = len(self) if upto is None else self.index_at(upto) + 1
        steps = self.snapshot_steps[:end]
        if end == 0:
            return steps, np.zeros((0, 3, 0))
        power = self._cached(("neuron", int(neuron)), lambda: np.stack(
            [np.asarray(s.power)[:, neuron, :] for s in self.snapshots]))
        return steps, power[:end]
