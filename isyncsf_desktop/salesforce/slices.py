"""Long C calls cut into short ones, so the window's thread gets the interpreter lock in between.

The engine runs on worker threads of the desktop app's own process. A call that stays in C from start to end
(``sorted`` of a big list is one: its comparisons never return to the interpreter) keeps the interpreter lock
for its whole length, and the window's event loop waits that long: ``sorted`` of the keys of 40,000 records took
hundreds of milliseconds on a busy box during a 200,000-record sync (``benchmarks/gui_responsiveness.py``). The
lock is handed over only between bytecodes (after ``sys.getswitchinterval()``), so the work is done in slices
that each take a few milliseconds, joined by a loop of bytecodes.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterable
from typing import Any

SORT_SLICE = 8192
"""Items sorted by one C call: a few milliseconds of comparisons of short texts or tuples of them."""
FREE_SLICE = 2048
"""Items let go of by one C call: freeing a record, its payload and what hangs on them is a few microseconds."""


def sorted_in_slices(items: Iterable[Any], *, key: Callable[[Any], Any] | None = None) -> list[Any]:
    """``sorted(items, key=key)``, the same list in the same order (equal items keep their order), with no C
    call over more than :data:`SORT_SLICE` items: each slice sorted on its own, then merged a step at a time
    (``heapq.merge`` is Python code). A short list is sorted at once, as ``sorted`` would."""
    values = list(items)
    if len(values) <= SORT_SLICE:
        return sorted(values) if key is None else sorted(values, key=key)
    runs = [values[start:start + SORT_SLICE] for start in range(0, len(values), SORT_SLICE)]
    del values
    for run in runs:
        run.sort(key=key)
    return list(heapq.merge(*runs, key=key))


def release_in_slices(*lists: list[Any]) -> None:
    """Empty each of ``lists`` :data:`FREE_SLICE` items at a time, from its end. Dropping the last reference to a
    list of many records frees them all in one C call (a part of a million-record sync: its pending records and
    their payloads, over 150 ms with the interpreter lock held, seen with py-spy); a slice at a time, the
    window's thread gets the lock in between. Only for lists no one else reads afterwards."""
    for items in lists:
        while items:
            del items[-FREE_SLICE:]
