"""Templates: the reusable recipe of a sync (which objects, fields and records move, and how).

A template is a JSON file the GUI edits and the CLI reads::

    {"name": "Sales data",
     "options": {"continue_on_error": true, "skip_missing_fields": true, "versioning": true},
     "objects": [{"object": "Account", "fields": ["Name", "ParentId"], "filter": "Industry != null",
                  "match_by": ["External_Id__c"], "insert": true, "update": true, "limit": 500}],
     "order": ["Account", "Contact"],
     "mappings": {"owners": {"default": "ops@acme.example",
                             "map": {"Escalations": "Escalation_Team", "ann@acme.example": "ann@acme.example.uat"}},
                  "record_types": {"Account": {"map": {"Partner": "Channel_Partner"}, "default": "Customer"}},
                  "picklists": {"Account.Industry": {"Prospect": "Prospecting"}},
                  "fields": {"Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"},
                                         "constants": {"Region__c": "EMEA"}}}}}

``mappings.owners`` names owners by username (users: it has an ``@``) or DeveloperName (queues):
``map`` sends a source owner to a target owner, ``default`` owns what matches nothing (see
:mod:`.users` for the automatic matching it overrides). ``mappings.record_types`` does the same per
object for record types, by DeveloperName (:mod:`.recordtypes`); ``mappings.picklists`` sends a source
picklist value to a target value per ``Object.Field``, each value of a multi-select too (:mod:`.picklists`).
``mappings.fields`` carries a source field into a target field of another API name per object (``map``: a
namespace added or removed, a field renamed) and fills target fields with a ``constants`` value on insert
(on update too with ``"constants_on_update": true``); the plan checks both against the orgs.

:func:`parse_template` checks the document's shape; the checks that need the orgs (objects and
fields exist, filters are valid SOQL) happen when the plan is built.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from datetime import datetime, timezone
from typing import Any

from .. import paths
from .masking import MaskRule, MaskRuleError, parse_rules


class TemplateError(ValueError):
    """A template that cannot run; the message names the problem and where it is."""


OPTION_DEFAULTS: dict[str, Any] = {
    "continue_on_error": True,
    "skip_missing_fields": True,
    "versioning": True,
    "batch_size": 200,
    "api_ceiling_percent": 90,   # pause the run when either org has used this share of its daily API requests
    "automation_off": [],   # [{"kind": "ValidationRule", "name": "Contact.Rule"}]: off on the target during runs
    # Delta sync: only records whose SystemModstamp is after the template's last successful sync (or
    # after "since" when set). Deletions in the source are not propagated to the target.
    "delta_sync": False,
    "since": None,          # ISO-8601 date/time overriding the last successful sync date
    # Include deleted records (queryAll): records in the source's recycle bin are read too and copied as
    # ordinary, live records on the target; nothing is deleted on the target.
    "include_deleted": False,
    "skip_transactional": False,   # leave out transactional objects (Opportunity, Case, Order, Task, ...)
    # Writes of at least this many records of one object (inserts, updates, rollback deletes and
    # restores) go through Bulk API 2.0, smaller ones through sObject Collections; 0: never Bulk.
    # A line's own "bulk_threshold" overrides it for that object.
    "bulk_threshold": 2000,
    # Requests in flight at once (1-4): up to this many write batches of one object and hierarchy
    # level are out together (each journaled as being sent before it goes out, answered in order),
    # and from 2 on the next object's source records are read while the current one is written.
    # Parents are always written before their children; stop-at-first-error runs one batch at a time.
    "in_flight": 2,
    # Objects written at once (1-4): objects with no lookup path between them run side by side, each with its
    # own Bulk jobs or Collections batches (parents still before their children; with a set order, an object
    # still follows every earlier object it is related to). 1: one object at a time.
    "parallel_objects": 2,
    # Seconds after a create batch went out during which the org may still commit it when its answer was
    # lost (a timeout, a dropped connection, a crash): records of such a batch not found on the target are
    # looked for again until then, never sent again before. None: the org's own limit on a request
    # (engine/run/recovery.py ORG_REQUEST_LIMIT_S, 10 minutes). Lower it only for an org known to end
    # requests sooner (and for tests).
    "late_commit_window": None,
    # Faker's locale for masked values (engine/masking.py): names, addresses and phones of that country.
    "mask_locale": "en_US",
}
MAX_PARALLEL_OBJECTS = 4
"""At most 4 objects at once: with 4 requests in flight each, 16 requests at a time, well under the 25 long-running
requests an org allows at once, and few Bulk jobs beside the org's other work."""
LINE_KEYS = {"object", "fields", "filter", "match_by", "insert", "update", "limit", "sort", "related_to",
             "exclude_parents", "bulk_threshold", "mask", "files"}
