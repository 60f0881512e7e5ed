"""The pre-flight metadata check against sandbox orgs built to differ: each finding, its fix, then a
clean sync; counts checked against what a real run rejects; blocking findings; CSV export; the demo pair."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import Pair, org_client, org_ref

from isyncsf_desktop.engine.automation import AutomationGuard, pending_restore
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.plan import build_plan
from isyncsf_desktop.engine.preflight import (BLOCKING, FIX_ENABLE, FIX_SWITCH_OFF, RECORDS_WILL_FAIL, REPORT_COLUMNS,
                                              WARNING, Finding, PreflightBlocked, PreflightReport, assert_can_start,
                                              check_metadata, enable_disabled_metadata)
from isyncsf_desktop.engine.template import TemplateError, parse_template
from isyncsf_desktop.sandbox.seeds import Seed, build_seed

MakePair = Callable[..., Pair]




def template(objects: list[dict], **options: Any) -> dict:
    return {"name": "t", "options": {"continue_on_error": True, **options}, "objects": objects}


def add_rule(client: Any, object_name: str, name: str, formula: str, message: str, *, active: bool = True,
             field: str | None = None) -> str:
    return client.sf.toolingexecute("sobjects/ValidationRule", method="POST", data={
        "FullName": f"{object_name}.{name}", "Metadata": {"active": active, "errorConditionFormula": formula,
                                                          "errorMessage": message, "errorDisplayField": field}})["id"]


def add_trigger(client: Any, name: str, object_name: str, status: str) -> str:
    return client.sf.toolingexecute("sobjects/ApexTrigger", method="POST", data={
        "Name": name, "TableEnumOrId": object_name, "Status": status,
        "Body": f"trigger {name} on {object_name} (before insert, before update) {{ }}"})["id"]


def keys(report: PreflightReport, *, include_both_active: bool = True) -> set[tuple[str, str, str, str | None, str | None]]:
    return {(f.severity, f.kind, f.object, f.field, f.item) for f in report.findings
            if include_both_active or not (f.data.get("source_active") and f.data.get("target_active"))}


def one(report: PreflightReport, kind: str, obj: str, field: str | None = None, item: str | None = None) -> Finding:
    found = [f for f in report.findings if f.kind == kind and f.object == obj
             and (field is None or f.field == field) and (item is None or f.item == item)]
    assert len(found) == 1, (kind, obj, field, item, [f.location for f in report.findings])
    return found[0]


def make_production(seed: Seed) -> Seed:
    """``seed`` as a production org: what the tooling API enforces and what the Organization row says."""
    seed.org_type, seed.is_sandbox = "Enterprise Edition", False
    for record in seed.records:
        if record.object == "Organization":
            record.values.update({"OrganizationType": "Enterprise Edition", "IsSandbox": False})
    return seed


def record_type_ids(client: Any, object_name: str) -> dict[str, str]:
    rows = client.query(f"SELECT Id, DeveloperName FROM RecordType WHERE SobjectType = '{object_name}'")
    return {r["DeveloperName"]: r["Id"] for r in rows}


# ------------------------------------------------------------------------------------------ differing orgs
def test_differing_orgs_show_each_finding_then_the_fix_then_a_clean_sync(make_pair: MakePair) -> None:
    target_seed = build_seed("empty", overrides={
        "remove_fields": ["Account.Phone"],                                            # missing field
        "field_flags": {"Contact.Title": {"createable": False, "updateable": False}},  # FLS gap
        "remove_record_types": ["Case.Support"]})                                      # missing record type
    pair = make_pair("empty", target_seed)
    add_rule(pair.source, "Contact", "Phone_Required", "ISBLANK(Phone)", "Phone is required.", active=False)
    rule_id = add_rule(pair.target, "Contact", "Phone_Required", "ISBLANK(Phone)", "Phone is required.",
                       field="Phone")                                                  # active on the target only
    add_trigger(pair.source, "Case_Audit", "Case", "Active")
    trigger_id = add_trigger(pair.target, "Case_Audit", "Case", "Inactive")            # disabled on the target only
    accounts = pair.insert("src", "Account", [{"Name": f"Acme {i}", "External_Id__c": f"A{i}",
                                               "Phone": "555" if i < 3 else None} for i in range(4)])
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test", "Title": "CEO",
                                    "Phone": None if i % 3 == 0 else "555", "AccountId": accounts[i % 4]}
                                   for i in range(6)])
    rts = record_type_ids(pair.source, "Case")
    pair.insert("src", "Case", [{"Subject": f"Case {i}", "Status": "New", "AccountId": accounts[0],
                                 "RecordTypeId": rts["Support"] if i < 3 else rts["Billing"]} for i in range(5)])
    objects = [{"object": "Account", "fields": ["Name", "External_Id__c", "Phone"]},
               {"object": "Contact", "fields": ["LastName", "Email", "Phone", "Title", "AccountId"],
                "match_by": ["Email"]},
               {"object": "Case", "fields": ["Subject", "Status", "RecordTypeId", "AccountId"], "match_by": ["Subject"]}]

    report = check_metadata(template(objects), pair.source, pair.target)

    assert keys(report) == {
        (WARNING, "missing_field", "Account", "Phone", None),
        (WARNING, "field_access", "Contact", "Title", None),
        (RECORDS_WILL_FAIL, "validation_rule", "Contact", None, "Contact.Phone_Required"),
        (WARNING, "apex_trigger", "Case", None, "Case_Audit"),
        (RECORDS_WILL_FAIL, "record_type", "Case", "RecordTypeId", "Case.Support"),
    }
    assert report.blocking == [] and assert_can_start(report) == []
    assert [f.severity for f in report.findings][:2] == [RECORDS_WILL_FAIL, RECORDS_WILL_FAIL]  # worst first
    assert one(report, "missing_field", "Account").data["records_with_value"] == 3
    rule = one(report, "validation_rule", "Contact")
    assert rule.fixable and rule.data["fix"] == FIX_SWITCH_OFF
    assert (rule.data["source_active"], rule.data["target_active"], rule.data["target_id"]) == (False, True, rule_id)
    assert "inactive in the source org" in rule.message and "automation control" in rule.fix
    trigger = one(report, "apex_trigger", "Case")
    assert trigger.fixable and trigger.data["fix"] == FIX_ENABLE and trigger.data["source_active"] is True
    support = one(report, "record_type", "Case")
    assert support.affected == 3 and support.message == "record type missing on the target: Case.Support (3 Cases); they will fail"
    assert "field-level security" in one(report, "field_access", "Contact").fix
    assert [f.item for f in report.enable_candidates()] == ["Case_Audit"]
    assert [i.as_json() for i in report.automation_off_candidates()] == [
        {"kind": "ValidationRule", "name": "Contact.Phone_Required"}]

    # the fixes: enable the disabled trigger, filter out the records of the missing record type
    results = enable_disabled_metadata(pair.target, report.enable_candidates())
    assert [(r.item.name, r.action, r.status) for r in results] == [("Case_Audit", "activate", "done")]
    assert pair.target.tooling_get("ApexTrigger", trigger_id)["Status"] == "Active"
    objects[2]["filter"] = "RecordType.DeveloperName != 'Support'"
    again = check_metadata(template(objects), pair.source, pair.target)
    assert not [f for f in again.findings if f.kind == "record_type"]      # no record in scope uses it now
    assert one(again, "apex_trigger", "Case").data["fix"] == FIX_SWITCH_OFF      # now active in both orgs
    assert [(f.severity, f.item) for f in again.findings if f.severity != WARNING] == [
        (RECORDS_WILL_FAIL, "Contact.Phone_Required")]

    # the clean sync: the phone rule off around the run, and back on afterwards
    engine = pair.engine()
    job_id = engine.create_job(template(objects))
    target_org = org_ref(pair.server, "tgt").org_id
    with AutomationGuard(pair.journal, pair.target, job_id, again.automation_off_candidates(),
                         target_org_id=target_org) as guard:
        assert pair.target.tooling_get("ValidationRule", rule_id)["Metadata"]["active"] is False
        result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0 and pair.journal.errors(job_id) == []
    assert (result.objects["Account"].inserted, result.objects["Contact"].inserted,
            result.objects["Case"].inserted) == (4, 6, 2)
    assert [(r.action, r.status) for r in guard.results] == [("deactivate", "done"), ("restore", "done")]
    assert pair.target.tooling_get("ValidationRule", rule_id)["Metadata"]["active"] is True
    assert pending_restore(pair.journal, target_org) == []
    assert len(pair.rows("tgt", "SELECT Id FROM Contact WHERE Phone = null")) == 2
    assert {r["Title"] for r in pair.rows("tgt", "SELECT Title FROM Contact")} == {None}   # FLS: not carried


def test_counted_findings_match_what_a_real_run_rejects(make_pair: MakePair) -> None:
    target_seed = build_seed("empty", overrides={"field_flags": {
        "Account.Industry": {"restrictedPicklist": True, "values": ["Banking", "Retail"]},
        "Account.AccountNumber": {"type": "double", "precision": 18, "scale": 0},
        "Account.Website": {"required": True},
        "Contact.Department": {"length": 10},
        "Project__c.Status__c": {"required": True}}})
    pair = make_pair("empty", target_seed)
    good = {"Website": "https://x.test", "Industry": "Banking"}
    pair.insert("src", "Account", [
        {"Name": "P1", "External_Id__c": "P1", **good, "Industry": "Energy"},       # not in the restricted list
        {"Name": "P2", "External_Id__c": "P2", **good, "Industry": "Media"},
        {"Name": "T1", "External_Id__c": "T1", **good, "AccountNumber": "AB-1"},    # text into a number
        {"Name": "T2", "External_Id__c": "T2", **good, "AccountNumber": "AB-2"},
        {"Name": "R1", "External_Id__c": "R1", "Industry": "Retail"},               # required Website empty
        {"Name": "R2", "External_Id__c": "R2"},
        {"Name": "OK1", "External_Id__c": "OK1", **good},
        {"Name": "OK2", "External_Id__c": "OK2", "Website": "https://y.test"}])
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test",
                                    "Department": "Research and Development" if i < 2 else "Sales"} for i in range(4)])
    pair.insert("src", "Project__c", [{"Name": f"Pr{i}", "External_Id__c": f"PR{i}", "Status__c": "Planned"}
                                      for i in range(3)])
    objects = [{"object": "Account", "fields": ["Name", "External_Id__c", "Industry", "AccountNumber", "Website"]},
               {"object": "Contact", "fields": ["LastName", "Email", "Department"], "match_by": ["Email"]},
               {"object": "Project__c", "fields": ["Name", "External_Id__c"]}]

    report = check_metadata(template(objects), pair.source, pair.target)
    energy, media = (one(report, "picklist_values", "Account", "Industry", value) for value in ("Energy", "Media"))
    assert (energy.severity, energy.affected, media.severity, media.affected) == (RECORDS_WILL_FAIL, 1,
                                                                                   RECORDS_WILL_FAIL, 1)
    assert {f.item for f in report.findings if f.kind == "picklist_values"} == {"Energy", "Media"}  # values in use
    number = one(report, "type_mismatch", "Account", "AccountNumber")
    assert number.severity == RECORDS_WILL_FAIL and number.affected == 2
    assert (number.data["source_type"], number.data["target_type"]) == ("string", "double")
    website = one(report, "required_field", "Account", "Website")
    assert website.severity == RECORDS_WILL_FAIL and website.affected == 2
    unfilled = one(report, "required_field", "Project__c", "Status__c")
    assert unfilled.severity == RECORDS_WILL_FAIL and unfilled.affected == 3
    assert unfilled.fix == "add Status__c to the template's fields for Project__c"
    length = one(report, "field_length", "Contact", "Department")
    assert length.severity == WARNING and length.affected is None          # no scan: not counted
    assert (length.data["source_length"], length.data["target_length"]) == (80, 10)

    calls = pair.source.api_calls
    uncounted = check_metadata(template(objects), pair.source, pair.target, count_budget=0)
    assert one(uncounted, "picklist_values", "Account").affected is None
    assert one(uncounted, "picklist_values", "Account").severity == RECORDS_WILL_FAIL   # values are missing
    assert pair.source.api_calls - calls < 10                                          # describes cached, no counts

    scanned = {"Contact": pair.rows("src", "SELECT Id, Department FROM Contact")}
    with_scan = check_metadata(template(objects), pair.source, pair.target, source_records=scanned,
                               scan_counts={"Account": 8, "Contact": 4, "Project__c": 3})
    length = one(with_scan, "field_length", "Contact", "Department")
    assert length.severity == RECORDS_WILL_FAIL and length.affected == 2 and length.data["sampled"] == 4

    engine = pair.engine()
    job_id = engine.create_job(template(objects))
    result = engine.sync(job_id)
    failed_fields = Counter((e.object, e.fields[0] if e.fields else e.status_code) for e in pair.journal.errors(job_id))
    predicted: Counter = Counter()
    for f in with_scan.findings:
        if f.severity == RECORDS_WILL_FAIL:
            predicted[(f.object, f.field)] += f.affected
    assert failed_fields == predicted
    assert predicted == {("Account", "Industry"): 2, ("Account", "AccountNumber"): 2, ("Account", "Website"): 2,
                         ("Contact", "Department"): 2, ("Project__c", "Status__c"): 3}
    assert result.totals.errors == 11 and result.objects["Account"].inserted == 2


def test_missing_object_field_and_match_key_block_the_start_unless_overridden(make_pair: MakePair) -> None:
    target_seed = build_seed("empty", overrides={"remove_objects": ["Project_Task__c"],
                                                 "remove_fields": ["Contact.Department", "Account.Fax"]})
    pair = make_pair("empty", target_seed)
    objects = [{"object": "Account", "fields": ["Name", "Fax"], "match_by": ["Fax"]},
               {"object": "Contact", "fields": ["LastName", "Email", "Department"], "match_by": ["Email"]},
               {"object": "Project_Task__c", "fields": ["Name"], "match_by": ["Name"]},
               {"object": "Nothing_Here__c"}]
    strict = template(objects, skip_missing_fields=False)
    report = check_metadata(strict, pair.source, pair.target)
    blocking = {(f.kind, f.object, f.field) for f in report.blocking}
    assert blocking == {("missing_object", "Project_Task__c", None), ("missing_object", "Nothing_Here__c", None),
                        ("missing_field", "Contact", "Department"), ("missing_field", "Account", "Fax"),
                        ("match_key", "Account", "Fax")}
    assert one(report, "missing_object", "Nothing_Here__c").data["side"] == "source"
    assert one(report, "missing_object", "Project_Task__c").data["side"] == "target"
    with pytest.raises(TemplateError):          # the plan agrees: this template cannot run
        build_plan(parse_template(strict), pair.source, pair.target)

    with pytest.raises(PreflightBlocked) as caught:
        assert_can_start(report, override=False)
    assert caught.value.findings == report.blocking
    text = str(caught.value)
    assert "5 blocking findings" in text and "Project_Task__c" in text and "Contact.Department" in text
    assert assert_can_start(report, override=True) == report.blocking

    lenient = check_metadata(template(objects[1:2], skip_missing_fields=True), pair.source, pair.target)
    assert [(f.severity, f.kind, f.field) for f in lenient.findings] == [(WARNING, "missing_field", "Department")]
    assert_can_start(lenient)


def test_users_that_will_not_map_are_counted(make_pair: MakePair) -> None:
    pair = make_pair()
    standard = pair.rows("src", "SELECT Id FROM Profile WHERE Name = 'Standard User'")[0]["Id"]
    ghost = pair.insert("src", "User", [{"Username": "ghost@x.test", "Email": "ghost@x.test", "LastName": "Ghost",
                                         "Alias": "ghost", "ProfileId": standard}])[0]
    rows = pair.rows("src", "SELECT Id, Username FROM User")
    users = {u["Username"].split("@")[0]: u["Id"] for u in rows}
    john = next(u["Username"] for u in rows if u["Username"].startswith("john.smith@"))   # with the org's suffix
    target_john = pair.rows("tgt", "SELECT Id FROM User WHERE Username LIKE 'john.smith%'")[0]["Id"]
    # Usernames differ per org (each org has its own suffix); give the target's john the source's username
    # so that he maps by username, and deactivate him.
    pair.target.update([{"attributes": {"type": "User"}, "Id": target_john, "IsActive": False, "Username": john}])
    pair.insert("src", "Account", [{"Name": "G1", "External_Id__c": "G1", "OwnerId": ghost},
                                   {"Name": "G2", "External_Id__c": "G2", "OwnerId": ghost},
                                   {"Name": "J1", "External_Id__c": "J1", "OwnerId": users["john.smith"]},
                                   {"Name": "W1", "External_Id__c": "W1", "OwnerId": users["jane.doe"]}])
    report = check_metadata(template([{"object": "Account", "fields": ["Name", "External_Id__c", "OwnerId"]}]),
                            pair.source, pair.target)
    assert keys(report) == {(WARNING, "user_mapping", "Account", "OwnerId", "ghost@x.test"),
                            (RECORDS_WILL_FAIL, "user_mapping", "Account", "OwnerId", john)}
    assert one(report, "user_mapping", "Account", item="ghost@x.test").affected == 2
    assert "running user" in one(report, "user_mapping", "Account", item="ghost@x.test").message
    assert one(report, "user_mapping", "Account", item=john).affected == 1
    # users who own nothing in scope (wei.chen, the ghost for Contacts) are not findings
    contacts = check_metadata(template([{"object": "Contact", "fields": ["LastName", "OwnerId"]}]),
                              pair.source, pair.target)
    assert contacts.findings == []


def test_enable_disabled_metadata_activates_a_flow_and_reports_a_production_refusal(make_pair: MakePair) -> None:
    flow = {"DeveloperName": "Opp_Defaults", "MasterLabel": "Opp defaults", "ProcessType": "AutoLaunchedFlow",
            "TriggerType": "RecordBeforeSave", "TriggerObject": "Opportunity", "TriggerOn": "CreateAndUpdate"}
    trigger = {"Name": "CaseRouting", "TableEnumOrId": "Case", "UsageBeforeInsert": True, "UsageAfterInsert": False,
               "UsageBeforeUpdate": False, "UsageAfterUpdate": False,
               "Body": "trigger CaseRouting on Case (before insert) { }"}
    source = build_seed("empty")
    source.flows.append({**flow, "Active": True})
    source.triggers.append({**trigger, "Status": "Active"})
    target = make_production(build_seed("empty"))
    target.flows.append({**flow, "Active": False})
    target.triggers.append({**trigger, "Status": "Inactive"})
    pair = make_pair(source, target)
    objects = [{"object": "Opportunity", "fields": ["Name", "StageName", "CloseDate"], "match_by": ["Name"]},
               {"object": "Case", "fields": ["Subject"], "match_by": ["Subject"]}]

    report = check_metadata(template(objects), pair.source, pair.target)
    assert keys(report) == {(WARNING, "flow", "Opportunity", None, "Opp_Defaults"),
                            (WARNING, "apex_trigger", "Case", None, "CaseRouting")}
    flow_finding = one(report, "flow", "Opportunity")
    assert flow_finding.fixable and flow_finding.data["latest_version"] == 1
    trigger_finding = one(report, "apex_trigger", "Case")
    assert not trigger_finding.fixable and "production" in trigger_finding.fix and "deploy" in trigger_finding.fix

    results = {r.item.name: r for r in enable_disabled_metadata(pair.target, report.enable_candidates())}
    assert (results["Opp_Defaults"].status, results["Opp_Defaults"].ok) == ("done", True)
    assert (results["CaseRouting"].status, results["CaseRouting"].ok) == ("refused", False)
    assert "production" in results["CaseRouting"].message and "Metadata API" in results["CaseRouting"].message
    definition = pair.target.tooling_query("SELECT Id, ActiveVersionId FROM FlowDefinition")[0]
    assert definition["ActiveVersionId"] is not None
    assert pair.target.tooling_get("FlowDefinition", definition["Id"])["Metadata"]["activeVersionNumber"] == 1
    assert pair.target.tooling_query("SELECT Status FROM ApexTrigger")[0]["Status"] == "Inactive"
    after = check_metadata(template(objects), pair.source, pair.target)
    assert one(after, "flow", "Opportunity").data["fix"] == FIX_SWITCH_OFF      # active in both now


def test_a_saved_plan_can_be_checked_and_a_field_gone_since_blocks(make_pair: MakePair) -> None:
    pair = make_pair()
    tmpl = parse_template(template([{"object": "Contact", "fields": ["LastName", "Email", "Title"],
                                     "match_by": ["Email"]}]))
    plan = build_plan(tmpl, pair.source, pair.target)
    assert check_metadata(plan, pair.source, pair.target).findings == []

    class Shrunk:
        """The target after someone deleted Contact.Title (the describe the plan was built on is stale)."""

        def __init__(self, org: Any) -> None:
            self.org, self.alias = org, org.alias

        def describe(self, name: str) -> dict:
            described = dict(self.org.describe(name))
            described["fields"] = [f for f in described["fields"] if f["name"] != "Title"]
            return described

        def __getattr__(self, name: str) -> Any:
            return getattr(self.org, name)

    report = check_metadata(plan, pair.source, Shrunk(pair.target))
    finding = one(report, "missing_field", "Contact", "Title")
    assert finding.severity == BLOCKING and "plan" in finding.message


def test_report_frame_and_csv_export(tmp_path: Path) -> None:
    findings = [
        Finding("missing_field", "Account", "Phone", None, WARNING, "Account.Phone does not exist", "create it"),
        Finding("validation_rule", "Contact", None, "Contact.X", RECORDS_WILL_FAIL, "=HYPERLINK(\"evil\")",
                "switch it off", True, {"fix": FIX_SWITCH_OFF, "affected": 3,
                                        "automation": {"kind": "ValidationRule", "name": "Contact.X"}}),
        Finding("missing_object", "Foo__c", None, None, BLOCKING, "Foo__c does not exist", "@remove it"),
    ]
    report = PreflightReport(findings, "2024-06-01T10:00:00.000Z", "src", "tgt")
    assert [f.severity for f in report.findings] == [BLOCKING, RECORDS_WILL_FAIL, WARNING]
    assert list(report.by_severity) == [BLOCKING, RECORDS_WILL_FAIL, WARNING]
    assert report.counts == {BLOCKING: 1, RECORDS_WILL_FAIL: 1, WARNING: 1}
    assert report.summary() == "1 blocking, 1 where records will fail, 1 warning"
    assert not report.clean and report.fixable == [findings[1]]
    assert PreflightReport.from_json(report.as_json()) == report

    frame = report.to_frame()
    assert list(frame.columns) == REPORT_COLUMNS and len(frame) == 3
    assert frame.iloc[1]["Message"] == "=HYPERLINK(\"evil\")"            # raw in the frame
    path = tmp_path / "check.csv"
    assert report.export_csv(path) == 3
    assert path.read_bytes().startswith(b"\xef\xbb\xbf")
    written = pd.read_csv(path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(written.columns) == REPORT_COLUMNS
    assert written.iloc[1]["Message"] == "'=HYPERLINK(\"evil\")"        # neutralised in the file
    assert written.iloc[0]["Suggested Fix"] == "'@remove it"
    assert (written.iloc[1]["Fixable"], written.iloc[1]["Affected Records"]) == ("yes", "3")
    assert list(tmp_path.glob(".check.csv.*")) == []                     # no temp file left
    with pytest.raises(FileNotFoundError, match="does not exist"):
        report.export_csv(tmp_path / "missing" / "check.csv")
    with pytest.raises(IsADirectoryError):
        report.export_csv(tmp_path)
    empty = PreflightReport([], "2024-06-01T10:00:00.000Z")
    assert empty.summary() == "no findings" and empty.clean and empty.export_csv(tmp_path / "empty.csv") == 0
    assert pd.read_csv(tmp_path / "empty.csv", encoding="utf-8-sig").columns.tolist() == REPORT_COLUMNS


# ------------------------------------------------------------------------------------------ the demo orgs
def test_demo_source_to_demo_target_lists_the_expected_findings(make_pair: MakePair) -> None:
    from isyncsf_desktop.engine.template import load_template

    pair = make_pair("demo-source", "demo-target")
    demo = load_template(Path(__file__).resolve().parents[2] / "isyncsf_desktop" / "data" / "templates" / "demo.json")
    report = check_metadata(demo, pair.source, pair.target)
    priya_username = pair.rows("src", "SELECT Username FROM User WHERE Username LIKE 'priya.patel@%'")[0]["Username"]

    assert keys(report) == {
        (RECORDS_WILL_FAIL, "record_type", "Case", "RecordTypeId", "Case.Support"),   # Product_Support there
        (RECORDS_WILL_FAIL, "picklist_values", "Case", "Type", "Electronic"),         # restricted: Electronics
        (RECORDS_WILL_FAIL, "validation_rule", "Contact", None, "Contact.Contact_Phone_Required"),
        (WARNING, "missing_field", "Account", "Customer_Tier__c", None),
        (WARNING, "field_access", "Account", "AnnualRevenue", None),
        (WARNING, "apex_trigger", "Case", None, "CaseTrigger"),
        (WARNING, "apex_trigger", "Opportunity", None, "OpportunityGuard"),
        (WARNING, "flow", "Opportunity", None, "Opportunity_Default_Next_Step"),
        (WARNING, "validation_rule", "Account", None, "Account.Partner_Website_Required"),
        (WARNING, "validation_rule", "Case", None, "Case.Closed_Case_Requires_Description"),
        (WARNING, "user_mapping", "User", None, priya_username),   # with the source org's suffix
        (WARNING, "queue_mapping", "Case", "OwnerId", "Escalations"),          # the target has Escalation_Team
        (WARNING, "queue_mapping", "Project__c", "OwnerId", "Project_Intake"),
    }
    assert report.blocking == [] and report.summary() == "3 where records will fail, 10 warnings"
    support = pair.source.count("Case", "RecordType.DeveloperName = 'Support'")
    assert support > 0 and one(report, "record_type", "Case").affected == support
    priya = pair.rows("src", "SELECT Id FROM User WHERE Username LIKE 'priya.patel@%'")[0]["Id"]
    owned = sum(pair.source.count(obj, f"{field} = '{priya}'") for obj, field in [
        ("Account", "OwnerId"), ("Contact", "OwnerId"), ("Opportunity", "OwnerId"), ("Case", "OwnerId"),
        ("Project__c", "OwnerId"), ("Project_Task__c", "Assignee__c")])
    user = one(report, "user_mapping", "User")
    assert owned > 0 and user.affected == owned
    assert {f.item for f in report.enable_candidates()} == {"CaseTrigger", "Opportunity_Default_Next_Step"}
    assert {i.name for i in report.automation_off_candidates()} == {"Contact.Contact_Phone_Required",
                                                                    "OpportunityGuard"}
    tier = one(report, "missing_field", "Account", "Customer_Tier__c")
    assert tier.data["records_with_value"] == pair.source.count("Account", "Customer_Tier__c != null") > 0


def test_demo_pair_after_the_fixes_syncs_contacts_without_a_single_error(make_pair: MakePair) -> None:
    from isyncsf_desktop.engine.template import load_template

    pair = make_pair("demo-source", "demo-target")
    demo = load_template(Path(__file__).resolve().parents[2] / "isyncsf_desktop" / "data" / "templates" / "demo.json")
    report = check_metadata(demo, pair.source, pair.target)
    enabled = enable_disabled_metadata(pair.target, report.enable_candidates())
    assert sorted((r.item.name, r.status) for r in enabled) == [("CaseTrigger", "done"),
                                                                ("Opportunity_Default_Next_Step", "done")]
    rule = next(i for i in report.automation_off_candidates() if i.name == "Contact.Contact_Phone_Required")
    engine = pair.engine()
    job_id = engine.create_job(demo)
    target_org = org_ref(pair.server, "tgt").org_id
    with AutomationGuard(pair.journal, pair.target, job_id, [rule], target_org_id=target_org):
        result = engine.sync(job_id)
    assert result.state == "Synced" and result.objects["Contact"].errors == 0     # 46 with the rule on
    codes = Counter(e.status_code for e in pair.journal.errors(job_id))
    assert set(codes) <= {"RECORD_TYPE_NOT_FOUND", "PARENT_FAILED"}
    support = {r["Id"] for r in pair.rows("src", "SELECT Id FROM Case WHERE RecordType.DeveloperName = 'Support'")}
    failed_cases = {e.source_id for e in pair.journal.errors(job_id, "Case")}
    assert support <= failed_cases and len(support) == one(report, "record_type", "Case").affected  # as predicted
    assert codes["RECORD_TYPE_NOT_FOUND"] > 0
    after = check_metadata(demo, pair.source, pair.target)
    assert after.enable_candidates() == [] and pending_restore(pair.journal, target_org) == []
    assert one(after, "validation_rule", "Contact").severity == RECORDS_WILL_FAIL     # switched back on


def test_automation_the_template_switches_off_is_not_counted_as_records_will_fail(make_pair: MakePair) -> None:
    """A validation rule saved in ``automation_off`` is off while the sync writes: it rejects nothing then,
    so the check lists it as a warning that says so, not under "records will fail"."""
    from isyncsf_desktop.engine.template import load_template

    pair = make_pair("demo-source", "demo-target")
    demo = load_template(Path(__file__).resolve().parents[2] / "isyncsf_desktop" / "data" / "templates" / "demo.json")
    demo.options["automation_off"] = [{"kind": "ValidationRule", "name": "Contact.Contact_Phone_Required"}]
    report = check_metadata(demo, pair.source, pair.target)
    rule = one(report, "validation_rule", "Contact")
    assert rule.severity == WARNING and rule.data["switched_off"] is True
    assert "switches it off during the sync" in rule.message
    assert report.summary() == "2 where records will fail, 11 warnings"
    assert "Contact.Contact_Phone_Required" in {i.name for i in report.automation_off_candidates()}


def test_a_match_key_the_org_cannot_filter_on_blocks_the_start_naming_the_field(make_pair: MakePair) -> None:
    """Description is a long text area: a real org refuses it in a WHERE clause (INVALID_FIELD), so every
    sync matching on it would fail. The check says so before a job exists."""
    pair = make_pair("empty", "empty")
    pair.insert("src", "Account", [{"Name": "Acme", "Description": "the one"}])
    report = check_metadata(template([{"object": "Account", "fields": ["Name", "Description"],
                                        "match_by": ["Description"]}]), pair.source, pair.target)
    finding = one(report, "match_key", "Account", "Description")
    assert finding.severity == BLOCKING
    assert "cannot filter on it (a long text area)" in finding.message and "INVALID_FIELD" in finding.message
    with pytest.raises(PreflightBlocked):
        assert_can_start(report)
    ok = check_metadata(template([{"object": "Account", "fields": ["Name"], "match_by": ["Name"]}]),
                        pair.source, pair.target)
    assert not [f for f in ok.findings if f.kind == "match_key"]
    # what the check prevents: the org itself refuses the filter
    from simple_salesforce.exceptions import SalesforceMalformedRequest
    with pytest.raises(SalesforceMalformedRequest, match="INVALID_FIELD|filter"):
        pair.target.sf.query("SELECT Id FROM Account WHERE Description = 'the one'")


def test_queue_owners_the_target_lacks_are_found_with_a_suggested_mapping(make_pair: MakePair) -> None:
    """Escalations has no queue of its DeveloperName on the target: a warning with the most similar target
    queue as the suggested fix; once the template maps it, the finding goes; a mapping to a queue the target
    lacks, or to one that does not take the object, is a "records will fail" finding."""
    pair = make_pair("demo-source", "demo-target")
    cases = {"object": "Case", "fields": ["Subject", "Status", "Description", "OwnerId"], "match_by": ["Subject"]}
    projects = {"object": "Project__c", "fields": ["Name", "External_Id__c", "OwnerId"], "match_by": ["External_Id__c"]}

    def queue_findings(mappings: dict | None = None) -> dict:
        doc = template([cases, projects])
        if mappings is not None:
            doc["mappings"] = {"owners": mappings}
        return {f.item: f for f in check_metadata(doc, pair.source, pair.target).findings if f.kind == "queue_mapping"}

    found = queue_findings()
    assert set(found) == {"Escalations", "Project_Intake"}           # Tier_1_Support exists on both
    escalations = found["Escalations"]
    assert (escalations.severity, escalations.object, escalations.field, escalations.affected) == (
        WARNING, "Case", "OwnerId", 15)
    assert escalations.message == ("owner is a queue that does not exist on the target: Escalations (15 Cases); "
                                   "they go to the running user")
    target_queue = pair.rows("tgt", "SELECT Id FROM Group WHERE DeveloperName = 'Escalation_Team'")[0]["Id"]
    assert escalations.data["suggested_mapping"] == {"source": "Escalations", "target": "Escalation_Team",
                                                     "target_id": target_queue}
    assert escalations.fix.startswith("map 'Escalations' to 'Escalation_Team'")
    assert found["Project_Intake"].data["suggested_mapping"] is None   # nothing on the target is like it

    mapped = queue_findings({"map": {"Escalations": "Escalation_Team", "Project_Intake": "Tier_1_Support"},
                             "default": "ops@acme.example"})
    assert set(mapped) == {"Project_Intake"}
    assert mapped["Project_Intake"].severity == RECORDS_WILL_FAIL and mapped["Project_Intake"].affected == 5
    assert "the target queue Tier_1_Support does not accept Project__c records" in mapped["Project_Intake"].message

    missing = queue_findings({"map": {"Escalations": "Escalation_Desk"}})
    assert missing["Escalations"].severity == RECORDS_WILL_FAIL
    assert missing["Escalations"].message.startswith("the owner mapping Escalations -> Escalation_Desk names a queue "
                                                     "that does not exist in the target org")
    assert "they go to the running user" in missing["Project_Intake"].message


def test_record_types_and_picklist_values_the_target_lacks_come_with_a_suggested_mapping(make_pair: MakePair) -> None:
    """The demo target calls Case's Support record type Product_Support and its restricted Case.Type says
    Electronics where the source says Electronic: each is found with its count and the most similar target
    name as the suggested mapping; with the mapping in the template the finding is gone; a mapping naming what
    the target lacks is "records will fail", naming it."""
    pair = make_pair("demo-source", "demo-target")
    cases = {"object": "Case", "fields": ["Subject", "Type", "RecordTypeId"], "match_by": ["Subject"]}

    def findings(mappings: dict | None = None) -> dict:
        doc = template([cases])
        if mappings is not None:
            doc["mappings"] = mappings
        report = check_metadata(doc, pair.source, pair.target)
        return {(f.kind, f.item): f for f in report.findings if f.kind in ("record_type", "picklist_values")}

    support = pair.source.count("Case", "RecordType.DeveloperName = 'Support'")
    electronic = pair.source.count("Case", "Type = 'Electronic'")
    target_rt = pair.rows("tgt", "SELECT Id FROM RecordType WHERE DeveloperName = 'Product_Support'")[0]["Id"]
    found = findings()
    assert set(found) == {("record_type", "Case.Support"), ("picklist_values", "Electronic")}
    rt, value = found[("record_type", "Case.Support")], found[("picklist_values", "Electronic")]
    assert (rt.severity, rt.affected, value.severity, value.affected) == (RECORDS_WILL_FAIL, support,
                                                                          RECORDS_WILL_FAIL, electronic)
    assert rt.message == f"record type missing on the target: Case.Support ({support} Cases); they will fail"
    assert rt.fix.startswith("map 'Support' to 'Product_Support' in the template's record type mappings for Case")
    assert rt.data["suggested_mapping"] == {"object": "Case", "source": "Support", "target": "Product_Support",
                                            "target_id": target_rt}
    assert value.message == (f"value not in the target's picklist: Case.Type 'Electronic' ({electronic} records); "
                             "the picklist is restricted there, so they will fail")
    assert value.fix.startswith("map 'Electronic' to 'Electronics' in the template's picklist mappings for Case.Type")
    assert value.data["suggested_mapping"] == {"field": "Case.Type", "source": "Electronic", "target": "Electronics"}

    # the suggested mappings in the template: both findings are gone
    mapped = {"record_types": {"Case": {"map": {"Support": "Product_Support"}}},
              "picklists": {"Case.Type": {"Electronic": "Electronics"}}}
    assert findings(mapped) == {}

    # mappings naming what the target lacks: records will fail, naming it
    wrong = findings({"record_types": {"Case": {"map": {"Support": "Support_Team"}}},
                      "picklists": {"Case.Type": {"Electronic": "Electronix"}}})
    assert set(wrong) == {("record_type", "Case.Support"), ("picklist_values", "Electronic")}
    assert wrong[("record_type", "Case.Support")].severity == RECORDS_WILL_FAIL
    assert wrong[("record_type", "Case.Support")].message.startswith(
        "the record type mapping Case.Support -> Support_Team names a record type that does not exist on Case")
    assert wrong[("picklist_values", "Electronic")].severity == RECORDS_WILL_FAIL
    assert wrong[("picklist_values", "Electronic")].message == (
        f"the picklist mapping Case.Type 'Electronic' -> 'Electronix' names a value the target's picklist does not "
        f"have; {electronic} records in scope with 'Electronic' will fail")

    # a default record type takes the rest: a warning that says so (still with the suggestion)
    default = findings({"record_types": {"Case": {"default": "Billing"}},
                        "picklists": {"Case.Type": {"Electronic": "Electronics"}}})
    assert default[("record_type", "Case.Support")].severity == WARNING
    assert default[("record_type", "Case.Support")].message.endswith("they get the default record type Billing")


def test_an_unrestricted_picklist_value_the_target_lacks_is_a_warning(make_pair: MakePair) -> None:
    """Saved anyway, as a value nobody can pick: the check warns, per value in use, with a suggestion."""
    target_seed = build_seed("empty", overrides={"field_flags": {"Account.Rating": {"values": ["Hot", "Warm", "Cold"]}}})
    source_seed = build_seed("empty", overrides={"field_flags": {
        "Account.Rating": {"values": ["Hot", "Warm", "Warmish", "Cold", "Frozen"]}}})
    pair = make_pair(source_seed, target_seed)
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"A{i}", "Rating": "Warmish"} for i in range(3)])
    report = check_metadata(template([{"object": "Account", "fields": ["Name", "External_Id__c", "Rating"]}]),
                            pair.source, pair.target)
    [warmish] = [f for f in report.findings if f.kind == "picklist_values"]      # Frozen: no record uses it
    assert (warmish.severity, warmish.item, warmish.affected) == (WARNING, "Warmish", 3)
    assert warmish.message == ("value not in the target's picklist: Account.Rating 'Warmish' (3 records); the "
                               "picklist is not restricted there, so they are saved with a value it does not list")
    assert warmish.data["suggested_mapping"]["target"] == "Warm"
