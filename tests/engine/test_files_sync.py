"""Files, Attachments and Notes travel with their records (a line "with their files"): two sandbox orgs through
the real client, the bytes read back through simple-salesforce; versions, limits, re-sync, storage full and
Retry Failed, rollback, a lost upload answer."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from helpers import Crash

from isyncsf_desktop.engine.events import FilesProgress
from isyncsf_desktop.engine.export import export_errors_csv
from isyncsf_desktop.engine.journal import Journal
from isyncsf_desktop.engine.template import TemplateError, parse_template

ACCOUNT = {"object": "Account", "fields": ["Name", "External_Id__c"], "match_by": ["External_Id__c"]}


def template(files: object = True, **options) -> dict:
    return {"name": "t", "options": {"continue_on_error": True, **options}, "objects": [{**ACCOUNT, "files": files}]}


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


@pytest.fixture
def org_files(pair, tmp_path):
    """Two source Accounts with: a 2-version document linked to both (Collaborators on the second), a 3 MB
    file (multipart), a .exe, an Attachment and a Note; returns the ids and the bytes."""
    a, b = pair.insert("src", "Account", [{"Name": "Acme", "External_Id__c": "A"},
                                           {"Name": "Beta", "External_Id__c": "B"}])
    v1 = pair.source.upload_content_version({"PathOnClient": "contract.pdf", "Title": "Contract",
                                             "FirstPublishLocationId": a}, write(tmp_path, "c1.pdf", b"%PDF v1"))
    doc = pair.source.query(f"SELECT ContentDocumentId FROM ContentVersion WHERE Id = '{v1}'")[0]["ContentDocumentId"]
    pair.insert("src", "ContentDocumentLink", [{"ContentDocumentId": doc, "LinkedEntityId": b, "ShareType": "C",
                                                "Visibility": "InternalUsers"}])
    pair.source.upload_content_version({"PathOnClient": "contract.pdf", "Title": "Contract",
                                        "ContentDocumentId": doc}, write(tmp_path, "c2.pdf", b"%PDF v2 signed"))
    big = os.urandom(3 * 1024 * 1024)
    pair.source.upload_content_version({"PathOnClient": "scan.png", "Title": "Scan", "FirstPublishLocationId": b},
                                       write(tmp_path, "scan.png", big))
    pair.source.upload_content_version({"PathOnClient": "tool.exe", "Title": "Tool", "FirstPublishLocationId": b},
                                       write(tmp_path, "tool.exe", b"MZ"))
    pair.source.create_attachment({"ParentId": a, "Name": "old.txt", "ContentType": "text/plain"},
                                  write(tmp_path, "old.txt", b"legacy bytes"))
    pair.insert("src", "Note", [{"ParentId": a, "Title": "Call", "Body": "Call them back", "IsPrivate": False}])
    return {"a": a, "b": b, "big": big}


def target_accounts(pair) -> dict[str, str]:
    return {r["External_Id__c"]: r["Id"] for r in pair.rows("tgt", "SELECT Id, External_Id__c FROM Account")}


def target_files(pair, record: str) -> dict[str, list[dict]]:
    """Title -> versions (Checksum, VersionNumber) of the documents linked to ``record`` on the target."""
    docs = [r["ContentDocumentId"] for r in pair.rows(
        "tgt", f"SELECT ContentDocumentId FROM ContentDocumentLink WHERE LinkedEntityId = '{record}'")]
    out: dict[str, list[dict]] = {}
    for doc in docs:
        for v in pair.rows("tgt", "SELECT Id, Title, Checksum, VersionNumber FROM ContentVersion "
                                  f"WHERE ContentDocumentId = '{doc}'"):
            out.setdefault(v["Title"], []).append(v)
    return out


def read_back(pair, object_name: str, record_id: str, field: str) -> bytes:
    """The bytes through simple-salesforce itself (not the app's download)."""
    sf = pair.target.sf
    answer = sf.session.get(f"{sf.base_url}sobjects/{object_name}/{record_id}/{field}", headers=sf.headers, timeout=60)
    assert answer.status_code == 200, answer.text
    return answer.content


def sync(pair, tmpl: dict, **kwargs):
    engine = pair.engine(**kwargs)
    job_id = engine.create_job(tmpl)
    return engine, job_id, engine.sync(job_id)


# ------------------------------------------------------------------------------------------ the template
@pytest.mark.parametrize("files, message", [
    ({"versions": "some"}, "versions must be \"latest\""),
    ({"max_file_mb": 0}, "max_file_mb must be a number of megabytes above 0"),
    ({"max_run_mb": "lots"}, "max_run_mb must be a number"),
    ({"leave_out_types": ["e x e"]}, "leave_out_types must be file extensions"),
    ({"attachment": True}, "unknown key(s): attachment"),
    ("yes", "must be true, false or"),
])
def test_a_bad_files_option_says_what_to_fix(files, message):
    with pytest.raises(TemplateError) as excinfo:
        parse_template(template(files))
    assert message in str(excinfo.value) and "objects[1] (Account).files" in str(excinfo.value)


def test_the_files_option_round_trips():
    parsed = parse_template(template({"versions": "all", "max_file_mb": 5, "leave_out_types": [".EXE"]}))
    files = parsed.objects[0].files
    assert files is not None and files.versions == "all" and files.leave_out_types == ["exe"]
    assert parse_template(parsed.as_json()).objects[0].files == files
    assert parse_template(template(False)).objects[0].files is None


# ------------------------------------------------------------------------------------------ a sync
def test_a_sync_copies_files_attachments_and_notes_to_the_matching_records(pair, org_files):
    events = []
    _, job_id, result = sync(pair, template({"leave_out_types": ["exe"]}), observer=events.append)
    assert result.state == "Synced", result.message
    ids = target_accounts(pair)
    on_a, on_b = target_files(pair, ids["A"]), target_files(pair, ids["B"])
    # latest version only (the default), linked to both accounts, the second link as the source's
    assert [v["Checksum"] for v in on_a["Contract"]] == [hashlib.md5(b"%PDF v2 signed").hexdigest()]
    assert on_b["Contract"] == on_a["Contract"] and "Tool" not in on_b
    link = pair.rows("tgt", f"SELECT ShareType, Visibility FROM ContentDocumentLink WHERE LinkedEntityId = '{ids['B']}'"
                            f" AND ContentDocumentId IN (SELECT ContentDocumentId FROM ContentVersion WHERE Title = "
                            "'Contract')")
    assert link == [{"ShareType": "C", "Visibility": "InternalUsers"}]
    # byte for byte, read back through simple-salesforce
    scan = on_b["Scan"][0]
    assert hashlib.md5(read_back(pair, "ContentVersion", scan["Id"], "VersionData")).digest() == \
        hashlib.md5(org_files["big"]).digest()
    attachment = pair.rows("tgt", f"SELECT Id, Name FROM Attachment WHERE ParentId = '{ids['A']}'")
    assert [a["Name"] for a in attachment] == ["old.txt"]
    assert read_back(pair, "Attachment", attachment[0]["Id"], "Body") == b"legacy bytes"
    notes = pair.rows("tgt", f"SELECT Title, Body, IsPrivate FROM Note WHERE ParentId = '{ids['A']}'")
    assert notes == [{"Title": "Call", "Body": "Call them back", "IsPrivate": False}]
    counts = result.objects
    assert (counts["ContentVersion"].inserted, counts["Attachment"].inserted, counts["Note"].inserted) == (2, 1, 1)
    progress = [e for e in events if isinstance(e, FilesProgress)]
    assert progress and progress[-1].files_done == progress[-1].files_planned == 3
    assert progress[-1].bytes_done >= len(org_files["big"])


def test_every_version_goes_in_order_when_the_line_says_all(pair, org_files):
    _, _, result = sync(pair, template({"versions": "all", "leave_out_types": ["exe"]}))
    assert result.state == "Synced", result.message
    versions = target_files(pair, target_accounts(pair)["A"])["Contract"]
    assert sorted((v["VersionNumber"], v["Checksum"]) for v in versions) == [
        ("1", hashlib.md5(b"%PDF v1").hexdigest()), ("2", hashlib.md5(b"%PDF v2 signed").hexdigest())]


def test_the_size_limit_leaves_larger_files_out_with_a_notice(pair, org_files):
    _, _, result = sync(pair, template({"max_file_mb": 1}))
    assert result.state == "Synced"
    assert "Scan" not in target_files(pair, target_accounts(pair)["B"])
    assert "Tool" in target_files(pair, target_accounts(pair)["B"])
    assert any("larger than the template's 1 MB per file" in e.text for e in pair.events if hasattr(e, "text"))


def test_a_resync_and_a_second_job_upload_nothing(pair, org_files):
    engine, job_id, first = sync(pair, template())
    assert first.state == "Synced"
    before = pair.rows("tgt", "SELECT Id FROM ContentVersion")
    again = engine.resync(job_id)
    assert again.state == "Synced"
    _, _, other = sync(pair, template())      # a new job: the files are found on the target by checksum
    assert other.state == "Synced"
    assert pair.rows("tgt", "SELECT Id FROM ContentVersion") == before
    assert other.objects["ContentVersion"].existing == 3 and other.objects["ContentVersion"].inserted == 0
    assert other.objects["Attachment"].existing == 1 and other.objects["Note"].existing == 1


def test_storage_full_fails_the_files_and_retry_sends_only_those(pair, org_files, tmp_path):
    pair.server.faults("tgt").update(file_storage_mb=2)
    engine, job_id, result = sync(pair, template({"leave_out_types": ["exe"]}))
    assert result.status == "Completed", result.message
    errors = pair.journal.errors(job_id)
    assert {e.object for e in errors} >= {"ContentVersion"} and any(e.status_code == "STORAGE_LIMIT_EXCEEDED"
                                                                    for e in errors)
    assert len(target_accounts(pair)) == 2          # the records are kept
    csv = tmp_path / "errors.csv"                    # in the CSV like record errors
    assert export_errors_csv(pair.journal, job_id, csv, "ContentVersion") >= 1
    assert "STORAGE_LIMIT_EXCEEDED" in csv.read_text()
    sent_before = {v["Id"] for v in pair.rows("tgt", "SELECT Id FROM ContentVersion")}
    pair.server.faults("tgt").update(file_storage_mb=None)
    retried = engine.retry(job_id)
    assert not [e for e in pair.journal.errors(job_id) if not e.resolved], retried.message
    after = {v["Title"] for v in pair.rows("tgt", "SELECT Id, Title FROM ContentVersion") if v["Id"] not in sent_before}
    assert "Scan" in after and len(after) + len(sent_before) == 2


def test_rollback_removes_exactly_what_the_job_made(pair, org_files, tmp_path):
    ids_before = pair.insert("tgt", "Account", [{"Name": "Acme", "External_Id__c": "A"}])
    kept = pair.target.upload_content_version({"PathOnClient": "mine.pdf", "Title": "Mine",
                                               "FirstPublishLocationId": ids_before[0]},
                                              write(tmp_path, "mine.pdf", b"already there"))
    engine, job_id, result = sync(pair, template({"leave_out_types": ["exe"]}))
    assert result.state == "Synced"
    assert len(pair.rows("tgt", "SELECT Id FROM ContentVersion")) == 3
    undone = engine.rollback(job_id)
    assert undone.state == "Rollback Completed", undone.message
    assert [r["Id"] for r in pair.rows("tgt", "SELECT Id FROM ContentVersion")] == [kept]
    assert pair.rows("tgt", "SELECT Id FROM Attachment") == [] and pair.rows("tgt", "SELECT Id FROM Note") == []
    assert target_files(pair, ids_before[0]) .keys() == {"Mine"}


def test_an_upload_whose_answer_was_lost_is_found_not_sent_twice(pair, org_files, tmp_path):
    engine = pair.engine()
    real = engine.target.upload_blob
    calls = []

    def upload_then_die(*args, **kwargs):
        new_id = real(*args, **kwargs)
        calls.append(new_id)
        if len(calls) == 2:
            raise Crash()
        return new_id
    engine.target.upload_blob = upload_then_die
    job_id = engine.create_job(template({"leave_out_types": ["exe"]}))
    with pytest.raises(Crash):
        engine.sync(job_id)
    pair.journal.close()
    pair.journal = Journal(tmp_path / "journal.sqlite3")   # the app starts again
    assert pair.journal.recover_interrupted() == [job_id]
    engine = pair.engine()
    again = engine.resync(job_id)
    assert again.state == "Synced", again.message
    titles = sorted(v["Title"] for v in pair.rows("tgt", "SELECT Title FROM ContentVersion"))
    assert titles == ["Contract", "Scan"]
    assert len(pair.rows("tgt", "SELECT Id FROM Attachment")) == 1
    undone = engine.rollback(job_id)
    assert undone.state == "Rollback Completed", undone.message
    assert pair.rows("tgt", "SELECT Id FROM ContentVersion") == []


def test_a_file_over_the_orgs_limit_is_a_record_error_and_the_rest_go(pair, org_files):
    pair.server.faults("tgt").update(max_file_mb=1)
    _, job_id, result = sync(pair, template({"leave_out_types": ["exe"]}))
    assert result.state == "Synced", result.message
    errors = [e for e in pair.journal.errors(job_id) if not e.resolved]
    assert [(e.object, e.status_code) for e in errors] == [("ContentVersion", "MAXIMUM_SIZE_OF_DOCUMENT")]
    assert result.objects["ContentVersion"].errors == 1 and result.objects["ContentVersion"].inserted == 1
    assert result.objects["Attachment"].inserted == 1 and result.objects["Note"].inserted == 1


def test_a_preview_says_the_files_go_with_their_records_and_its_apply_copies_them(pair, org_files):
    """The preview lists records, not files: it says which lines' files go with them; applying it copies the
    files of the records it writes, as a sync does."""
    preview = pair.engine().preview(template())
    assert preview.status == "Completed", preview.message
    assert preview.files == ["Account"]
    assert preview.as_json()["files_note"].startswith("Files, attachments and notes of the Account records go with")
    assert pair.journal.preview(preview.preview_id).header["files_note"] == preview.as_json()["files_note"]
    plain = pair.engine().preview({**template(), "objects": [ACCOUNT]})
    assert plain.files == [] and "files_note" not in plain.as_json()
    applied = pair.engine().apply_preview(preview.preview_id)
    assert applied.state == "Synced", applied.message
    ids = target_accounts(pair)
    assert {r["Title"] for r in pair.rows("tgt", "SELECT Title FROM ContentVersion")} >= {"Contract", "Scan"}
    assert [r["Name"] for r in pair.rows("tgt", f"SELECT Name FROM Attachment WHERE ParentId = '{ids['A']}'")] \
        == ["old.txt"]


def test_the_first_link_keeps_the_source_links_sharing(pair, tmp_path):
    """The target's first link comes from FirstPublishLocationId (the org makes it ShareType V, AllUsers); where
    the source's link to that record shares otherwise, the target's is given the same ShareType and Visibility."""
    [a] = pair.insert("src", "Account", [{"Name": "Acme", "External_Id__c": "A"}])
    version = pair.source.upload_content_version({"PathOnClient": "plan.pdf", "Title": "Plan",
                                                  "FirstPublishLocationId": a}, write(tmp_path, "p.pdf", b"%PDF"))
    doc = pair.source.query(f"SELECT ContentDocumentId FROM ContentVersion WHERE Id = '{version}'")[0]["ContentDocumentId"]
    [link] = pair.source.query(f"SELECT Id FROM ContentDocumentLink WHERE ContentDocumentId = '{doc}' "
                               f"AND LinkedEntityId = '{a}'")
    [result] = pair.source.update([{"attributes": {"type": "ContentDocumentLink"}, "Id": link["Id"],
                                    "ShareType": "I", "Visibility": "InternalUsers"}])
    assert result["success"], result
    result = pair.engine().start_sync(template())
    assert result.state == "Synced", result.message
    target = target_accounts(pair)["A"]
    assert pair.rows("tgt", f"SELECT ShareType, Visibility FROM ContentDocumentLink WHERE LinkedEntityId = '{target}'"
                     ) == [{"ShareType": "I", "Visibility": "InternalUsers"}]
