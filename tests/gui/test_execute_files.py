"""The Execute tab during a sync "with their files": the files rows (ContentVersion, Attachment, Note) in the
progress table with their counts, and their Time left column saying MB done of MB planned and the rate; the Total
row's Time left says the files rows' files and MB added up.

``ISYNCSF_SCREENSHOTS=1`` also writes docs/screenshots/execute-files.png (the table while files move)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gui_helpers import open_execute_page, run_and_wait

from isyncsf_desktop.engine.events import FilesProgress
from isyncsf_desktop.gui.execute.page import files_total_text
from isyncsf_desktop.gui.execute.progress_model import COL_TIME_LEFT

SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
TEMPLATE = {"name": "Execute files test", "options": {"continue_on_error": True},
            "objects": [{"object": "Account", "match_by": ["External_Id__c"],
                         "files": {"max_file_mb": 10}}]}


def test_the_files_rows_show_counts_and_megabytes_while_files_move(sandbox_factory, tmp_path, qtbot):
    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    ctx, page, _ = open_execute_page(server, tmp_path, qtbot, TEMPLATE)
    with qtbot.waitSignal(page.plan_ready, timeout=30_000):
        ctx.set_target("target")
    page.show()
    seen: list[str] = []
    totals: dict[str, tuple[FilesProgress, str]] = {}     # files row -> (its last event, the Total row's text then)
    shots = []

    def watch(event: object) -> None:
        if not isinstance(event, FilesProgress):
            return
        page._on_refresh_timer_timeout()            # what the next tick of the refresh timer shows
        model = page.progress_model
        totals[event.object] = (event, model.item(len(model.order), COL_TIME_LEFT).text())
        if event.object == "ContentVersion" and not seen:
            row = model.order.index("ContentVersion")
            seen.append(model.item(row, COL_TIME_LEFT).text())
            shots.append(page.grab())

    original_start = page._start

    def start_and_watch(*args: object, **kwargs: object) -> None:
        original_start(*args, **kwargs)
        page.worker.signals.progress.connect(watch)

    page._start = start_and_watch
    result = run_and_wait(qtbot, page, page.start_button)
    assert result is not None and result.state == "Synced", result and result.message
    # the time left is "estimating…" until the run has a figure (on a fast box the first file is already done)
    assert seen and re.fullmatch(r"\d+ of \d+ files? · \d+\.\d+ of \d+\.\d+ (KB|MB)( · \d+\.\d (KB|MB)/s)?"
                                 r"( · (.+ left|estimating…))?", seen[0]), seen
    # The Total row: the files and MB of every files row so far (the last row's event adds up all of them).
    assert len(totals) >= 2, totals.keys()
    last_event, last_total = list(totals.values())[-1]
    rows = [event for event, _ in totals.values()]
    assert last_total.startswith(f"{sum(e.files_done for e in rows):,} of {sum(e.files_planned for e in rows):,} "
                                 "files · "), last_total
    assert last_total.startswith(files_total_text(rows)), (last_total, files_total_text(rows))
    first_event, first_total = totals["ContentVersion"]
    assert last_event.object != "ContentVersion" and first_total != last_total, (first_total, last_total)
    model = page.progress_model
    for name in ("ContentVersion", "Attachment", "Note"):
        assert name in model.order, model.order
    files = model.counts["ContentVersion"]
    assert files.inserted == result.objects["ContentVersion"].inserted > 0 and files.errors == 0
    assert model.counts["Note"].inserted == result.objects["Note"].inserted > 0
    if os.environ.get("ISYNCSF_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        shots[0].save(str(SHOTS / "execute-files.png"))


def test_the_total_adds_up_the_files_rows_without_a_rate():
    rows = [FilesProgress(job_id=1, elapsed=3.0, object="ContentVersion", files_done=40, files_planned=40,
                          bytes_done=220 * 1024 * 1024, bytes_planned=220 * 1024 * 1024, bytes_per_second=9e6),
            FilesProgress(job_id=1, elapsed=4.0, object="Attachment", files_done=2, files_planned=5,
                          bytes_done=512 * 1024, bytes_planned=4 * 1024 * 1024, bytes_per_second=2e6)]
    assert files_total_text(rows) == "42 of 45 files · 220.5 of 224.0 MB"
    assert files_total_text(rows[1:]) == "2 of 5 files · 0.50 of 4.00 MB"
