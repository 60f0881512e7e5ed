"""The org selector modal ("Select Destination Org") and the connect dialog, driven with pytest-qt:
search, keyboard, pick, cancel, source-as-target confirmation, and connecting a new org the three
ways (access token, browser login played by the test, Salesforce CLI with a fake ``sf``)."""

from __future__ import annotations

import json
import stat
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from gui_helpers import demo_orgs_context, wait_idle
from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import QDialog, QMessageBox

from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.orgs.connect import WAY_BROWSER, WAY_CLI, WAY_TOKEN, ConnectOrgDialog, unique_alias
from isyncsf_desktop.gui.orgs.models import CONNECTED, UNREACHABLE
from isyncsf_desktop.gui.orgs.selector import OrgSelectorDialog

pytestmark = pytest.mark.gui


# ====================================================================== fixtures and helpers
@pytest.fixture
def ctx(qtbot: Any, tmp_path: Path, demo_server: Any) -> Iterator[AppContext]:
    yield from demo_orgs_context(demo_server, tmp_path, uat_last_used="2025-01-02T10:00:00+00:00")


def open_selector(qtbot: Any, ctx: AppContext, **kwargs: Any) -> OrgSelectorDialog:
    dialog = OrgSelectorDialog(ctx, None, **{"title": "Select Destination Org", **kwargs})
    qtbot.addWidget(dialog)
    dialog.show()
    qtbot.waitUntil(lambda: not dialog.checker.busy, timeout=15_000)
    return dialog


def browser_player(ca_file: Any) -> Callable[[str], None]:
    """An ``open_url`` that plays the user's browser: authorize, then follow the redirect home."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(ca_file)

    def open_url(url: str) -> None:
        resp = session.get(url, allow_redirects=False, timeout=30)
        assert resp.status_code == 302, resp.text
        assert "close this tab" in session.get(resp.headers["Location"], timeout=30).text
    return open_url


# ====================================================================== listing and status
def test_lists_orgs_and_checks_their_connection_in_the_background(qtbot: Any, ctx: AppContext) -> None:
    dialog = open_selector(qtbot, ctx, exclude_alias="demo-source")
    assert dialog.windowTitle() == "Select Destination Org"
    assert dialog.visible_aliases() == ["demo-source", "demo-target", "acme-uat"]
    assert dialog.checker.status("demo-source").state == CONNECTED
    assert dialog.checker.status("demo-target").state == CONNECTED
    assert "integration@" in dialog.checker.status("demo-target").detail
    assert dialog.checker.status("acme-uat").state == UNREACHABLE
    assert dialog.current_alias() == "demo-target"          # nothing remembered: the first org that is not the source
    assert dialog.search_edit.hasFocus() or not dialog.isActiveWindow()
    tooltip = dialog.proxy.index(2, 0).data(Qt.ItemDataRole.ToolTipRole)
    assert "Unreachable" in tooltip


def test_search_filters_by_alias_user_instance_and_type(qtbot: Any, ctx: AppContext) -> None:
    dialog = open_selector(qtbot, ctx)
    qtbot.keyClicks(dialog.search_edit, "uat")
    assert dialog.visible_aliases() == ["demo-target", "acme-uat"]      # demo-target's user is ...@acme.demo.uat
    dialog.search_edit.setText("sandbox admin")
    assert dialog.visible_aliases() == ["acme-uat"]                     # every word must match
    assert dialog.current_alias() == "acme-uat"
    dialog.search_edit.setText("LOCAL SOURCE")
    assert dialog.visible_aliases() == ["demo-source"]
    dialog.search_edit.setText("nothing-like-this")
    assert dialog.visible_aliases() == []
    assert not dialog.empty_label.isHidden() and "No org matches" in dialog.empty_label.text()
    assert not dialog.select_button.isEnabled()
    dialog.search_edit.clear()
    assert len(dialog.visible_aliases()) == 3 and dialog.empty_label.isHidden()
    assert dialog.select_button.isEnabled()


def test_arrow_keys_move_and_enter_picks_and_is_remembered(qtbot: Any, ctx: AppContext) -> None:
    dialog = open_selector(qtbot, ctx)
    assert dialog.current_alias() == "demo-source"
    qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Down)
    qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Down)
    assert dialog.current_alias() == "acme-uat"
    qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Down)                # stays on the last one
    qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Up)
    assert dialog.current_alias() == "demo-target"
    with qtbot.waitSignal(dialog.org_picked) as picked:
        qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Return)
    assert picked.args == ["demo-target"]
    assert dialog.result() == QDialog.DialogCode.Accepted
    assert dialog.selected_alias() == "demo-target"
    assert ctx.settings.value("orgs/last_target") == "demo-target"
    assert ctx.target is None                               # the caller applies it, not the dialog

    again = open_selector(qtbot, ctx)
    assert again.current_alias() == "demo-target"           # the last choice is pre-selected


def test_enter_in_the_list_and_double_click_pick(qtbot: Any, ctx: AppContext) -> None:
    dialog = open_selector(qtbot, ctx)
    dialog.select_alias("acme-uat")
    dialog.list_view.setFocus()
    qtbot.keyClick(dialog.list_view, Qt.Key.Key_Return)
    assert dialog.selected_alias() == "acme-uat"

    other = open_selector(qtbot, ctx)
    other.select_alias("demo-source")
    rect = other.list_view.visualRect(other.list_view.currentIndex())
    qtbot.mouseClick(other.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    qtbot.mouseDClick(other.list_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    assert other.selected_alias() == "demo-source"


def test_escape_and_cancel_pick_nothing(qtbot: Any, ctx: AppContext) -> None:
    dialog = open_selector(qtbot, ctx)
    qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Escape)
    assert dialog.result() == QDialog.DialogCode.Rejected and dialog.selected_alias() is None
    other = open_selector(qtbot, ctx)
    qtbot.mouseClick(other.cancel_button, Qt.MouseButton.LeftButton)
    assert other.result() == QDialog.DialogCode.Rejected and other.selected_alias() is None
    assert ctx.settings.value("orgs/last_target") is None


def test_exec_returns_accepted_with_the_pick(qtbot: Any, ctx: AppContext) -> None:
    """The Execute tab's way: ``if dialog.exec() and dialog.selected_alias()``."""
    ctx.settings.setValue("orgs/last_target", "acme-uat")
    dialog = open_selector(qtbot, ctx, exclude_alias="demo-source")
    QTimer.singleShot(0, lambda: qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Return))
    assert dialog.exec() == QDialog.DialogCode.Accepted
    assert dialog.selected_alias() == "acme-uat"


