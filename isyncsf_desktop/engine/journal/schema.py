"""The journal's tables: the initial schema and the migrations that bring an older journal up to
:data:`SCHEMA_VERSION` (``PRAGMA user_version``)."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

SCHEMA_VERSION = 9

_SCHEMA_V1 = """
CREATE TABLE jobs (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    template_name   TEXT NOT NULL,
    template        TEXT NOT NULL,
    source_alias    TEXT NOT NULL,
    source_org_id   TEXT NOT NULL,
    source_url      TEXT NOT NULL,
    target_alias    TEXT NOT NULL,
    target_org_id   TEXT NOT NULL,
    target_url      TEXT NOT NULL,
    state           TEXT NOT NULL,
    created         TEXT NOT NULL,
    updated         TEXT NOT NULL,
    plan            TEXT,
    message         TEXT,
    interrupted     INTEGER NOT NULL DEFAULT 0,
    last_run_id     INTEGER
);
CREATE INDEX jobs_template ON jobs(template_name);
CREATE INDEX jobs_state ON jobs(state);

CREATE TABLE runs (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    kind        TEXT NOT NULL,
    status      TEXT NOT NULL,
    started     TEXT NOT NULL,
    finished    TEXT
);
CREATE INDEX runs_job ON runs(job_id, id);
CREATE INDEX runs_status ON runs(status);

CREATE TABLE run_counts (
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    object      TEXT NOT NULL,
    total       INTEGER NOT NULL DEFAULT 0,
    processed   INTEGER NOT NULL DEFAULT 0,
    inserted    INTEGER NOT NULL DEFAULT 0,
    updated     INTEGER NOT NULL DEFAULT 0,
    existing    INTEGER NOT NULL DEFAULT 0,
    errors      INTEGER NOT NULL DEFAULT 0,
    deleted     INTEGER NOT NULL DEFAULT 0,
    restored    INTEGER NOT NULL DEFAULT 0,
    status      TEXT NOT NULL DEFAULT 'Pending',
    seq         INTEGER NOT NULL,
    PRIMARY KEY (run_id, object)
);

