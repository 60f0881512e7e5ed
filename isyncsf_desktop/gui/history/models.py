"""Qt models of the History page: thin adapters over the journal's jobs, runs, errors and previews.

Totals of a job (what the list and the summary show):

* **Inserted, Updated, Existing** are *summed over the job's sync-type runs* (sync, re-sync and
  retry). Those runs never process the same record twice (a re-sync skips what succeeded, a retry
  sends only what failed), so the sums are what the job did to the target org.
* **Errors** are the job's *open* errors now (``Journal.error_counts``): records that are still
  failing after any retry, the same number the Error Viewer lists. Summing the runs' error counts
  would count a record that failed in the sync and again in a retry twice.
* **Deleted, Restored** are summed over the job's rollback runs (shown once it has one).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from ...engine.journal import JobRow, Journal, ObjectCounts, PreviewRow, RunRow
from ...engine.lifecycle import SYNC_KINDS, JobState, RunKind, RunStatus
from ..style import ERROR, MUTED, SUCCESS, WARNING, state_colour
from ..tables import RIGHT, AnyIndex, RowsTableModel, bold_font

logger = logging.getLogger(__name__)

INTERRUPTED_NOTE = "interrupted — resume or roll back"
RUN_STATUS_COLOURS: dict[str, str] = {RunStatus.COMPLETED: SUCCESS, RunStatus.ABORTED: WARNING, RunStatus.FAILED: ERROR}

JobRole = Qt.ItemDataRole.UserRole + 1
"""The :class:`JobSummary` of a row (any column)."""
SortRole = Qt.ItemDataRole.UserRole + 2
"""The raw value a column sorts by."""

_Display = Qt.ItemDataRole.DisplayRole
_Tip = Qt.ItemDataRole.ToolTipRole
_Fore = Qt.ItemDataRole.ForegroundRole
_Font = Qt.ItemDataRole.FontRole
_Align = Qt.ItemDataRole.TextAlignmentRole


def local_time(stamp: str | None, *, seconds: bool = False) -> str:
    """A journal UTC timestamp as local time for people, e.g. ``27 Nov 2026 14:05``; "" for None."""
    if not stamp:
        return ""
    try:
        moment = datetime.fromisoformat(stamp).astimezone()
    except ValueError:
        return stamp
    return moment.strftime("%d %b %Y %H:%M:%S" if seconds else "%d %b %Y %H:%M")


def duration(started: str | None, finished: str | None) -> str:
    """How long a run took, e.g. ``2.4 s`` or ``3 min 05 s``; "" when unknown."""
    if not started or not finished:
        return ""
    try:
        seconds = (datetime.fromisoformat(finished) - datetime.fromisoformat(started)).total_seconds()
    except ValueError:
        return ""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes} min {rest:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def run_title(run: RunRow | None) -> str:
    """``Sync · Completed``; "" for no run."""
    if run is None:
        return ""
    return f"{RunKind(run.kind).label} · {run.status}"


@dataclass
class JobSummary:
    """One job with what the History shows about it (see the module doc for how totals are made)."""

    job: JobRow
    runs: list[RunRow]
    objects: dict[str, ObjectCounts] = field(default_factory=dict)
    """Per object: inserted/updated/existing summed over sync-type runs, errors = open errors,
    deleted/restored summed over rollback runs. In migration order."""
    open_errors: int = 0
    masked: dict[str, int] = field(default_factory=dict)
    """``Object.Field`` -> values masked (engine/masking.py), summed over the job's runs."""
    left: int = 0
    """Records a Rollback Completed job's rollback left on the target (a rollback would still undo them)."""
    preview_id: int | None = None
    """The preview the job applied (Apply This Preview), None for a job Start Sync made."""

    @property
    def id(self) -> int:
        """The job id."""
        return self.job.id

    @property
    def last_run(self) -> RunRow | None:
        """The job's latest run."""
        return self.runs[-1] if self.runs else None

    @property
    def has_sync_runs(self) -> bool:
        """True once the job ran a sync, re-sync or retry."""
        return any(run.kind in SYNC_KINDS for run in self.runs)

    @property
    def has_rollback_runs(self) -> bool:
        """True once the job ran a rollback."""
        return any(run.kind == RunKind.ROLLBACK for run in self.runs)

    @property
    def totals(self) -> ObjectCounts:
        """The per-object counts added up."""
        total = ObjectCounts()
        for counts in self.objects.values():
            total = total + counts
        return total

    @property
    def deleted(self) -> bool:
        """True when the job is in state Deleted."""
        return self.job.state == JobState.DELETED

    @property
    def running(self) -> bool:
        """True while the job runs (active state, not left interrupted by a crash)."""
        return JobState(self.job.state).active and not self.job.interrupted

    @property
    def rolling_back(self) -> bool:
        """True while a rollback runs on the job."""
        return self.running and JobState(self.job.state).rolled_back

    @property
    def note(self) -> str:
        """The interrupted marker, else the job's last message, else what its rollback undid."""
        if self.job.interrupted:
            return INTERRUPTED_NOTE
        applied = f"from preview #{self.preview_id}" if self.preview_id is not None else ""
        if self.job.message:
            return f"{applied}: {self.job.message}" if applied else self.job.message
        if applied:
            return applied
        if self.has_rollback_runs and not self.rolling_back:    # a rollback counts what it undid at its end
            total = self.totals
            return f"undone: {total.deleted:,} deleted, {total.restored:,} restored"
        return ""


