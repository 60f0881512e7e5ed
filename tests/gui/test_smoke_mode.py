"""``isyncsf-desktop --smoke`` from the installed package: the window on the demo orgs, a demo sync, exit 0;
a failure exits non-zero. (tests/packaging/test_frozen_app.py runs the same mode in the built app.)"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from isyncsf_desktop import paths
from isyncsf_desktop.engine.journal import Journal

pytestmark = [pytest.mark.gui, pytest.mark.timeout(240)]


def run_app(*args: str, timeout: float = 200) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    return subprocess.run([sys.executable, "-m", "isyncsf_desktop", *args], env=env, capture_output=True, text=True,
                          timeout=timeout)


def test_smoke_opens_the_demo_orgs_syncs_and_exits_0(tmp_path):
    report = tmp_path / "smoke.json"
    done = run_app("--smoke", "--smoke-report", str(report))
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads(report.read_text())
    assert figures["state"] == "Synced" and figures["inserted"] > 0 and figures["window_visible"]
    assert figures["exit_code"] == 0 and 0 < figures["window_after_main_s"] < figures["done_after_main_s"]
    assert f"smoke: {json.dumps(figures, sort_keys=True)}" in done.stdout
    # It ran in ISYNCSF_HOME (the test's own, set by a fixture): the job is in that journal.
    journal = Journal(paths.journal_path())
    try:
        assert journal.job(figures["job_id"]).state == "Synced"
    finally:
        journal.close()


@pytest.mark.expect_log
def test_smoke_exits_1_when_it_does_not_finish_in_time(tmp_path):
    report = tmp_path / "smoke.json"
    done = run_app("--smoke", "--smoke-report", str(report), "--smoke-timeout", "0.001")
    assert done.returncode == 1
    assert "no result after" in json.loads(report.read_text())["failure"]
    assert "smoke test failed" in paths.log_file().read_text(encoding="utf-8")


def test_version():
    done = run_app("--version", timeout=60)
    assert done.returncode == 0 and done.stdout.startswith("iSyncSF Desktop ")
