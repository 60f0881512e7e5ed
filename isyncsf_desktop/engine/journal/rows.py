"""What the journal takes and hands back: the rows (jobs, runs, records, errors), outcomes and counts, the
value tuples it checks against, :class:`JournalError`, and the small helpers every part of it shares."""

from __future__ import annotations

import getpass
import json
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from typing import Any

from ..lifecycle import MAPPED_STATUSES as _MAPPED
from ..lifecycle import SUCCESS_STATUSES as _SUCCESS
from ..lifecycle import JobState, ObjectStatus, RecordStatus, RunKind, RunStatus

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

COUNT_FIELDS: tuple[str, ...] = (
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


def dumps(value: Any) -> str:
    """``value`` as compact JSON text, non-ASCII kept as is: how the journal stores JSON."""
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def check(value: str, allowed: tuple[str, ...], what: str) -> None:
    """Refuse (``ValueError``) a ``value`` that is not one of ``allowed``; ``what`` names it."""
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; expected one of {', '.join(allowed)}")


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
    status: str = ObjectStatus.PENDING

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
        numbers = {name: getattr(self, name) + getattr(other, name) for name in COUNT_FIELDS}
        status = other.status if other.status != ObjectStatus.PENDING else self.status
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
    via_bulk: bool = False
    """For ``sending``: written ahead of a Bulk API ingest job (not a Collections request), which the org
    commits nothing of once it has ended, so a later run need not wait for a late commit of it."""


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
    preview_id: int | None = None   # the preview the job applied (engine/run/apply.py)

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
