"""Bulk API 2.0 of the sandbox org: ingest and query jobs.

Unit tests drive the WSGI app with werkzeug's test client over a tiny in-test org; the
end-to-end tests at the bottom go through simple-salesforce's own bulk2 client over HTTPS.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import Client, TestResponse

from isyncsf_desktop.sandbox.app import SandboxApp
from isyncsf_desktop.sandbox.bulk import format_error
from isyncsf_desktop.sandbox.errors import RecordError
from isyncsf_desktop.sandbox.seeds import Ref, Seed, SeedRecord
from isyncsf_desktop.sandbox.store import OrgStore

BASE = "/services/data/v59.0/jobs"

SCHEMA: dict[str, Any] = {"objects": {
    "User": {"keyPrefix": "005", "fields": {
        "Username": {"type": "string", "required": True}, "LastName": {"type": "string", "required": True},
        "FirstName": {"type": "string"}, "Name": {"type": "string"}, "Email": {"type": "email"},
        "Alias": {"type": "string"}, "IsActive": {"type": "boolean"}}},
    "Account": {"keyPrefix": "001", "owned": True, "fields": {
        "Name": {"type": "string", "required": True},
        "External_Id__c": {"type": "string", "externalId": True, "unique": True},
        "AnnualRevenue": {"type": "currency"}, "NumberOfEmployees": {"type": "int"},
        "Active__c": {"type": "boolean"}}},
    "Contact": {"keyPrefix": "003", "owned": True, "fields": {
        "LastName": {"type": "string", "required": True}, "FirstName": {"type": "string"},
        "Email": {"type": "email"},
        "AccountId": {"type": "reference", "referenceTo": ["Account"], "relationshipName": "Account"},
        "Ext__c": {"type": "string", "externalId": True}}},
}}


def _seed(name: str) -> Seed:
    return Seed(
        name=name, schema_document=SCHEMA, api_user="api",
        records=[
            SeedRecord("User", "api", {"Username": f"api@{name}.demo", "LastName": "Api", "FirstName": "Ada",
                                       "Name": "Ada Api", "Email": f"api@{name}.demo", "Alias": "aapi",
                                       "IsActive": True}),
            SeedRecord("Account", "a1", {"Name": "Acme", "External_Id__c": "A-1", "AnnualRevenue": 5000,
                                         "NumberOfEmployees": 10, "Active__c": True}),
            SeedRecord("Account", "a2", {"Name": "Globex", "External_Id__c": "A-2"}),
            SeedRecord("Contact", "c1", {"LastName": "Smith", "FirstName": "Sam", "Email": "sam@acme.demo",
                                         "AccountId": Ref("Account", "a1"), "Ext__c": "C-1"}),
            SeedRecord("Contact", "c2", {"LastName": "Orphan"}),
        ],
        validation_rules=[{"ValidationName": "No_Reject", "EntityDefinitionId": "Contact",
                           "ErrorConditionFormula": 'LastName = "Reject"', "ErrorMessage": "Rejected name",
                           "ErrorDisplayField": "LastName", "Active": True}],
        org_name=f"{name} org",
    )


class Org:
    """A test client bound to one org's token, with Bulk 2.0 shortcuts."""

    def __init__(self, app: SandboxApp, store: OrgStore):
        self.app = app
        self.store = store
        self.client = Client(app)
        self.token = store.issue_token("access")
        self.headers = {"Authorization": f"Bearer {self.token}"}

    def get(self, path: str, **kw: Any) -> TestResponse:
        return self.client.get(BASE + path, headers=self.headers, **kw)

    def post(self, path: str, body: Any, headers: dict[str, str] | None = None) -> TestResponse:
        return self.client.post(BASE + path, json=body, headers={**self.headers, **(headers or {})})

    def patch(self, path: str, body: Any) -> TestResponse:
        return self.client.patch(BASE + path, json=body, headers=self.headers)

    def put_csv(self, job_id: str, text: str) -> TestResponse:
        return self.client.put(f"{BASE}/ingest/{job_id}/batches", data=text.encode("utf-8"),
                               headers={**self.headers, "Content-Type": "text/csv"})

    def delete(self, path: str) -> TestResponse:
        return self.client.delete(BASE + path, headers=self.headers)

    def new_job(self, obj: str, operation: str, **extra: Any) -> dict[str, Any]:
        resp = self.post("/ingest", {"object": obj, "operation": operation, "contentType": "CSV",
                                     "lineEnding": "LF", "columnDelimiter": "COMMA", **extra})
        assert resp.status_code == 200, resp.json
        return resp.json

    def run_job(self, obj: str, operation: str, text: str, **extra: Any) -> dict[str, Any]:
        """Create, upload, close and (synchronously) finish a job; returns the final job JSON."""
        job = self.new_job(obj, operation, **extra)
        assert self.put_csv(job["id"], text).status_code == 201
        assert self.patch(f"/ingest/{job['id']}", {"state": "UploadComplete"}).status_code == 200
        info = self.get(f"/ingest/{job['id']}").json
        assert info["state"] in ("JobComplete", "Failed"), info
        return info

    def results(self, job_id: str, kind: str) -> list[dict[str, str]]:
        resp = self.get(f"/ingest/{job_id}/{kind}/")
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("text/csv")
        return list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))

    def query_csv(self, soql: str, operation: str = "query") -> tuple[str, list[dict[str, str]]]:
        job = self.post("/query", {"operation": operation, "query": soql})
        assert job.status_code == 200, job.json
        resp = self.get(f"/query/{job.json['id']}/results")
        return job.json["id"], list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))


