"""OrgClient against sandbox orgs, through the real simple-salesforce client over HTTPS."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from isyncsf_desktop.salesforce.client import (
    ApiLimitExceeded,
    ConnectionLost,
    OrgApiError,
    OrgClient,
    SessionExpired,
    strip_attributes,
)


def make_client(server: Any, alias: str, token: str | None = None, **kwargs: Any) -> OrgClient:
    kwargs.setdefault("backoff", 0.0)
    return OrgClient.connect(server.instance_url, token or server.token(alias), ca_file=server.ca_file,
                             alias=alias, **kwargs)


def accounts(count: int, prefix: str = "Acct") -> list[dict[str, Any]]:
    return [{"attributes": {"type": "Account"}, "Name": f"{prefix} {i:05d}"} for i in range(count)]


@pytest.fixture
def source(demo_server: Any) -> OrgClient:
    return make_client(demo_server, "source")


@pytest.fixture
def qa_server(sandbox_factory: Any) -> Any:
    return sandbox_factory({"qa": "empty"})


@pytest.fixture
def qa(qa_server: Any) -> OrgClient:
    return make_client(qa_server, "qa")


def assert_no_attributes(value: Any) -> None:
    if isinstance(value, dict):
        assert "attributes" not in value
        for item in value.values():
            assert_no_attributes(item)
    elif isinstance(value, list):
        for item in value:
            assert_no_attributes(item)


# ---------------------------------------------------------------------- reading
def test_query_returns_every_contact_without_attributes(source: OrgClient) -> None:
    total = source.count("Contact")
    assert total > 900
    rows = source.query("SELECT Id, LastName, Account.Name, Account.Owner.Name FROM Contact")
    assert len(rows) == total
    assert len({row["Id"] for row in rows}) == total
    assert_no_attributes(rows)
    with_account = [row for row in rows if row["Account"]]
    assert with_account and isinstance(with_account[0]["Account"]["Owner"]["Name"], str)
    assert all(type(row) is dict for row in rows)


def test_query_follows_next_records_url_across_three_pages(qa: OrgClient) -> None:
    results = qa.create(accounts(4100))
    assert all(r["success"] for r in results)
    before = qa.api_calls
    rows = qa.query("SELECT Id, Name FROM Account")
    assert qa.api_calls - before == 3          # 2000 + 2000 + 100
    assert len(rows) == 4100
    assert {row["Id"] for row in rows} == {r["id"] for r in results}
    assert_no_attributes(rows)
    streamed = sum(1 for _ in qa.query_iter("SELECT Id FROM Account"))
    assert streamed == 4100


def test_count_with_where(source: OrgClient) -> None:
    everyone = source.count("Contact")
    some = source.count("Contact", "Email != null")
    assert 0 < some <= everyone


def test_strip_attributes_is_recursive() -> None:
    value = {"attributes": {"type": "A"}, "X": [{"attributes": {}, "Y": {"attributes": {}, "Z": 1}}], "W": None}
    assert strip_attributes(value) == {"X": [{"Y": {"Z": 1}}], "W": None}


def test_describe_is_cached_and_unknown_object_is_not_found(source: OrgClient) -> None:
    before = source.api_calls
    account = source.describe("Account")
    assert account["name"] == "Account"
    assert any(field["name"] == "Name" for field in account["fields"])
    assert source.describe("Account") is account
    assert source.describe("account") is account
    assert source.api_calls - before == 1
    with pytest.raises(OrgApiError) as caught:
        source.describe("No_Such_Thing__c")
    assert caught.value.error_code == "NOT_FOUND"
    assert caught.value.status == 404
    assert "No_Such_Thing__c" in str(caught.value)


def test_describe_global_and_object_names(source: OrgClient) -> None:
    names = source.object_names()
    assert {"Account", "Contact", "Organization"} <= names
    calls = source.api_calls
    source.describe_global()
    assert source.api_calls == calls


def test_bad_soql_becomes_org_api_error(source: OrgClient) -> None:
    with pytest.raises(OrgApiError) as caught:
        source.query("SELECT Id FROM Nope")
    assert caught.value.error_code == "INVALID_TYPE"
    assert caught.value.status == 400
    assert "sObject type 'Nope' is not supported" in caught.value.message


def test_org_facts(source: OrgClient, demo_server: Any) -> None:
    org = source.organization()
    assert org["Name"] == "Acme Corp" and org["IsSandbox"] is False
    assert org["Id"] == demo_server.store("source").org_id
    info = source.user_info()
    assert info["organization_id"] == org["Id"]
    assert info["user_id"].startswith("005")
    assert info["preferred_username"] and info["email"] and info["name"]
    limits = source.limits()
    assert limits["DailyApiRequests"]["Max"] > 0
    used, maximum = source.api_usage or (0, 0)
    assert 0 < used <= maximum
    assert source.instance_url == demo_server.instance_url
    assert "source" in repr(source) and demo_server.token("source") not in repr(source)


# ---------------------------------------------------------------------- writing
def test_create_update_delete_in_chunks_of_200(qa: OrgClient) -> None:
    records = accounts(450)
    calls = qa.api_calls
    created = qa.create(records)
    assert qa.api_calls - calls == 3
    assert len(created) == 450 and all(r["success"] and r["errors"] == [] for r in created)
    ids = [r["id"] for r in created]
    found = {row["Id"]: row["Name"] for row in qa.query("SELECT Id, Name FROM Account")}
    assert [found[i] for i in ids] == [r["Name"] for r in records]          # results are in request order

    calls = qa.api_calls
    updated = qa.update([{"attributes": {"type": "Account"}, "Id": i, "Name": f"Renamed {n}"}
                         for n, i in enumerate(ids)])
    assert qa.api_calls - calls == 3
    assert [r["id"] for r in updated] == ids and all(r["success"] for r in updated)
    assert qa.count("Account", "Name LIKE 'Renamed %'") == 450

    calls = qa.api_calls
    deleted = qa.delete(ids)
    assert qa.api_calls - calls == 3
    assert [r["id"] for r in deleted] == ids and all(r["success"] for r in deleted)
    assert qa.count("Account") == 0
    assert len(qa.query("SELECT Id, IsDeleted FROM Account", include_deleted=True)) == 450


def test_per_record_errors_are_returned_in_order(qa: OrgClient) -> None:
    results = qa.create([{"attributes": {"type": "Account"}, "Name": "Good"},
                         {"attributes": {"type": "Contact"}, "FirstName": "No last name"}])
    assert results[0]["success"] and results[0]["id"]
    assert results[1] == {"id": None, "success": False,
                          "errors": [{"statusCode": "REQUIRED_FIELD_MISSING",
                                      "message": "Required fields are missing: [LastName]",
                                      "fields": ["LastName"]}]}
    again = qa.delete([results[0]["id"], results[0]["id"]])
    assert again[0]["success"] and not again[1]["success"]
    assert again[1]["id"] == results[0]["id"]
    assert again[1]["errors"][0]["statusCode"] == "ENTITY_IS_DELETED"


def test_records_without_a_type_or_id_are_refused_before_sending(qa: OrgClient) -> None:
    with pytest.raises(ValueError, match="attributes.type"):
        qa.create([{"Name": "x"}])
    with pytest.raises(ValueError, match="no Id"):
        qa.update([{"attributes": {"type": "Account"}, "Name": "x"}])
    assert qa.api_calls == 0


def test_retrieve_by_ids(qa: OrgClient) -> None:
    created = qa.create(accounts(3))
    ids = [r["id"] for r in created]
    qa.delete([ids[1]])
    rows = qa.retrieve("Account", ids, ["Id", "Name"])
    assert rows[0] == {"Id": ids[0], "Name": "Acct 00000"}
    assert rows[1] is None
    assert rows[2] is not None and rows[2]["Name"] == "Acct 00002"


# ---------------------------------------------------------------------- robustness
def test_locked_records_are_resent_until_they_succeed(qa: OrgClient, qa_server: Any) -> None:
    qa_server.faults("qa").update(lock_row=2)
    calls = qa.api_calls
    results = qa.create(accounts(5))
    assert all(r["success"] for r in results)
    assert qa.api_calls - calls == 2            # the first request, then one re-send of the two locked records
    assert qa.count("Account") == 5


def test_lock_errors_beyond_retries_are_returned_as_failures(qa_server: Any) -> None:
    client = make_client(qa_server, "qa", retries=2)
    qa_server.faults("qa").update(lock_row_rate=1.0)
    try:
        results = client.create(accounts(3))
    finally:
        qa_server.faults("qa").update(lock_row_rate=0.0)
    assert client.api_calls == 3                # one request and two re-sends
    assert all(not r["success"] and r["errors"][0]["statusCode"] == "UNABLE_TO_LOCK_ROW" for r in results)
    assert client.count("Account") == 0


def test_lock_retry_on_update_resends_only_the_locked_records(qa: OrgClient, qa_server: Any) -> None:
    ids = [r["id"] for r in qa.create(accounts(4))]
    qa_server.faults("qa").update(lock_row=1)
    calls = qa.api_calls
    results = qa.update([{"attributes": {"type": "Account"}, "Id": i, "Name": "Same"} for i in ids])
    assert all(r["success"] for r in results) and [r["id"] for r in results] == ids
    assert qa.api_calls - calls == 2
    assert qa.count("Account", "Name = 'Same'") == 4


def test_503_is_retried_for_queries(qa: OrgClient, qa_server: Any) -> None:
    qa_server.faults("qa").update(http_503=2)
    assert qa.query("SELECT Id FROM Account") == []
    assert qa.api_calls == 3


def test_503_answered_before_commit_is_retried_for_create(qa: OrgClient, qa_server: Any) -> None:
    qa_server.faults("qa").update(http_503=1)
    results = qa.create(accounts(2))
    assert all(r["success"] for r in results)
    assert qa.api_calls == 2
    assert qa.count("Account") == 2             # no duplicates


def test_503_beyond_retries_raises(qa_server: Any) -> None:
    client = make_client(qa_server, "qa", retries=1)
    qa_server.faults("qa").update(http_503=5)
    try:
        with pytest.raises(OrgApiError) as caught:
            client.count("Account")
    finally:
        qa_server.faults("qa").update(http_503=0)
    assert caught.value.status == 503 and caught.value.error_code == "SERVER_UNAVAILABLE"
    assert client.api_calls == 2


def test_create_whose_connection_dropped_raises_connection_lost(qa: OrgClient, qa_server: Any) -> None:
    first = qa.create(accounts(200, "First"))           # an earlier chunk whose answer arrived
    assert all(r["success"] for r in first)
    records = accounts(250, "Dropped")
    qa_server.faults("qa").update(drop_after_commit=1)
    calls = qa.api_calls
    with pytest.raises(ConnectionLost) as caught:
        qa.create(records)
    lost = caught.value
    assert qa.api_calls - calls == 1                     # never resent
    assert lost.records == records[:200]
    assert lost.unknown_indexes == list(range(200))
    assert lost.results == [None] * 250                  # nothing known; the last 50 were not sent
    assert "may or may not have been saved" in str(lost)
    # the dropped request did commit: the caller must re-match these records, not resend them
    assert qa.count("Account", "Name LIKE 'Dropped %'") == 200


def test_connection_lost_reports_the_chunks_that_were_answered(qa: OrgClient, qa_server: Any) -> None:
    records = accounts(250)
    calls: list[str] = []
    original = qa.sf.restful

    def restful(path: str, *args: Any, **kwargs: Any) -> Any:
        calls.append(path)
        if len(calls) == 2:
            qa_server.faults("qa").update(drop_after_commit=1)
        return original(path, *args, **kwargs)

    qa.sf.restful = restful  # type: ignore[method-assign]
    with pytest.raises(ConnectionLost) as caught:
        qa.create(records)
    lost = caught.value
    assert lost.unknown_indexes == list(range(200, 250))
    assert lost.records == records[200:]
    assert all(r is not None and r["success"] for r in lost.results[:200])
    assert lost.results[200:] == [None] * 50


def test_dropped_update_and_delete_are_retried(qa: OrgClient, qa_server: Any) -> None:
    ids = [r["id"] for r in qa.create(accounts(3))]
    qa_server.faults("qa").update(drop_after_commit=1)
    calls = qa.api_calls
    updated = qa.update([{"attributes": {"type": "Account"}, "Id": i, "Name": "Upd"} for i in ids])
    assert all(r["success"] for r in updated)
    assert qa.api_calls - calls == 2
    qa_server.faults("qa").update(drop_after_commit=1)
    deleted = qa.delete(ids)
    assert all(r["success"] for r in deleted)         # ENTITY_IS_DELETED on the resend means done
    assert [r["id"] for r in deleted] == ids
    assert qa.count("Account") == 0


def test_request_limit_exceeded_is_not_retried(qa: OrgClient, qa_server: Any) -> None:
    qa_server.faults("qa").update(request_limit_exceeded=1)
    with pytest.raises(ApiLimitExceeded) as caught:
        qa.count("Account")
    assert caught.value.status == 403 and caught.value.error_code == "REQUEST_LIMIT_EXCEEDED"
    assert "TotalRequests Limit exceeded" in caught.value.message
    assert qa.api_calls == 1


def test_api_budget_exhausted_raises_api_limit_exceeded(qa: OrgClient, qa_server: Any) -> None:
    qa.count("Account")
    used, _ = qa.api_usage or (0, 0)
    qa_server.faults("qa").update(api_budget=used)
    try:
        with pytest.raises(ApiLimitExceeded):
            qa.create(accounts(1))
    finally:
        qa_server.faults("qa").update(api_budget=None)
    assert qa.count("Account") == 0


def test_expired_token_is_renewed_through_the_callback(qa_server: Any) -> None:
    store = qa_server.store("qa")
    old, new = store.issue_token("access"), store.issue_token("access")
    renewals: list[str] = []

    def renew() -> str:
        renewals.append("called")
        return new

    client = make_client(qa_server, "qa", token=old, refresh_token=renew)
    assert client.count("Account") == 0
    store.expire_token(old)
    assert client.create(accounts(1))[0]["success"]
    assert renewals == ["called"]
    assert client.sf.session_id == new
    assert client.sf.headers["Authorization"] == "Bearer " + new
    assert client.sf.Account.session_id == new        # SFType objects read the renewed token
    assert client.sf.bulk2.session_id == new
    assert client.count("Account") == 1
    assert renewals == ["called"]


def test_expired_token_without_callback_raises_session_expired(qa_server: Any) -> None:
    store = qa_server.store("qa")
    token = store.issue_token("access")
    client = make_client(qa_server, "qa", token=token)
    store.expire_token(token)
    with pytest.raises(SessionExpired) as caught:
        client.query("SELECT Id FROM Account")
    exc = caught.value
    assert exc.status == 401 and exc.error_code == "INVALID_SESSION_ID"
    assert exc.message == "Session expired or invalid"
    for text in (str(exc), repr(exc), exc.message, str(exc.args)):
        assert token not in text
    assert client.api_calls == 1


def test_renewed_token_refused_too_raises_session_expired_once(qa_server: Any) -> None:
    store = qa_server.store("qa")
    token = store.issue_token("access")
    store.expire_token(token)
    renewals: list[int] = []

    def renew() -> str:
        renewals.append(1)
        return token

    client = make_client(qa_server, "qa", token=token, refresh_token=renew)
    with pytest.raises(SessionExpired, match="even after renewing"):
        client.limits()
    assert renewals == [1]


def test_failing_renewal_raises_session_expired(qa_server: Any) -> None:
    store = qa_server.store("qa")
    token = store.issue_token("access")
    store.expire_token(token)

    def renew() -> str:
        raise RuntimeError("the refresh token was revoked")

    client = make_client(qa_server, "qa", token=token, refresh_token=renew)
    with pytest.raises(SessionExpired, match="renewing it failed: the refresh token was revoked"):
        client.describe("Account")


def test_unreachable_org_is_a_connection_error(sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "empty"})
    client = make_client(server, "qa", retries=2)
    server.stop()
    with pytest.raises(OrgApiError) as caught:
        client.count("Account")
    assert caught.value.error_code == "CONNECTION_ERROR" and caught.value.status is None
    assert client.instance_url in caught.value.message
    assert client.api_calls == 3
    # the request never left, so even a create may be retried; it still fails cleanly
    with pytest.raises(OrgApiError) as caught_create:
        client.create(accounts(1))
    assert not isinstance(caught_create.value, ConnectionLost)


def test_untrusted_certificate_is_an_ssl_error(demo_server: Any) -> None:
    client = OrgClient.connect(demo_server.instance_url, demo_server.token("source"), alias="source", backoff=0)
    with pytest.raises(OrgApiError) as caught:
        client.count("Account")
    assert caught.value.error_code == "SSL_ERROR"
    assert client.api_calls == 1


def test_requests_are_logged_without_tokens(qa: OrgClient, qa_server: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="isyncsf_desktop.salesforce")
    qa_server.faults("qa").update(http_503=1)
    qa.count("Account")
    assert any("count Account" in r.getMessage() for r in caplog.records)
    assert any("retry 1 of 4" in r.getMessage() for r in caplog.records)
    assert all(qa_server.token("qa") not in r.getMessage() for r in caplog.records)


# ---------------------------------------------------------------------- tooling
def test_tooling_query_get_and_update_of_a_validation_rule(sandbox_factory: Any) -> None:
    server = sandbox_factory({"target": "demo-target"})
    client = make_client(server, "target")
    rules = client.tooling_query("SELECT Id, ValidationName, Active, EntityDefinition.QualifiedApiName "
                                 "FROM ValidationRule")
    assert_no_attributes(rules)
    rule = next(r for r in rules if r["ValidationName"] == "Partner_Website_Required")
    assert rule["EntityDefinition"] == {"QualifiedApiName": "Account"}
    assert rule["Active"] is True

    full = client.tooling_get("ValidationRule", rule["Id"])
    assert full["FullName"] == "Account.Partner_Website_Required"
    assert full["Metadata"]["active"] is True
    assert "attributes" not in full

    metadata = {**full["Metadata"], "active": False}
    assert client.tooling_update("ValidationRule", rule["Id"], {"Metadata": metadata}) is None
    again = client.tooling_query(f"SELECT Id, Active FROM ValidationRule WHERE Id = '{rule['Id']}'")
    assert again == [{"Id": rule["Id"], "Active": False}]
    assert client.tooling_get("ValidationRule", rule["Id"])["Metadata"]["active"] is False

    with pytest.raises(OrgApiError) as caught:
        client.tooling_get("ValidationRule", "03d000000000000AAA")
    assert caught.value.error_code == "NOT_FOUND"
