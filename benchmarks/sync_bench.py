"""Benchmark: the engine against a plain sObject Collections script, on the same sandbox server.

Builds N records on a sandbox source org (Accounts in a three-level ParentId hierarchy and their
Contacts, one Account to four Contacts), then, each in its own process so that its peak RSS is its
own, with the sandbox server in a third process:

* ``engine``: the product's :class:`SyncEngine` copies them to an empty target org, then rolls the
  job back (timed on its own);
* ``plain``: a plain script with simple-salesforce copies them to another empty org the way a
  person would write it: query the source, ``POST composite/sobjects`` 200 records a call, parents
  level by level, then the Contacts with their AccountId mapped.

API calls are read from each org's ``/limits`` (``DailyApiRequests``) before and after, less the
``/limits`` call itself. The API floor is computed from the data alone: query pages of 2,000 rows for
the reads, 200 records per Collections write, one write per hierarchy level at least.

Bulk polling: ``bulk_polls`` is how many of the engine's calls were looks at a Bulk job's state. Time left:
the engine's run is watched the way the Execute tab and the CLI watch it (``engine.eta``); at 25%, 50% and 75%
of the run the time left it would show is kept beside the time the run really still took (``eta``: shown,
actual and the error, in seconds of the run's own clock; None where it still said "estimating…"). The
percentages are of the sync's duration from its first object (the scan before it is not timed).

Objects in parallel: ``--independent`` adds as many Leads again (no lookup to the Accounts or Contacts; the
plain script copies them after the Contacts), ``--parallel N`` sets the template's ``parallel_objects``.

Run: ``python benchmarks/sync_bench.py --records 10000 --json``. ``--in-flight N`` sets the template's
write batches out at once (default: the template's default), ``--rest`` turns Bulk API 2.0 off (every
write through Collections, as against an org where Bulk is not allowed). ``--lock-fault RATE`` makes both
target orgs busy: Bulk jobs run in internal batches of 10,000 rows in parallel, and that share of the rows
whose parent another batch also writes under fail ``UNABLE_TO_LOCK_ROW`` (the sandbox's ``lock_contention``
fault; the data's Contacts take turns among the Accounts, so each Account's Contacts are spread over the
source's order). ``--timeline`` adds every request the engine sent (start and end on the run's clock, thread,
a Bulk job's state and rows done at each look) and every engine event, to see where a run's time goes;
``cpu_seconds`` is each contender's processor time (steadier than its seconds on a busy box). Prints figures;
asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
ORGS = ("source", "target", "plain")
QUERY_PAGE = 2000
COLLECTION = 200

TEMPLATE = {
    "name": "Benchmark: accounts and contacts",
    "options": {"continue_on_error": True, "versioning": True},
    "objects": [
        {"object": "Account", "match_by": ["External_Id__c"], "fields": ["Name", "ParentId", "External_Id__c",
                                                                         "Industry", "Phone"]},
        {"object": "Contact", "match_by": ["Email"], "fields": ["FirstName", "LastName", "Email", "AccountId",
                                                                "Phone", "Title"]},
    ],
}
LEAD_LINE = {"object": "Lead", "match_by": ["Email"], "fields": ["FirstName", "LastName", "Company", "Email",
                                                                  "Status"]}
"""``--independent``: a Lead line, no lookup to the Accounts or Contacts, so it can be written beside them
(the template's ``parallel_objects``)."""


# ====================================================================== data
def shape(records: int) -> dict[str, Any]:
    """How many Accounts per hierarchy level and Contacts ``records`` makes (1 Account : 4 Contacts)."""
    accounts = max(1, records // 5)
    contacts = records - accounts
    top = max(1, accounts // 10)
    middle = max(0, min(accounts - top, accounts * 3 // 10))
    leaves = accounts - top - middle
    levels = [n for n in (top, middle, leaves) if n]
    return {"accounts": accounts, "contacts": contacts, "levels": levels}


def api_floor(records: int, independent: bool = False) -> dict[str, int]:
    """The fewest calls a Collections copy of the data can make, from its shape alone."""
    s = shape(records)
    reads = math.ceil(s["accounts"] / QUERY_PAGE) + math.ceil(max(s["contacts"], 1) / QUERY_PAGE)
    writes = sum(math.ceil(n / COLLECTION) for n in s["levels"]) + math.ceil(s["contacts"] / COLLECTION)
    if independent:
        reads, writes = reads + math.ceil(records / QUERY_PAGE), writes + math.ceil(records / COLLECTION)
    return {"reads": reads, "writes": writes, "total": reads + writes}


def build(data_dir: Path, records: int, independent: bool = False) -> None:
    """The three orgs (all of seed ``empty``) with the benchmark data written straight into the source;
    ``independent``: as many Leads again (no lookup to the others)."""
    from isyncsf_desktop.sandbox.server import SandboxServer

    rng = random.Random(11)
    s = shape(records)
    with SandboxServer(data_dir, {alias: "empty" for alias in ORGS}) as server:
        store = server.store("source")
        account_ids: list[list[str]] = []
        number = 0
        with store.transaction():
            for depth, count in enumerate(s["levels"]):
                level = []
                for _ in range(count):
                    number += 1
                    values = {"Name": f"Bench Account {number}", "External_Id__c": f"BA{number}",
                              "Industry": rng.choice(["Energy", "Banking", "Retail", "Media"]),
                              "Phone": f"555-{number:07d}"}
                    if depth:
                        values["ParentId"] = rng.choice(account_ids[depth - 1])
                    level.append(store.create("Account", values))
                account_ids.append(level)
            every = [a for level in account_ids for a in level]
            for n in range(1, s["contacts"] + 1):
                store.create("Contact", {"FirstName": "Bench", "LastName": f"Contact {n}",
                                         "Email": f"contact{n}@bench.example.com", "Title": "Buyer",
                                         "Phone": f"555-{n:07d}", "AccountId": every[(n - 1) % len(every)]})
            for n in range(1, records + 1 if independent else 1):
                store.create("Lead", {"FirstName": "Bench", "LastName": f"Lead {n}", "Company": f"Company {n}",
                                      "Email": f"lead{n}@bench.example.com", "Status": "Working - Contacted"})


def set_faults(info: dict[str, Any], aliases: tuple[str, ...], settings: dict[str, Any]) -> None:
    """Set the sandbox's fault ``settings`` on the orgs ``aliases`` (its control endpoint)."""
    import requests

    session = requests.Session()
    session.trust_env = False
    session.verify = info["ca_file"]
    for alias in aliases:
        answer = session.patch(f"{info['instance_url']}/services/sandbox/faults", json=settings, timeout=30,
                               headers={"Authorization": f"Bearer {info['orgs'][alias]['access_token']}"})
        if answer.status_code != 200:
            raise SystemExit(f"the sandbox refused the faults {settings}: {answer.text[:300]}")


def start_server(data_dir: Path) -> tuple[subprocess.Popen[str], dict[str, Any]]:
    command = [sys.executable, "-m", "isyncsf_desktop.cli", "sandbox", "serve", "--data-dir", str(data_dir)]
    for alias in ORGS:
        command += ["--org", f"{alias}=empty"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise SystemExit("the sandbox server did not start")
    return proc, json.loads(line)


# ====================================================================== measuring
def used_calls(client: Any) -> int:
    """Daily API requests used so far by the org, from its /limits (the /limits call included)."""
    limits = client.limits()["DailyApiRequests"]
    return int(limits["Max"]) - int(limits["Remaining"])


class Calls:
    """API calls made to some orgs between ``start()`` and ``stop()``, read from their /limits."""

    def __init__(self, clients: dict[str, Any]):
        self.clients = clients
        self.before: dict[str, int] = {}

    def start(self) -> None:
        self.before = {alias: used_calls(c) for alias, c in self.clients.items()}

    def stop(self) -> dict[str, int]:
        return {alias: used_calls(c) - self.before[alias] - 1 for alias, c in self.clients.items()}


def journal_mb(path: Path) -> float:
    """The journal's size on disk: the SQLite file with its write-ahead log and shared memory, as the run left them."""
    return round(sum(f.stat().st_size for f in path.parent.glob(path.name + "*") if f.is_file()) / 2**20, 1)


def peak_rss_mb() -> float:
    """This process's own peak RSS. Linux's ``ru_maxrss`` keeps, across fork and exec, the peak of the process that
    started it (here the parent that built the data: about 1 GB at a million records, which hid the engine's own
    figure); ``VmHWM`` is this program's alone."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    except OSError:
        pass
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def cpu_seconds() -> float:
    """Processor time this process has used so far (user and system, all its threads): less swayed by the box's
    other work than its wall-clock seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def clients(info: dict[str, Any]) -> dict[str, Any]:
    from isyncsf_desktop.salesforce.client import OrgClient

    return {alias: OrgClient.connect(info["instance_url"], org["access_token"], ca_file=info["ca_file"],
                                     alias=alias) for alias, org in info["orgs"].items()}


def bulk_polls(orgs: dict[str, Any]) -> int | None:
    """Looks at Bulk jobs' states the clients made so far (None from a client that does not count them)."""
    counts = [getattr(client, "bulk_polls", None) for client in orgs.values()]
    return None if None in counts else sum(counts)


def event_line(event: Any) -> str:
    """One engine event as a JSON line (its class and fields) for ``--record-events``; ``eta_replay.py`` reads
    them back."""
    import dataclasses

    return json.dumps({"event": type(event).__name__, **dataclasses.asdict(event)}, default=str)


class EtaProbe:
    """An engine observer that feeds :class:`engine.eta.Eta` as the GUI and the CLI do, keeps the time left it
    says after each event, and reports what it would have shown at 25%, 50% and 75% of the run's duration (the
    last figure before then, counted down, as the Execute tab shows it) beside the time the run really still
    took then."""

    MILESTONES = (25, 50, 75)

    def __init__(self) -> None:
        from isyncsf_desktop.engine.eta import Eta

        self.eta = Eta()
        self.journal: Any = None
        self.watching = True
        self.planned = False
        self.start: float | None = None              # the sync's first object reached (the scan before is not timed)
        self.said: list[tuple[float, float | None]] = []   # (event time, time left said then)
        self.last = 0.0
        self.record: Any = None                      # ``--record-events``: a file the events are written to

    def __call__(self, event: Any) -> None:
        from isyncsf_desktop.engine.events import ObjectReading, ObjectStarted, StateChanged
        from isyncsf_desktop.engine.lifecycle import JobState
        from isyncsf_desktop.engine.progress import scanned_counts

        if not self.watching:
            return
        self.last = max(self.last, event.elapsed)
        if isinstance(event, StateChanged) and event.state == JobState.SYNC_IN_PROGRESS and not self.planned:
            self.eta.set_planned(scanned_counts(self.journal, event.job_id))
            try:                # what the template's last sync to this target took (none in a fresh journal)
                from isyncsf_desktop.engine.progress import times_before
            except ImportError:  # a tree from before it
                pass
            else:
                self.eta.use_prior(times_before(self.journal, event.job_id))
            self.planned = True
            if self.record is not None:
                self.record.write(json.dumps({"planned": self.eta.planned}) + "\n")
        if self.record is not None:
            self.record.write(event_line(event) + "\n")
        if isinstance(event, (ObjectReading, ObjectStarted)) and self.start is None:
            self.start = event.elapsed
        self.eta.observe(event)
        self.said.append((event.elapsed, self.eta.remaining().total))

    def shown_at(self, moment: float) -> float | None:
        """The time left the Execute tab showed at ``moment`` (run clock): the last figure, counted down."""
        before = [(at, left) for at, left in self.said if at <= moment]
        if not before or before[-1][1] is None:
            return None
        at, left = before[-1]
        return max(0.0, left - (moment - at))

    def report(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.start is None:
            return out
        for mark in self.MILESTONES:
            moment = self.start + (self.last - self.start) * mark / 100
            shown, actual = self.shown_at(moment), self.last - moment
            out[f"{mark}%"] = {"at": round(moment, 2), "shown": None if shown is None else round(shown, 1),
                               "actual": round(actual, 1),
                               "error": None if shown is None else round(shown - actual, 1),
                               "error_pct": None if shown is None or not actual else round((shown - actual) * 100
                                                                                          / actual)}
        return out


class Timeline:
    """``--timeline``: every HTTP request this process sends (start and end on the run's clock, method, path,
    status, thread) and every engine event, so a run's wall time can be read off call by call (where it waits on
    a Bulk job, on the next look at it, on reads). A hook on :class:`requests.Session` in this benchmark only."""

    def __init__(self, inner: Any) -> None:
        import threading

        import requests

        self.inner = inner
        self.t0 = time.perf_counter()
        self.calls: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        send = requests.Session.send
        timeline = self

        def timed(session: Any, request: Any, **kwargs: Any) -> Any:
            start = time.perf_counter() - timeline.t0
            answer = send(session, request, **kwargs)
            path = request.path_url.split("?")[0].replace("/services/data/v59.0/", "")
            entry = {"start": round(start, 3), "end": round(time.perf_counter() - timeline.t0, 3),
                     "call": f"{request.method} {path}", "status": answer.status_code,
                     "thread": threading.current_thread().name}
            if "q=" in request.path_url:
                from urllib.parse import parse_qs, urlsplit
                entry["q"] = (parse_qs(urlsplit(request.path_url).query).get("q") or [""])[0][:160]
            if path.startswith("jobs/ingest/") and request.method == "GET" and path.count("/") <= 3:
                try:
                    job = answer.json()
                except ValueError:
                    job = {}
                entry.update(state=job.get("state"), processed=job.get("numberRecordsProcessed"),
                             processing_ms=job.get("totalProcessingTime"))
            timeline.calls.append(entry)
            return answer

        requests.Session.send = timed  # type: ignore[method-assign]

    def __call__(self, event: Any) -> None:
        if self.inner is not None:
            self.inner(event)
        fields = {k: v for k, v in vars(event).items() if k in ("object", "state", "total", "processed")}
        self.events.append({"at": round(time.perf_counter() - self.t0, 3), "event": type(event).__name__,
                            **fields})

    def report(self) -> dict[str, Any]:
        return {"t0": self.t0, "calls": self.calls, "events": self.events}


class MemoryProbe:
    """``--trace-memory``: an engine observer that, with :mod:`tracemalloc` on, keeps the traced memory's peak
    while each object was synced (from its ObjectReading to its ObjectFinished) and what was still held when it
    finished, with the source lines that hold most of it; and, looked at every half second on a thread of its own,
    what was held at the run's highest traced memory (``at_peak``: a snapshot each time it grew by 5%, the last
    kept). Tracing slows the run several times: its seconds are not the engine's."""

    def __init__(self, inner: Any) -> None:
        import threading
        import tracemalloc

        tracemalloc.start()
        self.inner = inner
        self.objects: list[dict[str, Any]] = []
        self.at_peak: dict[str, Any] = {}
        self._highest = 0
        self._current = ""
        self._stop = threading.Event()
        self._watch = threading.Thread(target=self._sample, name="memory-probe", daemon=True)
        self._watch.start()

    @staticmethod
    def _top(snapshot: Any, count: int = 10) -> list[str]:
        return [f"{round(s.size / 2**20, 1)} MB {s.traceback[0].filename.split('/')[-1]}:{s.traceback[0].lineno}"
                for s in snapshot.statistics("lineno")[:count]]

    def _sample(self) -> None:
        import tracemalloc

        while not self._stop.wait(0.5):
            current, _peak = tracemalloc.get_traced_memory()
            if current > self._highest * 1.05:
                self._highest = current
                top = self._top(tracemalloc.take_snapshot())
                self.at_peak = {"traced_mb": round(current / 2**20, 1), "object": self._current, "held_by": top}

    def __call__(self, event: Any) -> None:
        import tracemalloc

        from isyncsf_desktop.engine.events import ObjectFinished, ObjectReading

        if self.inner is not None:
            self.inner(event)
        if isinstance(event, ObjectReading):
            tracemalloc.reset_peak()
            self._current = event.object
        elif isinstance(event, ObjectFinished):
            current, peak = tracemalloc.get_traced_memory()
            self.objects.append({"object": event.object, "peak_mb": round(peak / 2**20, 1),
                                 "held_mb": round(current / 2**20, 1),
                                 "held_by": self._top(tracemalloc.take_snapshot(), 8)})

    def report(self) -> dict[str, Any]:
        import tracemalloc

        self._stop.set()
        self._watch.join()
        current, peak = tracemalloc.get_traced_memory()
        return {"objects": self.objects, "end_held_mb": round(current / 2**20, 1),
                "run_peak_mb": round(peak / 2**20, 1), "at_peak": self.at_peak}


# ====================================================================== the two contenders
def run_engine(info: dict[str, Any], work: Path, rollback: bool, template: dict[str, Any],
               trace: bool = False, timeline: bool = False, record: str | None = None) -> dict[str, Any]:
    from isyncsf_desktop.engine.journal import Journal, OrgRef
    from isyncsf_desktop.engine.runner import SyncEngine

    orgs = clients(info)
    meter = Calls({"source": orgs["source"], "target": orgs["target"]})
    refs = {a: OrgRef(a, info["orgs"][a]["org_id"], info["instance_url"]) for a in ("source", "target")}
    journal = Journal(work / "journal.sqlite3")
    engine_clients = clients(info)
    try:
        probe: EtaProbe | None = EtaProbe()
    except ImportError:            # a tree from before engine.eta (to compare with): no time left to watch
        probe = None
    else:
        probe.journal = journal
        if record:
            probe.record = open(record, "w", encoding="utf-8")   # noqa: SIM115 (closed after the run)
    memory = MemoryProbe(probe) if trace else None
    timed = Timeline(memory or probe) if timeline else None
    engine = SyncEngine(journal, engine_clients["source"], engine_clients["target"], refs["source"], refs["target"],
                        observer=timed or memory or probe)
    meter.start()
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    if timed is not None:
        timed.t0 = t0
    result = engine.sync(engine.create_job(template))
    seconds, cpu = time.perf_counter() - t0, cpu_seconds() - cpu0
    calls = meter.stop()
    if probe and probe.record is not None:
        probe.record.close()
        probe.record = None
    totals = result.totals
    out: dict[str, Any] = {"state": result.state, "message": result.message, "seconds": round(seconds, 2),
                           "cpu_seconds": round(cpu, 2),
                           "calls": calls, "inserted": totals.inserted, "errors": totals.errors,
                           "peak_rss_mb": peak_rss_mb(), "journal_mb": journal_mb(work / "journal.sqlite3"),
                           "bulk_polls": bulk_polls(engine_clients),
                           "eta": probe.report() if probe else None}
    if memory is not None:
        out["memory"] = memory.report()
    if timed is not None:
        out["timeline"] = timed.report()
    if rollback:
        meter.start()
        t0 = time.perf_counter()
        if probe:
            probe.watching = False       # the rollback's events are not watched
        undone = engine.rollback(result.job_id)
        polls = bulk_polls(engine_clients)
        out["rollback"] = {"state": undone.state, "seconds": round(time.perf_counter() - t0, 2),
                           "deleted": undone.totals.deleted, "calls": meter.stop(),
                           "bulk_polls": polls - out["bulk_polls"] if polls is not None else None}
    journal.close()
    return out


def run_plain(info: dict[str, Any], independent: bool = False) -> dict[str, Any]:
    """The script a person writes with simple-salesforce: read all, insert 200 a call, parents first (and the
    Leads last, ``independent``)."""
    import requests
    from simple_salesforce import Salesforce

    def sf(alias: str) -> Salesforce:
        session = requests.Session()
        session.trust_env = False   # the sandbox CA only, whatever the environment says
        session.verify = info["ca_file"]
        return Salesforce(instance_url=info["instance_url"], session_id=info["orgs"][alias]["access_token"],
                          session=session, version="59.0")

    orgs = clients(info)
    meter = Calls({"source": orgs["source"], "plain": orgs["plain"]})
    source, target = sf("source"), sf("plain")
    meter.start()
    t0, cpu0 = time.perf_counter(), cpu_seconds()
    accounts = [r for r in source.query_all_iter(
        "SELECT Id, Name, ParentId, External_Id__c, Industry, Phone FROM Account")]
    id_map: dict[str, str] = {}
    errors = 0
    remaining = accounts
    while remaining:   # parents first, one level at a time
        level = [a for a in remaining if not a["ParentId"] or a["ParentId"] in id_map]
        remaining = [a for a in remaining if a["ParentId"] and a["ParentId"] not in id_map]
        for start in range(0, len(level), COLLECTION):
            chunk = level[start:start + COLLECTION]
            body = [{"attributes": {"type": "Account"}, "Name": a["Name"], "External_Id__c": a["External_Id__c"],
                     "Industry": a["Industry"], "Phone": a["Phone"],
                     **({"ParentId": id_map[a["ParentId"]]} if a["ParentId"] else {})} for a in chunk]
            results = target.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": body})
            for account, res in zip(chunk, results):
                if res["success"]:
                    id_map[account["Id"]] = res["id"]
                else:
                    errors += 1
    inserted = len(id_map)
    contacts = source.query_all_iter("SELECT Id, FirstName, LastName, Email, AccountId, Phone, Title FROM Contact")
    batch: list[dict[str, Any]] = []

    def send(batch: list[dict[str, Any]]) -> tuple[int, int]:
        results = target.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": batch})
        ok = sum(1 for r in results if r["success"])
        return ok, len(results) - ok

    for c in contacts:
        batch.append({"attributes": {"type": "Contact"}, "FirstName": c["FirstName"], "LastName": c["LastName"],
                      "Email": c["Email"], "Phone": c["Phone"], "Title": c["Title"],
                      "AccountId": id_map.get(c["AccountId"])})
        if len(batch) == COLLECTION:
            ok, bad = send(batch)
            inserted, errors, batch = inserted + ok, errors + bad, []
    if batch:
        ok, bad = send(batch)
        inserted, errors, batch = inserted + ok, errors + bad, []
    if independent:    # one object after the other, as a script is written
        for lead in source.query_all_iter("SELECT Id, FirstName, LastName, Company, Email, Status FROM Lead"):
            batch.append({"attributes": {"type": "Lead"}, **{k: v for k, v in lead.items()
                                                             if k not in ("Id", "attributes")}})
            if len(batch) == COLLECTION:
                ok, bad = send(batch)
                inserted, errors, batch = inserted + ok, errors + bad, []
        if batch:
            ok, bad = send(batch)
            inserted, errors = inserted + ok, errors + bad
    seconds = time.perf_counter() - t0
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu_seconds() - cpu0, 2), "calls": meter.stop(),
            "inserted": inserted, "errors": errors,
            "peak_rss_mb": peak_rss_mb()}


# ====================================================================== main
def child(args: argparse.Namespace) -> int:
    info = json.loads(Path(args.info).read_text())
    work = Path(args.info).parent
    options = dict(TEMPLATE["options"])
    if args.in_flight:
        options["in_flight"] = args.in_flight
    if args.rest:
        options["bulk_threshold"] = 0
    if args.parallel:
        options["parallel_objects"] = args.parallel
    objects = [*TEMPLATE["objects"], *([LEAD_LINE] if args.independent else [])]
    result = run_engine(info, work, not args.no_rollback, {**TEMPLATE, "options": options, "objects": objects},
                        args.trace_memory, args.timeline, args.record_events) if args.child == "engine" \
        else run_plain(info, args.independent)
    print(json.dumps(result))
    return 0


def run_child(kind: str, info_path: Path, extra: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--info", str(info_path), *extra],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"the {kind} run failed:\n{out.stderr[-3000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=10000, help="records to copy (default 10000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of a table")
    parser.add_argument("--no-rollback", action="store_true", help="skip the timed rollback of the engine's job")
    parser.add_argument("--in-flight", type=int, help="write batches out at once (the template option in_flight)")
    parser.add_argument("--rest", action="store_true", help="Collections only: Bulk API 2.0 off (bulk_threshold 0)")
    parser.add_argument("--lock-fault", type=float, metavar="RATE",
                        help="busy targets: this share of Bulk rows whose parent other internal batches write "
                             "under fail UNABLE_TO_LOCK_ROW (0..1)")
    parser.add_argument("--trace-memory", action="store_true",
                        help="trace the engine's memory (tracemalloc): each object's peak and what it still held, by "
                             "source line (slows the engine's run several times; the plain script is not run)")
    parser.add_argument("--independent", action="store_true",
                        help="one more object of the same size, Leads with no lookup to the others (as many as "
                             "--records), in the engine's template and the plain script")
    parser.add_argument("--parallel", type=int, metavar="N",
                        help="objects written at once (the template option parallel_objects)")
    parser.add_argument("--timeline", action="store_true",
                        help="log the engine's every HTTP request (start, end, path, job state) and event in the "
                             "JSON (engine.timeline), to see where its wall time goes")
    parser.add_argument("--record-events", metavar="FILE",
                        help="write the engine's events, one JSON line each, to FILE (benchmarks/eta_replay.py "
                             "replays them through the time-left estimator)")
    parser.add_argument("--engine-only", action="store_true", help="run the engine alone, not the plain script")
    parser.add_argument("--child", choices=("engine", "plain"), help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child(args)

    work = Path(tempfile.mkdtemp(prefix="isyncsf-sync-bench-"))
    try:
        t0 = time.perf_counter()
        build(work / "sandbox", args.records, args.independent)
        build_seconds = time.perf_counter() - t0
        server, info = start_server(work / "sandbox")
        try:
            info_path = work / "info.json"
            info_path.write_text(json.dumps(info))
            if args.lock_fault:
                set_faults(info, ("target", "plain"), {"lock_contention": args.lock_fault})
            extra = (["--no-rollback"] if args.no_rollback else []) + (["--rest"] if args.rest else []) \
                + (["--trace-memory"] if args.trace_memory else []) \
                + (["--in-flight", str(args.in_flight)] if args.in_flight else []) \
                + (["--independent"] if args.independent else []) \
                + (["--timeline"] if args.timeline else []) \
                + (["--parallel", str(args.parallel)] if args.parallel else []) \
                + (["--record-events", str(Path(args.record_events).resolve())] if args.record_events else [])
            plain = run_child("plain", info_path, extra) if not (args.trace_memory or args.engine_only) else None
            engine = run_child("engine", info_path, extra)
        finally:
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:   # a server slow to stop on a busy box: the figures are not lost
                server.kill()
                server.wait()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    engine_calls = sum(engine["calls"].values())
    if plain is None:         # the engine alone (traced: its memory; its seconds are then the tracer's)
        print(json.dumps({"records": args.records, "engine": {**engine, "calls_total": engine_calls}}, indent=2))
        return 0
    plain_calls = sum(plain["calls"].values())
    floor = api_floor(args.records, args.independent)
    report = {
        "records": args.records, "in_flight": args.in_flight or "default", "rest_only": args.rest,
        "independent": args.independent, "parallel_objects": args.parallel or "default",
        "lock_fault": args.lock_fault,
        "shape": shape(args.records), "build_seconds": round(build_seconds, 1),
        "engine": {**engine, "calls_total": engine_calls},
        "plain": {**plain, "calls_total": plain_calls},
        "api_floor": floor,
        "ratios": {"seconds_engine_to_plain": round(engine["seconds"] / plain["seconds"], 2),
                   "calls_engine_to_plain": round(engine_calls / plain_calls, 2),
                   "calls_engine_to_floor": round(engine_calls / floor["total"], 2),
                   "calls_plain_to_floor": round(plain_calls / floor["total"], 2)},
    }
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"records {args.records}: engine {engine['seconds']} s, {engine_calls} calls, "
              f"{engine['peak_rss_mb']} MB, journal {engine['journal_mb']} MB on disk; plain {plain['seconds']} s, {plain_calls} calls, "
              f"{plain['peak_rss_mb']} MB; floor {floor['total']} calls")
        if "rollback" in engine:
            rb = engine["rollback"]
            print(f"rollback: {rb['seconds']} s, {sum(rb['calls'].values())} calls, {rb['deleted']} deleted")
        print(json.dumps(report["ratios"]))
        print("time left shown vs actual: " + json.dumps(engine.get("eta")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
