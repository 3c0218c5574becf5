"""`python main.py video|snapshot RUN ...` end to end, without a display."""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET

import imageio.v3 as iio
import pytest
from PyQt6.QtGui import QImage

from backend.config import RunConfig
from backend.recording import MetricHistory
from backend.run_directory import RunDirectory
from backend.session_file import save_session
from backend.training.trainer import Trainer
from gui.commands import TextProgress, run_qt_command
from main import main


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A run directory of 8 recorded moments, with its final checkpoint."""
    config = RunConfig().replace(group="D5", width=16, learning_rate=0.05, seed=1)
    trainer = Trainer(config)
    history = MetricHistory()
    for _ in range(8):
        trainer.step(3)
        steps, losses = trainer.recent_losses()
        history.add_losses(steps, losses)
        history.add_snapshot(trainer.metrics())
    folder = RunDirectory(tmp_path_factory.mktemp("runs") / "d5")
    folder.prepare()
    folder.write_config(config)
    folder.commit(config, trainer.state_dict(), history)
    return folder.path


def test_video_command_from_a_run_directory(qtbot, tmp_path, run_dir, capsys):
    out = tmp_path / "d5.mp4"
    status = main(["video", str(run_dir), "--out", str(out), "--from", "6", "--to", "18",
                   "--fps", "10", "--size", "320x240", "--layout", "learning"])
    assert status == 0
    frames = iio.imread(out)
    assert frames.shape == (5, 240, 320, 3)  # steps 6, 9, 12, 15, 18
    captured = capsys.readouterr()
    assert "5/5 frames" in captured.err and f"saved {out}" in captured.out


def test_video_command_from_a_session_file(qtbot, tmp_path, run_dir):
    config, state, history = RunDirectory.load(run_dir)
    session = save_session(tmp_path / "d5.irrep", config, state, history)
    out = tmp_path / "d5.gif"
    assert run_qt_command(["video", str(session), "--out", str(out), "--size", "320x240"]) == 0
    assert iio.imread(out).shape[:3] == (8, 240, 320)


def test_snapshot_command_writes_png_svg_and_state(qtbot, tmp_path, run_dir):
    png, svg, npz = tmp_path / "d5.png", tmp_path / "d5.svg", tmp_path / "d5.npz"
    assert run_qt_command(["snapshot", str(run_dir), "--out", str(png), "--scale", "1.5",
                           "--size", "640x360", "--step", "12"]) == 0
    image = QImage(str(png))
    assert (image.width(), image.height()) == (960, 540)
    assert run_qt_command(["snapshot", str(run_dir), "--out", str(svg)]) == 0
    root = ET.parse(svg).getroot()
    assert root.get("width") == "1280" and len(list(root.iter())) > 100
    assert run_qt_command(["snapshot", str(run_dir), "--out", str(npz)]) == 0
    assert json.loads((tmp_path / "d5.json").read_text())["step"] == 24


@pytest.mark.parametrize(("arguments", "message"), [
    (["video", "{run}", "--out", "{tmp}/v.mov"], "end the file name with one of .mp4, .gif"),
    (["video", "{run}", "--out", "{tmp}/no/v.mp4"], "does not exist"),
    (["video", "{tmp}/missing", "--out", "{tmp}/v.mp4"], "does not exist"),
    (["video", "{run}", "--out", "{tmp}/v.mp4", "--size", "big"], "WIDTHxHEIGHT"),
    (["video", "{run}", "--out", "{tmp}/v.mp4", "--fps", "500"], "out of range"),
    (["video", "{run}", "--out", "{tmp}/v.mp4", "--layout", "grid"], "unknown layout"),
    (["video", "{run}", "--out", "{tmp}/v.mp4", "--from", "900"], "starts after it ends"),
    (["video", "{foreign}", "--out", "{tmp}/v.mp4"], "not an Irrep Studio session"),
    (["snapshot", "{run}", "--out", "{tmp}/s.bmp"], "end the file name with one of"),
    (["snapshot", "{run}", "--out", "{tmp}/s.npz", "--step", "3"], "--step cannot"),
    (["snapshot", "{run}", "--out", "{tmp}/s.png", "--step", "999"], "outside the recorded"),
])
def test_bad_input_gets_a_message_and_no_file(qtbot, tmp_path, run_dir, capsys, arguments,
                                              message):
    foreign = tmp_path / "foreign.irrep"
    foreign.write_bytes(b"PK\x03\x04 not really")
    argv = [a.format(run=run_dir, tmp=tmp_path, foreign=foreign) for a in arguments]
    assert run_qt_command(argv) == 2
    error = capsys.readouterr().err
    assert error.startswith("error: ") and message in error
    assert "Traceback" not in error
    assert os.listdir(tmp_path) == ["foreign.irrep"]


def test_text_progress_reports_rate_and_time_left():
    ticks = iter([0.0, 1.0, 2.0])
    stream = io.StringIO()
    bar = TextProgress(stream, clock=lambda: next(ticks))
    bar(5, 10)
    bar(10, 10)
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("[###############---------------] 5/10 frames    5.0 frames/s")
    assert lines[0].endswith("1 s left")
    assert "10/10 frames" in lines[1]
