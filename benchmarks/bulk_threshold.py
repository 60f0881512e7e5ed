"""Benchmark: from how many records a write of one object is quicker through Bulk API 2.0 than Collections.

For each size N, N Contacts (sync_bench.py's fields, under one Account) are inserted into an empty sandbox org
through the product's client (:class:`OrgClient`), in turns, each way several times:

* ``collections``: ``create`` in requests of 200 records, ``--in-flight`` of them out at once (the template's
  ``in_flight``, default 2), the way the engine sends a level's batches;
* ``bulk``: one ``bulk_ingest`` (open, upload, close, the looks at the job on the client's
  :class:`~isyncsf_desktop.salesforce.pacing.PollSchedule`, the results file).

Each write's seconds and API calls (the client's own count) are printed per size: the median of the tries and
the range, the polls of the Bulk jobs, and the ratio of Bulk's seconds to Collections'. The first Bulk job of a
client has no rate of an earlier job to expect (its first looks are the backoff's); ``--fresh`` gives every try a
new client, so each job is a first job, as an object's first write in a run is.

Run: ``python benchmarks/bulk_threshold.py [--sizes 500 1000 2000 4000 8000 16000] [--tries 3] [--fresh]
[--json]``. The sandbox server runs in its own process. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sync_bench  # noqa: E402  (the server and its orgs)

COLLECTION = 200


def contacts(account_id: str, start: int, count: int) -> list[dict[str, Any]]:
    return [{"FirstName": "Bench", "LastName": f"Contact {n}", "Email": f"c{n}@threshold.example.com",
             "Title": "Buyer", "Phone": f"555-{n:07d}", "AccountId": account_id} for n in range(start, start + count)]


def collections(client: Any, records: list[dict[str, Any]], in_flight: int) -> list[dict[str, Any]]:
    chunks = [[{"attributes": {"type": "Contact"}, **r} for r in records[i:i + COLLECTION]]
              for i in range(0, len(records), COLLECTION)]
    with ThreadPoolExecutor(max_workers=in_flight) as pool:
        return [r for answer in pool.map(client.create, chunks) for r in answer]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[500, 1000, 2000, 4000, 8000, 16000])
    parser.add_argument("--tries", type=int, default=3)
    parser.add_argument("--in-flight", type=int, default=2)
    parser.add_argument("--fresh", action="store_true", help="a new client for every try (every job a first job)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    work = Path(tempfile.mkdtemp(prefix="isyncsf-bulk-threshold-"))
    report: list[dict[str, Any]] = []
    try:
        sync_bench.build(work / "sandbox", 5)
        server, info = sync_bench.start_server(work / "sandbox")
        try:
            client = sync_bench.clients(info)["target"]
            account = client.create([{"attributes": {"type": "Account"}, "Name": "Threshold"}])[0]["id"]
            number = 0
            for size in args.sizes:
                tries: dict[str, list[tuple[float, int, int]]] = {"collections": [], "bulk": []}
                for _ in range(args.tries):
                    for way in ("collections", "bulk"):
                        if args.fresh:
                            client = sync_bench.clients(info)["target"]
                        records = contacts(account, number, size)
                        number += size
                        calls, polls = client.api_calls, client.bulk_polls
                        t0 = time.perf_counter()
                        results = collections(client, records, args.in_flight) if way == "collections" \
                            else client.bulk_ingest("Contact", "insert", records)
                        seconds = time.perf_counter() - t0
                        if sum(1 for r in results if r["success"]) != size:
                            raise SystemExit(f"{way} of {size}: not every record was written")
                        tries[way].append((seconds, client.api_calls - calls, client.bulk_polls - polls))
                row: dict[str, Any] = {"records": size}
                for way, measured in tries.items():
                    took = [s for s, _, _ in measured]
                    row[way] = {"seconds": round(statistics.median(took), 3),
                                "range": [round(min(took), 3), round(max(took), 3)],
                                "calls": round(statistics.median(c for _, c, _ in measured), 1),
                                "polls": round(statistics.median(p for _, _, p in measured), 1)}
                row["bulk_to_collections"] = round(row["bulk"]["seconds"] / row["collections"]["seconds"], 2)
                report.append(row)
                if not args.json:
                    c, b = row["collections"], row["bulk"]
                    print(f"{size:>7,}: Collections {c['seconds']:.2f} s {c['range']} {c['calls']:g} calls | "
                          f"Bulk {b['seconds']:.2f} s {b['range']} {b['calls']:g} calls ({b['polls']:g} polls) | "
                          f"Bulk/Collections {row['bulk_to_collections']}", flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
