"""One job writes to a target org at a time, across processes (the app and the ``isyncsf`` CLI).

The lock is an OS file lock (``filelock``: ``flock`` on POSIX, ``msvcrt`` on Windows) on a file per
target org in one folder for the whole machine (:func:`isyncsf_desktop.paths.lock_dir`), so two data
folders or two users of one computer never write to the same org at once. The OS drops it when the
holding process ends, however it ends, so a crash never leaves a stale lock behind. Beside the lock file,
a small JSON note says who holds it (job, kind of run, process, host, user, since when) so the refusal can
name the job. Which jobs are running now is what the held locks say (:func:`held_job_ids`): only a job whose
process is gone is interrupted. Two machines writing to one org cannot be told apart this way.
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import re
import socket
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

import filelock

from ..paths import atomic_write_text
from .journal import Journal, current_user, utc_now

logger = logging.getLogger(__name__)


class TargetBusy(Exception):
    """Another job is writing to the target org now."""

    def __init__(self, message: str, holder: dict[str, Any] | None):
        super().__init__(message)
        self.holder = holder


ACQUIRE_WAIT_S = 1.0
"""How long a run waits for a target's lock before it is refused: long enough to ride over another process
looking at the lock (:func:`held_job_ids`), far too short to wait for a real run."""
LOCK_FILE_MODE = 0o666    # the lock folder is shared by the machine's users; the note says who, not secrets
# POSIX: another user's lock file cannot be deleted in the sticky folder, so lock files stay (0666, reused by
# everyone). Windows: a file another user made is not writable to us, so it must go when its holder is done.
_KEEP_FILE: dict[str, Any] = {"preserve_lock_file": True} if os.name == "posix" and \
    "preserve_lock_file" in inspect.signature(filelock.FileLock).parameters else {}


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "org"


def _file_lock(path: Path, timeout: float) -> filelock.BaseFileLock:
    return filelock.FileLock(str(path), timeout=timeout, mode=LOCK_FILE_MODE, thread_local=False, **_KEEP_FILE)


def held_job_ids(folder: Path) -> set[int]:
    """The jobs whose process holds a target's lock now (a lock held without a readable note counts no job).

    Each lock is tried for an instant: a run starting meanwhile waits :data:`ACQUIRE_WAIT_S` for it."""
    held: set[int] = set()
    folder = Path(folder)
    if not folder.is_dir():
        return held
    for lock_path in sorted(folder.glob("*.lock")):
        probe = _file_lock(lock_path, 0)
        try:
            probe.acquire()
        except filelock.Timeout:
            note = _read_note(lock_path.with_suffix(".json"))
            if note and isinstance(note.get("job_id"), int):
                held.add(note["job_id"])
            continue
        except OSError as exc:        # another user's lock file we may not open: not ours to judge
            logger.debug("cannot look at the lock %s: %s", lock_path, exc)
            continue
        probe.release()
    return held


def recover_interrupted(journal: Journal, folder: Path) -> list[int]:
    """Flag as interrupted the jobs left in an active state whose process is gone (no held lock names
    them); a job another process is running now is left alone. Returns the ids flagged."""
    return journal.recover_interrupted(running=held_job_ids(folder))


def _read_note(path: Path) -> dict[str, Any] | None:
    try:
        note = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


@dataclass
class TargetLock:
    """``with TargetLock(folder, org_id, alias, job_id, kind):`` or :class:`TargetBusy`."""

    folder: Path
    org_id: str
    alias: str
    job_id: int
    kind: str

    def __post_init__(self) -> None:
        self.folder = Path(self.folder)
        base = self.folder / _safe(self.org_id)
        self.lock_path = base.with_suffix(".lock")
        self.note_path = base.with_suffix(".json")
        self._lock = _file_lock(self.lock_path, ACQUIRE_WAIT_S)

    def holder(self) -> dict[str, Any] | None:
        """What the note says about the current holder (None when unknown)."""
        return _read_note(self.note_path)

    def __enter__(self) -> TargetLock:
        self.folder.mkdir(parents=True, exist_ok=True)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            holder = self.holder()
            raise TargetBusy(self._busy_message(holder), holder) from None
        except OSError as exc:
            raise TargetBusy(f"the target org {self.alias} cannot be locked for this run ({exc.strerror or exc}: "
                             f"{self.lock_path}); only one job may write to an org at a time", None) from None
        try:
            atomic_write_text(self.note_path, json.dumps({
                "job_id": self.job_id, "kind": self.kind, "pid": os.getpid(), "host": socket.gethostname(),
                "user": current_user(), "since": utc_now(), "target": self.alias}))
            if os.name == "posix":
                os.chmod(self.note_path, 0o644)     # other users see who holds the org
        except OSError as exc:     # e.g. another user's stale note in the shared folder: the lock is what counts
            logger.info("could not write the lock note %s: %s", self.note_path, exc)
        logger.debug("target %s locked by job %s (%s)", self.alias, self.job_id, self.kind)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            note = self.holder()
            if note and note.get("pid") == os.getpid() and note.get("job_id") == self.job_id:
                self.note_path.unlink(missing_ok=True)
        except OSError:
            pass
        finally:
            self._lock.release()

    def _busy_message(self, holder: dict[str, Any] | None) -> str:
        if not holder:
            return (f"the target org {self.alias} is busy: another iSyncSF job is writing to it. "
                    "Only one job writes to an org at a time; wait for it to finish or abort it, then try again.")
        who = f" by {holder['user']}" if holder.get("user") else ""
        return (f"the target org {self.alias} is busy: job {holder.get('job_id')} ({holder.get('kind')}, started "
                f"{holder.get('since')}{who}, process {holder.get('pid')} on {holder.get('host')}) is writing to it. "
                "Only one job writes to an org at a time; wait for that job to finish or abort it, then try again.")
