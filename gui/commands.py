"""Command-line commands that draw with Qt but need no display: ``video`` and ``snapshot``.

    python main.py video RUN --out FILE.mp4|.gif [--from STEP] [--to STEP] [--fps N]
                         [--size WxH] [--layout NAME]
    python main.py snapshot RUN --out FILE.png|.svg|.npz [--scale S] [--step STEP]
                            [--size WxH] [--layout NAME]

RUN is a run directory (``train --out DIR``) or a session file. Without a display, Qt's
offscreen platform is used. Every argument is checked before any work starts; a problem
prints ``error: <what and how to fix it>`` and returns 2.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from backend.errors import UserError

LAYOUT_HELP = "panel layout: overview (default), learning, geometry, heatmaps, loss, phases"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="irrep-studio")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    video = commands.add_parser(
        "video", help="render a recorded run as MP4 (H.264) or GIF, without a display",
        description="Render one frame per recorded moment of RUN (a run directory or a "
        "session file) into a video.")
    _add_run_and_output(video, ".mp4 or .gif")
    video.add_argument("--from", dest="first", type=int, metavar="STEP",
                       help="first step (default: the first recorded)")
    video.add_argument("--to", dest="last", type=int, metavar="STEP",
                       help="last step (default: the last recorded)")
    video.add_argument("--fps", type=float, default=30.0, help="frames per second (30)")
    _add_size_and_layout(video, "frame size in pixels, multiples of 8 (1280x720)")
    snapshot = commands.add_parser(
        "snapshot", help="save a picture (PNG/SVG) or the state (.npz + .json) of a run",
        description="Draw RUN (a run directory or a session file) at one recorded moment "
        "as PNG or SVG, or write its weights and metrics as .npz with a .json side file.")
    _add_run_and_output(snapshot, ".png, .svg or .npz")
    snapshot.add_argument("--scale", type=float, default=1.0,
                          help="PNG resolution factor (2 doubles it)")
    snapshot.add_argument("--step", type=int, metavar="STEP",
                          help="the recorded moment to draw (default: the last)")
    _add_size_and_layout(snapshot, "picture size in pixels before scaling (1280x720)")
    return parser


def _add_run_and_output(parser: argparse.ArgumentParser, suffixes: str) -> None:
    parser.add_argument("run", metavar="RUN", help="run directory or session file")
    parser.add_argument("--out", required=True, metavar="FILE",
                        help=f"output file ending in {suffixes}")


def _add_size_and_layout(parser: argparse.ArgumentParser, size_help: str) -> None:
    parser.add_argument("--size", default="1280x720", metavar="WxH", help=size_help)
    parser.add_argument("--layout", default="overview", metavar="NAME", help=LAYOUT_HELP)


def run_qt_command(argv: list[str]) -> int:
    """Run ``video`` or ``snapshot``; the exit status (0 done, 2 user error, 130 stopped)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        return int(stop.code or 0)
    try:
        _check_early(args)
        app = _ensure_qt_application()  # kept alive while the command draws
        status = _video(args) if args.command == "video" else _snapshot(args)
        app.processEvents()
        return status
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\ninterrupted; no file was written", file=sys.stderr)
        return 130


def _check_early(args: argparse.Namespace) -> None:
    """Everything that can be checked before loading the run or starting Qt."""
    from gui.export.frame_layouts import layout_named
    from gui.export.output_files import check_output_path
    from gui.export.snapshot import IMAGE_SUFFIXES, STATE_SUFFIXES, check_scale
    from gui.export.video import MAX_FPS, MIN_FPS, VIDEO_SUFFIXES, parse_size

    if not Path(args.run).expanduser().exists():
        raise UserError(f"{args.run} does not exist; give a run directory (from "
                        "`train --out DIR`) or a session file")
    layout_named(args.layout)
    args.frame_size = parse_size(args.size)
    if args.command == "video":
        check_output_path(args.out, VIDEO_SUFFIXES, "video")
        if not (MIN_FPS <= args.fps <= MAX_FPS):
            raise UserError(f"--fps {args.fps:g} is out of range; choose from {MIN_FPS} to "
                            f"{MAX_FPS} (30 is usual)")
    else:
        check_output_path(args.out, IMAGE_SUFFIXES + STATE_SUFFIXES, "snapshot")
        check_scale(args.scale)
        if Path(args.out).suffix.lower() in STATE_SUFFIXES and args.step is not None:
            raise UserError("a run keeps its weights only at its last step, so --step cannot "
                            "be used with a .npz state file; leave --step out")


