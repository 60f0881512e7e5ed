"""The settings of one template line: filter, match key, limit, switches, fields, related objects.

A view only: it writes the user's edits into the :class:`ObjectLine` it shows and says so through
its signals; the editor does the org calls (describes, filter checks) and feeds the answers back.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QAction, QFontDatabase
from PySide6.QtWidgets import (QAbstractItemView, QCheckBox, QComboBox, QFrame, QGridLayout, QGroupBox, QHBoxLayout,
                               QHeaderView, QLabel, QLineEdit, QMenu, QPushButton, QScrollArea, QSizePolicy, QSpinBox,
                               QSplitter, QTableView, QToolButton, QVBoxLayout, QWidget)

from ...engine.template import FilesOption, ObjectLine, TemplateError, parse_files_option
from ..style import ACCENT, ERROR, MUTED, SUCCESS, WARNING
from .catalog import FilterCheck, Suggestion, check_match_key, field_choices, split_key
from .models import FieldsModel

logger = logging.getLogger(__name__)

MATCH_HINT = ("Several fields make a composite key. Reach a parent's field with a path, "
              "e.g. Account.External_Id__c.")
MAX_LIMIT = 100_000_000


def _subtle(text: str = "") -> QLabel:
    label = QLabel(text)
    label.setProperty("role", "subtle")
    label.setWordWrap(True)
    return label


def default_match_text(describe: dict[str, Any]) -> str:
    """What the engine matches on when a line sets no match key (see ``engine.plan``)."""
    fields = describe.get("fields", [])
    for meta in fields:
        if meta.get("externalId"):
            return f"{meta['name']} (external id)"
    for meta in fields:
        if meta.get("nameField"):
            return f"{meta['name']} (name field)"
    return "none: set a match key"


class LinePanel(QWidget):
    """Edits one :class:`ObjectLine`.

    Signals:
        edited(): the line changed (the change is already in the line).
        filter_edited(): the filter text changed; its check is due.
        check_requested(): the user asked to check the filter now.
        add_requested(str): add this related object to the template.
    """

    edited = Signal()
    filter_edited = Signal()
    check_requested = Signal()
    add_requested = Signal(str)

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self.line: ObjectLine | None = None
        self.describe: dict[str, Any] | None = None
        self.suggestion_buttons: dict[str, QPushButton] = {}
        self.other_lines: list[str] = []
        # files options typed but refused, per line (id -> (line, what was typed)): shown again when the line is
        # shown again, and refused at Save, so that switching lines loses nothing
        self._files_typed: dict[int, tuple[ObjectLine, dict[str, Any]]] = {}
        self._filling = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 6)
        layout.setSpacing(8)
        header = QHBoxLayout()
        self.title = QLabel()
        self.title.setProperty("role", "title")
        header.addWidget(self.title)
        self.subtitle = _subtle()
        self.subtitle.setWordWrap(False)
        header.addWidget(self.subtitle, 1, Qt.AlignmentFlag.AlignBottom)
        layout.addLayout(header)
        layout.addLayout(self._build_form())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self._build_fields_box())
        splitter.addWidget(self._build_related_box())
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        splitter.setSizes([560, 300])
        layout.addWidget(splitter, 1)

    # ================================================================== construction
    def _build_form(self) -> QGridLayout:
        grid = QGridLayout()
        grid.setHorizontalSpacing(10)
        grid.setVerticalSpacing(4)
        grid.setColumnStretch(1, 1)

        grid.addWidget(QLabel("Filter (WHERE):"), 0, 0)
        self.filter_edit = QLineEdit()
        self.filter_edit.setPlaceholderText("SOQL condition, e.g. Industry != null AND CreatedDate = LAST_N_DAYS:90")
        self.filter_edit.setClearButtonEnabled(True)
        grid.addWidget(self.filter_edit, 0, 1)
        self.check_button = QPushButton("Check")
        self.check_button.setToolTip("Ask the source org to count the records this filter selects")
        grid.addWidget(self.check_button, 0, 2)
        self.filter_status = QLabel()
        self.filter_status.setTextFormat(Qt.TextFormat.PlainText)
        self.filter_status.setWordWrap(True)
        self.filter_status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        grid.addWidget(self.filter_status, 1, 1, 1, 2)

        grid.addWidget(QLabel("Match key:"), 2, 0)
        self.match_edit = QLineEdit()
        grid.addWidget(self.match_edit, 2, 1)
        self.match_button = QToolButton()
        self.match_button.setText("Pick ▾")
        self.match_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.match_button.setStyleSheet(
            "QToolButton { padding: 4px 12px; border: 1px solid #c9c9c9; border-radius: 4px; background: white; }"
            " QToolButton:hover { background: #f3f8fd; } QToolButton::menu-indicator { image: none; width: 0; }")
        self.match_menu = QMenu(self.match_button)
        self.match_button.setMenu(self.match_menu)
        self.match_button.setToolTip("Pick the fields that identify a record in both orgs")
        grid.addWidget(self.match_button, 2, 2)
        self.match_status = _subtle(MATCH_HINT)
        grid.addWidget(self.match_status, 3, 1, 1, 2)

        grid.addWidget(QLabel("Records:"), 4, 0)
        row = QHBoxLayout()
        row.setSpacing(16)
        self.limit_spin = QSpinBox()
        self.limit_spin.setRange(0, MAX_LIMIT)
        self.limit_spin.setSpecialValueText("No limit")
        self.limit_spin.setGroupSeparatorShown(True)
        self.limit_spin.setMinimumWidth(120)
        self.limit_spin.setToolTip("The most records of this object to copy (0: no limit)")
        row.addWidget(self.limit_spin)
        self.insert_check = QCheckBox("Insert new records")
        self.insert_check.setToolTip("Create the records that have no match in the target org")
        self.update_check = QCheckBox("Update existing records")
        self.update_check.setToolTip("Overwrite the matched target records with the source values")
        self.files_check = QCheckBox("With their files")
        self.files_check.setToolTip("Copy the Salesforce Files, Attachments and Notes of these records after them, "
                                    "linked to the matching target records (the Files row below sets versions, "
                                    "size limits and file types)")
        row.addWidget(self.insert_check)
        row.addWidget(self.update_check)
        row.addWidget(self.files_check)
        row.addStretch(1)
        grid.addLayout(row, 4, 1, 1, 2)

        grid.addWidget(QLabel("Files:"), 5, 0)
        grid.addWidget(self._build_files_options(), 5, 1, 1, 2)
        self.files_status = _subtle()
        self.files_status.setVisible(False)
        grid.addWidget(self.files_status, 6, 1, 1, 2)

        grid.addWidget(QLabel("Sort order:"), 7, 0)
        self.sort_edit = QLineEdit()
        self.sort_edit.setPlaceholderText("By Id; or fields, e.g. CreatedDate DESC, Name")
        self.sort_edit.setClearButtonEnabled(True)
        self.sort_edit.setToolTip("ORDER BY of the source query: which records a record limit keeps, and the "
                                  "order they are sent in")
        grid.addWidget(self.sort_edit, 7, 1, 1, 2)

        grid.addWidget(QLabel("Only related to:"), 8, 0)
        related_row = QHBoxLayout()
        related_row.setSpacing(8)
        self.related_combo = QComboBox()
        self.related_combo.setToolTip("Take only the records that point at the records of another line "
                                      "(up to five levels: Account → Contact → Case …)")
        related_row.addWidget(self.related_combo, 1)
        self.via_label = QLabel("via")
        related_row.addWidget(self.via_label)
        self.via_combo = QComboBox()
        self.via_combo.setToolTip("The lookup that ties these records to the other line's records")
        related_row.addWidget(self.via_combo, 1)
        grid.addLayout(related_row, 8, 1, 1, 2)
        self.related_status = _subtle()
        grid.addWidget(self.related_status, 9, 1, 1, 2)

        grid.addWidget(QLabel("Parents not followed:"), 10, 0)
        self.exclude_button = QToolButton()
        self.exclude_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.exclude_button.setStyleSheet(self.match_button.styleSheet())
        self.exclude_button.setToolTip("Lookups along which a related subset does not bring in the parent records "
                                       "its records point at; such a lookup stays empty when its parent is not "
                                       "in the run")
        self.exclude_menu = QMenu(self.exclude_button)
        self.exclude_button.setMenu(self.exclude_menu)
        grid.addWidget(self.exclude_button, 10, 1, 1, 2, Qt.AlignmentFlag.AlignLeft)
        self.exclude_menu.triggered.connect(self._on_exclude_menu_triggered)

        self.sort_edit.textChanged.connect(self._on_sort_edit_text_changed)
        self.related_combo.currentIndexChanged.connect(self._on_related_combo_current_index_changed)
        self.via_combo.currentIndexChanged.connect(self._on_via_combo_current_index_changed)
        self.filter_edit.textChanged.connect(self._on_filter_edit_text_changed)
        self.filter_edit.returnPressed.connect(self.check_requested)
        self.check_button.clicked.connect(self.check_requested)
        self.match_edit.textChanged.connect(self._on_match_edit_text_changed)
        self.match_menu.triggered.connect(self._on_match_menu_triggered)
        self.limit_spin.valueChanged.connect(self._on_limit_spin_value_changed)
        self.insert_check.toggled.connect(self._on_switch_toggled)
        self.update_check.toggled.connect(self._on_switch_toggled)
        self.files_check.toggled.connect(self._on_switch_toggled)
        return grid

    def _build_files_options(self) -> QWidget:
        """The line's files options (``FilesOption``), enabled while "With their files" is ticked."""
        self.files_options = QWidget()
        rows = QVBoxLayout(self.files_options)
        rows.setContentsMargins(0, 0, 0, 0)
        rows.setSpacing(4)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.versions_combo = QComboBox()
        self.versions_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToContents)
        self.versions_combo.addItem("Latest version only", "latest")
        self.versions_combo.addItem("Every version", "all")
        self.versions_combo.setToolTip("Copy each file's latest version, or every version in order (the target "
                                       "file then has the same history)")
        row.addWidget(self.versions_combo)
        self.max_file_edit = QLineEdit()
        self.max_run_edit = QLineEdit()
        for edit, label, tip in (
                (self.max_file_edit, "Max MB per file:", "A larger file is left out (empty: no limit of ours; the "
                                                          "target org's own limit still applies)"),
                (self.max_run_edit, "Max MB per run:", "Files beyond this many megabytes in one run are left out "
                                                        "(empty: no limit)")):
            edit.setPlaceholderText("No limit")
            edit.setClearButtonEnabled(True)
            edit.setFixedWidth(110)
            edit.setToolTip(tip)
            caption = QLabel(label)
            caption.setBuddy(edit)
            caption.setToolTip(tip)
            row.addSpacing(8)
            row.addWidget(caption)
            row.addWidget(edit)
        row.addStretch(1)
        rows.addLayout(row)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.leave_out_edit = QLineEdit()
        self.leave_out_edit.setPlaceholderText("e.g. exe, zip")
        self.leave_out_edit.setClearButtonEnabled(True)
        self.leave_out_edit.setToolTip("File extensions to leave out, separated by commas (e.g. exe, zip, mov)")
        caption = QLabel("Leave out file types:")
        caption.setBuddy(self.leave_out_edit)
        caption.setToolTip(self.leave_out_edit.toolTip())
        row.addWidget(caption)
        row.addWidget(self.leave_out_edit, 1)
        row.addSpacing(8)
        self.attachments_check = QCheckBox("Attachments")
        self.attachments_check.setToolTip("Also copy the legacy Attachments of these records")
        self.notes_check = QCheckBox("Notes")
        self.notes_check.setToolTip("Also copy the legacy Notes of these records")
        row.addWidget(self.attachments_check)
        row.addWidget(self.notes_check)
        rows.addLayout(row)
        # greyed while "With their files" is unticked (the app's style greys only disabled buttons)
        self.files_options.setStyleSheet("QLabel:disabled, QCheckBox:disabled, QComboBox:disabled, "
                                         "QLineEdit:disabled { color: #a0a0a0; }")
        self.files_options.setEnabled(False)

        self.versions_combo.currentIndexChanged.connect(self._on_files_option_edited)
        self.max_file_edit.textChanged.connect(self._on_files_option_edited)
        self.max_run_edit.textChanged.connect(self._on_files_option_edited)
        self.leave_out_edit.textChanged.connect(self._on_files_option_edited)
        self.attachments_check.toggled.connect(self._on_files_option_edited)
        self.notes_check.toggled.connect(self._on_files_option_edited)
        return self.files_options

    def _build_fields_box(self) -> QGroupBox:
        box = QGroupBox("Fields")
        layout = QVBoxLayout(box)
        layout.setSpacing(6)
        row = QHBoxLayout()
        self.field_search = QLineEdit()
        self.field_search.setPlaceholderText("Search fields")
        self.field_search.setClearButtonEnabled(True)
        row.addWidget(self.field_search, 1)
        self.all_fields_button = QPushButton("Select all")
        self.no_fields_button = QPushButton("Select none")
        self.all_fields_button.setToolTip("Check every field shown")
        self.no_fields_button.setToolTip("Uncheck every field shown")
        row.addWidget(self.all_fields_button)
        row.addWidget(self.no_fields_button)
        layout.addLayout(row)
        self.fields_count = _subtle()
        layout.addWidget(self.fields_count)
        self.fields_model = FieldsModel(self)
        self.fields_proxy = QSortFilterProxyModel(self)
        self.fields_proxy.setSourceModel(self.fields_model)
        self.fields_proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.fields_proxy.setFilterKeyColumn(-1)
        self.fields_view = QTableView()
        self.fields_view.setModel(self.fields_proxy)
        self.fields_view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.fields_view.setAlternatingRowColors(True)
        self.fields_view.verticalHeader().hide()
        self.fields_view.verticalHeader().setDefaultSectionSize(24)
        self.fields_view.setShowGrid(False)
        self.fields_view.setWordWrap(False)
        header = self.fields_view.horizontalHeader()
        header.setSectionResizeMode(FieldsModel.NAME, QHeaderView.ResizeMode.Interactive)
        header.setSectionResizeMode(FieldsModel.LABEL, QHeaderView.ResizeMode.Interactive)
        header.setStretchLastSection(True)
        header.resizeSection(FieldsModel.NAME, 175)
        header.resizeSection(FieldsModel.LABEL, 140)
        self.fields_view.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.fields_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        layout.addWidget(self.fields_view, 1)

        self.field_search.textChanged.connect(self._on_field_search_text_changed)
        self.all_fields_button.clicked.connect(self._on_all_fields_clicked)
        self.no_fields_button.clicked.connect(self._on_no_fields_clicked)
        self.fields_model.selection_changed.connect(self._on_fields_model_selection_changed)
        return box

    def _build_related_box(self) -> QGroupBox:
        box = QGroupBox("Suggest related objects")
        layout = QVBoxLayout(box)
        layout.setSpacing(6)
        self.related_hint = _subtle()
        layout.addWidget(self.related_hint)
        self.related_area = QScrollArea()
        self.related_area.setWidgetResizable(True)
        self.related_area.setFrameShape(QFrame.Shape.NoFrame)
        # the rows wrap their text to the column's width: a long "via" list must not push Add out of view
        self.related_area.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.related_list = QWidget()
        self.related_layout = QVBoxLayout(self.related_list)
        self.related_layout.setContentsMargins(0, 0, 4, 0)
        self.related_layout.setSpacing(4)
        self.related_layout.addStretch(1)
        self.related_area.setWidget(self.related_list)
        layout.addWidget(self.related_area, 1)
        return box

    # ================================================================== showing a line
    def set_line(self, line: ObjectLine) -> None:
        """Show ``line``; the org-dependent parts wait for :meth:`set_describe`."""
        self.line = line
        self.describe = None
        self._filling = True
        try:
            self.title.setText(line.object)
            self.subtitle.setText("")
            self.filter_edit.setText(line.filter or "")
            self.match_edit.setText(", ".join(line.match_by or []))
            self.match_edit.setPlaceholderText("Default: the external id or name field")
            self.limit_spin.setValue(line.limit or 0)
            self.insert_check.setChecked(line.insert)
            self.update_check.setChecked(line.update)
            self.files_check.setChecked(line.files is not None)
            typed = self._files_typed.get(id(line))
            self._fill_files_options(line.files, typed[1] if typed and typed[0] is line else None)
            self.field_search.clear()
            self.fields_model.clear()
            self.sort_edit.setText(line.sort or "")
        finally:
            self._filling = False
        self._fill_related()
        self._fill_excluded()
        self.match_menu.clear()
        self._show_match_status()
        self.set_loading(f"Reading {line.object} from the source org…")

    def set_other_lines(self, names: list[str]) -> None:
        """The template's other objects: what this line can be related to."""
        self.other_lines = [n for n in names if self.line is None or n.lower() != self.line.object.lower()]
        self._fill_related()

    def _lookups_to(self, object_name: str) -> list[str] | None:
        """Lookups of this line's object to ``object_name`` (None: the describe has not arrived)."""
        if self.describe is None:
            return None
        return [f["name"] for f in self.describe.get("fields", []) if f.get("type") == "reference"
                and object_name.lower() in {t.lower() for t in f.get("referenceTo") or []}]

    def _fill_related(self) -> None:
        line = self.line
        self._filling = True
        try:
            self.related_combo.clear()
            self.related_combo.addItem("All records (no relation)", None)
            current = line.related_to["object"] if line is not None and line.related_to else None
            names = [name for name in self.other_lines if self._lookups_to(name) != []]   # a lookup leads there
            if current and current.lower() not in {n.lower() for n in names}:
                names.append(current)
            for name in names:
                self.related_combo.addItem(f"Records of {name}", name)
            index = next((i for i in range(self.related_combo.count())
                          if (self.related_combo.itemData(i) or "").lower() == (current or "").lower()), 0)
            self.related_combo.setCurrentIndex(index if current else 0)
            self.via_combo.clear()
            if current:
                lookups = self._lookups_to(current)
                via = line.related_to.get("via") if line is not None and line.related_to else None
                if lookups is None:
                    self.via_combo.addItem(via or "the lookup (reading fields…)", via)
                else:
                    if len(lookups) == 1 or not via:
                        self.via_combo.addItem(f"{lookups[0]} (the only lookup)" if len(lookups) == 1 else
                                               "choose a lookup", None)
                    for name in lookups:
                        self.via_combo.addItem(name, name)
                    if via:
                        self.via_combo.setCurrentIndex(max(0, self.via_combo.findData(via)))
        finally:
            self._filling = False
        self.via_combo.setVisible(bool(current))
        self.via_label.setVisible(bool(current))
        self._show_related_status()

    def _fill_files_options(self, files: FilesOption | None, typed: dict[str, Any] | None = None) -> None:
        """Show ``files`` in the files options (the defaults when the line goes without its files), or what was
        ``typed`` there and refused."""
        raw = typed if typed is not None else (files or FilesOption()).as_json()

        def text(value: Any) -> str:       # 25, 512.5 (not 25.0, nor 1e+06 for a million)
            if value is None:
                return ""
            if isinstance(value, (int, float)) and float(value).is_integer():
                return str(int(value))
            return str(value)

        filling, self._filling = self._filling, True
        try:
            self.versions_combo.setCurrentIndex(max(0, self.versions_combo.findData(raw.get("versions", "latest"))))
            self.max_file_edit.setText(text(raw.get("max_file_mb")))
            self.max_run_edit.setText(text(raw.get("max_run_mb")))
            self.leave_out_edit.setText(", ".join(raw.get("leave_out_types", [])))
            self.attachments_check.setChecked(bool(raw.get("attachments", True)))
            self.notes_check.setChecked(bool(raw.get("notes", True)))
        finally:
            self._filling = filling
        self.files_options.setEnabled(files is not None)
        self._show_files_status()

    def _files_json(self) -> dict[str, Any]:
        """The files options as the template's ``files`` JSON (a number that is not one stays text: the
        engine's check names it)."""
        def number(text: str) -> Any:
            try:
                value = float(text)
            except ValueError:
                return text
            if not math.isfinite(value):
                return text
            return int(value) if value.is_integer() else value

        raw: dict[str, Any] = {"include": True, "versions": self.versions_combo.currentData(),
                               "attachments": self.attachments_check.isChecked(),
                               "notes": self.notes_check.isChecked()}
        for key, edit in (("max_file_mb", self.max_file_edit), ("max_run_mb", self.max_run_edit)):
            if edit.text().strip():
                raw[key] = number(edit.text().strip())
        types = [item.strip() for item in self.leave_out_edit.text().split(",") if item.strip()]
        if types:
            raw["leave_out_types"] = types
        return raw

    def files_problem(self, line: ObjectLine | None = None) -> str | None:
        """What is wrong with the files options of ``line`` (the line shown by default): the engine's sentence,
        naming the line; None when nothing is."""
        line = line if line is not None else self.line
        if line is None:
            return None
        if line is self.line:
            if not self.files_check.isChecked():
                return None
            raw = self._files_json()
        else:
            typed = self._files_typed.get(id(line))
            if typed is None or typed[0] is not line or line.files is None:
                return None
            raw = typed[1]
        try:
            parse_files_option(raw, f"{line.object}: files")
        except TemplateError as exc:
            return str(exc)
        return None

    def _show_files_status(self) -> None:
        problem = self.files_problem()
        self.files_status.setText(problem or "")
        self.files_status.setStyleSheet(f"color: {ERROR};" if problem else "")
        self.files_status.setVisible(bool(problem))

    def _on_files_option_edited(self, *_args: object) -> None:
        if self._filling or self.line is None or not self.files_check.isChecked():
            return
        self._show_files_status()
        if self.files_problem() is None:
            self.line.files = parse_files_option(self._files_json(), f"{self.line.object}: files")
            self._files_typed.pop(id(self.line), None)
        else:                                       # the line keeps its last good options; Save refuses
            self._files_typed[id(self.line)] = (self.line, self._files_json())
        self.edited.emit()

    def related_problem(self) -> str | None:
        line = self.line
        if line is None or not line.related_to:
            return None
        target = line.related_to["object"]
        lookups = self._lookups_to(target)
        if lookups is None:
            return None
        via = line.related_to.get("via")
        if not lookups:
            return f"No lookup leads from {line.object} to {target}: nothing would be related."
        if via and via.lower() not in {n.lower() for n in lookups}:
            return f"{via} is not a lookup from {line.object} to {target}."
        if not via and len(lookups) > 1:
            return f"Several lookups lead to {target}: choose one."
        return None

    def _show_related_status(self) -> None:
        line = self.line
        problem = self.related_problem()
        if problem:
            self.related_status.setText(problem)
            self.related_status.setStyleSheet(f"color: {ERROR};")
        elif line is not None and line.related_to:
            self.related_status.setText(f"Only the {line.object} records that point at the {line.related_to['object']} "
                                        "records this template moves (and so on, up to five levels).")
            self.related_status.setStyleSheet("")
        else:
            self.related_status.setText("")
        self.related_status.setVisible(bool(self.related_status.text()))

    def set_loading(self, text: str) -> None:
        self.fields_count.setText(text)
        self.related_hint.setText(text)
        self._set_suggestion_rows([])
        self._set_field_buttons_enabled(False)

    def set_unavailable(self, text: str) -> None:
        """The describe could not be had (no source org, org unreachable)."""
        self.set_loading(text)
        self.fields_count.setStyleSheet(f"color: {WARNING};")

    def set_describe(self, describe: dict[str, Any], match_options: list[str]) -> None:
        """The object's describe arrived: fields, the match key menu and its default."""
        assert self.line is not None
        self.describe = describe
        self.fields_count.setStyleSheet("")
        custom = "custom object" if describe.get("custom") else "standard object"
        label = describe.get("label") or self.line.object
        self.subtitle.setText(f"{label} · {custom}" if label != self.line.object else custom)
        self.fields_model.set_choices(field_choices(describe, self.line.fields), self.line.fields)
        self._set_field_buttons_enabled(True)
        self._update_fields_count()
        self.match_edit.setPlaceholderText(f"Default: {default_match_text(describe)}")
        self.match_menu.clear()
        current = {part.lower() for part in self.line.match_by or []}
        for option in match_options:
            action = QAction(option, self.match_menu)
            action.setCheckable(True)
            action.setChecked(option.lower() in current)
            self.match_menu.addAction(action)
        self._show_match_status()
        self._fill_related()
        self._fill_excluded()

    def _fill_excluded(self) -> None:
        """The lookups of the line's object, checked where the line does not follow them to parents."""
        line = self.line
        excluded = {name.lower() for name in (line.exclude_parents if line is not None else [])}
        self.exclude_menu.clear()
        lookups = sorted(f["name"] for f in (self.describe or {}).get("fields", []) if f.get("type") == "reference")
        for name in lookups:
            action = QAction(name, self.exclude_menu)
            action.setCheckable(True)
            action.setChecked(name.lower() in excluded)
            self.exclude_menu.addAction(action)
        self.exclude_button.setEnabled(bool(lookups) or bool(excluded))
        self._show_excluded()

    def _show_excluded(self) -> None:
        line = self.line
        shown = ", ".join(line.exclude_parents) if line is not None and line.exclude_parents else "None"
        self.exclude_button.setText(f"{shown} ▾")

    def _on_exclude_menu_triggered(self, action: QAction) -> None:
        if self.line is None:
            return
        self.line.exclude_parents = [a.text() for a in self.exclude_menu.actions() if a.isChecked()]
        self._show_excluded()
        self.edited.emit()

    def set_suggestions(self, suggestions: list[Suggestion]) -> None:
        name = self.line.object if self.line else "this object"
        if suggestions:
            self.related_hint.setText(f"Parents and children of {name} that the template does not have yet. "
                                      "Add the parents a line needs, or its records lose those lookups.")
        else:
            self.related_hint.setText(f"Nothing to add: the template has every parent and child of {name} "
                                      "that can be copied.")
        self._set_suggestion_rows(suggestions)

    def set_filter_status(self, check: FilterCheck | None, *, pending: bool = False) -> None:
        """The org's verdict on the filter shown (None: not asked yet)."""
        text = self.filter_edit.text().strip()
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        self.filter_status.setFont(self.font())
        if not text:
            name = self.line.object if self.line else "the object"
            self.filter_status.setText(f"No filter: every {name} record is in scope.")
            self.filter_status.setStyleSheet(f"color: {MUTED};")
        elif pending or check is None:
            self.filter_status.setText("Checking the filter with the source org…" if pending
                                       else "Not checked yet: press Check or Enter.")
            self.filter_status.setStyleSheet(f"color: {MUTED};")
        elif check.valid:
            count = check.count or 0
            self.filter_status.setText(f"✓ Valid: {count:,} record{'s' if count != 1 else ''} match.")
            self.filter_status.setStyleSheet(f"color: {SUCCESS};")
        elif check.valid is False:
            self.filter_status.setFont(mono)
            self.filter_status.setText(check.message)
            self.filter_status.setStyleSheet(f"color: {ERROR}; background: #fdf0f0; border: 1px solid #f0c4c4;"
                                             " border-radius: 3px; padding: 4px;")
        else:
            self.filter_status.setText(f"Could not check the filter: {check.message}")
            self.filter_status.setStyleSheet(f"color: {WARNING};")
        self.filter_edit.setStyleSheet(f"border: 1px solid {ERROR};" if check is not None and check.valid is False
                                       and not pending else "")

    def match_problem(self) -> str | None:
        if self.line is None or self.describe is None or not self.line.match_by:
            return None
        return check_match_key(self.line.match_by, self.describe)

    # ================================================================== helpers
    def _set_field_buttons_enabled(self, enabled: bool) -> None:
        for widget in (self.field_search, self.all_fields_button, self.no_fields_button):
            widget.setEnabled(enabled)

    def _update_fields_count(self) -> None:
        total = len(self.fields_model.choices)
        chosen = len(self.fields_model.selected())
        if self.fields_model.all_selected():
            self.fields_count.setText(f"All {total} createable fields; fields added to the org later are "
                                      "included too.")
        else:
            self.fields_count.setText(f"{chosen} of {total} fields chosen.")

    def _show_match_status(self) -> None:
        problem = self.match_problem()
        self.match_status.setText(problem or MATCH_HINT)
        self.match_status.setStyleSheet(f"color: {ERROR};" if problem else "")
        self.match_edit.setStyleSheet(f"border: 1px solid {ERROR};" if problem else "")

    def _set_suggestion_rows(self, suggestions: list[Suggestion]) -> None:
        while self.related_layout.count() > 1:
            item = self.related_layout.takeAt(0)
            widget = item.widget() if item is not None else None
            if widget is not None:
                widget.hide()               # gone at once, even before the deferred delete runs
                widget.setParent(None)
                widget.deleteLater()
        self.suggestion_buttons = {}
        for index, suggestion in enumerate(suggestions):
            self.related_layout.insertWidget(index, self._suggestion_row(suggestion))

    def _suggestion_row(self, suggestion: Suggestion) -> QWidget:
        row = QFrame()
        row.setObjectName("suggestion")
        row.setStyleSheet("#suggestion { border: 1px solid #e5e5e5; border-radius: 4px; background: #fafaf9; }")
        layout = QHBoxLayout(row)
        layout.setContentsMargins(8, 4, 6, 4)
        layout.setSpacing(8)
        colour = ACCENT if suggestion.kind == "parent" else MUTED
        kind = "Parent" if suggestion.kind == "parent" else "Child"
        via = ", ".join(suggestion.via)
        required = f" <span style='color:{ERROR}'>required</span>" if suggestion.required else ""
        text = QLabel(f"<span style='color:{colour}; font-weight:600'>{kind}</span>&nbsp; "
                      f"<b>{suggestion.object}</b>{required}<br><span style='color:{MUTED}'>via {via}</span>")
        text.setTextFormat(Qt.TextFormat.RichText)
        text.setWordWrap(True)
        text.setMinimumWidth(1)      # wraps (or breaks a long API name) instead of widening the row
        text.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        text.setToolTip(suggestion.text)
        layout.addWidget(text, 1)
        button = QPushButton("Add")
        button.setToolTip(f"Add {suggestion.object} to the template")
        button.clicked.connect(lambda _=False, name=suggestion.object: self.add_requested.emit(name))
        layout.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.suggestion_buttons[suggestion.object] = button
        return row

    # ================================================================== slots
    def _on_filter_edit_text_changed(self, text: str) -> None:
        if self._filling or self.line is None:
            return
        self.line.filter = text.strip() or None
        self.edited.emit()
        self.filter_edited.emit()

    def _on_match_edit_text_changed(self, text: str) -> None:
        if self._filling or self.line is None:
            return
        self.line.match_by = split_key(text) or None
        current = {part.lower() for part in self.line.match_by or []}
        for action in self.match_menu.actions():
            action.setChecked(action.text().lower() in current)
        self._show_match_status()
        self.edited.emit()

    def _on_match_menu_triggered(self, action: QAction) -> None:
        parts = split_key(self.match_edit.text())
        lowered = [p.lower() for p in parts]
        if action.isChecked() and action.text().lower() not in lowered:
            parts.append(action.text())
        elif not action.isChecked():
            parts = [p for p in parts if p.lower() != action.text().lower()]
        self.match_edit.setText(", ".join(parts))

    def _on_sort_edit_text_changed(self, text: str) -> None:
        if self._filling or self.line is None:
            return
        self.line.sort = text.strip() or None
        self.edited.emit()

    def _on_related_combo_current_index_changed(self, index: int) -> None:
        if self._filling or self.line is None:
            return
        name = self.related_combo.itemData(index)
        self.line.related_to = {"object": name} if name else None
        self._fill_related()          # with one lookup, "via" stays out of the JSON: the engine finds it
        self.edited.emit()

    def _on_via_combo_current_index_changed(self, index: int) -> None:
        if self._filling or self.line is None or not self.line.related_to:
            return
        via = self.via_combo.itemData(index)
        self.line.related_to = {"object": self.line.related_to["object"], **({"via": via} if via else {})}
        self._show_related_status()
        self.edited.emit()

    def _on_limit_spin_value_changed(self, value: int) -> None:
        if self._filling or self.line is None:
            return
        self.line.limit = value or None
        self.edited.emit()

    def _on_switch_toggled(self, checked: bool) -> None:
        if self._filling or self.line is None:
            return
        self.line.insert = self.insert_check.isChecked()
        self.line.update = self.update_check.isChecked()
        if self.files_check.isChecked() != (self.line.files is not None):   # unticked: the settings go too
            self.line.files = FilesOption() if self.files_check.isChecked() else None
            self._files_typed.pop(id(self.line), None)
            self._fill_files_options(self.line.files)
        self.edited.emit()

    def _on_field_search_text_changed(self, text: str) -> None:
        self.fields_proxy.setFilterFixedString(text.strip())

    def _shown_fields(self) -> list[str]:
        return [self.fields_proxy.index(row, FieldsModel.NAME).data() for row in range(self.fields_proxy.rowCount())]

    def _on_all_fields_clicked(self) -> None:
        self.fields_model.set_checked(self._shown_fields(), True)

    def _on_no_fields_clicked(self) -> None:
        self.fields_model.set_checked(self._shown_fields(), False)

    def _on_fields_model_selection_changed(self) -> None:
        if self.line is None:
            return
        self.line.fields = None if self.fields_model.all_selected() else self.fields_model.selected()
        self._update_fields_count()
        self.edited.emit()
