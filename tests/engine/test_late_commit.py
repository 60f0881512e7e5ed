"""A create the org commits after the client gave up (issue 22 item 1): Salesforce finishes a request
whose client has gone away, so records of a create whose answer was lost may appear on the target
later. The engine looks for them again until the org can no longer commit them, and never sends them
twice; a run aborted (or killed) meanwhile leaves them written ahead, and the next run (resync or
rollback) keeps looking the same way. The sandbox's ``hold_create`` fault holds a create: the
connection drops unanswered and the org commits it only when the test says so."""

from __future__ import annotations

from typing import Any

import pytest
import related_data as data

from isyncsf_desktop.engine.events import CancelToken, Notice, ObjectStarted
from isyncsf_desktop.engine.lifecycle import RecordStatus
from isyncsf_desktop.engine.run import recovery

AWAITED = "record(s) of a create whose answer was lost are not on the target yet"
CONTACTS = {"name": "contacts", "options": {"batch_size": 10, "in_flight": 1},
            "objects": [{"object": "Contact", "fields": ["LastName", "Email"], "match_by": ["Email"]}]}


@pytest.fixture(autouse=True)
def quick_looks(monkeypatch: pytest.MonkeyPatch) -> None:
    """The engine looks again at once (the order of looks and commits is set by the fault, not by time)."""
    monkeypatch.setattr(recovery, "LOOK_AGAIN_FIRST_S", 0.0)


def awaited(pair: Any) -> list[str]:
    return [e.text for e in pair.events if isinstance(e, Notice) and AWAITED in e.text]


@pytest.mark.expect_log
def test_a_create_the_org_commits_after_the_first_look_is_found_not_sent_twice(pair: Any) -> None:
    pair.insert("src", "Contact", [{"LastName": f"L{i}", "Email": f"c{i}@x.test"} for i in range(10)])
    # One batch: held (its answer lost), committed by the org right after it answered the engine's first look.
    pair.server.faults("tgt").update(hold_create=1, hold_release_after=1)
    engine = pair.engine()
    job_id = engine.create_job(CONTACTS)
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0 and result.totals.inserted == 10
    rows = pair.rows("tgt", "SELECT Id, Email FROM Contact")
    assert len(rows) == 10 and len({r["Email"] for r in rows}) == 10          # one copy each
    journaled = {r.target_id for r in pair.journal.records(job_id) if r.status == RecordStatus.INSERTED}
    assert journaled == {r["Id"] for r in rows}
    assert len(awaited(pair)) == 1 and awaited(pair)[0].startswith("10 Contact record(s)")


@pytest.mark.expect_log
@pytest.mark.parametrize("then", ["resync", "rollback"])
def test_an_abort_while_waiting_for_a_late_commit_then_resync_or_rollback_is_exact(pair: Any, then: str) -> None:
    data.seed(pair.source, pair.target, 12)
    before = data.snapshot(pair.target)
    faults = pair.server.faults("tgt")
    cancel = CancelToken()

    def abort_while_waiting(event: Any) -> None:
        if isinstance(event, ObjectStarted) and event.object == "Contact":
            faults.update(hold_create=1)            # the first Contact batch: its answer is lost
        if isinstance(event, Notice) and AWAITED in event.text:
            cancel.cancel()                          # the user aborts while the engine waits for the org

    engine = pair.engine(observer=abort_while_waiting, cancel=cancel)
    job_id = engine.create_job(data.template(batch_size=10, in_flight=1))
    aborted = engine.sync(job_id)
    assert aborted.state == "Aborted" and faults.held == 1
    assert pair.journal.in_flight(job_id).get("Contact")       # still written ahead, never sent again
    pair.events.clear()

    def commit_once_looked(event: Any) -> None:
        if isinstance(event, Notice) and AWAITED in event.text:
            assert faults.release_held() == 1        # the org commits after the next run's first look

    if then == "resync":
        resumed = pair.engine(observer=commit_once_looked).resync(job_id)
        assert resumed.state == "Synced" and resumed.totals.errors == 0
        assert data.synced_problems(pair.source, pair.target) == {"missing": 0, "duplicated": 0, "fields": 0,
                                                                  "links": 0}
        assert awaited(pair), "the resync did not wait for the org"
        pair.events.clear()
    rolled = pair.engine(observer=commit_once_looked).rollback(job_id)
    if then == "rollback":
        assert awaited(pair), "the rollback did not wait for the org"
    assert rolled.state == "Rollback Completed" and rolled.totals.errors == 0
    assert data.rollback_problems(before, data.snapshot(pair.target)) == {"left": 0, "lost": 0, "changed": 0}


@pytest.mark.expect_log
def test_records_never_committed_are_created_once_the_org_can_no_longer_commit_them(pair: Any) -> None:
    pair.insert("src", "Contact", [{"LastName": f"L{i}", "Email": f"c{i}@x.test"} for i in range(10)])
    pair.server.faults("tgt").update(hold_create=1)      # held until the server stops: never committed
    engine = pair.engine()
    job_id = engine.create_job({**CONTACTS, "options": {**CONTACTS["options"], "late_commit_window": 0}})
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.inserted == 10 and result.totals.errors == 0
    assert len(pair.rows("tgt", "SELECT Id FROM Contact")) == 10 and awaited(pair) == []
