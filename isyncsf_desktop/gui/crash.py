"""Uncaught exceptions, from any thread, end in the log and in a dialog instead of a silent death.

:class:`CrashReporter` replaces ``sys.excepthook`` (the GUI thread, Qt slots and virtual methods:
PySide6 hands their exceptions to it) and ``threading.excepthook`` (every other Python thread). It
logs the traceback, then signals; the signal is queued to the GUI thread, where
:class:`CrashDialog` shows the error, its details and a button that opens the log folder. Later
errors go into the dialog that is already open rather than a pile of new ones.
"""

from __future__ import annotations

import logging
import re
import sys
import threading
import traceback
from pathlib import Path
from types import TracebackType
from typing import Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QFontDatabase, QGuiApplication
from PySide6.QtWidgets import (QApplication, QDialog, QHBoxLayout, QLabel, QPlainTextEdit, QPushButton, QStyle,
                               QVBoxLayout, QWidget)

from .. import paths
from . import external

logger = logging.getLogger(__name__)

# A Salesforce session id (org id, "!", token) or a bearer token that made it into an exception's text.
_SECRET = re.compile(r"\b(00D[0-9A-Za-z]{12,15})![0-9A-Za-z._\-]+|(Bearer\s+)[0-9A-Za-z._\-!]+")


def scrub(text: str) -> str:
    """``text`` with anything shaped like an access token replaced (tracebacks can quote one)."""
    return _SECRET.sub(lambda m: f"{m.group(1)}!***" if m.group(1) else f"{m.group(2)}***", text)


class CrashReporter(QObject):
    """Installs the exception hooks and shows :class:`CrashDialog` on the GUI thread.

    Signals:
        crashed(str, str): (summary, details) of an uncaught exception, emitted from any thread.
    """

    crashed = Signal(str, str)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self.dialog: CrashDialog | None = None
        self._previous_sys_hook: Any = None
        self._previous_thread_hook: Any = None
        self.crashed.connect(self._on_crashed)   # queued when emitted from another thread

    def install(self) -> None:
        self._previous_sys_hook, sys.excepthook = sys.excepthook, self._sys_hook
        self._previous_thread_hook, threading.excepthook = threading.excepthook, self._thread_hook

    def uninstall(self) -> None:
        """Put back the hooks that were there before :meth:`install`."""
        if self._previous_sys_hook is not None:
            sys.excepthook = self._previous_sys_hook
            self._previous_sys_hook = None
        if self._previous_thread_hook is not None:
            threading.excepthook = self._previous_thread_hook
            self._previous_thread_hook = None

    def _sys_hook(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None) -> None:
        if issubclass(exc_type, KeyboardInterrupt):   # Ctrl+C in a terminal: quit as Python would
            (self._previous_sys_hook or sys.__excepthook__)(exc_type, exc, tb)
            return
        self.report(exc_type, exc, tb, threading.current_thread().name)

    def _thread_hook(self, args: threading.ExceptHookArgs) -> None:
        if args.exc_type is SystemExit:
            return
        assert args.exc_value is not None
        self.report(args.exc_type, args.exc_value, args.exc_traceback,
                    args.thread.name if args.thread is not None else "a thread")

    def report(self, exc_type: type[BaseException], exc: BaseException, tb: TracebackType | None,
               thread_name: str) -> None:
        """Log the exception and signal the dialog (safe to call from any thread)."""
        details = scrub("".join(traceback.format_exception(exc_type, exc, tb)))
        summary = scrub(f"{exc_type.__name__}: {exc}" if str(exc) else exc_type.__name__)
        logger.critical("uncaught exception in %s:\n%s", thread_name, details.rstrip())
        self.crashed.emit(summary, f"Thread: {thread_name}\n\n{details}")

    def _on_crashed(self, summary: str, details: str) -> None:
        if QApplication.instance() is None:   # pragma: no cover - no GUI left to show it in
            return
        if self.dialog is not None and self.dialog.isVisible():
            self.dialog.add_error(summary, details)
        else:
            self.dialog = CrashDialog(summary, details, parent=QApplication.activeWindow())
            self.dialog.show()
        self.dialog.raise_()
        self.dialog.activateWindow()


class CrashDialog(QDialog):
    """What went wrong, the traceback, and the way to the log (non-modal: the app keeps running)."""

    def __init__(self, summary: str, details: str, *, log_dir: Path | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.log_dir = log_dir or paths.log_dir()
        self.errors = 0
        self.setWindowTitle("iSyncSF Desktop: unexpected error")
        self.resize(720, 460)

        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        icon = QLabel()
        icon.setPixmap(self.style().standardIcon(QStyle.StandardPixmap.SP_MessageBoxCritical).pixmap(40, 40))
        icon.setAlignment(Qt.AlignmentFlag.AlignTop)
        top.addWidget(icon)
        text = QVBoxLayout()
        self.headline = QLabel("<b>Something went wrong inside iSyncSF Desktop.</b>")
        text.addWidget(self.headline)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.addWidget(self.summary_label)
        advice = QLabel("Records already sent are in the job's journal, so a sync can be resumed or rolled "
                        "back later. You can go on working, or quit and start the app again. The details "
                        f"below are also in the log, in {self.log_dir}")
        advice.setWordWrap(True)
        advice.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        text.addWidget(advice)
        top.addLayout(text, 1)
        layout.addLayout(top)

        self.details = QPlainTextEdit()
        self.details.setReadOnly(True)
        self.details.setLineWrapMode(QPlainTextEdit.LineWrapMode.NoWrap)
        self.details.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        layout.addWidget(self.details, 1)

        buttons = QHBoxLayout()
        self.open_log_button = QPushButton("Open Log Folder")
        self.open_log_button.clicked.connect(self._on_open_log_button_clicked)
        self.copy_button = QPushButton("Copy Details")
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        self.quit_button = QPushButton("Quit the App")
        self.quit_button.clicked.connect(self._on_quit_button_clicked)
        self.close_button = QPushButton("Continue")
        self.close_button.setDefault(True)
        self.close_button.clicked.connect(self.accept)
        for button in (self.open_log_button, self.copy_button, None, self.quit_button, self.close_button):
            if button is None:   # tools on the left, the way out on the right
                buttons.addStretch(1)
            else:
                buttons.addWidget(button)
        layout.addLayout(buttons)
        self.add_error(summary, details)

    def add_error(self, summary: str, details: str) -> None:
        """Show one more uncaught exception (the newest summary on top, every traceback below)."""
        self.errors += 1
        self.summary_label.setText(summary if self.errors == 1 else f"{summary}\n({self.errors} errors so far)")
        separator = "" if self.errors == 1 else "\n" + "-" * 72 + "\n"
        self.details.setPlainText(self.details.toPlainText() + separator + details)

    def _on_open_log_button_clicked(self) -> None:
        if not external.open_folder(self.log_dir):
            self.headline.setText(f"<b>The log folder could not be opened:</b> {self.log_dir}")

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(f"{self.summary_label.text()}\n\n{self.details.toPlainText()}")

    def _on_quit_button_clicked(self) -> None:
        self.accept()
        app = QApplication.instance()
        if app is not None:
            for window in QApplication.topLevelWidgets():   # the main window asks about a running sync
                if window is not self and window.isVisible() and not window.close():
                    return
            app.quit()
