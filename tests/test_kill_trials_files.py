"""Kill trials with files: ``isyncsf sync`` of a line "with their files" SIGKILLed during a download from the
source, during an upload to the target (before the org sees it, and after it committed it: the answer lost),
and between a ContentVersion and its extra ContentDocumentLink; then resumed (``isyncsf resync``: every file
once, on the right records, byte for byte) (then rolled back too) or rolled back (``isyncsf rollback``: no file the job made is left, the file that
was on the target before is kept).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
from pathlib import Path
from typing import Any

import pytest
import related_data as data
from helpers import org_client
from test_kill_trials import BATCH, Trial, _sync_argv

pytestmark = [pytest.mark.slow, pytest.mark.skipif(os.name != "posix", reason="SIGKILL")]

ACCOUNTS = 6
FILES = {  # account index -> (title, bytes); the first document is linked to accounts 0 and 1
    0: ("Contract", b"%PDF contract " * 10),
    2: ("Survey", os.urandom(3 * 1024 * 1024)),       # multipart
    3: ("Photo", b"\x89PNG photo" * 50),
}


class FilesTrial(Trial):
    """A :class:`Trial` that sees the source's calls too (downloads), in one list with the target's."""

    def observe_source(self, when: str, method: str, path: str) -> str | None:
        return self.observe(when, method, "src:" + path)


def _seed_files(server: Any, folder: Path) -> None:
    source, target = org_client(server, "src"), org_client(server, "tgt")
    accounts = {r["External_Id__c"]: r["Id"] for r in source.query("SELECT Id, External_Id__c FROM Account")}
    ids = [accounts[k] for k in sorted(accounts)]
    for index, (title, body) in FILES.items():
        path = folder / f"{title}.bin"
        path.write_bytes(body)
        version = source.upload_content_version({"PathOnClient": f"{title}.pdf", "Title": title,
                                                 "FirstPublishLocationId": ids[index]}, path)
        if index == 0:
            document = source.query(f"SELECT ContentDocumentId FROM ContentVersion WHERE Id = '{version}'")[0]
            source.create([{"attributes": {"type": "ContentDocumentLink"}, "ContentDocumentId":
                            document["ContentDocumentId"], "LinkedEntityId": ids[1], "ShareType": "V",
                            "Visibility": "AllUsers"}])
    note = folder / "mine.txt"
    note.write_bytes(b"on the target before")
    target_account = target.query("SELECT Id FROM Account LIMIT 1")
    if target_account:
        target.upload_content_version({"PathOnClient": "mine.txt", "Title": "Mine",
                                       "FirstPublishLocationId": target_account[0]["Id"]}, note)


def _template(folder: Path) -> str:
    tmpl = data.template(batch_size=BATCH, late_commit_window=0)
    tmpl["objects"][0]["files"] = {"versions": "all"}
    path = folder / "files.json"
    path.write_text(json.dumps(tmpl))
    return str(path)


def _start(sandbox_factory: Any, tmp_path: Path) -> tuple[FilesTrial, dict]:
    server = sandbox_factory({"src": "empty", "tgt": "empty"})
    data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS)
    _seed_files(server, tmp_path)
    trial = FilesTrial(server, tmp_path / "home")
    server.faults("tgt").update(observer=trial.observe)
    server.faults("src").update(observer=trial.observe_source)
    return trial, {"template": _template(tmp_path), "before": _files(org_client(server, "tgt"))}


def _files(client: Any) -> dict[str, list[tuple[str, str]]]:
    """Title -> sorted (External_Id__c of a linked Account, Checksum) of every live ContentVersion."""
    accounts = {r["Id"]: r["External_Id__c"] for r in client.query("SELECT Id, External_Id__c FROM Account")}
    out: dict[str, list[tuple[str, str]]] = {}
    for version in client.query("SELECT Id, Title, Checksum, ContentDocumentId FROM ContentVersion"):
        links = client.query("SELECT LinkedEntityId FROM ContentDocumentLink WHERE ContentDocumentId = "
                             f"'{version['ContentDocumentId']}'")
        for link in links:
            if link["LinkedEntityId"] in accounts:
                out.setdefault(version["Title"], []).append((accounts[link["LinkedEntityId"]], version["Checksum"]))
    return {title: sorted(pairs) for title, pairs in out.items()}


def _expected(before: dict) -> dict[str, list[tuple[str, str]]]:
    source_ids = sorted(data_ids())
    out = dict(before)
    for index, (title, body) in FILES.items():
        checksum = hashlib.md5(body).hexdigest()
        linked = [source_ids[index]] + ([source_ids[1]] if index == 0 else [])
        out[title] = sorted((key, checksum) for key in linked)
    return out


def data_ids() -> list[str]:
    """The External_Id__c values of the seeded Accounts (the same on both orgs)."""
    return [f"A{i}" for i in range(ACCOUNTS)]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """The calls of an uninterrupted sync (source and target in one list)."""
    from isyncsf_desktop.sandbox.server import SandboxServer

    folder = tmp_path_factory.mktemp("kill-files-reference")
    with SandboxServer(folder / "sandbox", {"src": "empty", "tgt": "empty"}) as server:
        data.seed(org_client(server, "src"), org_client(server, "tgt"), ACCOUNTS)
        _seed_files(server, folder)
        trial = FilesTrial(server, folder / "home")
        server.faults("tgt").update(observer=trial.observe)
        server.faults("src").update(observer=trial.observe_source)
        done = trial.run(*_sync_argv({"template": _template(folder)}))
        assert done.returncode == 0, done.stderr
        calls = list(trial.calls)
    return {
        "download": [i for i, (m, p) in enumerate(calls) if p.startswith("src:") and p.endswith("/VersionData")],
        "upload": [i for i, (m, p) in enumerate(calls) if m == "POST" and p.rstrip("/").endswith("sobjects/ContentVersion")],
        "link": [i for i, (m, p) in enumerate(calls) if m == "POST" and "composite/sobjects" in p
                 and i > min(j for j, (mm, pp) in enumerate(calls) if pp.rstrip("/").endswith("sobjects/ContentVersion"))],
    }


POINTS = [("download", 1, "before"), ("download", 1, "after"), ("upload", 0, "before"), ("upload", 0, "after"),
          ("upload", 1, "after"), ("link", 0, "before"), ("link", 0, "after")]


@pytest.mark.parametrize("then", ["resume", "rollback"])
@pytest.mark.parametrize(("where", "k", "mode"), POINTS)
def test_a_files_sync_killed_mid_transfer_resumes_or_rolls_back_exactly(reference, sandbox_factory, tmp_path,
                                                                        where, k, mode, then):
    assert reference["download"] and reference["upload"] and reference["link"], reference
    index = reference[where][min(k, len(reference[where]) - 1)]
    trial, ctx = _start(sandbox_factory, tmp_path)
    killed = trial.run(*_sync_argv(ctx), kill_at=index, mode=mode)
    assert trial.killed and killed.returncode == -signal.SIGKILL, (index, killed.stderr[-2000:])
    target = org_client(trial.server, "tgt")
    if then == "resume":
        done = trial.run("resync", "1", "--json")
        assert done.returncode == 0, done.stderr[-2000:]
        assert json.loads(done.stdout)["state"] == "Synced", done.stdout
        got = _files(target)
        print(json.dumps({"trial": f"{where} {k} {mode} -> resume", "call": index, "files": len(got)}))
        assert got == _expected(ctx["before"])
        # and the resumed job still knows every file it made: its rollback leaves the target as it was
        undone = trial.run("rollback", "1", "--json")
        assert undone.returncode == 0 and json.loads(undone.stdout)["totals"]["errors"] == 0, undone.stdout
        assert _files(target) == ctx["before"]
        return
    done = trial.run("rollback", "1", "--json")
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout)
    assert result["state"] == "Rollback Completed" and result["totals"]["errors"] == 0, result
    print(json.dumps({"trial": f"{where} {k} {mode} -> rollback", "call": index}))
    assert _files(target) == ctx["before"]
    assert target.query("SELECT Id FROM Attachment") == [] and target.query("SELECT Id FROM Note") == []
