"""Bulk API 2.0 for the sandbox org: ingest jobs (CSV in, per-row results out) and query jobs.

Routes live under ``/services/data/vXX.X/jobs/``:

* ``GET jobs/ingest`` lists the org's ingest jobs (every user's, paged: ``nextRecordsUrl``);
  ``POST jobs/ingest`` opens a job; ``PUT jobs/ingest/<id>/batches`` uploads its CSV (once);
  ``PATCH jobs/ingest/<id>`` with ``{"state": "UploadComplete"}`` starts processing (on a
  background thread, or inline when ``app.state["bulk_synchronous"]`` is truthy) and
  ``{"state": "Aborted"}`` stops it; ``GET`` reads the job, ``DELETE`` forgets it;
  ``GET jobs/ingest/<id>/successfulResults|failedResults|unprocessedrecords`` return CSVs (in a
  shuffled order when ``app.state["bulk_result_order"] == "shuffled"``, as Salesforce may).
* ``POST jobs/query`` runs a SOQL query (checked up front, so a bad query answers 400);
  ``GET jobs/query/<id>/results?maxRecords=&locator=`` pages the CSV result.

Rows are written through the store's DML (``OrgStore.run_each``, 200 rows per transaction), so
field checks, validation rules, triggers, flows and injected record faults apply exactly as they
do for the REST API. Jobs live in memory (``app.state["bulk2"]``) and belong to one org: another
org's token gets 404 for them. In CSV input an empty cell leaves the field alone and ``#N/A``
sets it to null; ``Rel.ExtField`` / ``Rel:Type.ExtField`` columns look parents up by external id.
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from werkzeug.wrappers import Response

from . import ids
from .routing import Call, router
from .errors import ApiError, RecordError, not_found
from .faults import lock_error
from .schema import FieldSpec, ObjectSpec
from .soql import (CountItem, FieldPath, FuncItem, SoqlError, SoqlQuery, SubqueryItem, TypeofItem, parse_soql,
                   run_query)
from .store import OrgStore
from .values import now_stamp

logger = logging.getLogger(__name__)

INGEST_OPERATIONS = ("insert", "update", "upsert", "delete", "hardDelete")
QUERY_OPERATIONS = ("query", "queryAll")
DELIMITERS = {"COMMA": ",", "TAB": "\t", "PIPE": "|", "SEMICOLON": ";", "CARET": "^", "BACKQUOTE": "`"}
LINE_ENDINGS = {"LF": "\n", "CRLF": "\r\n"}
CHUNK_SIZE = 200                      # rows per store transaction
DEFAULT_MAX_RECORDS = 50000           # query result page size when the client gives none
MAX_UPLOAD_BYTES = 150 * 1024 * 1024  # Salesforce's limit for one job's data (base64-encoded)
NULL_MARKER = "#N/A"
NOT_LOCKED = frozenset({"User", "Group", "RecordType"})   # lookups whose records a write does not lock
TERMINAL_STATES = ("JobComplete", "Failed", "Aborted")


# ====================================================================== job records
@dataclass
class _Job:
    """What every Bulk 2.0 job has, whichever kind."""

    id: str
    alias: str
    operation: str
    object: str
    created_by: str
    api_version: float
    column_delimiter: str
    line_ending: str
    created: str = field(default_factory=now_stamp)
    modstamp: str = ""
    state: str = "Open"
    error_message: str | None = None
    processed: int = 0
    processing_ms: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def __post_init__(self) -> None:
        self.modstamp = self.modstamp or self.created

    def set_state(self, state: str, error: str | None = None) -> None:
        """Move to ``state`` (and note why, for Failed); callers hold :attr:`lock`."""
        self.state = state
        if error is not None:
            self.error_message = error
        self.modstamp = now_stamp()

    def base_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "operation": self.operation,
            "object": self.object,
            "createdById": self.created_by,
            "createdDate": self.created,
            "systemModstamp": self.modstamp,
            "state": self.state,
            "concurrencyMode": "Parallel",
            "contentType": "CSV",
            "apiVersion": self.api_version,
        }

    @property
    def delimiter_char(self) -> str:
        return DELIMITERS[self.column_delimiter]

    @property
    def newline(self) -> str:
        return LINE_ENDINGS[self.line_ending]


@dataclass
class _IngestJob(_Job):
    """An ingest job: the uploaded CSV and, once processed, each row's outcome."""

    external_id_field: str | None = None
    content: bytes | None = None
    header: list[str] = field(default_factory=list)
    rows: list[list[str]] = field(default_factory=list)
    # one entry per attempted row: (row index, record id or "", created, error text or None)
    outcomes: list[tuple[int, str, bool, str | None]] = field(default_factory=list)
    failed: int = 0
    abort_requested: bool = False
    aborted: threading.Event = field(default_factory=threading.Event, repr=False)   # set with abort_requested

    def as_json(self, *, detail: bool) -> dict[str, Any]:
        out = self.base_json()
        out["externalIdFieldName"] = self.external_id_field
        out["jobType"] = "V2Ingest"
        out["contentUrl"] = f"services/data/v{self.api_version:.1f}/jobs/ingest/{self.id}/batches"
        out["lineEnding"] = self.line_ending
        out["columnDelimiter"] = self.column_delimiter
        if detail:
            out.update({
                "numberRecordsProcessed": self.processed,
                "numberRecordsFailed": self.failed,
                "retries": 0,
                "totalProcessingTime": self.processing_ms,
                "apiActiveProcessingTime": self.processing_ms,
                "apexProcessingTime": 0,
            })
            if self.state == "Failed" and self.error_message:
                out["errorMessage"] = self.error_message
        if out["externalIdFieldName"] is None:
            del out["externalIdFieldName"]
        return out


