"""Dialogs of the Templates page: the questions it asks the user, and the "Add objects" picker.

:class:`Prompts` gathers every question the page asks (file names, confirmations, a new name) in
one object, so tests replace its methods instead of clicking through native dialogs.
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QModelIndex, QSortFilterProxyModel, Qt
from PySide6.QtWidgets import (QDialog, QDialogButtonBox, QFileDialog, QInputDialog, QLabel, QLineEdit, QListView,
                               QMessageBox, QPushButton, QVBoxLayout, QWidget)

from .catalog import SObjectInfo
from .models import NameRole, ObjectsModel

logger = logging.getLogger(__name__)

JSON_FILTER = "Template files (*.json);;All files (*)"


class Prompts:
    """The questions the Templates page asks; each returns None (or False) when the user cancels."""

    def open_file(self, parent: QWidget, title: str, directory: str) -> str | None:
        path, _ = QFileDialog.getOpenFileName(parent, title, directory, JSON_FILTER)
        return path or None

    def save_file(self, parent: QWidget, title: str, suggested: str) -> str | None:
        path, _ = QFileDialog.getSaveFileName(parent, title, suggested, JSON_FILTER)
        return path or None

    def confirm(self, parent: QWidget, title: str, text: str, action: str) -> bool:
        box = QMessageBox(QMessageBox.Icon.Question, title, text, QMessageBox.StandardButton.Cancel, parent)
        ok = box.addButton(action, QMessageBox.ButtonRole.AcceptRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.exec()
        return box.clickedButton() is ok

    def text(self, parent: QWidget, title: str, label: str, value: str) -> str | None:
        text, ok = QInputDialog.getText(parent, title, label, QLineEdit.EchoMode.Normal, value)
        return text.strip() if ok and text.strip() else None


class AddObjectsDialog(QDialog):
    """A searchable, checkable list of the source org's objects; ``selected()`` after ``accepted``."""

    def __init__(self, objects: list[SObjectInfo], source: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setWindowTitle("Add objects")
        self.resize(440, 520)
        layout = QVBoxLayout(self)
        hint = QLabel(f"Objects of <b>{source}</b> that can be copied. Check the ones to add.")
        hint.setWordWrap(True)
        layout.addWidget(hint)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search objects by label or API name")
        self.search.setClearButtonEnabled(True)
        layout.addWidget(self.search)
        self.model = ObjectsModel(objects, self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.view = QListView()
        self.view.setModel(self.proxy)
        self.view.setUniformItemSizes(True)
        self.view.setSpacing(2)
        layout.addWidget(self.view, 1)
        self.empty_label = QLabel("Every object of this org is in the template already." if not objects else "")
        self.empty_label.setProperty("role", "subtle")
        self.empty_label.setVisible(not objects)
        layout.addWidget(self.empty_label)
        self.buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Cancel)
        self.add_button: QPushButton = self.buttons.addButton("Add", QDialogButtonBox.ButtonRole.AcceptRole)
        self.add_button.setProperty("accent", True)
        self.add_button.setEnabled(False)
        layout.addWidget(self.buttons)

        self.search.textChanged.connect(self._on_search_text_changed)
        self.model.dataChanged.connect(self._on_model_data_changed)
        self.view.doubleClicked.connect(self._on_view_double_clicked)
        self.buttons.accepted.connect(self.accept)
        self.buttons.rejected.connect(self.reject)
        self.search.setFocus()

    def selected(self) -> list[str]:
        return self.model.checked()

    def _on_search_text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())

    def _on_model_data_changed(self, *args: object) -> None:
        count = len(self.model.checked())
        self.add_button.setEnabled(count > 0)
        self.add_button.setText(f"Add {count} object{'s' if count != 1 else ''}" if count else "Add")

    def _on_view_double_clicked(self, index: QModelIndex) -> None:
        name = self.proxy.data(index, NameRole)
        if name:
            self.model.set_checked(str(name), name not in self.model.checked())
