"""Composite resources of the sandbox org: ``/composite``, ``/composite/batch`` and ``/composite/tree``.

``/composite`` and ``/composite/batch`` run their subrequests through the same application (so every
resource answers as it does on its own), in one request's API budget. ``/composite`` resolves
``@{referenceId.path}`` references and, with ``allOrNone``, rolls every subrequest back when one
fails. ``/composite/tree/{object}`` inserts record trees (parents with nested child records) all or
nothing, in one transaction.
"""

from __future__ import annotations

import json
import re
from typing import Any

from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request, Response

from .routing import Call, json_response, router
from .describe import child_relationship_name
from .errors import ApiError, RecordError

COMPOSITE_MAX = 25          # subrequests per /composite or /composite/batch call
TREE_MAX = 200              # records per /composite/tree call, all levels together
SUBREQUEST = "isyncsf.subrequest"   # environ key: the request is part of a composite call (not counted)

_REFERENCE = re.compile(r"@\{([^}]+)\}")
_STEP = re.compile(r"^([^\[\]]+)((?:\[\d+\])*)$")


class _Halt(Exception):
    """Roll a composite request's transaction back."""


def _subrequest(call: Call, method: str, url: str, body: Any, headers: dict[str, str] | None = None
                ) -> tuple[int, Any, dict[str, str]]:
    """Run one subrequest through the application: (status, parsed body or None, response headers)."""
    path, _, query = url.partition("?")
    builder = EnvironBuilder(path=path, query_string=query, method=method.upper(),
                             data=json.dumps(body) if body is not None else None,
                             content_type="application/json" if body is not None else None,
                             headers={**(headers or {}),
                                      "Authorization": call.request.headers.get("Authorization", "")})
    environ = builder.get_environ()
    environ[SUBREQUEST] = True
    response: Response = call.app.dispatch(Request(environ))
    text = response.get_data(as_text=True)
    try:
        parsed = json.loads(text) if text else None
    except json.JSONDecodeError:
        parsed = text
    out_headers = {k: v for k, v in response.headers.items() if k in ("Location",)}
    return response.status_code, parsed, out_headers


# ====================================================================== /composite
class _Unresolved(Exception):
    def __init__(self, expression: str) -> None:
        super().__init__(expression)
        self.expression = expression


def _lookup(results: dict[str, Any], expression: str) -> Any:
    """The value ``refId.path[0].field`` names in the bodies of earlier subrequests."""
    steps = expression.split(".")
    if steps[0] not in results:
        raise _Unresolved(expression)
    value: Any = results[steps[0]]
    for step in steps[1:]:
        match = _STEP.match(step)
        if match is None or not isinstance(value, dict) or match.group(1) not in value:
            raise _Unresolved(expression)
        value = value[match.group(1)]
        for index in re.findall(r"\[(\d+)\]", match.group(2)):
            if not isinstance(value, list) or int(index) >= len(value):
                raise _Unresolved(expression)
            value = value[int(index)]
    if value is None or isinstance(value, (dict, list)):
        raise _Unresolved(expression)
    return value


def _resolve(value: Any, results: dict[str, Any]) -> Any:
    if isinstance(value, str):
        whole = _REFERENCE.fullmatch(value)
        if whole:
            return _lookup(results, whole.group(1))
        return _REFERENCE.sub(lambda m: str(_lookup(results, m.group(1))), value)
    if isinstance(value, dict):
        return {k: _resolve(v, results) for k, v in value.items()}
    if isinstance(value, list):
        return [_resolve(v, results) for v in value]
    return value


def _halted(reference_id: str, message: str) -> dict[str, Any]:
    return {"body": [{"errorCode": "PROCESSING_HALTED", "message": message}], "httpHeaders": {},
            "httpStatusCode": 400, "referenceId": reference_id}


