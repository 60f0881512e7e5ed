"""The sync engine: scan, sync, re-sync, retry failed records, roll back. Synchronous, cancellable.

One :class:`SyncEngine` works on the jobs between one source and one target org. Every record
outcome is written to the journal before the next batch goes out, so an abort, a crash or a
dropped connection never loses what was done, and rollback or retry works after a restart.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from .automation import AutomationGuard, parse_automation_off
from .inflight import send_batches
from .events import (ABORTED, COMPLETED, EXECUTING, FAILED, INITIALIZING, PAUSED, BatchDone, CancelToken, Event, Notice,
                     ObjectFinished, ObjectStarted, Observer, RecordFailed, RunResult, StateChanged, add_counts)
from .journal import ErrorInfo, Journal, JobRow, ObjectCounts, OrgRef, Outcome
from .lock import TargetBusy, TargetLock
from . import heap, scope
from .plan import ObjectPlan, Plan, build_plan
from .template import Template, TemplateError, parse_template
from .users import SOURCE_USER_SOQL, TARGET_USER_SOQL, match_users
from .values import match_value, path_value, same
from ..salesforce.client import ApiLimitExceeded, SessionExpired

logger = logging.getLogger(__name__)

SUCCESS = ("inserted", "updated", "existing")
PARENT_FAILED = "PARENT_FAILED"
PARENT_NOT_SYNCED = "PARENT_NOT_SYNCED"
DUPLICATE_MATCH = "DUPLICATE_MATCH"
RECORD_TYPE_NOT_FOUND = "RECORD_TYPE_NOT_FOUND"
NOT_STARTED = "Not started"
STOPPED = "continue on error is off: the sync stopped at the first failed record"


class OrgApi(Protocol):
    """The calls the engine makes (``salesforce.client.OrgClient``)."""

    alias: str
    api_calls: int

    def describe(self, object_name: str) -> dict[str, Any]: ...
    def object_names(self) -> set[str]: ...
    def count(self, object_name: str, where: str | None = None) -> int: ...
    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]: ...
    def create(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    def update(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]: ...
    def delete(self, ids: list[str]) -> list[dict[str, Any]]: ...
    def bulk_ingest(self, object_name: str, operation: str, records: list[dict[str, Any]], *,
                    on_job: Callable[[str], None] | None = None) -> list[dict[str, Any]]: ...
    def user_info(self) -> dict[str, Any]: ...
    @property
    def api_usage(self) -> tuple[int, int] | None: ...


class EngineError(Exception):
    """The job cannot run (wrong state, bad template, an org refused): a message for the user."""


class TargetBusyError(EngineError):
    """Another job is writing to the target org (the message names it)."""


class _Stop(Exception):
    """Internal: end the run early (abort, stop at the first error, or pause: ``status``)."""

    def __init__(self, message: str, status: str = ABORTED):
        super().__init__(message)
        self.message = message
        self.status = status


def key_json(key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    """A match key as the journal stores it (JSON round trip), so keys compare across runs."""
    return None if key is None else tuple(json.loads(json.dumps(list(key), default=str)))


def target_key(row: dict[str, Any], match_by: list[str]) -> tuple[Any, ...] | None:
    """The match key of a record as it is on the target (lookups already hold target ids)."""
    parts = []
    for path in match_by:
        value = match_value(path_value(row, path))
        if value is None:
            return None
        parts.append(value)
    return key_json(tuple(parts))


def claim_in_flight(wanted: dict[str, tuple[Any, ...] | None], rows: dict[str, dict[str, Any]],
                    match_by: list[str], known: set[str]) -> dict[str, str]:
    """Source id -> target id for records whose create batch went out but whose answer was lost.

    Each was written ahead with the key the org would save it under; any target record with that
    key that no journal row accounts for was created by that batch (when the batch went out, no
    target record matched, or the engine would have updated instead). One target record is
    claimed per source record, so two sources with the same key find two records.
    """
    index: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for target_id, row in rows.items():
        if target_id not in known:
            key = target_key(row, match_by)
            if key is not None:
                index[key].append(target_id)
    claimed: dict[str, str] = {}
    for source_id, key in wanted.items():
        hits = index.get(key_json(key)) if key is not None else None
        if hits:
            claimed[source_id] = hits.pop(0)
    return claimed


@dataclass
class _Pending:
    """A source record on its way to the target."""

    source: dict[str, Any]
    target_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    prior: dict[str, Any] | None = None


def _chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


BULK_BATCH = 40_000        # records per Bulk API write: each such batch is written ahead and journaled as one
KEY_TYPES = ("string", "email", "phone", "url", "textarea", "picklist")
KEY_CHUNK_CHARS = 4000     # characters of quoted keys per "IN (...)" query (URLs stay well under 16 KB)


def _or_in(lists: dict[str, list[str]]) -> str:
    """``Id IN ('a', 'b') OR Email IN ('c')`` from column -> quoted values."""
    return " OR ".join(f"{column} IN ({', '.join(values)})" for column, values in lists.items())


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _use_bulk(target: Any, template: Template | None, object_name: str, count: int) -> bool:
    """Whether a write of ``count`` records of ``object_name`` goes through Bulk API 2.0 (never without a
    template this version can read)."""
    if template is None:
        return False
    threshold = template.bulk_threshold(object_name)
    return bool(threshold) and count >= threshold and hasattr(target, "bulk_ingest")


def _reader(client: Any, template: Template, object_name: str) -> Any:
    """``client.query`` for reads of ``object_name``; one that switches to a Bulk API 2.0 query when
    the answer is big (past the object's bulk threshold, and cheaper in calls than REST pages)."""
    threshold = template.bulk_threshold(object_name)
    large = getattr(client, "query_large", None)
    if not threshold or large is None:
        return client.query

    def query(soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        return large(soql, include_deleted=include_deleted, bulk_from=threshold)
    return query


def _bulk_write(target: Any, journal: Journal, job_id: int, object_name: str, operation: str,
                records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Bulk API 2.0 ingest with each job kept in the journal from the moment the org opened it until
    its results are in: after a crash the next run waits for the jobs the org went on with."""
    opened: list[str] = []

    def on_job(bulk_id: str) -> None:
        journal.open_bulk_job(job_id, object_name, operation, bulk_id)
        opened.append(bulk_id)

    results = target.bulk_ingest(object_name, operation, records, on_job=on_job)
    journal.close_bulk_jobs(opened)
    return results


def _update_records(target: Any, journal: Journal, job_id: int, template: Template | None, object_name: str,
                    records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Update ``records`` (each with ``Id``): Bulk jobs when there are enough, else Collections."""
    if _use_bulk(target, template, object_name, len(records)):
        return _bulk_write(target, journal, job_id, object_name, "update", records)
    return target.update([{"attributes": {"type": object_name}, **r} for r in records])


def _depth(template: Template | None) -> int:
    """Batches out at once: the template's ``in_flight``; one at a time without a template this version reads."""
    return template.in_flight if template is not None else 1


def _first_error(result: dict[str, Any]) -> ErrorInfo:
    errors = result.get("errors") or [{}]
    first = errors[0]
    return ErrorInfo(first.get("statusCode") or first.get("errorCode") or "UNKNOWN_EXCEPTION",
                     first.get("message") or "the org gave no reason", list(first.get("fields") or []))


class SyncEngine:
    """Runs the jobs of one source→target pair. ``observer`` gets every :class:`Event`."""

    def __init__(self, journal: Journal, source: OrgApi, target: OrgApi, source_ref: OrgRef, target_ref: OrgRef,
                 *, observer: Observer | None = None, cancel: CancelToken | None = None):
        self.journal = journal
        self.source = source
        self.target = target
        self.source_ref = source_ref
        self.target_ref = target_ref
        self.observer = observer
        self.cancel = cancel or CancelToken()
        self._started = time.monotonic()
        self._job_id = 0

    # ------------------------------------------------------------------ events
    def _emit(self, event_type: type[Event], **kwargs: Any) -> None:
        if self.observer is not None:
            self.observer(event_type(job_id=self._job_id, elapsed=round(time.monotonic() - self._started, 3),
                                     **kwargs))

    def _state(self, job_id: int, state: str, status: str, message: str | None = None) -> None:
        self.journal.set_state(job_id, state, message)
        self._emit(StateChanged, state=state, status=status, message=message)

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
        if job.state == "Deleted":
            raise EngineError(f"job {job_id} is deleted")
        return job

    def plan(self, job_id: int) -> Plan:
        job = self._job(job_id)
        if job.plan:
            return Plan.from_json(job.plan)
        return build_plan(parse_template(job.template), self.source, self.target)

    def save_order(self, job_id: int, order: list[str]) -> Plan:
        """Apply a manual migration order (the Execute tab's Save Order); deferrals recomputed."""
        from .plan import reorder

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

    # ------------------------------------------------------------------ scan
    def scan(self, job_id: int) -> RunResult:
        """Plan the job and count the records in scope (``Scan In Progress`` → ``Scanned``)."""
        job = self._job(job_id)
        self._begin(job_id)
        run_id = self.journal.start_run(job_id, "scan")
        self._state(job_id, "Scan In Progress", INITIALIZING)
        try:
            plan = Plan.from_json(job.plan) if job.plan else build_plan(parse_template(job.template), self.source,
                                                                           self.target)
            for text in plan.warnings:
                self._emit(Notice, text=text)
            counts: dict[str, ObjectCounts] = {}
            template = parse_template(job.template)
            since = scope.delta_since(template, self.journal, job.source.org_id, job.target.org_id)
            for name, total in scope.count_in_scope(self.source, plan, template, since).items():
                counts[name] = ObjectCounts(total=total, status="Scanned")
                self.journal.set_object_counts(run_id, name, counts[name])
            self.journal.set_plan(job_id, plan.as_json())
        except TemplateError as exc:
            self._end(job_id, run_id, "scan", "Not Started", FAILED, {}, str(exc))
            raise EngineError(str(exc)) from None
        except ApiLimitExceeded as exc:
            logger.warning("scan of job %s stopped: %s", job_id, exc.message)
            return self._end(job_id, run_id, "scan", "Not Started", PAUSED, {},
                             f"paused: an org's API request limit is used up ({exc.message}); start again when the "
                             "org allows requests again (it counts the last 24 hours)")
        except Exception as exc:
            logger.exception("scan of job %s failed", job_id)
            message = f"the scan failed: {exc}"
            return self._end(job_id, run_id, "scan", "Not Started", FAILED, {}, message)
        return self._end(job_id, run_id, "scan", "Scanned", COMPLETED, counts)

    def _end(self, job_id: int, run_id: int, kind: str, state: str, status: str,
             counts: dict[str, ObjectCounts], message: str | None = None) -> RunResult:
        """Close the run in the journal, set the job's state, and say what the run did."""
        self.journal.finish_run(run_id, status)
        self._state(job_id, state, status, message)
        return self._result(job_id, run_id, kind, state, status, counts, message)

    def _begin(self, job_id: int, *, keep_clock: bool = False) -> None:
        if keep_clock and self._job_id == job_id:
            return  # a sync that scanned first: one clock and one API count for both
        self._job_id = job_id
        self._started = time.monotonic()
        self._calls = (self.source.api_calls, self.target.api_calls)

    def _result(self, job_id: int, run_id: int, kind: str, state: str, status: str,
                counts: dict[str, ObjectCounts], message: str | None = None) -> RunResult:
        calls = {"source": self.source.api_calls - self._calls[0], "target": self.target.api_calls - self._calls[1]}
        return RunResult(job_id=job_id, run_id=run_id, kind=kind, state=state, status=status, objects=counts,
                         message=message, api_calls=calls, seconds=round(time.monotonic() - self._started, 3))

    # ------------------------------------------------------------------ one writer per target org
    @contextlib.contextmanager
    def _target_locked(self, job_id: int, kind: str) -> Iterator[None]:
        """Hold the target org's lock for the run, or refuse naming the job that holds it."""
        folder = self.journal.path.parent / "locks"
        try:
            with TargetLock(folder, self.target_ref.org_id, self.target_ref.alias, job_id, kind), heap.run_heap():
                yield
        except TargetBusy as busy:
            raise TargetBusyError(str(busy)) from None

    def _how_to_continue(self, job_id: int) -> str:
        return (f"Nothing is lost: continue with Start ReSync (`isyncsf resync {job_id}`), or roll back with "
                f"Rollback (`isyncsf rollback {job_id}`).")

    def _api_ceiling_check(self, template: Template) -> None:
        """Pause (between batches) when an org has used its share of the day's API requests."""
        for side, client in (("target", self.target), ("source", self.source)):
            usage = getattr(client, "api_usage", None)
            if not usage or not usage[1]:
                continue
            used, limit = usage
            if used / limit >= template.api_ceiling:
                raise _Stop(f"paused: the {side} org {client.alias} has used {used:,} of its {limit:,} daily API "
                            f"requests ({used / limit:.0%}; the ceiling is {template.api_ceiling:.0%}). Continue when "
                            f"its usage is lower (it counts the last 24 hours) or raise the template's "
                            f"api_ceiling_percent. {self._how_to_continue(self._job_id)}", PAUSED)

    # ------------------------------------------------------------------ sync, resync, retry
    def sync(self, job_id: int) -> RunResult:
        """Scan if needed, then move the records (``Sync In Progress`` → ``Synced``)."""
        with self._target_locked(job_id, "sync"):
            return self._sync(job_id)

    def _sync(self, job_id: int) -> RunResult:
        job = self._job(job_id)
        scanned_now = False
        if job.state in ("Not Started",) or not job.plan:
            scanned = self.scan(job_id)
            if scanned.status == FAILED:
                return scanned
            scanned_now = True
        elif job.state not in ("Scanned", "Synced", "Aborted") and not job.interrupted:
            raise EngineError(f"job {job_id} is {job.state}; a sync needs a scanned job")
        return self._run(job_id, "sync", keep_clock=scanned_now)

    def resync(self, job_id: int) -> RunResult:
        """Run again, reprocessing what failed or was skipped, without resending what succeeded.

        Records that succeeded earlier are not sent again in the first pass, but they take part in
        the second pass, so a job interrupted before (or during) it ends with every lookup set.
        """
        with self._target_locked(job_id, "resync"):
            return self._resync(job_id)

    def _resync(self, job_id: int) -> RunResult:
        job = self._job(job_id)
        if job.state in ("Rollback", "Rollback Started", "Rollback Completed"):
            raise EngineError(f"job {job_id} was rolled back; start a new sync instead")
        if not job.plan:
            self.scan(job_id)
        skip = self.journal.source_ids(job_id, SUCCESS)
        return self._run(job_id, "resync", skip=skip)

    def retry(self, job_id: int) -> RunResult:
        """Re-send only the records that failed, with their lookups resolved again."""
        with self._target_locked(job_id, "retry"):
            return self._retry(job_id)

    def _retry(self, job_id: int) -> RunResult:
        job = self._job(job_id)
        if job.state in ("Rollback", "Rollback Started", "Rollback Completed"):
            raise EngineError(f"job {job_id} was rolled back; nothing to retry")
        failed = self.journal.source_ids(job_id, ["failed"])
        return self._run(job_id, "retry", only=failed)

    def _run(self, job_id: int, kind: str, *, skip: set[str] | None = None, only: set[str] | None = None,
             keep_clock: bool = False) -> RunResult:
        job = self._job(job_id)
        plan = Plan.from_json(job.plan) if job.plan else self.plan(job_id)
        template = parse_template(job.template)
        self._begin(job_id, keep_clock=keep_clock)
        run_id = self.journal.start_run(job_id, kind)
        self._state(job_id, "Sync In Progress", INITIALIZING)
        run = _Run(self, job_id, run_id, plan, template, skip=skip, only=only)
        try:
            self._settle_bulk_jobs(job_id)
            run.prepare()
            self._state(job_id, "Sync In Progress", EXECUTING)
            with self._automation_switched_off(job_id, template):
                run.execute()
        except _Stop as stop:
            return self._end(job_id, run_id, kind, "Aborted", stop.status, run.counts, stop.message)
        except TemplateError as exc:
            self._end(job_id, run_id, kind, "Aborted", FAILED, run.counts, str(exc))
            raise EngineError(str(exc)) from None
        except ApiLimitExceeded as exc:
            message = (f"paused: an org's API request limit is used up ({exc.message}). Continue when the org "
                       f"allows requests again (it counts the last 24 hours). {self._how_to_continue(job_id)}")
            logger.warning("sync of job %s paused: %s", job_id, exc.message)
            return self._end(job_id, run_id, kind, "Aborted", PAUSED, run.counts, message)
        except SessionExpired as exc:
            message = (f"the sync stopped: an org refused the session ({exc.message}). Log in to it again (Orgs "
                       f"page, or `isyncsf org login ALIAS`). {self._how_to_continue(job_id)}")
            logger.warning("sync of job %s stopped: %s", job_id, exc.message)
            return self._end(job_id, run_id, kind, "Aborted", FAILED, run.counts, message)
        except Exception as exc:
            logger.exception("sync of job %s failed", job_id)
            message = f"the sync failed: {exc}. {self._how_to_continue(job_id)}"
            return self._end(job_id, run_id, kind, "Aborted", FAILED, run.counts, message)
        missing = self._never_processed(job_id, run_id, plan, kind)
        if missing:   # a retry after an abort: what the aborted run did not finish is still to do
            return self._end(job_id, run_id, kind, "Aborted", COMPLETED, run.counts,
                             self._still_to_do(job_id, run_id, kind, missing, run.counts))
        return self._end(job_id, run_id, kind, "Synced", COMPLETED, run.counts)

    def _never_processed(self, job_id: int, run_id: int, plan: Plan, kind: str) -> list[str]:
        """For a retry: the objects of the plan that no sync or resync run of the job has completed. A job is
        Synced only when every object was processed, and a retry, which re-sends failed records only,
        completes no object by itself (a sync or resync that ends without a stop processed them all)."""
        if kind != "retry":
            return []
        done = {name for run in self.journal.runs(job_id) if run.kind in ("sync", "resync") and run.id != run_id
                for name, oc in run.counts.items() if oc.status == "Completed"}
        return [name for name in plan.order if name not in done]

    def _still_to_do(self, job_id: int, run_id: int, kind: str, missing: list[str],
                     counts: dict[str, ObjectCounts]) -> str:
        """Mark the rows of ``missing`` objects (none of the job's runs completed them) as where they really
        stand, Not started or Aborted (before its 2nd pass), and say what is still to do."""
        reached: dict[str, str] = {}       # object -> its status in the last sync/resync run that reached it
        for earlier in self.journal.runs(job_id):
            if earlier.kind in ("sync", "resync") and earlier.id != run_id:
                reached.update({name: oc.status for name, oc in earlier.counts.items()
                                if oc.processed > 0 or oc.status == "Awaiting second pass"})
        for name in missing:
            oc = counts.get(name)
            if oc is not None:
                oc.status = (NOT_STARTED if name not in reached and oc.processed == 0 else
                             "Aborted before 2nd pass" if reached.get(name) == "Awaiting second pass" else "Aborted")
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
                    self._emit(Notice, text=f"automation: {result.message}", level="info")
            yield
        for result in guard.refused:
            self._emit(Notice, text=f"automation: {result.message}")

    # ------------------------------------------------------------------ rollback
    def rollback(self, job_id: int) -> RunResult:
        """Delete what the job inserted (children first) and restore what it updated.

        Records of a create batch whose answer was lost (the process died while it was in flight)
        are found by the match key written ahead of the batch and deleted too. Each delete batch is
        written ahead, so a rollback interrupted after the org deleted a batch counts those records
        as rolled back when it runs again."""
        with self._target_locked(job_id, "rollback"):
            return self._rollback(job_id)

    def _settle_bulk_jobs(self, job_id: int) -> None:
        """Bulk jobs an interrupted run opened go on in the org: wait for them to end (abort those whose
        data never fully went up) before anything reads the target, or a resume would create again
        what the job is still creating and a rollback would miss it."""
        left = self.journal.open_bulk_jobs(job_id)
        settle = getattr(self.target, "settle_bulk_jobs", None)
        if not left or settle is None:
            return
        self._emit(Notice, text=f"waiting for {len(left)} Bulk API job{'s' if len(left) != 1 else ''} the "
                                "interrupted run left on the target org to end")
        states = settle([bulk_id for bulk_id, _, _ in left], keep_waiting=lambda: not self.cancel.cancelled)
        ended = [bulk_id for bulk_id, state in states.items() if state in ("JobComplete", "Failed", "Aborted", "Gone")]
        self.journal.close_bulk_jobs(ended)
        if len(ended) < len(left):
            raise _Stop("aborted while waiting for a Bulk API job of the interrupted run to end; "
                        "run it again to wait for it")

    def _reconcile_in_flight(self, job_id: int, run_id: int, plan: Plan | None) -> None:
        """Give every ``sending`` record the target id the org saved it under, or mark it skipped."""
        for name, wanted in self.journal.in_flight(job_id).items():
            oplan = plan.objects.get(name) if plan else None
            match_by = oplan.match_by if oplan else []
            claimed: dict[str, str] = {}
            if match_by and any(key is not None for key in wanted.values()):
                rows = {r["Id"]: r for r in self.target.query(
                    f"SELECT {', '.join(sorted({'Id', *match_by}))} FROM {name}")}
                claimed = claim_in_flight(wanted, rows, match_by, self.journal.known_target_ids(job_id, name))
            self.journal.record_outcomes(job_id, run_id, [
                Outcome(name, source_id, claimed.get(source_id), "inserted" if source_id in claimed else "skipped")
                for source_id in wanted])
            if claimed:
                self._emit(Notice, text=f"{len(claimed)} {name} record(s) created by a batch whose answer was lost "
                                        "were found on the target by their match key and are rolled back too",
                           level="info")

    def _rollback(self, job_id: int) -> RunResult:
        job = self._job(job_id)
        if job.state in ("Sync In Progress", "Scan In Progress", "Rollback Started") and not job.interrupted:
            raise EngineError(f"job {job_id} is running ({job.state}); abort it before rolling back")
        if not any(self.journal.rollback_counts(job_id)):
            raise EngineError(f"job {job_id} has nothing left to roll back: no record it inserted or updated "
                              "is still in place")
        self._begin(job_id)
        self._state(job_id, "Rollback", INITIALIZING)
        run_id = self.journal.start_run(job_id, "rollback")
        self._state(job_id, "Rollback Started", EXECUTING)
        plan = Plan.from_json(job.plan) if job.plan else None
        try:
            template: Template | None = parse_template(job.template)
        except TemplateError:
            template = None   # a template this version cannot read: Collections only
        order = list(reversed(plan.order)) if plan else []
        counts: dict[str, ObjectCounts] = {}
        inserted = defaultdict(list)
        try:
            self._settle_bulk_jobs(job_id)
            self._reconcile_in_flight(job_id, run_id, plan)
        except _Stop as stop:
            return self._end(job_id, run_id, "rollback", "Aborted", ABORTED, counts, stop.message)
        except Exception as exc:
            logger.exception("rollback of job %s could not look for records of an interrupted batch", job_id)
            message = f"the rollback failed before it deleted anything: {exc}"
            self.journal.finish_run(run_id, FAILED)
            self._state(job_id, "Aborted", FAILED, message)
            return self._result(job_id, run_id, "rollback", "Aborted", FAILED, counts, message)
        for row in self.journal.records(job_id):
            if row.created and row.target_id and row.status not in ("rolled_back",):
                inserted[row.object].append(row)
        for name in list(inserted) + [n for n in order if n not in inserted]:
            if name not in order:
                order.append(name)
        try:
            for name in order:
                rows = inserted.get(name, [])
                if not rows:
                    continue
                oc = counts.setdefault(name, ObjectCounts(total=len(rows), status="Rolling back"))
                self._emit(ObjectStarted, object=name, index=order.index(name) + 1, count=len(order), total=len(rows))
                self._delete_inserted(job_id, run_id, name, rows, oc, counts, template)
            self._restore_versions(job_id, run_id, counts, order, template)
        except _Stop as stop:
            return self._end(job_id, run_id, "rollback", "Aborted", ABORTED, counts, stop.message)
        except Exception as exc:
            logger.exception("rollback of job %s failed", job_id)
            self.journal.finish_run(run_id, FAILED)
            message = f"the rollback failed: {exc}"
            self._state(job_id, "Aborted", FAILED, message)
            return self._result(job_id, run_id, "rollback", "Aborted", FAILED, counts, message)
        for name, oc in counts.items():
            oc.status = "Rolled back"
            self.journal.set_object_counts(run_id, name, oc)
            self._emit(ObjectFinished, object=name, counts=oc)
        return self._end(job_id, run_id, "rollback", "Rollback Completed", COMPLETED, counts)

    def _delete_inserted(self, job_id: int, run_id: int, name: str, rows: list[Any], oc: ObjectCounts,
                         counts: dict[str, ObjectCounts], template: Template | None) -> None:
        """Delete the records the job inserted of one object, batches in flight as the template says."""
        bulk = _use_bulk(self.target, template, name, len(rows))

        def prepare(chunk: list[Any]) -> None:
            self._check_cancel()
            # Write-ahead: a rollback killed after the org deleted this batch (or Bulk job) knows,
            # when it runs again, that "already deleted" means deleted by this rollback.
            self.journal.record_outcomes(job_id, run_id, [
                Outcome(name, r.source_id, r.target_id, "deleting", phase="rollback") for r in chunk])

        def send(chunk: list[Any]) -> list[dict[str, Any]]:
            if bulk:
                return _bulk_write(self.target, self.journal, job_id, name, "delete",
                                   [{"Id": r.target_id} for r in chunk])
            return self.target.delete([r.target_id for r in chunk])

        def finish(chunk: list[Any], results: list[dict[str, Any]]) -> None:
            outcomes = []
            for row, result in zip(chunk, results):
                gone = _first_error(result).status_code in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY") \
                    if not result.get("success") else False
                if result.get("success") or (gone and row.status == "deleting"):
                    oc.deleted += 1
                    outcomes.append(Outcome(name, row.source_id, row.target_id, "rolled_back", phase="rollback"))
                else:
                    error = _first_error(result)
                    if error.status_code in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"):
                        error = ErrorInfo(error.status_code, "could not undo: the record is already deleted "
                                          "on the target", error.fields)
                    oc.errors += 1
                    outcomes.append(Outcome(name, row.source_id, row.target_id, "rollback_failed", error,
                                            "rollback"))
                    self._emit(RecordFailed, object=name, source_id=row.source_id, target_id=row.target_id,
                               status_code=error.status_code, message=error.message, fields=tuple(error.fields))
                oc.processed += 1
            with self.journal.transaction():
                self.journal.record_outcomes(job_id, run_id, outcomes)
                self.journal.forget_target_ids(self.source_ref.org_id, self.target_ref.org_id,
                                               [o.target_id for o in outcomes if o.status == "rolled_back"])
                self.journal.set_object_counts(run_id, name, oc)
            self._emit(BatchDone, object=name, counts=oc, totals=_total(counts))

        send_batches(_chunks(rows, BULK_BATCH if bulk else 200), depth=_depth(template),
                     prepare=prepare, send=send, finish=finish)

    def _restore_versions(self, job_id: int, run_id: int, counts: dict[str, ObjectCounts], order: list[str],
                          template: Template | None = None) -> None:
        versions = self.journal.versions(job_id)
        done = {r.target_id for r in self.journal.records(job_id, statuses=["restored", "rolled_back"])}
        by_object: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for target_id, (name, values) in versions.items():
            if target_id not in done:
                by_object[name].append((target_id, values))
        source_of = {r.target_id: r.source_id for r in self.journal.records(job_id)}
        for name in [n for n in order if n in by_object] + [n for n in by_object if n not in order]:
            oc = counts.setdefault(name, ObjectCounts(status="Rolling back"))
            oc.total += len(by_object[name])
            self._restore_object(job_id, run_id, name, by_object[name], oc, counts, template, source_of)

    def _restore_object(self, job_id: int, run_id: int, name: str, items: list[tuple[str, dict[str, Any]]],
                        oc: ObjectCounts, counts: dict[str, ObjectCounts], template: Template | None,
                        source_of: dict[str | None, str | None]) -> None:
        """Put back the field values the job's updates replaced on one object's records."""
        bulk = _use_bulk(self.target, template, name, len(items))

        def prepare(chunk: list[tuple[str, dict[str, Any]]]) -> None:
            self._check_cancel()

        def send(chunk: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
            return _update_records(self.target, self.journal, job_id, template, name,
                                   [{"Id": tid, **values} for tid, values in chunk])

        def finish(chunk: list[tuple[str, dict[str, Any]]], results: list[dict[str, Any]]) -> None:
            outcomes = []
            for (tid, _), result in zip(chunk, results):
                if result.get("success"):
                    oc.restored += 1
                    outcomes.append(Outcome(name, source_of.get(tid), tid, "restored", phase="rollback"))
                else:
                    error = _first_error(result)
                    if error.status_code in ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY"):
                        error = ErrorInfo(error.status_code, "could not restore: the record no longer exists "
                                          "on the target", error.fields)
                    oc.errors += 1
                    outcomes.append(Outcome(name, source_of.get(tid), tid, "rollback_failed", error, "rollback"))
                    self._emit(RecordFailed, object=name, source_id=source_of.get(tid), target_id=tid,
                               status_code=error.status_code, message=error.message, fields=tuple(error.fields))
                oc.processed += 1
            with self.journal.transaction():
                self.journal.record_outcomes(job_id, run_id, outcomes)
                self.journal.set_object_counts(run_id, name, oc)
            self._emit(BatchDone, object=name, counts=oc, totals=_total(counts))

        send_batches(_chunks(items, BULK_BATCH if bulk else 200), depth=_depth(template),
                     prepare=prepare, send=send, finish=finish)

    def _check_cancel(self) -> None:
        if self.cancel.cancelled:
            raise _Stop(self.cancel.reason or "aborted by the user")


def _total(counts: dict[str, ObjectCounts]) -> ObjectCounts:
    total = ObjectCounts()
    for oc in counts.values():
        total = add_counts(total, oc)
    return total


class _Run:
    """One sync/resync/retry run: the state that lives only while it runs."""

    def __init__(self, engine: SyncEngine, job_id: int, run_id: int, plan: Plan, template: Template, *,
                 skip: set[str] | None, only: set[str] | None):
        self.engine = engine
        self.journal = engine.journal
        self.source = engine.source
        self.target = engine.target
        self.job_id = job_id
        self.run_id = run_id
        self.plan = plan
        self.template = template
        self.skip = skip or set()
        self.only = only
        self.batch = template.batch_size
        # Write batches out at once: one at a time when the run must stop at the first failed record.
        self.depth = template.in_flight if template.continue_on_error else 1
        self.counts: dict[str, ObjectCounts] = {}
        self.id_map: dict[str, str] = {}
        self.failed: dict[str, str] = {}          # source id -> why it failed (for its children's errors)
        self.not_inserted: set[str] = set()       # source ids skipped because insert is off
        self.user_map: dict[str, str] = {}
        self.rt_map: dict[str, str | None] = {}
        self.rt_names: dict[str, str] = {}
        self.synced: dict[str, list[_Pending]] = defaultdict(list)   # object -> records that reached the target
        self.live_targets: dict[str, dict[str, dict[str, Any]]] = {}  # object -> target id -> row
        self.external_ok: dict[str, set[str]] = {}
        self.notices: set[str] = set()
        self.carried: set[str] = set()            # source ids done in an earlier run: second pass only

    # ------------------------------------------------------------------ preparation
    def prepare(self) -> None:
        self.id_map = self.journal.id_map(self.engine.source_ref.org_id, self.engine.target_ref.org_id)
        kinds = {ref.kind for p in self.plan.objects.values() for ref in p.refs.values()}
        if "user" in kinds:
            self._map_users()
        if "recordtype" in kinds:
            self._map_record_types()

    def _notice(self, text: str) -> None:
        if text not in self.notices:
            self.notices.add(text)
            self.engine._emit(Notice, text=text)

    def _map_users(self) -> None:
        source_users = self.source.query(SOURCE_USER_SOQL)
        matches = match_users(source_users, self.target.query(TARGET_USER_SOQL))
        try:
            running = self.target.user_info().get("user_id")
        except Exception:  # userinfo is a convenience; an org without it falls back below
            running = None
        for user in source_users:
            match = matches[user["Id"]]
            target_id = match["Id"] if match else None
            if target_id is None:
                target_id = running
                self._notice(f"user {user.get('Username')} does not exist in the target org; "
                             "their records go to the running user")
            if target_id:
                self.user_map[user["Id"]] = target_id

    def _map_record_types(self) -> None:
        source_rts = self.source.query("SELECT Id, DeveloperName, SobjectType FROM RecordType")
        target_rts = self.target.query("SELECT Id, DeveloperName, SobjectType FROM RecordType")
        index = {(r["SobjectType"], r["DeveloperName"]): r["Id"] for r in target_rts}
        for rt in source_rts:
            self.rt_map[rt["Id"]] = index.get((rt["SobjectType"], rt["DeveloperName"]))
            self.rt_names[rt["Id"]] = f"{rt['SobjectType']}.{rt['DeveloperName']}"

    # ------------------------------------------------------------------ the run
    def execute(self) -> None:
        order = self.plan.order
        # in_flight 2+: the next object's source records are read (a read-only call to the source org)
        # while this object's batches go to the target; writes stay one batch at a time, parents first.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isyncsf-read") \
            if self.template.in_flight > 1 and len(order) > 1 else None
        self._ahead: dict[str, Future[list[dict[str, Any]]]] = {}
        try:
            for index, name in enumerate(order, start=1):
                self.engine._check_cancel()
                self.engine._api_ceiling_check(self.template)
                self._sync_object(name, index, len(order), order[index] if pool and index < len(order) else None,
                                  pool)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
        self._deferred_pass()
        for name in order:
            oc = self.counts.get(name)
            if oc is not None:
                oc.status = "Completed"
                self.journal.set_object_counts(self.run_id, name, oc)

    def _read_source(self, oplan: ObjectPlan) -> list[dict[str, Any]]:
        paths = self._source_columns(oplan)
        select = ", ".join(sorted(paths))
        where = [f"({oplan.filter})"] if oplan.filter else []
        include_deleted = self.template.include_deleted
        if self.only is not None:
            ids = sorted(self.only)
            records: list[dict[str, Any]] = []
            for chunk in _chunks(ids, 300):
                clause = " AND ".join(where + [f"Id IN ({', '.join(_quote(i) for i in chunk)})"])
                records += self.source.query(f"SELECT {select} FROM {oplan.object} WHERE {clause}",
                                             include_deleted=include_deleted)
            return records
        # related subsets, delta sync, deleted records, sort and limit: engine/scope.py
        if not hasattr(self, "_scope_ids"):
            self._scope_ids: dict[str, list[str]] = {}
            self._since = scope.delta_since(self.template, self.journal, self.engine.source_ref.org_id,
                                            self.engine.target_ref.org_id)
            if self._since:
                self._notice(f"delta sync: only records changed since {self._since} (deletions are not copied)")
        if scope.has_related(self.plan):
            if not hasattr(self, "_selected"):
                self._selected, added = scope.select_related(
                    self.source.query, self.plan, self._source_columns, since=self._since,
                    include_deleted=include_deleted, known=lambda i: self._since is not None and i in self.id_map,
                    reader=lambda name: _reader(self.source, self.template, name))
                for parent, number in sorted(added.items()):
                    self._notice(f"{number} {parent} record(s) outside the subset were added: records of the "
                                 "subset point at them")
            return self._selected.pop(oplan.object, [])
        return scope.read_records(_reader(self.source, self.template, oplan.object), self.plan, oplan, paths,
                                  self._scope_ids, since=self._since, include_deleted=include_deleted)

    @staticmethod
    def _source_columns(oplan: ObjectPlan) -> set[str]:
        return {"Id", *oplan.fields, *oplan.match_by}

    def _read_target(self, oplan: ObjectPlan, records: list[dict[str, Any]] | None = None) -> dict[str, dict[str, Any]]:
        """The target records of ``oplan``'s object, by id. Either all of them (in REST pages, or a
        Bulk query when big), or, when it costs fewer calls, only those ``records`` can match: by
        their match key in IN-chunks, and by the target ids the id map already knows."""
        paths = {"Id", *oplan.update_fields, *oplan.insert_fields, *oplan.match_by}
        select = f"SELECT {', '.join(sorted(paths))} FROM {oplan.object}"
        by_key = self._by_key_reads(oplan, select, records) if records is not None else None
        large = getattr(self.target, "query_large", None)
        if by_key is not None and by_key[0] <= 1:
            rows = by_key[1]()    # one query at most (none for no records): cheaper than any page count
        elif by_key is not None and large is not None:
            rows = large(select, bulk_from=self.template.bulk_threshold(oplan.object), instead=by_key)
        else:
            rows = _reader(self.target, self.template, oplan.object)(select)
        return {row["Id"]: row for row in rows}

    def _by_key_reads(self, oplan: ObjectPlan, select: str,
                      records: list[dict[str, Any]]) -> tuple[int, Any] | None:
        """(calls, read) for reading only the target records that ``records`` can match, or None
        when the match key is not one plain text field (then all target records are read)."""
        if len(oplan.match_by) != 1 or "." in oplan.match_by[0] or oplan.match_by[0] in oplan.refs \
                or oplan.field_types.get(oplan.match_by[0], "string") not in KEY_TYPES:
            return None
        field_name = oplan.match_by[0]
        keys = sorted({str(r[field_name]).strip() for r in records if isinstance(r.get(field_name), str)
                       and r[field_name].strip()})
        known = sorted({self.id_map[r["Id"]] for r in records if r["Id"] in self.id_map})
        # one query per chunk of quoted values: "Id IN (...) OR Key IN (...)", both lists in one budget
        clauses: list[str] = []
        lists: dict[str, list[str]] = {}
        size = 0
        for column, value in [("Id", v) for v in known] + [(field_name, v) for v in keys]:
            if lists and size + len(value) + 4 > KEY_CHUNK_CHARS:
                clauses.append(_or_in(lists))
                lists, size = {}, 0
            lists.setdefault(column, []).append(_quote(value))
            size += len(value) + 4
        if lists:
            clauses.append(_or_in(lists))

        def read() -> list[dict[str, Any]]:
            rows: dict[str, dict[str, Any]] = {}
            for clause in clauses:
                for row in self.target.query(f"{select} WHERE {clause}"):
                    rows[row["Id"]] = row
            return list(rows.values())
        return len(clauses), read

    def _match_key(self, record: dict[str, Any], oplan: ObjectPlan, *, on_target: bool) -> tuple[Any, ...] | None:
        parts = []
        for path in oplan.match_by:
            value = path_value(record, path)
            ref = oplan.refs.get(path)
            if ref is not None and value is not None and not on_target:
                value = self._map_reference(ref, value)
            value = match_value(value)
            if value is None:
                return None
            parts.append(value)
        return tuple(parts)

    def _map_reference(self, ref: Any, source_value: str) -> str | None:
        if ref.kind == "user":
            return self.user_map.get(source_value)
        if ref.kind == "recordtype":
            return self.rt_map.get(source_value)
        if ref.kind == "template":
            return self.id_map.get(source_value)
        return source_value

    def _carry(self, name: str, records: list[dict[str, Any]],
               targets: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
        """Records that succeeded in an earlier run of the job (resync) are not sent again, but go to
        the second pass, which sets the lookups it defers; the rest is returned to be processed. A
        record whose target record is gone is processed again."""
        if not self.skip:
            return records
        rest = []
        for record in records:
            target_id = self.id_map.get(record["Id"]) if record["Id"] in self.skip else None
            if target_id is not None and target_id in targets:
                self.carried.add(record["Id"])
                self.synced[name].append(_Pending(record, target_id))
            else:
                rest.append(record)
        return rest

    def _sync_object(self, name: str, index: int, count: int, after: str | None = None,
                     pool: ThreadPoolExecutor | None = None) -> None:
        oplan = self.plan.objects[name]
        ahead = self._ahead.pop(name, None)
        records = ahead.result() if ahead is not None else self._read_source(oplan)
        if after is not None and pool is not None:
            self._ahead[after] = pool.submit(self._read_source, self.plan.objects[after])
        targets = self._read_target(oplan, records)
        self.live_targets[name] = targets
        records = self._carry(name, records, targets)
        oc = self.counts.setdefault(name, ObjectCounts(total=len(records), status="Executing"))
        self.engine._emit(ObjectStarted, object=name, index=index, count=count, total=len(records))
        # Records of a create batch whose answer was lost (a crash): find what the org saved.
        wanted = self.journal.in_flight(self.job_id, name).get(name, {})
        wanted = {r["Id"]: wanted[r["Id"]] if wanted[r["Id"]] is not None else self._match_key(
            r, oplan, on_target=False) for r in records if r["Id"] in wanted}
        in_flight = claim_in_flight(wanted, targets, oplan.match_by,
                                    self.journal.known_target_ids(self.job_id, name)) if wanted else {}
        claimed = set(in_flight.values())
        index_by_key: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for target_id, row in targets.items():
            key = self._match_key(row, oplan, on_target=True)
            if key is not None and target_id not in claimed:
                index_by_key[key].append(target_id)
        self._check_external(oplan, records)
        # Self-lookup hierarchies: parents before children, level by level.
        levels = self._levels(oplan, records)
        for level in levels:
            inserts: list[_Pending] = []
            updates: list[_Pending] = []
            outcomes: list[Outcome] = []
            for record in level:
                pending = _Pending(record)
                if record["Id"] in in_flight:
                    # Created by this job in a batch whose answer was lost (crash, dropped connection).
                    pending.target_id = self.id_map[record["Id"]] = in_flight[record["Id"]]
                    outcomes.append(Outcome(name, record["Id"], pending.target_id, "inserted"))
                    oc.inserted += 1
                    oc.processed += 1
                    self.synced[name].append(pending)
                    continue
                target_id = self.id_map.get(record["Id"])
                if target_id not in targets:
                    target_id = None
                if target_id is None:
                    key = self._match_key(record, oplan, on_target=False)
                    candidates = index_by_key.get(key, []) if key is not None else []
                    if len(candidates) > 1:
                        outcomes.append(self._fail(name, record["Id"], None, ErrorInfo(
                            DUPLICATE_MATCH, f"{len(candidates)} target records match "
                            f"{'+'.join(oplan.match_by)} = {' + '.join(str(k) for k in key or ())}: "
                            f"{', '.join(candidates[:5])}; make the match key unique", list(oplan.match_by))))
                        continue
                    target_id = candidates[0] if candidates else None
                pending.target_id = target_id
                try:
                    pending.payload = self._transform(oplan, record, for_insert=target_id is None)
                except _RecordProblem as problem:
                    outcomes.append(self._fail(name, record["Id"], target_id, problem.error, root=problem.root))
                    continue
                if target_id is None:
                    if oplan.insert:
                        inserts.append(pending)
                    else:
                        self.not_inserted.add(record["Id"])
                        outcomes.append(Outcome(name, record["Id"], None, "skipped"))
                        oc.processed += 1
                    continue
                current = targets[target_id]
                changed = {f: v for f, v in pending.payload.items() if f in oplan.update_fields
                           and not same(v, current.get(f), oplan.field_types.get(f, "string"))}
                self.id_map[record["Id"]] = target_id
                if changed and oplan.update:
                    pending.payload = changed
                    pending.prior = {f: current.get(f) for f in changed}
                    updates.append(pending)
                else:
                    outcomes.append(Outcome(name, record["Id"], target_id, "existing"))
                    oc.existing += 1
                    oc.processed += 1
                    self.synced[name].append(pending)
            if outcomes:
                self._flush(name, outcomes)
            self._insert(name, oplan, inserts, targets, index_by_key)
            self._update(name, oplan, updates, targets)
        oc.status = "Completed" if not oplan.deferred_refs else "Awaiting second pass"
        self.journal.set_object_counts(self.run_id, name, oc)
        self.engine._emit(ObjectFinished, object=name, counts=oc)

    def _levels(self, oplan: ObjectPlan, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        self_refs = [r for r in oplan.self_refs if not r.deferred]
        if not self_refs:
            return [records]
        in_run = {r["Id"] for r in records}
        placed: set[str] = set()
        remaining = list(records)
        levels: list[list[dict[str, Any]]] = []
        while remaining:
            level, rest = [], []
            for record in remaining:
                parents = [record.get(ref.field) for ref in self_refs]
                if all(p is None or p not in in_run or p in placed or p == record["Id"] for p in parents):
                    level.append(record)
                else:
                    rest.append(record)
            if not level:  # the data itself has a cycle: those records get the lookup in the second pass
                for record in rest:
                    record["__cycle__"] = True
                level, rest = rest, []
            placed.update(r["Id"] for r in level)
            levels.append(level)
            remaining = rest
        return levels

    def _check_external(self, oplan: ObjectPlan, records: list[dict[str, Any]]) -> None:
        """Lookups to objects outside the template are kept only where the record exists on the target."""
        for ref in oplan.refs.values():
            if ref.kind != "external" and not (ref.kind == "template" and len(ref.parents) > 1):
                continue
            wanted = {r[ref.field] for r in records if r.get(ref.field)}
            wanted -= self.external_ok.setdefault(ref.field, set())
            by_object: dict[str, list[str]] = defaultdict(list)
            for value in wanted:
                for parent in ref.parents:
                    by_object[parent].append(value)
            for parent, values in by_object.items():
                if parent not in self.target.object_names():
                    continue
                for chunk in _chunks(sorted(values), 300):
                    rows = self.target.query(
                        f"SELECT Id FROM {parent} WHERE Id IN ({', '.join(_quote(v) for v in chunk)})")
                    self.external_ok[ref.field].update(r["Id"] for r in rows)

    def _transform(self, oplan: ObjectPlan, record: dict[str, Any], *, for_insert: bool) -> dict[str, Any]:
        allowed = oplan.insert_fields if for_insert else oplan.update_fields
        payload: dict[str, Any] = {}
        for name in allowed:
            value = record.get(name)
            ref = oplan.refs.get(name)
            if ref is None:
                if for_insert and value is None:
                    continue
                payload[name] = value
                continue
            if ref.deferred or (ref.self_ref and record.get("__cycle__")):
                continue  # filled in the second pass
            if value is None:
                if not for_insert:
                    payload[name] = None
                continue
            mapped = self._resolve(oplan, ref, record, value)
            if mapped is _OMIT:
                continue
            payload[name] = mapped
        return payload

    def _resolve(self, oplan: ObjectPlan, ref: Any, record: dict[str, Any], value: str) -> Any:
        if ref.kind == "user":
            mapped = self.user_map.get(value)
            return mapped if mapped else _OMIT
        if ref.kind == "recordtype":
            if value not in self.rt_map:
                return _OMIT
            mapped = self.rt_map[value]
            if mapped is None:
                raise _RecordProblem(ErrorInfo(RECORD_TYPE_NOT_FOUND, f"record type {self.rt_names.get(value)} does "
                                               "not exist in the target org", [ref.field]))
            return mapped
        if ref.kind == "external":
            return value if value in self.external_ok.get(ref.field, set()) else _OMIT
        mapped = self.id_map.get(value)
        if mapped:
            return mapped
        if value in self.external_ok.get(ref.field, set()):
            return value  # polymorphic lookup to a record outside the template that the target has
        parent_object = next((p for p in ref.parents if p in self.plan.objects), ref.parents[0])
        label = f"{parent_object} {value} ({ref.field})"
        if ref.field in oplan.exclude_parents and value not in self.failed and value not in self.not_inserted:
            self._notice(f"{oplan.object}.{ref.field} is excluded from parent discovery: it is left empty where "
                         "its parent is not in the run")
            return _OMIT
        if value in self.failed:
            root = self.failed[value]   # the first failure up the chain, not a chain of "parent failed"
            raise _RecordProblem(ErrorInfo(PARENT_FAILED, f"parent {label} failed: {root}", [ref.field]), root)
        if value in self.not_inserted:
            raise _RecordProblem(ErrorInfo(PARENT_NOT_SYNCED, f"parent {label} is not in the target org and "
                                           "inserting new records is off for it", [ref.field]))
        raise _RecordProblem(ErrorInfo(PARENT_NOT_SYNCED, f"parent {label} was not synced (it is outside the "
                                       "template's filter or failed in an earlier run)", [ref.field]))

    def _fail(self, name: str, source_id: str | None, target_id: str | None, error: ErrorInfo,
              phase: str = "sync", root: str | None = None) -> Outcome:
        oc = self.counts[name]
        oc.errors += 1
        oc.processed += 1
        if source_id:
            self.failed[source_id] = root or f"{error.status_code}: {error.message}"
        self.engine._emit(RecordFailed, object=name, source_id=source_id, target_id=target_id,
                          status_code=error.status_code, message=error.message, fields=tuple(error.fields))
        return Outcome(name, source_id, target_id, "failed", error, phase)

    def _flush(self, name: str, outcomes: list[Outcome]) -> None:
        """Journal the outcomes, tell the observer, then honour abort and stop-at-first-error."""
        oc = self.counts[name]
        with self.journal.transaction():   # the batch's outcomes and its counts: one commit
            if outcomes:
                self.journal.record_outcomes(self.job_id, self.run_id, outcomes)
            self.journal.set_object_counts(self.run_id, name, oc)
        heap.settle()     # what the run holds now is long-lived: the collector stops walking it
        self.engine._emit(BatchDone, object=name, counts=oc, totals=_total(self.counts))
        if not self.template.continue_on_error and any(o.status == "failed" for o in outcomes):
            raise _Stop(STOPPED)
        self.engine._check_cancel()
        self.engine._api_ceiling_check(self.template)

    def _insert(self, name: str, oplan: ObjectPlan, pending: list[_Pending], targets: dict[str, dict[str, Any]],
                index_by_key: dict[tuple[Any, ...], list[str]]) -> None:
        bulk = _use_bulk(self.target, self.template, name, len(pending))
        lost: list[list[_Pending]] = []

        def prepare(chunk: list[_Pending]) -> None:
            # Write-ahead: if the process dies while this batch (or Bulk job) is out, the next run
            # knows that whatever it finds on the target for these records was created by this job.
            self.journal.record_outcomes(self.job_id, self.run_id, [
                Outcome(name, p.source["Id"], None, "sending",
                        match_key=key_json(self._match_key({**p.source, **p.payload}, oplan, on_target=True)))
                for p in chunk])

        def send(chunk: list[_Pending]) -> list[dict[str, Any]] | None:
            if bulk:
                return _bulk_write(self.target, self.journal, self.job_id, name, "insert", [p.payload for p in chunk])
            try:
                return self.target.create([{"attributes": {"type": name}, **p.payload} for p in chunk])
            except Exception as exc:
                if type(exc).__name__ != "ConnectionLost":
                    raise
                return None      # the org may have saved the batch: looked at once the others are in

        def finish(chunk: list[_Pending], results: list[dict[str, Any]] | None) -> None:
            if results is None:
                lost.append(chunk)
            else:
                self._inserted(name, chunk, results, targets)

        send_batches(_chunks(pending, BULK_BATCH if bulk else self.batch), depth=self.depth,
                     prepare=prepare, send=send, finish=finish)
        for chunk in lost:   # every other batch of the level is answered now: what is left is this one's
            self._inserted(name, chunk, self._recover_lost_create(name, oplan, chunk), targets)

    def _inserted(self, name: str, chunk: list[_Pending], results: list[dict[str, Any]],
                  targets: dict[str, dict[str, Any]]) -> None:
        outcomes = []
        oc = self.counts[name]
        for item, result in zip(chunk, results):
            source_id = item.source["Id"]
            if result.get("success"):
                item.target_id = result["id"]
                self.id_map[source_id] = result["id"]
                item.payload["Id"] = result["id"]    # sent already: the row as the target has it now
                targets[result["id"]] = item.payload
                oc.inserted += 1
                oc.processed += 1
                outcomes.append(Outcome(name, source_id, result["id"], "inserted"))
                self.synced[name].append(item)
            else:
                outcomes.append(self._fail(name, source_id, None, _first_error(result)))
        self._flush(name, outcomes)

    def _recover_lost_create(self, name: str, oplan: ObjectPlan, chunk: list[_Pending]) -> list[dict[str, Any]]:
        """The connection dropped during a create, after the org may have committed: find what it kept
        (records with the batch's keys that no answered batch created), create the rest."""
        logger.warning("connection lost during a create of %s %s records; checking what the org kept",
                       len(chunk), name)
        self._notice(f"the connection to the target dropped while creating {name} records; the engine checked "
                     "which were saved so none is created twice")
        records = [{"attributes": {"type": name}, **p.payload} for p in chunk]
        current = self._read_target(oplan, [p.source for p in chunk])
        known = set(self.live_targets.get(name, {}))
        fresh: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for target_id, row in current.items():
            if target_id in known:
                continue
            key = self._match_key(row, oplan, on_target=True)
            if key is not None:
                fresh[key].append(target_id)
        results: list[dict[str, Any] | None] = []
        resend: list[int] = []
        for position, item in enumerate(chunk):
            key = self._match_key({**item.source, **item.payload}, oplan, on_target=True)
            hits = fresh.get(key, []) if key is not None else []
            if len(hits) == 1:
                results.append({"id": hits.pop(), "success": True, "errors": []})
            else:
                results.append(None)
                resend.append(position)
        if resend:
            again = self.target.create([records[p] for p in resend])
            for position, result in zip(resend, again):
                results[position] = result
        return [r for r in results if r is not None]

    def _update(self, name: str, oplan: ObjectPlan, pending: list[_Pending], targets: dict[str, dict[str, Any]]) -> None:
        bulk = _use_bulk(self.target, self.template, name, len(pending))

        def prepare(chunk: list[_Pending]) -> None:
            if self.template.versioning:
                self.journal.save_versions(self.job_id, self.run_id, name,
                                           {p.target_id: p.prior or {} for p in chunk if p.target_id})

        def send(chunk: list[_Pending]) -> list[dict[str, Any]]:
            return _update_records(self.target, self.journal, self.job_id, self.template, name,
                                   [{"Id": p.target_id, **p.payload} for p in chunk])

        def finish(chunk: list[_Pending], results: list[dict[str, Any]]) -> None:
            outcomes = []
            oc = self.counts[name]
            for item, result in zip(chunk, results):
                source_id = item.source["Id"]
                if result.get("success"):
                    targets[item.target_id] = {**targets.get(item.target_id, {}), **item.payload}
                    oc.updated += 1
                    oc.processed += 1
                    outcomes.append(Outcome(name, source_id, item.target_id, "updated"))
                    self.synced[name].append(item)
                else:
                    outcomes.append(self._fail(name, source_id, item.target_id, _first_error(result)))
            self._flush(name, outcomes)

        send_batches(_chunks(pending, BULK_BATCH if bulk else self.batch), depth=self.depth,
                     prepare=prepare, send=send, finish=finish)

    # ------------------------------------------------------------------ second pass
    def _deferred_pass(self) -> None:
        for name in self.plan.order:
            oplan = self.plan.objects[name]
            refs = [r for r in oplan.refs.values() if r.deferred or r.self_ref]
            if not refs:
                continue
            updates: list[_Pending] = []
            outcomes: list[Outcome] = []
            targets = self.live_targets.get(name, {})
            for item in self.synced.get(name, []):
                record = item.source
                carried = record["Id"] in self.carried
                fields = [r for r in refs if r.deferred or record.get("__cycle__") or carried]
                if not fields:
                    continue
                payload: dict[str, Any] = {}
                try:
                    for ref in fields:
                        if ref.field not in oplan.update_fields:
                            continue
                        value = record.get(ref.field)
                        if value is None:
                            continue
                        payload[ref.field] = self._resolve(oplan, ref, record, value)
                except _RecordProblem as problem:
                    outcomes.append(self._fail(name, record["Id"], item.target_id, problem.error, "deferred",
                                               problem.root))
                    continue
                payload = {k: v for k, v in payload.items() if v is not _OMIT}
                current = targets.get(item.target_id or "", {})
                changed = {f: v for f, v in payload.items()
                           if not same(v, current.get(f), oplan.field_types.get(f, "reference"))}
                if changed and item.target_id:
                    updates.append(_Pending(record, item.target_id, changed, {f: current.get(f) for f in changed}))
            if outcomes:
                self._flush(name, outcomes)
            inserted_now = {o.target_id for o in self.journal.records(self.job_id, name, ["inserted"])} \
                if updates and self.template.versioning else set()
            self._second_pass_updates(name, updates, targets, inserted_now)

    def _second_pass_updates(self, name: str, updates: list[_Pending], targets: dict[str, dict[str, Any]],
                             inserted_now: set[str | None]) -> None:
        bulk = _use_bulk(self.target, self.template, name, len(updates))

        def prepare(chunk: list[_Pending]) -> None:
            if self.template.versioning:   # records this job inserted have nothing to restore
                self.journal.save_versions(self.job_id, self.run_id, name, {
                    p.target_id: p.prior or {} for p in chunk if p.target_id and p.target_id not in inserted_now})

        def send(chunk: list[_Pending]) -> list[dict[str, Any]]:
            return _update_records(self.target, self.journal, self.job_id, self.template, name,
                                   [{"Id": p.target_id, **p.payload} for p in chunk])

        def finish(chunk: list[_Pending], results: list[dict[str, Any]]) -> None:
            fails = []
            for item, result in zip(chunk, results):
                if result.get("success"):
                    targets[item.target_id] = {**targets.get(item.target_id, {}), **item.payload}
                else:
                    fails.append(self._fail(name, item.source["Id"], item.target_id, _first_error(result), "deferred"))
            self._flush(name, fails)

        send_batches(_chunks(updates, BULK_BATCH if bulk else self.batch), depth=self.depth,
                     prepare=prepare, send=send, finish=finish)


class _Omit:
    def __repr__(self) -> str:
        return "<omit>"


_OMIT: Any = _Omit()


class _RecordProblem(Exception):
    def __init__(self, error: ErrorInfo, root: str | None = None):
        super().__init__(error.message)
        self.error = error
        self.root = root
