"""The run's time left (engine.eta) from scripted events: their ``elapsed`` is the only clock."""

from __future__ import annotations

from typing import Any

import pytest

from isyncsf_desktop.engine.eta import MIN_SECONDS, Eta, describe_left
from isyncsf_desktop.engine.events import (BatchDone, BulkJobProgress, Event, ObjectFinished, ObjectReading,
                                           ObjectShape, ObjectStarted, RunPlanned, StateChanged)
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


def look(name: str, at: float, rows: int, bulk_id: str = "750J", ended: bool = False) -> BulkJobProgress:
    """A look at one of ``name``'s Bulk jobs: ``rows`` processed so far."""
    return BulkJobProgress(job_id=1, elapsed=at, object=name, bulk_id=bulk_id, processed=rows, ended=ended)


def feed(eta: Eta, *events: Event) -> Eta:
    for event in events:
        eta.observe(event)
    return eta


def steady(eta: Eta, name: str, start: float, per_second: int, seconds: int, total: int, index: int = 1,
           finish: bool = False) -> None:
    """``name`` reached and started at ``start``, then ``per_second`` records journaled each second for ``seconds``
    (and finished then, ``finish``)."""
    feed(eta, reading(name, start, index), started(name, start, total, index))
    for second in range(1, seconds + 1):
        eta.observe(batch(name, start + second, per_second * second, total))
    if finish:
        eta.observe(finished(name, start + seconds, per_second * seconds))


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
    steady(eta, "Account", 10.0, 100, 4, 1000)
    left = eta.remaining()
    assert left.objects["Account"] == pytest.approx(6.0)
    assert left.objects["Contact"] == pytest.approx(40.0)
    assert left.total == pytest.approx(46.0, rel=0.05)
    later = eta.remaining(after=3.0)                     # three seconds with no event since: counted down
    assert later.total == pytest.approx(43.0, rel=0.05) and later.objects["Account"] == pytest.approx(3.0)
    assert describe_left(left.total) == "about 45 s left"


def test_a_finished_object_leaves_the_estimate_and_the_next_gets_its_own_rate() -> None:
    eta = Eta({"Account": 1000, "Contact": 4000})
    steady(eta, "Account", 0.0, 100, 10, 1000, finish=True)     # 100 a second so far
    steady(eta, "Contact", 10.0, 400, 4, 4000, index=2)         # Contacts go at 400 a second
    left = eta.remaining()
    assert "Account" not in left.objects
    assert left.objects["Contact"] == pytest.approx(6.0)
    assert left.total is not None and 6.0 <= left.total < 40.0     # smoothed towards 6 s from the run's 100/s


def test_a_big_batch_landing_at_once_does_not_make_the_figure_jump() -> None:
    """A Bulk job reports 49,000 records in one event, 0.2 s after the last: the figure moves towards the new rate,
    not all the way; estimates seconds later replace it."""
    eta = feed(Eta({"Contact": 100_000}), reading("Contact", 0.0), started("Contact", 0.0, 100_000))
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
    eta = feed(Eta({"Contact": 100_000}), reading("Contact", 0.0), started("Contact", 0.0, 100_000))
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
    eta = Eta({"Account": 1000, "Contact": 40_000})
    steady(eta, "Account", 0.0, 100, 10, 1000, finish=True)     # 100 a second
    feed(eta, started("Contact", 10.0, 40_000, 2), look("Contact", 12.0, 10_000), look("Contact", 14.0, 20_000))
    assert eta.remaining().objects["Contact"] == pytest.approx(20_000 / 5_000)
    feed(eta, look("Contact", 18.0, 40_000, ended=True), batch("Contact", 18.5, 40_000, 40_000))
    assert eta._objects["Contact"].processed == 40_000 and eta.remaining().objects["Contact"] == 0.0


