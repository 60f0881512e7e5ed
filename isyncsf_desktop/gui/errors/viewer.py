"""The Error Viewer (spec 7.5): a job's errors grouped by object, filtered, copied and exported.

Used by the Execute tab (the errors of the job on screen) and by the History page (the errors of
the job selected there). It reads the journal, which is the source of truth: :meth:`ErrorViewer.refresh`
re-reads it after a run. The CSV export runs on the app's thread pool.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QPoint, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QDialogButtonBox, QFileDialog, QHBoxLayout, QHeaderView,
                               QLabel, QLineEdit, QMenu, QPlainTextEdit, QPushButton, QSplitter, QStackedWidget,
                               QTableView, QVBoxLayout, QWidget)

from ...engine.export import error_filename, export_errors_csv
from ...engine.journal import ErrorRow, Journal, JournalError
from ..context import AppContext
from ..style import MUTED
from ..tables import read_only_table
from .models import (COL_CODE, COL_FIELDS, COL_MESSAGE, COL_OBJECT, COL_SOURCE, COL_TARGET, COLUMNS, ErrorFilterProxy,
                     ErrorGroupsModel, ErrorTableModel, ObjectRole, cell_text, details_text)

logger = logging.getLogger(__name__)

NO_JOB_TEXT = "Run a sync to see errors here."
NO_ERRORS_TEXT = "No errors — every record made it."
EXPORT_DIR_KEY = "errors/export_dir"
_MAX_WIDTHS = {COL_OBJECT: 170, COL_SOURCE: 180, COL_TARGET: 180, COL_CODE: 280, COL_FIELDS: 150}

SavePathAsker = Callable[[QWidget, str, str], str]


def ask_save_path(parent: QWidget, title: str, default_path: str) -> str:
    """Ask where to save a CSV file; "" when the user cancels. Tests replace this."""
    path, _ = QFileDialog.getSaveFileName(parent, title, default_path, "CSV files (*.csv);;All files (*)")
    return path


def _export_task(report: Callable[[Any], None], cancel: Any, journal: Journal, job_id: int, path: str,
                 object_name: str | None, error_ids: list[int] | None) -> tuple[str, int]:
    """Worker body: write the CSV; returns (path, rows written)."""
    return path, export_errors_csv(journal, job_id, Path(path), object_name, error_ids=error_ids)


def rows_as_text(errors: list[ErrorRow]) -> str:
    """Errors as tab-separated text with a header line (for the clipboard and spreadsheets)."""

    def clean(text: str) -> str:
        return " ".join(text.replace("\t", " ").splitlines())

    lines = ["\t".join(COLUMNS)]
    lines += ["\t".join(clean(cell_text(error, column)) for column in range(len(COLUMNS))) for error in errors]
    return "\n".join(lines)


class ErrorDetailsDialog(QDialog):
    """Every detail of one error, with the full message, selectable and copyable. Not modal."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Error details")
        self.resize(620, 360)
        layout = QVBoxLayout(self)
        self.title = QLabel()
        self.title.setTextFormat(Qt.TextFormat.PlainText)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        layout.addWidget(self.title)
        self.text = QPlainTextEdit()
        self.text.setReadOnly(True)
        self.text.setLineWrapMode(QPlainTextEdit.LineWrapMode.WidgetWidth)
        layout.addWidget(self.text, 1)
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Close)
        self.copy_button = buttons.addButton("Copy", QDialogButtonBox.ButtonRole.ActionRole)
        self.copy_button.clicked.connect(self._on_copy_button_clicked)
        buttons.rejected.connect(self.close)
        layout.addWidget(buttons)

    def show_error(self, error: ErrorRow) -> None:
        """Fill the dialog with ``error`` and show it (non-blocking)."""
        self.title.setText(f"{error.object} · {error.status_code}")
        self.text.setPlainText(details_text(error))
        self.show()
        self.raise_()
        self.activateWindow()

    def _on_copy_button_clicked(self) -> None:
        QGuiApplication.clipboard().setText(self.text.toPlainText())


