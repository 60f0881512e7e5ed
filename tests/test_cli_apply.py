"""`isyncsf apply PREVIEW_ID` end to end against the sandbox demo orgs: exit 0 applied, 2 refused (one sentence a
reason), 3 records changed since the preview (listed; nothing written) until --leave-out-changed; `isyncsf preview
--only-changed-of` previews just those; `isyncsf previews` lists previews with the job that applied each."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from helpers import run_cli as run

from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop import paths

TEMPLATE = {
    "name": "CLI apply",
    "options": {"continue_on_error": True, "versioning": True},
    "objects": [{"object": "Account", "match_by": ["External_Id__c"]},
                {"object": "Contact", "match_by": ["Email"], "filter": "Phone != null"}],
}
ORGS = ["--source", "source", "--target", "target"]



def _preview(capsys: pytest.CaptureFixture[str], template_file: Path, *extra: str) -> dict:
    code, out, err = run(capsys, "preview", *ORGS, "--template", str(template_file), "--json", *extra)
    assert code == 0, err
    return json.loads(out)


def _writes(server) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    for alias in ("source", "target"):
        server.faults(alias).update(observer=lambda stage, method, path, a=alias: seen.append((a, method))
                                    if stage == "before" and method in ("POST", "PATCH", "PUT", "DELETE") else None)
    return seen


def test_apply_exits_0_with_the_run_and_a_second_apply_is_refused_with_2(cli_orgs, template_file, capsys):
    preview = _preview(capsys, template_file)
    pid = str(preview["preview_id"])
    code, out, err = run(capsys, "apply", pid, "--template", str(template_file), "--json")
    assert code == 0, err
    data = json.loads(out)
    totals = preview["totals"]
    assert data["state"] == "Synced"
    assert (data["totals"]["inserted"], data["totals"]["updated"]) == (totals["insert"], totals["update"])
    assert data["message"].startswith(f"Applied preview #{pid}: {totals['insert']} inserted")
    code, out, err = run(capsys, "apply", pid)
    assert code == 2 and out == ""
    assert err == f"error: Preview #{pid} was applied already, as job #{data['job_id']}: preview again to apply what " \
                  "changed since.\n"
    code, out, _ = run(capsys, "previews", "--json")
    assert code == 0 and json.loads(out)[0]["job_id"] == data["job_id"]
    code, out, _ = run(capsys, "jobs", "--json")
    assert json.loads(out)[0]["preview_id"] == preview["preview_id"]
    # a preview right after the apply: nothing to insert or update
    again = _preview(capsys, template_file)
    assert again["totals"]["insert"] == again["totals"]["update"] == 0


def test_bad_input_is_one_sentence_and_exit_2_never_a_traceback(cli_orgs, template_file, tmp_path, capsys):
    code, out, err = run(capsys, "apply", "4242")
    assert (code, out) == (2, "")
    assert err == "error: There is no preview #4242 in the journal: `isyncsf previews` lists the previews there are.\n"
    preview = _preview(capsys, template_file)
    changed = tmp_path / "changed.json"
    changed.write_text(json.dumps({**TEMPLATE, "options": {"continue_on_error": False}}))
    code, out, err = run(capsys, "apply", str(preview["preview_id"]), "--template", str(changed), "--json")
    assert code == 2
    assert json.loads(out)["refusals"] == [f'The template "CLI apply" was changed after preview #{preview["preview_id"]}: '
                                           "preview again to see what the sync does with it now."]
    assert "Traceback" not in err


def test_records_changed_since_the_preview_exit_3_until_left_out_then_previewed_again(cli_orgs, template_file, capsys):
    preview = _preview(capsys, template_file)
    pid = preview["preview_id"]
    with Journal(paths.journal_path()) as journal:
        update = next(r for r in journal.iter_preview_records(pid, "Contact", ("update",)))
    store = cli_orgs.store("target")
    with store.transaction():      # someone edits the record in the target org after the preview
        store.update("Contact", update.target_id, {"Title": "Edited on the target after the preview"})
    writes = _writes(cli_orgs)
    code, out, err = run(capsys, "apply", str(pid))
    assert code == 3 and writes == []                      # nothing written
    assert f"1 record(s) changed since preview #{pid}:" in out and f"  Contact  {update.label}  (target: " in out
    assert "re-run with --leave-out-changed" in err and f"--only-changed-of {pid}" in err
    code, out, _ = run(capsys, "apply", str(pid), "--json")
    assert code == 3 and [c["source_id"] for c in json.loads(out)["changed"]] == [update.source_id]

    code, out, err = run(capsys, "apply", str(pid), "--leave-out-changed", "--json")
    assert code == 0, err
    data = json.loads(out)
    assert data["message"].endswith("1 changed since the preview left out.")
    assert store.get("Contact", update.target_id)["Title"] == "Edited on the target after the preview"

    again = _preview(capsys, template_file, "--only-changed-of", str(pid))
    assert again["totals"]["total"] == 1 and again["totals"]["update"] == 1
