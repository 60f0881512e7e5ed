"""Record type and picklist value mappings suggested from the demo orgs' metadata (real client, sandbox): the
source's Case record type Support is Product_Support on the target; the target's restricted Case.Type says
Electronics where the source says Electronic. Only values the target lacks are listed."""

from __future__ import annotations

from helpers import org_client

from isyncsf_desktop.engine.owner_suggestions import AUTOMATIC, SUGGESTED
from isyncsf_desktop.engine.value_suggestions import read_org_values, suggest_picklists, suggest_record_types

OBJECTS = ["Account", "Contact", "Opportunity", "Case", "Project__c", "Project_Task__c", "No_Such__c"]


def test_record_types_and_picklist_values_the_target_lacks_are_suggested(demo_server) -> None:
    source = read_org_values(org_client(demo_server, "source"), "demo-source", OBJECTS)
    target = read_org_values(org_client(demo_server, "target"), "demo-target", OBJECTS)
    assert target.record_type_names("case") == ["Billing", "Product_Support"] and target.covers("no_such__c")
    assert target.picklist("case.type") is not None and target.picklist("Case.Type").restricted

    record_types = {(s.scope, s.source): s for s in suggest_record_types(source, target)}
    assert record_types[("Case", "Support")].target == "Product_Support"
    assert record_types[("Case", "Support")].how == SUGGESTED
    assert record_types[("Case", "Billing")].how == AUTOMATIC and record_types[("Case", "Billing")].target == "Billing"

    values = {(s.scope, s.source): s for s in suggest_picklists(source, target)}
    assert values[("Case.Type", "Electronic")].target == "Electronics"
    assert values[("Case.Type", "Electronic")].how == SUGGESTED
    assert all(not target.picklist(scope).has(value) for scope, value in values)      # only what the target lacks


def test_only_the_fields_asked_are_read(demo_server) -> None:
    source = read_org_values(org_client(demo_server, "source"), "demo-source", ["Case"], {"Case": ["Status"]})
    assert set(source.picklists) == {"Case.Status"}


def test_multi_select_values_the_target_lacks_are_listed_one_by_one(make_pair) -> None:
    """A multi-select picklist's values are listed on their own, like single ones (each maps on its own)."""
    from isyncsf_desktop.engine.owner_suggestions import NO_MATCH
    from isyncsf_desktop.sandbox.seeds import build_seed

    source = build_seed("empty", overrides={"field_flags": {"Account.AccountSource": {
        "type": "multipicklist", "length": 4099, "values": ["Web", "Phone Inquiry", "Partner Referral", "Trade Show"]}}})
    target = build_seed("empty", overrides={"field_flags": {"Account.AccountSource": {
        "type": "multipicklist", "length": 4099, "restrictedPicklist": True,
        "values": ["Web", "Phone", "Referral", "Events"]}}})
    pair = make_pair(source, target)
    mine = read_org_values(pair.source, "src", ["Account"], {"Account": ["AccountSource"]})
    theirs = read_org_values(pair.target, "tgt", ["Account"], {"Account": ["AccountSource"]})
    assert theirs.picklist("Account.AccountSource").multi and theirs.picklist("Account.AccountSource").restricted
    found = {s.source: s for s in suggest_picklists(mine, theirs)}
    assert set(found) == {"Phone Inquiry", "Partner Referral", "Trade Show"}          # Web is on the target
    assert found["Partner Referral"].target == "Referral" and found["Partner Referral"].how == SUGGESTED
    assert found["Trade Show"].how == NO_MATCH and found["Trade Show"].target is None
    assert "restricted there: records with it fail" in found["Trade Show"].detail
    assert all("multi-select: each value maps on its own" in s.detail for s in found.values())
