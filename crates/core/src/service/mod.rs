//! The application layer: what a front end asks of OrgVault, done once for all of them.
//!
//! The desktop shell, the `orgvault` CLI and (next) the unattended scheduler each used to put
//! the engine's pieces together themselves, and each did it a little differently: only the app
//! sent the Settings headers and refused a non-administrator, only the CLI kept identity names
//! unique, only the app knew an identity's storage. Here each of those is one function over a
//! [`Service`] (the database and the vault of one data folder); a front end parses its input,
//! calls one function and shows the answer.
//!
//! Public API:
//! - [`Service::connect`]: sign in as a saved identity (vault secrets, the identity's and the
//!   Settings' headers, its TLS options), refuse a non-administrator, and keep any refresh token
//!   the portal issues in exchange.
//! - [`Service::storage_target`], [`Service::repository_for`],
//!   [`Service::backup_repository_for`]: an identity's configured storage (a folder, or an Azure
//!   container whose connection string is in the vault) as an opened repository.
//! - [`Service::save_identity`]: add or edit an identity: validate, keep names unique, verify by
//!   signing in and checking the storage, then write the row and the vault, undoing the row when
//!   the vault write fails.
//! - [`scan_and_backup`] (from [`crate::backup`]): begin the backup job, scan the organization,
//!   then back up a selection of that fresh scan in the begun job.
//! - [`Upkeep`] (from [`crate::maintenance`]): verify and retention, as jobs.
//! - [`Service::prepare_restore`] / [`PreparedRestore`]: a snapshot, its repository and a
//!   signed-in target, from which the restore is planned and applied.
//!
//! Invariants: nothing here stores or logs a secret; a failed `save_identity` leaves the
//! database and the vault as they were; `connect` never signs in without the admin check.
//! Every job is begun through the [`JobRunner`](crate::JobRunner), which holds its lease.

mod connect;
mod oauth;
mod repository;
pub use repository::RepositorySetup;
mod restore;
mod save_identity;
mod storage_check;

use std::sync::Arc;

pub use crate::backup::{scan_and_backup, scan_and_backup_job, BackupWhat, ScanThenBackup, ScannedBackup};
pub use crate::maintenance::Upkeep;
pub use oauth::{sign_in_in_browser, Browser, BrowserSignIn};
pub use restore::PreparedRestore;
pub use save_identity::{IdentityDraft, SavedIdentity};

use crate::clock::SystemClock;
use crate::db::Db;
use crate::identity::{Identities, Identity, VerifyError};
use crate::vault::{SecretKey, SecretStore, VaultError};

/// The database and the vault of one data folder: what every operation of the application
/// layer works on. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    db: Db,
    secrets: Arc<dyn SecretStore>,
}

impl Service {
    pub fn new(db: Db, secrets: Arc<dyn SecretStore>) -> Self {
        Service { db, secrets }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn secrets(&self) -> &Arc<dyn SecretStore> {
        &self.secrets
    }

    pub fn identities(&self) -> Identities<'_> {
        Identities::new(&self.db, &SystemClock)
    }

    /// The identity whose id, or else whose name (ignoring case), is `name_or_id`.
    pub async fn find_identity(&self, name_or_id: &str) -> Result<Identity, ServiceError> {
        Ok(self.identities().find(name_or_id).await?)
    }
}

/// The values of the request headers Settings adds to every organization, from the vault
/// (the app keeps their names in its `settings.json`; the values are secrets). Empty when none
/// were saved. [`Service::connect`] and [`Service::save_identity`] send them after the
/// identity's own headers.
pub fn settings_header_values(store: &dyn SecretStore) -> Result<Vec<(String, arcgis::Secret)>, VaultError> {
    crate::identity::load_header_values(store, &SecretKey::settings_headers())
}

/// Stores the values of the Settings headers in the vault (none: removes them).
pub fn save_settings_header_values(
    store: &dyn SecretStore,
    headers: &[(String, arcgis::Secret)],
) -> Result<(), VaultError> {
    crate::identity::save_header_values(store, &SecretKey::settings_headers(), headers)
}

/// Why an operation of the application layer failed. The wrapped errors keep their own codes
/// and messages (already free of secrets); [`ServiceError::code`] is what a UI branches on.
#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    #[error(transparent)]
    Core(#[from] crate::Error),

    /// Signing in, the admin check or the storage check of "Save and verify" failed.
    #[error(transparent)]
    Verify(#[from] VerifyError),

    #[error(transparent)]
    Vault(#[from] VaultError),

    #[error(transparent)]
    Storage(#[from] crate::storage::StorageError),

    #[error(transparent)]
    Repo(#[from] crate::repo::RepoError),

    #[error(transparent)]
    Backup(#[from] crate::backup::BackupError),

    /// The vault holds no secret the identity needs (never saved, or removed).
    #[error("OrgVault has no saved {what} for identity {identity:?}; {fix}")]
    NoSecret { identity: String, what: &'static str, fix: &'static str },

    /// The web browser for an OAuth sign-in could not be opened; the reason is the system's.
    #[error("OrgVault could not open your web browser for the sign-in ({0})")]
    Browser(String),
}

impl From<arcgis::Error> for ServiceError {
    fn from(e: arcgis::Error) -> Self {
        ServiceError::Core(crate::Error::from(e))
    }
}

impl ServiceError {
    /// A stable, machine-readable code for the UI: the wrapped error's own code, `no_secret`
    /// or `browser`.
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            ServiceError::Core(e) => e.code(),
            ServiceError::Verify(e) => e.code(),
            ServiceError::Vault(e) => e.code(),
            ServiceError::Storage(e) => e.code(),
            ServiceError::Repo(e) => e.code(),
            ServiceError::Backup(e) => e.code(),
            ServiceError::NoSecret { .. } => crate::ErrorCode::NoSecret,
            ServiceError::Browser(_) => crate::ErrorCode::Browser,
        }
    }

    /// Whether the same operation may succeed if run again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            ServiceError::Core(e) => e.is_retryable(),
            ServiceError::Verify(VerifyError::Core(e)) => e.is_retryable(),
            ServiceError::Storage(e) => e.is_retryable(),
            ServiceError::Repo(e) => e.is_retryable(),
            ServiceError::Backup(e) => e.is_retryable(),
            _ => false,
        }
    }
}
