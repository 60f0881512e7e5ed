"""Which source records a run reads: related subsets, delta sync, deleted records, sort and limit.

Pure functions over the plan, used by the runner (reading) and the scan (counting):

* **Related subsets** (``related_to``): a line takes only the records whose lookup ``related_via``
  points at the records read for its parent line, up to five levels. A first level below a root line
  is a SOQL semi-join (``AccountId IN (SELECT Id FROM Account WHERE ...)``) when the root has no limit,
  no delta and reads no deleted rows; otherwise, and for deeper levels (SOQL does not nest semi-joins),
  the parent's ids go in chunks of :data:`ID_CHUNK` (``AccountId IN ('001..', ...)``), which keeps
  every statement well under the org's 100,000-character SOQL limit.
* **Delta sync**: ``SystemModstamp > since``, where since is the template's ``since`` option or the
  start of its last successful sync between the same two orgs (kept in the journal). Deletions in the
  source are not propagated.
* **Include deleted**: queryAll; deleted source rows are copied as ordinary live records.
* **Parents a subset needs**: in a template with related lines, the records read for every line are
  completed with the parent records their lookups point at (any depth: an added Contact brings its
  Account), so no lookup is left dangling. A line's ``exclude_parents`` lookups are not followed.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Iterable
from typing import Any

from .lifecycle import RunKind, RunStatus
from .orgapi import OrgApi
from .plan import ObjectPlan, Plan
from .template import Template, TemplateError

logger = logging.getLogger(__name__)

ID_CHUNK = 300

Query = Callable[..., list[dict[str, Any]]]


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def last_successful_sync(journal: Any, template_name: str, source_org_id: str, target_org_id: str) -> str | None:
    """Start (UTC ISO) of the newest completed sync/resync run of this template between these orgs."""
    for job in journal.jobs(template_name, include_deleted=True):
        if getattr(job, "source", None) is not None and getattr(job.source, "org_id", source_org_id) != source_org_id:
            continue
        if getattr(job, "target", None) is not None and getattr(job.target, "org_id", target_org_id) != target_org_id:
            continue
        for run in reversed(journal.runs(job.id)):
            if run.kind in (RunKind.SYNC, RunKind.RESYNC) and run.status == RunStatus.COMPLETED:
                return str(run.started)
    return None


def delta_since(template: Template, journal: Any, source_org_id: str, target_org_id: str) -> str | None:
    """The SystemModstamp a delta run reads after, or None for a full run."""
    if not template.delta_sync:
        return None
    override = template.options.get("since")
    if override:
        return str(override)
    return last_successful_sync(journal, template.name, source_org_id, target_org_id)


def _semi_join_ok(parent: ObjectPlan, include_deleted: bool) -> bool:
    """A parent whose records one WHERE clause describes (SOQL allows no LIMIT or nesting in a semi-join)."""
    return parent.related_to is None and parent.limit is None and not include_deleted


def base_where(oplan: ObjectPlan, since: str | None) -> list[str]:
    where = [f"({oplan.filter})"] if oplan.filter else []
    if since:
        where.append(f"SystemModstamp > {since}")
    return where


def related_clauses(plan: Plan, oplan: ObjectPlan, read_ids: dict[str, list[str]],
                    include_deleted: bool) -> list[str] | None:
    """WHERE clauses that tie a related line to its parent's records: one semi-join, or Id IN chunks.

    None means "no restriction" (not a related line); an empty list means "no records" (no parent rows).
    """
    if not oplan.related_to:
        return None
    parent = plan.objects[oplan.related_to]
    if _semi_join_ok(parent, include_deleted):
        inner = f"SELECT Id FROM {parent.object}" + (f" WHERE {parent.filter}" if parent.filter else "")
        return [f"{oplan.related_via} IN ({inner})"]
    if parent.object not in read_ids:
        raise TemplateError(f"{oplan.object} is related to {parent.object}, which the order puts later; "
                            f"move {parent.object} before it")
    ids = sorted(set(read_ids[parent.object]))
    return [f"{oplan.related_via} IN ({', '.join(_quote(i) for i in ids[n:n + ID_CHUNK])})"
            for n in range(0, len(ids), ID_CHUNK)]


def is_related_parent(plan: Plan, name: str) -> bool:
    return any(p.related_to == name for p in plan.objects.values())


def line_soql(oplan: ObjectPlan, columns: Iterable[str], since: str | None) -> str:
    """The one statement that reads a line outside any related subset (its filter, delta, sort and limit): what
    :func:`read_records` sends for it, for a reader that takes the answer page by page."""
    where = " AND ".join(base_where(oplan, since))
    soql = f"SELECT {', '.join(sorted(set(columns)))} FROM {oplan.object}" + (f" WHERE {where}" if where else "")
    soql += f" ORDER BY {oplan.sort}, Id" if oplan.sort else " ORDER BY Id"
    return soql + (f" LIMIT {oplan.limit}" if oplan.limit is not None else "")


def _select(query: Query, oplan: ObjectPlan, columns: Iterable[str], where: list[str], related: list[str] | None,
            include_deleted: bool, limit: bool) -> list[dict[str, Any]]:
    select = ", ".join(sorted(set(columns)))
    statements = [" AND ".join(where)] if related is None else [" AND ".join(where + [c]) for c in related]
    order = f" ORDER BY {oplan.sort}, Id" if oplan.sort else " ORDER BY Id"
    records: list[dict[str, Any]] = []
    for clause in statements:
        soql = f"SELECT {select} FROM {oplan.object}" + (f" WHERE {clause}" if clause else "")
        if len(statements) == 1:
            soql += order
            if limit and oplan.limit is not None:
                soql += f" LIMIT {oplan.limit}"
        records += query(soql, include_deleted=include_deleted)
    if len(statements) > 1:   # chunks: the line's sort and limit apply to the whole set
        if oplan.sort:
            records = query_sorted(records, oplan.sort)
        if limit and oplan.limit is not None:
            records = records[:oplan.limit]
    return records


def read_records(query: Query, plan: Plan, oplan: ObjectPlan, select: Iterable[str], read_ids: dict[str, list[str]],
                 *, since: str | None, include_deleted: bool) -> list[dict[str, Any]]:
    """Read one object's source records in scope, and remember the ids of its whole (not delta) scope for
    the related lines below it, so a delta child of an unchanged parent is still found."""
    related = related_clauses(plan, oplan, read_ids, include_deleted)
    records = _select(query, oplan, select, base_where(oplan, since), related, include_deleted, True)
    if is_related_parent(plan, oplan.object):
        if since:
            scope = _select(query, oplan, ["Id"], base_where(oplan, None), related, include_deleted, True)
        else:
            scope = records
        read_ids[oplan.object] = [r["Id"] for r in scope]
    return records


def has_related(plan: Plan) -> bool:
    return any(p.related_to for p in plan.objects.values())


def _parent_line(plan: Plan, ref: Any) -> str | None:
    """The template line a lookup's parents live in (None: polymorphic across lines, or outside the template)."""
    lines = [p for p in ref.parents if p in plan.objects]
    return lines[0] if len(lines) == 1 and ref.kind == "template" else None


