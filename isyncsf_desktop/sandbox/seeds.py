"""The data sets a sandbox org starts from ("seeds").

A :class:`Seed` holds everything an org needs before its first API call: the schema document
(``schemas/demo.json`` after this org's overrides), the records (Organization row, Users,
RecordTypes and business data), the key of the User the API token acts as, and the org's
automation (validation rules, Apex triggers and record-triggered flows) in tooling-API shape.

Records refer to each other with :class:`Ref` (object + seed key); the store allocates every id
before it resolves a reference, so cycles (Account.Primary_Contact__c <-> Contact.AccountId) are
fine. Values are JSON-native: dates ``'YYYY-MM-DD'``, datetimes ``'YYYY-MM-DDTHH:MM:SS.000+0000'``.
Id and the audit fields are never in ``values``; the store maintains them.

Three seeds ship with the package:

``demo-source``
    "Acme Corp", a production-like Enterprise Edition org with ~2,700 records: accounts in
    hierarchies up to three levels deep, contacts with reporting chains, opportunities, cases,
    projects and their tasks. Queues (Tier_1_Support, Escalations, Project_Intake) own some open
    cases and planned projects. Person Accounts are switched on: 20 individual customers are person
    accounts (the PersonAccount record type, FirstName/LastName and Person* fields), some with billing
    cases whose ContactId is their person contact. Files on 16 accounts and 10 cases: 36 Salesforce Files
    (small PDFs and PNG images), one large PDF (24 MB), one document with a second version, 10 legacy
    Attachments, and 12 Notes on accounts; their bytes are generated when read (see :mod:`.files`).
``demo-target``
    "Acme Corp UAT", a sandbox that differs from the source the way a real target does: user
    names with a ``.uat`` suffix and one user missing, the escalation queue named Escalation_Team
    and no Project_Intake queue, the Case record type "Support" named Product_Support, Case.Type a
    restricted picklist whose "Electronic" is called "Electronics",
    ``Account.Customer_Tier__c`` called ``acme__Customer_Tier__c`` (a managed package's field), a target-only
    required ``Account.Region__c`` picklist whose default is Global, ``Account.AnnualRevenue`` read-only for
    the API user, a
    Contact validation rule that some source contacts break, different automation, and a slice
    of the source accounts and contacts already present (some identical, some changed) next to
    target-only accounts; Person Accounts on, with six of the source's person accounts (three changed)
    and two of its own.
``empty``
    The demo schema (Person Accounts on, as in the demo orgs) with only the Organization row, the
    standard Profiles, the source's Users, groups and queues, and RecordTypes.

A seeded person account (an Account of the PersonAccount record type) gets its person contact when the
org is built, as creating it through the API does; that contact's seed key is the account's, so
``Ref("Contact", account_key)`` points at it. Likewise a seeded ContentVersion's ContentDocument has the
version's seed key (``Ref("ContentDocument", version_key)``, for a later version of the same document), and
its base64 field holds a :class:`~.files.Generated` (the bytes are made when the file is read). ``overrides={"person_accounts": False}`` builds a seed
without Person Accounts (its person accounts left out), the way an org that never enabled them is.

Everything is generated from fixed random seeds, so two builds of the same seed are equal.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from faker import Faker

from .files import Generated
from .person import PERSON_RECORD_TYPE, enable_person_accounts
from .schema import apply_overrides, builtin_schema_document

__all__ = ["Ref", "SeedRecord", "Seed", "SEED_NAMES", "build_seed"]


@dataclass(frozen=True)
class Ref:
    """A lookup to another record of the same seed; the store resolves it to that record's id."""

    object: str
    key: str


@dataclass
class SeedRecord:
    """One record of a seed.

    ``key`` is unique per object within the seed. ``values`` maps field names to JSON-native
    values or :class:`Ref`; fields left out are null (or the store's default, e.g. OwnerId).
    """

    object: str
    key: str
    values: dict[str, Any]


@dataclass
class Seed:
    """Everything a sandbox org is built from."""

    name: str
    schema_document: dict[str, Any]
    records: list[SeedRecord]
    api_user: str
    validation_rules: list[dict[str, Any]] = field(default_factory=list)
    triggers: list[dict[str, Any]] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)
    org_type: str = "Developer Edition"
    is_sandbox: bool = False
    org_name: str = "Developer Org"


SEED_NAMES: tuple[str, ...] = ("demo-source", "demo-target", "empty")

# Fixed random seeds: the generators below must produce the same data on every build.
_SOURCE_RANDOM_SEED = 20240611
_TARGET_RANDOM_SEED = 20240612

# --------------------------------------------------------------------------------------------
# Users and record types
# --------------------------------------------------------------------------------------------

_API_USER = "integration"
_MAIL_DOMAIN = "acme.demo"


@dataclass(frozen=True)
class _Person:
    """A user of the Acme orgs; ``key`` doubles as the local part of username and email."""

    key: str
    first: str
    last: str
    title: str
    department: str
    alias: str
    profile: str


_USERS: tuple[_Person, ...] = (
    _Person("integration", "Integration", "User", "API Integration", "IT", "integ",
            "System Administrator"),
    _Person("jane.doe", "Jane", "Doe", "VP of Sales", "Sales", "jdoe", "System Administrator"),
    _Person("john.smith", "John", "Smith", "Account Executive", "Sales", "jsmit", "Standard User"),
    _Person("maria.garcia", "Maria", "Garcia", "Account Executive", "Sales", "mgarc",
            "Standard User"),
    _Person("wei.chen", "Wei", "Chen", "Support Manager", "Customer Support", "wchen",
            "Standard User"),
    _Person("priya.patel", "Priya", "Patel", "Project Manager", "Professional Services", "ppate",
            "Standard User"),
)

#: The source user that has no account in the UAT sandbox.
_TARGET_MISSING_USER = "priya.patel"

_SALES_OWNERS = ("jane.doe", "john.smith", "maria.garcia")
_SALES_WEIGHTS = (2, 4, 4)

#: (SobjectType, DeveloperName, label, description) of every record type of the demo schema.
_RECORD_TYPES: tuple[tuple[str, str, str, str], ...] = (
    ("Account", "Customer", "Customer", "Companies that buy from Acme."),
    ("Account", "Partner", "Partner", "Resellers, installers and technology partners."),
    ("Case", "Support", "Support", "Product support requests."),
    ("Case", "Billing", "Billing", "Invoice and payment questions."),
    ("Account", PERSON_RECORD_TYPE, "Person Account", "Individual customers (orgs with Person Accounts only)."),
)

#: (DeveloperName, Name, Type, objects it may own) of the source org's groups: the support queues own
#: cases (see :func:`_queue_owned_cases`); a Regular group owns nothing.
_SOURCE_GROUPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("Tier_1_Support", "Tier 1 Support", "Queue", ("Case",)),
    ("Escalations", "Escalations", "Queue", ("Case",)),
    ("Project_Intake", "Project Intake", "Queue", ("Project__c",)),
    ("Support_Team", "Support Team", "Regular", ()),
)
#: The UAT sandbox's groups: Tier_1_Support again (another id, as every org has its own), the
#: escalation queue under another name (the owner mapping meets it), no Project_Intake.
_TARGET_GROUPS: tuple[tuple[str, str, str, tuple[str, ...]], ...] = (
    ("Tier_1_Support", "Tier 1 Support", "Queue", ("Case",)),
    ("Escalation_Team", "Escalation Team", "Queue", ("Case",)),
    ("Support_Team", "Support Team", "Regular", ()),
)

# --------------------------------------------------------------------------------------------
# Picklist values and vocabulary (values match schemas/demo.json)
# --------------------------------------------------------------------------------------------

