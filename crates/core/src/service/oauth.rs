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

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_browser_that_cannot_open_fails_the_sign_in_at_once() {
        let open: Browser = Arc::new(|_: &Url| Err("no browser is installed".to_owned()));
        let browser = BrowserSignIn { open, wait: Duration::from_secs(60) };
        let started = std::time::Instant::now();
        let err = sign_in_in_browser(&browser, "http://127.0.0.1:9/arcgis", "orgvault-x", Default::default(), false)
            .await
            .expect_err("no browser: no sign-in");
        assert_eq!(
            err.code(),
            crate::ErrorCode::Browser,
            "the UI tells a missing browser from a refused sign-in: {err:?}"
        );
        assert!(err.to_string().contains("no browser is installed"), "the reason reaches the user: {err}");
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the sign-in must not wait for an approval that cannot come"
        );
    }

    #[tokio::test]
    async fn a_bad_url_is_refused_before_any_browser_opens() {
        let open: Browser = Arc::new(|_: &Url| panic!("no browser may open for a bad URL"));
        let browser = BrowserSignIn { open, wait: Duration::from_secs(1) };
        let err =
            sign_in_in_browser(&browser, "not a url", "app", Default::default(), false).await.expect_err("bad URL");
        assert_eq!(err.code(), crate::ErrorCode::InvalidInput, "a bad URL is the user's input: {err:?}");
    }
}
