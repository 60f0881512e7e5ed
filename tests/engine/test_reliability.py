"""Resume and rollback after an interruption, one writer per target org, the API-usage ceiling,
and the journal's privacy: each test here failed before its fix (issue 10)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from helpers import Crash, die_after_create
import related_data as data

from isyncsf_desktop.engine.events import PAUSED, BatchDone, ObjectFinished, StateChanged
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop import paths
from isyncsf_desktop.engine.lock import TargetLock
from isyncsf_desktop.engine.runner import EngineError, TargetBusyError


def restart(pair, tmp_path: Path) -> None:
    """The app starts again on the same journal after a crash."""
    pair.journal.close()
    pair.journal = Journal(tmp_path / "journal.sqlite3")
    pair.journal.recover_interrupted()


def crash_when(pair, predicate):
    def observer(event):
        if predicate(event):
            raise Crash()
    return pair.engine(observer=observer)


# ------------------------------------------------------------------------------------------ resume
def test_resume_after_a_crash_before_the_second_pass_sets_every_deferred_lookup(pair, tmp_path):
    data.seed(pair.source, pair.target, 30)
    engine = crash_when(pair, lambda e: isinstance(e, ObjectFinished) and e.object == "Contact")
    job_id = engine.create_job(data.template())
    with pytest.raises(Crash):
        engine.sync(job_id)       # both objects sent, the deferred Primary_Contact__c never set
    assert data.synced_problems(pair.source, pair.target)["links"] > 0
    restart(pair, tmp_path)
    resumed = pair.engine().resync(job_id)
    assert resumed.state == "Synced" and resumed.totals.errors == 0
    assert data.synced_problems(pair.source, pair.target) == {"missing": 0, "duplicated": 0, "fields": 0, "links": 0}


def test_resume_after_a_crash_mid_first_pass_is_exact(pair, tmp_path):
    data.seed(pair.source, pair.target, 30)
    batches = []

    def fourth_batch(event):
        if isinstance(event, BatchDone):
            batches.append(event)
        return len(batches) == 4

    engine = crash_when(pair, fourth_batch)
    job_id = engine.create_job(data.template(batch_size=10))
    with pytest.raises(Crash):
        engine.sync(job_id)
    restart(pair, tmp_path)
    assert pair.engine().resync(job_id).state == "Synced"
    assert data.synced_problems(pair.source, pair.target) == {"missing": 0, "duplicated": 0, "fields": 0, "links": 0}


def test_records_of_a_lost_create_batch_are_claimed_one_each_even_with_the_same_key(pair, tmp_path):
    pair.insert("src", "Account", [{"Name": "Same", "External_Id__c": None, "Phone": str(i)} for i in range(4)])
    engine = pair.engine()
    real_create = engine.target.create

    def create_then_die(records):
        real_create(records)
        raise Crash()             # committed in the org, never journaled

    engine.target.create = create_then_die
    job_id = engine.create_job({"name": "t", "options": {"versioning": True},
                                "objects": [{"object": "Account", "fields": ["Name", "Phone"], "match_by": ["Name"]}]})
    with pytest.raises(Crash):
        engine.sync(job_id)
    restart(pair, tmp_path)
    resumed = pair.engine().resync(job_id)
    assert resumed.totals.inserted == 4 and resumed.totals.errors == 0
    assert len(pair.rows("tgt", "SELECT Id FROM Account")) == 4      # none created twice
    pair.engine().rollback(job_id)
    assert pair.rows("tgt", "SELECT Id FROM Account") == []


# ------------------------------------------------------------------------------------------ rollback
def test_rollback_right_after_a_kill_during_a_create_batch_removes_that_batch(pair, tmp_path):
    data.seed(pair.source, pair.target, 30)
    before = data.snapshot(pair.target)
    engine = pair.engine()
    calls = die_after_create(engine, 2)   # the 2nd batch committed in the org, never journaled
    # A batch cancelled by the kill never reached this org, which commits synchronously: nothing can appear
    # later, so the rollback need not wait the org's request limit for it (late commits: test_late_commit.py).
    job_id = engine.create_job(data.template(batch_size=10, late_commit_window=0))
    with pytest.raises(Crash):
        engine.sync(job_id)
    restart(pair, tmp_path)
    created = data.rollback_problems(before, data.snapshot(pair.target))["left"]
    assert created == sum(calls)      # the two answered batches, and a third if it went out before the kill
    # Every record the org has was written ahead. With two batches in flight a third batch may be written
    # ahead and never reach the org (cancelled by the kill before a worker took it): the rollback looks
    # for those too and finds nothing to delete.
    assert created <= pair.journal.rollback_counts(job_id)[0] <= created + 10
    rolled = pair.engine().rollback(job_id)
    assert rolled.state == "Rollback Completed" and rolled.totals.deleted == created and rolled.totals.errors == 0
    assert data.rollback_problems(before, data.snapshot(pair.target)) == {"left": 0, "lost": 0, "changed": 0}


def test_a_rollback_killed_after_the_org_deleted_a_batch_finishes_without_false_errors(pair, tmp_path):
    data.seed(pair.source, pair.target, 20)
    before = data.snapshot(pair.target)
    engine = pair.engine()
    job_id = engine.create_job(data.template(batch_size=10))
    engine.sync(job_id)
    killer = pair.engine()
    real_delete = killer.target.delete

    def delete_then_die(ids):
        real_delete(ids)
        raise Crash()

    killer.target.delete = delete_then_die
    with pytest.raises(Crash):
        killer.rollback(job_id)
    restart(pair, tmp_path)
    rolled = pair.engine().rollback(job_id)
    assert rolled.state == "Rollback Completed" and rolled.totals.errors == 0
    assert data.rollback_problems(before, data.snapshot(pair.target)) == {"left": 0, "lost": 0, "changed": 0}


def test_rollback_restores_a_lookup_the_second_pass_changed_on_a_record_that_existed(pair):
    data.seed(pair.source, pair.target, 10)
    before = data.snapshot(pair.target)
    engine = pair.engine()
    job_id = engine.create_job(data.template())
    assert engine.sync(job_id).state == "Synced"
    existing = [r for r in data.snapshot(pair.target)["Account"].values() if r["External_Id__c"] == "A0"][0]
    assert existing["Primary_Contact__c"] != before["Account"][next(iter(before["Account"]))]["Primary_Contact__c"]
    rolled = engine.rollback(job_id)
    assert rolled.totals.errors == 0
    assert data.rollback_problems(before, data.snapshot(pair.target)) == {"left": 0, "lost": 0, "changed": 0}


# ------------------------------------------------------------------------------------------ one writer per target
def test_a_second_job_into_the_same_target_is_refused_naming_the_first(pair):
    data.seed(pair.source, pair.target, 10)
    refused: list[str] = []
    second = pair.engine()
    second_job = second.create_job(data.template())

    def try_second(event):
        if isinstance(event, BatchDone) and not refused:
            with pytest.raises(TargetBusyError) as busy:
                second.sync(second_job)
            refused.append(str(busy.value))

    first = pair.engine(observer=try_second)
    first_job = first.create_job(data.template())
    assert first.sync(first_job).state == "Synced"
    assert refused and f"job {first_job} (sync" in refused[0] and "busy" in refused[0]
    assert pair.journal.job(second_job).state == "Not Started"   # refused before it touched anything
    assert second.sync(second_job).state == "Synced"              # free again once the first ended
    assert data.synced_problems(pair.source, pair.target)["duplicated"] == 0


def test_a_lock_held_by_another_process_refuses_and_a_killed_holder_leaves_no_stale_lock(pair):
    data.seed(pair.source, pair.target, 5)
    folder = paths.lock_dir()
    org_id = pair.server.store("tgt").org_id
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from isyncsf_desktop.engine.lock import TargetLock\n"
         f"with TargetLock(sys.argv[1], {org_id!r}, 'tgt', 77, 'sync'):\n"
         "    print('held', flush=True); sys.stdin.readline()", str(folder)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        engine = pair.engine()
        job_id = engine.create_job(data.template())
        with pytest.raises(TargetBusyError, match=r"job 77 \(sync, .*process \d+"):
            engine.sync(job_id)
        holder.kill()             # a crash: the OS lets go of the lock
        holder.wait(timeout=60)
        assert engine.sync(job_id).state == "Synced"
        assert TargetLock(folder, org_id, "tgt", 0, "x").holder() is None
    finally:
        holder.kill()
        holder.wait(timeout=60)


# ------------------------------------------------------------------------------------------ API-usage ceiling
@pytest.mark.expect_log
def test_the_run_pauses_at_the_api_ceiling_and_continues_later_without_loss(pair, tmp_path):
    data.seed(pair.source, pair.target, 30)

    def budget_nearly_spent(event):
        # mid-run, after the first batch: the org's day budget becomes the most that the very next answer says
        # is past 90% of (not a budget fixed before the run: how many requests the run has made by a given check
        # depends on how its threads interleave); what is left of it covers the requests already under way
        if isinstance(event, BatchDone) and pair.server.faults("tgt").api_budget is None:
            pair.server.faults("tgt").update(api_budget=int((pair.server.store("tgt").api_used + 1) / 0.9))

    engine = pair.engine(observer=budget_nearly_spent)
    job_id = engine.create_job(data.template(batch_size=10))
    paused = engine.sync(job_id)
    assert paused.status == PAUSED and paused.state == "Aborted"
    assert "API requests" in paused.message and f"isyncsf resync {job_id}" in paused.message
    assert ("Aborted", PAUSED) in [(e.state, e.status) for e in pair.events if isinstance(e, StateChanged)]
    assert pair.journal.runs(job_id)[-1].status == PAUSED
    assert pair.target.api_usage[0] < pair.server.faults("tgt").api_budget   # stopped before running out
    pair.server.faults("tgt").update(api_budget=None)           # a new day
    resumed = pair.engine().resync(job_id)
    assert resumed.state == "Synced"
    assert data.synced_problems(pair.source, pair.target) == {"missing": 0, "duplicated": 0, "fields": 0, "links": 0}


@pytest.mark.expect_log
def test_a_budget_that_runs_out_pauses_and_says_how_to_continue(pair):
    data.seed(pair.source, pair.target, 20)

    def budget_runs_out(event):
        if isinstance(event, BatchDone):
            pair.server.faults("tgt").update(request_limit_exceeded=1000)

    engine = pair.engine(observer=budget_runs_out)
    job_id = engine.create_job(data.template(api_ceiling_percent=100))
    result = engine.sync(job_id)
    assert result.status == PAUSED and f"isyncsf resync {job_id}" in result.message
    assert "REQUEST_LIMIT_EXCEEDED" in result.message or "limit" in result.message


def test_the_ceiling_is_a_template_option_with_a_clear_error(pair):
    with pytest.raises(Exception, match="api_ceiling_percent must be a number from 1 to 100"):
        pair.engine().create_job(data.template(api_ceiling_percent=0))


# ------------------------------------------------------------------------------------------ privacy
@pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")
def test_the_journal_is_private_to_the_user(tmp_path, monkeypatch):
    from isyncsf_desktop import paths

    monkeypatch.setenv("ISYNCSF_HOME", str(tmp_path / "home"))
    old_umask = os.umask(0o022)
    try:
        journal = Journal(paths.journal_path())
        journal.set_setting("x", 1)
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(paths.journal_path().stat().st_mode) == 0o600
    assert stat.S_IMODE(paths.data_dir().stat().st_mode) == 0o700
    wal = paths.journal_path().with_name("journal.sqlite3-wal")
    assert not wal.exists() or stat.S_IMODE(wal.stat().st_mode) == 0o600
    journal.close()
    paths.journal_path().chmod(0o644)           # a journal written by an earlier version
    Journal(paths.journal_path()).close()
    assert stat.S_IMODE(paths.journal_path().stat().st_mode) == 0o600


def test_nothing_to_roll_back_is_still_refused(pair):
    engine = pair.engine()
    job_id = engine.create_job(data.template())
    with pytest.raises(EngineError, match="nothing left to roll back"):
        engine.rollback(job_id)


@pytest.mark.expect_log
def test_a_failure_whose_text_ends_a_sentence_is_not_followed_by_a_second_full_stop(pair):
    data.seed(pair.source, pair.target, 3)
    engine = pair.engine()

    def refuse(records):
        raise RuntimeError("the disk of the proxy is full. Try again.")

    engine.target.create = refuse
    result = engine.sync(engine.create_job(data.template()))
    assert result.state == "Aborted" and result.status == "Failed"
    assert result.message.startswith("the sync failed: the disk of the proxy is full. Try again. Nothing is lost")
    assert ".." not in result.message
