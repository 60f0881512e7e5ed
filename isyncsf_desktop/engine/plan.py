"""The plan of a sync: which fields move, how records match, how lookups map, and in what order.

Built from the template and both orgs' describes. The relationship graph of the in-scope objects
(networkx) gives the migration order: parents before children, master-detail and required lookups
as hard edges, cycles broken at nillable lookups, which are then filled in a second pass
("deferred"). Self-lookups are not edges: the runner inserts such hierarchies level by level.
"""

from __future__ import annotations

import copy
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import networkx as nx

from .fieldmaps import constant_problem, type_problem
from .masking import MaskRuleError, masked_paths, plan_rules
from .template import FieldMapping, Template, TemplateError

logger = logging.getLogger(__name__)

SKIPPED_TYPES = {"address", "location", "base64", "anyType", "complexvalue"}
TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "encryptedstring"})
"""Field types whose values the target refuses past the field's length (``STRING_TOO_LONG``)."""
SYSTEM_FIELDS = {"Id", "IsDeleted", "CreatedDate", "CreatedById", "LastModifiedDate", "LastModifiedById",
                 "SystemModstamp", "LastActivityDate", "LastViewedDate", "LastReferencedDate", "MasterRecordId"}


class DescribeSource(Protocol):
    """What the planner needs from an org (``OrgClient`` provides it)."""

    def describe(self, object_name: str) -> dict[str, Any]: ...
    def object_names(self) -> set[str]: ...
    def count(self, object_name: str, where: str | None = None) -> int: ...


@dataclass
class RefSpec:
    """How one lookup field is carried to the target."""

    field: str
    kind: str                      # "template" | "user" | "recordtype" | "external"
    parents: list[str]             # referenceTo (template objects first)
    relationship: str | None
    hard: bool = False             # master-detail or required: cannot be deferred or left empty
    self_ref: bool = False
    deferred: bool = False


@dataclass
class ObjectPlan:
    """Everything the runner needs for one object."""

    object: str
    fields: list[str]
    insert_fields: list[str]
    update_fields: list[str]
    match_by: list[str]
    filter: str | None
    limit: int | None
    insert: bool
    update: bool
    refs: dict[str, RefSpec] = field(default_factory=dict)
    name_field: str | None = None
    warnings: list[str] = field(default_factory=list)
    field_types: dict[str, str] = field(default_factory=dict)
    sort: str | None = None
    related_to: str | None = None      # only records whose related_via points at the records read for this object
    related_via: str | None = None
    exclude_parents: list[str] = field(default_factory=list)   # lookups not followed to complete a subset
    # Person Accounts (Account in a source org that has them): the fields only a person account sends, and
    # those only a business account sends (Name, which the org composes for a person account)
    person_fields: list[str] = field(default_factory=list)
    business_fields: list[str] = field(default_factory=list)
    # which target records are matched against (Contact in a target org with Person Accounts: not the person
    # contacts, which belong to their accounts and refuse an update through Contact)
    target_filter: str | None = None

    @property
    def person_accounts(self) -> bool:
        return bool(self.person_fields or self.business_fields)
    mask: dict[str, dict[str, Any]] = field(default_factory=dict)        # field -> masking spec (engine/masking.py)
    mask_paths: dict[str, dict[str, Any]] = field(default_factory=dict)  # masked parent path of the match key
    # Field names above are the target's; a field the template maps from a source field of another name
    # is read as that name (target field -> source field), and constants fill target fields on insert.
    source_names: dict[str, str] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    constants_on_update: bool = False
    # the target's length of each text field the plan writes: a longer value is refused before it is sent
    # (the preview says so too); a plan saved before this knew no lengths and leaves it to the org
    field_lengths: dict[str, int] = field(default_factory=dict)

    def source_name(self, name: str) -> str:
        """The source field a target field of the plan is read from."""
        return self.source_names.get(name, name)

    @property
    def self_refs(self) -> list[RefSpec]:
        return [r for r in self.refs.values() if r.self_ref]

    @property
    def deferred_refs(self) -> list[RefSpec]:
        return [r for r in self.refs.values() if r.deferred]


