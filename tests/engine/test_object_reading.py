"""The engine says it reached an object before it reads that object's records (issue 21 item 10): the Execute tab
shows the row as "Reading…" instead of "Pending" while the reads run."""

from __future__ import annotations

import threading
from typing import Any

from isyncsf_desktop.engine.events import ObjectReading, ObjectStarted

TEMPLATE = {"name": "Reading", "options": {"in_flight": 1},
            "objects": [{"object": "Account", "match_by": ["External_Id__c"]},
                        {"object": "Contact", "match_by": ["Email"]}]}


def test_each_object_is_announced_before_its_records_are_read(make_pair):
    pair = make_pair("demo-source", "demo-target")
    log: list[tuple[Any, ...]] = []
    lock = threading.Lock()

    def calls(stage: str, method: str, path: str) -> None:
        if stage == "before" and "/query" in path:
            with lock:
                log.append(("query", method))

    def observer(event: Any) -> None:
        if isinstance(event, (ObjectReading, ObjectStarted)):
            with lock:
                log.append((type(event).__name__, event.object))

    engine = pair.engine(observer=observer)
    job_id = engine.create_job(TEMPLATE)
    engine.scan(job_id)
    pair.server.faults("src").update(observer=calls)
    result = engine.sync(job_id)
    assert result.state == "Synced"
    reading = [e for e in pair.events if isinstance(e, ObjectReading)]
    assert [(e.object, e.index, e.count) for e in reading] == [("Account", 1, 2), ("Contact", 2, 2)]
    marks = [entry for entry in log if entry[0] != "query"]
    assert marks == [("ObjectReading", "Account"), ("ObjectStarted", "Account"),
                     ("ObjectReading", "Contact"), ("ObjectStarted", "Contact")]
    for name in ("Account", "Contact"):     # the object's source query comes after it was announced
        between = log[log.index(("ObjectReading", name)) + 1:log.index(("ObjectStarted", name))]
        assert ("query", "GET") in between
