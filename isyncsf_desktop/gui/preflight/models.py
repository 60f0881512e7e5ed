"""Qt adapters over a :class:`~isyncsf_desktop.engine.preflight.PreflightReport`.

:class:`FindingsModel` is a flat table whose rows are the findings grouped by severity (worst first),
each group introduced by a header row the view spans across all columns. The severity filter lives
in the model (a few dozen rows at most: rebuilding them is cheaper than a proxy plus spans).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QIcon, QPainter, QPainterPath, QPen, QPixmap

from ...engine.preflight import (BLOCKING, MISSING_FIELD, PICKLIST_VALUES, QUEUE_MAPPING, RECORD_TYPE,
                                 RECORDS_WILL_FAIL, REQUIRED_FIELD, SEVERITIES, WARNING, Finding, PreflightReport)
from ...engine.template import FieldMapping, RecordTypeMapping, Template

logger = logging.getLogger(__name__)

SEVERITY_LABELS: dict[str, str] = {BLOCKING: "Blocks the sync", RECORDS_WILL_FAIL: "Records will fail",
                                   WARNING: "Warning"}
GROUP_LABELS: dict[str, str] = {BLOCKING: "Blocks the sync", RECORDS_WILL_FAIL: "Records will fail",
                                WARNING: "Warnings"}
SEVERITY_COLOURS: dict[str, str] = {BLOCKING: "#ba0517", RECORDS_WILL_FAIL: "#c45c00", WARNING: "#8a6d00"}
GROUP_BACKGROUNDS: dict[str, str] = {BLOCKING: "#fdecec", RECORDS_WILL_FAIL: "#fdf1e6", WARNING: "#faf6e3"}
_RANK = {severity: rank for rank, severity in enumerate(SEVERITIES)}

COLUMNS: list[str] = ["", "Object", "Field / Item", "Message", "Suggested Fix", "Records"]
"""The severity column has no title: it shows the severity's icon (its name in the tooltip)."""
COL_SEVERITY, COL_OBJECT, COL_WHERE, COL_MESSAGE, COL_FIX, COL_RECORDS = range(len(COLUMNS))

FindingRole = Qt.ItemDataRole.UserRole + 1
"""The :class:`Finding` of a row (None on group rows)."""
GroupRole = Qt.ItemDataRole.UserRole + 2
"""The severity of a group header row (None on finding rows)."""
TextRole = Qt.ItemDataRole.UserRole + 3
"""The text of a cell as exported or copied (the severity column included)."""
MappingFixRole = Qt.ItemDataRole.UserRole + 4
"""The :class:`MappingFix` a finding row offers (None when it offers none)."""
MAPPING_FIX_SHORTCUT = "Ctrl+M"


OWNERS, RECORD_TYPES, PICKLISTS, FIELDS, CONSTANTS = "owners", "record_types", "picklists", "fields", "constants"
"""The :attr:`MappingFix.kind` values: the template's mapping section each writes into."""


@dataclass(frozen=True)
class MappingFix:
    """A finding's one-click fix that adds a mapping to the template: ``source`` → ``target`` of ``kind``
    (owners, record types of the object ``where``, picklist values of the ``Object.Field`` ``where``, fields of the
    object ``where``; constants: the target field ``source`` of the object ``where`` gets the value ``target`` on
    insert)."""

    kind: str
    source: str
    target: str
    where: str = ""

    @property
    def label(self) -> str:
        if self.kind == RECORD_TYPES:
            return f"Map record type '{self.source}' to '{self.target}'"
        if self.kind == PICKLISTS:
            return f"Map {self.where} '{self.source}' to '{self.target}'"
        if self.kind == FIELDS:
            return f"Map {self.where}.{self.source} to {self.target}"
        if self.kind == CONSTANTS:
            return f"Set {self.where}.{self.source} to '{self.target}' on insert"
        return f"Map '{self.source}' to '{self.target}'"

    @property
    def section(self) -> str:
        """Where the mapping goes, as the user reads it ("the record type mappings of Case")."""
        if self.kind == RECORD_TYPES:
            return f"the record type mappings of {self.where}"
        if self.kind == PICKLISTS:
            return f"the picklist mappings of {self.where}"
        if self.kind == FIELDS:
            return f"the field mappings of {self.where}"
        if self.kind == CONSTANTS:
            return f"the field constants of {self.where}"
        return "the owner mappings"

    @property
    def saved_text(self) -> str:
        """What saving it did, as the user reads it ("the owner mappings map Escalations → Escalation_Team")."""
        if self.kind == CONSTANTS:
            return f"{self.section} set {self.source} to '{self.target}' on insert"
        return f"{self.section} map {self.source} → {self.target}"

    def apply(self, template: Template) -> None:
        """Add the mapping to ``template`` (replacing the source's earlier one)."""
        if self.kind == OWNERS:
            template.owners.map = {s: t for s, t in template.owners.map.items() if s != self.source}
            template.owners.map[self.source] = self.target
        elif self.kind == RECORD_TYPES:
            name = next((o for o in template.record_types.objects if o.lower() == self.where.lower()), self.where)
            mapping = template.record_types.objects.setdefault(name, RecordTypeMapping())
            mapping.map[self.source] = self.target
        elif self.kind == PICKLISTS:
            name = next((f for f in template.picklists.fields if f.lower() == self.where.lower()), self.where)
            template.picklists.fields.setdefault(name, {})[self.source] = self.target
        elif self.kind in (FIELDS, CONSTANTS):
            name = next((o for o in template.field_mappings.objects if o.lower() == self.where.lower()), self.where)
            fields = template.field_mappings.objects.setdefault(name, FieldMapping())
            if self.kind == FIELDS:
                fields.map = {s: t for s, t in fields.map.items() if s.lower() != self.source.lower()}
                fields.map[self.source] = self.target
            else:
                fields.constants = {f: v for f, v in fields.constants.items() if f.lower() != self.source.lower()}
                fields.constants[self.source] = self.target
        else:                                    # a kind this app version cannot write
            raise ValueError(f"unknown mapping kind {self.kind!r}")


