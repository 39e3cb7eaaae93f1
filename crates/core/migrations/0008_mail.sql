-- E-mail (core::mail). One row of SMTP settings for the data folder; its password, when there is
-- one, is in the vault (`settings/smtp_password`), never here.
CREATE TABLE smtp_settings (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    host         TEXT NOT NULL,
    port         INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
    security     TEXT NOT NULL CHECK (security IN ('none', 'starttls', 'tls')),
    -- NULL: the server takes mail without signing in.
    username     TEXT,
    from_address TEXT NOT NULL,
    updated_ms   INTEGER NOT NULL
);

-- Each time OrgVault e-mailed (or tried to e-mail) a job's result: to whom, whether it was sent,
-- after how many attempts, and the last error (free of secrets). A failed send never changes
-- the job's own state.
CREATE TABLE job_mail (
    id          INTEGER PRIMARY KEY,
    job_id      INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    -- JSON array of addresses.
    recipients  TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('sent', 'failed')),
    attempts    INTEGER NOT NULL CHECK (attempts >= 0),
    error       TEXT,
    at_ms       INTEGER NOT NULL
);
CREATE INDEX job_mail_by_job ON job_mail(job_id, at_ms);
