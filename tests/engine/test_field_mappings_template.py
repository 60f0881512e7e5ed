"""The template's ``mappings.fields``: renamed fields and constants per object, kept through save and load,
and errors naming the place for what is not one."""

from __future__ import annotations

from pathlib import Path

import pytest

from isyncsf_desktop.engine.run.settings import how_changes, with_current_how
from isyncsf_desktop.engine.template import TemplateError, load_template, parse_template, save_template

LINES = [{"object": "Account"}]
FIELDS = {"Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"}, "constants": {"Region__c": "EMEA"}}}


def parse(mappings) -> object:
    return parse_template({"name": "t", "objects": LINES, "mappings": mappings})


def test_field_mappings_round_trip_through_the_template_file(tmp_path: Path) -> None:
    mappings = {"fields": {**FIELDS, "Contact": {"map": {"acme__Score__c": "Score__c"}, "constants": {
        "Active__c": True, "Level__c": 3}, "constants_on_update": True}},
        "picklists": {"Account.Industry": {"Prospect": "Prospecting"}}}
    template = parse(mappings)
    assert template.field_mappings.of("account").target_of("customer_tier__c") == "acme__Customer_Tier__c"
    assert template.field_mappings.of("Account").constants == {"Region__c": "EMEA"}
    assert not template.field_mappings.of("Account").constants_on_update
    assert template.field_mappings.of("Contact").constants_on_update
    assert template.field_mappings.of("Lead").as_json() == {}
    save_template(template, tmp_path / "t.json")
    assert load_template(tmp_path / "t.json").as_json()["mappings"] == mappings


@pytest.mark.parametrize("fields, message", [
    (["Account"], "mappings.fields must be an object of object name -> field mappings"),
    ({"Acc ount": {}}, 'mappings.fields["Acc ount"]: "Acc ount" is not an object\'s API name'),
    ({"Account": {}, "account": {}}, 'mappings.fields["account"]: account is listed twice (also as Account)'),
    ({"Account": {"rename": {}}}, 'mappings.fields["Account"]: unknown key(s): rename; allowed: constants, '
                                  'constants_on_update, map'),
    ({"Account": {"map": ["Tier__c"]}}, 'mappings.fields["Account"].map must be an object of source field -> '
                                        'target field'),
    ({"Account": {"map": {"Tier__c": "acme Tier"}}},
     'mappings.fields["Account"].map["Tier__c"]: "acme Tier" is not a field\'s API name'),
    ({"Account": {"map": {"A__c": "T__c", "B__c": "t__c"}}},
     'mappings.fields["Account"].map["B__c"]: A__c and B__c are both mapped to t__c'),
    ({"Account": {"map": {"A__c": "T__c"}, "constants": {"T__c": "x"}}},
     'mappings.fields["Account"].constants["T__c"]: T__c is filled from A__c by the map'),
    ({"Account": {"constants": {"Region__c": None}}},
     'mappings.fields["Account"].constants["Region__c"]: null is not a constant'),
    ({"Account": {"constants": {"Region__c": ["EMEA"]}}},
     'mappings.fields["Account"].constants["Region__c"]: ["EMEA"] is not a constant'),
    ({"Account": {"constants_on_update": "yes"}},
     'mappings.fields["Account"].constants_on_update must be true or false'),
])
def test_bad_field_mappings_are_refused_naming_the_place(fields, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse({"fields": fields})
    assert str(info.value).startswith(message)


def test_a_retry_takes_the_field_mappings_as_saved_now() -> None:
    applied = parse({})
    current = parse({"fields": FIELDS})
    assert how_changes(applied, current) == ["field mappings as saved now"]
    assert with_current_how(applied, current).field_mappings.as_json() == FIELDS