@pytest.fixture
def orgs(tmp_path: Path) -> Iterator[tuple[Org, Org]]:
    """Two tiny orgs in one app ("source" and "other"), processing bulk jobs synchronously."""
    stores = {}
    for alias, pod in zip(("source", "other"), ("S1", "T2")):   # two pods: a random one could repeat (1 in 240)
        store = OrgStore(tmp_path / f"{alias}.sqlite3")
        store.initialise(_seed(alias), pod=pod)
        stores[alias] = store
    app = SandboxApp(stores, instance_url="https://127.0.0.1:8443")
    app.state["bulk_synchronous"] = True
    yield Org(app, stores["source"]), Org(app, stores["other"])
    for store in stores.values():
        store.close()


@pytest.fixture
def org(orgs: tuple[Org, Org]) -> Org:
    return orgs[0]


def _live(store: OrgStore, obj: str) -> list[dict[str, Any]]:
    return [r for r in store.rows(obj) if not r.get("IsDeleted")]


def _by(store: OrgStore, obj: str, field: str, value: Any) -> dict[str, Any]:
    return next(r for r in _live(store, obj) if r.get(field) == value)


# ====================================================================== ingest: job shape and validation
def test_create_ingest_job_answers_the_documented_job_json(org: Org) -> None:
    job = org.new_job("contact", "insert")
    assert job["id"].startswith("750") and len(job["id"]) == 18
    assert job["object"] == "Contact"          # the schema's spelling
    assert job["operation"] == "insert"
    assert job["state"] == "Open"
    assert job["jobType"] == "V2Ingest"
    assert job["contentType"] == "CSV"
    assert job["concurrencyMode"] == "Parallel"
    assert job["apiVersion"] == 59.0
    assert job["createdById"] == org.store.api_user_id
    assert job["contentUrl"] == f"services/data/v59.0/jobs/ingest/{job['id']}/batches"
    assert job["lineEnding"] == "LF" and job["columnDelimiter"] == "COMMA"
    assert job["createdDate"].endswith("+0000") and job["systemModstamp"]
    listed = org.get("/ingest").json
    assert listed["done"] is True and listed["nextRecordsUrl"] is None
    assert [j["id"] for j in listed["records"]] == [job["id"]]


@pytest.mark.parametrize("body, code, fragment", [
    ({"object": "Nope__c", "operation": "insert"}, "INVALIDJOB", "Unable to find object: Nope__c"),
    ({"object": "Contact", "operation": "merge"}, "INVALIDJOB", "Invalid value for operation: merge"),
    ({"object": "Contact", "operation": "query"}, "INVALIDJOB", "jobs/query"),
    ({"object": "Contact", "operation": "upsert"}, "INVALIDJOB", "External ID was blank"),
    ({"object": "Contact", "operation": "upsert", "externalIdFieldName": "FirstName"}, "INVALIDJOB",
     "does not match an External ID"),
    ({"object": "Contact", "operation": "insert", "columnDelimiter": "STAR"}, "INVALIDJOB", "columnDelimiter"),
    ({"object": "Contact", "operation": "insert", "lineEnding": "CR"}, "INVALIDJOB", "lineEnding"),
    ({"object": "Contact", "operation": "insert", "contentType": "JSON"}, "INVALIDJOB", "CSV"),
    ({"operation": "insert"}, "INVALIDJOB", "object"),
])
def test_create_ingest_job_rejects_bad_requests(org: Org, body: dict[str, Any], code: str, fragment: str) -> None:
    resp = org.post("/ingest", body)
    assert resp.status_code == 400
    assert resp.json[0]["errorCode"] == code
    assert fragment in resp.json[0]["message"]
    assert org.get("/ingest").json["records"] == []


