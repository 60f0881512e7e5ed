"""Files in a sandbox org, as a real org keeps them: Salesforce Files (ContentVersion, ContentDocument,
ContentDocumentLink) and Attachments, whose bytes live in base64 fields (``ContentVersion.VersionData``,
``Attachment.Body``).

The bytes never go into the org's rows or its SQLite file: each is a file in the org's file folder
(``<alias>-files/`` next to ``<alias>.sqlite3``), named by record id and field, written while the request
body streams in (:meth:`FileFolder.spool`) and read back in chunks (:meth:`FileFolder.chunks`). A row keeps
only where its bytes are (the hidden ``_blob`` key) and, in the base64 field itself, the URL a real org
returns for it: ``/services/data/vXX.X/sobjects/ContentVersion/{Id}/VersionData``. The demo orgs' seeded
files are :class:`Generated`: made on demand from a few numbers, so seeding writes nothing to disk.

The store calls :func:`before_insert` and :func:`after_insert` for every insert of these objects (REST,
Collections, Bulk, seeding), which do what a real org does:

* a ContentVersion needs ``VersionData`` and ``PathOnClient``; its Title defaults to the file name; the org
  sets ``Checksum`` (MD5 hex of the bytes), ``ContentSize``, ``FileExtension``, ``FileType``,
  ``VersionNumber`` and ``IsLatest``;
* without ``ContentDocumentId`` it creates the ContentDocument (version "1") and links it to its owner
  (ShareType I) and to ``FirstPublishLocationId`` when given (ShareType V, Visibility AllUsers); with
  ``ContentDocumentId`` it is the document's next version (the previous one is no longer IsLatest);
* a second link between the same document and record is ``DUPLICATE_VALUE``;
* an Attachment sets ``BodyLength``; over 25 MB it is ``MAXIMUM_SIZE_OF_ATTACHMENT``;
* every file is charged to the org's file storage (``FileStorageMB`` in ``/limits``): a file that does not
  fit is ``STORAGE_LIMIT_EXCEEDED``.

Deleting a ContentDocument deletes its versions and links, deleting a record deletes its attachments and
its links (the master-detail cascade of the store).
"""

from __future__ import annotations

import hashlib
import logging
import os
import random
import struct
import uuid
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from .errors import RecordError

logger = logging.getLogger(__name__)

OrgStore = Any
"""The org store (:class:`~.store.OrgStore`, which calls these hooks; not imported: it imports this module)."""

CHUNK = 1 << 16
MB = 1024 * 1024
#: What one JSON (non-multipart) request may carry: 50 MB of text, 37.5 MB of it base64.
MAX_JSON_BODY = 50 * MB
MAX_BASE64_CHARS = int(37.5 * MB)
#: The largest file one multipart request may carry: 2 GB for a ContentVersion, 500 MB for other objects.
MAX_CONTENT_VERSION = 2 * 1024 * MB
MAX_MULTIPART_OTHER = 500 * MB
#: The largest Attachment body.
MAX_ATTACHMENT = 25 * MB
#: An org's file storage when no fault setting says otherwise.
DEFAULT_FILE_STORAGE_MB = 1024

FILE_OBJECTS = ("ContentVersion", "ContentDocumentLink", "Attachment")
#: object -> its base64 field.
BLOB_FIELDS = {"ContentVersion": "VersionData", "Attachment": "Body"}

_FILE_TYPES = {
    "pdf": "PDF", "png": "PNG", "jpg": "JPG", "jpeg": "JPEG", "gif": "GIF", "txt": "TEXT", "csv": "CSV",
    "doc": "WORD", "docx": "WORD_X", "xls": "EXCEL", "xlsx": "EXCEL_X", "ppt": "POWER_POINT",
    "pptx": "POWER_POINT_X", "zip": "ZIP", "html": "HTML", "xml": "XML", "json": "JSON", "mp4": "MP4",
}


