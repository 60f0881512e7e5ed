"""Qt models of the Error Viewer: thin adapters over the journal's error rows.

* :class:`ErrorTableModel`: one row per error (Object, Source Id, Target Id, Status Code, Message,
  Fields), read-only.
* :class:`ErrorFilterProxy`: filters that table by object and by text (message or status code,
  case-insensitive) and sorts it.
* :class:`ErrorGroupsModel`: the "errors by object" list: "All objects" first, then one row per
  object with its count.
"""

from __future__ import annotations

import logging
from typing import Any

from PySide6.QtCore import QSortFilterProxyModel, Qt
from PySide6.QtGui import QColor

from ...engine.journal import ErrorRow
from ..style import ERROR, MUTED
from ..tables import RIGHT, AnyIndex, RowsTableModel, bold_font

logger = logging.getLogger(__name__)

COLUMNS: tuple[str, ...] = ("Object", "Source Id", "Target Id", "Status Code", "Message", "Fields")
COL_OBJECT, COL_SOURCE, COL_TARGET, COL_CODE, COL_MESSAGE, COL_FIELDS = range(len(COLUMNS))

ErrorRole = Qt.ItemDataRole.UserRole + 1
"""The :class:`ErrorRow` behind a row (any column)."""
ObjectRole = Qt.ItemDataRole.UserRole + 2
"""The object name of a group row (None for "All objects")."""
CountRole = Qt.ItemDataRole.UserRole + 3
"""The error count of a group row."""

ALL_OBJECTS = "All objects"
_TOOLTIP_MIN = 24  # cells longer than this get the full text as a tooltip (they may be elided)

_Display = Qt.ItemDataRole.DisplayRole
_Tip = Qt.ItemDataRole.ToolTipRole
_Fore = Qt.ItemDataRole.ForegroundRole
_Font = Qt.ItemDataRole.FontRole
_Align = Qt.ItemDataRole.TextAlignmentRole


def cell_text(error: ErrorRow, column: int) -> str:
    """The text of one cell, as shown, copied and filtered."""
    if column == COL_OBJECT:
        return error.object
    if column == COL_SOURCE:
        return error.source_id or ""
    if column == COL_TARGET:
        return error.target_id or ""
    if column == COL_CODE:
        return error.status_code
    if column == COL_MESSAGE:
        return error.message
    if column == COL_FIELDS:
        return ", ".join(error.fields)
    return ""


def details_text(error: ErrorRow) -> str:
    """Every detail of one error as plain text (the double-click dialog and its Copy button)."""
    lines = [
        f"Object: {error.object}",
        f"Source Id: {error.source_id or '—'}",
        f"Target Id: {error.target_id or '—'}",
        f"Status Code: {error.status_code}",
        f"Fields: {', '.join(error.fields) or '—'}",
        f"Phase: {error.phase} (job #{error.job_id}, run {error.run_id})",
        f"Time: {error.created}",
        "",
        error.message,
    ]
    return "\n".join(lines)


class ErrorTableModel(RowsTableModel[ErrorRow]):
    """The individual errors of one job, read-only; :meth:`set_errors` replaces them all."""

    HEADERS = COLUMNS

    def set_errors(self, errors: list[ErrorRow]) -> None:
        """Show ``errors`` (in the order given)."""
        self._set_rows(list(errors))

    def error(self, row: int) -> ErrorRow:
        """The error of source row ``row``."""
        return self._rows[row]

    def errors(self) -> list[ErrorRow]:
        """All errors of the model (unfiltered)."""
        return list(self._rows)

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        error = self._row_at(index)
        if error is None:
            return None
        column = index.column()
        if role == _Display:
            text = cell_text(error, column)
            return text or ("—" if column in (COL_SOURCE, COL_TARGET) else "")
        if role == ErrorRole:
            return error
        if role == _Tip:
            if column == COL_MESSAGE:
                return f"{error.status_code}\n{error.message}\n\nDouble-click for all details."
            text = cell_text(error, column)
            return text if len(text) > _TOOLTIP_MIN else None
        if role == _Fore:
            if column == COL_CODE:
                return QColor(ERROR)
            if column in (COL_SOURCE, COL_TARGET) and not cell_text(error, column):
                return QColor(MUTED)
        return None


class ErrorFilterProxy(QSortFilterProxyModel):
    """Filters :class:`ErrorTableModel` rows by object and by text; sorts case-insensitively.

    The text filter matches the message or the status code, case-insensitive, anywhere in it.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._object: str | None = None
        self._text = ""
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.setDynamicSortFilter(True)

    @property
    def object_filter(self) -> str | None:
        """The object shown (None: all objects)."""
        return self._object

    @property
    def text_filter(self) -> str:
        """The search text ("" for none)."""
        return self._text

    def set_object_filter(self, object_name: str | None) -> None:
        """Show only the errors of ``object_name`` (None: all objects)."""
        if object_name == self._object:
            return
        self.beginFilterChange()
        self._object = object_name
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def set_text_filter(self, text: str) -> None:
        """Show only errors whose message or status code contains ``text`` (case-insensitive)."""
        text = text.strip().casefold()
        if text == self._text:
            return
        self.beginFilterChange()
        self._text = text
        self.endFilterChange(QSortFilterProxyModel.Direction.Rows)

    def filterAcceptsRow(self, source_row: int, source_parent: AnyIndex) -> bool:  # noqa: N802 - Qt's name
        model = self.sourceModel()
        if not isinstance(model, ErrorTableModel):
            return True
        error = model.error(source_row)
        if self._object is not None and error.object != self._object:
            return False
        if self._text:
            return self._text in error.message.casefold() or self._text in error.status_code.casefold()
        return True

    def error_at(self, row: int) -> ErrorRow:
        """The error shown at proxy row ``row``."""
        return self.index(row, 0).data(ErrorRole)


class ErrorGroupsModel(RowsTableModel[tuple[str | None, int]]):
    """Errors grouped by object: "All objects" first, then each object with its count."""

    HEADERS = ("Object", "Errors")
    RIGHT_ALIGNED = frozenset({1})

    def set_counts(self, counts: dict[str, int]) -> None:
        """Replace the groups with ``counts`` (object -> errors), objects in name order."""
        total = sum(counts.values())
        self._set_rows([(None, total), *sorted(counts.items(), key=lambda item: item[0].casefold())])

    def clear(self) -> None:
        """No groups at all (no job)."""
        self._set_rows([])

    def row_of(self, object_name: str | None) -> int | None:
        """The row of ``object_name`` (None: "All objects"), or None when it has no errors."""
        for row, (name, _) in enumerate(self._rows):
            if name == object_name:
                return row
        return None

    def object_at(self, row: int) -> str | None:
        """The object of ``row`` (None for "All objects")."""
        return self._rows[row][0]

    def count_of(self, object_name: str | None) -> int:
        """Errors of ``object_name`` (None: all), 0 when unknown."""
        row = self.row_of(object_name)
        return 0 if row is None else self._rows[row][1]

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        group = self._row_at(index)
        if group is None:
            return None
        name, count = group
        if role == _Display:
            if index.column() == 0:
                return ALL_OBJECTS if name is None else name
            return f"{count:,}"
        if role == ObjectRole:
            return name
        if role == CountRole:
            return count
        if role == _Align and index.column() == 1:
            return RIGHT
        if role == _Font and name is None:
            return bold_font()
        if role == _Fore and index.column() == 1 and count:
            return QColor(ERROR)
        if role == _Tip:
            what = "all objects" if name is None else name
            return f"{count:,} error{'s' if count != 1 else ''} in {what}"
        return None
