"""The template editor: settings, lines and a preview of one template, checked against the source org.

Every org call (describes, filter checks, the preview scan) runs on the app's pool through
``ctx.tasks``; answers come back to the ``_on_*`` slots on the GUI thread. Describes are kept in a
:class:`~.catalog.DescribeCache` for the session, so switching lines costs no API call.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, cast

from PySide6.QtCore import QItemSelectionModel, QModelIndex, Qt, QTimer, Signal
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFormLayout, QFrame, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QListWidget, QProgressBar, QPushButton, QScrollArea,
                               QSizePolicy, QSpinBox, QSplitter, QStackedWidget, QTableView, QTabWidget, QVBoxLayout, QWidget)

from ... import paths
from ...engine import scope
from ...engine.events import CancelToken
from ...engine.template import MAX_PARALLEL_OBJECTS, ObjectLine, Template, TemplateError, parse_since, parse_template, save_template
from ..context import AppContext
from ..style import ERROR, MUTED, WARNING
from .banner import MessageBanner
from .catalog import (CachedOrg, DescribeCache, FilterCheck, Preview, check_filter, check_match_key, filter_reason,
                      match_choices, related_objects, run_preview, syncable_objects, unique_path)
from .dialogs import AddObjectsDialog, Prompts
from .line_panel import LinePanel
from .mappings_panel import MappingsPanel
from .masking_panel import MaskingPanel
from .models import LinesModel, PreviewModel

logger = logging.getLogger(__name__)

FILTER_CHECK_DELAY_MS = 800
VERSIONING_HINT = "Saves prior values so updates can be rolled back."
DELTA_HINT = ("Only records changed (SystemModstamp) since the date below, or since this template's last "
              "successful sync. Records deleted in the source stay on the target.")
DELETED_HINT = ("Reads the source's recycle bin too (queryAll). Deleted records are copied as ordinary, live "
                "records on the target; nothing is deleted there.")
TRANSACTIONAL_HINT = ("Leaves out transactional objects such as Opportunity, Case, Order, Quote, Task and Event, "
                      "even when they are lines of the template.")
PARALLEL_HINT = ("How many objects are written at the same time. Objects with no lookup between them run side by "
                 "side; a parent is always written before its children, and with an order you set an object still "
                 "follows the earlier objects it is related to. 1 writes them one after the other.")


# ====================================================================== tasks (on pool threads)
def _global_task(report: Any, cancel: CancelToken, ctx: AppContext, cache: DescribeCache,
                 alias: str) -> dict[str, Any]:
    return CachedOrg(alias, ctx.client(alias), cache).describe_global()


def _describe_task(report: Any, cancel: CancelToken, ctx: AppContext, cache: DescribeCache, alias: str,
                   object_name: str, in_template: list[str]) -> dict[str, Any]:
    """Describe one object, and the parents of it that the template has (for match key paths)."""
    org = CachedOrg(alias, ctx.client(alias), cache)
    describe = org.describe(object_name)
    wanted = {name.lower() for name in in_template}
    for meta in describe.get("fields", []):
        targets = meta.get("referenceTo") or []
        if meta.get("type") == "reference" and len(targets) == 1 and targets[0].lower() in wanted:
            org.describe(targets[0])
    return describe


def _check_task(report: Any, cancel: CancelToken, ctx: AppContext, cache: DescribeCache, alias: str,
                filters: list[tuple[str, str]]) -> list[tuple[str, str, FilterCheck]]:
    """Ask the source org to count each (object, filter); its verdicts."""
    org = CachedOrg(alias, ctx.client(alias), cache)
    return [(obj, where, check_filter(org, obj, where)) for obj, where in filters]


def _preview_task(report: Any, cancel: CancelToken, ctx: AppContext, cache: DescribeCache, source: str,
                  target: str, template_json: dict[str, Any]) -> Preview:
    template = parse_template(template_json)
    source_org = CachedOrg(source, ctx.client(source), cache)
    target_org = source_org if target == source else CachedOrg(target, ctx.client(target), cache)
    since = scope.delta_since(template, ctx.journal, ctx.org_ref(source).org_id, ctx.org_ref(target).org_id)
    return run_preview(template, source_org, target_org, cancel, since)


# ====================================================================== the editor
MIN_VISIBLE_LINES = 5
"""Rows of the Objects list that stay visible however small the window (the settings scroll instead)."""


class TemplateEditor(QWidget):
    """Edits one template (a draft copy) and saves it as the engine's JSON.

    Signals:
        back_requested(): the user asked for the list of templates (changes are saved or discarded).
        saved(object): the template was written to this ``Path`` and opened as the current one.
        save_refused(str): why Save did not write (also shown in the banner).
        dirty_changed(bool): the draft differs (or no longer differs) from the saved file.
        objects_loaded(str): the object list of this org alias is known.
        describe_loaded(str): the describe of this object (of the source org) is known.
        filter_checked(str, object): (object, :class:`FilterCheck`) the org's verdict on a filter.
        preview_ready(object): the :class:`Preview` of the draft.
        preview_failed(str): why the preview could not be made.
        busy_changed(bool): whether the editor waits for an org.
    """

    back_requested = Signal()
    saved = Signal(object)
    save_refused = Signal(str)
    dirty_changed = Signal(bool)
    objects_loaded = Signal(str)
    describe_loaded = Signal(str)
    filter_checked = Signal(str, object)
    preview_ready = Signal(object)
    preview_failed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, ctx: AppContext, cache: DescribeCache, prompts: Prompts, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.cache = cache
        self.prompts = prompts
        self.path: Path | None = None
        self.draft = Template(name="New template", objects=[])
        self._baseline: dict[str, Any] = {}
        self._dirty = False
        self._filling = False
        self._busy = 0
        self._checks: dict[tuple[str, str, str], FilterCheck] = {}
        self._pending: set[tuple[str, ...]] = set()
        self._open_dialog_when_loaded = False
        self._saving = False
        self._preview_token = 0
        self.add_dialog: AddObjectsDialog | None = None

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)
        layout.addLayout(self._build_toolbar())
        self.banner = MessageBanner()
        layout.addWidget(self.banner)
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_left())
        splitter.addWidget(self._build_tabs())
        splitter.setStretchFactor(0, 0)
        splitter.setStretchFactor(1, 1)
        splitter.setSizes([350, 850])
        layout.addWidget(splitter, 1)

        self.filter_timer = QTimer(self)
        self.filter_timer.setSingleShot(True)
        self.filter_timer.setInterval(FILTER_CHECK_DELAY_MS)
        self.filter_timer.timeout.connect(self._on_filter_timer_timeout)
        ctx.orgs_changed.connect(self._on_ctx_orgs_changed)
        ctx.template_changed.connect(self._update_buttons)
        self._fill_org_combos()

    # ================================================================== construction
    def _build_toolbar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(8)
        self.back_button = QPushButton("← All templates")
        row.addWidget(self.back_button)
        row.addSpacing(8)
        self.title = QLabel()
        self.title.setProperty("role", "title")
        row.addWidget(self.title)
        self.dirty_label = QLabel("● unsaved changes")
        self.dirty_label.setStyleSheet(f"color: {WARNING};")
        self.dirty_label.hide()
        row.addWidget(self.dirty_label)
        row.addStretch(1)
        self.busy_label = QLabel()
        self.busy_label.setProperty("role", "subtle")
        row.addWidget(self.busy_label)
        self.busy_bar = QProgressBar()
        self.busy_bar.setRange(0, 0)
        self.busy_bar.setFixedWidth(90)
        self.busy_bar.setMaximumHeight(12)
        self.busy_bar.setTextVisible(False)
        row.addWidget(self.busy_bar)
        self._set_busy_visible(False)
        self.preview_button = QPushButton("Preview")
        self.preview_button.setToolTip("Count the records of each line in the source org and show the order")
        self.use_button = QPushButton("Use this template")
        self.use_button.setToolTip("Make this the template of the Execute tab")
        self.save_button = QPushButton("Save")
        self.save_button.setProperty("accent", True)
        self.save_button.setShortcut("Ctrl+S")
        for button in (self.preview_button, self.use_button, self.save_button):
            row.addWidget(button)
        self.back_button.clicked.connect(self._on_back_clicked)
        self.preview_button.clicked.connect(self._on_preview_clicked)
        self.use_button.clicked.connect(self._on_use_clicked)
        self.save_button.clicked.connect(self.save)
        return row

    def _build_left(self) -> QWidget:
        left = QWidget()
        left.setMinimumWidth(320)
        left.setMaximumWidth(440)
        column = QVBoxLayout(left)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(8)

        box = QGroupBox("Settings")
        form = QFormLayout(box)
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        form.setHorizontalSpacing(10)
        form.setVerticalSpacing(6)
        self.name_edit = QLineEdit()
        self.name_edit.setPlaceholderText("e.g. Sales data to UAT")
        form.addRow("Name:", self.name_edit)
        self.description_edit = QLineEdit()
        self.description_edit.setPlaceholderText("Optional: what it is for")
        form.addRow("Description:", self.description_edit)
        self.source_combo = QComboBox()
        self.source_combo.setToolTip("The org the records are read from; objects and fields come from it")
        form.addRow("Source org:", self.source_combo)
        self.target_combo = QComboBox()
        self.target_combo.setToolTip("Proposed on the Execute tab; another target can be chosen there")
        form.addRow("Default target:", self.target_combo)
        self.continue_check = QCheckBox("Continue on error")
        self.continue_check.setToolTip("Keep going when single records fail; otherwise stop at the first error")
        self.skip_missing_check = QCheckBox("Skip missing fields")
        self.skip_missing_check.setToolTip("Leave out fields that do not exist in the target org instead of "
                                           "failing")
        self.versioning_check = QCheckBox("Versioning")
        self.versioning_check.setToolTip(VERSIONING_HINT)
        form.addRow("", self.continue_check)
        form.addRow("", self.skip_missing_check)
        form.addRow("", self.versioning_check)
        self.versioning_hint = QLabel(VERSIONING_HINT)
        self.versioning_hint.setProperty("role", "subtle")
        self.versioning_hint.setWordWrap(True)
        self.versioning_hint.setContentsMargins(24, 0, 0, 0)
        form.addRow("", self.versioning_hint)
        self.delta_check = QCheckBox("Delta sync")
        self.delta_check.setToolTip(DELTA_HINT)
        form.addRow("", self.delta_check)
        self.since_edit = QLineEdit()
        self.since_edit.setPlaceholderText("Last successful sync")
        self.since_edit.setClearButtonEnabled(True)
        self.since_edit.setToolTip("Records changed after this date/time (ISO, e.g. 2026-01-31 or "
                                   "2026-01-31T08:00:00Z). Empty: after the template's last successful sync.")
        form.addRow("Changed since:", self.since_edit)
        self.delta_hint = QLabel(DELTA_HINT)
        self.delta_hint.setProperty("role", "subtle")
        self.delta_hint.setWordWrap(True)
        self.delta_hint.setContentsMargins(24, 0, 0, 0)
        form.addRow("", self.delta_hint)
        self.deleted_check = QCheckBox("Include deleted records")
        self.deleted_check.setToolTip(DELETED_HINT)
        form.addRow("", self.deleted_check)
        self.transactional_check = QCheckBox("Skip transactional objects")
        self.transactional_check.setToolTip(TRANSACTIONAL_HINT)
        form.addRow("", self.transactional_check)
        self.parallel_spin = QSpinBox()
        self.parallel_spin.setRange(1, MAX_PARALLEL_OBJECTS)
        self.parallel_spin.setToolTip(PARALLEL_HINT)
        form.addRow("Objects at once:", self.parallel_spin)
        # On a small screen the settings scroll (their hints wrapping to the column's width) so that the
        # Objects list keeps at least MIN_VISIBLE_LINES rows.
        self.settings_area = QScrollArea()
        self.settings_area.setWidgetResizable(True)
        self.settings_area.setFrameShape(QFrame.Shape.NoFrame)
        self.settings_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.settings_area.setWidget(box)
        self.settings_area.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.MinimumExpanding)
        self.settings_area.setMinimumHeight(120)
        column.addWidget(self.settings_area, 1)

        lines_box = QGroupBox("Objects")
        lines_layout = QVBoxLayout(lines_box)
        lines_layout.setSpacing(6)
        self.lines_model = LinesModel(self._filter_state, self)
        self.lines_view = QTableView()
        self.lines_view.setModel(self.lines_model)
        self.lines_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.lines_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.lines_view.verticalHeader().hide()
        self.lines_view.verticalHeader().setDefaultSectionSize(26)
        self.lines_view.setShowGrid(False)
        self.lines_view.setAlternatingRowColors(True)
        self.lines_view.setWordWrap(False)
        header = self.lines_view.horizontalHeader()
        header.setSectionResizeMode(LinesModel.OBJECT, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(LinesModel.FIELDS, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(LinesModel.SCOPE, QHeaderView.ResizeMode.ResizeToContents)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        self.lines_view.setMinimumHeight(self.lines_view.horizontalHeader().sizeHint().height()
                                         + MIN_VISIBLE_LINES * 26 + 2 * self.lines_view.frameWidth())
        lines_layout.addWidget(self.lines_view, 1)
        self.lines_empty = QLabel("No objects yet. Add the objects to copy from the source org.")
        self.lines_empty.setProperty("role", "subtle")
        self.lines_empty.setWordWrap(True)
        lines_layout.addWidget(self.lines_empty)
        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.add_button = QPushButton("Add objects…")
        self.remove_button = QPushButton("Remove")
        self.up_button = QPushButton("↑")
        self.down_button = QPushButton("↓")
        self.up_button.setToolTip("Earlier: preferred order when relationships leave a choice")
        self.down_button.setToolTip("Later: preferred order when relationships leave a choice")
        for small in (self.up_button, self.down_button):
            small.setFixedWidth(36)
        buttons.addWidget(self.add_button)
        buttons.addWidget(self.remove_button)
        buttons.addStretch(1)
        buttons.addWidget(self.up_button)
        buttons.addWidget(self.down_button)
        lines_layout.addLayout(buttons)
        column.addWidget(lines_box, 1)

        self.name_edit.textChanged.connect(self._on_name_edit_text_changed)
        self.description_edit.textChanged.connect(self._on_description_edit_text_changed)
        self.source_combo.currentIndexChanged.connect(self._on_source_combo_current_index_changed)
        self.target_combo.currentIndexChanged.connect(self._on_target_combo_current_index_changed)
        for check in (self.continue_check, self.skip_missing_check, self.versioning_check, self.delta_check,
                      self.deleted_check, self.transactional_check):
            check.toggled.connect(self._on_option_toggled)
        self.since_edit.textChanged.connect(self._on_since_edit_text_changed)
        self.parallel_spin.valueChanged.connect(self._on_parallel_spin_value_changed)
        self.lines_view.selectionModel().currentRowChanged.connect(self._on_lines_current_row_changed)
        self.add_button.clicked.connect(self._on_add_clicked)
        self.remove_button.clicked.connect(self._on_remove_clicked)
        self.up_button.clicked.connect(self._on_up_clicked)
        self.down_button.clicked.connect(self._on_down_clicked)
        return left

    def _build_tabs(self) -> QTabWidget:
        self.tabs = QTabWidget()
        self.line_stack = QStackedWidget()
        self.no_line_label = QLabel("Choose an object on the left, or add objects to the template.")
        self.no_line_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.no_line_label.setProperty("role", "subtle")
        self.line_panel = LinePanel()
        self.line_stack.addWidget(self.no_line_label)
        self.line_stack.addWidget(self.line_panel)
        self.tabs.addTab(self.line_stack, "Object")
        self.tabs.addTab(self._build_preview(), "Preview")
        self.mappings_panel = MappingsPanel(self.ctx, lambda: (self.draft.source, self.draft.target or self.ctx.target))
        self.tabs.addTab(self.mappings_panel, "Mappings")
        self.mappings_panel.edited.connect(self._update_dirty)
        self.masking_panel = MaskingPanel(self.ctx, self.cache, self.prompts,
                                          lambda: (self.draft.source, self.draft.target or self.ctx.target))
        self.tabs.addTab(self.masking_panel, "Masking")
        self.masking_panel.edited.connect(self._update_dirty)

        self.line_panel.edited.connect(self._on_line_panel_edited)
        self.line_panel.filter_edited.connect(self._on_line_panel_filter_edited)
        self.line_panel.check_requested.connect(self._on_line_panel_check_requested)
        self.line_panel.add_requested.connect(self._on_line_panel_add_requested)
        return self.tabs

    def _build_preview(self) -> QWidget:
        page = QWidget()
        layout = QVBoxLayout(page)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        row = QHBoxLayout()
        self.run_preview_button = QPushButton("Run preview")
        self.run_preview_button.setProperty("accent", True)
        row.addWidget(self.run_preview_button)
        self.preview_status = QLabel("Counts the records of each line in the source org and works out the "
                                     "migration order. Nothing is written.")
        self.preview_status.setProperty("role", "subtle")
        self.preview_status.setWordWrap(True)
        row.addWidget(self.preview_status, 1)
        layout.addLayout(row)
        self.order_label = QLabel()
        self.order_label.setWordWrap(True)
        self.order_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.order_label)
        self.preview_model = PreviewModel(self)
        self.preview_view = QTableView()
        self.preview_view.setModel(self.preview_model)
        self.preview_view.verticalHeader().hide()
        self.preview_view.verticalHeader().setMinimumSectionSize(26)
        self.preview_view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        self.preview_view.setShowGrid(False)
        self.preview_view.setAlternatingRowColors(True)
        self.preview_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.preview_view.setWordWrap(True)      # a long scope or lookup note wraps (the row grows), never clips
        self.preview_view.setTextElideMode(Qt.TextElideMode.ElideNone)
        header = self.preview_view.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        header.setSectionResizeMode(PreviewModel.POS, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PreviewModel.OBJECT, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PreviewModel.RECORDS, QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(PreviewModel.SCOPE, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(PreviewModel.LATER, QHeaderView.ResizeMode.Stretch)
        layout.addWidget(self.preview_view, 3)
        self.notes_label = QLabel("Plan notes")
        self.notes_label.setStyleSheet("font-weight: 600;")
        layout.addWidget(self.notes_label)
        self.notes_list = QListWidget()
        self.notes_list.setWordWrap(True)
        layout.addWidget(self.notes_list, 1)
        self.notes_label.hide()
        self.notes_list.hide()
        self.run_preview_button.clicked.connect(self.run_preview)
        return page

    # ================================================================== loading a template
    def load(self, template: Template, path: Path | None) -> None:
        """Edit a copy of ``template`` (saved at ``path``, or new when None)."""
        self.draft = copy.deepcopy(template)
        self.path = Path(path) if path else None
        self._baseline = self.draft.as_json() if path else {}
        self._preview_token += 1
        self.preview_model.set_preview(None)
        self.order_label.clear()
        self.notes_list.clear()
        self.notes_label.hide()
        self.notes_list.hide()
        self.preview_status.setText("Counts the records of each line in the source org and works out the "
                                    "migration order. Nothing is written.")
        self.preview_status.setStyleSheet("")
        self.show_message("")
        self._filling = True
        try:
            self.name_edit.setText(self.draft.name)
            self.description_edit.setText(self.draft.description or "")
            self.continue_check.setChecked(self.draft.continue_on_error)
            self.skip_missing_check.setChecked(self.draft.skip_missing_fields)
            self.versioning_check.setChecked(self.draft.versioning)
            self.delta_check.setChecked(self.draft.delta_sync)
            self.since_edit.setText(self._since_text(self.draft.options.get("since")))
            self.deleted_check.setChecked(self.draft.include_deleted)
            self.transactional_check.setChecked(self.draft.skip_transactional)
            self.parallel_spin.setValue(self.draft.parallel_objects)
            self._fill_org_combos()
        finally:
            self._filling = False
        self._show_delta_state()
        self.mappings_panel.set_template(self.draft)
        self.masking_panel.set_template(self.draft)
        self.lines_model.set_lines(self.draft.objects)
        self.tabs.setCurrentIndex(0)
        if self.draft.objects:
            self.select_line(self.draft.objects[0].object)
        else:
            self._show_current_line()
        self._update_dirty()
        self._update_title()
        self._check_source_known()
        if self.draft.source:
            self._ensure_objects()

    @property
    def source(self) -> str | None:
        return self.draft.source

    @property
    def dirty(self) -> bool:
        return self._dirty

    def _fill_org_combos(self) -> None:
        aliases = cast("list[str]", self.ctx.registry.aliases())
        was = self._filling
        self._filling = True
        try:
            for combo, value, empty in ((self.source_combo, self.draft.source, "Choose the source org"),
                                        (self.target_combo, self.draft.target, "Chosen at run time")):
                combo.clear()
                combo.addItem(empty, None)
                for alias in aliases:
                    combo.addItem(alias, alias)
                if value and value not in aliases:
                    combo.addItem(f"{value} (not connected)", value)
                combo.setCurrentIndex(max(0, combo.findData(value)) if value else 0)
        finally:
            self._filling = was

    def _check_source_known(self) -> None:
        source = self.draft.source
        if source and source not in self.ctx.registry:
            self.show_message(f"The source org {source} is not connected. Connect it on the Orgs tab or choose "
                              "another source org.", "warning")

    # ================================================================== messages and busy state
    def show_message(self, text: str, level: str = "info") -> None:
        """A line above the editor (empty text hides it)."""
        self.banner.show_message(text, level)

    @property
    def message(self) -> str:
        """The message shown above the editor ("" for none)."""
        return self.banner.message

    def _start(self, label: str, fn: Callable[..., Any], *args: Any, on_finished: Callable[[Any], None],
               on_error: Callable[[str], None]) -> None:
        """Run ``fn(report, cancel, ctx, cache, *args)`` on the app's pool, with the busy indicator."""
        self._busy += 1
        self.busy_label.setText(label)
        self._set_busy_visible(True)
        if self._busy == 1:
            self.busy_changed.emit(True)
        self.ctx.tasks.start(fn, self.ctx, self.cache, *args, on_finished=on_finished, on_error=on_error,
                             on_done=self._on_task_done)

    def _on_task_done(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self._set_busy_visible(False)
            self.busy_changed.emit(False)

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def _set_busy_visible(self, visible: bool) -> None:
        self.busy_bar.setVisible(visible)
        self.busy_label.setVisible(visible)

    # ================================================================== state
    def _update_dirty(self) -> None:
        dirty = self.draft.as_json() != self._baseline
        self.lines_model.refresh()
        self.lines_empty.setVisible(not self.draft.objects)
        if dirty != self._dirty:
            self._dirty = dirty
            self.dirty_changed.emit(dirty)
        self.dirty_label.setVisible(dirty)
        if self.preview_model.preview is not None and dirty:
            self.preview_status.setText("The template changed since this preview: run it again.")
            self.preview_status.setStyleSheet(f"color: {WARNING};")
        self._update_buttons()

    def _update_title(self) -> None:
        self.title.setText(self.draft.name or "Untitled template")

    def _update_buttons(self) -> None:
        has_line = self.current_line() is not None
        row = self.lines_view.currentIndex().row()
        self.remove_button.setEnabled(has_line)
        self.up_button.setEnabled(has_line and row > 0)
        self.down_button.setEnabled(has_line and row < self.lines_model.rowCount() - 1)
        self.add_button.setEnabled(bool(self.draft.source))
        is_current = self.path is not None and self.ctx.template_path is not None \
            and self.path.resolve() == Path(self.ctx.template_path).resolve()
        self.use_button.setEnabled(self._dirty or (self.path is not None and not is_current))
        self.use_button.setText("In use" if is_current and not self._dirty else "Use this template")
        can_preview = bool(self.draft.source and self.draft.objects)
        self.preview_button.setEnabled(can_preview)
        self.run_preview_button.setEnabled(can_preview)

    def _filter_state(self, line: ObjectLine) -> bool | None:
        check = self._check_for(line)
        return None if check is None else check.valid

    def _check_for(self, line: ObjectLine) -> FilterCheck | None:
        """The org's last verdict on the line's filter (``valid`` None: it could not be asked)."""
        if not line.filter or not self.draft.source:
            return None
        return self._checks.get((self.draft.source, line.object.lower(), line.filter))

    # ================================================================== lines
    def current_line(self) -> ObjectLine | None:
        index = self.lines_view.currentIndex()
        return self.lines_model.line(index.row()) if index.isValid() else None

    def select_line(self, object_name: str) -> None:
        row = self.lines_model.row_of(object_name)
        if row is None:
            return
        self.lines_view.selectionModel().setCurrentIndex(
            self.lines_model.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.tabs.setCurrentIndex(0)

    def add_objects(self, names: list[str], *, select: bool = True) -> list[str]:
        """Add a line for each object not in the template yet; returns the objects added."""
        taken = {line.object.lower() for line in self.draft.objects}
        added = []
        for name in names:
            if name.lower() in taken:
                continue
            self.lines_model.append(ObjectLine(object=name))
            taken.add(name.lower())
            added.append(name)
        if added:
            if select:
                self.select_line(added[0])
            elif self.current_line() is not None:
                self._show_suggestions()
            self._update_dirty()
        return added

    def _move_line(self, step: int) -> None:
        row = self.lines_view.currentIndex().row()
        if row < 0 or not self.lines_model.move(row, row + step):
            return
        self.lines_view.selectionModel().setCurrentIndex(
            self.lines_model.index(row + step, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self._update_dirty()

    def _show_current_line(self) -> None:
        line = self.current_line()
        self.filter_timer.stop()
        self.masking_panel.set_line(line, None)
        if line is None:
            self.line_stack.setCurrentWidget(self.no_line_label)
            self._update_buttons()
            return
        self.line_stack.setCurrentWidget(self.line_panel)
        self.line_panel.set_line(line)
        self.line_panel.set_other_lines(self.lines_model.names())
        self.line_panel.set_filter_status(self._check_for(line), pending=self._check_pending(line))
        source = self.draft.source
        if not source:
            self.line_panel.set_unavailable("Choose the source org to see the fields of this object.")
        elif self.cache.describe(source, line.object) is not None:
            self._show_describe(line)
        else:
            self._ensure_describe(line.object)
        if line.filter and self._check_for(line) is None:
            self.filter_timer.start()
        self._update_buttons()

    def _show_describe(self, line: ObjectLine) -> None:
        source = self.draft.source
        assert source is not None
        describe = self.cache.describe(source, line.object)
        if describe is None:
            return
        options = match_choices(describe, lambda name: self.cache.describe(source, name))
        self.line_panel.set_describe(describe, options)
        self.masking_panel.set_line(line, describe)
        self._show_suggestions()

    def _show_suggestions(self) -> None:
        line = self.current_line()
        source = self.draft.source
        if line is None or source is None:
            return
        describe = self.cache.describe(source, line.object)
        global_describe = self.cache.global_describe(source)
        if describe is None:
            return
        if global_describe is None:
            self._ensure_objects()
            return
        in_template = {item.object for item in self.draft.objects}
        self.line_panel.set_suggestions(related_objects(describe, global_describe, in_template))

    # ================================================================== org calls
    def _ensure_objects(self) -> None:
        source = self.draft.source
        if not source or self.cache.global_describe(source) is not None:
            return
        key = ("global", source)
        if key in self._pending:
            return
        self._pending.add(key)
        self._start(f"Reading the objects of {source}…", _global_task, source,
                    on_finished=partial(self._on_global_finished, source),
                    on_error=partial(self._on_global_failed, source))

    def _on_global_finished(self, alias: str, answer: dict[str, Any]) -> None:
        self._pending.discard(("global", alias))
        self.objects_loaded.emit(alias)
        if alias != self.draft.source:
            return
        self._show_suggestions()
        if self._open_dialog_when_loaded:
            self._open_dialog_when_loaded = False
            self._open_add_dialog()

    def _on_global_failed(self, alias: str, text: str) -> None:
        self._pending.discard(("global", alias))
        self._open_dialog_when_loaded = False
        if alias == self.draft.source:
            self._org_unreachable(alias, text)

    def _org_unreachable(self, alias: str, text: str) -> None:
        message = f"Could not read from {alias}: {text}"
        self.show_message(message, "error")
        self.ctx.error(message)

    def _ensure_describe(self, object_name: str) -> None:
        source = self.draft.source
        if not source:
            return
        key = ("describe", source, object_name.lower())
        if key in self._pending:
            return
        self._pending.add(key)
        in_template = [line.object for line in self.draft.objects]
        self._start(f"Reading {object_name} from {source}…", _describe_task, source, object_name, in_template,
                    on_finished=partial(self._on_describe_finished, source, object_name),
                    on_error=partial(self._on_describe_failed, source, object_name))
        self._ensure_objects()

    def _on_describe_finished(self, alias: str, object_name: str, describe: dict[str, Any]) -> None:
        self._pending.discard(("describe", alias, object_name.lower()))
        self.describe_loaded.emit(object_name)
        line = self.current_line()
        if alias == self.draft.source and line is not None and line.object.lower() == object_name.lower():
            self._show_describe(line)

    def _on_describe_failed(self, alias: str, object_name: str, text: str) -> None:
        self._pending.discard(("describe", alias, object_name.lower()))
        line = self.current_line()
        if alias == self.draft.source and line is not None and line.object.lower() == object_name.lower():
            self.line_panel.set_unavailable(f"Could not read {object_name} from {alias}.")
            self._org_unreachable(alias, text)

    def _check_pending(self, line: ObjectLine) -> bool:
        return bool(line.filter and self.draft.source
                    and ("check", self.draft.source, line.object.lower(), line.filter) in self._pending)

    def check_filters(self, lines: list[ObjectLine] | None = None) -> bool:
        """Ask the source org about the filters not checked yet; False when there is nothing to ask."""
        source = self.draft.source
        if not source:
            return False
        todo = []
        for line in lines if lines is not None else self.draft.objects:
            known = self._check_for(line)
            if line.filter and (known is None or known.valid is None) and not self._check_pending(line):
                todo.append((line.object, line.filter))
                self._pending.add(("check", source, line.object.lower(), line.filter))
        if not todo:
            return False
        label = "Checking the filter…" if len(todo) == 1 else f"Checking {len(todo)} filters…"
        self._start(label, _check_task, source, todo,
                    on_finished=partial(self._on_checks_finished, source),
                    on_error=partial(self._on_checks_failed, source, todo))
        shown = self.current_line()
        if shown is not None:
            self.line_panel.set_filter_status(self._check_for(shown), pending=self._check_pending(shown))
        return True

    def _on_checks_finished(self, alias: str, results: list[tuple[str, str, FilterCheck]]) -> None:
        for obj, where, check in results:
            self._pending.discard(("check", alias, obj.lower(), where))
            self._checks[(alias, obj.lower(), where)] = check
        self._after_checks(alias, results)

    def _on_checks_failed(self, alias: str, todo: list[tuple[str, str]], text: str) -> None:
        self._on_checks_finished(alias, [(obj, where, FilterCheck(None, None, text)) for obj, where in todo])

    def _after_checks(self, alias: str, results: list[tuple[str, str, FilterCheck]]) -> None:
        self.lines_model.refresh()
        line = self.current_line()
        if line is not None and alias == self.draft.source:
            self.line_panel.set_filter_status(self._check_for(line), pending=self._check_pending(line))
        for obj, _where, check in results:
            self.filter_checked.emit(obj, check)
        if self._saving and not any(key[0] == "check" for key in self._pending):
            self._saving = False
            self._finish_save(results)

    # ================================================================== save
    def _local_problem(self) -> tuple[str, str | None] | None:
        """(message, object to show) for what can be told without the org, or None."""
        if not self.draft.name.strip():
            return "Give the template a name.", None
        if not self.draft.objects:
            return "Add at least one object to the template.", None
        if self.delta_check.isChecked() and self._since_problem():
            return str(self._since_problem()), None
        for line in self.draft.objects:
            if line.fields is not None and not line.fields:
                return f"{line.object}: choose at least one field.", line.object
            check = self._check_for(line)
            if check is not None and check.valid is False:
                return (f"The filter of {line.object} is not valid: {filter_reason(check.message)}. "
                        "Fix it before saving; the org's full message is under the filter."), line.object
            if line.files is not None and self.line_panel.files_problem(line):
                return str(self.line_panel.files_problem(line)), line.object
            if line.related_to and self.current_line() is line and self.line_panel.related_problem():
                return f"{line.object}: {self.line_panel.related_problem()}", line.object
            if self.draft.source and line.match_by:
                describe = self.cache.describe(self.draft.source, line.object)
                problem = check_match_key(line.match_by, describe) if describe else None
                if problem:
                    return f"{line.object}: the match key is not valid: {problem}", line.object
        if self.mappings_panel.problem():
            return str(self.mappings_panel.problem()), None
        if self.masking_panel.problem():
            return self.masking_panel.problem()
        try:
            parse_template(self.draft.as_json())
        except TemplateError as exc:
            return str(exc), None
        return None

    def _refuse(self, text: str, object_name: str | None = None) -> None:
        self._saving = False
        if object_name is not None:
            self.select_line(object_name)
            if text.startswith(f"{object_name}, masking of "):       # MaskingPanel.problem: show its table
                self.tabs.setCurrentWidget(self.masking_panel)
        logger.info("template not saved: %s", text)
        self.show_message(f"Not saved. {text}", "error")
        self.save_refused.emit(text)

    def save(self) -> None:
        """Check the draft (filters with the source org, on a worker), then write it."""
        if self._saving:
            return
        self.filter_timer.stop()
        if self.mappings_panel.needs_target_read():       # check the mappings against the target's owners first
            self.mappings_panel.read_target(then=self.save)
            return
        problem = self._local_problem()
        if problem is not None:
            self._refuse(*problem)
            return
        self._saving = True
        self.check_filters()
        if not any(key[0] == "check" for key in self._pending):
            self._saving = False
            self._finish_save([])

    def _finish_save(self, fresh: list[tuple[str, str, FilterCheck]]) -> None:
        problem = self._local_problem()          # the org's verdicts are in now
        if problem is not None:
            self._refuse(*problem)
            return
        unchecked = [line.object for line in self.draft.objects if line.filter and self._filter_state(line) is None]
        self._write()
        if unchecked:
            reason = next((c.message for _o, _w, c in fresh if c.valid is None), "no source org to ask")
            self.show_message(f"Saved, but the filters of {', '.join(unchecked)} could not be checked: {reason}",
                              "warning")
        elif self.path is not None and not self._dirty and self.mappings_panel.unchecked_note():
            self.show_message(f"Saved, but {self.mappings_panel.unchecked_note()}.", "warning")

    def _write(self) -> None:
        template = parse_template(self.draft.as_json())
        path = self.path or unique_path(paths.templates_dir(), template.name)
        try:
            save_template(template, path)
        except OSError as exc:
            self._refuse(f"The file could not be written: {exc}")
            return
        self.path = path
        self._baseline = self.draft.as_json()
        self._update_dirty()
        logger.info("saved template %s to %s", template.name, path)
        self.show_message("")
        try:
            self.ctx.open_template(path)
        except TemplateError as exc:            # written a moment ago; only a race can land here
            self.show_message(str(exc), "error")
            self.save_refused.emit(str(exc))
            return
        self.ctx.info(f"Saved template “{template.name}”; the Execute tab uses it now.")
        self._update_buttons()
        self.saved.emit(path)

    # ================================================================== preview
    def run_preview(self) -> None:
        """Plan the draft and count each line's records in the source org (on a worker)."""
        source = self.draft.source
        if not source:
            self.preview_failed.emit("Choose the source org first.")
            return
        try:
            document = parse_template(self.draft.as_json()).as_json()
        except TemplateError as exc:
            self._show_preview_error(str(exc))
            return
        target = self.draft.target or self.ctx.target or source
        if target not in self.ctx.registry:
            target = source
        self._preview_token += 1
        token = self._preview_token
        self.tabs.setCurrentIndex(1)
        self.preview_status.setText(f"Counting records in {source} and planning the order for {target}…")
        self.preview_status.setStyleSheet(f"color: {MUTED};")
        self.run_preview_button.setEnabled(False)
        self._start("Running the preview…", _preview_task, source, target, document,
                    on_finished=partial(self._on_preview_finished, token),
                    on_error=partial(self._on_preview_failed, token))

    def _on_preview_finished(self, token: int, preview: Preview) -> None:
        self._update_buttons()
        if token != self._preview_token:
            return
        self.preview_model.set_preview(preview)
        total = sum(line.count for line in preview.lines)
        same = preview.target == preview.source
        planned = "" if same else f"; order planned for {preview.target}"
        self.preview_status.setText(f"{total:,} records in {len(preview.lines)} objects, counted in "
                                    f"{preview.source}{planned}.")
        self.preview_status.setStyleSheet("")
        steps = []
        for index, line in enumerate(preview.lines, start=1):
            mark = f" <span style='color:{MUTED}'>(lookups later)</span>" if line.deferred else ""
            steps.append(f"<b>{index}.&nbsp;{line.object}</b>{mark}")
        self.order_label.setText("Migration order: " + " &nbsp;→&nbsp; ".join(steps))
        self.notes_list.clear()
        self.notes_list.addItems(preview.warnings)
        self.notes_label.setText(f"Plan notes ({len(preview.warnings)})")
        self.notes_label.setVisible(bool(preview.warnings))
        self.notes_list.setVisible(bool(preview.warnings))
        self.preview_ready.emit(preview)

    def _on_preview_failed(self, token: int, text: str) -> None:
        self._update_buttons()
        if token != self._preview_token:
            return
        self._show_preview_error(text)

    def _show_preview_error(self, text: str) -> None:
        self.tabs.setCurrentIndex(1)
        self.preview_model.set_preview(None)
        self.order_label.clear()
        self.preview_status.setText(f"The preview could not be made: {text}")
        self.preview_status.setStyleSheet(f"color: {ERROR};")
        self.preview_failed.emit(text)

    # ================================================================== slots
    def _on_back_clicked(self) -> None:
        if self._dirty and not self.prompts.confirm(
                self, "Unsaved changes", f"Discard the changes to “{self.draft.name}”?", "Discard changes"):
            return
        self.back_requested.emit()

    def _on_use_clicked(self) -> None:
        if self._dirty or self.path is None:
            self.save()
        elif self.path is not None:
            try:
                self.ctx.open_template(self.path)
            except TemplateError as exc:
                self.show_message(str(exc), "error")
                return
            self.ctx.info(f"The Execute tab uses “{self.draft.name}” now.")
        self._update_buttons()

    def _on_preview_clicked(self) -> None:
        self.run_preview()

    def _on_name_edit_text_changed(self, text: str) -> None:
        if self._filling:
            return
        self.draft.name = text.strip()
        self._update_title()
        self._update_dirty()

    def _on_description_edit_text_changed(self, text: str) -> None:
        if self._filling:
            return
        self.draft.description = text.strip() or None
        self._update_dirty()

    def _on_source_combo_current_index_changed(self, index: int) -> None:
        if self._filling:
            return
        self.draft.source = self.source_combo.currentData()
        self.show_message("")
        self._check_source_known()
        self._ensure_objects()
        self._show_current_line()
        self._update_dirty()

    def _on_target_combo_current_index_changed(self, index: int) -> None:
        if self._filling:
            return
        self.draft.target = self.target_combo.currentData()
        self._update_dirty()

    def _on_parallel_spin_value_changed(self, value: int) -> None:
        if self._filling:
            return
        self.draft.options["parallel_objects"] = value
        self._update_dirty()

    def _on_option_toggled(self, checked: bool) -> None:
        if self._filling:
            return
        self.draft.options["continue_on_error"] = self.continue_check.isChecked()
        self.draft.options["skip_missing_fields"] = self.skip_missing_check.isChecked()
        self.draft.options["versioning"] = self.versioning_check.isChecked()
        self.draft.options["delta_sync"] = self.delta_check.isChecked()
        self.draft.options["include_deleted"] = self.deleted_check.isChecked()
        self.draft.options["skip_transactional"] = self.transactional_check.isChecked()
        self._show_delta_state()
        self._update_dirty()

    @staticmethod
    def _since_text(value: str | None) -> str:
        return value.replace("T00:00:00.000Z", "") if value else ""

    def _since_problem(self) -> str | None:
        text = self.since_edit.text().strip()
        if not text:
            return None
        try:
            parse_since(text, "Changed since")
        except TemplateError as exc:
            return str(exc)
        return None

    def _show_delta_state(self) -> None:
        on = self.delta_check.isChecked()
        self.since_edit.setEnabled(on)
        problem = self._since_problem() if on else None
        self.since_edit.setStyleSheet(f"border: 1px solid {ERROR};" if problem else "")
        self.delta_hint.setText(problem or DELTA_HINT)
        self.delta_hint.setStyleSheet(f"color: {ERROR};" if problem else "")
        self.delta_hint.setVisible(on)

    def _on_since_edit_text_changed(self, text: str) -> None:
        if self._filling:
            return
        if self._since_problem() is None:
            since = parse_since(text, "Changed since") if text.strip() else None
            self.draft.options["since"] = since
        self._show_delta_state()
        self._update_dirty()

    def _on_lines_current_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._show_current_line()

    def _on_add_clicked(self) -> None:
        source = self.draft.source
        if not source:
            return
        if self.cache.global_describe(source) is None:
            self._open_dialog_when_loaded = True
            self._ensure_objects()
            return
        self._open_add_dialog()

    def _open_add_dialog(self) -> None:
        source = self.draft.source
        answer = self.cache.global_describe(source) if source else None
        if source is None or answer is None:
            return
        taken = {line.object.lower() for line in self.draft.objects}
        objects = [o for o in syncable_objects(answer) if o.name.lower() not in taken]
        self.add_dialog = AddObjectsDialog(objects, source, self)
        self.add_dialog.accepted.connect(self._on_add_dialog_accepted)
        self.add_dialog.open()

    def _on_add_dialog_accepted(self) -> None:
        if self.add_dialog is not None:
            self.add_objects(self.add_dialog.selected())
            self.add_dialog.deleteLater()
            self.add_dialog = None

    def _on_up_clicked(self) -> None:
        self._move_line(-1)

    def _on_down_clicked(self) -> None:
        self._move_line(1)

    def _on_remove_clicked(self) -> None:
        row = self.lines_view.currentIndex().row()
        if row < 0:
            return
        self.lines_model.remove(row)
        if self.lines_model.rowCount():
            self.select_line(self.lines_model.line(min(row, self.lines_model.rowCount() - 1)).object)
        else:
            self._show_current_line()
        self._update_dirty()

    def _on_line_panel_edited(self) -> None:
        row = self.lines_view.currentIndex().row()
        if row >= 0:
            self.lines_model.refresh(row)
        self.masking_panel.refresh()          # the line's fields or match key may have changed
        self._update_dirty()

    def _on_line_panel_filter_edited(self) -> None:
        line = self.current_line()
        if line is None:
            return
        self.line_panel.set_filter_status(self._check_for(line), pending=self._check_pending(line))
        if line.filter and self._check_for(line) is None:
            self.filter_timer.start()
        else:
            self.filter_timer.stop()

    def _on_filter_timer_timeout(self) -> None:
        line = self.current_line()
        if line is not None:
            self.check_filters([line])

    def _on_line_panel_check_requested(self) -> None:
        self.filter_timer.stop()
        line = self.current_line()
        if line is not None:
            self.check_filters([line])

    def _on_line_panel_add_requested(self, name: str) -> None:
        if self.add_objects([name], select=False):
            self.ctx.info(f"Added {name} to the template.")

    def _on_ctx_orgs_changed(self) -> None:
        self.cache.clear()
        self._fill_org_combos()
        self._show_current_line()
