"""The org registry (orgs.json, no secrets) and the keyring wrapper."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keyring
import keyring.backend
import keyring.core
import keyring.errors
import pytest
from keyring.backends import fail, null

from isyncsf_desktop.salesforce import secrets
from isyncsf_desktop.salesforce.client import OrgClient
from isyncsf_desktop.salesforce.registry import (
    ORG_TYPES,
    OrgEntry,
    OrgRegistry,
    RegistryError,
    detect_org_type,
    normalise_instance_url,
    register_token_org,
)
from isyncsf_desktop.salesforce.secrets import MemoryKeyring


@pytest.fixture(autouse=True)
def memory_keyring() -> Iterator[MemoryKeyring]:
    """Each test gets its own in-memory keyring: no test touches the user's real keyring."""
    previous = keyring.get_keyring()
    backend = MemoryKeyring()
    keyring.set_keyring(backend)
    secrets._reset_session_state()
    yield backend
    keyring.set_keyring(previous)
    secrets._reset_session_state()


def entry(alias: str = "prod", **changes: Any) -> OrgEntry:
    values: dict[str, Any] = dict(alias=alias, org_id="00D000000000001AAA", instance_url="https://acme.my.salesforce.com",
                                  username="admin@acme.com", org_type="Production")
    values.update(changes)
    return OrgEntry(**values)


# ---------------------------------------------------------------------- registry
def test_add_list_get_rename_remove(memory_keyring: MemoryKeyring, isolated_home: Path) -> None:
    registry = OrgRegistry()
    assert registry.path == isolated_home / "config" / "orgs.json"
    assert registry.list() == []
    registry.add(entry("prod"), "ACCESS-prod-123456", "REFRESH-prod-123456")
    registry.add(entry("uat", org_type="Sandbox", instance_url="https://acme--uat.sandbox.my.salesforce.com",
                       org_id="00D000000000002AAA"), "ACCESS-uat-123456")
    assert [e.alias for e in registry.list()] == ["prod", "uat"]
    assert registry.get("uat").org_type == "Sandbox"
    assert registry.access_token("prod") == "ACCESS-prod-123456"
    assert registry.refresh_token("prod") == "REFRESH-prod-123456"
    assert registry.refresh_token("uat") is None
    # kept under the org and user, not the alias
    assert memory_keyring.get_password("iSyncSF Desktop", "00D000000000001AAA/admin@acme.com:access_token") == \
        "ACCESS-prod-123456"
    assert memory_keyring.get_password("iSyncSF Desktop", "prod:access_token") is None

    registry.rename("prod", "production")
    assert [e.alias for e in registry.list()] == ["production", "uat"]
    assert registry.access_token("production") == "ACCESS-prod-123456"
    assert registry.refresh_token("production") == "REFRESH-prod-123456"
    assert registry.access_token("prod") is None and registry.refresh_token("prod") is None

    registry.set_tokens("uat", "ACCESS-uat-2", "REFRESH-uat-2")
    assert (registry.access_token("uat"), registry.refresh_token("uat")) == ("ACCESS-uat-2", "REFRESH-uat-2")

    registry.remove("production")
    assert [e.alias for e in registry.list()] == ["uat"]
    assert registry.access_token("production") is None and registry.refresh_token("production") is None
    assert OrgRegistry().get("uat") == registry.get("uat")       # a fresh object reads the same file


def test_registry_file_is_readable_json_without_tokens(isolated_home: Path) -> None:
    registry = OrgRegistry()
    registry.add(entry("prod"), "SECRET-ACCESS-TOKEN-abcdef", "SECRET-REFRESH-TOKEN-abcdef")
    registry.set_tokens("prod", "SECRET-NEW-ACCESS-abcdef")
    registry.touch("prod")
    text = registry.path.read_text(encoding="utf-8")
    assert "SECRET" not in text and "abcdef" not in text
    document = json.loads(text)
    assert document["orgs"][0]["alias"] == "prod"
    assert set(document["orgs"][0]) == set(entry().to_json())      # only the entry's fields, no token keys
    assert "\n  " in text                                   # indented for people
    leftovers = [p for p in registry.path.parent.iterdir() if p.name != "orgs.json"]
    assert leftovers == []                                   # atomic write left no temp file


