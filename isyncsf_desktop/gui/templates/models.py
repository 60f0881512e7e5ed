"""Qt models of the Templates page: thin adapters over template files, lines, fields and a preview."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractListModel, QModelIndex, Qt, Signal
from PySide6.QtGui import QColor

from ...engine.template import ObjectLine
from ..style import ACCENT, ERROR, MUTED, SUCCESS
from ..tables import RIGHT, AnyIndex, RowsTableModel, bold_font
from .catalog import FieldChoice, Preview, PreviewLine, SObjectInfo, TemplateFile

logger = logging.getLogger(__name__)

PathRole = Qt.ItemDataRole.UserRole + 1
NameRole = Qt.ItemDataRole.UserRole + 2

_Display = Qt.ItemDataRole.DisplayRole
_Tip = Qt.ItemDataRole.ToolTipRole
_Fore = Qt.ItemDataRole.ForegroundRole
_Font = Qt.ItemDataRole.FontRole
_Check = Qt.ItemDataRole.CheckStateRole
_Align = Qt.ItemDataRole.TextAlignmentRole


# ====================================================================== template files
class TemplateListModel(RowsTableModel[TemplateFile]):
    """The template files of the templates folder; the one in use is marked."""

    NAME, OBJECTS, ORGS, MODIFIED, STATUS = range(5)
    HEADERS = ("Name", "Objects", "Source → default target", "Modified", "Status")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._current: Path | None = None

    def set_files(self, files: list[TemplateFile]) -> None:
        self._set_rows(list(files))

    def set_current(self, path: Path | None) -> None:
        self._current = path.resolve() if path else None
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, self.STATUS))

    def file(self, row: int) -> TemplateFile:
        return self._rows[row]

    def row_of(self, path: Path) -> int | None:
        wanted = path.resolve()
        return next((i for i, f in enumerate(self._rows) if f.path.resolve() == wanted), None)

    def _is_current(self, item: TemplateFile) -> bool:
        return self._current is not None and item.path.resolve() == self._current

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        item = self._row_at(index)
        if item is None:
            return None
        column = index.column()
        if role == PathRole:
            return str(item.path)
        if role == _Display:
            if column == self.NAME:
                return item.name
            if column == self.OBJECTS:
                if item.error:
                    return "cannot be read"
                return f"{len(item.objects)}  ·  {', '.join(item.objects)}"
            if column == self.ORGS:
                if item.error:
                    return ""
                return f"{item.source or 'any org'}  →  {item.target or 'chosen at run time'}"
            if column == self.MODIFIED:
                return item.modified.strftime("%Y-%m-%d %H:%M")
            if column == self.STATUS:
                if item.error:
                    return "Invalid"
                return "In use" if self._is_current(item) else ""
        if role == _Tip:
            if item.error:
                return item.error
            if column == self.OBJECTS:
                return "\n".join(item.objects)
            return str(item.path)
        if role == _Font and (self._is_current(item) and column in (self.NAME, self.STATUS)):
            return bold_font()
        if role == _Fore:
            if item.error and column in (self.OBJECTS, self.STATUS):
                return QColor(ERROR)
            if column == self.STATUS:
                return QColor(SUCCESS)
            if column == self.MODIFIED:
                return QColor(MUTED)
        return None


# ====================================================================== template lines
class LinesModel(RowsTableModel[ObjectLine]):
    """The lines (objects) of the template being edited: a view on the draft's ``objects`` list."""

    OBJECT, FIELDS, SCOPE = range(3)
    HEADERS = ("Object", "Fields", "Records")

    def __init__(self, filter_state: Callable[[ObjectLine], bool | None], parent: Any = None) -> None:
        super().__init__(parent)
        self._filter_state = filter_state

    def set_lines(self, lines: list[ObjectLine]) -> None:
        self._set_rows(lines)          # the draft's own list: edits go straight to the template

    def line(self, row: int) -> ObjectLine:
        return self._rows[row]

    def row_of(self, object_name: str) -> int | None:
        lowered = object_name.lower()
        return next((i for i, line in enumerate(self._rows) if line.object.lower() == lowered), None)

    def names(self) -> list[str]:
        return [line.object for line in self._rows]

    def append(self, line: ObjectLine) -> int:
        row = len(self._rows)
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.append(line)
        self.endInsertRows()
        return row

    def remove(self, row: int) -> ObjectLine:
        self.beginRemoveRows(QModelIndex(), row, row)
        line = self._rows.pop(row)
        self.endRemoveRows()
        return line

    def move(self, row: int, to: int) -> bool:
        """Move a line up or down one place (the order the planner prefers when it may choose)."""
        if row == to or not (0 <= row < len(self._rows) and 0 <= to < len(self._rows)):
            return False
        # beginMoveRows wants the destination *before* which the row lands
        if not self.beginMoveRows(QModelIndex(), row, row, QModelIndex(), to + 1 if to > row else to):
            return False
        self._rows.insert(to, self._rows.pop(row))
        self.endMoveRows()
        return True

    def refresh(self, row: int | None = None) -> None:
        if not self._rows:
            return
        first, last = (0, len(self._rows) - 1) if row is None else (row, row)
        self.dataChanged.emit(self.index(first, 0), self.index(last, len(self.HEADERS) - 1))

    def _scope(self, line: ObjectLine) -> str:
        parts = []
        if line.filter:
            parts.append("filtered")
        if line.related_to:
            parts.append(f"of {line.related_to['object']}")
        if line.limit:
            parts.append(f"max {line.limit:,}")
        if not line.insert:
            parts.append("no insert")
        if not line.update:
            parts.append("no update")
        return ", ".join(parts) or "all"

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        line = self._row_at(index)
        if line is None:
            return None
        column = index.column()
        if role in (_Display, NameRole) and column == self.OBJECT:
            return line.object
        if role == _Display:
            if column == self.FIELDS:
                return "all" if line.fields is None else f"{len(line.fields)} chosen"
            if column == self.SCOPE:
                return self._scope(line)
        if role == _Tip:
            if column == self.SCOPE and line.filter:
                state = self._filter_state(line)
                verdict = {True: "valid", False: "INVALID", None: "not checked yet"}[state]
                return f"WHERE {line.filter}\n({verdict})"
            if column == self.FIELDS and line.fields is not None:
                return ", ".join(line.fields)
        if role == _Fore and column == self.SCOPE and line.filter and self._filter_state(line) is False:
            return QColor(ERROR)
        if role == _Fore and column == self.FIELDS and line.fields is None:
            return QColor(MUTED)
        return None


