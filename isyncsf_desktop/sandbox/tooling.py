"""Tooling API sObjects: ValidationRule, ApexTrigger, FlowDefinition (and Flow, EntityDefinition).

Reading a record by id returns ``FullName`` and ``Metadata`` as a real org does; PATCHing
``Metadata`` switches validation rules, triggers and flows on and off, which is what the
product's automation control and "Enable Disabled Metadata" use.
"""

from __future__ import annotations

from typing import Any

from .routing import Call, json_response, record_json, router
from .describe import describe_global, describe_sobject
from .errors import ApiError, not_found
from .formula import FormulaError, compile_formula
from .ids import is_valid_id
from .store import TOOLING_SCHEMA

_WRITABLE = {"ValidationRule", "ApexTrigger", "FlowDefinition"}


def _spec(name: str) -> Any:
    spec = TOOLING_SCHEMA.object(name)
    if spec is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return spec


def _row(call: Call, name: str, record_id: str) -> dict[str, Any]:
    row = call.org.get(name, record_id) if is_valid_id(record_id) else None
    if row is None or row.get("IsDeleted"):
        raise not_found()
    return row


def _entity_name(call: Call, entity_id: str | None) -> str | None:
    row = call.org.get("EntityDefinition", entity_id) if entity_id else None
    return row["QualifiedApiName"] if row else None


def _metadata(call: Call, name: str, row: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if name == "ValidationRule":
        full = f"{_entity_name(call, row.get('EntityDefinitionId'))}.{row['ValidationName']}"
        return full, {"active": bool(row.get("Active")), "description": row.get("Description"),
                      "errorConditionFormula": row.get("ErrorConditionFormula"),
                      "errorDisplayField": row.get("ErrorDisplayField"), "errorMessage": row.get("ErrorMessage"),
                      "shouldEvaluateOnClient": False, "urls": None}
    if name == "ApexTrigger":
        return row["Name"], {"apiVersion": row.get("ApiVersion", 59.0), "packageVersions": [],
                             "status": row.get("Status"), "urls": None}
    if name == "FlowDefinition":
        active = call.org.get("Flow", row["ActiveVersionId"]) if row.get("ActiveVersionId") else None
        return row["DeveloperName"], {"activeVersionNumber": active["VersionNumber"] if active else 0,
                                      "description": None, "masterLabel": row.get("MasterLabel"), "urls": None}
    return row.get("Id", ""), {}


@router.route("/tooling/sobjects", ["GET"])
def tooling_sobjects(call: Call) -> Any:
    return describe_global(TOOLING_SCHEMA, call.version, tooling=True)


@router.route("/tooling/sobjects/<name>/describe", ["GET"])
def tooling_describe(call: Call, name: str) -> Any:
    return describe_sobject(TOOLING_SCHEMA, _spec(name), call.version, None, tooling=True)


@router.route("/tooling/sobjects/<name>/<record_id>", ["GET", "PATCH", "DELETE"])
def tooling_row(call: Call, name: str, record_id: str) -> Any:
    spec = _spec(name)
    row = _row(call, spec.name, record_id)
    method = call.request.method
    if method == "GET":
        out = record_json(call, spec.name, row, tooling=True)
        out["FullName"], out["Metadata"] = _metadata(call, spec.name, row)
        return out
    if spec.name not in _WRITABLE:
        raise ApiError(400, "INVALID_TYPE", f"entity type cannot be updated: {spec.name}")
    if method == "DELETE":
        call.org.put_tooling(spec.name, {**row, "IsDeleted": True})
        return None
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    meta = body.get("Metadata") or {}
    if not isinstance(meta, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Metadata must be an object")
    if spec.name == "ValidationRule":
        _patch_validation_rule(call, row, body, meta)
    elif spec.name == "ApexTrigger":
        _patch_trigger(call, row, body, meta)
    else:
        _patch_flow(call, row, meta)
    return None


def _patch_validation_rule(call: Call, row: dict[str, Any], body: dict[str, Any], meta: dict[str, Any]) -> None:
    updated = dict(row)
    mapping = {"active": "Active", "errorConditionFormula": "ErrorConditionFormula", "errorMessage": "ErrorMessage",
               "errorDisplayField": "ErrorDisplayField", "description": "Description"}
    for key, column in mapping.items():
        if key in meta:
            updated[column] = meta[key]
    if "Active" in body:
        updated["Active"] = bool(body["Active"])
    if not isinstance(updated.get("Active"), bool):
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", "Metadata.active must be true or false")
    obj = call.org.schema.object(_entity_name(call, row.get("EntityDefinitionId")) or "")
    try:
        compile_formula(updated.get("ErrorConditionFormula") or "", obj)
    except FormulaError as exc:
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"Error in formula: {exc}") from None
    if not updated.get("ErrorMessage"):
        raise ApiError(400, "REQUIRED_FIELD_MISSING", "Required fields are missing: [ErrorMessage]", ["ErrorMessage"])
    call.org.put_tooling("ValidationRule", updated)


def _production(call: Call) -> bool:
    info = call.org.org_info
    return not info.get("is_sandbox") and "Developer" not in str(info.get("type", ""))


def _patch_trigger(call: Call, row: dict[str, Any], body: dict[str, Any], meta: dict[str, Any]) -> None:
    status = meta.get("status", body.get("Status"))
    if status is None:
        raise ApiError(400, "REQUIRED_FIELD_MISSING", "Metadata.status is required", ["Status"])
    if status not in ("Active", "Inactive"):
        raise ApiError(400, "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST", f"Status: bad value for restricted picklist "
                       f"field: {status}", ["Status"])
    if status != row.get("Status") and _production(call):
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION",
                       "Apex triggers can't be activated or deactivated in a production org through the Tooling "
                       "API. Deploy the change with the Metadata API (set <status> in the trigger-meta.xml) and "
                       "run the org's tests.")
    call.org.put_tooling("ApexTrigger", {**row, "Status": status})


