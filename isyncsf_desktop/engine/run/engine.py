"""The engine facade: one :class:`SyncEngine` runs the jobs between one source and one target org.

It holds the target org's lock for a run, asks :mod:`..lifecycle` whether a run may start (so its error
is the sentence the GUI and the CLI show), opens and closes the run in the journal, and hands the work
to the parts: :mod:`.first_pass` and :mod:`.second_pass` (sync, resync, retry), :mod:`.rollback`, and
:mod:`.recovery` (what a crash left). Every record outcome is written to the journal before the next
batch goes out, so an abort, a crash or a dropped connection never loses what was done.
"""

from __future__ import annotations

import contextlib
import logging
import time
from datetime import datetime, timezone
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Generic, TypeVar, overload

from ... import paths
from .. import heap, scope
from ..automation import AutomationGuard, parse_automation_off
from ..events import CancelToken, Notice, Observer, RunResult
from ..journal import JobRow, Journal, JournalUnwritable, ObjectCounts, OrgRef
from ..lifecycle import Action, JobState, ObjectStatus, RecordStatus, RunKind, RunStatus, object_ended, refusal
from ..lock import TargetBusy, TargetLock
from ..orgapi import OrgApi
from ..plan import Plan, build_plan, reorder
from ..template import Template, TemplateError, parse_template
from ...salesforce.client import ApiLimitExceeded, SessionExpired
from .apply import ApplyRun, PreviewCheck, PreviewRefused, check_preview, refusals_of, to_preview_again
from .context import SUCCESS, EngineError, RunContext, Stop, TargetBusyError, how_to_continue
from .files import FilesStage
from .first_pass import FirstPass
from .preview import Preview, PreviewResult
from .recovery import settle_bulk_jobs
from .rollback import Rollback
from .second_pass import SecondPass
from .settings import how_changes, with_current_how
from .sync_run import SyncRun

if TYPE_CHECKING:
    from ..preflight import Finding

logger = logging.getLogger(__name__)

T = TypeVar("T")
MakeRun = Callable[..., SyncRun]
"""Makes the run of a sync: ``(ctx, job_id, run_id, plan, template, skip=, only=)`` (an apply's gated run)."""
SYNC_DONE_BY = (RunKind.SYNC, RunKind.RESYNC)
"""Run kinds that process every object of the plan (a retry re-sends failed records only)."""


class _OnContext(Generic[T]):
    """An attribute of the engine kept on its :class:`RunContext`, so the parts of a run see a change."""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, engine: None, owner: type) -> _OnContext[T]: ...
    @overload
    def __get__(self, engine: SyncEngine, owner: type) -> T: ...

    def __get__(self, engine: SyncEngine | None, owner: type) -> T | _OnContext[T]:
        return self if engine is None else getattr(engine.ctx, self.name)

    def __set__(self, engine: SyncEngine, value: T) -> None:
        setattr(engine.ctx, self.name, value)


