"""Browser login: the OAuth 2.0 web-server flow with PKCE and a loopback redirect, and token refresh.

This is how the Salesforce CLI logs in, and the same defaults apply: the CLI's public connected
app (client id ``PlatformCLI``, no secret) and the redirect ``http://localhost:1717/OauthRedirect``.

1. :class:`BrowserLogin` makes a PKCE verifier and a random ``state``, starts a
   :class:`LoopbackReceiver` (a one-request HTTP server on 127.0.0.1, served by a background
   thread) and builds the authorize URL on the login host (production ``login.salesforce.com``,
   sandbox ``test.salesforce.com``, a My Domain, or the local sandbox's instance URL).
2. The caller opens that URL in the user's browser (the GUI uses ``QDesktopServices.openUrl``;
   tests fetch it with requests and follow the redirect themselves).
3. Salesforce redirects the browser to the loopback server with ``?code&state``; the page says
   "you can close this tab". ``state`` must match, or the login stops.
4. The code is exchanged, with the verifier, for an access token and a refresh token; the org is
   read (Organization row, userinfo) and registered with auth ``"oauth"``, the tokens going to
   the keyring and the login URL and client id to the registry.

Later, :func:`refresh_access_token` renews an expired access token with the refresh token (the
registry calls it when the org answers 401, mid-sync included) and saves a rotated refresh token.

Nothing here logs, raises or writes a code or token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import http.server
import logging
import os
import secrets as pysecrets
import socket
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import requests

from . import secrets
from .connection import DEFAULT_API_VERSION, make_session
from .registration import (OrgEntry, RegistryError, RegistryLike, normalise_instance_url, register_token_org,
                           secret_key, validate_alias)

logger = logging.getLogger(__name__)

PRODUCTION_LOGIN_URL = "https://login.salesforce.com"
SANDBOX_LOGIN_URL = "https://test.salesforce.com"
#: The Salesforce CLI's public connected app; its only callback is http://localhost:1717/OauthRedirect.
DEFAULT_CLIENT_ID = "PlatformCLI"
DEFAULT_PORT = 1717
CALLBACK_PATH = "/OauthRedirect"
REDIRECT_HOST = "localhost"
DEFAULT_SCOPE = "api refresh_token"
LOGIN_TIMEOUT = 300.0          # seconds the user has to finish logging in in the browser
HTTP_TIMEOUT = 60.0            # seconds to wait for the token endpoint
_POLL = 0.1                    # seconds between checks of cancel/deadline while waiting

Cancelled = Callable[[], bool]


class OAuthError(Exception):
    """A browser login or a token refresh failed; the text is for people and holds no secret."""


class LoginCancelled(OAuthError):
    """The user cancelled the browser login before it finished."""


# ====================================================================== small pieces
def make_pkce() -> tuple[str, str]:
    """A PKCE (verifier, S256 challenge) pair: 64 random url-safe characters and their SHA-256."""
    verifier = pysecrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def normalise_login_url(login_url: str) -> str:
    """``https://host[:port]`` of a login host a user typed; OAuthError when it cannot be one."""
    try:
        url = normalise_instance_url(login_url)
    except RegistryError as exc:
        raise OAuthError(str(exc).replace("instance URL", "login URL")) from None
    host = urlsplit(url).hostname or ""
    if host.endswith(".lightning.force.com"):
        raise OAuthError(f"{login_url!r} is a Lightning address; use the org's My Domain URL instead, "
                         "like https://yourdomain.my.salesforce.com")
    return url


def _scrubbed(text: str, *values: str | None) -> str:
    for value in values:
        if value and len(value) >= 6:
            text = text.replace(value, "***")
    return text


def _token_request(login_url: str, form: dict[str, str], *, ca_file: str | Path | None,
                   what: str) -> dict[str, Any]:
    """POST ``form`` to the token endpoint of ``login_url``; the JSON answer or OAuthError."""
    url = f"{login_url}/services/oauth2/token"
    session = make_session(ca_file)
    secret_values = [form.get("code"), form.get("code_verifier"), form.get("refresh_token")]
    try:
        resp = session.post(url, data=form, timeout=HTTP_TIMEOUT, headers={"Accept": "application/json"})
    except requests.exceptions.SSLError:
        raise OAuthError(f"{what}: the secure connection to {login_url} failed "
                         "(is its certificate trusted? a local sandbox needs its CA file)") from None
    except requests.exceptions.RequestException as exc:
        raise OAuthError(_scrubbed(f"{what}: cannot reach {login_url}: {type(exc).__name__}",
                                   *secret_values)) from None
    finally:
        session.close()
    try:
        body = resp.json()
    except ValueError:
        body = None
    if resp.status_code != 200 or not isinstance(body, dict) or not body.get("access_token"):
        error = str((body or {}).get("error") or f"HTTP {resp.status_code}") if isinstance(body, dict) \
            else f"HTTP {resp.status_code}"
        description = str((body or {}).get("error_description") or "") if isinstance(body, dict) else ""
        text = f"{what}: {login_url} refused it ({error}{': ' + description if description else ''})"
        raise OAuthError(_scrubbed(text, *secret_values))
    return body


