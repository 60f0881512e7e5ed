"""The sandbox org's HTTP surface: a WSGI application answering the Salesforce REST API.

One application serves several orgs; the bearer token of each request says which. Routes are
registered on the :data:`.routing.router` by this module (REST, query, Collections, limits, Tooling)
and by the route modules it imports (``bulk.py`` Bulk API 2.0, ``bulk1.py`` Bulk API 1.0,
``composite.py``, ``oauth.py`` OAuth 2.0, ``replication.py``, ``soap.py``, ``tooling.py``), each a
plain function taking a :class:`.routing.Call` and returning a :class:`werkzeug.Response` or a
JSON-able value. The route modules import :mod:`.routing`, never this module.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote_plus

from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound
from werkzeug.formparser import parse_form_data
from werkzeug.routing import Map
from werkzeug.wrappers import Request, Response

from . import bulk, bulk1, composite, files, oauth, replication, soap
from . import tooling as tooling_routes
from .bulk1 import async_error_for
from .describe import describe_global, describe_sobject, sobject_basic_info
from .errors import ApiError, RecordError, not_found
from .faults import Faults
from .routing import Call, Route, json_response, record_json, router
from .soql import SoqlError, query_columns, run_query
from .store import DAILY_API_MAX, TOOLING_SCHEMA, AllOrNoneFailed, OrgStore

logger = logging.getLogger(__name__)

MIN_VERSION = 31.0      # Summer '14: the oldest version a real org still serves
MAX_VERSION = 62.0
QUERY_PAGE = 2000
COLLECTION_MAX = 200
#: The modules whose routes this application serves besides its own (importing one registers its routes).
ROUTE_MODULES = (bulk, bulk1, composite, oauth, replication, soap, tooling_routes)


def build_url_map() -> Map:
    """The routes every route module registered on :data:`.routing.router`, as a new URL map."""
    return Map([rule.empty() for rule in router.rules])


class SandboxApp:
    """The WSGI application over a set of :class:`OrgStore` objects, keyed by alias."""

    #: Builds a new application's URL map (some 150 rules compiled: about a fifth of a second). The test suite,
    #: which starts a server a test, hands every application the same map (a built map is only read).
    url_map_builder: Callable[[], Map] = staticmethod(build_url_map)

    def __init__(self, orgs: dict[str, OrgStore], instance_url: str = ""):
        self.orgs = orgs
        self.faults: dict[str, Faults] = {alias: Faults() for alias in orgs}
        self.instance_url = instance_url
        self.url_map = self.url_map_builder()
        self.cursors: dict[str, tuple[list[dict[str, Any]], int, str]] = {}
        self.cursor_lock = threading.Lock()
        self.state: dict[str, Any] = {}   # shared scratch space for bulk jobs and OAuth codes

    # ------------------------------------------------------------------ auth
    def org_for_token(self, token: str) -> tuple[str, OrgStore] | None:
        for alias, store in self.orgs.items():
            if token.startswith(store.org_id[:15] + "!") and store.token_state(token) == "valid":
                return alias, store
        return None

    def alias_of(self, store: OrgStore) -> str:
        return next(alias for alias, s in self.orgs.items() if s is store)

    def _authenticate(self, request: Request) -> tuple[str, OrgStore, str]:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else ""
        if not token:
            token = header[6:].strip() if header.lower().startswith("oauth ") else ""
        if not token and request.path.startswith("/services/async/"):
            token = request.headers.get("X-SFDC-Session", "").strip()   # Bulk API 1.0's session header
        found = self.org_for_token(token) if token else None
        if found is None:
            raise ApiError(401, "INVALID_SESSION_ID", "Session expired or invalid")
        return found[0], found[1], token

    # ------------------------------------------------------------------ dispatch
    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        response = self.dispatch(request)
        return response(environ, start_response)

    def dispatch(self, request: Request) -> Response:
        adapter = self.url_map.bind_to_environ(request.environ)
        headers: dict[str, str] = {}
        faults: Faults | None = None
        try:
            try:
                endpoint, args = adapter.match()
            except MethodNotAllowed:
                raise ApiError(405, "METHOD_NOT_ALLOWED",
                               f"HTTP Method '{request.method}' not allowed. Allowed are "
                               f"{','.join(sorted(adapter.allowed_methods()))}") from None
            except NotFound:
                raise not_found() from None
            route = self.handlers()[endpoint]
            version = args.pop("version", "59.0")
            try:
                if not MIN_VERSION <= float(version) <= MAX_VERSION:
                    raise ValueError
            except ValueError:
                raise not_found() from None
            store = faults = token = None
            if route.auth:
                alias, store, token = self._authenticate(request)
                faults = self.faults[alias]
                store.file_storage_mb = faults.file_storage_mb or files.DEFAULT_FILE_STORAGE_MB
                store.max_file_mb = faults.max_file_mb
                if route.counted and not request.environ.get("isyncsf.subrequest"):
                    used = store.count_api_call()
                    limit = faults.api_budget if faults.api_budget is not None else DAILY_API_MAX
                    headers["Sforce-Limit-Info"] = f"api-usage={used}/{limit}"
                    self._api_faults(faults, used)
            call = Call(request, store, faults, version, self, token)
            if faults is not None and faults.observer is not None \
                    and faults.observer("before", request.method, request.path) == "drop":
                self._drop_connection(request)   # the org never saw this call
                return Response(status=503)
            if faults is not None and _is_create(request) and not request.environ.get("isyncsf.subrequest") \
                    and faults.take("hold_create"):
                return self._hold(request, faults, lambda: route.handler(call, **args))
            result = route.handler(call, **args)
            if faults is not None and faults.observer is not None:
                faults.observer("after", request.method, request.path)
            if isinstance(result, Response):
                response = result
            elif result is None:
                response = Response(status=204)
            else:
                response = json_response(result)
            if faults is not None and route.counted and not request.environ.get("isyncsf.subrequest") \
                    and request.method in ("POST", "PATCH", "DELETE", "PUT") \
                    and faults.take("drop_after_commit"):
                self._drop_connection(request)
        except ApiError as exc:
            if request.path.startswith("/services/async/"):
                response = async_error_for(request, exc)
            else:
                response = json_response(exc.envelope(), exc.status)
        except SoqlError as exc:
            response = json_response([{"message": exc.message, "errorCode": exc.error_code}], 400)
        except RecordError as exc:
            response = json_response(ApiError.from_record_error(exc).envelope(), 400)
        except HTTPException as exc:  # pragma: no cover - routing edge cases
            response = json_response([{"message": exc.description, "errorCode": "NOT_FOUND"}], exc.code or 500)
        except Exception:  # a bug in the sandbox: answer like Salesforce does, log the trace
            ref = uuid.uuid4().hex[:12]
            logger.exception("sandbox internal error %s on %s %s", ref, request.method, request.path)
            response = json_response([{"message": f"An unexpected error occurred. Please include this ErrorId "
                                       f"if you contact support: {ref}", "errorCode": "UNKNOWN_EXCEPTION"}], 500)
        for key, value in headers.items():
            response.headers[key] = value
        if faults is not None and not request.environ.get("isyncsf.subrequest"):
            faults.answered(unquote_plus(request.full_path))
        return response

    def handlers(self) -> dict[str, Route]:
        return router.handlers

    @staticmethod
    def _api_faults(faults: Faults, used: int) -> None:
        if faults.latency:
            time.sleep(faults.latency)
        if faults.api_budget is not None and used > faults.api_budget:
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if faults.take("request_limit_exceeded"):
            raise ApiError(403, "REQUEST_LIMIT_EXCEEDED", "TotalRequests Limit exceeded.")
        if faults.take("http_503"):
            raise ApiError(503, "SERVER_UNAVAILABLE", "Server temporarily unavailable. Please try again.")

    def _hold(self, request: Request, faults: Faults, commit: Callable[[], Any]) -> Response:
        """A held create: its body is read, its connection dropped unanswered, and this server thread
        waits until the hold is released to commit it (or discards it when the server stops)."""
        request.get_data(cache=True)
        self._drop_connection(request)

        def run() -> None:
            try:
                commit()
            except (ApiError, RecordError, SoqlError) as exc:
                logger.info("a held create committed late failed: %s", exc)
        faults.hold(run)
        return Response(status=503)   # nobody reads it: the connection is gone

    @staticmethod
    def _drop_connection(request: Request) -> None:
        """Close the socket under the finished request: the client sees the connection drop after
        the org committed, and the server's write of the answer fails quietly."""
        sock = request.environ.get("werkzeug.socket")
        if isinstance(sock, socket.socket):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    # ------------------------------------------------------------------ query cursors
    def page(self, records: list[dict[str, Any]], total: int, version: str, start: int = 0,
             key: str | None = None, tooling: bool = False) -> dict[str, Any]:
        end = start + QUERY_PAGE
        out: dict[str, Any] = {"totalSize": total, "done": end >= len(records), "records": records[start:end]}
        if end < len(records):
            key = key or ("01g" + uuid.uuid4().hex[:15])
            with self.cursor_lock:
                self.cursors[key] = (records, total, "tooling" if tooling else "")
            base = f"/services/data/v{version}/{'tooling/' if tooling else ''}query"
            out["nextRecordsUrl"] = f"{base}/{key}-{end}"
        elif key:
            with self.cursor_lock:
                self.cursors.pop(key, None)
        if tooling:
            out = {"size": len(out["records"]), "totalSize": total, "done": out["done"],
                   "queryLocator": None, "entityTypeName": records[0]["attributes"]["type"] if records else None,
                   **{k: v for k, v in out.items() if k not in ("totalSize", "done")}}
        return out


