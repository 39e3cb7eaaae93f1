//! Signing in for an identity with its secrets from the vault, the identity's own headers plus
//! those of Settings. A session is kept per identity so that jobs do not sign in again.

use std::sync::Arc;

use arcgis::Portal;
use orgvault_core::identity::{portal_config, Identity, IdentitySecrets};
use orgvault_core::scan::REQUIRED_PRIVILEGES;

use crate::error::{UiError, UiResult};
use crate::state::AppState;

/// The identity's session, signing in with its saved secret when there is none.
pub async fn session(state: &AppState, identity: &Identity) -> UiResult<Portal> {
    if let Some(p) = state.session(&identity.id) {
        return Ok(p);
    }
    let secrets = IdentitySecrets::load(state.secrets.as_ref(), identity)?.ok_or_else(|| {
        UiError::new(
            "no_secret",
            format!("OrgVault has no saved sign-in for {}; edit the identity and save it again", identity.spec.name),
        )
    })?;
    let mut cfg = portal_config(&identity.spec, &secrets.sign_in, Arc::new(arcgis::SystemClock))
        .map_err(|e| UiError::new(e.code(), e.to_string()))?;
    cfg.custom_headers.extend(state.settings().headers);
    let portal = Portal::connect(cfg).await?;
    portal.require_admin(REQUIRED_PRIVILEGES)?;
    state.set_session(&identity.id, Some(portal.clone()));
    Ok(portal)
}
