"""Named presets: one TOML file per preset in resources/presets/.

A preset file holds configuration keys plus a one-line ``description``; keys it does not
set keep their RunConfig defaults.
"""

from __future__ import annotations

import difflib
import tomllib
from pathlib import Path

from backend.config import ConfigError, RunConfig

PRESET_FOLDER = Path(__file__).resolve().parents[1] / "resources" / "presets"
DEFAULT_PRESET = "frobenius21-sphere"
"""The preset the window opens with; it shows its phenomenon within seconds."""


def preset_path(name: str) -> Path:
    return PRESET_FOLDER / f"{name}.toml"


def preset_names() -> list[str]:
    """Names of every preset file, the default first, then alphabetical."""
    names = sorted(path.stem for path in PRESET_FOLDER.glob("*.toml"))
    if DEFAULT_PRESET in names:
        names.remove(DEFAULT_PRESET)
        names.insert(0, DEFAULT_PRESET)
    return names


def _read(name: str) -> dict:
    path = preset_path(name)
    if not path.is_file():
        names = preset_names()
        match = difflib.get_close_matches(name, names, n=1)
        hint = f" (did you mean {match[0]!r}?)" if match else ""
        raise ConfigError(
            f"unknown preset {name!r}{hint}; the presets are: {', '.join(names)} "
            "(list them with: python main.py presets)"
        )
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as error:
        raise ConfigError(f"preset file {path} is not valid TOML: {error}") from None


def load_preset(name: str) -> RunConfig:
    """The validated RunConfig of a preset (its ``preset`` key set to the name)."""
    values = _read(name)
    values.pop("description", None)
    values["preset"] = name
    return RunConfig.from_dict(values, source=f"preset {name}")


def preset_description(name: str) -> str:
    return str(_read(name).get("description", ""))


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) of every preset, the default first."""
    return [(name, preset_description(name)) for name in preset_names()]
