"""The schema of a sandbox org, as data.

A schema is a JSON document (see ``schemas/demo.json``)::

    {"objects": {"Account": {"label": "Account", "labelPlural": "Accounts", "keyPrefix": "001",
                              "nameField": "Name", "owned": true, "recordTypes": ["Customer"],
                              "fields": {"Name": {"type": "string", "length": 255, "required": true},
                                         "ParentId": {"type": "reference", "referenceTo": ["Account"],
                                                      "relationshipName": "Parent"}}}}}

System fields (Id, IsDeleted, CreatedDate, CreatedById, LastModifiedDate, LastModifiedById,
SystemModstamp; OwnerId when ``owned``; RecordTypeId when the object has record types) are added
by :func:`load_schema`, so a schema file only lists what differs between objects. An owned object
with ``"queues": true`` can be owned by a queue, as Case, Lead and custom objects can in a real org:
its OwnerId refers to ``["Group", "User"]`` (the org accepts a queue whose QueueSobject rows list
the object).

Field keys (all optional but ``type``): label, length, precision, scale, referenceTo,
relationshipName, required (= not nillable), nillable, createable, updateable, defaultedOnCreate,
defaultValue, externalId, unique, idLookup, caseSensitive, values (picklist values),
relationshipType ("lookup" | "master-detail"), custom, calculated, autoNumber, nameField.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

FIELD_TYPES = {
    "id", "string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "boolean",
    "int", "double", "currency", "percent", "date", "datetime", "reference", "combobox", "base64",
}

SOAP_TYPES = {
    "id": "tns:ID", "reference": "tns:ID", "string": "xsd:string", "textarea": "xsd:string",
    "email": "xsd:string", "phone": "xsd:string", "url": "xsd:string", "picklist": "xsd:string",
    "multipicklist": "xsd:string", "combobox": "xsd:string", "boolean": "xsd:boolean",
    "int": "xsd:int", "double": "xsd:double", "currency": "xsd:double", "percent": "xsd:double",
    "date": "xsd:date", "datetime": "xsd:dateTime", "base64": "xsd:base64Binary",
}

TEXT_TYPES = {"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox"}
NUMBER_TYPES = {"int", "double", "currency", "percent"}


class SchemaError(ValueError):
    """A schema document is malformed; the message names the object and field."""


@dataclass
class FieldSpec:
    """One field of an sObject, with the describe flags of the API user."""

    name: str
    type: str
    label: str
    length: int = 0
    precision: int = 0
    scale: int = 0
    reference_to: list[str] = field(default_factory=list)
    relationship_name: str | None = None
    relationship_type: str | None = None  # "lookup" | "master-detail" for references
    nillable: bool = True
    createable: bool = True
    updateable: bool = True
    defaulted_on_create: bool = False
    default_value: Any = None
    external_id: bool = False
    unique: bool = False
    id_lookup: bool = False
    case_sensitive: bool = False
    custom: bool = False
    calculated: bool = False
    auto_number: bool = False
    name_field: bool = False
    picklist_values: list[str] = field(default_factory=list)
    restricted_picklist: bool = False
    system: bool = False  # maintained by the org (Id, audit fields, IsDeleted)

    @property
    def is_reference(self) -> bool:
        return self.type == "reference"

    @property
    def is_master_detail(self) -> bool:
        return self.relationship_type == "master-detail"

    @property
    def required_on_create(self) -> bool:
        """Salesforce's rule: createable, not nillable and not defaulted on create."""
        return self.createable and not self.nillable and not self.defaulted_on_create


@dataclass
class ObjectSpec:
    """One sObject: its describe-level facts and its fields, in declaration order."""

    name: str
    label: str
    label_plural: str
    key_prefix: str
    custom: bool = False
    name_field: str | None = "Name"
    fields: dict[str, FieldSpec] = field(default_factory=dict)
    record_types: list[str] = field(default_factory=list)
    createable: bool = True
    updateable: bool = True
    deletable: bool = True
    queryable: bool = True
    tooling_only: bool = False

    def field(self, name: str) -> FieldSpec | None:
        """Case-insensitive field lookup, as Salesforce does it."""
        spec = self.fields.get(name)
        if spec is not None:
            return spec
        lowered = name.lower()
        for key, value in self.fields.items():
            if key.lower() == lowered:
                return value
        return None

    def relationship(self, name: str) -> FieldSpec | None:
        """The reference field whose relationshipName is ``name`` (case-insensitive)."""
        lowered = name.lower()
        for spec in self.fields.values():
            if spec.relationship_name and spec.relationship_name.lower() == lowered:
                return spec
        return None


