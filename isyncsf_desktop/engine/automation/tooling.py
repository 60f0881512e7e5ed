"""The Tooling API side of automation control: list an org's automation with its state, read one item's
state and switch it on or off (:func:`set_active`).

How an item is switched is in the package doc (:mod:`isyncsf_desktop.engine.automation`). Refusals are
reported in a :class:`~.items.FixResult`, never raised, by :func:`set_active`; :mod:`.guard` uses
:func:`read_state`, :func:`patch` and :func:`refusal` to do the same around a run, journaled.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Protocol

from ...salesforce.client import OrgApiError
from .items import (APEX_TRIGGER, DONE, FAILED, FLOW, KINDS, NOT_FOUND, PRODUCTION_TRIGGER_NOTE, RECORD_TRIGGER_TYPES,
                    REFUSED, TOOLING_OBJECTS, UNCHANGED, VALIDATION_RULE, AutomationItem, FixResult)

logger = logging.getLogger(__name__)

_IN_CHUNK = 100


class ToolingApi(Protocol):
    """What automation control needs from an org (``OrgClient`` provides it)."""

    org_id: str | None

    def tooling_query(self, soql: str) -> list[dict[str, Any]]: ...
    def tooling_get(self, object_name: str, record_id: str) -> dict[str, Any]: ...
    def tooling_update(self, object_name: str, record_id: str, body: dict[str, Any]) -> None: ...
    def organization(self) -> dict[str, Any]: ...
    def user_info(self) -> dict[str, Any]: ...


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _chunks(items: list[str], size: int = _IN_CHUNK) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]


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
class State:
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


def read_state(org: ToolingApi, item: AutomationItem) -> State | None:
    """The item's current state (None when the org has no such item)."""
    record_id = item.id or _find_id(org, item)
    if record_id is None:
        return None
    try:
        row = org.tooling_get(TOOLING_OBJECTS[item.kind], record_id)
    except OrgApiError as exc:
        if exc.status == 404 and item.id:
            item.id = None          # a stale id (another org, or re-created): look it up by name
            return read_state(org, item)
        if exc.status == 404:
            return None
        raise
    item.id = record_id
    metadata = dict(row.get("Metadata") or {})
    full_name = str(row.get("FullName") or item.name)
    if item.kind == VALIDATION_RULE:
        return State(record_id, full_name, metadata, bool(metadata.get("active", row.get("Active"))))
    if item.kind == APEX_TRIGGER:
        status = metadata.get("status") or row.get("Status")
        return State(record_id, full_name, metadata, status == "Active")
    version = int(metadata.get("activeVersionNumber") or 0)
    latest = None
    if row.get("LatestVersionId"):
        rows = org.tooling_query(f"SELECT VersionNumber FROM Flow WHERE Id = {_quote(row['LatestVersionId'])}")
        latest = int(rows[0]["VersionNumber"]) if rows else None
    return State(record_id, full_name, metadata, version > 0 or bool(row.get("ActiveVersionId")), version, latest)


def patch(org: ToolingApi, item: AutomationItem, state: State, active: bool, version: int | None = None) -> None:
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


def refusal(item: AutomationItem, exc: OrgApiError, verb: str) -> tuple[str, str]:
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
        state = read_state(target, item)
        if state is None:
            return FixResult(item, action, NOT_FOUND, f"{item.display_name} does not exist in the org")
        if state.active == active and (not active or item.kind != FLOW or version in (None, state.version)):
            item.active = active
            return FixResult(item, action, UNCHANGED, f"{item.display_name} is already "
                             f"{'active' if active else 'inactive'}")
        patch(target, item, state, active, version)
        after = read_state(target, item)
    except OrgApiError as exc:
        status, message = refusal(item, exc, verb)
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
