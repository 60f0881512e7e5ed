"""Importing orgs from the Salesforce CLI, with a fake ``sf`` script that prints canned JSON."""

from __future__ import annotations

import json
import os
import stat
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from isyncsf_desktop.salesforce import sfcli
from isyncsf_desktop.salesforce.registry import OrgRegistry
from isyncsf_desktop.salesforce.sfcli import CliOrg, SfCliError, SfCliNotFound

ORG_LIST: dict[str, Any] = {"status": 0, "result": {
    "other": [{"username": "admin@acme.com", "alias": "acme-prod", "orgId": "00D000000000001AAA",
               "instanceUrl": "https://acme.my.salesforce.com", "loginUrl": "https://login.salesforce.com",
               "connectedStatus": "Connected", "isDefaultUsername": True, "isSandbox": False}],
    "sandboxes": [{"username": "admin@acme.com.uat", "alias": "uat", "orgId": "00D000000000002AAA",
                   "instanceUrl": "https://acme--uat.sandbox.my.salesforce.com", "connectedStatus": "Connected",
                   "isSandbox": True}],
    "nonScratchOrgs": [{"username": "admin@acme.com", "alias": "acme-prod", "orgId": "00D000000000001AAA",
                        "instanceUrl": "https://acme.my.salesforce.com", "connectedStatus": "Connected"},
                       {"username": "admin@acme.com.uat", "orgId": "00D000000000002AAA",
                        "instanceUrl": "https://acme--uat.sandbox.my.salesforce.com", "connectedStatus": "Connected"},
                       {"username": "hub@acme.com", "orgId": "00D000000000003AAA", "isDevHub": True,
                        "instanceUrl": "https://acme-hub.my.salesforce.com",
                        "connectedStatus": "RefreshTokenAuthError"}],
    "devHubs": [],
    "scratchOrgs": [{"username": "test-abc@example.com", "alias": "so1", "orgId": "00D000000000004AAA",
                     "instanceUrl": "https://fun-1234.scratch.my.salesforce.com", "status": "Active",
                     "isExpired": False, "isScratch": True},
                    {"username": "test-old@example.com", "orgId": "00D000000000005AAA",
                     "instanceUrl": "https://old-1.scratch.my.salesforce.com", "status": "Active",
                     "isExpired": True, "isScratch": True}],
}, "warnings": []}

MISSING_COMMAND = {"stdout": "", "stderr": " ›   Warning: org auth show-access-token is not a sf command.\n", "code": 127}


