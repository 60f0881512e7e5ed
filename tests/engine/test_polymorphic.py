"""Polymorphic lookups (Task.WhatId, Task.WhoId, Note.ParentId) through the real client: the parent's type
comes from the record's id (its key prefix), a parent of any type in the run is found, also when the order
writes it after the child, a parent outside the run is found on the target by its object's match key, and a
parent that cannot be found fails the record naming its real object and id."""

from __future__ import annotations

import pytest

from helpers import org_ref

ACCOUNT = {"object": "Account", "fields": ["Name", "External_Id__c"], "match_by": ["External_Id__c"]}
CONTACT = {"object": "Contact", "fields": ["LastName", "Email"], "match_by": ["Email"]}
OPPORTUNITY = {"object": "Opportunity", "fields": ["Name", "StageName", "CloseDate", "AccountId"]}
CASE = {"object": "Case", "fields": ["Subject", "Status"], "match_by": ["Subject"]}
TASK = {"object": "Task", "fields": ["Subject", "Status", "Priority", "WhatId", "WhoId"], "match_by": ["Subject"]}


def template(objects: list[dict], **extra) -> dict:
    return {"name": "poly", "options": {"continue_on_error": True}, "objects": objects, **extra}


def run_sync(pair, tmpl: dict):
    engine = pair.engine()
    job_id = engine.create_job(tmpl)
    return engine, job_id, engine.sync(job_id)


def id_map(pair) -> dict[str, str]:
    return pair.journal.id_map(org_ref(pair.server, "src").org_id, org_ref(pair.server, "tgt").org_id)


def target_tasks(pair) -> dict[str, dict]:
    return {r["Subject"]: r for r in pair.rows("tgt", "SELECT Id, Subject, WhatId, WhoId FROM Task")}


@pytest.fixture
def parents(pair) -> dict[str, str]:
    """One source record of each parent type a Task may point at."""
    account = pair.insert("src", "Account", [{"Name": "Acme", "External_Id__c": "ACME"}])[0]
    return {
        "account": account,
        "contact": pair.insert("src", "Contact", [{"LastName": "Doe", "Email": "doe@acme.test"}])[0],
        "opportunity": pair.insert("src", "Opportunity", [{"Name": "Big deal", "StageName": "Prospecting",
                                                          "CloseDate": "2030-01-01", "AccountId": account}])[0],
        "case": pair.insert("src", "Case", [{"Subject": "Broken pump", "Status": "New"}])[0],
    }


def add_tasks(pair, parents: dict[str, str]) -> None:
    pair.insert("src", "Task", [
        {"Subject": "Call Acme", "WhatId": parents["account"], "WhoId": parents["contact"]},
        {"Subject": "Send quote", "WhatId": parents["opportunity"]},
        {"Subject": "Fix pump", "WhatId": parents["case"], "WhoId": parents["contact"]},
    ])


def test_task_what_on_account_opportunity_and_case_and_who_on_contact_in_one_run(pair, parents):
    add_tasks(pair, parents)
    _, _, result = run_sync(pair, template([ACCOUNT, CONTACT, OPPORTUNITY, CASE, TASK]))
    assert result.state == "Synced" and result.totals.errors == 0, pair.journal.errors(result.job_id)
    ids = id_map(pair)
    tasks = target_tasks(pair)
    assert tasks["Call Acme"]["WhatId"] == ids[parents["account"]]
    assert tasks["Call Acme"]["WhoId"] == ids[parents["contact"]]
    assert tasks["Send quote"]["WhatId"] == ids[parents["opportunity"]]
    assert tasks["Fix pump"]["WhatId"] == ids[parents["case"]] and tasks["Fix pump"]["WhoId"] == ids[parents["contact"]]
    # each went to a record of its own type
    assert [ids[parents[k]][:3] for k in ("account", "opportunity", "case")] == ["001", "006", "500"]