# ====================================================================== bytes on disk
@dataclass
class Blob:
    """Bytes received for a base64 field, spooled to a temporary file in the org's file folder."""

    path: Path
    size: int
    md5: str
    kept: bool = False   # the org kept it (it is a record's file now)

    def discard(self) -> None:
        """Remove the spooled file unless the org kept it (a request that failed, or a part it ignored)."""
        if self.kept:
            return
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass


@dataclass(frozen=True)
class Generated:
    """Bytes made on demand: a seeded demo file. ``kind`` is ``pdf``, ``png`` or ``large`` (a PDF of
    ``size`` bytes); ``number`` varies the content; ``title`` is written into PDFs."""

    kind: str
    number: int
    title: str = ""
    size: int = 0

    def chunks(self) -> Iterator[bytes]:
        if self.kind == "large":
            yield from _large_pdf(self.number, self.size)
        elif self.kind == "png":
            yield _png(self.number)
        else:
            yield _pdf(self.title or f"Document {self.number}", self.number)

    def facts(self) -> tuple[int, str]:
        """(size, MD5 hex) of the bytes (computed once per process)."""
        return _facts(self)

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "number": self.number, "title": self.title, "size": self.size}


@lru_cache(maxsize=256)
def _facts(generated: Generated) -> tuple[int, str]:
    digest = hashlib.md5(usedforsecurity=False)
    size = 0
    for chunk in generated.chunks():
        digest.update(chunk)
        size += len(chunk)
    return size, digest.hexdigest()


class SpoolFile:
    """A file being written that keeps the count and MD5 of what went in (werkzeug's multipart parser writes
    a file part into the object its stream factory returns)."""

    def __init__(self, handle: IO[bytes], path: Path, limit: int | None):
        self.handle = handle
        self.path = path
        self.limit = limit
        self.size = 0
        self.digest = hashlib.md5(usedforsecurity=False)

    def write(self, data: bytes) -> int:
        self.size += len(data)
        if self.limit is not None and self.size > self.limit:
            raise FileTooLarge(self.size)
        self.digest.update(data)
        return self.handle.write(data)

    def seek(self, *args: Any) -> int:
        return self.handle.seek(*args)

    def tell(self) -> int:
        return self.handle.tell()

    def read(self, *args: Any) -> bytes:
        return self.handle.read(*args)

    def flush(self) -> None:
        self.handle.flush()

    def close(self) -> None:
        self.handle.close()

    def blob(self) -> Blob:
        self.handle.close()
        return Blob(self.path, self.size, self.digest.hexdigest())


class FileTooLarge(Exception):
    """A file part grew past the limit while it streamed in."""


class FileFolder:
    """The folder holding one org's file bytes: spooled uploads (``tmp-*``) and kept files (``{Id}.{Field}``)."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def _ensure(self) -> None:
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)

    def open_spool(self, limit: int | None = None) -> SpoolFile:
        """A new temporary file to write an upload into, counting and hashing what is written."""
        self._ensure()
        path = self.root / f"tmp-{uuid.uuid4().hex}"
        return SpoolFile(open(path, "wb"), path, limit)

    def spool(self, read: Callable[[int], bytes], limit: int | None = None) -> Blob:
        """Write what ``read`` returns (until it returns nothing) to a temporary file, in chunks."""
        target = self.open_spool(limit)
        try:
            while True:
                chunk = read(CHUNK)
                if not chunk:
                    break
                target.write(chunk)
        except BaseException:
            target.close()
            target.path.unlink(missing_ok=True)
            raise
        return target.blob()

    def spool_bytes(self, data: bytes) -> Blob:
        """``data`` (a decoded JSON base64 value) as a temporary file."""
        view = memoryview(data)
        offset = 0

        def read(size: int) -> bytes:
            nonlocal offset
            part = view[offset:offset + size].tobytes()
            offset += len(part)
            return part
        return self.spool(read)

    def adopt(self, blob: Blob, name: str) -> Path:
        """Make spooled ``blob`` the kept file ``name``."""
        final = self.root / name
        os.replace(blob.path, final)
        blob.path = final
        blob.kept = True
        return final

    def remove(self, name: str) -> None:
        try:
            (self.root / name).unlink()
        except FileNotFoundError:
            pass

    def chunks(self, where: dict[str, Any]) -> Iterator[bytes]:
        """The bytes a row's ``_blob`` points at, in chunks."""
        if "gen" in where:
            yield from Generated(**where["gen"]).chunks()
            return
        with open(self.root / where["file"], "rb") as handle:
            while True:
                chunk = handle.read(CHUNK)
                if not chunk:
                    return
                yield chunk


