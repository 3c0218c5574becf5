"""Kill `train` with SIGKILL at random moments and check the run directory it leaves.

    .venv/bin/python tests/kill_during_save.py [--kills 36] [--seed 0] [--steps 40]

Each trial starts `train` in a forked child that saves a checkpoint after every step —
a new run, a `--resume` of a finished shorter run, or a `--overwrite` of another run —
and kills it after a random delay drawn over the child's whole running time. Then:

1. the directory must be consistent: ``RunDirectory.read`` accepts it (the checkpoint,
   the history cut back to it, the configuration and the summary describe one run at one
   step), or the folder holds no run at all;
2. the run is taken to its end (``--resume``, or a new start when nothing was saved) and
   must equal a run that was never interrupted: the same loss at every step, bit for bit,
   the same final weights, and a summary of the final step.

Prints the number of kills, of consistent directories and of runs that ended equal to the
uninterrupted one. The test suite runs a few trials (tests/backend/test_kill_during_save).
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

BASE = ["--set", "group=C5", "--set", "width=6", "--set", "seed=1", "--quiet",
        "--checkpoint-every", "1"]
OTHER_RUN = ["--set", "group=C5", "--set", "width=6", "--set", "seed=2", "--quiet"]
SCENARIOS = ("new", "resume", "overwrite")


@dataclass
class Tally:
    kills: int = 0
    consistent: int = 0
    equal_after_resume: int = 0
    by_scenario: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)


LAST_ERROR = [""]


def quiet_main(argv: list[str]) -> int:
    """backend.cli.main with its output kept aside (the last error in LAST_ERROR)."""
    import contextlib
    import io

    from backend.cli import main

    errors = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(errors):
        status = main(argv)
    LAST_ERROR[0] = errors.getvalue().strip()
    return status


def run_killed(argv: list[str], delay: float) -> bool:
    """Run ``train`` in a forked child and SIGKILL it after ``delay`` seconds; True when
    it was killed before it ended on its own."""
    pid = os.fork()
    if pid == 0:  # the child: train, then leave without any clean-up
        try:
            code = quiet_main(argv)
        except BaseException:
            code = 99
        os._exit(code)
    time.sleep(delay)
    os.kill(pid, signal.SIGKILL)
    _, status = os.waitpid(pid, 0)
    return os.WIFSIGNALED(status)


def timed(argv: list[str]) -> float:
    start = time.perf_counter()
    assert quiet_main(argv) == 0
    return time.perf_counter() - start


def check_consistent(folder: Path) -> str | None:
    """None when the folder holds one consistent run (or none); the problem otherwise."""
    from backend.errors import UserError
    from backend.run_directory import RunDirectory

    if not (folder / RunDirectory.CONFIG).exists():
        left = [p.name for p in folder.iterdir()] if folder.exists() else []
        stray = [name for name in left if not name.startswith(".")]
        return None if not stray else f"run files without config.toml: {stray}"
    try:
        saved = RunDirectory.read(folder)
    except UserError as error:
        return f"refused: {error}"
    if saved.hole:
        return saved.hole
    return None


def finish(folder: Path, total: int) -> int:
    """Take the run in ``folder`` to ``total`` steps: resume it, or start it again when
    nothing of the reference run was saved."""
    from backend.run_directory import RunDirectory

    saved = None
    if (folder / RunDirectory.CONFIG).exists():
        saved = RunDirectory.read(folder)
    if saved is None or saved.state is None or saved.state["seed"] != 1:
        return quiet_main(["train", *BASE, "--steps", str(total), "--out", str(folder),
                           "--overwrite"])
    if saved.step == total and saved.history is not None and not saved.stale_summary and \
            (folder / RunDirectory.SUMMARY).exists():
        return 0
    return quiet_main(["train", "--resume", str(folder), "--steps", str(total), "--quiet"])


def equal_to(folder: Path, reference: Path) -> str | None:
    import numpy as np
    import torch

    from backend.run_directory import RunDirectory

    got, want = RunDirectory.read(folder), RunDirectory.read(reference)
    if got.step != want.step:
        return f"ended at step {got.step}, not {want.step}"
    if not np.array_equal(got.history.losses.steps, want.history.losses.steps):
        return "the loss record has other steps (a gap or a repeat)"
    if not np.array_equal(got.history.losses.values, want.history.losses.values):
        return "the losses differ from the uninterrupted run"
    if not torch.equal(got.state["theta"], want.state["theta"]):
        return "the final weights differ from the uninterrupted run"
    if got.stale_summary or not (folder / RunDirectory.SUMMARY).exists():
        return "no summary of the final step"
    return None


def kill_trials(root: Path, kills: int, seed: int = 0, steps: int = 40) -> Tally:
    """``kills`` trials in ``root`` (see the module docstring)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # forked children must not inherit a busy thread pool
    try:
        return _trials(Path(root), kills, seed, steps)
    finally:
        torch.set_num_threads(threads)


