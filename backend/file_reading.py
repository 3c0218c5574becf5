"""The one place where reading a user's file can fail: every failure becomes a UserError.

Each reader names the file, says what is wrong with it (missing, a folder, unreadable,
not text, damaged, of another kind) and how to go on. Nothing here imports torch at
module level, so commands that only read text stay quick to start.

- ``read_text``: a UTF-8 text file (a binary or Latin-1 file is refused by name);
- ``read_npz_members``: every member of a NumPy ``.npz`` archive, without pickle;
- ``read_torch_file``: a PyTorch file, read with ``weights_only=True`` (never code);
- ``check_writable_folder`` / ``write_failure``: a folder that will be written into, and
  the sentence for a write that failed midway.
"""

from __future__ import annotations

import errno
import os
import zipfile
import zlib
from pathlib import Path

from backend.errors import UserError


class FileReadError(UserError):
    """A file that cannot be read as what it should be; the message names the fix."""


class FolderWriteError(UserError):
    """A folder that cannot be written into; the message names the fix."""


def _short(error: BaseException) -> str:
    text = str(error).splitlines()[0] if str(error) else type(error).__name__
    return text if len(text) <= 100 else text[:97] + "..."


def os_reason(error: OSError) -> str:
    """A few words for an operating-system error (no errno numbers, no Python names)."""
    if error.errno in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if error.errno == errno.ENOSPC:
        return "the disk is full"
    if error.errno == errno.EROFS:
        return "the file system is read-only"
    if error.errno == errno.EISDIR:
        return "it is a folder"
    if error.errno == errno.ENOENT:
        return "it does not exist"
    return error.strerror or _short(error)


def check_readable_file(path: Path, what: str, fix: str) -> Path:
    """``path`` as a Path when it is a file that exists; FileReadError otherwise."""
    path = Path(path)
    if not path.exists():
        raise FileReadError(f"the {what} {path} does not exist; {fix}")
    if path.is_dir():
        raise FileReadError(f"the {what} {path} is a folder, not a file; {fix}")
    return path


MAX_TEXT_BYTES = 64 * 1024**2
"""Largest text file read (a Cayley table of order 1000 takes about 5 MB)."""


def read_bytes(path: str | Path, what: str, fix: str, max_bytes: int | None = None) -> bytes:
    """The bytes of a file; FileReadError for a missing, folder, unreadable or (with
    ``max_bytes``) too large file."""
    path = check_readable_file(Path(path), what, fix)
    try:
        if max_bytes is not None and path.stat().st_size > max_bytes:
            raise FileReadError(
                f"the {what} {path} is {path.stat().st_size / 1024**2:.0f} MB, more than any "
                f"{what} needs ({max_bytes // 1024**2} MB at most); {fix}")
        return path.read_bytes()
    except OSError as error:
        raise FileReadError(f"cannot read the {what} {path}: {os_reason(error)}; {fix}") from None


def read_text(path: str | Path, what: str, fix: str) -> str:
    """The UTF-8 text of a file (a leading byte-order mark is dropped).

    A file holding NUL bytes or bytes that are not UTF-8 is refused: it is binary, or a
    text file saved in another encoding."""
    path = Path(path)
    data = read_bytes(path, what, fix, MAX_TEXT_BYTES)
    if b"\x00" in data:
        raise FileReadError(
            f"the {what} {path} is a binary file, not text; {fix}"
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileReadError(
            f"the {what} {path} is not UTF-8 text (byte {error.start + 1} cannot be read); "
            f"save it as UTF-8, or {fix}"
        ) from None
    return text.removeprefix("\ufeff")


def read_npz_members(path: str | Path, what: str, fix: str) -> dict:
    """Every member of a ``.npz`` archive as a NumPy array (pickle refused).

    A file that is not a zip archive, a truncated or corrupted one, or one whose members
    are not plain arrays gives a FileReadError naming the file."""
    import numpy as np

    path = check_readable_file(Path(path), what, fix)
    try:
        if not zipfile.is_zipfile(path):
            raise FileReadError(
                f"the {what} {path} is not a NumPy archive (or it is truncated, e.g. by an "
                f"interrupted copy); {fix}"
            )
        with np.load(path, allow_pickle=False) as archive:
            return {key: archive[key] for key in archive.files}
    except FileReadError:
        raise
    except OSError as error:
        raise FileReadError(f"cannot read the {what} {path}: {os_reason(error)}; {fix}") from None
    except MemoryError:
        raise FileReadError(f"the {what} {path} unpacks to more than the memory available; "
                            f"{fix}") from None
    except (ValueError, EOFError, KeyError, RuntimeError, zipfile.BadZipFile, zlib.error,
            NotImplementedError) as error:
        raise FileReadError(
            f"the {what} {path} is damaged ({_short(error)}); {fix}"
        ) from None


def read_torch_file(path: str | Path, what: str, fix: str):
    """The object in a PyTorch file, loaded with ``weights_only=True`` (tensors and plain
    containers only: a file that would run code is refused, never executed)."""
    import pickle
    import warnings

    import torch

    path = check_readable_file(Path(path), what, fix)
    try:
        with warnings.catch_warnings():  # torch's notes on foreign pickles are not for users
            warnings.simplefilter("ignore")
            return torch.load(path, map_location="cpu", weights_only=True)
    except OSError as error:
        if error.errno is not None:
            raise FileReadError(
                f"cannot read the {what} {path}: {os_reason(error)}; {fix}"
            ) from None
        reason = "it is truncated or damaged"
    except pickle.UnpicklingError:
        reason = "it is damaged or holds something other than saved weights"
    except (RuntimeError, EOFError, ValueError, TypeError, AttributeError, KeyError,
            IndexError, UnicodeDecodeError, zipfile.BadZipFile, MemoryError,
            OverflowError):
        reason = "it is truncated or damaged"
    raise FileReadError(f"the {what} {path} cannot be read: {reason}; {fix}") from None


def check_writable_folder(folder: str | Path, what: str) -> Path:
    """``folder`` when it exists and can be written into; FolderWriteError otherwise."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FolderWriteError(
            f"cannot write the {what}: the folder {folder} does not exist; create it first or "
            "choose another folder"
        )
    if not os.access(folder, os.W_OK | os.X_OK):
        raise FolderWriteError(
            f"cannot write the {what} into {folder}: the folder is not writable; choose a "
            "folder you can write to (or copy the files there first)"
        )
    return folder


def check_writable_file(path: str | Path, what: str) -> Path:
    """``path`` when it names no folder and its folder exists and can be written into;
    FolderWriteError otherwise (checked before any work)."""
    path = Path(path)
    if path.is_dir():
        raise FolderWriteError(f"{path} is a folder; give a file name for the {what}")
    check_writable_folder(path.parent if str(path.parent) else Path("."), f"{what} {path}")
    return path


def write_failure(path: str | Path, error: OSError) -> str:
    """A sentence for a write that failed midway."""
    if error.errno == errno.ENOSPC:
        fix = "free some space or choose another drive"
    elif error.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        fix = "choose a folder you can write to"
    else:
        fix = "check the folder and try again"
    return f"could not write {path}: {os_reason(error)}; {fix}"