def _is_create(request: Request) -> bool:
    """A create request: ``POST composite/sobjects`` or ``POST sobjects/X``."""
    return request.method == "POST" and _CREATE_PATH.match(request.path) is not None


_CREATE_PATH = re.compile(r"^/services/data/v[0-9.]+/(composite/sobjects|sobjects/[A-Za-z0-9_]+)/?$")


# ====================================================================== REST routes
def release_name(version: float) -> str:
    """The Salesforce release that introduced API ``version``: 20.0 was Winter '11, three a year."""
    step = int(version) - 20
    return f"{('Winter', 'Spring', 'Summer')[step % 3]} '{11 + step // 3:02d}"


@router.route("/services/data/", ["GET"], auth=False, versioned=False)
def versions(call: Call) -> Any:
    out = []
    version = MIN_VERSION
    while version <= MAX_VERSION:
        out.append({"label": release_name(version), "url": f"/services/data/v{version:.1f}",
                    "version": f"{version:.1f}"})
        version += 1.0
    return out


#: What ``GET /services/data/vXX.X/`` lists (a real org's resource names that this org serves).
RESOURCES = ("sobjects", "query", "queryAll", "search", "limits", "composite", "tooling", "jobs")


@router.route("/", ["GET"])
def resources(call: Call) -> Any:
    base = f"/services/data/v{call.version}"
    out = {name: f"{base}/{name}" for name in RESOURCES}
    # The identity URL of the running user is absolute, as a real org lists it.
    out["identity"] = f"{call.app.instance_url}/id/{call.org.org_id}/{call.org.api_user_id}"
    return dict(sorted(out.items()))