@dataclass
class Schema:
    """All objects of one org."""

    objects: dict[str, ObjectSpec]

    def object(self, name: str) -> ObjectSpec | None:
        """Case-insensitive object lookup."""
        spec = self.objects.get(name)
        if spec is not None:
            return spec
        lowered = name.lower()
        for key, value in self.objects.items():
            if key.lower() == lowered:
                return value
        return None

    def by_prefix(self, prefix: str) -> ObjectSpec | None:
        for spec in self.objects.values():
            if spec.key_prefix == prefix:
                return spec
        return None

    def children_of(self, parent: str) -> list[tuple[ObjectSpec, FieldSpec]]:
        """(child object, reference field) pairs that point at ``parent``."""
        out = []
        for obj in self.objects.values():
            for spec in obj.fields.values():
                if spec.is_reference and parent in spec.reference_to and not spec.system:
                    out.append((obj, spec))
        return out


def _field_from_json(obj_name: str, name: str, raw: dict[str, Any]) -> FieldSpec:
    ftype = raw.get("type")
    if ftype not in FIELD_TYPES:
        raise SchemaError(f"{obj_name}.{name}: unknown field type {ftype!r}")
    nillable = raw.get("nillable", not raw.get("required", False))
    if ftype == "boolean":
        nillable = False
    relationship_type = raw.get("relationshipType")
    if ftype == "reference":
        if not raw.get("referenceTo"):
            raise SchemaError(f"{obj_name}.{name}: a reference field needs referenceTo")
        relationship_type = relationship_type or "lookup"
        if relationship_type == "master-detail":
            nillable = False
    length = raw.get("length")
    if length is None:
        length = {"string": 255, "textarea": 32768, "email": 80, "phone": 40, "url": 255,
                  "picklist": 255, "multipicklist": 4099, "combobox": 255, "reference": 18,
                  "id": 18}.get(ftype, 0)
    return FieldSpec(
        name=name,
        type=ftype,
        label=raw.get("label", name.removesuffix("__c").replace("_", " ")),
        length=int(length),
        precision=int(raw.get("precision", 18 if ftype in ("currency", "double", "percent") else 0)),
        scale=int(raw.get("scale", 2 if ftype in ("currency", "percent") else 0)),
        reference_to=list(raw.get("referenceTo", [])),
        relationship_name=raw.get("relationshipName"),
        relationship_type=relationship_type,
        nillable=bool(nillable),
        createable=bool(raw.get("createable", not raw.get("calculated", False))),
        updateable=bool(raw.get("updateable", relationship_type != "master-detail"
                                and not raw.get("calculated", False))),
        defaulted_on_create=bool(raw.get("defaultedOnCreate", ftype == "boolean"
                                         or "defaultValue" in raw)),
        default_value=raw.get("defaultValue", False if ftype == "boolean" else None),
        external_id=bool(raw.get("externalId", False)),
        unique=bool(raw.get("unique", False)),
        id_lookup=bool(raw.get("idLookup", raw.get("externalId", False) or raw.get("unique", False))),
        case_sensitive=bool(raw.get("caseSensitive", False)),
        custom=bool(raw.get("custom", name.endswith("__c"))),
        calculated=bool(raw.get("calculated", False)),
        auto_number=bool(raw.get("autoNumber", False)),
        name_field=bool(raw.get("nameField", False)),
        picklist_values=list(raw.get("values", [])),
        restricted_picklist=bool(raw.get("restrictedPicklist", False)),
    )


