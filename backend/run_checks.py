"""Checks that the parts of a saved run agree: configuration, weights and history.

A run is read from three kinds of file (a configuration, a trainer state, a recorded
history) that could each come from another run. Before anything is drawn or trained:

- the configuration's group must be buildable;
- the weights must have the shape (layers, group order, width) the configuration needs
  (``backend.trainer_state.check_state``);
- every recorded snapshot must describe M = width neurons on the K real orbits of the
  configuration's group (``power`` (S, 3, M, K), ``orbit_counts`` (S, K), …), with
  dominant orbits in 0..K−1, and the loss and accuracy records must be well formed.

Every failure is a RunMismatchError (a UserError) naming the file and what disagrees.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np

from backend.config import RunConfig
from backend.errors import UserError
from backend.metrics import MetricSnapshot
from backend.recording import OPTIONAL_FIELDS, MetricHistory
from backend.trainer_state import StateFormatError, check_state

HISTORY_KEYS = (
    "loss_steps", "loss_values", "scalar_steps", "scalar_values", "resolutions", "capacities",
)
SNAPSHOT_SHAPES: dict[str, tuple[str, ...]] = {
    "step": (), "loss": (), "train_accuracy": (), "test_accuracy": (),
    "power": ("3", "M", "K"), "dominant_orbit": ("M",), "sparsity": ("M",), "ipr": ("M",),
    "norms": ("3", "M"), "phases": ("3", "M"), "alignment": ("M",), "rank_one": ("3", "M"),
    "sigma_ratio": ("3", "M"), "orbit_counts": ("K",), "diversification_tv": (),
    "haar": ("K", "4"), "function_power": ("K",), "template_power": ("K",),
    "singular_overlap": ("M",), "residual_power": ("K",),
}
"""Trailing shape of each recorded snapshot field, in neurons M and real orbits K."""


class RunMismatchError(UserError):
    """Parts of a saved run that do not belong together, or a malformed record."""


def group_shape(config: RunConfig) -> tuple[int, int]:
    """(order n, number of real orbits K) of the configuration's group."""
    from backend.spectral import SpectralTools, load_group

    group = load_group(config.group)
    return group.order, len(SpectralTools.of(group).labels)


def history_from_arrays(arrays: dict[str, np.ndarray], source: str) -> MetricHistory:
    """A MetricHistory from its stored arrays, refusing malformed records by name."""

    def broken(what: str) -> RunMismatchError:
        return RunMismatchError(f"the recorded history in {source} {what}; use an undamaged "
                                "copy of the run")

    missing = [key for key in HISTORY_KEYS if key not in arrays]
    if missing:
        raise broken(f"lacks {', '.join(missing)}")
    if any(arrays[key].dtype.kind not in "biuf" for key in HISTORY_KEYS):
        raise broken("holds non-numeric values")
    loss_steps, loss_values = arrays["loss_steps"], arrays["loss_values"]
    if loss_steps.ndim != 1 or loss_values.shape != loss_steps.shape:
        raise broken("has a loss record with mismatched steps and values")
    scalar_steps, scalar_values = arrays["scalar_steps"], arrays["scalar_values"]
    if scalar_steps.ndim != 1 or scalar_values.shape != (scalar_steps.size, 3):
        raise broken("has an accuracy record with mismatched steps and values")
    if arrays["resolutions"].shape != (3,) or arrays["capacities"].shape != (3,):
        raise broken("has malformed settings")
    capacities = arrays["capacities"]
    if not (np.all(capacities >= 1) and np.all(capacities <= 10**7)):
        raise broken("has capacities out of range")
    if not np.all(np.isfinite(arrays["resolutions"])) or np.any(arrays["resolutions"] <= 0):
        raise broken("has malformed settings")
    for steps in (loss_steps, scalar_steps):
        if steps.size and (steps.min() < 0 or np.any(np.diff(steps) <= 0)):
            raise broken("has steps that are negative or out of order")
    snapshot_keys = [f"snapshot_{spec.name}" for spec in fields(MetricSnapshot)
                     if spec.name not in OPTIONAL_FIELDS or f"snapshot_{spec.name}" in arrays]
    present = [key for key in snapshot_keys if key in arrays]
    if present:
        if len(present) != len(snapshot_keys):
            lacking = sorted(set(snapshot_keys) - set(present))
            raise broken(f"has snapshots that lack {', '.join(lacking)}")
        count = arrays["snapshot_step"].shape[:1]
        if any(arrays[key].ndim < 1 or arrays[key].shape[:1] != count for key in snapshot_keys):
            raise broken("has snapshot fields of different lengths")
        if any(arrays[key].dtype.kind not in "biufc" for key in snapshot_keys):
            raise broken("has snapshots holding non-numeric values")
        steps = arrays["snapshot_step"]
        if steps.ndim != 1 or (steps.size and (steps.min() < 0 or np.any(np.diff(steps) <= 0))):
            raise broken("has snapshot steps that are negative or out of order")
    try:
        return MetricHistory.from_arrays(arrays)
    except (KeyError, IndexError, TypeError, ValueError, OverflowError) as error:
        raise broken(f"cannot be read ({str(error)[:80]})") from None


def check_history(history: MetricHistory, config: RunConfig, orbits: int, source: str) -> None:
    """RunMismatchError unless every snapshot describes ``config.width`` neurons on
    ``orbits`` real orbits (the configuration's group)."""
    sizes = {"M": config.width, "K": orbits, "3": 3, "4": 4}
    for snapshot in history.snapshots:
        for name, symbols in SNAPSHOT_SHAPES.items():
            value = getattr(snapshot, name, None)
            if not symbols or value is None:
                continue
            expected = tuple(sizes[s] for s in symbols)
            if np.shape(value) != expected:
                raise RunMismatchError(
                    f"the recorded history in {source} describes another run: its snapshot "
                    f"of step {snapshot.step} has {name} of shape {np.shape(value)}, but group "
                    f"{config.group} ({orbits} real orbits) at width {config.width} needs "
                    f"{expected}; keep each run's files together, or record it again")
        dominant = np.asarray(snapshot.dominant_orbit)
        if dominant.size and (dominant.min() < 0 or dominant.max() >= orbits):
            raise RunMismatchError(
                f"the recorded history in {source} names orbits the group {config.group} does "
                "not have; it belongs to another run")


def check_run(config: RunConfig, state: dict | None, history: MetricHistory | None,
              source: str) -> None:
    """Check weights and history against the configuration (see the module doc)."""
    order, orbits = group_shape(config)
    if state is not None:
        try:
            check_state(state, config, order)
        except StateFormatError as error:
            raise RunMismatchError(f"the weights in {source} do not fit: {error}") from None
    if history is not None:
        check_history(history, config, orbits, source)


def restore_trainer(config: RunConfig, state: dict | None, source: str):
    """A Trainer of ``config`` holding ``state``; RunMismatchError when the state cannot be
    loaded into it."""
    from backend.training.trainer import Trainer

    trainer = Trainer(config)
    if state is not None:
        try:
            trainer.load_state_dict(state)
        except UserError:
            raise
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
            raise RunMismatchError(
                f"the weights in {source} cannot be loaded ({str(error)[:80]}); they are "
                "damaged or belong to another version of the run") from None
    return trainer
