"""The Mappings tab of the template editor against the sandbox demo orgs: Suggest from orgs (users and queues of
both orgs, read on the pool), editing rows and the default owner, the save round trip, and the refusal of a
mapping to an owner the target org lacks."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import close_context, show_widget, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QAbstractItemDelegate, QApplication, QComboBox

from isyncsf_desktop.engine.template import load_template, parse_template, save_template
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.templates import TemplatesPage
from isyncsf_desktop.gui.templates.catalog import install_demo_template
from isyncsf_desktop.gui.templates.editor import TemplateEditor
from isyncsf_desktop.gui.templates.mappings_models import AUTOMATIC, NO_MATCH, SET_BY_YOU, SUGGESTED, MappingRow
from isyncsf_desktop.gui.templates.mappings_panel import MappingsPanel
from isyncsf_desktop.salesforce.registry import OrgEntry, OrgRegistry

pytestmark = pytest.mark.gui
TIMEOUT = 30_000


def register(registry: OrgRegistry, server: Any) -> None:
    for alias, org in (("demo-source", "source"), ("demo-target", "target")):
        registry.add(OrgEntry(alias=alias, org_id=server.store(org).org_id, instance_url=server.instance_url,
                              username=f"admin@{alias}.example", org_type="Local sandbox", ca_file=str(server.ca_file),
                              auth="sandbox"), server.token(org), replace=True)


def username(server: Any, org: str, local: str) -> str:
    """The username of the demo user ``local`` (jane.doe) in ``org`` (source or target)."""
    store = server.store(org)
    return next(u["Username"] for u in store.rows("User") if u["Username"].startswith(local + "@"))


@pytest.fixture
def ctx(demo_server: Any, qtbot: Any) -> Iterator[AppContext]:
    registry = OrgRegistry()
    register(registry, demo_server)
    context = AppContext(registry=registry)
    yield context
    close_context(context)


@pytest.fixture
def editor(ctx: AppContext, qtbot: Any) -> Iterator[TemplateEditor]:
    """The demo template open in the editor, on its Mappings tab."""
    page = show_widget(qtbot, TemplatesPage(ctx), 1200, 760, exposed=False)
    assert page.open_path(install_demo_template())
    page.editor.tabs.setCurrentWidget(page.editor.mappings_panel)
    yield page.editor
    wait_idle(qtbot, ctx)
    ctx.pool.waitForDone()


def rows(panel: MappingsPanel) -> dict[str, MappingRow]:
    return {row.source: row for row in panel.owners_model.rows()}


def suggest(qtbot: Any, panel: MappingsPanel) -> dict[str, MappingRow]:
    with qtbot.waitSignal(panel.suggestions_ready, timeout=TIMEOUT):
        qtbot.mouseClick(panel.suggest_button, Qt.MouseButton.LeftButton)
    return rows(panel)


def save(qtbot: Any, editor: TemplateEditor) -> Path:
    with qtbot.waitSignal(editor.saved, timeout=TIMEOUT) as saved:
        editor.save_button.click()
    return saved.args[0]


def status(panel: MappingsPanel, source: str) -> str:
    row = panel.owners_model.row_of(source)
    assert row is not None, source
    return panel.owners_model.index(row, panel.owners_model.STATUS).data()


def test_suggest_from_orgs_fills_automatic_and_suggested_rows_and_saving_keeps_them(editor, demo_server, qtbot):
    panel = editor.mappings_panel
    assert panel.owners_model.rowCount() == 0 and panel.empty_label.isVisible()
    found = suggest(qtbot, panel)
    jane, priya = username(demo_server, "source", "jane.doe"), username(demo_server, "source", "priya.patel")
    # users by username, email or federation id (the demo's usernames differ, the emails match); queues by name
    assert found[jane].origin == AUTOMATIC and found[jane].target == username(demo_server, "target", "jane.doe")
    assert "same email" in status(panel, jane)
    assert found["Tier_1_Support"].origin == AUTOMATIC and found["Tier_1_Support"].target == "Tier_1_Support"
    assert "same DeveloperName" in status(panel, "Tier_1_Support")
    # a source queue the target lacks gets the most similar target queue, as a suggestion
    assert found["Escalations"].origin == SUGGESTED and found["Escalations"].target == "Escalation_Team"
    assert found["Project_Intake"].origin == NO_MATCH and found["Project_Intake"].target == ""
    assert found[priya].origin == NO_MATCH and "running user" in status(panel, priya)
    model = panel.owners_model
    assert model.index(model.row_of("Escalations"), model.KIND).data() == "Queue"
    assert model.index(model.row_of(jane), model.KIND).data() == "User"
    # only what the run would not do by itself goes into the template
    assert editor.draft.owners.map == {"Escalations": "Escalation_Team"} and editor.dirty
    assert "1 mapping for the template; 1 suggested" in panel.status_label.text()

    path = save(qtbot, editor)
    assert json.loads(path.read_text())["mappings"]["owners"] == {"map": {"Escalations": "Escalation_Team"}}
    assert load_template(path).owners.map == {"Escalations": "Escalation_Team"}
    assert not editor.dirty and editor.message == ""

    # reopened, the saved row is the user's
    editor.load(load_template(path), path)
    assert [(r.source, r.target, r.origin) for r in panel.owners_model.rows()] == \
        [("Escalations", "Escalation_Team", SET_BY_YOU)]
    assert not editor.dirty


def test_rows_and_the_default_owner_are_edited_saved_and_read_back(editor, demo_server, qtbot):
    panel = editor.mappings_panel
    suggest(qtbot, panel)
    model = panel.owners_model
    priya = username(demo_server, "source", "priya.patel")
    wei_target = username(demo_server, "target", "wei.chen")
    jane_target = username(demo_server, "target", "jane.doe")

    # a target chosen in the table's editor (a combo box of the target's users and queues)
    index = model.index(model.row_of(priya), model.TARGET)
    panel.owners_view.setCurrentIndex(index)
    panel.owners_view.edit(index)
    combo = panel.owners_view.findChild(QComboBox)
    assert isinstance(combo, QComboBox)
    assert combo.findText(wei_target) >= 0 and combo.findText("Escalation_Team") >= 0
    combo.setCurrentText(wei_target)
    delegate = panel.owners_view.itemDelegateForColumn(model.TARGET)        # as Enter in the editor does
    delegate.commitData.emit(combo)
    delegate.closeEditor.emit(combo, QAbstractItemDelegate.EndEditHint.NoHint)
    assert rows(panel)[priya].origin == SET_BY_YOU and rows(panel)[priya].target == wei_target

    # an automatic match overridden, a queue mapped by hand, a suggestion removed, a default owner
    assert model.set_target("Tier_1_Support", "Escalation_Team")
    assert rows(panel)["Tier_1_Support"].origin == SET_BY_YOU
    assert model.set_target("Project_Intake", "Tier_1_Support")
    assert "does not take Project__c" in status(panel, "Project_Intake")        # the queue is for Cases only
    assert model.set_target("Project_Intake", jane_target)
    panel.owners_view.selectRow(model.row_of("Escalations"))
    assert panel.remove_button.isEnabled()
    qtbot.mouseClick(panel.remove_button, Qt.MouseButton.LeftButton)
    assert "Escalations" not in rows(panel)
    jane = username(demo_server, "source", "jane.doe")
    panel.owners_view.selectRow(model.row_of(jane))                       # an automatic row cannot be removed
    assert rows(panel)[jane].origin == AUTOMATIC and not panel.remove_button.isEnabled()
    panel.add_row("Old_Queue", "Tier_1_Support")                          # a source owner not read from the org
    panel.default_combo.setEditText(jane_target)

    expected = {priya: wei_target, "Tier_1_Support": "Escalation_Team", "Project_Intake": jane_target,
                "Old_Queue": "Tier_1_Support"}
    assert editor.draft.owners.map == expected and editor.draft.owners.default == jane_target
    path = save(qtbot, editor)
    owners = json.loads(path.read_text())["mappings"]["owners"]
    assert owners == {"default": jane_target, "map": expected}
    template = load_template(path)
    assert template.owners.map == expected and template.owners.default == jane_target
    assert parse_template(template.as_json()).as_json() == template.as_json()          # the round trip keeps them

    editor.load(template, path)
    assert {r.source: (r.target, r.origin) for r in model.rows()} == {s: (t, SET_BY_YOU) for s, t in expected.items()}
    assert panel.default_combo.currentText() == jane_target and not editor.dirty


def test_a_mapping_to_an_owner_the_target_lacks_is_refused_naming_it(editor, ctx, qtbot):
    path = install_demo_template()
    template = load_template(path)
    template.owners.map = {"Escalations": "Escalation_Teams"}             # a typo: the target has Escalation_Team
    save_template(template, path)
    before = path.read_text()
    editor.load(load_template(path), path)
    panel = editor.mappings_panel
    assert panel.target_owners() is None                                  # not read yet: saving reads it first
    editor.description_edit.setText("Changed")
    with qtbot.waitSignal(editor.save_refused, timeout=TIMEOUT) as refused:
        editor.save_button.click()
    text = refused.args[0]
    assert "Escalations → Escalation_Teams" in text and "a queue that does not exist in demo-target" in text
    assert editor.message.startswith("Not saved.") and "Escalation_Teams" in editor.message
    assert path.read_text() == before and editor.dirty
    assert "Escalation_Teams does not exist in demo-target" in status(panel, "Escalations")

    # a default owner the target lacks is refused too; fixing both saves
    assert panel.owners_model.set_target("Escalations", "Escalation_Team")
    panel.default_combo.setEditText("nobody@acme.demo")
    with qtbot.waitSignal(editor.save_refused, timeout=TIMEOUT) as refused:
        editor.save_button.click()
    assert "The default owner nobody@acme.demo is a user that does not exist in demo-target" in refused.args[0]
    assert "does not exist" in panel.default_status.text()
    panel.default_combo.setEditText("")
    save(qtbot, editor)
    assert load_template(path).owners.map == {"Escalations": "Escalation_Team"}


@pytest.mark.expect_log        # the worker that cannot reach the target logs why
def test_a_target_that_cannot_be_read_saves_and_says_the_mappings_were_not_checked(editor, ctx, qtbot):
    ctx.registry.add(OrgEntry(alias="acme-uat", org_id="00D5g0000001UATAAA", instance_url="https://127.0.0.1:9",
                              username="admin@acme.com.uat", org_type="Sandbox"), "00Dfake!not-a-token")
    ctx.orgs_changed.emit()
    editor.target_combo.setCurrentIndex(editor.target_combo.findData("acme-uat"))
    editor.mappings_panel.add_row("Escalations", "Escalation_Team")
    path = save(qtbot, editor)
    assert load_template(path).owners.map == {"Escalations": "Escalation_Team"}
    assert "Saved, but the owner mappings were not checked against acme-uat: it could not be read" in editor.message
    assert "Could not read the users and queues of acme-uat" in editor.mappings_panel.status_label.text()


@pytest.mark.skipif(not os.environ.get("ISYNCSF_SCREENSHOTS"), reason="set ISYNCSF_SCREENSHOTS=1 to refresh")
def test_screenshot(editor, qtbot):
    from isyncsf_desktop.gui.style import apply_style

    apply_style(QApplication.instance())
    editor.window().resize(1280, 760)
    suggest(qtbot, editor.mappings_panel)
    out = Path(os.environ.get("ISYNCSF_SCREENSHOT_DIR") or Path(__file__).parents[2] / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    assert editor.window().grab().save(str(out / "templates-mappings.png"))
