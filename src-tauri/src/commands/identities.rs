//! Identities: list, "Save and verify", storage check, removal.

use std::sync::Arc;

use arcgis::Secret;
use orgvault_core::identity::{
    check_storage as check_storage_core, credential_state, validate, verify, IdentitySecrets, IdentitySpec,
    OAuthSecret, PortalKind, SignIn, SignInSecret, Storage, TlsOptions, TokenState as CoreToken, VerifyOptions,
};
use orgvault_core::vault::remove_identity_secrets;
use orgvault_core::Clock;
use tauri::State;

use crate::browser;
use crate::error::{ErrorCode, UiError, UiResult};
use crate::secrets::VaultSource;
use crate::state::AppState;
use crate::views::{AppInfo, IdentityInput, IdentityView, SignInKind, StorageCheck, StorageInput, TokenState};

#[tauri::command]
#[specta::specta]
pub async fn app_info(state: State<'_, Arc<AppState>>) -> UiResult<AppInfo> {
    Ok(AppInfo {
        version: env!("CARGO_PKG_VERSION").to_owned(),
        data_dir: state.data_dir.display().to_string(),
        demo_running: state.demo.lock().await.is_some(),
        vault: match &state.vault_source {
            VaultSource::Keyring => "OS keyring".to_owned(),
            VaultSource::KeyFile(p) => format!("key file {p}"),
            VaultSource::MemoryOnly(why) => format!("memory only (the vault could not be opened: {why})"),
        },
    })
}

pub(crate) fn view(state: &AppState, identity: &orgvault_core::identity::Identity) -> IdentityView {
    let token = match credential_state(state.secrets.as_ref(), identity, state.clock.now_ms()) {
        Ok(CoreToken::Valid) => TokenState::Valid,
        Ok(CoreToken::Expiring) => TokenState::Expiring,
        Ok(CoreToken::Expired) => TokenState::Expired,
        Ok(CoreToken::None) => TokenState::None,
        Err(e) => {
            tracing::warn!(identity = %identity.id, "token state unknown: {e}");
            TokenState::None
        }
    };
    IdentityView::new(identity, token)
}

#[tauri::command]
#[specta::specta]
pub async fn list_identities(state: State<'_, Arc<AppState>>) -> UiResult<Vec<IdentityView>> {
    Ok(state.identities().list().await?.iter().map(|i| view(&state, i)).collect())
}

/// Checks a storage as entered, naming the step that failed.
pub(crate) async fn check(storage: &StorageInput) -> StorageCheck {
    let (storage, conn) = storage_of(storage);
    let c = check_storage_core(&storage, conn.as_ref(), 0).await;
    StorageCheck { ok: c.ok, failed_step: c.failed_step, message: c.message }
}

/// The engine's storage and, for Azure, the connection string (a secret, kept apart).
fn storage_of(input: &StorageInput) -> (Storage, Option<Secret>) {
    match input {
        StorageInput::Local { path } => (Storage::Local { path: path.trim().to_owned() }, None),
        StorageInput::Azure { connection_string, container, cache_dir } => (
            Storage::Azure { container: container.trim().to_owned(), cache_dir: cache_dir.trim().to_owned() },
            Some(Secret::new(connection_string.clone())),
        ),
    }
}

#[tauri::command]
#[specta::specta]
pub async fn check_storage(storage: StorageInput) -> UiResult<StorageCheck> {
    Ok(check(&storage).await)
}

fn spec_of(input: &IdentityInput) -> UiResult<IdentitySpec> {
    let sign_in = match input.sign_in {
        SignInKind::Builtin => SignIn::Builtin { username: input.username.trim().to_owned() },
        SignInKind::Oauth => SignIn::Oauth {
            client_id: input.app_id.as_deref().unwrap_or_default().trim().to_owned(),
            username: Some(input.username.trim().to_owned()).filter(|u| !u.is_empty()),
        },
    };
    let (storage, _) = storage_of(&input.storage);
    if input.name.trim().is_empty() {
        return Err(UiError::invalid("give the identity a name"));
    }
    Ok(IdentitySpec {
        name: input.name.trim().to_owned(),
        portal_url: input.portal_url.trim().to_owned(),
        // Corrected from the portal's own answer after sign-in.
        kind: PortalKind::Online,
        sign_in,
        storage,
        custom_headers: Vec::new(),
        tls: TlsOptions { allow_insecure_http: input.allow_insecure_http, ..TlsOptions::default() },
    })
}

