"""Access and refresh tokens in the OS keyring, and nowhere else.

Each secret is one keyring entry: service ``"iSyncSF Desktop"``, user name ``"<org_key>:<name>"``.
When no usable keyring exists (the ``fail`` or ``null`` backend, a chainer with nothing to chain)
or the keyring raises when used, secrets are kept in this process's memory for the session and a
warning says once that credentials won't be remembered after the app closes. Nothing here ever
writes a secret to a file.

A backend configured explicitly (``PYTHON_KEYRING_BACKEND`` or keyring's own config file) is used
as configured. :class:`MemoryKeyring` is an in-memory backend for tests; its priority is below
zero so keyring never picks it on its own:
``PYTHON_KEYRING_BACKEND=isyncsf_desktop.salesforce.secrets.MemoryKeyring`` or
``keyring.set_keyring(MemoryKeyring())``.
"""

from __future__ import annotations

import logging
import threading

import keyring
import keyring.backend
import keyring.errors
from keyring.backends import chainer, fail, null

logger = logging.getLogger(__name__)

SERVICE_NAME = "iSyncSF Desktop"
SECRET_NAMES = ("access_token", "refresh_token")
NOT_REMEMBERED = "credentials won't be remembered after you close the app"

_memory: dict[tuple[str, str], str] = {}
_lock = threading.RLock()
_warned = False
_failed_backend: tuple[int, str] | None = None   # (id of the backend that raised, why)


class MemoryKeyring(keyring.backend.KeyringBackend):
    """A keyring backend that keeps passwords in a dict (tests, demos). Never chosen automatically."""

    priority = -1  # type: ignore[assignment]  # below fail.Keyring (0): only used when set explicitly

    def __init__(self) -> None:
        super().__init__()
        self._passwords: dict[tuple[str, str], str] = {}

    def get_password(self, service: str, username: str) -> str | None:
        return self._passwords.get((service, username))

    def set_password(self, service: str, username: str, password: str) -> None:
        self._passwords[(service, username)] = password

    def delete_password(self, service: str, username: str) -> None:
        try:
            del self._passwords[(service, username)]
        except KeyError:
            raise keyring.errors.PasswordDeleteError(f"no password for {username!r} in {service!r}") from None


def _username(org_key: str, name: str) -> str:
    if not org_key or not name:
        raise ValueError("a secret needs an org key and a name")
    return f"{org_key}:{name}"


def _backend_name(backend: keyring.backend.KeyringBackend) -> str:
    return f"{type(backend).__module__}.{type(backend).__name__}"


def _unusable_reason(backend: keyring.backend.KeyringBackend) -> str | None:
    """Why ``backend`` cannot keep secrets, or None when it can."""
    if isinstance(backend, fail.Keyring):
        return "no system keyring (Keychain, Credential Manager or Secret Service) is available"
    if isinstance(backend, null.Keyring):
        return "the keyring is disabled"
    if isinstance(backend, chainer.ChainerBackend) and not list(backend.backends):
        return "no system keyring (Keychain, Credential Manager or Secret Service) is available"
    if _failed_backend is not None and _failed_backend[0] == id(backend):
        return _failed_backend[1]
    return None


def _warn_once(reason: str) -> None:
    global _warned
    with _lock:
        if _warned:
            return
        _warned = True
    logger.warning("%s: %s", reason, NOT_REMEMBERED)


def _usable_backend() -> keyring.backend.KeyringBackend | None:
    """The active keyring backend when it can keep secrets; otherwise warn (once) and return None."""
    backend = keyring.get_keyring()
    reason = _unusable_reason(backend)
    if reason is None:
        return backend
    _warn_once(reason)
    return None


def _backend_failed(backend: keyring.backend.KeyringBackend, exc: Exception) -> None:
    """``backend`` raised: stop using it for this session and keep secrets in memory."""
    global _failed_backend
    reason = f"the keyring ({_backend_name(backend)}) failed: {type(exc).__name__}: {exc}"
    with _lock:
        _failed_backend = (id(backend), reason)
    _warn_once(reason)


def store_secret(org_key: str, name: str, value: str) -> None:
    """Keep secret ``name`` (``access_token``, ``refresh_token``) of org ``org_key``."""
    if not isinstance(value, str):
        raise TypeError("a secret must be a string")
    user = _username(org_key, name)
    backend = _usable_backend()
    if backend is not None:
        try:
            backend.set_password(SERVICE_NAME, user, value)
        except Exception as exc:  # noqa: BLE001 - any backend failure means "not remembered"
            _backend_failed(backend, exc)
        else:
            with _lock:
                _memory.pop((org_key, name), None)
            logger.debug("stored %s of %s in the keyring", name, org_key)
            return
    with _lock:
        _memory[(org_key, name)] = value
    logger.debug("kept %s of %s in memory for this session", name, org_key)


def get_secret(org_key: str, name: str) -> str | None:
    """Secret ``name`` of org ``org_key``, or None when there is none."""
    user = _username(org_key, name)
    with _lock:
        if (org_key, name) in _memory:
            return _memory[(org_key, name)]
    backend = _usable_backend()
    if backend is None:
        return None
    try:
        return backend.get_password(SERVICE_NAME, user)
    except Exception as exc:  # noqa: BLE001
        _backend_failed(backend, exc)
        return None


def delete_secrets(org_key: str) -> None:
    """Forget every secret of org ``org_key`` (missing ones are fine)."""
    with _lock:
        for name in SECRET_NAMES:
            _memory.pop((org_key, name), None)
    backend = keyring.get_keyring()
    if _unusable_reason(backend) is not None:
        return
    for name in SECRET_NAMES:
        try:
            backend.delete_password(SERVICE_NAME, _username(org_key, name))
        except keyring.errors.PasswordDeleteError:
            pass
        except Exception as exc:  # noqa: BLE001
            logger.warning("could not delete %s of %s from the keyring: %s: %s", name, org_key,
                           type(exc).__name__, exc)


def keyring_status() -> tuple[bool, str]:
    """(usable, text for people) about where credentials are kept."""
    backend = keyring.get_keyring()
    reason = _unusable_reason(backend)
    if reason is not None:
        return False, f"{reason[0].upper()}{reason[1:]}: {NOT_REMEMBERED}."
    return True, f"Credentials are kept in the system keyring ({_backend_name(backend)})."


def _reset_session_state() -> None:
    """Forget in-memory secrets, the warning flag and backend failures (tests)."""
    global _warned, _failed_backend
    with _lock:
        _memory.clear()
        _warned = False
        _failed_backend = None