# ====================================================================== source as target
@pytest.mark.parametrize(("answer", "picked"), [(QMessageBox.StandardButton.No, None),
                                                (QMessageBox.StandardButton.Yes, "demo-source")])
def test_the_source_org_as_target_needs_confirmation(qtbot: Any, ctx: AppContext, monkeypatch: pytest.MonkeyPatch,
                                                     answer: QMessageBox.StandardButton, picked: str | None) -> None:
    asked: list[str] = []

    def question(parent: Any, title: str, text: str, *args: Any) -> QMessageBox.StandardButton:
        asked.append(text)
        return answer

    monkeypatch.setattr(QMessageBox, "question", question)
    dialog = open_selector(qtbot, ctx, exclude_alias="demo-source")
    dialog.search_edit.setText("demo-source")
    qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Return)
    assert len(asked) == 1 and "demo-source" in asked[0] and "source org" in asked[0]
    assert dialog.selected_alias() == picked
    assert (dialog.result() == QDialog.DialogCode.Accepted) == (picked is not None)
    assert dialog.isVisible() == (picked is None)

    dialog.search_edit.clear()
    dialog.select_alias("demo-target")
    if picked is None:                                   # another org needs no question
        qtbot.keyClick(dialog.search_edit, Qt.Key.Key_Return)
        assert len(asked) == 1 and dialog.selected_alias() == "demo-target"


# ====================================================================== connecting a new org
def test_connect_new_org_with_a_token_from_the_selector(qtbot: Any, ctx: AppContext, sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "demo-target"})
    dialog = open_selector(qtbot, ctx)
    qtbot.mouseClick(dialog.connect_button, Qt.MouseButton.LeftButton)
    connect = dialog.connect_dialog
    assert connect is not None and connect.isVisible()
    connect.tabs.setCurrentIndex(1)
    assert connect.current_way() == WAY_TOKEN
    qtbot.keyClicks(connect.alias_edit, "qa-token")
    connect.ca_edit.setText(str(server.ca_file))
    qtbot.keyClicks(connect.instance_edit, server.instance_url)
    qtbot.keyClicks(connect.token_edit, server.token("qa"))
    with qtbot.waitSignal(connect.org_connected, timeout=20_000) as connected:
        qtbot.keyClick(connect.token_edit, Qt.Key.Key_Return)       # Enter = the tab's Connect button
    assert connected.args == ["qa-token"]
    assert connect.result() == QDialog.DialogCode.Accepted and connect.connected_alias() == "qa-token"
    entry = ctx.registry.get("qa-token")
    assert (entry.auth, entry.org_type, entry.org_id) == ("token", "Local sandbox", server.store("qa").org_id)
    assert ctx.registry.access_token("qa-token") == server.token("qa")
    assert "qa-token" in dialog.visible_aliases() and dialog.current_alias() == "qa-token"
    qtbot.waitUntil(lambda: dialog.checker.status("qa-token").state == CONNECTED, timeout=15_000)
    qtbot.keyClick(dialog.list_view, Qt.Key.Key_Return)
    assert dialog.selected_alias() == "qa-token"
    wait_idle(qtbot, ctx)