FILES_KEYS = {"include", "versions", "max_file_mb", "max_run_mb", "leave_out_types", "attachments", "notes"}
MAX_RELATED_LEVELS = 5
TOP_KEYS = {"name", "options", "objects", "order", "source", "target", "description", "mappings"}
MAPPING_KINDS = {"owners", "record_types", "picklists", "fields"}
FIELD_MAPPING_KEYS = {"map", "constants", "constants_on_update"}
OWNER_MAPPING_KEYS = {"default", "map"}
RECORD_TYPE_MAPPING_KEYS = {"default", "map"}
_API_NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,79}$")
MAX_PICKLIST_VALUE = 255
_DEVELOPER_NAME_RE = re.compile(r"^[A-Za-z](?:[A-Za-z0-9]|_(?!_))*(?<!_)$")
_USERNAME_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


@dataclass
class NameMap:
    """Source name -> target name, and the target name for what the map does not name (the JSON shape
    ``{"map": {...}, "default": ...}`` that owner and record type mappings share)."""

    map: dict[str, str] = field(default_factory=dict)
    default: str | None = None

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.default:
            out["default"] = self.default
        if self.map:
            out["map"] = dict(self.map)
        return out


@dataclass
class OwnerMappings(NameMap):
    """``mappings.owners`` of a template: source owner -> target owner, and the default target owner.

    Owners are named by username (a user: the name has an ``@``) or by DeveloperName (a queue)."""

    def target_of(self, source_name: str) -> str | None:
        """The target owner ``map`` names for ``source_name`` (usernames compare case-insensitively)."""
        wanted = owner_key(source_name)
        return next((target for source, target in self.map.items() if owner_key(source) == wanted), None)


@dataclass
class RecordTypeMapping(NameMap):
    """One object's record type mappings: source DeveloperName -> target DeveloperName, and the default."""


@dataclass
class RecordTypeMappings:
    """``mappings.record_types`` of a template: per object, renamed record types and a default record type.

    Record types are named by DeveloperName (exactly, as the org compares them); objects by API name (any case)."""

    objects: dict[str, RecordTypeMapping] = field(default_factory=dict)

    def of(self, object_name: str) -> RecordTypeMapping:
        """The mappings of ``object_name`` (empty when the template has none for it)."""
        lowered = object_name.lower()
        return next((m for name, m in self.objects.items() if name.lower() == lowered), RecordTypeMapping())

    def target_of(self, object_name: str, developer_name: str) -> str | None:
        """The target record type ``map`` names for ``object_name``'s ``developer_name``."""
        return self.of(object_name).map.get(developer_name)

    def as_json(self) -> dict[str, Any]:
        return {name: m.as_json() for name, m in self.objects.items() if m.as_json()}


@dataclass
class PicklistMappings:
    """``mappings.picklists`` of a template: per ``Object.Field``, source value -> target value."""

    fields: dict[str, dict[str, str]] = field(default_factory=dict)

    def of(self, object_name: str, field_name: str) -> dict[str, str]:
        """The value map of ``object_name.field_name`` (names in any case; empty when none)."""
        wanted = f"{object_name}.{field_name}".lower()
        return next((m for name, m in self.fields.items() if name.lower() == wanted), {})

    def as_json(self) -> dict[str, Any]:
        return {name: dict(m) for name, m in self.fields.items() if m}


@dataclass
class FieldMapping:
    """One object's field mappings: source field -> target field (API names), and constants for target fields."""

    map: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    constants_on_update: bool = False    # constants are written on insert only unless this is set

    def target_of(self, source_field: str) -> str | None:
        """The target field ``map`` names for ``source_field`` (any case)."""
        lowered = source_field.lower()
        return next((t for s, t in self.map.items() if s.lower() == lowered), None)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.map:
            out["map"] = dict(self.map)
        if self.constants:
            out["constants"] = dict(self.constants)
        if self.constants_on_update:
            out["constants_on_update"] = True
        return out


@dataclass
class FieldMappings:
    """``mappings.fields`` of a template: per object, renamed fields and constants (objects in any case)."""

    objects: dict[str, FieldMapping] = field(default_factory=dict)

    def of(self, object_name: str) -> FieldMapping:
        """The field mappings of ``object_name`` (empty when the template has none for it)."""
        lowered = object_name.lower()
        return next((m for name, m in self.objects.items() if name.lower() == lowered), FieldMapping())

    def as_json(self) -> dict[str, Any]:
        return {name: m.as_json() for name, m in self.objects.items() if m.as_json()}


def is_username(name: str) -> bool:
    """Whether an owner name is a username (else it is a queue's DeveloperName)."""
    return "@" in name


def owner_key(name: str) -> str:
    """How owner names compare: usernames case-insensitively, DeveloperNames exactly (as the org does)."""
    return name.lower() if is_username(name) else name


@dataclass
class FilesOption:
    """A line's "with their files": which Salesforce Files, Attachments and Notes of its records are copied
    after them (engine/run/files.py)."""

    versions: str = "latest"                 # "latest": each file's latest version; "all": every version, in order
    max_file_mb: float | None = None         # a larger file is left out (the org's own limit still applies)
    max_run_mb: float | None = None          # files beyond this many MB in one run are left out
    leave_out_types: list[str] = field(default_factory=list)   # file extensions left out, lower case, no dot
    attachments: bool = True                 # legacy Attachments (ParentId) too
    notes: bool = True                       # legacy Notes (ParentId) too

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"include": True, "versions": self.versions, "attachments": self.attachments,
                               "notes": self.notes}
        if self.max_file_mb is not None:
            out["max_file_mb"] = self.max_file_mb
        if self.max_run_mb is not None:
            out["max_run_mb"] = self.max_run_mb
        if self.leave_out_types:
            out["leave_out_types"] = list(self.leave_out_types)
        return out


