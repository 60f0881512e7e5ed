"""Time left of a run, from the rate the run has measured so far: never a guess from nothing.

:class:`Eta` is fed the run's events (their ``elapsed`` is its clock: seconds since the run began) and the
records each object is expected to process (:func:`.progress.planned_records`, the scan's counts). It keeps,
per object, the records done over the time since the object was reached (its reading included), and for the
run the records done over the time since the first object was reached; a rate is that of the latest half of
the time measured (:data:`RECENT`), so a slow start (reading, a first hierarchy level written through
Collections) weighs less and less. Time left is then

* for an object under way: its records still to do at its own rate (at the run's rate until the object has
  been measured for :data:`MIN_OBJECT_SECONDS`, and blended with it until :data:`TRUST_SHARE` of its records
  are done: the first rows of a Bulk job, after its reading and upload, say little of the rest); the rows its
  Bulk jobs have processed in the org count as done as soon as a look at the job says so
  (:class:`.events.BulkJobProgress`), before their results are journaled;
* for an object not reached yet: its planned records at the run's rate (reading and writing both counted);
* for the run: the longest of the objects under way (with ``parallel_objects`` several run at once and end
  together) plus the sum of the others, smoothed over time (:data:`SMOOTHING_SECONDS`) so that a burst of events (a
  Bulk job landing 50,000 records at once) does not make the figure jump, and counting down between events.

Until the run has measured :data:`MIN_SECONDS` of work and done :data:`MIN_SHARE` of its planned records, there
is no figure: "estimating…" (a 1,000,000-record run's first look at its first Bulk job saw 200 rows after 50 s
and said 35 hours; the smoothing then carried that for a while).

One rate for the run cannot know that the objects still to come go faster or slower per record than those before
(on a 1,000,000-record run, its Accounts, a hierarchy written level by level with one Bulk job at a time, took
2.2 ms a record, its Contacts, two jobs at once, a third of that: at 25% of the run the figure was +362% off).
So the first pass says, before it reaches its first object, how it will write each one (:class:`.events.RunPlanned`:
a hierarchy or not, its Bulk threshold, rows per Bulk job, jobs out at once, the objects it waits for, the objects
written at once), and the run measures each *kind* of work on its own, for objects of the same kind (hierarchy or
flat) where it has them, else on the other kind: the org's rate per row of a Bulk job (rows between two looks at a
job over the time between; with none, a job first seen ended: its rows over the time since its write began), the
time before a job's first row (from when its object's write of it began: its records
decided, its rows built and uploaded, the job opened), its results read and journaled per row (from when no job of
the object is out), and an object's reading before its start per record. An object not reached yet then costs its
reading, a round of that time per jobs out at once, its rows at the org's rate times the jobs out at once, and its
results (:meth:`Eta._cost`): a hierarchy's reading (read whole for its levels) and its level jobs one at a time are
its own, not charged to the flat objects after it. An object written through Collections (below its threshold) is
counted at the run's rate, as is everything until a Bulk job has been looked at and its results journaled. An
object under way is counted at its shape's cost less the time it has had, handed over to its own rate as its work is
done (:meth:`Eta._shaped_left`), and the objects still to come are placed on the objects-at-once as they come free,
each after those it waits for (:meth:`Eta._schedule`). What this cannot know is an org that processes one
object's rows faster than another's (the sandbox's Contacts go two to three times faster per row than its
Accounts): that stays off until the object is reached. A prior (below), when there is one, still comes first.

Each object's *share of the run* is measured too: every second of the run split evenly among the objects under
way then (:meth:`Eta.measured`: for objects side by side, their shares add up to the run's time). A completed sync
keeps these in the journal (:func:`.progress.remember_times`), and the next sync of the same
template to the same target org starts from them (:meth:`Eta.use_prior`, :func:`.progress.times_before`): each
object is counted at what its records took then, scaled by how much faster or slower this run goes than that
one did at the same batches journaled (:meth:`Eta._speed`), and handed over to its own rate as its work is done
(:meth:`Eta._from_prior`). That gives a figure from the first object on. Rows a Bulk job has processed are not
the end of their work: their results are still read and journaled, which the run measures as it goes
(:meth:`Eta._results_left`; an 80,000-row job's took 10 to 20 s on a busy machine).
Pure Python, no clock of its own: the GUI and the CLI pass how long ago the last event came.
"""

