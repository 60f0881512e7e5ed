"""The first pass of a sync, resync or retry: object by object in the plan's order, read the source
records, match them to target records, transform each into the payload the target receives, insert the
new ones and update the changed ones, journaling every outcome before the next batch goes out.

Lookups the plan defers, and self-lookups of records in a data cycle, are left for the second pass
(:mod:`.second_pass`).
"""

from __future__ import annotations

import functools
import itertools
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import networkx as nx

from .. import heap, scope
from ..events import ObjectFinished, ObjectReading, ObjectShape, ObjectStarted, RunPlanned
from ..inflight import send_batches
from ..journal import ErrorInfo, ObjectCounts, Outcome
from ..lifecycle import ObjectStatus, RecordStatus
from ..masking import Masker, template_secret
from ..picklists import PicklistProblem, map_value, picklist_values
from ..plan import ObjectPlan, Plan, RefSpec, relationship_graph
from ..progress import scanned_counts
from ..recordtypes import RECORD_TYPE_SOQL, resolve_record_types
from ..users import RUNNING_USER, map_owners
from ..values import match_value, path_value, same
from ...salesforce.client import BULK_QUERY_PAGE, REST_QUERY_PAGE
from ...salesforce.slices import release_in_slices, sorted_in_slices
from .context import (BULK_BATCH, DUPLICATE_MATCH, PERSON_ACCOUNT_FIELDS_MISSING, PICKLIST_NOT_MAPPED,
                      STRING_TOO_LONG, chunks, first_error, key_json, page_reader, quote, reader)
from .idmap import IdMap
from .parents import is_polymorphic
from .recovery import await_late_commits, claim_in_flight, journal_time, late_commit_window
from .spool import FOLDER as SPOOL_FOLDER
from .spool import Spool
from .sync_run import OMIT, Decision, Pending, RecordProblem, SyncRun, Verdict, second_pass_refs

logger = logging.getLogger(__name__)

KEY_TYPES = ("string", "email", "phone", "url", "textarea", "picklist")
PART_RECORDS = BULK_BATCH       # records decided and written as one part of a level, per write in flight (one job each)
KEY_CHUNK_CHARS = 4000     # characters of quoted keys per "IN (...)" query (URLs stay well under 16 KB)

Rows = dict[str, dict[str, Any]]
"""Target records of one object, by id."""

INSERTED: dict[str, Any] = {}
"""The target row a sync keeps of a record it inserted when the second pass compares none of its fields (one
shared empty row: at a million records, a row each would be a sizeable share of the run's memory). Never
changed in place: a row that changes is replaced by a new one."""


def _or_in(lists: dict[str, list[str]]) -> str:
    """``Id IN ('a', 'b') OR Email IN ('c')`` from column -> quoted values."""
    return " OR ".join(f"{column} IN ({', '.join(values)})" for column, values in lists.items())


def refused_value(oplan: ObjectPlan, payload: dict[str, Any]) -> ErrorInfo | None:
    """The first value of ``payload`` the target would refuse (a text longer than its field), as the
    org words it; None when it takes them all. Refused before sending, so a preview can say so."""
    for name, value in payload.items():
        limit = oplan.field_lengths.get(name)
        if limit and isinstance(value, str) and len(value) > limit:
            return ErrorInfo(STRING_TOO_LONG, f"{name}: data value too large: {value[:80]} (max length={limit})",
                             [name])
    return None


_UNKNOWN: Any = object()     # not looked up yet (None is a value)


def _kept(mask: Callable[[Any], Any], masked: dict[str, Any], value: Any) -> Any:
    """``mask(value)``, kept in ``masked`` for the next look (text values: the key of a dict must not make
    ``1`` and ``True`` one value)."""
    if value.__class__ is not str:
        return mask(value)
    result = masked.get(value, _UNKNOWN)
    if result is _UNKNOWN:
        result = masked[value] = mask(value)
    return result


def source_columns(oplan: ObjectPlan) -> set[str]:
    """The columns read from the source for ``oplan``'s object (source field names)."""
    return {"Id", *(oplan.source_name(name) for name in (*oplan.fields, *oplan.match_by)),
            *(["IsPersonAccount", "PersonContactId"] if oplan.person_accounts else [])}


