"""Person Accounts through the engine, between sandbox orgs that have them (and one that does not): business
and person accounts sync together, each with its own fields; person contacts are not copied a second time as
Contacts; a Case on a person contact keeps its ContactId (the target's person contact of the copied account);
rollback removes both; the pre-flight check refuses person accounts for a target without them."""

from __future__ import annotations

from isyncsf_desktop.engine.preflight import BLOCKING, PERSON_ACCOUNTS, check_metadata
from isyncsf_desktop.sandbox.seeds import build_seed

PERSON = build_seed("empty")   # Person Accounts on, as in the demo orgs
PLAIN = build_seed("empty", overrides={"person_accounts": False})

TEMPLATE = {"name": "people", "options": {"continue_on_error": True}, "objects": [
    {"object": "Account", "match_by": ["Name"]},
    {"object": "Contact", "fields": ["FirstName", "LastName", "Email", "AccountId"], "match_by": ["Email"]},
    {"object": "Case", "fields": ["Subject", "Status", "Origin", "ContactId", "AccountId"], "match_by": ["Subject"]},
]}


def _person_rt(pair, side: str) -> str:
    [row] = pair.rows(side, "SELECT Id FROM RecordType WHERE SobjectType = 'Account' AND IsPersonType = true")
    return row["Id"]


def _seed_source(pair) -> dict[str, str]:
    """Two business accounts with a contact each, two person accounts, a case on each kind of contact."""
    rt = _person_rt(pair, "src")
    business = pair.insert("src", "Account", [{"Name": "Globex"}, {"Name": "Initech"}])
    pair.insert("src", "Contact", [
        {"FirstName": "Hank", "LastName": "Scorpio", "Email": "hank@globex.example", "AccountId": business[0]},
        {"FirstName": "Bill", "LastName": "Lumbergh", "Email": "bill@initech.example", "AccountId": business[1]}])
    people = pair.insert("src", "Account", [
        {"RecordTypeId": rt, "FirstName": "Ada", "LastName": "Lovelace", "PersonEmail": "ada@example.org",
         "PersonMailingCity": "London"},
        {"RecordTypeId": rt, "Salutation": "Dr.", "LastName": "Hopper", "PersonEmail": "grace@example.org"}])
    [ada] = pair.rows("src", f"SELECT PersonContactId FROM Account WHERE Id = '{people[0]}'")
    ada_contact = ada["PersonContactId"]
    hank = pair.rows("src", "SELECT Id FROM Contact WHERE LastName = 'Scorpio'")[0]["Id"]
    pair.insert("src", "Case", [
        {"Subject": "Ada's engine", "Status": "New", "Origin": "Web", "ContactId": ada_contact, "AccountId": people[0]},
        {"Subject": "Hank's hammock", "Status": "New", "Origin": "Phone", "ContactId": hank,
         "AccountId": business[0]}])
    return {"ada": people[0], "ada_contact": ada_contact}


def test_business_and_person_accounts_sync_together_and_roll_back(make_pair):
    pair = make_pair(PERSON, PERSON)
    _seed_source(pair)
    engine = pair.engine()
    job_id = engine.create_job(TEMPLATE)
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0, pair.journal.errors(job_id)[:3]
    accounts = {r["Name"]: r for r in pair.rows(
        "tgt", "SELECT Id, Name, IsPersonAccount, PersonContactId, PersonEmail, PersonMailingCity, RecordTypeId "
               "FROM Account")}
    assert set(accounts) == {"Globex", "Initech", "Ada Lovelace", "Dr. Hopper"}
    ada = accounts["Ada Lovelace"]
    assert ada["IsPersonAccount"] and (ada["PersonEmail"], ada["PersonMailingCity"]) == ("ada@example.org", "London")
    assert ada["RecordTypeId"] == _person_rt(pair, "tgt")
    assert not accounts["Globex"]["IsPersonAccount"]
    # two business contacts copied, two person contacts made by the target org: no contact twice
    contacts = pair.rows("tgt", "SELECT LastName, IsPersonAccount FROM Contact")
    assert sorted((c["LastName"], c["IsPersonAccount"]) for c in contacts) == [
        ("Hopper", True), ("Lovelace", True), ("Lumbergh", False), ("Scorpio", False)]
    # the case on Ada's person contact points at the target's person contact of Ada's account
    cases = {c["Subject"]: c for c in pair.rows("tgt", "SELECT Subject, ContactId, Contact.LastName FROM Case")}
    assert cases["Ada's engine"]["ContactId"] == ada["PersonContactId"]
    assert cases["Hank's hammock"]["Contact"]["LastName"] == "Scorpio"
    # a re-sync finds them all (person accounts matched by their composed Name) and changes nothing
    again = engine.sync(engine.create_job(TEMPLATE))
    assert again.totals.errors == 0 and again.totals.inserted == 0
    # rollback takes the person accounts and, with them, their person contacts
    rollback = engine.rollback(job_id)
    assert rollback.state == "Rollback Completed" and rollback.totals.errors == 0
    assert pair.rows("tgt", "SELECT Id FROM Account") == []
    assert pair.rows("tgt", "SELECT Id FROM Contact") == []


def test_a_target_without_person_accounts_is_refused_by_the_preflight_check(make_pair):
    pair = make_pair(PERSON, PLAIN)
    _seed_source(pair)
    report = check_metadata(TEMPLATE, pair.source, pair.target)
    [finding] = [f for f in report.findings if f.kind == PERSON_ACCOUNTS]
    assert finding.severity == BLOCKING and finding.object == "Account"
    assert finding.data["affected"] == 2
    assert "2 person accounts" in finding.message and "does not have Person Accounts" in finding.message
    assert "enable Person Accounts" in finding.fix
    # with no person account in scope, only a warning
    filtered = {**TEMPLATE, "objects": [{**TEMPLATE["objects"][0], "filter": "IsPersonAccount = false"}]}
    [quiet] = [f for f in check_metadata(filtered, pair.source, pair.target).findings if f.kind == PERSON_ACCOUNTS]
    assert quiet.severity != BLOCKING and quiet.data["affected"] == 0


def test_without_the_check_person_accounts_fail_on_such_a_target_and_business_accounts_go(make_pair):
    pair = make_pair(PERSON, PLAIN)
    _seed_source(pair)
    engine = pair.engine()
    result = engine.sync(engine.create_job({**TEMPLATE, "options": {"continue_on_error": True,
                                                                    "skip_missing_fields": True}}))
    names = {r["Name"] for r in pair.rows("tgt", "SELECT Name FROM Account")}
    assert names == {"Globex", "Initech"}
    assert result.totals.errors >= 2
