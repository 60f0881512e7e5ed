"""The Templates tab against the sandbox demo orgs: build, save, reopen, preview, sync; file operations."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import close_context, show_widget, wait_idle
from PySide6.QtCore import Qt

from isyncsf_desktop import paths
from isyncsf_desktop.engine.events import COMPLETED
from isyncsf_desktop.engine.template import load_template, save_template
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.templates import TemplatesPage
from isyncsf_desktop.gui.templates.catalog import FilterCheck, Preview, install_demo_template
from isyncsf_desktop.gui.templates.editor import TemplateEditor
from isyncsf_desktop.gui.templates.models import FieldsModel
from isyncsf_desktop.salesforce.client import OrgApiError, OrgClient
from isyncsf_desktop.salesforce.registry import OrgEntry, OrgRegistry

pytestmark = pytest.mark.gui

DEMO_ORGS = (("demo-source", "source"), ("demo-target", "target"))


# ====================================================================== helpers
def register(registry: OrgRegistry, server: Any) -> None:
    """Register the server's two orgs as demo-source and demo-target (replacing earlier ones)."""
    for alias, org in DEMO_ORGS:
        entry = OrgEntry(alias=alias, org_id=server.store(org).org_id, instance_url=server.instance_url,
                         username=f"admin@{alias}.example", org_type="Local sandbox", ca_file=str(server.ca_file),
                         auth="sandbox")
        registry.add(entry, server.token(org), replace=True)


def source_client(server: Any) -> OrgClient:
    return OrgClient.connect(server.instance_url, server.token("source"), ca_file=server.ca_file, alias="check")


def wait_fields(qtbot: Any, editor: TemplateEditor, object_name: str) -> FieldsModel:
    """Select a line and wait until its fields are shown."""
    editor.select_line(object_name)
    panel = editor.line_panel
    qtbot.waitUntil(lambda: panel.describe is not None and panel.line is not None
                    and panel.line.object == object_name, timeout=20_000)
    return panel.fields_model


def uncheck(model: FieldsModel, *names: str) -> None:
    for row in range(model.rowCount()):
        index = model.index(row, FieldsModel.NAME)
        if index.data() in names:
            assert model.setData(index, Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)


def set_filter(qtbot: Any, editor: TemplateEditor, text: str) -> FilterCheck:
    """Type a filter and wait for the org's verdict (the editor checks it after a pause)."""
    with qtbot.waitSignal(editor.filter_checked, timeout=20_000) as blocker:
        editor.line_panel.filter_edit.setText(text)
    return blocker.args[1]


class FakePrompts:
    """Answers the page's questions without dialogs."""

    def __init__(self) -> None:
        self.open_path: str | None = None
        self.save_path: str | None = None
        self.confirm_answer = True
        self.text_answer: str | None = None
        self.confirmed: list[str] = []

    def install(self, page: TemplatesPage, monkeypatch: pytest.MonkeyPatch) -> "FakePrompts":
        monkeypatch.setattr(page.prompts, "open_file", lambda *a: self.open_path)
        monkeypatch.setattr(page.prompts, "save_file", lambda *a: self.save_path)
        monkeypatch.setattr(page.prompts, "confirm", self._confirm)
        monkeypatch.setattr(page.prompts, "text", lambda *a: self.text_answer)
        return self

    def _confirm(self, parent: Any, title: str, text: str, action: str) -> bool:
        self.confirmed.append(text)
        return self.confirm_answer


# ====================================================================== fixtures
@pytest.fixture
def registry(demo_server: Any) -> OrgRegistry:
    registry = OrgRegistry()
    register(registry, demo_server)
    return registry


@pytest.fixture
def ctx(registry: OrgRegistry, qtbot: Any) -> Iterator[AppContext]:
    context = AppContext(registry=registry)
    yield context
    close_context(context)


def make_page(ctx: AppContext, qtbot: Any) -> TemplatesPage:
    return show_widget(qtbot, TemplatesPage(ctx), 1200, 760, exposed=False)


@pytest.fixture
def page(ctx: AppContext, qtbot: Any) -> Iterator[TemplatesPage]:
    widget = make_page(ctx, qtbot)
    yield widget
    ctx.pool.waitForDone()          # no worker may answer a closed page


