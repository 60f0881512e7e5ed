"""Apply This Preview (issue 24): write the previewed records with the previewed values, after a check.

The preview dialog's *Apply This Preview* starts a :class:`PreviewApplier`. It runs ``SyncEngine.check_preview`` on
the app's pool (never on the GUI thread), then asks, without blocking:

* the preview is refused (older than the template saved now or than the orgs' metadata): a message naming each
  reason, with *Preview Again* (a fresh preview of the template as saved now) and Close;
* records changed since the preview (their source or target moved on): :class:`ChangedSincePreviewDialog` lists
  them, with *Re-preview These* (a preview of just those records, in a new preview dialog), *Leave Them Out and
  Apply* and Cancel;
* nothing changed: a confirm naming the target org and the records to insert and update.

The apply itself is not run here: an :class:`ApplyRequest` goes to the Execute tab
(``AppContext.apply_preview_requested``), which runs it as any sync job (live progress, summary, errors, retry,
rollback), then the preview dialog closes.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QColor
from PySide6.QtWidgets import (QAbstractItemView, QDialog, QHBoxLayout, QHeaderView, QLabel, QMessageBox,
                               QPushButton, QVBoxLayout, QWidget)

from ...engine.run.settings import saved_template
from ...engine.template import Template, TemplateError, parse_template
from ..context import AppContext
from ..questions import ask_without_blocking
from ..style import MUTED, WARNING
from ..tables import AnyIndex, RowsTableModel, read_only_table

if TYPE_CHECKING:
    from ...engine.run.apply import ChangedRecord, PreviewCheck

logger = logging.getLogger(__name__)

APPLY_TIP = ("Apply This Preview: run the sync that writes exactly the records this preview shows, with the values "
             "it shows, to {target}. Records changed since the preview are shown first; it runs as a job on the "
             "Execute tab, which you can abort and roll back")
WHERE_LABELS = {"source": "Source changed", "target": "Target changed", "both": "Both changed",
                "gone": "No longer there"}
WHERE_TIPS = {"source": "The source record was edited after the preview",
              "target": "The target record was edited after the preview",
              "both": "Both the source and the target record were edited after the preview",
              "gone": "The record was deleted (from the source or the target) after the preview"}


@dataclass
class ApplyRequest:
    """Apply This Preview, confirmed: what the Execute tab runs. It sets ``started`` when the run started, or
    ``refusal`` (one sentence) when it cannot start now."""

    preview_id: int
    source: str
    target: str
    order: list[str]
    current: dict[str, Any] | None
    """The template as saved now (JSON), so a template changed since the preview is refused."""
    leave_out: list[tuple[str, str]] = field(default_factory=list)
    """(object, source id) of the records not to write (changed since the preview, the user left them out)."""
    started: bool = False
    refusal: str | None = None


def current_template(ctx: AppContext, name: str) -> Template | None:
    """The template ``name`` as saved now: the open one when it is that template, else the templates folder's."""
    template = ctx.template
    if template is not None and template.name == name:
        return template
    found = saved_template(name)
    return found[0] if found else None


def _check_task(report: Callable[[Any], None], cancel: Any, ctx: AppContext, source: str, target: str,
                preview_id: int, current_json: dict[str, Any] | None) -> PreviewCheck:
    """On a pool thread: ``SyncEngine.check_preview``: what refuses the preview, which records changed since."""
    engine = ctx.engine(source, target, cancel=cancel)
    try:
        current = parse_template(current_json) if current_json is not None else None
    except TemplateError as exc:
        raise RuntimeError(f"the template as saved now cannot be read: {exc}") from None
    return engine.check_preview(preview_id, current=current)


def _to_write(check: PreviewCheck) -> tuple[int, int, str]:
    """(records to insert, to update, per object "Account 3 to insert, 2 to update; …") of a check."""
    inserts = updates = 0
    parts = []
    for name, actions in check.to_write.items():
        insert, update = int(actions.get("insert", 0)), int(actions.get("update", 0))
        inserts, updates = inserts + insert, updates + update
        if insert or update:
            parts.append(f"{name} {insert:,} to insert, {update:,} to update")
    return inserts, updates, "; ".join(parts)


