-- Schedules: unattended scans, backups and verifies of an identity (core::schedule).
-- `cron` is a standard 5-field expression read on the local wall clock. `selection` is the JSON
-- of core's Selection (`{"kind":"everything"}` includes items created after the schedule was
-- made); `selection_label` names a saved quick filter it came from. `retention` is the JSON of
-- the policy applied after a successful backup (keep last/daily/weekly/monthly, prune), NULL
-- for none. `email_to` (a JSON list) and `email_when` are read by the mail module, never here.
-- `since_ms` is when the current recurrence began to count: slots at or before it are not owed
-- (set on creation, and again when the recurrence changes or the schedule is enabled).
CREATE TABLE schedules (
    id              INTEGER PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE COLLATE NOCASE,
    identity_id     TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    kind            TEXT NOT NULL CHECK (kind IN ('scan', 'backup', 'verify')),
    selection       TEXT NOT NULL DEFAULT '{"kind":"everything"}',
    selection_label TEXT,
    name_pattern    TEXT,
    cron            TEXT NOT NULL,
    retention       TEXT,
    email_to        TEXT NOT NULL DEFAULT '[]',
    email_when      TEXT NOT NULL DEFAULT 'problems' CHECK (email_when IN ('always', 'problems', 'never')),
    catch_up_ms     INTEGER NOT NULL DEFAULT 86400000,
    enabled         INTEGER NOT NULL DEFAULT 1,
    since_ms        INTEGER NOT NULL,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);

-- One row per slot (a run time of a schedule) that some process dealt with. Inserting the row
-- is the claim: `INSERT OR IGNORE` succeeds in exactly one process, which then runs the job
-- (state 'ran' on time, 'late' within the catch-up window) or records it 'missed'. `error`
-- says why a claimed slot has no job (its identity was busy, its sign-in failed).
CREATE TABLE schedule_runs (
    schedule_id INTEGER NOT NULL REFERENCES schedules(id) ON DELETE CASCADE,
    slot_ms     INTEGER NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('ran', 'late', 'missed')),
    job_id      INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    claimed_ms  INTEGER NOT NULL,
    error       TEXT,
    UNIQUE (schedule_id, slot_ms)
);
