"""A journal file that cannot be read as a journal: refused with one sentence, left untouched, moved
aside on request; and the connection that turns SQLite's damage errors into :class:`JournalDamaged`."""

from __future__ import annotations

import logging
import os
import sqlite3
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

logger = logging.getLogger(__name__)


class _JournalFileProblem(Exception):
    """The journal's file, not a request, is the problem: ``path``, ``what`` is wrong with it, and a
    sentence (:attr:`SENTENCE`) saying so and what to do. Not a :class:`JournalError` (a request the
    journal refuses): no caller should take it for bad input."""

    SENTENCE = ""

    def __init__(self, path: Path, what: str) -> None:
        self.path = Path(path)
        self.what = what
        super().__init__(self.SENTENCE.format(path=self.path, what=what))


class JournalDamaged(_JournalFileProblem):
    """The journal file cannot be read as a journal (not SQLite, empty, truncated, damaged pages).
    The file is left exactly as it is; :func:`move_aside` renames it so a new journal can start."""

    SENTENCE = ("the job journal {path} cannot be read: {what}. It was left untouched. Move it aside and start a "
                "new journal (the app offers it; on the command line: `isyncsf journal move-aside`); the jobs it "
                "held are then no longer listed")


class JournalUnwritable(_JournalFileProblem):
    """The journal cannot be written now (the disk is full, the data folder is read-only, the disk fails).
    Nothing the journal already holds is lost, and the run that met it stopped before its next batch: once
    the cause is gone, the job is found interrupted and can be resumed or rolled back."""

    SENTENCE = ("the job journal {path} cannot be written: {what}. Nothing already recorded is lost and no batch "
                "went out unrecorded; free the space or make the folder writable, then resume the job (Start "
                "ReSync, or `isyncsf resync JOB`) or roll it back")


_UNWRITABLE = {"disk is full": "the disk is full", "readonly database": "the data folder or the file is read-only",
               "read-only": "the data folder or the file is read-only", "disk i/o error": "the disk fails (I/O error)",
               "unable to open database": "the file cannot be opened for writing"}


SQLITE_HEADER = b"SQLite format 3\x00"
_DAMAGE = ("malformed", "not a database", "file is encrypted", "disk image", "database corrupt", "short read")


def damage(path: Path, exc: sqlite3.DatabaseError) -> Exception | None:
    """What an SQLite error means for the user: :class:`JournalDamaged` (the file), :class:`JournalUnwritable`
    (the disk or folder), or None when it is neither (a lock, a bug)."""
    text = str(exc).lower()
    if isinstance(exc, (sqlite3.IntegrityError, sqlite3.ProgrammingError)):
        return None
    for marker, what in _UNWRITABLE.items():
        if marker in text:
            return JournalUnwritable(path, what)
    if not any(d in text for d in _DAMAGE):
        return None
    return JournalDamaged(path, f"SQLite says {exc}")


def check_journal_file(path: Path) -> None:
    """Refuse a file that exists but is no SQLite database (:class:`JournalDamaged`); a missing one is fine."""
    try:
        with open(path, "rb") as file:
            head = file.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as exc:
        raise JournalDamaged(path, f"it cannot be opened ({exc.strerror or exc})") from None
    if not head:
        raise JournalDamaged(path, "it is empty (0 bytes), where a journal always holds its tables")
    if head != SQLITE_HEADER:
        raise JournalDamaged(path, "it is not an SQLite database (its first bytes are not SQLite's header)")


def move_aside(path: Path) -> Path:
    """Rename a damaged journal (and its -wal and -shm files) to ``<name>.damaged-<UTC time>``; returns the
    new name of the journal file. Nothing is deleted."""
    path = Path(path)
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    n = 1
    while target.exists():
        n += 1
        target = path.with_name(f"{path.name}.damaged-{stamp}-{n}")
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            os.replace(side, target.with_name(target.name + suffix))
    os.replace(path, target)
    logger.warning("the damaged journal %s was moved to %s", path, target)
    return target


class JournalConnection(sqlite3.Connection):
    """The journal's connection: an SQLite error that means a damaged file becomes :class:`JournalDamaged`."""

    journal_path: Path

    def execute(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().execute(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise damage(self.journal_path, exc) or exc from None

    def executemany(self, *args: Any, **kwargs: Any) -> sqlite3.Cursor:  # type: ignore[override]
        try:
            return super().executemany(*args, **kwargs)
        except sqlite3.DatabaseError as exc:
            raise damage(self.journal_path, exc) or exc from None
