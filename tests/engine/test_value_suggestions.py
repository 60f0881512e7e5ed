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
