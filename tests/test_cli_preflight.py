"""`isyncsf check` and `isyncsf automation list|restore` end to end against sandbox orgs (in-process ``main``),
and the journal's settings-by-prefix listing they and the app's start-up restore rely on."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from helpers import add_cli_orgs
from helpers import run_cli as run

from isyncsf_desktop import cli, paths
from isyncsf_desktop.cli_preflight import EXIT_BLOCKING, add_parsers
from isyncsf_desktop.engine.automation import AutomationGuard, parse_automation_off, pending_restore, setting_key
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.preflight import REPORT_COLUMNS

DEMO = Path(__file__).resolve().parents[1] / "isyncsf_desktop" / "data" / "templates" / "demo.json"
PHONE_RULE = {"kind": "ValidationRule", "name": "Contact.Contact_Phone_Required"}


@pytest.fixture
def demo(cli_orgs: Any) -> Any:
    """The demo orgs, added to the CLI."""
    return cli_orgs


def rule_active(server: Any) -> bool:
    from isyncsf_desktop.salesforce.registry import OrgRegistry

    rows = OrgRegistry().client("target").tooling_query(
        "SELECT Active FROM ValidationRule WHERE ValidationName = 'Contact_Phone_Required'")
    return bool(rows[0]["Active"])


# ------------------------------------------------------------------------------------------ check
def test_check_prints_findings_grouped_by_severity_and_exits_0_without_blocking(demo, capsys):
    code, out, _ = run(capsys, "check", "--source", "source", "--target", "target", "--template", str(DEMO))
    assert code == 0
    assert 'template "Demo: Acme sales data"): 3 where records will fail, 10 warnings' in out
    assert "BLOCKS THE SYNC" not in out
    fails, warnings = out.index("RECORDS WILL FAIL (3)"), out.index("WARNINGS (10)")
    assert fails < warnings
    assert fails < out.index("Contact / Contact.Contact_Phone_Required") < warnings
    assert out.index("Account.Customer_Tier__c") > warnings
    assert "fix: " in out and "The sync can start: no blocking finding." in out
    assert "CaseTrigger" in out.split("disabled in the target:")[1]
    # a queue the target lacks, with the best guess of a target queue to map it to
    assert out.index("Case.OwnerId / Escalations  [15 records]") > warnings
    assert "owner is a queue that does not exist on the target: Escalations (15 Cases); they go to the running " \
           "user" in out
    assert "fix: map 'Escalations' to 'Escalation_Team' in the template's owner mappings" in out


def test_check_json_and_csv(demo, capsys, tmp_path):
    csv_path = tmp_path / "check.csv"
    code, out, err = run(capsys, "check", "--source", "source", "--target", "target", "--template", str(DEMO),
                         "--json", "--csv", str(csv_path))
    assert code == 0
    data = json.loads(out)                                   # stdout is only the JSON
    assert data["blocking"] == 0 and len(data["findings"]) == 13
    assert data["counts"] == {"blocking": 0, "records will fail": 3, "warning": 10}
    assert (data["source"], data["target"]) == ("source", "target")
    first = data["findings"][0]
    assert set(first) >= {"kind", "object", "field", "item", "severity", "message", "fix", "fixable", "data"}
    assert [f["severity"] for f in data["findings"]][:2] == ["records will fail"] * 2
    assert f"wrote 13 finding(s) to {csv_path}" in err
    frame = pd.read_csv(csv_path, dtype=str, encoding="utf-8-sig", keep_default_na=False)
    assert list(frame.columns) == REPORT_COLUMNS and len(frame) == 13
    assert set(frame["Item"]) >= {"Contact.Contact_Phone_Required", "CaseTrigger", "Case.Support"}
    queue = next(f for f in data["findings"] if f["kind"] == "queue_mapping" and f["item"] == "Escalations")
    assert queue["data"]["suggested_mapping"]["source"] == "Escalations"
    assert queue["data"]["suggested_mapping"]["target"] == "Escalation_Team"


def test_check_exits_3_on_blocking_findings(sandbox_factory, capsys, tmp_path):
    from isyncsf_desktop.sandbox.seeds import build_seed

    server = sandbox_factory({"source": "demo-source",
                              "target": build_seed("empty", overrides={"remove_objects": ["Project_Task__c"]})})
    add_cli_orgs(capsys, server)
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"name": "projects", "objects": [
        {"object": "Project__c", "match_by": ["External_Id__c"]},
        {"object": "Project_Task__c", "match_by": ["Name"]}]}))
    code, out, _ = run(capsys, "check", "--source", "source", "--target", "target", "--template", str(path))
    assert code == EXIT_BLOCKING == 3
    assert "BLOCKS THE SYNC (1)" in out and "Project_Task__c" in out and "--override-preflight" in out
    code, out, _ = run(capsys, "check", "--source", "source", "--target", "target", "--template", str(path), "--json")
    data = json.loads(out)
    assert code == 3 and data["blocking"] == 1
    assert [(f["kind"], f["object"]) for f in data["findings"] if f["severity"] == "blocking"] == [
        ("missing_object", "Project_Task__c")]


def test_check_help_documents_the_exit_codes(capsys):
    with pytest.raises(SystemExit):
        cli.main(["check", "--help"])
    out = capsys.readouterr().out
    assert "exit codes:" in out and "3  blocking findings are open" in out and "--csv OUT" in out


@pytest.mark.parametrize(("argv", "message"), [
    (["check", "--source", "nope", "--target", "target", "--template", "{demo}"], "no org named 'nope'"),
    (["check", "--source", "source", "--target", "target", "--template", "missing.json"], "template file not found"),
    (["check", "--source", "source", "--target", "target", "--template", "{demo}", "--csv", "{tmp}/no/dir/x.csv"],
     "does not exist"),
    (["automation", "list", "--org", "target", "--objects", " , "], "--objects needs at least one object"),
    (["automation", "list", "--org", "nope", "--objects", "Account"], "no org named 'nope'"),
    (["automation", "restore", "--org", "nope"], "no org named 'nope'"),
])
def test_bad_input_exits_2(demo, capsys, tmp_path, argv, message):
    argv = [a.replace("{demo}", str(DEMO)).replace("{tmp}", str(tmp_path)) for a in argv]
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_automation_without_an_action_prints_its_help_and_exits_2(capsys):
    code, _, err = run(capsys, "automation")
    assert code == 2 and "list" in err and "restore" in err


# ------------------------------------------------------------------------------------------ automation
def test_automation_list(demo, capsys):
    code, out, _ = run(capsys, "automation", "list", "--org", "target", "--objects", "Account, Contact,Case")
    assert code == 0
    assert "Contact.Contact_Phone_Required" in out and "CaseTrigger" in out
    rule_line = next(line for line in out.splitlines() if "Contact.Contact_Phone_Required" in line)
    trigger_line = next(line for line in out.splitlines() if "CaseTrigger" in line)
    assert rule_line.startswith("validation rule") and " active " in rule_line
    assert trigger_line.startswith("Apex trigger") and " inactive " in trigger_line
    assert "OpportunityGuard" not in out                  # Opportunity is not asked for

    code, out, _ = run(capsys, "automation", "list", "--org", "target", "--objects", "Contact,Case", "--json")
    items = {i["name"]: i for i in json.loads(out)}
    assert code == 0
    assert items["Contact.Contact_Phone_Required"] | {"id": None} == {
        "kind": "ValidationRule", "name": "Contact.Contact_Phone_Required", "object": "Contact", "active": True,
        "switchable": True, "label": "Contact_Phone_Required", "detail": items["Contact.Contact_Phone_Required"]["detail"],
        "note": None, "id": None}
    assert (items["CaseTrigger"]["kind"], items["CaseTrigger"]["active"]) == ("ApexTrigger", False)

    code, out, _ = run(capsys, "automation", "list", "--org", "target", "--objects", "Project_Task__c")
    assert code == 0 and "no validation rule, Apex trigger or record-triggered flow on Project_Task__c" in out


def test_automation_restore_after_a_run_that_died(demo, capsys):
    # a run switched the phone rule off, then the process died: nothing restored it
    from isyncsf_desktop.salesforce.registry import OrgRegistry

    registry = OrgRegistry()
    org_id = registry.get("target").org_id
    journal = Journal(paths.journal_path())
    guard = AutomationGuard(journal, registry.client("target"), 7, parse_automation_off([PHONE_RULE]),
                            target_org_id=org_id)
    assert [r.status for r in guard.switch_off()] == ["done"]
    journal.close()
    assert not rule_active(demo)

    code, out, _ = run(capsys, "automation", "restore", "--org", "source")
    assert code == 0 and "nothing to restore in source" in out
    code, out, err = run(capsys, "check", "--source", "source", "--target", "target", "--template", str(DEMO), "--json")
    assert code == 0 and json.loads(out)["blocking"] == 0
    assert ("note: 1 automation item in target is still switched off since a run that did not finish "
            "(Contact.Contact_Phone_Required): `isyncsf automation restore --org target`") in err

    code, out, _ = run(capsys, "automation", "restore", "--org", "target")
    assert code == 0, out
    assert "target: 1 item left switched off by a run" in out
    assert "done       validation rule Contact.Contact_Phone_Required switched back on" in out
    assert rule_active(demo)
    journal = Journal(paths.journal_path())
    try:
        assert pending_restore(journal, org_id) == []
    finally:
        journal.close()

    code, out, _ = run(capsys, "automation", "restore", "--org", "target", "--json")
    assert code == 0 and json.loads(out) == {"org": "target", "pending": 0, "results": []}
    code, _, err = run(capsys, "check", "--source", "source", "--target", "target", "--template", str(DEMO))
    assert code == 0 and "still switched off" not in err


@pytest.mark.expect_log
def test_automation_restore_json_reports_what_the_org_refused(demo, capsys):
    from isyncsf_desktop.salesforce.registry import OrgRegistry

    registry = OrgRegistry()
    org_id = registry.get("target").org_id
    journal = Journal(paths.journal_path())
    guard = AutomationGuard(journal, registry.client("target"), 8, parse_automation_off([PHONE_RULE]),
                            target_org_id=org_id)
    guard.switch_off()
    journal.close()
    demo.faults("target").update(request_limit_exceeded=1000)   # the org refuses every call
    code, out, _ = run(capsys, "automation", "restore", "--org", "target", "--json")
    data = json.loads(out)
    assert code == 1 and data["pending"] == 1 and data["left"] == 1
    assert [(r["name"], r["ok"]) for r in data["results"]] == [("Contact.Contact_Phone_Required", False)]
    demo.faults("target").update(request_limit_exceeded=0)
    code, out, _ = run(capsys, "automation", "restore", "--org", "target")
    assert code == 0 and rule_active(demo)


# ------------------------------------------------------------------------------------------ journal settings
def test_journal_settings_lists_keys_by_prefix(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        assert journal.settings("automation:") == {}
        journal.set_setting(setting_key("00DB"), {"items": [PHONE_RULE]})
        journal.set_setting(setting_key("00DA"), {"items": []})
        journal.set_setting("automation.disabled", 1)        # no colon: another prefix
        journal.set_setting("Automation:00DC", 2)            # prefixes are case-sensitive
        journal.set_setting("window", "x")
        assert journal.settings("automation:") == {"automation:00DA": {"items": []},
                                                   "automation:00DB": {"items": [PHONE_RULE]}}
        assert list(journal.settings("automation")) == ["automation.disabled", "automation:00DA", "automation:00DB"]
        assert journal.settings("%") == {} and journal.settings("automation_") == {}   # no LIKE wildcards
        assert len(journal.settings()) == 5 and journal.settings("window") == {"window": "x"}
        journal.delete_setting(setting_key("00DA"))
        assert list(journal.settings("automation:")) == ["automation:00DB"]
    finally:
        journal.close()
