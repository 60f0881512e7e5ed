"""Automation control: the target org's validation rules, Apex triggers and record-triggered flows.

Three jobs, all through the Tooling API of :class:`~isyncsf_desktop.salesforce.client.OrgClient`:

* :func:`list_automation` lists the automation on some objects with its state (the GUI's ticks);
* :func:`set_active` switches one item on or off (used by "Enable Disabled Metadata" in
  :mod:`.preflight` and by the guard below);
* :class:`AutomationGuard` switches the ticked items off around a run and exactly those back on
  afterwards, also after an error, an abort or a crash.

How an item is switched (the shapes a real org documents, see ``shared/salesforce-api.md`` §3):

=================  ==========================  ==================================================
kind               Tooling sObject             PATCH body
=================  ==========================  ==================================================
``ValidationRule`` ``ValidationRule``          the full ``Metadata`` read by GET, ``active`` set
``ApexTrigger``    ``ApexTrigger``             the full ``Metadata``, ``status`` Active/Inactive
``Flow``           ``FlowDefinition``          ``Metadata.activeVersionNumber`` (0 = off)
=================  ==========================  ==================================================

A production org refuses to switch Apex triggers (it needs a deployment with tests); that and
every other refusal is reported in a :class:`FixResult`, never raised.

Crash safety: before the guard switches an item off it writes, in the journal's settings under
``automation:{target_org_id}``, which item it is about to switch and its original ``Metadata``.
A process that dies without restoring leaves that record behind; :func:`pending_restore` finds it
at the next start and :func:`restore_pending` switches the items back on. The record lists only
items this app switched off, so an item the org had off already is never switched on.

The template option (added by the lead) is a list of :meth:`AutomationItem.as_json` dicts::

    "automation_off": [{"kind": "ValidationRule", "name": "Contact.Contact_Phone_Required"},
                       {"kind": "ApexTrigger", "name": "CaseTrigger"},
                       {"kind": "Flow", "name": "Opportunity_Default_Next_Step"}]

Names: a validation rule is ``Object.RuleName`` (its FullName), a trigger its Name, a flow its
FlowDefinition DeveloperName. One guarded run per target org at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Protocol

from ..salesforce.client import OrgApiError
from .journal import Journal, utc_now

logger = logging.getLogger(__name__)

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

SETTING_PREFIX = "automation:"

# FixResult.status values
DONE = "done"                # the org accepted the change
UNCHANGED = "unchanged"      # it already was in the wanted state: nothing sent
REFUSED = "refused"          # the org answered with an error (e.g. triggers in production)
NOT_FOUND = "not found"      # no such item in the org
FAILED = "failed"            # no answer (connection) or an unexpected problem

PRODUCTION_TRIGGER_NOTE = ("Apex triggers cannot be switched on or off in a production org through the API: "
                           "set <status> in the trigger's -meta.xml and deploy it (Metadata API, with the org's "
                           "tests), or switch it in a sandbox")
_IN_CHUNK = 100


class ToolingApi(Protocol):
    """What automation control needs from an org (``OrgClient`` provides it)."""

    org_id: str | None

    def tooling_query(self, soql: str) -> list[dict[str, Any]]: ...
    def tooling_get(self, object_name: str, record_id: str) -> dict[str, Any]: ...
    def tooling_update(self, object_name: str, record_id: str, body: dict[str, Any]) -> None: ...
    def organization(self) -> dict[str, Any]: ...
    def user_info(self) -> dict[str, Any]: ...


class AutomationError(ValueError):
    """An ``automation_off`` option that cannot be used; the message names the entry."""


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chunks(items: list[str], size: int = _IN_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


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


# ====================================================================== reading an org
def is_production(org: ToolingApi) -> bool | None:
    """True for a production org (not a sandbox, not a Developer Edition); None when unknown."""
    try:
        row = org.organization()
    except OrgApiError as exc:
        logger.info("could not read the Organization row (%s); assuming the org may be production", exc)
        return None
    return not row.get("IsSandbox") and "developer" not in str(row.get("OrganizationType") or "").lower()


def _ci_lookup(names: Iterable[str]) -> dict[str, str]:
    return {name.lower(): name for name in names}


def list_validation_rules(org: ToolingApi, objects: list[str]) -> list[AutomationItem]:
    """Validation rules on ``objects`` with their state."""
    wanted = _ci_lookup(objects)
    items: list[AutomationItem] = []
    for chunk in _chunks(sorted(set(objects))):
        rows = org.tooling_query(
            "SELECT Id, ValidationName, Active, Description, ErrorMessage, EntityDefinition.QualifiedApiName "
            "FROM ValidationRule WHERE EntityDefinition.QualifiedApiName IN "
            f"({', '.join(_quote(o) for o in chunk)})")
        for row in rows:
            entity = (row.get("EntityDefinition") or {}).get("QualifiedApiName") or ""
            obj = wanted.get(entity.lower(), entity)
            items.append(AutomationItem(kind=VALIDATION_RULE, name=f"{obj}.{row['ValidationName']}", object=obj,
                                        active=bool(row.get("Active")), id=row["Id"],
                                        label=row["ValidationName"], detail=row.get("ErrorMessage")))
    return items


def _trigger_events(row: dict[str, Any]) -> str:
    events = []
    for when in ("Before", "After"):
        for what in ("Insert", "Update", "Delete"):
            if row.get(f"Usage{when}{what}"):
                events.append(f"{when.lower()} {what.lower()}")
    return ", ".join(events)


def list_triggers(org: ToolingApi, objects: list[str], *, production: bool | None = None) -> list[AutomationItem]:
    """Apex triggers on ``objects`` with their state (``Status`` Active / Inactive).

    ``TableEnumOrId`` is the object's name for standard objects; for custom objects a real org may
    give the object's id, which is mapped through EntityDefinition where the org allows it.
    ``production`` True marks every trigger not switchable (see :data:`PRODUCTION_TRIGGER_NOTE`).
    """
    wanted = _ci_lookup(objects)
    rows = org.tooling_query(
        "SELECT Id, Name, Status, TableEnumOrId, UsageBeforeInsert, UsageAfterInsert, UsageBeforeUpdate, "
        "UsageAfterUpdate, UsageBeforeDelete, UsageAfterDelete FROM ApexTrigger WHERE Status != 'Deleted'")
    id_like = sorted({str(r.get("TableEnumOrId")) for r in rows
                      if str(r.get("TableEnumOrId") or "").lower() not in wanted
                      and str(r.get("TableEnumOrId") or "").startswith("01I")})
    durable: dict[str, str] = {}
    if id_like:
        try:
            for chunk in _chunks(sorted(set(objects))):
                for ent in org.tooling_query("SELECT QualifiedApiName, DurableId FROM EntityDefinition WHERE "
                                             f"QualifiedApiName IN ({', '.join(_quote(o) for o in chunk)})"):
                    if ent.get("DurableId"):
                        durable[str(ent["DurableId"])[:15]] = ent["QualifiedApiName"]
        except OrgApiError as exc:
            logger.info("could not map custom-object trigger ids to object names: %s", exc)
    items: list[AutomationItem] = []
    for row in rows:
        table = str(row.get("TableEnumOrId") or "")
        obj = wanted.get(table.lower()) or wanted.get(durable.get(table[:15], "").lower())
        if obj is None:
            continue
        items.append(AutomationItem(kind=APEX_TRIGGER, name=row["Name"], object=obj,
                                    active=row.get("Status") == "Active", id=row["Id"], label=row["Name"],
                                    detail=_trigger_events(row), switchable=production is not True,
                                    note=PRODUCTION_TRIGGER_NOTE if production else None))
    return items


def list_flows(org: ToolingApi, objects: list[str]) -> list[AutomationItem]:
    """Record-triggered flows on ``objects`` (Flow ``TriggerType`` Record*), by FlowDefinition."""
    wanted = _ci_lookup(objects)
    versions: list[dict[str, Any]] = []
    for chunk in _chunks(sorted(set(objects))):
        versions += org.tooling_query(
            "SELECT Id, DefinitionId, VersionNumber, Status, ProcessType, TriggerType, TriggerObject, MasterLabel "
            f"FROM Flow WHERE TriggerObject IN ({', '.join(_quote(o) for o in chunk)})")
    versions = [v for v in versions if v.get("TriggerType") in RECORD_TRIGGER_TYPES and v.get("DefinitionId")]
    by_definition: dict[str, list[dict[str, Any]]] = {}
    for version in versions:
        by_definition.setdefault(version["DefinitionId"], []).append(version)
    definitions: dict[str, dict[str, Any]] = {}
    for chunk in _chunks(sorted(by_definition)):
        for row in org.tooling_query("SELECT Id, DeveloperName, MasterLabel, ActiveVersionId, LatestVersionId "
                                     f"FROM FlowDefinition WHERE Id IN ({', '.join(_quote(i) for i in chunk)})"):
            definitions[row["Id"]] = row
    items: list[AutomationItem] = []
    for def_id, rows in by_definition.items():
        definition = definitions.get(def_id)
        if definition is None:
            continue
        by_id = {v["Id"]: v for v in rows}
        active = by_id.get(definition.get("ActiveVersionId") or "")
        latest = by_id.get(definition.get("LatestVersionId") or "") or max(
            rows, key=lambda v: int(v.get("VersionNumber") or 0))
        shown = active or latest
        obj = wanted.get(str(shown.get("TriggerObject") or "").lower(), shown.get("TriggerObject"))
        items.append(AutomationItem(
            kind=FLOW, name=definition["DeveloperName"], object=obj, active=active is not None, id=def_id,
            label=definition.get("MasterLabel") or shown.get("MasterLabel"), detail=shown.get("TriggerType"),
            version=int(active["VersionNumber"]) if active else 0,
            latest_version=int(latest.get("VersionNumber") or 0) or None))
    return items


def list_automation(target: ToolingApi, objects: list[str]) -> list[AutomationItem]:
    """Validation rules, Apex triggers and record-triggered flows on ``objects``, with their state.

    Sorted by object, kind, name. Triggers carry ``switchable=False`` and a note in a production
    org. Raises :class:`OrgApiError` when the org refuses the Tooling queries.
    """
    production = is_production(target)
    items = list_validation_rules(target, objects) + list_triggers(target, objects, production=production) \
        + list_flows(target, objects)
    order = {kind: index for index, kind in enumerate(KINDS)}
    return sorted(items, key=lambda i: ((i.object or "").lower(), order[i.kind], i.name.lower()))


# ====================================================================== switching one item
@dataclass
class _State:
    """An item as the org has it now: id, FullName, Metadata, whether it is on, latest flow version."""

    id: str
    full_name: str
    metadata: dict[str, Any]
    active: bool
    version: int | None = None
    latest_version: int | None = None


def _find_id(org: ToolingApi, item: AutomationItem) -> str | None:
    if item.kind == VALIDATION_RULE:
        obj, _, rule = item.name.partition(".")
        rows = org.tooling_query(f"SELECT Id FROM ValidationRule WHERE ValidationName = {_quote(rule)} AND "
                                 f"EntityDefinition.QualifiedApiName = {_quote(obj)}")
    elif item.kind == APEX_TRIGGER:
        rows = org.tooling_query(f"SELECT Id FROM ApexTrigger WHERE Name = {_quote(item.name)} "
                                 "AND Status != 'Deleted'")
    else:
        rows = org.tooling_query(f"SELECT Id FROM FlowDefinition WHERE DeveloperName = {_quote(item.name)}")
    return rows[0]["Id"] if rows else None


def _read_state(org: ToolingApi, item: AutomationItem) -> _State | None:
    """The item's current state (None when the org has no such item)."""
    record_id = item.id or _find_id(org, item)
    if record_id is None:
        return None
    try:
        row = org.tooling_get(TOOLING_OBJECTS[item.kind], record_id)
    except OrgApiError as exc:
        if exc.status == 404 and item.id:
            item.id = None          # a stale id (another org, or re-created): look it up by name
            return _read_state(org, item)
        if exc.status == 404:
            return None
        raise
    item.id = record_id
    metadata = dict(row.get("Metadata") or {})
    full_name = str(row.get("FullName") or item.name)
    if item.kind == VALIDATION_RULE:
        return _State(record_id, full_name, metadata, bool(metadata.get("active", row.get("Active"))))
    if item.kind == APEX_TRIGGER:
        status = metadata.get("status") or row.get("Status")
        return _State(record_id, full_name, metadata, status == "Active")
    version = int(metadata.get("activeVersionNumber") or 0)
    latest = None
    if row.get("LatestVersionId"):
        rows = org.tooling_query(f"SELECT VersionNumber FROM Flow WHERE Id = {_quote(row['LatestVersionId'])}")
        latest = int(rows[0]["VersionNumber"]) if rows else None
    return _State(record_id, full_name, metadata, version > 0 or bool(row.get("ActiveVersionId")), version, latest)


