"""``isyncsf-desktop --smoke``: prove an installed or built app works, then exit.

It opens the main window on the demo orgs of the embedded sandbox, runs a sync of the demo template
from demo-source to demo-target through the same engine, thread pool and journal the Execute tab
uses, shows the finished job, closes the window and exits 0; any failure (the sandbox not starting,
the sync failing or not ending in Synced, the time running out) exits 1.

It never touches the user's data or keyring: unless ``ISYNCSF_HOME`` is set, it runs in a new
temporary folder, and secrets stay in this process's memory. The figures (seconds from the start
of ``main`` to the window showing and to the end of the sync, the counts) go to the log, to stdout
as one JSON line, and to ``--smoke-report FILE``, whose ``window_shown_at`` (wall-clock seconds)
lets a launcher measure the whole start, interpreter and bundle loading included.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal
from PySide6.QtWidgets import QApplication

from .. import paths
from ..engine.lifecycle import JobState
from .context import AppContext

logger = logging.getLogger(__name__)

SOURCE, TARGET = "demo-source", "demo-target"
DEFAULT_TIMEOUT_S = 240.0


def isolate() -> None:
    """Keep the smoke run's secrets in memory (never the OS keyring: CI machines may have none)."""
    import keyring

    from ..salesforce.secrets import MemoryKeyring

    keyring.set_keyring(MemoryKeyring())


def _sync_task(report: Any, cancel: Any, ctx: AppContext, template_json: dict[str, Any]) -> Any:
    engine = ctx.engine(SOURCE, TARGET, observer=report, cancel=cancel)
    return engine.sync(engine.create_job(template_json))


class SmokeRun(QObject):
    """Drives the window through a demo sync.

    Signals:
        finished(int): the exit code (0 when the demo sync ended Synced), once.
    """

    finished = Signal(int)

    def __init__(self, window: Any, *, started_at: float, report_file: Path | None = None,
                 timeout_s: float = DEFAULT_TIMEOUT_S, parent: QObject | None = None):
        super().__init__(parent)
        self.window = window
        self.ctx: AppContext = window.ctx
        self.started_at = started_at
        self.report_file = report_file
        self.figures: dict[str, Any] = {"home": str(paths.data_dir().parent)}
        self.exit_code: int | None = None
        self._timer = QTimer(self)
        self._timer.setSingleShot(True)
        self._timeout_s = timeout_s
        self._timer.timeout.connect(self._on_timer_timeout)
        self._timer.start(int(timeout_s * 1000))
        self.ctx.message.connect(self._on_ctx_message)

    def _on_timer_timeout(self) -> None:
        self._fail(f"no result after {self._timeout_s:g} s")

    def start(self) -> None:
        """Call once the window is shown; the demo orgs start, and then the sync."""
        QTimer.singleShot(0, self._on_window_shown)   # runs once the event loop has drawn the window
        self.window.start()

    def _on_window_shown(self) -> None:
        self.figures["window_after_main_s"] = round(time.perf_counter() - self.started_at, 3)
        self.figures["window_shown_at"] = time.time()
        self.figures["window_visible"] = self.window.isVisible()
        if self.ctx.sandbox is not None or self.ctx.template is not None:
            self._on_ctx_orgs_changed()
        else:
            self.ctx.orgs_changed.connect(self._on_ctx_orgs_changed)

    def _on_ctx_message(self, level: str, text: str) -> None:
        if level == "error" and "demo orgs could not start" in text:
            self._fail(text)

    def _on_ctx_orgs_changed(self) -> None:
        # The window opens the template and picks the orgs right after this signal: go on after it.
        QTimer.singleShot(0, self._start_sync)

    def _start_sync(self) -> None:
        if self.exit_code is not None or "sync_started" in self.figures:
            return
        if self.ctx.template is None or self.ctx.source != SOURCE:
            self._fail(f"the window did not open on the demo orgs (template {self.ctx.template!r}, "
                       f"source {self.ctx.source!r})")
            return
        if self.ctx.target is None:
            self.ctx.set_target(TARGET)
        self.figures["sandbox_ready_after_main_s"] = round(time.perf_counter() - self.started_at, 3)
        self.figures["sync_started"] = True
        self.ctx.tasks.start(_sync_task, self.ctx, self.ctx.template.as_json(),
                             on_finished=self._on_sync_finished, on_error=self._fail)

    def _on_sync_finished(self, result: Any) -> None:
        totals = result.totals
        self.figures.update(state=result.state, job_id=result.job_id, inserted=totals.inserted,
                            errors=totals.errors, sync_seconds=round(result.seconds, 2),
                            done_after_main_s=round(time.perf_counter() - self.started_at, 3))
        self.ctx.jobs_changed.emit()
        self.ctx.open_job(result.job_id)
        if result.state != JobState.SYNCED or totals.inserted == 0:
            self._fail(f"the demo sync ended {result.state} with {totals.inserted} records inserted")
            return
        self._finish(0)

    def _fail(self, why: str) -> None:
        if self.exit_code is None:
            self.figures["failure"] = why
            logger.error("smoke test failed: %s", why)
            self._finish(1)

    def _finish(self, code: int) -> None:
        if self.exit_code is not None:
            return
        self.exit_code = code
        self._timer.stop()
        self.figures["exit_code"] = code
        text = json.dumps(self.figures, sort_keys=True)
        logger.info("smoke: %s", text)
        if sys.stdout is not None:
            print(f"smoke: {text}", flush=True)
        if self.report_file is not None:
            paths.atomic_write_text(self.report_file, text + "\n")
        self.finished.emit(code)
        # Close the window (it cancels tasks, waits for the pool, stops the sandbox), then leave.
        QTimer.singleShot(0, self._close)

    def _close(self) -> None:
        self.window.close()
        app = QApplication.instance()
        if app is not None:
            app.exit(self.exit_code or 0)
