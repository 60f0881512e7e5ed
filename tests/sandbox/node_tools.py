"""The Node.js clients of the ``external`` tests: the Salesforce CLI (``sf``), the SFDMU plugin and jsforce.

.ci/run installs them with npm into cache folders outside the clone and puts ``sf`` (with Node.js 22) first
on PATH; ISYNCSF_SFDMU_DIR and ISYNCSF_JSFORCE_DIR name the folders whose ``node_modules`` hold sfdmu and
jsforce. Whatever is missing makes its tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

SF_TIMEOUT = 180   # seconds for one sf command (node start-up is most of it)
QUIET = {"SF_DISABLE_TELEMETRY": "true", "SF_DISABLE_AUTOUPDATE": "true", "SF_SKIP_NEW_VERSION_CHECK": "true"}


def sf_executable() -> str:
    """The ``sf`` on PATH, or skip the test saying why it cannot run."""
    found = shutil.which("sf")
    if found is None:
        pytest.skip("the Salesforce CLI (sf) is not on PATH: install it with "
                    "`npm install @salesforce/cli` (.ci/run does so when npm exists)")
    probe = subprocess.run([found, "--version"], capture_output=True, text=True, timeout=SF_TIMEOUT,
                           env={**os.environ, **QUIET})
    if probe.returncode != 0 or "@salesforce/cli" not in probe.stdout:
        pytest.skip(f"`sf --version` does not run here (needs a newer Node.js?): {probe.stderr.strip()[-300:]}")
    versions = re.search(r"@salesforce/cli/(\d+)\.(\d+)\S* .*node-v(\d+)", probe.stdout)
    if versions and (int(versions[1]), int(versions[2])) >= (2, 148) and int(versions[3]) < 22:
        pytest.skip(f"{probe.stdout.strip()}: this Salesforce CLI needs Node.js 22 or newer first on PATH "
                    "(.ci/run installs the npm package node@22 next to it)")
    return found


def npm_package(env_var: str, package: str) -> Path:
    """The folder of an npm package installed under ``$<env_var>/node_modules``, or skip saying why."""
    base = os.environ.get(env_var)
    if not base:
        pytest.skip(f"{env_var} is not set: install {package} with `npm install {package}` into a folder "
                    f"and name it in {env_var} (.ci/run does so when npm exists)")
    folder = Path(base) / "node_modules" / package
    if not (folder / "package.json").is_file():
        pytest.skip(f"{package} is not installed under {env_var}={base} (no node_modules/{package}/package.json)")
    return folder


def clean_env(home: Path, ca_file: str | Path) -> dict[str, str]:
    """The environment of a Node client: its own HOME (auth files, config) and the sandbox CA trusted."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SF_", "SFDX_"))}
    env.update({
        "HOME": str(home),                 # the CLI's auth files and config live under HOME
        "XDG_CONFIG_HOME": str(home / ".config"), "XDG_DATA_HOME": str(home / ".local" / "share"),
        "XDG_CACHE_HOME": str(home / ".cache"),
        "NODE_EXTRA_CA_CERTS": str(ca_file),   # Node trusts the sandbox CA the way the app does: explicitly
        **QUIET,
        "SF_USE_PROGRESS_BAR": "false", "NO_COLOR": "1", "FORCE_COLOR": "0",
    })
    return env


@dataclass(repr=False)
class SfCli:
    """The sf CLI in a work folder with its own HOME. Never prints tokens (pytest shows fixtures on failure)."""

    sf: str
    work: Path
    env: dict[str, str]

    def __repr__(self) -> str:
        return f"SfCli(sf={self.sf!r}, work={str(self.work)!r})"

    def run(self, *args: str, ok: bool = True, token: str | None = None, timeout: float = SF_TIMEOUT,
            env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        full = {**self.env, **(env or {})}
        if token is not None:
            full["SF_ACCESS_TOKEN"] = token
        done = subprocess.run([self.sf, *args], capture_output=True, text=True, cwd=self.work, env=full,
                              timeout=timeout, stdin=subprocess.DEVNULL)
        if ok and done.returncode != 0:
            raise AssertionError(f"sf {args[0]} {args[1] if len(args) > 1 else ''} exited {done.returncode}:\n"
                                 f"{done.stdout[-3000:]}\n{done.stderr[-3000:]}")
        return done

    def json(self, *args: str, token: str | None = None, env: dict[str, str] | None = None) -> Any:
        done = self.run(*args, "--json", token=token, env=env)
        answer = json.loads(done.stdout)
        assert answer["status"] == 0, answer
        return answer["result"]

    def login(self, alias: str, instance_url: str, token: str) -> dict[str, Any]:
        """``sf org login access-token`` (the token in SF_ACCESS_TOKEN, as in CI scripts)."""
        result: dict[str, Any] = self.json("org", "login", "access-token", "--instance-url", instance_url,
                                           "--alias", alias, "--no-prompt", token=token)
        return result


def make_cli(work: Path, ca_file: str | Path) -> SfCli:
    """An :class:`SfCli` in ``work`` with a fresh HOME under it (skips when sf cannot run)."""
    sf = sf_executable()
    home = work / "home"
    home.mkdir(parents=True, exist_ok=True)
    return SfCli(sf, work, clean_env(home, ca_file))
