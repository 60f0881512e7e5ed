"""The Mappings tab of the template editor: how owners (users and queues), record types, picklist values and fields
map from the source to the target, one sub-tab per kind.

Shows the template's ``mappings`` (owners: source owner → target owner and the default owner; record types: per
object, source → target record type and a default; picklist values: per ``Object.Field``, a source value the
target lacks → a target value; fields: per object, source field → target field, and constants, see
:mod:`.mappings_fields`) and edits them in the editor's draft. *Suggest from orgs* reads both orgs' users
and queues, and the record types and picklist fields of the template's objects, on the app's pool and fills in
what the run matches itself (automatic), the most similar target queue, record type or value for one the target
lacks (suggested: saved with the template) and what matches nothing. Before the editor saves, :meth:`problem`
refuses a mapping to an owner, record type, value or field the target org lacks (read once per target;
:meth:`unchecked_note` says when it could not be read).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QTableView, QTabWidget, QVBoxLayout, QWidget)

from ...engine import owner_suggestions as owners_rule
from ...engine.field_suggestions import OrgFields, read_org_fields, suggest_fields
from ...engine.owner_suggestions import OrgOwners, queue_gap, read_owners, suggest_owners
from ...engine.template import OwnerMappings, RecordTypeMapping, Template, is_username
from ...engine.value_suggestions import OrgValues, read_org_values, suggest_picklists, suggest_record_types
from ..context import AppContext
from ..keyboard import widget_shortcut
from ..style import ERROR, MUTED
from .mappings_fields import FieldsPage
from .mappings_models import (AUTOMATIC, NO_MATCH, SET_BY_YOU, SUGGESTED, MappingRow, OwnerMappingsModel,
                              PicklistMappingsModel, RecordTypeDefaultsModel, RecordTypeMappingsModel)
from .mappings_sections import ComboDelegate, MappingSection

logger = logging.getLogger(__name__)

RUNNING_USER_TEXT = "None: the user the sync runs as"
_ORIGINS = {owners_rule.AUTOMATIC: AUTOMATIC, owners_rule.SUGGESTED: SUGGESTED, owners_rule.NO_MATCH: NO_MATCH}

OrgPair = Callable[[], "tuple[str | None, str | None]"]
"""(source alias, target alias) of the template being edited, asked when needed."""
Scope = tuple[list[str], dict[str, "list[str] | None"]]
"""The objects whose record types and picklists are read, and per object the fields (None: all)."""


# ====================================================================== tasks (on pool threads)
def _suggest_task(report: Any, cancel: Any, ctx: AppContext, source: str, target: str,
                  scope: Scope) -> tuple[OrgOwners, OrgOwners, OrgValues, OrgValues, OrgFields, OrgFields]:
    objects, fields = scope
    return (read_owners(ctx.client(source), source, target=False),
            read_owners(ctx.client(target), target, target=True),
            read_org_values(ctx.client(source), source, objects, fields),
            read_org_values(ctx.client(target), target, objects, fields),
            read_org_fields(ctx.client(source), source, objects),
            read_org_fields(ctx.client(target), target, objects))


def _fields_task(report: Any, cancel: Any, ctx: AppContext, source: str, target: str,
                 objects: list[str]) -> tuple[OrgFields, OrgFields]:
    return read_org_fields(ctx.client(source), source, objects), read_org_fields(ctx.client(target), target, objects)


def _target_task(report: Any, cancel: Any, ctx: AppContext, target: str) -> OrgOwners:
    return read_owners(ctx.client(target), target, target=True)


def _target_values_task(report: Any, cancel: Any, ctx: AppContext, target: str, objects: list[str]) -> OrgValues:
    return read_org_values(ctx.client(target), target, objects)


class MappingsPanel(QWidget):
    """The Mappings tab: owners (table and default owner), record types (table and default per object), picklist
    values and fields (mappings and constants), one sub-tab each, edited in the draft given to :meth:`set_template`.

    Signals:
        edited(): the draft's mappings changed.
        suggestions_ready(): *Suggest from orgs* filled the table.
        suggest_failed(str): the orgs could not be read; the reason.
        target_read(str): the owners of this target alias are known (or could not be read).
        busy_changed(bool): whether the panel waits for an org.
    """

    edited = Signal()
    suggestions_ready = Signal()
    suggest_failed = Signal(str)
    target_read = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, ctx: AppContext, orgs: OrgPair, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self._orgs = orgs
        self._draft = Template(name="", objects=[])
        self._owners = OwnerMappings()
        self._source_owners: OrgOwners | None = None
        self._known: dict[str, OrgOwners] = {}       # target alias -> its users and queues, once read
        self._failed: dict[str, str] = {}            # target alias -> why it could not be read
        self._values: dict[str, OrgValues] = {}      # target alias -> its record types and picklists, once read
        self._values_failed: dict[str, str] = {}     # target alias -> why they could not be read
        self._fields: dict[tuple[str, str], tuple[OrgFields, OrgFields]] = {}   # (source, target) -> their fields
        self._fields_failed: dict[tuple[str, str], str] = {}                   # (source, target) -> why not read
        self._busy = 0
        self._filling = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        top = QHBoxLayout()
        top.setSpacing(8)
        self.suggest_button = QPushButton("Suggest from orgs")
        self.suggest_button.setProperty("accent", True)
        self.suggest_button.setToolTip("Read both orgs' users and queues, and the record types and picklists of the "
                                       "template's objects, and fill every section")
        top.addWidget(self.suggest_button, 0, Qt.AlignmentFlag.AlignTop)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setProperty("role", "subtle")
        top.addWidget(self.status_label, 1)
        layout.addLayout(top)
        self.kinds = QTabWidget()
        self.kinds.setDocumentMode(True)
        self.kinds.addTab(self._build_owners(), "Owners")
        self.kinds.addTab(self._build_record_types(), "Record types")
        self.kinds.addTab(self._build_picklists(), "Picklist values")
        self.fields = FieldsPage(self.org_fields)
        self.fields.edited.connect(self._on_fields_edited)
        self.kinds.addTab(self.fields, "Fields")
        layout.addWidget(self.kinds, 1)
        self.suggest_button.clicked.connect(self._on_suggest_button_clicked)
        self._update_state()

    # ================================================================== construction
    def _build_owners(self) -> QWidget:
        box = QWidget()
        column = QVBoxLayout(box)
        column.setContentsMargins(0, 8, 0, 0)
        column.setSpacing(6)
        row = QHBoxLayout()
        row.setSpacing(6)
        intro = QLabel("Who owns the records in the target org. Users match by username, then email, then "
                       "federation id; queues by DeveloperName. A mapping here overrides that; the default owner "
                       "takes what matches nothing.")
        intro.setWordWrap(True)
        intro.setProperty("role", "subtle")
        row.addWidget(intro, 1)
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("A mapping of your own: type the source owner, then choose the target")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected mappings (Delete)")
        for button in (self.add_button, self.remove_button):
            row.addWidget(button, 0, Qt.AlignmentFlag.AlignTop)
        column.addLayout(row)

        self.owners_model = OwnerMappingsModel(self._row_status, self)
        self.owners_view = QTableView()
        self.owners_view.setModel(self.owners_model)
        self.owners_view.setItemDelegateForColumn(OwnerMappingsModel.TARGET, ComboDelegate(lambda _index: self.target_names(), self))
        self.owners_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.owners_view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.owners_view.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                         | QAbstractItemView.EditTrigger.EditKeyPressed
                                         | QAbstractItemView.EditTrigger.AnyKeyPressed)
        self.owners_view.setTabKeyNavigation(False)
        self.owners_view.verticalHeader().hide()
        self.owners_view.verticalHeader().setDefaultSectionSize(26)
        self.owners_view.setShowGrid(False)
        self.owners_view.setAlternatingRowColors(True)
        self.owners_view.setWordWrap(False)
        header = self.owners_view.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for col, width in ((OwnerMappingsModel.SOURCE, 230), (OwnerMappingsModel.TARGET, 230)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, width)
        for col in (OwnerMappingsModel.KIND, OwnerMappingsModel.ORIGIN):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        column.addWidget(self.owners_view, 1)
        self.empty_label = QLabel("No owner mappings: the automatic matching applies. Suggest from orgs shows what "
                                  "it does, and what matches nothing.")
        self.empty_label.setWordWrap(True)
        self.empty_label.setProperty("role", "subtle")
        column.addWidget(self.empty_label)

        default_row = QHBoxLayout()
        default_row.setSpacing(8)
        default_row.addWidget(QLabel("Default owner:"))
        self.default_combo = QComboBox()
        self.default_combo.setEditable(True)
        self.default_combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        self.default_combo.setMinimumWidth(300)
        line = self.default_combo.lineEdit()
        if line is not None:
            line.setPlaceholderText(RUNNING_USER_TEXT)
            line.setClearButtonEnabled(True)
        self.default_combo.setToolTip("Owns the records whose owner matches nothing in the target (a username or a "
                                      "queue's DeveloperName). Empty: the user the sync runs as.")
        default_row.addWidget(self.default_combo, 1)
        self.default_status = QLabel()
        self.default_status.setWordWrap(True)
        default_row.addWidget(self.default_status, 1)
        column.addLayout(default_row)

        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.owners_model.edited.connect(self._on_owners_model_edited)
        self.owners_view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.default_combo.editTextChanged.connect(self._on_default_combo_edit_text_changed)
        widget_shortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.owners_view, self.remove_selected)
        return box

    def _build_record_types(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 8, 0, 0)
        column.setSpacing(6)
        self.record_types_model = RecordTypeMappingsModel(self._record_type_status, self)
        self.record_types = MappingSection(
            self.record_types_model, self._record_type_names,
            intro="Which record type the records get in the target org, per object. The same DeveloperName matches "
                  "by itself; a mapping here renames (Partner → Channel_Partner).",
            empty="No record type mappings: the same DeveloperName matches. Suggest from orgs shows the record types "
                  "of the template's objects, and what the target lacks.",
            add_tip="A mapping of your own: type the object, the source record type, then choose the target",
            widths={RecordTypeMappingsModel.SCOPE: 150, RecordTypeMappingsModel.SOURCE: 190,
                    RecordTypeMappingsModel.TARGET: 190})
        column.addWidget(self.record_types, 3)
        self.defaults_model = RecordTypeDefaultsModel(self._default_status, self)
        self.defaults = MappingSection(
            self.defaults_model, self._record_type_names,
            intro="Default record type per object: the records whose record type matches nothing get it (none: they "
                  "fail).",
            empty="No default record types: a record type that matches nothing fails its records.",
            add_tip="A default of your own: type the object, then choose its record type",
            widths={RecordTypeDefaultsModel.SOURCE: 150, RecordTypeDefaultsModel.TARGET: 190})
        column.addWidget(self.defaults, 2)
        for section in (self.record_types, self.defaults):
            section.edited.connect(self._on_values_edited)
        return page

    def _build_picklists(self) -> QWidget:
        page = QWidget()
        column = QVBoxLayout(page)
        column.setContentsMargins(0, 8, 0, 0)
        self.picklists_model = PicklistMappingsModel(self._picklist_status, self)
        self.picklists = MappingSection(
            self.picklists_model, self._picklist_names,
            intro="Source picklist values the target's picklist lacks, per field (multi-select values each on their "
                  "own). A restricted picklist refuses them; an unrestricted one would save values nobody can pick.",
            empty="No picklist value mappings. Suggest from orgs lists the values of the template's picklists that "
                  "the target lacks, with the most similar target value.",
            add_tip="A mapping of your own: type Object.Field, the source value, then choose the target value",
            widths={PicklistMappingsModel.SCOPE: 170, PicklistMappingsModel.SOURCE: 170,
                    PicklistMappingsModel.TARGET: 170})
        column.addWidget(self.picklists, 1)
        self.picklists.edited.connect(self._on_values_edited)
        return page

    # ================================================================== API
    def set_template(self, draft: Template) -> None:
        """Edit the mappings of ``draft`` (its ``owners``, ``record_types`` and ``picklists`` are changed in place)."""
        self._draft = draft
        self._owners = draft.owners
        self._source_owners = None
        rows = [MappingRow(source, target, SET_BY_YOU) for source, target in self._owners.map.items()]
        self.owners_model.set_rows(rows)
        self._fill_default(self._owners.default or "")
        self.record_types_model.set_rows([MappingRow(source, target, SET_BY_YOU, scope=obj)
                                          for obj, mapping in draft.record_types.objects.items()
                                          for source, target in mapping.map.items()])
        self.defaults_model.set_rows([MappingRow(obj, mapping.default, SET_BY_YOU)
                                      for obj, mapping in draft.record_types.objects.items() if mapping.default])
        self.picklists_model.set_rows([MappingRow(source, target, SET_BY_YOU, scope=path)
                                       for path, values in draft.picklists.fields.items()
                                       for source, target in values.items()])
        self.fields.set_template(draft)
        self._update_state()

    @property
    def target_alias(self) -> str | None:
        return self._orgs()[1]

    def target_owners(self) -> OrgOwners | None:
        """The users and queues of the current target org, when read."""
        target = self.target_alias
        return self._known.get(target) if target else None

    def target_names(self) -> list[str]:
        owners = self.target_owners()
        return owners.names() if owners else []

    def org_fields(self) -> tuple[OrgFields, OrgFields] | None:
        """The fields of the template's source and target orgs, when read."""
        source, target = self._orgs()
        return self._fields.get((source, target)) if source and target else None

    def target_values(self) -> OrgValues | None:
        """The record types and picklists of the current target org, when read."""
        target = self.target_alias
        return self._values.get(target) if target else None

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def suggest(self) -> bool:
        """Read both orgs' users and queues (on a worker) and fill the table; False when an org is missing."""
        source, target = self._orgs()
        if not source or not target:
            self._show_status("Choose the source org and a default target in Settings first.", "error")
            return False
        self._show_status(f"Reading the users, queues, record types and picklists of {source} and {target}…")
        self._start(_suggest_task, source, target, self._scope(), on_finished=self._on_suggest_finished,
                    on_error=partial(self._on_suggest_failed, source, target))
        return True

    def add_row(self, source: str = "", target: str = "") -> int:
        """A row of your own (editing its source cell when ``source`` is empty); its row number."""
        row = self.owners_model.add(MappingRow(source, target, SET_BY_YOU))
        self.owners_view.setCurrentIndex(self.owners_model.index(row, OwnerMappingsModel.SOURCE))
        if not source:
            self.owners_view.edit(self.owners_model.index(row, OwnerMappingsModel.SOURCE))
        self._on_owners_model_edited()
        return row

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.owners_view.selectionModel().selectedRows()})
        removable = [r for r in rows if self.owners_model.row(r).origin != AUTOMATIC]
        if removable:
            self.owners_model.remove(removable)
            self._on_owners_model_edited()

    def needs_target_read(self) -> bool:
        """Whether saving must first read the target org to check the mappings (it has some, never read)."""
        return self._needs_owners_read() or self._needs_values_read() or self._needs_fields_read()

    def _needs_owners_read(self) -> bool:
        target = self.target_alias
        return bool((self._owners.map or self._owners.default) and target and target in self.ctx.registry
                    and target not in self._known and target not in self._failed)

    def _mapped_objects(self) -> list[str]:
        """The objects the record type and picklist mappings name."""
        out = list(self._draft.record_types.objects)
        for path in self._draft.picklists.fields:
            obj = path.partition(".")[0]
            if obj.lower() not in {o.lower() for o in out}:
                out.append(obj)
        return out

    def _needs_values_read(self) -> bool:
        target = self.target_alias
        if not (target and target in self.ctx.registry and target not in self._values_failed):
            return False
        values = self._values.get(target)
        return any(values is None or not values.covers(obj) for obj in self._mapped_objects())

    def _needs_fields_read(self) -> bool:
        source, target = self._orgs()
        if not (source and target and target in self.ctx.registry and source in self.ctx.registry
                and (source, target) not in self._fields_failed):
            return False
        known = self._fields.get((source, target))
        return any(known is None or not known[1].covers(obj) for obj in self.fields.mapped_objects())

    def read_target(self, then: Callable[[], None]) -> None:
        """Read what the target org has that the mappings name (its users and queues, else its record types and
        picklists) on a worker, then call ``then`` (read or not; the editor's save asks again for the rest)."""
        target = self.target_alias
        if not target:
            then()
            return
        if self._needs_fields_read() and not self._needs_owners_read() and not self._needs_values_read():
            source = self._orgs()[0] or ""
            objects = sorted({*self.fields.mapped_objects(), *(line.object for line in self._draft.objects)},
                             key=str.lower)
            self._show_status(f"Reading the fields of {source} and {target}…")
            self._start(_fields_task, source, target, objects,
                        on_finished=partial(self._on_fields_finished, then),
                        on_error=partial(self._on_fields_failed, (source, target), then))
            return
        if self._needs_values_read() and not self._needs_owners_read():
            objects = sorted({*self._mapped_objects(), *(line.object for line in self._draft.objects)}, key=str.lower)
            self._show_status(f"Reading the record types and picklists of {target}…")
            self._start(_target_values_task, target, objects, on_finished=partial(self._on_values_finished, then),
                        on_error=partial(self._on_values_failed, target, then))
            return
        self._show_status(f"Reading the users and queues of {target}…")
        self._start(_target_task, target, on_finished=partial(self._on_target_finished, then),
                    on_error=partial(self._on_target_failed, target, then))

    def problem(self) -> str | None:
        """Why the mappings cannot be saved: a mapping or default owner naming what the target lacks."""
        for row in self.owners_model.rows():
            if row.origin in (SUGGESTED, SET_BY_YOU) and row.target.strip() and not row.source.strip():
                return f"The owner mapping to {row.target} has no source owner: type one, or remove the row."
        owners = self.target_owners()
        if owners is None:
            return self.values_problem()
        for source, target in self._owners.map.items():
            if owners.find(target) is None:
                return (f"The owner mapping {source} → {target} names {self._what(target)} that does not exist in "
                        f"{owners.alias}. Choose one of its users or queues.")
        if self._owners.default and owners.find(self._owners.default) is None:
            return (f"The default owner {self._owners.default} is {self._what(self._owners.default)} that does not "
                    f"exist in {owners.alias}.")
        return self.values_problem()

    def values_problem(self) -> str | None:
        """Why the record type and picklist mappings cannot be saved: a row without its names, or a mapping to a
        record type or value the target lacks (when the target was read)."""
        for row in self.record_types_model.rows():
            if row.origin == SET_BY_YOU and row.target.strip() and not (row.scope.strip() and row.source.strip()):
                return (f"The record type mapping to {row.target} has no object or source record type: type them, "
                        "or remove the row.")
        for row in self.defaults_model.rows():
            if row.origin == SET_BY_YOU and row.target.strip() and not row.source.strip():
                return f"The default record type {row.target} has no object: type one, or remove the row."
        for row in self.picklists_model.rows():
            if row.origin == SET_BY_YOU and row.target.strip() and not (row.scope.strip() and row.source.strip()):
                return (f"The picklist mapping to '{row.target}' has no Object.Field or source value: type them, or "
                        "remove the row.")
        for obj, mapping in self._draft.record_types.objects.items():
            for source, target in mapping.map.items():
                if self._record_type_missing(obj, target):
                    return (f"The record type mapping {obj}: {source} → {target} names a record type that {obj} does "
                            f"not have (active) in {self.target_alias}. Choose one of its record types.")
            if mapping.default and self._record_type_missing(obj, mapping.default):
                return (f"The default record type {mapping.default} of {obj} does not exist (active) on {obj} in "
                        f"{self.target_alias}.")
        for path, values_map in self._draft.picklists.fields.items():
            for source, target in values_map.items():
                missing = self._value_missing(path, target)
                if missing:
                    return f"The picklist mapping {path} '{source}' → '{target}' names {missing}."
        return self.fields.problem()

    def unchecked_note(self) -> str | None:
        """Why the mappings were not checked against the target (None when they were, or there are none)."""
        owners = bool(self._owners.map or self._owners.default)
        values = bool(self._mapped_objects())
        if not (owners or values):
            return self._fields_unchecked_note()
        which = "owner" if not values else "record type and picklist" if not owners else "owner, record type and picklist"
        target = self.target_alias
        if not target:
            return f"the {which} mappings were not checked against a target org: the template has no default target"
        if owners and target not in self._known:
            reason = self._failed.get(target) or f"{target} is not connected"
            return f"the owner mappings were not checked against {target}: it could not be read ({reason})"
        if values and (self._needs_values_read() or target in self._values_failed):
            reason = self._values_failed.get(target) or f"{target} is not connected"
            return f"the record type and picklist mappings were not checked against {target}: it could not be read " \
                f"({reason})"
        return self._fields_unchecked_note()

    def _fields_unchecked_note(self) -> str | None:
        if not self.fields.mapped_objects():
            return None
        source, target = self._orgs()
        if not (source and target):
            return "the field mappings were not checked against the orgs: the template has no source or default target"
        if self._needs_fields_read() or (source, target) in self._fields_failed:
            reason = self._fields_failed.get((source, target)) or f"{source} or {target} is not connected"
            return f"the field mappings were not checked against {source} and {target}: they could not be read " \
                f"({reason})"
        return None

    # ================================================================== internals
    @staticmethod
    def _what(name: str) -> str:
        return "a user" if is_username(name) else "a queue"

    def _start(self, fn: Callable[..., Any], *args: Any, on_finished: Callable[[Any], Any],
               on_error: Callable[[str], Any]) -> None:
        self._busy += 1
        if self._busy == 1:
            self.busy_changed.emit(True)
        self._update_state()
        self.ctx.tasks.start(fn, self.ctx, *args, on_finished=on_finished, on_error=on_error,
                             on_done=self._on_task_done)

    def _on_task_done(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self.busy_changed.emit(False)
        self._update_state()

    def _show_status(self, text: str, level: str = "") -> None:
        self.status_label.setText(text)
        self.status_label.setStyleSheet(f"color: {ERROR};" if level == "error" else "")

    def _fill_default(self, text: str) -> None:
        self._filling = True
        try:
            self.default_combo.clear()
            self.default_combo.addItems(self.target_names())
            self.default_combo.setCurrentIndex(-1)
            self.default_combo.setEditText(text)
        finally:
            self._filling = False

    def _write_draft(self) -> None:
        """The table and the default owner into the draft's ``owners``."""
        self._owners.map = self.owners_model.saved_pairs()
        self._owners.default = self.default_combo.currentText().strip() or None

    def _write_values(self) -> None:
        """The record type, default and picklist tables into the draft's ``record_types`` and ``picklists``."""
        objects: dict[str, RecordTypeMapping] = {}

        def mapping_of(obj: str) -> RecordTypeMapping:
            name = next((o for o in objects if o.lower() == obj.lower()), obj)
            return objects.setdefault(name, RecordTypeMapping())

        for obj, pairs in self.record_types_model.saved_by_scope().items():
            mapping_of(obj).map.update(pairs)
        for obj, default in self.defaults_model.saved_pairs().items():
            mapping_of(obj).default = default
        self._draft.record_types.objects = objects
        self._draft.picklists.fields = self.picklists_model.saved_by_scope()

    def _scope(self) -> Scope:
        objects = [line.object for line in self._draft.objects]
        for obj in [*self._mapped_objects(), *self.fields.mapped_objects()]:
            if obj.lower() not in {x.lower() for x in objects}:
                objects.append(obj)
        return objects, {line.object: line.fields for line in self._draft.objects}

    def _record_type_names(self, row: MappingRow) -> list[str]:
        values = self.target_values()
        return values.record_type_names(row.scope or row.source) if values else []

    def _picklist_names(self, row: MappingRow) -> list[str]:
        values = self.target_values()
        field = values.picklist(row.scope) if values else None
        return list(field.values) if field else []

    def _record_type_missing(self, obj: str, name: str) -> bool:
        values = self.target_values()
        return values is not None and values.covers(obj) and name not in values.record_type_names(obj)

    def _value_missing(self, path: str, value: str) -> str | None:
        """What is wrong with ``value`` as a target value of ``path`` ("a value ... lacks"), None when fine or unread."""
        values = self.target_values()
        if values is None or not values.covers(path.partition(".")[0]):
            return None
        field = values.picklist(path)
        if field is None:
            return f"a field that is not a picklist of {values.alias} (or that it lacks)"
        return None if field.has(value) else f"a value the picklist of {values.alias} does not have"

    def _record_type_status(self, row: MappingRow) -> tuple[str, str | None]:
        target = row.target.strip()
        values = self.target_values()
        if not target:
            default = self._draft.record_types.of(row.scope).default if row.scope else None
            fallback = f"they get the default record type {default}" if default else "their records fail"
            return (row.detail or "not mapped") + f"; {fallback}", "warning" if row.origin == NO_MATCH else None
        if row.scope and self._record_type_missing(row.scope, target):
            return f"{target} is not an active record type of {row.scope} in {values.alias if values else ''}", "error"
        if row.detail:
            return row.detail, None
        return (f"on {row.scope} in {values.alias}" if values is not None and row.scope else ""), None

    def _default_status(self, row: MappingRow) -> tuple[str, str | None]:
        target = row.target.strip()
        values = self.target_values()
        if not target:
            return "none: a record type that matches nothing fails its records", None
        if row.source and self._record_type_missing(row.source, target):
            return f"{target} is not an active record type of {row.source} in {values.alias if values else ''}", \
                "error"
        return (f"on {row.source} in {values.alias}" if values is not None and row.source else ""), None

    def _picklist_status(self, row: MappingRow) -> tuple[str, str | None]:
        target = row.target.strip()
        values = self.target_values()
        if not target:
            return (row.detail or "not mapped") + "; the value is sent as it is", \
                "warning" if row.origin == NO_MATCH else None
        missing = self._value_missing(row.scope, target) if row.scope else None
        if missing:
            return f"'{target}' is {missing}", "error"
        if row.detail:
            return row.detail, None
        return (f"in {row.scope} of {values.alias}" if values is not None and row.scope else ""), None

    def _refresh_values(self) -> None:
        for section in (self.record_types, self.defaults, self.picklists):
            section.model.refresh()
            section.update_state()
        self._update_titles()

    def _update_titles(self) -> None:
        """Each kind's tab says how many rows are suggestions or match nothing (what to check)."""
        for index, (title, model) in enumerate((("Owners", self.owners_model),
                                                ("Record types", self.record_types_model),
                                                ("Picklist values", self.picklists_model))):
            check = sum(1 for r in model.rows() if r.origin in (SUGGESTED, NO_MATCH))
            self.kinds.setTabText(index, f"{title} ({check} to check)" if check else title)
        fields = self.fields.to_check()
        self.kinds.setTabText(self.kinds.indexOf(self.fields), f"Fields ({fields} to check)" if fields else "Fields")

    def _row_status(self, row: MappingRow) -> tuple[str, str | None]:
        owners = self.target_owners()
        target = row.target.strip()
        if not target:
            fallback = f"the default owner {self._owners.default}" if self._owners.default else "the running user"
            return (row.detail or "not mapped") + f"; the records go to {fallback}", \
                "warning" if row.origin == NO_MATCH else None
        if owners is not None and owners.find(target) is None:
            return f"{target} does not exist in {owners.alias}", "error"
        gap = queue_gap(self._source_owners, owners, row.source, target) if row.source else []
        if gap:
            return f"{target} does not take {', '.join(gap)} records in {owners.alias if owners else 'the target'}", \
                "error"
        if row.detail:
            return row.detail, None
        return (f"in {owners.alias}" if owners is not None else ""), None

    def _update_state(self) -> None:
        self._update_titles()
        count = self.owners_model.rowCount()
        self.empty_label.setVisible(count == 0)
        self.owners_view.setVisible(count > 0)
        self.suggest_button.setEnabled(not self.busy)
        rows = [self.owners_model.row(i.row()) for i in self.owners_view.selectionModel().selectedRows()]
        self.remove_button.setEnabled(any(r.origin != AUTOMATIC for r in rows))
        default = self._owners.default
        owners = self.target_owners()
        if default and owners is not None and owners.find(default) is None:
            self.default_status.setText(f"{default} does not exist in {owners.alias}")
            self.default_status.setStyleSheet(f"color: {ERROR};")
        else:
            self.default_status.setText("")
            self.default_status.setStyleSheet(f"color: {MUTED};")

    def _fill_values(self, source: OrgValues, target: OrgValues) -> None:
        """The record type, default and picklist tables from the orgs, keeping the rows set by you."""
        def merged(model: Any, suggestions: list[Any]) -> list[MappingRow]:
            mine = {(r.scope.lower(), r.source): r for r in model.rows() if r.origin == SET_BY_YOU}
            rows: list[MappingRow] = []
            for suggestion in suggestions:
                own = mine.pop((suggestion.scope.lower(), suggestion.source), None)
                rows.append(own if own is not None else
                            MappingRow(suggestion.source, suggestion.target or "", _ORIGINS[suggestion.how],
                                       suggestion.detail, scope=suggestion.scope))
            return rows + list(mine.values())      # mappings of what the source no longer has

        self.record_types_model.set_rows(merged(self.record_types_model, suggest_record_types(source, target)))
        self.picklists_model.set_rows(merged(self.picklists_model, suggest_picklists(source, target)))
        defaults = {r.source.lower(): r for r in self.defaults_model.rows() if r.origin == SET_BY_YOU}
        rows = [defaults.pop(obj.lower(), MappingRow(obj, "", ""))
                for obj in sorted(target.record_types, key=str.lower) if target.record_type_names(obj)]
        self.defaults_model.set_rows(rows + list(defaults.values()))
        self._write_values()
        self._refresh_values()

    def _values_summary(self) -> str:
        def count(model: Any, origin: str) -> int:
            return sum(1 for r in model.rows() if r.origin == origin)
        parts = []
        for noun, model in (("record type", self.record_types_model), ("picklist value", self.picklists_model)):
            suggested, unmatched = count(model, SUGGESTED), count(model, NO_MATCH)
            found = [f"{suggested} suggested"] if suggested else []
            found += [f"{unmatched} without a match"] if unmatched else []
            if found:
                parts.append(f"{noun}s: {', '.join(found)}")
        return ("; ".join(parts).capitalize() + ".") if parts else "Record types and picklist values all match."

    def _summary(self) -> str:
        rows = self.owners_model.rows()
        saved = self.owners_model.saved_pairs()
        suggested = sum(1 for r in rows if r.origin == SUGGESTED and r.target)
        unmatched = sum(1 for r in rows if not r.target.strip())
        parts = [f"{len(saved)} mapping{'' if len(saved) == 1 else 's'} for the template"]
        if suggested:
            parts.append(f"{suggested} suggested: check {'it' if suggested == 1 else 'them'}")
        if unmatched:
            parts.append(f"{unmatched} without a match")
        return "; ".join(parts) + "."

    # ================================================================== slots
    def _on_suggest_button_clicked(self) -> None:
        self.suggest()

    def _on_add_button_clicked(self) -> None:
        self.add_row()

    def _on_remove_button_clicked(self) -> None:
        self.remove_selected()

    def _on_selection_changed(self, *args: Any) -> None:
        self._update_state()

    def _on_values_edited(self) -> None:
        self._write_values()
        self._refresh_values()
        self.edited.emit()

    def _on_owners_model_edited(self) -> None:
        self._write_draft()
        self.owners_model.refresh()
        self._update_state()
        self.edited.emit()

    def _on_default_combo_edit_text_changed(self, text: str) -> None:
        if self._filling:
            return
        self._write_draft()
        self.owners_model.refresh()
        self._update_state()
        self.edited.emit()

    def _on_suggest_finished(self, answer: tuple[OrgOwners, OrgOwners, OrgValues, OrgValues, OrgFields,
                                                 OrgFields]) -> None:
        source, target, source_values, target_values, source_fields, target_fields = answer
        self._fields[(source_fields.alias, target_fields.alias)] = (source_fields, target_fields)
        self._fields_failed.pop((source_fields.alias, target_fields.alias), None)
        self.fields.fill(suggest_fields(self._draft.objects, source_fields, target_fields))
        self._values[target_values.alias] = target_values
        self._values_failed.pop(target_values.alias, None)
        self._fill_values(source_values, target_values)
        self._source_owners = source
        self._known[target.alias] = target
        self._failed.pop(target.alias, None)
        mine = {self.owners_model.key(r.source): r for r in self.owners_model.rows() if r.origin == SET_BY_YOU}
        rows: list[MappingRow] = []
        for suggestion in suggest_owners(source, target):
            own = mine.pop(self.owners_model.key(suggestion.source), None)
            if own is not None:
                rows.append(own)
                continue
            rows.append(MappingRow(suggestion.source, suggestion.target or "", _ORIGINS[suggestion.how],
                                   suggestion.detail))
        rows.extend(mine.values())          # mappings of owners the source no longer has
        self.owners_model.set_rows(rows)
        self._fill_default(self._owners.default or "")
        self._write_draft()
        self._update_state()
        self._refresh_values()
        self._show_status(f"From {source.alias} → {target.alias}: owners: {self._summary()} {self._values_summary()} "
                          f"{self.fields.summary()}")
        logger.info("owner mappings suggested from %s to %s", source.alias, target.alias)
        self.edited.emit()
        self.suggestions_ready.emit()

    def _on_suggest_failed(self, source: str, target: str, text: str) -> None:
        self._show_status(f"Could not read the users and queues of {source} and {target}: {text}", "error")
        self.suggest_failed.emit(text)

    def _on_target_finished(self, then: Callable[[], None], owners: OrgOwners) -> None:
        self._known[owners.alias] = owners
        self._failed.pop(owners.alias, None)
        self._fill_default(self._owners.default or "")
        self.owners_model.refresh()
        self._update_state()
        self._show_status(f"Checked against the users and queues of {owners.alias}.")
        self.target_read.emit(owners.alias)
        then()

    def _on_values_finished(self, then: Callable[[], None], values: OrgValues) -> None:
        self._values[values.alias] = values
        self._values_failed.pop(values.alias, None)
        self._refresh_values()
        self._show_status(f"Checked against the record types and picklists of {values.alias}.")
        self.target_read.emit(values.alias)
        then()

    def _on_fields_finished(self, then: Callable[[], None], answer: tuple[OrgFields, OrgFields]) -> None:
        source, target = answer
        self._fields[(source.alias, target.alias)] = answer
        self._fields_failed.pop((source.alias, target.alias), None)
        self.fields.write()          # constants typed by the target fields
        self.fields.refresh()
        self._show_status(f"Checked against the fields of {source.alias} and {target.alias}.")
        self.target_read.emit(target.alias)
        then()

    def _on_fields_failed(self, orgs: tuple[str, str], then: Callable[[], None], text: str) -> None:
        self._fields_failed[orgs] = text
        self._show_status(f"Could not read the fields of {orgs[0]} and {orgs[1]}: {text}", "error")
        self.target_read.emit(orgs[1])
        then()

    def _on_fields_edited(self) -> None:
        self._update_titles()
        self.edited.emit()

    def _on_values_failed(self, target: str, then: Callable[[], None], text: str) -> None:
        self._values_failed[target] = text
        self._show_status(f"Could not read the record types and picklists of {target}: {text}", "error")
        self.target_read.emit(target)
        then()

    def _on_target_failed(self, target: str, then: Callable[[], None], text: str) -> None:
        self._failed[target] = text
        self._show_status(f"Could not read the users and queues of {target}: {text}", "error")
        self.target_read.emit(target)
        then()


__all__ = ["MappingsPanel", "RUNNING_USER_TEXT"]
