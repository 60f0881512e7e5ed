"""Fields whose API names differ between the orgs: the template's ``mappings.fields`` carries a source field
into a target field of another name (a namespace added or removed, a field renamed), and fills target-only
fields with a constant.

One rule for the planner (which refuses a mapping whose types cannot meet, or a constant the target field
cannot take) and the pre-flight check (which suggests the target field a missing source field most likely
became: :func:`similar_field`).
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from difflib import SequenceMatcher
from typing import Any

TEXT = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
                  "encryptedstring"})
NUMBERS = frozenset({"int", "double", "currency", "percent", "long"})
LOOKUPS = frozenset({"reference"})
_NAMESPACE_RE = re.compile(r"^([A-Za-z][A-Za-z0-9]{0,14})__(?=.+__c$)", re.IGNORECASE)


def _type(meta: Mapping[str, Any]) -> str:
    return str(meta.get("type") or "string")


def type_problem(source_meta: Mapping[str, Any], target_meta: Mapping[str, Any]) -> str | None:
    """Why a value of the source field cannot be carried into the target field (None: it can)."""
    stype, ttype = _type(source_meta), _type(target_meta)
    if stype in LOOKUPS or ttype in LOOKUPS:
        if stype != ttype:
            return f"a {stype} field cannot be carried into a {ttype} field (a lookup takes only a lookup)"
        shared = {t.lower() for t in source_meta.get("referenceTo") or []} & \
            {t.lower() for t in target_meta.get("referenceTo") or []}
        if not shared:
            return (f"the source lookup points at {', '.join(source_meta.get('referenceTo') or ['?'])} but the "
                    f"target lookup at {', '.join(target_meta.get('referenceTo') or ['?'])}")
        return None
    if stype == ttype or ttype in TEXT and stype in TEXT | NUMBERS | {"date", "datetime", "id"}:
        return None
    if stype in NUMBERS and ttype in NUMBERS or (stype, ttype) in {("date", "datetime"), ("datetime", "date")}:
        return None
    return f"a {stype} field cannot be carried into a {ttype} field"


def _parses(value: str, kind: str) -> bool:
    try:
        if kind == "date":
            dt.date.fromisoformat(value)
        else:
            dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def constant_problem(value: Any, meta: Mapping[str, Any]) -> str | None:
    """Why the target field ``meta`` cannot take the constant ``value`` (None: it can)."""
    ftype = _type(meta)
    shown = repr(value) if isinstance(value, str) else str(value).lower() if isinstance(value, bool) else str(value)
    if ftype == "boolean":
        return None if isinstance(value, bool) else f"it is a checkbox: the constant must be true or false, not {shown}"
    if isinstance(value, bool):
        return f"it is a {ftype} field, which takes no true/false"
    if ftype in NUMBERS:
        return None if isinstance(value, (int, float)) else f"it is a number ({ftype}) field, not text like {shown}"
    if ftype in ("date", "datetime"):
        ok = isinstance(value, str) and _parses(value, ftype)
        return None if ok else f"it is a {ftype} field: the constant must be an ISO-8601 {ftype}, not {shown}"
    if ftype in LOOKUPS:
        ok = isinstance(value, str) and len(value) in (15, 18) and value.isalnum()
        return None if ok else f"it is a lookup: the constant must be a target record id, not {shown}"
    text = str(value)
    if ftype in ("picklist", "multipicklist") and meta.get("restrictedPicklist"):
        allowed = {str(v.get("value")).lower() for v in meta.get("picklistValues") or [] if v.get("active", True)}
        parts = [p.strip() for p in text.split(";")] if ftype == "multipicklist" else [text]
        missing = [p for p in parts if p.lower() not in allowed]
        if missing:
            return f"its restricted picklist has no value {missing[0]!r}"
    length = int(meta.get("length") or 0)
    if ftype in TEXT and length and len(text) > length:
        return f"it holds {length} characters and the constant has {len(text)}"
    return None


def namespace_twin(name: str, candidates: Mapping[str, Any]) -> str | None:
    """The candidate that is ``name`` with a namespace prefix added or removed (``Tier__c`` <->
    ``acme__Tier__c``), when exactly one is."""
    bare = _NAMESPACE_RE.sub("", name).lower()
    found = [c for c in candidates if c.lower() != name.lower() and _NAMESPACE_RE.sub("", c).lower() == bare]
    return found[0] if len(found) == 1 else None


def similar_field(name: str, source_meta: Mapping[str, Any], target_fields: Mapping[str, Mapping[str, Any]],
                  taken: set[str] = frozenset()) -> str | None:  # type: ignore[assignment]
    """The target field a source field most likely became: the same name with a namespace prefix added or
    removed, else the most similar name or label (difflib) of a field whose type can take it; None when
    nothing is close. ``taken``: target fields (lower case) already filled by a same-name or mapped field."""
    free = {n: m for n, m in target_fields.items() if n.lower() not in taken and m.get("createable", True)
            and type_problem(source_meta, m) is None}
    twin = namespace_twin(name, free)
    if twin is not None:
        return twin
    label = str(source_meta.get("label") or "").lower()
    bare = _NAMESPACE_RE.sub("", name).lower()

    def score(candidate: str) -> float:
        other = _NAMESPACE_RE.sub("", candidate).lower()
        by_label = SequenceMatcher(None, label, str(free[candidate].get("label") or "").lower()).ratio() if label \
            else 0.0
        return max(SequenceMatcher(None, bare, other).ratio(), by_label)
    best = max(free, key=score, default=None)
    return best if best is not None and score(best) >= 0.75 else None


def likely_target(name: str, source_fields: Mapping[str, Mapping[str, Any]],
                  target_fields: Mapping[str, Mapping[str, Any]]) -> str | None:
    """The target field that source field ``name`` (one the target lacks) most likely became: :func:`similar_field`
    among the target fields no same-name source field fills. The pre-flight check's guess and the Mappings tab's
    suggestion."""
    source_names = {n.lower() for n in source_fields}
    taken = {n.lower() for n in target_fields if n.lower() in source_names}
    return similar_field(name, source_fields.get(name, {}), target_fields, taken)


__all__ = ["constant_problem", "likely_target", "namespace_twin", "similar_field", "type_problem"]
