"""Pre-flight metadata check: what in the target org will stop the sync or reject records, before it runs.

:func:`check_metadata` compares the source and target orgs for the objects and fields a template (or a
saved plan) puts in scope and returns a :class:`PreflightReport` of :class:`Finding` objects, each with
a severity, a message, a suggested fix and, where the app can apply the fix itself, ``fixable``.
It only reads: describes, a few ``SELECT COUNT()`` queries on the source (to say how many records a
difference affects) and Tooling API queries for the automation. Nothing is written.

Severities
----------
``blocking`` — the sync cannot run as planned; :func:`assert_can_start` refuses to start unless the
user overrides:

* an object missing in the target org (or in the source org);
* a template field missing in the source org; a field missing in the target org when "skip missing
  fields" is off, or named by a saved plan (the run would fail whole batches on it);
* a match key field missing in the target org, or no match key at all;
* an object the target user can neither create nor update.

``records will fail`` — the sync runs, but the org will reject some records:

* a restricted picklist on the target lacks values the source records use (counted);
* a field whose target type cannot hold the source values (counted: non-empty values);
* a text field shorter on the target, when a scan's records show longer values (counted);
* a field required on the target that the template does not fill (every insert fails), or that
  is empty in some source records (counted);
* an object the target user cannot create (with insert on) or update (with update on);
* a validation rule active on the target but not on the source (fix: switch it off for the run with
  automation control — ``fixable``);
* a record type missing on the target by DeveloperName, or inactive there (counted);
* source users that map to an inactive target user (counted).

``warning`` — the sync runs; something may differ from what the user expects:

* a field missing on the target while "skip missing fields" is on (it is left out);
* a field the target user cannot create or update (its values are not carried), or a lossy type
  conversion, a shorter text field without a scan to count from, fewer integer digits;
* picklist values the target's unrestricted picklist does not list (saved anyway);
* an Apex trigger or record-triggered flow active on the target but not on the source, and any
  automation active in both orgs (it runs for every record written; ``fixable`` by switching it off
  for the run where the org allows it);
* automation active on the source but disabled on the target (``fixable``: Enable Disabled Metadata);
* source users that do not map to a target user (their records go to the running user; counted);
* a part of the check that could not run (e.g. no Tooling API access).

A difference whose count shows that no record in scope is affected is reported as a warning.
Counts honour the template's filter and limit; they are None where SOQL cannot count cheaply (text
length, multi-select picklists, non-filterable fields) and no scan's records were given.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pandas as pd

from .. import paths
from ..salesforce.client import OrgApiError
from .automation import (APEX_TRIGGER, FLOW, KIND_LABELS, PRODUCTION_TRIGGER_NOTE, VALIDATION_RULE, AutomationItem,
                         FixResult, is_production, list_flows, list_triggers, list_validation_rules,
                         parse_automation_off, set_active)
from .export import neutralise_formula
from .journal import utc_now
from .plan import SKIPPED_TYPES, SYSTEM_FIELDS, Plan
from .template import Template, parse_template
from .users import SOURCE_USER_SOQL, TARGET_USER_SOQL, match_users

logger = logging.getLogger(__name__)

BLOCKING = "blocking"
RECORDS_WILL_FAIL = "records will fail"
WARNING = "warning"
SEVERITIES: tuple[str, ...] = (BLOCKING, RECORDS_WILL_FAIL, WARNING)

# Finding kinds
MISSING_OBJECT = "missing_object"
OBJECT_ACCESS = "object_access"
MISSING_FIELD = "missing_field"
MATCH_KEY = "match_key"
TYPE_MISMATCH = "type_mismatch"
PICKLIST_VALUES = "picklist_values"
FIELD_LENGTH = "field_length"
FIELD_ACCESS = "field_access"
REQUIRED_FIELD = "required_field"
VALIDATION_RULE_STATE = "validation_rule"
TRIGGER_STATE = "apex_trigger"
FLOW_STATE = "flow"
RECORD_TYPE = "record_type"
USER_MAPPING = "user_mapping"
CHECK_FAILED = "check_failed"
AUTOMATION_KINDS: dict[str, str] = {VALIDATION_RULE: VALIDATION_RULE_STATE, APEX_TRIGGER: TRIGGER_STATE,
                                    FLOW: FLOW_STATE}

FIX_ENABLE = "enable"          # Finding.data["fix"]: Enable Disabled Metadata activates it
FIX_SWITCH_OFF = "switch_off"  # Finding.data["fix"]: automation control can switch it off for the run

REPORT_COLUMNS: list[str] = ["Severity", "Kind", "Object", "Field", "Item", "Message", "Suggested Fix", "Fixable",
                             "Affected Records", "Details"]

TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
                        "encryptedstring"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
REFERENCE_TYPES = frozenset({"reference", "id"})
_LENGTH_TYPES = TEXT_TYPES - {"picklist", "multipicklist"}
_MAX_IN_LIST_CHARS = 20000
_MAX_USERS_COUNTED = 25


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


# ====================================================================== findings and the report
@dataclass
class Finding:
    """One difference between the orgs that matters for the sync.

    ``kind`` is one of the kind constants of this module, ``object``/``field`` where it is,
    ``item`` the validation rule, trigger, flow, record type or user concerned, ``severity`` one
    of :data:`SEVERITIES`, ``fix`` the suggested fix as text. ``fixable`` means the app can apply
    the fix (``data["fix"]`` says how: :data:`FIX_ENABLE` or :data:`FIX_SWITCH_OFF`). ``data``
    holds the details (JSON-serialisable): ``affected`` (records, None when not counted),
    ``records_in_scope``, picklist ``values``, automation ``source_active``/``target_active``...
    """

    kind: str
    object: str
    field: str | None
    item: str | None
    severity: str
    message: str
    fix: str
    fixable: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> tuple[str, str, str, str]:
        """Stable identity of the finding (for remembering an override or a selection)."""
        return self.kind, self.object, self.field or "", self.item or ""

    @property
    def affected(self) -> int | None:
        """Source records the finding affects, when counted."""
        value = self.data.get("affected")
        return int(value) if isinstance(value, int) else None

    @property
    def location(self) -> str:
        """``Account.Phone``, ``Contact`` or ``Contact / validation rule Contact.X`` for messages."""
        where = f"{self.object}.{self.field}" if self.field else self.object
        return f"{where} / {self.item}" if self.item and self.item not in where else where

    def automation_item(self) -> AutomationItem | None:
        """The automation item this finding is about (None for other kinds)."""
        auto = self.data.get("automation")
        if not isinstance(auto, dict):
            return None
        return AutomationItem(kind=auto["kind"], name=auto["name"], object=self.object,
                              active=self.data.get("target_active"), id=self.data.get("target_id"),
                              latest_version=self.data.get("latest_version"))

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Finding:
        return cls(**{k: data.get(k) for k in ("kind", "object", "field", "item", "severity", "message", "fix")},
                   fixable=bool(data.get("fixable")), data=dict(data.get("data") or {}))


_SEVERITY_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}


def _sort_key(finding: Finding) -> tuple[Any, ...]:
    return (_SEVERITY_RANK.get(finding.severity, 9), finding.object.lower(), finding.kind, (finding.field or "").lower(),
            (finding.item or "").lower())


@dataclass
class PreflightReport:
    """The findings of one check, worst first, and when it ran (``checked_at``, ISO UTC)."""

    findings: list[Finding]
    checked_at: str
    source: str | None = None
    target: str | None = None

    def __post_init__(self) -> None:
        self.findings = sorted(self.findings, key=_sort_key)

    @property
    def blocking(self) -> list[Finding]:
        """Findings that stop the sync from starting (see :func:`assert_can_start`)."""
        return [f for f in self.findings if f.severity == BLOCKING]

    @property
    def by_severity(self) -> dict[str, list[Finding]]:
        """Every severity (worst first) → its findings (possibly empty)."""
        return {severity: [f for f in self.findings if f.severity == severity] for severity in SEVERITIES}

    @property
    def counts(self) -> dict[str, int]:
        """Number of findings per severity."""
        return {severity: len(items) for severity, items in self.by_severity.items()}

    @property
    def fixable(self) -> list[Finding]:
        return [f for f in self.findings if f.fixable]

    @property
    def clean(self) -> bool:
        """No blocking finding and no record expected to fail."""
        return not any(f.severity in (BLOCKING, RECORDS_WILL_FAIL) for f in self.findings)

    def summary(self) -> str:
        """``"1 blocking, 2 records will fail, 5 warnings"`` (or ``"no findings"``)."""
        counts = self.counts
        if not self.findings:
            return "no findings"
        parts = [f"{counts[BLOCKING]} blocking", f"{counts[RECORDS_WILL_FAIL]} records will fail",
                 f"{counts[WARNING]} warning" + ("" if counts[WARNING] == 1 else "s")]
        return ", ".join(p for p in parts if not p.startswith("0 "))

    def of_kind(self, *kinds: str) -> list[Finding]:
        return [f for f in self.findings if f.kind in kinds]

    def enable_candidates(self) -> list[Finding]:
        """Automation disabled on the target but active on the source (Enable Disabled Metadata)."""
        return [f for f in self.findings if f.data.get("fix") == FIX_ENABLE]

    def automation_off_candidates(self) -> list[AutomationItem]:
        """Automation active on the target only, switchable: what the GUI pre-ticks for automation control."""
        items = []
        for finding in self.findings:
            if finding.fixable and finding.data.get("fix") == FIX_SWITCH_OFF and not finding.data.get("source_active"):
                item = finding.automation_item()
                if item is not None:
                    items.append(item)
        return items

    def to_frame(self) -> pd.DataFrame:
        """One row per finding (columns :data:`REPORT_COLUMNS`), raw values, worst first."""
        rows = [{
            "Severity": f.severity, "Kind": f.kind, "Object": f.object, "Field": f.field or "",
            "Item": f.item or "", "Message": f.message, "Suggested Fix": f.fix, "Fixable": "yes" if f.fixable else "no",
            "Affected Records": "" if f.affected is None else f.affected,
            "Details": json.dumps(f.data, sort_keys=True, default=str),
        } for f in self.findings]
        return pd.DataFrame(rows, columns=REPORT_COLUMNS)

    def export_csv(self, path: Path | str) -> int:
        """Write the report to ``path`` as CSV; returns the number of findings written.

        Same format as the error export (:mod:`.export`): UTF-8 with BOM, CRLF, formula-like cells
        neutralised, written atomically. Raises ``FileNotFoundError``/``NotADirectoryError``/
        ``PermissionError``/``IsADirectoryError`` with a readable message.
        """
        path = Path(path)
        folder = path.parent
        if not folder.exists():
            raise FileNotFoundError(f"cannot export the check: the folder {folder} does not exist")
        if not folder.is_dir():
            raise NotADirectoryError(f"cannot export the check: {folder} is not a folder")
        if path.is_dir():
            raise IsADirectoryError(f"cannot export the check: {path} is a folder, not a file name")
        if not os.access(folder, os.W_OK | os.X_OK):
            raise PermissionError(f"cannot export the check: the folder {folder} is not writable")
        frame = self.to_frame()
        safe = frame.map(neutralise_formula) if len(frame) else frame
        paths.atomic_write_text(path, safe.to_csv(index=False, lineterminator="\r\n"), encoding="utf-8-sig")
        if os.name == "posix":
            os.chmod(path, 0o644)
        logger.info("exported %d pre-flight finding(s) to %s", len(frame), path)
        return len(frame)

    def as_json(self) -> dict[str, Any]:
        return {"checked_at": self.checked_at, "source": self.source, "target": self.target,
                "findings": [f.as_json() for f in self.findings]}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreflightReport:
        return cls([Finding.from_json(f) for f in data.get("findings", [])], str(data.get("checked_at") or ""),
                   data.get("source"), data.get("target"))


class PreflightBlocked(Exception):
    """The sync may not start: blocking findings are open (``findings``) and nobody overrode them."""

    def __init__(self, findings: list[Finding]):
        lines = "\n".join(f"- {f.location}: {f.message}" for f in findings)
        super().__init__(f"the sync cannot start: {len(findings)} blocking finding"
                         f"{'' if len(findings) == 1 else 's'} of the metadata check "
                         f"{'is' if len(findings) == 1 else 'are'} open:\n{lines}\n"
                         "Fix them and check again, or start with the override.")
        self.findings = list(findings)


def assert_can_start(report: PreflightReport, override: bool = False) -> list[Finding]:
    """Raise :class:`PreflightBlocked` when ``report`` has blocking findings, unless ``override``.

    Returns the blocking findings that were overridden (empty when there were none), so the caller
    can note the override (e.g. as a notice in the journal).
    """
    blocking = report.blocking
    if blocking and not override:
        raise PreflightBlocked(blocking)
    if blocking:
        logger.info("the user overrode %d blocking pre-flight finding(s): %s", len(blocking),
                    "; ".join(f.location for f in blocking))
    return blocking


# ====================================================================== the fixes
def enable_disabled_metadata(target: PreflightOrg, findings: Iterable[Finding]) -> list[FixResult]:
    """Activate on ``target`` the automation the check found disabled there but active on the source.

    Only findings with ``data["fix"] == "enable"`` are used (other findings are ignored), once per
    item: validation rules get their full Metadata back with ``active: true``, flows their latest
    version activated, triggers ``status: Active``. A production org refuses triggers; that, like
    any refusal, is a result (``status`` ``refused``), never an exception.
    """
    results: list[FixResult] = []
    seen: set[tuple[str, str]] = set()
    for finding in findings:
        if finding.data.get("fix") != FIX_ENABLE:
            continue
        item = finding.automation_item()
        if item is None or item.key in seen:
            continue
        seen.add(item.key)
        results.append(set_active(target, item, True, version=item.latest_version))
    return results


# ====================================================================== scope
@dataclass
class _Line:
    """One object in scope, from a template line or a saved plan."""

    object: str
    fields: list[str] | None
    filter: str | None
    limit: int | None
    insert: bool
    update: bool
    match_by: list[str] | None
    from_plan: bool


def _lines(subject: Template | Plan | dict[str, Any]) -> tuple[list[_Line], bool]:
    """(lines in scope, skip_missing_fields) of a template, template document or plan."""
    if isinstance(subject, Plan):
        lines = [_Line(p.object, list(p.fields), p.filter, p.limit, p.insert, p.update, list(p.match_by), True)
                 for p in (subject.objects[name] for name in subject.order)]
        return lines, False
    template = subject if isinstance(subject, Template) else parse_template(subject)
    lines = [_Line(line.object, list(line.fields) if line.fields is not None else None, line.filter, line.limit,
                   line.insert, line.update, list(line.match_by) if line.match_by else None, False)
             for line in template.objects]
    return lines, template.skip_missing_fields


def _switched_off(subject: Template | Plan | dict[str, Any]) -> set[tuple[str, str]]:
    """Keys of the automation the template's ``automation_off`` switches off during the sync."""
    if isinstance(subject, Plan):
        return set()
    template = subject if isinstance(subject, Template) else parse_template(subject)
    return {item.key for item in parse_automation_off(template.options.get("automation_off"))}


