"""The sync engine against two sandbox orgs, through the real client: relationships, matching,
re-runs, versioning and rollback, switches, validation rules and retry, abort, crash and resume."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from helpers import Crash, die_after_create

from isyncsf_desktop.engine.events import (BatchDone, CancelToken, ObjectFinished, ObjectStarted, RecordFailed,
                                           StateChanged)
from isyncsf_desktop.engine.export import export_errors_csv
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.runner import EngineError
from isyncsf_desktop.engine.template import TemplateError

AUDIT = {"CreatedDate", "LastModifiedDate", "SystemModstamp", "CreatedById", "LastModifiedById"}


def template(objects: list[dict], **options) -> dict:
    return {"name": "t", "options": {"continue_on_error": True, "versioning": True, **options}, "objects": objects}


def run_sync(pair, tmpl: dict, **kwargs):
    engine = pair.engine(**kwargs)
    job_id = engine.create_job(tmpl)
    return engine, job_id, engine.sync(job_id)


def snapshot(pair, side: str, object_name: str, fields: str) -> dict:
    return {r["Id"]: {k: v for k, v in r.items() if k not in AUDIT}
            for r in pair.rows(side, f"SELECT Id, {fields} FROM {object_name}")}


def add_rule(pair, object_name: str, name: str, formula: str, message: str, field: str | None = None) -> str:
    return pair.target.sf.toolingexecute("sobjects/ValidationRule", method="POST", data={
        "FullName": f"{object_name}.{name}", "Metadata": {"active": True, "errorConditionFormula": formula,
                                                          "errorMessage": message, "errorDisplayField": field}})["id"]


# ------------------------------------------------------------------------------------------ relationships
def test_self_lookup_hierarchy_is_inserted_level_by_level(pair):
    root = pair.insert("src", "Account", [{"Name": "Root", "External_Id__c": "R"}])[0]
    mid = pair.insert("src", "Account", [{"Name": "Mid", "External_Id__c": "M", "ParentId": root}])[0]
    pair.insert("src", "Account", [{"Name": "Leaf", "External_Id__c": "L", "ParentId": mid}])
    # A rule that forbids changing the parent after insert: null-then-update would trip it.
    add_rule(pair, "Account", "Parent_Is_Fixed", "AND(NOT(ISNEW()), ISCHANGED(ParentId))", "Parent is fixed")
    _, _, result = run_sync(pair, template([{"object": "Account", "fields": ["Name", "ParentId", "External_Id__c"]}]))
    assert result.state == "Synced" and result.totals.inserted == 3 and result.totals.errors == 0
    rows = {r["External_Id__c"]: r for r in pair.rows("tgt", "SELECT Id, External_Id__c, ParentId FROM Account")}
    assert rows["R"]["ParentId"] is None
    assert rows["M"]["ParentId"] == rows["R"]["Id"] and rows["L"]["ParentId"] == rows["M"]["Id"]


def test_account_contact_cycle_is_closed_in_a_second_pass(pair):
    account = pair.insert("src", "Account", [{"Name": "Acme", "External_Id__c": "A1"}])[0]
    contact = pair.insert("src", "Contact", [{"LastName": "Doe", "Email": "doe@acme.test", "AccountId": account}])[0]
    pair.source.update([{"attributes": {"type": "Account"}, "Id": account, "Primary_Contact__c": contact}])
    engine, job_id, result = run_sync(pair, template([
        {"object": "Account", "fields": ["Name", "External_Id__c", "Primary_Contact__c"]},
        {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"]}]))
    assert result.state == "Synced" and result.totals.errors == 0
    plan = engine.plan(job_id)
    assert plan.order == ["Account", "Contact"]
    assert plan.deferred == [("Account", "Primary_Contact__c")]
    target_account = pair.rows("tgt", "SELECT Id, Primary_Contact__c FROM Account")[0]
    target_contact = pair.rows("tgt", "SELECT Id, AccountId FROM Contact")[0]
    assert target_contact["AccountId"] == target_account["Id"]
    assert target_account["Primary_Contact__c"] == target_contact["Id"]


def test_master_detail_parent_goes_first_and_dependencies_map(pair):
    project = pair.insert("src", "Project__c", [{"Name": "Roll-out", "External_Id__c": "P1"}])[0]
    first = pair.insert("src", "Project_Task__c", [{"Name": "Design", "Project__c": project}])[0]
    pair.insert("src", "Project_Task__c", [{"Name": "Build", "Project__c": project, "Depends_On__c": first}])
    engine, job_id, result = run_sync(pair, template([
        {"object": "Project_Task__c", "fields": ["Name", "Project__c", "Depends_On__c"], "match_by": ["Name"]},
        {"object": "Project__c", "fields": ["Name", "External_Id__c"]}]))
    assert engine.plan(job_id).order == ["Project__c", "Project_Task__c"]
    assert result.totals.inserted == 3 and result.totals.errors == 0
    tasks = {r["Name"]: r for r in pair.rows("tgt", "SELECT Id, Name, Project__c, Depends_On__c FROM Project_Task__c")}
    target_project = pair.rows("tgt", "SELECT Id FROM Project__c")[0]["Id"]
    assert tasks["Build"]["Depends_On__c"] == tasks["Design"]["Id"]
    assert {t["Project__c"] for t in tasks.values()} == {target_project}


def test_manual_order_defers_forward_lookups(pair):
    account = pair.insert("src", "Account", [{"Name": "Acme", "External_Id__c": "A1"}])[0]
    pair.insert("src", "Contact", [{"LastName": "Doe", "Email": "d@x.test", "AccountId": account}])
    tmpl = template([{"object": "Account", "fields": ["Name", "External_Id__c"]},
                     {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"]}])
    tmpl["order"] = ["Contact", "Account"]
    engine, job_id, result = run_sync(pair, tmpl)
    assert engine.plan(job_id).order == ["Contact", "Account"]
    assert engine.plan(job_id).deferred == [("Contact", "AccountId")]
    assert result.totals.errors == 0
    contact = pair.rows("tgt", "SELECT AccountId FROM Contact")[0]
    assert contact["AccountId"] == pair.rows("tgt", "SELECT Id FROM Account")[0]["Id"]


def test_manual_order_cannot_put_a_master_detail_child_first(pair):
    tmpl = template([{"object": "Project__c"}, {"object": "Project_Task__c", "match_by": ["Name"]}])
    tmpl["order"] = ["Project_Task__c", "Project__c"]
    engine = pair.engine()
    job_id = engine.create_job(tmpl)
    with pytest.raises(EngineError, match="Project_Task__c must come after Project__c"):
        engine.sync(job_id)
    assert pair.rows("tgt", "SELECT Id FROM Project__c") == []


# ------------------------------------------------------------------------------------------ matching
def test_composite_and_parent_path_match_keys(pair):
    src_acc = pair.insert("src", "Account", [{"Name": "Acme", "External_Id__c": "A1"}])[0]
    pair.insert("src", "Contact", [{"LastName": "Doe", "FirstName": "Jane", "Title": "CEO", "AccountId": src_acc},
                                   {"LastName": "Roe", "FirstName": "Rick", "AccountId": src_acc}])
    tgt_acc = pair.insert("tgt", "Account", [{"Name": "Acme (target)", "External_Id__c": "a1"}])[0]
    existing = pair.insert("tgt", "Contact", [{"LastName": "DOE", "FirstName": "Jane", "Title": "Boss",
                                               "AccountId": tgt_acc}])[0]
    _, _, result = run_sync(pair, template([
        {"object": "Account", "fields": ["Name", "External_Id__c"], "update": False},
        {"object": "Contact", "fields": ["LastName", "FirstName", "Title", "AccountId"],
         "match_by": ["Account.External_Id__c", "LastName"]}]))
    counts = result.objects
    assert (counts["Account"].existing, counts["Account"].inserted) == (1, 0)
    assert (counts["Contact"].updated, counts["Contact"].inserted) == (1, 1)
    contacts = {r["LastName"].lower(): r for r in pair.rows("tgt", "SELECT Id, LastName, Title, AccountId FROM Contact")}
    assert contacts["doe"]["Id"] == existing and contacts["doe"]["Title"] == "CEO"
    assert contacts["roe"]["AccountId"] == tgt_acc


def test_rerun_inserts_nothing_and_creates_no_duplicate(pair):
    pair.insert("src", "Account", [{"Name": f"Acct {i}", "External_Id__c": f"E{i}"} for i in range(30)])
    tmpl = template([{"object": "Account", "fields": ["Name", "External_Id__c", "Phone"]}])
    _, _, first = run_sync(pair, tmpl)
    assert first.totals.inserted == 30
    _, _, second = run_sync(pair, tmpl)
    assert (second.totals.inserted, second.totals.updated, second.totals.existing) == (0, 0, 30)
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 30


def test_rerun_matches_by_id_map_even_without_a_match_key(pair):
    pair.insert("src", "Contact", [{"LastName": "NoEmail"}])
    tmpl = template([{"object": "Contact", "fields": ["LastName", "Email"], "match_by": ["Email"]}])
    run_sync(pair, tmpl)
    _, _, again = run_sync(pair, tmpl)
    assert again.totals.inserted == 0 and again.totals.existing == 1
    assert len(pair.rows("tgt", "SELECT Id FROM Contact")) == 1


def test_duplicate_target_matches_are_an_error_not_a_guess(pair):
    pair.insert("src", "Contact", [{"LastName": "Doe", "Email": "same@x.test"}])
    pair.insert("tgt", "Contact", [{"LastName": "Doe 1", "Email": "same@x.test"},
                                   {"LastName": "Doe 2", "Email": "same@x.test"}])
    _, _, result = run_sync(pair, template([{"object": "Contact", "fields": ["LastName", "Email"],
                                             "match_by": ["Email"]}]))
    assert result.totals.errors == 1
    error = pair.journal.errors(result.job_id)[0]
    assert error.status_code == "DUPLICATE_MATCH" and "2 target records match" in error.message


# ------------------------------------------------------------------------------------------ versioning, rollback
def test_update_with_versioning_then_rollback_restores_the_target_exactly(pair):
    pair.insert("src", "Account", [{"Name": f"Src {i}", "External_Id__c": f"E{i}", "Phone": "111"} for i in range(5)])
    pair.insert("tgt", "Account", [{"Name": f"Old {i}", "External_Id__c": f"E{i}", "Phone": "999",
                                    "Industry": "Banking"} for i in range(3)])
    fields = "Name, External_Id__c, Phone, Industry, ParentId"
    before = snapshot(pair, "tgt", "Account", fields)
    engine, job_id, result = run_sync(pair, template([{"object": "Account",
                                                       "fields": ["Name", "External_Id__c", "Phone"]}]))
    assert (result.totals.inserted, result.totals.updated) == (2, 3)
    assert snapshot(pair, "tgt", "Account", fields) != before
    rollback = engine.rollback(job_id)
    assert rollback.state == "Rollback Completed"
    assert (rollback.totals.deleted, rollback.totals.restored, rollback.totals.errors) == (2, 3, 0)
    assert snapshot(pair, "tgt", "Account", fields) == before
    assert pair.journal.job(job_id).state == "Rollback Completed"


def test_rollback_reports_what_could_not_be_undone(pair):
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(3)])
    engine, job_id, _ = run_sync(pair, template([{"object": "Account", "fields": ["Name", "External_Id__c"]}]))
    gone = pair.rows("tgt", "SELECT Id FROM Account WHERE External_Id__c = 'E1'")[0]["Id"]
    pair.target.delete([gone])
    result = engine.rollback(job_id)
    assert result.state == "Rollback Completed" and result.totals.deleted == 2 and result.totals.errors == 1
    problem = [e for e in pair.journal.errors(job_id) if e.phase == "rollback"]
    assert len(problem) == 1 and "already deleted" in problem[0].message
    assert pair.rows("tgt", "SELECT Id FROM Account") == []


def test_insert_and_update_switches(pair):
    src_acc = pair.insert("src", "Account", [{"Name": "Known", "External_Id__c": "K", "Phone": "1"},
                                             {"Name": "New", "External_Id__c": "N"}])
    pair.insert("src", "Contact", [{"LastName": "Child", "Email": "c@x.test", "AccountId": src_acc[1]}])
    pair.insert("tgt", "Account", [{"Name": "Known", "External_Id__c": "K", "Phone": "2"}])
    _, _, result = run_sync(pair, template([
        {"object": "Account", "fields": ["Name", "External_Id__c", "Phone"], "insert": False, "update": False},
        {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"]}]))
    account = result.objects["Account"]
    assert (account.inserted, account.updated, account.existing) == (0, 0, 1)
    assert pair.rows("tgt", "SELECT Phone FROM Account")[0]["Phone"] == "2"
    assert result.objects["Contact"].errors == 1
    error = pair.journal.errors(result.job_id, "Contact")[0]
    assert error.status_code == "PARENT_NOT_SYNCED" and src_acc[1] in error.message
    assert "inserting new records is off" in error.message


# ------------------------------------------------------------------------------------------ errors, retry
def test_validation_rule_failures_then_retry_after_switching_it_off(pair):
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test",
                                    "Phone": None if i % 4 == 0 else "555"} for i in range(12)])
    rule = add_rule(pair, "Contact", "Phone_Required", "ISBLANK(Phone)", "Phone is required.", "Phone")
    engine, job_id, result = run_sync(pair, template([{"object": "Contact", "fields": ["LastName", "Email", "Phone"],
                                                       "match_by": ["Email"]}]))
    assert result.state == "Synced" and result.totals.inserted == 9 and result.totals.errors == 3
    errors = pair.journal.errors(job_id)
    assert {e.status_code for e in errors} == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    assert {e.message for e in errors} == {"Phone is required."} and errors[0].fields == ["Phone"]
    failures = [e for e in pair.events if isinstance(e, RecordFailed)]
    assert len(failures) == 3
    full = pair.target.sf.toolingexecute(f"sobjects/ValidationRule/{rule}")
    pair.target.sf.toolingexecute(f"sobjects/ValidationRule/{rule}", method="PATCH",
                                  data={"Metadata": {**full["Metadata"], "active": False}})
    retried = engine.retry(job_id)
    assert retried.kind == "retry" and retried.totals.inserted == 3 and retried.totals.errors == 0
    assert pair.journal.errors(job_id) == []
    assert len(pair.rows("tgt", "SELECT Id FROM Contact")) == 12


def test_children_of_failed_parents_fail_naming_the_parent(pair):
    bad = pair.insert("src", "Account", [{"Name": "X" * 30, "External_Id__c": "BAD"}])[0]
    pair.insert("src", "Contact", [{"LastName": "Kid", "Email": "kid@x.test", "AccountId": bad}])
    add_rule(pair, "Account", "Short_Names", "LEN(Name) > 20", "Name too long")
    _, job_id, result = run_sync(pair, template([
        {"object": "Account", "fields": ["Name", "External_Id__c"]},
        {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"]}]))
    error = pair.journal.errors(job_id, "Contact")[0]
    assert error.status_code == "PARENT_FAILED" and bad in error.message and "Name too long" in error.message
    assert pair.rows("tgt", "SELECT Id FROM Contact") == []


def test_stop_at_first_error_when_continue_on_error_is_off(pair):
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test"} for i in range(5)])
    add_rule(pair, "Contact", "No_C2", "LastName = 'C2'", "no C2")
    _, job_id, result = run_sync(pair, template([{"object": "Contact", "fields": ["LastName", "Email"],
                                                  "match_by": ["Email"]}], continue_on_error=False, batch_size=1))
    assert result.state == "Aborted" and "first failed record" in result.message
    assert result.totals.errors == 1 and result.totals.inserted == 2
    assert len(pair.rows("tgt", "SELECT Id FROM Contact")) == 2


def test_errors_export_to_csv(pair, tmp_path):
    pair.insert("src", "Contact", [{"LastName": "=cmd()", "Email": "a@x.test"}, {"LastName": "Fine", "Email": "b@x.test"}])
    add_rule(pair, "Contact", "No_Formulas", "BEGINS(LastName, '=')", "=HYPERLINK(\"evil\")", "LastName")
    _, job_id, result = run_sync(pair, template([{"object": "Contact", "fields": ["LastName", "Email"],
                                                  "match_by": ["Email"]}]))
    path = tmp_path / "errors.csv"
    assert export_errors_csv(pair.journal, job_id, path) == 1
    frame = pd.read_csv(path, dtype=str, encoding="utf-8-sig")
    row = frame.iloc[0]
    assert row["Object"] == "Contact" and row["Status Code"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert row["Message"] == "'=HYPERLINK(\"evil\")" and row["Fields"] == "LastName"
    assert row["Source Id"].startswith("003") and pd.isna(row["Target Id"])


# ------------------------------------------------------------------------------------------ abort, crash
@pytest.mark.parametrize("in_flight", [1, 2, 3])
def test_abort_mid_run_keeps_what_was_committed(pair, in_flight):
    """An abort after the first batch stops the run once the batches already out are answered
    (in_flight - 1 of them), and every record on the target is journaled."""
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(50)])
    cancel = CancelToken()

    def abort_after_first_batch(event):
        if isinstance(event, BatchDone) and event.counts.inserted >= 10:
            cancel.cancel()

    _, job_id, result = run_sync(pair, template([{"object": "Account", "fields": ["Name", "External_Id__c"]}],
                                                batch_size=10, in_flight=in_flight),
                                 observer=abort_after_first_batch, cancel=cancel)
    assert result.state == "Aborted" and result.status == "Aborted"
    on_target = {r["Id"] for r in pair.rows("tgt", "SELECT Id FROM Account")}
    journaled = {r.target_id for r in pair.journal.records(job_id, statuses=["inserted"])}
    assert len(on_target) == 10 * in_flight and journaled == on_target
    assert result.totals.inserted == 10 * in_flight
    assert pair.journal.job(job_id).state == "Aborted"
    states = [e.state for e in pair.events if isinstance(e, StateChanged)]
    assert states[-1] == "Aborted" and "Sync In Progress" in states


def test_retry_after_an_abort_is_not_synced_while_an_object_was_never_processed(pair):
    """Synced means every object was processed: a retry of an aborted job's failed records leaves the job
    Aborted while an object the aborted run never reached is still to do; a re-sync then completes it."""
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(6)])
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test"} for i in range(4)])
    rule = add_rule(pair, "Account", "No_A1", "Name = 'A1'", "no A1")
    cancel = CancelToken()

    def abort_after_accounts(event):
        if isinstance(event, ObjectFinished) and event.object == "Account":
            cancel.cancel()

    engine, job_id, result = run_sync(pair, template([   # one object at a time: Contact is unrelated to Account
        {"object": "Account", "fields": ["Name", "External_Id__c"]},
        {"object": "Contact", "fields": ["LastName", "Email"], "match_by": ["Email"]}], parallel_objects=1),
        observer=abort_after_accounts, cancel=cancel)
    assert result.state == "Aborted" and "Contact" not in result.objects
    full = pair.target.sf.toolingexecute(f"sobjects/ValidationRule/{rule}")
    pair.target.sf.toolingexecute(f"sobjects/ValidationRule/{rule}", method="PATCH",
                                  data={"Metadata": {**full["Metadata"], "active": False}})
    engine.cancel = CancelToken()
    retried = engine.retry(job_id)
    assert retried.totals.inserted == 1 and retried.status == "Completed"
    assert retried.state == "Aborted" and pair.journal.job(job_id).state == "Aborted"
    assert "Contact was never processed" in retried.message and "ReSync" in retried.message
    # Its row says where it stands: a retry that re-sent nothing of Contact did not complete it.
    assert retried.objects["Contact"].status == "Not started"
    assert pair.journal.runs(job_id)[-1].counts["Contact"].status == "Not started"
    assert retried.objects["Account"].status == "Completed"
    assert pair.rows("tgt", "SELECT Id FROM Contact") == []
    resynced = engine.resync(job_id)
    assert resynced.state == "Synced" and resynced.totals.inserted == 4
    # nothing failed any more, and every object was processed: a retry is refused (as the GUI and the CLI
    # refuse it, in the same words) and the job stays Synced
    with pytest.raises(EngineError, match=f"^Job {job_id} has no failed records to retry$"):
        engine.retry(job_id)
    assert pair.journal.job(job_id).state == "Synced"


def test_retry_after_an_abort_before_a_second_pass_says_the_object_is_not_finished(pair):
    """An object whose deferred lookups were never filled was reached but not finished: the retry says so,
    and its row says Aborted before 2nd pass (not Not started, not Completed)."""
    account = pair.insert("src", "Account", [{"Name": "Acme", "External_Id__c": "A1"}])[0]
    contact = pair.insert("src", "Contact", [{"LastName": "Doe", "Email": "doe@acme.test", "AccountId": account}])[0]
    pair.source.update([{"attributes": {"type": "Account"}, "Id": account, "Primary_Contact__c": contact}])
    pair.insert("src", "Opportunity", [{"Name": "Deal", "StageName": "Prospecting", "CloseDate": "2030-01-01",
                                        "AccountId": account}])
    add_rule(pair, "Contact", "No_Doe", "LastName = 'Doe'", "no Doe")
    cancel = CancelToken()

    def abort_after_contacts(event):
        if isinstance(event, ObjectFinished) and event.object == "Contact":
            cancel.cancel()

    engine, job_id, result = run_sync(pair, template([
        {"object": "Account", "fields": ["Name", "External_Id__c", "Primary_Contact__c"]},
        {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"]},
        {"object": "Opportunity", "fields": ["Name", "StageName", "CloseDate", "AccountId"], "match_by": ["Name"]}],
        parallel_objects=1),    # one object at a time: Opportunity (beside Contact otherwise) is never reached
        observer=abort_after_contacts, cancel=cancel)
    assert result.state == "Aborted" and result.objects["Account"].status == "Awaiting second pass"
    engine.cancel = CancelToken()
    retried = engine.retry(job_id)
    assert retried.state == "Aborted"
    assert "Opportunity was never processed and Account was not finished" in retried.message
    assert {name: oc.status for name, oc in retried.objects.items()} == {
        "Account": "Aborted before 2nd pass", "Contact": "Completed", "Opportunity": "Not started"}


def test_planned_records_give_each_kind_of_run_its_denominator(pair):
    """Before a run reaches an object its count is unknown; the journal says what each run will process."""
    from isyncsf_desktop.engine.progress import planned_records

    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(6)])
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test"} for i in range(4)])
    add_rule(pair, "Account", "No_A1", "Name = 'A1'", "no A1")
    engine, job_id, result = run_sync(pair, template([
        {"object": "Account", "fields": ["Name", "External_Id__c"]},
        {"object": "Contact", "fields": ["LastName", "Email"], "match_by": ["Email"]}]))
    assert result.totals.errors == 1
    assert planned_records(pair.journal, job_id, "sync") == {"Account": 6, "Contact": 4}
    assert planned_records(pair.journal, job_id, "resync") == {"Account": 1, "Contact": 0}
    assert planned_records(pair.journal, job_id, "retry") == {"Account": 1}
    assert planned_records(pair.journal, job_id, "rollback") == {"Account": 5, "Contact": 4}


@pytest.mark.parametrize("in_flight", [1, 2])
def test_crash_mid_run_then_resume_and_rollback(pair, tmp_path, in_flight):
    """The process dies while the third batch is journaled; with two out at once the fourth was out
    too: the org has it, the journal only says it was being sent."""
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(40)])
    batches = []

    def crash_on_third_batch(event):
        if isinstance(event, BatchDone):
            batches.append(event)
            if len(batches) == 3:
                raise Crash()

    engine = pair.engine(observer=crash_on_third_batch)
    job_id = engine.create_job(template([{"object": "Account", "fields": ["Name", "External_Id__c"]}], batch_size=10,
                                        in_flight=in_flight))
    with pytest.raises(Crash):
        engine.sync(job_id)
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 30 + 10 * (in_flight - 1)
    pair.journal.close()
    pair.journal = Journal(tmp_path / "journal.sqlite3")   # the app starts again
    assert pair.journal.recover_interrupted() == [job_id]
    job = pair.journal.job(job_id)
    assert job.state == "Sync In Progress" and job.interrupted
    resumed = pair.engine().resync(job_id)
    assert resumed.state == "Synced" and resumed.totals.inserted == 10
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 40
    rolled = pair.engine().rollback(job_id)
    assert rolled.totals.deleted == 40 and pair.rows("tgt", "SELECT Id FROM Account") == []


@pytest.mark.expect_log
def test_dropped_connection_after_commit_creates_no_duplicates(pair):
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(6)])
    pair.server.faults("tgt").update(drop_after_commit=1)
    _, _, result = run_sync(pair, template([{"object": "Account", "fields": ["Name", "External_Id__c"]}]))
    assert result.state == "Synced" and result.totals.inserted == 6 and result.totals.errors == 0
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 6


# ------------------------------------------------------------------------------------------ bad input
@pytest.mark.parametrize(("objects", "message"), [
    ([{"object": "Nope__c"}], "Nope__c does not exist in the source org"),
    ([{"object": "Account", "fields": ["Name", "Bogus__c"]}], "Bogus__c is not a field of Account"),
    ([{"object": "Account", "filter": "Name = "}], "the filter is not valid SOQL"),
    ([{"object": "Account", "match_by": ["Nope"]}], "match_by field Nope"),
])
def test_bad_templates_are_refused_before_anything_is_sent(pair, objects, message):
    engine = pair.engine()
    job_id = engine.create_job(template(objects))
    before = pair.target.api_calls
    with pytest.raises(EngineError, match=message):
        engine.sync(job_id)
    assert pair.rows("tgt", "SELECT Id FROM Account") == []
    assert pair.target.api_calls - before <= 30  # describes and reads only


def test_unknown_template_keys_are_refused(pair):
    with pytest.raises(TemplateError, match="unknown template key"):
        pair.engine().create_job({"name": "x", "objects": [{"object": "Account"}], "oops": 1})


def test_events_describe_the_run(pair):
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(3)])
    run_sync(pair, template([{"object": "Account", "fields": ["Name", "External_Id__c"]}]))
    started = [e for e in pair.events if isinstance(e, ObjectStarted)]
    assert [(e.object, e.total, e.index, e.count) for e in started] == [("Account", 3, 1, 1)]
    states = [(e.state, e.status) for e in pair.events if isinstance(e, StateChanged)]
    assert states[0] == ("Scan In Progress", "Initializing") and states[-1] == ("Synced", "Completed")
    assert all(b.elapsed >= a.elapsed for a, b in zip(pair.events, pair.events[1:]))


# ------------------------------------------------------------------------------------------ the demo orgs
def test_demo_source_to_demo_target_shows_every_kind_of_outcome(sandbox_factory, tmp_path):
    from helpers import org_client, org_ref

    from isyncsf_desktop.engine.runner import SyncEngine
    from isyncsf_desktop.engine.template import load_template

    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    journal = Journal(tmp_path / "journal.sqlite3")
    engine = SyncEngine(journal, org_client(server, "source"), org_client(server, "target"),
                        org_ref(server, "source"), org_ref(server, "target"))
    template = load_template(Path(__file__).resolve().parents[2] / "isyncsf_desktop" / "data" / "templates" /
                             "demo.json")
    job_id = engine.create_job(template)
    result = engine.sync(job_id)
    counts = result.objects
    assert result.state == "Synced"
    # the seeded overlap: 40 + 25 business accounts, and 6 person accounts, all updated: 3 changed, and the
    # Person* phones, street and birthdate the demo template masks (the target's copies hold them unmasked)
    assert (counts["Account"].existing, counts["Account"].updated) == (40, 25 + 6)
    assert counts["Contact"].errors == 46                                         # the phone rule
    codes = {e.status_code for e in journal.errors(job_id)}
    assert {"FIELD_CUSTOM_VALIDATION_EXCEPTION", "RECORD_TYPE_NOT_FOUND", "PARENT_FAILED"} <= codes
    assert counts["Project_Task__c"].inserted == 408 and counts["Project_Task__c"].errors == 0
    # every relationship on the target points at target records
    target = org_client(server, "target")
    primary = target.query("SELECT Primary_Contact__c, Primary_Contact__r.AccountId, Id FROM Account "
                           "WHERE Primary_Contact__c != null")
    assert primary and all(r["Primary_Contact__r"]["AccountId"] == r["Id"] for r in primary)
    again = engine.sync(engine.create_job(template))
    assert again.totals.inserted == 0 and again.totals.updated == 0
    journal.close()


def test_automation_named_by_the_template_is_off_during_the_run_and_back_on_after(pair):
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test"} for i in range(4)])
    rule = add_rule(pair, "Contact", "Phone_Required", "ISBLANK(Phone)", "Phone is required.", "Phone")
    tmpl = template([{"object": "Contact", "fields": ["LastName", "Email"], "match_by": ["Email"]}],
                    automation_off=[{"kind": "ValidationRule", "name": "Contact.Phone_Required"}])
    _, job_id, result = run_sync(pair, tmpl)
    assert result.state == "Synced" and result.totals.inserted == 4 and result.totals.errors == 0
    assert pair.target.sf.toolingexecute(f"sobjects/ValidationRule/{rule}")["Active"] is True
    assert pair.journal.get_setting(f"automation:{pair.server.store('tgt').org_id}") in (None, {}, [])


def test_a_bad_automation_option_is_refused(pair):
    with pytest.raises(TemplateError, match="automation_off"):
        pair.engine().create_job(template([{"object": "Account"}], automation_off=[{"kind": "Nope", "name": "x"}]))


@pytest.mark.parametrize("in_flight", [1, 2])
def test_crash_while_a_batch_is_in_flight_then_resume_and_rollback_leave_nothing_behind(pair, tmp_path, in_flight):
    """The org commits a create, the process dies before the answer is journaled: the next run must
    know those records are this job's, or a rollback would leave them in the target org. With two
    out at once, the batch after it was committed too and is recovered the same way."""
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(30)])
    engine = pair.engine()
    # the 2nd batch (and the 3rd) committed, not journaled; batches of 10 go out in source order: A0-A9, A10-A19...
    calls = die_after_create(engine, 2, with_next=in_flight > 1,
                             position=lambda records: int(records[0]["Name"][1:]) // 10 + 1)
    job_id = engine.create_job(template([{"object": "Account", "fields": ["Name", "External_Id__c"]}], batch_size=10,
                                        in_flight=in_flight))
    with pytest.raises(Crash):
        engine.sync(job_id)
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 20 + 10 * (in_flight - 1)
    pair.journal.close()
    pair.journal = Journal(tmp_path / "journal.sqlite3")
    pair.journal.recover_interrupted()
    resumed = pair.engine().resync(job_id)
    assert resumed.state == "Synced" and resumed.totals.inserted == 20 and resumed.totals.existing == 0
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 30
    rolled = pair.engine().rollback(job_id)
    assert rolled.totals.deleted == 30 and pair.rows("tgt", "SELECT Id FROM Account") == []
    with pytest.raises(EngineError, match="nothing left to roll back"):
        pair.engine().rollback(job_id)


def test_a_filter_that_is_more_than_a_where_clause_is_refused_before_anything_is_sent(pair):
    pair.insert("src", "Account", [{"Name": "A", "External_Id__c": "E"}])
    engine = pair.engine()
    job_id = engine.create_job(template([{"object": "Account", "fields": ["Name", "External_Id__c"],
                                          "filter": "Name = 'A' LIMIT 5"}]))
    with pytest.raises(EngineError, match="the filter is not valid SOQL"):
        engine.sync(job_id)
    assert pair.rows("tgt", "SELECT Id FROM Account") == []
