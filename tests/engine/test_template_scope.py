"""Template scope against two sandbox orgs: related subsets, delta sync, deleted records, skipped
transactional objects, sort order and record limit (issue 14)."""

from __future__ import annotations

import pytest

from isyncsf_desktop.engine.plan import build_plan
from isyncsf_desktop.engine.template import TemplateError, parse_template


def template(objects: list[dict], **options) -> dict:
    return {"name": "scope", "options": {"continue_on_error": True, "versioning": True, **options},
            "objects": objects}


def run_sync(pair, tmpl: dict):
    engine = pair.engine()
    job_id = engine.create_job(tmpl)
    return engine, job_id, engine.sync(job_id)


SUBSET = [
    {"object": "Account", "fields": ["Name", "External_Id__c", "Industry"], "filter": "Industry = 'Energy'"},
    {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"],
     "related_to": {"object": "Account"}},
    {"object": "Case", "fields": ["Subject", "ContactId"], "match_by": ["Subject"],
     "related_to": {"object": "Contact", "via": "ContactId"}},
]


def seed_subset(pair) -> None:
    """4 accounts (2 Energy), 3 contacts each, 2 cases per contact, and cases on accounts without a contact."""
    accounts = pair.insert("src", "Account", [
        {"Name": f"Acc{i}", "External_Id__c": f"A{i}", "Industry": "Energy" if i < 2 else "Banking"}
        for i in range(4)])
    contacts = pair.insert("src", "Contact", [
        {"LastName": f"C{a}{c}", "Email": f"c{a}{c}@x.test", "AccountId": accounts[a]}
        for a in range(4) for c in range(3)])
    pair.insert("src", "Contact", [{"LastName": "Orphan", "Email": "orphan@x.test"}])
    pair.insert("src", "Case", [{"Subject": f"Case{n}{k}", "ContactId": contact}
                                for n, contact in enumerate(contacts) for k in range(2)])
    # on a selected account but through AccountId, not through a selected contact: not part of the subset
    pair.insert("src", "Case", [{"Subject": "AccountOnly", "AccountId": accounts[0]}])


def test_three_level_related_subset_moves_exactly_the_related_records(pair):
    seed_subset(pair)
    engine, job_id, result = run_sync(pair, template(SUBSET))
    assert result.state == "Synced" and result.totals.errors == 0
    accounts = {r["Name"] for r in pair.rows("tgt", "SELECT Name FROM Account")}
    contacts = {r["LastName"] for r in pair.rows("tgt", "SELECT LastName FROM Contact")}
    cases = {r["Subject"] for r in pair.rows("tgt", "SELECT Subject FROM Case")}
    assert accounts == {"Acc0", "Acc1"}
    assert contacts == {f"C{a}{c}" for a in range(2) for c in range(3)}
    # contacts 0..5 belong to the Energy accounts
    assert cases == {f"Case{n}{k}" for n in range(6) for k in range(2)}
    assert result.totals.inserted == 2 + 6 + 12
    # the tree holds: every case points at a moved contact, every contact at a moved account
    target_contacts = {r["Id"]: r for r in pair.rows("tgt", "SELECT Id, AccountId FROM Contact")}
    target_accounts = {r["Id"] for r in pair.rows("tgt", "SELECT Id FROM Account")}
    assert {c["AccountId"] for c in target_contacts.values()} == target_accounts
    assert {r["ContactId"] for r in pair.rows("tgt", "SELECT ContactId FROM Case")} <= set(target_contacts)
    # the scan counted the same subset
    scan = engine.journal.runs(job_id)[0]
    assert scan.kind == "scan"
    assert {name: oc.total for name, oc in scan.counts.items()} == {"Account": 2, "Contact": 6, "Case": 12}


def test_related_subset_below_a_limited_parent_uses_its_ids(pair):
    seed_subset(pair)
    lines = [dict(SUBSET[0], limit=1, sort="Name DESC"), SUBSET[1], SUBSET[2]]
    _, _, result = run_sync(pair, template(lines))
    assert result.totals.errors == 0
    assert {r["Name"] for r in pair.rows("tgt", "SELECT Name FROM Account")} == {"Acc1"}
    assert {r["LastName"] for r in pair.rows("tgt", "SELECT LastName FROM Contact")} == {"C10", "C11", "C12"}
    assert len(pair.rows("tgt", "SELECT Id FROM Case")) == 6