# ====================================================================== generated demo files
def _pdf(title: str, number: int) -> bytes:
    """A small valid one-page PDF showing ``title`` (offsets in its xref table are exact)."""
    text = title.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    lines = [f"BT /F1 20 Tf 72 720 Td ({text}) Tj ET",
             f"BT /F1 11 Tf 72 690 Td (Acme Corp demo document no. {number}) Tj ET"]
    stream = "\n".join(lines).encode("latin-1", "replace")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    return _pdf_file(objects)


def _pdf_file(objects: list[bytes]) -> bytes:
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for index, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{index} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def _png(number: int, width: int = 96, height: int = 64) -> bytes:
    """A small valid RGB PNG: a gradient whose colours depend on ``number``."""
    rng = random.Random(number)
    base = [rng.randrange(256) for _ in range(3)]
    rows = bytearray()
    for y in range(height):
        rows.append(0)   # filter: none
        for x in range(width):
            rows += bytes(((base[0] + x * 2) % 256, (base[1] + y * 3) % 256, (base[2] + x + y) % 256))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(bytes(rows), 6)) \
        + chunk(b"IEND", b"")


def _large_pdf(number: int, size: int) -> Iterator[bytes]:
    """A valid PDF of exactly ``size`` bytes (at least a few hundred): a one-page document carrying an
    unreferenced binary stream of pseudo-random bytes, produced in chunks (never whole in memory)."""
    head = _pdf(f"Site survey scans {number}", number)
    # The small PDF's objects, then a 6th object with the filler stream, then a new xref and trailer.
    body_end = head.index(b"xref\n")
    prefix = head[:body_end]
    offsets = [int(line[:10]) for line in head[body_end:].split(b"\n")[3:8]]
    open_stream = b"6 0 obj\n<< /Length %d >>\nstream\n"
    close_stream = b"\nendstream\nendobj\n"

    def tail(xref_at: int) -> bytes:
        entries = "".join(f"{offset:010d} 00000 n \n" for offset in [*offsets, len(prefix)])
        return (f"xref\n0 7\n0000000000 65535 f \n{entries}"
                f"trailer\n<< /Size 7 /Root 1 0 R >>\nstartxref\n{xref_at}\n%%EOF\n").encode()
    # Solve for the filler length: the digits of /Length and startxref depend on it.
    filler = max(0, size - len(prefix) - len(open_stream % 0) - len(close_stream) - len(tail(0)))
    for _ in range(4):
        total = len(prefix) + len(open_stream % filler) + filler + len(close_stream)
        fixed = total + len(tail(total))
        filler = max(0, filler + size - fixed)
    yield prefix
    yield open_stream % filler
    block = random.Random(number).randbytes(CHUNK)
    written = 0
    counter = 0
    while written < filler:
        part = struct.pack(">Q", counter) + block[8:]
        part = part[:filler - written]
        yield part
        written += len(part)
        counter += 1
    yield close_stream
    yield tail(len(prefix) + len(open_stream % filler) + filler + len(close_stream))


# ====================================================================== what inserting a file does
def blob_url(version: str, object_name: str, record_id: str, field_name: str) -> str:
    return f"/services/data/v{version}/sobjects/{object_name}/{record_id}/{field_name}"


