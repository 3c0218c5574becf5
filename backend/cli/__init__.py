"""Headless command line: one module per sub-command, each with register() and run().

The command modules import only what their parser needs (no torch, SciPy or Qt): the
heavy modules load inside ``run``, so ``--help``, ``presets``, ``group`` and every error
found in the arguments answer at once.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from backend.errors import UserError

COMMAND_MODULES = ("group", "presets", "train", "agf", "sweep", "export_csv")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irrep-studio",
        description="Irrep Studio: watch two-layer networks learn group composition. "
        "Without a sub-command the window opens.",
        epilog="Window options (no COMMAND): --preset NAME, --set KEY=VALUE (repeatable), "
        "--run-steps N, --window-size WIDTHxHEIGHT, --screenshot FILE.png; e.g. "
        "`./start.sh --preset c11-agf`. `./start.sh --preset NAME --help` explains them.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"backend.cli.{name}_command")
        except ModuleNotFoundError as error:
            if error.name != f"backend.cli.{name}_command":
                raise
            continue
        module.register(subparsers)
    subparsers.add_parser("open", help="open a recorded run directory or session in the window")
    subparsers.add_parser("video", help="render a video of a recorded run (no display needed)")
    subparsers.add_parser(
        "sweep-report", help="statistics and plots of a sweep directory (see docs/sweeps.md)"
    )
    subparsers.add_parser(
        "snapshot", help="export a recorded run as PNG, SVG or .npz (no display needed)"
    )
    return parser


BROKEN_PIPE_STATUS = 141
"""Exit status when the reader of the output went away (128 + SIGPIPE, as other tools)."""


def main(argv: list[str]) -> int:
    try:
        return _dispatch(argv)
    except BrokenPipeError:
        # the reader (``| head``) has closed the pipe: end quietly, and send what is still
        # buffered nowhere so that the interpreter's last flush cannot fail again
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        return BROKEN_PIPE_STATUS


def _dispatch(argv: list[str]) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 0
    try:
        return int(args.func(args) or 0)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
