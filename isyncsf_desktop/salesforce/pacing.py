"""When to look at a Bulk API 2.0 job again: waits that follow the job's expected duration.

A fixed backoff (look after 0.05 s, then twice as long each time up to a few seconds) spends most of a
large run's API calls on polls: a 50,000-row job that takes 30 s is looked at a dozen times. Instead a
:class:`PollSchedule` estimates when the job should be done and waits until then:

* from the rows the job holds and the processing rate measured so far: the job's own
  ``numberRecordsProcessed`` over its ``totalProcessingTime`` on the first look that shows progress, then the
  rows processed between two looks over the time between them (queue waits and parallel chunks do not skew it).
  A rate measured on a small part of the job (under :data:`SURE_SHARE`) is only trusted for part of the wait
  (:data:`UNSURE_SHARE`, and no longer than the job's age so far): the next look measures it again over a
  longer stretch;
* before the job shows any progress, from the rate earlier jobs of the same client and the same object and
  operation had (:class:`JobRates`), so the second job of a kind is looked at about when it ends (taken as a
  rough rate while those jobs had fewer than :data:`SURE_PART` of its rows: first looked at early); a long one
  (over :data:`LONG_JOB_SECONDS`) halfway first, as the org may go much faster or slower than it did
  (a 24,000-row hierarchy level, its level before measured while the org also answered a big query, went three
  times faster than expected and was seen 7 s after it ended). Another
  operation's rate is no guide (a delete may go five times faster than an insert); another object's rate for the
  same operation is a rough one (triggers and sharing differ by object), so a first job of its object is looked at
  first after :data:`UNSURE_SHARE` of the time that rate suggests, and measured then (two big jobs of a new object
  out at once each cost two or three looks instead of seven);
* for the connection's first job of an operation, from the rate its sObject Collections requests of that
  operation were answered at (records per second of one request), looked at after :data:`UNSURE_SHARE` of
  the time it suggests too: a job after a few Collections writes (a small parent level, then its children in
  one job) is first looked at once it has done some of its rows, not after 0.05 s when it has just begun (a
  look that cost a call and measured little);
* with none of these, the old doubling backoff from ``first`` to ``backoff_max``.

Each wait aims a little past the expected end (:data:`MARGIN`), but no longer than the job is old so far (or
the backoff's longest wait; :data:`AGE_SHARE`), so a job that speeds up is seen before it has run twice as long
as when it was last looked at. (It was at most half the time left: every long job then cost about
log2(its duration / 4 s) looks more, and looks were 24 of a 200,000-record run's 72 calls where SFDMU made
61 in all.) A job that is not done by then is looked at
again soon (short re-polls, doubling from ``first`` while the estimate says it is nearly done). Every wait is
at most ``longest`` seconds, so a job that stalls or is stuck in the org's queue is still seen, and a job
that makes no progress between two looks falls back to the backoff. A small job is looked at first after
``first`` seconds, as before, so it is never slower than the backoff was.

Pure and clock-free: the caller passes the job's info and the time of each look; tests drive it with a
fake clock.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

MARGIN = 0.05            # aim this share past the expected end (a look just before it costs another call)...
MARGIN_SECONDS = 0.05    # ...and at least this long past it
SURE_SHARE = 0.2         # a rate measured on less than this share of a job's rows is checked again early...
UNSURE_SHARE = 0.3       # ...the next look coming after this share of the time left it suggests
RATE_WEIGHT = 0.5        # weight of the newest finished job in a client's remembered rate
SURE_PART = 0.5          # a kind's remembered rate is sure for a job only if measured on at least this share of
                         # the job's rows (a 4,000-row level the org processed beside a big query went at a
                         # quarter of the next 12,000-row level's rate, which was looked at 4 s after it ended)
AGE_SHARE = 1.0          # a wait is at most this share of the job's age so far (or the backoff's longest wait)
LONG_JOB_SECONDS = 8.0   # a job expected to take longer than this...
HALFWAY = 0.5            # ...is looked at first after this share of its expected time, even on a sure rate


class JobRates:
    """Rows per second the Bulk jobs of one client were processed at, per (object, operation).

    Updated as jobs end (:meth:`record`); read by the next job's :class:`PollSchedule` as its expectation
    before it shows progress of its own. Thread-safe (one client may serve several threads)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rates: dict[tuple[str, str], float] = {}
        self._measured: dict[tuple[str, str], int] = {}   # rows the remembered rate of a kind was measured on
        self._operations: dict[str, float] = {}       # operation -> the rate of its latest job, any object
        self._collections: dict[str, float] = {}      # operation -> the rate of its latest Collections request

    def record(self, kind: tuple[str, str], rate: float, rows: int = 0) -> None:
        """A job of ``kind`` (object, operation) of ``rows`` rows was processed at ``rate`` rows per second."""
        if rate <= 0:
            return
        with self._lock:
            old = self._rates.get(kind)
            self._rates[kind] = rate if old is None else RATE_WEIGHT * rate + (1 - RATE_WEIGHT) * old
            if rows > 0:
                self._measured[kind] = self._measured.get(kind, 0) + rows
            self._operations[kind[1]] = rate

    def record_collections(self, operation: str, rate: float) -> None:
        """An sObject Collections request of ``operation`` (insert, update, delete) was answered at ``rate``
        records per second."""
        if rate > 0:
            with self._lock:
                self._collections[operation] = rate

    def rate(self, kind: tuple[str, str]) -> float | None:
        """The remembered rate of jobs of ``kind`` (None: none ended yet)."""
        with self._lock:
            return self._rates.get(kind)

    def guide(self, kind: tuple[str, str], rows: int | None = None) -> tuple[float | None, bool]:
        """(rate, sure) to expect of a job of ``kind`` (of ``rows`` rows): its kind's remembered rate (sure unless
        its jobs measured it on fewer than :data:`SURE_PART` of ``rows``), else the rate of the latest job of the
        same operation on another object, else that of the latest Collections request of the operation (neither
        sure), else (None, False)."""
        with self._lock:
            rate = self._rates.get(kind)
            if rate is not None:
                measured = self._measured.get(kind)
                return rate, measured is None or not rows or measured >= SURE_PART * rows
            return self._operations.get(kind[1], self._collections.get(kind[1])), False


