"""The job journal: a SQLite file that is the source of truth for every sync job.

Everything the engine does to a target org is written here before the next batch goes out: job
state and plan, runs with per-object counts, the latest outcome of every record, errors, saved
versions of updated records (for rollback), and the source->target id map shared by all jobs
between the same two orgs. Because of that, a crash or an abort never loses what was done, and
retry or rollback work after the application restarts.

The journal never stores secrets: org references carry an alias, an org id and an instance URL.

One :class:`Journal` holds one connection guarded by a re-entrant lock, so it may be shared by the
GUI thread and a worker thread. Writes that belong together (one batch of outcomes) are one
transaction.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from ..paths import make_private
from .lifecycle import MAPPED_STATUSES as _MAPPED
from .lifecycle import SUCCESS_STATUSES as _SUCCESS
from .lifecycle import JobFacts, JobState, RecordStatus, RunKind, RunStatus, may_move

logger = logging.getLogger(__name__)

JOB_STATES: tuple[str, ...] = tuple(JobState)
ACTIVE_STATES: tuple[str, ...] = tuple(s for s in JobState if s.active)
RECORD_STATUSES: tuple[str, ...] = tuple(RecordStatus)
SUCCESS_STATUSES: tuple[str, ...] = tuple(s for s in RecordStatus if s in _SUCCESS)
"""Outcomes that resolve earlier open errors of the same record."""
MAPPED_STATUSES: tuple[str, ...] = tuple(s for s in RecordStatus if s in _MAPPED)
"""Outcomes that put the source->target pair into the id map."""
PHASES: tuple[str, ...] = ("sync", "deferred", "retry", "rollback")
RUN_KINDS: tuple[str, ...] = tuple(RunKind)
RUN_STATUSES: tuple[str, ...] = tuple(RunStatus)

SCHEMA_VERSION = 4

_COUNT_FIELDS: tuple[str, ...] = (
    "total",
    "processed",
    "inserted",
    "updated",
    "existing",
    "errors",
    "deleted",
    "restored",
)


def current_user() -> str | None:
    """The account name of the person running the app, or None when the system can't say."""
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container or service: "who ran it" stays empty
        return None


def utc_now() -> str:
    """The current time as ISO-8601 UTC with a ``Z`` suffix (millisecond precision)."""
    now = datetime.now(timezone.utc)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


class JournalError(Exception):
    """A request the journal cannot satisfy (unknown job or run, forbidden change, newer schema)."""


class JournalDamaged(Exception):
    """The journal file cannot be read as a journal (not SQLite, empty, truncated, damaged pages).

    Not a :class:`JournalError` (a request the journal refuses): no caller should take it for bad input.
    The file is left exactly as it is; :func:`move_aside` renames it so a new journal can start."""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        super().__init__(f"the job journal {self.path} cannot be read: {what}. It was left untouched. Move it "
                         "aside and start a new journal (the app offers it; on the command line: "
                         "`isyncsf journal move-aside`); the jobs it held are then no longer listed")


SQLITE_HEADER = b"SQLite format 3\x00"
_DAMAGE = ("malformed", "not a database", "file is encrypted", "disk image", "database corrupt", "short read")


def _damage(path: Path, exc: sqlite3.DatabaseError) -> JournalDamaged | None:
    """The :class:`JournalDamaged` that an SQLite error means, or None when it is no damage (a lock, a bug)."""
    text = str(exc).lower()
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)) or not any(d in text for d in _DAMAGE):
        return None
    return JournalDamaged(path, f"SQLite says {exc}")


