"""The Execute tab's states, progress and labels as a user meets them (issue: "states, progress and
keyboard right"): the Total bar is records done of records planned; after an abort, a failed run or a
relaunch every row says where its object ended; Retry Failed on an aborted job stays Aborted while an
object was never processed; a rollback shows Rollback / Rollback Started while it runs; confirmations
left open when a run ends close or say so; a new run shows no label of the job before it."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_execute_page, open_main_window, press_start_sync, run_and_wait
from helpers import client_for
from PySide6.QtCore import QModelIndex, Qt
from PySide6.QtWidgets import QMessageBox

from isyncsf_desktop.engine.events import BatchDone, ObjectFinished, RecordFailed, StateChanged
from isyncsf_desktop.engine.journal import Journal, ObjectCounts
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.execute.page import ExecutePage
from isyncsf_desktop.gui.execute.progress_model import COL_PROGRESS, COL_STATUS

TEMPLATE = EXECUTE_TEMPLATE
RUN_TIMEOUT = 120_000


@pytest.fixture
def setup(sandbox_factory, tmp_path, qtbot, monkeypatch):
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, page, path = open_execute_page(server, tmp_path, qtbot, TEMPLATE)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)   # rollback's
    yield from target_chosen(qtbot, ctx, page, (server, ctx, page))


def target_chosen(qtbot, ctx: AppContext, page: ExecutePage, value: Any) -> Iterator[Any]:
    """For a fixture to ``yield from``: choose the "target" org, wait for the plan, yield ``value``; once the
    test is done, wait for the context's tasks and shut it down (unless the test did)."""
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    yield value
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
    if not ctx.closing:
        ctx.shutdown()


def statuses(page: ExecutePage) -> dict[str, str]:
    model = page.progress_model
    return {name: model.data(model.index(row, COL_STATUS)) for row, name in enumerate(model.order)}


def total_percent(page: ExecutePage) -> int:
    model = page.progress_model
    return model.data(model.index(len(model.order), COL_PROGRESS), Qt.ItemDataRole.UserRole)


