"""The Error Viewer against real jobs: a demo sync through the real engine and client, over HTTPS,
into the demo target org whose validation rule and missing record type make records fail."""

from __future__ import annotations

import os
import re
import shutil
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from gui_helpers import demo_context, demo_sandbox_context, load_demo_template, show_widget
from helpers import org_client, org_ref
from PySide6.QtCore import QItemSelectionModel, Qt
from PySide6.QtWidgets import QApplication

from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.runner import SyncEngine
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.errors.models import COLUMNS, ObjectRole
from isyncsf_desktop.gui.errors.viewer import NO_ERRORS_TEXT, NO_JOB_TEXT, ErrorViewer
from isyncsf_desktop.sandbox.server import DEFAULT_ORGS, SandboxServer

pytestmark = pytest.mark.gui

DEMO = load_demo_template()


@pytest.fixture(scope="module")
def demo_job(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SandboxServer, Path, int]]:
    """One demo sync for the module: its server (the demo orgs after the sync), its journal file (closed) and
    the job. The tests that take ``synced`` read a copy of that journal; none writes to the orgs but the retry."""
    folder = tmp_path_factory.mktemp("error-viewer")
    with pytest.MonkeyPatch.context() as patch, SandboxServer(folder / "sandbox", DEFAULT_ORGS) as server:
        patch.setenv("ISYNCSF_HOME", str(folder / "home"))        # the run's lock, as isolated_home does
        patch.setenv("ISYNCSF_LOCK_DIR", str(folder / "home" / "locks"))
        journal = Journal(folder / "journal.sqlite3")
        engine = SyncEngine(journal, org_client(server, "source"), org_client(server, "target"),
                            org_ref(server, "source"), org_ref(server, "target"))
        job_id = engine.create_job(DEMO)
        assert engine.sync(job_id).state == "Synced"
        journal.close()
        yield server, folder / "journal.sqlite3", job_id


@pytest.fixture
def ctx(request: pytest.FixtureRequest, sandbox_factory: Any, tmp_path: Path, qtbot: Any) -> Iterator[AppContext]:
    """The demo orgs and a journal: for a test that takes ``synced``, the module's synced orgs and a copy of its
    journal; else a fresh server and an empty journal."""
    if "synced" not in request.fixturenames:
        yield from demo_sandbox_context(sandbox_factory, tmp_path, qtbot)
        return
    server, journal_file, _ = request.getfixturevalue("demo_job")
    shutil.copyfile(journal_file, tmp_path / "journal.sqlite3")
    context = demo_context(server, tmp_path)
    yield context
    qtbot.waitUntil(lambda: not context.tasks.busy, timeout=60_000)
    context.shutdown()


def demo_sync(ctx: AppContext, template: dict | None = None) -> int:
    engine = ctx.engine("source", "target")
    job_id = engine.create_job(template or DEMO)
    result = engine.sync(job_id)
    assert result.state == "Synced"
    return job_id


@pytest.fixture
def synced(demo_job: tuple[SandboxServer, Path, int]) -> int:
    """The demo sync's job (in the journal ``ctx`` copied)."""
    return demo_job[2]


@pytest.fixture
def viewer(ctx: AppContext, qtbot: Any) -> ErrorViewer:
    return show_widget(qtbot, ErrorViewer(ctx), 1200, 600)


def groups(viewer: ErrorViewer) -> dict[str | None, int]:
    model = viewer.groups
    return {model.object_at(row): model.count_of(model.object_at(row)) for row in range(model.rowCount())}


def click_group(qtbot: Any, viewer: ErrorViewer, object_name: str | None) -> None:
    row = viewer.groups.row_of(object_name)
    assert row is not None
    rect = viewer.group_view.visualRect(viewer.groups.index(row, 0))
    qtbot.mouseClick(viewer.group_view.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())


def shown_objects(viewer: ErrorViewer) -> Counter:
    return Counter(viewer.proxy.error_at(row).object for row in range(viewer.proxy.rowCount()))