def fake_sf(tmp_path: Path, responses: dict[str, dict[str, Any]]) -> tuple[Path, Path]:
    """Write an executable ``sf`` that answers ``responses[<command words>]`` and logs its argv.

    Each response is ``{"json": ..., "stdout": ..., "stderr": ..., "code": ...}``; the key is the
    command without flags, like ``"org list"``. Returns (script, responses file).
    """
    folder = tmp_path / "fake-sf"
    folder.mkdir(exist_ok=True)
    answers = folder / "responses.json"
    answers.write_text(json.dumps(responses), encoding="utf-8")
    calls = folder / "calls.jsonl"
    script = folder / "sf"
    script.write_text(textwrap.dedent(f"""\
        #!{sys.executable}
        import json, sys, time
        args = sys.argv[1:]
        with open({str(calls)!r}, "a", encoding="utf-8") as log:
            log.write(json.dumps(args) + "\\n")
        words = " ".join(a for a in args if not a.startswith("-") and a not in ({"--target-org"!r},))
        with open({str(answers)!r}, encoding="utf-8") as handle:
            responses = json.load(handle)
        key = next((k for k in responses if words.startswith(k)), None)
        if key is None:
            print(json.dumps({{"status": 1, "name": "Unknown", "message": "unexpected: " + words}}))
            sys.exit(1)
        answer = responses[key]
        time.sleep(answer.get("delay", 0))
        if "json" in answer:
            sys.stdout.write(json.dumps(answer["json"]))
        sys.stdout.write(answer.get("stdout", ""))
        sys.stderr.write(answer.get("stderr", ""))
        sys.exit(answer.get("code", 0))
        """), encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return script, answers


def calls_of(script: Path) -> list[list[str]]:
    log = script.parent / "calls.jsonl"
    if not log.exists():
        return []
    return [json.loads(line) for line in log.read_text(encoding="utf-8").splitlines()]


def token_answer(token: str, url: str | None = "https://acme.my.salesforce.com") -> dict[str, Any]:
    result: dict[str, Any] = {"accessToken": token, "username": "admin@acme.com"}
    if url:
        result["instanceUrl"] = url
    return {"json": {"status": 0, "result": result}}


# ====================================================================== listing
def test_org_list_is_parsed_into_candidates(tmp_path: Path) -> None:
    script, _ = fake_sf(tmp_path, {"org list": {"json": ORG_LIST}})
    orgs = sfcli.list_orgs(executable=str(script))
    by_user = {org.username: org for org in orgs}
    assert list(by_user) == ["test-abc@example.com", "test-old@example.com", "admin@acme.com.uat",
                             "admin@acme.com", "hub@acme.com"]            # each user once
    prod = by_user["admin@acme.com"]
    assert (prod.alias, prod.kind, prod.status, prod.is_default) == ("acme-prod", "Production", "Connected", True)
    assert prod.instance_url == "https://acme.my.salesforce.com" and prod.login_url == "https://login.salesforce.com"
    assert by_user["admin@acme.com.uat"].kind == "Sandbox"
    assert by_user["admin@acme.com.uat"].alias == "uat"
    assert by_user["test-abc@example.com"].kind == "Scratch" and by_user["test-abc@example.com"].usable
    assert by_user["test-old@example.com"].status == "Expired" and not by_user["test-old@example.com"].usable
    assert by_user["hub@acme.com"].kind == "Dev Hub" and not by_user["hub@acme.com"].usable
    assert calls_of(script) == [["org", "list", "--json"]]


def test_suggested_aliases_are_valid() -> None:
    org = CliOrg(username="jane.doe+x@acme.com", alias=None, org_id="", instance_url="", kind="Production",
                 status="Connected")
    assert org.suggested_alias() == "jane.doe-x"
    assert CliOrg("u@x.com", "My Org!", "", "", "Sandbox", "Connected").suggested_alias() == "My-Org"


def test_empty_list_and_unexpected_answers(tmp_path: Path) -> None:
    script, answers = fake_sf(tmp_path, {"org list": {"json": {"status": 0, "result": {"nonScratchOrgs": [],
                                                                                        "scratchOrgs": []}}}})
    assert sfcli.list_orgs(executable=str(script)) == []
    answers.write_text(json.dumps({"org list": {"stdout": "this is not json"}}), encoding="utf-8")
    with pytest.raises(SfCliError, match="sf org list answered something that is not JSON: this is not json"):
        sfcli.list_orgs(executable=str(script))
    answers.write_text(json.dumps({"org list": {"json": {"status": 0, "result": []}}}), encoding="utf-8")
    with pytest.raises(SfCliError, match="unexpected"):
        sfcli.list_orgs(executable=str(script))


def test_a_warning_before_the_json_is_tolerated(tmp_path: Path) -> None:
    script, _ = fake_sf(tmp_path, {"org list": {"stdout": "Warning: update available\n" + json.dumps(ORG_LIST)}})
    assert len(sfcli.list_orgs(executable=str(script))) == 5


# ====================================================================== sf missing, failing, slow
def test_sf_not_installed_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(SfCliNotFound, match=r"the Salesforce CLI \(sf\) is not installed or not on PATH; install"):
        sfcli.list_orgs()
    with pytest.raises(SfCliNotFound, match="was not found at"):
        sfcli.list_orgs(executable=str(tmp_path / "nowhere" / "sf"))


def test_the_executable_can_come_from_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script, _ = fake_sf(tmp_path, {"org list": {"json": ORG_LIST}})
    monkeypatch.setenv(sfcli.EXECUTABLE_ENV, str(script))
    assert sfcli.default_executable() == str(script)
    assert len(sfcli.list_orgs()) == 5


def test_sf_on_path_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    script, _ = fake_sf(tmp_path, {"org list": {"json": ORG_LIST}})
    monkeypatch.setenv("PATH", f"{script.parent}{os.pathsep}{os.environ.get('PATH', '')}")
    monkeypatch.delenv(sfcli.EXECUTABLE_ENV, raising=False)
    assert len(sfcli.list_orgs()) == 5


def test_a_failing_command_reports_the_cli_message(tmp_path: Path) -> None:
    script, _ = fake_sf(tmp_path, {"org auth show-access-token": {"json": {
        "status": 1, "name": "NamedOrgNotFoundError",
        "message": "No authorization information found for nobody@acme.com."}, "code": 1}})
    with pytest.raises(SfCliError, match="No authorization information found for nobody@acme.com") as caught:
        sfcli.access_token("nobody@acme.com", executable=str(script))
    assert not isinstance(caught.value, SfCliNotFound)
    assert [c[:3] for c in calls_of(script)] == [["org", "auth", "show-access-token"]]   # no fallback


def test_a_slow_cli_times_out(tmp_path: Path) -> None:
    script, _ = fake_sf(tmp_path, {"org list": {"json": ORG_LIST, "delay": 30}})
    with pytest.raises(SfCliError, match="did not answer within 0.3 seconds"):
        sfcli.list_orgs(executable=str(script), timeout=0.3)


def test_tokens_never_reach_error_texts(tmp_path: Path) -> None:
    leaked = "00D000000000001!AQ4AQFakeTokenValue.abc"
    script, _ = fake_sf(tmp_path, {"org auth show-access-token": {"json": {
        "status": 1, "message": f"session {leaked} is invalid"}, "code": 1}})
    with pytest.raises(SfCliError) as caught:
        sfcli.access_token("x", executable=str(script))
    assert leaked not in str(caught.value) and "***" in str(caught.value)


# ====================================================================== tokens
def test_access_token_uses_show_access_token(tmp_path: Path) -> None:
    script, _ = fake_sf(tmp_path, {"org auth show-access-token": token_answer("00Dx!token-one")})
    assert sfcli.access_token("admin@acme.com", executable=str(script)) == ("00Dx!token-one",
                                                                           "https://acme.my.salesforce.com")
    assert calls_of(script) == [["org", "auth", "show-access-token", "--target-org", "admin@acme.com", "--json"]]


def test_older_cli_falls_back_to_org_display(tmp_path: Path) -> None:
    script, _ = fake_sf(tmp_path, {"org auth show-access-token": MISSING_COMMAND,
                                   "org display": token_answer("00Dx!from-display")})
    assert sfcli.access_token("admin@acme.com", executable=str(script))[0] == "00Dx!from-display"
    assert [c[:2] for c in calls_of(script)] == [["org", "auth"], ["org", "display"]]


def test_a_redacted_token_is_a_clear_error(tmp_path: Path) -> None:
    script, _ = fake_sf(tmp_path, {"org auth show-access-token": MISSING_COMMAND,
                                   "org display": token_answer("[REDACTED] Use 'sf org auth show-access-token'")})
    with pytest.raises(SfCliError, match="hides the access token"):
        sfcli.access_token("admin@acme.com", executable=str(script))


# ====================================================================== import against a sandbox org
def test_import_registers_the_org_and_refreshes_through_the_cli(sandbox_factory: Any, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    server = sandbox_factory({"qa": "empty"})
    store = server.store("qa")
    username = store.get("User", store.api_user_id)["Username"]
    first = store.issue_token("access")
    script, answers = fake_sf(tmp_path, {
        "org list": {"json": {"status": 0, "result": {"other": [{
            "username": username, "alias": "qa-cli", "orgId": store.org_id, "instanceUrl": server.instance_url,
            "connectedStatus": "Connected"}]}}},
        "org auth show-access-token": token_answer(first, server.instance_url)})
    registry = OrgRegistry()
    [candidate] = sfcli.list_orgs(executable=str(script))
    entry = sfcli.import_org(registry, candidate, candidate.suggested_alias(), executable=str(script),
                             ca_file=server.ca_file)
    assert (entry.alias, entry.auth, entry.username, entry.org_id) == ("qa-cli", "sfcli", username, store.org_id)
    assert registry.access_token("qa-cli") == first
    assert first not in registry.path.read_text(encoding="utf-8")

    # The token expires; the registry asks the CLI (found through ISYNCSF_SF_CLI) for a new one.
    second = store.issue_token("access")
    answers.write_text(json.dumps({"org auth show-access-token": token_answer(second, server.instance_url)}),
                       encoding="utf-8")
    monkeypatch.setenv(sfcli.EXECUTABLE_ENV, str(script))
    client = registry.client("qa-cli", backoff=0)
    store.expire_token(first)
    assert client.count("Account") == 0
    assert registry.access_token("qa-cli") == second
    assert calls_of(script)[-1] == ["org", "auth", "show-access-token", "--target-org", username, "--json"]


def test_import_refuses_an_org_the_cli_reports_expired(tmp_path: Path) -> None:
    script, _ = fake_sf(tmp_path, {"org list": {"json": ORG_LIST}})
    expired = next(o for o in sfcli.list_orgs(executable=str(script)) if o.status == "Expired")
    with pytest.raises(SfCliError, match="reports test-old@example.com as Expired"):
        sfcli.import_org(OrgRegistry(), expired, "old", executable=str(script))


def test_import_with_a_refused_token_registers_nothing(sandbox_factory: Any, tmp_path: Path) -> None:
    server = sandbox_factory({"qa": "empty"})
    script, _ = fake_sf(tmp_path, {"org auth show-access-token": token_answer("00Dbogus!nope",
                                                                             server.instance_url)})
    registry = OrgRegistry()
    with pytest.raises(SfCliError, match="refused the access token"):
        sfcli.import_org(registry, "someone@qa.demo", "qa", executable=str(script), ca_file=server.ca_file)
    assert registry.list() == []
