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


def test_a_deferred_lookup_to_a_person_contact_follows_its_account(make_pair):
    """Account.Primary_Contact__c points at Contact, which comes later: the second pass sets it, to the target's
    person contact of the copied account where the source points at a person contact."""
    pair = make_pair(PERSON, PERSON)
    ids = _seed_source(pair)
    business = pair.rows("src", "SELECT Id FROM Account WHERE Name = 'Globex'")[0]["Id"]
    hank = pair.rows("src", "SELECT Id FROM Contact WHERE LastName = 'Scorpio'")[0]["Id"]
    updated = pair.source.update([{"attributes": {"type": "Account"}, "Id": ids["ada"],
                                   "Primary_Contact__c": ids["ada_contact"]},
                                  {"attributes": {"type": "Account"}, "Id": business, "Primary_Contact__c": hank}])
    assert all(r["success"] for r in updated), updated
    engine = pair.engine()
    template = {**TEMPLATE, "objects": [{"object": "Account", "match_by": ["Name"]}, *TEMPLATE["objects"][1:]]}
    job_id = engine.create_job(template)
    result = engine.sync(job_id)
    assert engine.plan(job_id).deferred == [("Account", "Primary_Contact__c")]
    assert result.state == "Synced" and result.totals.errors == 0
    rows = {r["Name"]: r for r in pair.rows("tgt", "SELECT Name, PersonContactId, Primary_Contact__c, "
                                                   "Primary_Contact__r.LastName FROM Account")}
    assert rows["Ada Lovelace"]["Primary_Contact__c"] == rows["Ada Lovelace"]["PersonContactId"]
    assert rows["Globex"]["Primary_Contact__r"]["LastName"] == "Scorpio"


def test_a_deferred_polymorphic_lookup_to_a_person_contact_follows_its_account(make_pair):
    """Task.WhoId (Contact or Lead) on a person contact, with Task ordered before Contact: the second pass sets
    it to the target's person contact of the copied account, never to another target contact with its email."""
    pair = make_pair(PERSON, PERSON)
    ids = _seed_source(pair)
    pair.insert("src", "Task", [{"Subject": "Call Ada back", "WhoId": ids["ada_contact"], "Status": "Not Started"}])
    # a business contact on the target with Ada's email: a match by Contact's key would pick it
    other = pair.insert("tgt", "Account", [{"Name": "Babbage & Co"}])
    pair.insert("tgt", "Contact", [{"LastName": "Imposter", "Email": "ada@example.org", "AccountId": other[0]}])
    template = {**TEMPLATE, "order": ["Account", "Task", "Contact", "Case"], "objects": [
        *TEMPLATE["objects"], {"object": "Task", "fields": ["Subject", "Status", "WhoId"], "match_by": ["Subject"]}]}
    engine = pair.engine()
    job_id = engine.create_job(template)
    result = engine.sync(job_id)
    assert ("Task", "WhoId") in engine.plan(job_id).deferred
    assert result.state == "Synced" and result.totals.errors == 0, pair.journal.errors(job_id)[:3]
    [ada] = pair.rows("tgt", "SELECT PersonContactId FROM Account WHERE LastName = 'Lovelace'")
    [task] = pair.rows("tgt", "SELECT WhoId FROM Task WHERE Subject = 'Call Ada back'")
    assert task["WhoId"] == ada["PersonContactId"]


def test_a_business_contact_never_matches_a_target_person_contact(make_pair):
    """A target person contact is its person account's (read-only through Contact): a source business contact with
    its email is a contact of its own, inserted, not an update the target would refuse."""
    pair = make_pair(PERSON, PERSON)
    pair.insert("tgt", "Account", [{"RecordTypeId": _person_rt(pair, "tgt"), "FirstName": "Ada", "LastName": "Lovelace",
                                    "PersonEmail": "ada@example.org"}])
    business = pair.insert("src", "Account", [{"Name": "Analytical Engines Ltd"}])
    pair.insert("src", "Contact", [{"FirstName": "Ada", "LastName": "Lovelace", "Email": "ada@example.org",
                                    "AccountId": business[0]}])
    engine = pair.engine()
    job_id = engine.create_job({**TEMPLATE, "objects": TEMPLATE["objects"][:2]})
    result = engine.sync(job_id)
    assert result.state == "Synced" and result.totals.errors == 0, pair.journal.errors(job_id)[:3]
    assert result.objects["Contact"].inserted == 1
    contacts = pair.rows("tgt", "SELECT Email, IsPersonAccount, Account.Name FROM Contact")
    assert sorted((c["IsPersonAccount"], c["Account"]["Name"]) for c in contacts) == [
        (False, "Analytical Engines Ltd"), (True, "Ada Lovelace")]
    again = engine.sync(engine.create_job({**TEMPLATE, "objects": TEMPLATE["objects"][:2]}))
    assert again.totals.errors == 0 and again.totals.inserted == 0 and again.objects["Contact"].existing == 1


def test_an_account_line_without_lastname_fails_its_person_accounts_with_the_reason_not_a_missing_name(make_pair):
    """The check warns that an Account line without RecordTypeId or LastName creates none of the person accounts;
    the records that then fail must say so (and how to fix it), not the org's "Required fields are missing: [Name]"
    for a Name the user did put in the line. Business accounts go as before."""
    pair = make_pair(PERSON, PERSON)
    _seed_source(pair)
    engine = pair.engine()
    job_id = engine.create_job({"name": "names only", "options": {"continue_on_error": True}, "objects": [
        {"object": "Account", "fields": ["Name"], "match_by": ["Name"]}]})
    result = engine.sync(job_id)
    assert result.objects["Account"].inserted == 2 and result.objects["Account"].errors == 2
    errors = pair.journal.errors(job_id)
    assert len(errors) == 2
    for error in errors:
        assert error.status_code == "PERSON_ACCOUNT_FIELDS_MISSING"
        assert "RecordTypeId or LastName" in error.message and "IsPersonAccount = false" in error.message
        assert error.fields == ["RecordTypeId", "LastName"]
    assert {r["Name"] for r in pair.rows("tgt", "SELECT Name FROM Account")} == {"Globex", "Initech"}
