"""The two lanes of the all-pairs step: where they run, and what they leave behind."""

import threading

import pytest
import torch

from backend.training.lanes import parallel_lanes, run_in_lanes


def thread_and_count():
    return threading.current_thread().name, torch.get_num_threads()


def test_lanes_run_one_after_the_other_outside_parallel_lanes(two_threads):
    first, second = run_in_lanes(thread_and_count, thread_and_count)
    here = threading.current_thread().name
    assert first == second == (here, 2)


def test_parallel_lanes_split_the_threads_and_restore_them(two_threads):
    with parallel_lanes():
        first, second = run_in_lanes(thread_and_count, thread_and_count)
    assert first == (threading.current_thread().name, 1)
    assert second[0].startswith("step-lane") and second[1] == 1
    assert torch.get_num_threads() == 2


def test_inactive_or_single_thread_lanes_change_nothing(two_threads):
    with parallel_lanes(active=False):
        assert run_in_lanes(thread_and_count, thread_and_count)[1][1] == 2
    torch.set_num_threads(1)
    with parallel_lanes():
        assert run_in_lanes(thread_and_count, thread_and_count)[1] == (
            threading.current_thread().name, 1)


def test_a_failing_lane_waits_for_the_other_and_restores_the_threads(two_threads):
    finished = threading.Event()

    def slow():
        finished.wait(0.05)
        finished.set()
        return 1

    def failing():
        raise RuntimeError("lane failed")

    with pytest.raises(RuntimeError, match="lane failed"):
        with parallel_lanes():
            run_in_lanes(failing, slow)
    assert finished.is_set()
    assert torch.get_num_threads() == 2
