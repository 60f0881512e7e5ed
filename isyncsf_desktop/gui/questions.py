"""Yes/No questions that do not block: shown window-modal with ``open()`` (no nested event loop), so the
work they are about goes on while they are open, and the code that asked can close or reword them when
that work ends first."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtWidgets import QMessageBox, QWidget


def ask_without_blocking(parent: QWidget, title: str, text: str,
                         on_answer: Callable[[QMessageBox, bool], None]) -> QMessageBox:
    """Ask ``text`` (No is the default); ``on_answer(box, yes)`` runs once the box closes, however it closes
    (a button, Escape, or ``box.reject()`` from the code), after which the box deletes itself."""
    box = QMessageBox(QMessageBox.Icon.Question, title, text,
                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, parent)
    box.setDefaultButton(QMessageBox.StandardButton.No)

    def answered(_result: int) -> None:
        box.deleteLater()
        on_answer(box, box.standardButton(box.clickedButton()) == QMessageBox.StandardButton.Yes)

    box.finished.connect(answered)
    box.open()
    return box


__all__ = ["ask_without_blocking"]
