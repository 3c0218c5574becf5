"""The one writer and reader of a Trainer's state (``Trainer.state_dict``).

Run directories (``checkpoint.npz``), session files and the snapshot's state export all
store the state the same way, as members of a NumPy ``.npz`` archive (no pickle, so a
file can never run code, and weights come back bit for bit):

- ``<prefix>``: a JSON tree of the state; a tensor is ``{"tensor": "<prefix>/<path>"}``
  and a NumPy array ``{"array": "<prefix>/<path>"}``, naming the member that holds it
  (``state/theta``, ``state/optimiser/first``, …), complex numbers are
  ``{"complex": [re, im]}``, tuples and lists keep their kind, ``null`` is no state;
- ``<prefix>/<path>``: one member per tensor or array.

A state archive (the checkpoint, the session) adds ``format`` (a marker naming the kind
of file), ``version`` and ``config`` (the RunConfig as TOML text).
``check_state`` verifies that a state belongs to a configuration: the weights' shape
(layers, group order, width), finiteness, step count and optimiser moments.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import torch

from backend.config import ConfigError, RunConfig
from backend.errors import UserError

STATE_PREFIX = "state"
WEIGHTS_PREFIX = "weights"
"""Where the snapshot's state export keeps the state (``weights/theta``, …)."""
STATE_EXPORT_FORMAT = "irrep-studio-state"
STATE_EXPORT_VERSION = 1
REQUIRED_STATE_KEYS = ("theta", "seed", "step_count", "stage", "optimiser")
STAGES = ("free", "stage I", "stage II")


class StateFormatError(UserError):
    """A stored state that cannot be decoded or does not belong to its configuration."""


# ============================================================================ writing
def state_members(state: dict | None, prefix: str = STATE_PREFIX) -> dict[str, np.ndarray]:
    """The archive members that store ``state`` under ``prefix`` (see the module doc)."""
    if state is None:
        return {prefix: np.array("null")}
    stored: dict[str, np.ndarray] = {}
    tree = _encode(state, prefix, stored)
    return {prefix: np.array(json.dumps(tree, allow_nan=True)), **stored}


def archive_members(kind: str, version: int, config: RunConfig,
                    state: dict | None) -> dict[str, np.ndarray]:
    """``format``, ``version``, ``config`` and the state's members."""
    return {
        "format": np.array(kind),
        "version": np.array(version, dtype=np.int64),
        "config": np.array(config.to_toml_text()),
        **state_members(state),
    }


def _unique(key: str, stored: dict) -> str:
    if key not in stored:
        return key
    suffix = 1
    while f"{key}~{suffix}" in stored:
        suffix += 1
    return f"{key}~{suffix}"


def _encode(value: Any, path: str, stored: dict[str, np.ndarray]) -> Any:
    if isinstance(value, torch.Tensor):
        key = _unique(path, stored)
        stored[key] = value.detach().cpu().contiguous().numpy().copy()
        return {"tensor": key}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("object arrays cannot be stored")
        key = _unique(path, stored)
        stored[key] = value.copy()
        return {"array": key}
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"state key {key!r} is not a string")
            items.append([key, _encode(item, f"{path}/{key}", stored)])
        return {"dict": items}
    if isinstance(value, tuple | list):
        encoded = [_encode(item, f"{path}/{index}", stored) for index, item in enumerate(value)]
        return {"tuple" if isinstance(value, tuple) else "list": encoded}
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, complex | np.complexfloating):
        return {"complex": [float(value.real), float(value.imag)]}
    raise TypeError(f"cannot store a value of type {type(value).__name__}")


# ============================================================================ reading
def state_from_members(members: dict[str, np.ndarray], prefix: str = STATE_PREFIX) -> dict | None:
    """The state stored under ``prefix`` (None for a stored ``null``); StateFormatError
    says in words what is missing or malformed."""
    if prefix not in members or members[prefix].dtype.kind != "U" or members[prefix].shape != ():
        raise StateFormatError(f"the member {prefix!r} (the weights) is missing or is not text")
    try:
        tree = json.loads(str(members[prefix].item()))
    except (json.JSONDecodeError, RecursionError):
        raise StateFormatError("the description of the weights is not valid JSON") from None
    if tree is None:
        return None
    try:
        state = _decode(tree, members)
    except (KeyError, TypeError, ValueError, IndexError, RecursionError) as error:
        raise StateFormatError(f"the weights are incomplete ({_short(error)})") from None
    if not isinstance(state, dict):
        raise StateFormatError("the weights are not a trainer state")
    return state


def _decode(node: Any, members: dict[str, np.ndarray]) -> Any:
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if not isinstance(node, dict) or len(node) != 1:
        raise TypeError(f"unexpected entry {str(node)[:40]}")
    (tag, body), = node.items()
    if tag in ("tensor", "array"):
        if not isinstance(body, str):
            raise ValueError(f"bad reference {str(body)[:40]}")
        if body not in members:
            raise KeyError(f"the array {body} is missing")
        array = members[body]
        if array.dtype.kind not in "biufc":
            raise ValueError(f"the array {body} is not numeric")
        return torch.from_numpy(array.copy()) if tag == "tensor" else array.copy()
    if tag == "dict":
        return {str(key): _decode(value, members) for key, value in body}
    if tag == "tuple":
        return tuple(_decode(value, members) for value in body)
    if tag == "list":
        return [_decode(value, members) for value in body]
    if tag == "complex":
        return complex(float(body[0]), float(body[1]))
    raise ValueError(f"unknown entry type {str(tag)[:20]!r}")


