"""Session files: one file holding a run's configuration, weights and recorded history.

A session file is a NumPy ``.npz`` archive (a zip of ``.npy`` arrays, readable without
pickle), a state archive of kind ``irrep-studio-session`` (``backend.trainer_state``, the
same writer and reader as a run directory's checkpoint and the snapshot's state export):

- ``format``: the marker ``"irrep-studio-session"``; ``version``: the format version;
- ``config``: the RunConfig as TOML text;
- ``state``: the Trainer state (``Trainer.state_dict``) as a JSON tree whose tensors and
  arrays are stored beside it as ``state/<path>`` (so weights come back bit for bit), or
  ``null`` for a session without weights;
- ``history/<name>``: the arrays of ``MetricHistory.to_arrays``.

Saving is atomic (a temporary file in the target folder, then a rename), so a failure
never leaves a partial file. Loading checks every member, and that weights and history
belong to the configuration's group and width (``backend.run_checks``), and says in words
what is wrong with a truncated, corrupted or foreign file.
"""

from __future__ import annotations

import errno
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from backend.atomic_files import write_atomic
from backend.config import RunConfig
from backend.errors import UserError
from backend.file_reading import FolderWriteError, read_npz_members
from backend.file_reading import check_writable_file as check_target
from backend.recording import MetricHistory
from backend.run_checks import check_run, history_from_arrays
from backend.run_directory import RunDirectory
from backend.trainer_state import StateFormatError, archive_members, read_archive, text_member

FORMAT_MARKER = "irrep-studio-session"
FORMAT_VERSION = 1
SESSION_SUFFIX = ".irrep"
"""The suffix the app proposes for session files (any name is read by its content)."""

HISTORY_PREFIX = "history/"
SESSION_FIX = "use an undamaged copy, or a file saved with Save session"


class SessionFileError(UserError):
    """A session file that cannot be written or read; the message names the fix."""


@dataclass
class Session:
    """What a session file holds: the configuration, the Trainer state (or None) and the
    recorded history."""

    config: RunConfig  # noqa: F821 - backend.config.RunConfig
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
    arrays = archive_members(FORMAT_MARKER, FORMAT_VERSION, config, state)
    for key, value in history.to_arrays().items():
        arrays[HISTORY_PREFIX + key] = np.asarray(value)
    try:
        write_atomic(path, lambda stream: np.savez_compressed(stream, **arrays))
    except OSError as error:
        raise SessionFileError(write_failure_message(path, error)) from None
    return path


def check_writable_file(path: Path, what: str) -> None:
    """Refuse, before any work, a target that is a folder, or whose folder is missing or
    not writable (``file_reading.check_writable_file``, as a SessionFileError)."""
    try:
        check_target(path, what)
    except FolderWriteError as error:
        raise SessionFileError(str(error)) from None


def write_failure_message(path: Path, error: OSError) -> str:
    """A sentence for a write that failed midway (nothing was left behind)."""
    if error.errno == errno.ENOSPC:
        reason = "the disk is full; free some space or choose another drive"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        reason = "permission denied; choose a folder you can write to"
    else:
        reason = f"{error.strerror or error}; check the folder and try again"
    return f"could not write {path}: {reason}. Nothing was written."


# ============================================================================ loading
def load_session(path: str | Path) -> Session:
    """Read a session file; SessionFileError says what is wrong and how to go on."""
    path = Path(path).expanduser()
    if path.is_dir():
        raise SessionFileError(
            f"{path} is a folder, not a session file; to open a recorded run directory "
            "give the folder to `open` (or `video`) directly"
        )
    try:
        archive = zipfile.is_zipfile(path)
    except OSError:
        archive = True  # read_npz_members says why the file cannot be read
    if path.is_file() and not archive:
        raise SessionFileError(
            f"{path} is not an Irrep Studio session: it is not a session archive at all, or "
            "it is truncated (an interrupted copy or download); use the original file"
        )
    members = read_npz_members(path, "session file", SESSION_FIX)
    return _session_from_members(path, members)


def is_session_file(path: str | Path) -> bool:
    """True when ``path`` is a readable archive that carries the session marker."""
    path = Path(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as archive:
            return "format" in archive.files and \
                text_member({"format": archive["format"]}, "format") == FORMAT_MARKER
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
    if text_member(members, "format") != FORMAT_MARKER:
        raise SessionFileError(
            f"{path} is a NumPy archive but not an Irrep Studio session (it has no session "
            "marker); open a file saved with Save session, or a run directory"
        )
    try:
        _, config, state = read_archive(members, FORMAT_MARKER, FORMAT_VERSION, str(path))
    except StateFormatError as error:
        raise SessionFileError(f"{path} is not a usable session file: {error}") from None
    arrays = {
        key[len(HISTORY_PREFIX):]: value
        for key, value in members.items()
        if key.startswith(HISTORY_PREFIX)
    }
    history = history_from_arrays(arrays, str(path))
    check_run(config, state, history, str(path))
    return Session(config=config, state=state, history=history)


def history_from_record(
    losses: tuple[np.ndarray, np.ndarray],
    snapshots: list,
    accuracies: tuple[np.ndarray, np.ndarray] | None = None,
) -> MetricHistory:
    """A MetricHistory holding these loss samples, per-step training accuracies (when
    given) and snapshots (e.g. the window's record), large enough to keep every snapshot
    given."""
    history = MetricHistory(snapshot_capacity=max(300, len(snapshots)))
    steps, values = losses
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    history.add_losses(steps[finite], values[finite])
    if accuracies is not None:
        history.add_accuracies(np.asarray(accuracies[0], dtype=np.int64),
                               np.asarray(accuracies[1], dtype=np.float64))
    for snapshot in snapshots:
        history.add_snapshot(snapshot)
    return history
