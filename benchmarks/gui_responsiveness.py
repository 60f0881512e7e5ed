"""Benchmark: does the window stay responsive during a sync of the demo data?

Runs the Execute tab offscreen against fresh demo orgs, starts a sync, and measures the event
loop with a 5 ms timer: the longest gap between two ticks is the longest the window was frozen.
Run: ``QT_QPA_PLATFORM=offscreen python benchmarks/gui_responsiveness.py [--records N]``. With
``--records`` the orgs hold the data of ``sync_bench.py`` (Accounts in a hierarchy and Contacts)
instead of the demo data. The demo orgs run in their own process, as in the app. Also counts the
full garbage collections during the sync and the longest (the interpreter lock is held throughout).
Prints figures; asserts nothing.
``--preview``: Preview Changes instead of a sync (issue 24: the window never stalls over 100 ms): the preview
runs (its metadata check's blocking findings overridden, as a user may choose), its window opens, and the record
list is paged to its end object by object (each page read from the journal as the user scrolls); the figures cover
all of it.
``BENCH_TRACE=FILE`` writes every thread's stack to FILE whenever the window is frozen 120 ms.
``BENCH_DEBUG=1`` prints each gap over 50 ms with the wall clock's time at its end, to line it up with samples
taken from outside the process (``py-spy dump --nonblocking`` in a loop says which thread holds the interpreter
lock and where).
"""

from __future__ import annotations

import faulthandler
import gc
import json
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
WORK = Path(tempfile.mkdtemp(prefix="isyncsf-gui-bench-"))
os.environ["ISYNCSF_HOME"] = str(WORK / "home")
os.environ.setdefault("PYTHON_KEYRING_BACKEND", "isyncsf_desktop.salesforce.secrets.MemoryKeyring")

from PySide6.QtCore import QElapsedTimer, QTimer  # noqa: E402
from PySide6.QtWidgets import QApplication  # noqa: E402

from isyncsf_desktop.embedded import start_embedded_sandbox  # noqa: E402
from isyncsf_desktop.gui.context import AppContext  # noqa: E402
from isyncsf_desktop.gui.main_window import MainWindow  # noqa: E402
from isyncsf_desktop.gui.templates.catalog import install_demo_template  # noqa: E402
from isyncsf_desktop.salesforce.registry import OrgRegistry  # noqa: E402


