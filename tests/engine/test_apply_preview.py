"""Apply This Preview (issue 24): the sync writes the records a preview showed, with the values it showed; a record
that moved since the preview is named and not written blind; a preview the orgs' metadata or the template has
outgrown is refused with the reason; the applied job rolls back as any job does."""

from __future__ import annotations

import dataclasses
import sqlite3
from typing import Any

import pytest
from helpers import org_client, org_ref

from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.lifecycle import RecordStatus
from isyncsf_desktop.engine.run.apply import CHANGED_SINCE_PREVIEW, LEFT_OUT, NOT_IN_PREVIEW, PreviewRefused
from isyncsf_desktop.engine.run.preview import is_new_id
from isyncsf_desktop.engine.runner import SyncEngine
from isyncsf_desktop.engine.template import parse_template
from isyncsf_desktop.engine.values import same

DEMO = {"name": "Preview demo", "options": {"continue_on_error": True, "versioning": True},
        "objects": [{"object": "Account", "match_by": ["External_Id__c"]},
                    {"object": "Contact", "match_by": ["Email"], "filter": "Phone != null"}]}

FIELDS = {"Account": ("Name", "Phone", "Industry", "Primary_Contact__c", "OwnerId"),
          "Contact": ("Email", "Title", "Phone", "AccountId", "LastName")}
PLAIN = {"name": "Plain", "options": {"continue_on_error": True, "versioning": True},
         "objects": [{"object": "Account", "fields": ["Name", "External_Id__c", "Phone"], "match_by": ["External_Id__c"]},
                     {"object": "Contact", "fields": ["LastName", "Email", "Title", "AccountId"], "match_by": ["Email"]}]}


def edit(org: Any, object_name: str, record_id: str, **values: Any) -> None:
    [result] = org.update([{"attributes": {"type": object_name}, "Id": record_id, **values}])
    assert result["success"], result


def rows_by_source(journal: Any, preview_id: int) -> dict[str, Any]:
    return {r.source_id: r for r in journal.iter_preview_records(preview_id)}


def target_state(pair: Any) -> dict[str, dict[str, dict[str, Any]]]:
    return {name: {r["Id"]: r for r in pair.rows("tgt", f"SELECT Id, {', '.join(fields)} FROM {name}")}
            for name, fields in FIELDS.items()}


def _plain_orgs(make_pair: Any) -> tuple[Any, dict[str, list[str]]]:
    """Accounts and contacts on the source: some new to the target, some matched and different, some the same."""
    pair = make_pair()
    accounts = pair.insert("src", "Account", [{"Name": f"Acme {i}", "External_Id__c": f"E{i}", "Phone": f"555-{i}"}
                                              for i in range(6)])
    contacts = pair.insert("src", "Contact", [{"LastName": f"Doe {i}", "Email": f"c{i}@x.test", "Title": "New",
                                               "AccountId": accounts[i % 6]} for i in range(8)])
    pair.insert("tgt", "Account", [{"Name": "Old", "External_Id__c": "E0", "Phone": "555-0"},
                                   {"Name": "Acme 1", "External_Id__c": "E1", "Phone": "555-1"}])
    pair.insert("tgt", "Contact", [{"LastName": "Doe 0", "Email": "c0@x.test", "Title": "Old"},
                                   {"LastName": "Doe 1", "Email": "c1@x.test", "Title": "Old"}])
    return pair, {"Account": accounts, "Contact": contacts}


