"""What the benchmarks of engine steps share (apply.py, preview.py): sync_bench.py's data in a sandbox source org
(the target org empty), the sandbox server in its own process, and each step in a process of its own (its peak
RSS is its own), metered by each org's ``/limits``.

A benchmark script calls :func:`run_steps` in its main process; it runs the script again, once a step, with
``--child STEP --info FILE``, and the child calls :func:`open_engine` and prints its figures as one JSON line.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sync_bench  # noqa: E402  (the data, the server and the meters of the sync benchmark)

ROOT = Path(__file__).resolve().parents[1]


def arguments(description: str, steps: Sequence[str]) -> argparse.ArgumentParser:
    """The options every such benchmark takes: ``--records``, ``--json``, ``--rest``; and the child's own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--records", type=int, default=10000, help="records (default 10000)")
    parser.add_argument("--json", action="store_true", help="print one JSON object instead of lines")
    parser.add_argument("--rest", action="store_true", help="Collections only: Bulk API 2.0 off (bulk_threshold 0)")
    parser.add_argument("--child", choices=steps, help=argparse.SUPPRESS)
    parser.add_argument("--info", help=argparse.SUPPRESS)
    return parser


def template(name: str, rest: bool) -> dict[str, Any]:
    """sync_bench.py's template under ``name``; ``rest``: Bulk API 2.0 off."""
    options = dict(sync_bench.TEMPLATE["options"])
    if rest:
        options["bulk_threshold"] = 0
    return {**sync_bench.TEMPLATE, "name": name, "options": options}


def open_engine(info_path: Path) -> tuple[dict[str, Any], Any, sync_bench.Calls]:
    """In a child: the server's info, a ``SyncEngine`` from source to target (its journal beside ``info_path``,
    shared by the steps) and a meter of both orgs' calls (not started)."""
    from isyncsf_desktop.engine.journal import Journal, OrgRef
    from isyncsf_desktop.engine.runner import SyncEngine

    info = json.loads(info_path.read_text())
    refs = {a: OrgRef(a, info["orgs"][a]["org_id"], info["instance_url"]) for a in ("source", "target")}
    orgs = sync_bench.clients(info)
    engine = SyncEngine(Journal(info_path.parent / "journal.sqlite3"), orgs["source"], orgs["target"],
                        refs["source"], refs["target"])
    meter = sync_bench.Calls({"source": orgs["source"], "target": orgs["target"]})
    return info, engine, meter


def _run_child(script: str, kind: str, info_path: Path, extra: list[str]) -> dict[str, Any]:
    out = subprocess.run([sys.executable, script, "--child", kind, "--info", str(info_path), *extra],
                         capture_output=True, text=True, cwd=ROOT)
    if out.returncode != 0:
        raise SystemExit(f"the {kind} step failed:\n{out.stderr[-3000:]}")
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run_steps(script: str, records: int, steps: Sequence[str], extra: list[str]) -> dict[str, dict[str, Any]]:
    """Build ``records`` records in a new sandbox, start its server, run ``script --child STEP ... *extra`` for each
    step in order; their figures by step. The sandbox is removed after."""
    work = Path(tempfile.mkdtemp(prefix=f"isyncsf-{Path(script).stem}-bench-"))
    try:
        sync_bench.build(work / "sandbox", records)
        server, info = sync_bench.start_server(work / "sandbox")
        try:
            info_path = work / "info.json"
            info_path.write_text(json.dumps(info))
            return {kind: _run_child(script, kind, info_path, extra) for kind in steps}
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def ratios(name: str, step: dict[str, Any], sync: dict[str, Any]) -> dict[str, float]:
    """The ``name`` step's seconds and peak RSS over the plain sync's."""
    return {f"seconds_{name}_to_sync": round(step["seconds"] / sync["seconds"], 2),
            f"rss_{name}_to_sync": round(step["peak_rss_mb"] / sync["peak_rss_mb"], 2)}


def print_steps(steps: dict[str, dict[str, Any]]) -> None:
    """A line a step: its seconds, API calls and peak RSS."""
    width = max(len(kind) for kind in steps) + 1
    for kind, step in steps.items():
        print(f"{kind:<{width}} {step['seconds']:>7} s  calls {step['calls']}  peak RSS {step['peak_rss_mb']} MB")