def test_unknown_alias_lists_the_known_ones() -> None:
    registry = OrgRegistry()
    with pytest.raises(RegistryError, match=r"no org named 'x'; known: none"):
        registry.get("x")
    registry.add(entry("a"), "t-a")
    registry.add(entry("b"), "t-b")
    with pytest.raises(RegistryError, match=r"^no org named 'x'; known: a, b$"):
        registry.get("x")
    with pytest.raises(RegistryError):
        registry.remove("x")
    with pytest.raises(RegistryError):
        registry.set_tokens("x", "t")


@pytest.mark.parametrize("alias", ["", "has space", "slash/", "x" * 65, "semi;colon", "ünï"])
def test_bad_aliases_are_refused(alias: str) -> None:
    with pytest.raises(RegistryError, match="not valid"):
        OrgRegistry().add(entry(alias), "token")


def test_good_aliases(tmp_path: Path) -> None:
    registry = OrgRegistry(tmp_path / "orgs.json")
    for alias in ("a", "Acme-UAT_2", "dev.hub", "x" * 64):
        registry.add(entry(alias), "t")
    assert len(registry.list()) == 4
    assert (tmp_path / "orgs.json").exists()


def test_duplicate_alias_needs_replace(memory_keyring: MemoryKeyring) -> None:
    registry = OrgRegistry()
    registry.add(entry("prod"), "first", "first-refresh")
    with pytest.raises(RegistryError, match="already registered"):
        registry.add(entry("prod", username="other@acme.com"), "second")
    registry.add(entry("prod", username="other@acme.com"), "second", replace=True)
    assert [e.username for e in registry.list()] == ["other@acme.com"]
    assert registry.access_token("prod") == "second"
    assert registry.refresh_token("prod") is None            # the old org's refresh token is gone
    registry.add(entry("uat"), "t")
    with pytest.raises(RegistryError, match="already registered"):
        registry.rename("uat", "prod")


def test_bad_org_type_and_auth_are_refused() -> None:
    with pytest.raises(RegistryError, match="org type"):
        OrgRegistry().add(entry(org_type="Enterprise Edition"), "t")
    with pytest.raises(RegistryError, match="auth kind"):
        OrgRegistry().add(entry(auth="password"), "t")
    with pytest.raises(RegistryError, match="access token"):
        OrgRegistry().add(entry(), "")


def test_touch_sets_last_used() -> None:
    registry = OrgRegistry()
    registry.add(entry(), "t")
    assert registry.get("prod").last_used is None
    registry.touch("prod")
    stamp = registry.get("prod").last_used
    assert stamp and stamp.endswith("+00:00")


def test_corrupt_registry_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "orgs.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(RegistryError, match="not valid JSON"):
        OrgRegistry(path).list()
    path.write_text('{"orgs": 3}', encoding="utf-8")
    with pytest.raises(RegistryError, match="list of orgs"):
        OrgRegistry(path).list()


def test_plain_list_file_and_unknown_keys_are_read(tmp_path: Path) -> None:
    path = tmp_path / "orgs.json"
    path.write_text(json.dumps([{**entry("x").to_json(), "future_key": 1}]), encoding="utf-8")
    assert OrgRegistry(path).get("x") == entry("x")


# ---------------------------------------------------------------------- org type
@pytest.mark.parametrize(("row", "url", "expected"), [
    ({"IsSandbox": False, "OrganizationType": "Enterprise Edition"}, "https://127.0.0.1:8443", "Local sandbox"),
    ({"IsSandbox": True, "OrganizationType": "Enterprise Edition"}, "https://localhost:1234", "Local sandbox"),
    ({"IsSandbox": False}, "https://[::1]:9000", "Local sandbox"),
    ({"IsSandbox": False, "OrganizationType": "Enterprise Edition"}, "https://acme.my.salesforce.com", "Production"),
    ({"IsSandbox": True, "OrganizationType": "Enterprise Edition"},
     "https://acme--uat.sandbox.my.salesforce.com", "Sandbox"),
    ({"IsSandbox": True, "OrganizationType": "Developer Edition", "TrialExpirationDate": "2030-01-01T00:00:00.000+0000"},
     "https://fun-dream-1234-dev-ed.scratch.my.salesforce.com", "Scratch"),
    ({"IsSandbox": False, "OrganizationType": "Developer Edition"}, "https://me-dev-ed.develop.my.salesforce.com",
     "Developer"),
    ({"IsSandbox": False, "OrganizationType": "Unlimited Edition", "TrialExpirationDate": None},
     "acme.my.salesforce.com", "Production"),
])
def test_detect_org_type(row: dict[str, Any], url: str, expected: str) -> None:
    assert detect_org_type(row, url) == expected
    assert expected in ORG_TYPES


