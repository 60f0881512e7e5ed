"""Shared pieces of the GUI's tables: a model base over a list of rows with fixed column headers, and a view.

:class:`RowsTableModel` holds one list of rows and answers Qt's ``rowCount``, ``columnCount`` and
``headerData`` from the class attributes :attr:`~RowsTableModel.HEADERS`,
:attr:`~RowsTableModel.RIGHT_ALIGNED` and :attr:`~RowsTableModel.HEADER_TIPS`; a subclass writes only
``data`` (and its own API over the rows). :func:`bold_font` and :data:`RIGHT` are the cell font and
alignment several models share; :func:`read_only_table` makes the view the list tables start from.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar, Generic, TypeVar

from PySide6.QtCore import QAbstractItemModel, QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt
from PySide6.QtGui import QFont
from PySide6.QtWidgets import QAbstractItemView, QTableView

AnyIndex = QModelIndex | QPersistentModelIndex
"""Either kind of model index Qt hands to a model."""

RIGHT = int(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
"""The alignment of number columns (cells and headers)."""

RowT = TypeVar("RowT")


def bold_font() -> QFont:
    """A bold application font (a cell's ``FontRole``)."""
    font = QFont()
    font.setBold(True)
    return font


def read_only_table(model: QAbstractItemModel, selection: QAbstractItemView.SelectionMode) -> QTableView:
    """A table view of ``model`` that selects whole rows (``selection``: single or extended), never edits
    and has no row numbers; its column titles are left-aligned; Tab leaves it (the arrows move inside it).
    The caller adds the rest of its look."""
    view = QTableView()
    view.setModel(model)
    view.setTabKeyNavigation(False)
    view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
    view.setSelectionMode(selection)
    view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
    view.verticalHeader().hide()
    view.horizontalHeader().setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
    return view


class RowsTableModel(QAbstractTableModel, Generic[RowT]):
    """A flat table over ``self._rows``, one row per item, with the columns of :attr:`HEADERS`.

    Subclasses set the class attributes, fill the rows with :meth:`_set_rows` and implement ``data``
    (:meth:`_row_at` gives the row of an index, None when the index is invalid or out of range).
    """

    HEADERS: ClassVar[tuple[str, ...]] = ()
    """The column titles (horizontal header, display role)."""
    RIGHT_ALIGNED: ClassVar[frozenset[int]] = frozenset()
    """Columns whose header is right-aligned (numbers)."""
    HEADER_TIPS: ClassVar[Mapping[int, str]] = {}
    """Tooltips of column headers, by column."""

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[RowT] = []

    def _set_rows(self, rows: list[RowT]) -> None:
        """Replace every row with ``rows`` (kept as given, not copied) in one model reset."""
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def _row_at(self, index: AnyIndex) -> RowT | None:
        """The row of ``index``, or None when it is invalid or out of range."""
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        return self._rows[index.row()]

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt's name
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt's name
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt's name
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation != Qt.Orientation.Horizontal or not 0 <= section < len(self.HEADERS):
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        if role == Qt.ItemDataRole.TextAlignmentRole and section in self.RIGHT_ALIGNED:
            return RIGHT
        if role == Qt.ItemDataRole.ToolTipRole:
            return self.HEADER_TIPS.get(section)
        return None


__all__ = ["AnyIndex", "RIGHT", "RowsTableModel", "bold_font", "read_only_table"]
