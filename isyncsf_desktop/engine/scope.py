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
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from typing import Any

from .events import COMPLETED
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
            if run.kind in ("sync", "resync") and run.status == COMPLETED:
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


def count_in_scope(source: Any, plan: Plan, template: Template, since: str | None) -> dict[str, int]:
    """Records each object would move (the scan and the preview). COUNT() where one statement says it;
    related lines below a chunked parent read the parents' ids first."""
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
