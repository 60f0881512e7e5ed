"""``OrgClient``: the one object the engine uses to talk to an org.

It wraps a :class:`simple_salesforce.Salesforce` (the only way the app talks to an org, real or
sandbox) and sends every request through one place, :meth:`OrgClient._call`, which

* counts API calls (:attr:`OrgClient.api_calls`) and reads the org's usage header;
* retries transient failures with exponential backoff (tenacity): HTTP 502/503/504 and dropped or
  timed-out connections, but only for calls that are safe to repeat. A ``create`` whose connection
  dropped after it was sent may have committed, so it is never resent blindly: it raises
  :class:`ConnectionLost` carrying the records whose fate is unknown;
* renews an expired access token once through the ``refresh_token`` callback, then repeats the call;
* turns simple-salesforce and requests exceptions into :class:`OrgApiError` subclasses whose text is
  clear and never contains the access token.

sObject Collections writes (``create``/``update``/``delete``) are sent in chunks of 200, and
records that fail with ``UNABLE_TO_LOCK_ROW`` are re-sent (only those) up to ``retries`` times.

:meth:`OrgClient.bulk_ingest` writes large volumes through Bulk API 2.0 (insert, update, delete) and
answers exactly like the Collections writes: one result per record, in the records' order.

Files (ContentVersion, Attachment) move streamed, never whole in memory: :meth:`OrgClient.download_blob`,
:meth:`OrgClient.spooled_blob`, :meth:`OrgClient.upload_content_version` and :meth:`OrgClient.create_attachment`
(implemented in ``files.py``).
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

import requests
import tenacity
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession
from urllib3.exceptions import ConnectTimeoutError, MaxRetryError, NewConnectionError

from . import files
from .connection import DEFAULT_API_VERSION, connect as _connect
from .files import BlobInfo
from .pacing import JobRates, PollSchedule, WriteMeter, processed_rows, processing_seconds
from .slices import sorted_in_slices

logger = logging.getLogger(__name__)

T = TypeVar("T")

COLLECTION_SIZE = 200          # sObject Collections: records per create/update/delete request
RETRIEVE_SIZE = 2000           # sObject Collections retrieve (POST): ids per request
DEFAULT_TIMEOUT = 120.0        # seconds to wait for an answer before treating the connection as lost
TRANSIENT_STATUSES = frozenset({502, 503, 504})
LOCK_ERROR = "UNABLE_TO_LOCK_ROW"
_MAX_WAIT = 60.0
BULK_OPERATIONS = ("insert", "update", "delete")
BULK_MAX_BYTES = 90 * 1024 * 1024   # CSV bytes per ingest job (Salesforce takes up to 100 MB, base64-encoded 150)
BULK_MAX_ROWS = 100_000             # rows per ingest job: bounds what one job holds in memory (CSV, results)
BULK_POLL_FIRST = 0.05              # seconds before the first look at a job (and the shortest wait)...
BULK_POLL_MAX = 4.0                 # ...then twice as long each time up to this while nothing is measured;
BULK_POLL_LONGEST = 60.0            # a wait on a job's expected duration is at most this (a stalled job is seen)
BULK_PAUSE_SLICE = 0.25             # a wait that may be called off (keep_waiting) asks again this often
BULK_NULL = "#N/A"                  # a CSV cell that sets a field to null
BULK_RESEND_FROM = 1000             # locked rows from this many go again as a job (its calls' worth), fewer by Collections
NOT_LOCKED = frozenset({"User", "Group", "RecordType"})   # lookups whose records a write does not lock
BULK_TERMINAL = ("JobComplete", "Failed", "Aborted")
_BULK_OPERATION = {"create": "insert", "update": "update", "delete": "delete"}   # a Collections write's Bulk name
BULK_QUERY_PAGE = 40_000           # rows per Bulk 2.0 query result page (maxRecords; the org's default is 50,000):
# it divides the engine's parts (80,000 records a Bulk job), so a part ends at a page's end and no page's rest is held
# beside it (a million records: 50,000 fewer records held at the peak, for about six more calls)
REST_QUERY_PAGE = 2000             # rows per REST query page (what an org sends by default)


# ====================================================================== errors
class OrgApiError(Exception):
    """An org refused or failed a request.

    ``status`` is the HTTP status (None when no answer came back), ``error_code`` the Salesforce
    error code (``INVALID_FIELD``, ``NOT_FOUND``...) or one of ours (``CONNECTION_ERROR``,
    ``SSL_ERROR``, ``UNEXPECTED_RESPONSE``), ``message`` clear text for people. The access token
    is never part of any of them.
    """

    def __init__(self, message: str, *, error_code: str = "UNKNOWN_EXCEPTION", status: int | None = None,
                 fields: list[str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.error_code = error_code
        self.status = status
        self.fields = list(fields or [])

    def __str__(self) -> str:
        return f"{self.error_code}: {self.message}" if self.error_code else self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, error_code={self.error_code!r}, message={self.message!r})"


class SessionExpired(OrgApiError):
    """The org refused the access token (HTTP 401) and it could not be renewed."""


class ApiLimitExceeded(OrgApiError):
    """The org's API request limit is used up (HTTP 403 ``REQUEST_LIMIT_EXCEEDED``); retrying won't help."""


class ConnectionLost(OrgApiError):
    """A ``create`` request was sent but no answer came back: it may or may not have committed.

    ``records`` are the records of the request whose outcome is unknown (re-match them against the
    org, for example by a match key, before sending them again). ``results`` is aligned with the
    records passed to :meth:`OrgClient.create`: a result dict for each record whose outcome is
    known, None for the unknown ones (their positions are ``unknown_indexes``) and for the records
    after them, which were not sent at all.
    """

    def __init__(self, message: str, *, records: list[dict[str, Any]] | None = None,
                 results: list[dict[str, Any] | None] | None = None,
                 unknown_indexes: list[int] | None = None, status: int | None = None) -> None:
        super().__init__(message, error_code="CONNECTION_LOST", status=status)
        self.records = list(records or [])
        self.results = list(results or [])
        self.unknown_indexes = list(unknown_indexes or [])


class _Ambiguous(Exception):
    """Internal: a non-idempotent request may have committed (connection dropped, 502/504)."""

    def __init__(self, detail: str, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.status = status


# ====================================================================== helpers
def strip_attributes(value: Any) -> Any:
    """``value`` with every ``"attributes"`` key removed, at any depth (plain dicts and lists out)."""
    if isinstance(value, dict):
        return {key: strip_attributes(item) for key, item in value.items() if key != "attributes"}
    if isinstance(value, list):
        return [strip_attributes(item) for item in value]
    return value


def _plural(count: int, noun: str = "record") -> str:
    return f"{count} {noun}" + ("" if count == 1 else "s")


def _chunks(items: list[T], size: int) -> Iterator[tuple[int, list[T]]]:
    for start in range(0, len(items), size):
        yield start, items[start:start + size]


def _never_sent(exc: BaseException) -> bool:
    """True when a requests failure happened before the request left (so resending is safe)."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        current = stack.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        if isinstance(current, (NewConnectionError, ConnectTimeoutError)):
            return True
        if isinstance(current, MaxRetryError):
            stack.append(current.reason)
        stack.extend(arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException))
        stack.append(current.__cause__)
        stack.append(current.__context__)
    return False


def _root_reason(exc: BaseException) -> str:
    """The innermost readable cause of a requests failure ("[Errno 111] Connection refused")."""
    current: BaseException = exc
    for _ in range(10):
        inner: BaseException | None = None
        if isinstance(current, MaxRetryError) and current.reason is not None:
            inner = current.reason
        elif any(isinstance(arg, BaseException) for arg in current.args):
            inner = next(arg for arg in current.args if isinstance(arg, BaseException))
        elif current.__cause__ is not None:
            inner = current.__cause__
        if inner is None:
            break
        current = inner
    text = str(current)
    if ": " in text and text.startswith("<"):
        text = text.split(": ", 1)[1]           # urllib3 "<HTTPSConnection object at 0x..>: Failed to..."
    return text or type(current).__name__