def test_bulk_routes_need_a_valid_token(org: Org) -> None:
    resp = org.client.post(f"{BASE}/ingest", json={"object": "Contact", "operation": "insert"},
                           headers={"Authorization": "Bearer nope"})
    assert resp.status_code == 401
    assert resp.json[0]["errorCode"] == "INVALID_SESSION_ID"


# ====================================================================== ingest: DML
def test_insert_writes_rows_through_the_store_and_reports_each(org: Org) -> None:
    text = ("LastName,FirstName,Email,Account.External_Id__c\n"
            "Jones,Bo,bo@x.demo,A-1\n"
            "Reject,Rick,,\n"                  # validation rule fires
            ",NoLast,,\n"                      # required field missing
            "Ghost,,,A-404\n"                  # parent external id unknown
            "Plain,,#N/A,\n")
    info = org.run_job("Contact", "insert", text)
    assert info["state"] == "JobComplete"
    assert info["numberRecordsProcessed"] == 5
    assert info["numberRecordsFailed"] == 3
    assert info["retries"] == 0 and info["apexProcessingTime"] == 0
    assert isinstance(info["totalProcessingTime"], int) and "errorMessage" not in info

    ok = org.results(info["id"], "successfulResults")
    assert [r["LastName"] for r in ok] == ["Jones", "Plain"]
    assert all(r["sf__Created"] == "true" for r in ok)
    jones = org.store.get("Contact", ok[0]["sf__Id"])
    assert jones is not None and jones["Email"] == "bo@x.demo"
    assert jones["AccountId"] == _by(org.store, "Account", "Name", "Acme")["Id"]
    plain = org.store.get("Contact", ok[1]["sf__Id"])
    assert plain is not None and plain.get("FirstName") is None and plain.get("Email") is None
    assert "Email" in plain   # #N/A set it (to null); the empty FirstName cell left it unset

    failed = {r["LastName"]: r for r in org.results(info["id"], "failedResults")}
    assert list(failed) == ["Reject", "", "Ghost"]
    assert failed["Reject"]["sf__Error"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION:Rejected name:LastName --"
    assert failed[""]["sf__Error"] == ("REQUIRED_FIELD_MISSING:Required fields are missing: [LastName]:"
                                       "LastName --")
    assert failed["Ghost"]["sf__Error"].startswith("INVALID_FIELD:Foreign key external ID: A-404 not found")
    assert failed["Ghost"]["sf__Error"].endswith(":--")
    assert all(r["sf__Id"] == "" for r in failed.values())
    assert failed["Reject"]["FirstName"] == "Rick"      # the original columns come back
    assert org.results(info["id"], "unprocessedrecords") == []
    assert len(_live(org.store, "Contact")) == 4


def test_result_csv_headers_are_quoted_in_the_documented_order(org: Org) -> None:
    info = org.run_job("Contact", "insert", "LastName\nA\n\n")   # a blank line is no row
    assert info["numberRecordsProcessed"] == 1
    ok = org.get(f"/ingest/{info['id']}/successfulResults").get_data(as_text=True)
    assert ok.splitlines()[0] == '"sf__Id","sf__Created","LastName"'
    failed = org.get(f"/ingest/{info['id']}/failedResults").get_data(as_text=True)
    assert failed == '"sf__Id","sf__Error","LastName"\n'
    unprocessed = org.get(f"/ingest/{info['id']}/unprocessedRecords").get_data(as_text=True)
    assert unprocessed == '"LastName"\n'


def test_update_leaves_empty_cells_alone_and_nulls_na(org: Org) -> None:
    smith = _by(org.store, "Contact", "LastName", "Smith")
    orphan = _by(org.store, "Contact", "LastName", "Orphan")
    text = (f"Id,FirstName,Email\n"
            f"{smith['Id']},,#N/A\n"
            f"{orphan['Id']},Olive,olive@x.demo\n"
            f",Nobody,\n"
            f"003000000000000AAA,Missing,\n")
    info = org.run_job("Contact", "update", text)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (4, 2)
    after = org.store.get("Contact", smith["Id"])
    assert after is not None and after["FirstName"] == "Sam" and after["Email"] is None
    after = org.store.get("Contact", orphan["Id"])
    assert after is not None and after["FirstName"] == "Olive"
    ok = org.results(info["id"], "successfulResults")
    assert [(r["sf__Id"], r["sf__Created"]) for r in ok] == [(smith["Id"], "false"), (orphan["Id"], "false")]
    failed = org.results(info["id"], "failedResults")
    assert failed[0]["sf__Error"] == "MISSING_ARGUMENT:Id not specified in an update call:Id --"
    assert failed[1]["sf__Id"] == "003000000000000AAA"
    assert failed[1]["sf__Error"].split(":")[0] in ("INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID")


def test_upsert_by_external_id_creates_and_updates(org: Org) -> None:
    text = ("External_Id__c,Name,NumberOfEmployees,Active__c\n"
            "A-1,Acme Renamed,,0\n"
            "A-3,Initech,42,yes\n"
            ",No Key,,\n")
    info = org.run_job("Account", "upsert", text, externalIdFieldName="external_id__c")
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (3, 1)
    assert info["externalIdFieldName"] == "External_Id__c"
    ok = {r["External_Id__c"]: r for r in org.results(info["id"], "successfulResults")}
    assert ok["A-1"]["sf__Created"] == "false" and ok["A-3"]["sf__Created"] == "true"
    acme = org.store.get("Account", ok["A-1"]["sf__Id"])
    assert acme is not None and acme["Name"] == "Acme Renamed" and acme["NumberOfEmployees"] == 10
    assert acme["Active__c"] is False
    initech = org.store.get("Account", ok["A-3"]["sf__Id"])
    assert initech is not None and initech["NumberOfEmployees"] == 42 and initech["Active__c"] is True
    failed = org.results(info["id"], "failedResults")
    assert failed[0]["sf__Error"].startswith("MISSING_ARGUMENT:")


def test_upsert_on_id_inserts_rows_without_an_id(org: Org) -> None:
    smith = _by(org.store, "Contact", "LastName", "Smith")
    info = org.run_job("Contact", "upsert", f"Id,LastName\n{smith['Id']},Smythe\n,Newman\n",
                       externalIdFieldName="Id")
    assert info["numberRecordsFailed"] == 0
    created = {r["LastName"]: r["sf__Created"] for r in org.results(info["id"], "successfulResults")}
    assert created == {"Smythe": "false", "Newman": "true"}
    assert org.store.get("Contact", smith["Id"])["LastName"] == "Smythe"  # type: ignore[index]


@pytest.mark.parametrize("operation", ["delete", "hardDelete"])
def test_delete_removes_rows_of_the_job_object_only(org: Org, operation: str) -> None:
    orphan = _by(org.store, "Contact", "LastName", "Orphan")
    account = _by(org.store, "Account", "Name", "Globex")
    text = f"Id\n{orphan['Id']}\n{account['Id']}\nnot-an-id\n{orphan['Id']}\n"
    info = org.run_job("Contact", operation, text)
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (4, 3)
    assert org.store.get("Contact", orphan["Id"])["IsDeleted"] is True  # type: ignore[index]
    assert org.store.get("Account", account["Id"])["IsDeleted"] is False  # type: ignore[index]
    errors = [r["sf__Error"].split(":")[0] for r in org.results(info["id"], "failedResults")]
    assert errors == ["INVALID_CROSS_REFERENCE_KEY", "MALFORMED_ID", "ENTITY_IS_DELETED"]
    assert [r["sf__Created"] for r in org.results(info["id"], "successfulResults")] == ["false"]


def test_delete_without_an_id_column_fails_the_job(org: Org) -> None:
    info = org.run_job("Contact", "delete", "LastName\nSmith\n")
    assert info["state"] == "Failed"
    assert "Id" in info["errorMessage"]
    assert len(_live(org.store, "Contact")) == 2


def test_unknown_column_fails_the_whole_job_and_leaves_rows_unprocessed(org: Org) -> None:
    info = org.run_job("Contact", "insert", "LastName,Shoe_Size__c\nA,41\nB,42\n")
    assert info["state"] == "Failed"
    assert info["errorMessage"] == "InvalidBatch : Field name not found : Shoe_Size__c"
    assert info["numberRecordsProcessed"] == 0
    assert [r["LastName"] for r in org.results(info["id"], "unprocessedrecords")] == ["A", "B"]
    assert org.results(info["id"], "failedResults") == []
    assert len(_live(org.store, "Contact")) == 2


@pytest.mark.parametrize("text, fragment", [
    ("LastName,FirstName\nA\n", "LineNumber: 2"),
    ('LastName\n"unterminated\n', "ClientInputError"),
    ("LastName,lastname\nA,B\n", "Duplicate field name"),
    ("LastName,Account.Name\nA,Acme\n", "Field name not found : Account.Name"),
])
def test_malformed_csv_fails_the_job(org: Org, text: str, fragment: str) -> None:
    info = org.run_job("Contact", "insert", text)
    assert info["state"] == "Failed"
    assert fragment in info["errorMessage"]


def test_closing_a_job_without_data_fails_it(org: Org) -> None:
    job = org.new_job("Contact", "insert")
    assert org.patch(f"/ingest/{job['id']}", {"state": "UploadComplete"}).status_code == 200
    info = org.get(f"/ingest/{job['id']}").json
    assert info["state"] == "Failed" and "No data" in info["errorMessage"]


def test_tab_delimited_crlf_job_answers_in_the_same_format(org: Org) -> None:
    job = org.new_job("Contact", "insert", columnDelimiter="TAB", lineEnding="CRLF")
    assert (job["columnDelimiter"], job["lineEnding"]) == ("TAB", "CRLF")
    assert org.put_csv(job["id"], "LastName\tTitle__x\r\n").status_code == 201
    org.patch(f"/ingest/{job['id']}", {"state": "UploadComplete"})
    assert org.get(f"/ingest/{job['id']}").json["state"] == "Failed"   # Title__x is unknown

    job = org.new_job("Contact", "insert", columnDelimiter="TAB", lineEnding="CRLF")
    org.put_csv(job["id"], "LastName\tFirstName\r\nTabby\tT, with comma\r\n")
    org.patch(f"/ingest/{job['id']}", {"state": "UploadComplete"})
    body = org.get(f"/ingest/{job['id']}/successfulResults").get_data(as_text=True)
    lines = body.split("\r\n")
    assert lines[0] == '"sf__Id"\t"sf__Created"\t"LastName"\t"FirstName"'
    assert lines[1].endswith('"true"\t"Tabby"\t"T, with comma"')
    assert _by(org.store, "Contact", "LastName", "Tabby")["FirstName"] == "T, with comma"


def test_injected_lock_errors_fail_single_rows(org: Org) -> None:
    org.app.faults["source"].update(lock_row=1)
    info = org.run_job("Contact", "insert", "LastName\nFirst\nSecond\n")
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (2, 1)
    failed = org.results(info["id"], "failedResults")
    assert failed[0]["LastName"] == "First"
    assert failed[0]["sf__Error"].startswith("UNABLE_TO_LOCK_ROW:unable to obtain exclusive access")


def _accounts(org: Org, count: int) -> list[str]:
    with org.store.transaction():
        return [org.store.create("Account", {"Name": f"A{i}"}) for i in range(count)]


def _contacts_csv(parents: list[str]) -> str:
    return "LastName,AccountId\n" + "".join(f"C{i},{parent}\n" for i, parent in enumerate(parents))


def test_rows_whose_parent_other_internal_batches_write_under_fail_locked_naming_it(org: Org) -> None:
    """Lock contention as a busy org has it: the job's internal batches (4 rows here) run in parallel, and
    a row whose Account another batch also writes under cannot get the Account's lock."""
    accounts = _accounts(org, 4)
    org.app.faults["source"].update(lock_contention=1.0, bulk_batch_rows=4)
    mixed = org.run_job("Contact", "insert", _contacts_csv(accounts * 2))       # each Account in both batches
    assert (mixed["numberRecordsProcessed"], mixed["numberRecordsFailed"]) == (8, 8)
    failed = org.results(mixed["id"], "failedResults")
    assert {row["sf__Error"] for row in failed if row["LastName"] == "C0"} == {
        f"UNABLE_TO_LOCK_ROW:unable to obtain exclusive access to this record or 1 records: {accounts[0]}:--"}
    grouped = org.run_job("Contact", "insert", _contacts_csv(sorted(accounts * 2)))   # each in one batch
    assert (grouped["numberRecordsProcessed"], grouped["numberRecordsFailed"]) == (8, 0)
    straddling = org.run_job("Contact", "insert", _contacts_csv([accounts[0]] * 3 + [accounts[1]] * 3))
    assert straddling["numberRecordsFailed"] == 3            # only accounts[1]'s rows span both batches
    assert {row["AccountId"] for row in org.results(straddling["id"], "failedResults")} == {accounts[1]}
    assert sum(1 for row in _live(org.store, "Contact") if row.get("AccountId") in accounts) == 8 + 3


def test_lock_contention_at_a_rate_fails_a_share_of_the_contended_rows_only(org: Org) -> None:
    accounts = _accounts(org, 5)
    org.app.faults["source"].update(lock_contention=0.5, bulk_batch_rows=20, seed=3)
    parents = accounts[:4] * 10 + [accounts[4]] * 10           # accounts[4]'s rows are all in the last batch
    info = org.run_job("Contact", "insert", _contacts_csv(parents))
    failed = {row["AccountId"] for row in org.results(info["id"], "failedResults")}
    assert 0 < info["numberRecordsFailed"] < 40 and accounts[4] not in failed
    org.app.faults["source"].update(lock_contention=0.0)
    assert org.run_job("Contact", "insert", _contacts_csv(parents))["numberRecordsFailed"] == 0


def test_format_error_matches_the_bulk_csv_layout() -> None:
    assert format_error(RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])) == \
        "INVALID_CROSS_REFERENCE_KEY:invalid cross reference id:--"
    assert format_error(RecordError("X", "m", ["A", "B"])) == "X:m:A B --"