@dataclass
class Plan:
    """The whole plan: order, per-object plans, and what the order defers."""

    order: list[str]
    objects: dict[str, ObjectPlan]
    warnings: list[str] = field(default_factory=list)
    manual_order: bool = False

    def as_json(self) -> dict[str, Any]:
        return {"order": list(self.order), "manual_order": self.manual_order, "warnings": list(self.warnings),
                "objects": {name: asdict(plan) for name, plan in self.objects.items()}}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "Plan":
        objects = {}
        for name, raw in data["objects"].items():
            refs = {k: RefSpec(**v) for k, v in raw.get("refs", {}).items()}
            objects[name] = ObjectPlan(**{**raw, "refs": refs})
        return cls(order=list(data["order"]), objects=objects, warnings=list(data.get("warnings", [])),
                   manual_order=bool(data.get("manual_order", False)))

    @property
    def deferred(self) -> list[tuple[str, str]]:
        return [(name, ref.field) for name in self.order for ref in self.objects[name].deferred_refs]


PERSON_NAME_FIELDS = frozenset({"FirstName", "LastName", "Salutation", "MiddleName", "Suffix"})
NOT_PERSON_CONTACT = "IsPersonAccount = false"
"""The filter a Contact line gets in an org with Person Accounts: person contacts come with their accounts."""


def is_person_account_field(name: str) -> bool:
    """An Account field that only a person account fills (its name, Person*, a Contact field as __pc)."""
    return name in PERSON_NAME_FIELDS or (name.startswith("Person") and name != "PersonContactId") \
        or name.endswith("__pc")


