"""Output files of an export: check the target first, write beside it, then rename.

Every export writes to a temporary file in the target's own folder and renames it over
the target only when everything succeeded, so a full disk, an error or a cancel never
leaves a partial file (and never damages an older file of the same name).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

from backend.atomic_files import temporary_file_beside
from backend.errors import UserError
from backend.session_file import SessionFileError, check_writable_file, write_failure_message


class ExportError(UserError):
    """An export that cannot be made; the message names the problem and the fix."""


class ExportCancelled(Exception):
    """The user cancelled an export; nothing was written."""


def check_output_path(path: str | Path, suffixes: Sequence[str], what: str) -> Path:
    """The target as a Path, after checking its suffix and that its folder is writable."""
    path = Path(path).expanduser()
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        choices = ", ".join(suffixes)
        raise ExportError(
            f"cannot tell which {what} to write from the name {path.name!r}; end the file "
            f"name with one of {choices}"
        )
    try:
        check_writable_file(path, what)
    except SessionFileError as error:
        raise ExportError(str(error)) from None
    return path


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path (same folder, same suffix) to write; rename it over ``path``
    when the block succeeds, delete it on any failure or cancel.

    An OSError inside the block (a full disk, a vanished folder) becomes an ExportError
    that says what happened.
    """
    path = Path(path)
    temporary = _new_temporary(path)
    try:
        yield temporary
        os.replace(temporary, path)
    except OSError as error:
        _remove(temporary)
        raise ExportError(write_failure_message(path, error)) from None
    except BaseException:
        _remove(temporary)
        raise


@contextlib.contextmanager
def atomic_outputs(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Like ``atomic_output`` for files that belong together: all of them appear, or none."""
    with contextlib.ExitStack() as stack:
        temporaries = [stack.enter_context(_temporary_only(Path(p))) for p in paths]
        yield temporaries
        placed: list[Path] = []
        try:
            for temporary, path in zip(temporaries, paths, strict=True):
                os.replace(temporary, path)
                placed.append(Path(path))
        except OSError as error:
            for path in placed:
                _remove(path)
            raise ExportError(write_failure_message(Path(paths[0]), error)) from None


@contextlib.contextmanager
def _temporary_only(path: Path) -> Iterator[Path]:
    temporary = _new_temporary(path)
    try:
        yield temporary
    except OSError as error:
        raise ExportError(write_failure_message(path, error)) from None
    finally:
        _remove(temporary)


def _new_temporary(path: Path) -> Path:
    """An empty temporary file beside ``path`` with the same suffix (encoders read it)."""
    try:
        return temporary_file_beside(path, suffix=f".part{path.suffix}")
    except OSError as error:
        raise ExportError(write_failure_message(path, error)) from None


def _remove(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
