"""Objects in parallel: with the template's ``parallel_objects`` N, objects with no lookup path between them are
written at the same time (up to N), parents still before their children, a set order still kept between related
objects; the run ends as a one-at-a-time run does (the same records on the target, an abort or a stop at the
first error journaled exactly, resumable and roll-backable).

Overlap is shown by the order of the engine's own events, made deterministic by holding one object's first
journaled batch until the other object has started (an Event, never a sleep): a run one object at a time never
starts the other meanwhile, so the hold runs out and the test fails."""

from __future__ import annotations

import threading
from typing import Any

import pytest
import related_data as data

from isyncsf_desktop.engine.events import BatchDone, CancelToken, Event, ObjectFinished, ObjectStarted
from isyncsf_desktop.engine.lifecycle import RunStatus
from isyncsf_desktop.engine.plan import build_plan
from isyncsf_desktop.engine.run.context import STOPPED
from isyncsf_desktop.engine.run.first_pass import must_follow
from isyncsf_desktop.engine.template import TemplateError, parse_template

ACCOUNTS, CONTACTS, LEADS = 60, 90, 80
HOLD_S = 60     # the longest a held batch waits for the other object (reached at once when objects overlap)


def template(parallel: int, **options: Any) -> dict[str, Any]:
    return {"name": "parallel", "options": {"continue_on_error": True, "batch_size": 20, "in_flight": 1,
                                            "parallel_objects": parallel, **options},
            "objects": [{"object": "Account", "fields": ["Name", "External_Id__c", "ParentId"],
                         "match_by": ["External_Id__c"]},
                        {"object": "Contact", "fields": ["LastName", "Email", "AccountId"], "match_by": ["Email"]},
                        {"object": "Lead", "fields": ["LastName", "Company", "Email"], "match_by": ["Email"]}]}


def seed(pair: Any) -> None:
    """Accounts in a two-level hierarchy, Contacts under them, and Leads (no lookup to either)."""
    roots = pair.insert("src", "Account", [{"Name": f"R{i}", "External_Id__c": f"R{i}"} for i in range(10)])
    kids = pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"A{i}", "ParentId": roots[i % 10]}
                                          for i in range(ACCOUNTS - 10)])
    accounts = roots + kids
    pair.insert("src", "Contact", [{"LastName": f"C{i}", "Email": f"c{i}@x.test", "AccountId": accounts[i % ACCOUNTS]}
                                   for i in range(CONTACTS)])
    pair.insert("src", "Lead", [{"LastName": f"L{i}", "Company": f"Co{i}", "Email": f"l{i}@x.test"}
                                for i in range(LEADS)])


def target_state(pair: Any) -> dict[str, Any]:
    """What the target holds, by the source's keys: each Account's parent, each Contact's Account, the Leads."""
    accounts = {r["Id"]: r for r in pair.rows("tgt", "SELECT Id, External_Id__c, ParentId FROM Account")}
    key = {i: r["External_Id__c"] for i, r in accounts.items()}
    return {"Account": sorted((r["External_Id__c"], key.get(r["ParentId"])) for r in accounts.values()),
            "Contact": sorted((r["Email"], key.get(r["AccountId"])) for r in
                              pair.rows("tgt", "SELECT Email, AccountId FROM Contact")),
            "Lead": sorted((r["Email"], r["Company"]) for r in pair.rows("tgt", "SELECT Email, Company FROM Lead"))}


class HoldUntilStarted:
    """Observer: the first journaled batch of ``held`` waits (at most HOLD_S) until ``other`` has started."""

    def __init__(self, held: str, other: str):
        self.held, self.other = held, other
        self.started = threading.Event()
        self.passed = threading.Event()       # the held batch has been let go
        self.waited: bool | None = None

    def __call__(self, event: Event) -> None:
        if isinstance(event, ObjectStarted) and event.object == self.other:
            self.started.set()
        if isinstance(event, BatchDone) and event.object == self.held and self.waited is None:
            self.waited = self.started.wait(HOLD_S)
            self.passed.set()


