"""The sandbox org through the real simple-salesforce client over HTTPS: REST, query, Collections,
limits, Tooling, error codes, org behaviour, faults and persistence."""

from __future__ import annotations

import json
import re
import urllib.parse

import pytest
import requests
from helpers import client_for
from simple_salesforce.exceptions import (
    SalesforceExpiredSession,
    SalesforceGeneralError,
    SalesforceMalformedRequest,
    SalesforceRefusedRequest,
    SalesforceResourceNotFound,
)

from isyncsf_desktop.sandbox.ids import is_valid_id


@pytest.fixture
def empty_org(sandbox_factory):
    server = sandbox_factory({"qa": "empty"})
    return server, client_for(server, "qa")


def _collection(sf, method: str, records: list[dict], all_or_none: bool = False) -> list[dict]:
    return sf.restful("composite/sobjects", method=method, json={"allOrNone": all_or_none, "records": records})


def _accounts(n: int, start: int = 0, **extra) -> list[dict]:
    return [{"attributes": {"type": "Account"}, "Name": f"Acct {i}", "External_Id__c": f"EXT-{i:05d}", **extra}
            for i in range(start, start + n)]


# ---------------------------------------------------------------------------- discovery
def test_versions_and_resources(demo_server):
    sf = client_for(demo_server, "source")
    session = sf.session
    versions = session.get(f"{demo_server.instance_url}/services/data/", timeout=10).json()
    numbers = [v["version"] for v in versions]
    assert numbers[0] == "31.0" and numbers[-1] == "62.0" and "59.0" in numbers and len(numbers) == 32
    assert all(v["url"] == f"/services/data/v{v['version']}" for v in versions)
    labels = {v["version"]: v["label"] for v in versions}
    assert (labels["31.0"], labels["47.0"], labels["59.0"], labels["62.0"]) == (
        "Summer '14", "Winter '20", "Winter '24", "Winter '25")
    resources = sf.restful("")
    assert resources["sobjects"] == "/services/data/v59.0/sobjects"
    assert {"query", "queryAll", "search", "limits", "composite", "tooling"} <= set(resources)
    store = demo_server.store("source")
    assert resources["identity"] == f"{demo_server.instance_url}/id/{store.org_id}/{store.api_user_id}"
    me = session.get(resources["identity"], headers={"Authorization": f"Bearer {demo_server.token('source')}"},
                     timeout=10).json()
    assert me["user_id"] == store.api_user_id and me["organization_id"] == store.org_id
    old = session.get(f"{demo_server.instance_url}/services/data/v30.0/sobjects",
                      headers={"Authorization": f"Bearer {demo_server.token('source')}"}, timeout=10)
    assert old.status_code == 404 and old.json()[0]["errorCode"] == "NOT_FOUND"


def test_every_version_from_31_to_62_is_served(demo_server):
    from isyncsf_desktop.salesforce.connection import connect

    for major in range(31, 63):
        sf = connect(demo_server.instance_url, demo_server.token("source"), ca_file=demo_server.ca_file,
                     version=f"{major}.0")
        assert sf.Account.describe()["name"] == "Account"


def test_describe_global_lists_the_demo_schema(demo_server):
    sf = client_for(demo_server, "source")
    described = sf.describe()
    names = {o["name"]: o for o in described["sobjects"]}
    for name in ("Organization", "User", "RecordType", "Account", "Contact", "Opportunity", "Case",
                 "Project__c", "Project_Task__c"):
        assert name in names
    assert names["Account"]["keyPrefix"] == "001" and names["Contact"]["keyPrefix"] == "003"
    assert names["Project__c"]["custom"] is True
    assert described["maxBatchSize"] == 200


