"""Running engine work off the GUI thread: a QRunnable plus a QObject for its signals.

The function runs on a pool thread and gets a ``report`` callable; whatever it reports arrives on
the GUI thread through ``progress`` (a queued signal, because the signals object lives on the GUI
thread). Cancellation is cooperative: the worker's ``cancel`` token is checked by the engine
between batches; a thread is never killed.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal

from ..engine.events import CancelToken

logger = logging.getLogger(__name__)


class WorkerSignals(QObject):
    """Signals of one :class:`Worker`.

    Signals:
        started(): the function began on a pool thread.
        progress(object): something the function reported (an engine event, a message).
        finished(object): the function returned this value.
        errored(str): the function raised; the text is for the user (no traceback).
        done(): after finished or errored, always last.
    """

    started = Signal()
    progress = Signal(object)
    finished = Signal(object)
    errored = Signal(str)
    done = Signal()


class Worker(QRunnable):
    """``fn(report, cancel, *args, **kwargs)`` on a QThreadPool thread."""

    def __init__(self, fn: Callable[..., Any], *args: Any, **kwargs: Any):
        super().__init__()
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        self.signals = WorkerSignals()
        self.cancel = CancelToken()
        self.setAutoDelete(False)   # the owner keeps it until `done`; signals stay valid

    def run(self) -> None:  # noqa: D401 - Qt's name
        self.signals.started.emit()
        try:
            result = self.fn(self.signals.progress.emit, self.cancel, *self.args, **self.kwargs)
        except Exception as exc:  # reported to the user through the signal; logged with the trace
            logger.error("background task failed: %s\n%s", exc, traceback.format_exc())
            self.signals.errored.emit(str(exc) or exc.__class__.__name__)
        else:
            self.signals.finished.emit(result)
        finally:
            self.signals.done.emit()


class TaskRunner(QObject):
    """Starts workers on the app's pool and keeps them alive until they are done.

    Signals:
        busy_changed(bool): whether any task is running.
    """

    busy_changed = Signal(bool)

    def __init__(self, pool: QThreadPool, parent: QObject | None = None):
        super().__init__(parent)
        self.pool = pool
        self._running: set[Worker] = set()

    def start(self, fn: Callable[..., Any], *args: Any, on_progress: Callable[[Any], None] | None = None,
              on_finished: Callable[[Any], None] | None = None, on_error: Callable[[str], None] | None = None,
              on_done: Callable[[], None] | None = None, **kwargs: Any) -> Worker:
        worker = Worker(fn, *args, **kwargs)
        if on_progress:
            worker.signals.progress.connect(on_progress)
        if on_finished:
            worker.signals.finished.connect(on_finished)
        if on_error:
            worker.signals.errored.connect(on_error)
        if on_done:
            worker.signals.done.connect(on_done)
        worker.signals.done.connect(lambda w=worker: self._on_worker_done(w))
        self._running.add(worker)
        if len(self._running) == 1:
            self.busy_changed.emit(True)
        self.pool.start(worker)
        return worker

    def _on_worker_done(self, worker: Worker) -> None:
        self._running.discard(worker)
        if not self._running:
            self.busy_changed.emit(False)

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def cancel_all(self, reason: str = "the app is closing") -> None:
        for worker in list(self._running):
            worker.cancel.cancel(reason)

    def wait(self, msecs: int = -1) -> bool:
        return self.pool.waitForDone(msecs)