def test_apply_writes_exactly_the_previewed_records_with_the_previewed_values_and_rolls_back(make_pair):
    pair = make_pair("demo-source", "demo-target")
    before = target_state(pair)
    preview = pair.engine().preview(DEMO)
    assert preview.status == "Completed", preview.message
    rows = rows_by_source(pair.journal, preview.preview_id)
    engine = pair.engine()
    check = engine.check_preview(preview.preview_id, current=parse_template(DEMO))
    assert check.ok and check.changed == [], check.refusals
    assert check.to_write == {n: {"insert": preview.objects[n]["insert"], "update": preview.objects[n]["update"]}
                              for n in preview.order}
    jobs: list[int] = []
    result = engine.apply_preview(preview.preview_id, current=parse_template(DEMO), on_job=jobs.append)
    assert result.state == "Synced" and jobs == [result.job_id]
    inserted = sum(preview.objects[n]["insert"] for n in preview.order)
    updated = sum(preview.objects[n]["update"] for n in preview.order)
    assert result.message == (f"Applied preview #{preview.preview_id}: {inserted} inserted, {updated} updated; "
                              "0 changed since the preview left out.")
    # History: each names the other
    assert pair.journal.preview(preview.preview_id).job_id == result.job_id
    assert pair.journal.preview_of_job(result.job_id) == preview.preview_id
    assert pair.journal.job(result.job_id).preview_id == preview.preview_id

    # record by record: the outcome journaled is the preview's, the target holds the values the preview showed
    records = {r.source_id: r for r in pair.journal.records(result.job_id)}
    assert {s: r.status for s, r in records.items()} == {s: r.status for s, r in rows.items()}
    after = target_state(pair)
    for source_id, row in rows.items():
        if row.action not in ("insert", "update"):
            continue
        written = after[row.object][records[source_id].target_id]
        for change in row.changes:
            if change.field not in written:
                continue
            if is_new_id(change.will_be):       # a parent the apply inserted: the one the placeholder stood for
                parent = next(s for s, r in rows.items() if r.new_id == change.will_be)
                assert written[change.field] == records[parent].target_id
            else:
                assert same(change.will_be, written[change.field], "string"), (row, change)
    # records the preview did not write are as they were
    untouched = {s for s, r in rows.items() if r.action not in ("insert", "update")}
    for source_id in untouched:
        target_id = records[source_id].target_id if source_id in records else None
        row = rows[source_id]
        if target_id and target_id in before[row.object]:
            assert after[row.object][target_id] == before[row.object][target_id]

    # a preview right after the apply: nothing to insert or update
    again = pair.engine().preview(DEMO)
    assert again.totals["insert"] == again.totals["update"] == 0
    # the preview cannot be applied twice
    with pytest.raises(PreviewRefused, match=f"applied already, as job #{result.job_id}"):
        pair.engine().apply_preview(preview.preview_id)

    # rollback of the applied job: the target as it was
    rolled = pair.engine().rollback(result.job_id)
    assert rolled.status == "Completed", rolled.message
    assert target_state(pair) == before


