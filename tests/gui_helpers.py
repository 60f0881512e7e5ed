"""GUI test helpers: sandbox orgs registered in an isolated registry, an AppContext over them, showing
widgets, waiting for workers, and answering questions without a message box."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QMessageBox, QWidget

from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.salesforce.registry import OrgEntry, OrgRegistry

W = TypeVar("W", bound=QWidget)


def register_orgs(server: Any, aliases: Iterable[str] = ("source", "target"),
                  registry: OrgRegistry | None = None) -> OrgRegistry:
    """Register the server's orgs (sandbox auth, token in the test keyring) under their aliases."""
    registry = registry or OrgRegistry()
    for alias in aliases:
        store = server.store(alias)
        user = store.get("User", store.api_user_id) or {}
        registry.add(OrgEntry(alias=alias, org_id=store.org_id, instance_url=server.instance_url,
                              username=user.get("Username", f"{alias}@demo.test"), org_type="Local sandbox",
                              ca_file=str(server.ca_file), auth="sandbox"), server.token(alias), replace=True)
    return registry


def make_app_context(server: Any, tmp_path: Path, aliases: Iterable[str] = ("source", "target")) -> AppContext:
    """An AppContext over a fresh journal whose registry knows the server's orgs."""
    return AppContext(registry=register_orgs(server, aliases), journal=Journal(tmp_path / "journal.sqlite3"))


DEMO_TEMPLATE = Path(__file__).resolve().parents[1] / "isyncsf_desktop" / "data" / "templates" / "demo.json"


def demo_context(server: Any, tmp_path: Path) -> AppContext:
    """:func:`make_app_context` with the demo template as the current template."""
    from isyncsf_desktop.engine.template import parse_template

    ctx = make_app_context(server, tmp_path)
    ctx.template = parse_template(load_demo_template())
    return ctx


def load_demo_template() -> dict[str, Any]:
    """The demo template as JSON data (a fresh copy each call)."""
    return json.loads(DEMO_TEMPLATE.read_text())


def demo_sandbox_context(sandbox_factory: Any, tmp_path: Path, qtbot: Any) -> Iterator[AppContext]:
    """For a fixture to ``yield from``: :func:`demo_context` over a fresh server with the two demo orgs;
    once the test is done, waits for its workers and shuts the context down."""
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    context = demo_context(server, tmp_path)
    yield context
    qtbot.waitUntil(lambda: not context.tasks.busy, timeout=60_000)
    context.shutdown()


def add_demo_orgs(registry: OrgRegistry, server: Any, *, uat_last_used: str | None = None,
                  uat_refresh_token: str | None = None) -> None:
    """demo-source and demo-target on the shared demo server, plus acme-uat that cannot be reached
    (last used ``uat_last_used``, with ``uat_refresh_token`` if given)."""
    for alias, org in (("demo-source", "source"), ("demo-target", "target")):
        store = server.store(org)
        registry.add(OrgEntry(alias=alias, org_id=store.org_id, instance_url=server.instance_url,
                              username=store.get("User", store.api_user_id)["Username"], org_type="Local sandbox",
                              ca_file=str(server.ca_file), auth="sandbox"), server.token(org))
    registry.add(OrgEntry(alias="acme-uat", org_id="00D5g0000001UATAAA", instance_url="https://127.0.0.1:9",
                          username="admin@acme.com.uat", org_type="Sandbox", last_used=uat_last_used),
                 "00Dfake!not-a-token", uat_refresh_token)


def demo_orgs_context(server: Any, tmp_path: Path, **uat: str | None) -> Iterator[AppContext]:
    """For a fixture to ``yield from``: an AppContext whose registry holds :func:`add_demo_orgs` (``uat`` goes
    to it), with its own settings file and journal in ``tmp_path``; closed once the test is done."""
    registry = OrgRegistry()
    add_demo_orgs(registry, server, **uat)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    context = AppContext(registry=registry, journal=Journal(tmp_path / "journal.sqlite3"), settings=settings)
    yield context
    close_context(context)


def close_context(context: AppContext) -> None:
    """The end of a test's AppContext: cancel its tasks, wait for the pool, close the journal."""
    context.tasks.cancel_all()
    context.pool.waitForDone()
    context.journal.close()


def wait_idle(qtbot: Any, ctx: AppContext) -> None:
    """Wait until no background task of ``ctx`` runs."""
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=20_000)