def mapping_fix(finding: Finding) -> MappingFix | None:
    """The mapping a finding suggests (``data["suggested_mapping"]``, or a required field's
    ``data["suggested_constant"]`` with a value), None when it suggests none."""
    constant = finding.data.get("suggested_constant")
    if finding.kind == REQUIRED_FIELD and isinstance(constant, dict) and constant.get("object") \
            and constant.get("field") and constant.get("value") not in (None, ""):
        return MappingFix(CONSTANTS, str(constant["field"]), str(constant["value"]), str(constant["object"]))
    suggestion = finding.data.get("suggested_mapping")
    if not (isinstance(suggestion, dict) and suggestion.get("source") and suggestion.get("target")):
        return None
    source, target = str(suggestion["source"]), str(suggestion["target"])
    if finding.kind == QUEUE_MAPPING:
        return MappingFix(OWNERS, source, target)
    if finding.kind == RECORD_TYPE and suggestion.get("object"):
        return MappingFix(RECORD_TYPES, source, target, str(suggestion["object"]))
    if finding.kind == PICKLIST_VALUES and suggestion.get("field"):
        return MappingFix(PICKLISTS, source, target, str(suggestion["field"]))
    if finding.kind == MISSING_FIELD and suggestion.get("object"):
        return MappingFix(FIELDS, source, target, str(suggestion["object"]))
    return None

_icons: dict[str, QIcon] = {}


def severity_icon(severity: str) -> QIcon:
    """A small filled shape in the severity's colour: octagon (blocks), triangle (fails), circle (warning)."""
    icon = _icons.get(severity)
    if icon is not None:
        return icon
    size = 32
    pixmap = QPixmap(size, size)
    pixmap.fill(Qt.GlobalColor.transparent)
    painter = QPainter(pixmap)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = QColor(SEVERITY_COLOURS.get(severity, "#5c5c5c"))
    painter.setBrush(QBrush(colour))
    painter.setPen(QPen(colour.darker(115), 1.5))
    path = QPainterPath()
    if severity == BLOCKING:
        # an octagon, like a stop sign
        points = [(16 + 14 * math.cos(math.radians(22.5 + 45 * i)), 16 + 14 * math.sin(math.radians(22.5 + 45 * i)))
                  for i in range(8)]
        path.moveTo(*points[0])
        for point in points[1:]:
            path.lineTo(*point)
        path.closeSubpath()
    elif severity == RECORDS_WILL_FAIL:
        path.moveTo(16, 3)
        path.lineTo(30, 28)
        path.lineTo(2, 28)
        path.closeSubpath()
    else:
        path.addEllipse(QRectF(4, 4, 24, 24))
    painter.drawPath(path)
    mark = QPen(QColor("white"), 3.4)
    mark.setCapStyle(Qt.PenCapStyle.RoundCap)
    painter.setPen(mark)
    if severity == BLOCKING:
        painter.drawLine(10, 16, 22, 16)                 # a bar: "no entry"
    else:
        top, bottom = (12, 20) if severity == RECORDS_WILL_FAIL else (9, 18)
        painter.drawLine(16, top, 16, bottom)            # an exclamation mark
        painter.drawPoint(16, bottom + 5)
    painter.end()
    icon = QIcon(pixmap)
    _icons[severity] = icon
    return icon


