//! Credential-bearing forms (generateToken's password, OAuth's refresh token) are never resent
//! to another origin when the portal answers with a 307/308 redirect.

use super::*;

/// A portal whose sign-in endpoints redirect (`status`) to a recorder on another port.
async fn redirecting_portal(status: u16) -> (String, Arc<Seen>) {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let other_seen = Arc::new(Seen::default());
    let other = start_server(other_seen.clone(), true).await;
    *seen.redirect_sign_in.lock().expect("lock") = Some((status, format!("{other}/sharing/rest/generateToken")));
    (base, other_seen)
}

fn assert_never_saw(other: &Seen, secret: &str) {
    let bodies = other.bodies.lock().expect("lock").clone();
    let requests = other.requests.lock().expect("lock").clone();
    let all = format!("{bodies:?}{requests:?}");
    assert!(!all.contains(secret), "a credential must never follow a redirect to another origin; it saw: {all}");
}

#[tokio::test]
async fn generate_token_password_is_not_resent_after_307_or_308_to_another_origin() {
    for status in [307, 308] {
        let (base, other) = redirecting_portal(status).await;
        let got = Portal::connect(config(&base, PASSWORD)).await;
        assert!(got.is_err(), "a sign-in redirected to another origin must fail ({status})");
        let err = got.err().map(|e| e.to_string()).unwrap_or_default();
        assert!(!err.contains(PASSWORD), "the error must not carry the password: {err}");
        assert_never_saw(&other, PASSWORD);
    }
}

#[tokio::test]
async fn oauth_refresh_token_is_not_resent_after_a_redirect_to_another_origin() {
    for status in [307, 308] {
        let (base, other) = redirecting_portal(status).await;
        let mut cfg = config(&base, PASSWORD);
        cfg.credentials = Credentials::OAuth {
            client_id: "orgvault-app".into(),
            refresh_token: Secret::new("rt-must-stay-home"),
            refresh_token_expires_at: Some(real_now_ms() + 10 * 86_400_000),
            redirect_uri: "http://127.0.0.1:1/cb".into(),
            on_refresh_token: None,
        };
        let got = Portal::connect(cfg).await;
        assert!(got.is_err(), "an OAuth token request redirected to another origin must fail ({status})");
        assert_never_saw(&other, "rt-must-stay-home");
    }
}

#[tokio::test]
async fn a_remote_plain_http_portal_needs_the_opt_in_and_loopback_does_not() {
    // 192.0.2.1 is TEST-NET-1: never routed. The refusal comes before any request is made.
    let mut cfg = config("http://192.0.2.1:9/portal", PASSWORD);
    cfg.connect_timeout = Duration::from_millis(200);
    let err = Portal::connect(cfg.clone()).await.expect_err("a remote http portal without the opt-in");
    assert!(
        matches!(&err, Error::Config { message } if message.contains("http")),
        "a remote plain-http portal must be refused as a setting, before anything is sent: {err:?}"
    );
    cfg.allow_insecure_http = true;
    let err = Portal::connect(cfg).await.expect_err("nothing answers at TEST-NET-1");
    assert!(!matches!(err, Error::Config { .. }), "with the opt-in the connection is attempted: {err:?}");

    let (_, portal) = mock().await;
    assert!(portal.org_id() == "org1", "a loopback http portal needs no opt-in");
    for file in ["file:///etc/passwd", "ftp://gis.example.com/"] {
        let err = Portal::connect(config(file, PASSWORD)).await.expect_err(file);
        assert!(matches!(err, Error::Config { .. }), "{file} is not a portal address: {err:?}");
    }
}
