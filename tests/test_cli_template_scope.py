"""`isyncsf scan/sync --since`: a delta run from a given date, and a related subset in the scan."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli as run


def test_since_scans_only_records_changed_after_it_and_a_bad_date_exits_2(cli_orgs, tmp_path: Path, capsys):
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"name": "delta", "objects": [
        {"object": "Account", "match_by": ["External_Id__c"]},
        {"object": "Contact", "match_by": ["Email"], "related_to": "Account"}]}))
    base = ("scan", "--source", "source", "--target", "target", "--template", str(path), "--json")
    code, out, _ = run(capsys, *base)
    assert code == 0
    full = {o["object"]: o["records"] for o in json.loads(out)["objects"]}
    assert full == {"Account": 320, "Contact": 921}   # 20 person accounts; their person contacts come with them
    code, out, _ = run(capsys, *base, "--since", "2999-01-01")
    assert code == 0
    assert {o["object"]: o["records"] for o in json.loads(out)["objects"]} == {"Account": 0, "Contact": 0}
    code, out, _ = run(capsys, *base, "--since", "2000-01-01T00:00:00Z")
    assert code == 0 and {o["object"]: o["records"] for o in json.loads(out)["objects"]} == full
    code, _, err = run(capsys, *base, "--since", "yesterday")
    assert code == 2 and "--since must be an ISO-8601 date" in err