def _ci(mapping: Mapping[str, Any], name: str) -> str | None:
    if name in mapping:
        return name
    lowered = name.lower()
    return next((k for k in mapping if k.lower() == lowered), None)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _is_required(meta: Mapping[str, Any]) -> bool:
    return bool(meta.get("createable")) and not meta.get("nillable") and not meta.get("defaultedOnCreate") \
        and meta.get("type") != "boolean"


def _conversion(source_type: str, target_type: str) -> str:
    """``ok``, ``lossy`` or ``fail``: can a value of ``source_type`` be saved in ``target_type``?"""
    if source_type == target_type:
        return "ok"
    if target_type in TEXT_TYPES:
        return "lossy" if source_type in REFERENCE_TYPES else "ok"
    if source_type in NUMBER_TYPES and target_type in NUMBER_TYPES:
        return "lossy" if target_type == "int" else "ok"
    if source_type == "date" and target_type == "datetime":
        return "ok"
    if source_type == "datetime" and target_type == "date":
        return "lossy"
    if source_type in REFERENCE_TYPES and target_type in REFERENCE_TYPES:
        return "ok"
    return "fail"


def _picklist_values(meta: Mapping[str, Any]) -> list[str]:
    return [str(v["value"]) for v in meta.get("picklistValues") or [] if v.get("active", True) and "value" in v]


