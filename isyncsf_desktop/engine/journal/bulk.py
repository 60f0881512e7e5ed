"""The journal's Bulk API jobs in flight (waited for after a crash) and its small settings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .rows import dumps, utc_now
from .store import JournalStore


@dataclass(frozen=True)
class BulkOpening:
    """A Bulk API job a run was about to open (written ahead of the request) whose id the journal never
    learned: the org may have opened it (and, at most, it is ``Open`` with no data: the data goes up only
    after the id is journaled)."""

    id: int
    job_id: int
    run_id: int | None
    object: str
    operation: str
    user_id: str | None
    """The target org's user the run wrote as (who the org says created the job), when known."""
    opening: str
    """When the request went out (ISO-8601 UTC): the org created the job at this time or later."""


class BulkMixin(JournalStore):
    """Bulk API jobs a run opened and has not heard the end of; key -> JSON value settings."""

    # ------------------------------------------------------------------ Bulk jobs in flight

    def bulk_opening(self, job_id: int, run_id: int | None, object_name: str, operation: str,
                     user_id: str | None) -> int:
        """Write ahead the request that opens a Bulk API job (before it goes out); returns the opening's
        id, for :meth:`open_bulk_job` to write the job's id against once the org answers."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO bulk_openings (job_id, run_id, object, operation, user_id, opening) "
                "VALUES (?, ?, ?, ?, ?, ?)", (job_id, run_id, object_name, operation, user_id, utc_now()))
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def open_bulk_job(self, job_id: int, object_name: str, operation: str, bulk_id: str,
                      opening: int | None = None) -> None:
        """A Bulk API job the run opened on the target: kept until :meth:`close_bulk_jobs`; its id is
        written against its ``opening`` (:meth:`bulk_opening`) in the same transaction."""
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO bulk_jobs (bulk_id, job_id, object, operation, created) "
                         "VALUES (?, ?, ?, ?, ?)", (bulk_id, job_id, object_name, operation, utc_now()))
            if opening is not None:
                conn.execute("UPDATE bulk_openings SET bulk_id = ? WHERE id = ?", (bulk_id, opening))

    def unknown_bulk_jobs(self, job_id: int) -> list[BulkOpening]:
        """Openings of ``job_id`` whose job id never reached the journal (a crash, a lost answer), oldest
        first: the org may hold a job of each that no journal row tells of."""
        with self._lock:
            return [BulkOpening(*row) for row in self._db.execute(
                "SELECT id, job_id, run_id, object, operation, user_id, opening FROM bulk_openings "
                "WHERE job_id = ? AND bulk_id IS NULL ORDER BY id", (job_id,))]

    def known_bulk_ids(self) -> set[str]:
        """Every Bulk API job id this journal has learned (of any job): never a job nobody journaled."""
        with self._lock:
            return {row[0] for row in self._db.execute(
                "SELECT bulk_id FROM bulk_openings WHERE bulk_id IS NOT NULL UNION SELECT bulk_id FROM bulk_jobs")}

    def settle_bulk_openings(self, found: dict[int, str | None]) -> None:
        """Openings looked for in the org: opening id -> the job found for it, or None (no job of it, or
        none that can be told apart: the opening is dropped). A job found is kept as opened
        (:meth:`open_bulk_jobs`, waited for like any other) and known from now on; :meth:`found_bulk_ids`
        tells it apart."""
        with self._write() as conn:
            for opening, bulk_id in found.items():
                if bulk_id is None:
                    conn.execute("DELETE FROM bulk_openings WHERE id = ?", (opening,))
                    continue
                conn.execute("UPDATE bulk_openings SET bulk_id = ?, found = 1 WHERE id = ?", (bulk_id, opening))
                conn.execute("INSERT OR REPLACE INTO bulk_jobs (bulk_id, job_id, object, operation, created) "
                             "SELECT ?, job_id, object, operation, ? FROM bulk_openings WHERE id = ?",
                             (bulk_id, utc_now(), opening))

    def found_bulk_ids(self, job_id: int) -> set[str]:
        """Ids of the Bulk jobs of ``job_id`` found in the org's job list (:meth:`settle_bulk_openings`):
        jobs no journal row tells the records of."""
        with self._lock:
            return {row[0] for row in self._db.execute(
                "SELECT bulk_id FROM bulk_openings WHERE job_id = ? AND found = 1", (job_id,))}

    def close_bulk_jobs(self, bulk_ids: Iterable[str]) -> None:
        """The jobs' results are in (or the jobs are settled): nothing to wait for after a crash."""
        with self._write() as conn:
            conn.executemany("DELETE FROM bulk_jobs WHERE bulk_id = ?", [(b,) for b in bulk_ids])

    def open_bulk_jobs(self, job_id: int) -> list[tuple[str, str, str]]:
        """(bulk id, object, operation) of the Bulk jobs a run of ``job_id`` opened and never heard the
        end of, oldest first."""
        with self._lock:
            return [tuple(row) for row in self._db.execute(
                "SELECT bulk_id, object, operation FROM bulk_jobs WHERE job_id = ? ORDER BY created, rowid",
                (job_id,))]

    # ------------------------------------------------------------------ settings

    def set_setting(self, key: str, value: Any) -> None:
        """Store a small JSON-serialisable value under ``key`` (e.g. automation to restore)."""
        text = dumps(value)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO settings (key, value) VALUES (?, ?)"
                " ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (key, text),
            )

    def get_setting(self, key: str, default: Any = None) -> Any:
        """The value stored under ``key``, or ``default`` when there is none."""
        with self._lock:
            row = self._db.execute("SELECT value FROM settings WHERE key = ?", (key,)).fetchone()
        return default if row is None else json.loads(row[0])

    def delete_setting(self, key: str) -> None:
        """Remove ``key`` (no error when it is absent)."""
        with self._write() as conn:
            conn.execute("DELETE FROM settings WHERE key = ?", (key,))

    def settings(self, prefix: str = "") -> dict[str, Any]:
        """Every setting whose key starts with ``prefix`` (case-sensitive), key → value, in key order.

        E.g. ``settings("automation:")`` lists what automation control left switched off, per target org.
        """
        with self._lock:
            rows = self._db.execute(
                "SELECT key, value FROM settings WHERE substr(key, 1, ?) = ? ORDER BY key", (len(prefix), prefix)
            ).fetchall()
        return {key: json.loads(value) for key, value in rows}

    # ------------------------------------------------------------------ owner mappings a run used

    def record_owner_map(self, job_id: int, run_id: int, owners: list[dict[str, Any]]) -> None:
        """Which target owner each source user and queue got in run ``run_id`` of ``job_id``, and how
        (automatic, mapped, default owner, running user): ``users.OwnerMap.used()``."""
        self.set_setting(f"owners:{job_id}:{run_id}", owners)

    def owner_map(self, job_id: int) -> dict[int, list[dict[str, Any]]]:
        """Run id -> the owner mappings that run of ``job_id`` used, oldest run first."""
        prefix = f"owners:{job_id}:"
        return dict(sorted((int(key[len(prefix):]), value) for key, value in self.settings(prefix).items()))
