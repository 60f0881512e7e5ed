"""`isyncsf retry` with the template as saved now (issue 21 item 1, the CLI's side): ``--template FILE``, or
without it the app's template of the job's name, supplies the settings of how records are written; the
validation rule the user ticked after the sync is switched off for the retry, and the demo Contacts it
rejected go in."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
from helpers import run_cli as run

from isyncsf_desktop import paths
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.template import parse_template, save_template

RULE = {"kind": "ValidationRule", "name": "Contact.Contact_Phone_Required"}
TEMPLATE = {
    "name": "CLI retry demo",
    "options": {"continue_on_error": True, "versioning": True},
    "objects": [{"object": "Account", "match_by": ["External_Id__c"]}, {"object": "Contact", "match_by": ["Email"]}],
}


@pytest.fixture
def synced(cli_orgs: Any, template_file: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Any, int]:
    """The demo orgs added to the CLI, and the job of a sync whose Contacts the target's phone rule rejected."""
    code, out, err = run(capsys, "sync", "--source", "source", "--target", "target", "--template",
                         str(template_file), "--json")
    assert code == 0, err
    result = json.loads(out)
    assert result["totals"]["errors"] == 46 and result["totals"]["inserted"] > 0
    return cli_orgs, result["job_id"]


def fixed() -> dict[str, Any]:
    """The template as the user saves it after the fix: the phone rule ticked to be switched off."""
    template = copy.deepcopy(TEMPLATE)
    template["options"]["automation_off"] = [RULE]
    return template


def rule_active() -> bool:
    from isyncsf_desktop.salesforce.registry import OrgRegistry

    rows = OrgRegistry().client("target").tooling_query(
        "SELECT Active FROM ValidationRule WHERE ValidationName = 'Contact_Phone_Required'")
    return bool(rows[0]["Active"])


def assert_retried_with_the_rule_off(capsys: pytest.CaptureFixture[str], job_id: int, out: str) -> None:
    retried = json.loads(out)
    assert retried["state"] == "Synced"
    contacts = next(row for row in retried["objects"] if row["object"] == "Contact")
    assert contacts["errors"] == 0 and contacts["inserted"] == 46     # the Contacts the rule rejected
    assert retried["totals"]["errors"] == 0
    with Journal(paths.journal_path()) as journal:
        assert journal.job_facts(job_id).failed == 0
        assert journal.job(job_id).template["options"]["automation_off"] == [RULE]   # what the retry applied
    assert rule_active()             # switched back on after the run
    code, _, err = run(capsys, "retry", str(job_id))          # nothing left to retry
    assert code == 2 and err == f"error: Job {job_id} has no failed records to retry\n"


def test_retry_with_template_file_applies_its_automation_off(synced, tmp_path, capsys):
    _, job_id = synced
    saved = tmp_path / "fixed.json"
    saved.write_text(json.dumps(fixed()))
    code, out, err = run(capsys, "retry", str(job_id), "--template", str(saved), "--json")
    assert code == 0, err
    assert_retried_with_the_rule_off(capsys, job_id, out)


def test_retry_finds_the_apps_saved_template_by_the_jobs_name(synced, capsys):
    _, job_id = synced
    folder = paths.templates_dir()
    other = copy.deepcopy(TEMPLATE)
    other["name"] = "Another template"
    save_template(parse_template(other), folder / "another.json")      # not the job's: ignored
    save_template(parse_template(fixed()), folder / "cli-retry-demo.json")
    code, out, err = run(capsys, "retry", str(job_id), "--json")
    assert code == 0, err
    assert_retried_with_the_rule_off(capsys, job_id, out)


def test_retry_without_a_saved_template_keeps_the_jobs_settings(synced, capsys):
    _, job_id = synced
    code, out, err = run(capsys, "retry", str(job_id), "--json")
    assert code == 0, err
    assert json.loads(out)["totals"]["errors"] == 46      # nothing saved since: the rule still rejects them
