"""OAuth 2.0 for the sandbox org: the web-server flow with PKCE, refresh, revoke and identity.

The sandbox has no login page: ``GET /services/oauth2/authorize`` approves at once and
redirects to the (loopback) ``redirect_uri`` with a one-time code for the org named by
``login_hint`` (an org alias, the API user's username or the org id; the first org when no hint
is given). ``POST /services/oauth2/token`` trades the code (checking the PKCE verifier) or a
refresh token for an access token. Tokens are the store's tokens, so the REST API accepts them
and a revoked or expired one answers 401 INVALID_SESSION_ID.

Knobs in ``app.state`` (for tests and demos):

``oauth_access_ttl``
    lifetime of new access tokens in seconds (None or absent: no expiry; 0 or less: born expired).
``oauth_rotate_refresh``
    when truthy, a refresh grant revokes the refresh token it used and returns a new one.
``oauth_deny``
    when truthy, ``authorize`` redirects with ``error=access_denied`` (the user said no).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from werkzeug.wrappers import Response

from .routing import Call, router
from .store import OrgStore

CODE_TTL = 600.0                      # seconds an authorization code stays usable
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
SCOPE = "api refresh_token"
DEFAULT_TIMEZONE = "Europe/London"


@dataclass
class _Grant:
    """One authorization code, waiting to be exchanged."""

    client_id: str
    redirect_uri: str
    code_challenge: str | None
    alias: str
    expires: float


class _OAuthState:
    """Codes and the refresh-token → access-tokens map of one app (``app.state["oauth"]``)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.codes: dict[str, _Grant] = {}
        self.children: dict[str, list[str]] = {}   # refresh token -> access tokens issued from it
        self.secret = secrets.token_bytes(32)       # signs token responses

    def add_code(self, grant: _Grant) -> str:
        code = "aPrx" + secrets.token_urlsafe(48)
        now = time.time()
        with self.lock:
            for stale in [c for c, g in self.codes.items() if g.expires < now]:
                del self.codes[stale]
            self.codes[code] = grant
        return code

    def take_code(self, code: str) -> _Grant | None:
        with self.lock:
            return self.codes.pop(code, None)

    def note_child(self, refresh: str, access: str) -> None:
        with self.lock:
            self.children.setdefault(refresh, []).append(access)

    def pop_children(self, refresh: str) -> list[str]:
        with self.lock:
            return self.children.pop(refresh, [])


def _state(call: Call) -> _OAuthState:
    found = call.app.state.get("oauth")
    if found is None:
        found = call.app.state.setdefault("oauth", _OAuthState())
    return found


def _error(status: int, error: str, description: str, headers: dict[str, str] | None = None) -> Response:
    """An OAuth error body (``{"error", "error_description"}``), never cached."""
    return Response(json.dumps({"error": error, "error_description": description}), status=status,
                    mimetype="application/json", headers={"Cache-Control": "no-store", "Pragma": "no-cache",
                                                          **(headers or {})})


