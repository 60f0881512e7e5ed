"""Benchmark: a preview of N records beside the sync of the same records, on the same sandbox server.

The data is sync_bench.py's (Accounts in a three-level ParentId hierarchy, four Contacts to an Account,
written straight into a sandbox source org); the target org starts empty. Each step runs in its own process, so
its peak RSS is its own, with the sandbox server in another process:

* ``preview``: ``SyncEngine.preview`` of the template (the metadata check, the plan, the scan, every record
  matched and transformed, its rows written to the journal; nothing written to either org);
* ``sync``: ``SyncEngine.start_sync`` of the same template (what ``isyncsf sync`` runs), into the empty target;
* ``re-preview``: a preview again after the sync (every record unchanged).

API calls are read from each org's ``/limits`` before and after (less the ``/limits`` call), beside the calls the
preview said the sync would cost (its estimate counts the sync's reads as the preview made them, its writes as the
run sends them and the looks at its Bulk jobs as replayed) and the calls the sync's run counted itself; the
preview's estimated time beside the sync's, with the error in % and whether the sync fell in the estimate's range.
The sync's measured writes (what later previews to the same org are estimated on) are printed with it;
``--prior FILE`` puts such figures (an earlier ``--json`` output, or a list of them) in the journal before the
first preview, so its estimate is made on them rather than on the sandbox defaults.

Run: ``python benchmarks/preview.py --records 10000 [--json] [--rest] [--prior FILE]``. Prints figures; asserts
nothing.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_steps  # noqa: E402  (the sandbox, the steps' processes, the engine)
import sync_bench  # noqa: E402  (the meters of the sync benchmark)

STEPS = ("preview", "sync", "re-preview")


def child(kind: str, info_path: Path, template: dict[str, Any], prior: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    info, engine, meter = engine_steps.open_engine(info_path)
    meter.start()
    t0 = time.perf_counter()
    if kind == "sync":
        result = engine.start_sync(template)
        seconds = time.perf_counter() - t0
        totals = result.totals
        from isyncsf_desktop.engine import estimate

        kept = estimate.samples(engine.journal, info["orgs"]["target"]["org_id"])
        writes = kept[-1] if kept else None
        out = {"state": result.state, "seconds": round(seconds, 2), "calls": meter.stop(),
               "run_counted_calls": result.api_calls, "inserted": totals.inserted, "updated": totals.updated,
               "existing": totals.existing, "errors": totals.errors, "bulk_polls": sync_bench.bulk_polls({"target": engine.target}),
               "writes_measured": None if writes is None else {
                   **{k: v for k, v in vars(writes).items() if k != "run_id"},
                   "record_seconds": writes.record_seconds, "bulk_rate": writes.bulk_rate}}
    else:
        if prior:
            from isyncsf_desktop.engine import estimate

            for item in prior:    # earlier runs' write timings (another benchmark's sync): the estimate's basis
                estimate.remember_run(engine.journal, info["orgs"]["target"]["org_id"],
                                      estimate.WriteSample(**item))
        preview = engine.preview(template)
        seconds = time.perf_counter() - t0
        out = {"status": preview.status, "message": preview.message, "seconds": round(seconds, 2),
               "calls": meter.stop(), "estimate": preview.api_calls, "totals": preview.totals,
               "time_estimate": preview.estimate, "api_share": preview.api_share,
               "journal_rows": sum(sum(c.values()) for c in engine.journal.preview_counts(preview.preview_id).values())}
    out["peak_rss_mb"] = sync_bench.peak_rss_mb()
    engine.journal.close()
    return out


def _error(estimated: float, actual: float) -> float:
    """The estimate's error, in percent of the actual figure."""
    return round(100.0 * (estimated - actual) / actual, 1) if actual else 0.0


def _prior(path: Path) -> list[dict[str, Any]]:
    data = json.loads(path.read_text())
    if isinstance(data, dict):       # this script's --json output: its sync's measured writes
        measured = dict(data["sync"]["writes_measured"])
        return [{k: v for k, v in measured.items() if k not in ("record_seconds", "bulk_rate")} | {"run_id": 0}]
    return list(data)


def main(argv: list[str] | None = None) -> int:
    parser = engine_steps.arguments((__doc__ or "").splitlines()[0], STEPS)
    parser.add_argument("--prior", help="a JSON file of earlier runs' write timings (a list; or this script's "
                        "--json output, whose sync's are taken): the first preview's estimate is made on them")
    args = parser.parse_args(argv)
    template = engine_steps.template("Benchmark: preview", args.rest)
    prior = _prior(Path(args.prior)) if args.prior else None
    if args.child:
        print(json.dumps(child(args.child, Path(args.info), template, prior if args.child == "preview" else None),
                         default=str))
        return 0

    extra = (["--rest"] if args.rest else []) + (["--prior", str(Path(args.prior).resolve())] if args.prior else [])
    steps = engine_steps.run_steps(__file__, args.records, STEPS, extra)
    preview, sync = steps["preview"], steps["sync"]
    estimate = {side: preview["estimate"][side]["total"] for side in ("source", "target")}
    timed = preview["time_estimate"]
    report = {"records": args.records, "rest_only": args.rest, **steps,
              "estimate_vs_sync": {
                  "calls": {side: {"estimated": estimate[side], "sync": sync["run_counted_calls"][side],
                                   "error_percent": _error(estimate[side], sync["run_counted_calls"][side])}
                            for side in ("source", "target")},
                  "sync_calls_from_limits": sync["calls"],
                  "seconds": {"estimated": timed["seconds"], "low": timed["low"], "high": timed["high"],
                              "basis": timed["basis"], "sync": sync["seconds"],
                              "error_percent": _error(timed["seconds"], sync["seconds"]),
                              "within_range": timed["low"] <= sync["seconds"] <= timed["high"]}},
              "ratios": engine_steps.ratios("preview", preview, sync)}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    engine_steps.print_steps(steps)
    compared = report["estimate_vs_sync"]
    for side, row in compared["calls"].items():
        print(f"{side} calls: estimated {row['estimated']}, the sync's run counted {row['sync']} "
              f"(error {row['error_percent']:+}%)")
    print(f"(the sync's /limits: {sync['calls']}, with the metadata check)")
    row = compared["seconds"]
    print(f"time: estimated {row['estimated']} s ({row['low']}-{row['high']} s, {row['basis']}), the sync took "
          f"{row['sync']} s (error {row['error_percent']:+}%, {'within' if row['within_range'] else 'outside'} "
          "the range)")
    print(json.dumps(report["ratios"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
