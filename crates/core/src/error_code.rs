//! The machine-readable codes of every error OrgVault shows.
//!
//! Policy:
//! - One enum, [`ErrorCode`], for the whole product. Every error enum of the engine (`Error`,
//!   `BackupError`, `RestoreError`, `RepoError`, `StorageError`, `VaultError`, `VerifyError`) has
//!   a `code()` returning one, and the desktop shell's `UiError` carries one to the UI, which
//!   branches on it and words a headline for each (`ui/src/app/errors.ts` is a
//!   `Record<ErrorCode, ...>`, so a code without words does not type-check).
//! - A code says what the user can do about a failure, not where it happened: a rejected token
//!   is `auth_expired` whether a scan, a backup or a restore met it. That is why the portal's
//!   errors ([`arcgis::Error`]) are turned into codes in one place only, the
//!   `From<&arcgis::Error>` impl below.
//! - The strings ([`ErrorCode::as_str`], the serde form) are part of the interface (the UI, the
//!   CLI's `--json`): a code never changes meaning, and a code Rust no longer emits is removed
//!   rather than left for the UI to guess at.
//! - [`ErrorCode::retryable`] says whether trying again later, with nothing changed, may succeed
//!   for that kind of failure. An error's own `is_retryable()` may know better about its case (a
//!   cancelled restore resumes from its journal), so the engine's retry decisions use that.

use serde::{Deserialize, Serialize};

