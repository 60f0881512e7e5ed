"""The History tab: every past job of the current template, its summary and errors, and the
actions that still apply to it (open it on the Execute tab, roll it back, delete it); and on its Previews tab the
template's previews (what a sync would do; Not applied, or the job that applied it), each opened in its dialog.

The list follows the journal: it is re-read when the template changes, when a job changes
(``ctx.jobs_changed``, which the Execute tab also emits each time its run moves the job to another
state; a hidden tab leaves it for when it is shown), when the rollback started here moves its job on,
and when the tab is shown. A rollback runs on the app's thread pool with a progress bar fed by the
engine's ``BatchDone`` events.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QFontMetrics, QShowEvent
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QHBoxLayout, QHeaderView, QLabel,
                               QProgressBar, QPushButton, QSplitter, QStackedWidget, QTableView, QTabWidget,
                               QVBoxLayout, QWidget)

from ...engine.events import COMPLETED, BatchDone, Event, ObjectStarted, RunResult, StateChanged
from ...engine.journal import JournalError, PreviewRow
from ...engine.lifecycle import Action, JobFacts, refusal
from ...engine.runner import SyncEngine
from ..context import AppContext
from ..errors.viewer import ErrorViewer
from ..questions import ROLL_BACK_TITLE, ask_yes_no, rollback_question
from ..style import ERROR, MUTED, SUCCESS, WARNING, state_colour
from ..tables import read_only_table
from .models import (INTERRUPTED_NOTE, BreakdownModel, JobsFilterProxy, JobsModel, JobSummary, PreviewsModel, RunsModel,
                     local_time, preview_status, summarize)

logger = logging.getLogger(__name__)

NO_TEMPLATE_TEXT = "Open a template to see the jobs it ran."
NO_JOBS_TEXT = "No jobs yet for this template. Start a sync on the Execute tab; every run is kept here."
NO_SELECTION_TEXT = "Select a job to see its summary and errors."
BUSY_TEXT = "A rollback is running"
NO_PREVIEWS_TEXT = ("No previews yet for this template. Preview Changes on the Execute tab shows what a sync would do, "
                    "record by record, before anything is written; every preview is kept here.")
NO_TEMPLATE_PREVIEWS_TEXT = "Open a template to see its previews."


def _rollback_task(report: Any, cancel: Any, ctx: AppContext, source: str, target: str, job_id: int) -> RunResult:
    """Worker body: roll ``job_id`` back with a new engine between its two orgs."""
    engine: SyncEngine = ctx.engine(source, target, observer=report, cancel=cancel)
    return engine.rollback(job_id)


def rollback_scope(ctx: AppContext, job_id: int) -> tuple[int, int]:
    """(records the job inserted and not yet deleted, updated records with a saved version not yet restored)."""
    return ctx.journal.rollback_counts(job_id)


class HistoryPage(QWidget):
    """Past jobs of the current template with their totals; the selected one's summary and errors.

    Signals:
        job_selected(int): the job shown in the details pane changed (0: none).
        rollback_finished(object): a rollback started here ended: its :class:`RunResult`, or None
            when it could not run (the reason went to the status bar).
        job_deleted(int): a job was marked Deleted from here.
    """

    job_selected = Signal(int)
    rollback_finished = Signal(object)
    job_deleted = Signal(int)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.current: JobSummary | None = None
        self.rollback_job: int | None = None
        self._rollback_max = 0
        self._can_roll_back = False
        self._button_facts: JobFacts | None = None   # the facts the buttons were last set on

        self.jobs_model = JobsModel(self)
        self.proxy = JobsFilterProxy(self)
        self.proxy.setSourceModel(self.jobs_model)
        self.breakdown_model = BreakdownModel(self)
        self.runs_model = RunsModel(self)

        self.previews_model = PreviewsModel(self)
        self.preview_dialogs: dict[int, Any] = {}     # preview id -> its open PreviewDialog

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        jobs_tab = QWidget()
        jobs_layout = QVBoxLayout(jobs_tab)
        jobs_layout.setContentsMargins(6, 8, 6, 6)
        jobs_layout.setSpacing(8)
        jobs_layout.addLayout(self._build_toolbar())
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self._build_jobs_area())
        self.splitter.addWidget(self._build_details())
        self.splitter.setStretchFactor(0, 2)
        self.splitter.setStretchFactor(1, 3)
        self.splitter.setSizes([220, 480])
        jobs_layout.addWidget(self.splitter, 1)
        self.view_tabs = QTabWidget()        # Alt+J / Alt+V, Ctrl+Tab between them
        self.view_tabs.addTab(jobs_tab, "&Jobs")
        self.previews_tab = self.view_tabs.addTab(self._build_previews(), "Pre&views")
        layout.addWidget(self.view_tabs, 1)

        self.show_deleted.toggled.connect(self._on_show_deleted_toggled)
        self.refresh_button.clicked.connect(self._on_refresh_button_clicked)
        self.jobs_view.selectionModel().currentRowChanged.connect(self._on_jobs_view_current_changed)
        self.jobs_view.doubleClicked.connect(self._on_jobs_view_double_clicked)
        self.open_button.clicked.connect(self._on_open_button_clicked)
        self.rollback_button.clicked.connect(self._on_rollback_button_clicked)
        self.delete_button.clicked.connect(self._on_delete_button_clicked)
        self.error_viewer.count_changed.connect(self._on_error_viewer_count_changed)
        self.ctx.template_changed.connect(self._on_ctx_template_changed)
        self.ctx.jobs_changed.connect(self._on_ctx_jobs_changed)
        self.ctx.previews_changed.connect(self._on_ctx_previews_changed)
        self.previews_view.selectionModel().currentRowChanged.connect(self._on_previews_view_current_changed)
        self.previews_view.activated.connect(self._on_previews_view_activated)
        self.open_preview_button.clicked.connect(self._on_open_preview_button_clicked)
        self.show_job_button.clicked.connect(self._on_show_job_button_clicked)
        self.refresh()

    # ------------------------------------------------------------------ construction
    def _build_toolbar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(10)
        self.title_label = QLabel()
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        row.addWidget(self.title_label)
        row.addStretch(1)
        self.show_deleted = QCheckBox("Show deleted")
        self.show_deleted.setToolTip("Also list the jobs marked Deleted (greyed out)")
        row.addWidget(self.show_deleted)
        self.refresh_button = QPushButton("Refresh")
        self.refresh_button.setToolTip("Read the jobs again from the journal")
        row.addWidget(self.refresh_button)
        return row

    def _build_jobs_area(self) -> QWidget:
        self.jobs_stack = QStackedWidget()
        self.jobs_empty = QLabel(NO_TEMPLATE_TEXT)
        self.jobs_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.jobs_empty.setWordWrap(True)
        self.jobs_empty.setStyleSheet(f"color: {MUTED};")
        self.jobs_stack.addWidget(self.jobs_empty)

        self.jobs_view = read_only_table(self.proxy, QAbstractItemView.SelectionMode.SingleSelection)
        self.jobs_view.setAlternatingRowColors(True)
        self.jobs_view.setWordWrap(False)
        self.jobs_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.jobs_view.verticalHeader().setDefaultSectionSize(self.jobs_view.fontMetrics().height() + 10)
        self.jobs_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.jobs_view.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        header.setMinimumSectionSize(50)
        for column in range(JobsModel.NOTE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        self._fit_job_columns()
        self.jobs_view.setSortingEnabled(True)
        self.jobs_view.sortByColumn(JobsModel.JOB, Qt.SortOrder.DescendingOrder)
        self.jobs_stack.addWidget(self.jobs_view)
        return self.jobs_stack

    def _build_previews(self) -> QWidget:
        """The Previews tab: the template's previews (what a sync would do, whether it was applied), the selected
        one's line, Open Preview (Enter, a double-click) and Show Job."""
        area = QWidget()
        box = QVBoxLayout(area)
        box.setContentsMargins(6, 8, 6, 6)
        box.setSpacing(8)
        self.previews_title = QLabel()
        self.previews_title.setTextFormat(Qt.TextFormat.RichText)
        box.addWidget(self.previews_title)
        self.previews_stack = QStackedWidget()
        self.previews_empty = QLabel(NO_PREVIEWS_TEXT)
        self.previews_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.previews_empty.setWordWrap(True)
        self.previews_empty.setStyleSheet(f"color: {MUTED};")
        self.previews_stack.addWidget(self.previews_empty)
        self.previews_view = read_only_table(self.previews_model, QAbstractItemView.SelectionMode.SingleSelection)
        self.previews_view.setAlternatingRowColors(True)
        self.previews_view.setWordWrap(False)
        self.previews_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.previews_view.verticalHeader().setDefaultSectionSize(self.previews_view.fontMetrics().height() + 10)
        self.previews_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        header = self.previews_view.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(True)
        for column in range(PreviewsModel.STATUS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.previews_stack.addWidget(self.previews_view)
        box.addWidget(self.previews_stack, 1)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.preview_label = QLabel()
        self.preview_label.setTextFormat(Qt.TextFormat.RichText)
        self.preview_label.setWordWrap(True)
        self.preview_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.preview_label, 1)
        self.open_preview_button = QPushButton("&Open Preview")
        self.open_preview_button.setToolTip("Show the preview: its counts, records and fields (Enter, or a "
                                            "double-click); apply it from there unless it was applied")
        self.show_job_button = QPushButton("Show Jo&b")
        row.addWidget(self.open_preview_button)
        row.addWidget(self.show_job_button)
        box.addLayout(row)
        return area

    def _build_details(self) -> QWidget:
        self.details_stack = QStackedWidget()
        self.details_empty = QLabel(NO_SELECTION_TEXT)
        self.details_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.details_empty.setStyleSheet(f"color: {MUTED};")
        self.details_stack.addWidget(self.details_empty)

        details = QWidget()
        box = QVBoxLayout(details)
        box.setContentsMargins(0, 4, 0, 0)
        box.setSpacing(6)
        head = QHBoxLayout()
        head.setSpacing(8)
        self.job_label = QLabel()
        self.job_label.setTextFormat(Qt.TextFormat.RichText)
        self.job_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        head.addWidget(self.job_label, 1)
        self.open_button = QPushButton("Open in Execute")
        self.open_button.setToolTip("Show this job on the Execute tab (summary, errors, retry, re-sync)")
        self.rollback_button = QPushButton("Roll back…")
        self.rollback_button.setProperty("danger", True)
        self.delete_button = QPushButton("Delete…")
        for button in (self.open_button, self.rollback_button, self.delete_button):
            head.addWidget(button)
        box.addLayout(head)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setMaximumHeight(16)
        self.progress.setFormat("%v of %m")
        self.progress_label = QLabel()
        self.progress_label.setProperty("role", "subtle")
        progress_row.addWidget(self.progress_label)
        progress_row.addWidget(self.progress, 1)
        self.progress_row = QWidget()
        self.progress_row.setLayout(progress_row)
        progress_row.setContentsMargins(0, 0, 0, 0)
        self.progress_row.hide()
        box.addWidget(self.progress_row)

        self.detail_tabs = QTabWidget()
        summary = QWidget()
        summary_box = QVBoxLayout(summary)
        summary_box.setContentsMargins(8, 8, 8, 8)
        summary_box.setSpacing(6)
        self.totals_label = QLabel()
        self.totals_label.setTextFormat(Qt.TextFormat.RichText)
        self.totals_label.setWordWrap(True)
        summary_box.addWidget(self.totals_label)
        tables = QHBoxLayout()
        tables.setSpacing(10)
        self.breakdown_view = self._make_table(self.breakdown_model)
        header = self.breakdown_view.horizontalHeader()
        header.setSectionResizeMode(BreakdownModel.OBJECT, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(BreakdownModel.HEADERS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Fixed)
            header.resizeSection(column, 88)
        tables.addWidget(self.breakdown_view, 3)
        self.runs_view = self._make_table(self.runs_model)
        self.runs_view.setToolTip("The job's runs, oldest first")
        header = self.runs_view.horizontalHeader()
        header.setSectionResizeMode(RunsModel.STARTED, QHeaderView.ResizeMode.Stretch)
        for column in (RunsModel.RUN, RunsModel.STATUS, RunsModel.TOOK):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        tables.addWidget(self.runs_view, 2)
        summary_box.addLayout(tables, 1)
        self.totals_note = QLabel("Inserted, updated and existing add up the job's sync, re-sync and retry runs; "
                                 "errors are the records still failing (see the Errors tab).")
        self.totals_note.setWordWrap(True)
        self.totals_note.setProperty("role", "subtle")
        summary_box.addWidget(self.totals_note)
        self.detail_tabs.addTab(summary, "Summary")
        errors = QWidget()
        errors_box = QVBoxLayout(errors)
        errors_box.setContentsMargins(8, 8, 8, 8)
        self.error_viewer = ErrorViewer(self.ctx, errors)
        errors_box.addWidget(self.error_viewer)
        self.detail_tabs.addTab(errors, "Errors")
        box.addWidget(self.detail_tabs, 1)
        self.details_stack.addWidget(details)
        return self.details_stack

    def _fit_job_columns(self) -> None:
        """Size every column but Note (which takes the rest) to its header and content."""
        metrics = self.jobs_view.fontMetrics()
        bold = self.jobs_view.font()
        bold.setBold(True)
        header_metrics = QFontMetrics(bold)
        model = self.jobs_model
        for column in range(JobsModel.NOTE):
            texts = [str(model.index(row, column).data() or "") for row in range(min(model.rowCount(), 500))]
            fonts = header_metrics if column == JobsModel.STATE else metrics
            widest = max([header_metrics.horizontalAdvance(JobsModel.HEADERS[column]) + 10,
                          *(fonts.horizontalAdvance(text) for text in texts)])
            self.jobs_view.setColumnWidth(column, max(widest + 14, 48))

    @staticmethod
    def _make_table(model: Any) -> QTableView:
        view = QTableView()
        view.setModel(model)
        view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        view.setAlternatingRowColors(True)
        view.setWordWrap(False)
        view.setFocusPolicy(Qt.FocusPolicy.NoFocus)
        view.verticalHeader().hide()
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 8)
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
        view.horizontalHeader().setHighlightSections(False)
        view.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return view

    # ------------------------------------------------------------------ API
    def refresh(self) -> None:
        """Re-read the current template's jobs from the journal, keeping the selected job."""
        template = self.ctx.template
        keep = self.current.id if self.current is not None else None
        summaries: list[JobSummary] = []
        if template is not None:
            try:
                jobs = self.ctx.journal.jobs(template.name, include_deleted=True)
                summaries = [summarize(self.ctx.journal, job) for job in jobs]
            except JournalError as exc:
                self.ctx.error(f"The history could not be read: {exc}")
        self.jobs_model.set_jobs(summaries)
        self._fit_job_columns()
        self._update_title()
        if template is None:
            self.jobs_empty.setText(NO_TEMPLATE_TEXT)
        elif self.proxy.rowCount() == 0:
            hidden = len(summaries)
            self.jobs_empty.setText(NO_JOBS_TEXT if not hidden else
                                    f"Every job of this template is deleted ({hidden}). Tick “Show deleted” "
                                    "to see them.")
        self.jobs_stack.setCurrentIndex(1 if self.proxy.rowCount() else 0)
        row = self.proxy.row_of(keep) if keep is not None else None
        if row is None and self.proxy.rowCount():
            row = 0
        if row is None:
            self._show_job(None)
        else:
            index = self.proxy.index(row, 0)
            selection = self.jobs_view.selectionModel()
            if selection.currentIndex().row() == row and self.current is not None:
                self._show_job(self.proxy.summary_at(row))   # same row: the signal would not fire
            selection.setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
            self.jobs_view.scrollTo(index)

    def refresh_previews(self) -> None:
        """Re-read the current template's previews from the journal, keeping the selected one."""
        template = self.ctx.template
        keep = self.current_preview()
        previews: list[PreviewRow] = []
        if template is not None:
            try:
                previews = [p for p in self.ctx.journal.previews() if p.template_name == template.name]
            except JournalError as exc:
                self.ctx.error(f"The previews could not be read: {exc}")
        self.previews_model.set_previews(previews)
        count = len(previews)
        self.view_tabs.setTabText(self.previews_tab, f"Pre&views ({count})" if count else "Pre&views")
        if template is None:
            self.previews_title.setText(f"<span style='color:{MUTED}'>No template open</span>")
            self.previews_empty.setText(NO_TEMPLATE_PREVIEWS_TEXT)
        else:
            self.previews_title.setText(f"<b>Previews of “{template.name}”</b> &nbsp;<span style='color:{MUTED}'>"
                                        f"{count} preview{'s' if count != 1 else ''}, newest first</span>")
            self.previews_empty.setText(NO_PREVIEWS_TEXT)
        self.previews_stack.setCurrentIndex(1 if count else 0)
        row = self.previews_model.row_of(keep.id) if keep is not None else None
        if row is None and count:
            row = 0
        if row is not None:
            self.previews_view.selectionModel().setCurrentIndex(
                self.previews_model.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self._show_preview_line()

    def current_preview(self) -> PreviewRow | None:
        """The preview selected on the Previews tab."""
        index = self.previews_view.selectionModel().currentIndex()
        return self.previews_model.preview(index.row()) if index.isValid() else None

    def select_preview(self, preview_id: int) -> bool:
        """Select ``preview_id`` on the Previews tab (False when it is not listed)."""
        row = self.previews_model.row_of(preview_id)
        if row is None:
            return False
        self.previews_view.selectionModel().setCurrentIndex(
            self.previews_model.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        return True

    def open_preview(self, preview_id: int | None = None) -> Any:
        """Open the preview dialog of ``preview_id`` (default: the selected one; raised when it is open already);
        read-only once the preview was applied. Returns the dialog, None when there is no preview."""
        from ..preview.dialog import PreviewDialog

        preview = self.current_preview() if preview_id is None else None
        preview_id = preview.id if preview is not None else preview_id
        if preview_id is None:
            return None
        dialog = self.preview_dialogs.get(preview_id)
        if dialog is not None:
            dialog.raise_()
            dialog.activateWindow()
            return dialog
        try:
            dialog = PreviewDialog(self.ctx, preview_id, self)
        except JournalError as exc:
            self.ctx.error(f"Preview #{preview_id} could not be opened: {exc}")
            return None
        self.preview_dialogs[preview_id] = dialog
        dialog.destroyed.connect(lambda _obj=None, key=preview_id: self.preview_dialogs.pop(key, None))
        dialog.show()
        return dialog

    def _show_preview_line(self) -> None:
        preview = self.current_preview()
        self.open_preview_button.setEnabled(preview is not None)
        job = preview.job_id if preview is not None else None
        self.show_job_button.setEnabled(job is not None)
        self.show_job_button.setToolTip(f"Select job #{job} on the Jobs tab: its summary, errors and rollback" if job
                                        else "The preview was not applied: it has no job")
        if preview is None:
            self.preview_label.setText("")
            return
        text = (f"<b>Preview #{preview.id}</b> &nbsp;<span style='color:{MUTED}'>{preview.source.alias} → "
                f"{preview.target.alias} · made {local_time(preview.created, seconds=True)}</span> &nbsp;"
                f"{preview_status(preview)}")
        if preview.message:
            text += f"<br><span style='color:{WARNING}'>{preview.message}</span>"
        self.preview_label.setText(text)

    def select_job(self, job_id: int) -> bool:
        """Select ``job_id`` in the list (False when it is not listed)."""
        row = self.proxy.row_of(job_id)
        if row is None:
            return False
        self.jobs_view.selectionModel().setCurrentIndex(
            self.proxy.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        return True

    def listed_job_ids(self) -> list[int]:
        """The ids of the jobs the list shows, in view order."""
        return [self.proxy.summary_at(row).id for row in range(self.proxy.rowCount())]

    def is_busy(self) -> bool:
        """True while a rollback started here is running."""
        return self.rollback_job is not None

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if not self.is_busy():
            self.refresh()
        self.refresh_previews()

    # ------------------------------------------------------------------ display
    def _update_title(self) -> None:
        template = self.ctx.template
        if template is None:
            self.title_label.setText(f"<span style='color:{MUTED}'>No template open</span>")
            return
        listed = self.proxy.rowCount()
        self.title_label.setText(f"<b>Jobs of “{template.name}”</b> &nbsp;<span style='color:{MUTED}'>"
                                 f"{listed} job{'s' if listed != 1 else ''}, newest first</span>")

    def _show_job(self, summary: JobSummary | None) -> None:
        self.current = summary
        if summary is None:
            self.details_stack.setCurrentIndex(0)
            self.breakdown_model.set_summary(None)
            self.runs_model.set_runs([])
            self.error_viewer.set_job(None)
            self._update_buttons()
            self.job_selected.emit(0)
            return
        self.details_stack.setCurrentIndex(1)
        job = summary.job
        colour = state_colour(job.state, interrupted=job.interrupted, left=summary.left)
        head = (f"<span style='font-size:12pt'><b>Job #{job.id}</b></span> &nbsp; "
                f"<b style='color:{colour}'>{job.state}</b>")
        if summary.left:
            head += (f" &nbsp;<span style='color:{WARNING}'>({summary.left:,} record{'s' if summary.left != 1 else ''}"
                     " left on the target: roll back again to undo them)</span>")
        if job.interrupted:
            head += f" &nbsp;<span style='color:{WARNING}'>({INTERRUPTED_NOTE})</span>"
        applied = f" · from preview #{summary.preview_id}" if summary.preview_id is not None else ""
        head += (f"<br><span style='color:{MUTED}'>{job.source.alias} → {job.target.alias} · started "
                 f"{local_time(job.created, seconds=True)}{applied}</span>")
        self.job_label.setText(head)
        self._show_totals(summary)
        self.breakdown_model.set_summary(summary)
        show_undo = summary.has_rollback_runs and not summary.rolling_back      # counted when the rollback ends
        self.breakdown_view.setColumnHidden(BreakdownModel.DELETED, not show_undo)
        self.breakdown_view.setColumnHidden(BreakdownModel.RESTORED, not show_undo)
        self.runs_model.set_runs(summary.runs)
        self.error_viewer.set_job(job.id)
        self._update_buttons()
        self.job_selected.emit(job.id)

    def _show_totals(self, summary: JobSummary) -> None:
        if not summary.has_sync_runs:
            text = f"<span style='color:{MUTED}'>This job has not synced any record yet.</span>"
        else:
            total = summary.totals
            errors_colour = ERROR if total.errors else SUCCESS
            text = (f"<b>{total.inserted:,}</b> inserted &nbsp;·&nbsp; <b>{total.updated:,}</b> updated &nbsp;·&nbsp; "
                    f"<b>{total.existing:,}</b> existing (unchanged) &nbsp;·&nbsp; "
                    f"<b style='color:{errors_colour}'>{total.errors:,}</b> errors")
            if summary.rolling_back:
                text += "<br>Rolling back: what it undoes is counted here when it ends."
            elif summary.has_rollback_runs:
                text += (f"<br>Rolled back: <b>{total.deleted:,}</b> deleted &nbsp;·&nbsp; "
                         f"<b>{total.restored:,}</b> restored")
        if summary.masked:
            text += "<br>Masked: " + ", ".join(f"{name} {count:,}" for name, count in summary.masked.items())
        if summary.job.message:
            text += f"<br><span style='color:{WARNING}'>{summary.job.message}</span>"
        self.totals_label.setText(text)

    def _update_buttons(self) -> None:
        """Rollback and Delete: this page's own rules (a job selected, no rollback running here), then what
        the lifecycle says of the job's facts, read from the journal (the job may have changed elsewhere)."""
        summary = self.current
        busy = self.is_busy()
        self.open_button.setEnabled(summary is not None and not summary.deleted)
        facts: JobFacts | None = None
        if summary is not None and not busy:
            try:
                facts = self.ctx.journal.job_facts(summary.id)
            except JournalError as exc:
                logger.debug("job %d: no facts: %s", summary.id, exc)
        page_rule = "Select a job" if summary is None else BUSY_TEXT if busy else None
        unread = "The job could not be read from the journal"
        rollback_why = page_rule or (refusal(Action.ROLLBACK, facts) if facts else unread)
        delete_why = page_rule or (refusal(Action.DELETE, facts) if facts else unread)
        self._can_roll_back = rollback_why is None
        self._button_facts = facts
        if facts is not None and rollback_why is None:
            rollback_tip = (f"Delete the {facts.to_delete:,} records this job inserted and restore the "
                            f"{facts.to_restore:,} it updated")
        self.rollback_button.setEnabled(self._can_roll_back)
        self.rollback_button.setToolTip(rollback_why or rollback_tip)
        self.delete_button.setEnabled(delete_why is None)
        self.delete_button.setToolTip(delete_why or "Hide this job from the history (state Deleted); the target org "
                                      "is not touched")
        self.show_deleted.setEnabled(not busy)

    # ------------------------------------------------------------------ confirmations
    def confirm(self, title: str, text: str) -> bool:
        """Ask a yes/no question (No is the default); tests answer it in its place."""
        return ask_yes_no(self, title, text)

    # ------------------------------------------------------------------ slots
    def _on_ctx_template_changed(self) -> None:
        self.current = None
        self.refresh()
        self.refresh_previews()

    def _on_ctx_jobs_changed(self) -> None:
        if not self.isVisible():
            # Re-read when the tab is shown (showEvent): what a job would undo is counted over its records,
            # a second and more at a million of them, and a running sync changes the job again and again.
            return
        if not self.is_busy():
            self.refresh()
        self.refresh_previews()          # an apply's job is the preview's

    def _on_ctx_previews_changed(self) -> None:
        self.refresh_previews()

    def _on_refresh_button_clicked(self) -> None:
        self.refresh()
        self.refresh_previews()

    def _on_previews_view_current_changed(self, _current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_preview_line()

    def _on_previews_view_activated(self, index: QModelIndex) -> None:
        if index.isValid():
            self.open_preview()

    def _on_open_preview_button_clicked(self) -> None:
        self.open_preview()

    def _on_show_job_button_clicked(self) -> None:
        preview = self.current_preview()
        if preview is None or preview.job_id is None:
            return
        if not self.select_job(preview.job_id):
            self.show_deleted.setChecked(True)       # the job was deleted since: list it greyed out
            self.select_job(preview.job_id)
        self.view_tabs.setCurrentIndex(0)
        self.jobs_view.setFocus()

    def _on_show_deleted_toggled(self, checked: bool) -> None:
        self.proxy.set_show_deleted(checked)
        self.refresh()

    def _on_jobs_view_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._show_job(self.proxy.summary_at(current.row()) if current.isValid() else None)

    def _on_jobs_view_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid() and self.current is not None and not self.current.deleted:
            self.ctx.open_job(self.current.id)

    def _on_error_viewer_count_changed(self, count: int) -> None:
        self.detail_tabs.setTabText(1, f"Errors ({count:,})" if count else "Errors")

    def _on_open_button_clicked(self) -> None:
        if self.current is not None and not self.current.deleted:
            self.ctx.open_job(self.current.id)

    def _fresh_current(self) -> JobSummary | None:
        """The selected job re-read from the journal (another tab may have changed it)."""
        if self.current is None:
            return None
        try:
            summary = summarize(self.ctx.journal, self.ctx.journal.job(self.current.id))
        except JournalError as exc:
            self.ctx.error(str(exc))
            return None
        self.current = summary
        return summary

    def _on_rollback_button_clicked(self) -> None:
        summary = self._fresh_current()
        if summary is None or self.is_busy():
            return
        self._update_buttons()
        if not self._can_roll_back:
            return
        job = summary.job
        facts = self._button_facts        # just read by _update_buttons: a count over every record, not again
        inserted, restorable = (facts.to_delete, facts.to_restore) if facts is not None and facts.job_id == job.id \
            else rollback_scope(self.ctx, job.id)
        if not self.confirm(ROLL_BACK_TITLE, rollback_question(job.id, job.target.alias, inserted, restorable)):
            return
        self.rollback_job = job.id
        self._rollback_max = max(1, inserted + restorable)
        self.progress.setRange(0, self._rollback_max)
        self.progress.setValue(0)
        self.progress_label.setText(f"Rolling back job #{job.id}…")
        self.progress_row.show()
        self._update_buttons()
        self.ctx.info(f"Rolling back job #{job.id}…")
        self.ctx.tasks.start(_rollback_task, self.ctx, job.source.alias, job.target.alias, job.id,
                             on_progress=self._on_rollback_progress, on_finished=self._on_rollback_finished,
                             on_error=self._on_rollback_errored, on_done=self._on_rollback_done)

    def _on_rollback_progress(self, event: Event) -> None:
        if isinstance(event, BatchDone):
            self._rollback_max = max(self._rollback_max, event.totals.total)
            self.progress.setMaximum(self._rollback_max)
            self.progress.setValue(min(event.totals.processed, self._rollback_max))
        elif isinstance(event, ObjectStarted):
            self.progress_label.setText(f"Rolling back job #{event.job_id}: {event.object}…")
        elif isinstance(event, StateChanged):
            self.refresh()      # the list and the details show the job's live state (Rollback, Rollback Started)

    def _on_rollback_finished(self, result: RunResult) -> None:
        totals = result.totals
        text = (f"Job #{result.job_id}: rollback {result.status.lower()} — {totals.deleted:,} deleted, "
                f"{totals.restored:,} restored, {totals.errors:,} could not be undone")
        if result.message:
            text += f" ({result.message})"
        if result.status == COMPLETED and not totals.errors:
            self.ctx.info(text)
        else:
            self.ctx.warn(text)
        self.rollback_finished.emit(result)

    def _on_rollback_errored(self, text: str) -> None:
        self.ctx.error(f"The rollback could not run: {text}")
        self.rollback_finished.emit(None)

    def _on_rollback_done(self) -> None:
        self.rollback_job = None
        self.progress_row.hide()
        self.refresh()
        self.ctx.jobs_changed.emit()

    def _on_delete_button_clicked(self) -> None:
        summary = self._fresh_current()
        if summary is None or self.is_busy():
            return
        self._update_buttons()
        if not self.delete_button.isEnabled():
            return
        job = summary.job
        text = (f"Delete job #{job.id} ({job.state}, {local_time(job.created)})?\n\n"
                "It is marked Deleted and hidden from the history (tick “Show deleted” to see it again); it can no "
                "longer be resumed, retried or rolled back. Records already in "
                f"{job.target.alias} stay as they are: roll the job back first to remove them.")
        if not self.confirm("Delete this job?", text):
            return
        try:
            self.ctx.journal.delete_job(job.id)
        except JournalError as exc:
            self.ctx.error(f"Job #{job.id} could not be deleted: {exc}")
            return
        self.ctx.info(f"Job #{job.id} deleted.")
        self.job_deleted.emit(job.id)
        self.ctx.jobs_changed.emit()   # refreshes this page too


__all__ = ["HistoryPage", "rollback_scope"]