def processing_seconds(job: dict[str, Any]) -> float:
    """The job's own processing time (``totalProcessingTime``, milliseconds), in seconds (0 when not told)."""
    try:
        return max(0.0, float(job.get("totalProcessingTime") or 0) / 1000.0)
    except (TypeError, ValueError):
        return 0.0


def processed_rows(job: dict[str, Any]) -> int:
    try:
        return max(0, int(job.get("numberRecordsProcessed") or 0))
    except (TypeError, ValueError):
        return 0


class PollSchedule:
    """The waits between looks at one Bulk job.

    ``rows``: rows the job holds (None: not known, as for a query job whose size was not counted);
    ``expected_rate``: rows per second expected before the job shows its own (None: no expectation), and
    ``expected_sure`` whether it is that of jobs of the same kind (else the first look comes after
    :data:`UNSURE_SHARE` of the time it suggests);
    ``first``: the first wait, and the shortest; ``backoff_max``: the longest wait of the backoff used while
    nothing is measured; ``longest``: the longest wait of all. ``start`` is the time the job was closed.
    Call :meth:`next_wait` with the job's info from the last look and the time of that look.
    """

    def __init__(self, rows: int | None, *, expected_rate: float | None, first: float, backoff_max: float,
                 longest: float, start: float, expected_sure: bool = True) -> None:
        self.rows = rows if rows and rows > 0 else None
        self.expected_rate = expected_rate if expected_rate and expected_rate > 0 else None
        self.expected_sure = expected_sure
        self.first = max(0.0, first)
        self.backoff_max = max(self.first, backoff_max)
        self.longest = max(self.backoff_max, longest)
        self.start = start
        self.looks = 0
        self.rate: float | None = None          # rows per second this job was measured at
        self._backoff = self.first
        self._short = self.first
        self._last: tuple[float, int] | None = None   # (time, rows processed) at the last look
        self._stalled = False                           # the last look found no progress since the one before

    def next_wait(self, job: dict[str, Any] | None, now: float) -> float:
        """Seconds to wait before the next look. ``job``: its info from the look just made (None or
        without counts before the first look), ``now``: the time of that look."""
        processed = processed_rows(job or {})
        measured = self._measure(job or {}, processed, now)
        if self.looks == 0 and measured is None:
            self.looks += 1
            if self.rows is not None and self.expected_rate is not None:
                expected = self.rows / self.expected_rate
                if not self.expected_sure:     # another object's rate: look early, measure this job's own
                    return self._bounded(expected * UNSURE_SHARE)
                if expected > LONG_JOB_SECONDS:
                    # a long job: look halfway, and wait on its own rate from there (a look more; without it a job
                    # going three times faster than the last was seen after twice its time)
                    return self._bounded(max(self.backoff_max, expected * HALFWAY))
                return self._bounded(expected * (1 + MARGIN) + MARGIN_SECONDS)
            return self._next_backoff()
        self.looks += 1
        # Nothing done yet after the expected duration (queued behind other jobs): back off, never wait a whole
        # expected duration again (it may start just after this look).
        rate = measured
        if rate is None or self.rows is None:
            self._stalled = processed > 0
            return self._next_backoff()              # nothing to go on, or stalled since the last look
        left = max(0, self.rows - processed) / rate
        wait = left * (1 + MARGIN) + MARGIN_SECONDS
        if processed < self.rows * SURE_SHARE and measured is not None:
            # measured on a small part of the job (its first rows may have waited on the whole file being read):
            # measure again first, and no later than when the job is twice as old as now
            wait = min(left * UNSURE_SHARE, max(self.backoff_max, now - self.start))
        # Never longer than the job is old (or the backoff's longest wait): a job that speeds up (the org's other
        # jobs ended) is seen before its age doubles; a job measured late in its life (on an expected rate, or
        # after a fifth of its rows) is waited for to its end in one wait.
        wait = min(wait, max((now - self.start) * AGE_SHARE, self.backoff_max))
        if self._stalled:        # going again after a stall: when in the last interval it resumed is not known
            wait = min(wait, self.backoff_max)
            self._stalled = False
        if left <= self._short:                      # nearly done by the estimate: look again soon, then less soon
            wait = self._short
            self._short = min(self._short * 2, self.backoff_max)
        return self._bounded(wait)

    def _measure(self, job: dict[str, Any], processed: int, now: float) -> float | None:
        """The job's processing rate now (None when this look shows no new progress): on the first look with
        progress, from the job's own counts; after it, from the rows done since the look before."""
        last, self._last = self._last, (now, processed)
        if processed <= 0:
            return None
        if last is None or last[1] <= 0:
            seconds = processing_seconds(job) or (now - self.start)
            rate = processed / seconds if seconds > 0 else None
        elif processed > last[1] and now > last[0]:
            rate = (processed - last[1]) / (now - last[0])
        else:
            return None                               # no progress since the last look
        if rate is not None:
            self.rate = rate
            self._backoff = self.first               # progress again: the next stall backs off from the start
        return rate

    def _next_backoff(self) -> float:
        wait = self._backoff
        self._backoff = min(self._backoff * 2, self.backoff_max)
        return self._bounded(wait)

    def _bounded(self, wait: float) -> float:
        return min(max(wait, self.first), self.longest)