def test_rows_a_bulk_job_has_processed_still_have_their_results_to_be_journaled() -> None:
    """The Accounts' Bulk job ended at 4 s and its 4,000 rows were journaled at 6 s: results take 0.5 ms a row in
    this run. The Contacts' job has processed all 8,000 rows at 10 s, none journaled yet: 4 s left, not nothing
    (a 200,000-record run said "a few seconds left" for the 25 s its last jobs' results took)."""
    eta = Eta({"Account": 4000, "Contact": 8000})
    feed(eta, reading("Account", 0.0), started("Account", 0.0, 4000), look("Account", 4.0, 4000, "750A", ended=True),
         batch("Account", 6.0, 4000, 4000), finished("Account", 6.0, 4000))
    feed(eta, reading("Contact", 6.0, 2), started("Contact", 6.0, 8000, 2), look("Contact", 8.0, 4000, "750C"),
         look("Contact", 10.0, 8000, "750C", ended=True))
    assert eta.remaining().objects["Contact"] == pytest.approx(4.0)
    assert eta.remaining(after=1.0).objects["Contact"] == pytest.approx(3.0)
    eta.observe(batch("Contact", 13.0, 8000, 8000))
    assert eta.remaining().objects["Contact"] == 0.0


def accounts_then_contacts_being_read() -> Eta:
    """1,000 Accounts at 100 a second from 0 s to 10 s, then 4,000 Contacts reached at 10 s, read by 14 s, their
    Bulk job uploaded since (nothing done yet)."""
    eta = Eta({"Account": 1000, "Contact": 4000})
    steady(eta, "Account", 0.0, 100, 10, 1000, finish=True)
    return feed(eta, reading("Contact", 10.0, 2), started("Contact", 14.0, 4000, 2))


def test_the_time_an_object_spends_being_read_is_its_own_not_a_slower_run() -> None:
    """Accounts went at 100 a second; the Contacts have been read (or their Bulk job uploaded) for 10 s with
    nothing done yet: they take 4,000 / 100 s from when they were reached, 30 s from now, not 4,000 at the run's
    rate dragged down by those 10 idle seconds."""
    eta = accounts_then_contacts_being_read()
    eta.observe(look("Contact", 20.0, 0))
    assert eta.remaining().objects["Contact"] == pytest.approx(30.0)


def test_an_object_whose_first_rows_are_seen_after_an_idle_stretch_is_not_counted_at_a_dragged_rate() -> None:
    """Accounts went at 100 a second for 10 s; the Contacts were read and uploaded for 10 s with nothing done, then
    a look at their job shows 200 rows. The run's rate over its latest half has those idle seconds in it (1,200
    records over 10 s: 120 a second, but only 20 of them in the last 10 s); until a fifth of the Contacts are done
    they are counted at no less than the 100 a second the run had when they were reached (blended with their own
    first rate, a quarter of the way to trusting it): under a minute, not 3,800 at the dragged rate (which said
    165 s)."""
    eta = accounts_then_contacts_being_read()
    eta.observe(look("Contact", 20.0, 200))
    left = eta.remaining().objects["Contact"]
    assert left is not None and 3_800 / 100 <= left <= 50.0
    assert eta.run_rate() == pytest.approx(20.0)          # the run's own rate, dragged by the idle stretch


def test_a_big_run_says_nothing_until_a_hundredth_of_its_records_are_done() -> None:
    """A million records planned; after 50 s the first look at the first Bulk job shows 200 rows: four records a
    second would say 70 hours. No figure until 10,000 records are done, then one from the rate of those."""
    eta = Eta({"Account": 200_000, "Contact": 800_000})
    feed(eta, reading("Account", 0.0), started("Account", 38.0, 200_000), look("Account", 50.0, 200))
    assert eta.remaining().total is None and describe_left(eta.remaining().total) == "estimating…"
    eta.observe(look("Account", 60.0, 9_999))
    assert eta.remaining().total is None
    eta.observe(look("Account", 70.0, 16_000))
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


# ---------------------------------------------------------------------- an earlier run of the template: the prior
EARLIER = {"Account": {"records": 1000, "seconds": 10.0}, "Contact": {"records": 4000, "seconds": 10.0}}
"""What the template's last sync to the target measured: its Accounts (a hierarchy) 10 ms a record, its Contacts
2.5 ms."""


def test_objects_not_reached_are_counted_at_what_their_records_took_before_not_at_the_first_objects_rate() -> None:
    """Accounts go at 100 a second as they did before; 4,000 Contacts wait. From the run's rate alone they would
    take 40 s (the old figure: 46 s in all); the earlier run says a Contact takes a quarter of an Account's time:
    10 s, 16 s in all."""
    eta = Eta({"Account": 1000, "Contact": 4000})
    eta.use_prior(EARLIER)
    steady(eta, "Account", 10.0, 100, 4, 1000)
    left = eta.remaining()
    assert left.objects["Account"] == pytest.approx(6.0)
    assert left.objects["Contact"] == pytest.approx(10.0)
    assert left.total == pytest.approx(16.0)