def sequence(events: list[Event]) -> list[tuple[str, str]]:
    return [(type(e).__name__, e.object) for e in events if isinstance(e, (ObjectStarted, ObjectFinished))]


def test_independent_objects_overlap_and_parents_stay_first(make_pair: Any) -> None:
    one = make_pair()
    seed(one)
    engine = one.engine()
    alone = engine.sync(engine.create_job(template(1)))
    assert alone.state == "Synced" and alone.totals.errors == 0
    steps = sequence(one.events)
    assert steps.index(("ObjectStarted", "Lead")) > steps.index(("ObjectFinished", "Contact"))   # one at a time

    two = make_pair()
    seed(two)
    hold = HoldUntilStarted("Account", "Lead")
    engine = two.engine(observer=hold)
    result = engine.sync(engine.create_job(template(2)))
    assert result.state == "Synced" and result.totals.errors == 0
    assert hold.waited is True                   # Lead started while Account's first batch was held
    steps = sequence(two.events)
    assert steps.index(("ObjectStarted", "Lead")) < steps.index(("ObjectFinished", "Account"))
    assert steps.index(("ObjectStarted", "Contact")) > steps.index(("ObjectFinished", "Account"))  # parent first
    # the same records, the same lookups, the same counts as one object at a time
    assert target_state(two) == target_state(one)
    assert {n: (c.inserted, c.errors) for n, c in result.objects.items()} == \
        {n: (c.inserted, c.errors) for n, c in alone.objects.items()}
    assert result.totals.inserted == ACCOUNTS + CONTACTS + LEADS


def test_an_abort_while_two_objects_run_ends_exactly(make_pair: Any) -> None:
    """Abort while Account and Lead are both under way: each stream stops at its next batch boundary, every
    record on the target is journaled, a resync completes the job without a duplicate, a rollback empties it."""
    pair = make_pair()
    seed(pair)
    token = CancelToken()
    hold = HoldUntilStarted("Account", "Lead")

    def observer(event: Event) -> None:
        hold(event)
        if isinstance(event, BatchDone) and event.object == "Lead" and event.counts.processed >= 20:
            hold.passed.wait(HOLD_S)     # both under way: Account's first batch is journaled (however threads ran)
            token.cancel("aborted by the user")

    engine = pair.engine(observer=observer, cancel=token)
    job_id = engine.create_job(template(2))
    result = engine.sync(job_id)
    assert result.state == "Aborted" and result.message == "aborted by the user"
    assert hold.waited is True
    assert 0 < result.objects["Lead"].processed < LEADS
    for name in ("Account", "Lead"):
        on_target = {r["Id"] for r in pair.rows("tgt", f"SELECT Id FROM {name}")}
        journaled = {r.target_id for r in pair.journal.records(job_id, statuses=["inserted"]) if r.object == name}
        assert on_target == journaled and on_target
    engine.cancel = CancelToken()
    resumed = engine.resync(job_id)
    assert resumed.state == "Synced", resumed.message
    state = target_state(pair)
    assert [len(state[n]) for n in ("Account", "Contact", "Lead")] == [ACCOUNTS, CONTACTS, LEADS]
    assert len({email for email, _ in state["Lead"]}) == LEADS and all(a for _, a in state["Contact"])
    rolled = engine.rollback(job_id)
    assert rolled.state == "Rollback Completed", rolled.message
    assert all(not pair.rows("tgt", f"SELECT Id FROM {n}") for n in ("Account", "Contact", "Lead"))


