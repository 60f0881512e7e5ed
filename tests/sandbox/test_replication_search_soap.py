"""SOAP partner login, /sobjects/X/updated and /deleted, and SOSL /search of the sandbox org."""

from __future__ import annotations

import datetime as dt

from helpers import client_for
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
    info = server.info()["orgs"]["qa"]
    session = client_for(server, "qa").session
    adapter_host = server.instance_url.split("://", 1)[1]
    body = ('<?xml version="1.0" encoding="utf-8"?><env:Envelope xmlns:env="http://schemas.xmlsoap.org/soap/'
            'envelope/" xmlns:n1="urn:partner.soap.sforce.com"><env:Body><n1:login><n1:username>'
            f'{info["username"]}</n1:username><n1:password>{info["password"]}{info["security_token"]}'
            '</n1:password></n1:login></env:Body></env:Envelope>')
    answer = session.post(f"https://{adapter_host}/services/Soap/u/59.0", data=body,
                          headers={"Content-Type": "text/xml", "SOAPAction": "login"}, timeout=10)
    assert answer.status_code == 200 and "<sessionId>" in answer.text
    token = answer.text.split("<sessionId>")[1].split("</sessionId>")[0]
    sf = Salesforce(instance_url=server.instance_url, session_id=token, session=session)
    assert sf.query("SELECT COUNT() FROM Account")["totalSize"] == 0
    wrong = session.post(f"https://{adapter_host}/services/Soap/u/59.0", data=body.replace(info["password"], "x"),
                         headers={"Content-Type": "text/xml", "SOAPAction": "login"}, timeout=10)
    assert wrong.status_code == 500 and "INVALID_LOGIN" in wrong.text
    assert SalesforceAuthenticationFailed   # the client's error for this fault
