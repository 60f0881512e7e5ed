"""How runs start: ``SyncEngine.start_sync`` (the metadata check, then a job, then scan and sync, for the
Execute tab and ``isyncsf sync`` alike), the typed entry point ``SyncEngine.run``, and the guards, whose
errors are the lifecycle's sentences."""

from __future__ import annotations

import pytest

from isyncsf_desktop.engine.events import Event, StateChanged
from isyncsf_desktop.engine.lifecycle import Action, JobState, RunKind, RunStatus, refusal
from isyncsf_desktop.engine.preflight import PreflightBlocked
from isyncsf_desktop.engine.runner import EngineError
from isyncsf_desktop.engine.template import parse_template
from isyncsf_desktop.sandbox.seeds import build_seed

ACCOUNTS = {"name": "t", "options": {"continue_on_error": True, "versioning": True},
            "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"]}]}


def locked_target():
    """A target org where Account cannot be created or updated: the metadata check blocks the sync."""
    seed = build_seed("empty")
    seed.schema_document["objects"]["Account"].update(createable=False, updateable=False)
    return seed


def add_rule(pair, name: str, formula: str) -> None:
    pair.target.sf.toolingexecute("sobjects/ValidationRule", method="POST", data={
        "FullName": f"Account.{name}", "Metadata": {"active": True, "errorConditionFormula": formula,
                                                    "errorMessage": "refused", "errorDisplayField": None}})


@pytest.mark.parametrize("as_document", [True, False])
def test_start_sync_checks_the_metadata_before_it_creates_a_job(make_pair, as_document):
    pair = make_pair("empty", locked_target())
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(2)])
    engine = pair.engine()
    named: list[int] = []
    template = ACCOUNTS if as_document else parse_template(ACCOUNTS)
    with pytest.raises(PreflightBlocked) as blocked:
        engine.start_sync(template, override_preflight=False, on_job=named.append)
    assert "Account" in str(blocked.value) and blocked.value.findings
    assert named == [] and pair.journal.jobs() == []                     # no job ...
    assert not [e for e in pair.events if isinstance(e, StateChanged)]  # ... and no scan
    assert pair.rows("tgt", "SELECT Id FROM Account") == []


def test_start_sync_overridden_notes_the_findings_and_names_the_job_before_it_runs(make_pair):
    pair = make_pair("empty", locked_target())
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(2)])
    seen: list[object] = []
    engine = pair.engine(observer=seen.append)
    result = engine.start_sync(ACCOUNTS, override_preflight=True, on_job=lambda job_id: seen.append(("job", job_id)),
                               on_overridden=lambda findings: seen.append(("overridden", len(findings))))
    assert seen[0] == ("overridden", 1) and seen[1] == ("job", result.job_id)
    assert all(isinstance(e, Event) for e in seen[2:])
    states = [(e.state, e.status) for e in seen[2:] if isinstance(e, StateChanged)]
    assert states[0] == (JobState.SCAN_IN_PROGRESS, RunStatus.INITIALIZING)     # scan, then sync: one run
    assert result.kind == RunKind.SYNC and result.state == JobState.SYNCED
    assert result.totals.errors == 2            # the org refuses every insert, as the check said
    assert [j.id for j in pair.journal.jobs()] == [result.job_id]


def test_run_is_the_typed_entry_point_for_every_kind(pair):
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(3)])
    add_rule(pair, "No_A1", "Name = 'A1'")
    engine = pair.engine()
    job_id = engine.create_job(ACCOUNTS)
    scanned = engine.run(RunKind.SCAN, job_id)
    assert (scanned.kind, scanned.state, scanned.objects["Account"].total) == ("scan", "Scanned", 3)
    synced = engine.run(RunKind.SYNC, job_id)
    assert (synced.kind, synced.state, synced.totals.inserted, synced.totals.errors) == ("sync", "Synced", 2, 1)
    retried = engine.run("retry", job_id)       # the CLI passes its command's name
    assert (retried.kind, retried.totals.errors) == ("retry", 1)
    resynced = engine.run(RunKind.RESYNC, job_id)
    assert (resynced.kind, resynced.state) == ("resync", "Synced")
    rolled = engine.run(RunKind.ROLLBACK, job_id)
    assert (rolled.kind, rolled.state, rolled.totals.deleted) == ("rollback", "Rollback Completed", 2)
    assert pair.rows("tgt", "SELECT Id FROM Account") == []
    with pytest.raises(EngineError, match="unknown run kind 'nope'"):
        engine.run("nope", job_id)


def test_the_guards_raise_the_lifecycle_sentence(pair):
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(2)])
    engine = pair.engine()
    fresh = engine.create_job(ACCOUNTS)
    # a job never scanned may be re-synced: it is scanned first
    resynced = engine.resync(fresh)
    assert resynced.state == "Synced" and resynced.totals.inserted == 2
    kinds = [run.kind for run in pair.journal.runs(fresh)]
    assert kinds == ["scan", "resync"]
    # retry with no failed record: refused, in the words the GUI and the CLI show
    sentence = refusal(Action.RETRY, pair.journal.job_facts(fresh))
    assert sentence == f"Job {fresh} has no failed records to retry"
    with pytest.raises(EngineError) as refused:
        engine.retry(fresh)
    assert str(refused.value) == sentence
    engine.rollback(fresh)
    for action, entry in ((Action.SYNC, engine.sync), (Action.RESYNC, engine.resync),
                          (Action.ROLLBACK, engine.rollback)):
        sentence = refusal(action, pair.journal.job_facts(fresh))
        assert sentence is not None
        with pytest.raises(EngineError) as refused:
            entry(fresh)
        assert str(refused.value) == sentence
    assert pair.journal.job(fresh).state == "Rollback Completed"
