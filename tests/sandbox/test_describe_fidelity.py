"""The sandbox's describe answers against responses recorded from a real org (copied to tests/sandbox/reference).

Same keys, and the same JSON type for every key (null where the real org has null is allowed
either way: a real org itself sends null or a value for most optional keys).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import client_for

REFERENCE = Path(__file__).resolve().parent / "reference"


def _load(name: str) -> dict:
    return json.loads((REFERENCE / name).read_text())


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


# Keys newer API versions add to an sObject describe (present in the v52 Contact recording,
# absent from the older Account one): allowed on our side either way.
NEWER_DESCRIBE_KEYS = {"associateEntityType", "associateParentEntity", "sobjectDescribeOption"}


def _assert_same_shape(ours: dict, real: dict, where: str, allowed_extra: set[str] = frozenset()) -> None:
    missing = set(real) - set(ours)
    extra = set(ours) - set(real) - set(allowed_extra)
    assert not missing and not extra, f"{where}: keys differ: extra {extra}, missing {missing}"
    for key, real_value in real.items():
        mine, theirs = _kind(ours[key]), _kind(real_value)
        if "null" in (mine, theirs):
            continue
        assert mine == theirs, f"{where}.{key}: {mine} here, {theirs} in a real org"


@pytest.mark.parametrize("obj", ["Account", "Contact"])
def test_sobject_describe_matches_a_real_org(demo_server, obj):
    real = _load(f"{obj.lower()}_describe.json")
    ours = client_for(demo_server, "source").restful(f"sobjects/{obj}/describe")
    _assert_same_shape(ours, real, obj, NEWER_DESCRIBE_KEYS)
    real_fields = {f["name"]: f for f in real["fields"]}
    our_fields = {f["name"]: f for f in ours["fields"]}
    for name, field in our_fields.items():
        _assert_same_shape(field, real["fields"][0], f"{obj}.{name}")
    for child in ours["childRelationships"]:
        _assert_same_shape(child, real["childRelationships"][0], f"{obj} child relationship")
    for info in ours["recordTypeInfos"]:
        _assert_same_shape(info, real["recordTypeInfos"][0], f"{obj} record type")
    # Standard fields the demo schema shares with the real org agree on what matters to a sync.
    shared = {name for name in set(real_fields) & set(our_fields) if not name.endswith("__c")}
    assert {"Id", "Name", "OwnerId", "CreatedDate"} <= shared or obj == "Contact"
    for name in shared:
        for key in ("type", "referenceTo", "relationshipName", "nillable", "externalId", "idLookup"):
            if name in ("Name",) and key == "type" and obj == "Contact":
                continue
            assert our_fields[name][key] == real_fields[name][key], f"{obj}.{name}.{key}"


def test_describe_global_matches_a_real_org(demo_server):
    real = _load("global_describe.json")
    ours = client_for(demo_server, "source").describe()
    _assert_same_shape(ours, real, "describeGlobal")
    for entry in ours["sobjects"]:
        _assert_same_shape(entry, real["sobjects"][0], f"describeGlobal.{entry['name']}")
