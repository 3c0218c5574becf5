"""Open the window: parse the window's options, build the app, optionally script a run.

    python main.py                                   the default preset, ready to train
    python main.py --preset NAME [--set key=value]   another preset, keys overridden
    python main.py open RUN                          a recorded run (a run directory or a
                                                     session file), for replay and scrubbing
    python main.py --preset NAME --run-steps N --screenshot FILE.png [--window-size 1280x800]
                                                     train N steps live, save the window, exit
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from backend.errors import UserError

SCREENSHOT_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp")
SCRIPT_TIMEOUT_SECONDS = 600
MIN_WINDOW = (640, 480)


@dataclass
class WindowRequest:
    """What the command line asked the window to do, checked before anything starts."""

    config: Any
    run_dir: Path | None = None
    state: Any = None
    history: Any = None
    run_steps: int = 0
    screenshot: Path | None = None
    window_size: tuple[int, int] | None = None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="irrep-studio",
        description="Irrep Studio window. `open RUN` opens a recorded run (a run directory or "
        "a session file); without it the window opens on a preset.",
    )
    parser.add_argument("command", nargs="?", metavar="open", help="open a recorded run")
    parser.add_argument("run_dir", nargs="?", metavar="RUN",
                        help="run directory or session file for `open`")
    parser.add_argument("--preset", help="preset to open (see `presets`)")
    parser.add_argument("--set", dest="overrides", action="append", default=[],
                        metavar="KEY=VALUE", help="override a configuration key (repeatable)")
    parser.add_argument("--run-steps", type=int, default=0, metavar="N",
                        help="train N steps with the views live, then (with --screenshot) exit")
    parser.add_argument("--screenshot", metavar="FILE.png",
                        help="save a picture of the whole window after --run-steps, then exit")
    parser.add_argument("--window-size", metavar="WIDTHxHEIGHT",
                        help="open the window at this size, e.g. 1280x800 (default: fit the "
                        "screen)")
    return parser


def parse_window_size(text: str | None) -> tuple[int, int] | None:
    """``WIDTHxHEIGHT`` as two integers (None stays None); UserError when unreadable."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    try:
        width, height = (int(part) for part in parts)
    except ValueError:
        raise UserError(f"--window-size {text}: write WIDTHxHEIGHT, e.g. 1280x800") from None
    if not (MIN_WINDOW[0] <= width <= 7680 and MIN_WINDOW[1] <= height <= 4320):
        raise UserError(f"--window-size {text}: choose from {MIN_WINDOW[0]}x{MIN_WINDOW[1]} "
                        "to 7680x4320")
    return width, height


def parse_request(argv: list[str]) -> WindowRequest:
    """Read and check the window's options; raise UserError naming the problem and the fix."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as stop:
        if stop.code == 0:
            raise
        raise UserError("cannot read the window's options (see the line above); "
                        "`python main.py --help` lists them") from None
    if args.command not in (None, "open"):
        raise UserError(f"unexpected argument {args.command!r}; to open a recorded run write "
                        f"`python main.py open {args.command}`")
    if args.command == "open" and not args.run_dir:
        raise UserError("`open` needs a run directory or a session file: "
                        "python main.py open RUN")
    if args.command is None and args.run_dir:
        raise UserError(f"unexpected argument {args.run_dir!r}; to open a recorded run write "
                        f"`python main.py open {args.run_dir}`")
    window_size = parse_window_size(args.window_size)
    if args.run_steps < 0:
        raise UserError(f"--run-steps {args.run_steps} must be 0 or more")
    screenshot = None
    if args.screenshot:
        screenshot = Path(args.screenshot).expanduser()
        if screenshot.suffix.lower() not in SCREENSHOT_SUFFIXES:
            raise UserError(f"--screenshot {screenshot}: use a .png (or .jpg) file name")
        folder = screenshot.resolve().parent
        if not folder.is_dir():
            raise UserError(f"--screenshot {screenshot}: the folder {folder} does not exist")
        if not os.access(folder, os.W_OK):
            raise UserError(f"--screenshot {screenshot}: the folder {folder} is not writable")
    if args.run_dir:
        if args.preset:
            raise UserError("`open RUN` uses the run's own configuration; drop --preset")
        config, state, history = load_recorded(Path(args.run_dir))
        if args.overrides:
            config = config.with_overrides(args.overrides)
        return WindowRequest(config=config, run_dir=Path(args.run_dir), state=state,
                             history=history, run_steps=args.run_steps, screenshot=screenshot,
                             window_size=window_size)
    config = load_preset_config(args.preset)
    if args.overrides:
        config = config.with_overrides(args.overrides)
    return WindowRequest(config=config, run_steps=args.run_steps, screenshot=screenshot,
                         window_size=window_size)


def load_preset_config(name: str | None) -> Any:
    """The RunConfig of preset ``name`` (None: the default preset)."""
    from backend import presets

    if name is None:
        name = presets.DEFAULT_PRESET
    return presets.load_preset(name)


def load_recorded(path: Path) -> tuple[Any, Any, Any]:
    """(config, trainer state, history) of a recorded run: a run directory or a session
    file, read and checked by the one state reader (backend.session_file)."""
    from backend.session_file import load_recorded_run

    if not path.exists():
        raise UserError(f"{path} does not exist; give a run directory (record one with "
                        "`python main.py train --preset NAME --out DIR`) or a session file")
    session = load_recorded_run(path)
    return session.config, session.state, session.history


def run_app(argv: list[str]) -> int:
    """Open the window as the options ask; the exit status of the app."""
    try:
        request = parse_request(argv)
    except UserError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except SystemExit as stop:  # --help
        return int(stop.code or 0)

    from PyQt6.QtWidgets import QApplication

    from gui import theme
    from gui.main_window import MainWindow

    app = QApplication.instance() or QApplication(sys.argv[:1])
    app.setApplicationName("Irrep Studio")
    app.setOrganizationName("IrrepStudio")
    theme.configure_pyqtgraph()
    app.setStyle("Fusion")
    app.setStyleSheet(theme.style_sheet())
    window = MainWindow(request.config, state=request.state, history=request.history)
    if request.window_size is not None:
        window.resize(*request.window_size)
    window.show()
    if request.screenshot is not None or request.run_steps:
        from gui.scripted_run import ScriptedRun

        script = ScriptedRun(window, request.run_steps, request.screenshot,
                             quit_after=request.screenshot is not None,
                             timeout_seconds=SCRIPT_TIMEOUT_SECONDS)
        script.start()
        status = app.exec()
        return script.exit_code if request.screenshot is not None else status
    return app.exec()
