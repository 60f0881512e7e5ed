"""Check Metadata Mismatch (spec 7.1): the pre-flight check of a template's source and target orgs.

:class:`PreflightDialog` runs :func:`~isyncsf_desktop.engine.preflight.check_metadata` on the app's
thread pool as soon as it opens, shows the findings grouped by severity, exports them as CSV,
applies "Enable Disabled Metadata" after a confirmation, lets the user tick the target's automation
to switch off during the sync (saved in the template as ``options.automation_off``), and holds the
"start anyway" override the Execute tab reads with :meth:`PreflightDialog.override`.

Every org call runs on a worker; the GUI thread only draws.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QPersistentModelIndex, QPoint, QRect, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QBrush, QColor, QFont, QGuiApplication, QKeySequence, QShortcut, QTextLayout, QTextOption
from PySide6.QtWidgets import (QAbstractItemView, QButtonGroup, QCheckBox, QDialog, QDialogButtonBox, QFileDialog,
                               QFrame, QGroupBox, QHBoxLayout, QHeaderView, QLabel, QMenu, QMessageBox, QProgressBar,
                               QPushButton, QSplitter, QStackedWidget, QStyledItemDelegate, QStyleOptionViewItem,
                               QTableView, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget)

from ...engine.automation import (KIND_LABELS, AutomationItem, FixResult, automation_off_option, list_automation,
                                  parse_automation_off, pending_restore)
from ...engine.journal import JobRow, JournalError
from ...engine.preflight import (BLOCKING, RECORDS_WILL_FAIL, SEVERITIES, WARNING, Finding, PreflightReport,
                                 check_metadata, enable_disabled_metadata)
from ...engine.template import Template, TemplateError, load_template, parse_template, save_template
from ...salesforce.client import OrgApiError
from ...salesforce.registry import RegistryError
from ..context import AppContext
from ..keyboard import keyboard_friendly
from ..style import ACCENT, ERROR, MUTED, SUCCESS
from ..tables import read_only_table
from .models import (COL_FIX, COL_MESSAGE, COL_OBJECT, COL_RECORDS, COL_SEVERITY, COL_WHERE, COLUMNS,
                     GROUP_LABELS, MAPPING_FIX_SHORTCUT, SEVERITY_COLOURS, FindingsModel, GroupRole, MappingFix,
                     mapping_fix)

logger = logging.getLogger(__name__)

EXPORT_DIR_KEY = "preflight/export_dir"
OVERRIDE_TEXT = "Start the sync even though blocking findings are open"
NO_FINDINGS_TEXT = "No differences that matter: the target org is ready for this template."
CHECKING_TEXT = "Checking the metadata of both orgs…"
DONT_SHOW_TEXT = "Don't show this again for this template"
SWITCHED_BY_RUN = "Switched off by this run"
LEFT_OFF = "Left off by a run"

SavePathAsker = Callable[[QWidget, str, str], str]
AutomationKey = tuple[str, str]

# columns of the automation list
A_ITEM, A_TYPE, A_OBJECT, A_STATE, A_DETAILS = range(5)
A_COLUMNS = ["Item", "Type", "Object", "State", "Details"]


def ask_save_path(parent: QWidget, title: str, default_path: str) -> str:
    """Ask where to save a CSV file; "" when the user cancels. Tests replace this."""
    path, _ = QFileDialog.getSaveFileName(parent, title, default_path, "CSV files (*.csv);;All files (*)")
    return path


def check_filename(now: datetime | None = None) -> str:
    """``metadata_check_20240601_101500.csv``: the default name of an export."""
    return f"metadata_check_{(now or datetime.now()).strftime('%Y%m%d_%H%M%S')}.csv"


@dataclass
class CheckOutcome:
    """What one check worker found: the report, and the target's automation on the objects in scope."""

    report: PreflightReport
    automation: list[AutomationItem] = field(default_factory=list)
    automation_error: str | None = None


@dataclass
class RunOnTarget:
    """What the journal says runs on the target org now, and the automation runs switched off there.

    ``job``: the job a run is working on (Sync, Scan or Rollback in progress, not found interrupted), None when
    none. ``switched``: items the running job switched off (it switches them back on when it ends).
    ``left_off``: items an earlier run switched off and never switched back on (the start-up offer restores them).
    """

    job: JobRow | None = None
    switched: dict[AutomationKey, AutomationItem] = field(default_factory=dict)
    left_off: dict[AutomationKey, AutomationItem] = field(default_factory=dict)

    def note(self, key: AutomationKey) -> str | None:
        """Why the item ``key`` is off in the target because of a run (None when it is not)."""
        if key in self.switched:
            job_id = self.switched[key].job_id
            return (f"{SWITCHED_BY_RUN} (job #{job_id}): it is switched back on when the run ends. Nothing to "
                    "enable.")
        if key in self.left_off:
            job_id = self.left_off[key].job_id
            return (f"Switched off by job #{job_id}, which did not finish: the app offers to switch it back on at "
                    "its next start.")
        return None


def run_on_target(ctx: AppContext, target_alias: str) -> RunOnTarget:
    """Read from the journal (this app's runs and the CLI's alike) what runs on ``target_alias`` now."""
    try:
        org_id = ctx.org_ref(target_alias).org_id
        jobs = ctx.journal.jobs()
        pending = pending_restore(ctx.journal, org_id)
    except (RegistryError, OSError, JournalError) as exc:  # an org removed meanwhile, an unreadable journal
        logger.info("cannot tell whether a run works on %s: %s", target_alias, exc)
        return RunOnTarget()
    running = [job for job in jobs if job.target.org_id == org_id and job.active and not job.interrupted]
    running_ids = {job.id for job in running}
    state = RunOnTarget(running[0] if running else None)
    for item in pending:
        (state.switched if item.job_id in running_ids else state.left_off)[item.key] = item
    return state


# ====================================================================== worker bodies (pool threads)
def _check_task(report: Callable[[Any], None], cancel: Any, ctx: AppContext, source: str, target: str,
                template_json: dict[str, Any]) -> CheckOutcome:
    """Compare the orgs, then list the target's automation on the template's objects."""
    source_client, target_client = ctx.client(source), ctx.client(target)
    result = check_metadata(template_json, source_client, target_client)
    objects = [line["object"] for line in template_json.get("objects", [])]
    try:
        items = list_automation(target_client, objects)
    except OrgApiError as exc:
        logger.info("could not list the automation of %s: %s", target, exc)
        return CheckOutcome(result, [], exc.message.strip() or str(exc))
    return CheckOutcome(result, items)


def _enable_task(report: Callable[[Any], None], cancel: Any, ctx: AppContext, target: str,
                 findings: list[Finding]) -> list[FixResult]:
    return enable_disabled_metadata(ctx.client(target), findings)


def _export_task(report: Callable[[Any], None], cancel: Any, check: PreflightReport, path: str) -> tuple[str, int]:
    return path, check.export_csv(path)


