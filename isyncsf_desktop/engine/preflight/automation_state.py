"""The automation check: validation rules, Apex triggers and record-triggered flows on the target compared
with the source (read through the Tooling API of :mod:`..automation`).
"""

from __future__ import annotations

from typing import Any

from ...salesforce.client import OrgApiError
from ..automation import (APEX_TRIGGER, FLOW, KIND_LABELS, PRODUCTION_TRIGGER_NOTE, VALIDATION_RULE, AutomationItem,
                          is_production, list_flows, list_triggers, list_validation_rules)
from .context import CheckContext, PreflightOrg, ScopeObject
from .report import AUTOMATION_KINDS, FIX_ENABLE, FIX_SWITCH_OFF, RECORDS_WILL_FAIL, WARNING


class AutomationChecks(CheckContext):
    """The check of the automation on the objects in scope."""

    def check_automation(self, objects: list[ScopeObject]) -> None:
        names = [o.name for o in objects]
        production = is_production(self.target)
        for kind in (VALIDATION_RULE, APEX_TRIGGER, FLOW):
            label = KIND_LABELS[kind] + "s"
            try:
                target_items = self._list(kind, self.target, names, production)
            except OrgApiError as exc:
                self.failed(names[0], f"read the target org's {label}", exc,
                            "give the target org's user access to the Tooling API (View Setup and Configuration), "
                            "then check again")
                continue
            try:
                source_items = {i.key: i for i in self._list(kind, self.source, names, False)}
                source_known = True
            except OrgApiError as exc:
                self.failed(names[0], f"read the source org's {label}", exc,
                            "give the source org's user access to the Tooling API, then check again")
                source_items, source_known = {}, False
            for item in target_items:
                self._automation_item(item, source_items.get(item.key), source_known, production)

    @staticmethod
    def _list(kind: str, org: PreflightOrg, names: list[str], production: bool | None) -> list[AutomationItem]:
        if kind == VALIDATION_RULE:
            return list_validation_rules(org, names)
        if kind == APEX_TRIGGER:
            return list_triggers(org, names, production=production)
        return list_flows(org, names)

    def _automation_item(self, item: AutomationItem, source: AutomationItem | None, source_known: bool,
                         production: bool | None) -> None:
        kind = AUTOMATION_KINDS[item.kind]
        obj = item.object or ""
        source_active = bool(source and source.active)
        data: dict[str, Any] = {"automation": item.as_json(), "target_active": bool(item.active),
                                "source_active": source_active if source_known else None,
                                "source_exists": source is not None if source_known else None,
                                "target_id": item.id, "detail": item.detail}
        if item.kind == FLOW:
            data["latest_version"] = item.latest_version
        what = item.display_name
        where_source = ("active in the source org" if source_active else
                        "inactive in the source org" if source is not None else
                        "not in the source org" if source_known else "unknown in the source org")
        switch_fix = (f"switch it off for the run (automation control: tick {what})" if item.switchable
                      else PRODUCTION_TRIGGER_NOTE)
        if item.active and not source_active and item.switchable and item.key in self.switched_off:
            self.add(kind, obj, None, item.name, WARNING,
                     f"{what} is active in the target org but {where_source}; the template switches it off during "
                     "the sync, so it does not run for the records the sync writes",
                     "nothing to do: it is switched back on when the sync ends (untick it in automation control "
                     "to keep it on)", fixable=item.switchable, fix=FIX_SWITCH_OFF, switched_off=True, **data)
        elif item.active and not source_active:
            if item.kind == VALIDATION_RULE:
                severity = RECORDS_WILL_FAIL
                message = (f"{what} is active in the target org but {where_source}: source records that break it "
                           "will be rejected")
                fix = f"{switch_fix}, or correct the source data"
            else:
                severity = WARNING
                message = (f"{what} is active in the target org but {where_source}: it runs for every record the "
                           f"sync writes{f' ({item.detail})' if item.detail else ''} and may change or reject them")
                fix = switch_fix
            self.add(kind, obj, None, item.name, severity, message, fix, fixable=item.switchable,
                     fix=FIX_SWITCH_OFF, **data)
        elif item.active:
            self.add(kind, obj, None, item.name, WARNING,
                     f"{what} is active in both orgs; it runs for every record the sync writes",
                     f"nothing to do unless it rejects synced records; then {switch_fix}",
                     fixable=item.switchable, fix=FIX_SWITCH_OFF, **data)
        elif source_active:
            fixable = item.switchable
            fix = ("activate it in the target org (Enable Disabled Metadata)" if fixable
                   else PRODUCTION_TRIGGER_NOTE)
            self.add(kind, obj, None, item.name, WARNING,
                     f"{what} is active in the source org but disabled in the target org: synced records do not "
                     "get what it does in the source", fix, fixable=fixable, fix=FIX_ENABLE, **data)
