"""Person Accounts, as an org with them enabled has them.

:func:`enable_person_accounts` changes a schema document the way switching the feature on changes a
real org: Account gains ``IsPersonAccount`` (read-only), the person's name fields (FirstName, LastName,
Salutation, MiddleName, Suffix), the ``Person*`` fields of its contact (PersonEmail, PersonMailingStreet...,
PersonBirthdate), ``PersonContactId`` (read-only) and every custom Contact field as ``__pc``; Contact
gains ``IsPersonAccount`` (read-only); RecordType gains ``IsPersonType``; Account gains the
``PersonAccount`` record type.

The store calls the hooks below for every write (REST, Collections, Bulk), so an org with the feature
behaves as a real one does:

* an Account is a person account when its record type is a person type; it is created with LastName
  (and the other person fields), never Name, which the org composes: Name given for a person account is
  ``INVALID_FIELD_FOR_INSERT_UPDATE: Account: bad field names on insert/update call: Name``, and person
  fields given for a business account are refused the same way;
* creating a person account creates its person contact (IsPersonAccount true, AccountId the account,
  the Person* values) and sets PersonContactId; updating the account updates the contact; deleting the
  account deletes the contact; changing an account between business and person is refused;
* the person contact cannot be updated or deleted through Contact (``INSUFFICIENT_ACCESS_OR_READONLY``),
  and a contact cannot be put under a person account.
"""

from __future__ import annotations

import copy
import functools
from typing import Any

from .errors import RecordError
from .schema import ObjectSpec

OrgStore = Any
"""The org store (:class:`~.store.OrgStore`, which calls these hooks; not imported: it imports this module)."""

PERSON_RECORD_TYPE = "PersonAccount"

#: Account field -> the person contact's field, for the standard fields a person account carries.
_STANDARD: dict[str, str] = {
    "FirstName": "FirstName", "LastName": "LastName", "Salutation": "Salutation", "MiddleName": "MiddleName",
    "Suffix": "Suffix", "PersonEmail": "Email", "PersonMailingStreet": "MailingStreet",
    "PersonMailingCity": "MailingCity", "PersonMailingState": "MailingState",
    "PersonMailingPostalCode": "MailingPostalCode", "PersonMailingCountry": "MailingCountry",
    "PersonMobilePhone": "MobilePhone", "PersonHomePhone": "HomePhone", "PersonBirthdate": "Birthdate",
    "PersonTitle": "Title", "PersonDepartment": "Department", "PersonLeadSource": "LeadSource",
}
_READ_ONLY = {"createable": False, "updateable": False}


def enable_person_accounts(document: dict[str, Any]) -> dict[str, Any]:
    """A copy of schema ``document`` with Person Accounts switched on (see the module doc)."""
    doc = copy.deepcopy(document)
    objects = doc["objects"]
    account, contact = objects["Account"], objects["Contact"]
    contact_fields = contact.setdefault("fields", {})
    contact_fields.setdefault("MiddleName", {"type": "string", "label": "Middle Name", "length": 40})
    contact_fields.setdefault("Suffix", {"type": "string", "label": "Suffix", "length": 40})
    contact_fields["IsPersonAccount"] = {"type": "boolean", "label": "Is Person Account", **_READ_ONLY}
    fields = account.setdefault("fields", {})
    fields["IsPersonAccount"] = {"type": "boolean", "label": "Is Person Account", **_READ_ONLY}
    for name, contact_name in _STANDARD.items():
        source = contact_fields.get(contact_name)
        if source is None:
            continue
        spec = {k: v for k, v in source.items() if k not in ("required", "idLookup", "unique", "externalId")}
        if name.startswith("Person"):
            spec["label"] = f"{source.get('label', contact_name)} (Person)"
        fields[name] = spec
    for name, source in list(contact_fields.items()):
        if name.endswith("__c"):
            spec = {k: v for k, v in source.items() if k not in ("required", "unique", "externalId")}
            fields[name.removesuffix("__c") + "__pc"] = {**spec, "custom": True}
    fields["PersonContactId"] = {"type": "reference", "label": "Person Contact ID", "referenceTo": ["Contact"],
                                 "relationshipName": "PersonContact", **_READ_ONLY}
    if PERSON_RECORD_TYPE not in account.setdefault("recordTypes", []):
        account["recordTypes"].append(PERSON_RECORD_TYPE)
    objects["RecordType"].setdefault("fields", {})["IsPersonType"] = {
        "type": "boolean", "label": "Is Person Type", **_READ_ONLY}
    return doc


def has_person_accounts(store: OrgStore) -> bool:
    """Whether the org has Person Accounts switched on."""
    account = store.schema.object("Account") if store.schema is not None else None
    return account is not None and account.field("IsPersonAccount") is not None


