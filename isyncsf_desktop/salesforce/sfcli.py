"""Import orgs from the Salesforce CLI (``sf``): the orgs an admin or developer already logged in to.

* :func:`list_orgs` runs ``sf org list --json`` and turns its groups (``scratchOrgs``,
  ``sandboxes``, ``devHubs``, ``other``, ``nonScratchOrgs``) into :class:`CliOrg` candidates.
* :func:`access_token` runs ``sf org auth show-access-token --target-org X --json`` (newer CLIs
  redact tokens from ``org display``); only when that command does not exist (an older CLI) does
  it fall back to ``sf org display --target-org X --json``.
* :func:`import_org` registers the org with auth ``"sfcli"``; :func:`refresh_access_token` asks the
  CLI again when the org's token expires (the CLI keeps and renews its own refresh token).

The executable is ``sf`` on PATH unless given (or set in ``ISYNCSF_SF_CLI``), so tests point it at
a fake script. Every run has a timeout; a missing ``sf`` is a clear :class:`SfCliNotFound`.
Tokens never reach a log line or an exception text.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .connection import DEFAULT_API_VERSION
from .registration import OrgEntry, RegistryError, RegistryLike, register_token_org

logger = logging.getLogger(__name__)

DEFAULT_EXECUTABLE = "sf"
EXECUTABLE_ENV = "ISYNCSF_SF_CLI"
LIST_TIMEOUT = 120.0       # `sf org list` checks each org's connection: it can take a while
TOKEN_TIMEOUT = 60.0
INSTALL_HINT = "install it from https://developer.salesforce.com/tools/salesforcecli, or give the full path to sf"

_TOKEN_RE = re.compile(r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._-]+")
_MISSING_RE = re.compile(r"not a sf command|command\s+\S*\s*not found|CommandNotFound|is not a .*command",
                         re.IGNORECASE)
#: (group in `sf org list --json`, what it holds), most specific first: an org listed in two groups
#: keeps the kind of the first.
_GROUPS = (("scratchOrgs", "Scratch"), ("sandboxes", "Sandbox"), ("devHubs", "Dev Hub"), ("other", "Production"),
           ("nonScratchOrgs", "Production"))


class SfCliError(Exception):
    """The Salesforce CLI failed or answered something unexpected; the text is for people."""


class SfCliNotFound(SfCliError):
    """The ``sf`` executable is not on PATH (or the given path does not exist)."""


@dataclass(frozen=True)
class CliOrg:
    """One org the Salesforce CLI knows (no secret)."""

    username: str
    alias: str | None
    org_id: str
    instance_url: str
    kind: str                  # Production, Sandbox, Scratch or Dev Hub (as the CLI groups it)
    status: str                # the CLI's connection status ("Connected", "Active", "Expired", ...)
    is_default: bool = False
    login_url: str | None = None

    @property
    def target(self) -> str:
        """What to pass as ``--target-org``: the user name (aliases can be reassigned in the CLI)."""
        return self.username

    @property
    def usable(self) -> bool:
        """False when the CLI itself reports the org expired, deleted or not authorised any more."""
        lowered = self.status.lower()
        return not any(word in lowered for word in ("expired", "deleted", "error", "unable", "invalid"))

    def suggested_alias(self) -> str:
        """A registry alias for this org: its CLI alias, else the user name's local part."""
        base = self.alias or self.username.split("@")[0] or "org"
        cleaned = re.sub(r"[^A-Za-z0-9_.-]+", "-", base).strip("-")[:64]
        return cleaned or "org"


def default_executable() -> str:
    """``$ISYNCSF_SF_CLI`` or ``sf``."""
    return os.environ.get(EXECUTABLE_ENV) or DEFAULT_EXECUTABLE


def _scrub(text: str) -> str:
    return _TOKEN_RE.sub("***", text)


def _resolve(executable: str) -> str:
    found = shutil.which(executable)
    if found is None:
        if os.sep in executable or (os.altsep and os.altsep in executable):
            raise SfCliNotFound(f"the Salesforce CLI was not found at {executable}; {INSTALL_HINT}")
        raise SfCliNotFound(f"the Salesforce CLI ({executable}) is not installed or not on PATH; {INSTALL_HINT}")
    return found