from __future__ import annotations

import bisect
import heapq
import math
import threading
from dataclasses import dataclass, field
from typing import Any

from .events import (BatchDone, BulkJobProgress, Event, ObjectFinished, ObjectReading, ObjectShape, ObjectStarted,
                     RunPlanned)

MIN_SECONDS = 2.0           # the run's own work measured before any figure is given...
MIN_SHARE = 0.01            # ...and this share of its planned records done
MIN_OBJECT_SECONDS = 1.0    # an object's own rate is used once it has been measured this long
RECENT = 0.5                # rates are of the latest half of the time measured: a slow start weighs less and less
TRUST_SHARE = 0.2           # an object's own rate counts fully once this share of its records is done (before, in part)
SMOOTHING_SECONDS = 1.0     # a new estimate of the run's time left outweighs the last one counted down after this
COMPARABLE = 4.0            # an earlier run's object is a prior for this one's if its records were within this factor
SPEED_RANGE = (1 / 3, 3.0)  # how much faster or slower than its prior this run may be taken to go
BEHIND = 0.5                # an object past its prior's time still has at least this share of its work left's cost
SAME_SIZE = 0.1             # an object's marks compare with an earlier run's only if its records are within this share
MARKS_KEPT = 40             # (records journaled, share then) points of each object a run keeps for the next


class _Progress:
    """Records done over time, from a start: the rate over the recent part of it (:data:`RECENT`). Samples older
    than the part the rate still needs are dropped (that part only moves forward), so a long run keeps only the
    samples of its latest half."""

    def __init__(self, start: float) -> None:
        self.start = start
        self.times: list[float] = [start]       # event times, ascending...
        self.counts: list[int] = [0]            # ...and the records done by each

    @property
    def done(self) -> int:
        return self.counts[-1]

    @property
    def last(self) -> float:
        return self.times[-1]

    def add(self, at: float, done: int) -> None:
        if done > self.done or at > self.last:
            self.times.append(max(at, self.last))
            self.counts.append(max(done, self.done))

    def done_at(self, moment: float) -> float:
        """Records done by ``moment`` (linear between the samples around it)."""
        i = bisect.bisect_left(self.times, moment)
        if i >= len(self.times):
            return float(self.counts[-1])
        if i == 0 or self.times[i] == moment:
            return float(self.counts[i])
        t0, t1, c0, c1 = self.times[i - 1], self.times[i], self.counts[i - 1], self.counts[i]
        return c0 + (moment - t0) / (t1 - t0) * (c1 - c0)

    def rate(self, now: float, least: float) -> float | None:
        """Records a second over the recent part of the time since the start (at least ``least`` seconds of it
        measured, and some records done; else None)."""
        seconds = now - self.start
        if seconds < least or self.done <= 0:
            return None
        window = max(least, seconds * RECENT)
        done = self.done - self.done_at(now - window)
        drop = bisect.bisect_left(self.times, now - window) - 1     # keep the sample before the window
        if drop > 0:
            del self.times[:drop], self.counts[:drop]
        return done / window if done > 0 else self.done / seconds


@dataclass
class _Object:
    start: float                    # event time the run reached the object
    flat: bool = True               # not a hierarchy (the plan's shape: RunPlanned)
    progress: _Progress = field(init=False)
    total: int | None = None        # records to process (ObjectStarted), None until known
    finished: bool = False
    journaled: int = 0              # records done as its last BatchDone counts them
    rate_before: float | None = None    # the run's rate when the object was reached
    in_jobs: dict[str, tuple[int, bool]] = field(default_factory=dict)   # Bulk job -> (rows processed, ended)
    share: float = 0.0              # its share of the run's time so far: each second split among the objects under way
    backlog_since: float | None = None  # rows its Bulk jobs processed wait for their results to be journaled since
    results_since: float | None = None  # ...and no job of it is out any more since: the results' own time
    marks: list[tuple[int, float]] = field(default_factory=list)   # (records journaled, its share then) per batch
    writing: float | None = None    # when its write of what goes out next began: its start, or its last batch

    def __post_init__(self) -> None:
        self.progress = _Progress(self.start)

    def count(self, at: float) -> None:
        """Its records done at ``at``: those journaled and those its Bulk jobs out have processed."""
        self.progress.add(at, self.journaled + sum(rows for rows, _ended in self.in_jobs.values()))

    @property
    def processed(self) -> int:
        return self.progress.done

    @property
    def all_ended(self) -> bool:
        """No Bulk job of it is still being processed by the org (while one is, the time is that job's)."""
        return all(ended for _rows, ended in self.in_jobs.values())

    @property
    def last(self) -> float:
        return self.progress.last


