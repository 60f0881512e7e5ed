"""The Execute tab's time left: "estimating…" until the run has measured enough, then "about … left" in the
status line and per object under way, from the engine's events as the worker reports them. The run is a
scripted task on the page's pool (its events' ``elapsed`` is the only clock), released step by step by the
test: nothing here depends on timing."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_execute_page

from isyncsf_desktop.engine.events import (COMPLETED, BatchDone, ObjectFinished, ObjectReading, ObjectStarted,
                                           RunResult)
from isyncsf_desktop.engine.journal import ObjectCounts
from isyncsf_desktop.engine.lifecycle import JobState, ObjectStatus, RunKind
from isyncsf_desktop.gui.execute import page as page_module
from isyncsf_desktop.gui.execute.progress_model import COL_OBJECT, COL_TIME_LEFT

PLANNED = {"Account": 1000, "Contact": 4000, "Opportunity": 0}


def counts(done: int, total: int) -> ObjectCounts:
    return ObjectCounts(total=total, processed=done, inserted=done, status=ObjectStatus.EXECUTING)


@pytest.fixture
def scripted(sandbox_factory, tmp_path, qtbot, monkeypatch):
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, page, _path = open_execute_page(server, tmp_path, qtbot, EXECUTE_TEMPLATE)
    gates = [threading.Event() for _ in range(3)]

    def run(report: Any, cancel: Any, *_args: Any) -> RunResult:
        def batch(name: str, at: float, done: int, total: int) -> None:
            report(BatchDone(job_id=0, elapsed=at, object=name, counts=counts(done, total),
                             totals=counts(done, total)))

        report(("planned", PLANNED))
        report(ObjectReading(job_id=0, elapsed=0.0, object="Account", index=1, count=3))
        report(ObjectStarted(job_id=0, elapsed=0.1, object="Account", index=1, count=3, total=1000))
        batch("Account", 0.5, 50, 1000)
        gates[0].wait(60)
        for second in range(1, 5):                       # 100 a second: 6 s of Accounts and 40 s of Contacts
            batch("Account", float(second), 100 * second, 1000)
        gates[1].wait(60)
        report(ObjectFinished(job_id=0, elapsed=10.0, object="Account",
                              counts=ObjectCounts(total=1000, processed=1000, inserted=1000,
                                                  status=ObjectStatus.COMPLETED)))
        report(ObjectReading(job_id=0, elapsed=10.0, object="Contact", index=2, count=3))
        report(ObjectStarted(job_id=0, elapsed=10.0, object="Contact", index=2, count=3, total=4000))
        for second in range(1, 4):
            batch("Contact", 10.0 + second, 400 * second, 4000)
        gates[2].wait(60)
        return RunResult(job_id=0, run_id=0, kind=RunKind.SYNC, state=JobState.SYNCED, status=COMPLETED)

    monkeypatch.setattr(page_module, "_run_task", run)
    yield ctx, page, gates
    for gate in gates:
        gate.set()
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
    ctx.shutdown()


def cell(page: Any, name: str) -> str:
    model = page.progress_model
    for row in range(model.rowCount()):
        if model.data(model.index(row, COL_OBJECT)) == name:
            return str(model.data(model.index(row, COL_TIME_LEFT)) or "")
    raise AssertionError(f"no row {name}")


def test_time_left_appears_and_follows_the_runs_events(scripted, qtbot):
    ctx, page, gates = scripted
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    with qtbot.waitSignal(page.time_left_changed, timeout=30_000,
                          check_params_cb=lambda text: text == "estimating…"):
        page._start(RunKind.SYNC, template=EXECUTE_TEMPLATE)
    assert page.time_left_label.text() == "· estimating…"

    with qtbot.waitSignal(page.time_left_changed, timeout=30_000,
                          check_params_cb=lambda text: text.startswith("about")):
        gates[0].set()                                   # four seconds measured: a figure
    assert page.time_left_label.text().startswith("· about ") and page.time_left_label.text().endswith(" left")
    assert cell(page, "Account").startswith(("about", "a few")) and cell(page, "Contact") == ""
    assert cell(page, "Total") == page.time_left_label.text()[2:]

    gates[1].set()                                       # Accounts done, Contacts under way at their own rate
    qtbot.waitUntil(lambda: cell(page, "Contact").endswith("left") and cell(page, "Account") == "", timeout=30_000)

    with qtbot.waitSignal(page.run_finished, timeout=30_000):
        gates[2].set()
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)
    assert page.time_left_label.text() == "" and cell(page, "Total") == ""
