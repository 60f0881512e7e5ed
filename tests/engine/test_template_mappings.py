"""The template's ``mappings`` section: owner map and default owner, kept through save and load, and
clear errors for what is not one."""

from __future__ import annotations

from pathlib import Path

import pytest

from isyncsf_desktop.engine.template import TemplateError, load_template, parse_template, save_template

LINES = [{"object": "Case"}]


def parse(mappings) -> object:
    return parse_template({"name": "t", "objects": LINES, "mappings": mappings})


def test_owner_mappings_round_trip_through_the_template_file(tmp_path: Path) -> None:
    owners = {"default": "ops@acme.example", "map": {"Escalations": "Escalation_Team",
                                                     "Ann@Acme.example": "ann@acme.example.uat"}}
    template = parse({"owners": owners})
    assert template.owners.default == "ops@acme.example"
    assert template.owners.target_of("Escalations") == "Escalation_Team"
    assert template.owners.target_of("ann@acme.example") == "ann@acme.example.uat"   # usernames: any case
    assert template.owners.target_of("escalations") is None                        # DeveloperNames: exact
    save_template(template, tmp_path / "t.json")
    assert load_template(tmp_path / "t.json").as_json()["mappings"] == {"owners": owners}
    assert "mappings" not in parse_template({"name": "t", "objects": LINES}).as_json()


@pytest.mark.parametrize("mappings, message", [
    ([], '"mappings" must be an object'),
    ({"users": {}}, "unknown mapping kind(s): users; allowed: fields, owners, picklists, record_types"),
    ({"owners": ["a"]}, 'mappings.owners must be an object with "default" and/or "map"'),
    ({"owners": {"fallback": "x@y.z"}}, "mappings.owners: unknown key(s): fallback; allowed: default, map"),
    ({"owners": {"default": "Ops Team"}}, 'mappings.owners.default: "Ops Team" is neither a username'),
    ({"owners": {"default": 7}}, "mappings.owners.default: 7 is neither a username"),
    ({"owners": {"map": ["Escalations"]}}, "mappings.owners.map must be an object of source owner -> target owner"),
    ({"owners": {"map": {"Escalations": "Escalation__Team"}}},
     'mappings.owners.map["Escalations"]: "Escalation__Team" is neither a username'),
    ({"owners": {"map": {"ann@acme": "Tier_1"}}}, 'mappings.owners.map: "ann@acme" is not a username'),
    ({"owners": {"map": {"ann@acme.example": "Tier_1", "ANN@acme.example": "Tier_2"}}},
     'mappings.owners.map["ANN@acme.example"]: ANN@acme.example is mapped twice (also as ann@acme.example)'),
])
def test_bad_mappings_are_refused_naming_the_place(mappings, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(mappings)
    assert str(info.value).startswith(message)


def test_a_bad_mapping_in_a_file_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "sales.json"
    path.write_text('{"name": "t", "objects": [{"object": "Case"}], "mappings": {"owners": {"default": ""}}}')
    with pytest.raises(TemplateError, match=r'^sales\.json: mappings\.owners\.default: "" is neither'):
        load_template(path)


def test_record_type_and_picklist_mappings_round_trip_next_to_the_owners(tmp_path: Path) -> None:
    mappings = {"owners": {"map": {"Escalations": "Escalation_Team"}},
                "record_types": {"Account": {"default": "Customer", "map": {"Partner": "Channel_Partner"}}},
                "picklists": {"Account.Industry": {"Prospect": "Prospecting"},
                              "Account.AccountSource": {"Trade Show": "Events"}}}
    template = parse(mappings)
    assert template.owners.target_of("Escalations") == "Escalation_Team"        # owners as before
    assert template.record_types.target_of("account", "Partner") == "Channel_Partner"   # objects: any case
    assert template.record_types.of("Account").default == "Customer"
    assert template.record_types.of("Case").as_json() == {}
    assert template.picklists.of("ACCOUNT", "industry") == {"Prospect": "Prospecting"}
    save_template(template, tmp_path / "t.json")
    assert load_template(tmp_path / "t.json").as_json()["mappings"] == mappings


@pytest.mark.parametrize("mappings, message", [
    ({"record_types": ["Account"]}, "mappings.record_types must be an object of object name -> mappings"),
    ({"record_types": {"Account Name": {}}}, 'mappings.record_types["Account Name"]: "Account Name" is not an '
                                             "object's API name"),
    ({"record_types": {"Account": {"map": {}}, "account": {}}},
     'mappings.record_types["account"]: account is listed twice (also as Account)'),
    ({"record_types": {"Account": "Customer"}}, 'mappings.record_types["Account"] must be an object with'),
    ({"record_types": {"Account": {"fallback": "X"}}},
     'mappings.record_types["Account"]: unknown key(s): fallback; allowed: default, map'),
    ({"record_types": {"Account": {"default": "Key Account"}}},
     'mappings.record_types["Account"].default: "Key Account" is not a record type\'s DeveloperName'),
    ({"record_types": {"Account": {"map": {"Partner": "Channel__Partner"}}}},
     'mappings.record_types["Account"].map["Partner"]: "Channel__Partner" is not a record type\'s DeveloperName'),
    ({"record_types": {"Account": {"map": ["Partner"]}}},
     'mappings.record_types["Account"].map must be an object of source record type -> target record type'),
    ({"picklists": []}, "mappings.picklists must be an object of Object.Field -> value map"),
    ({"picklists": {"Industry": {"a": "b"}}}, 'mappings.picklists["Industry"]: "Industry" is not Object.Field'),
    ({"picklists": {"Account.Industry": "Prospecting"}},
     'mappings.picklists["Account.Industry"] must be an object of source value -> target value'),
    ({"picklists": {"Account.Industry": {"Prospect": ""}}},
     'mappings.picklists["Account.Industry"]["Prospect"]: "" is not a picklist value'),
    ({"picklists": {"Account.Industry": {"Prospect": 3}}},
     'mappings.picklists["Account.Industry"]["Prospect"]: 3 is not a picklist value'),
    ({"picklists": {"Account.AccountSource": {"Web;Phone": "Web"}}},
     'mappings.picklists["Account.AccountSource"]: "Web;Phone" holds a \';\': map each value of a multi-select'),
    ({"picklists": {"Account.Industry": {}, "account.industry": {}}},
     'mappings.picklists["account.industry"]: account.industry is listed twice (also as Account.Industry)'),
])
def test_bad_record_type_and_picklist_mappings_are_refused_naming_the_place(mappings, message: str) -> None:
    with pytest.raises(TemplateError) as info:
        parse(mappings)
    assert str(info.value).startswith(message)
