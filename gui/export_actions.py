"""The window's File menu: export snapshot (Ctrl+E), save session (Ctrl+S), open session
(Ctrl+O), open a run directory, export video.

``install_export_actions(window)`` adds the actions and the menu to a MainWindow and
returns the ExportActions object (also kept as ``window.export_actions``); called again
on the same window, it returns that object and adds nothing. Each action
opens its dialog; called with its arguments it runs without one (scripts and tests).
Problems are shown in words (status bar and a message box) and never lose anything: the
files are written atomically, and an open that fails leaves the current run as it was.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PyQt6.QtCore import QObject, Qt
from PyQt6.QtGui import QAction
from PyQt6.QtWidgets import QFileDialog, QMainWindow, QMessageBox

from backend.config import RunConfig
from backend.errors import UserError
from backend.session_file import (
    SESSION_SUFFIX,
    history_from_record,
    load_recorded_run,
    save_session,
)
from gui.export.dialogs import (
    WHOLE_WINDOW,
    ExportProgress,
    SnapshotChoice,
    SnapshotDialog,
    VideoChoice,
    VideoDialog,
)
from gui.export.output_files import ExportCancelled, ExportError
from gui.export.snapshot import save_picture, save_state
from gui.export.state_request import request_trainer_state
from gui.export.video import VideoRequest, VideoResult, parse_size, write_video
from gui.run_record import RunRecord
from gui.window_actions import window_action

SESSION_FILTER = f"Irrep Studio session (*{SESSION_SUFFIX});;All files (*)"


class ExportActions(QObject):
    """The export and session actions of one MainWindow."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.folder = Path.home()
        self.last_error = ""
        self.snapshot_action = self._action("Export snapshot…", "Ctrl+E",
                                            "Save the window or a view as PNG or SVG, or the "
                                            "weights and metrics as .npz", self.export_snapshot)
        self.save_action = self._action("Save session…", "Ctrl+S",
                                        "Save configuration, weights and recorded history in "
                                        "one file", self.save_session)
        self.open_action = self._action("Open session…", "Ctrl+O",
                                        "Open a saved session and replay its history",
                                        self.open_session)
        self.open_run_action = self._action("Open run directory…", None,
                                            "Open a run recorded with `train --out DIR`",
                                            self.open_run_directory)
        self.video_action = self._action("Export video…", "Ctrl+Shift+E",
                                         "Render the recorded history as MP4 or GIF",
                                         self.export_video)
        self.csv_action = self._action("Export series as CSV…", None,
                                       "Save every recorded scalar series and the orbit "
                                       "counts of every snapshot as one CSV table",
                                       self.export_csv)
        self.menu = self._install_menu()

    # ------------------------------------------------------------------ building
    def _action(self, text: str, shortcut: str | None, tip: str, slot) -> QAction:
        return window_action(self.window, text, shortcut, tip, slot)

    def _install_menu(self):
        bar = self.window.menuBar()
        existing = bar.actions()
        menu = bar.addMenu("&File")
        if existing:  # File comes first
            bar.insertMenu(existing[0], menu)
        for action in (self.open_action, self.open_run_action, self.save_action):
            menu.addAction(action)
        menu.addSeparator()
        menu.addAction(self.snapshot_action)
        menu.addAction(self.video_action)
        menu.addAction(self.csv_action)
        return menu

    # ------------------------------------------------------------------ snapshot
    def export_snapshot(self, choice: SnapshotChoice | None = None) -> list[Path] | None:
        """Write the chosen view as PNG/SVG, or the state as .npz + .json."""
        if choice is None:
            targets = [(key, getattr(panel, "title", key) or key)
                       for key, panel in self.window.panels.items()]
            dialog = SnapshotDialog(targets, self.folder, self.window)
            if dialog.exec() != SnapshotDialog.DialogCode.Accepted:
                return None
            choice = dialog.choice()
        try:
            if choice.path.suffix.lower() == ".npz":
                written = list(self._save_state(choice.path))
            else:
                widget = self.window if choice.target == WHOLE_WINDOW else \
                    self.window.panels[choice.target]
                written = [save_picture(widget, choice.path, choice.scale)]
        except UserError as error:
            return self._fail(str(error))
        self._done(f"Saved {', '.join(str(p) for p in written)}", written[0])
        return written

    def _save_state(self, path: Path):
        context = self._context()
        snapshot = self.window.record.snapshot_at(self._shown_step())
        state = request_trainer_state(self.window.worker)
        config = _config_of(state, context.config)
        return save_state(path, config, state, snapshot, context.orbit_labels)

    # ------------------------------------------------------------------ CSV
    def export_csv(self, path: str | Path | None = None) -> Path | None:
        """Write the recorded scalar series and orbit counts as one CSV table."""
        if path is None:
            name, _ = QFileDialog.getSaveFileName(
                self.window, "Export series as CSV", str(self.folder / "series.csv"),
                "CSV table (*.csv);;All files (*)")
            if not name:
                return None
            path = Path(name)
            if not path.suffix:
                path = path.with_suffix(".csv")
        try:
            from backend.csv_export import write_history_csv

            context = self._context()
            written = write_history_csv(Path(path), self.window.record.history,
                                        context.orbit_labels)
        except (UserError, OSError) as error:
            return self._fail(f"could not write the CSV table {path}: {error}")
        self._done(f"Saved the recorded series to {written}", written)
        return written

    # ------------------------------------------------------------------ sessions
    def save_session(self, path: str | Path | None = None) -> Path | None:
        """Save configuration, weights and the recorded history in one file."""
        if path is None:
            name, _ = QFileDialog.getSaveFileName(
                self.window, "Save session", str(self.folder / f"session{SESSION_SUFFIX}"),
                SESSION_FILTER)
            if not name:
                return None
            path = Path(name)
            if not path.suffix:
                path = path.with_suffix(SESSION_SUFFIX)
        try:
            context = self._context()
            state = request_trainer_state(self.window.worker)
            record = self.window.record
            history = history_from_record(record.loss_curve(), list(record.snapshots),
                                          (record.history.accuracies.steps,
                                           record.history.accuracies.values.reshape(-1)))
            written = save_session(Path(path), _config_of(state, context.config), state,
                                   history)
        except UserError as error:
            return self._fail(str(error))
        self._done(f"Saved the session to {written}", written)
        return written

    def open_session(self, path: str | Path | None = None) -> bool:
        """Open a session file (or a run directory) and show its history and weights."""
        if path is None:
            name, _ = QFileDialog.getOpenFileName(self.window, "Open session",
                                                  str(self.folder), SESSION_FILTER)
            if not name:
                return False
            path = name
        return self._open(Path(path))

    def open_run_directory(self, path: str | Path | None = None) -> bool:
        """Open a run directory recorded headless and replay it."""
        if path is None:
            name = QFileDialog.getExistingDirectory(self.window, "Open run directory",
                                                    str(self.folder))
            if not name:
                return False
            path = name
        return self._open(Path(path))

    def _open(self, path: Path) -> bool:
        try:
            session = load_recorded_run(path)
            if session.state is None:
                raise ExportError(f"{path} holds no weights (no checkpoint), so it cannot be "
                                  "continued; its history can still be rendered with "
                                  "`python main.py video`")
        except UserError as error:
            self._fail(str(error))
            return False
        self.window.open_run(session.config, session.state, session.history)
        self._done(f"Opened {path}", path)
        return True

    # ------------------------------------------------------------------ video
    def export_video(self, choice: VideoChoice | None = None,
                     progress: Any = None) -> VideoResult | None:
        """Render the recorded history offscreen to MP4 or GIF, with a progress dialog."""
        record = self.window.record
        if not len(record):
            return self._fail("there is no recorded history to render yet; train a few steps")
        steps = record.snapshot_steps
        if choice is None:
            dialog = VideoDialog(int(steps[0]), int(steps[-1]), self.folder, self.window)
            if dialog.exec() != VideoDialog.DialogCode.Accepted:
                return None
            choice = dialog.choice()
        owned_progress = progress is None
        try:
            context = self._context()
            request = VideoRequest(path=choice.path, first_step=choice.first_step,
                                   last_step=choice.last_step, fps=choice.fps,
                                   size=parse_size(choice.size), layout=choice.layout)
            if owned_progress:
                progress = ExportProgress("Exporting video", self.window)
            result = write_video(context, _frozen_copy(record), request, progress)
        except ExportCancelled:
            self._note("Video export cancelled; no file was written.")
            return None
        except UserError as error:
            return self._fail(str(error))
        finally:
            if owned_progress and progress is not None:
                progress.close()
        self._done(f"Saved {result.frames} frames to {result.path}", result.path)
        return result

    # ------------------------------------------------------------------ helpers
    def _context(self):
        context = getattr(self.window, "context", None)
        if context is None:
            raise ExportError("no run is loaded yet; wait until the views show a run")
        return context

    def _shown_step(self) -> int | None:
        shown = getattr(self.window, "shown_step", None)
        return shown() if callable(shown) else None

    def _fail(self, message: str) -> None:
        self.last_error = message
        self.window.show_error(message)
        box = QMessageBox(QMessageBox.Icon.Warning, "Irrep Studio", message,
                          QMessageBox.StandardButton.Ok, self.window)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()
        return None

    def _note(self, message: str) -> None:
        self.window.statusBar().showMessage(message, 10_000)

    def _done(self, message: str, path: Path) -> None:
        self.last_error = ""
        folder = Path(path).parent
        if folder.is_dir():
            self.folder = folder
        self._note(message)


def install_export_actions(window: QMainWindow) -> ExportActions:
    """Add the File menu with the export and session actions to ``window``, once: a window
    that has them already keeps its one File menu, and its actions are returned."""
    installed = getattr(window, "export_actions", None)
    if isinstance(installed, ExportActions):
        return installed
    actions = ExportActions(window)
    window.export_actions = actions
    return actions


def _config_of(state: dict, fallback: Any) -> Any:
    """The configuration that belongs to ``state`` (it carries its own copy)."""
    values = state.get("config") if isinstance(state, dict) else None
    if isinstance(values, dict):
        try:
            return RunConfig.from_dict(values)
        except UserError:
            pass
    return fallback


def _frozen_copy(record: RunRecord) -> RunRecord:
    """A copy of the window's record that live training cannot change while rendering."""
    copy = RunRecord(max_snapshots=max(len(record), 8))
    steps, losses = record.loss_curve()
    copy.add_losses(steps.copy(), losses.copy())
    for snapshot in list(record.snapshots):
        copy.add_snapshot(snapshot)
    return copy
