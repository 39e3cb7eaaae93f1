//! Identities: list, "Save and verify", storage check, removal, and the token watch's checks.

use std::sync::Arc;

use arcgis::Secret;
use orgvault_core::identity::{
    credential_state, IdentitySpec, PortalKind, SignIn, Storage, StorageCheck, TlsOptions, TokenState as CoreToken,
};
use orgvault_core::service::{BrowserSignIn, IdentityDraft};
use orgvault_core::token_watch::{self, IdentityCheck, IdentityMail, TokenWatch};
use orgvault_core::vault::remove_identity_secrets;
use orgvault_core::Clock;
use tauri::State;

use crate::error::{UiError, UiResult};
use crate::secrets::VaultSource;
use crate::state::AppState;
use crate::views::{AppInfo, IdentityInput, IdentitySaved, IdentityView, SignInKind, StorageInput, TokenState};

#[tauri::command]
#[specta::specta]
pub async fn app_info(state: State<'_, Arc<AppState>>) -> UiResult<AppInfo> {
    Ok(AppInfo {
        version: orgvault_build_info::VERSION_LINE.to_owned(),
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

/// The engine's storage and its secret (Azure's connection string, S3's secret access key),
/// kept apart.
fn storage_of(input: &StorageInput) -> (Storage, Option<Secret>) {
    match input {
        StorageInput::Local { path } => (Storage::Local { path: path.trim().to_owned() }, None),
        StorageInput::Azure { connection_string, container, cache_dir } => (
            Storage::Azure { container: container.trim().to_owned(), cache_dir: cache_dir.trim().to_owned() },
            Some(Secret::new(connection_string.clone())),
        ),
        StorageInput::S3 { url, access_key_id, secret_access_key, cache_dir } => (
            Storage::S3 {
                url: url.trim().to_owned(),
                access_key_id: access_key_id.trim().to_owned(),
                cache_dir: cache_dir.trim().to_owned(),
            },
            Some(Secret::new(secret_access_key.clone())),
        ),
    }
}

#[tauri::command]
#[specta::specta]
pub async fn check_storage(
    state: State<'_, Arc<AppState>>,
    storage: StorageInput,
    identity_id: Option<String>,
) -> UiResult<StorageCheck> {
    check_entered(&state, &storage, identity_id.as_deref()).await
}

/// Checks a storage as entered while `identity_id` (if any) is edited: an empty secret field
/// means the stored one ([`orgvault_core::Service::check_storage_entered`]).
pub async fn check_entered(
    state: &AppState,
    storage: &StorageInput,
    identity_id: Option<&str>,
) -> UiResult<StorageCheck> {
    let (storage, secret) = storage_of(storage);
    Ok(state.service().check_storage_entered(&storage, secret, identity_id).await?)
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

/// "Save and verify" ([`orgvault_core::Service::save_identity_with_repository`]): nothing is
/// stored when any step fails. An OAuth identity signs in through the browser when it must; a
/// repository password sets up an encrypted repository, whose recovery key is answered once.
pub async fn save(state: &AppState, input: IdentityInput) -> UiResult<IdentitySaved> {
    let mut spec = spec_of(&input)?;
    if let Some(id) = &input.id {
        // The form has no CA or certificate options: an edit keeps those set with the CLI.
        let old = state.identity(id).await?;
        spec.tls = TlsOptions { allow_insecure_http: spec.tls.allow_insecure_http, ..old.spec.tls };
    }
    let draft = IdentityDraft {
        id: input.id.clone(),
        spec,
        password: input.password.clone().map(Secret::new),
        storage_secret: storage_of(&input.storage).1,
        header_values: None,
    };
    let browser = BrowserSignIn { open: state.browser.clone(), wait: state.approval_wait };
    let password = input.repository_password.clone().map(Secret::new);
    let (saved, setup) = state.service().save_identity_with_repository(draft, Some(&browser), password).await?;
    // The next job signs in afresh with what was just saved.
    state.set_session(&saved.identity.id, None);
    let recovery_key = setup.and_then(|s| s.recovery_key).map(|k| k.expose().to_owned());
    Ok(IdentitySaved { identity: view(state, &saved.identity), recovery_key })
}

#[tauri::command]
#[specta::specta]
pub async fn save_identity(state: State<'_, Arc<AppState>>, input: IdentityInput) -> UiResult<IdentitySaved> {
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

/// The token watch's last check of every identity that was checked: its finding and time.
#[tauri::command]
#[specta::specta]
pub async fn identity_checks(state: State<'_, Arc<AppState>>) -> UiResult<Vec<IdentityCheck>> {
    Ok(token_watch::last_checks(&state.db).await?)
}

/// Checks one identity now (sign-in, renewal of an OAuth sign-in, admin role), as the token
/// watch does every few hours; a warning is notified and e-mailed once.
#[tauri::command]
#[specta::specta]
pub async fn check_identity(
    app: tauri::AppHandle,
    state: State<'_, Arc<AppState>>,
    identity_id: String,
) -> UiResult<IdentityCheck> {
    let service = state.service();
    let identity = service.identities().get(&identity_id).await?;
    let notifier = crate::scheduler::AppNotifier(app);
    Ok(TokenWatch::new(&service, &state.clock, &notifier).check(&identity).await?)
}

/// Whom the identity's token warnings and, by default, its on-demand job results go to.
#[tauri::command]
#[specta::specta]
pub async fn identity_mail(state: State<'_, Arc<AppState>>, identity_id: String) -> UiResult<IdentityMail> {
    Ok(token_watch::identity_mail(&state.db, &identity_id).await?)
}

/// Saves the identity's recipients and on-demand default (each address checked).
#[tauri::command]
#[specta::specta]
pub async fn set_identity_mail(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    mail: IdentityMail,
) -> UiResult<()> {
    Ok(token_watch::set_identity_mail(&state.db, &state.clock, &identity_id, &mail).await?)
}
