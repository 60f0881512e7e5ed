"""How long a sync a preview has counted will take, and what share of each org's daily API requests it uses.

The preview makes the run's reads itself, so the seconds it spent up to the end of its second pass (the
metadata check, the plan, the scan, every read, match and transform, its rows journaled) are what the run
spends on all but its writes. The writes it only counts (:class:`~.run.preview.DryTarget`), so their time is
estimated from measurement:

* **Collections**: each request costs the target org's latency (measured during the preview: the client times
  every call, :class:`~..salesforce.pacing.WriteMeter`) plus a time per record it carries;
* **Bulk API 2.0**: each job costs its open, upload, close and results calls at that latency, plus its rows at
  the org's rate, looked at as the client will look at it (:class:`~..salesforce.pacing.PollSchedule`
  replayed on a clock of its own: the looks it makes are calls, and the last one is when the run sees the end).

The time per record and the Bulk rate come from the earlier runs this journal made to the same target org: a
sync run measures the wall-clock time its writes were out (two batches out together count once) and keeps it
in the journal (:func:`remember_run`, the last :data:`SAMPLES_KEPT`), less the calls' latency then, so the
latency now is added back. With no earlier run to that org, the defaults measured on the sandbox org server
are used, and the estimate says so (``basis``) and gives a wider range: a production org is slower than the
sandbox, often several times.

The range (``low``/``high``) of the writes is that of the earlier runs' figures (each run's estimate on its
own), widened by :data:`MEASURED_SPREAD` (:data:`FEW_RUNS_SPREAD` while there are few); on the defaults,
:data:`DEFAULT_RANGE`. The reads were timed, but the run makes them again: :data:`READS_SPREAD`.

Bulk jobs are replayed as the run sends them (:func:`bulk_jobs_wait`): the batches of one write, up to the
run's depth out at once, the org's rate shared by the jobs it is processing together (one job's rate seen by
the client is then lower, and uneven: it looks more often), each looked at on its own :class:`PollSchedule`
with the rate the client has measured on the jobs of that kind before (:class:`~..salesforce.pacing.JobRates`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from ..salesforce.client import BULK_POLL_FIRST, BULK_POLL_LONGEST, BULK_POLL_MAX
from ..salesforce.pacing import JobRates, PollSchedule

SAMPLES_KEPT = 5
"""Earlier runs to a target org the journal keeps the write timings of."""
SETTING = "write_timing:{org_id}"
"""The journal setting holding them."""

DEFAULT_RECORD_SECONDS = 0.00015
"""Seconds a record adds to a Collections request beyond the call's latency on the sandbox org server
(benchmarks/preview.py, 10,000 records, two batches out at once: a request of 200 records took 0.04 to 0.06 s
in all on a quiet machine, four times that on a busy one)."""
DEFAULT_BULK_ROWS_PER_SECOND = 3000.0
"""Rows a second a Bulk API 2.0 ingest job gets through on the sandbox org server (benchmarks/preview.py: 1,200
to 11,000 as the machine was more or less busy; jobs of 8,000 to 40,000 rows)."""
DEFAULT_LATENCY = 0.005
"""A call's latency when the preview measured none (it always makes some calls)."""
BULK_JOB_CALLS = 4
"""Calls of a Bulk job besides its looks: open, upload, close, results."""
MIN_ROWS_PER_SECOND = 1.0
DEFAULT_RANGE = (0.5, 3.0)
"""The range of the writes' time on the sandbox defaults: a real org may be several times slower."""
MEASURED_SPREAD = (0.8, 1.25)
"""The range of the writes' time on measured figures: that of the earlier runs, widened by this..."""
FEW_RUNS_SPREAD = (0.67, 1.5)
"""...or by this with fewer than :data:`ENOUGH_RUNS` (one run says little of how much an org's speed varies)."""
ENOUGH_RUNS = 3
READS_SPREAD = (0.8, 1.25)
"""The range of the reads' time: the run makes them again, when the orgs (and this machine) may be busier."""
SHARE_WARNING = 50.0
"""Percent of an org's remaining daily API requests past which the preview warns."""


class Settings(Protocol):
    """The journal's settings (``Journal.get_setting`` / ``set_setting``)."""

    def get_setting(self, key: str, default: Any = None) -> Any: ...
    def set_setting(self, key: str, value: Any) -> None: ...