def watch_runs(page: ExecutePage, on_event: Callable[[Any], None], *, in_worker: bool = False) -> None:
    """Call ``on_event`` with every engine event of the runs the page starts from now on: on the GUI
    thread after the page's own slot, or (``in_worker``) on the worker thread as the engine reports it."""
    original = page._start

    def start(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        connection = Qt.ConnectionType.DirectConnection if in_worker else Qt.ConnectionType.AutoConnection
        page.worker.signals.progress.connect(on_event, connection)

    page._start = start


def cancel_after(page: ExecutePage, object_name: str) -> None:
    """Abort the next run as soon as ``object_name`` is finished (from the worker thread: exactly there)."""
    def on_event(event: Any) -> None:
        if isinstance(event, ObjectFinished) and event.object == object_name and page.worker is not None:
            page.worker.cancel.cancel("aborted by the user")

    watch_runs(page, on_event, in_worker=True)


def relaunch(ctx: AppContext, tmp_path, qtbot) -> tuple[AppContext, ExecutePage]:
    """Quit (``ctx`` shut down) and launch again: a new context and Execute page over the same journal file,
    the same template and orgs picked, the plan ready."""
    ctx.shutdown()
    again = AppContext(registry=ctx.registry, journal=Journal(tmp_path / "journal.sqlite3"))
    relaunched = ExecutePage(again)
    qtbot.addWidget(relaunched)
    again.open_template(tmp_path / "template.json")
    again.set_source("source")
    with qtbot.waitSignal(relaunched.plan_ready, timeout=30_000):
        again.set_target("target")
    return again, relaunched


def run(qtbot, page: ExecutePage, button) -> Any:
    return run_and_wait(qtbot, page, button, RUN_TIMEOUT)


def test_total_progress_is_records_done_of_records_planned(setup, qtbot):
    server, ctx, page = setup
    seen: list[tuple[int, int, int]] = []      # (Total %, records processed, records planned) per object done

    def on_event(event: Any) -> None:
        if isinstance(event, ObjectFinished):
            page._on_refresh_timer_timeout()       # what the next timer tick draws
            totals = page.progress_model.totals()
            seen.append((total_percent(page), totals.processed, totals.total))

    watch_runs(page, on_event)
    result = run(qtbot, page, page.start_button)
    scan = next(r for r in ctx.journal.runs(result.job_id) if r.kind == "scan")
    planned = sum(c.total for c in scan.counts.values())
    assert planned > 0 and [p for _, _, p in seen] == [planned] * len(seen)
    first_percent, first_done, _ = seen[0]          # Account done, Contact and Opportunity to come
    assert first_done == scan.counts["Account"].total
    assert first_percent == first_done * 100 // planned < 100
    assert [pct for pct, _, _ in seen] == sorted(pct for pct, _, _ in seen)
    assert total_percent(page) == 100
    assert page.progress_model.data(page.progress_model.index(3, COL_STATUS)) == f"{planned:,} of {planned:,} records"


def test_the_buttons_after_a_run_use_the_facts_read_on_its_thread(setup, qtbot):
    """What decides Retry Failed, ReSync and Rollback once a run ends counts over every record of the job (a
    quarter of a second at 300,000 records): the run's own thread reads it, once, as the run left the job."""
    server, ctx, page = setup
    reported: list[tuple[Any, bool]] = []

    def on_event(event: Any) -> None:
        if isinstance(event, tuple) and event[0] == "facts":
            reported.append((event[1], threading.current_thread() is threading.main_thread()))

    watch_runs(page, on_event, in_worker=True)
    result = run(qtbot, page, page.start_button)
    facts = ctx.journal.job_facts(result.job_id)
    assert reported == [(facts, False)]
    assert facts.failed > 0 and facts.to_undo > 0
    assert page.retry_button.text() == f"Retry Failed ({facts.failed:,})" and page.rollback_button.isEnabled()
    assert page._fresh_facts is None           # a later look reads the journal again


@pytest.mark.expect_log
def test_after_an_abort_and_after_a_relaunch_each_row_says_where_its_object_ended(setup, qtbot, tmp_path):
    server, ctx, page = setup
    cancel_after(page, "Account")
    result = run(qtbot, page, page.start_button)
    assert result.state == "Aborted"
    ended = {"Account": "Aborted before 2nd pass", "Contact": "Not started", "Opportunity": "Not started"}
    assert statuses(page) == ended
    assert 0 < total_percent(page) < 100
    # Quit and relaunch: a new window over the same journal shows the same.
    again, relaunched = relaunch(ctx, tmp_path, qtbot)
    assert relaunched.job.id == result.job_id and relaunched.state_badge.text() == "Aborted"
    assert statuses(relaunched) == ended
    qtbot.waitUntil(lambda: not again.tasks.busy, timeout=30_000)
    again.shutdown()


def test_a_crashed_run_shows_aborted_rows_after_the_relaunch(setup, qtbot, tmp_path):
    server, ctx, page = setup
    job_id = ctx.journal.create_job(ctx.template.as_json(), ctx.org_ref("source"), ctx.org_ref("target"))
    ctx.journal.set_plan(job_id, page.plan.as_json())
    ctx.journal.set_state(job_id, "Sync In Progress")
    run_id = ctx.journal.start_run(job_id, "sync")
    ctx.journal.set_object_counts(run_id, "Account", ObjectCounts(total=100, processed=85, status="Executing"))
    again, relaunched = relaunch(ctx, tmp_path, qtbot)    # the process died: the run stayed Executing
    assert relaunched.job.id == job_id and "interrupted" in relaunched.state_badge.text()
    assert statuses(relaunched) == {"Account": "Aborted", "Contact": "Not started", "Opportunity": "Not started"}
    qtbot.waitUntil(lambda: not again.tasks.busy, timeout=30_000)
    again.shutdown()


@pytest.mark.expect_log
def test_retry_failed_on_an_aborted_job_stays_aborted_while_an_object_was_never_processed(setup, qtbot, tmp_path):
    server, ctx, page = setup
    one_at_a_time = tmp_path / "one-at-a-time.json"     # Opportunity would run beside Contact (both Account's)
    one_at_a_time.write_text(json.dumps({**TEMPLATE, "options": {**TEMPLATE.get("options", {}), "parallel_objects": 1}}))
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.open_template(one_at_a_time)
    cancel_after(page, "Contact")                  # 46 contacts fail the phone rule; Opportunity never starts
    aborted = run(qtbot, page, page.start_button)
    assert aborted.state == "Aborted" and statuses(page)["Opportunity"] == "Not started"
    del page._start                                 # the next runs are not cancelled
    sf = client_for(server, "target")
    rule = sf.toolingexecute("query/?q=SELECT+Id+FROM+ValidationRule+WHERE+ValidationName='Contact_Phone_Required'")
    rule_id = rule["records"][0]["Id"]
    meta = sf.toolingexecute(f"sobjects/ValidationRule/{rule_id}")["Metadata"]
    sf.toolingexecute(f"sobjects/ValidationRule/{rule_id}", method="PATCH", data={"Metadata": {**meta, "active": False}})
    assert page.retry_button.isEnabled() and page.retry_button.text() == "Retry Failed (46)"

    retried = run(qtbot, page, page.retry_button)
    assert retried.kind == "retry" and retried.totals.inserted == 46 and retried.status == "Completed"
    assert retried.state == "Aborted" and page.state_badge.text() == "Aborted"
    summary = page.summary_label.text()
    assert "Opportunity was never processed" in summary and "Account was not finished" in summary
    assert "Start ReSync" in summary
    assert statuses(page) == {"Account": "Aborted before 2nd pass", "Contact": "Completed",
                              "Opportunity": "Not started"}
    model = page.progress_model                     # a retry plans the failed records, and did them all
    assert model.data(model.index(3, COL_STATUS)) == "46 of 46 records" and total_percent(page) == 100
    assert page.resync_button.isEnabled()

    resynced = run(qtbot, page, page.resync_button)
    assert resynced.state == "Synced" and page.state_badge.text() == "Synced"
    assert set(statuses(page).values()) == {"Completed"}


def test_a_rollback_shows_rollback_then_rollback_started_while_it_runs(setup, qtbot):
    server, ctx, page = setup
    synced = run(qtbot, page, page.start_button)
    assert synced.state == "Synced" and page.state_badge.text() == "Synced"
    badges: list[str] = []
    planned: list[int] = []                       # the Total row's records planned at each batch

    def on_event(event: Any) -> None:
        if page.is_running() and (not badges or badges[-1] != page.state_badge.text()):
            badges.append(page.state_badge.text())
        if isinstance(event, BatchDone):
            planned.append(page.progress_model.totals().total)

    watch_runs(page, on_event)
    server.faults("target").update(latency=0.05)
    to_delete, to_restore = ctx.journal.rollback_counts(synced.job_id)
    rolled = run(qtbot, page, page.rollback_button)
    assert rolled.state == "Rollback Completed"
    assert badges[:2] == ["Rollback", "Rollback Started"] and "Synced" not in badges
    assert page.state_badge.text() == "Rollback Completed"
    # Its Total counts records undone of records to undo, from the first batch on.
    assert planned and set(planned) == {to_delete + to_restore}
    assert rolled.totals.deleted + rolled.totals.restored == to_delete + to_restore


def test_the_abort_question_closes_when_the_run_ends_first(setup, qtbot):
    server, ctx, page = setup
    messages: list[str] = []
    ctx.message.connect(lambda level, text: messages.append(text))
    asked: list[QMessageBox] = []
    closed: list[int] = []

    def on_event(event: Any) -> None:   # asked as the run ends (before, the question holds the run)
        if isinstance(event, StateChanged) and event.state == "Synced" and not asked:
            qtbot.mouseClick(page.abort_button, Qt.MouseButton.LeftButton)     # the question stays open
            asked.append(page.abort_box)
            page.abort_box.finished.connect(closed.append)
            assert page.abort_box.isVisible()

    watch_runs(page, on_event)
    result = run(qtbot, page, page.start_button)
    assert result.state == "Synced"                # nobody answered: the run went on to its end
    assert asked and closed and page.abort_box is None      # closed by the end of the run
    assert any("before it was aborted" in text and "nothing to abort" in text for text in messages)


@pytest.fixture
def window_setup(sandbox_factory, tmp_path, qtbot):
    """The main window over the demo orgs, the template open, source and target chosen, the plan ready."""
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, window, page = open_main_window(server, tmp_path, qtbot, TEMPLATE)
    yield from target_chosen(qtbot, ctx, page, (ctx, window, page))


def test_the_quit_question_says_when_the_sync_has_finished(window_setup, qtbot):
    ctx, window, page = window_setup
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT):
        press_start_sync(qtbot, page)
        assert not window.close()                  # asked, not answered: the sync goes on
        assert window.quit_box.windowTitle() == "A sync is running"
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)
    assert window.isVisible() and window.quit_box.windowTitle() == "The sync has finished"
    assert "nothing will be aborted" in window.quit_box.text()
    qtbot.mouseClick(window.quit_box.button(QMessageBox.StandardButton.Yes), Qt.MouseButton.LeftButton)
    assert not window.isVisible() and ctx.closing


