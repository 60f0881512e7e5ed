"""Describe answers (describeGlobal, sObject describe) in the exact shape a real org returns.

The key sets and value types follow responses recorded from a real org; a test compares them.
"""

from __future__ import annotations

from typing import Any

from .schema import NUMBER_TYPES, SOAP_TYPES, FieldSpec, ObjectSpec, Schema

_MASTER_RT = "012000000000000AAA"


def _urls(name: str, version: str, tooling: bool = False) -> dict[str, str]:
    base = f"/services/data/v{version}/{'tooling/' if tooling else ''}sobjects/{name}"
    return {
        "compactLayouts": f"{base}/describe/compactLayouts",
        "rowTemplate": f"{base}/{{ID}}",
        "approvalLayouts": f"{base}/describe/approvalLayouts",
        "defaultValues": f"{base}/defaultValues?recordTypeId&fields",
        "listviews": f"{base}/listviews",
        "describe": f"{base}/describe",
        "quickActions": f"{base}/quickActions",
        "layouts": f"{base}/describe/layouts",
        "sobject": base,
    }


def _global_entry(obj: ObjectSpec, version: str, tooling: bool = False) -> dict[str, Any]:
    return {
        "activateable": False, "associateEntityType": None, "associateParentEntity": None,
        "createable": obj.createable, "custom": obj.custom, "customSetting": False, "deepCloneable": False,
        "deletable": obj.deletable, "deprecatedAndHidden": False, "feedEnabled": not obj.custom,
        "hasSubtypes": False, "isInterface": False, "isSubtype": False, "keyPrefix": obj.key_prefix,
        "label": obj.label, "labelPlural": obj.label_plural, "layoutable": True, "mergeable": False,
        "mruEnabled": True, "name": obj.name, "queryable": obj.queryable, "replicateable": True,
        "retrieveable": True, "searchable": True, "triggerable": True, "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": {k: v for k, v in _urls(obj.name, version, tooling).items()
                 if k in ("compactLayouts", "rowTemplate", "approvalLayouts", "listviews", "describe",
                          "quickActions", "layouts", "sobject")},
    }


def describe_global(schema: Schema, version: str, tooling: bool = False) -> dict[str, Any]:
    """``GET /sobjects``."""
    return {"encoding": "UTF-8", "maxBatchSize": 200,
            "sobjects": [_global_entry(obj, version, tooling) for obj in schema.objects.values()]}


def sobject_basic_info(obj: ObjectSpec, version: str, tooling: bool = False) -> dict[str, Any]:
    """``GET /sobjects/X``."""
    return {"objectDescribe": _global_entry(obj, version, tooling), "recentItems": []}


def describe_field(obj: ObjectSpec, spec: FieldSpec) -> dict[str, Any]:
    """One entry of ``fields[]``: the 57 keys a real org sends, in alphabetical order."""
    is_text = spec.type in ("string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox")
    is_number = spec.type in NUMBER_TYPES
    byte_length = spec.length * 3 if is_text else (18 if spec.type in ("id", "reference") else 0)
    picklist = [{"active": True, "defaultValue": False, "label": v, "validFor": None, "value": v}
                for v in spec.picklist_values]
    field = {
        "aggregatable": spec.type not in ("textarea", "multipicklist"),
        "aiPredictionField": False,
        "autoNumber": spec.auto_number,
        "byteLength": byte_length,
        "calculated": spec.calculated,
        "calculatedFormula": None,
        "cascadeDelete": False,
        "caseSensitive": spec.case_sensitive,
        "compoundFieldName": None,
        "controllerName": None,
        "createable": spec.createable,
        "custom": spec.custom,
        "defaultValue": spec.default_value if spec.type != "boolean" else bool(spec.default_value),
        "defaultValueFormula": None,
        "defaultedOnCreate": spec.defaulted_on_create,
        "dependentPicklist": False,
        "deprecatedAndHidden": False,
        "digits": 9 if spec.type == "int" else 0,
        "displayLocationInDecimal": False,
        "encrypted": False,
        "externalId": spec.external_id,
        "extraTypeInfo": "personname" if spec.name in ("FirstName", "LastName") and obj.name in ("Contact", "User")
        else None,
        "filterable": spec.type not in ("textarea",),
        "filteredLookupInfo": None,
        "formulaTreatNullNumberAsZero": False,
        "groupable": spec.type not in ("textarea", "double", "currency", "percent", "datetime", "multipicklist"),
        "highScaleNumber": False,
        "htmlFormatted": False,
        "idLookup": spec.id_lookup,
        "inlineHelpText": None,
        "label": spec.label,
        "length": spec.length if is_text else (18 if spec.type in ("id", "reference") else 0),
        "mask": None,
        "maskType": None,
        "name": spec.name,
        "nameField": spec.name_field,
        "namePointing": len(spec.reference_to) > 1,   # Who, What: they point at the Name entity
        "nillable": spec.nillable,
        "permissionable": not spec.system and spec.nillable and not spec.is_master_detail,
        "picklistValues": picklist,
        "polymorphicForeignKey": len(spec.reference_to) > 1,
        "precision": spec.precision if is_number and spec.type != "int" else 0,
        "queryByDistance": False,
        "referenceTargetField": None,
        "referenceTo": list(spec.reference_to),
        "relationshipName": spec.relationship_name,
        "relationshipOrder": 0 if spec.is_master_detail else None,
        "restrictedDelete": False,
        "restrictedPicklist": spec.restricted_picklist,
        "scale": spec.scale if is_number and spec.type != "int" else 0,
        "searchPrefilterable": spec.is_reference,
        "soapType": SOAP_TYPES[spec.type],
        "sortable": spec.type not in ("textarea", "multipicklist"),
        "type": spec.type,
        "unique": spec.unique,
        "updateable": spec.updateable,
        "writeRequiresMasterRead": False,
    }
    return field


