"""Rollback: delete what a job inserted (children first) and restore what it updated from the versions
saved before each update.

Records of a create batch whose answer was lost are found first (:mod:`.recovery`) and deleted too.
Each delete batch is written ahead (``deleting``), so a rollback interrupted after the org deleted a
batch counts those records as rolled back when it runs again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from ..events import ObjectFinished, ObjectStarted, RecordFailed, RunResult
from ..inflight import send_batches
from ..journal import ErrorInfo, JobRow, ObjectCounts, Outcome, RecordRow
from ..lifecycle import JobState, ObjectStatus, RecordStatus, RunKind, RunStatus
from ..plan import Plan
from ..template import Template, TemplateError, parse_template
from .context import BULK_BATCH, COLLECTIONS_BATCH, GONE, RunContext, Stop, chunks, depth, first_error, quote
from .files import DOCUMENT, LINK, ROLLBACK_ORDER, VERSION
from .recovery import reconcile_in_flight, settle_bulk_jobs

logger = logging.getLogger(__name__)

PHASE = "rollback"
FILE_PARTS = (DOCUMENT, LINK)
KIND = RunKind.ROLLBACK


class Rollback:
    """One rollback run of ``job`` (the caller checked that it may start, and holds the target's lock)."""

    def __init__(self, ctx: RunContext, job: JobRow):
        self.ctx = ctx
        self.journal = ctx.journal
        self.job_id = job.id
        self.plan = Plan.from_json(job.plan) if job.plan else None
        try:
            self.template: Template | None = parse_template(job.template)
        except TemplateError:
            self.template = None   # a template this version cannot read: Collections only
        self.counts: dict[str, ObjectCounts] = {}
        self.run_id = 0

    def execute(self) -> RunResult:
        ctx, job_id, counts = self.ctx, self.job_id, self.counts
        ctx.begin(job_id)
        ctx.set_state(job_id, JobState.ROLLBACK, RunStatus.INITIALIZING)
        self.run_id = run_id = self.journal.start_run(job_id, KIND)
        ctx.set_state(job_id, JobState.ROLLBACK_STARTED, RunStatus.EXECUTING)
        order = list(reversed(self.plan.order)) if self.plan else []
        inserted: dict[str, list[RecordRow]] = defaultdict(list)
        try:
            settle_bulk_jobs(ctx, job_id, run_id, self.plan, self.template)
            reconcile_in_flight(ctx, job_id, run_id, self.plan, self.template)
        except Stop as stop:
            return ctx.end(job_id, run_id, KIND, JobState.ABORTED, RunStatus.ABORTED, counts, stop.message)
        except Exception as exc:
            logger.exception("rollback of job %s could not look for records of an interrupted batch", job_id)
            return self._failed(f"the rollback failed before it deleted anything: {exc}")
        for row in self.journal.records(job_id):
            if row.created and row.target_id and row.status != RecordStatus.ROLLED_BACK:
                inserted[row.object].append(row)
        versions = inserted.pop(VERSION, [])   # deleted with their document, never by themselves
        files_first = [n for n in ROLLBACK_ORDER if n in inserted]   # before the records they hang on
        order = files_first + [n for n in order if n not in files_first]
        for name in list(inserted) + [n for n in order if n not in inserted]:
            if name not in order:
                order.append(name)
        try:
            for name in order:
                rows = inserted.get(name, [])
                if not rows:
                    continue
                if name in FILE_PARTS:   # counted as their files (ContentVersion), as the sync counted them
                    self._delete_inserted(name, rows, ObjectCounts(total=len(rows)), shown=False)
                    continue
                oc = counts.setdefault(name, ObjectCounts(total=len(rows), status=ObjectStatus.ROLLING_BACK))
                ctx.emit(ObjectStarted, object=name, index=order.index(name) + 1, count=len(order), total=len(rows))
                self._delete_inserted(name, rows, oc)
            self._restore_versions(order)
            if versions:
                self._versions_gone(versions)
        except Stop as stop:
            return ctx.end(job_id, run_id, KIND, JobState.ABORTED, RunStatus.ABORTED, counts, stop.message)
        except Exception as exc:
            logger.exception("rollback of job %s failed", job_id)
            return self._failed(f"the rollback failed: {exc}")
        for name, oc in counts.items():
            oc.status = ObjectStatus.ROLLED_BACK
            self.journal.set_object_counts(run_id, name, oc)
            ctx.emit(ObjectFinished, object=name, counts=oc)
        return ctx.end(job_id, run_id, KIND, JobState.ROLLBACK_COMPLETED, RunStatus.COMPLETED, counts)

    def _failed(self, message: str) -> RunResult:
        self.journal.finish_run(self.run_id, RunStatus.FAILED)
        self.ctx.set_state(self.job_id, JobState.ABORTED, RunStatus.FAILED, message)
        return self.ctx.result(self.job_id, self.run_id, KIND, JobState.ABORTED, RunStatus.FAILED, self.counts,
                               message)

    def _record_failed(self, name: str, source_id: str | None, target_id: str | None, error: ErrorInfo) -> None:
        self.ctx.emit(RecordFailed, object=name, source_id=source_id, target_id=target_id,
                      status_code=error.status_code, message=error.message, fields=tuple(error.fields))

    def _delete_inserted(self, name: str, rows: list[RecordRow], oc: ObjectCounts, shown: bool = True) -> None:
        """Delete the records the job inserted of one object, batches in flight as the template says. ``shown``
        False: the parts of files (documents, extra links), journaled but not a row of the run's counts."""
        ctx, job_id, run_id = self.ctx, self.job_id, self.run_id
        bulk = ctx.use_bulk(self.template, name, len(rows))

        def prepare(chunk: list[RecordRow]) -> None:
            ctx.check_cancel()
            # Write-ahead: a rollback killed after the org deleted this batch (or Bulk job) knows,
            # when it runs again, that "already deleted" means deleted by this rollback.
            self.journal.record_outcomes(job_id, run_id, [
                Outcome(name, r.source_id, r.target_id, RecordStatus.DELETING, phase=PHASE) for r in chunk])

        def send(chunk: list[RecordRow]) -> list[dict[str, Any]]:
            if bulk:
                return ctx.bulk_write(job_id, name, "delete", [{"Id": r.target_id} for r in chunk],
                                      template=self.template)
            return ctx.target.delete([r.target_id for r in chunk if r.target_id])

        def finish(chunk: list[RecordRow], results: list[dict[str, Any]]) -> None:
            outcomes = []
            for row, result in zip(chunk, results):
                gone = first_error(result).status_code in GONE if not result.get("success") else False
                if result.get("success") or (gone and row.status == RecordStatus.DELETING):
                    oc.deleted += 1
                    outcomes.append(Outcome(name, row.source_id, row.target_id, RecordStatus.ROLLED_BACK,
                                            phase=PHASE))
                else:
                    error = first_error(result)
                    if error.status_code in GONE:
                        error = ErrorInfo(error.status_code, "could not undo: the record is already deleted "
                                          "on the target", error.fields)
                    oc.errors += 1
                    outcomes.append(Outcome(name, row.source_id, row.target_id, RecordStatus.ROLLBACK_FAILED, error,
                                            PHASE))
                    self._record_failed(name, row.source_id, row.target_id, error)
                oc.processed += 1
            with self.journal.transaction():
                self.journal.record_outcomes(job_id, run_id, outcomes)
                self.journal.forget_target_ids(ctx.source_ref.org_id, ctx.target_ref.org_id,
                                               [o.target_id for o in outcomes
                                                if o.status == RecordStatus.ROLLED_BACK and o.target_id])
                if shown:
                    self.journal.set_object_counts(run_id, name, oc)
            if shown:
                ctx.batch_done(name, oc, self.counts)

        send_batches(chunks(rows, BULK_BATCH if bulk else COLLECTIONS_BATCH), depth=depth(self.template),
                     prepare=prepare, send=send, finish=finish)

    def _versions_gone(self, rows: list[RecordRow]) -> None:
        """The ContentVersions the job uploaded went with their documents: rolled back. One still on the target
        is a new version of a document that was there before the job (the org deletes a version only with its
        document): a rollback failure saying so."""
        ctx, name = self.ctx, VERSION
        oc = self.counts.setdefault(name, ObjectCounts(total=len(rows), status=ObjectStatus.ROLLING_BACK))
        ids = [r.target_id for r in rows if r.target_id]
        alive = {r["Id"] for chunk in chunks(ids, 100) for r in ctx.target.query(
            f"SELECT Id FROM ContentVersion WHERE Id IN ({', '.join(quote(str(i)) for i in chunk)})")}
        outcomes = []
        for row in rows:
            if row.target_id in alive:
                error = ErrorInfo("CANNOT_DELETE_VERSION", "a new version of a file that was on the target before "
                                  "the job: the org deletes a version only with its whole file, so it is kept")
                oc.errors += 1
                outcomes.append(Outcome(name, row.source_id, row.target_id, RecordStatus.ROLLBACK_FAILED, error, PHASE))
                self._record_failed(name, row.source_id, row.target_id, error)
            else:
                oc.deleted += 1
                outcomes.append(Outcome(name, row.source_id, row.target_id, RecordStatus.ROLLED_BACK, phase=PHASE))
            oc.processed += 1
        with self.journal.transaction():
            self.journal.record_outcomes(self.job_id, self.run_id, outcomes)
            self.journal.set_object_counts(self.run_id, name, oc)
        ctx.batch_done(name, oc, self.counts)

    def _restore_versions(self, order: list[str]) -> None:
        versions = self.journal.versions(self.job_id)
        done = {r.target_id for r in self.journal.records(
            self.job_id, statuses=[RecordStatus.RESTORED, RecordStatus.ROLLED_BACK])}
        by_object: dict[str, list[tuple[str, dict[str, Any]]]] = defaultdict(list)
        for target_id, (name, values) in versions.items():
            if target_id not in done:
                by_object[name].append((target_id, values))
        source_of = {r.target_id: r.source_id for r in self.journal.records(self.job_id)}
        for name in [n for n in order if n in by_object] + [n for n in by_object if n not in order]:
            oc = self.counts.setdefault(name, ObjectCounts(status=ObjectStatus.ROLLING_BACK))
            oc.total += len(by_object[name])
            self._restore_object(name, by_object[name], oc, source_of)

    def _restore_object(self, name: str, items: list[tuple[str, dict[str, Any]]], oc: ObjectCounts,
                        source_of: dict[str | None, str | None]) -> None:
        """Put back the field values the job's updates replaced on one object's records."""
        ctx, job_id, run_id = self.ctx, self.job_id, self.run_id
        bulk = ctx.use_bulk(self.template, name, len(items))

        def prepare(chunk: list[tuple[str, dict[str, Any]]]) -> None:
            ctx.check_cancel()

        def send(chunk: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
            return ctx.update_records(job_id, self.template, name, [{"Id": tid, **values} for tid, values in chunk])

        def finish(chunk: list[tuple[str, dict[str, Any]]], results: list[dict[str, Any]]) -> None:
            outcomes = []
            for (tid, _), result in zip(chunk, results):
                if result.get("success"):
                    oc.restored += 1
                    outcomes.append(Outcome(name, source_of.get(tid), tid, RecordStatus.RESTORED, phase=PHASE))
                else:
                    error = first_error(result)
                    if error.status_code in GONE:
                        error = ErrorInfo(error.status_code, "could not restore: the record no longer exists "
                                          "on the target", error.fields)
                    oc.errors += 1
                    outcomes.append(Outcome(name, source_of.get(tid), tid, RecordStatus.ROLLBACK_FAILED, error, PHASE))
                    self._record_failed(name, source_of.get(tid), tid, error)
                oc.processed += 1
            with self.journal.transaction():
                self.journal.record_outcomes(job_id, run_id, outcomes)
                self.journal.set_object_counts(run_id, name, oc)
            ctx.batch_done(name, oc, self.counts)

        send_batches(chunks(items, BULK_BATCH if bulk else COLLECTIONS_BATCH), depth=depth(self.template),
                     prepare=prepare, send=send, finish=finish)


__all__ = ["Rollback"]
