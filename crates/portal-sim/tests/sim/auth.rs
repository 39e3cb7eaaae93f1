//! Sign-in: generateToken, token expiry and scope, OAuth2 authorization code with PKCE, refresh and
//! exchange of refresh tokens.

use std::time::Duration;

use base64::Engine;
use portal_sim::SimConfig;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::common::{client, error_code, rest, sign_in, start};

fn no_redirect_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

fn challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

#[tokio::test]
async fn generate_token_signs_in_and_refuses_a_wrong_password() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let me = rest(&http, &org.portal_url, "community/self", Some(&token), &[]).await;
    assert_eq!(me["username"].as_str(), Some(org.admin.username.as_str()), "the token must sign in as its user: {me}");

    let wrong = "definitely-not-the-password";
    let v: Value = http
        .post(format!("{}/sharing/rest/generateToken", org.portal_url))
        .form(&[
            ("username", org.admin.username.as_str()),
            ("password", wrong),
            ("client", "referer"),
            ("referer", "x"),
            ("f", "json"),
        ])
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(error_code(&v), Some(400), "a wrong password is an error body with code 400: {v}");
    assert_eq!(v["error"]["message"], "Unable to generate token.", "Online's message");
    assert_eq!(v["error"]["details"][0], "Invalid username or password.", "Online's detail");
    assert!(!v.to_string().contains(wrong), "the error must not echo the password");
}

#[tokio::test]
async fn tokens_expire_after_the_configured_ttl() {
    let sim = start(SimConfig { token_ttl_s: 2, ..SimConfig::default() }).await;
    let http = client();
    let org = &sim.orgs[0];
    let v: Value = http
        .post(format!("{}/sharing/rest/generateToken", org.portal_url))
        .form(&[
            ("username", org.user.username.as_str()),
            ("password", org.user.password.as_str()),
            ("client", "referer"),
            ("referer", "http://127.0.0.1"),
            ("expiration", "20160"),
            ("f", "json"),
        ])
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    let token = v["token"].as_str().expect("token").to_owned();
    let expires = v["expires"].as_i64().expect("expires in epoch ms");
    let now = portal_sim::auth::now_ms();
    assert!(expires - now <= 2_100, "lifetime must be min(requested two weeks, ttl 2 s): {} ms", expires - now);

    let before = rest(&http, &org.portal_url, "community/self", Some(&token), &[]).await;
    assert_eq!(error_code(&before), None, "a fresh token works: {before}");
    tokio::time::sleep(Duration::from_millis(2_300)).await;
    let after = rest(&http, &org.portal_url, "community/self", Some(&token), &[]).await;
    assert_eq!(error_code(&after), Some(498), "an expired token must answer 498: {after}");
    assert_eq!(after["error"]["message"], "Invalid token.", "Online's message for 498");
}

#[tokio::test]
async fn missing_foreign_and_header_tokens() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let (a, b) = (&sim.orgs[0], &sim.orgs[1]);
    let export_url = |org: &portal_sim::OrgLogin| {
        format!("{}/sharing/rest/content/users/{}/export", org.portal_url, org.admin.username)
    };

    let v: Value =
        http.post(export_url(a)).form(&[("f", "json")]).send().await.expect("reachable").json().await.expect("json");
    assert_eq!(error_code(&v), Some(499), "no token on a protected endpoint must answer 499: {v}");

    let token_a = sign_in(&http, &a.portal_url, &a.admin).await;
    let v: Value = http
        .post(export_url(b))
        .form(&[("f", "json"), ("token", token_a.as_str()), ("itemId", "x"), ("exportFormat", "CSV")])
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(error_code(&v), Some(498), "org A's token on org B's paths must answer 498: {v}");
    let v = rest(&http, &b.portal_url, "community/self", Some(&token_a), &[]).await;
    assert_eq!(error_code(&v), Some(498), "org A's token must not read org B's self: {v}");

    for header in ["X-Esri-Authorization", "Authorization"] {
        let v: Value = http
            .get(format!("{}/sharing/rest/community/self?f=json", a.portal_url))
            .header(header, format!("Bearer {token_a}"))
            .send()
            .await
            .expect("reachable")
            .json()
            .await
            .expect("json");
        assert_eq!(
            v["username"].as_str(),
            Some(a.admin.username.as_str()),
            "a token in {header} must be accepted: {v}"
        );
    }
    let v = rest(&http, &a.portal_url, "community/self", Some("not-a-real-token"), &[]).await;
    assert_eq!(error_code(&v), Some(498), "an unknown token must answer 498, not fall back to anonymous: {v}");
}

