"""Qt models of the template editor's Mappings tab: one small editable table model per mapping kind.

:class:`MappingTableModel` holds rows of *source → target* with where each came from (automatic, suggested,
set by you) and a status text the panel computes (does the target exist, does the queue take the objects);
a kind subclass names its columns and says which rows its template section keeps (:meth:`saved_pairs`).
Owners (users and queues) are :class:`OwnerMappingsModel`; record types and picklist values are
:class:`ScopedMappingsModel` subclasses with their scope column (the object, or ``Object.Field``) in front, and
:class:`RecordTypeDefaultsModel` holds the default record type per object; fields are :class:`FieldMappingsModel`
(source field → target field per object) and :class:`FieldConstantsModel` (target field → value per object).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from PySide6.QtCore import QModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from ...engine.template import is_username
from ..style import ERROR, MUTED, SUCCESS, WARNING
from ..tables import AnyIndex, RowsTableModel

AUTOMATIC = "Automatic"
SUGGESTED = "Suggested"
SET_BY_YOU = "Set by you"
NO_MATCH = "No match"
ORIGIN_TIPS = {
    AUTOMATIC: "The run matches these itself (same username, email, federation id or queue DeveloperName); "
               "not saved in the template. Change the target to override it.",
    SUGGESTED: "A guess from the orgs (the most similar target queue): saved with the template; check it, or "
               "remove the row.",
    SET_BY_YOU: "Saved in the template's mappings.",
    NO_MATCH: "Nothing matches in the target: the records go to the default owner (else the running user). "
              "Choose a target to map it.",
}
ORIGIN_COLOURS = {AUTOMATIC: MUTED, SUGGESTED: WARNING, SET_BY_YOU: SUCCESS, NO_MATCH: ERROR}
SAVED_ORIGINS = (SUGGESTED, SET_BY_YOU)
"""Rows of these origins (with a source and a target) are written into the template."""

_Display = Qt.ItemDataRole.DisplayRole
_Edit = Qt.ItemDataRole.EditRole


@dataclass
class MappingRow:
    """One row of a mapping table: ``source`` → ``target`` ("" when not mapped), where it came from and the
    rule behind it (``detail``)."""

    source: str
    target: str
    origin: str
    detail: str = ""
    scope: str = ""
    """What the row maps within (an object for record types, ``Object.Field`` for picklist values)."""


RowStatus = Callable[[MappingRow], "tuple[str, str | None]"]
"""The status text of a row and its level ("error", "warning", None): computed by the panel."""


class MappingTableModel(RowsTableModel[MappingRow]):
    """Editable rows of source → target. Editing a target (or the source of a row you added) makes the row
    "Set by you". Subclasses set :attr:`HEADERS` and the column constants.

    Signals:
        edited(): the user changed a row (through the view or :meth:`set_target`).
    """

    SOURCE, TARGET, ORIGIN, STATUS = 0, 1, 2, 3
    HEADERS: ClassVar[tuple[str, ...]] = ("Source", "Target", "From", "Details")
    TIPS: ClassVar[dict[str, str]] = ORIGIN_TIPS
    edited = Signal()

    def __init__(self, status: RowStatus, parent: Any = None) -> None:
        super().__init__(parent)
        self._status = status

    # ------------------------------------------------------------------ API
    def rows(self) -> list[MappingRow]:
        return list(self._rows)

    def set_rows(self, rows: list[MappingRow]) -> None:
        self._set_rows(list(rows))

    def row_of(self, source: str) -> int | None:
        wanted = self.key(source)
        return next((i for i, r in enumerate(self._rows) if self.key(r.source) == wanted), None)

    def row(self, index: int) -> MappingRow:
        return self._rows[index]

    def key(self, name: str) -> str:
        """How source names compare (a subclass may ignore case)."""
        return name

    def add(self, row: MappingRow) -> int:
        """Append ``row``; its row number."""
        self.beginInsertRows(QModelIndex(), len(self._rows), len(self._rows))
        self._rows.append(row)
        self.endInsertRows()
        return len(self._rows) - 1

    def remove(self, indexes: list[int]) -> None:
        for index in sorted(set(indexes), reverse=True):
            if 0 <= index < len(self._rows):
                self.beginRemoveRows(QModelIndex(), index, index)
                del self._rows[index]
                self.endRemoveRows()

    def set_target(self, source: str, target: str) -> bool:
        """Set the target of the row of ``source`` as the user does; False when there is no such row."""
        row = self.row_of(source)
        return row is not None and self.setData(self.index(row, self.TARGET), target, _Edit)

    def saved_pairs(self) -> dict[str, str]:
        """source → target of the rows the template keeps (suggested or set by you, with both names)."""
        return {r.source.strip(): r.target.strip() for r in self._rows
                if r.origin in SAVED_ORIGINS and r.source.strip() and r.target.strip()}

    def refresh(self) -> None:
        """The statuses changed (the target org was read): repaint."""
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self.HEADERS) - 1))

    # ------------------------------------------------------------------ Qt model
    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        row = self._row_at(index)
        if row is None:
            return Qt.ItemFlag.NoItemFlags
        flags = Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable
        if index.column() == self.TARGET or (index.column() == self.SOURCE and row.origin == SET_BY_YOU):
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: AnyIndex, value: Any, role: int = _Edit) -> bool:  # noqa: N802 - Qt's name
        row = self._row_at(index)
        if row is None or role != _Edit or not self.flags(index) & Qt.ItemFlag.ItemIsEditable:
            return False
        text = str(value or "").strip()
        column = index.column()
        if column == self.SOURCE:
            if text == row.source:
                return False
            row.source = text
        else:
            if text == row.target and row.origin == SET_BY_YOU:
                return False
            row.target = text
        row.origin, row.detail = SET_BY_YOU, ""
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(self.HEADERS) - 1))
        self.edited.emit()
        return True

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        row = self._row_at(index)
        if row is None:
            return None
        column = index.column()
        if role in (_Display, _Edit):
            return self.cell(row, column, edit=role == _Edit)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.ORIGIN:
                return self.TIPS.get(row.origin)
            if column == self.STATUS:
                return self._status(row)[0] or None
            return self.cell(row, column) or None
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.ORIGIN:
                return QColor(ORIGIN_COLOURS.get(row.origin, MUTED))
            if column == self.STATUS:
                level = self._status(row)[1]
                return QColor({"error": ERROR, "warning": WARNING}.get(level or "", MUTED))
            if column == self.TARGET and not row.target:
                return QColor(MUTED)
        return None

    def cell(self, row: MappingRow, column: int, *, edit: bool = False) -> str:
        if column == self.SOURCE:
            return row.source if row.source or edit else "(type a source name)"
        if column == self.TARGET:
            return row.target if row.target or edit else "—"
        if column == self.ORIGIN:
            return row.origin
        if column == self.STATUS:
            return self._status(row)[0]
        return ""


class OwnerMappingsModel(MappingTableModel):
    """Owners: a source user (username) or queue (DeveloperName) → a target user or queue."""

    SOURCE, TARGET, KIND, ORIGIN, STATUS = range(5)
    HEADERS = ("Source owner", "Target owner", "Type", "From", "Details")
    HEADER_TIPS = {0: "A user's username, or a queue's DeveloperName, in the source org",
                   1: "The user or queue that owns these records in the target org (double-click to change)"}

    def key(self, name: str) -> str:
        return name.lower() if is_username(name) else name

    def cell(self, row: MappingRow, column: int, *, edit: bool = False) -> str:
        if column == self.KIND:
            return "" if not row.source else ("User" if is_username(row.source) else "Queue")
        return super().cell(row, column, edit=edit)


class ScopedMappingsModel(MappingTableModel):
    """Rows of source → target within a scope (the first column): rows compare by scope (any case) and source."""

    SCOPE, SOURCE, TARGET, ORIGIN, STATUS = range(5)

    def row_of(self, source: str, scope: str = "") -> int | None:  # type: ignore[override]
        return next((i for i, r in enumerate(self._rows)
                     if r.source == source and r.scope.lower() == scope.lower()), None)

    def set_target(self, source: str, target: str, scope: str = "") -> bool:  # type: ignore[override]
        """Set the target of the row of ``scope``'s ``source`` as the user does; False when there is none."""
        row = self.row_of(source, scope)
        return row is not None and self.setData(self.index(row, self.TARGET), target, _Edit)

    def saved_by_scope(self) -> dict[str, dict[str, str]]:
        """scope → {source → target} of the rows the template keeps (suggested or set by you, every name given)."""
        out: dict[str, dict[str, str]] = {}
        for r in self._rows:
            if r.origin in SAVED_ORIGINS and r.scope.strip() and r.source.strip() and r.target.strip():
                scope = next((s for s in out if s.lower() == r.scope.strip().lower()), r.scope.strip())
                out.setdefault(scope, {})[r.source.strip()] = r.target.strip()
        return out

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        flags = super().flags(index)
        row = self._row_at(index)
        if row is not None and index.column() == self.SCOPE and row.origin == SET_BY_YOU:
            flags |= Qt.ItemFlag.ItemIsEditable
        return flags

    def setData(self, index: AnyIndex, value: Any, role: int = _Edit) -> bool:  # noqa: N802 - Qt's name
        row = self._row_at(index)
        if row is None or index.column() != self.SCOPE:
            return super().setData(index, value, role)
        text = str(value or "").strip()
        if role != _Edit or not self.flags(index) & Qt.ItemFlag.ItemIsEditable or text == row.scope:
            return False
        row.scope = text
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(self.HEADERS) - 1))
        self.edited.emit()
        return True

    def cell(self, row: MappingRow, column: int, *, edit: bool = False) -> str:
        if column == self.SCOPE:
            return row.scope if row.scope or edit else f"(type {self.HEADERS[0].lower()})"
        return super().cell(row, column, edit=edit)


