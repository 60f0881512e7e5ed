"""Preview Changes (issue 24): what a sync of the open template would do, record by record, before anything is
written.

* :class:`PreviewLauncher` runs ``SyncEngine.preview`` on the app's pool (the metadata check first, as Start Sync
  does), shows its progress in a window-modal :class:`PreviewProgressDialog` with Cancel, and opens the result;
* :class:`PreviewDialog` shows a finished preview from the journal: per-object counts and the API calls the sync
  will cost (the preview's header), the records of one object a page at a time (:class:`PreviewRecordsModel`:
  never every row in memory), the field diff of the selected record, and Export CSV.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QModelIndex, QObject, Qt, QTimer, Signal
from PySide6.QtGui import QCloseEvent, QColor
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QDialog, QFileDialog, QHBoxLayout, QHeaderView, QLabel,
                               QLineEdit, QProgressBar, QPushButton, QSplitter, QVBoxLayout, QWidget)

from ...engine.estimate import range_text
from ...engine.events import BatchDone, Notice, ObjectReading, ObjectStarted
from ...engine.journal import Journal, JournalError, PreviewChange, PreviewRecord
from ...engine.preview_export import export_preview_csv
from ..context import AppContext
from ..style import ACCENT, ERROR, MUTED, SUCCESS, WARNING
from ..tables import RIGHT, AnyIndex, RowsTableModel, bold_font, read_only_table
from .apply import APPLY_TIP, PreviewApplier

logger = logging.getLogger(__name__)

PREVIEW_TIP = ("Preview what Start Sync would do, record by record: reads both orgs and writes nothing to either. "
               "Shows the records to insert, to update (field by field) and those not going, and why")
AUTOMATION_NOTE = ("A preview reads both orgs and writes nothing. It cannot foresee the target's own automation "
                   "(validation rules, triggers, flows): a record shown as going may still be refused when the "
                   "sync runs.")
EXPORT_DIR_KEY = "preview/export_dir"
PAGE = 200
"""Rows read from the journal at a time by the record list."""
REFRESH_MS = 200

ACTION_LABELS = {"insert": "Insert", "update": "Update", "unchanged": "Unchanged", "skip": "Not going"}
ACTION_COLOURS = {"insert": SUCCESS, "update": "#0b5cab", "unchanged": MUTED, "skip": WARNING}
SHOW_CHOICES: tuple[tuple[str, tuple[str, ...] | None], ...] = (
    ("All records", None), ("To insert", ("insert",)), ("To update", ("update",)),
    ("Unchanged", ("unchanged",)), ("Not going", ("skip",)), ("Insert or update", ("insert", "update")))

FolderAsker = Callable[[QWidget, str, str], str]

_Display = Qt.ItemDataRole.DisplayRole
_Tip = Qt.ItemDataRole.ToolTipRole
_Fore = Qt.ItemDataRole.ForegroundRole
_Font = Qt.ItemDataRole.FontRole
_Align = Qt.ItemDataRole.TextAlignmentRole


def ask_folder(parent: QWidget, title: str, start: str) -> str:
    """Ask for the folder the preview's CSV files go to; "" when the user cancels. Tests replace this."""
    return QFileDialog.getExistingDirectory(parent, title, start)


# ====================================================================== the run
def _preview_task(report: Callable[[Any], None], cancel: Any, ctx: AppContext, source: str, target: str,
                  template_json: dict[str, Any], override: bool, only: dict[str, set[str]] | None = None) -> Any:
    """On a pool thread: ``SyncEngine.preview`` of the template (the metadata check first, as a sync's), of the
    records of ``only`` (object -> source ids) when given. A blocking finding refuses it with the sentence Start
    Sync gives, unless the user chose to start anyway in the check."""
    from ...engine.preflight import PreflightBlocked

    engine = ctx.engine(source, target, observer=report, cancel=cancel)
    try:
        return engine.preview(template_json, override_preflight=override, only=only,
                              on_preview=lambda preview_id: report(("preview", preview_id)),
                              on_overridden=lambda found: report(("overridden", len(found))))
    except PreflightBlocked as blocked:
        raise RuntimeError(f"{str(blocked).replace('the sync cannot start', 'the preview cannot start', 1)} Open "
                           "Check Metadata Mismatch to fix them, or choose to start anyway there.") from None


