"""The journal's Bulk API jobs in flight (waited for after a crash) and its small settings."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from .rows import dumps, utc_now
from .store import JournalStore


class BulkMixin(JournalStore):
    """Bulk API jobs a run opened and has not heard the end of; key -> JSON value settings."""

    # ------------------------------------------------------------------ Bulk jobs in flight

    def open_bulk_job(self, job_id: int, object_name: str, operation: str, bulk_id: str) -> None:
        """A Bulk API job the run opened on the target: kept until :meth:`close_bulk_jobs`."""
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO bulk_jobs (bulk_id, job_id, object, operation, created) "
                         "VALUES (?, ?, ?, ?, ?)", (bulk_id, job_id, object_name, operation, utc_now()))

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