def parse_files_option(value: Any, where: str) -> FilesOption | None:
    """A line's ``files``: ``true``/``false`` or ``{"include": true, "versions": "latest"|"all", "max_file_mb": N,
    "max_run_mb": N, "leave_out_types": ["exe"], "attachments": true, "notes": true}``; None when not included."""
    if isinstance(value, bool):
        return FilesOption() if value else None
    if not isinstance(value, dict):
        raise TemplateError(f"{where} must be true, false or {{\"include\": true, \"versions\": \"latest\", ...}}")
    unknown = set(value) - FILES_KEYS
    if unknown:
        raise TemplateError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}; "
                            f"allowed: {', '.join(sorted(FILES_KEYS))}")
    if not _bool(value.get("include", True), f"{where}.include"):
        return None
    versions = value.get("versions", "latest")
    if versions not in ("latest", "all"):
        raise TemplateError(f"{where}.versions must be \"latest\" (each file's latest version) or \"all\" "
                            "(every version)")
    limits: dict[str, float | None] = {}
    for key in ("max_file_mb", "max_run_mb"):
        number = value.get(key)
        if number is not None and (isinstance(number, bool) or not isinstance(number, (int, float)) or number <= 0):
            raise TemplateError(f"{where}.{key} must be a number of megabytes above 0 (or left out for no limit)")
        limits[key] = number
    types = []
    for item in _str_list(value.get("leave_out_types", []), f"{where}.leave_out_types"):
        kind = item.strip().lstrip(".").lower()
        if not kind or not kind.isalnum():
            raise TemplateError(f"{where}.leave_out_types must be file extensions such as \"exe\" or \"zip\", "
                                f"not {item!r}")
        types.append(kind)
    return FilesOption(versions=versions, max_file_mb=limits["max_file_mb"], max_run_mb=limits["max_run_mb"],
                       leave_out_types=types, attachments=_bool(value.get("attachments", True), f"{where}.attachments"),
                       notes=_bool(value.get("notes", True), f"{where}.notes"))


@dataclass
class ObjectLine:
    """One object of a template."""

    object: str
    fields: list[str] | None = None
    filter: str | None = None
    match_by: list[str] | None = None
    insert: bool = True
    update: bool = True
    limit: int | None = None
    sort: str | None = None                 # SOQL ORDER BY list, e.g. "Name DESC"
    related_to: dict[str, str] | None = None  # {"object": "Account", "via": "AccountId"}: only their records
    # Lookups not followed to complete a related subset with the parents its records point at: such a
    # lookup is left empty when its parent is not synced by the run (instead of failing the record).
    exclude_parents: list[str] = field(default_factory=list)
    bulk_threshold: int | None = None       # this object's Bulk API 2.0 threshold (the option's when None)
    mask: dict[str, MaskRule] = field(default_factory=dict)   # field -> how it is masked (engine/masking.py)
    files: FilesOption | None = None        # "with their files" (engine/run/files.py); None: records only

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"object": self.object}
        if self.fields is not None:
            out["fields"] = list(self.fields)
        if self.filter:
            out["filter"] = self.filter
        if self.match_by is not None:
            out["match_by"] = list(self.match_by)
        out["insert"] = self.insert
        out["update"] = self.update
        if self.limit is not None:
            out["limit"] = self.limit
        if self.sort:
            out["sort"] = self.sort
        if self.related_to:
            out["related_to"] = dict(self.related_to)
        if self.exclude_parents:
            out["exclude_parents"] = list(self.exclude_parents)
        if self.bulk_threshold is not None:
            out["bulk_threshold"] = self.bulk_threshold
        if self.mask:
            out["mask"] = {name: rule.as_json() for name, rule in self.mask.items()}
        if self.files is not None:
            out["files"] = self.files.as_json()
        return out


