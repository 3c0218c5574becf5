"""Atomic writes: the finished file replaces the old one whole, with ordinary permissions."""

import os
import stat

import pytest

from backend.atomic_files import NEW_FILE_MODE, write_atomic, write_text_atomic


def test_finished_file_has_the_permissions_of_an_ordinary_new_file(tmp_path):
    target = tmp_path / "summary.json"
    write_text_atomic(target, "{}")
    assert stat.S_IMODE(target.stat().st_mode) == NEW_FILE_MODE
    assert NEW_FILE_MODE & stat.S_IRUSR and NEW_FILE_MODE & stat.S_IWUSR


def test_a_failed_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "run.npz"
    target.write_text("old")

    def failing(stream):
        stream.write(b"half")
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError):
        write_atomic(target, failing)
    assert target.read_text() == "old"
    assert os.listdir(tmp_path) == ["run.npz"]