class PreviewProgressDialog(QDialog):
    """The preview while it runs: which object, how far, and Cancel (Escape too). Window-modal, never blocking:
    nothing else of the window starts meanwhile. When the preview fails it stays open with the reason."""

    cancel_requested = Signal()

    def __init__(self, title: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle(title)
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setMinimumWidth(520)
        layout = QVBoxLayout(self)
        self.label = QLabel("Checking metadata, then reading both orgs…")
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.label)
        self.bar = QProgressBar()
        self.bar.setRange(0, 0)
        self.bar.setTextVisible(False)
        layout.addWidget(self.bar)
        note = QLabel("Nothing is written to either org.")
        note.setProperty("role", "subtle")
        layout.addWidget(note)
        row = QHBoxLayout()
        row.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.reject)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.failed = False

    def show_progress(self, text: str, value: int | None, maximum: int) -> None:
        self.label.setText(text)
        if value is None:
            self.bar.setRange(0, 0)
        else:
            self.bar.setRange(0, maximum)
            self.bar.setValue(value)

    def show_failure(self, text: str) -> None:
        """Stay open with the reason the preview did not run; the button closes."""
        self.failed = True
        shown = html.escape(text).replace("\n", "<br>")       # the blocking findings, one a line
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.label.setText(f"<span style='color:{ERROR}'>The preview could not run: {shown}</span>")
        self.bar.hide()
        self.cancel_button.setText("Close")

    def reject(self) -> None:  # noqa: D401 - Qt's name: Escape, Cancel, the window's close
        if self.failed:
            super().reject()
            return
        self.cancel_button.setEnabled(False)
        self.label.setText("Cancelling after the current batch…")
        self.cancel_requested.emit()

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802 - Qt's name
        if self.failed:
            super().closeEvent(event)
            return
        event.ignore()
        self.reject()