_INDUSTRIES = (
    "Agriculture", "Apparel", "Banking", "Biotechnology", "Chemicals", "Communications",
    "Construction", "Consulting", "Education", "Electronics", "Energy", "Engineering",
    "Entertainment", "Environmental", "Finance", "Food & Beverage", "Government", "Healthcare",
    "Hospitality", "Insurance", "Machinery", "Manufacturing", "Media", "Not For Profit",
    "Recreation", "Retail", "Shipping", "Technology", "Telecommunications", "Transportation",
    "Utilities", "Other",
)
_ACCOUNT_TYPES = (
    ("Customer - Direct", 40), ("Customer - Channel", 15), ("Prospect", 20),
    ("Channel Partner / Reseller", 8), ("Installation Partner", 5), ("Technology Partner", 7),
    ("Other", 5),
)
_PARTNER_TYPES = frozenset({"Channel Partner / Reseller", "Installation Partner", "Technology Partner"})
_CUSTOMER_TYPES = frozenset({"Customer - Direct", "Customer - Channel"})
_TIERS = (("Platinum", 1), ("Gold", 3), ("Silver", 4), ("Bronze", 4))
_RATINGS = ("Hot", "Warm", "Cold")
_OWNERSHIP = ("Public", "Private", "Subsidiary", "Other")
_LEAD_SOURCES = ("Web", "Phone Inquiry", "Partner Referral", "Purchased List", "Other")
_REGIONS = ("North America", "EMEA", "APAC", "LATAM", "Canada", "UK", "Germany", "Japan",
            "Nordics", "Benelux")
_DIVISIONS = ("Services", "Holdings", "Logistics", "Labs", "Retail", "Manufacturing", "Digital")

_JOBS = (
    ("CEO", "Executive"), ("CFO", "Finance"), ("COO", "Operations"), ("VP of Sales", "Sales"),
    ("Sales Manager", "Sales"), ("Account Manager", "Sales"), ("Procurement Manager", "Procurement"),
    ("Purchasing Agent", "Procurement"), ("IT Director", "IT"), ("Systems Administrator", "IT"),
    ("Software Engineer", "Engineering"), ("Engineering Manager", "Engineering"),
    ("Marketing Director", "Marketing"), ("Marketing Coordinator", "Marketing"),
    ("Controller", "Finance"), ("Accounts Payable Specialist", "Finance"),
    ("Operations Manager", "Operations"), ("Office Manager", "Administration"),
    ("HR Business Partner", "Human Resources"), ("Customer Success Manager", "Customer Success"),
)

_STAGES = (
    ("Prospecting", 10.0, 8), ("Qualification", 10.0, 8), ("Needs Analysis", 20.0, 7),
    ("Value Proposition", 50.0, 6), ("Id. Decision Makers", 60.0, 5),
    ("Perception Analysis", 70.0, 4), ("Proposal/Price Quote", 75.0, 6),
    ("Negotiation/Review", 90.0, 5), ("Closed Won", 100.0, 30), ("Closed Lost", 0.0, 21),
)
_OPP_TYPES = ("Existing Customer - Upgrade", "Existing Customer - Replacement",
              "Existing Customer - Downgrade", "New Customer")
_PRODUCTS = ("Platform License", "Support Renewal", "Implementation Services", "Expansion",
             "Training Package", "Data Migration", "Premium Add-on", "Field Service Bundle",
             "Analytics Module", "Multi-year Agreement")
_NEXT_STEPS = ("Send proposal", "Schedule demo", "Follow up with procurement",
               "Legal review of MSA", "Confirm budget", "Executive sponsor call")

_SUPPORT_CASES = (
    ("Device will not power on", "Breakdown", "Electrical"),
    ("Unit overheating after firmware update", "Performance", "Electronic"),
    ("Installation guide missing steps", "Installation", "Other"),
    ("Replacement part request", "Breakdown", "Mechanical"),
    ("Intermittent connectivity loss", "Performance", "Electronic"),
    ("Noise from cooling fan", "Equipment Design", "Mechanical"),
    ("Cracked housing on delivery", "Equipment Design", "Structural"),
    ("Question about configuration options", "Equipment Complexity", "Other"),
    ("Sensor readings out of range", "Performance", "Electrical"),
    ("Feature request: export to CSV", "Feedback", "Other"),
)
_BILLING_CASES = (
    "Invoice amount does not match quote", "Request for updated W-9", "Duplicate charge on card",
    "Change billing contact", "Credit note not applied", "Question about renewal pricing",
)
_CASE_STATUS = (("New", 15), ("Working", 25), ("Escalated", 5), ("Closed", 55))
_PRIORITIES = (("High", 20), ("Medium", 55), ("Low", 25))
_ORIGINS = ("Phone", "Email", "Web")

_PROJECT_KINDS = ("Rollout", "Implementation", "Upgrade", "Data Migration", "Integration",
                  "Pilot", "Expansion", "Onboarding")
_PROJECT_STATUS = (("Planned", 20), ("In Progress", 40), ("On Hold", 8), ("Completed", 27),
                   ("Cancelled", 5))
_TASK_PHASES = ("Kickoff meeting", "Requirements workshop", "Solution design", "Environment setup",
                "Configuration", "Data migration", "Integration build", "User acceptance testing",
                "Training", "Go-live", "Hypercare")

# Counts of the demo data set.
_N_ACCOUNTS = 300
_N_OPPORTUNITIES = 600
_N_CASES = 400
_N_PROJECTS = 80

# The UAT sandbox: how many source accounts it already holds, and how many of them differ.
_TARGET_OVERLAP = 65
_TARGET_UPDATED = 25
_TARGET_ONLY_ACCOUNTS = 30

# --------------------------------------------------------------------------------------------
# Automation
# --------------------------------------------------------------------------------------------


def _validation_rule(name: str, obj: str, active: bool, formula: str, message: str,
                     display_field: str | None, description: str) -> dict[str, Any]:
    """A validation rule in the shape the tooling API's ValidationRule returns."""
    return {
        "ValidationName": name, "EntityDefinitionId": obj, "Active": active,
        "ErrorMessage": message, "ErrorDisplayField": display_field,
        "ErrorConditionFormula": formula, "Description": description,
    }


def _partner_website_rule() -> dict[str, Any]:
    """Active on both orgs; every generated technology partner has a website."""
    return _validation_rule(
        "Partner_Website_Required", "Account", True,
        'AND(ISPICKVAL(Type, "Technology Partner"), ISBLANK(Website))',
        "Technology partners need a website.", "Website",
        "Partner portal listings link to the partner's website.")


def _closed_case_rule() -> dict[str, Any]:
    """Active on both orgs; every generated closed case has a description."""
    return _validation_rule(
        "Closed_Case_Requires_Description", "Case", True,
        'AND(ISPICKVAL(Status, "Closed"), ISBLANK(Description))',
        "Describe the problem before closing the case.", "Description",
        "Closed cases feed the knowledge base.")


def _contact_phone_rule(active: bool) -> dict[str, Any]:
    """Inactive on the source, active on the target: ~5 % of the source contacts break it."""
    return _validation_rule(
        "Contact_Phone_Required", "Contact", active, "ISBLANK(Phone)",
        "Phone is required for every contact.", "Phone",
        "The UAT call-centre pilot needs a phone number on every contact.")


def _case_trigger(active: bool) -> dict[str, Any]:
    """An Apex trigger on Case that never fails a save (active on source, inactive on target)."""
    return {
        "Name": "CaseTrigger", "TableEnumOrId": "Case",
        "Status": "Active" if active else "Inactive",
        "UsageBeforeInsert": True, "UsageAfterInsert": True,
        "UsageBeforeUpdate": True, "UsageAfterUpdate": False,
        "Body": ("trigger CaseTrigger on Case (before insert, after insert, before update) {\n"
                 "    CaseTriggerHandler.handle(Trigger.new, Trigger.oldMap, Trigger.operationType);\n"
                 "}"),
        "FailCondition": None, "FailMessage": None,
    }


def _opportunity_guard_trigger() -> dict[str, Any]:
    """The target's Opportunity trigger; its fail condition is false for all demo data."""
    return {
        "Name": "OpportunityGuard", "TableEnumOrId": "Opportunity", "Status": "Active",
        "UsageBeforeInsert": True, "UsageAfterInsert": False,
        "UsageBeforeUpdate": True, "UsageAfterUpdate": False,
        "Body": ("trigger OpportunityGuard on Opportunity (before insert, before update) {\n"
                 "    for (Opportunity opp : Trigger.new) {\n"
                 "        if (opp.StageName == 'Closed Won' && opp.AccountId == null) {\n"
                 "            opp.addError('A won opportunity needs an account.');\n"
                 "        }\n"
                 "    }\n"
                 "}"),
        "FailCondition": 'AND(ISPICKVAL(StageName, "Closed Won"), ISBLANK(AccountId))',
        "FailMessage": "A won opportunity needs an account.",
    }


