"""Requests in flight: with in_flight N the next object's source records are read while the current
object's batches go to the target, and up to N write batches of one object and hierarchy level are
out at once; parents are always written before their children, and every batch is journaled."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import related_data as data
from helpers import Crash

from isyncsf_desktop.engine.inflight import send_batches
from isyncsf_desktop.engine.template import TemplateError, parse_template

CLEAN = {"missing": 0, "duplicated": 0, "fields": 0, "links": 0}


class Watch:
    """Counts the source org's queries; at the first create on the target, notes how many came before
    it. With ``wait_for`` set, that create waits (at most 30 s) until that many have arrived: a
    query can only arrive meanwhile if the engine reads while it writes."""

    def __init__(self, pair: Any, wait_for: int | None = None):
        self.queries = 0
        self.at_first_create: int | None = None
        self.wait_for = wait_for
        self.enough = threading.Event()
        self.lock = threading.Lock()
        pair.server.faults("src").update(observer=self.source)
        pair.server.faults("tgt").update(observer=self.target)

    def source(self, when: str, method: str, path: str) -> None:
        if when == "before" and "/query" in path:
            with self.lock:
                self.queries += 1
                if self.wait_for is not None and self.queries >= self.wait_for:
                    self.enough.set()

    def target(self, when: str, method: str, path: str) -> None:
        if when != "before" or method != "POST" or "composite/sobjects" not in path or self.at_first_create is not None:
            return
        if self.wait_for is not None:
            self.enough.wait(30)
        with self.lock:
            self.at_first_create = self.queries


def test_the_next_objects_source_read_overlaps_the_writes(make_pair: Any) -> None:
    one_by_one = make_pair()
    data.seed(one_by_one.source, one_by_one.target, 30)
    watch = Watch(one_by_one)
    engine = one_by_one.engine()
    assert engine.sync(engine.create_job(data.template(batch_size=10, in_flight=1))).state == "Synced"
    reads = watch.queries
    assert watch.at_first_create is not None and reads > watch.at_first_create  # Contacts: read later
    assert data.synced_problems(one_by_one.source, one_by_one.target) == CLEAN

    overlapped = make_pair()
    data.seed(overlapped.source, overlapped.target, 30)
    ahead = Watch(overlapped, wait_for=watch.at_first_create + 1)
    engine = overlapped.engine()
    result = engine.sync(engine.create_job(data.template(batch_size=10, in_flight=2)))
    assert ahead.at_first_create == watch.at_first_create + 1   # the Contacts read before the Accounts went out
    assert ahead.queries == reads                                 # and not read twice
    assert result.state == "Synced" and result.totals.errors == 0
    assert data.synced_problems(overlapped.source, overlapped.target) == CLEAN


def test_in_flight_is_checked() -> None:
    assert parse_template({"name": "t", "objects": [{"object": "Account"}]}).in_flight == 2
    for bad in (0, 5, "2", True):
        with pytest.raises(TemplateError, match="in_flight"):
            parse_template({"name": "t", "options": {"in_flight": bad}, "objects": [{"object": "Account"}]})


class Writes:
    """Counts the target's write calls (Collections POST/PATCH/DELETE) that are out at once. With
    ``together`` N, the first N - 1 wait (at most 30 s) until the N-th has arrived: it can only arrive
    meanwhile if the engine sends batches while the others are out."""

    def __init__(self, pair: Any, *, together: int = 1):
        self.active = 0
        self.most = 0
        self.calls = 0
        self.arrived = threading.Event()
        self.together = together
        self.lock = threading.Lock()
        pair.server.faults("tgt").update(observer=self.observe)

    def observe(self, when: str, method: str, path: str) -> None:
        if "composite/sobjects" not in path or method == "GET":
            return
        with self.lock:
            if when == "after":
                self.active -= 1
                return
            self.active += 1
            self.calls += 1
            self.most = max(self.most, self.active)
            hold = self.calls < self.together
            if self.calls == self.together:
                self.arrived.set()
        if hold:
            self.arrived.wait(30)


@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_write_batches_go_out_together_up_to_in_flight(pair: Any, in_flight: int) -> None:
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(700)])
    writes = Writes(pair, together=in_flight)
    engine = pair.engine()
    job_id = engine.create_job({"name": "t", "options": {"batch_size": 100, "in_flight": in_flight},
                                "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"],
                                             "match_by": ["External_Id__c"]}]})
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.inserted == 700
    assert writes.most == in_flight and writes.calls == 7
    on_target = {r["Id"] for r in pair.rows("tgt", "SELECT Id FROM Account")}
    assert {r.target_id for r in pair.journal.records(job_id, statuses=["inserted"])} == on_target
    assert len(on_target) == 700 and not pair.journal.in_flight(job_id)
    writes = Writes(pair, together=min(in_flight, 4))
    rolled = engine.rollback(job_id)          # deletes of 200 go out together too
    assert rolled.state == "Rollback Completed" and rolled.totals.deleted == 700
    assert writes.most == min(in_flight, 4) and writes.calls == 4
    assert pair.rows("tgt", "SELECT Id FROM Account") == []


def test_related_records_with_three_batches_out_keep_parents_first_and_roll_back_exactly(make_pair: Any) -> None:
    pair = make_pair()
    data.seed(pair.source, pair.target, 60)
    before = data.snapshot(pair.target)
    writes = Writes(pair)
    engine = pair.engine()
    job_id = engine.create_job(data.template(batch_size=5, in_flight=3))
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0 and writes.most <= 3
    assert data.synced_problems(pair.source, pair.target) == CLEAN      # every lookup set: parents went first
    rolled = engine.rollback(job_id)
    assert rolled.state == "Rollback Completed" and rolled.totals.errors == 0
    assert data.rollback_problems(before, data.snapshot(pair.target)) == {"left": 0, "lost": 0, "changed": 0}


def test_stop_at_the_first_error_sends_one_batch_at_a_time(make_pair: Any) -> None:
    pair = make_pair()
    data.seed(pair.source, pair.target, 20)
    writes = Writes(pair)
    engine = pair.engine()
    result = engine.sync(engine.create_job(data.template(batch_size=5, in_flight=3, continue_on_error=False)))
    assert result.state == "Synced" and writes.most == 1


# ------------------------------------------------------------------ send_batches on its own
def test_batches_are_finished_in_the_order_they_were_sent_even_when_a_later_one_answers_first() -> None:
    second_answered = threading.Event()
    finished: list[int] = []
    threads: set[str] = set()

    def send(batch: int) -> int:
        threads.add(threading.current_thread().name)
        if batch == 1:
            assert second_answered.wait(30)
        if batch == 2:
            second_answered.set()
        return batch * 10

    send_batches([1, 2, 3, 4], depth=2, prepare=lambda b: None, send=send,
                 finish=lambda b, r: finished.append(r))
    assert finished == [10, 20, 30, 40] and threading.current_thread().name not in threads


def test_an_error_finishes_the_batches_already_out_and_prepares_no_more() -> None:
    prepared: list[int] = []
    finished: list[int] = []

    def finish(batch: int, result: int) -> None:
        finished.append(batch)
        if batch == 1:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        send_batches(range(1, 8), depth=3, prepare=prepared.append, send=lambda b: b, finish=finish)
    assert prepared == [1, 2, 3] and finished == [1, 2, 3]


def test_a_send_that_fails_is_raised_after_the_others_out_are_finished() -> None:
    finished: list[int] = []

    def send(batch: int) -> int:
        if batch == 2:
            raise ConnectionError("down")
        return batch

    with pytest.raises(ConnectionError):
        send_batches(range(1, 6), depth=2, prepare=lambda b: None, send=send,
                     finish=lambda b, r: finished.append(b))
    assert finished == [1, 3] or finished == [1]


def test_a_dying_process_finishes_nothing_more() -> None:
    finished: list[int] = []

    def finish(batch: int, result: int) -> None:
        if batch == 1:
            raise Crash()
        finished.append(batch)

    with pytest.raises(Crash):
        send_batches(range(1, 6), depth=3, prepare=lambda b: None, send=lambda b: b, finish=finish)
    assert finished == []


def test_depth_one_sends_in_the_callers_thread_one_at_a_time() -> None:
    log: list[str] = []
    threads: set[str] = set()

    def send(batch: int) -> int:
        threads.add(threading.current_thread().name)
        log.append(f"send {batch}")
        return batch

    send_batches([1, 2], depth=1, prepare=lambda b: log.append(f"prepare {b}"), send=send,
                 finish=lambda b, r: log.append(f"finish {b}"))
    assert log == ["prepare 1", "send 1", "finish 1", "prepare 2", "send 2", "finish 2"]
    assert threads == {threading.current_thread().name}