def _plural(count: int | None, noun: str = "record") -> str:
    if count is None:
        return f"an unknown number of {noun}s"
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _counted(severity: str, affected: int | None) -> str:
    """``severity``, or a warning when the count shows no record is affected."""
    return WARNING if affected == 0 else severity


# ====================================================================== the check
def check_metadata(subject: Template | Plan | dict[str, Any], source: PreflightOrg, target: PreflightOrg, *,
                   scan_counts: Mapping[str, int] | None = None,
                   source_records: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
                   count_budget: int = 200) -> PreflightReport:
    """Compare ``source`` and ``target`` for what ``subject`` puts in scope; see the module doc.

    ``subject`` is the job's template (preferred: it tells which fields were asked for, so fields
    missing on the target are found), a template document, or a saved :class:`Plan` (its objects,
    fields and Insert/Update switches). ``scan_counts`` (object → records in scope, from a scan)
    saves the count queries; ``source_records`` (object → source records read by a scan, any
    subset) lets the check count text values too long for the target. Org errors in one part of
    the check become ``check_failed`` warnings; errors reading the describes of the objects raise
    :class:`OrgApiError`. At most ``count_budget`` COUNT queries are sent; later counts are None.
    """
    checker = _Checker(source, target, scan_counts or {}, source_records or {}, count_budget)
    lines, skip_missing = _lines(subject)
    checker.switched_off = _switched_off(subject)
    checker.run(lines, skip_missing)
    report = PreflightReport(checker.findings, utc_now(), getattr(source, "alias", None) or None,
                             getattr(target, "alias", None) or None)
    logger.info("metadata check %s → %s: %s", report.source or "source", report.target or "target", report.summary())
    return report