def _boss_outside_the_subset(pair) -> None:
    """C00 (an Energy account's contact) reports to C20, a contact of a Banking account."""
    contacts = {r["LastName"]: r["Id"] for r in pair.rows("src", "SELECT Id, LastName FROM Contact")}
    pair.source.update([{"attributes": {"type": "Contact"}, "Id": contacts["C00"], "ReportsToId": contacts["C20"]}])


REPORTS_TO = [SUBSET[0], dict(SUBSET[1], fields=["LastName", "Email", "AccountId", "ReportsToId"]), SUBSET[2]]


def test_a_related_subset_brings_the_parents_its_records_point_at(pair):
    seed_subset(pair)
    _boss_outside_the_subset(pair)
    engine, job_id, result = run_sync(pair, template(REPORTS_TO))
    assert result.state == "Synced" and result.totals.errors == 0
    # C20 comes because C00 reports to C20, and Acc2 because C20 belongs to it; C20's cases do not
    # (parents are completed, not children)
    assert {r["Name"] for r in pair.rows("tgt", "SELECT Name FROM Account")} == {"Acc0", "Acc1", "Acc2"}
    contacts = {r["LastName"]: r for r in pair.rows("tgt", "SELECT Id, LastName, AccountId, ReportsToId FROM Contact")}
    assert set(contacts) == {f"C{a}{c}" for a in range(2) for c in range(3)} | {"C20"}
    assert contacts["C00"]["ReportsToId"] == contacts["C20"]["Id"]
    acc2 = pair.rows("tgt", "SELECT Id FROM Account WHERE Name = 'Acc2'")[0]["Id"]
    assert contacts["C20"]["AccountId"] == acc2
    assert len(pair.rows("tgt", "SELECT Id FROM Case")) == 12
    scan = engine.journal.runs(job_id)[0]
    assert {name: oc.total for name, oc in scan.counts.items()} == {"Account": 3, "Contact": 7, "Case": 12}


def test_an_excluded_parent_relationship_is_not_followed_and_left_empty(pair):
    seed_subset(pair)
    _boss_outside_the_subset(pair)
    lines = [REPORTS_TO[0], dict(REPORTS_TO[1], exclude_parents=["reportstoid"]), REPORTS_TO[2]]
    engine, job_id, result = run_sync(pair, template(lines))
    assert result.state == "Synced" and result.totals.errors == 0
    assert {r["Name"] for r in pair.rows("tgt", "SELECT Name FROM Account")} == {"Acc0", "Acc1"}
    contacts = {r["LastName"]: r for r in pair.rows("tgt", "SELECT LastName, ReportsToId FROM Contact")}
    assert "C20" not in contacts and contacts["C00"]["ReportsToId"] is None
    assert parse_template(template(lines)).as_json()["objects"][1]["exclude_parents"] == ["reportstoid"]
    assert engine.plan(job_id).objects["Contact"].exclude_parents == ["ReportsToId"]
    with pytest.raises(TemplateError, match="exclude_parents names Phone, which is not a lookup field of Contact"):
        build_plan(parse_template(template([SUBSET[0], dict(SUBSET[1], exclude_parents=["Phone"])])),
                   pair.source, pair.target)


def test_related_to_needs_a_lookup_and_a_line(pair):
    with pytest.raises(TemplateError, match="not a line of the template"):
        parse_template(template([{"object": "Contact", "related_to": "Account"}]))
    plan_template = parse_template(template([{"object": "Account"}, {"object": "Project__c"},
                                             {"object": "Contact", "related_to": {"object": "Project__c"}}]))
    with pytest.raises(TemplateError, match="no lookup leads from Contact to Project__c"):
        build_plan(plan_template, pair.source, pair.target)
    with pytest.raises(TemplateError, match="circle"):
        parse_template(template([{"object": "Account", "related_to": "Contact"},
                                 {"object": "Contact", "related_to": "Account"}]))


def test_delta_sync_touches_only_the_changed_records(pair):
    ids = pair.insert("src", "Account", [{"Name": f"Acc{i:03d}", "External_Id__c": f"A{i}", "Phone": "1"}
                                         for i in range(450)])
    # the target holds many more records than the change: a full read would take three pages
    pair.insert("tgt", "Account", [{"Name": f"Other{i}", "External_Id__c": f"T{i}"} for i in range(4200)])
    tmpl = template([{"object": "Account", "fields": ["Name", "External_Id__c", "Phone"]}], delta_sync=True)
    _, _, first = run_sync(pair, tmpl)
    assert first.totals.inserted == 450
    changed = ids[10:17]
    pair.source.update([{"attributes": {"type": "Account"}, "Id": i, "Phone": "2"} for i in changed])

    engine = pair.engine()
    job_id = engine.create_job(tmpl)
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0
    assert (result.totals.updated, result.totals.inserted, result.totals.existing) == (7, 0, 0)
    assert engine.journal.runs(job_id)[0].counts["Account"].total == 7   # the scan counted the delta
    phones = {r["External_Id__c"]: r["Phone"] for r in pair.rows("tgt", "SELECT External_Id__c, Phone FROM Account")}
    assert {k for k, v in phones.items() if v == "2"} == {f"A{i}" for i in range(10, 17)}
    # each org: two describes for the plan; source: one COUNT() for the scan and one query that returns
    # the 7 records (not 450), and one read of the person accounts earlier runs copied, for the person contact
    # map (the orgs have Person Accounts); target: one read of the 7 records (not 4,650), one update call of 7
    assert engine.source.api_calls == 4 + 1, engine.source.api_calls
    assert engine.target.api_calls == 4, engine.target.api_calls


