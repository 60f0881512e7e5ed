"""Batches in flight: up to N write requests out at once, answered in the order they were sent.

The engine's writes go out as batches (a Collections call of up to 200 records, or a Bulk job).
Batches that do not depend on each other (the same object, the same hierarchy level: no record of
one is a parent of a record of another) can be out at the same time. :func:`send_batches` runs them
so, with three steps per batch:

* ``prepare`` runs in the engine's thread before the batch goes out: the write-ahead journal entry
  (``sending`` records, saved versions), so a crash while it is out loses nothing;
* ``send`` runs on a worker thread and only talks to the org;
* ``finish`` runs in the engine's thread, batch after batch in the order they were sent: the outcomes
  go to the journal, the counts and events follow, abort and stop-at-first-error are honoured.

At most ``depth`` batches are out at once; with ``depth`` 1 each batch is sent and finished before the
next is prepared (no worker thread). When ``finish`` or a ``send`` raises an error (abort, a stop at
the first error, a lost connection), the batches already out are still waited for and finished, so
their outcomes are journaled, and then the first error is raised again. Anything that is not an
:class:`Exception` (the process being torn down) finishes nothing more: the batches out are left as
their write-ahead entries say, which is what the next run recovers from after a kill. Callers wait
for every batch of a level before the next level or object starts, which keeps parents first.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TypeVar

logger = logging.getLogger(__name__)

B = TypeVar("B")
R = TypeVar("R")


def send_batches(batches: Iterable[B], *, depth: int, prepare: Callable[[B], None], send: Callable[[B], R],
                 finish: Callable[[B, R], None], name: str = "isyncsf-write") -> None:
    """Prepare, send and finish every batch of ``batches``, with up to ``depth`` out at once."""
    if depth <= 1:
        for batch in batches:
            prepare(batch)
            finish(batch, send(batch))
        return
    out: deque[tuple[B, Future[R]]] = deque()
    with ThreadPoolExecutor(max_workers=depth, thread_name_prefix=name) as pool:
        try:
            for batch in batches:
                prepare(batch)
                out.append((batch, pool.submit(send, batch)))
                while len(out) >= depth:
                    batch, future = out.popleft()
                    finish(batch, future.result())
            while out:
                batch, future = out.popleft()
                finish(batch, future.result())
        except Exception:
            _drain(out, finish)
            raise
        except BaseException:
            for _, future in out:
                future.cancel()
            raise


def _drain(out: deque[tuple[B, Future[R]]], finish: Callable[[B, R], None]) -> None:
    """The run is stopping: finish the batches already out, so what the org did is journaled."""
    while out:
        batch, future = out.popleft()
        try:
            result = future.result()
        except Exception as exc:   # its records stay "sending" in the journal: the next run finds them
            logger.warning("a batch that was out when the run stopped failed too: %s", exc)
            continue
        try:
            finish(batch, result)
        except Exception as exc:   # the stop already under way is the one reported
            logger.debug("finishing a batch that was out when the run stopped: %s", exc)