#: What a row keeps in its base64 field: the blob URL with the API version left to the answer.
VERSION_MARK = "{version}"


def file_type(extension: str) -> str:
    return _FILE_TYPES.get(extension.lower(), "UNKNOWN")


def _extension(path_on_client: str) -> str:
    name = path_on_client.replace("\\", "/").rsplit("/", 1)[-1]
    return name.rsplit(".", 1)[1].lower() if "." in name else ""


def _as_blob(store: OrgStore, value: Any) -> tuple[Blob | Generated, int, str]:
    """The bytes of a base64 field value: a spooled :class:`Blob`, bytes (JSON base64, decoded) or a
    :class:`Generated` seed file; with their size and MD5."""
    if isinstance(value, Generated):
        size, md5 = value.facts()
        return value, size, md5
    if isinstance(value, (bytes, bytearray)):
        blob = store.files.spool_bytes(bytes(value))
        store.on_rollback(blob.discard)
        return blob, blob.size, blob.md5
    assert isinstance(value, Blob), value
    return value, value.size, value.md5


def _keep(store: OrgStore, row: dict[str, Any], object_name: str, field_name: str, data: Blob | Generated) -> None:
    """Record where the row's bytes are; a spooled file becomes the row's file (removed again if the request
    rolls back)."""
    if isinstance(data, Generated):
        row["_blob"] = {"gen": data.as_json()}
    else:
        name = f"{row['Id']}.{field_name}"
        store.files.adopt(data, name)
        store.on_rollback(lambda: store.files.remove(name))
        row["_blob"] = {"file": name}
    row[field_name] = blob_url(VERSION_MARK, object_name, row["Id"], field_name)


def _charge(store: OrgStore, size: int) -> None:
    limit = store.file_storage_mb * MB
    if store.file_storage_used() + size > limit:
        raise RecordError("STORAGE_LIMIT_EXCEEDED", "storage limit exceeded", [])


def before_insert(store: OrgStore, object_name: str, row: dict[str, Any]) -> None:
    """Check and complete a new ContentVersion, ContentDocumentLink or Attachment (``row`` has its Id)."""
    if object_name == "ContentVersion":
        _before_version(store, row)
    elif object_name == "Attachment":
        _before_attachment(store, row)
    elif object_name == "ContentDocumentLink":
        _before_link(store, row)


def _before_version(store: OrgStore, row: dict[str, Any]) -> None:
    value = row.get("VersionData")
    if value is None:
        raise RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [VersionData]", ["VersionData"])
    path = row.get("PathOnClient")
    if not path:
        raise RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [PathOnClient]", ["PathOnClient"])
    data, size, md5 = _as_blob(store, value)
    limit = min(MAX_CONTENT_VERSION, store.max_file_mb * MB) if store.max_file_mb else MAX_CONTENT_VERSION
    if size > limit:
        raise RecordError("MAXIMUM_SIZE_OF_DOCUMENT", f"document data exceeded maximum size: {size} bytes "
                          f"(the largest file this org takes is {limit // MB} MB)", ["VersionData"])
    _charge(store, size)
    document_id = row.get("ContentDocumentId")
    extension = _extension(str(path))
    if document_id:
        if row.get("FirstPublishLocationId"):
            raise RecordError("FIELD_INTEGRITY_EXCEPTION", "FirstPublishLocationId: You can't set "
                              "FirstPublishLocationId on a new version of an existing document.",
                              ["FirstPublishLocationId"])
        document = store.get("ContentDocument", document_id)
        if document is None or document.get("IsDeleted"):
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", ["ContentDocumentId"])
        versions = [v for v in store.live_rows("ContentVersion") if v.get("ContentDocumentId") == document["Id"]]
        number = 1 + max((int(v.get("VersionNumber") or 0) for v in versions), default=0)
    else:
        number = 1
    title = row.get("Title") or str(path).replace("\\", "/").rsplit("/", 1)[-1].rsplit(".", 1)[0]
    row.update({"Title": title, "VersionNumber": str(number), "IsLatest": True, "ContentSize": size,
                "Checksum": md5, "FileExtension": extension or None, "FileType": file_type(extension),
                "ContentLocation": row.get("ContentLocation") or "S"})
    _keep(store, row, "ContentVersion", "VersionData", data)


