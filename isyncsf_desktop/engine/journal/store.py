"""The journal's plumbing, shared by every part of :class:`~isyncsf_desktop.engine.journal.Journal`: the
file (created whole, private, upgraded), the one connection and its re-entrant lock, write transactions."""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Self

from ...paths import make_private
from .damage import JournalConnection, check_journal_file, damage
from .rows import JournalError
from .schema import MIGRATIONS, SCHEMA_VERSION

logger = logging.getLogger(__name__)


class JournalStore:
    """The connection, the lock and the transactions the journal's parts share (see ``Journal``).

    ``JournalStore(path)`` creates the file and its schema when missing and upgrades an older schema
    (``PRAGMA user_version``). A journal written by a newer version of the application is refused.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.RLock()
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        # An existing file that is no journal is never opened (SQLite would make it one) nor started over.
        check_journal_file(self.path)
        # Prior values of every updated record live here: owner-only, like the org list. A new file is made
        # whole (schema and all) under a temporary name first, so a crash can never leave an empty journal.
        if not self.path.exists():
            self._create(self.path)
        for path in (self.path.parent, self.path, *(self.path.with_name(self.path.name + s) for s in ("-wal", "-shm"))):
            if path.exists():
                make_private(path)
        conn = sqlite3.connect(str(self.path), check_same_thread=False, isolation_level=None, timeout=10.0,
                               factory=JournalConnection)
        conn.journal_path = self.path
        self._conn: sqlite3.Connection | None = conn
        try:
            self._conn.execute("PRAGMA journal_mode=WAL")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("PRAGMA foreign_keys=ON")
            self._migrate()
            self._conn.execute("SELECT COUNT(*) FROM jobs").fetchone()
            self._conn.execute("SELECT COUNT(*) FROM runs").fetchone()
        except BaseException as exc:
            self._conn.close()
            self._conn = None
            if isinstance(exc, sqlite3.DatabaseError):
                raise damage(self.path, exc) or exc from None
            raise
        logger.debug("journal open at %s", self.path)

    @staticmethod
    def _create(path: Path) -> None:
        """A new, empty journal at ``path``: written whole under a temporary name, then moved in place."""
        temp = path.with_name(f".{path.name}.new-{os.getpid()}")
        temp.unlink(missing_ok=True)
        os.close(os.open(temp, os.O_CREAT | os.O_RDWR, 0o600))
        try:
            with sqlite3.connect(str(temp), isolation_level=None) as conn:
                conn.execute("BEGIN IMMEDIATE")
                for target in range(1, SCHEMA_VERSION + 1):
                    MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                conn.execute("COMMIT")
            conn.close()
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)

    # ------------------------------------------------------------------ plumbing

    def _migrate(self) -> None:
        conn = self._db
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal {self.path} was written by a newer version of iSyncSF "
                f"(schema {version}, this version understands up to {SCHEMA_VERSION})"
            )
        while version < SCHEMA_VERSION:
            target = version + 1
            conn.execute("BEGIN IMMEDIATE")
            try:
                MIGRATIONS[target](conn)
                conn.execute(f"PRAGMA user_version = {target}")
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            logger.info("journal %s upgraded to schema %d", self.path, target)
            version = target

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise JournalError("the journal is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction (joins the current one when nested). Holds the lock."""
        with self._lock:
            conn = self._db
            if conn.in_transaction:
                yield conn
                return
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group several writes (a batch's outcomes and its counts) into one transaction: all of them
        are on disk when the block ends, or none."""
        with self._write():
            yield

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
                logger.debug("journal closed at %s", self.path)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _require_job(self, job_id: int) -> None:
        if self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
            raise JournalError(f"no job {job_id} in the journal")

    def _run_job_id(self, run_id: int) -> int:
        row = self._db.execute("SELECT job_id FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise JournalError(f"no run {run_id} in the journal")
        return int(row[0])
