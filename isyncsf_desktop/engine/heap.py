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
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_runs = 0
_thresholds: tuple[int, ...] | None = None     # the collector's thresholds before the first run began
NO_FULL_COLLECTION = 1 << 30                   # the oldest generation's threshold while a run is on


@contextmanager
def run_heap() -> Iterator[None]:
    """The span of one run: :func:`settle` freezes the heap inside it; the last one to end unfreezes."""
    global _runs, _thresholds
    with _lock:
        _runs += 1
        if _runs == 1:
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
