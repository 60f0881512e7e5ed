"""What every page of the app shares: orgs, journal, thread pool, the current template and orgs.

Pages read state from here and listen to its signals; they never talk to each other directly.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QThreadPool, Signal

from .. import paths
from ..engine.events import CancelToken, Observer
from ..engine.journal import Journal, OrgRef
from ..engine.lock import recover_interrupted
from ..engine.runner import SyncEngine
from ..engine.template import Template, TemplateError, load_template
from ..salesforce.client import OrgClient
from ..salesforce.registry import OrgRegistry, RegistryError
from .workers import TaskRunner

logger = logging.getLogger(__name__)


class AppContext(QObject):
    """Shared state of the running app.

    Signals:
        orgs_changed(): an org was added, removed, renamed or refreshed.
        template_changed(): another template was opened, or the open one was saved.
        selection_changed(): the source or target org of the Execute tab changed.
        message(str, str): (level, text) for the status area: "info", "warning" or "error".
        job_opened(int): a page asked to show this job on the Execute tab (e.g. from History).
        jobs_changed(): a job was created, ran (each state a run moves it to), was rolled back or deleted
            (History refreshes).
        orgs_used(): orgs were used (a target picked, a run made): their "Last used" changed.
        previews_changed(): a preview ended (History lists it).
        apply_preview_requested(object): Apply This Preview was confirmed: the
            :class:`~.preview.apply.ApplyRequest` for the Execute tab to run as a sync job (it marks the
            request started, or says why not, before the emit returns).
    """

    orgs_changed = Signal()
    template_changed = Signal()
    selection_changed = Signal()
    message = Signal(str, str)
    job_opened = Signal(int)
    jobs_changed = Signal()
    orgs_used = Signal()
    previews_changed = Signal()
    apply_preview_requested = Signal(object)

    def __init__(self, *, registry: OrgRegistry | None = None, journal: Journal | None = None,
                 pool: QThreadPool | None = None, settings: QSettings | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.registry = registry or OrgRegistry()
        self.journal = journal or Journal(paths.journal_path())
        self.pool = pool or QThreadPool(self)
        self.pool.setMaxThreadCount(max(2, self.pool.maxThreadCount()))
        self.tasks = TaskRunner(self.pool, self)
        self.settings = settings or QSettings(str(paths.settings_path()), QSettings.Format.IniFormat)
        self.sandbox: Any = None     # the embedded demo org server (embedded.SandboxProcess), when running
        self.template: Template | None = None
        self.template_path: Path | None = None
        self._source: str | None = None
        self._target: str | None = None
        self.closing = False    # set by shutdown(): late worker signals must not touch the journal
        self.interrupted_jobs = recover_interrupted(self.journal, paths.lock_dir())

    # ------------------------------------------------------------------ status messages
    def info(self, text: str) -> None:
        logger.info(text)
        self.message.emit("info", text)

    def warn(self, text: str) -> None:
        logger.warning(text)
        self.message.emit("warning", text)

    def error(self, text: str) -> None:
        logger.error(text)
        self.message.emit("error", text)

    # ------------------------------------------------------------------ template and orgs
    def open_template(self, path: Path) -> Template:
        template = load_template(path)
        self.template, self.template_path = template, Path(path)
        self.settings.setValue("template/last", str(path))
        before = (self._source, self._target)
        if template.source and template.source in self.registry and not self._source:
            self._source = template.source
        if template.target and template.target in self.registry and not self._target:
            self._target = template.target
        self.template_changed.emit()
        if (self._source, self._target) != before:
            self.selection_changed.emit()
        return template

    def reopen_last_template(self) -> Template | None:
        last = self.settings.value("template/last")
        if last and Path(str(last)).exists():
            try:
                return self.open_template(Path(str(last)))
            except TemplateError as exc:
                self.warn(f"the last template could not be opened: {exc}")
        return None

    @property
    def source(self) -> str | None:
        return self._source

    @property
    def target(self) -> str | None:
        return self._target

    def set_source(self, alias: str | None) -> None:
        if alias != self._source:
            self._source = alias
            self.selection_changed.emit()

    def set_target(self, alias: str | None) -> None:
        if alias != self._target:
            self._target = alias
            if alias:
                self.settings.setValue("orgs/last_target", alias)
                self.mark_used(alias)
            self.selection_changed.emit()

    def mark_used(self, *aliases: str) -> None:
        """Stamp "Last used: now" on these orgs (a run, a picked target); the pages showing it refresh."""
        for alias in dict.fromkeys(a for a in aliases if a):
            try:
                self.registry.touch(alias)
            except (RegistryError, OSError) as exc:   # removed meanwhile, or the file is read-only
                logger.info("not stamping org %s as used: %s", alias, exc)
        self.orgs_used.emit()

    def client(self, alias: str) -> OrgClient:
        """A new client for ``alias`` (one per worker: clients are not shared across threads)."""
        return self.registry.client(alias)

    def org_ref(self, alias: str) -> OrgRef:
        entry = self.registry.get(alias)
        return OrgRef(entry.alias, entry.org_id, entry.instance_url)

    def engine(self, source: str, target: str, *, observer: Observer | None = None,
               cancel: CancelToken | None = None) -> SyncEngine:
        return SyncEngine(self.journal, self.client(source), self.client(target), self.org_ref(source),
                          self.org_ref(target), observer=observer, cancel=cancel)

    def open_job(self, job_id: int) -> None:
        """Show ``job_id`` on the Execute tab (its summary, errors and actions)."""
        self.job_opened.emit(job_id)

    # ------------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        self.closing = True
        self.tasks.cancel_all()
        self.pool.waitForDone()
        if self.sandbox is not None:
            self.sandbox.stop()
            self.sandbox = None
        self.journal.close()
