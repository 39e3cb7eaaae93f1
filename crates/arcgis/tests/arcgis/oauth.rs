//! The OAuth loopback flow against the simulated portal's auto-approving authorize endpoint.

use std::time::Duration;

use arcgis::{authorize_loopback, AuthorizeOptions, Credentials, Portal, Url};
use portal_sim::SimConfig;

use crate::{config_for, sim};

#[tokio::test]
async fn loopback_authorization_yields_tokens_that_sign_in() {
    arcgis::install_crypto_provider();
    let sim = sim(SimConfig { oauth_auto_approve: true, ..SimConfig::default() }).await;
    let org = &sim.orgs[0];
    let portal_url = Url::parse(&org.portal_url).expect("url");
    let client_id = format!("orgvault-{}", org.url_key);
    let opts = AuthorizeOptions { timeout: Duration::from_secs(20), ..AuthorizeOptions::default() };
    let grant = authorize_loopback(&portal_url, &client_id, &opts, |url: &Url| {
        assert!(
            url.query().is_some_and(|q| q.contains("code_challenge_method=S256")),
            "the authorize URL must ask for PKCE S256"
        );
        let url = url.clone();
        // Stands in for the system browser: follows the redirect to the loopback listener.
        tokio::spawn(async move {
            let page = reqwest::get(url).await.expect("the browser reaches the portal").text().await.expect("page");
            assert!(page.contains("close this window"), "the browser must be told it may close the window: {page}");
        });
    })
    .await
    .expect("the loopback flow must complete with auto-approve");
    assert!(!grant.access_token.is_empty() && !grant.refresh_token.is_empty(), "both tokens must be issued");
    assert!(!grant.username.is_empty(), "the portal names the signed-in user");
    assert!(grant.redirect_uri.starts_with("http://127.0.0.1:"), "the redirect is a loopback URI");
    assert!(
        !format!("{grant:?}").contains(grant.refresh_token.expose()),
        "Debug of the grant must hide the refresh token"
    );

    let mut cfg = config_for(&sim, 0, &org.admin);
    cfg.credentials = Credentials::OAuth {
        client_id,
        refresh_token: grant.refresh_token.clone(),
        refresh_token_expires_at: grant.refresh_token_expires_at,
        redirect_uri: grant.redirect_uri.clone(),
        on_refresh_token: None,
    };
    let portal = Portal::connect(cfg).await.expect("the refresh token from the flow must sign in");
    assert_eq!(
        portal.self_info().user.as_ref().map(|u| u.username.clone()),
        Some(grant.username.clone()),
        "the OAuth session belongs to the user who approved"
    );
}