@pytest.fixture
def prompts(page: TemplatesPage, monkeypatch: pytest.MonkeyPatch) -> FakePrompts:
    return FakePrompts().install(page, monkeypatch)


# ====================================================================== the list
def test_demo_template_is_listed_and_selected(ctx: AppContext, qtbot: Any) -> None:
    demo = install_demo_template()
    ctx.open_template(demo)
    page = make_page(ctx, qtbot)
    files = page.files()
    assert [f.name for f in files] == ["Demo: Acme sales data"]
    assert files[0].objects[:2] == ["Account", "Contact"] and len(files[0].objects) == 6
    assert page.selected_path() == demo
    model = page.model
    assert model.index(0, model.ORGS).data() == "demo-source  →  demo-target"
    assert model.index(0, model.STATUS).data() == "In use"
    assert not page.use_button.isEnabled() and page.use_button.text() == "In use"

    # a template opened elsewhere (the Execute tab, a job) becomes the selected one here
    other = page.duplicate_selected()
    assert other is not None and page.selected_path() == other
    ctx.open_template(demo)
    assert page.selected_path() == demo


def test_build_save_reopen_preview_and_sync(page: TemplatesPage, ctx: AppContext, qtbot: Any, demo_server: Any,
                                            sandbox_factory: Any) -> None:
    editor = page.editor
    page.new_button.click()
    assert page.stack.currentWidget() is editor and editor.path is None
    editor.source_combo.setCurrentIndex(editor.source_combo.findData("demo-source"))
    editor.target_combo.setCurrentIndex(editor.target_combo.findData("demo-target"))
    editor.name_edit.setText("Accounts and contacts")
    assert editor.versioning_check.isChecked()          # on by default: rollback is our promise
    assert "rolled back" in editor.versioning_hint.text()

    # add objects from the source org's describe, through the searchable dialog
    editor.add_button.click()
    qtbot.waitUntil(lambda: editor.add_dialog is not None and editor.add_dialog.isVisible(), timeout=20_000)
    dialog = editor.add_dialog
    assert dialog is not None
    dialog.search.setText("acc")
    assert [dialog.proxy.index(r, 0).data() for r in range(dialog.proxy.rowCount())] == ["Account"]
    dialog.search.clear()
    assert dialog.model.set_checked("Account") and dialog.model.set_checked("Contact")
    assert dialog.add_button.text() == "Add 2 objects"
    dialog.add_button.click()
    assert [line.object for line in editor.draft.objects] == ["Account", "Contact"]

    # Account: drop two fields, match on the external id (picked from the menu), filter
    fields = wait_fields(qtbot, editor, "Account")
    names = [c.name for c in fields.choices]
    assert "Name" in names and "External_Id__c" in names
    assert "Id" not in names and "CreatedDate" not in names          # only createable fields
    assert editor.draft.objects[0].fields is None                    # all of them, by default
    uncheck(fields, "Fax", "Description")
    account_fields = editor.draft.objects[0].fields
    assert account_fields is not None and "Fax" not in account_fields and "Name" in account_fields
    pick = next(a for a in editor.line_panel.match_menu.actions() if a.text() == "External_Id__c")
    pick.trigger()
    assert editor.line_panel.match_edit.text() == "External_Id__c"
    assert not editor.line_panel.files_check.isChecked()            # records only, by default
    editor.line_panel.files_check.setChecked(True)                   # "with their files"
    check = set_filter(qtbot, editor, "Industry != null")
    expected_accounts = source_client(demo_server).count("Account", "Industry != null")
    assert check.valid and check.count == expected_accounts
    assert f"{expected_accounts:,} records match" in editor.line_panel.filter_status.text()

    # Contact: a composite match key with a parent path, a filter
    wait_fields(qtbot, editor, "Contact")
    editor.line_panel.match_edit.setText("Email, Account.External_Id__c")
    assert editor.line_panel.match_problem() is None
    check = set_filter(qtbot, editor, "Email != null")
    assert check.valid

    with qtbot.waitSignal(editor.saved, timeout=20_000) as saved:
        editor.save_button.click()
    path = saved.args[0]
    assert path == paths.templates_dir() / "accounts-and-contacts.json"
    assert ctx.template_path == path and ctx.template is not None and ctx.template.name == "Accounts and contacts"
    assert not editor.dirty
    document = json.loads(path.read_text(encoding="utf-8"))
    assert document["source"] == "demo-source" and document["target"] == "demo-target"
    assert document["options"]["versioning"] is True
    account, contact = document["objects"]
    assert account["match_by"] == ["External_Id__c"] and account["filter"] == "Industry != null"
    assert account["files"]["include"] is True and account["files"]["versions"] == "latest" and "files" not in contact
    assert account["fields"] == account_fields
    assert contact["match_by"] == ["Email", "Account.External_Id__c"] and "fields" not in contact

    # reopen: a new page reads the file
    editor.back_button.click()
    reopened = make_page(ctx, qtbot)
    assert reopened.selected_path() == path                       # the template in use is selected
    reopened.open_selected()
    editor2 = reopened.editor
    assert editor2.draft.as_json() == load_template(path).as_json()
    assert editor2.name_edit.text() == "Accounts and contacts"
    fields2 = wait_fields(qtbot, editor2, "Account")
    assert fields2.selected() == account_fields
    assert editor2.line_panel.filter_edit.text() == "Industry != null"

    # preview: counts equal the org's SOQL counts, Account before Contact, the cycle marked
    with qtbot.waitSignal(editor2.preview_ready, timeout=30_000) as ready:
        editor2.preview_button.click()
    preview: Preview = ready.args[0]
    client = source_client(demo_server)
    assert preview.order == ["Account", "Contact"]
    assert [line.count for line in preview.lines] == [client.count("Account", "Industry != null"),
                                                      # person contacts come with their accounts
                                                      client.count("Contact",
                                                                   "Email != null AND IsPersonAccount = false")]
    assert preview.lines[0].deferred == ["Primary_Contact__c"]        # Account -> Contact -> Account
    assert editor2.preview_model.rowCount() == 2
    assert editor2.preview_model.index(0, editor2.preview_model.RECORDS).data() == f"{preview.lines[0].count:,}"
    assert "Primary_Contact__c: second pass" in editor2.preview_model.index(0, 4).data()
    assert "1.&nbsp;Account" in editor2.order_label.text()
    wait_idle(qtbot, ctx)

    # the engine syncs the saved file into fresh demo orgs
    fresh = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    register(ctx.registry, fresh)
    engine = ctx.engine("demo-source", "demo-target")
    result = engine.sync(engine.create_job(load_template(path)))
    assert result.status == COMPLETED, result.message
    assert result.objects["Account"].inserted > 0
    assert result.objects["Contact"].inserted + result.objects["Contact"].updated > 0


