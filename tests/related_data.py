"""A related data set for reliability tests, and exact checks of a target org's end state.

Accounts with a ParentId hierarchy, two Contacts each (AccountId, ReportsToId across levels), and an
Account.Primary_Contact__c <-> Contact.AccountId cycle; optionally Leads, related to neither (they are
written beside them with the template's ``parallel_objects``). The target starts with a few of the same
Accounts (other Phone, a Primary_Contact__c pointing at a Contact that is only on the target), so a
sync both inserts and updates, and the second pass changes a lookup on a record it did not create.
"""

from __future__ import annotations

from typing import Any

ACCOUNT_FIELDS = ["Name", "Phone", "External_Id__c", "ParentId", "Primary_Contact__c"]
CONTACT_FIELDS = ["LastName", "Email", "AccountId", "ReportsToId"]
LEAD_FIELDS = ["LastName", "Company", "Email"]    # ``leads``: an object with no lookup to the others
PRE_EXISTING = 4          # accounts A0..A3 are on the target before the sync
TARGET_ONLY_EMAIL = "only.on.target@x.test"


def template(batch_size: int = 25, *, leads: bool = False, **options: Any) -> dict[str, Any]:
    """The Account and Contact lines (and, ``leads``, a Lead line, which may run beside them)."""
    return {"name": "related", "options": {"continue_on_error": True, "versioning": True, "batch_size": batch_size,
                                           **options},
            "objects": [{"object": "Account", "fields": ACCOUNT_FIELDS, "match_by": ["External_Id__c"]},
                        {"object": "Contact", "fields": CONTACT_FIELDS, "match_by": ["Email"]},
                        *([{"object": "Lead", "fields": LEAD_FIELDS, "match_by": ["Email"]}] if leads else [])]}


def _create(client: Any, object_name: str, rows: list[dict[str, Any]]) -> list[str]:
    results = client.create([{"attributes": {"type": object_name}, **row} for row in rows])
    failed = [r for r in results if not r["success"]]
    assert not failed, failed[:3]
    return [r["id"] for r in results]


def _update(client: Any, object_name: str, rows: list[dict[str, Any]]) -> None:
    results = client.update([{"attributes": {"type": object_name}, **row} for row in rows])
    failed = [r for r in results if not r["success"]]
    assert not failed, failed[:3]


