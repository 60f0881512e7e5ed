"""The Execute tab during a sync "with their files": the files rows (ContentVersion, Attachment, Note) in the
progress table with their counts, and their Time left column saying MB done of MB planned and the rate.

``ISYNCSF_SCREENSHOTS=1`` also writes docs/screenshots/execute-files.png (the table while files move)."""

from __future__ import annotations

import os
import re
from pathlib import Path

from gui_helpers import open_execute_page, run_and_wait

from isyncsf_desktop.engine.events import FilesProgress
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
    shots = []

    def watch(event: object) -> None:
        if isinstance(event, FilesProgress) and event.object == "ContentVersion" and not seen:
            page._on_refresh_timer_timeout()        # what the next tick of the refresh timer shows
            row = page.progress_model.order.index("ContentVersion")
            seen.append(page.progress_model.item(row, COL_TIME_LEFT).text())
            shots.append(page.grab())

    original_start = page._start

    def start_and_watch(*args: object, **kwargs: object) -> None:
        original_start(*args, **kwargs)
        page.worker.signals.progress.connect(watch)

    page._start = start_and_watch
    result = run_and_wait(qtbot, page, page.start_button)
    assert result is not None and result.state == "Synced", result and result.message
    assert seen and re.fullmatch(r"\d+ of \d+ files? · \d+\.\d+ of \d+\.\d+ (KB|MB)( · \d+\.\d (KB|MB)/s)?( · .+ left)?",
                                 seen[0]), seen
    model = page.progress_model
    for name in ("ContentVersion", "Attachment", "Note"):
        assert name in model.order, model.order
    files = model.counts["ContentVersion"]
    assert files.inserted == result.objects["ContentVersion"].inserted > 0 and files.errors == 0
    assert model.counts["Note"].inserted == result.objects["Note"].inserted > 0
    if os.environ.get("ISYNCSF_SCREENSHOTS") == "1":
        SHOTS.mkdir(parents=True, exist_ok=True)
        shots[0].save(str(SHOTS / "execute-files.png"))
