"""The org registry: the orgs the user connected, by alias, in ``orgs.json`` in the config dir.

The file is human-readable JSON holding only what is safe to show (alias, org id, instance URL,
user name, org type...). Access and refresh tokens go to the keyring through :mod:`.secrets`,
keyed by alias; removing or renaming an org moves or deletes its secrets too.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from .. import paths
from . import secrets
from .client import OrgApiError, OrgClient, SessionExpired
from .connection import DEFAULT_API_VERSION

logger = logging.getLogger(__name__)

ORG_TYPES = ("Production", "Sandbox", "Scratch", "Developer", "Local sandbox")
AUTH_KINDS = ("token", "oauth", "sfcli", "sandbox")
REGISTRY_FORMAT = 1
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

#: Renews an org's access token: called with the org's entry and its stored refresh token (or
#: None); returns the new access token.
RefreshCallback = Callable[["OrgEntry", "str | None"], str]

#: A token renewed less than this many seconds ago by another client of the same org is reused
#: instead of asking the org again (several workers hitting 401 at once renew once).
REUSE_RENEWED_SECONDS = 30.0

_renew_locks: dict[str, threading.Lock] = {}
_renew_locks_guard = threading.Lock()
_recently_renewed: dict[str, tuple[str, float]] = {}   # alias -> (access token, monotonic time)


def _renew_lock(alias: str) -> threading.Lock:
    with _renew_locks_guard:
        return _renew_locks.setdefault(alias, threading.Lock())


def default_refresher(entry: "OrgEntry") -> RefreshCallback | None:
    """How an expired access token of ``entry`` is renewed without the user noticing.

    ``oauth`` orgs use their refresh token (:func:`.oauth.refresh_access_token`); ``sfcli`` orgs
    ask the Salesforce CLI again (:func:`.sfcli.refresh_access_token`); other orgs cannot renew.
    """
    if entry.auth == "oauth":
        from .oauth import refresh_access_token as oauth_refresh
        return oauth_refresh
    if entry.auth == "sfcli":
        from .sfcli import refresh_access_token as sfcli_refresh
        return sfcli_refresh
    return None


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


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


class OrgRegistry:
    """The registered orgs, read from and written to ``path`` (atomically) on every operation."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else paths.config_dir() / "orgs.json"

    # ------------------------------------------------------------------ file
    def _load(self) -> list[OrgEntry]:
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise RegistryError(f"cannot read the org registry {self.path}: {exc.strerror}") from exc
        if not text.strip():
            return []
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RegistryError(f"the org registry {self.path} is not valid JSON (line {exc.lineno}: {exc.msg}); "
                                "fix or delete it") from exc
        items = data.get("orgs") if isinstance(data, dict) else data
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise RegistryError(f"the org registry {self.path} does not hold a list of orgs; fix or delete it")
        return [OrgEntry.from_json(item) for item in items]

    def _save(self, entries: list[OrgEntry]) -> None:
        document = {"format": REGISTRY_FORMAT, "orgs": [entry.to_json() for entry in entries]}
        paths.atomic_write_text(self.path, json.dumps(document, indent=2, ensure_ascii=False) + "\n")

    @staticmethod
    def _index(entries: list[OrgEntry], alias: str) -> int | None:
        return next((i for i, entry in enumerate(entries) if entry.alias == alias), None)

    def _find(self, entries: list[OrgEntry], alias: str) -> int:
        index = self._index(entries, alias)
        if index is None:
            known = ", ".join(entry.alias for entry in entries) or "none"
            raise RegistryError(f"no org named {alias!r}; known: {known}")
        return index

    # ------------------------------------------------------------------ entries
    def list(self) -> list[OrgEntry]:
        """Every registered org, in the order they were added."""
        return self._load()

    def aliases(self) -> list[str]:
        return [entry.alias for entry in self._load()]

    def get(self, alias: str) -> OrgEntry:
        """The org called ``alias``; RegistryError ("no org named 'x'; known: a, b") otherwise."""
        entries = self._load()
        return entries[self._find(entries, alias)]

    def __contains__(self, alias: object) -> bool:
        return isinstance(alias, str) and self._index(self._load(), alias) is not None

    def add(self, entry: OrgEntry, access_token: str, refresh_token: str | None = None, *,
            replace: bool = False) -> None:
        """Register ``entry`` and keep its tokens in the keyring.

        A second org with the same alias is refused unless ``replace`` is true; replacing drops the
        old org's secrets.
        """
        validate_alias(entry.alias)
        if entry.org_type not in ORG_TYPES:
            raise RegistryError(f"org type {entry.org_type!r} is not one of: {', '.join(ORG_TYPES)}")
        if entry.auth not in AUTH_KINDS:
            raise RegistryError(f"auth kind {entry.auth!r} is not one of: {', '.join(AUTH_KINDS)}")
        if not access_token:
            raise RegistryError(f"org {entry.alias!r} needs an access token")
        entries = self._load()
        index = self._index(entries, entry.alias)
        if index is not None and not replace:
            raise RegistryError(f"an org named {entry.alias!r} is already registered; remove it or pick another alias")
        if index is not None:
            secrets.delete_secrets(entry.alias)
            entries[index] = entry
        else:
            entries.append(entry)
        self._store_tokens(entry.alias, access_token, refresh_token)
        try:
            self._save(entries)
        except OSError:
            if index is None:
                secrets.delete_secrets(entry.alias)
            raise
        logger.info("registered org %s (%s, %s)", entry.alias, entry.org_type, entry.instance_url)

    def remove(self, alias: str) -> None:
        """Forget the org ``alias`` and delete its secrets."""
        entries = self._load()
        del entries[self._find(entries, alias)]
        self._save(entries)
        secrets.delete_secrets(alias)
        logger.info("removed org %s", alias)

    def rename(self, old: str, new: str) -> None:
        """Give org ``old`` the alias ``new`` (its secrets move with it)."""
        validate_alias(new)
        entries = self._load()
        index = self._find(entries, old)
        if old == new:
            return
        if self._index(entries, new) is not None:
            raise RegistryError(f"an org named {new!r} is already registered")
        access, refresh = self.access_token(old), self.refresh_token(old)
        entries[index] = dataclasses.replace(entries[index], alias=new)
        if access:
            self._store_tokens(new, access, refresh)
        self._save(entries)
        secrets.delete_secrets(old)
        logger.info("renamed org %s to %s", old, new)

    def update(self, alias: str, **changes: Any) -> OrgEntry:
        """Change fields of org ``alias`` (not its alias: use :meth:`rename`)."""
        if "alias" in changes:
            raise RegistryError("use rename() to change an org's alias")
        entries = self._load()
        index = self._find(entries, alias)
        try:
            entries[index] = dataclasses.replace(entries[index], **changes)
        except TypeError as exc:
            raise RegistryError(str(exc)) from exc
        self._save(entries)
        return entries[index]

    def touch(self, alias: str) -> None:
        """Record that org ``alias`` was used now."""
        self.update(alias, last_used=_now())

    # ------------------------------------------------------------------ tokens
    @staticmethod
    def _store_tokens(alias: str, access_token: str, refresh_token: str | None) -> None:
        secrets.store_secret(alias, "access_token", access_token)
        if refresh_token:
            secrets.store_secret(alias, "refresh_token", refresh_token)

    def access_token(self, alias: str) -> str | None:
        return secrets.get_secret(alias, "access_token")

    def refresh_token(self, alias: str) -> str | None:
        return secrets.get_secret(alias, "refresh_token")

    def set_tokens(self, alias: str, access_token: str, refresh_token: str | None = None) -> None:
        """Replace the access token of org ``alias`` (and the refresh token when given)."""
        self.get(alias)
        self._store_tokens(alias, access_token, refresh_token)

    # ------------------------------------------------------------------ clients
    def _renewer(self, entry: OrgEntry, refresh: RefreshCallback) -> Callable[[], str]:
        """A no-argument callback for OrgClient: renew the token with ``refresh`` and store it.

        Renewals of one org are serialised, and the refresh token is read inside the lock, so a
        rotated refresh token saved by one client is the one the next client uses. A token that
        another client renewed moments ago is reused rather than renewed again.
        """
        alias = entry.alias
        issued = {"token": self.access_token(alias)}

        def renew() -> str:
            with _renew_lock(alias):
                recent = _recently_renewed.get(alias)
                if recent is not None and recent[0] != issued["token"] \
                        and time.monotonic() - recent[1] < REUSE_RENEWED_SECONDS \
                        and self.access_token(alias) == recent[0]:
                    issued["token"] = recent[0]
                    return recent[0]
                new_token = refresh(entry, self.refresh_token(alias))
                if new_token:
                    secrets.store_secret(alias, "access_token", new_token)
                    _recently_renewed[alias] = (new_token, time.monotonic())
                    issued["token"] = new_token
                return new_token
        return renew

    def client(self, alias: str, *, refresh: RefreshCallback | None = None, retries: int = 4,
               backoff: float = 0.5) -> OrgClient:
        """An :class:`OrgClient` for org ``alias`` with its stored token and CA file.

        ``refresh(entry, refresh_token)`` renews an expired access token; the new token is stored.
        Without one, the org's own way applies (:func:`default_refresher`): an ``oauth`` org renews
        its token with its refresh token, mid-sync included.
        """
        entry = self.get(alias)
        token = self.access_token(alias)
        if not token:
            raise RegistryError(f"no access token is stored for org {alias!r}; connect it again")
        if refresh is None:
            refresh = default_refresher(entry)

        renew = None if refresh is None else self._renewer(entry, refresh)
        return OrgClient.connect(entry.instance_url, token, ca_file=entry.ca_file, version=entry.api_version,
                                 alias=alias, refresh_token=renew, org_id=entry.org_id, retries=retries,
                                 backoff=backoff)


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


def register_token_org(registry: OrgRegistry, alias: str, instance_url: str, access_token: str, *,
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
                     org_type=detect_org_type(org, url), api_version=version, last_used=_now(),
                     ca_file=str(ca_file) if ca_file else None, auth=auth, client_id=client_id,
                     login_url=login_url)
    registry.add(entry, token, refresh_token, replace=replace)
    return entry