@dataclass(frozen=True)
class WriteSample:
    """What one sync run's writes to a target org took (the difference of the client's
    :attr:`~..salesforce.client.OrgClient.write_stats` over the run)."""

    run_id: int
    collections_requests: int = 0
    collections_records: int = 0
    collections_seconds: float = 0.0
    bulk_jobs: int = 0
    bulk_rows: int = 0
    bulk_seconds: float = 0.0
    latency: float = DEFAULT_LATENCY
    bulk_looks: int = 0

    @property
    def record_seconds(self) -> float | None:
        """Seconds a record added to a Collections request beyond the call's latency (None: none written)."""
        if self.collections_records <= 0:
            return None
        spent = self.collections_seconds - self.collections_requests * self.latency
        return max(spent, 0.0) / self.collections_records

    @property
    def bulk_rate(self) -> float | None:
        """Rows a second its Bulk jobs got through, their calls' latency aside (None: no Bulk job). The waits
        past each job's end are in it, and a replay at this rate adds them again: over-long by a few percent on
        jobs of tens of thousands of rows, up to a quarter on jobs of seconds."""
        if self.bulk_rows <= 0:
            return None
        spent = self.bulk_seconds - self.bulk_jobs * BULK_JOB_CALLS * self.latency
        return max(self.bulk_rows / max(spent, 1e-3), MIN_ROWS_PER_SECOND)

    @classmethod
    def between(cls, run_id: int, before: dict[str, Any], after: dict[str, Any]) -> WriteSample:
        """The writes measured between two :attr:`write_stats` snapshots."""
        c0, c1 = before.get("collections") or {}, after.get("collections") or {}
        b0, b1 = before.get("bulk") or {}, after.get("bulk") or {}
        return cls(run_id=run_id,
                   collections_requests=int(c1.get("requests", 0)) - int(c0.get("requests", 0)),
                   collections_records=int(c1.get("records", 0)) - int(c0.get("records", 0)),
                   collections_seconds=round(float(c1.get("seconds", 0)) - float(c0.get("seconds", 0)), 4),
                   bulk_jobs=int(b1.get("jobs", 0)) - int(b0.get("jobs", 0)),
                   bulk_rows=int(b1.get("rows", 0)) - int(b0.get("rows", 0)),
                   bulk_seconds=round(float(b1.get("seconds", 0)) - float(b0.get("seconds", 0)), 4),
                   latency=float(after.get("latency") or DEFAULT_LATENCY),
                   bulk_looks=int(b1.get("looks", 0)) - int(b0.get("looks", 0)))


def remember_run(journal: Settings, org_id: str, sample: WriteSample) -> None:
    """Keep ``sample`` (a run that wrote something) among the last :data:`SAMPLES_KEPT` of target org ``org_id``."""
    if sample.collections_records <= 0 and sample.bulk_rows <= 0:
        return
    key = SETTING.format(org_id=org_id)
    kept = [s for s in (journal.get_setting(key) or []) if isinstance(s, dict)]
    journal.set_setting(key, (kept + [asdict(sample)])[-SAMPLES_KEPT:])


def samples(journal: Settings, org_id: str) -> list[WriteSample]:
    """The write timings the journal keeps of runs to target org ``org_id``, oldest first."""
    out = []
    for item in journal.get_setting(SETTING.format(org_id=org_id)) or []:
        try:
            out.append(WriteSample(**{k: v for k, v in item.items() if k in WriteSample.__dataclass_fields__}))
        except (TypeError, AttributeError):
            continue        # a setting written by another version: left out
    return out


@dataclass(frozen=True)
class BulkJob:
    """One Bulk job the run will open: its object, operation and rows."""

    object: str
    operation: str
    rows: int


def bulk_wait(rows: int, rate: float, expected_rate: float | None) -> tuple[float, int]:
    """(seconds from a job's close until the client sees it ended, looks it makes) for a job of ``rows`` the
    org processes at ``rate`` rows a second, the client expecting ``expected_rate`` (None: its first job of the
    kind): the client's :class:`PollSchedule` replayed on a clock of its own."""
    schedule = PollSchedule(rows, expected_rate=expected_rate, first=BULK_POLL_FIRST, backoff_max=BULK_POLL_MAX,
                            longest=BULK_POLL_LONGEST, start=0.0)
    now, looks = 0.0, 0
    job: dict[str, Any] = {"state": "UploadComplete"}
    for _ in range(10_000):
        now += schedule.next_wait(job, now)
        looks += 1
        done = min(rows, int(rate * now))
        job = {"state": "JobComplete" if done >= rows else "InProgress", "numberRecordsProcessed": done,
               "totalProcessingTime": int(now * 1000)}
        if done >= rows:
            break
    return now, looks


@dataclass(frozen=True)
class _Figures:
    record_seconds: float
    bulk_rate: float


class _Job:
    """One Bulk job of a replay: its rows, those the org has processed, when it was closed and ended."""

    def __init__(self, rows: int, start: float, expected: tuple[float | None, bool]) -> None:
        self.rows = rows
        self.done = 0.0
        self.start = start
        self.ended: float | None = None
        self.seen = False
        self.schedule = PollSchedule(rows, expected_rate=expected[0], first=BULK_POLL_FIRST, backoff_max=BULK_POLL_MAX,
                                     longest=BULK_POLL_LONGEST, start=start, expected_sure=expected[1])
        self.look = start + self.schedule.next_wait({"state": "UploadComplete"}, start)