def test_records_changed_since_the_preview_are_named_left_out_when_asked_and_not_written(make_pair):
    pair, ids = _plain_orgs(make_pair)
    preview = pair.engine().preview(PLAIN)
    assert preview.status == "Completed", preview.message
    rows = rows_by_source(pair.journal, preview.preview_id)
    target_c0 = rows[ids["Contact"][0]].target_id
    assert rows[ids["Contact"][0]].action == "update" and rows[ids["Contact"][3]].action == "insert"
    # after the preview: a source record edited, a target record edited, both sides of one record, a deletion
    edit(pair.source, "Contact", ids["Contact"][3], Title="Edited in the source")
    edit(pair.target, "Contact", target_c0, Title="Edited in the target")
    target_a0 = rows[ids["Account"][0]].target_id
    edit(pair.source, "Account", ids["Account"][0], Phone="555-000")
    edit(pair.target, "Account", target_a0, Phone="555-999")
    pair.source.delete([ids["Contact"][5]])
    target_c1 = rows[ids["Contact"][1]].target_id
    pair.target.delete([target_c1])

    engine = pair.engine()
    check = engine.check_preview(preview.preview_id)
    assert check.ok, check.refusals
    changed = {(c.object, c.source_id): c for c in check.changed}
    assert {k: (c.where, c.action) for k, c in changed.items()} == {
        ("Contact", ids["Contact"][3]): ("source", "insert"),
        ("Contact", ids["Contact"][0]): ("target", "update"),
        ("Account", ids["Account"][0]): ("both", "update"),
        ("Contact", ids["Contact"][5]): ("gone", "insert"),
        ("Contact", ids["Contact"][1]): ("gone", "update")}
    assert changed[("Contact", ids["Contact"][3])].label == "c3@x.test"
    assert changed[("Contact", ids["Contact"][0])].detail == "its target record was edited since the preview"
    assert changed[("Contact", ids["Contact"][1])].detail == "its target record was deleted since the preview"
    counts = preview.objects
    assert check.to_write == {"Account": {"insert": counts["Account"]["insert"], "update": counts["Account"]["update"] - 1},
                              "Contact": {"insert": counts["Contact"]["insert"] - 2,
                                          "update": counts["Contact"]["update"] - 2}}

    result = engine.apply_preview(preview.preview_id, leave_out=[(c.object, c.source_id) for c in check.changed])
    assert result.state == "Synced", result.message
    records = {r.source_id: r for r in pair.journal.records(result.job_id)}
    errors = {e.source_id: (e.status_code, e.message) for e in pair.journal.errors(result.job_id)}
    for key in changed:
        source_id = key[1]
        if key == ("Contact", ids["Contact"][5]):
            assert source_id not in records       # deleted from the source: not read
            continue
        assert records[source_id].status == RecordStatus.SKIPPED
        assert errors[source_id][0] == LEFT_OUT
    # not written: the edits made on the target stand, the contact edited in the source is not there
    target = target_state(pair)
    assert target["Contact"][target_c0]["Title"] == "Edited in the target"
    assert target["Account"][target_a0]["Phone"] == "555-999"
    assert not pair.rows("tgt", "SELECT Id FROM Contact WHERE Email = 'c3@x.test'")
    # everything else was applied as previewed
    for source_id, row in rows.items():
        if (row.object, source_id) not in changed and row.action in ("insert", "update"):
            assert records[source_id].status == row.status
    assert "4 changed since the preview left out" in (result.message or "")
    assert not pair.rows("tgt", "SELECT Id FROM Contact WHERE Email = 'c1@x.test'")    # not inserted again


def test_without_leave_out_a_record_that_moved_is_held_by_the_gate(make_pair):
    """A record edited between the check and the apply (a race): the gate finds its decision differs from the
    preview's and does not write it."""
    pair, ids = _plain_orgs(make_pair)
    preview = pair.engine().preview(PLAIN)
    rows = rows_by_source(pair.journal, preview.preview_id)
    engine = pair.engine()
    assert engine.check_preview(preview.preview_id).changed == []
    # after the check: the target record of an update edited, a source record to insert edited
    target_c0 = rows[ids["Contact"][0]].target_id
    edit(pair.target, "Contact", target_c0, Title="Edited in the target")
    edit(pair.source, "Contact", ids["Contact"][3], Title="Edited in the source")
    # and a record that the preview did not have
    pair.insert("src", "Contact", [{"LastName": "Late", "Email": "late@x.test"}])
    result = engine.apply_preview(preview.preview_id)
    errors = {e.source_id: e for e in pair.journal.errors(result.job_id)}
    records = {r.source_id: r for r in pair.journal.records(result.job_id)}
    for source_id in (ids["Contact"][0], ids["Contact"][3]):
        assert records[source_id].status == RecordStatus.SKIPPED
        assert errors[source_id].status_code == CHANGED_SINCE_PREVIEW
        assert f"changed since preview #{preview.preview_id}" in errors[source_id].message
    late = next(s for s, r in records.items() if s not in rows)
    assert errors[late].status_code == NOT_IN_PREVIEW
    assert pair.rows("tgt", f"SELECT Title FROM Contact WHERE Id = '{target_c0}'")[0]["Title"] == "Edited in the target"
    assert not pair.rows("tgt", "SELECT Id FROM Contact WHERE Email IN ('c3@x.test', 'late@x.test')")
    assert "2 changed since the preview left out; 1 not in the preview left out" in (result.message or "")


