"""The tables of the Mappings tab other than owners: one :class:`MappingSection` per kind (record types with their
default per object, picklist values), each a table with Add and Remove, and the editor of its target cells.

The panel (:mod:`.mappings_panel`) owns them, says what each row's status is, and writes them into the draft.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QHBoxLayout, QHeaderView, QLabel, QPushButton,
                               QStyledItemDelegate, QStyleOptionViewItem, QTableView, QVBoxLayout, QWidget)

from ..keyboard import widget_shortcut
from .mappings_models import AUTOMATIC, SET_BY_YOU, MappingRow, MappingTableModel

RowNames = Callable[[MappingRow], "list[str]"]
"""The names a row's target may take (the target org's record types of its object, values of its field)."""


class ComboDelegate(QStyledItemDelegate):
    """Edits a cell with an editable combo box of the names ``choices`` gives for it (free text allowed)."""

    def __init__(self, choices: Callable[[QModelIndex | QPersistentModelIndex], list[str]],
                 parent: Any = None) -> None:
        super().__init__(parent)
        self._choices = choices

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,  # noqa: N802 - Qt's name
                     index: QModelIndex | QPersistentModelIndex) -> QWidget:
        combo = QComboBox(parent)
        combo.setEditable(True)
        combo.setInsertPolicy(QComboBox.InsertPolicy.NoInsert)
        combo.addItems(self._choices(index))
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802
        if isinstance(editor, QComboBox):
            editor.setCurrentText(str(index.data(Qt.ItemDataRole.EditRole) or ""))

    def setModelData(self, editor: QWidget, model: Any,  # noqa: N802 - Qt's name
                     index: QModelIndex | QPersistentModelIndex) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentText(), Qt.ItemDataRole.EditRole)


def row_target_delegate(model: MappingTableModel, names: RowNames, parent: Any = None) -> ComboDelegate:
    """Edits a target cell with what the row's target may be (when it is known)."""
    return ComboDelegate(lambda index: names(model.row(index.row())), parent)


def mapping_view(model: MappingTableModel, names: RowNames, widths: dict[int, int]) -> QTableView:
    """A table over ``model`` as the Mappings tab shows them (rows selected whole, targets edited in a combo)."""
    view = QTableView()
    view.setModel(model)
    view.setItemDelegateForColumn(model.TARGET, row_target_delegate(model, names, view))
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked | QAbstractItemView.EditTrigger.EditKeyPressed
                         | QAbstractItemView.EditTrigger.AnyKeyPressed)
    view.setTabKeyNavigation(False)
    view.verticalHeader().hide()
    view.verticalHeader().setDefaultSectionSize(26)
    view.setShowGrid(False)
    view.setAlternatingRowColors(True)
    view.setWordWrap(False)
    header = view.horizontalHeader()
    header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    for col in range(model.columnCount()):
        if col in widths:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, widths[col])
        else:
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
    header.setStretchLastSection(True)
    return view


class MappingSection(QWidget):
    """A mapping table with Add and Remove (Delete) and a note shown while it is empty.

    Signals:
        edited(): a row was added, removed or changed by the user.
    """

    edited = Signal()

    def __init__(self, model: MappingTableModel, names: RowNames, *, intro: str, empty: str, add_tip: str,
                 widths: dict[int, int], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = model
        column = QVBoxLayout(self)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(6)
        row = QHBoxLayout()
        row.setSpacing(6)
        self.intro_label = QLabel(intro)
        self.intro_label.setWordWrap(True)
        self.intro_label.setProperty("role", "subtle")
        row.addWidget(self.intro_label, 1)
        self.add_button = QPushButton("Add")
        self.add_button.setToolTip(add_tip)
        self.remove_button = QPushButton("Remove")
        self.remove_button.setToolTip("Remove the selected mappings (Delete)")
        row.addWidget(self.add_button, 0, Qt.AlignmentFlag.AlignTop)
        row.addWidget(self.remove_button, 0, Qt.AlignmentFlag.AlignTop)
        column.addLayout(row)
        self.view = mapping_view(model, names, widths)
        column.addWidget(self.view, 1)
        self.empty_label = QLabel(empty)
        self.empty_label.setWordWrap(True)
        self.empty_label.setProperty("role", "subtle")
        column.addWidget(self.empty_label)

        self.add_button.clicked.connect(self._on_add_button_clicked)
        self.remove_button.clicked.connect(self.remove_selected)
        self.model.edited.connect(self.edited)
        self.view.selectionModel().selectionChanged.connect(self._on_selection_changed)
        widget_shortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.view, self.remove_selected)
        self.update_state()

    def add_row(self, row: MappingRow | None = None) -> int:
        """A row of your own (editing its first cell when it has no source); its row number."""
        row = row or MappingRow("", "", SET_BY_YOU)
        number = self.model.add(row)
        first = self.model.index(number, 0)
        self.view.setCurrentIndex(first)
        if not (row.scope if hasattr(self.model, "SCOPE") else row.source):
            self.view.edit(first)
        self.update_state()
        self.edited.emit()
        return number

    def remove_selected(self) -> None:
        rows = sorted({i.row() for i in self.view.selectionModel().selectedRows()})
        removable = [r for r in rows if self.model.row(r).origin != AUTOMATIC]
        if removable:
            self.model.remove(removable)
            self.update_state()
            self.edited.emit()

    def update_state(self) -> None:
        count = self.model.rowCount()
        self.empty_label.setVisible(count == 0)
        self.view.setVisible(count > 0)
        rows = [self.model.row(i.row()) for i in self.view.selectionModel().selectedRows()]
        self.remove_button.setEnabled(any(r.origin != AUTOMATIC for r in rows))

    def _on_add_button_clicked(self) -> None:
        self.add_row()

    def _on_selection_changed(self, *args: Any) -> None:
        self.update_state()


__all__ = ["ComboDelegate", "MappingSection", "mapping_view", "row_target_delegate"]
