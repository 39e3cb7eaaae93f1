//! "Save and verify": sign in with an identity's secrets, insist on an administrator, and prove
//! the storage works, before anything is saved.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcgis::{Credentials, NewRefreshToken, Portal, PortalConfig, RetryPolicy, Secret, Url};
use serde::Serialize;

use super::credentials::{IdentitySecrets, OAuthSecret, SignInSecret};
use super::{validate, IdentitySpec, PortalKind, SignIn, Storage};
use crate::error_code::ErrorCode;
use crate::storage::{check_azure, check_local, check_s3, AzureConnection, S3Address, S3Connection, StoreCheck};
use crate::vault::VaultError;

/// Why an identity could not be verified. [`VerifyError::code`] is what the UI branches on:
/// `not_admin` (the message names the missing privileges), `sign_in`, `network`, `tls`,
/// `storage_check`, `invalid_input`, ...
#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    /// Bad input, or the portal refused or failed (sign-in, not an admin, unreachable...).
    #[error(transparent)]
    Core(#[from] crate::Error),

    /// The storage failed its check; `step` names which part (`folder`, `connection_string`,
    /// `write`, `list`, `read`, `delete`).
    #[error("the backup storage failed its check ({step}): {message}")]
    Storage { step: String, message: String },

    #[error(transparent)]
    Vault(#[from] VaultError),
}

impl From<arcgis::Error> for VerifyError {
    fn from(e: arcgis::Error) -> Self {
        VerifyError::Core(crate::Error::from(e))
    }
}

impl VerifyError {
    /// A stable, machine-readable code for the UI.
    pub fn code(&self) -> ErrorCode {
        match self {
            VerifyError::Core(e) => e.code(),
            VerifyError::Storage { .. } => ErrorCode::StorageCheck,
            VerifyError::Vault(e) => e.code(),
        }
    }
}

/// How hard verification tries. The defaults suit an interactive "Save and verify": a few quick
/// retries, not the long patience of a backup.
#[derive(Debug, Clone)]
pub struct VerifyOptions {
    pub retry: RetryPolicy,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    /// Free space a local folder must have.
    pub needed_storage_bytes: u64,
}

impl Default for VerifyOptions {
    fn default() -> Self {
        VerifyOptions {
            retry: RetryPolicy {
                base_delay: Duration::from_millis(200),
                max_delay: Duration::from_secs(2),
                max_attempts: 3,
                max_retry_after: Duration::from_secs(5),
                ..RetryPolicy::default()
            },
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            needed_storage_bytes: 0,
        }
    }
}

/// Who signed in, as the portal said.
#[derive(Debug, Clone, Serialize)]
pub struct SignedIn {
    pub org_id: String,
    pub org_name: String,
    pub username: String,
    pub kind: PortalKind,
    /// Always true: a non-administrator is an error.
    pub is_admin: bool,
    /// When the access token obtained now expires (epoch ms).
    pub token_expires_ms: Option<i64>,
    /// A refresh token the portal issued in exchange for the given one; save it in place of the
    /// old one (the old one may no longer work).
    #[serde(skip)]
    pub refresh_token: Option<OAuthSecret>,
}

/// The result of the storage check.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct StorageCheck {
    pub ok: bool,
    /// The failing step: `folder`, `connection_string`, or for Azure `write`, `list`, `read`,
    /// `delete` (the first that failed).
    pub failed_step: Option<String>,
    /// In words an administrator understands; never a secret.
    pub message: String,
    /// The credentials may write, list and read but not delete: backups, verify and copies work,
    /// forget and prune need other credentials (docs/storage.md, "Append-only").
    pub append_only: bool,
}

/// A verified identity: signed in as an administrator, storage proven.
#[derive(Debug, Clone, Serialize)]
pub struct VerifiedIdentity {
    #[serde(flatten)]
    pub signed_in: SignedIn,
    pub storage: StorageCheck,
}

