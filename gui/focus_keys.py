"""Keys that act on the window whatever widget has the focus.

A focused field normally swallows the keys it could type (Space, letters, arrows), so a
shortcut such as Space (start/pause) or D (next drop) would type into the last field
edited instead of acting. This filter lets the window's single-key shortcuts through:

- fields that take numbers (spin boxes, and line edits marked ``numeric``) never type
  Space or the letters of a shortcut, so the shortcut acts;
- text fields (the group spec, other keys) keep typing; Escape leaves any field, and
  from then on every shortcut acts;
- buttons, check boxes, lists and sliders never take a shortcut key for themselves.
"""

from __future__ import annotations

from PyQt6.QtCore import QEvent, QObject, Qt
from PyQt6.QtGui import QKeyEvent, QKeySequence
from PyQt6.QtWidgets import (
    QAbstractSpinBox,
    QApplication,
    QComboBox,
    QLineEdit,
    QMainWindow,
    QPlainTextEdit,
    QTextEdit,
    QWidget,
)

NUMERIC = "numeric"  # property of a QLineEdit that holds a number


def key_sequence(event: QKeyEvent) -> QKeySequence:
    """The key sequence of one key press, with its modifiers (keypad flag dropped)."""
    modifiers = event.modifiers() & ~Qt.KeyboardModifier.KeypadModifier
    return QKeySequence(event.keyCombination().key().value | modifiers.value)


def is_text_field(widget: QWidget | None) -> bool:
    """Whether ``widget`` takes free text (letters and spaces are its input)."""
    if widget is None:
        return False
    if isinstance(widget, (QTextEdit, QPlainTextEdit)):
        return True
    if isinstance(widget, QLineEdit):
        parent = widget.parentWidget()
        if isinstance(parent, QAbstractSpinBox):
            return False
        if isinstance(parent, QComboBox) and parent.isEditable():
            return True
        return not bool(widget.property(NUMERIC))
    return False


class WindowKeys(QObject):
    """Application event filter giving ``window``'s single-key shortcuts priority over
    the focused widget, and making Escape leave a field (see the module)."""

    def __init__(self, window: QMainWindow) -> None:
        super().__init__(window)
        self.window = window
        QApplication.instance().installEventFilter(self)

    def _shortcuts(self) -> set[str]:
        keys = set()
        for action in self.window.actions():
            if action.isEnabled():
                for sequence in action.shortcuts():
                    keys.add(sequence.toString())
        return keys

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt
        kind = event.type()
        if kind not in (QEvent.Type.ShortcutOverride, QEvent.Type.KeyPress):
            return False
        if not isinstance(watched, QWidget) or watched.window() is not self.window:
            return False
        focus = QApplication.focusWidget()
        if focus is None or watched is not focus:
            return False
        if kind == QEvent.Type.KeyPress:
            if event.key() == Qt.Key.Key_Escape and event.modifiers() == \
                    Qt.KeyboardModifier.NoModifier and _is_field(focus):
                self.leave_field()
                return True
            return False
        if is_text_field(focus):
            return False  # typing wins; Escape leaves the field first
        if key_sequence(event).toString() in self._shortcuts():
            event.ignore()  # not overridden: the shortcut map takes the key
            return True
        return False

    def leave_field(self) -> None:
        """Move the focus off the field to the window's central view."""
        target = self.window.centralWidget() or self.window
        target.setFocus(Qt.FocusReason.ShortcutFocusReason)

    def detach(self) -> None:
        app = QApplication.instance()
        if app is not None:
            app.removeEventFilter(self)


def _is_field(widget: QWidget) -> bool:
    return isinstance(widget, (QLineEdit, QAbstractSpinBox, QTextEdit, QPlainTextEdit,
                               QComboBox))