LATENCY_SAMPLES = 256    # the latest calls a client's latency is measured on
LATENCY_QUANTILE = 0.25  # a client's latency: this quantile of its calls' durations (small calls, not big pages)


class WriteMeter:
    """What one client's writes took: per kind (``collections``, ``bulk``) the requests or jobs, the records
    they carried, and the wall-clock seconds during which at least one write of that kind was out (writes out
    together count once, so a run sending two batches at a time is measured as it goes); and the duration of
    every other call (reads, describes: not the writes' own requests nor a Bulk job's), for the org's latency
    (:attr:`latency`). Thread-safe; read with :meth:`snapshot`."""

    KINDS = ("collections", "bulk")

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._totals = {kind: [0, 0, 0.0] for kind in self.KINDS}     # requests, records, seconds
        self._out = {kind: 0 for kind in self.KINDS}
        self._since = {kind: 0.0 for kind in self.KINDS}
        self._durations: deque[float] = deque(maxlen=LATENCY_SAMPLES)
        self._writing = threading.local()

    @contextmanager
    def writing(self, kind: str, requests: int, records: int) -> Iterator[None]:
        """Measure one write of ``kind`` (``requests`` requests or jobs carrying ``records`` records)."""
        with self._lock:
            if self._out[kind] == 0:
                self._since[kind] = time.monotonic()
            self._out[kind] += 1
        self._writing.depth = getattr(self._writing, "depth", 0) + 1
        try:
            yield
        finally:
            self._writing.depth -= 1
            with self._lock:
                self._out[kind] -= 1
                totals = self._totals[kind]
                totals[0] += requests
                totals[1] += records
                if self._out[kind] == 0:
                    totals[2] += time.monotonic() - self._since[kind]

    def call(self, seconds: float) -> None:
        """One call took ``seconds`` (answered or not); a write's own calls are not a measure of latency."""
        if getattr(self._writing, "depth", 0):
            return
        with self._lock:
            self._durations.append(seconds)

    @property
    def latency(self) -> float | None:
        """Seconds a small call takes (:data:`LATENCY_QUANTILE` of the latest calls), None before any call."""
        with self._lock:
            durations = sorted(self._durations)
        if not durations:
            return None
        return durations[int(len(durations) * LATENCY_QUANTILE)]

    def snapshot(self) -> dict[str, Any]:
        """``{"collections": {"requests", "records", "seconds"}, "bulk": {"jobs", "rows", "seconds"}, "latency"}``
        so far (a write still out counts once it is answered)."""
        with self._lock:
            c, b = (list(self._totals[k]) for k in self.KINDS)
        return {"collections": {"requests": int(c[0]), "records": int(c[1]), "seconds": round(float(c[2]), 4)},
                "bulk": {"jobs": int(b[0]), "rows": int(b[1]), "seconds": round(float(b[2]), 4)},
                "latency": self.latency}


__all__ = ["JobRates", "PollSchedule", "WriteMeter", "processed_rows", "processing_seconds"]
