//! Marks that only this OrgVault database can make: the typeKeyword a restored item carries
//! and the one an uploaded package carries.
//!
//! A mark is `prefix` + the first 32 hex digits of SHA-256(secret, purpose, names), where the
//! secret is 32 random bytes kept per target organization in the local database
//! (`restore_keys`). So a mark is opaque (it names no item id of the source org: a migrated org
//! holds no id of the org it came from) and unforgeable (an org member who plants
//! `orgvault-restored-…` on an item cannot hit the mark of a source id without the secret).
//! The mark is a hint, never the only proof: an item is adopted by its mark only when it is
//! owned by the restore's owner or the signed-in administrator (see `prepare`).
//!
//! The secret is not a credential: it grants no access, it only tells this database's marks
//! from others. Losing it (another machine, a new database) makes earlier marks unknown: those
//! items are then neither adopted nor deleted, and the plan shows nothing of theirs as ours.

use sha2::{Digest, Sha256};

use super::error::RestoreError;
use crate::clock::Clock;
use crate::db::Db;

/// Prefix of the mark of a restored item.
pub(crate) const MARKER_PREFIX: &str = "orgvault-restored-";
/// Prefix of the plain marker older versions wrote (`orgvault-source-<source item id>`): any
/// member can plant it, so it proves nothing and is never adopted; an item carrying it is a
/// conflict the plan shows.
pub(crate) const LEGACY_MARKER_PREFIX: &str = "orgvault-source-";
/// Prefix of the mark of a package uploaded for publishing.
pub(crate) const UPLOAD_PREFIX: &str = "orgvault-upload-";

/// The secret of one target organization.
#[derive(Clone)]
pub(crate) struct MarkKey {
    secret: [u8; 32],
}

impl std::fmt::Debug for MarkKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MarkKey(***)")
    }
}

impl MarkKey {
    /// The secret of `target_org`, made (and kept) on first use.
    pub async fn for_target(db: &Db, clock: &dyn Clock, target_org: &str) -> Result<MarkKey, RestoreError> {
        let fresh: [u8; 32] = rand::random();
        sqlx::query("INSERT INTO restore_keys (target_org, secret, created_ms) VALUES (?, ?, ?) ON CONFLICT (target_org) DO NOTHING")
            .bind(target_org)
            .bind(hex::encode(fresh))
            .bind(clock.now_ms())
            .execute(db.pool())
            .await?;
        let (text,): (String,) = sqlx::query_as("SELECT secret FROM restore_keys WHERE target_org = ?")
            .bind(target_org)
            .fetch_one(db.pool())
            .await?;
        let mut secret = [0u8; 32];
        hex::decode_to_slice(text.trim(), &mut secret)
            .map_err(|e| RestoreError::Core(crate::Error::Corrupt(format!("restore key of {target_org}: {e}"))))?;
        Ok(MarkKey { secret })
    }

    #[cfg(test)]
    pub fn from_secret(secret: [u8; 32]) -> MarkKey {
        MarkKey { secret }
    }

    fn digest(&self, parts: &[&str]) -> String {
        let mut h = Sha256::new();
        h.update(self.secret);
        for p in parts {
            // Length-prefixed, so no two lists of names hash alike.
            h.update((p.len() as u64).to_le_bytes());
            h.update(p.as_bytes());
        }
        hex::encode(&h.finalize()[..16])
    }

    /// The mark of the item restored from `source_id` into this target.
    pub fn item_marker(&self, source_id: &str) -> String {
        format!("{MARKER_PREFIX}{}", self.digest(&["item", source_id]))
    }

    /// The mark of a package uploaded by the restore of `snapshot` for `source_id`: another
    /// restore (another snapshot, another database) marks its packages differently.
    pub fn upload_keyword(&self, snapshot: &str, source_id: &str) -> String {
        format!("{UPLOAD_PREFIX}{}", self.digest(&["upload", snapshot, source_id]))
    }
}

/// Whether a typeKeyword is a restore's mark (ours or anyone's), dropped from backed-up keywords.
pub(crate) fn is_restore_mark(keyword: &str) -> bool {
    [MARKER_PREFIX, LEGACY_MARKER_PREFIX, UPLOAD_PREFIX].iter().any(|p| keyword.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_are_opaque_keyed_and_distinct() {
        let id = "0123456789abcdef0123456789abcdef";
        let k = MarkKey::from_secret([7; 32]);
        let other = MarkKey::from_secret([8; 32]);
        let m = k.item_marker(id);
        assert!(m.starts_with(MARKER_PREFIX) && !m.contains(id), "the mark names no source id: {m}");
        assert_eq!(m, k.item_marker(id), "the same key marks an item the same way every time");
        assert_ne!(m, other.item_marker(id), "another secret makes another mark");
        assert_ne!(
            k.upload_keyword("s1", id),
            k.upload_keyword("s2", id),
            "each snapshot's restore marks its own packages"
        );
        assert!(!k.upload_keyword("s1", id).contains(id), "a package mark names no source id either");
    }

    #[tokio::test]
    async fn the_key_of_a_target_is_made_once_and_kept() {
        let db = Db::open_in_memory().await.expect("db");
        let clock = crate::clock::SystemClock;
        let a = MarkKey::for_target(&db, &clock, "orgB").await.expect("key");
        let again = MarkKey::for_target(&db, &clock, "orgB").await.expect("key");
        let c = MarkKey::for_target(&db, &clock, "orgC").await.expect("key");
        assert_eq!(a.item_marker("x"), again.item_marker("x"), "the key is kept between runs");
        assert_ne!(a.item_marker("x"), c.item_marker("x"), "each target org has its own key");
    }
}