def bulk_jobs_wait(sizes: list[int], rate: float, depth: int, rates: JobRates,
                   kind: tuple[str, str]) -> tuple[float, int]:
    """(seconds, looks) of one write sent as Bulk jobs of ``sizes`` rows, at most ``depth`` out at once (the next
    goes when the oldest is seen ended, as the run sends its batches), the org processing ``rate`` rows a second
    shared by the jobs it holds; each job looked at on its own :class:`PollSchedule`, expecting what ``rates``
    has for ``kind`` (its rate, else another object's for the same operation; updated as each job ends, as the
    client does)."""
    pending = list(sizes)
    out: list[_Job] = []
    now, looks = 0.0, 0

    def send() -> None:
        size = pending.pop(0)
        out.append(_Job(size, now, rates.guide(kind, size)))

    while pending and len(out) < max(1, depth):
        send()
    for _ in range(100_000):
        if not out:
            break
        look = min(job.look for job in out if not job.seen)
        while now < look:             # the org works until that look, its rate shared by the jobs not done
            working = [job for job in out if job.done < job.rows]
            if not working:
                now = look
                break
            share = rate / len(working)
            step = min(look - now, min((job.rows - job.done) / share for job in working))
            for job in working:
                job.done = min(float(job.rows), job.done + share * step)
                if job.done >= job.rows:
                    job.ended = now + step
            now += step
        now = look
        for job in out:
            if job.seen or job.look != look:
                continue
            looks += 1
            ended = job.ended is not None
            took = (job.ended if job.ended is not None else now) - job.start
            info = {"state": "JobComplete" if ended else "InProgress", "numberRecordsProcessed": int(job.done),
                    "totalProcessingTime": int(took * 1000)}
            if ended:
                job.seen = True
                if took > 0:
                    rates.record(kind, job.rows / took, job.rows)
            else:
                job.look = now + job.schedule.next_wait(info, now)
        while out and out[0].seen:
            out.pop(0)
            if pending:
                send()
    return now, looks


def _writes_seconds(figures: _Figures, latency: float, requests: int, records: int, jobs: list[BulkJob],
                    depth: int, batch: int) -> tuple[float, int]:
    """(seconds, looks at Bulk jobs) of the writes at ``figures``: Collections requests, then the Bulk jobs in
    the writes they belong to (consecutive jobs of one kind, each but the last of ``batch`` rows)."""
    seconds = requests * latency + records * figures.record_seconds
    looks = 0
    rates = JobRates()
    writes: list[tuple[tuple[str, str], list[int]]] = []
    for job in jobs:
        kind = (job.object, job.operation)
        if writes and writes[-1][0] == kind and writes[-1][1][-1] == batch:
            writes[-1][1].append(job.rows)
        else:
            writes.append((kind, [job.rows]))
    for kind, sizes in writes:
        wait, write_looks = bulk_jobs_wait(sizes, figures.bulk_rate, depth, rates, kind)
        seconds += len(sizes) * BULK_JOB_CALLS * latency + wait + write_looks * latency
        looks += write_looks
    return seconds, looks


def estimate(read_seconds: float, latency: float | None, requests: int, records: int, jobs: list[BulkJob],
             earlier: list[WriteSample], *, depth: int = 1, batch: int = 0) -> dict[str, Any]:
    """The run's time: ``read_seconds`` (timed by the preview) plus its writes (``requests`` Collections requests
    carrying ``records`` records, and ``jobs``, sent ``depth`` at a time in writes of ``batch`` rows) on the
    figures of ``earlier`` runs to the same target org, else on the sandbox defaults. ``{"seconds", "low", "high", "reads_seconds", "writes_seconds", "bulk_looks",
    "latency", "basis"}``; ``bulk_looks`` are the calls the client will make looking at the jobs."""
    latency = latency if latency is not None and latency > 0 else DEFAULT_LATENCY
    used = [s for s in earlier if (records and s.record_seconds is not None) or (jobs and s.bulk_rate is not None)]
    default = _Figures(DEFAULT_RECORD_SECONDS, DEFAULT_BULK_ROWS_PER_SECOND)
    if used:
        per_run = [_Figures(s.record_seconds if s.record_seconds is not None else _mean_record_seconds(used),
                            s.bulk_rate if s.bulk_rate is not None else _mean_bulk_rate(used)) for s in used]
        central = _Figures(_mean_record_seconds(used), _mean_bulk_rate(used))
        each = [_writes_seconds(f, latency, requests, records, jobs, depth, batch)[0] for f in per_run]
        writes, looks = _writes_seconds(central, latency, requests, records, jobs, depth, batch)
        spread = MEASURED_SPREAD if len(used) >= ENOUGH_RUNS else FEW_RUNS_SPREAD
        low, high = min(each) * spread[0], max(each) * spread[1]
        basis = f"measured on {_runs(len(used))} to this org"
    else:
        writes, looks = _writes_seconds(default, latency, requests, records, jobs, depth, batch)
        low, high = writes * DEFAULT_RANGE[0], writes * DEFAULT_RANGE[1]
        basis = "sandbox default"
    if not requests and not jobs:
        writes, looks, low, high, basis = 0.0, 0, 0.0, 0.0, "nothing to write"
    return {"seconds": round(read_seconds + writes, 2), "low": round(read_seconds * READS_SPREAD[0] + low, 2),
            "high": round(read_seconds * READS_SPREAD[1] + high, 2), "reads_seconds": round(read_seconds, 2),
            "writes_seconds": round(writes, 2), "bulk_looks": looks, "latency": round(latency, 4), "basis": basis}


