"""The job lifecycle table: every state x interrupted or not x every action, pinned to allowed or its sentence."""

from __future__ import annotations

import itertools
import json

import pytest

from isyncsf_desktop.engine.journal import Journal, JournalError, OrgRef
from isyncsf_desktop.engine.lifecycle import (ACTIVE_STATES, NEXT_STATES, Action, JobFacts, JobState, ObjectStatus,
                                              RecordStatus, RunKind, RunStatus, may_move, object_ended, refusal)

S = JobState
RUNNING = "Job 7 is running ({state}); abort it first"
SENTENCES = {
    "ok": None,
    "deleted": "Job 7 is deleted",
    "running": RUNNING,
    "rolled": "Job 7 was rolled back; start a new sync instead",
}
ACTIONS = (Action.SYNC, Action.RESYNC, Action.RETRY, Action.ROLLBACK, Action.DELETE)

# (state, interrupted): outcome of sync, resync, retry, rollback, delete, for a job with 3 failed records and
# 5 records to undo. "running" only while a run works on the job; an interrupted job may be resumed or undone.
TABLE: dict[tuple[JobState, bool], tuple[str, str, str, str, str]] = {
    (S.NOT_STARTED, False): ("ok", "ok", "ok", "ok", "ok"),
    (S.NOT_STARTED, True): ("ok", "ok", "ok", "ok", "ok"),
    (S.SCAN_IN_PROGRESS, False): ("running",) * 5,
    (S.SCAN_IN_PROGRESS, True): ("ok", "ok", "ok", "ok", "ok"),
    (S.SCANNED, False): ("ok", "ok", "ok", "ok", "ok"),
    (S.SCANNED, True): ("ok", "ok", "ok", "ok", "ok"),
    (S.SYNC_IN_PROGRESS, False): ("running",) * 5,
    (S.SYNC_IN_PROGRESS, True): ("ok", "ok", "ok", "ok", "ok"),
    (S.SYNCED, False): ("ok", "ok", "ok", "ok", "ok"),
    (S.SYNCED, True): ("ok", "ok", "ok", "ok", "ok"),
    (S.ROLLBACK, False): ("running",) * 5,
    (S.ROLLBACK, True): ("rolled", "rolled", "rolled", "ok", "ok"),
    (S.ROLLBACK_STARTED, False): ("running",) * 5,
    (S.ROLLBACK_STARTED, True): ("rolled", "rolled", "rolled", "ok", "ok"),
    # settled: a rollback that left records (they failed to delete or restore) may be run again
    (S.ROLLBACK_COMPLETED, False): ("rolled", "rolled", "rolled", "ok", "ok"),
    (S.ROLLBACK_COMPLETED, True): ("rolled", "rolled", "rolled", "ok", "ok"),
    (S.ABORTED, False): ("ok", "ok", "ok", "ok", "ok"),
    (S.ABORTED, True): ("ok", "ok", "ok", "ok", "ok"),
    (S.DELETED, False): ("deleted",) * 5,
    (S.DELETED, True): ("deleted",) * 5,
}
ROWS = [(state, interrupted, action, TABLE[state, interrupted][i])
        for (state, interrupted) in TABLE for i, action in enumerate(ACTIONS)]


def test_the_table_covers_every_state_interrupted_or_not_and_every_action() -> None:
    assert set(TABLE) == set(itertools.product(JobState, (False, True)))
    assert len(ROWS) == len(JobState) * 2 * len(Action) == 100


@pytest.mark.parametrize(("state", "interrupted", "action", "outcome"), ROWS,
                         ids=[f"{s.name}-{'interrupted' if i else 'live'}-{a}" for s, i, a, _ in ROWS])
def test_refusal(state: JobState, interrupted: bool, action: Action, outcome: str) -> None:
    facts = JobFacts(job_id=7, state=state, interrupted=interrupted, failed=3, to_undo=5)
    expected = SENTENCES[outcome]
    assert refusal(action, facts) == (expected.format(state=state) if expected else None)


