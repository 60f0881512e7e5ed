"""The message line of the Templates tab: a plain-text banner above the list and above the editor."""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QLabel, QWidget

from ..style import ERROR, WARNING

BANNER_STYLES = {
    "error": f"color: {ERROR}; background: #fdf0f0; border: 1px solid #f0c4c4;",
    "warning": f"color: {WARNING}; background: #fef7ec; border: 1px solid #f3d9a9;",
    "info": "color: #181818; background: #eef4fb; border: 1px solid #c7dcf3;",
}
"""The banner's colours per level ("error", "warning", "info")."""


class MessageBanner(QLabel):
    """A selectable, word-wrapped line of plain text coloured by level; hidden while it says nothing."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setWordWrap(True)
        self.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.hide()

    def show_message(self, text: str, level: str = "info") -> None:
        """Show ``text`` in the colours of ``level`` (unknown levels: "info"); empty text hides it."""
        self.setVisible(bool(text))
        self.setText(text)
        self.setStyleSheet(BANNER_STYLES.get(level, BANNER_STYLES["info"]) + " border-radius: 4px; padding: 6px 8px;")

    @property
    def message(self) -> str:
        """The text shown ("" while hidden)."""
        return self.text() if self.isVisible() else ""
