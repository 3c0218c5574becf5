"""``export-csv``: a recorded run's scalar series and orbit counts as one CSV file."""

from __future__ import annotations

import argparse
from pathlib import Path

from backend.errors import UserError
from backend.file_reading import check_writable_file, write_failure


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "export-csv",
        help="write a recorded run's scalar series and orbit counts as CSV",
        description="One row per recorded step: loss, train and held-out accuracy, "
        "diversification TV, mean sparsity, mean |z| and the number of neurons per "
        "dominant orbit (empty cells where a series has no sample at that step).",
    )
    parser.add_argument("run", metavar="RUN",
                        help="a run directory (train --out DIR) or a session file")
    parser.add_argument("--out", required=True, metavar="FILE.csv", help="CSV file to write")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    out = Path(args.out).expanduser()
    if out.suffix.lower() != ".csv":
        raise UserError(f"--out {out}: use a .csv file name")
    check_writable_file(out, "CSV file")
    from backend.csv_export import orbit_labels_of, write_history_csv
    from backend.session_file import load_recorded_run

    recorded = load_recorded_run(Path(args.run))  # a UserError names what is wrong
    try:
        write_history_csv(out, recorded.history, orbit_labels_of(recorded.config.group))
    except OSError as error:
        raise UserError(write_failure(out, error)) from None
    print(f"saved {out}")
    return 0
