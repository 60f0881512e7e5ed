"""The journal's records: the latest outcome of every record of a job and its errors, the prior values
saved before an update (for rollback), and the source->target id map shared by all jobs between two orgs."""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Iterable, Iterator
from typing import Any

from .rows import (MAPPED_STATUSES, PHASES, RECORD_STATUSES, SUCCESS_STATUSES, ErrorRow, JournalError, Outcome,
                   RecordRow, check, dumps, utc_now)
from .store import JournalStore

logger = logging.getLogger(__name__)

_RECORD_UPSERT_BY_SOURCE = """
INSERT INTO records (job_id, object, source_id, target_id, status, run_id, updated, created, match_key, via_bulk)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id, object, source_id) WHERE source_id IS NOT NULL DO UPDATE SET
    target_id = COALESCE(excluded.target_id, records.target_id),
    match_key = COALESCE(excluded.match_key, records.match_key),
    via_bulk = excluded.via_bulk,
    status = CASE WHEN records.status = 'inserted' AND excluded.status IN ('updated', 'existing')
                  THEN 'inserted' ELSE excluded.status END,
    run_id = excluded.run_id,
    updated = excluded.updated,
    created = MAX(records.created, excluded.created)
"""

_RECORD_UPDATE_BY_TARGET = """
UPDATE records SET
    status = CASE WHEN status = 'inserted' AND ? IN ('updated', 'existing') THEN 'inserted' ELSE ? END,
    run_id = ?,
    updated = ?,
    created = MAX(created, ?)
WHERE job_id = ? AND object = ? AND target_id = ?
"""

_RECORD_INSERT_TARGET_ONLY = """
INSERT INTO records (job_id, object, source_id, target_id, status, run_id, updated, created)
VALUES (?, ?, NULL, ?, ?, ?, ?, ?)
"""

_ERRORS_RESOLVE_BY_SOURCE = """
UPDATE errors SET resolved = 1
WHERE job_id = ? AND object = ? AND source_id = ? AND resolved = 0
"""

_ERRORS_RESOLVE_BY_TARGET = """
UPDATE errors SET resolved = 1
WHERE job_id = ? AND object = ? AND target_id = ? AND resolved = 0
"""

_ERROR_INSERT = """
INSERT INTO errors (job_id, run_id, object, source_id, target_id, status_code, message, fields,
                    phase, created, resolved)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0)
"""

_ID_MAP_UPSERT = """
INSERT INTO id_map (source_org_id, target_org_id, object, source_id, target_id, job_id, updated)
VALUES (?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (source_org_id, target_org_id, object, source_id) DO UPDATE SET
    target_id = excluded.target_id, job_id = excluded.job_id, updated = excluded.updated
"""