def test_filter_error_shows_the_org_message_and_save_is_refused(page: TemplatesPage, ctx: AppContext, qtbot: Any,
                                                                demo_server: Any) -> None:
    editor = page.editor
    page.new_template()
    editor.name_edit.setText("Bad filter")
    editor.add_objects(["Account"])
    wait_fields(qtbot, editor, "Account")
    with pytest.raises(OrgApiError) as org_said:
        source_client(demo_server).count("Account", "Industry =")    # the editor trims what is typed
    org_message = org_said.value.message.strip()

    check = set_filter(qtbot, editor, "Industry = ")
    assert check.valid is False
    status = editor.line_panel.filter_status.text()
    assert org_message in status and "MALFORMED_QUERY" in status
    assert editor.lines_model.index(0, editor.lines_model.SCOPE).data(Qt.ItemDataRole.ForegroundRole) is not None

    with qtbot.waitSignal(editor.save_refused) as refused:
        editor.save_button.click()
    reason = org_message.splitlines()[-1].strip()            # "unexpected token: '<EOF>'"
    assert refused.args[0].startswith(f"The filter of Account is not valid: {reason} (MALFORMED_QUERY)")
    assert "Not saved" in editor.message and reason in editor.message
    assert editor.current_line() is not None and editor.current_line().object == "Account"
    assert list(paths.templates_dir().glob("*.json")) == []

    # typed and saved at once: the check runs first, and still refuses
    editor.line_panel.filter_edit.setText("Industry = 'x' AND")
    with qtbot.waitSignal(editor.save_refused, timeout=20_000):
        editor.save_button.click()
    assert list(paths.templates_dir().glob("*.json")) == []

    check = set_filter(qtbot, editor, "Industry = 'Technology'")
    assert check.valid
    with qtbot.waitSignal(editor.saved, timeout=20_000):
        editor.save_button.click()
    assert load_template(paths.templates_dir() / "bad-filter.json").objects[0].filter == "Industry = 'Technology'"


