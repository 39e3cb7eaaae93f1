//! Errors of a restore.
//!
//! Policy: like the backup, a failure about one item, user or group is not an error of the job;
//! it becomes that subject's outcome (`failed` with the reason) and the restore goes on with
//! what does not depend on it. The job itself fails when it cannot start (the snapshot cannot be
//! read, the target cannot be listed, the database fails) or when it is cancelled. Messages
//! never contain a password or token (invited users' passwords are never put in a message).

use crate::repo::RepoError;

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    /// The engine failed (database, job history).
    #[error(transparent)]
    Core(#[from] crate::Error),

    /// The snapshot could not be read.
    #[error("the backup repository failed: {0}")]
    Repo(#[from] RepoError),

    /// The target organization could not be read or written as a whole.
    #[error("the target organization failed: {0}")]
    Portal(#[from] arcgis::Error),

    #[error("invalid restore request: {0}")]
    InvalidInput(String),

    #[error("no mapping profile named {0:?}")]
    NoProfile(String),

    #[error("the restore was cancelled; run it again to resume where it stopped")]
    Cancelled,
}

impl From<sqlx::Error> for RestoreError {
    fn from(e: sqlx::Error) -> Self {
        RestoreError::Core(crate::Error::Db(e))
    }
}

impl RestoreError {
    /// A stable machine code for the UI.
    pub fn code(&self) -> &'static str {
        match self {
            RestoreError::Core(e) => e.code(),
            RestoreError::Repo(e) => e.code(),
            RestoreError::Portal(_) => "portal",
            RestoreError::InvalidInput(_) => "invalid_input",
            RestoreError::NoProfile(_) => "no_profile",
            RestoreError::Cancelled => "cancelled",
        }
    }

    /// Whether running the same restore again later may succeed (it resumes from the journal).
    pub fn is_retryable(&self) -> bool {
        match self {
            RestoreError::Core(e) => e.is_retryable(),
            RestoreError::Repo(e) => e.is_retryable(),
            RestoreError::Portal(e) => e.is_retryable(),
            RestoreError::InvalidInput(_) | RestoreError::NoProfile(_) => false,
            RestoreError::Cancelled => true,
        }
    }
}
