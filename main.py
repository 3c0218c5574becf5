"""Irrep Studio entry point.

No arguments (or only window options such as ``--preset``) opens the app; a sub-command
runs headless: ``group``, ``train``, ``presets``, ``agf``, ``snapshot``, ``sweep``,
``sweep-report``. ``open RUN`` opens a recorded run (a run directory or a session file) in
the window; ``video`` renders a recorded run without a display.
"""

from __future__ import annotations

import sys

import backend  # noqa: F401  - first: it sets NumPy's thread pool before NumPy loads

WINDOW_COMMANDS = {"open"}
QT_HEADLESS_COMMANDS = {"video", "snapshot"}


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    first = args[0] if args else None
    if first is None or first.startswith("-") or first in WINDOW_COMMANDS:
        if first in ("-h", "--help") and len(args) == 1:
            from backend.cli import main as headless_main

            return headless_main(args)
        from gui.launch import launch

        return launch(args)
    if first == "sweep-report":
        from gui.sweeps.report_command import run_sweep_report

        return run_sweep_report(args)
    if first in QT_HEADLESS_COMMANDS:
        from gui.commands import run_qt_command

        return run_qt_command(args)
    from backend.cli import main as headless_main

    return headless_main(args)


if __name__ == "__main__":
    sys.exit(main())