def _fields(describe: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {f["name"]: f for f in describe["fields"]}


def _ci(mapping: dict[str, Any], name: str) -> str | None:
    if name in mapping:
        return name
    lowered = name.lower()
    return next((k for k in mapping if k.lower() == lowered), None)


def _describe(org: DescribeSource, object_name: str, side: str) -> dict[str, Any]:
    names = org.object_names()
    actual = _ci({n: None for n in names}, object_name)
    if actual is None:
        raise TemplateError(f"{object_name} does not exist in the {side} org")
    return org.describe(actual)


def _warm_describes(org: DescribeSource, object_names: list[str]) -> None:
    """Describe ``object_names`` on ``org`` ahead (its client keeps describes), so that one org's describes go
    while the other's are read. What fails here is left for the planner's own call to report."""
    try:
        names = {n.lower(): n for n in org.object_names()}
        for name in object_names:
            if name.lower() in names:
                org.describe(names[name.lower()])
    except Exception:   # noqa: BLE001 - the planner describes again and says what is wrong
        logger.debug("describing the target ahead failed; the planner asks again", exc_info=True)


def _is_required(meta: dict[str, Any]) -> bool:
    return bool(meta.get("createable")) and not meta.get("nillable") and not meta.get("defaultedOnCreate")


def _resolve_match_path(path: str, obj: str, source: DescribeSource, target: DescribeSource,
                        src_fields: dict[str, dict[str, Any]], tgt_fields: dict[str, dict[str, Any]],
                        mapping: FieldMapping | None = None) -> str:
    """Validate a match key (``Email`` or ``Account.External_Id__c``); return it in canonical case (a field the
    template maps: the target's name, by its source or its target name)."""
    parts = path.split(".")
    if len(parts) == 1:
        name = _ci(src_fields, path)
        mapped = mapping.target_of(name or path) if mapping is not None else None
        if mapped is None and mapping is not None:
            mapped = next((t for t in mapping.map.values() if t.lower() == path.lower()), None)
        if mapped is not None and _ci(tgt_fields, mapped) is not None:
            return _ci(tgt_fields, mapped) or mapped
        if name is None:
            raise TemplateError(f"{obj}: match_by field {path} is not a field of {obj} in the source org")
        if _ci(tgt_fields, name) is None:
            raise TemplateError(f"{obj}: match_by field {name} does not exist on {obj} in the target org")
        return name
    current_fields, current_tgt, current_obj = src_fields, tgt_fields, obj
    canonical: list[str] = []
    for index, part in enumerate(parts):
        if index == len(parts) - 1:
            name = _ci(current_fields, part)
            if name is None or _ci(current_tgt, part) is None:
                raise TemplateError(f"{obj}: match_by path {path}: {part} is not a field of {current_obj} "
                                    "in both orgs")
            canonical.append(name)
            break
        ref = next((f for f in current_fields.values()
                    if f.get("relationshipName") and f["relationshipName"].lower() == part.lower()), None)
        if ref is None or not ref.get("referenceTo"):
            raise TemplateError(f"{obj}: match_by path {path}: {part} is not a relationship of {current_obj}")
        canonical.append(ref["relationshipName"])
        current_obj = ref["referenceTo"][0]
        current_fields = _fields(_describe(source, current_obj, "source"))
        current_tgt = _fields(_describe(target, current_obj, "target"))
    return ".".join(canonical)


def _default_match(obj: str, src_fields: dict[str, dict[str, Any]], tgt_fields: dict[str, dict[str, Any]],
                   renamed: dict[str, str] | None = None) -> list[str]:
    renamed = renamed or {}
    for flag in ("externalId", "nameField"):
        for name, meta in src_fields.items():
            if meta.get(flag) and renamed.get(name, name) in tgt_fields:
                return [renamed.get(name, name)]
    raise TemplateError(f"{obj}: no external id or name field to match records on; set \"match_by\"")


def _plan_object(template: Template, line: Any, source: DescribeSource, target: DescribeSource,
                 in_template: dict[str, str]) -> ObjectPlan:
    src_desc = _describe(source, line.object, "source")
    tgt_desc = _describe(target, line.object, "target")
    obj = src_desc["name"]
    src_fields, tgt_fields = _fields(src_desc), _fields(tgt_desc)
    warnings: list[str] = []
    if not tgt_desc.get("createable", True) and line.insert:
        warnings.append(f"{obj}: the target user cannot create {obj} records")

    mapping = template.field_mappings.of(obj)
    renamed = _renamed_fields(obj, mapping, src_fields, tgt_fields)   # source field -> target field
    into = {t.lower() for t in renamed.values()}

    def target_name(source_name: str) -> str | None:
        if source_name in renamed:
            return renamed[source_name]
        if source_name.lower() in into:
            return None    # the target field of that name is filled from the mapped source field
        return _ci(tgt_fields, source_name)

    if line.fields is not None:
        wanted: list[tuple[str, str]] = []
        for name in line.fields:
            actual = _ci(src_fields, name)
            if actual is None:
                raise TemplateError(f"{obj}: {name} is not a field of {obj} in the source org")
            tname = target_name(actual)
            if tname is None:
                if actual.lower() in into:
                    warnings.append(f"{obj}.{actual} is not carried: the field mappings fill {actual} in the "
                                    "target org from another source field")
                    continue
                if template.skip_missing_fields:
                    warnings.append(f"{obj}.{actual} does not exist in the target org; it is skipped")
                    continue
                raise TemplateError(f"{obj}.{actual} does not exist in the target org (turn on "
                                    "\"skip missing fields\" to leave it out, or map it to a target field)")
            wanted.append((actual, tname))
    else:
        wanted = []
        for name, meta in src_fields.items():
            if name in SYSTEM_FIELDS or meta.get("type") in SKIPPED_TYPES or meta.get("calculated") \
                    or meta.get("autoNumber") or not meta.get("createable"):
                continue
            tname = target_name(name)
            if tname is None:
                if name.lower() not in into:
                    warnings.append(f"{obj}.{name} does not exist in the target org; it is skipped")
                continue
            wanted.append((name, tname))

    fields: list[str] = []
    insert_fields: list[str] = []
    update_fields: list[str] = []
    field_types: dict[str, str] = {}
    field_lengths: dict[str, int] = {}
    source_names: dict[str, str] = {}
    constant_names = {c.lower() for c in mapping.constants}
    for source_name, name in wanted:
        if name.lower() in constant_names:
            warnings.append(f"{obj}.{name} is set by the template's constant, not carried from the source")
            continue
        tmeta = tgt_fields[name]
        if not tmeta.get("createable") and not tmeta.get("updateable"):
            warnings.append(f"{obj}.{name} cannot be edited by the target org's user; it is skipped")
            continue
        fields.append(name)
        if source_name != name:
            source_names[name] = source_name
        field_types[name] = tmeta.get("type", "string")
        if field_types[name] in TEXT_TYPES and tmeta.get("length"):
            field_lengths[name] = int(tmeta["length"])
        if tmeta.get("createable"):
            insert_fields.append(name)
        if tmeta.get("updateable"):
            update_fields.append(name)
    constants = _constants(obj, mapping, tgt_fields)

    for name, meta in tgt_fields.items():
        if _is_required(meta) and name not in fields and name not in constants and name not in SYSTEM_FIELDS \
                and meta.get("type") != "boolean":
            if name in src_fields and src_fields[name].get("createable") and name.lower() not in into:
                continue  # excluded on purpose by the template's field list
            warnings.append(f"{obj}.{name} is required in the target org but the template does not fill it")

    match_by = [
        _resolve_match_path(p, obj, source, target, src_fields, tgt_fields, mapping) for p in line.match_by
    ] if line.match_by else _default_match(obj, src_fields, tgt_fields, renamed)

    refs: dict[str, RefSpec] = {}
    for name in fields:
        meta = src_fields[source_names.get(name, name)]
        if meta.get("type") != "reference" or not meta.get("referenceTo"):
            continue
        targets = list(meta["referenceTo"])
        tmeta = tgt_fields[name]
        hard = _is_required(tmeta) or bool(tmeta.get("relationshipOrder") is not None and not tmeta.get("nillable"))
        template_parents = [in_template[t.lower()] for t in targets if t.lower() in in_template]
        if template_parents:
            kind = "template"
            parents = template_parents + [t for t in targets if t.lower() not in in_template]
        elif targets == ["User"] or set(targets) <= {"User", "Group"}:
            kind, parents = "user", targets
        elif targets == ["RecordType"]:
            kind, parents = "recordtype", targets
        else:
            kind, parents = "external", targets
        refs[name] = RefSpec(field=name, kind=kind, parents=parents, relationship=meta.get("relationshipName"),
                             hard=hard, self_ref=kind == "template" and obj in template_parents)
    if line.filter:
        try:
            source.count(obj, f"({line.filter})")   # the form the sync uses: a WHERE clause, nothing more
        except Exception as exc:  # the org's own words: OrgApiError carries Salesforce's message
            message = getattr(exc, "message", None) or str(exc)
            raise TemplateError(f"{obj}: the filter is not valid SOQL for the source org: {message.strip()}") from None
    related_to = related_via = None
    if line.related_to:
        related_to = in_template.get(line.related_to["object"].lower(), line.related_to["object"])
        lookups = [n for n, m in src_fields.items() if m.get("type") == "reference"
                   and related_to.lower() in {t.lower() for t in m.get("referenceTo") or []}]
        if line.related_to.get("via"):
            related_via = _ci(src_fields, line.related_to["via"])
            if related_via not in lookups:
                raise TemplateError(f"{obj}: related_to via {line.related_to['via']} is not a lookup from {obj} "
                                    f"to {related_to}")
        elif len(lookups) == 1:
            related_via = lookups[0]
        else:
            raise TemplateError(f"{obj}: " + (f"no lookup leads from {obj} to {related_to}" if not lookups else
                                f"several lookups lead from {obj} to {related_to} ({', '.join(lookups)}); "
                                "name one in related_to \"via\""))
    exclude_parents = []
    for name in line.exclude_parents:
        found = _ci(src_fields, name)
        if found is None or src_fields[found].get("type") != "reference":
            raise TemplateError(f"{obj}: exclude_parents names {name}, which is not a lookup field of {obj}")
        exclude_parents.append(renamed.get(found, found))
    query = getattr(source, "query", None)   # OrgClient has it; a describe-only source skips the check
    if line.sort and query is not None:
        try:
            query(f"SELECT Id FROM {obj} ORDER BY {line.sort} LIMIT 1")
        except Exception as exc:
            message = getattr(exc, "message", None) or str(exc)
            raise TemplateError(f"{obj}: the sort order is not valid SOQL for the source org: {message.strip()}") from None
    name_field = next((n for n, m in src_fields.items() if m.get("nameField")), None)
    person_fields: list[str] = []
    business_fields: list[str] = []
    filter_ = line.filter
    if "IsPersonAccount" in src_fields and obj == "Account":
        person_fields = [n for n in fields if is_person_account_field(n)]
        business_fields = [n for n in fields if n == "Name"]
        if not person_fields and not business_fields:
            business_fields = ["Name"]   # still read IsPersonAccount: the record type says which kind it is
    elif "IsPersonAccount" in src_fields and obj == "Contact":
        # a person contact is created with its person account: copying it as a Contact would make it twice
        filter_ = f"({line.filter}) AND {NOT_PERSON_CONTACT}" if line.filter else NOT_PERSON_CONTACT
    target_filter = NOT_PERSON_CONTACT if obj == "Contact" and "IsPersonAccount" in tgt_fields else None
    try:
        mask = plan_rules(line.mask, tgt_fields, fields, match_by)
    except MaskRuleError as exc:
        raise TemplateError(f"{obj}.mask: {exc}") from None
    return ObjectPlan(object=obj, fields=fields, insert_fields=insert_fields, update_fields=update_fields,
                      match_by=match_by, filter=filter_, limit=line.limit, insert=line.insert,
                      update=line.update, refs=refs, name_field=name_field, warnings=warnings,
                      field_types=field_types, sort=line.sort, related_to=related_to, related_via=related_via,
                      exclude_parents=exclude_parents, person_fields=person_fields,
                      business_fields=business_fields, target_filter=target_filter, mask=mask,
                      source_names=source_names,
                      constants=constants, constants_on_update=mapping.constants_on_update,
                      field_lengths=field_lengths)


def _renamed_fields(obj: str, mapping: FieldMapping, src_fields: dict[str, dict[str, Any]],
                    tgt_fields: dict[str, dict[str, Any]]) -> dict[str, str]:
    """The template's field map of ``obj`` checked against both orgs: source field -> target field (canonical
    case). A field either org lacks, or types that cannot meet, is a :class:`TemplateError` naming it."""
    out: dict[str, str] = {}
    for source_name, target_name in mapping.map.items():
        where = f"{obj}: the field mapping {source_name} -> {target_name}"
        actual = _ci(src_fields, source_name)
        if actual is None:
            raise TemplateError(f"{where} names a source field {obj} does not have in the source org")
        tname = _ci(tgt_fields, target_name)
        if tname is None:
            raise TemplateError(f"{where} names a field {obj} does not have in the target org")
        problem = type_problem(src_fields[actual], tgt_fields[tname])
        if problem:
            raise TemplateError(f"{where} cannot be carried: {problem}")
        out[actual] = tname
    return out


def _constants(obj: str, mapping: FieldMapping, tgt_fields: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The template's constants of ``obj`` checked against the target: target field (canonical case) -> value.
    A field the target lacks or its user cannot set, or a value it cannot take, is a :class:`TemplateError`."""
    out: dict[str, Any] = {}
    for name, value in mapping.constants.items():
        where = f"{obj}: the constant for {name}"
        tname = _ci(tgt_fields, name)
        if tname is None:
            raise TemplateError(f"{where} names a field {obj} does not have in the target org")
        meta = tgt_fields[tname]
        if not meta.get("createable") or (mapping.constants_on_update and not meta.get("updateable")):
            raise TemplateError(f"{where}: the target org's user cannot set {obj}.{tname} "
                                f"({'on insert' if not meta.get('createable') else 'on update'})")
        problem = constant_problem(value, meta)
        if problem:
            raise TemplateError(f"{where} cannot be set: {problem}")
        out[tname] = value
    return out


def field_mapping_problem(obj: str, mapping: FieldMapping, src_fields: dict[str, dict[str, Any]],
                          tgt_fields: dict[str, dict[str, Any]]) -> str | None:
    """Why the plan refuses ``obj``'s field mappings against these fields (a field either org lacks, types that
    cannot meet, a constant the target field cannot take), in its words; None when it takes them."""
    try:
        _renamed_fields(obj, mapping, src_fields, tgt_fields)
        _constants(obj, mapping, tgt_fields)
    except TemplateError as exc:
        return str(exc)
    return None


def relationship_graph(objects: dict[str, ObjectPlan]) -> nx.MultiDiGraph:
    """parent -> child edges, one per lookup field between two different in-scope objects."""
    graph = nx.MultiDiGraph()
    graph.add_nodes_from(objects)
    for child, plan in objects.items():
        for ref in plan.refs.values():
            if ref.kind != "template":
                continue
            for parent in ref.parents:
                if parent in objects and parent != child:
                    graph.add_edge(parent, child, key=ref.field, hard=ref.hard)
    return graph


def detect_order(objects: dict[str, ObjectPlan], preference: list[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Parents first; cycles broken at soft (nillable) lookups. Returns (order, deferred (child, field))."""
    graph = relationship_graph(objects)
    rank = {name: index for index, name in enumerate(preference)}
    deferred: list[tuple[str, str]] = []
    while True:
        try:
            cycle = nx.find_cycle(graph)
        except nx.NetworkXNoCycle:
            break
        soft = [(u, v, k) for u, v, k, *_ in cycle if not graph.edges[u, v, k]["hard"]]
        if not soft:
            path = " -> ".join([cycle[0][0]] + [edge[1] for edge in cycle])
            raise TemplateError(f"the objects {path} require each other (master-detail or required lookups); "
                                "no order can insert them")
        # Break the lookup whose parent the template lists latest: it respects the user's listing.
        parent, child, key = max(soft, key=lambda e: (rank.get(e[0], 0), -rank.get(e[1], 0)))
        graph.remove_edge(parent, child, key)
        deferred.append((child, key))
    simple = nx.DiGraph(graph)
    order = list(nx.lexicographical_topological_sort(simple, key=lambda n: rank.get(n, len(rank))))
    return order, deferred


# Objects whose records are transactions rather than reference or master data: the product's
# "skip transactional objects" leaves them out of a run.
TRANSACTIONAL_OBJECTS = frozenset({
    "Opportunity", "OpportunityLineItem", "OpportunityContactRole", "Case", "CaseComment", "Order", "OrderItem",
    "Quote", "QuoteLineItem", "Task", "Event", "EmailMessage", "Invoice", "InvoiceLine", "Payment",
    "WorkOrder", "WorkOrderLineItem", "ServiceAppointment", "Lead", "Campaign", "CampaignMember",
    "FeedItem", "FeedComment", "ContentVersion", "ContentDocumentLink", "Attachment", "Note",
})


def is_transactional(object_name: str) -> bool:
    return object_name.lower() in {o.lower() for o in TRANSACTIONAL_OBJECTS}


def build_plan(template: Template, source: DescribeSource, target: DescribeSource) -> Plan:
    """Validate the template against both orgs and plan the sync. Raises TemplateError."""
    skipped: list[str] = []
    if template.skip_transactional:
        skipped = [line.object for line in template.objects if is_transactional(line.object)]
        kept = [line for line in template.objects if not is_transactional(line.object)]
        if not kept:
            raise TemplateError("every object of the template is transactional and \"skip transactional "
                                "objects\" is on: nothing would move")
        blocked = [f"{line.object} (related to {line.related_to['object']})" for line in kept
                   if line.related_to and is_transactional(line.related_to["object"])]
        if blocked:
            raise TemplateError(f"{', '.join(blocked)}: related to a transactional object that \"skip "
                                "transactional objects\" leaves out")
        template = copy.copy(template)
        template.objects = kept
        template.order = [o for o in template.order if not is_transactional(o)] if template.order else None
    in_template: dict[str, str] = {}
    # The target's describes are read while the source's are: each is a request whose answer the planner waits on
    # (about a tenth of a 10,000-record run's time on the sandbox went to the two orgs' describes one after the other).
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="isyncsf-describe") as ahead:
        warming = ahead.submit(_warm_describes, target, [line.object for line in template.objects]
                               if target is not source else [])
        try:
            for line in template.objects:
                desc = _describe(source, line.object, "source")
                in_template[desc["name"].lower()] = desc["name"]
        finally:
            warming.result()
    objects: dict[str, ObjectPlan] = {}
    for line in template.objects:
        plan = _plan_object(template, line, source, target, in_template)
        objects[plan.object] = plan
    for plan in objects.values():
        plan.mask_paths = masked_paths(plan, objects)
    preference = [in_template[line.object.lower()] for line in template.objects]
    warnings = [w for plan in objects.values() for w in plan.warnings]
    warnings += [f"{name} is transactional; \"skip transactional objects\" leaves it out" for name in skipped]
    for name, oplan in objects.items():
        if oplan.related_to and name in deferred_children(objects, preference, oplan):
            raise TemplateError(f"{name}: related to {oplan.related_to} through {oplan.related_via}, which a "
                                "relationship cycle fills later; the related records cannot be found first")
    if template.order:
        manual = [in_template[name.lower()] for name in template.order]
        detected, _ = detect_order(objects, preference)
        return reorder(Plan(order=detected, objects=objects), manual + [n for n in detected if n not in manual])
    order, deferred = detect_order(objects, preference)
    for child, field_name in deferred:
        objects[child].refs[field_name].deferred = True
        warnings.append(f"{child}.{field_name} is part of a relationship cycle; it is filled in a second pass")
    return Plan(order=order, objects=objects, warnings=warnings)