@router.route("/sobjects", ["GET"])
def sobjects(call: Call) -> Any:
    return describe_global(call.org.schema, call.version)


def _object(call: Call, name: str, tooling: bool = False) -> Any:
    spec = call.org.object_spec(name, tooling=tooling)
    if spec is None:
        raise ApiError(404, "NOT_FOUND", "The requested resource does not exist")
    return spec


@router.route("/sobjects/<name>", ["GET"])
def sobject_info(call: Call, name: str) -> Any:
    return sobject_basic_info(_object(call, name), call.version)


@router.route("/sobjects/<name>/describe", ["GET"])
def sobject_describe(call: Call, name: str) -> Any:
    return describe_sobject(call.org.schema, _object(call, name), call.version, call.org)


def _live_row(call: Call, name: str, record_id: str) -> dict[str, Any]:
    row = call.org.get(name, record_id)
    if row is None or row.get("IsDeleted"):
        raise not_found()
    return row


@router.route("/sobjects/<name>", ["POST"])
def sobject_create(call: Call, name: str) -> Any:
    spec = _object(call, name)
    spooled: list[files.Blob] = []
    try:
        if call.request.mimetype == "multipart/form-data":
            body = _multipart_record(call, spec.name, spooled)
        else:
            _check_json_size(call)
            body = call.json()
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
        with call.org.transaction():
            fault = call.faults.record_fault(0) if call.faults else None
            if fault is not None:
                raise fault
            record_id = call.org.create(spec.name, body)
    finally:
        for blob in spooled:   # a file the org kept was moved to its place; what is left was not kept
            blob.discard()
    return json_response({"id": record_id, "success": True, "errors": []}, 201)


