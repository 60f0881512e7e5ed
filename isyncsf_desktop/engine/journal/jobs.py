"""The journal's jobs and their runs: create, read, move through the lifecycle, delete, recover after a
crash; open and close runs, per-object counts; the facts that decide whether an action may start."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from ..lifecycle import JobFacts, JobState, may_move
from .rows import (ACTIVE_STATES, COUNT_FIELDS, JOB_STATES, RUN_KINDS, RUN_STATUSES, JobRow, JournalError,
                   ObjectCounts, OrgRef, RunRow, check, current_user, dumps, utc_now)
from .store import JournalStore

logger = logging.getLogger(__name__)

_JOB_COLUMNS = (
    "id, template_name, template, source_alias, source_org_id, source_url, target_alias,"
    " target_org_id, target_url, state, created, updated, plan, message, interrupted, last_run_id, run_by,"
    " preview_id"
)


class JobsMixin(JournalStore):
    """Jobs, runs and their counts, and a job's facts (what a rollback would undo among them)."""

    def _job_row(self, job_id: int) -> tuple:
        row = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JournalError(f"no job {job_id} in the journal")
        return row

    @staticmethod
    def _to_job(row: tuple) -> JobRow:
        (job_id, template_name, template, s_alias, s_org, s_url, t_alias, t_org, t_url, state,
         created, updated, plan, message, interrupted, last_run_id, run_by, preview_id) = row
        return JobRow(
            id=job_id,
            template_name=template_name,
            template=json.loads(template),
            source=OrgRef(s_alias, s_org, s_url),
            target=OrgRef(t_alias, t_org, t_url),
            state=JobState(state),
            created=created,
            updated=updated,
            plan=json.loads(plan) if plan is not None else None,
            message=message,
            interrupted=bool(interrupted),
            last_run_id=last_run_id,
            run_by=run_by,
            preview_id=preview_id,
        )

    # ------------------------------------------------------------------ jobs

    def create_job(self, template: dict, source: OrgRef, target: OrgRef, run_by: str | None = None) -> int:
        """Record a new job for ``template`` (its ``name`` key names the job); state Not Started.

        ``run_by`` defaults to the account name of the person running the app.
        """
        if run_by is None:
            run_by = current_user()
        name = template.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError("the template has no name")
        now = utc_now()
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO jobs (template_name, template, source_alias, source_org_id, source_url,"
                " target_alias, target_org_id, target_url, state, created, updated, run_by)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'Not Started', ?, ?, ?)",
                (name, dumps(template), source.alias, source.org_id, source.instance_url,
                 target.alias, target.org_id, target.instance_url, now, now, run_by),
            )
            job_id = int(cursor.lastrowid)  # type: ignore[arg-type]
        logger.info("job %d created for template %r (%s -> %s)", job_id, name, source.alias, target.alias)
        return job_id

    def job(self, job_id: int) -> JobRow:
        """One job; :class:`JournalError` if there is no such job."""
        with self._lock:
            return self._to_job(tuple(self._job_row(job_id)))

    def jobs(self, template_name: str | None = None, *, include_deleted: bool = False) -> list[JobRow]:
        """All jobs (optionally of one template), newest first; Deleted ones only on request."""
        sql = f"SELECT {_JOB_COLUMNS} FROM jobs WHERE 1 = 1"
        params: list[Any] = []
        if template_name is not None:
            sql += " AND template_name = ?"
            params.append(template_name)
        if not include_deleted:
            sql += " AND state != 'Deleted'"
        sql += " ORDER BY id DESC"
        with self._lock:
            return [self._to_job(tuple(row)) for row in self._db.execute(sql, params)]

    def set_state(self, job_id: int, state: str, message: str | None = None) -> None:
        """Move a job to ``state`` with an optional message (None clears it); clears ``interrupted``.

        Only the moves :data:`lifecycle.NEXT_STATES` allows are made (:class:`JournalError` otherwise);
        a Deleted job cannot change state any more.
        """
        check(state, JOB_STATES, "job state")
        with self._write() as conn:
            row = self._job_row(job_id)
            current = row[9]
            if current == JobState.DELETED:
                raise JournalError(f"job {job_id} is deleted; its state cannot change")
            if not may_move(current, state):
                raise JournalError(f"job {job_id} cannot go from {current} to {state}")
            conn.execute(
                "UPDATE jobs SET state = ?, message = ?, interrupted = 0, updated = ? WHERE id = ?",
                (state, message, utc_now(), job_id),
            )
        logger.debug("job %d: %s -> %s", job_id, current, state)

    def set_job_template(self, job_id: int, template: dict) -> None:
        """Replace the job's template (same name): a retry or resync that applied the template's current
        settings of how records are written keeps them here, so rollback and the next run see them."""
        if template.get("name") != self.job(job_id).template_name:
            raise ValueError(f"job {job_id} runs template {self.job(job_id).template_name!r}, not "
                             f"{template.get('name')!r}")
        text = dumps(template)
        with self._write() as conn:
            conn.execute("UPDATE jobs SET template = ?, updated = ? WHERE id = ?", (text, utc_now(), job_id))
        logger.info("job %d: template settings updated for its next run", job_id)

    def set_plan(self, job_id: int, plan: dict) -> None:
        """Store the job's plan (JSON-serialisable dict)."""
        text = dumps(plan)
        with self._write() as conn:
            self._require_job(job_id)
            conn.execute("UPDATE jobs SET plan = ?, updated = ? WHERE id = ?", (text, utc_now(), job_id))

    def delete_job(self, job_id: int) -> None:
        """Mark a job Deleted (its rows are kept). Refused while the job is running.

        An active job that was found interrupted at start-up may be deleted.
        """
        with self._write() as conn:
            row = self._job_row(job_id)
            state, interrupted = row[9], bool(row[14])
            if state == JobState.DELETED:
                return
            if state in ACTIVE_STATES and not interrupted:
                raise JournalError(f"Job {job_id} is running ({state}); abort it first")
            conn.execute(
                "UPDATE jobs SET state = 'Deleted', interrupted = 0, updated = ? WHERE id = ?",
                (utc_now(), job_id),
            )
        logger.info("job %d deleted", job_id)

    def job_facts(self, job_id: int) -> JobFacts:
        """What decides whether an action may start on the job (see :func:`lifecycle.refusal`), read in
        one go: its state, whether it was interrupted, its failed records and what a rollback would undo."""
        with self._lock:
            row = self._job_row(job_id)
            failed = self._db.execute("SELECT COUNT(*) FROM records WHERE job_id = ? AND status = 'failed'",
                                      (job_id,)).fetchone()[0]
        to_delete, to_restore = self.rollback_counts(job_id)
        return JobFacts(job_id=job_id, state=JobState(row[9]), interrupted=bool(row[14]), failed=int(failed),
                        to_undo=to_delete + to_restore, to_delete=to_delete, to_restore=to_restore)

    def rollback_counts(self, job_id: int) -> tuple[int, int]:
        """(records a rollback would delete, records it would restore), counted in SQL.

        Cheap enough for the GUI thread on large jobs: it decides whether Rollback is offered. A file counts
        once, as its ContentVersion (the rows of its ContentDocument and its extra links go with it), as the
        run's counts show it.
        """
        with self._lock:
            self._require_job(job_id)
            to_delete = self._db.execute(
                "SELECT COUNT(*) FROM records WHERE job_id = ? AND ((created = 1 AND target_id IS NOT NULL"
                " AND status != 'rolled_back') OR status = 'sending')"
                " AND object NOT IN ('ContentDocument', 'ContentDocumentLink')", (job_id,)).fetchone()[0]
            to_restore = self._db.execute(
                "SELECT COUNT(*) FROM versions v WHERE v.job_id = ? AND NOT EXISTS (SELECT 1 FROM records r"
                " WHERE r.job_id = v.job_id AND r.target_id = v.target_id AND r.status IN ('restored', 'rolled_back'))",
                (job_id,)).fetchone()[0]
        return int(to_delete), int(to_restore)

    def recover_interrupted(self, running: Iterable[int] = ()) -> list[int]:
        """Call at start-up: jobs left in an active state by a crash are flagged ``interrupted``.

        ``running``: jobs another process is running now (they hold their target's lock): left alone.
        Their state is kept (so they can be resumed or rolled back) and their runs still
        Initializing/Executing become Aborted. Returns the ids of those jobs, oldest first.
        """
        marks = ",".join("?" for _ in ACTIVE_STATES)
        alive = set(running)
        now = utc_now()
        with self._write() as conn:
            ids = [int(r[0]) for r in conn.execute(
                f"SELECT id FROM jobs WHERE state IN ({marks}) ORDER BY id", ACTIVE_STATES)
                if int(r[0]) not in alive]
            if ids:
                flags = ",".join("?" * len(ids))
                conn.execute(f"UPDATE jobs SET interrupted = 1, updated = ? WHERE interrupted = 0 AND id IN ({flags})",
                             (now, *ids))
                conn.execute(
                    "UPDATE runs SET status = 'Aborted', finished = ?"
                    f" WHERE status IN ('Initializing', 'Executing') AND job_id IN ({flags})",
                    (now, *ids),
                )
        if ids:
            logger.info("interrupted jobs found: %s", ids)
        return ids

    # ------------------------------------------------------------------ runs

    def start_run(self, job_id: int, kind: str) -> int:
        """Open a run of ``kind`` (status Executing) and make it the job's last run."""
        check(kind, RUN_KINDS, "run kind")
        now = utc_now()
        with self._write() as conn:
            self._require_job(job_id)
            cursor = conn.execute(
                "INSERT INTO runs (job_id, kind, status, started) VALUES (?, ?, 'Executing', ?)",
                (job_id, kind, now),
            )
            run_id = int(cursor.lastrowid)  # type: ignore[arg-type]
            conn.execute("UPDATE jobs SET last_run_id = ?, updated = ? WHERE id = ?", (run_id, now, job_id))
        logger.debug("job %d: run %d (%s) started", job_id, run_id, kind)
        return run_id

    def finish_run(self, run_id: int, status: str) -> None:
        """Close a run with its final status (Completed, Aborted or Failed, usually)."""
        check(status, RUN_STATUSES, "run status")
        with self._write() as conn:
            self._run_job_id(run_id)
            conn.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, utc_now(), run_id))
        logger.debug("run %d finished: %s", run_id, status)

    def set_object_counts(self, run_id: int, object_name: str, counts: ObjectCounts) -> None:
        """Insert or replace the counts of one object in one run (the first call fixes its order)."""
        values = [getattr(counts, name) for name in COUNT_FIELDS]
        with self._write() as conn:
            self._run_job_id(run_id)
            conn.execute(
                f"INSERT INTO run_counts (run_id, object, {', '.join(COUNT_FIELDS)}, status, seq)"
                f" VALUES (?, ?, {', '.join('?' * len(COUNT_FIELDS))}, ?,"
                " (SELECT COUNT(*) FROM run_counts WHERE run_id = ?))"
                " ON CONFLICT (run_id, object) DO UPDATE SET "
                + ", ".join(f"{name} = excluded.{name}" for name in (*COUNT_FIELDS, "status")),
                (run_id, object_name, *values, counts.status, run_id),
            )

    def record_masked(self, run_id: int, object_name: str, counts: dict[str, int]) -> None:
        """How many values of each field of ``object_name`` run ``run_id`` masked (replaces what was recorded)."""
        with self._write() as conn:
            self._run_job_id(run_id)
            conn.executemany(
                "INSERT INTO masked_counts (run_id, object, field, count) VALUES (?, ?, ?, ?)"
                " ON CONFLICT (run_id, object, field) DO UPDATE SET count = excluded.count",
                [(run_id, object_name, name, int(n)) for name, n in counts.items()])

    def masked_counts(self, *, job_id: int | None = None, run_id: int | None = None) -> dict[str, int]:
        """``Object.Field`` -> values masked, by one run or summed over a job's runs."""
        column, value = ("r.job_id", job_id) if run_id is None else ("m.run_id", run_id)
        with self._lock:
            rows = self._db.execute(
                "SELECT m.object, m.field, SUM(m.count) FROM masked_counts m JOIN runs r ON r.id = m.run_id"
                f" WHERE {column} = ? GROUP BY m.object, m.field ORDER BY m.object, m.field", (value,)).fetchall()
        return {f"{obj}.{name}": int(n) for obj, name, n in rows}

    def _counts_for(self, run_ids: list[int]) -> dict[int, dict[str, ObjectCounts]]:
        result: dict[int, dict[str, ObjectCounts]] = {run_id: {} for run_id in run_ids}
        if not run_ids:
            return result
        rows = self._db.execute(
            f"SELECT run_id, object, {', '.join(COUNT_FIELDS)}, status FROM run_counts"
            f" WHERE run_id IN ({','.join('?' * len(run_ids))}) ORDER BY run_id, seq",
            run_ids,
        )
        for run_id, object_name, *rest in rows:
            result[run_id][object_name] = ObjectCounts(*rest)
        return result

    def run(self, run_id: int) -> RunRow:
        """One run with its per-object counts; :class:`JournalError` if unknown."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, job_id, kind, status, started, finished FROM runs WHERE id = ?", (run_id,)
            ).fetchone()
            if row is None:
                raise JournalError(f"no run {run_id} in the journal")
            return RunRow(*row, counts=self._counts_for([run_id])[run_id])

    def runs(self, job_id: int) -> list[RunRow]:
        """The runs of a job, oldest first."""
        with self._lock:
            self._require_job(job_id)
            rows = self._db.execute(
                "SELECT id, job_id, kind, status, started, finished FROM runs WHERE job_id = ? ORDER BY id",
                (job_id,),
            ).fetchall()
            counts = self._counts_for([row[0] for row in rows])
            return [RunRow(*row, counts=counts[row[0]]) for row in rows]
