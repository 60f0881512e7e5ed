"""Person Accounts in the sandbox org, through the real simple-salesforce client: an org with them switched
on describes IsPersonAccount, the Person* fields and PersonContactId, creates a person account from LastName
and a person record type (never Name), keeps its person contact in step and deletes it with the account,
and refuses changes made to the person contact through Contact, as a real org does; an org without them
has none of it."""

from __future__ import annotations

import pytest
from helpers import client_for, soap_login
from simple_salesforce.exceptions import SalesforceMalformedRequest

from isyncsf_desktop.sandbox.seeds import build_seed

PERSON = build_seed("empty")   # Person Accounts on, as in the demo orgs
PLAIN = build_seed("empty", overrides={"person_accounts": False})


@pytest.fixture
def orgs(sandbox_factory):
    server = sandbox_factory({"person": PERSON, "plain": PLAIN})
    return server, client_for(server, "person"), client_for(server, "plain")


def _person_rt(sf) -> str:
    [row] = sf.query("SELECT Id FROM RecordType WHERE SobjectType = 'Account' AND IsPersonType = true")["records"]
    return row["Id"]


def test_describe_and_login_differ_per_org(orgs):
    server, person, plain = orgs
    account = {f["name"]: f for f in person.Account.describe()["fields"]}
    assert account["IsPersonAccount"]["type"] == "boolean" and not account["IsPersonAccount"]["createable"]
    assert account["PersonContactId"]["referenceTo"] == ["Contact"] and not account["PersonContactId"]["updateable"]
    assert {"FirstName", "LastName", "Salutation", "MiddleName", "Suffix", "PersonEmail", "PersonMailingStreet",
            "PersonMailingCity", "PersonBirthdate"} <= set(account)
    assert account["Name"]["createable"]          # business accounts still take Name
    contact = {f["name"]: f for f in person.Contact.describe()["fields"]}
    assert not contact["IsPersonAccount"]["createable"]
    plain_account = {f["name"] for f in plain.Account.describe()["fields"]}
    assert not {"IsPersonAccount", "PersonContactId", "LastName", "PersonEmail"} & plain_account
    assert "<orgHasPersonAccounts>true</orgHasPersonAccounts>" in soap_login(server, "person").text
    assert "<orgHasPersonAccounts>false</orgHasPersonAccounts>" in soap_login(server, "plain").text
    assert plain.query("SELECT COUNT() FROM RecordType WHERE DeveloperName = 'PersonAccount'")["totalSize"] == 0


def test_a_person_account_and_its_person_contact(orgs):
    _, sf, _ = orgs
    created = sf.Account.create({"RecordTypeId": _person_rt(sf), "FirstName": "Ada", "LastName": "Lovelace",
                                 "Salutation": "Ms.", "PersonEmail": "ada@example.org",
                                 "PersonMailingCity": "London", "PersonBirthdate": "1815-12-10"})
    account = sf.query("SELECT Id, Name, IsPersonAccount, PersonContactId, PersonEmail FROM Account "
                       f"WHERE Id = '{created['id']}'")["records"][0]
    assert account["Name"] == "Ms. Ada Lovelace" and account["IsPersonAccount"] is True
    contact = sf.query("SELECT Id, AccountId, IsPersonAccount, FirstName, LastName, Email, MailingCity, Birthdate "
                       f"FROM Contact WHERE Id = '{account['PersonContactId']}'")["records"][0]
    assert (contact["AccountId"], contact["IsPersonAccount"], contact["LastName"], contact["Email"],
            contact["MailingCity"], contact["Birthdate"]) == (created["id"], True, "Lovelace", "ada@example.org",
                                                               "London", "1815-12-10")
    # updating the account updates its person contact
    sf.Account.update(created["id"], {"PersonEmail": "countess@example.org", "LastName": "King"})
    contact = sf.Contact.get(account["PersonContactId"])
    assert (contact["Email"], contact["LastName"]) == ("countess@example.org", "King")
    assert sf.Account.get(created["id"])["Name"] == "Ms. Ada King"
    # a business account next to it has no person contact
    business = sf.Account.create({"Name": "Analytical Engines Ltd"})
    row = sf.Account.get(business["id"])
    assert row["IsPersonAccount"] is False and row["PersonContactId"] is None
    # deleting the person account deletes its person contact
    sf.Account.delete(created["id"])
    assert sf.query(f"SELECT COUNT() FROM Contact WHERE Id = '{account['PersonContactId']}'")["totalSize"] == 0
    assert sf.query_all(f"SELECT IsDeleted FROM Contact WHERE Id = '{account['PersonContactId']}'",
                        include_deleted=True)["records"][0]["IsDeleted"] is True