def _envelope(content: Any) -> tuple[str | None, str | None, list[str]]:
    """(error_code, message, fields) from a Salesforce or OAuth error body."""
    if isinstance(content, list) and content and isinstance(content[0], dict):
        first = content[0]
        code = first.get("errorCode") or first.get("statusCode")
        messages = [str(item.get("message")) for item in content
                    if isinstance(item, dict) and item.get("message")]
        return (str(code) if code else None, "; ".join(messages) or None, list(first.get("fields") or []))
    if isinstance(content, dict):
        code = content.get("errorCode") or content.get("error")
        message = content.get("message") or content.get("error_description")
        return (str(code) if code else None, str(message) if message else None, list(content.get("fields") or []))
    if isinstance(content, bytes):
        content = content.decode("utf-8", "replace")
    if isinstance(content, str) and content.strip():
        return None, content.strip()[:500], []
    return None, None, []


def _is_locked(result: dict[str, Any]) -> bool:
    return not result["success"] and any(err.get("statusCode") == LOCK_ERROR for err in result["errors"])


def _normalise_result(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise OrgApiError(f"unexpected item in a Collections answer: {raw!r}"[:300], error_code="UNEXPECTED_RESPONSE")
    errors = []
    for err in raw.get("errors") or []:
        errors.append({"statusCode": str(err.get("statusCode") or err.get("errorCode") or "UNKNOWN_EXCEPTION"),
                       "message": str(err.get("message") or ""),
                       "fields": list(err.get("fields") or [])})
    return {"id": raw.get("id"), "success": bool(raw.get("success")), "errors": errors}


def _from_object(soql: str) -> str:
    words = soql.replace("(", " ").replace(")", " ").split()
    for index, word in enumerate(words[:-1]):
        if word.lower() == "from":
            return words[index + 1]
    raise ValueError(f"no FROM in {soql[:100]!r}")


def _cell_parser(field_type: str) -> Callable[[str], Any]:
    if field_type == "boolean":
        return lambda cell: cell.lower() == "true"
    if field_type == "int":
        return lambda cell: int(float(cell))
    if field_type in ("double", "currency", "percent"):
        return float
    return str


def _null_empty_parents(record: dict[str, Any], plans: list[tuple[list[str], Any]]) -> dict[str, Any]:
    """A parent whose every column is empty is null, as REST answers for an empty lookup."""
    for parts, _ in plans:
        if len(parts) < 2:
            continue
        for depth in range(len(parts) - 1, 0, -1):
            holder: Any = record
            for rel in parts[:depth - 1]:
                holder = holder.get(rel) if isinstance(holder, dict) else None
            key = parts[depth - 1]
            if isinstance(holder, dict) and isinstance(holder.get(key), dict) \
                    and all(v is None for v in holder[key].values()):
                holder[key] = None
    return record


def _bulk_cell(operation: str, value: Any) -> str:
    if value is None or value == "":
        return "" if operation == "insert" else BULK_NULL   # update: an empty cell would leave it unchanged
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _bulk_columns(operation: str, records: list[dict[str, Any]]) -> list[str]:
    """The CSV header: every field any record sets (``Id`` first for update and delete)."""
    if operation == "delete":
        return ["Id"]
    seen: dict[str, None] = {"Id": None} if operation == "update" else {}
    for record in records:
        for key in record:
            if key != "attributes" and key.lower() != "id":
                seen.setdefault(key, None)
            elif key.lower() == "id" and operation == "insert":
                raise ValueError("a record to insert has an Id")
    return list(seen)


def _bulk_row(operation: str, columns: list[str], record: dict[str, Any]) -> list[str]:
    if operation != "insert" and not (record.get("Id") or record.get("id")):
        raise ValueError(f"every record to {operation} needs an Id")
    row = []
    for column in columns:
        if column == "Id":
            row.append(str(record.get("Id") or record.get("id")))
        elif column in record:
            row.append(_bulk_cell(operation, record[column]))
        else:
            row.append("")          # not set by this record: left alone
    return row


def _text_lines(text: str) -> Iterator[str]:
    """The lines of ``text`` with their endings, one at a time (``io.StringIO`` would hold a copy of
    a result file four bytes a character). ``csv.reader`` joins a quoted value's lines again."""
    start, size = 0, len(text)
    while start < size:
        end = text.find("\n", start)
        if end < 0:
            yield text[start:]
            return
        yield text[start:end + 1]
        start = end + 1


def _csv_line(row: list[str]) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue().encode("utf-8")


def _bulk_jobs(operation: str, columns: list[str], records: list[dict[str, Any]],
               order: Iterable[int] | None = None) -> Iterator[tuple[dict[bytes, list[int]], bytes]]:
    """Per ingest job (each under BULK_MAX_BYTES): each CSV line -> the positions of the records it
    holds (records with the same values share a line), and the job's CSV bytes. The rows go up in
    ``order`` (positions in ``records``; all in their order when None)."""
    header = _csv_line(columns)
    lines: dict[bytes, list[int]] = {}
    parts = [header]
    size, count = len(header), 0
    for index in range(len(records)) if order is None else order:
        line = _csv_line(_bulk_row(operation, columns, records[index]))
        if lines and (size + len(line) > BULK_MAX_BYTES or count >= BULK_MAX_ROWS):
            yield lines, b"".join(parts)
            lines, parts, size, count = {}, [header], len(header), 0
        lines.setdefault(line, []).append(index)
        parts.append(line)
        size += len(line)
        count += 1
    if lines:
        yield lines, b"".join(parts)


def _parent_order(records: list[dict[str, Any]], parents: list[str], positions: Iterable[int]) -> list[int]:
    """``positions`` with the records of one parent together, by the values of ``parents`` (the first
    deciding), as Salesforce advises against lock contention; records keep their order within a parent."""
    if not parents:
        return list(positions)
    return sorted_in_slices(positions, key=lambda i: tuple(str(records[i].get(name) or "") for name in parents))


def _bulk_error(text: str) -> dict[str, Any]:
    """``sf__Error`` (``CODE:message:fields --`` or ``CODE:message``) as a Collections error."""
    code, _, rest = text.partition(":")
    rest = rest.strip()
    fields: list[str] = []
    if rest.endswith("--"):
        rest = rest[:-2]
        message, sep, names = rest.rpartition(":")
        if sep:
            rest, fields = message, names.split()
    return {"statusCode": code.strip() or "UNKNOWN_EXCEPTION", "message": rest.strip(), "fields": fields}


def _map_bulk_results(outcome: dict[str, Any], columns: list[str], waiting: dict[bytes, list[int]],
                      results: list[dict[str, Any] | None]) -> None:
    """Put each result row of one job at its record's position, found by the record's own cells (the
    org echoes them): ``waiting`` maps each uploaded CSV line to the positions still unanswered."""
    if outcome.get("all_ok"):
        for hits in waiting.values():
            for position in hits:
                results[position] = {"id": None, "success": True, "errors": []}   # id: the record's own
        return
    for text, success in ((outcome["ok"], True), (outcome["failed"], False)):
        reader = csv.reader(_text_lines(text))
        header = next(reader, None)
        if not header:
            continue
        where = {name: i for i, name in enumerate(header)}
        missing = [c for c in columns if c not in where]
        if missing or "sf__Id" not in where:
            raise OrgApiError(f"a Bulk API result file lacks the column(s) {', '.join(missing or ['sf__Id'])}",
                              error_code="UNEXPECTED_RESPONSE")
        picks = [where[c] for c in columns]
        id_at, error_at = where["sf__Id"], where.get("sf__Error")
        for line in reader:
            if not line:
                continue
            hits = waiting.get(_csv_line([line[i] for i in picks]))
            if not hits:
                continue   # not a row of this job (never expected): leave it
            position = hits.pop(0)
            record_id = line[id_at] or None
            if success:
                results[position] = {"id": record_id, "success": True, "errors": []}
            else:
                error = _bulk_error(line[error_at] if error_at is not None else "")
                results[position] = {"id": record_id, "success": False, "errors": [error]}
    job = outcome["job"]
    reason = job.get("errorMessage") or f"the Bulk API job ended {job.get('state')} before processing this record"
    for hits in waiting.values():
        for position in hits:
            results[position] = {"id": None, "success": False,
                                 "errors": [{"statusCode": "BULK_JOB_" + str(job.get("state", "")).upper(),
                                             "message": reason, "fields": []}]}


# ====================================================================== the client
class OrgClient:
    """Every request to one org: queries, describes, Collections writes, Tooling, limits.

    ``sf`` is the underlying simple-salesforce client (also usable for Bulk API 2.0 through
    ``sf.bulk2``; renewed tokens are installed on it). ``refresh_token`` is a callback returning a
    new access token; it is called at most once per call, when the org answers 401.
    ``retries`` bounds both request retries and ``UNABLE_TO_LOCK_ROW`` re-sends; ``backoff`` is the
    first wait in seconds (doubling each time).
    """

    def __init__(self, sf: Salesforce, *, alias: str = "", org_id: str | None = None,
                 refresh_token: Callable[[], str] | None = None, retries: int = 4, backoff: float = 0.5,
                 timeout: float | None = DEFAULT_TIMEOUT) -> None:
        self.sf = sf
        self.alias = alias
        self.org_id = org_id
        self.retries = max(0, int(retries))
        self.backoff = max(0.0, float(backoff))
        self.timeout = timeout
        self._refresh_token = refresh_token
        self._lock = threading.Lock()
        self._renew_lock = threading.Lock()
        self._api_calls = 0
        self._bulk_polls = 0
        self._ingest_polls = 0          # those of ingest jobs (writes)
        self._job_rates = JobRates()
        self._meter = WriteMeter()
        self._describe_global: dict[str, Any] | None = None
        self._describes: dict[str, dict[str, Any]] = {}
        self._old_tokens: list[str] = []

    @classmethod
    def connect(cls, instance_url: str, access_token: str, *, ca_file: str | Path | None = None,
                version: str = DEFAULT_API_VERSION, alias: str = "", refresh_token: Callable[[], str] | None = None,
                org_id: str | None = None, retries: int = 4, backoff: float = 0.5,
                timeout: float | None = DEFAULT_TIMEOUT) -> "OrgClient":
        """A client for the org at ``instance_url`` using ``access_token`` (no request is made yet)."""
        sf = _connect(instance_url, access_token, ca_file=ca_file, version=version)
        return cls(sf, alias=alias, org_id=org_id, refresh_token=refresh_token, retries=retries, backoff=backoff,
                   timeout=timeout)

    def __repr__(self) -> str:
        return f"<OrgClient {self.alias or '?'} {self.instance_url}>"

    # ------------------------------------------------------------------ properties
    @property
    def instance_url(self) -> str:
        """``https://host[:port]`` of the org."""
        return f"https://{self.sf.sf_instance}"

    @property
    def api_version(self) -> str:
        return str(self.sf.sf_version)

    @property
    def api_calls(self) -> int:
        """HTTP requests this client sent (retries and re-sends included)."""
        return self._api_calls

    @property
    def bulk_polls(self) -> int:
        """Looks at a Bulk API 2.0 job's state while waiting for it to end (part of :attr:`api_calls`)."""
        return self._bulk_polls

    @property
    def write_stats(self) -> dict[str, Any]:
        """What this client's writes took so far and the org's latency (:meth:`~.pacing.WriteMeter.snapshot`),
        with the looks at Bulk ingest jobs (``bulk.looks``): a run measures its writes by the difference, for the
        estimates of later previews."""
        stats = self._meter.snapshot()
        stats["bulk"]["looks"] = self._ingest_polls
        return stats

    @property
    def api_usage(self) -> tuple[int, int] | None:
        """(used, max) daily API requests, from the last ``Sforce-Limit-Info`` header seen."""
        usage = (self.sf.api_usage or {}).get("api-usage")
        if usage is None:
            return None
        return int(usage.used), int(usage.total)

    # ------------------------------------------------------------------ the one path for requests
    def _label(self) -> str:
        return self.alias or self.sf.sf_instance

    def _scrub(self, text: str) -> str:
        for token in [self.sf.session_id, *self._old_tokens]:
            if token and len(token) >= 8:
                text = text.replace(token, "***")
        return text

    def _count(self) -> None:
        with self._lock:
            self._api_calls += 1

    def _call(self, what: str, fn: Callable[[], T], *, idempotent: bool = True) -> T:
        """Run one request ``fn`` with counting, retries, token renewal and error translation.

        ``what`` names the request in logs (never the token). Non-idempotent requests are retried
        only when the org certainly did nothing (HTTP 503, or the connection never opened);
        otherwise they raise the internal :class:`_Ambiguous`, which ``create`` turns into
        :class:`ConnectionLost`.
        """
        refreshed = False
        while True:
            sent_with = self.sf.session_id
            try:
                return self._with_retries(what, fn, idempotent)
            except SalesforceExpiredSession as exc:
                if self._refresh_token is None or refreshed:
                    raise self._session_expired(exc, refreshed) from None
                with self._renew_lock:   # requests in flight together renew the token once
                    if self.sf.session_id == sent_with:
                        self._renew_token()
                refreshed = True
            except SalesforceError as exc:
                if not idempotent and exc.status in TRANSIENT_STATUSES and exc.status != 503:
                    raise _Ambiguous(f"the org answered HTTP {exc.status}", exc.status) from exc
                raise self._translate(exc) from exc
            except requests.exceptions.JSONDecodeError as exc:
                raise OrgApiError(self._scrub(
                    f"{self.instance_url} does not answer like a Salesforce org (its answer to {what} is not "
                    "JSON); check the instance URL"), error_code="NOT_SALESFORCE") from exc
            except requests.exceptions.SSLError as exc:
                raise OrgApiError(self._scrub(
                    f"secure connection to {self.instance_url} failed (is its certificate trusted?): "
                    f"{_root_reason(exc)}"), error_code="SSL_ERROR") from exc
            except (requests.exceptions.ConnectionError, requests.exceptions.Timeout) as exc:
                if not idempotent and not _never_sent(exc):
                    raise _Ambiguous(self._scrub(_root_reason(exc))) from exc
                kind = "timed out" if isinstance(exc, requests.exceptions.Timeout) else "failed"
                raise OrgApiError(self._scrub(f"connection to {self.instance_url} {kind}: {_root_reason(exc)}"),
                                  error_code="CONNECTION_ERROR") from exc

    def _with_retries(self, what: str, fn: Callable[[], T], idempotent: bool) -> T:
        def attempt() -> T:
            self._count()
            logger.debug("%s: %s", self._label(), what)
            began = time.monotonic()
            try:
                return fn()
            finally:
                self._meter.call(time.monotonic() - began)

        def transient(exc: BaseException) -> bool:
            if isinstance(exc, SalesforceError):
                return exc.status == 503 or (idempotent and exc.status in TRANSIENT_STATUSES)
            if isinstance(exc, requests.exceptions.SSLError):
                return False
            if isinstance(exc, (requests.exceptions.ConnectionError, requests.exceptions.Timeout)):
                return idempotent or _never_sent(exc)
            return False

        def before_sleep(state: tenacity.RetryCallState) -> None:
            exc = state.outcome.exception() if state.outcome else None
            reason = f"HTTP {exc.status}" if isinstance(exc, SalesforceError) else type(exc).__name__
            wait = state.next_action.sleep if state.next_action else 0.0
            logger.info("%s: %s failed (%s); retry %d of %d in %.1fs", self._label(), what, reason,
                        state.attempt_number, self.retries, wait)

        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.retries + 1),
            wait=tenacity.wait_exponential(multiplier=self.backoff, min=0, max=_MAX_WAIT),
            retry=tenacity.retry_if_exception(transient),
            before_sleep=before_sleep,
            reraise=True,
        )
        return retrying(attempt)

    def _translate(self, exc: SalesforceError) -> OrgApiError:
        code, message, fields = _envelope(exc.content)
        status = exc.status
        message = self._scrub(message or f"the org answered HTTP {status} to {exc.resource_name or 'a request'}")
        if status == 403 and code == "REQUEST_LIMIT_EXCEEDED":
            return ApiLimitExceeded(message, error_code=code, status=status, fields=fields)
        if code is None:
            code = {404: "NOT_FOUND", 403: "FORBIDDEN", 503: "SERVER_UNAVAILABLE"}.get(status, f"HTTP_{status}")
        return OrgApiError(message, error_code=code, status=status, fields=fields)

    def _session_expired(self, exc: SalesforceExpiredSession, refreshed: bool) -> SessionExpired:
        code, message, fields = _envelope(exc.content)
        text = self._scrub(message or "Session expired or invalid")
        if refreshed:
            text = f"{text} (even after renewing the access token)"
        return SessionExpired(text, error_code=code or "INVALID_SESSION_ID", status=401, fields=fields)

    def _renew_token(self) -> None:
        assert self._refresh_token is not None
        logger.info("%s: access token refused; renewing it", self._label())
        try:
            token = self._refresh_token()
        except OrgApiError:
            raise
        except Exception as exc:
            raise SessionExpired(self._scrub(f"the access token expired and renewing it failed: {exc}"),
                                 error_code="INVALID_SESSION_ID", status=401) from exc
        if not token:
            raise SessionExpired("the access token expired and no new one was obtained",
                                 error_code="INVALID_SESSION_ID", status=401)
        self.set_access_token(token)

    def set_access_token(self, token: str) -> None:
        """Install a new access token on the simple-salesforce client.

        simple-salesforce 1.12.10 keeps it in ``sf.session_id`` and the ``Authorization`` header of
        ``sf.headers``; SFType and ``sf.bulk2`` handlers created afterwards read ``sf.session_id``;
        the cached metadata API helper copied it, so it is dropped.
        """
        old = self.sf.session_id
        if old and old != token:
            self._old_tokens.append(old)
        self.sf.session_id = token
        self.sf.headers["Authorization"] = "Bearer " + token
        if getattr(self.sf, "_mdapi", None) is not None:
            self.sf._mdapi = None

    def _kwargs(self) -> dict[str, Any]:
        return {"timeout": self.timeout} if self.timeout else {}

    def _rest(self, what: str, path: str, *, method: str = "GET", params: dict[str, Any] | None = None,
              json: Any = None, idempotent: bool = True) -> Any:
        kwargs = self._kwargs()
        if json is not None:
            kwargs["json"] = json
        return self._call(f"{method} {what}",
                          lambda: self.sf.restful(path, params=params, method=method, **kwargs),
                          idempotent=idempotent)

    # ------------------------------------------------------------------ describe
    def describe_global(self) -> dict[str, Any]:
        """``GET sobjects`` (cached for the life of this client)."""
        if self._describe_global is None:
            self._describe_global = strip_attributes(self._rest("describe global", "sobjects") or {})
        return self._describe_global

    def describe(self, object_name: str) -> dict[str, Any]:
        """``GET sobjects/X/describe`` (cached); an unknown object raises OrgApiError ``NOT_FOUND``."""
        key = object_name.lower()
        if key not in self._describes:
            try:
                result = self._rest(f"describe {object_name}", f"sobjects/{object_name}/describe")
            except OrgApiError as exc:
                if exc.status == 404:
                    raise OrgApiError(f"object {object_name!r} does not exist in org {self._label()} "
                                      "(or the user cannot see it)", error_code="NOT_FOUND", status=404) from exc
                raise
            self._describes[key] = strip_attributes(result or {})
        return self._describes[key]

    def object_names(self) -> set[str]:
        """API names of every sObject of the org."""
        return {str(item["name"]) for item in self.describe_global().get("sobjects", [])}

    def clear_cache(self) -> None:
        """Forget cached describes (after metadata changed)."""
        self._describe_global = None
        self._describes.clear()

    # ------------------------------------------------------------------ query
    def query_iter(self, soql: str, *, include_deleted: bool = False) -> Iterator[dict[str, Any]]:
        """Records of ``soql``, page by page (``nextRecordsUrl``), without ``attributes``."""
        kwargs = self._kwargs()
        endpoint = "queryAll" if include_deleted else "query"
        result = self._call(f"{endpoint} {soql[:200]}",
                            lambda: self.sf.query(soql, include_deleted=include_deleted, **kwargs))
        while True:
            for record in result.get("records") or []:
                yield strip_attributes(record)
            next_url = result.get("nextRecordsUrl")
            if result.get("done", True) or not next_url:
                return
            result = self._call(f"{endpoint} more {next_url}",
                                lambda url=next_url: self.sf.query_more(url, identifier_is_url=True, **kwargs))

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        """All records of ``soql`` (every page), without ``attributes`` at any depth."""
        return list(self.query_iter(soql, include_deleted=include_deleted))

    def query_large(self, soql: str, *, include_deleted: bool = False, bulk_from: int = 0,
                    object_name: str | None = None,
                    instead: tuple[int, Callable[[], list[dict[str, Any]]]] | None = None) -> list[dict[str, Any]]:
        """:meth:`query`, switching to a Bulk API 2.0 query job when the answer is big.

        The first REST page says how many records there are (``totalSize``). When they are at least
        ``bulk_from`` (0: never switch) and the REST pages still to read would cost more calls than a
        Bulk query (open, poll, result pages of 50,000 rows), the records come from a Bulk query of
        the same SOQL instead, with the same shape and types as REST gives them. ``instead`` is
        (calls, read): another way to get the records the caller needs; it is taken when it costs
        fewer calls than both.
        """
        _total, pages = self._large_pages(soql, include_deleted=include_deleted, bulk_from=bulk_from,
                                          object_name=object_name, instead=instead)
        return [record for page in pages for record in page]

    def query_pages(self, soql: str, *, include_deleted: bool = False, bulk_from: int = 0,
                    object_name: str | None = None, expected: int | None = None,
                    page_rows: int | None = None) -> tuple[int, Iterator[list[dict[str, Any]]]]:
        """:meth:`query_large` page by page: (how many records there are, as the first REST page says, and
        their pages, each read when the one before it is done with). REST pages of up to 2,000 records, or
        the Bulk query's result pages of 40,000: a caller that lets each page go holds one at a time.

        ``expected``: how many records the caller counted the query to give, just before (a run's scan). When
        that many are read in fewer calls by a Bulk query, the REST page that would only say how many there
        are is not asked for: the org would find and sort every record twice (on 800,000 records, seconds of
        its time). The Bulk query job opens at once and its count of rows is the one returned; ``page_rows``
        sets its result pages' size (a caller that holds every record anyway reads them in fewer pages)."""
        name = object_name or _from_object(soql)
        page = page_rows or BULK_QUERY_PAGE
        if expected is not None and bulk_from and expected >= bulk_from \
                and 2 + -(-expected // page) < 1 + -(-expected // REST_QUERY_PAGE):
            job_id, job = self._bulk_query_job(soql, include_deleted=include_deleted, name=name,
                                               poll_first=BULK_POLL_FIRST, poll_max=BULK_POLL_MAX,
                                               expected_rows=expected)
            return processed_rows(job), self._bulk_result_pages(job_id, name, page)
        return self._large_pages(soql, include_deleted=include_deleted, bulk_from=bulk_from, object_name=object_name)

    def _large_pages(self, soql: str, *, include_deleted: bool, bulk_from: int, object_name: str | None,
                     instead: tuple[int, Callable[[], list[dict[str, Any]]]] | None = None,
                     ) -> tuple[int, Iterator[list[dict[str, Any]]]]:
        kwargs = self._kwargs()
        endpoint = "queryAll" if include_deleted else "query"
        first = self._call(f"{endpoint} {soql[:200]}",
                           lambda: self.sf.query(soql, include_deleted=include_deleted, **kwargs))
        total = int(first.get("totalSize") or 0)
        rows = len(first.get("records") or [])
        rest_calls = -(-(total - rows) // REST_QUERY_PAGE)
        bulk_calls = 2 + -(-total // BULK_QUERY_PAGE)
        if not bulk_from or total < bulk_from:
            bulk_calls = rest_calls + 1            # not an option
        if not first.get("done", True) and instead is not None and instead[0] < min(rest_calls, bulk_calls):
            logger.debug("%s: %d records in %s; reading the %d calls' worth needed instead", self._label(),
                         total, soql[:80], instead[0])
            del first
            return total, iter([instead[1]()])
        if first.get("done", True) or rest_calls <= bulk_calls:
            return total, self._rest_pages(endpoint, first, kwargs)
        del first
        return total, self.bulk_query_pages(soql, include_deleted=include_deleted, object_name=object_name,
                                            expected_rows=total)

    def _rest_pages(self, endpoint: str, first: dict[str, Any],
                    kwargs: dict[str, Any]) -> Iterator[list[dict[str, Any]]]:
        """The records of REST query answer ``first`` and of the pages after it, one page at a time."""
        result: dict[str, Any] | None = first
        del first
        while result is not None:
            page = [strip_attributes(r) for r in result.get("records") or []]
            next_url = result.get("nextRecordsUrl")
            done = result.get("done", True) or not next_url
            result = None
            yield page
            del page
            if not done:
                result = self._call(f"{endpoint} more {next_url}",
                                    lambda url=next_url: self.sf.query_more(url, identifier_is_url=True, **kwargs))

    def bulk_query(self, soql: str, *, include_deleted: bool = False, object_name: str | None = None,
                   poll_first: float = BULK_POLL_FIRST, poll_max: float = BULK_POLL_MAX,
                   expected_rows: int | None = None) -> list[dict[str, Any]]:
        """Records of ``soql`` through a Bulk API 2.0 query job, shaped like :meth:`query` gives them:
        relationship columns (``Account.Name``) nested, empty cells null, booleans and numbers typed
        from the objects' describes. ``expected_rows`` (when the caller counted them) lets the job be
        looked at about when it should be done (:class:`~.pacing.PollSchedule`)."""
        return [record for page in self.bulk_query_pages(
            soql, include_deleted=include_deleted, object_name=object_name, poll_first=poll_first,
            poll_max=poll_max, expected_rows=expected_rows) for record in page]

    def bulk_query_pages(self, soql: str, *, include_deleted: bool = False, object_name: str | None = None,
                         poll_first: float = BULK_POLL_FIRST, poll_max: float = BULK_POLL_MAX,
                         expected_rows: int | None = None) -> Iterator[list[dict[str, Any]]]:
        """:meth:`bulk_query` one result page (up to 40,000 records) at a time; the job is opened when the
        first page is asked for, and each next page read when the one before it is done with."""
        name = object_name or _from_object(soql)
        job_id, _job = self._bulk_query_job(soql, include_deleted=include_deleted, name=name, poll_first=poll_first,
                                            poll_max=poll_max, expected_rows=expected_rows)
        yield from self._bulk_result_pages(job_id, name, BULK_QUERY_PAGE)

    def _bulk_query_job(self, soql: str, *, include_deleted: bool, name: str, poll_first: float, poll_max: float,
                        expected_rows: int | None) -> tuple[str, dict[str, Any]]:
        """Open a Bulk API 2.0 query job and wait for it to complete: (its id, its info)."""
        job = self._bulk_request(f"bulk query {name}", "POST", "jobs/query/", json={
            "operation": "queryAll" if include_deleted else "query", "query": soql, "contentType": "CSV",
            "columnDelimiter": "COMMA", "lineEnding": "LF"}).json()
        job_id = job["id"]
        job = self._bulk_wait(job_id, job, poll_first, poll_max, rows=expected_rows, kind=(name, "query"),
                              kind_path="query")
        if job.get("state") != "JobComplete":
            raise OrgApiError(f"the Bulk API query of {name} ended {job.get('state')}: "
                              f"{job.get('errorMessage') or 'no reason given'}", error_code="BULK_QUERY_FAILED")
        return job_id, job

    def _bulk_result_pages(self, job_id: str, name: str, page_rows: int) -> Iterator[list[dict[str, Any]]]:
        """The result pages (``page_rows`` rows at most) of completed query job ``job_id``, each read when the one
        before it is done with."""
        convert: Callable[[list[str]], dict[str, Any]] | None = None
        locator = ""
        while True:
            query = f"?maxRecords={page_rows}" + (f"&locator={locator}" if locator else "")
            page = self._bulk_request(f"bulk query results {job_id}", "GET", f"jobs/query/{job_id}/results{query}")
            locator = page.headers.get("Sforce-Locator") or "null"
            reader = csv.reader(_text_lines(page.content.decode("utf-8")))
            del page
            header = next(reader, None)
            records: list[dict[str, Any]] = []
            if header:
                if convert is None:
                    convert = self._bulk_converter(name, header)
                records = [convert(row) for row in reader if row]
            del reader
            yield records
            del records
            if locator == "null":
                return

    def _bulk_converter(self, object_name: str, header: list[str]) -> Callable[[list[str]], dict[str, Any]]:
        """A function turning one Bulk query CSV row into a REST-shaped record."""
        plans: list[tuple[list[str], Callable[[str], Any]]] = []
        for column in header:
            parts = column.split(".")
            spec_name: str | None = object_name
            for rel in parts[:-1]:      # walk the relationship names to the last object
                fields = self._field_specs(spec_name) if spec_name else {}
                target = next((f for f in fields.values() if (f.get("relationshipName") or "").lower()
                               == rel.lower()), None)
                spec_name = (target.get("referenceTo") or [None])[0] if target else None
            fspec = self._field_specs(spec_name).get(parts[-1].lower()) if spec_name else None
            plans.append((parts, _cell_parser(fspec.get("type") if fspec else "string")))

        def convert(row: list[str]) -> dict[str, Any]:
            record: dict[str, Any] = {}
            for (parts, parse), cell in zip(plans, row):
                value = parse(cell) if cell != "" else None
                holder = record
                for rel in parts[:-1]:
                    child = holder.get(rel)
                    if child is None:
                        child = holder[rel] = {}
                    holder = child
                holder[parts[-1]] = value
            return _null_empty_parents(record, plans)
        return convert

    def _field_specs(self, object_name: str) -> dict[str, dict[str, Any]]:
        try:
            described = self.describe(object_name)
        except OrgApiError:
            return {}
        return {str(f["name"]).lower(): f for f in described.get("fields") or []}

    def count(self, object_name: str, where: str | None = None) -> int:
        """``SELECT COUNT() FROM object_name [WHERE where]``."""
        soql = f"SELECT COUNT() FROM {object_name}" + (f" WHERE {where}" if where else "")
        kwargs = self._kwargs()
        result = self._call(f"count {object_name}", lambda: self.sf.query(soql, **kwargs))
        return int(result.get("totalSize", 0))

    # ------------------------------------------------------------------ Collections writes
    def create(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Insert ``records`` (each with ``attributes.type``) via ``POST composite/sobjects``.

        Returns one ``{"id", "success", "errors"}`` per record, in order. A dropped connection
        raises :class:`ConnectionLost` (see there): creates are never resent blindly.
        """
        for index, record in enumerate(records):
            if not isinstance(record.get("attributes"), dict) or not record["attributes"].get("type"):
                raise ValueError(f"record {index} has no attributes.type: every record to create needs one")

        def send(chunk: list[dict[str, Any]]) -> list[Any]:
            return self._rest(f"create {len(chunk)}", "composite/sobjects", method="POST",
                              json={"allOrNone": False, "records": chunk}, idempotent=False)
        return self._write("create", list(records), send)

    def update(self, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Update ``records`` (each with ``attributes.type`` and ``Id``) via ``PATCH composite/sobjects``."""
        body: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            if not isinstance(record.get("attributes"), dict) or not record["attributes"].get("type"):
                raise ValueError(f"record {index} has no attributes.type: every record to update needs one")
            record_id = record.get("Id") or record.get("id")
            if not record_id:
                raise ValueError(f"record {index} has no Id: every record to update needs one")
            out = {key: value for key, value in record.items() if key not in ("Id", "id")}
            out["id"] = record_id
            body.append(out)

        def send(chunk: list[dict[str, Any]]) -> list[Any]:
            return self._rest(f"update {len(chunk)}", "composite/sobjects", method="PATCH",
                              json={"allOrNone": False, "records": chunk})
        results = self._write("update", body, send)
        for record, result in zip(body, results):
            if result["id"] is None:
                result["id"] = record["id"]
        return results

    def delete(self, ids: list[str]) -> list[dict[str, Any]]:
        """Delete records by id via ``DELETE composite/sobjects?ids=...``.

        When a request had to be resent after an unanswered attempt, ``ENTITY_IS_DELETED`` is
        reported as success: the first attempt deleted the record.
        """
        def send(chunk: list[str]) -> list[Any]:
            attempts = 0

            def do() -> Any:
                nonlocal attempts
                attempts += 1
                return self.sf.restful("composite/sobjects", method="DELETE",
                                       params={"ids": ",".join(chunk), "allOrNone": "false"}, **self._kwargs())
            raw = self._call(f"DELETE {len(chunk)}", do)
            if attempts > 1 and isinstance(raw, list):
                raw = [{"id": rid, "success": True, "errors": []}
                       if isinstance(item, dict) and not item.get("success")
                       and any(e.get("statusCode") == "ENTITY_IS_DELETED" for e in item.get("errors") or [])
                       else item for rid, item in zip(chunk, raw)]
            return raw
        results = self._write("delete", list(ids), send)
        for record_id, result in zip(ids, results):
            if result["id"] is None:
                result["id"] = record_id
        return results

    def _write(self, op: str, items: list[Any], send: Callable[[list[Any]], Any]) -> list[dict[str, Any]]:
        started = time.monotonic()
        with self._meter.writing("collections", -(-len(items) // COLLECTION_SIZE), len(items)):
            results = self._write_chunks(op, items, send)
        seconds = time.monotonic() - started
        if items and seconds > 0:    # what a first Bulk job of the operation is first expected to go at
            self._job_rates.record_collections(_BULK_OPERATION.get(op, op), len(items) / seconds)
        return results

    def _write_chunks(self, op: str, items: list[Any], send: Callable[[list[Any]], Any]) -> list[dict[str, Any]]:
        results: list[dict[str, Any] | None] = [None] * len(items)
        for start, chunk in _chunks(items, COLLECTION_SIZE):
            positions = list(range(start, start + len(chunk)))
            try:
                self._send_chunk(op, items, positions, send, results)
            except _Ambiguous as exc:
                unknown = [i for i in positions if results[i] is None]
                logger.info("%s: %s of %d records: no answer from the org (%s); they may have been saved",
                               self._label(), op, len(unknown), exc.detail)
                raise ConnectionLost(
                    f"the connection to {self.instance_url} was lost during a {op} of {_plural(len(unknown))} "
                    f"({exc.detail}); they may or may not have been saved",
                    records=[items[i] for i in unknown], results=list(results), unknown_indexes=unknown,
                    status=exc.status) from exc
        return [r for r in results if r is not None]

    def _send_chunk(self, op: str, items: list[Any], positions: list[int], send: Callable[[list[Any]], Any],
                    results: list[dict[str, Any] | None]) -> None:
        """Send ``items[positions]``, then re-send the locked ones up to ``retries`` times."""
        pending = positions
        for round_number in range(self.retries + 1):
            if round_number:
                wait = min(self.backoff * 2 ** (round_number - 1), _MAX_WAIT)
                logger.info("%s: %d records locked (%s); re-sending them in %.1fs (%d of %d)", self._label(),
                            len(pending), LOCK_ERROR, wait, round_number, self.retries)
                if wait:
                    time.sleep(wait)
                for i in pending:
                    results[i] = None
            raw = send([items[i] for i in pending])
            if not isinstance(raw, list) or len(raw) != len(pending):
                raise OrgApiError(f"the org answered a {op} of {len(pending)} records with "
                                  f"{len(raw) if isinstance(raw, list) else 'no'} results",
                                  error_code="UNEXPECTED_RESPONSE")
            for i, item in zip(pending, raw):
                results[i] = _normalise_result(item)
            pending = [i for i in pending if _is_locked(results[i])]  # type: ignore[arg-type]
            if not pending:
                return
        logger.info("%s: %d records still locked after %d re-sends", self._label(), len(pending), self.retries)

    # ------------------------------------------------------------------ Bulk API 2.0 ingest
    def bulk_ingest(self, object_name: str, operation: str, records: list[dict[str, Any]], *,
                    poll_first: float = BULK_POLL_FIRST, poll_max: float = BULK_POLL_MAX,
                    on_job: Callable[[str], None] | None = None,
                    on_collections: Callable[[list[int]], None] | None = None,
                    on_opening: Callable[[], None] | None = None,
                    on_progress: Callable[[str, int, bool], None] | None = None,
                    resend_bulk_from: int | None = None) -> list[dict[str, Any]]:
        """Insert, update or delete ``records`` of ``object_name`` with Bulk API 2.0 ingest jobs.

        ``records`` are field values (no ``attributes`` needed); update and delete need ``Id``.
        Returns one ``{"id", "success", "errors"}`` per record, in the records' order, like
        :meth:`create`. Bulk result files come in any order, so each result row is matched back to
        its record by the record's own columns, which the org echoes (two records with the same
        values are interchangeable).

        Row locks: the org splits a job into internal batches run in parallel, and rows of one parent
        in two batches contend for the parent's lock (``UNABLE_TO_LOCK_ROW``). So the rows go up with
        each parent's records together (:meth:`lock_parents`: ordered by the parent's id, as Salesforce
        advises), and rows that still fail locked are sent again after a wait (``backoff``, doubling):
        as another job of just those rows while they are at least ``resend_bulk_from``
        (:data:`BULK_RESEND_FROM` when None), at most ``retries`` times and while each such job gets
        some through; then whatever is still locked goes through Collections, whose requests the org
        runs one at a time (no contention among them) and which re-sends locked records itself. A row is
        reported locked only once those re-sends are used up too.
        Rows a failed or aborted job never processed fail with the job's message.

        Every request is counted and retried like the others; the job is looked at about when it should be
        done, from its size and the rates measured so far (:class:`~.pacing.PollSchedule`: first after
        ``poll_first`` seconds, doubling up to ``poll_max`` while nothing is measured). ``on_job`` is
        called with each job's id (re-send jobs too) as soon as the org has opened it, before any data
        goes up: the org goes on processing a job its sender no longer waits for, so whoever comes after a
        crash must know which jobs to wait for (:meth:`settle_bulk_jobs`). ``on_opening`` is called just
        before each request that opens a job: the org may open it and the answer (the id) be lost, so
        whoever comes after a crash must know to look for it (:meth:`ingest_jobs`). ``on_collections`` is called
        with the positions (in ``records``) of the locked rows just before they go out through
        Collections: unlike an ended job, a Collections request whose answer is lost may still be
        committed later, so whoever wrote them ahead as Bulk rows must know. ``on_progress`` is called after
        each look at a job (not a re-send job: its rows were counted once) with its id, the rows the org has
        processed so far and whether the job has ended (for a time-left estimate: nothing is journaled of
        those rows yet).
        """
        if operation not in BULK_OPERATIONS:
            raise ValueError(f"bulk operation {operation!r}: use one of {', '.join(BULK_OPERATIONS)}")
        columns = _bulk_columns(operation, records)
        parents = self.lock_parents(object_name, columns) if operation != "delete" else []
        results: list[dict[str, Any] | None] = [None] * len(records)

        def send_jobs(positions: Iterable[int], progress: Callable[[str, int, bool], None] | None) -> None:
            for lines, data in _bulk_jobs(operation, columns, records, _parent_order(records, parents, positions)):
                rows = sum(map(len, lines.values()))
                with self._meter.writing("bulk", 1, rows):
                    outcome = self._bulk_job(object_name, operation, data, rows, poll_first, poll_max, on_job,
                                             on_opening, progress)
                del data
                _map_bulk_results(outcome, columns, lines, results)

        send_jobs(range(len(records)), on_progress)
        locked = [i for i, r in enumerate(results) if r is not None and _is_locked(r)]
        resend_from = max(1, BULK_RESEND_FROM if resend_bulk_from is None else resend_bulk_from)
        round_number = 0
        while locked and len(locked) >= resend_from and round_number < self.retries:
            round_number += 1
            wait = min(self.backoff * 2 ** (round_number - 1), _MAX_WAIT)
            logger.info("%s: %d %s rows locked (%s); sending them again as a Bulk job in %.1fs (%d of %d)",
                        self._label(), len(locked), object_name, LOCK_ERROR, wait, round_number, self.retries)
            if wait:
                time.sleep(wait)
            send_jobs(locked, None)
            still = [i for i in locked if _is_locked(results[i])]  # type: ignore[arg-type]
            headway, locked = len(still) < len(locked), still
            if not headway:
                break
        if locked:
            logger.info("%s: %d %s rows locked (%s); re-sending them through Collections", self._label(),
                        len(locked), object_name, LOCK_ERROR)
            if on_collections is not None:
                on_collections(locked)
            again = self._collections(object_name, operation, [records[i] for i in locked])
            for i, result in zip(locked, again):
                results[i] = result
        out = [r for r in results if r is not None]
        if operation != "insert":
            for record, result in zip(records, out):
                result["id"] = result["id"] or str(record.get("Id") or record.get("id"))
        return out

    def lock_parents(self, object_name: str, columns: Iterable[str]) -> list[str]:
        """Of ``columns``, the parents whose records the org locks while it writes one of ``object_name``'s
        (master-detail fields first, then the other lookups; not owners, users or record types): Bulk rows
        are grouped by them. None when the object cannot be described (the rows then go up as given)."""
        fields = self._field_specs(object_name)
        masters: list[str] = []
        lookups: list[str] = []
        for column in columns:
            spec = fields.get(column.lower())
            if spec is None or spec.get("type") != "reference" or column.lower() == "id" \
                    or set(spec.get("referenceTo") or []) <= NOT_LOCKED:
                continue
            if spec.get("relationshipOrder") is not None or spec.get("cascadeDelete"):
                masters.append(column)
            else:
                lookups.append(column)
        return masters + lookups

    def _collections(self, object_name: str, operation: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
        if operation == "delete":
            return self.delete([r["Id"] for r in records])
        typed = [{"attributes": {"type": object_name}, **r} for r in records]
        return self.create(typed) if operation == "insert" else self.update(typed)

    def _bulk_request(self, what: str, method: str, path: str, *, json: Any = None, data: bytes | None = None,
                      idempotent: bool = True) -> requests.Response:
        url = self.sf.base_url + path
        kwargs = self._kwargs()
        if json is not None:
            kwargs["json"] = json
        if data is not None:
            kwargs["data"] = data
            kwargs["headers"] = {"Content-Type": "text/csv"}
        return self._call(f"{method} {what}", lambda: self.sf._call_salesforce(method, url, name=what, **kwargs),
                          idempotent=idempotent)

    def _bulk_job(self, object_name: str, operation: str, data: bytes, rows: int, poll_first: float,
                  poll_max: float, on_job: Callable[[str], None] | None = None,
                  on_opening: Callable[[], None] | None = None,
                  on_progress: Callable[[str, int, bool], None] | None = None) -> dict[str, Any]:
        """One ingest job from open to its result files: {"job": info, "ok": csv text, "failed": csv
        text, "all_ok": every row of an update or delete succeeded}. A result file is fetched only
        when it is needed (no failed results when nothing failed).

        The order is what recovery relies on: ``on_opening``, the request that opens the job, ``on_job``
        with its id, and only then the data and the close. So a job whose id ``on_job`` never got (the
        process died, or the answer was lost) is ``Open`` with no data, and the org commits nothing of it."""
        if on_opening is not None:
            on_opening()
        job = self._bulk_request(f"bulk {operation} job {object_name}", "POST", "jobs/ingest/", json={
            "object": object_name, "operation": operation, "contentType": "CSV", "columnDelimiter": "COMMA",
            "lineEnding": "LF"}).json()
        job_id = job["id"]
        if on_job is not None:
            on_job(job_id)
        try:
            self._bulk_request(f"bulk upload {job_id}", "PUT", f"jobs/ingest/{job_id}/batches/", data=data)
        except OrgApiError as exc:
            # an upload whose first answer was lost and that was sent again: the org has the data
            if "multiple contents" not in exc.message.lower():
                raise
        try:
            job = self._bulk_request(f"bulk close {job_id}", "PATCH", f"jobs/ingest/{job_id}/",
                                     json={"state": "UploadComplete"}).json()
        except OrgApiError as exc:
            if exc.error_code != "INVALIDJOBSTATE":
                raise
            job = {"state": "UploadComplete"}   # closed by an attempt whose answer was lost
        def on_look(info: dict[str, Any]) -> None:
            if on_progress is not None:
                on_progress(job_id, processed_rows(info), info.get("state") in BULK_TERMINAL)

        job = self._bulk_wait(job_id, job, poll_first, poll_max, rows=rows, kind=(object_name, operation),
                              on_look=on_look)
        logger.debug("%s: bulk %s job %s of %s: %s, %s processed, %s failed", self._label(), operation, job_id,
                     object_name, job.get("state"), job.get("numberRecordsProcessed"), job.get("numberRecordsFailed"))
        outcome: dict[str, Any] = {"job": job, "ok": "", "failed": "", "all_ok": False}
        counted = "numberRecordsFailed" in job and "numberRecordsProcessed" in job
        failures = int(job.get("numberRecordsFailed") or 0) if counted else 1
        if operation != "insert" and job.get("state") == "JobComplete" and not failures \
                and int(job.get("numberRecordsProcessed") or 0) == rows:
            outcome["all_ok"] = True       # every update or delete succeeded: no result file needed
            return outcome
        outcome["ok"] = self._bulk_request(f"bulk results {job_id}", "GET",
                                           f"jobs/ingest/{job_id}/successfulResults/").content.decode("utf-8")
        if failures:
            outcome["failed"] = self._bulk_request(f"bulk failures {job_id}", "GET",
                                                   f"jobs/ingest/{job_id}/failedResults/").content.decode("utf-8")
        return outcome

    def _bulk_wait(self, job_id: str, job: dict[str, Any], poll_first: float, poll_max: float,
                   keep_waiting: Callable[[], bool] | None = None, *, rows: int | None = None,
                   kind: tuple[str, str] | None = None, kind_path: str = "ingest",
                   on_look: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
        """Look at a job until it ends (or ``keep_waiting`` says stop), waiting between looks as long as the
        job should still take: :class:`~.pacing.PollSchedule` from its ``rows`` and the rates measured so far
        (its own, and those of this client's earlier jobs of ``kind``, (object, operation)). ``on_look`` is
        called with the job's info after each look. Returns the job's last info."""
        rate, sure = self._job_rates.guide(kind, rows) if kind is not None else (None, False)
        start = time.monotonic()
        schedule = PollSchedule(rows, expected_rate=rate, first=poll_first, backoff_max=poll_max,
                                longest=BULK_POLL_LONGEST, start=start, expected_sure=sure)
        wait = schedule.next_wait(job, start)
        while job.get("state") not in BULK_TERMINAL:
            if keep_waiting is not None and not keep_waiting():
                break
            if not self._pause(wait, keep_waiting):
                break
            with self._lock:
                self._bulk_polls += 1
                if kind_path == "ingest":
                    self._ingest_polls += 1
            job = self._bulk_request(f"bulk job {job_id}", "GET", f"jobs/{kind_path}/{job_id}/").json()
            wait = schedule.next_wait(job, time.monotonic())
            if on_look is not None:
                on_look(job)
        if kind is not None and job.get("state") == "JobComplete":
            seconds = processing_seconds(job)
            measured = processed_rows(job) / seconds if seconds > 0 and processed_rows(job) else schedule.rate
            if measured:
                self._job_rates.record(kind, measured, processed_rows(job))
        logger.debug("%s: bulk job %s looked at %d times", self._label(), job_id, schedule.looks - 1)
        return job

    @staticmethod
    def _pause(seconds: float, keep_waiting: Callable[[], bool] | None) -> bool:
        """Wait ``seconds``; with ``keep_waiting``, ask it every :data:`BULK_PAUSE_SLICE` seconds and stop
        early when it says no (False)."""
        if keep_waiting is None:
            time.sleep(seconds)
            return True
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if left <= 0:
                return True
            time.sleep(min(left, BULK_PAUSE_SLICE))
            if not keep_waiting():
                return False

    def ingest_jobs(self) -> list[dict[str, Any]]:
        """Every Bulk API 2.0 ingest job the org lists (``GET jobs/ingest``, every page through
        ``nextRecordsUrl``): each with id, operation, object, createdById, createdDate and state. The org
        lists the jobs of all its users (of the last days), not only this client's."""
        result = self._bulk_request("bulk job list", "GET", "jobs/ingest/?jobType=V2Ingest").json() or {}
        jobs = list(result.get("records") or [])
        while not result.get("done", True) and result.get("nextRecordsUrl"):
            url = self.instance_url.rstrip("/") + "/" + str(result["nextRecordsUrl"]).lstrip("/")

            def more(u: str = url) -> requests.Response:
                return self.sf._call_salesforce("GET", u, name="bulk job list", **self._kwargs())
            result = self._call("GET bulk job list more", more).json() or {}
            jobs.extend(result.get("records") or [])
        return jobs

    def bulk_created(self, job_id: str) -> list[dict[str, str]]:
        """The rows of an ingest job's successful results (``sf__Id``, ``sf__Created`` and the job's own
        columns), as column -> cell."""
        text = self._bulk_request(f"bulk results {job_id}", "GET",
                                  f"jobs/ingest/{job_id}/successfulResults/").content.decode("utf-8")
        reader = csv.reader(_text_lines(text))
        header = next(reader, None) or []
        return [dict(zip(header, line)) for line in reader if line]

    def settle_bulk_jobs(self, job_ids: Iterable[str], *, poll_first: float = BULK_POLL_FIRST,
                         poll_max: float = BULK_POLL_MAX, keep_waiting: Callable[[], bool] | None = None,
                         ) -> dict[str, str]:
        """Bring ingest jobs a crashed run left behind to an end, so that what they do is done before
        anyone reads the org: a job still ``Open`` (its data never fully went up) is aborted and never
        runs; one ``UploadComplete`` or ``InProgress`` is waited for. Returns each job's final state
        (``Gone`` when the org no longer knows it); a job still running when ``keep_waiting`` says
        stop keeps the state it had."""
        states: dict[str, str] = {}
        for job_id in job_ids:
            try:
                job = self._bulk_request(f"bulk job {job_id}", "GET", f"jobs/ingest/{job_id}/").json()
            except OrgApiError as exc:
                if exc.status != 404:
                    raise
                states[job_id] = "Gone"
                continue
            if job.get("state") == "Open":
                try:
                    job = self._bulk_request(f"bulk abort {job_id}", "PATCH", f"jobs/ingest/{job_id}/",
                                             json={"state": "Aborted"}).json()
                except OrgApiError as exc:     # closed meanwhile by an upload that did arrive: wait for it
                    if exc.error_code != "INVALIDJOBSTATE":
                        raise
                    job = self._bulk_request(f"bulk job {job_id}", "GET", f"jobs/ingest/{job_id}/").json()
            job = self._bulk_wait(job_id, job, poll_first, poll_max, keep_waiting)
            states[job_id] = str(job.get("state"))
            logger.info("%s: bulk job %s left by an interrupted run: %s", self._label(), job_id, states[job_id])
        return states

    # ------------------------------------------------------------------ retrieve
    def retrieve(self, object_name: str, ids: Iterable[str], fields: Iterable[str]) -> list[dict[str, Any] | None]:
        """Records by id (``POST composite/sobjects/X``), in order; None where an id has no live record."""
        id_list, field_list = list(ids), list(fields)
        out: list[dict[str, Any] | None] = []
        for _start, chunk in _chunks(id_list, RETRIEVE_SIZE):
            raw = self._rest(f"retrieve {len(chunk)} {object_name}", f"composite/sobjects/{object_name}",
                             method="POST", json={"ids": chunk, "fields": field_list})
            out.extend(strip_attributes(item) if item is not None else None for item in raw or [])
        return out

    # ------------------------------------------------------------------ tooling
    def tooling_query(self, soql: str) -> list[dict[str, Any]]:
        """Records of a Tooling API query (every page), without ``attributes``."""
        kwargs = self._kwargs()
        result = self._rest(f"tooling query {soql[:200]}", "tooling/query/", params={"q": soql}) or {}
        records = [strip_attributes(r) for r in result.get("records") or []]
        while not result.get("done", True) and result.get("nextRecordsUrl"):
            next_url = result["nextRecordsUrl"]
            result = self._call(f"tooling query more {next_url}",
                                lambda url=next_url: self.sf.query_more(url, identifier_is_url=True, **kwargs))
            records.extend(strip_attributes(r) for r in result.get("records") or [])
        return records

    def tooling_get(self, object_name: str, record_id: str) -> dict[str, Any]:
        """``GET tooling/sobjects/X/id`` (includes ``FullName`` and ``Metadata``), without ``attributes``."""
        return strip_attributes(self._rest(f"tooling get {object_name}", f"tooling/sobjects/{object_name}/{record_id}")
                                or {})

    def tooling_update(self, object_name: str, record_id: str, body: dict[str, Any]) -> None:
        """``PATCH tooling/sobjects/X/id`` with ``body`` (for example the full ``Metadata``)."""
        self._rest(f"tooling update {object_name}", f"tooling/sobjects/{object_name}/{record_id}", method="PATCH",
                   json=body)

    # ------------------------------------------------------------------ org facts
    # ------------------------------------------------------------------ files (see files.py)
    def download_blob(self, object_name: str, record_id: str, dest: Path | str | IO[bytes], *,
                      field: str | None = None, on_chunk: Callable[[int], None] | None = None) -> BlobInfo:
        """Stream a ContentVersion's ``VersionData`` or an Attachment's ``Body`` (or ``field``) into ``dest``, a path
        (created or replaced) or a binary file (written from its current position); returns its size and MD5 hex,
        which for a ContentVersion is its ``Checksum``. A dropped connection or HTTP 503 is retried from the
        start (``on_chunk`` then counts the bytes again)."""
        field = field or files.blob_field(object_name)
        start = None if isinstance(dest, (str, Path)) else dest.tell()
        return self._call(f"GET {object_name}/{record_id}/{field}", lambda: files.fetch_blob(
            self.sf, object_name, record_id, field, dest, start, on_chunk, **self._kwargs()))

    @contextlib.contextmanager
    def spooled_blob(self, object_name: str, record_id: str, *, field: str | None = None,
                     folder: Path | None = None, on_chunk: Callable[[int], None] | None = None) -> Iterator[BlobInfo]:
        """``with client.spooled_blob("ContentVersion", id) as got:`` the file in a temporary file ``got.path``
        under the data folder's ``spool`` (or ``folder``), private to the user, removed when the block ends."""
        with files.spool_file(folder) as (path, handle):
            got = self.download_blob(object_name, record_id, handle, field=field, on_chunk=on_chunk)
            handle.close()
            yield BlobInfo(path, got.size, got.md5)

    def upload_content_version(self, fields: dict[str, Any], source: Path | str, *,
                               on_chunk: Callable[[int], None] | None = None) -> str:
        """Insert a ContentVersion whose ``VersionData`` is the file ``source``; returns the new version's id.

        ``fields``: PathOnClient (required), Title, Description, and FirstPublishLocationId (a new document
        linked to that record) or ContentDocumentId (a new version of that document). See :meth:`upload_blob`."""
        return self.upload_blob("ContentVersion", fields, source, on_chunk=on_chunk)

    def create_attachment(self, fields: dict[str, Any], source: Path | str, *,
                          on_chunk: Callable[[int], None] | None = None) -> str:
        """Insert an Attachment (``fields``: ParentId, Name, ContentType, IsPrivate, Description) whose ``Body``
        is the file ``source``; returns its id. See :meth:`upload_blob`."""
        return self.upload_blob("Attachment", fields, source, on_chunk=on_chunk)

    def upload_blob(self, object_name: str, fields: dict[str, Any], source: Path | str, *,
                    on_chunk: Callable[[int], None] | None = None, small: int = files.SMALL_UPLOAD_BYTES) -> str:
        """Insert one ``object_name`` record (ContentVersion, Attachment) with ``fields`` and the file ``source`` in
        its base64 field; returns its id. Files up to ``small`` bytes go as JSON (base64), larger ones as
        multipart/form-data streamed from disk; ``on_chunk`` is called with the file bytes sent.

        Raises OSError when ``source`` cannot be read (before any request), :class:`OrgApiError` when the org
        refuses the record (``STORAGE_LIMIT_EXCEEDED``, ``MAXIMUM_SIZE_OF_ATTACHMENT``...), and
        :class:`ConnectionLost` (its ``records`` the one record) when the connection dropped after the file was
        sent: the org may have created it, so it is not resent."""
        field = files.blob_field(object_name)
        path = Path(source)
        size = path.stat().st_size
        record = {key: value for key, value in fields.items() if key != field}
        send = files.upload_request(self.sf, object_name, field, record, path, small=small, on_chunk=on_chunk,
                                    **self._kwargs())
        form = "JSON" if size <= small else "multipart"
        try:
            answer = self._call(f"POST sobjects/{object_name} ({size} bytes, {form})", send, idempotent=False)
        except _Ambiguous as exc:
            raise ConnectionLost(self._scrub(f"{self._label()}: the connection dropped after {path.name} was sent "
                                             f"as a new {object_name} ({exc.detail}); the org may have created it"),
                                 records=[record], results=[None], unknown_indexes=[0], status=exc.status) from exc
        return str(answer["id"])

    def limits(self) -> dict[str, Any]:
        """``GET limits``: ``{"DailyApiRequests": {"Max", "Remaining"}, ...}``."""
        return dict(self._rest("limits", "limits/") or {})

    def organization(self) -> dict[str, Any]:
        """The org's Organization row (Id, Name, IsSandbox, OrganizationType, InstanceName, TrialExpirationDate)."""
        rows = self.query("SELECT Id, Name, IsSandbox, OrganizationType, InstanceName, TrialExpirationDate "
                          "FROM Organization")
        if not rows:
            raise OrgApiError("the org returned no Organization row", error_code="UNEXPECTED_RESPONSE")
        return rows[0]

    def user_info(self) -> dict[str, Any]:
        """The API user (OpenID userinfo): user_id, organization_id, preferred_username, email, name.

        Where the org has no userinfo endpoint (404), the organization id comes from the
        Organization row and the user fields are None.
        """
        try:
            info = self._call("userinfo", lambda: self.sf.oauth2("userinfo"))
        except OrgApiError as exc:
            if exc.status != 404:
                raise
            logger.debug("%s: no userinfo endpoint; using the Organization row", self._label())
            return {"user_id": None, "organization_id": self.organization().get("Id"), "preferred_username": None,
                    "email": None, "name": None}
        out: dict[str, Any] = strip_attributes(dict(info or {}))
        for key in ("user_id", "organization_id", "preferred_username", "email", "name"):
            out.setdefault(key, None)
        return out
