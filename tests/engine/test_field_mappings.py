"""Fields whose API names differ between the orgs, through the real client against the sandbox: a field
renamed or namespaced on the target is carried from its source field (a lookup too, resolved through the id
map), records match through a mapped key, a constant fills a target-only required field on insert, types that
cannot meet are refused when the plan is built, and rollback restores the mapped target field."""

from __future__ import annotations

import pytest

from isyncsf_desktop.engine.lifecycle import RecordStatus
from isyncsf_desktop.engine.plan import build_plan
from isyncsf_desktop.engine.template import TemplateError, parse_template
from isyncsf_desktop.sandbox.seeds import build_seed

RENAMED = {"Account.External_Id__c": "acme__External_Id__c", "Account.Customer_Tier__c": "acme__Customer_Tier__c",
           "Account.Primary_Contact__c": "Main_Contact__c"}
REGION = {"Account.Region__c": {"type": "string", "label": "Region", "length": 20, "required": True}}
ACCOUNTS = {"object": "Account", "fields": ["Name", "External_Id__c", "Customer_Tier__c", "Primary_Contact__c"],
            "match_by": ["External_Id__c"]}
CONTACTS = {"object": "Contact", "fields": ["LastName", "Email"], "match_by": ["Email"]}
FIELD_MAPPINGS = {"Account": {"map": {"External_Id__c": "acme__External_Id__c",
                                      "Customer_Tier__c": "acme__Customer_Tier__c",
                                      "Primary_Contact__c": "Main_Contact__c"},
                              "constants": {"Region__c": "EMEA"}}}


def template(fields: dict | None = FIELD_MAPPINGS, objects: list[dict] | None = None) -> dict:
    out: dict = {"name": "fields", "options": {"continue_on_error": True},
                 "objects": objects or [ACCOUNTS, CONTACTS]}
    if fields is not None:
        out["mappings"] = {"fields": fields}
    return out


def namespaced_pair(make_pair):
    return make_pair("empty", build_seed("empty", overrides={"rename_fields": RENAMED, "add_fields": REGION}))


def target_accounts(pair) -> dict[str, dict]:
    return {r["acme__External_Id__c"]: r for r in pair.rows(
        "tgt", "SELECT Id, acme__External_Id__c, acme__Customer_Tier__c, Main_Contact__c, Region__c FROM Account")}


def test_renamed_and_namespaced_fields_are_carried_matched_and_rolled_back(make_pair) -> None:
    pair = namespaced_pair(make_pair)
    [ann, bob] = pair.insert("src", "Contact", [{"LastName": "Ann", "Email": "ann@a.example"},
                                               {"LastName": "Bob", "Email": "bob@b.example"}])
    pair.insert("src", "Account", [
        {"Name": "Alpha", "External_Id__c": "A-1", "Customer_Tier__c": "Gold", "Primary_Contact__c": ann},
        {"Name": "Beta", "External_Id__c": "B-2", "Customer_Tier__c": "Platinum", "Primary_Contact__c": bob}])
    # Beta is on the target already (under the namespaced key), with another tier and its own region
    [beta] = pair.insert("tgt", "Account", [{"Name": "Beta", "acme__External_Id__c": "B-2",
                                             "acme__Customer_Tier__c": "Silver", "Region__c": "APAC"}])
    engine = pair.engine()
    job_id = engine.create_job(template())
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0, pair.journal.errors(job_id)
    assert (result.totals.inserted, result.totals.updated) == (3, 1)      # Alpha and both contacts; Beta
    contacts = {r["Email"]: r["Id"] for r in pair.rows("tgt", "SELECT Id, Email FROM Contact")}
    accounts = target_accounts(pair)
    assert accounts["B-2"]["Id"] == beta                                  # matched through the mapped key
    assert {k: (r["acme__Customer_Tier__c"], r["Main_Contact__c"], r["Region__c"]) for k, r in accounts.items()} == {
        "A-1": ("Gold", contacts["ann@a.example"], "EMEA"),                # the constant: on insert
        "B-2": ("Platinum", contacts["bob@b.example"], "APAC")}            # not on update
    again = engine.sync(engine.create_job(template()))                    # nothing changed: nothing sent
    assert (again.totals.inserted, again.totals.updated, again.totals.existing) == (0, 0, 4)

    rolled = engine.rollback(job_id)
    assert rolled.state == "Rollback Completed"
    after = target_accounts(pair)
    assert list(after) == ["B-2"]
    assert (after["B-2"]["acme__Customer_Tier__c"], after["B-2"]["Main_Contact__c"]) == ("Silver", None)


