"""How many values a job masked (issue 25), over the demo orgs through the real engine and client: the Execute
tab's summary after a run and when the job is opened again, and the History's job summary line per field."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gui_helpers import EXECUTE_TEMPLATE, demo_sandbox_context, load_demo_template, open_execute_page, run_and_wait, \
    show_widget

from isyncsf_desktop.gui.context import AppContext
from isyncsf_desktop.gui.history.page import HistoryPage

pytestmark = pytest.mark.gui
MASK = {"Phone": {"kind": "phone"}, "MailingStreet": {"kind": "street"}}


@pytest.fixture
def ctx(sandbox_factory: Any, tmp_path: Path, qtbot: Any) -> Iterator[AppContext]:
    yield from demo_sandbox_context(sandbox_factory, tmp_path, qtbot)


def test_history_shows_the_values_masked_per_field(ctx, qtbot):
    page = show_widget(qtbot, HistoryPage(ctx), 1200, 760)
    engine = ctx.engine("source", "target")
    job = engine.create_job(load_demo_template())      # masks the contacts' phones, mailing street and birthdate,
    engine.sync(job)                                   # and the same values of the person accounts
    masked = ctx.journal.masked_counts(job_id=job)
    assert set(masked) == {"Contact.Birthdate", "Contact.MailingStreet", "Contact.MobilePhone", "Contact.Phone",
                           "Account.PersonBirthdate", "Account.PersonHomePhone", "Account.PersonMobilePhone",
                           "Account.PersonMailingStreet"}
    assert all(count > 0 for count in masked.values())
    with qtbot.waitSignal(page.job_selected):
        ctx.jobs_changed.emit()
    assert page.current is not None and page.current.id == job
    line = "Masked: " + ", ".join(f"{name} {count:,}" for name, count in masked.items())
    assert line in page.totals_label.text()

    scanned = engine.create_job(load_demo_template())   # a job that masked nothing: no line
    engine.scan(scanned)
    ctx.jobs_changed.emit()
    assert page.select_job(scanned)
    assert "Masked:" not in page.totals_label.text()
    assert page.select_job(job)
    assert line in page.totals_label.text()


def test_the_execute_summary_says_how_many_values_were_masked(sandbox_factory, tmp_path, qtbot):
    template = copy.deepcopy(EXECUTE_TEMPLATE)
    template["objects"][1]["mask"] = MASK
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, page, _path = open_execute_page(server, tmp_path, qtbot, template)
    try:
        page.show()
        with qtbot.waitSignal(page.plan_ready, timeout=30_000):
            ctx.set_target("target")
        result = run_and_wait(qtbot, page, page.start_button)
        assert result is not None and set(result.masked) == {"Contact.Phone", "Contact.MailingStreet"}
        total = sum(result.masked.values())
        assert total > 0
        summary = f"<b>{total:,}</b> values masked in 2 fields"
        assert summary in page.summary_label.text()
        assert page.summary_label.toolTip() == "Masked: " + ", ".join(f"{n} {c:,}" for n, c in result.masked.items())

        ctx.job_opened.emit(result.job_id)                 # shown again from the journal
        assert summary in page.summary_label.text()
    finally:
        qtbot.waitUntil(lambda: not ctx.tasks.busy, timeout=60_000)
        ctx.shutdown()