def complete_parents(query: Query, plan: Plan, selected: dict[str, list[dict[str, Any]]],
                     columns: Callable[[ObjectPlan], Iterable[str]], *, include_deleted: bool,
                     known: Callable[[str], bool] = lambda _id: False) -> dict[str, int]:
    """Add to ``selected`` (object -> records) the parent records its records' lookups point at that no
    line selected, by ``Id IN`` chunks, until nothing is missing; lookups in a line's
    ``exclude_parents`` are not followed, nor parents ``known`` already (synced by an earlier job: a
    delta run). Returns the number of records added per object."""
    have = {name: {r["Id"] for r in rows} for name, rows in selected.items()}
    added: dict[str, int] = defaultdict(int)
    frontier = {name: list(rows) for name, rows in selected.items()}
    while frontier:
        wanted: dict[str, set[str]] = defaultdict(set)
        for name, rows in frontier.items():
            oplan = plan.objects[name]
            for ref in oplan.refs.values():
                parent = _parent_line(plan, ref)
                if parent is None or ref.field in oplan.exclude_parents:
                    continue
                for row in rows:
                    value = row.get(oplan.source_name(ref.field))   # rows as read: source field names
                    if value and value not in have.setdefault(parent, set()) and not known(value):
                        wanted[parent].add(value)
        frontier = {}
        for parent, ids in wanted.items():
            poplan = plan.objects[parent]
            select = ", ".join(sorted({"Id", *columns(poplan)}))
            ordered = sorted(ids)
            rows = [row for n in range(0, len(ordered), ID_CHUNK) for row in query(
                f"SELECT {select} FROM {parent} WHERE Id IN ({', '.join(_quote(i) for i in ordered[n:n + ID_CHUNK])})",
                include_deleted=include_deleted)]
            new = [row for row in rows if row["Id"] not in have[parent]]
            have[parent].update(row["Id"] for row in new)
            selected.setdefault(parent, []).extend(new)
            added[parent] += len(new)
            if new:
                frontier[parent] = new
    return dict(added)


