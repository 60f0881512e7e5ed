"""The Fields sub-tab of the template editor's Mappings tab: per object, source field → target field where the API
names differ (a namespace added or removed, a field renamed), and constants for target fields (on insert, on update
too when ticked).

The panel (:mod:`.mappings_panel`) reads the orgs and hands their fields over (:meth:`FieldsPage.fill` fills the
suggestions: the pre-flight check's guess for each source field of the template's lines the target lacks); this page
shows the rows, says what each row's status is, writes them into the draft's ``field_mappings`` and says why they
cannot be saved (:meth:`FieldsPage.problem`: the template's own shape checks, then the plan's checks against the orgs).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QVBoxLayout, QWidget

from ...engine.field_suggestions import FieldSuggestion, OrgFields, field_mappings_problem
from ...engine.fieldmaps import NUMBERS
from ...engine.plan import field_mapping_problem
from ...engine.template import FieldMapping, FieldMappings, Template, TemplateError, parse_field_mappings
from .mappings_models import NO_MATCH, SAVED_ORIGINS, SET_BY_YOU, SUGGESTED, FieldConstantsModel, FieldMappingsModel, \
    MappingRow
from .mappings_sections import MappingSection

OrgFieldsPair = Callable[[], "tuple[OrgFields, OrgFields] | None"]
"""The fields of the template's (source, target) orgs, when read."""


def shown_value(value: Any) -> str:
    """A constant as its cell shows it (true/false and numbers as in the template file)."""
    return value if isinstance(value, str) else json.dumps(value)


def typed_value(text: str, meta: dict[str, Any] | None) -> Any:
    """The constant a cell's text stands for, by the target field's type (a checkbox takes true/false, a number
    field a number); text the type cannot read stays text, for the plan's check to name."""
    kind = str((meta or {}).get("type") or "")
    if kind == "boolean" and text.lower() in ("true", "false"):
        return text.lower() == "true"
    if kind in NUMBERS:
        for parse in (int, float):
            try:
                return parse(text)
            except ValueError:
                continue
    return text