def test_with_a_prior_there_is_a_figure_from_the_start() -> None:
    """(An object planned with no records, which the earlier run therefore did not measure, is no obstacle.)"""
    eta = Eta({"Account": 1000, "Contact": 4000, "Opportunity": 0})
    eta.use_prior(EARLIER)
    feed(eta, reading("Account", 3.0), started("Account", 3.5, 1000))
    assert eta.remaining().total == pytest.approx(20.0 - 0.5)      # half a second of the Accounts' ten spent


def test_a_run_slower_than_the_one_before_scales_its_prior() -> None:
    """The Accounts took 20 s this time, twice the 10 s they took before: the Contacts are counted twice slower
    too (20 s, not 10 s)."""
    eta = Eta({"Account": 1000, "Contact": 4000})
    eta.use_prior(EARLIER)
    steady(eta, "Account", 0.0, 50, 20, 1000, finish=True)
    eta.observe(reading("Contact", 20.0, 2))
    assert eta.remaining().objects["Contact"] == pytest.approx(20.0)


def test_an_object_behind_where_it_was_at_the_same_batch_before_scales_the_rest() -> None:
    """Before, the Accounts had journaled 500 records after 5 s of the run; this time after 10 s, twice slower, with
    none of them finished yet: the Contacts still to come are counted twice slower too (20 s, not 10 s)."""
    eta = Eta({"Account": 1000, "Contact": 4000})
    eta.use_prior({**EARLIER, "Account": {**EARLIER["Account"], "marks": [[500, 5.0], [1000, 10.0]]}})
    feed(eta, reading("Account", 0.0), started("Account", 0.0, 1000), batch("Account", 10.0, 500, 1000))
    assert eta.remaining().objects["Contact"] == pytest.approx(20.0)


def test_the_batches_of_a_run_of_another_size_are_not_compared() -> None:
    """This time 2,000 Accounts: their levels and parts are journaled at other counts than the 1,000 before, so
    their 500th record journaled at 10 s says nothing of the speed: the Contacts are counted as before (10 s)."""
    eta = Eta({"Account": 2000, "Contact": 4000})
    eta.use_prior({**EARLIER, "Account": {**EARLIER["Account"], "marks": [[500, 5.0], [1000, 10.0]]}})
    feed(eta, reading("Account", 0.0), started("Account", 0.0, 2000), batch("Account", 10.0, 500, 2000))
    assert eta.remaining().objects["Contact"] == pytest.approx(10.0)


def test_a_million_batches_keep_forty_marks() -> None:
    eta = Eta({"Contact": 1_000_000})
    feed(eta, reading("Contact", 0.0), started("Contact", 0.0, 1_000_000))
    for n in range(1, 5001):
        eta.observe(batch("Contact", n * 0.1, n * 200, 1_000_000))
    eta.observe(finished("Contact", 500.0, 1_000_000))
    marks = eta.measured()["Contact"]["marks"]
    assert len(marks) == 40 and marks[-1] == [1_000_000, 500.0] and marks == sorted(marks)


def test_a_prior_of_a_run_of_another_size_is_not_used() -> None:
    """The earlier run had 1,000 Accounts; this one has 100,000: its fixed costs (a Bulk job's latency, a level's
    job) weigh differently, so the run's own rate is used ("estimating…" until it is measured)."""
    eta = Eta({"Account": 100_000, "Contact": 400_000})
    eta.use_prior(EARLIER)
    feed(eta, reading("Account", 0.0), started("Account", 1.0, 100_000))
    assert eta.remaining().total is None


