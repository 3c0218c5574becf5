"""Two lanes for the all-pairs training step on the CPU.

A step with more than one block of pairs splits its blocks into two runs ("lanes"), each
summing its own part of the gradient; the parts are then added in a fixed order. Inside
``parallel_lanes`` the two lanes run at once, each on half of PyTorch's threads: small
blocks gain little from a second thread inside each product, but much from a second
block at the same time. Elsewhere they run one after the other. The split does not
depend on the thread count, so neither does the result.

The thread count is halved for the whole of ``parallel_lanes`` rather than around each
step: OpenMP's idle threads keep spinning for a while after every parallel region, and
a region on all threads between two steps would leave them competing with the lanes.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import TypeVar

import torch

LANES = 2
"""Runs of blocks per all-pairs step (when there are at least that many blocks)."""

Result = TypeVar("Result")

_state = threading.local()  # .share: threads per lane while parallel_lanes is active
_executor: ThreadPoolExecutor | None = None


@contextmanager
def parallel_lanes(active: bool = True) -> Iterator[None]:
    """Run the lanes of the steps taken inside at once (when ``active`` and PyTorch has
    two or more threads), each lane on half of the threads; restores the count after."""
    threads = torch.get_num_threads()
    if not active or threads < 2 or getattr(_state, "share", None):
        yield
        return
    share = threads // 2
    torch.set_num_threads(share)
    _state.share = share
    try:
        yield
    finally:
        _state.share = None
        torch.set_num_threads(threads)  # also the count that threads started later take


def run_in_lanes(
    first: Callable[[], Result], second: Callable[[], Result]
) -> tuple[Result, Result]:
    """(first(), second()): at once inside ``parallel_lanes``, one after the other
    otherwise. Both have finished when this returns or raises."""
    share = getattr(_state, "share", None)
    if not share:
        return first(), second()
    pending = _lane_executor().submit(_with_threads, share, second)
    try:
        first_result = first()
    finally:
        second_result = pending.result()
    return first_result, second_result


def _with_threads(threads: int, job: Callable[[], Result]) -> Result:
    """job() with this thread's PyTorch thread count set to ``threads``."""
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return job()


def _lane_executor() -> ThreadPoolExecutor:
    """The one thread that runs second lanes, started on first use."""
    global _executor
    if _executor is None:
        _executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="step-lane")
    return _executor