def _next_step_flow(active: bool) -> dict[str, Any]:
    """A before-save flow on Opportunity (active on source, inactive on target)."""
    return {
        "DeveloperName": "Opportunity_Default_Next_Step",
        "MasterLabel": "Opportunity: Default Next Step",
        "ProcessType": "AutoLaunchedFlow", "TriggerType": "RecordBeforeSave",
        "TriggerObject": "Opportunity", "TriggerOn": "CreateAndUpdate", "Active": active,
        "FailCondition": None, "FailMessage": None,
    }


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def _fit(text: str, length: int) -> str:
    """``text`` cut to ``length`` characters (without a trailing space)."""
    return text if len(text) <= length else text[:length].rstrip()


def _weighted(rng: random.Random, pairs: Iterable[tuple[Any, int]]) -> Any:
    """One value of (value, weight) pairs."""
    items = list(pairs)
    return rng.choices([value for value, _ in items], weights=[w for _, w in items])[0]


def _iso(day: date) -> str:
    """A date as Salesforce writes it: ``YYYY-MM-DD``."""
    return day.isoformat()


def _random_day(rng: random.Random, start: date, end: date) -> date:
    """A day between ``start`` and ``end`` inclusive."""
    return date.fromordinal(rng.randint(start.toordinal(), end.toordinal()))


def _phone(rng: random.Random, area: int | None = None) -> str:
    """A US phone number as users type them: ``(415) 555-0134``."""
    area = area if area is not None else rng.randint(201, 989)
    return f"({area}) {rng.randint(200, 989)}-{rng.randint(0, 9999):04d}"


def _area_code(phone: str) -> int:
    """The area code of a number made by :func:`_phone`."""
    return int(phone[1:4])


def _slug(text: str) -> str:
    """Lower-case ASCII letters and digits of ``text`` joined by hyphens."""
    return "-".join(re.findall(r"[a-z0-9]+", text.lower()))


def _email_part(text: str) -> str:
    """``text`` reduced to lower-case ASCII letters and digits, for an email's local part."""
    return "".join(re.findall(r"[a-z0-9]+", text.lower()))


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    """``values`` without the null ones (a seed leaves empty fields out)."""
    return {name: value for name, value in values.items() if value is not None}


def _unique_company(fake: Faker, taken: set[str]) -> str:
    """A Faker company name not in ``taken`` (which it joins)."""
    while True:
        name = _fit(fake.company(), 80)
        if name not in taken:
            taken.add(name)
            return name


def _unique_email(first: str, last: str, domain: str, taken: set[str]) -> str:
    """``first.last@domain``, numbered when taken; joins ``taken``."""
    local = f"{_email_part(first)}.{_email_part(last)}"
    candidate, n = f"{local}@{domain}", 1
    while candidate in taken:
        n += 1
        candidate = f"{local}{n}@{domain}"
    taken.add(candidate)
    return candidate


# --------------------------------------------------------------------------------------------
# Org row, users, record types
# --------------------------------------------------------------------------------------------


def _organization_record(name: str, org_type: str, is_sandbox: bool, instance: str) -> SeedRecord:
    """The org's single Organization row."""
    return SeedRecord("Organization", "org", {
        "Name": name, "IsSandbox": is_sandbox, "OrganizationType": org_type,
        "InstanceName": instance,
    })


def _user_records(username_suffix: str = "", skip: Iterable[str] = ()) -> list[SeedRecord]:
    """The Acme users; ``username_suffix`` is appended to usernames (sandboxes add ``.uat``)."""
    skipped = set(skip)
    out = []
    for person in _USERS:
        if person.key in skipped:
            continue
        email = f"{person.key}@{_MAIL_DOMAIN}"
        out.append(SeedRecord("User", person.key, {
            "Username": email + username_suffix, "LastName": person.last,
            "FirstName": person.first, "Name": f"{person.first} {person.last}",
            "Title": person.title, "Department": person.department, "Email": email,
            "Alias": person.alias, "IsActive": True, "ProfileId": Ref("Profile", person.profile),
        }))
    return out


#: The standard profiles every org has (a subset), with their descriptions.
_PROFILES = (
    ("System Administrator", "Full access to the org's setup and data"),
    ("Standard User", "Creates and edits most record types; cannot customise the org"),
    ("Read Only", "Reads records, changes none"),
    ("Minimum Access - Salesforce", "Only what permission sets grant"),
)


def _group_records(groups: Iterable[tuple[str, str, str, tuple[str, ...]]]) -> list[SeedRecord]:
    """Groups and queues, with a QueueSobject row per object a queue may own (seed key ``Queue.Object``)."""
    out = []
    for developer_name, name, kind, objects in groups:
        out.append(SeedRecord("Group", developer_name, {
            "Name": name, "DeveloperName": developer_name, "Type": kind,
            "Email": f"{developer_name.lower().replace('_', '.')}@{_MAIL_DOMAIN}" if kind == "Queue" else None,
            "DoesSendEmailToMembers": False}))
        out += [SeedRecord("QueueSobject", f"{developer_name}.{obj}",
                           {"QueueId": Ref("Group", developer_name), "SobjectType": obj}) for obj in objects]
    return [SeedRecord(r.object, r.key, _drop_none(r.values)) for r in out]


def _setup_records(username_suffix: str = "", skip: Iterable[str] = (),
                   groups: Iterable[tuple[str, str, str, tuple[str, ...]]] = _SOURCE_GROUPS) -> list[SeedRecord]:
    """What every org has before its business data: profiles, users, groups and queues, record types."""
    profiles = [SeedRecord("Profile", name, {"Name": name, "UserType": "Standard", "Description": text})
                for name, text in _PROFILES]
    return profiles + _user_records(username_suffix, skip) + _group_records(groups) + _record_type_records()


def _record_type_key(sobject: str, developer_name: str) -> str:
    """The seed key of a RecordType record: ``Account.Customer``."""
    return f"{sobject}.{developer_name}"


def _record_type_records() -> list[SeedRecord]:
    """Every record type of the demo schema (pruned later to what the org's schema declares)."""
    return [
        SeedRecord("RecordType", _record_type_key(sobject, dev), {
            "Name": label, "DeveloperName": dev, "SobjectType": sobject, "IsActive": True,
            "Description": description, "IsPersonType": dev == PERSON_RECORD_TYPE,
        })
        for sobject, dev, label, description in _RECORD_TYPES
    ]


# --------------------------------------------------------------------------------------------
# The demo data set (source)
# --------------------------------------------------------------------------------------------


@dataclass
class _DemoData:
    """The generated business records of demo-source, with the indexes the target needs."""

    accounts: list[SeedRecord]
    contacts: list[SeedRecord]
    opportunities: list[SeedRecord]
    cases: list[SeedRecord]
    projects: list[SeedRecord]
    tasks: list[SeedRecord]
    contacts_by_account: dict[str, list[str]]
    emails: set[str]
    account_names: set[str]
    people: list[SeedRecord] = field(default_factory=list)         # person accounts
    person_cases: list[SeedRecord] = field(default_factory=list)   # cases on their person contacts

    def all_records(self) -> list[SeedRecord]:
        """The business records, parents' objects first."""
        return (self.accounts + self.people + self.contacts + self.opportunities + self.cases
                + self.person_cases + self.projects + self.tasks)


