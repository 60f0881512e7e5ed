"""The journal's previews: what a sync of a template would do between two orgs, record by record, before
anything is written (engine/run/preview.py). The rows live here, not in memory: a preview of many records
is written batch by batch as the run's outcomes are, and read back a page at a time."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .rows import JournalError, OrgRef, current_user, dumps, utc_now
from .store import JournalStore

PREVIEW_STATUSES = ("Running", "Completed", "Failed", "Aborted")
PREVIEW_ACTIONS = ("insert", "update", "unchanged", "skip")
"""What a preview row says happens to its record: inserted, updated, left as it is (it already holds the
values), or not going (skipped or refused, with the reason)."""
PAGE = 2000


@dataclass(frozen=True)
class PreviewChange:
    """One field of a record to insert or update: its target value now (None on insert) and the value the run
    writes; a lookup also by its parent's name (``*_label``). ``deferred``: set in the second pass."""

    field: str
    now: Any
    will_be: Any
    now_label: str | None = None
    will_be_label: str | None = None
    deferred: bool = False

    def as_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"field": self.field, "now": self.now, "will_be": self.will_be}
        if self.now_label is not None:
            data["now_label"] = self.now_label
        if self.will_be_label is not None:
            data["will_be_label"] = self.will_be_label
        if self.deferred:
            data["deferred"] = True
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PreviewChange:
        return cls(data["field"], data.get("now"), data.get("will_be"), data.get("now_label"),
                   data.get("will_be_label"), bool(data.get("deferred")))


@dataclass
class PreviewRecord:
    """One source record of a preview: what happens to it (``action``), the outcome the run journals for it
    (``status``, a :class:`~..lifecycle.RecordStatus`), why it is not going (``reason_code``, ``reason``),
    and the fields that change."""

    object: str
    source_id: str
    action: str
    status: str
    target_id: str | None = None
    label: str | None = None
    reason_code: str | None = None
    reason: str | None = None
    changes: list[PreviewChange] = field(default_factory=list)
    source_stamp: str | None = None
    """The SystemModstamp of the source record as the preview read it (an apply finds what moved since)."""
    target_stamp: str | None = None
    """The SystemModstamp of the matched target record as the preview read it."""
    new_id: str | None = None
    """A record to insert: the placeholder id the preview gave it (its children's lookups carry it)."""
    packed: str | None = None
    """``changes`` as the journal stores them (JSON), once :meth:`pack` let go of the objects: a row waiting for
    its batch's outcome holds a string rather than a list of objects (a Bulk job's worth of rows at a time)."""

    def pack(self) -> None:
        """Keep ``changes`` as the journal's JSON only (until the row is read back)."""
        self.packed = self.changes_json()
        self.changes = []

    def changes_json(self) -> str:
        return self.packed if self.packed is not None else dumps([c.as_json() for c in self.changes])

    def as_json(self) -> dict[str, Any]:
        return {"object": self.object, "source_id": self.source_id, "target_id": self.target_id,
                "label": self.label, "action": self.action, "status": self.status, "reason_code": self.reason_code,
                "reason": self.reason, "changes": [c.as_json() for c in self.changes]}


@dataclass(frozen=True)
class PreviewRow:
    """A preview as the journal keeps it: the template and orgs it read, when, how it ended, and its
    ``header`` (per-object counts, API calls the run will cost: engine/run/preview.py)."""

    id: int
    template_name: str
    template: dict[str, Any]
    source: OrgRef
    target: OrgRef
    status: str
    created: str
    finished: str | None
    plan: dict[str, Any] | None
    header: dict[str, Any]
    message: str | None
    run_by: str | None
    job_id: int | None
    """The job that applied the preview (engine/run/apply.py); None: not applied."""
    fingerprint: dict[str, Any] | None = None
    """Both orgs' metadata for the plan's objects as the preview read it (engine/run/apply.py)."""


_COLUMNS = ("object, source_id, action, status, target_id, label, reason_code, reason, changes, source_stamp, "
            "target_stamp, new_id")


def _record(row: tuple[Any, ...]) -> PreviewRecord:
    obj, source_id, action, status, target_id, label, code, reason, changes, source_stamp, target_stamp, new_id = row
    return PreviewRecord(obj, source_id, action, status, target_id, label, code, reason,
                         [PreviewChange.from_json(c) for c in json.loads(changes)], source_stamp, target_stamp, new_id)


