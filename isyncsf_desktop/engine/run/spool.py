"""An object's source records spooled to a SQLite file while its first pass needs them all but holds a part.

A self-lookup hierarchy (Account.ParentId) is written level by level, parents first, and a level is known only
once every record has been read. Held as Python dicts, 200,000 Accounts are some 140 MB of the run's memory at
a million records. So such an object's records go, page by page as they are read, into a SQLite file of their
own in the journal's folder: each record's id, its self-lookups' values and the record itself as JSON. The
levels are placed by SQL from the ids and parent ids alone (:meth:`Spool.place_levels`), and each level is read
back a part at a time (:meth:`Spool.parts`), in the order the source gave the records. Nothing is asked of an org.

Each record is encrypted (AES-GCM, with a key made for the spool and held only in memory, the record's place as
its nonce): source values, personal data a template masks among them, never reach the disk in clear, and the file
is unreadable once the run is over, whatever it left behind. Ids and self-lookup values stay clear (the levels are
placed from them by SQL); they are Salesforce record ids.

The file is the run's scratch, not a record of it: a run that starts again reads its source again. On POSIX its
name is removed as soon as it is open (the system frees it when the run ends, however it ends); elsewhere it is
removed when the spool is closed, and a file left by a run that was killed is removed by the next one.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

logger = logging.getLogger(__name__)

FOLDER = "spool"
"""The spool files' folder, beside the journal."""

CACHE_KB = 4096
"""SQLite's page cache per spool (KiB): the file is read back in order, so a small cache is enough."""


def _clear_leftovers(folder: Path) -> None:
    """Remove the spool files runs that were killed left behind (a file another run still has open cannot be
    removed where open files cannot be, and on POSIX an open spool has no name left to find)."""
    for path in folder.glob("*.sqlite3"):
        try:
            path.unlink()
        except OSError:
            pass


