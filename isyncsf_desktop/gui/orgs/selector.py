"""The org selector modal ("Select Destination Org"): a searchable list of the connected orgs.

Each org shows as a two-line card: alias, a type badge coloured per type and the connection
status (checked in the background when the dialog opens); then user, instance and when it was
last used. Typing filters; Up/Down move (also from the search box); Enter picks; Esc cancels.
Picking the source org as the target needs a confirmation. The dialog remembers the last choice
in ``ctx.settings`` (``orgs/last_target``); the caller applies it (``ctx.set_target``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QItemSelectionModel, QModelIndex, QObject, QPersistentModelIndex, QRect, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QKeyEvent, QKeySequence, QPainter, QPen, QShortcut
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QLabel, QLineEdit, QListView, QMessageBox,
                               QPushButton, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QVBoxLayout, QWidget)

from ...salesforce.registry import OrgEntry
from ..context import AppContext
from ..style import ACCENT, MUTED
from .connect import ConnectOrgDialog, open_connect_dialog
from .models import (ENTRY_ROLE, STATUS_ROLE, OrgFilterProxy, OrgStatus, OrgStatusChecker, OrgTableModel,
                     alias_at, format_last_used, paint_badge, paint_status, short_instance)

logger = logging.getLogger(__name__)

ModelIndex = QModelIndex | QPersistentModelIndex
CARD_HEIGHT = 62
SELECTED_BG = "#e5effd"
HOVER_BG = "#f5f9fe"
SEPARATOR = "#ececec"


class OrgCardDelegate(QStyledItemDelegate):
    """Paints one org as a two-line card; the org named ``source_alias`` is marked "source org"."""

    def __init__(self, parent: QObject | None = None, source_alias: str | None = None):
        super().__init__(parent)
        self.source_alias = source_alias

    def sizeHint(self, option: QStyleOptionViewItem, index: ModelIndex) -> QSize:  # noqa: N802 - Qt's name
        metrics = QFontMetrics(option.font)
        return QSize(420, max(CARD_HEIGHT, 2 * metrics.height() + 26))

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: ModelIndex) -> None:
        entry = index.data(ENTRY_ROLE)
        status = index.data(STATUS_ROLE)
        if not isinstance(entry, OrgEntry):
            return
        if not isinstance(status, OrgStatus):
            status = OrgStatus()
        rect = QRect(option.rect)
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        hovered = bool(option.state & QStyle.StateFlag.State_MouseOver)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        if selected or hovered:
            painter.fillRect(rect, QColor(SELECTED_BG if selected else HOVER_BG))
        if selected:
            painter.fillRect(QRect(rect.left(), rect.top(), 3, rect.height()), QColor(ACCENT))
        painter.setPen(QPen(QColor(SEPARATOR)))
        painter.drawLine(rect.left(), rect.bottom(), rect.right(), rect.bottom())

        inner = rect.adjusted(14, 8, -14, -8)
        half = inner.height() // 2
        line1 = QRect(inner.left(), inner.top(), inner.width(), half)
        line2 = QRect(inner.left(), inner.top() + half, inner.width(), inner.height() - half)
        base_font = QFont(option.font)

        # line 1: alias, badge, "source org" mark ... status on the right
        painter.setFont(base_font)
        status_width = QFontMetrics(base_font).horizontalAdvance(status.text) + 16
        paint_status(painter, line1, status, align_right=True)
        alias_font = QFont(base_font)
        alias_font.setBold(True)
        alias_font.setPointSizeF(base_font.pointSizeF() + 1)
        painter.setFont(alias_font)
        painter.setPen(QColor("#181818"))
        alias_metrics = QFontMetrics(alias_font)
        room = max(40, line1.width() - status_width - 160)
        alias_text = alias_metrics.elidedText(entry.alias, Qt.TextElideMode.ElideRight, room)
        painter.drawText(line1, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, alias_text)
        x = line1.left() + alias_metrics.horizontalAdvance(alias_text) + 10
        painter.setFont(base_font)
        x += paint_badge(painter, QRect(x, line1.top(), line1.width(), line1.height()), entry.org_type) + 8
        if self.source_alias and entry.alias == self.source_alias:
            mark_font = QFont(base_font)
            mark_font.setItalic(True)
            painter.setFont(mark_font)
            painter.setPen(QColor(MUTED))
            painter.drawText(QRect(x, line1.top(), max(0, line1.right() - status_width - x), line1.height()),
                             Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, "source org")

        # line 2: user · instance ... last used on the right
        painter.setFont(base_font)
        painter.setPen(QColor(MUTED))
        metrics = QFontMetrics(base_font)
        last_used = f"Last used {format_last_used(entry.last_used)[0].lower()}" if entry.last_used else "Never used"
        last_width = metrics.horizontalAdvance(last_used)
        painter.drawText(line2, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, last_used)
        who = " · ".join(part for part in (entry.username, short_instance(entry.instance_url)) if part)
        who = metrics.elidedText(who, Qt.TextElideMode.ElideMiddle, max(40, line2.width() - last_width - 24))
        painter.drawText(line2, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, who)
        painter.restore()


class OrgSelectorDialog(QDialog):
    """The org selector modal. After ``exec()`` returns Accepted, :meth:`selected_alias` names the org.

    ``exclude_alias`` is the source org: picking it needs a confirmation. ``remember_key`` is the
    settings key the choice is remembered under (and pre-selected from).

    Signals:
        org_picked(str): the user picked this org (just before the dialog accepts).
    """

    org_picked = Signal(str)

    def __init__(self, ctx: AppContext, parent: QWidget | None = None, *, title: str = "Select Destination Org",
                 exclude_alias: str | None = None, remember_key: str = "orgs/last_target",
                 open_url: Callable[[str], Any] | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.exclude_alias = exclude_alias
        self.remember_key = remember_key
        self.open_url = open_url
        self.connect_dialog: ConnectOrgDialog | None = None
        self._selected: str | None = None

        self.setWindowTitle(title)
        self.setModal(True)
        self.resize(640, 540)
        self.setMinimumSize(520, 400)

        self.checker = OrgStatusChecker(ctx, self)
        self.model = OrgTableModel(ctx.registry, self.checker, self)
        self.model.load_failed.connect(self._on_model_load_failed)
        self.model.reload()         # again, now that a failure to read is reported
        self.proxy = OrgFilterProxy(self)
        self.proxy.setSourceModel(self.model)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(18, 16, 18, 14)
        layout.setSpacing(10)
        heading = QLabel(title)
        heading.setProperty("role", "title")
        layout.addWidget(heading)
        subtitle = QLabel("Pick the org the records are copied into." if "Destination" in title
                          else "Pick an org.")
        subtitle.setProperty("role", "subtle")
        keys = QLabel("↑↓ move · Enter selects · Esc cancels")
        keys.setProperty("role", "subtle")
        sub_row = QHBoxLayout()
        sub_row.addWidget(subtitle)
        sub_row.addStretch(1)
        sub_row.addWidget(keys)
        layout.addLayout(sub_row)

        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search by alias, user, instance or type")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setMinimumHeight(30)
        self.search_edit.textChanged.connect(self._on_search_edit_text_changed)
        self.search_edit.installEventFilter(self)
        layout.addWidget(self.search_edit)

        self.list_view = QListView()
        self.list_view.setModel(self.proxy)
        self.delegate = OrgCardDelegate(self.list_view, source_alias=exclude_alias)
        self.list_view.setItemDelegate(self.delegate)
        self.list_view.setUniformItemSizes(True)
        self.list_view.setMouseTracking(True)
        self.list_view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.list_view.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.list_view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.list_view.setStyleSheet("QListView { background: white; border: 1px solid #d8d8d8; border-radius: 4px; "
                                     "outline: none; }")
        # Enter in the list reaches the dialog's default button (Select); a double click picks too.
        self.list_view.doubleClicked.connect(self._on_list_view_double_clicked)
        layout.addWidget(self.list_view, 1)

        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setProperty("role", "subtle")
        self.empty_label.setWordWrap(True)
        self.empty_label.hide()
        layout.addWidget(self.empty_label)

        buttons = QHBoxLayout()
        buttons.setSpacing(8)
        self.connect_button = QPushButton("Connect New Org…")
        self.connect_button.setAutoDefault(False)
        self.connect_button.setToolTip("Log in through the browser, paste a token or import from the Salesforce CLI "
                                       "(Ctrl+N)")
        self.connect_button.clicked.connect(self._on_connect_button_clicked)
        buttons.addWidget(self.connect_button)
        buttons.addStretch(1)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAutoDefault(False)
        self.cancel_button.clicked.connect(self.reject)
        buttons.addWidget(self.cancel_button)
        self.select_button = QPushButton("Select")
        self.select_button.setProperty("accent", True)
        self.select_button.setDefault(True)
        self.select_button.clicked.connect(self._on_select_button_clicked)
        buttons.addWidget(self.select_button)
        layout.addLayout(buttons)

        QShortcut(QKeySequence("Ctrl+N"), self, activated=self._on_connect_button_clicked)
        QShortcut(QKeySequence("Ctrl+F"), self, activated=self.search_edit.setFocus)
        self.list_view.selectionModel().currentChanged.connect(self._on_selection_current_changed)

        self._preselect()
        self._update_empty_state()
        self.search_edit.setFocus()
        self.checker.check(self.model.aliases())

    # ================================================================== public
    def selected_alias(self) -> str | None:
        """The org the user picked (None until they did)."""
        return self._selected

    def current_alias(self) -> str | None:
        """The org under the cursor in the list."""
        return alias_at(self.list_view.currentIndex())

    def visible_aliases(self) -> list[str]:
        """Aliases the list shows now, in order (after the search filter)."""
        return [self.proxy.index(row, 0).data(ENTRY_ROLE).alias for row in range(self.proxy.rowCount())]

    def select_alias(self, alias: str) -> bool:
        """Put the cursor on ``alias`` when the list shows it."""
        index = self.proxy.index_of(alias)
        if index is None or not index.isValid():
            return False
        self.list_view.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.list_view.scrollTo(index)
        return True

    # ================================================================== selection
    def _preselect(self) -> None:
        remembered = self.ctx.settings.value(self.remember_key)
        for candidate in (str(remembered) if remembered else None, self.ctx.target):
            if candidate and self.select_alias(candidate):
                return
        first_other = next((a for a in self.visible_aliases() if a != self.exclude_alias), None)
        fallback = first_other or next(iter(self.visible_aliases()), None)
        if fallback:
            self.select_alias(fallback)

    def _ensure_current(self) -> None:
        if self.list_view.currentIndex().isValid() or self.proxy.rowCount() == 0:
            return
        self.list_view.selectionModel().setCurrentIndex(self.proxy.index(0, 0),
                                                        QItemSelectionModel.SelectionFlag.ClearAndSelect)

    def _update_empty_state(self) -> None:
        empty = self.proxy.rowCount() == 0
        if empty:
            text = self.search_edit.text().strip()
            self.empty_label.setText(f"No org matches “{text}”." if text and self.model.rowCount()
                                     else "No orgs are connected yet. Use “Connect New Org…” to add one.")
        self.empty_label.setVisible(empty)
        self.select_button.setEnabled(not empty and self.list_view.currentIndex().isValid())

    def _on_selection_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        self.select_button.setEnabled(current.isValid())

    def _on_search_edit_text_changed(self, text: str) -> None:
        keep = self.current_alias()
        self.proxy.set_search(text)
        if not (keep and self.select_alias(keep)):
            self.list_view.clearSelection()
            self._ensure_current()
        self._update_empty_state()

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        """Up/Down/PageUp/PageDown typed in the search box move the list's cursor."""
        if watched is self.search_edit and event.type() == QEvent.Type.KeyPress:
            assert isinstance(event, QKeyEvent)
            moves = {Qt.Key.Key_Up, Qt.Key.Key_Down, Qt.Key.Key_PageUp, Qt.Key.Key_PageDown}
            if event.key() in moves:
                self._move_cursor(event)
                return True
        return super().eventFilter(watched, event)

    def _move_cursor(self, event: QKeyEvent) -> None:
        rows = self.proxy.rowCount()
        if rows == 0:
            return
        current = self.list_view.currentIndex()
        row = current.row() if current.isValid() else -1
        page = max(1, self.list_view.viewport().height() // CARD_HEIGHT)
        step = {Qt.Key.Key_Up: -1, Qt.Key.Key_Down: 1, Qt.Key.Key_PageUp: -page, Qt.Key.Key_PageDown: page}
        row = min(rows - 1, max(0, row + step[Qt.Key(event.key())]))
        index = self.proxy.index(row, 0)
        self.list_view.selectionModel().setCurrentIndex(index, QItemSelectionModel.SelectionFlag.ClearAndSelect)
        self.list_view.scrollTo(index)

    # ================================================================== picking
    def _on_list_view_double_clicked(self, _index: QModelIndex) -> None:
        self._on_select_button_clicked()

    def _on_select_button_clicked(self) -> None:
        alias = self.current_alias()
        if alias is None or self._selected is not None:
            return
        if alias == self.exclude_alias and not self._confirm_source_as_target(alias):
            return
        self._selected = alias
        self.ctx.settings.setValue(self.remember_key, alias)
        self.org_picked.emit(alias)
        self.accept()

    def _confirm_source_as_target(self, alias: str) -> bool:
        answer = QMessageBox.question(
            self, "Same org as the source",
            f"“{alias}” is the source org of this sync. Copying records from an org into itself creates "
            "duplicates of every record it inserts.\n\nUse it as the destination anyway?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
        return answer == QMessageBox.StandardButton.Yes

    # ================================================================== connecting a new org
    def _on_connect_button_clicked(self) -> None:
        self.connect_dialog = open_connect_dialog(self.connect_dialog, self.ctx, self, self.open_url,
                                                  self._on_connect_dialog_org_connected)

    def _on_connect_dialog_org_connected(self, alias: str) -> None:
        self.model.reload()
        self.search_edit.clear()
        self.select_alias(alias)
        self._update_empty_state()
        self.checker.check([alias])
        self.list_view.setFocus()

    def _on_model_load_failed(self, text: str) -> None:
        self.ctx.error(f"The org list could not be read: {text}")

    # ================================================================== closing
    def done(self, result: int) -> None:  # noqa: D401 - Qt's name
        """Close; a connect dialog still open closes with it."""
        if self.connect_dialog is not None and self.connect_dialog.isVisible():
            self.connect_dialog.reject()
        super().done(result)
