"""Bulk API 1.0 for the sandbox org: ``/services/async/XX.X/job`` with XML or JSON job and batch info.

* ``POST job`` opens a job (``operation``, ``object``, ``contentType`` CSV, JSON or XML,
  ``externalIdFieldName``); ``POST job/<id>`` with ``state`` Closed or Aborted closes it;
  ``GET job/<id>`` reads it.
* ``POST job/<id>/batch`` adds a batch: CSV, a JSON array of records or an XML ``sObjects`` list for
  ingest jobs, the SOQL text for query jobs. The batch is processed before the answer goes out
  (the answer still says ``Queued``, as Salesforce's does; the next read says ``Completed``).
* ``GET job/<id>/batch``, ``GET job/<id>/batch/<batch>``; ``GET .../batch/<batch>/result``: per-row
  results for ingest (``Id,Success,Created,Error``), the result id list for queries, and
  ``GET .../result/<result>`` the query's records.

The session comes in the ``X-SFDC-Session`` header (or ``Authorization: Bearer``). Rows go through the
same column mapping and store DML as Bulk API 2.0 (``bulk.py``); errors use the Bulk 1.0 envelope
(``exceptionCode`` / ``exceptionMessage``), in XML or JSON like the request.
"""

from __future__ import annotations

import csv
import io
import json
import threading
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape

from werkzeug.wrappers import Request, Response

from . import ids
from .routing import Call, router
from .bulk import (
    INGEST_OPERATIONS,
    NULL_MARKER,
    QUERY_OPERATIONS,
    _check_bulk_query,
    _column_path,
    _csv_value,
    _JobFailure,
    _lookup,
    _operation,
    _plan_columns,
    _row_id,
)
from .errors import ApiError, RecordError
from .soql import FieldPath, FuncItem, SoqlError, parse_soql, run_query
from .values import now_stamp

NS = "http://www.force.com/2009/06/asyncapi/dataload"
CONTENT_TYPES = ("CSV", "JSON", "XML")
BATCH_MAX_RECORDS = 10000
BATCH_MAX_BYTES = 10_000_000
ASYNC_PREFIX = "/services/async/"


class AsyncError(ApiError):
    """A Bulk API 1.0 error: ``exceptionCode`` (e.g. InvalidJob) and its message."""


def async_error_response(request: Request, status: int, code: str, message: str) -> Response:
    """The Bulk 1.0 error envelope, JSON when the request was JSON, else XML."""
    if _wants_json(request):
        return Response(json.dumps({"exceptionCode": code, "exceptionMessage": message}), status=status,
                        content_type="application/json")
    body = (f'<?xml version="1.0" encoding="UTF-8"?><error xmlns="{NS}"><exceptionCode>{escape(code)}'
            f"</exceptionCode><exceptionMessage>{escape(message)}</exceptionMessage></error>")
    return Response(body, status=status, content_type="application/xml")


_SESSION_CODES = {"INVALID_SESSION_ID": "InvalidSessionId", "NOT_FOUND": "InvalidUrl",
                  "METHOD_NOT_ALLOWED": "InvalidUrl"}


def async_error_for(request: Request, exc: ApiError) -> Response:
    """An :class:`ApiError` raised under ``/services/async/`` in Bulk 1.0's shape (400 for a bad session)."""
    code = _SESSION_CODES.get(exc.error_code, exc.error_code)
    status = 400 if code == "InvalidSessionId" else exc.status
    return async_error_response(request, status, code, exc.message)


def _wants_json(request: Request) -> bool:
    kind = (request.headers.get("Content-Type") or "").lower()
    accept = (request.headers.get("Accept") or "").lower()
    return "json" in kind or ("json" in accept and "xml" not in accept)


# ====================================================================== jobs
@dataclass
class _Batch:
    id: str
    job_id: str
    created: str = field(default_factory=now_stamp)
    state: str = "Queued"
    state_message: str | None = None
    processed: int = 0
    failed: int = 0
    processing_ms: int = 0
    results: list[dict[str, Any]] = field(default_factory=list)   # ingest: per row outcome
    records: list[dict[str, Any]] = field(default_factory=list)   # query: REST-shaped records
    columns: list[tuple[str, list[str]]] = field(default_factory=list)
    result_id: str = ""

    def info(self, state: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id, "jobId": self.job_id, "state": state or self.state}
        if self.state_message:
            out["stateMessage"] = self.state_message
        out.update({"createdDate": self.created, "systemModstamp": self.created,
                    "numberRecordsProcessed": self.processed, "numberRecordsFailed": self.failed,
                    "totalProcessingTime": self.processing_ms, "apiActiveProcessingTime": self.processing_ms,
                    "apexProcessingTime": 0})
        return out