def _patch_flow(call: Call, row: dict[str, Any], meta: dict[str, Any]) -> None:
    if "activeVersionNumber" not in meta:
        raise ApiError(400, "REQUIRED_FIELD_MISSING", "Metadata.activeVersionNumber is required")
    number = meta["activeVersionNumber"]
    versions = [f for f in call.org.rows("Flow") if f.get("DefinitionId") == row["Id"]]
    if number in (0, None):
        for flow in versions:
            if flow.get("Status") == "Active":
                call.org.put_tooling("Flow", {**flow, "Status": "Obsolete"})
        call.org.put_tooling("FlowDefinition", {**row, "ActiveVersionId": None})
        return
    chosen = next((f for f in versions if f.get("VersionNumber") == number), None)
    if chosen is None:
        raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"Flow version {number} does not exist")
    for flow in versions:
        status = "Active" if flow is chosen else ("Obsolete" if flow.get("Status") == "Active" else flow["Status"])
        call.org.put_tooling("Flow", {**flow, "Status": status})
    call.org.put_tooling("FlowDefinition", {**row, "ActiveVersionId": chosen["Id"]})


@router.route("/tooling/sobjects/<name>", ["POST"])
def tooling_create(call: Call, name: str) -> Any:
    spec = _spec(name)
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object")
    if spec.name == "ValidationRule":
        full = body.get("FullName") or ""
        obj_name, _, rule_name = full.partition(".")
        meta = body.get("Metadata") or {}
        if not rule_name:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", "FullName must be Object.RuleName", ["FullName"])
        record_id = call.org.create_validation_rule({
            "ValidationName": rule_name, "EntityDefinitionId": obj_name, "Active": meta.get("active", True),
            "ErrorMessage": meta.get("errorMessage"), "ErrorDisplayField": meta.get("errorDisplayField"),
            "ErrorConditionFormula": meta.get("errorConditionFormula"), "Description": meta.get("description")})
    elif spec.name == "ApexTrigger":
        missing = [k for k in ("Name", "TableEnumOrId", "Body") if not body.get(k)]
        if missing:
            raise ApiError(400, "REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]",
                           missing)
        if _production(call):
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION",
                           "Apex triggers can't be created in a production org through the Tooling API.")
        body_text = str(body["Body"]).lower()
        record_id = call.org.create_trigger({
            "Name": body["Name"], "TableEnumOrId": body["TableEnumOrId"], "Body": body["Body"],
            "Status": body.get("Status", "Active"),
            "UsageBeforeInsert": "before insert" in body_text, "UsageAfterInsert": "after insert" in body_text,
            "UsageBeforeUpdate": "before update" in body_text, "UsageAfterUpdate": "after update" in body_text,
            "FailCondition": body.get("FailCondition"), "FailMessage": body.get("FailMessage")})
    else:
        raise ApiError(400, "INVALID_TYPE", f"entity type cannot be inserted: {spec.name}")
    return json_response({"id": record_id, "success": True, "errors": [], "warnings": [], "infos": []}, 201)
