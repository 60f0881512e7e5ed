"""A damaged journal is named and kept, never opened as a new one or started over in silence."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from isyncsf_desktop.engine.journal import Journal, JournalDamaged, OrgRef, move_aside

REF = OrgRef("a", "00D000000000001AAA", "https://a")
TEMPLATE = {"name": "t", "objects": [{"object": "Account"}]}


def healthy(path: Path, jobs: int = 3) -> bytes:
    with Journal(path) as journal:
        for _ in range(jobs):
            journal.create_job(TEMPLATE, REF, REF)
    # fold the WAL into the file, as a closed journal is
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return path.read_bytes()


def damage(kind: str, path: Path) -> None:
    if kind == "garbage":
        path.write_bytes(bytes(range(256)) * 64)
    elif kind == "text file":
        path.write_text("jobs:\n  - id: 1\n")
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "truncated":
        whole = healthy(path, jobs=400)
        path.write_bytes(whole[: len(whole) // 3])
    elif kind == "unreadable pages":
        whole = bytearray(healthy(path, jobs=400))
        page = int.from_bytes(whole[16:18], "big")
        for start in range(page, len(whole), page):     # every page but the first: the schema stays readable
            whole[start:start + page] = b"\xde\xad\xbe\xef" * (page // 4)
        path.write_bytes(bytes(whole))


@pytest.mark.parametrize("kind", ["garbage", "text file", "empty", "truncated", "unreadable pages"])
def test_a_damaged_journal_is_refused_with_a_sentence_and_left_untouched(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "journal.sqlite3"
    damage(kind, path)
    before = path.read_bytes()
    with pytest.raises(JournalDamaged) as info:
        Journal(path)
    message = str(info.value)
    assert message.startswith(f"the job journal {path} cannot be read: ")
    assert "left untouched" in message and "isyncsf journal move-aside" in message
    assert "Traceback" not in message
    assert path.read_bytes() == before                     # not opened as a new journal, not repaired, not emptied


@pytest.mark.expect_log
def test_move_aside_keeps_the_file_and_a_new_journal_starts(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    damage("garbage", path)
    before = path.read_bytes()
    moved = move_aside(path)
    assert moved.name.startswith("journal.sqlite3.damaged-") and moved.read_bytes() == before
    assert not path.exists()
    with Journal(path) as journal:
        assert journal.jobs() == []
    assert move_aside(path) != moved                        # a second move never overwrites the first


def test_a_new_journal_is_made_whole_before_it_takes_the_name(tmp_path: Path) -> None:
    path = tmp_path / "journal.sqlite3"
    with Journal(path) as journal:
        job_id = journal.create_job(TEMPLATE, REF, REF)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []   # no temporary file left
    with Journal(path) as journal:
        assert journal.job(job_id).template_name == "t"


@pytest.mark.expect_log
def test_a_full_disk_mid_run_is_one_sentence_and_the_job_resumes_exactly(pair) -> None:
    """The journal cannot grow past the first batch (SQLite's own 'database or disk is full', as a full disk
    gives it): the run stops with a sentence before a batch goes out unrecorded; with space again, the job is
    found interrupted and a resync ends exact."""
    import related_data as data

    from isyncsf_desktop.engine.journal import JournalUnwritable

    data.seed(pair.source, pair.target, 30)
    engine = pair.engine()
    real_create = engine.target.create
    calls = []

    def create_then_fill_the_disk(records):
        result = real_create(records)
        calls.append(len(records))
        if len(calls) == 1:
            pages = pair.journal._db.execute("PRAGMA page_count").fetchone()[0]
            pair.journal._db.execute(f"PRAGMA max_page_count = {pages}")
        return result

    engine.target.create = create_then_fill_the_disk
    job_id = engine.create_job(data.template(batch_size=10))
    try:
        result = engine.sync(job_id)          # the run could still record its end: it says why it stopped
        message = result.message
        assert result.status == "Failed" and result.state == "Aborted"
    except JournalUnwritable as exc:          # it could not: the job is found interrupted at the next start
        message = str(exc)
    assert message.startswith(f"the job journal {pair.journal.path} cannot be written: the disk is full.")
    assert "resume the job" in message and "the sync failed" not in message
    pair.journal._db.execute("PRAGMA max_page_count = 1073741823")      # space again
    pair.journal.recover_interrupted()
    assert pair.journal.job_facts(job_id).failed == 0
    assert pair.engine().resync(job_id).state == "Synced"
    assert data.synced_problems(pair.source, pair.target) == {k: 0 for k in data.synced_problems(pair.source,
                                                                                                  pair.target)}


def test_a_read_only_journal_is_one_sentence(tmp_path: Path) -> None:
    from isyncsf_desktop.engine.journal import JournalUnwritable

    with Journal(tmp_path / "journal.sqlite3") as journal:
        journal._db.execute("PRAGMA query_only = 1")          # what SQLite says of a read-only file or folder
        with pytest.raises(JournalUnwritable, match="cannot be written: the data folder or the file is read-only"):
            journal.create_job(TEMPLATE, REF, REF)
