//! Errors at the IPC boundary.
//!
//! Policy: every command answers `Result<T, UiError>`; a `UiError` is `{code, message}`, where
//! `code` is stable and machine-readable (the UI branches on it) and `message` is worded for a
//! GIS administrator. The code is the engine's [`ErrorCode`], one enum for the engine and the
//! shell alike, exported to TypeScript, so the UI's table of headlines must name every code.
//! Engine errors keep their own code (`not_admin`, `sign_in`, `network`, ...) and their
//! message, which the engine already keeps free of secrets. Nothing here ever formats a
//! password, token or connection string.

pub use orgvault_core::ErrorCode;
use serde::{Deserialize, Serialize};
use specta::Type;

/// What the UI receives when a command fails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Type, thiserror::Error)]
#[error("{message}")]
pub struct UiError {
    pub code: ErrorCode,
    pub message: String,
}

impl UiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self { code, message: message.into() }
    }

    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::NotFound, message)
    }

    /// A failure of the app itself (a lost task, an unreadable settings file).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Internal, message)
    }

    /// A file or folder of the app's own (the data folder, a support bundle) cannot be written.
    pub fn io(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::Io, message)
    }
}

impl From<orgvault_core::Error> for UiError {
    fn from(e: orgvault_core::Error) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<arcgis::Error> for UiError {
    fn from(e: arcgis::Error) -> Self {
        orgvault_core::Error::from(e).into()
    }
}

impl From<orgvault_core::backup::BackupError> for UiError {
    fn from(e: orgvault_core::backup::BackupError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<orgvault_core::repo::RepoError> for UiError {
    fn from(e: orgvault_core::repo::RepoError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<orgvault_core::storage::StorageError> for UiError {
    fn from(e: orgvault_core::storage::StorageError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<orgvault_core::ServiceError> for UiError {
    fn from(e: orgvault_core::ServiceError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<orgvault_core::restore::RestoreError> for UiError {
    fn from(e: orgvault_core::restore::RestoreError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<orgvault_core::maintenance::MaintenanceError> for UiError {
    fn from(e: orgvault_core::maintenance::MaintenanceError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

impl From<orgvault_core::mail::MailError> for UiError {
    fn from(e: orgvault_core::mail::MailError) -> Self {
        Self::new(e.code(), e.to_string())
    }
}

/// The result type of every command.
pub type UiResult<T> = Result<T, UiError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_errors_keep_their_code() {
        let e: UiError = orgvault_core::Error::InvalidInput("an identity needs a name".into()).into();
        assert_eq!(e.code, ErrorCode::InvalidInput, "the UI branches on the engine's code, so it must pass through");
        assert!(e.message.contains("needs a name"), "the engine's words reach the user: {}", e.message);
    }

    #[test]
    fn the_ui_receives_the_code_as_its_snake_case_string() {
        let sent = serde_json::to_value(UiError::new(ErrorCode::NotRunning, "job 3 is not running")).expect("json");
        assert_eq!(
            sent,
            serde_json::json!({"code": "not_running", "message": "job 3 is not running"}),
            "the UI's Record<ErrorCode, ...> is keyed by these strings"
        );
        let back: UiError = serde_json::from_value(sent).expect("read back");
        assert_eq!(back.code, ErrorCode::NotRunning);
    }
}
