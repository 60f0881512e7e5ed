"""The Execute tab when a run pauses at the API-usage ceiling, and when another job holds the target."""

from __future__ import annotations

import pytest
from gui_helpers import open_execute_page, press_start_sync
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from isyncsf_desktop.engine.events import PAUSED
from isyncsf_desktop import paths
from isyncsf_desktop.engine.lock import TargetLock

TEMPLATE = {"name": "Reliability", "options": {"batch_size": 20},
            "objects": [{"object": "Account", "match_by": ["External_Id__c"]}]}


@pytest.fixture
def setup(sandbox_factory, tmp_path, qtbot, monkeypatch):
    server = sandbox_factory({"source": "demo-source", "target": "empty"})
    ctx, page, path = open_execute_page(server, tmp_path, qtbot, TEMPLATE)
    monkeypatch.setattr(QMessageBox, "question", lambda *a, **k: QMessageBox.StandardButton.Yes)
    monkeypatch.setattr(QMessageBox, "warning", lambda *a, **k: QMessageBox.StandardButton.Ok)
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    yield server, ctx, page
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
    ctx.shutdown()


@pytest.mark.expect_log
def test_a_run_paused_at_the_api_ceiling_says_so_and_how_to_continue(setup, qtbot):
    server, ctx, page = setup
    store = server.store("target")
    server.faults("target").update(api_budget=store.api_used + 30)   # 90% is reached a few batches in
    qtbot.waitUntil(page.start_button.isEnabled, timeout=30_000)
    with qtbot.waitSignal(page.run_finished, timeout=120_000) as finished:
        press_start_sync(qtbot, page)
    result = finished.args[0]
    assert result.status == PAUSED
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)
    assert "Paused" in page.status_label.text()
    assert "API requests" in page.summary_label.text() and "ReSync" in page.summary_label.text()
    server.faults("target").update(api_budget=None)
    qtbot.waitUntil(page.resync_button.isEnabled, timeout=30_000)
    with qtbot.waitSignal(page.run_finished, timeout=120_000) as finished:
        qtbot.mouseClick(page.resync_button, Qt.MouseButton.LeftButton)
    assert finished.args[0].state == "Synced"


@pytest.mark.expect_log
def test_a_target_held_by_another_job_is_refused_naming_it(setup, qtbot):
    server, ctx, page = setup
    folder = paths.lock_dir()
    qtbot.waitUntil(page.start_button.isEnabled, timeout=30_000)
    with TargetLock(folder, server.store("target").org_id, "target", 99, "sync"):
        with qtbot.waitSignal(page.run_finished, timeout=60_000, raising=False):
            press_start_sync(qtbot, page)
        qtbot.waitUntil(lambda: "busy" in page.summary_label.text(), timeout=30_000)
    assert "job 99 (sync" in page.summary_label.text()
    assert server.store("target").count("Account") == 0
