"""Browser login (OAuth 2.0 web-server flow with PKCE and a loopback redirect) against the sandbox's
OAuth endpoints, then token expiry and renewal, including in the middle of a sync.

The tests play the browser: they GET the authorize URL with requests (trusting the sandbox's CA,
not following the redirect), then GET the ``Location`` on the app's loopback server.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from isyncsf_desktop.engine.events import BatchDone, Event
from isyncsf_desktop.engine.journal import Journal, OrgRef
from isyncsf_desktop.engine.runner import SyncEngine
from isyncsf_desktop.salesforce import oauth
from isyncsf_desktop.salesforce.client import SessionExpired
from isyncsf_desktop.salesforce.oauth import (DEFAULT_CLIENT_ID, DEFAULT_PORT, BrowserLogin, LoginCancelled,
                                              LoginSettings, OAuthError, browser_login)
from isyncsf_desktop.salesforce.registry import OrgRegistry, register_token_org

CLIENT = "isyncsf-tests"


@pytest.fixture
def server(sandbox_factory: Any) -> Any:
    return sandbox_factory({"src": "empty", "tgt": "empty"})


@pytest.fixture
def browser(server: Any) -> Iterator[Any]:
    """A requests session standing in for the user's browser (trusts the sandbox CA, no proxies)."""
    session = requests.Session()
    session.trust_env = False
    session.verify = str(server.ca_file)
    yield session
    session.close()


def play_browser(browser: requests.Session, seen: list[str] | None = None) -> Callable[[str], None]:
    """An ``open_browser`` that does what the user's browser would: authorize, then follow the redirect."""
    def open_browser(url: str) -> None:
        resp = browser.get(url, allow_redirects=False, timeout=30)
        assert resp.status_code == 302, resp.text
        location = resp.headers["Location"]
        if seen is not None:
            seen.append(location)
        page = browser.get(location, timeout=30)
        assert page.status_code == 200
        assert "You can close this tab" in page.text
    return open_browser


def settings_for(server: Any, hint: str = "tgt", **changes: Any) -> LoginSettings:
    values: dict[str, Any] = dict(login_url=server.instance_url, client_id=CLIENT, port=0, login_hint=hint,
                                  ca_file=str(server.ca_file))
    values.update(changes)
    return LoginSettings(**values)


def query_of(url: str) -> dict[str, str]:
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


# ====================================================================== the authorize URL
def test_authorize_url_has_pkce_state_and_a_loopback_redirect() -> None:
    with BrowserLogin(LoginSettings(port=0, login_hint="me@acme.com")) as login:
        url = login.authorize_url
        assert url.startswith("https://login.salesforce.com/services/oauth2/authorize?")
        query = query_of(url)
        assert query["response_type"] == "code" and query["client_id"] == DEFAULT_CLIENT_ID == "PlatformCLI"
        assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43
        assert query["state"] == login.state and len(login.state) >= 32
        assert query["login_hint"] == "me@acme.com"
        assert query["redirect_uri"] == f"http://localhost:{login.receiver.port}/OauthRedirect"
        assert "refresh_token" in query["scope"]
    with BrowserLogin(LoginSettings(login_url="https://test.salesforce.com/", port=0)) as login:
        assert login.authorize_url.startswith("https://test.salesforce.com/services/oauth2/authorize?")
        assert "login_hint" not in query_of(login.authorize_url)
    with BrowserLogin(LoginSettings(login_url="acme.my.salesforce.com", client_id=" ", port=0)) as login:
        assert login.settings.login_url == "https://acme.my.salesforce.com"
        assert login.settings.client_id == DEFAULT_CLIENT_ID


def test_each_login_has_its_own_state_and_verifier() -> None:
    with BrowserLogin(LoginSettings(port=0)) as one, BrowserLogin(LoginSettings(port=0)) as two:
        assert one.state != two.state
        assert query_of(one.authorize_url)["code_challenge"] != query_of(two.authorize_url)["code_challenge"]
        assert one.receiver.port != two.receiver.port


