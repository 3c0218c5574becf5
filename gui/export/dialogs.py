"""Dialogs of the export actions: what to snapshot, how to render a video, and a progress
dialog with Cancel. The dialogs only collect choices; the export modules do the work."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QApplication,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QProgressDialog,
    QPushButton,
    QSpinBox,
    QWidget,
)

from gui.export.frame_layouts import DEFAULT_LAYOUT, LAYOUTS

WHOLE_WINDOW = "window"
FORMATS = (("PNG picture (*.png)", ".png"), ("SVG drawing (*.svg)", ".svg"),
           ("State: weights and metrics (*.npz + .json)", ".npz"))
VIDEO_SIZES = ("1280x720", "1920x1080", "960x540", "640x360")


def _path_row(parent: QWidget, edit: QLineEdit, browse) -> QHBoxLayout:
    row = QHBoxLayout()
    row.addWidget(edit, 1)
    button = QPushButton("Browse…", parent)
    button.clicked.connect(browse)
    row.addWidget(button)
    return row


@dataclass
class SnapshotChoice:
    target: str  # WHOLE_WINDOW or a panel key
    path: Path
    scale: float


class SnapshotDialog(QDialog):
    """Choose the view (whole window or one panel), the format, the scale and the file."""

    def __init__(self, targets: list[tuple[str, str]], folder: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export snapshot")
        self.folder = folder
        form = QFormLayout(self)
        self.target_box = QComboBox()
        self.target_box.addItem("Whole window", WHOLE_WINDOW)
        for key, title in targets:
            self.target_box.addItem(title, key)
        self.target_box.setToolTip("What to export: the whole window or one view")
        form.addRow("View", self.target_box)
        self.format_box = QComboBox()
        for label, suffix in FORMATS:
            self.format_box.addItem(label, suffix)
        self.format_box.setToolTip("PNG: a picture; SVG: vector plots; State: the weights and "
                                   "current metrics as .npz with a .json side file")
        self.format_box.currentIndexChanged.connect(self._format_changed)
        form.addRow("Format", self.format_box)
        self.scale_spin = QDoubleSpinBox()
        self.scale_spin.setRange(0.25, 8.0)
        self.scale_spin.setSingleStep(0.5)
        self.scale_spin.setValue(2.0)
        self.scale_spin.setSuffix(" ×")
        self.scale_spin.setToolTip("PNG resolution relative to the screen (2 = twice as sharp)")
        form.addRow("Scale", self.scale_spin)
        self.path_edit = QLineEdit(str(folder / "irrep-studio.png"))
        form.addRow("File", _path_row(self, self.path_edit, self._browse))
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    def _format_changed(self) -> None:
        suffix = self.format_box.currentData()
        self.scale_spin.setEnabled(suffix == ".png")
        self.target_box.setEnabled(suffix != ".npz")
        path = Path(self.path_edit.text() or "irrep-studio")
        self.path_edit.setText(str(path.with_suffix(suffix)))

    def _browse(self) -> None:
        label = self.format_box.currentText()
        name, _ = QFileDialog.getSaveFileName(self, "Export snapshot", self.path_edit.text(),
                                              label)
        if name:
            self.path_edit.setText(name)

    def choice(self) -> SnapshotChoice:
        return SnapshotChoice(target=self.target_box.currentData(),
                              path=Path(self.path_edit.text().strip()).expanduser(),
                              scale=float(self.scale_spin.value()))


@dataclass
class VideoChoice:
    path: Path
    first_step: int
    last_step: int
    fps: float
    size: str
    layout: str


class VideoDialog(QDialog):
    """Choose the file, the step range, the frame rate, the size and the panel layout."""

    def __init__(self, first_step: int, last_step: int, folder: Path,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export video")
        form = QFormLayout(self)
        self.path_edit = QLineEdit(str(folder / "irrep-studio.mp4"))
        self.path_edit.setToolTip("End the name with .mp4 (H.264) or .gif")
        form.addRow("File", _path_row(self, self.path_edit, self._browse))
        self.from_spin = self._step_spin(first_step, last_step, first_step)
        self.to_spin = self._step_spin(first_step, last_step, last_step)
        form.addRow("From step", self.from_spin)
        form.addRow("To step", self.to_spin)
        self.fps_spin = QSpinBox()
        self.fps_spin.setRange(1, 120)
        self.fps_spin.setValue(30)
        self.fps_spin.setSuffix(" frames/s")
        self.fps_spin.setToolTip("One frame per recorded moment in the range")
        form.addRow("Frame rate", self.fps_spin)
        self.size_box = QComboBox()
        self.size_box.setEditable(True)
        self.size_box.addItems(VIDEO_SIZES)
        self.size_box.setToolTip("WIDTHxHEIGHT in pixels, multiples of 8")
        form.addRow("Size", self.size_box)
        self.layout_box = QComboBox()
        for name, layout in LAYOUTS.items():
            self.layout_box.addItem(name, name)
            self.layout_box.setItemData(self.layout_box.count() - 1, layout.description,
                                        Qt.ItemDataRole.ToolTipRole)
        self.layout_box.setCurrentIndex(list(LAYOUTS).index(DEFAULT_LAYOUT))
        form.addRow("Layout", self.layout_box)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Save
                                   | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        form.addRow(buttons)

    @staticmethod
    def _step_spin(low: int, high: int, value: int) -> QSpinBox:
        spin = QSpinBox()
        spin.setRange(int(low), max(int(high), int(low)))
        spin.setValue(int(value))
        spin.setGroupSeparatorShown(True)
        return spin

    def _browse(self) -> None:
        name, _ = QFileDialog.getSaveFileName(self, "Export video", self.path_edit.text(),
                                              "MP4 video (*.mp4);;GIF animation (*.gif)")
        if name:
            self.path_edit.setText(name)

    def choice(self) -> VideoChoice:
        return VideoChoice(path=Path(self.path_edit.text().strip()).expanduser(),
                           first_step=int(self.from_spin.value()),
                           last_step=int(self.to_spin.value()),
                           fps=float(self.fps_spin.value()),
                           size=self.size_box.currentText(),
                           layout=str(self.layout_box.currentData()))


class ExportProgress:
    """A modal progress dialog with Cancel; call it as ``progress(done, total) -> bool``."""

    def __init__(self, title: str, parent: QWidget | None = None) -> None:
        self.dialog = QProgressDialog(title, "Cancel", 0, 1, parent)
        self.dialog.setWindowTitle(title)
        self.dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.dialog.setMinimumDuration(0)
        self.dialog.setAutoClose(False)
        self.dialog.setAutoReset(False)

    def __call__(self, done: int, total: int) -> bool:
        self.dialog.setMaximum(max(int(total), 1))
        self.dialog.setValue(int(done))
        self.dialog.setLabelText(f"Rendering frame {done:,} of {total:,}…")
        QApplication.processEvents()
        return not self.dialog.wasCanceled()

    def cancel(self) -> None:
        """Press Cancel (as the user would)."""
        self.dialog.cancel()

    def close(self) -> None:
        self.dialog.close()
        self.dialog.deleteLater()
