//! Errors of the repository.
//!
//! Policy: storage failures arrive as [`StorageError`] and are wrapped, not re-described. The
//! repository's own errors name the blob, snapshot, lock or zip entry involved, so a user can
//! act on the message alone. Missing or corrupt blobs found while verifying are not errors: they
//! are listed in the [`super::VerifyReport`], by item. No message contains a secret.

use std::path::PathBuf;

use crate::error_code::ErrorCode;
use crate::storage::StorageError;

use super::blob::BlobId;

/// A failure of a repository operation.
#[derive(Debug, thiserror::Error)]
pub enum RepoError {
    #[error(transparent)]
    Storage(#[from] StorageError),

    /// The location holds something that is not an OrgVault repository this version can read.
    #[error("not a usable OrgVault repository: {0}")]
    Format(String),

    /// A read or maintenance command was pointed at a location without a repository `config`;
    /// nothing was created or changed there.
    #[error("{location} is not an OrgVault repository (it has no config); nothing was changed there")]
    NotARepository { location: String },

    /// A backup was pointed at a location that holds something else; nothing was written.
    #[error("will not create a repository in {location}: {reason}")]
    DestinationNotEmpty { location: String, reason: String },

    /// The repository is encrypted (format 2) and no password was given.
    #[error("{location} is an encrypted repository: give its password (ORGVAULT_REPOSITORY_PASSWORD, the prompt, or the identity's saved password)")]
    PasswordRequired { location: String },

    /// No key object opened with the password given.
    #[error("wrong password for the encrypted repository {location}: none of its {keys} key(s) opens with it")]
    WrongPassword { location: String, keys: usize },

    /// A backup expected an encrypted repository (a password was given) and found a plain one;
    /// nothing was written, so no unencrypted data lands where encryption was expected.
    #[error("{location} is not an encrypted repository, but a password was given for it; nothing was written (back up with --no-encrypt to add to it unencrypted)")]
    NotEncrypted { location: String },

    /// A key management request was refused; the message says why.
    #[error("{0}")]
    KeyRefused(String),

    /// A backup with a saved repository password found no repository at its location (the
    /// storage was changed): creating one there would make a recovery key nobody sees.
    #[error("{location} holds no repository yet, and these backups are encrypted: save the identity again (in the app, or `orgvault backup --identity` at a terminal) to create it there and see its recovery key once; nothing was written")]
    EncryptedRepositoryMissing { location: String },

    /// This process's repository lock was not renewed in time, so a prune may have taken the
    /// repository meanwhile; the snapshot is not (or no longer) written.
    #[error("the repository lock was not renewed in time ({0}); the snapshot was not written, run the backup again")]
    LeaseLost(String),

    #[error("blob {id} is missing from the repository")]
    MissingBlob { id: BlobId },

    #[error("blob {id} is corrupt: {reason}")]
    CorruptBlob { id: BlobId, reason: String },

    #[error("snapshot {0} not found")]
    SnapshotNotFound(String),

    #[error("snapshot id {prefix:?} is ambiguous: it starts {count} snapshots")]
    AmbiguousSnapshot { prefix: String, count: usize },

    #[error("snapshot {id} is unreadable: {reason}")]
    CorruptSnapshot { id: String, reason: String },

    /// `write_snapshot` refused: the manifest references blobs that are not stored.
    #[error("snapshot not written: {count} referenced blob(s) are missing, first {first} ({part})")]
    IncompleteSnapshot { count: usize, first: BlobId, part: String },

    /// A delete (forget, prune) was refused before it began: the handle is set append-only, or
    /// the credentials may not delete. Nothing was removed.
    #[error("{op} refused: the repository {location} is append-only ({reason}); {op} needs credentials that may delete, and no append-only setting")]
    AppendOnly { op: &'static str, location: String, reason: String },

    /// Another process holds a conflicting lock.
    #[error("repository is locked: {0}")]
    Locked(String),

    /// A zip export or import problem; `entry` names the zip entry or manifest field at fault.
    #[error("zip {}: {entry}: {reason}", .path.display())]
    Zip { path: PathBuf, entry: String, reason: String },

    #[error("cannot use {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid input: {0}")]
    InvalidInput(String),

    /// The stream given to `put_blob_stream` failed; the caller's error is kept for downcasting.
    #[error("reading the content to store failed: {0}")]
    Source(Box<dyn std::error::Error + Send + Sync>),
}

/// The repository's result type.
pub type RepoResult<T> = std::result::Result<T, RepoError>;

impl RepoError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        RepoError::Io { path: path.into(), source }
    }

    /// A stable machine code for the UI.
    pub fn code(&self) -> ErrorCode {
        match self {
            RepoError::Storage(e) => e.code(),
            RepoError::Format(_) | RepoError::NotARepository { .. } | RepoError::EncryptedRepositoryMissing { .. } => {
                ErrorCode::NotARepository
            }
            RepoError::DestinationNotEmpty { .. } => ErrorCode::DestinationNotEmpty,
            RepoError::PasswordRequired { .. } => ErrorCode::RepositoryPasswordRequired,
            RepoError::WrongPassword { .. } => ErrorCode::WrongRepositoryPassword,
            RepoError::NotEncrypted { .. } => ErrorCode::RepositoryNotEncrypted,
            RepoError::KeyRefused(_) => ErrorCode::KeyRefused,
            RepoError::LeaseLost(_) => ErrorCode::LockLost,
            RepoError::MissingBlob { .. } | RepoError::IncompleteSnapshot { .. } => ErrorCode::MissingData,
            RepoError::CorruptBlob { .. } | RepoError::CorruptSnapshot { .. } => ErrorCode::Corrupt,
            RepoError::SnapshotNotFound(_) | RepoError::AmbiguousSnapshot { .. } => ErrorCode::NotFound,
            RepoError::Locked(_) => ErrorCode::Locked,
            RepoError::AppendOnly { .. } => ErrorCode::AppendOnly,
            RepoError::Zip { .. } => ErrorCode::BadZip,
            RepoError::Io { source, .. } => ErrorCode::of_io(source),
            RepoError::InvalidInput(_) => ErrorCode::InvalidInput,
            RepoError::Source(_) => ErrorCode::ContentUnreadable,
        }
    }

    /// Whether the same operation may succeed if run again later (a transient backend failure,
    /// or a lock another process will release).
    pub fn is_retryable(&self) -> bool {
        match self {
            RepoError::Storage(e) => e.is_retryable(),
            RepoError::Locked(_) | RepoError::LeaseLost(_) => true,
            _ => false,
        }
    }
}
