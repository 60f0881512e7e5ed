"""Kill trials of a parallel run: ``isyncsf sync`` of Accounts, Contacts and Leads (no lookup to the others) with
``parallel_objects`` 2, so Account and Lead are written at the same time, each stream journaled with the same
write-ahead rule; killed with SIGKILL at chosen target calls, then resumed or rolled back, and the target org
checked record by record (as ``test_kill_trials.py`` does for a run one object at a time).

Kill points are chosen as there: a reference run lists the target calls; points are spread over the first pass
(both streams out: Account levels and Lead batches) and the second pass, either just before the org sees the
call or just after it committed it. Which object's call comes at a given index may differ from the reference
between runs (two streams): each trial still kills the child at that call, wherever it falls.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
import related_data as data
from helpers import org_client
from test_kill_trials import EXACT, Trial, _phases, _spread, _sync_argv, resume_or_roll_back

pytestmark = [pytest.mark.slow, pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="SIGKILL")]

ACCOUNTS, LEADS, BATCH = 30, 40, 10


def _template(folder: Path) -> Path:
    template = folder / "related.json"
    template.write_text(json.dumps(data.template(batch_size=BATCH, leads=True, late_commit_window=0,
                                                 parallel_objects=2)))
    return template


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The target calls of an uninterrupted parallel sync, to choose kill points from; and that it ran both
    streams at once (Lead started before Account finished)."""
    from isyncsf_desktop.sandbox.server import SandboxServer

    folder = tmp_path_factory.mktemp("kill-parallel-reference")
    with SandboxServer(folder / "sandbox", {"src": "empty", "tgt": "empty"}) as server:
        data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS, leads=LEADS)
        trial = Trial(server, folder / "home")
        server.faults("tgt").update(observer=trial.observe)
        done = trial.run(*_sync_argv({"template": str(_template(folder))}))
        assert done.returncode == 0, done.stderr
        assert data.synced_problems(org_client(server, "src"), org_client(server, "tgt")) == EXACT["resume"]
        calls = list(trial.calls)
    phases = _phases(calls)
    assert all(phases.values()), phases
    return {"sync": calls, "phases": phases}


def _points() -> list[tuple[str, int, str]]:
    """(phase, k-th point of that phase, mode): 4 first pass points before and after, the middle one of 3 second
    pass points."""
    points = [("first pass", k, mode) for k in range(4) for mode in ("before", "after")]
    return points + [("second pass", 1, "after")]


@pytest.mark.parametrize("then", ["resume", "rollback"])
@pytest.mark.parametrize(("phase", "k", "mode"), _points())
def test_a_parallel_sync_killed_anywhere_resumes_exactly_or_rolls_back_exactly(
        reference: dict[str, Any], sandbox_factory: Any, tmp_path: Path, phase: str, k: int, mode: str,
        then: str) -> None:
    index = _spread(reference["phases"][phase], 4 if phase == "first pass" else 3)[k]
    server = sandbox_factory({"src": "empty", "tgt": "empty"})
    data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS, leads=LEADS)
    trial = Trial(server, tmp_path / "home")
    server.faults("tgt").update(observer=trial.observe)
    ctx = {"template": str(_template(tmp_path)), "before": data.snapshot(org_client(server, "tgt"))}
    killed = trial.run(*_sync_argv(ctx), kill_at=index, mode=mode)
    assert trial.killed and killed.returncode == -signal.SIGKILL, (index, killed.stderr[-2000:])
    problems = resume_or_roll_back(trial, ctx, then)
    print(json.dumps({"trial": f"parallel {phase} {k} {mode} -> {then}", "call": index, **problems}))
    assert problems == EXACT[then]