def _check_json_size(call: Call) -> None:
    """A JSON body over 50 MB (37.5 MB of base64) is refused before it is read, as a real org refuses it."""
    length = call.request.content_length
    if length is not None and length > files.MAX_JSON_BODY:
        raise ApiError(413, "REQUEST_ENTITY_TOO_LARGE",
                       f"The request body is {length} bytes; a JSON request may carry at most "
                       f"{files.MAX_JSON_BODY} bytes. Send a file this large as multipart/form-data.")


def _multipart_record(call: Call, object_name: str, spooled: list[files.Blob]) -> dict[str, Any]:
    """The record of a ``multipart/form-data`` insert: its fields from the JSON part (``entity_content``,
    ``entity_attachment``...), its base64 field from the binary part named after it, which is written to
    the org's file folder as it streams in (never whole in memory). ``spooled`` receives the spooled files."""
    blob_field = files.BLOB_FIELDS.get(object_name)
    if blob_field is None:
        raise ApiError(400, "INVALID_MULTIPART_REQUEST", f"{object_name} has no binary field to upload; send "
                       "its record as JSON")
    limit = files.MAX_CONTENT_VERSION if object_name == "ContentVersion" else files.MAX_MULTIPART_OTHER
    opened: list[files.SpoolFile] = []

    def stream_factory(total_content_length: Any, content_type: Any, filename: Any,
                       content_length: Any = None) -> Any:
        target = call.org.files.open_spool(limit)
        opened.append(target)
        return target
    try:
        _stream, form, uploads = parse_form_data(call.request.environ, stream_factory=stream_factory,
                                                 max_form_memory_size=files.MAX_JSON_BODY)
    except files.FileTooLarge:
        raise ApiError(400, "MAXIMUM_SIZE_OF_DOCUMENT" if object_name == "ContentVersion"
                       else "MAXIMUM_SIZE_OF_ATTACHMENT",
                       f"The file is larger than the {limit // files.MB} MB one request may carry") from None
    finally:
        blobs = {id(target): target.blob() for target in opened}
        spooled.extend(blobs.values())
    entity: Any = None
    data: files.Blob | None = None
    for key, storage in uploads.items():
        blob = blobs.get(id(storage.stream))
        if blob is None:
            continue
        if key.lower() == blob_field.lower():
            data = blob
        elif key.startswith("entity_") and blob.size <= files.MAX_JSON_BODY:
            entity = blob.path.read_text("utf-8", "replace")
    for key, value in form.items():
        if key.startswith("entity_"):
            entity = value
    if entity is None:
        raise ApiError(400, "INVALID_MULTIPART_REQUEST", "The multipart request has no JSON part with the record's "
                       "fields (name it entity_content for a ContentVersion)")
    try:
        record = json.loads(entity)
    except json.JSONDecodeError as exc:
        raise ApiError(400, "JSON_PARSER_ERROR", f"Unexpected character at [line:{exc.lineno}, "
                       f"column:{exc.colno}]: {exc.msg}") from None
    if not isinstance(record, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
    if data is None:
        raise ApiError(400, "INVALID_MULTIPART_REQUEST", f"The multipart request has no binary part named "
                       f"{blob_field}")
    record[blob_field] = data
    return record


@router.route("/sobjects/<name>/<record_id>/<field_name>", ["GET"])
def sobject_blob(call: Call, name: str, record_id: str, field_name: str) -> Any:
    """``GET /sobjects/ContentVersion/{id}/VersionData`` (or ``Attachment/{id}/Body``): the file's bytes,
    streamed. Any other three-part path is an external-id lookup (``/sobjects/Account/Ext__c/value``)."""
    spec = _object(call, name)
    fspec = spec.field(field_name)
    if fspec is None or fspec.type != "base64" or not _looks_like_id(record_id):
        return sobject_by_external_id(call, name, record_id, field_name)
    row = _live_row(call, spec.name, record_id)
    if not row.get("_blob"):
        raise not_found()
    size = row.get("ContentSize") if spec.name == "ContentVersion" else row.get("BodyLength")
    headers = {"Content-Length": str(size)} if size is not None else {}
    return Response(call.org.blob_chunks(row), status=200, mimetype="application/octet-stream",
                    headers=headers, direct_passthrough=True)


@router.route("/sobjects/<name>/<record_id>", ["GET", "PATCH", "DELETE"])
def sobject_row(call: Call, name: str, record_id: str) -> Any:
    spec = _object(call, name)
    method = call.request.method
    if method == "GET":
        if not _looks_like_id(record_id):
            raise not_found()
        fields = call.request.args.get("fields")
        row = _live_row(call, spec.name, record_id)
        return record_json(call, spec.name, row, [f.strip() for f in fields.split(",")] if fields else None)
    if method == "DELETE":
        with call.org.transaction():
            _live_row(call, spec.name, record_id)
            call.org.delete(record_id)
        return None
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
    with call.org.transaction():
        _live_row(call, spec.name, record_id)
        fault = call.faults.record_fault(0) if call.faults else None
        if fault is not None:
            raise fault
        call.org.update(spec.name, record_id, body)
    return None


def _looks_like_id(value: str) -> bool:
    from .ids import is_valid_id
    return is_valid_id(value)


@router.route("/sobjects/<name>/<field_name>/<path:value>", ["GET", "PATCH", "DELETE"])
def sobject_by_external_id(call: Call, name: str, field_name: str, value: str) -> Any:
    spec = _object(call, name)
    fspec = spec.field(field_name)
    if fspec is None or not (fspec.external_id or fspec.id_lookup):
        raise ApiError(404, "NOT_FOUND", f"Provided external ID field does not exist or is not accessible: "
                       f"{field_name}")
    method = call.request.method
    if method in ("GET", "DELETE"):
        matches = call.org.find_by_value(spec, fspec, value)
        if not matches:
            raise not_found()
        if len(matches) > 1:
            base = f"/services/data/v{call.version}/sobjects/{spec.name}"
            return json_response([f"{base}/{m}" for m in matches], 300)
        if method == "DELETE":
            with call.org.transaction():
                call.org.delete(matches[0])
            return None
        return record_json(call, spec.name, call.org.get(spec.name, matches[0]) or {})
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object for the record")
    update_only = call.request.args.get("updateOnly", "false").lower() == "true"
    with call.org.transaction():
        matches = call.org.find_by_value(spec, fspec, value)
        if len(matches) > 1:
            base = f"/services/data/v{call.version}/sobjects/{spec.name}"
            return json_response([f"{base}/{m}" for m in matches], 300)
        if update_only and not matches:
            raise not_found()
        record_id, created = call.org.upsert(spec.name, fspec.name, body, ext_value=value)
    status = 201 if created else 200
    return json_response({"id": record_id, "success": True, "errors": [], "created": created}, status)


# ---------------------------------------------------------------------- query
def _run_soql(call: Call, include_deleted: bool, tooling: bool = False) -> Any:
    text = call.request.args.get("q")
    if not text:
        raise ApiError(400, "MALFORMED_QUERY", "A query string has to be specified")
    source = _ToolingSource(call.org) if tooling else call.org
    if call.request.args.get("columns", "").lower() == "true":
        with call.org.lock:
            return query_columns(text, source, api_version=call.version)
    with call.org.lock:
        result = run_query(text, source, include_deleted=include_deleted, api_version=call.version,
                           url_prefix="tooling/sobjects" if tooling else "sobjects")
    return call.app.page(result.records, result.total_size, call.version, tooling=tooling)


class _ToolingSource:
    """The Tooling API objects of an org, as a query source."""

    def __init__(self, store: OrgStore):
        self.store = store
        self.schema = TOOLING_SCHEMA

    def rows(self, object_name: str) -> Any:
        return self.store.rows(object_name)

    def get(self, object_name: str, record_id: str) -> Any:
        return self.store.get(object_name, record_id)


def _next_page(call: Call, locator: str) -> Any:
    key, _, start = locator.rpartition("-")
    with call.app.cursor_lock:
        cursor = call.app.cursors.get(key)
    if cursor is None or not start.isdigit():
        raise ApiError(400, "INVALID_QUERY_LOCATOR", "invalid query locator")
    records, total, kind = cursor
    return call.app.page(records, total, call.version, int(start), key=key, tooling=kind == "tooling")


@router.route("/query", ["GET"])
def query(call: Call) -> Any:
    return _run_soql(call, include_deleted=False)


@router.route("/queryAll", ["GET"])
def query_all(call: Call) -> Any:
    return _run_soql(call, include_deleted=True)


@router.route("/query/<locator>", ["GET"])
def query_more(call: Call, locator: str) -> Any:
    return _next_page(call, locator)


@router.route("/queryAll/<locator>", ["GET"])
def query_all_more(call: Call, locator: str) -> Any:
    return _next_page(call, locator)


@router.route("/tooling/query", ["GET"])
def tooling_query(call: Call) -> Any:
    return _run_soql(call, include_deleted=False, tooling=True)


@router.route("/tooling/query/<locator>", ["GET"])
def tooling_query_more(call: Call, locator: str) -> Any:
    return _next_page(call, locator)


# ---------------------------------------------------------------------- sObject Collections
def _collection_records(call: Call) -> tuple[list[dict[str, Any]], bool]:
    body = call.json()
    if not isinstance(body, dict) or not isinstance(body.get("records"), list):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be {\"allOrNone\": bool, \"records\": [...]}")
    records = body["records"]
    if len(records) > COLLECTION_MAX:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {COLLECTION_MAX} "
                       "records into this call")
    if not records:
        raise ApiError(400, "INVALID_FIELD", "No records were provided")
    return records, bool(body.get("allOrNone", False))