def _trials(root: Path, kills: int, seed: int, steps: int) -> Tally:
    rng = random.Random(seed)
    reference = root / "reference"
    shutil.rmtree(reference, ignore_errors=True)
    durations = {"new": timed(["train", *BASE, "--steps", str(steps), "--out",
                               str(reference)])}
    half = root / "half"
    other = root / "other"
    for folder in (half, other):
        shutil.rmtree(folder, ignore_errors=True)
    assert quiet_main(["train", *BASE, "--steps", str(steps // 2), "--out", str(half)]) == 0
    assert quiet_main(["train", *OTHER_RUN, "--steps", str(steps), "--out", str(other)]) == 0
    probe = root / "probe"
    shutil.rmtree(probe, ignore_errors=True)
    shutil.copytree(half, probe)
    durations["resume"] = timed(["train", "--resume", str(probe), "--steps", str(steps),
                                 "--quiet"])
    durations["overwrite"] = durations["new"]
    tally = Tally(by_scenario={name: 0 for name in SCENARIOS})
    trial = 0
    while tally.kills < kills:
        trial += 1
        scenario = SCENARIOS[trial % len(SCENARIOS)]
        folder = root / f"trial-{trial}"
        shutil.rmtree(folder, ignore_errors=True)
        if scenario == "new":
            argv = ["train", *BASE, "--steps", str(steps), "--out", str(folder)]
        elif scenario == "resume":
            shutil.copytree(half, folder)
            argv = ["train", "--resume", str(folder), "--steps", str(steps), "--quiet"]
        else:
            shutil.copytree(other, folder)
            argv = ["train", *BASE, "--steps", str(steps), "--out", str(folder),
                    "--overwrite"]
        delay = rng.uniform(0.0, 1.1 * durations[scenario])
        if not run_killed(argv, delay):
            shutil.rmtree(folder, ignore_errors=True)
            continue  # it finished before the kill: not a kill, try another moment
        tally.kills += 1
        tally.by_scenario[scenario] += 1
        problem = check_consistent(folder)
        if problem is None:
            tally.consistent += 1
            status = finish(folder, steps)
            problem = f"could not finish the run: {LAST_ERROR[0]}" if status else \
                equal_to(folder, reference)
            if problem is None:
                tally.equal_after_resume += 1
        if problem is not None:
            tally.problems.append(f"{scenario} killed after {delay:.3f} s: {problem}")
        shutil.rmtree(folder, ignore_errors=True)
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kills", type=int, default=36)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=40)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        start = time.perf_counter()
        tally = kill_trials(Path(folder), args.kills, args.seed, args.steps)
    print(f"kills: {tally.kills} ({', '.join(f'{k} {v}' for k, v in tally.by_scenario.items())})")
    print(f"consistent directories: {tally.consistent} / {tally.kills}")
    print(f"runs equal to the uninterrupted one after resuming: {tally.equal_after_resume} / "
          f"{tally.kills}")
    print(f"wall time: {time.perf_counter() - start:.1f} s")
    for problem in tally.problems:
        print(f"problem: {problem}")
    return 0 if not tally.problems else 1


if __name__ == "__main__":
    sys.exit(main())