def _parse_json(stdout: str) -> dict[str, Any] | None:
    text = stdout.strip()
    if not text:
        return None
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        start = text.find("{")          # a warning printed before the JSON
        if start < 0:
            return None
        try:
            data = json.loads(text[start:])
        except json.JSONDecodeError:
            return None
    return data if isinstance(data, dict) else None


class _Missing(SfCliError):
    """Internal: this CLI has no such command."""


def run_sf(args: list[str], *, executable: str | None = None, timeout: float = TOKEN_TIMEOUT) -> Any:
    """Run ``sf <args> --json`` and return its ``result``; SfCliError with the CLI's message otherwise."""
    exe = _resolve(executable or default_executable())
    command = " ".join(args)
    env = {**os.environ, "SF_DISABLE_AUTOUPDATE": "true", "SF_SKIP_NEW_VERSION_CHECK": "true", "NO_COLOR": "1",
           "FORCE_COLOR": "0", "SF_USE_PROGRESS_BAR": "false"}
    logger.debug("running sf %s", command)
    try:
        done = subprocess.run([exe, *args, "--json"], capture_output=True, text=True, timeout=timeout, env=env,
                              stdin=subprocess.DEVNULL, encoding="utf-8", errors="replace",
                              creationflags=getattr(subprocess, "CREATE_NO_WINDOW", 0))
    except FileNotFoundError:
        raise SfCliNotFound(f"the Salesforce CLI ({exe}) could not be started; {INSTALL_HINT}") from None
    except PermissionError:
        raise SfCliNotFound(f"the Salesforce CLI ({exe}) is not executable; {INSTALL_HINT}") from None
    except subprocess.TimeoutExpired:
        raise SfCliError(f"sf {command} did not answer within {timeout:g} seconds") from None
    except OSError as exc:
        raise SfCliError(f"the Salesforce CLI ({exe}) could not be run: {exc.strerror or exc}") from None
    data = _parse_json(done.stdout)
    text = f"{done.stdout}\n{done.stderr}"
    if done.returncode != 0 or data is None or data.get("status", 0) != 0:
        message = ""
        if data is not None:
            message = str(data.get("message") or data.get("name") or "")
            if _MISSING_RE.search(message) or data.get("name") in ("CommandNotFoundError", "CommandNotFound"):
                raise _Missing(command)
        if done.returncode == 127 or _MISSING_RE.search(text):
            raise _Missing(command)
        if done.returncode == 0 and data is None:
            raise SfCliError(_scrub(f"sf {command} answered something that is not JSON: "
                                    f"{done.stdout.strip()[:200] or '(nothing)'}"))
        if not message:
            message = (done.stderr.strip() or done.stdout.strip() or f"exit code {done.returncode}")[:400]
        raise SfCliError(_scrub(f"sf {command} failed: {message}"))
    return data.get("result")


# ====================================================================== listing
def _org_from_json(item: dict[str, Any], kind: str) -> CliOrg | None:
    username = str(item.get("username") or "")
    if not username:
        return None
    if item.get("isScratch"):
        kind = "Scratch"
    elif item.get("isSandbox") and kind == "Production":
        kind = "Sandbox"
    elif item.get("isDevHub") and kind == "Production":
        kind = "Dev Hub"
    if kind == "Scratch":
        status = "Expired" if item.get("isExpired") else str(item.get("status") or item.get("connectedStatus")
                                                              or "Unknown")
    else:
        status = str(item.get("connectedStatus") or item.get("status") or "Unknown")
    alias = item.get("alias")
    if isinstance(alias, list):
        alias = alias[0] if alias else None
    return CliOrg(username=username, alias=str(alias) if alias else None, org_id=str(item.get("orgId") or ""),
                  instance_url=str(item.get("instanceUrl") or ""), kind=kind, status=status,
                  is_default=bool(item.get("isDefaultUsername") or item.get("defaultMarker") in ("(U)", "🍁")),
                  login_url=str(item["loginUrl"]) if item.get("loginUrl") else None)


