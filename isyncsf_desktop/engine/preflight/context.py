"""What every part of the check shares: the orgs it reads (:class:`PreflightOrg`), the scope
(:class:`ScopeLine`, :class:`ScopeObject`), and :class:`CheckContext`, which counts source records, keeps
the scan's records and collects the findings; plus the small helpers of the findings' wording.

The checks (:mod:`.objects`, :mod:`.fields`, :mod:`.automation_state`) are mixins of :class:`CheckContext`;
:mod:`.check` puts them together and runs them.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from ...salesforce.client import OrgApiError
from ..template import FieldMappings, PicklistMappings, RecordTypeMappings
from .report import CHECK_FAILED, WARNING, Finding

logger = logging.getLogger(__name__)


class PreflightOrg(Protocol):
    """What the check reads from an org (a subset of :class:`~.orgapi.OrgApi`; ``OrgClient`` provides it)."""

    alias: str
    org_id: str | None

    def describe(self, object_name: str) -> dict[str, Any]: ...
    def object_names(self) -> set[str]: ...
    def count(self, object_name: str, where: str | None = None) -> int: ...
    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]: ...
    def tooling_query(self, soql: str) -> list[dict[str, Any]]: ...
    def tooling_get(self, object_name: str, record_id: str) -> dict[str, Any]: ...
    def tooling_update(self, object_name: str, record_id: str, body: dict[str, Any]) -> None: ...
    def organization(self) -> dict[str, Any]: ...
    def user_info(self) -> dict[str, Any]: ...


@dataclass
class ScopeLine:
    """One object in scope, from a template line or a saved plan."""

    object: str
    fields: list[str] | None
    filter: str | None
    limit: int | None
    insert: bool
    update: bool
    match_by: list[str] | None
    from_plan: bool


@dataclass
class ScopeObject:
    """An in-scope object present in both orgs, with what the check resolved about it."""

    line: ScopeLine
    name: str
    source: dict[str, dict[str, Any]]
    target: dict[str, dict[str, Any]]
    fields: list[str] = field(default_factory=list)     # in scope and present in both orgs


def quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def plural(count: int | None, noun: str = "record") -> str:
    if count is None:
        return f"an unknown number of {noun}s"
    return f"{count} {noun}" + ("" if count == 1 else "s")


def counted_severity(severity: str, affected: int | None) -> str:
    """``severity``, or a warning when the count shows no record is affected."""
    return WARNING if affected == 0 else severity


class CheckContext:
    """One run of the check: the orgs, the counts, the scan's records, the findings so far."""

    def __init__(self, source: PreflightOrg, target: PreflightOrg, scan_counts: Mapping[str, int],
                 source_records: Mapping[str, Iterable[Mapping[str, Any]]], count_budget: int = 200):
        self.source = source
        self.count_budget = count_budget
        self.target = target
        self.scan_counts = {k.lower(): int(v) for k, v in scan_counts.items()}
        self.source_records = {k.lower(): v for k, v in source_records.items()}
        self._records_cache: dict[str, list[Mapping[str, Any]]] = {}
        self._counts: dict[tuple[str, str | None], int | None] = {}
        self.findings: list[Finding] = []
        self.switched_off: set[tuple[str, str]] = set()    # automation the sync switches off (template option)
        self.record_types = RecordTypeMappings()           # the template's record type mappings
        self.picklists = PicklistMappings()                # the template's picklist value mappings
        self.field_mappings = FieldMappings()              # the template's renamed fields and constants

    # ------------------------------------------------------------------ helpers
    def add(self, kind: str, obj: str, field_name: str | None, item: str | None, severity: str, message: str,
            suggestion: str, *, fixable: bool = False, **data: Any) -> None:
        """Record a finding; ``data`` keyword arguments become :attr:`Finding.data`."""
        self.findings.append(Finding(kind, obj, field_name, item, severity, message, suggestion, fixable, data))

    def count(self, line: ScopeLine, obj: str, where: str | None = None) -> int | None:
        """Source records of ``obj`` in the line's scope (and matching ``where``); None if SOQL can't say."""
        if where is None and obj.lower() in self.scan_counts:
            return self.scan_counts[obj.lower()]
        key = (obj, where)
        if key not in self._counts:
            if len(self._counts) >= self.count_budget:
                return None
            clauses = ([f"({line.filter})"] if line.filter else []) + ([f"({where})"] if where else [])
            try:
                total: int | None = self.source.count(obj, " AND ".join(clauses) or None)
            except OrgApiError as exc:
                logger.info("could not count %s records%s: %s", obj, f" where {where}" if where else "", exc)
                total = None
            if total is not None and line.limit is not None:
                total = min(total, line.limit)
            self._counts[key] = total
        return self._counts[key]

    def sample(self, obj: str) -> list[Mapping[str, Any]] | None:
        if obj.lower() not in self.source_records:
            return None
        if obj.lower() not in self._records_cache:
            self._records_cache[obj.lower()] = list(self.source_records[obj.lower()])
        return self._records_cache[obj.lower()]

    def failed(self, obj: str, what: str, exc: OrgApiError, fix: str) -> None:
        self.add(CHECK_FAILED, obj, None, None, WARNING, f"could not {what}: {exc.message.strip()}", fix,
                 error_code=exc.error_code)
