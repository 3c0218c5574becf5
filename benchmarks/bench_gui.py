"""Benchmark of the window, printed as ratios against the targets, measured in one run.

    python benchmarks/bench_gui.py [--seconds 4] [--repeat 1] [--frame-only]
                                   [--frame-group D19] [--frame-width 2048]

1. steps/s with the window live against the same LiveSession headless, advanced in the
   same chunks as the training worker (its chunk rule and the pause between chunks)
   (target ≥ 0.9). Both choose their thread count by the thread policy
   (``backend.threads``); the ratio is also printed against headless on every core;
2. one frame with 2048 neurons over D19 (order 38, 11 orbits, nine of them of 2-dim
   irreps): a new snapshot joins the record and every visible view is updated and
   painted, replaying a recorded run frame by frame (target ≤ 16 ms); measured in the
   default layout and again with the answers view in front (``--frame-group``,
   ``--frame-width`` choose another run; ``--frame-only`` measures frames alone);
3. the worst event-loop lag while training (target ≤ 50 ms);
4. launch to a visible window (target ≤ 2 s).

The figures are noisy on a busy machine: ``--repeat`` measures several times and prints
the best and the median of each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")  # before NumPy loads, as backend does on x86-64
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PyQt6.QtCore import QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from backend.chunk_pacing import WINDOW_CHUNK_SECONDS  # noqa: E402
from backend.live_session import LiveSession  # noqa: E402
from backend.presets import DEFAULT_PRESET, load_preset  # noqa: E402
from backend.training.trainer import Trainer  # noqa: E402
from gui import theme  # noqa: E402
from gui.run_record import RunRecord  # noqa: E402
from gui.training_worker import yield_interpreter  # noqa: E402

LAUNCH_PROBE = """
import sys, time
started = float(sys.argv[1])
sys.path.insert(0, {root!r})
import PyQt6.QtWidgets as widgets
from PyQt6.QtCore import QTimer

class ProbeApplication(widgets.QApplication):
    def exec(self):
        QTimer.singleShot(0, visible)
        return super().exec()

def visible():
    for widget in widgets.QApplication.topLevelWidgets():
        if widget.objectName() == "IrrepStudio" and widget.isVisible():
            widget.repaint()
            print("visible", time.time() - started, flush=True)
            widget.close()
            widgets.QApplication.instance().quit()
            return
    QTimer.singleShot(1, visible)