@pytest.mark.parametrize(("typed", "expected"), [
    ("https://acme.my.salesforce.com/", "https://acme.my.salesforce.com"),
    ("acme.my.salesforce.com", "https://acme.my.salesforce.com"),
    ("https://acme.my.salesforce.com:443/lightning/page/home", "https://acme.my.salesforce.com"),
    ("https://127.0.0.1:8443", "https://127.0.0.1:8443"),
    (" http://localhost:8443 ", "https://localhost:8443"),
])
def test_normalise_instance_url(typed: str, expected: str) -> None:
    assert normalise_instance_url(typed) == expected


@pytest.mark.parametrize("typed", ["", "https://", "ftp://acme.com", "https://acme com", "https://u:p@acme.com",
                                   "http://acme.my.salesforce.com", "https://acme.com:99999"])
def test_bad_instance_urls(typed: str) -> None:
    with pytest.raises(RegistryError):
        normalise_instance_url(typed)


# ---------------------------------------------------------------------- registering and connecting
def test_register_token_org_against_the_sandbox(demo_server: Any, memory_keyring: MemoryKeyring) -> None:
    registry = OrgRegistry()
    token = demo_server.token("source")
    org = register_token_org(registry, "source", demo_server.instance_url, token, ca_file=demo_server.ca_file)
    assert org.org_type == "Local sandbox"
    assert org.org_id == demo_server.store("source").org_id
    assert org.username == demo_server.store("source").get("User", demo_server.store("source").api_user_id)["Username"]
    assert org.username.startswith("integration@acme.demo.")
    assert org.instance_url == demo_server.instance_url
    assert org.ca_file == str(demo_server.ca_file) and org.auth == "token" and org.last_used
    assert registry.get("source") == org
    assert registry.access_token("source") == token
    assert token not in registry.path.read_text(encoding="utf-8")

    client = registry.client("source", backoff=0)
    assert isinstance(client, OrgClient)
    assert client.alias == "source" and client.org_id == org.org_id
    assert client.organization()["Name"] == "Acme Corp"

    with pytest.raises(RegistryError, match="already registered"):
        register_token_org(registry, "source", demo_server.instance_url, token, ca_file=demo_server.ca_file)


def test_register_with_a_bad_token_is_refused_clearly(demo_server: Any) -> None:
    registry = OrgRegistry()
    with pytest.raises(RegistryError) as caught:
        register_token_org(registry, "bad", demo_server.instance_url, "00Dbogus!not-a-real-token",
                           ca_file=demo_server.ca_file)
    assert str(caught.value) == "the org refused the access token: Session expired or invalid"
    assert "not-a-real-token" not in str(caught.value)
    assert registry.list() == []
    assert registry.access_token("bad") is None


def test_register_with_a_bad_or_unreachable_url(sandbox_factory: Any) -> None:
    registry = OrgRegistry()
    with pytest.raises(RegistryError, match="not a valid instance URL"):
        register_token_org(registry, "x", "not a url", "token")
    server = sandbox_factory({"qa": "empty"})
    url, ca_file, token = server.instance_url, server.ca_file, server.token("qa")
    server.stop()
    with pytest.raises(RegistryError, match="cannot reach the org at https://127.0.0.1:"):
        register_token_org(registry, "x", url, token, ca_file=ca_file)
    assert registry.list() == []


