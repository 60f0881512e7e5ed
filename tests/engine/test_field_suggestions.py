"""Field mappings suggested from the demo orgs' metadata (real client, sandbox): the target has the source's
Account.Customer_Tier__c as acme__Customer_Tier__c (a managed package's field), and a required Region__c the source
lacks. The suggestion is the pre-flight check's guess; the plan's checks name a field the target lacks."""

from __future__ import annotations

from helpers import org_client

from isyncsf_desktop.engine.field_suggestions import field_mappings_problem, read_org_fields, suggest_fields
from isyncsf_desktop.engine.owner_suggestions import SUGGESTED
from isyncsf_desktop.engine.template import FieldMapping, FieldMappings, ObjectLine

OBJECTS = ["Account", "Contact", "No_Such__c"]


def test_source_fields_the_target_lacks_get_the_preflight_guess(demo_server) -> None:
    source = read_org_fields(org_client(demo_server, "source"), "demo-source", OBJECTS)
    target = read_org_fields(org_client(demo_server, "target"), "demo-target", OBJECTS)
    assert target.covers("no_such__c") and target.of("No_Such__c") == {}
    assert target.find("account", "ACME__customer_tier__c") == "acme__Customer_Tier__c"
    assert "Region__c" in target.settable("Account") and "Id" not in target.settable("Account")

    lines = [ObjectLine(object="Account"), ObjectLine(object="Contact", fields=["LastName", "Email"])]
    found = {(s.object, s.source): s for s in suggest_fields(lines, source, target)}
    tier = found[("Account", "Customer_Tier__c")]
    assert (tier.target, tier.how) == ("acme__Customer_Tier__c", SUGGESTED)
    assert "most similar target field (Customer Tier)" in tier.detail
    assert all(s.object == "Account" for s in found.values())           # Contact's listed fields are on the target
    assert all(target.find(obj, name) is None for obj, name in found)     # only what the target lacks

    # a field already mapped is not suggested again
    mapped = FieldMappings({"Account": FieldMapping(map={"Customer_Tier__c": "acme__Customer_Tier__c"})})
    assert ("Account", "Customer_Tier__c") not in {(s.object, s.source) for s in
                                                   suggest_fields(lines, source, target, mapped)}


def test_the_plans_checks_name_a_field_the_target_lacks(demo_server) -> None:
    source = read_org_fields(org_client(demo_server, "source"), "demo-source", ["Account"])
    target = read_org_fields(org_client(demo_server, "target"), "demo-target", ["Account"])
    good = FieldMappings({"Account": FieldMapping(map={"Customer_Tier__c": "acme__Customer_Tier__c"},
                                                  constants={"Region__c": "EMEA"})})
    assert field_mappings_problem(good, source, target) is None
    typo = FieldMappings({"Account": FieldMapping(map={"Customer_Tier__c": "acme__Customer_Teir__c"})})
    assert field_mappings_problem(typo, source, target) == (
        "Account: the field mapping Customer_Tier__c -> acme__Customer_Teir__c names a field Account does not have "
        "in the target org")
    constant = FieldMappings({"Account": FieldMapping(constants={"Regoin__c": "EMEA"})})
    assert field_mappings_problem(constant, source, target) == \
        "Account: the constant for Regoin__c names a field Account does not have in the target org"
