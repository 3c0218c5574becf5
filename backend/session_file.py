"""Session files: one file holding a run's configuration, weights and recorded history.

A session file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, readable without
pickle) with these members:

- ``format``: the marker ``"irrep-studio-session"``; ``version``: the format version;
- ``config``: the RunConfig as TOML text;
- ``state``: the Trainer state (``Trainer.state_dict``) as a JSON tree whose tensors and
  arrays are stored beside it as ``state/<i>`` (so weights come back bit for bit), or
  ``null`` for a session without weights;
- ``history/<name>``: the arrays of ``MetricHistory.to_arrays``.

Saving is atomic (a temporary file in the target folder, then a rename), so a failure
never leaves a partial file. Loading checks every member and says in words what is wrong
with a truncated, corrupted or foreign file.
"""

from __future__ import annotations

import errno
import json
import os
import zipfile
import zlib
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np
import torch

from backend.atomic_files import write_atomic
from backend.config import ConfigError, RunConfig
from backend.errors import UserError
from backend.metrics import MetricSnapshot
from backend.recording import MetricHistory, RunDirectory

FORMAT_MARKER = "irrep-studio-session"
FORMAT_VERSION = 1
SESSION_SUFFIX = ".irrep"
"""The suffix the app proposes for session files (any name is read by its content)."""

HISTORY_PREFIX = "history/"
STATE_PREFIX = "state/"
REQUIRED_HISTORY_KEYS = (
    "loss_steps", "loss_values", "scalar_steps", "scalar_values", "resolutions", "capacities",
)
REQUIRED_STATE_KEYS = ("theta", "seed", "step_count", "stage")


class SessionFileError(UserError):
    """A session file that cannot be written or read; the message names the fix."""


@dataclass
class Session:
    """What a session file holds: the configuration, the Trainer state (or None) and the
    recorded history."""

    config: RunConfig
    state: dict | None
    history: MetricHistory


# ============================================================================ saving
def save_session(
    path: str | Path, config: RunConfig, state: dict | None, history: MetricHistory
) -> Path:
    """Write one session file atomically; return its path.

    Raises SessionFileError for a folder that does not exist or cannot be written, and for
    a write that fails midway (a full disk, say); no partial file is left in either case.
    """
    path = Path(path).expanduser()
    check_writable_file(path, "session file")
    arrays: dict[str, np.ndarray] = {
        "format": np.array(FORMAT_MARKER),
        "version": np.array(FORMAT_VERSION, dtype=np.int64),
        "config": np.array(config.to_toml_text()),
    }
    if state is None:
        arrays["state"] = np.array("null")
    else:
        stored: dict[str, np.ndarray] = {}
        arrays["state"] = np.array(json.dumps(_encode(state, stored), allow_nan=True))
        arrays.update(stored)
    for key, value in history.to_arrays().items():
        arrays[HISTORY_PREFIX + key] = np.asarray(value)
    try:
        write_atomic(path, lambda stream: np.savez_compressed(stream, **arrays))
    except OSError as error:
        raise SessionFileError(write_failure_message(path, error)) from None
    return path


def check_writable_file(path: Path, what: str) -> None:
    """Refuse, before any work, a target that is a folder, or whose folder is missing or
    not writable."""
    path = Path(path)
    if path.is_dir():
        raise SessionFileError(f"{path} is a folder; give a file name for the {what}")
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise SessionFileError(
            f"cannot write the {what} {path}: the folder {folder} does not exist; "
            "create it first or choose another folder"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise SessionFileError(
            f"cannot write the {what} {path}: the folder {folder} is not writable; "
            "choose a folder you can write to"
        )


def write_failure_message(path: Path, error: OSError) -> str:
    """A sentence for a write that failed midway (nothing was left behind)."""
    if error.errno == errno.ENOSPC:
        reason = "the disk is full; free some space or choose another drive"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "permission denied; choose a folder you can write to"
    else:
        reason = f"{error.strerror or error}; check the folder and try again"
    return f"could not write {path}: {reason}. Nothing was written."


def _encode(value: Any, stored: dict[str, np.ndarray]) -> Any:
    """A JSON tree for ``value``; tensors and arrays go into ``stored`` (tagged objects)."""
    if isinstance(value, torch.Tensor):
        key = f"{STATE_PREFIX}{len(stored)}"
        stored[key] = value.detach().cpu().contiguous().numpy().copy()
        return {"tensor": key}
    if isinstance(value, np.ndarray):
        if value.dtype == object:
            raise TypeError("object arrays cannot be stored in a session file")
        key = f"{STATE_PREFIX}{len(stored)}"
        stored[key] = value.copy()
        return {"array": key}
    if isinstance(value, dict):
        items = []
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"state key {key!r} is not a string")
            items.append([key, _encode(item, stored)])
        return {"dict": items}
    if isinstance(value, tuple):
        return {"tuple": [_encode(item, stored) for item in value]}
    if isinstance(value, list):
        return {"list": [_encode(item, stored) for item in value]}
    if isinstance(value, bool | str) or value is None:
        return value
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return float(value)
    if isinstance(value, complex | np.complexfloating):
        return {"complex": [float(value.real), float(value.imag)]}
    raise TypeError(f"cannot store a value of type {type(value).__name__} in a session file")