# ------------------------------------------------------------------------------------------ browsing
def test_errors_are_grouped_by_object_with_their_counts(ctx, synced, viewer):
    viewer.set_job(synced)
    expected = ctx.journal.error_counts(synced)
    assert expected["Contact"] == 46  # the demo target's Contact_Phone_Required rule
    assert viewer.error_count() == sum(expected.values())
    got = groups(viewer)
    assert list(got) == [None, *sorted(expected)]          # "All objects" first
    assert got[None] == sum(expected.values())
    assert {k: v for k, v in got.items() if k is not None} == expected
    assert viewer.groups.index(0, 0).data() == "All objects"
    assert viewer.stack.currentIndex() == 1
    assert f"{sum(expected.values()):,}" in viewer.summary_label.text()
    assert viewer.proxy.rowCount() == sum(expected.values())
    # the table shows the spec's columns, the message column takes the room left
    assert [viewer.proxy.headerData(c, Qt.Orientation.Horizontal) for c in range(len(COLUMNS))] == [
        "Object", "Source Id", "Target Id", "Status Code", "Message", "Fields"]
    widths = [viewer.table.columnWidth(c) for c in range(len(COLUMNS))]
    assert widths[4] == max(widths) and widths[4] >= 250


def test_filter_by_object_and_by_message_text(ctx, synced, viewer, qtbot):
    viewer.set_job(synced)
    errors = ctx.journal.errors(synced)

    click_group(qtbot, viewer, "Contact")
    assert viewer.proxy.object_filter == "Contact"
    assert shown_objects(viewer) == Counter({"Contact": 46})
    assert "Showing 46 of" in viewer.footer.text()

    # text matches the message, case-insensitive, within the picked object
    qtbot.keyClicks(viewer.search, "PHONE is required")
    assert viewer.proxy.rowCount() == 46
    click_group(qtbot, viewer, None)
    wanted = [e for e in errors if "phone is required" in e.message.lower()]
    assert len(wanted) > 46  # cases whose parent contact failed say so too
    assert viewer.proxy.rowCount() == len(wanted)

    # ... and the status code
    viewer.search.clear()
    qtbot.keyClicks(viewer.search, "record_type_not")
    wanted = [e for e in errors if "record_type_not" in (e.status_code + " " + e.message).lower()]
    assert viewer.proxy.rowCount() == len(wanted) > 0
    assert {viewer.proxy.error_at(r).object for r in range(viewer.proxy.rowCount())} == {"Case"}

    viewer.search.setText("no such text anywhere")
    assert viewer.proxy.rowCount() == 0
    assert "no error matches" in viewer.footer.text()
    viewer.search.clear()
    assert viewer.proxy.rowCount() == len(errors)

    # a refresh keeps the picked object
    viewer.select_object("Case")
    viewer.refresh()
    assert viewer.proxy.object_filter == "Case"
    assert viewer.group_view.currentIndex().data(ObjectRole) == "Case"


