-- OrgVault catalog, identities and job history.
-- Times are epoch milliseconds (INTEGER). JSON columns hold TEXT produced by serde_json.
-- No column ever holds a password, token, refresh token or connection string.

CREATE TABLE identities (
    id              TEXT PRIMARY KEY,
    name            TEXT NOT NULL,
    portal_url      TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('online', 'enterprise')),
    -- {"builtin":{"username":..}} or {"oauth":{"client_id":..,"username":..}}
    sign_in         TEXT NOT NULL,
    -- {"local":{"path":..}} or {"azure":{"container":..,"cache_dir":..}}
    storage         TEXT NOT NULL,
    -- [[name, value], ...]: configuration, not secrets
    custom_headers  TEXT NOT NULL DEFAULT '[]',
    tls_ca_pem_path TEXT,
    tls_allow_invalid_certs INTEGER NOT NULL DEFAULT 0,
    created_ms      INTEGER NOT NULL,
    updated_ms      INTEGER NOT NULL
);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL CHECK (kind IN ('scan', 'backup', 'restore')),
    -- history outlives the identity it ran for
    identity_id TEXT REFERENCES identities(id) ON DELETE SET NULL,
    name        TEXT NOT NULL,
    created_ms  INTEGER NOT NULL,
    started_ms  INTEGER,
    finished_ms INTEGER,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'succeeded', 'partial', 'failed', 'cancelled')),
    counts      TEXT NOT NULL DEFAULT '{}',
    error       TEXT
);
CREATE INDEX jobs_by_state ON jobs(state);
CREATE INDEX jobs_by_identity ON jobs(identity_id, created_ms);

CREATE TABLE job_items (
    id           INTEGER PRIMARY KEY,
    job_id       INTEGER NOT NULL REFERENCES jobs(id) ON DELETE CASCADE,
    subject_kind TEXT NOT NULL CHECK (subject_kind IN ('item', 'user', 'group')),
    subject_id   TEXT NOT NULL,
    title        TEXT NOT NULL,
    outcome      TEXT NOT NULL CHECK (outcome IN ('ok', 'skipped', 'failed', 'fallback')),
    reason       TEXT,
    at_ms        INTEGER NOT NULL
);
CREATE INDEX job_items_by_job ON job_items(job_id, id);

CREATE TABLE scans (
    id          INTEGER PRIMARY KEY,
    identity_id TEXT NOT NULL REFERENCES identities(id) ON DELETE CASCADE,
    job_id      INTEGER REFERENCES jobs(id) ON DELETE SET NULL,
    org_id      TEXT NOT NULL,
    started_ms  INTEGER NOT NULL,
    finished_ms INTEGER,
    state       TEXT NOT NULL CHECK (state IN ('running', 'complete', 'cancelled', 'failed')),
    counts      TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX scans_by_identity ON scans(identity_id, started_ms);

CREATE TABLE items (
    scan_id       INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    id            TEXT NOT NULL,
    owner         TEXT NOT NULL,
    folder_id     TEXT,
    title         TEXT NOT NULL,
    type          TEXT NOT NULL,
    type_keywords TEXT NOT NULL DEFAULT '[]',
    tags          TEXT NOT NULL DEFAULT '[]',
    size          INTEGER NOT NULL DEFAULT 0,
    created_ms    INTEGER,
    modified_ms   INTEGER,
    access        TEXT NOT NULL,
    url           TEXT,
    -- filled for service items by the scan's service step
    layer_count   INTEGER,
    last_edit_ms  INTEGER,
    json          TEXT NOT NULL,
    PRIMARY KEY (scan_id, id)
) WITHOUT ROWID;
CREATE INDEX items_by_owner ON items(scan_id, owner);
CREATE INDEX items_by_type ON items(scan_id, type);

CREATE TABLE users (
    scan_id      INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    username     TEXT NOT NULL,
    role         TEXT,
    role_id      TEXT,
    license_type TEXT,
    json         TEXT NOT NULL,
    PRIMARY KEY (scan_id, username)
) WITHOUT ROWID;

CREATE TABLE groups (
    scan_id   INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    id        TEXT NOT NULL,
    title     TEXT NOT NULL,
    owner     TEXT NOT NULL,
    access    TEXT NOT NULL,
    settings  TEXT NOT NULL DEFAULT '{}',
    json      TEXT NOT NULL,
    PRIMARY KEY (scan_id, id)
) WITHOUT ROWID;

CREATE TABLE group_members (
    scan_id     INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    group_id    TEXT NOT NULL,
    username    TEXT NOT NULL,
    member_type TEXT NOT NULL CHECK (member_type IN ('owner', 'admin', 'member')),
    PRIMARY KEY (scan_id, group_id, username)
) WITHOUT ROWID;
CREATE INDEX group_members_by_user ON group_members(scan_id, username);

CREATE TABLE folders (
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    id      TEXT NOT NULL,
    owner   TEXT NOT NULL,
    title   TEXT NOT NULL,
    PRIMARY KEY (scan_id, id)
) WITHOUT ROWID;

CREATE TABLE item_sharing (
    scan_id  INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    item_id  TEXT NOT NULL,
    group_id TEXT NOT NULL,
    PRIMARY KEY (scan_id, item_id, group_id)
) WITHOUT ROWID;
CREATE INDEX item_sharing_by_group ON item_sharing(scan_id, group_id);

CREATE TABLE relationships (
    scan_id     INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    origin      TEXT NOT NULL,
    destination TEXT NOT NULL,
    type        TEXT NOT NULL,
    PRIMARY KEY (scan_id, origin, destination, type)
) WITHOUT ROWID;
CREATE INDEX relationships_by_destination ON relationships(scan_id, destination);

CREATE TABLE item_references (
    id             INTEGER PRIMARY KEY,
    scan_id        INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    item_id        TEXT NOT NULL,
    target_item_id TEXT,
    target_url     TEXT,
    -- RFC 6901 pointer into the item's /data JSON: where a restore rewrites the reference
    json_pointer   TEXT NOT NULL,
    CHECK ((target_item_id IS NULL) <> (target_url IS NULL))
);
CREATE INDEX item_references_by_item ON item_references(scan_id, item_id);
CREATE INDEX item_references_by_target ON item_references(scan_id, target_item_id);

CREATE TABLE scan_problems (
    id      INTEGER PRIMARY KEY,
    scan_id INTEGER NOT NULL REFERENCES scans(id) ON DELETE CASCADE,
    item_id TEXT,
    message TEXT NOT NULL
);
CREATE INDEX scan_problems_by_scan ON scan_problems(scan_id);
