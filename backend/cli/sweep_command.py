"""``sweep``: many runs of a sweep file on Ray, into one sweep directory.

    python main.py sweep SWEEP.toml --out DIR [--address HOST:PORT] [--cpus-per-run K]
                         [--gpus-per-run G] [--yes]
"""

from __future__ import annotations

import argparse
import sys

from backend.cli.progress import format_duration
from backend.sweeps.spec import LARGE_SWEEP, load_sweep


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "sweep",
        help="run a sweep (a grid of configurations × seeds) on Ray",
        description="Run every configuration of a sweep file on Ray: a local Ray instance "
        "using every core (one run per core) unless --address or RAY_ADDRESS names a "
        "cluster. DIR receives sweep.toml, results.csv (one row per run) and runs/<run-id>/ "
        "(run directories like train --out). The same command again resumes: finished "
        "runs are kept, failed ones run again. See docs/sweeps.md.",
    )
    parser.add_argument("sweep_file", metavar="SWEEP.toml", help="the sweep file")
    parser.add_argument("--out", metavar="DIR", required=True, help="sweep directory")
    parser.add_argument("--address", metavar="HOST:PORT",
                        help="attach to this Ray cluster (default: RAY_ADDRESS, else a local "
                        "instance)")
    parser.add_argument("--cpus-per-run", type=int, default=1, metavar="K",
                        help="CPUs (and torch threads) per run (default 1)")
    parser.add_argument("--gpus-per-run", type=float, default=0.0, metavar="G",
                        help="GPUs per run (default 0; 1 runs one run per GPU)")
    parser.add_argument("--num-cpus", type=int, metavar="N",
                        help="local instance only: CPUs Ray may use (default: every core)")
    parser.add_argument("--yes", action="store_true",
                        help=f"start a sweep of more than {LARGE_SWEEP} runs")
    parser.add_argument("--quiet", action="store_true", help="no progress line")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    spec = load_sweep(args.sweep_file, allow_large=args.yes)
    from backend.sweeps.directory import SweepDirectory
    from backend.sweeps.engine import EngineOptions, RayEngine
    from backend.sweeps.runner import SweepProgress, run_sweep

    engine = RayEngine(EngineOptions(
        address=args.address, cpus_per_run=args.cpus_per_run, gpus_per_run=args.gpus_per_run,
        num_cpus=args.num_cpus,
    ))
    engine.check_address()  # before anything is written
    directory = SweepDirectory(args.out)
    resuming = directory.prepare(spec)
    progress = None if args.quiet else SweepProgress(len(spec.runs))
    outcome = run_sweep(spec, directory, engine, progress)
    counts = outcome.counts
    where = f"cluster {engine.address}" if engine.attached else "a local Ray instance"
    print(
        f"sweep of {len(spec.runs)} runs in {directory.path}: done {counts['done']}, "
        f"diverged {counts['diverged']}, failed {counts['failed']}, not run "
        f"{counts['pending']}; this start ran {outcome.ran}"
        + (f" and kept {outcome.skipped} finished earlier" if resuming else "")
        + (f" on {where} (Ray ready in {outcome.ray_start_seconds:.1f} s)" if outcome.ran else "")
        + f", {format_duration(outcome.wall_seconds)}"
    )
    print(f"results: {directory.path / 'results.csv'}")
    if outcome.interrupted:
        print("interrupted: finished runs are kept; run the same command to resume",
              file=sys.stderr)
        return 130
    return 1 if counts["failed"] else 0
