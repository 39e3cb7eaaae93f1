-- The token watch (core::token_watch): the last check of each identity's credentials, and whom
-- to e-mail about an identity (token warnings, and the results of its on-demand jobs).
-- Nothing here is a secret: a finding, words about it (already free of secrets), times.

CREATE TABLE identity_checks (
    identity_id     TEXT PRIMARY KEY REFERENCES identities(id) ON DELETE CASCADE,
    finding         TEXT NOT NULL CHECK (finding IN ('ok', 'password_rejected', 'token_revoked',
                        'token_expiring', 'not_admin', 'unreachable', 'needs_browser_sign_in')),
    -- What the portal said, in words for the administrator.
    detail          TEXT,
    -- When the credentials stop working, when known (an OAuth refresh token's expiry).
    expires_ms      INTEGER,
    checked_ms      INTEGER NOT NULL,
    -- The warning finding a system notification was last raised for, and the one last e-mailed:
    -- each warning is raised and sent once, not at every check. NULL once the identity is ok.
    notified_finding TEXT,
    mailed_finding   TEXT,
    -- Why the last warning e-mail could not be sent (free of secrets); it is tried again at the
    -- next check.
    mail_error       TEXT
);

CREATE TABLE identity_mail (
    identity_id TEXT PRIMARY KEY REFERENCES identities(id) ON DELETE CASCADE,
    -- JSON array of addresses.
    recipients  TEXT NOT NULL,
    -- When an on-demand job of this identity e-mails its result by default.
    email_when  TEXT NOT NULL CHECK (email_when IN ('always', 'problems', 'never')),
    updated_ms  INTEGER NOT NULL
);
