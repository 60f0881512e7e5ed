"""The run's time left (engine.eta) from scripted events: their ``elapsed`` is the only clock."""

from __future__ import annotations

import pytest

from isyncsf_desktop.engine.eta import MIN_SECONDS, Eta, describe_left
from isyncsf_desktop.engine.events import BatchDone, ObjectFinished, ObjectReading, ObjectStarted, StateChanged
from isyncsf_desktop.engine.journal import ObjectCounts


def counts(processed: int, total: int) -> ObjectCounts:
    return ObjectCounts(total=total, processed=processed, inserted=processed)


def reading(name: str, at: float, index: int = 1) -> ObjectReading:
    return ObjectReading(job_id=1, elapsed=at, object=name, index=index, count=2)


def started(name: str, at: float, total: int, index: int = 1) -> ObjectStarted:
    return ObjectStarted(job_id=1, elapsed=at, object=name, index=index, count=2, total=total)


def batch(name: str, at: float, processed: int, total: int) -> BatchDone:
    return BatchDone(job_id=1, elapsed=at, object=name, counts=counts(processed, total), totals=counts(processed, total))


def finished(name: str, at: float, total: int) -> ObjectFinished:
    return ObjectFinished(job_id=1, elapsed=at, object=name, counts=counts(total, total))


def test_nothing_is_said_until_enough_is_measured() -> None:
    eta = Eta({"Account": 1000, "Contact": 4000})
    assert eta.remaining().total is None and describe_left(eta.remaining().total) == "estimating…"
    eta.observe(StateChanged(job_id=1, elapsed=5.0, state="Sync In Progress", status="Executing"))
    eta.observe(reading("Account", 5.0))
    eta.observe(started("Account", 5.5, 1000))
    eta.observe(batch("Account", 5.0 + MIN_SECONDS / 2, 200, 1000))
    assert eta.remaining().total is None                 # one second of work: no figure yet
    eta.observe(batch("Account", 5.0 + MIN_SECONDS, 400, 1000))
    assert eta.remaining().total is not None


def test_a_steady_run_is_estimated_from_its_rate_per_object_and_for_objects_not_reached() -> None:
    """100 records a second from the first object reached (scan time before it does not count): at 4 s, 400 of
    1,000 Accounts are done and 4,000 Contacts wait: 6 s for the Accounts, 40 s for the Contacts."""
    eta = Eta({"Account": 1000, "Contact": 4000})
    eta.observe(reading("Account", 10.0))
    eta.observe(started("Account", 10.0, 1000))
    for second in range(1, 5):
        eta.observe(batch("Account", 10.0 + second, 100 * second, 1000))
    left = eta.remaining()
    assert left.objects["Account"] == pytest.approx(6.0)
    assert left.objects["Contact"] == pytest.approx(40.0)
    assert left.total == pytest.approx(46.0, rel=0.05)
    later = eta.remaining(after=3.0)                     # three seconds with no event since: counted down
    assert later.total == pytest.approx(43.0, rel=0.05) and later.objects["Account"] == pytest.approx(3.0)
    assert describe_left(left.total) == "about 45 s left"


def test_a_finished_object_leaves_the_estimate_and_the_next_gets_its_own_rate() -> None:
    eta = Eta({"Account": 1000, "Contact": 4000})
    eta.observe(reading("Account", 0.0))
    eta.observe(started("Account", 0.0, 1000))
    eta.observe(batch("Account", 10.0, 1000, 1000))
    eta.observe(finished("Account", 10.0, 1000))         # 100 a second so far
    eta.observe(reading("Contact", 10.0, 2))
    eta.observe(started("Contact", 10.0, 4000, 2))
    for second in range(1, 5):                            # Contacts go at 400 a second
        eta.observe(batch("Contact", 10.0 + second, 400 * second, 4000))
    left = eta.remaining()
    assert "Account" not in left.objects
    assert left.objects["Contact"] == pytest.approx(6.0)
    assert left.total is not None and 6.0 <= left.total < 40.0     # smoothed towards 6 s from the run's 100/s