def main() -> int:
    records = int(sys.argv[sys.argv.index("--records") + 1]) if "--records" in sys.argv else None
    preview = "--preview" in sys.argv
    template_path = None
    if records:
        import sync_bench

        sync_bench.build(WORK / "sandbox", records)     # orgs "source" and "target": the embedded ones
        template_path = WORK / "bench-template.json"
        template_path.write_text(json.dumps({**sync_bench.TEMPLATE, "source": "demo-source",
                                             "target": "demo-target"}))
    app = QApplication(sys.argv)
    registry = OrgRegistry()
    server = start_embedded_sandbox(registry, WORK / "sandbox")
    ctx = AppContext(registry=registry)
    window = MainWindow(ctx, start_sandbox=False)
    window.resize(1360, 860)
    window.show()
    page = window.show_page("Execute")
    ctx.open_template(template_path or install_demo_template())
    ctx.set_source("demo-source")
    ctx.set_target("demo-target")

    gaps: list[float] = []
    clock = QElapsedTimer()
    ticker = QTimer()
    ticker.setInterval(5)
    state = {"last": 0.0, "started": 0.0}

    trace = open(os.environ["BENCH_TRACE"], "w") if os.environ.get("BENCH_TRACE") else None

    def tick() -> None:
        if trace is not None:   # a stall of 120 ms: every thread's stack, taken without the GIL
            faulthandler.dump_traceback_later(float(os.environ.get("BENCH_TRACE_AFTER", "0.12")), file=trace)
        now = clock.nsecsElapsed() / 1e6
        if state["last"]:
            gaps.append(now - state["last"])
            if now - state["last"] > 50 and os.environ.get("BENCH_DEBUG"):  # where the stalls are
                print(f"gap {now - state['last']:.0f} ms at {now:.0f} ms (clock {time.time():.3f})", file=sys.stderr)
        state["last"] = now

    def start_when_ready() -> None:
        if page.start_button.isEnabled():
            clock.start()
            ticker.start()
            state["started"] = time.perf_counter()
            if preview:
                page.preflight_override = True
                page.preview_button.click()
                page.preview_launcher.opened.connect(page_through)
                page.preview_launcher.failed.connect(lambda text: (result.update(failed=text), app.quit()))
                return
            page.start_button.click()
            QTimer.singleShot(0, start_from_check)
        else:
            QTimer.singleShot(50, start_when_ready)

    def start_from_check() -> None:
        """The first sync shows the metadata check: start from it once its findings are in."""
        dialog = page.preflight_dialog
        if dialog is None:
            return
        if dialog.report() is None or dialog.busy():
            QTimer.singleShot(50, start_from_check)
        else:
            dialog.start_button.click()

    result: dict[str, object] = {}

    def finished(run: object) -> None:
        result["seconds"] = round(time.perf_counter() - state["started"], 2)
        if os.environ.get("BENCH_DEBUG"):
            print(f"finished at {clock.nsecsElapsed() / 1e6:.0f} ms", file=sys.stderr)
        result["run"] = run
        QTimer.singleShot(300, app.quit)

    def page_through(dialog: object) -> None:
        """The preview's window: each object's record list scrolled to its end, a page at a time."""
        result["preview_seconds"] = round(time.perf_counter() - state["started"], 2)
        combo, view = dialog.object_combo, dialog.records_view     # type: ignore[attr-defined]
        steps = [(i, n) for i in range(combo.count()) for n in range(40)]

        def step() -> None:
            if not steps:
                result["paged_rows"] = result.get("paged_rows", 0) + view.model().rowCount()
                finished(None)
                return
            index, n = steps.pop(0)
            if n == 0:
                if index:
                    result["paged_rows"] = result.get("paged_rows", 0) + view.model().rowCount()
                combo.setCurrentIndex(index)
            view.scrollToBottom()
            QTimer.singleShot(10, step)
        QTimer.singleShot(10, step)

    collections: list[float] = []     # full (generation 2) collections during the sync, in ms
    gc_started = [0.0]

    def on_gc(phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2 or not state["started"] or "seconds" in result:
            return
        if phase == "start":
            gc_started[0] = time.perf_counter()
        else:
            collections.append((time.perf_counter() - gc_started[0]) * 1000)

    gc.callbacks.append(on_gc)
    ticker.timeout.connect(tick)
    page.run_finished.connect(finished)
    QTimer.singleShot(0, start_when_ready)
    app.exec()
    ticker.stop()
    if trace is not None:
        faulthandler.cancel_dump_traceback_later()
        trace.close()
    run = result.get("run")
    over = [g for g in gaps if g > 100]
    if preview:
        print(json.dumps({"mode": "preview", "failed": result.get("failed"),
                          "preview_seconds_including_preflight": result.get("preview_seconds"),
                          "paged_rows": result.get("paged_rows"), "ticks": len(gaps),
                          "longest_gap_ms": round(max(gaps), 1) if gaps else None,
                          "p99_gap_ms": round(sorted(gaps)[int(len(gaps) * 0.99)], 1) if gaps else None,
                          "gaps_over_100_ms": len(over), "full_collections": len(collections),
                          "longest_full_collection_ms": round(max(collections), 1) if collections else None},
                         indent=2))
        gc.callbacks.remove(on_gc)
        ctx.shutdown()
        server.stop()
        return 0
    print(json.dumps({
        "records": None if run is None else run.totals.inserted + run.totals.updated + run.totals.existing
        + run.totals.errors,
        "sync_seconds_including_preflight": result.get("seconds"),
        "ticks": len(gaps),
        "longest_gap_ms": round(max(gaps), 1) if gaps else None,
        "p99_gap_ms": round(sorted(gaps)[int(len(gaps) * 0.99)], 1) if gaps else None,
        "gaps_over_100_ms": len(over),
        "full_collections": len(collections),
        "longest_full_collection_ms": round(max(collections), 1) if collections else None,
    }, indent=2))
    gc.callbacks.remove(on_gc)
    ctx.shutdown()
    server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