def test_what_a_real_org_refuses(orgs):
    _, sf, _ = orgs
    rt = _person_rt(sf)
    with pytest.raises(SalesforceMalformedRequest) as named:
        sf.Account.create({"RecordTypeId": rt, "Name": "Ada Lovelace", "LastName": "Lovelace"})
    assert named.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"
    assert named.value.content[0]["message"] == "Account: bad field names on insert/update call: Name"
    with pytest.raises(SalesforceMalformedRequest) as no_last:
        sf.Account.create({"RecordTypeId": rt, "FirstName": "Ada"})
    assert no_last.value.content[0]["errorCode"] == "REQUIRED_FIELD_MISSING"
    with pytest.raises(SalesforceMalformedRequest) as business:
        sf.Account.create({"Name": "Acme", "LastName": "Lovelace"})
    assert "bad field names on insert/update call: LastName" in business.value.content[0]["message"]
    person = sf.Account.create({"RecordTypeId": rt, "LastName": "Byron"})
    contact_id = sf.Account.get(person["id"])["PersonContactId"]
    with pytest.raises(SalesforceMalformedRequest) as named_later:
        sf.Account.update(person["id"], {"Name": "Lord Byron"})
    assert "bad field names on insert/update call: Name" in named_later.value.content[0]["message"]
    # the person contact is the account's: not changed, deleted or given siblings through Contact
    for attempt in (lambda: sf.Contact.update(contact_id, {"LastName": "X"}), lambda: sf.Contact.delete(contact_id)):
        with pytest.raises(SalesforceMalformedRequest) as refused:
            attempt()
        assert refused.value.content[0]["errorCode"] == "INSUFFICIENT_ACCESS_OR_READONLY"
    with pytest.raises(SalesforceMalformedRequest) as sibling:
        sf.Contact.create({"LastName": "Sibling", "AccountId": person["id"]})
    assert sibling.value.content[0]["errorCode"] == "INVALID_FIELD"
    with pytest.raises(SalesforceMalformedRequest) as flagged:
        sf.Contact.create({"LastName": "Sneaky", "IsPersonAccount": True})
    assert flagged.value.content[0]["errorCode"] == "INVALID_FIELD_FOR_INSERT_UPDATE"


def test_a_seeded_org_has_the_person_contacts_an_insert_makes(sandbox_factory):
    """The demo orgs' person accounts are built with their person contacts exactly as creating them through
    the API makes them; the seed's cases on a person contact point at it."""
    server = sandbox_factory({"demo": "demo-source"})
    sf = client_for(server, "demo")
    people = sf.query_all("SELECT Id, Name, FirstName, LastName, Salutation, PersonEmail, PersonMailingCity, "
                          "PersonMobilePhone, PersonBirthdate, RecordTypeId, OwnerId, PersonContactId FROM Account "
                          "WHERE IsPersonAccount = true")["records"]
    assert len(people) == 20
    contact_fields = "Id, AccountId, IsPersonAccount, Name, FirstName, LastName, Salutation, Email, MailingCity, " \
                     "MobilePhone, Birthdate, OwnerId"
    contacts = {c["Id"]: c for c in sf.query_all(f"SELECT {contact_fields} FROM Contact WHERE IsPersonAccount = true")
                ["records"]}
    assert len(contacts) == 20 and {p["PersonContactId"] for p in people} == set(contacts)
    seeded = next(p for p in people if p["Salutation"] and p["PersonMobilePhone"])
    # the same person account created through the API: its person contact has the same values
    made = sf.Account.create({k: seeded[k] for k in ("FirstName", "LastName", "Salutation", "PersonEmail",
                                                    "PersonMailingCity", "PersonMobilePhone", "PersonBirthdate",
                                                    "RecordTypeId", "OwnerId")})
    again = sf.Account.get(made["id"])
    assert again["Name"] == seeded["Name"] == f"{seeded['Salutation']} {seeded['FirstName']} {seeded['LastName']}"
    [twin] = sf.query(f"SELECT {contact_fields} FROM Contact WHERE Id = '{again['PersonContactId']}'")["records"]

    def values(contact):
        return {k: v for k, v in contact.items() if k not in ("attributes", "Id", "AccountId")}
    assert values(contacts[seeded["PersonContactId"]]) == values(twin)
    assert contacts[seeded["PersonContactId"]]["AccountId"] == seeded["Id"]
    # cases on person contacts: the contact of the case's own account
    cases = sf.query_all("SELECT AccountId, ContactId FROM Case WHERE Contact.IsPersonAccount = true")["records"]
    by_contact = {p["PersonContactId"]: p["Id"] for p in people}
    assert len(cases) >= 10 and all(by_contact[c["ContactId"]] == c["AccountId"] for c in cases)
    # and the person contact is as read-only through Contact as one made by an insert
    with pytest.raises(SalesforceMalformedRequest, match="INSUFFICIENT_ACCESS_OR_READONLY"):
        sf.Contact.update(seeded["PersonContactId"], {"Title": "Countess"})