def _run_collection(call: Call, items: list[Any], op: Callable[[Any], tuple[str, bool | None]],
                    all_or_none: bool, with_created: bool = False) -> Any:
    fault = call.faults.record_fault if call.faults else None
    try:
        results = call.org.run_each(items, op, all_or_none=all_or_none, fault=fault)
    except AllOrNoneFailed as failed:
        results = failed.results
    return [r.as_json(with_created) for r in results]


def _record_type(record: dict[str, Any]) -> str:
    attributes = record.get("attributes")
    if not isinstance(attributes, dict) or not attributes.get("type"):
        raise RecordError("INVALID_TYPE", "Must send a concrete entity type.", [])
    return str(attributes["type"])


@router.route("/composite/sobjects", ["POST"])
def collection_create(call: Call) -> Any:
    records, all_or_none = _collection_records(call)
    for record in records:
        if isinstance(record, dict) and (record.get("id") or record.get("Id")):
            raise ApiError(400, "INVALID_FIELD", "Can't specify an ID for a create", ["id"])
    return _run_collection(call, records, lambda r: (call.org.create(_record_type(r), r), True), all_or_none)


@router.route("/composite/sobjects", ["PATCH"])
def collection_update(call: Call) -> Any:
    records, all_or_none = _collection_records(call)

    def op(record: dict[str, Any]) -> tuple[str, None]:
        record_id = record.get("id") or record.get("Id")
        if not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        return call.org.update(_record_type(record), record_id, record), None
    return _run_collection(call, records, op, all_or_none)


