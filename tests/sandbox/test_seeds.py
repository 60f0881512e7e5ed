"""Tests of the sandbox seeds: every record fits its schema, and the demo orgs differ as promised."""

from __future__ import annotations

import re
from collections import Counter
from datetime import date, datetime
from typing import Any

import pytest

from isyncsf_desktop.sandbox.files import Generated
from isyncsf_desktop.sandbox.schema import NUMBER_TYPES, Schema, load_schema
from isyncsf_desktop.sandbox.seeds import SEED_NAMES, Ref, Seed, SeedRecord, build_seed

_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}\+0000$")

_BUILT: dict[str, Seed] = {}


def seed_named(name: str) -> Seed:
    """Each seed is built once per test session (building is deterministic)."""
    if name not in _BUILT:
        _BUILT[name] = build_seed(name)
    return _BUILT[name]


def records_of(seed: Seed, obj: str) -> list[SeedRecord]:
    """The records of one object, in seed order."""
    return [r for r in seed.records if r.object == obj]


def is_person_account(record: SeedRecord) -> bool:
    """An Account of the person account record type."""
    return record.object == "Account" and record.values.get("RecordTypeId") == Ref("RecordType",
                                                                                   "Account.PersonAccount")


def by_key(seed: Seed) -> dict[tuple[str, str], SeedRecord]:
    """The records of a seed by (object, key), with the person contact each person account gets when the
    org is built (under the account's key, its Email the account's PersonEmail)."""
    index = {(r.object, r.key): r for r in seed.records}
    for record in seed.records:   # a first version's document takes its key
        if record.object == "ContentVersion" and "ContentDocumentId" not in record.values:
            index[("ContentDocument", record.key)] = SeedRecord("ContentDocument", record.key, {
                "Title": record.values.get("Title")})
    for record in seed.records:
        if is_person_account(record):
            index[("Contact", record.key)] = SeedRecord("Contact", record.key, {
                "LastName": record.values["LastName"], "Email": record.values.get("PersonEmail"),
                "AccountId": Ref("Account", record.key)})
    return index


def _value_problems(schema: Schema, record: SeedRecord, index: dict[tuple[str, str], SeedRecord]) -> list[str]:
    """What is wrong with one record's values against ``schema`` (empty when valid)."""
    where = f"{record.object}/{record.key}"
    obj = schema.object(record.object)
    if obj is None or obj.name != record.object:
        return [f"{where}: object not in schema"]
    problems = []
    for spec in obj.fields.values():
        if spec.required_on_create and record.values.get(spec.name) is None \
                and not (spec.name == "Name" and is_person_account(record)):   # the org composes it
            problems.append(f"{where}: required field {spec.name} missing")
    for name, value in record.values.items():
        spec = obj.fields.get(name)
        if spec is None:
            problems.append(f"{where}: unknown field {name}")
            continue
        if spec.system:
            problems.append(f"{where}: system field {name} in values")
            continue
        if value is None:
            if not spec.nillable:
                problems.append(f"{where}: {name} is null but not nillable")
            continue
        ftype = spec.type
        if ftype == "reference":
            if not isinstance(value, Ref):
                problems.append(f"{where}: {name} is not a Ref")
            elif value.object not in spec.reference_to:
                problems.append(f"{where}: {name} points at {value.object}, not {spec.reference_to}")
            elif (value.object, value.key) not in index:
                problems.append(f"{where}: {name} -> {value} does not resolve")
            continue
        if isinstance(value, Ref):
            problems.append(f"{where}: Ref in non-reference field {name}")
        elif ftype in ("string", "textarea", "email", "phone", "url", "picklist", "combobox",
                       "multipicklist"):
            if not isinstance(value, str):
                problems.append(f"{where}: {name} is not a string")
            elif len(value) > spec.length:
                problems.append(f"{where}: {name} longer than {spec.length}")
            elif ftype == "picklist" and value not in spec.picklist_values:
                problems.append(f"{where}: {name}={value!r} is not a picklist value")
            elif ftype == "email" and not re.match(r"^[^@\s]+@[^@\s]+\.[a-z]+$", value):
                problems.append(f"{where}: {name}={value!r} is not an email address")
            elif ftype == "url" and not value.startswith("https://"):
                problems.append(f"{where}: {name}={value!r} is not a URL")
        elif ftype == "boolean":
            if not isinstance(value, bool):
                problems.append(f"{where}: {name} is not a boolean")
        elif ftype in NUMBER_TYPES:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                problems.append(f"{where}: {name} is not a number")
            elif ftype == "int" and not isinstance(value, int):
                problems.append(f"{where}: {name} is not an int")
            elif spec.precision and abs(value) >= 10 ** (spec.precision - spec.scale):
                problems.append(f"{where}: {name}={value} exceeds precision {spec.precision}")
            elif round(value, spec.scale) != value:
                problems.append(f"{where}: {name}={value} exceeds scale {spec.scale}")
        elif ftype == "date":
            if not isinstance(value, str) or not _DATE_RE.match(value):
                problems.append(f"{where}: {name}={value!r} is not YYYY-MM-DD")
            else:
                date.fromisoformat(value)
        elif ftype == "datetime":
            if not isinstance(value, str) or not _DATETIME_RE.match(value):
                problems.append(f"{where}: {name}={value!r} is not a Salesforce datetime")
            else:
                datetime.strptime(value, "%Y-%m-%dT%H:%M:%S.000+0000")
        elif ftype == "base64":
            if not isinstance(value, Generated) or value.facts()[0] <= 0:
                problems.append(f"{where}: {name} is not a generated file")
        else:
            problems.append(f"{where}: unexpected field type {ftype} for {name}")
    return problems