# ====================================================================== ingest: job state machine
def test_upload_is_allowed_once_and_only_while_open(org: Org) -> None:
    job = org.new_job("Contact", "insert")
    assert org.put_csv(job["id"], "LastName\nA\n").status_code == 201
    second = org.put_csv(job["id"], "LastName\nB\n")
    assert second.status_code == 400 and "multiple contents" in second.json[0]["message"]
    closed = org.patch(f"/ingest/{job['id']}", {"state": "UploadComplete"})
    assert closed.json["state"] == "UploadComplete"
    late = org.put_csv(job["id"], "LastName\nC\n")
    assert late.status_code == 400 and late.json[0]["errorCode"] == "INVALIDJOBSTATE"
    again = org.patch(f"/ingest/{job['id']}", {"state": "UploadComplete"})
    assert again.status_code == 400 and again.json[0]["errorCode"] == "INVALIDJOBSTATE"
    bogus = org.patch(f"/ingest/{job['id']}", {"state": "InProgress"})
    assert bogus.status_code == 400 and bogus.json[0]["errorCode"] == "INVALIDJOBSTATE"
    aborted = org.patch(f"/ingest/{job['id']}", {"state": "Aborted"})
    assert aborted.status_code == 400        # already JobComplete


def test_abort_keeps_every_row_unprocessed_and_delete_forgets_the_job(org: Org) -> None:
    job = org.new_job("Contact", "insert")
    assert org.delete(f"/ingest/{job['id']}").status_code == 400      # Open jobs cannot be deleted
    org.put_csv(job["id"], "LastName\nA\nB\n")
    aborted = org.patch(f"/ingest/{job['id']}", {"state": "Aborted"})
    assert aborted.status_code == 200 and aborted.json["state"] == "Aborted"
    assert org.patch(f"/ingest/{job['id']}", {"state": "UploadComplete"}).status_code == 400
    info = org.get(f"/ingest/{job['id']}").json
    assert info["state"] == "Aborted" and info["numberRecordsProcessed"] == 0
    assert [r["LastName"] for r in org.results(job["id"], "unprocessedRecords")] == ["A", "B"]
    assert len(_live(org.store, "Contact")) == 2
    deleted = org.delete(f"/ingest/{job['id']}")
    assert deleted.status_code == 204
    gone = org.get(f"/ingest/{job['id']}")
    assert gone.status_code == 404 and gone.json[0]["errorCode"] == "NOT_FOUND"


