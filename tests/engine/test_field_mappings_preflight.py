"""The metadata check and field mappings: a source field the target has under a namespaced name is found
and its mapping suggested, a target-only required field offers a constant, the mappings resolve both, and a
mapping to a field the target lacks is named."""

from __future__ import annotations

from isyncsf_desktop.engine.plan import build_plan
from isyncsf_desktop.engine.preflight import BLOCKING, RECORDS_WILL_FAIL, WARNING, check_metadata
from isyncsf_desktop.engine.template import parse_template
from isyncsf_desktop.sandbox.seeds import build_seed

RENAMED = {"Account.Customer_Tier__c": "acme__Customer_Tier__c", "Account.Rating": "Account_Rating__c"}
REGION = {"Account.Region__c": {"type": "picklist", "label": "Region", "required": True,
                                "values": ["EMEA", "AMER", "APAC"]}}
ACCOUNTS = {"object": "Account", "fields": ["Name", "External_Id__c", "Customer_Tier__c", "Phone"],
            "match_by": ["External_Id__c"]}


def template(fields: dict | None = None) -> dict:
    out: dict = {"name": "check", "options": {"skip_missing_fields": True}, "objects": [ACCOUNTS]}
    if fields is not None:
        out["mappings"] = {"fields": fields}
    return out


def findings(report, obj: str, field: str) -> list:
    return [f for f in report.findings if f.object == obj and f.field == field]


def test_a_namespaced_field_is_found_suggested_and_resolved_by_the_mapping(make_pair) -> None:
    pair = make_pair("empty", build_seed("empty", overrides={"rename_fields": RENAMED, "add_fields": REGION}))
    pair.insert("src", "Account", [{"Name": f"A{n}", "External_Id__c": f"A{n}", "Customer_Tier__c": "Gold"}
                                   for n in range(3)] + [{"Name": "B", "External_Id__c": "B"}])
    report = check_metadata(template(), pair.source, pair.target)
    [missing] = findings(report, "Account", "Customer_Tier__c")
    assert missing.severity == WARNING
    assert missing.message == ("field missing on the target: Account.Customer_Tier__c (3 records in scope have a "
                               "value) — map to acme__Customer_Tier__c?")
    assert missing.data["suggested_mapping"] == {"object": "Account", "source": "Customer_Tier__c",
                                                 "target": "acme__Customer_Tier__c"}
    [region] = findings(report, "Account", "Region__c")
    assert region.severity == RECORDS_WILL_FAIL and "every new record fails (up to 4 records in scope)" in \
        region.message
    assert region.data["suggested_constant"] == {"object": "Account", "field": "Region__c", "value": "EMEA"}

    fixed = {"Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"}, "constants": {"Region__c": "AMER"}}}
    again = check_metadata(template(fixed), pair.source, pair.target)
    assert findings(again, "Account", "Customer_Tier__c") == [] and findings(again, "Account", "Region__c") == []
    assert again.findings == [], [f.message for f in again.findings]
    build_plan(parse_template(template(fixed)), pair.source, pair.target)     # and the plan takes it


def test_a_field_with_no_likely_twin_gets_no_suggestion(make_pair) -> None:
    pair = make_pair("empty", build_seed("empty", overrides={"remove_fields": ["Account.Customer_Tier__c"]}))
    report = check_metadata(template(), pair.source, pair.target)
    [missing] = findings(report, "Account", "Customer_Tier__c")
    assert missing.data["suggested_mapping"] is None
    assert missing.message.startswith("Account.Customer_Tier__c does not exist in the target org; it is left out")


def test_a_mapping_or_constant_naming_a_field_the_target_lacks_is_named(make_pair) -> None:
    pair = make_pair("empty", build_seed("empty", overrides={"rename_fields": RENAMED}))
    wrong = {"Account": {"map": {"Customer_Tier__c": "acme__Tier__c"}, "constants": {"Territory__c": "North"}}}
    report = check_metadata(template(wrong), pair.source, pair.target)
    [mapping] = findings(report, "Account", "Customer_Tier__c")
    [constant] = findings(report, "Account", "Territory__c")
    assert mapping.severity == BLOCKING and constant.severity == BLOCKING
    assert mapping.message.startswith("the field mapping Account.Customer_Tier__c -> acme__Tier__c names a field "
                                      "the target org does not have")
    assert constant.message.startswith("the template's constant for Account.Territory__c names a field the target "
                                       "org does not have")