#[tokio::test]
async fn the_token_header_counts_on_get_only_unless_switched_to_everywhere() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let create_folder = format!("{}/sharing/rest/content/users/{}/createFolder", org.portal_url, org.admin.username);
    let post_with_header = |title: &'static str| {
        http.post(&create_folder)
            .header("X-Esri-Authorization", format!("Bearer {token}"))
            .form(&[("f", "json"), ("title", title)])
            .send()
    };
    let v: Value = post_with_header("Header only").await.expect("reachable").json().await.expect("json");
    assert_eq!(
        error_code(&v),
        Some(499),
        "a POST whose token is only in the header must answer Token Required by default: {v}"
    );
    assert!(sim.state.auth.header_tokens_ignored() >= 1, "the ignored header is counted for tests");
    let v: Value = http
        .post(&create_folder)
        .form(&[("f", "json"), ("title", "In the form"), ("token", token.as_str())])
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(v["success"], true, "a POST with the token in its form body is accepted: {v}");

    let switched: Value = http
        .post(format!("{}/_sim/auth/token-header", sim.base_url))
        .json(&serde_json::json!({"everywhere": true}))
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(switched["everywhere"], true, "the control switches the rule: {switched}");
    let v: Value = post_with_header("Header everywhere").await.expect("reachable").json().await.expect("json");
    assert_eq!(v["success"], true, "with the switch a POST's header token is honoured: {v}");
}

/// Runs `authorize` (auto-approve) and answers the code from the redirect.
async fn authorize(
    http: &reqwest::Client,
    portal_url: &str,
    client_id: &str,
    redirect: &str,
    verifier: &str,
) -> String {
    let resp = http
        .get(format!("{portal_url}/sharing/rest/oauth2/authorize"))
        .query(&[
            ("client_id", client_id),
            ("response_type", "code"),
            ("redirect_uri", redirect),
            ("code_challenge", challenge(verifier).as_str()),
            ("code_challenge_method", "S256"),
            ("expiration", "20160"),
            ("state", "st4te"),
        ])
        .send()
        .await
        .expect("authorize reachable");
    assert_eq!(resp.status(), 302, "auto-approve must redirect back to the app");
    let location = resp.headers()["location"].to_str().expect("ascii location").to_owned();
    let url = url::Url::parse(&location).expect("absolute redirect");
    assert!(location.starts_with(redirect), "the redirect must go to the registered loopback URI: {location}");
    let pairs: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    assert!(pairs.contains(&("state".into(), "st4te".into())), "state must come back unchanged: {location}");
    pairs.into_iter().find(|(k, _)| k == "code").map(|(_, v)| v).expect("a code in the redirect")
}

async fn token_call(http: &reqwest::Client, portal_url: &str, form: &[(&str, &str)]) -> Value {
    http.post(format!("{portal_url}/sharing/rest/oauth2/token"))
        .form(form)
        .send()
        .await
        .expect("token endpoint reachable")
        .json()
        .await
        .expect("json")
}

