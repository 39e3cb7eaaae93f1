//! Errors of the backup job.
//!
//! Policy: a failure about one item, user or group is not an error of the job; it becomes that
//! subject's outcome (`failed` with the reason) and the job goes on. The job itself fails when
//! it cannot start (no catalog, repository unusable or locked), when the repository fails while
//! writing (disk full, read-only, unreachable: every later write would fail alike), or when
//! every subject failed. A cancel is its own variant so front ends do not show it as a failure.
//! Messages never contain a token, password or connection string.

use crate::error_code::ErrorCode;
use crate::repo::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    /// The engine failed (database, catalog).
    #[error(transparent)]
    Core(#[from] crate::Error),

    /// The repository failed; the message names the path or blob and the cause.
    #[error("the backup destination failed: {0}")]
    Repo(#[from] RepoError),

    /// Every subject failed: no snapshot was written.
    #[error(
        "every one of the {count} selected items, users and groups failed (first: {first}); no snapshot was written"
    )]
    AllFailed { count: usize, first: String },

    /// Nothing to back up.
    #[error("the selection is empty: nothing to back up")]
    EmptySelection,

    /// Every selected subject failed to be read by the scan just made (first: its reason).
    #[error(
        "every one of the {count} selected items, users and groups failed in the scan (first: {first}); nothing was backed up: scan again, or select other elements"
    )]
    OnlyFailedSelected { count: usize, first: String },

    #[error("the backup was cancelled; no snapshot was written")]
    Cancelled,

    /// The scan a backup runs first failed; nothing was backed up.
    #[error("the scan before the backup failed: {0}")]
    ScanFailed(Box<crate::Error>),
}

impl BackupError {
    /// A stable machine code for the UI.
    pub fn code(&self) -> ErrorCode {
        match self {
            BackupError::Core(e) => e.code(),
            BackupError::ScanFailed(e) => e.code(),
            BackupError::Repo(e) => e.code(),
            BackupError::AllFailed { .. } => ErrorCode::AllFailed,
            BackupError::EmptySelection => ErrorCode::EmptySelection,
            BackupError::OnlyFailedSelected { .. } => ErrorCode::OnlyFailedSelected,
            BackupError::Cancelled => ErrorCode::Cancelled,
        }
    }

    /// Whether running the same backup again later may succeed.
    pub fn is_retryable(&self) -> bool {
        match self {
            BackupError::Core(e) => e.is_retryable(),
            BackupError::ScanFailed(e) => e.is_retryable(),
            BackupError::Repo(e) => e.is_retryable(),
            // Per-subject failures are mostly the portal's transient trouble.
            BackupError::AllFailed { .. } | BackupError::OnlyFailedSelected { .. } => true,
            BackupError::EmptySelection | BackupError::Cancelled => false,
        }
    }
}