def _system_fields(obj: dict[str, Any]) -> dict[str, FieldSpec]:
    """The fields every sObject has, in the order a real describe lists them."""
    sys_ro = dict(createable=False, updateable=False, system=True)
    audit = dict(nillable=False, defaulted_on_create=True, **sys_ro)
    out = {
        "Id": FieldSpec("Id", "id", f"{obj.get('label', '')} ID".strip(), length=18, nillable=False,
                        defaulted_on_create=True, id_lookup=True, **sys_ro),
        "IsDeleted": FieldSpec("IsDeleted", "boolean", "Deleted", nillable=False,
                               defaulted_on_create=True, default_value=False, **sys_ro),
    }
    if obj.get("owned"):
        owners = ["Group", "User"] if obj.get("queues") else ["User"]
        out["OwnerId"] = FieldSpec("OwnerId", "reference", "Owner ID", length=18, reference_to=owners,
                                   relationship_name="Owner", relationship_type="lookup",
                                   nillable=False, defaulted_on_create=True)
    if obj.get("recordTypes"):
        out["RecordTypeId"] = FieldSpec("RecordTypeId", "reference", "Record Type ID", length=18,
                                        reference_to=["RecordType"], relationship_name="RecordType",
                                        relationship_type="lookup")
    out.update({
        "CreatedDate": FieldSpec("CreatedDate", "datetime", "Created Date", **audit),
        "CreatedById": FieldSpec("CreatedById", "reference", "Created By ID", length=18,
                                 reference_to=["User"], relationship_name="CreatedBy",
                                 relationship_type="lookup", **audit),
        "LastModifiedDate": FieldSpec("LastModifiedDate", "datetime", "Last Modified Date", **audit),
        "LastModifiedById": FieldSpec("LastModifiedById", "reference", "Last Modified By ID", length=18,
                                      reference_to=["User"], relationship_name="LastModifiedBy",
                                      relationship_type="lookup", **audit),
        "SystemModstamp": FieldSpec("SystemModstamp", "datetime", "System Modstamp", **audit),
    })
    return out


def load_schema(document: dict[str, Any], *, check_references: bool = True) -> Schema:
    """Build a :class:`Schema` from its JSON document, adding the system fields.

    ``check_references=False`` allows references to objects outside the document (the Tooling
    objects point at the org's User object, which lives in the data schema).
    """
    objects: dict[str, ObjectSpec] = {}
    raw_objects = document.get("objects")
    if not isinstance(raw_objects, dict) or not raw_objects:
        raise SchemaError("a schema needs a non-empty 'objects' mapping")
    prefixes: set[str] = set()
    for name, raw in raw_objects.items():
        prefix = raw.get("keyPrefix")
        if not prefix or len(prefix) != 3:
            raise SchemaError(f"{name}: keyPrefix must be 3 characters")
        if prefix in prefixes:
            raise SchemaError(f"{name}: keyPrefix {prefix} is used twice")
        prefixes.add(prefix)
        system = _system_fields(raw)
        fields: dict[str, FieldSpec] = {"Id": system.pop("Id"), "IsDeleted": system.pop("IsDeleted")}
        for fname, fraw in raw.get("fields", {}).items():
            fields[fname] = _field_from_json(name, fname, fraw)
        for fname, spec in system.items():
            fields.setdefault(fname, spec)
        name_field = raw.get("nameField", "Name" if "Name" in fields else None)
        if name_field and name_field in fields:
            fields[name_field].name_field = True
        objects[name] = ObjectSpec(
            name=name,
            label=raw.get("label", name),
            label_plural=raw.get("labelPlural", raw.get("label", name) + "s"),
            key_prefix=prefix,
            custom=bool(raw.get("custom", name.endswith("__c"))),
            name_field=name_field,
            fields=fields,
            record_types=list(raw.get("recordTypes", [])),
            createable=bool(raw.get("createable", True)),
            updateable=bool(raw.get("updateable", True)),
            deletable=bool(raw.get("deletable", True)),
            queryable=bool(raw.get("queryable", True)),
        )
    schema = Schema(objects)
    for obj in objects.values():
        for spec in obj.fields.values():
            for target in spec.reference_to:
                if check_references and target not in objects:
                    raise SchemaError(f"{obj.name}.{spec.name}: referenceTo {target!r} is not in the schema")
    return schema


def builtin_schema_document(name: str = "demo") -> dict[str, Any]:
    """A copy of a schema shipped with the package (``schemas/<name>.json``)."""
    text = resources.files("isyncsf_desktop.sandbox").joinpath("schemas", f"{name}.json").read_text("utf-8")
    return json.loads(text)


def apply_overrides(document: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``document`` changed the way one org differs from another.

    ``overrides``: ``{"remove_fields": ["Account.Rating"], "field_flags": {"Contact.Phone":
    {"updateable": false}}, "remove_objects": ["X__c"]}``.
    """
    doc = copy.deepcopy(document)
    objects = doc["objects"]
    for obj_name in overrides.get("remove_objects", []):
        objects.pop(obj_name, None)
    for path in overrides.get("remove_fields", []):
        obj_name, fname = path.split(".", 1)
        objects[obj_name]["fields"].pop(fname, None)
    for path, flags in overrides.get("field_flags", {}).items():
        obj_name, fname = path.split(".", 1)
        objects[obj_name]["fields"][fname].update(flags)
    return doc