/// Builds the client configuration of an identity: URL, credentials, custom headers (values
/// from `secrets`) and TLS (the extra CA certificate is read from its file here).
pub fn portal_config(
    spec: &IdentitySpec,
    secrets: &IdentitySecrets,
    clock: Arc<dyn arcgis::Clock>,
) -> Result<PortalConfig, VerifyError> {
    let secret = &secrets.sign_in;
    let url = Url::parse(spec.portal_url.trim())
        .map_err(|e| crate::Error::InvalidInput(format!("portal URL {:?} is not a URL: {e}", spec.portal_url)))?;
    let credentials = match (&spec.sign_in, secret) {
        (SignIn::Builtin { username }, SignInSecret::Password(password)) => {
            Credentials::BuiltIn { username: username.clone(), password: password.clone() }
        }
        (SignIn::Oauth { client_id, .. }, SignInSecret::OAuth(o)) => Credentials::OAuth {
            client_id: client_id.clone(),
            refresh_token: Secret::new(o.refresh_token.clone()),
            refresh_token_expires_at: o.refresh_token_expires_at,
            redirect_uri: o.redirect_uri.clone(),
            on_refresh_token: None,
        },
        (SignIn::Builtin { .. }, _) => {
            return Err(crate::Error::InvalidInput("a built-in sign-in needs a password".into()).into())
        }
        (SignIn::Oauth { .. }, _) => {
            return Err(
                crate::Error::InvalidInput("an OAuth sign-in needs a refresh token; sign in again".into()).into()
            )
        }
    };
    let extra_ca_pem = match &spec.tls.extra_ca_pem_path {
        Some(path) => {
            Some(std::fs::read_to_string(path).map_err(|source| crate::Error::Io { path: path.into(), source })?)
        }
        None => None,
    };
    let mut cfg = PortalConfig::new(url, credentials);
    cfg.custom_headers = secrets.custom_headers.iter().map(|(n, v)| (n.clone(), v.expose().to_owned())).collect();
    cfg.tls = arcgis::TlsOptions { extra_ca_pem, accept_invalid_certs: spec.tls.allow_invalid_certs };
    cfg.allow_insecure_http = spec.tls.allow_insecure_http;
    cfg.clock = clock;
    Ok(cfg)
}

/// Signs in and checks that the account may back up the whole organization (a full
/// administrator, or a custom role with every privilege a backup needs:
/// [`crate::backup::REQUIRED_PRIVILEGES`]). Fails with code
/// `not_admin`, naming the missing privileges, for anyone else.
pub async fn verify_sign_in(
    spec: &IdentitySpec,
    secrets: &IdentitySecrets,
    options: &VerifyOptions,
    clock: Arc<dyn arcgis::Clock>,
) -> Result<SignedIn, VerifyError> {
    validate(spec)?;
    let secret = &secrets.sign_in;
    let mut cfg = portal_config(spec, secrets, clock)?;
    cfg.retry = options.retry.clone();
    cfg.connect_timeout = options.connect_timeout;
    cfg.request_timeout = options.request_timeout;
    let exchanged: Arc<Mutex<Option<NewRefreshToken>>> = Arc::default();
    if let Credentials::OAuth { on_refresh_token, .. } = &mut cfg.credentials {
        let slot = exchanged.clone();
        *on_refresh_token =
            Some(Arc::new(move |t: NewRefreshToken| *slot.lock().unwrap_or_else(|p| p.into_inner()) = Some(t)));
    }
    let portal = Portal::connect(cfg).await?;
    portal.require_admin(crate::backup::REQUIRED_PRIVILEGES)?;
    let info = portal.self_info();
    let username = info.user.as_ref().map(|u| u.username.clone()).unwrap_or_default();
    if let SignIn::Builtin { username: wanted } = &spec.sign_in {
        // Portals match usernames without regard to case; a different account is a surprise.
        if !wanted.eq_ignore_ascii_case(&username) {
            tracing::warn!(wanted = %wanted, got = %username, "the portal signed in another username");
        }
    }
    let refresh_token = match (secret, exchanged.lock().unwrap_or_else(|p| p.into_inner()).take()) {
        (SignInSecret::OAuth(old), Some(new)) => Some(OAuthSecret {
            refresh_token: new.refresh_token.expose().to_owned(),
            refresh_token_expires_at: new.expires_at,
            redirect_uri: old.redirect_uri.clone(),
        }),
        _ => None,
    };
    tracing::info!(org = portal.org_id(), user = %username, "identity verified: signed in as an administrator");
    Ok(SignedIn {
        org_id: portal.org_id().to_owned(),
        org_name: info.name.clone().unwrap_or_else(|| portal.org_id().to_owned()),
        username,
        kind: if info.is_portal { PortalKind::Enterprise } else { PortalKind::Online },
        is_admin: true,
        token_expires_ms: portal.token_expires_ms(),
        refresh_token,
    })
}

