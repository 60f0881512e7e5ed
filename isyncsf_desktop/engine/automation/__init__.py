"""Automation control: the target org's validation rules, Apex triggers and record-triggered flows.

Three jobs, all through the Tooling API of :class:`~isyncsf_desktop.salesforce.client.OrgClient`:

* :func:`list_automation` lists the automation on some objects with its state (the GUI's ticks);
* :func:`set_active` switches one item on or off (used by "Enable Disabled Metadata" in
  :mod:`.preflight` and by the guard below);
* :class:`AutomationGuard` switches the ticked items off around a run and exactly those back on
  afterwards, also after an error, an abort or a crash.

How an item is switched (the shapes a real org documents, see ``shared/salesforce-api.md`` §3):

=================  ==========================  ==================================================
kind               Tooling sObject             PATCH body
=================  ==========================  ==================================================
``ValidationRule`` ``ValidationRule``          the full ``Metadata`` read by GET, ``active`` set
``ApexTrigger``    ``ApexTrigger``             the full ``Metadata``, ``status`` Active/Inactive
``Flow``           ``FlowDefinition``          ``Metadata.activeVersionNumber`` (0 = off)
=================  ==========================  ==================================================

A production org refuses to switch Apex triggers (it needs a deployment with tests); that and
every other refusal is reported in a :class:`FixResult`, never raised.

Crash safety: before the guard switches an item off it writes, in the journal's settings under
``automation:{target_org_id}``, which item it is about to switch and its original ``Metadata``.
A process that dies without restoring leaves that record behind; :func:`pending_restore` finds it
at the next start and :func:`restore_pending` switches the items back on. The record lists only
items this app switched off, so an item the org had off already is never switched on.

The template option (added by the lead) is a list of :meth:`AutomationItem.as_json` dicts::

    "automation_off": [{"kind": "ValidationRule", "name": "Contact.Contact_Phone_Required"},
                       {"kind": "ApexTrigger", "name": "CaseTrigger"},
                       {"kind": "Flow", "name": "Opportunity_Default_Next_Step"}]

Names: a validation rule is ``Object.RuleName`` (its FullName), a trigger its Name, a flow its
FlowDefinition DeveloperName. One guarded run per target org at a time.

The package, one module per job:

* :mod:`.items`: the kinds, :class:`AutomationItem`, the ``automation_off`` option, :class:`FixResult`;
* :mod:`.tooling`: the Tooling API reads (``list_*``, :func:`is_production`) and writes (:func:`set_active`);
* :mod:`.guard`: :class:`AutomationGuard` and the journaled restore after a crash (:func:`pending_restore`,
  :func:`restore_pending`, :func:`discard_pending`).

Import the names from here (``engine.automation``); the modules are the package's own layout.
"""

from __future__ import annotations

from .guard import SETTING_PREFIX, AutomationGuard, discard_pending, pending_restore, restore_pending, setting_key
from .items import (APEX_TRIGGER, DONE, FAILED, FLOW, KIND_LABELS, KINDS, NOT_FOUND, PRODUCTION_TRIGGER_NOTE,
                    RECORD_TRIGGER_TYPES, REFUSED, TOOLING_OBJECTS, UNCHANGED, VALIDATION_RULE, AutomationError,
                    AutomationItem, FixResult, automation_off_option, normalise_kind, parse_automation_off)
from .tooling import (ToolingApi, is_production, list_automation, list_flows, list_triggers, list_validation_rules,
                      set_active)

__all__ = [
    "APEX_TRIGGER", "AutomationError", "AutomationGuard", "AutomationItem", "DONE", "FAILED", "FLOW", "FixResult",
    "KINDS", "NOT_FOUND", "REFUSED", "UNCHANGED", "VALIDATION_RULE", "automation_off_option", "discard_pending",
    "is_production", "list_automation", "list_flows", "list_triggers", "list_validation_rules",
    "parse_automation_off", "pending_restore", "restore_pending", "set_active", "setting_key",
    # also imported from here by the preflight check, the GUI and the CLI
    "KIND_LABELS", "PRODUCTION_TRIGGER_NOTE", "RECORD_TRIGGER_TYPES", "SETTING_PREFIX", "TOOLING_OBJECTS",
    "ToolingApi", "normalise_kind",
]