def _ok(body: dict[str, Any]) -> Response:
    return Response(json.dumps(body), status=200, mimetype="application/json",
                    headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


def _params(call: Call) -> dict[str, str]:
    """Form fields, falling back to the query string (the token endpoint takes both)."""
    out = dict(call.request.args.items())
    out.update(call.request.form.items())
    return out


def is_loopback_redirect(uri: str) -> bool:
    """True for ``http://localhost[:port]/...`` and ``http://127.0.0.1[:port]/...`` (and ``[::1]``)."""
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError:
        return False
    return parts.scheme == "http" and (parts.hostname or "") in LOOPBACK_HOSTS and not parts.fragment


def _with_query(uri: str, params: dict[str, str]) -> str:
    parts = urlsplit(uri)
    query = parse_qsl(parts.query, keep_blank_values=True) + [(k, v) for k, v in params.items()]
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def s256(verifier: str) -> str:
    """The PKCE ``S256`` challenge of ``verifier``: base64url(sha256), no padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def _api_user(store: OrgStore) -> dict[str, Any]:
    return store.get("User", store.api_user_id) or {}


def _org_for_hint(call: Call, hint: str) -> str | None:
    """The alias of the org ``login_hint`` names: an alias, the API user's username or the org id."""
    orgs = call.app.orgs
    if hint in orgs:
        return hint
    lowered = hint.strip().lower()
    for alias, store in orgs.items():
        username = str(_api_user(store).get("Username") or "")
        if username and username.lower() == lowered:
            return alias
        if hint.strip() in (store.org_id, store.org_id[:15]):
            return alias
    return None


# ====================================================================== authorize
@router.route("/services/oauth2/authorize", ["GET"], auth=False, counted=False, versioned=False)
def authorize(call: Call) -> Any:
    """Approve at once: 302 to ``redirect_uri?code=...&state=...``."""
    args = call.request.args
    client_id = args.get("client_id", "")
    redirect_uri = args.get("redirect_uri", "")
    if not client_id:
        return _error(400, "invalid_client_id", "client identifier invalid")
    if not redirect_uri or not is_loopback_redirect(redirect_uri):
        return _error(400, "redirect_uri_mismatch", "redirect_uri must match configuration: the sandbox "
                      "accepts http://localhost or http://127.0.0.1 (any port) only")
    if args.get("response_type") != "code":
        return _error(400, "unsupported_response_type", "response type not supported: use response_type=code")
    challenge = args.get("code_challenge") or None
    method = args.get("code_challenge_method") or "S256"
    if challenge is not None and method != "S256":
        return _error(400, "invalid_request", f"code_challenge_method {method} is not supported; use S256")
    state = args.get("state")
    extra = {"state": state} if state is not None else {}
    if call.app.state.get("oauth_deny"):
        return _redirect(_with_query(redirect_uri, {"error": "access_denied",
                                                    "error_description": "end-user denied authorization",
                                                    **extra}))
    hint = args.get("login_hint")
    if hint:
        alias = _org_for_hint(call, hint)
        if alias is None:
            return _redirect(_with_query(redirect_uri, {
                "error": "access_denied", "error_description": f"no sandbox org or user matches {hint}", **extra}))
    else:
        alias = next(iter(call.app.orgs), None)
        if alias is None:
            return _error(400, "invalid_request", "the sandbox has no orgs")
    code = _state(call).add_code(_Grant(client_id, redirect_uri, challenge, alias, time.time() + CODE_TTL))
    return _redirect(_with_query(redirect_uri, {"code": code, **extra}))


def _redirect(location: str) -> Response:
    return Response("", status=302, headers={"Location": location, "Cache-Control": "no-store"})


# ====================================================================== token
def _identity_url(call: Call, store: OrgStore) -> str:
    return f"{call.app.instance_url}/id/{store.org_id}/{store.api_user_id}"


def _token_reply(call: Call, store: OrgStore, client_id: str | None, refresh: str | None,
                 new_refresh: str | None) -> dict[str, Any]:
    """Issue an access token (noting the refresh token it came from) and build the token response."""
    ttl = call.app.state.get("oauth_access_ttl")
    if ttl is not None and float(ttl) <= 0:
        access = store.issue_token("access", client_id=client_id)
        store.expire_token(access)
    else:
        access = store.issue_token("access", ttl=float(ttl) if ttl is not None else None, client_id=client_id)
    if refresh or new_refresh:
        _state(call).note_child(new_refresh or refresh or "", access)
    issued_at = str(int(time.time() * 1000))
    identity = _identity_url(call, store)
    signature = base64.b64encode(hmac.new(_state(call).secret, (identity + issued_at).encode(),
                                          hashlib.sha256).digest()).decode()
    out: dict[str, Any] = {"access_token": access}
    if new_refresh:
        out["refresh_token"] = new_refresh
    out.update({"signature": signature, "scope": SCOPE, "instance_url": call.app.instance_url, "id": identity,
                "token_type": "Bearer", "issued_at": issued_at})
    return out


@router.route("/services/oauth2/token", ["POST"], auth=False, counted=False, versioned=False)
def token(call: Call) -> Any:
    """``grant_type=authorization_code`` (with PKCE) or ``refresh_token``."""
    params = _params(call)
    grant_type = params.get("grant_type", "")
    if grant_type == "authorization_code":
        return _code_grant(call, params)
    if grant_type == "refresh_token":
        return _refresh_grant(call, params)
    return _error(400, "unsupported_grant_type", "grant type not supported")


def _code_grant(call: Call, params: dict[str, str]) -> Response:
    code = params.get("code", "")
    client_id = params.get("client_id", "")
    if not client_id:
        return _error(400, "invalid_client_id", "client identifier invalid")
    grant = _state(call).take_code(code) if code else None   # single use, even when the rest fails
    if grant is None:
        return _error(400, "invalid_grant", "invalid authorization code")
    if grant.expires < time.time():
        return _error(400, "invalid_grant", "expired authorization code")
    if grant.client_id != client_id:
        return _error(400, "invalid_client_id", "client identifier invalid")
    if params.get("redirect_uri", "") != grant.redirect_uri:
        return _error(400, "redirect_uri_mismatch", "redirect_uri must match configuration")
    verifier = params.get("code_verifier")
    if grant.code_challenge is not None:
        if not verifier or not secrets.compare_digest(s256(verifier), grant.code_challenge):
            return _error(400, "invalid_grant", "invalid code verifier")
    elif verifier:
        return _error(400, "invalid_grant", "invalid code verifier")
    store = call.app.orgs.get(grant.alias)
    if store is None:
        return _error(400, "invalid_grant", "authentication failure")
    refresh = store.issue_token("refresh", client_id=client_id)
    return _ok(_token_reply(call, store, client_id, None, refresh))


def _refresh_grant(call: Call, params: dict[str, str]) -> Response:
    refresh = params.get("refresh_token", "")
    client_id = params.get("client_id", "")
    if not client_id:
        return _error(400, "invalid_client_id", "client identifier invalid")
    found = _find_token(call, refresh, "refresh") if refresh else None
    if found is None or found[1].token_state(refresh, "refresh") != "valid":
        return _error(400, "invalid_grant", "expired access/refresh token")
    store = found[1]
    owner = store.token_client(refresh)
    if owner is not None and owner != client_id:
        return _error(400, "invalid_client_id", "client identifier invalid")
    if call.app.state.get("oauth_rotate_refresh"):
        _revoke(call, store, refresh)
        new_refresh = store.issue_token("refresh", client_id=client_id)
        return _ok(_token_reply(call, store, client_id, None, new_refresh))
    return _ok(_token_reply(call, store, client_id, refresh, None))


def _find_token(call: Call, value: str, kind: str) -> tuple[str, OrgStore] | None:
    """The org that issued token ``value`` of ``kind`` (whatever its state now)."""
    for alias, store in call.app.orgs.items():
        if store.token_state(value, kind) != "unknown":
            return alias, store
    return None


def _revoke(call: Call, store: OrgStore, value: str) -> None:
    """Revoke a token and, for a refresh token, the access tokens issued from it."""
    store.revoke_token(value)
    for child in _state(call).pop_children(value):
        store.revoke_token(child)


# ====================================================================== revoke
@router.route("/services/oauth2/revoke", ["GET", "POST"], auth=False, counted=False, versioned=False)
def revoke(call: Call) -> Any:
    """Revoke an access or refresh token: 200 with an empty body, 400 for a token never issued."""
    value = _params(call).get("token", "")
    found = (_find_token(call, value, "access") or _find_token(call, value, "refresh")) if value else None
    if found is None:
        return _error(400, "unsupported_token_type", "this token type is not supported")
    _revoke(call, found[1], value)
    return Response("", status=200, headers={"Cache-Control": "no-store"})


# ====================================================================== identity
def _bearer(call: Call) -> str:
    header = call.request.headers.get("Authorization", "")
    for scheme in ("bearer ", "oauth "):
        if header.lower().startswith(scheme):
            return header[len(scheme):].strip()
    params = _params(call)
    return params.get("access_token") or params.get("oauth_token") or ""


def _invalid_token() -> Response:
    return _error(401, "invalid_token", "access token is invalid, expired or revoked",
                  headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})


