"""Benchmark of the window, printed as ratios against the targets, measured in one run.

    python benchmarks/bench_gui.py [--seconds 4]

1. steps/s with the window live against the same Trainer headless (target ≥ 0.9);
2. one frame (every panel redrawn and painted) with 1024 neurons over S5, order 120
   (target ≤ 16 ms);
3. the worst event-loop lag while training (target ≤ 50 ms);
4. launch to a visible window (target ≤ 2 s).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np  # noqa: E402
from PyQt6.QtCore import QTimer  # noqa: E402
from PyQt6.QtWidgets import QApplication  # noqa: E402

from backend.presets import DEFAULT_PRESET, load_preset  # noqa: E402
from backend.trainer import Trainer  # noqa: E402
from gui import theme  # noqa: E402

LAUNCH_PROBE = """
import os, sys, time
sys.path.insert(0, {root!r})
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
from PyQt6.QtCore import QTimer
from PyQt6.QtWidgets import QApplication
from gui import theme
from gui.app import parse_request
from gui.main_window import MainWindow
app = QApplication(sys.argv[:1])
theme.configure_pyqtgraph(); app.setStyle("Fusion"); app.setStyleSheet(theme.style_sheet())
window = MainWindow(parse_request([]).config)
window.show()
def shown():
    print("visible", time.time(), flush=True)
    window.close(); app.quit()
QTimer.singleShot(0, shown)
app.exec()
"""


def wait(app: QApplication, seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        app.processEvents()
        time.sleep(0.001)


def headless_rate(config, seconds: float) -> float:
    trainer = Trainer(config)
    trainer.step(5)
    count, started = 0, time.perf_counter()
    chunk = 1
    while time.perf_counter() - started < seconds:
        t0 = time.perf_counter()
        trainer.step(chunk)
        count += chunk
        chunk = max(1, min(2 * chunk, int(chunk * 0.015 / max(time.perf_counter() - t0, 1e-6))))
    return count / (time.perf_counter() - started)


def live_rate_and_lag(app, config, seconds: float) -> tuple[float, float, int]:
    from gui.main_window import MainWindow

    window = MainWindow(config)
    window.show()
    deadline = time.perf_counter() + 60
    while window.context is None and time.perf_counter() < deadline:
        wait(app, 0.05)
    window.step_count_spin.setValue(5)
    window.step_many()
    wait(app, 0.5)
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
    wait(app, 0.5)  # warm up
    trainer = window.worker._trainer
    drawn_before = window.reports_drawn
    first_step, started = trainer.step_count, time.perf_counter()
    last[0] = time.perf_counter()
    timer.start()
    wait(app, seconds)
    timer.stop()
    rate = (trainer.step_count - first_step) / (time.perf_counter() - started)
    frames = window.reports_drawn - drawn_before
    window.close()
    worst_lag = max(lags) - 0.005 if lags else float("nan")
    return rate, worst_lag, frames


def frame_time(app) -> float:
    from gui.main_window import MainWindow

    config = load_preset(DEFAULT_PRESET).replace(group="S5", width=1024, device="cpu")
    window = MainWindow(config)
    window.show()
    deadline = time.perf_counter() + 120
    while (window.context is None or not len(window.record)) and time.perf_counter() < deadline:
        wait(app, 0.05)
    window.select_neurons([3])
    wait(app, 0.3)
    times = []
    for _ in range(15):
        started = time.perf_counter()
        window.redraw()
        window.repaint()
        app.processEvents()
        times.append(time.perf_counter() - started)
    window.close()
    return float(np.median(times[3:]))


def launch_time() -> float:
    started = time.time()
    result = subprocess.run([sys.executable, "-c", LAUNCH_PROBE.format(root=str(ROOT))],
                            capture_output=True, text=True, timeout=120)
    for line in result.stdout.splitlines():
        if line.startswith("visible"):
            return float(line.split()[1]) - started
    raise RuntimeError(result.stderr)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0)
    args = parser.parse_args()
    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.configure_pyqtgraph()
    app.setStyle("Fusion")
    app.setStyleSheet(theme.style_sheet())
    config = load_preset(DEFAULT_PRESET).replace(device="cpu")

    headless = headless_rate(config, args.seconds)
    live, lag, frames = live_rate_and_lag(app, config, args.seconds)
    frame = frame_time(app)
    launch = launch_time()
    print(f"preset {DEFAULT_PRESET} (width {config.width}, group {config.group}), CPU")
    print(f"steps/s   headless {headless:9.1f}   live {live:9.1f}   live/headless "
          f"{live / headless:5.2f}   (target ≥ 0.90; {frames} reports drawn in "
          f"{args.seconds:.0f} s)")
    print(f"frame     {1000 * frame:6.1f} ms for 1024 neurons over S5 (order 120)   "
          f"ratio to 16 ms {frame / 0.016:5.2f}   (target ≤ 1)")
    print(f"lag       worst {1000 * lag:6.1f} ms while training   ratio to 50 ms "
          f"{lag / 0.050:5.2f}   (target ≤ 1)")
    print(f"launch    {launch:6.2f} s to a visible window   ratio to 2 s {launch / 2:5.2f}   "
          "(target ≤ 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
