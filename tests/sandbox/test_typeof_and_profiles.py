"""Task's polymorphic What (TYPEOF) and the Profile object with User.ProfileId, through the REST API of a
sandbox org on a real server and the product's own client."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from helpers import client_for, soap_login
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceMalformedRequest

TYPEOF_QUERY = ("SELECT Id, Subject, TYPEOF What WHEN Account THEN Name, Industry WHEN Opportunity THEN Name, "
                "StageName, Amount ELSE Id END FROM Task ORDER BY Subject, Id")


@pytest.fixture(scope="module")
def sf(demo_server: Any) -> Any:
    return client_for(demo_server, "source")


def test_typeof_what_on_the_seeded_tasks(sf: Any) -> None:
    records = sf.query_all(TYPEOF_QUERY)["records"]
    plain = {r["Id"]: r["WhatId"] for r in sf.query_all("SELECT Id, WhatId FROM Task")["records"]}
    assert len(records) == len(plain) == 150
    types = Counter(r["What"]["attributes"]["type"] for r in records)
    assert set(types) == {"Account", "Opportunity", "Case", "Project__c"}   # every target type is seeded
    accounts = {a["Id"]: a for a in sf.query_all("SELECT Id, Name, Industry FROM Account")["records"]}
    opportunities = {o["Id"]: o for o in sf.query_all("SELECT Id, Name, StageName, Amount FROM Opportunity")[
        "records"]}
    for record in records:
        what = record["What"]
        parent_id = plain[record["Id"]]
        assert what["attributes"]["url"].endswith(f"/sobjects/{what['attributes']['type']}/{parent_id}")
        fields = {k: v for k, v in what.items() if k != "attributes"}
        if what["attributes"]["type"] == "Account":
            assert fields == {k: accounts[parent_id][k] for k in ("Name", "Industry")}
        elif what["attributes"]["type"] == "Opportunity":
            assert fields == {k: opportunities[parent_id][k] for k in ("Name", "StageName", "Amount")}
        else:
            assert fields == {"Id": parent_id}                                # ELSE


def test_what_type_and_name_without_typeof(sf: Any) -> None:
    # Without TYPEOF a polymorphic relationship reads the Name entity: Type is the object, Name its name field.
    records = sf.query_all("SELECT Id, WhatId, What.Type, What.Name FROM Task WHERE What.Type = 'Case'")["records"]
    cases = {c["Id"]: c["CaseNumber"] for c in sf.query_all("SELECT Id, CaseNumber FROM Case")["records"]}
    assert records and all(r["What"]["Type"] == "Case" and r["What"]["Name"] == cases[r["WhatId"]] for r in records)
    counted = sf.query("SELECT What.Type, COUNT(Id) n FROM Task GROUP BY What.Type")["records"]
    assert {r["Type"]: r["n"] for r in counted}["Case"] == len(records) and sum(r["n"] for r in counted) == 150
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT What.Industry FROM Task")
    assert "on entity 'Name'" in str(info.value)


def test_typeof_column_metadata_and_bulk_refusal(sf: Any) -> None:
    columns = sf.restful("query", params={"q": TYPEOF_QUERY, "columns": "true"})["columnMetadata"]
    what = next(c for c in columns if c["columnName"] == "What")
    assert [c["columnName"] for c in what["joinColumns"]] == ["Name", "Industry", "StageName", "Amount", "Id"]
    job = sf.session.post(f"{sf.base_url}jobs/query", json={"operation": "query", "query": TYPEOF_QUERY},
                          headers=sf.headers, timeout=30)
    assert job.status_code == 400 and "TYPEOF isn't supported" in job.text
    with pytest.raises(SalesforceGeneralError) as failed:                      # Bulk API 1.0: a failed batch
        sf.bulk.Task.query(TYPEOF_QUERY)
    assert "InvalidBatch : TYPEOF isn't supported in Bulk API query jobs" in str(failed.value)
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.query("SELECT TYPEOF Owner WHEN User THEN Name END FROM Task")
    assert "polymorphic" in str(info.value)                                   # Task.OwnerId refers to User only


def test_task_describe_marks_what_polymorphic(sf: Any) -> None:
    fields = {f["name"]: f for f in sf.Task.describe()["fields"]}
    assert fields["WhatId"]["referenceTo"] == ["Account", "Opportunity", "Case", "Project__c"]
    assert fields["WhatId"]["polymorphicForeignKey"] is True and fields["WhatId"]["namePointing"] is True
    assert fields["WhatId"]["relationshipName"] == "What" and fields["WhoId"]["relationshipName"] == "Who"
    assert fields["WhoId"]["polymorphicForeignKey"] is True                  # Contact or Lead, as in a real org
    children = {c["relationshipName"]: c for c in sf.Account.describe()["childRelationships"]}
    assert children["Tasks"]["childSObject"] == "Task" and children["Tasks"]["field"] == "WhatId"


def test_profiles_and_user_profile_id(sf: Any, demo_server: Any) -> None:
    profiles = {p["Id"]: p["Name"] for p in sf.query("SELECT Id, Name FROM Profile")["records"]}
    assert {"System Administrator", "Standard User", "Read Only"} <= set(profiles.values())
    assert all(i.startswith("00e") for i in profiles)
    users = sf.query("SELECT Username, ProfileId, Profile.Name FROM User ORDER BY Username")["records"]
    assert all(profiles[u["ProfileId"]] == u["Profile"]["Name"] for u in users)
    admin = next(u for u in users if u["Username"].startswith("integration@"))
    assert admin["Profile"]["Name"] == "System Administrator"
    by_profile = sf.query("SELECT Profile.Name, COUNT(Id) n FROM User GROUP BY Profile.Name ORDER BY Profile.Name")
    assert {r["Name"]: r["n"] for r in by_profile["records"]} == {"Standard User": 4, "System Administrator": 2}

    user_fields = {f["name"]: f for f in sf.User.describe()["fields"]}
    profile_id = user_fields["ProfileId"]
    assert (profile_id["referenceTo"], profile_id["relationshipName"], profile_id["nillable"]) == (
        ["Profile"], "Profile", False)
    assert "ProfileName" not in user_fields                     # a real User has no such field
    described = sf.Profile.describe()
    assert described["keyPrefix"] == "00e" and described["createable"] is False
    child = {c["relationshipName"] for c in described["childRelationships"] if c["childSObject"] == "User"}
    assert child == {"Users"}

    # The SOAP login's userInfo names the same profile.
    answer = soap_login(demo_server, "source")
    assert answer.status_code == 200
    assert f"<profileId>{admin['ProfileId']}</profileId>" in answer.text
