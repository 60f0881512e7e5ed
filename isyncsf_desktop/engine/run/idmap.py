"""The run's id map (source id -> target id), compact when it is large.

A Python dict of strings costs about 160 bytes an entry (two 18-character strings and the dict's slot): at a
million records, 157 MB of the run's memory for one map. Past :data:`SPILL` entries the map keeps its
18-character ids as bytes instead, 36 an entry (the source id, then the target id), in buckets chosen by the
source id's hash: a look-up searches one bucket of at most :data:`LOAD` entries (``bytearray.find``, in C). Ids of any
other length (a preview's placeholders, a test's short names) stay in a plain dict beside them.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, MutableMapping

SPILL = 50_000
"""Entries held as a plain dict before the map turns compact (a small run stays a dict)."""

ID = 18          # the length of the ids kept compact
ENTRY = 2 * ID   # one entry: the source id, then the target id
BUCKETS = 1 << 12     # buckets when the map turns compact; four times as many each time they hold LOAD entries each
LOAD = 32


class IdMap(MutableMapping[str, str]):
    """Source id -> target id: a dict until it holds ``spill`` entries, then compact (see the module).

    Safe to share between threads (objects synced side by side): writes take a lock; a read sees each entry
    before or after a write, never half of one."""

    def __init__(self, items: Iterable[tuple[str, str]] = (), *, spill: int | None = None):
        self._spill = SPILL if spill is None else spill
        self._other: dict[str, str] = {}                  # the map while small; then the ids not 18 ASCII characters
        self._buckets: list[bytearray] | None = None
        self._compact = 0                                 # entries in the buckets
        self._lock = threading.Lock()
        for key, value in items:
            self[key] = value

    @staticmethod
    def _packable(key: str, value: str) -> bool:
        return isinstance(value, str) and len(key) == ID and len(value) == ID and key.isascii() and value.isascii()

    def _find(self, bucket: bytearray, raw: bytes) -> int:
        """Where the entry of source id ``raw`` starts in ``bucket``; -1: not there."""
        at = bucket.find(raw)
        while at != -1 and at % ENTRY:      # found inside another entry (a target id that equals it): look on
            at = bucket.find(raw, at + 1)
        return at

    def _bucket(self, key: str) -> bytearray:
        assert self._buckets is not None
        return self._buckets[hash(key) & (len(self._buckets) - 1)]

    def _spill_over(self) -> None:
        """Move the 18-character entries of the dict into buckets. Each structure is whole before it is put in
        place (the buckets first, then the dict without them), so a read in another thread finds every entry."""
        buckets = [bytearray() for _ in range(BUCKETS)]
        mask = len(buckets) - 1
        rest: dict[str, str] = {}
        for key, value in self._other.items():
            if self._packable(key, value):
                buckets[hash(key) & mask] += key.encode("ascii") + value.encode("ascii")
                self._compact += 1
            else:
                rest[key] = value
        self._buckets = buckets
        self._other = rest

    def _grow(self) -> None:
        """Four times as many buckets (each held :data:`LOAD` entries on average): the entries spread again, into
        buckets put in place once whole."""
        assert self._buckets is not None
        buckets = [bytearray() for _ in range(4 * len(self._buckets))]
        mask = len(buckets) - 1
        for bucket in self._buckets:
            for at in range(0, len(bucket), ENTRY):
                buckets[hash(bucket[at:at + ID].decode("ascii")) & mask] += bucket[at:at + ENTRY]
        self._buckets = buckets

    def _put(self, key: str, value: str) -> None:
        if not self._packable(key, value):
            self._other[key] = value
            if len(key) == ID and self._buckets is not None:      # it may have been kept compact before
                self._remove(key)
            return
        bucket = self._bucket(key)
        raw = key.encode("ascii")
        at = self._find(bucket, raw)
        if at == -1:
            bucket += raw + value.encode("ascii")
            self._compact += 1
        else:
            bucket[at + ID:at + ENTRY] = value.encode("ascii")
        self._other.pop(key, None)
        if self._compact > LOAD * len(self._buckets or ()):
            self._grow()

    def _remove(self, key: str) -> bool:
        if self._buckets is None or len(key) != ID or not key.isascii():
            return False
        bucket = self._bucket(key)
        at = self._find(bucket, key.encode("ascii"))
        if at == -1:
            return False
        del bucket[at:at + ENTRY]
        self._compact -= 1
        return True

    def __setitem__(self, key: str, value: str) -> None:
        with self._lock:
            if self._buckets is None:
                self._other[key] = value
                if len(self._other) >= self._spill:
                    self._spill_over()
            else:
                self._put(key, value)

    def get(self, key: str, default: str | None = None) -> str | None:   # type: ignore[override]
        buckets = self._buckets
        if buckets is not None and len(key) == ID and key.isascii():
            bucket = buckets[hash(key) & (len(buckets) - 1)]
            raw = key.encode("ascii")
            at = bucket.find(raw)
            while at != -1 and at % ENTRY:
                at = bucket.find(raw, at + 1)
            if at != -1:
                return bucket[at + ID:at + ENTRY].decode("ascii")
        return self._other.get(key, default)

    def __getitem__(self, key: str) -> str:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) is not None

    def __delitem__(self, key: str) -> None:
        with self._lock:
            if not self._remove(key):
                del self._other[key]

    def __len__(self) -> int:
        return self._compact + len(self._other)

    def __iter__(self) -> Iterator[str]:
        for bucket in self._buckets or ():
            for at in range(0, len(bucket), ENTRY):
                yield bucket[at:at + ID].decode("ascii")
        yield from list(self._other)

    @property
    def compact(self) -> bool:
        """Whether the map has turned compact (past ``spill`` entries)."""
        return self._buckets is not None


__all__ = ["IdMap", "SPILL"]