@dataclass
class _Job:
    """One Bulk job as the looks at it saw it."""

    flat: bool                      # of an object that is not a hierarchy
    begun: float                    # when its object's write of it began (see _Object.writing)
    first: tuple[float, int]        # (event time, rows processed) of the first look...
    last: tuple[float, int]         # ...and of the latest
    ended: bool = False


@dataclass(frozen=True)
class Remaining:
    """Seconds left (None: not measured enough yet): for the run, and per object not finished yet."""

    total: float | None
    objects: dict[str, float | None] = field(default_factory=dict)


class Eta:
    """Time left of one run from its events (see the module's docstring)."""

    def __init__(self, planned: dict[str, int] | None = None) -> None:
        self.planned: dict[str, int] = dict(planned or {})
        self._objects: dict[str, _Object] = {}
        self._start: float | None = None          # event time the first object was reached
        self._run = _Progress(0.0)                # the run's records done since then
        self._now = 0.0                           # event time of the last event
        self._smoothed: tuple[float, float] | None = None   # (event time, seconds left then)
        self._prior: dict[str, tuple[int, float]] = {}     # object -> (records, seconds of the run) an earlier run took
        self._prior_marks: dict[str, list[tuple[int, float]]] = {}   # object -> its (journaled, share) then
        self._results: dict[bool, tuple[float, int]] = {}   # flat? -> seconds ended Bulk jobs' results took, rows
        self._lock = threading.Lock()             # BulkJobProgress may come from another thread of the run
        # the plan's shape (RunPlanned) and what the run measured per kind of work, for objects not reached yet
        self._shapes: dict[str, ObjectShape] = {}
        self._streams = 1                         # objects written at once
        self._jobs: dict[str, _Job] = {}          # Bulk job -> what its looks saw
        self._org: dict[bool, tuple[float, int]] = {}       # flat? -> (seconds, rows) between looks at a job
        self._reading: dict[bool, tuple[float, int]] = {}   # flat? -> (seconds, records) from reached to started
        self._read_at: dict[str, float] = {}      # object -> event time it was reached (its reading began)

    def set_planned(self, planned: dict[str, int]) -> None:
        """The records each object is expected to process in this run (objects not reached yet count these)."""
        with self._lock:
            self.planned = dict(planned)

    def use_prior(self, measured: dict[str, dict[str, Any]] | None) -> None:
        """What an earlier run of the same template to the same target measured (:meth:`measured` of that run,
        as :func:`.progress.times_before` reads it back): each object's records and its share of that run's time.
        Objects with one are counted at it until their own measurement is trusted (see the module's docstring)."""
        prior, marks = {}, {}
        for name, figures in (measured or {}).items():
            try:
                records, seconds = int(figures["records"]), float(figures["seconds"])
                marks[name] = sorted((int(done), float(share)) for done, share in figures.get("marks") or [])
            except (KeyError, TypeError, ValueError, AttributeError):
                continue            # kept by another version: left out
            if records > 0 and seconds > 0:
                prior[name] = (records, seconds)
        with self._lock:
            self._prior, self._prior_marks = prior, marks

    def measured(self) -> dict[str, dict[str, Any]]:
        """Each finished object's records and its share of the run's time (seconds while it was under way, each
        split evenly among the objects under way then): the prior of the next run (:meth:`use_prior`)."""
        with self._lock:
            return {name: {"records": obj.processed, "seconds": round(obj.share, 3),
                           "marks": [[done, round(share, 3)] for done, share in _thinned(obj.marks)]}
                    for name, obj in self._objects.items() if obj.finished and obj.processed > 0}

    # ------------------------------------------------------------------ feeding
    def observe(self, event: Event) -> None:
        """Take one event of the run (others than object and batch events only move the clock)."""
        with self._lock:
            self._observe(event)

    def _observe(self, event: Event) -> None:
        if isinstance(event, RunPlanned):
            self._shapes, self._streams = dict(event.objects), max(1, event.parallel_objects)
        if isinstance(event, (ObjectReading, ObjectStarted, BatchDone, ObjectFinished, BulkJobProgress)):
            self._accrue(event.elapsed)
        self._now = max(self._now, event.elapsed)
        if isinstance(event, ObjectReading):
            self._read_at[event.object] = event.elapsed
        elif isinstance(event, ObjectStarted) and event.object in self._read_at and event.total > 0:
            flat = self._flat(event.object)
            seconds, records = self._reading.get(flat, (0.0, 0))
            self._reading[flat] = (seconds + event.elapsed - self._read_at.pop(event.object), records + event.total)
        if isinstance(event, (ObjectReading, ObjectStarted)):
            if self._start is None:
                self._start = event.elapsed
                self._run = _Progress(event.elapsed)
            obj = self._objects.get(event.object)
            if obj is None or obj.finished:
                obj = self._objects[event.object] = _Object(start=event.elapsed, flat=self._flat(event.object))
                obj.rate_before = self._run.rate(event.elapsed, MIN_SECONDS)
            if isinstance(event, ObjectStarted):
                obj.total = event.total
                obj.writing = event.elapsed
        elif isinstance(event, (BatchDone, ObjectFinished, BulkJobProgress)):
            if self._start is None:
                self._start = event.elapsed
                self._run = _Progress(event.elapsed)
            obj = self._objects.get(event.object)
            if obj is None:
                obj = self._objects[event.object] = _Object(start=self._start, flat=self._flat(event.object))
            if isinstance(event, BulkJobProgress):
                # rows a Bulk job out has processed: counted until a BatchDone journals them (after it ended)
                obj.in_jobs[event.bulk_id] = (event.processed, event.ended)
                self._look(event, obj)
                if event.ended and obj.backlog_since is None:
                    obj.backlog_since = event.elapsed
                if obj.results_since is None and obj.all_ended:
                    obj.results_since = event.elapsed
            else:
                journaled = max(obj.journaled, event.counts.processed)
                if obj.results_since is not None and journaled > obj.journaled:
                    # the time an ended job's results took to be read and journaled: work of its own
                    seconds, rows = self._results.get(obj.flat, (0.0, 0))
                    self._results[obj.flat] = (seconds + event.elapsed - obj.results_since,
                                               rows + journaled - obj.journaled)
                if journaled > obj.journaled:
                    obj.marks.append((journaled, obj.share))
                obj.journaled = journaled
                obj.in_jobs = {bulk_id: seen for bulk_id, seen in obj.in_jobs.items() if not seen[1]}
                if event.counts.total:
                    obj.total = event.counts.total
                obj.writing = event.elapsed
            obj.count(event.elapsed)
            if not isinstance(event, BulkJobProgress):      # rows still waiting for theirs: from now
                obj.backlog_since = event.elapsed if obj.processed > obj.journaled else None
                obj.results_since = event.elapsed if obj.processed > obj.journaled and obj.all_ended else None
            if isinstance(event, ObjectFinished):
                obj.finished = True
            self._run.add(event.elapsed, sum(o.processed for o in self._objects.values()))
        else:
            return
        self._smooth()

    def _accrue(self, at: float) -> None:
        """The time since the last event, split evenly among the objects under way (their shares of the run)."""
        under_way = [obj for obj in self._objects.values() if not obj.finished]
        if under_way and at > self._now:
            each = (at - self._now) / len(under_way)
            for obj in under_way:
                obj.share += each

    def _flat(self, name: str) -> bool:
        """Whether ``name`` is written in one go, not level by level (not known: taken as flat)."""
        shape = self._shapes.get(name)
        return shape is None or not shape.hierarchy

    def _look(self, event: BulkJobProgress, obj: _Object) -> None:
        """A look at a Bulk job: the rows the org processed since the last look at it, over the time between."""
        job = self._jobs.get(event.bulk_id)
        seen = (event.elapsed, event.processed)
        if job is None:
            begun = obj.writing if obj.writing is not None else obj.start
            self._jobs[event.bulk_id] = _Job(self._flat(event.object), begun, seen, seen, event.ended)
            return
        (then, rows), job.last, job.ended = job.last, seen, job.ended or event.ended
        if event.elapsed > then and event.processed > rows:
            seconds, done = self._org.get(job.flat, (0.0, 0))
            self._org[job.flat] = (seconds + event.elapsed - then, done + event.processed - rows)

    # ------------------------------------------------------------------ reading
    def run_rate(self) -> float | None:
        """Records a second the run has processed lately (over the latest half of the time since its first object
        was reached; None: not measured enough). Callers outside hold no lock: for tests and benchmarks."""
        if self._start is None:
            return None
        return self._run.rate(self._now, MIN_SECONDS)

    def _total(self, name: str, obj: _Object) -> int:
        """Records ``obj`` is to process: as its start said, else as planned."""
        return obj.total if obj.total is not None else self.planned.get(name, 0)

    def _results_left(self, obj: _Object) -> float:
        """Seconds the rows ``obj``'s Bulk jobs have processed still take to have their results read and journaled,
        at what that took so far in the run (an 80,000-row job's took 10 to 20 s on a busy machine, while the
        rows counted as done said nothing was left), less the time they have waited."""
        per_row = self._per_unit(self._results, obj.flat)
        if per_row is None or obj.processed <= obj.journaled:
            return 0.0
        waited = self._now - obj.backlog_since if obj.backlog_since is not None else 0.0
        return max(0.0, (obj.processed - obj.journaled) * per_row - waited)

    def _object_left(self, name: str, obj: _Object, run_rate: float | None) -> float | None:
        tail = self._results_left(obj)
        left = self._rows_left(name, obj, run_rate)
        return None if left is None else max(left, tail)

    def _rows_left(self, name: str, obj: _Object, run_rate: float | None) -> float | None:
        total = self._total(name, obj)
        left = max(0, total - obj.processed)
        if left == 0:
            return 0.0
        rate = obj.progress.rate(obj.last, MIN_OBJECT_SECONDS) if obj.processed > 0 else None
        if rate is not None:
            if run_rate is not None:   # a few records done (a Bulk job's first rows) say little of the rest yet
                trust = min(1.0, obj.processed / max(1.0, TRUST_SHARE * total))
                rate = trust * rate + (1 - trust) * run_rate
            # time since its last count is time spent on what is left
            return max(0.0, left / rate - (self._now - obj.last))
        if run_rate is None:
            return None
        if obj.processed == 0:          # being read: the time since it was reached is part of its time
            return max(0.0, left / run_rate - (self._now - obj.start))
        return left / run_rate

    # ------------------------------------------------------------------ by the plan's shape (a first sync)
    def _per_unit(self, table: dict[bool, tuple[float, int]], flat: bool) -> float | None:
        """Seconds per unit (row, record) of ``table`` (flat? -> seconds, units) for objects of kind ``flat``:
        as measured on objects of that kind, else on the other kind; None: on neither yet."""
        for kind in (flat, not flat):
            seconds, units = table.get(kind, (0.0, 0))
            if units > 0:
                return seconds / units
        return None

    def _bulk_rate(self, flat: bool) -> tuple[float, float] | None:
        """Seconds per row of a Bulk job at the org, and the time a job takes before its first row, for objects of
        kind ``flat`` (as measured on objects of that kind, else on the other kind; None: on neither yet).

        From the rows between two looks at a job (over the time between) when there are such; the time before a
        job's first row is then, per job, from when its object's write of it began (its records decided, its rows
        built and uploaded, the job opened) to its first look, less the rows that look saw at that rate. A job first
        seen when it had already ended (looks grow sparse on a long job) says only its rows over the time since its
        write began: with no two looks at a job of the kind, that, the time before its first row counted in."""
        for kind in (flat, not flat):
            jobs = [job for job in self._jobs.values() if job.flat == kind]
            seconds, rows = self._org.get(kind, (0.0, 0))
            if rows > 0:
                per_row = seconds / rows
                return per_row, sum(max(0.0, job.first[0] - job.first[1] * per_row - job.begun)
                                    for job in jobs) / len(jobs)
            whole = [job for job in jobs if job.ended and job.first == job.last and job.last[1] > 0]
            if whole:
                return sum(job.last[0] - job.begun for job in whole) / sum(job.last[1] for job in whole), 0.0
        return None

    def _cost(self, name: str, records: int) -> float | None:
        """Seconds ``records`` of ``name`` take by the plan's shape of it (:class:`.events.ObjectShape`) and what
        the run has measured of each kind of work: its reading (before it starts), each round of Bulk jobs out at
        once (the time before a job's first row), its rows at the org's rate per job times the jobs out at once, and
        their results read and journaled. None: not written through Bulk API (its Collections batches: at the run's
        rate), or not measured yet. A hierarchy's reading (read whole for its levels) and its level jobs one at a
        time are its own: a flat object is counted at flat objects' figures once one is measured."""
        shape = self._shapes.get(name)
        if shape is None or records <= 0:
            return None if shape is None else 0.0
        if not shape.bulk_from or records < shape.bulk_from:
            return None
        flat = not shape.hierarchy
        bulk, results = self._bulk_rate(flat), self._per_unit(self._results, flat)
        if bulk is None or results is None:
            return None
        per_row, start = bulk
        # a flat object's pages are read as its parts go (in the time before each job's first row): only what was
        # measured on flat objects before their start; a hierarchy is read whole first, as the one measured was
        read = self._reading.get(flat) or (None if flat else self._reading.get(True))
        reading = read[0] / read[1] * records if read and read[1] else 0.0
        jobs = math.ceil(records / max(1, shape.job_rows))
        at_once = max(1, min(shape.at_once, jobs))
        return reading + math.ceil(jobs / at_once) * start + records * (per_row / at_once + results)

    def _shaped_left(self, name: str, obj: _Object) -> float | None:
        """Seconds left of ``obj`` under way: its cost by the plan's shape less the time it has had, blended with
        its own rate's figure as its work is done (None: no such cost). Its own rate alone runs ahead: it counts
        rows as a Bulk job's looks see them processed, before the rounds still to come have their jobs opened and
        their results journaled (at half of a 1,000,000-record run's Contacts it said 162 s, with 318 left)."""
        total = max(1, self._total(name, obj))
        cost = self._cost(name, total)
        if cost is None:
            return None
        planned = max(self._results_left(obj), cost - (self._now - obj.start))
        own = self._object_left(name, obj, None)
        done = min(1.0, obj.processed / total)
        return planned if own is None else (1 - done) * planned + done * own

    def _schedule(self, under_way: dict[str, float], waiting: dict[str, float]) -> float:
        """Seconds until the last object ends: those waiting (in the plan's order) each on the first of the
        template's objects-at-once to come free, not before the objects it waits for have ended."""
        streams = [*under_way.values(), *[0.0] * max(0, self._streams - len(under_way))]
        heapq.heapify(streams)
        ends = dict(under_way)
        for name, cost in waiting.items():
            shape = self._shapes.get(name)
            ready = max((ends.get(other, 0.0) for other in (shape.after if shape else ())), default=0.0)
            begins = max(heapq.heappop(streams) if streams else 0.0, ready)
            ends[name] = begins + cost
            heapq.heappush(streams, ends[name])
        return max([0.0, *ends.values()])

    def _prior_cost(self, name: str) -> float | None:
        """Seconds of the run a record of ``name`` took in the earlier run (None: none, or of a run not comparable:
        records more than :data:`COMPARABLE` times fewer or more, whose fixed costs weigh differently)."""
        prior = self._prior.get(name)
        if prior is None:
            return None
        records, seconds = prior
        obj = self._objects.get(name)
        planned = self._total(name, obj) if obj is not None else self.planned.get(name, 0)
        if planned and not 1 / COMPARABLE <= planned / records <= COMPARABLE:
            return None
        return seconds / records

    def _speed(self) -> float:
        """How many times slower than its prior this run goes (a busier machine, a slower org): the shares of the
        objects finished against what their records took before, and of the objects under way at their latest
        journaled batch against the earlier run's share at as many records journaled (its marks: the parts and
        levels of a comparable run are journaled at the same counts); 1 with neither yet. Not from the rows a Bulk
        job is seen to have processed: they come in bursts."""
        own = expected = 0.0
        for name, obj in self._objects.items():
            cost = self._prior_cost(name)
            if cost is not None and obj.processed > 0 and obj.finished:
                own, expected = own + obj.share, expected + cost * obj.processed
            elif cost is not None and obj.marks and self._same_size(name, obj):
                then = self._share_then(name, obj.marks[-1][0])
                if then is not None:
                    own, expected = own + obj.marks[-1][1], expected + then
        return min(max(own / expected, SPEED_RANGE[0]), SPEED_RANGE[1]) if expected > 0 else 1.0

    def _same_size(self, name: str, obj: _Object) -> bool:
        """Whether ``obj`` has as many records as in the earlier run, give or take :data:`SAME_SIZE`: only then are
        its batches (a hierarchy's levels, its parts) journaled at the same counts as then."""
        records = self._prior[name][0]
        return abs(self._total(name, obj) - records) <= SAME_SIZE * records

    def _share_then(self, name: str, journaled: int) -> float | None:
        """The share of the earlier run ``name`` had had when it had journaled ``journaled`` records (None: it never
        journaled as many)."""
        before = (0, 0.0)
        for done, share in self._prior_marks.get(name, []):
            if done >= journaled:
                return before[1] + (share - before[1]) * (journaled - before[0]) / max(1, done - before[0])
            before = (done, share)
        return None

    def _from_prior(self) -> Remaining | None:
        """The estimate when an earlier run measured every object left (None: it did not). Each object's time left
        is a share of the run's: what its records took in the earlier run (times :meth:`_speed`) less the share it
        has had so far (an object past that time with work left: :data:`BEHIND` of its work left's cost), blended
        with its own rate's figure as its work is done (records journaled, and half of those its Bulk jobs have
        processed: their results are still to come). The run's time left is the shares added up: objects side by
        side share the machine and the org, so together they take as long as their shares. A hierarchy's slow
        records and its levels' jobs are its own, not charged to the objects after it, and an object's reading and
        upload, when nothing of it is seen done yet, count as the time they took before."""
        names = [name for name, obj in self._objects.items() if not obj.finished]
        names += [name for name, count in self.planned.items() if name not in self._objects and count > 0]
        costs = {name: self._prior_cost(name) for name in names}
        if not self._prior or any(cost is None for cost in costs.values()):
            return None
        speed = self._speed()
        under_way = max(1, sum(1 for obj in self._objects.values() if not obj.finished))
        shares: dict[str, float] = {}
        for name in names:
            cost = (costs[name] or 0.0) * speed
            obj = self._objects.get(name)
            if obj is None:
                shares[name] = self.planned.get(name, 0) * cost
                continue
            total = max(1, self._total(name, obj))
            expected = total * cost
            # its work done: records journaled, and half of those its Bulk jobs have processed (their results are
            # still to be read and journaled: a 1,000,000-record run spent seconds on each 80,000-row job's)
            done = min(1.0, (obj.journaled + obj.processed) / (2 * total))
            shares[name] = max(expected - obj.share, (1 - done) * expected * BEHIND)
            own = self._object_left(name, obj, None)     # by its own rate, once measured: in seconds of the run
            if own is not None:
                shares[name] = (1 - done) * shares[name] + done * own / under_way
        run = sum(shares.values())
        objects: dict[str, float | None] = {name: min(run, left * under_way) if name in self._objects else left
                                            for name, left in shares.items()}
        return Remaining(run, objects)

    def _raw(self) -> Remaining:
        """The estimate at the last event, unsmoothed. While an object under way has nothing done yet (its records
        are being read, or its Bulk job uploaded), the run's rate is the one it had when that object was reached:
        the time since is that object's own, counted against it, not a slowdown of the run. Until its own rate is
        trusted (:data:`TRUST_SHARE` of its records done) the run's rate is at least that one: the first looks at
        its Bulk jobs end the idle stretch, but the run's rate over the latest half of the run still holds it (a
        200,000-record run said 372 s with 151 left just after its Contacts' first rows were seen). With an
        earlier comparable run's figures for every object left, those instead (:meth:`_from_prior`)."""
        if self._start is not None:
            known = self._from_prior()
            if known is not None:
                return known
        rate = self.run_rate()
        if self._run.done < MIN_SHARE * sum(self.planned.values()):
            rate = None                 # a rate of a few records says nothing of a big run yet
        for name, obj in self._objects.items():
            if obj.finished or obj.rate_before is None:
                continue
            if obj.processed == 0:
                rate = obj.rate_before
            elif rate is not None and obj.processed < TRUST_SHARE * self._total(name, obj):
                rate = max(rate, obj.rate_before)
        shaped = rate is not None and bool(self._shapes)     # the plan's shape is known (RunPlanned)
        objects: dict[str, float | None] = {}
        for name, obj in self._objects.items():
            if not obj.finished:
                left = self._shaped_left(name, obj) if shaped else None
                objects[name] = left if left is not None else self._object_left(name, obj, rate)
        under_way = list(objects.values())
        for name, count in self.planned.items():
            if name not in self._objects:
                cost = self._cost(name, count) if shaped else None
                objects[name] = cost if cost is not None else count / rate if rate else (0.0 if count == 0 else None)
        if rate is None or any(left is None for left in objects.values()):
            return Remaining(None, objects)
        if shaped:
            under_way_left = {name: left or 0.0 for name, left in objects.items() if name in self._objects}
            waiting_left = {name: left or 0.0 for name, left in objects.items() if name not in self._objects}
            return Remaining(self._schedule(under_way_left, waiting_left), objects)
        # objects under way at once (parallel_objects) end together, not one after the other: the longest of
        # them, then those not reached at the run's rate (measured with objects side by side, as they will be)
        waiting = sum(left or 0.0 for name, left in objects.items() if name not in self._objects)
        return Remaining(max((left or 0.0 for left in under_way), default=0.0) + waiting, objects)

    def _smooth(self) -> None:
        """The run's time left: each new estimate blended with the last one counted down, by how long ago that
        was (a burst of events moves it little, a new estimate seconds later mostly replaces it)."""
        raw = self._raw().total
        if raw is None:
            self._smoothed = None
            return
        if self._smoothed is None:
            self._smoothed = (self._now, raw)
            return
        then, before = self._smoothed
        counted_down = max(0.0, before - (self._now - then))
        weight = 1.0 - math.exp(-(self._now - then) / SMOOTHING_SECONDS)
        self._smoothed = (self._now, weight * raw + (1 - weight) * counted_down)

    def remaining(self, after: float = 0.0) -> Remaining:
        """Time left ``after`` seconds past the last event (the caller's clock since then): the run's (smoothed,
        counted down) and each unfinished object's."""
        with self._lock:
            return self._remaining(after)

    def _remaining(self, after: float) -> Remaining:
        raw = self._raw()
        objects = {name: None if left is None else max(0.0, left - after) for name, left in raw.objects.items()}
        if self._smoothed is None or raw.total is None:
            return Remaining(None, objects)
        then, left = self._smoothed
        return Remaining(max(0.0, left - (self._now - then) - after), objects)


