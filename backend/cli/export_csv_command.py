"""``export-csv``: a recorded run's scalar series and orbit counts as one CSV file."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from backend.errors import UserError


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-csv",
        help="write a recorded run's scalar series and orbit counts as CSV",
        description="One row per recorded step: loss, train and held-out accuracy, "
        "diversification TV, mean sparsity, mean |z| and the number of neurons per "
        "dominant orbit (empty cells where a series has no sample at that step).",
    )
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory (train --out DIR)")
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="CSV file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".csv":
        raise UserError(f"--out {out}: use a .csv file name")
    folder = out.resolve().parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise UserError(f"--out {out}: the folder {folder} does not exist or is not writable")
    run_dir = Path(args.run_dir)
    if not run_dir.exists():
        raise UserError(f"run directory {run_dir} does not exist; record one with "
                        "`python main.py train --preset NAME --out DIR`")
    from backend.csv_export import orbit_labels_of, write_history_csv
    from backend.recording import RunDirectory

    config, _state, history = RunDirectory.load(run_dir)
    write_history_csv(out, history, orbit_labels_of(config.group))
    print(f"saved {out}")
    return 0