def test_files_options_are_set_in_the_line_panel_saved_and_reloaded(page: TemplatesPage, ctx: AppContext,
                                                                     qtbot: Any) -> None:
    editor = page.editor
    page.new_template()
    editor.name_edit.setText("With files")
    editor.add_objects(["Account", "Case"])
    wait_fields(qtbot, editor, "Account")
    panel = editor.line_panel
    options = [panel.versions_combo, panel.max_file_edit, panel.max_run_edit, panel.leave_out_edit,
               panel.attachments_check, panel.notes_check]
    assert not panel.files_check.isChecked() and not panel.files_options.isEnabled()
    chain, widget = [], panel.files_check.nextInFocusChain()       # Tab from the checkbox walks through them
    while widget is not panel.sort_edit and len(chain) < 40:
        chain.append(widget)
        widget = widget.nextInFocusChain()
    assert all(option in chain for option in options), chain
    assert all(option.toolTip() for option in options)

    panel.files_check.setChecked(True)
    assert panel.files_options.isEnabled()
    assert editor.draft.objects[0].files is not None and editor.draft.objects[0].files.as_json() == \
        {"include": True, "versions": "latest", "attachments": True, "notes": True}
    panel.versions_combo.setCurrentIndex(panel.versions_combo.findData("all"))
    qtbot.keyClicks(panel.max_file_edit, "25")
    qtbot.keyClicks(panel.max_run_edit, "512.5")
    qtbot.keyClicks(panel.leave_out_edit, "EXE, .zip")
    panel.attachments_check.setChecked(False)
    assert panel.files_problem() is None and not panel.files_status.isVisible()

    # a bad value: the engine's sentence under the row, and Save refuses naming the line and the option
    qtbot.keyClicks(panel.max_run_edit, "x")
    assert panel.files_problem() == ("Account: files.max_run_mb must be a number of megabytes above 0 "
                                     "(or left out for no limit)")
    assert panel.files_status.text() == panel.files_problem()
    with qtbot.waitSignal(editor.save_refused) as refused:
        editor.save_button.click()
    assert refused.args[0] == panel.files_problem() and "Not saved" in editor.message
    wait_fields(qtbot, editor, "Case")                     # another line shown: what was typed is not lost
    with qtbot.waitSignal(editor.save_refused) as refused:
        editor.save_button.click()
    assert refused.args[0].startswith("Account: files.max_run_mb must be")
    assert editor.current_line() is editor.draft.objects[0] and panel.max_run_edit.text() == "512.5x"
    assert panel.files_status.isVisibleTo(panel) and panel.files_status.text() == refused.args[0]
    panel.leave_out_edit.setText("exe, tar.gz")
    panel.max_run_edit.setText("512.5")
    assert panel.files_problem() == ("Account: files.leave_out_types must be file extensions such as \"exe\" or "
                                     "\"zip\", not 'tar.gz'")
    with qtbot.waitSignal(editor.save_refused):
        editor.save_button.click()
    assert list(paths.templates_dir().glob("*.json")) == []
    panel.leave_out_edit.setText("EXE, .zip")
    panel.max_file_edit.setText("0")
    assert panel.files_problem() is not None and "max_file_mb" in str(panel.files_problem())
    panel.max_file_edit.setText("25")

    with qtbot.waitSignal(editor.saved, timeout=20_000) as saved:
        editor.save_button.click()
    document = json.loads(saved.args[0].read_text(encoding="utf-8"))
    account, case = document["objects"]
    assert account["files"] == {"include": True, "versions": "all", "attachments": False, "notes": True,
                                "max_file_mb": 25, "max_run_mb": 512.5, "leave_out_types": ["exe", "zip"]}
    assert "files" not in case

    # reload: a new page shows the options as saved; unticking drops them, ticking again starts from the defaults
    editor.back_button.click()
    reopened = make_page(ctx, qtbot)
    reopened.open_selected()
    panel2 = reopened.editor.line_panel
    wait_fields(qtbot, reopened.editor, "Account")
    assert panel2.files_check.isChecked() and panel2.files_options.isEnabled()
    assert panel2.versions_combo.currentData() == "all"
    assert (panel2.max_file_edit.text(), panel2.max_run_edit.text(), panel2.leave_out_edit.text()) == \
        ("25", "512.5", "exe, zip")
    assert not panel2.attachments_check.isChecked() and panel2.notes_check.isChecked()
    panel2.files_check.setChecked(False)
    assert reopened.editor.draft.objects[0].files is None and not panel2.files_options.isEnabled()
    panel2.files_check.setChecked(True)
    assert panel2.max_file_edit.text() == "" and panel2.versions_combo.currentData() == "latest"
    reopened.editor.select_line("Case")
    wait_fields(qtbot, reopened.editor, "Case")
    assert not panel2.files_check.isChecked() and not panel2.files_options.isEnabled()
    wait_idle(qtbot, ctx)