def summarize(journal: Journal, job: JobRow) -> JobSummary:
    """Read one job's runs and open errors and add them up (see the module doc)."""
    runs = journal.runs(job.id)
    errors = journal.error_counts(job.id)
    order: list[str] = list((job.plan or {}).get("order") or [])
    for run in runs:
        order += [name for name in run.counts if name not in order]
    order += [name for name in errors if name not in order]
    objects: dict[str, ObjectCounts] = {}
    for name in order:
        oc = ObjectCounts(errors=errors.get(name, 0), status="")
        for run in runs:
            counts = run.counts.get(name)
            if counts is None:
                continue
            if run.kind in SYNC_KINDS:
                oc.total = max(oc.total, counts.total)
                oc.inserted += counts.inserted
                oc.updated += counts.updated
                oc.existing += counts.existing
            elif run.kind == RunKind.ROLLBACK:
                oc.deleted += counts.deleted
                oc.restored += counts.restored
            elif run.kind == RunKind.SCAN:
                oc.total = max(oc.total, counts.total)
        objects[name] = oc
    left = journal.job_facts(job.id).to_undo if job.state == JobState.ROLLBACK_COMPLETED else 0
    return JobSummary(job=job, runs=runs, objects=objects, open_errors=sum(errors.values()),
                      masked=journal.masked_counts(job_id=job.id), left=left, preview_id=journal.preview_of_job(job.id))


# ====================================================================== jobs list
class JobsModel(RowsTableModel[JobSummary]):
    """Past jobs of a template, newest first, one row each."""

    HEADERS = ("Job", "Started · by", "Source → Target", "State", "Last run", "Inserted", "Updated", "Existing",
               "Errors", "Note")
    JOB, STARTED, ORGS, STATE, LAST_RUN, INSERTED, UPDATED, EXISTING, ERRORS, NOTE = range(10)
    NUMBERS = {INSERTED: "inserted", UPDATED: "updated", EXISTING: "existing", ERRORS: "errors"}
    RIGHT_ALIGNED = frozenset(NUMBERS)
    HEADER_TIPS = {**dict.fromkeys((INSERTED, UPDATED, EXISTING),
                                   "Summed over the job's sync, re-sync and retry runs"),
                   ERRORS: "Records still failing (open errors), as listed in the Error Viewer"}

    def set_jobs(self, jobs: list[JobSummary]) -> None:
        """Replace the rows."""
        self._set_rows(list(jobs))

    def summary(self, row: int) -> JobSummary:
        """The job of source row ``row``."""
        return self._rows[row]

    def row_of(self, job_id: int) -> int | None:
        """The source row of ``job_id``, or None."""
        for row, summary in enumerate(self._rows):
            if summary.id == job_id:
                return row
        return None

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        summary = self._row_at(index)
        if summary is None:
            return None
        job, column = summary.job, index.column()
        if role == _Display:
            return self._text(summary, column)
        if role == SortRole:
            if column == self.JOB:
                return job.id
            if column == self.STARTED:
                return job.created
            if column in self.NUMBERS:
                return getattr(summary.totals, self.NUMBERS[column]) if summary.has_sync_runs else -1
            return self._text(summary, column)
        if role == JobRole:
            return summary
        if role == _Align and column in self.NUMBERS:
            return RIGHT
        if role == _Fore:
            if summary.deleted:
                return QColor(MUTED)
            if column == self.STATE:
                return QColor(state_colour(job.state, interrupted=job.interrupted, left=summary.left))
            if column == self.NOTE and job.interrupted:
                return QColor(WARNING)
            if column == self.ERRORS and summary.open_errors:
                return QColor(ERROR)
            if column == self.NOTE or (column in self.NUMBERS and not summary.has_sync_runs):
                return QColor(MUTED)
        if role == _Font and column == self.STATE and not summary.deleted:
            return bold_font()
        if role == _Tip:
            if column == self.STARTED:
                who = f" by {job.run_by}" if job.run_by else ""
                return (f"Created {local_time(job.created, seconds=True)}{who}, "
                        f"last change {local_time(job.updated, seconds=True)}")
            if column == self.ORGS:
                return f"From {job.source.alias} ({job.source.org_id}) to {job.target.alias} ({job.target.org_id})"
            if column == self.NOTE and summary.note:
                return summary.note
            if column == self.LAST_RUN and summary.last_run is not None:
                run = summary.last_run
                took = duration(run.started, run.finished)
                return f"{run_title(run)}, started {local_time(run.started, seconds=True)}" + (f", took {took}" if took else "")
        return None

    def _text(self, summary: JobSummary, column: int) -> str:
        job = summary.job
        if column == self.JOB:
            return f"#{job.id}"
        if column == self.STARTED:
            return local_time(job.created) + (f" · {job.run_by}" if job.run_by else "")
        if column == self.ORGS:
            return f"{job.source.alias} → {job.target.alias}"
        if column == self.STATE:
            return job.state + (" (interrupted)" if job.interrupted else "")
        if column == self.LAST_RUN:
            return run_title(summary.last_run) or "—"
        if column in self.NUMBERS:
            if not summary.has_sync_runs:
                return "—"
            return f"{getattr(summary.totals, self.NUMBERS[column]):,}"
        if column == self.NOTE:
            return summary.note
        return ""


