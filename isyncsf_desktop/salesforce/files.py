"""Moving file bytes to and from an org, streamed: Salesforce Files (``ContentVersion.VersionData``) and
legacy Attachments (``Attachment.Body``).

A file is never held whole in memory:

* :func:`download_blob` reads ``GET /sobjects/{object}/{id}/{field}`` in chunks (``requests`` with
  ``stream=True``) into a file or a path, counting the bytes and computing their MD5 as they pass (a real org's
  ``ContentVersion.Checksum`` is that MD5, so a caller can tell a complete download from a damaged one);
  :func:`spooled_blob` downloads into a temporary file under the data folder (``paths.spool_dir()``, private
  to the user) and removes it when the caller is done with it;
* :func:`upload_blob` inserts a record with its file: a small file (up to :data:`SMALL_UPLOAD_BYTES`) as a
  JSON body with the bytes base64-encoded, anything larger as the ``multipart/form-data`` request real orgs
  accept for files up to 2 GB (the JSON part ``entity_content`` or ``entity_attachment``, then the binary
  part named after the field), streamed from the file by requests-toolbelt's ``MultipartEncoder``.

Every request goes through :meth:`OrgClient._call` like the client's others: it is counted, a dropped
connection or HTTP 503 is retried (a download from the start, into the same file), an expired token renewed,
and the org's refusals become :class:`~.client.OrgApiError` with the org's code (``STORAGE_LIMIT_EXCEEDED``,
``MAXIMUM_SIZE_OF_ATTACHMENT``...). An upload whose connection dropped after it was sent may have created the
record: it raises :class:`~.client.ConnectionLost` with the record's fields, never resends it blindly.
The same code talks to a real org and to the sandbox.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import requests
from requests_toolbelt.multipart.encoder import MultipartEncoder, MultipartEncoderMonitor

from .. import paths

if TYPE_CHECKING:
    from .client import OrgClient

#: Files up to this size are sent as JSON (base64); larger ones as multipart/form-data. A JSON body holds the
#: file three times over while it is built (bytes, base64, JSON text), so only small files go that way; real
#: orgs take at most 37.5 MB of base64 in a JSON body.
SMALL_UPLOAD_BYTES = 2 * 1024 * 1024
DOWNLOAD_CHUNK = 64 * 1024
#: The base64 field of each object that carries a file.
BLOB_FIELDS = {"ContentVersion": "VersionData", "Attachment": "Body"}
#: The name of the JSON part of a multipart insert, per object (``entity_document`` for Document...).
_ENTITY_PARTS = {"ContentVersion": "entity_content", "Attachment": "entity_attachment"}

ChunkCallback = Callable[[int], None]
"""Called with the number of bytes that just went by (progress)."""


@dataclass(frozen=True)
class BlobInfo:
    """What was downloaded: where it is (None when written to a file object), its size and MD5 hex."""

    path: Path | None
    size: int
    md5: str


def blob_field(object_name: str) -> str:
    """The base64 field of ``object_name`` (``VersionData``, ``Body``); ValueError for other objects."""
    field = BLOB_FIELDS.get(object_name)
    if field is None:
        raise ValueError(f"{object_name} carries no file; files are ContentVersion.VersionData and "
                         "Attachment.Body")
    return field


# ====================================================================== download
def download_blob(client: "OrgClient", object_name: str, record_id: str, field: str | None,
                  dest: Path | str | IO[bytes], *, on_chunk: ChunkCallback | None = None) -> BlobInfo:
    """Stream the file in ``object_name.field`` of record ``record_id`` into ``dest`` (a path, created or
    replaced, or a binary file object written from its current position); returns its size and MD5.

    ``field`` None means the object's file field. A retried download starts again at the same place.
    """
    field = field or blob_field(object_name)
    url = f"{client.sf.base_url}sobjects/{object_name}/{record_id}/{field}"
    start = None if isinstance(dest, (str, Path)) else dest.tell()

    def fetch() -> BlobInfo:
        response = client.sf._call_salesforce("GET", url, name=f"{object_name}.{field}", stream=True,
                                              **client._kwargs())
        try:
            with contextlib.closing(response):
                if isinstance(dest, (str, Path)):
                    with open(dest, "wb") as handle:
                        return _copy(response, handle, Path(dest), on_chunk)
                assert start is not None
                dest.seek(start)
                dest.truncate()
                return _copy(response, dest, None, on_chunk)
        except requests.exceptions.ChunkedEncodingError as exc:   # the body broke off: like a dropped connection
            raise requests.exceptions.ConnectionError(f"the download broke off: {exc}") from exc
    return client._call(f"GET {object_name}/{record_id}/{field}", fetch)


def _copy(response: Any, handle: IO[bytes], path: Path | None, on_chunk: ChunkCallback | None) -> BlobInfo:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    for chunk in response.iter_content(chunk_size=DOWNLOAD_CHUNK):
        if not chunk:
            continue
        handle.write(chunk)
        digest.update(chunk)
        size += len(chunk)
        if on_chunk is not None:
            on_chunk(len(chunk))
    handle.flush()
    return BlobInfo(path, size, digest.hexdigest())


@contextlib.contextmanager
def spooled_blob(client: "OrgClient", object_name: str, record_id: str, field: str | None = None, *,
                 folder: Path | None = None, on_chunk: ChunkCallback | None = None) -> Iterator[BlobInfo]:
    """Download a file into a temporary file under ``folder`` (default: the data folder's ``spool``, private
    to the user) and yield it; the file is removed when the block ends, whatever happens in it."""
    where = folder if folder is not None else paths.spool_dir()
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(prefix="download-", suffix=".part", dir=where)   # 0600: the user's only
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            info = download_blob(client, object_name, record_id, field, handle, on_chunk=on_chunk)
        yield BlobInfo(path, info.size, info.md5)
    finally:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


# ====================================================================== upload
def upload_blob(client: "OrgClient", object_name: str, fields: dict[str, Any], source: Path | str, *,
                on_chunk: ChunkCallback | None = None, small: int = SMALL_UPLOAD_BYTES) -> str:
    """Insert one ``object_name`` record (ContentVersion, Attachment) whose file is ``source``; returns its id.

    ``fields`` are the record's other fields (for a ContentVersion: PathOnClient, Title, and
    FirstPublishLocationId or ContentDocumentId...). Files up to ``small`` bytes go as JSON, larger ones as
    multipart. Raises OSError when ``source`` cannot be read, :class:`~.client.OrgApiError` when the org
    refuses the record, :class:`~.client.ConnectionLost` when the answer was lost after the file was sent.
    """
    from .client import ConnectionLost, _Ambiguous

    field = blob_field(object_name)
    path = Path(source)
    size = path.stat().st_size
    record = {key: value for key, value in fields.items() if key != field}
    what = f"POST sobjects/{object_name} ({size} bytes, {'JSON' if size <= small else 'multipart'})"
    if size <= small:
        send = _json_sender(client, object_name, field, record, path, on_chunk)
    else:
        send = _multipart_sender(client, object_name, field, record, path, on_chunk)
    try:
        answer = client._call(what, send, idempotent=False)
    except _Ambiguous as exc:
        raise ConnectionLost(f"{client._label()}: the connection dropped after {path.name} was sent to "
                             f"{object_name} ({exc.detail}); the org may have created it",
                             records=[record], results=[None], unknown_indexes=[0], status=exc.status) from exc
    return str(answer["id"])


def _json_sender(client: "OrgClient", object_name: str, field: str, record: dict[str, Any], path: Path,
                 on_chunk: ChunkCallback | None) -> Callable[[], Any]:
    url = f"{client.sf.base_url}sobjects/{object_name}/"

    def send() -> Any:
        data = path.read_bytes()
        body = json.dumps({**record, field: base64.b64encode(data).decode("ascii")})
        response = client.sf._call_salesforce("POST", url, name=object_name, data=body, **client._kwargs())
        if on_chunk is not None:
            on_chunk(len(data))
        return response.json()
    return send


def _multipart_sender(client: "OrgClient", object_name: str, field: str, record: dict[str, Any], path: Path,
                      on_chunk: ChunkCallback | None) -> Callable[[], Any]:
    url = f"{client.sf.base_url}sobjects/{object_name}/"
    part = _ENTITY_PARTS.get(object_name, f"entity_{object_name.lower()}")
    file_name = str(record.get("PathOnClient") or record.get("Name") or path.name).replace('"', "")
    size = path.stat().st_size

    def send() -> Any:
        with open(path, "rb") as handle:
            encoder = MultipartEncoder(fields=[
                (part, (None, json.dumps(record), "application/json")),
                (field, (file_name, handle, "application/octet-stream")),
            ])
            sent = 0
            overhead = encoder.len - size   # the parts' headers and boundaries: counted before the file's bytes

            def progress(monitor: MultipartEncoderMonitor) -> None:
                nonlocal sent
                done = min(max(monitor.bytes_read - overhead, 0), size)
                if on_chunk is not None and done > sent:
                    on_chunk(done - sent)
                sent = max(sent, done)
            body = MultipartEncoderMonitor(encoder, progress)
            response = client.sf._call_salesforce("POST", url, name=object_name, data=body,
                                                  headers={"Content-Type": body.content_type}, **client._kwargs())
        return response.json()
    return send