def test_match_key_and_empty_template_are_refused_locally(page: TemplatesPage, qtbot: Any) -> None:
    editor = page.editor
    page.new_template()
    with qtbot.waitSignal(editor.save_refused) as refused:
        editor.save()
    assert refused.args[0] == "Add at least one object to the template."
    editor.add_objects(["Contact"])
    wait_fields(qtbot, editor, "Contact")
    editor.line_panel.match_edit.setText("Emial")
    assert editor.line_panel.match_problem() == "Emial is not a field of Contact"
    editor.line_panel.match_edit.setText("Parent.Name")
    assert editor.line_panel.match_problem() == "Parent is not a relationship of Contact (in Parent.Name)"
    with qtbot.waitSignal(editor.save_refused) as refused:
        editor.save()
    assert "match key" in refused.args[0]
    editor.line_panel.match_edit.setText("ReportsTo.Email")
    assert editor.line_panel.match_problem() is None
    editor.line_panel.no_fields_button.click()
    with qtbot.waitSignal(editor.save_refused) as refused:
        editor.save()
    assert refused.args[0] == "Contact: choose at least one field."


def test_suggest_related_objects_adds_with_one_click(page: TemplatesPage, ctx: AppContext, qtbot: Any) -> None:
    editor = page.editor
    page.new_template()
    editor.add_objects(["Contact"])
    wait_fields(qtbot, editor, "Contact")
    panel = editor.line_panel
    qtbot.waitUntil(lambda: "Account" in panel.suggestion_buttons, timeout=20_000)
    assert {"Account", "Case"} <= set(panel.suggestion_buttons)
    assert "User" not in panel.suggestion_buttons and "Contact" not in panel.suggestion_buttons
    # its files, attachments and notes are no lines to add: "With their files" copies them
    assert not {"ContentDocumentLink", "ContentVersion", "Attachment", "Note"} & set(panel.suggestion_buttons)
    panel.suggestion_buttons["Account"].click()
    assert [line.object for line in editor.draft.objects] == ["Contact", "Account"]
    assert editor.current_line() is not None and editor.current_line().object == "Contact"
    assert "Account" not in panel.suggestion_buttons and "Case" in panel.suggestion_buttons

    # describes are kept for the session: going back to a line asks the org nothing
    wait_fields(qtbot, editor, "Account")
    wait_idle(qtbot, ctx)
    editor.select_line("Contact")
    assert not editor.busy and panel.describe is not None

    # the listing order (the planner's preference) moves with the arrows; Remove drops a line
    assert not editor.up_button.isEnabled()
    editor.down_button.click()
    assert [line.object for line in editor.draft.objects] == ["Account", "Contact"]
    assert editor.current_line() is not None and editor.current_line().object == "Contact"
    editor.remove_button.click()
    assert [line.object for line in editor.draft.objects] == ["Account"]
    assert editor.current_line() is not None and editor.current_line().object == "Account"


