"""A preview as CSV files, one per object: every record's action and reason, and for each field a record to insert
or update gets, its target value now and the value the run writes (a lookup by its parent's name and id).

Written like the errors export (:mod:`.export`), so a spreadsheet opens them safely: UTF-8 with a byte-order mark,
formula-like cells neutralised, each file atomic (temp file + ``os.replace``). Rows stream from the journal a page
at a time: a preview of any size is written without being held in memory.
"""

from __future__ import annotations

import csv
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from .export import _safe_name, atomic_csv, check_folder, neutralise_formula
from .journal import Journal, PreviewChange, PreviewRecord

logger = logging.getLogger(__name__)

PREVIEW_COLUMNS: list[str] = ["Object", "Record", "Action", "Outcome", "Reason Code", "Reason", "Source Id",
                              "Target Id", "Field", "Target Now", "Will Be", "Second Pass"]


def preview_filename(preview_id: int, object_name: str) -> str:
    """``preview_{id}_{objectName}.csv``."""
    return f"preview_{preview_id}_{_safe_name(object_name)}.csv"


def _shown(value: Any, label: str | None) -> Any:
    """A value as the file shows it: a lookup as ``name (id)``, a record the run inserts as ``name (new)``."""
    if label is None:
        return value
    if isinstance(value, str) and value.startswith("#new"):
        return label
    return f"{label} ({value})"


def preview_lines(row: PreviewRecord) -> Iterator[list[Any]]:
    """The CSV lines of one record: one per field that changes, or one line when none does."""
    head = [row.object, row.label, row.action, row.status, row.reason_code, row.reason, row.source_id, row.target_id]
    changes: list[PreviewChange] = row.changes or []
    if not changes:
        yield head + [None, None, None, None]
        return
    for change in changes:
        yield head + [change.field, _shown(change.now, change.now_label), _shown(change.will_be, change.will_be_label),
                      "yes" if change.deferred else None]


def export_preview_csv(journal: Journal, preview_id: int, folder: Path) -> dict[str, tuple[Path, int]]:
    """Write one CSV file per object of the preview into ``folder``; returns object -> (file, records)."""
    folder = Path(folder)
    check_folder(folder, "the preview")
    preview = journal.preview(preview_id)
    order = list((preview.header or {}).get("order") or []) or sorted(journal.preview_counts(preview_id))
    written: dict[str, tuple[Path, int]] = {}
    for name in order:
        path = folder / preview_filename(preview_id, name)
        records = 0
        with atomic_csv(path, "the preview") as stream:
            out = csv.writer(stream, lineterminator="\r\n")
            out.writerow(PREVIEW_COLUMNS)
            for row in journal.iter_preview_records(preview_id, name):
                records += 1
                out.writerows([[neutralise_formula(v) for v in line] for line in preview_lines(row)])
        written[name] = (path, records)
    logger.info("exported preview %d to %s (%d file(s))", preview_id, folder, len(written))
    return written


__all__ = ["PREVIEW_COLUMNS", "export_preview_csv", "preview_filename", "preview_lines"]
