"""One job writes to a target org at a time, across processes (the app and the ``isyncsf`` CLI).

The lock is an OS file lock (``filelock``: ``flock`` on POSIX, ``msvcrt`` on Windows) on a file per
target org next to the journal. The OS drops it when the holding process ends, however it ends, so
a crash never leaves a stale lock behind. Beside the lock file, a small JSON note says who holds it
(job, kind of run, process, host, user, since when) so the refusal can name the job.
"""

from __future__ import annotations

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
from .journal import current_user, utc_now

logger = logging.getLogger(__name__)


class TargetBusy(Exception):
    """Another job is writing to the target org now."""

    def __init__(self, message: str, holder: dict[str, Any] | None):
        super().__init__(message)
        self.holder = holder


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name) or "org"


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
        self._lock = filelock.FileLock(str(self.lock_path), timeout=0, thread_local=False)

    def holder(self) -> dict[str, Any] | None:
        """What the note says about the current holder (None when unknown)."""
        try:
            return json.loads(self.note_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return None

    def __enter__(self) -> TargetLock:
        self.folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            self._lock.acquire()
        except filelock.Timeout:
            holder = self.holder()
            raise TargetBusy(self._busy_message(holder), holder) from None
        atomic_write_text(self.note_path, json.dumps({
            "job_id": self.job_id, "kind": self.kind, "pid": os.getpid(), "host": socket.gethostname(),
            "user": current_user(), "since": utc_now(), "target": self.alias}))
        logger.debug("target %s locked by job %s (%s)", self.alias, self.job_id, self.kind)
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            self.note_path.unlink(missing_ok=True)
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