def _checked_at(report: PreflightReport) -> str:
    try:
        when = datetime.fromisoformat(report.checked_at.replace("Z", "+00:00")).astimezone()
    except ValueError:
        return report.checked_at
    return when.strftime("%H:%M:%S")


def first_check_key(template_name: str, source_alias: str, target_alias: str) -> str:
    """The setting that says the user does not want the first-sync check for this template between these orgs."""
    digest = hashlib.sha1(f"{template_name}|{source_alias}|{target_alias}".encode()).hexdigest()[:16]
    return f"preflight/skip_first_check_{digest}"


def first_check_skipped(settings: Any, template_name: str, source_alias: str, target_alias: str) -> bool:
    """True when the user ticked "Don't show this again" in the first-sync check of this template and orgs."""
    value = settings.value(first_check_key(template_name, source_alias, target_alias))
    return str(value).lower() in ("true", "1")


def fitted_size(wanted: QSize, available: QRect, margin: int = 48) -> QSize:
    """``wanted``, made small enough to fit ``available`` (a screen's free area) with ``margin`` to spare."""
    return QSize(max(480, min(wanted.width(), available.width() - margin)),
                 max(360, min(wanted.height(), available.height() - margin)))


def _plural(count: int, noun: str, plural: str | None = None) -> str:
    return f"{count} {noun if count == 1 else (plural or noun + 's')}"


def text_height(text: str, font: QFont, width: int) -> int:
    """Height of ``text`` wrapped to ``width`` the way item views wrap (at words, or anywhere if needed)."""
    layout = QTextLayout(text, font)
    option = QTextOption()
    option.setWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
    layout.setTextOption(option)
    height = 0.0
    layout.beginLayout()
    while True:
        line = layout.createLine()
        if not line.isValid():
            break
        line.setLineWidth(max(width, 8))
        height += line.height()
    layout.endLayout()
    return int(height + 0.999)


class FindingDelegate(QStyledItemDelegate):
    """Sizes each row to its longest wrapped text (Qt's own hint undercounts the lines) with some air,
    and centres the severity icon."""

    PADDING = 4

    def __init__(self, view: QTableView) -> None:
        super().__init__(view)
        self._view = view

    def initStyleOption(self, option: QStyleOptionViewItem,  # noqa: N802 - Qt's name
                        index: QModelIndex | QPersistentModelIndex) -> None:
        super().initStyleOption(option, index)
        if index.column() == COL_SEVERITY and index.data(GroupRole) is None:
            option.decorationAlignment = Qt.AlignmentFlag.AlignCenter

    def sizeHint(self, option: QStyleOptionViewItem,  # noqa: N802 - Qt's name
                 index: QModelIndex | QPersistentModelIndex) -> QSize:
        size = super().sizeHint(option, index)
        lines = option.fontMetrics.height()
        if index.data(GroupRole) is not None:
            return QSize(size.width(), lines + 2 * self.PADDING + 2)
        text = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        height = text_height(text, option.font, self._view.columnWidth(index.column()) - 10) if text else lines
        return QSize(size.width(), max(height, 18) + 2 * self.PADDING)