@pytest.mark.expect_log
def test_a_refused_token_keeps_the_dialog_open_with_the_reason(qtbot: Any, ctx: AppContext,
                                                               demo_server: Any) -> None:
    connect = ConnectOrgDialog(ctx, None, way=WAY_TOKEN)
    qtbot.addWidget(connect)
    connect.show()
    connect.alias_edit.setText("bad")
    connect.ca_edit.setText(str(demo_server.ca_file))
    connect.instance_edit.setText(demo_server.instance_url)
    connect.token_edit.setText("00Dbogus!not-a-real-token")
    with qtbot.waitSignal(connect.busy_changed, timeout=20_000, check_params_cb=lambda busy: not busy):
        qtbot.mouseClick(connect.token_button, Qt.MouseButton.LeftButton)
    assert connect.isVisible() and "refused the access token" in connect.status_label.text()
    assert "not-a-real-token" not in connect.status_label.text()
    assert "bad" not in ctx.registry


def test_connect_checks_alias_url_and_ca_before_any_network(qtbot: Any, ctx: AppContext) -> None:
    connect = ConnectOrgDialog(ctx, None, way=WAY_TOKEN)
    qtbot.addWidget(connect)
    connect.show()
    connect.alias_edit.setText("demo-target")
    connect.instance_edit.setText("https://example.my.salesforce.com")
    connect.token_edit.setText("x")
    qtbot.mouseClick(connect.token_button, Qt.MouseButton.LeftButton)
    assert "already connected" in connect.status_label.text() and not connect.is_busy()
    connect.alias_edit.setText("fresh")
    connect.ca_edit.setText("/no/such/ca.pem")
    qtbot.mouseClick(connect.token_button, Qt.MouseButton.LeftButton)
    assert "does not exist" in connect.status_label.text() and not connect.is_busy()
    assert not ctx.tasks.busy
    assert unique_alias(ctx.registry, "demo-target") == "demo-target-2"
    assert unique_alias(ctx.registry, "a b!") == "a-b"


def test_browser_login_from_the_connect_dialog(qtbot: Any, ctx: AppContext, sandbox_factory: Any) -> None:
    server = sandbox_factory({"uat": "demo-target"})
    opened: list[str] = []
    player = browser_player(server.ca_file)

    def open_url(url: str) -> None:
        opened.append(url)
        player(url)

    connect = ConnectOrgDialog(ctx, None, open_url=open_url)
    qtbot.addWidget(connect)
    connect.show()
    assert connect.current_way() == WAY_BROWSER
    assert connect.client_id_edit.text() == "PlatformCLI" and connect.port_spin.value() == 1717
    connect.login_combo.setCurrentIndex(2)                  # My Domain or another login URL
    assert connect.login_url_edit.isEnabled()
    connect.login_url_edit.setText(server.instance_url)
    connect.hint_edit.setText("uat")
    connect.client_id_edit.setText("isyncsf-gui-test")
    connect.port_spin.setValue(0)                           # any free port
    connect.ca_edit.setText(str(server.ca_file))
    connect.alias_edit.setText("uat-browser")
    with qtbot.waitSignal(connect.org_connected, timeout=20_000):
        qtbot.mouseClick(connect.browser_button, Qt.MouseButton.LeftButton)
    assert len(opened) == 1 and "code_challenge=" in opened[0] and "login_hint=uat" in opened[0]
    entry = ctx.registry.get("uat-browser")
    assert (entry.auth, entry.client_id, entry.login_url) == ("oauth", "isyncsf-gui-test", server.instance_url)
    assert entry.org_id == server.store("uat").org_id
    assert ctx.registry.refresh_token("uat-browser")
    wait_idle(qtbot, ctx)