def lookup_columns(oplan: ObjectPlan) -> list[str]:
    """The columns parent completion reads: the lookups it may follow."""
    return [oplan.source_name(ref.field) for ref in oplan.refs.values() if ref.kind == "template"]


def select_related(query: Query, plan: Plan, columns: Callable[[ObjectPlan], Iterable[str]], *, since: str | None,
                   include_deleted: bool, known: Callable[[str], bool] = lambda _id: False,
                   reader: Callable[[str], Query] | None = None
                   ) -> tuple[dict[str, list[dict[str, Any]]], dict[str, int]]:
    """Every line's records of a template with related lines, completed with the parents they need
    (:func:`complete_parents`): object -> records, and the parents added per object. ``reader(object)``
    reads a whole line (the runner's may switch to a Bulk query); ``query`` the parents by id."""
    read_ids: dict[str, list[str]] = {}
    selected = {name: read_records(reader(name) if reader else query, plan, plan.objects[name], {"Id", *columns(plan.objects[name])}, read_ids,
                                   since=since, include_deleted=include_deleted) for name in plan.order}
    added = complete_parents(query, plan, selected, columns, include_deleted=include_deleted, known=known)
    return selected, added


def query_sorted(records: list[dict[str, Any]], sort: str) -> list[dict[str, Any]]:
    """Sort merged chunk results by a SOQL ORDER BY list (simple fields, ASC/DESC, nulls first by default)."""
    keys = []
    for part in sort.split(","):
        words = part.split()
        keys.append((words[0], len(words) > 1 and words[1].upper() == "DESC"))
    for name, desc in reversed(keys):
        records = sorted(records, key=lambda r: (r.get(name) is not None, r.get(name) if r.get(name) is not None
                                                 else ""), reverse=desc)
    return records


def count_in_scope(source: OrgApi, plan: Plan, template: Template, since: str | None) -> dict[str, int]:
    """Records each object would move (the scan and the preview); see :func:`count_with_parents`."""
    return count_with_parents(source, plan, template, since)[0]


def count_with_parents(source: OrgApi, plan: Plan, template: Template, since: str | None
                       ) -> tuple[dict[str, int], dict[str, int]]:
    """Records each object would move, and of those the parents a related subset brought in. COUNT()
    where one statement says it; a template with related lines reads ids and lookups instead."""
    if has_related(plan):
        selected, added = select_related(source.query, plan, lookup_columns, since=since,
                                         include_deleted=template.include_deleted)
        return {name: len(rows) for name, rows in selected.items()}, added
    return _counts(source, plan, template, since), {}


def _counts(source: OrgApi, plan: Plan, template: Template, since: str | None) -> dict[str, int]:
    read_ids: dict[str, list[str]] = {}
    counts: dict[str, int] = {}
    for name in plan.order:
        oplan = plan.objects[name]
        include_deleted = template.include_deleted
        related = None
        if oplan.related_to:
            if oplan.related_to not in read_ids and not _semi_join_ok(plan.objects[oplan.related_to],
                                                                      include_deleted):
                raise TemplateError(f"{name} is related to {oplan.related_to}, which the order puts later; "
                                    f"move {oplan.related_to} before it")
            related = related_clauses(plan, oplan, read_ids, include_deleted)
        chunked = related is not None and len(related) != 1
        if not include_deleted and not chunked and not is_related_parent(plan, name):
            where = base_where(oplan, since) + (related or [])
            total = source.count(name, " AND ".join(where) if where else None)
            counts[name] = min(total, oplan.limit) if oplan.limit is not None else total
            continue
        rows = read_records(source.query, plan, oplan, ["Id"], read_ids, since=since, include_deleted=include_deleted)
        counts[name] = len(rows)
    return counts
