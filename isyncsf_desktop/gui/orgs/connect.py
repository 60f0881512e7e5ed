"""The "Connect an org" dialog: browser login, an access token, or an import from the Salesforce CLI.

Every network call and every ``sf`` run happens on the app's pool (``ctx.tasks``); the dialog only
collects settings and shows what is going on. The browser is opened through an injectable
``open_url`` (:func:`gui.external.open_url` by default), so tests play the browser themselves.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QRegularExpression, Qt, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QDialogButtonBox, QFileDialog, QFormLayout,
                               QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton, QSpinBox,
                               QTableWidget, QTableWidgetItem, QTabWidget, QVBoxLayout, QWidget)

from ...salesforce import secrets, sfcli
from ...salesforce.oauth import (DEFAULT_CLIENT_ID, DEFAULT_PORT, PRODUCTION_LOGIN_URL, SANDBOX_LOGIN_URL,
                                 BrowserLogin, LoginSettings, OAuthError, complete_login)
from ...salesforce.registry import OrgEntry, OrgRegistry, RegistryError, register_token_org, validate_alias
from ...salesforce.sfcli import CliOrg
from .. import external
from ..context import AppContext
from ..style import ERROR, MUTED, SUCCESS, WARNING
from ..workers import Worker

logger = logging.getLogger(__name__)

WAY_BROWSER, WAY_TOKEN, WAY_CLI = "browser", "token", "cli"
WAYS = (WAY_BROWSER, WAY_TOKEN, WAY_CLI)
LOGIN_CHOICES = (("Production — login.salesforce.com", PRODUCTION_LOGIN_URL),
                 ("Sandbox — test.salesforce.com", SANDBOX_LOGIN_URL),
                 ("My Domain or another login URL…", ""))
CLI_COLUMNS = ("CLI alias", "User", "Kind", "Status")


def unique_alias(registry: OrgRegistry, base: str) -> str:
    """``base`` made a valid alias that no registered org uses yet (``base``, ``base-2``...)."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-")[:60] or "org"
    try:
        taken = set(registry.aliases())
    except RegistryError:
        taken = set()
    if cleaned not in taken:
        return cleaned
    number = 2
    while f"{cleaned}-{number}" in taken:
        number += 1
    return f"{cleaned}-{number}"


def _host_label(url: str) -> str:
    host = url.split("://", 1)[-1].split("/", 1)[0].split(":", 1)[0]
    first = host.split(".", 1)[0]
    return "local" if first in ("127", "localhost", "[") or host.startswith("[") else first


# ---------------------------------------------------------------------- tasks (pool threads)
def _browser_task(report: Any, cancel: Any, registry: OrgRegistry, alias: str, login: BrowserLogin) -> OrgEntry:
    try:
        return complete_login(registry, alias, login, cancelled=lambda: cancel.cancelled)
    finally:
        login.close()


def _token_task(report: Any, cancel: Any, registry: OrgRegistry, alias: str, url: str, token: str,
                ca_file: str | None) -> OrgEntry:
    return register_token_org(registry, alias, url, token, ca_file=ca_file)


def _cli_list_task(report: Any, cancel: Any, executable: str) -> list[CliOrg]:
    return sfcli.list_orgs(executable=executable)


def _cli_import_task(report: Any, cancel: Any, registry: OrgRegistry, org: CliOrg, alias: str, executable: str,
                     ca_file: str | None) -> OrgEntry:
    return sfcli.import_org(registry, org, alias, executable=executable, ca_file=ca_file)


