"""A run's records and Python's cyclic garbage collector.

A sync holds tens of thousands of records, their payloads and id maps for minutes. Python's collector
walks every tracked object in a full collection, and it runs one each time the heap has grown by a
quarter: at 50k records that is 60-75 ms with the interpreter lock held, a frozen window each time in
the desktop app, and time lost in the command line too. What a run has already built is long-lived
by then, so once a batch is journaled the run freezes the heap (``gc.freeze``: the collector no longer
walks what is alive now; reference counting still frees it) after a quick young-generation collection,
so short-lived cycles are not kept. When the last run of the process ends, everything is handed back
to the collector (``gc.unfreeze``).

Between two batches a run can still build a great deal that nothing has frozen yet: a part of 160,000
source records read in pages, a hierarchy object read whole, a Bulk job's results. A full collection
then walks all of it (365 ms measured in the window during a 300,000-record sync, 36 of them). So while
a run is on, the collector makes no full collection of its own (the oldest generation's threshold is
raised out of reach); young collections go on, and what a full collection would have found is what the
freeze already keeps until the run ends. The thresholds come back with the last run's end.

The C allocator, too (glibc, where there is one): each thread that allocates may get an arena of its own
(up to eight per core), and memory freed in one arena serves only that arena's threads, so a run's threads
(objects side by side, a page read ahead, writes in flight) each keep a high-water mark of their own. A run
caps the arenas (:data:`ARENAS`, ``mallopt(M_ARENA_MAX)``) when the first one starts, and hands what a part
freed back to the system between parts (:func:`trim`, ``malloc_trim``). Elsewhere both are no-ops.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
import logging
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

logger = logging.getLogger(__name__)

_lock = threading.Lock()
_runs = 0
_thresholds: tuple[int, ...] | None = None     # the collector's thresholds before the first run began
NO_FULL_COLLECTION = 1 << 30                   # the oldest generation's threshold while a run is on
ARENAS = 2
"""glibc malloc arenas a process that runs a sync may have (M_ARENA_MAX; glibc's default is eight per core)."""
_M_ARENA_MAX = -8
_libc: Any = None          # glibc, once looked for (False: none)


def _glibc() -> Any:
    """The C library when it is glibc (it has ``malloc_trim``); None elsewhere (macOS, Windows, musl)."""
    global _libc
    if _libc is None:
        _libc = False
        if sys.platform.startswith("linux"):
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                if hasattr(libc, "malloc_trim") and hasattr(libc, "mallopt"):
                    libc.malloc_trim.argtypes = [ctypes.c_size_t]
                    libc.mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
                    _libc = libc
            except OSError as exc:
                logger.debug("no C library to tune: %s", exc)
    return _libc or None


def trim() -> None:
    """Hand the memory the C allocator holds free back to the system (glibc's ``malloc_trim``; elsewhere nothing):
    between two parts of an object, what the last one freed does not stay as the process's own."""
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


@contextmanager
def run_heap() -> Iterator[None]:
    """The span of one run: :func:`settle` freezes the heap inside it; the last one to end unfreezes."""
    global _runs, _thresholds
    with _lock:
        _runs += 1
        if _runs == 1:
            libc = _glibc()
            if libc is not None:
                libc.mallopt(_M_ARENA_MAX, ARENAS)
            _thresholds = gc.get_threshold()
            gc.set_threshold(*_thresholds[:2], NO_FULL_COLLECTION)
    try:
        yield
    finally:
        with _lock:
            _runs -= 1
            if _runs == 0:
                gc.unfreeze()
                if _thresholds is not None:
                    gc.set_threshold(*_thresholds)
                    _thresholds = None


def settle() -> None:
    """What is alive now stays for the rest of the run: collect the young generations, freeze the rest."""
    with _lock:
        if _runs == 0:
            return
        gc.collect(1)
        gc.freeze()


def running() -> int:
    """How many runs of this process are inside :func:`run_heap` (for tests and benchmarks)."""
    return _runs
