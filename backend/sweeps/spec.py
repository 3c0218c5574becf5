"""The sweep file: a base configuration, a grid of keys (Cartesian product) and seeds.

    [sweep]
    preset = "z3xz5-sphere"     # optional base preset
    compute = "training"        # or "agf": also the AGF prediction and its comparison
    seeds = 4                   # a count (0, 1, 2, 3) or a list [0, 7, 11]
    seed_keys = ["seed"]        # the configuration keys that take each seed value

    [base]                      # configuration keys set over the preset
    width = 256

    [grid]                      # key = [values]; the runs are the product of the lists
    group = ["S4", "A5"]

The runs are the product grid₁ × grid₂ × … × seeds, in file order with the seed last.
Everything is validated here, before any run starts.
"""

from __future__ import annotations

import difflib
import itertools
import math
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from backend.config import ConfigError, RunConfig, known_keys, unknown_key_message
from backend.errors import UserError


class SweepSpecError(UserError):
    """A sweep file that cannot be run as written."""


COMPUTES = ("training", "agf")
"""training: train and record each run; agf: also predict the AGF staircase (closed form)
and compare its order and levels with the run's measured staircase."""
SWEEP_KEYS = ("name", "description", "preset", "compute", "seeds", "seed_keys")
TABLES = ("sweep", "base", "grid")
LARGE_SWEEP = 1000
"""A sweep of more runs than this needs --yes."""


@dataclass(frozen=True)
class SweepRun:
    """One run of a sweep: its id (a folder name), the swept values and its configuration."""

    index: int
    run_id: str
    values: dict[str, Any]
    config: RunConfig


@dataclass
class SweepSpec:
    """A validated sweep: base configuration, grid, seeds, what to compute."""

    text: str
    base: dict[str, Any]
    """The preset's keys with [base] over them."""
    grid: dict[str, list[Any]]
    seeds: list[int] | None
    seed_keys: list[str]
    compute: str = "training"
    name: str = ""
    description: str = ""
    runs: list[SweepRun] = field(default_factory=list)

    @property
    def swept_keys(self) -> list[str]:
        """The grid keys in file order, then ``seed`` when seeds are swept."""
        return list(self.grid) + (["seed"] if self.seeds is not None else [])

    def same_sweep_as(self, other_text: str) -> bool:
        """True when ``other_text`` describes this sweep (same TOML content)."""
        try:
            return tomllib.loads(other_text) == tomllib.loads(self.text)
        except tomllib.TOMLDecodeError:
            return False


def count_runs(grid: dict[str, list[Any]], seeds: list[int] | None) -> int:
    """Π_k |grid_k| × |seeds| (1 for an absent factor)."""
    return math.prod(len(values) for values in grid.values()) * (
        len(seeds) if seeds is not None else 1
    )


def load_sweep(path: str | Path, *, allow_large: bool = False) -> SweepSpec:
    """Read and validate a sweep file (see the module docstring)."""
    from backend.file_reading import FileReadError, read_text

    try:
        text = read_text(path, "sweep file",
                         "give a sweep file written as TOML (see docs/sweeps.md)")
    except FileReadError as error:
        raise SweepSpecError(str(error)) from None
    return parse_sweep(text, source=str(path), allow_large=allow_large)


def parse_sweep(text: str, *, source: str = "the sweep file", allow_large: bool = False
                ) -> SweepSpec:
    """Validate ``text``: known tables and keys, allowed values, a non-empty grid, every
    run's configuration, and (unless ``allow_large``) at most LARGE_SWEEP runs."""
    try:
        document = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise SweepSpecError(f"{source} is not valid TOML: {error}") from None
    for table in document:
        if table not in TABLES:
            raise SweepSpecError(
                f"unknown table or key {table!r} at the top of {source}{_closest(table, TABLES)}"
                "; a sweep file has the tables [sweep], [base] and [grid]"
            )
        if not isinstance(document[table], dict):
            raise SweepSpecError(f"{table} in {source} must be a table: write [{table}]")
    sweep = document.get("sweep", {})
    for key in sweep:
        if key not in SWEEP_KEYS:
            raise SweepSpecError(
                f"unknown key {key!r} in [sweep] of {source}{_closest(key, SWEEP_KEYS)}; "
                "known keys: " + ", ".join(SWEEP_KEYS)
            )
    compute = sweep.get("compute", "training")
    if compute not in COMPUTES:
        raise SweepSpecError(
            f"compute = {compute!r} in [sweep] of {source} is not allowed; choose "
            + " or ".join(repr(c) for c in COMPUTES)
        )
    base = _base_values(sweep.get("preset"), document.get("base", {}), source)
    seeds = _seeds(sweep.get("seeds"), source)
    seed_keys = _seed_keys(sweep.get("seed_keys", ["seed"]), source)
    grid = _grid(document.get("grid", {}), seed_keys if seeds is not None else [], source)
    if not grid and seeds is None:
        raise SweepSpecError(
            f"{source} sweeps nothing: add a [grid] (key = [values]) or seeds = N to [sweep]"
        )
    total = count_runs(grid, seeds)
    if total > LARGE_SWEEP and not allow_large:
        raise SweepSpecError(
            f"{source} makes {total:,} runs; add --yes to start that many, or shorten the grid"
        )
    spec = SweepSpec(
        text=text, base=base, grid=grid, seeds=seeds, seed_keys=seed_keys, compute=compute,
        name=str(sweep.get("name", "")), description=str(sweep.get("description", "")),
    )
    spec.runs = _expand(spec, source)
    return spec


