"""Training speed against the thread count and the machine's load, and window against CLI.

    python benchmarks/bench_threads.py [--preset NAME] [--steps N] [--seconds S]
                                       [--device cpu|cuda] [--skip-window]

Prints, measured in one run, steps/s of a LiveSession advanced in chunks of about 8 ms
without snapshots (on a tree without one: the Trainer stepped in calls of about 8 ms):

- on 1 and on 2 threads and with the thread policy (``backend.threads``: every driver's
  choice, measured while training; on an older tree, PyTorch's default), each idle and
  beside one busy loop (``python3 -c "while True: pass"``, started before and ended by
  its PID after);
- the ``train`` command and the window's training worker on the same configuration and
  step count (idle), each in a fresh process, as a user starts them.

Every figure comes from a fresh process (the OpenMP runtime's settings are read when it
loads), and each keeps the best of ``--repeat`` interleaved rounds, so a load that comes
and goes on a shared machine favours none of them. The targets: 2 threads ≥ 1 thread, busy
≥ 0.5 × idle (with the policy), window ≈ CLI.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

RAW_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import backend  # first: the process-wide settings, as main.py has them
import torch
from backend.presets import load_preset
threads = {threads!r}
config = load_preset({preset!r}).replace(device={device!r})
try:
    from backend.live_session import LiveSession
except ImportError:  # an older tree: the Trainer in calls of about 8 ms, plain torch threads
    LiveSession = None
if LiveSession is not None:
    session = LiveSession(config, threads=None if threads == "policy" else int(threads),
                          chunk_seconds=0.008, snapshots=False)
    session.train_to(10)
    start, started = session.step_count, time.perf_counter()
    while time.perf_counter() - started < {seconds!r}:
        session.advance(session.pacer.chunk)
    print((session.step_count - start) / (time.perf_counter() - started), session.threads)
    raise SystemExit
from backend.training.trainer import Trainer
if threads != "policy":
    torch.set_num_threads(int(threads))
trainer = Trainer(config)
trainer.step(5)
started = time.perf_counter(); trainer.step(5)
per_call = max(1, round(0.008 * 5 / (time.perf_counter() - started)))
count, started = 0, time.perf_counter()
while time.perf_counter() - started < {seconds!r}:
    trainer.step(per_call); count += per_call
print(count / (time.perf_counter() - started), torch.get_num_threads())
"""

WINDOW_CHILD = """
import sys, time
sys.path.insert(0, {root!r})
import backend
from PyQt6.QtCore import QCoreApplication, QTimer
from backend.presets import load_preset
from gui.training_worker import TrainingWorker
from gui.worker_commands import Reset, Step
application = QCoreApplication([])
worker = TrainingWorker()
config = load_preset({preset!r}).replace(device={device!r})
marks = {{}}

def report(r):
    worker.acknowledge_report()
    if "start" not in marks:
        marks["start"] = time.perf_counter()
        worker.send(Step({steps}))
    elif int(r.snapshot.step) >= {steps} and not r.running:
        marks["end"] = time.perf_counter()
        application.quit()

worker.report_ready.connect(report)
worker.start()
worker.send(Reset(config=config))
QTimer.singleShot(600_000, application.quit)
application.exec()
worker.shutdown(2000)
print({steps} / (marks["end"] - marks["start"]))
"""


def raw_rate(preset: str, threads: int | str, seconds: float, device: str) -> tuple[float, int]:
    code = RAW_CHILD.format(root=str(ROOT), threads=threads, preset=preset, seconds=seconds,
                            device=device)
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=False)
    if result.returncode != 0:
        raise SystemExit(f"a measuring process failed:\n{result.stderr[-2000:]}")
    rate, used = result.stdout.split()[-2:]
    return float(rate), int(used)


def cli_rate(preset: str, steps: int, device: str) -> float:
    command = [sys.executable, str(ROOT / "main.py"), "train", "--preset", preset,
               "--steps", str(steps), "--quiet", "--set", f"device={device}"]
    result = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, check=False)
    match = re.search(r"\(([\d,.]+) steps/s\)", result.stdout)
    if result.returncode != 0 or match is None:
        raise SystemExit(f"train failed:\n{result.stdout[-1000:]}{result.stderr[-2000:]}")
    return float(match.group(1).replace(",", ""))


def window_rate(preset: str, steps: int, device: str) -> float:
    code = WINDOW_CHILD.format(root=str(ROOT), preset=preset, steps=steps, device=device)
    environment = {**os.environ, "QT_QPA_PLATFORM": "offscreen"}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                            cwd=ROOT, check=False, env=environment)
    if result.returncode != 0:
        raise SystemExit(f"the window's worker failed:\n{result.stderr[-2000:]}")
    return float(result.stdout.split()[-1])


@contextlib.contextmanager
def busy_loop(active: bool):
    """One process keeping a core busy (ended by its PID) while ``active``."""
    if not active:
        yield
        return
    loop = subprocess.Popen([sys.executable, "-c", "while True: pass"])
    try:
        time.sleep(0.3)
        yield
    finally:
        loop.kill()
        loop.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="c11-agf")
    parser.add_argument("--steps", type=int, default=4000,
                        help="steps of the window-against-CLI runs")
    parser.add_argument("--seconds", type=float, default=2.0, help="per thread measurement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip-window", action="store_true")
    args = parser.parse_args()

    print(f"{args.preset} on {args.device}; {os.cpu_count()} cores; load average "
          f"{os.getloadavg()[0]:.2f} at the start; best of {args.repeat}")
    table: dict[tuple[str, str], tuple[float, int]] = {}
    drivers: dict[str, float] = {}
    for _ in range(args.repeat):  # interleaved rounds, the best of each cell kept
        for load in ("idle", "busy"):
            with busy_loop(load == "busy"):
                for threads in (1, 2, "policy"):
                    result = raw_rate(args.preset, threads, args.seconds, args.device)
                    if result[0] > table.get((load, str(threads)), (0.0, 0))[0]:
                        table[load, str(threads)] = result
        if not args.skip_window:
            for name, measure in (("train", cli_rate), ("window", window_rate)):
                drivers[name] = max(drivers.get(name, 0.0),
                                    measure(args.preset, args.steps, args.device))
    print(f"\n{'steps/s':>10} {'1 thread':>10} {'2 threads':>10} {'policy':>14}")
    for load in ("idle", "busy"):
        policy_rate, policy_threads = table[load, "policy"]
        print(f"{load:>10} {table[load, '1'][0]:>10.0f} {table[load, '2'][0]:>10.0f} "
              f"{policy_rate:>8.0f} ({policy_threads} t)")
    idle_best = max(table["idle", t][0] for t in ("1", "2", "policy"))
    print(f"\n2 threads / 1 thread, idle: {table['idle', '2'][0] / table['idle', '1'][0]:.2f}; "
          f"busy: {table['busy', '2'][0] / table['busy', '1'][0]:.2f}")
    print(f"policy busy / best idle: {table['busy', 'policy'][0] / idle_best:.2f} "
          "(target >= 0.5)")
    if not args.skip_window:
        cli, window = drivers["train"], drivers["window"]
        print(f"\n{args.steps} steps, idle: train {cli:.0f} steps/s, window's worker "
              f"{window:.0f} steps/s; train / window {cli / window:.2f}")


if __name__ == "__main__":
    main()
