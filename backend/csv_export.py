"""Recorded series of a run as one CSV table (every scalar series and the orbit counts).

One row per recorded step (the union of the per-step loss samples and the snapshots),
sorted by step; a cell is empty where its series has no sample at that step:

    step, loss, train_accuracy, test_accuracy,          (the scalar series)
    diversification_tv, mean_sparsity, mean_alignment,  (of every kept snapshot)
    count[<orbit label>] ...                             (neurons per dominant orbit)
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from backend.atomic_files import write_text_atomic
from backend.recording import MetricHistory

SCALAR_COLUMNS = ("loss", "train_accuracy", "test_accuracy")
SNAPSHOT_COLUMNS = ("diversification_tv", "mean_sparsity", "mean_alignment")


def history_table(history: MetricHistory, orbit_labels: Sequence[str]
                  ) -> tuple[list[str], list[list[float | int | None]]]:
    """(header, rows) of the CSV table for ``history``; ``orbit_labels`` name the count
    columns (one per orbit, in the order of the snapshots' ``orbit_counts``)."""
    columns: dict[str, dict[int, float]] = {name: {} for name in SCALAR_COLUMNS}
    for step, values in zip(history.scalars.steps, history.scalars.values, strict=True):
        for name, value in zip(SCALAR_COLUMNS, values, strict=True):
            if math.isfinite(float(value)):
                columns[name][int(step)] = float(value)
    for step, loss in zip(history.losses.steps, history.losses.values[:, 0], strict=True):
        columns["loss"][int(step)] = float(loss)
    for step, accuracy in zip(history.accuracies.steps, history.accuracies.values[:, 0],
                              strict=True):
        if math.isfinite(float(accuracy)):  # the snapshot's figure, where there is one
            columns["train_accuracy"].setdefault(int(step), float(accuracy))
    counts_header = [f"count[{label}]" for label in orbit_labels]
    for name in (*SNAPSHOT_COLUMNS, *counts_header):
        columns[name] = {}
    for snapshot in history.snapshots:
        step = int(snapshot.step)
        for name in SNAPSHOT_COLUMNS:
            columns[name][step] = float(getattr(snapshot, name))
        for name, count in zip(counts_header, np.asarray(snapshot.orbit_counts), strict=False):
            columns[name][step] = int(count)
    header = ["step", *columns]
    steps = sorted(set().union(*(column.keys() for column in columns.values())))
    rows = [[step, *(column.get(step) for column in columns.values())] for step in steps]
    return header, rows


def history_csv_text(history: MetricHistory, orbit_labels: Sequence[str]) -> str:
    """The table of ``history_table`` as CSV text (empty cells for missing samples)."""
    header, rows = history_table(history, orbit_labels)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else _cell(value) for value in row])
    return buffer.getvalue()


def write_history_csv(path: str | Path, history: MetricHistory,
                      orbit_labels: Sequence[str]) -> Path:
    """Write the table atomically to ``path``; the path written."""
    path = Path(path)
    write_text_atomic(path, history_csv_text(history, orbit_labels))
    return path


def orbit_labels_of(group_spec: str) -> list[str]:
    """The orbit labels of a configuration's group, in the snapshots' order."""
    from backend.groups import parse_group
    from backend.groups.irreps import irreps_of

    return [str(orbit.label) for orbit in irreps_of(parse_group(group_spec)).orbits]


def _cell(value: float | int) -> str:
    return str(value) if isinstance(value, int) else repr(float(value))