def test_jobs_belong_to_their_org(orgs: tuple[Org, Org]) -> None:
    source, other = orgs
    job = source.new_job("Contact", "insert")
    assert other.get(f"/ingest/{job['id']}").status_code == 404
    assert other.put_csv(job["id"], "LastName\nX\n").status_code == 404
    assert other.get("/ingest").json["records"] == []
    qjob = source.post("/query", {"operation": "query", "query": "SELECT Id FROM Account"}).json
    assert other.get(f"/query/{qjob['id']}/results").status_code == 404
    assert other.get("/query").json["records"] == []
    assert source.get(f"/ingest/{job['id']}").status_code == 200
    assert source.get("/ingest/750000000000000AAA").status_code == 404
    assert source.get(f"/query/{job['id']}").status_code == 404      # an ingest id is no query job


def test_without_the_synchronous_knob_jobs_finish_in_the_background(org: Org) -> None:
    org.app.state.pop("bulk_synchronous")
    job = org.new_job("Contact", "insert")
    org.put_csv(job["id"], "LastName\n" + "".join(f"Row{i}\n" for i in range(450)))
    reply = org.patch(f"/ingest/{job['id']}", {"state": "UploadComplete"})
    assert reply.json["state"] == "UploadComplete"
    deadline = time.monotonic() + 30
    info = org.get(f"/ingest/{job['id']}").json
    while info["state"] in ("UploadComplete", "InProgress") and time.monotonic() < deadline:
        time.sleep(0.02)
        info = org.get(f"/ingest/{job['id']}").json
    assert info["state"] == "JobComplete"
    assert (info["numberRecordsProcessed"], info["numberRecordsFailed"]) == (450, 0)
    assert len(_live(org.store, "Contact")) == 452


