"""The static facts about a run that every panel needs besides the snapshot.

Built once per trainer (in the worker thread) from the backend, then handed to the window
as plain data: orbit labels and dimensions, element names, the width, the AGF prediction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class RunContext:
    """Group and model facts that do not change while a run trains."""

    config: Any
    group_name: str
    element_names: tuple[str, ...]
    orbit_labels: tuple[str, ...]
    orbit_dims: np.ndarray  # (K,) dimension of each member irrep
    orbit_trivial: np.ndarray  # (K,) bool
    width: int
    device: str
    abelian: bool = True
    orbit_indicators: np.ndarray | None = None  # (K,) Frobenius–Schur indicator per orbit
    predicted_drops: tuple = ()
    prediction_note: str = ""
    orbit_power: Callable[[np.ndarray], np.ndarray] | None = field(default=None, repr=False)
    cayley_table: np.ndarray | None = field(default=None, repr=False)  # (n, n) products
    answer_edges: np.ndarray | None = field(default=None, repr=False)  # rows of the answers
    held_out: np.ndarray | None = field(default=None, repr=False)  # (R, R) held-out share
    recorded_history: Any = field(default=None, repr=False)  # a reopened run's MetricHistory
    template_power: np.ndarray | None = None  # (K,) P_O(t) of the template per orbit

    @property
    def order(self) -> int:
        return len(self.element_names)

    @property
    def num_orbits(self) -> int:
        return len(self.orbit_labels)

    def short_orbit_labels(self, limit: int = 12) -> list[str]:
        """Orbit labels without their parenthesised notes, cut to ``limit`` characters."""
        short = [label.split(" (")[0] for label in self.orbit_labels]
        return [label if len(label) <= limit else label[: limit - 1] + "…" for label in short]


def context_from_trainer(trainer: Any) -> RunContext:
    """Collect the static facts of ``trainer`` (a backend Trainer) into a RunContext."""
    from backend.answers import block_edges, held_out_table

    irreps = trainer.irreps
    orbits = irreps.orbits
    n = int(trainer.group.order)
    task = getattr(trainer, "task", None)
    test_pairs = task.test_pairs if task is not None else np.zeros(0, dtype=np.int64)
    predicted, note = _predicted_drops(trainer.config)
    return RunContext(
        config=trainer.config,
        group_name=str(trainer.group.name),
        element_names=tuple(str(name) for name in trainer.group.element_names),
        orbit_labels=tuple(str(orbit.label) for orbit in orbits),
        orbit_dims=np.array([int(orbit.dim) for orbit in orbits], dtype=np.int64),
        orbit_trivial=np.array([bool(orbit.is_trivial) for orbit in orbits], dtype=bool),
        orbit_indicators=np.array([int(orbit.indicator) for orbit in orbits], dtype=np.int64),
        width=int(trainer.config.width),
        device=str(trainer.device) + (f" · {trainer.step_path_label}"
                                      if hasattr(trainer, "step_path_label") else ""),
        abelian=bool(trainer.group.is_abelian),
        predicted_drops=tuple(predicted),
        prediction_note=note,
        orbit_power=trainer.fourier.orbit_power,
        cayley_table=np.asarray(trainer.group.table),
        answer_edges=block_edges(n),
        held_out=held_out_table(test_pairs, n),
        template_power=(np.asarray(task.template_power, dtype=np.float64)
                        if task is not None else None),
    )


def _predicted_drops(config: Any) -> tuple[list, str]:
    """The closed-form AGF staircase for ``config``, or an empty list and the reason."""
    try:
        from backend.agf.theory import predict_staircase
    except ImportError:
        return [], "The AGF prediction is not available in this installation."
    try:
        predicted = list(predict_staircase(config))
    except ValueError as error:  # UserError and ConfigError are ValueErrors
        return [], str(error)
    from backend.agf.regime import regime_report

    note = regime_report(config).closed_form_note()
    return predicted, f"{note}; Simulate AGF says why." if note else ""
