"""Videos of a recorded run: MP4 (H.264) or GIF, rendered offscreen from the history.

One frame per recorded snapshot in the chosen step range, each drawn by a FrameCanvas
(fresh panels in a hidden fixed-size widget) and streamed to the ffmpeg that
imageio-ffmpeg ships: raw BGRA pixels in, H.264 (the encoder picks yuv420p) or a GIF with
a palette per frame out. The file appears only when every frame is written; an error or
a cancel removes the partial file.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gui.export.frame_canvas import FrameCanvas, check_frame_size
from gui.export.frame_layouts import DEFAULT_LAYOUT, layout_named
from gui.export.output_files import ExportCancelled, ExportError, atomic_output, check_output_path
from gui.run_context import RunContext
from gui.run_record import RunRecord

VIDEO_SUFFIXES = (".mp4", ".gif")
MIN_FPS, MAX_FPS = 1, 120
MP4_QUALITY = 7  # imageio-ffmpeg's 0–10 scale
GIF_FILTER = "split[a][b];[a]palettegen=stats_mode=single[p];[b][p]paletteuse=new=1"

Progress = Callable[[int, int], bool]
"""progress(frames_done, frames_total) -> False to cancel."""


@dataclass
class VideoRequest:
    """What to render: the output file, the step range, frame rate, size and layout."""

    path: Path
    first_step: int | None = None
    last_step: int | None = None
    fps: float = 30.0
    size: tuple[int, int] = (1280, 720)
    layout: str = DEFAULT_LAYOUT


@dataclass
class VideoResult:
    path: Path
    frames: int
    seconds: float

    @property
    def frames_per_second(self) -> float:
        return self.frames / self.seconds if self.seconds > 0 else math.inf


def parse_size(text: str) -> tuple[int, int]:
    """'1280x720' (or 1280×720) -> (1280, 720); ExportError with an example otherwise."""
    cleaned = text.lower().replace("×", "x").replace(" ", "")
    parts = cleaned.split("x")
    if len(parts) != 2 or not all(part.isdigit() for part in parts):
        raise ExportError(f"cannot read the size {text!r}; write WIDTHxHEIGHT, e.g. 1280x720")
    return check_frame_size(int(parts[0]), int(parts[1]))


def frame_steps(record: RunRecord, first: int | None, last: int | None) -> np.ndarray:
    """Steps of the recorded snapshots inside [first, last] (None: open end)."""
    steps = record.snapshot_steps
    if len(steps) == 0:
        raise ExportError("the run has no recorded moments; train a few steps first")
    low = int(steps[0]) if first is None else int(first)
    high = int(steps[-1]) if last is None else int(last)
    if low > high:
        raise ExportError(f"the step range starts after it ends ({low} > {high}); "
                          "give --from before --to")
    chosen = steps[(steps >= low) & (steps <= high)]
    if len(chosen) == 0:
        raise ExportError(
            f"no recorded moment lies between steps {low:,} and {high:,}; this run was "
            f"recorded from step {int(steps[0]):,} to {int(steps[-1]):,}"
        )
    return chosen


def check_video_request(request: VideoRequest, record: RunRecord) -> tuple[Path, np.ndarray]:
    """Check everything before any work: (target path, frame steps)."""
    path = check_output_path(request.path, VIDEO_SUFFIXES, "video")
    fps = float(request.fps)
    if not (math.isfinite(fps) and MIN_FPS <= fps <= MAX_FPS):
        raise ExportError(f"{request.fps:g} frames per second is out of range; choose from "
                          f"{MIN_FPS} to {MAX_FPS} (30 is usual)")
    check_frame_size(*request.size)
    layout_named(request.layout)
    return path, frame_steps(record, request.first_step, request.last_step)


def write_video(context: RunContext, record: RunRecord, request: VideoRequest,
                progress: Progress | None = None) -> VideoResult:
    """Render the frames and write the video atomically.

    Raises ExportError (bad request, encoder failure, full disk) or ExportCancelled
    (``progress`` returned False); in both cases no file is left behind.
    """
    path, steps = check_video_request(request, record)
    canvas = FrameCanvas(context, record, layout_named(request.layout), request.size)
    started = time.perf_counter()
    try:
        with atomic_output(path) as temporary:
            _encode(canvas, steps, temporary, float(request.fps), progress)
    finally:
        canvas.close()
        canvas.deleteLater()
    return VideoResult(path=path, frames=len(steps), seconds=time.perf_counter() - started)


def _encode(canvas: FrameCanvas, steps: np.ndarray, path: Path, fps: float,
            progress: Progress | None) -> None:
    import imageio_ffmpeg

    width, height = canvas.frame_size
    options: dict = {"codec": "libx264", "quality": MP4_QUALITY,
                     "output_params": ["-preset", "veryfast"]}
    if path.suffix.lower() == ".gif":
        options = {"codec": "gif", "pix_fmt_out": "pal8", "output_params": ["-vf", GIF_FILTER]}
    writer = imageio_ffmpeg.write_frames(
        str(path), (width, height), fps=fps, pix_fmt_in="bgra", macro_block_size=8,
        ffmpeg_log_level="error", **options,
    )
    try:
        writer.send(None)
        total = len(steps)
        if progress is not None and progress(0, total) is False:
            raise ExportCancelled()
        for done, step in enumerate(steps, start=1):
            image = canvas.draw(int(step))
            writer.send(_bgra_bytes(image, width, height))
            if progress is not None and progress(done, total) is False:
                raise ExportCancelled()
    except (BrokenPipeError, RuntimeError) as error:
        raise ExportError(f"the video encoder stopped: {error}. Check the free disk space "
                          "and try again; nothing was written") from None
    finally:
        try:
            writer.close()
        except (OSError, RuntimeError):
            pass


def _bgra_bytes(image, width: int, height: int) -> bytes:
    """The QImage's pixels (Format_RGB32 is B, G, R, 255 per pixel in memory) as bytes."""
    pointer = image.constBits()
    pointer.setsize(image.sizeInBytes())
    if image.bytesPerLine() == 4 * width:
        return bytes(pointer)
    rows = np.frombuffer(pointer, dtype=np.uint8).reshape(height, image.bytesPerLine())
    return rows[:, : 4 * width].tobytes()