@dataclass
class _QueryJob(_Job):
    """A query job: its SOQL, the CSV header and the result rows (already formatted)."""

    query: str = ""
    columns: list[str] = field(default_factory=list)
    result: list[list[str]] = field(default_factory=list)

    def as_json(self, *, detail: bool) -> dict[str, Any]:
        out = self.base_json()
        out["jobType"] = "V2Query"
        out["lineEnding"] = self.line_ending
        out["columnDelimiter"] = self.column_delimiter
        if detail:
            out.update({"numberRecordsProcessed": self.processed, "retries": 0,
                        "totalProcessingTime": self.processing_ms, "isPkChunkingSupported": False})
            if self.state == "Failed" and self.error_message:
                out["errorMessage"] = self.error_message
        return out


class _Registry:
    """All Bulk 2.0 jobs of one :class:`SandboxApp`, keyed by job id."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.jobs: dict[str, _Job] = {}
        self._seq = int(time.time())

    def new_id(self, store: OrgStore) -> str:
        pod = str(store.meta("pod", "00"))
        with self.lock:
            self._seq += 1
            return ids.make_id("750", pod, self._seq)

    def add(self, job: _Job) -> None:
        with self.lock:
            self.jobs[job.id] = job

    def remove(self, job_id: str) -> None:
        with self.lock:
            self.jobs.pop(job_id, None)

    def find(self, job_id: str) -> _Job | None:
        with self.lock:
            job = self.jobs.get(job_id)
            if job is None and ids.is_valid_id(job_id):
                job = self.jobs.get(ids.to18(job_id))
            return job

    def of_alias(self, alias: str, kind: type[_Job]) -> list[_Job]:
        with self.lock:
            return [job for job in self.jobs.values() if job.alias == alias and isinstance(job, kind)]


def _registry(call: Call) -> _Registry:
    registry = call.app.state.get("bulk2")
    if registry is None:
        registry = call.app.state.setdefault("bulk2", _Registry())
    return registry


def _alias(call: Call) -> str:
    return call.app.alias_of(call.org)


def _job(call: Call, job_id: str, kind: type[_Job]) -> Any:
    job = _registry(call).find(job_id)
    if job is None or not isinstance(job, kind) or job.alias != _alias(call):
        raise not_found()
    return job


# ====================================================================== request helpers
def _body(call: Call) -> dict[str, Any]:
    body = call.json()
    if not isinstance(body, dict):
        raise ApiError(400, "JSON_PARSER_ERROR", "The request body must be a JSON object")
    return body


def _format_options(body: dict[str, Any]) -> tuple[str, str]:
    delimiter = body.get("columnDelimiter") or "COMMA"
    line_ending = body.get("lineEnding") or "LF"
    if delimiter not in DELIMITERS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid value for columnDelimiter: {delimiter}. "
                       f"Valid values: {', '.join(DELIMITERS)}")
    if line_ending not in LINE_ENDINGS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid value for lineEnding: {line_ending}. "
                       "Valid values: LF, CRLF")
    content_type = body.get("contentType") or "CSV"
    if content_type != "CSV":
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Unsupported content type: {content_type}. "
                       "Bulk API 2.0 accepts CSV only")
    return delimiter, line_ending


def _csv_response(text: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(text.encode("utf-8"), status=status, content_type="text/csv; charset=UTF-8",
                    headers=headers)


def _write_csv(job: _Job, header: list[str], rows: list[list[str]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, delimiter=job.delimiter_char, lineterminator=job.newline,
                        quoting=csv.QUOTE_ALL)
    writer.writerow(header)
    writer.writerows(rows)
    return buffer.getvalue()


def _bad_state(job: _Job, wanted: str) -> ApiError:
    return ApiError(400, "INVALIDJOBSTATE", f"Job {job.id} is in state {job.state}; {wanted}")


# ====================================================================== ingest: routes
@router.route("/jobs/ingest", ["GET", "POST"])
def ingest_jobs(call: Call) -> Any:
    """List this org's ingest jobs, or create one (state Open)."""
    if call.request.method == "GET":
        return _job_list(call)
    body = _body(call)
    operation = body.get("operation")
    if operation not in INGEST_OPERATIONS:
        if operation in QUERY_OPERATIONS:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Operation {operation} is not allowed for "
                           "ingest jobs; create it under jobs/query")
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid value for operation: {operation}. Valid "
                       f"values: {', '.join(INGEST_OPERATIONS)}")
    object_name = body.get("object")
    if not isinstance(object_name, str) or not object_name:
        raise ApiError(400, "INVALIDJOB", "InvalidJob : The object field is required")
    spec = call.org.object_spec(object_name)
    if spec is None:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Unable to find object: {object_name}")
    delimiter, line_ending = _format_options(body)
    ext_field: str | None = None
    if operation == "upsert":
        raw = body.get("externalIdFieldName")
        if not isinstance(raw, str) or not raw:
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : External ID was blank for {spec.name}. An "
                           "External ID must be specified for upsert.")
        fspec = spec.field(raw)
        if fspec is None or not (fspec.external_id or fspec.id_lookup or fspec.name == "Id"):
            raise ApiError(400, "INVALIDJOB", f"InvalidJob : Field name provided, {raw} does not match an "
                           f"External ID, Salesforce Id, or indexed field for {spec.name}")
        ext_field = fspec.name
    created_by = (call.faults.bulk_created_by if call.faults else None) or call.org.api_user_id
    job = _IngestJob(id=_registry(call).new_id(call.org), alias=_alias(call), operation=operation,
                     object=spec.name, created_by=created_by, api_version=float(call.version),
                     column_delimiter=delimiter, line_ending=line_ending, external_id_field=ext_field)
    _registry(call).add(job)
    return job.as_json(detail=False)


