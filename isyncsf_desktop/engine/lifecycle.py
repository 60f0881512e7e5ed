"""The job's life in one place: its states, run kinds and statuses, which move is allowed, and why an
action may not start now.

The ground floor of ``engine/`` (it imports nothing of the project). The journal refuses a state change
this module does not allow; the engine, the CLI, the Execute tab and the History page all ask
:func:`refusal` whether an action may start, and show its sentence when it may not, so a button's
tooltip, the CLI's error and the engine's error are the same words.

The values are the strings stored in the journal and printed by ``--json``: an enum member compares
equal to its string, so stored jobs and scripts that read the output stay valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class JobState(StrEnum):
    """Where a job stands, exactly as users see it."""

    NOT_STARTED = "Not Started"
    SCAN_IN_PROGRESS = "Scan In Progress"
    SCANNED = "Scanned"
    SYNC_IN_PROGRESS = "Sync In Progress"
    SYNCED = "Synced"
    ROLLBACK = "Rollback"                    # a rollback is getting ready (looking for what to undo)
    ROLLBACK_STARTED = "Rollback Started"
    ROLLBACK_COMPLETED = "Rollback Completed"
    ABORTED = "Aborted"
    DELETED = "Deleted"

    @property
    def active(self) -> bool:
        """A run is working on the job in this state (or was, when the job is found interrupted)."""
        return self in ACTIVE_STATES

    @property
    def rolled_back(self) -> bool:
        """A rollback started on the job (finished or not)."""
        return self in ROLLBACK_STATES

    @property
    def tone(self) -> str:
        """How the state is coloured: success, warning, muted, accent (the GUI maps tones to colours)."""
        return _TONES.get(self, "accent")


class RunKind(StrEnum):
    """What one run of a job does."""

    SCAN = "scan"
    SYNC = "sync"
    RESYNC = "resync"
    RETRY = "retry"
    ROLLBACK = "rollback"

    @property
    def label(self) -> str:
        """How the app names a run of this kind (the Execute tab's summary, the History page)."""
        return _RUN_LABELS[self]


class RunStatus(StrEnum):
    """How a run stands or ended."""

    INITIALIZING = "Initializing"
    EXECUTING = "Executing"
    COMPLETED = "Completed"
    ABORTED = "Aborted"
    PAUSED = "Paused"
    FAILED = "Failed"


class ObjectStatus(StrEnum):
    """Where one object of a run stands or ended (the progress table's Status column)."""

    PENDING = "Pending"
    READING = "Reading…"      # the run reached it: its source and target records are being read
    SCANNED = "Scanned"
    EXECUTING = "Executing"
    COMPLETED = "Completed"
    AWAITING_SECOND_PASS = "Awaiting second pass"
    ABORTED = "Aborted"
    ABORTED_BEFORE_SECOND_PASS = "Aborted before 2nd pass"
    NOT_STARTED = "Not started"
    ROLLING_BACK = "Rolling back"
    ROLLED_BACK = "Rolled back"
    NOTHING_TO_UNDO = "Nothing to undo"      # a rollback's object that had no record to undo

    @property
    def finished(self) -> bool:
        """The object's part of the run is done (its bar is full)."""
        return self in (ObjectStatus.COMPLETED, ObjectStatus.AWAITING_SECOND_PASS, ObjectStatus.ROLLED_BACK,
                        ObjectStatus.NOTHING_TO_UNDO)


class RecordStatus(StrEnum):
    """The latest outcome of one record of a job."""

    SENDING = "sending"          # about to be created: written before the batch goes out (a crash leaves it)
    INSERTED = "inserted"
    UPDATED = "updated"
    EXISTING = "existing"
    FAILED = "failed"
    SKIPPED = "skipped"
    ROLLED_BACK = "rolled_back"
    RESTORED = "restored"
    ROLLBACK_FAILED = "rollback_failed"
    DELETING = "deleting"        # about to be deleted by a rollback: written before the delete goes out


class Action(StrEnum):
    """What a user (or a script) can ask of an existing job."""

    SYNC = "sync"
    RESYNC = "resync"
    RETRY = "retry"
    ROLLBACK = "rollback"
    DELETE = "delete"


ACTIVE_STATES: frozenset[JobState] = frozenset({JobState.SCAN_IN_PROGRESS, JobState.SYNC_IN_PROGRESS,
                                                 JobState.ROLLBACK, JobState.ROLLBACK_STARTED})
ROLLBACK_STATES: frozenset[JobState] = frozenset({JobState.ROLLBACK, JobState.ROLLBACK_STARTED,
                                                   JobState.ROLLBACK_COMPLETED})
SYNC_KINDS: frozenset[RunKind] = frozenset({RunKind.SYNC, RunKind.RESYNC, RunKind.RETRY})
SUCCESS_STATUSES: frozenset[RecordStatus] = frozenset({RecordStatus.INSERTED, RecordStatus.UPDATED,
                                                        RecordStatus.EXISTING, RecordStatus.ROLLED_BACK,
                                                        RecordStatus.RESTORED})
"""Outcomes that resolve earlier open errors of the same record."""
MAPPED_STATUSES: frozenset[RecordStatus] = frozenset({RecordStatus.INSERTED, RecordStatus.UPDATED,
                                                       RecordStatus.EXISTING})
"""Outcomes that put the source->target pair into the id map (a record the job need not send again)."""

_RUN_LABELS: dict[RunKind, str] = {RunKind.SCAN: "Scan", RunKind.SYNC: "Sync", RunKind.RESYNC: "ReSync",
                                   RunKind.RETRY: "Retry", RunKind.ROLLBACK: "Rollback"}
_TONES: dict[JobState, str] = {JobState.SYNCED: "success", JobState.ROLLBACK_COMPLETED: "success",
                               JobState.ABORTED: "warning", JobState.DELETED: "muted", JobState.NOT_STARTED: "muted"}

_S = JobState
NEXT_STATES: dict[JobState, frozenset[JobState]] = {
    _S.NOT_STARTED: frozenset({_S.SCAN_IN_PROGRESS, _S.SYNC_IN_PROGRESS, _S.DELETED}),
    # a scan ends Scanned, or Not Started when it fails; an interrupted scan may be resumed or synced
    _S.SCAN_IN_PROGRESS: frozenset({_S.SCAN_IN_PROGRESS, _S.SCANNED, _S.NOT_STARTED, _S.SYNC_IN_PROGRESS,
                                    _S.ROLLBACK, _S.DELETED}),
    _S.SCANNED: frozenset({_S.SCAN_IN_PROGRESS, _S.SYNC_IN_PROGRESS, _S.ROLLBACK, _S.DELETED}),
    # Initializing -> Executing keeps the state; a run ends Synced or Aborted
    _S.SYNC_IN_PROGRESS: frozenset({_S.SYNC_IN_PROGRESS, _S.SYNCED, _S.ABORTED, _S.SCAN_IN_PROGRESS, _S.ROLLBACK,
                                    _S.DELETED}),
    _S.SYNCED: frozenset({_S.SCAN_IN_PROGRESS, _S.SYNC_IN_PROGRESS, _S.ROLLBACK, _S.DELETED}),
    _S.ROLLBACK: frozenset({_S.ROLLBACK_STARTED, _S.ABORTED, _S.ROLLBACK, _S.DELETED}),
    _S.ROLLBACK_STARTED: frozenset({_S.ROLLBACK_COMPLETED, _S.ABORTED, _S.ROLLBACK, _S.DELETED}),
    # a rollback that left records (they failed to delete or restore) can be run again
    _S.ROLLBACK_COMPLETED: frozenset({_S.ROLLBACK, _S.DELETED}),
    # an aborted sync is resumed (resync, retry) or rolled back; an aborted rollback is run again, or the
    # job synced again to put back what it had already deleted
    _S.ABORTED: frozenset({_S.SCAN_IN_PROGRESS, _S.SYNC_IN_PROGRESS, _S.ROLLBACK, _S.DELETED}),
    _S.DELETED: frozenset(),
}
"""Which state may follow which (the journal refuses any other move)."""


def may_move(current: JobState | str, new: JobState | str) -> bool:
    """True when a job in ``current`` may be put in ``new``."""
    return JobState(new) in NEXT_STATES[JobState(current)]


@dataclass(frozen=True)
class JobFacts:
    """What decides whether an action may start on a job: read from the journal in one go
    (``Journal.job_facts``), so every caller decides on the same facts."""

    job_id: int
    state: JobState
    interrupted: bool = False          # found in an active state after a crash: resume or roll back
    failed: int = 0                    # records whose latest outcome is a failure
    to_undo: int = 0                   # records a rollback would delete or restore: the two below
    to_delete: int = 0                 # records it inserted that a rollback would delete
    to_restore: int = 0                # records it updated that a rollback would restore

    @property
    def running(self) -> bool:
        return JobState(self.state).active and not self.interrupted


def refusal(action: Action | str, facts: JobFacts) -> str | None:
    """None when ``action`` may start on the job now, else the one sentence that says why not."""
    action = Action(action)
    state = JobState(facts.state)
    job = f"Job {facts.job_id}"
    if state is JobState.DELETED:
        return f"{job} is deleted"
    if facts.running:
        return f"{job} is running ({state}); abort it first"
    if action is Action.DELETE:
        return None
    if action is Action.ROLLBACK:
        if facts.to_undo == 0:
            return (f"{job} has nothing left to roll back: no record it inserted or updated is still in "
                    "place")
        return None
    if state.rolled_back:
        return f"{job} was rolled back; start a new sync instead"
    if action is Action.RETRY and facts.failed == 0:
        return f"{job} has no failed records to retry"
    return None


def object_ended(reached: ObjectStatus | str | None, processed: int) -> ObjectStatus:
    """Where an object stands that no run of its job completed, when a run stopped: ``reached`` is its
    status in the last sync or resync run that reached it (None: none did), ``processed`` how many of its
    records this run processed."""
    if reached is None and processed == 0:
        return ObjectStatus.NOT_STARTED
    if reached == ObjectStatus.AWAITING_SECOND_PASS:
        return ObjectStatus.ABORTED_BEFORE_SECOND_PASS
    return ObjectStatus.ABORTED


__all__ = ["ACTIVE_STATES", "Action", "JobFacts", "JobState", "MAPPED_STATUSES", "NEXT_STATES", "ObjectStatus",
           "ROLLBACK_STATES", "RecordStatus", "RunKind", "RunStatus", "SUCCESS_STATUSES", "SYNC_KINDS", "may_move",
           "object_ended", "refusal"]