def parse_org_list(result: Any) -> list[CliOrg]:
    """Candidates from the ``result`` of ``sf org list --json`` (each user name once)."""
    if not isinstance(result, dict):
        raise SfCliError("sf org list answered something unexpected (no list of orgs)")
    seen: dict[str, CliOrg] = {}
    for group, kind in _GROUPS:
        for item in result.get(group) or []:
            if not isinstance(item, dict):
                continue
            org = _org_from_json(item, kind)
            if org is not None and org.username not in seen:
                seen[org.username] = org
    return list(seen.values())


def list_orgs(*, executable: str | None = None, timeout: float = LIST_TIMEOUT) -> list[CliOrg]:
    """The orgs the Salesforce CLI is logged in to."""
    try:
        result = run_sf(["org", "list"], executable=executable, timeout=timeout)
    except _Missing:
        raise SfCliError("this Salesforce CLI has no 'org list' command; update it (sf update)") from None
    orgs = parse_org_list(result)
    logger.info("the Salesforce CLI knows %d org(s)", len(orgs))
    return orgs


# ====================================================================== tokens
def _token_from(result: Any) -> tuple[str | None, str | None]:
    if isinstance(result, str):
        return result.strip() or None, None
    if not isinstance(result, dict):
        return None, None
    token = result.get("accessToken") or result.get("access_token") or result.get("token")
    url = result.get("instanceUrl") or result.get("instance_url")
    return (str(token).strip() if token else None), (str(url) if url else None)


def _looks_redacted(token: str) -> bool:
    return "redacted" in token.lower() or "truncated" in token.lower() or " " in token


def access_token(target_org: str, *, executable: str | None = None,
                 timeout: float = TOKEN_TIMEOUT) -> tuple[str, str | None]:
    """(access token, instance URL or None) of ``target_org`` (a user name or a CLI alias)."""
    try:
        result = run_sf(["org", "auth", "show-access-token", "--target-org", target_org], executable=executable,
                        timeout=timeout)
    except _Missing:
        logger.info("this Salesforce CLI has no 'org auth show-access-token'; using 'org display'")
        try:
            result = run_sf(["org", "display", "--target-org", target_org], executable=executable,
                            timeout=timeout)
        except _Missing:
            raise SfCliError("this Salesforce CLI can show no access token; update it (sf update)") from None
    token, url = _token_from(result)
    if not token:
        raise SfCliError(f"the Salesforce CLI gave no access token for {target_org}")
    if _looks_redacted(token):
        raise SfCliError(f"the Salesforce CLI hides the access token of {target_org}; update it (sf update) "
                         "so that 'sf org auth show-access-token' is available")
    return token, url


def import_org(registry: RegistryLike, org: CliOrg | str, alias: str, *, executable: str | None = None,
               ca_file: str | Path | None = None, version: str = DEFAULT_API_VERSION,
               replace: bool = False) -> OrgEntry:
    """Take the CLI's token for ``org`` (a candidate, or a user name/alias) and register it (auth ``"sfcli"``)."""
    target = org.target if isinstance(org, CliOrg) else str(org)
    if isinstance(org, CliOrg) and not org.usable:
        raise SfCliError(f"the Salesforce CLI reports {target} as {org.status}; log in to it again with "
                         f"'sf org login web' first")
    token, url = access_token(target, executable=executable)
    url = url or (org.instance_url if isinstance(org, CliOrg) else None)
    if not url:
        raise SfCliError(f"the Salesforce CLI gave no instance URL for {target}")
    try:
        entry = register_token_org(registry, alias, url, token, ca_file=ca_file, version=version, auth="sfcli",
                                   replace=replace,
                                   login_url=org.login_url if isinstance(org, CliOrg) else None)
    except RegistryError as exc:
        raise SfCliError(str(exc)) from None
    logger.info("imported %s from the Salesforce CLI as %s", target, alias)
    return entry


def refresh_access_token(entry: OrgEntry, refresh_token: str | None = None) -> str:
    """A fresh access token for an ``sfcli`` org, asked from the CLI again (the registry's refresh callback)."""
    del refresh_token   # the CLI keeps its own
    if not entry.username:
        raise SfCliError(f"org {entry.alias} has no user name to ask the Salesforce CLI about; import it again")
    token, _url = access_token(entry.username)
    return token
