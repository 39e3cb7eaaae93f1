//! Errors of a restore.
//!
//! Policy: like the backup, a failure about one item, user or group is not an error of the job;
//! it becomes that subject's outcome (`failed` with the reason) and the restore goes on with
//! what does not depend on it. The job itself fails when it cannot start (the snapshot cannot be
//! read, the target cannot be listed, the database fails) or when it is cancelled. Messages
//! never contain a password or token (invited users' passwords are never put in a message).

use crate::error_code::ErrorCode;
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

    /// The target's signed-in account lacks privileges the plan needs (each with what needs it).
    #[error("the account signed in to the target organization lacks what this restore needs: {}", .0.iter().map(|m| format!("{} (for {})", m.privilege, m.needed_for)).collect::<Vec<_>>().join("; "))]
    MissingPrivileges(Vec<super::MissingPrivilege>),

    #[error("the restore was cancelled; run it again to resume where it stopped")]
    Cancelled,
}

impl From<sqlx::Error> for RestoreError {
    fn from(e: sqlx::Error) -> Self {
        RestoreError::Core(crate::Error::Db(e))
    }
}

impl RestoreError {
    /// A stable machine code for the UI; the target portal's failures get the same codes as
    /// the source portal's in a scan or backup.
    pub fn code(&self) -> ErrorCode {
        match self {
            RestoreError::Core(e) => e.code(),
            RestoreError::Repo(e) => e.code(),
            RestoreError::Portal(e) => ErrorCode::from(e),
            RestoreError::InvalidInput(_) => ErrorCode::InvalidInput,
            RestoreError::NoProfile(_) => ErrorCode::NoProfile,
            RestoreError::MissingPrivileges(_) => ErrorCode::NotAdmin,
            RestoreError::Cancelled => ErrorCode::Cancelled,
        }
    }

    /// Whether running the same restore again later may succeed (it resumes from the journal).
    pub fn is_retryable(&self) -> bool {
        match self {
            RestoreError::Core(e) => e.is_retryable(),
            RestoreError::Repo(e) => e.is_retryable(),
            RestoreError::Portal(e) => e.is_retryable(),
            RestoreError::InvalidInput(_) | RestoreError::NoProfile(_) | RestoreError::MissingPrivileges(_) => false,
            RestoreError::Cancelled => true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::BackupError;

    /// What the client makes of a 401 (an HTTP status) and of a 498 (a token rejected even
    /// after signing in again), and of other failures a restore's target may answer with.
    fn target_failures() -> Vec<fn() -> arcgis::Error> {
        vec![
            || arcgis::Error::Forbidden { message: "https://target.example.com/sharing/rest answered HTTP 401".into() },
            || arcgis::Error::InvalidToken,
            || arcgis::Error::TokenRequired,
            || arcgis::Error::RateLimited { retry_after: None },
            || arcgis::Error::Connect { host: "target.example.com".into(), detail: "refused".into() },
            || arcgis::Error::NotFound { what: "folder x".into() },
        ]
    }

    #[test]
    fn a_portal_failure_has_the_same_code_in_a_restore_as_in_a_backup() {
        for make in target_failures() {
            let restore = RestoreError::from(make());
            let backup = BackupError::from(crate::Error::from(make()));
            assert_eq!(
                restore.code(),
                backup.code(),
                "{} must get one code whichever job met it, so the UI says the same thing",
                make()
            );
        }
    }
}