def test_without_the_mapping_the_namespaced_field_is_skipped_and_the_required_one_fails_inserts(make_pair) -> None:
    pair = namespaced_pair(make_pair)
    pair.insert("src", "Account", [{"Name": "Alpha", "External_Id__c": "A-1", "Customer_Tier__c": "Gold"}])
    engine = pair.engine()
    plan = engine.plan(engine.create_job(template(None, [dict(ACCOUNTS, match_by=["Name"])])))
    assert "Account.Customer_Tier__c does not exist in the target org; it is skipped" in plan.warnings
    assert "Account.Region__c is required in the target org but the template does not fill it" in plan.warnings


def test_a_constant_on_update_too_when_the_template_says_so(make_pair) -> None:
    pair = namespaced_pair(make_pair)
    pair.insert("src", "Account", [{"Name": "Beta", "External_Id__c": "B-2"}])
    [beta] = pair.insert("tgt", "Account", [{"Name": "Beta", "acme__External_Id__c": "B-2", "Region__c": "APAC"}])
    fields = {"Account": {**FIELD_MAPPINGS["Account"], "constants_on_update": True}}
    engine = pair.engine()
    result = engine.sync(engine.create_job(template(fields, [dict(ACCOUNTS, fields=["Name", "External_Id__c"])])))
    assert result.totals.updated == 1 and result.totals.errors == 0
    assert target_accounts(pair)["B-2"]["Region__c"] == "EMEA"


@pytest.mark.parametrize("fields, message", [
    ({"Account": {"map": {"Phone": "Main_Contact__c"}}},
     "Account: the field mapping Phone -> Main_Contact__c cannot be carried: a phone field cannot be carried into "
     "a reference field (a lookup takes only a lookup)"),
    ({"Account": {"map": {"Primary_Contact__c": "ParentId"}}},
     "Account: the field mapping Primary_Contact__c -> ParentId cannot be carried: the source lookup points at "
     "Contact but the target lookup at Account"),
    ({"Account": {"map": {"Customer_Tier__c": "Customer_Tier_2__c"}}},
     "Account: the field mapping Customer_Tier__c -> Customer_Tier_2__c names a field Account does not have in "
     "the target org"),
    ({"Account": {"map": {"Tier__c": "acme__Customer_Tier__c"}}},
     "Account: the field mapping Tier__c -> acme__Customer_Tier__c names a source field Account does not have"),
    ({"Account": {"constants": {"Territory__c": "EMEA"}}},
     "Account: the constant for Territory__c names a field Account does not have in the target org"),
    ({"Account": {"constants": {"AnnualRevenue": 5}}},
     "Account: the constant for AnnualRevenue: the target org's user cannot set Account.AnnualRevenue (on insert)"),
    ({"Account": {"constants": {"Region__c": "Europe, Middle East and Africa"}}},
     "Account: the constant for Region__c cannot be set: it holds 20 characters and the constant has 30"),
    ({"Account": {"constants": {"NumberOfEmployees": "many"}}},
     "Account: the constant for NumberOfEmployees cannot be set: it is a number (int) field, not text like 'many'"),
])
def test_mappings_that_cannot_work_are_refused_when_the_plan_is_built(make_pair, fields, message: str) -> None:
    target = build_seed("empty", overrides={"rename_fields": RENAMED, "add_fields": REGION,
                                            "field_flags": {"Account.AnnualRevenue": {"createable": False}}})
    pair = make_pair("empty", target)
    with pytest.raises(TemplateError) as info:
        build_plan(parse_template(template(fields)), pair.source, pair.target)
    assert str(info.value).startswith(message)


