"""Field mappings to offer the user, read from both orgs' metadata.

:func:`read_org_fields` reads an org's fields of the template's objects. :func:`suggest_fields` lists the source
fields of the template's lines that the target lacks, each with the target field it most likely became (the
pre-flight check's guess, :func:`~.fieldmaps.likely_target`: suggested) or none. :func:`field_mappings_problem`
says why the plan would refuse a template's field mappings (a field the target lacks, types that cannot meet, a
constant its field cannot take), in the plan's words. For the Fields section of the template editor's Mappings tab.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .fieldmaps import likely_target
from .owner_suggestions import NO_MATCH, SUGGESTED
from .plan import SKIPPED_TYPES, SYSTEM_FIELDS, field_mapping_problem
from .template import FieldMappings, ObjectLine
from .users import OwnerOrg


@dataclass(frozen=True)
class OrgFields:
    """One org's fields (object -> field name -> describe metadata) of the objects it was read for (``objects``:
    the names asked; those the org lacks have no fields)."""

    alias: str
    objects: list[str] = field(default_factory=list)
    fields: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)

    def covers(self, object_name: str) -> bool:
        """Whether the org was read for ``object_name`` (any case)."""
        return object_name.lower() in {o.lower() for o in self.objects}

    def of(self, object_name: str) -> dict[str, dict[str, Any]]:
        """The fields of ``object_name`` (any case; empty when the org lacks it or was not read for it)."""
        return next((f for o, f in self.fields.items() if o.lower() == object_name.lower()), {})

    def find(self, object_name: str, field_name: str) -> str | None:
        """The API name of ``object_name.field_name`` in this org (canonical case), None when it lacks it."""
        wanted = field_name.lower()
        return next((n for n in self.of(object_name) if n.lower() == wanted), None)

    def settable(self, object_name: str) -> list[str]:
        """The fields of ``object_name`` a sync can write (creatable or updatable, not system), by name."""
        return sorted((n for n, m in self.of(object_name).items() if n not in SYSTEM_FIELDS
                       and (m.get("createable") or m.get("updateable"))), key=str.lower)


def read_org_fields(org: OwnerOrg, alias: str, objects: list[str]) -> OrgFields:
    """Read ``org``'s fields of ``objects`` (those it has)."""
    known = {o.lower(): o for o in org.object_names()}
    fields: dict[str, dict[str, dict[str, Any]]] = {}
    for obj in objects:
        name = known.get(obj.lower())
        if name is not None:
            fields[name] = {str(f["name"]): f for f in org.describe(name).get("fields") or []}
    return OrgFields(alias, list(objects), fields)


@dataclass(frozen=True)
class FieldSuggestion:
    """A source field of ``object`` the target lacks and the target field it most likely became (None: nothing
    like it), with ``how`` (suggested, no match) and ``detail``."""

    object: str
    source: str
    target: str | None
    how: str
    detail: str


def _scope_fields(line: ObjectLine, fields: dict[str, dict[str, Any]]) -> list[str]:
    """The source fields a line carries (its field list, else every field the plan would take)."""
    if line.fields is not None:
        lowered = {n.lower(): n for n in fields}
        return [lowered[f.lower()] for f in line.fields if f.lower() in lowered]
    return [n for n, m in fields.items() if n not in SYSTEM_FIELDS and m.get("type") not in SKIPPED_TYPES
            and not m.get("calculated") and not m.get("autoNumber") and m.get("createable")]


def suggest_fields(lines: list[ObjectLine], source: OrgFields, target: OrgFields,
                   mappings: FieldMappings | None = None) -> list[FieldSuggestion]:
    """The source fields of ``lines`` (objects both orgs have) that the target lacks and ``mappings`` does not
    map yet, line by line."""
    out: list[FieldSuggestion] = []
    for line in lines:
        mine, theirs = source.of(line.object), target.of(line.object)
        if not mine or not theirs:
            continue
        mapped = mappings.of(line.object) if mappings is not None else None
        for name in _scope_fields(line, mine):
            if target.find(line.object, name) is not None or (mapped is not None and mapped.target_of(name)):
                continue
            guess = likely_target(name, mine, theirs)
            obj = next((o for o in source.fields if o.lower() == line.object.lower()), line.object)
            if guess is not None:
                label = theirs[guess].get("label") or guess
                out.append(FieldSuggestion(obj, name, guess, SUGGESTED,
                                           f"most similar target field ({label}); the target has no {name} on {obj}"))
            else:
                out.append(FieldSuggestion(obj, name, None, NO_MATCH,
                                           f"no field like it on {obj} in the target: it is left out"))
    return out


def field_mappings_problem(mappings: FieldMappings, source: OrgFields, target: OrgFields) -> str | None:
    """Why the plan would refuse ``mappings`` against these orgs (the first object's reason), None when it would
    take them; objects an org was not read for, or lacks, are not checked here (the plan names them)."""
    for obj, mapping in mappings.objects.items():
        if not (source.of(obj) and target.of(obj)):
            continue
        problem = field_mapping_problem(obj, mapping, source.of(obj), target.of(obj))
        if problem:
            return problem
    return None


__all__ = ["FieldSuggestion", "OrgFields", "field_mappings_problem", "read_org_fields", "suggest_fields"]
