"""SOAP partner login, /sobjects/X/updated and /deleted, and SOSL /search of the sandbox org."""

from __future__ import annotations

import datetime as dt

from helpers import client_for, soap_login
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceAuthenticationFailed


def test_updated_and_deleted(sandbox_factory):
    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    now = dt.datetime.now(dt.timezone.utc)
    kept = sf.Account.create({"Name": "Kept"})["id"]
    gone = sf.Account.create({"Name": "Gone"})["id"]
    sf.Account.delete(gone)
    start, end = now - dt.timedelta(minutes=5), now + dt.timedelta(minutes=5)
    assert sf.Account.updated(start, end)["ids"] == [kept]
    deleted = sf.Account.deleted(start, end)
    assert [d["id"] for d in deleted["deletedRecords"]] == [gone] and deleted["earliestDateAvailable"]


def test_sosl_search(sandbox_factory):
    server = sandbox_factory({"qa": "demo-source"})
    sf = client_for(server, "qa")
    found = sf.restful("search", params={"q": "FIND {Jane} RETURNING User(Name, Username)"})["searchRecords"]
    assert [r["Name"] for r in found] == ["Jane Doe"] and found[0]["attributes"]["type"] == "User"
    emails = sf.restful("search", params={"q": "FIND {acme*} IN EMAIL FIELDS RETURNING User(Email) LIMIT 3"})
    assert len(emails["searchRecords"]) == 3 and all("acme" in r["Email"] for r in emails["searchRecords"])


def test_soap_login_with_password_and_security_token(sandbox_factory):
    server = sandbox_factory({"qa": "empty"})
    answer = soap_login(server, "qa")
    assert answer.status_code == 200 and "<sessionId>" in answer.text
    token = answer.text.split("<sessionId>")[1].split("</sessionId>")[0]
    sf = Salesforce(instance_url=server.instance_url, session_id=token, session=client_for(server, "qa").session)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    wrong = soap_login(server, "qa", password="x")
    assert wrong.status_code == 500 and "INVALID_LOGIN" in wrong.text
    assert SalesforceAuthenticationFailed   # the client's error for this fault