def _patch(org: ToolingApi, item: AutomationItem, state: _State, active: bool, version: int | None = None) -> None:
    metadata = dict(state.metadata)
    if item.kind == VALIDATION_RULE:
        metadata["active"] = active
        body: dict[str, Any] = {"FullName": state.full_name, "Metadata": metadata}
    elif item.kind == APEX_TRIGGER:
        metadata["status"] = "Active" if active else "Inactive"
        body = {"Metadata": metadata}
    else:
        number = (version or state.latest_version or state.version or 1) if active else 0
        metadata["activeVersionNumber"] = number
        body = {"Metadata": metadata}
    org.tooling_update(TOOLING_OBJECTS[item.kind], state.id, body)


def _refusal(item: AutomationItem, exc: OrgApiError, verb: str) -> tuple[str, str]:
    """(status, message) for an error the org gave while switching ``item``."""
    status = FAILED if exc.status is None else REFUSED
    message = f"could not {verb} {item.display_name}: {exc.message.strip()}"
    if item.kind == APEX_TRIGGER and status == REFUSED and "deploy" not in exc.message.lower():
        message += f" ({PRODUCTION_TRIGGER_NOTE})"
    return status, message


def set_active(target: ToolingApi, item: AutomationItem, active: bool, *, version: int | None = None) -> FixResult:
    """Switch ``item`` on (``active``) or off in ``target``; refusals are in the result, not raised.

    Flows are switched on at ``version`` (default: the latest version). The change is read back:
    an org that answers 204 but keeps the old state is reported as ``failed``.
    """
    action = "activate" if active else "deactivate"
    verb = "switch on" if active else "switch off"
    try:
        state = _read_state(target, item)
        if state is None:
            return FixResult(item, action, NOT_FOUND, f"{item.display_name} does not exist in the org")
        if state.active == active and (not active or item.kind != FLOW or version in (None, state.version)):
            item.active = active
            return FixResult(item, action, UNCHANGED, f"{item.display_name} is already "
                             f"{'active' if active else 'inactive'}")
        _patch(target, item, state, active, version)
        after = _read_state(target, item)
    except OrgApiError as exc:
        status, message = _refusal(item, exc, verb)
        logger.info("%s", message)
        return FixResult(item, action, status, message, exc.error_code)
    except Exception as exc:  # a bug or an answer of an unexpected shape: reported, never raised
        logger.exception("switching %s failed", item.display_name)
        return FixResult(item, action, FAILED, f"could not {verb} {item.display_name}: {exc}")
    if after is None or after.active != active:
        return FixResult(item, action, FAILED, f"the org accepted the change but {item.display_name} is still "
                         f"{'inactive' if active else 'active'}")
    item.active = active
    if item.kind == FLOW:
        item.version = after.version
    logger.info("%s: %s %s", getattr(target, "alias", "") or "target", "activated" if active else "deactivated",
                item.display_name)
    return FixResult(item, action, DONE, f"{item.display_name} {'activated' if active else 'deactivated'}")