def test_a_new_run_shows_no_label_of_the_job_before(setup, qtbot):
    server, ctx, page = setup
    first = run(qtbot, page, page.start_button)
    assert page.job_label.text() == f"Job <b>#{first.job_id}</b>"
    assert page.run_tabs.tabText(page.errors_tab) == "Errors (46)"
    labels: list[tuple[str, str, int]] = []
    failed = [0]      # this run's failures delivered so far

    def on_event(event: Any) -> None:
        if isinstance(event, RecordFailed):
            failed[0] += 1
        if isinstance(event, (StateChanged, RecordFailed)):
            labels.append((page.job_label.text(), page.run_tabs.tabText(page.errors_tab), failed[0]))

    watch_runs(page, on_event)
    server.faults("target").update(latency=0.02)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)      # the pair has a job: no check first
        assert page.preflight_dialog is None and page.is_running()
        assert page.job_label.text() == "New job" and page.run_tabs.tabText(page.errors_tab) == "Errors"
        assert page.error_viewer.error_count() == 0
        # the viewer reading the journal mid-run (ahead of the events delivered so far) does not set the tab
        page.error_viewer.count_changed.emit(999)
        assert page.run_tabs.tabText(page.errors_tab) == "Errors"
    second = finished.args[0]
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)
    assert second.job_id != first.job_id
    assert all(f"#{first.job_id}<" not in job for job, _tab, _count in labels)
    # the Errors tab counts this run's errors as they happen (never more than delivered), not the job before's
    assert all(tab == "Errors" or int(tab[len("Errors ("):-1].replace(",", "")) <= seen
               for _job, tab, seen in labels)
    assert labels[0][1] == "Errors"
    assert page.job_label.text() == f"Job <b>#{second.job_id}</b>"
    assert page.run_tabs.tabText(page.errors_tab) == f"Errors ({page.error_viewer.error_count():,})"