CREATE TABLE records (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    object      TEXT NOT NULL,
    source_id   TEXT,
    target_id   TEXT,
    status      TEXT NOT NULL,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    updated     TEXT NOT NULL,
    created     INTEGER NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX records_by_source ON records(job_id, object, source_id)
    WHERE source_id IS NOT NULL;
CREATE UNIQUE INDEX records_by_target_only ON records(job_id, object, target_id)
    WHERE source_id IS NULL;
CREATE INDEX records_target ON records(job_id, object, target_id);
CREATE INDEX records_status ON records(job_id, status);

CREATE TABLE errors (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    object      TEXT NOT NULL,
    source_id   TEXT,
    target_id   TEXT,
    status_code TEXT NOT NULL,
    message     TEXT NOT NULL,
    fields      TEXT NOT NULL,
    phase       TEXT NOT NULL,
    created     TEXT NOT NULL,
    resolved    INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX errors_open ON errors(job_id, resolved, object);
CREATE INDEX errors_by_source ON errors(job_id, object, source_id) WHERE resolved = 0;
CREATE INDEX errors_by_target ON errors(job_id, object, target_id) WHERE resolved = 0;
CREATE INDEX errors_run ON errors(run_id);

CREATE TABLE versions (
    job_id      INTEGER NOT NULL REFERENCES jobs(id),
    target_id   TEXT NOT NULL,
    object      TEXT NOT NULL,
    run_id      INTEGER NOT NULL REFERENCES runs(id),
    "values"    TEXT NOT NULL,
    created     TEXT NOT NULL,
    PRIMARY KEY (job_id, target_id)
);

CREATE TABLE id_map (
    source_org_id   TEXT NOT NULL,
    target_org_id   TEXT NOT NULL,
    object          TEXT NOT NULL,
    source_id       TEXT NOT NULL,
    target_id       TEXT NOT NULL,
    job_id          INTEGER NOT NULL REFERENCES jobs(id),
    updated         TEXT NOT NULL,
    PRIMARY KEY (source_org_id, target_org_id, object, source_id)
);
CREATE INDEX id_map_target ON id_map(source_org_id, target_org_id, target_id);

CREATE TABLE settings (
    key     TEXT PRIMARY KEY,
    value   TEXT NOT NULL
);
"""


_PREVIEWS_V8 = """
CREATE TABLE previews (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    template_name   TEXT NOT NULL,
    template        TEXT NOT NULL,
    source_alias    TEXT NOT NULL,
    source_org_id   TEXT NOT NULL,
    source_url      TEXT NOT NULL,
    target_alias    TEXT NOT NULL,
    target_org_id   TEXT NOT NULL,
    target_url      TEXT NOT NULL,
    status          TEXT NOT NULL,
    created         TEXT NOT NULL,
    finished        TEXT,
    plan            TEXT,
    header          TEXT,
    message         TEXT,
    run_by          TEXT,
    job_id          INTEGER REFERENCES jobs(id)
);
CREATE INDEX previews_orgs ON previews(source_org_id, target_org_id);

CREATE TABLE preview_rows (
    id          INTEGER PRIMARY KEY,
    preview_id  INTEGER NOT NULL REFERENCES previews(id),
    object      TEXT NOT NULL,
    source_id   TEXT NOT NULL,
    target_id   TEXT,
    label       TEXT,
    action      TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason_code TEXT,
    reason      TEXT,
    changes     TEXT NOT NULL
);
CREATE UNIQUE INDEX preview_rows_by_source ON preview_rows(preview_id, object, source_id);
CREATE INDEX preview_rows_action ON preview_rows(preview_id, object, action)
"""


_APPLY_V9 = """
ALTER TABLE preview_rows ADD COLUMN source_stamp TEXT;
ALTER TABLE preview_rows ADD COLUMN target_stamp TEXT;
ALTER TABLE preview_rows ADD COLUMN new_id TEXT;
ALTER TABLE previews ADD COLUMN fingerprint TEXT;
ALTER TABLE jobs ADD COLUMN preview_id INTEGER REFERENCES previews(id)
"""


def _run_script(conn: sqlite3.Connection, script: str) -> None:
    """Run ``;``-separated DDL inside the caller's transaction (``executescript`` would commit)."""
    for statement in script.split(";"):
        if statement.strip():
            conn.execute(statement)


def _execute(statement: str) -> Callable[[sqlite3.Connection], None]:
    """A migration that runs one DDL statement."""
    def migrate(conn: sqlite3.Connection) -> None:
        conn.execute(statement)
    return migrate


# Each entry upgrades a journal from version N-1 to N (key N). Version 1 is the initial schema.
MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {
    1: lambda conn: _run_script(conn, _SCHEMA_V1),
    2: _execute("ALTER TABLE jobs ADD COLUMN run_by TEXT"),   # who ran it (History)
    # the match key of a record written ahead of its create batch: how a lost answer is found again
    3: _execute("ALTER TABLE records ADD COLUMN match_key TEXT"),
    # Bulk API 2.0 jobs opened and not yet answered: the org goes on with them after a crash
    4: _execute("CREATE TABLE bulk_jobs (bulk_id TEXT PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES jobs(id), "
                "object TEXT NOT NULL, operation TEXT NOT NULL, created TEXT NOT NULL)"),
    # a record written ahead of a Bulk API ingest job rather than a Collections request: once the job
    # has ended (or never opened) the org commits nothing more of it, so no late commit is waited for
    5: _execute("ALTER TABLE records ADD COLUMN via_bulk INTEGER NOT NULL DEFAULT 0"),
    # a Bulk API 2.0 job about to be opened, written ahead of the request that opens it (who asks, when);
    # its id is written against it once the org answers: an opening with no id after a crash is a job
    # the org may have opened that the journal never learned of, looked for in the org's job list (found 1)
    6: _execute("CREATE TABLE bulk_openings (id INTEGER PRIMARY KEY, job_id INTEGER NOT NULL REFERENCES jobs(id), "
                "run_id INTEGER, object TEXT NOT NULL, operation TEXT NOT NULL, user_id TEXT, opening TEXT NOT NULL, "
                "bulk_id TEXT, found INTEGER NOT NULL DEFAULT 0)"),
    # how many values each run masked per field (engine/masking.py): the job's summary, History, the CLI
    7: _execute("CREATE TABLE masked_counts (run_id INTEGER NOT NULL REFERENCES runs(id), object TEXT NOT NULL, "
                "field TEXT NOT NULL, count INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (run_id, object, field))"),
    # previews (engine/run/preview.py): what a sync of a template would do, record by record, written nowhere
    # else; job_id is the job that applies one (none yet)
    8: lambda conn: _run_script(conn, _PREVIEWS_V8),
    # applying a preview (engine/run/apply.py): each row keeps the SystemModstamp of its source and target record
    # as the preview read them and the placeholder id of a record to insert; a preview keeps the metadata
    # fingerprint of both orgs; a job keeps the preview it applied
    9: lambda conn: _run_script(conn, _APPLY_V9),
}
