"""The journal's preview rows as the Preview Changes window reads them: a page filtered by text (name, ids, reason;
case-insensitive, ``%`` and ``_`` taken literally) and the records not going counted per object and reason."""

from __future__ import annotations

from isyncsf_desktop.engine.journal import Journal, OrgRef, PreviewChange, PreviewRecord

SOURCE = OrgRef("src", "00D000000000001AAA", "https://src.test")
TARGET = OrgRef("tgt", "00D000000000002AAA", "https://tgt.test")


def make_preview(journal: Journal) -> int:
    preview_id = journal.create_preview({"name": "T"}, SOURCE, TARGET)
    journal.add_preview_rows(preview_id, [
        PreviewRecord("Account", "001A", "insert", "Inserted", None, "Acme 100% Corp",
                      changes=[PreviewChange("Name", None, "Acme 100% Corp")]),
        PreviewRecord("Account", "001B", "update", "Updated", "001T", "Globex",
                      changes=[PreviewChange("Phone", "1", "2")]),
        PreviewRecord("Account", "001C", "skip", "Skipped", None, "Initech", "INSERT_OFF", "inserting is off"),
        PreviewRecord("Contact", "003A", "skip", "Failed", None, "a_b@x.test", "PARENT_NOT_SYNCED", "no parent"),
        PreviewRecord("Contact", "003B", "skip", "Failed", None, "ab@x.test", "PARENT_NOT_SYNCED", "no parent"),
        PreviewRecord("Contact", "003C", "skip", "Failed", None, "c@x.test", "STRING_TOO_LONG", "too long")])
    return preview_id


def test_rows_filtered_by_text_and_the_reasons_of_records_not_going(tmp_path):
    journal = Journal(tmp_path / "journal.sqlite3")
    preview_id = make_preview(journal)
    labels = lambda rows: [r.label for r in rows]   # noqa: E731
    assert labels(journal.preview_records(preview_id, "Account", text="acme")) == ["Acme 100% Corp"]
    assert labels(journal.preview_records(preview_id, "Account", text="100%")) == ["Acme 100% Corp"]
    assert labels(journal.preview_records(preview_id, "Account", text="0% C")) == ["Acme 100% Corp"]
    assert labels(journal.preview_records(preview_id, "Account", text="001t")) == ["Globex"]          # target id
    assert labels(journal.preview_records(preview_id, "Account", text="insert_off")) == ["Initech"]   # reason code
    assert labels(journal.preview_records(preview_id, "Contact", text="a_b")) == ["a_b@x.test"]       # _ literal
    assert labels(journal.preview_records(preview_id, "Contact", ["skip"], text="parent", offset=1, limit=5)) == [
        "ab@x.test"]
    assert journal.preview_records(preview_id, "Contact", text="") == journal.preview_records(preview_id, "Contact")
    assert journal.preview_reasons(preview_id) == {"Account": {"INSERT_OFF": 1},
                                                   "Contact": {"PARENT_NOT_SYNCED": 2, "STRING_TOO_LONG": 1}}
    journal.close()
