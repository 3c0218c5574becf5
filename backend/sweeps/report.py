"""Reading a sweep back: its table as numbers, statistics over seeds, shares per orbit.

- ``share <orbit>`` = neurons of that orbit / all neurons of the run (derived columns);
- statistics per value of a swept key: mean and sample standard deviation (n − 1) over
  the finished runs (status done) with that value, pooling the other swept keys;
- over two swept keys: the same per cell of their product (a heat map).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.errors import UserError
from backend.file_reading import read_text
from backend.sweeps.directory import SWEEP_FILE
from backend.sweeps.spec import SweepSpecError, parse_sweep
from backend.sweeps.table import NEURONS_PREFIX, RESULTS_CSV, read_results_csv

SHARE_PREFIX = "share "


class SweepReportError(UserError):
    """A sweep directory or a column that cannot be reported."""


@dataclass
class SweepResults:
    """The runs of a sweep directory: swept keys, column names, one dict per run."""

    path: Path
    swept_keys: list[str]
    columns: list[str]
    rows: list[dict[str, object]]
    base_group: str
    """The group of the sweep's first run (the group of every run when it is not swept)."""

    @classmethod
    def load(cls, path: str | Path) -> SweepResults:
        path = Path(path)
        table = path / RESULTS_CSV
        sweep_file = path / SWEEP_FILE
        if not table.is_file() or not sweep_file.is_file():
            raise SweepReportError(
                f"{path} is not a sweep directory (it has no {RESULTS_CSV} or {SWEEP_FILE}); "
                "give the folder passed to sweep --out"
            )
        fix = "give the folder passed to sweep --out, or run that sweep again to rewrite it"
        try:
            spec = parse_sweep(read_text(sweep_file, "sweep file", fix), source=str(sweep_file),
                               allow_large=True)
        except SweepSpecError as error:
            raise SweepReportError(str(error)) from None
        header, raw = read_results_csv(table, fix)
        rows = [{name: _value(text) for name, text in row.items()} for row in raw]
        neurons = [name for name in header if name.startswith(NEURONS_PREFIX)]
        shares = [SHARE_PREFIX + name[len(NEURONS_PREFIX):] for name in neurons]
        for row in rows:
            counts = np.array([_number(row.get(name)) for name in neurons], dtype=np.float64)
            total = np.nansum(counts)
            for share, count in zip(shares, counts, strict=True):
                row[share] = count / total if total > 0 and math.isfinite(count) else math.nan
        return cls(path, spec.swept_keys, header + shares, rows, spec.runs[0].config.group)

    def finished(self) -> list[dict[str, object]]:
        return [row for row in self.rows if row.get("status") == "done"]

    def numeric_columns(self) -> list[str]:
        """Columns holding a number in at least one finished run (swept keys excluded)."""
        return [name for name in self.columns if name not in self.swept_keys
                and name != "attempts"
                and any(math.isfinite(_number(row.get(name))) for row in self.finished())]

    def check_column(self, column: str) -> None:
        if column not in self.columns:
            raise SweepReportError(
                f"no column {column!r} in {self.path / RESULTS_CSV}; the numeric columns are: "
                + ", ".join(self.numeric_columns())
            )

    def check_key(self, key: str) -> None:
        if key not in self.swept_keys:
            raise SweepReportError(
                f"{key!r} is not a swept key of this sweep; choose one of "
                + ", ".join(self.swept_keys)
            )


@dataclass(frozen=True)
class Statistic:
    """Mean and sample standard deviation of ``count`` finite values."""

    mean: float
    std: float
    count: int


def statistic(values) -> Statistic:
    finite = np.asarray([v for v in values if math.isfinite(v)], dtype=np.float64)
    if finite.size == 0:
        return Statistic(math.nan, math.nan, 0)
    std = float(finite.std(ddof=1)) if finite.size > 1 else math.nan
    return Statistic(float(finite.mean()), std, int(finite.size))


def by_key(results: SweepResults, key: str, column: str) -> list[tuple[object, Statistic]]:
    """(value of ``key``, statistic of ``column`` over the finished runs with that value),
    values in the order they first appear."""
    results.check_key(key)
    results.check_column(column)
    groups: dict[object, list[float]] = {}
    for row in results.rows:
        groups.setdefault(row.get(key), [])
    for row in results.finished():
        groups[row.get(key)].append(_number(row.get(column)))
    return [(value, statistic(values)) for value, values in groups.items()]


def by_two_keys(results: SweepResults, first: str, second: str, column: str
                ) -> tuple[list[object], list[object], np.ndarray, np.ndarray]:
    """(values of ``first``, values of ``second``, mean (F, S), std (F, S)) of ``column``."""
    for key in (first, second):
        results.check_key(key)
    if first == second:
        raise SweepReportError("a heat map needs two different swept keys")
    results.check_column(column)
    rows_values = list(dict.fromkeys(row.get(first) for row in results.rows))
    column_values = list(dict.fromkeys(row.get(second) for row in results.rows))
    mean = np.full((len(rows_values), len(column_values)), np.nan)
    std = np.full_like(mean, np.nan)
    for i, a in enumerate(rows_values):
        for j, b in enumerate(column_values):
            stat = statistic(_number(row.get(column)) for row in results.finished()
                             if row.get(first) == a and row.get(second) == b)
            mean[i, j], std[i, j] = stat.mean, stat.std
    return rows_values, column_values, mean, std


def orbit_counts(row: dict[str, object]) -> dict[str, int]:
    """The run's neurons per orbit (orbits of its group only)."""
    return {name[len(NEURONS_PREFIX):]: int(_number(value)) for name, value in row.items()
            if name.startswith(NEURONS_PREFIX) and math.isfinite(_number(value))}


def _value(text: str | None) -> object:
    if text is None or text == "":
        return None
    try:
        number = float(text)
    except ValueError:
        return text
    if number.is_integer() and "." not in text and "e" not in text.lower():
        return int(number)
    return number


def _number(value: object) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return math.nan