@router.route("/composite/sobjects", ["DELETE"])
def collection_delete(call: Call) -> Any:
    raw = call.request.args.get("ids", "")
    id_list = [i for i in raw.split(",") if i]
    if not id_list:
        raise ApiError(400, "MISSING_ARGUMENT", "ids parameter is required")
    if len(id_list) > COLLECTION_MAX:
        raise ApiError(400, "EXCEEDED_ID_LIMIT", f"record limit reached. cannot submit more than {COLLECTION_MAX} "
                       "records into this call")
    all_or_none = call.request.args.get("allOrNone", "false").lower() == "true"
    return _run_collection(call, id_list, lambda rid: (call.org.delete(rid), None), all_or_none)


@router.route("/composite/sobjects/<name>", ["GET", "POST"])
def collection_retrieve(call: Call, name: str) -> Any:
    spec = _object(call, name)
    if call.request.method == "POST":
        body = call.json() or {}
        id_list, fields = body.get("ids", []), body.get("fields", [])
    else:
        id_list = [i for i in call.request.args.get("ids", "").split(",") if i]
        fields = [f for f in call.request.args.get("fields", "").split(",") if f]
    if not fields:
        raise ApiError(400, "MISSING_ARGUMENT", "fields parameter is required")
    out: list[Any] = []
    for record_id in id_list:
        row = call.org.get(spec.name, record_id) if _looks_like_id(record_id) else None
        out.append(None if row is None or row.get("IsDeleted") else record_json(call, spec.name, row, fields))
    return out


