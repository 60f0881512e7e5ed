"""Parents of polymorphic lookups (Task.WhatId, Task.WhoId, Note.ParentId): which object a value points
at, and where its target record is when the run does not carry it.

The object comes from the record itself: an id's first three characters are its object's key prefix
(the source's describe global lists each object's ``keyPrefix``), never from the lookup's list of
possible parents. A parent the run does not write (its object has no line, or its line's filter leaves
it out) is found on the target by that object's match key: the template line's ``match_by`` when the
object has a line, else an External Id field both orgs have. Name alone is never used (two accounts may
share a name, and a wrong parent is worse than a failed record). A parent found nowhere fails its child
with the reason, naming the object, the id and the key.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from ..orgapi import OrgApi
from ..plan import Plan, RefSpec
from ..values import match_value
from .context import chunks, quote

KEY_CHUNK = 200     # values per "IN (...)" query


def is_polymorphic(ref: RefSpec) -> bool:
    """A lookup whose parent may be of several objects (referenceTo lists more than one)."""
    return ref.kind in ("template", "external") and len(ref.parents) > 1


class ParentFinder:
    """Per run: key prefixes of the source org, and the outside-the-run parents found (or not) so far."""

    def __init__(self, source: OrgApi, target: OrgApi, plan: Plan):
        self.source = source
        self.target = target
        self.plan = plan
        self._prefixes: dict[str, str] | None = None
        self.found: dict[str, str] = {}        # source parent id -> its target record's id
        self.missing: dict[str, str] = {}      # source parent id -> why no target record is its
        self._looked: set[str] = set()

    # ------------------------------------------------------------------ types
    def prefixes(self) -> dict[str, str]:
        """Key prefix -> object name, from the source's describe global."""
        if self._prefixes is None:
            describe_global = getattr(self.source, "describe_global", None)
            sobjects = describe_global().get("sobjects", []) if describe_global is not None else []
            self._prefixes = {str(o["keyPrefix"]): str(o["name"]) for o in sobjects if o.get("keyPrefix")}
        return self._prefixes

    def object_of(self, ref: RefSpec, value: str) -> str:
        """The object ``value`` (a source id in lookup ``ref``) is a record of."""
        if len(ref.parents) == 1:
            return ref.parents[0]
        found = self.prefixes().get(value[:3])
        if found is not None:
            return found
        # Not in describe global (an object the API user cannot see): say what the id is, not a guess.
        return f"(an object with key prefix {value[:3]})"

    # ------------------------------------------------------------------ outside the run
    def look_up(self, ref: RefSpec, values: set[str], skip: set[str]) -> None:
        """Find the target records of polymorphic ``ref``'s parents ``values`` that the run does not write
        (``skip``: those it wrote, failed or left out, and those already looked at)."""
        wanted = sorted(v for v in values if v not in skip and v not in self._looked)
        if not wanted:
            return
        self._looked.update(wanted)
        by_object: dict[str, list[str]] = defaultdict(list)
        for value in wanted:
            name = self.object_of(ref, value)
            if name not in ref.parents:
                self.missing[value] = f"is not one of the objects {ref.field} may point at"
                continue
            by_object[name].append(value)
        for name, ids in by_object.items():
            self._look_up_object(name, ids)

    def _key(self, name: str) -> tuple[list[str] | None, str]:
        """(fields to match ``name``'s records by, or None; what the key is or why there is none)."""
        oplan = self.plan.objects.get(name)
        if oplan is not None:
            plain = [f for f in oplan.match_by if "." not in f and f not in oplan.refs]
            if len(plain) != len(oplan.match_by):
                return None, (f"is not in the run, and its line's match key {'+'.join(oplan.match_by)} names a lookup, "
                              "which cannot find a record outside the run on the target")
            return plain, "+".join(plain)
        if name not in self.target.object_names():
            return None, f"is not in the run, and {name} does not exist in the target org"
        source_fields = {f["name"]: f for f in self.source.describe(name)["fields"]}
        target_fields = {f["name"] for f in self.target.describe(name)["fields"]}
        external = next((n for n, f in source_fields.items() if f.get("externalId") and n in target_fields), None)
        if external is None:
            return None, (f"is not in the run, and {name} has no line in the template nor an External Id field to "
                          "find it on the target by (add a line for it, or an External Id)")
        return [external], external

    def _look_up_object(self, name: str, ids: list[str]) -> None:
        key, described = self._key(name)
        if key is None:
            self.missing.update((i, described) for i in ids)
            return
        select = ", ".join(dict.fromkeys(["Id", *key]))
        keys: dict[str, tuple[Any, ...]] = {}
        firsts: set[str] = set()      # the first key field's values as SOQL literals
        shown: dict[str, str] = {}    # source parent id -> its key as the source has it
        for chunk in chunks(ids, KEY_CHUNK):
            for row in self.source.query(f"SELECT {select} FROM {name} WHERE Id IN ({', '.join(map(quote, chunk))})"):
                parts = tuple(match_value(row.get(f)) for f in key)
                if any(p is None for p in parts):
                    self.missing[row["Id"]] = f"is not in the run, and its {described} is empty"
                else:
                    keys[row["Id"]] = parts
                    shown[row["Id"]] = " + ".join(repr(row[f]) for f in key)
                    raw = row[key[0]]
                    firsts.add(quote(raw) if isinstance(raw, str) else str(raw).lower())
        for value in ids:
            if value not in keys and value not in self.missing:
                self.missing[value] = "is not in the run, and the source org has no such record"
        if not keys:
            return
        index: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        for chunk in chunks(sorted(firsts), KEY_CHUNK):
            for row in self.target.query(f"SELECT {select} FROM {name} WHERE {key[0]} IN ({', '.join(chunk)})"):
                index[tuple(match_value(row.get(f)) for f in key)].append(row["Id"])
        for value, parts in keys.items():
            hits = index.get(parts, [])
            if len(hits) == 1:
                self.found[value] = hits[0]
            elif not hits:
                self.missing[value] = f"is not in the run, and no target {name} has {described} = {shown[value]}"
            else:
                self.missing[value] = (f"is not in the run, and {len(hits)} target {name} records have {described} = "
                                       f"{shown[value]}: {', '.join(hits[:5])}; make the key unique")


__all__ = ["ParentFinder", "is_polymorphic"]
