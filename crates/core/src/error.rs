//! Errors of the engine.
//!
//! Policy:
//! - One enum, [`Error`], for the crate. The portal's failures arrive as [`arcgis::Error`] and
//!   are wrapped, not re-described: the client already words them for an administrator and keeps
//!   secrets out of them.
//! - Every error has a stable machine [`Error::code`] (`"not_admin"`, `"sign_in"`,
//!   `"unreachable"`, `"db"`, ...). The UI branches on the code and shows the message; the
//!   codes are part of the interface and never change meaning.
//! - [`Error::is_retryable`] says whether running the same operation again later may succeed
//!   (the portal throttled or was unreachable, the database was busy); bad input, permissions
//!   and missing things are permanent.
//! - Per-item failures inside a scan or backup are not errors of the operation: they become
//!   scan problems or job item outcomes, and the operation goes on.
//! - Messages never contain a password, token, refresh token or connection string.

use std::path::PathBuf;

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
    pub fn code(&self) -> &'static str {
        match self {
            Error::Portal(e) => portal_code(e),
            Error::Db(_) | Error::Migrate(_) => "db",
            Error::Io { .. } => "io",
            Error::InvalidInput(_) => "invalid_input",
            Error::NotFound { .. } => "not_found",
            Error::InvalidTransition { .. } => "invalid_state",
            Error::Corrupt(_) => "corrupt",
            Error::Cancelled => "cancelled",
            Error::Busy { .. } => "busy",
            Error::NotRunning { .. } => "not_running",
        }
    }

    /// Whether the same operation may succeed if run again later.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Portal(e) => e.is_retryable(),
            Error::Db(sqlx::Error::PoolTimedOut) => true,
            Error::Db(sqlx::Error::Database(e)) => {
                // SQLITE_BUSY / SQLITE_LOCKED: another writer held the file longer than the busy timeout.
                matches!(e.code().as_deref(), Some("5") | Some("6"))
            }
            // The other job ends; the same request then succeeds.
            Error::Busy { .. } => true,
            _ => false,
        }
    }
}

fn portal_code(e: &arcgis::Error) -> &'static str {
    use arcgis::Error as E;
    match e {
        E::NotAdmin { .. } => "not_admin",
        E::SignIn { .. } | E::InvalidToken | E::TokenRequired | E::OAuth { .. } => "sign_in",
        E::Connect { .. } | E::Timeout { .. } | E::ConnectionLost { .. } => "unreachable",
        E::NotAPortal { .. } => "not_a_portal",
        E::Tls { .. } => "tls",
        E::Forbidden { .. } => "forbidden",
        E::NotFound { .. } => "not_found",
        E::RateLimited { .. } => "rate_limited",
        E::Http { status, .. } if *status >= 500 => "server",
        E::Http { .. } | E::Api { .. } => "portal_error",
        E::Decode { .. } => "bad_answer",
        E::SearchTooLarge { .. } => "search_too_large",
        E::Config { .. } => "invalid_settings",
        _ => "portal_error",
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
                "not_admin",
                false,
            ),
            (arcgis::Error::SignIn { message: "bad password".into() }, "sign_in", false),
            (arcgis::Error::Connect { host: "h".into(), detail: "refused".into() }, "unreachable", true),
            (arcgis::Error::Tls { host: "h".into(), detail: "unknown issuer".into() }, "tls", false),
            (arcgis::Error::RateLimited { retry_after: None }, "rate_limited", true),
        ];
        for (e, code, retry) in cases {
            let e = Error::from(e);
            assert_eq!(e.code(), code, "code of {e}");
            assert_eq!(e.is_retryable(), retry, "retryability of {e} must follow the client's");
        }
        assert_eq!(
            Error::Cancelled.code(),
            "cancelled",
            "cancel has its own code so the UI does not show it as a failure"
        );
        assert!(!Error::InvalidInput("x".into()).is_retryable(), "bad input is permanent");
    }
}