# ====================================================================== query jobs
def test_query_job_flattens_relationships_and_formats_values(org: Org) -> None:
    created = org.post("/query", {"operation": "query", "query": "SELECT Id, lastname, Account.Name, "
                                  "account.annualrevenue, Account.Active__c FROM Contact ORDER BY LastName"},
                       headers={"Accept": "text/csv"})
    assert created.status_code == 200 and created.mimetype == "application/json"
    job = created.json
    assert job["id"].startswith("750") and job["state"] == "UploadComplete"
    assert job["jobType"] == "V2Query" and job["operation"] == "query" and job["object"] == "Contact"
    info = org.get(f"/query/{job['id']}").json
    assert info["state"] == "JobComplete" and info["numberRecordsProcessed"] == 2
    resp = org.get(f"/query/{job['id']}/results")
    assert resp.headers["Sforce-NumberOfRecords"] == "2"
    assert resp.headers["Sforce-Locator"] == "null"
    assert resp.headers["Content-Type"].startswith("text/csv")
    text = resp.get_data(as_text=True)
    assert text.splitlines()[0] == '"Id","LastName","Account.Name","Account.AnnualRevenue","Account.Active__c"'
    rows = list(csv.DictReader(io.StringIO(text)))
    assert rows[0]["LastName"] == "Orphan" and rows[0]["Account.Name"] == ""
    assert rows[1] == {"Id": _by(org.store, "Contact", "LastName", "Smith")["Id"], "LastName": "Smith",
                       "Account.Name": "Acme", "Account.AnnualRevenue": "5000", "Account.Active__c": "true"}
    assert [j["id"] for j in org.get("/query").json["records"]] == [job["id"]]