def seed_problems(seed: Seed) -> list[str]:
    """Every schema violation of ``seed`` (empty when the seed is valid)."""
    schema = load_schema(seed.schema_document)
    keys = Counter((r.object, r.key) for r in seed.records)
    problems = [f"duplicate key {k}" for k, n in keys.items() if n > 1]
    index = by_key(seed)
    for record in seed.records:
        problems.extend(_value_problems(schema, record, index))
    for obj in schema.objects.values():
        for spec in obj.fields.values():
            if not spec.unique:
                continue
            seen = Counter(r.values[spec.name] for r in records_of(seed, obj.name)
                           if r.values.get(spec.name) is not None)
            problems.extend(f"{obj.name}.{spec.name} {v!r} used {n} times" for v, n in seen.items() if n > 1)
    return problems


def natural(index: dict[tuple[str, str], SeedRecord], value: Any) -> Any:
    """A value with Refs replaced by an org-independent key (external id, email, developer name)."""
    if not isinstance(value, Ref):
        return value
    target = index[(value.object, value.key)]
    if value.object == "Account":
        return ("Account", target.values.get("External_Id__c"))
    if value.object in ("Contact", "User"):
        return (value.object, target.values["Email"])
    if value.object == "RecordType":
        return ("RecordType", target.values["SobjectType"], target.values["DeveloperName"])
    return value


def natural_values(seed: Seed, record: SeedRecord) -> dict[str, Any]:
    """A record's values as they compare across orgs (see :func:`natural`)."""
    index = by_key(seed)
    return {name: natural(index, value) for name, value in record.values.items()}


def account_depth(index: dict[tuple[str, str], SeedRecord], record: SeedRecord) -> int:
    """1 for a top-level account, 2 for its child, and so on."""
    depth = 1
    while (parent := record.values.get("ParentId")) is not None:
        record = index[("Account", parent.key)]
        depth += 1
        assert depth < 10, "ParentId cycle"
    return depth


# ------------------------------------------------------------------ every seed


@pytest.mark.parametrize("name", SEED_NAMES)
def test_schema_document_loads(name: str) -> None:
    schema = load_schema(seed_named(name).schema_document)
    for obj in ("Organization", "User", "RecordType", "Account", "Contact", "Opportunity", "Case",
                "Project__c", "Project_Task__c"):
        assert schema.object(obj) is not None


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_record_fits_the_schema(name: str) -> None:
    assert seed_problems(seed_named(name)) == []


