"""The sweep directory on disk.

    DIR/sweep.toml          the sweep file as given
    DIR/results.csv         one row per run (backend.sweeps.table), rewritten atomically
    DIR/results.json        the same records, read back when the sweep resumes
    DIR/runs/<run-id>/      a run directory as ``train --out`` writes it

Only the driver writes here: the workers hand their files back as bytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from backend.atomic_files import write_bytes_atomic, write_text_atomic
from backend.errors import UserError
from backend.file_reading import read_text
from backend.sweeps.spec import SweepSpec

SWEEP_FILE = "sweep.toml"
RUNS = "runs"


class SweepDirectoryError(UserError):
    """A sweep directory that cannot be used."""


class SweepDirectory:
    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def runs(self) -> Path:
        return self.path / RUNS

    def run_path(self, run_id: str) -> Path:
        return self.runs / run_id

    def prepare(self, spec: SweepSpec) -> bool:
        """Create the folder (or accept the same sweep in it) and check it is writable.
        Returns True when the folder already held this sweep (a resume)."""
        if self.path.exists() and not self.path.is_dir():
            raise SweepDirectoryError(f"--out {self.path} is a file; give a folder for the sweep")
        existing = self.path / SWEEP_FILE
        resuming = existing.is_file()
        if resuming and not spec.same_sweep_as(read_text(
                existing, "sweep file", "give another --out folder for this sweep")):
            raise SweepDirectoryError(
                f"{self.path} holds a different sweep (its {SWEEP_FILE} differs from this "
                "one); give another --out folder, or the same sweep file to resume it"
            )
        if not resuming and self.path.is_dir() and any(self.path.iterdir()):
            raise SweepDirectoryError(
                f"{self.path} is not empty and holds no sweep; give a new or empty --out folder"
            )
        try:
            self.runs.mkdir(parents=True, exist_ok=True)
            probe = self.path / f".write-test-{os.getpid()}"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as error:
            raise SweepDirectoryError(
                f"cannot write in {self.path}: {error.strerror}; give a folder you can write to"
            ) from None
        if not resuming:
            write_text_atomic(existing, spec.text)
        return resuming

    def write_run(self, run_id: str, files: dict[str, bytes]) -> Path:
        """Write a run's files (each atomically) into runs/<run_id>/."""
        folder = self.run_path(run_id)
        folder.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            write_bytes_atomic(folder / Path(name).name, data)
        return folder