def _user_facts(call: Call, store: OrgStore) -> dict[str, Any]:
    """What the userinfo and identity responses share, from the API user's User row."""
    user = _api_user(store)
    base = call.app.instance_url
    first = user.get("FirstName") or ""
    last = user.get("LastName") or ""
    name = user.get("Name") or f"{first} {last}".strip()
    username = user.get("Username") or ""
    modified = str(user.get("LastModifiedDate") or "")
    updated = modified[:19] + "Z" if len(modified) >= 19 else modified
    urls = {
        "enterprise": f"{base}/services/Soap/c/{{version}}/{store.org_id[:15]}",
        "metadata": f"{base}/services/Soap/m/{{version}}/{store.org_id[:15]}",
        "partner": f"{base}/services/Soap/u/{{version}}/{store.org_id[:15]}",
        "rest": f"{base}/services/data/v{{version}}/",
        "sobjects": f"{base}/services/data/v{{version}}/sobjects/",
        "search": f"{base}/services/data/v{{version}}/search/",
        "query": f"{base}/services/data/v{{version}}/query/",
        "recent": f"{base}/services/data/v{{version}}/recent/",
        "tooling_soap": f"{base}/services/Soap/T/{{version}}/{store.org_id[:15]}",
        "tooling_rest": f"{base}/services/data/v{{version}}/tooling/",
        "profile": f"{base}/{store.api_user_id}",
        "custom_domain": base,
    }
    return {"user": user, "name": name, "first": first, "last": last, "username": username,
            "nickname": user.get("Alias") or username.split("@")[0], "email": user.get("Email") or "",
            "updated": updated, "urls": urls, "active": bool(user.get("IsActive", True))}