#[tokio::test]
async fn oauth_code_pkce_refresh_and_exchange() {
    let sim = start(SimConfig::default()).await;
    let http = no_redirect_client();
    let org = &sim.orgs[0];
    let client_id = format!("orgvault-{}", org.url_key);
    let redirect = "http://127.0.0.1:49152/callback";
    let verifier = "a-verifier-of-enough-length-0123456789-abcdefghijklmnop";

    let code = authorize(&http, &org.portal_url, &client_id, redirect, verifier).await;
    let wrong = token_call(
        &http,
        &org.portal_url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", &client_id),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", "the-wrong-verifier"),
            ("f", "json"),
        ],
    )
    .await;
    assert_eq!(wrong["error"]["error"], "invalid_request", "a wrong PKCE verifier must be refused: {wrong}");
    assert!(wrong.get("access_token").is_none(), "no token for a wrong verifier");

    let code = authorize(&http, &org.portal_url, &client_id, redirect, verifier).await;
    let form = [
        ("grant_type", "authorization_code"),
        ("client_id", client_id.as_str()),
        ("code", code.as_str()),
        ("redirect_uri", redirect),
        ("code_verifier", verifier),
        ("f", "json"),
    ];
    let ok = token_call(&http, &org.portal_url, &form).await;
    let access =
        ok["access_token"].as_str().unwrap_or_else(|| panic!("the right verifier must give a token: {ok}")).to_owned();
    let refresh = ok["refresh_token"].as_str().expect("refresh_token").to_owned();
    assert_eq!(ok["username"].as_str(), Some(org.admin.username.as_str()), "auto-approve signs in as the org's admin");
    assert!(
        ok["expires_in"].as_u64().is_some_and(|s| s > 0 && s <= 1800),
        "access tokens live at most 30 minutes: {ok}"
    );
    assert!(ok["refresh_token_expires_in"].as_u64().is_some(), "refresh_token_expires_in is answered");
    let me = rest(&http, &org.portal_url, "community/self", Some(&access), &[]).await;
    assert_eq!(me["username"].as_str(), Some(org.admin.username.as_str()), "the OAuth access token works");

    let reused = token_call(&http, &org.portal_url, &form).await;
    assert!(reused.get("access_token").is_none() && reused["error"]["code"] == 400, "a code is single-use: {reused}");

    let refreshed = token_call(
        &http,
        &org.portal_url,
        &[("grant_type", "refresh_token"), ("client_id", &client_id), ("refresh_token", &refresh), ("f", "json")],
    )
    .await;
    let access2 =
        refreshed["access_token"].as_str().unwrap_or_else(|| panic!("refresh_token grant gives a token: {refreshed}"));
    assert_ne!(access2, access, "refreshing must mint a new access token");
    assert!(refreshed.get("refresh_token").is_none(), "refresh_token grant answers an access token only");

    let exchanged = token_call(
        &http,
        &org.portal_url,
        &[
            ("grant_type", "exchange_refresh_token"),
            ("client_id", &client_id),
            ("redirect_uri", redirect),
            ("refresh_token", &refresh),
            ("f", "json"),
        ],
    )
    .await;
    let refresh2 = exchanged["refresh_token"]
        .as_str()
        .unwrap_or_else(|| panic!("exchange gives a refresh token: {exchanged}"))
        .to_owned();
    assert_ne!(refresh2, refresh, "exchange must mint a new refresh token");
    let old = token_call(
        &http,
        &org.portal_url,
        &[("grant_type", "refresh_token"), ("client_id", &client_id), ("refresh_token", &refresh), ("f", "json")],
    )
    .await;
    assert_eq!(
        old["error"]["error"], "invalid_request",
        "the old refresh token must stop working after an exchange: {old}"
    );
    let new = token_call(
        &http,
        &org.portal_url,
        &[("grant_type", "refresh_token"), ("client_id", &client_id), ("refresh_token", &refresh2), ("f", "json")],
    )
    .await;
    assert!(new["access_token"].is_string(), "the new refresh token works: {new}");
}

