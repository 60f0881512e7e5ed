"""Moving file bytes to and from an org, streamed: Salesforce Files (``ContentVersion.VersionData``) and
legacy Attachments (``Attachment.Body``).

A file is never held whole in memory:

* :func:`fetch_blob` reads ``GET /sobjects/{object}/{id}/{field}`` in chunks (``requests`` with
  ``stream=True``) into a file or a path, counting the bytes and computing their MD5 as they pass (a real org's
  ``ContentVersion.Checksum`` is that MD5, so a caller can tell a complete download from a damaged one);
  :func:`spool_file` is a temporary file under the data folder (``paths.spool_dir()``, private to the user)
  that is removed when the caller is done with it;
* :func:`upload_request` sends an insert with its file: a small file (up to :data:`SMALL_UPLOAD_BYTES`) as a
  JSON body with the bytes base64-encoded, anything larger as the ``multipart/form-data`` request real orgs
  accept for files up to 2 GB (the JSON part ``entity_content`` or ``entity_attachment``, then the binary
  part named after the field), streamed from the file by requests-toolbelt's ``MultipartEncoder``.

These are the single requests; :class:`~.client.OrgClient` (``download_blob``, ``spooled_blob``,
``upload_content_version``, ``create_attachment``, ``upload_blob``) sends them through its one path for
requests, so they are counted, retried, renewed and their errors translated like every other call.
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
from typing import IO, Any

import requests
from requests_toolbelt.multipart.encoder import (  # type: ignore[import-untyped]  # the package ships no types
    MultipartEncoder,
    MultipartEncoderMonitor,
)
from simple_salesforce import Salesforce

from .. import paths

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
def fetch_blob(sf: Salesforce, object_name: str, record_id: str, field: str, dest: Path | str | IO[bytes],
               start: int | None, on_chunk: ChunkCallback | None, **kwargs: Any) -> BlobInfo:
    """One ``GET /sobjects/{object_name}/{record_id}/{field}``, streamed into ``dest``: a path (created or
    replaced) or a binary file object, written from ``start`` (what was written after it before, by an attempt
    that broke off, is dropped). A body that breaks off raises ``requests.exceptions.ConnectionError``."""
    url = f"{sf.base_url}sobjects/{object_name}/{record_id}/{field}"
    response = sf._call_salesforce("GET", url, name=f"{object_name}.{field}", stream=True, **kwargs)
    try:
        with contextlib.closing(response):
            if isinstance(dest, (str, Path)):
                with open(dest, "wb") as handle:
                    return _copy(response, handle, Path(dest), on_chunk)
            if start is not None:
                dest.seek(start)
                dest.truncate()
            return _copy(response, dest, None, on_chunk)
    except requests.exceptions.ChunkedEncodingError as exc:   # the body broke off: like a dropped connection
        raise requests.exceptions.ConnectionError(f"the download broke off: {exc}") from exc


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
def spool_file(folder: Path | None = None) -> Iterator[tuple[Path, IO[bytes]]]:
    """A new temporary file (mode 0600) under ``folder`` (default: the data folder's ``spool``, 0700), open for
    writing; removed when the block ends, whatever happens in it."""
    where = folder if folder is not None else paths.spool_dir()
    where.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd, name = tempfile.mkstemp(prefix="download-", suffix=".part", dir=where)
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield path, handle
    finally:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


# ====================================================================== upload
def upload_request(sf: Salesforce, object_name: str, field: str, record: dict[str, Any], path: Path, *,
                   small: int, on_chunk: ChunkCallback | None, **kwargs: Any) -> Callable[[], Any]:
    """The request inserting ``record`` with the file ``path`` in its ``field``, as a function sending it
    (again, on a retry) and returning the org's answer (``{"id": ..., "success": true}``): JSON when the file
    has at most ``small`` bytes, multipart otherwise."""
    size = path.stat().st_size
    url = f"{sf.base_url}sobjects/{object_name}/"
    if size <= small:
        def send_json() -> Any:
            data = path.read_bytes()
            body = json.dumps({**record, field: base64.b64encode(data).decode("ascii")})
            response = sf._call_salesforce("POST", url, name=object_name, data=body, **kwargs)
            if on_chunk is not None:
                on_chunk(len(data))
            return response.json()
        return send_json
    part = _ENTITY_PARTS.get(object_name, f"entity_{object_name.lower()}")
    file_name = str(record.get("PathOnClient") or record.get("Name") or path.name).replace('"', "")

    def send_multipart() -> Any:
        with open(path, "rb") as handle:
            encoder = MultipartEncoder(fields=[
                (part, (None, json.dumps(record), "application/json")),
                (field, (file_name, handle, "application/octet-stream")),
            ])
            sent = 0
            overhead = encoder.len - size   # the parts' headers and boundaries: counted before the file's bytes

            def progress(monitor: Any) -> None:
                nonlocal sent
                done = min(max(monitor.bytes_read - overhead, 0), size)
                if on_chunk is not None and done > sent:
                    on_chunk(done - sent)
                sent = max(sent, done)
            body = MultipartEncoderMonitor(encoder, progress)
            response = sf._call_salesforce("POST", url, name=object_name, data=body,
                                           headers={"Content-Type": body.content_type}, **kwargs)
        return response.json()
    return send_multipart