@pytest.mark.parametrize("name", SEED_NAMES)
def test_org_row_users_and_record_types(name: str) -> None:
    seed = seed_named(name)
    orgs = records_of(seed, "Organization")
    assert len(orgs) == 1
    org = orgs[0].values
    assert (org["Name"], org["IsSandbox"], org["OrganizationType"]) == (
        seed.org_name, seed.is_sandbox, seed.org_type)
    users = {r.key: r for r in records_of(seed, "User")}
    assert seed.api_user in users
    assert 5 <= len(users) <= 7
    schema = load_schema(seed.schema_document)
    declared = {(o.name, rt) for o in schema.objects.values() for rt in o.record_types}
    present = {(r.values["SobjectType"], r.values["DeveloperName"]) for r in records_of(seed, "RecordType")}
    assert declared == present


@pytest.mark.parametrize("name", SEED_NAMES)
def test_automation_is_tooling_shaped(name: str) -> None:
    seed = seed_named(name)
    for rule in seed.validation_rules:
        assert set(rule) == {"ValidationName", "EntityDefinitionId", "Active", "ErrorMessage",
                             "ErrorDisplayField", "ErrorConditionFormula", "Description"}
    for trigger in seed.triggers:
        assert set(trigger) == {"Name", "TableEnumOrId", "Status", "UsageBeforeInsert",
                                "UsageAfterInsert", "UsageBeforeUpdate", "UsageAfterUpdate", "Body",
                                "FailCondition", "FailMessage"}
        assert trigger["Status"] in ("Active", "Inactive")
        assert trigger["Body"].startswith(f"trigger {trigger['Name']} on {trigger['TableEnumOrId']} (")
    for flow in seed.flows:
        assert set(flow) == {"DeveloperName", "MasterLabel", "ProcessType", "TriggerType",
                             "TriggerObject", "TriggerOn", "Active", "FailCondition", "FailMessage"}
        assert flow["TriggerType"] in ("RecordBeforeSave", "RecordAfterSave")
        assert flow["TriggerOn"] in ("Create", "Update", "CreateAndUpdate")


@pytest.mark.parametrize("name", SEED_NAMES)
def test_build_is_deterministic(name: str) -> None:
    """(How long a build takes is a figure of benchmarks/seed_build.py, not a timed test.)"""
    assert build_seed(name) == build_seed(name)


def test_unknown_seed_names_the_known_ones() -> None:
    with pytest.raises(ValueError) as info:
        build_seed("prod")
    for name in SEED_NAMES:
        assert name in str(info.value)


# ------------------------------------------------------------------ demo-source


def test_source_counts() -> None:
    seed = seed_named("demo-source")
    counts = Counter(r.object for r in seed.records)
    assert 2500 <= len(seed.records) <= 3500
    assert 270 <= counts["Account"] <= 330
    assert 800 <= counts["Contact"] <= 1000
    assert 540 <= counts["Opportunity"] <= 660
    assert 360 <= counts["Case"] <= 440
    assert 70 <= counts["Project__c"] <= 90
    assert 350 <= counts["Project_Task__c"] <= 450
    assert (seed.org_type, seed.is_sandbox) == ("Enterprise Edition", False)
    assert seed.records[0].values["Name"] == "Acme Corp"


def test_source_users() -> None:
    seed = seed_named("demo-source")
    users = {r.key: r.values for r in records_of(seed, "User")}
    assert users[seed.api_user]["Username"] == "integration@acme.demo"
    assert all(u["Username"].endswith("@acme.demo") for u in users.values())


def test_source_account_hierarchy_and_external_ids() -> None:
    seed = seed_named("demo-source")
    accounts = [a for a in records_of(seed, "Account") if not is_person_account(a)]
    index = by_key(seed)
    depths = Counter(account_depth(index, a) for a in accounts)
    assert set(depths) == {1, 2, 3}
    assert all(re.fullmatch(r"ACC-\d{5}", a.values["External_Id__c"]) for a in accounts)
    assert len({a.values["OwnerId"].key for a in accounts}) >= 3
    assert {a.values["RecordTypeId"].key for a in accounts} == {"Account.Customer", "Account.Partner"}


