"""Recorded runs for the robustness tests, and the ways a user's copy of one can be
damaged, mixed with another run, or replaced by something foreign."""

from __future__ import annotations

import hashlib
import io
import pickle
import random
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

SMALL = ["--set", "group=C5", "--set", "width=6", "--set", "seed=1", "--quiet",
         "--checkpoint-every", "3"]
PAYLOAD_MARKER = "payload-ran"


def record_run(folder: Path, *extra: str, steps: int = 12) -> Path:
    """A finished run recorded by ``train`` (C5, width 6 unless ``extra`` changes it)."""
    from backend.cli import main

    assert main(["train", *SMALL, *extra, "--steps", str(steps), "--out", str(folder)]) == 0
    return folder


def tree_digest(root: Path) -> dict[str, str]:
    """Every file and folder under ``root`` -> a digest of its content (to prove nothing
    the user had was changed, created or removed)."""
    digest = {}
    for path in sorted(Path(root).rglob("*")):
        key = str(path.relative_to(root))
        digest[key] = "folder" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


def assert_one_clean_refusal(status: int, error: str, pattern: str) -> str:
    """Exit status 2, no traceback, exactly one ``error:`` line, matching ``pattern``;
    returns that line."""
    assert status == 2, error
    assert "Traceback" not in error
    lines = [line for line in error.splitlines() if line.startswith("error: ")]
    assert len(lines) == 1, error
    assert re.search(pattern, lines[0]), lines[0]
    return lines[0]


def noise(size: int, seed: int = 0) -> bytes:
    return random.Random(seed).randbytes(size)