def check_journal_file(path: Path) -> None:
    """Refuse a file that exists but is no SQLite database (:class:`JournalDamaged`); a missing one is fine."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JournalDamaged(path, f"it cannot be opened ({exc.strerror or exc})") from None
    if not head:
        raise JournalDamaged(path, "it is empty (0 bytes), where a journal always holds its tables")
    if head != SQLITE_HEADER:
        raise JournalDamaged(path, "it is not an SQLite database (its first bytes are not SQLite's header)")


def move_aside(path: Path) -> Path:
    """Rename a damaged journal (and its -wal and -shm files) to ``<name>.damaged-<UTC time>``; returns the
    new name of the journal file. Nothing is deleted."""
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    os.replace(path, target)
    logger.warning("the damaged journal %s was moved to %s", path, target)
    return target


class _Connection(sqlite3.Connection):
    """The journal's connection: an SQLite error that means a damaged file becomes :class:`JournalDamaged`."""

    journal_path: Path

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _damage(self.journal_path, exc) or exc from None

    def executemany(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executemany(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise _damage(self.journal_path, exc) or exc from None


@dataclass(frozen=True)
class OrgRef:
    """Which org a job reads from or writes to. No tokens: those live in the keyring."""

    alias: str
    org_id: str
    instance_url: str


@dataclass
class ObjectCounts:
    """Per-object progress of one run, as shown by the progress table and the history."""

    total: int = 0
    processed: int = 0
    inserted: int = 0
    updated: int = 0
    existing: int = 0
    errors: int = 0
    deleted: int = 0
    restored: int = 0
    status: str = "Pending"

    def as_dict(self) -> dict[str, Any]:
        """The counts as a plain dict (JSON friendly)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ObjectCounts:
        """Build counts from a dict; unknown keys are ignored, missing ones take their defaults."""
        known = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in data.items() if key in known})

    def merged(self, other: ObjectCounts) -> ObjectCounts:
        """Field-wise sum of the numbers; the status of ``other`` wins unless it is still Pending."""
        numbers = {name: getattr(self, name) + getattr(other, name) for name in _COUNT_FIELDS}
        status = other.status if other.status != "Pending" else self.status
        return ObjectCounts(**numbers, status=status)

    def __add__(self, other: object) -> ObjectCounts:
        if not isinstance(other, ObjectCounts):
            return NotImplemented
        return self.merged(other)


@dataclass
class ErrorInfo:
    """What the target org said about a failed record."""

    status_code: str
    message: str
    fields: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """The result of one record in one phase (``sync``, ``deferred``, ``retry`` or ``rollback``)."""

    object: str
    source_id: str | None
    target_id: str | None
    status: str
    error: ErrorInfo | None = None
    phase: str = "sync"
    match_key: tuple[Any, ...] | None = None
    """For ``sending``: the key the target record will be found by if the answer is lost."""


@dataclass
class JobRow:
    """One job as stored in the journal."""

    id: int
    template_name: str
    template: dict
    source: OrgRef
    target: OrgRef
    state: str
    created: str
    updated: str
    plan: dict | None
    message: str | None
    interrupted: bool
    last_run_id: int | None
    run_by: str | None = None    # the person who started the job (their account on this computer)

    @property
    def active(self) -> bool:
        """True while the job's state is one of :data:`ACTIVE_STATES` (even when interrupted)."""
        return self.state in ACTIVE_STATES


@dataclass
class RunRow:
    """One execution (scan, sync, resync, retry or rollback) of a job."""

    id: int
    job_id: int
    kind: str
    status: str
    started: str
    finished: str | None
    counts: dict[str, ObjectCounts]


@dataclass
class RecordRow:
    """The latest known outcome of one record of a job.

    ``created`` is True when this job inserted the target record at some point, whatever the
    latest status is (e.g. a later deferred-lookup update failed): rollback must delete it.
    """

    job_id: int
    object: str
    source_id: str | None
    target_id: str | None
    status: str
    run_id: int
    updated: str
    created: bool = False


@dataclass
class ErrorRow:
    """One error reported for a record; ``resolved`` once a later outcome superseded it."""

    id: int
    job_id: int
    run_id: int
    object: str
    source_id: str | None
    target_id: str | None
    status_code: str
    message: str
    fields: list[str]
    phase: str
    created: str
    resolved: bool


_SCHEMA_V1 = """
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    template_name   TEXT NOT NULL,
    template        TEXT NOT NULL,
    source_alias    TEXT NOT NULL,
    source_org_id   TEXT NOT NULL,
    source_url      TEXT NOT NULL,
    target_alias    TEXT NOT NULL,
    target_org_id   TEXT NOT NULL,
    target_url      TEXT NOT NULL,
    state           TEXT NOT NULL,
    created         TEXT NOT NULL,
    updated         TEXT NOT NULL,
    plan            TEXT,
    message         TEXT,
    interrupted     INTEGER NOT NULL DEFAULT 0,
    last_run_id     INTEGER
);
CREATE INDEX jobs_template ON jobs(template_name);
CREATE INDEX jobs_state ON jobs(state);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    started     TEXT NOT NULL,
    finished    TEXT
);
CREATE INDEX runs_job ON runs(job_id, id);
CREATE INDEX runs_status ON runs(status);

CREATE TABLE run_counts (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    object      TEXT NOT NULL,
    total       INTEGER NOT NULL DEFAULT 0,
    processed   INTEGER NOT NULL DEFAULT 0,
    inserted    INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    existing    INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    restored    INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'Pending',
    seq         INTEGER NOT NULL,
    PRIMARY KEY (run_id, object)
);

CREATE TABLE records (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    object      TEXT NOT NULL,
    source_id   TEXT,
    target_id   TEXT,
    status      TEXT NOT NULL,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    updated     TEXT NOT NULL,
    created     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX records_by_source ON records(job_id, object, source_id)
    WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX records_by_target_only ON records(job_id, object, target_id)
    WHERE source_id IS NULL;
CREATE INDEX records_target ON records(job_id, object, target_id);
CREATE INDEX records_status ON records(job_id, status);

CREATE TABLE errors (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    object      TEXT NOT NULL,
    source_id   TEXT,
    target_id   TEXT,
    status_code TEXT NOT NULL,
    message     TEXT NOT NULL,
    fields      TEXT NOT NULL,
    phase       TEXT NOT NULL,
    created     TEXT NOT NULL,
    resolved    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX errors_open ON errors(job_id, resolved, object);
CREATE INDEX errors_by_source ON errors(job_id, object, source_id) WHERE resolved = 0;
CREATE INDEX errors_by_target ON errors(job_id, object, target_id) WHERE resolved = 0;
CREATE INDEX errors_run ON errors(run_id);

CREATE TABLE versions (
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    target_id   TEXT NOT NULL,
    object      TEXT NOT NULL,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    "values"    TEXT NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (job_id, target_id)
);

CREATE TABLE id_map (
    source_org_id   TEXT NOT NULL,
    target_org_id   TEXT NOT NULL,
    object          TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    job_id          INTEGER NOT NULL REFERENCES jobs(id),
    updated         TEXT NOT NULL,
    PRIMARY KEY (source_org_id, target_org_id, object, source_id)
);
CREATE INDEX id_map_target ON id_map(source_org_id, target_org_id, target_id);

CREATE TABLE settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
"""



def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL inside the caller's transaction (``executescript`` would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


# Each entry upgrades a journal from version N-1 to N (key N). Version 1 is the initial schema.
_MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: _run_script(conn, _SCHEMA_V1),
    2: lambda conn: conn.execute("ALTER TABLE jobs ADD COLUMN run_by TEXT"),   # who ran it (History)
    # the match key of a record written ahead of its create batch: how a lost answer is found again
    3: lambda conn: conn.execute("ALTER TABLE records ADD COLUMN match_key TEXT"),
    # Bulk API 2.0 jobs opened and not yet answered: the org goes on with them after a crash
    4: lambda conn: conn.execute("CREATE TABLE bulk_jobs (bulk_id TEXT PRIMARY KEY, job_id INTEGER NOT NULL "
                                 "REFERENCES jobs(id), object TEXT NOT NULL, operation TEXT NOT NULL, "
                                 "created TEXT NOT NULL)"),
}

_JOB_COLUMNS = (
    "id, template_name, template, source_alias, source_org_id, source_url, target_alias,"
    " target_org_id, target_url, state, created, updated, plan, message, interrupted, last_run_id, run_by"
)

_RECORD_UPSERT_BY_SOURCE = """
INSERT INTO records (job_id, object, source_id, target_id, status, run_id, updated, created, match_key)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (job_id, object, source_id) WHERE source_id IS NOT NULL DO UPDATE SET
    target_id = COALESCE(excluded.target_id, records.target_id),
    match_key = COALESCE(excluded.match_key, records.match_key),
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


def _dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


class Journal:
    """The SQLite journal of all jobs. Thread-safe; usable as a context manager.

    ``Journal(path)`` creates the file and its schema when missing and upgrades an older schema
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
                               factory=_Connection)
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
                raise _damage(self.path, exc) or exc from None
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
                    _MIGRATIONS[target](conn)
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
                _MIGRATIONS[target](conn)
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

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def _job_row(self, job_id: int) -> tuple:
        row = self._db.execute(f"SELECT {_JOB_COLUMNS} FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JournalError(f"no job {job_id} in the journal")
        return row

    def _require_job(self, job_id: int) -> None:
        if self._db.execute("SELECT 1 FROM jobs WHERE id = ?", (job_id,)).fetchone() is None:
            raise JournalError(f"no job {job_id} in the journal")

    def _run_job_id(self, run_id: int) -> int:
        row = self._db.execute("SELECT job_id FROM runs WHERE id = ?", (run_id,)).fetchone()
        if row is None:
            raise JournalError(f"no run {run_id} in the journal")
        return int(row[0])

    @staticmethod
    def _to_job(row: tuple) -> JobRow:
        (job_id, template_name, template, s_alias, s_org, s_url, t_alias, t_org, t_url, state,
         created, updated, plan, message, interrupted, last_run_id, run_by) = row
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
                (name, _dumps(template), source.alias, source.org_id, source.instance_url,
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
        _check(state, JOB_STATES, "job state")
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

    def set_plan(self, job_id: int, plan: dict) -> None:
        """Store the job's plan (JSON-serialisable dict)."""
        text = _dumps(plan)
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
                        to_undo=to_delete + to_restore)

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
        _check(kind, RUN_KINDS, "run kind")
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
        _check(status, RUN_STATUSES, "run status")
        with self._write() as conn:
            self._run_job_id(run_id)
            conn.execute("UPDATE runs SET status = ?, finished = ? WHERE id = ?", (status, utc_now(), run_id))
        logger.debug("run %d finished: %s", run_id, status)

    def set_object_counts(self, run_id: int, object_name: str, counts: ObjectCounts) -> None:
        """Insert or replace the counts of one object in one run (the first call fixes its order)."""
        values = [getattr(counts, name) for name in _COUNT_FIELDS]
        with self._write() as conn:
            self._run_job_id(run_id)
            conn.execute(
                f"INSERT INTO run_counts (run_id, object, {', '.join(_COUNT_FIELDS)}, status, seq)"
                f" VALUES (?, ?, {', '.join('?' * len(_COUNT_FIELDS))}, ?,"
                " (SELECT COUNT(*) FROM run_counts WHERE run_id = ?))"
                " ON CONFLICT (run_id, object) DO UPDATE SET "
                + ", ".join(f"{name} = excluded.{name}" for name in (*_COUNT_FIELDS, "status")),
                (run_id, object_name, *values, counts.status, run_id),
            )

    def _counts_for(self, run_ids: list[int]) -> dict[int, dict[str, ObjectCounts]]:
        result: dict[int, dict[str, ObjectCounts]] = {run_id: {} for run_id in run_ids}
        if not run_ids:
            return result
        rows = self._db.execute(
            f"SELECT run_id, object, {', '.join(_COUNT_FIELDS)}, status FROM run_counts"
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
            _check(outcome.status, RECORD_STATUSES, "record status")
            _check(outcome.phase, PHASES, "phase")
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
             _dumps(list(o.match_key)) if o.match_key is not None else None) for o in outcomes])
        conn.executemany(_ERRORS_RESOLVE_BY_SOURCE, [
            (job_id, o.object, o.source_id) for o in outcomes
            if o.error is not None or o.status in SUCCESS_STATUSES])
        conn.executemany(_ERROR_INSERT, [
            (job_id, run_id, o.object, o.source_id, o.target_id, o.error.status_code, o.error.message,
             _dumps(list(o.error.fields)), o.phase, now) for o in outcomes if o.error is not None])
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
            key = _dumps(list(outcome.match_key)) if outcome.match_key is not None else None
            conn.execute(_RECORD_UPSERT_BY_SOURCE,
                         (job_id, obj, source_id, target_id, status, run_id, now, created, key))
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
                                         error.message, _dumps(list(error.fields)), outcome.phase, now))
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

    def rollback_counts(self, job_id: int) -> tuple[int, int]:
        """(records a rollback would delete, records it would restore), counted in SQL.

        Cheap enough for the GUI thread on large jobs: it decides whether Rollback is offered.
        """
        with self._lock:
            self._require_job(job_id)
            to_delete = self._db.execute(
                "SELECT COUNT(*) FROM records WHERE job_id = ? AND ((created = 1 AND target_id IS NOT NULL"
                " AND status != 'rolled_back') OR status = 'sending')", (job_id,)).fetchone()[0]
            to_restore = self._db.execute(
                "SELECT COUNT(*) FROM versions v WHERE v.job_id = ? AND NOT EXISTS (SELECT 1 FROM records r"
                " WHERE r.job_id = v.job_id AND r.target_id = v.target_id AND r.status IN ('restored', 'rolled_back'))",
                (job_id,)).fetchone()[0]
        return int(to_delete), int(to_restore)

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
                    new_rows.append((job_id, target_id, object_name, run_id, _dumps(values), now))
                elif set(values) - set(known[target_id]):
                    merged_rows.append((_dumps({**values, **known[target_id]}), job_id, target_id))
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

    def forget_target_ids(self, source_org_id: str, target_org_id: str, target_ids: Iterable[str]) -> None:
        """Drop id-map entries that point at target records which no longer exist (rolled back)."""
        rows = [(source_org_id, target_org_id, target_id) for target_id in target_ids]
        if not rows:
            return
        with self._write() as conn:
            conn.executemany(
                "DELETE FROM id_map WHERE source_org_id = ? AND target_org_id = ? AND target_id = ?", rows
            )

    # ------------------------------------------------------------------ settings

    def set_setting(self, key: str, value: Any) -> None:
        """Store a small JSON-serialisable value under ``key`` (e.g. automation to restore)."""
        text = _dumps(value)
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
