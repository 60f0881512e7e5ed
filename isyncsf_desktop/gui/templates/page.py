"""The Templates tab: the template files of the data dir, and the editor of one of them.

Templates are the engine's JSON files in ``paths.templates_dir()``. The list creates, duplicates,
renames, deletes, imports and exports them and says which one the Execute tab uses; the editor
(:class:`~.editor.TemplateEditor`) changes one and saves it back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QItemSelectionModel, QModelIndex, QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QKeySequence, QShowEvent
from PySide6.QtWidgets import (QAbstractItemView, QHBoxLayout, QHeaderView, QLabel, QLineEdit, QPushButton,
                               QStackedWidget, QVBoxLayout, QWidget)

from ... import paths
from ...engine.template import Template, TemplateError, load_template, save_template
from ..context import AppContext
from ..keyboard import widget_shortcut
from ..tables import read_only_table
from .banner import MessageBanner
from .catalog import DescribeCache, TemplateFile, scan_templates, slugify, unique_path
from .dialogs import Prompts
from .editor import TemplateEditor
from .models import PathRole, TemplateListModel

logger = logging.getLogger(__name__)

NEW_NAME = "New template"


class TemplatesPage(QWidget):
    """The Templates tab: a list of template files, and an editor for one.

    Signals:
        templates_changed(): the list of template files was read again.
    """

    templates_changed = Signal()

    def __init__(self, ctx: AppContext, parent: QWidget | None = None):
        super().__init__(parent)
        self.ctx = ctx
        self.cache = DescribeCache()
        self.prompts = Prompts()
        self.directory = paths.templates_dir()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.stack = QStackedWidget()
        layout.addWidget(self.stack)
        self.list_view = self._build_list_view()
        self.editor = TemplateEditor(ctx, self.cache, self.prompts)
        self.stack.addWidget(self.list_view)
        self.stack.addWidget(self.editor)

        self.editor.back_requested.connect(self._on_editor_back_requested)
        self.editor.saved.connect(self._on_editor_saved)
        ctx.template_changed.connect(self._on_ctx_template_changed)
        self.refresh()
        if ctx.template_path is not None:
            self.select_path(ctx.template_path)

    # ================================================================== construction
    def _build_list_view(self) -> QWidget:
        view = QWidget()
        layout = QVBoxLayout(view)
        layout.setContentsMargins(8, 8, 8, 8)
        layout.setSpacing(8)

        header = QHBoxLayout()
        title = QLabel("Templates")
        title.setProperty("role", "title")
        header.addWidget(title)
        header.addSpacing(10)
        where = QLabel("Which objects, fields and records a sync moves, and how records are matched.")
        where.setProperty("role", "subtle")
        header.addWidget(where, 1, Qt.AlignmentFlag.AlignBottom)
        self.search_edit = QLineEdit()
        self.search_edit.setPlaceholderText("Search templates")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.setFixedWidth(240)
        header.addWidget(self.search_edit)
        layout.addLayout(header)

        buttons = QHBoxLayout()
        buttons.setSpacing(6)
        self.new_button = QPushButton("New template")
        self.new_button.setProperty("accent", True)
        self.import_button = QPushButton("Import…")
        self.open_button = QPushButton("Open")
        self.use_button = QPushButton("Use this template")
        self.duplicate_button = QPushButton("Duplicate")
        self.rename_button = QPushButton("Rename…")
        self.export_button = QPushButton("Export…")
        self.delete_button = QPushButton("Delete")
        self.delete_button.setProperty("danger", True)
        self.open_button.setToolTip("Edit the selected template (Enter or double-click)")
        self.use_button.setToolTip("Make the selected template the one the Execute tab runs")
        for button in (self.new_button, self.import_button):
            buttons.addWidget(button)
        buttons.addSpacing(16)
        for button in (self.open_button, self.use_button, self.duplicate_button, self.rename_button,
                       self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        buttons.addWidget(self.delete_button)
        layout.addLayout(buttons)

        self.banner = MessageBanner()
        layout.addWidget(self.banner)

        self.model = TemplateListModel(self)
        self.proxy = QSortFilterProxyModel(self)
        self.proxy.setSourceModel(self.model)
        self.proxy.setFilterCaseSensitivity(Qt.CaseSensitivity.CaseInsensitive)
        self.proxy.setFilterKeyColumn(-1)
        self.table = read_only_table(self.proxy, QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setAlternatingRowColors(True)
        self.table.setShowGrid(False)
        self.table.setWordWrap(False)
        self.table.verticalHeader().setDefaultSectionSize(30)
        header_view = self.table.horizontalHeader()
        header_view.setSectionResizeMode(TemplateListModel.NAME, QHeaderView.ResizeMode.Interactive)
        header_view.setSectionResizeMode(TemplateListModel.OBJECTS, QHeaderView.ResizeMode.Stretch)
        header_view.setSectionResizeMode(TemplateListModel.ORGS, QHeaderView.ResizeMode.ResizeToContents)
        header_view.setSectionResizeMode(TemplateListModel.MODIFIED, QHeaderView.ResizeMode.ResizeToContents)
        header_view.setSectionResizeMode(TemplateListModel.STATUS, QHeaderView.ResizeMode.ResizeToContents)
        header_view.resizeSection(TemplateListModel.NAME, 240)
        layout.addWidget(self.table, 1)

        self.details = QLabel()
        self.details.setWordWrap(True)
        self.details.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.details.setProperty("role", "subtle")
        layout.addWidget(self.details)
        self.empty_label = QLabel("No templates yet. Create one, or import a template file.")
        self.empty_label.setProperty("role", "subtle")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout.addWidget(self.empty_label)

        self.search_edit.textChanged.connect(self._on_search_edit_text_changed)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_row_changed)
        self.table.doubleClicked.connect(self._on_table_double_clicked)
        for key, slot in ((QKeySequence(Qt.Key.Key_Return), self.open_selected),
                          (QKeySequence(QKeySequence.StandardKey.Delete), self.delete_selected)):
            widget_shortcut(key, self.table, slot)
        self.new_button.clicked.connect(self.new_template)
        self.import_button.clicked.connect(self.import_file)
        self.open_button.clicked.connect(self.open_selected)
        self.use_button.clicked.connect(self.use_selected)
        self.duplicate_button.clicked.connect(self.duplicate_selected)
        self.rename_button.clicked.connect(self.rename_selected)
        self.export_button.clicked.connect(self.export_selected)
        self.delete_button.clicked.connect(self.delete_selected)
        return view

    # ================================================================== the list
    def refresh(self) -> None:
        """Read the templates folder again, keeping the selection."""
        selected = self.selected_path()
        self.model.set_files(scan_templates(self.directory))
        self.model.set_current(self.ctx.template_path)
        self.empty_label.setVisible(self.model.rowCount() == 0)
        if selected is not None:
            self.select_path(selected)
        self._update_buttons()
        self.templates_changed.emit()

    def files(self) -> list[TemplateFile]:
        return [self.model.file(row) for row in range(self.model.rowCount())]

    def selected_path(self) -> Path | None:
        index = self.table.currentIndex()
        if not index.isValid() or not self.table.selectionModel().isRowSelected(index.row(), QModelIndex()):
            return None
        value = self.proxy.data(index, PathRole)
        return Path(value) if value else None

    def selected_file(self) -> TemplateFile | None:
        path = self.selected_path()
        row = self.model.row_of(path) if path else None
        return self.model.file(row) if row is not None else None

    def select_path(self, path: Path) -> bool:
        row = self.model.row_of(Path(path))
        if row is None:
            return False
        index = self.proxy.mapFromSource(self.model.index(row, 0))
        if not index.isValid():
            return False
        self.table.selectionModel().setCurrentIndex(
            index, QItemSelectionModel.SelectionFlag.ClearAndSelect | QItemSelectionModel.SelectionFlag.Rows)
        self.table.scrollTo(index)
        return True

    def show_message(self, text: str, level: str = "info") -> None:
        """A line above the list (empty text hides it)."""
        self.banner.show_message(text, level)

    @property
    def message(self) -> str:
        """The message shown above the list ("" for none)."""
        return self.banner.message

    def _update_buttons(self) -> None:
        item = self.selected_file()
        readable = item is not None and item.error is None
        for button in (self.open_button, self.use_button, self.duplicate_button, self.rename_button):
            button.setEnabled(readable)
        self.export_button.setEnabled(item is not None)
        self.delete_button.setEnabled(item is not None)
        if item is not None and self.ctx.template_path is not None \
                and item.path.resolve() == Path(self.ctx.template_path).resolve():
            self.use_button.setEnabled(False)
            self.use_button.setText("In use")
        else:
            self.use_button.setText("Use this template")
        self._update_details(item)

    def _update_details(self, item: TemplateFile | None) -> None:
        if item is None:
            self.details.setText("")
        elif item.error:
            self.details.setText(f"{item.path.name} cannot be read: {item.error}")
        else:
            description = f"{item.description}  ·  " if item.description else ""
            self.details.setText(f"{description}File: {item.path}")

    def _read(self, path: Path) -> Template | None:
        try:
            return load_template(path)
        except TemplateError as exc:
            logger.info("template not readable: %s", exc)
            self.show_message(str(exc), "error")
            return None

    # ================================================================== actions
    def new_template(self) -> None:
        """Open the editor on a new, empty template (it gets a file when saved)."""
        names = {f.name for f in self.files()}
        name, number = NEW_NAME, 2
        while name in names:
            name, number = f"{NEW_NAME} {number}", number + 1
        source = self.ctx.source or next(iter(self.ctx.registry.aliases()), None)
        target = self.ctx.target if self.ctx.target != source else None
        self._edit(Template(name=name, objects=[], source=source, target=target), None)
        self.editor.name_edit.setFocus()
        self.editor.name_edit.selectAll()

    def open_selected(self) -> None:
        path = self.selected_path()
        if path is not None:
            self.open_path(path)

    def open_path(self, path: Path) -> bool:
        """Open the template at ``path`` in the editor."""
        template = self._read(path)
        if template is None:
            return False
        self._edit(template, path)
        return True

    def _edit(self, template: Template, path: Path | None) -> None:
        self.show_message("")
        self.editor.load(template, path)
        self.stack.setCurrentWidget(self.editor)

    def use_selected(self) -> None:
        path = self.selected_path()
        if path is None:
            return
        try:
            template = self.ctx.open_template(path)
        except TemplateError as exc:
            logger.info("template not readable: %s", exc)
            self.show_message(str(exc), "error")
            return
        self.ctx.info(f"The Execute tab uses “{template.name}” now.")

    def duplicate_selected(self) -> Path | None:
        path = self.selected_path()
        template = self._read(path) if path else None
        if template is None:
            return None
        names = {f.name for f in self.files()}
        name, number = f"{template.name} (copy)", 2
        while name in names:
            name, number = f"{template.name} (copy {number})", number + 1
        template.name = name
        new_path = unique_path(self.directory, name)
        save_template(template, new_path)
        logger.info("duplicated template %s to %s", path, new_path)
        self.refresh()
        self.select_path(new_path)
        self.show_message(f"Created “{name}” ({new_path.name}).")
        return new_path

    def rename_selected(self) -> Path | None:
        path = self.selected_path()
        template = self._read(path) if path else None
        if path is None or template is None:
            return None
        name = self.prompts.text(self, "Rename template", "New name:", template.name)
        if not name or name == template.name:
            return None
        was_current = self.ctx.template_path is not None and Path(self.ctx.template_path).resolve() == path.resolve()
        template.name = name
        new_path = unique_path(self.directory, name, keep=path)
        save_template(template, new_path)
        if new_path.resolve() != path.resolve():
            path.unlink()
        logger.info("renamed template %s to %s (%s)", path.name, name, new_path.name)
        self.refresh()
        if was_current:
            self.ctx.open_template(new_path)
        self.select_path(new_path)
        self.show_message(f"Renamed to “{name}” ({new_path.name}).")
        return new_path

    def delete_selected(self) -> bool:
        item = self.selected_file()
        if item is None:
            return False
        in_use = self.ctx.template_path is not None and Path(self.ctx.template_path).resolve() == item.path.resolve()
        text = (f"Delete the template “{item.name}”? The file {item.path.name} is removed. "
                "Jobs already run with it keep their own copy in the history.")
        if in_use:
            text += " It stays open on the Execute tab until another template is chosen."
        if not self.prompts.confirm(self, "Delete template", text, "Delete"):
            return False
        try:
            item.path.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            self.show_message(f"{item.path.name} could not be deleted: {exc.strerror}", "error")
            return False
        logger.info("deleted template %s", item.path)
        self.refresh()
        self.show_message(f"Deleted “{item.name}”.")
        return True

    def import_file(self) -> Path | None:
        """Copy a template file into the templates folder (checked first: a bad file shows why)."""
        chosen = self.prompts.open_file(self, "Import a template", str(Path.home()))
        if not chosen:
            return None
        source = Path(chosen)
        try:
            template = load_template(source)
        except TemplateError as exc:
            logger.info("import of %s refused: %s", source, exc)
            self.show_message(f"This file is not a template that can be imported. {exc}", "error")
            return None
        target = unique_path(self.directory, template.name)
        save_template(template, target)
        logger.info("imported template %s as %s", source, target)
        self.refresh()
        self.select_path(target)
        self.show_message(f"Imported “{template.name}” from {source.name}.")
        return target

    def export_selected(self) -> Path | None:
        item = self.selected_file()
        if item is None:
            return None
        suggested = str(Path.home() / f"{slugify(item.name)}.json")
        chosen = self.prompts.save_file(self, "Export template", suggested)
        if not chosen:
            return None
        target = Path(chosen)
        if not target.suffix:
            target = target.with_suffix(".json")
        try:
            paths.atomic_write_text(target, item.path.read_text(encoding="utf-8"))
        except OSError as exc:
            self.show_message(f"The template could not be exported to {target}: {exc.strerror or exc}", "error")
            return None
        self.show_message(f"Exported “{item.name}” to {target}.")
        return target

    # ================================================================== unsaved edits (asked on quit)
    def unsaved_changes(self) -> str | None:
        """What would be lost if the app closed now ("the template “X”"), or None."""
        if self.stack.currentWidget() is self.editor and self.editor.dirty:
            return f"the template “{self.editor.draft.name or NEW_NAME}”"
        return None

    def save_changes(self, on_done: Callable[[bool], None]) -> None:
        """Save the open template as its Save button does; ``on_done(saved)`` once it is written or refused
        (the editor says why in its banner)."""
        editor = self.editor

        def finish(saved: bool) -> None:
            editor.saved.disconnect(on_saved)
            editor.save_refused.disconnect(on_refused)
            on_done(saved)

        def on_saved(_path: object) -> None:
            finish(True)

        def on_refused(_text: str) -> None:
            finish(False)

        editor.saved.connect(on_saved)
        editor.save_refused.connect(on_refused)
        self.stack.setCurrentWidget(editor)
        editor.save()

    # ================================================================== slots
    def _on_search_edit_text_changed(self, text: str) -> None:
        self.proxy.setFilterFixedString(text.strip())

    def _on_table_current_row_changed(self, current: QModelIndex, previous: QModelIndex) -> None:
        self._update_buttons()

    def _on_table_double_clicked(self, index: QModelIndex) -> None:
        self.open_selected()

    def _on_editor_back_requested(self) -> None:
        self.stack.setCurrentWidget(self.list_view)
        self.refresh()
        if self.editor.path is not None:
            self.select_path(self.editor.path)

    def _on_editor_saved(self, path: Path) -> None:
        self.refresh()
        self.select_path(path)

    def _on_ctx_template_changed(self) -> None:
        self.refresh()
        if self.ctx.template_path is not None:
            self.select_path(self.ctx.template_path)

    def showEvent(self, event: QShowEvent) -> None:  # noqa: N802 - Qt's name
        super().showEvent(event)
        if self.stack.currentWidget() is self.list_view:
            self.refresh()