def test_source_contacts() -> None:
    seed = seed_named("demo-source")
    index = by_key(seed)
    contacts = records_of(seed, "Contact")
    emails = [c.values["Email"] for c in contacts]
    assert len(emails) == len(set(emails))
    assert all("AccountId" in c.values for c in contacts)
    reporting = [c for c in contacts if "ReportsToId" in c.values]
    assert len(reporting) > 100
    for contact in reporting:
        manager = index[("Contact", contact.values["ReportsToId"].key)]
        assert manager.values["AccountId"] == contact.values["AccountId"]
    # chains: someone's manager has a manager too
    assert any("ReportsToId" in index[("Contact", c.values["ReportsToId"].key)].values for c in reporting)


def test_source_primary_contact_cycle() -> None:
    seed = seed_named("demo-source")
    index = by_key(seed)
    accounts = records_of(seed, "Account")
    with_primary = [a for a in accounts if "Primary_Contact__c" in a.values]
    assert 0.5 <= len(with_primary) / len(accounts) <= 0.7
    for account in with_primary:
        contact = index[("Contact", account.values["Primary_Contact__c"].key)]
        assert contact.values["AccountId"] == Ref("Account", account.key)


def test_source_contact_phone_rule_would_fire_for_some() -> None:
    seed = seed_named("demo-source")
    contacts = records_of(seed, "Contact")
    breaking = [c for c in contacts if not c.values.get("Phone")]
    assert 0.02 <= len(breaking) / len(contacts) <= 0.08
    rule = next(r for r in seed.validation_rules if r["ValidationName"] == "Contact_Phone_Required")
    assert rule["Active"] is False


def test_source_cases_projects_and_tasks() -> None:
    seed = seed_named("demo-source")
    index = by_key(seed)
    cases = records_of(seed, "Case")
    assert sum("ParentId" in c.values for c in cases) >= 10
    assert sum("ContactId" in c.values for c in cases) >= 0.8 * len(cases)
    for case in cases:
        if "ContactId" in case.values:
            contact = index[("Contact", case.values["ContactId"].key)]
            assert contact.values["AccountId"] == case.values["AccountId"]
    assert len({c.values["CaseNumber"] for c in cases}) == len(cases)
    tasks = records_of(seed, "Project_Task__c")
    depending = [t for t in tasks if "Depends_On__c" in t.values]
    assert len(depending) >= 50
    for task in depending:
        other = index[("Project_Task__c", task.values["Depends_On__c"].key)]
        assert other.values["Project__c"] == task.values["Project__c"]
    assert any("Depends_On__c" in index[("Project_Task__c", t.values["Depends_On__c"].key)].values
               for t in depending)


def test_source_data_satisfies_source_automation() -> None:
    seed = seed_named("demo-source")
    active_rules = {r["ValidationName"] for r in seed.validation_rules if r["Active"]}
    assert active_rules == {"Partner_Website_Required", "Closed_Case_Requires_Description"}
    for account in records_of(seed, "Account"):
        assert not (account.values.get("Type") == "Technology Partner" and not account.values.get("Website"))
    for case in records_of(seed, "Case"):
        assert not (case.values["Status"] == "Closed" and not case.values.get("Description"))
    triggers = {t["Name"]: t for t in seed.triggers}
    assert triggers["CaseTrigger"]["Status"] == "Active"
    assert triggers["CaseTrigger"]["FailCondition"] is None
    assert [f["Active"] for f in seed.flows if f["TriggerObject"] == "Opportunity"] == [True]


# ------------------------------------------------------------------ demo-target


def test_target_org_and_schema_differences() -> None:
    seed = seed_named("demo-target")
    assert (seed.org_name, seed.org_type, seed.is_sandbox) == ("Acme Corp UAT", "Enterprise Edition", True)
    schema = load_schema(seed.schema_document)
    account = schema.object("Account")
    assert account.field("Customer_Tier__c") is None
    tier = account.field("acme__Customer_Tier__c")      # the source's field, namespaced
    assert (tier.label, tier.type) == ("Customer Tier", "picklist")
    region = account.field("Region__c")                 # target-only, required, with a default
    assert (region.nillable, region.defaulted_on_create, region.default_value) == (False, True, "Global")
    revenue = account.field("AnnualRevenue")
    assert (revenue.createable, revenue.updateable) == (False, False)
    assert load_schema(seed_named("demo-source").schema_document).object("Account").field(
        "Customer_Tier__c") is not None
    assert schema.object("Case").record_types == ["Product_Support", "Billing"]     # Support, renamed
    case_type = schema.object("Case").field("Type")
    assert case_type.restricted_picklist and "Electronics" in case_type.picklist_values
    assert "Electronic" not in case_type.picklist_values