# ====================================================================== the guard
def setting_key(target_org_id: str) -> str:
    """The journal setting that remembers what is switched off in ``target_org_id``."""
    return f"{SETTING_PREFIX}{target_org_id}"


def _load_record(journal: Journal, key: str) -> dict[str, Any]:
    record = journal.get_setting(key)
    if not isinstance(record, dict) or not isinstance(record.get("items"), list):
        return {"items": []}
    return record


def _entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    return normalise_kind(entry["kind"]), str(entry["name"]).lower()


def _item_from_entry(entry: dict[str, Any]) -> AutomationItem:
    return AutomationItem(kind=entry["kind"], name=entry["name"], object=entry.get("object"), active=False,
                          id=entry.get("id"), version=entry.get("version"), job_id=entry.get("job_id"),
                          switched_at=entry.get("switched_at"),
                          note=entry.get("error") and f"the last restore failed: {entry['error']}")


class AutomationGuard:
    """Switch automation off in the target around a run, and exactly that back on afterwards.

    ::

        with AutomationGuard(journal, target, job_id, items, target_org_id=ref.org_id) as guard:
            engine.sync(job_id)
        guard.results        # switch-off and restore outcomes, refusals included

    :meth:`switch_off` journals each item (with its original ``Metadata``) before switching it;
    :meth:`restore` switches back only what it switched and clears the journal record once all
    are back. As a context manager it restores also when the block raises (any exception,
    KeyboardInterrupt included). An item already off (and not left off by an earlier crashed run)
    is left alone and never switched on. ``target_org_id`` defaults to ``target.org_id`` or the
    org id of the target's user.
    """

    def __init__(self, journal: Journal, target: ToolingApi, job_id: int | None, items: Iterable[AutomationItem],
                 *, target_org_id: str | None = None) -> None:
        self.journal = journal
        self.target = target
        self.job_id = job_id
        self.items: list[AutomationItem] = []
        seen: set[tuple[str, str]] = set()
        for item in items:
            if item.key not in seen:
                seen.add(item.key)
                self.items.append(item)
        self._org_id = target_org_id or getattr(target, "org_id", None)
        self.switched: list[AutomationItem] = []
        self.results: list[FixResult] = []

    # ------------------------------------------------------------------ identity
    @property
    def org_id(self) -> str:
        """The target org's id (asked from the org once when not given)."""
        if not self._org_id:
            info = self.target.user_info()
            self._org_id = info.get("organization_id") or self.target.organization().get("Id")
            if not self._org_id:
                raise OrgApiError("cannot tell the target org's id; automation control needs it to remember "
                                  "what it switched off", error_code="UNEXPECTED_RESPONSE")
        return str(self._org_id)

    @property
    def key(self) -> str:
        return setting_key(self.org_id)

    @property
    def refused(self) -> list[FixResult]:
        """Switch-off or restore outcomes that did not reach the wanted state."""
        return [r for r in self.results if not r.ok]

    # ------------------------------------------------------------------ journal record
    def _record(self) -> dict[str, Any]:
        record = _load_record(self.journal, self.key)
        record.setdefault("org_id", self.org_id)
        alias = getattr(self.target, "alias", None)
        if alias:
            record["alias"] = alias
        return record

    def _save(self, record: dict[str, Any]) -> None:
        if record["items"]:
            self.journal.set_setting(self.key, record)
        else:
            self.journal.delete_setting(self.key)

    def _put_entry(self, entry: dict[str, Any]) -> None:
        record = self._record()
        record["items"] = [e for e in record["items"] if _entry_key(e) != _entry_key(entry)] + [entry]
        self._save(record)

    def _drop_entry(self, item: AutomationItem) -> None:
        record = self._record()
        record["items"] = [e for e in record["items"] if _entry_key(e) != item.key]
        self._save(record)

    def _entry(self, item: AutomationItem) -> dict[str, Any] | None:
        return next((e for e in self._record()["items"] if _entry_key(e) == item.key), None)

    # ------------------------------------------------------------------ switching
    def switch_off(self) -> list[FixResult]:
        """Switch the items off; returns one result per item (refusals included, never raised)."""
        done = {item.key for item in self.switched}
        results = [self._switch_off_one(item) for item in self.items if item.key not in done]
        self.results.extend(results)
        return results

    def _switch_off_one(self, item: AutomationItem) -> FixResult:
        try:
            state = _read_state(self.target, item)
        except OrgApiError as exc:
            status, message = _refusal(item, exc, "read")
            return FixResult(item, "deactivate", status, message, exc.error_code)
        if state is None:
            return FixResult(item, "deactivate", NOT_FOUND, f"{item.display_name} does not exist in the target org")
        earlier = self._entry(item)
        if not state.active:
            if earlier is not None:  # left off by a run that crashed: ours to switch back on
                item.version = earlier.get("version") or item.version
                self.switched.append(item)
                return FixResult(item, "deactivate", UNCHANGED, f"{item.display_name} is still off since an "
                                 "earlier run; it is switched back on after this one")
            return FixResult(item, "deactivate", UNCHANGED, f"{item.display_name} is already inactive in the "
                             "target org; it stays inactive after the run")
        item.version = state.version if item.kind == FLOW else None
        entry = {"kind": item.kind, "name": item.name, "object": item.object, "id": state.id,
                 "full_name": state.full_name, "metadata": state.metadata, "version": item.version,
                 "job_id": self.job_id, "switched_at": utc_now(), "state": "switching"}
        self._put_entry(entry)          # journaled before the org is touched: a crash leaves a trace
        try:
            _patch(self.target, item, state, False)
        except OrgApiError as exc:
            status, message = _refusal(item, exc, "switch off")
            if status == REFUSED:       # the org answered no: nothing changed, nothing to restore
                self._drop_entry(item)
            else:                       # no answer: it may be off; restore() checks and switches it back
                self.switched.append(item)
            logger.info("%s", message)
            return FixResult(item, "deactivate", status, message, exc.error_code)
        self._put_entry({**entry, "state": "off"})
        item.active = False
        self.switched.append(item)
        logger.info("switched off %s in %s for job %s", item.display_name, self.org_id, self.job_id)
        return FixResult(item, "deactivate", DONE, f"{item.display_name} switched off for the run")

    def restore(self) -> list[FixResult]:
        """Switch back on what :meth:`switch_off` switched off; refusals reported, not raised.

        Items restored (or found active already, or deleted meanwhile) leave the journal record;
        the record goes when it is empty. Items the org refuses stay in it with the error, so the
        next start offers them again.
        """
        results: list[FixResult] = []
        for item in list(self.switched):
            result = self._restore_one(item)
            results.append(result)
            if result.ok or result.status == NOT_FOUND:
                self.switched.remove(item)
        self.results.extend(results)
        return results

    def _restore_one(self, item: AutomationItem) -> FixResult:
        entry = self._entry(item) or {}
        try:
            state = _read_state(self.target, item)
            if state is None:
                self._drop_entry(item)
                return FixResult(item, "restore", NOT_FOUND, f"{item.display_name} no longer exists in the "
                                 "target org; nothing to switch back on")
            if state.active:
                self._drop_entry(item)
                item.active = True
                return FixResult(item, "restore", UNCHANGED, f"{item.display_name} is already active")
            if not state.metadata and entry.get("metadata"):
                state.metadata = dict(entry["metadata"])
            version = (entry.get("version") or item.version) if item.kind == FLOW else None
            _patch(self.target, item, state, True, version)
            after = _read_state(self.target, item)
            if after is None or not after.active:
                raise OrgApiError("the org accepted the change but the item is still inactive",
                                  error_code="UNEXPECTED_RESPONSE", status=200)
        except OrgApiError as exc:
            status, message = _refusal(item, exc, "switch back on")
            self._keep_failed(item, entry, message)
            logger.warning("%s; it stays off in %s until it is restored", message, self.org_id)
            return FixResult(item, "restore", status, message, exc.error_code)
        except Exception as exc:
            message = f"could not switch back on {item.display_name}: {exc}"
            self._keep_failed(item, entry, message)
            logger.exception("restoring %s failed", item.display_name)
            return FixResult(item, "restore", FAILED, message)
        self._drop_entry(item)
        item.active = True
        logger.info("switched back on %s in %s", item.display_name, self.org_id)
        return FixResult(item, "restore", DONE, f"{item.display_name} switched back on")

    def _keep_failed(self, item: AutomationItem, entry: dict[str, Any], message: str) -> None:
        try:
            base = entry or {"kind": item.kind, "name": item.name, "object": item.object, "id": item.id,
                             "version": item.version, "job_id": self.job_id}
            self._put_entry({**base, "state": "restore_failed", "error": message})
        except Exception:  # the journal itself failing must not hide the original problem
            logger.exception("could not journal the failed restore of %s", item.display_name)

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> AutomationGuard:
        try:
            self.switch_off()
        except BaseException:
            self.restore()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.restore()

    # ------------------------------------------------------------------ after a crash
    @classmethod
    def resume(cls, journal: Journal, target: ToolingApi, *, target_org_id: str | None = None) -> AutomationGuard:
        """A guard owning what the journal says is still switched off in ``target`` (call :meth:`restore`)."""
        guard = cls(journal, target, None, [], target_org_id=target_org_id)
        pending = pending_restore(journal, guard.org_id)
        guard.items = list(pending)
        guard.switched = list(pending)
        return guard


