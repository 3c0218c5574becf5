"""One run of a sweep, wherever Ray places it: train, record, hand every file back.

The worker writes nothing: the run directory's files come back as bytes in a plain
dictionary, and the driver writes them (no shared file system between the nodes).
A run that raises is reported as failed with its message; a run whose loss diverges is
reported as diverged; neither stops the sweep.
"""

from __future__ import annotations

import json
import math
import time
import traceback

import numpy as np

from backend.config import RunConfig
from backend.recording import MetricHistory
from backend.run_directory import RunDirectory, trainer_summary

AGF_CHECKPOINTS = 400
"""Evenly spaced steps at which a compute = 'agf' run measures each orbit's explained power."""
AGF_FILE = "agf.json"


def execute_run(config_values: dict, compute: str, threads: int) -> dict:
    """Train the run of ``config_values`` on ``threads`` torch threads; return
    ``{"status", "message", "wall_seconds", "files": {name: bytes}, "summary", "agf"}``
    with status ``done``, ``diverged`` or ``failed``."""
    start = time.perf_counter()
    try:
        config = RunConfig.from_dict(config_values)
        observer = AgfObserver() if compute == "agf" else None
        trainer, history = train_run(config, observer, threads=max(int(threads), 1))
        wall = time.perf_counter() - start
        files, summary = run_files(config, trainer, history, wall)
        agf = None
        if observer is not None:
            agf = observer.comparison(config, trainer)
            files[AGF_FILE] = (json.dumps(agf, indent=2, ensure_ascii=False) + "\n").encode()
        return {
            "status": "diverged" if trainer.divergence else "done",
            "message": trainer.divergence or "",
            "wall_seconds": time.perf_counter() - start,
            "files": files,
            "summary": summary,
            "agf": agf,
        }
    except Exception as error:  # noqa: BLE001 - every failure is a result of the sweep
        last = traceback.extract_tb(error.__traceback__)[-1:] or [None]
        where = f" (at {last[0].filename.rsplit('/', 1)[-1]}:{last[0].lineno})" if last[0] else ""
        return {
            "status": "failed",
            "message": f"{type(error).__name__}: {error}{where}".replace("\n", " "),
            "wall_seconds": time.perf_counter() - start,
            "files": {},
            "summary": None,
            "agf": None,
        }


def train_run(config: RunConfig, observer: AgfObserver | None = None,
              threads: int | None = None):
    """Train ``config`` for ``config.steps`` steps in a LiveSession (snapshots on the
    schedule every driver uses); ``observer.observe(trainer)`` runs at its own steps.
    Returns (trainer, history)."""
    from backend.live_session import LiveSession

    session = LiveSession(config, threads=threads)
    session.snapshot()  # the run as it starts, as `train` records it
    total = int(config.steps)
    if observer is None:
        session.train_to(total)
    else:
        observer.observe(session.trainer)
        for stop in observer.stops(total)[1:]:
            session.train_to(int(stop), lambda progress: observer.record_losses(
                progress.chunk.steps, progress.chunk.losses))
            if session.trainer.divergence is not None:
                break
            observer.observe(session.trainer)
    session.snapshot()
    return session.trainer, session.history


def run_files(config: RunConfig, trainer, history: MetricHistory, wall: float
              ) -> tuple[dict[str, bytes], dict]:
    """The files of a run directory (as ``train --out`` writes them) and the summary."""
    snapshot = history.latest
    summary = trainer_summary(trainer, snapshot,
                              steps_per_second=trainer.step_count / wall if wall > 0 else 0.0,
                              wall_seconds=wall)
    state = {**trainer.state_dict(), "wall_seconds": wall}
    files = RunDirectory.commit_files(config, state, history, summary)
    return files, summary


class AgfObserver:
    """Records what the AGF comparison needs while the run trains: the loss of every step
    and, at AGF_CHECKPOINTS steps, each orbit's explained fraction
    1 − mean_pairs P_O(y − f) / P_O(t) (as backend.agf.comparison defines it)."""

    def __init__(self) -> None:
        self.steps: list[np.ndarray] = []
        self.losses: list[np.ndarray] = []
        self.checkpoints: list[int] = []
        self.explained: list[np.ndarray] = []

    @staticmethod
    def stops(total: int) -> np.ndarray:
        return np.unique(np.linspace(0, total, AGF_CHECKPOINTS + 1).round().astype(np.int64))

    def record_losses(self, steps: np.ndarray, losses: np.ndarray) -> None:
        self.steps.append(np.asarray(steps))
        self.losses.append(np.asarray(losses))

    def observe(self, trainer) -> None:
        if self.checkpoints and self.checkpoints[-1] == trainer.step_count:
            return
        from backend.agf.comparison import orbit_explained

        self.checkpoints.append(trainer.step_count)
        self.explained.append(orbit_explained(trainer))

    def comparison(self, config: RunConfig, trainer) -> dict:
        """Predicted (closed form) against measured: orders, steps, levels, agreement."""
        from backend.agf.comparison import (
            GradientDescentRun,
            compare,
            measured_drops,
            order_matches,
        )
        from backend.agf.theory import predict_staircase

        orbits = trainer.irreps.orbits
        run = GradientDescentRun(
            steps=np.concatenate(self.steps) if self.steps else np.zeros(0),
            losses=np.concatenate(self.losses) if self.losses else np.zeros(0),
            checkpoint_steps=np.asarray(self.checkpoints, dtype=np.float64),
            explained=np.asarray(self.explained),
            orbit_labels=[orbit.label for orbit in orbits],
            orbit_dims=[int(orbit.dim) for orbit in orbits],
            template_power=np.asarray(trainer.task.template_power, dtype=np.float64),
            seconds=0.0,
        )
        predicted = predict_staircase(config)
        measured = measured_drops(run)
        rows = compare(predicted, measured)
        errors = [row.level_error for row in rows if math.isfinite(row.level_error)]
        within = [drop.label for drop in predicted if drop.step <= config.steps]
        learned = [drop.orbit for drop in measured]
        common = set(within) & set(learned)
        return {
            "predicted_order": [drop.label for drop in predicted],
            "measured_order": [drop.orbit for drop in measured],
            "order_matches": bool(order_matches(predicted, measured)),
            "all_learned_in_order": [d.label for d in predicted] == learned,
            "predicted_within_steps": within,
            "same_orbits_learned": set(within) == set(learned),
            "common_order_matches": bool(common) and (
                [label for label in within if label in common]
                == [label for label in learned if label in common]),
            "predicted_steps": [_finite(drop.step) for drop in predicted],
            "measured_steps": [_finite(drop.step) for drop in measured],
            "predicted_levels": [_finite(drop.level) for drop in predicted],
            "measured_levels": [_finite(drop.level) for drop in measured],
            "mean_level_error": float(np.mean(errors)) if errors else None,
        }


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


