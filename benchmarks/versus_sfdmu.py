"""Benchmark: the engine against SFDMU, the same data copied by each, on one sandbox server.

The data is sync_bench.py's (Accounts in a three-level ParentId hierarchy, four Contacts to an Account,
written straight into a sandbox source org), in orgs without Person Accounts: SFDMU 3.7 takes Bulk API 1.0
query results as CSV text and reads a business contact's ``IsPersonAccount`` "false" as true (see
tests/sandbox/test_sfdmu.py). For each size, with the sandbox server in its own process:

* ``engine``: the product's :class:`SyncEngine` (sync_bench's engine child, its own process) copies the records
  to the empty org ``target``, matching Accounts by External_Id__c and Contacts by Email, with the template's
  default settings;
* ``sfdmu``: ``sf sfdmu run`` (SFDMU as an sf CLI plugin, its default settings) upserts the same fields with the
  same external ids from ``source`` into the empty org ``plain``.

API calls are read from each org's ``/limits`` (``DailyApiRequests``) before and after, less the ``/limits`` call,
as sync_bench does: the source's and the target's, for each side. Seconds are wall-clock; SFDMU's include the
start of Node.js and the sf CLI (a few seconds), which is printed on its own (``sf --version``) beside them.

Needs the sf CLI and the sfdmu package as .ci/run installs them: ``SF_CLI_DIR`` (its ``node_modules/.bin`` holds
``sf``; else ``sf`` on PATH) and ``ISYNCSF_SFDMU_DIR`` (whose ``node_modules/sfdmu`` is linked as the plugin).

Run: ``python benchmarks/versus_sfdmu.py --records 10000 50000 200000 [--json] [--engine-only]``. Prints
figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import sync_bench  # noqa: E402  (the data, the server and the meters of the sync benchmark)

QUIET = {"SF_DISABLE_TELEMETRY": "true", "SF_DISABLE_AUTOUPDATE": "true", "SF_SKIP_NEW_VERSION_CHECK": "true"}
SFDMU_TIMEOUT = 3600


def sf_command() -> str:
    """The sf executable: under ``$SF_CLI_DIR/node_modules/.bin`` when set, else on PATH."""
    base = os.environ.get("SF_CLI_DIR")
    found = str(Path(base) / "node_modules" / ".bin" / "sf") if base else shutil.which("sf")
    if not found or not Path(found).exists():
        raise SystemExit("the Salesforce CLI (sf) was not found: set SF_CLI_DIR to the folder npm installed "
                         "@salesforce/cli into, or put sf on PATH")
    return found


def sfdmu_folder() -> Path:
    base = os.environ.get("ISYNCSF_SFDMU_DIR")
    folder = Path(base) / "node_modules" / "sfdmu" if base else None
    if folder is None or not (folder / "package.json").is_file():
        raise SystemExit("sfdmu was not found: set ISYNCSF_SFDMU_DIR to the folder npm installed sfdmu into "
                         "(its node_modules/sfdmu/package.json)")
    return folder


def node_env(home: Path, ca_file: str) -> dict[str, str]:
    """The environment of the sf CLI: its own HOME (auth files, plugins) and the sandbox CA trusted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFDX_"))}
    sf_dir = os.environ.get("SF_CLI_DIR")
    if sf_dir:
        env["PATH"] = f"{Path(sf_dir) / 'node_modules' / '.bin'}{os.pathsep}{env.get('PATH', '')}"
    env.update({"HOME": str(home), "XDG_CONFIG_HOME": str(home / ".config"),
                "XDG_DATA_HOME": str(home / ".local" / "share"), "XDG_CACHE_HOME": str(home / ".cache"),
                "NODE_EXTRA_CA_CERTS": ca_file, "SF_USE_PROGRESS_BAR": "false", "NO_COLOR": "1", "FORCE_COLOR": "0",
                **QUIET})
    return env


