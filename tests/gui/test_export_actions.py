"""The window's File menu: snapshot, session save and open, video, each end to end."""

from __future__ import annotations

import os
import xml.etree.ElementTree as ET

import imageio.v3 as iio
import numpy as np
import pytest
import torch
from PyQt6.QtGui import QImage, QKeySequence

from backend.session_file import load_session
from gui.export.dialogs import WHOLE_WINDOW, SnapshotChoice, VideoChoice
from gui.export.state_request import FetchState
from gui.export_actions import install_export_actions
from tests.gui.conftest import wait_idle


@pytest.fixture
def studio(qtbot, window, monkeypatch):
    """The window after 30 steps, with the export actions installed, and a worker that
    answers FetchState by handing over its trainer's state (in its own thread)."""
    worker = window.worker
    dispatch = worker._dispatch

    def dispatch_with_state(command):
        if isinstance(command, FetchState):
            command.reply(worker._trainer.state_dict())
        else:
            dispatch(command)

    monkeypatch.setattr(worker, "_dispatch", dispatch_with_state)
    actions = install_export_actions(window)
    window.step_count_spin.setValue(30)
    window.step_many()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 30, timeout=20000)
    wait_idle(qtbot, window)
    return window, actions


def test_menu_and_shortcuts(studio):
    window, actions = studio
    assert window.export_actions is actions
    assert window.menuBar().actions()[0].text() == "&File"
    shortcuts = {a.text(): a.shortcut() for a in actions.menu.actions() if a.text()}
    assert shortcuts["Export snapshot…"] == QKeySequence("Ctrl+E")
    assert shortcuts["Save session…"] == QKeySequence("Ctrl+S")
    assert shortcuts["Open session…"] == QKeySequence("Ctrl+O")
    assert "Export video…" in shortcuts


def test_the_window_has_one_file_menu_however_often_the_actions_are_installed(studio):
    window, actions = studio  # the window installed them, then the fixture once more
    assert install_export_actions(window) is actions
    titles = [action.text() for action in window.menuBar().actions()]
    assert titles.count("&File") == 1


def test_snapshot_of_window_and_panel(studio, tmp_path):
    window, actions = studio
    png = actions.export_snapshot(SnapshotChoice(WHOLE_WINDOW, tmp_path / "window.png", 1.0))
    image = QImage(str(png[0]))
    assert (image.width(), image.height()) == (window.width(), window.height())
    svg = actions.export_snapshot(SnapshotChoice("loss", tmp_path / "loss.svg", 1.0))
    assert len(list(ET.parse(svg[0]).getroot().iter())) > 20
    whole = actions.export_snapshot(SnapshotChoice(WHOLE_WINDOW, tmp_path / "all.svg", 1.0))
    root = ET.parse(whole[0]).getroot()
    plots = [g for g in root if g.get("class") in ("PlotWidget", "GraphicsLayoutWidget")]
    assert len(plots) >= 4  # heat maps, loss, phases, alignment, ... side by side
    assert root.get("width") == str(window.width())
    npz, side = actions.export_snapshot(SnapshotChoice(WHOLE_WINDOW, tmp_path / "s.npz", 1.0))
    with np.load(npz) as arrays:
        assert arrays["weights/theta"].shape[2] == window.context.width
    assert side.exists() and actions.last_error == ""


def test_save_and_open_session(qtbot, studio, tmp_path):
    window, actions = studio
    path = actions.save_session(tmp_path / "run.irrep")
    session = load_session(path)
    assert session.state["step_count"] == 30
    assert session.config.group == window.context.config.group
    saved_steps = [s.step for s in session.history.snapshots]
    assert saved_steps == [int(s) for s in window.record.snapshot_steps]

    window.reset()
    qtbot.waitUntil(lambda: window.last_report.snapshot.step == 0, timeout=20000)
    assert actions.open_session(path)
    qtbot.waitUntil(lambda: window.last_report is not None
                    and window.last_report.snapshot.step == 30, timeout=20000)
    qtbot.waitUntil(lambda: len(window.record) >= len(saved_steps), timeout=20000)
    reopened = actions.save_session(tmp_path / "again.irrep")
    assert torch.equal(load_session(reopened).state["theta"], session.state["theta"])


def test_open_refuses_a_damaged_session_and_keeps_the_run(studio, tmp_path):
    window, actions = studio
    damaged = tmp_path / "damaged.irrep"
    damaged.write_bytes(b"not a session")
    context = window.context
    assert not actions.open_session(damaged)
    assert "not an Irrep Studio session" in actions.last_error
    assert "not an Irrep Studio session" in window.last_message
    assert window.context is context


def test_video_from_the_window_and_cancel(studio, tmp_path):
    window, actions = studio
    steps = window.record.snapshot_steps
    choice = VideoChoice(tmp_path / "window.mp4", int(steps[0]), int(steps[-1]), 10,
                         "320x240", "overview")
    result = actions.export_video(choice, progress=lambda done, total: True)
    assert iio.imread(result.path).shape == (len(steps), 240, 320, 3)
    cancelled = VideoChoice(tmp_path / "cancel.mp4", int(steps[0]), int(steps[-1]), 10,
                            "320x240", "overview")
    assert actions.export_video(cancelled, progress=lambda done, total: done < 1) is None
    assert os.listdir(tmp_path) == ["window.mp4"]
    bad = VideoChoice(tmp_path / "bad.mp4", 0, 10, 10, "333x240", "overview")
    assert actions.export_video(bad, progress=lambda done, total: True) is None
    assert "multiples of 8" in actions.last_error
