//! Where the token may go, connection failures, and secrets kept out of errors and logs.

use super::*;

#[tokio::test]
async fn token_and_custom_headers_never_reach_a_foreign_host() {
    let (seen, portal) = mock().await;
    let foreign_seen = Arc::new(Seen::default());
    let foreign = start_server(foreign_seen.clone(), true).await;
    let foreign_url = Url::parse(&format!("{foreign}/arcgis/rest/services/World/MapServer")).expect("url");
    assert!(!portal.is_org_url(&foreign_url), "another port on the same host is another origin");

    let refused = portal.service_json(&foreign_url).await.expect_err("an item URL on a foreign host is not read");
    assert!(matches!(refused, Error::HostNotAllowed { .. }), "refused as a foreign host: {refused}");
    assert!(foreign_seen.requests.lock().expect("lock").is_empty(), "and was not contacted at all");
    let host = foreign_url.host_str().expect("host");
    let port = foreign_url.port_or_known_default().expect("port");
    portal.allow_host(format!("{host}:{port}").parse().expect("an allowed host"));
    portal.service_json(&foreign_url).await.expect("an allowed foreign service is fetched without a token");
    portal.get_json(foreign_url.as_str(), &[("where", "1=1")]).await.expect("get_json on a foreign URL");
    let mut s = portal.get_stream(&foreign_url, &[]).await.expect("stream from a foreign URL");
    while futures::StreamExt::next(&mut s).await.is_some() {}

    let recorded = foreign_seen.requests.lock().expect("lock").clone();
    assert_eq!(recorded.len(), 3, "the foreign server must have seen all three requests");
    for (path, headers, query) in &recorded {
        for h in ["x-esri-authorization", "authorization", "x-gateway-key", "referer", "cookie"] {
            assert!(headers.get(h).is_none(), "{h} must not be sent to a foreign host ({path})");
        }
        assert!(!query.contains("token"), "no token in the query of a foreign request: {query}");
        let all = format!("{headers:?}{query}");
        assert!(!all.contains("tok-") && !all.contains("gw-secret"), "no secret may reach a foreign host: {all}");
    }

    portal.get_json("t/ok", &[]).await.expect("org request");
    let own = seen.requests.lock().expect("lock").clone();
    let (_, headers, query) =
        own.iter().rev().find(|(p, _, _)| p == "/sharing/rest/t/ok").expect("org request recorded");
    assert_eq!(
        headers.get("x-gateway-key").and_then(|v| v.to_str().ok()),
        Some("gw-secret-value"),
        "custom headers go to the org"
    );
    assert!(bearer(headers).is_some(), "the token goes to the org as X-Esri-Authorization");
    assert!(!query.contains("token="), "the token never travels in the query string");
}

#[tokio::test]
async fn redirects_carry_the_token_only_to_org_hosts() {
    let (seen, portal) = mock().await;
    let foreign_seen = Arc::new(Seen::default());
    let foreign = start_server(foreign_seen.clone(), true).await;
    let target = format!("{foreign}/storage/file.json");
    let v = portal.get_json("t/redirect", &[("to", target.as_str())]).await.expect("a redirect to storage is followed");
    assert_eq!(v["currentVersion"], 11.1, "the answer comes from the redirect target");
    let recorded = foreign_seen.requests.lock().expect("lock").clone();
    assert_eq!(recorded.len(), 1, "the foreign host was reached through the redirect");
    let (_, headers, query) = &recorded[0];
    for h in ["x-esri-authorization", "authorization", "x-gateway-key", "referer"] {
        assert!(headers.get(h).is_none(), "{h} must not follow a redirect to a foreign host");
    }
    assert!(!query.contains("token"), "no token in a redirected query");

    let v = portal
        .get_json("t/redirect", &[("to", "/sharing/rest/t/ok")])
        .await
        .expect("a redirect within the org keeps the token");
    assert_eq!(v["ok"], true, "the org endpoint accepted the token after the redirect");
    assert!(seen.hits("/sharing/rest/t/ok") >= 1);
}

#[tokio::test]
async fn enterprise_federated_servers_receive_the_token() {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let server_seen = Arc::new(Seen::default());
    let server = start_server(server_seen.clone(), true).await;
    *seen.federated_server.lock().expect("lock") = Some(format!("{server}/server"));
    let portal = Portal::connect(config(&base, PASSWORD)).await.expect("connect to the mock Enterprise portal");
    let service = Url::parse(&format!("{server}/server/rest/services/Hosted/Parks/FeatureServer")).expect("url");
    assert!(portal.is_org_url(&service), "a federated server of an Enterprise portal is an org host");
    portal.service_json(&service).await.expect("service JSON");
    let recorded = server_seen.requests.lock().expect("lock").clone();
    assert!(
        recorded.last().is_some_and(|(_, h, _)| bearer(h).is_some()),
        "the federated server receives the portal token"
    );
}

