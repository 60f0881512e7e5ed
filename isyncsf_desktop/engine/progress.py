"""What a run is expected to process, per object, before it starts: the denominator of its progress.

A run learns an object's record count only when it reaches that object (``ObjectStarted.total``),
so a progress bar for the whole run needs the plan's numbers for the objects still to come. These
come from the journal: the scan's counts for a sync, those minus what already succeeded for a
re-sync, the failed records for a retry, and what is left to delete or restore for a rollback.
"""

from __future__ import annotations

from collections import Counter

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


__all__ = ["planned_records", "scanned_counts"]