def _mean_record_seconds(used: list[WriteSample]) -> float:
    measured = [(s.collections_records, s.record_seconds) for s in used if s.record_seconds is not None]
    records = sum(n for n, _ in measured)
    if not records:
        return DEFAULT_RECORD_SECONDS
    return sum(n * seconds for n, seconds in measured) / records


def _mean_bulk_rate(used: list[WriteSample]) -> float:
    measured = [(s.bulk_rows, s.bulk_rate) for s in used if s.bulk_rate is not None]
    rows = sum(n for n, _ in measured)
    if not rows:
        return DEFAULT_BULK_ROWS_PER_SECOND
    return rows / sum(n / rate for n, rate in measured)      # the rows over the time they took


def _runs(count: int) -> str:
    return "1 earlier run" if count == 1 else f"{count} earlier runs"


def api_share(calls: int, usage: tuple[int, int] | None, ceiling: float, side: str, alias: str) -> dict[str, Any] | None:
    """The share of an org's remaining daily API requests a run costing ``calls`` uses, from ``usage`` (used,
    max) as the org last said; with a ``warning`` sentence past :data:`SHARE_WARNING` percent, or when the run
    would reach the template's ``ceiling`` (a share of the max, where the run pauses). None when the org did
    not say."""
    if not usage or not usage[1]:
        return None
    used, limit = int(usage[0]), int(usage[1])
    remaining = max(limit - used, 0)
    before_pause = max(math.floor(limit * ceiling) - used, 0)
    percent = round(100.0 * calls / remaining, 1) if remaining else (0.0 if not calls else math.inf)
    out: dict[str, Any] = {"calls": calls, "used": used, "max": limit, "remaining": remaining,
                           "percent": percent if math.isfinite(percent) else None,
                           "before_pause": before_pause}
    if calls > before_pause:
        out["warning"] = (f"the run would pause at the API ceiling: it needs about {calls:,} calls on the {side} org "
                          f"{alias}, which has {before_pause:,} left before the template's ceiling "
                          f"({ceiling:.0%} of its {limit:,} daily requests; {used:,} used). Run it when the org's "
                          "usage is lower, or raise the template's api_ceiling_percent.")
    elif percent > SHARE_WARNING:
        out["warning"] = (f"the run would use {percent:.0f}% of the {remaining:,} daily API requests the {side} org "
                          f"{alias} has left.")
    return out


def duration_text(seconds: float) -> str:
    """``seconds`` as people say it: "40 s", "2 min", "1 h 20 min"."""
    if seconds < 59.5:
        return f"{max(1, round(seconds))} s"
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{minutes} min"
    return f"{minutes // 60} h {minutes % 60:02d} min"


def range_text(estimate: dict[str, Any]) -> str:
    """The estimate in one phrase: "about 2 min (1–3 min), measured on 3 earlier runs to this org"."""
    low, high = duration_text(float(estimate["low"])), duration_text(float(estimate["high"]))
    if low == high:
        span = ""
    elif low.endswith((" s", " min")) and low.split(" ", 1)[1] == high.split(" ", 1)[1] and " h " not in low:
        span = f" ({low.split(' ', 1)[0]}–{high})"
    else:
        span = f" ({low}–{high})"
    basis = str(estimate["basis"])
    if basis == "sandbox default":
        basis = "from the sandbox's figures (no earlier run to this org: a real org may be several times slower)"
    return f"about {duration_text(float(estimate['seconds']))}{span}, {basis}"


__all__ = ["BulkJob", "bulk_jobs_wait", "DEFAULT_BULK_ROWS_PER_SECOND", "DEFAULT_RECORD_SECONDS", "SHARE_WARNING", "WriteSample",
           "api_share", "bulk_wait", "duration_text", "estimate", "range_text", "remember_run", "samples"]
