"""The progress dashboard's table: one row per object (and a total), fed by engine events."""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from ...engine.journal import ObjectCounts
from ...engine.runner import NOT_STARTED
from ..style import ACCENT, ERROR, MUTED, SUCCESS, WARNING

COLUMNS = ("Object", "Status", "Progress", "Inserted", "Updated", "Existing", "Errors")
COL_OBJECT, COL_STATUS, COL_PROGRESS, COL_INSERTED, COL_UPDATED, COL_EXISTING, COL_ERRORS = range(7)
NUMBERS = {COL_INSERTED: "inserted", COL_UPDATED: "updated", COL_EXISTING: "existing", COL_ERRORS: "errors"}

Index = QModelIndex | QPersistentModelIndex


FINISHED = ("Completed", "Awaiting second pass", "Rolled back", "Nothing to undo")
STILL_GOING = ("Executing", "Rolling back", "Scanned")
STOPPED = {"Failed": "Failed", "Paused": "Paused"}     # else "Aborted"
NOTHING_TO_UNDO = "Nothing to undo"                    # a rollback's object that had no record to undo: no bar


def percent(counts: ObjectCounts) -> int:
    if counts.total <= 0:
        return 100 if counts.status in FINISHED else 0
    return min(100, int(counts.processed * 100 // counts.total))


def settled_status(status: str, run_status: str, *, rollback: bool = False) -> str:
    """Where an object really ended when its run is over: a run that stopped (Aborted, Paused, Failed)
    leaves the object it was working on Aborted (Paused, Failed) and those it never reached Not started."""
    if run_status == "Completed":
        if status in ("Pending", ""):
            return NOTHING_TO_UNDO if rollback else NOT_STARTED
        return status
    stopped = STOPPED.get(run_status, "Aborted")
    if status in ("Pending", "", NOT_STARTED):
        return NOT_STARTED
    if status in STILL_GOING:
        return stopped
    if status == "Awaiting second pass":
        return f"{stopped} before 2nd pass"
    return status


class ProgressModel(QAbstractTableModel):
    """Per-object counts of the run being watched (or the last one), plus a total row."""

    def __init__(self, parent: Any = None):
        super().__init__(parent)
        self.order: list[str] = []
        self.counts: dict[str, ObjectCounts] = {}
        self.current: str | None = None
        self.rollback = False
        self.planned: dict[str, int] = {}
        self._total = ObjectCounts()

    def reset(self, order: list[str], counts: dict[str, ObjectCounts] | None = None, *, rollback: bool = False,
              planned: dict[str, int] | None = None) -> None:
        self.beginResetModel()
        self.order = list(order)
        for name in counts or {}:
            if name not in self.order:
                self.order.append(name)
        self.counts = {name: (counts or {}).get(name) or ObjectCounts() for name in self.order}
        self.current = None
        self.rollback = rollback
        self.planned = dict(planned or {})
        self._total = self._sum()
        self.endResetModel()

    def set_planned(self, planned: dict[str, int]) -> None:
        """The records each object is expected to process in this run (before it starts): the Total row's
        percentage is records done / records planned, not a count of the objects that started."""
        self.planned = dict(planned)
        self._total = self._sum()
        self._emit_all()

    def settle(self, run_status: str) -> None:
        """The run ended with ``run_status``: every row says where its object really ended."""
        for name, counts in self.counts.items():
            status = settled_status(counts.status, run_status, rollback=self.rollback)
            if status != counts.status:
                self.counts[name] = ObjectCounts(**{**counts.as_dict(), "status": status})
        self.current = None
        self._total = self._sum()
        self._emit_all()

    def _emit_all(self) -> None:
        if self.order:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self.order), len(COLUMNS) - 1))

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
        """The Total row: counts added up; ``total`` is the records planned (an object that has not started
        counts what the plan expects of it), so its percentage is records done / records planned."""
        total = ObjectCounts()
        planned = 0
        for name, counts in self.counts.items():
            total = total + counts
            started = counts.status not in ("Pending", "", NOT_STARTED) or counts.total > 0
            if not started:
                planned += self.planned.get(name, 0)
            elif counts.status in STILL_GOING:     # a rollback learns an object's restores after its deletes
                planned += max(counts.total, self.planned.get(name, 0))
            else:
                planned += counts.total
        total.total = planned
        finished = bool(self.counts) and all(c.status in FINISHED for c in self.counts.values())
        total.status = "Completed" if finished else ""
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
                if is_total:
                    return f"{counts.processed:,} of {counts.total:,} records" if counts.total else ""
                return counts.status
            if column == COL_PROGRESS:
                return "" if counts.status == NOTHING_TO_UNDO else percent(counts)
            if column in NUMBERS:
                key = NUMBERS[column]
                if self.rollback and key == "inserted":
                    key = "deleted"
                elif self.rollback and key == "updated":
                    key = "restored"
                return f"{getattr(counts, key):,}"
        if role == Qt.ItemDataRole.UserRole and column == COL_PROGRESS:
            return None if counts.status == NOTHING_TO_UNDO else percent(counts)
        if role == Qt.ItemDataRole.TextAlignmentRole and column in NUMBERS:
            return int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if role == Qt.ItemDataRole.FontRole and (is_total or name == self.current):
            font = QFont()
            font.setBold(True)
            return font
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == COL_ERRORS and counts.errors:
                return QColor(ERROR)
            if column == COL_STATUS and counts.status in ("Completed", "Rolled back"):
                return QColor(SUCCESS)
            if column == COL_STATUS and (is_total or counts.status in ("Pending", "", NOT_STARTED, NOTHING_TO_UNDO)):
                return QColor(MUTED)
            if column == COL_STATUS and counts.status.startswith(("Aborted", "Paused")):
                return QColor(WARNING)
            if column == COL_STATUS and counts.status.startswith("Failed"):
                return QColor(ERROR)
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