@dataclass
class _Job1:
    id: str
    alias: str
    operation: str
    object: str
    content_type: str
    created_by: str
    api_version: str
    external_id_field: str | None = None
    created: str = field(default_factory=now_stamp)
    state: str = "Open"
    batches: list[_Batch] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def info(self) -> dict[str, Any]:
        done = [b for b in self.batches if b.state == "Completed"]
        out: dict[str, Any] = {
            "id": self.id, "operation": self.operation, "object": self.object, "createdById": self.created_by,
            "createdDate": self.created, "systemModstamp": self.created, "state": self.state,
        }
        if self.external_id_field:
            out["externalIdFieldName"] = self.external_id_field
        out.update({
            "concurrencyMode": "Parallel", "contentType": self.content_type,
            "numberBatchesQueued": 0, "numberBatchesInProgress": 0,
            "numberBatchesCompleted": len(done),
            "numberBatchesFailed": sum(1 for b in self.batches if b.state == "Failed"),
            "numberBatchesTotal": len(self.batches),
            "numberRecordsProcessed": sum(b.processed for b in self.batches),
            "numberRetries": 0, "apiVersion": float(self.api_version),
            "numberRecordsFailed": sum(b.failed for b in self.batches),
            "totalProcessingTime": sum(b.processing_ms for b in self.batches),
            "apiActiveProcessingTime": sum(b.processing_ms for b in self.batches),
            "apexProcessingTime": 0,
        })
        return out


class _Jobs:
    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, _Job1] = {}
        self.seq = int(time.time()) * 10

    def new_id(self, call: Call, prefix: str) -> str:
        with self.lock:
            self.seq += 1
            return ids.make_id(prefix, str(call.org.meta("pod", "00")), self.seq)


def _jobs(call: Call) -> _Jobs:
    found = call.app.state.get("bulk1")
    if found is None:
        found = call.app.state.setdefault("bulk1", _Jobs())
    return found


def _job(call: Call, job_id: str) -> _Job1:
    jobs = _jobs(call)
    with jobs.lock:
        job = jobs.jobs.get(job_id) or (jobs.jobs.get(ids.to18(job_id)) if ids.is_valid_id(job_id) else None)
    if job is None or job.alias != call.app.alias_of(call.org):
        raise AsyncError(400, "InvalidJob", f"Unable to find job with id: {job_id}")
    return job


def _batch(job: _Job1, batch_id: str) -> _Batch:
    for batch in job.batches:
        if batch.id == batch_id or batch.id[:15] == batch_id[:15]:
            return batch
    raise AsyncError(400, "InvalidBatch", f"Unable to find batch for id: {batch_id}")


# ====================================================================== rendering
def _xml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return escape(str(value))


def _xml(root: str, body: dict[str, Any]) -> str:
    parts = [f'<?xml version="1.0" encoding="UTF-8"?><{root} xmlns="{NS}">']
    for key, value in body.items():
        parts.append(f"<{key}>{_xml_value(value)}</{key}>" if value is not None else f"<{key}/>")
    parts.append(f"</{root}>")
    return "".join(parts)


def _info_response(call: Call, root: str, body: dict[str, Any], json_mode: bool, status: int = 200) -> Response:
    if json_mode:
        return Response(json.dumps(body), status=status, content_type="application/json")
    return Response(_xml(root, body), status=status, content_type="application/xml")


def _json_mode(call: Call, job: _Job1 | None = None) -> bool:
    if job is not None and call.request.method == "GET":
        return job.content_type == "JSON" or _wants_json(call.request)
    return _wants_json(call.request) if job is None else (
        job.content_type == "JSON" or "json" in (call.request.headers.get("Content-Type") or "").lower())


