"""Benchmark: the sandbox org server's own cost per record, for a Bulk API 2.0 ingest and a Bulk query.

Starts ``isyncsf sandbox serve`` (one org of seed ``empty``) in its own process and, with plain HTTP requests
(the Bulk API 2.0 a client sends), inserts N/4 Accounts, then N Contacts whose AccountId points at them (jobs of
up to 100,000 rows), then runs a Bulk query of the N Contacts and reads every result page. For each phase it
prints the wall seconds, the rows per second and the server process's processor time (user and system, from
``/proc``): the figure to compare, since the box's other work sways the seconds. Prints figures; asserts nothing.

Run: ``python benchmarks/sandbox_ingest.py --records 50000 --json``. To compare two trees at the same moment, run
it once with each on ``PYTHONPATH`` (the server process inherits it), alternating.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
API = "/services/data/v60.0"
JOB_ROWS = 100_000
POLL = 0.1   # seconds between looks at a job's state (each look costs the server one small request)


def server_cpu(pid: int) -> float:
    """Processor seconds (user and system, all threads) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def server_peak_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return round(int(line.split()[1]) / 1024, 1)
    return 0.0


class Org:
    """One org of the server, reached with a requests session (its CA, its token)."""

    def __init__(self, info: dict[str, Any], alias: str):
        import requests

        self.base = info["instance_url"] + API
        self.session = requests.Session()
        self.session.trust_env = False
        self.session.verify = info["ca_file"]
        self.session.headers["Authorization"] = f"Bearer {info['orgs'][alias]['access_token']}"

    def call(self, method: str, path: str, **kwargs: Any) -> Any:
        answer = self.session.request(method, self.base + path, timeout=600, **kwargs)
        if answer.status_code >= 400:
            raise SystemExit(f"{method} {path}: {answer.status_code} {answer.text[:300]}")
        return answer

    def wait(self, kind: str, job_id: str) -> dict[str, Any]:
        while True:
            state = self.call("GET", f"/jobs/{kind}/{job_id}").json()
            if state["state"] in ("JobComplete", "Failed", "Aborted"):
                if state["state"] != "JobComplete":
                    raise SystemExit(f"{kind} job {job_id} ended {state['state']}: {state.get('errorMessage')}")
                return state
            time.sleep(POLL)

    def insert(self, sobject: str, header: list[str], rows: list[list[str]]) -> list[str]:
        """Insert ``rows`` by Bulk API 2.0 (jobs of up to JOB_ROWS rows); the new ids (as the results list them)."""
        out: list[str] = []
        for start in range(0, len(rows), JOB_ROWS):
            part = rows[start:start + JOB_ROWS]
            job = self.call("POST", "/jobs/ingest", json={"object": sobject, "operation": "insert",
                                                          "contentType": "CSV", "lineEnding": "LF"}).json()
            body = "\n".join([",".join(header)] + [",".join(r) for r in part]) + "\n"
            self.call("PUT", f"/jobs/ingest/{job['id']}/batches", data=body.encode(),
                      headers={"Content-Type": "text/csv"})
            self.call("PATCH", f"/jobs/ingest/{job['id']}", json={"state": "UploadComplete"})
            state = self.wait("ingest", job["id"])
            if state.get("numberRecordsFailed"):
                raise SystemExit(f"{state['numberRecordsFailed']} {sobject} rows failed")
            text = self.call("GET", f"/jobs/ingest/{job['id']}/successfulResults/").text
            out.extend(line.split(",", 1)[0].strip('"') for line in text.splitlines()[1:])
        return out

    def query(self, soql: str) -> int:
        """Run ``soql`` as a Bulk query job and read every result page; the rows read."""
        job = self.call("POST", "/jobs/query", json={"operation": "query", "query": soql}).json()
        self.wait("query", job["id"])
        rows, locator = 0, None
        while True:
            params: dict[str, Any] = {"maxRecords": 50_000}
            if locator:
                params["locator"] = locator
            answer = self.call("GET", f"/jobs/query/{job['id']}/results", params=params)
            rows += int(answer.headers.get("Sforce-NumberOfRecords", 0))
            locator = answer.headers.get("Sforce-Locator")
            if not locator or locator == "null":
                return rows


def phase(pid: int, rows: int, run: Any) -> tuple[Any, dict[str, Any]]:
    t0, cpu0 = time.perf_counter(), server_cpu(pid)
    out = run()
    seconds, cpu = time.perf_counter() - t0, server_cpu(pid) - cpu0
    return out, {"rows": rows, "seconds": round(seconds, 2), "rows_per_s": round(rows / seconds),
                 "server_cpu_s": round(cpu, 2), "server_cpu_ms_per_1k": round(cpu * 1e6 / rows, 1)}


def run(records: int) -> dict[str, Any]:
    accounts = max(1, records // 4)
    with tempfile.TemporaryDirectory(prefix="sandbox-ingest-") as work:
        command = [sys.executable, "-m", "isyncsf_desktop.cli", "sandbox", "serve", "--data-dir",
                   str(Path(work) / "sandbox"), "--org", "bench=empty"]
        proc = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:
                raise SystemExit("the sandbox server did not start")
            org = Org(json.loads(line), "bench")
            account_rows = [[f"Bench Account {n}", f"BA{n}", "Energy", f"555-{n:07d}"] for n in range(accounts)]
            account_ids, account = phase(proc.pid, accounts, lambda: org.insert(
                "Account", ["Name", "External_Id__c", "Industry", "Phone"], account_rows))
            contact_rows = [["Bench", f"Contact {n}", f"contact{n}@bench.example.com", "Buyer", f"555-{n:07d}",
                             account_ids[n % accounts]] for n in range(records)]
            _, contact = phase(proc.pid, records, lambda: org.insert(
                "Contact", ["FirstName", "LastName", "Email", "Title", "Phone", "AccountId"], contact_rows))
            read, query = phase(proc.pid, records, lambda: org.query(
                "SELECT Id, FirstName, LastName, Email, Title, Phone, AccountId FROM Contact"))
            if read != records:
                raise SystemExit(f"the query read {read} rows, not {records}")
            return {"records": records, "account_ingest": account, "contact_ingest": contact,
                    "contact_query": query, "server_peak_mb": server_peak_mb(proc.pid)}
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000,
                        help="Contacts to insert and query (Accounts: a quarter)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    figures = run(args.records)
    if args.json:
        print(json.dumps(figures))
        return
    for name in ("account_ingest", "contact_ingest", "contact_query"):
        f = figures[name]
        print(f"{name:15} {f['rows']:>9,} rows {f['seconds']:>8.2f} s {f['rows_per_s']:>9,} rows/s "
              f"server CPU {f['server_cpu_s']:>7.2f} s ({f['server_cpu_ms_per_1k']} ms per 1,000 rows)")
    print(f"server peak RSS {figures['server_peak_mb']} MB")


if __name__ == "__main__":
    main()