def describe_sobject(schema: Schema, obj: ObjectSpec, version: str, store: Any = None,
                     tooling: bool = False) -> dict[str, Any]:
    """``GET /sobjects/X/describe``: fields, childRelationships and recordTypeInfos."""
    children = []
    for child_obj, fspec in schema.children_of(obj.name):
        children.append({
            "cascadeDelete": fspec.is_master_detail,
            "childSObject": child_obj.name,
            "deprecatedAndHidden": False,
            "field": fspec.name,
            "junctionIdListNames": [],
            "junctionReferenceTo": [],
            "relationshipName": child_relationship_name(child_obj, fspec),
            "restrictedDelete": False,
        })
    base = f"/services/data/v{version}/sobjects/{obj.name}/describe/layouts"
    record_types = []
    if obj.record_types and store is not None:
        for row in store.rows("RecordType"):
            if row.get("SobjectType") == obj.name and not row.get("IsDeleted"):
                record_types.append({
                    "active": bool(row.get("IsActive", True)), "available": True,
                    "defaultRecordTypeMapping": not record_types, "developerName": row.get("DeveloperName"),
                    "master": False, "name": row.get("Name"), "recordTypeId": row["Id"],
                    "urls": {"layout": f"{base}/{row['Id']}"}})
    record_types.append({"active": True, "available": True, "defaultRecordTypeMapping": not record_types,
                         "developerName": "Master", "master": True, "name": "Master",
                         "recordTypeId": _MASTER_RT, "urls": {"layout": f"{base}/{_MASTER_RT}"}})
    entry = _global_entry(obj, version, tooling)
    out: dict[str, Any] = {
        "actionOverrides": [],
        "activateable": False,
        "associateEntityType": None,
        "associateParentEntity": None,
        "childRelationships": children,
        "compactLayoutable": True,
        "createable": obj.createable,
        "custom": obj.custom,
        "customSetting": False,
        "deepCloneable": False,
        "defaultImplementation": None,
        "deletable": obj.deletable,
        "deprecatedAndHidden": False,
        "extendedBy": None,
        "extendsInterfaces": None,
        "feedEnabled": entry["feedEnabled"],
        "fields": [describe_field(obj, spec) for spec in obj.fields.values()],
        "hasSubtypes": False,
        "implementedBy": None,
        "implementsInterfaces": None,
        "isInterface": False,
        "isSubtype": False,
        "keyPrefix": obj.key_prefix,
        "label": obj.label,
        "labelPlural": obj.label_plural,
        "layoutable": True,
        "listviewable": None,
        "lookupLayoutable": None,
        "mergeable": False,
        "mruEnabled": True,
        "name": obj.name,
        "namedLayoutInfos": [],
        "networkScopeFieldName": None,
        "queryable": obj.queryable,
        "recordTypeInfos": record_types,
        "replicateable": True,
        "retrieveable": True,
        "searchLayoutable": True,
        "searchable": True,
        "sobjectDescribeOption": "FULL",
        "supportedScopes": [{"label": "All " + obj.label_plural.lower(), "name": "everything"}],
        "triggerable": True,
        "undeletable": obj.deletable,
        "updateable": obj.updateable,
        "urls": _urls(obj.name, version, tooling),
    }
    return out


def child_relationship_name(child: ObjectSpec, fspec: FieldSpec) -> str:
    """Contacts for Contact.AccountId, ChildAccounts for Account.ParentId, X__r for custom objects."""
    if child.custom or fspec.custom:
        return child.label_plural.replace(" ", "_") + "__r"
    if fspec.name == "ParentId" and child.name in fspec.reference_to:
        return "Child" + child.label_plural.replace(" ", "")
    return child.label_plural.replace(" ", "")
