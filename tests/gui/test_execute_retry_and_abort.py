"""The Execute tab's Retry/ReSync with the template's current settings (issue 21 item 1) and the abort
question that holds the run (item 6), over the demo orgs through the real client."""

from __future__ import annotations

import json
from typing import Any

import pytest
from gui_helpers import EXECUTE_TEMPLATE, open_execute_page, run_and_wait
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QMessageBox

from isyncsf_desktop.engine.events import ObjectFinished
from isyncsf_desktop.gui.execute.page import ExecutePage

RUN_TIMEOUT = 120_000
RULE = {"kind": "ValidationRule", "name": "Contact.Contact_Phone_Required"}


@pytest.fixture
def setup(sandbox_factory, tmp_path, qtbot):
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, page, path = open_execute_page(server, tmp_path, qtbot, EXECUTE_TEMPLATE)
    page.show()
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    yield ctx, page, path
    qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
    if not ctx.closing:
        ctx.shutdown()


def journaled(page: ExecutePage) -> int:
    """Record outcomes the journal holds for the page's job (every batch is journaled before the next)."""
    assert page.job is not None
    return sum(len(page.ctx.journal.records(page.job.id, name)) for name in page.progress_model.order)


def statuses(page: ExecutePage) -> dict[str, str]:
    model = page.progress_model
    return {name: model.data(model.index(row, 1)) for row, name in enumerate(model.order)}


def ask_abort_when(page: ExecutePage, qtbot, object_name: str, asked: list[int]) -> None:
    """Press Abort (the question opens) once ``object_name`` is finished, then wait until the run is held
    before its next batch; ``asked`` gets the journaled outcomes at that moment."""
    original = page._start

    def on_event(event: Any) -> None:
        if isinstance(event, ObjectFinished) and event.object == object_name and not asked:
            qtbot.mouseClick(page.abort_button, Qt.MouseButton.LeftButton)
            assert page.abort_box is not None and page.abort_box.isVisible()
            asked.append(-1)

    def start(*args: Any, **kwargs: Any) -> None:
        original(*args, **kwargs)
        page.worker.signals.progress.connect(on_event)

    page._start = start


@pytest.mark.expect_log
def test_the_abort_question_holds_the_run_and_a_finished_object_stays_completed(setup, qtbot):
    ctx, page, _ = setup
    asked: list[int] = []
    ask_abort_when(page, qtbot, "Contact", asked)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        dialog = page.preflight_dialog
        qtbot.waitUntil(lambda: dialog.report() is not None and not dialog.busy(), timeout=60_000)
        for item in dialog.automation_items():
            dialog.set_ticked(item.name, False)
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(asked), timeout=RUN_TIMEOUT)
        qtbot.waitUntil(lambda: page.worker is not None and page.worker.cancel.holding, timeout=RUN_TIMEOUT)
        held_at = journaled(page)                 # the engine waits at its gate: nothing more goes out
        assert page.worker.cancel.holding and page.abort_box is not None
        page.abort_box.button(QMessageBox.StandardButton.Yes).click()
    result = finished.args[0]
    qtbot.waitUntil(lambda: not page.is_running(), timeout=30_000)
    assert result.state == "Aborted"
    assert journaled(page) == held_at             # no batch went out between the question and the Yes
    assert result.objects["Contact"].status == "Completed"
    assert statuses(page)["Contact"] == "Completed"     # never "Aborted" at 100%


def test_no_to_the_abort_question_lets_the_run_go_on(setup, qtbot):
    ctx, page, _ = setup
    asked: list[int] = []
    ask_abort_when(page, qtbot, "Account", asked)
    with qtbot.waitSignal(page.run_finished, timeout=RUN_TIMEOUT) as finished:
        qtbot.mouseClick(page.start_button, Qt.MouseButton.LeftButton)
        dialog = page.preflight_dialog
        qtbot.waitUntil(lambda: dialog.report() is not None and not dialog.busy(), timeout=60_000)
        qtbot.mouseClick(dialog.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: page.worker is not None and page.worker.cancel.holding, timeout=RUN_TIMEOUT)
        page.abort_box.button(QMessageBox.StandardButton.No).click()
    assert finished.args[0].state == "Synced"


def test_retry_says_and_applies_the_rule_saved_after_the_sync(setup, qtbot, tmp_path):
    ctx, page, path = setup
    first = run_and_wait(qtbot, page, page.start_button, RUN_TIMEOUT)
    failed = first.objects["Contact"].errors
    assert failed > 0 and not page.retry_settings_label.isVisible()
    # The user ticks the rule in Check Metadata Mismatch and saves it to the template.
    saved = json.loads(path.read_text())
    saved["options"]["automation_off"] = [RULE]
    path.write_text(json.dumps(saved))
    ctx.open_template(path)
    qtbot.waitUntil(lambda: page.retry_settings_label.isVisible(), timeout=30_000)
    text = page.retry_settings_label.text()
    assert text == ("Retry Failed and Start ReSync use the template's current settings: switches off 1 validation "
                    "rule (saved just now)")
    assert text in page.retry_button.toolTip() and text in page.resync_button.toolTip()
    page.window().resize(1280, 760)
    page.grab().save(str(tmp_path / "retry-settings.png"))
    retried = run_and_wait(qtbot, page, page.retry_button, RUN_TIMEOUT)
    assert retried.objects["Contact"].errors == 0 and retried.objects["Contact"].inserted == failed
    assert not page.retry_settings_label.isVisible()     # the job now records what it applied


def test_retry_says_it_keeps_the_jobs_fields_when_the_template_changed_them(setup, qtbot):
    """The check tells the user to add fields to a line; they do and save. Retry Failed keeps the job's fields (a
    new sync takes the template's), and the Execute tab says so instead of letting the retry fail the same way."""
    ctx, page, path = setup
    first = run_and_wait(qtbot, page, page.start_button, RUN_TIMEOUT)
    assert first.objects["Contact"].errors > 0 and not page.retry_settings_label.isVisible()
    saved = json.loads(path.read_text())
    contact = next(line for line in saved["objects"] if line["object"] == "Contact")
    contact["fields"] = ["FirstName", "LastName", "Email", "Phone", "AccountId"]
    path.write_text(json.dumps(saved))
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):     # the page plans the template saved now
        ctx.open_template(path)
    qtbot.waitUntil(lambda: page.retry_settings_label.isVisible(), timeout=30_000)
    text = page.retry_settings_label.text()
    assert f"keep job #{page.job.id}'s objects, fields and filters" in text
    assert "(Contact fields, saved just now) apply to a new job: Start Sync" in text
    assert "current settings" not in text                  # no setting of how records are written changed
    assert text in page.retry_button.toolTip() and text in page.resync_button.toolTip()