#[tokio::test]
async fn authorize_refuses_unknown_apps_and_redirects() {
    let sim = start(SimConfig::default()).await;
    let http = no_redirect_client();
    let org = &sim.orgs[0];
    let client_id = format!("orgvault-{}", org.url_key);
    let call = |client_id: String, redirect: &'static str| {
        let http = http.clone();
        let url = format!("{}/sharing/rest/oauth2/authorize", org.portal_url);
        async move {
            http.get(url)
                .query(&[("client_id", client_id.as_str()), ("response_type", "code"), ("redirect_uri", redirect)])
                .send()
                .await
                .expect("reachable")
        }
    };
    let r = call("nobody".into(), "http://127.0.0.1:5000/cb").await;
    assert_eq!(r.status(), 400, "an unknown client_id gets an error page, not a redirect");
    let r = call(client_id.clone(), "https://evil.example.com/cb").await;
    assert_eq!(r.status(), 400, "an unregistered redirect_uri must never receive a code");
    let r = call(client_id.clone(), "urn:ietf:wg:oauth:2.0:oob").await;
    assert_eq!(r.status(), 200, "out-of-band shows the code on a page");
    assert!(r.text().await.expect("page").contains("id=\"code\""), "the oob page shows the code");
}

#[tokio::test]
async fn approve_page_checks_credentials() {
    let sim = start(SimConfig { oauth_auto_approve: false, ..SimConfig::default() }).await;
    let http = no_redirect_client();
    let org = &sim.orgs[0];
    let client_id = format!("orgvault-{}", org.url_key);
    let url = format!("{}/sharing/rest/oauth2/authorize", org.portal_url);
    let base =
        [("client_id", client_id.as_str()), ("response_type", "code"), ("redirect_uri", "http://localhost:8080/cb")];
    // localhost is not registered for this app (only 127.0.0.1), so use 127.0.0.1.
    let base_ok =
        [("client_id", client_id.as_str()), ("response_type", "code"), ("redirect_uri", "http://127.0.0.1:8080/cb")];
    let r = http.get(&url).query(&base).send().await.expect("reachable");
    assert_eq!(r.status(), 400, "a loopback host that is not registered is refused");
    let page = http.get(&url).query(&base_ok).send().await.expect("reachable");
    assert_eq!(page.status(), 200, "without auto-approve the sign-in page is shown");
    assert!(page.text().await.expect("html").contains("name=\"password\""), "the page asks for a password");

    let mut wrong = base_ok.to_vec();
    wrong.extend([("username", org.admin.username.as_str()), ("password", "nope")]);
    let r = http.post(&url).form(&wrong).send().await.expect("reachable");
    assert_eq!(r.status(), 200, "wrong credentials show the page again");
    assert!(r.text().await.expect("html").contains("Invalid username or password."), "with the error");

    let mut right = base_ok.to_vec();
    right.extend([("username", org.user.username.as_str()), ("password", org.user.password.as_str())]);
    let r = http.post(&url).form(&right).send().await.expect("reachable");
    assert_eq!(r.status(), 302, "right credentials redirect with a code");
    let location = r.headers()["location"].to_str().expect("ascii").to_owned();
    assert!(location.starts_with("http://127.0.0.1:8080/cb?code="), "the code goes to the app: {location}");
}

/// Signs in through OAuth (auto-approve) and answers `(access token, refresh token, the
/// refresh token's lifetime in seconds)`.
async fn oauth_sign_in(http: &reqwest::Client, portal_url: &str, client_id: &str) -> (String, String, u64) {
    let (redirect, verifier) =
        ("http://127.0.0.1:49152/callback", "a-verifier-of-enough-length-0123456789-abcdefghijklmnop");
    let code = authorize(http, portal_url, client_id, redirect, verifier).await;
    let ok = token_call(
        http,
        portal_url,
        &[
            ("grant_type", "authorization_code"),
            ("client_id", client_id),
            ("code", &code),
            ("redirect_uri", redirect),
            ("code_verifier", verifier),
            ("f", "json"),
        ],
    )
    .await;
    (
        ok["access_token"].as_str().expect("access_token").to_owned(),
        ok["refresh_token"].as_str().expect("refresh_token").to_owned(),
        ok["refresh_token_expires_in"].as_u64().expect("refresh_token_expires_in"),
    )
}

