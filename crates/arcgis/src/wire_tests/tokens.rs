//! Token renewal: after 498, ahead of expiry (single-flight), OAuth refresh-token exchange.

use super::*;

#[tokio::test]
async fn rejected_token_is_renewed_and_the_request_repeated() {
    let (seen, portal) = mock().await;
    assert_eq!(seen.tokens_issued.load(Ordering::SeqCst), 1, "connect signs in once");
    let v = portal.get_json("t/revoke-once", &[]).await.expect("a revoked token must be renewed invisibly");
    assert_eq!(v["token_seen"], "tok-2", "the repeated request must carry the new token");
    assert_eq!(seen.tokens_issued.load(Ordering::SeqCst), 2, "exactly one renewal after a 498");
    assert_eq!(seen.hits("/sharing/rest/t/revoke-once"), 2, "exactly one repeat after a 498");

    let got = portal.get_json("t/always498", &[]).await;
    assert!(matches!(got, Err(Error::InvalidToken)), "a token refused again must surface as InvalidToken, got {got:?}");
    assert_eq!(
        seen.hits("/sharing/rest/t/always498"),
        1 + crate::auth::MAX_TOKEN_RENEWALS as u32,
        "a token refused every time causes a bounded number of repeats, never a loop"
    );
    assert_eq!(
        seen.tokens_issued.load(Ordering::SeqCst),
        2 + crate::auth::MAX_TOKEN_RENEWALS as u32,
        "one renewal per rejection"
    );
}

#[tokio::test]
async fn a_request_that_meets_a_rejected_token_again_is_sent_with_a_fresh_one_again() {
    let (seen, portal) = mock().await;
    let v = portal.get_json("t/revoke/2", &[]).await.expect("a token rejected twice in a row must be renewed twice");
    assert_eq!(v["token_seen"], "tok-3", "the request that passed carries the second renewed token");
    assert_eq!(seen.hits("/sharing/rest/t/revoke/2"), 3, "sent three times: two rejections, then success");
    let posted = portal.post_form("t/revoke/1", &[("title", "x")], false).await;
    assert!(posted.is_ok(), "a write refused for its token was not carried out and is sent again: {posted:?}");
}

#[tokio::test]
async fn a_post_carries_the_token_in_its_form_and_a_get_in_its_header() {
    let (seen, portal) = mock().await;
    portal.post_form("t/ok", &[("title", "x")], false).await.expect("a POST with its token in the form is accepted");
    portal.get_json("t/ok", &[]).await.expect("a GET with its token in the header is accepted");
    let requests = seen.requests.lock().expect("lock").clone();
    let bodies: Vec<_> = requests.iter().filter(|(p, _, _)| p == "/sharing/rest/t/ok").collect();
    assert_eq!(bodies.len(), 2, "both requests reached the mock");
    let (_, post_headers, post_query) = bodies[0];
    assert!(bearer(post_headers).is_none(), "a POST does not rely on the token header (documented for GET only)");
    assert!(!post_query.contains("token"), "nor carries the token in its URL");
    let (_, get_headers, get_query) = bodies[1];
    assert!(bearer(get_headers).is_some(), "a GET carries the token in X-Esri-Authorization");
    assert!(!get_query.contains("token"), "never in its URL");
}

#[tokio::test]
async fn expired_token_is_renewed_single_flight() {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let clock = Arc::new(TestClock(AtomicI64::new(real_now_ms())));
    let mut cfg = config(&base, PASSWORD);
    cfg.clock = clock.clone();
    cfg.max_concurrency = 32;
    cfg.initial_concurrency = 32;
    let portal = Portal::connect(cfg).await.expect("connect");
    seen.token_delay_ms.store(200, Ordering::SeqCst);
    clock.0.fetch_add(2 * 3_600_000, Ordering::SeqCst);
    let calls = (0..20).map(|_| {
        let p = portal.clone();
        tokio::spawn(async move { p.get_json("t/ok", &[]).await })
    });
    for c in futures::future::join_all(calls).await {
        c.expect("task").expect("every call must succeed with the renewed token");
    }
    assert_eq!(
        seen.tokens_issued.load(Ordering::SeqCst),
        2,
        "20 concurrent calls with an expired token must cause ONE renewal"
    );
    assert_eq!(portal.token_renewals(), 2);
}

#[tokio::test]
async fn oauth_refresh_token_is_exchanged_when_due_and_reported() {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    seen.refresh_tokens.lock().expect("lock").insert("rt-initial".into());
    let reported: Arc<Mutex<Vec<crate::NewRefreshToken>>> = Arc::default();
    let sink_store = reported.clone();
    let clock = Arc::new(TestClock(AtomicI64::new(real_now_ms())));
    let mut cfg = config(&base, PASSWORD);
    cfg.clock = clock.clone();
    cfg.credentials = Credentials::OAuth {
        client_id: "orgvault-app".into(),
        refresh_token: Secret::new("rt-initial"),
        refresh_token_expires_at: None,
        redirect_uri: "http://127.0.0.1/callback".into(),
        on_refresh_token: Some(Arc::new(move |t| sink_store.lock().expect("lock").push(t))),
    };
    let portal = Portal::connect(cfg).await.expect("connect with an OAuth refresh token");
    assert_eq!(
        *seen.grants.lock().expect("lock"),
        vec!["exchange_refresh_token", "refresh_token"],
        "a refresh token of unknown expiry is exchanged first, then used"
    );
    {
        let got = reported.lock().expect("lock");
        assert_eq!(got.len(), 1, "the new refresh token must be reported exactly once");
        assert_eq!(got[0].refresh_token.expose(), "rt-1", "the reported token is the new one");
        assert!(
            got[0].expires_at.is_some_and(|e| e > clock.now_ms() + 13 * 86_400_000),
            "its two-week expiry is reported"
        );
    }

    clock.0.fetch_add(3_600_000, Ordering::SeqCst);
    portal.get_json("t/ok", &[]).await.expect("renewal with the new refresh token");
    assert_eq!(
        seen.grants.lock().expect("lock").last().map(String::as_str),
        Some("refresh_token"),
        "a refresh token far from expiry is not exchanged again"
    );
    assert_eq!(reported.lock().expect("lock").len(), 1, "no new refresh token without an exchange");

    clock.0.fetch_add(13 * 86_400_000 + 3_600_000, Ordering::SeqCst);
    portal.get_json("t/ok", &[]).await.expect("renewal near refresh-token expiry");
    assert_eq!(
        reported.lock().expect("lock").len(),
        2,
        "within a day of expiry the refresh token is exchanged and reported"
    );
}

#[tokio::test]
async fn revoked_refresh_token_is_a_sign_in_error() {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let mut cfg = config(&base, PASSWORD);
    cfg.credentials = Credentials::OAuth {
        client_id: "orgvault-app".into(),
        refresh_token: Secret::new("rt-revoked-secret"),
        refresh_token_expires_at: Some(real_now_ms() + 10 * 86_400_000),
        redirect_uri: "http://127.0.0.1/callback".into(),
        on_refresh_token: None,
    };
    let err = Portal::connect(cfg).await.expect_err("a revoked refresh token must fail");
    assert!(matches!(err, Error::SignIn { .. }), "a refused refresh token is a SignIn error, got {err:?}");
    assert!(err.to_string().contains("sign in again"), "the message must tell the user to sign in again: {err}");
    assert!(!err.to_string().contains("rt-revoked-secret"), "the refresh token must not appear in the error");
}
