"""Benchmark: Apply This Preview on N records beside a plain sync of the same records, on the same sandbox server.

The data is sync_bench.py's (Accounts in a three-level ParentId hierarchy, four Contacts to an Account, written
straight into a sandbox source org); the target org starts empty. Each step runs in its own process (its peak RSS
is its own), the sandbox server in another:

* ``preview``: ``SyncEngine.preview`` of the template;
* ``check``: ``SyncEngine.check_preview`` (the metadata fingerprint read again, one query per object and org for
  what moved since): what the *Apply* prompt costs before anything is written;
* ``apply``: ``SyncEngine.apply_preview`` (a sync whose every decision is gated against the preview's rows);
* ``rollback`` of the applied job (the target empty again; not compared);
* ``sync``: ``SyncEngine.start_sync`` of the same template into the emptied target.

API calls are read from each org's ``/limits`` before and after (less the ``/limits`` call).

Run: ``python benchmarks/apply.py --records 10000 [--json] [--rest]``. Prints figures; asserts nothing.
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
STEPS = ("preview", "check", "apply", "rollback", "sync")


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
    journal = engine.journal
    meter.start()
    t0 = time.perf_counter()
    out: dict[str, Any]
    if kind == "preview":
        preview = engine.preview(template)
        out = {"status": preview.status, "totals": preview.totals}
    elif kind == "check":
        check = engine.check_preview(journal.previews()[0].id)
        out = {"ok": check.ok, "changed": len(check.changed), "to_write": check.to_write}
    elif kind in ("apply", "sync"):
        result = engine.apply_preview(journal.previews()[0].id) if kind == "apply" else engine.start_sync(template)
        totals = result.totals
        out = {"state": result.state, "message": result.message, "inserted": totals.inserted,
               "updated": totals.updated, "errors": totals.errors}
    else:
        job_id = journal.jobs()[0].id
        result = engine.rollback(job_id)
        out = {"status": result.status}
    out.update(seconds=round(time.perf_counter() - t0, 2), calls=meter.stop(), peak_rss_mb=sync_bench.peak_rss_mb())
    journal.close()
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
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    options = dict(sync_bench.TEMPLATE["options"])
    if args.rest:
        options["bulk_threshold"] = 0
    template = {**sync_bench.TEMPLATE, "name": "Benchmark: apply", "options": options}
    if args.child:
        print(json.dumps(child(args.child, Path(args.info), template), default=str))
        return 0

    work = Path(tempfile.mkdtemp(prefix="isyncsf-apply-bench-"))
    try:
        sync_bench.build(work / "sandbox", args.records)
        server, info = sync_bench.start_server(work / "sandbox")
        try:
            info_path = work / "info.json"
            info_path.write_text(json.dumps(info))
            extra = ["--rest"] if args.rest else []
            steps = {kind: run_child(kind, info_path, extra) for kind in STEPS}
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    apply, sync = steps["apply"], steps["sync"]
    report = {"records": args.records, "rest_only": args.rest, **steps,
              "ratios": {"seconds_apply_to_sync": round(apply["seconds"] / sync["seconds"], 2),
                         "rss_apply_to_sync": round(apply["peak_rss_mb"] / sync["peak_rss_mb"], 2)}}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    for kind, step in steps.items():
        print(f"{kind:<9} {step['seconds']:>7} s  calls {step['calls']}  peak RSS {step['peak_rss_mb']} MB")
    print(f"apply: {apply.get('message')}")
    print(json.dumps(report["ratios"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
