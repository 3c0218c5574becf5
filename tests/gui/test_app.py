"""The window's command line: options checked first, a scripted run, opening a run directory."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from backend.errors import UserError
from gui.app import parse_request
from tests.gui.conftest import small_config

ROOT = Path(__file__).resolve().parents[2]


def test_default_request_uses_the_default_preset():
    from backend.presets import DEFAULT_PRESET

    request = parse_request([])
    assert request.config.preset == DEFAULT_PRESET
    assert request.run_steps == 0 and request.screenshot is None


@pytest.mark.parametrize(("argv", "words"), [
    (["--screenshot", "picture.txt"], ".png"),
    (["--screenshot", "/no/such/folder/x.png"], "does not exist"),
    (["--run-steps", "-3"], "0 or more"),
    (["open"], "needs a run directory"),
    (["somewhere"], "open somewhere"),
    (["open", "/no/such/run"], "does not exist"),
    (["--set", "width=zero"], "width"),
    (["--preset", "no-such-preset"], "no-such-preset"),
])
def test_bad_options_are_refused_with_the_fix(argv, words):
    with pytest.raises(UserError) as caught:
        parse_request(argv)
    assert words in str(caught.value)


def test_bad_option_exits_2_with_one_message():
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run([sys.executable, str(ROOT / "main.py"), "--screenshot", "x.txt"],
                            capture_output=True, text=True, cwd=ROOT, env=env, timeout=120)
    assert result.returncode == 2
    assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_scripted_run_saves_a_screenshot(tmp_path):
    picture = tmp_path / "window.png"
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, str(ROOT / "main.py"), "--set", "width=32", "--run-steps", "15",
         "--screenshot", str(picture)],
        capture_output=True, text=True, cwd=ROOT, env=env, timeout=180)
    assert result.returncode == 0, result.stderr
    from PyQt6.QtGui import QImage

    image = QImage(str(picture))
    assert image.width() >= 800 and image.height() >= 600


def test_open_a_recorded_run(qtbot, tmp_path):
    from backend.recording import MetricHistory
    from backend.run_directory import RunDirectory
    from backend.training.trainer import Trainer
    from gui.main_window import MainWindow

    config = small_config(width=24)
    trainer = Trainer(config)
    history = MetricHistory()
    history.add_snapshot(trainer.metrics())
    for _ in range(4):
        trainer.step(5)
        steps, losses = trainer.recent_losses()
        history.add_losses(steps, losses)
        history.add_snapshot(trainer.metrics())
    directory = RunDirectory(tmp_path / "run")
    directory.prepare()
    directory.write_config(config)
    directory.commit(config, trainer.state_dict(), history)

    request = parse_request(["open", str(tmp_path / "run")])
    window = MainWindow(request.config, state=request.state, history=request.history)
    qtbot.addWidget(window)
    window.show()
    try:
        qtbot.waitUntil(lambda: window.last_report is not None
                        and window.last_report.snapshot.step == 20, timeout=20000)
        assert window.record.snapshot_steps.tolist() == [0, 5, 10, 15, 20]
        assert window.record.loss_curve()[0].tolist() == list(range(20)) + [20]
        assert len(window.loss_panel.loss_curve.xData) == 21  # every step, not per snapshot
        window.timeline.setValue(window.timeline_position(5))
        assert window.shown_step() == 5
        window.step_once()  # the recorded run continues from its checkpoint
        qtbot.waitUntil(lambda: window.last_report.snapshot.step == 21, timeout=10000)
    finally:
        window.worker.shutdown(2000)


WINDOW_WITHOUT_TORCH = """
import sys
import main  # noqa: F401  (as `python main.py` starts)
from PyQt6.QtWidgets import QApplication
from gui.app import parse_request
from gui.main_window import MainWindow
app = QApplication(sys.argv[:1])
window = MainWindow(parse_request([]).config)
window.show()
app.processEvents()
print("torch loaded" if "torch" in sys.modules else "torch not loaded")
print("cuda offered" if window.form.choices["device"].findText("cuda") >= 0 else "no cuda")
"""


def test_the_window_shows_before_pytorch_loads():
    # PyTorch takes about a second to load; the run is built (and PyTorch loaded) by the
    # worker once the window is on screen, so nothing before that may import it
    result = subprocess.run([sys.executable, "-c", WINDOW_WITHOUT_TORCH], cwd=ROOT,
                            capture_output=True, text=True, timeout=120,
                            env={**os.environ, "QT_QPA_PLATFORM": "offscreen"})
    assert result.returncode == 0, result.stderr
    assert "torch not loaded" in result.stdout
    assert "no cuda" in result.stdout  # offered only once PyTorch can be asked


def test_cuda_is_offered_once_a_run_is_built(qtbot, window):
    import torch

    qtbot.waitUntil(lambda: window.context is not None, timeout=10000)
    offered = window.form.choices["device"].findText("cuda") >= 0
    assert offered == torch.cuda.is_available()
