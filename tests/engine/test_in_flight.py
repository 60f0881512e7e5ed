"""Requests in flight: with in_flight 2 the next object's source records are read while the current
object's batches go to the target; the writes themselves stay in order, parents first."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import related_data as data

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
