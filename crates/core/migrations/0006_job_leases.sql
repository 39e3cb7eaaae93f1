-- Jobs shared by several processes (the app, CLI commands, the background service) on one data
-- folder. A job row is created first (queued) by the runner, which holds a lease on it: the
-- process id and host that run it and a heartbeat it renews. Only a job whose lease expired (or
-- whose process is gone from this host) is ever marked interrupted by another process.
-- At most one job of a kind runs per identity: a partial unique index, enforced across processes.
-- A cancel request is a column the running job polls, so any process of the user can cancel it.
-- Verify and retention become jobs too (new kinds), and a job records what started it.
-- The CHECK on `kind` changes, which SQLite can only do by rebuilding the table. `Db` runs
-- migrations with foreign keys off (and checks them afterwards) so that dropping the old table
-- does not cascade into job_items; sqlx wraps this file in one transaction.
CREATE TABLE jobs_new (
    id                  INTEGER PRIMARY KEY,
    kind                TEXT NOT NULL CHECK (kind IN ('scan', 'backup', 'restore', 'verify', 'retention')),
    identity_id         TEXT REFERENCES identities(id) ON DELETE SET NULL,
    name                TEXT NOT NULL,
    created_ms          INTEGER NOT NULL,
    started_ms          INTEGER,
    finished_ms         INTEGER,
    state               TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled')),
    counts              TEXT NOT NULL DEFAULT '{}',
    error               TEXT,
    -- 'manual', or 'schedule:<schedule id>'.
    triggered_by        TEXT NOT NULL DEFAULT 'manual',
    -- The lease: a random id of the holder (never a secret), its process id and host, and its
    -- last heartbeat (epoch ms). NULL for jobs made before leases existed.
    lease_owner         TEXT,
    lease_pid           INTEGER,
    lease_host          TEXT,
    -- The holder process's start time as the OS reports it (Linux: /proc/<pid>/stat), so that a
    -- reused process id is not taken for the holder.
    lease_pid_start     TEXT,
    heartbeat_ms        INTEGER,
    cancel_requested_ms INTEGER
);
INSERT INTO jobs_new (id, kind, identity_id, name, created_ms, started_ms, finished_ms, state, counts, error)
    SELECT id, kind, identity_id, name, created_ms, started_ms, finished_ms, state, counts, error FROM jobs;
-- A row left unfinished by a version without leases cannot be proven alive.
UPDATE jobs_new SET state = 'failed', finished_ms = COALESCE(started_ms, created_ms),
    error = 'interrupted (the app stopped while it ran)'
    WHERE state IN ('queued', 'running');
DROP TABLE jobs;
ALTER TABLE jobs_new RENAME TO jobs;
CREATE INDEX jobs_by_state ON jobs(state);
CREATE INDEX jobs_by_identity ON jobs(identity_id, created_ms);
CREATE UNIQUE INDEX jobs_one_active ON jobs(identity_id, kind)
    WHERE state IN ('queued', 'running') AND identity_id IS NOT NULL;
