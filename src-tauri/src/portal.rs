//! Signed-in sessions: one per identity, so that jobs do not sign in again. Signing in itself
//! (vault secrets, the identity's and the Settings' headers, the admin check, refresh tokens
//! back to the vault) is the core's [`orgvault_core::Service::connect`].

use arcgis::Portal;
use orgvault_core::identity::Identity;

use crate::error::UiResult;
use crate::state::AppState;

/// The identity's session, signing in with its saved secret when there is none.
pub async fn session(state: &AppState, identity: &Identity) -> UiResult<Portal> {
    if let Some(p) = state.session(&identity.id) {
        return Ok(p);
    }
    let portal = state.service().connect(identity).await?;
    state.set_session(&identity.id, Some(portal.clone()));
    Ok(portal)
}
