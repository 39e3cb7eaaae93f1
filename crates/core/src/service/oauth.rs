//! OAuth sign-in through a web browser (RFC 8252): the portal's authorize page opens in the
//! user's browser, the portal redirects to a one-shot listener on 127.0.0.1, and the code is
//! exchanged (with PKCE) for a refresh token. SAML-backed accounts take the same path: the
//! authorize page sends the browser on to the identity provider and back.
//!
//! Opening the browser is the front end's part ([`Browser`]): the desktop app opens the
//! system browser, a test follows the redirect with an HTTP client. The authorize URL carries
//! no secret (the PKCE verifier stays here), but it is not logged: it names the organization.

use std::sync::Arc;
use std::time::Duration;

use arcgis::{authorize_loopback, AuthorizeOptions, Url};

use super::ServiceError;
use crate::identity::OAuthSecret;

/// Opens a URL for the user to act on; an `Err` is the reason it could not be opened, in words
/// for the user.
pub type Browser = Arc<dyn Fn(&Url) -> Result<(), String> + Send + Sync>;

/// How a front end lets the user sign in through a browser: how to open it, and how long to
/// wait for the user's approval.
#[derive(Clone)]
pub struct BrowserSignIn {
    pub open: Browser,
    pub wait: Duration,
}

/// Runs the browser sign-in for `client_id` (the App ID registered in the organization) and
/// answers with the refresh token to keep. Fails at once (`browser`) when the browser cannot
/// be opened, rather than waiting for an approval that cannot come; a bad or plain-http URL
/// (without the opt-in) is refused before any browser opens.
pub async fn sign_in_in_browser(
    browser: &BrowserSignIn,
    portal_url: &str,
    client_id: &str,
    tls: arcgis::TlsOptions,
    allow_insecure_http: bool,
) -> Result<OAuthSecret, ServiceError> {
    let invalid = |m: String| ServiceError::Core(crate::Error::InvalidInput(m));
    let portal_url = Url::parse(portal_url.trim())
        .map_err(|e| invalid(format!("the organization URL {portal_url:?} is not a URL ({e})")))?;
    arcgis::check_portal_url(&portal_url, allow_insecure_http)
        .map_err(|e| invalid(format!("the organization URL is not usable: {e}")))?;
    let options = AuthorizeOptions { timeout: browser.wait, tls, allow_insecure_http, ..AuthorizeOptions::default() };
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<String>();
    let opener = |url: &Url| {
        if let Err(why) = (browser.open.as_ref())(url) {
            let _ = failed_tx.send(why);
        }
    };
    let flow = authorize_loopback(&portal_url, client_id, &options, opener);
    tokio::pin!(flow);
    let grant = tokio::select! {
        grant = &mut flow => grant?,
        Ok(why) = failed_rx => return Err(ServiceError::Browser(why)),
    };
    tracing::info!(user = %grant.username, "signed in through the browser");
    Ok(OAuthSecret {
        refresh_token: grant.refresh_token.expose().to_owned(),
        refresh_token_expires_at: grant.refresh_token_expires_at,
        redirect_uri: grant.redirect_uri,
    })
}
