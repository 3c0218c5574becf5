"""``sweep-report DIR``: the text report of a sweep, and optionally a PNG/SVG plot.

    python main.py sweep-report DIR [--columns C1,C2] [--laws]
                                [--plot COLUMN --key KEY [--key2 KEY2] --out FILE]

The text comes from backend.sweeps.report_text; Qt starts (offscreen without a display)
only when a plot is asked for.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from backend.errors import UserError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irrep-studio sweep-report",
        description="Statistics of a sweep directory: mean ± std over seeds per swept key, "
        "the orbits learned per run, with --laws the share per orbit against the laws ∝ d, "
        "∝ d², ∝ real dimension; with --plot a PNG or SVG of a column against a swept key "
        "(or a heat map over two keys).",
    )
    parser.add_argument("sweep", metavar="DIR", help="a sweep directory (sweep --out)")
    parser.add_argument("--columns", metavar="C1,C2",
                        help="columns to summarise (default: loss, train_accuracy, "
                        "mean_alignment, mean_sparsity)")
    parser.add_argument("--laws", action="store_true",
                        help="share of neurons per orbit against the candidate laws")
    parser.add_argument("--plot", metavar="COLUMN", help="column to plot")
    parser.add_argument("--key", metavar="KEY", help="swept key on the x axis")
    parser.add_argument("--key2", metavar="KEY", help="second swept key: a heat map")
    parser.add_argument("--out", metavar="FILE", help="picture to write (.png or .svg)")
    return parser


def run_sweep_report(argv: list[str]) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv[1:] if argv and argv[0] == "sweep-report" else argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        return _run(args)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    from backend.sweeps.report import SweepResults
    from backend.sweeps.report_text import report_text

    results = SweepResults.load(args.sweep)
    columns = [c.strip() for c in args.columns.split(",") if c.strip()] if args.columns else None
    if args.plot:
        _check_plot_arguments(args, results)
    print(report_text(results, columns, laws=args.laws))
    if args.plot:
        path = plot_to_file(results, args.plot, args.key, args.key2, Path(args.out))
        print(f"\nwrote {path}", file=sys.stderr)
    return 0


def _check_plot_arguments(args: argparse.Namespace, results) -> None:
    from gui.export.output_files import check_output_path
    from gui.export.snapshot import IMAGE_SUFFIXES

    if not args.key:
        raise UserError("--plot needs --key KEY, the swept key on the x axis; the swept keys "
                        "are " + ", ".join(results.swept_keys))
    if not args.out:
        raise UserError("--plot needs --out FILE.png or FILE.svg")
    results.check_column(args.plot)
    results.check_key(args.key)
    if args.key2:
        results.check_key(args.key2)
    check_output_path(args.out, IMAGE_SUFFIXES, "plot")


def plot_to_file(results, column: str, key: str, key2: str | None, path: Path,
                 size: tuple[int, int] = (900, 560)) -> Path:
    """Draw the plot offscreen at ``size`` and save it as PNG or SVG."""
    from gui.commands import _ensure_qt_application
    from gui.export.snapshot import save_picture
    from gui.sweeps.sweep_plot import SweepPlot

    app = _ensure_qt_application()
    widget = SweepPlot()
    widget.resize(*size)
    if key2:
        widget.show_heat_map(results, key, key2, column)
    else:
        widget.show_against_key(results, key, column)
    widget.show()
    app.processEvents()
    written = save_picture(widget, path)
    widget.close()
    return written