def test_a_big_batch_landing_at_once_does_not_make_the_figure_jump() -> None:
    """A Bulk job reports 49,000 records in one event, 0.2 s after the last: the figure moves towards the new rate,
    not all the way; estimates seconds later replace it."""
    eta = Eta({"Contact": 100_000})
    eta.observe(reading("Contact", 0.0))
    eta.observe(started("Contact", 0.0, 100_000))
    eta.observe(batch("Contact", 20.0, 20_000, 100_000))        # 1,000 a second: 80 s left
    assert eta.remaining().total == pytest.approx(80.0)
    eta.observe(batch("Contact", 24.8, 21_000, 100_000))        # slower lately: more than 100 s left
    before = eta.remaining().total
    assert before is not None and before > 100
    eta.observe(batch("Contact", 25.0, 70_000, 100_000))        # the lump: a few seconds left by the new rate
    raw = eta.remaining().objects["Contact"]
    after = eta.remaining().total
    assert raw is not None and raw < 10 and after is not None and after > before * 0.7
    eta.observe(batch("Contact", 28.0, 75_000, 100_000))        # three seconds later: the new rate has taken over
    settled, raw = eta.remaining().total, eta.remaining().objects["Contact"]
    assert settled is not None and raw is not None and abs(settled - raw) < 0.1 * after


def test_the_rate_is_of_the_latest_half_of_the_run() -> None:
    """100 records a second for 100 s, then 300 a second: at 200 s the rate is the new one, not the average, and
    what the run keeps of its past is only the samples that rate still needs."""
    eta = Eta({"Contact": 100_000})
    eta.observe(reading("Contact", 0.0))
    eta.observe(started("Contact", 0.0, 100_000))
    done = 0
    for second in range(1, 201):
        done += 100 if second <= 100 else 300
        eta.observe(batch("Contact", float(second), done, 100_000))
    assert eta.run_rate() == pytest.approx(300.0)
    assert eta.remaining().objects["Contact"] == pytest.approx((100_000 - 40_000) / 300)
    assert len(eta._run.times) <= 102


def test_time_left_in_words() -> None:
    assert describe_left(None) == "estimating…"
    assert describe_left(4) == "a few seconds left"
    assert describe_left(41) == "about 40 s left"
    assert describe_left(170) == "about 3 min left"
    assert describe_left(3900) == "about 1 h 05 min left"


def test_rows_a_bulk_job_has_processed_count_before_they_are_journaled() -> None:
    """One Bulk job of 40,000 Contacts: its looks say 10,000 rows after 2 s and 20,000 after 4 s, so Contacts go
    at 5,000 a second, whatever the Accounts before went at; the BatchDone journaling them replaces the job's
    count (no double counting)."""
    from isyncsf_desktop.engine.events import BulkJobProgress

    eta = Eta({"Account": 1000, "Contact": 40_000})
    eta.observe(reading("Account", 0.0))
    eta.observe(started("Account", 0.0, 1000))
    eta.observe(batch("Account", 10.0, 1000, 1000))        # 100 a second
    eta.observe(finished("Account", 10.0, 1000))
    eta.observe(started("Contact", 10.0, 40_000, 2))
    for at, rows in ((12.0, 10_000), (14.0, 20_000)):
        eta.observe(BulkJobProgress(job_id=1, elapsed=at, object="Contact", bulk_id="750J", processed=rows))
    assert eta.remaining().objects["Contact"] == pytest.approx(20_000 / 5_000)
    eta.observe(BulkJobProgress(job_id=1, elapsed=18.0, object="Contact", bulk_id="750J", processed=40_000,
                                ended=True))
    eta.observe(batch("Contact", 18.5, 40_000, 40_000))
    assert eta._objects["Contact"].processed == 40_000 and eta.remaining().objects["Contact"] == 0.0


def test_the_time_an_object_spends_being_read_is_its_own_not_a_slower_run() -> None:
    """Accounts went at 100 a second; the Contacts have been read (or their Bulk job uploaded) for 10 s with
    nothing done yet: they take 4,000 / 100 s from when they were reached, 30 s from now, not 4,000 at the run's
    rate dragged down by those 10 idle seconds."""
    from isyncsf_desktop.engine.events import BulkJobProgress

    eta = Eta({"Account": 1000, "Contact": 4000})
    eta.observe(reading("Account", 0.0))
    eta.observe(started("Account", 0.0, 1000))
    for second in range(1, 11):
        eta.observe(batch("Account", float(second), 100 * second, 1000))
    eta.observe(finished("Account", 10.0, 1000))
    eta.observe(reading("Contact", 10.0, 2))
    eta.observe(started("Contact", 14.0, 4000, 2))
    eta.observe(BulkJobProgress(job_id=1, elapsed=20.0, object="Contact", bulk_id="750J", processed=0))
    assert eta.remaining().objects["Contact"] == pytest.approx(30.0)


