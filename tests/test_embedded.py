"""The embedded demo org server runs in a child process: it answers the real client, stops with the app,
and goes with it when the app dies; a server that cannot start says why."""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from isyncsf_desktop.embedded import (SERVE_FLAG, SandboxError, SandboxProcess, serve_command,
                                      serve_from_app_argv, start_embedded_sandbox)
from isyncsf_desktop.salesforce.registry import OrgRegistry

pytestmark = pytest.mark.timeout(180)


def wait_for_exit(pid: int, timeout: float) -> bool:
    """True once the process ``pid`` (not ours to wait for) has ended; a pidfd is readable then."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:       # gone, and reaped already
        return True
    try:
        return bool(select.select([fd], [], [], timeout)[0])
    finally:
        os.close(fd)


def test_the_demo_orgs_run_in_a_child_process_and_answer_through_the_registry(tmp_path: Path) -> None:
    registry = OrgRegistry()
    server = start_embedded_sandbox(registry, tmp_path / "sandbox")
    try:
        assert server.running and server.pid != os.getpid()
        assert {e.alias for e in registry.list()} == {"demo-source", "demo-target"}
        entry = registry.get("demo-target")
        assert entry.auth == "sandbox" and entry.instance_url == server.instance_url
        assert entry.org_id == server.org("target")["org_id"] and entry.username
        client = registry.client("demo-source")
        accounts = client.sf.query("SELECT Id, Name FROM Account")
        assert accounts["totalSize"] > 0
        # The token went to the keyring, never into the registry's file.
        token = server.org("source")["access_token"]
        assert token not in "".join(p.read_text(errors="replace") for p in Path(os.environ["ISYNCSF_HOME"])
                                    .rglob("*") if p.is_file() and p.suffix in (".json", ".ini", ".log"))
    finally:
        pid = server.pid
        server.stop()
    assert not server.running
    if sys.platform.startswith("linux"):
        assert wait_for_exit(pid, 1)      # stop() waited for it


def test_a_second_start_keeps_the_demo_data_and_refreshes_the_entries(tmp_path: Path) -> None:
    registry = OrgRegistry()
    with SandboxProcess(tmp_path / "sandbox") as first:
        org_id = first.org("source")["org_id"]
    server = start_embedded_sandbox(registry, tmp_path / "sandbox")
    try:
        assert server.org("source")["org_id"] == org_id                  # the same org, from its SQLite file
        assert registry.get("demo-source").instance_url == server.instance_url   # this start's port
        assert registry.client("demo-source").sf.query("SELECT Id FROM Account")["totalSize"] > 0
    finally:
        server.stop()


@pytest.mark.skipif(not hasattr(os, "pidfd_open"), reason="waits on the orphaned server with a pidfd (Linux)")
def test_the_server_stops_when_the_app_that_started_it_dies(tmp_path: Path) -> None:
    app = subprocess.Popen([sys.executable, "-c", textwrap.dedent(f"""
        import json, sys
        from isyncsf_desktop.embedded import SandboxProcess
        server = SandboxProcess({str(tmp_path / "sandbox")!r}).start()
        print(json.dumps({{"pid": server.pid, "url": server.instance_url}}), flush=True)
        sys.stdin.read()       # until the test kills this process
    """)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        started = json.loads(app.stdout.readline())
        assert started["url"].startswith("https://127.0.0.1:")
        app.kill()                                   # no clean-up: the OS closes its end of the pipe
        app.wait(30)
        assert wait_for_exit(started["pid"], 30), "the demo org server outlived the app"
    finally:
        if app.poll() is None:
            app.kill()


@pytest.mark.expect_log
def test_a_server_that_cannot_start_says_why(tmp_path: Path) -> None:
    blocked = tmp_path / "not-a-dir"
    blocked.write_text("a file where the sandbox's data dir should be")
    with pytest.raises(SandboxError, match="did not start: it stopped: cannot create the sandbox data dir"):
        start_embedded_sandbox(OrgRegistry(), blocked)
    assert OrgRegistry().list() == []                # nothing registered for a server that is not there


def test_a_server_that_closes_its_output_and_lingers_is_reported_as_stopped(tmp_path: Path, monkeypatch) -> None:
    """End of file on its output is not a time-out, even while the process is still ending: it says it
    stopped, with its last words, at once (not 'did not answer within 120 s')."""
    dying = [sys.executable, "-c", "import os, sys; sys.stderr.write('error: the disk is full\\n'); "
             "sys.stderr.flush(); os.close(1); sys.stdin.read()"]     # lingers until its input closes
    monkeypatch.setattr("isyncsf_desktop.embedded.serve_command", lambda data_dir: dying)
    server = SandboxProcess(tmp_path / "sandbox")
    with pytest.raises(SandboxError, match="did not start: it stopped: the disk is full"):
        server.start(timeout=600)
    assert not server.running


def test_the_apps_own_entry_serves_the_demo_orgs(tmp_path: Path, monkeypatch) -> None:
    """What the built app runs (its executable with SERVE_FLAG), from ``python -m isyncsf_desktop``."""
    monkeypatch.setattr("isyncsf_desktop.embedded.serve_command",
                        lambda data_dir: [sys.executable, "-m", "isyncsf_desktop", SERVE_FLAG, str(data_dir)])
    registry = OrgRegistry()
    server = start_embedded_sandbox(registry, tmp_path / "sandbox")
    try:
        assert registry.client("demo-target").sf.query("SELECT Id FROM Account")["totalSize"] >= 0
        assert server.running
    finally:
        server.stop()
    assert not server.running


def test_the_built_app_serves_when_asked_and_is_the_app_otherwise(tmp_path: Path, monkeypatch) -> None:
    assert serve_from_app_argv(["isyncsf-desktop"]) is None
    assert serve_from_app_argv(["isyncsf-desktop", "--smoke"]) is None
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    assert serve_command(tmp_path) == [sys.executable, SERVE_FLAG, str(tmp_path)]
    monkeypatch.delattr(sys, "frozen")
    assert serve_command(tmp_path)[1:3] == ["-m", "isyncsf_desktop.cli"]


@pytest.mark.expect_log
def test_a_server_that_stays_silent_is_ended_after_the_start_timeout(tmp_path: Path, monkeypatch) -> None:
    """Hung: running, never listening, deaf to its input closing. The start gives up after its timeout
    and kills it, without hanging on the pipe its reader thread is still blocked on."""
    hung = [sys.executable, "-c", "import time; time.sleep(600)"]
    monkeypatch.setattr("isyncsf_desktop.embedded.serve_command", lambda data_dir: hung)
    monkeypatch.setattr("isyncsf_desktop.embedded.STOP_TIMEOUT_S", 1.0)
    server = SandboxProcess(tmp_path / "sandbox")
    with pytest.raises(SandboxError, match="did not start: it did not answer within 1 s"):
        server.start(timeout=1)
    assert not server.running
