"""Fault injection for one sandbox org: what a flaky real org does, on demand, for tests.

Counts are consumed as requests arrive ("fail the next 2 requests with 503"), so tests are
deterministic; rates (0..1) use a seeded random generator for soak-style runs.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field, fields
from collections.abc import Callable
from typing import Any

from .errors import RecordError


@dataclass
class Faults:
    """Per-org fault settings. Change them with :meth:`update`; all are off by default."""

    latency: float = 0.0                 # seconds added to every API call
    http_503: int = 0                    # the next N API calls answer 503 SERVER_UNAVAILABLE
    request_limit_exceeded: int = 0      # the next N API calls answer 403 REQUEST_LIMIT_EXCEEDED
    lock_row: int = 0                    # the next N records written fail UNABLE_TO_LOCK_ROW
    lock_row_rate: float = 0.0           # or this share of records written, at random
    api_budget: int | None = None        # API calls allowed in all; past it 403 REQUEST_LIMIT_EXCEEDED
    drop_after_commit: int = 0           # the next N DML calls commit, then the connection drops
    bulk_hold: bool = False              # closed Bulk 2.0 ingest jobs wait in the queue (UploadComplete) until False
    seed: int = 7
    # Python only (tests): called with ("before" | "after", method, path) around every authenticated
    # call's handler; "after" runs once the org has committed, before the answer goes out; "drop"
    # returned from "before" drops the connection unprocessed. A kill trial uses it to end a
    # client process at an exact point.
    observer: Callable[[str, str, str], None] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    _random: random.Random = field(default_factory=random.Random, repr=False, compare=False)
    _bulk_released: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._bulk_released.set()

    def update(self, **settings: Any) -> None:
        names = {f.name for f in fields(self) if not f.name.startswith("_")}
        unknown = set(settings) - names
        if unknown:
            raise ValueError(f"unknown fault setting(s): {', '.join(sorted(unknown))}; known: {', '.join(sorted(names))}")
        with self._lock:
            for key, value in settings.items():
                setattr(self, key, value)
            if "seed" in settings:
                self._random.seed(self.seed)
            if self.bulk_hold:
                self._bulk_released.clear()
            else:
                self._bulk_released.set()

    def as_dict(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if not f.name.startswith("_")
                and f.name != "observer"}

    def bulk_turn(self) -> None:
        """A Bulk job's turn in the org's queue: now, or once ``bulk_hold`` is set back to False (as a
        busy real org keeps jobs queued for a while)."""
        self._bulk_released.wait()

    def take(self, name: str) -> bool:
        """Consume one count of fault ``name``; True when it fires."""
        with self._lock:
            remaining = getattr(self, name)
            if remaining > 0:
                setattr(self, name, remaining - 1)
                return True
            return False

    def record_fault(self, _index: int) -> RecordError | None:
        """Called per record written: a lock error, or None."""
        if self.take("lock_row") or (self.lock_row_rate and self._random.random() < self.lock_row_rate):
            return RecordError("UNABLE_TO_LOCK_ROW",
                               "unable to obtain exclusive access to this record or 1 records", [])
        return None