def where_text(finding: Finding) -> str:
    """The field and/or item a finding is about, without the object the Object column shows.

    ``Phone``; ``Phone_Required`` for the rule ``Contact.Phone_Required``; ``RecordTypeId · Support``;
    ``—`` when the finding is about the whole object.
    """
    item = finding.item
    if item and finding.object and item.lower().startswith(finding.object.lower() + "."):
        item = item[len(finding.object) + 1:]
    parts = [p for p in (finding.field, item) if p]
    return " · ".join(dict.fromkeys(parts)) or "—"


def records_text(finding: Finding) -> str:
    """Affected source records as shown in the table ("" when not counted)."""
    return "" if finding.affected is None else f"{finding.affected:,}"


def cell_text(finding: Finding, column: int) -> str:
    """The display text of ``finding`` in ``column``."""
    if column == COL_SEVERITY:
        return SEVERITY_LABELS.get(finding.severity, finding.severity)
    if column == COL_OBJECT:
        return finding.object
    if column == COL_WHERE:
        return where_text(finding)
    if column == COL_MESSAGE:
        return finding.message
    if column == COL_FIX:
        return finding.fix
    if column == COL_RECORDS:
        return records_text(finding)
    return ""


@dataclass(frozen=True)
class _Row:
    """A row of the model: a group header (``severity`` set, ``finding`` None) or a finding."""

    severity: str
    finding: Finding | None = None


