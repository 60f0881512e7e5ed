"""Deletes find a record's children through the store's reverse-lookup index: it must follow every
write (re-parenting, rolled-back batches, a reopened org) so lookups are cleared and master-detail
children deleted exactly as before."""

from __future__ import annotations

from typing import Any

from helpers import client_for


def _collection(sf: Any, method: str, records: list[dict], all_or_none: bool = False) -> list[dict]:
    return sf.restful("composite/sobjects", method=method, json={"allOrNone": all_or_none, "records": records})


def _delete(sf: Any, ids: list[str], all_or_none: bool = False) -> list[dict]:
    return sf.restful("composite/sobjects", method="DELETE",
                      params={"ids": ",".join(ids), "allOrNone": str(all_or_none).lower()})


def test_reparented_children_follow_their_new_parent(sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    first, second = (sf.Account.create({"Name": n})["id"] for n in ("First", "Second"))
    contact = sf.Contact.create({"LastName": "Moved", "AccountId": first})["id"]
    assert _delete(sf, [second])[0]["success"]          # index built (no child of Second yet)
    third = sf.Account.create({"Name": "Third"})["id"]
    sf.Contact.update(contact, {"AccountId": third})
    assert _delete(sf, [first])[0]["success"]
    assert sf.Contact.get(contact)["AccountId"] == third   # not cleared: it no longer points at First
    assert _delete(sf, [third])[0]["success"]
    assert sf.Contact.get(contact)["AccountId"] is None


def test_a_rolled_back_delete_keeps_the_links(sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    parent = sf.Account.create({"Name": "Parent"})["id"]
    kids = [r["id"] for r in _collection(sf, "POST", [{"attributes": {"type": "Account"}, "Name": f"Kid {i}",
                                                       "ParentId": parent} for i in range(3)])]
    project = sf.Project__c.create({"Name": "Roll-out"})["id"]
    task = sf.Project_Task__c.create({"Name": "A", "Project__c": project})["id"]
    refused = _delete(sf, [parent, project, "001000000000000AAA"], all_or_none=True)
    assert not any(r["success"] for r in refused)
    assert {sf.Account.get(k)["ParentId"] for k in kids} == {parent}
    live = sf.query(f"SELECT Id FROM Project_Task__c WHERE Id = '{task}'")["records"]
    assert [r["Id"] for r in live] == [task]
    assert all(r["success"] for r in _delete(sf, [parent, project]))
    assert {sf.Account.get(k)["ParentId"] for k in kids} == {None}
    rows = sf.query_all(f"SELECT Id, IsDeleted FROM Project_Task__c WHERE Id = '{task}'", include_deleted=True)
    assert rows["records"][0]["IsDeleted"] is True


def test_children_found_after_the_org_is_reopened(sandbox_factory: Any, tmp_path: Any) -> None:
    from isyncsf_desktop.sandbox.server import SandboxServer

    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    parent = sf.Account.create({"Name": "Parent"})["id"]
    contact = sf.Contact.create({"LastName": "Kept", "AccountId": parent})["id"]
    data_dir = server.data_dir
    server.stop()
    with SandboxServer(data_dir, {"qa": "empty"}) as again:
        sf = client_for(again, "qa")
        assert _delete(sf, [parent])[0]["success"]
        assert sf.Contact.get(contact)["AccountId"] is None
