"""The Orgs tab: the connected orgs, their connection status, and connect / test / rename / remove.

Connection checks and tests run on ``ctx.tasks`` workers; this page only shows their answers.
When no keyring can keep secrets, a banner says that credentials last for this session only.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut, QShowEvent
from PySide6.QtWidgets import (QAbstractItemView, QFormLayout, QFrame, QGroupBox, QHBoxLayout, QHeaderView,
                               QInputDialog, QLabel, QLineEdit, QMessageBox, QProgressBar, QPushButton,
                               QTableView, QVBoxLayout, QWidget)

from ...salesforce import secrets
from ...salesforce.client import OrgApiError, SessionExpired
from ...salesforce.registry import OrgEntry, OrgRegistry, RegistryError, detect_org_type
from ..context import AppContext
from ..keyboard import widget_shortcut
from ..style import ERROR, MUTED, WARNING
from ..tables import read_only_table
from .connect import ConnectOrgDialog, open_connect_dialog
from .models import (COL_ALIAS, COL_API, COL_INSTANCE, COL_LAST_USED, COL_STATUS, COL_TYPE, COL_USER, CONNECTED,
                     EXPIRED, FAILED, TYPE_COLOURS, UNKNOWN, UNREACHABLE, OrgFilterProxy, OrgStatus, OrgStatusChecker,
                     OrgTableModel, StatusDelegate, TypeBadgeDelegate, alias_at, describe_auth, short_instance)

logger = logging.getLogger(__name__)


@dataclass
class ConnectionReport:
    """What a connection test found out about one org."""

    alias: str
    user_name: str
    username: str
    email: str
    org_name: str
    org_id: str
    org_type: str
    instance_url: str
    api_version: str
    auth: str
    limits: dict[str, Any] = field(default_factory=dict)
    tested_at: str = ""

    def usage(self, key: str) -> tuple[int, int] | None:
        """(used, max) of limit ``key`` (e.g. ``DailyApiRequests``), or None when the org did not say."""
        item = self.limits.get(key)
        if not isinstance(item, dict) or "Max" not in item or "Remaining" not in item:
            return None
        maximum, remaining = int(item["Max"]), int(item["Remaining"])
        return max(0, maximum - remaining), maximum


@dataclass
class ConnectionOutcome:
    """A connection test's answer: a report when it worked, the org's status either way."""

    alias: str
    status: OrgStatus
    report: ConnectionReport | None = None


def _test_task(report: Any, cancel: Any, registry: OrgRegistry, alias: str) -> ConnectionOutcome:
    """Who and what the org is, and how much of its API it used today (a pool thread; never raises)."""
    try:
        entry = registry.get(alias)
        client = registry.client(alias, retries=1, backoff=0.2)
        client.timeout = 30.0
        info = client.user_info()
        org = client.organization()
        limits = client.limits()
    except SessionExpired as exc:
        return ConnectionOutcome(alias, OrgStatus(EXPIRED, f"the org refused the session ({exc.message}); connect it again"))
    except OrgApiError as exc:
        state = UNREACHABLE if exc.error_code in ("CONNECTION_ERROR", "SSL_ERROR") else FAILED
        return ConnectionOutcome(alias, OrgStatus(state, exc.message if state == UNREACHABLE else str(exc)))
    except RegistryError as exc:
        return ConnectionOutcome(alias, OrgStatus(EXPIRED, str(exc)))
    except Exception as exc:  # noqa: BLE001 - shown to the user, not a crash
        logger.info("testing %s failed: %s", alias, type(exc).__name__)
        return ConnectionOutcome(alias, OrgStatus(FAILED, str(exc) or type(exc).__name__))
    username = str(info.get("preferred_username") or "")
    result = ConnectionReport(
        alias=alias, user_name=str(info.get("name") or ""), username=username,
        email=str(info.get("email") or ""), org_name=str(org.get("Name") or ""), org_id=str(org.get("Id") or ""),
        org_type=detect_org_type(org, entry.instance_url), instance_url=entry.instance_url,
        api_version=entry.api_version, auth=describe_auth(entry), limits=limits,
        tested_at=datetime.now().strftime("%H:%M:%S"))
    return ConnectionOutcome(alias, OrgStatus(CONNECTED, f"Connected as {username or 'the API user'}"), result)


def _revoke_task(report: Any, cancel: Any, entry: OrgEntry, token: str) -> bool:
    from ...salesforce.oauth import revoke_token

    return revoke_token(entry, token)


class OrgsPage(QWidget):
    """The Orgs tab: a table of the connected orgs and the actions on them.

    Keys: Ctrl+N connect, Enter test, F2 rename, Delete remove, F5 check every org again.

    Signals:
        test_finished(str, object): the connection test of this alias ended, with a
            :class:`ConnectionReport` (or None when it failed).
    """

    test_finished = Signal(str, object)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.connect_dialog: ConnectOrgDialog | None = None
        self.open_url: Any = None                 # injectable browser opener for the connect dialog
        self._testing: str | None = None
        self._checked_once = False

        self.checker = OrgStatusChecker(ctx, self)
        self.model = OrgTableModel(ctx.registry, self.checker, self)
        self.model.load_failed.connect(self._on_model_load_failed)
        self.proxy = OrgFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 12)
        layout.setSpacing(10)
        layout.addLayout(self._build_header())
        layout.addWidget(self._build_keyring_banner())
        layout.addLayout(self._build_buttons())
        layout.addWidget(self._build_table(), 1)
        layout.addWidget(self._build_details())

        QShortcut(QKeySequence("Ctrl+N"), self, activated=self._on_connect_button_clicked)
        widget_shortcut(QKeySequence(Qt.Key.Key_F2), self.table, self._on_rename_button_clicked)
        widget_shortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.table, self._on_remove_button_clicked)
        widget_shortcut(QKeySequence(Qt.Key.Key_Return), self.table, self._on_test_button_clicked)
        widget_shortcut(QKeySequence(Qt.Key.Key_Enter), self.table, self._on_test_button_clicked)
        QShortcut(QKeySequence(Qt.Key.Key_F5), self, activated=self._on_check_button_clicked)

        ctx.orgs_changed.connect(self._on_ctx_orgs_changed)
        ctx.orgs_used.connect(self._on_ctx_orgs_used)
        self.model.reload()
        self._after_reload(None)

    # ================================================================== construction
    def _build_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        title = QLabel("Connected orgs")
        title.setProperty("role", "title")
        row.addWidget(title)
        self.count_label = QLabel()
        self.count_label.setProperty("role", "subtle")
        row.addWidget(self.count_label, 0, Qt.AlignmentFlag.AlignBottom)
        row.addStretch(1)
        self.keyring_ok_label = QLabel()
        self.keyring_ok_label.setProperty("role", "subtle")
        row.addWidget(self.keyring_ok_label, 0, Qt.AlignmentFlag.AlignBottom)
        return row

    def _build_keyring_banner(self) -> QFrame:
        self.keyring_banner = QFrame()
        self.keyring_banner.setObjectName("keyringBanner")
        self.keyring_banner.setStyleSheet("#keyringBanner { background: #fef1e6; border: 1px solid #f5c99b; "
                                          "border-radius: 4px; }")
        row = QHBoxLayout(self.keyring_banner)
        row.setContentsMargins(12, 8, 12, 8)
        icon = QLabel("⚠")
        icon.setStyleSheet(f"color: {WARNING}; font-size: 14pt;")
        row.addWidget(icon, 0, Qt.AlignmentFlag.AlignTop)
        self.keyring_label = QLabel()
        self.keyring_label.setWordWrap(True)
        self.keyring_label.setStyleSheet(f"color: {WARNING};")
        row.addWidget(self.keyring_label, 1)
        self._refresh_keyring()
        return self.keyring_banner

    def _build_buttons(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(8)
        self.connect_button = QPushButton("Connect New Org…")
        self.connect_button.setProperty("accent", True)
        self.connect_button.setToolTip("Browser login, access token or Salesforce CLI (Ctrl+N)")
        self.connect_button.clicked.connect(self._on_connect_button_clicked)
        self.test_button = QPushButton("Test Connection")
        self.test_button.setToolTip("Who the org says you are, its type and today's API usage (Enter)")
        self.test_button.clicked.connect(self._on_test_button_clicked)
        self.rename_button = QPushButton("Rename Alias…")
        self.rename_button.setToolTip("Give the org another alias (F2)")
        self.rename_button.clicked.connect(self._on_rename_button_clicked)
        self.remove_button = QPushButton("Remove…")
        self.remove_button.setProperty("danger", True)
        self.remove_button.setToolTip("Forget the org and delete its tokens (Delete)")
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.check_button = QPushButton("Check All")
        self.check_button.setToolTip("Check the connection of every org again (F5)")
        self.check_button.clicked.connect(self._on_check_button_clicked)
        for button in (self.connect_button, self.test_button, self.rename_button, self.remove_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.check_button)
        return row

    def _build_table(self) -> QTableView:
        self.table = read_only_table(self.proxy, QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setSortingEnabled(True)
        self.table.sortByColumn(COL_ALIAS, Qt.SortOrder.AscendingOrder)
        self.table.setWordWrap(False)
        self.table.setStyleSheet("QTableView::item { padding-left: 8px; padding-right: 8px; }")
        self.table.verticalHeader().setDefaultSectionSize(34)
        self.table.setItemDelegateForColumn(COL_TYPE, TypeBadgeDelegate(self.table))
        self.table.setItemDelegateForColumn(COL_STATUS, StatusDelegate(self.table))
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        for column in (COL_ALIAS, COL_TYPE, COL_API, COL_LAST_USED, COL_STATUS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_USER, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_INSTANCE, QHeaderView.ResizeMode.Stretch)
        header.setMinimumSectionSize(60)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        self.table.doubleClicked.connect(lambda _index: self._on_test_button_clicked())
        return self.table

    def _build_details(self) -> QGroupBox:
        self.details_box = QGroupBox("Connection test")
        outer = QVBoxLayout(self.details_box)
        outer.setContentsMargins(12, 14, 12, 10)
        self.details_hint = QLabel("Select an org and press Test Connection (or Enter) to see who the org says you "
                                   "are, its type and today's API usage.")
        self.details_hint.setWordWrap(True)
        self.details_hint.setProperty("role", "subtle")
        outer.addWidget(self.details_hint)
        self.details_form_widget = QWidget()
        form = QFormLayout(self.details_form_widget)
        form.setContentsMargins(0, 0, 0, 0)
        form.setHorizontalSpacing(16)
        form.setVerticalSpacing(6)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignLeft)
        self.detail_labels: dict[str, QLabel] = {}
        for key, label in (("user", "User"), ("org", "Organization"), ("type", "Org type"),
                           ("instance", "Instance"), ("auth", "Connection"), ("bulk", "Bulk API requests"),
                           ("storage", "Data storage")):
            value = QLabel()
            value.setTextFormat(Qt.TextFormat.PlainText)
            self.detail_labels[key] = value
            if key == "type":
                value.setProperty("badge", True)
                holder = QHBoxLayout()
                holder.setContentsMargins(0, 0, 0, 0)
                holder.addWidget(value)
                holder.addStretch(1)
                form.addRow(f"{label}:", holder)
            else:
                value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
                form.addRow(f"{label}:", value)
        usage_row = QHBoxLayout()
        usage_row.setSpacing(10)
        self.api_bar = QProgressBar()
        self.api_bar.setTextVisible(False)
        self.api_bar.setMaximumWidth(220)      # as tall as the app's style makes a bar: a cap below it clipped it
        usage_row.addWidget(self.api_bar)
        self.api_label = QLabel()
        usage_row.addWidget(self.api_label)
        usage_row.addStretch(1)
        form.addRow("API requests today:", usage_row)
        outer.addWidget(self.details_form_widget)
        self.details_form_widget.hide()
        return self.details_box

    # ================================================================== state
    def selected_alias(self) -> str | None:
        """The org the table's cursor is on."""
        return alias_at(self.table.currentIndex())

    def select_alias(self, alias: str) -> bool:
        index = self.proxy.index_of(alias)
        if index is None:
            return False
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index)
        return True

    def _selected_entry(self) -> OrgEntry | None:
        alias = self.selected_alias()
        row = self.model.row_of(alias) if alias else -1
        return self.model.entry(row) if row >= 0 else None

    def _update_buttons(self) -> None:
        entry = self._selected_entry()
        has = entry is not None
        self.test_button.setEnabled(has and self._testing is None)
        self.remove_button.setEnabled(has)
        demo = has and entry.auth == "sandbox"
        self.rename_button.setEnabled(has and not demo)
        self.rename_button.setToolTip("Demo orgs keep their alias: the app registers them again at each start"
                                      if demo else "Give the org another alias (F2)")
        self.check_button.setEnabled(self.model.rowCount() > 0)
        count = self.model.rowCount()
        self.count_label.setText(f"{count} org{'s' if count != 1 else ''}")

    def _refresh_keyring(self) -> None:
        usable, text = secrets.keyring_status()
        self.keyring_label.setText(text)
        self.keyring_banner.setVisible(not usable)
        self.keyring_ok_label.setText("Tokens are kept in the system keyring" if usable else "")
        self.keyring_ok_label.setToolTip(text if usable else "")

    def _after_reload(self, keep: str | None) -> None:
        if not (keep and self.select_alias(keep)) and self.proxy.rowCount():
            self.table.selectionModel().setCurrentIndex(
                self.proxy.index(0, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self._update_buttons()

    # ================================================================== slots: context and model
    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        self._refresh_keyring()
        if not self._checked_once:
            self._checked_once = True
            self.checker.check(self.model.aliases())

    def _on_ctx_orgs_changed(self) -> None:
        keep = self.selected_alias()
        known = set(self.model.aliases())
        self.model.reload()
        self._after_reload(keep)
        self._refresh_keyring()
        new = [alias for alias in self.model.aliases()
               if alias not in known and self.checker.status(alias).state == UNKNOWN]
        if new and self._checked_once:
            self.checker.check(new)

    def _on_ctx_orgs_used(self) -> None:
        """Orgs were used: read their "Last used" again, keeping the selection."""
        keep = self.selected_alias()
        self.model.reload()
        self._after_reload(keep)

    def _on_model_load_failed(self, text: str) -> None:
        self.ctx.error(f"The org list could not be read: {text}")

    def _on_table_current_row_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._update_buttons()

    # ================================================================== connect
    def _on_connect_button_clicked(self) -> None:
        self.connect_dialog = open_connect_dialog(self.connect_dialog, self.ctx, self, self.open_url,
                                                  self._on_connect_dialog_org_connected)

    def _on_connect_dialog_org_connected(self, alias: str) -> None:
        self.select_alias(alias)
        self.checker.check([alias])
        self.table.setFocus()

    # ================================================================== test
    def _on_test_button_clicked(self) -> None:
        alias = self.selected_alias()
        if alias is None or self._testing is not None:
            return
        self._testing = alias
        self._update_buttons()
        self.details_box.setTitle(f"Connection test: {alias}")
        self.details_form_widget.hide()
        self.details_hint.setStyleSheet("")
        self.details_hint.setText(f"Testing the connection to {alias}…")
        self.details_hint.show()
        self.checker.set_status(alias, OrgStatus("checking", "Testing the connection…"))
        self.ctx.tasks.start(_test_task, self.ctx.registry, alias, on_finished=self._on_test_worker_finished)

    def _on_test_worker_finished(self, outcome: ConnectionOutcome) -> None:
        self._testing = None
        self._update_buttons()
        self.checker.set_status(outcome.alias, outcome.status)
        result = outcome.report
        if result is not None:
            self._show_report(result)
            self.ctx.info(f"Connection to {result.alias} works ({result.org_type}, {result.username}).")
        else:
            text = f"The connection to {outcome.alias} failed: {outcome.status.detail}"
            self.details_form_widget.hide()
            self.details_hint.setStyleSheet(f"color: {ERROR};")
            self.details_hint.setText(text)
            self.details_hint.show()
            self.ctx.error(text)
        self.test_finished.emit(outcome.alias, result)

    def _show_report(self, report: ConnectionReport) -> None:
        labels = self.detail_labels
        who = report.user_name or report.username or "—"
        extra = ", ".join(part for part in (report.username, report.email) if part and part != who)
        labels["user"].setText(f"{who} ({extra})" if extra else who)
        labels["org"].setText(f"{report.org_name or '—'} · {report.org_id}")
        labels["type"].setText(report.org_type)
        labels["type"].setStyleSheet(f"background: {TYPE_COLOURS.get(report.org_type, MUTED)};")
        labels["instance"].setText(f"{short_instance(report.instance_url)} · API v{report.api_version}")
        labels["auth"].setText(report.auth)
        bulk = report.usage("DailyBulkApiRequests")
        labels["bulk"].setText(f"{bulk[0]:,} of {bulk[1]:,} used today" if bulk else "Not reported")
        storage = report.usage("DataStorageMB")
        labels["storage"].setText(f"{storage[0]:,} MB of {storage[1]:,} MB used" if storage else "Not reported")
        api = report.usage("DailyApiRequests")
        if api:
            used, maximum = api
            percent = 100.0 * used / maximum if maximum else 0.0
            self.api_bar.setRange(0, max(1, maximum))
            self.api_bar.setValue(min(used, maximum))
            self.api_bar.show()
            self.api_label.setText(f"{used:,} of {maximum:,} ({percent:.1f}%)")
        else:
            self.api_bar.hide()
            self.api_label.setText("Not reported")
        self.details_box.setTitle(f"Connection test: {report.alias} · tested at {report.tested_at}")
        self.details_hint.hide()
        self.details_form_widget.show()

    # ================================================================== rename
    def _on_rename_button_clicked(self) -> None:
        entry = self._selected_entry()
        if entry is None or not self.rename_button.isEnabled():
            return
        new, ok = QInputDialog.getText(self, "Rename Alias", f"New alias for “{entry.alias}”:",
                                       QLineEdit.EchoMode.Normal, entry.alias)
        new = (new or "").strip()
        if not ok or not new or new == entry.alias:
            return
        try:
            self.ctx.registry.rename(entry.alias, new)
        except RegistryError as exc:
            self.ctx.error(f"The org could not be renamed: {exc}")
            return
        self.checker.rename(entry.alias, new)
        if self.ctx.settings.value("orgs/last_target") == entry.alias:
            self.ctx.settings.setValue("orgs/last_target", new)
        if self.ctx.source == entry.alias:
            self.ctx.set_source(new)
        if self.ctx.target == entry.alias:
            self.ctx.set_target(new)
        self.ctx.orgs_changed.emit()
        self.select_alias(new)
        self.ctx.info(f"Org {entry.alias} is now called {new}.")

    # ================================================================== remove
    def _on_remove_button_clicked(self) -> None:
        entry = self._selected_entry()
        if entry is None:
            return
        revoke = entry.auth == "oauth"
        roles = [role for role, alias in (("source", self.ctx.source), ("target", self.ctx.target))
                 if alias == entry.alias]
        text = (f"Remove “{entry.alias}” ({entry.username or short_instance(entry.instance_url)})?\n\n"
                "Its tokens are deleted from the keyring"
                + (" and its login is revoked at Salesforce" if revoke else "") + ". "
                "Jobs in History that used it are kept.")
        if roles:
            text += f"\n\nIt is the {' and '.join(roles)} org of the Execute tab."
        answer = QMessageBox.question(self, "Remove Org", text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
                                      QMessageBox.StandardButton.No)
        if answer != QMessageBox.StandardButton.Yes:
            return
        refresh = self.ctx.registry.refresh_token(entry.alias) if revoke else None
        try:
            self.ctx.registry.remove(entry.alias)
        except RegistryError as exc:
            self.ctx.error(f"The org could not be removed: {exc}")
            return
        if refresh:
            self.ctx.tasks.start(_revoke_task, entry, refresh)
        self.checker.forget(entry.alias)
        if self.ctx.source == entry.alias:
            self.ctx.set_source(None)
        if self.ctx.target == entry.alias:
            self.ctx.set_target(None)
        self.ctx.orgs_changed.emit()
        self.ctx.info(f"Removed org {entry.alias}; its tokens are deleted.")

    # ================================================================== check all
    def _on_check_button_clicked(self) -> None:
        self._checked_once = True
        self.checker.check(self.model.aliases())
