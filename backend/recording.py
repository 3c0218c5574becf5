"""Recording a run: a decimated metric history with bounded memory.

Decimation keeps, for every bucket of a log-spaced grid over the step axis, the first
record that fell in it, plus always the latest record. A step s falls in bucket
floor(log(1 + s/s₀) / r); the resolution r starts fine (every early step is its own
bucket: dense early) and doubles whenever the number of buckets exceeds the capacity,
so memory stays bounded however long the run (log-spaced later).

The run directory that stores a history beside its checkpoint is in
``backend/run_directory.py``.
"""

from __future__ import annotations

import io
import math
from dataclasses import fields
from pathlib import Path

import numpy as np

from backend.atomic_files import write_bytes_atomic
from backend.metrics import MetricSnapshot

STEP_OFFSET = 10.0
"""s₀: below about this many steps the grid is linear (every step its own bucket)."""
INITIAL_RESOLUTION = 1e-4
OPTIONAL_FIELDS = ("singular_overlap", "answer_margin", "answer_correct", "sampled_pairs",
                   "answer_pairs_per_cell", "residual_power")
"""Snapshot fields that files written before they existed lack (read back as their
default: None, or 0 sampled pairs)."""
INTEGER_FIELDS = ("step", "sampled_pairs", "answer_pairs_per_cell")


def _buckets(steps: np.ndarray, resolution: float) -> np.ndarray:
    return np.floor(np.log1p(np.asarray(steps, dtype=np.float64) / STEP_OFFSET) / resolution)


def _keep_mask(steps: np.ndarray, resolution: float) -> np.ndarray:
    """First entry of every bucket, plus the last entry (steps sorted ascending)."""
    keep = np.zeros(steps.size, dtype=bool)
    if steps.size == 0:
        return keep
    _, first = np.unique(_buckets(steps, resolution), return_index=True)
    keep[first] = True
    keep[-1] = True
    return keep


class DecimatedSeries:
    """Rows of numbers indexed by step, decimated to at most ``capacity`` (+1) rows."""

    def __init__(self, columns: int, capacity: int) -> None:
        self.capacity = int(capacity)
        self.resolution = INITIAL_RESOLUTION
        self.steps = np.zeros(0, dtype=np.int64)
        self.values = np.zeros((0, columns))

    def __len__(self) -> int:
        return int(self.steps.size)

    def extend(self, steps: np.ndarray, values: np.ndarray) -> None:
        """Append rows (steps increasing and after the stored ones; earlier steps
        replace the stored tail, e.g. after a restored state)."""
        steps = np.asarray(steps, dtype=np.int64).reshape(-1)
        if steps.size == 0:
            return
        values = np.asarray(values, dtype=np.float64).reshape(steps.size, -1)
        keep_old = self.steps < steps[0]
        appended = bool(keep_old.all())
        self.steps = np.concatenate([self.steps[keep_old], steps])
        self.values = np.concatenate([self.values[keep_old], values])
        if appended:
            self._decimate_appended(int(keep_old.size))
        else:
            self._decimate()

    def _decimate_appended(self, old: int) -> None:
        """``_decimate`` after ``old`` decimated rows got new rows behind them, in time
        proportional to the new rows: the old rows but the last are already the first of
        their buckets, and a row is the first of its bucket when its bucket differs from
        the row before (steps ascend)."""
        start = max(old - 1, 0)
        buckets = _buckets(self.steps[max(start - 1, 0):], self.resolution)
        first = np.ones(self.steps.size - start, dtype=bool)
        if start > 0:
            first = buckets[1:] != buckets[:-1]
        else:
            first[1:] = buckets[1:] != buckets[:-1]
        mask = np.concatenate([np.ones(start, dtype=bool), first])
        mask[-1] = True
        if mask.sum() > self.capacity + 1:
            self._decimate()
            return
        self.steps = self.steps[mask]
        self.values = self.values[mask]

    def _decimate(self) -> None:
        mask = _keep_mask(self.steps, self.resolution)
        while mask.sum() > self.capacity + 1:
            self.resolution *= 2.0
            mask = _keep_mask(self.steps, self.resolution)
        self.steps = self.steps[mask]
        self.values = self.values[mask]