def as_target_fields(oplan: ObjectPlan, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Source records with the fields the template maps renamed to their target names (in place): from here
    on the run speaks the target's field names only."""
    if oplan.source_names:
        for record in records:
            for target_name, source_name in oplan.source_names.items():
                record[target_name] = record.pop(source_name, None)
    return records


def must_follow(plan: Plan) -> dict[str, set[str]]:
    """Object -> the objects whose first pass must have finished before its own starts: the parents of its
    lookups the first pass sets (not those the plan defers to the second pass), the person accounts' Account
    for a lookup to Contact (a person contact's copy is known once Account is written), and, when the user
    set the order (``plan.manual_order``), every earlier object joined to it by any lookup path, so the
    user's order between related objects holds; unrelated objects may overlap. Only earlier objects of
    the plan's order are ever waited for."""
    order = plan.order
    position = {name: i for i, name in enumerate(order)}
    person = "Account" in plan.objects and plan.objects["Account"].person_accounts
    follow: dict[str, set[str]] = {name: set() for name in order}
    for name in order:
        for ref in plan.objects[name].refs.values():
            if ref.deferred or ref.kind in ("user", "recordtype"):
                continue
            follow[name].update(p for p in ref.parents if p in position and p != name)
            if person and "Contact" in ref.parents:
                follow[name].add("Account")
    if plan.manual_order:
        graph = relationship_graph(plan.objects)
        for group in nx.weakly_connected_components(graph):
            for name in group:
                follow[name].update(other for other in group if position[other] < position[name])
    return {name: {p for p in parents if position[p] < position[name]} for name, parents in follow.items()}


@dataclass
class SourceStream:
    """An object's source records as they are read: ``total`` (as the org counted them before the first page) and
    their ``pages`` (each a list of records, fields named as the target's), each read when the one before is
    done with."""

    total: int
    pages: Iterator[list[dict[str, Any]]]


def _read_ahead(pages: Iterator[list[dict[str, Any]]],
                executor: ThreadPoolExecutor) -> Iterator[list[dict[str, Any]]]:
    """``pages``, each next one read on ``executor`` while the one before is synced (one page ahead)."""
    future = executor.submit(next, pages, None)
    while True:
        page = future.result()
        if page is None:
            return
        future = executor.submit(next, pages, None)
        yield page
        del page


def _regroup(pages: Iterable[list[dict[str, Any]]], size: int) -> Iterator[list[dict[str, Any]]]:
    """The records of ``pages`` in lists of ``size`` (the last one shorter)."""
    held: list[dict[str, Any]] = []
    for page in pages:
        held.extend(page)
        del page
        while len(held) >= size:
            part, held = held[:size], held[size:]
            yield part
            del part
    if held:
        yield held


class FirstPass:
    """The first pass of ``run``: :meth:`prepare` (the maps), then :meth:`execute` (every object)."""

    def __init__(self, run: SyncRun):
        self.run = run
        self.ctx = run.ctx
        self.journal = run.journal
        self.source = run.source
        self.target = run.target
        self.plan = run.plan
        self.template = run.template
        self._ahead: dict[str, Future[list[dict[str, Any]] | SourceStream | Spool]] = {}
        self._scope_ids: dict[str, list[str]] = {}
        self._since: str | None = None
        self._counted: dict[str, int] | None = None
        self._scoped = False
        self._reading = threading.RLock()
        self._selected: dict[str, list[dict[str, Any]]] | None = None
        self._target_values: dict[str, list[str] | None] = {}    # Object.Field -> the target's picklist values
        self._picklist_maps: dict[str, dict[str, dict[str, str]]] = {}   # see _picklists_of
        self._masker: Masker | None = None
        self._maskings: dict[tuple[str, str], Callable[[Any], Any] | None] = {}   # see _masking
        self._masks: dict[str, dict[str, Callable[[Any], Any]]] = {}              # see _masks_of
        self._key_values: dict[str, list[dict[str, Any]]] = defaultdict(list)    # object -> its keys' masked values
        self.masked: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # object -> field -> values

    # ------------------------------------------------------------------ preparation
    def prepare(self) -> None:
        """Load the id map of the two orgs, and map users and record types when a lookup needs them."""
        id_map = self.run.id_map = IdMap()
        for page in self.journal.id_map_pages(self.ctx.source_ref.org_id, self.ctx.target_ref.org_id):
            id_map.update(page)
        kinds = {ref.kind for p in self.plan.objects.values() for ref in p.refs.values()}
        if "user" in kinds:
            self._map_users()
        if "recordtype" in kinds:
            self._map_record_types()
        self._map_person_contacts()
        if any(p.mask for p in self.plan.objects.values()):
            secret = template_secret(self.template.name)
            assert secret is not None
            self._masker = Masker(secret, self.template.mask_locale)

    def _map_person_contacts(self, rows: list[dict[str, Any]] | None = None) -> None:
        """Source person contact -> its copy on the target: the target PersonContactId of the target copy of
        its person account (lookups such as Case.ContactId to a person contact follow the account). ``rows``:
        the source accounts this run wrote or found (read with their PersonContactId); else every source
        person account the id map knows from earlier runs."""
        account = self.plan.objects.get("Account")
        if account is None or not account.person_accounts:
            return
        if rows is None:
            rows = self.source.query("SELECT Id, PersonContactId FROM Account WHERE IsPersonAccount = true")
        copies = {self.run.id_map[r["Id"]]: r["PersonContactId"] for r in rows
                  if r.get("PersonContactId") and r["Id"] in self.run.id_map}
        for chunk in chunks(sorted(copies), 300):
            for row in self.target.query(f"SELECT Id, PersonContactId FROM Account WHERE Id IN "
                                         f"({', '.join(quote(i) for i in chunk)}) AND IsPersonAccount = true"):
                if row.get("PersonContactId"):
                    self.run.person_contacts[copies[row["Id"]]] = row["PersonContactId"]

    def _map_users(self) -> None:
        """Every source user and queue to its target owner: the template's owner mappings, else the
        automatic match (engine/users.py), else the default owner, else the running user."""
        try:
            running = self.target.user_info().get("user_id")
        except Exception:  # userinfo is a convenience; an org without it falls back below
            running = None
        owners = map_owners(self.source, self.target, self.template.owners, running)
        self.run.owners = owners
        for choice in owners.choices.values():
            if choice.how == RUNNING_USER:
                kind = "queue" if choice.source_queue else "user"
                self.run.notice(f"{kind} {choice.source_name} does not exist in the target org; "
                                "their records go to the running user")
            if choice.target_id and not choice.problem and choice.target_objects is None:
                self.run.user_map[choice.source_id] = choice.target_id
        self.journal.record_owner_map(self.run.job_id, self.run.run_id, owners.used())

    def _map_record_types(self) -> None:
        """Every source record type to its target one: the template's record type mappings (renames, then
        the same DeveloperName, then the object's default); what maps to nothing fails its records."""
        choices = resolve_record_types(self.source.query(RECORD_TYPE_SOQL), self.target.query(RECORD_TYPE_SOQL),
                                       self.template.record_types)
        for source_id, choice in choices.items():
            self.run.rt_map[source_id] = choice.target_id
            self.run.rt_names[source_id] = choice.label
            if choice.problem:
                self.run.rt_problems[source_id] = choice.problem

    @property
    def since(self) -> str | None:
        """The SystemModstamp this delta run read after (None: a full run)."""
        return self._since

    # ------------------------------------------------------------------ the pass
    def execute(self) -> None:
        """Every object of the plan: one after the other in the plan's order, or, with the template's
        ``parallel_objects`` above 1 (and a run that allows it), up to that many at once (:meth:`_streams`)."""
        order = self.plan.order
        streams = min(self.template.parallel_objects, len(order)) if self.run.PARALLEL else 1
        follow = must_follow(self.plan)
        self.ctx.emit(RunPlanned, objects={name: self._shape(self.plan.objects[name], follow.get(name, set()))
                                           for name in order}, parallel_objects=streams)
        if streams > 1:
            self._streams(order, streams)
            return
        # in_flight 2+: the next object's source records are read (a read-only call to the source org)
        # while this object's batches go to the target; writes stay one batch at a time, parents first.
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isyncsf-read") \
            if self.template.in_flight > 1 and len(order) > 1 else None
        try:
            for index, name in enumerate(order, start=1):
                self._one_object(name, index, len(order), order[index] if pool and index < len(order) else None,
                                 pool)
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)
            self._drop_ahead()

    def _shape(self, oplan: ObjectPlan, after: set[str]) -> ObjectShape:
        """How ``oplan``'s object will be written (for the time left of an object not reached yet); ``after``: the
        objects it waits for."""
        bulk = hasattr(self.ctx.target, "bulk_ingest")
        return ObjectShape(hierarchy=any(not ref.deferred for ref in oplan.self_refs),
                           bulk_from=self.template.bulk_threshold(oplan.object) if bulk else 0,
                           job_rows=BULK_BATCH, at_once=max(1, self.run.depth), second_pass=bool(oplan.deferred_refs),
                           after=tuple(sorted(after)))

    def _drop_ahead(self) -> None:
        """Let go of what was read ahead for an object that never started (the run stopped): its spool's file."""
        for future in self._ahead.values():
            if future.done() and not future.cancelled() and future.exception() is None:
                source = future.result()
                if isinstance(source, Spool):
                    source.close()
        self._ahead.clear()

    def _one_object(self, name: str, index: int, count: int, after: str | None = None,
                    pool: ThreadPoolExecutor | None = None) -> None:
        """The first pass of one object, and what is tied to it (the person contacts after Account)."""
        self.ctx.check_cancel()
        self.ctx.api_ceiling_check(self.template)
        self._sync_object(name, index, count, after, pool)
        if self.plan.objects[name].person_accounts:
            self._map_person_contacts(self.run.person_rows.pop(name, []))

    def _streams(self, order: list[str], streams: int) -> None:
        """Up to ``streams`` objects at once, each on its own thread, an object starting once every object it
        must follow (:func:`must_follow`) has finished its first pass; those ready start in the plan's order.

        The first error of any stream (an abort, a pause at the API ceiling, an expired session, a stop at the
        first failed record) halts the others at their next batch boundary (:meth:`RunContext.halt`); once every
        stream has ended (its batches out answered and journaled), that first error is raised, as a sequential
        run raises it. Nothing new starts after it."""
        follow = must_follow(self.plan)
        index = {name: position for position, name in enumerate(order, start=1)}
        waiting = list(order)
        running: dict[Future[None], str] = {}
        finished: set[str] = set()
        first: BaseException | None = None
        pool = ThreadPoolExecutor(max_workers=streams, thread_name_prefix="isyncsf-object")
        # in_flight 2+: as one at a time, an object that must wait for one starting now has its source read
        # while that one is written (one object read ahead at most; only one that cannot start before)
        read = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isyncsf-read") \
            if self.template.in_flight > 1 else None
        ahead: set[str] = set()
        try:
            while waiting or running:
                if first is None:
                    for name in [n for n in waiting if follow[n] <= finished][:streams - len(running)]:
                        waiting.remove(name)
                        after = next((n for n in waiting if name in follow[n]), None) \
                            if read is not None and not self._ahead and not ahead & set(waiting) else None
                        if after is not None:
                            ahead.add(after)
                        running[pool.submit(self._one_object, name, index[name], len(order), after, read)] = name
                if not running:
                    break      # an error stopped the run: what waits never starts
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    name = running.pop(future)
                    error = future.exception()
                    if error is None:
                        finished.add(name)
                    elif first is None:
                        first = error
                        self.ctx.halt()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if read is not None:
                read.shutdown(wait=True, cancel_futures=True)
            self._drop_ahead()
            self.ctx.resume()
            self._plan_order()
        if first is not None:
            raise first

    def _plan_order(self) -> None:
        """The run's counts in the plan's order, as a run one object at a time has them (not the order the
        objects happened to start in): the run's result lists its objects as the job's history does."""
        counts = self.run.counts
        self.run.counts = {**{name: counts[name] for name in self.plan.order if name in counts}, **counts}

    # ------------------------------------------------------------------ reads
    def _read_source(self, oplan: ObjectPlan) -> list[dict[str, Any]]:
        return as_target_fields(oplan, self._read_source_rows(oplan))

    def _open_source(self, oplan: ObjectPlan) -> list[dict[str, Any]] | SourceStream | Spool:
        """``oplan``'s source records: all of them (:meth:`_read_source`), or, when they are more than one part
        and the object can be synced part by part, a :class:`SourceStream` whose first page is read, or, for a
        self-lookup hierarchy (a level needs its parents' level whole), a :class:`~.spool.Spool` they were all
        read into, page by page. Part by part: no related subset (its parents are completed across lines), not a
        retry of chosen records."""
        if self.run.only is not None or scope.has_related(self.plan):
            return self._read_source(oplan)
        query = page_reader(self.source, self.template, oplan.object)
        if query is None:
            return self._read_source(oplan)
        self._scope()
        # The scan counted this object's records just before (not a delta's: those are counted as they are read):
        # a count past the Bulk threshold goes straight to a Bulk query, without a REST page to count them again.
        counted = None if self._since else self._scanned().get(oplan.object)
        # An object of one part is held whole anyway: its Bulk query's pages may be a write's worth each (fewer
        # calls); a bigger one's stay BULK_QUERY_PAGE, which divides a part, so a part ends at a page's end.
        whole = counted is not None and counted <= self._part_size()
        total, pages = query(scope.line_soql(oplan, self._columns(oplan), self._since),
                             include_deleted=self.template.include_deleted, expected=counted,
                             page_rows=PART_RECORDS if whole else None)
        renamed = (as_target_fields(oplan, page) for page in pages)
        if total <= self._part_size():
            return [record for page in renamed for record in page]
        levels = [ref.field for ref in oplan.self_refs if not ref.deferred]
        if levels:
            spool = Spool(self.journal.path.parent / SPOOL_FOLDER, oplan.object, levels)
            try:
                for page in renamed:
                    spool.add(page)
                    del page
            except BaseException:
                spool.close()
                raise
            return spool
        first = next(renamed, [])      # read now: a Bulk query's job is done by the time the object starts
        return SourceStream(total, itertools.chain([first], renamed))

    def _scanned(self) -> dict[str, int]:
        """The records in scope per object, as the job's latest scan counted them (read once a run; none for a
        preview, which has no job)."""
        with self._reading:
            if self._counted is None:
                self._counted = scanned_counts(self.journal, self.run.job_id) if self.run.job_id else {}
            return self._counted

    def _scope(self) -> None:
        """Find, once per run, the SystemModstamp a delta run reads after (objects read at once, parallel_objects:
        the first finds it, the others wait for it)."""
        with self._reading:
            if not self._scoped:
                self._scoped = True
                self._since = scope.delta_since(self.template, self.journal, self.ctx.source_ref.org_id,
                                                self.ctx.target_ref.org_id)
                if self._since:
                    self.run.notice(f"delta sync: only records changed since {self._since} (deletions are not "
                                    "copied)")

    def _columns(self, oplan: ObjectPlan) -> set[str]:
        """The source columns read for ``oplan``: :func:`source_columns`, and SystemModstamp for a run that keeps
        it (a preview: an apply finds what changed since)."""
        return source_columns(oplan) | ({"SystemModstamp"} if self.run.read_stamps else set())

    def _read_source_rows(self, oplan: ObjectPlan) -> list[dict[str, Any]]:
        paths = self._columns(oplan)
        select = ", ".join(sorted(paths))
        where = [f"({oplan.filter})"] if oplan.filter else []
        include_deleted = self.template.include_deleted
        if self.run.only is not None:
            ids = sorted(self.run.only)
            records: list[dict[str, Any]] = []
            for chunk in chunks(ids, 300):
                clause = " AND ".join(where + [f"Id IN ({', '.join(quote(i) for i in chunk)})"])
                records += self.source.query(f"SELECT {select} FROM {oplan.object} WHERE {clause}",
                                             include_deleted=include_deleted)
            return records
        # related subsets, delta sync, deleted records, sort and limit: engine/scope.py
        self._scope()
        if scope.has_related(self.plan):
            with self._reading:     # objects read at once (parallel_objects): the subset is selected once
                if self._selected is None:
                    since, id_map = self._since, self.run.id_map
                    self._selected, added = scope.select_related(
                        self.source.query, self.plan, self._columns, since=since,
                        include_deleted=include_deleted, known=lambda i: since is not None and i in id_map,
                        reader=lambda name: reader(self.source, self.template, name))
                    for parent, number in sorted(added.items()):
                        self.run.notice(f"{number} {parent} record(s) outside the subset were added: records of "
                                        "the subset point at them")
                return self._selected.pop(oplan.object, [])
        return scope.read_records(reader(self.source, self.template, oplan.object), self.plan, oplan, paths,
                                  self._scope_ids, since=self._since, include_deleted=include_deleted)

    def read_target(self, oplan: ObjectPlan, records: Iterable[dict[str, Any]] | None = None) -> Rows:
        """The target records of ``oplan``'s object, by id. Either all of them (in REST pages, or a
        Bulk query when big), or, when it costs fewer calls, only those ``records`` can match: by
        their match key in IN-chunks, and by the target ids the id map already knows. Only those the
        plan's ``target_filter`` lets through (never a target person contact)."""
        select, every = self._target_select(oplan)
        by_key = self._by_key_reads(oplan, select, records) if records is not None else None
        large = getattr(self.target, "query_large", None)
        if by_key is not None and by_key[0] <= 1:
            rows = by_key[1]()    # one query at most (none for no records): cheaper than any page count
        elif by_key is not None and large is not None:
            rows = large(every, bulk_from=self.template.bulk_threshold(oplan.object), instead=by_key)
        else:
            rows = reader(self.target, self.template, oplan.object)(every)
        return {row["Id"]: row for row in rows}

    def _target_select(self, oplan: ObjectPlan) -> tuple[str, str]:
        """The SELECT of ``oplan``'s target records (every column the run compares or matches on), and the
        statement reading all those the plan's ``target_filter`` lets through."""
        paths = {"Id", *oplan.update_fields, *oplan.insert_fields, *oplan.match_by,
                 *(oplan.constants if oplan.constants_on_update else ()),
                 *(["SystemModstamp"] if self.run.read_stamps else [])}
        select = f"SELECT {', '.join(sorted(paths))} FROM {oplan.object}"
        return select, f"{select} WHERE {oplan.target_filter}" if oplan.target_filter else select

    def _stream_targets(self, oplan: ObjectPlan, records: int) -> Rows | None:
        """Every target record of ``oplan``'s object (as :meth:`read_target` reads them when it reads them all),
        for the ``records`` source records of an object read in pages; None when reading only those the
        records can match, by key, may cost fewer calls (then the object is read whole, as before)."""
        pages = getattr(self.target, "query_pages", None)
        if pages is None:
            return None
        _select, every = self._target_select(oplan)
        total, rows = pages(every, bulk_from=self.template.bulk_threshold(oplan.object))
        every_calls = min(-(-total // REST_QUERY_PAGE), 2 + -(-total // BULK_QUERY_PAGE))
        if every_calls > 1 and self._keyed(oplan) and every_calls >= records // (KEY_CHUNK_CHARS // 8):
            rows.close()
            return None
        return {row["Id"]: row for page in rows for row in page}

    @staticmethod
    def _keyed(oplan: ObjectPlan) -> bool:
        """Whether the target records ``oplan``'s records can match can be read by key (one plain text field)."""
        return len(oplan.match_by) == 1 and "." not in oplan.match_by[0] and oplan.match_by[0] not in oplan.refs \
            and oplan.field_types.get(oplan.match_by[0], "string") in KEY_TYPES

    def _by_key_reads(self, oplan: ObjectPlan, select: str,
                      records: Iterable[dict[str, Any]]) -> tuple[int, Any] | None:
        """(calls, read) for reading only the target records that ``records`` can match (looked at once, one
        at a time), or None when the match key is not one plain text field (then all target records are read)."""
        if not self._keyed(oplan):
            return None
        field_name = oplan.match_by[0]
        id_map = self.run.id_map
        key_set: set[str] = set()
        known_set: set[str] = set()
        for r in records:
            value = r.get(field_name)
            if isinstance(value, str) and value.strip():
                key_set.add(str(self._mask_key(oplan, field_name, value)).strip())
            target_id = id_map.get(r["Id"])
            if target_id is not None:
                known_set.add(target_id)
        keys, known = sorted_in_slices(key_set), sorted_in_slices(known_set)
        del key_set, known_set
        # one query per chunk of quoted values: "Id IN (...) OR Key IN (...)", both lists in one budget
        clauses: list[str] = []
        lists: dict[str, list[str]] = {}
        size = 0
        for column, value in [("Id", v) for v in known] + [(field_name, v) for v in keys]:
            if lists and size + len(value) + 4 > KEY_CHUNK_CHARS:
                clauses.append(_or_in(lists))
                lists, size = {}, 0
            lists.setdefault(column, []).append(quote(value))
            size += len(value) + 4
        if lists:
            clauses.append(_or_in(lists))

        def read() -> list[dict[str, Any]]:
            rows: Rows = {}
            for clause in clauses:
                where = f"({oplan.target_filter}) AND ({clause})" if oplan.target_filter else clause
                for row in self.target.query(f"{select} WHERE {where}"):
                    rows[row["Id"]] = row
            return list(rows.values())
        return len(clauses), read

    # ------------------------------------------------------------------ match
    def match_key(self, record: dict[str, Any], oplan: ObjectPlan, *, on_target: bool) -> tuple[Any, ...] | None:
        """The match key of ``record``: as it is on the target (``on_target``), or of a source record with
        its lookups mapped to target ids."""
        parts = []
        for path in oplan.match_by:
            value = path_value(record, path)
            ref = oplan.refs.get(path)
            if ref is not None and value is not None and not on_target:
                value = self._map_reference(ref, value)
            elif not on_target:      # a masked key is matched on its masked value (engine/masking.py)
                value = self._mask_key(oplan, path, value)
            value = match_value(value)
            if value is None:
                return None
            parts.append(value)
        return tuple(parts)

    def _map_reference(self, ref: RefSpec, source_value: str) -> str | None:
        if ref.kind == "user":
            return self.run.user_map.get(source_value)
        if ref.kind == "recordtype":
            return self.run.rt_map.get(source_value)
        if ref.kind == "template":
            return self.run.id_map.get(source_value)
        return source_value

    def _carry(self, name: str, records: list[dict[str, Any]], targets: Rows) -> list[dict[str, Any]]:
        """Records that succeeded in an earlier run of the job (resync) are not sent again, but go to
        the second pass, which sets the lookups it defers; the rest is returned to be processed. A
        record whose target record is gone is processed again."""
        if not self.run.skip:
            return records
        rest = []
        for record in records:
            target_id = self.run.id_map.get(record["Id"]) if record["Id"] in self.run.skip else None
            if target_id is not None and target_id in targets:
                self.run.carried.add(record["Id"])
                self.run.reached(name, self.plan.objects[name], Pending(record, target_id))
            else:
                rest.append(record)
        return rest

    def _sync_object(self, name: str, index: int, count: int, after: str | None = None,
                     pool: ThreadPoolExecutor | None = None) -> None:
        run = self.run
        oplan = self.plan.objects[name]
        self.ctx.emit(ObjectReading, object=name, index=index, count=count)    # its row: "Reading…", not Pending
        ahead = self._ahead.pop(name, None)
        source = ahead.result() if ahead is not None else self._open_source(oplan)
        try:
            if after is not None and pool is not None:
                self._ahead[after] = pool.submit(self._open_source, self.plan.objects[after])
            # Records of a create batch whose answer was lost (a crash): find what the org saved (the whole object).
            wanted = self.journal.in_flight(run.job_id, name).get(name, {})
        except BaseException:
            if isinstance(source, Spool):
                source.close()
            raise
        if isinstance(source, SourceStream) and not wanted:
            targets = self._stream_targets(oplan, source.total)
            if targets is not None:
                self._sync_stream(name, oplan, index, count, source, targets, pool is not None)
                self._finish_object(name, oplan)
                return
        if isinstance(source, Spool):
            with source:
                if not wanted:
                    self._sync_spooled(name, oplan, index, count, source)
                    self._finish_object(name, oplan)
                    return
                records = list(source.records())    # the answer of a batch was lost: the object whole, as before
        else:
            records = source if isinstance(source, list) else [r for page in source.pages for r in page]
        del source
        targets = self.read_target(oplan, records)
        run.live_targets[name] = targets
        run.held[name] = len(records)
        records = self._carry(name, records, targets)
        run.counts.setdefault(name, ObjectCounts(total=len(records), status=ObjectStatus.EXECUTING))
        self.ctx.emit(ObjectStarted, object=name, index=index, count=count, total=len(records))
        wanted = {r["Id"]: wanted[r["Id"]] if wanted[r["Id"]] is not None else self.match_key(
            r, oplan, on_target=False) for r in records if r["Id"] in wanted}
        in_flight = claim_in_flight(wanted, targets, oplan.match_by,
                                    self.journal.known_target_ids(run.job_id, name)) if wanted else {}
        if len(in_flight) < len(wanted):
            in_flight.update(self._await_in_flight(name, oplan, records, wanted, in_flight, targets))
        index_by_key = self._index(oplan, targets, set(in_flight.values()))
        self._check_external(oplan, records)
        # Self-lookup hierarchies: parents before children, level by level; a big level in parts, so that only one
        # part's payloads are held at a time (each part still goes out in Bulk jobs or batches, in_flight at once).
        for level in self._levels(oplan, records):
            for part in chunks(level, self._part_size()):
                self._sync_part(name, oplan, part, targets, index_by_key, in_flight)
        self._finish_object(name, oplan)

    def _sync_spooled(self, name: str, oplan: ObjectPlan, index: int, count: int, spool: Spool) -> None:
        """Sync a self-lookup hierarchy whose source records are in ``spool`` (:meth:`_open_source`): the target
        records they can match are read (by their keys, read back from the spool, when that costs fewer calls),
        those an earlier run of the job did are set apart, the levels placed, and each level read back, decided,
        written and journaled a part at a time, parents first: the run holds one part of the records at a time."""
        run = self.run
        targets = self.read_target(oplan, spool.records())
        run.live_targets[name] = targets
        carried = 0
        if run.skip:      # done in an earlier run of the job, their target record still there: second pass only
            id_map = run.id_map
            done = [source_id for source_id in (r["Id"] for r in spool.records())
                    if source_id in run.skip and id_map.get(source_id) in targets]
            spool.mark_carried(done)
            carried = len(done)
            del done
        run.counts.setdefault(name, ObjectCounts(total=spool.count - carried, status=ObjectStatus.EXECUTING))
        self.ctx.emit(ObjectStarted, object=name, index=index, count=count, total=spool.count - carried)
        size = self._part_size()
        for part in spool.carried(size):
            for record in part:
                run.carried.add(record["Id"])
                run.reached(name, oplan, Pending(record, run.id_map.get(record["Id"])))
            del part
        index_by_key = self._index(oplan, targets, set())
        for level in range(spool.place_levels()):
            for part in spool.parts(level, size):
                run.held[name] = max(run.held.get(name, 0), len(part))
                self._check_external(oplan, part)
                self._sync_part(name, oplan, part, targets, index_by_key, {})
                del part
                self._part_done(name)

    def _part_done(self, name: str) -> None:
        """A part of ``name`` is written and journaled: its masked keys go (each key is looked at within its part),
        and the memory its records held goes back to the system."""
        for masked_keys in self._key_values.get(name, []):
            masked_keys.clear()
        heap.trim()

    def _part_size(self) -> int:
        """Records decided and written as one part: :data:`PART_RECORDS` per write in flight."""
        return PART_RECORDS * max(1, self.run.depth)

    def _index(self, oplan: ObjectPlan, targets: Rows, claimed: set[str]) -> dict[tuple[Any, ...], list[str]]:
        """The target records by match key, less those ``claimed`` (created by an interrupted run of the job)."""
        index_by_key: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for row_id, row in targets.items():
            key = self.match_key(row, oplan, on_target=True)
            if key is not None and row_id not in claimed:
                index_by_key[key].append(row_id)
        return index_by_key

    def _sync_stream(self, name: str, oplan: ObjectPlan, index: int, count: int, source: SourceStream,
                     targets: Rows, read_ahead: bool) -> None:
        """Sync an object whose source records come in pages (:meth:`_open_source`): each part is read, decided,
        written and journaled, then let go, so the run never holds more than one part of them (and the page read
        ahead). ``targets``: every target record the object's records can match, read before the first part."""
        run = self.run
        run.live_targets[name] = targets
        oc = run.counts.setdefault(name, ObjectCounts(total=source.total, status=ObjectStatus.EXECUTING))
        self.ctx.emit(ObjectStarted, object=name, index=index, count=count, total=source.total)
        index_by_key = self._index(oplan, targets, set())
        kept = {ref.field for ref in second_pass_refs(oplan)}
        seen = 0
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="isyncsf-page") if read_ahead else None
        try:
            pages = _read_ahead(source.pages, executor) if executor is not None else source.pages
            for part in _regroup(pages, self._part_size()):
                seen += len(part)
                run.held[name] = max(run.held.get(name, 0), len(part))
                rest = self._carry(name, part, targets)
                oc.total -= len(part) - len(rest)      # done in an earlier run: the second pass only
                self._check_external(oplan, rest)
                synced = len(run.synced.get(name, ()))
                inserted = self._sync_part(name, oplan, rest, targets, index_by_key, {})
                # The rows this part inserted are needed no more (no later record matches a record the run made),
                # but for those the second pass compares: targets holds what the source read matched, not the run.
                wanted = {p.target_id for p in run.synced.get(name, [])[synced:]} if kept else set()
                for target_id in inserted:
                    if target_id not in wanted:
                        targets.pop(target_id, None)
                del part, rest
                self._part_done(name)
        finally:
            if executor is not None:
                executor.shutdown(wait=True, cancel_futures=True)
        oc.total += seen - source.total    # the org said how many there were before the first page; it may differ

    def _sync_part(self, name: str, oplan: ObjectPlan, part: list[dict[str, Any]], targets: Rows,
                   index_by_key: dict[tuple[Any, ...], list[str]], in_flight: dict[str, str]) -> list[str]:
        """Decide, write and journal one part of an object's records, then clear them (what the run keeps of
        them was copied: :meth:`~.sync_run.SyncRun.reached`). Returns the target ids of the records it inserted."""
        run = self.run
        oc = run.counts[name]
        inserts: list[Pending] = []
        updates: list[Pending] = []
        outcomes: list[Outcome] = []
        needed = self._needed(oplan)
        for record in part:
            decision = self.decide(oplan, record, targets, index_by_key, in_flight)
            decision = run.decided(name, oplan, decision) or decision
            pending, verdict = decision.pending, decision.verdict
            if verdict == Verdict.INSERT:
                inserts.append(pending)
            elif verdict == Verdict.UPDATE:
                run.id_map[record["Id"]] = pending.target_id   # type: ignore[assignment]
                pending.payload = decision.changed
                updates.append(pending)
            elif verdict == Verdict.FAIL:
                assert decision.error is not None
                if decision.matched:
                    run.id_map[record["Id"]] = pending.target_id   # type: ignore[assignment]
                outcomes.append(run.fail(name, record["Id"], pending.target_id, decision.error,
                                         root=decision.root))
            elif verdict == Verdict.OUTSIDE:    # read and matched for its children's lookups only
                assert decision.error is not None
                if decision.matched:
                    run.id_map[record["Id"]] = pending.target_id   # type: ignore[assignment]
                else:
                    run.failed[record["Id"]] = f"{decision.error.status_code}: {decision.error.message}"
                oc.total -= 1
            elif verdict == Verdict.HELD:    # not written by the run's choice (an apply's gate): skipped
                assert decision.error is not None
                if decision.matched:           # the target record stays as it is: children still find it
                    run.id_map[record["Id"]] = pending.target_id   # type: ignore[assignment]
                else:
                    run.failed[record["Id"]] = f"{decision.error.status_code}: {decision.error.message}"
                outcomes.append(Outcome(name, record["Id"], pending.target_id, RecordStatus.SKIPPED,
                                        decision.error))
                oc.processed += 1
            elif verdict == Verdict.INSERT_OFF:
                run.not_inserted.add(record["Id"])
                outcomes.append(Outcome(name, record["Id"], None, RecordStatus.SKIPPED))
                oc.processed += 1
            elif verdict == Verdict.IN_FLIGHT:
                # Created by this job in a batch whose answer was lost (crash, dropped connection).
                run.id_map[record["Id"]] = pending.target_id   # type: ignore[assignment]
                outcomes.append(Outcome(name, record["Id"], pending.target_id, RecordStatus.INSERTED))
                oc.inserted += 1
                oc.processed += 1
                run.reached(name, oplan, pending)
            else:                    # unchanged, or changed with updating switched off: it stays as it is
                run.id_map[record["Id"]] = pending.target_id   # type: ignore[assignment]
                outcomes.append(Outcome(name, record["Id"], pending.target_id, RecordStatus.EXISTING))
                oc.existing += 1
                oc.processed += 1
                run.reached(name, oplan, pending)
            if len(record) > len(needed):      # decided: the payload has what goes out; the rest is let go now
                kept = {f: record[f] for f in needed if f in record}
                record.clear()
                record.update(kept)
        if outcomes:
            run.flush(name, outcomes)
        del outcomes
        self._insert(name, oplan, inserts, targets)
        self._update(name, updates, targets)
        inserted = [p.target_id for p in inserts if p.target_id is not None]
        release_in_slices(inserts, updates)     # not one free of the whole part
        del inserts, updates
        for record in part:     # written and journaled: what the run keeps of them was copied (reached)
            record.clear()
        return inserted

    def _needed(self, oplan: ObjectPlan) -> frozenset[str]:
        """The fields of a source record of ``oplan`` the run still reads once it is decided (while its payload is
        written and journaled): its id, its match key (written ahead with the record, and looked for again when the
        answer to its create is lost), the lookups the second pass may set, and what a person account keeps."""
        return frozenset({"Id", "__cycle__", "IsPersonAccount", "PersonContactId",
                          *(ref.field for ref in second_pass_refs(oplan)),
                          *(path.split(".")[0] for path in oplan.match_by)})

    def _finish_object(self, name: str, oplan: ObjectPlan) -> None:
        run = self.run
        oc = run.counts[name]
        oc.status = ObjectStatus.COMPLETED if not oplan.deferred_refs else ObjectStatus.AWAITING_SECOND_PASS
        for masked_keys in self._key_values.pop(name, []):
            masked_keys.clear()
        if self.masked.get(name):
            self.journal.record_masked(run.run_id, name, self.masked[name])
        self.journal.set_object_counts(run.run_id, name, oc)
        run.done_with(name, oplan)
        self.ctx.emit(ObjectFinished, object=name, counts=oc)

    def decide(self, oplan: ObjectPlan, record: dict[str, Any], targets: Rows,
               index_by_key: dict[tuple[Any, ...], list[str]], in_flight: dict[str, str]) -> Decision:
        """What the run does with ``record`` (a source record of ``oplan``'s object, its fields named as the
        target's), decided before anything is written: the step a sync and a preview both take.

        Found by the id map of earlier runs or by its match key among ``targets`` (``index_by_key``: the
        target records by match key, less those claimed); transformed into the payload the target gets;
        a matched record compared field by field with the target's values (normalised as the org returns
        them: numbers, dates, booleans, lookups through the id map). Insert or update, unchanged, or not
        going, with the reason. Reads the run's maps; changes none of them."""
        run = self.run
        pending = Pending(record)
        if record["Id"] in in_flight:
            pending.target_id = in_flight[record["Id"]]
            return Decision(Verdict.IN_FLIGHT, pending)
        target_id = run.id_map.get(record["Id"])
        if target_id not in targets:
            target_id = None
        if target_id is None:
            key = self.match_key(record, oplan, on_target=False)
            candidates = index_by_key.get(key, []) if key is not None else []
            if len(candidates) > 1:
                return Decision(Verdict.FAIL, pending, error=ErrorInfo(
                    DUPLICATE_MATCH, f"{len(candidates)} target records match "
                    f"{'+'.join(oplan.match_by)} = {' + '.join(str(k) for k in key or ())}: "
                    f"{', '.join(candidates[:5])}; make the match key unique", list(oplan.match_by)))
            target_id = candidates[0] if candidates else None
        pending.target_id = target_id
        try:
            pending.payload = self._transform(oplan, record, for_insert=target_id is None)
        except RecordProblem as problem:
            return Decision(Verdict.FAIL, pending, error=problem.error, root=problem.root)
        if target_id is None:
            if not oplan.insert:
                return Decision(Verdict.INSERT_OFF, pending)
            refused = refused_value(oplan, pending.payload)
            if refused is not None:
                return Decision(Verdict.FAIL, pending, error=refused)
            return Decision(Verdict.INSERT, pending)
        current = targets[target_id]
        changed = {f: v for f, v in pending.payload.items()
                   if (f in oplan.update_fields or f in oplan.constants)
                   and not same(v, current.get(f), oplan.field_types.get(f, "string"))}
        pending.prior = {f: current.get(f) for f in changed}
        if not changed:
            return Decision(Verdict.UNCHANGED, pending)
        if not oplan.update:
            return Decision(Verdict.UPDATE_OFF, pending, changed)
        refused = refused_value(oplan, changed)
        if refused is not None:
            return Decision(Verdict.FAIL, pending, changed, error=refused, matched=True)
        return Decision(Verdict.UPDATE, pending, changed)

    def _await_in_flight(self, name: str, oplan: ObjectPlan, records: list[dict[str, Any]],
                         wanted: dict[str, tuple[Any, ...] | None], claimed: dict[str, str],
                         targets: Rows) -> dict[str, str]:
        """Records an interrupted run was creating that the target does not show: the org may still commit
        their batch (ORG_REQUEST_LIMIT_S after it went out), so they are looked for again until then;
        only those never found are sent again."""
        run = self.run
        window = late_commit_window(self.template)
        sent = {source_id: journal_time(at) for source_id, at in self.journal.in_flight_sent(run.job_id, name)
                .get(name, {}).items() if source_id in wanted and source_id not in claimed}
        if not any(at + window > time.time() for at in sent.values()):
            return {}
        known = self.journal.known_target_ids(run.job_id, name)
        taken = set(claimed.values())
        by_id = {r["Id"]: r for r in records}

        def look(ids: set[str]) -> dict[str, str]:
            rows = {i: row for i, row in self.read_target(oplan, [by_id[i] for i in sorted(ids)]).items()
                    if i not in taken}
            hits = claim_in_flight({i: wanted[i] for i in ids}, rows, oplan.match_by, known)
            for target_id in hits.values():
                taken.add(target_id)
                targets[target_id] = rows[target_id]
            return hits
        return await_late_commits(self.ctx, name, sent, look, window)

    def _levels(self, oplan: ObjectPlan, records: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
        self_refs = [r for r in oplan.self_refs if not r.deferred]
        if not self_refs:
            return [records]
        in_run = {r["Id"] for r in records}
        placed: set[str] = set()
        remaining = list(records)
        levels: list[list[dict[str, Any]]] = []
        while remaining:
            level, rest = [], []
            for record in remaining:
                parents = [record.get(ref.field) for ref in self_refs]
                if all(p is None or p not in in_run or p in placed or p == record["Id"] for p in parents):
                    level.append(record)
                else:
                    rest.append(record)
            if not level:  # the data itself has a cycle: those records get the lookup in the second pass
                for record in rest:
                    record["__cycle__"] = True
                level, rest = rest, []
            placed.update(r["Id"] for r in level)
            levels.append(level)
            remaining = rest
        return levels

    def _check_external(self, oplan: ObjectPlan, records: list[dict[str, Any]]) -> None:
        """Lookups to objects outside the template are kept only where the record exists on the target."""
        for ref in oplan.refs.values():
            if ref.kind != "external" and not is_polymorphic(ref):
                continue
            wanted = {r[ref.field] for r in records if r.get(ref.field)}
            wanted -= self.run.external_ok.setdefault(ref.field, set())
            if is_polymorphic(ref):
                wanted = {value for value in wanted if value not in self.run.id_map}
            by_object: dict[str, list[str]] = defaultdict(list)
            for value in wanted:   # the object an id is of comes from its key prefix
                by_object[self.run.parents.object_of(ref, value)].append(value)
            for parent, values in by_object.items():
                if parent not in self.target.object_names():
                    continue
                for chunk in chunks(sorted(values), 300):
                    rows = self.target.query(
                        f"SELECT Id FROM {parent} WHERE Id IN ({', '.join(quote(v) for v in chunk)})")
                    self.run.external_ok[ref.field].update(r["Id"] for r in rows)
            if not ref.deferred:   # a deferred one's parents are looked for in the second pass
                self.run.find_parents(ref, records, set(self.run.counts) - {oplan.object})

    # ------------------------------------------------------------------ transform
    @staticmethod
    def _check_person_account_fields(allowed: list[str]) -> None:
        """A new person account is made from a person record type and a last name (the org composes its Name):
        without them the org would answer "Required fields are missing: [Name]", for a Name the line has. Fail the
        record with the reason and the fix instead, as the metadata check words it."""
        sent = {name.lower() for name in allowed}
        missing = [name for name in ("RecordTypeId", "LastName") if name.lower() not in sent]
        if missing:
            raise RecordProblem(ErrorInfo(
                PERSON_ACCOUNT_FIELDS_MISSING,
                f"a person account is created from a person record type and a last name, and the Account line has no "
                f"{' or '.join(missing)}: add RecordTypeId, FirstName and LastName to the Account line and start a "
                "new sync, or leave person accounts out with the Account filter IsPersonAccount = false", missing))

    def _transform(self, oplan: ObjectPlan, record: dict[str, Any], *, for_insert: bool) -> dict[str, Any]:
        allowed = oplan.insert_fields if for_insert else oplan.update_fields
        if oplan.person_accounts:   # a person account sends its person fields, a business account its Name
            other = set(oplan.business_fields if record.get("IsPersonAccount") else oplan.person_fields)
            allowed = [name for name in allowed if name not in other]
            if for_insert and record.get("IsPersonAccount"):
                self._check_person_account_fields(allowed)
        masks = self._masks_of(oplan)
        picklists = self._picklists_of(oplan)
        counts = self.masked[oplan.object] if masks else None
        payload: dict[str, Any] = {}
        for name in allowed:
            value = record.get(name)
            ref = oplan.refs.get(name)
            if ref is None:
                if for_insert and value is None:
                    continue
                mapping = picklists.get(name)
                if mapping is not None:
                    value = self._picklist(oplan, name, value, mapping)
                mask = masks.get(name)
                if mask is not None:
                    if counts is not None and value is not None and value != "":
                        counts[name] += 1     # a value masked and sent: the job's summary counts it
                    value = mask(value)
                payload[name] = value
                continue
            if ref.deferred or (ref.self_ref and record.get("__cycle__")):
                continue  # filled in the second pass
            if value is None:
                if not for_insert:
                    payload[name] = None
                continue
            mapped = self.run.resolve(oplan, ref, record, value)
            if mapped is OMIT:
                continue
            payload[name] = mapped
        if for_insert or oplan.constants_on_update:
            payload.update(oplan.constants)    # the template's constants (engine/fieldmaps.py)
        return payload

    def _masks_of(self, oplan: ObjectPlan) -> dict[str, Callable[[Any], Any]]:
        """Field -> the function masking its values under the line's masking rules (engine/masking.py)."""
        masks = self._masks.get(oplan.object)
        if masks is None:
            masks = self._masks[oplan.object] = {name: mask for name in oplan.mask
                                                 if (mask := self._masking(oplan, name)) is not None}
        return masks

    def _mask_key(self, oplan: ObjectPlan, path: str, value: Any) -> Any:
        """A source match key part as the target holds it: masked by its own line's rule, or by the rule of
        the parent line a path such as ``Contact.Email`` ends at."""
        if value is None:
            return value
        mask = self._masking(oplan, path)
        return mask(value) if mask is not None else value

    def _masking(self, oplan: ObjectPlan, path: str) -> Callable[[Any], Any] | None:
        """The function masking the values of field ``path`` of ``oplan`` (or of a parent path of its match key,
        ``Contact.Email``), made once per run (engine/masking.py's :meth:`Masker.masking`); None: not masked.

        A match key's masked values are kept while its object is synced: each source record's key is masked
        once, though it is looked at three times (to read the target records it can match, to match, in the
        payload) and the masker's cache is bounded (at 200k records it no longer holds the first keys)."""
        where = (oplan.object, path)
        mask = self._maskings.get(where, _UNKNOWN)
        if mask is not _UNKNOWN:
            return mask
        spec = oplan.mask.get(path) or oplan.mask_paths.get(path)
        mask = self._masker.masking(spec) if spec is not None and self._masker is not None else None
        if mask is not None and path in oplan.match_by:
            masked_keys: dict[str, Any] = {}
            self._key_values[oplan.object].append(masked_keys)
            mask = functools.partial(_kept, mask, masked_keys)
        self._maskings[where] = mask
        return mask

    def _picklists_of(self, oplan: ObjectPlan) -> dict[str, dict[str, str]]:
        """Field -> the template's value map for it, for the fields of ``oplan`` that have one (looked up once an
        object: a lookup for every value of every record was a sizeable share of a sync's time)."""
        maps = self._picklist_maps.get(oplan.object)
        if maps is None:
            maps = {}
            for name in (*oplan.insert_fields, *oplan.update_fields):
                mapping = self.template.picklists.of(oplan.object, oplan.source_name(name)) \
                    or self.template.picklists.of(oplan.object, name)
                if mapping:
                    maps[name] = mapping
            self._picklist_maps[oplan.object] = maps
        return maps

    def _picklist(self, oplan: ObjectPlan, name: str, value: Any, mapping: dict[str, str]) -> Any:
        """``value`` of ``name`` under its picklist ``mapping`` from the template (engine/picklists.py)."""
        where = f"{oplan.object}.{name}"
        if where not in self._target_values:
            fields = {f["name"]: f for f in self.target.describe(oplan.object).get("fields", [])}
            self._target_values[where] = picklist_values(fields[name]) if name in fields else None
        try:
            return map_value(value, oplan.field_types.get(name, "picklist"), mapping, self._target_values[where],
                             where)
        except PicklistProblem as problem:
            raise RecordProblem(ErrorInfo(PICKLIST_NOT_MAPPED, str(problem), [name])) from None

    # ------------------------------------------------------------------ insert, update
    def _insert(self, name: str, oplan: ObjectPlan, pending: list[Pending], targets: Rows) -> None:
        run = self.run
        bulk = self.ctx.use_bulk(self.template, name, len(pending))
        lost: list[list[Pending]] = []
        sent: dict[str, float] = {}

        def prepare_rows(chunk: list[Pending], *, via_bulk: bool) -> None:
            now = time.time()
            sent.update((p.source["Id"], now) for p in chunk)
            # Write-ahead: if the process dies while this batch (or Bulk job) is out, the next run
            # knows that whatever it finds on the target for these records was created by this job.
            self.journal.record_outcomes(run.job_id, run.run_id, [
                Outcome(name, p.source["Id"], None, RecordStatus.SENDING,
                        match_key=key_json(self.match_key({**p.source, **p.payload}, oplan, on_target=True)),
                        via_bulk=via_bulk)
                for p in chunk])

        def prepare(chunk: list[Pending]) -> None:
            self.ctx.check_cancel()      # held (the user is asked whether to abort) or aborted: nothing goes out
            prepare_rows(chunk, via_bulk=bulk)

        refused: list[list[Pending]] = []

        def send(chunk: list[Pending]) -> list[dict[str, Any]] | None:
            if bulk:
                def by_collections(positions: list[int]) -> None:
                    # rows the job found locked go again through Collections, which the org may commit
                    # late if its answer is lost: written ahead again as such (the late-commit window)
                    prepare_rows([chunk[i] for i in positions], via_bulk=False)
                return self.ctx.bulk_write(run.job_id, name, "insert", [p.payload for p in chunk],
                                           on_collections=by_collections, template=self.template)
            try:
                return self.target.create([{"attributes": {"type": name}, **p.payload} for p in chunk])
            except Exception as exc:
                if type(exc).__name__ != "ConnectionLost":
                    refused.append(chunk)   # the org answered (401, 403, 400) or never got it: nothing saved
                    raise
                return None      # the org may have saved the batch: looked at once the others are in

        def finish(chunk: list[Pending], results: list[dict[str, Any]] | None) -> None:
            if results is None:
                lost.append(chunk)
            else:
                self._inserted(name, chunk, results, targets)

        try:
            send_batches(chunks(pending, BULK_BATCH if bulk else run.batch), depth=run.depth,
                         prepare=prepare, send=send, finish=finish)
        except Exception:
            # The run stops on that error; a batch the org refused is not in flight (no late commit to wait for).
            if refused:
                self.journal.record_outcomes(run.job_id, run.run_id, [
                    Outcome(name, p.source["Id"], None, RecordStatus.SKIPPED) for chunk in refused for p in chunk])
            raise
        for chunk in lost:   # every other batch of the level is answered now: what is left is this one's
            self._inserted(name, chunk, self._recover_lost_create(
                name, oplan, chunk, {p.source["Id"]: sent[p.source["Id"]] for p in chunk}), targets)

    def _inserted(self, name: str, chunk: list[Pending], results: list[dict[str, Any]], targets: Rows) -> None:
        run = self.run
        second = {ref.field for ref in second_pass_refs(self.plan.objects[name])}
        outcomes = []
        oc = run.counts[name]
        for item, result in zip(chunk, results):
            source_id = item.source["Id"]
            if result.get("success"):
                item.target_id = result["id"]
                run.id_map[source_id] = result["id"]
                item.payload["Id"] = result["id"]    # sent already: the row as the target has it now
                # the run keeps of it what the second pass compares
                kept = {f: v for f, v in item.payload.items() if f in second}
                targets[result["id"]] = {"Id": result["id"], **kept} if kept else INSERTED
                oc.inserted += 1
                oc.processed += 1
                outcomes.append(Outcome(name, source_id, result["id"], RecordStatus.INSERTED))
                run.reached(name, self.plan.objects[name], item)
            else:
                outcomes.append(run.fail(name, source_id, None, first_error(result)))
        run.flush(name, outcomes)

    def _recover_lost_create(self, name: str, oplan: ObjectPlan, chunk: list[Pending],
                             sent: dict[str, float]) -> list[dict[str, Any]]:
        """The answer to a create was lost (a read timeout, a dropped connection): the org may have
        committed it, or may still (it finishes a request whose client has gone, until its limit on a
        request: ORG_REQUEST_LIMIT_S after ``sent``). Find what it kept (records with the batch's keys
        that no answered batch created), looking again until they are all found or the org can no
        longer commit them; only then create the ones never found."""
        logger.warning("connection lost during a create of %s %s records; checking what the org kept",
                       len(chunk), name)
        self.run.notice(f"the connection to the target dropped while creating {name} records; the engine checked "
                        "which were saved so none is created twice")
        # target records the run or the job already accounts for (an object read in pages no longer holds the rows
        # its earlier parts inserted: the journal has them)
        known = set(self.run.live_targets.get(name, {})) | self.journal.known_target_ids(self.run.job_id, name)
        taken: set[str] = set()

        def look(ids: set[str]) -> dict[str, str]:
            items = [p for p in chunk if p.source["Id"] in ids]
            current = self.read_target(oplan, [p.source for p in items])
            fresh: dict[tuple[Any, ...], list[str]] = defaultdict(list)
            for target_id, row in current.items():
                if target_id in known or target_id in taken:
                    continue
                key = self.match_key(row, oplan, on_target=True)
                if key is not None:
                    fresh[key].append(target_id)
            hits: dict[str, str] = {}
            for item in items:
                key = self.match_key({**item.source, **item.payload}, oplan, on_target=True)
                candidates = fresh.get(key, []) if key is not None else []
                if candidates:     # one target record per source record: two with one key find two
                    hits[item.source["Id"]] = candidates.pop(0)
                    taken.add(hits[item.source["Id"]])
            return hits

        found = await_late_commits(self.ctx, name, sent, look, late_commit_window(self.template))
        results: list[dict[str, Any] | None] = [
            {"id": found[p.source["Id"]], "success": True, "errors": []} if p.source["Id"] in found else None
            for p in chunk]
        resend = [position for position, result in enumerate(results) if result is None]
        if resend:   # the org can no longer commit them: they were never saved
            again = self.target.create([{"attributes": {"type": name}, **chunk[p].payload} for p in resend])
            for position, result in zip(resend, again):
                results[position] = result
        return [r for r in results if r is not None]

    def _update(self, name: str, pending: list[Pending], targets: Rows) -> None:
        run = self.run
        bulk = self.ctx.use_bulk(self.template, name, len(pending))

        def prepare(chunk: list[Pending]) -> None:
            self.ctx.check_cancel()
            if self.template.versioning:
                self.journal.save_versions(run.job_id, run.run_id, name,
                                           {p.target_id: p.prior or {} for p in chunk if p.target_id})

        def send(chunk: list[Pending]) -> list[dict[str, Any]]:
            return self.ctx.update_records(run.job_id, self.template, name,
                                           [{"Id": p.target_id, **p.payload} for p in chunk])

        def finish(chunk: list[Pending], results: list[dict[str, Any]]) -> None:
            outcomes = []
            oc = run.counts[name]
            for item, result in zip(chunk, results):
                source_id = item.source["Id"]
                if result.get("success") and item.target_id is not None:
                    targets[item.target_id] = {**targets.get(item.target_id, {}), **item.payload}
                    oc.updated += 1
                    oc.processed += 1
                    outcomes.append(Outcome(name, source_id, item.target_id, RecordStatus.UPDATED))
                    run.reached(name, self.plan.objects[name], item)
                else:
                    outcomes.append(run.fail(name, source_id, item.target_id, first_error(result)))
            run.flush(name, outcomes)

        send_batches(chunks(pending, BULK_BATCH if bulk else run.batch), depth=run.depth,
                     prepare=prepare, send=send, finish=finish)


__all__ = ["FirstPass", "must_follow", "refused_value", "source_columns"]
