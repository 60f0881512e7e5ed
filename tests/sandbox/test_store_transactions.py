"""The store's transactions as a client relies on them: a record's savepoint is a mark in the in-memory undo
log and the rows a request leaves are written to SQLite when it commits, the id counter is kept in memory
and written with them, and the automation a save runs is cached per object. What a failed record or a
rolled-back request wrote must be gone from memory and from the file (a restarted server finds nothing of
it); what a committed request wrote must survive a kill of the server; ids are never handed out twice,
across restarts too; and a Tooling change applies to the very next save."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from helpers import client_for
from simple_salesforce.exceptions import SalesforceMalformedRequest

from isyncsf_desktop.sandbox.errors import RecordError
from isyncsf_desktop.sandbox.server import SandboxServer


def _names(sf: Any, sobject: str = "Account") -> dict[str, str]:
    """Name -> Id of the live records of ``sobject``."""
    return {r["Name"]: r["Id"] for r in sf.query_all(f"SELECT Id, Name FROM {sobject}")["records"]}


def test_a_failed_record_leaves_nothing_in_memory_or_in_the_file(tmp_path: Path) -> None:
    with SandboxServer(tmp_path, {"qa": "empty"}) as server:
        sf = client_for(server, "qa")
        kept = sf.Account.create({"Name": "Before"})["id"]
        store = server.store("qa")
        made: dict[str, str] = {}

        def op(name: str) -> tuple[str, bool]:
            made[name] = store.create("Account", {"Name": name})
            if name == "Fails":   # written, and another record changed, before the record fails
                store.update("Account", kept, {"Name": "Changed by the failed record"})
                raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "refused after writing")
            return made[name], True

        results = store.run_each(["First", "Fails", "Last"], op, all_or_none=False)
        assert [r.success for r in results] == [True, False, True]
        assert store.get("Account", made["Fails"]) is None
        assert _names(sf) == {"Before": kept, "First": made["First"], "Last": made["Last"]}
    with SandboxServer(tmp_path, {"qa": "empty"}) as again:
        assert _names(client_for(again, "qa")) == {"Before": kept, "First": made["First"], "Last": made["Last"]}


def test_an_all_or_none_request_that_fails_leaves_nothing_after_a_restart(tmp_path: Path) -> None:
    with SandboxServer(tmp_path, {"qa": "empty"}) as server:
        sf = client_for(server, "qa")
        kept = sf.Account.create({"Name": "Kept"})["id"]
        records = [{"attributes": {"type": "Account"}, "Name": "New 1"},
                   {"attributes": {"type": "Account"}, "Id": kept, "Name": "Renamed"},
                   {"attributes": {"type": "Account"}, "Name": "x" * 300}]   # too long: the request fails
        answer = sf.restful("composite/sobjects", method="PATCH", json={"allOrNone": True, "records": records[1:]})
        assert [r["success"] for r in answer] == [False, False]
        created = sf.restful("composite/sobjects", method="POST",
                             json={"allOrNone": True, "records": [records[0], records[2]]})
        assert [r["success"] for r in created] == [False, False]
        assert _names(sf) == {"Kept": kept}
    with SandboxServer(tmp_path, {"qa": "empty"}) as again:
        assert _names(client_for(again, "qa")) == {"Kept": kept}


def test_ids_are_never_handed_out_twice_across_restarts(tmp_path: Path) -> None:
    seen: list[str] = []
    for round_ in range(3):
        with SandboxServer(tmp_path, {"qa": "empty"}) as server:
            sf = client_for(server, "qa")
            refused = sf.restful("composite/sobjects", method="POST", json={"allOrNone": True, "records": [
                {"attributes": {"type": "Account"}, "Name": f"Rolled back {round_}"},
                {"attributes": {"type": "Account"}}]})   # no Name: the whole request rolls back
            assert not any(r["success"] for r in refused)
            answer = sf.restful("composite/sobjects", method="POST", json={"allOrNone": False, "records": [
                {"attributes": {"type": "Account"}, "Name": f"Round {round_} {n}"} for n in range(3)]})
            seen += [r["id"] for r in answer]
            seen.append(sf.Contact.create({"LastName": f"Round {round_}"})["id"])
    assert len(seen) == len(set(seen)) == 12
    assert len({record_id[5:15] for record_id in seen}) == 12   # the counters differ, not only the prefixes


def test_a_failed_commit_keeps_nothing_in_memory(tmp_path: Path) -> None:
    with SandboxServer(tmp_path, {"qa": "empty"}) as server:
        sf = client_for(server, "qa")
        store = server.store("qa")
        kept = sf.Account.create({"Name": "Kept"})["id"]
        with pytest.raises(TypeError):   # the row cannot be written to the file: the commit fails
            with store.transaction():
                new_id = store.create("Account", {"Name": "Unwritable"})
                store.put_row("Account", {**store.get("Account", new_id), "Description": object()})
                store.update("Account", kept, {"Name": "Renamed"})
        assert store.get("Account", new_id) is None
        assert _names(sf) == {"Kept": kept}
        assert sf.Account.create({"Name": "After"})["success"] is True   # the store takes writes again
    with SandboxServer(tmp_path, {"qa": "empty"}) as again:
        assert set(_names(client_for(again, "qa"))) == {"Kept", "After"}


def test_a_validation_rule_created_through_tooling_applies_to_the_very_next_save(sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    assert sf.Contact.create({"LastName": "Before the rule"})["success"] is True   # the automation is cached
    created = sf.toolingexecute("sobjects/ValidationRule", method="POST", data={
        "FullName": "Contact.Needs_Email", "Metadata": {
            "active": True, "errorConditionFormula": "ISBLANK(Email)", "errorMessage": "An email, please",
            "errorDisplayField": "Email"}})
    with pytest.raises(SalesforceMalformedRequest) as info:
        sf.Contact.create({"LastName": "No email"})
    assert info.value.content[0]["errorCode"] == "FIELD_CUSTOM_VALIDATION_EXCEPTION"
    assert info.value.content[0]["message"] == "An email, please"
    assert sf.Account.create({"Name": "Another object"})["success"] is True   # the rule is the Contact's
    full = sf.toolingexecute(f"sobjects/ValidationRule/{created['id']}")
    sf.toolingexecute(f"sobjects/ValidationRule/{created['id']}", method="PATCH",
                      data={"FullName": full["FullName"], "Metadata": dict(full["Metadata"], active=False)})
    assert sf.Contact.create({"LastName": "Rule off"})["success"] is True
    sf.toolingexecute(f"sobjects/ValidationRule/{created['id']}", method="PATCH",
                      data={"FullName": full["FullName"], "Metadata": dict(full["Metadata"], active=True)})
    with pytest.raises(SalesforceMalformedRequest):
        sf.Contact.create({"LastName": "Rule on again"})
    sf.toolingexecute(f"sobjects/ValidationRule/{created['id']}", method="DELETE")
    assert sf.Contact.create({"LastName": "Rule deleted"})["success"] is True


def test_a_trigger_created_through_tooling_applies_to_the_very_next_bulk_row(sandbox_factory: Any) -> None:
    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    [first] = sf.bulk2.Account.insert(records=[{"Name": "Small"}, {"Name": "Big", "NumberOfEmployees": 5000}],
                                      wait=0.05)
    assert first["numberRecordsFailed"] == 0
    sf.toolingexecute("sobjects/ApexTrigger", method="POST", data={
        "Name": "NoGiants", "TableEnumOrId": "Account", "Body": "trigger NoGiants on Account (before insert) {}",
        "FailCondition": "NumberOfEmployees > 1000", "FailMessage": "too big"})
    [second] = sf.bulk2.Account.insert(records=[{"Name": "Small 2"}, {"Name": "Big 2", "NumberOfEmployees": 5000}],
                                       wait=0.05)
    assert (second["numberRecordsProcessed"], second["numberRecordsFailed"]) == (2, 1)
    assert "NoGiants" in sf.bulk2.Account.get_failed_records(second["job_id"])
    assert set(_names(sf)) == {"Small", "Big", "Small 2"}


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_what_a_committed_request_wrote_survives_a_kill_of_the_server(tmp_path: Path) -> None:
    from isyncsf_desktop.salesforce.connection import connect

    proc = subprocess.Popen([sys.executable, "-m", "isyncsf_desktop.cli", "sandbox", "serve", "--data-dir",
                             str(tmp_path), "--org", "qa=empty"], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        info = json.loads(proc.stdout.readline())
        sf = connect(info["instance_url"], info["orgs"]["qa"]["access_token"], ca_file=info["ca_file"])
        [job] = sf.bulk2.Contact.insert(records=[{"LastName": f"Bulk {n}"} for n in range(450)], wait=0.05)
        assert job["numberRecordsFailed"] == 0
        single = sf.Account.create({"Name": "Single"})["id"]
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with SandboxServer(tmp_path, {"qa": "empty"}) as again:
        sf = client_for(again, "qa")
        assert sf.query("SELECT COUNT() FROM Contact WHERE LastName LIKE 'Bulk %'")["totalSize"] == 450
        assert sf.Account.get(single)["Name"] == "Single"
        fresh = sf.Account.create({"Name": "After the kill"})["id"]
        every = sf.query_all("SELECT Id FROM Contact")["records"] + sf.query_all("SELECT Id FROM Account")["records"]
        assert fresh != single and len({r["Id"] for r in every}) == len(every) == 452


def test_query_after_many_savepoints_reads_each_record_once(sandbox_factory: Any) -> None:
    """A chunk's rows are written once, in their final state, however many savepoints touched them."""
    server = sandbox_factory({"qa": "empty"})
    sf = client_for(server, "qa")
    store = server.store("qa")
    target = sf.Account.create({"Name": "Touched"})["id"]
    with store.transaction():
        for n in range(5):
            try:
                with store.transaction():
                    store.update("Account", target, {"Name": f"Touched {n}"})
                    if n % 2:
                        raise RecordError("FIELD_CUSTOM_VALIDATION_EXCEPTION", "odd")
            except RecordError:
                pass
    assert sf.Account.get(target)["Name"] == "Touched 4"
    assert [r["Name"] for r in sf.query("SELECT Id, Name FROM Account")["records"]] == ["Touched 4"]
    data_dir = server.data_dir
    server.stop()
    with SandboxServer(data_dir, {"qa": "empty"}) as again:
        assert client_for(again, "qa").Account.get(target)["Name"] == "Touched 4"