def test_the_first_sync_shows_the_metadata_check_and_starts_with_its_suggested_switches(setup, qtbot, tmp_path):
    """On a fresh install Start Sync does not go ahead silently: the first sync of a template between two orgs
    shows the check's findings with the automation it suggests switching off pre-ticked; its Start Sync saves
    those ticks into the template and starts the sync with them; later syncs start straight away."""
    server, ctx, page = setup
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    dialog = page.preflight_dialog
    assert dialog is not None and dialog.isVisible() and not page.is_running()
    assert dialog.windowTitle().startswith("Before the first sync") and dialog.intro_label.isVisible()
    qtbot.waitUntil(lambda: dialog.report() is not None and not dialog.busy(), timeout=60_000)
    assert dialog.report().counts["records will fail"] >= 1
    assert {item.name for item in dialog.ticked_items()} == {"Contact.Contact_Phone_Required", "OpportunityGuard"}
    tree = dialog.automation_list                   # the ticked rows are in view, not below the list's 3 rows
    rows = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())
            if tree.topLevelItem(i).checkState(0) == Qt.CheckState.Checked]
    qtbot.waitUntil(lambda: all(tree.viewport().rect().contains(tree.visualItemRect(row)) for row in rows))
    assert dialog.start_button.isEnabled() and dialog.start_button.text() == "Start Sync"
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT) as finished:
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
    result = finished.args[0]
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)
    saved = json.loads((tmp_path / "template.json").read_text())["options"]["automation_off"]
    assert {entry["name"] for entry in saved} == {"Contact.Contact_Phone_Required", "OpportunityGuard"}
    assert result.state == "Synced" and result.objects["Contact"].errors == 0     # 46 with the rule on
    assert page.preflight_dialog is None
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)   # not the first: no check first
        assert page.preflight_dialog is None and page.is_running()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)


