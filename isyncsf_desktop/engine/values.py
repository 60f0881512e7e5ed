"""Comparing field values across orgs: is the target record already what the source says?"""

from __future__ import annotations

import datetime as dt
from typing import Any

NUMERIC = {"int", "double", "currency", "percent"}


def _instant(value: str) -> dt.datetime | None:
    text = value.strip().replace("Z", "+00:00")
    if len(text) >= 5 and text[-5] in "+-" and text[-3] != ":":
        text = text[:-2] + ":" + text[-2:]
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.timezone.utc)


def normalise(value: Any, field_type: str) -> Any:
    """A form in which equal values from two orgs compare equal."""
    if value is None or value == "":
        return None
    if field_type in NUMERIC:
        try:
            return round(float(value), 8)
        except (TypeError, ValueError):
            return value
    if field_type == "boolean":
        return bool(value)
    if field_type == "datetime" and isinstance(value, str):
        return _instant(value) or value
    if field_type in ("reference", "id") and isinstance(value, str) and len(value) >= 15:
        return value[:15]
    if field_type == "multipicklist" and isinstance(value, str):
        return tuple(sorted(part.strip() for part in value.split(";") if part.strip()))
    return value


def same(a: Any, b: Any, field_type: str) -> bool:
    return normalise(a, field_type) == normalise(b, field_type)


def match_value(value: Any) -> Any:
    """One component of a match key: text compares case-insensitively, as Salesforce matching does."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value.strip().lower()
        return text or None
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def path_value(record: dict[str, Any], path: str) -> Any:
    """``Account.External_Id__c`` from a query record with nested parents."""
    current: Any = record
    for part in path.split("."):
        if not isinstance(current, dict):
            return None
        current = current.get(part)
    return current
