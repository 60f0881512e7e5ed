"""Restricted and unrestricted picklists in the sandbox org, through the real simple-salesforce client: a
restricted picklist (single or multi-select) refuses a value it does not list with the error a real org gives
(INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, "<label>: bad value for restricted picklist field: <value>", the
field named); an unrestricted one saves it; the demo UAT org's restricted Case.Type lacks "Electronic"."""

from __future__ import annotations

import pytest
from helpers import client_for

from isyncsf_desktop.sandbox.seeds import build_seed

FLAGS = {"Account.Rating": {"restrictedPicklist": True, "values": ["Hot", "Warm", "Cold"]},
         "Account.AccountSource": {"type": "multipicklist", "length": 4099, "restrictedPicklist": True,
                                   "values": ["Web", "Phone", "Referral"]}}


@pytest.fixture
def org(sandbox_factory):
    server = sandbox_factory({"org": build_seed("empty", overrides={"field_flags": FLAGS})})
    return client_for(server, "org")


def refusal(sf, values: dict) -> dict:
    [result] = sf.restful("composite/sobjects", method="POST", json={
        "allOrNone": False, "records": [{"attributes": {"type": "Account"}, "Name": "X", **values}]})
    assert result["success"] is False
    [error] = result["errors"]
    return error


def test_restricted_picklists_refuse_unknown_values_as_a_real_org_does(org) -> None:
    assert refusal(org, {"Rating": "Warmish"}) == {
        "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "message": "Account Rating: bad value for restricted picklist field: Warmish", "fields": ["Rating"]}
    # multi-select: each value is checked; the message names the first one the picklist lacks
    assert refusal(org, {"AccountSource": "Web;Trade Show;Phone"}) == {
        "statusCode": "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
        "message": "Account Source: bad value for restricted picklist field: Trade Show", "fields": ["AccountSource"]}
    created = org.Account.create({"Name": "ok", "Rating": "Warm", "AccountSource": "Web;Referral", "Industry": "Junk"})
    row = org.Account.get(created["id"])
    assert (row["Rating"], row["AccountSource"], row["Industry"]) == ("Warm", "Web;Referral", "Junk")  # unrestricted


def test_the_demo_target_case_type_is_restricted_without_electronic(demo_server) -> None:
    target = client_for(demo_server, "target")
    case_type = next(f for f in target.Case.describe()["fields"] if f["name"] == "Type")
    assert case_type["restrictedPicklist"] is True
    assert "Electronics" in {v["value"] for v in case_type["picklistValues"]}
    assert "Electronic" not in {v["value"] for v in case_type["picklistValues"]}
    source = client_for(demo_server, "source")
    assert source.query("SELECT COUNT() FROM Case WHERE Type = 'Electronic'")["totalSize"] > 0
