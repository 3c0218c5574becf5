"""``presets``: list the presets, show one, or list every configuration key."""

from __future__ import annotations

import argparse

from backend.config import key_help
from backend.presets import DEFAULT_PRESET, list_presets, load_preset


def register(subparsers) -> None:
    parser = subparsers.add_parser(
        "presets",
        help="list the training presets",
        description="List the presets with one line each (the default first). --show NAME "
        "prints a preset's full configuration; --keys lists every configuration key.",
    )
    parser.add_argument("--show", metavar="NAME", help="print the full configuration of NAME")
    parser.add_argument("--keys", action="store_true",
                        help="list every configuration key with its default and meaning")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.show:
        print(load_preset(args.show).to_toml_text(), end="")
        return 0
    if args.keys:
        for key, default, text, allowed in key_help():
            choices = f" (one of: {', '.join(allowed)})" if allowed else ""
            print(f"{key} = {default!r}\n    {text}{choices}")
        return 0
    presets = list_presets()
    width = max(len(name) for name, _ in presets)
    for name, description in presets:
        marker = " (default)" if name == DEFAULT_PRESET else ""
        print(f"{name:<{width}}  {description}{marker}")
    return 0
