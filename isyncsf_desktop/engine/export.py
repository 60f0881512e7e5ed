"""Error reports: the failed records of a job as a pandas frame or a CSV file.

The CSV is meant to be opened in a spreadsheet: it is UTF-8 with a byte-order mark (so Excel
detects the encoding), and any text cell a spreadsheet would evaluate as a formula is neutralised
with a leading single quote (CSV / formula injection: error messages echo field values, which come
from the org and may hold anything). Files are written atomically (temp file + ``os.replace``).
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.lifecycle import RunKind

logger = logging.getLogger(__name__)

ERROR_COLUMNS: list[str] = ["Object", "Source Id", "Target Id", "Status Code", "Message", "Fields", "Phase",
                            "Job", "Run", "Time"]
"""``Job`` and ``Run`` read as the app names them: the job as ``#3`` (History, Execute tab), the run as its
kind and number, ``Retry (run 7)`` (the History page's runs)."""

FORMULA_PREFIXES: tuple[str, ...] = ("=", "+", "-", "@", "|", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20",
                                     "\uff5c")
"""What a spreadsheet evaluates at the start of a cell (``|`` starts a DDE call: ``|calc``), ASCII or fullwidth."""
"""A text cell starting with one of these (after any blanks) is run as a formula by common spreadsheets;
the last four are the full-width ＝＋－＠ that spreadsheets in CJK locales read as their ASCII forms."""

_UNSAFE_NAME_CHARS = re.compile(r"[^A-Za-z0-9_.-]+")
_MAX_NAME_LENGTH = 80


def _safe_name(object_name: str | None) -> str:
    """An object name usable in a file name on every platform ("All" for no object)."""
    if object_name is None:
        return "All"
    name = _UNSAFE_NAME_CHARS.sub("_", object_name).strip("._")
    return name[:_MAX_NAME_LENGTH] or "Unnamed"


def error_filename(object_name: str | None, when: datetime | None = None) -> str:
    """The report's file name: ``errors_{objectName}_{YYYYmmdd_HHMMSS}.csv``.

    ``object_name`` None means all objects (``errors_All_...``). ``when`` defaults to the local
    time now (the name is for people); a given datetime is used as it is.
    """
    moment = when if when is not None else datetime.now()
    return f"errors_{_safe_name(object_name)}_{moment.strftime('%Y%m%d_%H%M%S')}.csv"


def run_names(journal: Journal, job_id: int) -> dict[int, str]:
    """How the app names each run of a job: ``Sync (run 5)``, ``Retry (run 7)``."""
    names = {}
    for run in journal.runs(job_id):
        try:
            label = RunKind(run.kind).label
        except ValueError:
            label = str(run.kind).capitalize()
        names[run.id] = f"{label} (run {run.id})"
    return names


def errors_frame(
    journal: Journal, job_id: int, object_name: str | None = None, *, open_only: bool = True,
    error_ids: Collection[int] | None = None,
) -> pd.DataFrame:
    """One row per error of the job (open ones by default: one per failed record), in order.

    Columns are :data:`ERROR_COLUMNS`; ``Fields`` is joined with ``", "``; missing ids are empty.
    ``error_ids`` keeps only those errors (the ones a filtered view shows). Values are raw (not
    neutralised): that happens only when writing a file.
    """
    wanted = set(error_ids) if error_ids is not None else None
    runs = run_names(journal, job_id)
    rows = [
        {
            "Object": error.object,
            "Source Id": error.source_id or "",
            "Target Id": error.target_id or "",
            "Status Code": error.status_code,
            "Message": error.message,
            "Fields": ", ".join(error.fields),
            "Phase": error.phase,
            "Job": f"#{error.job_id}",
            "Run": runs.get(error.run_id, f"run {error.run_id}"),
            "Time": error.created,
        }
        for error in journal.errors(job_id, object_name, open_only=open_only)
        if wanted is None or error.id in wanted
    ]
    return pd.DataFrame(rows, columns=ERROR_COLUMNS)


def neutralise_formula(value: Any) -> Any:
    """Prefix a text value with ``'`` when a spreadsheet would evaluate it; other values unchanged."""
    if isinstance(value, str) and (value.startswith(FORMULA_PREFIXES)
                                   or value.lstrip(" \n\u3000\xa0").startswith(FORMULA_PREFIXES)):
        return "'" + value
    return value


def _umask() -> int:
    """The process's umask, read without changing it where the system allows (Linux), else set and reset."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


@contextmanager
def atomic_csv(path: Path, what: str) -> Iterator[TextIO]:
    """A text stream that becomes ``path`` whole or not at all: a temporary file in its folder (UTF-8 with a
    BOM, which Excel needs to read it as UTF-8), flushed to disk, given the mode any new file gets here, then
    renamed over ``path``; removed if anything fails. ``what`` names the export in the error messages."""
    folder = path.parent
    try:
        handle, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except PermissionError as exc:
        raise PermissionError(f"cannot export {what}: the folder {folder} is not writable ({exc.strerror})") from exc
    try:
        with open(handle, "w", encoding="utf-8-sig", newline="") as stream:
            yield stream
            stream.flush()
            os.fsync(stream.fileno())
        if os.name == "posix":              # mkstemp made it 0600: give it the mode any new file gets here
            os.chmod(temp_name, 0o666 & ~_umask())
        os.replace(temp_name, path)
    except BaseException:
        try:
            os.unlink(temp_name)
        except OSError:
            pass
        raise


def check_folder(folder: Path, what: str = "errors") -> None:
    """Raise ``OSError`` with a readable message ("cannot export ``what``: ...") when ``folder`` cannot take
    the files."""
    if not folder.exists():
        raise FileNotFoundError(f"cannot export {what}: the folder {folder} does not exist")
    if not folder.is_dir():
        raise NotADirectoryError(f"cannot export {what}: {folder} is not a folder")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise PermissionError(f"cannot export {what}: the folder {folder} is not writable")


def export_errors_csv(
    journal: Journal,
    job_id: int,
    path: Path,
    object_name: str | None = None,
    *,
    open_only: bool = True,
    error_ids: Collection[int] | None = None,
) -> int:
    """Write the job's errors (of ``object_name``, of ``error_ids``: see :func:`errors_frame`) to ``path``
    as CSV and return the number of rows written.

    UTF-8 with BOM, no index column, formula-like cells neutralised, written atomically. An empty
    report still gets its header row. Raises ``FileNotFoundError`` / ``NotADirectoryError`` /
    ``PermissionError`` (all ``OSError``) with a readable message when the folder is missing or
    not writable, and ``IsADirectoryError`` when ``path`` is a folder.
    """
    path = Path(path)
    folder = path.parent
    check_folder(folder)
    if path.is_dir():
        raise IsADirectoryError(f"cannot export errors: {path} is a folder, not a file name")
    frame = errors_frame(journal, job_id, object_name, open_only=open_only, error_ids=error_ids)
    safe = frame.map(neutralise_formula) if len(frame) else frame
    with atomic_csv(path, "errors") as stream:
        safe.to_csv(stream, index=False, lineterminator="\r\n")
    logger.info("exported %d error(s) of job %d to %s", len(frame), job_id, path)
    return len(frame)