def _base_values(preset: Any, base: dict, source: str) -> dict[str, Any]:
    """The preset's keys with [base] over them (validated with each run's grid values)."""
    if preset is not None and not isinstance(preset, str):
        raise SweepSpecError(f"preset in [sweep] of {source} must be a preset name (a string)")
    for key in base:
        if key not in known_keys():
            raise SweepSpecError(unknown_key_message(key, f"[base] of {source}"))
    if preset:
        from backend.presets import load_preset

        try:
            values = load_preset(preset).to_dict()
        except ConfigError as error:
            raise SweepSpecError(f"[sweep] of {source}: {error}") from None
    else:
        values = RunConfig().to_dict()
    values.update(base)
    return values


def _seeds(value: Any, source: str) -> list[int] | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 1:
            raise SweepSpecError(f"seeds = {value} in {source} must be at least 1")
        return list(range(value))
    if isinstance(value, list) and value and all(
        isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value
    ):
        if len(set(value)) != len(value):
            raise SweepSpecError(f"seeds = {value} in {source} repeats a seed; list each once")
        return list(value)
    raise SweepSpecError(
        f"seeds = {value!r} in {source} must be a count (seeds = 8) or a non-empty list of "
        "whole numbers ≥ 0 (seeds = [0, 3, 7])"
    )


def _seed_keys(value: Any, source: str) -> list[str]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise SweepSpecError(
            f"seed_keys in {source} must be a list of configuration keys, e.g. "
            '["seed", "data_seed"]'
        )
    for key in value:
        if key not in ("seed", "data_seed"):
            raise SweepSpecError(
                f"seed_keys in {source} names {key!r}; a seed can only set 'seed' "
                "(the weights) and 'data_seed' (the split and the random template)"
            )
    return list(value)


def _grid(grid: dict, seed_keys: list[str], source: str) -> dict[str, list[Any]]:
    result = {}
    for key, values in grid.items():
        if key not in known_keys():
            raise SweepSpecError(unknown_key_message(key, f"[grid] of {source}"))
        if key == "preset":
            raise SweepSpecError(
                f"[grid] of {source} sweeps 'preset', which only names the base; sweep the "
                "configuration keys themselves"
            )
        if key in seed_keys:
            raise SweepSpecError(
                f"[grid] of {source} sweeps {key!r}, which the seeds already set; remove it "
                "from [grid] or from seed_keys"
            )
        if not isinstance(values, list):
            raise SweepSpecError(
                f"[grid] {key} = {values!r} in {source} must be a list of values, "
                f"e.g. {key} = [{values!r}]"
            )
        if not values:
            raise SweepSpecError(f"[grid] {key} in {source} is empty; give at least one value")
        result[key] = values
    return result


def _expand(spec: SweepSpec, source: str) -> list[SweepRun]:
    keys = list(spec.grid)
    seeds: list[int | None] = spec.seeds if spec.seeds is not None else [None]
    combinations = list(itertools.product(*(spec.grid[k] for k in keys), seeds))
    width = max(3, len(str(len(combinations) - 1)))
    base = spec.base
    runs = []
    for index, combination in enumerate(combinations):
        values = dict(zip(keys, combination[:-1], strict=True))
        seed = combination[-1]
        if seed is not None:
            values["seed"] = seed
        settings = {**base, **{k: v for k, v in values.items() if k != "seed"}}
        if seed is not None:
            settings.update({key: seed for key in spec.seed_keys})
        try:
            config = RunConfig.from_dict(settings, source=f"[grid] of {source}")
        except ConfigError as error:
            shown = ", ".join(f"{k} = {v!r}" for k, v in values.items())
            raise SweepSpecError(f"the run with {shown}: {error}") from None
        if spec.compute == "agf":
            from backend.agf.applicability import check_agf_config

            try:
                check_agf_config(config)
            except UserError as error:
                raise SweepSpecError(f"compute = 'agf' in {source}: {error}") from None
        run_id = f"{index:0{width}d}" + "".join(
            f"_{key}={_folder_text(value)}" for key, value in values.items()
        )
        runs.append(SweepRun(index, run_id, values, config))
    _check_groups({run.config.group for run in runs}, source)
    return runs


def _check_groups(specs: set[str], source: str) -> None:
    from backend.groups.spec import parse_group

    for spec in sorted(specs):
        try:
            parse_group(spec)
        except UserError as error:
            raise SweepSpecError(f"group {spec!r} in {source}: {error}") from None


def _folder_text(value: Any) -> str:
    """A value as it may appear in a folder name (letters, digits, . + -)."""
    if isinstance(value, list):
        text = "-".join(_folder_text(v) for v in value)
    elif isinstance(value, float):
        text = f"{value:g}"
    else:
        text = str(value)
    return re.sub(r"[^A-Za-z0-9.+-]", "-", text)[:40] or "-"


def _closest(word: str, choices) -> str:
    match = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f" (did you mean {match[0]!r}?)" if match else ""
