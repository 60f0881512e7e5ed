"""The pre-flight report: severities, finding kinds, :class:`Finding`, :class:`PreflightReport` (with its
CSV export) and :func:`assert_can_start`, which refuses a sync while blocking findings are open.

What each severity means is in the package doc (:mod:`isyncsf_desktop.engine.preflight`).
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from ... import paths
from ..automation import APEX_TRIGGER, FLOW, VALIDATION_RULE, AutomationItem
from ..export import neutralise_formula

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
QUEUE_MAPPING = "queue_mapping"
PERSON_ACCOUNTS = "person_accounts"
CHECK_FAILED = "check_failed"
AUTOMATION_KINDS: dict[str, str] = {VALIDATION_RULE: VALIDATION_RULE_STATE, APEX_TRIGGER: TRIGGER_STATE,
                                    FLOW: FLOW_STATE}

FIX_ENABLE = "enable"          # Finding.data["fix"]: Enable Disabled Metadata activates it
FIX_SWITCH_OFF = "switch_off"  # Finding.data["fix"]: automation control can switch it off for the run

REPORT_COLUMNS: list[str] = ["Severity", "Kind", "Object", "Field", "Item", "Message", "Suggested Fix", "Fixable",
                             "Affected Records", "Details"]


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
        """``"1 blocking, 2 where records will fail, 5 warnings"`` (or ``"no findings"``): counts of findings (one
        finding may cover many records), never of records."""
        counts = self.counts
        if not self.findings:
            return "no findings"
        parts = [f"{counts[BLOCKING]} blocking", f"{counts[RECORDS_WILL_FAIL]} where records will fail",
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