def _strip(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _request_fields(call: Call) -> dict[str, Any]:
    """A jobInfo request body, JSON or XML, as a flat dict."""
    text = call.request.get_data(as_text=True)
    if _wants_json(call.request):
        try:
            body = json.loads(text or "null")
        except json.JSONDecodeError as exc:
            raise AsyncError(400, "InvalidJob", f"Unable to parse the JSON body: {exc.msg}") from None
        if not isinstance(body, dict):
            raise AsyncError(400, "InvalidJob", "The job info must be a JSON object")
        return body
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise AsyncError(400, "InvalidXML", f"Unable to parse the XML body: {exc}") from None
    return {_strip(child.tag): (child.text or "").strip() for child in root}


# ====================================================================== job routes
@router.route("/services/async/<version>/job", ["POST"], versioned=False)
def create_job(call: Call) -> Any:
    body = _request_fields(call)
    operation = str(body.get("operation") or "")
    if operation not in INGEST_OPERATIONS + QUERY_OPERATIONS:
        raise AsyncError(400, "InvalidJob", f"Invalid operation: {operation or '(none)'}")
    spec = call.org.object_spec(str(body.get("object") or ""))
    if spec is None:
        raise AsyncError(400, "InvalidJob", f"Unable to find object: {body.get('object')}")
    content_type = str(body.get("contentType") or "XML").upper()
    if content_type not in CONTENT_TYPES:
        raise AsyncError(400, "InvalidJob", f"Unsupported content type: {content_type}")
    external = body.get("externalIdFieldName") or None
    if operation == "upsert":
        fspec = spec.field(str(external or ""))
        if fspec is None or not (fspec.external_id or fspec.id_lookup):
            raise AsyncError(400, "InvalidJob", f"External ID was blank for {spec.name}" if not external else
                             f"Field name provided, {external} is not an External ID or indexed field for "
                             f"{spec.name}")
        external = fspec.name
    job = _Job1(id=_jobs(call).new_id(call, "750"), alias=call.app.alias_of(call.org), operation=operation,
                object=spec.name, content_type=content_type, created_by=call.org.api_user_id,
                api_version=call.version, external_id_field=external)
    jobs = _jobs(call)
    with jobs.lock:
        jobs.jobs[job.id] = job
    return _info_response(call, "jobInfo", job.info(), _wants_json(call.request), 201)


@router.route("/services/async/<version>/job/<job_id>", ["GET", "POST"], versioned=False)
def job_info(call: Call, job_id: str) -> Any:
    job = _job(call, job_id)
    if call.request.method == "POST":
        wanted = str(_request_fields(call).get("state") or "")
        if wanted not in ("Closed", "Aborted"):
            raise AsyncError(400, "InvalidJobState", f"Invalid state: {wanted or '(none)'}")
        with job.lock:
            if job.state != "Open":
                raise AsyncError(400, "InvalidJobState", f"Job {job.id} is {job.state}, not Open")
            job.state = wanted
    with job.lock:
        return _info_response(call, "jobInfo", job.info(), _json_mode(call, job))


# ====================================================================== batches
def _csv_rows(text: str) -> tuple[list[str], list[list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        records = [row for row in reader if row]
    except csv.Error as exc:
        raise _JobFailure(f"InvalidBatch : Failed to parse CSV. LineNumber: {reader.line_num}, {exc}") from None
    if not records:
        raise _JobFailure("InvalidBatch : Records not found")
    header = [h.strip() for h in records[0]]
    for number, row in enumerate(records[1:], start=2):
        if len(row) != len(header):
            raise _JobFailure(f"InvalidBatch : Failed to parse CSV. LineNumber: {number}, wrong number of columns")
    return header, records[1:]


def _flatten(record: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """A JSON/XML record as CSV cells: nested parents become ``Rel.ExtField``, null becomes #N/A."""
    out: dict[str, str] = {}
    for key, value in record.items():
        if key == "attributes":
            continue
        if isinstance(value, dict):
            out.update(_flatten(value, f"{prefix}{key}."))
        elif value is None:
            out[prefix + key] = NULL_MARKER
        else:
            out[prefix + key] = _csv_value(value)
    return out


def _records_as_rows(records: list[dict[str, Any]]) -> tuple[list[str], list[list[str]]]:
    flat = [_flatten(r) for r in records]
    header: list[str] = []
    for row in flat:
        header.extend(k for k in row if k not in header)
    return header, [[row.get(h, "") for h in header] for row in flat]


def _xml_records(text: str) -> list[dict[str, Any]]:
    try:
        root = ET.fromstring(text)
    except ET.ParseError as exc:
        raise _JobFailure(f"InvalidBatch : Failed to parse XML: {exc}") from None

    def node(element: ET.Element) -> Any:
        children = list(element)
        if not children:
            nil = element.get("{http://www.w3.org/2001/XMLSchema-instance}nil") == "true"
            return None if nil else (element.text or "")
        return {_strip(c.tag): node(c) for c in children}

    return [node(child) for child in root if _strip(child.tag) == "sObject"]


def _ingest_rows(job: _Job1, data: bytes) -> tuple[list[str], list[list[str]]]:
    text = data.decode("utf-8-sig")
    if job.content_type == "CSV":
        return _csv_rows(text)
    if job.content_type == "JSON":
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise _JobFailure(f"InvalidBatch : Failed to parse JSON: {exc.msg}") from None
        if not isinstance(records, list) or not all(isinstance(r, dict) for r in records):
            raise _JobFailure("InvalidBatch : The batch must be a JSON array of records")
        return _records_as_rows(records)
    return _records_as_rows(_xml_records(text))


@dataclass
class _Rows:
    """What bulk.py's column planning reads from a job."""

    operation: str
    external_id_field: str | None
    header: list[str]
    rows: list[list[str]]


def _run_ingest(call: Call, job: _Job1, batch: _Batch, data: bytes) -> None:
    header, rows = _ingest_rows(job, data)
    if len(rows) > BATCH_MAX_RECORDS:
        raise _JobFailure(f"InvalidBatch : Records exceeds the limit of {BATCH_MAX_RECORDS} per batch")
    spec = call.org.object_spec(job.object)
    assert spec is not None
    shaped = _Rows(job.operation, job.external_id_field, header, rows)
    columns = _plan_columns(shaped, call.org, spec)  # type: ignore[arg-type]
    op = _operation(shaped, call.org, spec, columns)  # type: ignore[arg-type]
    fault = call.faults.record_fault if call.faults else None
    for start in range(0, len(rows), 200):
        chunk = rows[start:start + 200]
        for row, result in zip(chunk, call.org.run_each(chunk, op, all_or_none=False, fault=fault)):
            if result.success:
                batch.results.append({"id": result.id, "success": True,
                                      "created": bool(result.created), "errors": []})
            else:
                error: RecordError = result.errors[0]
                batch.results.append({"id": _row_id(columns, row) or None, "success": False, "created": False,
                                      "errors": [{"statusCode": error.status_code, "message": error.message,
                                                  "fields": error.fields}]})
                batch.failed += 1
    batch.processed = len(batch.results)


def _run_query(call: Call, job: _Job1, batch: _Batch, data: bytes) -> None:
    text = data.decode("utf-8-sig").strip()
    try:
        parsed = parse_soql(text)
        try:
            _check_bulk_query(parsed)
        except ApiError as exc:
            raise _JobFailure(f"InvalidBatch : {exc.message.replace('Bulk API 2.0', 'Bulk API')}") from None
        if parsed.object_name.lower() != job.object.lower():
            raise _JobFailure(f"InvalidBatch : The query object {parsed.object_name} does not match the job's "
                              f"object {job.object}")
        with call.org.lock:
            result = run_query(text, call.org, include_deleted=job.operation == "queryAll",
                               api_version=job.api_version)
    except SoqlError as exc:
        raise _JobFailure(f"InvalidBatch : Failed to process query: {exc.error_code}: {exc.message}") from None
    spec = call.org.object_spec(job.object)
    assert spec is not None
    batch.columns = [_column_path(call.org, spec, parsed, item.field if isinstance(item, FuncItem) else item)
                     for item in parsed.select if isinstance(item, (FieldPath, FuncItem))]
    batch.records = result.records
    batch.processed = len(result.records)
    batch.result_id = ids.make_id("752", str(call.org.meta("pod", "00")), int(time.time() * 1000) % 10**9)


@router.route("/services/async/<version>/job/<job_id>/batch", ["GET", "POST"], versioned=False)
def batches(call: Call, job_id: str) -> Any:
    job = _job(call, job_id)
    if call.request.method == "GET":
        with job.lock:
            infos = [b.info() for b in job.batches]
        if _json_mode(call, job):
            return Response(json.dumps({"batchInfo": infos}), content_type="application/json")
        inner = "".join(_xml("batchInfo", i).split("?>", 1)[1].replace(f' xmlns="{NS}"', "") for i in infos)
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><batchInfoList xmlns="{NS}">{inner}'
                        "</batchInfoList>", content_type="application/xml")
    if job.state != "Open":
        raise AsyncError(400, "InvalidJobState", f"Job {job.id} is {job.state}: batches can be added to open "
                         "jobs only")
    data = call.request.get_data()
    if len(data) > BATCH_MAX_BYTES:
        raise AsyncError(400, "InvalidBatch", f"The batch is larger than {BATCH_MAX_BYTES} bytes")
    batch = _Batch(id=_jobs(call).new_id(call, "751"), job_id=job.id)
    started = time.monotonic()
    try:
        if job.operation in QUERY_OPERATIONS:
            _run_query(call, job, batch, data)
        else:
            _run_ingest(call, job, batch, data)
        batch.state = "Completed"
    except _JobFailure as failure:
        batch.state, batch.state_message = "Failed", str(failure)
    batch.processing_ms = int((time.monotonic() - started) * 1000)
    with job.lock:
        job.batches.append(batch)
    return _info_response(call, "batchInfo", batch.info("Queued"), _json_mode(call, job), 201)


@router.route("/services/async/<version>/job/<job_id>/batch/<batch_id>", ["GET"], versioned=False)
def batch_info(call: Call, job_id: str, batch_id: str) -> Any:
    job = _job(call, job_id)
    return _info_response(call, "batchInfo", _batch(job, batch_id).info(), _json_mode(call, job))


@router.route("/services/async/<version>/job/<job_id>/batch/<batch_id>/request", ["GET"], versioned=False)
def batch_request(call: Call, job_id: str, batch_id: str) -> Any:
    _batch(_job(call, job_id), batch_id)
    raise AsyncError(400, "InvalidBatch", "The sandbox does not keep batch requests")


def _error_text(error: dict[str, Any]) -> str:
    """Bulk CSV error text: ``CODE:message:fields --``."""
    fields = ",".join(error["fields"])
    return f"{error['statusCode']}:{error['message']}:{fields + ' ' if fields else ''}--"


def _xml_result(result: dict[str, Any]) -> str:
    record_id = f"<id>{escape(result['id'])}</id>" if result["id"] else '<id xsi:nil="true"/>'
    errors = "".join(f"<errors><fields>{escape(','.join(e['fields']))}</fields><message>{escape(e['message'])}"
                     f"</message><statusCode>{e['statusCode']}</statusCode></errors>" for e in result["errors"])
    return (f"<result>{record_id}<success>{_xml_value(result['success'])}</success>"
            f"<created>{_xml_value(result['created'])}</created>{errors}</result>")


@router.route("/services/async/<version>/job/<job_id>/batch/<batch_id>/result", ["GET"], versioned=False)
def batch_result(call: Call, job_id: str, batch_id: str) -> Any:
    job = _job(call, job_id)
    batch = _batch(job, batch_id)
    if batch.state != "Completed":
        raise AsyncError(400, "InvalidBatch", f"Batch not completed: {batch.state}")
    if job.operation in QUERY_OPERATIONS:
        if job.content_type == "JSON":
            return Response(json.dumps([batch.result_id]), content_type="application/json")
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><result-list xmlns="{NS}"><result>'
                        f"{batch.result_id}</result></result-list>", content_type="application/xml")
    if job.content_type == "JSON":
        return Response(json.dumps(batch.results), content_type="application/json")
    if job.content_type == "XML":
        rows = "".join(_xml_result(r) for r in batch.results)
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><results xmlns="{NS}" '
                        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{rows}</results>',
                        content_type="application/xml")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow(["Id", "Success", "Created", "Error"])
    for r in batch.results:
        error = r["errors"][0] if r["errors"] else None
        writer.writerow([r["id"] or "", "true" if r["success"] else "false", "true" if r["created"] else "false",
                         _error_text(error) if error else ""])
    return Response(buffer.getvalue(), content_type="text/csv; charset=UTF-8")


@router.route("/services/async/<version>/job/<job_id>/batch/<batch_id>/result/<result_id>", ["GET"],
              versioned=False)
def query_result(call: Call, job_id: str, batch_id: str, result_id: str) -> Any:
    job = _job(call, job_id)
    batch = _batch(job, batch_id)
    if job.operation not in QUERY_OPERATIONS or result_id[:15] != batch.result_id[:15]:
        raise AsyncError(400, "InvalidBatch", f"Unable to find result for id: {result_id}")
    if job.content_type == "JSON":
        return Response(json.dumps(batch.records), content_type="application/json")
    if job.content_type == "XML":
        def element(name: str, value: Any) -> str:
            if isinstance(value, dict):
                inner = "".join(element(k, v) for k, v in value.items() if k != "attributes")
                kind = value.get("attributes", {}).get("type", "")
                return f'<{name} xsi:type="sObject"><type>{kind}</type>{inner}</{name}>'
            if value is None:
                return f'<{name} xsi:nil="true"/>'
            return f"<{name}>{_xml_value(value)}</{name}>"
        rows = "".join(element("records", r) for r in batch.records)
        return Response(f'<?xml version="1.0" encoding="UTF-8"?><queryResult xmlns="{NS}" '
                        f'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">{rows}</queryResult>',
                        content_type="application/xml")
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n", quoting=csv.QUOTE_ALL)
    writer.writerow([header for header, _ in batch.columns])
    for record in batch.records:
        writer.writerow([_csv_value(_lookup(record, path)) for _, path in batch.columns])
    if not batch.records:
        return Response("Records not found for this query", content_type="text/csv; charset=UTF-8")
    return Response(buffer.getvalue(), content_type="text/csv; charset=UTF-8")
