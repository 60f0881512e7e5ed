"""What the template editor knows about orgs and template files, without Qt.

* :class:`DescribeCache` keeps describe answers per org for the session (workers fill it, so it
  is thread-safe), and :class:`CachedOrg` puts it in front of an ``OrgClient`` for the planner.
* :func:`field_choices`, :func:`match_choices`, :func:`check_match_key` and
  :func:`related_objects` turn a describe into what the editor offers.
* :func:`check_filter` and :func:`run_preview` are the network calls (run on workers).
* :func:`scan_templates`, :func:`slugify` and :func:`unique_path` handle the template files;
  :func:`install_demo_template` puts the shipped demo template among them.
"""

from __future__ import annotations

import logging
import re
import shutil
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Any

from ... import paths
from ...engine import scope
from ...engine.events import CancelToken
from ...engine.run.files import FILE_OBJECTS
from ...engine.plan import SKIPPED_TYPES, SYSTEM_FIELDS, DescribeSource, build_plan
from ...engine.template import Template, TemplateError, load_template
from ...salesforce.client import OrgApiError

logger = logging.getLogger(__name__)

#: Objects the engine maps by name instead of copying (owners, queues, record types).
MAPPED_OBJECTS = frozenset({"User", "Group", "RecordType"})
#: HTTP statuses that mean "the org looked at the query and refused it" (not "it could not answer").
_REFUSED = frozenset({400, 404})


# ====================================================================== describe cache
class DescribeCache:
    """Describe answers per org alias, kept for the session; safe to use from worker threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._global: dict[str, dict[str, Any]] = {}
        self._describes: dict[tuple[str, str], dict[str, Any]] = {}

    def global_describe(self, alias: str) -> dict[str, Any] | None:
        with self._lock:
            return self._global.get(alias)

    def describe(self, alias: str, object_name: str) -> dict[str, Any] | None:
        with self._lock:
            return self._describes.get((alias, object_name.lower()))

    def put_global(self, alias: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self._global[alias] = answer

    def put_describe(self, alias: str, object_name: str, answer: dict[str, Any]) -> None:
        with self._lock:
            self._describes[(alias, object_name.lower())] = answer

    def clear(self, alias: str | None = None) -> None:
        """Forget one org's answers (or every org's)."""
        with self._lock:
            if alias is None:
                self._global.clear()
                self._describes.clear()
                return
            self._global.pop(alias, None)
            for key in [k for k in self._describes if k[0] == alias]:
                del self._describes[key]


class CachedOrg:
    """An org client whose describes go through a :class:`DescribeCache` (a ``DescribeSource``).

    Made for one task: it also remembers the counts it asked for, so a preview does not count a
    filtered line twice (once when the plan checks the filter, once for the preview).
    """

    def __init__(self, alias: str, client: Any, cache: DescribeCache):
        self.alias = alias
        self.client = client
        self.cache = cache
        self._counts: dict[tuple[str, str | None], int] = {}

    def describe_global(self) -> dict[str, Any]:
        answer = self.cache.global_describe(self.alias)
        if answer is None:
            answer = self.client.describe_global()
            self.cache.put_global(self.alias, answer)
        return answer

    def describe(self, object_name: str) -> dict[str, Any]:
        answer = self.cache.describe(self.alias, object_name)
        if answer is None:
            answer = self.client.describe(object_name)
            self.cache.put_describe(self.alias, object_name, answer)
        return answer

    def object_names(self) -> set[str]:
        return {str(item["name"]) for item in self.describe_global().get("sobjects", [])}

    def query(self, soql: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        return list(self.client.query(soql, include_deleted=include_deleted))

    def count(self, object_name: str, where: str | None = None) -> int:
        key = (object_name.lower(), where)
        if key not in self._counts:
            self._counts[key] = int(self.client.count(object_name, where))
        return self._counts[key]


# ====================================================================== objects and fields
@dataclass(frozen=True)
class SObjectInfo:
    """One object of an org's describeGlobal, as the "Add objects" list shows it."""

    name: str
    label: str
    custom: bool