def test_a_parent_the_order_writes_after_the_task_is_set_in_the_second_pass(pair, parents):
    """Case comes after Task in the order: WhatId is deferred, and the second pass sets it, to a Case of the
    run or to one its line's filter leaves out that the target has (found by the line's match key)."""
    add_tasks(pair, parents)
    old = pair.insert("src", "Case", [{"Subject": "Old pump", "Status": "Closed"}])[0]
    old_on_target = pair.insert("tgt", "Case", [{"Subject": "Old pump", "Status": "Closed"}])[0]
    pair.insert("src", "Task", [{"Subject": "Recall old pump", "WhatId": old}])
    tmpl = template([ACCOUNT, CONTACT, OPPORTUNITY, {**CASE, "filter": "Status = 'New'"}, TASK],
                    order=["Account", "Contact", "Opportunity", "Task", "Case"])
    engine, job_id, result = run_sync(pair, tmpl)
    assert result.state == "Synced" and result.totals.errors == 0, pair.journal.errors(job_id)
    assert any("Task.WhatId points at Case" in w for w in engine.plan(job_id).warnings)
    ids = id_map(pair)
    tasks = target_tasks(pair)
    assert tasks["Fix pump"]["WhatId"] == ids[parents["case"]]
    assert tasks["Recall old pump"]["WhatId"] == old_on_target
    assert tasks["Call Acme"]["WhatId"] == ids[parents["account"]]
    assert tasks["Send quote"]["WhatId"] == ids[parents["opportunity"]]


def test_parents_outside_the_run_are_found_on_the_target_by_their_match_key(pair, parents):
    """An Account the Account line's filter leaves out (matched by that line's match_by), and a Project__c
    the template has no line for (matched by its External Id), both already on the target."""
    outside = pair.insert("src", "Account", [{"Name": "Beta", "External_Id__c": "BETA"}])[0]
    project = pair.insert("src", "Project__c", [{"Name": "Rollout", "External_Id__c": "P-1"}])[0]
    on_target = {
        "account": pair.insert("tgt", "Account", [{"Name": "Beta (target)", "External_Id__c": "BETA"}])[0],
        "project": pair.insert("tgt", "Project__c", [{"Name": "Rollout", "External_Id__c": "P-1"}])[0],
    }
    pair.insert("src", "Task", [{"Subject": "Visit Beta", "WhatId": outside},
                                {"Subject": "Plan rollout", "WhatId": project},
                                {"Subject": "Call Acme", "WhatId": parents["account"]}])
    tmpl = template([{**ACCOUNT, "filter": "External_Id__c = 'ACME'"}, TASK])
    engine, job_id, result = run_sync(pair, tmpl)
    assert result.state == "Synced" and result.totals.errors == 0, pair.journal.errors(job_id)
    tasks = target_tasks(pair)
    assert tasks["Visit Beta"]["WhatId"] == on_target["account"]
    assert tasks["Plan rollout"]["WhatId"] == on_target["project"]
    assert tasks["Call Acme"]["WhatId"] == id_map(pair)[parents["account"]]
    assert len(pair.rows("tgt", "SELECT Id FROM Project__c")) == 1      # nothing created outside the run


def test_a_parent_that_cannot_be_found_fails_naming_its_real_type_and_id(pair, parents):
    """Case is not in the template and has no External Id; the Project__c is not on the target; the Account
    line's filter leaves one Account out that the target lacks. None is guessed, none is left empty."""
    project = pair.insert("src", "Project__c", [{"Name": "Nowhere", "External_Id__c": "P-404"}])[0]
    outside = pair.insert("src", "Account", [{"Name": "Gamma", "External_Id__c": "GAMMA"}])[0]
    pair.insert("src", "Task", [{"Subject": "Fix pump", "WhatId": parents["case"]},
                                {"Subject": "Plan nothing", "WhatId": project},
                                {"Subject": "Visit Gamma", "WhatId": outside},
                                {"Subject": "Call Acme", "WhatId": parents["account"]}])
    tmpl = template([{**ACCOUNT, "filter": "External_Id__c = 'ACME'"}, TASK])
    engine, job_id, result = run_sync(pair, tmpl)
    assert result.state == "Synced" and result.totals.errors == 3 and result.totals.inserted == 2
    errors = {e.source_id: e for e in pair.journal.errors(job_id)}
    by_subject = {r["Subject"]: r["Id"] for r in pair.rows("src", "SELECT Id, Subject FROM Task")}
    case_error = errors[by_subject["Fix pump"]]
    assert case_error.status_code == "PARENT_NOT_SYNCED" and case_error.fields == ["WhatId"]
    assert f"Case {parents['case']}" in case_error.message
    assert "Account" not in case_error.message
    project_error = errors[by_subject["Plan nothing"]].message
    assert f"Project__c {project}" in project_error and "External_Id__c" in project_error and "P-404" in project_error
    gamma_error = errors[by_subject["Visit Gamma"]].message
    assert f"Account {outside}" in gamma_error and "GAMMA" in gamma_error
    assert target_tasks(pair).keys() == {"Call Acme"}


