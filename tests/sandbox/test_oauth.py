"""OAuth 2.0 of the sandbox org: authorize (PKCE), token, refresh, revoke, userinfo and identity.

Unit tests drive the WSGI app with werkzeug's test client over tiny in-test orgs; the
end-to-end tests play the browser with requests against the HTTPS server and then use the
token with simple-salesforce.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from werkzeug.test import Client, TestResponse

from isyncsf_desktop.sandbox.app import SandboxApp
from isyncsf_desktop.sandbox.oauth import is_loopback_redirect, s256
from isyncsf_desktop.sandbox.seeds import Seed, SeedRecord
from isyncsf_desktop.sandbox.store import OrgStore

INSTANCE = "https://127.0.0.1:8443"
REDIRECT = "http://127.0.0.1:53682/callback"
CLIENT = "isyncsf-desktop"

SCHEMA: dict[str, Any] = {"objects": {
    "User": {"keyPrefix": "005", "fields": {
        "Username": {"type": "string", "required": True}, "LastName": {"type": "string", "required": True},
        "FirstName": {"type": "string"}, "Name": {"type": "string"}, "Email": {"type": "email"},
        "Alias": {"type": "string"}, "IsActive": {"type": "boolean"}}},
    "Account": {"keyPrefix": "001", "fields": {"Name": {"type": "string", "required": True}}},
}}


def _seed(alias: str) -> Seed:
    return Seed(name=alias, schema_document=SCHEMA, api_user="api", records=[
        SeedRecord("User", "api", {"Username": f"integration@{alias}.demo", "LastName": "Api",
                                   "FirstName": "Ada", "Name": "Ada Api", "Email": f"ada@{alias}.demo",
                                   "Alias": "aapi", "IsActive": True}),
        SeedRecord("Account", "a1", {"Name": f"{alias} account"}),
    ])


@pytest.fixture
def app(tmp_path: Path) -> Iterator[SandboxApp]:
    """Two tiny orgs, "source" (first) and "target"."""
    stores = {}
    for alias, pod in zip(("source", "target"), ("S1", "T2")):   # two pods: a random one could repeat (1 in 240)
        store = OrgStore(tmp_path / f"{alias}.sqlite3")
        store.initialise(_seed(alias), pod=pod)
        stores[alias] = store
    yield SandboxApp(stores, instance_url=INSTANCE)
    for store in stores.values():
        store.close()


@pytest.fixture
def client(app: SandboxApp) -> Client:
    return Client(app)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).decode().rstrip("=")
    return verifier, challenge


def _authorize(client: Client, challenge: str | None = None, **params: str) -> TestResponse:
    query = {"response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "state": "st-1", **params}
    if challenge is not None:
        query.update(code_challenge=challenge, code_challenge_method="S256")
    return client.get("/services/oauth2/authorize", query_string=query)


def _location(resp: TestResponse) -> dict[str, str]:
    assert resp.status_code == 302, resp.get_data(as_text=True)
    parts = urlsplit(resp.headers["Location"])
    return {k: v[0] for k, v in parse_qs(parts.query).items()}


def _code(client: Client, **params: str) -> tuple[str, str]:
    verifier, challenge = _pkce()
    return _location(_authorize(client, challenge, **params))["code"], verifier


def _exchange(client: Client, the_code: str, verifier: str | None, **over: str) -> TestResponse:
    form = {"grant_type": "authorization_code", "code": the_code, "client_id": CLIENT, "redirect_uri": REDIRECT}
    if verifier is not None:
        form["code_verifier"] = verifier
    form.update(over)
    return client.post("/services/oauth2/token", data=form)


def _login(client: Client, **params: str) -> dict[str, Any]:
    code, verifier = _code(client, **params)
    resp = _exchange(client, code, verifier)
    assert resp.status_code == 200, resp.json
    return resp.json


def _api(client: Client, token: str) -> TestResponse:
    return client.get("/services/data/v59.0/limits", headers={"Authorization": f"Bearer {token}"})


def _refresh(client: Client, refresh: str, client_id: str = CLIENT) -> TestResponse:
    return client.post("/services/oauth2/token", data={"grant_type": "refresh_token", "refresh_token": refresh,
                                                       "client_id": client_id})


# ====================================================================== authorize
def test_authorize_redirects_back_with_a_code_and_the_state(client: Client) -> None:
    resp = _authorize(client, _pkce()[1], prompt="login")
    target = urlsplit(resp.headers["Location"])
    assert (target.scheme, target.netloc, target.path) == ("http", "127.0.0.1:53682", "/callback")
    params = _location(resp)
    assert params["state"] == "st-1" and len(params["code"]) > 40


def test_authorize_keeps_the_redirect_uris_own_query(client: Client) -> None:
    resp = _authorize(client, redirect_uri="http://localhost:8080/cb?tab=orgs")
    assert resp.headers["Location"].startswith("http://localhost:8080/cb?tab=orgs&code=")


@pytest.mark.parametrize("params, error", [
    ({"client_id": ""}, "invalid_client_id"),
    ({"redirect_uri": "https://evil.example/cb"}, "redirect_uri_mismatch"),
    ({"redirect_uri": "http://example.com:53682/cb"}, "redirect_uri_mismatch"),
    ({"redirect_uri": "https://127.0.0.1:53682/cb"}, "redirect_uri_mismatch"),
    ({"redirect_uri": ""}, "redirect_uri_mismatch"),
    ({"response_type": "token"}, "unsupported_response_type"),
    ({"code_challenge": "abc", "code_challenge_method": "plain"}, "invalid_request"),
])
def test_authorize_refuses_bad_requests_without_redirecting(client: Client, params: dict[str, str],
                                                            error: str) -> None:
    resp = _authorize(client, **params)
    assert resp.status_code == 400
    assert "Location" not in resp.headers
    assert resp.json["error"] == error and resp.json["error_description"]


@pytest.mark.parametrize("uri, ok", [
    ("http://127.0.0.1:1/x", True), ("http://localhost/", True), ("http://[::1]:9/cb", True),
    ("http://127.0.0.1.evil.example/", False), ("http://localhost:99999/", False), ("ftp://localhost/", False),
])
def test_loopback_redirect_check(uri: str, ok: bool) -> None:
    assert is_loopback_redirect(uri) is ok


def test_login_hint_chooses_the_org(client: Client, app: SandboxApp) -> None:
    target = app.orgs["target"]
    for hint in ("target", "Integration@Target.demo", target.org_id, target.org_id[:15]):
        reply = _login(client, login_hint=hint)
        assert reply["id"].endswith(f"/id/{target.org_id}/{target.api_user_id}"), hint
        assert app.org_for_token(reply["access_token"]) == ("target", target)
    assert app.org_for_token(_login(client)["access_token"])[0] == "source"   # type: ignore[index]


def test_unknown_login_hint_and_deny_knob_redirect_with_access_denied(client: Client, app: SandboxApp) -> None:
    params = _location(_authorize(client, login_hint="nobody@nowhere"))
    assert params["error"] == "access_denied" and params["state"] == "st-1" and "code" not in params
    app.state["oauth_deny"] = True
    params = _location(_authorize(client))
    assert params == {"error": "access_denied", "error_description": "end-user denied authorization",
                      "state": "st-1"}


# ====================================================================== token: authorization_code
def test_code_exchange_returns_a_working_token(client: Client, app: SandboxApp) -> None:
    code, verifier = _code(client)
    resp = _exchange(client, code, verifier)
    assert resp.status_code == 200
    assert resp.headers["Cache-Control"] == "no-store"
    body = resp.json
    source = app.orgs["source"]
    assert set(body) == {"access_token", "refresh_token", "signature", "scope", "instance_url", "id",
                         "token_type", "issued_at"}
    assert body["scope"] == "api refresh_token" and body["token_type"] == "Bearer"
    assert body["instance_url"] == INSTANCE
    assert body["id"] == f"{INSTANCE}/id/{source.org_id}/{source.api_user_id}"
    assert body["issued_at"].isdigit() and abs(int(body["issued_at"]) / 1000 - time.time()) < 60
    assert base64.b64decode(body["signature"])
    assert body["access_token"].startswith(source.org_id[:15] + "!")
    assert source.token_client(body["access_token"]) == CLIENT
    assert source.token_state(body["refresh_token"], "refresh") == "valid"
    assert _api(client, body["access_token"]).status_code == 200
    assert _api(client, body["refresh_token"]).status_code == 401       # a refresh token is no bearer


def test_code_is_single_use(client: Client) -> None:
    code, verifier = _code(client)
    assert _exchange(client, code, verifier).status_code == 200
    again = _exchange(client, code, verifier)
    assert again.status_code == 400
    assert again.json == {"error": "invalid_grant", "error_description": "invalid authorization code"}


@pytest.mark.parametrize("change, error", [
    ({"code_verifier": "wrong-verifier-wrong-verifier-wrong-verifier"}, "invalid_grant"),
    ({"code_verifier": ""}, "invalid_grant"),
    ({"redirect_uri": "http://127.0.0.1:53682/other"}, "redirect_uri_mismatch"),
    ({"client_id": "someone-else"}, "invalid_client_id"),
    ({"client_id": ""}, "invalid_client_id"),
    ({"code": "not-a-code"}, "invalid_grant"),
    ({"grant_type": "password"}, "unsupported_grant_type"),
])
def test_code_exchange_failures(client: Client, change: dict[str, str], error: str) -> None:
    code, verifier = _code(client)
    resp = _exchange(client, code, verifier, **change)
    assert resp.status_code == 400
    assert resp.json["error"] == error and resp.json["error_description"]
    assert "access_token" not in resp.json


def test_a_failed_exchange_burns_the_code(client: Client) -> None:
    code, verifier = _code(client)
    assert _exchange(client, code, "bad-verifier").status_code == 400
    assert _exchange(client, code, verifier).json["error"] == "invalid_grant"


def test_verifier_without_a_challenge_is_refused_and_no_pkce_still_works(client: Client) -> None:
    code = _location(_authorize(client))["code"]
    assert _exchange(client, code, "unexpected").json["error"] == "invalid_grant"
    code = _location(_authorize(client))["code"]
    assert _exchange(client, code, None).status_code == 200


def test_expired_code_is_refused(client: Client, monkeypatch: pytest.MonkeyPatch) -> None:
    code, verifier = _code(client)
    real = time.time
    monkeypatch.setattr("isyncsf_desktop.sandbox.oauth.time.time", lambda: real() + 601)
    resp = _exchange(client, code, verifier)
    assert resp.json == {"error": "invalid_grant", "error_description": "expired authorization code"}


def test_s256_is_unpadded_base64url_sha256() -> None:
    verifier, challenge = _pkce()
    assert s256(verifier) == challenge
    assert len(challenge) == 43 and "=" not in challenge and "+" not in challenge and "/" not in challenge


# ====================================================================== token: refresh_token
def test_refresh_issues_a_new_access_token(client: Client) -> None:
    first = _login(client)
    resp = _refresh(client, first["refresh_token"])
    assert resp.status_code == 200
    body = resp.json
    assert "refresh_token" not in body
    assert body["access_token"] != first["access_token"]
    assert body["id"] == first["id"] and body["instance_url"] == INSTANCE
    assert _api(client, body["access_token"]).status_code == 200
    assert _api(client, first["access_token"]).status_code == 200       # the old one stays valid
    assert _refresh(client, first["refresh_token"]).status_code == 200  # no rotation: reusable


def test_refresh_failures(client: Client) -> None:
    first = _login(client)
    bad = _refresh(client, "5Aepnot-a-token")
    assert bad.status_code == 400
    assert bad.json == {"error": "invalid_grant", "error_description": "expired access/refresh token"}
    assert _refresh(client, first["access_token"]).json["error"] == "invalid_grant"   # wrong kind
    assert _refresh(client, first["refresh_token"], client_id="").json["error"] == "invalid_client_id"
    assert _refresh(client, first["refresh_token"], client_id="other").json["error"] == "invalid_client_id"


def test_refresh_rotation_revokes_the_used_token(client: Client, app: SandboxApp) -> None:
    app.state["oauth_rotate_refresh"] = True
    first = _login(client)
    body = _refresh(client, first["refresh_token"]).json
    assert body["refresh_token"] != first["refresh_token"]
    again = _refresh(client, first["refresh_token"])
    assert again.status_code == 400 and again.json["error"] == "invalid_grant"
    assert _api(client, first["access_token"]).status_code == 401        # children of a revoked refresh
    assert _api(client, body["access_token"]).status_code == 200
    assert _refresh(client, body["refresh_token"]).status_code == 200


def test_access_token_lifetime_follows_the_state_knob(client: Client, app: SandboxApp) -> None:
    app.state["oauth_access_ttl"] = 0
    born_expired = _login(client)
    resp = _api(client, born_expired["access_token"])
    assert resp.status_code == 401 and resp.json[0]["errorCode"] == "INVALID_SESSION_ID"
    app.state["oauth_access_ttl"] = 0.3
    short = _refresh(client, born_expired["refresh_token"]).json["access_token"]
    assert _api(client, short).status_code == 200
    time.sleep(0.4)
    assert _api(client, short).status_code == 401
    app.state["oauth_access_ttl"] = None
    assert _api(client, _refresh(client, born_expired["refresh_token"]).json["access_token"]).status_code == 200


# ====================================================================== revoke
def test_revoke_an_access_token(client: Client) -> None:
    body = _login(client)
    resp = client.post("/services/oauth2/revoke", data={"token": body["access_token"]})
    assert resp.status_code == 200 and resp.get_data() == b""
    assert _api(client, body["access_token"]).status_code == 401
    assert _refresh(client, body["refresh_token"]).status_code == 200     # the refresh token lives on


def test_revoke_a_refresh_token_by_get_also_ends_its_access_tokens(client: Client) -> None:
    body = _login(client)
    child = _refresh(client, body["refresh_token"]).json["access_token"]
    resp = client.get("/services/oauth2/revoke", query_string={"token": body["refresh_token"]})
    assert resp.status_code == 200
    assert _refresh(client, body["refresh_token"]).json["error"] == "invalid_grant"
    assert _api(client, body["access_token"]).status_code == 401
    assert _api(client, child).status_code == 401


@pytest.mark.parametrize("form", [{"token": "nope"}, {}])
def test_revoke_unknown_token(client: Client, form: dict[str, str]) -> None:
    resp = client.post("/services/oauth2/revoke", data=form)
    assert resp.status_code == 400
    assert resp.json == {"error": "unsupported_token_type", "error_description": "this token type is not supported"}


# ====================================================================== userinfo and identity
def test_userinfo_describes_the_api_user(client: Client, app: SandboxApp) -> None:
    body = _login(client, login_hint="target")
    resp = client.get("/services/oauth2/userinfo", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert resp.status_code == 200
    info = resp.json
    target = app.orgs["target"]
    assert info["sub"] == body["id"]
    assert (info["user_id"], info["organization_id"]) == (target.api_user_id, target.org_id)
    assert info["preferred_username"] == "integration@target.demo"
    assert (info["name"], info["given_name"], info["family_name"]) == ("Ada Api", "Ada", "Api")
    assert info["nickname"] == "aapi" and info["email"] == "ada@target.demo"
    assert info["zoneinfo"] == "Europe/London" and info["locale"] == "en_GB" and info["language"] == "en_US"
    assert info["active"] is True and info["user_type"] == "STANDARD" and info["is_app_installed"] is True
    assert info["utcOffset"] == 0 and info["updated_at"].endswith("Z")
    assert info["urls"]["rest"] == f"{INSTANCE}/services/data/v{{version}}/"
    assert info["urls"]["sobjects"] == f"{INSTANCE}/services/data/v{{version}}/sobjects/"
    assert info["urls"]["query"] == f"{INSTANCE}/services/data/v{{version}}/query/"


@pytest.mark.parametrize("header", ["Bearer nope", "", "Basic abc"])
def test_userinfo_needs_a_valid_token(client: Client, header: str) -> None:
    resp = client.get("/services/oauth2/userinfo", headers={"Authorization": header} if header else {})
    assert resp.status_code == 401
    assert resp.json["error"] == "invalid_token"
    assert "invalid_token" in resp.headers["WWW-Authenticate"]


def test_identity_url_answers_for_its_own_token_only(client: Client, app: SandboxApp) -> None:
    body = _login(client)
    path = urlsplit(body["id"]).path
    auth = {"Authorization": f"Bearer {body['access_token']}"}
    resp = client.get(path, headers=auth)
    assert resp.status_code == 200
    info = resp.json
    source = app.orgs["source"]
    assert info["id"] == body["id"] and info["username"] == "integration@source.demo"
    assert info["display_name"] == "Ada Api" and info["organization_id"] == source.org_id
    assert info["user_id"] == source.api_user_id and info["urls"]["rest"].endswith("/services/data/v{version}/")
    other = app.orgs["target"]
    wrong = client.get(f"/id/{other.org_id}/{other.api_user_id}", headers=auth)
    assert wrong.status_code == 403
    assert client.get(path).status_code == 401


# ====================================================================== end to end over HTTPS
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    from isyncsf_desktop.sandbox.server import SandboxServer

    with SandboxServer(tmp_path_factory.mktemp("oauth-e2e"), orgs={"source": "empty", "target": "empty"}) as srv:
        yield srv


@pytest.fixture
def http(server: Any) -> Iterator[Any]:
    import requests

    session = requests.Session()
    session.verify = str(server.ca_file)
    session.trust_env = False
    yield session
    session.close()
    assert server.app is not None
    for knob in ("oauth_access_ttl", "oauth_rotate_refresh"):
        server.app.state.pop(knob, None)


def _browser_login(server: Any, http: Any, **extra: str) -> dict[str, Any]:
    verifier, challenge = _pkce()
    resp = http.get(f"{server.instance_url}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": CLIENT, "redirect_uri": REDIRECT, "state": "xyz",
        "code_challenge": challenge, "code_challenge_method": "S256", **extra})
    assert resp.status_code == 302
    params = {k: v[0] for k, v in parse_qs(urlsplit(resp.headers["Location"]).query).items()}
    assert params["state"] == "xyz"
    token = http.post(f"{server.instance_url}/services/oauth2/token", data={
        "grant_type": "authorization_code", "code": params["code"], "client_id": CLIENT,
        "redirect_uri": REDIRECT, "code_verifier": verifier})
    assert token.status_code == 200, token.text
    return token.json()


def test_e2e_login_use_refresh_and_revoke(server: Any, http: Any) -> None:
    from simple_salesforce import Salesforce
    from simple_salesforce.exceptions import SalesforceExpiredSession

    body = _browser_login(server, http, login_hint="target")
    assert body["instance_url"] == server.instance_url
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=http)
    assert sf.query("SELECT Id FROM Organization")["records"][0]["Id"] == server.store("target").org_id
    who = http.get(f"{server.instance_url}/services/oauth2/userinfo",
                   headers={"Authorization": f"Bearer {body['access_token']}"}).json()
    assert who["organization_id"] == server.store("target").org_id

    fresh = http.post(f"{server.instance_url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": CLIENT}).json()
    sf2 = Salesforce(instance_url=fresh["instance_url"], session_id=fresh["access_token"], session=http)
    assert sf2.query("SELECT COUNT() FROM User")["totalSize"] >= 1

    assert http.post(f"{server.instance_url}/services/oauth2/revoke",
                     data={"token": body["refresh_token"]}).status_code == 200
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf2.query("SELECT Id FROM User")
    assert expired.value.content[0]["errorCode"] == "INVALID_SESSION_ID"
    bad = http.post(f"{server.instance_url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": CLIENT})
    assert bad.status_code == 400 and bad.json()["error"] == "invalid_grant"


def test_e2e_expired_access_token_gives_401_and_refresh_recovers(server: Any, http: Any) -> None:
    from simple_salesforce import Salesforce
    from simple_salesforce.exceptions import SalesforceExpiredSession

    assert server.app is not None
    server.app.state["oauth_access_ttl"] = 0.5
    body = _browser_login(server, http)
    sf = Salesforce(instance_url=body["instance_url"], session_id=body["access_token"], session=http)
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1
    time.sleep(0.7)
    with pytest.raises(SalesforceExpiredSession) as expired:
        sf.query("SELECT Id FROM Organization")
    assert expired.value.status == 401
    assert expired.value.content == [{"message": "Session expired or invalid", "errorCode": "INVALID_SESSION_ID"}]
    server.app.state["oauth_access_ttl"] = None
    fresh = http.post(f"{server.instance_url}/services/oauth2/token", data={
        "grant_type": "refresh_token", "refresh_token": body["refresh_token"], "client_id": CLIENT}).json()
    sf = Salesforce(instance_url=fresh["instance_url"], session_id=fresh["access_token"], session=http)
    assert sf.query("SELECT Id FROM Organization")["totalSize"] == 1


def test_e2e_bad_redirect_is_an_error_page_not_a_redirect(server: Any, http: Any) -> None:
    resp = http.get(f"{server.instance_url}/services/oauth2/authorize", allow_redirects=False, params={
        "response_type": "code", "client_id": CLIENT, "redirect_uri": "https://attacker.example/cb"})
    assert resp.status_code == 400 and resp.json()["error"] == "redirect_uri_mismatch"
