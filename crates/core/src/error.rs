//! Errors of the engine.
//!
//! Policy:
//! - One enum, [`Error`], for the crate. The portal's failures arrive as [`arcgis::Error`] and
//!   are wrapped, not re-described: the client already words them for an administrator and keeps
//!   secrets out of them.
//! - Every error has a stable machine [`Error::code`], an [`ErrorCode`] (`not_admin`, `sign_in`,
//!   `network`, `database`, ...), shared by every error enum of the engine (see
//!   [`crate::error_code`]). The UI branches on the code and shows the message.
//! - [`Error::is_retryable`] says whether running the same operation again later may succeed
//!   (the portal throttled or was unreachable, the database was busy); bad input, permissions
//!   and missing things are permanent.
//! - Per-item failures inside a scan or backup are not errors of the operation: they become
//!   scan problems or job item outcomes, and the operation goes on.
//! - Messages never contain a password, token, refresh token or connection string.

use std::path::PathBuf;

use crate::error_code::ErrorCode;
use crate::jobs::{JobKind, JobState};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The portal or a service failed; see the wrapped error.
    #[error(transparent)]
    Portal(#[from] arcgis::Error),

    #[error("database error: {0}")]
    Db(#[from] sqlx::Error),

    #[error("database schema upgrade failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    #[error("cannot use {}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid input: {0}")]
    InvalidInput(String),

    #[error("{what} {id} not found")]
    NotFound { what: &'static str, id: String },

    #[error("job {job_id} cannot go from {from:?} to {to:?}")]
    InvalidTransition { job_id: i64, from: JobState, to: JobState },

    /// Stored data this version cannot read.
    #[error("unreadable stored data: {0}")]
    Corrupt(String),

    #[error("cancelled")]
    Cancelled,

    /// One job per identity and kind at a time, whichever process runs it.
    #[error("a {kind} of this identity is already running (job {job_id}, {holder}); wait for it or cancel it")]
    Busy { kind: JobKind, job_id: i64, holder: String },

    /// The job asked about has already ended.
    #[error("job {job_id} is not running (it is {state:?})")]
    NotRunning { job_id: i64, state: JobState },
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A stable, machine-readable code for the UI (`{code, message}`).
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::Portal(e) => ErrorCode::from(e),
            Error::Db(e) if db_is_busy(e) => ErrorCode::DatabaseBusy,
            Error::Db(_) | Error::Migrate(_) => ErrorCode::Database,
            Error::Io { source, .. } => ErrorCode::of_io(source),
            Error::InvalidInput(_) => ErrorCode::InvalidInput,
            Error::NotFound { .. } => ErrorCode::NotFound,
            Error::InvalidTransition { .. } => ErrorCode::InvalidState,
            Error::Corrupt(_) => ErrorCode::Corrupt,
            Error::Cancelled => ErrorCode::Cancelled,
            Error::Busy { .. } => ErrorCode::Busy,
            Error::NotRunning { .. } => ErrorCode::NotRunning,
        }
    }

    /// Whether the same operation may succeed if run again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Portal(e) => e.is_retryable(),
            Error::Db(e) => db_is_busy(e),
            // The other job ends; the same request then succeeds.
            Error::Busy { .. } => true,
            _ => false,
        }
    }
}

/// The pool or the file was held by another writer longer than the busy timeout.
fn db_is_busy(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::PoolTimedOut => true,
        // SQLITE_BUSY / SQLITE_LOCKED.
        sqlx::Error::Database(e) => matches!(e.code().as_deref(), Some("5") | Some("6")),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_errors_keep_their_meaning_in_codes() {
        let cases = [
            (
                arcgis::Error::NotAdmin { username: "ann".into(), role: "org_user".into(), missing: vec![] },
                ErrorCode::NotAdmin,
                false,
            ),
            (arcgis::Error::SignIn { message: "bad password".into() }, ErrorCode::SignIn, false),
            (arcgis::Error::InvalidToken, ErrorCode::AuthExpired, false),
            (arcgis::Error::Connect { host: "h".into(), detail: "refused".into() }, ErrorCode::Network, true),
            (arcgis::Error::Tls { host: "h".into(), detail: "unknown issuer".into() }, ErrorCode::Tls, false),
            (arcgis::Error::RateLimited { retry_after: None }, ErrorCode::RateLimited, true),
        ];
        for (e, code, retry) in cases {
            let e = Error::from(e);
            assert_eq!(e.code(), code, "code of {e}");
            assert_eq!(e.is_retryable(), retry, "retryability of {e} must follow the client's");
        }
        assert_eq!(
            Error::Cancelled.code(),
            ErrorCode::Cancelled,
            "cancel has its own code so the UI does not show it as a failure"
        );
        assert!(!Error::InvalidInput("x".into()).is_retryable(), "bad input is permanent");
        assert_eq!(
            Error::Db(sqlx::Error::PoolTimedOut).code(),
            ErrorCode::DatabaseBusy,
            "a busy database is its own code"
        );
        assert!(Error::Db(sqlx::Error::PoolTimedOut).is_retryable(), "a busy database may be free later");
    }

    #[test]
    fn a_full_disk_reads_as_no_room() {
        let full = Error::Io { path: "/x".into(), source: std::io::Error::from(std::io::ErrorKind::StorageFull) };
        assert_eq!(full.code(), ErrorCode::NoRoom, "a full disk is something the user can act on: {full}");
        let denied =
            Error::Io { path: "/x".into(), source: std::io::Error::from(std::io::ErrorKind::PermissionDenied) };
        assert_eq!(denied.code(), ErrorCode::Io);
    }
}