@pytest.mark.parametrize(("login_url", "message"), [
    ("https://acme.lightning.force.com", "Lightning address"),
    ("ftp://login.salesforce.com", "not a valid login URL"),
    ("", "empty"),
])
def test_bad_login_urls_are_refused(login_url: str, message: str) -> None:
    with pytest.raises(OAuthError, match=message):
        BrowserLogin(LoginSettings(login_url=login_url, port=0))


def test_default_port_is_the_cli_one_and_a_taken_port_falls_back() -> None:
    assert LoginSettings().port == DEFAULT_PORT == 1717
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        taken = busy.getsockname()[1]
        assert not oauth.port_is_free(taken)
        with BrowserLogin(LoginSettings(port=taken, client_id=CLIENT)) as login:
            assert login.receiver.fell_back and login.receiver.port != taken
            assert query_of(login.authorize_url)["redirect_uri"] == f"http://localhost:{login.receiver.port}/OauthRedirect"


# ====================================================================== the whole browser login
def test_browser_login_registers_an_oauth_org(server: Any, browser: requests.Session,
                                              memory_keyring: Any) -> None:
    registry = OrgRegistry()
    seen: list[str] = []
    entry = browser_login(registry, "uat", settings_for(server), play_browser(browser, seen), timeout=30)

    store = server.store("tgt")
    assert (entry.alias, entry.auth, entry.org_type) == ("uat", "oauth", "Local sandbox")
    assert entry.org_id == store.org_id and entry.instance_url == server.instance_url
    assert entry.username == store.get("User", store.api_user_id)["Username"]
    assert entry.login_url == server.instance_url and entry.client_id == CLIENT
    assert entry.ca_file == str(server.ca_file)
    assert registry.get("uat") == entry

    access, refresh = registry.access_token("uat"), registry.refresh_token("uat")
    assert access and refresh
    assert store.token_state(access, "access") == "valid"
    assert store.token_state(refresh, "refresh") == "valid"
    assert store.token_client(access) == CLIENT
    text = registry.path.read_text(encoding="utf-8")
    assert access not in text and refresh not in text
    assert memory_keyring.get_password("iSyncSF Desktop", f"{entry.org_id}/{entry.username}:refresh_token") == refresh

    redirect = query_of(seen[0])
    assert set(redirect) == {"code", "state"} and seen[0].startswith("http://localhost:")
    assert registry.client("uat").organization()["Id"] == store.org_id


def test_login_hint_picks_the_org(server: Any, browser: requests.Session) -> None:
    registry = OrgRegistry()
    entry = browser_login(registry, "dev", settings_for(server, hint="src"), play_browser(browser), timeout=30)
    assert entry.org_id == server.store("src").org_id


def test_an_answer_with_another_state_stops_the_login(server: Any, browser: requests.Session) -> None:
    with BrowserLogin(settings_for(server)) as login:
        forged = f"{login.redirect_uri}?code=stolen-code&state=not-the-state"
        page = browser.get(forged, timeout=30)
        assert page.status_code == 200 and "state does not match" in page.text
        with pytest.raises(OAuthError, match="state mismatch") as caught:
            login.wait_for_code(timeout=30)
        assert "stolen-code" not in str(caught.value)


def test_a_denied_login_is_a_clear_error(server: Any, browser: requests.Session) -> None:
    server.app.state["oauth_deny"] = True
    registry = OrgRegistry()
    with pytest.raises(OAuthError, match="not completed: end-user denied authorization"):
        browser_login(registry, "uat", settings_for(server), play_browser(browser), timeout=30)
    assert registry.list() == []


def test_a_code_for_another_client_is_refused_without_leaking_it(server: Any, browser: requests.Session) -> None:
    with BrowserLogin(settings_for(server)) as login:
        play_browser(browser)(login.authorize_url)
        code = login.wait_for_code(timeout=30)
        login.settings = LoginSettings(**{**login.settings.__dict__, "client_id": "someone-else"})
        with pytest.raises(OAuthError, match="invalid_client_id") as caught:
            login.exchange(code)
        assert code not in str(caught.value)


