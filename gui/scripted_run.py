"""A scripted session for docs and tests: train N steps live, save the window, quit."""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt6.QtCore import QObject, QTimer
from PyQt6.QtWidgets import QApplication

from gui.worker_commands import Step, WorkerReport

SETTLE_MS = 250  # let the last report's drawing reach the screen before the picture


class ScriptedRun(QObject):
    """Drives a MainWindow: once the run is built, train ``steps`` steps, then finish."""

    def __init__(self, window, steps: int, screenshot: Path | None, quit_after: bool,
                 timeout_seconds: float) -> None:
        super().__init__(window)
        self.window = window
        self.steps = int(steps)
        self.screenshot = screenshot
        self.quit_after = quit_after
        self.exit_code = 1
        self._target: int | None = None
        self._finished = False
        self._timeout = QTimer(self)
        self._timeout.setSingleShot(True)
        self._timeout.setInterval(int(timeout_seconds * 1000))
        self._timeout.timeout.connect(self._timed_out)

    def start(self) -> None:
        self.window.worker.context_ready.connect(self._context_ready)
        self.window.worker.report_ready.connect(self._report)
        self.window.worker.failed.connect(self._failed)
        self._timeout.start()

    def _context_ready(self, _context) -> None:
        if self._target is not None:
            return
        last = self.window.record.latest()
        start = int(last.step) if last is not None else 0
        self._target = start + self.steps
        if not self.window.selected_neurons:  # show the inspector at work in the picture
            self.window.select_neurons([0])
        if self.steps > 0:
            self.window.worker.send(Step(self.steps))

    def _report(self, report: WorkerReport) -> None:
        if self._finished or self._target is None:
            return
        done = int(report.snapshot.step) >= self._target or bool(report.message)
        if done and not report.running:
            self._finished = True
            QTimer.singleShot(SETTLE_MS, self._finish)

    def _failed(self, message: str) -> None:
        if self._target is None and not self._finished:  # the run could not even be built
            print(f"error: {message}", file=sys.stderr)
            self._finished = True
            self.exit_code = 2
            QTimer.singleShot(0, self._quit)

    def _finish(self) -> None:
        self.exit_code = 0
        if self.screenshot is not None:
            if self.window.screenshot(self.screenshot):
                print(f"saved {self.screenshot}")
            else:
                print(f"error: could not write the screenshot {self.screenshot}", file=sys.stderr)
                self.exit_code = 1
        if self.quit_after:
            self._quit()

    def _timed_out(self) -> None:
        if not self._finished:
            print("error: the scripted run did not finish in time", file=sys.stderr)
            self._finished = True
            self.exit_code = 1
            self._quit()

    def _quit(self) -> None:
        self.window.close()
        QApplication.instance().quit()
