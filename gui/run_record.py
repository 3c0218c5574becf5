"""What the window has seen of a run: the loss samples and the snapshots, for the views.

Live, it grows from the worker's reports; opened from a run directory, it is filled from
the backend's MetricHistory. It holds at most ``max_snapshots`` snapshots: when full, every
second one of the older half is let go (the latest and the earliest always stay), so a long
run keeps dense recent detail and a coarse past in bounded memory.
"""

from __future__ import annotations

from typing import Any

import numpy as np

DEFAULT_MAX_SNAPSHOTS = 800


class RunRecord:
    """Loss samples and snapshots of one run, ordered by step."""

    def __init__(self, max_snapshots: int = DEFAULT_MAX_SNAPSHOTS) -> None:
        self.max_snapshots = max(8, int(max_snapshots))
        self.clear()

    def clear(self) -> None:
        """Forget everything (a new run)."""
        self._loss_steps: list[np.ndarray] = []
        self._loss_values: list[np.ndarray] = []
        self._loss_cache: tuple[np.ndarray, np.ndarray] | None = None
        self.snapshots: list[Any] = []
        self._steps: list[int] = []

    # ------------------------------------------------------------------ filling
    def add_losses(self, steps: np.ndarray, values: np.ndarray) -> None:
        """Append (step, loss) samples; samples at or before the last step are ignored."""
        steps = np.asarray(steps, dtype=np.int64)
        values = np.asarray(values, dtype=np.float64)
        if len(steps) == 0:
            return
        last = self.last_loss_step()
        if last is not None:
            keep = steps > last
            steps, values = steps[keep], values[keep]
        if len(steps):
            self._loss_steps.append(steps)
            self._loss_values.append(values)
            self._loss_cache = None

    def add_snapshot(self, snapshot: Any) -> None:
        """Append a snapshot (one at the same step as the last replaces it)."""
        step = int(snapshot.step)
        if self._steps and step < self._steps[-1]:
            return
        if self._steps and step == self._steps[-1]:
            self.snapshots[-1] = snapshot
        else:
            self.snapshots.append(snapshot)
            self._steps.append(step)
        if np.isfinite(getattr(snapshot, "loss", np.nan)):
            self.add_losses(np.array([step]), np.array([float(snapshot.loss)]))
        if len(self.snapshots) > self.max_snapshots:
            self._thin()

    def _thin(self) -> None:
        half = len(self.snapshots) // 2
        keep = [i for i in range(len(self.snapshots)) if i >= half or i % 2 == 0 or i == 0]
        self.snapshots = [self.snapshots[i] for i in keep]
        self._steps = [self._steps[i] for i in keep]

    # ------------------------------------------------------------------ reading
    def __len__(self) -> int:
        return len(self.snapshots)

    @property
    def snapshot_steps(self) -> np.ndarray:
        return np.asarray(self._steps, dtype=np.int64)

    def last_loss_step(self) -> int | None:
        if not self._loss_steps:
            return None
        return int(self._loss_steps[-1][-1])

    def latest(self) -> Any:
        return self.snapshots[-1] if self.snapshots else None

    def index_at(self, step: int) -> int:
        """Index of the last snapshot taken at or before ``step`` (0 when none is)."""
        index = int(np.searchsorted(self.snapshot_steps, int(step), side="right")) - 1
        return max(index, 0)

    def snapshot_at(self, step: int | None) -> Any:
        """The snapshot shown for ``step`` (None: the latest)."""
        if not self.snapshots:
            return None
        if step is None:
            return self.snapshots[-1]
        return self.snapshots[self.index_at(step)]

    def loss_curve(self, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, losses) up to and including ``upto`` (None: all)."""
        if self._loss_cache is None:
            if self._loss_steps:
                self._loss_cache = (np.concatenate(self._loss_steps),
                                    np.concatenate(self._loss_values))
                self._loss_steps = [self._loss_cache[0]]
                self._loss_values = [self._loss_cache[1]]
            else:
                self._loss_cache = (np.zeros(0, np.int64), np.zeros(0, np.float64))
        steps, values = self._loss_cache
        if upto is None:
            return steps, values
        end = int(np.searchsorted(steps, int(upto), side="right"))
        return steps[:end], values[:end]

    def series(self, name: str, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, values) of one snapshot field stacked over the snapshots up to ``upto``."""
        end = len(self.snapshots) if upto is None else self.index_at(upto) + 1
        chosen = self.snapshots[:end]
        steps = self.snapshot_steps[:end]
        if not chosen:
            return steps, np.zeros(0)
        values = [getattr(snapshot, name) for snapshot in chosen]
        if all(value is None for value in values):
            return steps, np.full(len(values), np.nan)
        return steps, np.asarray([np.nan if value is None else value for value in values],
                                 dtype=float) if np.ndim(values[0]) == 0 else np.stack(values)

    def neuron_power(self, neuron: int, upto: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(steps, power (T, 3, K)) of one neuron over the snapshots up to ``upto``."""
        end = len(self.snapshots) if upto is None else self.index_at(upto) + 1
        steps = self.snapshot_steps[:end]
        if end == 0:
            return steps, np.zeros((0, 3, 0))
        return steps, np.stack([np.asarray(s.power)[:, neuron, :] for s in self.snapshots[:end]])