def test_since_overrides_the_last_sync_date_and_deletions_are_not_propagated(pair):
    ids = pair.insert("src", "Account", [{"Name": f"Acc{i}", "External_Id__c": f"A{i}"} for i in range(3)])
    tmpl = template([{"object": "Account", "fields": ["Name", "External_Id__c"]}], delta_sync=True)
    run_sync(pair, tmpl)
    pair.source.delete([ids[0]])
    _, _, again = run_sync(pair, tmpl)
    assert again.totals.processed == 0
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 3   # the source's deletion is not copied
    _, _, forced = run_sync(pair, dict(tmpl, options=dict(tmpl["options"], since="2000-01-01")))
    assert forced.totals.existing == 2 and forced.totals.processed == 2


def test_include_deleted_copies_recycle_bin_records_as_live_records(pair):
    ids = pair.insert("src", "Account", [{"Name": f"Acc{i}", "External_Id__c": f"A{i}"} for i in range(3)])
    pair.source.delete([ids[0]])
    _, _, without = run_sync(pair, template([{"object": "Account", "fields": ["Name", "External_Id__c"]}]))
    assert without.totals.inserted == 2
    _, _, result = run_sync(pair, template([{"object": "Account", "fields": ["Name", "External_Id__c"]}],
                                           include_deleted=True))
    assert result.totals.inserted == 1 and result.totals.existing == 2
    rows = pair.rows("tgt", "SELECT Name, IsDeleted FROM Account")
    assert sorted(r["Name"] for r in rows) == ["Acc0", "Acc1", "Acc2"] and not any(r["IsDeleted"] for r in rows)


def test_skip_transactional_objects_leaves_cases_out(pair):
    pair.insert("src", "Account", [{"Name": "Acme", "External_Id__c": "A"}])
    pair.insert("src", "Case", [{"Subject": "Broken"}])
    engine, job_id, result = run_sync(pair, template(
        [{"object": "Account", "fields": ["Name", "External_Id__c"]},
         {"object": "Case", "fields": ["Subject"], "match_by": ["Subject"]}], skip_transactional=True))
    assert result.totals.inserted == 1
    assert engine.plan(job_id).order == ["Account"]
    assert any("Case is transactional" in w for w in engine.plan(job_id).warnings)
    assert pair.rows("tgt", "SELECT Id FROM Case") == []


def test_sort_and_limit_pick_the_records(pair):
    pair.insert("src", "Account", [{"Name": f"Acc{i}", "External_Id__c": f"A{i}"} for i in range(5)])
    _, _, result = run_sync(pair, template([{"object": "Account", "fields": ["Name", "External_Id__c"],
                                             "sort": "Name DESC", "limit": 2}]))
    assert result.totals.inserted == 2
    assert sorted(r["Name"] for r in pair.rows("tgt", "SELECT Name FROM Account")) == ["Acc3", "Acc4"]


def test_bad_sort_is_refused_with_the_orgs_words(pair):
    with pytest.raises(TemplateError, match="sort must be"):
        parse_template(template([{"object": "Account", "sort": "Name; DROP"}]))
    engine = pair.engine()
    job_id = engine.create_job(template([{"object": "Account", "sort": "NoSuchField__c"}]))
    with pytest.raises(TemplateError, match="sort order is not valid SOQL"):
        engine.plan(job_id)


def test_templates_written_before_parse_and_save_unchanged():
    old = {"name": "old", "objects": [{"object": "Account", "fields": ["Name"], "limit": 5,
                                       "insert": True, "update": True}]}
    parsed = parse_template(old)
    assert parsed.as_json()["objects"] == old["objects"]
    assert not parsed.delta_sync and not parsed.include_deleted and not parsed.skip_transactional
