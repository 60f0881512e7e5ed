"""The files stage: a line "with their files" (:class:`~..template.FilesOption`) copies the Salesforce Files,
Attachments and Notes of its synced records after both passes, linked to the matching target records.

For the line's records that reached the target (source id -> target id from the job's journal), the stage
reads their ContentDocumentLinks (``LinkedEntityId IN``: the filter the org requires), the documents'
ContentVersions (the latest, or every one in order), their Attachments and Notes (``ParentId``). Each file is
downloaded to a spool file (``OrgClient.spooled_blob``: never whole in memory, its MD5 checked against the
source's Checksum) and uploaded to the target (``OrgClient.upload_blob``: multipart from disk above 2 MB):

* a document's first version with ``FirstPublishLocationId`` = the target record of its first link; its
  further links as ContentDocumentLinks with the same ShareType and Visibility; each later version with the
  new ``ContentDocumentId``;
* an Attachment with its Body, a Note with Title, Body and IsPrivate.

Journaled like records, in the same ``records`` table under the objects ContentVersion, ContentDocument,
ContentDocumentLink, Attachment and Note: each upload is written ahead as ``sending`` with the key it is
found by on the target (checksum, title and the record or document it went to), and its outcome after, before
the next file goes out. A run that died in between finds the upload again (:func:`reconcile_files`, called at
the start of the next stage and by ``recovery.reconcile_in_flight`` before a rollback) or marks it skipped
(sent again), so no file is sent twice and rollback knows every file the job made. The ContentDocument row is what rollback deletes (with
it go its versions and the links the org made); links the job added are deleted first.

A file already on the target (same Checksum and title, on a document linked to the same target record; an
Attachment with the same name and size on the same record; a Note with the same title) is not sent again:
counted as existing. Errors (a file over the org's limit, a refused type, an unreadable download) are record
errors of the files object, so the error viewer, the CSV and Retry Failed treat them as records; a full file
storage (``STORAGE_LIMIT_EXCEEDED``) stops the stage: the files not sent yet fail with the same sentence, so
Retry Failed sends exactly those once the storage is raised.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ...salesforce.client import ConnectionLost, OrgApiError
from ..events import FilesProgress, Notice, ObjectFinished, ObjectStarted
from ..journal import ErrorInfo, ObjectCounts, Outcome
from ..lifecycle import MAPPED_STATUSES, ObjectStatus, RecordStatus
from ..orgapi import OrgApi
from ..template import FilesOption
from .context import RunContext, chunks, quote

logger = logging.getLogger(__name__)

VERSION, DOCUMENT, LINK, ATTACHMENT, NOTE = "ContentVersion", "ContentDocument", "ContentDocumentLink", \
    "Attachment", "Note"
FILE_OBJECTS = (VERSION, DOCUMENT, LINK, ATTACHMENT, NOTE)
"""The journal's objects for files: never objects of a plan."""
ROLLBACK_ORDER = (LINK, DOCUMENT, ATTACHMENT, NOTE)
"""What rollback deletes first, before any record (deleting a record takes its attachments and links along).
ContentVersions are not deleted by themselves: their document is."""
IDS_PER_QUERY = 100
FIRST_LINK_SHARING = {"ShareType": "V", "Visibility": "AllUsers"}
"""The sharing of the link a real org makes from a ContentVersion's ``FirstPublishLocationId``."""
"""Ids in one ``IN (...)`` filter."""
MB = 1024 * 1024
STORAGE_FULL = "STORAGE_LIMIT_EXCEEDED"
UNREADABLE = "FILE_UNREADABLE"

_VERSION_FIELDS = ("Id, ContentDocumentId, Title, PathOnClient, Description, ReasonForChange, Checksum, "
                   "ContentSize, FileExtension, VersionNumber, IsLatest")


@dataclass
class _Version:
    row: dict[str, Any]
    first: bool                 # the document's first version sent: creates the document on the target


@dataclass
class _Document:
    source_id: str
    links: list[dict[str, Any]]                       # the source links to records of the run, first one first
    versions: list[_Version] = field(default_factory=list)


@dataclass
class _Plan:
    documents: list[_Document] = field(default_factory=list)
    attachments: list[dict[str, Any]] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)


