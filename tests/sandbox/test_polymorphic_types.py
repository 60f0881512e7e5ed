"""Polymorphic lookups in the sandbox, as a real org has them: Task.WhoId takes a Contact or a Lead, Task.WhatId
an Account, Opportunity, Case or Project__c, Note.ParentId the objects a note can hang on; an id of another
object (its key prefix says which) is refused with the org's FIELD_INTEGRITY_EXCEPTION ("<field label>: id
value of incorrect type: <id>"), through the real simple-salesforce client."""

from __future__ import annotations

import pytest
from helpers import client_for
from simple_salesforce.exceptions import SalesforceMalformedRequest


@pytest.fixture
def sf(sandbox_factory):
    return client_for(sandbox_factory({"org": "empty"}), "org")


@pytest.fixture
def records(sf) -> dict[str, str]:
    account = sf.Account.create({"Name": "Acme"})["id"]
    return {
        "account": account,
        "contact": sf.Contact.create({"LastName": "Doe"})["id"],
        "lead": sf.Lead.create({"LastName": "Lee", "Company": "Leeco"})["id"],
        "case": sf.Case.create({"Subject": "Pump"})["id"],
        "opportunity": sf.Opportunity.create({"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2030-01-01",
                                              "AccountId": account})["id"],
    }


def refused(create, values: dict) -> dict:
    with pytest.raises(SalesforceMalformedRequest) as caught:
        create(values)
    [error] = caught.value.content
    return error


def test_describe_lists_every_object_a_polymorphic_lookup_takes(sf):
    task = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert task["WhoId"]["referenceTo"] == ["Contact", "Lead"] and task["WhoId"]["relationshipName"] == "Who"
    assert task["WhatId"]["referenceTo"] == ["Account", "Opportunity", "Case", "Project__c"]
    note = {f["name"]: f for f in sf.Note.describe()["fields"]}
    assert note["ParentId"]["referenceTo"] == ["Account", "Contact", "Lead", "Opportunity", "Project__c"]
    assert not note["ParentId"]["nillable"] and not note["ParentId"]["updateable"]
    prefixes = {o["name"]: o["keyPrefix"] for o in sf.describe()["sobjects"]}
    assert (prefixes["Lead"], prefixes["Note"], prefixes["Task"]) == ("00Q", "002", "00T")


def test_each_lookup_takes_the_objects_it_lists(sf, records):
    for who in ("contact", "lead"):
        assert sf.Task.create({"Subject": f"Call {who}", "WhoId": records[who]})["success"]
    for what in ("account", "opportunity", "case"):
        assert sf.Task.create({"Subject": f"About {what}", "WhatId": records[what]})["success"]
    note = sf.Note.create({"Title": "Met", "ParentId": records["lead"]})["id"]
    assert sf.Note.get(note)["ParentId"] == records["lead"]


@pytest.mark.parametrize(("object_name", "field", "label", "wrong"), [
    ("Task", "WhatId", "Related To ID", "contact"),
    ("Task", "WhatId", "Related To ID", "lead"),
    ("Task", "WhoId", "Name ID", "account"),
    ("Task", "WhoId", "Name ID", "case"),
    ("Note", "ParentId", "Parent ID", "case"),
])
def test_an_id_of_another_object_is_refused_as_a_real_org_does(sf, records, object_name, field, label, wrong):
    values = {"Subject": "x"} if object_name == "Task" else {"Title": "x"}
    error = refused(getattr(sf, object_name).create, {**values, field: records[wrong]})
    assert error["errorCode"] == "FIELD_INTEGRITY_EXCEPTION"
    assert error["message"] == f"{label}: id value of incorrect type: {records[wrong]}"
    assert error["fields"] == [field]


def test_a_notes_parent_is_required_and_set_once(sf, records):
    error = refused(sf.Note.create, {"Title": "Orphan"})
    assert error["errorCode"] == "REQUIRED_FIELD_MISSING" and error["fields"] == ["ParentId"]
    note = sf.Note.create({"Title": "Met", "ParentId": records["account"]})["id"]
    with pytest.raises(SalesforceMalformedRequest) as caught:
        sf.Note.update(note, {"ParentId": records["contact"]})
    assert caught.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
