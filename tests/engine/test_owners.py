"""Owners that are users or queues, from the demo source to the demo UAT target through the real client:
queues by DeveloperName, the template's owner map and default owner, a mapping to an owner the target
lacks, a queue that does not accept the object, custom user lookups, and the mappings a job records."""

from __future__ import annotations

from collections import Counter

import pytest

from helpers import org_ref

from isyncsf_desktop.engine.events import Notice

CASE_FILTER = "Status IN ('New', 'Escalated')"
CASES = {"object": "Case", "fields": ["Subject", "Status", "Origin", "Description", "OwnerId"],
         "filter": CASE_FILTER, "match_by": ["Subject", "Description"]}


@pytest.fixture
def demo(make_pair):
    return make_pair("demo-source", "demo-target")


def template(objects: list[dict], owners: dict | None = None) -> dict:
    out = {"name": "owners", "options": {"continue_on_error": True}, "objects": objects}
    if owners is not None:
        out["mappings"] = {"owners": owners}
    return out


def sync(pair, tmpl: dict):
    engine = pair.engine()
    job_id = engine.create_job(tmpl)
    return engine, job_id, engine.sync(job_id)


def by_name(pair, side: str, soql: str, key: str) -> dict[str, str]:
    return {r[key]: r["Id"] for r in pair.rows(side, soql)}


def queues(pair, side: str) -> dict[str, str]:
    return by_name(pair, side, "SELECT Id, DeveloperName FROM Group WHERE Type = 'Queue'", "DeveloperName")


def user(pair, side: str, key: str) -> tuple[str, str]:
    """(Id, Username) of a demo user (``wei.chen``) in one org: usernames carry an org's own suffix."""
    [row] = pair.rows(side, f"SELECT Id, Username FROM User WHERE Email = '{key}@acme.demo'")
    return row["Id"], row["Username"]


def id_map(pair) -> dict[str, str]:
    return pair.journal.id_map(org_ref(pair.server, "src").org_id, org_ref(pair.server, "tgt").org_id)


def target_owners(pair, object_name: str, source_filter: str) -> dict[str, str | None]:
    """Source record id -> (source owner id, the owner of its copy on the target)."""
    ids = id_map(pair)
    source = {r["Id"]: r["OwnerId"] for r in pair.rows("src", f"SELECT Id, OwnerId FROM {object_name} "
                                                               f"WHERE {source_filter}")}
    target = {r["Id"]: r["OwnerId"] for r in pair.rows("tgt", f"SELECT Id, OwnerId FROM {object_name}")}
    return {source_id: (owner, target.get(ids.get(source_id, ""))) for source_id, owner in source.items()}


def test_every_case_owned_by_a_queue_is_owned_by_the_mapped_queue_on_the_target(demo):
    """Tier_1_Support by DeveloperName (automatic), Escalations by the template's map to Escalation_Team."""
    engine, job_id, result = sync(demo, template([CASES], {"map": {"Escalations": "Escalation_Team"}}))
    assert result.state == "Synced" and result.totals.errors == 0
    src_q, tgt_q = queues(demo, "src"), queues(demo, "tgt")
    expected = {src_q["Tier_1_Support"]: tgt_q["Tier_1_Support"], src_q["Escalations"]: tgt_q["Escalation_Team"]}
    owners = target_owners(demo, "Case", CASE_FILTER)
    queue_owned = {s: (src, tgt) for s, (src, tgt) in owners.items() if src.startswith("00G")}
    assert Counter(src for src, _ in queue_owned.values()) == {src_q["Tier_1_Support"]: 15, src_q["Escalations"]: 15}
    assert all(tgt == expected[src] for src, tgt in queue_owned.values()), queue_owned
    # users still map automatically (here by email: each org's usernames have their own suffix)
    (src_wei, src_wei_name), (tgt_wei, tgt_wei_name) = user(demo, "src", "wei.chen"), user(demo, "tgt", "wei.chen")
    wei = [tgt for src, tgt in owners.values() if src == src_wei]
    assert wei and set(wei) == {tgt_wei}
    # the job records which mappings the run used, and how each came about
    [(run_id, used)] = demo.journal.owner_map(job_id).items()
    assert run_id == result.run_id
    rows = {(u["source"], u["target"], u["how"]) for u in used}
    assert {("Tier_1_Support", "Tier_1_Support", "automatic"), ("Escalations", "Escalation_Team", "mapped"),
            (src_wei_name, tgt_wei_name, "automatic"), ("Project_Intake", None, "running user"),
            (user(demo, "src", "priya.patel")[1], None, "running user")} <= rows


