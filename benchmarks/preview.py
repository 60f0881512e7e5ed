"""Benchmark: a preview of N records beside the sync of the same records, on the same sandbox server.

The data is sync_bench.py's (Accounts in a three-level ParentId hierarchy, four Contacts to an Account,
written straight into a sandbox source org); the target org starts empty. Each step runs in its own process, so
its peak RSS is its own, with the sandbox server in another process:

* ``preview``: ``SyncEngine.preview`` of the template (the metadata check, the plan, the scan, every record
  matched and transformed, its rows written to the journal; nothing written to either org);
* ``sync``: ``SyncEngine.start_sync`` of the same template (what ``isyncsf sync`` runs), into the empty target;
* ``re-preview``: a preview again after the sync (every record unchanged).

API calls are read from each org's ``/limits`` before and after (less the ``/limits`` call), beside the calls the
preview said the sync would cost (its estimate counts the sync's reads as the preview made them and its writes as
the run sends them; a Bulk job at its fewest calls) and the calls the sync's run counted itself.

Run: ``python benchmarks/preview.py --records 10000 [--json] [--rest]``. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sync_bench  # noqa: E402  (the data, the server and the meters of the sync benchmark)

ROOT = Path(__file__).resolve().parents[1]


def _engine(info: dict[str, Any], work: Path) -> Any:
    from isyncsf_desktop.engine.journal import Journal, OrgRef
    from isyncsf_desktop.engine.runner import SyncEngine

    refs = {a: OrgRef(a, info["orgs"][a]["org_id"], info["instance_url"]) for a in ("source", "target")}
    orgs = sync_bench.clients(info)
    return SyncEngine(Journal(work / "journal.sqlite3"), orgs["source"], orgs["target"], refs["source"],
                      refs["target"])


def child(kind: str, info_path: Path, template: dict[str, Any]) -> dict[str, Any]:
    info = json.loads(info_path.read_text())
    work = info_path.parent
    orgs = sync_bench.clients(info)
    meter = sync_bench.Calls({"source": orgs["source"], "target": orgs["target"]})
    engine = _engine(info, work)
    meter.start()
    t0 = time.perf_counter()
    if kind == "sync":
        result = engine.start_sync(template)
        seconds = time.perf_counter() - t0
        totals = result.totals
        out = {"state": result.state, "seconds": round(seconds, 2), "calls": meter.stop(),
               "run_counted_calls": result.api_calls, "inserted": totals.inserted, "updated": totals.updated,
               "existing": totals.existing, "errors": totals.errors}
    else:
        preview = engine.preview(template)
        seconds = time.perf_counter() - t0
        out = {"status": preview.status, "message": preview.message, "seconds": round(seconds, 2),
               "calls": meter.stop(), "estimate": preview.api_calls, "totals": preview.totals,
               "journal_rows": sum(sum(c.values()) for c in engine.journal.preview_counts(preview.preview_id).values())}
    out["peak_rss_mb"] = sync_bench.peak_rss_mb()
    engine.journal.close()
    return out


def run_child(kind: str, info_path: Path, extra: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, __file__, "--child", kind, "--info", str(info_path), *extra],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"the {kind} step failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, default=10000, help="records (default 10000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    parser.add_argument("--rest", action="store_true", help="Collections only: Bulk API 2.0 off (bulk_threshold 0)")
    parser.add_argument("--child", choices=("preview", "sync", "re-preview"), help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    options = dict(sync_bench.TEMPLATE["options"])
    if args.rest:
        options["bulk_threshold"] = 0
    template = {**sync_bench.TEMPLATE, "name": "Benchmark: preview", "options": options}
    if args.child:
        print(json.dumps(child(args.child, Path(args.info), template), default=str))
        return 0

    work = Path(tempfile.mkdtemp(prefix="isyncsf-preview-bench-"))
    try:
        sync_bench.build(work / "sandbox", args.records)
        server, info = sync_bench.start_server(work / "sandbox")
        try:
            info_path = work / "info.json"
            info_path.write_text(json.dumps(info))
            extra = ["--rest"] if args.rest else []
            steps = {kind: run_child(kind, info_path, extra) for kind in ("preview", "sync", "re-preview")}
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    preview, sync = steps["preview"], steps["sync"]
    estimate = {side: preview["estimate"][side]["total"] for side in ("source", "target")}
    report = {"records": args.records, "rest_only": args.rest, **steps,
              "estimate_vs_sync": {"estimated": estimate, "sync_run_counted": sync["run_counted_calls"],
                                   "sync_from_limits": sync["calls"]},
              "ratios": {"seconds_preview_to_sync": round(preview["seconds"] / sync["seconds"], 2),
                         "rss_preview_to_sync": round(preview["peak_rss_mb"] / sync["peak_rss_mb"], 2)}}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    for kind, step in steps.items():
        print(f"{kind:<10} {step['seconds']:>7} s  calls {step['calls']}  peak RSS {step['peak_rss_mb']} MB")
    print(f"estimated sync calls {estimate}; the sync's run counted {sync['run_counted_calls']} "
          f"(its /limits: {sync['calls']}, with the metadata check)")
    print(json.dumps(report["ratios"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
