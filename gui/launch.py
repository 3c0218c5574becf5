"""Open the window: check for a display first, so a headless machine gets one clear line."""

from __future__ import annotations

import os
import sys


def display_available() -> bool:
    """True when Qt has somewhere to draw: a display server or an explicit offscreen platform."""
    platform = os.environ.get("QT_QPA_PLATFORM", "")
    if platform.startswith(("offscreen", "minimal", "vnc")):
        return True
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


NO_DISPLAY_MESSAGE = (
    "irrep-studio: no display found (DISPLAY is not set). Run the window under a virtual "
    "screen with `xvfb-run -a ./start.sh`, or use the headless commands "
    "(`./start.sh --help` lists them all, e.g. train, agf, sweep, snapshot, video)."
)


def launch(argv: list[str]) -> int:
    if "-h" in argv or "--help" in argv:  # the window's options, display or not
        from gui.app import build_parser

        build_parser().print_help()
        return 0
    wants_screenshot = "--screenshot" in argv
    if not display_available():
        if wants_screenshot:
            os.environ["QT_QPA_PLATFORM"] = "offscreen"
        else:
            print(NO_DISPLAY_MESSAGE, file=sys.stderr)
            return 1
    from gui.app import run_app

    return run_app(argv)