def test_closing_the_first_run_check_does_not_start_the_sync(setup, qtbot):
    server, ctx, page = setup
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    dialog = page.preflight_dialog
    qtbot.waitUntil(lambda: dialog.report() is not None and not dialog.busy(), timeout=60_000)
    for item in dialog.automation_items():
        dialog.set_ticked(item.name, False)
    dialog.buttons.button(dialog.buttons.StandardButton.Close).click()
    assert page.preflight_dialog is None and not page.is_running() and page.job is None
    assert ctx.journal.jobs() == []


def wait_for_check(qtbot, page: ExecutePage) -> Any:
    dialog = page.preflight_dialog
    assert dialog is not None and dialog.windowTitle().startswith("Before the first sync")
    qtbot.waitUntil(lambda: dialog.report() is not None and not dialog.busy(), timeout=60_000)
    return dialog


def test_closing_the_first_run_check_is_not_now_it_comes_back_at_the_next_start(setup, qtbot):
    """Close or Esc on "Before the first sync" means "not now": the next Start Sync shows the check again (with
    its suggested switches), instead of running with none of them."""
    server, ctx, page = setup
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    dialog = wait_for_check(qtbot, page)
    dialog.buttons.button(dialog.buttons.StandardButton.Close).click()
    assert page.preflight_dialog is None and not page.is_running()
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)          # shown again
    dialog = wait_for_check(qtbot, page)
    assert {item.name for item in dialog.ticked_items()} == {"Contact.Contact_Phone_Required", "OpportunityGuard"}
    assert dialog.dont_show_check is not None and not dialog.dont_show_check.isChecked()
    qtbot.keyClick(dialog, Qt.Key.Key_Escape)
    assert page.preflight_dialog is None and not page.is_running()
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)          # and again
    wait_for_check(qtbot, page).reject()
    assert not page.is_running() and ctx.journal.jobs() == []


def test_dont_show_again_is_remembered_for_the_template_and_orgs(setup, qtbot, tmp_path):
    from isyncsf_desktop.gui.preflight.dialog import DONT_SHOW_TEXT, first_check_skipped

    server, ctx, page = setup
    qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
    dialog = wait_for_check(qtbot, page)
    assert dialog.dont_show_check.text() == DONT_SHOW_TEXT and dialog.dont_show_check.isVisible()
    dialog.dont_show_check.setChecked(True)
    dialog.buttons.button(dialog.buttons.StandardButton.Close).click()
    assert first_check_skipped(ctx.settings, TEMPLATE["name"], "source", "target")
    assert not first_check_skipped(ctx.settings, TEMPLATE["name"], "target", "source")     # for these orgs only
    assert not first_check_skipped(ctx.settings, "Another template", "source", "target")
    # remembered in the settings: a relaunched app starts straight away too
    ctx, page = relaunch(ctx, tmp_path, qtbot)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT):
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        assert page.preflight_dialog is None and page.is_running()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
    ctx.shutdown()