def _thinned(marks: list[tuple[int, float]]) -> list[tuple[int, float]]:
    """At most :data:`MARKS_KEPT` of an object's marks, evenly spread, the last one kept (a Collections run of a
    million records journals thousands of batches)."""
    if len(marks) <= MARKS_KEPT:
        return marks
    step = len(marks) / MARKS_KEPT
    return [marks[min(len(marks) - 1, math.ceil((i + 1) * step) - 1)] for i in range(MARKS_KEPT)]


def describe_left(seconds: float | None) -> str:
    """``about 3 min left``, ``about 40 s left``, ``a few seconds left``, ``about 1 h 05 min left``;
    ``estimating…`` while there is no figure."""
    if seconds is None:
        return "estimating…"
    if seconds < 10:
        return "a few seconds left"
    if seconds < 55:
        return f"about {int(round(seconds / 5) * 5)} s left"
    minutes = int(round(seconds / 60))
    if minutes < 60:
        return f"about {max(1, minutes)} min left"
    return f"about {minutes // 60} h {minutes % 60:02d} min left"


__all__ = ["Eta", "MIN_OBJECT_SECONDS", "MIN_SECONDS", "MIN_SHARE", "RECENT", "Remaining", "SMOOTHING_SECONDS", "TRUST_SHARE",
           "describe_left"]