def after_insert(store: OrgStore, object_name: str, row: dict[str, Any]) -> None:
    """What saving a ContentVersion makes: its ContentDocument (or the document's new latest version) and
    the document's first links."""
    if object_name != "ContentVersion":
        return
    document_id = row.get("ContentDocumentId")
    facts = {"Title": row["Title"], "FileType": row["FileType"], "FileExtension": row["FileExtension"],
             "ContentSize": row["ContentSize"], "LatestPublishedVersionId": row["Id"]}
    if document_id:
        for other in store.live_rows("ContentVersion"):
            if other.get("ContentDocumentId") == document_id and other["Id"] != row["Id"] and other.get("IsLatest"):
                store.put_row("ContentVersion", {**other, "IsLatest": False})
        document = store.get("ContentDocument", document_id)
        store.put_row("ContentDocument", {**document, **facts, "LastModifiedDate": row["LastModifiedDate"],
                                          "SystemModstamp": row["SystemModstamp"]})
        return
    document = {**{k: row[k] for k in ("OwnerId", "CreatedDate", "CreatedById", "LastModifiedDate",
                                       "LastModifiedById", "SystemModstamp")},
                **facts, "Id": store.new_id("ContentDocument"), "IsDeleted": False,
                "PublishStatus": "P" if row.get("FirstPublishLocationId") else "R", "Description": None}
    store.put_row("ContentDocument", document)
    store.put_row("ContentVersion", {**row, "ContentDocumentId": document["Id"]})
    stamp = {k: row[k] for k in ("CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                                 "SystemModstamp")}
    owner_link = {"Id": store.new_id("ContentDocumentLink"), "IsDeleted": False, "ContentDocumentId": document["Id"],
                  "LinkedEntityId": row["OwnerId"], "ShareType": "I", "Visibility": "AllUsers", **stamp}
    store.put_row("ContentDocumentLink", owner_link)
    where = row.get("FirstPublishLocationId")
    if where and where != row["OwnerId"]:
        store.put_row("ContentDocumentLink", {**owner_link, "Id": store.new_id("ContentDocumentLink"),
                                              "LinkedEntityId": where, "ShareType": "V"})


def _before_link(store: OrgStore, row: dict[str, Any]) -> None:
    document, entity = row.get("ContentDocumentId"), row.get("LinkedEntityId")
    for other in store.live_rows("ContentDocumentLink"):
        if other.get("ContentDocumentId") == document and other.get("LinkedEntityId") == entity:
            raise RecordError("DUPLICATE_VALUE", f"Document with ID: {document} is already linked with the entity "
                              f"with ID: {entity}", ["LinkedEntityId"])


def _before_attachment(store: OrgStore, row: dict[str, Any]) -> None:
    value = row.get("Body")
    if value is None:
        raise RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [Body]", ["Body"])
    data, size, _md5 = _as_blob(store, value)
    limit = min(MAX_ATTACHMENT, store.max_file_mb * MB) if store.max_file_mb else MAX_ATTACHMENT
    if size > limit:
        raise RecordError("MAXIMUM_SIZE_OF_ATTACHMENT", "attachment data exceeded maximum size", ["BodyLength"])
    _charge(store, size)
    row["BodyLength"] = size
    _keep(store, row, "Attachment", "Body", data)


def storage_used(store: OrgStore) -> int:
    """Bytes of file storage the org's live files take: every ContentVersion and Attachment."""
    return sum(int(row.get("ContentSize") or 0) for row in store.live_rows("ContentVersion")) \
        + sum(int(row.get("BodyLength") or 0) for row in store.live_rows("Attachment"))
