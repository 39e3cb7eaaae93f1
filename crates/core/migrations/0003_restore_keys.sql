-- Restore marks: one random secret per target organization. A restored item's typeKeyword and an
-- uploaded package's are keyed by it (restore::marks), so they name no source item id and no org
-- member can forge them. Not a credential: it grants no access.
CREATE TABLE restore_keys (
    target_org TEXT PRIMARY KEY,
    secret     TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