def pending_restore(journal: Journal, target_org_id: str) -> list[AutomationItem]:
    """Items a run switched off in ``target_org_id`` and nobody switched back on (e.g. after a crash).

    Each carries ``job_id``, ``switched_at`` and, when a restore was refused, a ``note``. Empty when
    nothing is pending. The next start calls this for each target org it knows and offers
    :func:`restore_pending`.
    """
    record = _load_record(journal, setting_key(target_org_id))
    items = []
    for entry in record["items"]:
        try:
            items.append(_item_from_entry(entry))
        except (AutomationError, KeyError) as exc:
            logger.warning("ignoring an unreadable automation record entry %r: %s", entry, exc)
    return items


def restore_pending(journal: Journal, target: ToolingApi, *, target_org_id: str | None = None) -> list[FixResult]:
    """Switch back on everything :func:`pending_restore` lists for ``target``; results, never raised."""
    return AutomationGuard.resume(journal, target, target_org_id=target_org_id).restore()


def discard_pending(journal: Journal, target_org_id: str) -> None:
    """Forget what is pending for ``target_org_id`` without touching the org (the user said no)."""
    journal.delete_setting(setting_key(target_org_id))


__all__ = [
    "APEX_TRIGGER", "AutomationError", "AutomationGuard", "AutomationItem", "DONE", "FAILED", "FLOW", "FixResult",
    "KINDS", "NOT_FOUND", "REFUSED", "UNCHANGED", "VALIDATION_RULE", "automation_off_option", "discard_pending",
    "is_production", "list_automation", "list_flows", "list_triggers", "list_validation_rules",
    "parse_automation_off", "pending_restore", "restore_pending", "set_active", "setting_key",
]
