"""Window actions: a menu or toolbar command with its shortcut and tooltip."""

from __future__ import annotations

from collections.abc import Callable

from PyQt6.QtCore import Qt
from PyQt6.QtGui import QAction, QKeySequence
from PyQt6.QtWidgets import QWidget


def window_action(window: QWidget, text: str, shortcut: str | QKeySequence | None, tip: str,
                  slot: Callable[[], object]) -> QAction:
    """An action of ``window`` that calls ``slot()``; its shortcut works anywhere in the
    window and is named in the tooltip and the status bar tip."""
    action = QAction(text, window)
    if shortcut:
        action.setShortcut(QKeySequence(shortcut))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        tip = f"{tip} ({QKeySequence(shortcut).toString()})"
    action.setToolTip(tip)
    action.setStatusTip(tip)
    action.triggered.connect(lambda _checked=False: slot())
    window.addAction(action)
    return action
