"""Matching with the fewest calls: a few source records against a big target read only the target
records they can match (by key in IN-chunks, and by the ids the id map knows), not every page."""

from __future__ import annotations

from typing import Any

TEMPLATE = {"name": "contacts", "options": {"versioning": True},
            "objects": [{"object": "Contact", "fields": ["LastName", "Email", "Title"], "match_by": ["Email"]}]}


def _big_target(pair: Any, count: int) -> None:
    store = pair.server.store("tgt")
    with store.transaction():
        for i in range(count):
            store.create("Contact", {"LastName": f"Target {i}", "Email": f"Person{i}@Example.com"})


def test_a_few_records_against_a_big_target_read_only_their_matches(pair: Any) -> None:
    _big_target(pair, 9000)
    pair.insert("src", "Contact", [{"LastName": f"Source {i}", "Email": f"person{i}@example.com", "Title": "New"}
                                   for i in (3, 500, 8999)] +
                [{"LastName": f"Fresh {i}", "Email": f"fresh{i}@example.com"} for i in range(7)])
    engine = pair.engine()
    first = engine.sync(engine.create_job({**TEMPLATE, "options": {"bulk_threshold": 0}}))
    assert first.state == "Synced" and first.totals.errors == 0
    assert (first.totals.inserted, first.totals.updated) == (7, 3)
    # describe, one page that says 9,000, one IN-chunk of keys, two creates' worth of calls: 6 (every
    # page would make it 9)
    assert first.api_calls["target"] <= 6
    rows = pair.rows("tgt", "SELECT LastName, Title FROM Contact WHERE Email = 'person500@example.com'")
    assert rows == [{"LastName": "Source 500", "Title": "New"}]
    assert len(pair.rows("tgt", "SELECT Id FROM Contact")) == 9007
    again = engine.sync(engine.create_job(TEMPLATE))     # found through the id map this time
    assert again.totals.existing == 10 and again.totals.inserted == 0 and again.totals.errors == 0


def test_duplicate_matches_are_still_reported(pair: Any) -> None:
    _big_target(pair, 4500)
    pair.insert("tgt", "Contact", [{"LastName": "Twin", "Email": "person7@example.com"}])
    pair.insert("src", "Contact", [{"LastName": "Seven", "Email": "PERSON7@example.com"}])
    engine = pair.engine()
    result = engine.sync(engine.create_job(TEMPLATE))
    errors = pair.journal.errors(result.job_id)
    assert [e.status_code for e in errors] == ["DUPLICATE_MATCH"]


def test_a_big_source_reads_the_target_in_pages(pair: Any) -> None:
    _big_target(pair, 2500)
    store = pair.server.store("src")
    with store.transaction():
        for i in range(2500):
            store.create("Contact", {"LastName": f"S{i}", "Email": f"person{i}@example.com"})
    engine = pair.engine()
    result = engine.sync(engine.create_job({**TEMPLATE, "options": {"bulk_threshold": 0}}))
    assert result.totals.existing + result.totals.updated == 2500 and result.totals.inserted == 0
