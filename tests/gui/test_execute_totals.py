"""The Execute tab's last two points of issue 21 item 10, over the demo orgs through the real client: the job's
totals beside the run's after a retry, and the row of the object being read reading "Reading…", not "Pending"."""

from __future__ import annotations

import copy
import json
import threading
from typing import Any

import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_execute_page, press_start_sync, run_and_wait
from PySide6.QtCore import Qt

from isyncsf_desktop.engine.events import ObjectStarted
from isyncsf_desktop.gui.execute.page import ExecutePage
from isyncsf_desktop.gui.execute.progress_model import (COL_ERRORS, COL_INSERTED, COL_JOB, COL_STATUS,
                                                        COL_UPDATED)
from isyncsf_desktop.gui.style import SUCCESS

RUN_TIMEOUT = 120_000


def template(**options: Any) -> dict[str, Any]:
    data = copy.deepcopy(EXECUTE_TEMPLATE)
    data["options"].update(options)
    return data


@pytest.fixture
def open_page(sandbox_factory, tmp_path, qtbot):
    opened: list[Any] = []

    def open_(data: dict[str, Any]) -> tuple[Any, Any, ExecutePage, Any]:
        server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
        ctx, page, path = open_execute_page(server, tmp_path, qtbot, data)
        opened.append(ctx)
        page.show()
        with qtbot.waitSignal(page.plan_ready, timeout=30_000):
            ctx.set_target("target")
        return server, ctx, page, path
    yield open_
    for ctx in opened:
        qtbot.waitUntil(lambda c=ctx: not c.tasks.busy, timeout=60_000)
        if not ctx.closing:
            ctx.shutdown()


def status_of(page: ExecutePage, name: str) -> str:
    model = page.progress_model
    return model.data(model.index(model.order.index(name), COL_STATUS))


# ------------------------------------------------------------------------------------------ the object being read
def test_the_object_being_read_reads_reading_never_pending(open_page, qtbot, tmp_path):
    server, ctx, page, _ = open_page(template(in_flight=1))
    gate, blocked = threading.Event(), threading.Event()
    armed = threading.Event()

    def source_calls(stage: str, method: str, path: str) -> None:
        """Once armed, the source org holds the next query (an object's records being read) until ``gate``."""
        if armed.is_set() and stage == "before" and "/query" in path and not blocked.is_set():
            blocked.set()
            gate.wait(60)

    server.faults("source").update(observer=source_calls)
    original = page._start

    def start(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)

        def hold_after_account(event: Any) -> None:       # nothing more goes out until released
            if isinstance(event, ObjectStarted) and event.object == "Account" and page.worker is not None:
                page.worker.cancel.hold()
        page.worker.signals.progress.connect(hold_after_account)

    page._start = start
    try:
        with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT) as finished:
            press_start_sync(qtbot, page)
            qtbot.waitUntil(lambda: page.worker is not None and page.worker.cancel.holding, timeout=RUN_TIMEOUT)
            armed.set()                         # the next object's read is held by the org
            page.worker.cancel.release()
            qtbot.waitUntil(blocked.is_set, timeout=RUN_TIMEOUT)
            current = page.progress_model
            qtbot.waitUntil(lambda: current.current in ("Contact", "Opportunity")
                            and status_of(page, current.current) == "Reading…", timeout=30_000)
            name = current.current
            label = page.current_label.text()       # Contact and Opportunity (both Account's) may be read at once
            assert label.startswith("Current object") and name in label, label
            assert status_of(page, name) == "Reading…"
            assert status_of(page, "Account") != "Pending"
            page.grab().save(str(tmp_path / "reading.png"))
            gate.set()
    finally:
        gate.set()
    assert finished.args[0].state == "Synced"
    assert {status_of(page, n) for n in page.progress_model.order} == {"Completed"}


# ------------------------------------------------------------------------------------------ job totals
RULE = {"kind": "ValidationRule", "name": "Contact.Contact_Phone_Required"}


def cell(page: ExecutePage, name: str, column: int) -> str:
    model = page.progress_model
    row = len(model.order) if name == "Total" else model.order.index(name)
    return model.data(model.index(row, column)) or ""


def test_after_a_retry_the_job_totals_stand_beside_the_runs_own_counts(open_page, qtbot, tmp_path):
    server, ctx, page, path = open_page(template())
    first = run_and_wait(qtbot, page, page.start_button, RUN_TIMEOUT)
    failed = first.objects["Contact"].errors
    assert failed > 0
    assert page.progress_view.isColumnHidden(COL_JOB) and "in all" not in page.summary_label.text()
    # The fix: the user ticks the rule in Check Metadata Mismatch and saves it to the template; then Retry Failed.
    saved = json.loads(path.read_text())
    saved["options"]["automation_off"] = [RULE]
    path.write_text(json.dumps(saved))
    ctx.open_template(path)
    qtbot.waitUntil(lambda: page.retry_settings_label.isVisible(), timeout=30_000)
    retried = run_and_wait(qtbot, page, page.retry_button, RUN_TIMEOUT)
    job_id = retried.job_id
    assert retried.objects["Contact"].inserted == failed and retried.totals.errors == 0
    records = sum(n for n in ctx.journal.status_counts(job_id).get("Contact", {}).values())

    def check_shown() -> None:
        # The run's own columns: only the retried records.
        assert cell(page, "Contact", COL_INSERTED) == f"{failed:,}" and cell(page, "Contact", COL_ERRORS) == "0"
        assert cell(page, "Account", COL_INSERTED) == "0" and cell(page, "Account", COL_UPDATED) == "0"
        assert cell(page, "Total", COL_INSERTED) == f"{failed:,}" and cell(page, "Total", COL_ERRORS) == "0"
        # The job's column: everything synced, nothing failed.
        assert not page.progress_view.isColumnHidden(COL_JOB)
        header = page.progress_model.headerData(COL_JOB, Qt.Orientation.Horizontal)
        assert header == f"Job #{job_id} in all"
        assert cell(page, "Contact", COL_JOB) == f"{records:,} of {records:,} synced"
        for name in page.progress_model.order:
            assert "failed" not in cell(page, name, COL_JOB) and " synced" in cell(page, name, COL_JOB)
        total = page.progress_model.job_total()
        assert total.failed == 0 and total.synced == total.records > records
        assert cell(page, "Total", COL_JOB) == f"{total.synced:,} of {total.records:,} synced"
        summary = page.summary_label.text()
        assert "Retry summary</b> (this run)" in summary and f"<b>{failed:,}</b> inserted" in summary
        assert (f"<b>Job #{job_id} in all:</b> &nbsp;{total.records:,} records, {total.synced:,} synced, "
                f"<b style='color:{SUCCESS}'>0</b> failed (2 runs)") in summary

    check_shown()
    page.resize(1280, 760)
    page.run_tabs.setCurrentIndex(page.progress_tab)
    lines = page.summary_label.fontMetrics().lineSpacing()
    qtbot.waitUntil(lambda: page.summary_label.height() >= 2 * lines, timeout=5_000)    # both lines shown
    page.grab().save(str(tmp_path / "retry-totals.png"))
    ctx.job_opened.emit(job_id)        # opened again (from History): the same
    check_shown()