class JobsFilterProxy(QSortFilterProxyModel):
    """Hides Deleted jobs unless asked to show them; sorts by :data:`SortRole`."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._show_deleted = False
        self.setSortRole(SortRole)
        self.setDynamicSortFilter(True)

    @property
    def show_deleted(self) -> bool:
        """Whether Deleted jobs are listed."""
        return self._show_deleted

    def set_show_deleted(self, show: bool) -> None:
        """List Deleted jobs too (``True``) or hide them (``False``, the default)."""
        if show == self._show_deleted:
            return
        self.beginFilterChange()
        self._show_deleted = show
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:  # noqa: N802 - Qt's name
        model = self.sourceModel()
        if self._show_deleted or not isinstance(model, JobsModel):
            return True
        return not model.summary(source_row).deleted

    def summary_at(self, row: int) -> JobSummary:
        """The job shown at proxy row ``row``."""
        return self.index(row, 0).data(JobRole)

    def row_of(self, job_id: int) -> int | None:
        """The proxy row of ``job_id``, or None when it is hidden or unknown."""
        model = self.sourceModel()
        if not isinstance(model, JobsModel):
            return None
        source_row = model.row_of(job_id)
        if source_row is None:
            return None
        index = self.mapFromSource(model.index(source_row, 0))
        return index.row() if index.isValid() else None


# ====================================================================== per-object breakdown
class BreakdownModel(RowsTableModel[tuple[str, ObjectCounts]]):
    """One job's counts per object, with a Total row; Deleted/Restored once it was rolled back."""

    HEADERS = ("Object", "Inserted", "Updated", "Existing", "Errors", "Deleted", "Restored")
    OBJECT, INSERTED, UPDATED, EXISTING, ERRORS, DELETED, RESTORED = range(7)
    FIELDS = {INSERTED: "inserted", UPDATED: "updated", EXISTING: "existing", ERRORS: "errors",
              DELETED: "deleted", RESTORED: "restored"}
    RIGHT_ALIGNED = frozenset(FIELDS)
    HEADER_TIPS = {ERRORS: "Records still failing (open errors)",
                   **dict.fromkeys((DELETED, RESTORED), "Undone by the job's rollback runs")}

    def set_summary(self, summary: JobSummary | None) -> None:
        """Show ``summary`` (None: nothing): one row per object, then the Total row."""
        self._set_rows([] if summary is None else [*summary.objects.items(), ("Total", summary.totals)])

    def counts(self, object_name: str) -> ObjectCounts | None:
        """The counts of one object (or "Total"), None when absent."""
        return next((counts for name, counts in self._rows if name == object_name), None)

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        item = self._row_at(index)
        if item is None:
            return None
        row, column = index.row(), index.column()
        name, counts = item
        is_total = row == len(self._rows) - 1
        if role == _Display:
            if column == self.OBJECT:
                return name
            return f"{getattr(counts, self.FIELDS[column]):,}"
        if role == _Align and column != self.OBJECT:
            return RIGHT
        if role == _Font and is_total:
            return bold_font()
        if role == _Fore and column == self.ERRORS and counts.errors:
            return QColor(ERROR)
        if role == _Fore and column != self.OBJECT and getattr(counts, self.FIELDS[column]) == 0:
            return QColor(MUTED)
        return None