@dataclass
class Template:
    """A parsed template."""

    name: str
    objects: list[ObjectLine]
    options: dict[str, Any] = field(default_factory=lambda: copy.deepcopy(OPTION_DEFAULTS))
    order: list[str] | None = None
    source: str | None = None
    target: str | None = None
    description: str | None = None
    owners: OwnerMappings = field(default_factory=OwnerMappings)
    record_types: RecordTypeMappings = field(default_factory=RecordTypeMappings)
    picklists: PicklistMappings = field(default_factory=PicklistMappings)
    field_mappings: FieldMappings = field(default_factory=FieldMappings)

    @property
    def continue_on_error(self) -> bool:
        return bool(self.options.get("continue_on_error", True))

    @property
    def skip_missing_fields(self) -> bool:
        return bool(self.options.get("skip_missing_fields", True))

    @property
    def versioning(self) -> bool:
        return bool(self.options.get("versioning", True))

    @property
    def api_ceiling(self) -> float:
        """Share (0..1] of an org's daily API requests at which a run pauses."""
        return float(self.options.get("api_ceiling_percent", 90)) / 100

    @property
    def delta_sync(self) -> bool:
        return bool(self.options.get("delta_sync", False))

    @property
    def include_deleted(self) -> bool:
        return bool(self.options.get("include_deleted", False))

    @property
    def skip_transactional(self) -> bool:
        return bool(self.options.get("skip_transactional", False))

    @property
    def batch_size(self) -> int:
        return int(self.options.get("batch_size", 200))

    @property
    def in_flight(self) -> int:
        """Requests in flight at once (1: strictly one after the other)."""
        return int(self.options.get("in_flight", 2))

    @property
    def parallel_objects(self) -> int:
        """Objects written at once (1: one after the other, in the plan's order)."""
        return int(self.options.get("parallel_objects", 2))

    @property
    def mask_locale(self) -> str:
        """Faker's locale for masked values."""
        return str(self.options.get("mask_locale") or "en_US")

    @property
    def late_commit_window(self) -> float | None:
        """Seconds a create whose answer was lost may still be committed by the org (None: the org's limit)."""
        value = self.options.get("late_commit_window")
        return None if value is None else float(value)

    def bulk_threshold(self, object_name: str) -> int:
        """From how many records a write of ``object_name`` goes through Bulk API 2.0 (0: never)."""
        line = self.line(object_name)
        if line is not None and line.bulk_threshold is not None:
            return line.bulk_threshold
        return int(self.options.get("bulk_threshold", 2000))

    def line(self, object_name: str) -> ObjectLine | None:
        lowered = object_name.lower()
        return next((line for line in self.objects if line.object.lower() == lowered), None)

    def as_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "options": dict(self.options),
                               "objects": [line.as_json() for line in self.objects]}
        if self.order:
            out["order"] = list(self.order)
        for key in ("source", "target", "description"):
            if getattr(self, key):
                out[key] = getattr(self, key)
        mappings = {kind: value for kind, value in (("owners", self.owners.as_json()),
                                                    ("record_types", self.record_types.as_json()),
                                                    ("picklists", self.picklists.as_json()),
                                                    ("fields", self.field_mappings.as_json())) if value}
        if mappings:
            out["mappings"] = mappings
        return out


