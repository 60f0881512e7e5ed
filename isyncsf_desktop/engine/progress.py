"""What a run is expected to process, per object, before it starts: the denominator of its progress.

A run learns an object's record count only when it reaches that object (``ObjectStarted.total``),
so a progress bar for the whole run needs the plan's numbers for the objects still to come. These
come from the journal: the scan's counts for a sync, those minus what already succeeded for a
re-sync, the failed records for a retry, and what is left to delete or restore for a rollback.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .journal import Journal
from .lifecycle import RecordStatus, RunKind, RunStatus

SUCCEEDED = (RecordStatus.INSERTED, RecordStatus.UPDATED, RecordStatus.EXISTING)


def scanned_counts(journal: Journal, job_id: int) -> dict[str, int]:
    """Records in scope per object, from the job's latest completed scan (empty before one)."""
    scans = [run for run in journal.runs(job_id) if run.kind == RunKind.SCAN and run.status == RunStatus.COMPLETED]
    return {name: counts.total for name, counts in scans[-1].counts.items()} if scans else {}


def planned_records(journal: Journal, job_id: int, kind: RunKind | str) -> dict[str, int]:
    """Records each object is expected to process in a run of ``kind`` ("sync", "resync", "retry",
    "rollback") of job ``job_id``, as far as the journal knows now."""
    if kind == RunKind.RETRY:
        return dict(Counter(r.object for r in journal.records(job_id, statuses=[RecordStatus.FAILED]) if r.source_id))
    if kind == RunKind.ROLLBACK:
        left = Counter(r.object for r in journal.records(job_id)
                       if (r.created and r.target_id and r.status != RecordStatus.ROLLED_BACK)
                       or r.status == RecordStatus.SENDING)
        done = {r.target_id for r in journal.records(job_id, statuses=[RecordStatus.RESTORED,
                                                                       RecordStatus.ROLLED_BACK])}
        left.update(name for target_id, (name, _values) in journal.versions(job_id).items() if target_id not in done)
        return dict(left)
    scanned = scanned_counts(journal, job_id)
    if kind == RunKind.RESYNC:
        succeeded = Counter(r.object for r in journal.records(job_id, statuses=SUCCEEDED))
        return {name: max(0, total - succeeded.get(name, 0)) for name, total in scanned.items()}
    return scanned


TIMES_SETTING = "object_times:{org_id}:{template}"
"""The journal setting holding what each object of the last completed sync of a template to a target org took."""


def remember_times(journal: Journal, job_id: int, measured: dict[str, dict[str, Any]]) -> None:
    """Keep what each object of a completed sync of job ``job_id`` took (:meth:`.eta.Eta.measured`: its records
    and its share of the run's seconds) as the time-left prior of the next sync of the same template to the same
    target org (:func:`times_before`); the last such run replaces the one before."""
    if measured:
        job = journal.job(job_id)
        journal.set_setting(TIMES_SETTING.format(org_id=job.target.org_id, template=job.template_name), measured)


def times_before(journal: Journal, job_id: int) -> dict[str, Any]:
    """What each object took in the last completed sync of job ``job_id``'s template to its target org (empty:
    none yet): for :meth:`.eta.Eta.use_prior`."""
    job = journal.job(job_id)
    kept = journal.get_setting(TIMES_SETTING.format(org_id=job.target.org_id, template=job.template_name))
    return kept if isinstance(kept, dict) else {}


@dataclass
class Standing:
    """Where the records of one object (or of a whole job) stand after every run of the job so far, as the
    journal's latest outcome per record says: a retry or a resync changes it, a run's own counts do not."""

    in_scope: int = 0         # records the job's latest scan found (0: not known)
    synced: int = 0           # latest outcome inserted, updated or existing
    failed: int = 0
    skipped: int = 0
    other: int = 0            # in flight when a run was interrupted, or undone by a rollback

    @property
    def recorded(self) -> int:
        """Records with an outcome in the journal."""
        return self.synced + self.failed + self.skipped + self.other

    @property
    def records(self) -> int:
        """The records the job takes: those in scope, or those it recorded when it recorded more."""
        return max(self.in_scope, self.recorded)

    @property
    def not_reached(self) -> int:
        """Records in scope that no run of the job reached yet (an aborted or paused job)."""
        return self.records - self.recorded

    def __add__(self, other: Standing) -> Standing:
        return Standing(self.in_scope + other.in_scope, self.synced + other.synced, self.failed + other.failed,
                        self.skipped + other.skipped, self.other + other.other)


def job_standing(journal: Journal, job_id: int) -> dict[str, Standing]:
    """Per object (the scan's order first), where the job's records stand after all its runs so far."""
    scanned = scanned_counts(journal, job_id)
    by_status = journal.status_counts(job_id)
    result: dict[str, Standing] = {}
    for name in [*scanned, *(n for n in by_status if n not in scanned)]:
        counts = by_status.get(name, {})
        synced = sum(counts.get(status, 0) for status in SUCCEEDED)
        failed, skipped = counts.get(RecordStatus.FAILED, 0), counts.get(RecordStatus.SKIPPED, 0)
        result[name] = Standing(in_scope=scanned.get(name, 0), synced=synced, failed=failed, skipped=skipped,
                                other=sum(counts.values()) - synced - failed - skipped)
    return result


__all__ = ["Standing", "job_standing", "planned_records", "scanned_counts"]
