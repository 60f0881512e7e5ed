"""The Masking tab of the template editor: how each field of the current object line is masked (engine/masking.py).

Each field of the line is kept (the default) or masked with one of :data:`~isyncsf_desktop.engine.masking.KINDS`
and its parameter (the fixed value, the N last characters kept, the days a date moves, the ± percent of a number).
The *Sample* column shows what a sample source value becomes with the template's secret and locale: the same
:class:`~isyncsf_desktop.engine.masking.Masker` the run uses, made on the app's pool (the secret comes from the
keyring, and is made there on first use). The *Check* column says why a rule cannot be used on the target org's
field (:func:`~isyncsf_desktop.engine.masking.check_rule`: blank on a required field, a kind that cannot fit, a
rule that breaks the match key), or what :func:`~isyncsf_desktop.engine.masking.suggest_masking` proposes for a
field that looks personal; *Mask the suggested fields* applies the proposals. :meth:`MaskingPanel.problem` refuses
saving a template with a rule that cannot be used, naming the line and the field.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

from PySide6.QtCore import QAbstractTableModel, QModelIndex, QPersistentModelIndex, Qt, Signal
from PySide6.QtGui import QBrush, QColor, QFont
from PySide6.QtWidgets import (QAbstractItemView, QComboBox, QFileDialog, QGroupBox, QHBoxLayout, QHeaderView, QLabel,
                               QPushButton, QStyledItemDelegate, QStyleOptionViewItem, QTableView, QVBoxLayout,
                               QWidget)

from ...engine import masking
from ...engine.masking import KINDS, PARAMS, Masker, MaskRule, MaskRuleError, check_rule, parse_rule, suggest_masking
from ...engine.template import ObjectLine, Template
from ...salesforce.secrets import keyring_status
from ..context import AppContext
from ..style import ACCENT, ERROR, MUTED, SUCCESS, WARNING
from .catalog import CachedOrg, DescribeCache, field_choices
from .dialogs import Prompts

logger = logging.getLogger(__name__)

OrgPair = Callable[[], "tuple[str | None, str | None]"]
"""(source alias, target alias) of the template being edited, asked when needed."""

SHORT_LABELS = {**KINDS, "keep": "Keep", "date_shift": "Date shift", "number": "Number ± %",
                "hash": "Pseudonym (hash)", "keep_last": "Keep last N"}
"""The kinds' names in the table (the full labels of :data:`KINDS` are their tooltips)."""
PARAM_LABELS = {"fixed": "value", "keep_last": "last", "date_shift": "± days", "number": "± %"}
SECRET_FILTER = "Masking secret (*.txt);;All files (*)"
EXPORT_WARNING = ("Whoever has this secret and the source data can tell which masked value belongs to which source "
                  "value. Share it only over a safe channel, and delete the file once it is imported.")
_SAMPLES = {"first_name": "Maria", "last_name": "Schmidt", "full_name": "Maria Schmidt",
            "email": "maria.schmidt@acme.com", "phone": "(415) 555-0134", "street": "12 Harbour Road",
            "city": "Springfield", "postal_code": "94105", "company": "Acme Corporation",
            "text": "Prefers a call after 5 pm.", "hash": "Maria Schmidt", "keep_last": "123-45-6789"}
_TYPE_SAMPLES: dict[str, Any] = {"email": "maria.schmidt@acme.com", "phone": "(415) 555-0134", "date": "1985-04-12",
                                 "datetime": "1985-04-12T09:30:00.000Z", "double": 52000.0, "currency": 52000.0,
                                 "percent": 12.5, "int": 42, "long": 42}


def sample_source(kind: str, field_type: str) -> Any:
    """The made-up source value the Sample column masks for a rule of ``kind`` on a field of ``field_type``."""
    if field_type in _TYPE_SAMPLES:
        return _TYPE_SAMPLES[field_type]
    return _SAMPLES.get(kind, "Maria Schmidt")


