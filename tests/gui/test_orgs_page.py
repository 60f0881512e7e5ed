"""The Orgs tab with pytest-qt: the table and its statuses, the keyring warning, test connection,
rename, remove (secrets gone, OAuth login revoked), connect, keyboard, and no network on the GUI thread."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import pytest
import requests
from gui_helpers import demo_orgs_context, show_widget, wait_idle
from keyring.backends import fail
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QInputDialog, QMessageBox

from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.orgs.models import (COL_ALIAS, COL_STATUS, COL_TYPE, CONNECTED, UNREACHABLE, OrgTableModel,
                                             format_last_used)
from isyncsf_desktop.gui.orgs.page import OrgsPage
from isyncsf_desktop.salesforce import secrets
from isyncsf_desktop.salesforce.client import OrgClient
from isyncsf_desktop.salesforce.oauth import LoginSettings, browser_login

pytestmark = pytest.mark.gui


@pytest.fixture
def ctx(qtbot: Any, tmp_path: Path, demo_server: Any) -> Iterator[AppContext]:
    yield from demo_orgs_context(demo_server, tmp_path, uat_refresh_token="R-fake")


def show_page(qtbot: Any, ctx: AppContext) -> OrgsPage:
    page = show_widget(qtbot, OrgsPage(ctx), 1100, 600, exposed=False)
    qtbot.waitUntil(lambda: not page.checker.busy, timeout=15_000)
    return page


def cell(page: OrgsPage, alias: str, column: int, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
    row = page.model.row_of(alias)
    return page.model.index(row, column).data(role)


# ====================================================================== the table
def test_table_shows_orgs_with_types_and_background_status(qtbot: Any, ctx: AppContext) -> None:
    assert not ctx.tasks.busy                       # nothing is checked before the page is shown
    page = show_page(qtbot, ctx)
    assert page.model.aliases() == ["demo-source", "demo-target", "acme-uat"]
    assert page.count_label.text() == "3 orgs"
    assert cell(page, "acme-uat", COL_TYPE) == "Sandbox"
    assert cell(page, "demo-source", COL_TYPE) == "Local sandbox"
    assert cell(page, "demo-source", COL_STATUS) == "Connected"
    assert cell(page, "acme-uat", COL_STATUS) == "Unreachable"
    assert "refused" in cell(page, "acme-uat", COL_STATUS, Qt.ItemDataRole.ToolTipRole).lower() \
        or "failed" in cell(page, "acme-uat", COL_STATUS, Qt.ItemDataRole.ToolTipRole).lower()
    assert page.checker.status("demo-target").state == CONNECTED
    assert page.checker.status("acme-uat").state == UNREACHABLE
    # sorted by alias in the view; the first row is selected
    assert page.selected_alias() == "acme-uat"
    assert page.keyring_banner.isHidden()
    assert "system keyring" in page.keyring_ok_label.text()


def test_last_used_is_shown_relative() -> None:
    from datetime import datetime, timezone

    now = datetime(2025, 3, 10, 12, 0, tzinfo=timezone.utc)
    assert format_last_used(None, now)[0] == "Never"
    assert format_last_used("2025-03-10T11:59:30+00:00", now)[0] == "Just now"
    assert format_last_used("2025-03-10T11:15:00+00:00", now)[0] == "45 min ago"
    assert format_last_used("2025-03-10T07:00:00+00:00", now)[0] == "5 h ago"
    assert format_last_used("2025-03-09T07:00:00+00:00", now)[0] == "Yesterday"
    assert format_last_used("2025-03-01T12:00:00+00:00", now)[0] == "9 days ago"
    assert format_last_used("2024-01-01T12:00:00+00:00", now)[0] == "2024-01-01"


@pytest.mark.expect_log
def test_an_unreadable_registry_is_reported(qtbot: Any, ctx: AppContext) -> None:
    ctx.registry.path.write_text("{broken", encoding="utf-8")
    with qtbot.waitSignal(ctx.message) as message:
        model = OrgTableModel(ctx.registry)
        model.load_failed.connect(lambda text: ctx.error(f"The org list could not be read: {text}"))
        model.reload()
    assert message.args[0] == "error" and "not valid JSON" in message.args[1]
    assert model.rowCount() == 0


@pytest.mark.expect_log
def test_keyring_without_a_backend_is_shown(qtbot: Any, ctx: AppContext) -> None:
    keyring.set_keyring(fail.Keyring())
    page = OrgsPage(ctx)
    qtbot.addWidget(page)
    page.show()
    assert not page.keyring_banner.isHidden()
    assert "won't be remembered" in page.keyring_label.text()
    assert page.keyring_ok_label.text() == ""
    wait_idle(qtbot, ctx)


def test_the_banner_appears_when_the_keyring_fails_later(qtbot: Any, ctx: AppContext) -> None:
    page = show_page(qtbot, ctx)
    assert page.keyring_banner.isHidden()
    keyring.set_keyring(fail.Keyring())
    ctx.orgs_changed.emit()
    assert not page.keyring_banner.isHidden()
    secrets._reset_session_state()


# ====================================================================== test connection
def test_test_connection_shows_user_type_and_api_usage(qtbot: Any, ctx: AppContext, demo_server: Any) -> None:
    page = show_page(qtbot, ctx)
    page.select_alias("demo-target")
    page.table.setFocus()
    with qtbot.waitSignal(page.test_finished, timeout=20_000) as finished:
        qtbot.keyClick(page.table, Qt.Key.Key_Return)
    alias, report = finished.args
    assert alias == "demo-target" and report is not None
    assert report.org_id == demo_server.store("target").org_id and report.org_type == "Local sandbox"
    labels = page.detail_labels
    assert report.username in labels["user"].text()
    assert report.org_id in labels["org"].text() and report.org_name in labels["org"].text()
    assert labels["type"].text() == "Local sandbox"
    assert "Local sandbox demo org" in labels["auth"].text()
    used, maximum = report.usage("DailyApiRequests")
    assert maximum > 0 and f"{used:,} of {maximum:,}" in page.api_label.text()
    assert page.api_bar.maximum() == maximum
    assert "of" in labels["storage"].text()
    assert not page.details_form_widget.isHidden() and page.details_hint.isHidden()
    assert "demo-target" in page.details_box.title()


@pytest.mark.expect_log
def test_a_failed_test_says_why(qtbot: Any, ctx: AppContext) -> None:
    page = show_page(qtbot, ctx)
    page.select_alias("acme-uat")
    with qtbot.waitSignal(page.test_finished, timeout=20_000) as finished:
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    assert finished.args == ["acme-uat", None]
    assert "The connection to acme-uat failed" in page.details_hint.text()
    assert page.details_form_widget.isHidden()
    assert page.checker.status("acme-uat").state == UNREACHABLE
    assert "not-a-token" not in page.details_hint.text()


def test_network_work_never_runs_on_the_gui_thread(qtbot: Any, ctx: AppContext,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    threads: list[str] = []
    real = OrgClient._call

    def recording(self: OrgClient, what: str, fn: Any, **kwargs: Any) -> Any:
        threads.append(threading.current_thread().name)
        return real(self, what, fn, **kwargs)

    monkeypatch.setattr(OrgClient, "_call", recording)
    page = show_page(qtbot, ctx)
    page.select_alias("demo-source")
    with qtbot.waitSignal(page.test_finished, timeout=20_000):
        qtbot.mouseClick(page.test_button, Qt.MouseButton.LeftButton)
    assert len(threads) >= 5
    assert threading.main_thread().name not in threads


# ====================================================================== rename and remove
def test_rename_with_f2_moves_secrets_and_the_execute_choice(qtbot: Any, ctx: AppContext,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    ctx.set_target("acme-uat")
    assert ctx.settings.value("orgs/last_target") == "acme-uat"
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("acme-qa", True))
    page = show_page(qtbot, ctx)
    page.select_alias("acme-uat")
    page.table.setFocus()
    with qtbot.waitSignal(ctx.orgs_changed):
        qtbot.keyClick(page.table, Qt.Key.Key_F2)
    assert "acme-qa" in ctx.registry and "acme-uat" not in ctx.registry
    assert ctx.registry.access_token("acme-qa") == "00Dfake!not-a-token"
    assert ctx.registry.refresh_token("acme-qa") == "R-fake" and ctx.registry.access_token("acme-uat") is None
    assert ctx.target == "acme-qa" and ctx.settings.value("orgs/last_target") == "acme-qa"
    assert page.selected_alias() == "acme-qa" and page.model.aliases()[-1] == "acme-qa"
    assert page.checker.status("acme-qa").state == UNREACHABLE      # its status moved too


@pytest.mark.expect_log
def test_a_bad_new_alias_is_refused_with_a_message(qtbot: Any, ctx: AppContext,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(QInputDialog, "getText", lambda *args, **kwargs: ("demo-target", True))
    page = show_page(qtbot, ctx)
    page.select_alias("acme-uat")
    with qtbot.waitSignal(ctx.message) as message:
        qtbot.mouseClick(page.rename_button, Qt.MouseButton.LeftButton)
    assert message.args[0] == "error" and "already registered" in message.args[1]
    assert "acme-uat" in ctx.registry


def test_demo_orgs_keep_their_alias(qtbot: Any, ctx: AppContext) -> None:
    page = show_page(qtbot, ctx)
    page.select_alias("demo-source")
    assert not page.rename_button.isEnabled() and "Demo orgs" in page.rename_button.toolTip()
    page.select_alias("acme-uat")
    assert page.rename_button.isEnabled()


@pytest.mark.parametrize("answer", [QMessageBox.StandardButton.No, QMessageBox.StandardButton.Yes])
def test_remove_asks_then_deletes_the_org_and_its_secrets(qtbot: Any, ctx: AppContext,
                                                          monkeypatch: pytest.MonkeyPatch,
                                                          answer: QMessageBox.StandardButton) -> None:
    asked: list[str] = []
    monkeypatch.setattr(QMessageBox, "question", lambda parent, title, text, *a: asked.append(text) or answer)
    ctx.set_target("acme-uat")
    page = show_page(qtbot, ctx)
    page.select_alias("acme-uat")
    page.table.setFocus()
    qtbot.keyClick(page.table, Qt.Key.Key_Delete)
    assert len(asked) == 1 and "acme-uat" in asked[0] and "target org" in asked[0]
    removed = answer == QMessageBox.StandardButton.Yes
    assert ("acme-uat" in ctx.registry) is not removed
    assert (ctx.registry.access_token("acme-uat") is None) is removed
    assert (ctx.registry.refresh_token("acme-uat") is None) is removed
    assert (ctx.target is None) is removed
    assert ("acme-uat" in page.model.aliases()) is not removed


def test_removing_an_oauth_org_revokes_its_login(qtbot: Any, ctx: AppContext, sandbox_factory: Any,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    server = sandbox_factory({"uat": "empty"})
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_file)

    def play(url: str) -> None:
        session.get(session.get(url, allow_redirects=False).headers["Location"])

    browser_login(ctx.registry, "uat-oauth", LoginSettings(login_url=server.instance_url, client_id="t", port=0,
                                                           ca_file=str(server.ca_file)), play)
    refresh = ctx.registry.refresh_token("uat-oauth")
    ctx.orgs_changed.emit()
    monkeypatch.setattr(QMessageBox, "question", lambda *a: QMessageBox.StandardButton.Yes)
    page = show_page(qtbot, ctx)
    page.select_alias("uat-oauth")
    qtbot.mouseClick(page.remove_button, Qt.MouseButton.LeftButton)
    assert "uat-oauth" not in ctx.registry
    qtbot.waitUntil(lambda: server.store("uat").token_state(refresh, "refresh") == "revoked", timeout=20_000)
    wait_idle(qtbot, ctx)


# ====================================================================== connect and keyboard
def test_ctrl_n_connects_a_new_org_that_is_then_listed_and_selected(qtbot: Any, ctx: AppContext,
                                                                    sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "empty"})
    page = show_page(qtbot, ctx)
    qtbot.keyClick(page, Qt.Key.Key_N, Qt.KeyboardModifier.ControlModifier)
    dialog = page.connect_dialog
    assert dialog is not None and dialog.isVisible()
    dialog.tabs.setCurrentIndex(1)
    dialog.alias_edit.setText("qa")
    dialog.ca_edit.setText(str(server.ca_file))
    dialog.instance_edit.setText(server.instance_url)
    dialog.token_edit.setText(server.token("qa"))
    with qtbot.waitSignal(dialog.org_connected, timeout=20_000):
        qtbot.mouseClick(dialog.token_button, Qt.MouseButton.LeftButton)
    assert "qa" in page.model.aliases() and page.selected_alias() == "qa"
    assert page.count_label.text() == "4 orgs"
    qtbot.waitUntil(lambda: page.checker.status("qa").state == CONNECTED, timeout=15_000)
    wait_idle(qtbot, ctx)


def test_f5_checks_every_org_again(qtbot: Any, ctx: AppContext) -> None:
    page = show_page(qtbot, ctx)
    with qtbot.waitSignal(page.checker.idle, timeout=20_000):
        qtbot.keyClick(page, Qt.Key.Key_F5)
        assert page.checker.busy
        assert cell(page, "demo-source", COL_STATUS) == "Checking…"
    assert cell(page, "demo-source", COL_STATUS) == "Connected"


def test_alias_column_tooltip_says_how_the_org_connects(qtbot: Any, ctx: AppContext) -> None:
    page = show_page(qtbot, ctx)
    tip = cell(page, "demo-source", COL_ALIAS, Qt.ItemDataRole.ToolTipRole)
    assert "Local sandbox demo org" in tip and "Connected" in tip
