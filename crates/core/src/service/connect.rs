//! Signing in as a saved identity, the one way every front end does it.

use std::sync::Arc;

use arcgis::{Credentials, NewRefreshToken, Portal};

use super::{Service, ServiceError};
use crate::identity::{portal_config, save_refresh_token, Identity, IdentitySecrets, OAuthSecret};
use crate::scan::REQUIRED_PRIVILEGES;

impl Service {
    /// Signs in as `identity` with its secrets from the vault. The requests carry the
    /// identity's own headers and then those of Settings, and trust what its TLS options say
    /// (an extra CA file, invalid certificates on a test portal). An account that cannot back
    /// up the whole organization is refused (`not_admin`). A refresh token the portal issues
    /// in exchange goes to the vault at once: the portal may refuse the old one from then on.
    pub async fn connect(&self, identity: &Identity) -> Result<Portal, ServiceError> {
        let secrets =
            IdentitySecrets::load(self.secrets.as_ref(), identity)?.ok_or_else(|| ServiceError::NoSecret {
                identity: identity.spec.name.clone(),
                what: "sign-in",
                fix: "edit the identity and save it again",
            })?;
        let mut cfg = portal_config(&identity.spec, &secrets, Arc::new(arcgis::SystemClock))?;
        let settings = super::settings_header_values(self.secrets.as_ref())?;
        cfg.custom_headers.extend(settings.iter().map(|(n, v)| (n.clone(), v.expose().to_owned())));
        if let Credentials::OAuth { on_refresh_token, redirect_uri, .. } = &mut cfg.credentials {
            let (store, identity_id, redirect_uri) = (self.secrets.clone(), identity.id.clone(), redirect_uri.clone());
            *on_refresh_token = Some(Arc::new(move |t: NewRefreshToken| {
                let secret = OAuthSecret {
                    refresh_token: t.refresh_token.expose().to_owned(),
                    refresh_token_expires_at: t.expires_at,
                    redirect_uri: redirect_uri.clone(),
                };
                if let Err(e) = save_refresh_token(store.as_ref(), &identity_id, &secret) {
                    tracing::error!(identity = %identity_id, "a renewed sign-in could not be saved in the vault: {e}");
                }
            }));
        }
        let portal = Portal::connect(cfg).await?;
        portal.require_admin(REQUIRED_PRIVILEGES)?;
        tracing::info!(identity = %identity.id, org = portal.org_id(), "signed in as a saved identity");
        Ok(portal)
    }
}
