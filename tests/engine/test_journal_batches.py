"""A batch of outcomes is written with one statement per kind (executemany) in one transaction; the
journal it leaves must be exactly the one that recording the outcomes one by one leaves."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from isyncsf_desktop.engine.journal import ErrorInfo, Journal, ObjectCounts, OrgRef, Outcome

SOURCE = OrgRef("src", "00DSOURCE000001", "https://source.example.com")
TARGET = OrgRef("tgt", "00DTARGET000001", "https://target.example.com")
TEMPLATE = {"name": "Batches", "objects": [{"object": "Account"}]}


def _batches() -> list[list[Outcome]]:
    lost = ErrorInfo("UNABLE_TO_LOCK_ROW", "locked", ["Name"])
    rule = ErrorInfo("FIELD_CUSTOM_VALIDATION_EXCEPTION", "rule", [])
    return [
        [Outcome("Account", f"s{i}", None, "sending", match_key=(f"K{i}",)) for i in range(6)],
        [Outcome("Account", "s0", "t0", "inserted"), Outcome("Account", "s1", None, "failed", lost),
         Outcome("Account", "s2", "t2", "inserted"), Outcome("Account", "s3", None, "failed", rule),
         Outcome("Account", "s4", "t4", "existing"), Outcome("Account", "s5", "t5", "updated")],
        [Outcome("Account", "s1", "t1", "inserted", phase="retry"),
         Outcome("Account", "s3", None, "failed", lost, "retry"),
         Outcome("Account", "s0", "t0", "updated", phase="deferred")],
        [Outcome("Account", "s0", "t0", "deleting", phase="rollback"),
         Outcome("Account", "s1", "t1", "rolled_back", phase="rollback"),
         Outcome("Account", "s2", "t2", "rollback_failed", ErrorInfo("ENTITY_IS_DELETED", "gone", []), "rollback")],
    ]


def _tables(path: Path) -> dict[str, list[tuple]]:
    conn = sqlite3.connect(path)
    try:
        return {
            "records": conn.execute("SELECT object, source_id, target_id, status, run_id, created, match_key"
                                    " FROM records ORDER BY id").fetchall(),
            "errors": conn.execute("SELECT object, source_id, target_id, status_code, message, fields, phase,"
                                   " resolved FROM errors ORDER BY id").fetchall(),
            "id_map": conn.execute("SELECT object, source_id, target_id FROM id_map ORDER BY source_id").fetchall(),
        }
    finally:
        conn.close()


def _write(path: Path, one_by_one: bool) -> dict[str, list[tuple]]:
    with Journal(path) as journal:
        job = journal.create_job(TEMPLATE, SOURCE, TARGET)
        run = journal.start_run(job, "sync")
        for batch in _batches():
            if one_by_one:
                for outcome in batch:
                    journal.record_outcomes(job, run, [outcome])
            else:
                journal.record_outcomes(job, run, batch)
    return _tables(path)


def test_a_batch_leaves_the_journal_that_single_outcomes_leave(tmp_path: Path) -> None:
    batched = _write(tmp_path / "batched.sqlite3", one_by_one=False)
    single = _write(tmp_path / "single.sqlite3", one_by_one=True)
    assert batched == single
    statuses = {r[1]: r[3] for r in batched["records"]}
    assert statuses == {"s0": "deleting", "s1": "rolled_back", "s2": "rollback_failed", "s3": "failed",
                        "s4": "existing", "s5": "updated"}
    open_errors = [(e[1], e[3]) for e in batched["errors"] if not e[7]]
    assert open_errors == [("s3", "UNABLE_TO_LOCK_ROW"), ("s2", "ENTITY_IS_DELETED")]


def test_a_record_twice_in_one_batch_keeps_the_order(tmp_path: Path) -> None:
    with Journal(tmp_path / "j.sqlite3") as journal:
        job = journal.create_job(TEMPLATE, SOURCE, TARGET)
        run = journal.start_run(job, "sync")
        journal.record_outcomes(job, run, [Outcome("Account", "s1", None, "failed", ErrorInfo("X", "x", [])),
                                           Outcome("Account", "s1", "t1", "inserted")])
        assert [r.status for r in journal.records(job)] == ["inserted"]
        assert journal.errors(job) == []


def test_outcomes_and_counts_commit_together(tmp_path: Path) -> None:
    path = tmp_path / "j.sqlite3"
    with Journal(path) as journal:
        job = journal.create_job(TEMPLATE, SOURCE, TARGET)
        run = journal.start_run(job, "sync")
        with pytest.raises(RuntimeError):
            with journal.transaction():
                journal.record_outcomes(job, run, [Outcome("Account", "s1", "t1", "inserted")])
                journal.set_object_counts(run, "Account", ObjectCounts(total=1, processed=1, inserted=1))
                raise RuntimeError("killed between the two writes")
        assert journal.records(job) == [] and journal.run(run).counts == {}
        with journal.transaction():
            journal.record_outcomes(job, run, [Outcome("Account", "s1", "t1", "inserted")])
            journal.set_object_counts(run, "Account", ObjectCounts(total=1, processed=1, inserted=1))
    with Journal(path) as reopened:
        assert [r.status for r in reopened.records(job)] == ["inserted"]
        assert reopened.run(run).counts["Account"].inserted == 1