def test_save_order_says_when_the_dependencies_are_recalculated_and_what_changed(setup, qtbot):
    from isyncsf_desktop.gui.execute.order_model import COL_UPDATE

    server, ctx, page = setup
    messages: list[tuple[str, str]] = []
    ctx.message.connect(lambda level, text: messages.append((level, text)))
    model = page.order_model
    model.dropMimeData(model.mimeData([model.index(2, 0)]), Qt.DropAction.MoveAction, 1, 0, QModelIndex())
    model.setData(model.index(0, COL_UPDATE), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        qtbot.mouseClick(page.save_order_button, Qt.MouseButton.LeftButton)
        assert messages[-1] == ("info", "Order saved; recalculating dependencies…")
    level, text = messages[-1]
    assert level == "info" and text.startswith("Order saved, dependencies recalculated: ")
    assert "order now Account → Opportunity → Contact" in text and "Update existing off for Account" in text
    assert not page.plan_progress.isVisible() and page.start_button.isEnabled()


def test_orgs_show_when_they_were_last_used_after_a_sync(window_setup, qtbot):
    from isyncsf_desktop.gui.orgs.models import COL_LAST_USED

    ctx, window, page = window_setup
    orgs = window.pages["Orgs"]

    def last_used() -> dict[str, str]:
        model = orgs.model
        return {alias: model.data(model.index(model.row_of(alias), COL_LAST_USED)) for alias in ("source", "target")}

    assert last_used() == {"source": "Never", "target": "Just now"}     # picking the target is a use
    run(qtbot, page, page.start_button)
    assert last_used() == {"source": "Just now", "target": "Just now"}
    assert ctx.registry.get("source").last_used and ctx.registry.get("target").last_used


@pytest.mark.parametrize(("run_status", "rollback", "expected"), [
    ("Aborted", False, {"A": "Aborted before 2nd pass", "B": "Aborted", "C": "Not started"}),
    ("Paused", False, {"A": "Paused before 2nd pass", "B": "Paused", "C": "Not started"}),
    ("Failed", False, {"A": "Failed before 2nd pass", "B": "Failed", "C": "Not started"}),
    ("Completed", True, {"A": "Awaiting second pass", "B": "Executing", "C": "Nothing to undo"}),
])
def test_rows_settle_where_each_object_ended(qtbot, run_status, rollback, expected):
    from isyncsf_desktop.gui.execute.progress_model import ProgressModel

    model = ProgressModel()
    model.reset(["A", "B", "C"], {"A": ObjectCounts(total=4, processed=4, status="Awaiting second pass"),
                                  "B": ObjectCounts(total=10, processed=3, status="Executing")},
                rollback=rollback, planned={"C": 6})
    model.settle(run_status)
    assert {name: model.data(model.index(row, COL_STATUS)) for row, name in enumerate(model.order)} == expected
    # C counts its 6 planned records, unless it turned out to have nothing to undo
    assert model.totals().total == (14 if rollback else 20) and model.totals().processed == 7
    undone = model.data(model.index(2, COL_PROGRESS), Qt.ItemDataRole.UserRole)
    assert undone is None if rollback else undone == 0                          # no bar for nothing to undo


def test_the_progress_table_paints_without_calling_python(qtbot):
    """Each call from a painting view into Python waits for the interpreter lock, which the engine's
    threads hold in turns of 5 ms: the table must paint from Qt's own storage (only the bar is drawn in
    Python). Its cells still say the same: bold current row, right-aligned numbers, the Total row."""
    import sys

    from PySide6.QtGui import QFont
    from PySide6.QtWidgets import QTableView

    from isyncsf_desktop.gui.execute.progress_model import COL_ERRORS, COL_INSERTED, ProgressBarDelegate, ProgressModel

    model = ProgressModel()
    model.reset(["Account", "Contact"], planned={"Account": 10, "Contact": 40})
    model.update_objects({"Account": ObjectCounts(total=10, processed=10, inserted=9, errors=1, status="Completed")})
    model.set_current("Contact")
    view = QTableView()
    qtbot.addWidget(view)
    view.setModel(model)
    view.setItemDelegateForColumn(COL_PROGRESS, ProgressBarDelegate(view))
    view.resize(900, 200)
    view.show()
    qtbot.waitExposed(view)
    entered: list[str] = []
    here = sys._getframe()

    def watch(frame, event, arg):  # noqa: ANN001, ANN202 - sys.setprofile's hook
        if event == "call" and frame.f_back is here:       # called by Qt while it paints
            entered.append(f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}")

    sys.setprofile(watch)
    try:
        view.grab()
    finally:
        sys.setprofile(None)
    assert entered and set(entered) <= {"progress_model.py:paint"}, entered   # the bars, nothing else
    assert model.rowCount() == 3 and model.data(model.index(2, 0)) == "Total"
    assert model.data(model.index(0, COL_INSERTED)) == "9" and model.data(model.index(0, COL_ERRORS)) == "1"
    assert model.data(model.index(2, COL_STATUS)) == "10 of 50 records"
    assert model.data(model.index(0, COL_PROGRESS), Qt.ItemDataRole.UserRole) == 100
    bold = model.data(model.index(1, 0), Qt.ItemDataRole.FontRole)
    assert isinstance(bold, QFont) and bold.bold() and model.data(model.index(0, 0), Qt.ItemDataRole.FontRole) is None
    assert model.data(model.index(0, COL_INSERTED), Qt.ItemDataRole.TextAlignmentRole) == int(
        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    assert model.headerData(COL_INSERTED, Qt.Orientation.Horizontal) == "Inserted"
    model.reset(["Account"], rollback=True)
    assert model.headerData(COL_INSERTED, Qt.Orientation.Horizontal) == "Deleted"
    assert model.rowCount() == 2


def test_the_status_line_and_bold_rows_name_every_object_under_way(setup):
    """parallel_objects: Account and Lead at once. Events as the worker hands them to the page, in order."""
    from PySide6.QtGui import QFont

    from isyncsf_desktop.engine.events import ObjectStarted

    _server, _ctx, page = setup
    model = page.progress_model
    model.reset(["Account", "Contact", "Lead"])
    page._on_worker_progress(ObjectStarted(job_id=1, elapsed=1.0, object="Account", index=1, count=3, total=5))
    assert page.current_label.text() == "Current object: <b>Account</b> (1 of 3)"
    page._on_worker_progress(ObjectStarted(job_id=1, elapsed=1.0, object="Lead", index=3, count=3, total=5))
    assert page.current_label.text() == "Current objects: <b>Account, Lead</b> (1 and 3 of 3)"

    def bold(row: int) -> bool:
        font = model.data(model.index(row, 0), Qt.ItemDataRole.FontRole)
        return isinstance(font, QFont) and font.bold()
    assert [bold(row) for row in range(3)] == [True, False, True]
    page._on_worker_progress(ObjectFinished(job_id=1, elapsed=2.0, object="Account", counts=ObjectCounts(
        total=5, processed=5, inserted=5, status="Completed")))
    assert page.current_label.text() == "Current object: <b>Lead</b> (3 of 3)"
    assert [bold(row) for row in range(3)] == [False, False, True]


def test_the_next_sync_of_the_template_counts_its_objects_at_what_the_last_one_took(setup, qtbot):
    """The time left of a second sync of the same template to the same target starts from what each object took
    in the first (engine.progress.times_before): the page's estimator has it before the first object is read."""
    from isyncsf_desktop.engine.events import ObjectReading

    server, ctx, page = setup
    first = run(qtbot, page, page.start_button)
    priors: list[dict[str, Any]] = []

    def on_event(event: Any) -> None:
        if isinstance(event, ObjectReading) and not priors:
            priors.append(dict(page.eta._prior))

    watch_runs(page, on_event)
    run(qtbot, page, page.start_button)
    done = {name: c.processed for name, c in first.objects.items() if c.processed}
    assert done and priors and {name: records for name, (records, _seconds) in priors[0].items()} == done
