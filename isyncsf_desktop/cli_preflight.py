"""``isyncsf check`` and ``isyncsf automation``: the metadata check and automation control, headless.

Registered by :mod:`isyncsf_desktop.cli` through :func:`add_parsers`. Exit codes follow the CLI's
(0 done, 1 an org or the journal failed, 2 bad input), plus :data:`EXIT_BLOCKING` (3) for
``check`` when blocking findings are open — so a CI step can stop before ``sync``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .cli_common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, UsageError, journal, registry

if TYPE_CHECKING:
    from .engine.automation import AutomationItem, FixResult
    from .engine.preflight import PreflightReport
    from .salesforce.client import OrgClient

logger = logging.getLogger(__name__)

EXIT_BLOCKING = 3

_SEVERITY_HEADINGS = {"blocking": "BLOCKS THE SYNC", "records will fail": "RECORDS WILL FAIL", "warning": "WARNINGS"}

CHECK_EPILOG = """\
exit codes:
  0  no blocking finding: `isyncsf sync` will start (records may still fail: see the findings)
  1  an org could not be read (connection, permissions)
  2  bad input (unknown org alias, unreadable template, CSV path not writable)
  3  blocking findings are open: `isyncsf sync` refuses to start unless given --override-preflight
"""


# ====================================================================== helpers
def _client(alias: str) -> OrgClient:
    from .salesforce.registry import RegistryError

    try:
        return registry().client(alias)
    except RegistryError as exc:
        raise UsageError(str(exc)) from None


def _objects(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise UsageError("--objects needs at least one object name, e.g. --objects Account,Contact")
    return names


def _org_failed(what: str, exc: Exception) -> int:
    print(f"error: {what}: {getattr(exc, 'message', None) or exc}", file=sys.stderr)
    return EXIT_FAILED


# ====================================================================== check
def _print_report(report: PreflightReport, template_name: str) -> None:
    print(f"Metadata check {report.source or '?'} -> {report.target or '?'} (template \"{template_name}\"): "
          f"{report.summary()}")
    for severity, findings in report.by_severity.items():
        if not findings:
            continue
        print()
        print(f"{_SEVERITY_HEADINGS.get(severity, severity.upper())} ({len(findings)})")
        for finding in findings:
            affected = "" if finding.affected is None else (
                f"  [{finding.affected} record{'' if finding.affected == 1 else 's'}]")
            print(f"  {finding.location}{affected}")
            print(f"      {finding.message}")
            print(f"      fix: {finding.fix}")
    print()
    blocking = len(report.blocking)
    if blocking:
        print(f"The sync cannot start: {blocking} blocking finding{'' if blocking == 1 else 's'} "
              f"{'is' if blocking == 1 else 'are'} open. Fix them and check again, or run `isyncsf sync` with "
              "--override-preflight.")
    else:
        print("The sync can start: no blocking finding.")
    enable = report.enable_candidates()
    if enable:
        print(f"{len(enable)} automation item{'' if len(enable) == 1 else 's'} active in the source but disabled "
              f"in the target: {', '.join(f.item or f.location for f in enable)} (Enable Disabled Metadata in the app).")


def cmd_check(args: argparse.Namespace) -> int:
    """``isyncsf check``: compare the orgs for a template; exit 3 when blocking findings are open."""
    from .engine.preflight import check_metadata
    from .engine.template import TemplateError, load_template
    from .salesforce.client import OrgApiError

    try:
        template = load_template(args.template)
    except TemplateError as exc:
        raise UsageError(str(exc)) from None
    source, target = _client(args.source), _client(args.target)
    try:
        report = check_metadata(template, source, target)
    except OrgApiError as exc:
        return _org_failed("the metadata check could not read the orgs", exc)
    written: int | None = None
    if args.csv:
        try:
            written = report.export_csv(Path(args.csv))
        except OSError as exc:
            raise UsageError(str(exc)) from None
    if args.json:
        print(json.dumps({"blocking": len(report.blocking), "counts": report.counts, "summary": report.summary(),
                          "checked_at": report.checked_at, "source": report.source, "target": report.target,
                          "findings": [finding.as_json() for finding in report.findings]}, indent=2, default=str))
    else:
        _print_report(report, template.name)
    if written is not None:
        print(f"wrote {written} finding(s) to {args.csv}", file=sys.stderr if args.json else sys.stdout)
    _note_pending_restore(args.target)
    return EXIT_BLOCKING if report.blocking else EXIT_OK


def _note_pending_restore(alias: str) -> None:
    """Say on stderr when a run that did not finish left automation switched off in ``alias``."""
    from .engine.automation import pending_restore

    try:
        org_id = registry().get(alias).org_id
        jobs = journal()
        try:
            pending = pending_restore(jobs, org_id)
        finally:
            jobs.close()
    except Exception as exc:  # only a hint: never fail the check over it
        logger.info("could not look for automation left switched off in %s: %s", alias, exc)
        return
    if pending:
        names = ", ".join(item.name for item in pending)
        print(f"note: {len(pending)} automation item{'' if len(pending) == 1 else 's'} in {alias} "
              f"{'is' if len(pending) == 1 else 'are'} still switched off since a run that did not finish ({names}): "
              f"`isyncsf automation restore --org {alias}` switches {'it' if len(pending) == 1 else 'them'} back on",
              file=sys.stderr)


# ====================================================================== automation
def _item_json(item: AutomationItem) -> dict[str, Any]:
    return {"kind": item.kind, "name": item.name, "object": item.object, "active": item.active,
            "switchable": item.switchable, "label": item.label, "detail": item.detail, "note": item.note,
            "id": item.id}


def cmd_automation_list(args: argparse.Namespace) -> int:
    """``isyncsf automation list``: validation rules, Apex triggers and record-triggered flows with their state."""
    from .engine.automation import KIND_LABELS, list_automation
    from .salesforce.client import OrgApiError

    objects = _objects(args.objects)
    client = _client(args.org)
    try:
        items = list_automation(client, objects)
    except OrgApiError as exc:
        return _org_failed(f"the automation of {args.org} could not be listed", exc)
    if args.json:
        print(json.dumps([_item_json(item) for item in items], indent=2))
        return EXIT_OK
    if not items:
        print(f"{args.org}: no validation rule, Apex trigger or record-triggered flow on {', '.join(objects)}")
        return EXIT_OK
    name_width = max(len(item.name) for item in items)
    kind_width = max(len(KIND_LABELS[item.kind]) for item in items)
    object_width = max(len(item.object or "-") for item in items)
    for item in items:
        state = "active" if item.active else "inactive"
        extra = item.note if not item.switchable and item.note else (item.detail or "")
        print(f"{KIND_LABELS[item.kind]:<{kind_width}}  {item.name:<{name_width}}  {item.object or '-':<{object_width}}"
              f"  {state:<8}  {extra}".rstrip())
    print('\ntick items for a run with the template option "automation_off": '
          '[{"kind": "ValidationRule", "name": "Contact.Rule"}, ...]')
    return EXIT_OK


def _result_line(result: FixResult) -> str:
    return f"{result.status:<9}  {result.message}"


def cmd_automation_restore(args: argparse.Namespace) -> int:
    """``isyncsf automation restore``: switch back on what a run that did not finish left switched off."""
    from .engine.automation import NOT_FOUND, pending_restore, restore_pending
    from .salesforce.registry import RegistryError

    try:
        entry = registry().get(args.org)
    except RegistryError as exc:
        raise UsageError(str(exc)) from None
    jobs = journal()
    try:
        pending = pending_restore(jobs, entry.org_id)
        if not pending:
            if args.json:
                print(json.dumps({"org": entry.alias, "pending": 0, "results": []}, indent=2))
            else:
                print(f"nothing to restore in {entry.alias}: no automation is left switched off by a run")
            return EXIT_OK
        results = restore_pending(jobs, _client(args.org), target_org_id=entry.org_id)
        left = pending_restore(jobs, entry.org_id)
    finally:
        jobs.close()
    if args.json:
        print(json.dumps({"org": entry.alias, "pending": len(pending), "left": len(left), "results": [
            {"kind": r.item.kind, "name": r.item.name, "action": r.action, "status": r.status, "ok": r.ok,
             "message": r.message, "error_code": r.error_code} for r in results]}, indent=2))
    else:
        print(f"{entry.alias}: {len(pending)} item{'' if len(pending) == 1 else 's'} left switched off by a run")
        for result in results:
            print(f"  {_result_line(result)}")
        if left:
            print(f"{len(left)} item{'' if len(left) == 1 else 's'} could not be switched back on and stay pending: "
                  "run this again, or switch them on in the org's Setup.")
    failed = [r for r in results if not r.ok and r.status != NOT_FOUND]
    return EXIT_FAILED if failed or left else EXIT_OK


def _cmd_automation_help(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    def show(args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT

    return show


# ====================================================================== parsers
def add_parsers(subparsers: Any) -> None:
    """Add ``check`` and ``automation list|restore`` to the CLI's sub-command parsers."""
    check = subparsers.add_parser(
        "check", help="check the target org's metadata for a template before a sync (exit 3: blocking findings)",
        description=textwrap.fill(
            "Compare the source and target orgs for the objects and fields a template puts in scope: missing "
            "objects and fields, type/length/picklist differences, permissions, required fields, validation rules, "
            "Apex triggers and record-triggered flows, record types and users. Findings are grouped by severity: "
            "blocks the sync, records will fail, warning. Nothing is written to either org.", 78),
        epilog=CHECK_EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    check.add_argument("--source", required=True, help="source org alias")
    check.add_argument("--target", required=True, help="target org alias")
    check.add_argument("--template", required=True, help="template JSON file")
    check.add_argument("--csv", metavar="OUT", help="also write every finding to this CSV file")
    check.add_argument("--json", action="store_true",
                       help='print one JSON object: {"blocking": n, "counts": {...}, "findings": [...]}')
    check.set_defaults(func=cmd_check)

    automation = subparsers.add_parser(
        "automation", help="validation rules, Apex triggers and flows of an org; restore what a run left off",
        description="Automation control: list an org's validation rules, Apex triggers and record-triggered "
                    "flows with their state, and switch back on what a sync switched off and could not restore "
                    "(the app or the process ended during the run).")
    actions = automation.add_subparsers(dest="automation_command", metavar="ACTION")
    automation.set_defaults(func=_cmd_automation_help(automation))
    listing = actions.add_parser("list", help="list the automation on some objects with its state")
    listing.add_argument("--org", required=True, help="org alias")
    listing.add_argument("--objects", required=True, metavar="A,B", help="objects, comma-separated: Account,Contact")
    listing.add_argument("--json", action="store_true", help="print a JSON list")
    listing.set_defaults(func=cmd_automation_list)
    restore = actions.add_parser(
        "restore", help="switch back on what a run that did not finish left switched off in an org",
        description="Switch back on the validation rules, triggers and flows a sync switched off in ORG and did not "
                    "restore (the journal remembers them). Exit 1 when the org refuses some: they stay pending. "
                    "Do not run it while a sync into ORG is running: it would switch that run's automation back on.")
    restore.add_argument("--org", required=True, help="org alias (the target org of the run)")
    restore.add_argument("--json", action="store_true", help="print one JSON object")
    restore.set_defaults(func=cmd_automation_restore)


__all__ = ["add_parsers", "cmd_check", "cmd_automation_list", "cmd_automation_restore", "EXIT_BLOCKING"]
