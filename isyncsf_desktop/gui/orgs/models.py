"""Qt adapters over the org registry: a table model, a search filter, background connection
checks, and the painters for type badges and status dots shared by the Orgs page and the selector."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from PySide6.QtCore import (QAbstractTableModel, QModelIndex, QObject, QPersistentModelIndex, QRect, QSize,
                            QSortFilterProxyModel, Qt, Signal)
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetrics, QPainter
from PySide6.QtWidgets import QStyle, QStyledItemDelegate, QStyleOptionViewItem

from ...salesforce.client import OrgApiError, SessionExpired
from ...salesforce.registry import OrgEntry, OrgRegistry, RegistryError
from ..context import AppContext
from ..style import ERROR, MUTED, SUCCESS, WARNING

logger = logging.getLogger(__name__)

ModelIndex = QModelIndex | QPersistentModelIndex

#: Badge colour per org type: production stands out (it is the org to be careful with).
TYPE_COLOURS = {"Production": "#ba0517", "Sandbox": "#0b5cab", "Scratch": "#7526e3", "Developer": "#2e844a",
                "Local sandbox": "#3e6e7e"}
TYPE_SHORT = {"Local sandbox": "Local"}

COLUMNS = ("Alias", "Type", "User", "Instance", "API", "Last used", "Status")
COL_ALIAS, COL_TYPE, COL_USER, COL_INSTANCE, COL_API, COL_LAST_USED, COL_STATUS = range(len(COLUMNS))

ENTRY_ROLE = Qt.ItemDataRole.UserRole + 1       # the OrgEntry
STATUS_ROLE = Qt.ItemDataRole.UserRole + 2      # the OrgStatus
SEARCH_ROLE = Qt.ItemDataRole.UserRole + 3      # text the search box matches
SORT_ROLE = Qt.ItemDataRole.UserRole + 4

# Connection states
UNKNOWN, CHECKING, CONNECTED, EXPIRED, UNREACHABLE, FAILED = ("unknown", "checking", "connected", "expired",
                                                               "unreachable", "failed")
STATE_TEXT = {UNKNOWN: "Not checked", CHECKING: "Checking…", CONNECTED: "Connected", EXPIRED: "Session expired",
              UNREACHABLE: "Unreachable", FAILED: "Error"}
STATE_COLOURS = {UNKNOWN: MUTED, CHECKING: MUTED, CONNECTED: SUCCESS, EXPIRED: WARNING, UNREACHABLE: ERROR,
                 FAILED: ERROR}


@dataclass(frozen=True)
class OrgStatus:
    """The last known connection state of one org and a sentence about it."""

    state: str = UNKNOWN
    detail: str = ""

    @property
    def text(self) -> str:
        return STATE_TEXT.get(self.state, self.state)

    @property
    def colour(self) -> str:
        return STATE_COLOURS.get(self.state, MUTED)


# ====================================================================== small helpers
def alias_at(index: ModelIndex) -> str | None:
    """The alias of the org at ``index`` of a view (None for an invalid index or a row without an org)."""
    if not index.isValid():
        return None
    entry = index.data(ENTRY_ROLE)
    return entry.alias if isinstance(entry, OrgEntry) else None


def format_last_used(stamp: str | None, now: datetime | None = None) -> tuple[str, str]:
    """(short relative text, full local time) for an ISO time stamp from the registry."""
    if not stamp:
        return "Never", "Not used yet"
    try:
        when = datetime.fromisoformat(stamp)
    except ValueError:
        return stamp, stamp
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    now = now or datetime.now(timezone.utc)
    seconds = (now - when).total_seconds()
    local = when.astimezone().strftime("%Y-%m-%d %H:%M")
    if seconds < 60:
        text = "Just now"
    elif seconds < 3600:
        text = f"{int(seconds // 60)} min ago"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)} h ago"
    elif seconds < 2 * 86400:
        text = "Yesterday"
    elif seconds < 30 * 86400:
        text = f"{int(seconds // 86400)} days ago"
    else:
        text = when.astimezone().strftime("%Y-%m-%d")
    return text, f"Last used {local}"


def short_instance(url: str) -> str:
    """The instance URL without its scheme (what people read)."""
    return url.split("://", 1)[-1]


def describe_auth(entry: OrgEntry) -> str:
    return {"oauth": "Browser login (renews itself)", "token": "Access token (cannot renew)",
            "sfcli": "Salesforce CLI (renews through sf)", "sandbox": "Local sandbox demo org"}.get(entry.auth,
                                                                                                   entry.auth)


# ====================================================================== background checks
def check_org(registry: OrgRegistry, alias: str, timeout: float = 20.0) -> OrgStatus:
    """Whether org ``alias`` answers with its stored token (runs on a worker thread)."""
    try:
        client = registry.client(alias, retries=1, backoff=0.2)
        client.timeout = timeout
        info = client.user_info()
    except SessionExpired as exc:
        return OrgStatus(EXPIRED, f"The org refused the session: {exc.message.rstrip('. ')}. Connect it again.")
    except OrgApiError as exc:
        if exc.error_code in ("CONNECTION_ERROR", "SSL_ERROR"):
            return OrgStatus(UNREACHABLE, exc.message)
        return OrgStatus(FAILED, str(exc))
    except RegistryError as exc:
        return OrgStatus(EXPIRED, str(exc))
    except Exception as exc:  # noqa: BLE001 - a status, not a crash
        logger.info("checking %s failed: %s", alias, type(exc).__name__)
        return OrgStatus(FAILED, str(exc) or type(exc).__name__)
    user = info.get("preferred_username") or info.get("name") or "the API user"
    return OrgStatus(CONNECTED, f"Connected as {user}")


def _check_task(report: Any, cancel: Any, registry: OrgRegistry, alias: str) -> tuple[str, OrgStatus]:
    return alias, check_org(registry, alias)


class OrgStatusChecker(QObject):
    """Checks in the background whether orgs answer, and remembers the answers.

    Signals:
        status_changed(str): the status of this alias changed.
        idle(): no check is running any more.
    """

    status_changed = Signal(str)
    idle = Signal()

    def __init__(self, ctx: AppContext, parent: QObject | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self._statuses: dict[str, OrgStatus] = {}
        self._running: set[str] = set()

    def status(self, alias: str) -> OrgStatus:
        return self._statuses.get(alias, OrgStatus())

    @property
    def busy(self) -> bool:
        return bool(self._running)

    def forget(self, alias: str) -> None:
        self._statuses.pop(alias, None)

    def check(self, aliases: list[str]) -> None:
        """Start a check for each alias not being checked already."""
        for alias in aliases:
            if alias in self._running:
                continue
            self._running.add(alias)
            self._statuses[alias] = OrgStatus(CHECKING, "Checking the connection…")
            self.status_changed.emit(alias)
            # check_org never raises: the answer always comes back through `finished`.
            self.ctx.tasks.start(_check_task, self.ctx.registry, alias, on_finished=self._on_worker_finished)

    def rename(self, old: str, new: str) -> None:
        """Keep the status of an org whose alias changed."""
        if old in self._statuses:
            self._statuses[new] = self._statuses.pop(old)

    def set_status(self, alias: str, status: OrgStatus) -> None:
        """Record what another check (a connection test) found."""
        self._statuses[alias] = status
        self.status_changed.emit(alias)

    def _on_worker_finished(self, result: tuple[str, OrgStatus]) -> None:
        alias, status = result
        self._finish(alias, status)

    def _finish(self, alias: str, status: OrgStatus) -> None:
        self._running.discard(alias)
        self.set_status(alias, status)
        if not self._running:
            self.idle.emit()


# ====================================================================== the table model
class OrgTableModel(QAbstractTableModel):
    """The registered orgs, one per row (columns: :data:`COLUMNS`), with their connection status.

    Signals:
        load_failed(str): the registry could not be read (the text says why).
    """

    load_failed = Signal(str)

    def __init__(self, registry: OrgRegistry, checker: OrgStatusChecker | None = None,
                 parent: QObject | None = None):
        super().__init__(parent)
        self.registry = registry
        self.checker = checker
        self.entries: list[OrgEntry] = []
        if checker is not None:
            checker.status_changed.connect(self._on_checker_status_changed)
        self.reload()

    def reload(self) -> None:
        """Read the registry again."""
        try:
            entries = self.registry.list()
        except RegistryError as exc:
            entries = []
            self.load_failed.emit(str(exc))
        self.beginResetModel()
        self.entries = entries
        self.endResetModel()

    def aliases(self) -> list[str]:
        return [entry.alias for entry in self.entries]

    def row_of(self, alias: str) -> int:
        return next((row for row, entry in enumerate(self.entries) if entry.alias == alias), -1)

    def entry(self, row: int) -> OrgEntry:
        return self.entries[row]

    def status(self, alias: str) -> OrgStatus:
        return self.checker.status(alias) if self.checker is not None else OrgStatus()

    # ------------------------------------------------------------------ Qt model API
    def rowCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: N802, B008 - Qt's names
        return 0 if parent.isValid() else len(self.entries)

    def columnCount(self, parent: ModelIndex = QModelIndex()) -> int:  # noqa: N802, B008
        return 0 if parent.isValid() else len(COLUMNS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return COLUMNS[section]
        return None

    def data(self, index: ModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid() or not 0 <= index.row() < len(self.entries):
            return None
        entry = self.entries[index.row()]
        column = index.column()
        if role == ENTRY_ROLE:
            return entry
        if role == STATUS_ROLE:
            return self.status(entry.alias)
        if role == SEARCH_ROLE:
            return " ".join([entry.alias, entry.org_type, entry.username, entry.instance_url,
                             short_instance(entry.instance_url)]).lower()
        if role in (Qt.ItemDataRole.DisplayRole, SORT_ROLE):
            return self._display(entry, column, role == SORT_ROLE)
        if role == Qt.ItemDataRole.ToolTipRole:
            return self._tooltip(entry, column)
        if role == Qt.ItemDataRole.ForegroundRole and column == COL_STATUS:
            return QBrush(QColor(self.status(entry.alias).colour))
        if role == Qt.ItemDataRole.ForegroundRole and column in (COL_LAST_USED, COL_API):
            return QBrush(QColor(MUTED))
        if role == Qt.ItemDataRole.FontRole and column == COL_ALIAS:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def _display(self, entry: OrgEntry, column: int, for_sort: bool) -> Any:
        if column == COL_ALIAS:
            return entry.alias
        if column == COL_TYPE:
            return entry.org_type
        if column == COL_USER:
            return entry.username or "—"
        if column == COL_INSTANCE:
            return short_instance(entry.instance_url)
        if column == COL_API:
            return f"v{entry.api_version}"
        if column == COL_LAST_USED:
            return (entry.last_used or "") if for_sort else format_last_used(entry.last_used)[0]
        if column == COL_STATUS:
            return self.status(entry.alias).text
        return None

    def _tooltip(self, entry: OrgEntry, column: int) -> str:
        if column == COL_LAST_USED:
            return format_last_used(entry.last_used)[1]
        if column == COL_STATUS:
            return self.status(entry.alias).detail or self.status(entry.alias).text
        if column == COL_ALIAS:
            status = self.status(entry.alias)
            return (f"{entry.alias}: {describe_auth(entry)}\nOrg id {entry.org_id}\n"
                    f"{status.text}" + (f": {status.detail}" if status.detail and status.detail != status.text
                                        else ""))
        if column == COL_INSTANCE:
            return entry.instance_url
        return str(self._display(entry, column, False) or "")

    def _on_checker_status_changed(self, alias: str) -> None:
        row = self.row_of(alias)
        if row >= 0:
            self.dataChanged.emit(self.index(row, 0), self.index(row, len(COLUMNS) - 1))


class OrgFilterProxy(QSortFilterProxyModel):
    """Keeps the rows whose alias, type, user or instance contain every word typed."""

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        self._terms: list[str] = []
        self.setSortRole(SORT_ROLE)
        self.setSortCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)

    def set_search(self, text: str) -> None:
        terms = text.lower().split()
        if hasattr(self, "beginFilterChange"):          # Qt 6.9+
            self.beginFilterChange()
            self._terms = terms
            self.endFilterChange(QSortFilterProxyModel.Direction.Rows)
        else:                                            # pragma: no cover - older Qt
            self._terms = terms
            self.invalidateFilter()

    def index_of(self, alias: str) -> QModelIndex | None:
        """The proxy index of ``alias``'s row (invalid while the search hides it); None when the model lacks it."""
        model = self.sourceModel()
        row = model.row_of(alias) if isinstance(model, OrgTableModel) else -1
        if row < 0:
            return None
        return self.mapFromSource(model.index(row, 0))

    def filterAcceptsRow(self, source_row: int, source_parent: ModelIndex) -> bool:  # noqa: N802 - Qt's name
        if not self._terms:
            return True
        model = self.sourceModel()
        text = str(model.data(model.index(source_row, 0, source_parent), SEARCH_ROLE) or "")
        return all(term in text for term in self._terms)


