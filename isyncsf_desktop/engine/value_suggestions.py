"""Record type and picklist value mappings to offer the user, read from both orgs' metadata.

:func:`read_org_values` reads an org's record types (by object) and picklist fields (values and labels) for the
template's objects. :func:`suggest_record_types` gives every active source record type the target record type the
runner picks by itself (same DeveloperName: automatic), else the most similar active one (suggested), else none;
:func:`suggest_picklists` lists only the source picklist values the target's picklist lacks, each with the most
similar target value (suggested) or none. The same rules as :mod:`.recordtypes` and :mod:`.picklists` (and the
pre-flight check), for the Mappings page of the template editor.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .owner_suggestions import AUTOMATIC, NO_MATCH, SUGGESTED
from .picklists import MULTI, picklist_values, similar_value
from .recordtypes import similar_record_type
from .users import OwnerOrg

PICKLIST_TYPES = ("picklist", MULTI)


def _quote(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


@dataclass(frozen=True)
class PicklistField:
    """One picklist field of an org: its active ``values`` (in the org's order), their ``labels``, whether it is a
    multi-select and restricted."""

    name: str
    values: list[str]
    labels: dict[str, str]
    multi: bool
    restricted: bool

    def has(self, value: str) -> bool:
        return value.lower() in {v.lower() for v in self.values}


@dataclass(frozen=True)
class OrgValues:
    """One org's record types (object -> rows with DeveloperName, Name, IsActive) and picklist fields
    (``Object.Field`` -> :class:`PicklistField`) of the objects it was read for (``objects``: the names asked)."""

    alias: str
    objects: list[str] = field(default_factory=list)
    record_types: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    picklists: dict[str, PicklistField] = field(default_factory=dict)

    def covers(self, object_name: str) -> bool:
        """Whether the org was read for ``object_name`` (any case)."""
        return object_name.lower() in {o.lower() for o in self.objects}

    def record_type_names(self, object_name: str, *, active_only: bool = True) -> list[str]:
        """The DeveloperNames of ``object_name``'s record types (active ones unless told)."""
        rows = next((r for o, r in self.record_types.items() if o.lower() == object_name.lower()), [])
        return [str(r["DeveloperName"]) for r in rows if r.get("IsActive", True) or not active_only]

    def picklist(self, path: str) -> PicklistField | None:
        """The picklist field ``Object.Field`` (any case), None when the org has no such picklist."""
        return next((p for name, p in self.picklists.items() if name.lower() == path.lower()), None)


def read_org_values(org: OwnerOrg, alias: str, objects: list[str],
                    fields: dict[str, list[str] | None] | None = None) -> OrgValues:
    """Read ``org``'s record types and picklist fields of ``objects`` (those it has; ``fields``: per object the
    fields to read, None or absent: every picklist field)."""
    known = {o.lower(): o for o in org.object_names()}
    present = [known[o.lower()] for o in objects if o.lower() in known]
    record_types: dict[str, list[dict[str, Any]]] = {}
    if present:
        names = ", ".join(_quote(o) for o in present)
        rows = org.query("SELECT Id, DeveloperName, Name, SobjectType, IsActive FROM RecordType "
                         f"WHERE SobjectType IN ({names}) ORDER BY SobjectType, DeveloperName")
        for row in rows:
            obj = known.get(str(row.get("SobjectType")).lower(), str(row.get("SobjectType")))
            record_types.setdefault(obj, []).append(dict(row))
    picklists: dict[str, PicklistField] = {}
    wanted = {o.lower(): f for o, f in (fields or {}).items()}
    for obj in present:
        only = wanted.get(obj.lower())
        only_lower = {f.lower() for f in only} if only is not None else None
        for meta in org.describe(obj).get("fields") or []:
            if meta.get("type") not in PICKLIST_TYPES or (only_lower is not None and
                                                          str(meta.get("name")).lower() not in only_lower):
                continue
            values = picklist_values(meta)
            labels = {str(v["value"]): str(v.get("label") or v["value"]) for v in meta.get("picklistValues") or []
                      if "value" in v}
            picklists[f"{obj}.{meta['name']}"] = PicklistField(str(meta["name"]), values, labels,
                                                               meta.get("type") == MULTI,
                                                               bool(meta.get("restrictedPicklist")))
    return OrgValues(alias, list(objects), record_types, picklists)


@dataclass(frozen=True)
class ValueSuggestion:
    """A source record type or picklist value of ``scope`` (an object, or ``Object.Field``) and the target one the
    rule gives it (None: no match), with ``how`` (automatic, suggested, no match) and ``detail``."""

    scope: str
    source: str
    target: str | None
    how: str
    detail: str


def suggest_record_types(source: OrgValues, target: OrgValues) -> list[ValueSuggestion]:
    """Every active source record type of the objects both orgs were read for, object by object."""
    out: list[ValueSuggestion] = []
    for obj in sorted(source.record_types, key=str.lower):
        targets = next((r for o, r in target.record_types.items() if o.lower() == obj.lower()), [])
        active = [r for r in targets if r.get("IsActive", True)]
        for rt in source.record_types[obj]:
            if not rt.get("IsActive", True):
                continue
            name = str(rt["DeveloperName"])
            if any(str(r["DeveloperName"]) == name for r in active):
                out.append(ValueSuggestion(obj, name, name, AUTOMATIC, "same DeveloperName"))
                continue
            guess = similar_record_type(name, str(rt.get("Name") or ""), active)
            if guess is not None:
                out.append(ValueSuggestion(obj, name, str(guess["DeveloperName"]), SUGGESTED,
                                           f"most similar target record type ({guess.get('Name') or guess['DeveloperName']})"
                                           f"; the target has no {name} on {obj}"))
            else:
                out.append(ValueSuggestion(obj, name, None, NO_MATCH,
                                           f"no active record type like it on {obj} in the target"))
    return out


def suggest_picklists(source: OrgValues, target: OrgValues) -> list[ValueSuggestion]:
    """The source values of each picklist field (single and multi-select) that the target's same field lacks."""
    out: list[ValueSuggestion] = []
    for path in sorted(source.picklists, key=str.lower):
        theirs = target.picklist(path)
        if theirs is None:
            continue          # no such picklist in the target: the check reports the field, no value maps
        mine = source.picklists[path]
        labels = {**mine.labels, **theirs.labels}
        multi = " (multi-select: each value maps on its own)" if mine.multi or theirs.multi else ""
        for value in mine.values:
            if theirs.has(value):
                continue
            guess = similar_value(value, labels, theirs.values)
            if guess is not None:
                out.append(ValueSuggestion(path, value, guess, SUGGESTED,
                                           f"most similar target value; the target's picklist has no '{value}'"
                                           + multi))
            else:
                restricted = "restricted there: records with it fail" if theirs.restricted else \
                    "not restricted there: it is saved as a value nobody can pick"
                out.append(ValueSuggestion(path, value, None, NO_MATCH, f"no value like it in the target ("
                                           f"{restricted}){multi}"))
    return out


__all__ = ["OrgValues", "PicklistField", "ValueSuggestion", "read_org_values", "suggest_picklists",
           "suggest_record_types"]
