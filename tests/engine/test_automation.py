"""Automation control against sandbox orgs: listing with state, switching off around a run and exactly
that back on, journalled before each switch, restored after errors, aborts and crashes, refusals reported."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers import Crash, Pair, org_client, org_ref

from isyncsf_desktop.engine.automation import (APEX_TRIGGER, FLOW, VALIDATION_RULE, AutomationError, AutomationGuard,
                                               AutomationItem, automation_off_option, discard_pending,
                                               list_automation, parse_automation_off, pending_restore,
                                               restore_pending, set_active, setting_key)
from isyncsf_desktop.engine.events import BatchDone, CancelToken
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.salesforce.client import OrgApiError
from isyncsf_desktop.sandbox.seeds import Seed, build_seed

MakePair = Callable[..., Pair]

PHONE_RULE = {"kind": "ValidationRule", "name": "Contact.Phone_Required"}
FLOW_SPEC = {"DeveloperName": "Contact_Defaults", "MasterLabel": "Contact defaults", "ProcessType": "AutoLaunchedFlow",
             "TriggerType": "RecordAfterSave", "TriggerObject": "Contact", "TriggerOn": "CreateAndUpdate"}




def target_with_automation(*, production: bool = False) -> Seed:
    """An empty org whose Contact has an active phone rule, an active trigger that rejects "Blocked"
    last names, an active record-triggered flow, and an inactive rule."""
    seed = build_seed("empty")
    seed.validation_rules += [
        {"ValidationName": "Phone_Required", "EntityDefinitionId": "Contact", "Active": True,
         "ErrorConditionFormula": "ISBLANK(Phone)", "ErrorMessage": "Phone is required.", "ErrorDisplayField": "Phone"},
        {"ValidationName": "Old_Rule", "EntityDefinitionId": "Contact", "Active": False,
         "ErrorConditionFormula": "LastName = 'Old'", "ErrorMessage": "old", "ErrorDisplayField": None}]
    seed.triggers.append({"Name": "ContactGuard", "TableEnumOrId": "Contact", "Status": "Active",
                          "UsageBeforeInsert": True, "UsageAfterInsert": False, "UsageBeforeUpdate": True,
                          "UsageAfterUpdate": False, "Body": "trigger ContactGuard on Contact (before insert) { }",
                          "FailCondition": "LastName = 'Blocked'", "FailMessage": "Blocked contacts are refused."})
    seed.flows.append({**FLOW_SPEC, "Active": True})
    if production:
        seed.org_type, seed.is_sandbox = "Enterprise Edition", False
        for record in seed.records:
            if record.object == "Organization":
                record.values.update({"OrganizationType": "Enterprise Edition", "IsSandbox": False})
    return seed


def contact_template(**options: Any) -> dict:
    return {"name": "contacts", "options": {"continue_on_error": True, **options},
            "objects": [{"object": "Contact", "fields": ["LastName", "Email", "Phone"], "match_by": ["Email"]}]}


def states(pair: Pair) -> dict[str, bool]:
    return {f"{i.kind}:{i.name}": bool(i.active) for i in list_automation(pair.target, ["Contact"])}


ALL_ON = {"ValidationRule:Contact.Phone_Required": True, "ValidationRule:Contact.Old_Rule": False,
          "ApexTrigger:ContactGuard": True, "Flow:Contact_Defaults": True}


def guard_items() -> list[AutomationItem]:
    return parse_automation_off([PHONE_RULE, {"kind": "ApexTrigger", "name": "ContactGuard"},
                                 {"kind": "Flow", "name": "Contact_Defaults"}])


def tgt_org(pair: Pair) -> str:
    return org_ref(pair.server, "tgt").org_id


# ------------------------------------------------------------------------------------------ items, option shape
def test_items_serialise_to_exactly_the_template_option_shape() -> None:
    option = [PHONE_RULE, {"kind": "ApexTrigger", "name": "CaseTrigger"},
              {"kind": "Flow", "name": "Opportunity_Default_Next_Step"}]
    items = parse_automation_off(option)
    assert [i.kind for i in items] == [VALIDATION_RULE, APEX_TRIGGER, FLOW]
    assert items[0].object == "Contact" and items[1].object is None
    assert automation_off_option(items) == option
    assert automation_off_option(items + [AutomationItem("validationrule", "contact.phone_required")]) == option
    assert parse_automation_off([{"kind": "trigger", "name": " X "}])[0].as_json() == {"kind": "ApexTrigger",
                                                                                        "name": "X"}
    assert parse_automation_off(None) == [] and parse_automation_off([PHONE_RULE, PHONE_RULE]) == items[:1]
    for bad, message in [("x", "must be a list"), ([{"kind": "Workflow", "name": "X"}], "unknown automation kind"),
                         ([{"kind": "ValidationRule", "name": "NoObject"}], "Object.RuleName"),
                         ([{"kind": "Flow"}], "needs a \"kind\" and a \"name\""),
                         ([{"kind": "Flow", "name": "F", "active": True}], "unknown key")]:
        with pytest.raises(AutomationError, match=message):
            parse_automation_off(bad)


def test_list_automation_shows_each_item_with_its_state(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation())
    items = {i.name: i for i in list_automation(pair.target, ["Contact", "Account"])}
    assert states(pair) == ALL_ON
    rule, trigger, flow = items["Contact.Phone_Required"], items["ContactGuard"], items["Contact_Defaults"]
    assert (rule.kind, rule.object, rule.detail) == (VALIDATION_RULE, "Contact", "Phone is required.")
    assert (trigger.kind, trigger.detail, trigger.switchable) == (APEX_TRIGGER, "before insert, before update", True)
    assert (flow.kind, flow.detail, flow.version, flow.latest_version, flow.label) == (
        FLOW, "RecordAfterSave", 1, 1, "Contact defaults")
    assert all(i.id for i in items.values())
    assert list_automation(pair.target, ["Account"]) == []
    production = make_pair("empty", target_with_automation(production=True))
    guard = next(i for i in list_automation(production.target, ["Contact"]) if i.kind == APEX_TRIGGER)
    assert not guard.switchable and "deploy" in (guard.note or "")


# ------------------------------------------------------------------------------------------ the guard
def test_guard_journals_each_item_before_switching_it_then_restores_exactly_those(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation())
    key = setting_key(tgt_org(pair))
    seen_before_patch: list[tuple[str, str, bool]] = []
    target = pair.target
    original_update = target.tooling_update

    def spying_update(object_name: str, record_id: str, body: dict) -> None:
        record = pair.journal.get_setting(key) or {"items": []}
        for entry in record["items"]:
            if entry["id"] == record_id:
                seen_before_patch.append((entry["name"], entry["state"], bool(entry["metadata"])))
        original_update(object_name, record_id, body)

    target.tooling_update = spying_update  # type: ignore[method-assign]
    items = guard_items() + parse_automation_off([{"kind": "ValidationRule", "name": "Contact.Old_Rule"}])
    guard = AutomationGuard(pair.journal, target, 7, items, target_org_id=tgt_org(pair))
    results = guard.switch_off()
    assert [(r.item.name, r.status) for r in results] == [
        ("Contact.Phone_Required", "done"), ("ContactGuard", "done"), ("Contact_Defaults", "done"),
        ("Contact.Old_Rule", "unchanged")]
    assert seen_before_patch == [("Contact.Phone_Required", "switching", True), ("ContactGuard", "switching", True),
                                 ("Contact_Defaults", "switching", True)]
    record = pair.journal.get_setting(key)
    assert [(e["name"], e["state"], e["job_id"]) for e in record["items"]] == [
        ("Contact.Phone_Required", "off", 7), ("ContactGuard", "off", 7), ("Contact_Defaults", "off", 7)]
    rule = record["items"][0]["metadata"]
    assert rule["active"] is True and rule["errorConditionFormula"] == "ISBLANK(Phone)"
    assert record["items"][2]["version"] == 1
    assert states(pair) == {**ALL_ON, "ValidationRule:Contact.Phone_Required": False,
                            "ApexTrigger:ContactGuard": False, "Flow:Contact_Defaults": False}

    restored = guard.restore()
    assert [(r.item.name, r.action, r.status) for r in restored] == [
        ("Contact.Phone_Required", "restore", "done"), ("ContactGuard", "restore", "done"),
        ("Contact_Defaults", "restore", "done")]
    assert states(pair) == ALL_ON                      # Old_Rule was off before and stays off
    assert pair.journal.get_setting(key) is None and guard.refused == []
    rule_row = pair.target.tooling_query("SELECT Id FROM ValidationRule WHERE ValidationName = 'Phone_Required'")[0]
    assert pair.target.tooling_get("ValidationRule", rule_row["Id"])["Metadata"]["errorMessage"] == "Phone is required."
    assert guard.restore() == []                       # nothing left to restore


def test_clean_sync_with_the_phone_rule_switched_off_around_the_run(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation())
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test",
                                    "Phone": None if i % 3 == 0 else "555"} for i in range(9)])
    engine = pair.engine()
    without = engine.sync(engine.create_job(contact_template()))
    assert without.totals.errors == 3 and {e.message for e in pair.journal.errors(without.job_id)} == {
        "Phone is required."}

    job_id = engine.create_job(contact_template())
    with AutomationGuard(pair.journal, pair.target, job_id, parse_automation_off([PHONE_RULE])) as guard:
        assert states(pair)["ValidationRule:Contact.Phone_Required"] is False
        assert pending_restore(pair.journal, tgt_org(pair))[0].name == "Contact.Phone_Required"
        result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0 and result.totals.inserted == 3
    assert len(pair.rows("tgt", "SELECT Id FROM Contact")) == 9
    assert states(pair) == ALL_ON and pending_restore(pair.journal, tgt_org(pair)) == []
    assert guard.org_id == tgt_org(pair)               # found through the target's user, not passed in


def test_restores_after_an_abort_and_after_an_exception_inside_the_run(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation())
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test"} for i in range(30)])
    cancel = CancelToken()

    def abort_after_first_batch(event: Any) -> None:
        if isinstance(event, BatchDone):
            cancel.cancel()

    engine = pair.engine(observer=abort_after_first_batch, cancel=cancel)
    job_id = engine.create_job(contact_template(batch_size=10, in_flight=1))
    with AutomationGuard(pair.journal, pair.target, job_id, guard_items(), target_org_id=tgt_org(pair)):
        result = engine.sync(job_id)
    assert result.state == "Aborted" and result.totals.inserted == 10 and result.totals.errors == 0
    assert states(pair) == ALL_ON and pending_restore(pair.journal, tgt_org(pair)) == []

    def crash_on_first_batch(event: Any) -> None:
        if isinstance(event, BatchDone):
            raise Crash()

    crashing = pair.engine(observer=crash_on_first_batch)
    job_id = crashing.create_job(contact_template(batch_size=10))
    with pytest.raises(Crash):
        with AutomationGuard(pair.journal, pair.target, job_id, guard_items(), target_org_id=tgt_org(pair)):
            assert states(pair)["ApexTrigger:ContactGuard"] is False
            crashing.sync(job_id)
    assert states(pair) == ALL_ON and pending_restore(pair.journal, tgt_org(pair)) == []


def test_a_killed_run_leaves_a_trace_and_the_next_start_restores_it(make_pair: MakePair, tmp_path: Path) -> None:
    pair = make_pair("empty", target_with_automation())
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test"} for i in range(5)])
    path = tmp_path / "killed.sqlite3"
    journal = Journal(path)
    engine = pair.engine()
    engine.journal = journal
    job_id = engine.create_job(contact_template())
    guard = AutomationGuard(journal, pair.target, job_id, guard_items(), target_org_id=tgt_org(pair))
    assert all(r.status == "done" for r in guard.switch_off())
    result = engine.sync(job_id)                       # the Phone rule is off: no errors
    assert result.totals.errors == 0
    journal.close()                                    # the process dies here: restore() never runs
    assert states(pair)["ValidationRule:Contact.Phone_Required"] is False

    reopened = Journal(path)                           # the next start
    try:
        pending = pending_restore(reopened, tgt_org(pair))
        assert [(i.kind, i.name, i.job_id, i.active) for i in pending] == [
            (VALIDATION_RULE, "Contact.Phone_Required", job_id, False), (APEX_TRIGGER, "ContactGuard", job_id, False),
            (FLOW, "Contact_Defaults", job_id, False)]
        assert all(i.switched_at for i in pending)
        fresh = org_client(pair.server, "tgt")
        results = restore_pending(reopened, fresh, target_org_id=tgt_org(pair))
        assert [(r.item.name, r.status) for r in results] == [
            ("Contact.Phone_Required", "done"), ("ContactGuard", "done"), ("Contact_Defaults", "done")]
        assert states(pair) == ALL_ON
        assert pending_restore(reopened, tgt_org(pair)) == [] and reopened.get_setting(setting_key(tgt_org(pair))) is None
    finally:
        reopened.close()


def test_a_crash_between_journal_and_switch_is_restored_as_unchanged(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation())
    target = pair.target

    def die(object_name: str, record_id: str, body: dict) -> None:
        raise Crash()

    target.tooling_update = die  # type: ignore[method-assign]
    guard = AutomationGuard(pair.journal, target, 3, parse_automation_off([PHONE_RULE]), target_org_id=tgt_org(pair))
    with pytest.raises(Crash):
        guard.switch_off()
    record = pair.journal.get_setting(setting_key(tgt_org(pair)))
    assert [(e["name"], e["state"]) for e in record["items"]] == [("Contact.Phone_Required", "switching")]
    results = restore_pending(pair.journal, org_client(pair.server, "tgt"), target_org_id=tgt_org(pair))
    assert [(r.status, r.message) for r in results] == [
        ("unchanged", "validation rule Contact.Phone_Required is already active")]
    assert pending_restore(pair.journal, tgt_org(pair)) == []


def test_an_item_left_off_by_a_crash_is_adopted_by_the_next_run(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation())
    first = AutomationGuard(pair.journal, pair.target, 1, parse_automation_off([PHONE_RULE]),
                            target_org_id=tgt_org(pair))
    first.switch_off()                                 # ... and the process dies
    second = AutomationGuard(pair.journal, pair.target, 2, parse_automation_off([PHONE_RULE]),
                             target_org_id=tgt_org(pair))
    with second:
        assert [(r.status, "earlier run" in r.message) for r in second.results] == [("unchanged", True)]
    assert states(pair)["ValidationRule:Contact.Phone_Required"] is True
    assert pending_restore(pair.journal, tgt_org(pair)) == []


def test_production_refuses_triggers_and_the_guard_says_so(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation(production=True))
    guard = AutomationGuard(pair.journal, pair.target, 5, guard_items(), target_org_id=tgt_org(pair))
    with guard:
        assert states(pair) == {**ALL_ON, "ValidationRule:Contact.Phone_Required": False,
                                "Flow:Contact_Defaults": False}
        record = pair.journal.get_setting(setting_key(tgt_org(pair)))
        assert [e["name"] for e in record["items"]] == ["Contact.Phone_Required", "Contact_Defaults"]
    refused = guard.refused
    assert [(r.item.name, r.action, r.status) for r in refused] == [("ContactGuard", "deactivate", "refused")]
    assert "production" in refused[0].message and "Metadata API" in refused[0].message
    assert states(pair) == ALL_ON and pending_restore(pair.journal, tgt_org(pair)) == []
    missing = set_active(pair.target, AutomationItem(APEX_TRIGGER, "NoSuchTrigger"), False)
    assert (missing.status, missing.ok) == ("not found", False)


@pytest.mark.expect_log
def test_a_refused_restore_is_reported_and_kept_for_the_next_start(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation())
    target = pair.target
    guard = AutomationGuard(pair.journal, target, 9, parse_automation_off([PHONE_RULE]), target_org_id=tgt_org(pair))
    guard.switch_off()

    def refuse(object_name: str, record_id: str, body: dict) -> None:
        raise OrgApiError("insufficient access rights on object id", error_code="INSUFFICIENT_ACCESS", status=403)

    real_update = target.tooling_update
    target.tooling_update = refuse  # type: ignore[method-assign]
    results = guard.restore()
    assert [(r.status, r.error_code) for r in results] == [("refused", "INSUFFICIENT_ACCESS")]
    assert "insufficient access" in results[0].message
    pending = pending_restore(pair.journal, tgt_org(pair))
    assert [i.name for i in pending] == ["Contact.Phone_Required"]
    assert "the last restore failed" in (pending[0].note or "")
    target.tooling_update = real_update  # type: ignore[method-assign]
    assert [r.status for r in guard.restore()] == ["done"]
    assert pending_restore(pair.journal, tgt_org(pair)) == [] and states(pair) == ALL_ON


def test_discarding_a_pending_restore_forgets_it_without_touching_the_org(make_pair: MakePair) -> None:
    pair = make_pair("empty", target_with_automation())
    AutomationGuard(pair.journal, pair.target, 1, parse_automation_off([PHONE_RULE]),
                    target_org_id=tgt_org(pair)).switch_off()
    discard_pending(pair.journal, tgt_org(pair))
    assert pending_restore(pair.journal, tgt_org(pair)) == []
    assert states(pair)["ValidationRule:Contact.Phone_Required"] is False
    assert set_active(pair.target, AutomationItem(VALIDATION_RULE, "Contact.Phone_Required"), True).status == "done"
    assert states(pair) == ALL_ON
