"""The commands the window sends to the training worker, and the reports it gets back.

Commands travel through a ``queue.Queue`` (a thread blocked in its training loop does not
process queued Qt slot calls); reports travel back as Qt signals carrying plain data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Start:
    """Train continuously until paused."""


@dataclass(frozen=True)
class Pause:
    """Stop training after the current chunk; a snapshot follows."""


@dataclass(frozen=True)
class Step:
    """Train exactly ``count`` optimiser steps, then pause (step implies pause)."""

    count: int = 1


@dataclass(frozen=True)
class RunToNextDrop:
    """Train until the run's loss curve shows one more drop than now, then pause; give up
    with a message after ``horizon`` steps (None: ``backend.drop_watch`` chooses)."""

    horizon: int | None = None


@dataclass(frozen=True)
class Reset:
    """Build a fresh trainer: from ``config`` when given, else re-initialise the current one.

    ``seed`` replaces the configuration's seed (None keeps it).
    """

    config: Any = None
    seed: int | None = None


@dataclass(frozen=True)
class Perturb:
    """Add noise of ``relative_scale`` to the listed neurons (None: all of them)."""

    neurons: Sequence[int] | None
    relative_scale: float
    seed: int


@dataclass(frozen=True)
class SetLearningRate:
    """Change the learning rate, also while training."""

    learning_rate: float


@dataclass(frozen=True)
class Inspect:
    """Report this neuron's functions a, b, c on G with every snapshot (None: no neuron)."""

    neuron: int | None


@dataclass(frozen=True)
class LoadState:
    """Replace the trainer by one built from ``config`` and loaded from ``state``.

    ``history`` (a backend MetricHistory, optional) travels back with the new RunContext so
    the window shows the recorded past of the run it reopened.
    """

    config: Any
    state: Any
    history: Any = None


@dataclass(frozen=True)
class Stop:
    """End the worker's loop; the thread finishes."""


@dataclass
class NeuronFunctions:
    """One neuron's effective functions a, b, c on G, each (n,)."""

    neuron: int
    functions: np.ndarray  # (3, n)
    step: int = -1  # the optimiser step they belong to


@dataclass
class WorkerReport:
    """What the worker has recorded since its previous report.

    ``snapshots`` are the snapshots the session recorded since then, in step order (its
    schedule's and the one measured on a pause, a finished step...); ``snapshot`` is the
    newest snapshot so far (the last of ``snapshots`` when there are any).
    ``loss_steps``/``loss_values`` are the (step, loss) of every step taken since then,
    ``accuracy_values`` the training accuracy of each of these steps (NaN where a step
    forms no output).
    """

    snapshot: Any
    running: bool
    steps_per_second: float
    stage: str
    device: str
    loss_steps: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    loss_values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    accuracy_values: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float64))
    neuron_functions: NeuronFunctions | None = None
    message: str = ""
    snapshots: tuple = ()