def _job_list(call: Call) -> dict[str, Any]:
    """One page of the org's ingest jobs, every user's, oldest first, as Salesforce lists them: at most
    ``app.state["bulk_list_page"]`` (default 1,000) a page, ``done`` false and ``nextRecordsUrl`` (with a
    ``queryLocator``) while more follow. ``jobType=V2Ingest`` (or none) lists Bulk 2.0 jobs; ``Classic``
    none (Bulk 1.0 jobs live in ``/services/async``)."""
    job_type = call.request.args.get("jobType")
    if job_type not in (None, "", "V2Ingest", "Classic", "BigObjectIngest"):
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid value for jobType: {job_type}")
    jobs = [] if job_type in ("Classic", "BigObjectIngest") else _registry(call).of_alias(_alias(call), _IngestJob)
    jobs.sort(key=lambda j: (j.created, j.id))
    locator = call.request.args.get("queryLocator") or "0"
    if not locator.isdigit():
        raise ApiError(400, "INVALID_QUERY_LOCATOR", f"invalid query locator: {locator}")
    start, size = int(locator), max(1, int(call.app.state.get("bulk_list_page", 1000)))
    page = jobs[start:start + size]
    done = start + size >= len(jobs)
    records = []
    for job in page:
        with job.lock:
            records.append(job.as_json(detail=False))
    next_url = None if done else (f"/services/data/v{float(call.version):.1f}/jobs/ingest?queryLocator={start + size}"
                                  + (f"&jobType={job_type}" if job_type else ""))
    return {"done": done, "records": records, "nextRecordsUrl": next_url}


