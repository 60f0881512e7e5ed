"""`isyncsf` when things go wrong: a URL that is not Salesforce, a missing CA file, a revoked token
fixed with `org login` and the job resumed, `org remove`, a paused run, a busy target."""

from __future__ import annotations

import http.server
import json
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path

import keyring
import pytest
import related_data as data
import trustme
from helpers import add_cli_orgs, org_client
from helpers import run_cli as run

from isyncsf_desktop.cli import EXIT_BAD_INPUT, EXIT_BUSY, EXIT_OK, EXIT_PAUSED
from isyncsf_desktop.engine.lock import TargetLock
from isyncsf_desktop.salesforce.secrets import SERVICE_NAME


@pytest.fixture
def related(sandbox_factory, tmp_path, capsys):
    server = sandbox_factory({"src": "empty", "tgt": "empty"})
    data.seed(org_client(server, "src"), org_client(server, "tgt"), 20)
    add_cli_orgs(capsys, server, ("src", "tgt"))
    path = tmp_path / "related.json"
    path.write_text(json.dumps(data.template(batch_size=10)))
    return server, str(path)


@pytest.fixture
def not_salesforce(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on loopback that answers every request with an HTML page."""
    ca = trustme.CA()
    ca_file = tmp_path / "other-ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))

    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the base class's name
            body = b"<html><body>Welcome to nginx!</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"https://127.0.0.1:{server.server_address[1]}", ca_file
    server.shutdown()
    server.server_close()


def test_org_add_of_a_site_that_is_not_salesforce_is_a_clear_error(not_salesforce, capsys):
    url, ca_file = not_salesforce
    code, out, err = run(capsys, "org", "add", "web", "--instance-url", url, "--access-token", "x",
                         "--ca-file", str(ca_file))
    assert code == EXIT_BAD_INPUT and "does not answer like a Salesforce org" in err and "Traceback" not in err
    assert run(capsys, "org", "list", "--json")[1].strip() == "[]"


def test_org_add_with_a_missing_ca_file_is_a_clear_error(sandbox_factory, tmp_path, capsys):
    server = sandbox_factory({"qa": "empty"})
    code, _, err = run(capsys, "org", "add", "qa", "--instance-url", server.instance_url, "--access-token",
                       server.token("qa"), "--ca-file", str(tmp_path / "nope.pem"))
    assert code == EXIT_BAD_INPUT and "nope.pem does not exist" in err


def test_org_remove_forgets_the_org_and_its_token(sandbox_factory, capsys):
    server = sandbox_factory({"qa": "empty"})
    add_cli_orgs(capsys, server, ("qa",))
    key = f"{server.store('qa').org_id}/{server.store('qa').get('User', server.store('qa').api_user_id)['Username']}"
    assert keyring.get_password(SERVICE_NAME, f"{key}:access_token") == server.token("qa")
    code, out, _ = run(capsys, "org", "remove", "qa")
    assert code == EXIT_OK and "removed org qa" in out
    assert json.loads(run(capsys, "org", "list", "--json")[1]) == []
    assert keyring.get_password(SERVICE_NAME, f"{key}:access_token") is None
    code, _, err = run(capsys, "org", "remove", "qa")
    assert code == EXIT_BAD_INPUT and "qa" in err


@pytest.mark.expect_log
def test_a_revoked_token_is_fixed_with_org_login_and_the_job_resumed(related, capsys):
    server, template = related
    store = server.store("tgt")
    seen = []

    def revoke_after_a_few_writes(when: str, method: str, path: str) -> None:
        if when == "after" and method == "POST" and "composite/sobjects" in path:
            seen.append(path)
            if len(seen) == 3:
                store.revoke_token(server.token("tgt"))

    server.faults("tgt").update(observer=revoke_after_a_few_writes)
    code, out, err = run(capsys, "sync", "--source", "src", "--target", "tgt", "--template", template, "--json")
    stopped = json.loads(out)
    assert code == 1 and "isyncsf org login" in stopped["message"] and "isyncsf resync 1" in stopped["message"]
    server.faults("tgt").update(observer=None)
    fresh = store.issue_token()
    code, out, err = run(capsys, "org", "login", "tgt", "--access-token", fresh)
    assert code == EXIT_OK and "logged in to org tgt again" in out
    code, out, err = run(capsys, "resync", "1", "--json")
    assert code == EXIT_OK and json.loads(out)["state"] == "Synced", err
    problems = data.synced_problems(org_client(server, "src"), org_client(server, "tgt"))
    assert problems == {"missing": 0, "duplicated": 0, "fields": 0, "links": 0}


def test_org_login_refuses_a_token_of_another_org(related, capsys):
    server, _ = related
    code, _, err = run(capsys, "org", "login", "tgt", "--access-token", server.token("src"))
    assert code == EXIT_BAD_INPUT and "not for tgt" in err
    code, _, err = run(capsys, "org", "login", "nope", "--access-token", "x")
    assert code == EXIT_BAD_INPUT and "isyncsf org add nope" in err


@pytest.mark.expect_log
def test_a_paused_run_exits_75_and_resync_continues_it(related, capsys):
    server, template = related
    server.faults("tgt").update(api_budget=server.store("tgt").api_used + 12)   # the sync needs ~22
    code, out, err = run(capsys, "sync", "--source", "src", "--target", "tgt", "--template", template, "--json")
    result = json.loads(out)
    assert code == EXIT_PAUSED and result["status"] == "Paused" and "isyncsf resync 1" in result["message"]
    server.faults("tgt").update(api_budget=None)
    code, out, _ = run(capsys, "resync", "1", "--json")
    assert code == EXIT_OK and json.loads(out)["state"] == "Synced"
    assert data.synced_problems(org_client(server, "src"), org_client(server, "tgt"))["missing"] == 0


def test_a_busy_target_exits_4_naming_the_job(related, capsys):
    from isyncsf_desktop import paths

    server, template = related
    with TargetLock(paths.lock_dir(), server.store("tgt").org_id, "tgt", 41, "rollback"):
        code, _, err = run(capsys, "sync", "--source", "src", "--target", "tgt", "--template", template)
    assert code == EXIT_BUSY and "job 41 (rollback" in err
    assert org_client(server, "tgt").count("Contact") == 1      # only the record that was there
