"""What a sync holds while it runs (issue 28, memory flat with size): the second pass keeps only the records it
sets lookups on, and of them only their ids and those lookups' values; an object's target rows go once it is
done. Memory itself is measured by ``benchmarks/sync_bench.py --trace-memory``, not here; these tests look at
the run's structures after a real sync on the sandbox."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest
import requests

from isyncsf_desktop.engine.events import BatchDone, CancelToken, ObjectStarted
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


def hierarchy(pair, tops: int = 3, per_parent: int = 2, depth: int = 3) -> dict[str, str]:
    """A source Account hierarchy, ``depth`` levels (each account has ``per_parent`` children), written leaves
    first in the source's order so that no level comes whole from the org; source id -> External_Id__c."""
    names: dict[str, str] = {}
    level = pair.insert("src", "Account", [{"Name": f"Top {i}", "External_Id__c": f"T{i}"} for i in range(tops)])
    names.update({i: f"T{n}" for n, i in enumerate(level)})
    for depth_now in range(1, depth):
        rows = [{"Name": f"L{depth_now} {n}", "External_Id__c": f"L{depth_now}-{n}", "ParentId": parent}
                for n, parent in enumerate(p for p in level for _ in range(per_parent))]
        level = pair.insert("src", "Account", rows)
        names.update({i: r["External_Id__c"] for i, r in zip(level, rows)})
    return names


def test_a_hierarchy_is_held_a_part_at_a_time_and_written_parents_first(pair, monkeypatch: pytest.MonkeyPatch):
    # parts of 4 records per write in flight (8 with in_flight 2): the path 200,000 Accounts take at a million
    monkeypatch.setattr(first_pass, "PART_RECORDS", 4)
    names = hierarchy(pair)                                        # 3 + 6 + 12 accounts
    a, b = pair.insert("src", "Account", [{"Name": "Cycle A", "External_Id__c": "CA"},
                                          {"Name": "Cycle B", "External_Id__c": "CB"}])
    pair.source.update([{"attributes": {"type": "Account"}, "Id": a, "ParentId": b},
                        {"attributes": {"type": "Account"}, "Id": b, "ParentId": a}])   # a cycle in the data itself
    names.update({a: "CA", b: "CB"})
    pair.insert("tgt", "Account", [{"Name": "Old", "External_Id__c": "L2-5"}])    # matched by key and updated
    run, result = sync_keeping_run(pair, {"name": "t", "options": {"continue_on_error": True, "in_flight": 2},
                                          "objects": [{"object": "Account", "fields": ["Name", "External_Id__c",
                                                                                       "ParentId"],
                                                       "match_by": ["External_Id__c"]}]})
    assert result.state == "Synced" and result.totals.errors == 0    # type: ignore[attr-defined]

    # the 23 accounts were never held whole: a part of at most 8 at a time (the test fails if read whole again)
    assert run.held == {"Account": 8}
    accounts = result.objects["Account"]                              # type: ignore[attr-defined]
    assert (accounts.total, accounts.inserted, accounts.updated, accounts.processed) == (23, 22, 1, 23)
    # every account once, under its parent's copy; the cycle closed by the second pass
    source = {r["External_Id__c"]: names.get(r["ParentId"]) for r in pair.rows("src", "SELECT ParentId, External_Id__c FROM Account")}
    target = pair.rows("tgt", "SELECT Id, ParentId, External_Id__c, Name FROM Account")
    by_id = {r["Id"]: r["External_Id__c"] for r in target}
    assert sorted(by_id.values()) == sorted(names.values())
    assert {r["External_Id__c"]: by_id.get(r["ParentId"]) for r in target} == source
    # parents first: no account was inserted with its parent still to come (only the cycle's wait for the second pass)
    first = [o for o in pair.journal.records(result.job_id) if o.object == "Account"]    # type: ignore[attr-defined]
    assert len(first) == 23
    assert [p.source["Id"] for p in run.synced["Account"]] == [a, b]
    # the spool's file is gone
    assert list((pair.journal.path.parent / "spool").glob("*")) == []


