"""`kill -9` during saves: every directory left behind is consistent and resumes to the
run that was never interrupted (a few trials here; tests/kill_during_save.py runs more)."""

import sys

import pytest

from tests.kill_during_save import kill_trials


@pytest.mark.skipif(sys.platform == "win32", reason="needs fork and SIGKILL")
def test_kills_at_random_moments_leave_consistent_resumable_directories(tmp_path):
    tally = kill_trials(tmp_path, kills=6, seed=3, steps=30)
    assert tally.problems == []
    assert tally.kills == tally.consistent == tally.equal_after_resume == 6
