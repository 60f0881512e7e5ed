"""One sync, resync or retry run: what lives only while it runs, shared by its first and second pass.

The id map, the user and record-type maps, the records that failed (so their children say why), the
records that reached the target (the second pass sets their deferred lookups), the per-object counts;
and the steps both passes take: map one lookup value to the target, journal a batch's outcomes.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from collections.abc import MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from .. import heap
from ..events import Notice, RecordFailed
from ..journal import ErrorInfo, ObjectCounts, Outcome
from ..lifecycle import ObjectStatus, RecordStatus
from ..plan import ObjectPlan, Plan, RefSpec
from ..template import Template
from ..users import OwnerMap, OwnerProblem
from .context import OWNER_NOT_MAPPED, PARENT_FAILED, PARENT_NOT_SYNCED, RECORD_TYPE_NOT_FOUND, STOPPED, RunContext, Stop
from .idmap import IdMap
from .parents import ParentFinder, is_polymorphic


@dataclass(slots=True)
class Pending:
    """A source record on its way to the target (slots: a part holds one per record, 160,000 at a time)."""

    source: dict[str, Any]
    target_id: str | None = None
    payload: dict[str, Any] = field(default_factory=dict)
    prior: dict[str, Any] | None = None


class Verdict(StrEnum):
    """What the run does with one source record (:meth:`~.first_pass.FirstPass.decide`)."""

    IN_FLIGHT = "in_flight"      # created by this job in a batch whose answer was lost: found on the target
    INSERT = "insert"
    UPDATE = "update"
    UNCHANGED = "unchanged"      # matched, and every field it writes already holds the value
    INSERT_OFF = "insert_off"    # not on the target, and inserting is switched off for its object
    UPDATE_OFF = "update_off"    # matched and different, and updating is switched off for its object
    FAIL = "fail"                # it cannot be sent (``error``): a missing parent, a duplicate match...
    HELD = "held"                # not written, by the run's choice (``error`` says why): an apply's gate (apply.py)
    OUTSIDE = "outside"          # not one of the records chosen for the run (a preview of some records, its apply):
                                 # read and matched for its children's lookups only; not written, journaled or counted


@dataclass
class Decision:
    """The decision on one source record, taken before anything is written: the step a sync and a preview
    both run, so a preview says what the sync does. ``pending`` carries the record, its target id and
    the payload; ``changed`` (a matched record) the fields whose target value differs (field -> new
    value), and ``pending.prior`` their target values now."""

    verdict: Verdict
    pending: Pending
    changed: dict[str, Any] = field(default_factory=dict)
    error: ErrorInfo | None = None
    root: str | None = None
    matched: bool = False
    """A record that fails though matched to its target record (an update the target would refuse): the
    id map keeps the match, so its children still find their parent on the target."""


class _Omit:
    def __repr__(self) -> str:
        return "<omit>"


OMIT: Any = _Omit()
"""A lookup value that is left out of the payload (the field is not sent)."""


class RecordProblem(Exception):
    """One record cannot be sent (``error``); ``root`` is the first failure up its parent chain."""

    def __init__(self, error: ErrorInfo, root: str | None = None):
        super().__init__(error.message)
        self.error = error
        self.root = root


def second_pass_refs(oplan: ObjectPlan) -> list[RefSpec]:
    """The lookups of ``oplan`` the second pass may set: those the plan defers, and self-lookups."""
    return [ref for ref in oplan.refs.values() if ref.deferred or ref.self_ref]


class SyncRun:
    """The state of one sync/resync/retry run of ``job_id`` (run ``run_id``).

    With the template's ``parallel_objects`` above 1 several objects' first passes run at once, each on its own
    thread (:meth:`~.first_pass.FirstPass.execute`), so what is shared between objects is written one key at a
    time (the id map, the failed and left-out records, an object's own counts and lists) or under a lock
    (the notices); one object's state is only ever written by its own stream."""

    PARALLEL = True
    """Whether the first pass may run several objects at once (a preview or an apply keeps the current
    object's rows: one object at a time)."""

    def __init__(self, ctx: RunContext, job_id: int, run_id: int, plan: Plan, template: Template, *,
                 skip: set[str] | None, only: set[str] | None):
        self.ctx = ctx
        self.journal = ctx.journal
        self.source = ctx.source
        self.target = ctx.target
        self.job_id = job_id
        self.run_id = run_id
        self.plan = plan
        self.template = template
        self.skip = skip or set()
        self.only = only
        self.batch = template.batch_size
        # Write batches out at once: one at a time when the run must stop at the first failed record.
        self.depth = template.in_flight if template.continue_on_error else 1
        self.counts: dict[str, ObjectCounts] = {}
        self.id_map: MutableMapping[str, str] = IdMap()   # compact when large (idmap.py)
        self.failed: dict[str, str] = {}          # source id -> why it failed (for its children's errors)
        self.not_inserted: set[str] = set()       # source ids skipped because insert is off
        self.user_map: dict[str, str] = {}       # source user id -> target user id (match keys)
        self.owners = OwnerMap()                  # source user or queue id -> its target owner
        self.rt_map: dict[str, str | None] = {}
        self.rt_names: dict[str, str] = {}
        self.rt_problems: dict[str, str] = {}    # source record type id -> why its records fail
        # object -> the records that reached the target and have a lookup the second pass sets (see reached)
        self.synced: dict[str, list[Pending]] = defaultdict(list)
        self.live_targets: dict[str, dict[str, dict[str, Any]]] = {}  # object -> target id -> row (see done_with)
        self.person_rows: dict[str, list[dict[str, Any]]] = defaultdict(list)  # object -> person accounts reached
        self.external_ok: dict[str, set[str]] = {}
        self.notices: set[str] = set()
        self._notices_lock = threading.Lock()
        self.carried: set[str] = set()            # source ids done in an earlier run: second pass only
        self.parents = ParentFinder(ctx.source, ctx.target, plan)   # polymorphic lookups' parents outside the run
        self.person_contacts: dict[str, str] = {}  # source person contact id -> target person contact id
        self.read_stamps = False                   # read SystemModstamp on both orgs (a preview keeps it)
        # object -> the most of its source records the first pass held at once: all of them, or one part of an
        # object read in pages (first_pass.SourceStream)
        self.held: dict[str, int] = {}
        self._second_refs: dict[str, tuple[ObjectPlan, list[RefSpec]]] = {}   # see reached

    def reached(self, name: str, oplan: ObjectPlan, item: Pending) -> None:
        """``item`` reached the target in the first pass (inserted, updated, found or unchanged), or an earlier
        run of the job carried it. The second pass needs it only when it has a lookup to set then: a deferred
        one, or a self-lookup that a data cycle or an earlier run left empty. Only then is it kept, and only its
        id and those lookups' source values, not the whole record: at a million records the run holds no more
        than it must. A person account keeps its id and person contact (the map of person contacts)."""
        record = item.source
        if oplan.person_accounts and record.get("IsPersonAccount"):
            self.person_rows[name].append({"Id": record["Id"], "PersonContactId": record.get("PersonContactId")})
        cached = self._second_refs.get(name)
        if cached is None or cached[0] is not oplan:     # once per object, not once per record
            cached = self._second_refs[name] = (oplan, second_pass_refs(oplan))
        refs = cached[1]
        if not refs:
            return
        if not any(ref.deferred for ref in refs) and not record.get("__cycle__") and record["Id"] not in self.carried:
            return
        kept = {"Id": record["Id"], **{ref.field: record.get(ref.field) for ref in refs}}
        if record.get("__cycle__"):
            kept["__cycle__"] = True
        self.synced[name].append(Pending(kept, item.target_id))

    def done_with(self, name: str, oplan: ObjectPlan) -> None:
        """The first pass is done with ``name``: of the target rows it read and wrote, only what the second pass
        compares is kept (the lookups it sets, of the records it sets them on); a preview keeps their names too."""
        rows = self.live_targets.get(name)
        if rows is None:
            return
        fields = [ref.field for ref in second_pass_refs(oplan)]
        wanted = {p.target_id for p in self.synced.get(name, [])} if fields else set()
        self.live_targets[name] = {i: {"Id": i, **{f: rows[i].get(f) for f in fields if f in rows[i]}}
                                   for i in wanted if i is not None and i in rows}

    def decided(self, name: str, oplan: ObjectPlan, decision: Decision) -> Decision | None:
        """The first pass decided on a record of ``name`` (nothing sent yet). A sync journals the outcome
        when it has one; a preview (:mod:`.preview`) keeps the decision as its row; an apply (:mod:`.apply`)
        returns the decision to use instead (one the preview showed, or :attr:`Verdict.HELD`). None: as is."""
        return None

    def deferred(self, name: str, updates: list[Pending]) -> list[Pending] | None:
        """The second pass is about to set ``updates``' deferred lookups (``payload``: the fields that change,
        ``prior``: their target values now). A preview adds them to its rows; an apply returns those it lets
        through. None: all of them."""
        return None

    def summary(self) -> str | None:
        """The run's own summary for the job (an apply's, :mod:`.apply`); None: the sync's."""
        return None

    def notice(self, text: str) -> None:
        """Tell the user ``text`` once per run."""
        with self._notices_lock:
            if text in self.notices:
                return
            self.notices.add(text)
        self.ctx.emit(Notice, text=text)

    def resolve(self, oplan: ObjectPlan, ref: RefSpec, record: dict[str, Any], value: str) -> Any:
        """The target value of lookup ``ref`` (source value ``value``), or :data:`OMIT`; raises
        :class:`RecordProblem` when the record cannot be sent because of it."""
        if ref.kind == "user":
            try:
                mapped = self.owners.target_for(value, oplan.object, ref.field,
                                                takes_queues=ref.field == "OwnerId" or "Group" in ref.parents)
            except OwnerProblem as problem:
                raise RecordProblem(ErrorInfo(OWNER_NOT_MAPPED, str(problem), [ref.field])) from None
            return mapped if mapped else OMIT
        if ref.kind == "recordtype":
            if value not in self.rt_map:
                return OMIT
            rt = self.rt_map[value]
            if rt is None:
                raise RecordProblem(ErrorInfo(RECORD_TYPE_NOT_FOUND, self.rt_problems.get(value) or (
                    f"record type {self.rt_names.get(value)} does not exist in the target org"), [ref.field]))
            return rt
        if value in self.person_contacts:    # a person contact: the one the target made for its account
            return self.person_contacts[value]
        if ref.kind == "external" and not is_polymorphic(ref):
            return value if value in self.external_ok.get(ref.field, set()) else OMIT
        target_id = self.id_map.get(value) or self.parents.found.get(value)
        if target_id:
            return target_id
        if value in self.external_ok.get(ref.field, set()):
            return value  # polymorphic lookup to a record outside the template that the target has
        label = f"{self.parents.object_of(ref, value)} {value} ({ref.field})"
        if ref.field in oplan.exclude_parents and value not in self.failed and value not in self.not_inserted:
            self.notice(f"{oplan.object}.{ref.field} is excluded from parent discovery: it is left empty where "
                        "its parent is not in the run")
            return OMIT
        if value in self.failed:
            root = self.failed[value]   # the first failure up the chain, not a chain of "parent failed"
            raise RecordProblem(ErrorInfo(PARENT_FAILED, f"parent {label} failed: {root}", [ref.field]), root)
        if value in self.not_inserted:
            raise RecordProblem(ErrorInfo(PARENT_NOT_SYNCED, f"parent {label} is not in the target org and "
                                          "inserting new records is off for it", [ref.field]))
        if value in self.parents.missing:
            raise RecordProblem(ErrorInfo(PARENT_NOT_SYNCED, f"parent {label} {self.parents.missing[value]}",
                                          [ref.field]))
        raise RecordProblem(ErrorInfo(PARENT_NOT_SYNCED, f"parent {label} was not synced (it is outside the "
                                      "template's filter or failed in an earlier run)", [ref.field]))

    def find_parents(self, ref: RefSpec, records: list[dict[str, Any]], done: set[str]) -> None:
        """Look up on the target the parents of polymorphic lookup ``ref`` that the run does not write: those
        of ``records`` not mapped, failed, left out or on the target under the same id, whose object is
        outside the run or ``done`` already (its line read and wrote what it would)."""
        if not is_polymorphic(ref):
            return
        external = self.external_ok.get(ref.field, set())
        values = {r[ref.field] for r in records if r.get(ref.field)}
        skip = {v for v in values if v in self.id_map or v in external or v in self.failed or v in self.not_inserted
                or (self.parents.object_of(ref, v) in self.plan.objects and self.parents.object_of(ref, v) not in done)}
        self.parents.look_up(ref, values, skip)

    def fail(self, name: str, source_id: str | None, target_id: str | None, error: ErrorInfo,
             phase: str = "sync", root: str | None = None) -> Outcome:
        """Count a failed record of ``name``, tell the observer, and return its outcome to journal."""
        oc = self.counts[name]
        oc.errors += 1
        oc.processed += 1
        if source_id:
            self.failed[source_id] = root or f"{error.status_code}: {error.message}"
        self.ctx.emit(RecordFailed, object=name, source_id=source_id, target_id=target_id,
                      status_code=error.status_code, message=error.message, fields=tuple(error.fields))
        return Outcome(name, source_id, target_id, RecordStatus.FAILED, error, phase)

    def flush(self, name: str, outcomes: list[Outcome]) -> None:
        """Journal the outcomes, tell the observer, then honour abort and stop-at-first-error."""
        oc = self.counts[name]
        with self.journal.transaction():   # the batch's outcomes and its counts: one commit
            if outcomes:
                self.journal.record_outcomes(self.job_id, self.run_id, outcomes)
            self.journal.set_object_counts(self.run_id, name, oc)
        heap.settle()     # what the run holds now is long-lived: the collector stops walking it
        self.ctx.batch_done(name, oc, self.counts)
        if not self.template.continue_on_error and any(o.status == RecordStatus.FAILED for o in outcomes):
            raise Stop(STOPPED)
        self.ctx.check_cancel()
        self.ctx.api_ceiling_check(self.template)

    def settle_stopped(self) -> None:
        """The run stopped (abort, pause, stop at the first error): an object whose every record was processed
        and journaled before the stop is finished (Completed, or Awaiting second pass when it has deferred
        lookups), never shown as Aborted at 100%."""
        for name, oc in self.counts.items():
            if oc.status == ObjectStatus.EXECUTING and oc.processed >= oc.total:
                oplan = self.plan.objects.get(name)
                oc.status = ObjectStatus.AWAITING_SECOND_PASS if oplan is not None and oplan.deferred_refs \
                    else ObjectStatus.COMPLETED
                self.journal.set_object_counts(self.run_id, name, oc)

    def complete(self) -> None:
        """Both passes are done: every object of the run is Completed."""
        for name in self.plan.order:
            oc = self.counts.get(name)
            if oc is not None:
                oc.status = ObjectStatus.COMPLETED
                self.journal.set_object_counts(self.run_id, name, oc)


__all__ = ["Decision", "OMIT", "Pending", "RecordProblem", "SyncRun", "Verdict", "second_pass_refs"]