def test_register_a_demo_target_is_a_local_sandbox_and_empty_org_too(sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "empty"})
    registry = OrgRegistry()
    org = register_token_org(registry, "qa", server.instance_url, server.token("qa"), ca_file=server.ca_file,
                             auth="sandbox")
    assert org.org_type == "Local sandbox" and org.auth == "sandbox"
    assert org.org_id == server.store("qa").org_id


def test_client_renews_and_stores_an_expired_token(sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "empty"})
    store = server.store("qa")
    old, new = store.issue_token("access"), store.issue_token("access")
    registry = OrgRegistry()
    register_token_org(registry, "qa", server.instance_url, old, ca_file=server.ca_file, refresh_token="R-1")
    seen: list[tuple[str, str | None]] = []

    def refresh(org: OrgEntry, refresh_token: str | None) -> str:
        seen.append((org.alias, refresh_token))
        return new

    client = registry.client("qa", refresh=refresh, backoff=0)
    store.expire_token(old)
    assert client.count("Account") == 0
    assert seen == [("qa", "R-1")]
    assert registry.access_token("qa") == new


def test_client_without_a_stored_token(memory_keyring: MemoryKeyring) -> None:
    registry = OrgRegistry()
    registry.add(entry(), "t")
    memory_keyring.delete_password("iSyncSF Desktop", "00D000000000001AAA/admin@acme.com:access_token")
    with pytest.raises(RegistryError, match="no access token is stored"):
        registry.client("prod")


# ---------------------------------------------------------------------- keyring wrapper
def test_secrets_round_trip_in_the_configured_keyring(memory_keyring: MemoryKeyring) -> None:
    secrets.store_secret("org1", "access_token", "a-1")
    secrets.store_secret("org1", "refresh_token", "r-1")
    assert secrets.get_secret("org1", "access_token") == "a-1"
    assert memory_keyring.get_password(secrets.SERVICE_NAME, "org1:refresh_token") == "r-1"
    secrets.delete_secrets("org1")
    secrets.delete_secrets("org1")                          # deleting twice is fine
    assert secrets.get_secret("org1", "access_token") is None
    usable, text = secrets.keyring_status()
    assert usable and "MemoryKeyring" in text


@pytest.mark.expect_log
@pytest.mark.parametrize("backend", [fail.Keyring(), null.Keyring()], ids=["fail", "null"])
def test_no_keyring_falls_back_to_memory_with_one_warning(backend: keyring.backend.KeyringBackend,
                                                          caplog: pytest.LogCaptureFixture) -> None:
    keyring.set_keyring(backend)
    with caplog.at_level(logging.WARNING, logger="isyncsf_desktop.salesforce.secrets"):
        secrets.store_secret("org1", "access_token", "a-1")
        secrets.store_secret("org1", "refresh_token", "r-1")
        assert secrets.get_secret("org1", "access_token") == "a-1"
        assert secrets.get_secret("org2", "access_token") is None
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "credentials won't be remembered after you close the app" in warnings[0].getMessage()
    assert "a-1" not in caplog.text
    usable, text = secrets.keyring_status()
    assert not usable and "won't be remembered" in text
    secrets.delete_secrets("org1")
    assert secrets.get_secret("org1", "refresh_token") is None


class _BrokenKeyring(keyring.backend.KeyringBackend):
    """A keyring that is configured but fails when used (a locked or unreachable store)."""

    priority = -5  # type: ignore[assignment]
    calls = 0

    def get_password(self, service: str, username: str) -> str | None:
        type(self).calls += 1
        raise keyring.errors.KeyringLocked("the keyring is locked")

    def set_password(self, service: str, username: str, password: str) -> None:
        type(self).calls += 1
        raise keyring.errors.PasswordSetError("the keyring is locked")

    def delete_password(self, service: str, username: str) -> None:
        raise keyring.errors.KeyringLocked("the keyring is locked")