# ====================================================================== painting
def paint_badge(painter: QPainter, rect: QRect, org_type: str, *, small: bool = False) -> int:
    """Paint the coloured type badge at the left of ``rect``, vertically centred; returns its width."""
    text = TYPE_SHORT.get(org_type, org_type) if small else org_type
    font = QFont(painter.font())
    font.setBold(True)
    font.setPointSizeF(max(7.0, font.pointSizeF() - 1.0))
    metrics = QFontMetrics(font)
    height = metrics.height() + 4
    width = metrics.horizontalAdvance(text) + 14
    badge = QRect(rect.left(), rect.top() + (rect.height() - height) // 2, width, height)
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(QColor(TYPE_COLOURS.get(org_type, MUTED)))
    painter.drawRoundedRect(badge, height / 2, height / 2)
    painter.setPen(QColor("white"))
    painter.setFont(font)
    painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)
    painter.restore()
    return width


def badge_size(font: QFont, org_type: str) -> QSize:
    bold = QFont(font)
    bold.setBold(True)
    bold.setPointSizeF(max(7.0, bold.pointSizeF() - 1.0))
    metrics = QFontMetrics(bold)
    return QSize(metrics.horizontalAdvance(org_type) + 14, metrics.height() + 4)


def paint_status(painter: QPainter, rect: QRect, status: OrgStatus, align_right: bool = False) -> int:
    """A coloured dot and the status text in ``rect``; returns the width used."""
    metrics = QFontMetrics(painter.font())
    text = status.text
    dot = 8
    width = dot + 6 + metrics.horizontalAdvance(text)
    left = rect.right() - width if align_right else rect.left()
    centre_y = rect.top() + rect.height() // 2
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    colour = QColor(status.colour)
    painter.setPen(Qt.PenStyle.NoPen)
    painter.setBrush(colour)
    if status.state in (UNKNOWN, CHECKING):
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.setPen(colour)
    painter.drawEllipse(left, centre_y - dot // 2, dot, dot)
    painter.setPen(colour)
    painter.drawText(QRect(left + dot + 6, rect.top(), width - dot - 6, rect.height()),
                     Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
    painter.restore()
    return width


class TypeBadgeDelegate(QStyledItemDelegate):
    """Paints the org type as a coloured badge (table column "Type")."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        style = widget.style() if widget is not None else None
        if style is not None:
            style.drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        org_type = str(index.data(Qt.ItemDataRole.DisplayRole) or "")
        if org_type:
            paint_badge(painter, option.rect.adjusted(6, 0, -4, 0), org_type)

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:  # noqa: N802 - Qt's name
        size = badge_size(option.font, str(index.data(Qt.ItemDataRole.DisplayRole) or ""))
        return QSize(size.width() + 14, max(size.height() + 10, 30))


class StatusDelegate(QStyledItemDelegate):
    """Paints the connection status as a coloured dot and text (table column "Status")."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        opt = QStyleOptionViewItem(option)
        self.initStyleOption(opt, index)
        opt.text = ""
        widget = opt.widget
        if widget is not None:
            widget.style().drawControl(QStyle.ControlElement.CE_ItemViewItem, opt, painter, widget)
        status = index.data(STATUS_ROLE)
        if isinstance(status, OrgStatus):
            painter.save()
            painter.setFont(option.font)
            paint_status(painter, option.rect.adjusted(8, 0, -4, 0), status)
            painter.restore()

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:  # noqa: N802
        status = index.data(STATUS_ROLE)
        text = status.text if isinstance(status, OrgStatus) else ""
        return QSize(QFontMetrics(option.font).horizontalAdvance(text) + 48, 30)