def seed(source: Any, target: Any, accounts: int, leads: int = 0) -> None:
    """Fill the source (``accounts`` Accounts, twice as many Contacts, ``leads`` Leads) and the target's overlap."""
    account_ids = _create(source, "Account", [{"Name": f"Account {i}", "Phone": f"555-{i:04d}",
                                               "External_Id__c": f"A{i}"} for i in range(accounts)])
    contacts = []
    for i in range(accounts):
        for j in range(2):
            contacts.append({"LastName": f"C{i}-{j}", "Email": f"c{i}.{j}@x.test", "AccountId": account_ids[i]})
    contact_ids = _create(source, "Contact", contacts)
    first = {i: contact_ids[2 * i] for i in range(accounts)}
    links = []
    for i in range(accounts):
        parent = (i - 1) // 3 if i else None
        links.append({"Id": contact_ids[2 * i + 1], "ReportsToId": first[i]})
        if parent is not None:
            links.append({"Id": first[i], "ReportsToId": first[parent]})
    _update(source, "Contact", links)
    _update(source, "Account", [{"Id": account_ids[i], "ParentId": account_ids[(i - 1) // 3] if i else None,
                                 "Primary_Contact__c": first[i]} for i in range(accounts)])
    if leads:
        _create(source, "Lead", [{"LastName": f"L{i}", "Company": f"Co{i}", "Email": f"l{i}@x.test"}
                                 for i in range(leads)])
    only_here = _create(target, "Contact", [{"LastName": "Only on target", "Email": TARGET_ONLY_EMAIL}])[0]
    _create(target, "Account", [{"Name": f"Account {i}", "Phone": "old", "External_Id__c": f"A{i}",
                                 "Primary_Contact__c": only_here} for i in range(min(PRE_EXISTING, accounts))])


def snapshot(client: Any) -> dict[str, dict[str, dict[str, Any]]]:
    """Every Account and Contact of an org with the fields the sync touches, by Id."""
    return {
        "Account": {r["Id"]: {f: r.get(f) for f in ACCOUNT_FIELDS} for r in client.query(
            f"SELECT Id, {', '.join(ACCOUNT_FIELDS)} FROM Account")},
        "Contact": {r["Id"]: {f: r.get(f) for f in CONTACT_FIELDS} for r in client.query(
            f"SELECT Id, {', '.join(CONTACT_FIELDS)} FROM Contact")},
        "Lead": {r["Id"]: {f: r.get(f) for f in LEAD_FIELDS} for r in client.query(
            f"SELECT Id, {', '.join(LEAD_FIELDS)} FROM Lead")},
    }


def synced_problems(source: Any, target: Any) -> dict[str, int]:
    """What differs between the source and the target after a complete sync (all zeros when exact):
    records missing or duplicated (by match key), fields that differ, lookups that point wrong."""
    src, tgt = snapshot(source), snapshot(target)
    problems = {"missing": 0, "duplicated": 0, "fields": 0, "links": 0}
    src_acc_key = {i: r["External_Id__c"] for i, r in src["Account"].items()}
    src_con_key = {i: r["Email"] for i, r in src["Contact"].items()}
    by_key: dict[str, dict[str, list[str]]] = {"Account": {}, "Contact": {}, "Lead": {}}
    for i, r in tgt["Account"].items():
        by_key["Account"].setdefault(r["External_Id__c"], []).append(i)
    for name in ("Contact", "Lead"):
        for i, r in tgt[name].items():
            by_key[name].setdefault(r["Email"], []).append(i)
    tgt_acc_key = {i: r["External_Id__c"] for i, r in tgt["Account"].items()}
    tgt_con_key = {i: r["Email"] for i, r in tgt["Contact"].items()}

    def check(object_name: str, src_rows: dict, key_field: str, plain: list[str],
              lookups: dict[str, tuple[dict, dict]]) -> None:
        for row in src_rows.values():
            hits = by_key[object_name].get(row[key_field], [])
            if not hits:
                problems["missing"] += 1
                continue
            if len(hits) > 1:
                problems["duplicated"] += len(hits) - 1
            got = tgt[object_name][hits[0]]
            problems["fields"] += sum(1 for f in plain if got[f] != row[f])
            for f, (src_keys, tgt_keys) in lookups.items():
                want = src_keys.get(row[f]) if row[f] else None
                have = tgt_keys.get(got[f]) if got[f] else None
                problems["links"] += want != have

    check("Account", src["Account"], "External_Id__c", ["Name", "Phone"],
          {"ParentId": (src_acc_key, tgt_acc_key), "Primary_Contact__c": (src_con_key, tgt_con_key)})
    check("Contact", src["Contact"], "Email", ["LastName"],
          {"AccountId": (src_acc_key, tgt_acc_key), "ReportsToId": (src_con_key, tgt_con_key)})
    check("Lead", src["Lead"], "Email", ["LastName", "Company"], {})
    extra_contacts = set(by_key["Contact"]) - set(src_con_key.values()) - {TARGET_ONLY_EMAIL}
    extra_accounts = set(by_key["Account"]) - set(src_acc_key.values())
    extra_leads = set(by_key["Lead"]) - {r["Email"] for r in src["Lead"].values()}
    problems["duplicated"] += len(extra_contacts) + len(extra_accounts) + len(extra_leads)
    return problems


def rollback_problems(before: dict, after: dict) -> dict[str, int]:
    """How far the target is from its start state: records left behind, lost, or with other values."""
    problems = {"left": 0, "lost": 0, "changed": 0}
    for object_name in before:
        problems["left"] += len(set(after[object_name]) - set(before[object_name]))
        problems["lost"] += len(set(before[object_name]) - set(after[object_name]))
        problems["changed"] += sum(1 for i, row in before[object_name].items()
                                   if i in after[object_name] and after[object_name][i] != row)
    return problems