def test_retry_failed_takes_the_field_mappings_as_saved_now(make_pair) -> None:
    """Inserts fail on the target-only required field; the user maps the fields and sets the constant, and Retry
    Failed sends them with both (the job's plan is built again for it, and the job keeps what it applied)."""
    pair = namespaced_pair(make_pair)
    pair.insert("src", "Account", [{"Name": "Alpha", "External_Id__c": "A-1", "Customer_Tier__c": "Gold"}])
    lines = [dict(ACCOUNTS, fields=["Name", "External_Id__c", "Customer_Tier__c"], match_by=["Name"])]
    engine = pair.engine()
    job_id = engine.create_job(template(None, lines))
    first = engine.sync(job_id)
    assert first.totals.errors == 1
    assert [e.status_code for e in pair.journal.errors(job_id)] == ["REQUIRED_FIELD_MISSING"]
    fields = {"Account": {"map": {"External_Id__c": "acme__External_Id__c",
                                  "Customer_Tier__c": "acme__Customer_Tier__c"}, "constants": {"Region__c": "EMEA"}}}
    retried = engine.retry(job_id, current=parse_template(template(fields, lines)))
    assert retried.totals.inserted == 1 and retried.totals.errors == 0
    assert {k: (r["acme__Customer_Tier__c"], r["Region__c"]) for k, r in target_accounts(pair).items()} == {
        "A-1": ("Gold", "EMEA")}
    assert parse_template(pair.journal.job(job_id).template).field_mappings.as_json() == fields


def test_the_demo_orgs_meet_the_namespaced_field_and_the_mapping_carries_it(make_pair) -> None:
    """The demo target has the source's Account.Customer_Tier__c as acme__Customer_Tier__c: the check suggests
    the mapping, and with it (and a constant for the target-only Region__c) every tier arrives; accounts the
    target already had unchanged stay unchanged (their tier is there under the namespaced name)."""
    from isyncsf_desktop.engine.preflight import PERSON_ACCOUNTS, check_metadata

    pair = make_pair("demo-source", "demo-target")
    lines = [{"object": "Account", "fields": ["Name", "External_Id__c", "Phone", "Industry", "Customer_Tier__c"],
              "match_by": ["External_Id__c"]}]
    report = check_metadata(template(None, lines), pair.source, pair.target)
    # the demo orgs have person accounts, which this line cannot create (no record type, no last name)
    [people] = [f for f in report.findings if f.kind == PERSON_ACCOUNTS]
    assert people.data["affected"] == pair.source.count("Account", "IsPersonAccount = true") > 0
    assert "no RecordTypeId or LastName" in people.message
    lines[0]["fields"] += ["RecordTypeId", "FirstName", "LastName"]
    report = check_metadata(template(None, lines), pair.source, pair.target)
    assert not [f for f in report.findings if f.kind == PERSON_ACCOUNTS]
    [tier] = [f for f in report.findings if f.field == "Customer_Tier__c"]
    with_tier = pair.source.count("Account", "Customer_Tier__c != null")
    assert tier.message == (f"field missing on the target: Account.Customer_Tier__c ({with_tier} records in scope "
                            "have a value) — map to acme__Customer_Tier__c?")
    assert tier.data["suggested_mapping"]["target"] == "acme__Customer_Tier__c"
    assert not [f for f in report.findings if f.field == "Region__c"]      # it has a default: nothing fails

    engine = pair.engine()
    plain_job = engine.create_job(template(None, lines))
    plain = engine.sync(plain_job)
    assert plain.totals.errors == 0 and plain.totals.inserted > 0
    fields = {"Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"}, "constants": {"Region__c": "EMEA"}}}
    mapped = engine.sync(engine.create_job(template(fields, lines)))
    assert mapped.totals.errors == 0 and mapped.totals.inserted == 0
    # updated: only the accounts the plain run inserted without the tier they have; the accounts the target had
    # already carry theirs under the namespaced name
    tiers = {r["Id"]: r["Customer_Tier__c"] for r in pair.rows("src", "SELECT Id, Customer_Tier__c FROM Account")}
    inserted = [r.source_id for r in pair.journal.records(plain_job, "Account", [RecordStatus.INSERTED])]
    assert mapped.totals.updated == sum(1 for i in inserted if tiers[i]) > 0
    assert mapped.totals.existing == plain.totals.total - mapped.totals.updated
    assert {r["Region__c"] for r in pair.rows("tgt", "SELECT Region__c FROM Account")} == {"Global"}  # insert only
    source = {r["External_Id__c"]: r["Customer_Tier__c"] for r in pair.rows(
        "src", "SELECT External_Id__c, Customer_Tier__c FROM Account")}
    target = {r["External_Id__c"]: r["acme__Customer_Tier__c"] for r in pair.rows(
        "tgt", "SELECT External_Id__c, acme__Customer_Tier__c FROM Account WHERE External_Id__c != null")}
    assert all(target[ext] == tier for ext, tier in source.items())
