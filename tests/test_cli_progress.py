"""The CLI's progress line ends with the run's time left, from the rate measured so far (scripted events:
their ``elapsed`` is the only clock)."""

from __future__ import annotations

from typing import Any

from isyncsf_desktop.cli import _Progress
from isyncsf_desktop.engine.events import BatchDone, ObjectFinished, ObjectReading, ObjectStarted, StateChanged
from isyncsf_desktop.engine.journal import ObjectCounts
from isyncsf_desktop.engine.lifecycle import JobState, RunStatus


def test_the_progress_line_says_the_time_left(capsys: Any) -> None:
    asked: list[int] = []

    def planned(job_id: int) -> dict[str, int]:
        asked.append(job_id)
        return {"Account": 1000, "Contact": 4000}

    progress = _Progress(True, planned)
    progress(StateChanged(job_id=7, elapsed=0.0, state=JobState.SCAN_IN_PROGRESS, status=RunStatus.EXECUTING))
    progress(StateChanged(job_id=7, elapsed=3.0, state=JobState.SYNC_IN_PROGRESS, status=RunStatus.EXECUTING))
    progress(ObjectReading(job_id=7, elapsed=3.0, object="Account", index=1, count=2))
    progress(ObjectStarted(job_id=7, elapsed=3.0, object="Account", index=1, count=2, total=1000))

    def batch(at: float, done: int) -> None:
        counts = ObjectCounts(total=1000, processed=done, inserted=done)
        progress(BatchDone(job_id=7, elapsed=at, object="Account", counts=counts, totals=counts))

    batch(3.5, 50)
    first = capsys.readouterr().err.split("\r")[-1]
    assert "[1/2] Account" in first and first.rstrip().endswith("estimating…")
    for second in range(1, 5):                      # 100 records a second: 6 s of Accounts, 40 s of Contacts
        batch(3.0 + second, 100 * second)
    line = capsys.readouterr().err.split("\r")[-1]
    assert line.rstrip().endswith("about 45 s left"), line
    assert asked == [7]                             # the planned counts, asked once the run writes


def test_no_line_and_no_question_off_a_terminal(capsys: Any) -> None:
    progress = _Progress(False, lambda job_id: {"Account": 1})
    progress(StateChanged(job_id=7, elapsed=0.0, state=JobState.SYNC_IN_PROGRESS, status=RunStatus.EXECUTING))
    counts = ObjectCounts(total=1, processed=1, inserted=1)
    progress(BatchDone(job_id=7, elapsed=1.0, object="Account", counts=counts, totals=counts))
    assert capsys.readouterr().err == ""


def test_the_progress_line_names_every_object_under_way(capsys: Any) -> None:
    """parallel_objects: Account and Lead at once; the line names both with the run's counts, then the one left."""
    progress = _Progress(True)
    progress(ObjectStarted(job_id=7, elapsed=1.0, object="Account", index=1, count=3, total=100))
    progress(ObjectStarted(job_id=7, elapsed=1.0, object="Lead", index=3, count=3, total=300))
    account = ObjectCounts(total=100, processed=50, inserted=50)
    run = ObjectCounts(total=400, processed=100, inserted=100)
    progress(BatchDone(job_id=7, elapsed=2.0, object="Account", counts=account, totals=run))
    line = capsys.readouterr().err.split("\r")[-1]
    assert "[1,3/3] Account, Lead" in line and " 25%  ins 100 " in line, line
    progress(ObjectFinished(job_id=7, elapsed=3.0, object="Account", counts=account))
    lead = ObjectCounts(total=300, processed=150, inserted=150)
    progress(BatchDone(job_id=7, elapsed=4.0, object="Lead", counts=lead, totals=run))
    line = capsys.readouterr().err.split("\r")[-1]
    assert "[3/3] Lead " in line and " 50%  ins 150 " in line, line
    progress(ObjectStarted(job_id=7, elapsed=5.0, object="Contact", index=2, count=3, total=10))
    progress(ObjectFinished(job_id=7, elapsed=5.5, object="Lead", counts=lead))
    progress(BatchDone(job_id=7, elapsed=6.0, object="Contact", counts=ObjectCounts(total=10, processed=10),
                       totals=run))
    line = capsys.readouterr().err.split("\r")[-1]
    assert "[2/3] Contact " in line, line
