"""The Execute tab: pick the target, check metadata, run, watch, abort, then summary, errors,
retry, re-sync or roll back (spec: Execute tab, sections 7.1 to 7.5).

All engine work runs on the app's QThreadPool; engine events arrive here through the worker's
``progress`` signal and are applied to the widgets a few times a second, never per record.
"""

from __future__ import annotations

import copy
import logging
import time
from pathlib import Path
from typing import Any

from PySide6.QtCore import QElapsedTimer, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QGridLayout, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QListWidget, QListWidgetItem, QMessageBox, QProgressBar, QPushButton,
                               QTableView, QTabWidget, QVBoxLayout, QWidget)

from ...engine.eta import Eta, describe_left
from ...engine.events import (ABORTED, COMPLETED, EXECUTING, FAILED, INITIALIZING, PAUSED, BatchDone, Event,
                              FilesProgress, Notice, ObjectFinished, ObjectReading, ObjectStarted, RecordFailed, RunResult, StateChanged)
from ...engine.journal import JobRow, JournalError, ObjectCounts
from ...engine.lifecycle import Action, JobFacts, JobState, ObjectStatus, RunKind, refusal
from ...engine.progress import job_standing, planned_records, scanned_counts, times_before
from ...engine.run.settings import how_changes, saved_template, which_changes
from ...engine.plan import OrderDraft, Plan, build_plan
from ...engine.template import Template, TemplateError, parse_template, save_template
from ..context import AppContext
from ..preview.apply import ApplyRequest
from ..preview.dialog import PREVIEW_TIP, PreviewLauncher
from ..questions import ROLL_BACK_TITLE, ask_without_blocking, ask_yes_no, rollback_question
from ..style import ACCENT, ERROR, MUTED, SUCCESS, WARNING, state_colour
from ..workers import Worker
from .order_model import COL_DEFERRED, COL_INSERT, COL_OBJECT, COL_POS, COL_UPDATE, MigrationOrderModel
from .progress_model import COL_OBJECT as P_OBJECT
from .progress_model import COL_JOB, COL_PROGRESS, COL_STATUS, COL_TIME_LEFT, ProgressBarDelegate, ProgressModel

logger = logging.getLogger(__name__)

DONT_INSERT_WARNING = (
    "Don't Insert New Records: records of {object} that are not found on the target will not be created. "
    "The system then has no target record ID for them, so child or dependent objects that reference them "
    "may fail to sync or could end up linked to incorrect data. Only choose this when you are certain "
    "that every {object} record already exists on the target.")
RUN_IN_PROGRESS = "A run is in progress; wait for it to end or abort it"
NO_JOB = "No job yet: Start Sync creates one"
FIRST_STATES: dict[str, JobState] = {RunKind.SYNC: JobState.NOT_STARTED, RunKind.ROLLBACK: JobState.ROLLBACK}
"""The state a run of each kind shows from its start (others: Sync In Progress)."""
REFRESH_MS = 200
LIVE_ERRORS_MAX = 500


