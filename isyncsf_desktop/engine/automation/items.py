"""Automation items: the kinds, one :class:`AutomationItem`, the template's ``automation_off`` option, and
the :class:`FixResult` of switching one item.

Nothing here talks to an org: :mod:`.tooling` reads and switches items, :mod:`.guard` switches them off
around a run and back on afterwards.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

VALIDATION_RULE = "ValidationRule"
APEX_TRIGGER = "ApexTrigger"
FLOW = "Flow"
KINDS: tuple[str, ...] = (VALIDATION_RULE, APEX_TRIGGER, FLOW)
KIND_LABELS: dict[str, str] = {VALIDATION_RULE: "validation rule", APEX_TRIGGER: "Apex trigger", FLOW: "flow"}
TOOLING_OBJECTS: dict[str, str] = {VALIDATION_RULE: "ValidationRule", APEX_TRIGGER: "ApexTrigger",
                                   FLOW: "FlowDefinition"}
_KIND_ALIASES: dict[str, str] = {
    "validationrule": VALIDATION_RULE, "validation_rule": VALIDATION_RULE, "validation rule": VALIDATION_RULE,
    "apextrigger": APEX_TRIGGER, "trigger": APEX_TRIGGER, "apex_trigger": APEX_TRIGGER,
    "flow": FLOW, "flowdefinition": FLOW,
}
RECORD_TRIGGER_TYPES = frozenset({"RecordBeforeSave", "RecordAfterSave", "RecordBeforeDelete"})
"""Flow ``TriggerType`` values of record-triggered flows."""

# FixResult.status values
DONE = "done"                # the org accepted the change
UNCHANGED = "unchanged"      # it already was in the wanted state: nothing sent
REFUSED = "refused"          # the org answered with an error (e.g. triggers in production)
NOT_FOUND = "not found"      # no such item in the org
FAILED = "failed"            # no answer (connection) or an unexpected problem

PRODUCTION_TRIGGER_NOTE = ("Apex triggers cannot be switched on or off in a production org through the API: "
                           "set <status> in the trigger's -meta.xml and deploy it (Metadata API, with the org's "
                           "tests), or switch it in a sandbox")


class AutomationError(ValueError):
    """An ``automation_off`` option that cannot be used; the message names the entry."""


def normalise_kind(kind: str) -> str:
    """``"ValidationRule"`` / ``"trigger"`` / ``"FlowDefinition"``... → one of :data:`KINDS`."""
    if kind in KINDS:
        return kind
    found = _KIND_ALIASES.get(str(kind).strip().lower())
    if found is None:
        raise AutomationError(f"unknown automation kind {kind!r}; use one of {', '.join(KINDS)}")
    return found


# ====================================================================== items and results
@dataclass
class AutomationItem:
    """One validation rule, Apex trigger or record-triggered flow of an org.

    ``kind`` and ``name`` identify it (that pair is the template option, see :meth:`as_json`);
    the other fields describe it as last read from an org: ``object`` it runs on, ``active``,
    tooling ``id`` (FlowDefinition id for flows), ``label``, ``detail`` (trigger events, flow
    trigger type), ``switchable`` False with a ``note`` where the org will refuse (triggers in
    production), flows' ``version`` (active version number, 0 when inactive) and
    ``latest_version``. ``job_id`` and ``switched_at`` are set on items the journal says are
    still switched off (:func:`pending_restore`).
    """

    kind: str
    name: str
    object: str | None = None
    active: bool | None = None
    id: str | None = None
    label: str | None = None
    detail: str | None = None
    switchable: bool = True
    note: str | None = None
    version: int | None = None
    latest_version: int | None = None
    job_id: int | None = None
    switched_at: str | None = None

    def __post_init__(self) -> None:
        self.kind = normalise_kind(self.kind)
        if self.object is None and self.kind == VALIDATION_RULE and "." in self.name:
            self.object = self.name.split(".", 1)[0]

    @property
    def key(self) -> tuple[str, str]:
        """Identity across orgs: (kind, lower-case name)."""
        return self.kind, self.name.lower()

    @property
    def display_name(self) -> str:
        """``validation rule Contact.Phone_Required``, ``Apex trigger CaseTrigger``..."""
        return f"{KIND_LABELS[self.kind]} {self.name}"

    def as_json(self) -> dict[str, str]:
        """The template option entry: ``{"kind": "ValidationRule", "name": "Contact.Rule"}``."""
        return {"kind": self.kind, "name": self.name}

    @classmethod
    def from_json(cls, data: Any) -> AutomationItem:
        """Parse one ``automation_off`` entry; raises :class:`AutomationError` with the reason."""
        if not isinstance(data, dict):
            raise AutomationError(f"an automation_off entry must be an object like "
                                  f"{{\"kind\": \"ValidationRule\", \"name\": \"Contact.Rule\"}}, not {data!r}")
        unknown = set(data) - {"kind", "name"}
        if unknown:
            raise AutomationError(f"automation_off entry {data!r}: unknown key(s) {', '.join(sorted(unknown))}; "
                                  "allowed: kind, name")
        kind, name = data.get("kind"), data.get("name")
        if not isinstance(kind, str) or not isinstance(name, str) or not name.strip():
            raise AutomationError(f"automation_off entry {data!r} needs a \"kind\" and a \"name\"")
        name = name.strip()
        item = cls(kind=kind, name=name)
        if item.kind == VALIDATION_RULE and ("." not in name or name.startswith(".") or name.endswith(".")):
            raise AutomationError(f"automation_off: validation rule {name!r} must be named Object.RuleName, "
                                  "e.g. Contact.Phone_Required")
        return item


def parse_automation_off(value: Any) -> list[AutomationItem]:
    """The template's ``automation_off`` option as items (duplicates dropped, order kept)."""
    if value is None:
        return []
    if not isinstance(value, list):
        raise AutomationError("options.automation_off must be a list of {\"kind\", \"name\"} objects")
    items: list[AutomationItem] = []
    seen: set[tuple[str, str]] = set()
    for entry in value:
        item = AutomationItem.from_json(entry)
        if item.key not in seen:
            seen.add(item.key)
            items.append(item)
    return items


def automation_off_option(items: Iterable[AutomationItem]) -> list[dict[str, str]]:
    """The ``automation_off`` option value for ``items`` (what the GUI saves from its ticks)."""
    out: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for item in items:
        if item.key not in seen:
            seen.add(item.key)
            out.append(item.as_json())
    return out


@dataclass
class FixResult:
    """The outcome of switching one item: ``action`` activate/deactivate/restore, ``status`` one of
    ``done``, ``unchanged``, ``refused``, ``not found``, ``failed``, and a ``message`` for people."""

    item: AutomationItem
    action: str
    status: str
    message: str
    error_code: str | None = None

    @property
    def ok(self) -> bool:
        """True when the item is now in the wanted state (changed or already so)."""
        return self.status in (DONE, UNCHANGED)