@router.route("/jobs/ingest/<job_id>", ["GET", "PATCH", "DELETE"])
def ingest_job(call: Call, job_id: str) -> Any:
    """Read an ingest job, change its state (UploadComplete, Aborted) or delete it."""
    job: _IngestJob = _job(call, job_id, _IngestJob)
    method = call.request.method
    if method == "GET":
        with job.lock:
            return job.as_json(detail=True)
    if method == "DELETE":
        with job.lock:
            if job.state in ("Open", "InProgress"):
                raise _bad_state(job, "only UploadComplete, JobComplete, Aborted or Failed jobs can be deleted")
        _registry(call).remove(job.id)
        return None
    wanted = _body(call).get("state")
    if wanted == "UploadComplete":
        with job.lock:
            if job.state != "Open":
                raise _bad_state(job, "only an Open job can be closed")
            job.set_state("UploadComplete")
            reply = job.as_json(detail=False)
        if call.app.state.get("bulk_synchronous"):
            _process_ingest(job, call.org, call.faults.record_fault if call.faults else None,
                            contention=call.faults.contention if call.faults else None)
        else:
            thread = threading.Thread(target=_process_ingest, name=f"bulk2-{job.id}", daemon=True,
                                      args=(job, call.org, call.faults.record_fault if call.faults else None,
                                            call.faults.bulk_turn if call.faults else None,
                                            call.faults.bulk_pace if call.faults else None,
                                            call.faults.contention if call.faults else None))
            thread.start()
        return reply
    if wanted == "Aborted":
        with job.lock:
            if job.state in TERMINAL_STATES:
                raise _bad_state(job, "a finished job cannot be aborted")
            job.abort_requested = True
            job.aborted.set()
            job.set_state("Aborted")
            return job.as_json(detail=False)
    raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state change: {wanted}. Use UploadComplete or Aborted")


@router.route("/jobs/ingest/<job_id>/<kind>/", ["GET", "PUT"])
def ingest_job_data(call: Call, job_id: str, kind: str) -> Any:
    """``PUT .../batches`` uploads the CSV; ``GET`` the three result CSVs."""
    job: _IngestJob = _job(call, job_id, _IngestJob)
    kind_key = kind.lower()
    if call.request.method == "PUT":
        if kind_key != "batches":
            raise not_found()
        data = call.request.get_data()
        with job.lock:
            if job.state != "Open":
                raise _bad_state(job, "data can be uploaded only while the job is Open")
            if job.content is not None:
                raise ApiError(400, "BULK_API_ERROR", f"Found multiple contents for job: <{job.id}>, please "
                               "'Close' / 'Abort' / 'Delete' the current Job then create a new Job and make "
                               "sure you only do 'PUT' once on a given Job.")
            if len(data) > MAX_UPLOAD_BYTES:
                raise ApiError(400, "INVALIDBATCH", "InvalidBatch : The uploaded data exceeds 150 MB")
            job.content = data
        return Response(status=201)
    with job.lock:
        outcomes = list(job.outcomes)
        if call.app.state.get("bulk_result_order") == "shuffled":
            # Salesforce does not keep the upload's order in result files (rows are processed in
            # parallel chunks): tests turn this on to prove a client does not rely on it
            random.Random(job.id).shuffle(outcomes)
        if kind_key == "successfulresults":
            rows = [[rid, "true" if created else "false", *job.rows[i]]
                    for i, rid, created, error in outcomes if error is None]
            return _csv_response(_write_csv(job, ["sf__Id", "sf__Created", *job.header], rows))
        if kind_key == "failedresults":
            rows = [[rid, error, *job.rows[i]] for i, rid, created, error in outcomes if error is not None]
            return _csv_response(_write_csv(job, ["sf__Id", "sf__Error", *job.header], rows))
        if kind_key == "unprocessedrecords":
            if not job.header and job.content and job.state in ("Open", "Aborted"):
                try:   # aborted before processing parsed the upload: parse it now
                    _read_csv(job)
                except _JobFailure:
                    return _csv_response(job.content.decode("utf-8", errors="replace"))
            done = {i for i, *_ in job.outcomes}
            rows = [row for i, row in enumerate(job.rows) if i not in done]
            return _csv_response(_write_csv(job, job.header, rows) if job.header else "")
    raise not_found()


# ====================================================================== ingest: processing
@dataclass
class _Column:
    """How one CSV column maps onto the job's object."""

    header: str
    field: FieldSpec | None = None            # a plain field (canonical name in field.name)
    parent: ObjectSpec | None = None          # ``Rel.ExtField``: the parent object...
    parent_key: FieldSpec | None = None       # ...and its external id field


class _JobFailure(Exception):
    """The whole job fails (bad header, unparsable CSV): state Failed with this message."""


