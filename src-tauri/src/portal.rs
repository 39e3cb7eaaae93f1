//! Signing in for an identity with its secrets from the vault, the identity's own headers plus
//! those of Settings. A session is kept per identity so that jobs do not sign in again; refresh
//! tokens the portal issues in exchange go back to the vault.

use std::sync::Arc;

use arcgis::Portal;
use orgvault_core::identity::{portal_config, save_refresh_token, Identity, IdentitySecrets, OAuthSecret};
use orgvault_core::scan::REQUIRED_PRIVILEGES;

use crate::error::{ErrorCode, UiError, UiResult};
use crate::state::AppState;

/// The identity's session, signing in with its saved secret when there is none.
pub async fn session(state: &AppState, identity: &Identity) -> UiResult<Portal> {
    if let Some(p) = state.session(&identity.id) {
        return Ok(p);
    }
    let secrets = IdentitySecrets::load(state.secrets.as_ref(), identity)?.ok_or_else(|| {
        UiError::new(
            ErrorCode::NoSecret,
            format!("OrgVault has no saved sign-in for {}; edit the identity and save it again", identity.spec.name),
        )
    })?;
    let mut cfg = portal_config(&identity.spec, &secrets, Arc::new(arcgis::SystemClock))
        .map_err(|e| UiError::new(e.code(), e.to_string()))?;
    let settings_headers = crate::settings::header_values(state.secrets.as_ref())?;
    cfg.custom_headers.extend(settings_headers.iter().map(|(n, v)| (n.clone(), v.expose().to_owned())));
    if let arcgis::Credentials::OAuth { on_refresh_token, redirect_uri, .. } = &mut cfg.credentials {
        let store = state.secrets.clone();
        // The portal may refuse the old refresh token once it has issued a new one, so the
        // vault must hold the newest before the next start.
        let (identity_id, redirect_uri) = (identity.id.clone(), redirect_uri.clone());
        *on_refresh_token = Some(Arc::new(move |t: arcgis::NewRefreshToken| {
            let secret = OAuthSecret {
                refresh_token: t.refresh_token.expose().to_owned(),
                refresh_token_expires_at: t.expires_at,
                redirect_uri: redirect_uri.clone(),
            };
            if let Err(e) = save_refresh_token(store.as_ref(), &identity_id, &secret) {
                tracing::error!(identity = %identity_id, "a renewed sign-in could not be saved: {e}");
            }
        }));
    }
    let portal = Portal::connect(cfg).await?;
    portal.require_admin(REQUIRED_PRIVILEGES)?;
    state.set_session(&identity.id, Some(portal.clone()));
    Ok(portal)
}