def _account_values(rng: random.Random, fake: Faker, name: str, parent: SeedRecord | None,
                    number: int) -> dict[str, Any]:
    """The field values of one generated account (without references other than ParentId)."""
    if parent is not None:
        industry = parent.values["Industry"] if rng.random() < 0.8 else rng.choice(_INDUSTRIES)
        account_type = parent.values["Type"] if rng.random() < 0.7 else _weighted(rng, _ACCOUNT_TYPES)
        website = parent.values.get("Website")
        owner = parent.values["OwnerId"] if rng.random() < 0.7 else Ref(
            "User", _weighted(rng, zip(_SALES_OWNERS, _SALES_WEIGHTS)))
    else:
        industry = rng.choice(_INDUSTRIES)
        account_type = _weighted(rng, _ACCOUNT_TYPES)
        website = None
        if account_type in _PARTNER_TYPES or rng.random() < 0.9:
            website = f"https://www.{_slug(name)}.com"
        owner = Ref("User", _weighted(rng, zip(_SALES_OWNERS, _SALES_WEIGHTS)))
    is_partner = account_type in _PARTNER_TYPES
    if is_partner and website is None:  # Partner_Website_Required would reject it
        website = f"https://www.{_slug(name)}.com"
    area = rng.randint(201, 989)
    employees = rng.choice((12, 25, 40, 75, 120, 250, 480, 900, 1500, 3200, 7800, 15000, 42000))
    values = {
        "Name": name,
        "Type": account_type,
        "ParentId": Ref("Account", parent.key) if parent is not None else None,
        "BillingStreet": fake.street_address(),
        "BillingCity": _fit(fake.city(), 40),
        "BillingState": fake.state_abbr(),
        "BillingPostalCode": fake.postcode(),
        "BillingCountry": "United States",
        "Phone": _phone(rng, area) if rng.random() < 0.97 else None,
        "Fax": _phone(rng, area) if rng.random() < 0.3 else None,
        "AccountNumber": f"CD{rng.randint(100000, 999999)}" if rng.random() < 0.6 else None,
        "Website": website,
        "Industry": industry,
        "AnnualRevenue": float(employees * rng.randint(80, 400) * 1000) if rng.random() < 0.85 else None,
        "NumberOfEmployees": employees if rng.random() < 0.9 else None,
        "Ownership": ("Subsidiary" if parent is not None else rng.choice(_OWNERSHIP[:2]))
        if rng.random() < 0.7 else None,
        "Description": fake.catch_phrase() if rng.random() < 0.4 else None,
        "Rating": rng.choice(_RATINGS) if rng.random() < 0.7 else None,
        "AccountSource": rng.choice(_LEAD_SOURCES) if rng.random() < 0.6 else None,
        "External_Id__c": f"ACC-{number:05d}",
        "Customer_Tier__c": _weighted(rng, _TIERS) if account_type in _CUSTOMER_TYPES else None,
        "OwnerId": owner,
        "RecordTypeId": Ref("RecordType", _record_type_key(
            "Account", "Partner" if is_partner else "Customer")),
    }
    return _drop_none(values)


def _generate_accounts(rng: random.Random, fake: Faker, names: set[str]) -> list[SeedRecord]:
    """~300 accounts; about a third are children, hierarchies are at most three levels deep."""
    accounts: list[SeedRecord] = []
    depth: dict[str, int] = {}
    for number in range(1, _N_ACCOUNTS + 1):
        parent = None
        if number > 40 and rng.random() < 0.35:
            parent = rng.choice([a for a in accounts if depth[a.key] < 3])
        if parent is None:
            name = _unique_company(fake, names)
        elif depth[parent.key] == 1:
            name = _fit(f"{parent.values['Name']} {rng.choice(_REGIONS)}", 255)
        else:
            name = _fit(f"{parent.values['Name']} {rng.choice(_DIVISIONS)}", 255)
        key = f"acc-{number:04d}"
        record = SeedRecord("Account", key, _account_values(rng, fake, name, parent, number))
        depth[key] = 1 if parent is None else depth[parent.key] + 1
        names.add(name)
        accounts.append(record)
    return accounts


def _contact_values(rng: random.Random, fake: Faker, account: SeedRecord,
                    emails: set[str]) -> dict[str, Any]:
    """One contact of ``account`` (AccountId set, no ReportsToId yet)."""
    female = rng.random() < 0.5
    first = fake.first_name_female() if female else fake.first_name_male()
    last = fake.last_name()
    title, department = rng.choice(_JOBS)
    salutation = None
    if rng.random() < 0.6:
        salutation = "Dr." if rng.random() < 0.06 else ("Ms." if female else "Mr.")
    website = account.values.get("Website")
    domain = website.removeprefix("https://www.") if website else f"{_slug(account.values['Name'])}.com"
    phone = account.values.get("Phone")
    area = _area_code(phone) if phone else None
    same_address = rng.random() < 0.8
    values = {
        "AccountId": Ref("Account", account.key),
        "LastName": _fit(last, 80),
        "FirstName": _fit(first, 40),
        "Salutation": salutation,
        "Name": _fit(f"{first} {last}", 121),
        "MailingStreet": account.values.get("BillingStreet") if same_address else None,
        "MailingCity": account.values.get("BillingCity") if same_address else None,
        "MailingState": account.values.get("BillingState") if same_address else None,
        "MailingPostalCode": account.values.get("BillingPostalCode") if same_address else None,
        "MailingCountry": account.values.get("BillingCountry") if same_address else None,
        "Phone": _phone(rng, area),
        "MobilePhone": _phone(rng) if rng.random() < 0.6 else None,
        "Email": _unique_email(first, last, domain, emails),
        "Title": title,
        "Department": department,
        "LeadSource": rng.choice(_LEAD_SOURCES) if rng.random() < 0.6 else None,
        "Birthdate": _iso(_random_day(rng, date(1955, 1, 1), date(2000, 12, 31)))
        if rng.random() < 0.4 else None,
        "Description": fake.bs().capitalize() + "." if rng.random() < 0.1 else None,
        "OwnerId": account.values["OwnerId"],
    }
    return _drop_none(values)


def _generate_contacts(rng: random.Random, fake: Faker, accounts: list[SeedRecord],
                       emails: set[str]) -> tuple[list[SeedRecord], dict[str, list[str]]]:
    """~900 contacts (1-5 per account) with ReportsTo chains inside each account.

    Also sets Primary_Contact__c on ~60 % of the accounts and removes the Phone of ~5 % of the
    contacts, choosing only contacts nobody points at (so copies of the rest stay consistent).
    """
    contacts: list[SeedRecord] = []
    by_account: dict[str, list[str]] = {}
    number = 0
    for account in accounts:
        keys: list[str] = []
        for index in range(rng.randint(1, 5)):
            number += 1
            key = f"con-{number:04d}"
            values = _contact_values(rng, fake, account, emails)
            if index > 0 and rng.random() < 0.45:
                values["ReportsToId"] = Ref("Contact", rng.choice(keys))
            contacts.append(SeedRecord("Contact", key, values))
            keys.append(key)
        by_account[account.key] = keys
    referenced: set[str] = set()
    for contact in contacts:
        manager = contact.values.get("ReportsToId")
        if manager is not None:
            referenced.add(manager.key)
    for account in accounts:
        if rng.random() < 0.6:
            primary = rng.choice(by_account[account.key])
            account.values["Primary_Contact__c"] = Ref("Contact", primary)
            referenced.add(primary)
    candidates = [c for c in contacts if c.key not in referenced]
    for contact in rng.sample(candidates, round(len(contacts) * 0.05)):
        del contact.values["Phone"]
    return contacts, by_account


def _generate_opportunities(rng: random.Random, accounts: list[SeedRecord]) -> list[SeedRecord]:
    """~600 opportunities; closed ones in 2023-mid 2025, open ones closing by mid 2026."""
    out = []
    for number in range(1, _N_OPPORTUNITIES + 1):
        account = rng.choice(accounts)
        stage, probability = _weighted(rng, ((s[:2], s[2]) for s in _STAGES))
        closed = stage.startswith("Closed")
        close = (_random_day(rng, date(2023, 1, 1), date(2025, 6, 30)) if closed
                 else _random_day(rng, date(2025, 7, 1), date(2026, 6, 30)))
        product = rng.choice(_PRODUCTS)
        owner = account.values["OwnerId"] if rng.random() < 0.8 else Ref(
            "User", _weighted(rng, zip(_SALES_OWNERS, _SALES_WEIGHTS)))
        values = {
            "AccountId": Ref("Account", account.key),
            "Name": _fit(f"{account.values['Name']} - {product}", 120),
            "Description": f"{product} for {account.values['Name']}." if rng.random() < 0.2 else None,
            "StageName": stage,
            "Amount": float(rng.randint(5, 500) * 1000) if rng.random() < 0.95 else None,
            "Probability": probability,
            "CloseDate": _iso(close),
            "Type": rng.choice(_OPP_TYPES) if rng.random() < 0.8 else None,
            "NextStep": rng.choice(_NEXT_STEPS) if not closed and rng.random() < 0.5 else None,
            "LeadSource": rng.choice(_LEAD_SOURCES) if rng.random() < 0.7 else None,
            "OwnerId": owner,
        }
        out.append(SeedRecord("Opportunity", f"opp-{number:04d}", _drop_none(values)))
    return out


