"""The release workflow (.github/workflows/desktop-app.yml) can only run on GitHub; here it is read and held
to what it promises: valid YAML, every step one action or one script, jobs that exist, files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")
ROOT = Path(__file__).resolve().parents[2]
WORKFLOW = ROOT / ".github" / "workflows" / "desktop-app.yml"


@pytest.fixture(scope="module")
def workflow() -> dict:
    return yaml.safe_load(WORKFLOW.read_text(encoding="utf-8"))


def test_every_step_is_one_action_or_one_script_and_needs_name_real_jobs(workflow) -> None:
    jobs = workflow["jobs"]
    for name, job in jobs.items():
        needs = job.get("needs") or []
        for need in needs if isinstance(needs, list) else [needs]:
            assert need in jobs, f"{name} needs {need}, which is no job"
        for step in job["steps"]:
            assert ("uses" in step) != ("run" in step), (name, step.get("name"))


def test_a_tag_builds_every_installer_and_publishes_them_together(workflow) -> None:
    on = workflow[True] if True in workflow else workflow["on"]      # YAML 1.1 reads the key `on` as True
    assert on["push"]["tags"] == ["v*"] and "workflow_dispatch" in on
    release = workflow["jobs"]["release"]
    assert set(release["needs"]) == {"tests", "build", "linux", "linux-old-systems"}
    assert release["permissions"] == {"contents": "write"}
    builds = {entry["name"] for entry in workflow["jobs"]["build"]["strategy"]["matrix"]["include"]}
    assert builds == {"windows-x86_64", "macos-arm64", "macos-x86_64"}
    old = {entry["image"] for entry in workflow["jobs"]["linux-old-systems"]["strategy"]["matrix"]["include"]}
    assert old == {"debian:11", "ubuntu:22.04", "rockylinux:9"}
    assert workflow["jobs"]["linux"]["container"] == "python:3.11-bullseye"     # glibc 2.31


def test_the_files_the_workflow_names_exist() -> None:
    text = WORKFLOW.read_text(encoding="utf-8")
    for rel in set(re.findall(r"(?<![\w/])((?:packaging|tests)/[\w./-]+\.(?:py|txt|md|iss))", text)):
        assert (ROOT / rel).exists(), rel
    assert "--installer" in text and "--smoke" in text