def test_fields_search_and_select_shown(page: TemplatesPage, qtbot: Any) -> None:
    editor = page.editor
    page.new_template()
    editor.add_objects(["Account"])
    model = wait_fields(qtbot, editor, "Account")
    panel = editor.line_panel
    total = model.rowCount()
    panel.field_search.setText("billing")
    shown = [panel.fields_proxy.index(r, 0).data() for r in range(panel.fields_proxy.rowCount())]
    assert shown and all(name.startswith("Billing") for name in shown)
    panel.no_fields_button.click()
    line = editor.current_line()
    assert line is not None and line.fields is not None and len(line.fields) == total - len(shown)
    assert f"{total - len(shown)} of {total} fields" in panel.fields_count.text()
    panel.all_fields_button.click()
    assert line.fields is None and "All" in panel.fields_count.text()
    assert editor.lines_model.index(0, editor.lines_model.FIELDS).data() == "all"


@pytest.mark.expect_log
def test_unreachable_source_org_is_reported(page: TemplatesPage, ctx: AppContext, qtbot: Any) -> None:
    from isyncsf_desktop.salesforce import secrets

    ctx.registry.add(OrgEntry(alias="offline", org_id="00D000000000001AAA", instance_url="https://127.0.0.1:9",
                              username="a@b.c", org_type="Sandbox"), "token")
    secrets.delete_secrets("00D000000000001AAA/a@b.c")      # its token is gone: the org cannot be reached
    editor = page.editor
    page.new_template()
    editor.source_combo.setCurrentIndex(editor.source_combo.findData("offline"))
    qtbot.waitUntil(lambda: "Could not read from offline" in editor.message, timeout=20_000)
    assert "no access token is stored for org 'offline'" in editor.message

    # work is not lost: the template saves, saying the filter could not be checked
    editor.add_objects(["Account"])
    qtbot.waitUntil(lambda: "Could not read Account from offline" in editor.line_panel.fields_count.text(),
                    timeout=20_000)
    editor.line_panel.filter_edit.setText("Industry != null")
    with qtbot.waitSignal(editor.saved, timeout=20_000) as saved:
        editor.save()
    assert load_template(saved.args[0]).source == "offline"
    assert "the filters of Account could not be checked" in editor.message
    assert "Could not check the filter" in editor.line_panel.filter_status.text()


# ====================================================================== files
def test_import_invalid_and_valid_files(page: TemplatesPage, prompts: FakePrompts, tmp_path: Path) -> None:
    bad = tmp_path / "broken.json"
    bad.write_text(json.dumps({"name": "Broken", "objects": []}), encoding="utf-8")
    prompts.open_path = str(bad)
    assert page.import_file() is None
    assert 'broken.json: "objects" must be a non-empty list of object lines' in page.message
    not_json = tmp_path / "notes.json"
    not_json.write_text("{name: oops", encoding="utf-8")
    prompts.open_path = str(not_json)
    assert page.import_file() is None
    assert "notes.json: not valid JSON (line 1, column 2" in page.message
    assert page.files() == []

    good = tmp_path / "whatever.json"
    good.write_text(json.dumps({"name": "Reference data", "objects": [{"object": "Account"}]}), encoding="utf-8")
    prompts.open_path = str(good)
    imported = page.import_file()
    assert imported == paths.templates_dir() / "reference-data.json"
    assert load_template(imported).name == "Reference data"
    assert page.selected_path() == imported and "Imported" in page.message
    prompts.open_path = None                   # cancelled: nothing happens
    assert page.import_file() is None


