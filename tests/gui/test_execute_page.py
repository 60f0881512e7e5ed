"""The Execute tab end to end against the sandbox demo orgs: pick the target in the modal, reorder by a
simulated drop, switch Update off for one object, start, abort a second run, read the summary,
filter errors, export CSV, retry, roll back — with assertions on the widgets and the target org."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_execute_page, open_main_window, press_start_sync, run_and_wait
from helpers import client_for
from PySide6.QtCore import QModelIndex, Qt, QTimer
from PySide6.QtWidgets import QApplication, QMessageBox

from isyncsf_desktop.engine.events import BatchDone
from isyncsf_desktop.gui.execute.order_model import COL_DEFERRED, COL_UPDATE
from isyncsf_desktop.gui.questions import ROLL_BACK_TITLE, rollback_question

TEMPLATE = EXECUTE_TEMPLATE


def count(server, soql: str) -> int:
    return client_for(server, "target").query(soql)["totalSize"]


@pytest.fixture
def setup(sandbox_factory, tmp_path, qtbot, monkeypatch):
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, page, path = open_execute_page(server, tmp_path, qtbot, TEMPLATE)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    yield server, ctx, page, path
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
    ctx.shutdown()


def pick_target_in_modal(qtbot, page, alias: str) -> None:
    def choose() -> None:
        dialog = QApplication.activeModalWidget()
        assert dialog is not None and dialog.windowTitle() == "Select Destination Org"
        qtbot.waitUntil(lambda: alias in dialog.visible_aliases(), timeout=10_000)
        assert dialog.select_alias(alias)
        qtbot.mouseClick(dialog.select_button, Qt.MouseButton.LeftButton)

    QTimer.singleShot(0, choose)
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        qtbot.mouseClick(page.select_target_button, Qt.MouseButton.LeftButton)


@pytest.mark.expect_log
def test_a_whole_sync_from_the_execute_tab(setup, qtbot, tmp_path, monkeypatch):
    server, ctx, page, path = setup
    accounts_before = count(server, "SELECT COUNT() FROM Account")
    contacts_before = count(server, "SELECT COUNT() FROM Contact")
    assert not page.start_button.isEnabled() and "destination" in page.hint_label.text()

    # Pick the target in the modal.
    pick_target_in_modal(qtbot, page, "target")
    assert ctx.target == "target" and "target" in page.target_label.text()
    model = page.order_model
    assert model.draft.order == ["Account", "Contact", "Opportunity"]
    assert model.data(model.index(0, COL_DEFERRED)) == "Primary_Contact__c"

    # Reorder by a simulated drop: Opportunity dragged above Contact.
    mime = model.mimeData([model.index(2, 0)])
    model.dropMimeData(mime, Qt.DropAction.MoveAction, 1, 0, QModelIndex())
    assert model.draft.order == ["Account", "Opportunity", "Contact"]
    # Switch "Update existing records" off for Account.
    assert model.setData(model.index(0, COL_UPDATE), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert not page.start_button.isEnabled() and "save the order" in page.hint_label.text()
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        qtbot.mouseClick(page.save_order_button, Qt.MouseButton.LeftButton)
    saved = json.loads(path.read_text())
    assert saved["order"] == ["Account", "Opportunity", "Contact"]
    assert next(o for o in saved["objects"] if o["object"] == "Account")["update"] is False
    assert page.start_button.isEnabled()

    # Start.
    result = run_and_wait(qtbot, page, page.start_button)
    assert result.state == "Synced"
    first_job = result.job_id
    assert page.state_badge.text() == "Synced" and "Completed" in page.status_label.text()
    totals = result.totals
    assert f"{totals.inserted:,}</b> inserted" in page.summary_label.text()
    progress = page.progress_model
    assert progress.order == ["Account", "Opportunity", "Contact"]
    # Update off: the 65 business and 6 person accounts the demo target holds stay as they are
    assert progress.counts["Account"].updated == 0 and progress.counts["Account"].existing == 65 + 6
    assert progress.counts["Contact"].errors == 46
    assert progress.data(progress.index(2, 2), Qt.ItemDataRole.UserRole) == 100
    assert count(server, "SELECT COUNT() FROM Account") == accounts_before + progress.counts["Account"].inserted
    assert page.live_errors.count() == 46
    assert page.run_tabs.tabText(page.errors_tab) == "Errors (46)"
    assert page.retry_button.isEnabled() and page.rollback_button.isEnabled()

    # Abort a second run after its first batch (the confirmation is answered Yes).
    def abort_on_first_batch(event: object) -> None:
        if isinstance(event, BatchDone) and page.abort_button.isEnabled() and page.abort_box is None:
            qtbot.mouseClick(page.abort_button, Qt.MouseButton.LeftButton)
            qtbot.mouseClick(page.abort_box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)

    original_start = page._start

    def start_and_watch(*args: object, **kwargs: object) -> None:
        original_start(*args, **kwargs)
        page.worker.signals.progress.connect(abort_on_first_batch)

    page._start = start_and_watch
    aborted = run_and_wait(qtbot, page, page.start_button)
    page._start = original_start
    assert aborted.state == "Aborted" and aborted.status == "Aborted"
    assert page.state_badge.text() == "Aborted" and "Aborted" in page.status_label.text()
    assert aborted.job_id != first_job

    # Back to the first job (as History's "Open in Execute" does): summary, errors, export.
    ctx.open_job(first_job)
    assert page.job.id == first_job and "Sync summary" in page.summary_label.text()
    viewer = page.error_viewer
    assert viewer.error_count() == 46
    viewer.search.setText("phone is required")
    assert viewer.proxy.rowCount() == 46
    viewer.search.setText("no such message")
    assert viewer.proxy.rowCount() == 0
    viewer.search.setText("")
    viewer.select_object("Contact")
    csv_path = tmp_path / "contact-errors.csv"
    viewer.ask_save_path = lambda *args: str(csv_path)
    with qtbot.waitSignal(viewer.exported, timeout=30_000):
        viewer.export_csv()
    frame = pd.read_csv(csv_path, encoding="utf-8-sig")
    assert len(frame) == 46 and set(frame["Object"]) == {"Contact"}
    assert set(frame["Message"]) == {"Phone is required for every contact."}

    # Switch the rule off on the target, then Retry Failed.
    sf = client_for(server, "target")
    rule = sf.toolingexecute("query/?q=SELECT+Id+FROM+ValidationRule+WHERE+ValidationName='Contact_Phone_Required'")
    rule_id = rule["records"][0]["Id"]
    meta = sf.toolingexecute(f"sobjects/ValidationRule/{rule_id}")["Metadata"]
    sf.toolingexecute(f"sobjects/ValidationRule/{rule_id}", method="PATCH", data={"Metadata": {**meta, "active": False}})
    assert page.retry_button.text() == "Retry Failed (46)"
    retried = run_and_wait(qtbot, page, page.retry_button)
    assert retried.kind == "retry" and retried.totals.inserted == 46 and retried.totals.errors == 0
    assert page.error_viewer.error_count() == 0 and not page.retry_button.isEnabled()

    # Roll the first job back: the target is as it was. The question is History's, word for word.
    asked: list[tuple[str, str]] = []
    monkeypatch.setattr(QMessageBox, "question",
                        lambda parent, title, text, *a: asked.append((title, text)) or QMessageBox.StandardButton.Yes)
    inserted, restored = ctx.journal.rollback_counts(page.job.id)
    rolled = run_and_wait(qtbot, page, page.rollback_button)
    assert asked == [(ROLL_BACK_TITLE, rollback_question(page.job.id, page.job.target.alias, inserted, restored))]
    assert f"{inserted:,} records the job inserted will be deleted" in asked[0][1]
    assert rolled.state == "Rollback Completed" and page.state_badge.text() == "Rollback Completed"
    assert "deleted" in page.summary_label.text()
    assert count(server, "SELECT COUNT() FROM Account") == accounts_before
    assert count(server, "SELECT COUNT() FROM Contact") == contacts_before
    assert not page.rollback_button.isEnabled()
    # The aborted run found everything already there: nothing of its own to undo.
    ctx.open_job(aborted.job_id)
    assert page.job.state == "Aborted" and not page.rollback_button.isEnabled()
    assert page.resync_button.isEnabled()


def test_dont_insert_warning_and_impossible_orders(setup, qtbot, monkeypatch):
    server, ctx, page, _ = setup
    warnings = []
    monkeypatch.setattr(QMessageBox, "warning", lambda parent, title, text, *a: warnings.append((title, text)))
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    model = page.order_model
    model.setData(model.index(1, 2), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert warnings and warnings[0][0] == "Don't Insert New Records"
    assert "linked to incorrect data" in warnings[0][1] and "Contact" in warnings[0][1]
    assert "Not inserting new records for Contact" in page.settings_note.text()
    # Keyboard move: Ctrl+Down on the first row puts Account after Contact, which defers Contact.AccountId.
    page.order_view.selectRow(0)
    page._on_down_clicked()
    assert model.draft.order[:2] == ["Contact", "Account"]
    assert model.data(model.index(0, COL_DEFERRED)) == "AccountId, ReportsToId" or \
        "AccountId" in model.data(model.index(0, COL_DEFERRED))


def test_closing_the_window_during_a_sync_aborts_cleanly(sandbox_factory, tmp_path, qtbot):
    from isyncsf_desktop.engine.journal import Journal

    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, window, page = open_main_window(server, tmp_path, qtbot, TEMPLATE)
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    server.faults("target").update(latency=0.3)   # ~40 batches: the run is still going when we close
    press_start_sync(qtbot, page)
    assert page.is_running()
    qtbot.waitUntil(lambda: page.job is not None, timeout=30_000)
    job_id = page.job.id
    assert not window.close()        # asks first, without blocking: the sync goes on meanwhile
    assert window.quit_box is not None and window.quit_box.windowTitle() == "A sync is running"
    # Yes: aborts, waits for the pool, closes the journal.
    qtbot.mouseClick(window.quit_box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    assert not window.isVisible() and ctx.closing
    journal = Journal(tmp_path / "journal.sqlite3")
    assert journal.job(job_id).state in ("Aborted", "Synced")
    assert journal.runs(job_id)[-1].status in ("Aborted", "Completed")
    journal.close()
