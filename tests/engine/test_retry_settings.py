"""Retry Failed and Start ReSync apply the template's current settings of how records are written (issue 21
item 1): a validation rule ticked and saved after the sync is switched off for the retry, which records the
job takes stays the job's, and the job keeps what the run applied."""

from __future__ import annotations

import copy

import pytest

from isyncsf_desktop.engine.events import Notice
from isyncsf_desktop.engine.run.settings import how_changes, saved_template, which_changes, with_current_how
from isyncsf_desktop.engine.template import parse_template, save_template

RULE = {"kind": "ValidationRule", "name": "Contact.Contact_Phone_Required"}
TEMPLATE = {"name": "Retry settings", "options": {"continue_on_error": True, "versioning": True, "batch_size": 50},
            "objects": [{"object": "Account", "match_by": ["External_Id__c"]},
                        {"object": "Contact", "match_by": ["Email"]}]}


def fixed(template: dict, **options) -> dict:
    """``template`` as the user saves it after the fix: the rule ticked (and ``options``)."""
    saved = copy.deepcopy(template)
    saved["options"].update(automation_off=[RULE], **options)
    return saved


def rule_active(pair) -> bool:
    rows = pair.target.sf.toolingexecute("query/?q=SELECT+Id,Active+FROM+ValidationRule+WHERE+"
                                         "ValidationName='Contact_Phone_Required'")["records"]
    return bool(rows[0]["Active"])


@pytest.mark.parametrize("kind", ["retry", "resync"])
def test_a_retry_switches_off_the_rule_saved_after_the_sync(make_pair, kind):
    pair = make_pair("demo-source", "demo-target")
    engine = pair.engine()
    job_id = engine.create_job(TEMPLATE)
    first = engine.sync(job_id)
    failed = first.objects["Contact"].errors
    assert failed > 0 and {e.status_code for e in pair.journal.errors(job_id)} >= {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}
    # The user ticks the rule, saves the template, and narrows its objects (which records: not taken).
    current = fixed(TEMPLATE, batch_size=20)
    current["objects"] = current["objects"][:1]
    again = engine.run(kind, job_id, current=parse_template(current))
    assert again.objects["Contact"].errors == 0
    assert again.objects["Contact"].inserted == failed
    assert pair.journal.job_facts(job_id).failed == 0
    notices = [e.text for e in pair.events if isinstance(e, Notice)]
    assert any("uses the template's current settings: switches off 1 validation rule; batch size 20 (was 50)"
               in text for text in notices)
    stored = pair.journal.job(job_id).template      # what the run applied; which records stays the job's
    assert stored["options"]["automation_off"] == [RULE] and stored["options"]["batch_size"] == 20
    assert [line["object"] for line in stored["objects"]] == ["Account", "Contact"]
    assert rule_active(pair)                        # switched back on after the run


def test_what_a_retry_changes_is_said_in_words():
    job = parse_template(TEMPLATE)
    assert how_changes(job, None) == [] and how_changes(job, job) == []
    now = parse_template(fixed(TEMPLATE, continue_on_error=False, bulk_threshold=0))
    assert how_changes(job, now) == ["switches off 1 validation rule", "Bulk API threshold 0 (was 2000)",
                                     "continue on error off (was on)"]
    assert how_changes(now, job) == ["no longer switches off 1 validation rule", "Bulk API threshold 2000 (was 0)",
                                     "continue on error on (was off)"]
    narrowed = fixed(TEMPLATE)
    narrowed["options"]["delta_sync"] = True          # which records: not a setting a retry takes
    merged = with_current_how(job, parse_template(narrowed))
    assert merged.options["automation_off"] == [RULE] and merged.options["delta_sync"] is False


def test_the_saved_template_is_found_by_name(tmp_path):
    save_template(parse_template(fixed(TEMPLATE)), tmp_path / "mine.json")
    (tmp_path / "broken.json").write_text("{")
    found = saved_template("Retry settings", tmp_path)
    assert found is not None and found[1].name == "mine.json" and found[0].options["automation_off"] == [RULE]
    assert saved_template("Other", tmp_path) is None


def test_what_a_retry_keeps_of_the_job_is_said_in_words():
    """A retry takes the job's objects, fields and filters: the template's changes to them are named, so the user
    who added the fields the check asked for knows a new sync applies them, not Retry Failed."""
    job = parse_template(TEMPLATE)
    assert which_changes(job, None) == [] and which_changes(job, job) == []
    current = copy.deepcopy(TEMPLATE)
    current["objects"][0]["fields"] = ["Name", "RecordTypeId", "LastName"]
    current["objects"][1]["filter"] = "Email != null"
    current["objects"].append({"object": "Case"})
    assert which_changes(job, parse_template(current)) == ["Account fields", "Contact filter", "Case added"]
    current["objects"] = current["objects"][:1]
    assert which_changes(job, parse_template(current)) == ["Account fields", "Contact removed"]
    reordered = copy.deepcopy(TEMPLATE)
    reordered["objects"][0]["fields"] = ["Name", "Type"]
    same = copy.deepcopy(reordered)
    same["objects"][0]["fields"] = ["Type", "Name"]
    assert which_changes(parse_template(reordered), parse_template(same)) == []      # the order of fields: no change
    assert how_changes(job, parse_template(current)) == []     # and none of it is a setting a retry applies