def test_duplicate_rename_delete_export(page: TemplatesPage, ctx: AppContext, prompts: FakePrompts,
                                        tmp_path: Path) -> None:
    demo = install_demo_template()
    ctx.open_template(demo)
    assert page.selected_path() == demo

    copy = page.duplicate_selected()
    assert copy == paths.templates_dir() / "demo-acme-sales-data-copy.json"
    assert load_template(copy).name == "Demo: Acme sales data (copy)"
    assert load_template(copy).objects == load_template(demo).objects
    assert page.selected_path() == copy
    second = page.duplicate_selected()
    assert second is not None and load_template(second).name == "Demo: Acme sales data (copy) (copy)"

    prompts.text_answer = "Sales seed"
    renamed = page.rename_selected()
    assert renamed == paths.templates_dir() / "sales-seed.json"
    assert not second.exists() and load_template(renamed).name == "Sales seed"
    assert page.selected_path() == renamed

    # renaming the template in use keeps the Execute tab on it
    page.select_path(demo)
    prompts.text_answer = "Acme demo"
    moved = page.rename_selected()
    assert moved is not None and not demo.exists()
    assert ctx.template_path == moved and ctx.template is not None and ctx.template.name == "Acme demo"

    prompts.save_path = str(tmp_path / "exported")
    exported = page.export_selected()
    assert exported == tmp_path / "exported.json"
    assert exported.read_text(encoding="utf-8") == moved.read_text(encoding="utf-8")

    page.select_path(copy)
    prompts.confirm_answer = False
    assert not page.delete_selected() and copy.exists()
    prompts.confirm_answer = True
    assert page.delete_selected() and not copy.exists()
    assert "Demo: Acme sales data (copy)" in prompts.confirmed[-1]
    assert sorted(f.name for f in page.files()) == ["Acme demo", "Sales seed"]


def test_invalid_file_in_the_folder_is_listed_and_can_be_deleted(page: TemplatesPage, prompts: FakePrompts) -> None:
    broken = paths.templates_dir() / "broken.json"
    broken.write_text("[]", encoding="utf-8")
    page.refresh()
    assert page.select_path(broken)
    assert page.model.index(0, page.model.STATUS).data() == "Invalid"
    assert not page.open_button.isEnabled() and page.delete_button.isEnabled()
    assert "cannot be read" in page.details.text()
    assert page.delete_selected() and not broken.exists()


def test_unsaved_changes_are_confirmed_before_leaving(page: TemplatesPage, ctx: AppContext, prompts: FakePrompts,
                                                      qtbot: Any) -> None:
    demo = install_demo_template()
    page.refresh()
    page.select_path(demo)
    page.open_selected()
    editor = page.editor
    assert not editor.dirty and editor.use_button.isEnabled()
    editor.name_edit.setText("Demo, renamed")
    assert editor.dirty and editor.dirty_label.isVisible()
    editor.name_edit.setText("Demo: Acme sales data")
    assert not editor.dirty                          # the same as the file again
    editor.versioning_check.setChecked(False)
    prompts.confirm_answer = False
    editor.back_button.click()
    assert page.stack.currentWidget() is editor and prompts.confirmed
    prompts.confirm_answer = True
    editor.back_button.click()
    assert page.stack.currentWidget() is page.list_view
    assert load_template(demo).versioning is True    # discarded

    page.open_selected()
    with qtbot.waitSignal(ctx.template_changed):
        editor.use_button.click()
    assert ctx.template_path == demo


