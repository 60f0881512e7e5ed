"""A child process for kill trials: the real ``isyncsf`` CLI, with an in-memory keyring.

Usage: ``python kill_child.py ARGS...`` with ``KILL_TRIAL_ORGS`` = JSON {alias: [url, token, ca_file]}.
It registers the orgs (``org add``, or ``org login`` when the alias exists from an earlier child),
prints ``ready``, waits for one line on stdin, then runs ``isyncsf ARGS`` and exits with its code.
The pause lets the test count the org calls of the command alone. ``KILL_TRIAL_PART_RECORDS`` (records per part
and write in flight, ``engine/run/first_pass.PART_RECORDS``) makes the trials' small objects take the path of big
ones: read in pages and synced part by part, a hierarchy spooled to disk.
"""

from __future__ import annotations

import json
import os
import sys

import keyring

from isyncsf_desktop import cli
from isyncsf_desktop.engine.run import first_pass
from isyncsf_desktop.salesforce import secrets
from isyncsf_desktop.salesforce.registry import OrgRegistry


def main() -> int:
    keyring.set_keyring(secrets.MemoryKeyring())   # a test process: never the machine's keyring
    if os.environ.get("KILL_TRIAL_PART_RECORDS"):
        first_pass.PART_RECORDS = int(os.environ["KILL_TRIAL_PART_RECORDS"])
    known = OrgRegistry()
    for alias, (url, token, ca_file) in json.loads(os.environ["KILL_TRIAL_ORGS"]).items():
        verb = ["org", "login", alias] if alias in known else ["org", "add", alias, "--instance-url", url]
        code = cli.main([*verb, "--access-token", token, "--ca-file", ca_file])
        if code:
            return code
    print("ready", flush=True)
    sys.stdin.readline()
    return cli.main(sys.argv[1:])


if __name__ == "__main__":
    sys.exit(main())
