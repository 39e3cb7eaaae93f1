//! OAuth sign-in through the system browser (RFC 8252): the portal's authorize page opens in
//! the user's browser, the portal redirects to a one-shot listener on 127.0.0.1, and the code
//! is exchanged (with PKCE) for a refresh token that goes to the vault. SAML-backed accounts
//! take the same path: the portal's authorize page sends the browser on to the identity
//! provider, and the redirect to the loopback listener comes back the same way.
//!
//! The browser is injectable ([`Browser`]) so that tests drive the flow with a plain HTTP
//! client instead of launching one. The authorize URL carries no secret (the PKCE verifier stays
//! here), but it is still not logged: it names the user's organization and app.

use std::sync::Arc;
use std::time::Duration;

use arcgis::{authorize_loopback, AuthorizeOptions, Url};
use orgvault_core::identity::OAuthSecret;

use crate::error::{ErrorCode, UiError, UiResult};

/// Opens a URL for the user to act on. An `Err` is the reason it could not be opened, in
/// words for the user.
pub type Browser = Arc<dyn Fn(&Url) -> Result<(), String> + Send + Sync>;

/// How long "Save and verify" waits for the user to approve OrgVault in the browser.
pub const APPROVAL_WAIT: Duration = Duration::from_secs(300);

/// The user's default browser.
pub fn system() -> Browser {
    Arc::new(|url: &Url| open::that_detached(url.as_str()).map_err(|e| e.to_string()))
}

/// Runs the browser sign-in for `client_id` (the App ID registered in the organization) and
/// answers with the refresh token to keep. Fails at once when the browser cannot be opened,
/// rather than waiting for an approval that cannot come.
pub async fn sign_in(
    browser: &Browser,
    portal_url: &str,
    client_id: &str,
    tls: arcgis::TlsOptions,
    allow_insecure_http: bool,
    wait: Duration,
) -> UiResult<OAuthSecret> {
    let portal_url = Url::parse(portal_url.trim())
        .map_err(|e| UiError::invalid(format!("the organization URL {portal_url:?} is not a URL ({e})")))?;
    // A file:// or javascript: URL, or plain http elsewhere without the opt-in, is refused
    // before the browser opens on it.
    arcgis::check_portal_url(&portal_url, allow_insecure_http)
        .map_err(|e| UiError::invalid(format!("the organization URL is not usable: {e}")))?;
    let options = AuthorizeOptions { timeout: wait, tls, allow_insecure_http, ..AuthorizeOptions::default() };
    let (failed_tx, failed_rx) = tokio::sync::oneshot::channel::<String>();
    let opener = |url: &Url| {
        if let Err(why) = (browser.as_ref())(url) {
            let _ = failed_tx.send(why);
        }
    };
    let flow = authorize_loopback(&portal_url, client_id, &options, opener);
    tokio::pin!(flow);
    let grant = tokio::select! {
        grant = &mut flow => grant?,
        Ok(why) = failed_rx => {
            return Err(UiError::new(
                ErrorCode::Browser,
                format!("OrgVault could not open your web browser for the sign-in ({why})"),
            ))
        }
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
        let browser: Browser = Arc::new(|_: &Url| Err("no browser is installed".to_owned()));
        let started = std::time::Instant::now();
        let err = sign_in(
            &browser,
            "http://127.0.0.1:9/arcgis",
            "orgvault-x",
            Default::default(),
            false,
            Duration::from_secs(60),
        )
        .await
        .expect_err("no browser: no sign-in");
        assert_eq!(err.code, ErrorCode::Browser, "the UI tells a missing browser from a refused sign-in: {err:?}");
        assert!(err.message.contains("no browser is installed"), "the reason reaches the user: {}", err.message);
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "the sign-in must not wait for an approval that cannot come"
        );
    }

    #[tokio::test]
    async fn a_bad_url_is_refused_before_any_browser_opens() {
        let browser: Browser = Arc::new(|_: &Url| panic!("no browser may open for a bad URL"));
        let err = sign_in(&browser, "not a url", "app", Default::default(), false, Duration::from_secs(1))
            .await
            .expect_err("bad URL");
        assert_eq!(err.code, ErrorCode::InvalidInput, "a bad URL is the user's input: {err:?}");
    }
}