def test_objects_side_by_side_each_take_a_share_of_the_run() -> None:
    """Account and Lead under way together for 10 s, then the Lead alone for 5 s: the Account took 5 s of the run,
    the Lead 10 s (what the next run counts them at), and with those as the prior the two together are 15 s."""
    eta = Eta({"Account": 1000, "Lead": 2000})
    feed(eta, reading("Account", 0.0), reading("Lead", 0.0, 2))
    steady(eta, "Account", 0.0, 100, 10, 1000, finish=True)
    feed(eta, batch("Lead", 10.0, 1000, 2000), batch("Lead", 15.0, 2000, 2000), finished("Lead", 15.0, 2000))
    assert {name: (figures["records"], figures["seconds"]) for name, figures in eta.measured().items()} == \
        {"Account": (1000, 5.0), "Lead": (2000, 10.0)}
    assert eta.measured()["Lead"]["marks"] == [[1000, 5.0], [2000, 10.0]]     # its share as each batch was journaled
    again = Eta({"Account": 1000, "Lead": 2000})
    again.use_prior(eta.measured())
    feed(again, reading("Account", 0.0), reading("Lead", 0.0, 2))
    assert again.remaining().total == pytest.approx(15.0)


def test_a_prior_kept_by_another_version_is_left_out() -> None:
    eta = Eta({"Account": 1000})
    eta.use_prior({"Account": {"rate": 3}, "Contact": "fast"})
    feed(eta, reading("Account", 0.0), started("Account", 0.5, 1000))
    assert eta.remaining().total is None


def test_a_completed_sync_keeps_what_each_object_took_for_the_next_sync_of_its_template(make_pair: Any) -> None:
    """A real sync on the sandbox: the journal keeps each object's records and share of the run under the
    template's name and the target org, and a new job of the same template to the same target reads it back; a
    job of another template does not."""
    from isyncsf_desktop.engine.progress import times_before

    pair = make_pair()
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"A{i}"} for i in range(30)])
    pair.insert("src", "Lead", [{"LastName": f"L{i}", "Company": f"Co{i}", "Email": f"l{i}@x.test"} for i in range(20)])
    template = {"name": "eta prior", "options": {"continue_on_error": True, "batch_size": 10},
                "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"], "match_by": ["External_Id__c"]},
                            {"object": "Lead", "fields": ["LastName", "Company", "Email"], "match_by": ["Email"]}]}
    engine = pair.engine()
    first = engine.create_job(template)
    assert times_before(pair.journal, first) == {}
    assert engine.sync(first).state == "Synced"
    later = engine.create_job(template)
    kept = times_before(pair.journal, later)
    assert {name: figures["records"] for name, figures in kept.items()} == {"Account": 30, "Lead": 20}
    assert all(figures["seconds"] > 0 for figures in kept.values())
    assert times_before(pair.journal, engine.create_job({**template, "name": "another"})) == {}


# ---------------------------------------------------------------------- a first sync: the plan's shape
HIERARCHY = ObjectShape(hierarchy=True, bulk_from=100, job_rows=1000, at_once=2, second_pass=False)
CONTACTS = ObjectShape(hierarchy=False, bulk_from=100, job_rows=2000, at_once=2, second_pass=False,
                       after=("Account",))


def first_level(eta: Eta, contacts: ObjectShape = CONTACTS, parallel: int = 1, planned: bool = True) -> Eta:
    """A first sync (no prior) of 3,000 Accounts, a hierarchy, and 4,000 Contacts: the Accounts read whole for 30 s,
    then their first level's two Bulk jobs of 500 rows, out at once from 30 s: each first seen at 35 s with 100
    rows, ended at 39 and 40 s (800 rows in 9 s of looks: 11.25 ms a row per job, so 3.875 s before a job's first
    row), their results journaled at 42 s (2 s for 1,000 rows once no job was out: 2 ms a row), and nothing new
    until 52 s (``planned``: the run's RunPlanned first, else the caller fed it)."""
    if planned:
        eta.observe(RunPlanned(job_id=1, elapsed=0.0, objects={"Account": HIERARCHY, "Contact": contacts},
                               parallel_objects=parallel))
    feed(eta, reading("Account", 0.0), started("Account", 30.0, 3000),
         look("Account", 35.0, 100, "750A"), look("Account", 35.0, 100, "750B"),
         look("Account", 39.0, 500, "750A", ended=True), look("Account", 40.0, 500, "750B", ended=True),
         batch("Account", 42.0, 1000, 3000), batch("Account", 52.0, 1000, 3000))
    return eta