# ====================================================================== fields of a line
class FieldsModel(RowsTableModel[FieldChoice]):
    """The createable fields of one object with a check box each.

    Signals:
        selection_changed(): a field was checked or unchecked.
    """

    selection_changed = Signal()

    NAME, LABEL, TYPE = range(3)
    HEADERS = ("Field", "Label", "Type")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._checked: set[str] = set()

    def set_choices(self, choices: list[FieldChoice], selected: list[str] | None) -> None:
        """Show ``choices``; ``selected`` None means all of them."""
        self.beginResetModel()
        self._rows = list(choices)
        if selected is None:
            self._checked = {c.name for c in choices}
        else:
            wanted = {name.lower() for name in selected}
            self._checked = {c.name for c in choices if c.name.lower() in wanted}
        self.endResetModel()

    def clear(self) -> None:
        self.set_choices([], [])

    @property
    def choices(self) -> list[FieldChoice]:
        return list(self._rows)

    def selected(self) -> list[str]:
        return [c.name for c in self._rows if c.name in self._checked]

    def all_selected(self) -> bool:
        return len(self._checked) == len(self._rows)

    def set_checked(self, names: list[str], checked: bool) -> None:
        """Check or uncheck several fields at once (one ``selection_changed``)."""
        before = set(self._checked)
        known = {c.name for c in self._rows}
        for name in names:
            if name in known:
                (self._checked.add if checked else self._checked.discard)(name)
        if before != self._checked and self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, 0))
            self.selection_changed.emit()

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if index.isValid() and index.column() == self.NAME:
            return base | Qt.ItemFlag.ItemIsUserCheckable
        return base

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        choice = self._row_at(index)
        if choice is None:
            return None
        column = index.column()
        if role == _Check and column == self.NAME:
            return Qt.CheckState.Checked if choice.name in self._checked else Qt.CheckState.Unchecked
        if role in (_Display, NameRole):
            if role == NameRole or column == self.NAME:
                return choice.name
            if column == self.LABEL:
                return choice.label
            if column == self.TYPE:
                flags = [choice.type_text] + (["required"] if choice.required else []) \
                    + (["external id"] if choice.external_id else [])
                return ", ".join(flags)
        if role == _Tip:
            tip = f"{choice.name} ({choice.type_text})"
            if choice.required:
                tip += "\nRequired on insert: leaving it out makes new records fail unless the target fills it."
            return tip
        if role == _Fore and column == self.TYPE:
            return QColor(ACCENT) if choice.required else QColor(MUTED)
        return None

    def setData(self, index: AnyIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid() or role != _Check or index.column() != self.NAME:
            return False
        name = self._rows[index.row()].name
        checked = Qt.CheckState(value) == Qt.CheckState.Checked if not isinstance(value, bool) else value
        if checked == (name in self._checked):
            return True
        (self._checked.add if checked else self._checked.discard)(name)
        self.dataChanged.emit(index, index, [_Check])
        self.selection_changed.emit()
        return True


# ====================================================================== objects to add
class ObjectsModel(QAbstractListModel):
    """The source org's syncable objects with a check box each (the "Add objects" dialog)."""

    def __init__(self, objects: list[SObjectInfo], parent: Any = None):
        super().__init__(parent)
        self._objects = list(objects)
        self._checked: set[str] = set()

    def checked(self) -> list[str]:
        return [o.name for o in self._objects if o.name in self._checked]

    def set_checked(self, name: str, checked: bool = True) -> bool:
        row = next((i for i, o in enumerate(self._objects) if o.name.lower() == name.lower()), None)
        if row is None:
            return False
        return self.setData(self.index(row), Qt.CheckState.Checked if checked else Qt.CheckState.Unchecked, _Check)

    def rowCount(self, parent: AnyIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._objects)

    def flags(self, index: AnyIndex) -> Qt.ItemFlag:
        return super().flags(index) | Qt.ItemFlag.ItemIsUserCheckable

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        if not index.isValid():
            return None
        item = self._objects[index.row()]
        if role == _Display:
            return item.label if item.label == item.name else f"{item.label}   ({item.name})"
        if role == NameRole:
            return item.name
        if role == _Check:
            return Qt.CheckState.Checked if item.name in self._checked else Qt.CheckState.Unchecked
        if role == _Tip:
            return f"{item.name} ({'custom' if item.custom else 'standard'} object)"
        return None

    def setData(self, index: AnyIndex, value: Any, role: int = Qt.ItemDataRole.EditRole) -> bool:  # noqa: N802
        if not index.isValid() or role != _Check:
            return False
        name = self._objects[index.row()].name
        if Qt.CheckState(value) == Qt.CheckState.Checked:
            self._checked.add(name)
        else:
            self._checked.discard(name)
        self.dataChanged.emit(index, index, [_Check])
        return True


# ====================================================================== preview
class PreviewModel(RowsTableModel[PreviewLine]):
    """Record counts per line in migration order, with the lookups the order defers."""

    POS, OBJECT, RECORDS, SCOPE, LATER = range(5)
    HEADERS = ("#", "Object", "Records", "Scope", "Lookup handling")

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._preview: Preview | None = None

    def set_preview(self, preview: Preview | None) -> None:
        self.beginResetModel()
        self._preview = preview
        self._rows = [] if preview is None else preview.lines
        self.endResetModel()

    @property
    def preview(self) -> Preview | None:
        return self._preview

    @staticmethod
    def _scope_text(line: PreviewLine, parts: list[str]) -> str:
        """The scope, and with the parents a related subset brought along counted on their own:
        ``11 matching (WHERE …) + 283 that related records point at``."""
        scope = ", ".join(parts)
        if not line.parents_added:
            return scope
        matching = line.count - line.parents_added
        return f"{matching:,} matching ({scope}) + {line.parents_added:,} that related records point at"

    def data(self, index: AnyIndex, role: int = _Display) -> Any:
        line = self._row_at(index)
        if line is None:
            return None
        column = index.column()
        if role == _Display:
            if column == self.POS:
                return str(index.row() + 1)
            if column == self.OBJECT:
                return line.object
            if column == self.RECORDS:
                return f"{line.count:,}"
            if column == self.SCOPE:
                parts = [f"WHERE {line.filter}" if line.filter else "all records"]
                if line.related_to:
                    parts.append(f"related to {line.related_to} ({line.related_via})")
                if self._preview is not None and self._preview.since:
                    parts.append(f"changed since {self._preview.since}")
                if self._preview is not None and self._preview.include_deleted:
                    parts.append("with deleted")
                if line.sort:
                    parts.append(f"by {line.sort}")
                if line.limit is not None and line.total > line.limit:
                    parts.append(f"limit {line.limit:,} of {line.total:,}")
                elif line.limit is not None:
                    parts.append(f"limit {line.limit:,}")
                return self._scope_text(line, parts)
            if column == self.LATER:
                parts = [f"{name}: second pass" for name in line.deferred]
                parts += [f"{name}: level by level" for name in line.self_refs]
                return ", ".join(parts) or "—"
        if role == _Align and column in (self.POS, self.RECORDS):
            return RIGHT
        if role == _Fore and column == self.LATER:
            return QColor(ACCENT) if line.deferred else QColor(MUTED)
        if role == _Tip and column == self.SCOPE and line.parents_added:
            return (f"{self.data(index)}.\nThe records of the related lines point at {line.parents_added:,} "
                    f"{line.object} records outside this line's scope: they are copied too, so that no lookup is "
                    "left dangling. To leave them out, tick those lookups under “Parents not followed”.")
        if role == _Tip and column == self.SCOPE and line.filter:
            return f"WHERE {line.filter}"
        if role == _Tip and column == self.LATER and (line.deferred or line.self_refs):
            tips = []
            if line.deferred:
                tips.append(f"{', '.join(line.deferred)}: points at an object the order puts later; the records "
                            "are inserted without it, and it is filled once the parents exist.")
            if line.self_refs:
                tips.append(f"{', '.join(line.self_refs)}: a hierarchy within {line.object}; parents are "
                            "inserted before their children, level by level.")
            return "\n".join(tips)
        if role == _Font and column == self.RECORDS:
            return bold_font()
        return None
