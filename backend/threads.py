"""The one thread policy of every training driver (window, CLI, sweeps, notebooks).

Two facts measured on a shared two-core machine set it:

- OpenMP threads that spin while they wait for work steal the core of whatever else
  runs: two spinning threads trained C11 at 306 steps/s against 10,246 on one thread
  beside other people's processes. So the OpenMP runtime waits passively
  (``OMP_WAIT_POLICY=PASSIVE``, set by ``backend/__init__.py`` before PyTorch loads,
  unless the user chose otherwise);
- which thread count is fastest depends on the size of the step and on the load of the
  moment, which no rule known in advance captures. So the count is *measured*:
  ``ThreadTuner`` times the training on each candidate count (1, 2, 4, ... up to the
  cores this process may use) for a short while, keeps the fastest, and measures again
  every ``HOLD_SECONDS`` in case the load changed. The step's results are the same bits
  for every thread count (the CPU kernels reduce in a fixed order), so tuning never
  changes a run.

``IRREP_STUDIO_THREADS=N`` in the environment (or ``threads=N`` given to a driver) fixes
the count and turns the tuning off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

ENVIRONMENT_VARIABLE = "IRREP_STUDIO_THREADS"
PROBE_SECONDS = 0.15
"""Training time spent on each candidate count when measuring."""
HOLD_SECONDS = 8.0
"""Training time on the chosen count before measuring again."""


def usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def requested_threads(threads: int | None = None) -> int | None:
    """The fixed thread count asked for (``threads``, else the environment), or None."""
    if threads is not None:
        return max(1, int(threads))
    text = os.environ.get(ENVIRONMENT_VARIABLE, "").strip()
    if not text:
        return None
    try:
        return max(1, int(text))
    except ValueError:
        from backend.errors import UserError

        raise UserError(f"{ENVIRONMENT_VARIABLE}={text!r} must be a whole number of threads "
                        "(or unset, to let the program choose)") from None


def candidate_counts(cores: int) -> list[int]:
    """1, 2, 4, ... and ``cores`` itself."""
    counts = [1]
    while counts[-1] * 2 < cores:
        counts.append(counts[-1] * 2)
    if cores > 1:
        counts.append(cores)
    return counts


def set_threads(count: int) -> None:
    """PyTorch's (and the kernels') thread count for the calling thread."""
    import torch

    if torch.get_num_threads() != count:
        torch.set_num_threads(count)


def apply_thread_policy(threads: int | None = None) -> int:
    """Set the starting thread count of the calling thread and return it: the fixed
    count when one is requested, else one thread (the tuner tries more once training
    has started)."""
    count = requested_threads(threads) or 1
    set_threads(count)
    return count


@contextmanager
def thread_policy(threads: int | None = None) -> Iterator[int]:
    """``apply_thread_policy`` for the calling thread while the block runs, its previous
    count restored after: for work that is not training and has no tuner (the AGF
    simulation, whose small products ran 1.6x slower on two threads than on one: a5-agf
    with drops by the optimiser 31.5 s against 20.0 s)."""
    import torch

    previous = torch.get_num_threads()
    try:
        yield apply_thread_policy(threads)
    finally:
        set_threads(previous)


class ThreadTuner:
    """Keeps the fastest thread count; ``note`` each timed chunk of plain steps."""

    def __init__(self, threads: int | None = None, cores: int | None = None) -> None:
        fixed = requested_threads(threads)
        self.counts = [fixed] if fixed else candidate_counts(cores or usable_cores())
        self.current = self.counts[0]
        self._rates: dict[int, float] = {}
        self._probing = len(self.counts) > 1
        self._index = 0
        self._spent = 0.0  # seconds of training on the current count in this phase
        self._steps = 0

    @property
    def tuning(self) -> bool:
        return len(self.counts) > 1

    def note(self, count: int, seconds: float) -> int:
        """``count`` steps took ``seconds`` on the current thread count; returns the
        count to train on next (and sets it)."""
        if not self.tuning or count <= 0:
            return self.current
        self._spent += seconds
        self._steps += count
        if self._probing:
            if self._spent >= PROBE_SECONDS:
                self._rates[self.current] = self._steps / max(self._spent, 1e-9)
                self._index += 1
                if self._index < len(self.counts):
                    self._switch(self.counts[self._index])
                else:
                    self._probing = False
                    self._switch(max(self._rates, key=self._rates.__getitem__))
        elif self._spent >= HOLD_SECONDS:
            self._probing, self._index = True, 0
            self._rates.clear()
            self._switch(self.counts[0])
        return self.current

    def _switch(self, count: int) -> None:
        self.current = count
        self._spent, self._steps = 0.0, 0
        set_threads(count)
