"""Pre-flight metadata check: what in the target org will stop the sync or reject records, before it runs.

:func:`check_metadata` compares the source and target orgs for the objects and fields a template (or a
saved plan) puts in scope and returns a :class:`PreflightReport` of :class:`Finding` objects, each with
a severity, a message, a suggested fix and, where the app can apply the fix itself, ``fixable``.
It only reads: describes, a few ``SELECT COUNT()`` queries on the source (to say how many records a
difference affects) and Tooling API queries for the automation. Nothing is written.

Severities
----------
``blocking`` — the sync cannot run as planned; :func:`assert_can_start` refuses to start unless the
user overrides:

* an object missing in the target org (or in the source org);
* a template field missing in the source org; a field missing in the target org when "skip missing
  fields" is off, or named by a saved plan (the run would fail whole batches on it);
* a field mapping or constant of the template naming a field the target org lacks (the plan refuses it);
* a match key field missing in the target org, or no match key at all;
* an object the target user can neither create nor update;
* person accounts in scope while the target org does not have Person Accounts (counted).

``records will fail`` — the sync runs, but the org will reject some records:

* a restricted picklist on the target lacks values the source records use (counted);
* a field whose target type cannot hold the source values (counted: non-empty values);
* a text field shorter on the target, when a scan's records show longer values (counted);
* a field required on the target that the template does not fill (every insert fails; a target-only one
  suggests a constant: ``data["suggested_constant"]`` ``{"object", "field", "value"}``), or that
  is empty in some source records (counted);
* an object the target user cannot create (with insert on) or update (with update on);
* a validation rule active on the target but not on the source (fix: switch it off for the run with
  automation control — ``fixable``);
* a record type missing on the target by DeveloperName, or inactive there (counted);
* source users that map to an inactive target user (counted);
* a queue whose owner mapping names a queue the target lacks, or whose target queue does not accept
  the object (counted).

``warning`` — the sync runs; something may differ from what the user expects:

* a field missing on the target while "skip missing fields" is on (it is left out; when the target has it
  under another name, the same with a namespace prefix added or removed, else a similar name or label of a
  type that can take it, that field is ``data["suggested_mapping"]`` ``{"object", "source", "target"}``, and
  the template's field mappings resolve the finding);
* a field the target user cannot create or update (its values are not carried), or a lossy type
  conversion, a shorter text field without a scan to count from, fewer integer digits;
* picklist values the target's unrestricted picklist does not list (saved anyway);
* an Apex trigger or record-triggered flow active on the target but not on the source, and any
  automation active in both orgs (it runs for every record written; ``fixable`` by switching it off
  for the run where the org allows it);
* automation active on the source but disabled on the target (``fixable``: Enable Disabled Metadata);
* source users that do not map to a target user (their records go to the running user; counted);
* a source queue owning records in scope that has no queue of its DeveloperName on the target and no
  mapping (its records go to the default owner or the running user; counted, with the most similar
  target queue as ``data["suggested_mapping"]``);
* a part of the check that could not run (e.g. no Tooling API access).

A difference whose count shows that no record in scope is affected is reported as a warning.
Counts honour the template's filter and limit; they are None where SOQL cannot count cheaply (text
length, multi-select picklists, non-filterable fields) and no scan's records were given.

The package, one module per part:

* :mod:`.report`: severities, finding kinds, :class:`Finding`, :class:`PreflightReport`, :func:`assert_can_start`;
* :mod:`.check`: :func:`check_metadata`, which runs the checks below on the scope of a template or plan;
* :mod:`.context`: what the checks share (:class:`PreflightOrg`, the scope, counting, collecting findings);
* :mod:`.objects`, :mod:`.fields`, :mod:`.automation_state`: the checks (objects, record types and users;
  fields and the match key; validation rules, triggers and flows);
* :mod:`.fixes`: :func:`enable_disabled_metadata`, the one part that writes.

Import the names from here (``engine.preflight``); the modules are the package's own layout.
"""

from __future__ import annotations

from ..automation import FixResult
from .check import check_metadata
from .context import PreflightOrg
from .fields import NUMBER_TYPES, REFERENCE_TYPES, TEXT_TYPES
from .fixes import enable_disabled_metadata
from .report import (AUTOMATION_KINDS, BLOCKING, CHECK_FAILED, FIELD_ACCESS, FIELD_LENGTH, FIX_ENABLE, FIX_SWITCH_OFF,
                     FLOW_STATE, MATCH_KEY, MISSING_FIELD, MISSING_OBJECT, OBJECT_ACCESS, PERSON_ACCOUNTS, PICKLIST_VALUES,
                     QUEUE_MAPPING, RECORD_TYPE, RECORDS_WILL_FAIL, REPORT_COLUMNS, REQUIRED_FIELD, SEVERITIES, TRIGGER_STATE,
                     TYPE_MISMATCH, USER_MAPPING, VALIDATION_RULE_STATE, WARNING, Finding, PreflightBlocked,
                     PreflightReport, assert_can_start)

__all__ = [
    "BLOCKING", "RECORDS_WILL_FAIL", "WARNING", "SEVERITIES", "Finding", "PreflightReport", "PreflightBlocked",
    "FixResult", "assert_can_start", "check_metadata", "enable_disabled_metadata", "FIX_ENABLE", "FIX_SWITCH_OFF",
    "MISSING_OBJECT", "OBJECT_ACCESS", "MISSING_FIELD", "MATCH_KEY", "TYPE_MISMATCH", "PICKLIST_VALUES",
    "FIELD_LENGTH", "FIELD_ACCESS", "REQUIRED_FIELD", "VALIDATION_RULE_STATE", "TRIGGER_STATE", "FLOW_STATE",
    "RECORD_TYPE", "USER_MAPPING", "QUEUE_MAPPING", "PERSON_ACCOUNTS", "CHECK_FAILED", "REPORT_COLUMNS",
    # also public names of the package
    "AUTOMATION_KINDS", "NUMBER_TYPES", "PreflightOrg", "REFERENCE_TYPES", "TEXT_TYPES",
]