def text_member(members: dict[str, np.ndarray], key: str) -> str | None:
    """A scalar text member, or None when absent or not text."""
    value = members.get(key)
    if value is None or value.shape != () or value.dtype.kind != "U":
        return None
    return str(value.item())


def read_archive(members: dict[str, np.ndarray], kind: str, newest_version: int,
                 source: str, prefix: str = STATE_PREFIX) -> tuple[int, RunConfig, dict | None]:
    """(version, configuration, state) of a state archive of this ``kind``;
    StateFormatError naming what is wrong otherwise."""
    if text_member(members, "format") != kind:
        raise StateFormatError(f"it is not an Irrep Studio {kind.removeprefix('irrep-studio-')} "
                               "file (its format marker is missing or different)")
    version = members.get("version")
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise StateFormatError("its format version is missing or not a whole number")
    version = int(version)
    if version > newest_version:
        raise StateFormatError(
            f"it was written by a newer Irrep Studio (format {version}; this version reads up "
            f"to {newest_version}); update Irrep Studio to read it")
    if version < 1:
        raise StateFormatError(f"its format version {version} is not valid")
    text = text_member(members, "config")
    if text is None:
        raise StateFormatError("its configuration is missing or is not text")
    try:
        config = RunConfig.from_toml_text(text, source=f"{source} (config)")
    except ConfigError as error:
        raise StateFormatError(f"its configuration is invalid: {error}") from None
    return version, config, state_from_members(members, prefix)


def read_state_export(path) -> tuple[RunConfig, dict | None]:
    """(configuration, trainer state) of a snapshot's state export (``NAME.npz``), checked
    against each other; a UserError naming the file and the fix otherwise."""
    from pathlib import Path

    from backend.file_reading import read_npz_members
    from backend.run_checks import check_run

    path = Path(path)
    fix = "export the state again with Export snapshot or `snapshot RUN --out NAME.npz`"
    members = read_npz_members(path, "state export", fix)
    if text_member(members, "format") != STATE_EXPORT_FORMAT:
        raise StateFormatError(f"{path} is not an Irrep Studio state export (it has no state "
                               f"marker); {fix}")
    try:
        _, config, state = read_archive(members, STATE_EXPORT_FORMAT, STATE_EXPORT_VERSION,
                                        str(path), prefix=WEIGHTS_PREFIX)
    except StateFormatError as error:
        raise StateFormatError(f"the state export {path} cannot be used: {error}; {fix}") \
            from None
    check_run(config, state, None, str(path))
    return config, state


# ============================================================================ checks
def expected_theta_shape(config: RunConfig, order: int) -> tuple[int, int, int]:
    """(L, n, M) of the weights of ``config`` on a group of ``order`` elements."""
    return (2 if config.shared_embedding else 3, order, config.width)


def check_state(state: dict, config: RunConfig, order: int) -> None:
    """StateFormatError unless ``state`` holds weights of ``config`` on a group of
    ``order`` elements (shape, finiteness, step count, stage, optimiser moments)."""
    missing = [key for key in REQUIRED_STATE_KEYS if key not in state]
    if missing:
        raise StateFormatError(f"the weights lack {', '.join(missing)}")
    theta = state["theta"]
    if not isinstance(theta, torch.Tensor) or not theta.is_floating_point() or theta.dim() != 3:
        raise StateFormatError("the weights 'theta' are not a 3-dimensional floating-point "
                               "tensor")
    expected = expected_theta_shape(config, order)
    if tuple(theta.shape) != expected:
        layers, n, width = (int(v) for v in theta.shape)
        raise StateFormatError(
            f"the weights have shape {tuple(theta.shape)} (group order {n}, width {width}, "
            f"{layers} layers) but the configuration (group {config.group}, order {order}, "
            f"width {config.width}) needs {expected}: they belong to another run")
    if not bool(torch.isfinite(theta).all()):
        raise StateFormatError("the weights contain NaN or infinite values")
    step_count = state["step_count"]
    if not isinstance(step_count, int) or isinstance(step_count, bool) or step_count < 0:
        raise StateFormatError("the step count is not a whole number of 0 or more")
    if not isinstance(state["seed"], int) or isinstance(state["seed"], bool):
        raise StateFormatError("the seed is not a whole number")
    if state["stage"] not in STAGES:
        raise StateFormatError(f"the training stage {str(state['stage'])[:30]!r} is unknown")
    optimiser = state["optimiser"]
    if not isinstance(optimiser, dict) or "learning_rate" not in optimiser:
        raise StateFormatError("the optimiser state is missing or malformed")
    for name, value in optimiser.items():
        if isinstance(value, torch.Tensor) and value.dim() == 3 and value.shape != theta.shape:
            raise StateFormatError(
                f"the optimiser's {name} has shape {tuple(value.shape)}, not the weights' "
                f"{tuple(theta.shape)}")
    scale = state.get("scale", 1.0)
    if isinstance(scale, torch.Tensor) and scale.numel() not in (1, config.width):
        raise StateFormatError(f"the output scales hold {scale.numel()} values for "
                               f"{config.width} neurons")


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 100 else text[:97] + "..."
