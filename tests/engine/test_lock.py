"""The target lock is the machine's: which jobs run now is what the held locks say."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from isyncsf_desktop import paths
from isyncsf_desktop.engine.journal import Journal, OrgRef
from isyncsf_desktop.engine.lock import TargetBusy, TargetLock, held_job_ids, recover_interrupted

from helpers import walk_to

ORG = "00D000000000042AAA"
REF = OrgRef("t", ORG, "https://t")


def test_the_lock_folder_is_one_for_the_machine_not_per_data_folder(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ISYNCSF_HOME", str(tmp_path / "one"))
    first = paths.lock_dir()
    monkeypatch.setenv("ISYNCSF_HOME", str(tmp_path / "two"))
    assert paths.lock_dir() == first                 # another data folder, the same locks
    monkeypatch.delenv("ISYNCSF_LOCK_DIR")
    if os.name == "posix":
        shared = paths.lock_dir()
        assert shared == Path("/tmp/isyncsf-locks") and stat.S_IMODE(shared.stat().st_mode) & 0o1777 == 0o1777


def test_a_second_holder_of_the_same_org_is_refused_naming_the_first(tmp_path) -> None:
    folder = paths.lock_dir()
    with TargetLock(folder, ORG, "t", 7, "sync"):
        with pytest.raises(TargetBusy, match=r"busy: job 7 \(sync, started .* process \d+"):
            TargetLock(folder, ORG, "t", 8, "resync").__enter__()
        assert held_job_ids(folder) == {7}
    assert held_job_ids(folder) == set()
    with TargetLock(folder, ORG, "t", 8, "resync"):  # free again, and the note is the new holder's
        assert held_job_ids(folder) == {8}


def test_only_a_job_whose_process_is_gone_is_marked_interrupted(tmp_path) -> None:
    """A job another process runs now (it holds the target's lock) is left alone; a crashed one is flagged."""
    with Journal(tmp_path / "journal.sqlite3") as journal:
        running = journal.create_job({"name": "t", "objects": [{"object": "Account"}]}, REF, REF)
        crashed = journal.create_job({"name": "t", "objects": [{"object": "Account"}]}, REF, REF)
        for job in (running, crashed):
            walk_to(journal, job, "Sync In Progress")
        folder = paths.lock_dir()
        holder = subprocess.Popen(
            [sys.executable, "-c", "import sys\nfrom isyncsf_desktop.engine.lock import TargetLock\n"
             f"with TargetLock({str(folder)!r}, {ORG!r}, 't', {running}, 'sync'):\n"
             "    print('held', flush=True)\n    sys.stdin.read()\n"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "held"
            assert recover_interrupted(journal, folder) == [crashed]
            assert not journal.job(running).interrupted and journal.job(crashed).interrupted
        finally:
            holder.stdin.close()
            holder.wait(60)
        assert recover_interrupted(journal, folder) == [running, crashed]   # now its process is gone too


def test_two_data_folders_never_write_to_one_target_at_once(pair, tmp_path) -> None:
    """The second journal (another data folder, or another user) is refused while the first one's job
    holds the target, and runs once it is free."""
    import related_data as data

    from isyncsf_desktop.engine.runner import SyncEngine, TargetBusyError
    from helpers import org_client, org_ref

    data.seed(pair.source, pair.target, 5)
    with Journal(tmp_path / "other-data-folder" / "journal.sqlite3") as other:
        second = SyncEngine(other, org_client(pair.server, "src"), org_client(pair.server, "tgt"),
                            org_ref(pair.server, "src"), org_ref(pair.server, "tgt"))
        job = second.create_job(data.template())
        with TargetLock(paths.lock_dir(), pair.server.store("tgt").org_id, "tgt", 1, "sync"):   # the first's job
            with pytest.raises(TargetBusyError, match=r"busy: job 1 \(sync"):
                second.sync(job)
        assert other.job(job).state == "Not Started"
        assert second.sync(job).state == "Synced"
