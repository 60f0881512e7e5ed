"""Sync Settings: the migration order as a drag-and-drop table with per-object Insert/Update switches.

A thin Qt adapter over :class:`~isyncsf_desktop.engine.plan.OrderDraft` (Qt-free): a drop calls
the draft's ``move()``, the switches call ``set_switch()``, and the "second pass" column shows
what the draft says the current order defers.
"""

from __future__ import annotations

import json
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QByteArray, QMimeData, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from ...engine.plan import OrderDraft
from ..style import ERROR, MUTED

MIME = "application/x-isyncsf-order-rows"
COLUMNS = ("#", "Object", "Insert new", "Update existing", "Second pass")
HEADER_TIPS = ("Migration order", "Object", "Insert new records: create records that don't exist on the target",
               "Update existing records: update target records that match a source record",
               "Lookups this order defers: they are filled after every object is synced")
COL_POS, COL_OBJECT, COL_INSERT, COL_UPDATE, COL_DEFERRED = range(5)

Index = QModelIndex | QPersistentModelIndex


class MigrationOrderModel(QAbstractTableModel):
    """Rows are the objects in migration order.

    Signals:
        changed(): the order or a switch changed (the draft differs from what was saved).
        insert_turned_off(str): the user switched off "Insert new records" for this object.
    """

    changed = Signal()
    insert_turned_off = Signal(str)

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.draft: OrderDraft | None = None

    # ------------------------------------------------------------------ data
    def set_draft(self, draft: OrderDraft | None) -> None:
        self.beginResetModel()
        self.draft = draft
        self.endResetModel()

    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() or self.draft is None else len(self.draft.order)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.ToolTipRole:
            return HEADER_TIPS[section]
        return None

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if self.draft is None or not index.isValid():
            return None
        name = self.draft.order[index.row()]
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == COL_POS:
                return index.row() + 1
            if column == COL_OBJECT:
                return name
            if column == COL_DEFERRED:
                fields = self.draft.deferred_fields(name)
                return ", ".join(fields) if fields else ""
        if role == Qt.ItemDataRole.CheckStateRole and column in (COL_INSERT, COL_UPDATE):
            on = self.draft.insert[name] if column == COL_INSERT else self.draft.update[name]
            return Qt.CheckState.Checked if on else Qt.CheckState.Unchecked
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COL_DEFERRED and self.draft.deferred_fields(name):
                return ("These lookups point at an object that comes later in this order, so they are "
                        "filled in a second pass after every object is synced.")
            if column == COL_INSERT and not self.draft.insert[name]:
                return "Records not found on the target are not created; children that need them may fail."
            problem = self.draft.problem_for(name)
            if problem:
                return problem
        if role == Qt.ItemDataRole.ForegroundRole:
            if self.draft.problem_for(name):
                return QColor(ERROR)
            if column in (COL_POS, COL_DEFERRED):
                return QColor(MUTED)
        if role == Qt.ItemDataRole.TextAlignmentRole and column == COL_POS:
            return int(Qt.AlignmentFlag.AlignCenter)
        return None

    def setData(self, index: Index, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if self.draft is None or role != Qt.ItemDataRole.CheckStateRole or index.column() not in (COL_INSERT, COL_UPDATE):
            return False
        name = self.draft.order[index.row()]
        on = Qt.CheckState(value) == Qt.CheckState.Checked
        if index.column() == COL_INSERT:
            self.draft.set_switch(name, insert=on)
            if not on:
                self.insert_turned_off.emit(name)
        else:
            self.draft.set_switch(name, update=on)
        self.dataChanged.emit(index, index, [role])
        self.changed.emit()
        return True

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if not index.isValid():
            return Qt.ItemFlag.ItemIsDropEnabled
        base |= Qt.ItemFlag.ItemIsDragEnabled
        if index.column() in (COL_INSERT, COL_UPDATE):
            base |= Qt.ItemFlag.ItemIsUserCheckable
        return base

    # ------------------------------------------------------------------ drag and drop (InternalMove)
    def supportedDropActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.MoveAction

    def supportedDragActions(self) -> Qt.DropAction:  # noqa: N802
        return Qt.DropAction.MoveAction

    def mimeTypes(self) -> list[str]:  # noqa: N802
        return [MIME]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:  # noqa: N802
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime = QMimeData()
        mime.setData(MIME, QByteArray(json.dumps(rows).encode()))
        return mime

    def canDropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index) -> bool:  # noqa: N802
        return data.hasFormat(MIME) and action == Qt.DropAction.MoveAction

    def dropMimeData(self, data: QMimeData, action: Qt.DropAction, row: int, column: int, parent: Index) -> bool:  # noqa: N802
        if not self.canDropMimeData(data, action, row, column, parent) or self.draft is None:
            return False
        rows = json.loads(bytes(data.data(MIME).data()).decode())
        if len(rows) != 1:
            return False
        destination = row if row >= 0 else (parent.row() if parent.isValid() else self.rowCount())
        self.move(rows[0], destination)
        return False  # we moved the row ourselves: the view must not remove the source row

    def move(self, source: int, destination: int) -> bool:
        """Move the object at row ``source`` so it lands before row ``destination``."""
        if self.draft is None or not 0 <= source < len(self.draft.order):
            return False
        destination = max(0, min(destination, len(self.draft.order)))
        if destination in (source, source + 1):
            return False
        if not self.beginMoveRows(QModelIndex(), source, source, QModelIndex(), destination):
            return False
        self.draft.move(source, destination if destination < source else destination - 1)
        self.endMoveRows()
        top, bottom = self.index(0, 0), self.index(self.rowCount() - 1, len(COLUMNS) - 1)
        self.dataChanged.emit(top, bottom)
        self.changed.emit()
        return True

    def move_up(self, row: int) -> bool:
        return self.move(row, row - 1) if row > 0 else False

    def move_down(self, row: int) -> bool:
        return self.move(row, row + 2) if self.draft and row < len(self.draft.order) - 1 else False
