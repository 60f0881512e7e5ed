"""Benchmark: what masking adds to a sync (issue 25: at most 10 % at 200k records).

One sandbox server (in this process) with an empty source and two empty targets per run. N Contacts are created
on the source; in each run the engine copies them to one target without masking and to another with the template's
personal fields masked (Email as match key, FirstName, LastName, Phone, MailingStreet, Birthdate); each sync is a
new job with its own journal, timed from start to Synced, in wall-clock and in CPU seconds of this process (the
sandbox server runs in it too, so CPU time counts all the work and is the steadier figure on a busy machine). The
two syncs of a run are paired (their order alternates from run to run) and the overhead is the median of the
pairs' ratios, so a machine whose speed drifts moves both.
The masking step alone is also timed (a fresh masker over the same N source records, best of the runs), since it
is all that differs between the two syncs; it is called the way a run calls it: each field's masking function is
made once (``Masker.masking``) and called per value (until the run did so, this timed ``Masker.value`` per value,
which reads the spec each time). Loading Faker and the locale happens once per process (the app's first
masked sync): it is done before the syncs are timed and reported on its own.

The projection for 200k records scales both measured per-record costs linearly (the sync's cost per record is
flat at these sizes: batches of 200, one journal commit per batch; the masker's cost per value is flat: one keyed
BLAKE2b and one flattened program of the locale's lists, no state but a bounded cache).

Run: ``python benchmarks/masking.py --records 5000 --runs 5``. Prints figures (``--json`` for one object); asserts
nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

FIELDS = ["FirstName", "LastName", "Email", "Phone", "MailingStreet", "Birthdate", "Title"]
MASK = {"Email": {"kind": "email"}, "FirstName": {"kind": "first_name"}, "LastName": {"kind": "last_name"},
        "Phone": {"kind": "phone"}, "MailingStreet": {"kind": "street"}, "Birthdate": {"kind": "date_shift"}}


def template(masked: bool) -> dict:
    line: dict = {"object": "Contact", "fields": FIELDS, "match_by": ["Email"]}
    if masked:
        line["mask"] = MASK
    return {"name": "Benchmark: masking", "options": {"continue_on_error": True, "bulk_threshold": 0},
            "objects": [line]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--records", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=5, help="paired syncs (without and with masking)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="isyncsf-mask-bench-"))
    os.environ["ISYNCSF_HOME"] = str(work / "home")
    # its own lock folder: the sandbox orgs' ids are the same in every copy of this script, and the machine-wide
    # lock of a target org (engine/lock.py) would make a second copy running at once fail as "busy"
    os.environ["ISYNCSF_LOCK_DIR"] = str(work / "locks")

    import keyring

    from isyncsf_desktop.engine.journal import Journal, OrgRef
    from isyncsf_desktop.engine.masking import Masker, template_secret
    from isyncsf_desktop.engine.runner import SyncEngine
    from isyncsf_desktop.salesforce.client import OrgClient
    from isyncsf_desktop.salesforce.secrets import MemoryKeyring
    from isyncsf_desktop.sandbox.server import SandboxServer

    keyring.set_keyring(MemoryKeyring())     # never the machine's keyring
    runs = range(max(1, args.runs))
    orgs = {"src": "empty", **{f"{kind}{run}": "empty" for run in runs for kind in ("plain", "masked")}}
    server = SandboxServer(work / "sandbox", orgs).start()
    try:
        def client(alias: str) -> OrgClient:
            return OrgClient.connect(server.instance_url, server.token(alias), ca_file=server.ca_file, alias=alias)

        def ref(alias: str) -> OrgRef:
            return OrgRef(alias, server.store(alias).org_id, server.instance_url)

        rows = [{"FirstName": f"First{i}", "LastName": f"Last{i}", "Email": f"person{i}@real.test",
                 "Phone": f"+1 415 555 {i % 10000:04d}", "MailingStreet": f"{i} Main Street",
                 "Birthdate": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}", "Title": "Buyer"} for i in range(args.records)]
        source = client("src")
        for start in range(0, len(rows), 200):
            source.create([{"attributes": {"type": "Contact"}, **r} for r in rows[start:start + 200]])

        began = time.perf_counter()     # once per process (the app's first masked sync): import Faker, load a locale
        Masker(b"warm-up", "en_US")
        faker_load = time.perf_counter() - began
        seconds: dict[str, list[float]] = {"plain": [], "masked": []}
        cpu: dict[str, list[float]] = {"plain": [], "masked": []}
        for run in runs:
            order = (("plain", False), ("masked", True))
            for kind, masked in order if run % 2 == 0 else order[::-1]:
                alias = f"{kind}{run}"
                journal = Journal(work / f"{alias}.sqlite3")
                engine = SyncEngine(journal, client("src"), client(alias), ref("src"), ref(alias))
                job_id = engine.create_job(template(masked))
                began, began_cpu = time.perf_counter(), time.process_time()
                result = engine.sync(job_id)
                seconds[kind].append(time.perf_counter() - began)
                cpu[kind].append(time.process_time() - began_cpu)
                assert result.totals.inserted == args.records, result.as_json()
                journal.close()

        specs = {name: {**rule, "type": "string", "length": 80, "unique": name == "Email"}
                 for name, rule in MASK.items()}
        alone = []
        for _ in runs:
            masker = Masker(template_secret("Benchmark: masking") or b"", "en_US")
            began = time.perf_counter()
            functions = [(name, masker.masking(spec)) for name, spec in specs.items()]
            for row in rows:
                for name, mask in functions:
                    mask(row[name])
            alone.append(time.perf_counter() - began)
    finally:
        server.stop()

    plain, masked = statistics.median(seconds["plain"]), statistics.median(seconds["masked"])
    ratios = [m / p for p, m in zip(seconds["plain"], seconds["masked"])]
    per_record = plain / args.records
    mask_per_record = min(alone) / args.records
    figures = {
        "records": args.records,
        "runs": len(runs),
        "sync_seconds_without_masking_min_median": [round(min(seconds["plain"]), 2), round(plain, 2)],
        "sync_seconds_with_masking_min_median": [round(min(seconds["masked"]), 2), round(masked, 2)],
        "overhead_median_of_pairs": round(statistics.median(ratios) - 1, 4),
        "overhead_of_minimums": round(min(seconds["masked"]) / min(seconds["plain"]) - 1, 4),
        "overhead_of_each_pair": [round(ratio - 1, 4) for ratio in ratios],
        "cpu_seconds_without_masking_min_median": [round(min(cpu["plain"]), 2),
                                                   round(statistics.median(cpu["plain"]), 2)],
        "cpu_seconds_with_masking_min_median": [round(min(cpu["masked"]), 2),
                                                round(statistics.median(cpu["masked"]), 2)],
        "cpu_overhead_median_of_pairs": round(statistics.median(m / p for p, m in zip(cpu["plain"], cpu["masked"]))
                                              - 1, 4),
        "cpu_overhead_of_each_pair": [round(m / p - 1, 4) for p, m in zip(cpu["plain"], cpu["masked"])],
        "faker_load_seconds_once_per_process": round(faker_load, 2),
        "masking_alone_seconds_min": round(min(alone), 3),
        "masking_alone_ms_per_record": round(mask_per_record * 1000, 4),
        "masking_alone_share_of_sync": round(mask_per_record / per_record, 4),
        "projected_200k_sync_seconds": round(per_record * 200_000, 1),
        "projected_200k_masking_seconds": round(mask_per_record * 200_000, 1),
    }
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        for key, value in figures.items():
            print(f"{key:32} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