def _generate_cases(rng: random.Random, accounts: list[SeedRecord],
                    contacts_by_account: dict[str, list[str]]) -> list[SeedRecord]:
    """~400 cases; ~8 % are child cases of an earlier case of the same account."""
    out = []
    by_account: dict[str, list[str]] = {}
    for number in range(1, _N_CASES + 1):
        account = rng.choice(accounts)
        status = _weighted(rng, _CASE_STATUS)
        billing = rng.random() < 0.15
        if billing:
            subject, reason, case_type = rng.choice(_BILLING_CASES), "Other", "Other"
        else:
            subject, reason, case_type = rng.choice(_SUPPORT_CASES)
        description = None
        if status == "Closed" or rng.random() < 0.7:  # Closed_Case_Requires_Description
            description = (f"Customer reported: {subject.lower()}. "
                           f"Reported via {account.values['Name']}'s support line.")
        earlier = by_account.setdefault(account.key, [])
        owner = _weighted(rng, (("wei.chen", 60), (_API_USER, 15), ("account", 25)))
        values = {
            "CaseNumber": f"{1000 + number:08d}",
            "ContactId": Ref("Contact", rng.choice(contacts_by_account[account.key]))
            if rng.random() < 0.9 else None,
            "AccountId": Ref("Account", account.key),
            "ParentId": Ref("Case", rng.choice(earlier)) if earlier and rng.random() < 0.25 else None,
            "Type": case_type,
            "Status": status,
            "Reason": reason,
            "Origin": rng.choice(_ORIGINS),
            "Subject": subject,
            "Priority": _weighted(rng, _PRIORITIES),
            "Description": description,
            "IsEscalated": status == "Escalated",
            "OwnerId": account.values["OwnerId"] if owner == "account" else Ref("User", owner),
            "RecordTypeId": Ref("RecordType", _record_type_key("Case", "Billing" if billing else "Support")),
        }
        key = f"case-{number:04d}"
        earlier.append(key)
        out.append(SeedRecord("Case", key, _drop_none(values)))
    return out


def _queue_owned_cases(cases: list[SeedRecord], projects: list[SeedRecord]) -> None:
    """Hand open cases of the support manager to the support queues, and planned projects to the intake
    queue: escalated cases to Escalations, every third new one to Tier_1_Support. Chosen by their
    values, not by the random generator, so every other record stays as it was."""
    for number, case in enumerate(cases):
        if case.values.get("OwnerId") != Ref("User", "wei.chen"):
            continue
        if case.values["Status"] == "Escalated":
            case.values["OwnerId"] = Ref("Group", "Escalations")
        elif case.values["Status"] == "New" and number % 3 == 0:
            case.values["OwnerId"] = Ref("Group", "Tier_1_Support")
    for number, project in enumerate(projects):
        if project.values.get("Status__c") == "Planned" and number % 4 == 0:
            project.values["OwnerId"] = Ref("Group", "Project_Intake")


