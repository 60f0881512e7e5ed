"""Which settings a retry or a resync uses: the job's own for *which* records (objects, fields, filters,
match keys, delta), the template's current ones for *how* they are written.

A user who fixes a failed sync (ticks a validation rule to switch off, lowers the batch size, maps a
record type or a picklist value the target lacks, maps a queue) and saves the template expects Retry
Failed and Start ReSync to apply the fix. The job keeps the snapshot of the template it was made from,
so the run takes the options of :data:`HOW_OPTIONS` and the mappings of :data:`MAPPING_ATTRS` from the
template as it is now, and the job's stored template is updated to what the run applied: the job
records the mappings and switches its runs used (rollback and the next retry see them; each automation
switch is journaled on its own as well, and the owners each run gave are in the journal).
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

from ... import paths
from ..automation import KIND_LABELS, AutomationError, parse_automation_off
from ..template import Template, TemplateError, load_template

HOW_OPTIONS: tuple[str, ...] = ("automation_off", "batch_size", "bulk_threshold", "in_flight", "parallel_objects", "continue_on_error",
                                "versioning", "api_ceiling_percent", "late_commit_window")
"""Template options that only change how records are written, never which records a job takes."""

MAPPING_ATTRS: tuple[tuple[str, str], ...] = (("owners", "owner"), ("record_types", "record type"),
                                              ("picklists", "picklist"), ("field_mappings", "field"))
"""The template's mappings (attribute, what one maps): which values records get on the target, not which
records go, so a retry or resync takes them as saved now, like :data:`HOW_OPTIONS`."""

_LABELS: dict[str, str] = {"batch_size": "batch size", "bulk_threshold": "Bulk API threshold",
                           "in_flight": "requests in flight",
                           "parallel_objects": "objects at once", "continue_on_error": "continue on error",
                           "versioning": "versioning", "api_ceiling_percent": "API ceiling (%)",
                           "late_commit_window": "late-commit window (s)"}


def _automation_keys(template: Template) -> dict[tuple[str, str], str]:
    try:
        items = parse_automation_off(template.options.get("automation_off"))
    except AutomationError:
        return {}
    return {item.key: item.kind for item in items}


def how_changes(applied: Template, current: Template | None) -> list[str]:
    """What ``current`` (the template as saved now) changes in how ``applied`` (the job's) writes records, one
    phrase each: ``switches off 1 validation rule``, ``batch size 50 (was 200)``; empty when nothing."""
    if current is None:
        return []
    phrases = []
    before, after = _automation_keys(applied), _automation_keys(current)
    added = Counter(kind for key, kind in after.items() if key not in before)
    dropped = Counter(kind for key, kind in before.items() if key not in after)
    for verb, counts in (("switches off", added), ("no longer switches off", dropped)):
        if counts:
            phrases.append(f"{verb} " + ", ".join(f"{n} {KIND_LABELS[kind]}{'s' if n != 1 else ''}"
                                                  for kind, n in counts.items()))
    for key in HOW_OPTIONS[1:]:
        was, now = applied.options.get(key), current.options.get(key)
        if was != now:
            phrases.append(f"{_LABELS[key]} {_show(now)} (was {_show(was)})")
    for attr, what in MAPPING_ATTRS:
        if getattr(applied, attr).as_json() != getattr(current, attr).as_json():
            phrases.append(f"{what} mappings as saved now")
    return phrases


WHICH_ATTRS: tuple[tuple[str, str], ...] = (("fields", "fields"), ("filter", "filter"), ("match_by", "match key"),
                                             ("limit", "record limit"), ("related_to", "related records"))
"""What an object line says of *which* records and values a job takes: a retry or resync keeps the job's."""


def which_changes(applied: Template, current: Template | None) -> list[str]:
    """What ``current`` (the template as saved now) changes in *which* records or fields ``applied`` (the job's)
    takes, which a retry or resync does not apply (a new sync does), one phrase each: ``Account fields``,
    ``Lead added``; empty when nothing."""
    if current is None:
        return []
    phrases = []
    before = {line.object: line for line in applied.objects}
    after = {line.object: line for line in current.objects}
    for name, line in after.items():
        was = before.get(name)
        if was is None:
            phrases.append(f"{name} added")
            continue
        changed = [what for attr, what in WHICH_ATTRS
                   if _comparable(getattr(was, attr)) != _comparable(getattr(line, attr))]
        if changed:
            phrases.append(f"{name} {' and '.join(changed)}")
    phrases.extend(f"{name} removed" for name in before if name not in after)
    return phrases


def _comparable(value: Any) -> Any:
    return sorted(value) if isinstance(value, list) else value


def _show(value: Any) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return "default" if value is None else str(value)


def with_current_how(applied: Template, current: Template | None) -> Template:
    """``applied`` with the :data:`HOW_OPTIONS` of ``current`` (a copy; ``applied`` itself is left as it is)."""
    merged = copy.deepcopy(applied)
    if current is not None:
        for key in HOW_OPTIONS:
            merged.options[key] = copy.deepcopy(current.options.get(key))
        for attr, _what in MAPPING_ATTRS:
            setattr(merged, attr, copy.deepcopy(getattr(current, attr)))
    return merged


def saved_template(name: str, folder: Path | None = None) -> tuple[Template, Path] | None:
    """The template named ``name`` as saved now in the app's templates folder (``folder``), and its file;
    None when there is none (or none that can be read)."""
    folder = folder or paths.templates_dir()
    for path in sorted(folder.glob("*.json")):
        try:
            template = load_template(path)
        except TemplateError:
            continue
        if template.name == name:
            return template, path
    return None


__all__ = ["HOW_OPTIONS", "MAPPING_ATTRS", "WHICH_ATTRS", "how_changes", "saved_template", "which_changes",
           "with_current_how"]
