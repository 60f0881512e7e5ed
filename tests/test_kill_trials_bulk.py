"""Kill trials with Bulk API 2.0: ``isyncsf sync`` and ``isyncsf rollback`` SIGKILLed at the calls of
their ingest jobs (closing a job, reading its results), just before the org sees the call or just
after it committed, then resumed or rolled back and the target checked record by record. The job's
rows are written ahead before its data goes up, so whatever the org did is found by match key.

The sandbox processes a job inside the call that closes it (``bulk_synchronous``), so "after" that
call means every row of the job is in the org and no answer reached the process.

The template keeps the org's own late-commit window (10 minutes): rows written ahead of a Bulk job are
not waited for once the job has ended or if it never opened, so a trial that waited would time out.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import related_data as data
from helpers import org_client
from test_kill_trials import BATCH, EXACT, Trial, _sync_argv, resume_or_roll_back, rollback_killed_then_run_again

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]

ACCOUNTS = 40
THRESHOLD = 5


def _template(folder: Path) -> Path:
    path = folder / "related-bulk.json"
    path.write_text(json.dumps(data.template(batch_size=BATCH, bulk_threshold=THRESHOLD)))
    return path


def _start(sandbox_factory: Any, tmp_path: Path) -> tuple[Trial, dict]:
    server = sandbox_factory({"src": "empty", "tgt": "empty"})
    server.app.state["bulk_synchronous"] = True
    data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS)
    trial = Trial(server, tmp_path / "home")
    server.faults("tgt").update(observer=trial.observe)
    return trial, {"template": str(_template(tmp_path)), "before": data.snapshot(org_client(server, "tgt"))}


def _bulk_points(calls: list[tuple[str, str]]) -> list[int]:
    """Indices of the calls that close an ingest job or read its successful results."""
    return [i for i, (method, path) in enumerate(calls)
            if "/jobs/ingest/" in path and (method == "PATCH" or path.rstrip("/").endswith("successfulResults"))]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    from isyncsf_desktop.sandbox.server import SandboxServer

    folder = tmp_path_factory.mktemp("kill-bulk-reference")
    with SandboxServer(folder / "sandbox", {"src": "empty", "tgt": "empty"}) as server:
        server.app.state["bulk_synchronous"] = True
        data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS)
        trial = Trial(server, folder / "home")
        server.faults("tgt").update(observer=trial.observe)
        done = trial.run(*_sync_argv({"template": str(_template(folder))}))
        assert done.returncode == 0, done.stderr
        sync_calls = list(trial.calls)
        done = trial.run("rollback", "1", "--json")
        assert done.returncode == 0, done.stderr
        rollback_calls = list(trial.calls)
    sync_points, rollback_points = _bulk_points(sync_calls), _bulk_points(rollback_calls)
    assert len(sync_points) >= 4 and rollback_points, (sync_calls, rollback_calls)
    return {"sync": sync_points, "rollback": rollback_points}


@pytest.mark.parametrize("then", ["resume", "rollback"])
@pytest.mark.parametrize("mode", ["before", "after"])
@pytest.mark.parametrize("k", [0, 1, 2, 3])
def test_a_sync_killed_at_a_bulk_job_resumes_or_rolls_back_exactly(reference, sandbox_factory, tmp_path, k, mode,
                                                                    then):
    points = reference["sync"]
    index = points[round(k * (len(points) - 1) / 3)]
    trial, ctx = _start(sandbox_factory, tmp_path)
    killed = trial.run(*_sync_argv(ctx), kill_at=index, mode=mode)
    assert trial.killed and killed.returncode == -signal.SIGKILL, (index, killed.stderr[-2000:])
    assert resume_or_roll_back(trial, ctx, then) == EXACT[then]


@pytest.mark.parametrize("mode", ["before", "after"])
def test_a_rollback_killed_at_a_bulk_delete_finishes_exactly(reference, sandbox_factory, tmp_path, mode):
    index = reference["rollback"][0]
    trial, ctx = _start(sandbox_factory, tmp_path)
    assert rollback_killed_then_run_again(trial, ctx, index, mode) == EXACT["rollback"]



class KillAfterFirstClose(Trial):
    """Kills the child once the org has closed its first ingest job (the answer never reaches it)."""

    def observe(self, when: str, method: str, path: str) -> str | None:
        with self.lock:
            if when == "before":
                self.calls.append((method, path))
                self.current.index = len(self.calls) - 1
                if self.kill_at is None and not self.killed and method == "PATCH" and "/jobs/ingest/" in path:
                    self.kill_at = self.current.index
                return None
            if self.killed or self.kill_at is None or self.current.index != self.kill_at:
                return None
            self.killed = True
            assert self.child is not None
            os.kill(self.child.pid, signal.SIGKILL)
            self.child.wait()
            return None


@pytest.mark.parametrize("then", ["resume", "rollback"])
def test_a_sync_killed_while_its_bulk_job_waits_in_the_orgs_queue_resumes_or_rolls_back_exactly(
        sandbox_factory, tmp_path, then):
    """A real org runs a closed job on its own time: the process dies right after closing its first
    ingest job, which is still queued (``bulk_hold``). The next run must wait for that job to end
    before it reads the target, or it would create the job's records again (resume) or miss them
    (rollback). The queue is released when the next run first asks the org about that job."""
    server = sandbox_factory({"src": "empty", "tgt": "empty"})
    data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS)
    trial = KillAfterFirstClose(server, tmp_path / "home")
    faults = server.faults("tgt")
    faults.update(observer=trial.observe, bulk_hold=True)
    ctx = {"template": str(_template(tmp_path)), "before": data.snapshot(org_client(server, "tgt"))}
    killed = trial.run(*_sync_argv(ctx))
    assert trial.killed and trial.kill_at is not None and killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    closed = trial.calls[trial.kill_at][1].rstrip("/").rsplit("/", 1)[-1]
    assert server.store("tgt").count("Account") == data.PRE_EXISTING     # the job is queued: nothing done yet
    asked: list[str] = []

    def release_when_asked(when: str, method: str, path: str) -> str | None:
        if when == "before" and method == "GET" and "/jobs/ingest/" in path and not asked:
            asked.append(path.rstrip("/").rsplit("/", 1)[-1])
            faults.update(bulk_hold=False)     # the queue moves once the org is asked about any job
        return None

    faults.update(observer=release_when_asked)
    assert resume_or_roll_back(trial, ctx, then) == EXACT[then]
    assert asked == [closed], "the next run did not first ask the org about the job the killed run left queued"


class KillAfterFirstOpen(Trial):
    """Kills the child once the org has opened its first ingest job, before the answer (the job's id)
    reaches it: the journal has the opening written ahead and no id. Once only (the next runs go on)."""

    done: bool = False

    def observe(self, when: str, method: str, path: str) -> str | None:
        with self.lock:
            if when == "before":
                self.calls.append((method, path))
                self.current.index = len(self.calls) - 1
                if self.kill_at is None and not self.done and method == "POST" \
                        and path.rstrip("/").endswith("/jobs/ingest"):
                    self.kill_at = self.current.index
                return None
            if self.killed or self.kill_at is None or self.current.index != self.kill_at:
                return None
            self.killed = self.done = True
            assert self.child is not None
            os.kill(self.child.pid, signal.SIGKILL)
            self.child.wait()
            return None


@pytest.mark.parametrize("then", ["resume", "rollback"])
def test_a_sync_killed_once_the_org_opened_a_bulk_job_it_never_heard_the_id_of_resumes_or_rolls_back_exactly(
        sandbox_factory, tmp_path, then):
    """Issue 22 item 9: the org opened the job, the process died before the answer: no journal row names
    the job. The next run finds it in the org's job list (by the opening written ahead) and aborts it (it
    is Open with no data: nothing of it was committed), then resumes or rolls back exactly."""
    server = sandbox_factory({"src": "empty", "tgt": "empty"})
    server.app.state["bulk_synchronous"] = True
    data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS)
    trial = KillAfterFirstOpen(server, tmp_path / "home")
    server.faults("tgt").update(observer=trial.observe)
    ctx = {"template": str(_template(tmp_path)), "before": data.snapshot(org_client(server, "tgt"))}
    killed = trial.run(*_sync_argv(ctx))
    assert trial.killed and trial.kill_at is not None and killed.returncode == -signal.SIGKILL, killed.stderr[-2000:]
    target = org_client(server, "tgt")
    assert [job["state"] for job in target.ingest_jobs()] == ["Open"]       # opened, never heard of
    assert resume_or_roll_back(trial, ctx, then) == EXACT[then]
    jobs = target.ingest_jobs()
    assert jobs[0]["state"] == "Aborted" and not [job for job in jobs if job["state"] == "Open"], jobs


# ---------------------------------------------------------------------- row locks: jobs that send locked rows again
LOCKS = {"lock_contention": 1.0, "bulk_batch_rows": 7}
"""A busy target: each job's internal batches of 7 rows contend for the parents they share, so most jobs
leave locked rows, which go again as a job of just those rows (at least the template's Bulk threshold)."""


def _resend_closes(calls: list[tuple[str, str]]) -> list[int]:
    """Indices of the calls that close a job sending locked rows again: a job opened right after the
    failed results of the one before were read (no row of this data set fails but for a lock)."""
    points: list[int] = []
    failures_read = resend = False
    for i, (method, path) in enumerate(calls):
        path = path.rstrip("/")
        if method == "GET":
            failures_read = failures_read or path.endswith("failedResults")
            continue
        if method == "POST" and path.endswith("/jobs/ingest"):
            resend = failures_read
        elif method == "PATCH" and "/jobs/ingest/" in path and resend:
            points.append(i)
            resend = False
        failures_read = False
    return points


def _start_locked(sandbox_factory: Any, tmp_path: Path) -> tuple[Trial, dict]:
    trial, ctx = _start(sandbox_factory, tmp_path)
    trial.server.faults("tgt").update(**LOCKS)
    return trial, ctx


@pytest.fixture(scope="module")
def locked_reference(tmp_path_factory: pytest.TempPathFactory) -> list[int]:
    from isyncsf_desktop.sandbox.server import SandboxServer

    folder = tmp_path_factory.mktemp("kill-bulk-locks-reference")
    with SandboxServer(folder / "sandbox", {"src": "empty", "tgt": "empty"}) as server:
        server.app.state["bulk_synchronous"] = True
        data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS)
        trial = Trial(server, folder / "home")
        server.faults("tgt").update(observer=trial.observe, **LOCKS)
        done = trial.run(*_sync_argv({"template": str(_template(folder))}))
        assert done.returncode == 0 and json.loads(done.stdout)["state"] == "Synced", done.stderr
        points = _resend_closes(trial.calls)
    assert len(points) >= 2, trial.calls
    return [points[0], points[-1]]


@pytest.mark.parametrize("then", ["resume", "rollback"])
@pytest.mark.parametrize("mode", ["before", "after"])
@pytest.mark.parametrize("k", [0, 1])
def test_a_sync_killed_at_a_job_sending_locked_rows_again_resumes_or_rolls_back_exactly(
        locked_reference, sandbox_factory, tmp_path, k, mode, then):
    """Killed as it closes a job of rows an earlier job found locked (the first and the last such job of the
    run), before the org sees the close or once it has processed the rows: the re-send job was written
    ahead and journaled like the first, so the next run waits for it and resumes or rolls back exactly."""
    trial, ctx = _start_locked(sandbox_factory, tmp_path)
    killed = trial.run(*_sync_argv(ctx), kill_at=locked_reference[k], mode=mode)
    assert trial.killed and killed.returncode == -signal.SIGKILL, (locked_reference[k], killed.stderr[-2000:])
    assert resume_or_roll_back(trial, ctx, then) == EXACT[then]
