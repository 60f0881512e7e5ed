"""The progress dashboard's table: one row per object (and a total), fed by engine events."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QColor, QFont, QPainter, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QStyledItemDelegate, QStyleOptionViewItem

from ...engine.journal import ObjectCounts
from ...engine.lifecycle import ObjectStatus, RunStatus
from ...engine.progress import Standing
from ..style import ACCENT, ERROR, MUTED, SUCCESS, WARNING

COLUMNS = ("Object", "Status", "Progress", "Time left", "Inserted", "Updated", "Existing", "Errors", "Job in all")
(COL_OBJECT, COL_STATUS, COL_PROGRESS, COL_TIME_LEFT, COL_INSERTED, COL_UPDATED, COL_EXISTING, COL_ERRORS,
 COL_JOB) = range(9)
"""COL_JOB: where the job's records stand after all its runs (shown for a retry or resync, whose own counts
are only what that run did); the other columns are the run's. COL_TIME_LEFT: the run's estimate of the time
left (``engine.eta``), for the objects under way and the whole run, while it runs."""
NUMBERS = {COL_INSERTED: "inserted", COL_UPDATED: "updated", COL_EXISTING: "existing", COL_ERRORS: "errors"}

CELL_FLAGS = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemNeverHasChildren


S = ObjectStatus
STILL_GOING = (S.READING, S.EXECUTING, S.ROLLING_BACK, S.SCANNED)
NOT_BEGUN = (S.PENDING, "", S.NOT_STARTED)             # "": an object the run has not reported yet
STOPPED = (RunStatus.FAILED, RunStatus.PAUSED)         # a run that stopped so leaves its objects so; else Aborted
FINISHED = frozenset(status for status in S if status.finished)


def percent(counts: ObjectCounts) -> int:
    if counts.total <= 0:
        return 100 if counts.status in FINISHED else 0
    return min(100, int(counts.processed * 100 // counts.total))


def settled_status(status: str, run_status: str, *, rollback: bool = False) -> str:
    """Where an object really ended when its run is over: a run that stopped (Aborted, Paused, Failed)
    leaves the object it was working on Aborted (Paused, Failed) and those it never reached Not started."""
    if run_status == RunStatus.COMPLETED:
        if status in (S.PENDING, ""):
            return S.NOTHING_TO_UNDO if rollback else S.NOT_STARTED
        return status
    stopped = str(run_status) if run_status in STOPPED else S.ABORTED
    if status in NOT_BEGUN:
        return S.NOT_STARTED
    if status in STILL_GOING:
        return stopped
    if status == S.AWAITING_SECOND_PASS:
        return f"{stopped} before 2nd pass"
    return status


class ProgressModel(QStandardItemModel):
    """Per-object counts of the run being watched (or the last one), plus a total row.

    The counts live here in Python; what each cell shows is written into the model's items whenever they
    change. The table view then paints from Qt's own storage: painting calls no Python, so it never waits
    for the interpreter lock the engine's threads are busy with (each call would, a frame at a time).
    """

    def __init__(self, parent: Any = None):
        super().__init__(0, len(COLUMNS), parent)
        self.order: list[str] = []
        self.counts: dict[str, ObjectCounts] = {}
        self.current: str | None = None       # the object the run reached last
        self.running: set[str] = set()        # the objects under way now (bold): several with parallel_objects
        self.rollback = False
        self.planned: dict[str, int] = {}
        self.standing: dict[str, Standing] | None = None      # the job's, after all its runs (None: not shown)
        self.job_title = COLUMNS[COL_JOB]
        self.time_left: dict[str, str] = {}                   # object (or "" for the run) -> "about 3 min left"
        self._total = ObjectCounts()
        self._bold = QFont()
        self._bold.setBold(True)
        self._render_header()

    def reset(self, order: list[str], counts: dict[str, ObjectCounts] | None = None, *, rollback: bool = False,
              planned: dict[str, int] | None = None) -> None:
        self.order = list(order)
        for name in counts or {}:
            if name not in self.order:
                self.order.append(name)
        self.counts = {name: (counts or {}).get(name) or ObjectCounts() for name in self.order}
        self.current = None
        self.running = set()
        self.rollback = rollback
        self.planned = dict(planned or {})
        self.standing, self.job_title = None, COLUMNS[COL_JOB]
        self.time_left = {}
        self._total = self._sum()
        self.setRowCount(0)
        self._render_header()
        self._render()

    def set_planned(self, planned: dict[str, int]) -> None:
        """The records each object is expected to process in this run (before it starts): the Total row's
        percentage is records done / records planned, not a count of the objects that started."""
        self.planned = dict(planned)
        self._total = self._sum()
        self._render()

    def set_time_left(self, time_left: dict[str, str]) -> None:
        """What the Time left column says, per object, and for the whole run under the key ``""`` (an object
        not named shows nothing)."""
        if time_left == self.time_left:
            return
        self.time_left = dict(time_left)
        self._render()

    def set_standing(self, standing: dict[str, Standing] | None, job_id: int | None = None) -> None:
        """Where the job's records stand after all its runs, per object, for the last column (None: none)."""
        self.standing = dict(standing) if standing is not None else None
        self.job_title = f"Job #{job_id} in all" if job_id is not None else COLUMNS[COL_JOB]
        self._render_header()
        self._render()

    def job_total(self) -> Standing:
        """The job's standing added up over its objects."""
        total = Standing()
        for standing in (self.standing or {}).values():
            total = total + standing
        return total

    def settle(self, run_status: str) -> None:
        """The run ended with ``run_status``: every row says where its object really ended."""
        for name, counts in self.counts.items():
            status = settled_status(counts.status, run_status, rollback=self.rollback)
            if status != counts.status:
                self.counts[name] = ObjectCounts(**{**counts.as_dict(), "status": status})
        self.current = None
        self.running = set()
        self._total = self._sum()
        self._render()

    def update_objects(self, updates: dict[str, ObjectCounts]) -> None:
        """Apply several objects' counts at once: one repaint for the batch, whatever its size."""
        if not updates:
            return
        for name, counts in updates.items():
            if name not in self.counts:
                self.order.append(name)
            self.counts[name] = counts
        self._total = self._sum()
        self._render()

    def update_object(self, name: str, counts: ObjectCounts) -> None:
        self.update_objects({name: counts})

    def set_current(self, name: str | None, running: Iterable[str] | None = None) -> None:
        """``name``: the object the run reached last; ``running``: every object under way now (default: ``name``)."""
        self.current = name
        self.running = set(running) if running is not None else ({name} if name else set())
        self._render()

    def _sum(self) -> ObjectCounts:
        """The Total row: counts added up; ``total`` is the records planned (an object that has not started
        counts what the plan expects of it), so its percentage is records done / records planned."""
        total = ObjectCounts()
        planned = 0
        for name, counts in self.counts.items():
            total = total + counts
            started = counts.status not in NOT_BEGUN or counts.total > 0
            if not started:
                planned += self.planned.get(name, 0)
            elif counts.status in STILL_GOING:     # a rollback learns an object's restores after its deletes
                planned += max(counts.total, self.planned.get(name, 0))
            else:
                planned += counts.total
        total.total = planned
        finished = bool(self.counts) and all(c.status in FINISHED for c in self.counts.values())
        total.status = S.COMPLETED if finished else ""
        return total

    def totals(self) -> ObjectCounts:
        return self._total

    # ------------------------------------------------------------------ cells
    def _render_header(self) -> None:
        for section, title in enumerate(COLUMNS):
            if self.rollback and section == COL_INSERTED:
                title = "Deleted"
            elif self.rollback and section == COL_UPDATED:
                title = "Restored"
            elif section == COL_JOB:
                title = self.job_title
            item = self.horizontalHeaderItem(section) or QStandardItem()
            item.setText(title)
            if section in NUMBERS:
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            if self.horizontalHeaderItem(section) is None:
                self.setHorizontalHeaderItem(section, item)

    def _render(self) -> None:
        """Write every cell's text, bar value, font and colours into the items (unchanged values are no-ops
        for Qt: only what changed is repainted)."""
        rows = len(self.order) + 1 if self.order else 0
        if self.rowCount() != rows:
            self.setRowCount(rows)
        for row in range(rows):
            for column in range(len(COLUMNS)):
                item = self.item(row, column)
                if item is None:
                    item = QStandardItem()
                    item.setFlags(CELL_FLAGS)
                    self.setItem(row, column, item)
                for role, value in self._cell(row, column).items():
                    if item.data(role) != value:
                        item.setData(value, role)

    def _row_counts(self, row: int) -> tuple[str, ObjectCounts]:
        if row == len(self.order):
            return "Total", self.totals()
        name = self.order[row]
        return name, self.counts[name]

    def _cell(self, row: int, column: int) -> dict[int, Any]:
        """What one cell shows, by role (None: nothing for that role)."""
        name, counts = self._row_counts(row)
        is_total = row == len(self.order)
        display: Any = None
        if column == COL_OBJECT:
            display = name
        elif column == COL_STATUS:
            if is_total:
                display = f"{counts.processed:,} of {counts.total:,} records" if counts.total else ""
            else:
                display = counts.status
        elif column == COL_PROGRESS:
            display = "" if counts.status == S.NOTHING_TO_UNDO else percent(counts)
        elif column == COL_TIME_LEFT:
            display = self.time_left.get("" if is_total else name, "")
        elif column in NUMBERS:
            key = NUMBERS[column]
            if self.rollback and key == "inserted":
                key = "deleted"
            elif self.rollback and key == "updated":
                key = "restored"
            display = f"{getattr(counts, key):,}"
        elif column == COL_JOB:
            standing = self.job_total() if is_total else (self.standing or {}).get(name)
            display = standing_text(standing) if self.standing is not None and standing is not None else ""
        return {
            Qt.ItemDataRole.DisplayRole: display,
            Qt.ItemDataRole.UserRole: (None if column != COL_PROGRESS or counts.status == S.NOTHING_TO_UNDO
                                       else percent(counts)),
            Qt.ItemDataRole.TextAlignmentRole: (int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                                                if column in NUMBERS else None),
            Qt.ItemDataRole.FontRole: self._bold if is_total or name in self.running else None,
            Qt.ItemDataRole.ForegroundRole: (self._foreground(column, counts, is_total) if column != COL_JOB
                                             else self._job_foreground(name, is_total)),
            Qt.ItemDataRole.BackgroundRole: QColor("#f3f3f3") if is_total else None,
        }

    def _job_foreground(self, name: str, is_total: bool) -> QColor | None:
        standing = self.job_total() if is_total else (self.standing or {}).get(name)
        if self.standing is None or standing is None or not standing.records:
            return None
        if standing.failed:
            return QColor(ERROR)
        return QColor(SUCCESS) if standing.synced == standing.records else QColor(WARNING)

    @staticmethod
    def _foreground(column: int, counts: ObjectCounts, is_total: bool) -> QColor | None:
        if column == COL_ERRORS and counts.errors:
            return QColor(ERROR)
        if column == COL_TIME_LEFT:
            return QColor(MUTED)
        if column != COL_STATUS:
            return None
        if counts.status in (S.COMPLETED, S.ROLLED_BACK):
            return QColor(SUCCESS)
        if is_total or counts.status in (*NOT_BEGUN, S.NOTHING_TO_UNDO):
            return QColor(MUTED)
        if counts.status.startswith((S.ABORTED, RunStatus.PAUSED)):
            return QColor(WARNING)
        if counts.status.startswith(RunStatus.FAILED):
            return QColor(ERROR)
        return None


def standing_text(standing: Standing) -> str:
    """``196 of 200 synced · 4 failed`` (and skipped, not reached yet, other) for the Job column."""
    parts = [f"{standing.synced:,} of {standing.records:,} synced"]
    for count, label in ((standing.failed, "failed"), (standing.skipped, "skipped"),
                         (standing.not_reached, "not reached yet"), (standing.other, "in flight or undone")):
        if count:
            parts.append(f"{count:,} {label}")
    return " · ".join(parts)


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
