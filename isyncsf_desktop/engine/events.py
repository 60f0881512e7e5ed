"""What the engine tells its observer while it works. The engine never prints.

An observer is any callable taking one :class:`Event`. The GUI turns these into Qt signals (and
throttles them); the CLI draws a progress bar; tests collect them.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .journal import ObjectCounts
from .lifecycle import RunKind, RunStatus

# Run status as the Execute tab shows it: the RunStatus members, under the names older code imports from here
# (typed str, as they were, so a dict keyed by them still takes any status string).
INITIALIZING: str = RunStatus.INITIALIZING
EXECUTING: str = RunStatus.EXECUTING
COMPLETED: str = RunStatus.COMPLETED
ABORTED: str = RunStatus.ABORTED
FAILED: str = RunStatus.FAILED
PAUSED: str = RunStatus.PAUSED
"""The run stopped on its own before an org's API requests ran out (or after they did); the job is
Aborted with a message that says how to continue, and a ReSync continues it without loss."""


@dataclass(frozen=True)
class Event:
    job_id: int
    elapsed: float


@dataclass(frozen=True)
class StateChanged(Event):
    state: str                 # a lifecycle.JobState
    status: str                # a lifecycle.RunStatus
    message: str | None = None


@dataclass(frozen=True)
class ObjectReading(Event):
    """The run reached an object: its source records, and the target records they may match, are being read.
    :class:`ObjectStarted` follows once they are, with how many there are to process."""

    object: str
    index: int                 # 1-based position in the migration order
    count: int                 # objects in the run


@dataclass(frozen=True)
class ObjectShape:
    """How the first pass will write one object, as far as the plan says before anything is read: what the time
    left of an object not reached yet is made of (:mod:`.eta`)."""

    hierarchy: bool            # a self-lookup: written level by level (each level its own Bulk jobs or batches)
    bulk_from: int             # a write of this many records or more goes through Bulk API 2.0 (0: never)
    job_rows: int              # rows of one Bulk job at most
    at_once: int               # Bulk jobs (or Collections batches) of the object out at once
    second_pass: bool          # lookups set afterwards by a second pass of updates (not counted by the time left yet)
    after: tuple[str, ...] = ()    # objects whose first pass it waits for (with several objects at once)


@dataclass(frozen=True)
class RunPlanned(Event):
    """The first pass begins: how each object of the plan will be written (its records are in
    :func:`.progress.planned_records`), and how many objects go at once (the template's ``parallel_objects``)."""

    objects: dict[str, ObjectShape]
    parallel_objects: int


@dataclass(frozen=True)
class ObjectStarted(Event):
    object: str
    index: int                 # 1-based position in the migration order
    count: int                 # objects in the run
    total: int                 # records to process for this object


@dataclass(frozen=True)
class BatchDone(Event):
    object: str
    counts: ObjectCounts       # this object so far in this run
    totals: ObjectCounts       # the whole run so far


@dataclass(frozen=True)
class BulkJobProgress(Event):
    """The org has processed ``processed`` rows of a Bulk API job of ``object`` so far (``ended``: the job is over).
    Nothing of them is journaled yet (a :class:`BatchDone` follows once its results are): for the time left only.
    It may come from a thread of the run's other than the one the other events come from."""

    object: str
    bulk_id: str
    processed: int
    ended: bool = False


@dataclass(frozen=True)
class RecordFailed(Event):
    object: str
    source_id: str | None
    target_id: str | None
    status_code: str
    message: str
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class FilesProgress(Event):
    """The files stage (engine/run/files.py) moved bytes: files and MB done of those planned, and the rate."""

    object: str                # the journal's files object: ContentVersion, Attachment or Note
    files_done: int
    files_planned: int
    bytes_done: int
    bytes_planned: int
    bytes_per_second: float


@dataclass(frozen=True)
class ObjectFinished(Event):
    object: str
    counts: ObjectCounts


@dataclass(frozen=True)
class Notice(Event):
    """Something the user should read that is not a record error (a skipped field, an unmapped user)."""

    text: str
    level: str = "warning"


Observer = Callable[[Event], None]


class CancelToken:
    """Cooperative cancellation: the engine checks it between batches.

    It is also a hold gate: while :meth:`hold` is in force (the user is asked whether to abort), the
    engine waits at its next check, before another batch or Bulk job goes out, until :meth:`release`
    (go on) or :meth:`cancel` (abort). :attr:`holding` is true while the engine waits there.
    """

    def __init__(self) -> None:
        self._event = threading.Event()
        self._free = threading.Event()
        self._free.set()
        self._holding = threading.Event()
        self.reason: str | None = None

    def cancel(self, reason: str = "aborted by the user") -> None:
        self.reason = reason
        self._event.set()
        self._free.set()           # a held run wakes up, to stop

    def hold(self) -> None:
        """Make the run wait at its next check (before its next batch) until :meth:`release` or :meth:`cancel`."""
        if not self._event.is_set():
            self._free.clear()

    def release(self) -> None:
        """Let a held run go on."""
        self._free.set()

    @property
    def held(self) -> bool:
        """A hold is in force (the run waits, or will at its next check)."""
        return not self._free.is_set()

    @property
    def holding(self) -> bool:
        """The run is waiting at the gate now: nothing more goes out until it is released or cancelled."""
        return self._holding.is_set()

    def wait_holding(self, seconds: float) -> bool:
        """Wait up to ``seconds`` until the run waits at the gate; True once it does."""
        return self._holding.wait(max(0.0, seconds))

    def gate(self) -> None:
        """Called by the engine before each batch: wait while held (a released or cancelled token passes)."""
        if self._free.is_set():
            return
        self._holding.set()
        try:
            self._free.wait()
        finally:
            self._holding.clear()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def wait(self, seconds: float) -> bool:
        """Wait up to ``seconds`` for a cancel; True when the run was cancelled (at once if it already was)."""
        return self._event.wait(max(0.0, seconds))


@dataclass
class RunResult:
    """What one engine run (scan, sync, resync, retry, rollback) did."""

    job_id: int
    run_id: int
    kind: str
    state: str
    status: str
    objects: dict[str, ObjectCounts] = field(default_factory=dict)
    message: str | None = None
    api_calls: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    masked: dict[str, int] = field(default_factory=dict)    # "Object.Field" -> values this run masked

    @property
    def totals(self) -> ObjectCounts:
        total = ObjectCounts()
        for counts in self.objects.values():
            total = _add(total, counts)
        return total

    def as_json(self) -> dict[str, Any]:
        keys: tuple[str, ...] = ("inserted", "updated", "existing", "errors")
        if self.kind == RunKind.SCAN:
            keys = ("records",)   # the records in scope per object, in migration order
        rows = [{"object": name, **{k: _count(c, k) for k in keys}} for name, c in self.objects.items()]
        totals = self.totals
        out: dict[str, Any] = {"job_id": self.job_id, "state": self.state, "status": self.status, "kind": self.kind,
                               "objects": rows, "totals": {k: _count(totals, k) for k in keys}}
        if self.kind == RunKind.SCAN:
            out["order"] = list(self.objects)
        if self.kind == RunKind.ROLLBACK:
            for row, counts in zip(rows, self.objects.values()):
                row.update(deleted=counts.deleted, restored=counts.restored)
            out["totals"].update(deleted=totals.deleted, restored=totals.restored)
        if self.message:
            out["message"] = self.message
        if self.masked:
            out["masked"] = dict(self.masked)
        return out


def _count(counts: ObjectCounts, key: str) -> int:
    return counts.total if key == "records" else int(getattr(counts, key))


def _add(a: ObjectCounts, b: ObjectCounts) -> ObjectCounts:
    return ObjectCounts(total=a.total + b.total, processed=a.processed + b.processed, inserted=a.inserted + b.inserted,
                        updated=a.updated + b.updated, existing=a.existing + b.existing, errors=a.errors + b.errors,
                        deleted=a.deleted + b.deleted, restored=a.restored + b.restored, status=a.status)


add_counts = _add