class SyncEngine:
    """Runs the jobs of one source→target pair. ``observer`` gets every :class:`~..events.Event`."""

    journal: _OnContext[Journal] = _OnContext()
    source: _OnContext[OrgApi] = _OnContext()
    target: _OnContext[OrgApi] = _OnContext()
    source_ref: _OnContext[OrgRef] = _OnContext()
    target_ref: _OnContext[OrgRef] = _OnContext()
    observer: _OnContext[Observer | None] = _OnContext()
    cancel: _OnContext[CancelToken] = _OnContext()

    def __init__(self, journal: Journal, source: OrgApi, target: OrgApi, source_ref: OrgRef, target_ref: OrgRef,
                 *, observer: Observer | None = None, cancel: CancelToken | None = None):
        self.ctx = RunContext(journal, source, target, source_ref, target_ref, observer=observer, cancel=cancel)

    # ------------------------------------------------------------------ jobs
    def create_job(self, template: Template | dict[str, Any]) -> int:
        """A new job (state Not Started) for ``template``; the template is checked now."""
        parsed = template if isinstance(template, Template) else parse_template(template)
        return self.journal.create_job(parsed.as_json(), self.source_ref, self.target_ref)

    def _job(self, job_id: int) -> JobRow:
        job = self.journal.job(job_id)
        if job.source.org_id != self.source_ref.org_id or job.target.org_id != self.target_ref.org_id:
            raise EngineError(f"job {job_id} runs from {job.source.alias} to {job.target.alias}, not from "
                              f"{self.source_ref.alias} to {self.target_ref.alias}")
        if job.state == JobState.DELETED:
            raise EngineError(f"Job {job_id} is deleted")
        return job

    def _refuse(self, action: Action, job_id: int) -> None:
        """Raise :class:`EngineError` with the lifecycle's sentence when ``action`` may not start now."""
        reason = refusal(action, self.journal.job_facts(job_id))
        if reason:
            raise EngineError(reason)

    def plan(self, job_id: int) -> Plan:
        job = self._job(job_id)
        if job.plan:
            return Plan.from_json(job.plan)
        return build_plan(parse_template(job.template), self.source, self.target)

    def _replanned(self, plan: Plan, template: Template) -> Plan:
        """``plan`` built again from ``template`` (its field mappings changed), keeping the job's switches and
        manual order."""
        fresh = build_plan(template, self.source, self.target)
        for name, oplan in fresh.objects.items():
            if name in plan.objects:
                oplan.insert, oplan.update = plan.objects[name].insert, plan.objects[name].update
        return reorder(fresh, plan.order) if plan.manual_order and set(plan.order) == set(fresh.order) else fresh

    def save_order(self, job_id: int, order: list[str]) -> Plan:
        """Apply a manual migration order (the Execute tab's Save Order); deferrals recomputed."""
        plan = reorder(self.plan(job_id), order)
        self.journal.set_plan(job_id, plan.as_json())
        return plan

    def set_switches(self, job_id: int, object_name: str, *, insert: bool | None = None,
                     update: bool | None = None) -> Plan:
        """Per-object Insert/Update switches, kept in the job's plan."""
        plan = self.plan(job_id)
        if object_name not in plan.objects:
            raise EngineError(f"{object_name} is not in job {job_id}")
        if insert is not None:
            plan.objects[object_name].insert = insert
        if update is not None:
            plan.objects[object_name].update = update
        self.journal.set_plan(job_id, plan.as_json())
        return plan

    # ------------------------------------------------------------------ the entry points
    def start_sync(self, template: Template | dict[str, Any], *, override_preflight: bool = False,
                   on_job: Callable[[int], None] | None = None,
                   on_overridden: Callable[[list[Finding]], None] | None = None) -> RunResult:
        """A new sync of ``template``, as the Execute tab's Start Sync and ``isyncsf sync`` start it.

        First the metadata check: while it finds a blocking problem, :class:`~..preflight.PreflightBlocked`
        is raised and no job is created, unless ``override_preflight`` (then ``on_overridden`` gets the
        blocking findings started despite). Then a new job (``on_job`` gets its id before it runs), then
        the run: a scan, then the sync.
        """
        from ..preflight import assert_can_start, check_metadata   # pandas: only for a run that needs it

        overridden = assert_can_start(check_metadata(template, self.source, self.target), override_preflight)
        if overridden and on_overridden is not None:
            on_overridden(overridden)
        job_id = self.create_job(template)
        if on_job is not None:
            on_job(job_id)
        return self.sync(job_id)

    def preview(self, template: Template | dict[str, Any], *, override_preflight: bool = False,
                on_preview: Callable[[int], None] | None = None,
                on_overridden: Callable[[list[Finding]], None] | None = None,
                only: dict[str, set[str]] | None = None) -> PreviewResult:
        """What :meth:`start_sync` of ``template`` would do, record by record, with nothing written to either
        org (:mod:`.preview`): the same metadata check first (:class:`~..preflight.PreflightBlocked` while it
        blocks, unless ``override_preflight``), then the sync's own plan, scan, match and transform, the rows
        kept in the journal (``on_preview`` gets the preview's id first). No job is created and no lock taken.

        ``only`` (object -> source ids): a preview of just these records (a re-preview of the records that
        changed since an earlier preview, :meth:`check_preview`); applying it writes no other record."""
        from ..preflight import assert_can_start, check_metadata

        parsed = template if isinstance(template, Template) else parse_template(template)
        calls = (self.source.api_calls, self.target.api_calls)
        began = time.monotonic()
        overridden = assert_can_start(check_metadata(parsed, self.source, self.target), override_preflight)
        if overridden and on_overridden is not None:
            on_overridden(overridden)
        with heap.run_heap():     # what the preview holds is long-lived: settled after each batch, as a sync's
            return Preview(self.journal, self.source, self.target, self.source_ref, self.target_ref,
                           observer=self.observer, cancel=self.cancel).run(parsed, on_preview, calls_from=calls,
                                                                           only=only, clock_from=began)

    def check_preview(self, preview_id: int, *, current: Template | None = None) -> PreviewCheck:
        """Whether preview ``preview_id`` can be applied now (:mod:`.apply`): the reasons it cannot (other orgs,
        not completed, applied already, the template or either org's metadata changed since; ``current``: the
        template of that name as saved now), and the records that changed since it on either org. Reads only."""
        return check_preview(self.ctx, preview_id, current=current)

    def to_preview_again(self, preview_id: int) -> dict[str, set[str]]:
        """The records of preview ``preview_id`` to preview again with :meth:`preview` ``only=`` (object -> source
        ids): those that changed since it, or, once applied, those its job left out (:mod:`.apply`)."""
        return to_preview_again(self.ctx, preview_id)

    def apply_preview(self, preview_id: int, *, leave_out: Iterable[tuple[str, str]] = (),
                      current: Template | None = None, on_job: Callable[[int], None] | None = None) -> RunResult:
        """Apply This Preview: a new sync job of the preview's template that writes the records the preview showed,
        with the values it showed, and nothing else (:mod:`.apply`). :class:`~.apply.PreviewRefused` (with every
        reason) when :meth:`check_preview` refuses it; ``leave_out``: (object, source id) of records not to write
        (those that changed since the preview); ``on_job`` gets the new job's id before it runs. The run takes
        the path of :meth:`start_sync` (metadata check, target lock, automation switched off as the template
        says); a record whose decision differs from the preview's is not written but journaled as skipped."""
        from ..preflight import assert_can_start, check_metadata   # pandas: only for a run that needs it

        check = check_preview(self.ctx, preview_id, current=current)
        if check.refusals:
            raise PreviewRefused(check.refusals)
        preview = self.journal.preview(preview_id)
        template = parse_template(preview.template)
        assert_can_start(check_metadata(template, self.source, self.target), False)
        job_id = self.create_job(template)
        if not self.journal.claim_preview(preview_id, job_id):    # another apply took it meanwhile
            self.journal.delete_job(job_id)
            raise PreviewRefused(refusals_of(self.ctx, self.journal.preview(preview_id), None))
        assert preview.plan is not None
        self.journal.set_plan(job_id, preview.plan)     # the plan the preview ran (switches, order)
        if on_job is not None:
            on_job(job_id)
        partial = preview.header.get("only")     # a preview of chosen records: the others are read and matched
        chosen = {i for ids in partial.values() for i in ids} if isinstance(partial, dict) else None   # only
        held = {(str(name), str(source_id)) for name, source_id in leave_out}

        def make_run(ctx: RunContext, job: int, run_id: int, plan: Plan, template: Template, *,
                     skip: set[str] | None, only: set[str] | None) -> SyncRun:
            return ApplyRun(ctx, job, run_id, plan, template, skip=skip, only=only, preview_id=preview_id,
                            leave_out=held, chosen=chosen)

        with self._target_locked(job_id, RunKind.SYNC):
            self._refuse(Action.SYNC, job_id)
            failed = self._scan_first(job_id, True)
            return failed or self._sync_run(job_id, RunKind.SYNC, keep_clock=True, make_run=make_run)

    def run(self, kind: RunKind | str, job_id: int, *, current: Template | None = None) -> RunResult:
        """One run of ``kind`` on job ``job_id``: :meth:`scan`, :meth:`sync`, :meth:`resync`, :meth:`retry` or
        :meth:`rollback`. ``current``: the job's template as saved now, for a resync or retry (see :meth:`retry`)."""
        try:
            kind = RunKind(kind)
        except ValueError:
            raise EngineError(f"unknown run kind {kind!r}; one of {', '.join(RunKind)}") from None
        entry: dict[RunKind, Callable[[int], RunResult]] = {
            RunKind.SCAN: self.scan, RunKind.SYNC: self.sync, RunKind.RESYNC: self.resync,
            RunKind.RETRY: self.retry, RunKind.ROLLBACK: self.rollback}
        if kind == RunKind.RESYNC:
            return self.resync(job_id, current=current)
        if kind == RunKind.RETRY:
            return self.retry(job_id, current=current)
        return entry[kind](job_id)

    # ------------------------------------------------------------------ scan
    def scan(self, job_id: int) -> RunResult:
        """Plan the job and count the records in scope (``Scan In Progress`` → ``Scanned``)."""
        ctx, kind = self.ctx, RunKind.SCAN
        job = self._job(job_id)
        ctx.begin(job_id)
        run_id = self.journal.start_run(job_id, kind)
        ctx.set_state(job_id, JobState.SCAN_IN_PROGRESS, RunStatus.INITIALIZING)
        try:
            template = parse_template(job.template)
            plan = Plan.from_json(job.plan) if job.plan else build_plan(template, self.source, self.target)
            for text in plan.warnings:
                ctx.emit(Notice, text=text)
            counts: dict[str, ObjectCounts] = {}
            since = scope.delta_since(template, self.journal, job.source.org_id, job.target.org_id)
            for name, number in scope.count_in_scope(self.source, plan, template, since).items():
                counts[name] = ObjectCounts(total=number, status=ObjectStatus.SCANNED)
                self.journal.set_object_counts(run_id, name, counts[name])
            self.journal.set_plan(job_id, plan.as_json())
        except TemplateError as exc:
            ctx.end(job_id, run_id, kind, JobState.NOT_STARTED, RunStatus.FAILED, {}, str(exc))
            raise EngineError(str(exc)) from None
        except ApiLimitExceeded as exc:
            logger.warning("scan of job %s stopped: %s", job_id, exc.message)
            return ctx.end(job_id, run_id, kind, JobState.NOT_STARTED, RunStatus.PAUSED, {},
                           f"paused: an org's API request limit is used up ({exc.message}); start again when the "
                           "org allows requests again (it counts the last 24 hours)")
        except Exception as exc:
            logger.exception("scan of job %s failed", job_id)
            return ctx.end(job_id, run_id, kind, JobState.NOT_STARTED, RunStatus.FAILED, {},
                           f"the scan failed: {exc}")
        return ctx.end(job_id, run_id, kind, JobState.SCANNED, RunStatus.COMPLETED, counts)

    # ------------------------------------------------------------------ one writer per target org
    @contextlib.contextmanager
    def _target_locked(self, job_id: int, kind: RunKind) -> Iterator[None]:
        """Hold the target org's lock for the run, or refuse naming the job that holds it."""
        folder = paths.lock_dir()      # one for the machine: not per data folder or per user
        try:
            with TargetLock(folder, self.target_ref.org_id, self.target_ref.alias, job_id, kind), heap.run_heap():
                yield
        except TargetBusy as busy:
            raise TargetBusyError(str(busy)) from None

    # ------------------------------------------------------------------ sync, resync, retry
    def sync(self, job_id: int) -> RunResult:
        """Scan if needed, then move the records (``Sync In Progress`` → ``Synced``)."""
        with self._target_locked(job_id, RunKind.SYNC):
            return self._sync(job_id)

    def _scan_first(self, job_id: int, needed: bool) -> RunResult | None:
        """Scan the job when ``needed``: the scan's result when it failed (the run does not go on), else None."""
        if not needed:
            return None
        scanned = self.scan(job_id)
        return scanned if scanned.status == RunStatus.FAILED else None

    def _sync(self, job_id: int) -> RunResult:
        job = self._job(job_id)
        self._refuse(Action.SYNC, job_id)
        needed = job.state == JobState.NOT_STARTED or not job.plan
        failed = self._scan_first(job_id, needed)
        return failed or self._sync_run(job_id, RunKind.SYNC, keep_clock=needed)

    def resync(self, job_id: int, *, current: Template | None = None) -> RunResult:
        """Run again, reprocessing what failed or was skipped, without resending what succeeded.

        Records that succeeded earlier are not sent again in the first pass, but they take part in
        the second pass, so a job interrupted before (or during) it ends with every lookup set. A job
        never scanned is scanned first. ``current``: as for :meth:`retry`.
        """
        with self._target_locked(job_id, RunKind.RESYNC):
            return self._resync(job_id, current)

    def _resync(self, job_id: int, current: Template | None = None) -> RunResult:
        job = self._job(job_id)
        self._refuse(Action.RESYNC, job_id)
        needed = not job.plan            # never scanned: scanned first, as a sync is
        failed = self._scan_first(job_id, needed)
        if failed is not None:
            return failed
        skip = self.journal.source_ids(job_id, SUCCESS)
        return self._sync_run(job_id, RunKind.RESYNC, skip=skip, keep_clock=needed, current=current)

    def retry(self, job_id: int, *, current: Template | None = None) -> RunResult:
        """Re-send only the records that failed, with their lookups resolved again.

        ``current``: the job's template as saved now (same name). Its settings of how records are written
        (:data:`~.settings.HOW_OPTIONS`: automation switched off, batch size, Bulk threshold...) replace the
        job's, which records the job takes stays the job's; the job's template keeps what was applied."""
        with self._target_locked(job_id, RunKind.RETRY):
            return self._retry(job_id, current)

    def _retry(self, job_id: int, current: Template | None = None) -> RunResult:
        self._job(job_id)
        self._refuse(Action.RETRY, job_id)
        failed = self.journal.source_ids(job_id, [RecordStatus.FAILED])
        return self._sync_run(job_id, RunKind.RETRY, only=failed, current=current)

    def _sync_run(self, job_id: int, kind: RunKind, *, skip: set[str] | None = None, only: set[str] | None = None,
                  keep_clock: bool = False, current: Template | None = None,
                  make_run: MakeRun | None = None) -> RunResult:
        ctx = self.ctx
        job = self._job(job_id)
        plan = Plan.from_json(job.plan) if job.plan else self.plan(job_id)
        template = parse_template(job.template)
        if current is not None and current.name != template.name:
            raise EngineError(f"job {job_id} runs template {template.name!r}, not {current.name!r}")
        changes = how_changes(template, current)
        fields_were = template.field_mappings.as_json()
        ctx.begin(job_id, keep_clock=keep_clock)
        run_id = self.journal.start_run(job_id, kind)
        ctx.set_state(job_id, JobState.SYNC_IN_PROGRESS, RunStatus.INITIALIZING)
        if changes:      # the fix the user saved applies now, and the job keeps what this run applied
            template = with_current_how(template, current)
            self.journal.set_job_template(job_id, template.as_json())
            ctx.emit(Notice, text=f"{RunKind(kind).label} uses the template's current settings: "
                                  f"{'; '.join(changes)}", level="info")
        run = (make_run or SyncRun)(ctx, job_id, run_id, plan, template, skip=skip, only=only)
        aborted = JobState.ABORTED
        try:
            if template.field_mappings.as_json() != fields_were:   # which fields are read and written: planned again
                run.plan = plan = self._replanned(plan, template)
                self.journal.set_plan(job_id, plan.as_json())
            settle_bulk_jobs(ctx, job_id, run_id, plan, template)
            first = FirstPass(run)
            first.prepare()
            ctx.set_state(job_id, JobState.SYNC_IN_PROGRESS, RunStatus.EXECUTING)
            with self._automation_switched_off(job_id, template):
                first.execute()
                SecondPass(run).execute()
                run.complete()
                FilesStage(run).execute()
        except Stop as stop:
            run.settle_stopped()
            return ctx.end(job_id, run_id, kind, aborted, stop.status, run.counts, stop.message)
        except TemplateError as exc:
            ctx.end(job_id, run_id, kind, aborted, RunStatus.FAILED, run.counts, str(exc))
            raise EngineError(str(exc)) from None
        except ApiLimitExceeded as exc:
            message = (f"paused: an org's API request limit is used up ({exc.message}). Continue when the org "
                       f"allows requests again (it counts the last 24 hours). {how_to_continue(job_id)}")
            logger.warning("sync of job %s paused: %s", job_id, exc.message)
            return ctx.end(job_id, run_id, kind, aborted, RunStatus.PAUSED, run.counts, message)
        except SessionExpired as exc:
            message = (f"the sync stopped: an org refused the session ({exc.message}). Log in to it again (Orgs "
                       f"page, or `isyncsf org login ALIAS`). {how_to_continue(job_id)}")
            logger.warning("sync of job %s stopped: %s", job_id, exc.message)
            return ctx.end(job_id, run_id, kind, aborted, RunStatus.FAILED, run.counts, message)
        except JournalUnwritable as exc:   # the journal says what to do; if it cannot even end the run, the
            logger.error("sync of job %s stopped: %s", job_id, exc.what)   # job is found interrupted later
            return ctx.end(job_id, run_id, kind, aborted, RunStatus.FAILED, run.counts, str(exc))
        except Exception as exc:
            logger.exception("sync of job %s failed", job_id)
            message = f"the sync failed: {str(exc).rstrip('. ')}. {how_to_continue(job_id)}"
            return ctx.end(job_id, run_id, kind, aborted, RunStatus.FAILED, run.counts, message)
        missing = self._never_processed(job_id, run_id, plan, kind)
        if missing:   # a retry after an abort: what the aborted run did not finish is still to do
            return ctx.end(job_id, run_id, kind, aborted, RunStatus.COMPLETED, run.counts,
                           self._still_to_do(job_id, run_id, kind, missing, run.counts))
        return ctx.end(job_id, run_id, kind, JobState.SYNCED, RunStatus.COMPLETED, run.counts, run.summary() or (
            delta_summary(first.since, run.counts) if kind == RunKind.SYNC else None))

    def _never_processed(self, job_id: int, run_id: int, plan: Plan, kind: RunKind) -> list[str]:
        """For a retry: the objects of the plan that no sync or resync run of the job has completed. A job is
        Synced only when every object was processed, and a retry, which re-sends failed records only,
        completes no object by itself (a sync or resync that ends without a stop processed them all)."""
        if kind != RunKind.RETRY:
            return []
        done = {name for run in self.journal.runs(job_id) if run.kind in SYNC_DONE_BY and run.id != run_id
                for name, oc in run.counts.items() if oc.status == ObjectStatus.COMPLETED}
        return [name for name in plan.order if name not in done]

    def _still_to_do(self, job_id: int, run_id: int, kind: RunKind, missing: list[str],
                     counts: dict[str, ObjectCounts]) -> str:
        """Mark the rows of ``missing`` objects (none of the job's runs completed them) as where they really
        stand (:func:`~..lifecycle.object_ended`), and say what is still to do."""
        reached: dict[str, str] = {}       # object -> its status in the last sync/resync run that reached it
        for earlier in self.journal.runs(job_id):
            if earlier.kind in SYNC_DONE_BY and earlier.id != run_id:
                reached.update({name: oc.status for name, oc in earlier.counts.items()
                                if oc.processed > 0 or oc.status == ObjectStatus.AWAITING_SECOND_PASS})
        for name in missing:
            oc = counts.get(name)
            if oc is not None:
                oc.status = object_ended(reached.get(name), oc.processed)
                self.journal.set_object_counts(run_id, name, oc)
        never = [name for name in missing if name not in reached]
        unfinished = [name for name in missing if name in reached]
        parts = [f"{', '.join(names)} {'was' if len(names) == 1 else 'were'} {what}"
                 for names, what in ((never, "never processed"), (unfinished, "not finished")) if names]
        return (f"{kind} finished, but {' and '.join(parts)}: Start ReSync to process "
                f"{'it' if len(missing) == 1 else 'them'}")

    @contextlib.contextmanager
    def _automation_switched_off(self, job_id: int, template: Template) -> Iterator[None]:
        """Switch off on the target the automation the template names, and switch exactly that back on
        afterwards, also after an abort or an error. The journal remembers what was switched before
        each switch, so a crash is repaired at the next start (``automation.pending_restore``)."""
        items = parse_automation_off(template.options.get("automation_off"))
        if not items:
            yield
            return
        guard = AutomationGuard(self.journal, self.target, job_id, items, target_org_id=self.target_ref.org_id)
        with guard:
            for result in guard.results:
                if result.ok:
                    self.ctx.emit(Notice, text=f"automation: {result.message}", level="info")
            yield
        for result in guard.refused:
            self.ctx.emit(Notice, text=f"automation: {result.message}")

    # ------------------------------------------------------------------ rollback
    def rollback(self, job_id: int) -> RunResult:
        """Delete what the job inserted (children first) and restore what it updated.

        Records of a create batch whose answer was lost (the process died while it was in flight)
        are found by the match key written ahead of the batch and deleted too. Each delete batch is
        written ahead, so a rollback interrupted after the org deleted a batch counts those records
        as rolled back when it runs again."""
        with self._target_locked(job_id, RunKind.ROLLBACK):
            return self._rollback(job_id)

    def _rollback(self, job_id: int) -> RunResult:
        job = self._job(job_id)
        self._refuse(Action.ROLLBACK, job_id)
        return Rollback(self.ctx, job).execute()


def delta_summary(since: str | None, counts: dict[str, ObjectCounts]) -> str | None:
    """What a delta sync read: ``Delta sync since 2026-03-01 09:00 UTC: 0 records changed in the source.``
    (None for a full sync), so a run that found nothing says why its counts are all zero."""
    if not since:
        return None
    changed = sum(oc.total for oc in counts.values())
    try:
        when = datetime.fromisoformat(since.replace("Z", "+00:00")).astimezone(timezone.utc).strftime(
            "%Y-%m-%d %H:%M:%S UTC")
    except ValueError:
        when = since
    text = f"Delta sync since {when}: {changed:,} record{'' if changed == 1 else 's'} changed in the source"
    return text + (" (nothing to copy)." if not changed else ".")


__all__ = ["SyncEngine", "delta_summary"]
