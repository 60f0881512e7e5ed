"""The Execute tab, the History page and the CLI agree with the lifecycle on every job: for jobs built in
real states by the real engine against the demo orgs (a Synced job with failed records, a Scanned job with
none, a rolled-back job, a Rollback Completed job whose rollback left records to undo, a Sync In Progress job
a crash interrupted, a deleted job), each button is enabled exactly when ``refusal(...)`` is None, a greyed
button's tooltip is its sentence, and ``isyncsf retry|resync|rollback JOB`` fails with the same sentence.
The History page shows the job's live state while a rollback runs on the Execute tab."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import threading
from collections.abc import Callable

import pytest
from gui_helpers import load_demo_template, register_orgs, show_widget
from helpers import client_for
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from isyncsf_desktop import paths
from isyncsf_desktop.cli import main
from isyncsf_desktop.engine.events import StateChanged
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.lifecycle import Action, JobFacts, JobState, refusal
from isyncsf_desktop.engine.template import parse_template
from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.execute.page import RUN_IN_PROGRESS, ExecutePage
from isyncsf_desktop.gui.history.models import BreakdownModel, JobsModel
from isyncsf_desktop.gui.history.page import HistoryPage
from isyncsf_desktop.gui.preflight.dialog import first_check_key
from isyncsf_desktop.gui.style import SUCCESS, WARNING, state_colour

pytestmark = pytest.mark.gui

DEMO = load_demo_template()
FREEZE_RULE = "Account.Freeze_Accounts"


@pytest.fixture
def setup(sandbox_factory: Any, qtbot: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Any, AppContext]]:
    """The demo orgs, registered where the CLI looks too; a context over the journal the CLI opens."""
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx = AppContext(registry=register_orgs(server), journal=Journal(paths.journal_path()))
    ctx.template = parse_template(DEMO)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    yield server, ctx
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
    ctx.shutdown()


def freeze_accounts(server: Any, active: bool) -> None:
    """A validation rule on the target that refuses every update of an Account (a rollback's restores too)."""
    sf = client_for(server, "target")
    found = sf.toolingexecute("query/?q=SELECT+Id+FROM+ValidationRule+WHERE+ValidationName='Freeze_Accounts'")
    meta = {"active": active, "errorConditionFormula": "NOT(ISNEW())", "errorMessage": "Accounts are frozen."}
    if found["records"]:
        sf.toolingexecute(f"sobjects/ValidationRule/{found['records'][0]['Id']}", method="PATCH",
                          data={"Metadata": meta})
    else:
        sf.toolingexecute("sobjects/ValidationRule", method="POST", data={"FullName": FREEZE_RULE, "Metadata": meta})


def build_jobs(server: Any, ctx: AppContext) -> dict[str, int]:
    """One job in each state the test samples, through the real engine (the order matters: the rollbacks
    first, each on a target the job before left as it found it)."""
    engine = ctx.engine("source", "target")
    jobs: dict[str, int] = {}

    jobs["rolled back"] = engine.create_job(DEMO)
    engine.sync(jobs["rolled back"])
    assert engine.rollback(jobs["rolled back"]).totals.errors == 0

    jobs["rollback left records"] = engine.create_job(DEMO)
    synced = engine.sync(jobs["rollback left records"])
    assert synced.objects["Account"].updated > 0
    freeze_accounts(server, True)           # the rollback cannot restore the Accounts the job updated
    left = engine.rollback(jobs["rollback left records"])
    freeze_accounts(server, False)          # and now it could: run it again
    assert left.state == JobState.ROLLBACK_COMPLETED and left.objects["Account"].errors > 0

    jobs["synced with failures"] = engine.create_job(DEMO)
    engine.sync(jobs["synced with failures"])

    jobs["scanned"] = engine.create_job(DEMO)
    engine.scan(jobs["scanned"])

    jobs["interrupted"] = engine.create_job(DEMO)
    engine.scan(jobs["interrupted"])
    ctx.journal.set_state(jobs["interrupted"], JobState.SYNC_IN_PROGRESS)     # as a crash leaves it
    assert ctx.journal.recover_interrupted() == [jobs["interrupted"]]

    jobs["deleted"] = engine.create_job(DEMO)
    ctx.journal.delete_job(jobs["deleted"])
    return jobs


def check_button(button: Any, why: str | None, where: str) -> None:
    assert button.isEnabled() == (why is None), f"{where}: enabled {button.isEnabled()}, refusal {why!r}"
    if why is not None:
        assert button.toolTip() == why, where
    else:
        assert button.toolTip(), f"{where}: an enabled button says what it does"


def test_execute_history_and_cli_agree_with_the_lifecycle(setup, qtbot, capsys):
    server, ctx = setup
    jobs = build_jobs(server, ctx)
    execute = show_widget(qtbot, ExecutePage(ctx), 1280, 760)
    history = show_widget(qtbot, HistoryPage(ctx), 1200, 760)
    history.show_deleted.setChecked(True)
    facts = {name: ctx.journal.job_facts(job_id) for name, job_id in jobs.items()}

    # the sample covers the cases the brief settles
    assert facts["synced with failures"].state == JobState.SYNCED and facts["synced with failures"].failed > 0
    assert facts["scanned"].failed == 0 and facts["scanned"].to_undo == 0
    assert facts["rolled back"].state == JobState.ROLLBACK_COMPLETED and facts["rolled back"].to_undo == 0
    assert facts["rollback left records"].state == JobState.ROLLBACK_COMPLETED
    assert facts["rollback left records"].to_undo > 0
    assert facts["interrupted"] == JobFacts(job_id=jobs["interrupted"], state=JobState.SYNC_IN_PROGRESS,
                                            interrupted=True)
    assert facts["deleted"].state == JobState.DELETED

    why_not = {name: {action: refusal(action, facts[name]) for action in Action} for name in jobs}
    for name, job_id in jobs.items():
        why = why_not[name]
        ctx.open_job(job_id)
        assert execute.job is not None and execute.job.id == job_id
        check_button(execute.resync_button, why[Action.RESYNC], f"Execute ReSync of the {name} job")
        check_button(execute.retry_button, why[Action.RETRY], f"Execute Retry of the {name} job")
        check_button(execute.rollback_button, why[Action.ROLLBACK], f"Execute Rollback of the {name} job")
        assert history.select_job(job_id)
        check_button(history.rollback_button, why[Action.ROLLBACK], f"History Rollback of the {name} job")
        check_button(history.delete_button, why[Action.DELETE], f"History Delete of the {name} job")

    # the settled cases, in words
    ctx.open_job(jobs["rollback left records"])
    assert execute.rollback_button.isEnabled() and not execute.resync_button.isEnabled()
    assert execute.resync_button.toolTip() == (f"Job {jobs['rollback left records']} was rolled back; start a new "
                                               "sync instead")
    ctx.open_job(jobs["scanned"])
    assert execute.resync_button.isEnabled() and not execute.retry_button.isEnabled()
    assert execute.retry_button.toolTip() == f"Job {jobs['scanned']} has no failed records to retry"
    ctx.open_job(jobs["synced with failures"])
    failed = facts["synced with failures"].failed
    assert execute.retry_button.text() == f"Retry Failed ({failed:,})"
    assert f"{failed:,} failed records" in execute.retry_button.toolTip()
    ctx.open_job(jobs["rolled back"])       # its failed records stay in the journal, but nothing can retry them
    assert facts["rolled back"].failed > 0 and not execute.retry_button.isEnabled()
    assert execute.retry_button.text() == "Retry Failed"
    assert history.select_job(jobs["synced with failures"])
    to_delete, to_restore = ctx.journal.rollback_counts(jobs["synced with failures"])
    assert history.rollback_button.toolTip() == (f"Delete the {to_delete:,} records this job inserted and restore "
                                                 f"the {to_restore:,} it updated")

    # one colour per state on both pages: an interrupted job is a warning, a finished one a success
    assert history.select_job(jobs["interrupted"])
    interrupted_row = history.proxy.row_of(jobs["interrupted"])
    assert history.proxy.index(interrupted_row, JobsModel.STATE).data(Qt.ItemDataRole.ForegroundRole).name() == \
        state_colour(JobState.SYNC_IN_PROGRESS, interrupted=True) == WARNING
    ctx.open_job(jobs["interrupted"])
    assert WARNING in execute.state_badge.styleSheet() and "(interrupted)" in execute.state_badge.text()
    ctx.open_job(jobs["rolled back"])
    assert SUCCESS in execute.state_badge.styleSheet()

    # the CLI refuses with the same sentence (exit 2), and runs nothing it should not
    cli: list[tuple[str, tuple[int, str], tuple[int, str]]] = []      # (command, said, expected)
    for name, job_id in jobs.items():
        for action in (Action.RESYNC, Action.RETRY, Action.ROLLBACK):
            why = why_not[name][action]
            if why is None:
                continue                    # allowed: the CLI would run it
            code = main([action, str(job_id)])
            out, err = capsys.readouterr()
            cli.append((f"isyncsf {action} {job_id} ({name})", (code, err.strip()), (2, f"error: {why}")))
    assert len(cli) == 12
    assert [(command, said) for command, said, expected in cli if said != expected] == []
    assert {name: ctx.journal.job_facts(job_id) for name, job_id in jobs.items()} == facts


def test_history_shows_the_live_state_while_a_rollback_runs_on_the_execute_tab(setup, qtbot):
    server, ctx = setup
    engine = ctx.engine("source", "target")
    job_id = engine.create_job(DEMO)
    engine.sync(job_id)
    execute = show_widget(qtbot, ExecutePage(ctx), 1280, 760)
    history = show_widget(qtbot, HistoryPage(ctx), 1200, 760)
    ctx.open_job(job_id)
    assert history.select_job(job_id)
    seen: list[tuple[str, str, bool, str, bool, str]] = []
    stale: list[str] = []                   # what the page said the running rollback had undone

    def on_jobs_changed() -> None:          # connected after the History page: runs after its refresh
        if execute.is_running():
            row = history.proxy.row_of(job_id)
            seen.append((history.proxy.index(row, JobsModel.STATE).data(), history.job_label.text(),
                         history.rollback_button.isEnabled(), history.rollback_button.toolTip(),
                         execute.rollback_button.isEnabled(), execute.rollback_button.toolTip()))
            if history.current is not None and history.current.rolling_back:
                stale.extend([history.proxy.index(row, JobsModel.NOTE).data(), history.totals_label.text()])
                assert history.breakdown_view.isColumnHidden(BreakdownModel.DELETED)

    ctx.jobs_changed.connect(on_jobs_changed)
    server.faults("target").update(latency=0.02)
    with qtbot.waitSignal(execute.run_finished, timeout=120_000):
        qtbot.mouseClick(execute.rollback_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not execute.is_running(), timeout=30_000)

    # each time the run moves the job on, the History page reads the job's state from the journal: by then
    # it may have moved on again (Rollback lasts a moment), but it is never the Synced of before the run
    states = [state for state, *_ in seen]
    assert "Rollback Started" in states and set(states) <= {"Rollback", "Rollback Started", "Rollback Completed"}
    for state, label, history_enabled, history_tip, execute_enabled, execute_tip in seen:
        assert f"<b style='color:{state_colour(state)}'>{state}</b>" in label
        if state != JobState.ROLLBACK_COMPLETED:     # the run's last state comes before the run ends
            assert not history_enabled and history_tip == f"Job {job_id} is running ({state}); abort it first"
        assert not execute_enabled and execute_tip == RUN_IN_PROGRESS
    # while it runs, the page does not show what it has undone as of its last state (0 deleted: stale)
    assert stale and not any("undone:" in text or "Rolled back:" in text for text in stale)
    assert any("Rolling back: what it undoes is counted here when it ends." in text for text in stale)
    assert history.proxy.index(history.proxy.row_of(job_id), JobsModel.STATE).data() == "Rollback Completed"
    assert not history.rollback_button.isEnabled()
    assert history.rollback_button.toolTip() == (f"Job {job_id} has nothing left to roll back: no record it "
                                                 "inserted or updated is still in place")


def test_a_rollback_that_left_records_can_be_run_again_from_the_execute_tab(setup, qtbot):
    server, ctx = setup
    engine = ctx.engine("source", "target")
    job_id = engine.create_job(DEMO)
    engine.sync(job_id)
    freeze_accounts(server, True)
    first = engine.rollback(job_id)
    left = ctx.journal.job_facts(job_id).to_undo
    assert first.state == JobState.ROLLBACK_COMPLETED and left == first.totals.errors > 0
    freeze_accounts(server, False)
    execute = show_widget(qtbot, ExecutePage(ctx), 1280, 760)
    history = show_widget(qtbot, HistoryPage(ctx), 1200, 760)
    ctx.open_job(job_id)
    # the badge says records were left, in the warning colour, not the success green of a clean rollback
    assert execute.state_badge.text() == f"Rollback Completed ({left:,} left)" and execute.rollback_button.isEnabled()
    assert WARNING in execute.state_badge.styleSheet() and "roll back again" in execute.state_badge.toolTip()
    assert f"({left:,} records to undo)" in execute.rollback_button.toolTip()
    assert history.select_job(job_id)
    cell = history.proxy.index(history.proxy.row_of(job_id), JobsModel.STATE)
    assert cell.data() == "Rollback Completed" and cell.data(Qt.ItemDataRole.ForegroundRole).name() == WARNING
    assert f"{left:,} records left on the target" in history.job_label.text()
    with qtbot.waitSignal(execute.run_finished, timeout=120_000) as finished:
        qtbot.mouseClick(execute.rollback_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not execute.is_running(), timeout=30_000)
    again = finished.args[0]
    assert again.state == JobState.ROLLBACK_COMPLETED and again.totals.restored == left and again.totals.errors == 0
    assert ctx.journal.job_facts(job_id).to_undo == 0 and not execute.rollback_button.isEnabled()
    assert execute.state_badge.text() == "Rollback Completed" and SUCCESS in execute.state_badge.styleSheet()


def hold_at(ctx: AppContext, monkeypatch: pytest.MonkeyPatch, state: str) -> tuple[threading.Event, threading.Event]:
    """Hold the next run started on ``ctx``'s pool once the engine has reported ``state`` (the event is on its way to
    the GUI), until the test sets the returned ``release``; ``held`` is set then. No timing: the engine's thread
    waits on an event."""
    held, release = threading.Event(), threading.Event()
    start = ctx.tasks.start

    def start_held(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        def run(report: Callable[[Any], None], cancel: Any, *a: Any, **k: Any) -> Any:
            def hold_after(event: Any) -> None:
                report(event)
                if isinstance(event, StateChanged) and event.state == state and not held.is_set():
                    held.set()
                    release.wait(60)
            return fn(hold_after, cancel, *a, **k)
        return start(run, *args, **kwargs)

    monkeypatch.setattr(ctx.tasks, "start", start_held)
    return held, release


def history_state(history: HistoryPage, job_id: int) -> str:
    return history.proxy.index(history.proxy.row_of(job_id), JobsModel.STATE).data()


@pytest.mark.parametrize("started_on", ["Execute", "History"])
def test_while_a_held_rollback_runs_every_page_reads_rollback_started(setup, qtbot, monkeypatch, started_on):
    server, ctx = setup
    engine = ctx.engine("source", "target")
    job_id = engine.create_job(DEMO)
    engine.sync(job_id)
    execute = show_widget(qtbot, ExecutePage(ctx), 1280, 760)
    history = show_widget(qtbot, HistoryPage(ctx), 1200, 760)
    ctx.open_job(job_id)
    assert history.select_job(job_id) and history_state(history, job_id) == "Synced"
    held, release = hold_at(ctx, monkeypatch, JobState.ROLLBACK_STARTED)
    button = execute.rollback_button if started_on == "Execute" else history.rollback_button
    try:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(held.is_set, timeout=60_000)
        # the run stays in Rollback Started until released: the pages must come to say so
        qtbot.waitUntil(lambda: history_state(history, job_id) == "Rollback Started", timeout=10_000)
        assert f"<b style='color:{state_colour('Rollback Started')}'>Rollback Started</b>" in history.job_label.text()
        assert not history.rollback_button.isEnabled()
        if started_on == "Execute":
            qtbot.waitUntil(lambda: execute.state_badge.text() == "Rollback Started", timeout=10_000)
        assert ctx.journal.job(job_id).state == JobState.ROLLBACK_STARTED
    finally:
        release.set()
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=120_000)
    assert history_state(history, job_id) == "Rollback Completed"


def test_after_the_scan_the_execute_tab_and_history_read_scanned(setup, qtbot, monkeypatch, tmp_path):
    """The sync's scan step ends in Scanned: held there, the Execute tab's state label and History say Scanned
    (then the run goes on to Sync In Progress and Synced)."""
    import json

    server, ctx = setup
    path = tmp_path / "demo.json"
    path.write_text(json.dumps(DEMO))
    execute = show_widget(qtbot, ExecutePage(ctx), 1280, 760)
    history = show_widget(qtbot, HistoryPage(ctx), 1200, 760)
    ctx.set_source("source")
    ctx.open_template(path)
    with qtbot.waitSignal(execute.plan_ready, timeout=30_000):
        ctx.set_target("target")
    ctx.settings.setValue(first_check_key(DEMO["name"], "source", "target"), True)     # no first-sync check
    held, release = hold_at(ctx, monkeypatch, JobState.SCANNED)
    try:
        qtbot.mouseClick(execute.start_button, Qt.MouseButton.LeftButton)
        assert execute.preflight_dialog is None
        qtbot.waitUntil(held.is_set, timeout=60_000)
        qtbot.waitUntil(lambda: execute.state_badge.text() == "Scanned", timeout=10_000)
        assert execute.state_badge.isVisible() and execute.state_caption.isVisible()
        assert "Initializing" in execute.status_label.text()     # the sync goes on: its run is not "Completed"
        job_id = execute.job.id
        qtbot.waitUntil(lambda: history.proxy.row_of(job_id) is not None
                        and history_state(history, job_id) == "Scanned", timeout=10_000)
    finally:
        release.set()
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=120_000)
    assert execute.state_badge.text() == "Synced" and history_state(history, job_id) == "Synced"