class PreviewsMixin(JournalStore):
    """Previews and their rows."""

    def create_preview(self, template: dict[str, Any], source: OrgRef, target: OrgRef) -> int:
        """A new preview (Running) of ``template`` from ``source`` to ``target``; returns its id."""
        with self._write() as conn:
            cursor = conn.execute(
                "INSERT INTO previews (template_name, template, source_alias, source_org_id, source_url, "
                "target_alias, target_org_id, target_url, status, created, run_by) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (str(template.get("name") or ""), dumps(template), source.alias, source.org_id, source.instance_url,
                 target.alias, target.org_id, target.instance_url, "Running", utc_now(), current_user()))
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    def add_preview_rows(self, preview_id: int, rows: Iterable[PreviewRecord]) -> None:
        """Write rows of a preview (a record written again replaces its row)."""
        with self._write() as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO preview_rows (preview_id, object, source_id, action, status, target_id, "
                "label, reason_code, reason, changes, source_stamp, target_stamp, new_id) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [(preview_id, r.object, r.source_id, r.action, r.status, r.target_id, r.label, r.reason_code,
                  r.reason, r.changes_json(), r.source_stamp, r.target_stamp, r.new_id)
                 for r in rows])

    def update_preview_rows(self, preview_id: int, rows: Iterable[PreviewRecord]) -> None:
        """Write again rows of a preview already written (their place in the order is kept)."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE preview_rows SET action = ?, status = ?, target_id = ?, label = ?, reason_code = ?, "
                "reason = ?, changes = ? WHERE preview_id = ? AND object = ? AND source_id = ?",
                [(r.action, r.status, r.target_id, r.label, r.reason_code, r.reason,
                  r.changes_json(), preview_id, r.object, r.source_id) for r in rows])

    def preview_rows_of(self, preview_id: int, object_name: str, source_ids: Iterable[str]) -> dict[str, PreviewRecord]:
        """The rows of these records of ``object_name``, by source id."""
        ids = list(source_ids)
        found: dict[str, PreviewRecord] = {}
        with self._lock:
            for start in range(0, len(ids), 500):
                chunk = ids[start:start + 500]
                marks = ", ".join("?" * len(chunk))
                for row in self._db.execute(
                        f"SELECT {_COLUMNS} FROM preview_rows WHERE preview_id = ? AND object = ? "
                        f"AND source_id IN ({marks})", (preview_id, object_name, *chunk)):
                    found[row[1]] = _record(row)
        return found

    def finish_preview(self, preview_id: int, status: str, header: dict[str, Any], plan: dict[str, Any] | None,
                       message: str | None = None) -> None:
        """End a preview: its status, header and the plan it ran."""
        if status not in PREVIEW_STATUSES:
            raise ValueError(f"unknown preview status {status!r}; expected one of {', '.join(PREVIEW_STATUSES)}")
        with self._write() as conn:
            conn.execute("UPDATE previews SET status = ?, finished = ?, header = ?, plan = ?, message = ? WHERE id = ?",
                         (status, utc_now(), dumps(header), dumps(plan) if plan is not None else None, message,
                          preview_id))

    def set_preview_fingerprint(self, preview_id: int, fingerprint: dict[str, Any]) -> None:
        """Keep both orgs' metadata as the preview read it (engine/run/apply.py's ``fingerprint``)."""
        with self._write() as conn:
            conn.execute("UPDATE previews SET fingerprint = ? WHERE id = ?", (dumps(fingerprint), preview_id))

    def claim_preview(self, preview_id: int, job_id: int) -> bool:
        """Job ``job_id`` applies preview ``preview_id``: each names the other. False (nothing changed) when
        another job applies it already."""
        with self._write() as conn:
            claimed = conn.execute("UPDATE previews SET job_id = ? WHERE id = ? AND job_id IS NULL",
                                   (job_id, preview_id)).rowcount
            if claimed:
                conn.execute("UPDATE jobs SET preview_id = ? WHERE id = ?", (preview_id, job_id))
        return bool(claimed)

    def preview_new_ids(self, preview_id: int) -> dict[str, tuple[str, str]]:
        """The placeholder ids of a preview's records to insert: placeholder -> (object, source id)."""
        with self._lock:
            return {r[0]: (r[1], r[2]) for r in self._db.execute(
                "SELECT new_id, object, source_id FROM preview_rows WHERE preview_id = ? AND new_id IS NOT NULL",
                (preview_id,))}

    def preview(self, preview_id: int) -> PreviewRow:
        """The preview ``preview_id``; :class:`JournalError` when there is none."""
        with self._lock:
            row = self._db.execute(
                "SELECT id, template_name, template, source_alias, source_org_id, source_url, target_alias, "
                "target_org_id, target_url, status, created, finished, plan, header, message, run_by, job_id, "
                "fingerprint FROM previews WHERE id = ?", (preview_id,)).fetchone()
        if row is None:
            raise JournalError(f"no preview {preview_id} in the journal")
        return PreviewRow(row[0], row[1], json.loads(row[2]), OrgRef(row[3], row[4], row[5]),
                          OrgRef(row[6], row[7], row[8]), row[9], row[10], row[11],
                          json.loads(row[12]) if row[12] else None, json.loads(row[13]) if row[13] else {},
                          row[14], row[15], row[16], json.loads(row[17]) if row[17] else None)

    def preview_of_job(self, job_id: int) -> int | None:
        """The preview job ``job_id`` applied (None: a job not started from a preview)."""
        with self._lock:
            row = self._db.execute("SELECT id FROM previews WHERE job_id = ? ORDER BY id LIMIT 1", (job_id,)).fetchone()
        return int(row[0]) if row is not None else None

    def previews(self) -> list[PreviewRow]:
        """Every preview, newest first."""
        with self._lock:
            ids = [r[0] for r in self._db.execute("SELECT id FROM previews ORDER BY id DESC")]
        return [self.preview(i) for i in ids]

    def preview_records(self, preview_id: int, object_name: str | None = None, actions: Iterable[str] | None = None,
                        *, offset: int = 0, limit: int | None = None, text: str | None = None) -> list[PreviewRecord]:
        """A page of a preview's rows (of ``object_name``, of ``actions``, whose name, ids or reason contain ``text``,
        case-insensitive), in the order they were written."""
        where, params = self._where(preview_id, object_name, actions, text)
        with self._lock:
            rows = self._db.execute(f"SELECT {_COLUMNS} FROM preview_rows WHERE {where} ORDER BY id LIMIT ? OFFSET ?",
                                    (*params, -1 if limit is None else limit, offset)).fetchall()
        return [_record(r) for r in rows]

    def iter_preview_records(self, preview_id: int, object_name: str | None = None,
                             actions: Iterable[str] | None = None) -> Iterator[PreviewRecord]:
        """Every row of a preview (of ``object_name``, of ``actions``), read a page at a time."""
        where, params = self._where(preview_id, object_name, actions)
        last = 0
        while True:
            with self._lock:
                rows = self._db.execute(f"SELECT id, {_COLUMNS} FROM preview_rows WHERE {where} AND id > ? "
                                        "ORDER BY id LIMIT ?", (*params, last, PAGE)).fetchall()
            if not rows:
                return
            for row in rows:
                yield _record(row[1:])
            last = rows[-1][0]

    def preview_counts(self, preview_id: int) -> dict[str, dict[str, int]]:
        """Per object: rows per action."""
        counts: dict[str, dict[str, int]] = {}
        with self._lock:
            for obj, action, number in self._db.execute(
                    "SELECT object, action, COUNT(*) FROM preview_rows WHERE preview_id = ? GROUP BY object, action",
                    (preview_id,)):
                counts.setdefault(obj, {})[action] = number
        return counts

    def preview_reasons(self, preview_id: int) -> dict[str, dict[str, int]]:
        """Per object: the records not going (action ``skip``) per reason code."""
        reasons: dict[str, dict[str, int]] = {}
        with self._lock:
            for obj, code, number in self._db.execute(
                    "SELECT object, COALESCE(reason_code, ''), COUNT(*) FROM preview_rows "
                    "WHERE preview_id = ? AND action = 'skip' GROUP BY object, reason_code", (preview_id,)):
                reasons.setdefault(obj, {})[code] = number
        return reasons

    @staticmethod
    def _where(preview_id: int, object_name: str | None, actions: Iterable[str] | None,
               text: str | None = None) -> tuple[str, list[Any]]:
        where: list[str] = ["preview_id = ?"]
        params: list[Any] = [preview_id]
        if object_name is not None:
            where.append("object = ?")
            params.append(object_name)
        if actions is not None:
            wanted = list(actions)
            where.append(f"action IN ({', '.join('?' * len(wanted))})")
            params.extend(wanted)
        if text:
            like = "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
            where.append("(" + " OR ".join(f"{c} LIKE ? ESCAPE '\\'" for c in
                                           ("label", "source_id", "target_id", "reason_code", "reason")) + ")")
            params.extend([like] * 5)
        return " AND ".join(where), params


__all__ = ["PREVIEW_ACTIONS", "PREVIEW_STATUSES", "PreviewChange", "PreviewRecord", "PreviewRow", "PreviewsMixin"]