def _plural(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' if count != 1 else ''}"


# ====================================================================== the changed records
class ChangedRecordsModel(RowsTableModel["ChangedRecord"]):
    """The records changed since a preview: object, record (its name), where it changed, what changed."""

    HEADERS = ("Object", "Record", "Changed", "What changed")
    HEADER_TIPS = {2: "Where the record changed after the preview: the source, the target, both, or it is gone"}

    def set_records(self, records: list[ChangedRecord]) -> None:
        self._set_rows(list(records))

    def data(self, index: AnyIndex, role: int = Qt.ItemDataRole.DisplayRole) -> Any:
        record = self._row_at(index)
        if record is None:
            return None
        column = index.column()
        if role == Qt.ItemDataRole.DisplayRole:
            detail = record.detail[:1].upper() + record.detail[1:]      # a sentence, as the engine words it
            return (record.object, record.label or record.source_id, WHERE_LABELS.get(record.where, record.where),
                    detail)[column]
        if role == Qt.ItemDataRole.ForegroundRole and column == 2:
            return QColor(WARNING)
        if role == Qt.ItemDataRole.ToolTipRole:
            if column == 1:
                return f"{record.label}\nSource Id {record.source_id}\nPreviewed: {record.action}"
            if column == 2:
                return WHERE_TIPS.get(record.where, record.where)
            if column == 3:
                return record.detail
        return None


class ChangedSincePreviewDialog(QDialog):
    """Records of a preview whose source or target changed after it: re-preview those, leave them out and apply
    the rest, or cancel (Escape). ``choice`` says which button closed it: ``"repreview"``, ``"leave_out"`` or None.
    Window-modal, opened with ``open()``."""

    REPREVIEW, LEAVE_OUT = "repreview", "leave_out"

    def __init__(self, preview_id: int, target: str, changed: list[ChangedRecord], to_write: tuple[int, int],
                 parent: QWidget | None = None):
        super().__init__(parent)
        self.choice: str | None = None
        self.changed = list(changed)
        count = len(self.changed)
        self.setWindowTitle(f"Changed since preview #{preview_id}")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        self.setSizeGripEnabled(True)
        self.resize(860, 440)
        layout = QVBoxLayout(self)
        layout.setSpacing(8)
        self.title_label = QLabel(f"<b>{_plural(count, 'record')} changed since preview #{preview_id}</b>")
        self.title_label.setTextFormat(Qt.TextFormat.RichText)
        layout.addWidget(self.title_label)
        objects = sorted({record.object for record in self.changed})
        intro = QLabel(f"{'Its' if count == 1 else 'Their'} source or target record was edited or deleted after the "
                       f"preview ({', '.join(objects)}), so what the preview shows for "
                       f"{'it' if count == 1 else 'them'} may no longer be what the sync would write. Nothing is "
                       "written blind: re-preview these records, or leave them out and apply the rest of the "
                       "preview.")
        intro.setWordWrap(True)
        layout.addWidget(intro)
        self.model = ChangedRecordsModel(self)
        self.model.set_records(self.changed)
        self.view = read_only_table(self.model, QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setAlternatingRowColors(True)
        self.view.setWordWrap(False)
        self.view.setTextElideMode(Qt.TextElideMode.ElideRight)
        header = self.view.horizontalHeader()
        for column in (0, 1, 2):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        header.setStretchLastSection(True)
        layout.addWidget(self.view, 1)
        inserts, updates = to_write
        note = QLabel(f"Leave Them Out and Apply writes the rest to <b>{html.escape(target)}</b> as previewed "
                      f"({_plural(inserts, 'record')} to insert, {updates:,} to update) as a sync job on the "
                      "Execute tab; the records above are not written and the job lists them as skipped.")
        note.setWordWrap(True)
        note.setStyleSheet(f"color: {MUTED};")
        layout.addWidget(note)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.repreview_button = QPushButton("&Re-preview These")
        self.repreview_button.setToolTip(f"Preview just these {_plural(count, 'record')} again, as they are now "
                                         "(a new preview; nothing is written)")
        self.leave_out_button = QPushButton("&Leave Them Out and Apply")
        self.leave_out_button.setToolTip(f"Apply the preview to {target} without these {_plural(count, 'record')}")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Close this and write nothing (Escape)")
        self.repreview_button.clicked.connect(lambda: self._choose(self.REPREVIEW))
        self.leave_out_button.clicked.connect(lambda: self._choose(self.LEAVE_OUT))
        self.cancel_button.clicked.connect(self.reject)
        for button in (self.repreview_button, self.leave_out_button, self.cancel_button):
            button.setAutoDefault(False)
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.repreview_button.setDefault(True)
        self.view.setFocus()
        if self.changed:
            self.view.selectRow(0)

    def _choose(self, choice: str) -> None:
        self.choice = choice
        self.accept()

    def only(self) -> dict[str, set[str]]:
        """The changed records by object: the ``only=`` of their re-preview."""
        found: dict[str, set[str]] = {}
        for record in self.changed:
            found.setdefault(record.object, set()).add(record.source_id)
        return found


# ====================================================================== the flow
class PreviewApplier(QObject):
    """Apply This Preview for one preview dialog: the check on the pool, then the refusal, the changed records or
    the confirm (each opened without blocking, kept as an attribute while open), then the :class:`ApplyRequest`
    to the Execute tab. ``launcher_class`` (dialog.py's ``PreviewLauncher``) starts Preview Again and Re-preview
    These.

    Signals:
        checked(object): the check ended: its ``PreviewCheck`` (None when it could not run).
        failed(str): the check could not run, or the Execute tab could not start the apply: the reason.
        asked(object): a question was opened: the refusal box, the changed-records dialog or the confirm box.
        repreviewing(object): a new preview started (Preview Again, Re-preview These): its ``PreviewLauncher``.
        handed(object): the :class:`ApplyRequest` went to the Execute tab (``started`` says whether it started).
    """

    checked = Signal(object)
    failed = Signal(str)
    asked = Signal(object)
    repreviewing = Signal(object)
    handed = Signal(object)

    def __init__(self, ctx: AppContext, dialog: Any, launcher_class: Callable[..., Any]):
        super().__init__(dialog)
        self.ctx = ctx
        self.dialog = dialog        # the PreviewDialog (dialog.py, which imports this module)
        self.launcher_class = launcher_class
        self.preview = dialog.preview
        self.worker: Any = None
        self.check: PreviewCheck | None = None
        self.refusal_box: QMessageBox | None = None
        self.changed_dialog: ChangedSincePreviewDialog | None = None
        self.confirm_box: QMessageBox | None = None
        self.launcher: Any = None
        self.current: Template | None = None

    @property
    def running(self) -> bool:
        return self.worker is not None

    def start(self) -> None:
        """Check the preview on the pool; the question that follows opens when it ends."""
        if self.worker is not None:
            return
        self.current = current_template(self.ctx, self.preview.template_name)
        self.worker = self.ctx.tasks.start(_check_task, self.ctx, self.preview.source.alias,
                                           self.preview.target.alias, self.preview.id,
                                           self.current.as_json() if self.current is not None else None,
                                           on_finished=self._on_worker_finished, on_error=self._on_worker_error,
                                           on_done=self._on_worker_done)
        self.ctx.info(f"Checking preview #{self.preview.id} against both orgs before applying it…")

    def _on_worker_done(self) -> None:
        self.worker = None
        if not self.ctx.closing:
            self.dialog.update_apply_button()

    def _on_worker_error(self, text: str) -> None:
        if self.ctx.closing:
            return
        self.ctx.error(f"Preview #{self.preview.id} could not be checked: {text}")
        self.failed.emit(text)
        self.checked.emit(None)

    def _on_worker_finished(self, check: PreviewCheck) -> None:
        if self.ctx.closing:
            return
        self.check = check
        self.checked.emit(check)
        if check.refusals:
            self._ask_refused(check)
        elif check.changed:
            self._ask_changed(check)
        else:
            self._ask_confirm(check)

    # ------------------------------------------------------------------ refused
    def _ask_refused(self, check: PreviewCheck) -> None:
        reasons = "".join(f"<li>{html.escape(reason)}</li>" for reason in check.refusals)
        self.refusal_box = ask_without_blocking(
            self.dialog, f"Preview #{self.preview.id} cannot be applied",
            f"<b>Preview #{self.preview.id} cannot be applied</b>: it no longer shows what a sync would do.<ul "
            f"style='margin-left:-20px'>{reasons}</ul>Preview Again makes a new preview of the template as saved "
            "now; nothing is written.", self._on_refusal_box_answered, yes="Preview &Again",
            no=QMessageBox.StandardButton.Close, icon=QMessageBox.Icon.Warning, default_yes=True,
            yes_tip="A fresh preview of the template as saved now, between the same orgs", rich_text=True)
        self.ctx.warn(f"Preview #{self.preview.id} cannot be applied: {'; '.join(check.refusals)}")
        self.asked.emit(self.refusal_box)

    def _on_refusal_box_answered(self, _box: QMessageBox, again: bool) -> None:
        self.refusal_box = None
        if again:
            template = self.current.as_json() if self.current is not None else self.preview.template
            self._repreview(template, None)
            if self.dialog.parentWidget() is not None:    # stale: the new preview replaces it (its launcher lives on)
                self.dialog.close()

    # ------------------------------------------------------------------ changed since the preview
    def _ask_changed(self, check: PreviewCheck) -> None:
        inserts, updates, _per_object = _to_write(check)
        dialog = ChangedSincePreviewDialog(self.preview.id, self.preview.target.alias, check.changed,
                                           (inserts, updates), self.dialog)
        dialog.finished.connect(lambda _result: self._on_changed_dialog_finished(dialog))
        self.changed_dialog = dialog
        dialog.open()
        self.ctx.info(f"Preview #{self.preview.id}: {_plural(len(check.changed), 'record')} changed since the "
                      "preview; choose to re-preview or leave them out.")
        self.asked.emit(dialog)

    def _on_changed_dialog_finished(self, dialog: ChangedSincePreviewDialog) -> None:
        self.changed_dialog = None
        dialog.deleteLater()
        if dialog.choice == dialog.REPREVIEW:
            template = self.current.as_json() if self.current is not None else self.preview.template
            self._repreview(template, dialog.only())
        elif dialog.choice == dialog.LEAVE_OUT:
            self._hand_to_execute([(record.object, record.source_id) for record in dialog.changed])
        else:
            self.ctx.info(f"Preview #{self.preview.id} was not applied: nothing was written.")

    # ------------------------------------------------------------------ nothing changed
    def _ask_confirm(self, check: PreviewCheck) -> None:
        inserts, updates, per_object = _to_write(check)
        target = html.escape(self.preview.target.alias)
        text = (f"<b>Apply preview #{self.preview.id} to {target}?</b><br><br>"
                f"The sync writes {_plural(inserts, 'new record')} and updates {_plural(updates, 'record')} in "
                f"<b>{target}</b> with the values the preview shows"
                + (f" ({html.escape(per_object)})" if per_object else "") + ". Records unchanged or not going are "
                "not written. It runs as a job on the Execute tab: you can abort it and roll it back.")
        self.confirm_box = ask_without_blocking(self.dialog, f"Apply preview #{self.preview.id}?", text,
                                                self._on_confirm_box_answered, yes="&Apply",
                                                no=QMessageBox.StandardButton.Cancel, rich_text=True)
        self.asked.emit(self.confirm_box)

    def _on_confirm_box_answered(self, _box: QMessageBox, yes: bool) -> None:
        self.confirm_box = None
        if yes:
            self._hand_to_execute([])
        else:
            self.ctx.info(f"Preview #{self.preview.id} was not applied: nothing was written.")

    # ------------------------------------------------------------------ onwards
    def _repreview(self, template: dict[str, Any], only: dict[str, set[str]] | None) -> None:
        self.launcher = self.launcher_class(self.ctx, self.preview.source.alias, self.preview.target.alias, template,
                                        only=only, parent=self.dialog.parentWidget())
        self.launcher.start()
        self.repreviewing.emit(self.launcher)

    def _hand_to_execute(self, leave_out: list[tuple[str, str]]) -> None:
        request = ApplyRequest(self.preview.id, self.preview.source.alias, self.preview.target.alias,
                               list((self.preview.plan or {}).get("order") or
                                    (self.preview.header or {}).get("order") or []),
                               self.current.as_json() if self.current is not None else None, leave_out)
        self.ctx.apply_preview_requested.emit(request)
        if not request.started:
            why = request.refusal or "the Execute tab is not open"
            self.ctx.warn(f"Preview #{self.preview.id} was not applied: {why}.")
            self.failed.emit(why)
        self.handed.emit(request)
        if request.started:
            self.dialog.close()


__all__ = ["APPLY_TIP", "ApplyRequest", "ChangedRecordsModel", "ChangedSincePreviewDialog", "PreviewApplier",
           "current_template"]