class ConnectOrgDialog(QDialog):
    """Connect a new org in one of three ways (tabs): browser login, access token, Salesforce CLI.

    On success the org is in the registry, ``ctx.orgs_changed`` is emitted and the dialog accepts;
    :meth:`connected_alias` names the new org.

    Signals:
        org_connected(str): an org was registered under this alias.
        busy_changed(bool): a connection attempt started or ended.
    """

    org_connected = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *,
                 open_url: Callable[[str], Any] | None = None, sf_executable: str | None = None,
                 way: str = WAY_BROWSER):
        super().__init__(parent)
        self.ctx = ctx
        self.open_url = open_url or external.open_url
        self.worker: Worker | None = None
        self._worker_kind = ""
        self._alias: str | None = None
        self._alias_auto = True
        self._cli_orgs: list[CliOrg] = []
        self._cli_loaded = False
        self._authorize_url = ""

        self.setWindowTitle("Connect an Org")
        self.setModal(True)
        self.setMinimumSize(600, 580)
        self.resize(640, 600)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(12)
        title = QLabel("Connect an org")
        title.setProperty("role", "title")
        layout.addWidget(title)
        intro = QLabel("Log in through your browser (recommended: the session renews itself), paste an access "
                       "token, or reuse an org you already use with the Salesforce CLI.")
        intro.setWordWrap(True)
        intro.setProperty("role", "subtle")
        layout.addWidget(intro)

        usable, keyring_text = secrets.keyring_status()
        self.keyring_label = QLabel(keyring_text)
        self.keyring_label.setWordWrap(True)
        self.keyring_label.setStyleSheet(f"color: {WARNING}; background: #fef1e6; border: 1px solid #f5c99b; "
                                         "border-radius: 4px; padding: 6px 8px;")
        self.keyring_label.setVisible(not usable)
        layout.addWidget(self.keyring_label)

        common = QFormLayout()
        common.setHorizontalSpacing(12)
        common.setVerticalSpacing(8)
        self.alias_edit = QLineEdit()
        self.alias_edit.setPlaceholderText("A short name, e.g. acme-uat")
        self.alias_edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"[A-Za-z0-9_.\-]{0,64}"),
                                                                 self.alias_edit))
        self.alias_edit.textEdited.connect(self._on_alias_edit_text_edited)
        common.addRow("&Alias:", self.alias_edit)
        self.ca_edit = QLineEdit()
        self.ca_edit.setPlaceholderText("Optional (local sandbox, TLS-inspecting proxy)")
        self.ca_edit.setToolTip("A PEM file of certificate authorities to trust for this org, besides the usual "
                                "ones: the local sandbox's CA, or your company's proxy CA.")
        ca_browse = QPushButton("Browse…")
        ca_browse.setAutoDefault(False)
        ca_browse.clicked.connect(self._on_ca_browse_clicked)
        ca_row = QHBoxLayout()
        ca_row.setSpacing(6)
        ca_row.addWidget(self.ca_edit, 1)
        ca_row.addWidget(ca_browse)
        ca_label = QLabel("Trusted &CA file:")
        ca_label.setBuddy(self.ca_edit)
        common.addRow(ca_label, ca_row)
        layout.addLayout(common)

        self.tabs = QTabWidget()
        self.tabs.addTab(self._build_browser_tab(), "Browser login")
        self.tabs.addTab(self._build_token_tab(), "Access token")
        self.tabs.addTab(self._build_cli_tab(sf_executable), "Salesforce CLI")
        self.tabs.currentChanged.connect(self._on_tabs_current_changed)
        layout.addWidget(self.tabs, 1)

        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setTextFormat(Qt.TextFormat.RichText)
        self.status_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self.status_label.linkActivated.connect(self._on_status_label_link_activated)
        self.status_label.hide()
        layout.addWidget(self.status_label)

        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button = self.buttons.button(QDialogButtonBox.StandardButton.Cancel)
        self.cancel_button.setAutoDefault(False)
        self.buttons.rejected.connect(self.reject)
        layout.addWidget(self.buttons)

        self.tabs.setCurrentIndex(WAYS.index(way) if way in WAYS else 0)
        self._on_tabs_current_changed(self.tabs.currentIndex())
        self.alias_edit.setFocus()

    # ================================================================== construction
    def _build_browser_tab(self) -> QWidget:
        page, form = self._form_page()
        self.login_combo = QComboBox()
        for text, url in LOGIN_CHOICES:
            self.login_combo.addItem(text, url)
        self.login_combo.currentIndexChanged.connect(self._on_login_combo_current_index_changed)
        form.addRow("Log in to:", self.login_combo)
        self.login_url_edit = QLineEdit()
        self.login_url_edit.setPlaceholderText("https://yourdomain.my.salesforce.com")
        self.login_url_edit.setEnabled(False)
        form.addRow("Login URL:", self.login_url_edit)
        self.hint_edit = QLineEdit()
        self.hint_edit.setPlaceholderText("Optional: pre-fills the user name on the login page")
        form.addRow("User name:", self.hint_edit)
        self.client_id_edit = QLineEdit(DEFAULT_CLIENT_ID)
        self.client_id_edit.setToolTip("The connected app to log in through. The default is the Salesforce CLI's "
                                       "own app, which every org accepts.")
        form.addRow("Connected app (client id):", self.client_id_edit)
        self.port_spin = QSpinBox()
        self.port_spin.setRange(0, 65535)
        self.port_spin.setValue(DEFAULT_PORT)
        self.port_spin.setSpecialValueText("Any free port")
        self.port_spin.setToolTip("The local port the browser returns to (http://localhost:PORT/OauthRedirect). "
                                  f"The Salesforce CLI's app expects {DEFAULT_PORT}.")
        self.port_spin.setMaximumWidth(140)
        form.addRow("Callback port:", self.port_spin)
        form.addRow(self._note("Your browser opens the Salesforce login page. Log in, allow access, then come back "
                               "here: the app finishes on its own."))
        self.browser_button = self._accent_button("Open Browser and Log In", self._on_browser_button_clicked)
        form.addRow("", self._right(self.browser_button))
        return page

    def _build_token_tab(self) -> QWidget:
        page, form = self._form_page()
        self.instance_edit = QLineEdit()
        self.instance_edit.setPlaceholderText("https://yourdomain.my.salesforce.com")
        form.addRow("Instance URL:", self.instance_edit)
        self.token_edit = QLineEdit()
        self.token_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.token_edit.setPlaceholderText("00D…!…")
        form.addRow("Access token:", self.token_edit)
        form.addRow(self._note("A pasted token cannot be renewed: when its session ends, paste a new one or use the "
                               "browser login. It is kept in the system keyring, never in a file."))
        self.token_button = self._accent_button("Connect", self._on_token_button_clicked)
        form.addRow("", self._right(self.token_button))
        return page

    def _build_cli_tab(self, sf_executable: str | None) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        box.setContentsMargins(14, 14, 14, 14)
        box.setSpacing(8)
        row = QHBoxLayout()
        row.addWidget(QLabel("sf command:"))
        self.sf_edit = QLineEdit(sf_executable or sfcli.default_executable())
        self.sf_edit.setToolTip("The Salesforce CLI executable: 'sf' when it is on PATH, or its full path.")
        row.addWidget(self.sf_edit, 1)
        self.cli_refresh_button = QPushButton("Refresh List")
        self.cli_refresh_button.setAutoDefault(False)
        self.cli_refresh_button.clicked.connect(self._on_cli_refresh_button_clicked)
        row.addWidget(self.cli_refresh_button)
        box.addLayout(row)
        self.cli_table = QTableWidget(0, len(CLI_COLUMNS))
        self.cli_table.setHorizontalHeaderLabels(list(CLI_COLUMNS))
        self.cli_table.verticalHeader().hide()
        self.cli_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.cli_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.cli_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.cli_table.setAlternatingRowColors(True)
        self.cli_table.setShowGrid(False)
        self.cli_table.setStyleSheet("QTableWidget::item { padding-left: 6px; padding-right: 6px; }")
        self.cli_table.horizontalHeader().setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.cli_table.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft)
        self.cli_table.itemSelectionChanged.connect(self._on_cli_table_item_selection_changed)
        self.cli_table.itemDoubleClicked.connect(lambda _item: self._on_cli_import_button_clicked())
        self.cli_table.setMinimumHeight(140)
        box.addWidget(self.cli_table, 1)
        self.cli_note = self._note("Orgs you logged in to with 'sf org login web'. The app takes a token from the "
                                   "CLI and asks it again when the token expires.")
        box.addWidget(self.cli_note)
        self.cli_import_button = self._accent_button("Import Selected Org", self._on_cli_import_button_clicked)
        self.cli_import_button.setEnabled(False)
        box.addWidget(self._right(self.cli_import_button))
        return page

    @staticmethod
    def _form_page() -> tuple[QWidget, QFormLayout]:
        """A tab page laid out as a form (labels left, fields right)."""
        page = QWidget()
        form = QFormLayout(page)
        form.setContentsMargins(14, 14, 14, 14)
        form.setHorizontalSpacing(12)
        form.setVerticalSpacing(8)
        return page, form

    @staticmethod
    def _note(text: str) -> QLabel:
        """A word-wrapped hint in the subtle style, under a tab's fields."""
        note = QLabel(text)
        note.setWordWrap(True)
        note.setProperty("role", "subtle")
        return note

    @staticmethod
    def _accent_button(text: str, slot: Callable[[], None]) -> QPushButton:
        """The accent-coloured button that starts a tab's way of connecting, wired to ``slot``."""
        button = QPushButton(text)
        button.setProperty("accent", True)
        button.clicked.connect(slot)
        return button

    @staticmethod
    def _right(button: QPushButton) -> QWidget:
        """``button`` at the right end of a row of its own."""
        holder = QWidget()
        row = QHBoxLayout(holder)
        row.setContentsMargins(0, 4, 0, 0)
        row.addStretch(1)
        row.addWidget(button)
        return holder

    # ================================================================== public
    def connected_alias(self) -> str | None:
        """The alias of the org this dialog registered, once it did."""
        return self._alias

    def is_busy(self) -> bool:
        return self.worker is not None

    def current_way(self) -> str:
        return WAYS[self.tabs.currentIndex()]

    # ================================================================== status and busy state
    def _show_status(self, text: str, level: str = "info", *, rich: bool = False) -> None:
        colour = {"error": ERROR, "success": SUCCESS, "info": MUTED}.get(level, MUTED)
        self.status_label.setStyleSheet(f"color: {colour};")
        body = text if rich else text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        self.status_label.setText(body)
        self.status_label.show()

    def _set_busy(self, kind: str, worker: Worker | None) -> None:
        self.worker = worker
        self._worker_kind = kind if worker is not None else ""
        busy = worker is not None
        for widget in (self.browser_button, self.token_button, self.cli_refresh_button, self.alias_edit,
                       self.ca_edit, self.tabs.tabBar()):
            widget.setEnabled(not busy)
        self.cli_import_button.setEnabled(not busy and self._selected_cli_org() is not None)
        self.busy_changed.emit(busy)

    def _start(self, kind: str, fn: Callable[..., Any], *args: Any, on_finished: Callable[[Any], None]) -> None:
        worker = self.ctx.tasks.start(fn, *args, on_finished=on_finished, on_error=self._on_worker_errored,
                                      on_done=self._on_worker_done)
        self._set_busy(kind, worker)

    def _on_worker_done(self) -> None:
        self._set_busy("", None)

    def _on_worker_errored(self, text: str) -> None:
        if self._worker_kind == WAY_BROWSER and self.worker is not None and self.worker.cancel.cancelled:
            self._show_status("Login stopped.")
            return
        self._show_status(text[:1].upper() + text[1:], "error")

    # ================================================================== common fields
    def _on_alias_edit_text_edited(self, _text: str) -> None:
        self._alias_auto = False

    def _on_ca_browse_clicked(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Trusted CA file", "", "Certificates (*.pem *.crt *.cer);;All files (*)")
        if path:
            self.ca_edit.setText(path)

    def _on_tabs_current_changed(self, index: int) -> None:
        default = (self.browser_button, self.token_button, self.cli_import_button)[index]
        for button in (self.browser_button, self.token_button, self.cli_import_button):
            button.setDefault(button is default)
            button.setAutoDefault(button is default)
        if WAYS[index] == WAY_CLI and not self._cli_loaded and self.worker is None:
            self._on_cli_refresh_button_clicked()

    def _suggest_alias(self, base: str) -> None:
        if self._alias_auto or not self.alias_edit.text().strip():
            self.alias_edit.setText(unique_alias(self.ctx.registry, base))
            self._alias_auto = True

    def _checked_alias(self) -> str | None:
        alias = self.alias_edit.text().strip()
        try:
            validate_alias(alias)
        except RegistryError:
            self._show_status("Give the org an alias: 1 to 64 letters, digits, '-', '_' or '.'.", "error")
            self.alias_edit.setFocus()
            return None
        if alias in self.ctx.registry:
            self._show_status(f"An org named '{alias}' is already connected; pick another alias.", "error")
            self.alias_edit.setFocus()
            self.alias_edit.selectAll()
            return None
        return alias

    def _checked_ca_file(self) -> tuple[bool, str | None]:
        text = self.ca_edit.text().strip()
        if not text:
            return True, None
        if not Path(text).expanduser().is_file():
            self._show_status(f"The CA file {text} does not exist.", "error")
            self.ca_edit.setFocus()
            return False, None
        return True, str(Path(text).expanduser())

    def _connected(self, entry: OrgEntry, how: str) -> None:
        self._alias = entry.alias
        self.ctx.orgs_changed.emit()
        self.ctx.info(f"Connected org {entry.alias} ({entry.org_type}, {entry.username or entry.instance_url}) "
                      f"{how}.")
        self.org_connected.emit(entry.alias)
        if self.isVisible():
            self.accept()

    # ================================================================== browser login
    def _on_login_combo_current_index_changed(self, index: int) -> None:
        custom = not self.login_combo.itemData(index)
        self.login_url_edit.setEnabled(custom)
        if custom:
            self.login_url_edit.setFocus()

    def _login_url(self) -> str:
        return str(self.login_combo.currentData() or self.login_url_edit.text().strip())

    def _on_browser_button_clicked(self) -> None:
        if self.worker is not None:
            return
        login_url = self._login_url()
        if not login_url:
            self._show_status("Type the login URL (your My Domain, like https://acme.my.salesforce.com).", "error")
            self.login_url_edit.setFocus()
            return
        if not self.alias_edit.text().strip():
            base = {PRODUCTION_LOGIN_URL: "prod", SANDBOX_LOGIN_URL: "sandbox"}.get(login_url, _host_label(login_url))
            self._suggest_alias(base)
        alias = self._checked_alias()
        ok, ca_file = self._checked_ca_file()
        if alias is None or not ok:
            return
        settings = LoginSettings(login_url=login_url, client_id=self.client_id_edit.text().strip(),
                                 port=self.port_spin.value(), login_hint=self.hint_edit.text().strip() or None,
                                 ca_file=ca_file)
        try:
            login = BrowserLogin(settings)
        except OAuthError as exc:
            self._show_status(str(exc)[:1].upper() + str(exc)[1:], "error")
            return
        note = ""
        if login.receiver.fell_back:
            note = (f" Port {settings.port} is in use, so port {login.receiver.port} is used; "
                    "the Salesforce CLI's connected app only accepts its own port.")
        self._authorize_url = login.authorize_url
        self._start(WAY_BROWSER, _browser_task, self.ctx.registry, alias, login,
                    on_finished=self._on_browser_worker_finished)
        self._show_status("Waiting for you to log in in the browser… If it did not open, "
                          "<a href=\"open\">open the login page</a>." + note.replace("&", "&amp;"), rich=True)
        logger.info("opening the browser for the login of %s", alias)
        self.open_url(login.authorize_url)

    def _on_browser_worker_finished(self, entry: OrgEntry) -> None:
        self._connected(entry, "through the browser")

    def _on_status_label_link_activated(self, _link: str) -> None:
        if self._authorize_url and self.worker is not None:
            self.open_url(self._authorize_url)

    # ================================================================== access token
    def _on_token_button_clicked(self) -> None:
        if self.worker is not None:
            return
        url = self.instance_edit.text().strip()
        token = self.token_edit.text().strip()
        if not url:
            self._show_status("Type the org's instance URL.", "error")
            self.instance_edit.setFocus()
            return
        if not token:
            self._show_status("Paste the access token.", "error")
            self.token_edit.setFocus()
            return
        if not self.alias_edit.text().strip():
            self._suggest_alias(_host_label(url))
        alias = self._checked_alias()
        ok, ca_file = self._checked_ca_file()
        if alias is None or not ok:
            return
        self._show_status("Connecting…")
        self._start(WAY_TOKEN, _token_task, self.ctx.registry, alias, url, token, ca_file,
                    on_finished=self._on_token_worker_finished)

    def _on_token_worker_finished(self, entry: OrgEntry) -> None:
        self.token_edit.clear()
        self._connected(entry, "with an access token")

    # ================================================================== Salesforce CLI
    def _sf(self) -> str:
        return self.sf_edit.text().strip() or sfcli.DEFAULT_EXECUTABLE

    def _on_cli_refresh_button_clicked(self) -> None:
        if self.worker is not None:
            return
        self._cli_loaded = True
        self.cli_table.setRowCount(0)
        self._cli_orgs = []
        self._show_status("Asking the Salesforce CLI for its orgs…")
        self._start(WAY_CLI, _cli_list_task, self._sf(), on_finished=self._on_cli_list_worker_finished)

    def _on_cli_list_worker_finished(self, orgs: list[CliOrg]) -> None:
        self._cli_orgs = list(orgs)
        self.cli_table.setRowCount(len(orgs))
        for row, org in enumerate(orgs):
            values = (org.alias or "—", org.username, org.kind, org.status)
            for column, value in enumerate(values):
                item = QTableWidgetItem(value)
                if column == 3:
                    item.setForeground(Qt.GlobalColor.darkGreen if org.usable else Qt.GlobalColor.darkRed)
                if not org.usable:
                    item.setToolTip("The Salesforce CLI cannot use this org any more; log in again with "
                                    "'sf org login web'.")
                self.cli_table.setItem(row, column, item)
        self.cli_table.resizeColumnToContents(0)
        self.cli_table.resizeColumnToContents(2)
        self.cli_table.resizeColumnToContents(3)
        if orgs:
            self._show_status(f"The Salesforce CLI knows {len(orgs)} org{'s' if len(orgs) != 1 else ''}; "
                              "pick one to import.")
            preferred = next((row for row, org in enumerate(orgs) if org.is_default and org.usable),
                             next((row for row, org in enumerate(orgs) if org.usable), 0))
            self.cli_table.selectRow(preferred)
            self.cli_table.setFocus()
        else:
            self._show_status("The Salesforce CLI has no orgs yet: log in with 'sf org login web' first.")

    def _selected_cli_org(self) -> CliOrg | None:
        rows = self.cli_table.selectionModel().selectedRows() if self.cli_table.selectionModel() else []
        if not rows or not 0 <= rows[0].row() < len(self._cli_orgs):
            return None
        return self._cli_orgs[rows[0].row()]

    def _on_cli_table_item_selection_changed(self) -> None:
        org = self._selected_cli_org()
        self.cli_import_button.setEnabled(org is not None and self.worker is None)
        if org is not None:
            self._suggest_alias(org.suggested_alias())

    def _on_cli_import_button_clicked(self) -> None:
        org = self._selected_cli_org()
        if org is None or self.worker is not None:
            return
        alias = self._checked_alias()
        ok, ca_file = self._checked_ca_file()
        if alias is None or not ok:
            return
        self._show_status(f"Importing {org.username} from the Salesforce CLI…")
        self._start(WAY_CLI, _cli_import_task, self.ctx.registry, org, alias, self._sf(), ca_file,
                    on_finished=self._on_cli_import_worker_finished)

    def _on_cli_import_worker_finished(self, entry: OrgEntry) -> None:
        self._connected(entry, "from the Salesforce CLI")

    # ================================================================== closing
    def reject(self) -> None:
        """Esc / Cancel: stop a browser login that is waiting; otherwise close."""
        if self.worker is not None:
            self.worker.cancel.cancel("the user cancelled")
            if self._worker_kind == WAY_BROWSER:
                self._show_status("Stopping the login…")
        super().reject()



def open_connect_dialog(current: ConnectOrgDialog | None, ctx: AppContext, parent: QWidget,
                        open_url: Callable[[str], Any] | None,
                        on_connected: Callable[[str], None]) -> ConnectOrgDialog:
    """The Connect button of the Orgs tab and of the org selector: bring ``current`` to the front while it
    is open; otherwise open a new :class:`ConnectOrgDialog` whose ``org_connected`` calls ``on_connected``.
    Returns the dialog on screen (keep it to pass as ``current`` next time)."""
    if current is not None and current.isVisible():
        current.raise_()
        return current
    dialog = ConnectOrgDialog(ctx, parent, open_url=open_url)
    dialog.org_connected.connect(on_connected)
    dialog.open()
    return dialog
