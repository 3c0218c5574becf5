"""Video export speed: frames rendered per second at 1280×720, against the 20 frames/s target.

Records a short run of the default preset (C7⋊C3, 512 neurons), then renders its history
offscreen with the overview layout (six panels) twice: painting only, and the full export
to H.264 MP4. Prints frames/s and the ratio to the target, measured in this one run.

    python benchmarks/bench_video.py [--frames N] [--layout NAME]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TARGET_FPS = 20.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=60)
    parser.add_argument("--layout", default="overview")
    args = parser.parse_args()

    from PyQt6.QtWidgets import QApplication

    from backend.presets import load_preset
    from backend.recording import MetricHistory
    from backend.training.trainer import Trainer
    from gui import theme
    from gui.export.frame_canvas import FrameCanvas
    from gui.export.frame_layouts import layout_named
    from gui.export.recorded_run import record_from_history
    from gui.export.video import VideoRequest, write_video
    from gui.run_context import context_from_trainer

    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.configure_pyqtgraph()
    trainer = Trainer(load_preset("frobenius21-sphere"))
    history = MetricHistory(snapshot_capacity=args.frames + 10)
    for _ in range(args.frames):
        trainer.step(5)
        steps, losses = trainer.recent_losses()
        history.add_losses(steps, losses)
        history.add_snapshot(trainer.metrics())
    context, record = context_from_trainer(trainer), record_from_history(history)
    frames = len(record)

    canvas = FrameCanvas(context, record, layout_named(args.layout), (1280, 720))
    started = time.perf_counter()
    for step in record.snapshot_steps:
        canvas.draw(int(step))
    paint_fps = frames / (time.perf_counter() - started)
    canvas.close()

    with tempfile.TemporaryDirectory() as folder:
        request = VideoRequest(path=Path(folder) / "bench.mp4", layout=args.layout)
        result = write_video(context, record, request)
    export_fps = result.frames_per_second

    print(f"video export, {frames} frames at 1280x720, layout {args.layout!r} "
          f"({len(canvas.panels)} panels, {context.width} neurons)")
    print(f"  painting only : {paint_fps:6.1f} frames/s   ratio to {TARGET_FPS:g} frames/s "
          f"target: {paint_fps / TARGET_FPS:.2f}")
    print(f"  MP4 export    : {export_fps:6.1f} frames/s   ratio to {TARGET_FPS:g} frames/s "
          f"target: {export_fps / TARGET_FPS:.2f}   (setup and H.264 encoding included)")
    app.processEvents()
    return 0


if __name__ == "__main__":
    sys.exit(main())
