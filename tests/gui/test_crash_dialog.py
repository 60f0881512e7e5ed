"""Uncaught exceptions in any thread reach the log and one dialog with the details and the log folder."""

from __future__ import annotations

import logging
import sys
import threading

import pytest
from PySide6.QtCore import Qt, QTimer, QUrl
from PySide6.QtGui import QDesktopServices, QGuiApplication

from isyncsf_desktop import paths
from isyncsf_desktop.gui.crash import CrashDialog, CrashReporter, scrub

pytestmark = [pytest.mark.gui, pytest.mark.expect_log]


@pytest.fixture
def reporter(qapp):
    reporter = CrashReporter()
    reporter.install()
    yield reporter
    reporter.uninstall()
    if reporter.dialog is not None:
        reporter.dialog.close()
        reporter.dialog.deleteLater()


def fail_in_worker() -> None:
    raise ValueError("the worker fell over")


def dialog_shown(reporter: CrashReporter) -> bool:
    return reporter.dialog is not None and reporter.dialog.isVisible()


def test_an_exception_in_a_thread_shows_the_dialog_with_its_traceback(reporter, qtbot, caplog):
    thread = threading.Thread(target=fail_in_worker, name="sync-worker-7")
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: dialog_shown(reporter), timeout=5_000)
    dialog = reporter.dialog
    assert dialog.summary_label.text() == "ValueError: the worker fell over"
    details = dialog.details.toPlainText()
    assert "Thread: sync-worker-7" in details
    assert "in fail_in_worker" in details and "Traceback (most recent call last)" in details
    assert str(paths.log_dir()) in " ".join(label.text() for label in dialog.findChildren(type(dialog.headline)))
    logged = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert logged and "the worker fell over" in logged[0].getMessage()
    assert "sync-worker-7" in logged[0].getMessage()


@pytest.mark.qt_no_exception_capture
def test_an_exception_in_a_slot_goes_to_the_same_dialog(reporter, qtbot):
    def broken_slot() -> None:
        raise KeyError("missing column")

    QTimer.singleShot(0, broken_slot)
    qtbot.waitUntil(lambda: dialog_shown(reporter), timeout=5_000)
    first = reporter.dialog
    assert "KeyError: 'missing column'" in first.summary_label.text()
    assert "in broken_slot" in first.details.toPlainText()

    thread = threading.Thread(target=fail_in_worker)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: first.errors == 2, timeout=5_000)
    assert reporter.dialog is first   # one dialog, not a pile of them
    assert "2 errors so far" in first.summary_label.text()
    assert "missing column" in first.details.toPlainText() and "the worker fell over" in first.details.toPlainText()


def test_open_log_folder_opens_the_log_dir(qapp, qtbot, monkeypatch):
    opened: list[QUrl] = []
    monkeypatch.setattr(QDesktopServices, "openUrl", lambda url: opened.append(url) or True)
    dialog = CrashDialog("RuntimeError: x", "Traceback ...")
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.open_log_button, Qt.MouseButton.LeftButton)
    assert [url.toLocalFile() for url in opened] == [str(paths.log_dir())]


def test_copy_details_puts_summary_and_traceback_on_the_clipboard(qapp, qtbot):
    dialog = CrashDialog("RuntimeError: x", "Traceback: line 1")
    qtbot.addWidget(dialog)
    qtbot.mouseClick(dialog.copy_button, Qt.MouseButton.LeftButton)
    assert QGuiApplication.clipboard().text() == "RuntimeError: x\n\nTraceback: line 1"


def test_tokens_are_scrubbed_from_what_is_shown_and_logged(reporter, qtbot, caplog):
    token = "00D5g000004ABCDEFG!AQ0AQH1xY.z_2-3"

    def leak() -> None:
        raise RuntimeError(f"401 for session {token}; header Authorization: Bearer abc.DEF-123")

    thread = threading.Thread(target=leak)
    thread.start()
    thread.join()
    qtbot.waitUntil(lambda: dialog_shown(reporter), timeout=5_000)
    shown = reporter.dialog.summary_label.text() + reporter.dialog.details.toPlainText()
    logged = " ".join(r.getMessage() for r in caplog.records)
    for text in (shown, logged):
        assert token not in text and "AQ0AQH1xY" not in text and "abc.DEF-123" not in text
        assert "00D5g000004ABCDEFG!***" in text and "Bearer ***" in text
    assert scrub("no secret here") == "no secret here"


def test_uninstall_puts_the_previous_hooks_back(qapp):
    before_sys, before_thread = sys.excepthook, threading.excepthook
    reporter = CrashReporter()
    reporter.install()
    assert sys.excepthook != before_sys and threading.excepthook != before_thread
    reporter.uninstall()
    assert sys.excepthook == before_sys and threading.excepthook == before_thread


def test_ctrl_c_is_not_a_crash(reporter, monkeypatch):
    seen = []
    monkeypatch.setattr(reporter, "_previous_sys_hook", lambda *args: seen.append(args[0]))
    sys.excepthook(KeyboardInterrupt, KeyboardInterrupt(), None)
    assert seen == [KeyboardInterrupt] and reporter.dialog is None