widgets.QApplication = ProbeApplication
import main
sys.exit(main.main([]))
"""
FRAME_SNAPSHOTS = 24


def wait(app: QApplication, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def headless_rate(config, seconds: float, threads: int | None = None) -> float:
    """Steps per second of a LiveSession advanced exactly as the worker advances it
    (``threads``: a fixed count; None: the thread policy)."""
    session = LiveSession(config, chunk_seconds=WINDOW_CHUNK_SECONDS, threads=threads)
    start, started = session.step_count, time.perf_counter()
    while time.perf_counter() - started < seconds:
        session.advance(session.pacer.chunk)
        yield_interpreter()
    return (session.step_count - start) / (time.perf_counter() - started)


def live_rate_and_lag(app, config, seconds: float) -> tuple[float, float, int]:
    from gui.main_window import MainWindow

    window = MainWindow(config)
    window.show()
    deadline = time.perf_counter() + 60
    while window.context is None and time.perf_counter() < deadline:
        wait(app, 0.05)
    lags: list[float] = []
    last = [time.perf_counter()]

    def tick() -> None:
        now = time.perf_counter()
        lags.append(now - last[0])
        last[0] = now

    timer = QTimer()
    timer.setInterval(5)
    timer.timeout.connect(tick)
    window.start()
    wait(app, 1.0)  # warm up: the chunk size settles
    trainer = window.worker._trainer
    drawn_before = window.frames_drawn
    first_step, started = trainer.step_count, time.perf_counter()
    last[0] = time.perf_counter()
    timer.start()
    wait(app, seconds)
    timer.stop()
    rate = (trainer.step_count - first_step) / (time.perf_counter() - started)
    frames = window.frames_drawn - drawn_before
    window.close()
    worst_lag = max(lags) - 0.005 if lags else float("nan")
    return rate, worst_lag, frames


def record_for_frames(group: str = "D19", width: int = 2048) -> tuple[object, list]:
    """A run of ``width`` neurons over ``group`` and FRAME_SNAPSHOTS snapshots of its
    training."""
    config = load_preset(DEFAULT_PRESET).replace(group=group, width=width, device="cpu")
    trainer = Trainer(config)
    snapshots = [trainer.metrics()]
    losses = [trainer.recent_losses()]
    for _ in range(FRAME_SNAPSHOTS - 1):
        trainer.step(20)
        losses.append(trainer.recent_losses())
        snapshots.append(trainer.metrics())
    return config, list(zip(snapshots, losses, strict=True))


def frame_times(app, config, frames: list, in_front: str = "",
                cpu: list | None = None) -> list[float]:
    """Seconds per frame: each recorded snapshot in turn joins the window's record (as a
    live report does) and the window draws and paints it. ``in_front`` names a tabbed
    view to raise first. ``cpu`` (a list) receives the CPU seconds of the window's thread
    per frame, a figure that a busy machine disturbs less than the wall clock."""
    from gui.main_window import MainWindow

    window = MainWindow(config)
    window.resize(1600, 900)
    window.show()
    deadline = time.perf_counter() + 120
    while (window.context is None or not len(window.record)) and time.perf_counter() < deadline:
        wait(app, 0.05)
    window.select_neurons([3])
    if in_front:
        window.show_panel(in_front)
    wait(app, 0.3)
    times = []
    for repeat in range(2):
        window.record = RunRecord()
        for snapshot, (steps, losses) in frames:
            window.record.add_losses(steps, losses)
            window.record.add_snapshot(snapshot)
            started, started_cpu = time.perf_counter(), time.thread_time()
            window.draw_frame()
            if repeat:
                times.append(time.perf_counter() - started)
                if cpu is not None:
                    cpu.append(time.thread_time() - started_cpu)
            app.processEvents()
    window.close()
    return times


def launch_time() -> float:
    """Seconds from starting `python main.py` to its window being visible."""
    env = dict(os.environ)
    started = time.time()
    result = subprocess.run(
        [sys.executable, "-c", LAUNCH_PROBE.format(root=str(ROOT)), str(started)],
        capture_output=True, text=True, timeout=120, env=env, cwd=ROOT)
    for line in result.stdout.splitlines():
        if line.startswith("visible"):
            return float(line.split()[1])
    raise RuntimeError(result.stderr)


def summary(values: list[float]) -> tuple[float, float]:
    return min(values), statistics.median(values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--frame-only", action="store_true",
                        help="measure the frame time alone")
    parser.add_argument("--frame-group", default="D19")
    parser.add_argument("--frame-width", type=int, default=2048)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.configure_pyqtgraph()
    app.setStyle("Fusion")
    app.setStyleSheet(theme.style_sheet())
    config = load_preset(DEFAULT_PRESET).replace(device="cpu")
    frame_config, frames = record_for_frames(args.frame_group, args.frame_width)
    frame_label = f"{args.frame_group}, {args.frame_width}"
    if args.frame_only:
        for _ in range(max(1, args.repeat)):
            cpu_default, cpu_answers = [], []
            default = float(np.median(frame_times(app, frame_config, frames,
                                                  cpu=cpu_default)))
            answers = float(np.median(frame_times(app, frame_config, frames, "answers",
                                                  cpu=cpu_answers)))
            print(f"frame ({frame_label}, {len(frames[0][0].orbit_counts)} orbits)  "
                  f"default layout {1000 * default:5.1f} ms wall, "
                  f"{1000 * float(np.median(cpu_default)):5.1f} ms CPU (ratio to 16 ms "
                  f"{default / 0.016:4.2f} / {float(np.median(cpu_default)) / 0.016:4.2f}); "
                  f"answers in front {1000 * answers:5.1f} ms wall, "
                  f"{1000 * float(np.median(cpu_answers)):5.1f} ms CPU", flush=True)
        return 0

    all_threads = torch.get_num_threads()
    ratios, all_core_ratios, lags, frame_medians, launches = [], [], [], [], []
    for _ in range(max(1, args.repeat)):
        every_core = headless_rate(config, args.seconds, threads=all_threads)
        threads = "policy"
        headless = headless_rate(config, args.seconds)
        live, lag, drawn = live_rate_and_lag(app, config, args.seconds)
        ratios.append(live / headless)
        all_core_ratios.append(live / every_core)
        lags.append(lag)
        frame_medians.append(float(np.median(frame_times(app, frame_config, frames))))
        launches.append(launch_time())
        print(f"  run: headless {headless:8.1f} steps/s on {threads} thread(s), "
              f"{every_core:8.1f} on {all_threads}; live {live:8.1f} steps/s "
              f"({drawn} live frames drawn); frame {1000 * frame_medians[-1]:5.1f} ms; "
              f"lag {1000 * lag:5.1f} ms; launch {launches[-1]:4.2f} s", flush=True)

    best_ratio, typical_ratio = max(ratios), statistics.median(ratios)
    best_all, typical_all = max(all_core_ratios), statistics.median(all_core_ratios)
    best_frame, typical_frame = summary(frame_medians)
    best_lag, typical_lag = summary(lags)
    best_launch, typical_launch = summary(launches)
    print(f"preset {DEFAULT_PRESET} (width {config.width}, group {config.group}), CPU; "
          f"{len(ratios)} run(s), best / median")
    print(f"live/headless steps/s  {best_ratio:5.2f} / {typical_ratio:5.2f}   (target ≥ 0.90; "
          f"against headless on every core {best_all:4.2f} / {typical_all:4.2f})")
    print(f"frame ({frame_label})     {1000 * best_frame:5.1f} / {1000 * typical_frame:5.1f} ms   "
          f"ratio to 16 ms {best_frame / 0.016:4.2f} / {typical_frame / 0.016:4.2f}   "
          "(target ≤ 1)")
    print(f"worst lag training     {1000 * best_lag:5.1f} / {1000 * typical_lag:5.1f} ms   "
          f"ratio to 50 ms {best_lag / 0.05:4.2f} / {typical_lag / 0.05:4.2f}   (target ≤ 1)")
    print(f"launch to visible      {best_launch:5.2f} / {typical_launch:5.2f} s    "
          f"ratio to 2 s {best_launch / 2:4.2f} / {typical_launch / 2:4.2f}   (target ≤ 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