@dataclass
class TokenResponse:
    """What the token endpoint answered. The tokens are left out of ``repr``."""

    access_token: str = field(repr=False)
    instance_url: str
    refresh_token: str | None = field(default=None, repr=False)
    identity_url: str | None = None
    scope: str | None = None

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> "TokenResponse":
        if not body.get("instance_url"):
            raise OAuthError("the token answer has no instance_url")
        return cls(access_token=str(body["access_token"]), instance_url=str(body["instance_url"]),
                   refresh_token=body.get("refresh_token") or None, identity_url=body.get("id"),
                   scope=body.get("scope"))


# ====================================================================== the loopback receiver
_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body {{ font-family: -apple-system, "Segoe UI", Roboto, Helvetica, Arial, sans-serif; background: #f3f3f3;
       color: #181818; margin: 0; display: flex; min-height: 100vh; align-items: center; justify-content: center; }}
.card {{ background: white; border: 1px solid #dddbda; border-radius: 8px; padding: 32px 40px; max-width: 520px;
        box-shadow: 0 2px 6px rgba(0,0,0,.06); }}
h1 {{ font-size: 20px; margin: 0 0 12px 0; color: {colour}; }}
p {{ line-height: 1.5; margin: 0; }}
</style></head>
<body><div class="card"><h1>{title}</h1><p>{text}</p></div></body></html>
"""


def _page(title: str, text: str, ok: bool) -> bytes:
    return _PAGE.format(title=html.escape(title), text=html.escape(text),
                        colour="#2e844a" if ok else "#ba0517").encode("utf-8")


class _Handler(http.server.BaseHTTPRequestHandler):
    server: "_OneShotServer"
    server_version = "iSyncSF-Login"
    timeout = 10        # seconds an idle connection (a browser's speculative one) may hold a thread

    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        parts = urlsplit(self.path)
        if parts.path != self.server.callback_path:
            self._reply(404, _page("Not found", "This address only receives the Salesforce login.", False))
            return
        params = {key: values[0] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
        if not params.get("code") and not params.get("error"):
            self._reply(400, _page("Nothing to do", "This page waits for Salesforce to send the login back.",
                                   False))
            return
        if params.get("error"):
            description = params.get("error_description") or params["error"]
            page = _page("Login not completed", f"Salesforce said: {description}. You can close this tab and "
                         "try again from iSyncSF Desktop.", False)
        elif not pysecrets.compare_digest(params.get("state", ""), self.server.expected_state):
            page = _page("Login refused", "This answer does not belong to the login iSyncSF Desktop started "
                         "(the state does not match). You can close this tab and try again.", False)
        else:
            page = _page("You're logged in", "iSyncSF Desktop received the login. You can close this tab and "
                         "return to the app.", True)
        self._reply(200, page)
        self.server.deliver(params)

    def _reply(self, status: int, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        # The request line carries the authorization code: never log it.
        logger.debug("loopback server: %s %s", self.command, urlsplit(self.path).path)


class _OneShotServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    """Each connection on its own daemon thread, so an idle connection cannot hold up the redirect."""

    daemon_threads = True
    # Rebinding right after a previous login (TIME_WAIT) is fine on POSIX; on Windows the flag would
    # let two listeners share the port, so it stays off there.
    allow_reuse_address = os.name != "nt"

    def __init__(self, port: int, callback_path: str, expected_state: str) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.callback_path = callback_path
        self.expected_state = expected_state
        self.params: dict[str, str] | None = None
        self.arrived = threading.Event()
        self._deliver_lock = threading.Lock()

    def deliver(self, params: dict[str, str]) -> None:
        """Keep the first redirect that carries a code or an error."""
        with self._deliver_lock:
            if self.params is None:
                self.params = params
                self.arrived.set()


class LoopbackReceiver:
    """A one-shot HTTP server on 127.0.0.1 that receives the browser's redirect.

    It listens on ``port`` (falling back to a free port when that one is taken; ``0`` picks one)
    and answers on a background thread until the redirect with a ``code`` or ``error`` arrives.
    """

    def __init__(self, expected_state: str, port: int = DEFAULT_PORT, *, host_name: str = REDIRECT_HOST,
                 callback_path: str = CALLBACK_PATH) -> None:
        self.requested_port = port
        try:
            self._server = _OneShotServer(port, callback_path, expected_state)
        except OSError as exc:
            if port == 0:
                raise OAuthError(f"cannot listen on 127.0.0.1 for the login: {exc.strerror}") from None
            logger.info("port %d is taken (%s); listening on a free port for the login", port, exc.strerror)
            try:
                self._server = _OneShotServer(0, callback_path, expected_state)
            except OSError as again:
                raise OAuthError(f"cannot listen on 127.0.0.1 for the login: {again.strerror}") from None
        self._server.timeout = _POLL
        self.port = int(self._server.server_address[1])
        self.redirect_uri = f"http://{host_name}:{self.port}{callback_path}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="oauth-loopback", daemon=True)
        self._thread.start()

    @property
    def fell_back(self) -> bool:
        """True when the requested port was taken and another one is used."""
        return self.requested_port not in (0, self.port)

    def _serve(self) -> None:
        while not self._stop.is_set() and not self._server.arrived.is_set():
            try:
                self._server.handle_request()
            except OSError:   # the socket was closed under us
                return

    def wait(self, timeout: float = LOGIN_TIMEOUT, cancelled: Cancelled | None = None) -> dict[str, str]:
        """The redirect's query parameters; OAuthError after ``timeout``, LoginCancelled on cancel."""
        deadline = time.monotonic() + timeout
        while not self._server.arrived.wait(_POLL):
            if cancelled is not None and cancelled():
                raise LoginCancelled("the login was cancelled")
            if time.monotonic() > deadline:
                raise OAuthError(f"no login arrived from the browser within {timeout:g} seconds; try again")
        assert self._server.params is not None
        return dict(self._server.params)

    def close(self) -> None:
        """Stop listening (safe to call twice)."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._server.server_close()


# ====================================================================== the flow
@dataclass(frozen=True)
class LoginSettings:
    """Where and how to log in.

    ``login_url``: production, sandbox, a My Domain or the local sandbox's instance URL.
    ``client_id``: the connected app (default: the Salesforce CLI's). ``port``: of the loopback
    redirect (0: any free port). ``login_hint``: a user name to pre-fill. ``ca_file``: a CA to
    trust for the login host and the org (a local sandbox, a TLS-inspecting proxy).
    """

    login_url: str = PRODUCTION_LOGIN_URL
    client_id: str = DEFAULT_CLIENT_ID
    port: int = DEFAULT_PORT
    login_hint: str | None = None
    ca_file: str | None = None
    api_version: str = DEFAULT_API_VERSION
    scope: str | None = DEFAULT_SCOPE


class BrowserLogin:
    """One browser login in progress: PKCE verifier, ``state``, the loopback receiver, the authorize URL.

    Use as a context manager (the receiver stops on exit). Open :attr:`authorize_url` in a
    browser, then call :meth:`wait_for_code` and :meth:`exchange` (or :func:`complete_login`).
    """

    def __init__(self, settings: LoginSettings) -> None:
        login_url = normalise_login_url(settings.login_url)
        client_id = (settings.client_id or "").strip() or DEFAULT_CLIENT_ID
        if not 0 <= int(settings.port) <= 65535:
            raise OAuthError(f"port {settings.port} is not a valid port (1 to 65535, or 0 for any free port)")
        self.settings = LoginSettings(login_url=login_url, client_id=client_id, port=int(settings.port),
                                      login_hint=(settings.login_hint or "").strip() or None,
                                      ca_file=settings.ca_file or None, api_version=settings.api_version,
                                      scope=settings.scope)
        self._verifier, challenge = make_pkce()
        self.state = pysecrets.token_urlsafe(24)
        self.receiver = LoopbackReceiver(self.state, self.settings.port)
        if self.receiver.fell_back and client_id == DEFAULT_CLIENT_ID:
            logger.warning("port %d is taken, so the login redirect uses port %d; the Salesforce CLI's connected "
                           "app only accepts port %d: close what uses it, or use your own connected app",
                           self.settings.port, self.receiver.port, DEFAULT_PORT)
        query = {"response_type": "code", "client_id": client_id, "redirect_uri": self.receiver.redirect_uri,
                 "state": self.state, "code_challenge": challenge, "code_challenge_method": "S256"}
        if self.settings.scope:
            query["scope"] = self.settings.scope
        if self.settings.login_hint:
            query["login_hint"] = self.settings.login_hint
        self.authorize_url = f"{login_url}/services/oauth2/authorize?{urlencode(query)}"

    def __enter__(self) -> "BrowserLogin":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        self.receiver.close()

    @property
    def redirect_uri(self) -> str:
        return self.receiver.redirect_uri

    def wait_for_code(self, timeout: float = LOGIN_TIMEOUT, cancelled: Cancelled | None = None) -> str:
        """The authorization code from the redirect, once ``state`` is checked."""
        params = self.receiver.wait(timeout, cancelled)
        if params.get("error"):
            description = params.get("error_description") or params["error"]
            raise OAuthError(f"the login was not completed: {description}")
        if not pysecrets.compare_digest(params.get("state", ""), self.state):
            raise OAuthError("the login was refused: its answer does not belong to this login (state mismatch)")
        return params["code"]

    def exchange(self, code: str) -> TokenResponse:
        """Trade ``code`` (with the PKCE verifier) for tokens."""
        body = _token_request(self.settings.login_url, {
            "grant_type": "authorization_code", "code": code, "client_id": self.settings.client_id,
            "redirect_uri": self.redirect_uri, "code_verifier": self._verifier},
            ca_file=self.settings.ca_file, what="the login could not be completed")
        return TokenResponse.from_json(body)


def register_oauth_org(registry: RegistryLike, alias: str, tokens: TokenResponse, settings: LoginSettings, *,
                       replace: bool = False) -> OrgEntry:
    """Read the org behind ``tokens`` and register it with auth ``"oauth"``."""
    if not tokens.refresh_token:
        logger.warning("the connected app gave no refresh token for %s: the org must be logged in again "
                       "when its session ends", alias)
    try:
        return register_token_org(registry, alias, tokens.instance_url, tokens.access_token,
                                  ca_file=settings.ca_file, version=settings.api_version, auth="oauth",
                                  refresh_token=tokens.refresh_token, replace=replace,
                                  login_url=settings.login_url, client_id=settings.client_id)
    except RegistryError as exc:
        raise OAuthError(str(exc)) from None


def complete_login(registry: RegistryLike, alias: str, login: BrowserLogin, *, timeout: float = LOGIN_TIMEOUT,
                   cancelled: Cancelled | None = None, replace: bool = False) -> OrgEntry:
    """Wait for the browser's redirect, exchange the code, read the org and register it."""
    code = login.wait_for_code(timeout, cancelled)
    if cancelled is not None and cancelled():
        raise LoginCancelled("the login was cancelled")
    tokens = login.exchange(code)
    entry = register_oauth_org(registry, alias, tokens, login.settings, replace=replace)
    logger.info("logged in to %s (%s) through the browser", alias, entry.instance_url)
    return entry


def browser_login(registry: RegistryLike, alias: str, settings: LoginSettings, open_browser: Callable[[str], Any],
                  *, timeout: float = LOGIN_TIMEOUT, cancelled: Cancelled | None = None,
                  replace: bool = False) -> OrgEntry:
    """The whole flow: check the alias, open the browser on the authorize URL, register the org."""
    try:
        validate_alias(alias)
    except RegistryError as exc:
        raise OAuthError(str(exc)) from None
    if alias in registry and not replace:
        raise OAuthError(f"an org named {alias!r} is already registered; remove it or pick another alias")
    with BrowserLogin(settings) as login:
        open_browser(login.authorize_url)
        return complete_login(registry, alias, login, timeout=timeout, cancelled=cancelled, replace=replace)


# ====================================================================== refresh and revoke
def refresh_access_token(entry: OrgEntry, refresh_token: str | None) -> str:
    """A new access token for ``entry`` from its refresh token (the registry's refresh callback).

    When the org rotates refresh tokens, the new refresh token is saved in the keyring at once
    (the old one no longer works).
    """
    if not refresh_token:
        raise OAuthError(f"org {entry.alias} has no stored refresh token; log in to it again")
    login_url = entry.login_url or entry.instance_url
    body = _token_request(login_url, {"grant_type": "refresh_token", "refresh_token": refresh_token,
                                      "client_id": entry.client_id or DEFAULT_CLIENT_ID},
                          ca_file=entry.ca_file, what=f"the session of org {entry.alias} could not be renewed")
    new_refresh = body.get("refresh_token")
    if new_refresh and new_refresh != refresh_token:
        secrets.store_secret(secret_key(entry), "refresh_token", str(new_refresh))
        logger.info("%s: the org rotated its refresh token; the new one is saved", entry.alias)
    logger.info("%s: access token renewed", entry.alias)
    return str(body["access_token"])


def revoke_token(entry: OrgEntry, token: str) -> bool:
    """Ask the org to revoke ``token`` (best effort, e.g. when an org is removed); True when it did."""
    login_url = entry.login_url or entry.instance_url
    session = make_session(entry.ca_file)
    try:
        resp = session.post(f"{login_url}/services/oauth2/revoke", data={"token": token}, timeout=HTTP_TIMEOUT)
    except requests.exceptions.RequestException as exc:
        logger.info("%s: could not revoke its token (%s)", entry.alias, type(exc).__name__)
        return False
    finally:
        session.close()
    if resp.status_code != 200:
        logger.info("%s: the org did not revoke its token (HTTP %d)", entry.alias, resp.status_code)
        return False
    return True


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:``port`` (shown next to the port setting)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