async fn sim_post(http: &reqwest::Client, base_url: &str, path: &str, body: Value) -> Value {
    http.post(format!("{base_url}{path}")).json(&body).send().await.expect("control").json().await.expect("json")
}

#[tokio::test]
async fn account_controls_revoke_tokens_change_passwords_demote_admins_and_shorten_refresh_tokens() {
    let sim = start(SimConfig::default()).await;
    let http = no_redirect_client();
    let org = &sim.orgs[0];
    let client_id = format!("orgvault-{}", org.url_key);
    let base = sim.base_url.trim_end_matches('/').to_owned();
    let admin = &org.admin.username;

    let set = sim_post(&http, &base, "/_sim/auth/refresh-token-ttl", serde_json::json!({"seconds": 7})).await;
    assert_eq!(set["seconds"], 7, "the control call answers the new lifetime: {set}");
    let (access, refresh, lifetime) = oauth_sign_in(&http, &org.portal_url, &client_id).await;
    assert_eq!(lifetime, 7, "a refresh token issued after the switch lives as long as it says");

    let revoked =
        sim_post(&http, &base, &format!("/_sim/orgs/{}/users/{admin}/revoke-tokens", org.url_key), Value::Null).await;
    assert_eq!(revoked["revoked"], true, "{revoked}");
    let me = rest(&http, &org.portal_url, "portals/self", Some(&access), &[]).await;
    assert_eq!(error_code(&me), Some(498), "a revoked access token answers 498 Invalid token: {me}");
    assert_eq!(me["error"]["message"], "Invalid token.", "{me}");
    let refused = token_call(
        &http,
        &org.portal_url,
        &[("grant_type", "refresh_token"), ("client_id", &client_id), ("refresh_token", &refresh), ("f", "json")],
    )
    .await;
    assert_eq!(refused["error"]["code"], 400, "a revoked refresh token is refused: {refused}");
    assert_eq!(refused["error"]["error_description"], "Invalid refresh_token", "{refused}");

    let token = sign_in(&http, &org.portal_url, &org.admin).await;
    let path = format!("/_sim/orgs/{}/users/{admin}/password", org.url_key);
    let changed = sim_post(&http, &base, &path, serde_json::json!({"password": "a-new-Passw0rd"})).await;
    assert_eq!(changed["changed"], true, "{changed}");
    let me = rest(&http, &org.portal_url, "portals/self", Some(&token), &[]).await;
    assert_eq!(error_code(&me), Some(498), "a password change signs the user out everywhere: {me}");
    let old: Value = http
        .post(format!("{}/sharing/rest/generateToken", org.portal_url))
        .form(&[("username", admin.as_str()), ("password", org.admin.password.as_str()), ("f", "json")])
        .send()
        .await
        .expect("generateToken")
        .json()
        .await
        .expect("json");
    assert_eq!(old["error"]["message"], "Unable to generate token.", "the old password is refused: {old}");
    assert_eq!(old["error"]["details"][0], "Invalid username or password.", "{old}");

    let new_login = portal_sim::Login { username: admin.clone(), password: "a-new-Passw0rd".into() };
    let token = sign_in(&http, &org.portal_url, &new_login).await;
    let demoted =
        sim_post(&http, &base, &format!("/_sim/orgs/{}/users/{admin}/demote", org.url_key), Value::Null).await;
    assert_eq!(demoted["demoted"], true, "{demoted}");
    let me = rest(&http, &org.portal_url, "portals/self", Some(&token), &[]).await;
    assert_eq!(me["user"]["role"], "org_user", "a demoted admin's own token now shows a plain user: {me}");
    let privileges = me["user"]["privileges"].as_array().expect("privileges");
    assert!(
        !privileges.iter().any(|p| p.as_str().is_some_and(|p| p.starts_with("portal:admin:"))),
        "a plain user holds no admin privilege: {me}"
    );
}