class PreviewLauncher(QObject):
    """Runs one preview of ``template_json`` from ``source`` to ``target`` (of the records of ``only``, object ->
    source ids, when given: a re-preview of records changed since a preview) and opens its :class:`PreviewDialog`.

    Signals:
        finished(object): the preview ended; its ``PreviewResult`` (None when it could not run).
        failed(str): the preview could not run or failed: the reason, for the user.
        opened(object): the :class:`PreviewDialog` of a completed preview was opened.
    """

    finished = Signal(object)
    failed = Signal(str)
    opened = Signal(object)

    def __init__(self, ctx: AppContext, source: str, target: str, template_json: dict[str, Any], *,
                 override: bool = False, only: dict[str, set[str]] | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.only = only
        self.source, self.target = source, target
        self.template_json = template_json
        self.override = override
        self.parent_widget = parent
        self.worker: Any = None
        self.preview_id: int | None = None
        self.failure: str | None = None        # why the preview could not run or failed
        self.dialog: PreviewDialog | None = None
        self.progress = PreviewProgressDialog(f"Preview Changes: {source} → {target}", parent)
        self.progress.cancel_requested.connect(self._on_progress_cancel_requested)
        self._latest: Any = None
        self._object: tuple[str, int, int, int] | None = None    # (object, index, count, total)
        self.timer = QTimer(self)
        self.timer.setInterval(REFRESH_MS)
        self.timer.timeout.connect(self._on_timer_timeout)

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self) -> None:
        self.worker = self.ctx.tasks.start(_preview_task, self.ctx, self.source, self.target, self.template_json,
                                           self.override, self.only, on_progress=self._on_worker_progress,
                                           on_finished=self._on_worker_finished, on_error=self._on_worker_error,
                                           on_done=self._on_worker_done)
        self.timer.start()
        self.progress.open()
        some = (f" ({sum(len(ids) for ids in self.only.values()):,} records changed since the last preview)"
                if self.only is not None else "")
        self.ctx.info(f"Previewing {self.template_json.get('name') or 'the template'}{some}: {self.source} → "
                      f"{self.target} (nothing is written)…")

    # ------------------------------------------------------------------ worker
    def _on_worker_progress(self, event: Any) -> None:
        if self.ctx.closing:
            return
        if isinstance(event, tuple) and event and event[0] == "preview":
            self.preview_id = int(event[1])
        elif isinstance(event, tuple) and event and event[0] == "overridden":
            self.ctx.warn(f"Previewing despite {event[1]} blocking finding(s) of the metadata check, as chosen there.")
        elif isinstance(event, ObjectReading):
            self._object = (event.object, event.index, event.count, 0)
            self._latest = None
        elif isinstance(event, ObjectStarted):
            self._object = (event.object, event.index, event.count, event.total)
            self._latest = None
        elif isinstance(event, BatchDone):
            self._latest = event.counts
        elif isinstance(event, Notice):
            self.ctx.info(event.text)

    def _on_timer_timeout(self) -> None:
        if self._object is None:
            return
        name, index, count, total = self._object
        done = self._latest.processed if self._latest is not None else 0
        if total:
            text = f"{name} ({index} of {count}): {done:,} of {total:,} records compared with the target"
            value = (index - 1) * 100 + min(100, done * 100 // total)
        else:
            text = f"Reading {name} ({index} of {count}) from both orgs…"
            value = (index - 1) * 100
        self.progress.show_progress(text, value, count * 100)

    def _on_worker_finished(self, result: Any) -> None:
        self._on_worker_done()     # over: a new preview may start from the slots of ``finished``
        if self.ctx.closing:
            return
        status = getattr(result, "status", "Failed")
        if status == "Completed":
            self.progress.accept()
            totals = result.totals
            self.ctx.info(f"Preview #{result.preview_id}: {totals.get('insert', 0):,} to insert, "
                          f"{totals.get('update', 0):,} to update, {totals.get('unchanged', 0):,} unchanged, "
                          f"{totals.get('skip', 0):,} not going (nothing was written)")
            self.dialog = PreviewDialog(self.ctx, result.preview_id, self.parent_widget)
            self.dialog.show()
            self.opened.emit(self.dialog)
        elif status == "Aborted":
            self.progress.accept()
            self.ctx.info("Preview cancelled: nothing was written to either org.")
        else:
            text = result.message or "the preview failed"
            self.failure = text
            self.progress.show_failure(text)
            self.ctx.error(f"The preview failed: {text}")
            self.failed.emit(text)
        self.ctx.previews_changed.emit()
        self.finished.emit(result)

    def _on_worker_error(self, text: str) -> None:
        self._on_worker_done()
        if self.ctx.closing:
            return
        self.failure = text
        self.progress.show_failure(text)
        self.ctx.error(f"The preview could not run: {text}")
        self.failed.emit(text)
        self.finished.emit(None)

    def _on_worker_done(self) -> None:
        self.worker = None
        self.timer.stop()

    def _on_progress_cancel_requested(self) -> None:
        if self.worker is not None:
            self.worker.cancel.cancel("cancelled by the user")


# ====================================================================== models
def shown_value(value: Any, label: str | None) -> str:
    """A field value as the diff shows it: a lookup by its parent's name, nothing as an em dash."""
    if label:
        return label
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class PreviewCountsModel(RowsTableModel[dict[str, Any]]):
    """Per object of a preview (migration order), then a Total row: records, to insert, to update, unchanged, not
    going (and why), second-pass updates."""

    HEADERS = ("Object", "Records", "To insert", "To update", "Unchanged", "Not going", "Second-pass updates",
               "Why not going")
    KEYS = ("object", "total", "insert", "update", "unchanged", "skip", "deferred_updates", "why")
    RIGHT_ALIGNED = frozenset(range(1, 7))
    HEADER_TIPS = {6: "Records whose lookups to a parent processed later are set in a second pass (an update "
                      "after all objects are done)",
                   7: "Reason codes of the records not going, with how many each"}

    def set_preview(self, objects: list[dict[str, Any]], reasons: dict[str, dict[str, int]]) -> None:
        rows = []
        total: dict[str, Any] = {"object": "Total", "why": "", "bold": True}
        for item in objects:
            why = reasons.get(item["object"], {})
            row = {**item, "why": ", ".join(f"{code or 'other'} {n:,}" for code, n in
                                            sorted(why.items(), key=lambda kv: -kv[1]))}
            rows.append(row)
            for key in self.KEYS[1:7]:
                total[key] = total.get(key, 0) + int(item.get(key, 0) or 0)
        self._set_rows(rows + ([total] if len(rows) > 1 else []))

    def object_at(self, row: int) -> str | None:
        return None if not 0 <= row < len(self._rows) or self._rows[row].get("bold") else self._rows[row]["object"]

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        row = self._row_at(index)
        if row is None:
            return None
        column = index.column()
        key = self.KEYS[column]
        if role == _Display:
            value = row.get(key)
            return f"{int(value or 0):,}" if column in self.RIGHT_ALIGNED else (value or "")
        if role == _Align and column in self.RIGHT_ALIGNED:
            return RIGHT
        if role == _Font and row.get("bold"):
            return bold_font()
        if role == _Fore and column in self.RIGHT_ALIGNED and not row.get(key):
            return QColor(MUTED)
        if role == _Tip and column == 7 and row.get("why"):
            return row["why"]
        return None


class PreviewRecordsModel(RowsTableModel[PreviewRecord]):
    """The records of one object of a preview, read from the journal :data:`PAGE` rows at a time as the view
    scrolls (``canFetchMore``/``fetchMore``): never every row in memory. Filtered by action and text in SQL."""

    HEADERS = ("Record", "Action", "Fields", "Reason")
    RIGHT_ALIGNED = frozenset({2})
    HEADER_TIPS = {2: "Fields the run writes to this record", 3: "Why a record is not going (reason code)"}

    def __init__(self, journal: Journal, preview_id: int, parent: Any = None):
        super().__init__(parent)
        self.journal = journal
        self.preview_id = preview_id
        self.object_name: str | None = None
        self.actions: tuple[str, ...] | None = None
        self.text = ""
        self._more = False

    def set_filter(self, object_name: str | None, actions: tuple[str, ...] | None, text: str = "") -> None:
        """Show the records of ``object_name`` with one of ``actions`` (None: all) matching ``text``; the first
        page is read now."""
        self.object_name, self.actions, self.text = object_name, actions, text.strip()
        self._more = object_name is not None
        self._set_rows([])
        self.fetchMore(QModelIndex())

    def record(self, row: int) -> PreviewRecord | None:
        return self._rows[row] if 0 <= row < len(self._rows) else None

    def loaded(self) -> int:
        return len(self._rows)

    def has_more(self) -> bool:
        return self._more

    def canFetchMore(self, parent: AnyIndex = QModelIndex()) -> bool:  # noqa: N802, B008 - Qt's name
        return not parent.isValid() and self._more

    def fetchMore(self, parent: AnyIndex = QModelIndex()) -> None:  # noqa: N802, B008 - Qt's name
        if parent.isValid() or not self._more:
            return
        page = self.journal.preview_records(self.preview_id, self.object_name, self.actions, offset=len(self._rows),
                                            limit=PAGE, text=self.text or None)
        self._more = len(page) == PAGE
        if page:
            first = len(self._rows)
            self.beginInsertRows(QModelIndex(), first, first + len(page) - 1)
            self._rows.extend(page)
            self.endInsertRows()

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        row = self._row_at(index)
        if row is None:
            return None
        column = index.column()
        if role == _Display:
            if column == 0:
                return row.label or row.source_id
            if column == 1:
                return ACTION_LABELS.get(row.action, row.action)
            if column == 2:
                return f"{len(row.changes):,}" if row.changes else ""
            if column == 3:
                return row.reason_code or ""
        if role == _Align and column == 2:
            return RIGHT
        if role == _Fore:
            if column == 1:
                return QColor(ACTION_COLOURS.get(row.action, MUTED))
        if role == _Tip:
            if column == 3 and row.reason:
                return f"{row.reason_code}: {row.reason}"
            if column == 0:
                return f"{row.label}\nSource Id {row.source_id}" + (f"\nTarget Id {row.target_id}"
                                                                    if row.target_id else "")
        return None


class PreviewDiffModel(RowsTableModel[PreviewChange]):
    """The fields of one record the run writes: target value now → value the run will write (a lookup by its
    parent's name, the id in the tooltip), and whether the second pass sets it."""

    HEADERS = ("Field", "Target now", "Will be", "When")
    HEADER_TIPS = {3: "The second pass sets lookups to parents processed after this object"}

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self.record: PreviewRecord | None = None

    def set_record(self, record: PreviewRecord | None) -> None:
        self.record = record
        self._set_rows(list(record.changes) if record is not None else [])

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        change = self._row_at(index)
        if change is None:
            return None
        column = index.column()
        inserted = self.record is not None and self.record.action == "insert"
        if role == _Display:
            if column == 0:
                return change.field
            if column == 1:
                return "(new record)" if inserted else shown_value(change.now, change.now_label)
            if column == 2:
                return shown_value(change.will_be, change.will_be_label)
            if column == 3:
                return "second pass" if change.deferred else "first pass"
        if role == _Tip:
            value, label = ((change.now, change.now_label) if column == 1 else
                            (change.will_be, change.will_be_label) if column == 2 else (None, None))
            if label and value is not None:
                return f"{label} ({value})"
            if column in (1, 2) and value is not None:
                return str(value)
        if role == _Fore:
            if column == 1 and (inserted or change.now in (None, "")):
                return QColor(MUTED)
            if column == 3 and not change.deferred:
                return QColor(MUTED)
        if role == _Font and column == 2:
            return bold_font()
        return None


# ====================================================================== the dialog
class PreviewDialog(QDialog):
    """A finished preview: counts and API calls, the record list of one object, the selected record's fields, and
    Apply This Preview (apply.py; disabled with the reason once applied: the dialog is then read-only).

    ``ask_folder`` is the folder-dialog function (``(parent, title, start) -> folder or ""``); tests replace it.

    Signals:
        exported(str, int): the CSV export finished: (folder, files written).
        export_failed(str): the CSV export failed: the reason, for the user.
    """

    exported = Signal(str, int)
    export_failed = Signal(str)

    def __init__(self, ctx: AppContext, preview_id: int, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.preview_id = preview_id
        self.ask_folder: FolderAsker = ask_folder
        self._exporting = False
        self.preview = ctx.journal.preview(preview_id)
        header = self.preview.header or {}
        self.setWindowTitle(f"Preview Changes: {self.preview.template_name} · {self.preview.source.alias} → "
                            f"{self.preview.target.alias}")
        self.setSizeGripEnabled(True)
        self.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)     # each preview opens its own; closed, it goes
        self.resize(1240, 700)
        self.setMinimumSize(900, 560)

        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        self.summary_label = QLabel()
        self.summary_label.setWordWrap(True)
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        self.summary_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.summary_label)
        self.calls_label = QLabel()
        self.calls_label.setWordWrap(True)
        self.calls_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.calls_label)
        self.applied_label = QLabel()
        self.applied_label.setTextFormat(Qt.TextFormat.RichText)
        self.applied_label.setStyleSheet(f"color: {ACCENT};")
        self.applied_label.hide()
        layout.addWidget(self.applied_label)
        self.estimate_label = QLabel()      # the sync's estimated time, each org's share of its daily API requests
        self.estimate_label.setWordWrap(True)
        self.estimate_label.setTextFormat(Qt.TextFormat.RichText)
        self.estimate_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.estimate_label)

        self.counts_model = PreviewCountsModel(self)
        self.counts_model.set_preview(list(header.get("objects") or []), ctx.journal.preview_reasons(preview_id))
        self.counts_view = read_only_table(self.counts_model, QAbstractItemView.SelectionMode.SingleSelection)
        self.counts_view.setAlternatingRowColors(True)
        counts_header = self.counts_view.horizontalHeader()
        counts_header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        counts_header.setStretchLastSection(True)
        self.counts_view.clicked.connect(self._on_counts_view_clicked)
        rows = self.counts_model.rowCount()
        height = self.counts_view.verticalHeader().defaultSectionSize()
        self.counts_view.setFixedHeight(counts_header.sizeHint().height() + height * min(rows, 7) + 4)
        layout.addWidget(self.counts_view)

        layout.addLayout(self._build_filters())
        splitter = QSplitter(Qt.Orientation.Horizontal)
        self.records_model = PreviewRecordsModel(ctx.journal, preview_id, self)
        self.records_view = read_only_table(self.records_model, QAbstractItemView.SelectionMode.SingleSelection)
        self.records_view.setAlternatingRowColors(True)
        self.records_view.setWordWrap(False)
        self.records_view.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        records_header = self.records_view.horizontalHeader()
        records_header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in (1, 2):
            records_header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        records_header.setSectionResizeMode(3, QHeaderView.ResizeMode.Interactive)
        records_header.resizeSection(3, 150)
        records_header.setResizeContentsPrecision(0)    # sized from the rows in view, not every page read so far
        self.records_view.selectionModel().currentRowChanged.connect(self._on_records_current_changed)
        splitter.addWidget(self.records_view)
        splitter.addWidget(self._build_diff_panel())
        splitter.setStretchFactor(0, 5)
        splitter.setStretchFactor(1, 4)
        splitter.setSizes([560, 640])
        layout.addWidget(splitter, 1)
        self.footer_label = QLabel()
        self.footer_label.setProperty("role", "subtle")
        layout.addWidget(self.footer_label)

        bottom = QHBoxLayout()
        note = self.note_label = QLabel(AUTOMATION_NOTE)
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {MUTED};")
        bottom.addWidget(note, 1)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Write the whole preview to a folder: one CSV file per object, every record "
                                      "and every field that changes (Excel-safe)")
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.apply_button = QPushButton("&Apply This Preview…")
        self.apply_button.setProperty("accent", True)
        self.apply_button.clicked.connect(self._on_apply_button_clicked)
        self.applier = PreviewApplier(ctx, self, PreviewLauncher)
        self.close_button = QPushButton("Close")
        self.close_button.clicked.connect(self.reject)
        bottom.addWidget(self.export_button)
        bottom.addWidget(self.apply_button)
        bottom.addWidget(self.close_button)
        layout.addLayout(bottom)

        self._show_header(header)
        self.search_timer = QTimer(self)
        self.search_timer.setSingleShot(True)
        self.search_timer.setInterval(250)
        self.search_timer.timeout.connect(self._apply_filter)
        self.object_combo.currentIndexChanged.connect(self._apply_filter)
        self.action_combo.currentIndexChanged.connect(self._apply_filter)
        self.search.textChanged.connect(self._on_search_text_changed)
        self._apply_filter()
        self.records_view.setFocus()
        self.close_button.setDefault(False)
        self.close_button.setAutoDefault(False)
        self.export_button.setAutoDefault(False)
        self.apply_button.setAutoDefault(False)
        self.update_apply_button()

    # ------------------------------------------------------------------ construction
    def _build_filters(self) -> QHBoxLayout:
        row = QHBoxLayout()
        title = QLabel("<b>Records</b>")
        row.addWidget(title)
        row.addSpacing(12)
        object_label = QLabel("&Object:")
        self.object_combo = QComboBox()
        for item in (self.preview.header or {}).get("objects") or []:
            self.object_combo.addItem(f"{item['object']} ({int(item.get('total', 0) or 0):,})", item["object"])
        object_label.setBuddy(self.object_combo)
        show_label = QLabel("&Show:")
        self.action_combo = QComboBox()
        for text, actions in SHOW_CHOICES:
            self.action_combo.addItem(text, actions)
        show_label.setBuddy(self.action_combo)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by name, id or reason…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(260)
        for widget in (object_label, self.object_combo, show_label, self.action_combo):
            row.addWidget(widget)
        row.addSpacing(8)
        row.addWidget(self.search, 1)
        return row

    def _build_diff_panel(self) -> QWidget:
        panel = QWidget()
        layout = QVBoxLayout(panel)
        layout.setContentsMargins(6, 0, 0, 0)
        self.diff_title = QLabel()
        self.diff_title.setWordWrap(True)
        self.diff_title.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.diff_title)
        self.ids_label = QLabel()
        self.ids_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.ids_label.setStyleSheet(f"color: {MUTED};")
        layout.addWidget(self.ids_label)
        self.diff_model = PreviewDiffModel(self)
        self.diff_view = read_only_table(self.diff_model, QAbstractItemView.SelectionMode.SingleSelection)
        self.diff_view.setAlternatingRowColors(True)
        self.diff_view.setWordWrap(False)
        diff_header = self.diff_view.horizontalHeader()
        diff_header.setSectionResizeMode(0, QHeaderView.ResizeMode.ResizeToContents)
        diff_header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        diff_header.setSectionResizeMode(2, QHeaderView.ResizeMode.Stretch)
        diff_header.setSectionResizeMode(3, QHeaderView.ResizeMode.ResizeToContents)
        layout.addWidget(self.diff_view, 1)
        self.reason_label = QLabel()
        self.reason_label.setWordWrap(True)
        self.reason_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout.addWidget(self.reason_label)
        return panel

    def _show_header(self, header: dict[str, Any]) -> None:
        totals = header.get("totals") or {}
        preview = self.preview
        records = sum(int(item.get("total", 0) or 0) for item in header.get("objects") or [])
        parts = [f"<b>{int(totals.get('insert', 0)):,}</b> to insert",
                 f"<b>{int(totals.get('update', 0)):,}</b> to update",
                 f"<b>{int(totals.get('unchanged', 0)):,}</b> unchanged",
                 f"<b style='color:{WARNING if totals.get('skip') else SUCCESS}'>{int(totals.get('skip', 0)):,}</b> "
                 "not going"]
        if totals.get("deferred_updates"):
            parts.append(f"<b>{int(totals['deferred_updates']):,}</b> second-pass updates")
        seconds = header.get("seconds")
        took = f" in {float(seconds):.1f} s" if seconds is not None else ""
        self.summary_label.setText(
            f"<b>Preview #{preview.id}</b> of <b>{preview.template_name}</b>, {preview.source.alias} → "
            f"{preview.target.alias}, made {preview.created.replace('T', ' ')[:19]}{took}. "
            f"<b style='color:{SUCCESS}'>Nothing was written to either org.</b><br>"
            f"<b>{records:,}</b> source records: " + " &nbsp;·&nbsp; ".join(parts))
        api = header.get("api_calls") or {}
        source, target = api.get("source") or {}, api.get("target") or {}
        bulk = int(target.get("bulk_jobs", 0) or 0)
        bulk_text = f", {bulk:,} Bulk job{'s' if bulk != 1 else ''}" if bulk else ""
        self.calls_label.setText(
            f"API calls the sync will cost: <b>{preview.source.alias}</b> {int(source.get('total', 0)):,} "
            f"({int(source.get('reads', 0)):,} reads) &nbsp;·&nbsp; <b>{preview.target.alias}</b> "
            f"{int(target.get('total', 0)):,} ({int(target.get('reads', 0)):,} reads, "
            f"{int(target.get('writes', 0)):,} writes{bulk_text})")
        notices = list(header.get("notices") or [])
        if notices:
            self.calls_label.setToolTip("\n".join(notices))
        self._show_estimate(header)
        files = header.get("files_note")       # lines "with their files": copied by the sync, not listed here
        self.note_label.setText(f"{AUTOMATION_NOTE} {files}" if files else AUTOMATION_NOTE)

    def _show_estimate(self, header: dict[str, Any]) -> None:
        """The sync's estimated time ("about 2 min (1 min–3 min), from …"), each org's share of the daily API
        requests it has left, and a warning when the run would take more than half of them or pause."""
        lines: list[str] = []
        estimate = header.get("estimate") or {}
        if estimate:
            time_text, _, basis = range_text(estimate).partition(", ")
            lines.append(f"Estimated time of the sync: <b>{html.escape(time_text)}</b>"
                         + (f", {html.escape(basis, quote=False)}" if basis else ""))
        shares = header.get("api_share") or {}
        aliases = {"source": self.preview.source.alias, "target": self.preview.target.alias}
        parts = [f"<b>{html.escape(aliases[side])}</b> "
                 f"{'all' if share.get('percent') is None else str(share['percent']) + '%'} of the "
                 f"{int(share.get('remaining', 0)):,} left" for side, share in shares.items() if side in aliases]
        if parts:
            lines.append("Share of the daily API requests left: " + " &nbsp;·&nbsp; ".join(parts))
        for share in shares.values():
            if share.get("warning"):
                lines.append(f"<b style='color:{WARNING}'>Warning:</b> {html.escape(share['warning'], quote=False)}")
        self.estimate_label.setText("<br>".join(lines))
        self.estimate_label.setVisible(bool(lines))

    # ------------------------------------------------------------------ API (tests use it too)
    def select_object(self, name: str) -> None:
        """Show the records of ``name``."""
        index = self.object_combo.findData(name)
        if index >= 0:
            self.object_combo.setCurrentIndex(index)

    def show_actions(self, actions: tuple[str, ...] | None) -> None:
        """Show only the records with one of ``actions`` (None: all)."""
        for index in range(self.action_combo.count()):
            if self.action_combo.itemData(index) == actions:
                self.action_combo.setCurrentIndex(index)
                return

    def set_filter_text(self, text: str) -> None:
        """Filter by ``text`` now (typing waits a moment before it filters)."""
        self.search.setText(text)
        self.search_timer.stop()
        self._apply_filter()

    def select_record(self, row: int) -> None:
        self.records_view.selectRow(row)
        self.records_view.setCurrentIndex(self.records_model.index(row, 0))

    # ------------------------------------------------------------------ slots
    def _on_search_text_changed(self, _text: str) -> None:
        self.search_timer.start()

    def _apply_filter(self) -> None:
        name = self.object_combo.currentData()
        actions = self.action_combo.currentData()
        self.records_model.set_filter(name, tuple(actions) if actions else None, self.search.text())
        self._show_record(None)
        self._update_footer()
        if self.records_model.loaded():
            self.select_record(0)

    def _update_footer(self) -> None:
        loaded = self.records_model.loaded()
        more = " (scroll for more)" if self.records_model.has_more() else ""
        self.footer_label.setText(f"{loaded:,} record{'s' if loaded != 1 else ''} shown{more}"
                                  if loaded else "No record matches.")

    def _on_counts_view_clicked(self, index: QModelIndex) -> None:
        name = self.counts_model.object_at(index.row())
        if name is not None:
            self.select_object(name)

    def _on_records_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self._show_record(self.records_model.record(current.row()) if current.isValid() else None)
        self._update_footer()

    def _show_record(self, record: PreviewRecord | None) -> None:
        self.diff_model.set_record(record)
        self.diff_view.setColumnHidden(1, record is not None and record.action == "insert")   # no target value yet
        if record is None:
            self.diff_title.setText(f"<span style='color:{MUTED}'>Select a record to see the fields the sync "
                                    "writes.</span>")
            self.reason_label.setText("")
            self.ids_label.setText("")
            return
        target = record.target_id or ("a new record" if record.action == "insert" else "none")
        self.ids_label.setText(f"Source Id {record.source_id} → target {target}")
        action = ACTION_LABELS.get(record.action, record.action)
        colour = ACTION_COLOURS.get(record.action, MUTED)
        fields = len(record.changes)
        what = {"insert": f"inserted with {fields} field{'s' if fields != 1 else ''}",
                "update": f"{fields} field{'s' if fields != 1 else ''} change{'s' if fields == 1 else ''}",
                "unchanged": "the target record already holds these values: nothing is written",
                "skip": "not going"}.get(record.action, "")
        name = html.escape(record.label or record.source_id)
        self.diff_title.setText(f"<b>{record.object} · {name}</b> &nbsp;<b style='color:{colour}'>{action}</b>"
                                f" <span style='color:{MUTED}'>— {what}</span>")
        why = html.escape(f"{record.reason_code}: {record.reason}")
        self.reason_label.setText(f"<span style='color:{WARNING}'>{why}</span>" if record.reason else "")

    # ------------------------------------------------------------------ apply
    def why_not_apply(self) -> str | None:
        """Why Apply This Preview cannot start now (the preview read again from the journal), None when it can."""
        if self.applier.running:
            return "checking the preview against both orgs…"
        try:
            preview = self.ctx.journal.preview(self.preview_id)
        except JournalError as exc:
            return str(exc)
        self.preview = preview
        if preview.job_id is not None:
            return (f"it was applied as job #{preview.job_id} (History lists it; roll the job back there or on the "
                    "Execute tab)")
        if preview.status != "Completed":
            return f"the preview is {preview.status}: only a completed preview can be applied"
        return None

    def update_apply_button(self) -> None:
        """Apply This Preview enabled with what it does, or disabled with the reason; an applied preview's dialog
        says it is read-only."""
        why = self.why_not_apply()
        self.apply_button.setEnabled(why is None)
        self.apply_button.setToolTip(f"Apply This Preview: {why}" if why else
                                     APPLY_TIP.format(target=self.preview.target.alias))
        applied = self.preview.job_id
        self.applied_label.setVisible(applied is not None)
        if applied is not None:
            self.applied_label.setText(f"<b>Applied as job #{applied}</b> — this preview is read-only: what it "
                                       "shows was written by that job.")

    def _on_apply_button_clicked(self) -> None:
        self.apply()

    def apply(self) -> None:
        """Apply This Preview: check it on the pool, then ask what the check calls for (apply.py)."""
        if self.why_not_apply() is not None:
            self.update_apply_button()
            return
        self.applier.start()
        self.update_apply_button()

    # ------------------------------------------------------------------ export
    def _on_export_button_clicked(self) -> None:
        self.export_csv()

    def export_csv(self) -> None:
        """Ask for a folder, then write the whole preview there (one CSV file per object) on the pool."""
        if self._exporting:
            return
        start = str(self.ctx.settings.value(EXPORT_DIR_KEY) or Path.home())
        folder = self.ask_folder(self, "Export the preview to a folder", start)
        if not folder:
            return
        self.ctx.settings.setValue(EXPORT_DIR_KEY, folder)
        self._exporting = True
        self.export_button.setEnabled(False)
        self.ctx.tasks.start(_export_task, self.ctx.journal, self.preview_id, folder,
                             on_finished=self._on_export_finished, on_error=self._on_export_errored,
                             on_done=self._on_export_done)

    def _on_export_finished(self, result: tuple[str, int, int]) -> None:
        folder, files, records = result
        self.ctx.info(f"Exported preview #{self.preview_id}: {records:,} records in {files} CSV file"
                      f"{'s' if files != 1 else ''} to {folder}")
        self.exported.emit(folder, files)

    def _on_export_errored(self, text: str) -> None:
        self.ctx.error(f"The preview could not be exported: {text}")
        self.export_failed.emit(text)

    def _on_export_done(self) -> None:
        self._exporting = False
        self.export_button.setEnabled(True)


def _export_task(report: Callable[[Any], None], cancel: Any, journal: Journal, preview_id: int,
                 folder: str) -> tuple[str, int, int]:
    """Worker body: write the preview's CSV files; (folder, files, records)."""
    written = export_preview_csv(journal, preview_id, Path(folder))
    return folder, len(written), sum(records for _path, records in written.values())


__all__ = ["AUTOMATION_NOTE", "PREVIEW_TIP", "PreviewCountsModel", "PreviewDialog", "PreviewDiffModel",
           "PreviewLauncher", "PreviewProgressDialog", "PreviewRecordsModel", "ask_folder", "shown_value"]
