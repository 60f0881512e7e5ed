"""The job journal: a SQLite file that is the source of truth for every sync job.

Everything the engine does to a target org is written here before the next batch goes out: job
state and plan, runs with per-object counts, the latest outcome of every record, errors, saved
versions of updated records (for rollback), and the source->target id map shared by all jobs
between the same two orgs. Because of that, a crash or an abort never loses what was done, and
retry or rollback work after the application restarts.

The journal never stores secrets: org references carry an alias, an org id and an instance URL.

One :class:`Journal` holds one connection guarded by a re-entrant lock, so it may be shared by the
GUI thread and a worker thread. Writes that belong together (one batch of outcomes) are one
transaction.

The package, one module per part (every name is imported from here):

* :mod:`.rows`: the rows and values the journal takes and hands back, :class:`JournalError`, ``utc_now``;
* :mod:`.schema`: the tables and their migrations (``SCHEMA_VERSION``);
* :mod:`.damage`: a file that is no journal (:class:`JournalDamaged`, ``check_journal_file``, ``move_aside``);
* :mod:`.store`: the connection, the lock and the transactions every part shares;
* :mod:`.jobs`: jobs, runs and their counts, a job's facts;
* :mod:`.records`: record outcomes and errors, saved versions, the id map;
* :mod:`.bulk`: Bulk API jobs in flight, settings;
* :mod:`.previews`: previews and their rows (what a sync would do, record by record).
"""

from __future__ import annotations

from .bulk import BulkMixin, BulkOpening
from .damage import SQLITE_HEADER, JournalDamaged, JournalUnwritable, check_journal_file, move_aside
from .jobs import JobsMixin
from .previews import PREVIEW_ACTIONS, PREVIEW_STATUSES, PreviewChange, PreviewRecord, PreviewRow, PreviewsMixin
from .records import RecordsMixin
from .rows import (ACTIVE_STATES, JOB_STATES, MAPPED_STATUSES, PHASES, RECORD_STATUSES, RUN_KINDS, RUN_STATUSES,
                   SUCCESS_STATUSES, ErrorInfo, ErrorRow, JobRow, JournalError, ObjectCounts, OrgRef, Outcome,
                   RecordRow, RunRow, current_user, utc_now)
from .schema import SCHEMA_VERSION

__all__ = ["ACTIVE_STATES", "BulkOpening", "JOB_STATES", "MAPPED_STATUSES", "PHASES", "PREVIEW_ACTIONS",
           "PREVIEW_STATUSES", "PreviewChange", "PreviewRecord", "PreviewRow", "RECORD_STATUSES", "RUN_KINDS", "RUN_STATUSES",
           "SCHEMA_VERSION", "SQLITE_HEADER", "SUCCESS_STATUSES", "ErrorInfo", "ErrorRow", "JobRow", "Journal",
           "JournalDamaged", "JournalError", "JournalUnwritable", "ObjectCounts", "OrgRef", "Outcome", "RecordRow", "RunRow",
           "check_journal_file", "current_user", "move_aside", "utc_now"]


class Journal(JobsMixin, RecordsMixin, BulkMixin, PreviewsMixin):
    """The SQLite journal of all jobs. Thread-safe; usable as a context manager.

    ``Journal(path)`` creates the file and its schema when missing and upgrades an older schema
    (``PRAGMA user_version``). A journal written by a newer version of the application is refused.
    """