def deferred_children(objects: dict[str, ObjectPlan], preference: list[str], oplan: ObjectPlan) -> set[str]:
    """The objects whose related_via lookup the detected order defers (their parent comes later)."""
    _, deferred = detect_order(objects, preference)
    return {child for child, field_name in deferred
            if oplan.source_name(field_name) == oplan.related_via and child == oplan.object}


def forward_lookups(objects: dict[str, ObjectPlan], order: list[str]) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Lookups that ``order`` makes point forward: (deferred fields per object, problems per object).

    A forward nillable lookup is deferred to the second pass; a forward required or master-detail
    lookup is a problem: no order may put that child before its parent.
    """
    position = {name: index for index, name in enumerate(order)}
    deferred: dict[str, list[str]] = {}
    problems: dict[str, str] = {}
    for child in order:
        for ref in objects[child].refs.values():
            if ref.kind != "template" or ref.self_ref:
                continue
            later = [p for p in ref.parents if p in position and position[p] > position[child]]
            if not later:
                continue
            if ref.hard:
                problems.setdefault(child, f"{child} must come after {later[0]}: {child}.{ref.field} is required "
                                           "(or master-detail) and cannot be filled later")
            else:
                deferred.setdefault(child, []).append(ref.field)
    return deferred, problems


def reorder(plan: Plan, order: list[str]) -> Plan:
    """The same plan with a manual order: deferrals recomputed (the GUI's Save Order)."""
    missing = set(plan.objects) - set(order)
    if missing or len(order) != len(plan.objects):
        raise TemplateError(f"the new order must list every object once; missing: {', '.join(sorted(missing))}")
    objects = {name: ObjectPlan(**{**asdict(p), "refs": {k: RefSpec(**{**asdict(r), "deferred": False})
                                                         for k, r in p.refs.items()}})
               for name, p in plan.objects.items()}
    deferred, problems = forward_lookups(objects, order)
    if problems:
        raise TemplateError(next(iter(problems.values())))
    warnings = [w for p in objects.values() for w in p.warnings]
    for child, fields in deferred.items():
        for field_name in fields:
            ref = objects[child].refs[field_name]
            ref.deferred = True
            later = next(p for p in ref.parents if p in order and order.index(p) > order.index(child))
            warnings.append(f"{child}.{field_name} points at {later}, which the order puts later; "
                            "it is filled in a second pass")
    return Plan(order=list(order), objects=objects, warnings=warnings, manual_order=True)


class OrderDraft:
    """An editable migration order with per-object Insert/Update switches (Qt-free).

    The Execute tab's drag-and-drop model calls :meth:`move` and :meth:`set_switch`; the draft
    tells at once which lookups the order defers and which order is impossible.
    """

    def __init__(self, plan: Plan):
        self.plan = plan
        self.order = list(plan.order)
        self.insert = {name: p.insert for name, p in plan.objects.items()}
        self.update = {name: p.update for name, p in plan.objects.items()}
        self._deferred: dict[str, list[str]] = {}
        self.problems: dict[str, str] = {}
        self._recompute()

    def _recompute(self) -> None:
        self._deferred, self.problems = forward_lookups(self.plan.objects, self.order)
        if not self.plan.manual_order and self.order == self.plan.order:
            # the detected order: its cycle breaks are deferrals too
            for name, oplan in self.plan.objects.items():
                for ref in oplan.deferred_refs:
                    if ref.field not in self._deferred.get(name, []):
                        self._deferred.setdefault(name, []).append(ref.field)

    def move(self, source: int, destination: int) -> None:
        item = self.order.pop(source)
        self.order.insert(destination, item)
        self._recompute()

    def set_switch(self, name: str, *, insert: bool | None = None, update: bool | None = None) -> None:
        if insert is not None:
            self.insert[name] = insert
        if update is not None:
            self.update[name] = update

    def deferred_fields(self, name: str) -> list[str]:
        return list(self._deferred.get(name, []))

    def problem_for(self, name: str) -> str | None:
        return self.problems.get(name)

    @property
    def order_changed(self) -> bool:
        return self.order != self.plan.order

    @property
    def dirty(self) -> bool:
        return self.order_changed or any(
            self.insert[n] != p.insert or self.update[n] != p.update for n, p in self.plan.objects.items())

    def apply_to(self, template: Template) -> Template:
        """The template with this order (when changed) and these switches."""
        for line in template.objects:
            name = next((n for n in self.order if n.lower() == line.object.lower()), None)
            if name is not None:
                line.insert, line.update = self.insert[name], self.update[name]
        if self.order_changed or self.plan.manual_order:
            template.order = list(self.order)
        return template