def contact_field(account_field: str) -> str | None:
    """The person contact's field that an Account person field stands for (None: not a person field)."""
    if account_field in _STANDARD:
        return _STANDARD[account_field]
    if account_field.endswith("__pc"):
        return account_field.removesuffix("__pc") + "__c"
    return None


def _person_fields(obj: ObjectSpec) -> tuple[str, ...]:
    """The person fields of ``obj`` (worked out once per list of field names: every save of an Account asks)."""
    return _person_field_names(tuple(obj.fields))


@functools.cache
def _person_field_names(names: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(name for name in names if contact_field(name) is not None)


def _is_person_type(store: OrgStore, record_type_id: Any) -> bool:
    row = store.get("RecordType", record_type_id) if isinstance(record_type_id, str) else None
    return bool(row and row.get("IsPersonType"))


def _bad_fields(names: list[str]) -> RecordError:
    return RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                       f"Account: bad field names on insert/update call: {', '.join(names)}", names)


def _compose_name(row: dict[str, Any]) -> str | None:
    parts = (row.get("Salutation"), row.get("FirstName"), row.get("MiddleName"), row.get("LastName"),
             row.get("Suffix"))
    return " ".join(str(p) for p in parts if p) or None


def before_account_write(store: OrgStore, obj: ObjectSpec, row: dict[str, Any], changes: dict[str, Any],
                         prior: dict[str, Any] | None) -> None:
    """Check and complete an Account row before it is saved: ``changes`` are the fields the client sent,
    ``prior`` the row before an update (None for an insert)."""
    person = _is_person_type(store, row.get("RecordTypeId"))
    if prior is not None and person != bool(prior.get("IsPersonAccount")):
        raise RecordError("INVALID_FIELD_FOR_INSERT_UPDATE",
                          "Cannot specify any additional fields when marrying or separating a Person-Account",
                          ["RecordTypeId"])
    row["IsPersonAccount"] = person
    if person:
        if changes.get("Name") is not None or (prior is None and "Name" in changes):
            raise _bad_fields(["Name"])
        if not row.get("LastName"):
            raise RecordError("REQUIRED_FIELD_MISSING", "Required fields are missing: [LastName]", ["LastName"])
        row["Name"] = _compose_name(row)
        return
    given = [name for name in _person_fields(obj) if changes.get(name) is not None]
    if given:
        raise _bad_fields(given)


def after_account_saved(store: OrgStore, row: dict[str, Any], contact_id: str | None = None) -> None:
    """Create or update the person contact of a person account (and set PersonContactId); a new contact
    gets ``contact_id`` when given (a seeded org allocates its ids ahead), else a new id."""
    if not row.get("IsPersonAccount"):
        return
    contact = store.schema.object("Contact")
    assert contact is not None
    values = {contact_field(name): row.get(name) for name in _person_fields(store.schema.objects["Account"])}
    values = {k: v for k, v in values.items() if k and contact.field(k) is not None}
    values.update({"AccountId": row["Id"], "IsPersonAccount": True})
    if contact.field("OwnerId") is not None:
        values["OwnerId"] = row.get("OwnerId")
    existing = store.get("Contact", row.get("PersonContactId") or "") if row.get("PersonContactId") else None
    stamp = row["SystemModstamp"]
    if existing is not None:
        updated = {**existing, **values, "LastModifiedDate": stamp, "LastModifiedById": row["LastModifiedById"],
                   "SystemModstamp": stamp}
        store._compound_name(contact, updated)
        store._put("Contact", updated)
        return
    new = {**values, "Id": contact_id or store.new_id("Contact")}
    store._apply_defaults(contact, new, row["LastModifiedById"], stamp)
    store._put("Contact", new)
    store._put("Account", {**row, "PersonContactId": new["Id"]})


def check_contact_write(store: OrgStore, row: dict[str, Any] | None, changes: dict[str, Any]) -> None:
    """Refuse a change made through Contact to a person contact, or a contact put under a person account."""
    if row is not None and row.get("IsPersonAccount"):
        raise RecordError("INSUFFICIENT_ACCESS_OR_READONLY", "insufficient access rights on object id", [])
    account_id = changes.get("AccountId")
    account = store.get("Account", account_id) if isinstance(account_id, str) else None
    if account is not None and account.get("IsPersonAccount"):
        raise RecordError("INVALID_FIELD", "Cannot associate a contact with a person account", ["AccountId"])


def person_contact_of(store: OrgStore, account_row: dict[str, Any]) -> dict[str, Any] | None:
    """The live person contact of a person account row (deleted with it)."""
    contact_id = account_row.get("PersonContactId")
    contact = store.get("Contact", contact_id) if account_row.get("IsPersonAccount") and contact_id else None
    return contact if contact is not None and not contact.get("IsDeleted") else None
