-- Restore: the journal that makes a restore idempotent and resumable, and saved mapping profiles.
-- No column holds a password or token (invitation passwords are never stored).

-- One row per subject a restore made or matched in a target organization, written right after
-- the create succeeded ('created') and again when every later step of it is done ('done').
CREATE TABLE restore_journal (
    target_org  TEXT NOT NULL,
    snapshot_id TEXT NOT NULL,
    kind        TEXT NOT NULL CHECK (kind IN ('item', 'user', 'group', 'folder', 'upload')),
    source_id   TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('created', 'done')),
    -- JSON: e.g. {"service_url": ...} for a hosted service
    detail      TEXT NOT NULL DEFAULT '{}',
    updated_ms  INTEGER NOT NULL,
    PRIMARY KEY (target_org, snapshot_id, kind, source_id)
);

-- Named mappings (owners, groups, folders, tags, URL replacements, conflict policy), applied again later.
CREATE TABLE restore_profiles (
    name       TEXT PRIMARY KEY,
    mapping    TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