def test_query_results_page_with_locators(org: Org) -> None:
    org.run_job("Account", "insert", "Name\n" + "".join(f"Bulk {i:02d}\n" for i in range(10)))
    job = org.post("/query", {"operation": "query", "query": "SELECT Name FROM Account ORDER BY Name"}).json
    names: list[str] = []
    locator = ""
    pages = 0
    while True:
        resp = org.get(f"/query/{job['id']}/results", query_string={"maxRecords": 5, "locator": locator}
                       if locator else {"maxRecords": 5})
        rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
        assert int(resp.headers["Sforce-NumberOfRecords"]) == len(rows)
        names += [r["Name"] for r in rows]
        pages += 1
        locator = resp.headers["Sforce-Locator"]
        if locator == "null":
            break
    assert pages == 3
    assert names == sorted(names) and len(names) == 12
    bad = org.get(f"/query/{job['id']}/results", query_string={"locator": "garbage!"})
    assert bad.status_code == 400
    bad = org.get(f"/query/{job['id']}/results", query_string={"maxRecords": "0"})
    assert bad.status_code == 400


def test_query_all_includes_deleted_rows(org: Org) -> None:
    orphan = _by(org.store, "Contact", "LastName", "Orphan")
    org.run_job("Contact", "delete", f"Id\n{orphan['Id']}\n")
    _, live = org.query_csv("SELECT Id, IsDeleted FROM Contact")
    _, every = org.query_csv("SELECT Id, IsDeleted FROM Contact", operation="queryAll")
    assert orphan["Id"] not in [r["Id"] for r in live]
    assert {r["Id"]: r["IsDeleted"] for r in every}[orphan["Id"]] == "true"


@pytest.mark.parametrize("body, code", [
    ({"operation": "query", "query": "SELECT Id, Nope FROM Contact"}, "INVALID_FIELD"),
    ({"operation": "query", "query": "SELECT Id FROM Nope__c"}, "INVALID_TYPE"),
    ({"operation": "query", "query": "SELEC Id FROM Contact"}, "MALFORMED_QUERY"),
    ({"operation": "query", "query": "SELECT COUNT() FROM Contact"}, "API_ERROR"),
    ({"operation": "query", "query": "SELECT Id FROM Contact LIMIT 1 OFFSET 1"}, "API_ERROR"),
    ({"operation": "insert", "query": "SELECT Id FROM Contact"}, "INVALIDJOB"),
    ({"operation": "query"}, "INVALIDJOB"),
])
def test_bad_query_jobs_answer_400_with_an_error_envelope(org: Org, body: dict[str, Any], code: str) -> None:
    resp = org.post("/query", body)
    assert resp.status_code == 400
    assert resp.json[0]["errorCode"] == code and resp.json[0]["message"]
    assert org.get("/query").json["records"] == []


def test_query_job_abort_and_delete(org: Org) -> None:
    job = org.post("/query", {"operation": "query", "query": "SELECT Id FROM Account"}).json
    assert org.patch(f"/query/{job['id']}", {"state": "Aborted"}).status_code == 400   # already complete
    assert org.delete(f"/query/{job['id']}").status_code == 204
    assert org.get(f"/query/{job['id']}").status_code == 404


# ====================================================================== end to end: simple-salesforce over HTTPS
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from isyncsf_desktop.sandbox.server import SandboxServer

    with SandboxServer(tmp_path_factory.mktemp("bulk-e2e"), orgs={"source": "demo-source"}) as srv:
        yield srv


