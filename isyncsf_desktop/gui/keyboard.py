"""Keyboard use of the whole window: Tab walks every control and leaves tables (the arrow keys move inside
them), Enter or Return presses a focused push button as Space does, and the focused control shows a ring
(the ``:focus`` rules of :data:`~isyncsf_desktop.gui.style.STYLE_SHEET`)."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import QAbstractItemView, QPushButton, QWidget


def keyboard_friendly(root: QWidget) -> None:
    """Make every item view and push button under ``root`` work from the keyboard as described above.

    Item views take Tab for moving between their cells by default, which traps the focus inside them
    (Tab, Shift+Tab and Ctrl+Tab all wrap there); a push button outside a dialog ignores Enter unless
    it is an auto-default one."""
    for view in root.findChildren(QAbstractItemView):
        view.setTabKeyNavigation(False)
    for button in root.findChildren(QPushButton):
        button.setAutoDefault(True)


__all__ = ["keyboard_friendly", "widget_shortcut"]


def widget_shortcut(key: QKeySequence, widget: QWidget, slot: Callable[[], object]) -> QShortcut:
    """A shortcut of ``widget`` alone (while it has focus). PySide6's ``QShortcut(key, parent, slot, context)``
    ignores the context and makes a window-wide one: two pages' Delete in one window were then ambiguous, and
    neither fired."""
    shortcut = QShortcut(key, widget)
    shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
    shortcut.activated.connect(slot)
    return shortcut
