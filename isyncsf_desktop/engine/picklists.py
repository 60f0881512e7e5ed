"""Picklist values the target lacks: the template's ``mappings.picklists`` sends a source value to a target
value per field; each value of a multi-select picklist is mapped on its own and the result is joined with
``;``, duplicates dropped. A value without a mapping is sent as it is (a restricted picklist on the target
refuses it: INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST; an unrestricted one saves it). A mapping to a value the
target's picklist does not list fails the record with that reason (never silently creates a value).

One rule for the runner (:func:`map_value`) and the pre-flight check (:func:`similar_value` suggests a mapping).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from difflib import SequenceMatcher
from typing import Any

MULTI = "multipicklist"


class PicklistProblem(Exception):
    """A mapped value the target's picklist lacks (the message says which)."""


def picklist_values(meta: Mapping[str, Any]) -> list[str]:
    """The active values of a describe's field."""
    return [str(v["value"]) for v in meta.get("picklistValues") or [] if v.get("active", True) and "value" in v]


def split(value: str) -> list[str]:
    """The values of a multi-select picklist value (``A;B``)."""
    return [part.strip() for part in value.split(";") if part.strip()]


def map_value(value: Any, field_type: str, mapping: Mapping[str, str], target_values: Iterable[str] | None,
              where: str) -> Any:
    """``value`` as the target receives it under ``mapping`` (source value -> target value); raises
    :class:`PicklistProblem` when a mapped value is not among ``target_values`` (None: not checked)."""
    if not mapping or not isinstance(value, str):
        return value
    known = None if target_values is None else {v.lower() for v in target_values}

    def one(part: str) -> str:
        mapped = mapping.get(part)
        if mapped is None:
            return part
        if known is not None and mapped.lower() not in known:
            raise PicklistProblem(f"the picklist mapping {where} '{part}' -> '{mapped}' names a value the target's "
                                  "picklist does not have")
        return mapped

    if field_type != MULTI:
        return one(value)
    out: list[str] = []
    for part in split(value):
        mapped = one(part)
        if mapped not in out:
            out.append(mapped)
    return ";".join(out)


def similar_value(value: str, labels: Mapping[str, str], candidates: Iterable[str]) -> str | None:
    """The target value most like ``value`` by value and label (``labels``: value -> label), when close enough."""
    def score(candidate: str) -> float:
        return max(SequenceMatcher(None, value.lower(), candidate.lower()).ratio(),
                   SequenceMatcher(None, labels.get(value, value).lower(), labels.get(candidate, candidate).lower()
                                   ).ratio())
    best = max(candidates, key=score, default=None)
    return best if best is not None and score(best) >= 0.6 else None


__all__ = ["MULTI", "PicklistProblem", "map_value", "picklist_values", "similar_value", "split"]