def syncable_objects(global_describe: dict[str, Any]) -> list[SObjectInfo]:
    """Objects a template can copy: createable and queryable, sorted by label."""
    out = [SObjectInfo(str(o["name"]), str(o.get("label") or o["name"]), bool(o.get("custom")))
           for o in global_describe.get("sobjects", [])
           if o.get("createable") and o.get("queryable") and not o.get("deprecatedAndHidden")
           and o.get("name") not in MAPPED_OBJECTS]
    return sorted(out, key=lambda o: (o.label.lower(), o.name.lower()))


@dataclass(frozen=True)
class FieldChoice:
    """A field the user can pick for a template line."""

    name: str
    label: str
    type: str
    reference_to: tuple[str, ...] = ()
    required: bool = False          # createable, not nillable, not defaulted: leaving it out fails inserts
    external_id: bool = False

    @property
    def type_text(self) -> str:
        if self.type == "reference" and self.reference_to:
            return "lookup → " + ", ".join(self.reference_to)
        return self.type


def is_default_field(meta: dict[str, Any]) -> bool:
    """Whether the engine takes this field when a line names no fields (see ``engine.plan``)."""
    return bool(meta.get("createable")) and meta.get("name") not in SYSTEM_FIELDS \
        and meta.get("type") not in SKIPPED_TYPES and not meta.get("calculated") and not meta.get("autoNumber")


def field_choices(describe: dict[str, Any], extra: list[str] | None = None) -> list[FieldChoice]:
    """The createable fields of an object (what "all fields" means), plus any ``extra`` it has."""
    wanted = {name.lower() for name in extra or []}
    out: list[FieldChoice] = []
    for meta in describe.get("fields", []):
        if not is_default_field(meta) and str(meta.get("name", "")).lower() not in wanted:
            continue
        out.append(FieldChoice(
            name=str(meta["name"]), label=str(meta.get("label") or meta["name"]), type=str(meta.get("type", "")),
            reference_to=tuple(meta.get("referenceTo") or ()),
            required=bool(meta.get("createable")) and not meta.get("nillable") and not meta.get("defaultedOnCreate")
            and meta.get("type") != "boolean",
            external_id=bool(meta.get("externalId"))))
    return out


def _key_candidate(meta: dict[str, Any]) -> bool:
    return meta.get("name") != "Id" and bool(
        meta.get("externalId") or meta.get("nameField") or meta.get("unique")
        or meta.get("type") == "email" or (meta.get("idLookup") and meta.get("type") != "id"))


def match_choices(describe: dict[str, Any], parent_describe: Callable[[str], dict[str, Any] | None]) -> list[str]:
    """Match key fields worth offering: external ids, unique and name fields, e-mail, and the same
    fields of parents whose describe is at hand (``Account.External_Id__c``)."""
    fields = describe.get("fields", [])
    out = [str(m["name"]) for m in fields if _key_candidate(m)]
    for meta in fields:
        relationship = meta.get("relationshipName")
        targets = meta.get("referenceTo") or []
        if meta.get("type") != "reference" or not relationship or len(targets) != 1 or targets[0] in MAPPED_OBJECTS:
            continue
        parent = parent_describe(targets[0])
        if parent is None:
            continue
        out.extend(f"{relationship}.{m['name']}" for m in parent.get("fields", [])
                   if m.get("externalId") or m.get("nameField"))
    return out


def split_key(text: str) -> list[str]:
    """``"Name, Account.External_Id__c"`` → ``["Name", "Account.External_Id__c"]``."""
    return [part.strip() for part in re.split(r"[,;]", text) if part.strip()]


def check_match_key(parts: list[str], describe: dict[str, Any]) -> str | None:
    """A problem with a match key that the describe alone can tell, or None.

    Plain fields must exist; a path must start at a relationship of the object (the rest of the
    path is checked against the parent when the preview builds the plan).
    """
    names = {str(m["name"]).lower() for m in describe.get("fields", [])}
    relationships = {str(m["relationshipName"]).lower() for m in describe.get("fields", [])
                     if m.get("relationshipName")}
    obj = describe.get("name", "the object")
    for part in parts:
        pieces = part.split(".")
        if any(not p for p in pieces):
            return f"{part!r} is not a field name or a path like Account.External_Id__c"
        if len(pieces) == 1 and pieces[0].lower() not in names:
            return f"{part} is not a field of {obj}"
        if len(pieces) > 1 and pieces[0].lower() not in relationships:
            return f"{pieces[0]} is not a relationship of {obj} (in {part})"
    return None


