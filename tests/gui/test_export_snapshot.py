"""Snapshots: PNG at a scale, SVG with the plot content (parsed back), the state as .npz
with a JSON side file; bad targets and a full disk leave nothing behind."""

from __future__ import annotations

import errno
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import torch
from PyQt6.QtGui import QImage

from backend.config import RunConfig
from backend.recording import MetricHistory
from backend.training.trainer import Trainer
from gui.export.output_files import ExportError
from gui.export.recorded_run import record_from_history
from gui.export.snapshot import save_picture, save_png, save_state, save_svg, svg_document
from gui.export.svg_paths import explicit_closures, pyqtgraph_svg_closures_fixed
from gui.panels import LossPanel, PowerHeatmapsPanel
from gui.run_context import context_from_trainer

SVG = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def trained():
    config = RunConfig().replace(group="C7:C3", width=24, learning_rate=0.05, seed=3)
    trainer = Trainer(config)
    history = MetricHistory()
    for _ in range(6):
        trainer.step(5)
        steps, losses = trainer.recent_losses()
        history.add_losses(steps, losses)
        history.add_snapshot(trainer.metrics())
    return trainer, context_from_trainer(trainer), record_from_history(history)


def _panel(qtbot, kind, trained):
    _, context, record = trained
    panel = kind()
    qtbot.addWidget(panel)
    panel.resize(480, 320)
    panel.show()
    panel.set_context(context)
    panel.show_snapshot(record.latest())
    panel.show_history(record, None)
    return panel


def test_png_at_a_scale(qtbot, tmp_path, trained):
    panel = _panel(qtbot, PowerHeatmapsPanel, trained)
    path = save_png(panel, tmp_path / "maps.png", scale=2)
    image = QImage(str(path))
    assert (image.width(), image.height()) == (960, 640)
    colours = {image.pixel(x, y) for x in range(0, 960, 16) for y in range(0, 640, 16)}
    assert len(colours) > 5  # heat map colours, not a blank picture
    assert os.listdir(tmp_path) == ["maps.png"]


def test_svg_holds_the_plot_content(qtbot, tmp_path, trained):
    panel = _panel(qtbot, LossPanel, trained)
    path = save_svg(panel, tmp_path / "loss.svg")
    root = ET.parse(path).getroot()
    assert root.tag == f"{SVG}svg" and root.get("width") == "480"
    shapes = [e for e in root.iter() if e.tag in (f"{SVG}path", f"{SVG}polyline")]
    assert len(shapes) > 10
    longest = max(len((e.get("d") or e.get("points") or "").split()) for e in shapes)
    assert longest >= 30  # the loss curve has one point per recorded step
    texts = " ".join(e.text or "" for e in root.iter(f"{SVG}text"))
    assert "step" in texts and "loss" in texts
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids))


def test_svg_of_heat_maps_embeds_images(qtbot, tmp_path, trained):
    panel = _panel(qtbot, PowerHeatmapsPanel, trained)
    root = ET.fromstring(svg_document(panel))
    assert len(list(root.iter(f"{SVG}image"))) >= 3  # θ¹, θ², ξ maps


def test_close_commands_become_lines_back_to_the_start():
    assert explicit_closures("M0,0 L3,0 L3,4 Z M5,5 L6,6 z") == \
        "M0,0 L3,0 L3,4 L0,0 M5,5 L6,6 L5,5"
    assert explicit_closures("M1,2 L3,4Z") == "M1,2 L3,4 L1,2"
    assert explicit_closures("Z") == ""


def test_closed_paths_export_with_the_fix(qtbot):
    import pyqtgraph as pg
    import pyqtgraph.exporters

    plot = pg.PlotWidget()
    qtbot.addWidget(plot)
    plot.resize(200, 150)
    plot.show()
    plot.addItem(pg.BarGraphItem(x=[1, 2], height=[1, 2], width=0.5))
    exporter = pg.exporters.SVGExporter(plot.scene())
    try:  # Qt versions that write bare Z break pyqtgraph's reader
        exporter.export(toBytes=True)
    except ValueError:
        pass
    with pyqtgraph_svg_closures_fixed():
        text = exporter.export(toBytes=True).decode()
    assert ET.fromstring(text).tag == f"{SVG}svg"


def test_state_npz_and_json_side_file(tmp_path, trained):
    trainer, context, record = trained
    state = trainer.state_dict()
    snapshot = record.latest()
    npz, side = save_state(tmp_path / "state.npz", trainer.config, state, snapshot,
                           context.orbit_labels)
    assert side == tmp_path / "state.json"
    with np.load(npz, allow_pickle=False) as arrays:
        np.testing.assert_array_equal(arrays["weights/theta"], state["theta"].numpy())
        np.testing.assert_array_equal(arrays["metrics/power"], snapshot.power)
        np.testing.assert_array_equal(arrays["metrics/alignment"], snapshot.alignment)
    description = json.loads(side.read_text())
    assert description["format"] == "irrep-studio-state"
    assert RunConfig.from_dict(description["config"]) == trainer.config
    assert description["step"] == snapshot.step
    assert description["metrics"]["loss"] == pytest.approx(snapshot.loss)
    assert sum(description["metrics"]["orbit_counts_by_label"].values()) == 24
    assert description["arrays"]["weights/theta"]["shape"] == list(state["theta"].shape)
    assert isinstance(state["theta"], torch.Tensor)


def test_bad_targets_are_refused(qtbot, tmp_path, trained):
    panel = _panel(qtbot, LossPanel, trained)
    with pytest.raises(ExportError, match="end the file name with .png or .svg"):
        save_picture(panel, tmp_path / "loss.jpeg")
    with pytest.raises(ExportError, match="does not exist"):
        save_png(panel, tmp_path / "nowhere" / "loss.png")
    with pytest.raises(ExportError, match="between 0.25 and 8"):
        save_png(panel, tmp_path / "loss.png", scale=50)
    trainer, _, record = trained
    with pytest.raises(ExportError, match="end the file name with one of .npz"):
        save_state(tmp_path / "state.zip", trainer.config, None, record.latest())
    assert os.listdir(tmp_path) == []


def test_full_disk_leaves_nothing_and_keeps_the_old_files(qtbot, tmp_path, trained,
                                                          monkeypatch):
    panel = _panel(qtbot, LossPanel, trained)
    trainer, context, record = trained
    old_png = save_png(panel, tmp_path / "loss.png")
    before = old_png.read_bytes()
    real_write = Path.write_bytes

    def full_disk(self, data):
        real_write(self, data[: len(data) // 3])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_bytes", full_disk)
    with pytest.raises(ExportError, match="disk is full"):
        save_png(panel, old_png)
    with pytest.raises(ExportError, match="disk is full"):
        save_svg(panel, tmp_path / "loss.svg")
    with pytest.raises(ExportError, match="disk is full"):
        save_state(tmp_path / "state.npz", trainer.config, trainer.state_dict(),
                   record.latest())
    assert sorted(os.listdir(tmp_path)) == ["loss.png"]
    assert old_png.read_bytes() == before