def test_a_first_sync_counts_an_object_not_reached_by_the_kinds_of_work_it_measured() -> None:
    """The Contacts: two jobs of 2,000 rows out at once, one round: 3.875 s before their first rows, 4,000 rows at
    11.25 ms a row per job with two jobs at once (22.5 s), their results at 2 ms a row (8 s): 34.375 s. Not the
    run's rate (about 50 records a second over the Accounts' reading and level: 80 s and more), nor the
    Accounts' reading (a hierarchy's, read whole: the Contacts are read page by page as their parts go)."""
    left = first_level(Eta({"Account": 3000, "Contact": 4000})).remaining()
    assert left.objects["Contact"] == pytest.approx(3.875 + 22.5 + 8.0)
    assert left.total == pytest.approx(left.objects["Account"] + left.objects["Contact"], rel=0.01)


def test_a_flat_object_is_counted_at_what_a_flat_object_measured_not_the_hierarchys() -> None:
    """Leads beside the Accounts, flat as the Contacts: read in 2 s (1 ms a record), their one Bulk job of 2,000 rows
    first seen ended 10 s after their write began (5 ms a row, the time before its first row counted in: looks at
    a long job grow sparse), its results in 1 s (0.5 ms a row). The Contacts, flat: 4 s of reading, 4,000 rows at
    5 ms a row per job with two jobs at once (10 s), 2 s of results: 16 s, not the Accounts' figures."""
    leads = ObjectShape(hierarchy=False, bulk_from=100, job_rows=2000, at_once=2, second_pass=False)
    eta = Eta({"Account": 3000, "Contact": 4000, "Lead": 2000})
    feed(eta, RunPlanned(job_id=1, elapsed=0.0, objects={"Account": HIERARCHY, "Contact": CONTACTS, "Lead": leads},
                         parallel_objects=2),
         reading("Account", 0.0), reading("Lead", 0.0, index=3), started("Lead", 2.0, 2000, index=3),
         look("Lead", 12.0, 2000, "750L", ended=True), batch("Lead", 13.0, 2000, 2000), finished("Lead", 13.0, 2000))
    first_level(eta, planned=False)
    assert eta.remaining().objects["Contact"] == pytest.approx(4.0 + 10.0 + 2.0)


def test_an_object_waits_for_those_it_follows_even_with_objects_at_once() -> None:
    """Two objects at once: the Contacts follow the Accounts (their lookup), so the run's time left is both
    added up; an object that follows nothing goes beside the Accounts: the longer of the two."""
    eta = first_level(Eta({"Account": 3000, "Contact": 4000}), parallel=2)
    left = eta.remaining()
    assert left.total == pytest.approx(left.objects["Account"] + left.objects["Contact"], rel=0.01)
    unrelated = ObjectShape(hierarchy=False, bulk_from=100, job_rows=2000, at_once=2, second_pass=False)
    beside = first_level(Eta({"Account": 3000, "Contact": 4000}), unrelated, parallel=2).remaining()
    assert beside.objects["Contact"] == pytest.approx(34.375)
    assert beside.total == pytest.approx(max(beside.objects["Account"], 34.375), rel=0.01)


def test_an_object_written_through_collections_is_counted_at_the_runs_rate() -> None:
    """40 Contacts, below their Bulk threshold: no Bulk job's figures apply to their Collections batches."""
    eta = first_level(Eta({"Account": 3000, "Contact": 40}))
    rate = eta.run_rate()
    assert rate is not None and eta.remaining().objects["Contact"] == pytest.approx(40 / rate)


def test_the_prior_of_an_earlier_sync_still_wins_over_the_plans_shape() -> None:
    """With the template's last sync to the target measured (its Contacts: 200 s of that run for 4,000), the
    Contacts are counted at that, as before: the shape is for a first sync."""
    eta = Eta({"Account": 3000, "Contact": 4000})
    eta.use_prior({"Account": {"records": 3000, "seconds": 100.0}, "Contact": {"records": 4000, "seconds": 200.0}})
    assert first_level(eta).remaining().objects["Contact"] == pytest.approx(200.0)


def test_a_first_sync_says_nothing_until_enough_is_measured() -> None:
    """The plan's shape is no measurement: while the Accounts are read (no record done), no figure."""
    eta = feed(Eta({"Account": 3000, "Contact": 4000}),
               RunPlanned(job_id=1, elapsed=0.0, objects={"Account": HIERARCHY, "Contact": CONTACTS},
                          parallel_objects=1),
               reading("Account", 0.0), started("Account", 30.0, 3000))
    assert eta.remaining().total is None
