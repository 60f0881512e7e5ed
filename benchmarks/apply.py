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

import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import engine_steps  # noqa: E402  (the sandbox, the steps' processes, the engine)
import sync_bench  # noqa: E402  (the meters of the sync benchmark)

STEPS = ("preview", "check", "apply", "rollback", "sync")


def child(kind: str, info_path: Path, template: dict[str, Any]) -> dict[str, Any]:
    _info, engine, meter = engine_steps.open_engine(info_path)
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


def main(argv: list[str] | None = None) -> int:
    args = engine_steps.arguments((__doc__ or "").splitlines()[0], STEPS).parse_args(argv)
    template = engine_steps.template("Benchmark: apply", args.rest)
    if args.child:
        print(json.dumps(child(args.child, Path(args.info), template), default=str))
        return 0

    steps = engine_steps.run_steps(__file__, args.records, STEPS, ["--rest"] if args.rest else [])
    apply, sync = steps["apply"], steps["sync"]
    report = {"records": args.records, "rest_only": args.rest, **steps,
              "ratios": engine_steps.ratios("apply", apply, sync)}
    if args.json:
        print(json.dumps(report, indent=2, default=str))
        return 0
    engine_steps.print_steps(steps)
    print(f"apply: {apply.get('message')}")
    print(json.dumps(report["ratios"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