class Spool:
    """The source records of one object, on disk in the order they were read (see the module).

    ``self_fields``: the self-lookup fields whose values place a record's level. Used by one thread at a time
    (the thread that reads the object may hand it to the one that syncs it)."""

    def __init__(self, folder: Path, object_name: str, self_fields: Iterable[str]):
        self.fields = list(self_fields)
        self.count = 0
        self._cipher = AESGCM(AESGCM.generate_key(bit_length=128))
        self._levels = 0
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        _clear_leftovers(folder)
        handle, name = tempfile.mkstemp(prefix=f"{object_name}-", suffix=".sqlite3", dir=folder)
        os.close(handle)
        self._path: Path | None = Path(name)
        self._db = sqlite3.connect(name, check_same_thread=False, isolation_level=None)
        try:
            if os.name == "posix":    # open, so the system keeps it until it is closed: a kill leaves nothing
                self._path.unlink(missing_ok=True)
                self._path = None
            self._db.executescript(f"""
                PRAGMA journal_mode = OFF;
                PRAGMA synchronous = OFF;
                PRAGMA cache_size = -{CACHE_KB};
                CREATE TABLE rec (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE,
                                  {''.join(f'p{i} TEXT, ' for i in range(len(self.fields)))}
                                  level INTEGER, cycle INTEGER NOT NULL DEFAULT 0,
                                  carried INTEGER NOT NULL DEFAULT 0, data BLOB NOT NULL);
            """)
        except BaseException:
            self.close()
            raise

    # ------------------------------------------------------------------ writing
    def add(self, records: list[dict[str, Any]]) -> None:
        """Spool one page of records (the caller lets the page go)."""
        columns = ", ".join(["seq", "id", *(f"p{i}" for i in range(len(self.fields))), "data"])
        marks = ", ".join("?" * (len(self.fields) + 3))
        dumps = json.JSONEncoder(separators=(",", ":")).encode
        encrypt = self._cipher.encrypt
        fields = self.fields
        first = self.count + 1
        with self._transaction():
            self._db.executemany(f"INSERT INTO rec ({columns}) VALUES ({marks})",
                                 ((seq, r["Id"], *(r.get(f) for f in fields),
                                   encrypt(_nonce(seq), dumps(r).encode(), None))
                                  for seq, r in enumerate(records, start=first)))
        self.count += len(records)

    def mark_carried(self, ids: Iterable[str]) -> None:
        """Records done in an earlier run of the job (not written again): left out of the levels, as if not
        read (:meth:`carried` gives them back)."""
        with self._transaction():
            self._db.executemany("UPDATE rec SET carried = 1 WHERE id = ?", ((i,) for i in ids))

    def place_levels(self) -> int:
        """Give every record (not carried) its level: 0 when none of its self-lookups points at another record
        of the spool, else one past the highest of its parents'. Records of a cycle in the data itself, which no
        level can hold, all go in one last level, marked (the second pass sets their lookup). Returns the number
        of levels."""
        others = [f"p.id = rec.p{i}" for i in range(len(self.fields))]
        # A record waits while one of its parents has no level yet, or got this one (in this same statement).
        waits = (f"EXISTS (SELECT 1 FROM rec p WHERE ({' OR '.join(others)}) AND p.id != rec.id AND p.carried = 0 "
                 "AND (p.level IS NULL OR p.level = :level))")
        level = 0
        with self._transaction():
            while True:
                placed = self._db.execute(f"UPDATE rec SET level = :level WHERE level IS NULL AND carried = 0 "
                                          f"AND NOT {waits}", {"level": level}).rowcount
                if not placed:
                    placed = self._db.execute("UPDATE rec SET level = :level, cycle = 1 WHERE level IS NULL "
                                              "AND carried = 0", {"level": level}).rowcount
                    if placed:
                        level += 1
                    break
                level += 1
            self._db.execute("CREATE INDEX rec_level ON rec (level, seq)")
        self._levels = level
        return level

    # ------------------------------------------------------------------ reading
    def records(self) -> Iterator[dict[str, Any]]:
        """Every record, in the order read (one at a time)."""
        yield from self._read("1", ())

    def carried(self, size: int) -> Iterator[list[dict[str, Any]]]:
        """The records :meth:`mark_carried` set apart, in lists of at most ``size``."""
        yield from self._lists("carried = 1", (), size)

    def parts(self, level: int, size: int) -> Iterator[list[dict[str, Any]]]:
        """Level ``level``'s records in parts of at most ``size``, in the order read; a record of a data cycle
        carries ``"__cycle__": True``."""
        yield from self._lists("level = ?", (level,), size)

    def _lists(self, where: str, args: tuple[Any, ...], size: int) -> Iterator[list[dict[str, Any]]]:
        part: list[dict[str, Any]] = []
        for record in self._read(where, args):
            part.append(record)
            if len(part) >= size:
                yield part
                part = []
        if part:
            yield part

    def _read(self, where: str, args: tuple[Any, ...], batch: int = 2000) -> Iterator[dict[str, Any]]:
        """The records ``where`` selects, in the order read, fetched ``batch`` rows at a time by ``seq`` (no
        statement stays open while the caller writes the part it was given)."""
        loads = json.loads
        decrypt = self._cipher.decrypt
        after = 0
        while True:
            rows = self._db.execute(f"SELECT seq, cycle, data FROM rec WHERE ({where}) AND seq > ? ORDER BY seq "
                                    f"LIMIT {batch}", (*args, after)).fetchall()
            if not rows:
                return
            after = rows[-1][0]
            for seq, cycle, data in rows:
                record = loads(decrypt(_nonce(seq), data, None))
                if cycle:
                    record["__cycle__"] = True
                yield record
            del rows

    # ------------------------------------------------------------------ housekeeping
    def _transaction(self) -> Any:
        return _Transaction(self._db)

    def close(self) -> None:
        """Let the file go (and remove it where its name was kept)."""
        try:
            self._db.close()
        finally:
            if self._path is not None:
                try:
                    self._path.unlink()
                except OSError as exc:   # held by a scanner or an indexer: the next run's spool removes it
                    logger.debug("spool file %s not removed: %s", self._path, exc)
                self._path = None

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _nonce(seq: int) -> bytes:
    """A record's nonce: its place in the spool (one key per spool, so no nonce is used twice)."""
    return seq.to_bytes(12, "big")


class _Transaction:
    """``BEGIN`` ... ``COMMIT`` (``ROLLBACK`` on an error) on a connection in autocommit mode."""

    def __init__(self, db: sqlite3.Connection):
        self._db = db

    def __enter__(self) -> None:
        self._db.execute("BEGIN")

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        self._db.execute("COMMIT" if kind is None else "ROLLBACK")


__all__ = ["FOLDER", "Spool"]