@pytest.mark.expect_log
def test_cancelling_a_waiting_browser_login(qtbot: Any, ctx: AppContext, sandbox_factory: Any) -> None:
    server = sandbox_factory({"uat": "empty"})
    opened: list[str] = []
    connect = ConnectOrgDialog(ctx, None, open_url=opened.append)     # the user never logs in
    qtbot.addWidget(connect)
    connect.show()
    connect.login_combo.setCurrentIndex(2)
    connect.login_url_edit.setText(server.instance_url)
    connect.port_spin.setValue(0)
    qtbot.mouseClick(connect.browser_button, Qt.MouseButton.LeftButton)
    assert connect.is_busy() and len(opened) == 1
    assert connect.alias_edit.text() == "local"             # suggested from the login host
    assert "Waiting for you to log in" in connect.status_label.text()
    qtbot.keyClick(connect, Qt.Key.Key_Escape)
    assert not connect.isVisible()
    wait_idle(qtbot, ctx)
    assert "local" not in ctx.registry


FAKE_SF = """\
#!{python}
import json, sys
args = [a for a in sys.argv[1:] if a != "--json"]
answers = json.load(open({answers!r}, encoding="utf-8"))
key = " ".join(args[:3]) if args[:2] == ["org", "auth"] else " ".join(args[:2])
answer = answers.get(key)
if answer is None:
    print(json.dumps({{"status": 1, "message": "unexpected " + key}}))
    sys.exit(1)
print(json.dumps(answer))
"""


def write_fake_sf(tmp_path: Path, answers: dict[str, Any]) -> Path:
    answers_file = tmp_path / "sf-answers.json"
    answers_file.write_text(json.dumps(answers), encoding="utf-8")
    script = tmp_path / "sf"
    script.write_text(textwrap.dedent(FAKE_SF.format(python=sys.executable, answers=str(answers_file))),
                      encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


def test_import_from_the_salesforce_cli(qtbot: Any, ctx: AppContext, sandbox_factory: Any, tmp_path: Path) -> None:
    server = sandbox_factory({"dev": "demo-source"})
    store = server.store("dev")
    username = store.get("User", store.api_user_id)["Username"]
    script = write_fake_sf(tmp_path, {
        "org list": {"status": 0, "result": {"other": [
            {"username": username, "alias": "dev-hub-cli", "orgId": store.org_id, "instanceUrl": server.instance_url,
             "connectedStatus": "Connected"},
            {"username": "gone@example.com", "alias": "gone", "orgId": "00D000000000009AAA",
             "instanceUrl": "https://gone.my.salesforce.com", "connectedStatus": "RefreshTokenAuthError"}]}},
        "org auth show-access-token": {"status": 0, "result": {"accessToken": server.token("dev"),
                                                               "instanceUrl": server.instance_url}}})
    connect = ConnectOrgDialog(ctx, None, way=WAY_CLI, sf_executable=str(script))
    qtbot.addWidget(connect)
    connect.show()
    qtbot.waitUntil(lambda: connect.cli_table.rowCount() == 2 and not connect.is_busy(), timeout=20_000)
    assert connect.cli_table.item(0, 1).text() == username
    assert connect.cli_table.item(1, 3).text() == "RefreshTokenAuthError"
    assert connect.alias_edit.text() == "dev-hub-cli"        # suggested from the selected row
    connect.ca_edit.setText(str(server.ca_file))
    assert connect.cli_import_button.isEnabled(), connect.status_label.text()
    with qtbot.waitSignal(connect.org_connected, timeout=20_000):
        qtbot.mouseClick(connect.cli_import_button, Qt.MouseButton.LeftButton)
    entry = ctx.registry.get("dev-hub-cli")
    assert (entry.auth, entry.username, entry.org_id) == ("sfcli", username, store.org_id)
    wait_idle(qtbot, ctx)


@pytest.mark.expect_log
def test_cli_not_installed_is_said_clearly(qtbot: Any, ctx: AppContext, tmp_path: Path) -> None:
    connect = ConnectOrgDialog(ctx, None, way=WAY_CLI, sf_executable=str(tmp_path / "no" / "sf"))
    qtbot.addWidget(connect)
    connect.show()
    qtbot.waitUntil(lambda: not connect.is_busy(), timeout=20_000)
    assert "Salesforce CLI was not found" in connect.status_label.text()
    assert connect.cli_table.rowCount() == 0 and not connect.cli_import_button.isEnabled()
