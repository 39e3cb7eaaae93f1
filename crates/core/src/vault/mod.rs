//! The credential vault: passwords, OAuth refresh tokens, Azure connection strings and custom
//! header values, kept out of SQLite, logs, configuration and support bundles.
//!
//! Design (see docs/security.md for the threat model):
//! - One [`SecretStore`] trait, used by the CLI and the desktop shell alike. Secrets are keyed
//!   by [`SecretKey`] (`identity/<identity id>/<kind>`), so removing an identity removes exactly
//!   its secrets ([`remove_identity_secrets`]).
//! - [`StrongholdVault`] keeps them in one encrypted Stronghold snapshot per data folder,
//!   `<data>/vault.stronghold`, rewritten atomically (temporary file, fsync, rename) under a lock
//!   file, so a crash leaves either the old or the new vault and two processes (the app and a
//!   scheduled CLI job) never lose each other's writes.
//! - The vault key is 32 random bytes ([`VaultKey`]). [`open_default`] takes it from the OS
//!   keyring when one answers, otherwise from `<data>/vault.key`, a file only its owner may read,
//!   so unattended jobs can open the vault. [`MemoryVault`] is for tests.
//!
//! Invariant: no secret value appears in an error, a log line or a `Debug` output of this module.

mod key;
mod memory;
mod stronghold;

use std::path::{Path, PathBuf};

pub use key::{open_default, VaultKey, VaultKeySource, KEY_FILE_NAME, KEY_SOURCE_ENV, VAULT_FILE_NAME};
pub use memory::MemoryVault;
pub use stronghold::StrongholdVault;
use zeroize::Zeroizing;

/// Where secrets are kept. Implementations are safe to share between threads; every call is
/// complete when it returns (a `put` is on disk for a file-backed store).
pub trait SecretStore: Send + Sync {
    /// Stores `value` under `key`, replacing any earlier value.
    fn put(&self, key: &SecretKey, value: &[u8]) -> Result<(), VaultError>;
    /// The value under `key`, or `None` when there is none.
    fn get(&self, key: &SecretKey) -> Result<Option<Zeroizing<Vec<u8>>>, VaultError>;
    /// Removes the value under `key`; removing a missing key is not an error.
    fn remove(&self, key: &SecretKey) -> Result<(), VaultError>;
}

/// The name of one secret: `identity/<identity id>/password`, `.../refresh_token`,
/// `.../azure_connection_string` or `.../custom_headers`, and `settings/custom_headers`. Names
/// are not secret; values are.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SecretKey(String);

impl SecretKey {
    /// The password of a built-in account.
    pub fn password(identity_id: &str) -> Self {
        SecretKey(format!("identity/{identity_id}/password"))
    }

    /// The OAuth refresh token (with its expiry and redirect URI, see `identity::OAuthSecret`).
    pub fn refresh_token(identity_id: &str) -> Self {
        SecretKey(format!("identity/{identity_id}/refresh_token"))
    }

    /// The connection string of the identity's Azure storage account.
    pub fn azure_connection_string(identity_id: &str) -> Self {
        SecretKey(format!("identity/{identity_id}/azure_connection_string"))
    }

    /// The secret access key of the identity's S3 storage.
    pub fn s3_secret_access_key(identity_id: &str) -> Self {
        SecretKey(format!("identity/{identity_id}/s3_secret_access_key"))
    }

    /// The values of the identity's custom request headers (JSON `[[name, value], ...]`).
    pub fn custom_headers(identity_id: &str) -> Self {
        SecretKey(format!("identity/{identity_id}/custom_headers"))
    }

    /// The values of the custom request headers the desktop app adds to every organization
    /// (Settings), as JSON `[[name, value], ...]`.
    pub fn settings_headers() -> Self {
        SecretKey("settings/custom_headers".into())
    }

    /// The password OrgVault signs in to the SMTP server with (core::mail).
    pub fn smtp_password() -> Self {
        SecretKey("settings/smtp_password".into())
    }

    /// The password of the identity's encrypted backup repository, for unattended runs.
    pub fn repository_password(identity_id: &str) -> Self {
        SecretKey(format!("identity/{identity_id}/repository_password"))
    }