@router.route("/composite/sobjects/<name>/<field_name>", ["PATCH"])
def collection_upsert(call: Call, name: str, field_name: str) -> Any:
    spec = _object(call, name)
    records, all_or_none = _collection_records(call)

    def op(record: dict[str, Any]) -> tuple[str, bool]:
        if _record_type(record).lower() != spec.name.lower():
            raise RecordError("INVALID_TYPE", f"Record type {_record_type(record)} does not match {spec.name}", [])
        return call.org.upsert(spec.name, field_name, record)
    return _run_collection(call, records, op, all_or_none, with_created=True)


# ---------------------------------------------------------------------- limits
@router.route("/limits", ["GET"])
def limits(call: Call) -> Any:
    used = call.org.api_used
    budget = call.faults.api_budget if call.faults and call.faults.api_budget is not None else DAILY_API_MAX
    return {
        "DailyApiRequests": {"Max": budget, "Remaining": max(budget - used, 0)},
        "DailyBulkApiRequests": {"Max": 15000, "Remaining": 15000},
        "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
        "DataStorageMB": {"Max": 1024, "Remaining": 1000},
        "FileStorageMB": {"Max": call.org.file_storage_mb,
                          "Remaining": max(call.org.file_storage_mb - -(-call.org.file_storage_used() // files.MB), 0)},
        "ConcurrentAsyncGetReportInstances": {"Max": 200, "Remaining": 200},
    }


@router.route("/limits/recordCount", ["GET"])
def record_count(call: Call) -> Any:
    names = [n for n in call.request.args.get("sObjects", "").split(",") if n]
    schema = call.org.schema
    selected = [schema.object(n) for n in names] if names else list(schema.objects.values())
    return {"sObjects": [{"count": call.org.count(s.name), "name": s.name} for s in selected if s is not None]}


# ---------------------------------------------------------------------- sandbox control (tests, demos)
@router.route("/services/sandbox/faults", ["GET", "PATCH"], counted=False, versioned=False)
def sandbox_faults(call: Call) -> Any:
    assert call.faults is not None
    if call.request.method == "PATCH":
        body = call.json()
        if not isinstance(body, dict):
            raise ApiError(400, "JSON_PARSER_ERROR", "Expected a JSON object of fault settings")
        if "observer" in body:
            raise ApiError(400, "INVALID_FIELD", "observer is set from Python only (a test's callback)")
        try:
            call.faults.update(**body)
        except (ValueError, TypeError) as exc:
            raise ApiError(400, "INVALID_FIELD", str(exc)) from None
    return call.faults.as_dict()