macro_rules! error_codes {
    ($($(#[doc = $doc:literal])* $variant:ident = $text:literal, retryable: $retry:literal;)+) => {
        /// A stable machine code for a failure; serialised in snake_case (`"auth_expired"`).
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
        #[cfg_attr(feature = "specta", derive(specta::Type))]
        #[serde(rename_all = "snake_case")]
        pub enum ErrorCode {
            $($(#[doc = $doc])* $variant,)+
        }

        impl ErrorCode {
            /// Every code, in declaration order.
            pub const ALL: &'static [ErrorCode] = &[$(ErrorCode::$variant,)+];

            /// The code as the UI and the CLI's `--json` see it.
            pub const fn as_str(self) -> &'static str {
                match self {
                    $(ErrorCode::$variant => $text,)+
                }
            }

            /// Whether trying the same thing again later, with nothing changed, may succeed.
            pub const fn retryable(self) -> bool {
                match self {
                    $(ErrorCode::$variant => $retry,)+
                }
            }
        }
    };
}

error_codes! {
    // The portal and the sign-in.
    /// The account signed in but is not an administrator with the privileges a backup needs.
    NotAdmin = "not_admin", retryable: false;
    /// The portal refused the username and password, or the OAuth sign-in did not complete.
    SignIn = "sign_in", retryable: false;
    /// The portal rejected the token (498/499) even after signing in again: sign in again.
    AuthExpired = "auth_expired", retryable: false;
    /// The signed-in account may not do this (403, 401).
    Forbidden = "forbidden", retryable: false;
    /// The item, user, group, snapshot or record does not exist (or is not visible).
    NotFound = "not_found", retryable: false;
    /// The portal is throttling requests (429).
    RateLimited = "rate_limited", retryable: true;
    /// The host could not be reached, did not answer in time, or the connection broke.
    Network = "network", retryable: true;
    /// The portal answered with a server failure (5xx, 408): it may recover.
    PortalUnavailable = "portal_unavailable", retryable: true;
    /// The portal refused the request for another reason; the message has its words.
    PortalError = "portal_error", retryable: false;
    /// The URL answers, but not like an ArcGIS portal.
    NotAPortal = "not_a_portal", retryable: false;
    /// The portal's TLS certificate was refused.
    Tls = "tls", retryable: false;
    /// An answer that could not be read (not JSON, not the expected shape, too large).
    BadAnswer = "bad_answer", retryable: false;
    /// A search that cannot be split below the portal's 10,000-result cap.
    SearchTooLarge = "search_too_large", retryable: false;
    /// A URL found in an item is on a host that is neither the org's own nor allowed.
    HostNotAllowed = "host_not_allowed", retryable: false;
    /// The connection or storage settings are unusable (a bad URL, header, connection string).
    InvalidSettings = "invalid_settings", retryable: false;

    // The engine.
    /// Something the user entered or asked for is not valid.
    InvalidInput = "invalid_input", retryable: false;
    /// The operation does not fit the state of what it acts on (a job that already ended).
    InvalidState = "invalid_state", retryable: false;
    /// The database failed.
    Database = "database", retryable: false;
    /// The database was held by another writer longer than the busy timeout.
    DatabaseBusy = "database_busy", retryable: true;
    /// A file or folder could not be read or written.
    Io = "io", retryable: false;
    /// The disk or folder is full.
    NoRoom = "no_room", retryable: false;
    /// Stored data (a blob, a snapshot, a database row) failed its check or cannot be read.
    Corrupt = "corrupt", retryable: false;
    /// The user cancelled; not a failure to show as one.
    Cancelled = "cancelled", retryable: false;
    /// A job of the same kind is already running for this identity.
    Busy = "busy", retryable: true;
    /// The job is not (or no longer) running.
    NotRunning = "not_running", retryable: false;
    /// A failure of the application itself (a lost task, a poisoned lock).
    Internal = "internal", retryable: false;

    // Backup and restore.
    /// The selection is empty: nothing to back up.
    EmptySelection = "empty_selection", retryable: false;
    /// Every selected element failed to be read by the scan just made; nothing was backed up.
    OnlyFailedSelected = "only_failed_selected", retryable: true;
    /// Every selected item, user and group failed; no snapshot was written.
    AllFailed = "all_failed", retryable: true;
    /// No mapping profile of that name.
    NoProfile = "no_profile", retryable: false;
    /// The organization has not been scanned yet.
    NoScan = "no_scan", retryable: false;
    /// The vault holds no saved secret (password, refresh token, connection string) for the identity.
    NoSecret = "no_secret", retryable: false;

    // The backup repository.
    /// The location holds no OrgVault repository this version can read.
    NotARepository = "not_a_repository", retryable: false;
    /// A new repository would go into a location that holds something else.
    DestinationNotEmpty = "destination_not_empty", retryable: false;
    /// The repository is encrypted and no password was given for it.
    RepositoryPasswordRequired = "repository_password_required", retryable: false;
    /// No key object of the encrypted repository opens with the password given.
    WrongRepositoryPassword = "wrong_repository_password", retryable: false;
    /// A password was given (encryption expected) but the repository is not encrypted.
    RepositoryNotEncrypted = "repository_not_encrypted", retryable: false;
    /// A key management request was refused (the last key, a key in use, a foreign object).
    KeyRefused = "key_refused", retryable: false;
    /// Another process holds the repository's lock.
    Locked = "locked", retryable: true;
    /// This process's lock was not renewed in time; the snapshot was not written.
    LockLost = "lock_lost", retryable: true;
    /// Blobs a snapshot needs are missing from the repository.
    MissingData = "missing_data", retryable: false;
    /// A zip export or import failed on an entry.
    BadZip = "bad_zip", retryable: false;
    /// Content to store or to send could not be read from its source.
    ContentUnreadable = "content_unreadable", retryable: false;

    // Storage (folders and Azure Blob).
    /// A local or network folder cannot be used (missing, not a folder, not writable).
    StorageFolder = "storage_folder", retryable: false;
    /// The object to create already exists.
    AlreadyExists = "already_exists", retryable: false;
    /// The storage refused the credentials or lacks a permission.
    StorageDenied = "storage_denied", retryable: false;
    /// The storage failed in a way that looks permanent.
    Storage = "storage", retryable: false;
    /// The storage failed in a way that looks transient (a timeout, a 5xx, a reset).
    StorageUnavailable = "storage_unavailable", retryable: true;
    /// The storage failed its check when an identity was saved or verified.
    StorageCheck = "storage_check", retryable: false;
    /// The repository is append-only (by its setting, or because the credentials may not
    /// delete): forget and prune need other credentials.
    AppendOnly = "append_only", retryable: false;

    // The vault of secrets.
    /// The vault key opens nothing: another key, or a damaged file.
    VaultWrongKey = "vault_wrong_key", retryable: false;
    /// The vault file is not a vault.
    VaultCorrupt = "vault_corrupt", retryable: false;
    /// The vault key file can be read by other users and is refused.
    VaultKeyPermissions = "vault_key_permissions", retryable: false;
    /// The vault key file does not hold a key.
    VaultKeyInvalid = "vault_key_invalid", retryable: false;
    /// The vault exists but its key cannot be found.
    VaultKeyMissing = "vault_key_missing", retryable: false;
    /// The OS keyring failed.
    VaultKeyring = "vault_keyring", retryable: false;
    /// The vault engine failed otherwise.
    Vault = "vault", retryable: false;

    // The desktop shell.
    /// The web browser for an OAuth sign-in could not be opened.
    Browser = "browser", retryable: false;

    // E-mail.
    /// E-mail is not set up (no SMTP server saved).
    MailNotConfigured = "mail_not_configured", retryable: false;
    /// The SMTP server refused the message for good (a rejected address, wrong credentials).
    MailRefused = "mail_refused", retryable: false;
}

impl std::fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl ErrorCode {
    /// `no_room` for a full disk, `io` for any other file-system failure.
    pub fn of_io(e: &std::io::Error) -> ErrorCode {
        if e.kind() == std::io::ErrorKind::StorageFull || e.raw_os_error() == Some(28) {
            ErrorCode::NoRoom
        } else {
            ErrorCode::Io
        }
    }
}

/// The one place a portal failure becomes a code, so a scan, a backup, a restore and a sign-in
/// name the same failure alike.
impl From<&arcgis::Error> for ErrorCode {
    fn from(e: &arcgis::Error) -> Self {
        use arcgis::Error as E;
        match e {
            E::NotAdmin { .. } => ErrorCode::NotAdmin,
            E::SignIn { .. } | E::OAuth { .. } => ErrorCode::SignIn,
            E::InvalidToken | E::TokenRequired => ErrorCode::AuthExpired,
            E::Forbidden { .. } => ErrorCode::Forbidden,
            E::NotFound { .. } => ErrorCode::NotFound,
            E::RateLimited { .. } => ErrorCode::RateLimited,
            E::Api { code: 429, .. } | E::Http { status: 429, .. } => ErrorCode::RateLimited,
            E::Connect { .. } | E::Timeout { .. } | E::ConnectionLost { .. } => ErrorCode::Network,
            // The client's own judgement tells a server hiccup (5xx, 408) from a refusal.
            E::Http { .. } | E::Api { .. } if e.is_retryable() => ErrorCode::PortalUnavailable,
            E::Http { .. } | E::Api { .. } => ErrorCode::PortalError,
            E::NotAPortal { .. } => ErrorCode::NotAPortal,
            E::Tls { .. } => ErrorCode::Tls,
            E::Decode { .. } | E::TooLarge { .. } => ErrorCode::BadAnswer,
            E::SearchTooLarge { .. } => ErrorCode::SearchTooLarge,
            E::HostNotAllowed { .. } => ErrorCode::HostNotAllowed,
            E::Source { .. } => ErrorCode::ContentUnreadable,
            E::Config { .. } => ErrorCode::InvalidSettings,
            _ => ErrorCode::PortalError,
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::time::Duration;

    use super::*;

    #[test]
    fn every_code_has_a_stable_unique_string_that_round_trips() {
        let mut seen = HashSet::new();
        for &code in ErrorCode::ALL {
            let text = code.as_str();
            assert!(seen.insert(text), "{text} names two codes; the UI could not tell them apart");
            assert!(
                !text.is_empty() && text.chars().all(|c| c.is_ascii_lowercase() || c == '_'),
                "{text} must be snake_case ASCII, as the UI and the CLI's --json read it"
            );
            let json = serde_json::to_string(&code).expect("serialise");
            assert_eq!(json, format!("\"{text}\""), "serde must write the same string as as_str for {code:?}");
            let back: ErrorCode = serde_json::from_str(&json).expect("deserialise");
            assert_eq!(back, code, "{text} must read back as the same code");
            assert_eq!(code.to_string(), text, "Display is as_str");
        }
        assert!(serde_json::from_str::<ErrorCode>("\"portal\"").is_err(), "unknown codes are refused, not guessed");
    }

    #[test]
    fn codes_already_in_use_keep_their_strings() {
        // The UI and scripts reading `orgvault identity check --json` branch on these.
        let fixed = [
            (ErrorCode::NotAdmin, "not_admin"),
            (ErrorCode::SignIn, "sign_in"),
            (ErrorCode::InvalidInput, "invalid_input"),
            (ErrorCode::NotFound, "not_found"),
            (ErrorCode::NotARepository, "not_a_repository"),
            (ErrorCode::Busy, "busy"),
            (ErrorCode::NotRunning, "not_running"),
            (ErrorCode::Cancelled, "cancelled"),
            (ErrorCode::StorageCheck, "storage_check"),
        ];
        for (code, text) in fixed {
            assert_eq!(code.as_str(), text, "the string of {code:?} is part of the interface");
        }
    }

    #[test]
    fn a_portal_failure_is_retryable_exactly_when_its_code_says_so() {
        let samples = [
            arcgis::Error::InvalidToken,
            arcgis::Error::TokenRequired,
            arcgis::Error::SignIn { message: "bad password".into() },
            arcgis::Error::Forbidden { message: "no".into() },
            arcgis::Error::NotFound { what: "item x".into() },
            arcgis::Error::RateLimited { retry_after: Some(Duration::from_secs(3)) },
            arcgis::Error::Connect { host: "h".into(), detail: "refused".into() },
            arcgis::Error::Timeout { url: "u".into(), what: "answer".into() },
            arcgis::Error::ConnectionLost { host: "h".into(), detail: "reset".into() },
            arcgis::Error::Http { status: 503, url: "u".into() },
            arcgis::Error::Http { status: 501, url: "u".into() },
            arcgis::Error::Http { status: 408, url: "u".into() },
            arcgis::Error::Http { status: 429, url: "u".into() },
            arcgis::Error::Http { status: 400, url: "u".into() },
            arcgis::Error::Api { code: 504, message: "gateway".into(), message_code: None, details: vec![] },
            arcgis::Error::Api { code: 400, message: "no".into(), message_code: None, details: vec![] },
            arcgis::Error::Tls { host: "h".into(), detail: "unknown issuer".into() },
            arcgis::Error::Decode { url: "u".into(), detail: "not json".into() },
            arcgis::Error::HostNotAllowed { origin: "https://elsewhere".into() },
            arcgis::Error::Config { message: "bad header".into() },
        ];
        for e in samples {
            let code = ErrorCode::from(&e);
            assert_eq!(
                code.retryable(),
                e.is_retryable(),
                "{e} is {code}: the UI's 'try again' must agree with the client's own retry decision"
            );
        }
    }
}
