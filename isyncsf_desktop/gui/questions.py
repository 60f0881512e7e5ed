"""The questions the pages ask. Most do not block: shown window-modal with ``open()`` (no nested event loop), so the
work they are about goes on while they are open, and the code that asked can close or reword them when that work
ends first. :func:`ask_yes_no` blocks, for a question asked before any work starts."""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox, QPushButton, QWidget

Button = str | QMessageBox.StandardButton
"""A button of a question: a standard one (Yes, No, Close, Cancel…) or a label of its own ("Preview &Again")."""


def _add_button(box: QMessageBox, button: Button, role: QMessageBox.ButtonRole) -> QPushButton:
    return box.addButton(button, role) if isinstance(button, str) else box.addButton(button)


def ask_without_blocking(parent: QWidget, title: str, text: str,
                         on_answer: Callable[[QMessageBox, bool], None], *,
                         yes: Button = QMessageBox.StandardButton.Yes, no: Button = QMessageBox.StandardButton.No,
                         icon: QMessageBox.Icon = QMessageBox.Icon.Question, default_yes: bool = False,
                         yes_tip: str = "", rich_text: bool = False) -> QMessageBox:
    """Ask ``text`` with two buttons, ``yes`` and ``no`` (standard buttons or labels of their own); ``no`` is the
    default unless ``default_yes``, and Escape is always ``no``. ``on_answer(box, yes)`` runs once the box closes,
    however it closes (a button, Escape, or ``box.reject()`` from the code), after which the box deletes itself.
    ``yes_tip`` is the tooltip of the ``yes`` button; ``rich_text`` shows ``text`` as HTML."""
    box = QMessageBox(icon, title, text, QMessageBox.StandardButton.NoButton, parent)
    if rich_text:
        box.setTextFormat(Qt.TextFormat.RichText)
    yes_button = _add_button(box, yes, QMessageBox.ButtonRole.AcceptRole)
    no_button = _add_button(box, no, QMessageBox.ButtonRole.RejectRole)
    if yes_tip:
        yes_button.setToolTip(yes_tip)
    box.setDefaultButton(yes_button if default_yes else no_button)
    box.setEscapeButton(no_button)

    def answered(_result: int) -> None:
        box.deleteLater()
        on_answer(box, box.clickedButton() is yes_button)

    box.finished.connect(answered)
    box.open()
    return box


def ask_yes_no(parent: QWidget, title: str, text: str) -> bool:
    """Ask ``text`` with Yes and No, No the default, and wait for the answer (True: Yes)."""
    answer = QMessageBox.question(parent, title, text, QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                  QMessageBox.StandardButton.No)
    return answer == QMessageBox.StandardButton.Yes


ROLL_BACK_TITLE = "Roll back this job?"


def rollback_question(job_id: int, target: str, inserted: int, restored: int) -> str:
    """The text of the question before a rollback, the same wherever it starts (the Execute tab, History)."""
    return (f"Roll back job #{job_id} in {target}?\n\n"
            f"• {inserted:,} record{'s' if inserted != 1 else ''} the job inserted will be deleted (children first).\n"
            f"• {restored:,} record{'s' if restored != 1 else ''} the job updated will be restored to the values "
            "saved before the sync.\n\n"
            "Records that no longer exist on the target are reported as errors. This cannot be undone.")


__all__ = ["Button", "ROLL_BACK_TITLE", "ask_without_blocking", "ask_yes_no", "rollback_question"]