def test_target_users_and_record_types() -> None:
    source, target = seed_named("demo-source"), seed_named("demo-target")
    source_users = {r.values["Email"]: r.values for r in records_of(source, "User")}
    target_users = {r.values["Email"]: r.values for r in records_of(target, "User")}
    assert set(target_users) < set(source_users)
    assert len(source_users) - len(target_users) == 1
    for email, values in target_users.items():
        assert values["Username"] == source_users[email]["Username"] + ".uat"
    assert by_key(target)[("User", target.api_user)].values["Username"] == "integration@acme.demo.uat"
    def record_types(seed: Seed) -> set[tuple[str, str]]:
        return {(r.values["SobjectType"], r.values["DeveloperName"]) for r in records_of(seed, "RecordType")}

    assert record_types(source) - record_types(target) == {("Case", "Support")}
    assert record_types(target) - record_types(source) == {("Case", "Product_Support")}    # the one rename


def test_person_accounts_in_the_demo_orgs() -> None:
    source, target = seed_named("demo-source"), seed_named("demo-target")
    people = [a for a in records_of(source, "Account") if is_person_account(a)]
    assert len(people) == 20
    for person in people:    # created as an org takes a person account: name and Person* fields, never Name
        assert "Name" not in person.values and person.values["LastName"] and person.values["FirstName"]
        assert re.fullmatch(r"PA-\d{5}", person.values["External_Id__c"]) and "@" in person.values["PersonEmail"]
        assert person.values["PersonMailingCity"] and not {"Type", "ParentId", "Industry"} & set(person.values)
    on_people = [c for c in records_of(source, "Case")
                 if c.values.get("ContactId", Ref("", "")).key.startswith("pacc-")]
    assert len(on_people) >= 10
    assert all(c.values["ContactId"].key == c.values["AccountId"].key for c in on_people)
    assert all(c.values["RecordTypeId"].key == "Case.Billing" for c in on_people)   # a record type both orgs have
    # the target holds six of them (three changed since) and two of its own
    by_ext = {p.values["External_Id__c"]: p for p in people}
    theirs = [a for a in records_of(target, "Account") if is_person_account(a)]
    copies = [a for a in theirs if a.values["External_Id__c"] in by_ext]
    changed = [a for a in copies
               if natural_values(target, a) != natural_values(source, by_ext[a.values["External_Id__c"]])]
    assert (len(theirs), len(copies), len(changed)) == (8, 6, 3)
    for copy in changed:
        twin = natural_values(source, by_ext[copy.values["External_Id__c"]])
        diff = {k for k, v in natural_values(target, copy).items() if twin.get(k) != v}
        assert diff and diff <= {"PersonMailingCity", "PersonMobilePhone"}, diff
    # an org without Person Accounts leaves its person accounts out
    plain = build_seed("demo-source", overrides={"person_accounts": False})
    assert not [a for a in records_of(plain, "Account") if is_person_account(a)]
    assert "IsPersonAccount" not in plain.schema_document["objects"]["Account"]["fields"]
    assert seed_problems(plain) == []


def test_target_overlap_accounts() -> None:
    source, target = seed_named("demo-source"), seed_named("demo-target")
    source_by_ext = {a.values["External_Id__c"]: a for a in records_of(source, "Account")}
    existing, updated, target_only = [], [], []
    for account in records_of(target, "Account"):
        if is_person_account(account):
            continue    # test_person_accounts_in_the_demo_orgs
        twin = source_by_ext.get(account.values.get("External_Id__c"))
        if twin is None:
            target_only.append(account)
            continue
        assert account.key != twin.key  # the target has its own keys
        expected = natural_values(source, twin)
        if "Customer_Tier__c" in expected:     # the target has it under its namespaced name
            expected["acme__Customer_Tier__c"] = expected.pop("Customer_Tier__c")
        actual = natural_values(target, account)
        if actual == expected:
            existing.append(account)
        else:
            changed = {k for k in expected.keys() | actual.keys() if expected.get(k) != actual.get(k)}
            assert changed and changed <= {"Phone", "Industry"}, changed
            updated.append(account)
    assert 35 <= len(existing) <= 45
    assert 20 <= len(updated) <= 30
    assert 25 <= len(target_only) <= 35
    assert all(a.key.startswith("uat-") for a in records_of(target, "Account"))