# ============================================================================ loading
def load_session(path: str | Path) -> Session:
    """Read a session file; SessionFileError says what is wrong and how to go on."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SessionFileError(f"session file {path} does not exist; check the name")
    if path.is_dir():
        raise SessionFileError(
            f"{path} is a folder, not a session file; to open a recorded run directory "
            "give the folder to `open` (or `video`) directly"
        )
    if not zipfile.is_zipfile(path):
        raise SessionFileError(
            f"{path} is not an Irrep Studio session: it is not a session archive at all, or "
            "it is truncated (an interrupted copy or download); use the original file"
        )
    try:
        with np.load(path, allow_pickle=False) as archive:
            members = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error, KeyError) as error:
        raise SessionFileError(
            f"{path} is damaged and cannot be read ({_short(error)}); use an undamaged copy"
        ) from None
    return _session_from_members(path, members)


def is_session_file(path: str | Path) -> bool:
    """True when ``path`` is a readable archive that carries the session marker."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as archive:
            return "format" in archive.files and _text(archive["format"]) == FORMAT_MARKER
    except Exception:  # any unreadable archive is simply not a session
        return False


def load_recorded_run(path: str | Path) -> Session:
    """A run directory (recorded headless) or a session file, as a Session."""
    path = Path(path).expanduser()
    if not path.exists():
        raise SessionFileError(
            f"{path} does not exist; give a run directory (from `train --out DIR`) or a "
            f"session file ({SESSION_SUFFIX})"
        )
    if path.is_dir():
        config, state, history = RunDirectory.load(path)
        return Session(config=config, state=state, history=history)
    return load_session(path)


def _session_from_members(path: Path, members: dict[str, np.ndarray]) -> Session:
    def broken(what: str) -> SessionFileError:
        return SessionFileError(f"{path} is not a usable session file: {what}")

    if "format" not in members or _text(members["format"]) != FORMAT_MARKER:
        raise SessionFileError(
            f"{path} is a NumPy archive but not an Irrep Studio session (it has no session "
            "marker); open a file saved with Save session, or a run directory"
        )
    version = members.get("version")
    if version is None or version.shape != () or version.dtype.kind not in "iu":
        raise broken("its format version is missing or not a whole number")
    if int(version) > FORMAT_VERSION:
        raise SessionFileError(
            f"{path} was written by a newer Irrep Studio (session format {int(version)}; this "
            f"version reads up to {FORMAT_VERSION}); update Irrep Studio to open it"
        )
    if int(version) < 1:
        raise broken(f"its format version {int(version)} is not valid")
    for key in ("config", "state"):
        if key not in members or members[key].dtype.kind != "U" or members[key].shape != ():
            raise broken(f"the member {key!r} is missing or is not text")
    try:
        config = RunConfig.from_toml_text(_text(members["config"]), source=f"{path} (config)")
    except ConfigError as error:
        raise broken(f"its configuration is invalid: {error}") from None
    state = _decode_state(members, broken)
    if state is not None:
        _check_state(state, config, broken)
    history = _decode_history(members, broken)
    return Session(config=config, state=state, history=history)


