"""`isyncsf` end to end against sandbox orgs: org add/list, sync, jobs, errors, retry, resync, rollback."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from helpers import run_cli as run

from isyncsf_desktop import paths

TEMPLATE = {
    "name": "CLI demo",
    "options": {"continue_on_error": True, "versioning": True},
    "objects": [{"object": "Account", "match_by": ["External_Id__c"]}, {"object": "Contact", "match_by": ["Email"]}],
}



def test_org_add_and_list_keep_tokens_out_of_files(cli_orgs, capsys):
    code, out, _ = run(capsys, "org", "list", "--json")
    listed = {o["alias"]: o for o in json.loads(out)}
    assert code == 0 and set(listed) == {"source", "target"}
    assert listed["source"]["org_type"] == "Local sandbox"
    assert listed["source"]["org_id"] == cli_orgs.store("source").org_id
    assert listed["target"]["username"].startswith("integration@acme.demo.uat.")    # + the org's own suffix
    for path in paths.config_dir().rglob("*"):
        if path.is_file():
            text = path.read_text(errors="replace")
            assert cli_orgs.token("source") not in text and cli_orgs.token("target") not in text


def test_sync_jobs_errors_retry_resync_rollback(cli_orgs, template_file, tmp_path, capsys):
    code, out, _ = run(capsys, "sync", "--source", "source", "--target", "target", "--template", str(template_file),
                       "--json")
    assert code == 0
    result = json.loads(out)
    assert result["state"] == "Synced" and [o["object"] for o in result["objects"]] == ["Account", "Contact"]
    totals = result["totals"]
    assert set(totals) == {"inserted", "updated", "existing", "errors"}
    assert totals["inserted"] > 0 and totals["updated"] > 0 and totals["existing"] > 0
    assert totals["errors"] == 46  # the demo target's Contact phone rule
    job_id = result["job_id"]

    code, out, _ = run(capsys, "jobs", "--json")
    jobs = json.loads(out)
    assert code == 0 and jobs[0]["job_id"] == job_id and jobs[0]["state"] == "Synced"
    assert set(jobs[0]) >= {"job_id", "state", "created", "source", "target", "template"}

    csv_path = tmp_path / "errors.csv"
    code, out, _ = run(capsys, "errors", str(job_id), "--csv", str(csv_path), "--object", "Contact")
    assert code == 0 and "46 error row(s)" in out
    frame = pd.read_csv(csv_path, encoding="utf-8-sig")
    assert len(frame) == 46 and set(frame["Status Code"]) == {"FIELD_CUSTOM_VALIDATION_EXCEPTION"}

    code, out, _ = run(capsys, "retry", str(job_id), "--json")
    retried = json.loads(out)
    assert code == 0 and retried["totals"]["errors"] == 46 and retried["totals"]["inserted"] == 0

    code, out, _ = run(capsys, "resync", str(job_id), "--json")
    resynced = json.loads(out)
    assert code == 0 and resynced["totals"]["inserted"] == 0 and resynced["totals"]["errors"] == 46

    code, out, _ = run(capsys, "rollback", str(job_id), "--json")
    rolled = json.loads(out)
    assert code == 0 and rolled["state"] == "Rollback Completed"
    assert rolled["totals"]["deleted"] == totals["inserted"]
    assert rolled["totals"]["restored"] == totals["updated"]


def test_scan_shows_the_records_in_scope_and_the_order(cli_orgs, template_file, capsys):
    code, out, _ = run(capsys, "scan", "--source", "source", "--target", "target", "--template", str(template_file),
                       "--json")
    scanned = json.loads(out)
    assert code == 0 and scanned["state"] == "Scanned" and scanned["order"] == ["Account", "Contact"]
    # 300 business and 20 person accounts; the person contacts come with their accounts, not as Contacts
    assert scanned["objects"] == [{"object": "Account", "records": 320}, {"object": "Contact", "records": 921}]
    code, out, _ = run(capsys, "scan", "--source", "source", "--target", "target", "--template", str(template_file))
    assert code == 0 and "migration order: Account -> Contact" in out and "1241" in out.replace(",", "")


@pytest.mark.parametrize(("argv", "message"), [
    (["sync", "--source", "source", "--target", "target", "--template", "missing.json"], "template file not found"),
    (["sync", "--source", "nope", "--target", "target", "--template", "{template}"], "no org named 'nope'"),
    (["rollback", "999"], "no job 999"),
    (["errors", "999", "--csv", "x.csv"], "no job 999"),
    (["jobs-then-errors-unknown-object"], "has no object 'Nope'"),
])
def test_bad_input_exits_2_with_a_clear_message(cli_orgs, template_file, capsys, argv, message):
    argv = [a.replace("{template}", str(template_file)) for a in argv]
    if argv == ["jobs-then-errors-unknown-object"]:
        assert run(capsys, "scan", "--source", "source", "--target", "target", "--template", str(template_file))[0] == 0
        argv = ["errors", "1", "--csv", "x.csv", "--object", "Nope"]
    code, _, err = run(capsys, *argv)
    assert code == 2 and message in err


def test_bad_template_exits_2(cli_orgs, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"name": "x", "objects": [{"object": "Account", "fields": ["Nope__c"]}]}))
    # a sync runs the metadata check first (as the Execute tab does): the missing field blocks it, no job is made
    code, _, err = run(capsys, "sync", "--source", "source", "--target", "target", "--template", str(bad))
    assert code == 2 and "Nope__c" in err and "blocking finding" in err and "--override-preflight" in err
    assert _journal_jobs() == []
    # past the check (overridden), and for a scan (no check), the plan refuses the template
    for argv in (("sync", "--override-preflight"), ("scan",)):
        code, _, err = run(capsys, *argv, "--source", "source", "--target", "target", "--template", str(bad))
        assert code == 2 and "Nope__c is not a field of Account" in err


def _journal_jobs() -> list:
    from isyncsf_desktop.engine.journal import Journal

    with Journal(paths.journal_path()) as journal:
        return journal.jobs()


@pytest.mark.expect_log
def test_a_failed_job_exits_1(cli_orgs, template_file, capsys):
    cli_orgs.faults("target").update(http_503=1000)
    code, out, _ = run(capsys, "scan", "--source", "source", "--target", "target", "--template", str(template_file),
                       "--json")
    result = json.loads(out)
    assert code == 1 and result["status"] == "Failed" and "SERVER_UNAVAILABLE" in result["message"]
    # a sync checks the metadata first: an org that cannot answer fails the check, before any job is made
    code, out, err = run(capsys, "sync", "--source", "source", "--target", "target", "--template",
                         str(template_file), "--json")
    assert code == 1 and out == "" and "the metadata check could not read the orgs" in err
    assert "SERVER_UNAVAILABLE" in err and len(_journal_jobs()) == 1     # the scan's job only


def test_a_refused_run_says_the_engines_sentence(sandbox_factory, tmp_path, capsys):
    """Retry of a job with no failed record: the CLI, the engine and the lifecycle say the same words."""
    from helpers import org_client, org_ref

    from isyncsf_desktop.engine.journal import Journal
    from isyncsf_desktop.engine.lifecycle import Action, refusal
    from isyncsf_desktop.engine.runner import EngineError, SyncEngine

    server = sandbox_factory({"source": "empty", "target": "empty"})
    for alias in ("source", "target"):
        assert run(capsys, "org", "add", alias, "--instance-url", server.instance_url, "--access-token",
                   server.token(alias), "--ca-file", str(server.ca_file))[0] == 0
    org_client(server, "source").create([{"attributes": {"type": "Account"}, "Name": f"A{i}",
                                          "External_Id__c": f"E{i}"} for i in range(2)])
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"name": "x", "objects": [{"object": "Account",
                                                          "fields": ["Name", "External_Id__c"]}]}))
    code, out, _ = run(capsys, "sync", "--source", "source", "--target", "target", "--template", str(path), "--json")
    job_id = json.loads(out)["job_id"]
    assert code == 0 and json.loads(out)["totals"]["errors"] == 0
    code, _, err = run(capsys, "retry", str(job_id))
    with Journal(paths.journal_path()) as journal:
        sentence = refusal(Action.RETRY, journal.job_facts(job_id))
        engine = SyncEngine(journal, org_client(server, "source"), org_client(server, "target"),
                            org_ref(server, "source"), org_ref(server, "target"))
        with pytest.raises(EngineError) as refused:
            engine.retry(job_id)
    assert sentence == f"Job {job_id} has no failed records to retry"
    assert code == 2 and err == f"error: {sentence}\n" and str(refused.value) == sentence


def test_org_add_without_a_keyring_is_a_clear_error_and_writes_nothing(sandbox_factory, tmp_path):
    import os
    import subprocess
    import sys

    server = sandbox_factory({"qa": "empty"})
    env = {**os.environ, "ISYNCSF_HOME": str(tmp_path / "home"), "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring"}
    done = subprocess.run([sys.executable, "-m", "isyncsf_desktop.cli", "org", "add", "qa", "--instance-url",
                           server.instance_url, "--access-token", server.token("qa"), "--ca-file", str(server.ca_file)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 1
    assert "no usable keyring" in done.stderr and "PYTHON_KEYRING_BACKEND" in done.stderr
    assert server.token("qa") not in done.stderr + done.stdout
    for path in (tmp_path / "home").rglob("*"):
        if path.is_file():
            assert server.token("qa") not in path.read_text(errors="replace")


def test_sync_is_blocked_by_a_blocking_metadata_finding_unless_overridden(sandbox_factory, tmp_path, capsys):
    from isyncsf_desktop.sandbox.seeds import build_seed

    locked = build_seed("empty")
    locked.schema_document["objects"]["Project__c"].update(createable=False, updateable=False)
    server = sandbox_factory({"source": "demo-source", "target": locked})
    for alias in ("source", "target"):
        assert run(capsys, "org", "add", alias, "--instance-url", server.instance_url, "--access-token",
                   server.token(alias), "--ca-file", str(server.ca_file))[0] == 0
    path = tmp_path / "t.json"
    path.write_text(json.dumps({"name": "x", "objects": [{"object": "Project__c"}]}))
    code, _, err = run(capsys, "sync", "--source", "source", "--target", "target", "--template", str(path))
    assert code == 2 and "Project__c" in err and "--override-preflight" in err
    code, out, err = run(capsys, "sync", "--source", "source", "--target", "target", "--template", str(path),
                         "--override-preflight", "--json")
    assert code == 0 and "starting despite a blocking finding" in err
    assert json.loads(out)["totals"]["errors"] == 80   # the org refuses every insert, as the check said


def client_rows(server, alias: str, soql: str) -> list:
    from helpers import client_for

    return client_for(server, alias).query(soql)["records"]


@pytest.mark.expect_log
def test_a_damaged_journal_is_one_sentence_in_every_command_and_can_be_moved_aside(tmp_path, capsys):
    from isyncsf_desktop import paths
    from isyncsf_desktop.cli import main as cli_main

    journal = paths.journal_path()
    journal.parent.mkdir(parents=True, exist_ok=True)
    journal.write_text("not a journal\n")
    for argv in (["jobs"], ["rollback", "1"], ["errors", "1", "--csv", str(tmp_path / "e.csv")]):
        assert cli_main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith(f"error: the job journal {journal} cannot be read: it is not an SQLite database")
        assert "Traceback" not in err and "DatabaseError" not in err and err.count("\n") == 1
    assert journal.read_text() == "not a journal\n"
    assert cli_main(["journal", "move-aside"]) == 0
    out = capsys.readouterr().out
    assert "moved to" in out and not journal.exists()
    moved = next(journal.parent.glob(f"{journal.name}.damaged-*"))
    assert moved.read_text() == "not a journal\n"
    assert cli_main(["jobs"]) == 0 and "no jobs yet" in capsys.readouterr().out
    assert cli_main(["journal", "move-aside"]) == 2
    assert "is readable; it was not moved" in capsys.readouterr().err


def test_the_access_token_can_stay_off_the_command_line(sandbox_factory, capsys, monkeypatch):
    """From $ISYNCSF_ACCESS_TOKEN, or piped on standard input: no note. On the command line: a note why not."""
    import io

    server = sandbox_factory({"source": "empty", "target": "empty"})
    monkeypatch.setenv("ISYNCSF_ACCESS_TOKEN", server.token("source"))
    code, out, err = run(capsys, "org", "add", "from-env", "--instance-url", server.instance_url,
                         "--ca-file", str(server.ca_file))
    assert code == 0 and "added org from-env" in out and err == ""
    monkeypatch.delenv("ISYNCSF_ACCESS_TOKEN")
    monkeypatch.setattr("sys.stdin", io.StringIO(server.token("target") + "\n"))
    code, out, err = run(capsys, "org", "add", "from-stdin", "--instance-url", server.instance_url,
                         "--ca-file", str(server.ca_file))
    assert code == 0 and "added org from-stdin" in out and err == ""
    monkeypatch.setattr("sys.stdin", io.StringIO(server.token("target") + "\n"))
    assert run(capsys, "org", "login", "from-stdin")[0] == 0
    monkeypatch.setattr("sys.stdin", io.StringIO(""))
    code, _, err = run(capsys, "org", "login", "from-stdin")
    assert code == 2 and "no access token: pipe it on standard input" in err
    code, _, err = run(capsys, "org", "add", "on-the-line", "--instance-url", server.instance_url,
                       "--access-token", server.token("source"), "--ca-file", str(server.ca_file))
    assert code == 0 and "visible to other users in the process list" in err
    assert server.token("source") not in err


def test_a_sync_that_fails_prints_its_sentence_without_a_traceback(sandbox_factory, template_file, tmp_path):
    """A sync that fails (the org's answer to a create is an error the engine cannot place): the command
    prints the job's sentence, and the engine's log line without its Python traceback (``-v`` shows it)."""
    import os
    import subprocess
    import sys

    server = sandbox_factory({"source": "demo-source", "target": "demo-target"})
    child = f"""
import sys, keyring
from isyncsf_desktop.salesforce.secrets import MemoryKeyring
from isyncsf_desktop.cli import main
keyring.set_keyring(MemoryKeyring())
for alias, token in (("source", {server.token("source")!r}), ("target", {server.token("target")!r})):
    assert main([*sys.argv[1:], "org", "add", alias, "--instance-url", {server.instance_url!r}, "--access-token", token,
                 "--ca-file", {str(server.ca_file)!r}]) == 0
from isyncsf_desktop.salesforce.client import OrgClient
def refuse(self, records):
    raise RuntimeError("the org answered something the engine cannot place.")
OrgClient.create = refuse
sys.exit(main([*sys.argv[1:], "sync", "--source", "source", "--target", "target", "--template",
               {str(template_file)!r}, "--override-preflight"]))
"""
    env = {**os.environ, "ISYNCSF_HOME": str(tmp_path / "home")}
    quiet = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, env=env, timeout=600)
    assert quiet.returncode == 1, quiet.stderr[-3000:]
    assert "the sync failed: the org answered something the engine cannot place. Nothing is lost" in quiet.stdout
    assert "ERROR isyncsf_desktop.engine.run.engine: sync of job" in quiet.stderr
    assert "Traceback" not in quiet.stderr + quiet.stdout
    verbose = subprocess.run([sys.executable, "-c", child, "-v"], capture_output=True, text=True,
                             env={**env, "ISYNCSF_HOME": str(tmp_path / "home2")}, timeout=600)
    assert "Traceback" in verbose.stderr
