"""An org as the app registers it: :class:`OrgEntry`, the checks on its alias and instance URL, and
:func:`register_token_org`, which reads the org behind an access token and adds it to a registry.

This is the floor of the org registry. :mod:`.oauth` and :mod:`.sfcli` register the orgs they log
in to through it, and :mod:`.registry` (the store of orgs, which renews tokens through
:mod:`.oauth` and :mod:`.sfcli`) sits above all three, so none of them imports the registry.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from .client import OrgApiError, OrgClient, SessionExpired
from .connection import DEFAULT_API_VERSION

ORG_TYPES = ("Production", "Sandbox", "Scratch", "Developer", "Local sandbox")
AUTH_KINDS = ("token", "oauth", "sfcli", "sandbox")
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")


class RegistryError(ValueError):
    """A registry operation cannot be done as asked (unknown alias, bad alias, unreadable file...)."""


@dataclass
class OrgEntry:
    """One registered org. Holds no secret."""

    alias: str
    org_id: str
    instance_url: str
    username: str
    org_type: str
    api_version: str = DEFAULT_API_VERSION
    last_used: str | None = None
    ca_file: str | None = None
    auth: str = "token"
    client_id: str | None = None
    login_url: str | None = None

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "OrgEntry":
        names = {f.name for f in dataclasses.fields(cls)}
        missing = [n for n in ("alias", "org_id", "instance_url", "username", "org_type") if n not in data]
        if missing:
            raise RegistryError(f"an org entry lacks {', '.join(missing)}")
        return cls(**{key: value for key, value in data.items() if key in names})


def validate_alias(alias: str) -> str:
    """``alias`` when it is 1-64 letters, digits, '-', '_' or '.'; otherwise RegistryError."""
    if not isinstance(alias, str) or not _ALIAS_RE.match(alias):
        raise RegistryError(f"org alias {alias!r} is not valid: use 1 to 64 letters, digits, '-', '_' or '.'")
    return alias


def timestamp() -> str:
    """Now, as ``last_used`` keeps it: ISO 8601 in UTC, to the second."""
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class RegistryLike(Protocol):
    """Where :func:`register_token_org` adds an org: :class:`.registry.OrgRegistry`."""

    def __contains__(self, alias: object) -> bool: ...

    def add(self, entry: OrgEntry, access_token: str, refresh_token: str | None = None, *,
            replace: bool = False) -> None: ...


# ====================================================================== registering orgs
def _is_local_host(host: str) -> bool:
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def detect_org_type(org_row: dict[str, Any], instance_url: str) -> str:
    """One of :data:`ORG_TYPES` from the Organization row and the instance URL's host."""
    host = urlsplit(instance_url if "//" in instance_url else f"https://{instance_url}").hostname or ""
    if _is_local_host(host):
        return "Local sandbox"
    if org_row.get("IsSandbox"):
        return "Scratch" if org_row.get("TrialExpirationDate") else "Sandbox"
    if str(org_row.get("OrganizationType") or "") == "Developer Edition":
        return "Developer"
    return "Production"


def normalise_instance_url(instance_url: str) -> str:
    """``https://host[:port]`` from what a user typed; RegistryError when it is not a URL."""
    text = (instance_url or "").strip()
    example = "expected something like https://yourdomain.my.salesforce.com"
    if not text:
        raise RegistryError(f"the instance URL is empty; {example}")
    if "//" not in text:
        text = "https://" + text
    parts = urlsplit(text)
    try:
        port = parts.port
    except ValueError:
        raise RegistryError(f"{instance_url!r} is not a valid instance URL (bad port); {example}") from None
    host = parts.hostname or ""
    valid_host = bool(re.match(r"^[A-Za-z0-9.-]+$", host))
    if not valid_host:
        try:
            ipaddress.ip_address(host)
            valid_host = True
        except ValueError:
            pass
    if parts.scheme not in ("https", "http") or not valid_host or parts.username or parts.password \
            or any(ch.isspace() for ch in text):
        raise RegistryError(f"{instance_url!r} is not a valid instance URL; {example}")
    if parts.scheme == "http" and not _is_local_host(host):
        raise RegistryError(f"{instance_url!r} uses http; Salesforce orgs are reached over https")
    shown = f"[{host}]" if ":" in host else host
    return f"https://{shown}" + (f":{port}" if port and port != 443 else "")