def _read_csv(job: _IngestJob) -> None:
    """Parse the uploaded CSV into ``job.header`` / ``job.rows``; raise _JobFailure when malformed."""
    if not job.content:
        raise _JobFailure("InvalidBatch : No data was uploaded for this job")
    try:
        text = job.content.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise _JobFailure(f"ClientInputError : The data is not valid UTF-8 (byte {exc.start})") from None
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=job.delimiter_char, strict=True)
    try:
        records = [row for row in reader if row]
    except csv.Error as exc:
        raise _JobFailure(f"ClientInputError : LineNumber: {reader.line_num}, {exc}") from None
    if not records:
        raise _JobFailure("InvalidBatch : The uploaded data has no header row")
    job.header = [name.strip() for name in records[0]]
    for number, row in enumerate(records[1:], start=2):
        if len(row) != len(job.header):
            raise _JobFailure(f"ClientInputError : LineNumber: {number}, the row has {len(row)} column(s) and "
                              f"the header {len(job.header)}")
    job.rows = records[1:]


def _plan_columns(job: _IngestJob, store: OrgStore, spec: ObjectSpec) -> list[_Column]:
    """Resolve the header against the schema; unknown names fail the job as Salesforce does."""
    seen: set[str] = set()
    columns: list[_Column] = []
    for header in job.header:
        if not header:
            raise _JobFailure("InvalidBatch : Field name not found : (an empty column name)")
        if header.lower() in seen:
            raise _JobFailure(f"InvalidBatch : Duplicate field name: {header}")
        seen.add(header.lower())
        if "." in header:
            rel_part, _, key_name = header.partition(".")
            rel_name, _, type_name = rel_part.partition(":")
            rel = spec.relationship(rel_name)
            if rel is None or "." in key_name:
                raise _JobFailure(f"InvalidBatch : Field name not found : {header}")
            target_name = type_name or rel.reference_to[0]
            if target_name not in rel.reference_to and not any(t.lower() == target_name.lower()
                                                               for t in rel.reference_to):
                raise _JobFailure(f"InvalidBatch : Field name not found : {header}")
            parent = store.object_spec(target_name)
            key = parent.field(key_name) if parent else None
            if parent is None or key is None or not (key.external_id or key.id_lookup):
                raise _JobFailure(f"InvalidBatch : Field name not found : {header}")
            columns.append(_Column(header, field=rel, parent=parent, parent_key=key))
            continue
        fspec = spec.field(header)
        if fspec is None:
            raise _JobFailure(f"InvalidBatch : Field name not found : {header}")
        columns.append(_Column(header, field=fspec))
    if job.operation in ("update", "delete", "hardDelete") and not any(
            c.field is not None and c.parent is None and c.field.name == "Id" for c in columns):
        raise _JobFailure(f"InvalidBatch : Field name not found : Id (the {job.operation} data needs an Id "
                          "column)")
    return columns


def _cell_value(column: _Column, cell: str) -> Any:
    """A CSV cell as the value the store expects (``#N/A`` = null)."""
    if cell == NULL_MARKER:
        return None
    if column.field is not None and column.field.type == "boolean" and column.parent is None:
        lowered = cell.strip().lower()
        return {"1": "true", "yes": "true", "0": "false", "no": "false"}.get(lowered, lowered)
    return cell


def _row_values(store: OrgStore, columns: list[_Column], row: list[str]) -> dict[str, Any]:
    """The field values one CSV row sets; empty cells are left out (the field is not touched)."""
    values: dict[str, Any] = {}
    for column, cell in zip(columns, row):
        if cell == "":
            continue
        value = _cell_value(column, cell)
        assert column.field is not None
        if column.parent is not None and column.parent_key is not None:
            if value is not None:
                matches = store.find_by_value(column.parent, column.parent_key, value)
                if not matches:
                    raise RecordError("INVALID_FIELD", f"Foreign key external ID: {value} not found for field "
                                      f"{column.parent_key.name} in entity {column.parent.name}", [])
                if len(matches) > 1:
                    raise RecordError("DUPLICATE_EXTERNAL_ID", f"{column.parent_key.name}: more than one record "
                                      f"found for external id field: {[m[:15] for m in matches]}",
                                      [column.parent_key.name])
                value = matches[0]
            values[column.field.name] = value
        else:
            values[column.field.name] = value
    return values


def _row_id(columns: list[_Column], row: list[str]) -> str:
    for column, cell in zip(columns, row):
        if column.parent is None and column.field is not None and column.field.name == "Id":
            return cell.strip()
    return ""