# ====================================================================== screenshots
@pytest.mark.skipif(not os.environ.get("ISYNCSF_SCREENSHOTS"), reason="set ISYNCSF_SCREENSHOTS=1 to refresh")
def test_screenshots(page: TemplatesPage, ctx: AppContext, qtbot: Any) -> None:
    """docs/screenshots/templates-*.png: the list, the editor, a preview, a filter error, Add objects."""
    from PySide6.QtWidgets import QApplication

    from isyncsf_desktop.gui.style import apply_style

    apply_style(QApplication.instance())
    QApplication.processEvents()                 # restyle and lay out again before the first grab
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    demo = install_demo_template()
    eu = load_template(demo)
    eu.name, eu.description, eu.objects = "Accounts and contacts (EU)", "EU customers for the UAT sandbox", \
        eu.objects[:2]
    eu.objects[0].filter = "BillingCountry IN ('France','Germany','Spain','Italy') OR Industry = 'Banking'"
    save_template(eu, paths.templates_dir() / "accounts-and-contacts-eu.json")
    projects = load_template(demo)
    projects.name, projects.objects, projects.target = "Projects only", projects.objects[4:], None
    save_template(projects, paths.templates_dir() / "projects-only.json")
    (paths.templates_dir() / "old-export.json").write_text('{"name": "Old export", "objects": []}', encoding="utf-8")
    ctx.open_template(demo)
    QApplication.processEvents()
    page.grab().save(str(out / "templates-list.png"))

    page.open_path(paths.templates_dir() / "accounts-and-contacts-eu.json")
    editor = page.editor
    wait_fields(qtbot, editor, "Account")
    qtbot.waitUntil(lambda: bool(editor.line_panel.suggestion_buttons), timeout=20_000)
    set_filter(qtbot, editor, "Industry != null")
    page.grab().save(str(out / "templates-editor.png"))

    with qtbot.waitSignal(editor.preview_ready, timeout=30_000):
        editor.run_preview()
    wait_idle(qtbot, ctx)
    qtbot.waitUntil(lambda: not editor.busy_bar.isVisible())
    page.grab().save(str(out / "templates-preview.png"))

    wait_fields(qtbot, editor, "Contact")
    set_filter(qtbot, editor, "Industry = ")
    with qtbot.waitSignal(editor.save_refused):
        editor.save()
    page.grab().save(str(out / "templates-filter-error.png"))

    editor.line_panel.filter_edit.clear()
    editor.add_button.click()
    qtbot.waitUntil(lambda: editor.add_dialog is not None and editor.add_dialog.isVisible(), timeout=20_000)
    assert editor.add_dialog is not None
    editor.add_dialog.model.set_checked("Opportunity")
    editor.add_dialog.grab().save(str(out / "templates-add-objects.png"))
    editor.add_dialog.reject()
    wait_idle(qtbot, ctx)


@pytest.mark.skipif(not os.environ.get("ISYNCSF_SCREENSHOTS"), reason="set ISYNCSF_SCREENSHOTS=1 to refresh")
def test_screenshot_of_the_files_options(page: TemplatesPage, ctx: AppContext, qtbot: Any) -> None:
    """docs/screenshots/templates-files.png: a line "with their files" and its files options."""
    from PySide6.QtWidgets import QApplication

    from isyncsf_desktop.gui.style import apply_style

    apply_style(QApplication.instance())
    QApplication.processEvents()
    out = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
    demo = load_template(install_demo_template())
    demo.name, demo.description = "Accounts with their files", "Accounts and cases, their PDFs and images"
    demo.objects = [line for line in demo.objects if line.object in ("Account", "Case")]
    save_template(demo, paths.templates_dir() / "accounts-with-files.json")
    page.open_path(paths.templates_dir() / "accounts-with-files.json")
    editor = page.editor
    wait_fields(qtbot, editor, "Account")
    qtbot.waitUntil(lambda: bool(editor.line_panel.suggestion_buttons), timeout=20_000)
    panel = editor.line_panel
    panel.files_check.setChecked(True)
    panel.max_file_edit.setText("25")
    panel.max_run_edit.setText("2048")
    panel.leave_out_edit.setText("exe, zip, mov")
    panel.notes_check.setChecked(False)
    panel.max_file_edit.setFocus()
    QApplication.processEvents()
    page.grab().save(str(out / "templates-files.png"))
    wait_idle(qtbot, ctx)


def test_templates_that_are_no_templates_are_listed_as_unreadable_and_the_rest_open(tmp_path):
    from isyncsf_desktop.gui.templates.catalog import scan_templates

    (tmp_path / "good.json").write_text('{"name": "Good", "objects": [{"object": "Account"}]}')
    (tmp_path / "latin1.json").write_bytes('{"name": "Comptés", "objects": []}'.encode("latin-1"))
    (tmp_path / "deep.json").write_text('{"name": "x", "objects": ' + "[" * 100_000 + "]" * 100_000 + "}")
    found = {t.path.name: t for t in scan_templates(tmp_path)}
    assert found["good.json"].error is None and found["good.json"].name == "Good"
    assert "not UTF-8 text" in found["latin1.json"].error
    assert "nests deeper than a template ever does" in found["deep.json"].error
