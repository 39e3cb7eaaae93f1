-- Backup: the journal of temporary export items, so that an export whose answer was lost, or
-- whose backup was killed, is found and deleted by the next backup of the same organization.
-- A row is written BEFORE `export` is called (its title is unique: orgvault-export-<job>-<item>-<random>),
-- gets the export item's id when the answer names it, and is removed once the item is deleted.
-- No column holds a password or token.
CREATE TABLE export_journal (
    title          TEXT PRIMARY KEY,
    -- The portal URL and org id together: every ArcGIS Enterprise portal has the same org id.
    portal_url     TEXT NOT NULL,
    org_id         TEXT NOT NULL,
    -- The user in whose root folder `export` creates the item.
    owner          TEXT NOT NULL,
    source_item_id TEXT NOT NULL,
    -- The type the export item has (the export format's item type, e.g. 'File Geodatabase').
    item_type      TEXT NOT NULL,
    job_id         INTEGER NOT NULL,
    -- NULL until the answer to `export` named the item.
    export_item_id TEXT,
    created_ms     INTEGER NOT NULL
);

CREATE INDEX export_journal_org ON export_journal (portal_url, org_id);
