"""`isyncsf preview` gives the sync's estimated time and each org's share of the daily API requests it has left
(issue 24), in its text and its JSON, with a warning when the run would reach the API ceiling; against the
sandbox demo orgs."""

from __future__ import annotations

import json
from pathlib import Path

from helpers import run_cli as run

from isyncsf_desktop.cli_common import journal as cli_journal
from isyncsf_desktop.engine.estimate import range_text

TEMPLATE = {"name": "CLI estimate", "options": {"continue_on_error": True},
            "objects": [{"object": "Account", "match_by": ["External_Id__c"]},
                        {"object": "Contact", "match_by": ["Email"], "filter": "Phone != null"}]}
ORGS = ["--source", "source", "--target", "target"]


def test_the_preview_prints_its_estimate_and_each_orgs_share(cli_orgs, template_file: Path, capsys):
    template = template_file
    code, out, err = run(capsys, "preview", *ORGS, "--template", str(template), "--json")
    assert code == 0, err
    data = json.loads(out)
    est = data["estimate"]
    assert est["basis"] == "sandbox default" and est["low"] <= est["seconds"] <= est["high"]
    for side in ("source", "target"):
        share = data["api_share"][side]
        assert share["calls"] == data["api_calls"][side]["total"] and share["max"] == 15000
        assert share["percent"] == round(100 * share["calls"] / share["remaining"], 1)
        assert "warning" not in share

    code, out, err = run(capsys, "preview", *ORGS, "--template", str(template))
    assert code == 0, err
    assert "estimated time of the sync: about " in out and "no earlier run to this org" in out
    lines = [line.strip() for line in out.splitlines()]
    target = next(line for line in lines if line.startswith("target: "))
    assert "daily API requests it has left" in target and "of 15,000 used" in target
    assert "warning:" not in out
    # the text is the estimate the journal keeps in the preview's header, worded as the dialog words it
    journal = cli_journal()
    try:
        kept = journal.preview(int(out.split()[1].rstrip(":"))).header
    finally:
        journal.close()
    assert f"estimated time of the sync: {range_text(kept['estimate'])}" in out
    assert kept["api_share"]["target"]["calls"] == data["api_calls"]["target"]["total"]

    # the target nearly out of requests: the run would pause at the ceiling, and the preview says so
    used = cli_orgs.store("target").api_used
    cli_orgs.faults("target").update(api_budget=used + data["preview_calls"]["target"] + 5)
    code, out, err = run(capsys, "preview", *ORGS, "--template", str(template))
    assert code == 0, err
    assert "warning: the run would pause at the API ceiling" in out and "target org target" in out