class ExecutePage(QWidget):
    """The Execute tab.

    Signals:
        run_finished(object): a run ended; the :class:`RunResult` (or None after a failure).
        plan_ready(): the migration order for the current template and orgs is known.
        time_left_changed(str): the run's time left as the status line says it (``about 3 min left``,
            ``estimating…``; empty once the run is over), from the rate measured so far (``engine.eta``).
    """

    run_finished = Signal(object)
    plan_ready = Signal()
    time_left_changed = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.plan: Plan | None = None
        self.plan_error: str | None = None
        self.planning = False
        self.job: JobRow | None = None
        self.worker: Worker | None = None
        self._fresh_facts: JobFacts | None = None     # the job's facts as the run that just ended left them
        self._button_facts: JobFacts | None = None    # the facts the run buttons were last set on
        self.run_kind: str | None = None
        self.run_status: str = ""
        self._pending: dict[str, ObjectCounts] = {}
        self._running: dict[str, tuple[int, int]] = {}     # objects under way now -> (place in the order, objects)
        self._pending_errors: list[RecordFailed] = []
        self._files_moved: dict[str, str] = {}           # files row -> "12 of 500 files · 12.0 of 224.0 MB · 3.1 MB/s"
        self._files_events: dict[str, FilesProgress] = {}   # files row -> its last event (the Total row adds them up)
        self._plan_token = 0
        self.preflight_report: Any = None
        self.preflight_override = False
        self.abort_box: QMessageBox | None = None     # "Abort the run?" while it is open
        self.preflight_dialog: Any = None              # Check Metadata Mismatch while it is open
        self._checks_seen: set[tuple[str, str, str] | None] = set()   # (template, source, target) checked
        self._start_when_ready = False
        self._plan_before_save: Plan | None = None    # while Save Order's recalculation runs
        self._run_orgs: tuple[str, str] = ("", "")     # (source, target) aliases of the run
        self._elapsed = QElapsedTimer()
        self.eta = Eta()                               # the run's time left, fed its events
        self._eta_seen = 0                             # self._elapsed at the last event it was fed

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(10)
        layout.addWidget(self._build_job_box())
        layout.addWidget(self._build_run_tabs(), 1)

        self.refresh_timer = QTimer(self)
        self.refresh_timer.setInterval(REFRESH_MS)
        self.refresh_timer.timeout.connect(self._on_refresh_timer_timeout)
        self.clock = QTimer(self)
        self.clock.setInterval(1000)
        self.clock.timeout.connect(self._on_clock_timeout)

        ctx.template_changed.connect(self._on_ctx_template_changed)
        ctx.selection_changed.connect(self._on_ctx_selection_changed)
        ctx.orgs_changed.connect(self._on_ctx_selection_changed)
        ctx.job_opened.connect(self._on_ctx_job_opened)
        ctx.apply_preview_requested.connect(self._on_ctx_apply_preview_requested)
        QShortcut(QKeySequence("Ctrl+Up"), self.order_view, activated=self._on_up_clicked)
        QShortcut(QKeySequence("Ctrl+Down"), self.order_view, activated=self._on_down_clicked)
        self._update_header()
        self._update_buttons()

    # ================================================================== construction
    def _build_job_box(self) -> QGroupBox:
        box = QGroupBox("Job")
        grid = QGridLayout(box)
        grid.setHorizontalSpacing(14)
        grid.setVerticalSpacing(8)
        self.source_label = QLabel()
        self.target_label = QLabel()
        self.select_target_button = QPushButton("Select Destination Org…")
        self.select_target_button.clicked.connect(self._on_select_target_clicked)
        grid.addWidget(QLabel("Source org:"), 0, 0)
        grid.addWidget(self.source_label, 0, 1)
        grid.addWidget(QLabel("Target org:"), 0, 2)
        grid.addWidget(self.target_label, 0, 3)
        grid.addWidget(self.select_target_button, 0, 4)
        grid.setColumnStretch(5, 1)

        self.job_label = QLabel("No job yet")
        self.state_badge = QLabel()
        self.state_badge.setProperty("badge", True)
        self.status_label = QLabel()
        self.elapsed_label = QLabel()
        self.time_left_label = QLabel()
        # as wide as its widest text from the start: the status line does not shift as the figure changes
        self.time_left_label.setMinimumWidth(self.time_left_label.fontMetrics().horizontalAdvance(
            "· about 10 h 00 min left") + 4)
        self.time_left_label.setToolTip("From the rate this run has measured so far: records done per second, per "
                                        "object and for the objects still to come (their scanned counts)")
        self.current_label = QLabel()
        grid.addWidget(self.job_label, 1, 0)
        status_row = QHBoxLayout()
        status_row.setSpacing(10)
        self.state_caption = QLabel("State:")
        status_row.addWidget(self.state_caption)
        status_row.addWidget(self.state_badge)
        status_row.addSpacing(8)
        status_row.addWidget(self.status_label)
        status_row.addSpacing(8)
        status_row.addWidget(self.elapsed_label)
        status_row.addWidget(self.time_left_label)
        status_row.addSpacing(8)
        status_row.addWidget(self.current_label)
        status_row.addStretch(1)
        grid.addLayout(status_row, 1, 1, 1, 5)

        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.check_button = QPushButton("Check Metadata Mismatch")
        self.check_button.setToolTip("Compare source and target metadata for the objects in scope: missing "
                                     "fields, validation rules, triggers and flows, permissions, record types, users")
        self.check_button.clicked.connect(self._on_check_clicked)
        self.start_button = QPushButton("Start Sync")
        self.start_button.setProperty("accent", True)
        self.preview_button = QPushButton("&Preview Changes")     # what Start Sync would do; writes nothing
        self.preview_button.clicked.connect(self._on_preview_clicked)
        self.preview_launcher: Any = None
        self.resync_button = QPushButton("Start ReSync")
        self.abort_button = QPushButton("Abort")
        self.abort_button.setProperty("danger", True)
        self.retry_button = QPushButton("Retry Failed")
        self.retry_button.setMinimumWidth(self.retry_button.fontMetrics().horizontalAdvance("Retry Failed (99,999)") + 32)
        self.rollback_button = QPushButton("Rollback…")
        self.rollback_button.setProperty("danger", True)
        self.start_button.clicked.connect(self._on_start_clicked)
        self.resync_button.clicked.connect(self._on_resync_clicked)
        self.abort_button.clicked.connect(self._on_abort_clicked)
        self.retry_button.clicked.connect(self._on_retry_clicked)
        self.rollback_button.clicked.connect(self._on_rollback_clicked)
        for button in (self.check_button, self.start_button, self.preview_button, self.resync_button,
                       self.abort_button, self.retry_button, self.rollback_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        self.hint_label = QLabel()
        self.hint_label.setProperty("role", "subtle")
        buttons.addWidget(self.hint_label)
        grid.addLayout(buttons, 2, 0, 1, 6)
        self.retry_settings_label = QLabel()      # what a retry or resync applies of the template saved now
        self.retry_settings_label.setWordWrap(True)
        self.retry_settings_label.setStyleSheet(f"color: {ACCENT};")
        self.retry_settings_label.hide()
        grid.addWidget(self.retry_settings_label, 3, 0, 1, 6)
        return box

    def _build_settings_box(self) -> QWidget:
        box = QWidget()
        layout = QVBoxLayout(box)
        intro = QLabel("Migration order, detected from the objects' relationships. Drag a row (or Ctrl+↑/↓) "
                       "to change it; most syncs never need to. Per object, choose whether new records are "
                       "inserted and existing ones updated.")
        intro.setWordWrap(True)
        intro.setProperty("role", "subtle")
        layout.addWidget(intro)
        self.order_model = MigrationOrderModel(self)
        self.order_model.changed.connect(self._on_order_model_changed)
        self.order_model.insert_turned_off.connect(self._on_order_model_insert_turned_off)
        self.order_view = QTableView()
        self.order_view.setModel(self.order_model)
        self.order_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.order_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.order_view.setDragEnabled(True)
        self.order_view.setAcceptDrops(True)
        self.order_view.setDropIndicatorShown(True)
        self.order_view.setDragDropMode(QAbstractItemView.DragDropMode.InternalMove)
        self.order_view.setDefaultDropAction(Qt.DropAction.MoveAction)
        self.order_view.verticalHeader().hide()
        self.order_view.setTabKeyNavigation(False)    # Tab leaves the table; the arrows move inside it
        self.order_view.setAlternatingRowColors(True)
        header = self.order_view.horizontalHeader()
        header.setSectionResizeMode(COL_POS, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_OBJECT, QHeaderView.ResizeMode.ResizeToContents)
        for column in (COL_INSERT, COL_UPDATE):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_DEFERRED, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.order_view, 1)

        row = QHBoxLayout()
        self.up_button = QPushButton("Move up")
        self.down_button = QPushButton("Move down")
        self.reset_button = QPushButton("Reset")
        self.save_order_button = QPushButton("Save Order")
        self.save_order_button.setProperty("accent", True)
        self.up_button.clicked.connect(self._on_up_clicked)
        self.down_button.clicked.connect(self._on_down_clicked)
        self.reset_button.clicked.connect(self._on_reset_clicked)
        self.save_order_button.clicked.connect(self._on_save_order_clicked)
        for button in (self.up_button, self.down_button, self.reset_button):
            row.addWidget(button)
        row.addStretch(1)
        row.addWidget(self.save_order_button)
        layout.addLayout(row)
        self.plan_progress = QProgressBar()
        self.plan_progress.setRange(0, 0)
        self.plan_progress.setFormat("Recalculating dependencies…")
        self.plan_progress.setTextVisible(True)
        self.plan_progress.hide()
        layout.addWidget(self.plan_progress)
        self.settings_note = QLabel()
        self.settings_note.setWordWrap(True)
        # room for a few lines from the start: a note that appears does not push the Save Order row up
        self.settings_note.setMinimumHeight(self.settings_note.fontMetrics().lineSpacing() * 4)
        self.settings_note.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        layout.addWidget(self.settings_note)
        return box

    def _build_run_tabs(self) -> QTabWidget:
        self.run_tabs = QTabWidget()
        self.run_tabs.addTab(self._build_settings_box(), "Sync Settings")
        progress = QWidget()
        layout = QVBoxLayout(progress)
        self.summary_label = QLabel()
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setWordWrap(True)
        layout.addWidget(self.summary_label)
        self.progress_model = ProgressModel(self)
        self.progress_view = QTableView()
        self.progress_view.setModel(self.progress_model)
        self.progress_view.setItemDelegateForColumn(COL_PROGRESS, ProgressBarDelegate(self.progress_view))
        self.progress_view.verticalHeader().hide()
        self.progress_view.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.progress_view.setAlternatingRowColors(True)
        header = self.progress_view.horizontalHeader()
        header.setSectionResizeMode(P_OBJECT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_STATUS, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(COL_PROGRESS, QHeaderView.ResizeMode.Fixed)
        header.resizeSection(COL_PROGRESS, 150)
        for column in range(COL_PROGRESS + 1, self.progress_model.columnCount()):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.progress_view.setColumnHidden(COL_JOB, True)      # shown for a retry or resync: the job's standing
        self.progress_view.setColumnHidden(COL_TIME_LEFT, True)    # shown while a run runs
        layout.addWidget(self.progress_view, 3)
        feed_title = QLabel("Errors as they happen")
        feed_title.setProperty("role", "subtle")
        layout.addWidget(feed_title)
        self.live_errors = QListWidget()
        self.live_errors.setAlternatingRowColors(True)
        self.live_errors.setUniformItemSizes(True)
        self.live_errors.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.live_errors.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        layout.addWidget(self.live_errors, 1)
        self.progress_tab = self.run_tabs.addTab(progress, "Progress")
        from ..errors.viewer import ErrorViewer

        self.error_viewer = ErrorViewer(self.ctx, self)
        self.errors_tab = self.run_tabs.addTab(self.error_viewer, "Errors")
        self.error_viewer.count_changed.connect(self._on_error_viewer_count_changed)
        return self.run_tabs

    # ================================================================== state
    def first_control(self) -> QWidget:
        """Where the keyboard focus starts: the first button of the job box (Tab goes on to Start Sync)."""
        return self.select_target_button

    def is_running(self) -> bool:
        return self.worker is not None

    def _template(self) -> Template | None:
        return self.ctx.template

    def _update_header(self) -> None:
        self.source_label.setText(f"<b>{self.ctx.source}</b>" if self.ctx.source else
                                  f"<span style='color:{MUTED}'>set one on the Templates tab</span>")
        self.target_label.setText(f"<b>{self.ctx.target}</b>" if self.ctx.target else
                                  f"<span style='color:{MUTED}'>none selected</span>")

    def _left(self, job: JobRow) -> int:
        """Records a Rollback Completed job's rollback left on the target (0 in any other state)."""
        return self._job_facts(job.id).to_undo if job.state == JobState.ROLLBACK_COMPLETED else 0

    def _job_facts(self, job_id: int) -> JobFacts:
        """What decides the run buttons: as the run just ended read them on its thread, else from the journal."""
        fresh = self._fresh_facts
        return fresh if fresh is not None and fresh.job_id == job_id else self.ctx.journal.job_facts(job_id)

    def _set_state_display(self, state: str | None, status: str | None = None, *, interrupted: bool = False,
                           left: int = 0) -> None:
        """The job's state badge (``left``: records a finished rollback left on the target) and the run's status."""
        self.state_caption.setVisible(state is not None)
        if state is None:
            self.state_badge.hide()
        else:
            left = left if state == JobState.ROLLBACK_COMPLETED else 0
            self.state_badge.show()
            self.state_badge.setText(state + (" (interrupted)" if interrupted else "")
                                     + (f" ({left:,} left)" if left else ""))
            self.state_badge.setToolTip(f"The rollback left {left:,} record{'s' if left != 1 else ''} on the "
                                        "target (they failed to delete or restore): roll back again to undo them"
                                        if left else "")
            self.state_badge.setStyleSheet(f"background: {state_colour(state, interrupted=interrupted, left=left)};")
        if status is not None:
            self.run_status = status
            colour = {COMPLETED: SUCCESS, ABORTED: WARNING, PAUSED: WARNING, FAILED: ERROR}.get(status, ACCENT)
            self.status_label.setText(f"Run: <b style='color:{colour}'>{status}</b>" if status else "")

    def _why_not_start(self) -> str | None:
        if self.worker is not None:
            return "a run is in progress"
        if self._template() is None:
            return "open a template first"
        if not self.ctx.source:
            return "choose the template's source org"
        if not self.ctx.target:
            return "select the destination org"
        if self.planning:
            return "recalculating dependencies…"
        if self.plan_error:
            return "fix the template first"
        if self.plan is None:
            return "the migration order is not ready"
        draft = self.order_model.draft
        if draft is not None and draft.problems:
            return "the migration order is impossible"
        if draft is not None and draft.dirty:
            return "save the order first"
        return None

    def _update_buttons(self) -> None:
        running = self.worker is not None
        job = self.job
        reason = self._why_not_start()
        self.start_button.setEnabled(reason is None)
        self.start_button.setToolTip(reason or "Scan (if needed) and send the records to the target org")
        self.preview_button.setEnabled(reason is None)     # a preview can start when a sync could
        self.preview_button.setToolTip(f"Preview Changes: {reason}" if reason else PREVIEW_TIP)
        # ReSync, Retry Failed and Rollback: what the lifecycle says of the job's facts (read once, from the
        # journal: the job may have changed elsewhere), after this window's own rule.
        facts = self._job_facts(job.id) if job is not None and not running else None
        self._button_facts = facts
        for button, action in ((self.resync_button, Action.RESYNC), (self.retry_button, Action.RETRY),
                               (self.rollback_button, Action.ROLLBACK)):
            why = RUN_IN_PROGRESS if running else NO_JOB if facts is None else refusal(action, facts)
            button.setEnabled(why is None)
            button.setToolTip(why or _does(action, facts))
        settings = self._retry_settings_text() if facts is not None else ""
        offered = self.retry_button.isEnabled() or self.resync_button.isEnabled()
        self.retry_settings_label.setText(settings if offered else "")
        self.retry_settings_label.setVisible(bool(settings) and offered)
        for button in (self.retry_button, self.resync_button):
            if button.isEnabled() and settings:
                button.setToolTip(f"{button.toolTip()}.\n{settings}")
        # the count on the button only when it can retry them (a greyed button's tooltip says why not)
        failed = facts.failed if facts is not None and self.retry_button.isEnabled() else 0
        self.retry_button.setText(f"Retry Failed ({failed:,})" if failed else "Retry Failed")
        self.abort_button.setEnabled(running and self.run_kind != "plan")
        self.select_target_button.setEnabled(not running)
        editable = not running and self.plan is not None and not self.planning
        for button in (self.up_button, self.down_button, self.reset_button):
            button.setEnabled(editable)
        draft = self.order_model.draft
        self.save_order_button.setEnabled(editable and draft is not None and draft.dirty and not draft.problems)
        self.order_view.setEnabled(not running)
        if running:
            self.hint_label.setText("")
        elif reason and reason != "a run is in progress":
            self.hint_label.setText(f"Start Sync: {reason}")
        else:
            self.hint_label.setText("")

    # ================================================================== plan
    def _on_ctx_template_changed(self) -> None:
        self._update_header()
        self._recompute_plan()
        self._pick_latest_job()

    def _on_ctx_selection_changed(self) -> None:
        self._update_header()
        self._recompute_plan()
        self._pick_latest_job()

    def _recompute_plan(self) -> None:
        template = self._template()
        self.plan, self.plan_error = None, None
        self.order_model.set_draft(None)
        if template is None or not self.ctx.source or not self.ctx.target or self.worker is not None:
            self.settings_note.setText("")
            self._update_buttons()
            return
        self._plan_token += 1
        token = self._plan_token
        self.planning = True
        self.plan_progress.show()
        self._update_buttons()
        self.ctx.tasks.start(_plan_task, self.ctx, self.ctx.source, self.ctx.target, template.as_json(),
                             on_finished=lambda plan, t=token: self._on_plan_finished(t, plan),
                             on_error=lambda text, t=token: self._on_plan_failed(t, text))

    def _on_plan_finished(self, token: int, plan: Plan) -> None:
        if token != self._plan_token:
            return
        self.planning = False
        self.plan_progress.hide()
        self.plan = plan
        self.order_model.set_draft(OrderDraft(plan))
        self._show_plan_notes()
        self._update_buttons()
        if self._plan_before_save is not None:
            before, self._plan_before_save = self._plan_before_save, None
            self.ctx.info(f"Order saved, dependencies recalculated: {plan_changes(before, plan)}.")
        self.plan_ready.emit()
        if self.job is None:
            self.progress_model.reset(plan.order)
        self._start_if_ready()

    def _on_plan_failed(self, token: int, text: str) -> None:
        if token != self._plan_token:
            return
        self.planning = False
        self.plan_progress.hide()
        self.plan_error = text
        self.settings_note.setText(f"<span style='color:{ERROR}'>The template cannot run: {text}</span>")
        self._update_buttons()
        if self._plan_before_save is not None:
            self._plan_before_save = None
            self.ctx.error(f"The order was saved, but the dependencies could not be recalculated: {text}")
        self._start_if_ready()       # says why the sync asked for from the check does not start

    def _show_plan_notes(self) -> None:
        draft = self.order_model.draft
        if draft is None:
            return
        notes = []
        for problem in draft.problems.values():
            notes.append(f"<span style='color:{ERROR}'>{problem}</span>")
        neither = [name for name in draft.order if not draft.insert[name] and not draft.update[name]]
        if neither:
            notes.append(f"<span style='color:{ERROR}'>Neither Insert nor Update for {', '.join(neither)}: "
                         f"{'its' if len(neither) == 1 else 'their'} records are only matched, nothing is "
                         "written.</span>")
        off = [name for name in draft.order if not draft.insert[name] and draft.update[name]]
        if off:
            notes.append(f"<span style='color:{WARNING}'>Not inserting new records for {', '.join(off)}: "
                         "children that need those records may fail.</span>")
        if draft.dirty and not draft.problems:
            notes.append("Unsaved changes: press Save Order before starting a sync.")
        if self.plan and self.plan.warnings:
            shown = self.plan.warnings[:4]
            more = len(self.plan.warnings) - len(shown)
            notes.append(f"<span style='color:{MUTED}'>" + "<br>".join(shown) +
                         (f"<br>…and {more} more" if more > 0 else "") + "</span>")
        self.settings_note.setText("<br>".join(notes))

    def _on_order_model_changed(self) -> None:
        self._show_plan_notes()
        self._update_buttons()

    def _on_order_model_insert_turned_off(self, name: str) -> None:
        QMessageBox.warning(self, "Don't Insert New Records", DONT_INSERT_WARNING.format(object=name))

    def _selected_order_row(self) -> int:
        rows = self.order_view.selectionModel().selectedRows() if self.order_view.selectionModel() else []
        return rows[0].row() if rows else -1

    def _on_up_clicked(self) -> None:
        row = self._selected_order_row()
        if row > 0 and self.order_model.move_up(row):
            self.order_view.selectRow(row - 1)

    def _on_down_clicked(self) -> None:
        row = self._selected_order_row()
        if row >= 0 and self.order_model.move_down(row):
            self.order_view.selectRow(row + 1)

    def _on_reset_clicked(self) -> None:
        if self.plan is not None:
            self.order_model.set_draft(OrderDraft(self.plan))
            self._on_order_model_changed()

    def _on_save_order_clicked(self) -> None:
        """Write the order and switches into the template, then recalculate the plan in the background."""
        draft = self.order_model.draft
        template = self._template()
        if draft is None or template is None or self.ctx.template_path is None:
            return
        updated = draft.apply_to(copy.deepcopy(template))
        try:
            save_template(updated, self.ctx.template_path)
        except OSError as exc:
            self.ctx.error(f"The order could not be saved: {exc}")
            return
        self._plan_before_save = self.plan
        self.ctx.info("Order saved; recalculating dependencies…")
        self.ctx.open_template(self.ctx.template_path)

    # ================================================================== metadata check
    def _on_check_clicked(self) -> None:
        self._open_check()

    def _check_key(self) -> tuple[str, str, str] | None:
        template = self._template()
        if template is None or not self.ctx.source or not self.ctx.target:
            return None
        return template.name, self.ctx.source, self.ctx.target

    def _first_run_needs_check(self) -> bool:
        """The first sync of a template between two orgs shows the metadata check before it starts (its
        findings and the automation it suggests switching off), until a sync starts from it or the user ticks
        "Don't show this again" there (remembered for the template and orgs). Closing it is "not now"."""
        from ..preflight.dialog import first_check_skipped

        key = self._check_key()
        if self.job is not None or key in self._checks_seen:
            return False
        return key is None or not first_check_skipped(self.ctx.settings, *key)

    def _open_check(self, *, then_start: bool = False) -> None:
        """Open Check Metadata Mismatch (window-modal, without blocking); with ``then_start`` its Start Sync
        button starts the sync."""
        from ..preflight.dialog import PreflightDialog

        template = self._template()
        if template is None or not self.ctx.source or not self.ctx.target:
            self.ctx.warn("Choose a template, its source org and a destination org first.")
            return
        if self.preflight_dialog is not None:
            self.preflight_dialog.raise_()
            return
        dialog = PreflightDialog(self.ctx, self.ctx.source, self.ctx.target, template, self,
                                 start_text="Start Sync" if then_start else None)
        if then_start:
            dialog.setWindowTitle(f"Before the first sync: metadata check of {self.ctx.source} → {self.ctx.target}")
        dialog.finished.connect(lambda _result, d=dialog: self._on_preflight_dialog_finished(d))
        self.preflight_dialog = dialog
        dialog.open()

    def _on_preflight_dialog_finished(self, dialog: Any) -> None:
        self.preflight_dialog = None
        dialog.deleteLater()
        self.preflight_report = dialog.report()
        self.preflight_override = dialog.override()
        if self.preflight_report is None:
            return
        self.ctx.info(f"Metadata check: {self.preflight_report.summary()}")
        if dialog.start_requested:      # closed without starting: shown again at the next Start Sync
            self._checks_seen.add(self._check_key())
            self._start_when_ready = True
            self._start_if_ready()

    def _start_if_ready(self) -> None:
        """Start the sync asked for from the check once the plan is ready again (saving the automation
        ticks reopens the template, which recalculates it)."""
        if not self._start_when_ready or self.planning:
            return
        self._start_when_ready = False
        template = self._template()
        reason = self._why_not_start()
        if template is None or reason is not None:
            self.ctx.warn(f"The sync did not start: {reason or 'open a template first'}.")
            return
        self._start(RunKind.SYNC, template=template.as_json())

    # ================================================================== target org
    def _on_select_target_clicked(self) -> None:
        from ..orgs.selector import OrgSelectorDialog

        dialog = OrgSelectorDialog(self.ctx, self, title="Select Destination Org", exclude_alias=self.ctx.source)
        if dialog.exec() and dialog.selected_alias():
            self.ctx.set_target(dialog.selected_alias())
        dialog.deleteLater()

    # ================================================================== jobs
    def _pick_latest_job(self) -> None:
        if self.worker is not None:
            return
        template = self._template()
        job = None
        if template is not None and self.ctx.source and self.ctx.target:
            try:
                source, target = self.ctx.org_ref(self.ctx.source), self.ctx.org_ref(self.ctx.target)
            except Exception:  # an org was removed: no job to show
                source = target = None
            if source and target:
                job = next((j for j in self.ctx.journal.jobs(template.name)
                            if j.source.org_id == source.org_id and j.target.org_id == target.org_id), None)
        self._show_job(job)

    def _on_ctx_job_opened(self, job_id: int) -> None:
        if self.worker is not None:
            self.ctx.warn("A run is in progress; open the job again when it ends.")
            return
        self._show_job(self.ctx.journal.job(job_id))
        window = self.window()
        if hasattr(window, "show_page"):
            window.show_page("Execute")

    def _show_job(self, job: JobRow | None) -> None:
        self.job = job
        self.live_errors.clear()
        self._show_standing(None)      # the summary shows it again for a job whose last run is a retry or resync
        if job is None:
            self.job_label.setText("No job yet")
            self._set_state_display(None, "")
            self.elapsed_label.setText("")
            self.current_label.setText("")
            self._running.clear()
            self.progress_model.reset(self.plan.order if self.plan else [])
            self.summary_label.setText(f"<span style='color:{MUTED}'>Start Sync to create a job. Progress and "
                                       "the summary appear here.</span>")
            self.error_viewer.set_job(None)
            self._update_buttons()
            return
        self.job_label.setText(f"Job <b>#{job.id}</b>")
        runs = self.ctx.journal.runs(job.id)
        last = runs[-1] if runs else None
        self._set_state_display(job.state, last.status if last else "", interrupted=job.interrupted,
                                left=self._left(job))
        order = (job.plan or {}).get("order") or (self.plan.order if self.plan else [])
        if last is not None:
            planned = scanned_counts(self.ctx.journal, job.id) if last.kind == RunKind.SYNC else {}
            self.progress_model.reset(order, last.counts, rollback=last.kind == RunKind.ROLLBACK, planned=planned)
            if last.status not in (INITIALIZING, EXECUTING):    # a run that ended (or a crash ended)
                self.progress_model.settle(last.status)
            self.elapsed_label.setText("")
            self._show_summary(last.kind, last.counts, job.message, self.ctx.journal.masked_counts(run_id=last.id))
        else:
            self.progress_model.reset(order)
            self.summary_label.setText("")
        self.current_label.setText("")
        self._running.clear()
        self.error_viewer.set_job(job.id)
        self._update_error_tab()
        self._update_buttons()

    def _show_summary(self, kind: str, counts: dict[str, ObjectCounts], message: str | None,
                      masked: dict[str, int] | None = None) -> None:
        total = ObjectCounts()
        for oc in counts.values():
            total = total + oc
        if kind == RunKind.ROLLBACK:
            parts = [f"<b>{total.deleted:,}</b> deleted", f"<b>{total.restored:,}</b> restored",
                     f"<b style='color:{ERROR if total.errors else SUCCESS}'>{total.errors:,}</b> could not be undone"]
        elif kind == RunKind.SCAN:
            parts = [f"<b>{total.total:,}</b> records in scope"]
        else:
            parts = [f"<b>{total.inserted:,}</b> inserted", f"<b>{total.updated:,}</b> updated",
                     f"<b>{total.existing:,}</b> existing (unchanged)",
                     f"<b style='color:{ERROR if total.errors else SUCCESS}'>{total.errors:,}</b> errors"]
            if masked:
                parts.append(f"<b>{sum(masked.values()):,}</b> values masked in {len(masked)} "
                             f"field{'s' if len(masked) != 1 else ''}")
        self.summary_label.setToolTip("Masked: " + ", ".join(f"{name} {n:,}" for name, n in masked.items())
                                      if masked else "")
        title = RunKind(kind).label
        job_line = self._show_standing(kind)
        this_run = " (this run)" if job_line else ""
        applied = self._applied_preview()
        text = (f"<b>Applied preview #{applied}</b> &nbsp;·&nbsp; " if applied is not None and kind == RunKind.SYNC
                else "")
        text += f"<b>{title} summary</b>{this_run}<b>:</b> &nbsp;" + " &nbsp;·&nbsp; ".join(parts)
        if job_line:
            text += f"<br>{job_line}"
        if message:
            text += f"<br><span style='color:{WARNING}'>{message}</span>"
        self.summary_label.setText(text)

    def _applied_preview(self) -> int | None:
        """The preview the shown job applied (Apply This Preview), None for a job Start Sync made."""
        return self.ctx.journal.preview_of_job(self.job.id) if self.job is not None else None

    def _show_standing(self, kind: str | None) -> str:
        """For a retry or resync (whose counts are only what that run did): where the job's records stand after
        all its runs, in the Job column and as the summary's line ("Job #3 in all: …"); else hide it, ""."""
        job = self.job
        standing = job_standing(self.ctx.journal, job.id) if job and kind in (RunKind.RETRY, RunKind.RESYNC) else None
        self.progress_model.set_standing(standing, job.id if job else None)
        self.progress_view.setColumnHidden(COL_JOB, standing is None)
        if standing is None or job is None:
            return ""
        total = self.progress_model.job_total()
        runs = sum(1 for run in self.ctx.journal.runs(job.id)
                   if run.kind in (RunKind.SYNC, RunKind.RESYNC, RunKind.RETRY))
        parts = [f"{total.records:,} records", f"{total.synced:,} synced",
                 f"<b style='color:{ERROR if total.failed else SUCCESS}'>{total.failed:,}</b> failed"]
        parts += [f"{count:,} {label}" for count, label in ((total.skipped, "skipped"),
                                                            (total.not_reached, "not reached yet")) if count]
        return (f"<b>Job #{job.id} in all:</b> &nbsp;{', '.join(parts)} "
                f"({runs} run{'s' if runs != 1 else ''})")

    def _update_error_tab(self) -> None:
        self._on_error_viewer_count_changed(self.error_viewer.error_count())

    def _on_error_viewer_count_changed(self, count: int) -> None:
        """The tab's count is the viewer's, whichever job it shows (none: no count); during a sync, resync or retry
        it is the run's own, from its progress (the refresh timer), never the journal read at some other moment."""
        if self.worker is not None and self.run_kind != RunKind.ROLLBACK:
            return
        self.run_tabs.setTabText(self.errors_tab, f"Errors ({count:,})" if count else "Errors")

    # ================================================================== runs
    def _confirm(self, title: str, text: str) -> bool:
        return ask_yes_no(self, title, text)

    def _on_start_clicked(self) -> None:
        template = self._template()
        if template is None or self._why_not_start() is not None:
            return
        if self._first_run_needs_check():
            self._open_check(then_start=True)
            return
        self._start(RunKind.SYNC, template=template.as_json())

    def _on_preview_clicked(self) -> None:
        """Preview Changes: what Start Sync would do, record by record, with nothing written (gui/preview/dialog.py)."""
        template = self._template()
        if template is None or self._why_not_start() is not None or not self.ctx.source or not self.ctx.target:
            return
        if self.preview_launcher is not None and self.preview_launcher.running:
            self.preview_launcher.progress.raise_()
            return
        self.preview_launcher = PreviewLauncher(self.ctx, self.ctx.source, self.ctx.target, template.as_json(),
                                                override=self.preflight_override, parent=self)
        self.preview_launcher.start()

    def _on_resync_clicked(self) -> None:
        if self.job is not None:
            self._start(RunKind.RESYNC, template=self._current_template_json(), job_id=self.job.id)

    def _on_retry_clicked(self) -> None:
        if self.job is not None:
            self._start(RunKind.RETRY, template=self._current_template_json(), job_id=self.job.id)

    def _current_template(self) -> tuple[Template, Path | None] | None:
        """The shown job's template as saved now (the open one when it is that template, else the templates
        folder's of that name) and its file: a retry or resync takes its settings of how records are written."""
        if self.job is None:
            return None
        template = self._template()
        if template is not None and template.name == self.job.template_name:
            return template, self.ctx.template_path
        return saved_template(self.job.template_name)

    def _current_template_json(self) -> dict[str, Any] | None:
        current = self._current_template()
        return current[0].as_json() if current else None

    def _retry_settings_text(self) -> str:
        """"Retry Failed and Start ReSync use the template's current settings: …" when the template saved now
        writes records differently from the job's last run, and "… keep the job's …" when it takes other records or
        fields (which only a new sync applies: a user who follows the check's "add LastName to the Account line"
        must not retry in vain); else ""."""
        current = self._current_template()
        if self.job is None or current is None:
            return ""
        try:
            applied = parse_template(self.job.template)
            changes, kept = how_changes(applied, current[0]), which_changes(applied, current[0])
        except TemplateError:
            return ""
        if not changes and not kept:
            return ""
        saved = when = ""
        if current[1] is not None and current[1].exists():
            ago = _ago(time.time() - current[1].stat().st_mtime)
            saved, when = f" (saved {ago})", f", saved {ago}"
        texts = []
        if changes:
            texts.append(f"Retry Failed and Start ReSync use the template's current settings: {'; '.join(changes)}"
                         f"{saved}")
        if kept:
            texts.append(f"Retry Failed and Start ReSync keep job #{self.job.id}'s objects, fields and filters; the "
                         f"template's changes to them ({', '.join(kept)}{'' if changes else when}) apply to a new "
                         "job: Start Sync")
        return ". ".join(texts)

    def _on_rollback_clicked(self) -> None:
        if self.job is None:
            return
        facts = self._button_facts    # what the button was enabled on (a count over every record: not again)
        if facts is None or facts.job_id != self.job.id:
            facts = self._job_facts(self.job.id)
        question = rollback_question(self.job.id, self.job.target.alias, facts.to_delete, facts.to_restore)
        if not self._confirm(ROLL_BACK_TITLE, question):
            return
        self._start(RunKind.ROLLBACK, job_id=self.job.id)

    def _on_abort_clicked(self) -> None:
        """Ask (without blocking: the run goes on meanwhile); a run that ends first closes the question."""
        if self.worker is None:
            return
        if self.abort_box is not None:
            self.abort_box.raise_()
            return
        self.worker.cancel.hold()      # nothing more goes out while the user decides
        self.abort_box = ask_without_blocking(
            self, "Abort the run?", "The run is paused before its next batch. Abort it? Records already saved in "
            "the target org stay and are recorded; you can re-sync or roll back later. No goes on.",
            self._on_abort_box_answered)

    def _on_abort_box_answered(self, box: QMessageBox, yes: bool) -> None:
        if box is not self.abort_box:
            return           # closed because the run ended first
        self.abort_box = None
        if not yes:
            if self.worker is not None:
                self.worker.cancel.release()
            return
        if self.worker is None:
            self.ctx.info("The run had already ended: there is nothing to abort.")
            return
        self.worker.cancel.cancel("aborted by the user")
        self.abort_button.setEnabled(False)
        self.ctx.info("Aborting after the current batch…")

    def _close_abort_box(self) -> None:
        """The run ended while "Abort the run?" was open: close it and say so."""
        box, self.abort_box = self.abort_box, None
        if box is None:
            return
        box.reject()
        self.ctx.info(f"The run ended ({self.run_status or 'finished'}) before it was aborted: there is nothing to "
                      "abort.")

    def _on_ctx_apply_preview_requested(self, request: ApplyRequest) -> None:
        """Apply This Preview, confirmed in its dialog: run it here as a new sync job, as Start Sync's runs go."""
        if self.worker is not None:
            request.refusal = "a run is in progress on the Execute tab; apply the preview when it ends"
            return
        request.started = True
        self._start(RunKind.SYNC, apply=request)
        window = self.window()
        if hasattr(window, "show_page"):
            window.show_page("Execute")

    def _start(self, kind: str, *, template: dict[str, Any] | None = None, job_id: int | None = None,
               apply: ApplyRequest | None = None) -> None:
        """Start a run of ``kind`` on the pool: a new sync of ``template``, a run of job ``job_id``, or the sync
        that applies a preview (``apply``: the preview's orgs and order)."""
        source = self.job.source.alias if job_id is not None and self.job else self.ctx.source
        target = self.job.target.alias if job_id is not None and self.job else self.ctx.target
        if apply is not None:
            source, target = apply.source, apply.target
        if not source or not target:
            return
        self.run_kind = kind
        self._run_orgs = (source, target)
        self.live_errors.clear()
        self._pending.clear()
        self._pending_errors.clear()
        order = self.plan.order if self.plan else (self.job.plan or {}).get("order", []) if self.job else []
        if apply is not None and apply.order:
            order = apply.order
        self.progress_model.reset(order, rollback=kind == RunKind.ROLLBACK)     # the worker reports what is planned
        self.summary_label.setText("")
        self._show_standing(kind)      # a retry or resync: the job's standing beside the run's counts
        if kind == RunKind.SYNC:      # a new job: nothing of the one shown before may linger
            self.job_label.setText("New job")
            self.error_viewer.set_job(None)
        # The state the run puts the job in, from the start: never the state of the run before.
        self._set_state_display(FIRST_STATES.get(kind, JobState.SYNC_IN_PROGRESS), INITIALIZING)
        self._elapsed.start()
        self.elapsed_label.setText("Elapsed: 00:00")
        self.eta = Eta()
        self._files_moved = {}
        self._files_events = {}
        self._eta_seen = 0
        self.progress_view.setColumnHidden(COL_TIME_LEFT, False)
        self._show_time_left()
        self.clock.start()
        self.refresh_timer.start()
        self._fresh_facts = None
        self.worker = self.ctx.tasks.start(_run_then_facts, self.ctx, kind, source, target, template, job_id,
                                           self.preflight_override, apply,
                                           on_progress=self._on_worker_progress,
                                           on_finished=self._on_worker_finished,
                                           on_error=self._on_worker_error, on_done=self._on_worker_done)
        self.run_tabs.setCurrentIndex(self.progress_tab)
        self._update_buttons()

    def _on_worker_progress(self, event: Any) -> None:
        """Engine events, on the GUI thread. Counts are kept and drawn by the refresh timer."""
        if self.ctx.closing:
            return
        if isinstance(event, tuple) and event and event[0] == "job":
            self.job = self.ctx.journal.job(event[1])
            self.job_label.setText(f"Job <b>#{self.job.id}</b>")
            self.error_viewer.set_job(self.job.id)
            return
        if isinstance(event, tuple) and event and event[0] == "facts":
            self._fresh_facts = event[1]       # the run has ended: read for the buttons once the worker is done
            return
        if isinstance(event, tuple) and event and event[0] == "planned":
            self.progress_model.set_planned(event[1])    # the Total row: records done of records planned
            self.eta.set_planned(event[1])
            return
        if isinstance(event, Event):
            self.eta.observe(event)
            self._eta_seen = self._elapsed.elapsed()
        if isinstance(event, BatchDone):
            self._pending[event.object] = event.counts
        elif isinstance(event, (ObjectReading, ObjectStarted)):
            # The row the status line names changes with it, not at the next refresh: never "Pending" meanwhile.
            if isinstance(event, ObjectReading):
                self._pending[event.object] = ObjectCounts(status=ObjectStatus.READING)
            else:
                self._pending[event.object] = ObjectCounts(total=event.total, status=ObjectStatus.EXECUTING)
            self.progress_model.update_objects(self._pending)
            self._pending.clear()
            self._running[event.object] = (event.index, event.count)
            self._show_running(event.object)
        elif isinstance(event, ObjectFinished):
            self._pending[event.object] = event.counts
            if self._running.pop(event.object, None) is not None and self._running:
                self._show_running(self.progress_model.current)
            if self.run_kind in (RunKind.RETRY, RunKind.RESYNC):    # the job's standing moves with the run
                self._show_standing(self.run_kind)
        elif isinstance(event, RecordFailed):
            self._pending_errors.append(event)
        elif isinstance(event, FilesProgress):   # the files rows' Time left column: MB done of MB planned, rate
            self._files_moved[event.object] = files_text(event)
            self._files_events[event.object] = event
        elif isinstance(event, StateChanged):
            status = event.status
            if event.state == JobState.SCANNED and self.run_kind == RunKind.SYNC:
                status = INITIALIZING      # the scan step is done, the sync itself is getting ready: not "Completed"
            self._set_state_display(event.state, status)
            self.ctx.jobs_changed.emit()      # the History page shows the job's live state
            if event.state == JobState.SYNC_IN_PROGRESS and self.run_kind == RunKind.SYNC and self.job:
                # The scan is done: the Total row counts records done of the records it found.
                scanned = scanned_counts(self.ctx.journal, self.job.id)
                self.progress_model.set_planned(scanned)
                self.eta.set_planned(scanned)
                # what each object took in the last sync of this template to this target: the prior of its time left
                self.eta.use_prior(times_before(self.ctx.journal, self.job.id))
        elif isinstance(event, Notice):
            self.ctx.info(event.text)

    def _show_running(self, reached: str | None) -> None:
        """The status line and the bold rows: the objects under way now (several at once with the template's
        ``parallel_objects``: "Current objects: Account, Lead (1 and 3 of 4)")."""
        self.progress_model.set_current(reached, self._running)
        names = list(self._running)
        if len(names) == 1:
            index, count = self._running[names[0]]
            self.current_label.setText(f"Current object: <b>{names[0]}</b> ({index} of {count})")
        elif names:
            places = [str(index) for index, _count in self._running.values()]
            count = next(iter(self._running.values()))[1]
            self.current_label.setText(f"Current objects: <b>{', '.join(names)}</b> "
                                       f"({', '.join(places[:-1])} and {places[-1]} of {count})")

    def _on_refresh_timer_timeout(self) -> None:
        self.progress_model.update_objects(self._pending)
        self._pending.clear()
        if self.worker is not None:
            self._show_time_left()
        if self.worker is not None and self.run_kind != RunKind.ROLLBACK:     # errors so far, during the run
            errors = self.progress_model.totals().errors
            self.run_tabs.setTabText(self.errors_tab, f"Errors ({errors:,})" if errors else "Errors")
        if self._pending_errors:
            self.live_errors.setUpdatesEnabled(False)
            for event in self._pending_errors[-LIVE_ERRORS_MAX:]:
                item = QListWidgetItem(f"{event.object} · {event.source_id or event.target_id or '—'} · "
                                       f"{event.status_code}: {event.message}")
                item.setToolTip(f"{event.status_code}: {event.message}")
                self.live_errors.addItem(item)
            while self.live_errors.count() > LIVE_ERRORS_MAX:
                self.live_errors.takeItem(0)
            self.live_errors.scrollToBottom()
            self.live_errors.setUpdatesEnabled(True)
            self._pending_errors.clear()

    def _on_clock_timeout(self) -> None:
        seconds = self._elapsed.elapsed() // 1000
        self.elapsed_label.setText(f"Elapsed: {seconds // 60:02d}:{seconds % 60:02d}")

    def _show_time_left(self, *, over: bool = False) -> None:
        """The run's time left in the status line and per object under way (Time left column), counted
        down from the last event; nothing once the run is ``over``."""
        if over:
            text, per_object = "", {}
        else:
            left = self.eta.remaining(after=max(0, self._elapsed.elapsed() - self._eta_seen) / 1000)
            text = describe_left(left.total)
            per_object = {name: describe_left(seconds) for name, seconds in left.objects.items()
                          if self.progress_model.counts.get(name, ObjectCounts()).status in
                          (ObjectStatus.READING, ObjectStatus.EXECUTING, ObjectStatus.ROLLING_BACK)}
            per_object[""] = text
            for name, moved in self._files_moved.items():
                per_object[name] = f"{moved} · {per_object[name]}" if per_object.get(name) else moved
            if self._files_events:                 # the Total row: the files rows added up
                moved = files_total_text(list(self._files_events.values()))
                per_object[""] = f"{moved} · {text}" if text else moved
        self.progress_model.set_time_left(per_object)
        label = f"· {text}" if text else ""
        if self.time_left_label.text() != label:
            self.time_left_label.setText(label)
            self.time_left_changed.emit(text)

    def _on_worker_finished(self, result: RunResult) -> None:
        if self.ctx.closing:
            return
        self._on_refresh_timer_timeout()
        self.progress_model.update_objects(result.objects)
        self.progress_model.settle(result.status)
        self._set_state_display(result.state, result.status)
        self._show_summary(result.kind, result.objects, result.message, result.masked)
        level = "info" if result.status == COMPLETED else ("warning" if result.status in (ABORTED, PAUSED) else "error")
        totals = result.totals
        text = (f"Job #{result.job_id}: {result.kind} {result.status.lower()} in {result.seconds:.1f} s — "
                f"{totals.inserted:,} inserted, {totals.updated:,} updated, {totals.existing:,} existing, "
                f"{totals.errors:,} errors")
        if result.kind == RunKind.ROLLBACK:
            text = (f"Job #{result.job_id}: rollback {result.status.lower()} — {totals.deleted:,} deleted, "
                    f"{totals.restored:,} restored, {totals.errors:,} could not be undone")
        applied = self._applied_preview() if result.kind == RunKind.SYNC else None
        if applied is not None:
            text = f"Applied preview #{applied}: {text}"
        getattr(self.ctx, {"info": "info", "warning": "warn", "error": "error"}[level])(text)
        self.run_finished.emit(result)

    def _on_worker_error(self, text: str) -> None:
        self._on_refresh_timer_timeout()
        self.progress_model.settle(FAILED)
        self._set_state_display(self.job.state if self.job else None, FAILED)
        self.summary_label.setText(f"<span style='color:{ERROR}'>The run could not start or failed: {text}</span>")
        self.ctx.error(text)
        self.run_finished.emit(None)

    def _on_worker_done(self) -> None:
        self.worker = None
        self.run_kind = None
        self.refresh_timer.stop()
        self.clock.stop()
        self._show_time_left(over=True)
        self.progress_view.setColumnHidden(COL_TIME_LEFT, True)
        if self.ctx.closing:
            return   # the app is closing: the journal is closed, nothing left to show
        self._on_clock_timeout()
        self.current_label.setText("")
        self._running.clear()
        self._close_abort_box()
        if self.job is not None:
            self.job = self.ctx.journal.job(self.job.id)
            self._set_state_display(self.job.state, self.run_status, left=self._left(self.job))
            self.job_label.setText(f"Job <b>#{self.job.id}</b>")
            if self.error_viewer.job_id != self.job.id:      # a new sync that could not start
                self.error_viewer.set_job(self.job.id)
        self.error_viewer.refresh()
        self._update_error_tab()
        self._update_buttons()
        self._fresh_facts = None          # from here on the job may change elsewhere: read again
        self.ctx.mark_used(*self._run_orgs)      # "Last used" on the Orgs tab: the run just made
        self.ctx.jobs_changed.emit()


def files_text(event: FilesProgress) -> str:
    """The files row's transfer: ``12 of 500 files · 12.0 of 224.0 MB · 3.1 MB/s`` (KB below a megabyte; no rate
    before the first bytes moved)."""
    unit, scale = ("MB", 1024 * 1024) if event.bytes_planned >= 1024 * 1024 else ("KB", 1024)
    places = 1 if event.bytes_planned >= 10 * scale else 2
    text = (f"{event.files_done:,} of {event.files_planned:,} file{'s' if event.files_planned != 1 else ''} · "
            f"{event.bytes_done / scale:,.{places}f} of {event.bytes_planned / scale:,.{places}f} {unit}")
    if event.bytes_done and event.bytes_per_second > 0:
        rate_unit, rate_scale = ("MB", 1024 * 1024) if event.bytes_per_second >= 1024 * 1024 else ("KB", 1024)
        text += f" · {event.bytes_per_second / rate_scale:,.1f} {rate_unit}/s"
    return text


def files_total_text(events: list[FilesProgress]) -> str:
    """The Total row's transfer: the files rows' last events added up, ``12 of 530 files · 12.0 of 230.0 MB``
    (no rate: the rows move one after another, their rates do not add up)."""
    return files_text(FilesProgress(
        job_id=events[0].job_id, elapsed=max(e.elapsed for e in events), object="",
        files_done=sum(e.files_done for e in events), files_planned=sum(e.files_planned for e in events),
        bytes_done=sum(e.bytes_done for e in events), bytes_planned=sum(e.bytes_planned for e in events),
        bytes_per_second=0.0))


def _ago(seconds: float) -> str:
    """``just now``, ``2 min ago``, ``3 h ago``, ``4 days ago``."""
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        return f"{int(seconds // 60)} min ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)} h ago"
    days = int(seconds // 86400)
    return f"{days} day{'s' if days != 1 else ''} ago"


def _does(action: Action, facts: JobFacts | None) -> str:
    """The tooltip of an enabled ReSync, Retry Failed or Rollback button: what it does to this job."""
    if facts is None:
        return ""
    if action is Action.RESYNC:
        first = " It is scanned first." if facts.state in (JobState.NOT_STARTED, JobState.SCAN_IN_PROGRESS) else ""
        return ("Run the job again: reprocess the records that failed or were skipped; what succeeded is not sent "
                f"again.{first}")
    if action is Action.RETRY:
        return f"Re-send only the {facts.failed:,} failed records, with their lookups resolved again"
    return (f"Undo the job in the target org: delete the records it inserted (children first) and restore the "
            f"ones it updated ({facts.to_undo:,} records to undo)")


def plan_changes(before: Plan | None, after: Plan) -> str:
    """What a saved order changed, for the status bar: the new order, lookups that moved in or out of the
    second pass, Insert/Update switches turned on or off ("nothing changed" when nothing did)."""
    if before is None:
        return f"order {' → '.join(after.order)}"
    changes = []
    if before.order != after.order:
        changes.append(f"order now {' → '.join(after.order)}")
    deferred_before, deferred_after = set(before.deferred), set(after.deferred)
    added = [f"{name}.{field}" for name, field in after.deferred if (name, field) not in deferred_before]
    dropped = [f"{name}.{field}" for name, field in before.deferred if (name, field) not in deferred_after]
    if added:
        changes.append(f"second pass now fills {', '.join(added)}")
    if dropped:
        changes.append(f"{', '.join(dropped)} no longer wait{'s' if len(dropped) == 1 else ''} for a second pass")
    for name in after.order:
        old, new = before.objects.get(name), after.objects[name]
        for label, was, now in (("Insert new", old.insert if old else True, new.insert),
                                ("Update existing", old.update if old else True, new.update)):
            if was != now:
                changes.append(f"{label} {'on' if now else 'off'} for {name}")
    return "; ".join(changes) if changes else "nothing changed"


def _plan_task(report: Any, cancel: Any, ctx: AppContext, source: str, target: str,
               template_json: dict[str, Any]) -> Plan:
    """On a pool thread: describe both orgs and plan the template."""
    try:
        return build_plan(parse_template(template_json), ctx.client(source), ctx.client(target))
    except TemplateError as exc:
        raise RuntimeError(str(exc)) from None


def _run_then_facts(report: Any, cancel: Any, ctx: AppContext, *args: Any) -> RunResult:
    """:func:`_run_task`, then the job's facts as the run left them (``("facts", JobFacts)``), read here rather
    than on the window's thread: what a rollback would undo is counted over every record of the job (a
    quarter of a second at 300,000 records, more on a busy box), and the window reads them once the run ends."""
    result = _run_task(report, cancel, ctx, *args)
    try:
        report(("facts", ctx.journal.job_facts(result.job_id)))
    except JournalError as exc:      # the window reads them itself
        logger.debug("job %s: no facts after the run: %s", result.job_id, exc)
    return result


def _run_task(report: Any, cancel: Any, ctx: AppContext, kind: str, source: str, target: str,
              template_json: dict[str, Any] | None, job_id: int | None, override: bool = False,
              apply: ApplyRequest | None = None) -> RunResult:
    """On a pool thread: one engine run. Events go to ``report`` (the worker's progress signal).

    A new sync (``SyncEngine.start_sync``, as ``isyncsf sync`` starts it) first runs the metadata check: it
    does not start while a blocking finding is open, unless the user chose to override it. The sync that applies
    a preview (``SyncEngine.apply_preview``) is a new job too; a preview refused at its start says why.
    """
    from ...engine.preflight import PreflightBlocked

    engine = ctx.engine(source, target, observer=report, cancel=cancel)
    if apply is not None:
        from ...engine.run.apply import PreviewRefused

        try:
            current = parse_template(apply.current) if apply.current is not None else None
            return engine.apply_preview(apply.preview_id, leave_out=apply.leave_out, current=current,
                                        on_job=lambda new_job: report(("job", new_job)))
        except PreviewRefused as refused:
            raise RuntimeError(f"preview #{apply.preview_id} cannot be applied: {'; '.join(refused.reasons)}") from None
        except PreflightBlocked as blocked:
            raise RuntimeError(f"{blocked} Open Check Metadata Mismatch to fix them.") from None
    if kind in (RunKind.RETRY, RunKind.RESYNC):   # the template as saved now: its settings of how records are written
        assert job_id is not None
        report(("job", job_id))
        report(("planned", planned_records(ctx.journal, job_id, kind)))
        current = parse_template(template_json) if template_json is not None else None
        return engine.run(RunKind(kind), job_id, current=current)
    if kind == RunKind.SYNC:   # a sync's records planned are its scan's, known once it scanned
        assert template_json is not None
        try:
            return engine.start_sync(template_json, override_preflight=override,
                                     on_job=lambda new_job: report(("job", new_job)))
        except PreflightBlocked as blocked:
            raise RuntimeError(f"{blocked} Open Check Metadata Mismatch to fix them, or choose to start anyway "
                               "there.") from None
    assert job_id is not None
    report(("job", job_id))
    report(("planned", planned_records(ctx.journal, job_id, kind)))
    return engine.run(RunKind(kind), job_id)


__all__ = ["ExecutePage"]