def _str_list(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise TemplateError(f"{where} must be a list of names, e.g. [\"Name\", \"Phone\"]")
    return [v.strip() for v in value]


def _threshold(value: Any, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise TemplateError(f"{where} must be a whole number of records (0: never use Bulk API 2.0)")
    return value


def _bool(value: Any, where: str) -> bool:
    if not isinstance(value, bool):
        raise TemplateError(f"{where} must be true or false, not {json.dumps(value)}")
    return value


_SORT_RE = re.compile(r"^[A-Za-z_][\w.]*(\s+(ASC|DESC))?(\s+NULLS\s+(FIRST|LAST))?"
                      r"(\s*,\s*[A-Za-z_][\w.]*(\s+(ASC|DESC))?(\s+NULLS\s+(FIRST|LAST))?)*$", re.IGNORECASE)


def parse_since(value: Any, where: str = "since") -> str:
    """An ISO-8601 date or date/time as the SOQL datetime literal (UTC, ``Z``)."""
    if isinstance(value, str):
        text = value.strip()
        try:
            when = datetime.fromisoformat(text.replace("Z", "+00:00"))
        except ValueError:
            when = None
        if when is not None:
            if when.tzinfo is None:
                when = when.replace(tzinfo=timezone.utc)
            when = when.astimezone(timezone.utc)
            return when.strftime("%Y-%m-%dT%H:%M:%S.") + f"{when.microsecond // 1000:03d}Z"
    raise TemplateError(f"{where} must be an ISO-8601 date or date/time, e.g. 2026-01-31 or 2026-01-31T08:00:00Z")


def _check_related(lines: list[ObjectLine]) -> None:
    """related_to names a line of the template, no cycles, at most MAX_RELATED_LEVELS levels below a root."""
    by_name = {line.object.lower(): line for line in lines}
    for line in lines:
        if not line.related_to:
            continue
        if line.related_to["object"].lower() not in by_name:
            raise TemplateError(f"{line.object}: related_to names {line.related_to['object']}, which is not a line "
                                "of the template")
        seen = [line.object]
        current = line
        while current.related_to:
            current = by_name[current.related_to["object"].lower()]
            if current.object in seen:
                raise TemplateError(f"{line.object}: related_to goes round in a circle "
                                    f"({' -> '.join(seen + [current.object])})")
            seen.append(current.object)
            if len(seen) - 1 > MAX_RELATED_LEVELS:
                raise TemplateError(f"{line.object}: related_to goes more than {MAX_RELATED_LEVELS} levels deep")


def _owner_name(value: Any, where: str) -> str:
    """A username (``ann@acme.example``) or a queue's DeveloperName (``Tier_1_Support``)."""
    text = value.strip() if isinstance(value, str) else ""
    if is_username(text):
        if _USERNAME_RE.match(text) and len(text) <= 80:
            return text
        raise TemplateError(f"{where}: {json.dumps(value)} is not a username (a username looks like an email "
                            "address, e.g. ann@acme.example)")
    if _DEVELOPER_NAME_RE.match(text) and len(text) <= 80:
        return text
    raise TemplateError(f"{where}: {json.dumps(value)} is neither a username (ann@acme.example) nor a queue's "
                        "DeveloperName (letters, digits and single underscores, starting with a letter, e.g. "
                        "Tier_1_Support)")


def _check_mapping_kinds(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict):
        raise TemplateError("\"mappings\" must be an object, e.g. {\"owners\": {\"map\": {\"Escalations\": "
                            "\"Escalation_Team\"}}}")
    unknown = set(document) - MAPPING_KINDS
    if unknown:
        raise TemplateError(f"unknown mapping kind(s): {', '.join(sorted(unknown))}; allowed: "
                            f"{', '.join(sorted(MAPPING_KINDS))}")
    return document


def parse_mappings(document: Any) -> OwnerMappings:
    """The owner mappings of a template's ``mappings`` section: ``{"owners": {"default": ..., "map": {source:
    target}}}`` (the section's other kinds: :func:`parse_record_type_mappings`, :func:`parse_picklist_mappings`)."""
    owners = _check_mapping_kinds(document).get("owners", {})
    if not isinstance(owners, dict):
        raise TemplateError("mappings.owners must be an object with \"default\" and/or \"map\"")
    unknown = set(owners) - OWNER_MAPPING_KEYS
    if unknown:
        raise TemplateError(f"mappings.owners: unknown key(s): {', '.join(sorted(unknown))}; allowed: "
                            f"{', '.join(sorted(OWNER_MAPPING_KEYS))}")
    default = owners.get("default")
    if default is not None:
        default = _owner_name(default, "mappings.owners.default")
    raw_map = owners.get("map", {})
    if not isinstance(raw_map, dict):
        raise TemplateError("mappings.owners.map must be an object of source owner -> target owner, e.g. "
                            "{\"Escalations\": \"Escalation_Team\"}")
    pairs: dict[str, str] = {}
    seen: dict[str, str] = {}
    for source, target in raw_map.items():
        source_name = _owner_name(source, "mappings.owners.map")
        where = f"mappings.owners.map[{json.dumps(source_name)}]"
        if owner_key(source_name) in seen:
            raise TemplateError(f"{where}: {source_name} is mapped twice (also as {seen[owner_key(source_name)]})")
        seen[owner_key(source_name)] = source_name
        pairs[source_name] = _owner_name(target, where)
    return OwnerMappings(map=pairs, default=default)


def _record_type_name(value: Any, where: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if _DEVELOPER_NAME_RE.match(text) and len(text) <= 80:
        return text
    raise TemplateError(f"{where}: {json.dumps(value)} is not a record type's DeveloperName (letters, digits and "
                        "single underscores, starting with a letter, e.g. Channel_Partner)")


def _per_object(raw: dict[str, Any], kind: str, keys: set[str],
                shape: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """The entries of ``mappings.<kind>`` (object name -> its mapping object), each checked: an object's API
    name listed once (case aside), a JSON object holding only ``keys``. Yields (name, where, mapping)."""
    seen: dict[str, str] = {}
    for obj, mapping in raw.items():
        name = obj.strip() if isinstance(obj, str) else ""
        where = f"mappings.{kind}[{json.dumps(obj)}]"
        if not _API_NAME_RE.match(name):
            raise TemplateError(f"{where}: {json.dumps(obj)} is not an object's API name (e.g. Account, Project__c)")
        if name.lower() in seen:
            raise TemplateError(f"{where}: {name} is listed twice (also as {seen[name.lower()]})")
        seen[name.lower()] = name
        if not isinstance(mapping, dict):
            raise TemplateError(f"{where} must be an object with {shape}")
        unknown = set(mapping) - keys
        if unknown:
            raise TemplateError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}; allowed: "
                                f"{', '.join(sorted(keys))}")
        yield name, where, mapping


def parse_record_type_mappings(document: Any) -> RecordTypeMappings:
    """``mappings.record_types``: ``{"Account": {"map": {"Partner": "Channel_Partner"}, "default": "Customer"}}``."""
    raw = _check_mapping_kinds(document).get("record_types", {})
    example = '{"Account": {"map": {"Partner": "Channel_Partner"}, "default": "Customer"}}'
    if not isinstance(raw, dict):
        raise TemplateError(f"mappings.record_types must be an object of object name -> mappings, e.g. {example}")
    out = RecordTypeMappings()
    for name, where, mapping in _per_object(raw, "record_types", RECORD_TYPE_MAPPING_KEYS,
                                            '"default" and/or "map", e.g. {"map": {"Partner": "Channel_Partner"}}'):
        default = mapping.get("default")
        if default is not None:
            default = _record_type_name(default, f"{where}.default")
        raw_map = mapping.get("map", {})
        if not isinstance(raw_map, dict):
            raise TemplateError(f"{where}.map must be an object of source record type -> target record type "
                                '(DeveloperNames), e.g. {"Partner": "Channel_Partner"}')
        pairs = {_record_type_name(source, f"{where}.map"): target for source, target in raw_map.items()}
        pairs = {source: _record_type_name(target, f"{where}.map[{json.dumps(source)}]")
                 for source, target in pairs.items()}
        out.objects[name] = RecordTypeMapping(map=pairs, default=default)
    return out


def _picklist_value(value: Any, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TemplateError(f"{where}: {json.dumps(value)} is not a picklist value (a non-empty text)")
    if len(value) > MAX_PICKLIST_VALUE:
        raise TemplateError(f"{where}: a picklist value has at most {MAX_PICKLIST_VALUE} characters")
    if ";" in value:
        raise TemplateError(f"{where}: {json.dumps(value)} holds a ';': map each value of a multi-select "
                            "picklist on its own")
    return value.strip()


def parse_picklist_mappings(document: Any) -> PicklistMappings:
    """``mappings.picklists``: ``{"Account.Industry": {"Prospect": "Prospecting"}}`` (source value -> target value)."""
    raw = _check_mapping_kinds(document).get("picklists", {})
    example = '{"Account.Industry": {"Prospect": "Prospecting"}}'
    if not isinstance(raw, dict):
        raise TemplateError(f"mappings.picklists must be an object of Object.Field -> value map, e.g. {example}")
    out = PicklistMappings()
    seen: dict[str, str] = {}
    for path, values in raw.items():
        name = path.strip() if isinstance(path, str) else ""
        where = f"mappings.picklists[{json.dumps(path)}]"
        obj, _, fname = name.partition(".")
        if not (_API_NAME_RE.match(obj) and _API_NAME_RE.match(fname)):
            raise TemplateError(f"{where}: {json.dumps(path)} is not Object.Field (e.g. Account.Industry)")
        if name.lower() in seen:
            raise TemplateError(f"{where}: {name} is listed twice (also as {seen[name.lower()]})")
        seen[name.lower()] = name
        if not isinstance(values, dict):
            raise TemplateError(f"{where} must be an object of source value -> target value, e.g. "
                                '{"Prospect": "Prospecting"}')
        pairs: dict[str, str] = {}
        for source, target in values.items():
            source_value = _picklist_value(source, where)
            pairs[source_value] = _picklist_value(target, f"{where}[{json.dumps(source_value)}]")
        out.fields[name] = pairs
    return out


def _field_name(value: Any, where: str) -> str:
    text = value.strip() if isinstance(value, str) else ""
    if _API_NAME_RE.match(text):
        return text
    raise TemplateError(f"{where}: {json.dumps(value)} is not a field's API name (e.g. Customer_Tier__c, "
                        "acme__Customer_Tier__c)")


def parse_field_mappings(document: Any) -> FieldMappings:
    """``mappings.fields``: ``{"Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"},
    "constants": {"Region__c": "EMEA"}}}`` (source field -> target field; target field -> value)."""
    raw = _check_mapping_kinds(document).get("fields", {})
    example = '{"Account": {"map": {"Customer_Tier__c": "acme__Customer_Tier__c"}, "constants": {"Region__c": "EMEA"}}}'
    if not isinstance(raw, dict):
        raise TemplateError(f"mappings.fields must be an object of object name -> field mappings, e.g. {example}")
    out = FieldMappings()
    for name, where, mapping in _per_object(raw, "fields", FIELD_MAPPING_KEYS,
                                            '"map" and/or "constants", e.g. '
                                            '{"map": {"Customer_Tier__c": "acme__Customer_Tier__c"}}'):
        raw_map = mapping.get("map", {})
        if not isinstance(raw_map, dict):
            raise TemplateError(f"{where}.map must be an object of source field -> target field, e.g. "
                                '{"Customer_Tier__c": "acme__Customer_Tier__c"}')
        pairs: dict[str, str] = {}
        targets: dict[str, str] = {}
        for source, target in raw_map.items():
            source_name = _field_name(source, f"{where}.map")
            here = f"{where}.map[{json.dumps(source_name)}]"
            if any(s.lower() == source_name.lower() for s in pairs):
                raise TemplateError(f"{here}: {source_name} is mapped twice")
            target_name = _field_name(target, here)
            if target_name.lower() in targets:
                raise TemplateError(f"{here}: {targets[target_name.lower()]} and {source_name} are both mapped to "
                                    f"{target_name}; a target field takes one source field")
            targets[target_name.lower()] = source_name
            pairs[source_name] = target_name
        raw_constants = mapping.get("constants", {})
        if not isinstance(raw_constants, dict):
            raise TemplateError(f"{where}.constants must be an object of target field -> value, e.g. "
                                '{"Region__c": "EMEA"}')
        constants: dict[str, Any] = {}
        for target, value in raw_constants.items():
            target_name = _field_name(target, f"{where}.constants")
            here = f"{where}.constants[{json.dumps(target_name)}]"
            if target_name.lower() in targets:
                raise TemplateError(f"{here}: {target_name} is filled from {targets[target_name.lower()]} by the "
                                    "map; a field takes a mapped source field or a constant, not both")
            if any(c.lower() == target_name.lower() for c in constants):
                raise TemplateError(f"{here}: {target_name} has two constants")
            if not isinstance(value, (str, int, float, bool)) or (isinstance(value, str) and not value.strip()):
                raise TemplateError(f"{here}: {json.dumps(value)} is not a constant (a text, number or true/false; "
                                    "to leave the field empty, do not list it)")
            constants[target_name] = value
        on_update = _bool(mapping.get("constants_on_update", False), f"{where}.constants_on_update")
        out.objects[name] = FieldMapping(map=pairs, constants=constants, constants_on_update=on_update)
    return out


MAX_TEMPLATE_BYTES = 2_000_000
"""A template file's size limit: hundreds of objects with every field listed stay far below it. A bigger
file is refused before it is read (it would be copied into every job that runs it)."""
MAX_TEMPLATE_DEPTH = 16
"""How deeply a template's JSON may nest (its real shape needs 5: lines, filters, field lists)."""


def _depth(document: Any, limit: int) -> int:
    """How deep ``document`` nests, counting up to ``limit + 1`` at most (iterative: no recursion limit)."""
    deepest, todo = 0, [(document, 1)]
    while todo:
        value, depth = todo.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, depth)
            if deepest > limit:
                return deepest
            todo.extend((item, depth + 1) for item in (value.values() if isinstance(value, dict) else value))
    return deepest


def parse_template(document: Any) -> Template:
    """Check a template document's shape and build a :class:`Template`."""
    if not isinstance(document, dict):
        raise TemplateError("a template is a JSON object with \"name\" and \"objects\"")
    if _depth(document, MAX_TEMPLATE_DEPTH) > MAX_TEMPLATE_DEPTH:
        raise TemplateError(f"it nests deeper than a template ever does (more than {MAX_TEMPLATE_DEPTH} levels)")
    unknown = set(document) - TOP_KEYS
    if unknown:
        raise TemplateError(f"unknown template key(s): {', '.join(sorted(unknown))}; "
                            f"allowed: {', '.join(sorted(TOP_KEYS))}")
    name = document.get("name")
    if not isinstance(name, str) or not name.strip():
        raise TemplateError("the template needs a \"name\"")
    options = copy.deepcopy(OPTION_DEFAULTS)
    raw_options = document.get("options", {})
    if not isinstance(raw_options, dict):
        raise TemplateError("\"options\" must be an object")
    bad_options = set(raw_options) - set(OPTION_DEFAULTS)
    if bad_options:
        raise TemplateError(f"unknown option(s): {', '.join(sorted(bad_options))}; "
                            f"allowed: {', '.join(sorted(OPTION_DEFAULTS))}")
    for key, value in raw_options.items():
        if key == "automation_off":
            from .automation import AutomationError, parse_automation_off

            try:
                value = [item.as_json() for item in parse_automation_off(value)]
            except AutomationError as exc:
                raise TemplateError(f"options.automation_off: {exc}") from None
        elif key == "api_ceiling_percent":
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not 1 <= value <= 100:
                raise TemplateError("options.api_ceiling_percent must be a number from 1 to 100 (share of the "
                                    "org's daily API requests at which a run pauses)")
        elif key == "batch_size":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 200:
                raise TemplateError("options.batch_size must be a whole number from 1 to 200")
        elif key == "bulk_threshold":
            _threshold(value, "options.bulk_threshold")
        elif key == "in_flight":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= 4:
                raise TemplateError("options.in_flight must be a whole number from 1 to 4 (requests at once)")
        elif key == "parallel_objects":
            if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= MAX_PARALLEL_OBJECTS:
                raise TemplateError(f"options.parallel_objects must be a whole number from 1 to {MAX_PARALLEL_OBJECTS} "
                                    "(objects written at once; 1 writes them one after the other)")
        elif key == "late_commit_window":
            if value is not None and (not isinstance(value, (int, float)) or isinstance(value, bool)
                                      or not 0 <= value <= 3600):
                raise TemplateError("options.late_commit_window must be a number of seconds from 0 to 3600, or "
                                    "null for the org's own limit on a request (600)")
        elif key == "since":
            if value is not None:
                value = parse_since(value, "options.since")
        elif key == "mask_locale":
            from faker.config import AVAILABLE_LOCALES

            if not isinstance(value, str) or value not in AVAILABLE_LOCALES:
                raise TemplateError(f"options.mask_locale: {json.dumps(value)} is not a locale masking knows "
                                    "(e.g. en_US, en_GB, de_DE, fr_FR)")
        else:
            _bool(value, f"options.{key}")
        options[key] = value
    raw_objects = document.get("objects")
    if not isinstance(raw_objects, list) or not raw_objects:
        raise TemplateError("\"objects\" must be a non-empty list of object lines")
    lines: list[ObjectLine] = []
    seen: set[str] = set()
    for index, raw in enumerate(raw_objects, start=1):
        where = f"objects[{index}]"
        if not isinstance(raw, dict) or not isinstance(raw.get("object"), str) or not raw["object"].strip():
            raise TemplateError(f"{where} needs an \"object\" name")
        obj = raw["object"].strip()
        where = f"objects[{index}] ({obj})"
        unknown = set(raw) - LINE_KEYS
        if unknown:
            raise TemplateError(f"{where}: unknown key(s): {', '.join(sorted(unknown))}; "
                                f"allowed: {', '.join(sorted(LINE_KEYS))}")
        if obj.lower() in seen:
            raise TemplateError(f"{where}: {obj} is listed twice")
        seen.add(obj.lower())
        limit = raw.get("limit")
        if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
            raise TemplateError(f"{where}: limit must be a whole number above 0")
        sort = raw.get("sort")
        if sort is not None and (not isinstance(sort, str) or not _SORT_RE.match(sort.strip())):
            raise TemplateError(f"{where}: sort must be field names with optional ASC/DESC, e.g. \"Name DESC\"")
        related = raw.get("related_to")
        if related is not None:
            if isinstance(related, str):
                related = {"object": related}
            if not isinstance(related, dict) or not isinstance(related.get("object"), str) \
                    or not related["object"].strip() or set(related) - {"object", "via"} \
                    or not isinstance(related.get("via", ""), str):
                raise TemplateError(f"{where}: related_to must be {{\"object\": \"Account\", \"via\": \"AccountId\"}} "
                                    "(via is optional when one lookup leads there)")
            related = {k: v.strip() for k, v in related.items() if v and v.strip()}
        filter_text = raw.get("filter")
        if filter_text is not None and not isinstance(filter_text, str):
            raise TemplateError(f"{where}: filter must be a SOQL WHERE clause as text")
        fields = _str_list(raw["fields"], f"{where}.fields") if "fields" in raw else None
        match_by = _str_list(raw["match_by"], f"{where}.match_by") if "match_by" in raw else None
        try:
            mask = parse_rules(raw["mask"], fields=fields, match_by=match_by) if raw.get("mask") else {}
        except MaskRuleError as exc:
            raise TemplateError(f"{where}.mask: {exc}") from None
        lines.append(ObjectLine(
            object=obj,
            fields=fields,
            filter=(filter_text or "").strip() or None,
            match_by=match_by,
            insert=_bool(raw.get("insert", True), f"{where}.insert"),
            update=_bool(raw.get("update", True), f"{where}.update"),
            limit=limit,
            sort=sort.strip() if sort else None,
            related_to=related,
            exclude_parents=_str_list(raw["exclude_parents"], f"{where}.exclude_parents")
            if raw.get("exclude_parents") else [],
            bulk_threshold=_threshold(raw["bulk_threshold"], f"{where}.bulk_threshold")
            if raw.get("bulk_threshold") is not None else None,
            mask=mask,
            files=parse_files_option(raw["files"], f"{where}.files") if "files" in raw else None,
        ))
    _check_related(lines)
    order = None
    if document.get("order") is not None:
        order = _str_list(document["order"], "order")
        names = {line.object.lower() for line in lines}
        unknown_order = [o for o in order if o.lower() not in names]
        if unknown_order:
            raise TemplateError(f"order names object(s) not in the template: {', '.join(unknown_order)}")
        if len({o.lower() for o in order}) != len(order):
            raise TemplateError("order lists an object twice")
    raw_mappings = document.get("mappings")
    owners = parse_mappings(raw_mappings) if raw_mappings is not None else OwnerMappings()
    record_types = parse_record_type_mappings(raw_mappings) if raw_mappings is not None else RecordTypeMappings()
    picklists = parse_picklist_mappings(raw_mappings) if raw_mappings is not None else PicklistMappings()
    field_mappings = parse_field_mappings(raw_mappings) if raw_mappings is not None else FieldMappings()
    return Template(name=name.strip(), objects=lines, options=options, order=order,
                    source=document.get("source"), target=document.get("target"),
                    description=document.get("description"), owners=owners, record_types=record_types,
                    picklists=picklists, field_mappings=field_mappings)


def load_template(path: Path | str) -> Template:
    """Read and parse a template file; errors name the file."""
    path = Path(path)
    try:
        size = path.stat().st_size
        if size > MAX_TEMPLATE_BYTES:
            raise TemplateError(f"{path.name}: {size / 1e6:.1f} MB is too big for a template (at most "
                                f"{MAX_TEMPLATE_BYTES / 1e6:.0f} MB); is it a template at all?")
        raw = path.read_bytes()
    except FileNotFoundError:
        raise TemplateError(f"template file not found: {path}") from None
    except OSError as exc:
        raise TemplateError(f"cannot read template {path}: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8-sig")            # a byte-order mark (Windows editors) is fine
    except UnicodeDecodeError as exc:
        raise TemplateError(f"{path.name}: not UTF-8 text (byte 0x{raw[exc.start]:02x} at offset {exc.start}); "
                            "save it as UTF-8") from None
    try:
        document = json.loads(text)
    except json.JSONDecodeError as exc:
        raise TemplateError(f"{path.name}: not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})") from None
    except RecursionError:
        raise TemplateError(f"{path.name}: it nests deeper than a template ever does (more than "
                            f"{MAX_TEMPLATE_DEPTH} levels)") from None
    try:
        return parse_template(document)
    except TemplateError as exc:
        raise TemplateError(f"{path.name}: {exc}") from None


def save_template(template: Template, path: Path | str) -> None:
    paths.atomic_write_text(Path(path), json.dumps(template.as_json(), indent=2) + "\n")
