"""What every part of a run shares: the journal, the two orgs, the observer, the cancel token, the run's
clock, and the small helpers for events, states, stops and writes.

The engine facade (:mod:`.engine`) owns one :class:`RunContext`; the first pass, the second pass, the
rollback and the recovery of what a crash left work through it and never through each other's insides.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from .. import estimate, progress
from ..eta import Eta
from ..events import BatchDone, BulkJobProgress, CancelToken, Event, Observer, RunResult, StateChanged, add_counts
from ..journal import ErrorInfo, Journal, ObjectCounts, OrgRef
from ..lifecycle import JobState, ObjectStatus, RecordStatus, RunKind, RunStatus
from ..orgapi import OrgApi
from ..template import Template

logger = logging.getLogger(__name__)

SUCCESS: tuple[RecordStatus, ...] = (RecordStatus.INSERTED, RecordStatus.UPDATED, RecordStatus.EXISTING)
PARENT_FAILED = "PARENT_FAILED"
PARENT_NOT_SYNCED = "PARENT_NOT_SYNCED"
DUPLICATE_MATCH = "DUPLICATE_MATCH"
RECORD_TYPE_NOT_FOUND = "RECORD_TYPE_NOT_FOUND"
OWNER_NOT_MAPPED = "OWNER_NOT_MAPPED"
PICKLIST_NOT_MAPPED = "PICKLIST_NOT_MAPPED"     # a picklist mapping names a value the target's picklist lacks
STRING_TOO_LONG = "STRING_TOO_LONG"     # a text longer than its target field: refused before it is sent
PERSON_ACCOUNT_FIELDS_MISSING = "PERSON_ACCOUNT_FIELDS_MISSING"   # a new person account without RecordTypeId/LastName
NOT_STARTED = ObjectStatus.NOT_STARTED
HALTED = "another object written at the same time stopped the run"
STOPPED = "continue on error is off: the sync stopped at the first failed record"
GONE = ("ENTITY_IS_DELETED", "INVALID_CROSS_REFERENCE_KEY")
"""Status codes of a write to a record that no longer exists on the target."""

# Records per Bulk API write: each such batch is written ahead and journaled as one, and goes up as one ingest job.
# Every job costs four calls (open, upload, close, results) and its looks whatever its size, so fewer, bigger jobs
# cost fewer calls (Salesforce splits a job into internal batches of 10,000 rows that it runs in parallel itself);
# 80,000 rows of a few fields are some 10 MB of CSV, well under a job's 100 MB.
BULK_BATCH = 80_000
COLLECTIONS_BATCH = 200    # records per delete or restore batch of a rollback (sObject Collections)


class EngineError(Exception):
    """The job cannot run (wrong state, bad template, an org refused): a message for the user."""


class TargetBusyError(EngineError):
    """Another job is writing to the target org (the message names it)."""


class Stop(Exception):
    """End the run early (abort, stop at the first error, or pause: ``status``); the run ends Aborted."""

    def __init__(self, message: str, status: RunStatus = RunStatus.ABORTED):
        super().__init__(message)
        self.message = message
        self.status = status


def chunks(items: list[Any], size: int) -> Iterable[list[Any]]:
    """``items`` in lists of at most ``size``."""
    for start in range(0, len(items), size):
        yield items[start:start + size]


def quote(value: str) -> str:
    """A SOQL string literal."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def first_error(result: dict[str, Any]) -> ErrorInfo:
    """The first error of a failed write result, as the journal keeps it."""
    errors = result.get("errors") or [{}]
    first = errors[0]
    return ErrorInfo(first.get("statusCode") or first.get("errorCode") or "UNKNOWN_EXCEPTION",
                     first.get("message") or "the org gave no reason", list(first.get("fields") or []))


def total(counts: dict[str, ObjectCounts]) -> ObjectCounts:
    """The counts of all objects of a run added up."""
    result = ObjectCounts()
    for oc in list(counts.values()):    # a copy: another object's stream may add its counts meanwhile
        result = add_counts(result, oc)
    return result


_SAME_IN_JSON = (str, int, bool, type(None))
"""Values a JSON round trip gives back unchanged (text, whole numbers, booleans, null)."""


