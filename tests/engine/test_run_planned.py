"""The first pass says how it will write each object before it reaches the first (:class:`RunPlanned`): what the
time left of a first sync counts the objects not reached yet by (engine/eta.py)."""

from __future__ import annotations

from typing import Any

from isyncsf_desktop.engine.events import ObjectReading, ObjectShape, RunPlanned
from isyncsf_desktop.engine.run.context import BULK_BATCH

TEMPLATE = {"name": "Shape", "options": {"in_flight": 2, "parallel_objects": 2, "bulk_threshold": 50},
            "objects": [{"object": "Account", "fields": ["Name", "External_Id__c", "ParentId"],
                         "match_by": ["External_Id__c"]},
                        {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"]},
                        {"object": "Lead", "fields": ["LastName", "Company", "Email"], "match_by": ["Email"]}]}


def test_a_sync_says_each_objects_shape_before_it_reaches_the_first(make_pair: Any) -> None:
    pair = make_pair("demo-source", "demo-target")
    roots = pair.insert("src", "Account", [{"Name": f"R{i}", "External_Id__c": f"R{i}"} for i in range(3)])
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"A{i}", "ParentId": roots[i % 3]}
                                   for i in range(6)])
    pair.insert("src", "Lead", [{"LastName": f"L{i}", "Company": "Co", "Email": f"l{i}@x.test"} for i in range(4)])
    engine = pair.engine()
    job_id = engine.create_job(TEMPLATE)
    engine.scan(job_id)
    assert engine.sync(job_id).state == "Synced"
    planned = [e for e in pair.events if isinstance(e, RunPlanned)]
    assert len(planned) == 1
    first_reached = next(e for e in pair.events if isinstance(e, ObjectReading))
    assert pair.events.index(planned[0]) < pair.events.index(first_reached)
    assert planned[0].parallel_objects == 2
    flat = {"hierarchy": False, "bulk_from": 50, "job_rows": BULK_BATCH, "at_once": 2, "second_pass": False}
    assert planned[0].objects == {
        "Account": ObjectShape(**{**flat, "hierarchy": True}),
        "Contact": ObjectShape(**flat, after=("Account",)),
        "Lead": ObjectShape(**flat),
    }