@pytest.fixture(scope="module")
def sf(server: Any) -> Any:
    import requests
    from simple_salesforce import Salesforce

    session = requests.Session()
    session.verify = str(server.ca_file)
    session.trust_env = False
    return Salesforce(instance_url=server.instance_url, session_id=server.token("source"), session=session)


def test_e2e_insert_from_a_csv_file_and_read_the_results(sf: Any, tmp_path: Path) -> None:
    path = tmp_path / "contacts.csv"
    path.write_text("LastName,FirstName,Email\nBulkOne,Ann,ann@bulk.demo\n,NoLast,\nBulkTwo,Ben,not-an-email\n"
                    "BulkThree,Cy,\n", encoding="utf-8")
    [result] = sf.bulk2.Contact.insert(csv_file=str(path), wait=0.05)
    assert result["numberRecordsProcessed"] == 4
    assert result["numberRecordsFailed"] == 2
    assert result["numberRecordsTotal"] == 4
    every = sf.bulk2.Contact.get_all_ingest_records(result["job_id"])
    assert sorted(r["LastName"] for r in every["successfulRecords"]) == ["BulkOne", "BulkThree"]
    errors = sorted(r["sf__Error"].split(":")[0] for r in every["failedRecords"])
    assert errors == ["INVALID_EMAIL_ADDRESS", "REQUIRED_FIELD_MISSING"]
    assert every["unprocessedRecords"] == []
    failed_csv = sf.bulk2.Contact.get_failed_records(result["job_id"])
    assert failed_csv.startswith('"sf__Id","sf__Error","LastName","FirstName","Email"')
    ok_id = every["successfulRecords"][0]["sf__Id"]
    assert sf.Contact.get(ok_id)["LastName"] in ("BulkOne", "BulkThree")


def test_e2e_upsert_update_and_delete(sf: Any) -> None:
    [up] = sf.bulk2.Account.upsert(records=[{"External_Id__c": "BULK-1", "Name": "Bulk Upsert One"},
                                            {"External_Id__c": "BULK-2", "Name": "Bulk Upsert Two"}],
                                   external_id_field="External_Id__c", wait=0.05)
    assert (up["numberRecordsProcessed"], up["numberRecordsFailed"]) == (2, 0)
    ok = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(up["job_id"]))))
    ids = {r["External_Id__c"]: r["sf__Id"] for r in ok}
    assert {r["sf__Created"] for r in ok} == {"true"}
    [again] = sf.bulk2.Account.upsert(records=[{"External_Id__c": "BULK-1", "Name": "Bulk Upsert Renamed"}],
                                      external_id_field="External_Id__c", wait=0.05)
    redo = list(csv.DictReader(io.StringIO(sf.bulk2.Account.get_successful_records(again["job_id"]))))
    assert redo[0]["sf__Created"] == "false" and redo[0]["sf__Id"] == ids["BULK-1"]
    [upd] = sf.bulk2.Account.update(records=[{"Id": ids["BULK-2"], "Description": "updated in bulk"}], wait=0.05)
    assert upd["numberRecordsFailed"] == 0
    assert sf.Account.get(ids["BULK-2"])["Description"] == "updated in bulk"
    [gone] = sf.bulk2.Account.delete(records=[{"Id": ids["BULK-1"]}, {"Id": ids["BULK-2"]}], wait=0.05)
    assert (gone["numberRecordsProcessed"], gone["numberRecordsFailed"]) == (2, 0)
    left = sf.query("SELECT Id FROM Account WHERE External_Id__c IN ('BULK-1', 'BULK-2')")
    assert left["totalSize"] == 0


def test_e2e_query_pages_through_every_record(sf: Any) -> None:
    expected = sf.query("SELECT COUNT() FROM Contact")["totalSize"]
    pages = list(sf.bulk2.Contact.query("SELECT Id, Name, Account.Name FROM Contact", max_records=250,
                                        wait=0.05))
    rows = [row for page in pages for row in csv.DictReader(io.StringIO(page))]
    assert len(pages) == -(-expected // 250)
    assert len(rows) == expected and len({r["Id"] for r in rows}) == expected
    assert list(rows[0]) == ["Id", "Name", "Account.Name"]
    assert any(r["Account.Name"] for r in rows)


def test_e2e_errors_surface_as_client_exceptions(sf: Any) -> None:
    from simple_salesforce.exceptions import SalesforceMalformedRequest, SalesforceOperationError

    with pytest.raises(SalesforceMalformedRequest) as bad_query:
        list(sf.bulk2.Contact.query("SELECT Id, Nope__c FROM Contact", wait=0.05))
    assert bad_query.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceOperationError, match="Field name not found : Nope__c"):
        sf.bulk2.Contact.insert(records=[{"LastName": "X", "Nope__c": "y"}], wait=0.05)
