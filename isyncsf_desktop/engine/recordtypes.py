"""Which record type a record gets on the target: how a source record type maps to a target one.

Automatic matching: the same object and DeveloperName. The template's ``mappings.record_types`` overrides
it per object: its ``map`` renames (``Partner`` -> ``Channel_Partner``) and wins over the automatic match,
its ``default`` is the record type of what matches nothing. A record whose record type maps to nothing, or
to a record type the target lacks, fails with that reason (not the run).

One rule for the runner and the pre-flight check (which reports what will not map, with a suggestion).
"""

from __future__ import annotations

from dataclasses import dataclass
from difflib import SequenceMatcher
from typing import Any

from .template import RecordTypeMappings

RECORD_TYPE_SOQL = "SELECT Id, DeveloperName, SobjectType FROM RecordType"

AUTOMATIC = "automatic"
MAPPED = "mapped"
DEFAULT = "default record type"


@dataclass
class RecordTypeChoice:
    """Where the records of one source record type go (``target_id``), or why they fail (``problem``)."""

    source_id: str
    object: str
    source_name: str
    target_id: str | None
    target_name: str | None
    how: str | None
    problem: str | None = None

    @property
    def label(self) -> str:
        return f"{self.object}.{self.source_name}"


def resolve_record_types(source_rts: list[dict[str, Any]], target_rts: list[dict[str, Any]],
                         mappings: RecordTypeMappings) -> dict[str, RecordTypeChoice]:
    """Source record type id -> :class:`RecordTypeChoice` (rows with Id, DeveloperName and SobjectType)."""
    index = {(str(r["SobjectType"]).lower(), str(r["DeveloperName"])): r for r in target_rts}
    out: dict[str, RecordTypeChoice] = {}
    for rt in source_rts:
        obj, name = str(rt["SobjectType"]), str(rt["DeveloperName"])
        mapping = mappings.of(obj)

        def target(developer_name: str) -> dict[str, Any] | None:
            return index.get((obj.lower(), developer_name))

        def choice(found: dict[str, Any] | None, target_name: str | None, how: str | None,
                   problem: str | None = None) -> RecordTypeChoice:
            return RecordTypeChoice(rt["Id"], obj, name, found["Id"] if found else None, target_name, how,
                                    None if found else problem)

        mapped = mapping.map.get(name)
        if mapped is not None:
            out[rt["Id"]] = choice(target(mapped), mapped, MAPPED,
                                   f"the record type mapping {obj}.{name} -> {mapped} names a record type that "
                                   f"does not exist on {obj} in the target org")
        elif target(name) is not None:
            out[rt["Id"]] = choice(target(name), name, AUTOMATIC)
        elif mapping.default:
            out[rt["Id"]] = choice(target(mapping.default), mapping.default, DEFAULT,
                                   f"record type {obj}.{name} does not exist in the target org and the default "
                                   f"record type {mapping.default} does not exist on {obj} there")
        else:
            out[rt["Id"]] = choice(None, None, None,
                                   f"record type {obj}.{name} does not exist in the target org; map it to a "
                                   f"target record type in the template's record type mappings for {obj}")
    return out


def similar_record_type(name: str, label: str, candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The target record type most like a source one by DeveloperName and label (Name), when close enough."""
    def score(rt: dict[str, Any]) -> float:
        dev, rt_label = str(rt.get("DeveloperName", "")).lower(), str(rt.get("Name", "")).lower()
        return max(SequenceMatcher(None, name.lower(), dev).ratio(),
                   SequenceMatcher(None, label.lower(), rt_label).ratio(),
                   0.8 if name.lower() in dev or (label and label.lower() in rt_label) else 0.0)
    best = max(candidates, key=score, default=None)
    return best if best is not None and score(best) >= 0.6 else None


__all__ = ["AUTOMATIC", "DEFAULT", "MAPPED", "RECORD_TYPE_SOQL", "RecordTypeChoice", "resolve_record_types",
           "similar_record_type"]