@pytest.mark.parametrize("state", [s for s in JobState if s is not S.DELETED and s not in ACTIVE_STATES])
def test_what_the_records_decide(state: JobState) -> None:
    nothing = JobFacts(job_id=7, state=state, failed=0, to_undo=0)
    assert refusal(Action.ROLLBACK, nothing) == ("Job 7 has nothing left to roll back: no record it inserted or "
                                                 "updated is still in place")
    if not state.rolled_back:
        assert refusal(Action.RETRY, nothing) == "Job 7 has no failed records to retry"
        assert refusal(Action.RESYNC, nothing) is None
    assert refusal(Action.DELETE, nothing) is None
    assert refusal("rollback", JobFacts(job_id=7, state=state, to_undo=1)) is None   # plain strings work too


def test_values_are_the_strings_the_journal_and_json_hold() -> None:
    assert [s.value for s in JobState] == ["Not Started", "Scan In Progress", "Scanned", "Sync In Progress", "Synced",
                                           "Rollback", "Rollback Started", "Rollback Completed", "Aborted", "Deleted"]
    assert [k.value for k in RunKind] == ["scan", "sync", "resync", "retry", "rollback"]
    assert [s.value for s in RunStatus] == ["Initializing", "Executing", "Completed", "Aborted", "Paused", "Failed"]
    assert RecordStatus.ROLLED_BACK == "rolled_back" and ObjectStatus.NOT_STARTED == "Not started"
    assert json.dumps({"state": JobState.SYNCED}) == '{"state": "Synced"}' and f"{JobState.SYNCED}" == "Synced"


def test_every_state_is_reachable_and_every_live_state_can_be_deleted() -> None:
    reached, todo = {S.NOT_STARTED}, [S.NOT_STARTED]
    while todo:
        for nxt in NEXT_STATES[todo.pop()]:
            if nxt not in reached:
                reached.add(nxt)
                todo.append(nxt)
    assert reached == set(JobState)
    assert NEXT_STATES[S.DELETED] == frozenset()
    assert all(S.DELETED in NEXT_STATES[s] for s in JobState if s is not S.DELETED)
    # every active state ends in a resting one
    assert all(NEXT_STATES[s] - ACTIVE_STATES - {S.DELETED} for s in ACTIVE_STATES)


@pytest.mark.parametrize(("current", "new"), [(S.SYNCED, S.SCANNED), (S.NOT_STARTED, S.SYNCED),
                                              (S.ROLLBACK_COMPLETED, S.SYNC_IN_PROGRESS),
                                              (S.NOT_STARTED, S.ROLLBACK_COMPLETED), (S.ABORTED, S.SYNCED)])
def test_moves_no_run_makes_are_refused(current: JobState, new: JobState) -> None:
    assert not may_move(current, new)


def test_the_journal_refuses_a_move_the_table_does_not_allow(tmp_path) -> None:
    with Journal(tmp_path / "journal.sqlite3") as journal:
        ref = OrgRef("a", "00D000000000001AAA", "https://a")
        job_id = journal.create_job({"name": "t", "objects": [{"object": "Account"}]}, ref, ref)
        with pytest.raises(JournalError, match="cannot go from Not Started to Synced"):
            journal.set_state(job_id, "Synced")
        assert journal.job(job_id).state is JobState.NOT_STARTED
        for state in ("Sync In Progress", "Synced", "Rollback", "Rollback Started", "Rollback Completed"):
            journal.set_state(job_id, state)
        with pytest.raises(JournalError, match="cannot go from Rollback Completed to Sync In Progress"):
            journal.set_state(job_id, "Sync In Progress")
        facts = journal.job_facts(job_id)
        assert facts == JobFacts(job_id=job_id, state=S.ROLLBACK_COMPLETED, interrupted=False, failed=0, to_undo=0)


@pytest.mark.parametrize(("reached", "processed", "ended"), [
    (None, 0, ObjectStatus.NOT_STARTED),
    (None, 4, ObjectStatus.ABORTED),
    ("Executing", 0, ObjectStatus.ABORTED),
    ("Awaiting second pass", 0, ObjectStatus.ABORTED_BEFORE_SECOND_PASS),
    (ObjectStatus.AWAITING_SECOND_PASS, 9, ObjectStatus.ABORTED_BEFORE_SECOND_PASS),
])
def test_where_an_object_ended_when_its_run_stopped(reached, processed, ended) -> None:
    assert object_ended(reached, processed) is ended
