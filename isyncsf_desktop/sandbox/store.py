"""One sandbox org: its schema, records and automation, kept in a SQLite file.

All records are held in memory as well (a demo org has thousands, not millions) and written
to SQLite in one transaction per API request, so data survives a restart and a failed
``allOrNone`` request leaves nothing behind. A record's own savepoint (``run_each``) is a mark in
the in-memory undo log, not an SQL savepoint: the rows a transaction leaves are written once, in
their final state, when it commits. Every DML path enforces what a real org
enforces: field existence and permissions, types and lengths, required fields, unique and
external-id values, references, active validation rules, and failing triggers and flows.
"""

from __future__ import annotations

import contextlib
import json
import logging
import secrets
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from . import files, ids, person
from .errors import ApiError, RecordError
from .formula import FormulaError, compile_formula, is_true
from .schema import FieldSpec, ObjectSpec, Schema, load_schema
from .values import coerce, comparable, now_stamp

logger = logging.getLogger(__name__)

DAILY_API_MAX = 15000
ROLLBACK_ACTION = "\x00rollback"

_SCHEMA_SQL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (id TEXT PRIMARY KEY, object TEXT NOT NULL, data TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS records_object ON records(object);
CREATE TABLE IF NOT EXISTS tokens (token TEXT PRIMARY KEY, kind TEXT NOT NULL, expires REAL,
                                   client_id TEXT, revoked INTEGER NOT NULL DEFAULT 0);
"""

TOOLING_SCHEMA_DOCUMENT: dict[str, Any] = {
    "objects": {
        "EntityDefinition": {
            "keyPrefix": "4ie", "label": "Entity Definition", "nameField": "QualifiedApiName",
            "createable": False, "updateable": False, "deletable": False,
            "fields": {"QualifiedApiName": {"type": "string"}, "DeveloperName": {"type": "string"},
                       "Label": {"type": "string"}, "KeyPrefix": {"type": "string"},
                       "IsCustomizable": {"type": "boolean"}},
        },
        "ValidationRule": {
            "keyPrefix": "03d", "label": "Validation Rule", "nameField": "ValidationName",
            "fields": {"ValidationName": {"type": "string", "length": 40},
                       "EntityDefinitionId": {"type": "reference", "referenceTo": ["EntityDefinition"],
                                              "relationshipName": "EntityDefinition"},
                       "Active": {"type": "boolean"}, "ErrorMessage": {"type": "string"},
                       "ErrorDisplayField": {"type": "string"}, "Description": {"type": "string"},
                       "NamespacePrefix": {"type": "string"}},
        },
        "ApexTrigger": {
            "keyPrefix": "01q", "label": "Apex Trigger",
            "fields": {"Name": {"type": "string"}, "TableEnumOrId": {"type": "string"},
                       "Status": {"type": "picklist", "values": ["Active", "Inactive", "Deleted"]},
                       "UsageBeforeInsert": {"type": "boolean"}, "UsageAfterInsert": {"type": "boolean"},
                       "UsageBeforeUpdate": {"type": "boolean"}, "UsageAfterUpdate": {"type": "boolean"},
                       "UsageBeforeDelete": {"type": "boolean"}, "UsageAfterDelete": {"type": "boolean"},
                       "Body": {"type": "textarea"}, "ApiVersion": {"type": "double"},
                       "NamespacePrefix": {"type": "string"}},
        },
        "FlowDefinition": {
            "keyPrefix": "300", "label": "Flow Definition", "nameField": "DeveloperName",
            "fields": {"DeveloperName": {"type": "string"}, "MasterLabel": {"type": "string"},
                       "ActiveVersionId": {"type": "reference", "referenceTo": ["Flow"],
                                           "relationshipName": "ActiveVersion"},
                       "LatestVersionId": {"type": "reference", "referenceTo": ["Flow"],
                                           "relationshipName": "LatestVersion"},
                       "NamespacePrefix": {"type": "string"}},
        },
        "Flow": {
            "keyPrefix": "301", "label": "Flow", "nameField": "MasterLabel",
            "fields": {"MasterLabel": {"type": "string"},
                       "DefinitionId": {"type": "reference", "referenceTo": ["FlowDefinition"],
                                        "relationshipName": "Definition"},
                       "VersionNumber": {"type": "int"},
                       "Status": {"type": "picklist", "values": ["Active", "Draft", "Obsolete", "InvalidDraft"]},
                       "ProcessType": {"type": "string"}, "TriggerType": {"type": "string"},
                       "TriggerObject": {"type": "string"}, "TriggerOn": {"type": "string"}},
        },
    }
}
TOOLING_SCHEMA = load_schema(TOOLING_SCHEMA_DOCUMENT, check_references=False)
_T = TypeVar("_T")
AUTOMATION_OBJECTS = frozenset({"EntityDefinition", "ValidationRule", "ApexTrigger", "Flow", "FlowDefinition"})
"""Tooling objects whose rows decide what a save runs: a write to one clears the per-object automation cache."""
_ENCODE_ROW = json.JSONEncoder(separators=(",", ":")).encode


@dataclass
class DmlResult:
    """The outcome of one record in a DML call, in Collections' shape."""

    id: str | None
    success: bool
    errors: list[RecordError]
    created: bool | None = None

    def as_json(self, with_created: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        out["success"] = self.success
        out["errors"] = [e.as_result() for e in self.errors]
        if with_created:
            out["created"] = bool(self.created) if self.success else False
        return out


class OrgStore:
    """A sandbox org backed by one SQLite file; thread-safe (one lock per org)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.lock = threading.RLock()
        self._conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        self._conn.executescript(_SCHEMA_SQL)
        self._meta: dict[str, Any] = {k: json.loads(v) for k, v in self._conn.execute("SELECT key, value FROM meta")}
        self.schema: Schema = load_schema(self._meta["schema"]) if "schema" in self._meta else None  # type: ignore[assignment]
        self._rows: dict[str, dict[str, dict[str, Any]]] = {}
        # (object, id, prior row) per write of the open transaction; object ROLLBACK_ACTION: a callable to run
        # if it rolls back (removing a file the request wrote), in the prior row's place.
        self._undo: list[tuple[str, str, Any]] | None = None
        self._unique: dict[tuple[str, str], dict[Any, str]] = {}
        self._formulas: dict[str, Any] = {}
        # Reverse lookups, built on first use and kept by every write: (child object, reference
        # field) -> parent id -> child ids. A delete finds its children without scanning the object.
        self._children: dict[tuple[str, str], dict[str, set[str]]] = {}
        self._child_fields: dict[str, list[str]] = {}          # object -> its indexed reference fields
        self._children_of: dict[str, list[tuple[ObjectSpec, FieldSpec]]] = {}
        # Meta keys changed by the open transaction, written with its rows when it commits.
        self._dirty_meta: set[str] = set()
        # Computed once per object from the fixed schema (:meth:`_once`): the fields _index keeps, the fields
        # a save must have, the unique and defaulted fields, whether Name is compound; and, until a Tooling write
        # changes them, each object's EntityDefinition id and its active validation rules, triggers and flows.
        self._per_object: dict[tuple[str, str], Any] = {}
        self._automation: dict[str, tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]] = {}
        self._entity_ids: dict[str, str] | None = None
        #: Where the bytes of the org's files are (see :mod:`.files`), its file storage and largest file.
        self.files = files.FileFolder(self.path.with_name(self.path.stem + "-files"))
        self.file_storage_mb = files.DEFAULT_FILE_STORAGE_MB
        self.max_file_mb: int | None = None
        if self.schema is not None:
            self._load_rows()

    # ----------------------------------------------------------------- creation / metadata
    @property
    def initialised(self) -> bool:
        return self.schema is not None

    def initialise(self, seed: Any, *, pod: str | None = None, username_suffix: str = "") -> None:
        """Fill a new, empty store from a :class:`~isyncsf_desktop.sandbox.seeds.Seed`.

        ``username_suffix`` is appended to every seeded User's Username, the way Salesforce appends
        the sandbox name when it copies an org: usernames are unique across orgs, emails stay as seeded.
        """
        from .seeds import Ref  # local: seeds is data, only needed once

        if self.initialised:
            raise RuntimeError(f"{self.path} already holds an org")
        pod = pod or ids.random_pod()
        schema = load_schema(seed.schema_document)
        with self.transaction():
            self._set_meta("schema", seed.schema_document)
            self._set_meta("pod", pod)
            self._set_meta("counter", 0)
            self._set_meta("api_used", 0)
            self.schema = schema
            org_id = self._new_id_for_prefix("00D")
            self._set_meta("org_id", org_id)
            self._set_meta("seed", seed.name)
            self._set_meta("username_suffix", username_suffix)
            self._rows = {name: {} for name in list(schema.objects) + list(TOOLING_SCHEMA.objects)}
            keys: dict[tuple[str, str], str] = {}
            person_types = {("RecordType", rec.key) for rec in seed.records
                            if rec.object == "RecordType" and rec.values.get("IsPersonType")}
            people: list[str] = []     # seed keys of the person accounts, whose person contact is made below
            for rec in seed.records:
                if rec.object == "Organization":
                    keys[(rec.object, rec.key)] = org_id
                else:
                    keys[(rec.object, rec.key)] = self.new_id(rec.object)
                rt = rec.values.get("RecordTypeId")
                if rec.object == "Account" and isinstance(rt, Ref) and (rt.object, rt.key) in person_types:
                    people.append(rec.key)   # its person contact's seed key is the account's (Ref("Contact", key))
                    keys[("Contact", rec.key)] = self.new_id("Contact")
            api_user = keys[("User", seed.api_user)]
            self._set_meta("api_user", api_user)
            stamp = now_stamp()
            for rec in seed.records:
                obj = schema.objects[rec.object]
                row: dict[str, Any] = {}
                for fname, value in rec.values.items():
                    spec = obj.fields[fname]
                    row[fname] = keys[(value.object, value.key)] if isinstance(value, Ref) else coerce(spec, value)
                if rec.object == "User" and username_suffix and row.get("Username"):
                    row["Username"] = str(row["Username"]) + username_suffix
                row["Id"] = keys[(rec.object, rec.key)]
                sent = dict(row)
                self._apply_defaults(obj, row, api_user, stamp)
                if rec.object == "Account" and person.has_person_accounts(self):   # as an insert does
                    person.before_account_write(self, obj, row, sent, None)
                if rec.object in files.FILE_OBJECTS:
                    files.before_insert(self, rec.object, row)
                self._put(rec.object, row)
                if rec.object in files.FILE_OBJECTS:
                    files.after_insert(self, rec.object, row)
                if rec.object == "ContentVersion":   # its document takes its seed key: Ref("ContentDocument", key)
                    keys.setdefault(("ContentDocument", rec.key), self._rows["ContentVersion"][row["Id"]]
                                    ["ContentDocumentId"])
            for key in people:   # the person contact of each person account, as creating it makes one
                person.after_account_saved(self, self._rows["Account"][keys[("Account", key)]],
                                           keys[("Contact", key)])
            for name, spec in schema.objects.items():
                self._put("EntityDefinition", {
                    "Id": self.new_id("EntityDefinition"), "QualifiedApiName": name, "DeveloperName":
                    name.removesuffix("__c"), "Label": spec.label, "KeyPrefix": spec.key_prefix,
                    "IsCustomizable": True, "IsDeleted": False})
            for rule in seed.validation_rules:
                self.create_validation_rule(rule)
            for trig in seed.triggers:
                self.create_trigger(trig)
            for flow in seed.flows:
                self.create_flow(flow)
            self._set_meta("org", {"name": seed.org_name, "type": seed.org_type,
                                   "is_sandbox": seed.is_sandbox})

    def _set_meta(self, key: str, value: Any) -> None:
        """Keep ``value``; inside a transaction it is written when the transaction commits."""
        self._meta[key] = value
        if self._undo is not None:
            self._dirty_meta.add(key)
        else:
            self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)", (key, json.dumps(value)))

    def meta(self, key: str, default: Any = None) -> Any:
        return self._meta.get(key, default)

    @property
    def org_id(self) -> str:
        return self._meta["org_id"]

    @property
    def api_user_id(self) -> str:
        return self._meta["api_user"]

    @property
    def org_info(self) -> dict[str, Any]:
        return self._meta.get("org", {})

    def _load_rows(self) -> None:
        self._rows = {name: {} for name in list(self.schema.objects) + list(TOOLING_SCHEMA.objects)}
        for record_id, obj, data in self._conn.execute("SELECT id, object, data FROM records"):
            row = json.loads(data)
            self._rows.setdefault(obj, {})[record_id] = row
            self._index(obj, row, add=True)

    def object_spec(self, name: str, *, tooling: bool = False) -> ObjectSpec | None:
        return (TOOLING_SCHEMA if tooling else self.schema).object(name)

    def close(self) -> None:
        with self.lock:
            self._conn.close()

    # ----------------------------------------------------------------- ids and tokens
    def _new_id_for_prefix(self, prefix: str) -> str:
        counter = int(self._meta.get("counter", 0)) + 1
        self._set_meta("counter", counter)
        return ids.make_id(prefix, self._meta["pod"], counter)

    def new_id(self, object_name: str) -> str:
        spec = self.schema.object(object_name) or TOOLING_SCHEMA.object(object_name)
        assert spec is not None, object_name
        return self._new_id_for_prefix(spec.key_prefix)

    def object_of_id(self, record_id: str) -> str | None:
        spec = self.schema.by_prefix(record_id[:3]) or TOOLING_SCHEMA.by_prefix(record_id[:3])
        return spec.name if spec else None

    def issue_token(self, kind: str = "access", *, ttl: float | None = None, client_id: str | None = None) -> str:
        """A new bearer (``access``) or ``refresh`` token for this org's API user."""
        import time

        prefix = self.org_id[:15] + "!" if kind == "access" else "5Aep"
        token = prefix + secrets.token_urlsafe(48 if kind == "access" else 60)
        expires = time.time() + ttl if ttl is not None else None
        with self.lock:
            self._conn.execute("INSERT INTO tokens(token, kind, expires, client_id) VALUES (?,?,?,?)",
                               (token, kind, expires, client_id))
        return token

    def token_state(self, token: str, kind: str = "access") -> str:
        """``valid``, ``expired``, ``revoked`` or ``unknown``."""
        import time

        with self.lock:
            row = self._conn.execute("SELECT expires, revoked FROM tokens WHERE token=? AND kind=?",
                                     (token, kind)).fetchone()
        if row is None:
            return "unknown"
        if row[1]:
            return "revoked"
        if row[0] is not None and row[0] < time.time():
            return "expired"
        return "valid"

    def token_client(self, token: str) -> str | None:
        with self.lock:
            row = self._conn.execute("SELECT client_id FROM tokens WHERE token=?", (token,)).fetchone()
        return row[0] if row else None

    def expire_token(self, token: str) -> None:
        with self.lock:
            self._conn.execute("UPDATE tokens SET expires=0 WHERE token=?", (token,))

    def revoke_token(self, token: str) -> bool:
        with self.lock:
            cur = self._conn.execute("UPDATE tokens SET revoked=1 WHERE token=?", (token,))
        return cur.rowcount > 0

    def default_token(self) -> str:
        """The org's long-lived access token (created once, printed by ``sandbox serve``)."""
        with self.lock:
            token = self._meta.get("default_token_ref")
            if token and self.token_state(token) == "valid":
                return token
            token = self.issue_token("access")
            with self.transaction():
                self._set_meta("default_token_ref", token)
            return token

    def login_credentials(self) -> tuple[str, str]:
        """The API user's password and security token for SOAP login (created once, kept in the org)."""
        with self.lock:
            found = self._meta.get("login_credentials")
            if not found:
                found = ["Sbx-" + secrets.token_urlsafe(12), secrets.token_hex(12).upper()]
                with self.transaction():
                    self._set_meta("login_credentials", found)
            return str(found[0]), str(found[1])

    # ----------------------------------------------------------------- API accounting
    def count_api_call(self) -> int:
        with self.lock:
            used = int(self._meta.get("api_used", 0)) + 1
            self._meta["api_used"] = used
            self._conn.execute("INSERT OR REPLACE INTO meta(key, value) VALUES ('api_used', ?)", (str(used),))
            return used

    @property
    def api_used(self) -> int:
        return int(self._meta.get("api_used", 0))

    # ----------------------------------------------------------------- transactions
    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One SQLite transaction and an in-memory undo log; nests as savepoints.

        A nested one is a mark in the undo log: rolling it back restores memory from the log and drops its
        entries, so nothing it wrote reaches SQLite. The outer one writes, as it commits, the final state of
        every row its log still names (and the meta keys it changed): a record is written once however often
        the transaction changed it, and a failed commit rolls memory back as well.
        """
        with self.lock:
            outer = self._undo is None
            if outer:
                self._undo = []
                self._dirty_meta.clear()
                self._conn.execute("BEGIN")
            undo = self._undo
            assert undo is not None
            mark = len(undo)
            try:
                yield
                if outer:
                    self._flush(undo)
                    self._conn.execute("COMMIT")
            except BaseException:
                self._roll_back_to(undo, mark)
                if outer:
                    if self._conn.in_transaction:
                        self._conn.execute("ROLLBACK")
                    self._undo = None
                    self._dirty_meta.clear()
                raise
            else:
                if outer:
                    self._undo = None
                    self._dirty_meta.clear()

    def _roll_back_to(self, undo: list[tuple[str, str, Any]], mark: int) -> None:
        """Undo, in memory, every write logged after ``mark`` and drop them from the log."""
        for obj, record_id, old in reversed(undo[mark:]):
            self._restore(obj, record_id, old)
        del undo[mark:]

    def _flush(self, undo: list[tuple[str, str, Any]]) -> None:
        """Write the rows ``undo`` names, as memory holds them now, and the changed meta keys, to SQLite."""
        touched: dict[str, str] = {}
        for obj, record_id, _old in undo:
            if obj != ROLLBACK_ACTION:
                touched[record_id] = obj
        writes: list[tuple[str, str, str]] = []
        gone: list[tuple[str]] = []
        for record_id, obj in touched.items():
            row = self._rows.get(obj, {}).get(record_id)
            if row is None:
                gone.append((record_id,))
            else:
                writes.append((record_id, obj, _ENCODE_ROW(row)))
        if writes:
            self._conn.executemany("INSERT OR REPLACE INTO records(id, object, data) VALUES (?, ?, ?)", writes)
        if gone:
            self._conn.executemany("DELETE FROM records WHERE id=?", gone)
        if self._dirty_meta:
            self._conn.executemany("INSERT OR REPLACE INTO meta(key, value) VALUES (?, ?)",
                                   [(key, json.dumps(self._meta[key])) for key in sorted(self._dirty_meta)])

    def _once(self, what: str, object_name: str, compute: Callable[[], _T]) -> _T:
        """``compute()``'s answer for ``object_name`` (``what`` names the question), worked out once: the schema
        is fixed, and every save asks again."""
        key = (what, object_name)
        try:
            found: _T = self._per_object[key]
        except KeyError:
            found = self._per_object[key] = compute()
        return found

    def _index_fields(self, obj: str) -> list[FieldSpec]:
        """The fields of ``obj`` whose values :meth:`_index` keeps (unique and external ids of simple types)."""
        def compute() -> list[FieldSpec]:
            spec = self.schema.object(obj) or TOOLING_SCHEMA.object(obj)
            return [] if spec is None else [f for f in spec.fields.values()
                                            if (f.unique or f.external_id) and f.type in ("string", "email", "int",
                                                                                          "double")]
        return self._once("indexed", obj, compute)

    def _index(self, obj: str, row: dict[str, Any], *, add: bool) -> None:
        for fspec in self._index_fields(obj):
            value = row.get(fspec.name)
            if value is None:
                continue
            index = self._unique.setdefault((obj, fspec.name), {})
            key = comparable(fspec, value)
            if add and not row.get("IsDeleted"):
                index[key] = row["Id"]
            elif not add and index.get(key) == row["Id"]:
                del index[key]

    def _link(self, obj: str, row: dict[str, Any], *, add: bool) -> None:
        """Keep the reverse-lookup indexes of ``obj`` (those built so far) in step with ``row``."""
        for field_name in self._child_fields.get(obj, ()):
            parent = row.get(field_name)
            if not isinstance(parent, str):
                continue
            index = self._children[(obj, field_name)]
            if add:
                index.setdefault(parent, set()).add(row["Id"])
            else:
                kids = index.get(parent)
                if kids is not None:
                    kids.discard(row["Id"])
                    if not kids:
                        del index[parent]

    def _child_ids(self, child_obj: str, field_name: str, parent_id: str) -> list[str]:
        """Ids of ``child_obj`` records whose ``field_name`` is ``parent_id`` (deleted ones too)."""
        key = (child_obj, field_name)
        if key not in self._children:
            index: dict[str, set[str]] = {}
            for row in self._rows.get(child_obj, {}).values():
                parent = row.get(field_name)
                if isinstance(parent, str):
                    index.setdefault(parent, set()).add(row["Id"])
            self._children[key] = index
            self._child_fields.setdefault(child_obj, []).append(field_name)
        return sorted(self._children[key].get(parent_id, ()))

    def _referencing(self, parent: str) -> list[tuple[ObjectSpec, FieldSpec]]:
        """``schema.children_of(parent)``, computed once per object (the schema is fixed)."""
        if parent not in self._children_of:
            self._children_of[parent] = self.schema.children_of(parent)
        return self._children_of[parent]

    def _restore(self, obj: str, record_id: str, old: Any) -> None:
        if obj == ROLLBACK_ACTION:
            old()
            return
        if obj in AUTOMATION_OBJECTS:
            self._automation_changed()
        current = self._rows[obj].get(record_id)
        if current is not None:
            self._index(obj, current, add=False)
            self._link(obj, current, add=False)
        if old is None:
            self._rows[obj].pop(record_id, None)
        else:
            self._rows[obj][record_id] = old
            self._index(obj, old, add=True)
            self._link(obj, old, add=True)

    def on_rollback(self, action: Callable[[], None]) -> None:
        """Run ``action`` if the open transaction rolls back (it undoes something outside SQLite)."""
        assert self._undo is not None, "writes need a transaction"
        self._undo.append((ROLLBACK_ACTION, "", action))

    def put_row(self, obj: str, row: dict[str, Any]) -> None:
        """Write one complete row as the org itself does (no checks); must run inside a transaction."""
        self._put(obj, row)

    def live_rows(self, object_name: str) -> list[dict[str, Any]]:
        """The rows of ``object_name`` that are not deleted."""
        return [row for row in self._rows.get(object_name, {}).values() if not row.get("IsDeleted")]

    def file_storage_used(self) -> int:
        """Bytes of file storage the org's files take (``FileStorageMB`` in ``/limits``)."""
        return files.storage_used(self)

    def blob_chunks(self, row: dict[str, Any]) -> Iterator[bytes]:
        """The bytes of a ContentVersion's or Attachment's base64 field, in chunks (nothing when it has none)."""
        where = row.get("_blob")
        if where:
            yield from self.files.chunks(where)

    def _put(self, obj: str, row: dict[str, Any]) -> None:
        """Write one row (new or changed) to memory; the transaction writes it to SQLite as it commits."""
        assert self._undo is not None, "writes need a transaction"
        record_id = row["Id"]
        table = self._rows.setdefault(obj, {})
        old = table.get(record_id)
        self._undo.append((obj, record_id, old))
        if old is not None:
            self._index(obj, old, add=False)
            self._link(obj, old, add=False)
        table[record_id] = row
        self._index(obj, row, add=True)
        self._link(obj, row, add=True)
        if obj in AUTOMATION_OBJECTS:
            self._automation_changed()

    def _automation_changed(self) -> None:
        """Forget the cached entity ids and active automation (a Tooling row was written or restored)."""
        self._automation.clear()
        self._entity_ids = None

    # ----------------------------------------------------------------- reads (QuerySource)
    def rows(self, object_name: str) -> Iterable[dict[str, Any]]:
        spec = self.schema.object(object_name) or TOOLING_SCHEMA.object(object_name)
        return list(self._rows.get(spec.name if spec else object_name, {}).values())

    def get(self, object_name: str, record_id: str) -> dict[str, Any] | None:
        spec = self.schema.object(object_name) or TOOLING_SCHEMA.object(object_name)
        name = spec.name if spec else object_name
        if len(record_id) == 15 and ids.is_valid_id(record_id):
            record_id = ids.to18(record_id)
        return self._rows.get(name, {}).get(record_id)

    def find_record(self, record_id: str) -> tuple[str, dict[str, Any]] | None:
        """(object name, row) of any record id, deleted or not."""
        if not ids.is_valid_id(record_id):
            return None
        record_id = ids.as18(record_id)
        obj = self.object_of_id(record_id)
        if obj is None:
            return None
        row = self._rows.get(obj, {}).get(record_id)
        return (obj, row) if row is not None else None

    def count(self, object_name: str) -> int:
        return sum(1 for row in self._rows.get(object_name, {}).values() if not row.get("IsDeleted"))

    def find_by_value(self, obj: ObjectSpec, fspec: FieldSpec, value: Any) -> list[str]:
        """Ids of live records whose ``fspec`` equals ``value`` (case-insensitive for text)."""
        if fspec.name == "Id":
            found = self.find_record(value) if isinstance(value, str) else None
            return [found[1]["Id"]] if found and found[0] == obj.name and not found[1].get("IsDeleted") else []
        key = comparable(fspec, value)
        index = self._unique.get((obj.name, fspec.name))
        if index is not None and fspec.unique:
            hit = index.get(key)
            return [hit] if hit else []
        return [rid for rid, row in self._rows.get(obj.name, {}).items()
                if not row.get("IsDeleted") and row.get(fspec.name) is not None
                and comparable(fspec, row[fspec.name]) == key]

    # ----------------------------------------------------------------- DML
    def _defaulted_fields(self, obj: ObjectSpec) -> list[FieldSpec]:
        """The fields of ``obj`` that :meth:`_apply_defaults` may fill, in declaration order (computed once)."""
        return self._once("defaulted", obj.name, lambda: [
            f for f in obj.fields.values()
            if f.name == "OwnerId" or f.type == "boolean" or f.auto_number or f.default_value is not None])

    def _apply_defaults(self, obj: ObjectSpec, row: dict[str, Any], user_id: str, stamp: str) -> None:
        for fspec in self._defaulted_fields(obj):
            if fspec.name in row and row[fspec.name] is not None:
                continue
            if fspec.name == "OwnerId":
                row["OwnerId"] = user_id
            elif fspec.type == "boolean":
                row[fspec.name] = bool(fspec.default_value) if fspec.default_value is not None else False
            elif fspec.auto_number:
                row[fspec.name] = f"{len(self._rows.get(obj.name, {})) + 1:08d}"
            elif fspec.default_value is not None and fspec.name not in row:
                row[fspec.name] = fspec.default_value
        self._compound_name(obj, row)
        row.setdefault("IsDeleted", False)
        row.setdefault("CreatedDate", stamp)
        row.setdefault("CreatedById", user_id)
        row["LastModifiedDate"] = stamp
        row["LastModifiedById"] = user_id
        row["SystemModstamp"] = stamp

    def _compound_name(self, obj: ObjectSpec, row: dict[str, Any]) -> None:
        """Contact.Name and User.Name are read-only, built from FirstName and LastName."""
        def compound() -> bool:
            name = obj.fields.get("Name")
            return name is not None and not name.createable and "LastName" in obj.fields
        if self._once("compound", obj.name, compound):
            first, last = row.get("FirstName"), row.get("LastName")
            row["Name"] = (f"{first} {last}" if first and last else first or last) or None

    def _check_reference(self, obj: ObjectSpec, fspec: FieldSpec, value: str) -> str:
        if not ids.is_valid_id(value):
            raise RecordError("MALFORMED_ID", f"{fspec.label}: id value of incorrect type: {value}", [fspec.name])
        value = ids.as18(value)
        target = self.object_of_id(value)
        if target is None or target not in fspec.reference_to:
            raise RecordError("FIELD_INTEGRITY_EXCEPTION",
                              f"{fspec.label}: id value of incorrect type: {value}", [fspec.name])
        row = self._rows.get(target, {}).get(value)
        if row is None or row.get("IsDeleted"):
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [fspec.name])
        if fspec.name == "OwnerId" and target == "Group" and not self._queue_accepts(value, row, obj.name):
            # What a real org answers for a group, or a queue that does not support the object
            # (its QueueSobject rows do not list it): the id is "of incorrect type" for the field.
            raise RecordError("FIELD_INTEGRITY_EXCEPTION",
                              f"{fspec.label}: id value of incorrect type: {value}", [fspec.name])
        if fspec.name == "RecordTypeId" and row.get("SobjectType") != obj.name:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY",
                              f"Record Type ID: this ID value isn't valid for the user: {value}", ["RecordTypeId"])
        return value

    def _queue_accepts(self, group_id: str, group: dict[str, Any], object_name: str) -> bool:
        """Whether ``group`` is a queue that may own ``object_name`` records (a QueueSobject row says so)."""
        if group.get("Type") != "Queue":
            return False
        return any(row.get("QueueId") == group_id and row.get("SobjectType") == object_name
                   and not row.get("IsDeleted") for row in self._rows.get("QueueSobject", {}).values())

    def _incoming(self, obj: ObjectSpec, values: dict[str, Any], *, creating: bool) -> dict[str, Any]:
        """Validate and convert the fields a client sent for one record."""
        out: dict[str, Any] = {}
        readonly: list[str] = []
        for key, value in values.items():
            if key == "attributes" or (key.lower() == "id"):
                continue
            fspec = obj.field(key)
            if fspec is None:
                raise RecordError("INVALID_FIELD", f"No such column '{key}' on sobject of type {obj.name}", [key])
            allowed = fspec.createable if creating else fspec.updateable
            if not allowed:
                readonly.append(fspec.name)
                continue
            converted = coerce(fspec, value)
            if converted is not None and fspec.is_reference:
                converted = self._check_reference(obj, fspec, converted)
            out[fspec.name] = converted
        if readonly:
            raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                              f"Unable to create/update fields: {', '.join(readonly)}. Please check the security "
                              "settings of this field and verify that it is read/write for your profile or "
                              "permission set.", readonly)
        return out

    def _check_required(self, obj: ObjectSpec, row: dict[str, Any]) -> None:
        required = self._once("required", obj.name, lambda: [
            f for f in obj.fields.values() if not f.nillable and not f.system and f.type != "boolean"
            and (f.createable or f.updateable) and not f.defaulted_on_create])
        missing = [f.name for f in required if row.get(f.name) is None]
        if missing:
            raise RecordError("REQUIRED_FIELD_MISSING", f"Required fields are missing: [{', '.join(missing)}]", missing)

    def _check_unique(self, obj: ObjectSpec, row: dict[str, Any]) -> None:
        for fspec in self._once("unique", obj.name, lambda: [f for f in obj.fields.values() if f.unique]):
            if row.get(fspec.name) is None:
                continue
            for other in self.find_by_value(obj, fspec, row[fspec.name]):
                if other != row["Id"]:
                    raise RecordError("DUPLICATE_VALUE",
                                      f"duplicate value found: {fspec.name} duplicates value on record with id: "
                                      f"{other[:15]}", [fspec.name])

    def _formula(self, text: str, obj: ObjectSpec) -> Any:
        key = f"{obj.name}\x00{text}"
        cached = self._formulas.get(key)
        if cached is None:
            cached = compile_formula(text, obj)
            self._formulas[key] = cached
        return cached

    def _resolver(self, obj: ObjectSpec) -> Callable[[str, str], dict[str, Any] | None]:
        def resolve(field_name: str, record_id: str) -> dict[str, Any] | None:
            found = self.find_record(record_id) if isinstance(record_id, str) else None
            return found[1] if found else None
        return resolve

    def _run_automation(self, obj: ObjectSpec, row: dict[str, Any], prior: dict[str, Any] | None) -> None:
        """Active validation rules, then failing triggers and flows, as a real save runs them."""
        is_new = prior is None
        rules, triggers, flows = self._active_automation(obj.name)
        for rule in rules:
            try:
                formula = self._formula(rule["ErrorConditionFormula"], obj)
                fired = is_true(formula.evaluate(row, prior=prior, is_new=is_new, resolve_parent=self._resolver(obj)))
            except FormulaError as exc:  # a broken rule blocks saves, as in a real org
                raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION",
                                  f"{rule['ValidationName']}: {exc}") from None
            if fired:
                display = rule.get("ErrorDisplayField")
                raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", rule.get("ErrorMessage") or "",
                                  [display] if display else [])
        event = "Insert" if is_new else "Update"
        for trig in triggers:
            if not (trig.get(f"UsageBefore{event}") or trig.get(f"UsageAfter{event}")):
                continue
            condition = trig.get("FailCondition")
            if condition and is_true(self._formula(condition, obj).evaluate(row, prior=prior, is_new=is_new)):
                phase = "Before" if trig.get(f"UsageBefore{event}") else "After"
                raise RecordError("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                                  f"{trig['Name']}: execution of {phase}{event} caused by: "
                                  f"System.DmlException: {trig.get('FailMessage') or 'trigger failed'}")
        for flow in flows:
            on = flow.get("TriggerOn") or "CreateAndUpdate"
            if (is_new and on == "Update") or (not is_new and on == "Create"):
                continue
            condition = flow.get("FailCondition")
            if condition and is_true(self._formula(condition, obj).evaluate(row, prior=prior, is_new=is_new)):
                raise RecordError("CANNOT_INSERT_UPDATE_ACTIVATE_ENTITY",
                                  f"We can't save this record because the “{flow['MasterLabel']}” process failed. "
                                  f"Give your Salesforce admin these details. {flow.get('FailMessage') or ''}".strip())

    def _active_automation(self, object_name: str) -> tuple[list[dict[str, Any]], list[dict[str, Any]],
                                                             list[dict[str, Any]]]:
        """The active validation rules, triggers and flows of ``object_name``, in the org's order; cached
        until a write to a Tooling object that decides them (:data:`AUTOMATION_OBJECTS`)."""
        found = self._automation.get(object_name)
        if found is None:
            entity = self._entity_id(object_name)
            rules = [rule for rule in self._rows.get("ValidationRule", {}).values()
                     if rule.get("Active") and rule.get("EntityDefinitionId") == entity and not rule.get("IsDeleted")]
            triggers = [trig for trig in self._rows.get("ApexTrigger", {}).values()
                        if trig.get("Status") == "Active" and trig.get("TableEnumOrId") == object_name]
            flows = [flow for flow in self._rows.get("Flow", {}).values()
                     if flow.get("Status") == "Active" and flow.get("TriggerObject") == object_name]
            found = self._automation[object_name] = (rules, triggers, flows)
        return found

    def _entity_id(self, object_name: str) -> str | None:
        if self._entity_ids is None:
            entity_ids: dict[str, str] = {}
            for row in self._rows.get("EntityDefinition", {}).values():
                entity_ids.setdefault(row["QualifiedApiName"], row["Id"])   # the first, as a scan finds it
            self._entity_ids = entity_ids
        return self._entity_ids.get(object_name)

    def create(self, object_name: str, values: dict[str, Any]) -> str:
        """Insert one record; returns its id or raises RecordError. Call inside a transaction."""
        obj = self.schema.object(object_name)
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{object_name}' is not supported.")
        if not obj.createable:
            raise RecordError("INVALID_TYPE", f"entity type cannot be inserted: {obj.name}")
        if values.get("Id") or values.get("id"):
            raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                              "cannot specify Id in an insert call", ["Id"])
        row = self._incoming(obj, values, creating=True)
        sent = dict(row)
        row["Id"] = self.new_id(obj.name)
        stamp = now_stamp()
        self._apply_defaults(obj, row, self.api_user_id, stamp)
        people = person.has_person_accounts(self) and obj.name in ("Account", "Contact")
        if people:
            person.before_account_write(self, obj, row, sent, None) if obj.name == "Account" \
                else person.check_contact_write(self, None, sent)
        if obj.name in files.FILE_OBJECTS:
            files.before_insert(self, obj.name, row)
        self._check_required(obj, row)
        self._check_unique(obj, row)
        self._run_automation(obj, row, None)
        self._put(obj.name, row)
        if people and obj.name == "Account":
            person.after_account_saved(self, row)
        if obj.name in files.FILE_OBJECTS:
            files.after_insert(self, obj.name, row)
        return row["Id"]

    def update(self, object_name: str | None, record_id: str, values: dict[str, Any]) -> str:
        """Update one record; returns its id or raises RecordError. Call inside a transaction."""
        if not isinstance(record_id, str) or not ids.is_valid_id(record_id):
            raise RecordError("MALFORMED_ID", f"Record ID: id value of incorrect type: {record_id}", ["Id"])
        found = self.find_record(record_id)
        if found is None or (object_name and self.schema.object(object_name)
                             and found[0] != self.schema.object(object_name).name):  # type: ignore[union-attr]
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        obj_name, current = found
        obj = self.schema.object(obj_name)
        if obj is None:
            raise RecordError("INVALID_TYPE", f"entity type cannot be updated: {obj_name}")
        if current.get("IsDeleted"):
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        if not obj.updateable:
            raise RecordError("INVALID_TYPE", f"entity type cannot be updated: {obj.name}")
        changes = self._incoming(obj, values, creating=False)
        row = {**current, **changes}
        self._compound_name(obj, row)
        people = person.has_person_accounts(self) and obj.name in ("Account", "Contact")
        if people:
            person.before_account_write(self, obj, row, changes, current) if obj.name == "Account" \
                else person.check_contact_write(self, current, changes)
        self._check_required(obj, row)
        self._check_unique(obj, row)
        self._run_automation(obj, row, current)
        stamp = now_stamp()
        row["LastModifiedDate"] = stamp
        row["LastModifiedById"] = self.api_user_id
        row["SystemModstamp"] = stamp
        self._put(obj.name, row)
        if people and obj.name == "Account":
            person.after_account_saved(self, row)
        return row["Id"]

    def delete(self, record_id: str) -> str:
        """Delete one record (to the recycle bin), cascading master-detail children and clearing lookups."""
        if not isinstance(record_id, str) or not ids.is_valid_id(record_id):
            raise RecordError("MALFORMED_ID", f"malformed id {record_id}", [])
        found = self.find_record(record_id)
        if found is None:
            raise RecordError("INVALID_CROSS_REFERENCE_KEY", "invalid cross reference id", [])
        obj_name, current = found
        obj = self.schema.object(obj_name)
        if obj is None or not obj.deletable:
            raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [])
        if current.get("IsDeleted"):
            raise RecordError("ENTITY_IS_DELETED", "entity is deleted", [])
        stamp = now_stamp()
        if obj.name in ("Account", "Contact") and person.has_person_accounts(self):
            if obj.name == "Contact":
                person.check_contact_write(self, current, {})
            contact = person.person_contact_of(self, current)
            if contact is not None:   # a person account takes its person contact with it
                self._delete_cascade(self.schema.objects["Contact"], contact, stamp)
        self._delete_cascade(obj, current, stamp)
        return current["Id"]

    def _delete_cascade(self, obj: ObjectSpec, row: dict[str, Any], stamp: str) -> None:
        self._put(obj.name, {**row, "IsDeleted": True, "SystemModstamp": stamp})
        for child_obj, fspec in self._referencing(obj.name):
            table = self._rows.get(child_obj.name, {})
            for child_id in self._child_ids(child_obj.name, fspec.name, row["Id"]):
                child = table.get(child_id)
                if child is None or child.get(fspec.name) != row["Id"] or child.get("IsDeleted"):
                    continue
                if fspec.is_master_detail:
                    self._delete_cascade(child_obj, child, stamp)
                else:
                    self._put(child_obj.name, {**child, fspec.name: None, "SystemModstamp": stamp})

    def upsert(self, object_name: str, ext_field: str, values: dict[str, Any], ext_value: Any = None) -> tuple[str, bool]:
        """Insert or update by an external-id field; returns (id, created)."""
        obj = self.schema.object(object_name)
        if obj is None:
            raise RecordError("INVALID_TYPE", f"sObject type '{object_name}' is not supported.")
        fspec = obj.field(ext_field)
        if fspec is None or not (fspec.external_id or fspec.name == "Id" or fspec.id_lookup):
            raise RecordError("INVALID_FIELD", f"Field {ext_field} is not an external id field or indexed field "
                              f"on {obj.name}", [ext_field])
        if ext_value is None:
            ext_value = next((v for k, v in values.items() if k.lower() == fspec.name.lower()), None)
        body = {k: v for k, v in values.items() if k.lower() != fspec.name.lower() or fspec.name != "Id"}
        if ext_value in (None, ""):
            if fspec.name == "Id":
                return self.create(obj.name, {k: v for k, v in body.items() if k.lower() != "id"}), True
            raise RecordError("MISSING_ARGUMENT", f"{fspec.name} not specified", [fspec.name])
        matches = self.find_by_value(obj, fspec, ext_value)
        if len(matches) > 1:
            raise RecordError("DUPLICATE_EXTERNAL_ID",
                              f"{fspec.name}: more than one record found for external id field: "
                              f"{[m[:15] for m in matches]}", [fspec.name])
        if matches:
            changes = {k: v for k, v in body.items() if k.lower() != fspec.name.lower()}
            return self.update(obj.name, matches[0], changes), False
        if fspec.name == "Id":
            raise RecordError("NOT_FOUND", "Provided external ID field does not exist or is not accessible", ["Id"])
        created = dict(body)
        created[fspec.name] = ext_value
        return self.create(obj.name, created), True

    def run_each(self, items: list[Any], op: Callable[[Any], tuple[str, bool | None]],
                 *, all_or_none: bool, fault: Callable[[int], RecordError | None] | None = None) -> list[DmlResult]:
        """Run ``op`` per item: each in its own savepoint, or all-or-none in one."""
        results: list[DmlResult] = []
        with self.transaction():
            undo = self._undo
            assert undo is not None
            for index, item in enumerate(items):
                mark = len(undo)   # the item's savepoint (what ``with self.transaction()`` nested would keep)
                try:
                    injected = fault(index) if fault else None
                    if injected is not None:
                        raise injected
                    record_id, created = op(item)
                except RecordError as error:
                    self._roll_back_to(undo, mark)
                    results.append(DmlResult(None, False, [error]))
                    continue
                results.append(DmlResult(record_id, True, [], created))
            if all_or_none and any(not r.success for r in results):
                rolled = RecordError("ALL_OR_NONE_OPERATION_ROLLED_BACK",
                                     "Record rolled back because not all records were valid and the request was "
                                     "using AllOrNone header", [])
                results = [r if not r.success else DmlResult(None, False, [rolled]) for r in results]
                raise AllOrNoneFailed(results)
        return results

    # ----------------------------------------------------------------- automation metadata (Tooling)
    def _entity_or_error(self, object_name: str) -> str:
        entity = self._entity_id(object_name)
        if entity is None:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"Unknown object: {object_name}")
        return entity

    def create_validation_rule(self, rule: dict[str, Any]) -> str:
        obj_name = rule.get("EntityDefinitionId") or rule.get("Object")
        obj = self.schema.object(obj_name or "")
        if obj is None:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"Unknown object: {obj_name}")
        formula = rule.get("ErrorConditionFormula") or ""
        try:
            compile_formula(formula, obj)
        except FormulaError as exc:
            raise ApiError(400, "FIELD_INTEGRITY_EXCEPTION", f"Error in formula: {exc}") from None
        row = {"Id": self.new_id("ValidationRule"), "ValidationName": rule["ValidationName"],
               "EntityDefinitionId": self._entity_or_error(obj.name), "Active": bool(rule.get("Active", True)),
               "ErrorMessage": rule.get("ErrorMessage") or "", "ErrorDisplayField": rule.get("ErrorDisplayField"),
               "Description": rule.get("Description"), "ErrorConditionFormula": formula,
               "NamespacePrefix": None, "IsDeleted": False, "_Object": obj.name}
        with self.transaction():
            self._put("ValidationRule", row)
        return row["Id"]

    def create_trigger(self, trig: dict[str, Any]) -> str:
        row = {"Id": self.new_id("ApexTrigger"), "ApiVersion": 59.0, "NamespacePrefix": None, "IsDeleted": False,
               "UsageBeforeDelete": False, "UsageAfterDelete": False, **trig}
        with self.transaction():
            self._put("ApexTrigger", row)
        return row["Id"]

    def create_flow(self, flow: dict[str, Any]) -> str:
        def_id = self.new_id("FlowDefinition")
        version_id = self.new_id("Flow")
        active = bool(flow.get("Active", True))
        with self.transaction():
            self._put("Flow", {"Id": version_id, "MasterLabel": flow.get("MasterLabel", flow["DeveloperName"]),
                               "DefinitionId": def_id, "VersionNumber": 1,
                               "Status": "Active" if active else "Obsolete",
                               "ProcessType": flow.get("ProcessType", "AutoLaunchedFlow"),
                               "TriggerType": flow.get("TriggerType"), "TriggerObject": flow.get("TriggerObject"),
                               "TriggerOn": flow.get("TriggerOn", "CreateAndUpdate"),
                               "FailCondition": flow.get("FailCondition"), "FailMessage": flow.get("FailMessage"),
                               "IsDeleted": False})
            self._put("FlowDefinition", {"Id": def_id, "DeveloperName": flow["DeveloperName"],
                                         "MasterLabel": flow.get("MasterLabel", flow["DeveloperName"]),
                                         "ActiveVersionId": version_id if active else None,
                                         "LatestVersionId": version_id, "NamespacePrefix": None,
                                         "IsDeleted": False})
        return def_id

    def put_tooling(self, object_name: str, row: dict[str, Any]) -> None:
        with self.transaction():
            self._put(object_name, row)


class AllOrNoneFailed(Exception):
    """An allOrNone request had a failing record: every result, for the answer; nothing was kept."""

    def __init__(self, results: list[DmlResult]):
        super().__init__("allOrNone request rolled back")
        self.results = results