    /// Every secret an identity may have.
    pub fn all_for_identity(identity_id: &str) -> [SecretKey; 6] {
        [
            Self::password(identity_id),
            Self::refresh_token(identity_id),
            Self::azure_connection_string(identity_id),
            Self::s3_secret_access_key(identity_id),
            Self::custom_headers(identity_id),
            Self::repository_password(identity_id),
        ]
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Removes every secret of an identity (called when the identity is deleted).
pub fn remove_identity_secrets(store: &dyn SecretStore, identity_id: &str) -> Result<(), VaultError> {
    for key in SecretKey::all_for_identity(identity_id) {
        store.remove(&key)?;
    }
    Ok(())
}

/// What can go wrong with the vault. Messages name the file and what to do; never a secret.
#[derive(Debug, thiserror::Error)]
pub enum VaultError {
    /// The key decrypts nothing: another key, or a damaged file.
    #[error("the vault key does not open {} (it was written with another key, or the file is damaged)", .path.display())]
    WrongKey { path: PathBuf },

    /// The file is not a Stronghold snapshot at all.
    #[error("{} is not an OrgVault vault file ({detail})", .path.display())]
    NotAVault { path: PathBuf, detail: String },

    /// A key file others can read protects nothing, so it is refused rather than used.
    #[error("the vault key file {} can be read by other users (permissions {mode:03o}); make it private with `chmod 600 {}` and try again", .path.display(), .path.display())]
    KeyFilePermissions { path: PathBuf, mode: u32 },

    /// The key file does not hold a key.
    #[error("the vault key file {} does not hold a vault key ({detail}); restore it from your backup of the data folder", .path.display())]
    BadKeyFile { path: PathBuf, detail: String },

    /// The vault exists but its key is nowhere to be found.
    #[error("the vault {} exists but its key cannot be found: {detail}", .vault.display())]
    KeyMissing { vault: PathBuf, detail: String },

    /// The OS keyring answered with an error other than "no such entry".
    #[error("the OS keyring failed: {0}")]
    Keyring(String),

    #[error("cannot {what} {}: {source}", .path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// The Stronghold engine failed in a way none of the above describes.
    #[error("the vault engine failed: {0}")]
    Engine(String),
}

impl VaultError {
    /// A stable, machine-readable code for the UI (`{code, message}`).
    pub fn code(&self) -> crate::ErrorCode {
        use crate::ErrorCode;
        match self {
            VaultError::WrongKey { .. } => ErrorCode::VaultWrongKey,
            VaultError::NotAVault { .. } => ErrorCode::VaultCorrupt,
            VaultError::KeyFilePermissions { .. } => ErrorCode::VaultKeyPermissions,
            VaultError::BadKeyFile { .. } => ErrorCode::VaultKeyInvalid,
            VaultError::KeyMissing { .. } => ErrorCode::VaultKeyMissing,
            VaultError::Keyring(_) => ErrorCode::VaultKeyring,
            VaultError::Io { source, .. } => ErrorCode::of_io(source),
            VaultError::Engine(_) => ErrorCode::Vault,
        }
    }

    pub(crate) fn io(what: &'static str, path: &Path, source: std::io::Error) -> Self {
        VaultError::Io { what, path: path.to_owned(), source }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_keys_are_scoped_by_identity() {
        assert_eq!(SecretKey::password("abc").as_str(), "identity/abc/password", "the key layout is the contract");
        let all = SecretKey::all_for_identity("abc");
        assert!(all.iter().all(|k| k.as_str().starts_with("identity/abc/")), "every secret of abc is under abc");
        assert_eq!(
            all.len(),
            6,
            "password, refresh token, Azure connection string, S3 secret key, header values and repository password"
        );
    }

    #[test]
    fn removing_an_identity_removes_only_its_secrets() {
        let vault = MemoryVault::default();
        vault.put(&SecretKey::password("a"), b"pa").expect("put");
        vault.put(&SecretKey::azure_connection_string("a"), b"ca").expect("put");
        vault.put(&SecretKey::password("b"), b"pb").expect("put");
        remove_identity_secrets(&vault, "a").expect("remove");
        assert!(vault.get(&SecretKey::password("a")).expect("get").is_none(), "a's password is gone");
        assert!(
            vault.get(&SecretKey::azure_connection_string("a")).expect("get").is_none(),
            "a's Azure string is gone"
        );
        assert_eq!(
            vault.get(&SecretKey::password("b")).expect("get").map(|v| v.to_vec()),
            Some(b"pb".to_vec()),
            "another identity's secret stays"
        );
    }
}