def _operation(job: _IngestJob, store: OrgStore, spec: ObjectSpec,
               columns: list[_Column]) -> Callable[[list[str]], tuple[str, bool | None]]:
    """The per-row DML function for the job's operation."""

    def insert(row: list[str]) -> tuple[str, bool | None]:
        return store.create(spec.name, _row_values(store, columns, row)), True

    def update(row: list[str]) -> tuple[str, bool | None]:
        record_id = _row_id(columns, row)
        if not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in an update call", ["Id"])
        return store.update(spec.name, record_id, _row_values(store, columns, row)), False

    def upsert(row: list[str]) -> tuple[str, bool | None]:
        assert job.external_id_field is not None
        return store.upsert(spec.name, job.external_id_field, _row_values(store, columns, row))

    def delete(row: list[str]) -> tuple[str, bool | None]:
        record_id = _row_id(columns, row)
        if not record_id:
            raise RecordError("MISSING_ARGUMENT", "Id not specified in a delete call", ["Id"])
        if ids.is_valid_id(record_id) and store.object_of_id(record_id) != spec.name:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        return store.delete(record_id), False

    return {"insert": insert, "update": update, "upsert": upsert,
            "delete": delete, "hardDelete": delete}[job.operation]


def format_error(error: RecordError) -> str:
    """``sf__Error`` text: ``CODE:message:fields --`` (``CODE:message:--`` without fields)."""
    fields = " ".join(error.fields)
    return f"{error.status_code}:{error.message}:{fields + ' ' if fields else ''}--"


def _parent_ids(columns: list[_Column], rows: list[list[str]]) -> list[tuple[str, ...]]:
    """Each row's parents the org locks while writing it: the values of its lookup and master-detail
    columns (an external id stands for its parent), not owners, users or record types."""
    picks = [index for index, column in enumerate(columns)
             if column.field is not None and column.field.is_reference and column.field.name != "Id"
             and not set(column.field.reference_to) <= NOT_LOCKED]
    if not picks:
        return [()] * len(rows)
    return [tuple(f"{columns[i].header}={row[i]}" if columns[i].parent is not None else row[i]
                  for i in picks if row[i] and row[i] != NULL_MARKER) for row in rows]


def _chunk_fault(fault: Callable[[int], RecordError | None] | None, locked: dict[int, str],
                 start: int) -> Callable[[int], RecordError | None] | None:
    """The record fault of the chunk of rows from ``start``: a lock error for the rows in ``locked``
    (row -> the parent it could not lock), else ``fault``."""
    if not locked:
        return fault

    def at(index: int) -> RecordError | None:
        parent = locked.get(start + index)
        if parent is not None:
            return lock_error(parent)
        return fault(index) if fault else None
    return at


def _process_ingest(job: _IngestJob, store: OrgStore, fault: Callable[[int], RecordError | None] | None,
                    turn: Callable[[], None] | None = None,
                    pace: Callable[[float, int, threading.Event], None] | None = None,
                    contention: Callable[[int, Callable[[], list[tuple[str, ...]]]], dict[int, str]] | None = None
                    ) -> None:
    """Run every row of a closed job through the store, once the queue gives it its ``turn``, a chunk at a
    time (each chunk's rows counted in ``numberRecordsProcessed`` as it is done, and held back by ``pace``
    when the org is set to process at a given rate); never raises (failures land on the job).
    ``contention`` says which rows lose a parent's lock to another of the job's internal batches
    (:meth:`.faults.Faults.contention`)."""
    if turn is not None:
        turn()
    started = time.monotonic()
    try:
        with job.lock:
            if job.state != "UploadComplete":
                return
            job.set_state("InProgress")
        _read_csv(job)
        spec = store.object_spec(job.object)
        if spec is None:
            raise _JobFailure(f"InvalidJob : Unable to find object: {job.object}")
        columns = _plan_columns(job, store, spec)
        op = _operation(job, store, spec, columns)
        locked = contention(len(job.rows), lambda: _parent_ids(columns, job.rows)) if contention is not None else {}
        for start in range(0, len(job.rows), CHUNK_SIZE):
            with job.lock:
                if job.abort_requested:
                    return
            chunk = list(range(start, min(start + CHUNK_SIZE, len(job.rows))))
            results = store.run_each([job.rows[i] for i in chunk], op, all_or_none=False,
                                     fault=_chunk_fault(fault, locked, start))
            with job.lock:
                for index, result in zip(chunk, results):
                    if result.success:
                        job.outcomes.append((index, result.id or "", bool(result.created), None))
                    else:
                        job.outcomes.append((index, _row_id(columns, job.rows[index]),
                                             False, format_error(result.errors[0])))
                        job.failed += 1
                job.processed = len(job.outcomes)
                job.processing_ms = int((time.monotonic() - started) * 1000)
            if pace is not None:
                pace(started, job.processed, job.aborted)
                with job.lock:
                    job.processing_ms = int((time.monotonic() - started) * 1000)
        with job.lock:
            if not job.abort_requested:
                job.set_state("JobComplete")
    except _JobFailure as failure:
        with job.lock:
            if not job.abort_requested:
                job.set_state("Failed", str(failure))
    except Exception as exc:  # a sandbox bug or a closed store: fail the job, keep the server up
        logger.exception("bulk ingest job %s failed", job.id)
        with job.lock:
            if not job.abort_requested:
                job.set_state("Failed", f"InternalServerError : {exc}")
    finally:
        with job.lock:
            job.processing_ms = int((time.monotonic() - started) * 1000)