/// Signs in, refuses a non-admin, checks the storage, then stores the identity and its secrets
/// in the vault. Nothing is stored when any step fails.
///
/// An OAuth identity signs in through the browser ([`crate::browser`]) unless it is being
/// edited with the same App ID and portal and its saved refresh token still works; a saved
/// token the portal refuses sends the user to the browser again rather than failing.
pub async fn save(state: &AppState, input: IdentityInput) -> UiResult<IdentityView> {
    let mut spec = spec_of(&input)?;
    let existing = match &input.id {
        Some(id) => Some(state.identity(id).await?),
        None => None,
    };
    let stored = match &existing {
        Some(old) => IdentitySecrets::load(state.secrets.as_ref(), old)?,
        None => None,
    };
    // The identity's own headers (set with the CLI) stay with it only while its portal does.
    let own_headers = match &existing {
        Some(old) => IdentitySecrets::headers_for_edit(stored.as_ref(), old, &spec),
        None => Vec::new(),
    };
    if let Some(old) = &existing {
        spec.custom_headers = own_headers.iter().map(|(n, _)| n.clone()).collect();
        spec.tls = TlsOptions { allow_insecure_http: spec.tls.allow_insecure_http, ..old.spec.tls.clone() };
    }
    // Nothing leaves for the portal, and no browser opens on it, before its URL is accepted.
    validate(&spec).map_err(|e| UiError::new(e.code(), e.to_string()))?;
    let (_, azure) = storage_of(&input.storage);
    let azure = azure
        .filter(|c| !c.expose().trim().is_empty())
        .or_else(|| stored.as_ref().and_then(|s| s.azure_connection_string.clone()));
    let mut sent_headers = own_headers.clone();
    sent_headers.extend(crate::settings::header_values(state.secrets.as_ref())?);
    let check = |secret: SignInSecret| {
        let secrets = IdentitySecrets {
            sign_in: secret,
            azure_connection_string: azure.clone(),
            custom_headers: sent_headers.clone(),
        };
        let spec = &spec;
        async move {
            verify(spec, &secrets, &VerifyOptions::default(), Arc::new(arcgis::SystemClock))
                .await
                .map(|v| (secrets.sign_in, v))
                .map_err(|e| UiError::new(e.code(), e.to_string()))
        }
    };
    let (sign_in, verified) = match &spec.sign_in {
        SignIn::Builtin { .. } => {
            let kept =
                existing.as_ref().and_then(|old| IdentitySecrets::password_for_edit(stored.as_ref(), old, &spec));
            let secret = match (&input.password, kept) {
                (Some(p), _) if !p.is_empty() => SignInSecret::Password(Secret::new(p.clone())),
                (_, Some(p)) => SignInSecret::Password(p),
                (_, None) if existing.is_some() => {
                    return Err(UiError::invalid(
                        "the organization URL or account changed: enter the account's password again",
                    ))
                }
                _ => return Err(UiError::invalid("enter the account's password")),
            };
            check(secret).await?
        }
        SignIn::Oauth { client_id, .. } => {
            if client_id.is_empty() {
                return Err(UiError::invalid("enter the App ID registered for OrgVault in the organization"));
            }
            let reusable = reusable_oauth(existing.as_ref(), stored.as_ref(), &spec, state.clock.now_ms());
            let mut signed_in = None;
            if let Some(secret) = reusable {
                match check(SignInSecret::OAuth(secret)).await {
                    Ok(done) => signed_in = Some(done),
                    Err(e) if matches!(e.code, ErrorCode::SignIn | ErrorCode::AuthExpired) => {
                        tracing::info!("the saved OAuth sign-in was refused; signing in through the browser")
                    }
                    Err(e) => return Err(e),
                }
            }
            match signed_in {
                Some(done) => done,
                None => {
                    // The token exchange trusts what the identity's sign-ins trust (a private CA).
                    let tls = arcgis::TlsOptions {
                        extra_ca_pem: match &spec.tls.extra_ca_pem_path {
                            Some(path) => Some(std::fs::read_to_string(path).map_err(|e| {
                                UiError::invalid(format!("the CA certificate file {path} cannot be read ({e})"))
                            })?),
                            None => None,
                        },
                        accept_invalid_certs: spec.tls.allow_invalid_certs,
                    };
                    let oauth = browser::sign_in(
                        &state.browser,
                        &spec.portal_url,
                        client_id,
                        tls,
                        spec.tls.allow_insecure_http,
                        state.approval_wait,
                    )
                    .await?;
                    check(SignInSecret::OAuth(oauth)).await?
                }
            }
        }
    };
    // Verifying may have exchanged the refresh token; the portal may already refuse the old one.
    let sign_in = match (sign_in, verified.signed_in.refresh_token.clone()) {
        (SignInSecret::OAuth(_), Some(renewed)) => SignInSecret::OAuth(renewed),
        (kept, _) => kept,
    };
    spec.kind = verified.signed_in.kind;
    if let SignIn::Oauth { username, .. } = &mut spec.sign_in {
        // Learnt from the portal: whoever approved in the browser.
        *username = Some(verified.signed_in.username.clone()).filter(|u| !u.is_empty());
    }
    let saved = match &existing {
        Some(old) => state.identities().update(&old.id, spec).await?,
        None => state.identities().create(spec).await?,
    };
    IdentitySecrets { sign_in, azure_connection_string: azure, custom_headers: own_headers }
        .save(state.secrets.as_ref(), &saved.id)?;
    // The next job signs in afresh with what was just saved.
    state.set_session(&saved.id, None);
    tracing::info!(identity = %saved.id, "identity saved and verified");
    Ok(view(state, &saved))
}

/// The saved OAuth sign-in of the identity being edited, when it was issued for the same App ID
/// and portal and has not expired.
fn reusable_oauth(
    existing: Option<&orgvault_core::identity::Identity>,
    stored: Option<&IdentitySecrets>,
    spec: &IdentitySpec,
    now_ms: i64,
) -> Option<OAuthSecret> {
    let old = existing?;
    let same_app = matches!((&old.spec.sign_in, &spec.sign_in),
        (SignIn::Oauth { client_id: a, .. }, SignIn::Oauth { client_id: b, .. }) if a == b);
    if !same_app || old.spec.portal_url != spec.portal_url {
        return None;
    }
    match stored.map(|s| &s.sign_in) {
        Some(SignInSecret::OAuth(o)) if CoreToken::at(o.refresh_token_expires_at, now_ms) != CoreToken::Expired => {
            Some(o.clone())
        }
        _ => None,
    }
}

#[tauri::command]
#[specta::specta]
pub async fn save_identity(state: State<'_, Arc<AppState>>, input: IdentityInput) -> UiResult<IdentityView> {
    save(&state, input).await
}

#[tauri::command]
#[specta::specta]
pub async fn remove_identity(state: State<'_, Arc<AppState>>, id: String) -> UiResult<()> {
    state.identities().delete(&id).await?;
    remove_identity_secrets(state.secrets.as_ref(), &id)?;
    state.set_session(&id, None);
    Ok(())
}
