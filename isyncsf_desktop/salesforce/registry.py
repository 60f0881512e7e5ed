"""The org registry: the orgs the user connected, by alias, in ``orgs.json`` in the config dir.

The file is human-readable JSON holding only what is safe to show (alias, org id, instance URL,
user name, org type...). Access and refresh tokens go to the keyring through :mod:`.secrets`,
keyed by alias; removing or renaming an org moves or deletes its secrets too.

What an org entry is and how one is registered from a token live in :mod:`.registration` (below
:mod:`.oauth` and :mod:`.sfcli`, which register through it); their names are re-exported here.
"""

from __future__ import annotations

import builtins
import dataclasses
import json
import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .. import paths
from . import oauth, secrets, sfcli
from .client import OrgClient
from .registration import (AUTH_KINDS, ORG_TYPES, OrgEntry, RegistryError, check_token_org, detect_org_type,
                           normalise_instance_url, register_token_org, secret_key, timestamp, validate_alias)

__all__ = ["AUTH_KINDS", "ORG_TYPES", "REGISTRY_FORMAT", "REUSE_RENEWED_SECONDS", "OrgEntry", "OrgRegistry",
           "RefreshCallback", "RegistryError", "default_refresher", "detect_org_type", "normalise_instance_url",
           "register_token_org", "validate_alias"]

logger = logging.getLogger(__name__)

REGISTRY_FORMAT = 1

#: Renews an org's access token: called with the org's entry and its stored refresh token (or
#: None); returns the new access token.
RefreshCallback = Callable[[OrgEntry, "str | None"], str]

#: A token renewed less than this many seconds ago by another client of the same org is reused
#: instead of asking the org again (several workers hitting 401 at once renew once).
REUSE_RENEWED_SECONDS = 30.0

_renew_locks: dict[str, threading.Lock] = {}
_renew_locks_guard = threading.Lock()
_recently_renewed: dict[str, tuple[str, float]] = {}   # alias -> (access token, monotonic time)


def _renew_lock(alias: str) -> threading.Lock:
    with _renew_locks_guard:
        return _renew_locks.setdefault(alias, threading.Lock())


def default_refresher(entry: OrgEntry) -> RefreshCallback | None:
    """How an expired access token of ``entry`` is renewed without the user noticing.

    ``oauth`` orgs use their refresh token (:func:`.oauth.refresh_access_token`); ``sfcli`` orgs
    ask the Salesforce CLI again (:func:`.sfcli.refresh_access_token`); other orgs cannot renew.
    """
    if entry.auth == "oauth":
        return oauth.refresh_access_token
    if entry.auth == "sfcli":
        return sfcli.refresh_access_token
    return None


def _move_legacy_secrets(alias: str, key: str) -> bool:
    """Tokens an older version kept under the alias move to the org's and user's key; True if any did."""
    found = {name: secrets.get_secret(alias, name) for name in secrets.SECRET_NAMES}
    if not any(found.values()):
        return False
    for name, value in found.items():
        if value:
            secrets.store_secret(key, name, value)
    secrets.delete_secrets(alias)
    logger.info("the tokens of org %s are now kept under its org id and user", alias)
    return True


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

    def aliases(self) -> builtins.list[str]:   # `list` alone is the method above
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
        check_token_org(entry, access_token)
        old = None
        if index is not None:
            old, entries[index] = entries[index], entry
        else:
            entries.append(entry)
        self._store_tokens(entry, access_token, refresh_token)
        try:
            self._save(entries)
        except OSError:
            if old is None:
                self._forget_secrets(entry, entries[:-1])
            raise
        if old is not None and secret_key(old) != secret_key(entry):
            self._forget_secrets(old, entries)          # the replaced org's tokens, unless another alias uses them
        logger.info("registered org %s (%s, %s)", entry.alias, entry.org_type, entry.instance_url)

    def remove(self, alias: str) -> None:
        """Forget the org ``alias`` and delete its secrets."""
        entries = self._load()
        removed = entries.pop(self._find(entries, alias))
        self._save(entries)
        self._forget_secrets(removed, entries)
        secrets.delete_secrets(alias)                   # a token kept under the alias by an older version
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
        self.access_token(old)        # a token an older version kept under the alias moves to the org's key now
        entries[index] = dataclasses.replace(entries[index], alias=new)
        self._save(entries)           # the tokens are the org's and user's, not the alias's: nothing to move
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
        self.update(alias, last_used=timestamp())

    # ------------------------------------------------------------------ tokens
    @staticmethod
    def _store_tokens(entry: OrgEntry, access_token: str, refresh_token: str | None) -> None:
        key = secret_key(entry)
        secrets.store_secret(key, "access_token", access_token)
        if refresh_token:
            secrets.store_secret(key, "refresh_token", refresh_token)

    @staticmethod
    def _forget_secrets(entry: OrgEntry, others: builtins.list[OrgEntry]) -> None:
        """Delete ``entry``'s tokens unless another registered alias is the same org and user."""
        if all(secret_key(other) != secret_key(entry) for other in others):
            secrets.delete_secrets(secret_key(entry))

    def _secret(self, alias: str, name: str) -> str | None:
        """Secret ``name`` of org ``alias``: kept under its org id and user; one an older version kept under
        the alias is moved there on first read."""
        try:
            key = secret_key(self.get(alias))
        except RegistryError:
            return None                                 # no such org: no secret
        value = secrets.get_secret(key, name)
        if value is None and _move_legacy_secrets(alias, key):
            value = secrets.get_secret(key, name)
        return value

    def access_token(self, alias: str) -> str | None:
        return self._secret(alias, "access_token")

    def refresh_token(self, alias: str) -> str | None:
        return self._secret(alias, "refresh_token")

    def set_tokens(self, alias: str, access_token: str, refresh_token: str | None = None) -> None:
        """Replace the access token of org ``alias`` (and the refresh token when given)."""
        entry = self.get(alias)
        check_token_org(entry, access_token)
        self._store_tokens(entry, access_token, refresh_token)

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
                    secrets.store_secret(secret_key(entry), "access_token", new_token)
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
        check_token_org(entry, token)
        if refresh is None:
            refresh = default_refresher(entry)

        renew = None if refresh is None else self._renewer(entry, refresh)
        return OrgClient.connect(entry.instance_url, token, ca_file=entry.ca_file, version=entry.api_version,
                                 alias=alias, refresh_token=renew, org_id=entry.org_id, retries=retries,
                                 backoff=backoff)