# ====================================================================== runs
class RunsModel(RowsTableModel[RunRow]):
    """One job's runs, oldest first: kind, status, start (local time) and how long it took."""

    HEADERS = ("Run", "Status", "Started", "Took")
    RUN, STATUS, STARTED, TOOK = range(4)
    RIGHT_ALIGNED = frozenset({TOOK})

    def set_runs(self, runs: list[RunRow]) -> None:
        """Show ``runs``."""
        self._set_rows(list(runs))

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        run = self._row_at(index)
        if run is None:
            return None
        column = index.column()
        if role == _Display:
            if column == self.RUN:
                return RunKind(run.kind).label
            if column == self.STATUS:
                return run.status
            if column == self.STARTED:
                return local_time(run.started, seconds=True)
            return duration(run.started, run.finished) or "—"
        if role == _Fore and column == self.STATUS:
            return QColor(RUN_STATUS_COLOURS.get(run.status, MUTED))
        if role == _Align and column == self.TOOK:
            return RIGHT
        if role == _Tip:
            finished = local_time(run.finished, seconds=True) if run.finished else "not finished"
            return f"Run {run.id}: {run_title(run)}, {local_time(run.started, seconds=True)} → {finished}"
        return None


# ====================================================================== previews
def preview_status(preview: PreviewRow) -> str:
    """A preview's status as History shows it: ``Not applied``, ``Applied as job #N``, ``Failed``, ``Aborted``,
    ``Running``."""
    if preview.job_id is not None:
        return f"Applied as job #{preview.job_id}"
    if preview.status == "Completed":
        return "Not applied"
    return preview.status


PREVIEW_STATUS_COLOURS = {"Failed": ERROR, "Aborted": WARNING, "Running": MUTED}


class PreviewsModel(RowsTableModel[PreviewRow]):
    """Previews of a template, newest first: when, the orgs, what the sync would do, and whether it was applied."""

    HEADERS = ("Preview", "Made · by", "Source → Target", "To insert", "To update", "Unchanged", "Not going",
               "Status")
    PREVIEW, MADE, ORGS, INSERT, UPDATE, UNCHANGED, SKIP, STATUS = range(8)
    NUMBERS = {INSERT: "insert", UPDATE: "update", UNCHANGED: "unchanged", SKIP: "skip"}
    RIGHT_ALIGNED = frozenset(NUMBERS)
    HEADER_TIPS = {SKIP: "Records the sync would not write, and why (open the preview)",
                   STATUS: "Not applied, or the job that applied it (Apply This Preview in the preview)"}

    def set_previews(self, previews: list[PreviewRow]) -> None:
        """Replace the rows."""
        self._set_rows(list(previews))

    def preview(self, row: int) -> PreviewRow | None:
        """The preview of ``row``, None out of range."""
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def row_of(self, preview_id: int) -> int | None:
        """The row of ``preview_id``, or None."""
        return next((row for row, preview in enumerate(self._rows) if preview.id == preview_id), None)

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        preview = self._row_at(index)
        if preview is None:
            return None
        column = index.column()
        totals = (preview.header or {}).get("totals") or {}
        completed = preview.status == "Completed"
        if role == _Display:
            if column == self.PREVIEW:
                return f"#{preview.id}"
            if column == self.MADE:
                return local_time(preview.created) + (f" · {preview.run_by}" if preview.run_by else "")
            if column == self.ORGS:
                return f"{preview.source.alias} → {preview.target.alias}"
            if column in self.NUMBERS:
                return f"{int(totals.get(self.NUMBERS[column], 0) or 0):,}" if completed else "—"
            if column == self.STATUS:
                return preview_status(preview)
        if role == _Align and column in self.NUMBERS:
            return RIGHT
        if role == _Fore:
            if column == self.STATUS:
                if preview.job_id is not None:
                    return QColor(SUCCESS)
                colour = PREVIEW_STATUS_COLOURS.get(preview.status)
                return QColor(colour) if colour else None
            if column in self.NUMBERS and (not completed or not totals.get(self.NUMBERS[column])):
                return QColor(MUTED)
            if column == self.SKIP and totals.get("skip"):
                return QColor(WARNING)
        if role == _Font and column == self.STATUS and preview.job_id is not None:
            return bold_font()
        if role == _Tip:
            if column == self.MADE:
                finished = f", ended {local_time(preview.finished, seconds=True)}" if preview.finished else ""
                return f"Made {local_time(preview.created, seconds=True)}{finished}"
            if column == self.ORGS:
                return (f"From {preview.source.alias} ({preview.source.org_id}) to {preview.target.alias} "
                        f"({preview.target.org_id})")
            if column == self.STATUS and preview.message:
                return preview.message
        return None