def _decode_state(members: dict[str, np.ndarray], broken) -> dict | None:
    try:
        tree = json.loads(_text(members["state"]))
    except json.JSONDecodeError:
        raise broken("its weights description is not valid JSON") from None
    if tree is None:
        return None
    try:
        state = _decode(tree, members)
    except (KeyError, TypeError, ValueError) as error:
        raise broken(f"its weights are incomplete ({_short(error)})") from None
    if not isinstance(state, dict):
        raise broken("its weights are not a Trainer state")
    return state


def _decode(node: Any, members: dict[str, np.ndarray]) -> Any:
    if node is None or isinstance(node, bool | int | float | str):
        return node
    if not isinstance(node, dict) or len(node) != 1:
        raise TypeError(f"unexpected entry {str(node)[:40]}")
    (tag, body), = node.items()
    if tag == "tensor" or tag == "array":
        if not isinstance(body, str) or not body.startswith(STATE_PREFIX):
            raise ValueError(f"bad reference {body!r}")
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
    raise ValueError(f"unknown entry type {tag!r}")


def _check_state(state: dict, config: RunConfig, broken) -> None:
    missing = [key for key in REQUIRED_STATE_KEYS if key not in state]
    if missing:
        raise broken(f"its weights lack {', '.join(missing)}")
    theta = state["theta"]
    if not isinstance(theta, torch.Tensor) or not theta.is_floating_point() or theta.dim() != 3:
        raise broken("its weights 'theta' are not a 3-dimensional floating-point tensor")
    if theta.shape[2] != config.width:
        raise broken(
            f"its weights have {theta.shape[2]} neurons but its configuration says width = "
            f"{config.width}"
        )
    if not bool(torch.isfinite(theta).all()):
        raise broken("its weights contain NaN or infinite values")
    step_count = state["step_count"]
    if not isinstance(step_count, int) or isinstance(step_count, bool) or step_count < 0:
        raise broken("its step count is not a whole number of 0 or more")


def _decode_history(members: dict[str, np.ndarray], broken) -> MetricHistory:
    arrays = {
        key[len(HISTORY_PREFIX):]: value
        for key, value in members.items()
        if key.startswith(HISTORY_PREFIX)
    }
    missing = [key for key in REQUIRED_HISTORY_KEYS if key not in arrays]
    if missing:
        raise broken(f"its recorded history lacks {', '.join(missing)}")
    loss_steps, loss_values = arrays["loss_steps"], arrays["loss_values"]
    if loss_steps.ndim != 1 or loss_values.shape != loss_steps.shape:
        raise broken("its loss record has mismatched steps and values")
    if arrays["scalar_values"].shape[:1] != arrays["scalar_steps"].shape:
        raise broken("its accuracy record has mismatched steps and values")
    if arrays["resolutions"].shape != (3,) or arrays["capacities"].shape != (3,):
        raise broken("its history settings are malformed")
    snapshot_keys = [f"snapshot_{spec.name}" for spec in fields(MetricSnapshot)]
    present = [key for key in snapshot_keys if key in arrays]
    if present:
        if len(present) != len(snapshot_keys):
            lacking = sorted(set(snapshot_keys) - set(present))
            raise broken(f"its recorded snapshots lack {', '.join(lacking)}")
        count = len(arrays["snapshot_step"])
        if any(arrays[key].shape[:1] != (count,) for key in snapshot_keys):
            raise broken("its recorded snapshots have fields of different lengths")
        if any(arrays[key].dtype.kind not in "biufc" for key in snapshot_keys):
            raise broken("its recorded snapshots hold non-numeric values")
    try:
        return MetricHistory.from_arrays(arrays)
    except (KeyError, IndexError, TypeError, ValueError) as error:
        raise broken(f"its recorded history cannot be read ({_short(error)})") from None


def _text(array: np.ndarray) -> str:
    return str(array.item()) if array.shape == () and array.dtype.kind == "U" else ""


def _short(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    return text if len(text) <= 120 else text[:117] + "..."


def history_from_record(losses: tuple[np.ndarray, np.ndarray], snapshots: list) -> MetricHistory:
    """A MetricHistory holding these loss samples and snapshots (e.g. the window's record),
    large enough to keep every snapshot given."""
    history = MetricHistory(snapshot_capacity=max(300, len(snapshots)))
    steps, values = losses
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    history.add_losses(steps[finite], values[finite])
    for snapshot in snapshots:
        history.add_snapshot(snapshot)
    return history