def test_waiting_can_be_cancelled_or_time_out(server: Any) -> None:
    with BrowserLogin(settings_for(server)) as login:
        with pytest.raises(LoginCancelled):
            login.wait_for_code(timeout=30, cancelled=lambda: True)
        with pytest.raises(OAuthError, match="no login arrived"):
            login.wait_for_code(timeout=0.2)


def test_the_loopback_server_answers_only_its_path(server: Any, browser: requests.Session) -> None:
    with BrowserLogin(settings_for(server)) as login:
        base = login.redirect_uri.rsplit("/", 1)[0]
        assert browser.get(f"{base}/favicon.ico", timeout=30).status_code == 404
        assert browser.get(login.redirect_uri, timeout=30).status_code == 400     # no code, no error
        with pytest.raises(OAuthError, match="no login arrived"):
            login.wait_for_code(timeout=0.2)


def test_an_idle_browser_connection_does_not_hold_up_the_login(server: Any, browser: requests.Session) -> None:
    registry = OrgRegistry()
    idle: list[socket.socket] = []

    def open_browser(url: str) -> None:
        port = int(query_of(url)["redirect_uri"].split(":")[2].split("/")[0])
        idle.append(socket.create_connection(("127.0.0.1", port)))   # a speculative connection, never used
        play_browser(browser)(url)

    try:
        entry = browser_login(registry, "uat", settings_for(server), open_browser, timeout=30)
    finally:
        for sock in idle:
            sock.close()
    assert entry.auth == "oauth"


def test_an_alias_in_use_is_refused_before_the_browser_opens(server: Any) -> None:
    registry = OrgRegistry()
    register_token_org(registry, "uat", server.instance_url, server.token("tgt"), ca_file=server.ca_file)
    opened: list[str] = []
    with pytest.raises(OAuthError, match="already registered"):
        browser_login(registry, "uat", settings_for(server), opened.append)
    with pytest.raises(OAuthError, match="not valid"):
        browser_login(registry, "bad alias", settings_for(server), opened.append)
    assert opened == []


# ====================================================================== refresh
def _login(server: Any, browser: requests.Session, registry: OrgRegistry, alias: str = "tgt",
           hint: str = "tgt") -> None:
    browser_login(registry, alias, settings_for(server, hint=hint), play_browser(browser), timeout=30)


def test_an_expired_token_is_renewed_and_saved(server: Any, browser: requests.Session) -> None:
    registry = OrgRegistry()
    _login(server, browser, registry)
    store = server.store("tgt")
    old = registry.access_token("tgt")
    client = registry.client("tgt", backoff=0)
    store.expire_token(old)
    assert client.count("Account") == 0
    new = registry.access_token("tgt")
    assert new != old and store.token_state(new, "access") == "valid"
    assert client.sf.session_id == new


def test_rotated_refresh_token_is_saved(server: Any, browser: requests.Session) -> None:
    registry = OrgRegistry()
    _login(server, browser, registry)
    server.app.state["oauth_rotate_refresh"] = True
    store = server.store("tgt")
    first_refresh = registry.refresh_token("tgt")
    client = registry.client("tgt", backoff=0)
    store.expire_token(registry.access_token("tgt"))
    client.count("Account")
    second_refresh = registry.refresh_token("tgt")
    assert second_refresh and second_refresh != first_refresh
    assert store.token_state(first_refresh, "refresh") == "revoked"
    assert store.token_state(second_refresh, "refresh") == "valid"
    # and the saved one works next time
    store.expire_token(registry.access_token("tgt"))
    client.count("Account")
    assert registry.refresh_token("tgt") not in (first_refresh, second_refresh)


