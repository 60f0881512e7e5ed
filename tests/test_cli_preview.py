"""`isyncsf preview` end to end against the sandbox demo orgs: counts, per-object CSV files (Excel-safe), the sync
that follows does what the preview said, bad input is one sentence and an exit code."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest
from helpers import run_cli as run


TEMPLATE = {
    "name": "CLI preview",
    "options": {"continue_on_error": True, "versioning": True},
    "objects": [{"object": "Account", "match_by": ["External_Id__c"]},
                {"object": "Contact", "match_by": ["Email"], "filter": "Phone != null"}],
}
ORGS = ["--source", "source", "--target", "target"]



def test_preview_prints_counts_writes_csv_files_and_the_sync_does_what_it_said(cli_orgs, template_file, tmp_path, capsys):
    writes: list[tuple[str, str]] = []
    for alias in ("source", "target"):
        cli_orgs.faults(alias).update(observer=lambda stage, method, path, a=alias: writes.append((a, method))
                                  if stage == "before" and method in ("POST", "PATCH", "PUT", "DELETE") else None)
    out_dir = tmp_path / "preview"
    out_dir.mkdir()
    code, out, err = run(capsys, "preview", *ORGS, "--template", str(template_file), "--json", "--csv", str(out_dir))
    assert code == 0, err
    assert writes == []                                   # nothing written to either org
    data = json.loads(out)
    counts = {r["object"]: r for r in data["objects"]}
    assert set(counts) == {"Account", "Contact"} and data["status"] == "Completed"
    assert data["api_calls"]["target"]["writes"] > 0 and data["api_calls"]["source"]["writes"] == 0
    files = {name: Path(path) for name, path in data["csv"].items()}
    assert files == {name: out_dir / f"preview_{data['preview_id']}_{name}.csv" for name in ("Account", "Contact")}
    raw = files["Contact"].read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and b"\r\n" in raw          # Excel: BOM, CRLF
    with files["Contact"].open(encoding="utf-8-sig", newline="") as stream:
        lines = list(csv.DictReader(stream))
    by_record: dict[str, set[str]] = {}
    for line in lines:
        by_record.setdefault(line["Source Id"], set()).add(line["Action"])
        assert not line["Will Be"].startswith(("=", "+", "-", "@"))    # formula-like text neutralised
    assert len(by_record) == counts["Contact"]["total"]
    assert sum(1 for actions in by_record.values() if actions == {"insert"}) == counts["Contact"]["insert"]
    account_lines = [line for line in lines if line["Field"] == "AccountId" and line["Action"] == "insert"]
    assert account_lines and all(line["Will Be"] for line in account_lines)
    assert any(line["Will Be"].endswith("(new)") for line in account_lines)   # a parent the sync inserts, by name

    code, out, _ = run(capsys, "sync", *ORGS, "--template", str(template_file), "--json")
    assert code == 0
    synced = {r["object"]: r for r in json.loads(out)["objects"]}
    for name, row in counts.items():
        assert (synced[name]["inserted"], synced[name]["updated"], synced[name]["existing"], synced[name]["errors"]) \
            == (row["insert"], row["update"], row["unchanged"], row["skip"])
    code, out, _ = run(capsys, "preview", *ORGS, "--template", str(template_file))
    assert code == 0
    total = next(line for line in out.splitlines() if line.strip().startswith("total")).split()
    assert total[2:] == ["0", "0", str(sum(r["total"] for r in counts.values())), "0"]   # insert update unchanged skip
    assert "nothing was written to either org" in out and "API calls the sync will cost" in out


def test_preview_cell_that_looks_like_a_formula_is_neutralised(cli_orgs, template_file, tmp_path, capsys):
    from isyncsf_desktop.engine.preview_export import preview_lines
    from isyncsf_desktop.engine.journal import PreviewChange, PreviewRecord
    from isyncsf_desktop.engine.export import neutralise_formula

    row = PreviewRecord("Account", "001x", "update", "updated", label="=HYPERLINK(\"x\")",
                        changes=[PreviewChange("Name", "@SUM(A1)", "+1", None, None)])
    line = [neutralise_formula(v) for v in next(preview_lines(row))]
    assert line[1] == "'=HYPERLINK(\"x\")" and line[9] == "'@SUM(A1)" and line[10] == "'+1"


@pytest.mark.parametrize("argv, message", [
    (["--template", "missing.json"], "template file not found"),
    (["--template", "{bad}"], "does not exist in the source org"),
    (["--template", "{template}", "--csv", "{nowhere}"], "the folder"),
])
def test_bad_input_is_one_sentence_and_exit_2(cli_orgs, template_file, tmp_path, capsys, argv, message):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "Bad", "objects": [{"object": "Nope__c"}]}))
    argv = [a.replace("{template}", str(template_file)).replace("{bad}", str(bad))
            .replace("{nowhere}", str(tmp_path / "nowhere")) for a in argv]
    code, out, err = run(capsys, "preview", *ORGS, *argv)
    assert code == 2 and message in err and "Traceback" not in err
    assert err.startswith("error: ") and err.count("\n") == 1


def test_an_unknown_org_is_one_sentence_and_exit_2(cli_orgs, template_file, capsys):
    code, _, err = run(capsys, "preview", "--source", "nope", "--target", "target", "--template", str(template_file))
    assert code == 2 and "no org named 'nope'" in err and "Traceback" not in err


def test_an_org_that_cannot_be_read_is_one_sentence_and_exit_1(cli_orgs, template_file, capsys):
    cli_orgs.faults("target").update(request_limit_exceeded=1000)   # the target refuses every call
    code, _, err = run(capsys, "preview", *ORGS, "--template", str(template_file))
    assert code == 1 and "Traceback" not in err and "could not read the orgs" in err
    assert err.startswith("error: ") and err.count("\n") == 1