/// Proves a storage works: a folder exists (or is created), is writable and has
/// `needed_bytes` free; an Azure container or an S3 bucket accepts write, list and read with
/// the given secret (the connection string, the secret access key), and delete, or else is
/// reported append-only. Never fails itself: a failure is a `StorageCheck` with `ok: false`.
pub async fn check_storage(storage: &Storage, secret: Option<&Secret>, needed_bytes: u64) -> StorageCheck {
    let failed = |step: &str, message: String| StorageCheck {
        ok: false,
        failed_step: Some(step.into()),
        message,
        append_only: false,
    };
    let secret = secret.filter(|c| !c.expose().trim().is_empty());
    // The local cache folder of a cloud storage must exist or be made, and take files.
    if let Storage::Azure { cache_dir, .. } | Storage::S3 { cache_dir, .. } = storage {
        if !cache_dir.trim().is_empty() {
            if let Err(e) = check_local(std::path::Path::new(cache_dir.trim()), 0).await {
                return failed("cache_dir", format!("the local cache folder cannot be used: {e}"));
            }
        }
    }
    match storage {
        Storage::Local { path } => match check_local(std::path::Path::new(path), needed_bytes).await {
            Ok(c) => StorageCheck {
                ok: true,
                failed_step: None,
                message: format!(
                    "the folder {} is writable ({} MB free)",
                    c.path.display(),
                    c.available_bytes / 1_000_000
                ),
                append_only: false,
            },
            Err(e) => failed("folder", e.to_string()),
        },
        Storage::Azure { container, .. } => {
            let Some(conn) = secret else {
                return failed("connection_string", "an Azure storage needs its connection string".into());
            };
            let conn = match AzureConnection::parse(conn.expose()) {
                Ok(c) => c,
                Err(e) => return failed("connection_string", e.to_string()),
            };
            let check = check_azure(&conn, container, "").await;
            store_check(&check, &format!("the container {container} of account {}", conn.account))
        }
        Storage::S3 { url, access_key_id, .. } => {
            let address = match S3Address::parse(url.trim()) {
                Ok(a) => a,
                Err(e) => return failed("address", e),
            };
            let Some(key) = secret else {
                return failed("secret_access_key", "an S3 storage needs its secret access key".into());
            };
            let conn = match S3Connection::with_keys(url, access_key_id, key) {
                Ok(c) => c,
                Err(e) => return failed("address", e.to_string()),
            };
            store_check(&check_s3(&conn, &address.prefix).await, &conn.describe(&address.prefix))
        }
    }
}

/// An object store's check in words: every step passed; or all but delete (append-only, usable
/// for backups); or the first failing step.
fn store_check(check: &StoreCheck, place: &str) -> StorageCheck {
    if check.all_ok() {
        return StorageCheck {
            ok: true,
            failed_step: None,
            message: format!("{place} accepts write, list, read and delete"),
            append_only: false,
        };
    }
    if check.append_only() {
        let why = check.delete.as_ref().err().cloned().unwrap_or_default();
        return StorageCheck {
            ok: true,
            failed_step: None,
            message: format!(
                "{place} accepts write, list and read but not delete ({why}): the repository is append-only; \
                 backups, verify and copies work, forget and prune need credentials that may delete"
            ),
            append_only: true,
        };
    }
    let failed = check.failed();
    let step = failed.first().copied().unwrap_or("write");
    let why = check.steps_failing_reason().unwrap_or_default();
    StorageCheck {
        ok: false,
        failed_step: Some(step.to_owned()),
        message: format!("{} failed in {place}: {why}", failed.join(", ")),
        append_only: false,
    }
}

/// "Save and verify": [`verify_sign_in`], then [`check_storage`]; fails on the first problem.
pub async fn verify(
    spec: &IdentitySpec,
    secrets: &IdentitySecrets,
    options: &VerifyOptions,
    clock: Arc<dyn arcgis::Clock>,
) -> Result<VerifiedIdentity, VerifyError> {
    let signed_in = verify_sign_in(spec, secrets, options, clock).await?;
    let storage =
        check_storage(&spec.storage, secrets.storage_secret.as_ref().map(|s| s.secret()), options.needed_storage_bytes)
            .await;
    if !storage.ok {
        return Err(VerifyError::Storage {
            step: storage.failed_step.clone().unwrap_or_default(),
            message: storage.message.clone(),
        });
    }
    Ok(VerifiedIdentity { signed_in, storage })
}