class StorageFull(Exception):
    """The target's file storage is full: the stage stops (the rest of the run is kept)."""


class FilesStage:
    """The files of one sync/resync/retry run's lines "with their files" (``run``: the :class:`~.sync_run.SyncRun`)."""

    def __init__(self, run: Any):
        self.run = run
        self.ctx: RunContext = run.ctx
        self.journal = run.journal
        self.source: OrgApi = run.source
        self.target: OrgApi = run.target
        self.job_id: int = run.job_id
        self.run_id: int = run.run_id
        self.counts: dict[str, ObjectCounts] = run.counts
        self.only: set[str] | None = run.only
        self.bytes_planned = 0
        self.bytes_done = 0
        self.files_planned = 0
        self.files_done = 0
        self.started = time.monotonic()
        self.run_bytes = 0            # bytes planned so far against the lines' max_run_mb
        self.storage_full: str | None = None
        self.rows: list[str] = []     # the files rows of the run's counts, in the order they go
        self._done: dict[str, dict[str, str | None]] = {}   # object -> source id -> target id (journal, succeeded)

    # ------------------------------------------------------------------ the stage
    def lines(self) -> list[tuple[str, FilesOption]]:
        return [(line.object, line.files) for line in self.run.template.objects
                if line.files is not None and line.object in self.run.plan.objects]

    def execute(self) -> None:
        lines = self.lines()
        if not lines:
            return
        reconcile_files(self.ctx, self.job_id, self.run_id)     # what a run that died was sending
        for name in (VERSION, LINK, ATTACHMENT, NOTE):
            self._done[name] = {r.source_id: r.target_id for r in self.journal.records(
                self.job_id, name, statuses=[RecordStatus.INSERTED, RecordStatus.EXISTING]) if r.source_id}
        plans: list[tuple[str, FilesOption, dict[str, str], _Plan]] = []
        for name, option in lines:
            targets = self._targets(name)
            plan = self._read(name, option, targets)
            plans.append((name, option, targets, plan))
        self.rows = [name for name in (VERSION, ATTACHMENT, NOTE) if sum(
            len([v for d in p.documents for v in d.versions]) if name == VERSION else
            len(p.attachments) if name == ATTACHMENT else len(p.notes) for _, _, _, p in plans)]
        for name in self.rows:
            total = sum(len([v for d in p.documents for v in d.versions]) if name == VERSION else
                        len(p.attachments) if name == ATTACHMENT else len(p.notes) for _, _, _, p in plans)
            self.counts[name] = ObjectCounts(total=total, status=ObjectStatus.PENDING)
            self.journal.set_object_counts(self.run_id, name, self.counts[name])
            self.ctx.batch_done(name, self.counts[name], self.counts)     # the row shows, Pending
        for name, option, targets, plan in plans:
            self._send(name, option, targets, plan)
        for name in (VERSION, ATTACHMENT, NOTE):
            oc = self.counts.get(name)
            if oc is not None:
                oc.status = ObjectStatus.COMPLETED
                self.journal.set_object_counts(self.run_id, name, oc)
                self.ctx.emit(ObjectFinished, object=name, counts=oc)
        if self.storage_full:
            self.ctx.emit(Notice, text=self.storage_full)

    def _targets(self, name: str) -> dict[str, str]:
        """Source id -> target id of the line's records the job synced (this run or an earlier one)."""
        return {r.source_id: r.target_id for r in self.journal.records(self.job_id, name, statuses=MAPPED_STATUSES)
                if r.source_id and r.target_id}

    # ------------------------------------------------------------------ what to send
    def _read(self, name: str, option: FilesOption, targets: dict[str, str]) -> _Plan:
        plan = _Plan()
        ids = sorted(targets)
        left_out: dict[str, int] = defaultdict(int)
        for chunk in chunks(ids, IDS_PER_QUERY):
            self.ctx.check_cancel()
            links = self.source.query(
                "SELECT Id, ContentDocumentId, LinkedEntityId, ShareType, Visibility FROM ContentDocumentLink "
                f"WHERE LinkedEntityId IN ({', '.join(quote(i) for i in chunk)})")
            by_document: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for link in links:
                by_document[link["ContentDocumentId"]].append(link)
            documents = sorted(by_document)
            versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
            for doc_chunk in chunks(documents, IDS_PER_QUERY):
                where = f"ContentDocumentId IN ({', '.join(quote(d) for d in doc_chunk)})"
                if option.versions == "latest":
                    where += " AND IsLatest = true"
                for row in self.source.query(f"SELECT {_VERSION_FIELDS} FROM ContentVersion WHERE {where}"):
                    versions[row["ContentDocumentId"]].append(row)
            for document_id in documents:
                rows = sorted(versions.get(document_id, []), key=lambda r: int(r.get("VersionNumber") or 0))
                document = _Document(document_id, sorted(by_document[document_id], key=lambda r: r["Id"]))
                for index, row in enumerate(rows):
                    why = self._left_out(option, row.get("FileExtension"), int(row.get("ContentSize") or 0))
                    if why:
                        left_out[why] += 1
                        if index == 0:
                            break      # a document whose first version is left out is left out whole
                        continue
                    if self.only is not None and row["Id"] not in self.only:
                        continue
                    document.versions.append(_Version(row, first=index == 0))
                if document.versions:
                    plan.documents.append(document)
            if option.attachments:
                for row in self.source.query(
                        "SELECT Id, ParentId, Name, ContentType, IsPrivate, Description, BodyLength FROM Attachment "
                        f"WHERE ParentId IN ({', '.join(quote(i) for i in chunk)})"):
                    extension = str(row.get("Name") or "").rsplit(".", 1)[-1] if "." in str(row.get("Name")) else ""
                    why = self._left_out(option, extension, int(row.get("BodyLength") or 0))
                    if why:
                        left_out[why] += 1
                    elif self.only is None or row["Id"] in self.only:
                        plan.attachments.append(row)
            if option.notes:
                plan.notes.extend(row for row in self.source.query(
                    "SELECT Id, ParentId, Title, Body, IsPrivate FROM Note "
                    f"WHERE ParentId IN ({', '.join(quote(i) for i in chunk)})")
                    if self.only is None or row["Id"] in self.only)
        for why, number in sorted(left_out.items()):
            self.run.notice(f"{number} file(s) of {name} left out: {why}")
        self.files_planned += sum(len(d.versions) for d in plan.documents) + len(plan.attachments)
        self.bytes_planned += sum(int(v.row.get("ContentSize") or 0) for d in plan.documents for v in d.versions) \
            + sum(int(a.get("BodyLength") or 0) for a in plan.attachments)
        return plan

    def _left_out(self, option: FilesOption, extension: str | None, size: int) -> str | None:
        """Why the template leaves a file out, or None."""
        kind = (extension or "").lower()
        if kind and kind in option.leave_out_types:
            return f"the template leaves out .{kind} files"
        if option.max_file_mb is not None and size > option.max_file_mb * MB:
            return f"larger than the template's {option.max_file_mb:g} MB per file"
        if option.max_run_mb is not None:
            if self.run_bytes + size > option.max_run_mb * MB:
                return f"beyond the template's {option.max_run_mb:g} MB per run"
        self.run_bytes += size
        return None

    # ------------------------------------------------------------------ sending
    def _send(self, name: str, option: FilesOption, targets: dict[str, str], plan: _Plan) -> None:
        on_target = self._on_target([targets[s] for s in sorted({link["LinkedEntityId"]
                                                                  for d in plan.documents for link in d.links})])
        if plan.documents:
            self._started(VERSION)
        for document in plan.documents:
            self._document(document, targets, on_target)
        if plan.attachments:
            self._started(ATTACHMENT)
            existing = self._target_children(ATTACHMENT, "Name, BodyLength",
                                             sorted({targets[a["ParentId"]] for a in plan.attachments}))
            for row in plan.attachments:
                self._attachment(row, targets[row["ParentId"]], existing)
        if plan.notes:
            self._started(NOTE)
            existing = self._target_children(NOTE, "Title", sorted({targets[n["ParentId"]] for n in plan.notes}))
            for row in plan.notes:
                self._note(row, targets[row["ParentId"]], existing)

    def _on_target(self, record_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
        """Target record id -> the versions (Id, ContentDocumentId, Title, Checksum) of documents linked to it."""
        docs_of: dict[str, set[str]] = defaultdict(set)
        for chunk in chunks(record_ids, IDS_PER_QUERY):
            for link in self.target.query("SELECT ContentDocumentId, LinkedEntityId FROM ContentDocumentLink "
                                          f"WHERE LinkedEntityId IN ({', '.join(quote(i) for i in chunk)})"):
                docs_of[link["LinkedEntityId"]].add(link["ContentDocumentId"])
        documents = sorted({d for ds in docs_of.values() for d in ds})
        versions: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for chunk in chunks(documents, IDS_PER_QUERY):
            for row in self.target.query("SELECT Id, ContentDocumentId, Title, Checksum FROM ContentVersion "
                                         f"WHERE ContentDocumentId IN ({', '.join(quote(d) for d in chunk)})"):
                versions[row["ContentDocumentId"]].append(row)
        return {record: [v for d in sorted(ds) for v in versions.get(d, [])] for record, ds in docs_of.items()}

    def _target_children(self, object_name: str, fields: str, parents: list[str]) -> dict[str, list[dict[str, Any]]]:
        out: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for chunk in chunks(parents, IDS_PER_QUERY):
            for row in self.target.query(f"SELECT Id, ParentId, {fields} FROM {object_name} "
                                         f"WHERE ParentId IN ({', '.join(quote(i) for i in chunk)})"):
                out[row["ParentId"]].append(row)
        return out

    def _document(self, document: _Document, targets: dict[str, str], on_target: dict[str, list[dict[str, Any]]]) -> None:
        first_link = document.links[0]
        record = targets[first_link["LinkedEntityId"]]
        target_document: str | None = None
        for version in document.versions:
            row = version.row
            done = self._done[VERSION].get(row["Id"])
            found = done or next((v["Id"] for v in on_target.get(record, [])
                                  if v["Checksum"] == row["Checksum"] and v["Title"] == row["Title"]
                                  and (target_document is None or v["ContentDocumentId"] == target_document)), None)
            if found:
                target_document = target_document or self._document_of(found, on_target)
                if not done:
                    self._journal(VERSION, row["Id"], found, RecordStatus.EXISTING)
                self._count(VERSION, "existing", int(row.get("ContentSize") or 0))
                continue
            if version.first or target_document is None:
                if not version.first:
                    # The first version was left out or failed: the later one cannot join its document.
                    self._count(VERSION, "skipped", 0)
                    continue
                fields = {"FirstPublishLocationId": record}
                key = [row["Checksum"], row["Title"], record, None]
            else:
                fields = {"ContentDocumentId": target_document}
                key = [row["Checksum"], row["Title"], None, target_document]
            fields.update({k: row[k] for k in ("Title", "PathOnClient", "Description", "ReasonForChange")
                           if row.get(k) is not None})
            new_id = self._upload(VERSION, row["Id"], fields, key, int(row.get("ContentSize") or 0), row["Checksum"])
            if new_id is None:
                if version.first:
                    break       # nothing to add later versions or links to
                continue
            if version.first:
                target_document = self._document_of(new_id, on_target)
                self._journal(DOCUMENT, document.source_id, target_document, RecordStatus.INSERTED)
                self._share_as(first_link, record, target_document)
        if target_document is None:
            return
        for link in document.links[1:]:
            self._link(link, targets[link["LinkedEntityId"]], target_document, on_target)

    def _share_as(self, link: dict[str, Any], record: str, document: str) -> None:
        """The link ``FirstPublishLocationId`` made (the org gives it ShareType V, Visibility AllUsers) gets the
        source link's sharing when that differs; a refusal is said, and the file stays linked as the org made it."""
        want = {"ShareType": link.get("ShareType") or "V", "Visibility": link.get("Visibility") or "AllUsers"}
        if want == FIRST_LINK_SHARING:
            return
        for row in self.target.query("SELECT Id, ShareType, Visibility FROM ContentDocumentLink WHERE "
                                     f"ContentDocumentId = {quote(document)} AND LinkedEntityId = {quote(record)}"):
            if {k: row.get(k) for k in want} == want:
                continue
            result = self.target.update([{"attributes": {"type": LINK}, "Id": row["Id"], **want}])[0]
            if not result.get("success"):
                error = (result.get("errors") or [{}])[0]
                self.run.notice(f"a file's link to {record} kept the org's sharing (ShareType V, AllUsers): the "
                                f"target refused {want['ShareType']}/{want['Visibility']} ({error.get('message')})")

    def _document_of(self, version_id: str, on_target: dict[str, list[dict[str, Any]]]) -> str:
        for versions in on_target.values():
            for v in versions:
                if v["Id"] == version_id:
                    return str(v["ContentDocumentId"])
        rows = self.target.query(f"SELECT ContentDocumentId FROM ContentVersion WHERE Id = {quote(version_id)}")
        return str(rows[0]["ContentDocumentId"])

    def _link(self, link: dict[str, Any], record: str, document: str,
              on_target: dict[str, list[dict[str, Any]]]) -> None:
        if link["Id"] in self._done[LINK]:
            return
        if any(v["ContentDocumentId"] == document for v in on_target.get(record, [])):
            return       # the document is linked to that record already (it was on the target)
        self._journal(LINK, link["Id"], None, RecordStatus.SENDING, key=[document, record])
        result = self.target.create([{"attributes": {"type": LINK}, "ContentDocumentId": document,
                                      "LinkedEntityId": record, "ShareType": link.get("ShareType") or "V",
                                      "Visibility": link.get("Visibility") or "AllUsers"}])[0]
        if result.get("success"):
            self._journal(LINK, link["Id"], result["id"], RecordStatus.INSERTED)
        else:
            error = (result.get("errors") or [{}])[0]
            if error.get("statusCode") == "DUPLICATE_VALUE":
                self._journal(LINK, link["Id"], None, RecordStatus.EXISTING)
            else:
                self._fail(LINK, link["Id"], ErrorInfo(error.get("statusCode") or "UNKNOWN_EXCEPTION",
                                                       error.get("message") or "the link was refused",
                                                       list(error.get("fields") or [])), count=False)

    def _attachment(self, row: dict[str, Any], parent: str, existing: dict[str, list[dict[str, Any]]]) -> None:
        size = int(row.get("BodyLength") or 0)
        done = self._done[ATTACHMENT].get(row["Id"])
        found = done or next((a["Id"] for a in existing.get(parent, [])
                              if a["Name"] == row["Name"] and int(a.get("BodyLength") or 0) == size), None)
        if found:
            if not done:
                self._journal(ATTACHMENT, row["Id"], found, RecordStatus.EXISTING)
            self._count(ATTACHMENT, "existing", size)
            return
        fields = {"ParentId": parent, **{k: row[k] for k in ("Name", "ContentType", "IsPrivate", "Description")
                                         if row.get(k) is not None}}
        self._upload(ATTACHMENT, row["Id"], fields, [row["Name"], size, parent], size, None)

    def _note(self, row: dict[str, Any], parent: str, existing: dict[str, list[dict[str, Any]]]) -> None:
        done = self._done[NOTE].get(row["Id"])
        found = done or next((n["Id"] for n in existing.get(parent, []) if n["Title"] == row["Title"]), None)
        if found:
            if not done:
                self._journal(NOTE, row["Id"], found, RecordStatus.EXISTING)
            self._count(NOTE, "existing", 0)
            return
        if self.storage_full:
            self._fail(NOTE, row["Id"], ErrorInfo(STORAGE_FULL, self.storage_full))
            return
        self.ctx.check_cancel()
        self._journal(NOTE, row["Id"], None, RecordStatus.SENDING, key=[row["Title"], parent])
        result = self.target.create([{"attributes": {"type": NOTE}, "ParentId": parent, "Title": row["Title"],
                                      "Body": row.get("Body"), "IsPrivate": bool(row.get("IsPrivate"))}])[0]
        if result.get("success"):
            self._journal(NOTE, row["Id"], result["id"], RecordStatus.INSERTED)
            self._count(NOTE, "inserted", 0)
        else:
            error = (result.get("errors") or [{}])[0]
            self._fail(NOTE, row["Id"], ErrorInfo(error.get("statusCode") or "UNKNOWN_EXCEPTION",
                                                  error.get("message") or "the note was refused",
                                                  list(error.get("fields") or [])))

    def _upload(self, object_name: str, source_id: str, fields: dict[str, Any], key: list[Any], size: int,
                checksum: str | None) -> str | None:
        """Download one file to a spool file and upload it: journaled ahead and after. The new id, or None
        when it failed (journaled as a record error)."""
        if self.storage_full:
            self._fail(object_name, source_id, ErrorInfo(STORAGE_FULL, self.storage_full))
            return None
        self.ctx.check_cancel()
        try:
            with self.source.spooled_blob(object_name, source_id, on_chunk=self._moved) as got:
                if checksum and got.md5 != checksum:
                    raise OSError(f"the download's MD5 {got.md5} is not the source's Checksum {checksum}")
                assert got.path is not None
                self._journal(object_name, source_id, None, RecordStatus.SENDING, key=key)
                try:
                    new_id = self.target.upload_blob(object_name, fields, got.path)
                except OrgApiError as exc:
                    if exc.error_code == STORAGE_FULL:
                        self.storage_full = (f"the target's file storage is full ({exc.error_code}): the files not "
                                             "sent yet fail with this error; raise the storage (or free some) and "
                                             "Retry Failed sends exactly those")
                        self._fail(object_name, source_id, ErrorInfo(STORAGE_FULL, self.storage_full))
                        return None
                    if isinstance(exc, ConnectionLost):
                        raise      # the org may have made it: stays written ahead, found by the next run
                    self._fail(object_name, source_id, ErrorInfo(exc.error_code, exc.message))
                    return None
        except OSError as exc:
            self._fail(object_name, source_id, ErrorInfo(UNREADABLE, f"the file could not be read from the source "
                                                                     f"org: {exc}"))
            return None
        except OrgApiError as exc:     # the download was refused (a deleted file, no access...)
            if exc.error_code in ("CONNECTION_ERROR",):
                raise
            self._fail(object_name, source_id, ErrorInfo(exc.error_code, f"the file could not be downloaded from "
                                                                         f"the source org: {exc.message}"))
            return None
        self._journal(object_name, source_id, new_id, RecordStatus.INSERTED)
        self._count(object_name, "inserted", 0)
        return new_id

    # ------------------------------------------------------------------ journal, counts, progress
    def _started(self, name: str) -> None:
        """The files row ``name`` is under way (the progress table's current row)."""
        oc = self.counts[name]
        if oc.status != ObjectStatus.PENDING:
            return
        oc.status = ObjectStatus.EXECUTING
        order = [*self.run.plan.order, *self.rows]
        self.ctx.emit(ObjectStarted, object=name, index=order.index(name) + 1, count=len(order), total=oc.total)

    def _journal(self, object_name: str, source_id: str, target_id: str | None, status: RecordStatus,
                 key: list[Any] | None = None, error: ErrorInfo | None = None) -> None:
        phase = "retry" if self.only is not None else "sync"
        self.journal.record_outcomes(self.job_id, self.run_id, [
            Outcome(object_name, source_id, target_id, status, error, phase,
                    match_key=tuple(key) if key is not None else None)])

    def _fail(self, object_name: str, source_id: str, error: ErrorInfo, *, count: bool = True) -> None:
        self._journal(object_name, source_id, None, RecordStatus.FAILED, error=error)
        if count and object_name in self.counts:
            self.run.fail(object_name, source_id, None, error)     # counts it and tells the observer
            self._counted(object_name)

    def _count(self, object_name: str, what: str, size: int) -> None:
        oc = self.counts[object_name]
        if what in ("inserted", "existing"):
            setattr(oc, what, getattr(oc, what) + 1)
        oc.processed += 1
        if what == "existing" or what == "skipped":
            self._moved(size)
        self._counted(object_name)

    def _counted(self, object_name: str) -> None:
        oc = self.counts[object_name]
        if object_name != NOTE:
            self.files_done += 1
        self.journal.set_object_counts(self.run_id, object_name, oc)
        self.ctx.batch_done(object_name, oc, self.counts)
        self._progress(object_name)

    def _moved(self, size: int) -> None:
        self.bytes_done += size

    def _progress(self, object_name: str) -> None:
        seconds = max(time.monotonic() - self.started, 1e-6)
        self.ctx.emit(FilesProgress, object=object_name, files_done=self.files_done, files_planned=self.files_planned,
                      bytes_done=self.bytes_done, bytes_planned=self.bytes_planned,
                      bytes_per_second=self.bytes_done / seconds)


# ====================================================================== after a crash
def reconcile_files(ctx: RunContext, job_id: int, run_id: int) -> None:
    """Files written ahead as ``sending`` whose answer was lost: found on the target by their key (then
    ``inserted``, with the ContentDocument of a first version) or marked ``skipped`` (sent again by the next
    sync). Called before any other part of a run reads the target."""
    wanted = ctx.journal.in_flight(job_id)
    for name in (VERSION, LINK, ATTACHMENT, NOTE):
        for source_id, key in wanted.get(name, {}).items():
            found = _find(ctx.target, name, list(key or []), ctx.journal.known_target_ids(job_id, name))
            outcomes = [Outcome(name, source_id, found, RecordStatus.INSERTED if found else RecordStatus.SKIPPED)]
            if found and name == VERSION and key and key[2]:     # a first version: it made the document
                rows = ctx.target.query(f"SELECT ContentDocumentId FROM ContentVersion WHERE Id = {quote(found)}")
                source_doc = ctx.source.query(f"SELECT ContentDocumentId FROM ContentVersion WHERE Id = "
                                              f"{quote(source_id)}")
                if rows and source_doc:
                    outcomes.append(Outcome(DOCUMENT, source_doc[0]["ContentDocumentId"],
                                            rows[0]["ContentDocumentId"], RecordStatus.INSERTED))
            ctx.journal.record_outcomes(job_id, run_id, outcomes)
            if found:
                ctx.emit(Notice, text=f"a {name} sent by a run that stopped before its answer came back was found "
                                      f"on the target ({found}) and is not sent again", level="info")


def _find(target: OrgApi, name: str, key: list[Any], known: set[str]) -> str | None:
    """The target id of what the write-ahead ``key`` describes, or None."""
    if name == VERSION and len(key) == 4:
        checksum, title, record, document = key
        where = f"Checksum = {quote(checksum)} AND Title = {quote(title)}"
        if document:
            where += f" AND ContentDocumentId = {quote(document)}"
        candidates = [r for r in target.query(f"SELECT Id, ContentDocumentId FROM ContentVersion WHERE {where}")
                      if r["Id"] not in known]
        if record and candidates:
            linked = {r["ContentDocumentId"] for r in target.query(
                f"SELECT ContentDocumentId FROM ContentDocumentLink WHERE LinkedEntityId = {quote(record)}")}
            candidates = [r for r in candidates if r["ContentDocumentId"] in linked]
        return str(candidates[0]["Id"]) if candidates else None
    if name == LINK and len(key) == 2:
        rows = target.query(f"SELECT Id FROM ContentDocumentLink WHERE LinkedEntityId = {quote(key[1])} "
                            f"AND ContentDocumentId = {quote(key[0])}")
        return _unknown(rows, known)
    if name == ATTACHMENT and len(key) == 3:
        rows = target.query(f"SELECT Id FROM Attachment WHERE ParentId = {quote(key[2])} AND Name = {quote(key[0])} "
                            f"AND BodyLength = {int(key[1])}")
        return _unknown(rows, known)
    if name == NOTE and len(key) == 2:
        rows = target.query(f"SELECT Id FROM Note WHERE ParentId = {quote(key[1])} AND Title = {quote(key[0])}")
        return _unknown(rows, known)
    return None


def _unknown(rows: Iterable[dict[str, Any]], known: set[str]) -> str | None:
    return next((str(r["Id"]) for r in rows if r["Id"] not in known), None)


__all__ = ["FILE_OBJECTS", "ROLLBACK_ORDER", "FilesStage", "reconcile_files"]
