"""Composite resources of the sandbox org (/composite, /composite/batch, /composite/tree) through
simple-salesforce over HTTPS."""

from __future__ import annotations

import pytest
from helpers import client_for
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture
def qa(sandbox_factory):
    server = sandbox_factory({"qa": "empty"})
    return server, client_for(server, "qa")


def _api_used(server) -> int:
    return server.store("qa").api_used


def test_composite_references_and_one_api_call(qa):
    server, sf = qa
    before = _api_used(server)
    base = "/services/data/v59.0"
    answer = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "acct", "body": {"Name": "Tree Co"}},
        {"method": "GET", "url": f"{base}/sobjects/Account/@{{acct.id}}?fields=Name", "referenceId": "got"},
        {"method": "POST", "url": f"{base}/sobjects/Contact", "referenceId": "con",
         "body": {"LastName": "Leaf", "AccountId": "@{acct.id}"}},
        {"method": "GET", "url": f"{base}/query?q=SELECT+Id,Account.Name+FROM+Contact+WHERE+Id='@{{con.id}}'",
         "referenceId": "q"},
        {"method": "PATCH", "url": f"{base}/sobjects/Contact/@{{q.records[0].Id}}", "referenceId": "upd",
         "body": {"FirstName": "Fig"}},
    ]})
    assert _api_used(server) == before + 1                        # a composite call is one API call
    replies = {r["referenceId"]: r for r in answer["compositeResponse"]}
    assert [r["referenceId"] for r in answer["compositeResponse"]] == ["acct", "got", "con", "q", "upd"]
    acct = replies["acct"]
    assert acct["httpStatusCode"] == 201 and acct["body"]["success"] is True
    assert replies["got"]["body"]["Name"] == "Tree Co"
    assert replies["q"]["body"]["records"][0]["Account"]["Name"] == "Tree Co"
    assert replies["upd"]["httpStatusCode"] == 204 and replies["upd"]["body"] is None
    contact = sf.Contact.get(replies["con"]["body"]["id"])
    assert (contact["FirstName"], contact["AccountId"]) == ("Fig", acct["body"]["id"])


def test_composite_all_or_none_rolls_back(qa):
    _, sf = qa
    base = "/services/data/v59.0"
    answer = sf.restful("composite", method="POST", json={"allOrNone": True, "compositeRequest": [
        {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "a", "body": {"Name": "Kept?"}},
        {"method": "POST", "url": f"{base}/sobjects/Contact", "referenceId": "bad", "body": {"FirstName": "No"}},
        {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "c", "body": {"Name": "Never"}},
    ]})
    codes = [(r["referenceId"], r["httpStatusCode"], r["body"][0]["errorCode"]) for r in answer["compositeResponse"]]
    assert codes == [("a", 400, "PROCESSING_HALTED"), ("bad", 400, "REQUIRED_FIELD_MISSING"),
                     ("c", 400, "PROCESSING_HALTED")]
    assert sf.query("SELECT COUNT() FROM Account WHERE Name IN ('Kept?', 'Never')")["totalSize"] == 0
    # without allOrNone the good ones stay, and a reference to a failed one is refused
    answer = sf.restful("composite", method="POST", json={"compositeRequest": [
        {"method": "POST", "url": f"{base}/sobjects/Contact", "referenceId": "bad", "body": {"FirstName": "No"}},
        {"method": "POST", "url": f"{base}/sobjects/Account", "referenceId": "ok", "body": {"Name": "Kept"}},
        {"method": "GET", "url": f"{base}/sobjects/Contact/@{{bad.id}}", "referenceId": "ref"},
    ]})
    assert [r["httpStatusCode"] for r in answer["compositeResponse"]] == [400, 201, 400]
    assert "bad.id" in answer["compositeResponse"][2]["body"][0]["message"]
    assert sf.query("SELECT COUNT() FROM Account WHERE Name = 'Kept'")["totalSize"] == 1


def test_composite_batch(qa):
    _, sf = qa
    made = sf.Account.create({"Name": "Batch"})["id"]
    answer = sf.restful("composite/batch", method="POST", json={"batchRequests": [
        {"method": "PATCH", "url": f"v59.0/sobjects/Account/{made}", "richInput": {"Name": "Batch 2"}},
        {"method": "GET", "url": f"v59.0/sobjects/Account/{made}?fields=Name"},
        {"method": "GET", "url": "v59.0/sobjects/Nope/001000000000000AAA"},
    ]})
    assert answer["hasErrors"] is True
    assert [r["statusCode"] for r in answer["results"]] == [204, 200, 404]
    assert answer["results"][1]["result"]["Name"] == "Batch 2"
    halted = sf.restful("composite/batch", method="POST", json={"haltOnError": True, "batchRequests": [
        {"method": "GET", "url": "v59.0/sobjects/Nope/001000000000000AAA"},
        {"method": "GET", "url": f"v59.0/sobjects/Account/{made}"},
    ]})
    assert [r["statusCode"] for r in halted["results"]] == [404, 412]
    assert halted["results"][1]["result"][0]["errorCode"] == "BATCH_PROCESSING_HALTED"


def test_composite_tree_inserts_parents_with_children(qa):
    _, sf = qa
    answer = sf.restful("composite/tree/Account", method="POST", json={"records": [
        {"attributes": {"type": "Account", "referenceId": "acme"}, "Name": "Acme Tree",
         "Contacts": {"records": [
             {"attributes": {"type": "Contact", "referenceId": "c1"}, "LastName": "One"},
             {"attributes": {"type": "Contact", "referenceId": "c2"}, "LastName": "Two"}]},
         "ChildAccounts": {"records": [
             {"attributes": {"type": "Account", "referenceId": "sub"}, "Name": "Acme Sub"}]}},
        {"attributes": {"type": "Account", "referenceId": "solo"}, "Name": "Solo"},
    ]})
    assert answer["hasErrors"] is False
    ids = {r["referenceId"]: r["id"] for r in answer["results"]}
    assert set(ids) == {"acme", "c1", "c2", "sub", "solo"}
    parent = sf.query("SELECT Name, (SELECT LastName FROM Contacts ORDER BY LastName), "
                      "(SELECT Name FROM ChildAccounts) FROM Account WHERE Name = 'Acme Tree'")["records"][0]
    assert [c["LastName"] for c in parent["Contacts"]["records"]] == ["One", "Two"]
    assert [c["Name"] for c in parent["ChildAccounts"]["records"]] == ["Acme Sub"]


def test_composite_tree_is_all_or_nothing(qa):
    _, sf = qa
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/tree/Account", method="POST", json={"records": [
            {"attributes": {"type": "Account", "referenceId": "ok"}, "Name": "Fine",
             "Contacts": {"records": [{"attributes": {"type": "Contact", "referenceId": "bad"}, "FirstName": "X"}]}},
        ]})
    body = info.value.content
    assert body["hasErrors"] is True
    assert body["results"] == [{"referenceId": "bad", "errors": [
        {"statusCode": "REQUIRED_FIELD_MISSING", "message": "Required fields are missing: [LastName]",
         "fields": ["LastName"]}]}]
    assert sf.query("SELECT COUNT() FROM Account WHERE Name = 'Fine'")["totalSize"] == 0
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.restful("composite/tree/Account", method="POST", json={"records": [
            {"attributes": {"type": "Account"}, "Name": "No reference id"}]})
    assert info.value.content[0]["errorCode"] == "INVALID_INPUT"
