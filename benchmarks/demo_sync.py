"""Benchmark: a demo-source → demo-target sync, a re-run and a rollback, through the real client.

Prints records, API calls and seconds for each step. Run: ``python benchmarks/demo_sync.py``.
Nothing is asserted: these are figures to compare between changes.
"""

from __future__ import annotations

import json
import resource
import sys
import tempfile
import time
from pathlib import Path

from isyncsf_desktop.engine.journal import Journal, OrgRef
from isyncsf_desktop.engine.runner import SyncEngine
from isyncsf_desktop.engine.template import load_template
from isyncsf_desktop.salesforce.client import OrgClient
from isyncsf_desktop.sandbox.server import SandboxServer

TEMPLATE = Path(__file__).resolve().parents[1] / "isyncsf_desktop" / "data" / "templates" / "demo.json"


def main() -> int:
    work = Path(tempfile.mkdtemp(prefix="isyncsf-bench-"))
    started = time.perf_counter()
    with SandboxServer(work / "sandbox") as server:
        boot = time.perf_counter() - started
        clients = {a: OrgClient.connect(server.instance_url, server.token(a), ca_file=server.ca_file, alias=a)
                   for a in ("source", "target")}
        refs = {a: OrgRef(a, server.store(a).org_id, server.instance_url) for a in clients}
        journal = Journal(work / "journal.sqlite3")
        engine = SyncEngine(journal, clients["source"], clients["target"], refs["source"], refs["target"])
        template = load_template(TEMPLATE)
        rows = []
        for label, action in (("sync", lambda: engine.sync(engine.create_job(template))),
                              ("re-run (new job)", lambda: engine.sync(engine.create_job(template))),
                              ("rollback of the first job", lambda: engine.rollback(1))):
            t0 = time.perf_counter()
            result = action()
            seconds = time.perf_counter() - t0
            totals = result.totals
            records = totals.inserted + totals.updated + totals.existing + totals.errors + totals.deleted + \
                totals.restored
            rows.append({"step": label, "state": result.state, "records": records, "inserted": totals.inserted,
                         "updated": totals.updated, "existing": totals.existing, "errors": totals.errors,
                         "deleted": totals.deleted, "restored": totals.restored,
                         "api_calls_source": result.api_calls["source"],
                         "api_calls_target": result.api_calls["target"], "seconds": round(seconds, 2),
                         "records_per_second": round(records / seconds) if seconds else None})
        journal.close()
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"sandbox_start_seconds": round(boot, 2), "steps": rows, "peak_rss_mb": round(peak_mb, 1)},
                     indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
