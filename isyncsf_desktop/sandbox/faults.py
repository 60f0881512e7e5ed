"""Fault injection for one sandbox org: what a flaky real org does, on demand, for tests.

Counts are consumed as requests arrive ("fail the next 2 requests with 503"), so tests are
deterministic; rates (0..1) use a seeded random generator for soak-style runs.
"""

from __future__ import annotations

import random
import threading
import time
from dataclasses import dataclass, field, fields
from collections.abc import Callable
from typing import Any

from .errors import RecordError


@dataclass
class Faults:
    """Per-org fault settings. Change them with :meth:`update`; all are off by default."""

    latency: float = 0.0                 # seconds added to every API call
    http_503: int = 0                    # the next N API calls answer 503 SERVER_UNAVAILABLE
    request_limit_exceeded: int = 0      # the next N API calls answer 403 REQUEST_LIMIT_EXCEEDED
    lock_row: int = 0                    # the next N records written fail UNABLE_TO_LOCK_ROW
    lock_row_rate: float = 0.0           # or this share of records written, at random
    # Bulk API 2.0 ingest as a busy org runs it: a job's rows are split into internal batches of
    # ``bulk_batch_rows`` that run in parallel, and a row whose parent (a lookup or master-detail value,
    # not an owner or record type) is also written under by another batch of the same job waits for the
    # parent's lock; this share of those rows fail UNABLE_TO_LOCK_ROW naming the parent (drawn from
    # ``seed`` and the job's place among the jobs contended so far, so a test sees the same rows fail).
    # Rows grouped by parent (each parent's rows in one batch) never contend, as Salesforce advises.
    lock_contention: float = 0.0
    bulk_batch_rows: int = 10_000
    api_budget: int | None = None        # API calls allowed in all; past it 403 REQUEST_LIMIT_EXCEEDED
    drop_after_commit: int = 0           # the next N DML calls commit, then the connection drops
    bulk_hold: bool = False              # closed Bulk 2.0 ingest jobs wait in the queue (UploadComplete) until False
    bulk_rows_per_second: float = 0.0    # Bulk 2.0 ingest jobs are processed at most this fast (0: as fast as the store goes)
    bulk_created_by: str | None = None   # Bulk 2.0 ingest jobs opened now are created by this user (another user of the org)
    # The next N create requests (POST composite/sobjects, POST sobjects/X) are held: the connection drops
    # unanswered at once (the client's answer is lost, as when its read timeout fires), and the org commits
    # them only later, as a real org finishes a request whose client has gone away: when
    # :meth:`release_held` is called, once the org has answered ``hold_release_after`` further requests,
    # or right after it answers a request whose URL (path and decoded query) contains ``hold_release_on``.
    # The commit happens before that answer goes out, so the request that released it does not see it.
    # A held create still waiting when the server stops is discarded (never committed).
    hold_create: int = 0
    hold_release_after: int | None = None
    hold_release_on: str | None = None
    file_storage_mb: int | None = None   # the org's file storage (FileStorageMB); None: 1024 MB
    max_file_mb: int | None = None       # a lower ceiling on one file than the org's own (2 GB, 25 MB an attachment)
    seed: int = 7
    # Python only (tests): called with ("before" | "after", method, path) around every authenticated
    # call's handler; "after" runs once the org has committed, before the answer goes out; "drop"
    # returned from "before" drops the connection unprocessed. A kill trial uses it to end a
    # client process at an exact point.
    observer: Callable[[str, str, str], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _bulk_released: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)
    _held: list["_Held"] = field(default_factory=list, repr=False, compare=False)
    _held_seen: threading.Condition = field(default_factory=threading.Condition, repr=False, compare=False)
    _held_total: int = field(default=0, repr=False, compare=False)
    _contended_jobs: int = field(default=0, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._bulk_released.set()

    def update(self, **settings: Any) -> None:
        names = {f.name for f in fields(self) if not f.name.startswith("_")}
        unknown = set(settings) - names
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
        with self._lock:
            for key, value in settings.items():
                setattr(self, key, value)
            if "seed" in settings:
                self._random.seed(self.seed)
            if self.bulk_hold:
                self._bulk_released.clear()
            else:
                self._bulk_released.set()

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")
                and f.name != "observer"}

    def bulk_turn(self) -> None:
        """A Bulk job's turn in the org's queue: now, or once ``bulk_hold`` is set back to False (as a
        busy real org keeps jobs queued for a while)."""
        self._bulk_released.wait()

    def bulk_pace(self, started: float, processed: int, abort: threading.Event | None = None) -> None:
        """Called by a Bulk job's processing after each chunk: with ``bulk_rows_per_second`` set, wait until
        ``processed`` rows have taken as long as that rate says since ``started`` (``time.monotonic()``), as a
        real org's jobs take their time; ``abort`` ends the wait early."""
        rate = self.bulk_rows_per_second
        if rate and rate > 0:
            left = started + processed / rate - time.monotonic()
            if left > 0:
                (abort or threading.Event()).wait(left)

    def take(self, name: str) -> bool:
        """Consume one count of fault ``name``; True when it fires."""
        with self._lock:
            remaining = getattr(self, name)
            if remaining > 0:
                setattr(self, name, remaining - 1)
                return True
            return False

    # ------------------------------------------------------------------ held creates
    def hold(self, commit: Callable[[], Any]) -> None:
        """Called by the server thread of a held create (its connection already dropped): wait until the
        hold is released, then ``commit`` (run the request's handler), or discard it."""
        held = _Held(commit)
        with self._held_seen:
            self._held.append(held)
            self._held_total += 1
            self._held_seen.notify_all()
        held.go.wait()
        try:
            if held.commit:
                commit()
        finally:
            held.done.set()

    def wait_held(self, count: int = 1, timeout: float = 60.0) -> bool:
        """Block until ``count`` creates have been held in all (True), or ``timeout`` seconds passed."""
        with self._held_seen:
            return self._held_seen.wait_for(lambda: self._held_total >= count, timeout)

    @property
    def held(self) -> int:
        """Creates held now (not committed nor discarded yet)."""
        with self._held_seen:
            return len(self._held)

    def release_held(self, *, commit: bool = True, timeout: float = 60.0) -> int:
        """Commit (or discard) every create held now; returns once each is done. How many there were."""
        with self._held_seen:
            held, self._held = self._held, []
        for item in held:
            item.commit = commit
            item.go.set()
        for item in held:
            if not item.done.wait(timeout):
                raise RuntimeError("a held create did not finish committing")
        return len(held)

    def answered(self, url: str) -> None:
        """Called by the server once it has the answer to a request of this org, before it goes out:
        commits the held creates when ``hold_release_after`` / ``hold_release_on`` say so."""
        if not self._held:
            return
        release = False
        with self._lock:
            if self.hold_release_after is not None:
                self.hold_release_after -= 1
                if self.hold_release_after <= 0:
                    self.hold_release_after = None
                    release = True
            if self.hold_release_on and self.hold_release_on in url:
                self.hold_release_on = None
                release = True
        if release:
            self.release_held()

    def contention(self, rows: int, parents_of: Callable[[], list[tuple[str, ...]]]) -> dict[int, str]:
        """Rows of one Bulk ingest job of ``rows`` rows that fail UNABLE_TO_LOCK_ROW under
        ``lock_contention``: row -> the parent whose lock it could not get. ``parents_of`` gives each row's
        parent ids, in the upload's order (asked only when the fault is on and the job has several batches)."""
        rate, size = self.lock_contention, max(1, int(self.bulk_batch_rows))
        if not rate or rows <= size:
            return {}
        parents = parents_of()
        batches: dict[str, set[int]] = {}
        for row, ids in enumerate(parents):
            for parent in ids:
                batches.setdefault(parent, set()).add(row // size)
        with self._lock:
            self._contended_jobs += 1
            draw = random.Random(f"{self.seed}:{self._contended_jobs}")
        failed: dict[int, str] = {}
        for row, ids in enumerate(parents):
            shared = next((p for p in ids if len(batches[p]) > 1), None)
            if shared is not None and (rate >= 1 or draw.random() < rate):
                failed[row] = shared
        return failed

    def record_fault(self, _index: int) -> RecordError | None:
        """Called per record written: a lock error, or None."""
        if (self.lock_row > 0 and self.take("lock_row")) \
                or (self.lock_row_rate and self._random.random() < self.lock_row_rate):
            return lock_error()
        return None


def lock_error(record_id: str | None = None) -> RecordError:
    """The error a row gets when the org cannot lock a record it needs (``record_id``: which)."""
    return RecordError("UNABLE_TO_LOCK_ROW", "unable to obtain exclusive access to this record or 1 records"
                       + (f": {record_id}" if record_id else ""), [])


class _Held:
    """One held create: released by setting ``go`` (``commit`` says whether it commits), then ``done``."""

    def __init__(self, commit: Callable[[], Any]) -> None:
        self.handler = commit
        self.commit = False
        self.go = threading.Event()
        self.done = threading.Event()
