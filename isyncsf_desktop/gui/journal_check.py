"""Before the window: a job journal that cannot be read is shown to the user, never started over silently.

The journal holds every job (what can still be rolled back). When it is damaged (not an SQLite file, empty,
truncated, unreadable pages) the app says so, names the file, and offers to move it aside (renamed, never
deleted) and start a new journal, or to quit and leave everything as it is.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtWidgets import QMessageBox

from .. import paths
from ..engine.journal import Journal, JournalDamaged, move_aside

logger = logging.getLogger(__name__)


def ask_to_move_aside(damaged: JournalDamaged) -> bool:
    """The question, as a message box: True when the user chose to move the journal aside."""
    box = QMessageBox(QMessageBox.Icon.Critical, "iSyncSF Desktop", f"The job journal cannot be read: {damaged.what}.")
    box.setInformativeText(
        f"File: {damaged.path}\n\nIt was left untouched. You can move it aside (it is renamed with "
        "'.damaged-' and the time, never deleted, for a backup or support to look at) and start with a new "
        "journal: the jobs it held will no longer be listed, so they cannot be rolled back from this app. "
        "Or quit and restore the file from a backup first.")
    move = box.addButton("Move Aside and Start", QMessageBox.ButtonRole.AcceptRole)
    quit_button = box.addButton("Quit", QMessageBox.ButtonRole.RejectRole)
    box.setDefaultButton(quit_button)
    box.setEscapeButton(quit_button)
    box.exec()
    return box.clickedButton() is move


def journal_ready(path: Path | None = None, ask: Callable[[JournalDamaged], bool] | None = None) -> bool:
    """True when the journal at ``path`` opens (or was moved aside at the user's word); False: quit."""
    path = path or paths.journal_path()
    try:
        Journal(path).close()
        return True
    except JournalDamaged as damaged:
        logger.error("%s", damaged)
        if ask is None or not ask(damaged):
            return False
    moved = move_aside(path)
    logger.warning("the damaged journal was moved to %s; a new journal starts", moved)
    return True


__all__ = ["ask_to_move_aside", "journal_ready"]
