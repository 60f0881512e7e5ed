"""Preview before apply (issue 24): what a preview says, record by record, is what the sync that follows it does;
a preview writes nothing to either org (the sandbox's own request log says so); its rows are in the journal."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from isyncsf_desktop.engine.lifecycle import RecordStatus
from isyncsf_desktop.engine.run.context import EngineError
from isyncsf_desktop.engine.run.files import FILE_OBJECTS
from isyncsf_desktop.engine.run.preview import INSERT_OFF, UPDATE_OFF, is_new_id
from isyncsf_desktop.engine.values import same
from isyncsf_desktop.sandbox.seeds import build_seed

WRITES = ("POST", "PATCH", "PUT", "DELETE")
DEMO = {"name": "Preview demo", "options": {"continue_on_error": True, "versioning": True},
        "objects": [{"object": "Account", "match_by": ["External_Id__c"]},
                    # the demo target's rule wants a Phone on every contact: a preview cannot know a validation rule
                    {"object": "Contact", "match_by": ["Email"], "filter": "Phone != null"}]}


class RequestLog:
    """Every call each org of a sandbox server answers, from its own request observer."""

    def __init__(self, server: Any, aliases: tuple[str, ...] = ("src", "tgt")):
        self.calls: list[tuple[str, str, str]] = []
        self._lock = threading.Lock()
        for alias in aliases:
            server.faults(alias).update(observer=self._observer(alias))

    def _observer(self, alias: str) -> Any:
        def seen(stage: str, method: str, path: str) -> None:
            if stage == "before":
                with self._lock:
                    self.calls.append((alias, method, path))
        return seen

    def writes(self) -> list[tuple[str, str, str]]:
        return [c for c in self.calls if c[1] in WRITES]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


def rows_by_source(journal: Any, preview_id: int) -> dict[str, Any]:
    return {r.source_id: r for r in journal.iter_preview_records(preview_id)}


def test_a_preview_writes_nothing_and_says_what_the_sync_then_does_record_by_record(make_pair):
    pair = make_pair("demo-source", "demo-target")
    log = RequestLog(pair.server)
    preview = pair.engine().preview(DEMO)
    assert preview.status == "Completed", preview.message
    # no write call to either org: every call the orgs answered (the sandbox's request log) was a read; the log
    # holds the calls the preview says it made (the client also counts its userinfo request: owners)
    assert log.calls and log.writes() == []
    assert len([c for c in log.calls if c[0] == "src"]) == preview.preview_calls["source"]
    assert 0 <= preview.preview_calls["target"] - len([c for c in log.calls if c[0] == "tgt"]) <= 1
    rows = rows_by_source(pair.journal, preview.preview_id)
    assert preview.order == ["Account", "Contact"]
    counts = {o: {k: preview.objects[o][k] for k in ("insert", "update", "unchanged", "skip")} for o in preview.order}
    assert all(c["insert"] and c["update"] and c["unchanged"] for c in counts.values())   # the demo has all three
    assert preview.objects["Account"]["deferred_updates"] > 0       # Primary_Contact__c: a cycle, second pass

    log.clear()
    engine = pair.engine()
    result = engine.start_sync(DEMO)
    assert result.state == "Synced"
    # the counts, and the API calls the preview said the run would cost (REST here: nothing past a Bulk threshold)
    for name, oc in result.objects.items():
        assert (oc.inserted, oc.updated, oc.existing, oc.errors) == (
            counts[name]["insert"], counts[name]["update"], counts[name]["unchanged"], counts[name]["skip"])
    assert result.api_calls == {"source": preview.api_calls["source"]["total"],
                                "target": preview.api_calls["target"]["total"]}
    assert preview.api_calls["target"]["writes"] == len([c for c in log.writes() if c[0] == "tgt"])

    # record by record: the outcome the run journaled is the one the preview said
    records = {r.source_id: r for r in pair.journal.records(result.job_id)}
    assert set(records) == set(rows)
    assert {s: r.status for s, r in records.items()} == {s: r.status for s, r in rows.items()}
    versions = pair.journal.versions(result.job_id)
    target = {name: {r["Id"]: r for r in pair.rows("tgt", f"SELECT Id, {', '.join(sorted(fields))} FROM {name}")}
              for name, fields in (("Account", {"Name", "Phone", "Industry", "Primary_Contact__c", "OwnerId"}),
                                   ("Contact", {"Email", "Title", "Phone", "AccountId"}))}
    emails = {i: r["Email"] for i, r in target["Contact"].items()}
    names = {i: r["Name"] for i, r in target["Account"].items()}
    for source_id, row in rows.items():
        record = records[source_id]
        if row.action == "update":     # the fields it changes are those the run saved before it updated them
            assert row.target_id == record.target_id
            first = {c.field for c in row.changes if not c.deferred}
            assert set(versions[record.target_id][1]) == first
            assert all(c.now != c.will_be for c in row.changes)
        if row.action in ("insert", "update"):   # and the run wrote the values the preview showed
            written = target[row.object][record.target_id]
            for change in row.changes:
                if change.field not in written:
                    continue
                if is_new_id(change.will_be):       # a parent the run inserts: shown by its name, "(new)"
                    parent = written[change.field]
                    assert change.will_be_label in (f"{names.get(parent)} (new)", f"{emails.get(parent)} (new)")
                else:
                    assert same(change.will_be, written[change.field], "string"), (row, change)
    deferred = [(s, c) for s, r in rows.items() for c in r.changes if c.deferred]
    assert len(deferred) == preview.objects["Account"]["deferred_updates"]
    for source_id, change in deferred:                 # the second pass's lookups, parent shown by its match key
        assert change.field == "Primary_Contact__c"
        parent = target["Account"][records[source_id].target_id]["Primary_Contact__c"]
        assert change.will_be_label in (emails[parent], f"{emails[parent]} (new)")

    # a re-preview after the sync: nothing to insert or update, every record unchanged
    again = pair.engine().preview(DEMO)
    assert again.totals["insert"] == again.totals["update"] == again.totals["skip"] == 0
    assert again.totals["unchanged"] == len(rows) and again.totals["deferred_updates"] == 0


def _skip_orgs(make_pair: Any) -> Any:
    nickname = {"Contact.Nickname__c": {"type": "string", "label": "Nickname", "length": 100}}
    short = {"Contact.Nickname__c": {"type": "string", "label": "Nickname", "length": 10}}
    pair = make_pair(build_seed("empty", overrides={"add_fields": nickname}),
                     build_seed("empty", overrides={"add_fields": short}))
    source = pair.insert("src", "Account", [{"Name": "Only in source", "External_Id__c": "A1"},
                                            {"Name": "Renamed", "External_Id__c": "A2"},
                                            {"Name": "Same", "External_Id__c": "A3"}])
    target = pair.insert("tgt", "Account", [{"Name": "Old name", "External_Id__c": "A2"},
                                   {"Name": "Same", "External_Id__c": "A3"}])
    pair.insert("src", "Contact", [
        {"LastName": "Orphan", "Email": "orphan@x.test", "AccountId": source[0]},          # parent not inserted
        {"LastName": "Changed", "Email": "changed@x.test", "AccountId": source[1], "Title": "New"},
        {"LastName": "Long", "Email": "long@x.test", "AccountId": source[1], "Nickname__c": "x" * 40},
        {"LastName": "Twice", "Email": "twice@x.test", "AccountId": source[2]},
        {"LastName": "Fresh", "Email": "fresh@x.test", "AccountId": source[2], "Nickname__c": "short"}])
    pair.insert("tgt", "Contact", [{"LastName": "Changed", "Email": "changed@x.test", "Title": "Old",
                                    "AccountId": target[0]},
                                   {"LastName": "Twice", "Email": "twice@x.test"},
                                   {"LastName": "Twice", "Email": "TWICE@x.test"}])
    return pair


SKIPS = {"name": "Skips", "options": {"continue_on_error": True},
         "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"], "match_by": ["External_Id__c"],
                      "insert": False},
                     {"object": "Contact", "fields": ["LastName", "Email", "AccountId", "Title", "Nickname__c"],
                      "match_by": ["Email"], "update": False}]}


def test_records_not_going_say_why_and_the_sync_agrees(make_pair):
    pair = _skip_orgs(make_pair)
    log = RequestLog(pair.server)
    preview = pair.engine().preview(SKIPS)
    assert preview.status == "Completed", preview.message
    assert log.calls and log.writes() == []
    rows = {r.label: r for r in pair.journal.iter_preview_records(preview.preview_id)}
    assert {label: (r.action, r.reason_code) for label, r in rows.items()} == {
        "Only in source": ("skip", INSERT_OFF),               # Insert switched off for Account
        "Renamed": ("update", None),
        "Same": ("unchanged", None),
        "orphan@x.test": ("skip", "PARENT_NOT_SYNCED"),       # its parent will be missing
        "changed@x.test": ("skip", UPDATE_OFF),               # Update switched off for Contact
        "long@x.test": ("skip", "STRING_TOO_LONG"),           # 40 characters for a field of 10
        "twice@x.test": ("skip", "DUPLICATE_MATCH"),          # two target contacts have its email
        "fresh@x.test": ("insert", None)}
    assert "inserting new records is off for Account" in rows["Only in source"].reason
    assert "inserting new records is off" in rows["orphan@x.test"].reason
    assert "max length=10" in rows["long@x.test"].reason
    assert [(c.field, c.now, c.will_be) for c in rows["changed@x.test"].changes] == [("Title", "Old", "New")]
    assert [(c.field, c.now, c.will_be) for c in rows["Renamed"].changes] == [("Name", "Old name", "Renamed")]
    fresh = {c.field: c for c in rows["fresh@x.test"].changes}
    assert fresh["AccountId"].will_be_label == "Same"            # a lookup by the parent's name, not its id
    assert preview.objects["Contact"] == {"total": 5, "insert": 1, "update": 0, "unchanged": 0, "skip": 4,
                                          "deferred_updates": 0}

    result = pair.engine().start_sync(SKIPS)
    records = {r.source_id: r.status for r in pair.journal.records(result.job_id)}
    assert records == {r.source_id: r.status for r in rows.values()}
    errors = {e.source_id: e.status_code for e in pair.journal.errors(result.job_id)}
    assert errors == {r.source_id: r.reason_code for r in rows.values() if r.status == RecordStatus.FAILED}
    assert [r["LastName"] for r in pair.rows("tgt", "SELECT LastName FROM Contact WHERE Email = 'long@x.test'")] == []


def test_a_template_that_cannot_run_is_refused_with_its_sentence(make_pair):
    pair = make_pair("demo-source", "demo-target")
    bad = {"name": "Bad", "objects": [{"object": "Account", "fields": ["Name", "No_Such_Field__c"]}]}
    with pytest.raises(EngineError, match="No_Such_Field__c"):
        pair.engine().preview(bad, override_preflight=True)
    with pytest.raises(EngineError, match="Nope__c does not exist"):
        pair.engine().preview({"name": "Bad", "objects": [{"object": "Nope__c"}]}, override_preflight=True)


@pytest.mark.parametrize("bulk", [False, True])
def test_the_calls_a_preview_says_the_sync_will_cost_are_counted_as_the_run_sends_them(make_pair, bulk):
    pair = make_pair()
    pair.insert("src", "Account", [{"Name": f"A{i}", "External_Id__c": f"E{i}"} for i in range(30)])
    pair.insert("tgt", "Account", [{"Name": "old", "External_Id__c": f"E{i}"} for i in range(5)])
    options = {"batch_size": 10, "bulk_threshold": 20 if bulk else 0, "continue_on_error": True}
    template = {"name": "Calls", "options": options,
                "objects": [{"object": "Account", "fields": ["Name", "External_Id__c"],
                             "match_by": ["External_Id__c"]}]}
    preview = pair.engine().preview(template)
    assert (preview.objects["Account"]["insert"], preview.objects["Account"]["update"]) == (25, 5)
    target = preview.api_calls["target"]
    if bulk:    # 25 inserts past the threshold: one Bulk job; 5 updates through one Collections request
        assert (target["bulk_jobs"], target["writes"]) == (1, 5 + 1)
    else:       # batches of 10: three create requests for 25 records, one update request
        assert (target["bulk_jobs"], target["writes"]) == (0, 3 + 1)
    log = RequestLog(pair.server)
    result = pair.engine().start_sync(template)
    assert result.totals.inserted == 25 and result.totals.updated == 5
    assert result.api_calls["source"] == preview.api_calls["source"]["total"]
    opened = [c for c in log.calls if c[0] == "tgt" and c[1] == "POST" and c[2].rstrip("/").endswith("jobs/ingest")]
    assert len(opened) == target["bulk_jobs"]
    if bulk:     # a Bulk job is checked until the org has done it: at least as often as the estimate says
        assert result.api_calls["target"] >= target["total"]
    else:
        assert result.api_calls["target"] == target["total"]


def test_a_preview_of_masked_fields_keeps_only_the_masked_values(pair, memory_keyring):
    from isyncsf_desktop.engine.masking import template_secret

    template_secret("masked preview", create=True)
    pair.insert("src", "Contact", [{"FirstName": "Zelda", "LastName": "Quimbyson", "Email": "zelda.q@realmail.test",
                                    "Phone": "+1 415 555 1234"}])
    mask = {"Email": {"kind": "email"}, "LastName": {"kind": "last_name"}, "FirstName": {"kind": "first_name"}}
    template = {"name": "masked preview", "options": {"continue_on_error": True},
                "objects": [{"object": "Contact", "fields": ["FirstName", "LastName", "Email", "Phone"],
                             "match_by": ["Email"], "mask": mask}]}
    preview = pair.engine().preview(template)
    assert preview.status == "Completed", preview.message
    stored = pair.journal.preview_records(preview.preview_id)
    text = repr([r.as_json() for r in stored]) + repr(pair.journal.preview(preview.preview_id).header)
    assert "Zelda" not in text and "Quimbyson" not in text and "realmail" not in text
    result = pair.engine().start_sync(template)       # and the values the preview showed are those sent
    sent = pair.rows("tgt", "SELECT FirstName, LastName, Email FROM Contact")[0]
    assert {c.field: c.will_be for c in stored[0].changes if c.field in mask} == sent
    assert stored[0].label == sent["Email"] and result.totals.inserted == 1


def test_a_re_preview_after_the_sync_finds_numbers_dates_and_lookups_unchanged(pair):
    accounts = pair.insert("src", "Account", [{"Name": "Parent", "External_Id__c": "P"},
                                              {"Name": "Child", "External_Id__c": "C"}])
    pair.source.update([{"attributes": {"type": "Account"}, "Id": accounts[1], "ParentId": accounts[0]}])
    pair.insert("src", "Opportunity", [
        {"Name": f"Deal {i}", "StageName": "Prospecting", "Amount": 1000 + i * 0.5, "Probability": 12.5,
         "CloseDate": "2026-03-01", "AccountId": accounts[i % 2]} for i in range(4)])
    template = {"name": "Types", "options": {"continue_on_error": True},
                "objects": [{"object": "Account", "fields": ["Name", "External_Id__c", "ParentId"],
                             "match_by": ["External_Id__c"]},
                            {"object": "Opportunity", "match_by": ["Name"],
                             "fields": ["Name", "StageName", "Amount", "Probability", "CloseDate", "AccountId"]}]}
    first = pair.engine().preview(template)
    child = next(r for r in pair.journal.iter_preview_records(first.preview_id, "Account") if r.label == "Child")
    assert {c.field: c.will_be_label for c in child.changes}["ParentId"] == "Parent (new)"   # a self-lookup, level 1
    result = pair.engine().start_sync(template)
    assert result.totals.inserted == 6 and result.totals.errors == 0
    again = pair.engine().preview(template)
    assert again.objects["Opportunity"]["unchanged"] == 4 and again.objects["Account"]["unchanged"] == 2
    assert again.totals["insert"] == again.totals["update"] == 0
    # a changed amount is an update of that field alone, its parent shown by name on the target
    target = {r["Name"]: r["Id"] for r in pair.rows("tgt", "SELECT Id, Name FROM Opportunity")}
    pair.target.update([{"attributes": {"type": "Opportunity"}, "Id": target["Deal 1"], "Amount": 7}])
    third = pair.engine().preview(template)
    update = next(pair.journal.iter_preview_records(third.preview_id, "Opportunity", ["update"]))
    assert update.label == "Deal 1" and [(c.field, c.now, c.will_be) for c in update.changes] == [
        ("Amount", 7, 1000.5)]


def test_the_whole_demo_template_agrees_record_by_record_but_for_the_targets_validation_rule(make_pair):
    """Every object of the demo template, with owners, queues, record types and the second pass: the preview's
    outcome and reason is the sync's for every record, except what only the target's automation decides (its
    Contact phone rule, and the Cases of those contacts), which a preview cannot foresee."""
    import json
    from pathlib import Path

    import isyncsf_desktop

    template = json.loads((Path(isyncsf_desktop.__file__).parent / "data" / "templates" / "demo.json").read_text())
    pair = make_pair("demo-source", "demo-target")
    preview = pair.engine().preview(template, override_preflight=True)
    assert preview.status == "Completed", preview.message
    rows = rows_by_source(pair.journal, preview.preview_id)
    result = pair.engine().start_sync(template, override_preflight=True)
    # the files the sync copies after their records (the demo's Accounts and Cases go "with their files") are no
    # rows of the preview's: it says so instead
    assert preview.files == ["Account", "Case"]
    records = {r.source_id: r.status for r in pair.journal.records(result.job_id) if r.object not in FILE_OBJECTS}
    assert len(records) < len(pair.journal.records(result.job_id))      # files went, as the preview said
    errors = {e.source_id: e for e in pair.journal.errors(result.job_id) if e.object not in FILE_OBJECTS}
    # what the target's phone rule refused, and the records that failed because of it
    automation = {s for s, e in errors.items() if "FIELD_CUSTOM_VALIDATION_EXCEPTION" in f"{e.status_code} {e.message}"}
    assert automation
    for source_id in automation:   # said to go, or not going for a reason of its own (its record type, say)
        assert rows[source_id].action in ("insert", "update") or rows[source_id].status == RecordStatus.FAILED
    assert set(records) == set(rows)
    assert {s: (r.status, r.reason_code if r.status == RecordStatus.FAILED else None) for s, r in rows.items()
            if s not in automation} == {s: (status, errors[s].status_code if s in errors else None)
                                        for s, status in records.items() if s not in automation}
    reasons = {r.reason_code for r in rows.values() if r.action == "skip"}
    assert "RECORD_TYPE_NOT_FOUND" in reasons    # a record type the target lacks, said before the sync said it
