"""The progress dashboard's table: one row per object (and a total), fed by engine events."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from ...engine.journal import ObjectCounts
from ..style import ACCENT, ERROR, MUTED, SUCCESS

COLUMNS = ("Object", "Status", "Progress", "Inserted", "Updated", "Existing", "Errors")
COL_OBJECT, COL_STATUS, COL_PROGRESS, COL_INSERTED, COL_UPDATED, COL_EXISTING, COL_ERRORS = range(7)
NUMBERS = {COL_INSERTED: "inserted", COL_UPDATED: "updated", COL_EXISTING: "existing", COL_ERRORS: "errors"}

Index = QModelIndex | QPersistentModelIndex


def percent(counts: ObjectCounts) -> int:
    if counts.total <= 0:
        return 100 if counts.status in ("Completed", "Awaiting second pass") else 0
    return min(100, int(round(100 * counts.processed / counts.total)))


class ProgressModel(QAbstractTableModel):
    """Per-object counts of the run being watched (or the last one), plus a total row."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.order: list[str] = []
        self.counts: dict[str, ObjectCounts] = {}
        self.current: str | None = None
        self.rollback = False
        self._total = ObjectCounts()

    def reset(self, order: list[str], counts: dict[str, ObjectCounts] | None = None, *, rollback: bool = False) -> None:
        self.beginResetModel()
        self.order = list(order)
        self.counts = {name: (counts or {}).get(name) or ObjectCounts() for name in self.order}
        self.current = None
        self.rollback = rollback
        self._total = self._sum()
        self.endResetModel()

    def update_objects(self, updates: dict[str, ObjectCounts]) -> None:
        """Apply several objects' counts at once: one repaint for the batch, whatever its size."""
        if not updates:
            return
        for name, counts in updates.items():
            if name not in self.counts:
                self.beginInsertRows(QModelIndex(), len(self.order), len(self.order))
                self.order.append(name)
                self.counts[name] = counts
                self.endInsertRows()
            else:
                self.counts[name] = counts
        self._total = self._sum()
        self.dataChanged.emit(self.index(0, 0), self.index(len(self.order), len(COLUMNS) - 1))

    def update_object(self, name: str, counts: ObjectCounts) -> None:
        self.update_objects({name: counts})

    def set_current(self, name: str | None) -> None:
        previous = self.current
        self.current = name
        for item in (previous, name):
            if item in self.order:
                row = self.order.index(item)
                self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))

    def _sum(self) -> ObjectCounts:
        total = ObjectCounts()
        for counts in self.counts.values():
            total = total + counts
        return total

    def totals(self) -> ObjectCounts:
        return self._total

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() or not self.order else len(self.order) + 1

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation, role: int = Qt.ItemDataRole.DisplayRole) -> Any:  # noqa: N802
        if orientation != Qt.Orientation.Horizontal:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if self.rollback and section == COL_INSERTED:
                return "Deleted"
            if self.rollback and section == COL_UPDATED:
                return "Restored"
            return COLUMNS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in NUMBERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        return None

    def _row_counts(self, row: int) -> tuple[str, ObjectCounts]:
        if row == len(self.order):
            total = self.totals()
            return "Total", total
        name = self.order[row]
        return name, self.counts[name]

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        name, counts = self._row_counts(index.row())
        is_total = index.row() == len(self.order)
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            if column == COL_OBJECT:
                return name
            if column == COL_STATUS:
                return "" if is_total else counts.status
            if column == COL_PROGRESS:
                return percent(counts)
            if column in NUMBERS:
                key = NUMBERS[column]
                if self.rollback and key == "inserted":
                    key = "deleted"
                elif self.rollback and key == "updated":
                    key = "restored"
                return f"{getattr(counts, key):,}"
        if role == Qt.ItemDataRole.UserRole and column == COL_PROGRESS:
            return percent(counts)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMBERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and (is_total or name == self.current):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == COL_ERRORS and counts.errors:
                return QColor(ERROR)
            if column == COL_STATUS and counts.status == "Completed":
                return QColor(SUCCESS)
            if column == COL_STATUS and counts.status in ("Pending", ""):
                return QColor(MUTED)
        if role == Qt.ItemDataRole.BackgroundRole and is_total:
            return QColor("#f3f3f3")
        return None


class ProgressBarDelegate(QStyledItemDelegate):
    """Draws the Progress column as a bar in the accent colour with its percentage on it."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        value = index.data(Qt.ItemDataRole.UserRole)
        if value is None:
            super().paint(painter, option, index)
            return
        rect = QRect(option.rect.adjusted(6, 7, -6, -7))
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QColor("#c9c9c9"))
        painter.setBrush(QColor("#f3f3f3"))
        painter.drawRoundedRect(rect, 3, 3)
        filled = int(rect.width() * max(0, min(100, int(value))) / 100)
        if filled > 0:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(QColor(SUCCESS if int(value) >= 100 else ACCENT))
            painter.drawRoundedRect(QRect(rect.left(), rect.top(), filled, rect.height()), 3, 3)
        painter.setPen(QColor("white") if int(value) >= 55 else QColor("#181818"))
        painter.drawText(rect, int(Qt.AlignmentFlag.AlignCenter), f"{int(value)}%")
        painter.restore()
