-- Post-processing of a restore's items (kind 'postprocess', core::postprocess) is a job of the history. The CHECK on `kind`
-- changes, which SQLite can only do by rebuilding the table (as 0006 did; `Db` runs migrations
-- with foreign keys off and checks them afterwards, so job_items, job_mail and schedule_runs keep
-- their rows). Every column and index of 0006 is kept as it is.
CREATE TABLE jobs_new (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT NOT NULL CHECK (kind IN ('scan', 'backup', 'restore', 'verify', 'retention', 'copy', 'postprocess')),
    identity_id         TEXT REFERENCES identities(id) ON DELETE SET NULL,
    name                TEXT NOT NULL,
    created_ms          INTEGER NOT NULL,
    started_ms          INTEGER,
    finished_ms         INTEGER,
    state               TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled')),
    counts              TEXT NOT NULL DEFAULT '{}',
    error               TEXT,
    triggered_by        TEXT NOT NULL DEFAULT 'manual',
    lease_owner         TEXT,
    lease_pid           INTEGER,
    lease_host          TEXT,
    lease_pid_start     TEXT,
    heartbeat_ms        INTEGER,
    cancel_requested_ms INTEGER
);
INSERT INTO jobs_new SELECT id, kind, identity_id, name, created_ms, started_ms, finished_ms, state, counts, error,
    triggered_by, lease_owner, lease_pid, lease_host, lease_pid_start, heartbeat_ms, cancel_requested_ms FROM jobs;
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_by_state ON jobs(state);
CREATE INDEX jobs_by_identity ON jobs(identity_id, created_ms);
CREATE UNIQUE INDEX jobs_one_active ON jobs(identity_id, kind)
    WHERE state IN ('queued', 'running') AND identity_id IS NOT NULL;
