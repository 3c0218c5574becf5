"""Atomic file writes: write a temporary file beside the target, then rename over it.

A reader (or a crash) never sees a half-written file: ``os.replace`` is atomic on the
same file system.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def _mode_for_new_files() -> int:
    """The permissions an ordinary new file gets under this process's umask (0o666 & ~umask).

    Temporary files are created private (0o600); the finished file is given these instead,
    so an exported picture or run is as readable as any file the user saves.
    """
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


NEW_FILE_MODE = _mode_for_new_files()


def temporary_file_beside(path: Path, suffix: str = ".tmp") -> Path:
    """An empty file in ``path``'s folder, with ordinary permissions, to be renamed over it."""
    handle, name = tempfile.mkstemp(prefix=f".{Path(path).stem}.", suffix=suffix,
                                    dir=Path(path).parent)
    os.close(handle)
    os.chmod(name, NEW_FILE_MODE)
    return Path(name)


def write_atomic(path: Path, write: Callable[[BinaryIO], None]) -> None:
    """Call ``write(handle)`` on a temporary file in ``path``'s folder, then rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = temporary_file_beside(path)
    try:
        with open(temporary, "wb") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_atomic(path, lambda stream: stream.write(text.encode("utf-8")))


def write_bytes_atomic(path: Path, data: bytes) -> None:
    write_atomic(path, lambda stream: stream.write(data))