class FindingsModel(QAbstractTableModel):
    """The findings of a report, grouped by severity, optionally only one severity.

    API: :meth:`set_report`, :meth:`set_severity_filter`, :meth:`findings` (shown, in order),
    :meth:`finding_at`, :meth:`group_rows`.
    """

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._report: PreflightReport | None = None
        self._filter: str | None = None
        self._rows: list[_Row] = []
        self._run_notes: dict[tuple[str, str], str] = {}
        self._group_font = QFont()
        self._group_font.setBold(True)

    # ------------------------------------------------------------------ API
    @property
    def severity_filter(self) -> str | None:
        return self._filter

    def set_report(self, report: PreflightReport | None) -> None:
        """Show ``report`` (None: nothing)."""
        self._report = report
        self._rebuild()

    def set_run_notes(self, notes: dict[tuple[str, str], str]) -> None:
        """Automation key → why a run has it switched off: its findings say so instead of suggesting a fix."""
        if notes != self._run_notes:
            self._run_notes = dict(notes)
            self._rebuild()

    def run_note(self, finding: Finding) -> str | None:
        """The run's note for ``finding`` (None unless it is about automation a run switched off)."""
        item = finding.automation_item()
        return self._run_notes.get(item.key) if item is not None else None

    def _cell_text(self, finding: Finding, column: int) -> str:
        if column == COL_FIX:
            note = self.run_note(finding)
            if note is not None:
                return note
        return cell_text(finding, column)

    def set_severity_filter(self, severity: str | None) -> None:
        """Show only findings of ``severity`` (None: all)."""
        if severity is not None and severity not in SEVERITIES:
            raise ValueError(f"unknown severity {severity!r}")
        self._filter = severity
        self._rebuild()

    def findings(self) -> list[Finding]:
        """The findings shown, in row order (group rows left out)."""
        return [row.finding for row in self._rows if row.finding is not None]

    def finding_at(self, row: int) -> Finding | None:
        """The finding of ``row`` (None for a group row or out of range)."""
        return self._rows[row].finding if 0 <= row < len(self._rows) else None

    def group_rows(self) -> dict[str, int]:
        """Severity → the row of its group header."""
        return {row.severity: index for index, row in enumerate(self._rows) if row.finding is None}

    def _rebuild(self) -> None:
        self.beginResetModel()
        self._rows = []
        if self._report is not None:
            for severity, findings in self._report.by_severity.items():
                if not findings or (self._filter is not None and severity != self._filter):
                    continue
                self._rows.append(_Row(severity))
                self._rows.extend(_Row(severity, finding) for finding in findings)
        self.endResetModel()

    # ------------------------------------------------------------------ Qt model
    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole \
                and 0 <= section < len(COLUMNS):
            return COLUMNS[section]
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.TextAlignmentRole:
            align = Qt.AlignmentFlag.AlignRight if section == COL_RECORDS else Qt.AlignmentFlag.AlignLeft
            return int(align | Qt.AlignmentFlag.AlignVCenter)
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        if not index.isValid():
            return Qt.ItemFlag.NoItemFlags
        if self._rows[index.row()].finding is None:
            return Qt.ItemFlag.ItemIsEnabled
        return Qt.ItemFlag.ItemIsEnabled | Qt.ItemFlag.ItemIsSelectable

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        row = self._rows[index.row()]
        column = index.column()
        if row.finding is None:
            return self._group_data(row.severity, column, role)
        finding = row.finding
        if role == Qt.ItemDataRole.DisplayRole:
            if column == COL_FIX and (fix := mapping_fix(finding)) is not None:
                text = self._cell_text(finding, column)
                _mapping, alternative, rest = text.partition(", or ")
                if text.lower().startswith(("map ", "set a constant ")) and alternative:   # "map X to Y ..., or <other>"
                    return f"▸ {fix.label} in one click (double-click, {MAPPING_FIX_SHORTCUT}), or {rest}"
                # U+2028: a line break both the view and the row-height measure honour
                return f"{text}\u2028▸ One click: {fix.label} (double-click, {MAPPING_FIX_SHORTCUT})"
            return "" if column == COL_SEVERITY else self._cell_text(finding, column)
        if role == TextRole:
            return self._cell_text(finding, column)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == COL_SEVERITY:
                return SEVERITY_LABELS.get(finding.severity, finding.severity)
            if column == COL_RECORDS:
                return ("source records in scope this affects" if finding.affected is not None
                        else "not counted (SOQL cannot count it cheaply, or no record is involved)")
            text = self._cell_text(finding, column)
            fix = mapping_fix(finding)
            if column == COL_FIX and fix is not None:
                return f"{text}\n\nOne click: {fix.label} (double-click the row, {MAPPING_FIX_SHORTCUT}, or right-click " \
                       "it): the mapping goes into the template and the check runs again"
            return text if column in (COL_MESSAGE, COL_FIX, COL_WHERE) else f"{finding.location}: {finding.message}"
        if role == Qt.ItemDataRole.DecorationRole and column == COL_SEVERITY:
            return severity_icon(finding.severity)
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_SEVERITY:
            return QBrush(QColor(SEVERITY_COLOURS.get(finding.severity, "#181818")))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            horizontal = Qt.AlignmentFlag.AlignRight if column == COL_RECORDS else Qt.AlignmentFlag.AlignLeft
            return int(horizontal | Qt.AlignmentFlag.AlignVCenter)
        if role == FindingRole:
            return finding
        if role == MappingFixRole:
            return mapping_fix(finding)
        return None

    def _group_data(self, severity: str, column: int, role: int) -> Any:
        if role == GroupRole:
            return severity
        if column != 0:
            if role == Qt.ItemDataRole.BackgroundRole:
                return QBrush(QColor(GROUP_BACKGROUNDS.get(severity, "#f3f3f3")))
            return None
        count = self._report.counts.get(severity, 0) if self._report is not None else 0
        if role == Qt.ItemDataRole.DisplayRole:
            return f"{GROUP_LABELS[severity]}  ·  {count} finding{'' if count == 1 else 's'}"
        if role == Qt.ItemDataRole.DecorationRole:
            return severity_icon(severity)
        if role == Qt.ItemDataRole.FontRole:
            return self._group_font
        if role == Qt.ItemDataRole.ForegroundRole:
            return QBrush(QColor(SEVERITY_COLOURS.get(severity, "#181818")))
        if role == Qt.ItemDataRole.BackgroundRole:
            return QBrush(QColor(GROUP_BACKGROUNDS.get(severity, "#f3f3f3")))
        if role == Qt.ItemDataRole.TextAlignmentRole:
            return int(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        return None


def severity_rank(severity: str) -> int:
    """0 for blocking, 1 for records will fail, 2 for warning."""
    return _RANK.get(severity, len(_RANK))


__all__ = ["FindingsModel", "COLUMNS", "COL_SEVERITY", "COL_OBJECT", "COL_WHERE", "COL_MESSAGE", "COL_FIX",
           "COL_RECORDS", "FindingRole", "GroupRole", "TextRole", "MappingFixRole", "MappingFix", "mapping_fix",
           "OWNERS", "RECORD_TYPES", "PICKLISTS",
           "MAPPING_FIX_SHORTCUT", "SEVERITY_LABELS", "SEVERITY_COLOURS", "GROUP_LABELS",
           "severity_icon", "cell_text", "where_text", "records_text", "severity_rank"]