def test_describe_account_relationships_and_flags(demo_server):
    sf = client_for(demo_server, "source")
    account = sf.Account.describe()
    fields = {f["name"]: f for f in account["fields"]}
    assert fields["Id"]["type"] == "id" and fields["Id"]["createable"] is False
    assert fields["ParentId"]["referenceTo"] == ["Account"] and fields["ParentId"]["relationshipName"] == "Parent"
    assert fields["Primary_Contact__c"]["referenceTo"] == ["Contact"]
    assert fields["External_Id__c"]["externalId"] is True and fields["External_Id__c"]["idLookup"] is True
    assert fields["Name"]["nillable"] is False and fields["Name"]["nameField"] is True
    assert fields["OwnerId"]["defaultedOnCreate"] is True and fields["OwnerId"]["referenceTo"] == ["User"]
    assert fields["Industry"]["type"] == "picklist" and fields["Industry"]["picklistValues"]
    children = {(c["childSObject"], c["field"]): c for c in account["childRelationships"]}
    assert ("Contact", "AccountId") in children and ("Account", "ParentId") in children
    assert children[("Account", "ParentId")]["relationshipName"] == "ChildAccounts"
    developer_names = {rt["developerName"] for rt in account["recordTypeInfos"]}
    assert "Master" in developer_names and len(developer_names) >= 2
    task = {f["name"]: f for f in sf.Project_Task__c.describe()["fields"]}
    assert task["Project__c"]["nillable"] is False and task["Project__c"]["updateable"] is False
    project_children = {c["childSObject"]: c for c in sf.Project__c.describe()["childRelationships"]}
    assert project_children["Project_Task__c"]["cascadeDelete"] is True


def test_target_differs_in_fields_and_permissions(demo_server):
    source = {f["name"]: f for f in client_for(demo_server, "source").Account.describe()["fields"]}
    target = {f["name"]: f for f in client_for(demo_server, "target").Account.describe()["fields"]}
    assert "Customer_Tier__c" in source and "Customer_Tier__c" not in target
    assert "acme__Customer_Tier__c" in target and target["acme__Customer_Tier__c"]["label"] == "Customer Tier"
    assert target["Region__c"]["nillable"] is False and target["Region__c"]["defaultedOnCreate"] is True
    assert source["AnnualRevenue"]["updateable"] is True
    assert target["AnnualRevenue"]["createable"] is False and target["AnnualRevenue"]["updateable"] is False


def test_unknown_sobject_is_404(demo_server):
    sf = client_for(demo_server, "source")
    with pytest.raises(SalesforceResourceNotFound) as info:
        sf.restful("sobjects/Nope__c/describe")
    assert info.value.content[0]["errorCode"] == "NOT_FOUND"


# ---------------------------------------------------------------------------- auth
def test_bad_token_is_401_invalid_session(demo_server):
    from isyncsf_desktop.salesforce.connection import connect

    sf = connect(demo_server.instance_url, "00Dbogus!token", ca_file=demo_server.ca_file)
    with pytest.raises(SalesforceExpiredSession) as info:
        sf.describe()
    assert info.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]


def test_token_selects_the_org(demo_server):
    source = client_for(demo_server, "source").query("SELECT Id, Name, IsSandbox FROM Organization")
    target = client_for(demo_server, "target").query("SELECT Id, Name, IsSandbox FROM Organization")
    assert source["records"][0]["Id"] == demo_server.store("source").org_id
    assert target["records"][0]["Id"] == demo_server.store("target").org_id
    assert source["records"][0]["IsSandbox"] is False and target["records"][0]["IsSandbox"] is True


