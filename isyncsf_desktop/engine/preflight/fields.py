"""The field checks: fields missing in either org, field-level access, types that cannot hold the source
values, restricted picklists, shorter text and fewer digits, required fields the sync leaves empty, and
the match key.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..fieldmaps import likely_target
from ..picklists import similar_value
from ..plan import SKIPPED_TYPES, SYSTEM_FIELDS
from .context import CheckContext, ScopeObject, counted_severity, plural, quote
from .report import (BLOCKING, FIELD_ACCESS, FIELD_LENGTH, MATCH_KEY, MISSING_FIELD, PICKLIST_VALUES, RECORDS_WILL_FAIL,
                     REQUIRED_FIELD, TYPE_MISMATCH, WARNING)

TEXT_TYPES = frozenset({"string", "textarea", "email", "phone", "url", "picklist", "multipicklist", "combobox",
                        "encryptedstring"})
NUMBER_TYPES = frozenset({"int", "double", "currency", "percent", "long"})
REFERENCE_TYPES = frozenset({"reference", "id"})
_LENGTH_TYPES = TEXT_TYPES - {"picklist", "multipicklist"}
_MAX_IN_LIST_CHARS = 20000


def _ci(mapping: Mapping[str, Any], name: str) -> str | None:
    if name in mapping:
        return name
    lowered = name.lower()
    return next((k for k in mapping if k.lower() == lowered), None)


def _is_required(meta: Mapping[str, Any]) -> bool:
    return bool(meta.get("createable")) and not meta.get("nillable") and not meta.get("defaultedOnCreate") \
        and meta.get("type") != "boolean"


def _conversion(source_type: str, target_type: str) -> str:
    """``ok``, ``lossy`` or ``fail``: can a value of ``source_type`` be saved in ``target_type``?"""
    if source_type == target_type:
        return "ok"
    if target_type in TEXT_TYPES:
        return "lossy" if source_type in REFERENCE_TYPES else "ok"
    if source_type in NUMBER_TYPES and target_type in NUMBER_TYPES:
        return "lossy" if target_type == "int" else "ok"
    if source_type == "date" and target_type == "datetime":
        return "ok"
    if source_type == "datetime" and target_type == "date":
        return "lossy"
    if source_type in REFERENCE_TYPES and target_type in REFERENCE_TYPES:
        return "ok"
    return "fail"


def _picklist_values(meta: Mapping[str, Any]) -> list[str]:
    return [str(v["value"]) for v in meta.get("picklistValues") or [] if v.get("active", True) and "value" in v]


class FieldChecks(CheckContext):
    """The checks of an object's fields and match key."""

    def _scope_fields(self, obj: ScopeObject) -> list[str]:
        """Source field names in scope (canonical case); reports names the source lacks."""
        line = obj.line
        if line.fields is None:
            return [name for name, meta in obj.source.items()
                    if name not in SYSTEM_FIELDS and meta.get("type") not in SKIPPED_TYPES
                    and not meta.get("calculated") and not meta.get("autoNumber") and meta.get("createable")]
        out: list[str] = []
        for requested in line.fields:
            actual = _ci(obj.source, requested)
            if actual is None:
                self.add(MISSING_FIELD, obj.name, requested, None, BLOCKING,
                         f"{obj.name}.{requested} does not exist in the source org (or its user cannot read it)",
                         f"remove {requested} from the template's fields for {obj.name}", side="source")
                continue
            out.append(actual)
        return out

    def _mapped_target(self, obj: ScopeObject, name: str) -> str | None:
        """The target field the template's field mappings carry source field ``name`` into (None: not mapped);
        a mapping to a field the target lacks is reported (the plan refuses it)."""
        mapped = self.field_mappings.of(obj.name).target_of(name)
        if mapped is None:
            return None
        if _ci(obj.target, mapped) is None:
            self.add(MISSING_FIELD, obj.name, name, None, BLOCKING,
                     f"the field mapping {obj.name}.{name} -> {mapped} names a field the target org does not have; "
                     "the sync cannot start with it", f"create {obj.name}.{mapped} in the target org, or map {name} "
                     "to a field it has", side="target", mapped_to=mapped)
        return _ci(obj.target, mapped)

    def check_fields(self, obj: ScopeObject, skip_missing: bool) -> None:
        line = obj.line
        mapping = self.field_mappings.of(obj.name)
        into = {t.lower() for t in mapping.map.values()}
        filled = {c.lower() for c in mapping.constants}     # target fields the sync fills
        for name in self._scope_fields(obj):
            tname = self._mapped_target(obj, name)
            if tname is None and mapping.target_of(name) is not None:
                continue      # reported: a mapping to a field the target lacks
            if tname is None and name.lower() not in into:
                tname = _ci(obj.target, name)
            if tname is None:
                if name.lower() not in into:
                    self._missing_field(obj, name, skip_missing)
                continue
            filled.add(tname.lower())
            smeta, tmeta = obj.source[name], obj.target[tname]
            if not tmeta.get("createable") and not tmeta.get("updateable"):
                self.add(FIELD_ACCESS, obj.name, name, None, WARNING,
                         f"the target org's user cannot edit {obj.name}.{name}; its values are not carried",
                         f"give the target org's user edit access to {obj.name}.{name} (field-level security)",
                         createable=False, updateable=False)
                continue
            obj.fields.append(name)
            if line.insert and not tmeta.get("createable"):
                self.add(FIELD_ACCESS, obj.name, name, None, WARNING,
                         f"the target org's user cannot set {obj.name}.{name} on new records; it stays empty on "
                         "inserted records", f"give the target org's user create access to {obj.name}.{name} "
                         "(field-level security)", createable=False, updateable=True)
            if line.update and not tmeta.get("updateable") and tmeta.get("type") != "reference":
                self.add(FIELD_ACCESS, obj.name, name, None, WARNING,
                         f"the target org's user cannot change {obj.name}.{name} on existing records; updates "
                         "leave it as it is", f"give the target org's user edit access to {obj.name}.{name} "
                         "(field-level security)", createable=True, updateable=False)
            self._type(obj, name, smeta, tmeta)
            if _is_required(tmeta) and smeta.get("nillable", True):
                empty = self.count(line, obj.name, f"{name} = null") if smeta.get("filterable", True) else None
                if empty != 0:
                    self.add(REQUIRED_FIELD, obj.name, name, None, RECORDS_WILL_FAIL,
                             f"{obj.name}.{name} is required in the target org; {plural(empty)} in scope leave "
                             "it empty and will fail", f"fill {name} in the source records, give it a default "
                             "value in the target org, or filter those records out",
                             affected=empty, reason="empty in source")
        for cname in mapping.constants:
            if _ci(obj.target, cname) is None:
                self.add(MISSING_FIELD, obj.name, cname, None, BLOCKING,
                         f"the template's constant for {obj.name}.{cname} names a field the target org does not "
                         "have; the sync cannot start with it", f"create {obj.name}.{cname} in the target org, or "
                         "drop the constant", side="target", constant=True)
        scope = filled
        if line.insert:
            for tname, tmeta in obj.target.items():
                if tname.lower() in scope or tname in SYSTEM_FIELDS or not _is_required(tmeta):
                    continue
                in_scope = self.count(line, obj.name)
                sname = _ci(obj.source, tname)
                suggested = None
                if sname is not None and obj.source[sname].get("createable"):
                    fix = f"add {sname} to the template's fields for {obj.name}"
                else:
                    values = _picklist_values(tmeta)
                    suggested = {"object": obj.name, "field": tname, "value": values[0] if values else None}
                    fix = (f"set a constant for {tname} in the template's field mappings for {obj.name}, or give "
                           f"{obj.name}.{tname} a default value in the target org or make it optional there "
                           "(the source org has no value to send)")
                self.add(REQUIRED_FIELD, obj.name, tname, None, counted_severity(RECORDS_WILL_FAIL, in_scope),
                         f"{obj.name}.{tname} is required in the target org but the template does not fill it: "
                         f"every new record fails (up to {plural(in_scope)} in scope)", fix,
                         affected=in_scope, records_in_scope=in_scope, reason="not in template",
                         suggested_constant=suggested)

    def _missing_field(self, obj: ScopeObject, name: str, skip_missing: bool) -> None:
        line = obj.line
        if line.from_plan:
            severity, fix = BLOCKING, (f"create {obj.name}.{name} in the target org, or build the job's plan "
                                       "again (scan) so it leaves the field out")
            message = f"{obj.name}.{name} is in the job's plan but no longer exists in the target org"
        elif line.fields is None or skip_missing:
            severity, fix = WARNING, f"create {obj.name}.{name} in the target org if its values are needed"
            message = f"{obj.name}.{name} does not exist in the target org; it is left out of the sync"
        else:
            severity = BLOCKING
            fix = (f"create {obj.name}.{name} in the target org, remove it from the template, or turn on "
                   "\"skip missing fields\"")
            message = f"{obj.name}.{name} does not exist in the target org and \"skip missing fields\" is off"
        filled = None
        meta = obj.source.get(name, {})
        if meta.get("filterable", True) and meta.get("type") != "boolean":
            filled = self.count(line, obj.name, f"{name} != null")
        if filled is not None:
            message += f" ({plural(filled)} in scope have a value)"
        guess = likely_target(name, obj.source, obj.target) if not line.from_plan else None
        if guess is not None:
            message = (f"field missing on the target: {obj.name}.{name}"
                       + (f" ({plural(filled)} in scope have a value)" if filled is not None else "")
                       + f" — map to {guess}?")
            fix = f"map {name} to {guess} in the template's field mappings for {obj.name}, or {fix}"
        self.add(MISSING_FIELD, obj.name, name, None, severity, message, fix, side="target",
                 records_with_value=filled,
                 suggested_mapping={"object": obj.name, "source": name, "target": guess} if guess else None)

    def _type(self, obj: ScopeObject, name: str, smeta: dict[str, Any], tmeta: dict[str, Any]) -> None:
        line = obj.line
        stype, ttype = str(smeta.get("type") or "string"), str(tmeta.get("type") or "string")
        filterable = bool(smeta.get("filterable", True))
        conversion = _conversion(stype, ttype)
        if conversion == "fail":
            filled = self.count(line, obj.name, f"{name} != null") if filterable and stype != "boolean" else None
            self.add(TYPE_MISMATCH, obj.name, name, None, counted_severity(RECORDS_WILL_FAIL, filled),
                     f"{obj.name}.{name} is {stype} in the source org but {ttype} in the target org; "
                     f"{plural(filled)} with a value will be rejected",
                     f"change the field type in one org so they match, or leave {name} out of the template",
                     source_type=stype, target_type=ttype, affected=filled)
            return
        if conversion == "lossy":
            self.add(TYPE_MISMATCH, obj.name, name, None, WARNING,
                     f"{obj.name}.{name} is {stype} in the source org but {ttype} in the target org; values may be "
                     "rounded, cut or meaningless there", "check a few synced records, or make the types match",
                     source_type=stype, target_type=ttype)
        if ttype in ("picklist", "multipicklist"):
            self._picklist(obj, name, smeta, tmeta)
        elif ttype in _LENGTH_TYPES and stype in TEXT_TYPES:
            self._length(obj, name, smeta, tmeta)
        elif stype in NUMBER_TYPES and ttype in NUMBER_TYPES and ttype != "int":
            sdigits = int(smeta.get("precision") or 0) - int(smeta.get("scale") or 0)
            tdigits = int(tmeta.get("precision") or 0) - int(tmeta.get("scale") or 0)
            if smeta.get("precision") and tmeta.get("precision") and tdigits < sdigits:
                self.add(FIELD_LENGTH, obj.name, name, None, WARNING,
                         f"{obj.name}.{name} holds {tdigits} digits before the decimal point in the target org but "
                         f"{sdigits} in the source org; larger numbers will be rejected",
                         f"raise the precision of {name} in the target org", source_digits=sdigits,
                         target_digits=tdigits)

    def _picklist(self, obj: ScopeObject, name: str, smeta: dict[str, Any], tmeta: dict[str, Any]) -> None:
        """Values the source uses that the target's picklist lacks, one finding per value with its count and the
        most similar target value as the suggested mapping; the template's picklist mappings resolve them (a
        mapping to a value the target lacks fails the records). Restricted target picklists refuse such values
        (records will fail); unrestricted ones would save them as values nobody picks (a warning)."""
        line = obj.line
        target_values = _picklist_values(tmeta)
        known = {v.lower() for v in target_values}
        mapping = self.picklists.of(obj.name, name)
        source_is_picklist = smeta.get("type") in ("picklist", "multipicklist")
        multi = smeta.get("type") == "multipicklist" or tmeta.get("type") == "multipicklist"
        restricted = bool(tmeta.get("restrictedPicklist"))
        filterable = bool(smeta.get("filterable", True))
        where = f"{obj.name}.{name}"
        labels = {str(v["value"]): str(v.get("label") or v["value"])
                  for v in [*(smeta.get("picklistValues") or []), *(tmeta.get("picklistValues") or [])] if "value" in v}

        def used(value: str) -> int | None:
            if not filterable:
                return None
            return self.count(line, obj.name, f"{name} INCLUDES ({quote(value)})" if multi else f"{name} = {quote(value)}")

        missing = [v for v in _picklist_values(smeta) if v.lower() not in known] if source_is_picklist else []
        for value, target in mapping.items():
            if target.lower() in known:
                continue
            affected = used(value)
            if affected == 0:
                continue
            self.add(PICKLIST_VALUES, obj.name, name, value, counted_severity(RECORDS_WILL_FAIL, affected),
                     f"the picklist mapping {where} '{value}' -> '{target}' names a value the target's picklist does "
                     f"not have; {plural(affected)} in scope with '{value}' will fail",
                     f"add '{target}' to {name} in the target org, or change the mapping", values=[value],
                     mapped_to=target, restricted=restricted, affected=affected)
        uncounted: list[str] = []
        for value in missing:
            if value in mapping:
                continue      # mapped (to a value the target has, or reported above)
            affected = used(value)
            if affected == 0:
                continue      # no record in scope has it: nothing to map
            if affected is None:
                uncounted.append(value)
                continue
            guess = similar_value(value, labels, target_values)
            fix = (f"map '{value}' to '{guess}' in the template's picklist mappings for {where}, or add '{value}' to "
                   f"{name} in the target org") if guess else \
                f"add '{value}' to {name} in the target org, or map it to a target value in the template"
            what = f"value not in the target's picklist: {where} '{value}' ({plural(affected)})"
            if restricted:
                self.add(PICKLIST_VALUES, obj.name, name, value, counted_severity(RECORDS_WILL_FAIL, affected),
                         f"{what}; the picklist is restricted there, so they will fail", fix, values=[value],
                         restricted=True, affected=affected,
                         suggested_mapping={"field": where, "source": value, "target": guess} if guess else None)
            else:
                self.add(PICKLIST_VALUES, obj.name, name, value, WARNING,
                         f"{what}; the picklist is not restricted there, so they are saved with a value it does not "
                         "list", fix, values=[value], restricted=False, affected=affected,
                         suggested_mapping={"field": where, "source": value, "target": guess} if guess else None)
        if uncounted:
            shown = f"{', '.join(uncounted[:10])}{'...' if len(uncounted) > 10 else ''}"
            self.add(PICKLIST_VALUES, obj.name, name, None, RECORDS_WILL_FAIL if restricted else WARNING,
                     f"{where} in the target org does not list {len(uncounted)} value(s) the source has ({shown}); "
                     + ("the picklist is restricted there, so records with them will fail" if restricted else
                        "they are saved anyway because the picklist is not restricted"),
                     f"add the values to {name} in the target org, or map them in the template's picklist mappings",
                     values=uncounted, restricted=restricted, affected=None)
        if not restricted or tmeta.get("type") != "picklist" or smeta.get("type") == "multipicklist" \
                or not filterable:
            return
        # values the records hold that the source's own picklist does not list (or that are not a picklist there)
        allowed = [*target_values, *missing, *mapping]
        listed = ", ".join(quote(v) for v in allowed)
        if len(listed) >= _MAX_IN_LIST_CHARS:
            return
        stray = self.count(line, obj.name, f"{name} != null AND {name} NOT IN ({listed})" if allowed
                           else f"{name} != null")
        if not stray and (stray == 0 or source_is_picklist):
            return
        message = f"{where} is a restricted picklist in the target org; source values it does not list are rejected"
        if stray is not None:
            message += f": {plural(stray)} in scope use such values and will fail"
        self.add(PICKLIST_VALUES, obj.name, name, None, counted_severity(RECORDS_WILL_FAIL, stray) if stray else WARNING,
                 message, f"add the missing values to {name} in the target org, map them in the template, or filter "
                 "those records out", values=[], restricted=True, affected=stray)

    def _length(self, obj: ScopeObject, name: str, smeta: dict[str, Any], tmeta: dict[str, Any]) -> None:
        slen, tlen = int(smeta.get("length") or 0), int(tmeta.get("length") or 0)
        if not tlen or not slen or tlen >= slen:
            return
        records = self.sample(obj.name)
        affected: int | None = None
        sampled: int | None = None
        if records is not None:
            sampled = len(records)
            affected = sum(1 for r in records if isinstance(r.get(name), str) and len(r[name]) > tlen)
        if affected is None:
            severity = WARNING
            tail = "values longer than that will be rejected (no scan to count them from)"
        elif affected:
            severity = RECORDS_WILL_FAIL
            tail = f"{plural(affected)} of {sampled} scanned have longer values and will fail"
        else:
            severity = WARNING
            tail = f"none of the {sampled} scanned records has a longer value"
        self.add(FIELD_LENGTH, obj.name, name, None, severity,
                 f"{obj.name}.{name} holds {tlen} characters in the target org but {slen} in the source org; {tail}",
                 f"make {name} at least {slen} characters long in the target org, or shorten the source values",
                 source_length=slen, target_length=tlen, affected=affected, sampled=sampled)

    def check_match_key(self, obj: ScopeObject) -> None:
        line = obj.line
        if not line.match_by:
            has_key = any((m.get("externalId") or m.get("nameField")) and _ci(obj.target, n)
                          for n, m in obj.source.items())
            if not has_key:
                self.add(MATCH_KEY, obj.name, None, None, BLOCKING,
                         f"{obj.name} has no external id or name field in both orgs to match records on",
                         f"set \"match_by\" for {obj.name} in the template")
            return
        for path in line.match_by:
            first, _, rest = path.partition(".")
            if not rest:
                if _ci(obj.source, first) is not None and _ci(obj.target, first) is None:
                    self.add(MATCH_KEY, obj.name, first, None, BLOCKING,
                             f"the match key {obj.name}.{first} does not exist in the target org",
                             f"create {first} in the target org or match {obj.name} on another field")
                    continue
                for side, fields in (("target", obj.target), ("source", obj.source)):
                    name = _ci(fields, first)
                    meta = fields.get(name) if name else None
                    if meta is not None and meta.get("filterable") is False:
                        kind = "a long text area" if meta.get("type") == "textarea" else f"a {meta.get('type')} field"
                        self.add(MATCH_KEY, obj.name, name, None, BLOCKING,
                                 f"the match key {obj.name}.{name} cannot find records: the {side} org cannot filter "
                                 f"on it ({kind}), so every sync would fail with INVALID_FIELD",
                                 f"match {obj.name} on a field the org can filter: an external id, Name or a text field")
                        break
                continue
            has_relationship = any(str(m.get("relationshipName") or "").lower() == first.lower()
                                   for m in obj.target.values())
            if not has_relationship:
                self.add(MATCH_KEY, obj.name, path, None, BLOCKING,
                         f"the match key {obj.name}.{path}: the target org has no relationship {first} on "
                         f"{obj.name}", f"match {obj.name} on another field")
