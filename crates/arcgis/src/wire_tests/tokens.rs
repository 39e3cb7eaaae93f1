//! Token renewal: after 498, ahead of expiry (single-flight), OAuth refresh-token exchange.

use super::*;

#[tokio::test]
async fn rejected_token_is_renewed_once_and_the_request_repeated_once() {
    let (seen, portal) = mock().await;
    assert_eq!(seen.tokens_issued.load(Ordering::SeqCst), 1, "connect signs in once");
    let v = portal.get_json("t/revoke-once", &[]).await.expect("a revoked token must be renewed invisibly");
    assert_eq!(v["token_seen"], "tok-2", "the repeated request must carry the new token");
    assert_eq!(seen.tokens_issued.load(Ordering::SeqCst), 2, "exactly one renewal after a 498");
    assert_eq!(seen.hits("/sharing/rest/t/revoke-once"), 2, "exactly one repeat after a 498");

    let got = portal.get_json("t/always498", &[]).await;
    assert!(matches!(got, Err(Error::InvalidToken)), "a token refused again must surface as InvalidToken, got {got:?}");
    assert_eq!(seen.hits("/sharing/rest/t/always498"), 2, "a 498 causes one repeat, never a loop");
    assert_eq!(seen.tokens_issued.load(Ordering::SeqCst), 3, "one renewal per rejected request");
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