class ErrorViewer(QWidget):
    """A job's open errors: grouped by object (left), one row per error (right), filters, export, copy.

    API: :meth:`set_job`, :meth:`refresh`, :meth:`error_count`. ``ask_save_path`` is the save-dialog
    function (``(parent, title, default_path) -> path or ""``); tests replace it.

    Signals:
        count_changed(int): the job's number of errors after :meth:`set_job` or :meth:`refresh`.
        exported(str, int): a CSV export finished: (file path, rows written).
        export_failed(str): a CSV export failed: the reason, for the user.
    """

    count_changed = Signal(int)
    exported = Signal(str, int)
    export_failed = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.ask_save_path: SavePathAsker = ask_save_path
        self.job_id: int | None = None
        self._exporting = False
        self.details_dialog: ErrorDetailsDialog | None = None
        self._fitted: tuple[int | None, bool] = (None, False)

        self.model = ErrorTableModel(self)
        self.proxy = ErrorFilterProxy(self)
        self.proxy.setSourceModel(self.model)
        self.groups = ErrorGroupsModel(self)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(self._build_toolbar())
        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_empty_page())
        self.stack.addWidget(self._build_table_page())
        layout.addWidget(self.stack, 1)
        self.footer = QLabel()
        self.footer.setProperty("role", "subtle")
        layout.addWidget(self.footer)

        self.search.textChanged.connect(self._on_search_text_changed)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.export_all_button.clicked.connect(self._on_export_all_button_clicked)
        self.group_view.selectionModel().currentRowChanged.connect(self._on_group_view_current_changed)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        self.table.customContextMenuRequested.connect(self._on_table_context_menu_requested)
        self.table.selectionModel().selectionChanged.connect(self._on_table_selection_changed)
        self.proxy.rowsInserted.connect(self._update_footer)
        self.proxy.rowsRemoved.connect(self._update_footer)
        self.proxy.modelReset.connect(self._update_footer)
        self.proxy.layoutChanged.connect(self._update_footer)
        for signal in (self.proxy.rowsInserted, self.proxy.rowsRemoved, self.proxy.modelReset,
                       self.proxy.layoutChanged):
            signal.connect(self._update_export_button)
        self._show_state()

    # ------------------------------------------------------------------ construction
    def _build_toolbar(self) -> QHBoxLayout:
        row = QHBoxLayout()
        row.setSpacing(8)
        self.summary_label = QLabel()
        self.summary_label.setTextFormat(Qt.TextFormat.RichText)
        row.addWidget(self.summary_label)
        row.addStretch(1)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Filter by message or status code…")
        self.search.setClearButtonEnabled(True)
        self.search.setMinimumWidth(260)
        self.search.setToolTip("Show only errors whose message or status code contains this text (any case)")
        row.addWidget(self.search)
        self.export_button = QPushButton("Export CSV…")
        row.addWidget(self.export_button)
        self.export_all_button = QPushButton("Export all…")    # shown while a filter hides some errors
        self.export_all_button.hide()
        row.addWidget(self.export_all_button)
        return row

    def _build_empty_page(self) -> QWidget:
        page = QWidget()
        box = QVBoxLayout(page)
        self.empty_label = QLabel(NO_JOB_TEXT)
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        font = self.empty_label.font()
        font.setPointSizeF(font.pointSizeF() * 1.15)
        self.empty_label.setFont(font)
        self.empty_label.setStyleSheet(f"color: {MUTED};")
        box.addStretch(1)
        box.addWidget(self.empty_label)
        box.addStretch(2)
        return page

    def _build_table_page(self) -> QWidget:
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)

        self.group_view = read_only_table(self.groups, QAbstractItemView.SelectionMode.SingleSelection)
        self.group_view.setShowGrid(False)
        self.group_view.setWordWrap(False)
        self.group_view.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.group_view.setToolTip("Errors by object: pick one to filter the table")
        header = self.group_view.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.ResizeToContents)
        header.setHighlightSections(False)
        self.group_view.setMinimumWidth(150)
        self._set_row_height(self.group_view)
        self.splitter.addWidget(self.group_view)

        self.table = read_only_table(self.proxy, QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setWordWrap(False)
        self.table.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.table.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self._set_row_height(self.table)
        header = self.table.horizontalHeader()
        header.setHighlightSections(False)
        header.setSortIndicatorClearable(True)
        header.setSortIndicator(-1, Qt.SortOrder.AscendingOrder)
        header.setStretchLastSection(False)
        header.setMinimumSectionSize(60)
        for column in (COL_OBJECT, COL_SOURCE, COL_TARGET, COL_CODE, COL_FIELDS):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.Interactive)
        self._fit_columns()
        header.setSectionResizeMode(COL_MESSAGE, QHeaderView.ResizeMode.Stretch)
        self.table.setSortingEnabled(True)

        self.copy_action = QAction("Copy row", self.table)
        self.copy_action.setShortcut(QKeySequence(QKeySequence.StandardKey.Copy))
        self.copy_action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        self.copy_action.triggered.connect(self._on_copy_action_triggered)
        self.table.addAction(self.copy_action)
        self.copy_message_action = QAction("Copy message", self.table)
        self.copy_message_action.triggered.connect(self._on_copy_message_action_triggered)
        self.details_action = QAction("Show details…", self.table)
        self.details_action.triggered.connect(self._on_details_action_triggered)
        self.splitter.addWidget(self.table)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([180, 1000])
        return self.splitter

    def _fit_columns(self) -> None:
        """Size the columns to their content (ids and codes in full), capped; the message takes the rest."""
        metrics = self.table.fontMetrics()
        header_metrics = self.table.horizontalHeader().fontMetrics()
        errors = self.model.errors()[:2000]
        padding = 18
        for column in (COL_OBJECT, COL_SOURCE, COL_TARGET, COL_CODE, COL_FIELDS):
            widest = header_metrics.horizontalAdvance(COLUMNS[column]) + 8
            samples = {cell_text(error, column) for error in errors} - {""}
            if column in (COL_SOURCE, COL_TARGET) and samples:
                samples.add("003000000000000AAA")   # an 18-character id, so a refresh never clips one
            elif not samples:
                samples.add("—")
            widest = max([widest, *(metrics.horizontalAdvance(text) for text in samples)])
            self.table.setColumnWidth(column, min(widest + padding, _MAX_WIDTHS[column]))

    @staticmethod
    def _set_row_height(view: QTableView) -> None:
        view.verticalHeader().setDefaultSectionSize(view.fontMetrics().height() + 10)
        view.verticalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Fixed)

    # ------------------------------------------------------------------ API
    def set_job(self, job_id: int | None) -> None:
        """Show the errors of ``job_id`` (None: no job; the empty state asks for a run)."""
        if job_id != self.job_id:
            self.job_id = job_id
            self.proxy.set_object_filter(None)
            self.table.clearSelection()
        self.refresh()

    def refresh(self) -> None:
        """Re-read the job's open errors from the journal, keeping the object picked when it still has some."""
        errors: list[ErrorRow] = []
        if self.job_id is not None:
            try:
                errors = self.ctx.journal.errors(self.job_id)
            except JournalError as exc:
                logger.info("no errors to show for job %s: %s", self.job_id, exc)
        counts: dict[str, int] = {}
        for error in errors:
            counts[error.object] = counts.get(error.object, 0) + 1
        keep = self.proxy.object_filter
        self.model.set_errors(errors)
        fitted = (self.job_id, bool(errors))
        if fitted != self._fitted:   # a new job, or its first errors: size the columns to them
            self._fitted = fitted
            self._fit_columns()
        if self.job_id is None:
            self.groups.clear()
        else:
            self.groups.set_counts(counts)
        if keep is not None and keep not in counts:
            keep = None
        self.proxy.set_object_filter(keep)
        row = self.groups.row_of(keep)
        if row is not None:
            self.group_view.selectionModel().setCurrentIndex(
                self.groups.index(row, 0),
                QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self._show_state()
        self.count_changed.emit(len(errors))

    def error_count(self) -> int:
        """The number of open errors of the job (all objects, whatever the filters)."""
        return self.model.rowCount()

    def select_object(self, object_name: str | None) -> None:
        """Filter to the errors of ``object_name`` (None: all objects), as a click in the list does."""
        row = self.groups.row_of(object_name)
        if row is None:
            return
        self.group_view.selectionModel().setCurrentIndex(
            self.groups.index(row, 0),
            QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)

    def selected_errors(self) -> list[ErrorRow]:
        """The errors of the selected table rows, in view order."""
        rows = sorted({index.row() for index in self.table.selectionModel().selectedRows()})
        return [self.proxy.error_at(row) for row in rows]

    def copy_selected(self) -> str:
        """Copy the selected rows (tab-separated, with the header) to the clipboard; returns the text."""
        errors = self.selected_errors()
        if not errors and self.table.currentIndex().isValid():
            errors = [self.proxy.error_at(self.table.currentIndex().row())]
        if not errors:
            return ""
        text = rows_as_text(errors)
        QGuiApplication.clipboard().setText(text)
        self.footer.setText(f"Copied {len(errors):,} row{'s' if len(errors) != 1 else ''} to the clipboard.")
        return text

    def _narrowed(self) -> bool:
        """Whether the object or text filter hides some of the job's errors."""
        return self.proxy.rowCount() < self.model.rowCount()

    def export_csv(self, *, shown: bool = True) -> None:
        """Ask where to save, then export on a worker the errors shown (the object picked and the text filter
        applied) or, with ``shown`` false, all the job's errors."""
        if self.job_id is None or self._exporting:
            return
        object_name = self.proxy.object_filter if shown else None
        error_ids = None
        if shown and self.proxy.text_filter:
            error_ids = [self.proxy.error_at(row).id for row in range(self.proxy.rowCount())]
        folder = str(self.ctx.settings.value(EXPORT_DIR_KEY) or "") or str(Path.home())
        default = str(Path(folder) / error_filename(object_name))
        if error_ids is not None:
            what = f"the {len(error_ids):,} errors shown"
        else:
            what = "all errors" if object_name is None else f"the errors of {object_name}"
        chosen = self.ask_save_path(self, f"Export {what} to CSV", default)
        if not chosen:
            return
        path = Path(chosen)
        if not path.suffix:
            path = path.with_suffix(".csv")
        self.ctx.settings.setValue(EXPORT_DIR_KEY, str(path.parent))
        self._exporting = True
        self._update_export_button()
        self.ctx.tasks.start(_export_task, self.ctx.journal, self.job_id, str(path), object_name, error_ids,
                             on_finished=self._on_export_finished, on_error=self._on_export_errored,
                             on_done=self._on_export_done)

    # ------------------------------------------------------------------ display
    def _show_state(self) -> None:
        total = self.model.rowCount()
        if self.job_id is None or total == 0:
            self.empty_label.setText(NO_JOB_TEXT if self.job_id is None else NO_ERRORS_TEXT)
            self.stack.setCurrentIndex(0)
            self.summary_label.setText("")
        else:
            self.stack.setCurrentIndex(1)
            objects = self.groups.rowCount() - 1
            self.summary_label.setText(
                f"<b>{total:,}</b> error{'s' if total != 1 else ''} in <b>{objects}</b> "
                f"object{'s' if objects != 1 else ''}")
        has_errors = total > 0
        self.search.setEnabled(has_errors)
        self._update_export_button()
        self._update_footer()

    def _update_export_button(self, *args: Any) -> None:
        total = self.model.rowCount()
        enabled = self.job_id is not None and total > 0 and not self._exporting
        narrowed = total > 0 and self._narrowed()
        shown = self.proxy.rowCount()
        self.export_button.setEnabled(enabled and (shown > 0 or not narrowed))
        self.export_all_button.setEnabled(enabled)
        self.export_all_button.setVisible(narrowed)
        if narrowed:
            self.export_button.setText(f"Export shown ({shown:,})…")
            self.export_button.setToolTip(f"Save the {shown:,} errors the table shows (object and text filter "
                                          "applied) to a CSV file")
            self.export_all_button.setText(f"Export all ({total:,})…")
            self.export_all_button.setToolTip(f"Save all {total:,} errors of the job to a CSV file")
        else:
            self.export_button.setText("Export CSV…")
            self.export_button.setToolTip(f"Save all {total:,} errors to a CSV file")

    def _update_footer(self, *args: Any) -> None:
        total = self.model.rowCount()
        if total == 0:
            self.footer.setText("")
            return
        shown = self.proxy.rowCount()
        parts = [f"Showing {shown:,} of {total:,} errors"]
        if self.proxy.object_filter is not None:
            parts.append(f"object {self.proxy.object_filter}")
        if self.proxy.text_filter:
            parts.append(f"matching “{self.search.text().strip()}”")
        text = " · ".join(parts)
        if shown == 0:
            text += " — no error matches; clear the filter to see them all."
        else:
            text += ".  Double-click a row for the full message; Ctrl+C copies the selected rows."
        self.footer.setText(text)

    # ------------------------------------------------------------------ slots
    def _on_search_text_changed(self, text: str) -> None:
        self.proxy.set_text_filter(text)
        self._update_export_button()
        self._update_footer()

    def _on_group_view_current_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        if not current.isValid():
            return
        self.proxy.set_object_filter(self.groups.index(current.row(), 0).data(ObjectRole))
        self._update_export_button()
        self._update_footer()

    def _on_table_selection_changed(self, *args: Any) -> None:
        count = len(self.table.selectionModel().selectedRows())
        self.copy_action.setText("Copy rows" if count > 1 else "Copy row")

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        if index.isValid():
            self.show_details(self.proxy.error_at(index.row()))

    def show_details(self, error: ErrorRow) -> None:
        """Show every detail of ``error`` (full message) in a non-modal dialog."""
        if self.details_dialog is None:
            self.details_dialog = ErrorDetailsDialog(self)
        self.details_dialog.show_error(error)

    def _on_table_context_menu_requested(self, pos: QPoint) -> None:
        index = self.table.indexAt(pos)
        if not index.isValid():
            return
        if not self.table.selectionModel().isRowSelected(index.row(), QModelIndex()):
            self.table.selectionModel().setCurrentIndex(
                index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        menu = QMenu(self.table)
        menu.addAction(self.copy_action)
        menu.addAction(self.copy_message_action)
        menu.addSeparator()
        menu.addAction(self.details_action)
        menu.popup(self.table.viewport().mapToGlobal(pos))

    def _on_copy_action_triggered(self) -> None:
        self.copy_selected()

    def _on_copy_message_action_triggered(self) -> None:
        errors = self.selected_errors()
        if errors:
            QGuiApplication.clipboard().setText("\n".join(error.message for error in errors))

    def _on_details_action_triggered(self) -> None:
        index = self.table.currentIndex()
        if index.isValid():
            self.show_details(self.proxy.error_at(index.row()))

    def _on_export_button_clicked(self) -> None:
        self.export_csv()

    def _on_export_all_button_clicked(self) -> None:
        self.export_csv(shown=False)

    def _on_export_finished(self, result: tuple[str, int]) -> None:
        path, rows = result
        self.ctx.info(f"Exported {rows:,} error{'s' if rows != 1 else ''} to {path}")
        self.exported.emit(path, rows)

    def _on_export_errored(self, text: str) -> None:
        self.ctx.error(f"The errors could not be exported: {text}")
        self.export_failed.emit(text)

    def _on_export_done(self) -> None:
        self._exporting = False
        self._update_export_button()


__all__ = ["ErrorViewer", "ErrorDetailsDialog", "ask_save_path", "rows_as_text", "NO_JOB_TEXT", "NO_ERRORS_TEXT"]
