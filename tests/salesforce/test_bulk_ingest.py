"""OrgClient.bulk_ingest: Bulk API 2.0 insert, update and delete against a sandbox org, answered like
the Collections writes (one result per record, in order) whatever order the result files come in."""

from __future__ import annotations

from typing import Any

import pytest
from helpers import org_client

from isyncsf_desktop.salesforce.client import OrgClient


@pytest.fixture
def server(sandbox_factory: Any) -> Any:
    server = sandbox_factory({"qa": "empty"})
    server.app.state["bulk_result_order"] = "shuffled"
    return server


@pytest.fixture
def qa(server: Any) -> OrgClient:
    return org_client(server, "qa")


def names_by_id(client: OrgClient) -> dict[str, dict[str, Any]]:
    return {r["Id"]: r for r in client.query("SELECT Id, Name, Phone, External_Id__c FROM Account")}


def test_insert_results_map_back_to_their_records(qa: OrgClient) -> None:
    records = [{"Name": f"Account {i}", "External_Id__c": f"E{i}", "Phone": None if i % 3 else f"555-{i}"}
               for i in range(300)]
    records += [{"Name": 'Quote " and, comma\nand a new line', "External_Id__c": "Q1"},
                {"Name": "Twin"}, {"Name": "Twin"},
                {"Name": "Clash", "External_Id__c": "E7"},        # duplicate external id: fails
                {"Phone": "no name"}]                             # required Name missing: fails
    results = qa.bulk_ingest("Account", "insert", records)
    assert len(results) == len(records)
    saved = names_by_id(qa)
    for record, result in zip(records[:-2], results):
        assert result["success"], result
        row = saved[result["id"]]
        assert (row["Name"], row["Phone"], row["External_Id__c"]) == \
            (record["Name"], record.get("Phone"), record.get("External_Id__c"))
    clash, nameless = results[-2:]
    assert not clash["success"] and clash["errors"][0]["statusCode"] == "DUPLICATE_VALUE"
    assert clash["errors"][0]["fields"] == ["External_Id__c"]
    assert not nameless["success"] and nameless["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert nameless["errors"][0]["fields"] == ["Name"] and clash["id"] is None
    assert len({r["id"] for r in results if r["success"]}) == len(records) - 2


def test_update_sets_nulls_and_leaves_unset_fields_alone(qa: OrgClient) -> None:
    ids = [r["id"] for r in qa.bulk_ingest("Account", "insert", [
        {"Name": f"A{i}", "Phone": "555", "External_Id__c": f"U{i}"} for i in range(20)])]
    updates = [{"Id": ids[i], "Phone": None} if i % 2 else {"Id": ids[i], "Name": f"Renamed {i}"} for i in range(20)]
    updates.append({"Id": "001000000000000AAA", "Name": "nobody"})
    results = qa.bulk_ingest("Account", "update", updates)
    assert [r["id"] for r in results] == [u["Id"] for u in updates]
    assert all(r["success"] for r in results[:-1])
    assert results[-1]["errors"][0]["statusCode"] in ("INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID")
    saved = names_by_id(qa)
    for i, record_id in enumerate(ids):
        row = saved[record_id]
        assert (row["Name"], row["Phone"]) == ((f"A{i}", None) if i % 2 else (f"Renamed {i}", "555"))


def test_delete_reports_each_id_and_already_deleted_ones(qa: OrgClient) -> None:
    ids = [r["id"] for r in qa.bulk_ingest("Account", "insert", [{"Name": f"D{i}"} for i in range(30)])]
    qa.delete(ids[:5])
    results = qa.bulk_ingest("Account", "delete", [{"Id": i} for i in ids])
    assert [r["id"] for r in results] == ids
    assert [r["success"] for r in results] == [False] * 5 + [True] * 25
    assert {r["errors"][0]["statusCode"] for r in results[:5]} == {"ENTITY_IS_DELETED"}
    assert qa.count("Account") == 0


def test_locked_rows_are_sent_again_through_collections(server: Any, qa: OrgClient) -> None:
    server.faults("qa").update(lock_row=3)
    results = qa.bulk_ingest("Account", "insert", [{"Name": f"L{i}"} for i in range(10)])
    assert all(r["success"] for r in results)
    assert sorted(row["Name"] for row in names_by_id(qa).values()) == sorted(f"L{i}" for i in range(10))


# ---------------------------------------------------------------------- row locks
LOCKED = "unable to obtain exclusive access to this record or 1 records"


def _client(server: Any, **kwargs: Any) -> OrgClient:
    return OrgClient.connect(server.instance_url, server.token("qa"), ca_file=server.ca_file, alias="qa",
                             backoff=0.0, **kwargs)


def _contacts_under(client: OrgClient, accounts: int, each: int) -> tuple[list[str], list[dict[str, Any]]]:
    """``accounts`` Accounts and ``each`` Contacts of each to insert, the Accounts taking turns (as a
    source org reads them, by Id)."""
    parents = [r["id"] for r in client.create([{"attributes": {"type": "Account"}, "Name": f"P{i}"}
                                               for i in range(accounts)])]
    return parents, [{"LastName": f"C{n}", "Email": f"c{n}@x.test", "AccountId": parents[n % accounts]}
                     for n in range(accounts * each)]


def _jobs(server: Any, client: OrgClient, seen: list[str]) -> list[dict[str, Any]]:
    """What the org says of each job ``seen`` opened, with the rows it was sent (the sandbox's own record)."""
    registry = server.app.state["bulk2"]
    return [{**client.sf.restful(f"jobs/ingest/{job_id}"), "rows": registry.find(job_id).rows} for job_id in seen]


def _saved_contacts(client: OrgClient) -> dict[str, tuple[str, str]]:
    return {r["Email"]: (r["LastName"], r["AccountId"])
            for r in client.query("SELECT LastName, Email, AccountId FROM Contact")}


def test_contacts_under_few_accounts_go_up_grouped_by_account_and_none_fails_locked(server: Any) -> None:
    """The org runs a job's rows in internal batches in parallel (100 rows here); a Contact whose Account
    another batch also writes under may not get the Account's lock. Rows grouped by Account leave only
    the Account across a batch boundary contended (rows 80-119), and those rows, sent again, succeed."""
    client = _client(server)
    server.faults("qa").update(lock_contention=1.0, bulk_batch_rows=100)
    parents, records = _contacts_under(client, 6, 40)
    seen: list[str] = []
    sent_again: list[list[int]] = []
    results = client.bulk_ingest("Contact", "insert", records, on_job=seen.append, on_collections=sent_again.append)
    assert all(r["success"] for r in results), [r for r in results if not r["success"]][:3]
    first = _jobs(server, client, seen)[0]
    assert [row[-1] for row in first["rows"]] == sorted(parents * 40)     # AccountId is the last column
    assert first["numberRecordsFailed"] == 40 and len(sent_again) == 1 and len(sent_again[0]) == 40
    assert _saved_contacts(client) == {r["Email"]: (r["LastName"], r["AccountId"]) for r in records}


def test_without_grouping_the_contention_hits_every_contact(server: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    client = _client(server)
    monkeypatch.setattr(client, "lock_parents", lambda *_: [])        # rows go up as given: Accounts take turns
    server.faults("qa").update(lock_contention=1.0, bulk_batch_rows=100)
    _, records = _contacts_under(client, 6, 40)
    seen: list[str] = []
    results = client.bulk_ingest("Contact", "insert", records, on_job=seen.append)
    assert all(r["success"] for r in results)          # sent again through Collections: no contention there
    assert _jobs(server, client, seen)[0]["numberRecordsFailed"] == 240
    assert _saved_contacts(client) == {r["Email"]: (r["LastName"], r["AccountId"]) for r in records}


def test_many_locked_rows_go_again_as_a_job_of_just_those_rows(server: Any) -> None:
    client = _client(server)
    server.faults("qa").update(lock_contention=1.0, bulk_batch_rows=100)
    parents, records = _contacts_under(client, 6, 40)
    seen: list[str] = []
    results = client.bulk_ingest("Contact", "insert", records, on_job=seen.append, resend_bulk_from=10)
    assert all(r["success"] for r in results)
    first, again = _jobs(server, client, seen)
    assert again["numberRecordsProcessed"] == first["numberRecordsFailed"] == 40
    assert again["numberRecordsFailed"] == 0 and client.count("Contact") == 240
    moves = [{"Id": r["id"], "AccountId": parents[(n + 1) % 6]} for n, r in enumerate(results)]   # update too
    seen.clear()
    assert all(r["success"] for r in client.bulk_ingest("Contact", "update", moves, on_job=seen.append,
                                                        resend_bulk_from=10))
    assert [row[-1] for row in _jobs(server, client, seen)[0]["rows"]] == sorted(parents * 40)
    saved = {r["Id"]: r["AccountId"] for r in client.query("SELECT Id, AccountId FROM Contact")}
    assert saved == {m["Id"]: m["AccountId"] for m in moves}


@pytest.mark.parametrize("resend_bulk_from", [1, 1000])
def test_rows_still_locked_once_the_retries_are_used_up_fail_with_the_orgs_message(
        server: Any, resend_bulk_from: int) -> None:
    """Every write locked (a row lock nobody releases): sent again as a job while that gets some through
    (here none does), then through Collections ``retries`` times, then reported with the org's own error."""
    client = _client(server, retries=2)
    server.faults("qa").update(lock_row_rate=1.0)
    seen: list[str] = []
    sent_again: list[list[int]] = []
    results = client.bulk_ingest("Account", "insert", [{"Name": f"L{i}"} for i in range(5)], on_job=seen.append,
                                 on_collections=sent_again.append, resend_bulk_from=resend_bulk_from)
    assert [r["errors"][0]["statusCode"] for r in results] == ["UNABLE_TO_LOCK_ROW"] * 5
    assert {r["errors"][0]["message"] for r in results} == {LOCKED} and not any(r["success"] for r in results)
    assert len(seen) == (2 if resend_bulk_from == 1 else 1)        # the job, then a re-send job if it may
    assert sent_again == [[0, 1, 2, 3, 4]]
    server.faults("qa").update(lock_row_rate=0.0)
    assert client.count("Account") == 0


def test_a_job_the_org_fails_fails_every_row_with_its_message(qa: OrgClient) -> None:
    results = qa.bulk_ingest("Account", "insert", [{"Name": "x", "No_Such_Field__c": "1"}, {"Name": "y"}])
    assert [r["success"] for r in results] == [False, False]
    error = results[0]["errors"][0]
    assert error["statusCode"] == "BULK_JOB_FAILED" and "No_Such_Field__c" in error["message"]
    assert qa.count("Account") == 0


def test_every_request_is_counted(qa: OrgClient) -> None:
    before = qa.api_calls
    used = qa.limits()["DailyApiRequests"]
    qa.bulk_ingest("Account", "insert", [{"Name": f"C{i}"} for i in range(50)])
    after = qa.limits()["DailyApiRequests"]
    assert (used["Remaining"] - after["Remaining"]) == qa.api_calls - before - 1


def test_a_big_write_is_split_into_jobs_and_answered_in_order(qa: OrgClient, monkeypatch: pytest.MonkeyPatch) -> None:
    from isyncsf_desktop.salesforce import client as client_module

    monkeypatch.setattr(client_module, "BULK_MAX_ROWS", 100)
    records = [{"Name": f"Split {i}", "External_Id__c": f"S{i}"} for i in range(250)]
    results = qa.bulk_ingest("Account", "insert", records)
    assert len(qa.sf.restful("jobs/ingest")["records"]) == 3
    saved = names_by_id(qa)
    assert [saved[r["id"]]["External_Id__c"] for r in results] == [f"S{i}" for i in range(250)]


def test_result_files_are_read_only_when_needed(server: Any, qa: OrgClient) -> None:
    seen: list[str] = []
    server.faults("qa").update(observer=lambda when, method, path: seen.append(f"{method} {path}")
                               if when == "before" else None)
    ids = [r["id"] for r in qa.bulk_ingest("Account", "insert", [{"Name": f"R{i}"} for i in range(20)])]
    assert sum("successfulResults" in s for s in seen) == 1 and not any("failedResults" in s for s in seen)
    seen.clear()
    results = qa.bulk_ingest("Account", "delete", [{"Id": i} for i in ids])
    assert [r["id"] for r in results] == ids and all(r["success"] for r in results)
    assert not any("Results" in s for s in seen)      # all deleted: the job's counts say so
    seen.clear()
    results = qa.bulk_ingest("Account", "delete", [{"Id": ids[0]}])
    assert not results[0]["success"] and any("failedResults" in s for s in seen)


def test_the_orgs_job_list_pages_and_tells_who_created_each_job_and_when(qa: OrgClient, server: Any) -> None:
    """``GET jobs/ingest`` as a real org answers it: every user's jobs, in pages linked by
    ``nextRecordsUrl``; :meth:`OrgClient.ingest_jobs` reads them all. The opening hook runs before each
    job is opened, the id hook after, and no data goes up before it."""
    server.app.state["bulk_list_page"] = 2
    order: list[str] = []
    seen: list[tuple[str, str]] = []

    def observe(when: str, method: str, path: str) -> None:
        if when == "before" and "/jobs/ingest" in path:
            seen.append((method, path))

    server.faults("qa").update(observer=observe)
    qa.bulk_ingest("Account", "insert", [{"Name": f"P{i}"} for i in range(3)],
                   on_opening=lambda: order.append(f"opening after {len(seen)} calls"),
                   on_job=lambda job_id: order.append(f"{job_id} after {len(seen)} calls"))
    assert order[0] == "opening after 0 calls" and order[1].endswith("after 1 calls")
    assert seen[0][0] == "POST" and seen[1][0] == "PUT"          # the data only after the id is known
    server.faults("qa").update(observer=None, bulk_created_by="005000000000OthAAA")
    qa.sf.restful("jobs/ingest/", method="POST", json={"object": "Contact", "operation": "insert"})
    server.faults("qa").update(bulk_created_by=None)
    qa.bulk_ingest("Account", "delete", [{"Id": r["Id"]} for r in qa.query("SELECT Id FROM Account")])
    first = qa.sf.restful("jobs/ingest")
    assert first["done"] is False and len(first["records"]) == 2 and "queryLocator=" in first["nextRecordsUrl"]
    jobs = qa.ingest_jobs()
    assert [(j["object"], j["operation"], j["state"]) for j in jobs] == [
        ("Account", "insert", "JobComplete"), ("Contact", "insert", "Open"), ("Account", "delete", "JobComplete")]
    me = qa.user_info()["user_id"]
    assert [j["createdById"] for j in jobs] == [me, "005000000000OthAAA", me]
    assert all(set(j) >= {"id", "createdDate", "state", "object", "operation", "createdById"} for j in jobs)
    assert [j["createdDate"] for j in jobs] == sorted(j["createdDate"] for j in jobs)
