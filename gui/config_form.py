"""The configuration controls: group spec (checked as you type), model and regime choices.

The form edits a RunConfig. Allowed values and the tooltips come from the configuration's
own key descriptions, so the form and the command line always agree. Nothing is applied
until the configuration validates; a problem is shown in red under the form.
"""

from __future__ import annotations

import math
from typing import Any

from PyQt6.QtCore import QTimer, pyqtSignal
from PyQt6.QtWidgets import (
    QComboBox,
    QFormLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from backend.config import RunConfig, key_help
from backend.errors import UserError

VALIDATE_DELAY_MS = 250
CHOICE_KEYS = ("encoding", "activation", "parameterisation", "loss", "optimiser", "device")
LABELS = {
    "group": "Group",
    "encoding": "Encoding",
    "width": "Width M",
    "activation": "Activation σ",
    "parameterisation": "Regime",
    "loss": "Loss",
    "optimiser": "Optimiser",
    "learning_rate": "Learning rate η",
    "init_scale": "Initial scale α",
    "seed": "Seed",
    "device": "Device",
}


def parse_group_spec(spec: str) -> Any:
    """Parse a group spec with the backend (raises UserError with the reason)."""
    from backend.groups.spec import parse_group

    return parse_group(spec)


def cuda_available() -> bool:
    """True when torch can see a CUDA device."""
    try:
        import torch

        return bool(torch.cuda.is_available())
    except Exception:  # a broken CUDA setup just means: no CUDA
        return False


class ConfigForm(QWidget):
    """Edits the keys a researcher changes most; other keys via ``key=value`` overrides."""

    config_applied = pyqtSignal(object)  # a validated RunConfig
    learning_rate_changed = pyqtSignal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.base_config = RunConfig()
        helps = {key: (text, allowed) for key, _default, text, allowed in key_help()}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        form = QFormLayout()
        form.setVerticalSpacing(5)
        layout.addLayout(form)

        self.group_edit = QLineEdit()
        self.group_edit.setPlaceholderText("C12, D5, S4, A5, C7:C3, C3xC5…")
        self.group_edit.setToolTip(helps["group"][0])
        self.group_edit.textEdited.connect(self._group_edited)
        self.group_status = QLabel("")
        self.group_status.setObjectName("hint")
        self.group_status.setWordWrap(True)
        wrap_within_width(self.group_status)
        form.addRow(LABELS["group"], self.group_edit)
        form.addRow("", self.group_status)
        self._group_timer = QTimer(self)
        self._group_timer.setSingleShot(True)
        self._group_timer.setInterval(VALIDATE_DELAY_MS)
        self._group_timer.timeout.connect(self.validate_group)

        self.choices: dict[str, QComboBox] = {}
        for key in CHOICE_KEYS:
            box = QComboBox()
            text, allowed = helps[key]
            for value in allowed or ():
                if key == "device" and value == "cuda":
                    continue  # offered once PyTorch is loaded: see offer_cuda
                box.addItem(value)
            box.setToolTip(text)
            box.currentIndexChanged.connect(self._edited)
            self.choices[key] = box
        self.width_spin = QSpinBox()
        self.width_spin.setRange(1, 65536)
        self.width_spin.setToolTip(helps["width"][0])
        self.width_spin.valueChanged.connect(self._edited)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip(helps["seed"][0])
        self.seed_spin.valueChanged.connect(self._edited)
        self.lr_edit = QLineEdit()
        self.lr_edit.setToolTip(helps["learning_rate"][0] + " — changes apply while training "
                                "when you press Enter.")
        self.lr_edit.editingFinished.connect(self._learning_rate_entered)
        self.init_edit = QLineEdit()
        self.init_edit.setToolTip(helps["init_scale"][0])
        self.init_edit.textEdited.connect(self._edited)

        form.addRow(LABELS["encoding"], self.choices["encoding"])
        form.addRow(LABELS["width"], self.width_spin)
        form.addRow(LABELS["activation"], self.choices["activation"])
        form.addRow(LABELS["parameterisation"], self.choices["parameterisation"])
        form.addRow(LABELS["loss"], self.choices["loss"])
        form.addRow(LABELS["optimiser"], self.choices["optimiser"])
        form.addRow(LABELS["learning_rate"], self.lr_edit)
        form.addRow(LABELS["init_scale"], self.init_edit)
        form.addRow(LABELS["seed"], self.seed_spin)
        form.addRow(LABELS["device"], self.choices["device"])

        self.overrides_edit = QLineEdit()
        self.overrides_edit.setPlaceholderText("momentum=0.9 weight_decay=1e-4")
        self.overrides_edit.setToolTip(
            "Any other configuration keys as key=value, separated by spaces "
            "(the same syntax as --set on the command line).")
        self.overrides_edit.textEdited.connect(self._edited)
        form.addRow("Other keys", self.overrides_edit)

        self.apply_button = QPushButton("Apply and reset")
        self.apply_button.setObjectName("primary")
        self.apply_button.setToolTip("Build a new run from these settings (Ctrl+Return).")
        self.apply_button.clicked.connect(self.apply)
        layout.addWidget(self.apply_button)
        self.problem = QLabel("")
        self.problem.setObjectName("error")
        self.problem.setWordWrap(True)
        wrap_within_width(self.problem)
        layout.addWidget(self.problem)
        layout.addStretch(1)
        self._filling = False

    def offer_cuda(self) -> None:
        """Add "cuda" to the device choices when PyTorch sees a GPU. Called once a run is
        built: asking earlier would load PyTorch before the window shows (about 1 s)."""
        box = self.choices["device"]
        if box.findText("cuda") < 0 and cuda_available():
            box.addItem("cuda")

    # ----------------------------------------------------------------- filling
    def set_config(self, config: RunConfig) -> None:
        """Show ``config`` in the form (the base for keys the form does not show)."""
        self._filling = True
        try:
            self.base_config = config
            self.group_edit.setText(config.group)
            for key, box in self.choices.items():
                value = getattr(config, key)
                if box.findText(value) < 0:
                    box.addItem(value)
                box.setCurrentText(value)
            self.width_spin.setValue(int(config.width))
            self.seed_spin.setValue(int(config.seed))
            self.lr_edit.setText(_number_text(config.learning_rate))
            self.init_edit.setText(_number_text(config.init_scale))
            self.overrides_edit.clear()
            self.problem.clear()
            self._show_group_status("", ok=True)
            self.apply_button.setProperty("dirty", False)
            self._restyle(self.apply_button)
        finally:
            self._filling = False
        self.validate_group()

    # ----------------------------------------------------------------- reading
    def build_config(self) -> RunConfig:
        """The configuration the form describes (raises UserError naming the problem)."""
        changes: dict[str, Any] = {"group": self.group_edit.text().strip()}
        for key, box in self.choices.items():
            changes[key] = box.currentText()
        changes["width"] = int(self.width_spin.value())
        changes["seed"] = int(self.seed_spin.value())
        changes["learning_rate"] = _read_number(self.lr_edit.text(), "learning rate")
        changes["init_scale"] = _read_number(self.init_edit.text(), "initial scale")
        config = self.base_config.replace(**changes)
        overrides = self.overrides_edit.text().split()
        if overrides:
            config = config.with_overrides(overrides)
        return config

    def apply(self) -> RunConfig | None:
        """Validate and, when it passes, emit the configuration; else show the problem."""
        if not self.validate_group():
            self.problem.setText("Fix the group spec first.")
            return None
        try:
            config = self.build_config()
        except UserError as error:
            self.problem.setText(str(error))
            return None
        self.problem.clear()
        self.base_config = config
        self.apply_button.setProperty("dirty", False)
        self._restyle(self.apply_button)
        self.config_applied.emit(config)
        return config

    # ----------------------------------------------------------------- checks
    def validate_group(self) -> bool:
        """Parse the group spec now; show its order or the parse error under the field."""
        self._group_timer.stop()
        spec = self.group_edit.text().strip()
        if not spec:
            self._show_group_status("Type a group spec, e.g. C12, D5, S4, A5 or C7:C3.",
                                    ok=False)
            return False
        try:
            group = parse_group_spec(spec)
        except UserError as error:
            self._show_group_status(str(error), ok=False)
            return False
        except ImportError:
            self._show_group_status("", ok=True)
            return True
        kind = "abelian" if getattr(group, "is_abelian", False) else "non-abelian"
        self._show_group_status(f"order {group.order}, {kind}", ok=True)
        return True

    def _show_group_status(self, text: str, ok: bool) -> None:
        self.group_status.setText(text)
        self.group_status.setObjectName("hint" if ok else "error")
        self.group_edit.setProperty("invalid", not ok)
        self._restyle(self.group_status)
        self._restyle(self.group_edit)

    def _group_edited(self, _text: str) -> None:
        self._group_timer.start()
        self._edited()

    def _edited(self, *_args) -> None:
        if self._filling:
            return
        self.apply_button.setProperty("dirty", True)
        self._restyle(self.apply_button)

    def _learning_rate_entered(self) -> None:
        if self._filling:
            return
        try:
            value = _read_number(self.lr_edit.text(), "learning rate")
        except UserError as error:
            self.problem.setText(str(error))
            return
        if value <= 0:
            self.problem.setText("The learning rate must be positive, e.g. 0.01.")
            return
        self.problem.clear()
        if value != self.base_config.learning_rate:
            self.base_config = self.base_config.replace(learning_rate=value)
            self.learning_rate_changed.emit(value)

    @staticmethod
    def _restyle(widget: QWidget) -> None:
        style = widget.style()
        style.unpolish(widget)
        style.polish(widget)


def wrap_within_width(label: QLabel) -> None:
    """A word-wrapped message that wraps to the form's width instead of widening the
    form (the settings dock is as wide as the fields need, whatever the message)."""
    policy = label.sizePolicy()
    policy.setHorizontalPolicy(QSizePolicy.Policy.Ignored)
    label.setSizePolicy(policy)


def _read_number(text: str, what: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise UserError(f"The {what} {text.strip()!r} is not a number; write e.g. 0.01 "
                        "or 1e-3.") from None
    if not math.isfinite(value):
        raise UserError(f"The {what} must be a finite number.")
    return value


def _number_text(value: float) -> str:
    return f"{value:.6g}"