@dataclass
class Suggestion:
    """A parent or child object of a line that the template does not have yet."""

    object: str
    label: str
    kind: str                         # "parent" | "child"
    via: list[str] = field(default_factory=list)   # the lookup fields that link them
    required: bool = False            # a required or master-detail lookup: the child cannot do without it

    @property
    def text(self) -> str:
        if self.kind == "parent":
            how = f"{self.label} is referenced by {', '.join(self.via)}"
        else:
            how = f"{self.label} records point here through {', '.join(self.via)}"
        return how + (" (required)" if self.required else "")


def related_objects(describe: dict[str, Any], global_describe: dict[str, Any],
                    in_template: set[str]) -> list[Suggestion]:
    """Parents (lookups of this object) and children (its childRelationships) that could be added. Its files,
    attachments and notes are no children to add: the line's "With their files" copies them."""
    syncable = {o.name.lower(): o for o in syncable_objects(global_describe)}
    taken = {name.lower() for name in in_template} | {str(describe.get("name", "")).lower()}
    found: dict[tuple[str, str], Suggestion] = {}

    def note(kind: str, obj: str, via: str, required: bool) -> None:
        info = syncable.get(obj.lower())
        if info is None or obj.lower() in taken:
            return
        item = found.setdefault((kind, info.name), Suggestion(info.name, info.label, kind))
        if via not in item.via:
            item.via.append(via)
        item.required = item.required or required

    for meta in describe.get("fields", []):
        if meta.get("type") != "reference":
            continue
        required = (bool(meta.get("createable")) and not meta.get("nillable")) \
            or meta.get("relationshipOrder") is not None
        for parent in meta.get("referenceTo") or []:
            note("parent", str(parent), str(meta["name"]), required)
    for child in describe.get("childRelationships", []):
        if child.get("deprecatedAndHidden"):
            continue
        if str(child.get("childSObject", "")) in FILE_OBJECTS:   # files, attachments, notes: "With their files"
            continue
        note("child", str(child.get("childSObject", "")), str(child.get("field", "")), bool(child.get("cascadeDelete")))
    order = {"parent": 0, "child": 1}
    return sorted(found.values(), key=lambda s: (order[s.kind], not s.required, s.label.lower()))


# ====================================================================== org calls (on workers)
@dataclass
class FilterCheck:
    """The source org's verdict on a line's filter: ``valid`` None means it could not be asked."""

    valid: bool | None
    count: int | None = None
    message: str = ""


def check_filter(org: DescribeSource, object_name: str, where: str) -> FilterCheck:
    """Count the records of ``object_name`` matching ``where``; the org's own words when it refuses."""
    try:
        return FilterCheck(True, org.count(object_name, where))
    except OrgApiError as exc:
        if exc.status in _REFUSED:
            code = f"{exc.error_code}\n" if exc.error_code else ""   # own line: keeps the caret under the query
            return FilterCheck(False, None, code + exc.message.strip("\n"))
        return FilterCheck(None, None, str(exc))


def filter_reason(message: str) -> str:
    """The gist of an org's SOQL error: its code and last line, without the echoed query and caret."""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if not lines:
        return "the org refused it"
    code = lines[0] if len(lines) > 1 and lines[0].replace("_", "").isalnum() and lines[0].isupper() else ""
    return f"{lines[-1]} ({code})" if code else lines[-1]


@dataclass
class PreviewLine:
    """One row of the preview, in migration order."""

    object: str
    count: int
    total: int                        # before the record limit
    limit: int | None
    filter: str | None
    deferred: list[str] = field(default_factory=list)   # lookups filled in the second pass
    self_refs: list[str] = field(default_factory=list)  # hierarchies inserted level by level
    related_to: str | None = None     # only the records related to this line's records...
    related_via: str | None = None    # ...through this lookup
    sort: str | None = None
    parents_added: int = 0            # records outside the line's scope that a related subset points at