def test_the_changed_records_left_out_are_previewed_again_alone_and_applied(make_pair):
    """The flow the prompt offers: apply the rest, then preview just the records that changed (``only``) and apply
    that preview: their parents, inserted by the first apply, are found through the id map."""
    pair, ids = _plain_orgs(make_pair)
    first = pair.engine().preview(PLAIN)
    edit(pair.source, "Contact", ids["Contact"][3], Title="Edited in the source")
    changed = pair.engine().check_preview(first.preview_id).changed
    assert [(c.object, c.source_id) for c in changed] == [("Contact", ids["Contact"][3])]
    applied = pair.engine().apply_preview(first.preview_id, leave_out=[(c.object, c.source_id) for c in changed])
    assert "1 changed since the preview left out" in (applied.message or "")
    only = {"Contact": {ids["Contact"][3]}}
    assert pair.engine().to_preview_again(first.preview_id) == only     # what its job left out
    again = pair.engine().preview(PLAIN, only=only)
    rows = rows_by_source(pair.journal, again.preview_id)
    assert set(rows) == {ids["Contact"][3]} and rows[ids["Contact"][3]].action == "insert"
    assert {c.field: c.will_be for c in rows[ids["Contact"][3]].changes}["Title"] == "Edited in the source"
    assert pair.journal.preview(again.preview_id).header["only"] == {"Contact": [ids["Contact"][3]]}
    second = pair.engine().apply_preview(again.preview_id)
    assert second.message == f"Applied preview #{again.preview_id}: 1 inserted, 0 updated; 0 changed since the preview left out."
    [written] = pair.rows("tgt", "SELECT Title, Account.External_Id__c FROM Contact WHERE Email = 'c3@x.test'")
    assert written["Title"] == "Edited in the source" and written["Account"]["External_Id__c"] == "E3"
    # the apply of a partial preview reads and writes only its records
    assert set(second.objects) == {"Account", "Contact"} and second.totals.processed == 1


def _field_added(server: Any, alias: str, object_name: str, name: str) -> None:
    """A custom field added to an org's schema while it runs (a deploy between the preview and the apply)."""
    spec = server.store(alias).object_spec(object_name)
    base = spec.fields["Title"] if "Title" in spec.fields else spec.fields["Name"]
    spec.fields[name] = dataclasses.replace(base, name=name, label=name)


def test_a_field_added_to_the_target_refuses_the_preview_with_the_reason(make_pair):
    pair, _ = _plain_orgs(make_pair)
    preview = pair.engine().preview(PLAIN)
    _field_added(pair.server, "tgt", "Contact", "Region__c")
    engine = pair.engine()
    check = engine.check_preview(preview.preview_id)
    assert not check.ok
    assert check.refusals[0] == "Contact: field Region__c was added to the target org since the preview."
    assert check.refusals[-1].startswith(f"The orgs' metadata changed since preview #{preview.preview_id}")
    with pytest.raises(PreviewRefused) as refused:
        engine.apply_preview(preview.preview_id)
    assert refused.value.reasons == check.refusals
    assert pair.journal.jobs() == []       # nothing ran
    # more than five differences: five named, the rest counted
    for number in range(6):
        _field_added(pair.server, "src", "Account", f"Extra_{number}__c")
    many = pair.engine().check_preview(preview.preview_id).refusals
    assert many[:2] == ["Account: field Extra_0__c was added to the source org since the preview.",
                        "Account: field Extra_1__c was added to the source org since the preview."]
    assert many[5:] == ["And 2 more metadata change(s).",
                        f"The orgs' metadata changed since preview #{preview.preview_id}: preview again to see what "
                        "the sync does now."]


def test_a_validation_rule_switched_on_refuses_the_preview(make_pair):
    pair, _ = _plain_orgs(make_pair)
    pair.server.store("tgt").create_validation_rule({
        "ValidationName": "Require_Phone", "EntityDefinitionId": "Contact", "Active": False,
        "ErrorMessage": "Phone is required.", "ErrorConditionFormula": "ISBLANK(Phone)"})
    preview = pair.engine().preview(PLAIN)
    rule = pair.target.tooling_query("SELECT Id FROM ValidationRule WHERE ValidationName = 'Require_Phone'")[0]
    meta = pair.target.tooling_get("ValidationRule", rule["Id"])["Metadata"]
    pair.target.tooling_update("ValidationRule", rule["Id"], {"Metadata": {**meta, "active": True}})
    check = pair.engine().check_preview(preview.preview_id)
    assert check.refusals[0] == ("The validation rule Contact.Require_Phone was switched on in the target org since "
                                 "the preview.")