@pytest.mark.expect_log
def test_keyring_that_raises_falls_back_to_memory(caplog: pytest.LogCaptureFixture) -> None:
    keyring.set_keyring(_BrokenKeyring())
    assert secrets.keyring_status()[0]
    with caplog.at_level(logging.WARNING, logger="isyncsf_desktop.salesforce.secrets"):
        secrets.store_secret("org1", "access_token", "a-1")
        secrets.store_secret("org1", "refresh_token", "r-1")
        assert secrets.get_secret("org1", "access_token") == "a-1"
        assert secrets.get_secret("org1", "missing") is None
    assert _BrokenKeyring.calls == 1                       # not tried again this session
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert "locked" in caplog.text and "won't be remembered" in caplog.text
    assert secrets.keyring_status()[0] is False


@pytest.mark.expect_log
def test_registry_works_without_a_keyring(caplog: pytest.LogCaptureFixture) -> None:
    keyring.set_keyring(fail.Keyring())
    registry = OrgRegistry()
    with caplog.at_level(logging.WARNING):
        registry.add(entry(), "ACCESS-in-memory", "REFRESH-in-memory")
    assert registry.access_token("prod") == "ACCESS-in-memory"
    assert "in-memory" not in registry.path.read_text(encoding="utf-8")
    assert "won't be remembered" in caplog.text


def test_memory_keyring_is_only_used_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    assert MemoryKeyring.priority < fail.Keyring.priority
    monkeypatch.setenv("PYTHON_KEYRING_BACKEND", "isyncsf_desktop.salesforce.secrets.MemoryKeyring")
    loaded = keyring.core.load_env()
    assert isinstance(loaded, MemoryKeyring)
    loaded.set_password("s", "u", "p")
    assert loaded.get_password("s", "u") == "p"
    loaded.delete_password("s", "u")
    with pytest.raises(keyring.errors.PasswordDeleteError):
        loaded.delete_password("s", "u")


def test_tokens_belong_to_the_org_and_user_not_the_alias(memory_keyring: MemoryKeyring, tmp_path: Path,
                                                         monkeypatch) -> None:
    """Two data folders that give one alias to two orgs keep two tokens; neither reaches the other's org."""
    monkeypatch.setenv("ISYNCSF_HOME", str(tmp_path / "one"))
    one = OrgRegistry()
    one.add(entry("qa", org_id="00D000000000001AAA"), "00D000000000001!token-one")
    monkeypatch.setenv("ISYNCSF_HOME", str(tmp_path / "two"))
    two = OrgRegistry()
    two.add(entry("qa", org_id="00D000000000002AAA"), "00D000000000002!token-two")
    assert two.access_token("qa") == "00D000000000002!token-two"
    monkeypatch.setenv("ISYNCSF_HOME", str(tmp_path / "one"))
    assert OrgRegistry().access_token("qa") == "00D000000000001!token-one"


def test_a_token_of_another_org_is_refused_naming_both(memory_keyring: MemoryKeyring) -> None:
    registry = OrgRegistry()
    with pytest.raises(RegistryError, match=r"belongs to another org \(00D000000000009\), not prod's "
                                            r"\(00D000000000001\); log in to prod again"):
        registry.add(entry(), "00D000000000009!someone-elses")
    registry.add(entry(), "00D000000000001!mine")
    memory_keyring.set_password("iSyncSF Desktop", "00D000000000001AAA/admin@acme.com:access_token",
                                "00D000000000009!someone-elses")     # as a mixed-up keyring would hold it
    with pytest.raises(RegistryError, match="belongs to another org"):
        registry.client("prod")


def test_a_token_an_older_version_kept_under_the_alias_moves_to_the_org(memory_keyring: MemoryKeyring) -> None:
    registry = OrgRegistry()
    registry.add(entry(), "new")
    memory_keyring.delete_password("iSyncSF Desktop", "00D000000000001AAA/admin@acme.com:access_token")
    memory_keyring.set_password("iSyncSF Desktop", "prod:access_token", "legacy-access")
    memory_keyring.set_password("iSyncSF Desktop", "prod:refresh_token", "legacy-refresh")
    assert registry.refresh_token("prod") == "legacy-refresh" and registry.access_token("prod") == "legacy-access"
    assert memory_keyring.get_password("iSyncSF Desktop", "prod:access_token") is None
    assert memory_keyring.get_password("iSyncSF Desktop", "00D000000000001AAA/admin@acme.com:access_token") == \
        "legacy-access"
