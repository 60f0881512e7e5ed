"""What a crash left, put straight before a run reads the target: Bulk jobs the interrupted run opened
(waited for, or aborted; those it was opening when it died, whose id it never journaled, are first looked
for in the org's job list), and records written ahead as ``sending`` whose create batch went out but whose
answer was lost (found on the target by their match key and claimed, or marked skipped).

A create whose answer was lost may still be committed later: the org finishes a request whose client
has gone away. So a record not found yet is looked for again (:func:`await_late_commits`) until the org
can no longer commit it (:data:`ORG_REQUEST_LIMIT_S` after its batch went out), and only then counted as
never saved: sent again by a sync or resync, skipped by a rollback. Records written ahead of a Bulk API
ingest job are not waited for: the org commits nothing of a job that never opened or has ended, and
:func:`settle_bulk_jobs` waits for the jobs a crash left before anything looks for them.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

from ..events import Notice
from ..journal import Outcome
from ..lifecycle import RecordStatus
from ..plan import Plan
from ..template import Template
from ..values import match_value, path_value
from .context import RunContext, Stop, key_json

logger = logging.getLogger(__name__)

BULK_ENDED = ("JobComplete", "Failed", "Aborted", "Gone")
"""States of a Bulk API job that will not write anything any more."""

ORG_REQUEST_LIMIT_S = 600.0
"""How long after a create request went out the org may still commit it. Salesforce ends a synchronous
API request after 10 minutes, and until then it finishes a request whose client has gone away (a read
timeout, a dropped connection, a killed process): the records of a create whose answer was lost can
appear on the target that long after the batch was sent. A record not found before then is never sent
again (that would create it twice when the first request commits late). The template option
``late_commit_window`` overrides it (an org known to end requests sooner; tests)."""

CLOCK_SKEW_S = 120.0
"""How far the org's clock may be behind this computer's: a Bulk job whose opening was written ahead is
looked for among the jobs the org says it created from this long before the opening."""

LONG_AGO = float("-inf")
"""When a record the org can no longer commit "went out", for :func:`await_late_commits` (looked for once)."""

LOOK_AGAIN_FIRST_S = 2.0
"""The first wait before looking again for records of a lost create; each next wait doubles."""
LOOK_AGAIN_MAX_S = 60.0
"""The longest wait between two looks."""


def late_commit_window(template: Template | None) -> float:
    """Seconds after a batch went out during which the org may still commit it (see ORG_REQUEST_LIMIT_S)."""
    window = template.late_commit_window if template is not None else None
    return ORG_REQUEST_LIMIT_S if window is None else window


def journal_time(value: str) -> float:
    """A journal timestamp (ISO-8601 UTC, ``Z`` suffix) as seconds since the epoch."""
    parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed.timestamp()


def await_late_commits(ctx: RunContext, name: str, sent: dict[str, float],
                       look: Callable[[set[str]], dict[str, str]], window: float) -> dict[str, str]:
    """Find the records of a create whose answer was lost: ``look(ids)`` (source id -> target id of those
    found) now, then again, with a growing wait, while some are missing and the org may still commit
    them (``window`` seconds after ``sent[id]``, when its batch went out, as epoch seconds). Honours the
    cancel token between looks (:class:`Stop`; the records stay written ahead as ``sending``). Returns
    what was found; the rest can no longer appear."""
    found = dict(look(set(sent)))
    wait = LOOK_AGAIN_FIRST_S
    told = False
    while True:
        now = time.time()
        missing = {i for i in sent if i not in found and sent[i] + window > now}
        if not missing:
            return found
        until = max(sent[i] for i in missing) + window
        if not told:
            told = True
            at = datetime.fromtimestamp(until, timezone.utc).strftime("%H:%M:%S UTC")
            ctx.emit(Notice, text=f"{len(missing)} {name} record(s) of a create whose answer was lost are not on "
                                  f"the target yet: the org may still save them until {at}, so the engine looks "
                                  "for them again until then and creates none of them twice")
            logger.warning("%d %s records of a lost create not found yet; looking again until %s",
                           len(missing), name, at)
        if ctx.cancel.wait(min(wait, until - now)):
            raise Stop(f"{ctx.cancel.reason or 'aborted by the user'} while {len(missing)} {name} record(s) of a "
                       "create whose answer was lost could still be saved by the org; run it again to find them")
        found.update(look(missing))
        wait = min(wait * 2, LOOK_AGAIN_MAX_S)


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


def org_time(value: str) -> float:
    """A Salesforce timestamp (``2024-01-31T10:00:00.000+0000``, or ISO-8601) as seconds since the epoch."""
    text = value.replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    return journal_time(text)


def _same_user(a: str | None, b: str | None) -> bool:
    """Two Salesforce user ids name the same user (15- or 18-character forms)."""
    return bool(a) and bool(b) and str(a)[:15] == str(b)[:15]


def find_unknown_bulk_jobs(ctx: RunContext, job_id: int, template: Template | None = None) -> None:
    """Bulk jobs the org may have opened for an interrupted run whose id never reached the journal (the
    process died, or the answer was lost, between the request that opens a job and the journal learning
    its id). Each such opening was written ahead (object, operation, the org user, the time); the org's
    job list is searched for jobs of that object and operation created by that user from a little before
    the opening (:data:`CLOCK_SKEW_S`) until the org can no longer act on the request (the late-commit
    window, :data:`ORG_REQUEST_LIMIT_S`), leaving out every job this journal knows. What is found is kept
    as an opened job, so :func:`settle_bulk_jobs` ends it like the others (aborted while ``Open``, which
    is all such a job can be: its data goes up only after its id is journaled). Jobs of other users, of
    other objects or operations, or outside the window are never touched. More candidates than openings
    (the same user writing from another computer, say) are not guessed at: reported, and left alone,
    unless every one of them is still ``Open`` (nothing of them committed: aborted)."""
    openings = ctx.journal.unknown_bulk_jobs(job_id)
    list_jobs = getattr(ctx.target, "ingest_jobs", None)
    if not openings or list_jobs is None:
        return
    me = ctx.target_user_id()
    known = ctx.journal.known_bulk_ids()
    window = late_commit_window(template)
    listed = list_jobs()
    groups: dict[tuple[str, str], list[Any]] = defaultdict(list)
    for opening in openings:
        groups[(opening.object, opening.operation)].append(opening)
    found: dict[int, str | None] = {}
    for (name, operation), group in groups.items():
        spans = [(journal_time(o.opening) - CLOCK_SKEW_S, journal_time(o.opening) + window + CLOCK_SKEW_S)
                 for o in group]
        users = {o.user_id or me for o in group}
        candidates = [job for job in listed
                      if job.get("id") not in known and job.get("object") == name and job.get("operation") == operation
                      and any(_same_user(job.get("createdById"), user) for user in users)
                      and job.get("createdDate") and any(a <= org_time(str(job["createdDate"])) <= b for a, b in spans)]
        ids = [str(job["id"]) for job in candidates]
        if len(candidates) > len(group) and any(job.get("state") != "Open" for job in candidates):
            logger.warning("%d %s %s Bulk API job(s) of this user match %d opening(s) of job %s: %s; left alone",
                           len(candidates), name, operation, len(group), job_id, ", ".join(ids))
            ctx.emit(Notice, level="warning", text=(
                f"the interrupted run was opening {len(group)} Bulk API {operation} job(s) of {name} when it "
                f"stopped, and the target org has {len(candidates)} such jobs of the same user from that time "
                f"({', '.join(ids)}): which are this run's cannot be told, so none was touched. Check them in "
                "Setup › Bulk Data Load Jobs: records they created are not in this job's journal"))
            found.update({o.id: None for o in group})
            continue
        # one job per opening, or more, every one still Open (nothing of them committed): all aborted
        for opening, bulk_id in zip(group, ids):
            found[opening.id] = bulk_id
        for opening in group[len(ids):]:
            found[opening.id] = None
        for bulk_id in ids[len(group):]:
            found[ctx.journal.bulk_opening(job_id, None, name, operation, me)] = bulk_id
        if ids:
            logger.info("job %s: %d %s %s Bulk API job(s) whose id the interrupted run never journaled: %s",
                        job_id, len(ids), name, operation, ", ".join(ids))
    ctx.journal.settle_bulk_openings(found)


def settle_bulk_jobs(ctx: RunContext, job_id: int, run_id: int | None = None, plan: Plan | None = None,
                     template: Template | None = None) -> None:
    """Bulk jobs an interrupted run opened go on in the org: wait for them to end (abort those whose
    data never fully went up) before anything reads the target, or a resume would create again
    what the job is still creating and a rollback would miss it. Jobs it may have opened without
    learning their id are looked for first (:func:`find_unknown_bulk_jobs`); the records such a job
    created (``run_id`` given) are journaled from its results (:func:`journal_found_creates`)."""
    find_unknown_bulk_jobs(ctx, job_id, template)
    left = ctx.journal.open_bulk_jobs(job_id)
    settle = getattr(ctx.target, "settle_bulk_jobs", None)
    if not left or settle is None:
        return
    ctx.emit(Notice, text=f"waiting for {len(left)} Bulk API job{'s' if len(left) != 1 else ''} the "
                          "interrupted run left on the target org to end")
    states = settle([bulk_id for bulk_id, _, _ in left], keep_waiting=lambda: not ctx.cancel.cancelled)
    ended = [bulk_id for bulk_id, state in states.items() if state in BULK_ENDED]
    if run_id is not None:
        found = ctx.journal.found_bulk_ids(job_id)
        for bulk_id, name, operation in left:
            if bulk_id in found and operation == "insert" and states.get(bulk_id) in ("JobComplete", "Failed"):
                journal_found_creates(ctx, job_id, run_id, plan, name, bulk_id)
    ctx.journal.close_bulk_jobs(ended)
    if len(ended) < len(left):
        raise Stop("aborted while waiting for a Bulk API job of the interrupted run to end; "
                   "run it again to wait for it")


def journal_found_creates(ctx: RunContext, job_id: int, run_id: int, plan: Plan | None, name: str,
                          bulk_id: str) -> None:
    """The records an ended insert job created whose id the journal never learned: each is given to the
    record written ahead with its match key (its results echo the columns sent), so a resume skips it and
    a rollback deletes it. Records whose key names a parent's field are left to the look by match key
    that follows (:func:`reconcile_in_flight`, or the first pass); without any match key, they are
    journaled by target id alone (a rollback deletes them)."""
    oplan = plan.objects.get(name) if plan else None
    match_by = oplan.match_by if oplan else []
    created = {row["sf__Id"]: row for row in ctx.target.bulk_created(bulk_id)
               if row.get("sf__Id") and str(row.get("sf__Created", "")).lower() == "true"}
    if not created:
        return
    known = ctx.journal.known_target_ids(job_id, name)
    wanted = ctx.journal.in_flight(job_id, name).get(name, {})
    outcomes: list[Outcome] = []
    if match_by:
        claimed = claim_in_flight(wanted, created, match_by, known)
        outcomes = [Outcome(name, source_id, target_id, RecordStatus.INSERTED) for source_id, target_id in claimed.items()]
    else:
        outcomes = [Outcome(name, None, target_id, RecordStatus.INSERTED) for target_id in created
                    if target_id not in known]
    if outcomes:
        ctx.journal.record_outcomes(job_id, run_id, outcomes)
    ctx.emit(Notice, level="info", text=(
        f"{len(created)} {name} record(s) were created by a Bulk API job ({bulk_id}) the interrupted run opened "
        f"without learning its id; {len(outcomes)} are journaled from its results"
        + (", the rest are looked for by their match key" if len(outcomes) < len(created) and match_by else "")))


def reconcile_in_flight(ctx: RunContext, job_id: int, run_id: int, plan: Plan | None,
                        template: Template | None = None) -> None:
    """Give every ``sending`` record the target id the org saved it under, or mark it skipped once the
    org can no longer save it (looking again until then: :func:`await_late_commits`; at once for the
    rows of a Bulk ingest job, which :func:`settle_bulk_jobs` has waited for)."""
    from .files import FILE_OBJECTS, reconcile_files   # files import the client: only when there is one to find

    window = late_commit_window(template)
    reconcile_files(ctx, job_id, run_id)
    for name, wanted in ctx.journal.in_flight(job_id).items():
        if name in FILE_OBJECTS:
            continue
        oplan = plan.objects.get(name) if plan else None
        match_by = oplan.match_by if oplan else []
        claimed: dict[str, str] = {}
        if match_by and any(key is not None for key in wanted.values()):
            known = ctx.journal.known_target_ids(job_id, name)
            select = f"SELECT {', '.join(sorted({'Id', *match_by}))} FROM {name}"
            times = ctx.journal.in_flight_sent(job_id, name).get(name, {})
            # Rows of a Bulk ingest job are not in ``times``: settle_bulk_jobs waited for their job to end
            # (or it never opened), so the org can commit none of them any more: looked for once, not waited for.
            sent = {source_id: journal_time(times[source_id]) if source_id in times else LONG_AGO
                    for source_id, key in wanted.items() if key is not None}

            taken: set[str] = set()

            def look(ids: set[str]) -> dict[str, str]:
                rows = {r["Id"]: r for r in ctx.target.query(select) if r["Id"] not in taken}
                hits = claim_in_flight({i: wanted[i] for i in ids}, rows, match_by, known)
                taken.update(hits.values())
                return hits
            claimed = await_late_commits(ctx, name, sent, look, window)
        ctx.journal.record_outcomes(job_id, run_id, [
            Outcome(name, source_id, claimed.get(source_id),
                    RecordStatus.INSERTED if source_id in claimed else RecordStatus.SKIPPED)
            for source_id in wanted])
        if claimed:
            ctx.emit(Notice, text=f"{len(claimed)} {name} record(s) created by a batch whose answer was lost "
                                  "were found on the target by their match key and are rolled back too",
                     level="info")


__all__ = ["CLOCK_SKEW_S", "ORG_REQUEST_LIMIT_S", "await_late_commits", "claim_in_flight", "find_unknown_bulk_jobs",
           "journal_found_creates", "journal_time", "late_commit_window", "org_time", "reconcile_in_flight",
           "settle_bulk_jobs", "target_key"]