@router.route("/services/oauth2/userinfo", ["GET", "POST"], auth=False, counted=False, versioned=False)
def userinfo(call: Call) -> Any:
    """OpenID Connect userinfo for the bearer token's user."""
    found = call.app.org_for_token(_bearer(call) or "\x00")
    if found is None:
        return _invalid_token()
    store = found[1]
    facts = _user_facts(call, store)
    return _ok({
        "sub": _identity_url(call, store),
        "user_id": store.api_user_id,
        "organization_id": store.org_id,
        "preferred_username": facts["username"],
        "nickname": facts["nickname"],
        "name": facts["name"],
        "email": facts["email"],
        "email_verified": True,
        "given_name": facts["first"],
        "family_name": facts["last"],
        "zoneinfo": DEFAULT_TIMEZONE,
        "photos": {},
        "profile": facts["urls"]["profile"],
        "picture": "",
        "address": {},
        "is_salesforce_integration_user": False,
        "urls": facts["urls"],
        "active": facts["active"],
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_GB",
        "utcOffset": 0,
        "updated_at": facts["updated"],
        "is_app_installed": True,
    })


@router.route("/id/<org_id>/<user_id>", ["GET", "POST"], auth=False, counted=False, versioned=False)
def identity(call: Call, org_id: str, user_id: str) -> Any:
    """The identity URL a token response names: who the token acts as."""
    found = call.app.org_for_token(_bearer(call) or "\x00")
    if found is None:
        return _invalid_token()
    store = found[1]
    if org_id not in (store.org_id, store.org_id[:15]) or user_id not in (store.api_user_id,
                                                                          store.api_user_id[:15]):
        return _error(403, "bad_id", "the id does not belong to this token's org and user")
    facts = _user_facts(call, store)
    return _ok({
        "id": _identity_url(call, store),
        "asserted_user": True,
        "user_id": store.api_user_id,
        "organization_id": store.org_id,
        "username": facts["username"],
        "nick_name": facts["nickname"],
        "display_name": facts["name"],
        "email": facts["email"],
        "email_verified": True,
        "first_name": facts["first"],
        "last_name": facts["last"],
        "timezone": DEFAULT_TIMEZONE,
        "photos": {},
        "addr_street": None, "addr_city": None, "addr_state": None, "addr_country": None, "addr_zip": None,
        "mobile_phone": None, "mobile_phone_verified": False,
        "is_lightning_login_user": False,
        "status": {"created_date": None, "body": None},
        "urls": facts["urls"],
        "active": facts["active"],
        "user_type": "STANDARD",
        "language": "en_US",
        "locale": "en_GB",
        "utcOffset": 0,
        "last_modified_date": str(facts["user"].get("LastModifiedDate") or ""),
        "is_app_installed": True,
    })