def register_token_org(registry: RegistryLike, alias: str, instance_url: str, access_token: str, *,
                       ca_file: str | Path | None = None, version: str = DEFAULT_API_VERSION,
                       auth: str = "token", refresh_token: str | None = None, replace: bool = False,
                       login_url: str | None = None, client_id: str | None = None,
                       expect_org_id: str | None = None) -> OrgEntry:
    """Connect to the org with ``access_token``, read who and what it is, and register it.

    Raises RegistryError with a clear message for a bad alias or URL, a refused token or an org
    that cannot be reached. ``login_url`` and ``client_id`` are kept for orgs that renew their
    token through OAuth. ``expect_org_id`` (a new login for an alias) refuses a token of another org.
    """
    validate_alias(alias)
    if alias in registry and not replace:
        raise RegistryError(f"an org named {alias!r} is already registered; remove it or pick another alias")
    url = normalise_instance_url(instance_url)
    token = (access_token or "").strip()
    if not token:
        raise RegistryError("the access token is empty")
    if ca_file and not Path(ca_file).is_file():
        raise RegistryError(f"the CA file {ca_file} does not exist; give the path of the org's CA certificate "
                            "(PEM), or leave --ca-file out for an org with a public certificate")
    client = OrgClient.connect(url, token, ca_file=ca_file, version=version, alias=alias, retries=1, backoff=0.2)
    try:
        org = client.organization()
        info = client.user_info()
    except SessionExpired as exc:
        raise RegistryError(f"the org refused the access token: {exc.message}") from exc
    except OrgApiError as exc:
        if exc.error_code == "NOT_SALESFORCE":
            raise RegistryError(f"{url} does not answer like a Salesforce org; check the instance URL "
                                "(e.g. https://yourdomain.my.salesforce.com)") from exc
        if exc.error_code in ("CONNECTION_ERROR", "SSL_ERROR"):
            raise RegistryError(f"cannot reach the org at {url}: {exc.message}") from exc
        if exc.status == 404:
            raise RegistryError(f"{url} does not answer like a Salesforce org (API v{version} not found)") from exc
        raise RegistryError(f"the org at {url} refused the connection check: {exc}") from exc
    org_id = str(org.get("Id") or info.get("organization_id") or "")
    if expect_org_id and org_id[:15] != expect_org_id[:15]:
        raise RegistryError(f"that token is for org {org_id}, not for {alias} ({expect_org_id}); "
                            "log in to the right org, or add this one under another alias")
    entry = OrgEntry(alias=alias, org_id=org_id,
                     instance_url=url, username=str(info.get("preferred_username") or ""),
                     org_type=detect_org_type(org, url), api_version=version, last_used=timestamp(),
                     ca_file=str(ca_file) if ca_file else None, auth=auth, client_id=client_id,
                     login_url=login_url)
    registry.add(entry, token, refresh_token, replace=replace)
    return entry


def secret_key(entry: OrgEntry) -> str:
    """Whose tokens these are, for the keyring: the org and the user, not the alias (two data folders may
    give one alias to two orgs; the tokens of one must never reach the other)."""
    return f"{entry.org_id}/{entry.username or '-'}"


def check_token_org(entry: OrgEntry, token: str) -> None:
    """Refuse a token that names another org than ``entry``'s (a Salesforce access token starts with the
    15-character id of its org, then ``!``); tokens of another shape are not judged here."""
    head, bang, _ = token.partition("!")
    if bang and len(head) == 15 and head.startswith("00D") and entry.org_id and head != entry.org_id[:15]:
        raise RegistryError(f"the access token for org {entry.alias!r} belongs to another org ({head}), not "
                            f"{entry.alias}'s ({entry.org_id[:15]}); log in to {entry.alias} again")


