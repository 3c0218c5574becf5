"""Run directories: one folder per recorded run, consistent at every instant.

A run directory holds

- ``config.toml``: the configuration (written when the run starts);
- ``history.npz``: the recorded history (``MetricHistory.to_arrays``, plus
  ``setting_changes``: the keys changed on resume, as JSON text);
- ``summary.json``: the final figures (only once the run has finished);
- ``checkpoint.npz``: the commit point. A state archive (``backend.trainer_state``) of
  kind ``irrep-studio-checkpoint`` holding the configuration, the trainer state (with the
  run's wall time) and ``commit``, a JSON record: the committed ``step``, the ``reach`` of
  the history written with it, whether a summary was written, and the setting changes.

Every file is written atomically, and a save writes them in one order: the history, the
summary (or removes a summary that the new checkpoint would make stale), the
configuration, and the checkpoint last. So whenever the process stops — ``kill -9``
included — the checkpoint describes the last complete save, and any other file is either
of that same step or ahead of it. Reading a run checks this (``RunDirectory.read``):

- a history that reaches past the checkpoint is cut back to it (training is
  deterministic, so resuming recomputes the same records), a summary of another step is
  dropped, a ``config.toml`` that differs from the committed configuration only in keys
  a resume may change is put back, and temporary files of an interrupted write are
  removed; ``repair`` writes these fixes, with a note for each;
- a history that stops before the checkpoint (a hole), a configuration that describes
  another run, a missing checkpoint or history, and weights or records of the wrong shape
  are refused with a message that says how to go on.

``--overwrite`` removes the old run's files, the checkpoint first, before writing
anything. ``checkpoint.pt`` (the PyTorch checkpoint of earlier versions) is still read,
with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from backend.atomic_files import write_bytes_atomic
from backend.config import RESUMABLE_KEYS, RunConfig
from backend.errors import UserError
from backend.file_reading import (
    check_writable_folder,
    os_reason,
    read_npz_members,
    read_torch_file,
    write_failure,
)
from backend.metrics import MetricSnapshot
from backend.recording import MetricHistory
from backend.run_checks import check_run, history_from_arrays, restore_trainer
from backend.trainer_state import (
    StateFormatError,
    archive_members,
    read_archive,
    text_member,
)

CHECKPOINT_FORMAT = "irrep-studio-checkpoint"
CHECKPOINT_VERSION = 1
SETTING_CHANGES = "setting_changes"


class RunDirectoryError(UserError):
    """A run directory that cannot be written or read."""


@dataclass
class SavedRun:
    """What ``RunDirectory.read`` found: the committed run and what needs repair.

    ``config`` is the committed configuration (config.toml when nothing is committed),
    ``state`` the trainer state (None without a checkpoint), ``history`` the history cut
    back to the checkpoint (None without history.npz). ``notes`` say what ``repair``
    fixes; ``hole`` describes a history that stops before the checkpoint."""

    path: Path
    config: RunConfig
    state: dict | None
    history: MetricHistory | None
    step: int | None = None
    changes: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    hole: str | None = None
    history_cut: bool = False
    stale_summary: bool = False
    config_differs: bool = False
    legacy_checkpoint: bool = False
    temporary_files: list[Path] = field(default_factory=list)


def build_summary(
    snapshot: MetricSnapshot,
    orbit_labels: list[str] | tuple[str, ...],
    orbit_dims: np.ndarray,
    *,
    steps_per_second: float,
    wall_seconds: float,
    orbit_indicators: np.ndarray | None = None,
    step_path: str = "dense",
) -> dict:
    """The final figures of a run, under the keys scripts rely on. With the orbits'
    indicators, quaternionic orbits count under ``quaternionic_rank_one_fraction`` (rank
    one over ℍ, σ₃/σ₁ < 0.1) instead of ``rank_one_fraction``. ``sampled_pairs``: the
    pairs behind the accuracy, 0 for every pair; ``step_path``: dense or exact."""
    return {
        "steps": int(snapshot.step),
        "loss": float(snapshot.loss),
        "train_accuracy": float(snapshot.train_accuracy),
        "test_accuracy": None if snapshot.test_accuracy is None else float(snapshot.test_accuracy),
        "sampled_pairs": int(snapshot.sampled_pairs),
        "mean_sparsity": snapshot.mean_sparsity,
        "mean_alignment": snapshot.mean_alignment,
        "rank_one_fraction": snapshot.rank_one_fraction(orbit_dims, orbit_indicators),
        "quaternionic_rank_one_fraction": (
            {} if orbit_indicators is None
            else snapshot.quaternionic_rank_one_fraction(orbit_dims, orbit_indicators)),
        "orbit_counts": {
            label: int(count)
            for label, count in zip(orbit_labels, snapshot.orbit_counts, strict=True)
        },
        "steps_per_second": float(steps_per_second),
        "wall_seconds": float(wall_seconds),
        "step_path": str(step_path),
    }


def trainer_summary(trainer, snapshot: MetricSnapshot, *, steps_per_second: float,
                    wall_seconds: float) -> dict:
    """``build_summary`` of a trainer's snapshot, with the trainer's orbit labels,
    dimensions, indicators and step path: the one summary of ``train`` and a sweep run."""
    spectral = trainer.spectral
    return build_summary(
        snapshot,
        spectral.labels,
        spectral.orbit_dims,
        steps_per_second=steps_per_second,
        wall_seconds=wall_seconds,
        orbit_indicators=spectral.orbit_indicators,
        step_path=trainer.step_path,
    )


def history_reach(history: MetricHistory) -> int:
    """The step a history has recorded up to: one past its last loss (the loss of step s
    is known once step s is taken) or its last snapshot, whichever is later."""
    reach = 0
    if len(history.losses):
        reach = int(history.losses.steps[-1]) + 1
    if len(history.scalars):
        reach = max(reach, int(history.scalars.steps[-1]))
    if history.latest is not None:
        reach = max(reach, int(history.latest.step))
    return reach


def history_cut_to(history: MetricHistory, step: int) -> MetricHistory:
    """The history as it was when the run stood at ``step``: losses of earlier steps,
    snapshots and accuracies up to ``step``."""
    arrays = history.to_arrays()
    keep = arrays["loss_steps"] < step
    arrays["loss_steps"], arrays["loss_values"] = (arrays["loss_steps"][keep],
                                                   arrays["loss_values"][keep])
    keep = arrays["accuracy_steps"] < step
    arrays["accuracy_steps"], arrays["accuracy_values"] = (arrays["accuracy_steps"][keep],
                                                           arrays["accuracy_values"][keep])
    keep = arrays["scalar_steps"] <= step
    arrays["scalar_steps"], arrays["scalar_values"] = (arrays["scalar_steps"][keep],
                                                       arrays["scalar_values"][keep])
    if "snapshot_step" in arrays:
        keep = arrays["snapshot_step"] <= step
        for key in [k for k in arrays if k.startswith("snapshot_")]:
            arrays[key] = arrays[key][keep]
        if not keep.any():
            arrays = {k: v for k, v in arrays.items() if not k.startswith("snapshot_")}
    return MetricHistory.from_arrays(arrays)


def _differing_keys(first: RunConfig, second: RunConfig) -> list[str]:
    a, b = first.to_dict(), second.to_dict()
    return [key for key in a if a[key] != b[key]]


class RunDirectory:
    """A folder holding one run (see the module docstring)."""

    CONFIG = "config.toml"
    HISTORY = "history.npz"
    CHECKPOINT = "checkpoint.npz"
    LEGACY_CHECKPOINT = "checkpoint.pt"
    SUMMARY = "summary.json"
    RUN_FILES = (CHECKPOINT, LEGACY_CHECKPOINT, SUMMARY, HISTORY, CONFIG)
    """Removed in this order by --overwrite: the checkpoint first."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.created = False

    # ================================================================= preparing
    def holds_a_run(self) -> bool:
        return any((self.path / name).exists()
                   for name in (self.CONFIG, self.CHECKPOINT, self.LEGACY_CHECKPOINT))

    def prepare(self, *, overwrite: bool = False) -> None:
        """Create the folder (or check an existing one can be written), refusing to mix
        with an existing run unless ``overwrite``, which removes the old run's files
        (checkpoint first) before anything new is written."""
        if self.path.exists() and not self.path.is_dir():
            raise RunDirectoryError(f"{self.path} is a file; give a folder for the run")
        if self.path.is_dir():
            if self.holds_a_run() and not overwrite:
                raise RunDirectoryError(
                    f"{self.path} already holds a run; choose another folder, add --overwrite "
                    f"to replace it, or continue it with --resume {self.path}"
                )
            check_writable_folder(self.path, "run")
            if overwrite:
                self.remove_run_files()
            return
        try:
            self.path.mkdir(parents=True)
        except OSError as error:
            raise RunDirectoryError(
                f"cannot create the run folder {self.path}: {os_reason(error)}; choose a folder "
                "you can write to"
            ) from None
        self.created = True

    def remove_run_files(self) -> None:
        """Remove the run's own files (checkpoint first) and leftover temporary files;
        other files in the folder are left alone."""
        for name in self.RUN_FILES:
            self._remove(self.path / name)
        for temporary in self.temporary_files():
            self._remove(temporary)

    def discard_if_unused(self) -> None:
        """Remove the folder ``prepare`` created when nothing was written into it."""
        if self.created:
            try:
                self.path.rmdir()
            except OSError:
                pass
            self.created = False

    def temporary_files(self) -> list[Path]:
        """Temporary files left by interrupted writes of this run's files."""
        if not self.path.is_dir():
            return []
        stems = {Path(name).stem for name in self.RUN_FILES}
        found = []
        for entry in self.path.iterdir():
            name = entry.name
            if name.startswith(".") and name.endswith(".tmp") and entry.is_file() and \
                    name[1:].split(".", 1)[0] in stems:
                found.append(entry)
        return sorted(found)

    def _remove(self, path: Path) -> None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass
        except OSError as error:
            raise RunDirectoryError(
                f"cannot remove {path}: {os_reason(error)}; check the folder's permissions"
            ) from None

    # ================================================================= writing
    def write_config(self, config: RunConfig) -> None:
        self._write_text(self.path / self.CONFIG, config.to_toml_text())

    @staticmethod
    def commit_files(config: RunConfig, state: dict, history: MetricHistory,
                     summary: dict | None = None, changes: list[dict] | None = None
                     ) -> dict[str, bytes]:
        """The files of a save, name -> bytes, in the order they must be written: the
        history, the summary (when given), the configuration and the checkpoint last.
        (A driver that writes a run elsewhere, such as a sweep, writes these in order.)"""
        changes = list(changes or [])
        arrays = dict(history.to_arrays())
        arrays[SETTING_CHANGES] = np.array(json.dumps(changes))
        buffer = io.BytesIO()
        np.savez_compressed(buffer, **arrays)
        files = {RunDirectory.HISTORY: buffer.getvalue()}
        if summary is not None:
            files[RunDirectory.SUMMARY] = (json.dumps(summary, indent=2) + "\n").encode()
        files[RunDirectory.CONFIG] = config.to_toml_text().encode()
        record = {"step": int(state["step_count"]), "reach": history_reach(history),
                  "summary": summary is not None, "setting_changes": changes}
        members = archive_members(CHECKPOINT_FORMAT, CHECKPOINT_VERSION, config, state)
        members["commit"] = np.array(json.dumps(record))
        buffer = io.BytesIO()
        np.savez(buffer, **members)
        files[RunDirectory.CHECKPOINT] = buffer.getvalue()
        return files

    def commit(self, config: RunConfig, state: dict, history: MetricHistory,
               summary: dict | None = None, changes: list[dict] | None = None) -> None:
        """Save the run at the state's step: history, summary, configuration, then the
        checkpoint, which commits them (see the module docstring)."""
        files = self.commit_files(config, state, history, summary, changes)
        for name, data in files.items():
            if name == self.CHECKPOINT and summary is None:
                self._remove(self.path / self.SUMMARY)  # stale once the checkpoint lands
            path = self.path / name
            if name == self.CONFIG and path.is_file() and \
                    _sha256(path) == hashlib.sha256(data).hexdigest():
                continue
            self._write_bytes(path, data)
        self._remove(self.path / self.LEGACY_CHECKPOINT)

    def write_summary(self, summary: dict) -> None:
        self._write_text(self.path / self.SUMMARY, json.dumps(summary, indent=2) + "\n")

    def _write_bytes(self, path: Path, data: bytes) -> None:
        try:
            write_bytes_atomic(path, data)
        except OSError as error:
            raise RunDirectoryError(
                write_failure(path, error) + "; the last saved checkpoint is kept") from None

    def _write_text(self, path: Path, text: str) -> None:
        self._write_bytes(path, text.encode("utf-8"))

    # ================================================================= reading
    @staticmethod
    def read(path: str | Path) -> SavedRun:
        """The committed run of a directory, checked; nothing is written (see ``repair``)."""
        directory = RunDirectory(path)
        folder = directory.path
        if not folder.exists():
            raise RunDirectoryError(
                f"{folder} does not exist; give the folder of a run recorded with "
                "`train --out DIR`")
        if not folder.is_dir():
            raise RunDirectoryError(f"{folder} is a file, not a run directory; give the folder "
                                    "passed to --out")
        config_path = folder / RunDirectory.CONFIG
        if not config_path.exists():
            raise RunDirectoryError(
                f"{folder} is not a run directory (it has no {RunDirectory.CONFIG}); give the "
                "folder passed to --out")
        fix = "restore the run's own file, or record the run again"
        config = RunConfig.from_toml(config_path)
        state, committed, record, legacy = directory._read_checkpoint(fix)
        saved = SavedRun(path=folder, config=committed or config, state=state, history=None,
                         legacy_checkpoint=legacy,
                         temporary_files=directory.temporary_files())
        if saved.temporary_files:
            saved.notes.append(f"removed {len(saved.temporary_files)} temporary file(s) left "
                               "by an interrupted save")
        if committed is not None:
            differing = _differing_keys(config, committed)
            foreign = [key for key in differing if key not in RESUMABLE_KEYS]
            if foreign:
                key = foreign[0]
                raise RunDirectoryError(
                    f"{config_path} does not describe the weights in {directory.checkpoint_path()}"
                    f" ({key} = {getattr(config, key)!r} there, {getattr(committed, key)!r} in "
                    f"the checkpoint): the folder mixes two runs; start a new run with "
                    f"--overwrite, or put the run's own {RunDirectory.CONFIG} back")
            if differing:
                saved.config_differs = True
                saved.notes.append(
                    f"{RunDirectory.CONFIG} differed from the saved run in "
                    f"{', '.join(differing)}; the saved values are kept (a change that was not "
                    "saved yet is lost: give it again with --set)")
        if state is not None:
            saved.step = int(state.get("step_count", 0)) if isinstance(state, dict) else None
        if record is not None:
            saved.changes = list(record.get("setting_changes") or [])
        history_path = folder / RunDirectory.HISTORY
        if history_path.exists():
            members = read_npz_members(history_path, "recorded history", fix)
            saved.history = history_from_arrays(members, str(history_path))
            if not saved.changes:
                saved.changes = _changes_of(members)
        check_run(saved.config, state, saved.history, str(folder))
        if saved.step is not None and saved.history is not None:
            reach = history_reach(saved.history)
            committed_reach = record.get("reach") if record is not None else None
            if reach > (committed_reach if isinstance(committed_reach, int) else saved.step):
                saved.history = history_cut_to(saved.history, saved.step)
                saved.history_cut = True
                saved.notes.append(
                    f"the history reached step {reach}, past the checkpoint of step "
                    f"{saved.step} (the last save was interrupted); it was cut back to step "
                    f"{saved.step}, and resuming records the rest again")
            elif reach < saved.step - 1 and saved.step > 0:
                saved.hole = (
                    f"{history_path} stops at step {reach} but the checkpoint is at step "
                    f"{saved.step}: the loss record would have a gap")
        saved.stale_summary = directory._summary_is_stale(saved.step)
        if saved.stale_summary:
            saved.notes.append(f"{RunDirectory.SUMMARY} did not describe the saved step "
                               f"{saved.step}; it was removed and is written when the run ends")
        return saved

    def checkpoint_path(self) -> Path:
        if (self.path / self.CHECKPOINT).exists() or \
                not (self.path / self.LEGACY_CHECKPOINT).exists():
            return self.path / self.CHECKPOINT
        return self.path / self.LEGACY_CHECKPOINT

    def _read_checkpoint(self, fix: str):
        """(state, committed configuration, commit record, legacy?) of the checkpoint;
        all None when there is none."""
        path = self.path / self.CHECKPOINT
        if path.exists():
            members = read_npz_members(path, "checkpoint", fix)
            try:
                _, config, state = read_archive(members, CHECKPOINT_FORMAT, CHECKPOINT_VERSION,
                                                str(path))
                record = json.loads(text_member(members, "commit") or "null")
            except StateFormatError as error:
                raise RunDirectoryError(f"the checkpoint {path} cannot be used: {error}; "
                                        f"{fix}") from None
            except (json.JSONDecodeError, RecursionError):
                record = None
            if state is None:
                raise RunDirectoryError(f"the checkpoint {path} holds no weights; {fix}")
            return state, config, record if isinstance(record, dict) else None, False
        legacy = self.path / self.LEGACY_CHECKPOINT
        if legacy.exists():
            state = read_torch_file(legacy, "checkpoint", fix)
            if not isinstance(state, dict) or not isinstance(state.get("config"), dict):
                raise RunDirectoryError(f"the checkpoint {legacy} does not hold a saved "
                                        f"trainer; {fix}")
            try:
                config = RunConfig.from_dict(state["config"], source=f"{legacy} (config)")
            except UserError as error:
                raise RunDirectoryError(f"the checkpoint {legacy} cannot be used: {error}; "
                                        f"{fix}") from None
            return state, config, None, True
        return None, None, None, False

    def _summary_is_stale(self, step: int | None) -> bool:
        path = self.path / self.SUMMARY
        if not path.exists():
            return False
        try:
            summary = json.loads(path.read_text(encoding="utf-8"))
            return step is None or not isinstance(summary, dict) or summary.get("steps") != step
        except (OSError, ValueError, RecursionError):
            return True

    def repair(self, saved: SavedRun) -> None:
        """Write the fixes ``read`` noted (checkpoint untouched); the folder must be
        writable."""
        check_writable_folder(self.path, "run")
        for temporary in saved.temporary_files:
            self._remove(temporary)
        if saved.stale_summary:
            self._remove(self.path / self.SUMMARY)
        if saved.history_cut and saved.history is not None:
            arrays = dict(saved.history.to_arrays())
            arrays[SETTING_CHANGES] = np.array(json.dumps(saved.changes))
            buffer = io.BytesIO()
            np.savez_compressed(buffer, **arrays)
            self._write_bytes(self.path / self.HISTORY, buffer.getvalue())
        if saved.config_differs:
            self.write_config(saved.config)

    @staticmethod
    def load(path: str | Path) -> tuple[RunConfig, dict | None, MetricHistory]:
        """(configuration, trainer state or None, history) of a saved run, checked and cut
        back to its checkpoint, without writing anything."""
        saved = RunDirectory.read(path)
        history = saved.history if saved.history is not None else MetricHistory()
        return saved.config, saved.state, history


def _changes_of(members: dict[str, np.ndarray]) -> list[dict]:
    text = text_member(members, SETTING_CHANGES)
    try:
        changes = json.loads(text) if text else []
    except (json.JSONDecodeError, RecursionError):
        return []
    return [c for c in changes if isinstance(c, dict)] if isinstance(changes, list) else []


def _sha256(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def load_trainer(path: str | Path):
    """A Trainer restored from a run directory (continuing exactly), and its history."""
    saved = RunDirectory.read(path)
    trainer = restore_trainer(saved.config, saved.state, str(saved.path))
    history = saved.history if saved.history is not None else MetricHistory()
    return trainer, history


def describe_change(change: dict[str, Any]) -> str:
    return (f"step {change.get('step')}: {change.get('key')} {change.get('from')!r} → "
            f"{change.get('to')!r}")

