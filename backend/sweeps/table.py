"""The results of a sweep: one record per run, kept in results.json and results.csv.

A record holds the run's id, swept values, status (``pending``, ``done``, ``diverged``,
``failed``), message, wall time, attempts, and the scalars of its summary.json
flattened into columns:

- every scalar of the summary under its own name (``loss``, ``train_accuracy``, …);
- ``neurons <orbit label>``: neurons whose dominant orbit is that orbit (orbit_counts);
- ``rank_one <d>-dim``: the rank-one fraction of the d-dimensional orbits;
- with compute = 'agf': ``agf_order_matches`` (1/0: every measured orbit in its predicted
  place), ``agf_all_learned_in_order`` (1/0: all predicted orbits learned, in order),
  ``agf_same_orbits_learned`` (1/0: the orbits learned are those predicted within the
  run's steps), ``agf_common_order_matches`` (1/0: the orbits both predicted within the
  steps and learned come in the same order), ``agf_common_orbits`` (how many orbits
  that comparison involves),
  ``agf_predicted_order``, ``agf_measured_order`` and ``agf_mean_level_error``.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from backend.atomic_files import write_text_atomic
from backend.file_reading import FileReadError, read_text
from backend.sweeps.spec import SweepSpec

STATUSES = ("pending", "done", "diverged", "failed")
FINISHED = ("done", "diverged")
"""A run with one of these statuses is not run again when the sweep resumes."""
RESULTS_JSON = "results.json"
RESULTS_CSV = "results.csv"
NEURONS_PREFIX = "neurons "
RANK_ONE_PREFIX = "rank_one "


def summary_columns(summary: dict | None, agf: dict | None) -> dict[str, Any]:
    """The summary (and AGF comparison) of a run flattened into named scalar columns."""
    columns: dict[str, Any] = {}
    for key, value in (summary or {}).items():
        if key == "orbit_counts":
            for label, count in value.items():
                columns[NEURONS_PREFIX + label] = count
        elif key == "rank_one_fraction":
            for dim, fraction in value.items():
                columns[f"{RANK_ONE_PREFIX}{dim}-dim"] = fraction
        elif value is None or isinstance(value, int | float | str | bool):
            columns[key] = value
    if agf:
        columns["agf_order_matches"] = int(agf["order_matches"])
        columns["agf_all_learned_in_order"] = int(agf["all_learned_in_order"])
        columns["agf_same_orbits_learned"] = int(agf["same_orbits_learned"])
        columns["agf_common_order_matches"] = int(agf["common_order_matches"])
        columns["agf_common_orbits"] = len(set(agf["predicted_within_steps"])
                                           & set(agf["measured_order"]))
        columns["agf_predicted_order"] = " > ".join(_short(x) for x in agf["predicted_order"])
        columns["agf_measured_order"] = " > ".join(_short(x) for x in agf["measured_order"])
        columns["agf_mean_level_error"] = agf["mean_level_error"]
    return columns


def _short(label: str) -> str:
    return label.split(" (", 1)[0]


def pending_record(run, swept_keys: list[str]) -> dict[str, Any]:
    return {
        "run_id": run.run_id,
        "index": run.index,
        "values": {key: run.values.get(key) for key in swept_keys},
        "status": "pending",
        "message": "",
        "wall_seconds": None,
        "attempts": 0,
        "columns": {},
    }


class SweepTable:
    """Every run's record, in run order; saved as JSON (for resuming) and CSV (to read)."""

    def __init__(self, spec: SweepSpec, folder: Path) -> None:
        self.spec = spec
        self.folder = Path(folder)
        self.records = [pending_record(run, spec.swept_keys) for run in spec.runs]
        self._by_id = {record["run_id"]: record for record in self.records}

    def load(self) -> None:
        """Take over the records saved by an earlier start of the same sweep."""
        path = self.folder / RESULTS_JSON
        if not path.is_file():
            return
        fix = ("remove it to run every run of the sweep again, or give another --out "
               "folder")
        try:
            saved_runs = json.loads(read_text(path, "sweep record", fix)).get("runs", [])
        except (json.JSONDecodeError, AttributeError):
            raise FileReadError(f"the sweep record {path} is damaged; {fix}") from None
        if not isinstance(saved_runs, list):
            raise FileReadError(f"the sweep record {path} is damaged; {fix}")
        for saved in saved_runs:
            if not isinstance(saved, dict):
                continue
            record = self._by_id.get(saved.get("run_id"))
            if record is not None and saved.get("status") in STATUSES:
                record.update({key: saved[key] for key in
                               ("status", "message", "wall_seconds", "attempts", "columns")
                               if key in saved})

    def record(self, run_id: str, status: str, message: str, wall: float,
               columns: dict[str, Any]) -> None:
        record = self._by_id[run_id]
        record.update(status=status, message=message, wall_seconds=float(wall),
                      columns=columns, attempts=int(record["attempts"]) + 1)

    def mark_pending(self, run_id: str) -> None:
        """A run about to run again: pending until its new result (attempts kept)."""
        self._by_id[run_id].update(status="pending", message="", columns={},
                                   wall_seconds=None)

    def status_of(self, run_id: str) -> str:
        return self._by_id[run_id]["status"]

    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(STATUSES, 0)
        for record in self.records:
            counts[record["status"]] += 1
        return counts

    def save(self) -> None:
        payload = {"runs": self.records}
        write_text_atomic(self.folder / RESULTS_JSON,
                          json.dumps(payload, indent=1, ensure_ascii=False) + "\n")
        write_text_atomic(self.folder / RESULTS_CSV, self.csv_text())

    def header(self) -> list[str]:
        fixed = ["run_id", "status", "message", *self.spec.swept_keys]
        names: list[str] = []
        for record in self.records:
            for name in record["columns"]:
                if name not in names:
                    names.append(name)
        neurons = [n for n in names if n.startswith(NEURONS_PREFIX)]
        rank = [n for n in names if n.startswith(RANK_ONE_PREFIX)]
        others = [n for n in names if n not in neurons and n not in rank and n != "wall_seconds"]
        return fixed + others + neurons + rank + ["wall_seconds", "attempts"]

    def csv_text(self) -> str:
        header = self.header()
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        for record in self.records:
            row = {"run_id": record["run_id"], "status": record["status"],
                   "message": record["message"], **record["values"], **record["columns"],
                   "wall_seconds": record["wall_seconds"], "attempts": record["attempts"]}
            writer.writerow([_cell(row.get(name)) for name in header])
        return buffer.getvalue()


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, list):
        return " ".join(_cell(v) for v in value)
    return str(value)


def read_results_csv(path: str | Path, fix: str = "run the sweep again to rewrite it"
                     ) -> tuple[list[str], list[dict[str, str]]]:
    """(header, rows) of a results.csv, every cell a string; a file that is not UTF-8
    text or not CSV is refused with ``fix``."""
    text = read_text(path, "sweep table", fix)
    try:
        reader = csv.DictReader(io.StringIO(text, newline=""))
        return list(reader.fieldnames or []), list(reader)
    except csv.Error as error:
        raise FileReadError(f"the sweep table {path} is damaged ({error}); {fix}") from None
