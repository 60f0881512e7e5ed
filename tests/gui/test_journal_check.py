"""The app meets a damaged journal: it asks (move aside and start, or quit), and never starts over in silence."""

from __future__ import annotations

import pytest
from PySide6.QtWidgets import QApplication, QMessageBox

from isyncsf_desktop import paths
from isyncsf_desktop.engine.journal import Journal, JournalDamaged
from isyncsf_desktop.gui.journal_check import ask_to_move_aside, journal_ready


@pytest.fixture
def damaged_journal():
    path = paths.journal_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\x00garbage" * 100)
    return path


@pytest.mark.expect_log
def test_quit_leaves_the_file_as_it_was(damaged_journal):
    asked = []
    assert journal_ready(ask=lambda damaged: asked.append(damaged) or False) is False
    assert len(asked) == 1 and asked[0].path == damaged_journal and "not an SQLite database" in asked[0].what
    assert damaged_journal.read_bytes() == b"\x00garbage" * 100


@pytest.mark.expect_log
def test_move_aside_then_the_app_starts_on_a_new_journal(damaged_journal):
    assert journal_ready(ask=lambda damaged: True) is True
    moved = list(damaged_journal.parent.glob("journal*.damaged-*"))
    assert len(moved) == 1 and moved[0].read_bytes() == b"\x00garbage" * 100
    with Journal(damaged_journal) as journal:
        assert journal.jobs() == []


@pytest.mark.expect_log
def test_without_anyone_to_ask_it_does_not_start(damaged_journal):
    assert journal_ready(ask=None) is False and damaged_journal.exists()


def test_a_readable_journal_asks_nothing():
    assert journal_ready(ask=lambda damaged: pytest.fail("asked about a readable journal")) is True


def test_the_question_names_the_file_and_defaults_to_quit(qapp, qtbot, damaged_journal, tmp_path):
    """The real message box, looked at and answered with the keyboard as a user would (Esc = Quit)."""
    from PySide6.QtCore import Qt, QTimer

    damaged = JournalDamaged(damaged_journal, "it is not an SQLite database")
    seen = {}

    def look_and_escape():
        box = QApplication.activeModalWidget()
        assert isinstance(box, QMessageBox)
        seen["text"] = box.text() + "\n" + box.informativeText()
        seen["default"] = box.defaultButton().text()
        box.grab().save(str(tmp_path / "journal-damaged.png"))
        qtbot.keyClick(box, Qt.Key.Key_Escape)

    QTimer.singleShot(0, look_and_escape)
    assert ask_to_move_aside(damaged) is False
    assert str(damaged_journal) in seen["text"] and "never deleted" in seen["text"]
    assert seen["default"] == "Quit"