# ====================================================================== query
@router.route("/jobs/query", ["GET", "POST"])
def query_jobs(call: Call) -> Any:
    """List this org's query jobs, or create one: the query runs at once."""
    if call.request.method == "GET":
        jobs = _registry(call).of_alias(_alias(call), _QueryJob)
        return {"done": True, "records": [j.as_json(detail=False) for j in jobs], "nextRecordsUrl": None}
    body = _body(call)
    operation = body.get("operation") or "query"
    if operation not in QUERY_OPERATIONS:
        raise ApiError(400, "INVALIDJOB", f"InvalidJob : Invalid value for operation: {operation}. Valid "
                       "values: query, queryAll")
    text = body.get("query")
    if not isinstance(text, str) or not text.strip():
        raise ApiError(400, "INVALIDJOB", "InvalidJob : The query field is required")
    delimiter, line_ending = _format_options(body)
    started = time.monotonic()
    try:
        parsed = parse_soql(text)
        _check_bulk_query(parsed)
        with call.org.lock:
            result = run_query(text, call.org, include_deleted=operation == "queryAll",
                               api_version=call.version)
    except SoqlError as exc:
        raise ApiError(400, exc.error_code, exc.message) from None
    spec = call.org.object_spec(parsed.object_name)
    assert spec is not None  # run_query checked the object
    columns = [_column_path(call.org, spec, parsed, item.field if isinstance(item, FuncItem) else item)
               for item in parsed.select if isinstance(item, FieldPath) or isinstance(item, FuncItem)]
    rows = _csv_rows(result.records, [path for _, path in columns])
    job = _QueryJob(id=_registry(call).new_id(call.org), alias=_alias(call), operation=operation,
                    object=spec.name, created_by=call.org.api_user_id, api_version=float(call.version),
                    column_delimiter=delimiter, line_ending=line_ending, query=text,
                    columns=[header for header, _ in columns], result=rows)
    reply = {**job.as_json(detail=False), "state": "UploadComplete"}
    with job.lock:
        job.processed = len(rows)
        job.processing_ms = int((time.monotonic() - started) * 1000)
        job.set_state("JobComplete")
    _registry(call).add(job)
    return reply


def _check_bulk_query(query: SoqlQuery) -> None:
    """What Bulk API 2.0 refuses though SOQL allows it: aggregates and OFFSET."""
    if query.count or any(isinstance(item, CountItem) for item in query.select):
        raise ApiError(400, "API_ERROR", "Aggregate functions such as COUNT() aren't supported in Bulk API "
                       "2.0 query jobs")
    if query.offset is not None:
        raise ApiError(400, "API_ERROR", "OFFSET isn't supported in Bulk API 2.0 query jobs")
    if query.is_aggregate:
        raise ApiError(400, "API_ERROR", "Aggregate functions and GROUP BY aren't supported in Bulk API 2.0 "
                       "query jobs")
    if any(isinstance(item, SubqueryItem) for item in query.select):
        raise ApiError(400, "API_ERROR", "Parent-to-child relationship queries aren't supported in Bulk API 2.0 "
                       "query jobs")
    if any(isinstance(item, TypeofItem) for item in query.select):
        raise ApiError(400, "API_ERROR", "TYPEOF isn't supported in Bulk API 2.0 query jobs")
    if any(isinstance(item, FuncItem) and item.name == "FIELDS" for item in query.select):
        raise ApiError(400, "API_ERROR", "FIELDS() isn't supported in Bulk API 2.0 query jobs")


