//! Errors of the storage layer.
//!
//! Policy: the backends' detailed errors (object_store, the file system) are mapped onto a small
//! set a caller can act on: not found, already exists, permission denied, no room, bad
//! configuration, or a backend failure that may be transient. Every message names the object or
//! folder involved and never contains an account key, a SAS token or a connection string: backend
//! messages pass through [`redact`] before they are kept.

use std::path::PathBuf;
use std::sync::OnceLock;

use regex::Regex;

use crate::error_code::ErrorCode;

/// A failure of the storage layer.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The Azure connection string is missing a key or has a bad value; the message names the key.
    #[error("Azure connection string: {0}")]
    ConnectionString(String),

    /// A destination that is neither a folder path nor `az://container[/prefix]`.
    #[error("invalid destination {dest:?}: {reason}")]
    Destination { dest: String, reason: String },

    /// A local folder that cannot be used (missing and not creatable, not a folder, not writable).
    #[error("folder {}: {reason}", .path.display())]
    LocalFolder {
        path: PathBuf,
        reason: String,
        #[source]
        source: Option<std::io::Error>,
    },

    /// Not enough free space where the repository lives.
    #[error("not enough room in {}: {available} bytes free, {needed} needed", .path.display())]
    NoRoom { path: PathBuf, available: u64, needed: u64 },

    #[error("{path} not found")]
    NotFound { path: String },

    #[error("{path} already exists")]
    AlreadyExists { path: String },

    /// The credentials were refused or lack a permission.
    #[error("{op} {path}: permission denied ({detail})")]
    PermissionDenied { op: &'static str, path: String, detail: String },

    /// Any other backend failure; `retryable` when it looks transient (timeouts, 5xx, resets).
    #[error("{op} {path} failed: {detail}")]
    Backend { op: &'static str, path: String, detail: String, retryable: bool },
}

impl StorageError {
    /// Maps an object_store error, keeping only a redacted description.
    pub(crate) fn from_store(op: &'static str, path: &str, e: object_store::Error) -> Self {
        use object_store::Error as E;
        let path = path.to_owned();
        match e {
            E::NotFound { .. } => StorageError::NotFound { path },
            E::AlreadyExists { .. } => StorageError::AlreadyExists { path },
            E::PermissionDenied { source, .. } | E::Unauthenticated { source, .. } => {
                StorageError::PermissionDenied { op, path, detail: redact(&source.to_string()) }
            }
            other => {
                let detail = redact(&chain(&other));
                let lower = detail.to_ascii_lowercase();
                let permission = lower.contains("403") || lower.contains("authorization") || lower.contains("401");
                if permission {
                    return StorageError::PermissionDenied { op, path, detail };
                }
                let retryable = ["timed out", "timeout", "connection", "503", "500", "502", "504", "reset"]
                    .iter()
                    .any(|needle| lower.contains(needle));
                StorageError::Backend { op, path, detail, retryable }
            }
        }
    }

    pub(crate) fn io(path: impl Into<PathBuf>, reason: impl Into<String>, source: std::io::Error) -> Self {
        StorageError::LocalFolder { path: path.into(), reason: reason.into(), source: Some(source) }
    }

    /// A stable machine code for the UI.
    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::ConnectionString(_) | StorageError::Destination { .. } => ErrorCode::InvalidSettings,
            StorageError::LocalFolder { .. } => ErrorCode::StorageFolder,
            StorageError::NoRoom { .. } => ErrorCode::NoRoom,
            StorageError::NotFound { .. } => ErrorCode::NotFound,
            StorageError::AlreadyExists { .. } => ErrorCode::AlreadyExists,
            StorageError::PermissionDenied { .. } => ErrorCode::StorageDenied,
            StorageError::Backend { retryable: true, .. } => ErrorCode::StorageUnavailable,
            StorageError::Backend { .. } => ErrorCode::Storage,
        }
    }

    /// Whether running the same operation again later may succeed.
    pub fn is_retryable(&self) -> bool {
        matches!(self, StorageError::Backend { retryable: true, .. })
    }
}

fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        let more = s.to_string();
        if !text.contains(&more) {
            text.push_str(": ");
            text.push_str(&more);
        }
        cur = s.source();
    }
    text
}

/// Removes anything that looks like a credential from a backend message: SAS signatures
/// (`sig=...`), `AccountKey=...` pairs and long base64 runs (account keys are 88 characters).
pub fn redact(text: &str) -> String {
    static PATTERNS: OnceLock<[Regex; 3]> = OnceLock::new();
    let [sig, key, b64] = PATTERNS.get_or_init(|| {
        [
            Regex::new(r"(?i)(sig=)[^&\s\x22']+").expect("valid regex"),
            Regex::new(r"(?i)(AccountKey=)[^;\s]+").expect("valid regex"),
            Regex::new(r"[A-Za-z0-9+/]{40,}={0,2}").expect("valid regex"),
        ]
    });
    let text = sig.replace_all(text, "${1}***");
    let text = key.replace_all(&text, "${1}***");
    b64.replace_all(&text, "***").into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_signatures_and_keys() {
        let key = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==";
        let text = format!("GET http://h/c/b?sv=2021&sig=abc%2Fdef&se=1 failed; AccountKey={key};x");
        let got = redact(&text);
        assert!(!got.contains("abc%2Fdef"), "a SAS signature must not survive redaction: {got}");
        assert!(!got.contains(key), "an account key must not survive redaction: {got}");
        assert!(got.contains("GET http://h/c/b"), "the useful part of the message stays: {got}");
    }
}
