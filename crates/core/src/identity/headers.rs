//! Custom request headers: the catalog keeps their names, the vault their values.
//!
//! Older versions stored `[[name, value], ...]` in `identities.custom_headers`.
//! [`move_header_values_to_vault`] moves such values to the vault and leaves only the names,
//! then checkpoints the WAL so the old values are gone from the database files too (the
//! connection runs with `secure_delete`, so freed space is zeroed).

use arcgis::Secret;
use serde::Deserialize;
use sqlx::Row;
use zeroize::Zeroizing;

use super::verify::VerifyError;
use crate::db::Db;
use crate::vault::{SecretKey, SecretStore, VaultError};

/// What the column may hold: names (now), or name/value pairs (before values moved to the vault).
#[derive(Deserialize)]
#[serde(untagged)]
enum Column {
    Names(Vec<String>),
    Pairs(Vec<(String, String)>),
}

/// The header names in an `identities.custom_headers` column, in either format.
pub fn parse_header_names(column: &str) -> Result<Vec<String>, String> {
    match serde_json::from_str::<Column>(column) {
        Ok(Column::Names(names)) => Ok(names),
        Ok(Column::Pairs(pairs)) => Ok(pairs.into_iter().map(|(n, _)| n).collect()),
        Err(_) => Err("neither a list of header names nor of name/value pairs".into()),
    }
}

/// The header values kept in the vault under `key` ([`SecretKey::custom_headers`] or
/// [`SecretKey::settings_headers`]); empty when none.
pub fn load_header_values(store: &dyn SecretStore, key: &SecretKey) -> Result<Vec<(String, Secret)>, VaultError> {
    let Some(bytes) = store.get(key)? else { return Ok(Vec::new()) };
    let pairs: Vec<(String, String)> = serde_json::from_slice(&bytes)
        .map_err(|_| VaultError::Engine(format!("the saved request headers under {key} are unreadable")))?;
    Ok(pairs.into_iter().map(|(n, v)| (n, Secret::new(v))).collect())
}

/// Stores header values under `key`, or removes them when there are none.
pub fn save_header_values(
    store: &dyn SecretStore,
    key: &SecretKey,
    headers: &[(String, Secret)],
) -> Result<(), VaultError> {
    if headers.is_empty() {
        return store.remove(key);
    }
    let pairs: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (n.as_str(), v.expose())).collect();
    let json = Zeroizing::new(
        serde_json::to_vec(&pairs).map_err(|e| VaultError::Engine(format!("cannot encode the headers: {e}")))?,
    );
    store.put(key, &json)
}

/// Moves header values an older version stored in SQLite to the vault, leaving only the names
/// in the table. Values already in the vault win over the old column. Answers how many
/// identities had values moved; a no-op (0) once done.
pub async fn move_header_values_to_vault(db: &Db, store: &dyn SecretStore) -> Result<usize, VerifyError> {
    let rows = sqlx::query("SELECT id, custom_headers FROM identities")
        .fetch_all(db.pool())
        .await
        .map_err(crate::Error::from)?;
    let mut moved = 0;
    for row in rows {
        let id: String = row.get("id");
        let column: Zeroizing<String> = Zeroizing::new(row.get("custom_headers"));
        let Ok(Column::Pairs(pairs)) = serde_json::from_str::<Column>(&column) else { continue };
        let pairs = Zeroizing::new(pairs);
        if pairs.is_empty() {
            continue;
        }
        let key = SecretKey::custom_headers(&id);
        let mut values = load_header_values(store, &key)?;
        for (name, value) in pairs.iter() {
            if !values.iter().any(|(n, _)| n.eq_ignore_ascii_case(name)) {
                values.push((name.clone(), Secret::new(value.clone())));
            }
        }
        save_header_values(store, &key, &values)?;
        let names: Vec<&str> = pairs.iter().map(|(n, _)| n.as_str()).collect();
        let names = serde_json::to_string(&names).map_err(|e| crate::Error::Corrupt(e.to_string()))?;
        sqlx::query("UPDATE identities SET custom_headers = ? WHERE id = ?")
            .bind(names)
            .bind(&id)
            .execute(db.pool())
            .await
            .map_err(crate::Error::from)?;
        moved += 1;
    }
    if moved > 0 {
        // The old pages still sit in the main file until the WAL is written back into it.
        sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)").execute(db.pool()).await.map_err(crate::Error::from)?;
        tracing::info!(identities = moved, "custom header values moved from the database to the vault");
    }
    Ok(moved)
}