def test_copy_row_and_details(ctx, synced, viewer, qtbot):
    viewer.set_job(synced)
    viewer.select_object("Contact")
    viewer.table.setFocus()
    viewer.table.selectionModel().setCurrentIndex(
        viewer.proxy.index(0, 0), QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
    error = viewer.proxy.error_at(0)
    QApplication.clipboard().clear()
    qtbot.keyClick(viewer.table, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    lines = QApplication.clipboard().text().split("\n")
    assert lines[0].split("\t") == list(COLUMNS)
    assert lines[1].split("\t") == ["Contact", error.source_id or "", error.target_id or "", error.status_code,
                                    error.message, ", ".join(error.fields)]
    assert len(lines) == 2

    # two rows through the context menu's action
    viewer.table.selectionModel().select(
        viewer.proxy.index(1, 0), QItemSelectionModel.SelectionFlag.Select | QItemSelectionModel.SelectionFlag.Rows)
    assert viewer.copy_action.text() == "Copy rows"
    viewer.copy_action.trigger()
    assert len(QApplication.clipboard().text().split("\n")) == 3

    # double-click shows the whole message
    rect = viewer.table.visualRect(viewer.proxy.index(0, 4))
    qtbot.mouseClick(viewer.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())  # a real double-click
    qtbot.mouseDClick(viewer.table.viewport(), Qt.MouseButton.LeftButton, pos=rect.center())
    dialog = viewer.details_dialog
    assert dialog is not None and dialog.isVisible()
    assert error.message in dialog.text.toPlainText() and error.source_id in dialog.text.toPlainText()
    dialog.close()
    # long cells keep their full text in a tooltip
    case_error = next(e for e in ctx.journal.errors(synced) if len(e.message) > 100)
    viewer.select_object("Case")
    row = next(r for r in range(viewer.proxy.rowCount()) if viewer.proxy.error_at(r).id == case_error.id)
    assert case_error.message in viewer.proxy.index(row, 4).data(Qt.ItemDataRole.ToolTipRole)


# ------------------------------------------------------------------------------------------ export
def test_export_csv_of_one_object_and_of_all(ctx, synced, viewer, qtbot, tmp_path):
    viewer.set_job(synced)
    folder = tmp_path / "exports"
    folder.mkdir()
    asked: list[str] = []

    def fake_ask(parent: Any, title: str, default: str) -> str:
        asked.append(default)
        return str(folder / Path(default).name)

    viewer.ask_save_path = fake_ask
    messages: list[tuple[str, str]] = []
    ctx.message.connect(lambda level, text: messages.append((level, text)))

    viewer.select_object("Contact")
    with qtbot.waitSignal(viewer.exported, timeout=30_000) as blocker:
        qtbot.mouseClick(viewer.export_button, Qt.MouseButton.LeftButton)
    path, rows = blocker.args
    assert re.fullmatch(r"errors_Contact_\d{8}_\d{6}\.csv", Path(asked[-1]).name)
    assert Path(path).parent == folder and rows == 46
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    expected = ctx.journal.errors(synced, "Contact")
    assert len(frame) == 46 and set(frame["Object"]) == {"Contact"}
    assert list(frame["Source Id"]) == [e.source_id for e in expected]
    assert list(frame["Message"]) == [e.message for e in expected]
    assert ("info", f"Exported 46 errors to {path}") in messages
    qtbot.waitUntil(lambda: viewer.export_button.isEnabled())

    viewer.select_object(None)
    with qtbot.waitSignal(viewer.exported, timeout=30_000) as blocker:
        viewer.export_button.click()
    path, rows = blocker.args
    assert re.fullmatch(r"errors_All_\d{8}_\d{6}\.csv", Path(path).name)
    frame = pd.read_csv(path, encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert rows == len(frame) == viewer.error_count()
    assert Counter(frame["Object"]) == Counter(ctx.journal.error_counts(synced))
    # the next dialog opens in the folder used last
    qtbot.waitUntil(lambda: viewer.export_button.isEnabled())
    viewer.export_button.click()
    assert Path(asked[-1]).parent == folder
    qtbot.waitUntil(lambda: not ctx.tasks.busy)


def test_export_shown_honours_the_text_filter_and_export_all_does_not(ctx, synced, viewer, qtbot, tmp_path):
    viewer.set_job(synced)
    errors = ctx.journal.errors(synced)
    viewer.ask_save_path = lambda parent, title, default: str(tmp_path / Path(default).name)
    assert viewer.export_button.text() == "Export CSV…" and not viewer.export_all_button.isVisible()

    qtbot.keyClicks(viewer.search, "record_type_not")
    shown = [viewer.proxy.error_at(row) for row in range(viewer.proxy.rowCount())]
    assert 0 < len(shown) < len(errors)
    assert viewer.export_button.text() == f"Export shown ({len(shown)})…"
    assert viewer.export_all_button.isVisible() and viewer.export_all_button.text() == f"Export all ({len(errors)})…"
    with qtbot.waitSignal(viewer.exported, timeout=30_000) as blocker:
        qtbot.mouseClick(viewer.export_button, Qt.MouseButton.LeftButton)
    frame = pd.read_csv(blocker.args[0], encoding="utf-8-sig", dtype=str, keep_default_na=False)
    assert blocker.args[1] == len(frame) == len(shown)
    assert list(frame["Source Id"]) == [e.source_id for e in shown]
    run = ctx.journal.runs(synced)[-1]
    assert set(frame["Job"]) == {f"#{synced}"} and set(frame["Run"]) == {f"Sync (run {run.id})"}
    qtbot.waitUntil(viewer.export_all_button.isEnabled)

    with qtbot.waitSignal(viewer.exported, timeout=30_000) as blocker:
        qtbot.mouseClick(viewer.export_all_button, Qt.MouseButton.LeftButton)
    assert blocker.args[1] == len(errors)
    qtbot.waitUntil(viewer.export_button.isEnabled)

    viewer.search.setText("no such text anywhere")     # nothing shown: only "all" can be exported
    assert not viewer.export_button.isEnabled() and viewer.export_all_button.isEnabled()
    viewer.search.clear()
    assert viewer.export_button.text() == "Export CSV…" and not viewer.export_all_button.isVisible()


@pytest.mark.expect_log
def test_export_cancelled_or_failing(ctx, synced, viewer, qtbot, tmp_path):
    viewer.set_job(synced)
    viewer.ask_save_path = lambda parent, title, default: ""
    viewer.export_button.click()
    assert not ctx.tasks.busy

    viewer.ask_save_path = lambda parent, title, default: str(tmp_path / "missing" / "errors.csv")
    messages: list[tuple[str, str]] = []
    ctx.message.connect(lambda level, text: messages.append((level, text)))
    with qtbot.waitSignal(viewer.export_failed, timeout=30_000) as blocker:
        viewer.export_button.click()
    assert "does not exist" in blocker.args[0]
    assert messages and messages[-1][0] == "error" and "could not be exported" in messages[-1][1]
    qtbot.waitUntil(lambda: viewer.export_button.isEnabled())


# ------------------------------------------------------------------------------------------ empty states
def test_empty_states(ctx, viewer):
    viewer.set_job(None)
    assert viewer.stack.currentIndex() == 0 and viewer.empty_label.text() == NO_JOB_TEXT
    assert viewer.error_count() == 0 and not viewer.export_button.isEnabled()

    accounts_only = {**DEMO, "objects": [DEMO["objects"][0]]}
    job_id = demo_sync(ctx, accounts_only)
    assert ctx.journal.error_counts(job_id) == {}
    viewer.set_job(job_id)
    assert viewer.stack.currentIndex() == 0 and viewer.empty_label.text() == NO_ERRORS_TEXT
    assert not viewer.export_button.isEnabled() and not viewer.search.isEnabled()


def test_refresh_after_the_run_fills_and_sizes_the_table(ctx, viewer, qtbot):
    engine = ctx.engine("source", "target")
    job_id = engine.create_job(DEMO)
    viewer.set_job(job_id)                      # the Execute tab shows the job before it runs
    assert viewer.empty_label.text() == NO_ERRORS_TEXT
    engine.sync(job_id)
    with qtbot.waitSignal(viewer.count_changed) as blocker:
        viewer.refresh()
    assert blocker.args == [sum(ctx.journal.error_counts(job_id).values())] and viewer.stack.currentIndex() == 1
    widest_code = max(viewer.table.fontMetrics().horizontalAdvance(e.status_code) for e in ctx.journal.errors(job_id))
    assert viewer.table.columnWidth(3) >= widest_code


def test_refresh_after_a_retry_shows_what_still_fails(ctx, synced, viewer, qtbot):
    viewer.set_job(synced)
    before = viewer.error_count()
    with qtbot.waitSignal(viewer.count_changed) as blocker:
        viewer.refresh()
    assert blocker.args == [before]
    ctx.engine("source", "target").retry(synced)
    viewer.refresh()
    assert viewer.error_count() == sum(ctx.journal.error_counts(synced).values())


# ------------------------------------------------------------------------------------------ screenshot
@pytest.mark.skipif(not os.environ.get("ISYNCSF_SCREENSHOTS"), reason="set ISYNCSF_SCREENSHOTS=1 to refresh")
def test_screenshot(ctx, synced, qtbot):
    from isyncsf_desktop.gui.style import apply_style

    apply_style(QApplication.instance())
    widget = ErrorViewer(ctx)
    qtbot.addWidget(widget)
    widget.setWindowTitle("Errors")
    widget.setStyleSheet("ErrorViewer { background: white; }")
    widget.setAutoFillBackground(True)
    widget.layout().setContentsMargins(12, 12, 12, 12)
    widget.resize(1200, 760)
    widget.set_job(synced)
    widget.select_object("Contact")
    widget.show()
    qtbot.waitExposed(widget)
    widget.table.selectRow(2)
    out = Path(__file__).parents[2] / "docs" / "screenshots" / "error-viewer.png"
    out.parent.mkdir(parents=True, exist_ok=True)
    assert widget.grab().save(str(out))
