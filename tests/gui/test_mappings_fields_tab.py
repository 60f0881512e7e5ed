"""The Mappings tab's Fields sub-tab against the sandbox demo orgs (the target has the source's
Account.Customer_Tier__c as acme__Customer_Tier__c, and a Region__c picklist the source lacks): Suggest from orgs
fills the field mapping with the pre-flight check's guess, constants are set per object (on update too when
ticked), saving writes ``mappings.fields``, and a mapping or constant naming a field the target lacks is refused,
naming it."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import close_context, show_widget, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication, QComboBox

from isyncsf_desktop.engine.template import FieldMapping, FieldMappings, load_template, save_template
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.templates import TemplatesPage
from isyncsf_desktop.gui.templates.catalog import install_demo_template
from isyncsf_desktop.gui.templates.editor import TemplateEditor
from isyncsf_desktop.gui.templates.mappings_models import SET_BY_YOU, SUGGESTED, FieldConstantsModel, MappingRow
from isyncsf_desktop.salesforce.registry import OrgEntry, OrgRegistry

pytestmark = pytest.mark.gui
TIMEOUT = 30_000


@pytest.fixture
def ctx(demo_server: Any, qtbot: Any) -> Iterator[AppContext]:
    registry = OrgRegistry()
    for alias, org in (("demo-source", "source"), ("demo-target", "target")):
        registry.add(OrgEntry(alias=alias, org_id=demo_server.store(org).org_id, instance_url=demo_server.instance_url,
                              username=f"admin@{alias}.example", org_type="Local sandbox",
                              ca_file=str(demo_server.ca_file), auth="sandbox"), demo_server.token(org), replace=True)
    context = AppContext(registry=registry)
    yield context
    close_context(context)


@pytest.fixture
def editor(ctx: AppContext, qtbot: Any) -> Iterator[TemplateEditor]:
    """The demo template open in the editor, on the Fields sub-tab of its Mappings tab."""
    page = show_widget(qtbot, TemplatesPage(ctx), 1200, 760, exposed=False)
    assert page.open_path(install_demo_template())
    page.editor.tabs.setCurrentWidget(page.editor.mappings_panel)
    page.editor.mappings_panel.kinds.setCurrentWidget(page.editor.mappings_panel.fields)
    yield page.editor
    wait_idle(qtbot, ctx)
    ctx.pool.waitForDone()


def suggest(qtbot: Any, editor: TemplateEditor) -> None:
    panel = editor.mappings_panel
    with qtbot.waitSignal(panel.suggestions_ready, timeout=TIMEOUT):
        qtbot.mouseClick(panel.suggest_button, Qt.MouseButton.LeftButton)


def save(qtbot: Any, editor: TemplateEditor) -> Path:
    with qtbot.waitSignal(editor.saved, timeout=TIMEOUT) as saved:
        editor.save_button.click()
    return saved.args[0]


def status(model: Any, source: str, scope: str) -> str:
    row = model.row_of(source, scope)
    assert row is not None, (scope, source)
    return model.index(row, model.STATUS).data()


def test_suggest_fills_the_field_mapping_and_saving_writes_it_with_constants(editor, qtbot):
    panel = editor.mappings_panel
    fields = panel.fields
    assert fields.maps_model.rowCount() == 0 and fields.maps.empty_label.isVisibleTo(fields)
    suggest(qtbot, editor)
    [row] = fields.maps_model.rows()
    assert (row.scope, row.source, row.target, row.origin) == ("Account", "Customer_Tier__c", "acme__Customer_Tier__c",
                                                               SUGGESTED)
    assert "most similar target field (Customer Tier)" in status(fields.maps_model, "Customer_Tier__c", "Account")
    assert panel.kinds.tabText(panel.kinds.indexOf(fields)) == "Fields (1 to check)"
    assert "Fields: 1 suggested." in panel.status_label.text()
    assert editor.draft.field_mappings.as_json() == {"Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"}}}

    # the target cell's editor offers the fields the target org lets the sync write on the object
    index = fields.maps_model.index(0, fields.maps_model.TARGET)
    fields.maps.view.setCurrentIndex(index)
    fields.maps.view.edit(index)
    combo = fields.maps.view.findChild(QComboBox)
    assert isinstance(combo, QComboBox)
    offered = [combo.itemText(i) for i in range(combo.count())]
    assert "acme__Customer_Tier__c" in offered and "Region__c" in offered and "Id" not in offered
    fields.maps.view.closeEditor(combo, fields.maps.view.itemDelegate().EndEditHint.NoHint)

    # a constant for the target-only Region__c, on update too (the row's check box)
    model = fields.constants_model
    fields.constants.add_row(MappingRow("Region__c", "EMEA", SET_BY_YOU, scope="Account"))
    assert status(model, "Region__c", "Account") == "on insert in demo-target"
    check = model.index(0, FieldConstantsModel.ON_UPDATE)
    assert check.data(Qt.ItemDataRole.CheckStateRole) == Qt.CheckState.Unchecked
    assert model.setData(check, Qt.CheckState.Checked.value, Qt.ItemDataRole.CheckStateRole)
    assert status(model, "Region__c", "Account") == "on insert and update in demo-target"

    path = save(qtbot, editor)
    assert json.loads(path.read_text())["mappings"]["fields"] == {
        "Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"}, "constants": {"Region__c": "EMEA"},
                    "constants_on_update": True}}
    template = load_template(path)
    assert template.field_mappings.of("Account").target_of("customer_tier__c") == "acme__Customer_Tier__c"

    # reopened, the saved rows are the user's
    editor.load(template, path)
    assert [(r.scope, r.source, r.target, r.origin) for r in fields.maps_model.rows()] == \
        [("Account", "Customer_Tier__c", "acme__Customer_Tier__c", SET_BY_YOU)]
    assert [(r.scope, r.source, r.target) for r in model.rows()] == [("Account", "Region__c", "EMEA")]
    assert model.on_update("account") and not editor.dirty
    assert panel.kinds.tabText(panel.kinds.indexOf(fields)) == "Fields"


def test_a_mapping_or_constant_naming_a_field_the_target_lacks_is_refused_naming_it(editor, qtbot):
    path = install_demo_template()
    template = load_template(path)
    template.field_mappings = FieldMappings({"Account": FieldMapping(map={"Customer_Tier__c": "acme__Customer_Teir__c"},
                                                                     constants={"Regoin__c": "EMEA"})})
    save_template(template, path)
    before = path.read_text()
    editor.load(load_template(path), path)
    fields = editor.mappings_panel.fields
    assert editor.mappings_panel.org_fields() is None                   # not read yet: saving reads both orgs first
    editor.description_edit.setText("Changed")
    with qtbot.waitSignal(editor.save_refused, timeout=TIMEOUT) as refused:
        editor.save_button.click()
    assert refused.args[0] == ("Account: the field mapping Customer_Tier__c -> acme__Customer_Teir__c names a field "
                               "Account does not have in the target org (demo-target). Choose one of its fields.")
    assert path.read_text() == before and editor.dirty
    assert status(fields.maps_model, "Customer_Tier__c", "Account") == \
        "the field mapping Customer_Tier__c -> acme__Customer_Teir__c names a field Account does not have in the " \
        "target org"
    assert fields.maps_model.index(0, fields.maps_model.STATUS).data(Qt.ItemDataRole.ForegroundRole) is not None

    # fixed, the constant for a field the target lacks is refused next
    assert fields.maps_model.set_target("Customer_Tier__c", "acme__Customer_Tier__c", "Account")
    with qtbot.waitSignal(editor.save_refused, timeout=TIMEOUT) as refused:
        editor.save_button.click()
    assert refused.args[0] == ("Account: the constant for Regoin__c names a field Account does not have in the target "
                               "org (demo-target). Choose one of its fields.")
    assert "names a field Account does not have" in status(fields.constants_model, "Regoin__c", "Account")
    # a value the field cannot take is refused too, in the plan's words; a number field's value is saved as a number
    model = fields.constants_model
    assert model.setData(model.index(0, model.SOURCE), "NumberOfEmployees")
    assert model.setData(model.index(0, model.TARGET), "many")
    with qtbot.waitSignal(editor.save_refused, timeout=TIMEOUT) as refused:
        editor.save_button.click()
    assert refused.args[0] == ("Account: the constant for NumberOfEmployees cannot be set: it is a number (int) field, "
                               "not text like 'many' (demo-target).")
    assert model.setData(model.index(0, model.TARGET), "250")
    save(qtbot, editor)
    assert load_template(path).field_mappings.as_json() == {
        "Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"}, "constants": {"NumberOfEmployees": 250}}}
    assert editor.message == ""


@pytest.mark.skipif(not os.environ.get("ISYNCSF_SCREENSHOTS"), reason="set ISYNCSF_SCREENSHOTS=1 to refresh")
def test_screenshot(editor, qtbot):
    from isyncsf_desktop.gui.style import apply_style

    apply_style(QApplication.instance())
    suggest(qtbot, editor)
    fields = editor.mappings_panel.fields
    fields.constants.add_row(MappingRow("Region__c", "EMEA", SET_BY_YOU, scope="Account"))
    fields.maps.view.setCurrentIndex(fields.maps_model.index(0, 0))
    window = editor.window()
    out = Path(os.environ.get("ISYNCSF_SCREENSHOT_DIR") or Path(__file__).parents[2] / "docs" / "screenshots")
    out.mkdir(parents=True, exist_ok=True)
    assert window.grab().save(str(out / "templates-mappings-fields.png"))