#[tokio::test]
async fn wrong_password_is_sign_in_error_without_the_password() {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let got = Portal::connect(config(&base, "wrong-pa55")).await;
    let err = got.expect_err("a wrong password must fail");
    assert!(matches!(err, Error::SignIn { .. }), "wrong password must be a SignIn error, got {err:?}");
    let msg = err.to_string();
    assert!(msg.contains("username or password"), "the message must say the username or password was refused: {msg}");
    assert!(
        !msg.contains("wrong-pa55") && !format!("{err:?}").contains("wrong-pa55"),
        "the password must never appear in an error"
    );
    let shown = format!("{:?}", config(&base, "wrong-pa55"));
    assert!(
        !shown.contains("wrong-pa55") && !shown.contains("gw-secret-value"),
        "PortalConfig Debug must redact secrets: {shown}"
    );
}

#[tokio::test]
async fn hello_server_is_not_a_portal_and_closed_port_is_connect_error() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    let app = axum::Router::new().fallback(|| async { "hello" });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let got = Portal::connect(config(&base, PASSWORD)).await;
    assert!(matches!(got, Err(Error::NotAPortal { .. })), "a plain web server must be NotAPortal, got {got:?}");

    let closed = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = closed.local_addr().expect("addr");
    drop(closed);
    let got = Portal::connect(config(&format!("http://{addr}/"), PASSWORD)).await;
    match got {
        Err(e @ Error::Connect { .. }) => {
            assert!(
                e.to_string().contains(&addr.to_string()),
                "the message must name the host that cannot be reached: {e}"
            )
        }
        other => panic!("a closed port must be a Connect error, got {other:?}"),
    }
}

/// Collects everything the subscriber writes.
#[derive(Clone, Default)]
struct LogSink(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for LogSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn no_secret_reaches_the_logs() {
    let sink = LogSink::default();
    let writer = sink.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let (_seen, portal) = mock().await;
    portal.get_json("t/revoke-once", &[]).await.expect("renewal after 498");
    // Another test thread may have cached the "retrying" call site as uninteresting while no
    // subscriber was set (a known race in tracing's interest cache); ask again.
    tracing::callsite::rebuild_interest_cache();
    let _ = portal.get_json("t/status/502/1", &[]).await.expect("a retried 502");
    let seen = Arc::new(Seen::default());
    let base = start_server(seen, false).await;
    let _ = Portal::connect(config(&base, "wrong-secret-pw")).await;

    let logs = String::from_utf8_lossy(&sink.0.lock().expect("lock")).to_string();
    assert!(logs.contains("retrying"), "the test must have produced log lines to inspect");
    for secret in [PASSWORD, "wrong-secret-pw", "tok-1", "tok-2", "gw-secret-value"] {
        assert!(!logs.contains(secret), "{secret} must never appear in a log line");
    }
}
/// The core crate runs these futures on spawned tasks, so they must be `Send`.
#[allow(dead_code)]
fn portal_futures_are_send(p: &Portal) {
    fn send<T: Send>(_: T) {}
    send(p.search_org_items(&|_, _| {}));
    send(p.org_users());
    send(p.org_groups());
    send(p.user_content("u"));
    send(p.item_data_stream("i"));
    send(p.post_form("x", &[], false));
    send(Portal::connect(config("http://127.0.0.1:9/", "pw")));
}

/// `host:port` of a base URL, as `allow_host` takes it.
fn host_port(base: &str) -> crate::AllowedHost {
    let u = Url::parse(base).expect("url");
    format!("{}:{}", u.host_str().expect("host"), u.port_or_known_default().expect("port")).parse().expect("a host")
}

#[tokio::test]
async fn a_redirect_from_an_allowed_host_is_checked_against_the_allow_list_at_every_hop() {
    let (_seen, portal) = mock().await;
    // A foreign host the user allowed, which answers `/redirect?to=` with a 302.
    let allowed_seen = Arc::new(Seen::default());
    let allowed = start_server(allowed_seen.clone(), true).await;
    portal.allow_host(host_port(&allowed));
    // A host nobody allowed (an internal address, say) and a second allowed one.
    let hidden_seen = Arc::new(Seen::default());
    let hidden = start_server(hidden_seen.clone(), true).await;
    let second_seen = Arc::new(Seen::default());
    let second = start_server(second_seen.clone(), true).await;
    portal.allow_host(host_port(&second));

    let redirect_to = |target: &str| {
        let mut u = Url::parse(&format!("{allowed}/redirect")).expect("url");
        u.query_pairs_mut().append_pair("to", target);
        u
    };
    let refused = portal
        .service_json(&redirect_to(&format!("{hidden}/arcgis/rest/services/Secret/MapServer")))
        .await
        .expect_err("an allowed host must not lead the client to a host that is not allowed");
    assert!(matches!(refused, Error::HostNotAllowed { .. }), "refused as a host not allowed: {refused}");
    assert!(refused.to_string().contains(&hidden), "the error names the refused hop's origin: {refused}");
    assert!(hidden_seen.requests.lock().expect("lock").is_empty(), "the host not allowed was never contacted");
    assert_eq!(allowed_seen.hits("/redirect"), 1, "the allowed host itself was asked");

    let v = portal
        .service_json(&redirect_to(&format!("{second}/arcgis/rest/services/World/MapServer")))
        .await
        .expect("a hop to another allowed host is followed");
    assert_eq!(v["currentVersion"], 11.1, "the answer comes from the second allowed host");
    assert_eq!(second_seen.requests.lock().expect("lock").len(), 1, "the second allowed host was reached");
}