class MetricHistory:
    """The decimated record of a run.

    - ``losses``: (step, loss) of the optimiser steps, up to ``loss_capacity`` rows;
    - ``accuracies``: (step, training accuracy) of the optimiser steps, decimated like the
      losses (NaN where a step forms no output: the exact path; see
      ``Trainer.recent_accuracies``);
    - ``scalars``: (step, loss, train accuracy, test accuracy or NaN) of every snapshot;
    - ``snapshots``: full MetricSnapshots, up to ``snapshot_capacity``.
    """

    def __init__(
        self,
        snapshot_capacity: int = 300,
        loss_capacity: int = 20000,
        scalar_capacity: int = 5000,
    ) -> None:
        self.losses = DecimatedSeries(1, loss_capacity)
        self.accuracies = DecimatedSeries(1, loss_capacity)
        self.scalars = DecimatedSeries(3, scalar_capacity)
        self.snapshot_capacity = int(snapshot_capacity)
        self.snapshot_resolution = INITIAL_RESOLUTION
        self._snapshots: list[MetricSnapshot] = []

    # ----------------------------------------------------------------- adding
    def add_losses(self, steps: np.ndarray, losses: np.ndarray) -> None:
        self.losses.extend(steps, losses)

    def add_accuracies(self, steps: np.ndarray, accuracies: np.ndarray) -> None:
        self.accuracies.extend(steps, accuracies)

    def add_snapshot(self, snapshot: MetricSnapshot) -> None:
        test = math.nan if snapshot.test_accuracy is None else snapshot.test_accuracy
        self.scalars.extend(
            np.array([snapshot.step]),
            np.array([[snapshot.loss, snapshot.train_accuracy, test]]),
        )
        kept = [s for s in self._snapshots if s.step < snapshot.step]
        kept.append(snapshot.copy())
        steps = np.array([s.step for s in kept])
        mask = _keep_mask(steps, self.snapshot_resolution)
        while mask.sum() > self.snapshot_capacity + 1:
            self.snapshot_resolution *= 2.0
            mask = _keep_mask(steps, self.snapshot_resolution)
        self._snapshots = [s for s, k in zip(kept, mask, strict=True) if k]

    # ----------------------------------------------------------------- reading
    @property
    def snapshots(self) -> list[MetricSnapshot]:
        return list(self._snapshots)

    @property
    def latest(self) -> MetricSnapshot | None:
        return self._snapshots[-1] if self._snapshots else None

    def snapshot_steps(self) -> np.ndarray:
        return np.array([s.step for s in self._snapshots], dtype=np.int64)

    def snapshot_at(self, step: int) -> MetricSnapshot | None:
        """The recorded snapshot closest to ``step`` (None when nothing is recorded)."""
        if not self._snapshots:
            return None
        steps = self.snapshot_steps()
        return self._snapshots[int(np.argmin(np.abs(steps - step)))]

    # ----------------------------------------------------------------- files
    def to_arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "loss_steps": self.losses.steps,
            "loss_values": self.losses.values[:, 0],
            "accuracy_steps": self.accuracies.steps,
            "accuracy_values": self.accuracies.values[:, 0],
            "scalar_steps": self.scalars.steps,
            "scalar_values": self.scalars.values,
            "resolutions": np.array(
                [self.losses.resolution, self.scalars.resolution, self.snapshot_resolution]
            ),
            "capacities": np.array(
                [self.losses.capacity, self.scalars.capacity, self.snapshot_capacity]
            ),
        }
        if self._snapshots:
            for spec in fields(MetricSnapshot):
                column = [getattr(s, spec.name) for s in self._snapshots]
                if spec.name in OPTIONAL_FIELDS and any(v is None for v in column):
                    continue  # recorded by older versions: left out of the file
                if spec.name == "test_accuracy":
                    column = [math.nan if v is None else v for v in column]
                arrays[f"snapshot_{spec.name}"] = np.stack([np.asarray(v) for v in column])
        return arrays

    @classmethod
    def from_arrays(cls, arrays) -> MetricHistory:
        capacities = arrays["capacities"]
        history = cls(int(capacities[2]), int(capacities[0]), int(capacities[1]))
        history.losses.steps = np.asarray(arrays["loss_steps"], dtype=np.int64)
        history.losses.values = np.asarray(arrays["loss_values"], dtype=np.float64)[:, None]
        if "accuracy_steps" in arrays:  # absent from files of older versions
            history.accuracies.steps = np.asarray(arrays["accuracy_steps"], dtype=np.int64)
            history.accuracies.values = np.asarray(arrays["accuracy_values"],
                                                   dtype=np.float64)[:, None]
            history.accuracies.resolution = float(arrays["resolutions"][0])
        history.scalars.steps = np.asarray(arrays["scalar_steps"], dtype=np.int64)
        history.scalars.values = np.asarray(arrays["scalar_values"], dtype=np.float64)
        resolutions = arrays["resolutions"]
        history.losses.resolution = float(resolutions[0])
        history.scalars.resolution = float(resolutions[1])
        history.snapshot_resolution = float(resolutions[2])
        if "snapshot_step" in arrays:
            count = len(arrays["snapshot_step"])
            for i in range(count):
                values = {}
                for spec in fields(MetricSnapshot):
                    if f"snapshot_{spec.name}" not in arrays and spec.name in OPTIONAL_FIELDS:
                        continue
                    value = arrays[f"snapshot_{spec.name}"][i]
                    if spec.name in INTEGER_FIELDS:
                        value = int(value)
                    elif spec.name in ("loss", "train_accuracy", "diversification_tv"):
                        value = float(value)
                    elif spec.name == "test_accuracy":
                        value = None if math.isnan(float(value)) else float(value)
                    else:
                        value = np.array(value)
                    values[spec.name] = value
                history._snapshots.append(MetricSnapshot(**values))
        return history

    def save(self, path: Path) -> None:
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **self.to_arrays())
        write_bytes_atomic(Path(path), buffer.getvalue())

    @classmethod
    def load(cls, path: Path) -> MetricHistory:
        with np.load(Path(path), allow_pickle=False) as arrays:
            return cls.from_arrays({key: arrays[key] for key in arrays.files})