def test_an_object_whose_first_rows_are_seen_after_an_idle_stretch_is_not_counted_at_a_dragged_rate() -> None:
    """Accounts went at 100 a second for 10 s; the Contacts were read and uploaded for 10 s with nothing done, then
    a look at their job shows 200 rows. The run's rate over its latest half has those idle seconds in it (1,200
    records over 10 s: 120 a second, but only 20 of them in the last 10 s); until a fifth of the Contacts are done
    they are counted at no less than the 100 a second the run had when they were reached (blended with their own
    first rate, a quarter of the way to trusting it): under a minute, not 3,800 at the dragged rate (which said
    165 s)."""
    from isyncsf_desktop.engine.events import BulkJobProgress

    eta = Eta({"Account": 1000, "Contact": 4000})
    eta.observe(reading("Account", 0.0))
    eta.observe(started("Account", 0.0, 1000))
    for second in range(1, 11):
        eta.observe(batch("Account", float(second), 100 * second, 1000))
    eta.observe(finished("Account", 10.0, 1000))
    eta.observe(reading("Contact", 10.0, 2))
    eta.observe(started("Contact", 14.0, 4000, 2))
    eta.observe(BulkJobProgress(job_id=1, elapsed=20.0, object="Contact", bulk_id="750J", processed=200))
    left = eta.remaining().objects["Contact"]
    assert left is not None and 3_800 / 100 <= left <= 50.0
    assert eta.run_rate() == pytest.approx(20.0)          # the run's own rate, dragged by the idle stretch


def test_a_big_run_says_nothing_until_a_hundredth_of_its_records_are_done() -> None:
    """A million records planned; after 50 s the first look at the first Bulk job shows 200 rows: four records a
    second would say 70 hours. No figure until 10,000 records are done, then one from the rate of those."""
    from isyncsf_desktop.engine.events import BulkJobProgress

    eta = Eta({"Account": 200_000, "Contact": 800_000})
    eta.observe(reading("Account", 0.0))
    eta.observe(started("Account", 38.0, 200_000))
    eta.observe(BulkJobProgress(job_id=1, elapsed=50.0, object="Account", bulk_id="750A", processed=200))
    assert eta.remaining().total is None and describe_left(eta.remaining().total) == "estimating…"
    eta.observe(BulkJobProgress(job_id=1, elapsed=60.0, object="Account", bulk_id="750A", processed=9_999))
    assert eta.remaining().total is None
    eta.observe(BulkJobProgress(job_id=1, elapsed=70.0, object="Account", bulk_id="750A", processed=16_000))
    left = eta.remaining().total
    assert left is not None and left < 10 * 3600


def test_objects_under_way_at_once_end_together_not_one_after_the_other() -> None:
    """Account and Lead written side by side (parallel_objects), each 100 records a second: at 4 s, 600 Accounts
    and 1,600 Leads are left: 6 s and 16 s at their own rates, so 16 s for both (not 22), then the Contacts at the
    run's rate (both objects' records: about 200 a second)."""
    eta = Eta({"Account": 1000, "Lead": 2000, "Contact": 2000})
    for name in ("Account", "Lead"):
        eta.observe(reading(name, 10.0))
    eta.observe(started("Account", 10.0, 1000))
    eta.observe(started("Lead", 10.0, 2000))
    for second in range(1, 5):
        eta.observe(batch("Account", 10.0 + second, 100 * second, 1000))
        eta.observe(batch("Lead", 10.0 + second, 100 * second, 2000))
    left = eta.remaining()
    assert left.objects["Account"] == pytest.approx(6.0) and left.objects["Lead"] == pytest.approx(16.0)
    rate = eta.run_rate()
    assert rate is not None and rate > 150          # both objects' records: about 200 a second
    assert left.objects["Contact"] == pytest.approx(2000 / rate)
    assert left.total == pytest.approx(16.0 + 2000 / rate, rel=0.1)    # summed, it would be 6 s more