class FieldsPage(QWidget):
    """Field mappings (source field → target field per object) and constants (target field → value per object),
    edited in the draft given to :meth:`set_template`.

    Signals:
        edited(): the draft's field mappings changed.
    """

    edited = Signal()

    def __init__(self, orgs: OrgFieldsPair, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._orgs = orgs
        self._draft = Template(name="", objects=[])
        self._values: dict[tuple[str, str], Any] = {}    # (object, field) lower case -> the template's constant
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 8, 0, 0)
        column.setSpacing(6)
        self.maps_model = FieldMappingsModel(self._map_status, self)
        self.maps = MappingSection(
            self.maps_model, self._target_field_names,
            intro="Source fields the target org has under another API name, per object (a namespace added or "
                  "removed, a field renamed): the values go into the target field.",
            empty="No field mappings: fields match by API name. Suggest from orgs lists the fields of the template's "
                  "objects that the target lacks, with the field each most likely became.",
            add_tip="A mapping of your own: type the object, the source field, then choose the target field",
            widths={FieldMappingsModel.SCOPE: 120, FieldMappingsModel.SOURCE: 170, FieldMappingsModel.TARGET: 190})
        column.addWidget(self.maps, 3)
        self.constants_model = FieldConstantsModel(self._constant_status, self)
        self.constants = MappingSection(
            self.constants_model, self._value_names,
            intro="Constants: a value for a target field, per object (say a required field the source org does "
                  "not have), written on insert, and on update too when ticked.",
            empty="No constants: the target fields get the source's values (or their defaults).",
            add_tip="A constant of your own: type the object, the target field, then the value",
            widths={FieldConstantsModel.SCOPE: 120, FieldConstantsModel.SOURCE: 170, FieldConstantsModel.TARGET: 120})
        column.addWidget(self.constants, 2)
        for section in (self.maps, self.constants):
            section.edited.connect(self._on_section_edited)

    # ================================================================== API
    def set_template(self, draft: Template) -> None:
        """Edit the field mappings of ``draft`` (its ``field_mappings`` is replaced as they change)."""
        self._draft = draft
        objects = draft.field_mappings.objects
        self._values = {(obj.lower(), name.lower()): value for obj, mapping in objects.items()
                        for name, value in mapping.constants.items()}
        self.maps_model.set_rows([MappingRow(source, target, SET_BY_YOU, scope=obj)
                                  for obj, mapping in objects.items() for source, target in mapping.map.items()])
        self.constants_model.set_rows([MappingRow(name, shown_value(value), SET_BY_YOU, scope=obj)
                                       for obj, mapping in objects.items() for name, value in mapping.constants.items()],
                                      {obj: mapping.constants_on_update for obj, mapping in objects.items()})
        self.refresh()

    def fill(self, suggestions: list[FieldSuggestion]) -> None:
        """The field mapping table from the orgs' suggestions, keeping the rows set by you."""
        mine = {(r.scope.lower(), r.source.lower()): r for r in self.maps_model.rows() if r.origin == SET_BY_YOU}
        rows: list[MappingRow] = []
        for suggestion in suggestions:
            own = mine.pop((suggestion.object.lower(), suggestion.source.lower()), None)
            rows.append(own if own is not None else
                        MappingRow(suggestion.source, suggestion.target or "",
                                   SUGGESTED if suggestion.target else NO_MATCH, suggestion.detail,
                                   scope=suggestion.object))
        self.maps_model.set_rows(rows + list(mine.values()))     # and mappings of fields the target has by now
        self.write()
        self.refresh()

    def mapped_objects(self) -> list[str]:
        """The objects the field mappings and constants name."""
        return list(self._draft.field_mappings.objects)

    def to_check(self) -> int:
        """How many rows are suggestions or match nothing."""
        return sum(1 for r in self.maps_model.rows() if r.origin in (SUGGESTED, NO_MATCH))

    def summary(self) -> str:
        """What the suggestions found ("Fields: 1 suggested."), "" when the target lacks none of the fields."""
        suggested = sum(1 for r in self.maps_model.rows() if r.origin == SUGGESTED)
        unmatched = sum(1 for r in self.maps_model.rows() if r.origin == NO_MATCH)
        found = [f"{suggested} suggested"] if suggested else []
        found += [f"{unmatched} without a match"] if unmatched else []
        return f"Fields: {', '.join(found)}." if found else "Fields all match."

    def write(self) -> None:
        """The tables into the draft's ``field_mappings`` (objects in the case first typed)."""
        objects: dict[str, FieldMapping] = {}

        def mapping_of(obj: str) -> FieldMapping:
            name = next((o for o in objects if o.lower() == obj.lower()), obj)
            return objects.setdefault(name, FieldMapping())

        for row in self.maps_model.rows():
            if row.origin in SAVED_ORIGINS and row.scope.strip() and row.source.strip() and row.target.strip():
                mapping_of(row.scope.strip()).map[row.source.strip()] = row.target.strip()
        known = self._orgs()
        for row in self.constants_model.rows():
            obj, name, text = row.scope.strip(), row.source.strip(), row.target.strip()
            if not (obj and name and text):
                continue
            original = self._values.get((obj.lower(), name.lower()))
            meta = None
            if known is not None and known[1].find(obj, name) is not None:
                meta = known[1].of(obj)[str(known[1].find(obj, name))]
            value = original if original is not None and shown_value(original) == text and meta is None \
                else typed_value(text, meta)
            mapping_of(obj).constants[name] = value
        for obj, mapping in objects.items():
            mapping.constants_on_update = bool(mapping.constants) and self.constants_model.on_update(obj)
        self._draft.field_mappings = FieldMappings(objects)

    def problem(self) -> str | None:
        """Why the field mappings cannot be saved: a row without its names, what the template file cannot hold (a
        target field filled twice), else what the plan would refuse against the orgs (a field the target lacks,
        types that cannot meet, a value the field cannot take) when they were read."""
        for row in self.maps_model.rows():
            if row.origin == SET_BY_YOU and row.target.strip() and not (row.scope.strip() and row.source.strip()):
                return (f"The field mapping to {row.target} has no object or source field: type them, or remove the "
                        "row.")
        for row in self.constants_model.rows():
            if row.target.strip() and not (row.scope.strip() and row.source.strip()):
                return f"The constant '{row.target}' has no object or target field: type them, or remove the row."
            if row.scope.strip() and row.source.strip() and not row.target.strip():
                return (f"The constant for {row.scope}.{row.source} has no value: type one, or remove the row.")
        try:
            parse_field_mappings({"fields": self._draft.field_mappings.as_json()})
        except TemplateError as exc:
            return f"The field mappings cannot be saved: {exc}."
        known = self._orgs()
        if known is None:
            return None
        problem = field_mappings_problem(self._draft.field_mappings, *known)
        if problem is None:
            return None
        return f"{problem} ({known[1].alias})." + (" Choose one of its fields." if "names a field" in problem else "")

    def refresh(self) -> None:
        for section in (self.maps, self.constants):
            section.model.refresh()
            section.update_state()

    # ================================================================== internals
    def _target_field_names(self, row: MappingRow) -> list[str]:
        known = self._orgs()
        return known[1].settable(row.scope) if known is not None and row.scope else []

    def _value_names(self, row: MappingRow) -> list[str]:
        known = self._orgs()
        name = known[1].find(row.scope, row.source) if known is not None and row.scope and row.source else None
        if known is None or name is None:
            return []
        meta = known[1].of(row.scope)[name]
        if meta.get("type") == "boolean":
            return ["true", "false"]
        return [str(v["value"]) for v in meta.get("picklistValues") or [] if v.get("active", True) and "value" in v]

    def _check(self, obj: str, mapping: FieldMapping) -> str | None:
        """What the plan says of one row's mapping against the orgs (None: fine, or the orgs not read for it)."""
        known = self._orgs()
        if known is None or not (known[0].of(obj) and known[1].of(obj)):
            return None
        problem = field_mapping_problem(obj, mapping, known[0].of(obj), known[1].of(obj))
        return problem.partition(": ")[2] if problem else None

    def _map_status(self, row: MappingRow) -> tuple[str, str | None]:
        target = row.target.strip()
        if not target:
            return (row.detail or "not mapped") + "; the field is left out", \
                "warning" if row.origin == NO_MATCH else None
        if row.scope and row.source:
            problem = self._check(row.scope, FieldMapping(map={row.source: target}))
            if problem:
                return problem, "error"
        if row.detail:
            return row.detail, None
        known = self._orgs()
        return (f"on {row.scope} in {known[1].alias}" if known is not None and row.scope else ""), None

    def _constant_status(self, row: MappingRow) -> tuple[str, str | None]:
        obj, name, text = row.scope.strip(), row.source.strip(), row.target.strip()
        if not (obj and name):
            return "type the object and the target field", None
        if not text:
            return "no value: type one", "warning"
        known = self._orgs()
        meta = None
        if known is not None and known[1].find(obj, name) is not None:
            meta = known[1].of(obj)[str(known[1].find(obj, name))]
        on_update = self.constants_model.on_update(obj)
        problem = self._check(obj, FieldMapping(constants={name: typed_value(text, meta)}, constants_on_update=on_update))
        if problem:
            return problem, "error"
        return ("on insert and update" if on_update else "on insert") + \
            (f" in {known[1].alias}" if known is not None and meta is not None else ""), None

    def _on_section_edited(self) -> None:
        self.write()
        self.refresh()
        self.edited.emit()


__all__ = ["FieldsPage", "shown_value", "typed_value"]
