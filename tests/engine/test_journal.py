"""The job journal: states, runs, outcomes, errors, versions, id map, crash recovery, persistence."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import walk_to

from isyncsf_desktop.engine.journal import (
    ACTIVE_STATES,
    JOB_STATES,
    RECORD_STATUSES,
    SCHEMA_VERSION,
    ErrorInfo,
    PreviewChange,
    PreviewRecord,
    Journal,
    JournalError,
    ObjectCounts,
    OrgRef,
    Outcome,
)

SOURCE = OrgRef("dev-source", "00DSOURCE000001", "https://source.example.com")
TARGET = OrgRef("uat-target", "00DTARGET000001", "https://target.example.com")
OTHER_TARGET = OrgRef("qa-target", "00DTARGET000002", "https://qa.example.com")
TEMPLATE = {"name": "Accounts and contacts", "objects": [{"name": "Account"}, {"name": "Contact"}]}


@pytest.fixture
def journal_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "journal.sqlite3"


@pytest.fixture
def journal(journal_path: Path) -> Iterator[Journal]:
    with Journal(journal_path) as opened:
        yield opened


def _ok(obj: str, source_id: str, target_id: str, status: str = "inserted", phase: str = "sync") -> Outcome:
    return Outcome(obj, source_id, target_id, status, phase=phase)


def _fail(obj: str, source_id: str | None, target_id: str | None = None, code: str = "FIELD_CUSTOM_VALIDATION_EXCEPTION",
          message: str = "Rating is required", fields: list[str] | None = None, phase: str = "sync",
          status: str = "failed") -> Outcome:
    return Outcome(obj, source_id, target_id, status, ErrorInfo(code, message, fields or []), phase)


# ---------------------------------------------------------------- schema and opening


def test_new_journal_creates_file_schema_version_and_wal(journal: Journal, journal_path: Path) -> None:
    assert journal_path.exists()
    raw = sqlite3.connect(journal_path)
    try:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in raw.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        raw.close()
    assert {"jobs", "runs", "run_counts", "records", "errors", "versions", "id_map", "settings"} <= tables


def test_journal_from_a_newer_version_is_refused(journal_path: Path) -> None:
    Journal(journal_path).close()
    raw = sqlite3.connect(journal_path)
    raw.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    raw.close()
    with pytest.raises(JournalError, match="newer version"):
        Journal(journal_path)


def test_closed_journal_refuses_calls_and_close_is_idempotent(journal_path: Path) -> None:
    journal = Journal(journal_path)
    journal.close()
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.jobs()


def test_no_secret_columns_in_the_schema(journal: Journal, journal_path: Path) -> None:
    raw = sqlite3.connect(journal_path)
    try:
        columns = " ".join(row[0] for row in raw.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL"))
    finally:
        raw.close()
    assert "token" not in columns.lower()
    assert "password" not in columns.lower()


# ---------------------------------------------------------------- jobs


def test_create_job_and_read_it_back(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    job = journal.job(job_id)
    assert job.id == job_id
    assert job.template_name == "Accounts and contacts"
    assert job.template == TEMPLATE
    assert job.source == SOURCE and job.target == TARGET
    assert job.state == "Not Started"
    assert job.plan is None and job.message is None and job.last_run_id is None
    assert job.interrupted is False
    assert job.created.endswith("Z") and "T" in job.created
    assert job.updated >= job.created


def test_create_job_needs_a_template_name(journal: Journal) -> None:
    with pytest.raises(ValueError, match="no name"):
        journal.create_job({"objects": []}, SOURCE, TARGET)


def test_unknown_job_raises_journal_error(journal: Journal) -> None:
    with pytest.raises(JournalError, match="no job 42 in the journal"):
        journal.job(42)
    for call in (lambda: journal.set_state(42, "Scanned"), lambda: journal.set_plan(42, {}),
                 lambda: journal.delete_job(42), lambda: journal.start_run(42, "scan"),
                 lambda: journal.runs(42), lambda: journal.records(42), lambda: journal.errors(42),
                 lambda: journal.error_counts(42), lambda: journal.versions(42),
                 lambda: journal.source_ids(42, ["failed"])):
        with pytest.raises(JournalError, match="no job 42"):
            call()


def test_job_lifecycle_through_states(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    journal.set_plan(job_id, {"order": ["Account", "Contact"], "deferred": {"Account": ["ParentId"]}})
    for state in ("Scan In Progress", "Scanned", "Sync In Progress", "Synced", "Rollback", "Rollback Started",
                  "Rollback Completed"):
        journal.set_state(job_id, state)
        assert journal.job(job_id).state == state
    job = journal.job(job_id)
    assert job.plan == {"order": ["Account", "Contact"], "deferred": {"Account": ["ParentId"]}}
    journal.set_state(job_id, "Rollback")
    journal.set_state(job_id, "Aborted", "Cancelled by the user")
    assert journal.job(job_id).message == "Cancelled by the user"
    journal.set_state(job_id, "Sync In Progress")
    journal.set_state(job_id, "Aborted")
    assert journal.job(job_id).message is None


def test_set_state_validates_the_state(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    with pytest.raises(ValueError, match="unknown job state 'Done'"):
        journal.set_state(job_id, "Done")
    assert journal.job(job_id).state == "Not Started"
    assert set(ACTIVE_STATES) <= set(JOB_STATES)


def test_jobs_newest_first_filtered_by_template_and_deleted_hidden(journal: Journal) -> None:
    first = journal.create_job(TEMPLATE, SOURCE, TARGET)
    second = journal.create_job({"name": "Products"}, SOURCE, TARGET)
    third = journal.create_job(TEMPLATE, SOURCE, OTHER_TARGET)
    assert [job.id for job in journal.jobs()] == [third, second, first]
    assert [job.id for job in journal.jobs("Accounts and contacts")] == [third, first]
    assert journal.jobs("No such template") == []
    journal.delete_job(first)
    assert [job.id for job in journal.jobs()] == [third, second]
    assert [job.id for job in journal.jobs(include_deleted=True)] == [third, second, first]
    assert [job.id for job in journal.jobs("Accounts and contacts", include_deleted=True)] == [third, first]


def test_delete_job_keeps_rows_and_state_is_final(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run_id = journal.start_run(job_id, "sync")
    journal.record_outcomes(job_id, run_id, [_ok("Account", "001S1", "001T1")])
    walk_to(journal, job_id, "Synced")
    journal.delete_job(job_id)
    journal.delete_job(job_id)  # idempotent
    assert journal.job(job_id).state == "Deleted"
    assert len(journal.records(job_id)) == 1
    assert len(journal.runs(job_id)) == 1
    with pytest.raises(JournalError, match="deleted"):
        journal.set_state(job_id, "Synced")


@pytest.mark.parametrize("state", ACTIVE_STATES)
def test_delete_job_refused_while_active(journal: Journal, state: str) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    walk_to(journal, job_id, state)
    with pytest.raises(JournalError, match="running"):
        journal.delete_job(job_id)
    assert journal.job(job_id).state == state


def test_recover_interrupted_after_a_crash(journal_path: Path) -> None:
    journal = Journal(journal_path)
    crashed = journal.create_job(TEMPLATE, SOURCE, TARGET)
    finished = journal.create_job(TEMPLATE, SOURCE, TARGET)
    rolling = journal.create_job(TEMPLATE, SOURCE, TARGET)
    journal.set_state(crashed, "Sync In Progress")
    crashed_run = journal.start_run(crashed, "sync")
    journal.record_outcomes(crashed, crashed_run, [_ok("Account", "001S1", "001T1")])
    walk_to(journal, finished, "Synced")
    done_run = journal.start_run(finished, "sync")
    journal.finish_run(done_run, "Completed")
    walk_to(journal, rolling, "Rollback Started")
    journal.close()  # the process "dies" here

    reopened = Journal(journal_path)
    try:
        before = reopened.job(crashed)
        assert before.state == "Sync In Progress" and before.interrupted is False
        assert reopened.recover_interrupted() == [crashed, rolling]
        job = reopened.job(crashed)
        assert job.state == "Sync In Progress"
        assert job.interrupted is True
        assert reopened.job(rolling).interrupted is True
        assert reopened.job(finished).interrupted is False
        run = reopened.run(crashed_run)
        assert run.status == "Aborted" and run.finished is not None
        assert reopened.run(done_run).status == "Completed"
        # What was done before the crash is still there for rollback or resume.
        assert reopened.source_ids(crashed, ["inserted"]) == {"001S1"}
        # An interrupted job may be deleted; resuming it clears the flag.
        reopened.delete_job(rolling)
        assert reopened.job(rolling).state == "Deleted"
        reopened.set_state(crashed, "Sync In Progress")
        assert reopened.job(crashed).interrupted is False
        with pytest.raises(JournalError):
            reopened.delete_job(crashed)
        # A second recovery with nothing interrupted is harmless.
        reopened.set_state(crashed, "Aborted")
        assert reopened.recover_interrupted() == []
    finally:
        reopened.close()


def test_persistence_across_reopen(journal_path: Path) -> None:
    with Journal(journal_path) as journal:
        job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
        journal.set_plan(job_id, {"order": ["Account"]})
        run_id = journal.start_run(job_id, "sync")
        journal.set_object_counts(run_id, "Account", ObjectCounts(total=2, processed=2, inserted=1, errors=1,
                                                                  status="Completed"))
        journal.record_outcomes(job_id, run_id, [_ok("Account", "001S1", "001T1"), _fail("Account", "001S2")])
        journal.save_versions(job_id, run_id, "Account", {"001T9": {"Name": "Before"}})
        journal.finish_run(run_id, "Completed")
        walk_to(journal, job_id, "Synced", "1 error")
        journal.set_setting("automation.disabled", {"ValidationRule": ["Account.Rating_Required"]})
    with Journal(journal_path) as journal:
        job = journal.job(job_id)
        assert (job.state, job.message, job.plan, job.last_run_id) == ("Synced", "1 error", {"order": ["Account"]},
                                                                        run_id)
        run = journal.run(run_id)
        assert run.status == "Completed"
        assert run.counts["Account"] == ObjectCounts(total=2, processed=2, inserted=1, errors=1, status="Completed")
        assert [r.source_id for r in journal.records(job_id)] == ["001S1", "001S2"]
        assert journal.error_counts(job_id) == {"Account": 1}
        assert journal.versions(job_id) == {"001T9": ("Account", {"Name": "Before"})}
        assert journal.id_map(SOURCE.org_id, TARGET.org_id) == {"001S1": "001T1"}
        assert journal.get_setting("automation.disabled") == {"ValidationRule": ["Account.Rating_Required"]}


# ---------------------------------------------------------------- runs and counts


def test_runs_and_object_counts(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    scan = journal.start_run(job_id, "scan")
    assert journal.job(job_id).last_run_id == scan
    journal.finish_run(scan, "Completed")
    sync = journal.start_run(job_id, "sync")
    assert journal.job(job_id).last_run_id == sync
    run = journal.run(sync)
    assert (run.job_id, run.kind, run.status, run.finished, run.counts) == (job_id, "sync", "Executing", None, {})
    assert run.started.endswith("Z")

    journal.set_object_counts(sync, "Contact", ObjectCounts(total=10))
    journal.set_object_counts(sync, "Account", ObjectCounts(total=5))
    journal.set_object_counts(sync, "Contact", ObjectCounts(total=10, processed=10, inserted=8, errors=2,
                                                            status="Completed"))
    counts = journal.run(sync).counts
    assert list(counts) == ["Contact", "Account"]  # first-seen order is kept across upserts
    assert counts["Contact"].inserted == 8 and counts["Contact"].status == "Completed"
    assert counts["Account"] == ObjectCounts(total=5)
    journal.finish_run(sync, "Aborted")

    runs = journal.runs(job_id)
    assert [(r.id, r.kind, r.status) for r in runs] == [(scan, "scan", "Completed"), (sync, "sync", "Aborted")]
    assert runs[0].finished is not None
    assert runs[1].counts == counts


def test_run_validation(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    with pytest.raises(ValueError, match="run kind"):
        journal.start_run(job_id, "delete")
    run_id = journal.start_run(job_id, "sync")
    with pytest.raises(ValueError, match="run status"):
        journal.finish_run(run_id, "Done")
    with pytest.raises(JournalError, match="no run 999"):
        journal.finish_run(999, "Completed")
    with pytest.raises(JournalError, match="no run 999"):
        journal.run(999)
    with pytest.raises(JournalError, match="no run 999"):
        journal.set_object_counts(999, "Account", ObjectCounts())


def test_object_counts_helpers() -> None:
    first = ObjectCounts(total=10, processed=4, inserted=3, errors=1, status="Executing")
    second = ObjectCounts(total=0, processed=6, inserted=5, updated=1, status="Completed")
    merged = first + second
    assert merged == ObjectCounts(total=10, processed=10, inserted=8, updated=1, errors=1, status="Completed")
    assert first.merged(ObjectCounts()) .status == "Executing"
    data = merged.as_dict()
    assert data["inserted"] == 8 and data["status"] == "Completed"
    assert ObjectCounts.from_dict({**data, "unknown": 1}) == merged
    assert ObjectCounts.from_dict({"errors": 2}) == ObjectCounts(errors=2)
    assert first.__add__(3) is NotImplemented


# ---------------------------------------------------------------- outcomes, errors and the id map


def test_record_outcomes_upserts_latest_status_and_resolves_errors(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    sync = journal.start_run(job_id, "sync")
    journal.record_outcomes(job_id, sync, [
        _ok("Account", "001S1", "001T1"),
        _ok("Account", "001S2", "001T2", "updated"),
        _ok("Account", "001S3", "001T3", "existing"),
        _fail("Account", "001S4", fields=["Rating"]),
        Outcome("Contact", "003S1", None, "skipped"),
        _fail("Contact", "003S2", code="INVALID_CROSS_REFERENCE_KEY", message="bad AccountId", fields=["AccountId"]),
    ])
    assert journal.source_ids(job_id, ["failed"]) == {"001S4", "003S2"}
    assert journal.source_ids(job_id, ["failed", "skipped"], "Contact") == {"003S1", "003S2"}
    assert journal.source_ids(job_id, []) == set()
    assert journal.error_counts(job_id) == {"Account": 1, "Contact": 1}
    errors = journal.errors(job_id, "Account")
    assert len(errors) == 1
    error = errors[0]
    assert (error.job_id, error.run_id, error.object, error.source_id, error.target_id) == (
        job_id, sync, "Account", "001S4", None)
    assert (error.status_code, error.message, error.fields, error.phase, error.resolved) == (
        "FIELD_CUSTOM_VALIDATION_EXCEPTION", "Rating is required", ["Rating"], "sync", False)
    assert error.created.endswith("Z")

    retry = journal.start_run(job_id, "retry")
    journal.record_outcomes(job_id, retry, [
        _ok("Account", "001S4", "001T4", phase="retry"),
        _fail("Contact", "003S2", code="INVALID_CROSS_REFERENCE_KEY", message="still bad", phase="retry"),
    ])
    # The success resolved Account's error; the repeated failure superseded Contact's first error.
    assert journal.error_counts(job_id) == {"Contact": 1}
    assert journal.error_counts(job_id, open_only=False) == {"Account": 1, "Contact": 2}
    open_contact = journal.errors(job_id, "Contact")
    assert [(e.message, e.run_id, e.phase) for e in open_contact] == [("still bad", retry, "retry")]
    everything = journal.errors(job_id, open_only=False)
    assert [e.resolved for e in everything] == [True, True, False]
    assert [e.message for e in journal.errors(job_id, open_only=False, run_id=sync)] == [
        "Rating is required", "bad AccountId"]
    assert journal.errors(job_id, run_id=sync) == []

    records = {r.source_id: r for r in journal.records(job_id)}
    assert records["001S4"].status == "inserted" and records["001S4"].target_id == "001T4"
    assert records["001S4"].run_id == retry
    assert records["003S2"].status == "failed" and records["003S2"].run_id == retry
    assert records["001S1"].run_id == sync
    assert [r.source_id for r in journal.records(job_id, "Account", ["inserted"])] == ["001S1", "001S4"]
    assert [r.source_id for r in journal.records(job_id, statuses=["updated", "existing"])] == ["001S2", "001S3"]
    assert journal.records(job_id, statuses=[]) == []
    assert len(journal.records(job_id, "Contact")) == 2


def test_inserted_records_stay_inserted_and_created(journal: Journal) -> None:
    """A deferred-lookup update or a resync of a record the job inserted must not hide that insert."""
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    sync = journal.start_run(job_id, "sync")
    journal.record_outcomes(job_id, sync, [_ok("Account", "001S1", "001T1"), _ok("Account", "001S2", "001T2"),
                                           _ok("Account", "001S3", "001T3", "updated")])
    journal.record_outcomes(job_id, sync, [
        _ok("Account", "001S1", "001T1", "updated", phase="deferred"),
        Outcome("Account", "001S2", "001T2", "failed", ErrorInfo("INVALID_CROSS_REFERENCE_KEY", "bad ParentId",
                                                                 ["ParentId"]), "deferred"),
    ])
    resync = journal.start_run(job_id, "resync")
    journal.record_outcomes(job_id, resync, [_ok("Account", "001S1", "001T1", "existing")])
    rows = {r.source_id: r for r in journal.records(job_id)}
    assert rows["001S1"].status == "inserted" and rows["001S1"].created is True
    assert rows["001S1"].run_id == resync
    assert rows["001S2"].status == "failed" and rows["001S2"].created is True
    assert rows["001S2"].target_id == "001T2"  # kept although later outcomes may lack it
    assert rows["001S3"].status == "updated" and rows["001S3"].created is False
    assert journal.errors(job_id)[0].phase == "deferred"


def test_rollback_outcomes_keyed_on_target_id(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    sync = journal.start_run(job_id, "sync")
    journal.record_outcomes(job_id, sync, [_ok("Account", "001S1", "001T1"), _ok("Account", "001S2", "001T2"),
                                           _ok("Account", "001S3", "001T3", "updated")])
    rollback = journal.start_run(job_id, "rollback")
    journal.record_outcomes(job_id, rollback, [
        Outcome("Account", None, "001T1", "rolled_back", phase="rollback"),
        _fail("Account", None, "001T2", code="ENTITY_IS_DELETED", message="entity is deleted", phase="rollback",
              status="rollback_failed"),
        Outcome("Account", "001S3", "001T3", "restored", phase="rollback"),
        Outcome("Account", None, "001T9", "rolled_back", phase="rollback"),  # known only by target id
    ])
    rows = journal.records(job_id)
    assert [(r.source_id, r.target_id, r.status) for r in rows] == [
        ("001S1", "001T1", "rolled_back"),
        ("001S2", "001T2", "rollback_failed"),
        ("001S3", "001T3", "restored"),
        (None, "001T9", "rolled_back"),
    ]
    errors = journal.errors(job_id)
    assert [(e.source_id, e.target_id, e.phase) for e in errors] == [(None, "001T2", "rollback")]
    journal.record_outcomes(job_id, rollback, [Outcome("Account", None, "001T2", "rolled_back", phase="rollback")])
    assert journal.errors(job_id) == []
    assert journal.source_ids(job_id, ["rolled_back"]) == {"001S1", "001S2"}
    journal.record_outcomes(job_id, rollback, [Outcome("Account", None, "001T9", "rollback_failed",
                                                       phase="rollback")])
    assert journal.records(job_id, statuses=["rollback_failed"])[0].target_id == "001T9"
    assert len(journal.records(job_id)) == 4


def test_id_map_across_two_jobs_and_orgs(journal: Journal) -> None:
    first = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run1 = journal.start_run(first, "sync")
    journal.record_outcomes(first, run1, [
        _ok("Account", "001S1", "001T1"),
        _ok("Account", "001S2", "001T2", "updated"),
        _ok("Contact", "003S1", "003T1", "existing"),
        _fail("Contact", "003S2"),
        Outcome("Contact", "003S3", "003T3", "skipped"),
    ])
    assert journal.id_map(SOURCE.org_id, TARGET.org_id) == {"001S1": "001T1", "001S2": "001T2", "003S1": "003T1"}

    second = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run2 = journal.start_run(second, "sync")
    journal.record_outcomes(second, run2, [_ok("Account", "001S1", "001T1B"), _ok("Contact", "003S2", "003T2")])
    elsewhere = journal.create_job(TEMPLATE, SOURCE, OTHER_TARGET)
    run3 = journal.start_run(elsewhere, "sync")
    journal.record_outcomes(elsewhere, run3, [_ok("Account", "001S1", "001Q1")])

    assert journal.id_map(SOURCE.org_id, TARGET.org_id, "Account") == {"001S1": "001T1B", "001S2": "001T2"}
    assert journal.id_map(SOURCE.org_id, TARGET.org_id, "Contact") == {"003S1": "003T1", "003S2": "003T2"}
    assert journal.id_map(SOURCE.org_id, OTHER_TARGET.org_id) == {"001S1": "001Q1"}
    assert journal.id_map(TARGET.org_id, SOURCE.org_id) == {}
    # Each job keeps its own record rows.
    assert [r.target_id for r in journal.records(first, "Account")] == ["001T1", "001T2"]

    journal.forget_target_ids(SOURCE.org_id, TARGET.org_id, ["001T1B", "003T2", "nope"])
    journal.forget_target_ids(SOURCE.org_id, TARGET.org_id, [])
    assert journal.id_map(SOURCE.org_id, TARGET.org_id) == {"001S2": "001T2", "003S1": "003T1"}
    assert journal.id_map(SOURCE.org_id, OTHER_TARGET.org_id) == {"001S1": "001Q1"}


def test_record_outcomes_is_one_transaction(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run_id = journal.start_run(job_id, "sync")
    with pytest.raises(ValueError, match="record status"):
        journal.record_outcomes(job_id, run_id, [_ok("Account", "001S1", "001T1"), _ok("Account", "001S2", "x", "done")])
    with pytest.raises(ValueError, match="phase"):
        journal.record_outcomes(job_id, run_id, [_ok("Account", "001S1", "001T1", phase="later")])
    assert journal.records(job_id) == []

    class Boom:  # an ErrorInfo whose fields cannot be serialised fails mid-batch
        status_code, message, fields = "X", "y", [object()]

    bad = Outcome("Account", "001S2", None, "failed", Boom())  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        journal.record_outcomes(job_id, run_id, [_ok("Account", "001S1", "001T1"), bad])
    assert journal.records(job_id) == []
    assert journal.id_map(SOURCE.org_id, TARGET.org_id) == {}


def test_record_outcomes_checks_the_run_belongs_to_the_job(journal: Journal) -> None:
    first = journal.create_job(TEMPLATE, SOURCE, TARGET)
    second = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run_id = journal.start_run(first, "sync")
    with pytest.raises(JournalError, match="does not belong"):
        journal.record_outcomes(second, run_id, [_ok("Account", "001S1", "001T1")])
    with pytest.raises(JournalError, match="no job 77"):
        journal.record_outcomes(77, run_id, [])


def test_outcome_without_ids_keeps_only_its_error(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run_id = journal.start_run(job_id, "sync")
    journal.record_outcomes(job_id, run_id, [_fail("Account", None, None, code="UNKNOWN_EXCEPTION")])
    assert journal.records(job_id) == []
    assert journal.error_counts(job_id) == {"Account": 1}


def test_many_outcomes_in_batches(journal: Journal) -> None:
    """Not a timing assertion: a realistic volume goes through and the counts add up."""
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run_id = journal.start_run(job_id, "sync")
    for batch in range(25):
        outcomes = []
        for i in range(200):
            sid, tid = f"001S{batch:03d}{i:04d}", f"001T{batch:03d}{i:04d}"
            outcomes.append(_fail("Account", sid) if i % 10 == 0 else _ok("Account", sid, tid))
        journal.record_outcomes(job_id, run_id, outcomes)
    assert len(journal.records(job_id)) == 5000
    assert journal.error_counts(job_id) == {"Account": 500}
    assert len(journal.source_ids(job_id, ["inserted"])) == 4500
    assert len(journal.id_map(SOURCE.org_id, TARGET.org_id, "Account")) == 4500


def test_record_statuses_are_all_accepted(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run_id = journal.start_run(job_id, "sync")
    journal.record_outcomes(job_id, run_id, [Outcome("Account", f"001S{n}", f"001T{n}", status)
                                             for n, status in enumerate(RECORD_STATUSES)])
    assert [r.status for r in journal.records(job_id)] == list(RECORD_STATUSES)


# ---------------------------------------------------------------- versions and settings


def test_versions_first_saved_wins(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    sync = journal.start_run(job_id, "sync")
    journal.save_versions(job_id, sync, "Account", {"001T1": {"Name": "Acme", "Rating": None},
                                                   "001T2": {"Name": "Globex"}})
    resync = journal.start_run(job_id, "resync")
    journal.save_versions(job_id, resync, "Account", {"001T1": {"Name": "Acme (synced)"}, "001T3": {"Name": "Ünïcode"}})
    journal.save_versions(job_id, resync, "Account", {})
    assert journal.versions(job_id) == {
        "001T1": ("Account", {"Name": "Acme", "Rating": None}),
        "001T2": ("Account", {"Name": "Globex"}),
        "001T3": ("Account", {"Name": "Ünïcode"}),
    }
    other = journal.create_job(TEMPLATE, SOURCE, TARGET)
    other_run = journal.start_run(other, "sync")
    journal.save_versions(other, other_run, "Account", {"001T1": {"Name": "Acme (synced)"}})
    assert journal.versions(other) == {"001T1": ("Account", {"Name": "Acme (synced)"})}
    assert journal.versions(job_id)["001T1"][1]["Name"] == "Acme"


def test_settings_round_trip(journal: Journal) -> None:
    assert journal.get_setting("missing") is None
    assert journal.get_setting("missing", {"x": 1}) == {"x": 1}
    journal.set_setting("automation.disabled", {"flows": ["Account_After_Save"], "job": 3})
    journal.set_setting("count", 1)
    journal.set_setting("count", 2)
    assert journal.get_setting("automation.disabled") == {"flows": ["Account_After_Save"], "job": 3}
    assert journal.get_setting("count") == 2
    journal.delete_setting("count")
    journal.delete_setting("count")
    assert journal.get_setting("count", "gone") == "gone"


# ---------------------------------------------------------------- threads


def test_shared_between_threads(journal: Journal) -> None:
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    run_id = journal.start_run(job_id, "sync")
    failures: list[BaseException] = []

    def writer(worker: int) -> None:
        try:
            for batch in range(10):
                journal.record_outcomes(job_id, run_id, [
                    _ok("Account", f"001S{worker}_{batch}_{i}", f"001T{worker}_{batch}_{i}") for i in range(20)])
                journal.jobs()
        except BaseException as exc:  # pragma: no cover - reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert failures == []
    assert len(journal.records(job_id)) == 4 * 10 * 20


def test_jobs_record_who_ran_them_and_old_journals_gain_the_column(tmp_path):
    import getpass
    import sqlite3

    from isyncsf_desktop.engine.journal import Journal, OrgRef, Outcome

    path = tmp_path / "old.sqlite3"
    with Journal(path) as journal:
        job_id = journal.create_job({"name": "t", "objects": []}, OrgRef("a", "00Da", "u"), OrgRef("b", "00Db", "u"))
        assert journal.job(job_id).run_by == getpass.getuser()
    # A version-1 journal (before the column existed) is migrated when opened.
    conn = sqlite3.connect(path)
    conn.execute("ALTER TABLE jobs DROP COLUMN run_by")
    conn.execute("ALTER TABLE records DROP COLUMN match_key")   # schema 3
    conn.execute("DROP TABLE bulk_jobs")                        # schema 4
    conn.execute("ALTER TABLE records DROP COLUMN via_bulk")    # schema 5
    conn.execute("DROP TABLE bulk_openings")                    # schema 6
    conn.execute("DROP TABLE masked_counts")                    # schema 7
    conn.execute("DROP TABLE preview_rows")                     # schema 8
    conn.execute("DROP TABLE previews")
    conn.execute("ALTER TABLE jobs DROP COLUMN preview_id")     # schema 9
    conn.execute("PRAGMA user_version = 1")
    conn.commit()
    conn.close()
    with Journal(path) as journal:
        assert journal.job(job_id).run_by is None
        second = journal.create_job({"name": "t", "objects": []}, OrgRef("a", "00Da", "u"), OrgRef("b", "00Db", "u"),
                                    run_by="jane")
        assert journal.job(second).run_by == "jane"
        opening = journal.bulk_opening(second, None, "Account", "insert", "005u")   # schema 6: written ahead
        assert [(o.object, o.operation, o.user_id) for o in journal.unknown_bulk_jobs(second)] == [
            ("Account", "insert", "005u")]
        journal.open_bulk_job(second, "Account", "insert", "750x", opening)   # schema 4's table is back
        assert journal.open_bulk_jobs(second) == [("750x", "Account", "insert")]
        assert journal.unknown_bulk_jobs(second) == [] and journal.known_bulk_ids() == {"750x"}
        # schema 5: rows written ahead of a Bulk job are told apart from Collections rows
        run_id = journal.start_run(second, "sync")
        journal.record_outcomes(second, run_id, [
            Outcome("Account", "001a", None, "sending", match_key=("A",)),
            Outcome("Account", "001b", None, "sending", match_key=("B",), via_bulk=True)])
        assert set(journal.in_flight_sent(second)["Account"]) == {"001a", "001b"}   # its Bulk job is open
        journal.close_bulk_jobs(["750x"])
        assert set(journal.in_flight_sent(second)["Account"]) == {"001a"}           # ended: no late commit
        assert set(journal.in_flight(second)["Account"]) == {"001a", "001b"}        # both still looked for
        journal.record_outcomes(second, run_id, [Outcome("Account", "001b", None, "sending", match_key=("B",))])
        assert set(journal.in_flight_sent(second)["Account"]) == {"001a", "001b"}   # written ahead again: REST
        # schema 8: previews and their rows
        preview_id = journal.create_preview({"name": "t", "objects": []}, OrgRef("a", "00Da", "u"),
                                            OrgRef("b", "00Db", "u"))
        journal.add_preview_rows(preview_id, [PreviewRecord("Account", "001a", "insert", "inserted", label="A",
                                                            changes=[PreviewChange("Name", None, "A")])])
        journal.finish_preview(preview_id, "Completed", {"objects": []}, None)
        assert journal.preview(preview_id).status == "Completed"
        assert [r.changes for r in journal.preview_records(preview_id)] == [[PreviewChange("Name", None, "A")]]


def test_preview_rows_are_kept_in_order_paged_and_updated_in_place(tmp_path):
    with Journal(tmp_path / "j.sqlite3") as journal:
        preview_id = journal.create_preview({"name": "t", "objects": []}, OrgRef("a", "00Da", "u"),
                                            OrgRef("b", "00Db", "u"))
        rows = [PreviewRecord("Contact", f"003{i:04d}", "insert" if i % 2 else "unchanged",
                              "inserted" if i % 2 else "existing") for i in range(4500)]
        for start in range(0, len(rows), 200):
            journal.add_preview_rows(preview_id, rows[start:start + 200])
        assert [r.source_id for r in journal.iter_preview_records(preview_id, "Contact")] == [r.source_id for r in rows]
        page = journal.preview_records(preview_id, "Contact", ["insert"], offset=10, limit=5)
        assert [r.source_id for r in page] == [f"003{i:04d}" for i in range(21, 31, 2)]
        first = journal.preview_records(preview_id, limit=1)[0]
        first.changes = [PreviewChange("AccountId", None, "001x", will_be_label="Acme", deferred=True)]
        journal.update_preview_rows(preview_id, [first])
        assert journal.preview_records(preview_id, limit=1)[0].changes == first.changes    # same place, new changes
        assert journal.preview_counts(preview_id) == {"Contact": {"insert": 2250, "unchanged": 2250}}
        with pytest.raises(JournalError, match="no preview 99"):
            journal.preview(99)


def test_a_batch_resolves_the_open_errors_of_its_objects_that_have_some(journal: Journal) -> None:
    """Resolving is only looked for in objects with an open error: a batch mixing such an object with one
    without any still resolves the first's and adds the second's new error."""
    job_id = journal.create_job(TEMPLATE, SOURCE, TARGET)
    sync = journal.start_run(job_id, "sync")
    journal.record_outcomes(job_id, sync, [_ok("Account", "001S1", "001T1"), _fail("Contact", "003S1")])
    assert journal.error_counts(job_id) == {"Contact": 1}
    retry = journal.start_run(job_id, "retry")
    journal.record_outcomes(job_id, retry, [
        _ok("Account", "001S2", "001T2", phase="retry"),
        _ok("Contact", "003S1", "003T1", phase="retry"),
        _fail("Account", "001S3", phase="retry"),
    ])
    assert journal.error_counts(job_id) == {"Account": 1}
    assert [(e.source_id, e.resolved) for e in journal.errors(job_id, open_only=False)] == [
        ("003S1", True), ("001S3", False)]