def _column_path(store: OrgStore, spec: ObjectSpec, query: SoqlQuery,
                 item: FieldPath) -> tuple[str, list[str]]:
    """(CSV header, record path) of a SELECT item, with names in their schema spelling."""
    parts = list(item.parts)
    if len(parts) > 1 and (parts[0].lower() == (query.alias or "").lower()
                           or parts[0].lower() == spec.name.lower()) and spec.relationship(parts[0]) is None:
        parts = parts[1:]
    canonical: list[str] = []
    current: ObjectSpec | None = spec
    for position, part in enumerate(parts):
        last = position == len(parts) - 1
        if current is None:
            canonical.append(part)
            continue
        if last:
            fspec = current.field(part)
            canonical.append(fspec.name if fspec else part)
        else:
            rel = current.relationship(part)
            canonical.append(rel.relationship_name or part if rel else part)
            current = store.object_spec(rel.reference_to[0]) if rel and rel.reference_to else None
    return ".".join(canonical), canonical


def _csv_rows(records: list[dict[str, Any]], paths: list[list[str]]) -> list[list[str]]:
    """Each record's values at ``paths`` as Bulk CSV cells; a one-part path found as written is read straight."""
    if all(len(path) == 1 for path in paths):
        names = [path[0] for path in paths]
        return [[_csv_value(record[name] if name in record else _lookup(record, [name])) for name in names]
                for record in records]
    return [[_csv_value(_lookup(record, path)) for path in paths] for record in records]


def _lookup(record: Any, path: list[str]) -> Any:
    """The value at ``path`` in a REST-shaped record (case-insensitive keys; null parents give None)."""
    value = record
    for part in path:
        if not isinstance(value, dict):
            return None
        if part in value:
            value = value[part]
            continue
        lowered = part.lower()
        value = next((v for k, v in value.items() if k.lower() == lowered), None)
    return value


def _csv_value(value: Any) -> str:
    """A result value as Bulk CSV text: true/false, empty for null, plain numbers."""
    if value.__class__ is str:
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else repr(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return str(value)


@router.route("/jobs/query/<job_id>", ["GET", "PATCH", "DELETE"])
def query_job(call: Call, job_id: str) -> Any:
    """Read, abort or delete a query job."""
    job: _QueryJob = _job(call, job_id, _QueryJob)
    method = call.request.method
    if method == "GET":
        with job.lock:
            return job.as_json(detail=True)
    if method == "DELETE":
        _registry(call).remove(job.id)
        return None
    wanted = _body(call).get("state")
    if wanted != "Aborted":
        raise ApiError(400, "INVALIDJOBSTATE", f"Invalid state change: {wanted}. A query job can only be "
                       "Aborted")
    with job.lock:
        if job.state in TERMINAL_STATES:
            raise _bad_state(job, "a finished job cannot be aborted")
        job.set_state("Aborted")
        return job.as_json(detail=False)


def _encode_locator(offset: int) -> str:
    return base64.urlsafe_b64encode(f"off:{offset}".encode()).decode().rstrip("=")


def _decode_locator(locator: str) -> int:
    try:
        raw = base64.urlsafe_b64decode(locator + "=" * (-len(locator) % 4)).decode()
        prefix, _, number = raw.partition(":")
        if prefix != "off" or not number.isdigit():
            raise ValueError(raw)
        return int(number)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}") from None


@router.route("/jobs/query/<job_id>/results", ["GET"])
def query_results(call: Call, job_id: str) -> Any:
    """One page of a finished query job's CSV, with ``Sforce-Locator`` (``null`` = last page)."""
    job: _QueryJob = _job(call, job_id, _QueryJob)
    raw_max = call.request.args.get("maxRecords")
    try:
        max_records = int(raw_max) if raw_max not in (None, "") else DEFAULT_MAX_RECORDS
        if max_records <= 0:
            raise ValueError(raw_max)
    except ValueError:
        raise ApiError(400, "INVALIDREQUEST", f"maxRecords must be a positive integer, not {raw_max}") from None
    locator = call.request.args.get("locator") or ""
    start = _decode_locator(locator) if locator and locator != "null" else 0
    with job.lock:
        if job.state != "JobComplete":
            raise _bad_state(job, "results are available once the job is JobComplete")
        if start > len(job.result):
            raise ApiError(400, "INVALIDLOCATOR", f"Invalid locator: {locator}")
        page = job.result[start:start + max_records]
        end = start + len(page)
        next_locator = _encode_locator(end) if end < len(job.result) else "null"
        text = _write_csv(job, job.columns, page)
    return _csv_response(text, headers={"Sforce-NumberOfRecords": str(len(page)), "Sforce-Locator": next_locator})