def _generate_projects(rng: random.Random, fake: Faker,
                       accounts: list[SeedRecord]) -> tuple[list[SeedRecord], list[SeedRecord]]:
    """~80 projects of customer accounts and ~400 tasks (3-7 each) with dependency chains."""
    customers = [a for a in accounts if a.values["Type"] in _CUSTOMER_TYPES]
    projects: list[SeedRecord] = []
    tasks: list[SeedRecord] = []
    task_number = 0
    for number in range(1, _N_PROJECTS + 1):
        account = rng.choice(customers)
        status = _weighted(rng, _PROJECT_STATUS)
        start = _random_day(rng, date(2024, 1, 1), date(2025, 12, 31))
        length = rng.randint(30, 270)
        key = f"prj-{number:03d}"
        projects.append(SeedRecord("Project__c", key, _drop_none({
            "Name": _fit(f"{_fit(account.values['Name'], 50)} {rng.choice(_PROJECT_KINDS)}", 80),
            "Account__c": Ref("Account", account.key),
            "Status__c": status,
            "Budget__c": float(rng.randint(20, 400) * 1000) if rng.random() < 0.9 else None,
            "Start_Date__c": _iso(start),
            "End_Date__c": _iso(start + timedelta(days=length)) if rng.random() < 0.8 else None,
            "External_Id__c": f"PRJ-{number:04d}",
            "Description__c": fake.catch_phrase() if rng.random() < 0.3 else None,
            "OwnerId": Ref("User", "priya.patel" if rng.random() < 0.7 else "jane.doe"),
        })))
        phases = sorted(rng.sample(range(len(_TASK_PHASES)), rng.randint(3, 7)))
        done_upto = {"Completed": len(phases), "In Progress": rng.randint(1, len(phases) - 1),
                     "On Hold": rng.randint(0, 2)}.get(status, 0)
        previous: str | None = None
        for index, phase in enumerate(phases):
            task_number += 1
            task_key = f"task-{task_number:04d}"
            due = start + timedelta(days=length * (index + 1) // len(phases))
            assignee = _weighted(rng, (("priya.patel", 50), ("wei.chen", 15), ("john.smith", 15),
                                       ("jane.doe", 5), (None, 15)))
            tasks.append(SeedRecord("Project_Task__c", task_key, _drop_none({
                "Name": _TASK_PHASES[phase],
                "Project__c": Ref("Project__c", key),
                "Depends_On__c": Ref("Project_Task__c", previous)
                if previous is not None and rng.random() < 0.6 else None,
                "Hours__c": rng.randint(2, 80) / 2,
                "Done__c": index < done_upto,
                "Due_Date__c": _iso(due),
                "Assignee__c": Ref("User", assignee) if assignee else None,
            })))
            previous = task_key
    return projects, tasks


_N_PEOPLE = 20
_N_PERSON_CASES = 12


def _person_values(rng: random.Random, fake: Faker, number: int, emails: set[str]) -> dict[str, Any]:
    """One person account: an individual customer, created from FirstName/LastName and Person* fields
    (never Name, which the org composes)."""
    female = rng.random() < 0.5
    first = fake.first_name_female() if female else fake.first_name_male()
    last = fake.last_name()
    return _drop_none({
        "RecordTypeId": Ref("RecordType", _record_type_key("Account", PERSON_RECORD_TYPE)),
        "Salutation": ("Ms." if female else "Mr.") if rng.random() < 0.5 else None,
        "FirstName": _fit(first, 40),
        "LastName": _fit(last, 80),
        "PersonEmail": _unique_email(first, last, fake.free_email_domain(), emails),
        "PersonMailingStreet": fake.street_address(),
        "PersonMailingCity": _fit(fake.city(), 40),
        "PersonMailingState": fake.state_abbr(),
        "PersonMailingPostalCode": fake.postcode(),
        "PersonMailingCountry": "United States",
        "PersonMobilePhone": _phone(rng) if rng.random() < 0.8 else None,
        "PersonHomePhone": _phone(rng) if rng.random() < 0.3 else None,
        "PersonBirthdate": _iso(_random_day(rng, date(1950, 1, 1), date(2002, 12, 31)))
        if rng.random() < 0.6 else None,
        "PersonLeadSource": rng.choice(_LEAD_SOURCES) if rng.random() < 0.6 else None,
        "AccountSource": rng.choice(_LEAD_SOURCES) if rng.random() < 0.5 else None,
        "Rating": rng.choice(_RATINGS) if rng.random() < 0.5 else None,
        "External_Id__c": f"PA-{number:05d}",
        "OwnerId": Ref("User", _weighted(rng, zip(_SALES_OWNERS, _SALES_WEIGHTS))),
    })


def _generate_people(data: _DemoData) -> None:
    """~20 person accounts (individual customers) and ~12 billing cases on their person contacts
    (``Ref("Contact", account key)``; billing, whose record type both demo orgs have, so they sync as they
    are; one subject per person, the demo template's Case key). Their own random stream, so the rest of the
    demo data is unchanged."""
    rng = random.Random(_SOURCE_RANDOM_SEED + 2)
    fake = Faker("en_US")
    fake.seed_instance(_SOURCE_RANDOM_SEED + 2)
    data.people = [SeedRecord("Account", f"pacc-{n:04d}", _person_values(rng, fake, n, data.emails))
                   for n in range(1, _N_PEOPLE + 1)]
    asked: set[tuple[str, str]] = set()
    for number in range(1, _N_PERSON_CASES + 1):
        person, subject = rng.choice(data.people), rng.choice(_BILLING_CASES)
        while (person.key, subject) in asked:
            person, subject = rng.choice(data.people), rng.choice(_BILLING_CASES)
        asked.add((person.key, subject))
        reason, case_type = "Other", "Other"
        status = _weighted(rng, _CASE_STATUS)
        name = f"{person.values['FirstName']} {person.values['LastName']}"
        data.person_cases.append(SeedRecord("Case", f"pcase-{number:04d}", _drop_none({
            "CaseNumber": f"{1000 + _N_CASES + number:08d}",
            "ContactId": Ref("Contact", person.key),
            "AccountId": Ref("Account", person.key),
            "Type": case_type, "Status": status, "Reason": reason, "Origin": rng.choice(_ORIGINS),
            "Subject": subject, "Priority": _weighted(rng, _PRIORITIES),
            "Description": f"Customer reported: {subject.lower()}. Called in by {name}.",
            "IsEscalated": status == "Escalated",
            "OwnerId": Ref("User", rng.choice(("wei.chen", "wei.chen", _API_USER))),
            "RecordTypeId": Ref("RecordType", _record_type_key("Case", "Billing")),
        })))


_N_ACTIVITIES = 150
_ACTIVITY_SUBJECTS = ("Call", "Send Quote", "Send Letter", "Quarterly review", "Follow-up email", "Other")
_ACTIVITY_STATUS = (("Not Started", 30), ("In Progress", 20), ("Completed", 45), ("Deferred", 5))


def _generate_activities(data: _DemoData) -> list[SeedRecord]:
    """Tasks related to ("What") accounts, opportunities, cases and projects, most with a contact ("Who") of
    the same account. Their own random stream, so the rest of the demo data is unchanged by them."""
    rng = random.Random(_SOURCE_RANDOM_SEED + 1)
    parents = data.accounts + data.opportunities + data.cases + data.projects
    out = []
    for number in range(1, _N_ACTIVITIES + 1):
        what = rng.choice(parents)
        account = what.key if what.object == "Account" else getattr(what.values.get("AccountId") or what.values.get(
            "Account__c"), "key", None)
        contacts = data.contacts_by_account.get(account or "", [])
        owner = what.values.get("OwnerId") or Ref("User", rng.choice(_SALES_OWNERS))
        out.append(SeedRecord("Task", f"task-{number:04d}", _drop_none({
            "Subject": rng.choice(_ACTIVITY_SUBJECTS), "WhatId": Ref(what.object, what.key),
            "WhoId": Ref("Contact", rng.choice(contacts)) if contacts and rng.random() < 0.8 else None,
            "Status": _weighted(rng, _ACTIVITY_STATUS), "Priority": rng.choice(("High", "Normal", "Normal", "Low")),
            "ActivityDate": _iso(_random_day(rng, date(2024, 1, 1), date(2024, 12, 31))), "OwnerId": owner,
        })))
    return out


_ACCOUNT_FILES = ("Master Services Agreement", "Signed Quote", "Account Plan FY25", "W-9 Form",
                  "Credit Application", "Statement of Work")
_CASE_FILES = ("Error Log Export", "Customer Letter", "Return Authorization", "Inspection Report")
_IMAGE_FILES = ("Site Photo", "Damaged Unit", "Storefront", "Whiteboard Notes")
_N_ACCOUNT_FILES = 22
_N_CASE_FILES = 14
_N_ATTACHMENTS = 10
_N_NOTES = 12
#: The one large file of demo-source (a PDF, generated as it is read; never stored).
LARGE_FILE_BYTES = 24 * 1024 * 1024
_NOTE_TITLES = ("Call summary", "Renewal risk", "Pricing discussion", "Escalation contact", "Visit notes")


def _generate_files(data: _DemoData) -> list[SeedRecord]:
    """The Salesforce Files, Attachments and Notes of demo-source, on its accounts and cases: small PDFs and
    PNGs (valid files made in code), one large PDF (:data:`LARGE_FILE_BYTES`), one document with a second
    version, legacy Attachments and Notes. The bytes are :class:`~.files.Generated`: made when a file is
    read, so seeding writes none. Their own random stream, so the rest of the demo data is unchanged."""
    rng = random.Random(_SOURCE_RANDOM_SEED + 2)
    accounts = rng.sample(data.accounts, 16)
    cases = rng.sample(data.cases, 10)
    out: list[SeedRecord] = []
    number = 0

    def version(parent: SeedRecord, title: str, kind: str, **extra: Any) -> SeedRecord:
        nonlocal number
        number += 1
        extension = "png" if kind == "png" else "pdf"
        size = LARGE_FILE_BYTES if kind == "large" else 0
        owner = parent.values.get("OwnerId") if parent.object == "Account" else None
        record = SeedRecord("ContentVersion", f"file-{number:03d}", _drop_none({
            "Title": title, "PathOnClient": f"{title}.{extension}",
            "VersionData": Generated(kind, number, title, size),
            "FirstPublishLocationId": Ref(parent.object, parent.key), "OwnerId": owner, **extra}))
        out.append(record)
        return record
    for index in range(_N_ACCOUNT_FILES):
        account = accounts[index % len(accounts)]
        if index % 4 == 3:
            version(account, f"{rng.choice(_IMAGE_FILES)} {index + 1}", "png")
        else:
            version(account, f"{rng.choice(_ACCOUNT_FILES)} - {account.values['Name']}"[:80], "pdf")
    for index in range(_N_CASE_FILES):
        case = cases[index % len(cases)]
        kind = "png" if index % 3 == 2 else "pdf"
        version(case, f"{rng.choice(_CASE_FILES if kind == 'pdf' else _IMAGE_FILES)} {case.values['CaseNumber']}",
                kind)
    version(accounts[0], "Site survey scans", "large")
    first = out[0]
    revised = version(accounts[0], str(first.values["Title"]), "pdf", ReasonForChange="Countersigned copy")
    revised.values.pop("FirstPublishLocationId")
    revised.values["ContentDocumentId"] = Ref("ContentDocument", first.key)   # the first file's document
    for index in range(_N_ATTACHMENTS):
        parent = accounts[index] if index % 2 == 0 else cases[index]
        number += 1
        kind = "png" if index % 3 == 0 else "pdf"
        name = f"{'Scan' if kind == 'png' else 'Legacy contract'} {index + 1}.{kind}"
        out.append(SeedRecord("Attachment", f"attachment-{index + 1:03d}", {
            "ParentId": Ref(parent.object, parent.key), "Name": name,
            "ContentType": "image/png" if kind == "png" else "application/pdf",
            "Body": Generated(kind, number, name)}))
    for index in range(_N_NOTES):
        account = accounts[(index * 5) % len(accounts)]
        title = rng.choice(_NOTE_TITLES)
        out.append(SeedRecord("Note", f"note-{index + 1:03d}", {
            "ParentId": Ref("Account", account.key), "Title": title,
            "Body": f"{title} with {account.values['Name']}: follow up before the end of the quarter."}))
    return out


def _generate_demo_data() -> _DemoData:
    """The Acme Corp business data, identical on every call."""
    rng = random.Random(_SOURCE_RANDOM_SEED)
    fake = Faker("en_US")
    fake.seed_instance(_SOURCE_RANDOM_SEED)
    names: set[str] = set()
    emails: set[str] = set()
    accounts = _generate_accounts(rng, fake, names)
    contacts, by_account = _generate_contacts(rng, fake, accounts, emails)
    opportunities = _generate_opportunities(rng, accounts)
    cases = _generate_cases(rng, accounts, by_account)
    projects, tasks = _generate_projects(rng, fake, accounts)
    data = _DemoData(accounts, contacts, opportunities, cases, projects, tasks, by_account,
                     emails, names)
    _generate_people(data)
    return data


# --------------------------------------------------------------------------------------------
# The UAT target, derived from the source data
# --------------------------------------------------------------------------------------------


def _overlap_accounts(rng: random.Random, data: _DemoData) -> list[SeedRecord]:
    """~65 source accounts the target already holds, closed under ParentId (source order)."""
    by_key = {a.key: a for a in data.accounts}
    chosen: set[str] = set()
    order = list(data.accounts)
    rng.shuffle(order)
    for account in order:
        if len(chosen) >= _TARGET_OVERLAP:
            break
        family = []
        current: SeedRecord | None = account
        while current is not None:
            family.append(current.key)
            parent = current.values.get("ParentId")
            current = by_key[parent.key] if parent is not None else None
        if any(by_key[k].values["OwnerId"].key == _TARGET_MISSING_USER for k in family):
            continue
        chosen.update(family)
    return [a for a in data.accounts if a.key in chosen]


def _target_business_records(data: _DemoData) -> list[SeedRecord]:
    """Target accounts and contacts: copies of source records (some changed) plus target-only ones."""
    rng = random.Random(_TARGET_RANDOM_SEED)
    fake = Faker("en_US")
    fake.seed_instance(_TARGET_RANDOM_SEED)

    overlap = _overlap_accounts(rng, data)
    updated = {a.key for a in rng.sample(overlap, _TARGET_UPDATED)}
    account_map: dict[str, str] = {}
    for number, account in enumerate(overlap, start=1):
        account_map[account.key] = f"uat-acc-{number:04d}"
    contact_keys = [k for a in overlap for k in data.contacts_by_account[a.key]]
    contacts_by_key = {c.key: c for c in data.contacts}
    contact_map: dict[str, str] = {}
    for key in contact_keys:
        if "Phone" in contacts_by_key[key].values:  # the target's Contact_Phone_Required
            contact_map[key] = f"uat-con-{len(contact_map) + 1:04d}"

    def remap(values: dict[str, Any]) -> dict[str, Any]:
        """Source values with Account and Contact Refs pointing at the target's copies."""
        out = {}
        for name, value in values.items():
            if isinstance(value, Ref) and value.object == "Account":
                value = Ref("Account", account_map[value.key])
            elif isinstance(value, Ref) and value.object == "Contact":
                value = Ref("Contact", contact_map[value.key])
            out[name] = value
        return out

    accounts: list[SeedRecord] = []
    for account in overlap:
        values = remap(account.values)
        # Customer_Tier__c: the target's acme__Customer_Tier__c (rename_fields moves the value)
        if account.key in updated:
            change = rng.choice(("Phone", "Industry", "both"))
            if change in ("Phone", "both"):
                old = values.get("Phone")
                while values.get("Phone") == old:
                    values["Phone"] = _phone(rng)
            if change in ("Industry", "both"):
                values["Industry"] = rng.choice([i for i in _INDUSTRIES if i != values["Industry"]])
        accounts.append(SeedRecord("Account", account_map[account.key], values))

    contacts: list[SeedRecord] = []
    for key, target_key in contact_map.items():
        values = remap(contacts_by_key[key].values)
        if rng.random() < 0.08:
            values["Title"] = rng.choice([t for t, _ in _JOBS if t != values.get("Title")])
        contacts.append(SeedRecord("Contact", target_key, values))

    names = set(data.account_names)
    emails = set(data.emails)
    for number in range(1, _TARGET_ONLY_ACCOUNTS + 1):
        name = _unique_company(fake, names)
        values = _account_values(rng, fake, name, None, 0)
        values.pop("Customer_Tier__c", None)
        if number % 3 == 0:
            del values["External_Id__c"]  # typed in by hand in the sandbox
        else:
            values["External_Id__c"] = f"ACC-9{number:04d}"
        key = f"uat-acc-{len(accounts) + 1:04d}"
        account = SeedRecord("Account", key, values)
        accounts.append(account)
        for _ in range(rng.randint(0, 2)):
            contact_values = _contact_values(rng, fake, account, emails)
            contacts.append(SeedRecord("Contact", f"uat-con-{len(contacts) + 1:04d}", contact_values))
    return accounts + _target_people(data, emails) + contacts


_TARGET_PEOPLE = 6           # source person accounts the target already holds
_TARGET_PEOPLE_UPDATED = 3   # of which changed since
_TARGET_ONLY_PEOPLE = 2


def _target_people(data: _DemoData, emails: set[str]) -> list[SeedRecord]:
    """Person accounts of the target: copies of some source ones (some changed) and its own. Their own
    random stream, so the rest of the target data is unchanged."""
    rng = random.Random(_TARGET_RANDOM_SEED + 2)
    fake = Faker("en_US")
    fake.seed_instance(_TARGET_RANDOM_SEED + 2)
    copies = rng.sample(data.people, _TARGET_PEOPLE)
    changed = {p.key for p in rng.sample(copies, _TARGET_PEOPLE_UPDATED)}
    out = []
    for number, person in enumerate(sorted(copies, key=lambda p: p.key), start=1):
        values = dict(person.values)
        if person.key in changed:    # moved, or a new mobile number
            if rng.random() < 0.5:
                values["PersonMailingCity"] = _fit(fake.city(), 40)
            else:
                values["PersonMobilePhone"] = _phone(rng)
        out.append(SeedRecord("Account", f"uat-pacc-{number:04d}", values))
    for number in range(1, _TARGET_ONLY_PEOPLE + 1):
        values = _person_values(rng, fake, 90000 + number, emails)
        out.append(SeedRecord("Account", f"uat-pacc-{_TARGET_PEOPLE + number:04d}", values))
    return out


# --------------------------------------------------------------------------------------------
# Overrides and pruning
# --------------------------------------------------------------------------------------------


def _apply_seed_overrides(document: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """:func:`apply_overrides` plus ``remove_record_types`` (``["Case.Support"]``), ``rename_record_types``
    (``{"Case.Support": "Product_Support"}``: the DeveloperName the org has instead), ``person_accounts``
    (``True``: the org has Person Accounts switched on, see :mod:`.person`), ``rename_fields``
    (``{"Account.Customer_Tier__c": "acme__Customer_Tier__c"}``: the API name the org has instead, say of a
    managed package's field; records keep their values under it) and ``add_fields`` (``{"Account.Region__c":
    {"type": "picklist", ...}}``: fields only this org has)."""
    try:
        doc = apply_overrides(document, overrides)
        for path, new_name in overrides.get("rename_fields", {}).items():
            obj_name, fname = path.split(".", 1)
            fields = doc["objects"][obj_name]["fields"]
            spec = fields.pop(fname)
            if spec.get("relationshipName"):
                spec["relationshipName"] = new_name.removesuffix("__c") + "__r"
            fields[new_name] = spec
        for path, spec in overrides.get("add_fields", {}).items():
            obj_name, fname = path.split(".", 1)
            doc["objects"][obj_name]["fields"][fname] = dict(spec)
    except KeyError as exc:
        raise ValueError(f"override names an object or field the schema lacks: {exc}") from None
    if overrides.get("person_accounts") and "IsPersonAccount" not in doc["objects"]["Account"].get("fields", {}):
        doc = enable_person_accounts(doc)
    for path in overrides.get("remove_record_types", []):
        obj_name, developer_name = path.split(".", 1)
        obj = doc["objects"].get(obj_name)
        if obj is not None and developer_name in obj.get("recordTypes", []):
            obj["recordTypes"] = [rt for rt in obj["recordTypes"] if rt != developer_name]
    for path, new_name in overrides.get("rename_record_types", {}).items():
        obj_name, developer_name = path.split(".", 1)
        obj = doc["objects"].get(obj_name)
        if obj is not None and developer_name in obj.get("recordTypes", []):
            obj["recordTypes"] = [new_name if rt == developer_name else rt for rt in obj["recordTypes"]]
    return doc


def _rename_fields(records: list[SeedRecord], renames: dict[str, str]) -> None:
    """Record values moved to the field names ``rename_fields`` gives (``{"Account.X__c": "ns__X__c"}``)."""
    for path, new_name in renames.items():
        obj_name, fname = path.split(".", 1)
        for record in records:
            if record.object == obj_name and fname in record.values:
                record.values[new_name] = record.values.pop(fname)


def _rename_record_types(records: list[SeedRecord], renames: dict[str, str]) -> None:
    """RecordType rows renamed by ``rename_record_types`` (their seed key stays, so every Ref still holds)."""
    for record in records:
        if record.object == "RecordType" and record.key in renames:
            new_name = renames[record.key]
            record.values.update(DeveloperName=new_name, Name=new_name.replace("_", " "))


def _allowed_fields(raw_object: dict[str, Any]) -> set[str]:
    """Field names a seed record of this schema object may carry in ``values``."""
    names = set(raw_object.get("fields", {}))
    if raw_object.get("owned"):
        names.add("OwnerId")
    if raw_object.get("recordTypes"):
        names.add("RecordTypeId")
    return names


def _prune(records: list[SeedRecord], document: dict[str, Any]) -> list[SeedRecord]:
    """Drop what the (overridden) schema no longer has: objects, fields, record types.

    Values that refer to a dropped record are dropped too, so a seed stays self-consistent
    whatever fields or objects the overrides remove.
    """
    objects = document["objects"]
    people = PERSON_RECORD_TYPE in objects["Account"].get("recordTypes", [])
    person_type = Ref("RecordType", _record_type_key("Account", PERSON_RECORD_TYPE))
    kept: list[SeedRecord] = []
    for record in records:
        raw = objects.get(record.object)
        if raw is None:
            continue
        if record.object == "Account" and record.values.get("RecordTypeId") == person_type and not people:
            continue    # a person account, in an org without Person Accounts
        if record.object == "RecordType":
            owner = objects.get(record.values.get("SobjectType", ""))
            if owner is None or record.values.get("DeveloperName") not in owner.get("recordTypes", []):
                continue
        kept.append(record)
    present = {(r.object, r.key) for r in kept}
    present |= {("Contact", r.key) for r in kept if r.object == "Account"
                and r.values.get("RecordTypeId") == person_type}   # its person contact (OrgStore.initialise)
    present |= {("ContentDocument", r.key) for r in kept if r.object == "ContentVersion"
                and "ContentDocumentId" not in r.values}   # the document a first version makes
    out = []
    for record in kept:
        allowed = _allowed_fields(objects[record.object])
        values = {
            name: value for name, value in record.values.items()
            if name in allowed and not (isinstance(value, Ref) and (value.object, value.key) not in present)
        }
        out.append(SeedRecord(record.object, record.key, values))
    return out


def _prune_automation(items: list[dict[str, Any]], key: str, document: dict[str, Any]) -> list[dict[str, Any]]:
    """The automation entries whose object (``item[key]``) is still in the schema."""
    return [item for item in items if item[key] in document["objects"]]


# --------------------------------------------------------------------------------------------
# The seeds
# --------------------------------------------------------------------------------------------


def _demo_source() -> tuple[Seed, dict[str, Any]]:
    """The "Acme Corp" production org and its own schema overrides (none)."""
    data = _generate_demo_data()
    records = [_organization_record("Acme Corp", "Enterprise Edition", False, "NA174")]
    activities = _generate_activities(data)    # owned by users: before queues take some of their parents
    _queue_owned_cases(data.cases, data.projects)
    records += _setup_records() + data.all_records() + activities + _generate_files(data)
    seed = Seed(
        name="demo-source", schema_document={}, records=records, api_user=_API_USER,
        validation_rules=[_partner_website_rule(), _closed_case_rule(), _contact_phone_rule(False)],
        triggers=[_case_trigger(True)],
        flows=[_next_step_flow(True)],
        org_type="Enterprise Edition", is_sandbox=False, org_name="Acme Corp",
    )
    return seed, {"person_accounts": True}


def _demo_target() -> tuple[Seed, dict[str, Any]]:
    """The "Acme Corp UAT" sandbox and its own schema overrides."""
    data = _generate_demo_data()
    records = [_organization_record("Acme Corp UAT", "Enterprise Edition", True, "CS201")]
    records += _setup_records(".uat", skip=[_TARGET_MISSING_USER], groups=_TARGET_GROUPS)
    records += _target_business_records(data)
    own = {
        "rename_fields": {"Account.Customer_Tier__c": "acme__Customer_Tier__c"},
        "add_fields": {"Account.Region__c": {"type": "picklist", "label": "Region", "required": True,
                                             "defaultValue": "Global", "values": ["Global", "EMEA", "AMER", "APAC"]}},
        # a restricted picklist: the source's "Electronic" cases (all of the Support record type) are refused
        "field_flags": {"Account.AnnualRevenue": {"createable": False, "updateable": False},
                        "Case.Type": {"restrictedPicklist": True, "values": [
                            "Mechanical", "Electrical", "Electronics", "Structural", "Other"]}},
        "rename_record_types": {"Case.Support": "Product_Support"},
        "person_accounts": True,
    }
    seed = Seed(
        name="demo-target", schema_document={}, records=records, api_user=_API_USER,
        validation_rules=[_partner_website_rule(), _closed_case_rule(), _contact_phone_rule(True)],
        triggers=[_case_trigger(False), _opportunity_guard_trigger()],
        flows=[_next_step_flow(False)],
        org_type="Enterprise Edition", is_sandbox=True, org_name="Acme Corp UAT",
    )
    return seed, own


def _empty() -> tuple[Seed, dict[str, Any]]:
    """An org with the demo schema, its users and record types, and nothing else."""
    records = [_organization_record("Acme Developer Org", "Developer Edition", False, "USA436")]
    records += _setup_records()
    seed = Seed(name="empty", schema_document={}, records=records, api_user=_API_USER,
                org_type="Developer Edition", is_sandbox=False, org_name="Acme Developer Org")
    return seed, {"person_accounts": True}


_BUILDERS: dict[str, Callable[[], tuple[Seed, dict[str, Any]]]] = {"demo-source": _demo_source, "demo-target": _demo_target, "empty": _empty}


def build_seed(name: str, *, overrides: dict[str, Any] | None = None) -> Seed:
    """Build the seed called ``name`` (one of :data:`SEED_NAMES`).

    ``overrides`` (the :func:`~isyncsf_desktop.sandbox.schema.apply_overrides` format, plus
    ``remove_record_types: ["Case.Support"]``, ``rename_record_types: {"Case.Support": "Product_Support"}``
    and ``person_accounts: False`` or ``True``, which replaces the seed's own) are applied on top of the
    seed's own; records,
    values and automation that refer to removed objects, fields or record types are dropped.
    Raises ValueError for an unknown name or an override naming an unknown field.
    """
    builder = _BUILDERS.get(name)
    if builder is None:
        raise ValueError(f"unknown seed {name!r}; known seeds: {', '.join(SEED_NAMES)}")
    seed, own = builder()
    overrides = dict(overrides or {})
    if "person_accounts" in overrides:    # on or off for the whole org, not on top of the seed's own
        own = {**own, "person_accounts": overrides.pop("person_accounts")}
    document = _apply_seed_overrides(builtin_schema_document("demo"), own)
    if overrides:
        document = _apply_seed_overrides(document, overrides)
    seed.schema_document = document
    _rename_record_types(seed.records, {**own.get("rename_record_types", {}),
                                        **(overrides or {}).get("rename_record_types", {})})
    _rename_fields(seed.records, own.get("rename_fields", {}))
    _rename_fields(seed.records, (overrides or {}).get("rename_fields", {}))
    seed.records = _prune(seed.records, document)
    seed.validation_rules = _prune_automation(seed.validation_rules, "EntityDefinitionId", document)
    seed.triggers = _prune_automation(seed.triggers, "TableEnumOrId", document)
    seed.flows = _prune_automation(seed.flows, "TriggerObject", document)
    return seed
