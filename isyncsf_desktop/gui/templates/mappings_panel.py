"""The Mappings tab of the template editor: how owners (users and queues) map from the source to the target.

Shows the template's ``mappings.owners`` (source owner → target owner, and the default owner) and edits them
in the editor's draft. *Suggest from orgs* reads both orgs' users and queues on the app's pool and fills in
what the run matches itself (automatic), the most similar target queue for a source queue the target lacks
(suggested: saved with the template) and what matches nothing. Before the editor saves, :meth:`problem`
refuses a mapping to an owner the target org lacks (read once per target; :meth:`unchecked_note` says when it
could not be read). Another mapping kind (record types, picklist values) is another group box with its own
:class:`~.mappings_models.MappingTableModel`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QStyledItemDelegate, QStyleOptionViewItem, QTableView, QVBoxLayout,
                               QWidget)

from ...engine import owner_suggestions as owners_rule
from ...engine.owner_suggestions import OrgOwners, queue_gap, read_owners, suggest_owners
from ...engine.template import OwnerMappings, Template, is_username
from ..context import AppContext
from ..style import ERROR, MUTED
from .mappings_models import AUTOMATIC, NO_MATCH, SET_BY_YOU, SUGGESTED, MappingRow, OwnerMappingsModel

logger = logging.getLogger(__name__)

RUNNING_USER_TEXT = "None: the user the sync runs as"
_ORIGINS = {owners_rule.AUTOMATIC: AUTOMATIC, owners_rule.SUGGESTED: SUGGESTED, owners_rule.NO_MATCH: NO_MATCH}

OrgPair = Callable[[], "tuple[str | None, str | None]"]
"""(source alias, target alias) of the template being edited, asked when needed."""


# ====================================================================== tasks (on pool threads)
def _suggest_task(report: Any, cancel: Any, ctx: AppContext, source: str, target: str) -> tuple[OrgOwners, OrgOwners]:
    return (read_owners(ctx.client(source), source, target=False),
            read_owners(ctx.client(target), target, target=True))


def _target_task(report: Any, cancel: Any, ctx: AppContext, target: str) -> OrgOwners:
    return read_owners(ctx.client(target), target, target=True)


class TargetDelegate(QStyledItemDelegate):
    """Edits a target cell with an editable combo box of the target org's owners (when they are known)."""

    def __init__(self, names: Callable[[], list[str]], parent: Any = None) -> None:
        super().__init__(parent)
        self._names = names

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,  # noqa: N802 - Qt's name
                     index: QModelIndex | QPersistentModelIndex) -> QWidget:
        combo = QComboBox(parent)
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.addItems(self._names())
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole) or ""))

    def setModelData(self, editor: QWidget, model: Any,  # noqa: N802 - Qt's name
                     index: QModelIndex | QPersistentModelIndex) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)


class MappingsPanel(QWidget):
    """The Mappings tab: owners (table and default owner), edited in the draft given to :meth:`set_template`.

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
        self._owners = OwnerMappings()
        self._source_owners: OrgOwners | None = None
        self._known: dict[str, OrgOwners] = {}       # target alias -> its users and queues, once read
        self._failed: dict[str, str] = {}            # target alias -> why it could not be read
        self._busy = 0
        self._filling = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        intro = QLabel("Who owns the records in the target org. Users match by username, then email, then "
                       "federation id; queues by DeveloperName. A mapping here overrides that; the default owner "
                       "takes what matches nothing.")
        intro.setWordWrap(True)
        intro.setProperty("role", "subtle")
        layout.addWidget(intro)
        layout.addWidget(self._build_owners(), 1)
        self._update_state()

    # ================================================================== construction
    def _build_owners(self) -> QGroupBox:
        box = QGroupBox("Owners: users and queues")
        column = QVBoxLayout(box)
        column.setSpacing(6)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.suggest_button = QPushButton("Suggest from orgs")
        self.suggest_button.setProperty("accent", True)
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip("A mapping of your own: type the source owner, then choose the target")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected mappings (Delete)")
        for button in (self.suggest_button, self.add_button, self.remove_button):
            row.addWidget(button)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setProperty("role", "subtle")
        row.addWidget(self.status_label, 1)
        column.addLayout(row)

        self.owners_model = OwnerMappingsModel(self._row_status, self)
        self.owners_view = QTableView()
        self.owners_view.setModel(self.owners_model)
        self.owners_view.setItemDelegateForColumn(OwnerMappingsModel.TARGET, TargetDelegate(self.target_names, self))
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

        self.suggest_button.clicked.connect(self._on_suggest_button_clicked)
        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button.clicked.connect(self._on_remove_button_clicked)
        self.owners_model.edited.connect(self._on_owners_model_edited)
        self.owners_view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        self.default_combo.editTextChanged.connect(self._on_default_combo_edit_text_changed)
        QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.owners_view, self.remove_selected,
                  context=Qt.ShortcutContext.WidgetShortcut)
        return box

    # ================================================================== API
    def set_template(self, draft: Template) -> None:
        """Edit the mappings of ``draft`` (its ``owners`` is changed in place)."""
        self._owners = draft.owners
        self._source_owners = None
        rows = [MappingRow(source, target, SET_BY_YOU) for source, target in self._owners.map.items()]
        self.owners_model.set_rows(rows)
        self._fill_default(self._owners.default or "")
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

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def suggest(self) -> bool:
        """Read both orgs' users and queues (on a worker) and fill the table; False when an org is missing."""
        source, target = self._orgs()
        if not source or not target:
            self._show_status("Choose the source org and a default target in Settings first.", "error")
            return False
        self._show_status(f"Reading the users and queues of {source} and {target}…")
        self._start(_suggest_task, source, target, on_finished=self._on_suggest_finished,
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
        target = self.target_alias
        return bool((self._owners.map or self._owners.default) and target and target in self.ctx.registry
                    and target not in self._known and target not in self._failed)

    def read_target(self, then: Callable[[], None]) -> None:
        """Read the target org's users and queues on a worker, then call ``then`` (read or not)."""
        target = self.target_alias
        if not target:
            then()
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
            return None
        for source, target in self._owners.map.items():
            if owners.find(target) is None:
                return (f"The owner mapping {source} → {target} names {self._what(target)} that does not exist in "
                        f"{owners.alias}. Choose one of its users or queues.")
        if self._owners.default and owners.find(self._owners.default) is None:
            return (f"The default owner {self._owners.default} is {self._what(self._owners.default)} that does not "
                    f"exist in {owners.alias}.")
        return None

    def unchecked_note(self) -> str | None:
        """Why the mappings were not checked against the target (None when they were, or there are none)."""
        if not (self._owners.map or self._owners.default):
            return None
        target = self.target_alias
        if not target:
            return "the owner mappings were not checked against a target org: the template has no default target"
        if target in self._known:
            return None
        reason = self._failed.get(target) or f"{target} is not connected"
        return f"the owner mappings were not checked against {target}: it could not be read ({reason})"

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

    def _on_suggest_finished(self, answer: tuple[OrgOwners, OrgOwners]) -> None:
        source, target = answer
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
        self._show_status(f"From {source.alias} → {target.alias}: {self._summary()}")
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

    def _on_target_failed(self, target: str, then: Callable[[], None], text: str) -> None:
        self._failed[target] = text
        self._show_status(f"Could not read the users and queues of {target}: {text}", "error")
        self.target_read.emit(target)
        then()


__all__ = ["MappingsPanel", "RUNNING_USER_TEXT"]
