-- Credentials go nowhere else (issue 10).
--
-- A plain http:// portal that is not on this machine needs the user's explicit opt-in. Identities
-- saved before the rule existed were accepted with their http:// URL; they keep working, and the
-- opt-in they were given is recorded here (on loopback it changes nothing).
ALTER TABLE identities ADD COLUMN allow_insecure_http INTEGER NOT NULL DEFAULT 0;
UPDATE identities SET allow_insecure_http = 1 WHERE lower(trim(portal_url)) LIKE 'http://%';

-- custom_headers now holds only header names (["X-Name", ...]); the values are secrets kept in
-- the vault. Values an older version stored here ([["X-Name", "value"], ...]) are moved to the
-- vault by identity::move_header_values_to_vault at the first open with a vault, which then
-- blanks them here; SQLite cannot reach the vault, so this migration cannot.
