"""The hold gate of an abort question (issue 21 item 6): while the user is asked whether to abort, the run
waits before its next batch (nothing more is sent or journaled), goes on when released, stops when
cancelled; an object whose every record was done before the stop stays Completed."""

from __future__ import annotations

import threading
from typing import Any

from isyncsf_desktop.engine.events import BatchDone, CancelToken, RunResult
from isyncsf_desktop.engine.lifecycle import ObjectStatus

RECORDS = 300
TEMPLATE = {"name": "hold", "options": {"continue_on_error": True, "batch_size": 50, "in_flight": 1},
            "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"]}]}


def accounts(pair: Any, count: int = RECORDS) -> None:
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(count)])


def start_in_thread(engine: Any, job_id: int) -> tuple[threading.Thread, list[RunResult]]:
    results: list[RunResult] = []
    thread = threading.Thread(target=lambda: results.append(engine.sync(job_id)), name="test-sync")
    thread.start()
    return thread, results


def journaled(pair: Any, job_id: int) -> int:
    return len(pair.journal.records(job_id, "Account"))


def hold_after_first_batch(token: CancelToken) -> Any:
    def observer(event: Any) -> None:
        if isinstance(event, BatchDone) and not token.held and event.counts.processed == 50:
            token.hold()
    return observer


def test_a_held_run_sends_nothing_more_until_released(pair):
    accounts(pair)
    token = CancelToken()
    engine = pair.engine(observer=hold_after_first_batch(token), cancel=token)
    job_id = engine.create_job(TEMPLATE)
    thread, results = start_in_thread(engine, job_id)
    assert token.wait_holding(60), "the run never reached the hold gate"
    calls, done = engine.target.api_calls, journaled(pair, job_id)
    rows = len(pair.rows("tgt", "SELECT Id FROM Account"))
    assert done == 50 and rows == 50           # one batch out, journaled; the next one waits at the gate
    assert token.holding and thread.is_alive()
    assert engine.target.api_calls == calls and journaled(pair, job_id) == done
    token.release()
    thread.join(120)
    assert not thread.is_alive()
    assert results[0].state == "Synced" and results[0].totals.inserted == RECORDS


def test_a_held_run_that_is_cancelled_stops_where_it_was_held(pair):
    accounts(pair)
    token = CancelToken()
    engine = pair.engine(observer=hold_after_first_batch(token), cancel=token)
    job_id = engine.create_job(TEMPLATE)
    thread, results = start_in_thread(engine, job_id)
    assert token.wait_holding(60)
    done = journaled(pair, job_id)
    token.cancel("aborted by the user")
    thread.join(120)
    assert results[0].state == "Aborted" and results[0].totals.inserted == done == 50
    assert journaled(pair, job_id) == done and len(pair.rows("tgt", "SELECT Id FROM Account")) == done


def test_an_object_done_before_the_abort_stays_completed(pair):
    accounts(pair, 100)
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test"} for i in range(60)])
    token = CancelToken()

    def observer(event: Any) -> None:   # abort as the last batch of Account is journaled
        if isinstance(event, BatchDone) and event.object == "Account" and event.counts.processed == 100:
            token.cancel("aborted by the user")

    engine = pair.engine(observer=observer, cancel=token)
    job_id = engine.create_job({**TEMPLATE, "options": {**TEMPLATE.get("options", {}), "parallel_objects": 1},
                                "objects": [*TEMPLATE["objects"],    # one at a time: Contact is not Account's child
                                            {"object": "Contact", "fields": ["LastName", "Email"], "match_by": ["Email"]}]})
    result = engine.sync(job_id)
    assert result.state == "Aborted"
    assert result.objects["Account"].status == ObjectStatus.COMPLETED and result.objects["Account"].processed == 100
    last = pair.journal.runs(job_id)[-1]
    assert last.counts["Account"].status == ObjectStatus.COMPLETED
    assert "Contact" not in result.objects or result.objects["Contact"].processed == 0
