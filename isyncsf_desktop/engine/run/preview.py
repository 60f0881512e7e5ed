"""Preview: what a sync of a template would do between two orgs, record by record, with nothing written.

The preview is the sync's own run (:class:`~.first_pass.FirstPass`, :class:`~.second_pass.SecondPass`)
with its two outlets replaced, so what it says is what the run does:

* the target org is a :class:`DryTarget`: every read goes to the org as the run makes it; a write goes
  nowhere. It is counted as the calls the run will make (Collections requests of 200, Bulk jobs past the
  object's threshold) and answered as a success, a record to insert getting a placeholder id
  (:data:`NEW_ID_PREFIX`) that its children's lookups then carry;
* the journal is a :class:`PreviewJournal`: it reads what a run reads (the id map, the last sync for a
  delta) and, where a run journals its outcomes batch by batch, writes the preview's rows instead
  (the journal's ``preview_rows``): the decision of :meth:`~.first_pass.FirstPass.decide` on each record,
  the fields that change (target value now → value the run writes), the reason a record is not going.

A preview writes to neither org (the source is only read, and the target stand-in has no way to write);
its rows stream to SQLite as the run's outcomes would. Lookups in the rows are shown by the parent's name,
filled in once the run is done (reads counted apart from the run's). The header gives per-object counts
and the API calls the run will cost on each org (the reads the preview made, which the run makes alike,
plus the writes counted as the run sends them, and the looks at its Bulk jobs the client will make), the run's
estimated time and the share of each org's remaining daily API requests it will use (:mod:`..estimate`).
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from .. import estimate, scope
from ..estimate import BulkJob
from ..events import CancelToken, Notice, Observer
from ..journal import ErrorInfo, Journal, ObjectCounts, OrgRef, Outcome, PreviewChange, PreviewRecord
from ..lifecycle import RecordStatus
from ..orgapi import OrgApi
from ..plan import ObjectPlan, Plan, build_plan
from ..template import Template, TemplateError
from ...salesforce.client import BULK_MAX_ROWS, COLLECTION_SIZE, ApiLimitExceeded, SessionExpired
from .context import BULK_BATCH, EngineError, RunContext, Stop, chunks, quote
from .fingerprint import fingerprint
from .first_pass import FirstPass
from .second_pass import SecondPass
from .sync_run import Decision, Pending, SyncRun, Verdict

logger = logging.getLogger(__name__)

NEW_ID_PREFIX = "#new"
"""The start of a placeholder id: a record the run will insert (no org id starts with ``#``)."""
INSERT_OFF = "INSERT_OFF"
UPDATE_OFF = "UPDATE_OFF"
NOT_CHOSEN = "NOT_CHOSEN"
"""Why a record outside a preview of chosen records (``only``) is no parent its children can have: not
written by that preview's apply (read and matched only, :attr:`~.sync_run.Verdict.OUTSIDE`)."""
BULK_CALLS = {"insert": 5, "update": 4}
"""Calls one Bulk API 2.0 ingest job costs at the least: open, upload, close, one status check, and the
results file of an insert (an update that all succeeded needs none). A slow org is checked more often."""

STATUS_OF: dict[Verdict, RecordStatus] = {
    Verdict.INSERT: RecordStatus.INSERTED, Verdict.UPDATE: RecordStatus.UPDATED,
    Verdict.UNCHANGED: RecordStatus.EXISTING, Verdict.UPDATE_OFF: RecordStatus.EXISTING,
    Verdict.INSERT_OFF: RecordStatus.SKIPPED, Verdict.FAIL: RecordStatus.FAILED,
    Verdict.IN_FLIGHT: RecordStatus.INSERTED}
"""The outcome the run journals for each decision."""


_NEW_LITERAL = re.compile(rf"'({re.escape(NEW_ID_PREFIX)}\d{{11}}AAA)'")
_NEW_LITERAL_ITEM = re.compile(rf"'{re.escape(NEW_ID_PREFIX)}\d{{11}}AAA'(\s*,\s*)?")
_EMPTY_IN_TAIL = re.compile(r",\s*\)")
_EMPTY_IN = re.compile(r"\bIN\s*\(\s*\)", re.IGNORECASE)


class PreviewWrite(AttributeError):
    """Something asked the preview's target stand-in to write: a preview never writes."""


def is_new_id(value: Any) -> bool:
    """A placeholder id (a record the run will insert)."""
    return isinstance(value, str) and value.startswith(NEW_ID_PREFIX)


class DryTarget:
    """The target org as a preview sees it: reads go to ``org``; writes are counted, never sent.

    ``writes`` counts the calls the run's writes will cost, the way the client sends them: Collections in
    requests of :data:`~...salesforce.client.COLLECTION_SIZE`, each Bulk job at :data:`BULK_CALLS`.
    ``bulk_jobs`` counts the Bulk jobs; for the time they take (:mod:`..estimate`), ``collections`` is the
    Collections (requests, records) and ``jobs`` each Bulk job's object, operation and rows."""

    def __init__(self, org: OrgApi):
        self.org = org
        self.alias = org.alias
        self.org_id = org.org_id
        self.writes = 0
        self.bulk_jobs = 0
        self.collections = [0, 0]
        self.jobs: list[BulkJob] = []
        self.unsent_reads = 0
        self.person_contacts: dict[str, str] = {}     # new person account -> its new person contact
        self._made = 0
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ reads: the org's
    @property
    def api_calls(self) -> int:
        return self.org.api_calls

    @property
    def api_usage(self) -> tuple[int, int] | None:
        return self.org.api_usage

    def describe(self, object_name: str) -> dict[str, Any]:
        return self.org.describe(object_name)

    def describe_global(self) -> dict[str, Any]:
        return self.org.describe_global()   # type: ignore[attr-defined,no-any-return]

    def object_names(self) -> set[str]:
        return self.org.object_names()

    def count(self, object_name: str, where: str | None = None) -> int:
        return self.org.count(object_name, where)

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """The org's answer; a query naming records the run inserts (placeholder ids) asks the org about the
        others only (one call, as the run makes it) and answers for the placeholders itself: a new person
        account has its new person contact."""
        made = _NEW_LITERAL.findall(soql)
        if not made:
            return self.org.query(soql, include_deleted=include_deleted)
        rest = _EMPTY_IN_TAIL.sub(")", _NEW_LITERAL_ITEM.sub("", soql))
        if _EMPTY_IN.search(rest):
            with self._lock:
                self.unsent_reads += 1      # the run sends it (with real ids): counted, not sent
            rows: list[dict[str, Any]] = []
        else:
            rows = self.org.query(rest, include_deleted=include_deleted)
        if re.search(r"\bPersonContactId\b.*\bFROM\s+Account\b", soql, re.IGNORECASE | re.DOTALL):
            rows += [{"Id": ph, "PersonContactId": self.person_contact(ph)} for ph in made]
        return rows

    def person_contact(self, account_id: str) -> str:
        """The placeholder id of the person contact a new person account gets."""
        with self._lock:
            if account_id not in self.person_contacts:
                self._made += 1
                self.person_contacts[account_id] = f"{NEW_ID_PREFIX}{self._made:011d}AAA"
            return self.person_contacts[account_id]

    def query_large(self, soql: str, **kwargs: Any) -> list[dict[str, Any]]:
        return self.org.query_large(soql, **kwargs)

    def query_pages(self, soql: str, **kwargs: Any) -> tuple[int, Iterator[list[dict[str, Any]]]]:
        return self.org.query_pages(soql, **kwargs)

    def bulk_query(self, soql: str, **kwargs: Any) -> list[dict[str, Any]]:
        return self.org.bulk_query(soql, **kwargs)

    def user_info(self) -> dict[str, Any]:
        return self.org.user_info()

    def organization(self) -> dict[str, Any]:
        return self.org.organization()

    def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        return self.org.tooling_query(soql)

    # ------------------------------------------------------------------ writes: counted, answered, never sent
    def _new_id(self) -> str:
        with self._lock:
            self._made += 1
            return f"{NEW_ID_PREFIX}{self._made:011d}AAA"

    def _collections(self, count: int) -> None:
        with self._lock:
            self.writes += math.ceil(count / COLLECTION_SIZE)
            self.collections[0] += math.ceil(count / COLLECTION_SIZE)
            self.collections[1] += count

    def create(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._collections(len(records))
        return [{"id": self._new_id(), "success": True, "errors": []} for _ in records]

    def update(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self._collections(len(records))
        return [{"id": r.get("Id"), "success": True, "errors": []} for r in records]

    def bulk_ingest(self, object_name: str, operation: str, records: list[dict[str, Any]], *,
                    on_job: Callable[[str], None] | None = None,
                    on_collections: Callable[[list[int]], None] | None = None,
                    on_opening: Callable[[], None] | None = None,
                    on_progress: Callable[[str, int, bool], None] | None = None,
                    resend_bulk_from: int | None = None) -> list[dict[str, Any]]:
        if operation not in BULK_CALLS:
            raise PreviewWrite(f"a preview does not {operation} records")
        jobs = max(1, math.ceil(len(records) / BULK_MAX_ROWS))
        for _ in range(jobs):
            if on_opening is not None:
                on_opening()       # the run asks who its API user is (a read) before its first job
            if on_job is not None:
                on_job("preview")
        with self._lock:
            self.bulk_jobs += jobs
            self.writes += jobs * BULK_CALLS[operation]
            for start in range(0, len(records), BULK_MAX_ROWS):
                self.jobs.append(BulkJob(object_name, operation, min(BULK_MAX_ROWS, len(records) - start)))
        if operation == "insert":
            return [{"id": self._new_id(), "success": True, "errors": []} for _ in records]
        return [{"id": r.get("Id"), "success": True, "errors": []} for r in records]

    def __getattr__(self, name: str) -> Any:
        # delete, tooling_update, settle_bulk_jobs... : no way to reach the org's writes from a preview
        raise PreviewWrite(f"a preview makes no {name} call to the target org")


class PreviewJournal:
    """The journal as a preview's run sees it: the reads a run makes go to ``journal``; where a run writes its
    outcomes, the preview writes its rows (through ``run``); every other run write is kept in memory or
    dropped (nothing of a job is written)."""

    def __init__(self, journal: Journal, preview_id: int):
        self.journal = journal
        self.preview_id = preview_id
        self.run: PreviewRun | None = None
        self.counts: dict[str, ObjectCounts] = {}
        self.masked: dict[str, dict[str, int]] = {}
        self.owners: list[dict[str, Any]] = []

    # reads a run makes
    def id_map(self, source_org_id: str, target_org_id: str, object_name: str | None = None) -> dict[str, str]:
        return self.journal.id_map(source_org_id, target_org_id, object_name)

    def id_map_pages(self, source_org_id: str, target_org_id: str) -> Iterator[list[tuple[str, str]]]:
        return self.journal.id_map_pages(source_org_id, target_org_id)

    def jobs(self, *args: Any, **kwargs: Any) -> Any:          # the last successful sync (a delta)
        return self.journal.jobs(*args, **kwargs)

    def runs(self, job_id: int) -> Any:
        return self.journal.runs(job_id)

    def in_flight(self, job_id: int, object_name: str | None = None) -> dict[str, dict[str, Any]]:
        return {}                 # a preview belongs to no job: nothing of it is in flight

    def in_flight_sent(self, job_id: int, object_name: str | None = None) -> dict[str, dict[str, str]]:
        return {}

    def known_target_ids(self, job_id: int, object_name: str) -> set[str]:
        return set()

    def records(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.journal.transaction():
            yield

    # writes a run makes
    def record_outcomes(self, job_id: int, run_id: int, outcomes: list[Outcome]) -> None:
        written = [o for o in outcomes if o.status != RecordStatus.SENDING]
        if written and self.run is not None:
            self.run.write_rows(written)

    def set_object_counts(self, run_id: int, object_name: str, counts: ObjectCounts) -> None:
        self.counts[object_name] = counts

    def record_masked(self, run_id: int, object_name: str, counts: dict[str, int]) -> None:
        self.masked[object_name] = dict(counts)

    def record_owner_map(self, job_id: int, run_id: int, owners: list[dict[str, Any]]) -> None:
        self.owners = owners

    def save_versions(self, *args: Any, **kwargs: Any) -> None:
        """Nothing is updated, so nothing is saved to restore."""

    def bulk_opening(self, *args: Any, **kwargs: Any) -> int:
        return 0

    def open_bulk_job(self, *args: Any, **kwargs: Any) -> None:
        """No Bulk job is opened."""

    def close_bulk_jobs(self, *args: Any, **kwargs: Any) -> None:
        """No Bulk job is opened."""


def files_note(objects: list[str]) -> str:
    """What a preview says of a template whose lines go "with their files" (engine/run/files.py): the sync copies
    them after their records; the preview lists records only."""
    names = ", ".join(objects[:-1]) + (" and " if len(objects) > 1 else "") + objects[-1]
    return (f"Files, attachments and notes of the {names} records go with them when the sync runs (applying "
            "this preview too, for the records it writes); the preview lists records, not files.")


def record_label(oplan: ObjectPlan, record: dict[str, Any]) -> str:
    """How a record is named in a preview: its name field, else its match key, else its id."""
    if oplan.name_field and record.get(oplan.name_field):
        return str(record[oplan.name_field])
    parts = [record.get(p) for p in oplan.match_by if "." not in p]
    if parts and all(p not in (None, "") for p in parts):
        return " + ".join(str(p) for p in parts)
    return str(record.get("Id"))


class PreviewRun(SyncRun):
    """A sync run whose outcomes become preview rows (:class:`PreviewJournal`, :class:`DryTarget`)."""

    PARALLEL = False    # one object at a time: its rows, the dry target's new ids and the labels are made in order

    def __init__(self, ctx: RunContext, preview_journal: PreviewJournal, plan: Plan, template: Template,
                 only: set[str] | None = None):
        # A preview of chosen records (``only``) still reads and matches every record in scope, as the apply of
        # it will: their parents are found on the target as the run finds them. The others are held (not
        # written, no row: Verdict.OUTSIDE), so the records chosen are previewed as their apply writes them.
        super().__init__(ctx, 0, 0, plan, template, skip=None, only=None)
        self.chosen = only
        self.read_stamps = True     # each row keeps its records' SystemModstamp: an apply finds what moved since
        self.target_names: dict[str, str] = {}     # target id -> its name: the labels of lookups' parents (Labels)
        self.preview_journal = preview_journal
        self.journal = preview_journal   # type: ignore[assignment]
        preview_journal.run = self
        self.depth = 1      # nothing goes out: batches one after another keep the placeholders in order
        self.preview_id = preview_journal.preview_id
        self._rows: dict[tuple[str, str], PreviewRecord] = {}
        self.new_labels: dict[str, str] = {}        # placeholder id -> the label of the record to insert
        self.deferred_updates: dict[str, int] = defaultdict(int)

    def done_with(self, name: str, oplan: ObjectPlan) -> None:
        """Of the target rows read for ``name``, their names are kept (the labels of lookups to them); the rows
        themselves as a sync keeps them (what the second pass compares): the preview holds what the sync does."""
        rows = self.live_targets.get(name) or {}
        if oplan.name_field:
            self.target_names.update({i: str(r[oplan.name_field]) for i, r in rows.items()
                                      if r.get(oplan.name_field) and not is_new_id(i)})
        super().done_with(name, oplan)

    def decided(self, name: str, oplan: ObjectPlan, decision: Decision) -> Decision | None:
        pending = decision.pending
        record = pending.source
        if self.chosen is not None and record["Id"] not in self.chosen:
            matched = pending.target_id is not None and decision.verdict != Verdict.INSERT
            return Decision(Verdict.OUTSIDE, pending, decision.changed, ErrorInfo(
                NOT_CHOSEN, "it is not one of the records chosen for this preview (preview or apply it first)"),
                matched=matched)
        shown = {k: v for k, v in record.items() if k not in oplan.mask}    # a masked field: only as it is sent
        row = PreviewRecord(name, record["Id"], "skip", STATUS_OF[decision.verdict], pending.target_id,
                            record_label(oplan, {**shown, **pending.payload}))
        row.source_stamp = record.get("SystemModstamp")
        if pending.target_id is not None and not is_new_id(pending.target_id):
            row.target_stamp = self.live_targets.get(name, {}).get(pending.target_id, {}).get("SystemModstamp")
        verdict = decision.verdict
        if verdict in (Verdict.INSERT, Verdict.IN_FLIGHT):
            row.action = "insert"
            row.changes = [PreviewChange(f, None, v) for f, v in pending.payload.items()]
        elif verdict == Verdict.UPDATE:
            row.action = "update"
        elif verdict == Verdict.UNCHANGED:
            row.action = "unchanged"
        elif verdict == Verdict.UPDATE_OFF:
            row.reason_code = UPDATE_OFF
            row.reason = (f"updating existing records is off for {name}: {len(decision.changed)} field(s) of the "
                          "target record differ and are left as they are")
        elif verdict == Verdict.INSERT_OFF:
            row.reason_code = INSERT_OFF
            row.reason = f"not in the target org, and inserting new records is off for {name}"
        elif decision.error is not None:
            row.reason_code, row.reason = decision.error.status_code, decision.error.message
        if verdict in (Verdict.UPDATE, Verdict.UPDATE_OFF) or (verdict == Verdict.FAIL and decision.changed):
            prior = pending.prior or {}
            row.changes = [PreviewChange(f, prior.get(f), v) for f, v in decision.changed.items()]
        row.pack()      # held until its batch's outcome: as the journal's JSON, not as objects
        self._rows[(name, record["Id"])] = row
        return None

    def write_rows(self, outcomes: list[Outcome]) -> None:
        """The run journals ``outcomes`` (one batch): their rows go to the journal now."""
        ready: list[PreviewRecord] = []
        later: list[Outcome] = []
        for outcome in outcomes:
            row = self._rows.pop((outcome.object, outcome.source_id or ""), None)
            if row is None:
                later.append(outcome)      # a record already written: its deferred lookup failed
                continue
            row.status = outcome.status
            if outcome.error is not None and outcome.status == RecordStatus.FAILED:
                row.action, row.reason_code, row.reason = "skip", outcome.error.status_code, outcome.error.message
            if is_new_id(outcome.target_id):
                self.new_labels[str(outcome.target_id)] = row.label or row.source_id
                row.new_id = str(outcome.target_id)
            else:
                row.target_id = outcome.target_id or row.target_id
            ready.append(row)
        if ready:
            self.preview_journal.journal.add_preview_rows(self.preview_id, ready)
        by_object: dict[str, list[Outcome]] = defaultdict(list)
        for outcome in later:
            by_object[outcome.object].append(outcome)
        for name, items in by_object.items():
            rows = self.preview_journal.journal.preview_rows_of(self.preview_id, name,
                                                                [o.source_id or "" for o in items])
            for outcome in items:
                row = rows.get(outcome.source_id or "")
                if row is not None and outcome.error is not None:
                    row.status = outcome.status
                    row.action, row.reason_code, row.reason = "skip", outcome.error.status_code, outcome.error.message
            self.preview_journal.journal.update_preview_rows(self.preview_id, rows.values())

    def deferred(self, name: str, updates: list[Pending]) -> None:
        """The second pass sets ``updates``' deferred lookups: added to their rows (an unchanged record whose
        lookup changes is written then, as the run does)."""
        journal = self.preview_journal.journal
        rows = journal.preview_rows_of(self.preview_id, name, [p.source["Id"] for p in updates])
        for item in updates:
            row = rows.get(item.source["Id"])
            if row is None:
                continue
            prior = item.prior or {}
            row.changes = [c for c in row.changes if c.field not in item.payload] + [
                PreviewChange(f, None if row.action == "insert" else prior.get(f), v, deferred=True)
                for f, v in item.payload.items()]
            self.deferred_updates[name] += 1
        journal.update_preview_rows(self.preview_id, rows.values())


@dataclass
class PreviewResult:
    """What a preview found: its id, status, per-object counts, the API calls the run will cost, its estimated
    time (:func:`..estimate.estimate`) and the share of each org's remaining daily API requests it will use
    (:func:`..estimate.api_share`, per side; absent for an org that did not say its usage)."""

    preview_id: int
    status: str
    objects: dict[str, dict[str, int]] = field(default_factory=dict)
    api_calls: dict[str, dict[str, int]] = field(default_factory=dict)
    preview_calls: dict[str, int] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    message: str | None = None
    notices: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    """Objects whose files, attachments and notes the sync copies after them (not listed by the preview)."""
    seconds: float = 0.0
    estimate: dict[str, Any] = field(default_factory=dict)
    api_share: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def totals(self) -> dict[str, int]:
        out: dict[str, int] = defaultdict(int)
        for counts in self.objects.values():
            for key, value in counts.items():
                out[key] += value
        return dict(out)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "preview_id": self.preview_id, "status": self.status, "order": list(self.order),
            "objects": [{"object": name, **counts} for name, counts in self.objects.items()],
            "totals": self.totals, "api_calls": self.api_calls, "preview_calls": self.preview_calls,
            "seconds": self.seconds}
        if self.estimate:
            out["estimate"] = dict(self.estimate)
        if self.api_share:
            out["api_share"] = {side: dict(share) for side, share in self.api_share.items()}
        if self.message:
            out["message"] = self.message
        if self.notices:
            out["notices"] = list(self.notices)
        if self.files:
            out["files"] = list(self.files)
            out["files_note"] = files_note(self.files)
        return out


COUNT_KEYS = ("total", "insert", "update", "unchanged", "skip")


class Labels:
    """Names of the parents lookups point at, for the rows of a finished preview (by target id)."""

    def __init__(self, run: PreviewRun, target: OrgApi, person_contacts: dict[str, str] | None = None):
        self.run = run
        self.target = target
        self.known: dict[str, str] = {}
        # the new person contact of a new person account -> that account
        self.account_of = {contact: account for account, contact in (person_contacts or {}).items()}
        self.known.update(run.target_names)       # target records the run read: their names
        for choice in run.owners.choices.values():
            if choice.target_id and choice.target_name:
                self.known[choice.target_id] = choice.target_name
        self._prefixes: dict[str, str] | None = None

    def _object_of(self, parents: list[str], value: str) -> str | None:
        if len(parents) == 1:
            return parents[0]
        if self._prefixes is None:
            describe_global = getattr(self.target, "describe_global", None)
            sobjects = describe_global().get("sobjects", []) if describe_global is not None else []
            self._prefixes = {str(o["keyPrefix"]): str(o["name"]) for o in sobjects if o.get("keyPrefix")}
        return self._prefixes.get(value[:3])

    def _look_up(self, wanted: dict[str, set[str]]) -> None:
        for name, ids in wanted.items():
            try:
                fields = self.target.describe(name).get("fields", [])
            except Exception:    # noqa: BLE001 - a parent object the user cannot see: its ids stay ids
                continue
            name_field = next((f["name"] for f in fields if f.get("nameField")), None)
            if name_field is None:
                continue
            for chunk in chunks(sorted(ids), 200):
                try:
                    rows = self.target.query(f"SELECT Id, {name_field} FROM {name} WHERE Id IN "
                                             f"({', '.join(quote(i) for i in chunk)})")
                except Exception:    # noqa: BLE001 - names are a help; the ids stay
                    logger.debug("preview: names of %s not read", name, exc_info=True)
                    continue
                self.known.update({r["Id"]: str(r[name_field]) for r in rows if r.get(name_field)})

    def label(self, value: Any) -> str | None:
        if not isinstance(value, str):
            return None
        if is_new_id(value):
            name = self.run.new_labels.get(self.account_of.get(value, value))
            return f"{name} (new)" if name else "(a record this run inserts)"
        return self.known.get(value)

    def fill(self, journal: Journal, preview_id: int) -> None:
        """Put the parent's name beside every lookup value of the preview's rows, object by object, a page at
        a time."""
        for name in self.run.plan.order:
            refs = self.run.plan.objects[name].refs
            if not refs:
                continue
            page: list[PreviewRecord] = []
            for row in journal.iter_preview_records(preview_id, name, ("insert", "update", "skip")):
                if any(c.field in refs for c in row.changes):
                    page.append(row)
                if len(page) >= 500:
                    self._fill_page(journal, preview_id, refs, page)
                    page = []
            if page:
                self._fill_page(journal, preview_id, refs, page)

    def _fill_page(self, journal: Journal, preview_id: int, refs: dict[str, Any], page: list[PreviewRecord]) -> None:
        wanted: dict[str, set[str]] = defaultdict(set)
        for row in page:
            for change in row.changes:
                ref = refs.get(change.field)
                if ref is None:
                    continue
                for value in (change.now, change.will_be):
                    if isinstance(value, str) and not is_new_id(value) and value not in self.known:
                        parent = self._object_of(list(ref.parents), value)
                        if parent is not None:
                            wanted[parent].add(value)
        if wanted:
            self._look_up(wanted)
        for row in page:
            row.changes = [PreviewChange(c.field, c.now, c.will_be, self.label(c.now), self.label(c.will_be),
                                         c.deferred) if c.field in refs else c for c in row.changes]
        journal.update_preview_rows(preview_id, page)


class Preview:
    """One preview of ``template`` from ``source`` to ``target`` (see the module's docstring)."""

    def __init__(self, journal: Journal, source: OrgApi, target: OrgApi, source_ref: OrgRef, target_ref: OrgRef,
                 *, observer: Observer | None = None, cancel: CancelToken | None = None):
        self.journal = journal
        self.source = source
        self.target = target
        self.source_ref = source_ref
        self.target_ref = target_ref
        self.observer = observer
        self.cancel = cancel
        self._with_files: set[str] = set()      # the lines that go "with their files"

    def run(self, template: Template, on_preview: Callable[[int], None] | None = None, *,
            calls_from: tuple[int, int] | None = None, clock_from: float | None = None,
            only: dict[str, set[str]] | None = None) -> PreviewResult:
        """Plan, count, read, match and transform as a sync does; store the rows; return the header.
        ``calls_from``: the orgs' API call counts when the preview began (before its metadata check), for
        what the preview itself cost (``preview_calls``); by default, now. ``clock_from``: the
        ``time.monotonic()`` it began at, for the time the run spends on all but its writes; by default, now.
        ``only``: object -> the source ids to preview (every record in scope is still read and matched, as the
        apply of it reads and matches them; only these get rows, the others are held).

        A template that cannot run raises :class:`~.context.EngineError` (no preview is kept); an org that
        fails to answer ends the preview Failed with the sentence."""
        started = time.monotonic()
        self._with_files = {line.object for line in template.objects if line.files is not None}
        preview_id = self.journal.create_preview(template.as_json(), self.source_ref, self.target_ref)
        if on_preview is not None:
            on_preview(preview_id)
        dry = DryTarget(self.target)
        pj = PreviewJournal(self.journal, preview_id)
        ctx = RunContext(pj, self.source, dry, self.source_ref, self.target_ref,   # type: ignore[arg-type]
                         observer=self.observer, cancel=self.cancel)
        ctx.begin(0)
        notices: list[str] = []

        def note(event: Any) -> None:
            if isinstance(event, Notice):
                notices.append(event.text)
            if self.observer is not None:
                self.observer(event)
        ctx.observer = note
        calls = (self.source.api_calls, self.target.api_calls)
        began = calls_from or calls
        plan: Plan | None = None
        run: PreviewRun | None = None
        status, message = "Completed", None
        try:
            # the scan a sync starts with: the plan, the records in scope
            plan = build_plan(template, self.source, self.target)
            for text in plan.warnings:
                ctx.emit(Notice, text=text)
            since = scope.delta_since(template, pj, self.source_ref.org_id, self.target_ref.org_id)
            scope.count_in_scope(self.source, plan, template, since)   # the scan's counts: calls the sync makes
            run = PreviewRun(ctx, pj, plan, template,
                             only={i for ids in only.values() for i in ids} if only is not None else None)
            first = FirstPass(run)
            first.prepare()
            first.execute()
            SecondPass(run).execute()
        except TemplateError as exc:
            self.journal.finish_preview(preview_id, "Failed", {}, None, str(exc))
            raise EngineError(str(exc)) from None
        except Stop as stop:
            status, message = "Aborted", stop.message
        except (ApiLimitExceeded, SessionExpired) as exc:
            status, message = "Failed", f"the preview stopped: an org refused it ({exc.message})"
        except Exception as exc:   # noqa: BLE001 - an org that cannot be read: the sentence, the preview kept as Failed
            logger.warning("preview %s failed: %s", preview_id, exc)
            status, message = "Failed", f"the preview failed: {str(exc).rstrip('. ')}"
        run_calls = {"source": self.source.api_calls - calls[0], "target": self.target.api_calls - calls[1]}
        read_seconds = time.monotonic() - (clock_from if clock_from is not None else started)
        if run is not None and status == "Completed":
            Labels(run, self.target, dry.person_contacts).fill(self.journal, preview_id)
        if plan is not None and status == "Completed":   # what an apply compares the orgs' metadata with
            self.journal.set_preview_fingerprint(preview_id, fingerprint(plan, self.source, self.target))
        result = self._result(preview_id, status, message, plan, run, dry, pj, run_calls, began, notices, started)
        if status == "Completed":
            self._estimate(result, template, dry, read_seconds)
        header = result.as_json()
        header.update(template=template.name, source=self.source_ref.alias, target=self.target_ref.alias,
                      owners=pj.owners, masked=pj.masked)
        if only is not None:     # a preview of just these records: applying it writes no other
            header["only"] = {name: sorted(ids) for name, ids in only.items()}
        self.journal.finish_preview(preview_id, status, header, plan.as_json() if plan is not None else None, message)
        return result

    def _result(self, preview_id: int, status: str, message: str | None, plan: Plan | None, run: PreviewRun | None,
                dry: DryTarget, pj: PreviewJournal, run_calls: dict[str, int], calls: tuple[int, int],
                notices: list[str], started: float) -> PreviewResult:
        counts = self.journal.preview_counts(preview_id)
        objects: dict[str, dict[str, int]] = {}
        for name in (plan.order if plan is not None else []):
            by_action = counts.get(name, {})
            oc = pj.counts.get(name)
            objects[name] = {"total": oc.total if oc is not None else sum(by_action.values()),
                             **{a: by_action.get(a, 0) for a in COUNT_KEYS[1:]},
                             "deferred_updates": run.deferred_updates.get(name, 0) if run is not None else 0}
        api = {"source": {"reads": run_calls["source"], "writes": 0, "total": run_calls["source"]},
               "target": {"reads": run_calls["target"] + dry.unsent_reads, "writes": dry.writes,
                          "bulk_jobs": dry.bulk_jobs,
                          "total": run_calls["target"] + dry.unsent_reads + dry.writes}}
        return PreviewResult(
            preview_id=preview_id, status=status, objects=objects, api_calls=api,
            preview_calls={"source": self.source.api_calls - calls[0], "target": self.target.api_calls - calls[1]},
            order=list(plan.order) if plan is not None else [], message=message, notices=notices,
            files=[n for n in (plan.order if plan is not None else []) if n in self._with_files],
            seconds=round(time.monotonic() - started, 3))

    def _estimate(self, result: PreviewResult, template: Template, dry: DryTarget, read_seconds: float) -> None:
        """The run's time (the reads as the preview timed them, the writes it counted as measured before) and
        the share of each org's remaining daily API requests: into ``result``, the Bulk jobs' looks into its
        target calls."""
        stats = getattr(self.target, "write_stats", None)
        latency = stats.get("latency") if isinstance(stats, dict) else None
        earlier = estimate.samples(self.journal, self.target_ref.org_id)
        depth = template.in_flight if template.continue_on_error else 1      # as the run sends its batches
        result.estimate = estimate.estimate(read_seconds, latency, dry.collections[0], dry.collections[1], dry.jobs,
                                            earlier, depth=depth, batch=BULK_BATCH)
        target = result.api_calls["target"]
        extra = max(0, int(result.estimate["bulk_looks"]) - dry.bulk_jobs)   # one look a job is in BULK_CALLS
        if extra:
            target["bulk_looks"] = int(result.estimate["bulk_looks"])
            target["total"] += extra
        for side, org, ref in (("source", self.source, self.source_ref), ("target", self.target, self.target_ref)):
            share = estimate.api_share(int(result.api_calls[side]["total"]), getattr(org, "api_usage", None),
                                       template.api_ceiling, side, ref.alias)
            if share is not None:
                result.api_share[side] = share
                if share.get("warning"):
                    result.notices.append(share["warning"])


__all__ = ["BULK_CALLS", "DryTarget", "files_note", "INSERT_OFF", "NEW_ID_PREFIX", "Preview", "PreviewJournal",
           "PreviewResult", "PreviewRun", "PreviewWrite", "UPDATE_OFF", "is_new_id", "record_label"]