def test_default_owner_takes_what_matches_nothing_and_without_it_the_running_user(demo):
    """Escalations has no queue of that name on the target: the default owner gets its cases; with no
    default, the running user does (and the run says so)."""
    src_q = queues(demo, "src")
    jane, jane_name = user(demo, "tgt", "jane.doe")
    engine, job_id, result = sync(demo, template([CASES], {"default": jane_name}))
    assert result.state == "Synced" and result.totals.errors == 0
    escalated = [tgt for src, tgt in target_owners(demo, "Case", CASE_FILTER).values() if src == src_q["Escalations"]]
    assert len(escalated) == 15 and set(escalated) == {jane}

    other = demo.engine()
    rerun = template([{**CASES, "filter": "Status = 'Escalated'"}])
    engine.rollback(job_id)
    job = other.create_job(rerun)
    assert other.sync(job).totals.errors == 0
    running = demo.target.user_info()["user_id"]
    escalated = [tgt for src, tgt in target_owners(demo, "Case", "Status = 'Escalated'").values()
                 if src == src_q["Escalations"]]
    assert len(escalated) == 15 and set(escalated) == {running}
    assert any(isinstance(e, Notice) and e.text.startswith("queue Escalations does not exist in the target org")
               for e in demo.events)


def test_a_mapping_to_a_queue_the_target_lacks_fails_those_records_then_retry_uses_the_jobs_mapping(demo):
    engine, job_id, result = sync(demo, template([CASES], {"map": {"Escalations": "Escalation_Desk"}}))
    assert result.state == "Synced" and result.totals.errors == 15
    errors = demo.journal.errors(job_id)
    assert {e.status_code for e in errors} == {"OWNER_NOT_MAPPED"} and {tuple(e.fields) for e in errors} == {("OwnerId",)}
    assert {e.message for e in errors} == {"the owner mapping Escalations -> Escalation_Desk names a queue that does "
                                           "not exist in the target org"}
    src_q = queues(demo, "src")
    assert {e.source_id for e in errors} == {r["Id"] for r in demo.rows(
        "src", f"SELECT Id FROM Case WHERE OwnerId = '{src_q['Escalations']}'")}
    # the admin creates the queue on the target; retry runs with the job's own mappings
    desk = demo.insert("tgt", "Group", [{"Name": "Escalation Desk", "DeveloperName": "Escalation_Desk",
                                         "Type": "Queue"}])[0]
    demo.insert("tgt", "QueueSobject", [{"QueueId": desk, "SobjectType": "Case"}])
    retried = engine.retry(job_id)
    assert retried.totals.inserted == 15 and retried.totals.errors == 0
    escalated = [tgt for src, tgt in target_owners(demo, "Case", CASE_FILTER).values() if src == src_q["Escalations"]]
    assert len(escalated) == 15 and set(escalated) == {desk}
    used = demo.journal.owner_map(job_id)
    assert len(used) == 2 and all(any(u["source"] == "Escalations" and u["target"] == "Escalation_Desk"
                                      for u in run) for run in used.values())


def test_a_queue_that_does_not_accept_the_object_fails_those_records_and_custom_user_lookups_map(demo):
    """Project_Intake mapped to Tier_1_Support, which takes only Cases on the target: its projects fail,
    the others go; a custom user lookup (Project_Task__c.Assignee__c) follows the owner map too."""
    objects = [{"object": "Project__c", "fields": ["Name", "Status__c", "External_Id__c", "OwnerId"],
                "match_by": ["External_Id__c"]},
               {"object": "Project_Task__c", "fields": ["Name", "Project__c", "Assignee__c"],
                "match_by": ["Name", "Project__c"]}]
    (priya, priya_name), (maria, maria_name) = user(demo, "src", "priya.patel"), user(demo, "tgt", "maria.garcia")
    owners = {"map": {"Project_Intake": "Tier_1_Support", priya_name: maria_name}}
    engine, job_id, result = sync(demo, template(objects, owners))
    src_q = queues(demo, "src")
    intake = {r["Id"] for r in demo.rows("src", f"SELECT Id FROM Project__c WHERE OwnerId = '{src_q['Project_Intake']}'")}
    assert len(intake) == 5
    project_errors = [e for e in demo.journal.errors(job_id) if e.object == "Project__c"]
    assert {e.source_id for e in project_errors} == intake
    assert {e.message for e in project_errors} == {
        "Project_Intake maps to the queue Tier_1_Support, which does not accept Project__c records in the target "
        "org (it accepts Case); add Project__c to the queue's supported objects, or map the owner to another queue "
        "or user"}
    assert result.objects["Project__c"].inserted == len(demo.rows("src", "SELECT Id FROM Project__c")) - 5
    # priya's projects and tasks went to maria (the project owner and the custom user lookup)
    ids = id_map(demo)
    tasks = {r["Id"]: r["Assignee__c"] for r in demo.rows("tgt", "SELECT Id, Assignee__c FROM Project_Task__c")}
    priya_tasks = [tasks[ids[r["Id"]]] for r in demo.rows(
        "src", f"SELECT Id FROM Project_Task__c WHERE Assignee__c = '{priya}'") if r["Id"] in ids]
    assert priya_tasks and set(priya_tasks) == {maria}
    priya_projects = [owner for src, owner in target_owners(demo, "Project__c", "Id != null").values() if src == priya]
    assert priya_projects and set(priya_projects) == {maria}