class RecordsMixin(JournalStore):
    """Record outcomes and errors, saved versions and the id map."""

    # ------------------------------------------------------------------ records and errors

    def record_outcomes(self, job_id: int, run_id: int, outcomes: list[Outcome]) -> None:
        """Record one batch of outcomes in one transaction.

        Per outcome, in order: the record's latest status is upserted (keyed on the source id, or
        on the target id when there is none); a record this job inserted stays ``inserted`` when a
        later outcome says ``updated``/``existing`` (rollback must still delete it); a success
        resolves the record's earlier open errors; an outcome with an error resolves the record's
        earlier open errors (they are superseded) and adds a new open error, so there is at most
        one open error per record; inserted/updated/existing outcomes with both ids update the id
        map between the job's two orgs.
        """
        for outcome in outcomes:
            check(outcome.status, RECORD_STATUSES, "record status")
            check(outcome.phase, PHASES, "phase")
        now = utc_now()
        with self._write() as conn:
            row = conn.execute(
                "SELECT source_org_id, target_org_id FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if row is None:
                raise JournalError(f"no job {job_id} in the journal")
            source_org, target_org = row
            if self._run_job_id(run_id) != job_id:
                raise JournalError(f"run {run_id} does not belong to job {job_id}")
            keys = [(o.object, o.source_id) for o in outcomes if o.source_id is not None]
            if len(set(keys)) == len(keys) and all(o.source_id is not None for o in outcomes):
                self._record_many(conn, job_id, run_id, source_org, target_org, outcomes, now)
            else:   # a record twice in one batch, or outcomes by target id: one at a time, in order
                for outcome in outcomes:
                    self._record_one(conn, job_id, run_id, source_org, target_org, outcome, now)

    @staticmethod
    def _record_many(conn: sqlite3.Connection, job_id: int, run_id: int, source_org: str, target_org: str,
                     outcomes: list[Outcome], now: str) -> None:
        """What :meth:`_record_one` does for each outcome, as one ``executemany`` per statement. Only
        for batches where every outcome has a source id and no record appears twice, so running the
        statements kind by kind keeps each record's own order (upsert, resolve, new error, id map)."""
        conn.executemany(_RECORD_UPSERT_BY_SOURCE, [
            (job_id, o.object, o.source_id, o.target_id, o.status, run_id, now, 1 if o.status == "inserted" else 0,
             dumps(list(o.match_key)) if o.match_key is not None else None, 1 if o.via_bulk else 0)
            for o in outcomes])
        # Only objects with an open error have one to resolve: one look at the index instead of an UPDATE per
        # record (a tenth of a clean run's journaling).
        open_objects = {name for name in {o.object for o in outcomes} if conn.execute(
            "SELECT 1 FROM errors WHERE job_id = ? AND resolved = 0 AND object = ? LIMIT 1", (job_id, name)).fetchone()}
        if open_objects:
            conn.executemany(_ERRORS_RESOLVE_BY_SOURCE, [
                (job_id, o.object, o.source_id) for o in outcomes
                if o.object in open_objects and (o.error is not None or o.status in SUCCESS_STATUSES)])
        conn.executemany(_ERROR_INSERT, [
            (job_id, run_id, o.object, o.source_id, o.target_id, o.error.status_code, o.error.message,
             dumps(list(o.error.fields)), o.phase, now) for o in outcomes if o.error is not None])
        conn.executemany(_ID_MAP_UPSERT, [
            (source_org, target_org, o.object, o.source_id, o.target_id, job_id, now) for o in outcomes
            if o.status in MAPPED_STATUSES and o.target_id is not None])

    @staticmethod
    def _record_one(
        conn: sqlite3.Connection,
        job_id: int,
        run_id: int,
        source_org: str,
        target_org: str,
        outcome: Outcome,
        now: str,
    ) -> None:
        obj, source_id, target_id, status = outcome.object, outcome.source_id, outcome.target_id, outcome.status
        created = 1 if status == "inserted" else 0
        if source_id is not None:
            key = dumps(list(outcome.match_key)) if outcome.match_key is not None else None
            conn.execute(_RECORD_UPSERT_BY_SOURCE,
                         (job_id, obj, source_id, target_id, status, run_id, now, created, key,
                          1 if outcome.via_bulk else 0))
            if outcome.error is not None or status in SUCCESS_STATUSES:
                conn.execute(_ERRORS_RESOLVE_BY_SOURCE, (job_id, obj, source_id))
        elif target_id is not None:
            cursor = conn.execute(_RECORD_UPDATE_BY_TARGET,
                                  (status, status, run_id, now, created, job_id, obj, target_id))
            if cursor.rowcount == 0:
                conn.execute(_RECORD_INSERT_TARGET_ONLY, (job_id, obj, target_id, status, run_id, now, created))
            if outcome.error is not None or status in SUCCESS_STATUSES:
                conn.execute(_ERRORS_RESOLVE_BY_TARGET, (job_id, obj, target_id))
        else:
            logger.debug("job %d: outcome for %s without any id; only its error is kept", job_id, obj)
        if outcome.error is not None:
            error = outcome.error
            conn.execute(_ERROR_INSERT, (job_id, run_id, obj, source_id, target_id, error.status_code,
                                         error.message, dumps(list(error.fields)), outcome.phase, now))
        if status in MAPPED_STATUSES and source_id is not None and target_id is not None:
            conn.execute(_ID_MAP_UPSERT, (source_org, target_org, obj, source_id, target_id, job_id, now))

    def records(
        self, job_id: int, object_name: str | None = None, statuses: Iterable[str] | None = None
    ) -> list[RecordRow]:
        """The latest outcome of each record of a job, in the order they were first recorded."""
        sql = ("SELECT job_id, object, source_id, target_id, status, run_id, updated, created"
               " FROM records WHERE job_id = ?")
        params: list[Any] = [job_id]
        if object_name is not None:
            sql += " AND object = ?"
            params.append(object_name)
        if statuses is not None:
            wanted = list(statuses)
            if not wanted:
                return []
            sql += f" AND status IN ({','.join('?' * len(wanted))})"
            params.extend(wanted)
        sql += " ORDER BY id"
        with self._lock:
            self._require_job(job_id)
            return [RecordRow(*row[:7], created=bool(row[7])) for row in self._db.execute(sql, params)]

    def source_ids(self, job_id: int, statuses: Iterable[str], object_name: str | None = None) -> set[str]:
        """Source ids of a job's records whose latest status is one of ``statuses``."""
        wanted = list(statuses)
        if not wanted:
            return set()
        sql = (f"SELECT source_id FROM records WHERE job_id = ? AND source_id IS NOT NULL"
               f" AND status IN ({','.join('?' * len(wanted))})")
        params: list[Any] = [job_id, *wanted]
        if object_name is not None:
            sql += " AND object = ?"
            params.append(object_name)
        with self._lock:
            self._require_job(job_id)
            return {row[0] for row in self._db.execute(sql, params)}

    def in_flight(self, job_id: int, object_name: str | None = None) -> dict[str, dict[str, tuple[Any, ...] | None]]:
        """Records written ahead of a create batch whose answer never came back (a crash, a kill):
        object -> source id -> the match key the engine would find the created record by."""
        sql = "SELECT object, source_id, match_key FROM records WHERE job_id = ? AND status = 'sending'"
        params: list[Any] = [job_id]
        if object_name is not None:
            sql += " AND object = ?"
            params.append(object_name)
        result: dict[str, dict[str, tuple[Any, ...] | None]] = {}
        with self._lock:
            self._require_job(job_id)
            for obj, source_id, key in self._db.execute(sql + " ORDER BY id", params):
                result.setdefault(obj, {})[source_id] = tuple(json.loads(key)) if key is not None else None
        return result

    def in_flight_sent(self, job_id: int, object_name: str | None = None) -> dict[str, dict[str, str]]:
        """When each ``sending`` record the org may still commit late was written ahead, just before its
        create batch went out: object -> source id -> ISO-8601 UTC time (the ``updated`` column of its
        journal row).

        Records written ahead of a Bulk API ingest job are left out once no Bulk job of ``job_id`` is
        open in the journal (:meth:`open_bulk_job` .. :meth:`close_bulk_jobs`): their job either never
        opened (nothing reached the org) or has ended (a run waits for the jobs a crash left before it
        looks: ``settle_bulk_jobs``), and the org commits nothing of an ended job. While one is open,
        they are kept (the org may still be processing it)."""
        sql = ("SELECT object, source_id, updated FROM records WHERE job_id = ? AND status = 'sending'"
               " AND (via_bulk = 0 OR EXISTS (SELECT 1 FROM bulk_jobs WHERE bulk_jobs.job_id = records.job_id))")
        params: list[Any] = [job_id]
        if object_name is not None:
            sql += " AND object = ?"
            params.append(object_name)
        result: dict[str, dict[str, str]] = {}
        with self._lock:
            self._require_job(job_id)
            for obj, source_id, updated in self._db.execute(sql, params):
                result.setdefault(obj, {})[source_id] = updated
        return result

    def known_target_ids(self, job_id: int, object_name: str) -> set[str]:
        """Target ids of ``object_name`` this journal already accounts for: this job's records and
        the id map of the job's two orgs (records other jobs created or matched)."""
        with self._lock:
            source_org, target_org = self._db.execute(
                "SELECT source_org_id, target_org_id FROM jobs WHERE id = ?", (job_id,)).fetchone()
            ids = {row[0] for row in self._db.execute(
                "SELECT target_id FROM records WHERE job_id = ? AND object = ? AND target_id IS NOT NULL",
                (job_id, object_name))}
            ids.update(row[0] for row in self._db.execute(
                "SELECT target_id FROM id_map WHERE source_org_id = ? AND target_org_id = ? AND object = ?",
                (source_org, target_org, object_name)))
        return ids

    def count_records(self, job_id: int, statuses: Iterable[str]) -> int:
        """How many of a job's records have one of ``statuses`` now."""
        wanted = list(statuses)
        if not wanted:
            return 0
        with self._lock:
            self._require_job(job_id)
            return int(self._db.execute(
                f"SELECT COUNT(*) FROM records WHERE job_id = ? AND status IN ({','.join('?' * len(wanted))})",
                [job_id, *wanted]).fetchone()[0])

    def status_counts(self, job_id: int) -> dict[str, dict[str, int]]:
        """How many of a job's records stand at each latest status, per object: object -> status -> count
        (counted in SQL: cheap enough for the GUI thread on large jobs)."""
        result: dict[str, dict[str, int]] = {}
        with self._lock:
            self._require_job(job_id)
            for obj, status, count in self._db.execute(
                    "SELECT object, status, COUNT(*) FROM records WHERE job_id = ? GROUP BY object, status",
                    (job_id,)):
                result.setdefault(obj, {})[status] = int(count)
        return result

    def errors(
        self,
        job_id: int,
        object_name: str | None = None,
        *,
        open_only: bool = True,
        run_id: int | None = None,
    ) -> list[ErrorRow]:
        """A job's errors (open ones by default), oldest first; optionally of one object or run."""
        sql = ("SELECT id, job_id, run_id, object, source_id, target_id, status_code, message, fields,"
               " phase, created, resolved FROM errors WHERE job_id = ?")
        params: list[Any] = [job_id]
        if object_name is not None:
            sql += " AND object = ?"
            params.append(object_name)
        if open_only:
            sql += " AND resolved = 0"
        if run_id is not None:
            sql += " AND run_id = ?"
            params.append(run_id)
        sql += " ORDER BY id"
        with self._lock:
            self._require_job(job_id)
            rows = self._db.execute(sql, params).fetchall()
        return [
            ErrorRow(*row[:8], fields=json.loads(row[8]), phase=row[9], created=row[10], resolved=bool(row[11]))
            for row in rows
        ]

    def error_counts(self, job_id: int, *, open_only: bool = True) -> dict[str, int]:
        """Number of errors per object (open ones by default), objects in name order."""
        sql = "SELECT object, COUNT(*) FROM errors WHERE job_id = ?"
        if open_only:
            sql += " AND resolved = 0"
        sql += " GROUP BY object ORDER BY object"
        with self._lock:
            self._require_job(job_id)
            return {name: int(count) for name, count in self._db.execute(sql, (job_id,))}

    # ------------------------------------------------------------------ versions and id map

    def save_versions(self, job_id: int, run_id: int, object_name: str, versions: dict[str, dict]) -> None:
        """Save the prior field values of target records before they are updated.

        Per field, the first value saved for a target record within a job wins, and fields saved
        later are added (the second pass sets lookups the first pass did not touch): rollback
        restores every field the job changed to the value it had before the job first touched it.
        """
        if not versions:
            return
        now = utc_now()
        with self._write() as conn:
            self._require_job(job_id)
            self._run_job_id(run_id)
            ids = list(versions)
            known: dict[str, dict] = {}
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                for target_id, values in conn.execute(
                        'SELECT target_id, "values" FROM versions WHERE job_id = ? AND target_id IN'
                        f" ({','.join('?' * len(chunk))})", (job_id, *chunk)):
                    known[target_id] = json.loads(values)
            new_rows, merged_rows = [], []
            for target_id, values in versions.items():
                if target_id not in known:
                    new_rows.append((job_id, target_id, object_name, run_id, dumps(values), now))
                elif set(values) - set(known[target_id]):
                    merged_rows.append((dumps({**values, **known[target_id]}), job_id, target_id))
            conn.executemany(
                'INSERT INTO versions (job_id, target_id, object, run_id, "values", created)'
                " VALUES (?, ?, ?, ?, ?, ?)", new_rows)
            conn.executemany('UPDATE versions SET "values" = ? WHERE job_id = ? AND target_id = ?', merged_rows)

    def versions(self, job_id: int) -> dict[str, tuple[str, dict]]:
        """Saved versions of a job: target id -> (object, prior values)."""
        with self._lock:
            self._require_job(job_id)
            rows = self._db.execute(
                'SELECT target_id, object, "values" FROM versions WHERE job_id = ? ORDER BY rowid', (job_id,)
            ).fetchall()
        return {target_id: (obj, json.loads(values)) for target_id, obj, values in rows}

    def id_map(self, source_org_id: str, target_org_id: str, object_name: str | None = None) -> dict[str, str]:
        """Source id -> target id learned by all jobs between these two orgs."""
        sql = "SELECT source_id, target_id FROM id_map WHERE source_org_id = ? AND target_org_id = ?"
        params: list[Any] = [source_org_id, target_org_id]
        if object_name is not None:
            sql += " AND object = ?"
            params.append(object_name)
        with self._lock:
            return dict(self._db.execute(sql, params).fetchall())

    def id_map_pages(self, source_org_id: str, target_org_id: str,
                     page: int = 50_000) -> Iterator[list[tuple[str, str]]]:
        """:meth:`id_map` as (source id, target id) pairs, ``page`` at a time (each read under the lock on its own):
        a caller that keeps them compactly never holds the whole map as Python strings."""
        after: tuple[str, str] = ("", "")
        while True:
            with self._lock:
                rows = self._db.execute(
                    "SELECT object, source_id, target_id FROM id_map WHERE source_org_id = ? AND target_org_id = ?"
                    " AND (object, source_id) > (?, ?) ORDER BY object, source_id LIMIT ?",
                    (source_org_id, target_org_id, *after, page)).fetchall()
            if not rows:
                return
            after = (rows[-1][0], rows[-1][1])
            yield [(source_id, target_id) for _object, source_id, target_id in rows]
            if len(rows) < page:
                return

    def forget_target_ids(self, source_org_id: str, target_org_id: str, target_ids: Iterable[str]) -> None:
        """Drop id-map entries that point at target records which no longer exist (rolled back)."""
        rows = [(source_org_id, target_org_id, target_id) for target_id in target_ids]
        if not rows:
            return
        with self._write() as conn:
            conn.executemany(
                "DELETE FROM id_map WHERE source_org_id = ? AND target_org_id = ? AND target_id = ?", rows
            )
