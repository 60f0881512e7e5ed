"""The main window: a header naming the template and orgs, the pages as tabs, a status bar."""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QCloseEvent, QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (QFrame, QHBoxLayout, QLabel, QMainWindow, QMessageBox, QProgressBar, QStatusBar,
                               QTabWidget, QVBoxLayout, QWidget)

from .. import __version__
from .about import add_help_menu
from .context import AppContext
from .keyboard import keyboard_friendly
from .questions import ask_without_blocking
from .style import ERROR, WARNING
from .templates.catalog import install_demo_template
from .window_state import fit_to_screen, remember_orgs, restore_geometry, restore_orgs, save_geometry

logger = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """Header + tabs (Execute, Templates, History, Orgs) + status bar, over one :class:`AppContext`."""

    def __init__(self, ctx: AppContext | None = None, *, start_sandbox: bool = True):
        super().__init__()
        self.ctx = ctx or AppContext(parent=self)
        self.start_sandbox = start_sandbox
        self.setWindowTitle("iSyncSF Desktop")
        self.resize(1280, 820)
        self.setMinimumSize(960, 640)

        central = QWidget()
        layout = QVBoxLayout(central)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._build_header())
        self.tabs = QTabWidget()
        self.tabs.setDocumentMode(False)
        body = QWidget()
        body_layout = QVBoxLayout(body)
        body_layout.setContentsMargins(12, 10, 12, 10)
        body_layout.addWidget(self.tabs)
        layout.addWidget(body, 1)
        self.setCentralWidget(central)

        self.pages: dict[str, QWidget] = {}
        for name, factory in self._page_factories():
            page = factory(self.ctx, self)
            self.pages[name] = page
            self.tabs.addTab(page, name)
        for index in range(min(self.tabs.count(), 9)):
            QShortcut(QKeySequence(f"Ctrl+{index + 1}"), self, activated=lambda i=index: self.tabs.setCurrentIndex(i))

        self._build_status_bar()
        self.quit_box: QMessageBox | None = None      # "A sync is running" while it is open
        self._quit_confirmed = False
        self.unsaved_box: QMessageBox | None = None   # "Save the changes to …?" while it is open
        self._unsaved_settled = False                 # saved or discarded for this close
        self._saving_to_close = False
        execute = self.pages.get("Execute")
        if execute is not None and hasattr(execute, "run_finished"):
            execute.run_finished.connect(self._on_execute_run_finished)
        self.ctx.message.connect(self._on_ctx_message)
        self.ctx.selection_changed.connect(self._refresh_header)
        self.ctx.template_changed.connect(self._refresh_header)
        self.ctx.orgs_changed.connect(self._refresh_header)
        self.ctx.tasks.busy_changed.connect(self._on_tasks_busy_changed)
        self._refresh_header()
        self.quit_action = self._add_file_menu()
        add_help_menu(self)
        restore_geometry(self, self.ctx.settings)
        fit_to_screen(self)      # a default or saved size larger than this screen is cut to it
        self._fitted_with_frame = False
        remember_orgs(self.ctx)
        keyboard_friendly(self)
        first = getattr(self.pages.get("Execute"), "first_control", None)
        if first is not None:      # where a keyboard user starts: the top of the Execute tab, not a table
            first().setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------------ construction
    @staticmethod
    def _page_factories() -> list[tuple[str, Any]]:
        from .execute.page import ExecutePage
        from .history.page import HistoryPage
        from .orgs.page import OrgsPage
        from .templates.page import TemplatesPage

        return [("Execute", ExecutePage), ("Templates", TemplatesPage), ("History", HistoryPage), ("Orgs", OrgsPage)]

    def _build_header(self) -> QFrame:
        header = QFrame()
        header.setProperty("role", "header")
        row = QHBoxLayout(header)
        row.setContentsMargins(16, 10, 16, 10)
        title = QLabel("iSyncSF Desktop")
        title.setProperty("role", "title")
        row.addWidget(title)
        row.addSpacing(24)
        self.template_label = QLabel()
        self.template_label.setProperty("role", "subtle")
        row.addWidget(self.template_label)
        row.addStretch(1)
        self.orgs_label = QLabel()
        self.orgs_label.setTextFormat(Qt.TextFormat.RichText)
        row.addWidget(self.orgs_label)
        return header

    def _add_file_menu(self) -> QAction:
        """File → Quit (Ctrl+Q on every system; Qt moves it into the application menu on macOS). It closes
        the window as its close button does, so the same questions come first."""
        menu = self.menuBar().addMenu("&File")
        action = QAction("&Quit", self)
        action.setShortcut(QKeySequence("Ctrl+Q"))
        action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)   # from any page
        action.setMenuRole(QAction.MenuRole.QuitRole)
        action.triggered.connect(self.close)
        menu.addAction(action)
        return action

    def _build_status_bar(self) -> None:
        bar = QStatusBar()
        self.status_label = QLabel("Ready")
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        bar.addWidget(self.status_label, 1)
        self.busy = QProgressBar()
        self.busy.setRange(0, 0)
        self.busy.setMaximumWidth(120)
        self.busy.setMaximumHeight(14)
        self.busy.hide()
        bar.addPermanentWidget(self.busy)
        version = QLabel(f"v{__version__}")
        version.setProperty("role", "subtle")
        bar.addPermanentWidget(version)
        self.setStatusBar(bar)

    # ------------------------------------------------------------------ start-up
    def start(self) -> None:
        """Start the embedded sandbox if it is needed (on a worker), then open the last template."""
        from ..embedded import needs_embedded_sandbox

        if self.start_sandbox and needs_embedded_sandbox(self.ctx.registry):
            self.ctx.info("Starting the demo orgs (local sandbox)…")
            self.ctx.tasks.start(self._start_sandbox_task, on_finished=self._on_sandbox_started,
                                 on_error=lambda text: self.ctx.error(f"The demo orgs could not start: {text}"))
        else:
            self._open_initial_template()

    @staticmethod
    def _start_sandbox_task(report: Any, cancel: Any, registry: Any = None) -> Any:
        from ..embedded import start_embedded_sandbox
        from ..salesforce.registry import OrgRegistry

        return start_embedded_sandbox(registry or OrgRegistry())

    def _on_sandbox_started(self, server: Any) -> None:
        self.ctx.sandbox = server
        self.ctx.orgs_changed.emit()
        self.ctx.info(f"Demo orgs ready on the local sandbox ({server.instance_url}).")
        self._open_initial_template()

    def _open_initial_template(self) -> None:
        if self.ctx.reopen_last_template() is None:
            self.ctx.open_template(install_demo_template())
        restore_orgs(self.ctx)
        # Automation a crashed run left switched off: offered at start-up only, before any run.
        from .preflight.restore import offer_pending_restores

        offer_pending_restores(self.ctx, self)

    # ------------------------------------------------------------------ header and status
    def _refresh_header(self) -> None:
        template = self.ctx.template
        self.template_label.setText(f"Template: {template.name}" if template else "No template open")
        source = self.ctx.source or "choose a source org"
        target = self.ctx.target or "choose a target org"
        self.orgs_label.setText(f"<b>{source}</b> &nbsp;→&nbsp; <b>{target}</b>")

    def _on_ctx_message(self, level: str, text: str) -> None:
        color = {"error": ERROR, "warning": WARNING}.get(level)
        self.status_label.setStyleSheet(f"color: {color};" if color else "")
        self.status_label.setText(text)

    def _on_tasks_busy_changed(self, busy: bool) -> None:
        self.busy.setVisible(busy)

    def show_page(self, name: str) -> QWidget:
        page = self.pages[name]
        self.tabs.setCurrentWidget(page)
        return page

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self._fitted_with_frame:       # the frame (title bar) is known once shown: fit again with it
            self._fitted_with_frame = True
            fit_to_screen(self)

    # ------------------------------------------------------------------ closing
    def _ask_quit(self) -> None:
        """Ask whether to quit during a sync, without blocking: the sync goes on while the question is open,
        and if it ends first the question says so."""
        if self.quit_box is not None:
            self.quit_box.raise_()
            return
        self.quit_box = ask_without_blocking(
            self, "A sync is running", "A sync is running. Quit anyway? The sync is aborted cleanly: records already "
            "saved in the target org stay, and the job can be resumed or rolled back later.", self._on_quit_box_answered)

    def _on_quit_box_answered(self, box: QMessageBox, yes: bool) -> None:
        if box is not self.quit_box:
            return
        self.quit_box = None
        if yes:
            self._quit_confirmed = True
            self.close()
        else:
            self._unsaved_settled = False      # a later close asks about unsaved edits again

    def _on_execute_run_finished(self, _result: Any) -> None:
        if self.quit_box is not None:     # the question is about a sync that is over now
            self.quit_box.setWindowTitle("The sync has finished")
            self.quit_box.setText("The sync has finished while you were deciding: nothing will be aborted. Quit now?")

    def _unsaved_changes(self) -> tuple[QWidget, str] | None:
        """The first page holding edits a close would lose, and what they are; None when nothing would be."""
        for page in self.pages.values():
            what = getattr(page, "unsaved_changes", lambda: None)()
            if what:
                return page, what
        return None

    def _ask_unsaved(self, page: QWidget, what: str) -> None:
        """Save / Discard / Cancel for ``what`` (window-modal, without blocking)."""
        if self.unsaved_box is not None:
            self.unsaved_box.raise_()
            return
        self.tabs.setCurrentWidget(page)
        buttons = QMessageBox.StandardButton
        box = QMessageBox(QMessageBox.Icon.Warning, "Unsaved changes",
                          f"Save the changes to {what} before quitting?",
                          buttons.Save | buttons.Discard | buttons.Cancel, self)
        box.setInformativeText("If you don't save, your changes are lost.")
        box.setDefaultButton(buttons.Save)
        box.setEscapeButton(buttons.Cancel)
        box.finished.connect(lambda _result: self._on_unsaved_box_answered(box, page))
        self.unsaved_box = box
        box.open()

    def _on_unsaved_box_answered(self, box: QMessageBox, page: QWidget) -> None:
        if box is not self.unsaved_box:
            return
        self.unsaved_box = None
        box.deleteLater()
        answer = box.standardButton(box.clickedButton())
        if answer == QMessageBox.StandardButton.Discard:
            logger.info("quitting without saving the unsaved edits")
            self._unsaved_settled = True
            self.close()
        elif answer == QMessageBox.StandardButton.Save:
            self._saving_to_close = True
            page.save_changes(self._on_page_saved_to_close)   # type: ignore[attr-defined]

    def _on_page_saved_to_close(self, saved: bool) -> None:
        self._saving_to_close = False
        if saved:
            self.close()        # asks again if another page holds edits too
        else:
            text = "Not quitting: the changes could not be saved (the reason is shown above them)."
            logger.info(text)
            self._on_ctx_message("warning", text)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self._saving_to_close:          # a Save asked for by this question is under way
            event.ignore()
            return
        unsaved = None if self._unsaved_settled else self._unsaved_changes()
        if unsaved is not None:
            event.ignore()
            self._ask_unsaved(*unsaved)
            return
        running = getattr(self.pages.get("Execute"), "is_running", lambda: False)()
        if running and not self._quit_confirmed:
            event.ignore()
            self._ask_quit()
            return
        if self.quit_box is not None:
            self.quit_box.reject()
        save_geometry(self, self.ctx.settings)
        self.ctx.shutdown()
        event.accept()