def test_a_stop_in_one_stream_stops_the_other_and_is_the_runs_message(pair: Any) -> None:
    """Continue on error off: a Lead the target refuses stops the run; Account, under way beside it (its first
    batch held until then), stops at its next batch boundary, and the run says why it stopped (the failed
    record), not that a stream was halted. What Account wrote is journaled."""
    seed(pair)
    pair.target.sf.toolingexecute("sobjects/ValidationRule", method="POST", data={
        "FullName": "Lead.No_L3", "Metadata": {"active": True, "errorConditionFormula": "LastName = 'L3'",
                                               "errorMessage": "no L3"}})
    halted: list[bool] = []
    reached: list[bool] = []
    engines: list[Any] = []
    account_journaled = threading.Event()

    def observer(event: Event) -> None:
        if isinstance(event, BatchDone) and event.object == "Lead" and event.counts.errors and not reached:
            # Lead stops the run once this returns: Account's first batch is journaled first, however threads ran
            reached.append(account_journaled.wait(HOLD_S))
        if isinstance(event, BatchDone) and event.object == "Account" and not halted:
            account_journaled.set()
            halted.append(engines[0].ctx.wait_halted(HOLD_S))

    engine = pair.engine(observer=observer)
    engines.append(engine)
    job_id = engine.create_job(template(2, continue_on_error=False))
    result = engine.sync(job_id)
    assert result.state == "Aborted" and result.message == STOPPED
    assert halted == [True] and reached == [True]
    assert result.objects["Lead"].errors == 1
    assert result.objects["Account"].processed == 10      # its first batch (the roots), then it stopped
    on_target = {r["Id"] for r in pair.rows("tgt", "SELECT Id FROM Account")}
    assert len(on_target) == 10 and on_target == {r.target_id for r in pair.journal.records(
        job_id, statuses=["inserted"]) if r.object == "Account"}
    assert "Contact" not in result.objects


def test_must_follow_keeps_parents_and_a_set_order_between_related_objects(pair: Any) -> None:
    planned = build_plan(parse_template(template(2)), pair.source, pair.target)
    assert must_follow(planned) == {"Account": set(), "Contact": {"Account"}, "Lead": set()}
    # a set order: Contact, Lead, Account. Contact's AccountId now points forward (deferred to the second pass),
    # yet Account still follows Contact (related, earlier); Lead, related to neither, may overlap both
    ordered = {**template(2), "order": ["Contact", "Lead", "Account"]}
    planned = build_plan(parse_template(ordered), pair.source, pair.target)
    assert planned.manual_order and planned.order == ["Contact", "Lead", "Account"]
    assert must_follow(planned) == {"Contact": set(), "Lead": set(), "Account": {"Contact"}}


def test_parallel_objects_is_checked() -> None:
    assert parse_template({"name": "t", "objects": [{"object": "Account"}]}).parallel_objects == 2
    for bad in (0, 5, "2", True, 1.5):
        with pytest.raises(TemplateError, match="parallel_objects must be a whole number from 1 to 4"):
            parse_template({"name": "t", "options": {"parallel_objects": bad}, "objects": [{"object": "Account"}]})


@pytest.mark.expect_log
def test_a_pause_at_the_api_ceiling_while_two_objects_run_resumes_exactly(pair: Any) -> None:
    """The API ceiling applies to the run as a whole: reached while Account and Lead are written, both stop at a
    batch boundary, the run pauses, and a resync the next day ends with every record once and every link right."""
    data.seed(pair.source, pair.target, 30, leads=40)
    used = pair.server.store("tgt").api_used
    pair.server.faults("tgt").update(api_budget=used + 24)     # 90% of that is reached mid-run
    engine = pair.engine()
    job_id = engine.create_job(data.template(batch_size=10, leads=True, parallel_objects=2))
    paused = engine.sync(job_id)
    assert paused.status == RunStatus.PAUSED and paused.state == "Aborted", paused.message
    assert "API requests" in paused.message
    assert {"Account", "Lead"} <= set(paused.objects)            # both were under way
    pair.server.faults("tgt").update(api_budget=None)           # a new day
    resumed = pair.engine().resync(job_id)
    assert resumed.state == "Synced", resumed.message
    assert data.synced_problems(pair.source, pair.target) == {"missing": 0, "duplicated": 0, "fields": 0, "links": 0}
