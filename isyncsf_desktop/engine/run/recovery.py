"""What a crash left, put straight before a run reads the target: Bulk jobs the interrupted run opened
(waited for, or aborted), and records written ahead as ``sending`` whose create batch went out but whose
answer was lost (found on the target by their match key and claimed, or marked skipped).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from typing import Any

from ..events import Notice
from ..journal import Outcome
from ..lifecycle import RecordStatus
from ..plan import Plan
from ..values import match_value, path_value
from .context import RunContext, Stop, key_json

logger = logging.getLogger(__name__)

BULK_ENDED = ("JobComplete", "Failed", "Aborted", "Gone")
"""States of a Bulk API job that will not write anything any more."""


def target_key(row: dict[str, Any], match_by: list[str]) -> tuple[Any, ...] | None:
    """The match key of a record as it is on the target (lookups already hold target ids)."""
    parts = []
    for path in match_by:
        value = match_value(path_value(row, path))
        if value is None:
            return None
        parts.append(value)
    return key_json(tuple(parts))


def claim_in_flight(wanted: dict[str, tuple[Any, ...] | None], rows: dict[str, dict[str, Any]],
                    match_by: list[str], known: set[str]) -> dict[str, str]:
    """Source id -> target id for records whose create batch went out but whose answer was lost.

    Each was written ahead with the key the org would save it under; any target record with that
    key that no journal row accounts for was created by that batch (when the batch went out, no
    target record matched, or the engine would have updated instead). One target record is
    claimed per source record, so two sources with the same key find two records.
    """
    index: dict[tuple[Any, ...], list[str]] = defaultdict(list)
    for target_id, row in rows.items():
        if target_id not in known:
            key = target_key(row, match_by)
            if key is not None:
                index[key].append(target_id)
    claimed: dict[str, str] = {}
    for source_id, key in wanted.items():
        json_key = key_json(key)
        hits = index.get(json_key) if json_key is not None else None
        if hits:
            claimed[source_id] = hits.pop(0)
    return claimed


def settle_bulk_jobs(ctx: RunContext, job_id: int) -> None:
    """Bulk jobs an interrupted run opened go on in the org: wait for them to end (abort those whose
    data never fully went up) before anything reads the target, or a resume would create again
    what the job is still creating and a rollback would miss it."""
    left = ctx.journal.open_bulk_jobs(job_id)
    settle = getattr(ctx.target, "settle_bulk_jobs", None)
    if not left or settle is None:
        return
    ctx.emit(Notice, text=f"waiting for {len(left)} Bulk API job{'s' if len(left) != 1 else ''} the "
                          "interrupted run left on the target org to end")
    states = settle([bulk_id for bulk_id, _, _ in left], keep_waiting=lambda: not ctx.cancel.cancelled)
    ended = [bulk_id for bulk_id, state in states.items() if state in BULK_ENDED]
    ctx.journal.close_bulk_jobs(ended)
    if len(ended) < len(left):
        raise Stop("aborted while waiting for a Bulk API job of the interrupted run to end; "
                   "run it again to wait for it")


def reconcile_in_flight(ctx: RunContext, job_id: int, run_id: int, plan: Plan | None) -> None:
    """Give every ``sending`` record the target id the org saved it under, or mark it skipped."""
    for name, wanted in ctx.journal.in_flight(job_id).items():
        oplan = plan.objects.get(name) if plan else None
        match_by = oplan.match_by if oplan else []
        claimed: dict[str, str] = {}
        if match_by and any(key is not None for key in wanted.values()):
            rows = {r["Id"]: r for r in ctx.target.query(
                f"SELECT {', '.join(sorted({'Id', *match_by}))} FROM {name}")}
            claimed = claim_in_flight(wanted, rows, match_by, ctx.journal.known_target_ids(job_id, name))
        ctx.journal.record_outcomes(job_id, run_id, [
            Outcome(name, source_id, claimed.get(source_id),
                    RecordStatus.INSERTED if source_id in claimed else RecordStatus.SKIPPED)
            for source_id in wanted])
        if claimed:
            ctx.emit(Notice, text=f"{len(claimed)} {name} record(s) created by a batch whose answer was lost "
                                  "were found on the target by their match key and are rolled back too",
                     level="info")


__all__ = ["claim_in_flight", "reconcile_in_flight", "settle_bulk_jobs", "target_key"]
