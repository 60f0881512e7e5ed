"""How often a Bulk API 2.0 job is looked at while the client waits for it: about when it should be done
(from its size and the rate measured so far), not on a fixed backoff. Calls are counted, never timed."""

from __future__ import annotations

import re
from typing import Any

import pytest
from helpers import org_client

from isyncsf_desktop.salesforce.client import OrgClient
from isyncsf_desktop.salesforce.pacing import JobRates, PollSchedule

JOB_PATH = re.compile(r"/jobs/ingest/[^/]+/?$")


# ====================================================================== the schedule, on a fake clock
def simulate(schedule: PollSchedule, rows: int, rate: float, queued: float = 0.0, chunk: int = 200,
             stall: tuple[float, float] | None = None) -> tuple[int, float]:
    """Drive ``schedule`` against a job of ``rows`` rows processed ``chunk`` rows at a time at ``rate`` rows a
    second after ``queued`` seconds in the queue (and paused over ``stall``, (from, seconds)): how many looks it
    took and how long after the job ended the look that saw it came (seconds of the fake clock)."""
    pause = stall[1] if stall else 0.0
    end = queued + rows / rate + pause

    def info(now: float) -> dict[str, Any]:
        busy = max(0.0, now - queued)
        if stall and now > stall[0]:
            busy = max(stall[0] - queued, busy - min(pause, now - stall[0]))
        done = min(rows, int(busy * rate) // chunk * chunk)
        if now >= end:
            return {"state": "JobComplete", "numberRecordsProcessed": rows,
                    "totalProcessingTime": int((end - queued) * 1000)}
        state = "InProgress" if now >= queued else "UploadComplete"
        return {"state": state, "numberRecordsProcessed": done, "totalProcessingTime": int(busy * 1000)}

    now, looks = 0.0, 0
    wait = schedule.next_wait({"state": "UploadComplete"}, now)
    while True:
        now += wait
        looks += 1
        job = info(now)
        if job["state"] == "JobComplete":
            return looks, now - end
        wait = schedule.next_wait(job, now)
        assert 0 < wait <= schedule.longest


def backoff_looks(duration: float, first: float = 0.05, most: float = 4.0) -> int:
    """Looks the old doubling backoff took to see a job of ``duration`` seconds end."""
    now, wait, looks = 0.0, first, 0
    while now < duration:
        now += wait
        wait = min(wait * 2, most)
        looks += 1
    return looks


def schedule(rows: int | None, rate: float | None = None) -> PollSchedule:
    return PollSchedule(rows, expected_rate=rate, first=0.05, backoff_max=4.0, longest=60.0, start=0.0)


def test_a_first_job_is_measured_then_waited_for() -> None:
    looks, late = simulate(schedule(50_000), 50_000, rate=2_000)          # 25 s: the backoff looks 12 times
    assert looks <= 6 < backoff_looks(25.0) == 12     # no wait longer than its age: a speed-up is seen
    assert late <= 25 * 0.15


def test_a_job_after_one_of_the_same_kind_is_looked_at_about_when_it_ends() -> None:
    looks, late = simulate(schedule(6_000, rate=2_000), 6_000, rate=2_000)      # 3 s: one look, at its end
    assert looks == 1 and late <= 3 * 0.15
    looks, late = simulate(schedule(50_000, rate=2_000), 50_000, rate=2_000)    # 25 s: halfway, then at its end
    assert looks == 2 and late <= 25 * 0.15
    looks, _late = simulate(schedule(50_000, rate=2_000), 50_000, rate=1_500)   # slower than the last: a re-poll
    assert looks <= 3


def test_a_long_job_much_faster_than_the_last_is_seen_halfway_not_after_its_expected_time() -> None:
    """A 24,000-row job after one measured at 2,500 rows a second (9.6 s) that goes at 7,500 (3.2 s): it is
    seen done at the look halfway (4.8 s), not at the expected end, 6.6 s after it ended."""
    looks, late = simulate(schedule(24_000, rate=2_500), 24_000, rate=7_500)
    assert looks == 1 and late == pytest.approx(24_000 / 2_500 * 0.5 - 24_000 / 7_500)


def test_a_job_slower_than_expected_and_a_small_job() -> None:
    looks, late = simulate(schedule(50_000, rate=4_000), 50_000, rate=1_000)     # 12.5 s expected, 50 s taken
    assert looks <= 6 and late <= 50 * 0.1
    looks, late = simulate(schedule(300), 300, rate=2_000)                # 0.15 s: first look after 0.05 s as before
    assert looks <= backoff_looks(0.15) and late <= 0.1


def test_a_queued_or_stalled_job_is_still_looked_at_within_the_longest_wait() -> None:
    looks, late = simulate(schedule(10_000, rate=2_000), 10_000, rate=2_000, queued=30.0)
    assert looks <= backoff_looks(35.0) and late <= 4.5       # queued: the backoff's pace, not 5 s waits again
    looks, late = simulate(schedule(10_000, rate=2_000), 10_000, rate=2_000, queued=5.0)   # behind another job
    assert late <= 4.5 and looks <= backoff_looks(10.0)
    looks, late = simulate(schedule(20_000), 20_000, rate=2_000, stall=(4.0, 200.0))
    assert late <= 4.5 and looks <= 200 / 4 + 14        # seen while stalled (every 4 s at most), and soon after


def test_a_slow_first_chunk_does_not_make_a_long_wait() -> None:
    """The first look finds 200 of 40,000 rows after 1.5 s of processing (the org read the whole file first):
    200 a second would mean 200 s; the next look comes no later than the job's age doubles, not in a minute."""
    plan = schedule(40_000)
    plan.next_wait({"state": "UploadComplete"}, 0.0)
    wait = plan.next_wait({"state": "InProgress", "numberRecordsProcessed": 200, "totalProcessingTime": 1500}, 1.5)
    assert wait <= 4.0
    wait = plan.next_wait({"state": "InProgress", "numberRecordsProcessed": 20_200, "totalProcessingTime": 5500},
                          1.5 + wait)
    # 5,000 a second since the last look: 3.96 s left, waited for to its end (a little past it), which is sooner
    # than the job's age (5.5 s) doubles
    assert wait == pytest.approx(19_800 / 5_000 * 1.05 + 0.05)


def test_remembered_rates_are_per_object_and_operation() -> None:
    rates = JobRates()
    assert rates.rate(("Account", "insert")) is None
    rates.record(("Account", "insert"), 1_000.0)
    rates.record(("Account", "insert"), 3_000.0)
    assert rates.rate(("Account", "insert")) == 2_000.0
    assert rates.rate(("Account", "delete")) is None and rates.rate(("Contact", "insert")) is None
    # another object's insert is a rough guide to a first Contact insert, another operation none
    assert rates.guide(("Account", "insert")) == (2_000.0, True)
    assert rates.guide(("Contact", "insert")) == (3_000.0, False)
    assert rates.guide(("Contact", "delete")) == (None, False)


def test_a_rate_measured_on_a_small_job_is_not_yet_sure() -> None:
    """A 4,000-row first level, processed while the org also answered a big query, says little of the next,
    12,000-row level: its rate guides that job's first look as a rough one (looked at early, measured then); a rate
    measured on at least half a job's rows is sure."""
    rates = JobRates()
    rates.record(("Account", "insert"), 2_600.0, 4_000)
    assert rates.guide(("Account", "insert"), 12_000) == (2_600.0, False)
    assert rates.guide(("Account", "insert"), 8_000) == (2_600.0, True)
    # the next level, 12,000 rows, goes at 20,000 a second: looked at after 30% of the 4.6 s expected, not at its end
    looks, late = simulate(PollSchedule(12_000, expected_rate=2_600.0, expected_sure=False, first=0.05,
                                        backoff_max=4.0, longest=60.0, start=0.0), 12_000, rate=20_000)
    assert looks == 1 and late == pytest.approx(12_000 / 2_600 * 0.3 - 12_000 / 20_000)
    rates.record(("Account", "insert"), 19_600.0, 12_000)
    assert rates.guide(("Account", "insert"), 24_000) == (11_100.0, True)     # measured on 16,000 rows


def test_a_first_job_of_an_operation_is_guided_by_its_collections_requests() -> None:
    """The connection's first Bulk insert, after a few Collections creates (a small parent level through
    Collections, then its children in one job): the rate of those requests is a rough guide (not sure), which a
    Bulk job of the operation replaces; another operation's Collections requests are no guide."""
    rates = JobRates()
    rates.record_collections("insert", 2_500.0)
    assert rates.guide(("Contact", "insert")) == (2_500.0, False)
    assert rates.guide(("Contact", "delete")) == (None, False)
    rates.record(("Account", "insert"), 4_000.0)
    assert rates.guide(("Contact", "insert")) == (4_000.0, False)
    assert rates.guide(("Account", "insert")) == (4_000.0, True)
    # 8,000 rows going at 4,500 a second where Collections took 2,500 a second: looked at first after 30% of the
    # 3.2 s those suggest (more than a fifth done, so measured sure) and then at its end: two looks, where the
    # backoff from 0.05 s measures it first on a sliver of the job and takes a third
    guided = PollSchedule(8_000, expected_rate=2_500, expected_sure=False, first=0.05, backoff_max=4.0,
                          longest=60.0, start=0.0)
    looks, late = simulate(guided, 8_000, rate=4_500)
    unguided, _ = simulate(schedule(8_000), 8_000, rate=4_500)
    assert looks == 2 < unguided and late <= 8_000 / 4_500 * 0.1


def test_collections_writes_are_remembered_as_a_guide_for_bulk_jobs(server: Any) -> None:
    """Against the sandbox: a create through Collections leaves its rate as the guide to a first Bulk insert of any
    object (not sure); nothing is known of deletes until one is made."""
    qa: OrgClient = org_client(server, "qa")
    assert qa._job_rates.guide(("Contact", "insert")) == (None, False)
    results = qa.create([{"attributes": {"type": "Account"}, "Name": f"R{i}"} for i in range(200)])
    assert all(r["success"] for r in results)
    rate, sure = qa._job_rates.guide(("Contact", "insert"))
    assert rate is not None and rate > 0 and not sure
    assert qa._job_rates.guide(("Contact", "delete")) == (None, False)
    qa.delete([r["id"] for r in results])
    assert qa._job_rates.guide(("Account", "delete"))[0] is not None


def test_a_first_job_of_an_object_is_looked_at_early_on_another_objects_rate() -> None:
    """80,000 Contacts after the run's Account jobs went at 1,000 rows a second: the first look comes at 30% of
    the 80 s that rate suggests, measures the job's own, and waits for its end: three looks, not the nine it
    takes to measure a job with nothing to go on; seen soon after its end whether it goes faster or slower."""
    def guided() -> PollSchedule:
        return PollSchedule(80_000, expected_rate=1_000, expected_sure=False, first=0.05, backoff_max=4.0,
                            longest=60.0, start=0.0)

    unguided, _late = simulate(schedule(80_000), 80_000, rate=1_800)
    looks, late = simulate(guided(), 80_000, rate=1_800)       # 44 s: its first look at 24 s finds it half done
    assert looks <= 3 < unguided and late <= 44 * 0.15
    looks, late = simulate(guided(), 80_000, rate=600)         # slower than the other object: 133 s
    assert looks <= 5 and late <= 133 * 0.15
    looks, late = simulate(guided(), 80_000, rate=4_000)       # 20 s: ended before the first look
    assert looks == 1 and late <= 80 * 0.3


# ====================================================================== against the sandbox
@pytest.fixture
def server(sandbox_factory: Any) -> Any:
    return sandbox_factory({"qa": "empty"})


def count_looks(server: Any) -> list[str]:
    looks: list[str] = []

    def observe(when: str, method: str, path: str) -> None:
        if when == "before" and method == "GET" and JOB_PATH.search(path):
            looks.append(path)

    server.faults("qa").update(observer=observe)
    return looks


def test_jobs_of_known_size_cost_few_looks(server: Any) -> None:
    """Two 3,000-row jobs on an org processing 1,000 rows a second (3 s each): the first is measured on an
    early look and waited for (no wait longer than its age so far),
    the second is looked at about when the first's rate says it ends. A backoff
    capped at 0.25 s (the cap passed here) would look 14 times at each; the schedule's waits follow the jobs."""
    qa: OrgClient = org_client(server, "qa")
    server.faults("qa").update(bulk_rows_per_second=1_000.0)
    looks = count_looks(server)
    results = qa.bulk_ingest("Account", "insert", [{"Name": f"A{i}"} for i in range(3_000)], poll_max=0.25)
    assert all(r["success"] for r in results)
    first = len(looks)
    results = qa.bulk_ingest("Account", "insert", [{"Name": f"B{i}"} for i in range(3_000)], poll_max=0.25)
    assert all(r["success"] for r in results)
    second = len(looks) - first
    assert first < 14 and second <= 4, (first, second)    # the capped backoff: 14 looks at each
    assert qa.bulk_polls == first + second
    assert backoff_looks(3.0, most=0.25) == 14


def test_a_wait_that_is_called_off_stops_between_looks(server: Any) -> None:
    """``settle_bulk_jobs`` with ``keep_waiting`` (the run's abort) stops waiting for a job stuck in the org's
    queue as soon as it says no, without further looks."""
    qa: OrgClient = org_client(server, "qa")
    server.faults("qa").update(bulk_hold=True)
    job = qa.sf.restful("jobs/ingest/", method="POST", json={"object": "Account", "operation": "insert",
                                                             "contentType": "CSV", "lineEnding": "LF"})
    qa._bulk_request("upload", "PUT", f"jobs/ingest/{job['id']}/batches/", data=b"Name\nHeld\n")
    qa.sf.restful(f"jobs/ingest/{job['id']}/", method="PATCH", json={"state": "UploadComplete"})
    looks = count_looks(server)
    asked: list[int] = []

    def keep_waiting() -> bool:
        asked.append(1)
        return len(asked) < 4

    states = qa.settle_bulk_jobs([job["id"]], keep_waiting=keep_waiting)
    assert states == {job["id"]: "UploadComplete"}
    assert len(looks) <= 3            # the first look, and at most one per answer of keep_waiting
    server.faults("qa").update(bulk_hold=False, observer=None)
    assert qa.settle_bulk_jobs([job["id"]]) == {job["id"]: "JobComplete"}
