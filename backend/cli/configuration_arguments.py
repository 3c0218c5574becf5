"""The options that choose a run's configuration, shared by the commands that train:
``--preset NAME`` or ``--config FILE``, then any number of ``--set key=value``."""

from __future__ import annotations

import argparse

from backend.config import RunConfig
from backend.presets import DEFAULT_PRESET, load_preset


def add_configuration_arguments(parser: argparse.ArgumentParser) -> None:
    """Add --preset / --config (exclusive) and the repeatable --set to ``parser``."""
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--preset", metavar="NAME",
                        help=f"preset to start from (default {DEFAULT_PRESET}; "
                        "list them with: python main.py presets)")
    source.add_argument("--config", metavar="FILE", help="a config.toml to start from")
    parser.add_argument("--set", metavar="KEY=VALUE", action="append", default=[],
                        dest="overrides", help="change one configuration key (repeatable)")


def configuration_from_arguments(args: argparse.Namespace) -> RunConfig:
    """The preset (or config file) of ``args`` with its --set overrides applied."""
    if args.config:
        config = RunConfig.from_toml(args.config)
    else:
        config = load_preset(args.preset or DEFAULT_PRESET)
    return config.with_overrides(args.overrides)