class RecordTypeMappingsModel(ScopedMappingsModel):
    """Record types: per object, a source record type (DeveloperName) → a target record type."""

    HEADERS = ("Object", "Source record type", "Target record type", "From", "Details")
    TIPS = {AUTOMATIC: "The run matches these itself (same DeveloperName on the object); not saved in the template. "
                       "Change the target to override it.",
            SUGGESTED: "A guess from the orgs (the most similar target record type): saved with the template; check "
                       "it, or remove the row.",
            SET_BY_YOU: "Saved in the template's record type mappings.",
            NO_MATCH: "Nothing like it in the target: the records get the object's default record type, else fail. "
                      "Choose a target to map it."}


class PicklistMappingsModel(ScopedMappingsModel):
    """Picklist values: per ``Object.Field``, a source value the target lacks → a target value."""

    HEADERS = ("Field", "Source value", "Target value", "From", "Details")
    TIPS = {SUGGESTED: "A guess from the orgs (the most similar target value): saved with the template; check it, "
                       "or remove the row.",
            SET_BY_YOU: "Saved in the template's picklist mappings.",
            NO_MATCH: "Nothing like it in the target: the value is sent as it is (a restricted picklist refuses it). "
                      "Choose a target to map it."}


class FieldMappingsModel(ScopedMappingsModel):
    """Fields: per object, a source field the target lacks → the target field it became (API names)."""

    HEADERS = ("Object", "Source field", "Target field", "From", "Details")
    TIPS = {SUGGESTED: "A guess from the orgs (the same name with a namespace added or removed, else the most "
                       "similar name or label): saved with the template; check it, or remove the row.",
            SET_BY_YOU: "Saved in the template's field mappings.",
            NO_MATCH: "Nothing like it in the target: the field is left out (skip missing fields). Choose a target "
                      "field to map it."}


