"""The guard: switch the ticked automation off in the target around a run and exactly that back on
afterwards, also after an error, an abort or a crash.

Before it switches an item off it writes, in the journal's settings under ``automation:{target_org_id}``,
which item it is about to switch and its original ``Metadata``; :func:`pending_restore` finds what a
crashed run left behind and :func:`restore_pending` switches it back on (see the package doc).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from types import TracebackType
from typing import Any

from ...salesforce.client import OrgApiError
from ..journal import Journal, utc_now
from .items import (DONE, FAILED, FLOW, NOT_FOUND, REFUSED, UNCHANGED, AutomationError, AutomationItem, FixResult,
                    normalise_kind)
from .tooling import ToolingApi, patch, read_state, refusal

logger = logging.getLogger(__name__)

SETTING_PREFIX = "automation:"


def setting_key(target_org_id: str) -> str:
    """The journal setting that remembers what is switched off in ``target_org_id``."""
    return f"{SETTING_PREFIX}{target_org_id}"


def _load_record(journal: Journal, key: str) -> dict[str, Any]:
    record = journal.get_setting(key)
    if not isinstance(record, dict) or not isinstance(record.get("items"), list):
        return {"items": []}
    return record


def _entry_key(entry: dict[str, Any]) -> tuple[str, str]:
    return normalise_kind(entry["kind"]), str(entry["name"]).lower()


def _item_from_entry(entry: dict[str, Any]) -> AutomationItem:
    return AutomationItem(kind=entry["kind"], name=entry["name"], object=entry.get("object"), active=False,
                          id=entry.get("id"), version=entry.get("version"), job_id=entry.get("job_id"),
                          switched_at=entry.get("switched_at"),
                          note=entry.get("error") and f"the last restore failed: {entry['error']}")


class AutomationGuard:
    """Switch automation off in the target around a run, and exactly that back on afterwards.

    ::

        with AutomationGuard(journal, target, job_id, items, target_org_id=ref.org_id) as guard:
            engine.sync(job_id)
        guard.results        # switch-off and restore outcomes, refusals included

    :meth:`switch_off` journals each item (with its original ``Metadata``) before switching it;
    :meth:`restore` switches back only what it switched and clears the journal record once all
    are back. As a context manager it restores also when the block raises (any exception,
    KeyboardInterrupt included). An item already off (and not left off by an earlier crashed run)
    is left alone and never switched on. ``target_org_id`` defaults to ``target.org_id`` or the
    org id of the target's user.
    """

    def __init__(self, journal: Journal, target: ToolingApi, job_id: int | None, items: Iterable[AutomationItem],
                 *, target_org_id: str | None = None) -> None:
        self.journal = journal
        self.target = target
        self.job_id = job_id
        self.items: list[AutomationItem] = []
        seen: set[tuple[str, str]] = set()
        for item in items:
            if item.key not in seen:
                seen.add(item.key)
                self.items.append(item)
        self._org_id = target_org_id or getattr(target, "org_id", None)
        self.switched: list[AutomationItem] = []
        self.results: list[FixResult] = []

    # ------------------------------------------------------------------ identity
    @property
    def org_id(self) -> str:
        """The target org's id (asked from the org once when not given)."""
        if not self._org_id:
            info = self.target.user_info()
            self._org_id = info.get("organization_id") or self.target.organization().get("Id")
            if not self._org_id:
                raise OrgApiError("cannot tell the target org's id; automation control needs it to remember "
                                  "what it switched off", error_code="UNEXPECTED_RESPONSE")
        return str(self._org_id)

    @property
    def key(self) -> str:
        return setting_key(self.org_id)

    @property
    def refused(self) -> list[FixResult]:
        """Switch-off or restore outcomes that did not reach the wanted state."""
        return [r for r in self.results if not r.ok]

    # ------------------------------------------------------------------ journal record
    def _record(self) -> dict[str, Any]:
        record = _load_record(self.journal, self.key)
        record.setdefault("org_id", self.org_id)
        alias = getattr(self.target, "alias", None)
        if alias:
            record["alias"] = alias
        return record

    def _save(self, record: dict[str, Any]) -> None:
        if record["items"]:
            self.journal.set_setting(self.key, record)
        else:
            self.journal.delete_setting(self.key)

    def _put_entry(self, entry: dict[str, Any]) -> None:
        record = self._record()
        record["items"] = [e for e in record["items"] if _entry_key(e) != _entry_key(entry)] + [entry]
        self._save(record)

    def _drop_entry(self, item: AutomationItem) -> None:
        record = self._record()
        record["items"] = [e for e in record["items"] if _entry_key(e) != item.key]
        self._save(record)

    def _entry(self, item: AutomationItem) -> dict[str, Any] | None:
        return next((e for e in self._record()["items"] if _entry_key(e) == item.key), None)

    # ------------------------------------------------------------------ switching
    def switch_off(self) -> list[FixResult]:
        """Switch the items off; returns one result per item (refusals included, never raised)."""
        done = {item.key for item in self.switched}
        results = [self._switch_off_one(item) for item in self.items if item.key not in done]
        self.results.extend(results)
        return results

    def _switch_off_one(self, item: AutomationItem) -> FixResult:
        try:
            state = read_state(self.target, item)
        except OrgApiError as exc:
            status, message = refusal(item, exc, "read")
            return FixResult(item, "deactivate", status, message, exc.error_code)
        if state is None:
            return FixResult(item, "deactivate", NOT_FOUND, f"{item.display_name} does not exist in the target org")
        earlier = self._entry(item)
        if not state.active:
            if earlier is not None:  # left off by a run that crashed: ours to switch back on
                item.version = earlier.get("version") or item.version
                self.switched.append(item)
                return FixResult(item, "deactivate", UNCHANGED, f"{item.display_name} is still off since an "
                                 "earlier run; it is switched back on after this one")
            return FixResult(item, "deactivate", UNCHANGED, f"{item.display_name} is already inactive in the "
                             "target org; it stays inactive after the run")
        item.version = state.version if item.kind == FLOW else None
        entry = {"kind": item.kind, "name": item.name, "object": item.object, "id": state.id,
                 "full_name": state.full_name, "metadata": state.metadata, "version": item.version,
                 "job_id": self.job_id, "switched_at": utc_now(), "state": "switching"}
        self._put_entry(entry)          # journaled before the org is touched: a crash leaves a trace
        try:
            patch(self.target, item, state, False)
        except OrgApiError as exc:
            status, message = refusal(item, exc, "switch off")
            if status == REFUSED:       # the org answered no: nothing changed, nothing to restore
                self._drop_entry(item)
            else:                       # no answer: it may be off; restore() checks and switches it back
                self.switched.append(item)
            logger.info("%s", message)
            return FixResult(item, "deactivate", status, message, exc.error_code)
        self._put_entry({**entry, "state": "off"})
        item.active = False
        self.switched.append(item)
        logger.info("switched off %s in %s for job %s", item.display_name, self.org_id, self.job_id)
        return FixResult(item, "deactivate", DONE, f"{item.display_name} switched off for the run")

    def restore(self) -> list[FixResult]:
        """Switch back on what :meth:`switch_off` switched off; refusals reported, not raised.

        Items restored (or found active already, or deleted meanwhile) leave the journal record;
        the record goes when it is empty. Items the org refuses stay in it with the error, so the
        next start offers them again.
        """
        results: list[FixResult] = []
        for item in list(self.switched):
            result = self._restore_one(item)
            results.append(result)
            if result.ok or result.status == NOT_FOUND:
                self.switched.remove(item)
        self.results.extend(results)
        return results

    def _restore_one(self, item: AutomationItem) -> FixResult:
        entry = self._entry(item) or {}
        try:
            state = read_state(self.target, item)
            if state is None:
                self._drop_entry(item)
                return FixResult(item, "restore", NOT_FOUND, f"{item.display_name} no longer exists in the "
                                 "target org; nothing to switch back on")
            if state.active:
                self._drop_entry(item)
                item.active = True
                return FixResult(item, "restore", UNCHANGED, f"{item.display_name} is already active")
            if not state.metadata and entry.get("metadata"):
                state.metadata = dict(entry["metadata"])
            version = (entry.get("version") or item.version) if item.kind == FLOW else None
            patch(self.target, item, state, True, version)
            after = read_state(self.target, item)
            if after is None or not after.active:
                raise OrgApiError("the org accepted the change but the item is still inactive",
                                  error_code="UNEXPECTED_RESPONSE", status=200)
        except OrgApiError as exc:
            status, message = refusal(item, exc, "switch back on")
            self._keep_failed(item, entry, message)
            logger.warning("%s; it stays off in %s until it is restored", message, self.org_id)
            return FixResult(item, "restore", status, message, exc.error_code)
        except Exception as exc:
            message = f"could not switch back on {item.display_name}: {exc}"
            self._keep_failed(item, entry, message)
            logger.exception("restoring %s failed", item.display_name)
            return FixResult(item, "restore", FAILED, message)
        self._drop_entry(item)
        item.active = True
        logger.info("switched back on %s in %s", item.display_name, self.org_id)
        return FixResult(item, "restore", DONE, f"{item.display_name} switched back on")

    def _keep_failed(self, item: AutomationItem, entry: dict[str, Any], message: str) -> None:
        try:
            base = entry or {"kind": item.kind, "name": item.name, "object": item.object, "id": item.id,
                             "version": item.version, "job_id": self.job_id}
            self._put_entry({**base, "state": "restore_failed", "error": message})
        except Exception:  # the journal itself failing must not hide the original problem
            logger.exception("could not journal the failed restore of %s", item.display_name)

    # ------------------------------------------------------------------ context manager
    def __enter__(self) -> AutomationGuard:
        try:
            self.switch_off()
        except BaseException:
            self.restore()
            raise
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.restore()

    # ------------------------------------------------------------------ after a crash
    @classmethod
    def resume(cls, journal: Journal, target: ToolingApi, *, target_org_id: str | None = None) -> AutomationGuard:
        """A guard owning what the journal says is still switched off in ``target`` (call :meth:`restore`)."""
        guard = cls(journal, target, None, [], target_org_id=target_org_id)
        pending = pending_restore(journal, guard.org_id)
        guard.items = list(pending)
        guard.switched = list(pending)
        return guard


def pending_restore(journal: Journal, target_org_id: str) -> list[AutomationItem]:
    """Items a run switched off in ``target_org_id`` and nobody switched back on (e.g. after a crash).

    Each carries ``job_id``, ``switched_at`` and, when a restore was refused, a ``note``. Empty when
    nothing is pending. The next start calls this for each target org it knows and offers
    :func:`restore_pending`.
    """
    record = _load_record(journal, setting_key(target_org_id))
    items = []
    for entry in record["items"]:
        try:
            items.append(_item_from_entry(entry))
        except (AutomationError, KeyError) as exc:
            logger.warning("ignoring an unreadable automation record entry %r: %s", entry, exc)
    return items


def restore_pending(journal: Journal, target: ToolingApi, *, target_org_id: str | None = None) -> list[FixResult]:
    """Switch back on everything :func:`pending_restore` lists for ``target``; results, never raised."""
    return AutomationGuard.resume(journal, target, target_org_id=target_org_id).restore()


def discard_pending(journal: Journal, target_org_id: str) -> None:
    """Forget what is pending for ``target_org_id`` without touching the org (the user said no)."""
    journal.delete_setting(setting_key(target_org_id))