def test_a_parent_an_earlier_job_synced_is_found_through_the_id_map(pair, parents):
    """Job 1 moves the Case; job 2 moves only Tasks (no Case line, Case has no External Id): the id map of the
    two orgs knows the Case's copy."""
    _, _, first = run_sync(pair, template([CASE]))
    assert first.totals.inserted == 1
    pair.insert("src", "Task", [{"Subject": "Fix pump", "WhatId": parents["case"]}])
    _, job_id, result = run_sync(pair, template([TASK]))
    assert result.totals.errors == 0, pair.journal.errors(job_id)
    assert target_tasks(pair)["Fix pump"]["WhatId"] == id_map(pair)[parents["case"]]


def test_two_target_records_with_the_parents_key_fail_the_record_instead_of_picking_one(pair, parents):
    """The Account line matches by Name; the Account outside its filter has a Name two target Accounts share."""
    outside = pair.insert("src", "Account", [{"Name": "Dup", "External_Id__c": "DUP"}])[0]
    pair.insert("tgt", "Account", [{"Name": "Dup"}, {"Name": "dup"}])
    pair.insert("src", "Task", [{"Subject": "Visit Dup", "WhatId": outside}])
    tmpl = template([{**ACCOUNT, "match_by": ["Name"], "filter": "Name = 'Acme'"}, TASK])
    _, job_id, result = run_sync(pair, tmpl)
    [error] = pair.journal.errors(job_id)
    assert error.status_code == "PARENT_NOT_SYNCED"
    assert f"Account {outside}" in error.message and "2 target Account records have Name = 'Dup'" in error.message


def test_who_on_a_lead_or_a_contact_and_note_parents_of_any_type(pair, parents):
    """Task.WhoId to a Lead and to a Contact, Note.ParentId (required: its parents go first) to an Account and
    a Lead; Note is listed first in the template and still comes after its parents."""
    lead = pair.insert("src", "Lead", [{"LastName": "Lee", "Company": "Leeco", "Email": "lee@leeco.test"}])[0]
    pair.insert("src", "Task", [{"Subject": "Call Lee", "WhoId": lead},
                                {"Subject": "Call Doe", "WhoId": parents["contact"], "WhatId": parents["account"]}])
    pair.insert("src", "Note", [{"Title": "About Acme", "ParentId": parents["account"]},
                                {"Title": "About Lee", "ParentId": lead}])
    lead_line = {"object": "Lead", "fields": ["LastName", "Company", "Email"], "match_by": ["Email"]}
    note_line = {"object": "Note", "fields": ["Title", "ParentId"], "match_by": ["Title"]}
    engine, job_id, result = run_sync(pair, template([note_line, ACCOUNT, CONTACT, lead_line, TASK]))
    assert result.state == "Synced" and result.totals.errors == 0, pair.journal.errors(job_id)
    order = engine.plan(job_id).order
    assert order.index("Note") > max(order.index("Account"), order.index("Lead"))
    ids = id_map(pair)
    tasks = target_tasks(pair)
    assert tasks["Call Lee"]["WhoId"] == ids[lead] and ids[lead].startswith("00Q")
    assert tasks["Call Doe"]["WhoId"] == ids[parents["contact"]]
    notes = {r["Title"]: r["ParentId"] for r in pair.rows("tgt", "SELECT Title, ParentId FROM Note")}
    assert notes == {"About Acme": ids[parents["account"]], "About Lee": ids[lead]}
