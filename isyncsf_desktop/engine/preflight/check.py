"""The check itself: :func:`check_metadata` reads the scope of a template or a saved plan and runs the
object, field, record type, user and automation checks on it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from ..automation import parse_automation_off
from ..journal import utc_now
from ..plan import Plan
from ..template import OwnerMappings, Template, parse_template
from .automation_state import AutomationChecks
from .context import PreflightOrg, ScopeLine, ScopeObject
from .fields import FieldChecks
from .objects import ObjectChecks
from .report import PreflightReport

logger = logging.getLogger(__name__)


def _lines(subject: Template | Plan | dict[str, Any]) -> tuple[list[ScopeLine], bool]:
    """(lines in scope, skip_missing_fields) of a template, template document or plan."""
    if isinstance(subject, Plan):
        lines = [ScopeLine(p.object, [p.source_name(f) for f in p.fields], p.filter, p.limit, p.insert, p.update, list(p.match_by), True)
                 for p in (subject.objects[name] for name in subject.order)]
        return lines, False
    template = subject if isinstance(subject, Template) else parse_template(subject)
    lines = [ScopeLine(line.object, list(line.fields) if line.fields is not None else None, line.filter,
                       line.limit, line.insert, line.update, list(line.match_by) if line.match_by else None, False)
             for line in template.objects]
    return lines, template.skip_missing_fields


def _switched_off(subject: Template | Plan | dict[str, Any]) -> set[tuple[str, str]]:
    """Keys of the automation the template's ``automation_off`` switches off during the sync."""
    if isinstance(subject, Plan):
        return set()
    template = subject if isinstance(subject, Template) else parse_template(subject)
    return {item.key for item in parse_automation_off(template.options.get("automation_off"))}


def _owners(subject: Template | Plan | dict[str, Any]) -> OwnerMappings:
    """The owner mappings of a template or template document (a plan has none)."""
    if isinstance(subject, Plan):
        return OwnerMappings()
    return (subject if isinstance(subject, Template) else parse_template(subject)).owners


def check_metadata(subject: Template | Plan | dict[str, Any], source: PreflightOrg, target: PreflightOrg, *,
                   scan_counts: Mapping[str, int] | None = None,
                   source_records: Mapping[str, Iterable[Mapping[str, Any]]] | None = None,
                   count_budget: int = 200) -> PreflightReport:
    """Compare ``source`` and ``target`` for what ``subject`` puts in scope; see the package doc.

    ``subject`` is the job's template (preferred: it tells which fields were asked for, so fields
    missing on the target are found), a template document, or a saved :class:`Plan` (its objects,
    fields and Insert/Update switches). ``scan_counts`` (object → records in scope, from a scan)
    saves the count queries; ``source_records`` (object → source records read by a scan, any
    subset) lets the check count text values too long for the target. Org errors in one part of
    the check become ``check_failed`` warnings; errors reading the describes of the objects raise
    :class:`OrgApiError`. At most ``count_budget`` COUNT queries are sent; later counts are None.
    """
    checker = _Checker(source, target, scan_counts or {}, source_records or {}, count_budget)
    lines, skip_missing = _lines(subject)
    checker.switched_off = _switched_off(subject)
    checker.owners = _owners(subject)
    if not isinstance(subject, Plan):
        parsed = subject if isinstance(subject, Template) else parse_template(subject)
        checker.record_types, checker.picklists = parsed.record_types, parsed.picklists
        checker.field_mappings = parsed.field_mappings
    checker.run(lines, skip_missing)
    report = PreflightReport(checker.findings, utc_now(), getattr(source, "alias", None) or None,
                             getattr(target, "alias", None) or None)
    logger.info("metadata check %s → %s: %s", report.source or "source", report.target or "target", report.summary())
    return report


class _Checker(ObjectChecks, FieldChecks, AutomationChecks):
    """One run of the check: every check, in order; collects findings."""

    owners = OwnerMappings()     # the template's owner mappings (none for a plan)

    def run(self, lines: list[ScopeLine], skip_missing: bool) -> None:
        source_names = {n.lower(): n for n in self.source.object_names()}
        target_names = {n.lower(): n for n in self.target.object_names()}
        objects: list[ScopeObject] = []
        for line in lines:
            obj = self.check_object(line, source_names, target_names)
            if obj is not None:
                self.check_fields(obj, skip_missing)
                self.check_match_key(obj)
                objects.append(obj)
        if objects:
            self.check_person_accounts(objects)
            self.check_record_types(objects)
            self.check_users(objects)
            self.check_queues(objects, self.owners)
            self.check_automation(objects)