def show_widget(qtbot: Any, widget: W, width: int, height: int, *, exposed: bool = True) -> W:
    """Hand ``widget`` to qtbot, size it and show it; wait until it is on screen unless ``exposed`` is false."""
    qtbot.addWidget(widget)
    widget.resize(width, height)
    widget.show()
    if exposed:
        qtbot.waitExposed(widget)
    return widget


class Answers(list):
    """The (title, text) of every question asked; ``reply`` is the answer given."""

    reply = QMessageBox.StandardButton.Yes


def answer_questions(monkeypatch: pytest.MonkeyPatch) -> Answers:
    """Make QMessageBox.question answer ``reply`` of the returned list (Yes by default) without showing a box."""
    asked = Answers()

    def question(parent: Any, title: str, text: str, *args: Any, **kwargs: Any) -> QMessageBox.StandardButton:
        asked.append((title, text))
        return asked.reply

    monkeypatch.setattr(QMessageBox, "question", question)
    return asked


def press_start_sync(qtbot: Any, page: Any, *, suggested_switches: bool = False) -> None:
    """Press Start Sync on the Execute ``page`` with the mouse. The first sync of a template between two orgs
    shows the metadata check first: wait for its findings, then press its Start Sync, keeping the automation
    it suggests switching off when ``suggested_switches`` is true (else unticking every item)."""
    from PySide6.QtCore import Qt

    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    dialog = page.preflight_dialog
    if dialog is None:
        return
    qtbot.waitUntil(lambda: dialog.report() is not None and not dialog.busy(), timeout=60_000)
    if not suggested_switches:
        for item in dialog.automation_items():
            dialog.set_ticked(item.name, False)
    qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)


EXECUTE_TEMPLATE: dict[str, Any] = {
    "name": "Execute tab test",
    "options": {"continue_on_error": True, "versioning": True, "batch_size": 50},
    "objects": [{"object": "Account", "match_by": ["External_Id__c"]},
                {"object": "Contact", "match_by": ["Email"]},
                {"object": "Opportunity", "match_by": ["Name", "Account.External_Id__c"]}],
}
"""Account, Contact and Opportunity of the demo orgs: a second pass (Account.Primary_Contact__c), and 46
contacts the target's phone rule rejects."""


def open_execute_page(server: Any, tmp_path: Path, qtbot: Any, template: dict[str, Any]) -> tuple[AppContext, Any, Path]:
    """An Execute page (1280 x 760) over :func:`make_app_context` of ``server`` (a fresh journal in ``tmp_path``),
    ``template`` written to ``tmp_path/template.json`` and opened, the "source" org chosen: (context, page, path)."""
    from isyncsf_desktop.gui.execute.page import ExecutePage

    ctx = make_app_context(server, tmp_path)
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    page = ExecutePage(ctx)
    qtbot.addWidget(page)
    page.resize(1280, 760)
    ctx.open_template(path)
    ctx.set_source("source")
    return ctx, page, path


def run_and_wait(qtbot: Any, page: Any, button: Any, timeout: int = 120_000) -> Any:
    """Press ``button`` of the Execute ``page`` (Start Sync through :func:`press_start_sync`), wait for the run
    to end; its :class:`RunResult` (None when it failed)."""
    from PySide6.QtCore import Qt

    with qtbot.waitSignal(page.run_finished, timeout=timeout) as finished:
        if button is page.start_button:
            press_start_sync(qtbot, page)
        else:
            qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)
    return finished.args[0]


def open_main_window(server: Any, tmp_path: Path, qtbot: Any, template: dict[str, Any]) -> tuple[AppContext, Any, Any]:
    """The main window, shown, over the server's "source" and "target" orgs and a journal in ``tmp_path``, with
    ``template`` written to ``tmp_path/template.json`` and opened and the source chosen: (context, window,
    Execute page)."""
    from isyncsf_desktop.gui.main_window import MainWindow

    ctx = AppContext(registry=register_orgs(server), journal=Journal(tmp_path / "journal.sqlite3"))
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template))
    window = MainWindow(ctx, start_sandbox=False)
    qtbot.addWidget(window)
    window.show()
    page = window.show_page("Execute")
    ctx.open_template(path)
    ctx.set_source("source")
    return ctx, window, page
