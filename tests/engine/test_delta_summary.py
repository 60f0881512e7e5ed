"""A delta sync says what it read (issue 21 item 7): since when, and how many records changed in the
source, also when that is none (the counts alone would all be 0)."""

from __future__ import annotations

from isyncsf_desktop.engine.run.engine import delta_summary

TEMPLATE = {"name": "delta", "options": {"continue_on_error": True, "delta_sync": True},
            "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"]}]}


def sync(pair, template: dict):
    engine = pair.engine()
    return engine, engine.sync(engine.create_job(template))


def test_a_delta_sync_that_found_nothing_says_since_when_and_zero_changed(pair):
    ids = pair.insert("src", "Account", [{"Name": f"Acc{i}", "External_Id__c": f"A{i}"} for i in range(3)])
    _, first = sync(pair, TEMPLATE)
    assert first.totals.inserted == 3 and first.message is None      # the first one is a full sync
    engine, nothing = sync(pair, TEMPLATE)
    assert nothing.state == "Synced" and nothing.totals.processed == 0
    assert nothing.message and nothing.message.startswith("Delta sync since 20")
    assert nothing.message.endswith(": 0 records changed in the source (nothing to copy).")
    job = engine.journal.job(nothing.job_id)
    assert job.message == nothing.message                  # what the Execute tab and History show
    pair.source.update([{"attributes": {"type": "Account"}, "Id": ids[0], "Name": "Changed"}])
    _, one = sync(pair, TEMPLATE)
    assert one.totals.updated == 1 and one.message.endswith(": 1 record changed in the source.")


def test_the_date_is_shown_plainly():
    assert delta_summary(None, {}) is None
    assert delta_summary("2026-03-01T09:00:00Z", {}) == (
        "Delta sync since 2026-03-01 09:00:00 UTC: 0 records changed in the source (nothing to copy).")