def _masker_task(report: Any, cancel: Any, ctx: AppContext, name: str, locale: str) -> tuple[Masker, bool, str]:
    """The template's masker (its secret from the keyring, made on first use) and the keyring's state."""
    usable, text = keyring_status()
    secret = masking.template_secret(name)
    assert secret is not None
    return Masker(secret, locale), usable, text


def _target_describe_task(report: Any, cancel: Any, ctx: AppContext, cache: DescribeCache, alias: str,
                          object_name: str) -> dict[str, Any]:
    return CachedOrg(alias, ctx.client(alias), cache).describe(object_name)


# ====================================================================== the table
@dataclass
class MaskRow:
    """One field of the line: its describe (``meta``), its rule (None: kept) and what the panel says of it."""

    name: str
    label: str
    type: str
    meta: dict[str, Any]
    rule: MaskRule | None = None
    suggestion: MaskRule | None = None
    problem: str | None = None
    sample: str = ""
    note: str = ""


class MaskingModel(QAbstractTableModel):
    """The fields of one line with their masking rules; editing the Masking and Parameter columns changes the rule
    (the panel writes it into the line).

    Signals:
        rule_edited(str): the rule of this field changed.
    """

    rule_edited = Signal(str)

    HEADERS = ("Field", "Type", "Masking", "Parameter", "Sample (made-up source → masked)", "Check")
    FIELD, TYPE, KIND, PARAM, SAMPLE, CHECK = range(6)

    def __init__(self, parent: Any = None) -> None:
        super().__init__(parent)
        self._rows: list[MaskRow] = []

    def set_rows(self, rows: list[MaskRow]) -> None:
        self.beginResetModel()
        self._rows = rows
        self.endResetModel()

    def rows(self) -> list[MaskRow]:
        return list(self._rows)

    def row_of(self, name: str) -> int | None:
        return next((i for i, r in enumerate(self._rows) if r.name.lower() == name.lower()), None)

    def refresh(self) -> None:
        if self._rows:
            self.dataChanged.emit(self.index(0, 0), self.index(len(self._rows) - 1, len(self.HEADERS) - 1))

    def rowCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._rows)

    def columnCount(self, parent: QModelIndex | QPersistentModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.HEADERS)

    def headerData(self, section: int, orientation: Qt.Orientation,  # noqa: N802 - Qt's name
                   role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if orientation == Qt.Orientation.Horizontal and role == Qt.ItemDataRole.DisplayRole:
            return self.HEADERS[section]
        return None

    def flags(self, index: QModelIndex | QPersistentModelIndex) -> Qt.ItemFlag:
        base = super().flags(index)
        if not index.isValid():
            return base
        row = self._rows[index.row()]
        if index.column() == self.KIND or (index.column() == self.PARAM and row.rule is not None
                                           and row.rule.kind in PARAMS):
            return base | Qt.ItemFlag.ItemIsEditable
        return base

    def data(self, index: QModelIndex | QPersistentModelIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        if not index.isValid():
            return None
        row, column = self._rows[index.row()], index.column()
        rule = row.rule
        if role == Qt.ItemDataRole.EditRole:
            if column == self.KIND:
                return rule.kind if rule else "keep"
            if column == self.PARAM and rule is not None and rule.kind in PARAMS:
                value = rule.param(next(iter(PARAMS[rule.kind])))
                return "" if value is None else str(value)
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            if column == self.FIELD:
                return row.name
            if column == self.TYPE:
                return row.type
            if column == self.KIND:
                return SHORT_LABELS[rule.kind] if rule else "Keep"
            if column == self.PARAM:
                if rule is None or rule.kind not in PARAMS:
                    return ""
                value = rule.param(next(iter(PARAMS[rule.kind])))
                return f"{PARAM_LABELS[rule.kind]}: {'—' if value is None else value}"
            if column == self.SAMPLE:
                return row.sample
            if column == self.CHECK:
                if row.problem:
                    return row.problem
                if rule is None and row.suggestion is not None:
                    return "Match key: not proposed" if row.note else f"Suggested: {SHORT_LABELS[row.suggestion.kind]}"
                return "OK" if rule is not None else ""
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == self.FIELD:
                return f"{row.label} ({row.name})"
            if column == self.CHECK:
                if rule is None and row.note:
                    return row.note
                if rule is None and row.suggestion is not None:
                    return f"Suggested: {KINDS[row.suggestion.kind]} ({row.suggestion.reason})"
                return self.data(index) or None
            if column == self.SAMPLE:
                return self.data(index) or None
            if column == self.KIND:
                return f"{KINDS[rule.kind] if rule else KINDS['keep']}. Double-click to change how this field is masked"
        if role == Qt.ItemDataRole.ForegroundRole:
            if column == self.CHECK:
                if row.problem:
                    return QBrush(QColor(ERROR))
                return QBrush(QColor(MUTED if row.note and rule is None else ACCENT if rule is None else SUCCESS))
            if rule is None and column in (self.KIND, self.TYPE):
                return QBrush(QColor(MUTED))
        if role == Qt.ItemDataRole.FontRole and column in (self.FIELD, self.KIND) and rule is not None:
            font = QFont()
            font.setBold(True)
            return font
        return None

    def setData(self, index: QModelIndex | QPersistentModelIndex, value: Any,  # noqa: N802 - Qt's name
                role: int = Qt.ItemDataRole.EditRole) -> bool:
        if not index.isValid() or role != Qt.ItemDataRole.EditRole:
            return False
        row = self._rows[index.row()]
        if index.column() == self.KIND:
            kind = str(value)
            if kind not in KINDS:
                return False
            if kind == "keep":
                row.rule = None
            elif row.rule is None or row.rule.kind != kind:
                defaults = {k: v for k, v in PARAMS.get(kind, {}).items() if v is not None}
                if row.suggestion is not None and row.suggestion.kind == kind:
                    defaults = dict(row.suggestion.params)
                row.rule = MaskRule(row.name, kind, defaults)
        elif index.column() == self.PARAM and row.rule is not None and row.rule.kind in PARAMS:
            name = next(iter(PARAMS[row.rule.kind]))
            text = str(value).strip()
            params = dict(row.rule.params)
            if not text:
                params.pop(name, None)
            elif row.rule.kind == "fixed":
                params[name] = text
            else:
                try:
                    number = float(text.replace(",", "."))
                except ValueError:
                    return False
                params[name] = int(number) if number.is_integer() else number
            row.rule = MaskRule(row.name, row.rule.kind, params)
        else:
            return False
        self.dataChanged.emit(self.index(index.row(), 0), self.index(index.row(), len(self.HEADERS) - 1))
        self.rule_edited.emit(row.name)
        return True


class KindDelegate(QStyledItemDelegate):
    """Edits the Masking column with a combo box of the masking kinds."""

    def createEditor(self, parent: QWidget, option: QStyleOptionViewItem,  # noqa: N802 - Qt's name
                     index: QModelIndex | QPersistentModelIndex) -> QWidget:
        combo = QComboBox(parent)
        for kind, label in KINDS.items():
            combo.addItem(SHORT_LABELS[kind], kind)
            combo.setItemData(combo.count() - 1, label, Qt.ItemDataRole.ToolTipRole)
        return combo

    def setEditorData(self, editor: QWidget, index: QModelIndex | QPersistentModelIndex) -> None:  # noqa: N802
        if isinstance(editor, QComboBox):
            editor.setCurrentIndex(max(0, editor.findData(index.data(Qt.ItemDataRole.EditRole))))

    def setModelData(self, editor: QWidget, model: Any,  # noqa: N802 - Qt's name
                     index: QModelIndex | QPersistentModelIndex) -> None:
        if isinstance(editor, QComboBox):
            model.setData(index, editor.currentData(), Qt.ItemDataRole.EditRole)


# ====================================================================== the panel
class MaskingPanel(QWidget):
    """The Masking tab: the rules of the current line (shown by :meth:`set_line`), the template's locale and its
    secret (export, import).

    Signals:
        edited(): the draft's rules or locale changed.
        samples_ready(): the Sample column shows the values of the template's current secret and locale.
        target_checked(str): the rules of this object were checked against the target org's describe.
        secret_changed(str): the masking secret was exported ("exported") or imported ("imported").
        busy_changed(bool): whether the panel waits for the pool.
    """

    edited = Signal()
    samples_ready = Signal()
    target_checked = Signal(str)
    secret_changed = Signal(str)
    busy_changed = Signal(bool)

    def __init__(self, ctx: AppContext, cache: DescribeCache, prompts: Prompts, orgs: OrgPair,
                 parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.ctx = ctx
        self.cache = cache
        self.prompts = prompts
        self._orgs = orgs
        self.draft = Template(name="New template", objects=[])
        self.line: ObjectLine | None = None
        self.describe: dict[str, Any] | None = None
        self._maskers: dict[tuple[str, str], Masker] = {}
        self._pending_maskers: set[tuple[str, str]] = set()
        self._target_failed: dict[tuple[str, str], str] = {}
        self._pending_targets: set[tuple[str, str]] = set()
        self._keyring_note = ""
        self._message = ""             # what the last action did (Mask the suggested fields)
        self._busy = 0
        self._filling = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)
        intro = QLabel("Personal data is masked on this computer before a record is sent: the target org, the journal "
                       "and the logs only see masked values. The same source value always gets the same masked value "
                       "(the template's secret, kept in the keyring), so re-syncs change nothing that did not change.")
        intro.setWordWrap(True)
        intro.setProperty("role", "subtle")
        layout.addWidget(intro)
        layout.addWidget(self._build_template_box())
        layout.addWidget(self._build_line_box(), 1)
        self._show_secret("The secret is kept in the keyring (never in the template file).", MUTED)
        self._show_line_state()

    # ================================================================== construction
    def _build_template_box(self) -> QGroupBox:
        from faker.config import AVAILABLE_LOCALES

        box = QGroupBox("For the whole template")
        row = QHBoxLayout(box)
        row.setSpacing(8)
        row.addWidget(QLabel("Fake data locale:"))
        self.locale_combo = QComboBox()
        self.locale_combo.addItems(sorted(AVAILABLE_LOCALES))
        self.locale_combo.setToolTip("The country whose names, addresses and phone numbers the fake values look like")
        row.addWidget(self.locale_combo)
        row.addSpacing(16)
        self.export_button = QPushButton("Export secret…")
        self.export_button.setToolTip("Write the template's masking secret to a file, to give to a colleague who "
                                      "must get the same masked values. " + EXPORT_WARNING)
        self.import_button = QPushButton("Import secret…")
        self.import_button.setToolTip("Use the masking secret a colleague exported: your masked values become "
                                      "theirs")
        row.addWidget(self.export_button)
        row.addWidget(self.import_button)
        self.secret_label = QLabel()
        self.secret_label.setWordWrap(True)
        self.secret_label.setProperty("role", "subtle")
        row.addWidget(self.secret_label, 1)
        self.locale_combo.currentTextChanged.connect(self._on_locale_combo_current_text_changed)
        self.export_button.clicked.connect(self._on_export_button_clicked)
        self.import_button.clicked.connect(self._on_import_button_clicked)
        return box

    def _build_line_box(self) -> QGroupBox:
        self.line_box = QGroupBox("Fields")
        column = QVBoxLayout(self.line_box)
        column.setSpacing(6)
        row = QHBoxLayout()
        row.setSpacing(8)
        self.suggest_label = QLabel()
        self.suggest_label.setWordWrap(True)
        self.suggest_label.setTextFormat(Qt.TextFormat.RichText)
        row.addWidget(self.suggest_label, 1)
        self.suggest_button = QPushButton("Mask the suggested fields")
        self.suggest_button.setProperty("accent", True)
        row.addWidget(self.suggest_button, 0, Qt.AlignmentFlag.AlignTop)
        column.addLayout(row)
        self.model = MaskingModel(self)
        self.view = QTableView()
        self.view.setModel(self.model)
        self.view.setItemDelegateForColumn(MaskingModel.KIND, KindDelegate(self.view))
        self.view.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setEditTriggers(QAbstractItemView.EditTrigger.DoubleClicked
                                  | QAbstractItemView.EditTrigger.SelectedClicked
                                  | QAbstractItemView.EditTrigger.EditKeyPressed)
        self.view.verticalHeader().hide()
        self.view.verticalHeader().setDefaultSectionSize(26)
        self.view.setShowGrid(False)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        header = self.view.horizontalHeader()
        header.setDefaultAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter)
        for col, width in ((MaskingModel.FIELD, 140), (MaskingModel.TYPE, 72), (MaskingModel.KIND, 130),
                           (MaskingModel.PARAM, 90), (MaskingModel.SAMPLE, 290)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Interactive)
            header.resizeSection(col, width)
        header.setStretchLastSection(True)
        column.addWidget(self.view, 1)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setProperty("role", "subtle")
        column.addWidget(self.status_label)
        self.suggest_button.clicked.connect(self._on_suggest_button_clicked)
        self.model.rule_edited.connect(self._on_model_rule_edited)
        return self.line_box

    # ================================================================== API
    def set_template(self, draft: Template) -> None:
        """Edit the masking of ``draft`` (its lines' ``mask`` and its ``mask_locale`` are changed in place)."""
        self.draft = draft
        self._filling = True
        try:
            self.locale_combo.setCurrentText(draft.mask_locale)
        finally:
            self._filling = False
        self.set_line(None, None)

    def set_line(self, line: ObjectLine | None, describe: dict[str, Any] | None) -> None:
        """Show the rules of ``line`` (None: no line) with the fields of the source org's ``describe`` (None: not
        read yet)."""
        if line is not self.line:
            self._message = ""
        self.line = line
        self.describe = describe if line is not None else None
        self.refresh()
        if line is not None and describe is not None:
            self._ensure_target(line.object)

    def refresh(self) -> None:
        """Read the line again (its fields or match key may have changed) and show it."""
        line, describe = self.line, self.describe
        rows: list[MaskRow] = []
        if line is not None and describe is not None:
            metas = {str(m.get("name", "")).lower(): m for m in describe.get("fields", [])}
            suggestions = {r.field.lower(): r for r in suggest_masking(describe.get("fields", []), line.object)}
            wanted = {f.lower() for f in line.fields} if line.fields is not None else None
            names = [c.name for c in field_choices(describe, line.fields)
                     if wanted is None or c.name.lower() in wanted]
            names += [name for name in line.mask if name.lower() not in {n.lower() for n in names}]
            keys = self._match_keys()
            for name in names:
                meta = metas.get(name.lower(), {})
                rule = next((r for f, r in line.mask.items() if f.lower() == name.lower()), None)
                suggestion = suggestions.get(name.lower())
                note = ""
                if suggestion is not None and name.lower() in keys:
                    note = (f"The match key: not proposed ({suggestion.reason}; masked, records match on the "
                            "masked value)")
                rows.append(MaskRow(name, str(meta.get("label") or name), str(meta.get("type") or "?"), meta, rule,
                                    suggestion, note=note))
            # masked and proposed fields first, each group in the describe's order
            rows.sort(key=lambda r: 0 if r.rule is not None or r.suggestion is not None else 1)
        self.model.set_rows(rows)
        self._check_rows()
        self._show_line_state()

    def suggested(self) -> list[MaskRule]:
        """The proposals of :func:`suggest_masking` for kept fields of the line that are not its match key."""
        keys = self._match_keys()
        return [r.suggestion for r in self.model.rows()
                if r.rule is None and r.suggestion is not None and r.name.lower() not in keys]

    def apply_suggestions(self) -> int:
        """Mask the suggested fields as proposed; how many."""
        line = self.line
        if line is None:
            return 0
        todo = self.suggested()
        for rule in todo:
            line.mask[rule.field] = MaskRule(rule.field, rule.kind, dict(rule.params))
        if todo:
            self.refresh()
            self._message = (f"Masked {len(todo)} suggested field{'s' if len(todo) != 1 else ''}: change any of "
                             "them in the table (double-click its Masking or Parameter cell).")
            self._show_line_state()
            self.edited.emit()
        return len(todo)

    def set_rule(self, field_name: str, kind: str, **params: Any) -> None:
        """Set one field's rule as the table would (tests, keyboard-free use)."""
        row = self.model.row_of(field_name)
        if row is None:
            raise KeyError(field_name)
        self.model.setData(self.model.index(row, MaskingModel.KIND), kind)
        for value in params.values():
            self.model.setData(self.model.index(row, MaskingModel.PARAM), value)

    def row(self, field_name: str) -> MaskRow:
        index = self.model.row_of(field_name)
        if index is None:
            raise KeyError(field_name)
        return self.model.rows()[index]

    def problem(self) -> tuple[str, str | None] | None:
        """(why, object) when a rule of the draft cannot be saved: a bad parameter, a field the line does not copy,
        or a rule the target's field refuses (checked against the target's describe when read, else the
        source's)."""
        source, _target = self._orgs()
        for line in self.draft.objects:
            if not line.mask:
                continue
            listed = {f.lower() for f in line.fields} if line.fields is not None else None
            for name, rule in line.mask.items():
                try:
                    parse_rule(name, rule.as_json())
                except MaskRuleError as exc:
                    return f"{line.object}, masking of {name}: {exc}", line.object
                if listed is not None and name.lower() not in listed:
                    return (f"{line.object}, masking of {name}: {name} is not a field of this line (add it to the "
                            "fields or keep it)"), line.object
                meta = self._meta(line.object, name, source)
                if meta is None:
                    continue
                why = check_rule(rule, meta, match_key=name.lower() in self._match_keys(line))
                if why:
                    return f"{line.object}, masking of {name}: {why}", line.object
        return None

    @property
    def busy(self) -> bool:
        return self._busy > 0

    def target_alias(self) -> str | None:
        """The org the rules are checked against: the template's target, else the source."""
        source, target = self._orgs()
        if target and target in self.ctx.registry:
            return target
        return source

    # ================================================================== internals
    def _match_keys(self, line: ObjectLine | None = None) -> set[str]:
        line = line if line is not None else self.line
        return {k.lower() for k in (line.match_by or [])} if line is not None else set()

    def _meta(self, object_name: str, field_name: str, source: str | None) -> dict[str, Any] | None:
        """The field's describe: the target's when read, else the source's (None: neither is read)."""
        for alias in (self.target_alias(), source):
            describe = self.cache.describe(alias, object_name) if alias else None
            if describe is not None:
                return next((m for m in describe.get("fields", [])
                             if str(m.get("name", "")).lower() == field_name.lower()), {"name": field_name})
        return None

    def _check_rows(self) -> None:
        """Each row's refusal and sample."""
        line = self.line
        if line is None:
            return
        source, _target = self._orgs()
        keys = self._match_keys()
        masker = self._maskers.get(self._masker_key())
        needs_masker = False
        for row in self.model.rows():
            row.problem, row.sample = None, ""
            rule = row.rule
            if rule is None:
                continue
            meta = self._meta(line.object, row.name, source) or row.meta
            try:
                parse_rule(row.name, rule.as_json())
            except MaskRuleError as exc:
                row.problem = str(exc)
            else:
                row.problem = check_rule(rule, meta, match_key=row.name.lower() in keys)
            if row.problem:
                row.sample = "—"
                continue
            value = sample_source(rule.kind, row.type)
            if masker is None:
                row.sample = "…"
                needs_masker = True
                continue
            spec = masking.target_spec(rule, meta, match_key=row.name.lower() in keys)
            masked = masker.value(spec, value)
            row.sample = f"{value} → {'(blank)' if masked in (None, '') else masked}"
        self.model.refresh()
        if needs_masker:
            self._ensure_masker()

    def _masker_key(self) -> tuple[str, str]:
        return self.draft.name.strip(), self.draft.mask_locale

    def _ensure_masker(self) -> None:
        key = self._masker_key()
        if not key[0] or key in self._maskers or key in self._pending_maskers:
            return
        self._pending_maskers.add(key)
        self._start(_masker_task, *key, on_finished=partial(self._on_masker_finished, key),
                    on_error=partial(self._on_masker_failed, key))

    def _ensure_target(self, object_name: str) -> None:
        alias = self.target_alias()
        source, _target = self._orgs()
        if not alias or alias == source or self.cache.describe(alias, object_name) is not None:
            self._show_line_state()
            return
        key = (alias, object_name.lower())
        if key in self._pending_targets or key in self._target_failed:
            return
        self._pending_targets.add(key)
        self._start(_target_describe_task, self.cache, alias, object_name,
                    on_finished=partial(self._on_target_finished, key, object_name),
                    on_error=partial(self._on_target_failed, key))

    def _start(self, fn: Callable[..., Any], *args: Any, on_finished: Callable[[Any], Any],
               on_error: Callable[[str], Any]) -> None:
        self._busy += 1
        if self._busy == 1:
            self.busy_changed.emit(True)
        self.ctx.tasks.start(fn, self.ctx, *args, on_finished=on_finished, on_error=on_error,
                             on_done=self._on_task_done)

    def _on_task_done(self) -> None:
        self._busy -= 1
        if self._busy == 0:
            self.busy_changed.emit(False)

    def _show_line_state(self) -> None:
        line = self.line
        self.export_button.setEnabled(bool(self.draft.name.strip()))
        self.import_button.setEnabled(bool(self.draft.name.strip()))
        if line is None:
            self.line_box.setTitle("Fields")
            self.suggest_label.setText(f"<span style='color:{MUTED}'>Choose an object on the left to mask its "
                                       "fields.</span>")
            self.suggest_button.hide()
            return
        masked = sum(1 for r in self.model.rows() if r.rule is not None)
        self.line_box.setTitle(f"Fields of {line.object}: {masked} masked")
        if self.describe is None:
            self.suggest_label.setText(f"<span style='color:{MUTED}'>Reading {line.object} from the source "
                                       "org…</span>")
            self.suggest_button.hide()
            return
        todo = self.suggested()
        if todo:
            names = ", ".join(f"<b>{r.field}</b>" for r in todo)
            self.suggest_label.setText(f"These fields of {line.object} look personal: {names}. Their proposed "
                                       "masking is in the Check column.")
            self.suggest_button.show()
        else:
            self.suggest_label.setText(f"<span style='color:{MUTED}'>No other field of {line.object} looks "
                                       "personal. Double-click a field's Masking cell to mask it.</span>")
            self.suggest_button.hide()
        alias = self.target_alias()
        source, _target = self._orgs()
        key = (alias or "", line.object.lower())
        if alias and alias != source and key in self._target_failed:
            note = (f"Checked against {source}'s fields: {alias} could not be read ({self._target_failed[key]}).")
        elif alias and self.cache.describe(alias, line.object) is not None:
            note = f"Checked against the fields of {alias}."
        else:
            note = ""
        self.status_label.setText(" ".join(part for part in (self._message, note) if part))

    def _write_rule(self, field_name: str) -> None:
        line = self.line
        index = self.model.row_of(field_name)
        if line is None or index is None:
            return
        rule = self.model.rows()[index].rule
        for name in [n for n in line.mask if n.lower() == field_name.lower()]:
            del line.mask[name]
        if rule is not None:
            line.mask[field_name] = rule

    def _secret_path(self, save: bool) -> str | None:
        name = self.draft.name.strip()
        suggested = str(Path.home() / f"{name} masking secret.txt")
        if save:
            path, _ = QFileDialog.getSaveFileName(self, f"Export the masking secret of “{name}”", suggested,
                                                  SECRET_FILTER)
        else:
            path, _ = QFileDialog.getOpenFileName(self, f"Import a masking secret for “{name}”", str(Path.home()),
                                                  SECRET_FILTER)
        return path or None

    # ================================================================== slots
    def _on_suggest_button_clicked(self) -> None:
        self.apply_suggestions()

    def _on_model_rule_edited(self, field_name: str) -> None:
        self._write_rule(field_name)
        self._message = ""
        self._check_rows()
        self._show_line_state()
        self.edited.emit()

    def _on_locale_combo_current_text_changed(self, text: str) -> None:
        if self._filling:
            return
        self.draft.options["mask_locale"] = text
        self._check_rows()
        self.edited.emit()

    def _on_export_button_clicked(self) -> None:
        name = self.draft.name.strip()
        if not self.prompts.confirm(self, "Export the masking secret", f"{EXPORT_WARNING}\n\nExport the masking "
                                    f"secret of “{name}”?", "Export"):
            return
        path = self._secret_path(save=True)
        if path is None:
            return
        try:
            text = masking.export_secret(name)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                handle.write(text + "\n")
        except OSError as exc:
            self._show_secret(f"The secret could not be written: {exc}", ERROR)
            return
        logger.info("exported the masking secret of template %r", name)
        self._show_secret(f"Exported to {Path(path).name}. {EXPORT_WARNING}", WARNING)
        self.secret_changed.emit("exported")

    def _on_import_button_clicked(self) -> None:
        name = self.draft.name.strip()
        path = self._secret_path(save=False)
        if path is None:
            return
        try:
            masking.import_secret(name, Path(path).read_text("utf-8"))
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            self._show_secret(f"Not imported: {exc}", ERROR)
            return
        logger.info("imported a masking secret for template %r", name)
        self._maskers = {k: v for k, v in self._maskers.items() if k[0] != name}
        self._show_secret(f"Imported: “{name}” now masks values as whoever exported the secret does.", SUCCESS)
        self._check_rows()
        self.secret_changed.emit("imported")

    def _show_secret(self, text: str, colour: str) -> None:
        self.secret_label.setText(text)
        self.secret_label.setStyleSheet(f"color: {colour};")

    def _on_masker_finished(self, key: tuple[str, str], answer: tuple[Masker, bool, str]) -> None:
        masker, usable, text = answer
        self._pending_maskers.discard(key)
        self._maskers[key] = masker
        self._keyring_note = "" if usable else f"The keyring is not usable: {text} The masked values will differ " \
                                               "in a later session unless you export the secret now."
        if self._keyring_note:
            self._show_secret(self._keyring_note, WARNING)
        if key == self._masker_key():
            self._check_rows()
            self._show_line_state()
            self.samples_ready.emit()

    def _on_masker_failed(self, key: tuple[str, str], text: str) -> None:
        self._pending_maskers.discard(key)
        self._show_secret(f"The masking secret could not be read from the keyring: {text}", ERROR)

    def _on_target_finished(self, key: tuple[str, str], object_name: str, describe: dict[str, Any]) -> None:
        self._pending_targets.discard(key)
        if self.line is not None and self.line.object.lower() == object_name.lower():
            self._check_rows()
            self._show_line_state()
        self.target_checked.emit(object_name)

    def _on_target_failed(self, key: tuple[str, str], text: str) -> None:
        self._pending_targets.discard(key)
        self._target_failed[key] = text
        self._show_line_state()
        self.target_checked.emit(key[1])


__all__ = ["MaskRow", "MaskingModel", "MaskingPanel", "sample_source"]
