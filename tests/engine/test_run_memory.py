"""What a sync holds while it runs (issue 28, memory flat with size): the second pass keeps only the records it
sets lookups on, and of them only their ids and those lookups' values; an object's target rows go once it is
done. Memory itself is measured by ``benchmarks/sync_bench.py --trace-memory``, not here; these tests look at
the run's structures after a real sync on the sandbox."""

from __future__ import annotations

import pytest

from isyncsf_desktop.engine.events import ObjectStarted
from isyncsf_desktop.engine.lifecycle import RunKind
from isyncsf_desktop.engine.run import first_pass
from isyncsf_desktop.engine.run.sync_run import SyncRun


def sync_keeping_run(pair, tmpl: dict) -> tuple[SyncRun, object]:
    """Sync ``tmpl`` and return the :class:`SyncRun` the engine made for it (the engine's own, kept)."""
    engine = pair.engine()
    job_id = engine.create_job(tmpl)
    engine.scan(job_id)
    runs: list[SyncRun] = []

    def make_run(*args, **kwargs) -> SyncRun:
        runs.append(SyncRun(*args, **kwargs))
        return runs[-1]

    result = engine._sync_run(job_id, RunKind.SYNC, keep_clock=True, make_run=make_run)   # as sync() after a scan
    return runs[0], result


def test_the_run_keeps_for_the_second_pass_only_the_lookups_it_sets(pair):
    accounts = pair.insert("src", "Account", [{"Name": f"Acme {i}", "External_Id__c": f"A{i}", "Phone": "555"}
                                              for i in range(3)])
    contacts = pair.insert("src", "Contact", [{"LastName": f"Doe {i}", "Email": f"doe{i}@acme.test",
                                               "AccountId": accounts[i], "Title": "Buyer"} for i in range(3)])
    pair.source.update([{"attributes": {"type": "Account"}, "Id": a, "Primary_Contact__c": c}
                        for a, c in zip(accounts, contacts)])
    run, result = sync_keeping_run(pair, {"name": "t", "options": {"continue_on_error": True}, "objects": [
        {"object": "Account", "fields": ["Name", "External_Id__c", "Phone", "Primary_Contact__c"]},
        {"object": "Contact", "fields": ["LastName", "Email", "AccountId", "Title"], "match_by": ["Email"]}]})
    assert result.state == "Synced" and result.totals.errors == 0    # type: ignore[attr-defined]

    # Account has a deferred lookup: each account is kept, with its id and that lookup's source value only
    kept = {p.source["Id"]: p.source for p in run.synced["Account"]}
    assert kept == {a: {"Id": a, "Primary_Contact__c": c} for a, c in zip(accounts, contacts)}
    assert all(p.payload == {} for p in run.synced["Account"])
    # ... and of its target rows, those of the records the second pass set, with that lookup only
    target = {r["Id"]: r for r in pair.rows("tgt", "SELECT Id, Primary_Contact__c FROM Account")}
    assert set(run.live_targets["Account"]) == set(target)
    assert {i: row for i, row in run.live_targets["Account"].items()} == target
    # Contact has nothing left for the second pass: no record and no target row stays once it is done
    assert run.synced.get("Contact", []) == []
    assert run.live_targets["Contact"] == {}

    # the second pass still closed the cycle from what it kept
    copies = {r["LastName"]: r["Id"] for r in pair.rows("tgt", "SELECT Id, LastName FROM Contact")}
    names = {r["Primary_Contact__c"] for r in pair.rows("tgt", "SELECT Primary_Contact__c FROM Account")}
    assert names == set(copies.values())


def test_an_object_without_levels_is_read_and_synced_part_by_part(pair, monkeypatch: pytest.MonkeyPatch):
    # parts of 4 records per write in flight (8 with in_flight 2) instead of 80,000: the same path a million takes
    monkeypatch.setattr(first_pass, "PART_RECORDS", 4)
    accounts = pair.insert("src", "Account", [{"Name": f"Acme {i}", "External_Id__c": f"A{i}"} for i in range(3)])
    pair.insert("src", "Contact", [{"LastName": f"Doe {i}", "Email": f"doe{i}@acme.test", "AccountId": accounts[i % 3],
                                    "Title": "Buyer"} for i in range(21)])
    pair.insert("tgt", "Contact", [{"LastName": f"Doe {i}", "Email": f"doe{i}@acme.test", "Title": "Intern"}
                                   for i in (2, 17)])    # on the target already: matched by Email and updated
    run, result = sync_keeping_run(pair, {"name": "t", "options": {"continue_on_error": True, "in_flight": 2},
                                          "objects": [
        {"object": "Account", "fields": ["Name", "External_Id__c"], "match_by": ["External_Id__c"]},
        {"object": "Contact", "fields": ["LastName", "Email", "AccountId", "Title"], "match_by": ["Email"]}]})
    assert result.state == "Synced" and result.totals.errors == 0    # type: ignore[attr-defined]

    # Contact (21 records, more than a part) was never held whole: one part at a time; Account (3) was read whole
    assert run.held == {"Account": 3, "Contact": 8}
    contacts = result.objects["Contact"]                              # type: ignore[attr-defined]
    assert (contacts.total, contacts.inserted, contacts.updated, contacts.processed) == (21, 19, 2, 21)
    started = [e for e in pair.events if isinstance(e, ObjectStarted) and e.object == "Contact"]
    assert [e.total for e in started] == [21]        # the total the org counted before the first page
    assert run.live_targets["Contact"] == {}

    # every record of every part reached the target once, under its account's copy, matched where it was there
    copies = {r["External_Id__c"]: r["Id"] for r in pair.rows("tgt", "SELECT Id, External_Id__c FROM Account")}
    got = pair.rows("tgt", "SELECT Email, AccountId, Title FROM Contact")
    assert sorted(r["Email"] for r in got) == sorted(f"doe{i}@acme.test" for i in range(21))
    assert all(r["AccountId"] == copies[f"A{int(r['Email'][3:].split('@')[0]) % 3}"] and r["Title"] == "Buyer"
               for r in got)
    outcomes = pair.journal.records(result.job_id)                    # type: ignore[attr-defined]
    assert len([o for o in outcomes if o.object == "Contact"]) == 21