@dataclass
class Preview:
    """Record counts per line from the source org and the detected migration order."""

    source: str
    target: str
    lines: list[PreviewLine]
    warnings: list[str]
    since: str | None = None          # a delta preview: records changed after this
    include_deleted: bool = False

    @property
    def order(self) -> list[str]:
        return [line.object for line in self.lines]


def run_preview(template: Template, source: DescribeSource, target: DescribeSource,
                cancel: CancelToken | None = None, since: str | None = None) -> Preview:
    """Plan the template against both orgs and count each line's records in the source org: its
    filter, its related subset, the delta since ``since`` and deleted records as a run would read them."""
    plan = build_plan(template, source, target)
    if cancel is not None and cancel.cancelled:
        raise RuntimeError(f"the preview stopped: {cancel.reason}")
    counts, added = scope.count_with_parents(source, plan, template, since)
    lines: list[PreviewLine] = []
    for name in plan.order:
        if cancel is not None and cancel.cancelled:
            raise RuntimeError(f"the preview stopped: {cancel.reason}")
        oplan = plan.objects[name]
        count = counts[name]
        total = count
        if oplan.limit is not None and not oplan.related_to and not template.include_deleted:
            where = scope.base_where(oplan, since)
            total = source.count(name, " AND ".join(where) if where else None)   # asked already: cached
        lines.append(PreviewLine(
            object=name, total=total, count=count, limit=oplan.limit, filter=oplan.filter,
            deferred=[r.field for r in oplan.deferred_refs], self_refs=[r.field for r in oplan.self_refs],
            related_to=oplan.related_to, related_via=oplan.related_via, sort=oplan.sort,
            parents_added=added.get(name, 0)))
    return Preview(source=getattr(source, "alias", ""), target=getattr(target, "alias", ""), lines=lines,
                   warnings=list(plan.warnings), since=since, include_deleted=template.include_deleted)


# ====================================================================== template files
DEMO_TEMPLATE = "demo.json"


def install_demo_template() -> Path:
    """Copy the shipped demo template into the templates dir (once); returns its path."""
    target = paths.templates_dir() / DEMO_TEMPLATE
    if not target.exists():
        source = resources.files("isyncsf_desktop").joinpath("data", "templates", DEMO_TEMPLATE)
        with resources.as_file(source) as src:
            shutil.copyfile(src, target)
    return target


@dataclass
class TemplateFile:
    """A template file of the templates folder, read for the list (or why it cannot be read)."""

    path: Path
    name: str
    objects: list[str]
    source: str | None
    target: str | None
    modified: datetime
    description: str | None = None
    error: str | None = None


def read_template_file(path: Path) -> TemplateFile:
    modified = datetime.fromtimestamp(path.stat().st_mtime)
    try:
        template = load_template(path)
    except TemplateError as exc:
        return TemplateFile(path, path.stem, [], None, None, modified, error=str(exc))
    return TemplateFile(path, template.name, [line.object for line in template.objects], template.source,
                        template.target, modified, template.description)


def scan_templates(directory: Path) -> list[TemplateFile]:
    """Every ``*.json`` of ``directory``, by name."""
    out: list[TemplateFile] = []
    for path in sorted(directory.glob("*.json")):
        try:
            out.append(read_template_file(path))
        except OSError as exc:           # vanished or unreadable between glob and stat
            logger.warning("cannot read template %s: %s", path, exc)
    return sorted(out, key=lambda t: (t.name.lower(), t.path.name))


def slugify(name: str) -> str:
    """A file name stem for a template name: ``"Sales data (EU)"`` → ``"sales-data-eu"``."""
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:60] or "template"


def unique_path(directory: Path, name: str, *, keep: Path | None = None) -> Path:
    """``directory/<slug>.json``, numbered when taken (``keep`` counts as free: it is the file itself)."""
    stem = slugify(name)
    candidate = directory / f"{stem}.json"
    number = 2
    while candidate.exists() and candidate != keep:
        candidate = directory / f"{stem}-{number}.json"
        number += 1
    return candidate
