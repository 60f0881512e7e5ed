"""The Mappings tab's record type and picklist value sections against the sandbox demo orgs (the source's Case
record type Support is Product_Support on the target; the target's restricted Case.Type says Electronics where the
source says Electronic): Suggest from orgs fills them, saving writes them into the template's mappings, and a
mapping to a record type or value the target lacks is refused, naming it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import close_context, show_widget, wait_idle
from PySide6.QtCore import Qt
from PySide6.QtGui import QShortcut
from PySide6.QtWidgets import QComboBox

from isyncsf_desktop.engine.template import load_template, save_template
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.templates import TemplatesPage
from isyncsf_desktop.gui.templates.catalog import install_demo_template
from isyncsf_desktop.gui.templates.editor import TemplateEditor
from isyncsf_desktop.gui.templates.mappings_models import AUTOMATIC, SET_BY_YOU, SUGGESTED, MappingRow
from isyncsf_desktop.gui.templates.mappings_panel import MappingsPanel
from isyncsf_desktop.gui.templates.mappings_sections import MappingSection
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
    """The demo template open in the editor, on its Mappings tab."""
    page = show_widget(qtbot, TemplatesPage(ctx), 1200, 760, exposed=False)
    assert page.open_path(install_demo_template())
    page.editor.tabs.setCurrentWidget(page.editor.mappings_panel)
    yield page.editor
    wait_idle(qtbot, ctx)
    ctx.pool.waitForDone()


def rows(model: Any) -> dict[tuple[str, str], MappingRow]:
    return {(row.scope, row.source): row for row in model.rows()}


def suggest(qtbot: Any, panel: MappingsPanel) -> None:
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


def test_suggest_fills_record_types_and_picklist_values_and_saving_writes_them(editor, qtbot):
    panel = editor.mappings_panel
    assert [panel.kinds.tabText(i) for i in range(panel.kinds.count())] == ["Owners", "Record types",
                                                                            "Picklist values", "Fields"]
    assert panel.record_types_model.rowCount() == 0 and panel.picklists_model.rowCount() == 0
    suggest(qtbot, panel)
    record_types = rows(panel.record_types_model)
    assert record_types[("Case", "Support")].origin == SUGGESTED
    assert record_types[("Case", "Support")].target == "Product_Support"
    assert "most similar target record type (Product Support)" in status(panel.record_types_model, "Support", "Case")
    assert record_types[("Case", "Billing")].origin == AUTOMATIC and record_types[("Case", "Billing")].target == "Billing"
    assert record_types[("Account", "Customer")].origin == AUTOMATIC
    # picklists: only the values the target lacks, with the most similar target value
    values = rows(panel.picklists_model)
    assert values[("Case.Type", "Electronic")].origin == SUGGESTED
    assert values[("Case.Type", "Electronic")].target == "Electronics"
    assert set(values) == {("Case.Type", "Electronic")}
    # a default per object that has record types on the target, none set
    assert {r.source: (r.target, r.origin) for r in panel.defaults_model.rows()} == {"Account": ("", ""),
                                                                                     "Case": ("", "")}
    assert "Record types: 1 suggested; picklist values: 1 suggested." in panel.status_label.text()
    assert [panel.kinds.tabText(i) for i in range(3)] == ["Owners (3 to check)", "Record types (1 to check)",
                                                          "Picklist values (1 to check)"]
    assert editor.draft.record_types.as_json() == {"Case": {"map": {"Support": "Product_Support"}}}
    assert editor.draft.picklists.as_json() == {"Case.Type": {"Electronic": "Electronics"}} and editor.dirty

    # the target cell's editor offers the object's record types in the target
    panel.kinds.setCurrentWidget(panel.record_types.parentWidget())
    model = panel.record_types_model
    index = model.index(model.row_of("Support", "Case"), model.TARGET)
    panel.record_types.view.setCurrentIndex(index)
    panel.record_types.view.edit(index)
    combo = panel.record_types.view.findChild(QComboBox)
    assert isinstance(combo, QComboBox)
    assert [combo.itemText(i) for i in range(combo.count())] == ["Billing", "Product_Support"]
    panel.record_types.view.closeEditor(combo, panel.record_types.view.itemDelegate().EndEditHint.NoHint)

    # a default record type for Case, chosen as the user does
    assert panel.defaults_model.set_target("Case", "Billing")
    path = save(qtbot, editor)
    mappings = json.loads(path.read_text())["mappings"]
    assert mappings["record_types"] == {"Case": {"default": "Billing", "map": {"Support": "Product_Support"}}}
    assert mappings["picklists"] == {"Case.Type": {"Electronic": "Electronics"}}
    template = load_template(path)
    assert template.record_types.target_of("Case", "Support") == "Product_Support"
    assert template.record_types.of("Case").default == "Billing"
    assert template.picklists.of("Case", "Type") == {"Electronic": "Electronics"}

    # reopened, the saved rows are the user's
    editor.load(template, path)
    assert [(r.scope, r.source, r.target, r.origin) for r in panel.record_types_model.rows()] == \
        [("Case", "Support", "Product_Support", SET_BY_YOU)]
    assert [(r.source, r.target, r.origin) for r in panel.defaults_model.rows()] == [("Case", "Billing", SET_BY_YOU)]
    assert [(r.scope, r.source, r.target, r.origin) for r in panel.picklists_model.rows()] == \
        [("Case.Type", "Electronic", "Electronics", SET_BY_YOU)]
    assert not editor.dirty


def test_a_mapping_to_a_record_type_or_value_the_target_lacks_is_refused_naming_it(editor, qtbot):
    path = install_demo_template()
    template = load_template(path)
    template.record_types.objects = {}
    template.record_types.objects["Case"] = type(template.record_types.of("Case"))(map={"Support": "Product_Suport"})
    template.picklists.fields = {"Case.Type": {"Electronic": "Electronix"}}
    save_template(template, path)
    before = path.read_text()
    editor.load(load_template(path), path)
    panel = editor.mappings_panel
    assert panel.target_values() is None                                  # not read yet: saving reads it first
    editor.description_edit.setText("Changed")
    with qtbot.waitSignal(editor.save_refused, timeout=TIMEOUT) as refused:
        editor.save_button.click()
    assert refused.args[0] == ("The record type mapping Case: Support → Product_Suport names a record type that Case "
                               "does not have (active) in demo-target. Choose one of its record types.")
    assert path.read_text() == before and editor.dirty
    assert "Product_Suport is not an active record type of Case in demo-target" in \
        status(panel.record_types_model, "Support", "Case")

    # fixed, the picklist value the target lacks is refused next
    assert panel.record_types_model.set_target("Support", "Product_Support", "Case")
    with qtbot.waitSignal(editor.save_refused, timeout=TIMEOUT) as refused:
        editor.save_button.click()
    assert refused.args[0] == ("The picklist mapping Case.Type 'Electronic' → 'Electronix' names a value the "
                               "picklist of demo-target does not have.")
    assert "'Electronix' is a value the picklist of demo-target does not have" in \
        status(panel.picklists_model, "Electronic", "Case.Type")
    # a default record type the object lacks is refused too
    panel.defaults.add_row(MappingRow("Case", "Support", SET_BY_YOU))
    assert panel.picklists_model.set_target("Electronic", "Electronics", "Case.Type")
    with qtbot.waitSignal(editor.save_refused, timeout=TIMEOUT) as refused:
        editor.save_button.click()
    assert refused.args[0] == "The default record type Support of Case does not exist (active) on Case in demo-target."
    panel.defaults.view.selectRow(0)
    panel.defaults.remove_selected()
    save(qtbot, editor)
    saved = load_template(path)
    assert saved.record_types.as_json() == {"Case": {"map": {"Support": "Product_Support"}}}
    assert saved.picklists.as_json() == {"Case.Type": {"Electronic": "Electronics"}}
    assert editor.message == ""


def test_the_delete_key_removes_the_selected_mapping_as_remove_does(editor, qtbot):
    """Keyboard: Delete on a selected (suggested) record type row removes it, as the Remove button does. Each table's
    Delete is its own (a widget shortcut): six window-wide ones were ambiguous, and none fired."""
    panel = editor.mappings_panel
    suggest(qtbot, panel)
    panel.kinds.setCurrentIndex(1)
    section = panel.record_types
    model = panel.record_types_model
    row = model.row_of("Support", "Case")
    assert row is not None and model.row(row).origin == SUGGESTED
    qtbot.waitExposed(section.view)
    section.view.setFocus()
    section.view.selectRow(row)
    assert section.remove_button.isEnabled()
    qtbot.keyClick(section.view, Qt.Key.Key_Delete)
    assert model.row_of("Support", "Case") is None
    for view in (panel.owners_view, *(s.view for s in panel.findChildren(MappingSection))):
        [shortcut] = view.findChildren(QShortcut)
        assert shortcut.context() == Qt.ShortcutContext.WidgetShortcut