class FieldConstantsModel(ScopedMappingsModel):
    """Constants: per object, a target field → the value it gets on insert (and on update too, per object: the
    check box of :attr:`ON_UPDATE`)."""

    SCOPE, SOURCE, TARGET, ON_UPDATE, ORIGIN, STATUS = range(6)
    HEADERS = ("Object", "Target field", "Value", "On update too", "From", "Details")
    TIPS = {SET_BY_YOU: "Saved in the template's field constants."}

    def __init__(self, status: RowStatus, parent: Any = None) -> None:
        super().__init__(status, parent)
        self._on_update: dict[str, bool] = {}       # object (lower case) -> constants written on update too

    def on_update(self, obj: str) -> bool:
        """Whether ``obj``'s constants are written on update too (else on insert only)."""
        return self._on_update.get(obj.strip().lower(), False)

    def set_on_update(self, obj: str, on: bool) -> None:
        """Write ``obj``'s constants on update too (or not), as its rows' check box does."""
        self._on_update[obj.strip().lower()] = on
        self.refresh()
        self.edited.emit()

    def set_rows(self, rows: list[MappingRow], on_update: dict[str, bool] | None = None) -> None:
        if on_update is not None:
            self._on_update = {o.lower(): v for o, v in on_update.items()}
        super().set_rows(rows)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        row = self._row_at(index)
        if row is not None and index.column() == self.ON_UPDATE:
            flags = Qt.ItemFlag.ItemIsSelectable | Qt.ItemFlag.ItemIsUserCheckable
            return flags | Qt.ItemFlag.ItemIsEnabled if row.scope.strip() else flags
        return super().flags(index)

    def setData(self, index: AnyIndex, value: Any, role: int = _Edit) -> bool:  # noqa: N802 - Qt's name
        row = self._row_at(index)
        if row is not None and index.column() == self.ON_UPDATE:
            if role != Qt.ItemDataRole.CheckStateRole or not row.scope.strip():
                return False
            self.set_on_update(row.scope, Qt.CheckState(value) == Qt.CheckState.Checked)
            return True
        return super().setData(index, value, role)

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        row = self._row_at(index)
        if row is not None and index.column() == self.ON_UPDATE:
            if role == Qt.ItemDataRole.CheckStateRole:
                return Qt.CheckState.Checked if self.on_update(row.scope) else Qt.CheckState.Unchecked
            if role == Qt.ItemDataRole.ToolTipRole:
                return (f"Write {row.scope or 'the object'}'s constants on updates of existing records too (one "
                        "setting per object); unticked: on inserted records only")
            return None
        return super().data(index, role)


class RecordTypeDefaultsModel(MappingTableModel):
    """The default record type per object (what matches nothing): object → target record type."""

    SOURCE, TARGET, ORIGIN, STATUS = range(4)
    HEADERS = ("Object", "Default record type", "From", "Details")
    TIPS = {SET_BY_YOU: "Saved in the template's record type mappings.",
            "": "No default: a record type that matches nothing fails its records. Choose one to set it."}

    def key(self, name: str) -> str:
        return name.lower()

    def cell(self, row: MappingRow, column: int, *, edit: bool = False) -> str:
        if column == self.SOURCE and not row.source and not edit:
            return "(type an object)"
        if column == self.TARGET and not row.target and not edit:
            return "None"
        return super().cell(row, column, edit=edit)


__all__ = ["AUTOMATIC", "SUGGESTED", "SET_BY_YOU", "NO_MATCH", "SAVED_ORIGINS", "FieldConstantsModel",
           "FieldMappingsModel", "MappingRow", "MappingTableModel", "OwnerMappingsModel", "PicklistMappingsModel", "RecordTypeDefaultsModel", "RecordTypeMappingsModel",
           "ScopedMappingsModel"]
