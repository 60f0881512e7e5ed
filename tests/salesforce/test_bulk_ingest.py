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