@dataclass
class _Object:
    """An in-scope object present in both orgs, with what the check resolved about it."""

    line: _Line
    name: str
    source: dict[str, dict[str, Any]]
    target: dict[str, dict[str, Any]]
    fields: list[str] = field(default_factory=list)     # in scope and present in both orgs


class _Checker:
    """One run of the check; collects findings."""

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

    # ------------------------------------------------------------------ helpers
    def add(self, kind: str, obj: str, field_name: str | None, item: str | None, severity: str, message: str,
            suggestion: str, *, fixable: bool = False, **data: Any) -> None:
        """Record a finding; ``data`` keyword arguments become :attr:`Finding.data`."""
        self.findings.append(Finding(kind, obj, field_name, item, severity, message, suggestion, fixable, data))

    def count(self, line: _Line, obj: str, where: str | None = None) -> int | None:
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

    def _failed(self, obj: str, what: str, exc: OrgApiError, fix: str) -> None:
        self.add(CHECK_FAILED, obj, None, None, WARNING, f"could not {what}: {exc.message.strip()}", fix,
                 error_code=exc.error_code)

    # ------------------------------------------------------------------ the whole check
    def run(self, lines: list[_Line], skip_missing: bool) -> None:
        source_names = {n.lower(): n for n in self.source.object_names()}
        target_names = {n.lower(): n for n in self.target.object_names()}
        objects: list[_Object] = []
        for line in lines:
            obj = self._objects(line, source_names, target_names)
            if obj is not None:
                self._fields(obj, skip_missing)
                self._match_key(obj)
                objects.append(obj)
        if objects:
            self._record_types(objects)
            self._users(objects)
            self._automation(objects)

    # ------------------------------------------------------------------ objects
    def _objects(self, line: _Line, source_names: dict[str, str], target_names: dict[str, str]) -> _Object | None:
        name = source_names.get(line.object.lower())
        if name is None:
            self.add(MISSING_OBJECT, line.object, None, None, BLOCKING,
                     f"{line.object} does not exist in the source org (or the source user cannot see it)",
                     f"remove {line.object} from the template, or give the source org's user access to it",
                     side="source")
            return None
        if name.lower() not in target_names:
            in_scope = self.count(line, name)
            self.add(MISSING_OBJECT, name, None, None, BLOCKING,
                     f"{name} does not exist in the target org (or the target user cannot see it); "
                     f"{_plural(in_scope)} in scope cannot be synced",
                     f"deploy {name} to the target org or give its user access to it, or remove {name} from the "
                     "template", side="target", records_in_scope=in_scope, affected=in_scope)
            return None
        src_desc = self.source.describe(name)
        tgt_desc = self.target.describe(target_names[name.lower()])
        obj = _Object(line, name, {f["name"]: f for f in src_desc.get("fields", [])},
                      {f["name"]: f for f in tgt_desc.get("fields", [])})
        can_create, can_update = bool(tgt_desc.get("createable", True)), bool(tgt_desc.get("updateable", True))
        wants = (line.insert and not can_create) or (line.update and not can_update)
        if wants:
            in_scope = self.count(line, name)
            grant = f"give the target org's user create and edit permission on {name}"
            if not can_create and not can_update:
                self.add(OBJECT_ACCESS, name, None, None, BLOCKING,
                         f"the target org's user can neither create nor update {name} records", grant,
                         createable=False, updateable=False, records_in_scope=in_scope, affected=in_scope)
            elif line.insert and not can_create:
                self.add(OBJECT_ACCESS, name, None, None, _counted(RECORDS_WILL_FAIL, in_scope),
                         f"the target org's user cannot create {name} records: every record not already in the "
                         f"target fails (up to {_plural(in_scope)})",
                         f"{grant}, or turn off \"Insert new records\" for {name}",
                         createable=False, updateable=can_update, records_in_scope=in_scope, affected=in_scope)
            if line.update and not can_update and can_create:
                self.add(OBJECT_ACCESS, name, None, None, _counted(RECORDS_WILL_FAIL, in_scope),
                         f"the target org's user cannot update {name} records: every record that already exists "
                         f"in the target and changed fails (up to {_plural(in_scope)})",
                         f"{grant}, or turn off \"Update existing records\" for {name}",
                         createable=can_create, updateable=False, records_in_scope=in_scope, affected=in_scope)
        return obj

    # ------------------------------------------------------------------ fields
    def _scope_fields(self, obj: _Object) -> list[str]:
        """Source field names in scope (canonical case); reports names the source lacks."""
        line = obj.line
        if line.fields is None:
            return [name for name, meta in obj.source.items()
                    if name not in SYSTEM_FIELDS and meta.get("type") not in SKIPPED_TYPES
                    and not meta.get("calculated") and not meta.get("autoNumber") and meta.get("createable")]
        out: list[str] = []
        for requested in line.fields:
            actual = _ci(obj.source, requested)
            if actual is None:
                self.add(MISSING_FIELD, obj.name, requested, None, BLOCKING,
                         f"{obj.name}.{requested} does not exist in the source org (or its user cannot read it)",
                         f"remove {requested} from the template's fields for {obj.name}", side="source")
                continue
            out.append(actual)
        return out

    def _fields(self, obj: _Object, skip_missing: bool) -> None:
        line = obj.line
        for name in self._scope_fields(obj):
            tname = _ci(obj.target, name)
            if tname is None:
                self._missing_field(obj, name, skip_missing)
                continue
            smeta, tmeta = obj.source[name], obj.target[tname]
            if not tmeta.get("createable") and not tmeta.get("updateable"):
                self.add(FIELD_ACCESS, obj.name, name, None, WARNING,
                         f"the target org's user cannot edit {obj.name}.{name}; its values are not carried",
                         f"give the target org's user edit access to {obj.name}.{name} (field-level security)",
                         createable=False, updateable=False)
                continue
            obj.fields.append(name)
            if line.insert and not tmeta.get("createable"):
                self.add(FIELD_ACCESS, obj.name, name, None, WARNING,
                         f"the target org's user cannot set {obj.name}.{name} on new records; it stays empty on "
                         "inserted records", f"give the target org's user create access to {obj.name}.{name} "
                         "(field-level security)", createable=False, updateable=True)
            if line.update and not tmeta.get("updateable") and tmeta.get("type") != "reference":
                self.add(FIELD_ACCESS, obj.name, name, None, WARNING,
                         f"the target org's user cannot change {obj.name}.{name} on existing records; updates "
                         "leave it as it is", f"give the target org's user edit access to {obj.name}.{name} "
                         "(field-level security)", createable=True, updateable=False)
            self._type(obj, name, smeta, tmeta)
            if _is_required(tmeta) and smeta.get("nillable", True):
                empty = self.count(line, obj.name, f"{name} = null") if smeta.get("filterable", True) else None
                if empty != 0:
                    self.add(REQUIRED_FIELD, obj.name, name, None, RECORDS_WILL_FAIL,
                             f"{obj.name}.{name} is required in the target org; {_plural(empty)} in scope leave "
                             "it empty and will fail", f"fill {name} in the source records, give it a default "
                             "value in the target org, or filter those records out",
                             affected=empty, reason="empty in source")
        scope = {f.lower() for f in obj.fields}
        if line.insert:
            for tname, tmeta in obj.target.items():
                if tname.lower() in scope or tname in SYSTEM_FIELDS or not _is_required(tmeta):
                    continue
                in_scope = self.count(line, obj.name)
                sname = _ci(obj.source, tname)
                if sname is not None and obj.source[sname].get("createable"):
                    fix = f"add {sname} to the template's fields for {obj.name}"
                else:
                    fix = (f"give {obj.name}.{tname} a default value in the target org or make it optional there "
                           "(the source org has no value to send)")
                self.add(REQUIRED_FIELD, obj.name, tname, None, _counted(RECORDS_WILL_FAIL, in_scope),
                         f"{obj.name}.{tname} is required in the target org but the template does not fill it: "
                         f"every new record fails (up to {_plural(in_scope)} in scope)", fix,
                         affected=in_scope, records_in_scope=in_scope, reason="not in template")

    def _missing_field(self, obj: _Object, name: str, skip_missing: bool) -> None:
        line = obj.line
        if line.from_plan:
            severity, fix = BLOCKING, (f"create {obj.name}.{name} in the target org, or build the job's plan "
                                       "again (scan) so it leaves the field out")
            message = f"{obj.name}.{name} is in the job's plan but no longer exists in the target org"
        elif line.fields is None or skip_missing:
            severity, fix = WARNING, f"create {obj.name}.{name} in the target org if its values are needed"
            message = f"{obj.name}.{name} does not exist in the target org; it is left out of the sync"
        else:
            severity = BLOCKING
            fix = (f"create {obj.name}.{name} in the target org, remove it from the template, or turn on "
                   "\"skip missing fields\"")
            message = f"{obj.name}.{name} does not exist in the target org and \"skip missing fields\" is off"
        filled = None
        meta = obj.source.get(name, {})
        if meta.get("filterable", True) and meta.get("type") != "boolean":
            filled = self.count(line, obj.name, f"{name} != null")
        if filled is not None:
            message += f" ({_plural(filled)} in scope have a value)"
        self.add(MISSING_FIELD, obj.name, name, None, severity, message, fix, side="target",
                 records_with_value=filled)

    def _type(self, obj: _Object, name: str, smeta: dict[str, Any], tmeta: dict[str, Any]) -> None:
        line = obj.line
        stype, ttype = str(smeta.get("type") or "string"), str(tmeta.get("type") or "string")
        filterable = bool(smeta.get("filterable", True))
        conversion = _conversion(stype, ttype)
        if conversion == "fail":
            filled = self.count(line, obj.name, f"{name} != null") if filterable and stype != "boolean" else None
            self.add(TYPE_MISMATCH, obj.name, name, None, _counted(RECORDS_WILL_FAIL, filled),
                     f"{obj.name}.{name} is {stype} in the source org but {ttype} in the target org; "
                     f"{_plural(filled)} with a value will be rejected",
                     f"change the field type in one org so they match, or leave {name} out of the template",
                     source_type=stype, target_type=ttype, affected=filled)
            return
        if conversion == "lossy":
            self.add(TYPE_MISMATCH, obj.name, name, None, WARNING,
                     f"{obj.name}.{name} is {stype} in the source org but {ttype} in the target org; values may be "
                     "rounded, cut or meaningless there", "check a few synced records, or make the types match",
                     source_type=stype, target_type=ttype)
        if ttype in ("picklist", "multipicklist"):
            self._picklist(obj, name, smeta, tmeta)
        elif ttype in _LENGTH_TYPES and stype in TEXT_TYPES:
            self._length(obj, name, smeta, tmeta)
        elif stype in NUMBER_TYPES and ttype in NUMBER_TYPES and ttype != "int":
            sdigits = int(smeta.get("precision") or 0) - int(smeta.get("scale") or 0)
            tdigits = int(tmeta.get("precision") or 0) - int(tmeta.get("scale") or 0)
            if smeta.get("precision") and tmeta.get("precision") and tdigits < sdigits:
                self.add(FIELD_LENGTH, obj.name, name, None, WARNING,
                         f"{obj.name}.{name} holds {tdigits} digits before the decimal point in the target org but "
                         f"{sdigits} in the source org; larger numbers will be rejected",
                         f"raise the precision of {name} in the target org", source_digits=sdigits,
                         target_digits=tdigits)

    def _picklist(self, obj: _Object, name: str, smeta: dict[str, Any], tmeta: dict[str, Any]) -> None:
        line = obj.line
        target_values = _picklist_values(tmeta)
        known = {v.lower() for v in target_values}
        source_is_picklist = smeta.get("type") in ("picklist", "multipicklist")
        missing = [v for v in _picklist_values(smeta) if v.lower() not in known] if source_is_picklist else []
        restricted = bool(tmeta.get("restrictedPicklist"))
        if not restricted:
            if missing:
                self.add(PICKLIST_VALUES, obj.name, name, None, WARNING,
                         f"{obj.name}.{name} in the target org does not list {len(missing)} value(s) the source "
                         f"uses ({', '.join(missing[:10])}{'...' if len(missing) > 10 else ''}); they are saved "
                         "anyway because the picklist is not restricted",
                         f"add the values to {name} in the target org", values=missing, restricted=False)
            return
        affected: int | None = None
        filterable = bool(smeta.get("filterable", True))
        if tmeta.get("type") == "picklist" and smeta.get("type") != "multipicklist" and filterable:
            listed = ", ".join(_quote(v) for v in target_values)
            if not target_values:
                affected = self.count(line, obj.name, f"{name} != null")
            elif len(listed) < _MAX_IN_LIST_CHARS:
                affected = self.count(line, obj.name, f"{name} != null AND {name} NOT IN ({listed})")
            elif missing:
                affected = self.count(line, obj.name,
                                      f"{name} IN ({', '.join(_quote(v) for v in missing)})")
        if not missing and (affected == 0 or (affected is None and source_is_picklist)):
            return      # every value the source can hold is listed, and no stray value was counted
        shown = f"{', '.join(missing[:10])}{'...' if len(missing) > 10 else ''}"
        if missing:
            message = f"{obj.name}.{name} is a restricted picklist in the target org without {len(missing)} " \
                      f"value(s) the source has ({shown})"
        else:
            message = f"{obj.name}.{name} is a restricted picklist in the target org; source values it does not " \
                      "list are rejected"
        if affected is not None:
            message += f": {_plural(affected)} in scope use such values and will fail"
        severity = _counted(RECORDS_WILL_FAIL, affected) if (missing or affected) else WARNING
        self.add(PICKLIST_VALUES, obj.name, name, None, severity, message,
                 f"add the missing values to {name} in the target org, or filter those records out",
                 values=missing, restricted=True, affected=affected)

    def _length(self, obj: _Object, name: str, smeta: dict[str, Any], tmeta: dict[str, Any]) -> None:
        slen, tlen = int(smeta.get("length") or 0), int(tmeta.get("length") or 0)
        if not tlen or not slen or tlen >= slen:
            return
        records = self.sample(obj.name)
        affected: int | None = None
        sampled: int | None = None
        if records is not None:
            sampled = len(records)
            affected = sum(1 for r in records if isinstance(r.get(name), str) and len(r[name]) > tlen)
        if affected is None:
            severity = WARNING
            tail = "values longer than that will be rejected (no scan to count them from)"
        elif affected:
            severity = RECORDS_WILL_FAIL
            tail = f"{_plural(affected)} of {sampled} scanned have longer values and will fail"
        else:
            severity = WARNING
            tail = f"none of the {sampled} scanned records has a longer value"
        self.add(FIELD_LENGTH, obj.name, name, None, severity,
                 f"{obj.name}.{name} holds {tlen} characters in the target org but {slen} in the source org; {tail}",
                 f"make {name} at least {slen} characters long in the target org, or shorten the source values",
                 source_length=slen, target_length=tlen, affected=affected, sampled=sampled)

    def _match_key(self, obj: _Object) -> None:
        line = obj.line
        if not line.match_by:
            has_key = any((m.get("externalId") or m.get("nameField")) and _ci(obj.target, n)
                          for n, m in obj.source.items())
            if not has_key:
                self.add(MATCH_KEY, obj.name, None, None, BLOCKING,
                         f"{obj.name} has no external id or name field in both orgs to match records on",
                         f"set \"match_by\" for {obj.name} in the template")
            return
        for path in line.match_by:
            first, _, rest = path.partition(".")
            if not rest:
                if _ci(obj.source, first) is not None and _ci(obj.target, first) is None:
                    self.add(MATCH_KEY, obj.name, first, None, BLOCKING,
                             f"the match key {obj.name}.{first} does not exist in the target org",
                             f"create {first} in the target org or match {obj.name} on another field")
                continue
            has_relationship = any(str(m.get("relationshipName") or "").lower() == first.lower()
                                   for m in obj.target.values())
            if not has_relationship:
                self.add(MATCH_KEY, obj.name, path, None, BLOCKING,
                         f"the match key {obj.name}.{path}: the target org has no relationship {first} on "
                         f"{obj.name}", f"match {obj.name} on another field")

    # ------------------------------------------------------------------ record types
    def _record_types(self, objects: list[_Object]) -> None:
        with_rt = [o for o in objects if any(f.lower() == "recordtypeid" for f in o.fields)]
        if not with_rt:
            return
        names = ", ".join(_quote(o.name) for o in with_rt)
        soql = f"SELECT Id, DeveloperName, SobjectType, IsActive FROM RecordType WHERE SobjectType IN ({names})"
        try:
            source_rts = self.source.query(soql)
            target_rts = self.target.query(soql)
        except OrgApiError as exc:
            self._failed(with_rt[0].name, "compare record types", exc,
                         "check that both users can read RecordType, then check again")
            return
        index = {(r["SobjectType"].lower(), r["DeveloperName"]): r for r in target_rts}
        by_name = {o.name.lower(): o for o in with_rt}
        for rt in source_rts:
            obj = by_name.get(str(rt.get("SobjectType")).lower())
            if obj is None:
                continue
            label = f"{obj.name}.{rt['DeveloperName']}"
            match = index.get((obj.name.lower(), rt["DeveloperName"]))
            if match is not None and match.get("IsActive", True):
                continue
            used = self.count(obj.line, obj.name, f"RecordTypeId = {_quote(rt['Id'])}")
            if match is None:
                self.add(RECORD_TYPE, obj.name, "RecordTypeId", label, _counted(RECORDS_WILL_FAIL, used),
                         f"record type {label} does not exist in the target org (by DeveloperName); "
                         f"{_plural(used)} in scope use it and will fail",
                         f"create the record type {rt['DeveloperName']} on {obj.name} in the target org, or filter "
                         "those records out", developer_name=rt["DeveloperName"], source_id=rt["Id"], affected=used)
            else:
                self.add(RECORD_TYPE, obj.name, "RecordTypeId", label, _counted(RECORDS_WILL_FAIL, used),
                         f"record type {label} is inactive in the target org; {_plural(used)} in scope use it and "
                         "will fail", f"activate the record type {rt['DeveloperName']} in the target org",
                         developer_name=rt["DeveloperName"], source_id=rt["Id"], target_id=match["Id"],
                         affected=used, inactive=True)

    # ------------------------------------------------------------------ users
    def _users(self, objects: list[_Object]) -> None:
        """Source users that will not map, by the runner's rule: username, then email of an active user."""
        user_fields: list[tuple[_Object, str]] = []
        for obj in objects:
            for name in obj.fields:
                targets = list(obj.source[name].get("referenceTo") or [])
                if obj.source[name].get("type") == "reference" and "User" in targets \
                        and set(targets) <= {"User", "Group"}:
                    user_fields.append((obj, name))
        if not user_fields:
            return
        try:
            source_users = self.source.query(SOURCE_USER_SOQL)
            target_users = self.target.query(TARGET_USER_SOQL)
        except OrgApiError as exc:
            self._failed(user_fields[0][0].name, "compare users", exc,
                         "check that both users can read User records, then check again")
            return
        matches = match_users(source_users, target_users)
        counted = 0
        for user in source_users:
            match = matches[user["Id"]]
            if match is not None and match.get("IsActive", True):
                continue
            affected: int | None = None
            per_field: dict[str, int | None] = {}
            if counted < _MAX_USERS_COUNTED:
                counted += 1
                for obj, name in user_fields:
                    per_field[f"{obj.name}.{name}"] = self.count(obj.line, obj.name, f"{name} = {_quote(user['Id'])}")
                known = [v for v in per_field.values() if v is not None]
                affected = sum(known) if len(known) == len(per_field) else None
                if affected == 0:
                    continue      # no record in scope refers to this user
            label = str(user.get("Username") or user["Id"])
            email = str(user.get("Email") or "")
            who = f"user {label}" + (f" ({email})" if email and email.lower() != label.lower() else "")
            spread = ", ".join(f"{where} {n}" for where, n in per_field.items() if n)
            scope = f"{_plural(affected)} in scope" + (f" ({spread})" if spread and len(per_field) > 1 else "")
            field_name = user_fields[0][1] if len(user_fields) == 1 else None
            obj_name = user_fields[0][0].name if len({o.name for o, _ in user_fields}) == 1 else "User"
            if match is None:
                self.add(USER_MAPPING, obj_name, field_name, label, WARNING,
                         f"{who} has no user in the target org with the same username or an active one with the "
                         f"same email; {scope} go to the running user instead",
                         f"create or activate a user with the username or email {email or label} in the target "
                         "org", source_id=user["Id"], affected=affected, by_field=per_field)
            else:
                self.add(USER_MAPPING, obj_name, field_name, label, _counted(RECORDS_WILL_FAIL, affected),
                         f"{who} maps to the inactive target user {match.get('Username')}; {scope} that name "
                         "them will fail",
                         f"activate {match.get('Username')} in the target org", source_id=user["Id"],
                         target_id=match["Id"], affected=affected, by_field=per_field, inactive=True)

    # ------------------------------------------------------------------ automation
    def _automation(self, objects: list[_Object]) -> None:
        names = [o.name for o in objects]
        production = is_production(self.target)
        for kind in (VALIDATION_RULE, APEX_TRIGGER, FLOW):
            label = KIND_LABELS[kind] + "s"
            try:
                target_items = self._list(kind, self.target, names, production)
            except OrgApiError as exc:
                self._failed(names[0], f"read the target org's {label}", exc,
                             "give the target org's user access to the Tooling API (View Setup and Configuration), "
                             "then check again")
                continue
            try:
                source_items = {i.key: i for i in self._list(kind, self.source, names, False)}
                source_known = True
            except OrgApiError as exc:
                self._failed(names[0], f"read the source org's {label}", exc,
                             "give the source org's user access to the Tooling API, then check again")
                source_items, source_known = {}, False
            for item in target_items:
                self._automation_item(item, source_items.get(item.key), source_known, production)

    @staticmethod
    def _list(kind: str, org: PreflightOrg, names: list[str], production: bool | None) -> list[AutomationItem]:
        if kind == VALIDATION_RULE:
            return list_validation_rules(org, names)
        if kind == APEX_TRIGGER:
            return list_triggers(org, names, production=production)
        return list_flows(org, names)

    def _automation_item(self, item: AutomationItem, source: AutomationItem | None, source_known: bool,
                         production: bool | None) -> None:
        kind = AUTOMATION_KINDS[item.kind]
        obj = item.object or ""
        source_active = bool(source and source.active)
        data: dict[str, Any] = {"automation": item.as_json(), "target_active": bool(item.active),
                                "source_active": source_active if source_known else None,
                                "source_exists": source is not None if source_known else None,
                                "target_id": item.id, "detail": item.detail}
        if item.kind == FLOW:
            data["latest_version"] = item.latest_version
        what = item.display_name
        where_source = ("active in the source org" if source_active else
                        "inactive in the source org" if source is not None else
                        "not in the source org" if source_known else "unknown in the source org")
        switch_fix = (f"switch it off for the run (automation control: tick {what})" if item.switchable
                      else PRODUCTION_TRIGGER_NOTE)
        if item.active and not source_active and item.switchable and item.key in self.switched_off:
            self.add(kind, obj, None, item.name, WARNING,
                     f"{what} is active in the target org but {where_source}; the template switches it off during "
                     "the sync, so it does not run for the records the sync writes",
                     "nothing to do: it is switched back on when the sync ends (untick it in automation control "
                     "to keep it on)", fixable=item.switchable, fix=FIX_SWITCH_OFF, switched_off=True, **data)
        elif item.active and not source_active:
            if item.kind == VALIDATION_RULE:
                severity = RECORDS_WILL_FAIL
                message = (f"{what} is active in the target org but {where_source}: source records that break it "
                           "will be rejected")
                fix = f"{switch_fix}, or correct the source data"
            else:
                severity = WARNING
                message = (f"{what} is active in the target org but {where_source}: it runs for every record the "
                           f"sync writes{f' ({item.detail})' if item.detail else ''} and may change or reject them")
                fix = switch_fix
            self.add(kind, obj, None, item.name, severity, message, fix, fixable=item.switchable,
                     fix=FIX_SWITCH_OFF, **data)
        elif item.active:
            self.add(kind, obj, None, item.name, WARNING,
                     f"{what} is active in both orgs; it runs for every record the sync writes",
                     f"nothing to do unless it rejects synced records; then {switch_fix}",
                     fixable=item.switchable, fix=FIX_SWITCH_OFF, **data)
        elif source_active:
            fixable = item.switchable
            fix = ("activate it in the target org (Enable Disabled Metadata)" if fixable
                   else PRODUCTION_TRIGGER_NOTE)
            self.add(kind, obj, None, item.name, WARNING,
                     f"{what} is active in the source org but disabled in the target org: synced records do not "
                     "get what it does in the source", fix, fixable=fixable, fix=FIX_ENABLE, **data)


__all__ = [
    "BLOCKING", "RECORDS_WILL_FAIL", "WARNING", "SEVERITIES", "Finding", "PreflightReport", "PreflightBlocked",
    "FixResult", "assert_can_start", "check_metadata", "enable_disabled_metadata", "FIX_ENABLE", "FIX_SWITCH_OFF",
    "MISSING_OBJECT", "OBJECT_ACCESS", "MISSING_FIELD", "MATCH_KEY", "TYPE_MISMATCH", "PICKLIST_VALUES",
    "FIELD_LENGTH", "FIELD_ACCESS", "REQUIRED_FIELD", "VALIDATION_RULE_STATE", "TRIGGER_STATE", "FLOW_STATE",
    "RECORD_TYPE", "USER_MAPPING", "CHECK_FAILED", "REPORT_COLUMNS",
]