# ---------------------------------------------------------------------------- single-record CRUD
def test_crud_round_trip_with_15_char_ids(empty_org):
    _, sf = empty_org
    created = sf.Account.create({"Name": "Acme", "Phone": "555-0100", "AnnualRevenue": 1200000})
    assert created["success"] is True and created["errors"] == []
    record_id = created["id"]
    assert len(record_id) == 18 and record_id.startswith("001") and is_valid_id(record_id)
    fetched = sf.Account.get(record_id[:15])
    assert fetched["Id"] == record_id and fetched["Name"] == "Acme" and fetched["AnnualRevenue"] == 1200000
    assert fetched["attributes"] == {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{record_id}"}
    assert fetched["CreatedDate"].endswith("+0000") and fetched["SystemModstamp"] == fetched["CreatedDate"]
    assert fetched["OwnerId"] == sf.query("SELECT Id FROM User WHERE Id = '%s'" % fetched["OwnerId"])["records"][0]["Id"]
    assert sf.Account.update(record_id, {"Phone": "555-0199"}) == 204
    after = sf.Account.get(record_id)
    assert after["Phone"] == "555-0199" and after["LastModifiedDate"] >= fetched["LastModifiedDate"]
    assert sf.Account.delete(record_id) == 204
    with pytest.raises(SalesforceResourceNotFound):
        sf.Account.get(record_id)
    deleted = sf.query_all(f"SELECT Id, IsDeleted FROM Account WHERE Id = '{record_id}'", include_deleted=True)
    assert deleted["records"][0]["IsDeleted"] is True
    assert sf.query(f"SELECT COUNT() FROM Account WHERE Id = '{record_id}'")["totalSize"] == 0


def test_upsert_by_external_id(empty_org):
    _, sf = empty_org
    assert sf.Account.upsert("External_Id__c/A-1", {"Name": "First"}) == 201
    assert sf.Account.upsert("External_Id__c/A-1", {"Name": "Renamed"}) in (200, 204)
    found = sf.Account.get_by_custom_id("External_Id__c", "A-1")
    assert found["Name"] == "Renamed"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


@pytest.mark.parametrize(
    ("payload", "code", "fields"),
    [
        ({"Phone": "1"}, "REQUIRED_FIELD_MISSING", ["Name"]),
        ({"Name": "x", "Bogus__c": 1}, "INVALID_FIELD", ["Bogus__c"]),
        ({"Name": "x", "AnnualRevenue": "lots"}, "INVALID_TYPE_ON_FIELD_IN_RECORD", ["AnnualRevenue"]),
        ({"Name": "x" * 256}, "STRING_TOO_LONG", ["Name"]),
        ({"Name": "x", "ParentId": "not-an-id"}, "MALFORMED_ID", ["ParentId"]),
        ({"Name": "x", "ParentId": "001000000000000AAA"}, "INVALID_CROSS_REFERENCE_KEY", ["ParentId"]),
        ({"Name": "x", "CreatedDate": "2020-01-01T00:00:00Z"}, "INVALID_FIELD_FOR_INSERT_UPDATE", ["CreatedDate"]),
    ],
)
def test_create_errors_carry_salesforce_codes(empty_org, payload, code, fields):
    _, sf = empty_org
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.create(payload)
    error = info.value.content[0]
    assert error["errorCode"] == code
    assert error["fields"] == fields
    assert error["message"]


def test_reference_to_a_record_of_the_wrong_type(empty_org):
    _, sf = empty_org
    account = sf.Account.create({"Name": "Parent"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Contact.create({"LastName": "Doe", "ReportsToId": account})
    assert info.value.content[0]["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert "id value of incorrect type" in info.value.content[0]["message"]


def test_duplicate_external_id_is_refused(empty_org):
    _, sf = empty_org
    first = sf.Account.create({"Name": "One", "External_Id__c": "DUP-1"})["id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.create({"Name": "Two", "External_Id__c": "dup-1"})
    error = info.value.content[0]
    assert error["errorCode"] == "DUPLICATE_VALUE"
    assert first[:15] in error["message"] and error["fields"] == ["External_Id__c"]


def test_non_updateable_field_on_update(demo_server):
    sf = client_for(demo_server, "target")
    account = sf.query("SELECT Id FROM Account LIMIT 1")["records"][0]["Id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Account.update(account, {"AnnualRevenue": 5})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert info.value.content[0]["fields"] == ["AnnualRevenue"]


def test_master_detail_cascade_and_lookup_clearing(empty_org):
    _, sf = empty_org
    project = sf.Project__c.create({"Name": "Roll-out"})["id"]
    task_a = sf.Project_Task__c.create({"Name": "A", "Project__c": project})["id"]
    task_b = sf.Project_Task__c.create({"Name": "B", "Project__c": project, "Depends_On__c": task_a})["id"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Project_Task__c.create({"Name": "orphan"})
    assert info.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    parent = sf.Account.create({"Name": "Parent"})["id"]
    child = sf.Account.create({"Name": "Child", "ParentId": parent})["id"]
    sf.Account.delete(parent)
    assert sf.Account.get(child)["ParentId"] is None
    sf.Project__c.delete(project)
    rows = sf.query_all("SELECT Id, IsDeleted FROM Project_Task__c", include_deleted=True)["records"]
    assert {r["Id"]: r["IsDeleted"] for r in rows} == {task_a: True, task_b: True}
    assert sf.query("SELECT COUNT() FROM Project_Task__c")["totalSize"] == 0


# ---------------------------------------------------------------------------- query
def test_query_with_parent_paths_and_nested_nulls(demo_server):
    sf = client_for(demo_server, "source")
    result = sf.query("SELECT Id, Name, Account.Name, Account.Owner.Username, ReportsTo.LastName FROM Contact "
                      "WHERE Account.Name != null ORDER BY Name LIMIT 5")
    assert result["totalSize"] == 5 and result["done"] is True
    record = result["records"][0]
    assert record["Account"]["attributes"]["type"] == "Account"
    assert re.fullmatch(r"[a-z.]+@acme\.demo\.source[a-z0-9]{4}", record["Account"]["Owner"]["Username"])
    assert "ReportsTo" in record
    orphans = sf.query("SELECT Id, ReportsTo.LastName FROM Contact WHERE ReportsToId = null LIMIT 1")["records"]
    assert orphans[0]["ReportsTo"] is None


def test_query_paging_over_5000_records(empty_org):
    _, sf = empty_org
    for start in range(0, 5000, 200):
        results = _collection(sf, "POST", _accounts(200, start))
        assert all(r["success"] for r in results)
    first = sf.query("SELECT Id, External_Id__c FROM Account ORDER BY External_Id__c")
    assert first["totalSize"] == 5000 and first["done"] is False and len(first["records"]) == 2000
    assert first["nextRecordsUrl"].startswith("/services/data/v59.0/query/")
    every = list(sf.query_all_iter("SELECT Id, External_Id__c FROM Account ORDER BY External_Id__c"))
    assert len(every) == 5000
    assert [r["External_Id__c"] for r in every] == [f"EXT-{i:05d}" for i in range(5000)]
    assert len({r["Id"] for r in every}) == 5000
    assert sf.query("SELECT COUNT() FROM Account WHERE External_Id__c LIKE 'EXT-04%'") == \
        {"totalSize": 1000, "done": True, "records": []}


def test_query_errors_use_the_envelope(demo_server):
    sf = client_for(demo_server, "source")
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FROM Nope__c")
    assert info.value.content[0]["errorCode"] == "INVALID_TYPE"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Bogus FROM Account")
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"
    assert "No such column 'Bogus' on entity 'Account'" in info.value.content[0]["message"]
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT Id FROM Account GROUP BY Name")
    assert info.value.content[0]["errorCode"] == "MALFORMED_QUERY"


# ---------------------------------------------------------------------------- Collections
def test_collections_create_update_upsert_delete(empty_org):
    _, sf = empty_org
    created = _collection(sf, "POST", _accounts(3) + [{"attributes": {"type": "Account"}, "Phone": "1"}])
    assert [r["success"] for r in created] == [True, True, True, False]
    assert created[3]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    ids = [r["id"] for r in created[:3]]
    updated = _collection(sf, "PATCH", [{"attributes": {"type": "Account"}, "id": ids[0], "Phone": "42"},
                                        {"attributes": {"type": "Account"}, "id": ids[1], "Bogus": 1}])
    assert updated[0] == {"id": ids[0], "success": True, "errors": []}
    assert updated[1]["errors"][0]["statusCode"] == "INVALID_FIELD"
    upserted = sf.restful("composite/sobjects/Account/External_Id__c", method="PATCH", json={
        "allOrNone": False, "records": [
            {"attributes": {"type": "Account"}, "External_Id__c": "EXT-00000", "Name": "Changed"},
            {"attributes": {"type": "Account"}, "External_Id__c": "NEW-1", "Name": "New"}]})
    assert [(r["success"], r["created"]) for r in upserted] == [(True, False), (True, True)]
    assert upserted[0]["id"] == ids[0]
    deleted = sf.restful("composite/sobjects", method="DELETE",
                         params={"ids": ",".join(ids + ["001000000000000AAA"]), "allOrNone": "false"})
    assert [r["success"] for r in deleted] == [True, True, True, False]
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


def test_collections_all_or_none_rolls_back_everything(empty_org):
    _, sf = empty_org
    results = _collection(sf, "POST", _accounts(2) + [{"attributes": {"type": "Account"}}], all_or_none=True)
    assert [r["success"] for r in results] == [False, False, False]
    assert results[0]["errors"][0]["statusCode"] == "ALL_OR_NONE_OPERATION_ROLLED_BACK"
    assert results[2]["errors"][0]["statusCode"] == "REQUIRED_FIELD_MISSING"
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0


def test_collections_refuse_more_than_200(empty_org):
    _, sf = empty_org
    with pytest.raises(SalesforceMalformedRequest) as info:
        _collection(sf, "POST", _accounts(201))
    assert info.value.content[0]["errorCode"] == "EXCEEDED_ID_LIMIT"


# ---------------------------------------------------------------------------- limits
def test_limits_and_usage_header_count_every_call(empty_org):
    server, sf = empty_org
    sf.query("SELECT COUNT() FROM Account")
    before = sf.api_usage["api-usage"].used
    sf.Account.describe()
    sf.query("SELECT COUNT() FROM Account")
    assert sf.api_usage["api-usage"].used == before + 2
    limits = sf.limits()
    assert limits["DailyApiRequests"]["Max"] == 15000
    assert limits["DailyApiRequests"]["Remaining"] == 15000 - (before + 3)
    counts = sf.restful("limits/recordCount", params={"sObjects": "User,Account"})
    assert {c["name"]: c["count"] for c in counts["sObjects"]}["Account"] == 0
    assert {c["name"]: c["count"] for c in counts["sObjects"]}["User"] >= 1


# ---------------------------------------------------------------------------- automation
def test_validation_rule_is_enforced_and_can_be_switched_off(demo_server, sandbox_factory):
    server = sandbox_factory({"target": "demo-target"})
    sf = client_for(server, "target")
    rules = sf.toolingexecute("query/?q=" + urllib.parse.quote(
        "SELECT Id, ValidationName, Active, ErrorMessage, EntityDefinition.QualifiedApiName FROM ValidationRule "
        "WHERE EntityDefinition.QualifiedApiName = 'Contact'"))
    rule = next(r for r in rules["records"] if r["ValidationName"] == "Contact_Phone_Required")
    assert rule["Active"] is True and rule["EntityDefinition"]["QualifiedApiName"] == "Contact"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Contact.create({"LastName": "NoPhone"})
    error = info.value.content[0]
    assert error["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert error["message"] == rule["ErrorMessage"] and error["fields"] == ["Phone"]
    full = sf.toolingexecute(f"sobjects/ValidationRule/{rule['Id']}")
    assert full["FullName"] == "Contact.Contact_Phone_Required"
    metadata = dict(full["Metadata"], active=False)
    sf.toolingexecute(f"sobjects/ValidationRule/{rule['Id']}", method="PATCH",
                      data={"FullName": full["FullName"], "Metadata": metadata})
    assert sf.Contact.create({"LastName": "NoPhone"})["success"] is True


def test_tooling_triggers_and_flows(sandbox_factory):
    server = sandbox_factory({"target": "demo-target"})
    sf = client_for(server, "target")
    triggers = sf.toolingexecute("query/?q=" + urllib.parse.quote(
        "SELECT Id, Name, Status, TableEnumOrId FROM ApexTrigger"))["records"]
    assert {t["TableEnumOrId"]: t["Status"] for t in triggers}["Case"] == "Inactive"
    case_trigger = next(t for t in triggers if t["TableEnumOrId"] == "Case")
    sf.toolingexecute(f"sobjects/ApexTrigger/{case_trigger['Id']}", method="PATCH",
                      data={"Metadata": {"status": "Active", "apiVersion": 59.0}})
    assert sf.toolingexecute(f"sobjects/ApexTrigger/{case_trigger['Id']}")["Status"] == "Active"
    flows = sf.toolingexecute("query/?q=" + urllib.parse.quote(
        "SELECT Id, DeveloperName, ActiveVersionId, LatestVersionId FROM FlowDefinition"))["records"]
    assert flows, "the demo target has flows"
    inactive = next(f for f in flows if f["ActiveVersionId"] is None)
    sf.toolingexecute(f"sobjects/FlowDefinition/{inactive['Id']}", method="PATCH",
                      data={"Metadata": {"activeVersionNumber": 1}})
    again = sf.toolingexecute(f"sobjects/FlowDefinition/{inactive['Id']}")
    assert again["ActiveVersionId"] == inactive["LatestVersionId"] and again["Metadata"]["activeVersionNumber"] == 1


def test_failing_trigger_blocks_saves_until_switched_off(empty_org):
    server, sf = empty_org
    created = sf.toolingexecute("sobjects/ApexTrigger", method="POST", data={
        "Name": "NoBigDeals", "TableEnumOrId": "Opportunity",
        "Body": "trigger NoBigDeals on Opportunity (before insert) {}",
        "FailCondition": "Amount > 1000000", "FailMessage": "Deals over a million need approval"})
    opportunity = {"Name": "Big", "StageName": "Prospecting", "CloseDate": "2026-12-31", "Amount": 5000000}
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Opportunity.create(opportunity)
    assert info.value.content[0]["errorCode"] == "CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY"
    assert "NoBigDeals" in info.value.content[0]["message"]
    sf.toolingexecute(f"sobjects/ApexTrigger/{created['id']}", method="PATCH", data={"Metadata": {"status": "Inactive"}})
    assert sf.Opportunity.create(opportunity)["success"] is True


def test_triggers_cannot_be_toggled_in_production(demo_server):
    sf = client_for(demo_server, "source")
    trigger = sf.toolingexecute("query/?q=" + urllib.parse.quote("SELECT Id, Status FROM ApexTrigger"))["records"][0]
    new_status = "Inactive" if trigger["Status"] == "Active" else "Active"
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.toolingexecute(f"sobjects/ApexTrigger/{trigger['Id']}", method="PATCH",
                          data={"Metadata": {"status": new_status}})
    assert "Metadata API" in info.value.content[0]["message"]


# ---------------------------------------------------------------------------- faults
def test_fault_injection(empty_org):
    server, sf = empty_org
    server.faults("qa").update(http_503=1)
    with pytest.raises(SalesforceGeneralError) as info:
        sf.query("SELECT COUNT() FROM Account")
    assert info.value.status == 503
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    server.faults("qa").update(lock_row=1)
    results = _collection(sf, "POST", _accounts(2))
    assert results[0]["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" and results[1]["success"] is True
    server.faults("qa").update(request_limit_exceeded=1)
    with pytest.raises(SalesforceRefusedRequest) as refused:
        sf.query("SELECT COUNT() FROM Account")
    assert refused.value.content[0]["errorCode"] == "REQUEST_LIMIT_EXCEEDED"
    used = server.store("qa").api_used
    server.faults("qa").update(api_budget=used + 1)
    sf.query("SELECT COUNT() FROM Account")
    with pytest.raises(SalesforceRefusedRequest):
        sf.query("SELECT COUNT() FROM Account")
    server.faults("qa").update(api_budget=None)


def test_commit_then_drop_the_connection(empty_org):
    server, sf = empty_org
    server.faults("qa").update(drop_after_commit=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        _collection(sf, "POST", _accounts(3))
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 3


def test_faults_over_http_control_endpoint(empty_org):
    server, sf = empty_org
    url = f"{server.instance_url}/services/sandbox/faults"
    headers = {"Authorization": f"Bearer {server.token('qa')}"}
    answer = sf.session.patch(url, json={"lock_row": 2}, headers=headers, timeout=10)
    assert answer.status_code == 200 and answer.json()["lock_row"] == 2
    bad = sf.session.patch(url, json={"nonsense": 1}, headers=headers, timeout=10)
    assert bad.status_code == 400 and "nonsense" in bad.json()[0]["message"]
    # Setting the drop fault over HTTP does not trip it: only the next DML call drops.
    assert sf.session.patch(url, json={"lock_row": 0, "drop_after_commit": 1}, headers=headers,
                            timeout=10).json()["drop_after_commit"] == 1
    with pytest.raises(requests.exceptions.ConnectionError):
        _collection(sf, "POST", _accounts(1))
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1


# ---------------------------------------------------------------------------- persistence
def test_data_survives_a_restart(tmp_path):
    from isyncsf_desktop.sandbox.server import SandboxServer

    with SandboxServer(tmp_path, {"qa": "empty"}) as server:
        sf = client_for(server, "qa")
        record_id = sf.Account.create({"Name": "Kept"})["id"]
        org_id, token = server.store("qa").org_id, server.token("qa")
        ca = server.ca_file.read_bytes()
    with SandboxServer(tmp_path, {"qa": "empty"}) as server:
        assert server.store("qa").org_id == org_id and server.token("qa") == token
        assert server.ca_file.read_bytes() == ca
        assert client_for(server, "qa").Account.get(record_id)["Name"] == "Kept"


def test_usernames_are_unique_per_org_and_stable_across_restarts(tmp_path):
    from isyncsf_desktop.sandbox.server import SandboxServer

    def usernames(server, alias):
        return {u["Email"]: u["Username"] for u in client_for(server, alias).query(
            "SELECT Username, Email FROM User")["records"]}

    orgs = {"qa": "empty", "dev": "empty", "source": "demo-source"}
    with SandboxServer(tmp_path / "one", orgs) as server:
        first = {alias: usernames(server, alias) for alias in orgs}
    with SandboxServer(tmp_path / "two", {"qa": "empty"}) as other:
        elsewhere = usernames(other, "qa")
    with SandboxServer(tmp_path / "one", orgs) as server:
        assert {alias: usernames(server, alias) for alias in orgs} == first        # kept in the org's file
    everyone = [name for names in [*first.values(), elsewhere] for name in names.values()]
    assert len(everyone) == len(set(everyone))                                 # no two orgs share a username
    assert first["qa"].keys() == first["dev"].keys() == elsewhere.keys()       # emails are the seed's
    for email, username in first["qa"].items():
        assert re.fullmatch(re.escape(email) + r"\.qa[a-z0-9]{4}", username)     # seed username + .<org suffix>


def test_loopback_only(tmp_path):
    from isyncsf_desktop.sandbox.server import SandboxError, SandboxServer

    with pytest.raises(SandboxError, match="loopback"):
        SandboxServer(tmp_path, {"qa": "empty"}, host="0.0.0.0")


def test_cli_serve_prints_one_json_line_and_stops_on_sigterm(tmp_path):
    import signal
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "isyncsf_desktop.cli", "sandbox", "serve", "--data-dir",
                             str(tmp_path), "--org", "qa=empty"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert info["instance_url"].startswith("https://127.0.0.1:")
        assert set(info["orgs"]) == {"qa"} and info["orgs"]["qa"]["org_id"].startswith("00D")
        from isyncsf_desktop.salesforce.connection import connect

        sf = connect(info["instance_url"], info["orgs"]["qa"]["access_token"], ca_file=info["ca_file"])
        assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
        assert proc.stdout.read() == ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_cli_serve_bad_seed_is_exit_2(tmp_path):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "isyncsf_desktop.cli", "sandbox", "serve", "--data-dir",
                           str(tmp_path), "--org", "qa=nope"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "unknown seed 'nope'" in done.stderr and "demo-source" in done.stderr


def test_query_columns_true_answers_column_metadata(demo_server):
    sf = client_for(demo_server, "source")
    meta = sf.restful("query", params={"q": "SELECT Id, Name, Owner.Name FROM Account", "columns": "true"})
    assert set(meta) == {"columnMetadata", "entityName", "groupBy", "idSelected", "keyPrefix"}
    assert [c["columnName"] for c in meta["columnMetadata"]] == ["Id", "Name", "Owner"]
    assert "records" not in meta
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("query", params={"q": "SELECT Nope FROM Account", "columns": "true"})
    assert info.value.content[0]["errorCode"] == "INVALID_FIELD"


def test_a_held_create_drops_unanswered_and_commits_only_when_released(empty_org):
    server, sf = empty_org
    faults = server.faults("qa")
    faults.update(hold_create=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        _collection(sf, "POST", _accounts(3))
    assert faults.wait_held(1) and faults.held == 1
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0     # the org is still working on it
    assert faults.release_held() == 1 and faults.held == 0
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 3


def test_a_held_create_commits_after_the_next_requests_or_a_matching_one(empty_org):
    server, sf = empty_org
    faults = server.faults("qa")
    faults.update(hold_create=1, hold_release_after=2)
    with pytest.raises(requests.exceptions.ConnectionError):
        sf.Account.create({"Name": "single"})                       # POST sobjects/Account too
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0  # 1st request: answered before the commit
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0  # 2nd: the commit follows its answer
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1
    faults.update(hold_create=1, hold_release_on="FROM Contact")
    with pytest.raises(requests.exceptions.ConnectionError):
        _collection(sf, "POST", _accounts(2))
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 1
    assert sf.query("SELECT COUNT() FROM Contact")["totalSize"] == 0
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 3


def test_a_create_still_held_when_the_server_stops_is_discarded(sandbox_factory):
    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    server.faults("qa").update(hold_create=1)
    with pytest.raises(requests.exceptions.ConnectionError):
        _collection(sf, "POST", _accounts(1))
    faults = server.faults("qa")
    assert faults.wait_held(1)
    server.stop()                      # returns: the held request thread is let go without committing
    assert faults.held == 0