def sf(env: dict[str, str], cwd: Path, *args: str, timeout: float = 300) -> str:
    done = subprocess.run([sf_command(), *args], capture_output=True, text=True, cwd=cwd, env=env, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if done.returncode != 0:
        raise SystemExit(f"sf {' '.join(args[:2])} exited {done.returncode}:\n{done.stdout[-2000:]}\n"
                         f"{done.stderr[-2000:]}")
    return done.stdout


def prepare_orgs(data_dir: Path) -> None:
    """Initialise sync_bench's orgs from the ``empty`` seed without Person Accounts (sync_bench.build then opens
    them as they are and writes the data)."""
    from isyncsf_desktop.sandbox.seeds import build_seed
    from isyncsf_desktop.sandbox.server import SandboxServer

    seed = build_seed("empty", overrides={"person_accounts": False})
    with SandboxServer(data_dir, {alias: seed for alias in sync_bench.ORGS}):
        pass


def run_sfdmu(info: dict[str, Any], work: Path) -> dict[str, Any]:
    """SFDMU upserts the benchmark's objects from ``source`` into ``plain``; its seconds and calls."""
    home = work / "sf-home"
    home.mkdir()
    env = node_env(home, info["ca_file"])
    t0 = time.perf_counter()
    sf(env, work, "--version")
    cli_start = time.perf_counter() - t0
    sf(env, work, "plugins", "link", str(sfdmu_folder()), "--no-install")
    plan = work / "sfdmu-plan"
    plan.mkdir()
    objects = []
    lines: list[dict[str, Any]] = list(sync_bench.TEMPLATE["objects"])   # type: ignore[arg-type]
    for line in lines:
        fields = [f for f in line["fields"] if f != "Id"]
        objects.append({"query": f"SELECT Id, {', '.join(fields)} FROM {line['object']}", "operation": "Upsert",
                        "externalId": line["match_by"][0]})
    # SFDMU 3.7 reads a CLI login from a text table the current CLI no longer prints; its export.json takes
    # the login explicitly instead (tests/sandbox/test_sfdmu.py)
    (plan / "export.json").write_text(json.dumps({
        "orgs": [{"name": name, "instanceUrl": info["instance_url"], "accessToken": info["orgs"][alias]["access_token"]}
                 for name, alias in (("source", "source"), ("target", "plain"))],
        "objects": objects}, indent=2), encoding="utf-8")
    orgs = sync_bench.clients(info)
    meter = sync_bench.Calls({"source": orgs["source"], "target": orgs["plain"]})
    meter.start()
    t0 = time.perf_counter()
    out = sf(env, work, "sfdmu", "run", "--sourceusername", "source", "--targetusername", "target", "--path",
             str(plan), "--noprompt", timeout=SFDMU_TIMEOUT)
    seconds = time.perf_counter() - t0
    calls = meter.stop()
    if "Exit code 0 (SUCCESS)" not in out:
        raise SystemExit(f"sfdmu did not succeed:\n{out[-3000:]}")
    inserted = sum(orgs["plain"].count(line["object"]) for line in lines)
    return {"seconds": round(seconds, 2), "cli_start_seconds": round(cli_start, 2), "calls": calls,
            "calls_total": sum(calls.values()), "inserted": inserted}


def one_size(records: int, engine_only: bool) -> dict[str, Any]:
    work = Path(tempfile.mkdtemp(prefix="isyncsf-versus-sfdmu-"))
    try:
        prepare_orgs(work / "sandbox")
        sync_bench.build(work / "sandbox", records)
        server, info = sync_bench.start_server(work / "sandbox")
        try:
            info_path = work / "info.json"
            info_path.write_text(json.dumps(info))
            engine = sync_bench.run_child("engine", info_path, ["--no-rollback"])
            engine["calls_total"] = sum(engine["calls"].values())
            sfdmu = None if engine_only else run_sfdmu(info, work)
        finally:
            server.terminate()
            server.wait(timeout=30)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    keep = ("seconds", "calls", "calls_total", "inserted", "errors", "bulk_polls", "peak_rss_mb", "eta")
    return {"records": records, "engine": {k: engine.get(k) for k in keep}, "sfdmu": sfdmu}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--records", type=int, nargs="+", default=[10000, 50000, 200000],
                        help="sizes to copy (default 10000 50000 200000)")
    parser.add_argument("--json", action="store_true", help="print one JSON list instead of a table")
    parser.add_argument("--engine-only", action="store_true", help="run the engine alone, not SFDMU")
    args = parser.parse_args(argv)
    if not args.engine_only:
        sfdmu_folder()
        sf_command()
    results = []
    for records in args.records:
        results.append(one_size(records, args.engine_only))
        # a line per size as it is done (on standard error with --json)
        e, s = results[-1]["engine"], results[-1]["sfdmu"]
        line = f"{records:>9,} records: engine {e['seconds']:>7} s {e['calls_total']:>4} calls " \
               f"({e['bulk_polls']} Bulk polls)"
        if s:
            line += f" | SFDMU {s['seconds']:>7} s {s['calls_total']:>4} calls (sf start {s['cli_start_seconds']} s)"
        print(line, flush=True, file=sys.stderr if args.json else sys.stdout)
    if args.json:
        print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