@router.route("/composite", ["POST"])
def composite(call: Call) -> Any:
    body = call.json()
    if not isinstance(body, dict) or not isinstance(body.get("compositeRequest"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be {\"compositeRequest\": [...]}")
    requests = body["compositeRequest"]
    if not requests or len(requests) > COMPOSITE_MAX:
        raise ApiError(400, "INVALID_INPUT" if requests else "JSON_PARSER_ERROR",
                       f"A composite request takes 1 to {COMPOSITE_MAX} subrequests, not {len(requests)}")
    seen: set[str] = set()
    for sub in requests:
        if not isinstance(sub, dict) or not sub.get("method") or not sub.get("url") or not sub.get("referenceId"):
            raise ApiError(400, "INVALID_INPUT", "Each subrequest needs method, url and referenceId")
        if not str(sub["url"]).startswith("/services/data/"):
            raise ApiError(400, "INVALID_INPUT", f"The url {sub['url']} must start with /services/data/")
        if sub["referenceId"] in seen:
            raise ApiError(400, "INVALID_INPUT", f"Duplicate referenceId {sub['referenceId']}")
        seen.add(sub["referenceId"])
    all_or_none = bool(body.get("allOrNone", False))
    out: list[dict[str, Any]] = []
    results: dict[str, Any] = {}
    failed = False
    try:
        with call.org.transaction():
            for sub in requests:
                ref = str(sub["referenceId"])
                if failed and all_or_none:
                    out.append(_halted(ref, "The transaction was rolled back since another operation in the "
                                            "same transaction failed."))
                    continue
                try:
                    url = _resolve(str(sub["url"]), results)
                    payload = _resolve(sub.get("body"), results)
                except _Unresolved as missing:
                    failed = True
                    out.append(_halted(ref, f"Invalid reference specified. No value for {missing.expression} "
                                            "found in a previous subrequest."))
                    continue
                status, answer, headers = _subrequest(call, str(sub["method"]), url, payload,
                                                      sub.get("httpHeaders") or None)
                if status < 300:
                    results[ref] = answer
                else:
                    failed = True
                out.append({"body": answer, "httpHeaders": headers, "httpStatusCode": status, "referenceId": ref})
            if failed and all_or_none:
                raise _Halt
    except _Halt:
        rolled = "The transaction was rolled back since another operation in the same transaction failed."
        out = [entry if entry["httpStatusCode"] >= 400 else _halted(entry["referenceId"], rolled) for entry in out]
    return {"compositeResponse": out}


# ====================================================================== /composite/batch
@router.route("/composite/batch", ["POST"])
def composite_batch(call: Call) -> Any:
    body = call.json()
    if not isinstance(body, dict) or not isinstance(body.get("batchRequests"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be {\"batchRequests\": [...]}")
    requests = body["batchRequests"]
    if not requests or len(requests) > COMPOSITE_MAX:
        raise ApiError(400, "INVALID_INPUT", f"A batch takes 1 to {COMPOSITE_MAX} subrequests, not {len(requests)}")
    halt = bool(body.get("haltOnError", False))
    results: list[dict[str, Any]] = []
    has_errors = False
    for sub in requests:
        if has_errors and halt:
            results.append({"statusCode": 412, "result": [{"errorCode": "BATCH_PROCESSING_HALTED",
                                                            "message": "Batch processing halted per request"}]})
            continue
        if not isinstance(sub, dict) or not sub.get("method") or not sub.get("url"):
            raise ApiError(400, "INVALID_INPUT", "Each batch subrequest needs method and url")
        url = str(sub["url"]).lstrip("/")
        if url.startswith("services/data/"):
            url = url[len("services/data/"):]
        status, answer, _ = _subrequest(call, str(sub["method"]), "/services/data/" + url, sub.get("richInput"))
        if status >= 400:
            has_errors = True
        results.append({"statusCode": status, "result": answer})
    return {"hasErrors": has_errors, "results": results}


# ====================================================================== /composite/tree
def _count_tree(records: list[Any]) -> int:
    total = 0
    for record in records:
        total += 1
        if isinstance(record, dict):
            for value in record.values():
                if isinstance(value, dict) and isinstance(value.get("records"), list):
                    total += _count_tree(value["records"])
    return total


@router.route("/composite/tree/<name>", ["POST"])
def composite_tree(call: Call, name: str) -> Any:
    spec = call.org.object_spec(name)
    if spec is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    body = call.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list) or not body["records"]:
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be {\"records\": [...]}")
    if _count_tree(body["records"]) > TREE_MAX:
        raise ApiError(400, "LIMIT_EXCEEDED", f"Exceeded max limit of {TREE_MAX} records in a tree request")
    results: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()

    def insert(record: Any, type_name: str, parent: tuple[str, str] | None) -> None:
        if not isinstance(record, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Each record must be a JSON object")
        attributes = record.get("attributes") if isinstance(record.get("attributes"), dict) else {}
        ref = attributes.get("referenceId")
        if not ref:
            raise ApiError(400, "INVALID_INPUT", "Include a reference ID for each record in the request.")
        if ref in seen:
            raise ApiError(400, "INVALID_INPUT", f"Duplicate ReferenceId provided in the request: {ref}")
        seen.add(ref)
        declared = attributes.get("type")
        if declared and str(declared).lower() != type_name.lower():
            raise ApiError(400, "INVALID_INPUT", f"The type {declared} of record {ref} does not match {type_name}")
        obj = call.org.object_spec(type_name)
        assert obj is not None
        values: dict[str, Any] = {}
        children: list[tuple[str, list[Any]]] = []
        for key, value in record.items():
            if key == "attributes":
                continue
            if isinstance(value, dict) and isinstance(value.get("records"), list):
                children.append((key, value["records"]))
            else:
                values[key] = value
        if parent is not None:
            values[parent[0]] = parent[1]
        try:
            with call.org.transaction():
                record_id = call.org.create(obj.name, values)
        except RecordError as error:
            errors.append({"referenceId": ref, "errors": [error.as_result()]})
            return
        results.append({"referenceId": ref, "id": record_id})
        for relationship, child_records in children:
            match = next(((child, fspec) for child, fspec in call.org.schema.children_of(obj.name)
                          if child_relationship_name(child, fspec).lower() == relationship.lower()), None)
            if match is None:
                raise ApiError(400, "INVALID_FIELD", f"No such column '{relationship}' on sobject of type "
                               f"{obj.name}")
            for child_record in child_records:
                insert(child_record, match[0].name, (match[1].name, record_id))

    try:
        with call.org.transaction():
            for record in body["records"]:
                insert(record, spec.name, None)
            if errors:
                raise _Halt
    except _Halt:
        return json_response({"hasErrors": True, "results": errors}, 400)
    return json_response({"hasErrors": False, "results": results}, 201)
