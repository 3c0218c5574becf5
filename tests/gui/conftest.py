"""Fixtures for the window's tests: small real runs, a window that is ready to train."""

from __future__ import annotations

import pytest

from backend.config import RunConfig
from gui import theme


@pytest.fixture(scope="session", autouse=True)
def _pyqtgraph_options():
    theme.configure_pyqtgraph()


def small_config(**changes) -> RunConfig:
    """A run that trains in milliseconds: C7⋊C3, one-hot, sphere, Adam."""
    values = dict(group="C7:C3", width=48, learning_rate=0.05, seed=3, steps=200)
    values.update(changes)
    return RunConfig().replace(**values)


@pytest.fixture
def config() -> RunConfig:
    return small_config()


@pytest.fixture
def window(qtbot, config):
    """A MainWindow on a small run, shown, with its first snapshot drawn."""
    from gui.main_window import MainWindow

    main = MainWindow(config)
    qtbot.addWidget(main)
    main.show()
    qtbot.waitUntil(lambda: main.context is not None and len(main.record) > 0, timeout=20000)
    yield main
    main.worker.shutdown(2000)


def wait_idle(qtbot, window, timeout: int = 20000) -> None:
    """Wait until the worker is paused and its last report is drawn."""
    qtbot.waitUntil(lambda: window.mode == "idle" and window.last_report is not None
                    and not window.last_report.running, timeout=timeout)


def axis_labels(axis) -> list[tuple[str, object]]:
    """(text, rectangle) of every tick label a pyqtgraph axis would draw now."""
    from PyQt6.QtGui import QImage, QPainter

    image = QImage(8, 8, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        _, _, texts = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [(text, rect) for rect, _, text in texts if text]
