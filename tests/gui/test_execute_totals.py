"""The Execute tab's last two points of issue 21 item 10, over the demo orgs through the real client: the row of
the object being read reads "Reading…", not "Pending"."""

from __future__ import annotations

import copy
import threading
from typing import Any

import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_execute_page, press_start_sync
from PySide6.QtCore import Qt

from isyncsf_desktop.engine.events import ObjectStarted
from isyncsf_desktop.gui.execute.page import ExecutePage
from isyncsf_desktop.gui.execute.progress_model import COL_STATUS

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
def test_the_object_being_read_reads_reading_never_pending(open_page, qtbot):
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
            assert f"Current object: <b>{name}</b>" in page.current_label.text()
            assert status_of(page, name) == "Reading…"
            assert status_of(page, "Account") != "Pending"
            gate.set()
    finally:
        gate.set()
    assert finished.args[0].state == "Synced"
    assert {status_of(page, n) for n in page.progress_model.order} == {"Completed"}