def test_a_hierarchy_resumed_after_an_abort_sends_none_twice(pair, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(first_pass, "PART_RECORDS", 4)
    names = hierarchy(pair)
    tmpl = {"name": "t", "options": {"continue_on_error": True, "in_flight": 1},
            "objects": [{"object": "Account", "fields": ["Name", "External_Id__c", "ParentId"],
                         "match_by": ["External_Id__c"]}]}
    cancel = CancelToken()
    parts: list[int] = []

    def stop_after_two_parts(event) -> None:
        if isinstance(event, BatchDone) and event.object == "Account":
            parts.append(event.counts.processed)
            if len(parts) == 2:
                cancel.cancel("stop")

    engine = pair.engine(observer=stop_after_two_parts, cancel=cancel)
    job_id = engine.create_job(tmpl)
    stopped = engine.sync(job_id)
    assert stopped.state == "Aborted" and stopped.totals.processed == 7       # the 3 tops, 4 of the 6 below them
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 7

    resumed = pair.engine().resync(job_id)
    assert resumed.state == "Synced" and resumed.totals.errors == 0, resumed
    assert (resumed.objects["Account"].inserted, resumed.objects["Account"].total) == (14, 14)
    target = pair.rows("tgt", "SELECT Id, ParentId, External_Id__c FROM Account")
    by_id = {r["Id"]: r["External_Id__c"] for r in target}
    assert sorted(by_id.values()) == sorted(names.values())          # each once
    source = {r["External_Id__c"]: names.get(r["ParentId"]) for r in pair.rows("src", "SELECT ParentId, External_Id__c FROM Account")}
    assert {r["External_Id__c"]: by_id.get(r["ParentId"]) for r in target} == source


def test_a_part_of_whole_bulk_jobs_ends_at_a_bulk_query_pages_end() -> None:
    """Parts are read from Bulk query pages: a page size that divides a part leaves no page's rest held beside it."""
    from isyncsf_desktop.salesforce.client import BULK_QUERY_PAGE

    assert first_pass.PART_RECORDS % BULK_QUERY_PAGE == 0


def _sync_recording_requests(pair, monkeypatch) -> tuple[object, object, list[str]]:
    """Sync 3 Accounts and 21 Contacts with a Bulk threshold of 10, recording every request the run sends (method,
    URL and body): (the run, its result, the requests)."""
    accounts = pair.insert("src", "Account", [{"Name": f"Acme {i}", "External_Id__c": f"A{i}"} for i in range(3)])
    pair.insert("src", "Contact", [{"LastName": f"Doe {i}", "Email": f"doe{i}@acme.test", "AccountId": accounts[i % 3]}
                                   for i in range(21)])
    sent: list[str] = []
    send = requests.Session.send

    def recording(session, request, **kwargs):
        body = request.body.decode() if isinstance(request.body, bytes) else request.body or ""
        sent.append(f"{request.method} {unquote_plus(request.url)} {body}")
        return send(session, request, **kwargs)

    monkeypatch.setattr(requests.Session, "send", recording)
    run, result = sync_keeping_run(pair, {"name": "t", "options": {"continue_on_error": True, "bulk_threshold": 10},
                                          "objects": [
        {"object": "Account", "fields": ["Name", "External_Id__c"], "match_by": ["External_Id__c"]},
        {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"]}]})
    assert result.state == "Synced" and result.totals.inserted == 24    # type: ignore[attr-defined]
    return run, result, sent


def test_an_object_its_scan_counted_past_the_bulk_threshold_is_read_by_a_bulk_query_alone(pair, monkeypatch):
    """The scan counted the object's records: past the Bulk threshold (and cheaper by Bulk), its read opens a
    Bulk query at once, without a REST page that would only count them again."""
    monkeypatch.setattr(first_pass, "PART_RECORDS", 4)
    monkeypatch.setattr("isyncsf_desktop.salesforce.client.REST_QUERY_PAGE", 5)    # 21 records: 5 REST pages
    run, _result, sent = _sync_recording_requests(pair, monkeypatch)
    assert run.held == {"Account": 3, "Contact": 8}                     # still part by part
    # the source's read of Contact is ordered by Id (the target's, for matching, is not)
    reads = [line for line in sent if " FROM Contact" in line and "ORDER BY Id" in line]
    assert len(reads) == 1 and reads[0].startswith("POST ") and "/jobs/query" in reads[0], reads


def test_an_object_of_one_part_is_read_in_pages_of_a_write_each(pair, monkeypatch):
    """An object the scan counted within one part is held whole anyway: its Bulk query is read in pages of a
    write's worth (fewer calls), not in the smaller pages a part-by-part read needs."""
    monkeypatch.setattr(first_pass, "PART_RECORDS", 25)                             # a part: 50 (in_flight 2)
    monkeypatch.setattr("isyncsf_desktop.salesforce.client.REST_QUERY_PAGE", 5)
    monkeypatch.setattr("isyncsf_desktop.salesforce.client.BULK_QUERY_PAGE", 5)
    _run, _result, sent = _sync_recording_requests(pair, monkeypatch)
    pages = [line for line in sent if "/jobs/query/" in line and "/results" in line]
    assert len(pages) == 1 and "maxRecords=25" in pages[0], pages     # 21 records: one page of 25, not five of 5