def _ensure_qt_application():
    """A QApplication, offscreen when there is no display; pyqtgraph in the app's style."""
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")) \
            and sys.platform not in ("darwin", "win32"):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from PyQt6.QtWidgets import QApplication

    from gui import theme

    app = QApplication.instance() or QApplication(sys.argv[:1])
    theme.configure_pyqtgraph()
    return app


def _video(args: argparse.Namespace) -> int:
    from gui.export.recorded_run import open_recorded_run
    from gui.export.video import VideoRequest, check_video_request, write_video

    run = open_recorded_run(args.run)
    request = VideoRequest(path=Path(args.out), first_step=args.first, last_step=args.last,
                           fps=args.fps, size=args.frame_size, layout=args.layout)
    _, steps = check_video_request(request, run.record)
    print(f"rendering {len(steps)} frames of {run.context.group_name} "
          f"(steps {int(steps[0]):,}–{int(steps[-1]):,}) at {args.frame_size[0]}×"
          f"{args.frame_size[1]}, {args.fps:g} frames/s", file=sys.stderr)
    bar = TextProgress()
    result = write_video(run.context, run.record, request, bar)
    bar.finish()
    print(f"saved {result.path} ({result.frames} frames, {result.frames_per_second:.1f} "
          "frames rendered per second)")
    return 0


def _snapshot(args: argparse.Namespace) -> int:
    from gui.export.frame_canvas import FrameCanvas
    from gui.export.frame_layouts import layout_named
    from gui.export.output_files import ExportError
    from gui.export.recorded_run import open_recorded_run
    from gui.export.snapshot import STATE_SUFFIXES, save_picture, save_state

    run = open_recorded_run(args.run)
    if Path(args.out).suffix.lower() in STATE_SUFFIXES:
        if run.state is None:
            raise ExportError(f"{args.run} holds no weights (no checkpoint); export a .png or "
                              ".svg picture of it instead")
        snapshot = run.record.latest()
        paths = save_state(args.out, run.config, run.state, snapshot, run.context.orbit_labels)
        print(f"saved {paths[0]} and {paths[1]}")
        return 0
    steps = run.record.snapshot_steps
    if args.step is not None and len(steps) and not steps[0] <= args.step <= steps[-1]:
        raise ExportError(f"--step {args.step:,} is outside the recorded steps "
                          f"{int(steps[0]):,}–{int(steps[-1]):,}")
    canvas = FrameCanvas(run.context, run.record, layout_named(args.layout), args.frame_size)
    canvas.draw(int(steps[-1]) if args.step is None else args.step)
    path = save_picture(canvas, args.out, args.scale)
    canvas.close()
    print(f"saved {path}")
    return 0


class TextProgress:
    """A one-line progress bar on standard error: frames, frames/s, time left."""

    WIDTH = 30

    def __init__(self, stream=None, clock: Callable[[], float] = time.perf_counter) -> None:
        self.stream = stream or sys.stderr
        self.clock = clock
        self.started = clock()
        self.interactive = bool(getattr(self.stream, "isatty", lambda: False)())
        self._last_tenth = -1

    def __call__(self, done: int, total: int) -> bool:
        total = max(int(total), 1)
        tenth = 10 * done // total
        if not self.interactive and tenth == self._last_tenth and done != total:
            return True
        self._last_tenth = tenth
        elapsed = max(self.clock() - self.started, 1e-9)
        rate = done / elapsed
        left = (total - done) / rate if rate > 0 else 0.0
        filled = self.WIDTH * done // total
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        line = (f"[{bar}] {done}/{total} frames  {rate:5.1f} frames/s  "
                f"{left:4.0f} s left")
        self.stream.write(("\r" + line) if self.interactive else line + "\n")
        self.stream.flush()
        return True

    def finish(self) -> None:
        if self.interactive:
            self.stream.write("\n")
            self.stream.flush()
