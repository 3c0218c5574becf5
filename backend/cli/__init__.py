"""Headless command line: one module per sub-command, each with register() and run()."""

from __future__ import annotations

import argparse
import importlib
import sys

from backend.errors import UserError

COMMAND_MODULES = ("group", "presets", "train", "agf")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irrep-studio",
        description="Irrep Studio: watch two-layer networks learn group composition. "
        "Without a sub-command the window opens.",
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
        "snapshot", help="export a recorded run as PNG, SVG or .npz (no display needed)"
    )
    return parser


def main(argv: list[str]) -> int:
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
