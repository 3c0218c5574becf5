"""Video export end to end: frames rendered offscreen from a recorded history, decoded
back; bad requests, a full disk and a cancel leave no file."""

from __future__ import annotations

import errno
import os

import imageio.v3 as iio
import numpy as np
import pytest
from PyQt6.QtWidgets import QPushButton

from backend.config import RunConfig
from backend.recording import MetricHistory
from backend.training.trainer import Trainer
from gui.export.frame_canvas import FrameCanvas
from gui.export.frame_layouts import LAYOUTS, layout_named
from gui.export.output_files import ExportCancelled, ExportError
from gui.export.recorded_run import record_from_history
from gui.export.video import VideoRequest, frame_steps, parse_size, write_video
from gui.run_context import context_from_trainer

SMALL = (320, 240)


@pytest.fixture(scope="module")
def run():
    """(context, record) of 12 recorded moments of a small C7⋊C3 run."""
    config = RunConfig().replace(group="C7:C3", width=24, learning_rate=0.05, seed=3)
    trainer = Trainer(config)
    history = MetricHistory()
    for _ in range(12):
        trainer.step(4)
        steps, losses = trainer.recent_losses()
        history.add_losses(steps, losses)
        history.add_snapshot(trainer.metrics())
    return context_from_trainer(trainer), record_from_history(history)


def test_mp4_has_one_frame_per_recorded_moment_in_range(qtbot, tmp_path, run):
    context, record = run
    steps = record.snapshot_steps
    request = VideoRequest(path=tmp_path / "range.mp4", first_step=int(steps[2]),
                           last_step=int(steps[8]), fps=12, size=(640, 360))
    result = write_video(context, record, request)
    frames = iio.imread(result.path)
    assert result.frames == 7
    assert frames.shape == (7, 360, 640, 3)
    assert frames.std() > 10  # drawn plots, not a blank frame
    assert not np.array_equal(frames[0], frames[-1])  # the moments differ
    assert os.listdir(tmp_path) == ["range.mp4"]


def test_default_size_is_1280_by_720(qtbot, tmp_path, run):
    context, record = run
    steps = record.snapshot_steps
    request = VideoRequest(path=tmp_path / "full.mp4", first_step=int(steps[-2]))
    result = write_video(context, record, request)
    frames = iio.imread(result.path)
    assert frames.shape == (2, 720, 1280, 3)


def test_gif_with_another_layout(qtbot, tmp_path, run):
    context, record = run
    request = VideoRequest(path=tmp_path / "clip.gif", last_step=int(record.snapshot_steps[3]),
                           fps=5, size=SMALL, layout="learning")
    write_video(context, record, request)
    frames = iio.imread(tmp_path / "clip.gif")
    assert frames.shape[:3] == (4, 240, 320)


def test_frames_draw_the_time_curves_at_full_width(qtbot, run):
    context, record = run
    canvas = FrameCanvas(context, record, layout_named("learning"), SMALL)
    canvas.draw(int(record.snapshot_steps[-1]))
    loss, power = canvas.panels["loss"], canvas.panels["function_power"]
    widths = [curve.opts["pen"].widthF() for curve in (loss.loss_curve, *power.curves)]
    assert widths == pytest.approx([1.6] * len(widths))  # the window draws them 1 px wide
    canvas.close()


def test_every_layout_draws_its_panels(qtbot, run):
    context, record = run
    for name in LAYOUTS:
        canvas = FrameCanvas(context, record, layout_named(name), SMALL)
        image = canvas.draw(int(record.snapshot_steps[-1]))
        assert (image.width(), image.height()) == SMALL
        assert set(canvas.panels) == {p.panel for p in LAYOUTS[name].placements}
        canvas.close()


def test_time_axes_stay_fixed_while_frames_advance(qtbot, run):
    context, record = run
    canvas = FrameCanvas(context, record, layout_named("loss"), SMALL)
    box = canvas.panels["loss"].plot.getPlotItem().getViewBox()
    canvas.draw(int(record.snapshot_steps[0]))
    early = box.viewRange()[0]
    canvas.draw(int(record.snapshot_steps[-1]))
    assert box.viewRange()[0] == early
    assert early[1] >= record.snapshot_steps[-1]  # the whole record fits from frame one
    canvas.close()


def test_cancel_leaves_no_file(qtbot, tmp_path, run):
    context, record = run
    seen = []

    def progress(done, total):
        seen.append(done)
        return done < 3

    with pytest.raises(ExportCancelled):
        write_video(context, record, VideoRequest(path=tmp_path / "v.mp4", size=SMALL),
                    progress)
    assert seen[-1] == 3
    assert os.listdir(tmp_path) == []


def test_full_disk_leaves_no_file(qtbot, tmp_path, run, monkeypatch):
    import imageio_ffmpeg

    context, record = run

    def full_disk_writer(path, size, **options):
        with open(path, "wb") as stream:
            stream.write(b"\0" * 1024)
        yield
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(imageio_ffmpeg, "write_frames", full_disk_writer)
    with pytest.raises(ExportError, match="disk is full"):
        write_video(context, record, VideoRequest(path=tmp_path / "v.mp4", size=SMALL))
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(("change", "message"), [
    ({"path": "video.avi"}, "end the file name with one of .mp4, .gif"),
    ({"path": "missing/video.mp4"}, "does not exist"),
    ({"fps": 0}, "out of range"),
    ({"size": (1000, 700)}, "multiples of 8"),
    ({"size": (100, 100)}, "out of range"),
    ({"layout": "mosaic"}, "unknown layout 'mosaic'; choose one of overview"),
    ({"first_step": 50, "last_step": 10}, "starts after it ends"),
    ({"first_step": 10_000, "last_step": 20_000}, "no recorded moment lies between"),
])
def test_bad_requests_are_refused_before_rendering(qtbot, tmp_path, run, change, message):
    context, record = run
    values = {"path": "video.mp4", "size": SMALL} | change
    values["path"] = tmp_path / values["path"]
    with pytest.raises(Exception, match=message) as caught:
        write_video(context, record, VideoRequest(**values))
    assert isinstance(caught.value, ValueError)  # a UserError, shown as a message
    assert os.listdir(tmp_path) == []


def test_size_parsing_and_frame_steps(run):
    _, record = run
    assert parse_size("1920x1080") == (1920, 1080)
    assert parse_size("640 × 360") == (640, 360)
    with pytest.raises(ExportError, match="WIDTHxHEIGHT"):
        parse_size("wide")
    steps = record.snapshot_steps
    assert list(frame_steps(record, None, None)) == list(steps)
    assert list(frame_steps(record, int(steps[1]), int(steps[1]))) == [steps[1]]


def test_progress_dialog_cancel_button_stops_the_export(qtbot, tmp_path, run):
    from gui.export.dialogs import ExportProgress

    context, record = run
    dialog = ExportProgress("Exporting video")

    def press_cancel_at_frame_two(done, total):
        if done == 2:
            dialog.dialog.findChild(QPushButton).click()
        return dialog(done, total)

    with pytest.raises(ExportCancelled):
        write_video(context, record, VideoRequest(path=tmp_path / "v.mp4", size=SMALL),
                    press_cancel_at_frame_two)
    assert dialog.dialog.value() == 2 and dialog.dialog.maximum() == len(record)
    dialog.close()
    assert os.listdir(tmp_path) == []
