"""Smaller things of the Execute tab (issue 21 item 10): the Errors count during the run, a warning when an
object has neither Insert nor Update, and a Save Order row that stays put when a note appears."""

from __future__ import annotations

from typing import Any

import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_execute_page
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from isyncsf_desktop.engine.events import ObjectFinished
from isyncsf_desktop.gui.execute.order_model import COL_INSERT, COL_UPDATE

RUN_TIMEOUT = 120_000


@pytest.fixture
def setup(sandbox_factory, tmp_path, qtbot, monkeypatch):
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)   # Don't Insert's
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, page, path = open_execute_page(server, tmp_path, qtbot, EXECUTE_TEMPLATE)
    page.show()
    qtbot.waitExposed(page)
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    yield ctx, page
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
    if not ctx.closing:
        ctx.shutdown()


def test_neither_insert_nor_update_is_warned_and_save_order_stays_put(setup, qtbot):
    ctx, page = setup
    page.run_tabs.setCurrentIndex(0)
    qtbot.waitUntil(lambda: page.save_order_button.isVisible())
    where = page.save_order_button.mapTo(page, page.save_order_button.rect().topLeft())
    model = page.order_model
    row = model.draft.order.index("Contact")
    model.setData(model.index(row, COL_INSERT), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    assert "Not inserting new records for Contact" in page.settings_note.text()
    model.setData(model.index(row, COL_UPDATE), Qt.CheckState.Unchecked.value, Qt.ItemDataRole.CheckStateRole)
    note = page.settings_note.text()
    assert "Neither Insert nor Update for Contact" in note and "nothing is written" in note
    assert "Not inserting new records for Contact" not in note
    qtbot.waitUntil(lambda: page.save_order_button.mapTo(page, page.save_order_button.rect().topLeft()) == where)
    page.grab().save(str(page.ctx.journal.path.parent / "h1-execute-neither.png"))


def test_the_errors_count_shows_during_the_run(setup, qtbot):
    ctx, page = setup
    asked: list[bool] = []
    original = page._start

    def on_event(event: Any) -> None:    # hold the run once Contact (46 errors) is done: it is still running
        if isinstance(event, ObjectFinished) and event.object == "Contact" and not asked:
            asked.append(True)
            qtbot.mouseClick(page.abort_button, Qt.MouseButton.LeftButton)

    def start(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        page.worker.signals.progress.connect(on_event)

    page._start = start
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        dialog = page.preflight_dialog
        qtbot.waitUntil(lambda: dialog.report() is not None and not dialog.busy(), timeout=60_000)
        for item in dialog.automation_items():
            dialog.set_ticked(item.name, False)
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.worker is not None and page.worker.cancel.holding, timeout=RUN_TIMEOUT)
        qtbot.waitUntil(lambda: page.run_tabs.tabText(page.errors_tab) == "Errors (46)", timeout=10_000)
        assert page.is_running()
        page.abort_box.button(QMessageBox.StandardButton.No).click()
    assert finished.args[0].state == "Synced"
    assert page.run_tabs.tabText(page.errors_tab) == "Errors (46)"