def test_a_changed_template_unknown_id_other_orgs_and_unfinished_previews_are_refused(make_pair, sandbox_factory,
                                                                                      tmp_path):
    pair, _ = _plain_orgs(make_pair)
    preview = pair.engine().preview(PLAIN)
    engine = pair.engine()
    edited = parse_template({**PLAIN, "options": {**PLAIN["options"], "continue_on_error": False}})
    assert engine.check_preview(preview.preview_id, current=edited).refusals == [
        f'The template "Plain" was changed after preview #{preview.preview_id}: preview again to see what the sync '
        "does with it now."]
    assert engine.check_preview(preview.preview_id, current=parse_template(PLAIN)).ok
    assert engine.check_preview(999).refusals == [
        "There is no preview #999 in the journal: `isyncsf previews` lists the previews there are."]
    with pytest.raises(PreviewRefused, match="no preview #999"):
        engine.apply_preview(999)
    # the same journal, other orgs
    other = sandbox_factory({"a": "empty", "b": "empty"})
    elsewhere = SyncEngine(pair.journal, org_client(other, "a"), org_client(other, "b"), org_ref(other, "a"),
                           org_ref(other, "b"))
    assert elsewhere.check_preview(preview.preview_id).refusals == [
        f"Preview #{preview.preview_id} was taken from src to tgt, not from a to b: apply it with those orgs."]
    # a preview that did not complete
    failed = pair.journal.create_preview(parse_template(PLAIN).as_json(), org_ref(pair.server, "src"),
                                         org_ref(pair.server, "tgt"))
    pair.journal.finish_preview(failed, "Aborted", {}, None, "aborted")
    assert engine.check_preview(failed).refusals == [
        f"Preview #{failed} ended Aborted: only a completed preview can be applied; preview again."]


def test_a_schema_8_journal_migrates_and_its_previews_are_refused_for_want_of_a_fingerprint(tmp_path):
    from isyncsf_desktop.engine.journal import OrgRef, PreviewRecord

    path = tmp_path / "old.sqlite3"
    with Journal(path) as journal:
        job_id = journal.create_job({"name": "t", "objects": []}, OrgRef("a", "00Da", "u"), OrgRef("b", "00Db", "u"))
        preview_id = journal.create_preview({"name": "t", "objects": []}, OrgRef("a", "00Da", "u"),
                                            OrgRef("b", "00Db", "u"))
    conn = sqlite3.connect(path)      # back to schema 8: the columns of schema 9 dropped
    for table, column in (("preview_rows", "source_stamp"), ("preview_rows", "target_stamp"), ("preview_rows", "new_id"),
                          ("previews", "fingerprint"), ("jobs", "preview_id")):
        conn.execute(f"ALTER TABLE {table} DROP COLUMN {column}")
    conn.execute("INSERT INTO preview_rows (preview_id, object, source_id, action, status, changes) "
                 "VALUES (?, 'Account', '001a', 'insert', 'inserted', '[]')", (preview_id,))
    conn.execute("PRAGMA user_version = 8")
    conn.commit()
    conn.close()
    with Journal(path) as journal:
        assert journal.job(job_id).preview_id is None
        old = journal.preview(preview_id)
        assert old.fingerprint is None and old.job_id is None
        [row] = journal.preview_records(preview_id)
        assert (row.source_id, row.source_stamp, row.target_stamp, row.new_id) == ("001a", None, None, None)
        journal.add_preview_rows(preview_id, [PreviewRecord("Account", "001b", "insert", "inserted",
                                                            source_stamp="s", new_id="#new00000000001AAA")])
        assert journal.preview_new_ids(preview_id) == {"#new00000000001AAA": ("Account", "001b")}
        assert journal.claim_preview(preview_id, job_id) and not journal.claim_preview(preview_id, job_id)
        assert journal.preview_of_job(job_id) == preview_id and journal.job(job_id).preview_id == preview_id