def key_json(key: tuple[Any, ...] | None) -> tuple[Any, ...] | None:
    """A match key as the journal stores it (JSON round trip), so keys compare across runs. A key of text,
    whole numbers, booleans and nulls (nearly every key: an email, an external id) is that already, and is
    not encoded and decoded again (a write-ahead entry per record: some 0.1 s of a 10,000-record run)."""
    if key is None:
        return None
    if all(value.__class__ in _SAME_IN_JSON for value in key):
        return tuple(key)
    return tuple(json.loads(json.dumps(list(key), default=str)))


def depth(template: Template | None) -> int:
    """Batches out at once: the template's ``in_flight``; one at a time without a template this version reads."""
    return template.in_flight if template is not None else 1


def reader(client: OrgApi, template: Template, object_name: str) -> Callable[..., list[dict[str, Any]]]:
    """``client.query`` for reads of ``object_name``; one that switches to a Bulk API 2.0 query when
    the answer is big (past the object's bulk threshold, and cheaper in calls than REST pages)."""
    threshold = template.bulk_threshold(object_name)
    large = getattr(client, "query_large", None)
    if not threshold or large is None:
        return client.query

    def query(soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        return large(soql, include_deleted=include_deleted, bulk_from=threshold)
    return query


def page_reader(client: OrgApi, template: Template,
                object_name: str) -> Callable[..., tuple[int, Iterator[list[dict[str, Any]]]]] | None:
    """:func:`reader` page by page: a query giving (how many records, their pages), each page read when the
    one before it is done with (a Bulk query's past the object's bulk threshold); None from a client that
    reads only whole answers."""
    pages = getattr(client, "query_pages", None)
    if pages is None:
        return None
    threshold = template.bulk_threshold(object_name) or 0

    def query(soql: str, *, include_deleted: bool = False, expected: int | None = None,
              page_rows: int | None = None) -> tuple[int, Iterator[list[dict[str, Any]]]]:
        result: tuple[int, Iterator[list[dict[str, Any]]]] = pages(
            soql, include_deleted=include_deleted, bulk_from=threshold, expected=expected, page_rows=page_rows)
        return result
    return query


def _write_stats(client: OrgApi) -> dict[str, Any] | None:
    """The client's :attr:`~...salesforce.client.OrgClient.write_stats` (None from one that keeps none)."""
    stats = getattr(client, "write_stats", None)
    return stats if isinstance(stats, dict) else None


def how_to_continue(job_id: int) -> str:
    """The sentence that ends the message of a run that stopped and can be resumed."""
    return (f"Nothing is lost: continue with Start ReSync (`isyncsf resync {job_id}`), or roll back with "
            f"Rollback (`isyncsf rollback {job_id}`).")


class RunContext:
    """The engine's shared pieces: the journal, the source and target orgs (and their journal refs), the
    observer of :class:`Event`, the cancel token, and the clock and API counts of the run under way."""

    def __init__(self, journal: Journal, source: OrgApi, target: OrgApi, source_ref: OrgRef, target_ref: OrgRef,
                 *, observer: Observer | None = None, cancel: CancelToken | None = None):
        self.journal = journal
        self.source = source
        self.target = target
        self.source_ref = source_ref
        self.target_ref = target_ref
        self.observer = observer
        self.cancel = cancel or CancelToken()
        self.job_id = 0
        self.started = time.monotonic()
        self.calls = (0, 0)
        self.writes_from: dict[str, Any] | None = None
        self._target_user: tuple[str | None] | None = None
        self._halted = threading.Event()
        self._times = Eta()     # what each object of the run took: the time-left prior of the job's next run

    # ------------------------------------------------------------------ events and states
    def emit(self, event_type: type[Event], **kwargs: Any) -> None:
        """Tell the observer (if any) an event of the run under way (and keep what each object took)."""
        event = event_type(job_id=self.job_id, elapsed=round(time.monotonic() - self.started, 3), **kwargs)
        self._times.observe(event)
        if self.observer is not None:
            self.observer(event)

    def set_state(self, job_id: int, state: JobState, status: RunStatus, message: str | None = None) -> None:
        """Move the job to ``state`` in the journal (which refuses a move the lifecycle does not allow) and say so."""
        self.journal.set_state(job_id, state, message)
        self.emit(StateChanged, state=state, status=status, message=message)

    def batch_done(self, name: str, oc: ObjectCounts, counts: dict[str, ObjectCounts]) -> None:
        """Tell the observer a batch of ``name`` is journaled: its counts and the run's totals so far."""
        self.emit(BatchDone, object=name, counts=oc, totals=total(counts))

    # ------------------------------------------------------------------ the run's clock
    def begin(self, job_id: int, *, keep_clock: bool = False) -> None:
        """Start the clock and the API counts of a run of ``job_id``."""
        if keep_clock and self.job_id == job_id:
            return  # a sync that scanned first: one clock and one API count for both
        self.job_id = job_id
        self.started = time.monotonic()
        self._times = Eta()
        self.calls = (self.source.api_calls, self.target.api_calls)
        self.writes_from = _write_stats(self.target)

    def result(self, job_id: int, run_id: int, kind: RunKind, state: JobState, status: RunStatus,
               counts: dict[str, ObjectCounts], message: str | None = None) -> RunResult:
        """What the run did, for the caller. A sync, resync or retry that wrote keeps what its writes took
        in the journal, for the estimates of later previews to that target org (:mod:`..estimate`)."""
        if kind in (RunKind.SYNC, RunKind.RESYNC, RunKind.RETRY):
            self._remember_writes(run_id)
        if kind == RunKind.SYNC and status == RunStatus.COMPLETED:
            self._remember_times(job_id)
        calls = {"source": self.source.api_calls - self.calls[0], "target": self.target.api_calls - self.calls[1]}
        return RunResult(job_id=job_id, run_id=run_id, kind=kind, state=state, status=status, objects=counts,
                         message=message, api_calls=calls, seconds=round(time.monotonic() - self.started, 3),
                         masked=self.journal.masked_counts(run_id=run_id))

    def end(self, job_id: int, run_id: int, kind: RunKind, state: JobState, status: RunStatus,
            counts: dict[str, ObjectCounts], message: str | None = None) -> RunResult:
        """Close the run in the journal, set the job's state, and say what the run did."""
        self.journal.finish_run(run_id, status)
        self.set_state(job_id, state, status, message)
        return self.result(job_id, run_id, kind, state, status, counts, message)

    def _remember_times(self, job_id: int) -> None:
        try:
            progress.remember_times(self.journal, job_id, self._times.measured())
        except Exception:   # noqa: BLE001 - a figure for later time-left estimates: the run's own result comes first
            logger.warning("the object timings of job %s were not kept", job_id, exc_info=True)

    def _remember_writes(self, run_id: int) -> None:
        after = _write_stats(self.target)
        if self.writes_from is None or after is None:
            return
        try:
            estimate.remember_run(self.journal, self.target_ref.org_id,
                                  estimate.WriteSample.between(run_id, self.writes_from, after))
        except Exception:   # noqa: BLE001 - a figure for later estimates: the run's own result comes first
            logger.warning("the write timings of run %s were not kept", run_id, exc_info=True)

    # ------------------------------------------------------------------ stops between batches
    def check_cancel(self) -> None:
        """Raise :class:`Stop` when the user (or the app) asked the run to end, or another stream of the run
        stopped it (:meth:`halt`); while the run is held (the user is asked whether to abort) wait here first,
        so no further batch goes out meanwhile."""
        self.cancel.gate()
        if self.cancel.cancelled:
            raise Stop(self.cancel.reason or "aborted by the user")
        if self._halted.is_set():
            raise Stop(HALTED)

    def halt(self) -> None:
        """One stream of a run writing several objects at once stopped on an error: the others stop at their
        next batch boundary (the run reports the first stream's error, not this stop)."""
        self._halted.set()

    def wait_halted(self, seconds: float) -> bool:
        """Wait up to ``seconds`` until a stream has halted the run; True once it has (for tests)."""
        return self._halted.wait(max(0.0, seconds))

    def resume(self) -> None:
        """Every stream has ended: the run's next steps check the cancel token only again."""
        self._halted.clear()

    def api_ceiling_check(self, template: Template) -> None:
        """Pause (between batches) when an org has used its share of the day's API requests."""
        for side, client in (("target", self.target), ("source", self.source)):
            usage = getattr(client, "api_usage", None)
            if not usage or not usage[1]:
                continue
            used, limit = usage
            if used / limit >= template.api_ceiling:
                raise Stop(f"paused: the {side} org {client.alias} has used {used:,} of its {limit:,} daily API "
                           f"requests ({used / limit:.0%}; the ceiling is {template.api_ceiling:.0%}). Continue when "
                           f"its usage is lower (it counts the last 24 hours) or raise the template's "
                           f"api_ceiling_percent. {how_to_continue(self.job_id)}", RunStatus.PAUSED)

    # ------------------------------------------------------------------ writes to the target
    def use_bulk(self, template: Template | None, object_name: str, count: int) -> bool:
        """Whether a write of ``count`` records of ``object_name`` goes through Bulk API 2.0 (never without a
        template this version can read)."""
        if template is None:
            return False
        threshold = template.bulk_threshold(object_name)
        return bool(threshold) and count >= threshold and hasattr(self.target, "bulk_ingest")

    def bulk_write(self, job_id: int, object_name: str, operation: str, records: list[dict[str, Any]],
                   on_collections: Callable[[list[int]], None] | None = None,
                   template: Template | None = None) -> list[dict[str, Any]]:
        """Bulk API 2.0 ingest with each job kept in the journal from the moment the org opened it until
        its results are in: after a crash the next run waits for the jobs the org went on with (the
        jobs that send locked rows again too: written ahead and journaled like the first).
        ``on_collections``: called with the positions of rows about to be sent again through
        Collections (rows the job found locked), before they go. Locked rows go again as a Bulk job while
        they are at least the ``template``'s Bulk threshold for the object, as any write does."""
        opened: list[str] = []
        opening: list[int] = []

        def on_opening() -> None:
            # Written ahead of the request that opens the job: if its id never reaches the journal (a kill,
            # a lost answer) the next run looks for the job in the org's job list (recovery.find_unknown_bulk_jobs).
            opening[:] = [self.journal.bulk_opening(job_id, None, object_name, operation, self.target_user_id())]

        def on_job(bulk_id: str) -> None:
            self.journal.open_bulk_job(job_id, object_name, operation, bulk_id, opening.pop() if opening else None)
            opened.append(bulk_id)

        def on_progress(bulk_id: str, processed: int, ended: bool) -> None:
            self.emit(BulkJobProgress, object=object_name, bulk_id=bulk_id, processed=processed, ended=ended)

        threshold = template.bulk_threshold(object_name) if template is not None else 0
        resend_from = threshold or None
        results = self.target.bulk_ingest(object_name, operation, records, on_job=on_job,
                                          on_collections=on_collections, on_opening=on_opening,
                                          on_progress=on_progress, resend_bulk_from=resend_from)
        self.journal.close_bulk_jobs(opened)
        return results

    def target_user_id(self) -> str | None:
        """The target org's user this engine writes as (who the org says created its Bulk jobs); asked once."""
        if self._target_user is None:
            try:
                user = self.target.user_info().get("user_id")
            except Exception:   # noqa: BLE001 - userinfo is a convenience: recovery then asks again
                logger.debug("the target org did not say who its API user is", exc_info=True)
                user = None
            self._target_user = (str(user) if user else None,)
        return self._target_user[0]

    def update_records(self, job_id: int, template: Template | None, object_name: str,
                       records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Update ``records`` (each with ``Id``): Bulk jobs when there are enough, else Collections."""
        if self.use_bulk(template, object_name, len(records)):
            return self.bulk_write(job_id, object_name, "update", records, template=template)
        return self.target.update([{"attributes": {"type": object_name}, **r} for r in records])


__all__ = ["BULK_BATCH", "COLLECTIONS_BATCH", "DUPLICATE_MATCH", "EngineError", "GONE", "HALTED", "NOT_STARTED",
           "OWNER_NOT_MAPPED", "PICKLIST_NOT_MAPPED", "PARENT_FAILED", "PARENT_NOT_SYNCED", "RECORD_TYPE_NOT_FOUND", "RunContext", "STOPPED", "STRING_TOO_LONG", "SUCCESS", "Stop",
           "TargetBusyError", "chunks", "depth", "first_error", "how_to_continue", "key_json", "quote", "reader",
           "total"]
