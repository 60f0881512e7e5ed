"""At start-up: offer to switch back on the automation a run switched off and never restored.

Automation control (:mod:`isyncsf_desktop.engine.automation`) journals each item before it switches
it off, under the setting ``automation:{target_org_id}``. A run the app did not finish (it closed or
crashed mid-sync) leaves that record behind. :func:`offer_pending_restores` finds those records,
asks the user per org, and restores on the app's thread pool; results go to the status area.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtWidgets import QMessageBox, QWidget

from ...engine.automation import (SETTING_PREFIX, AutomationItem, FixResult, discard_pending, pending_restore,
                                  restore_pending)
from ...salesforce.registry import OrgRegistry
from ..context import AppContext

logger = logging.getLogger(__name__)

RESTORE, LATER, FORGET = "restore", "later", "forget"
TITLE = "Automation still switched off"
_MAX_LISTED = 12


def ask_restore(parent: QWidget | None, title: str, text: str, details: str, can_restore: bool) -> str:
    """Ask what to do with automation left switched off: :data:`RESTORE`, :data:`LATER` or :data:`FORGET`.

    Without ``can_restore`` (no connected org to do it with) only "Not Now" and "Forget" are offered.
    Tests replace this function.
    """
    box = QMessageBox(QMessageBox.Icon.Warning, title, text, QMessageBox.StandardButton.NoButton, parent)
    box.setInformativeText(details)
    restore = box.addButton("Switch Back On", QMessageBox.ButtonRole.AcceptRole) if can_restore else None
    later = box.addButton("Not Now", QMessageBox.ButtonRole.RejectRole)
    forget = box.addButton("Forget…", QMessageBox.ButtonRole.DestructiveRole)
    box.setDefaultButton(restore or later)
    box.setEscapeButton(later)
    box.exec()
    clicked = box.clickedButton()
    if restore is not None and clicked is restore:
        return RESTORE
    if clicked is forget:
        return FORGET
    return LATER


def alias_for_org(registry: OrgRegistry, org_id: str, preferred: str | None = None) -> str | None:
    """The alias of a registered org with ``org_id`` (``preferred`` when it is one of them), or None."""
    aliases = [entry.alias for entry in registry.list() if entry.org_id == org_id]
    if preferred in aliases:
        return preferred
    return aliases[0] if aliases else None


def _items_text(items: list[AutomationItem]) -> str:
    lines = []
    for item in items[:_MAX_LISTED]:
        line = f"• {item.display_name}"
        if item.job_id is not None:
            line += f" (job #{item.job_id})"
        if item.note:
            line += f" — {item.note}"
        lines.append(line)
    if len(items) > _MAX_LISTED:
        lines.append(f"• … and {len(items) - _MAX_LISTED} more")
    return "\n".join(lines)


def _count(items: list[AutomationItem]) -> str:
    return f"{len(items)} automation item{'' if len(items) == 1 else 's'}"


def _restore_task(report: Callable[[Any], None], cancel: Any, ctx: AppContext, alias: str,
                  org_id: str) -> list[FixResult]:
    """On a pool thread: switch back on what the journal lists for ``org_id``, through ``alias``'s client."""
    return restore_pending(ctx.journal, ctx.client(alias), target_org_id=org_id)


def offer_pending_restores(ctx: AppContext, parent: QWidget | None) -> None:
    """For each target org the journal says still has automation switched off, ask the user what to do.

    "Switch Back On" restores on a worker (through the registered org with that org id; when there is
    none, the user is told which org and the items stay pending); "Not Now" leaves them for the next
    start; "Forget" drops the record after a second confirmation, leaving the org as it is.
    """
    for key, record in ctx.journal.settings(SETTING_PREFIX).items():
        org_id = key[len(SETTING_PREFIX):]
        items = pending_restore(ctx.journal, org_id)
        if not items:
            continue
        recorded_alias = record.get("alias") if isinstance(record, dict) else None
        alias = alias_for_org(ctx.registry, org_id, recorded_alias)
        org = alias or recorded_alias or org_id
        text = (f"A previous sync switched off {_count(items)} in {org} and did not switch them back on (the app "
                "closed during the run). Switch them back on now?")
        details = _items_text(items)
        if alias is None:
            text = (f"A previous sync switched off {_count(items)} in {org} (org id {org_id}) and did not switch them "
                    "back on (the app closed during the run). No connected org has that id, so they cannot be "
                    "switched back on from here: connect the org on the Orgs tab and restart the app, or switch "
                    "them on in its Setup.")
            ctx.warn(f"{_count(items).capitalize()} are still switched off in {org} (org id {org_id}) since a run "
                     "that did not finish; connect that org to switch them back on.")
        choice = ask_restore(parent, TITLE, text, details, alias is not None)
        logger.info("pending automation restore in %s (%s): %d item(s), the user chose %s", org, org_id, len(items),
                    choice)
        if choice == RESTORE and alias is not None:
            _start_restore(ctx, alias, org_id, items)
        elif choice == FORGET:
            _forget(ctx, parent, org, org_id, items)
        elif alias is not None:
            ctx.info(f"{_count(items).capitalize()} stay switched off in {org}; the app asks again at the next "
                     "start.")


def _start_restore(ctx: AppContext, alias: str, org_id: str, items: list[AutomationItem]) -> None:
    ctx.info(f"Switching back on {_count(items)} in {alias}…")

    def finished(results: list[FixResult]) -> None:
        _on_restore_finished(ctx, alias, results)

    def errored(text: str) -> None:
        ctx.error(f"The automation of {alias} could not be switched back on: {text}. It stays pending; the app "
                  "asks again at the next start.")

    ctx.tasks.start(_restore_task, ctx, alias, org_id, on_finished=finished, on_error=errored)


def _on_restore_finished(ctx: AppContext, alias: str, results: list[FixResult]) -> None:
    ok = [r for r in results if r.ok or r.status == "not found"]
    failed = [r for r in results if r not in ok]
    if ok:
        ctx.info(f"Switched back on in {alias}: " + "; ".join(r.message for r in ok))
    if failed:
        ctx.warn(f"Could not switch back on in {alias}: " + "; ".join(r.message for r in failed)
                 + ". They stay pending; the app asks again at the next start.")


def _forget(ctx: AppContext, parent: QWidget | None, org: str, org_id: str, items: list[AutomationItem]) -> None:
    answer = QMessageBox.question(
        parent, "Forget the switched-off automation?",
        f"Forget {_count(items)} switched off in {org}? They stay switched off there, and the app will not offer "
        f"to switch them back on again; you would have to do it in the org's Setup.\n\n{_items_text(items)}",
        QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, QMessageBox.StandardButton.No)
    if answer != QMessageBox.StandardButton.Yes:
        ctx.info(f"{_count(items).capitalize()} stay switched off in {org}; the app asks again at the next start.")
        return
    discard_pending(ctx.journal, org_id)
    ctx.warn(f"Forgot {_count(items)} switched off in {org}: they stay off until someone switches them on in Setup.")


__all__ = ["offer_pending_restores", "ask_restore", "alias_for_org", "RESTORE", "LATER", "FORGET", "TITLE"]
