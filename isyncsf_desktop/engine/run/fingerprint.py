"""The metadata of both orgs for a plan's objects, as a preview read it, and what changed in it since: an apply
(:mod:`.apply`) refuses a preview the orgs' metadata has outgrown, naming each change.

Per object and org: each field's digest (what decides what a sync writes to it: type, length, whether it can be
created, updated or left empty, what it looks up, its active picklist values), the record types (active or
not) and, on the target, the validation rules (active or not, read through the Tooling API as the automation
switch reads them). What an org does not let the user read is kept as None and not compared.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import Any

from ..automation.tooling import list_validation_rules
from ..orgapi import OrgApi
from ..plan import Plan
from .context import quote

logger = logging.getLogger(__name__)


def _field_digest(spec: dict[str, Any]) -> str:
    """What of a field decides what a sync writes to it, as a short digest: its type, length, whether it can be
    created, updated, left empty, what it looks up, its active picklist values."""
    facts = [spec.get("type"), spec.get("length"), bool(spec.get("createable")), bool(spec.get("updateable")),
             bool(spec.get("nillable")), sorted(spec.get("referenceTo") or []),
             sorted(str(v.get("value")) for v in spec.get("picklistValues") or [] if v.get("active", True))]
    return hashlib.sha1(json.dumps(facts, default=str).encode()).hexdigest()[:12]


def _org_metadata(org: OrgApi, objects: list[str], *, rules: bool) -> dict[str, Any]:
    """One org's fingerprint: per object its fields (name -> digest, or None when the object cannot be read),
    its record types (DeveloperName -> active) and, for the target (``rules``), its validation rules
    (name -> active). What cannot be read (no Tooling access) is None: not compared."""
    fields: dict[str, dict[str, str] | None] = {}
    for name in objects:
        try:
            fields[name] = {str(f["name"]): _field_digest(f) for f in org.describe(name).get("fields", [])}
        except Exception:     # noqa: BLE001 - an object the user cannot see: the difference is named
            fields[name] = None
    out: dict[str, Any] = {"fields": fields, "record_types": None, "rules": None}
    quoted = ", ".join(quote(n) for n in objects)
    try:
        types: dict[str, dict[str, bool]] = {}
        for row in org.query(f"SELECT DeveloperName, SobjectType, IsActive FROM RecordType WHERE SobjectType IN "
                             f"({quoted})"):
            types.setdefault(str(row["SobjectType"]), {})[str(row["DeveloperName"])] = bool(row.get("IsActive", True))
        out["record_types"] = types
    except Exception:     # noqa: BLE001 - record types not readable: not compared
        logger.debug("record types of %s not read", getattr(org, "alias", "?"), exc_info=True)
    if rules:
        try:
            out["rules"] = {item.name: item.active for item in list_validation_rules(org, objects)}
        except Exception:     # noqa: BLE001 - no Tooling access: not compared
            logger.debug("validation rules of %s not read", getattr(org, "alias", "?"), exc_info=True)
    return out


def fingerprint(plan: Plan, source: OrgApi, target: OrgApi) -> dict[str, Any]:
    """Both orgs' metadata for ``plan``'s objects, as :func:`metadata_changes` compares it: per field a digest of
    what decides what a sync writes, the record types, the target's validation rules."""
    objects = list(plan.order)
    return {"source": _org_metadata(source, objects, rules=False), "target": _org_metadata(target, objects, rules=True)}


def _keyed(name: str) -> str:
    obj, _, rule = name.partition(".")
    return f"{obj}.{rule}" if rule else name


def metadata_changes(then: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """What changed in either org's metadata between two fingerprints, a sentence each."""
    out: list[str] = []
    for side in ("source", "target"):
        was, is_ = then.get(side) or {}, now.get(side) or {}
        for obj, fields in (was.get("fields") or {}).items():
            current = (is_.get("fields") or {}).get(obj)
            if fields is not None and current is None:
                out.append(f"{obj} cannot be read in the {side} org any more")
                continue
            if fields is None or current is None:
                continue
            out += [f"{obj}: field {f} was added to the {side} org since the preview" for f in current
                    if f not in fields]
            out += [f"{obj}: field {f} was removed from the {side} org since the preview" for f in fields
                    if f not in current]
            out += [f"{obj}: field {f} was changed in the {side} org since the preview (its type, length, access, "
                    "lookup or picklist values)" for f in fields if f in current and current[f] != fields[f]]
        types_was, types_now = was.get("record_types"), is_.get("record_types")
        if types_was is not None and types_now is not None:
            for obj in sorted(set(types_was) | set(types_now)):
                a, b = types_was.get(obj, {}), types_now.get(obj, {})
                for dev in sorted(set(a) | set(b)):
                    if dev not in a:
                        out.append(f"{obj}: record type {dev} was added to the {side} org since the preview")
                    elif dev not in b:
                        out.append(f"{obj}: record type {dev} was removed from the {side} org since the preview")
                    elif a[dev] != b[dev]:
                        out.append(f"{obj}: record type {dev} was switched {'on' if b[dev] else 'off'} in the {side} "
                                   "org since the preview")
        rules_was, rules_now = was.get("rules"), is_.get("rules")
        if rules_was is not None and rules_now is not None:
            for rule in sorted(set(rules_was) | set(rules_now)):
                if rule not in rules_was:
                    if rules_now[rule]:
                        out.append(f"the validation rule {_keyed(rule)} was added to the {side} org since the preview")
                elif rule not in rules_now:
                    if rules_was[rule]:
                        out.append(f"the validation rule {_keyed(rule)} was removed from the {side} org since the "
                                   "preview")
                elif rules_was[rule] != rules_now[rule]:
                    out.append(f"the validation rule {_keyed(rule)} was switched {'on' if rules_now[rule] else 'off'} "
                               f"in the {side} org since the preview")
    return out


__all__ = ["fingerprint", "metadata_changes"]