# ====================================================================== the dialog
class PreflightDialog(QDialog):
    """Metadata check of ``template`` from ``source_alias`` to ``target_alias``.

    API for the Execute tab: :meth:`report` (the latest :class:`PreflightReport`, None before the
    first check finishes), :meth:`override` (the user chose to start despite blocking findings),
    :meth:`recheck`. ``ask_save_path`` is the save-dialog function (tests replace it).

    Signals:
        checked(object): a check finished; the new :class:`PreflightReport`.
        check_failed(str): a check could not run; the reason, for the user.
        fixes_applied(object): Enable Disabled Metadata finished; its list of :class:`FixResult`.
        exported(str, int): the CSV export finished: (file path, findings written).
        export_failed(str): the CSV export failed: the reason.
        automation_saved(object): the ``automation_off`` option written into the template file.
        mapping_saved(object): a one-click fix's :class:`~.models.MappingFix` written into the template file.
    """

    checked = Signal(object)
    check_failed = Signal(str)
    fixes_applied = Signal(object)
    exported = Signal(str, int)
    export_failed = Signal(str)
    automation_saved = Signal(object)
    mapping_saved = Signal(object)

    def __init__(self, ctx: AppContext, source_alias: str, target_alias: str, template: Template | dict[str, Any],
                 parent: QWidget | None = None, *, start_text: str | None = None) -> None:
        super().__init__(parent)
        self.start_text = start_text           # a "Start Sync" button in the footer, when given
        self.start_requested = False
        self.ctx = ctx
        self.source_alias = source_alias
        self.target_alias = target_alias
        self.template: Template = template if isinstance(template, Template) else parse_template(template)
        self.ask_save_path: SavePathAsker = ask_save_path
        self._report: PreflightReport | None = None
        self._automation: list[AutomationItem] = []
        self._automation_error: str | None = None
        self._user_ticks: dict[AutomationKey, bool] = {}
        self._saved: list[AutomationItem] = self._saved_option()
        self._declined: set[AutomationKey] = self._load_declined()
        self._fix_results: list[FixResult] = []
        self._task: str | None = None          # "check", "enable" or "export" while a worker runs
        self._run = run_on_target(ctx, target_alias)
        self._filling = False
        self._fitted = False

        self.setWindowTitle(f"Metadata check: {source_alias} → {target_alias}")
        self.setObjectName("PreflightDialog")
        self.setSizeGripEnabled(True)
        self.resize(fitted_size(QSize(1100, 800), self._available()))
        self.model = FindingsModel(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(16, 14, 16, 12)
        layout.setSpacing(8)
        layout.addLayout(self._build_header())
        layout.addLayout(self._build_toolbar())
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self._build_findings())
        self.splitter.addWidget(self._build_lower())
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(self._build_footer())
        self.setStyleSheet(_DIALOG_STYLE)
        keyboard_friendly(self)

        self.model.modelReset.connect(self._on_model_reset)
        ctx.jobs_changed.connect(self._on_ctx_jobs_changed)
        self._show_run()
        self.recheck()

    # ------------------------------------------------------------------ construction
    def _build_header(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(12)
        text = QVBoxLayout()
        text.setSpacing(2)
        self.title_label = QLabel(f"Metadata check: <b>{self.source_alias}</b> → <b>{self.target_alias}</b>")
        self.title_label.setProperty("role", "title")
        text.addWidget(self.title_label)
        self.subtitle_label = QLabel(self._scope_text())
        self.subtitle_label.setTextFormat(Qt.TextFormat.PlainText)
        self.subtitle_label.setProperty("role", "subtle")
        text.addWidget(self.subtitle_label)
        self.verdict_label = QLabel()
        self.verdict_label.setTextFormat(Qt.TextFormat.RichText)
        self.verdict_label.setWordWrap(True)
        text.addWidget(self.verdict_label)
        self.run_label = QLabel()
        self.run_label.setObjectName("RunInProgress")
        self.run_label.setTextFormat(Qt.TextFormat.RichText)
        self.run_label.setWordWrap(True)
        self.run_label.hide()
        text.addWidget(self.run_label)
        if self.start_text:
            self.intro_label = QLabel(
                f"<b>Before the first sync</b> of this template to {self.target_alias}: review what the check "
                f"found, then press {self.start_text}. The ticked automation is switched off while it runs.")
            self.intro_label.setWordWrap(True)
            self.intro_label.setObjectName("FirstRunIntro")
            text.addWidget(self.intro_label)
        row.addLayout(text, 1)
        busy = QVBoxLayout()
        busy.addStretch(1)
        self.busy_label = QLabel()
        self.busy_label.setProperty("role", "subtle")
        self.busy_label.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        busy.addWidget(self.busy_label)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setTextVisible(False)
        self.busy_bar.setFixedSize(180, 8)
        busy.addWidget(self.busy_bar, 0, Qt.AlignmentFlag.AlignRight)
        busy.addStretch(1)
        row.addLayout(busy)
        return row

    def _build_toolbar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(6)
        self.filter_group = QButtonGroup(self)
        self.filter_group.setExclusive(True)
        self.filter_buttons: dict[str | None, QPushButton] = {}
        for severity in (None, *SEVERITIES):
            button = QPushButton()
            button.setCheckable(True)
            button.setProperty("filter", True)
            button.setCursor(Qt.CursorShape.PointingHandCursor)
            button.setToolTip("Show all findings" if severity is None else
                              f"Show only the findings that say: {GROUP_LABELS[severity].lower()}")
            self.filter_group.addButton(button)
            self.filter_buttons[severity] = button
            row.addWidget(button)
        self.filter_buttons[None].setChecked(True)
        self.filter_group.buttonClicked.connect(self._on_filter_group_button_clicked)
        row.addStretch(1)
        self.recheck_button = QPushButton("Re-check")
        self.recheck_button.setToolTip("Run the metadata check again (after you changed something in an org)")
        self.recheck_button.clicked.connect(self._on_recheck_button_clicked)
        row.addWidget(self.recheck_button)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save every finding of this check to a CSV file")
        self.export_button.clicked.connect(self._on_export_button_clicked)
        row.addWidget(self.export_button)
        self.enable_button = QPushButton("Enable Disabled Metadata")
        self.enable_button.setProperty("accent", True)
        self.enable_button.clicked.connect(self._on_enable_button_clicked)
        self.enable_button.hide()
        row.addWidget(self.enable_button)
        self._update_filter_buttons()
        return row

    def _build_fix_frame(self) -> QFrame:
        """The answers of the org to the last Enable Disabled Metadata (hidden until there are some)."""
        self.fix_frame = QFrame()
        self.fix_frame.setObjectName("FixResults")
        fix_box = QVBoxLayout(self.fix_frame)
        fix_box.setContentsMargins(10, 6, 6, 8)
        fix_box.setSpacing(2)
        title_row = QHBoxLayout()
        self.fix_title = QLabel()
        self.fix_title.setTextFormat(Qt.TextFormat.RichText)
        title_row.addWidget(self.fix_title, 1)
        self.fix_close_button = QPushButton("×")
        self.fix_close_button.setObjectName("FixClose")
        self.fix_close_button.setToolTip("Hide these results")
        self.fix_close_button.setFixedSize(22, 22)
        self.fix_close_button.clicked.connect(self._on_fix_close_button_clicked)
        title_row.addWidget(self.fix_close_button, 0, Qt.AlignmentFlag.AlignTop)
        fix_box.addLayout(title_row)
        self.fix_label = QLabel()
        self.fix_label.setTextFormat(Qt.TextFormat.RichText)
        self.fix_label.setWordWrap(True)
        self.fix_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        fix_box.addWidget(self.fix_label)
        self.fix_frame.hide()
        return self.fix_frame

    def _build_findings(self) -> QWidget:
        top = QWidget()
        box = QVBoxLayout(top)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(6)
        box.addWidget(self._build_fix_frame())
        self.stack = QStackedWidget()
        self.message_label = QLabel(CHECKING_TEXT)
        self.message_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.message_label.setWordWrap(True)
        self.message_label.setTextFormat(Qt.TextFormat.RichText)
        font = self.message_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.message_label.setFont(font)
        self.message_label.setObjectName("PreflightMessage")
        self.stack.addWidget(self.message_label)

        self.table = read_only_table(self.model, QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(True)
        self.table.setShowGrid(False)
        self.table.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.table.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(28)
        self.table.setItemDelegate(FindingDelegate(self.table))
        header.setSectionResizeMode(COL_SEVERITY, QHeaderView.ResizeMode.Fixed)
        self.table.setColumnWidth(COL_SEVERITY, 30)
        widths = {COL_OBJECT: 90, COL_WHERE: 166, COL_RECORDS: 68}
        for column, width in widths.items():
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
            self.table.setColumnWidth(column, width)
        self._rows_timer = QTimer(self)
        self._rows_timer.setSingleShot(True)
        self._rows_timer.setInterval(0)
        self._rows_timer.timeout.connect(self._on_rows_timer_timeout)
        header.setSectionResizeMode(COL_MESSAGE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(COL_FIX, QHeaderView.ResizeMode.Stretch)
        header.sectionResized.connect(self._on_header_section_resized)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.table.customContextMenuRequested.connect(self._on_table_custom_context_menu_requested)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        QShortcut(QKeySequence(MAPPING_FIX_SHORTCUT), self, self._on_map_shortcut_activated)
        self.stack.addWidget(self.table)
        box.addWidget(self.stack, 1)
        return top

    def _build_lower(self) -> QWidget:
        lower = QWidget()
        box = QVBoxLayout(lower)
        box.setContentsMargins(0, 4, 0, 0)
        box.setSpacing(8)

        self.automation_box = QGroupBox(f"Automation to switch off in {self.target_alias} during the sync")
        self.automation_box.setObjectName("AutomationBox")
        # Said as a tip, not a line of its own: the room goes to the findings (the rows' details say "suggested").
        self.automation_box.setToolTip(
            f"Ticked items are switched off in {self.target_alias} while the sync runs and back on after it (also "
            "after an abort or an error). Suggested items are pre-ticked.")
        auto = QVBoxLayout(self.automation_box)
        auto.setSpacing(6)
        self.automation_list = QTreeWidget()
        self.automation_list.setObjectName("AutomationList")
        self.automation_list.setColumnCount(len(A_COLUMNS))
        self.automation_list.setHeaderLabels(A_COLUMNS)
        self.automation_list.setRootIsDecorated(False)
        self.automation_list.setUniformRowHeights(True)
        self.automation_list.setAlternatingRowColors(True)
        self.automation_list.setSelectionMode(QAbstractItemView.SelectionMode.NoSelection)
        self.automation_list.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.automation_list.header()
        header.setStretchLastSection(True)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for column, width in ((A_ITEM, 300), (A_TYPE, 115), (A_OBJECT, 110), (A_STATE, 80)):
            self.automation_list.setColumnWidth(column, width)
        self.automation_list.itemChanged.connect(self._on_automation_list_item_changed)
        auto.addWidget(self.automation_list, 1)
        row = QHBoxLayout()
        self.automation_status = QLabel()
        self.automation_status.setTextFormat(Qt.TextFormat.RichText)
        self.automation_status.setWordWrap(True)
        row.addWidget(self.automation_status, 1)
        self.save_ticks_button = QPushButton("Save to Template")
        self.save_ticks_button.clicked.connect(self._on_save_ticks_button_clicked)
        row.addWidget(self.save_ticks_button)
        auto.addLayout(row)
        box.addWidget(self.automation_box, 1)
        return lower

    def _build_footer(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.override_check = QCheckBox(OVERRIDE_TEXT)
        self.override_check.setEnabled(False)
        self.override_check.toggled.connect(self._on_override_check_toggled)
        row.addWidget(self.override_check)
        self.dont_show_check: QCheckBox | None = None
        if self.start_text:
            self.dont_show_check = QCheckBox(DONT_SHOW_TEXT)
            self.dont_show_check.setToolTip(
                f"Start Sync then starts straight away for “{self.template.name}” from {self.source_alias} to "
                f"{self.target_alias}; Check Metadata Mismatch still shows this check")
            self.dont_show_check.setChecked(first_check_skipped(self.ctx.settings, self.template.name,
                                                                self.source_alias, self.target_alias))
            self.dont_show_check.toggled.connect(self._on_dont_show_check_toggled)
            row.addSpacing(16)
            row.addWidget(self.dont_show_check)
        row.addStretch(1)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.buttons.rejected.connect(self._on_buttons_rejected)
        self.start_button: QPushButton | None = None
        if self.start_text:
            self.start_button = self.buttons.addButton(self.start_text, QDialogButtonBox.ButtonRole.AcceptRole)
            self.start_button.setProperty("accent", True)
            self.start_button.setEnabled(False)
            self.start_button.setToolTip("Save the ticked automation to the template (it is switched off during the "
                                         "sync), then start the sync")
            self.start_button.clicked.connect(self._on_start_button_clicked)
        row.addWidget(self.buttons)
        return row

    def _available(self) -> QRect:
        """The part of the screen the dialog may use (its parent's screen, else the primary one)."""
        parent = self.parentWidget()
        screen = (parent.screen() if parent is not None else None) or QGuiApplication.primaryScreen()
        return screen.availableGeometry()

    # ------------------------------------------------------------------ API
    def report(self) -> PreflightReport | None:
        """The latest report (None until the first check finishes)."""
        return self._report

    def override(self) -> bool:
        """True when the user chose to start the sync although blocking findings are open."""
        return bool(self._report is not None and self._report.blocking and self.override_check.isChecked())

    def busy(self) -> bool:
        """Whether a check, a fix or an export is running."""
        return self._task is not None

    def read_only(self) -> bool:
        """True while a run works on the target org: the check only shows, it changes nothing there."""
        return self._run.job is not None

    def run_note(self, item: AutomationItem | AutomationKey) -> str | None:
        """Why ``item`` is off in the target because of a run (this one, or one that did not finish)."""
        return self._run.note(item if isinstance(item, tuple) else item.key)

    def enable_candidates(self) -> list[Finding]:
        """What Enable Disabled Metadata would activate: the check's candidates, less what a run switched off."""
        if self._report is None:
            return []
        return [f for f in self._report.enable_candidates() if not self._switched_by_a_run(f)]

    def _switched_by_a_run(self, finding: Finding) -> bool:
        item = finding.automation_item()
        return item is not None and self._run.note(item.key) is not None

    def fix_results(self) -> list[FixResult]:
        """The results of the last Enable Disabled Metadata."""
        return list(self._fix_results)

    def mapping_fixes(self) -> list[tuple[Finding, MappingFix]]:
        """The findings shown that offer a one-click mapping, with it, in row order."""
        return [(f, fix) for f in self.model.findings() if (fix := mapping_fix(f)) is not None]

    def current_mapping_fix(self) -> tuple[Finding, MappingFix] | None:
        """The mapping the shortcut applies: the current finding's; None when it offers none (never another
        finding's, which the user did not pick)."""
        finding = self.model.finding_at(self.table.currentIndex().row())
        fix = mapping_fix(finding) if finding is not None else None
        return (finding, fix) if finding is not None and fix is not None else None

    def apply_mapping_fix(self, finding: Finding | None = None) -> bool:
        """Add ``finding``'s suggested mapping (default: :meth:`current_mapping_fix`) to the template file,
        reopen it and check again; True when saved."""
        chosen = (finding, mapping_fix(finding)) if finding is not None else self.current_mapping_fix()
        if chosen is None or chosen[1] is None or self._task is not None:
            return False
        fix = chosen[1]
        path = self.ctx.template_path
        if path is None:
            self.ctx.warn("Save the template to a file first: mappings are part of the template.")
            return False
        running = self._run.job
        if running is not None:
            self.ctx.info(f"{fix.label} was not saved: job #{running.id} is running on {self.target_alias}; "
                          "save it after it ends.")
            return False
        try:
            try:
                template = load_template(path)      # change only this mapping of what is on disk
            except TemplateError:
                template = self.template
            fix.apply(template)
            save_template(template, path)
            reopened = self.ctx.open_template(path)
        except (OSError, TemplateError, ValueError) as exc:
            self.ctx.error(f"{fix.label} could not be saved in {Path(path).name}: {exc}")
            return False
        self.template = reopened
        self.ctx.info(f"Template {reopened.name}: {fix.saved_text}.")
        self.mapping_saved.emit(fix)
        self.recheck()
        return True

    def recheck(self) -> None:
        """Run the check (again) on a worker."""
        if self._task is not None:
            return
        self._begin("check", CHECKING_TEXT)
        self.ctx.tasks.start(_check_task, self.ctx, self.source_alias, self.target_alias, self.template.as_json(),
                             on_finished=self._on_check_finished, on_error=self._on_check_errored)

    def set_severity_filter(self, severity: str | None) -> None:
        """Show only findings of ``severity`` (None: all), as the filter buttons do."""
        self.filter_buttons[severity].setChecked(True)
        self.model.set_severity_filter(severity)

    def enable_disabled_metadata(self) -> None:
        """Confirm, then activate on a worker what the check found disabled on the target only."""
        if self._report is None or self._task is not None or self.read_only():
            return
        candidates = self.enable_candidates()
        if not candidates:
            return
        lines = []
        for finding in candidates:
            item = finding.automation_item()
            what = item.display_name if item is not None else finding.item or finding.location
            line = f"• {what} on {finding.object}"
            if not finding.fixable:
                line += f" — {self.target_alias} will refuse it: {finding.fix}"
            lines.append(line)
        text = (f"Activate {_plural(len(candidates), 'item')} in the target org {self.target_alias}?\n\n"
                + "\n".join(lines)
                + f"\n\n{'They are' if len(candidates) != 1 else 'It is'} active in {self.source_alias} and disabled "
                f"in {self.target_alias}. The change is made right away through the Tooling API; every answer of "
                "the org is shown, then the check runs again.")
        answer = QMessageBox.question(self, "Enable Disabled Metadata", text,
                                      QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                                      QMessageBox.StandardButton.Cancel)
        if answer != QMessageBox.StandardButton.Yes:
            return
        self._begin("enable", f"Activating {_plural(len(candidates), 'item')} in {self.target_alias}…")
        self.ctx.tasks.start(_enable_task, self.ctx, self.target_alias, candidates,
                             on_finished=self._on_enable_finished, on_error=self._on_enable_errored)

    def export_csv(self) -> None:
        """Ask where to save, then write the report as CSV on a worker."""
        if self._report is None or self._task is not None:
            return
        folder = str(self.ctx.settings.value(EXPORT_DIR_KEY) or "") or str(Path.home())
        chosen = self.ask_save_path(self, "Export the metadata check to CSV", str(Path(folder) / check_filename()))
        if not chosen:
            return
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(".csv")
        self.ctx.settings.setValue(EXPORT_DIR_KEY, str(path.parent))
        self._begin("export", "Exporting…")
        self.ctx.tasks.start(_export_task, self._report, str(path), on_finished=self._on_export_finished,
                             on_error=self._on_export_errored)

    # ------------------------------------------------------------------ automation ticks
    def _saved_option(self) -> list[AutomationItem]:
        try:
            return parse_automation_off(self.template.options.get("automation_off"))
        except (ValueError, KeyError) as exc:  # a parsed template's option is valid; be safe anyway
            logger.info("ignoring an unreadable automation_off option: %s", exc)
            return []

    def _declined_key(self) -> str | None:
        path = self.ctx.template_path
        if path is None:
            return None
        digest = hashlib.sha1(f"{Path(path).resolve()}|{self.target_alias}".encode()).hexdigest()[:16]
        return f"preflight/declined_{digest}"

    def _load_declined(self) -> set[AutomationKey]:
        """Suggestions the user unticked and saved before for this template and target: not pre-ticked again."""
        key = self._declined_key()
        raw = self.ctx.settings.value(key) if key else None
        try:
            entries = json.loads(str(raw)) if raw else []
            return {i.key for i in parse_automation_off(entries)}
        except (ValueError, TypeError) as exc:
            logger.info("ignoring unreadable declined automation suggestions: %s", exc)
            return set()

    def _store_declined(self, ticked: list[AutomationItem]) -> None:
        key = self._declined_key()
        if key is None or self._report is None:
            return
        ticked_keys = {i.key for i in ticked}
        declined = [i for i in self._report.automation_off_candidates() if i.key not in ticked_keys]
        known = {i.key: i for i in declined}
        for item in self._automation:
            if item.key in self._declined and item.key not in ticked_keys:
                known.setdefault(item.key, item)
        self._declined = set(known)
        self.ctx.settings.setValue(key, json.dumps(automation_off_option(known.values())))

    def automation_items(self) -> list[AutomationItem]:
        """The rows of the automation list, in order (target items, then saved ones not found there)."""
        items = []
        for index in range(self.automation_list.topLevelItemCount()):
            items.append(self.automation_list.topLevelItem(index).data(A_ITEM, Qt.ItemDataRole.UserRole))
        return items

    def ticked_items(self) -> list[AutomationItem]:
        """The automation items ticked now (what Save to Template writes)."""
        ticked = []
        for index in range(self.automation_list.topLevelItemCount()):
            row = self.automation_list.topLevelItem(index)
            if row.checkState(A_ITEM) == Qt.CheckState.Checked:
                ticked.append(row.data(A_ITEM, Qt.ItemDataRole.UserRole))
        return ticked

    def set_ticked(self, name: str, ticked: bool) -> None:
        """Tick or untick the automation item named ``name`` (as a click on its box does)."""
        for index in range(self.automation_list.topLevelItemCount()):
            row = self.automation_list.topLevelItem(index)
            item: AutomationItem = row.data(A_ITEM, Qt.ItemDataRole.UserRole)
            if item.name.lower() == name.lower():
                row.setCheckState(A_ITEM, Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
                return
        raise KeyError(f"no automation item {name!r} in the list")

    def ticks_dirty(self) -> bool:
        """Whether the ticks differ from what the template says."""
        return {i.key for i in self.ticked_items()} != {i.key for i in self._saved}

    def save_automation(self) -> bool:
        """Write the ticks into the template file (``options.automation_off``) and reopen it; True when saved."""
        path = self.ctx.template_path
        if path is None:
            self.ctx.warn("Save the template to a file first: automation control is an option of the template.")
            return False
        running = self._run.job
        if running is not None:
            self.ctx.info(f"The automation ticks were not saved: job #{running.id} is running on "
                          f"{self.target_alias}; save them after it ends.")
            return False
        ticked = self.ticked_items()
        option = automation_off_option(ticked)
        try:
            try:
                target = load_template(path)      # change only this option of what is on disk
            except TemplateError:
                target = self.template
            target.options["automation_off"] = option
            save_template(target, path)
            reopened = self.ctx.open_template(path)
        except (OSError, TemplateError) as exc:
            self.ctx.error(f"The automation ticks could not be saved in {Path(path).name}: {exc}")
            return False
        self.template = reopened
        self._saved = parse_automation_off(option)
        self._store_declined(ticked)
        self._user_ticks.clear()
        self._fill_automation()
        names = ", ".join(item["name"] for item in option) or "nothing"
        self.ctx.info(f"Template {reopened.name}: during the sync, {self.target_alias} gets switched off: {names}.")
        self.automation_saved.emit(option)
        return True

    def _fill_automation(self) -> None:
        """(Re)build the automation list from the last listing, the saved option, the check and the user's ticks."""
        candidates = {i.key for i in self._report.automation_off_candidates()} if self._report else set()
        saved = {i.key for i in self._saved}
        listed = {i.key for i in self._automation}
        rows: list[tuple[AutomationItem, bool, str, str]] = []   # item, found, state text, details
        read_only = self.read_only()
        for item in self._automation:
            state = "Active" if item.active else "Inactive"
            details = []
            if item.key in self._run.switched and not item.active:
                state = SWITCHED_BY_RUN
                details.append(f"job #{self._run.switched[item.key].job_id} switches it back on when it ends")
            elif item.key in self._run.left_off and not item.active:
                state = LEFT_OFF
                details.append(f"job #{self._run.left_off[item.key].job_id} did not finish; the app offers to "
                               "switch it back on at its next start")
            elif item.key in candidates:
                details.append("suggested: active in the target only" if item.key not in self._declined
                               else "suggested, but unticked when the template was saved")
            if not item.switchable and item.note:
                details.append(item.note)
            elif item.detail:
                details.append(item.detail)
            rows.append((item, True, state, "; ".join(details)))
        for item in self._saved:
            if item.key not in listed:
                rows.append((item, False, "Not found",
                             "in the template, but not found in the target org on the objects in scope"))
        self._filling = True
        try:
            self.automation_list.clear()
            for item, found, state, details in rows:
                suggested = item.key in candidates and item.key not in self._declined and not read_only
                ticked = self._user_ticks.get(item.key, item.key in saved or suggested)
                usable = found and item.switchable and bool(item.active) and not read_only
                if not usable and item.key not in saved and item.key not in self._user_ticks:
                    ticked = False
                row = QTreeWidgetItem([item.name, KIND_LABELS[item.kind].capitalize(), item.object or "—", state,
                                       details])
                row.setData(A_ITEM, Qt.ItemDataRole.UserRole, item)
                flags = Qt.ItemFlag.ItemIsUserCheckable
                if (usable or ticked) and not read_only:
                    flags |= Qt.ItemFlag.ItemIsEnabled
                row.setFlags(flags)
                row.setCheckState(A_ITEM, Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
                tip = (None if item.active else self.run_note(item)) or self._automation_tip(item, found, usable)
                for column in range(len(A_COLUMNS)):
                    row.setToolTip(column, tip)
                if item.active and found:
                    row.setForeground(A_STATE, _brush(SUCCESS))
                elif state in (SWITCHED_BY_RUN, LEFT_OFF):
                    row.setForeground(A_STATE, _brush(ACCENT))
                elif not found:
                    row.setForeground(A_STATE, _brush(ERROR))
                self.automation_list.addTopLevelItem(row)
        finally:
            self._filling = False
        if any(state in (SWITCHED_BY_RUN, LEFT_OFF) for _, _, state, _ in rows):
            self.automation_list.resizeColumnToContents(A_STATE)      # the longer states are read in full
        self._update_automation_status()

    def _show_first_ticked(self) -> None:
        """The list shows 3 rows: bring what will be switched off into view."""
        view = self.automation_list
        first = next((view.topLevelItem(i) for i in range(view.topLevelItemCount())
                      if view.topLevelItem(i).checkState(A_ITEM) == Qt.CheckState.Checked), None)
        if first is not None:
            view.scrollToItem(first, QAbstractItemView.ScrollHint.PositionAtTop)

    def _fit_lower_panel(self) -> None:
        """Give the automation list the room of 3 rows (it scrolls); the findings get the rest."""
        view = self.automation_list
        rows = 3
        row_height = view.sizeHintForRow(0) if view.topLevelItemCount() else view.fontMetrics().height() + 6
        list_height = view.header().sizeHint().height() + rows * row_height + 2 * view.frameWidth() + 2
        lower = self.splitter.widget(1)
        extra = lower.height() - view.height()       # hint, status line, margins as laid out now
        wanted = max(extra + list_height, 120)
        total = sum(self.splitter.sizes())
        if total > wanted + 160:
            self.splitter.setSizes([total - wanted, wanted])

    def _automation_tip(self, item: AutomationItem, found: bool, usable: bool) -> str:
        if not found:
            return (f"{item.display_name} is in the template's automation control, but {self.target_alias} has no such "
                    "item on the objects in scope. Untick it and save to remove it.")
        if not item.switchable:
            return f"{item.display_name} cannot be switched here: {item.note}"
        if not item.active:
            return f"{item.display_name} is inactive in {self.target_alias}: there is nothing to switch off."
        text = f"{item.display_name} on {item.object}"
        return text + (f"\n{item.detail}" if item.detail else "")

    def _update_automation_status(self) -> None:
        ticked = self.ticked_items()
        listed = len(self._automation)
        if self._automation_error:
            text = (f"<span style='color:{ERROR}'>The automation of {self.target_alias} could not be listed: "
                    f"{_escape(self._automation_error)}</span>")
        elif self._report is None and not listed:
            text = f"<span style='color:{MUTED}'>Listed when the check finishes.</span>"
        elif self._run.job is not None:
            text = (f"{_plural(len(ticked), 'item')} switched off for the sync by the template. "
                    f"<span style='color:{MUTED}'>Read-only while job #{self._run.job.id} runs.</span>")
        elif not listed and not self._saved:
            text = (f"<span style='color:{MUTED}'>{self.target_alias} has no validation rule, Apex trigger or "
                    "record-triggered flow on the objects in scope.</span>")
        else:
            what = f"{_plural(len(ticked), 'item')} ticked of {listed} listed"
            if self.ctx.template_path is None:
                text = (f"{what}. <span style='color:{ERROR}'>The template has no file yet: save it on the "
                        "Templates tab to keep these ticks.</span>")
            elif self.ticks_dirty():
                text = (f"{what}. <span style='color:{ACCENT}'><b>Not saved yet</b>: Save to Template to use these "
                        "ticks in the sync.</span>")
            elif ticked:
                text = (f"{what}, saved in the template: switched off during the sync, back on afterwards.")
            else:
                text = f"{what}. Nothing is switched off during the sync."
        self.automation_status.setText(text)
        self._update_buttons()

    # ------------------------------------------------------------------ display
    def _begin(self, task: str, text: str) -> None:
        self._task = task
        self.busy_label.setText(text)
        self.busy_label.show()
        self.busy_bar.show()
        if task == "check" and self._report is None:
            self.message_label.setText(f"<span style='color:{MUTED}'>{CHECKING_TEXT}</span>")
            self.stack.setCurrentIndex(0)
        self._update_buttons()

    def _update_buttons(self) -> None:
        idle = self._task is None
        has_report = self._report is not None
        running = self._why_read_only()
        self.recheck_button.setEnabled(idle)
        self.export_button.setEnabled(idle and has_report)
        candidates = self.enable_candidates()
        self.enable_button.setVisible(bool(candidates))
        self.enable_button.setEnabled(idle and bool(candidates) and running is None)
        if candidates:
            names = ", ".join(f.item or f.location for f in candidates)
            self.enable_button.setToolTip(running or f"Activate in {self.target_alias} what is active in "
                                          f"{self.source_alias} but disabled there: {names}")
        self.save_ticks_button.setEnabled(idle and running is None and self.ctx.template_path is not None
                                          and self.ticks_dirty())
        self.save_ticks_button.setToolTip(running or "Write the ticks into the template: the sync switches those "
                                          "items off while it runs")
        self.automation_list.setEnabled(idle or self._task == "export")
        if self.start_button is not None:
            self.start_button.setEnabled(idle and has_report and running is None
                                         and (not self._report.blocking or self.override()))
            if running:
                self.start_button.setToolTip(running)
        if idle:
            self.busy_label.hide()
            self.busy_bar.hide()

    def _why_read_only(self) -> str | None:
        """The tooltip of an action greyed because a run works on the target (None when none does)."""
        job = self._run.job
        if job is None:
            return None
        return (f"Job #{job.id} is running on {self.target_alias} ({job.state}): changing the org's automation or "
                "the template's ticks now would fight the run. Wait for it to end.")

    def _show_run(self) -> None:
        """The read-only banner (a run works on the target) and the marks of what runs switched off."""
        job = self._run.job
        if job is None:
            self.run_label.hide()
        else:
            self.run_label.setText(
                f"<b>Job #{job.id} is running on {self.target_alias}</b> ({job.state}): this check is read-only "
                f"until it ends. Automation the run switched off is marked “{SWITCHED_BY_RUN}”; it is switched "
                "back on when the run ends.")
            self.run_label.show()
        notes = {key: note for key in {**self._run.switched, **self._run.left_off}
                 if (note := self._run.note(key)) is not None}
        self.model.set_run_notes(notes)
        self._update_buttons()

    def _update_filter_buttons(self) -> None:
        counts = self._report.counts if self._report is not None else {s: 0 for s in SEVERITIES}
        total = sum(counts.values())
        self.filter_buttons[None].setText(f"All  {total}")
        for severity in SEVERITIES:
            self.filter_buttons[severity].setText(f"{GROUP_LABELS[severity]}  {counts[severity]}")
        for button in self.filter_buttons.values():
            button.setEnabled(self._report is not None)

    def _scope_text(self) -> str:
        return f"Template “{self.template.name}” · {_plural(len(self.template.objects), 'object')} in scope"

    def _show_report(self) -> None:
        report = self._report
        if report is None:
            return
        self.subtitle_label.setText(f"{self._scope_text()} · checked at {_checked_at(report)}")
        counts = report.counts
        parts = []
        for severity in SEVERITIES:
            colour = SEVERITY_COLOURS[severity] if counts[severity] else MUTED
            label = {BLOCKING: "blocking", RECORDS_WILL_FAIL: "where records will fail",   # findings, not records
                     WARNING: "warning" if counts[severity] == 1 else "warnings"}[severity]
            parts.append(f"<span style='color:{colour}'><b>{counts[severity]}</b> {label}</span>")
        if report.blocking:
            verdict = (f"<span style='color:{ERROR}'><b>The sync cannot start</b>: "
                       f"{_plural(len(report.blocking), 'blocking finding is', 'blocking findings are')} open.</span>")
        elif report.clean:
            verdict = f"<span style='color:{SUCCESS}'><b>The sync can start</b>: no record is expected to fail.</span>"
        else:
            verdict = ("<b>The sync can start</b>, but some records will be rejected unless you fix what is listed "
                       "below.")
        self.verdict_label.setText(f"{verdict} &nbsp; " + " &nbsp;·&nbsp; ".join(parts))
        self.model.set_report(report)
        self._update_filter_buttons()
        if not report.blocking:
            self.override_check.setChecked(False)
        self.override_check.setEnabled(bool(report.blocking))
        self.override_check.setToolTip(
            "Blocking findings stop the sync from starting; tick this to start it anyway." if report.blocking
            else "There is no blocking finding to override.")

    def _show_error(self, text: str) -> None:
        self.verdict_label.setText(f"<span style='color:{ERROR}'><b>The check could not run</b>: {_escape(text)}"
                                   "</span> — check the org connections, then Re-check.")
        if self._report is None:
            self.message_label.setText(f"<span style='color:{ERROR}'>The check could not run.</span>")
            self.stack.setCurrentIndex(0)

    def _show_fix_results(self) -> None:
        results = self._fix_results
        if not results:
            self.fix_frame.hide()
            return
        done = sum(1 for r in results if r.ok)
        failed = len(results) - done
        title = f"<b>Enable Disabled Metadata</b> — {done} activated"
        if failed:
            title += f", <span style='color:{ERROR}'>{failed} refused or failed</span>"
        self.fix_title.setText(title)
        lines = []
        for result in results:
            mark, colour = ("✔", SUCCESS) if result.ok else ("✘", ERROR)
            lines.append(f"<span style='color:{colour}'><b>{mark}</b></span> {_escape(result.message)}")
        self.fix_label.setText("<br>".join(lines))
        self.fix_frame.show()

    def _update_table_state(self) -> None:
        if self._report is None:
            return
        if self.model.rowCount():
            self.stack.setCurrentIndex(1)
            return
        if not self._report.findings:
            self.message_label.setText(f"<span style='color:{SUCCESS}'>{NO_FINDINGS_TEXT}</span>")
        else:
            severity = self.model.severity_filter
            label = GROUP_LABELS.get(severity or "", "this severity").lower()
            self.message_label.setText(f"<span style='color:{MUTED}'>No finding of the kind “{label}”. "
                                       "Pick All to see the others.</span>")
        self.stack.setCurrentIndex(0)

    # ------------------------------------------------------------------ slots
    def _on_model_reset(self) -> None:
        self.table.clearSpans()
        for row in self.model.group_rows().values():
            self.table.setSpan(row, 0, 1, len(COLUMNS))
        self.table.resizeRowsToContents()
        self._update_table_state()

    def _on_header_section_resized(self, index: int, old: int, new: int) -> None:
        if old != new:
            self._rows_timer.start()      # once, after the layout settles

    def _on_rows_timer_timeout(self) -> None:
        self.table.resizeRowsToContents()

    def can_apply_mapping(self) -> str | None:
        """Why a one-click mapping cannot be applied now (None when it can)."""
        if self._task is not None:
            return "Wait for the check to finish."
        if self.ctx.template_path is None:
            return "Save the template to a file first: mappings are part of the template."
        return self._why_read_only()

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        finding = self.model.finding_at(index.row())
        if finding is not None and mapping_fix(finding) is not None:
            self.apply_mapping_fix(finding)

    def _on_map_shortcut_activated(self) -> None:
        if self.current_mapping_fix() is None:
            text = (f"{MAPPING_FIX_SHORTCUT}: the selected finding offers no mapping; select one whose Suggested Fix "
                    "starts with ▸.")
            self.ctx.info(text)
            if self._task is None:        # in the dialog too: it covers the main window's status line
                self.busy_label.setText(text)
                self.busy_label.show()
            return
        self.apply_mapping_fix()

    def _on_table_custom_context_menu_requested(self, pos: QPoint) -> None:
        finding = self.model.finding_at(self.table.indexAt(pos).row())
        fix = mapping_fix(finding) if finding is not None else None
        if finding is None or fix is None:
            return
        menu = QMenu(self)
        action = menu.addAction(fix.label)
        action.setShortcut(QKeySequence(MAPPING_FIX_SHORTCUT))
        action.setEnabled(self.can_apply_mapping() is None)
        action.setToolTip(self.can_apply_mapping() or f"Add the mapping to {fix.section}, then check again")
        action.triggered.connect(lambda checked=False, f=finding: self.apply_mapping_fix(f))
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _on_filter_group_button_clicked(self, button: QPushButton) -> None:
        severity = next(s for s, b in self.filter_buttons.items() if b is button)
        self.model.set_severity_filter(severity)

    def _on_recheck_button_clicked(self) -> None:
        self.recheck()

    def _on_export_button_clicked(self) -> None:
        self.export_csv()

    def _on_enable_button_clicked(self) -> None:
        self.enable_disabled_metadata()

    def _on_save_ticks_button_clicked(self) -> None:
        if self.save_automation():
            self.recheck()        # what the saved ticks switch off no longer counts as "records will fail"

    def _on_fix_close_button_clicked(self) -> None:
        self.fix_frame.hide()

    def _on_override_check_toggled(self, checked: bool) -> None:
        if checked and self._report is not None and self._report.blocking:
            logger.info("the user chose to start despite %d blocking finding(s)", len(self._report.blocking))
        self._update_buttons()

    def _on_dont_show_check_toggled(self, checked: bool) -> None:
        key = first_check_key(self.template.name, self.source_alias, self.target_alias)
        if checked:
            self.ctx.settings.setValue(key, True)
        else:
            self.ctx.settings.remove(key)

    def _on_start_button_clicked(self) -> None:
        """Start Sync from the check: the ticks shown are what the sync switches off, so they are saved first."""
        if self.ticks_dirty() and self.ctx.template_path is not None and not self.save_automation():
            return
        self.start_requested = True
        self.accept()

    def _on_automation_list_item_changed(self, row: QTreeWidgetItem, column: int) -> None:
        if self._filling or column != A_ITEM:
            return
        item: AutomationItem = row.data(A_ITEM, Qt.ItemDataRole.UserRole)
        self._user_ticks[item.key] = row.checkState(A_ITEM) == Qt.CheckState.Checked
        self._update_automation_status()

    def _on_check_finished(self, outcome: CheckOutcome) -> None:
        self._task = None
        self._run = run_on_target(self.ctx, self.target_alias)     # as the org was when the check read it
        self._show_run()
        self._report = outcome.report
        self._automation = outcome.automation
        self._automation_error = outcome.automation_error
        self._show_report()
        self._fill_automation()
        if not self._fitted:
            self._fitted = True
            self._fit_lower_panel()
        QTimer.singleShot(0, self._show_first_ticked)     # once the list has its height
        self._end_task()
        self.checked.emit(outcome.report)

    def _on_check_errored(self, text: str) -> None:
        self._end_task()
        self._show_error(text)
        self.ctx.error(f"The metadata check could not run: {text}")
        self.check_failed.emit(text)

    def _on_enable_finished(self, results: list[FixResult]) -> None:
        self._end_task()
        self._fix_results = list(results)
        self._show_fix_results()
        done = sum(1 for r in results if r.ok)
        if done == len(results):
            self.ctx.info(f"Enable Disabled Metadata: {_plural(done, 'item')} active in {self.target_alias}.")
        else:
            self.ctx.warn(f"Enable Disabled Metadata: {done} of {len(results)} items active in {self.target_alias}; "
                          "the others were refused (see the metadata check).")
        self.fixes_applied.emit(results)
        self.recheck()

    def _on_enable_errored(self, text: str) -> None:
        self._end_task()
        self._fix_results = []
        self.fix_title.setText(f"<b>Enable Disabled Metadata</b> — <span style='color:{ERROR}'>could not run</span>")
        self.fix_label.setText(_escape(text))
        self.fix_frame.show()
        self.ctx.error(f"Enable Disabled Metadata could not run: {text}")
        self.recheck()                    # some items may have changed before it failed

    def _on_export_finished(self, result: tuple[str, int]) -> None:
        self._end_task()
        path, rows = result
        self.ctx.info(f"Exported {_plural(rows, 'finding')} of the metadata check to {path}")
        self.exported.emit(path, rows)

    def _on_export_errored(self, text: str) -> None:
        self._end_task()
        self.ctx.error(f"The metadata check could not be exported: {text}")
        self.export_failed.emit(text)

    def _end_task(self) -> None:
        """A worker finished or failed (each emits exactly one of the two): idle again."""
        self._task = None
        self._update_buttons()
        self._update_automation_status()

    def _on_ctx_jobs_changed(self) -> None:
        """A job moved on: a run on the target may have started or ended (then the org changed: check again)."""
        was_running = self.read_only()
        self._run = run_on_target(self.ctx, self.target_alias)
        self._show_run()
        self._fill_automation()
        if was_running and not self.read_only():
            self.recheck()

    def _on_buttons_rejected(self) -> None:
        if (self.ticks_dirty() and self.ctx.template_path is not None and self._task is None
                and not self.read_only()):
            answer = QMessageBox.question(
                self, "Save the automation ticks?",
                "The automation ticks differ from what the template says. Save them to the template so the sync "
                "switches those items off?",
                QMessageBox.StandardButton.Save | QMessageBox.StandardButton.Discard | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Save)
            if answer == QMessageBox.StandardButton.Cancel:
                return
            if answer == QMessageBox.StandardButton.Save and not self.save_automation():
                return
        self.reject()


def _brush(colour: str) -> QBrush:
    return QBrush(QColor(colour))


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


_DIALOG_STYLE = f"""
QPushButton[filter="true"] {{ border-radius: 12px; padding: 3px 12px; background: white; color: #3e3e3c; }}
QPushButton[filter="true"]:checked {{ background: #e8f0fb; border-color: {ACCENT}; color: {ACCENT}; }}
QTreeWidget#AutomationList::item {{ padding: 2px 2px; }}
QGroupBox#AutomationBox {{ margin-top: 12px; padding: 6px 8px 4px 8px; }}
QFrame#FixResults {{ background: white; border: 1px solid #dddbda; border-left: 3px solid {ACCENT};
                     border-radius: 4px; }}
QPushButton#FixClose {{ border: none; padding: 0; font-size: 13pt; color: {MUTED}; background: transparent; }}
QPushButton#FixClose:hover {{ color: #181818; }}
QLabel#PreflightMessage {{ background: white; border: 1px solid #dddbda; border-radius: 4px; }}
QLabel#RunInProgress {{ background: #e8f0fb; border-left: 3px solid {ACCENT}; padding: 4px 8px; }}
QLabel#FirstRunIntro {{ background: #e8f0fb; border-left: 3px solid {ACCENT}; padding: 4px 8px; }}
"""


__all__ = ["PreflightDialog", "CheckOutcome", "ask_save_path", "check_filename", "first_check_key", "first_check_skipped",
           "run_on_target", "RunOnTarget", "SWITCHED_BY_RUN", "LEFT_OFF",
           "OVERRIDE_TEXT", "NO_FINDINGS_TEXT", "DONT_SHOW_TEXT"]