def test_two_clients_renew_once(server: Any, browser: requests.Session, monkeypatch: pytest.MonkeyPatch) -> None:
    registry = OrgRegistry()
    _login(server, browser, registry)
    server.app.state["oauth_rotate_refresh"] = True
    calls: list[str] = []
    real = oauth.refresh_access_token

    def counting(entry: Any, refresh_token: str | None) -> str:
        calls.append(entry.alias)
        return real(entry, refresh_token)

    monkeypatch.setattr(oauth, "refresh_access_token", counting)
    one, two = registry.client("tgt", backoff=0), registry.client("tgt", backoff=0)
    server.store("tgt").expire_token(registry.access_token("tgt"))
    one.count("Account")
    two.count("Account")
    assert calls == ["tgt"]
    assert one.sf.session_id == two.sf.session_id == registry.access_token("tgt")


def test_a_revoked_login_is_a_clear_session_expired(server: Any, browser: requests.Session) -> None:
    registry = OrgRegistry()
    _login(server, browser, registry)
    refresh = registry.refresh_token("tgt")
    access = registry.access_token("tgt")
    assert browser.post(f"{server.instance_url}/services/oauth2/revoke", data={"token": refresh}).status_code == 200
    client = registry.client("tgt", backoff=0)
    with pytest.raises(SessionExpired) as caught:
        client.count("Account")
    text = str(caught.value)
    assert "could not be renewed" in text and "invalid_grant" in text
    assert refresh not in text and access not in text


def test_refresh_without_a_refresh_token_says_log_in_again(server: Any, browser: requests.Session) -> None:
    registry = OrgRegistry()
    _login(server, browser, registry)
    with pytest.raises(OAuthError, match="log in to it again"):
        oauth.refresh_access_token(registry.get("tgt"), None)


def test_revoke_token_on_remove(server: Any, browser: requests.Session) -> None:
    registry = OrgRegistry()
    _login(server, browser, registry)
    refresh = registry.refresh_token("tgt")
    assert oauth.revoke_token(registry.get("tgt"), refresh)
    assert server.store("tgt").token_state(refresh, "refresh") == "revoked"


# ====================================================================== a sync that outlives its token
def test_token_expiry_mid_sync_is_renewed_without_the_sync_noticing(server: Any, browser: requests.Session,
                                                                    tmp_path: Path) -> None:
    registry = OrgRegistry()
    register_token_org(registry, "source", server.instance_url, server.token("src"), ca_file=server.ca_file)
    _login(server, browser, registry, alias="target", hint="tgt")
    server.app.state["oauth_rotate_refresh"] = True
    store = server.store("tgt")
    first_access, first_refresh = registry.access_token("target"), registry.refresh_token("target")

    source = registry.client("source", backoff=0)
    rows = [{"attributes": {"type": "Account"}, "Name": f"Account {i:03d}", "External_Id__c": f"A{i:03d}"}
            for i in range(450)]
    assert all(r["success"] for r in source.create(rows))

    expired: list[str] = []

    def observer(event: Event) -> None:
        if isinstance(event, BatchDone) and event.object == "Account" and len(expired) < 2:
            token = registry.access_token("target")
            assert token is not None
            store.expire_token(token)          # the org ends the session between two batches
            expired.append(token)

    journal = Journal(tmp_path / "journal.sqlite3")
    try:
        engine = SyncEngine(journal, registry.client("source"), registry.client("target"),
                            OrgRef("source", server.store("src").org_id, server.instance_url),
                            OrgRef("target", store.org_id, server.instance_url), observer=observer)
        job_id = engine.create_job({"name": "t", "options": {"continue_on_error": False},
                                    "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"]}]})
        result = engine.sync(job_id)
    finally:
        journal.close()

    assert len(expired) == 2, "the observer expired the token twice during the sync"
    assert result.state == "Synced", result.message
    assert result.totals.inserted == 450 and result.totals.errors == 0
    assert registry.client("target").count("Account") == 450

    final_access, final_refresh = registry.access_token("target"), registry.refresh_token("target")
    assert final_access not in (first_access, *expired)
    assert store.token_state(final_access, "access") == "valid"
    assert final_refresh != first_refresh
    assert store.token_state(first_refresh, "refresh") == "revoked"
    assert store.token_state(final_refresh, "refresh") == "valid"