def test_target_contacts_overlap_by_email_and_satisfy_phone_rule() -> None:
    source, target = seed_named("demo-source"), seed_named("demo-target")
    source_emails = {c.values["Email"] for c in records_of(source, "Contact")}
    contacts = records_of(target, "Contact")
    shared = [c for c in contacts if c.values["Email"] in source_emails]
    assert 100 <= len(shared) < len(contacts)
    assert all(c.values.get("Phone") for c in contacts)
    rule = next(r for r in target.validation_rules if r["ValidationName"] == "Contact_Phone_Required")
    assert rule == {
        "ValidationName": "Contact_Phone_Required", "EntityDefinitionId": "Contact", "Active": True,
        "ErrorMessage": "Phone is required for every contact.", "ErrorDisplayField": "Phone",
        "ErrorConditionFormula": "ISBLANK(Phone)", "Description": rule["Description"],
    }


def test_target_automation_differs() -> None:
    source, target = seed_named("demo-source"), seed_named("demo-target")
    triggers = {t["Name"]: t for t in target.triggers}
    assert triggers["CaseTrigger"]["Status"] == "Inactive"
    guard = next(t for t in target.triggers if t["TableEnumOrId"] == "Opportunity")
    assert guard["Status"] == "Active" and guard["FailCondition"] and guard["FailMessage"]
    assert "Closed Won" in guard["FailCondition"]
    # The guard's condition (won without an account) is false for every source opportunity.
    for opp in records_of(source, "Opportunity"):
        assert not (opp.values["StageName"] == "Closed Won" and "AccountId" not in opp.values)
    assert [f["Active"] for f in target.flows if f["TriggerObject"] == "Opportunity"] == [False]
    assert {f["DeveloperName"] for f in source.flows} == {f["DeveloperName"] for f in target.flows}


# ------------------------------------------------------------------ empty and overrides


def test_empty_seed() -> None:
    seed = seed_named("empty")
    assert set(Counter(r.object for r in seed.records)) == {"Organization", "Profile", "User", "Group", "QueueSobject",
                                                            "RecordType"}
    assert (seed.validation_rules, seed.triggers, seed.flows) == ([], [], [])
    source_users = [r.values for r in records_of(seed_named("demo-source"), "User")]
    assert [r.values for r in records_of(seed, "User")] == source_users


def test_overrides_prune_records() -> None:
    seed = build_seed("demo-source", overrides={
        "remove_fields": ["Account.Rating", "Contact.ReportsToId"],
        "remove_objects": ["Project_Task__c"],
        "field_flags": {"Contact.Email": {"updateable": False}},
        "remove_record_types": ["Case.Support"],
    })
    assert seed_problems(seed) == []
    schema = load_schema(seed.schema_document)
    assert schema.object("Project_Task__c") is None
    assert schema.object("Contact").field("Email").updateable is False
    assert not records_of(seed, "Project_Task__c")
    assert all("Rating" not in a.values for a in records_of(seed, "Account"))
    assert all("ReportsToId" not in c.values for c in records_of(seed, "Contact"))
    assert all(c.values.get("RecordTypeId") != Ref("RecordType", "Case.Support") for c in records_of(seed, "Case"))
    # the target keeps its own overrides under the caller's
    target = build_seed("demo-target", overrides={"remove_fields": ["Account.Rating"]})
    account = load_schema(target.schema_document).object("Account")
    assert account.field("Rating") is None and account.field("Customer_Tier__c") is None
    assert seed_problems(target) == []


def test_override_naming_an_unknown_field_is_a_value_error() -> None:
    with pytest.raises(ValueError):
        build_seed("demo-target", overrides={"field_flags": {"Account.Customer_Tier__c": {"updateable": False}}})