def members_of(path: Path) -> dict[str, np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def rewrite(path: Path, change: Callable[[dict], None]) -> None:
    members = members_of(path)
    change(members)
    buffer = io.BytesIO()
    np.savez(buffer, **members)
    path.write_bytes(buffer.getvalue())


def truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


class Payload:
    """A pickle that would create a marker file when unpickled (it must never run)."""

    def __init__(self, folder: Path) -> None:
        self.target = str(folder / PAYLOAD_MARKER)

    def __reduce__(self):
        return (Path.touch, (Path(self.target),))


def legacy_checkpoint(run: Path, content) -> None:
    """Replace the checkpoint by a PyTorch file ``checkpoint.pt`` holding ``content``
    (bytes are written as they are)."""
    import torch

    (run / "checkpoint.npz").unlink()
    target = run / "checkpoint.pt"
    if isinstance(content, bytes):
        target.write_bytes(content)
    else:
        torch.save(content, target)


def _legacy_valid_bytes(run: Path) -> bytes:
    import torch

    from backend.run_directory import RunDirectory

    buffer = io.BytesIO()
    torch.save(RunDirectory.read(run).state, buffer)
    return buffer.getvalue()


def _nan_weights(members: dict) -> None:
    theta = members["state/theta"].copy()
    theta[0, 0, 0] = np.nan
    members["state/theta"] = theta


def _set_config_key(run: Path, line: str) -> None:
    text = (run / "config.toml").read_text()
    key = line.split("=")[0].strip()
    lines = [row for row in text.splitlines() if not row.startswith(f"{key} =")]
    (run / "config.toml").write_text("\n".join([*lines, line]) + "\n")


def _unordered_losses(members: dict) -> None:
    members["loss_steps"] = members["loss_steps"][::-1].copy()


# name -> (damage(run, spares), pattern the message must match)
# spares: {"other_group": run of C7, "other_width": run of C5 at width 8}
DAMAGES: dict[str, tuple[Callable[[Path, dict], None], str]] = {
    "checkpoint truncated": (lambda r, s: truncate(r / "checkpoint.npz"), "truncated|damaged"),
    "checkpoint random bytes": (lambda r, s: (r / "checkpoint.npz").write_bytes(noise(3000)),
                                "not a NumPy archive"),
    "checkpoint empty": (lambda r, s: (r / "checkpoint.npz").write_bytes(b""),
                         "not a NumPy archive"),
    "checkpoint foreign archive": (
        lambda r, s: np.savez(r / "checkpoint.npz", weights=np.ones(3)),
        "not an Irrep Studio checkpoint"),
    "checkpoint of another group": (
        lambda r, s: shutil.copy(s["other_group"] / "checkpoint.npz", r / "checkpoint.npz"),
        "mixes two runs"),
    "checkpoint of another width": (
        lambda r, s: shutil.copy(s["other_width"] / "checkpoint.npz", r / "checkpoint.npz"),
        "mixes two runs"),
    "checkpoint from a newer version": (
        lambda r, s: rewrite(r / "checkpoint.npz", lambda m: m.update(version=np.array(99))),
        "newer Irrep Studio"),
    "checkpoint without weights member": (
        lambda r, s: rewrite(r / "checkpoint.npz", lambda m: m.pop("state")),
        "missing or is not text"),
    "checkpoint with null weights": (
        lambda r, s: rewrite(r / "checkpoint.npz", lambda m: m.update(state=np.array("null"))),
        "holds no weights"),
    "checkpoint with NaN weights": (
        lambda r, s: rewrite(r / "checkpoint.npz", _nan_weights), "NaN"),
    "checkpoint weights of another shape": (
        lambda r, s: rewrite(r / "checkpoint.npz", lambda m: m.update(
            {"state/theta": np.zeros((3, 7, 6), np.float32)})), "belong to another run"),
    "checkpoint lost an array": (
        lambda r, s: rewrite(r / "checkpoint.npz", lambda m: m.pop("state/theta")),
        "weights are incomplete"),
    "legacy checkpoint truncated": (
        lambda r, s: legacy_checkpoint(r, _legacy_valid_bytes(r)[:700]), "cannot be read"),
    "legacy checkpoint random bytes": (
        lambda r, s: legacy_checkpoint(r, noise(2000, 1)), "cannot be read"),
    "legacy checkpoint pickle payload": (
        lambda r, s: legacy_checkpoint(r, pickle.dumps(Payload(r))), "cannot be read"),
    "legacy checkpoint of a plain list": (
        lambda r, s: legacy_checkpoint(r, np.ones(3).tolist()),
        "does not hold a saved trainer"),
    "history truncated": (lambda r, s: truncate(r / "history.npz"), "truncated|damaged"),
    "history random bytes": (lambda r, s: (r / "history.npz").write_bytes(noise(3000, 2)),
                             "not a NumPy archive"),
    "history empty": (lambda r, s: (r / "history.npz").write_bytes(b""), "not a NumPy archive"),
    "history of another group": (
        lambda r, s: shutil.copy(s["other_group"] / "history.npz", r / "history.npz"),
        "describes another run"),
    "history of another width": (
        lambda r, s: shutil.copy(s["other_width"] / "history.npz", r / "history.npz"),
        "describes another run"),
    "history without loss steps": (
        lambda r, s: rewrite(r / "history.npz", lambda m: m.pop("loss_steps")),
        "lacks loss_steps"),
    "history steps out of order": (
        lambda r, s: rewrite(r / "history.npz", _unordered_losses), "out of order"),
    "config binary": (lambda r, s: (r / "config.toml").write_bytes(noise(500, 3)),
                      "binary|not UTF-8"),
    "config not TOML": (lambda r, s: (r / "config.toml").write_text("width = = 3\n"),
                        "not valid TOML"),
    "config with an unknown key": (lambda r, s: _set_config_key(r, "colour = 1"),
                                   "unknown key 'colour'"),
    "config of another group": (lambda r, s: _set_config_key(r, 'group = "C7"'),
                                "mixes two runs"),
    "config missing": (lambda r, s: (r / "config.toml").unlink(),
                       "not a run directory|not an Irrep Studio"),
}
