"""Benchmark: a sync "with their files" of many files (one large) between two sandbox orgs, and its re-sync.

The source org gets Accounts and ``--files`` files on them (small ones of 20-80 KB and, unless ``--big-mb 0``,
one of ``--big-mb`` MB). Then ``isyncsf sync`` runs in a child process (so its peak RSS is the app's, not
the sandbox server's), then ``isyncsf resync`` of the same job, then a second job of the same template
(everything found on the target by checksum: nothing uploaded). Prints per run: files copied / found,
MB, seconds, API calls (source, target: every request the sandbox saw, with the CLI's login and checks) and
the child's peak RSS.

Run: ``python benchmarks/files_sync.py [--files 500] [--big-mb 200]``; ``--big-mb 0`` for the same run
without the large file (the peak RSS difference is what the large file costs). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from isyncsf_desktop.salesforce.client import OrgClient
from isyncsf_desktop.sandbox.server import SandboxServer

MB = 1024 * 1024
CHILD = """
import contextlib, io, json, os, resource, sys
import keyring
from isyncsf_desktop import cli
from isyncsf_desktop.salesforce import secrets
from isyncsf_desktop.salesforce.registry import OrgRegistry
keyring.set_keyring(secrets.MemoryKeyring())
known = OrgRegistry()
for alias, (url, token, ca) in json.loads(os.environ["BENCH_ORGS"]).items():
    verb = ["org", "login", alias] if alias in known else ["org", "add", alias, "--instance-url", url]
    with contextlib.redirect_stdout(io.StringIO()):
        if cli.main([*verb, "--access-token", token, "--ca-file", ca]):
            sys.exit(3)
code = cli.main(sys.argv[1:])
print("peak-rss-kb", resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)
sys.exit(code)
"""


def _client(server: SandboxServer, alias: str) -> OrgClient:
    return OrgClient.connect(server.instance_url, server.token(alias), ca_file=server.ca_file, alias=alias)


def _seed(server: SandboxServer, work: Path, files: int, big_mb: int) -> float:
    """Accounts and files on the source; returns the MB of files."""
    source = _client(server, "src")
    accounts = [r["id"] for r in source.create([{"attributes": {"type": "Account"}, "Name": f"Bench {i}",
                                                 "External_Id__c": f"B{i}"} for i in range(100)])]
    rng = random.Random(7)
    total = 0
    small = files - (1 if big_mb else 0)
    path = work / "small.pdf"
    for index in range(small):
        size = rng.randint(20, 80) * 1024
        path.write_bytes(os.urandom(size))
        source.upload_content_version({"PathOnClient": f"file-{index}.pdf", "Title": f"File {index}",
                                       "FirstPublishLocationId": accounts[index % len(accounts)]}, path)
        total += size
    if big_mb:
        big = work / "big.bin"
        block = os.urandom(MB)
        with open(big, "wb") as handle:
            for number in range(big_mb):
                handle.write(number.to_bytes(8, "big") + block[8:])
        source.upload_content_version({"PathOnClient": "survey.pdf", "Title": "Large survey",
                                       "FirstPublishLocationId": accounts[0]}, big)
        big.unlink()
        total += big_mb * MB
    return total / MB


def _run(env: dict[str, str], *argv: str) -> tuple[dict, float, float]:
    """One CLI command in a child: its JSON result, seconds and peak RSS (MB)."""
    started = time.perf_counter()
    child = subprocess.Popen([sys.executable, "-c", CHILD, *argv, "--json"], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, env=env)
    out, err = child.communicate()
    seconds = time.perf_counter() - started
    if child.returncode:
        raise SystemExit(f"{' '.join(argv)} failed: {err[-2000:]}")
    rss_kb = [int(line.split()[1]) for line in err.splitlines() if line.startswith("peak-rss-kb ")]
    return json.loads(out), seconds, (rss_kb[-1] / 1024) if rss_kb else 0.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=500, help="files on the source's Accounts")
    parser.add_argument("--big-mb", type=int, default=200, help="size of the one large file (0: none)")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="isyncsf-files-bench-"))
    with SandboxServer(work / "sandbox", {"src": "empty", "tgt": "empty"}) as server:
        mb = _seed(server, work, args.files, args.big_mb)
        template = work / "files.json"
        template.write_text(json.dumps({"name": "files bench", "options": {"continue_on_error": True},
                                        "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"],
                                                     "match_by": ["External_Id__c"], "files": True}]}))
        env = {**os.environ, "ISYNCSF_HOME": str(work / "home"), "BENCH_ORGS": json.dumps(
            {alias: [server.instance_url, server.token(alias), str(server.ca_file)] for alias in ("src", "tgt")})}
        print(f"{args.files} files, {mb:,.1f} MB on the source (large file: {args.big_mb} MB)")
        sync = ["sync", "--source", "src", "--target", "tgt", "--template", str(template)]
        calls = {"src": 0, "tgt": 0}

        def counter(alias: str):
            def observe(when: str, method: str, path: str) -> None:
                if when == "before":
                    calls[alias] += 1
            return observe
        for alias in calls:
            server.faults(alias).update(observer=counter(alias))
        for label, argv in (("sync", sync), ("resync", ["resync", "1"]), ("new job", sync)):
            calls.update(src=0, tgt=0)
            result, seconds, rss = _run(env, *argv)
            files = next((r for r in result.get("objects", []) if r["object"] == "ContentVersion"), {})
            print(f"{label:8}: {files.get('inserted', 0)} files uploaded, {files.get('existing', 0)} found on the "
                  f"target, {seconds:6.1f} s, calls source {calls['src']}, target {calls['tgt']}, "
                  f"peak RSS {rss:,.0f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
