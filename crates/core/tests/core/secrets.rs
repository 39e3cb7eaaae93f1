//! Secrets stay where they belong: the token never reaches a foreign host, and neither the
//! password nor any token issued during a scan lands in the SQLite file or the log.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::Json;
use orgvault_core::{scan, Catalog, Db, NoProgress, SystemClock};
use portal_sim::SimConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::support::{add_identity, connect, db_with_identity, start_sim, OnEveryPhase};

/// What a foreign host saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    path: String,
    query: String,
    headers: Vec<(String, String)>,
}

async fn record(State(seen): State<Arc<Mutex<Vec<Seen>>>>, req: Request) -> Json<serde_json::Value> {
    seen.lock().expect("lock").push(Seen {
        path: req.uri().path().to_owned(),
        query: req.uri().query().unwrap_or_default().to_owned(),
        headers: req
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
            .collect(),
    });
    Json(
        serde_json::json!({"layers": [{"id": 0, "name": "Partner parcels", "editingInfo": {"lastEditDate": 1_700_000_000_000_i64}}], "tables": []}),
    )
}

/// A loopback server answering every request with a one-layer service and recording it.
async fn start_foreign() -> anyhow::Result<(SocketAddr, Arc<Mutex<Vec<Seen>>>)> {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let app = axum::Router::new().fallback(record).with_state(seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, seen))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_token_never_reaches_a_foreign_host() -> anyhow::Result<()> {
    let (foreign, seen) = start_foreign().await?;
    let foreign_root = format!("http://{foreign}/arcgis/rest/services");
    let sim = start_sim(SimConfig {
        orgs: 1,
        items: 120,
        users: 12,
        groups: 5,
        foreign_service_url: Some(format!("{foreign_root}/Partner/FeatureServer/0")),
        ..SimConfig::default()
    })
    .await?;
    let org = sim.orgs[0].clone();
    // A service registered in the org but hosted elsewhere: the scan reads its layers.
    let registered = {
        let mut universe = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let o = universe.org_by_url_key_mut(&org.url_key).expect("org");
        let mut item =
            o.items.values().find(|i| i.item_type == "Feature Service").expect("a feature service exists").clone();
        item.id = "f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0f0".into();
        item.title = "Partner parcels (registered)".into();
        item.item_type = "Map Service".into();
        item.url = Some(format!("{foreign_root}/Partner/MapServer"));
        item.service_name = None;
        item.shared_groups.clear();
        o.items.insert(item.id.clone(), item.clone());
        item.id
    };

    let portal = connect(&org.portal_url, &org.admin).await?;
    // Item URLs are read only on org hosts or allowed ones (see backup_hosts); allowed here, so
    // that the foreign host is contacted and can show what it received.
    portal.allow_host(foreign.to_string().parse()?);
    let (db, identity) = db_with_identity(&org.portal_url, &org.admin.username).await?;
    let summary = scan(&db, &portal, &identity, &NoProgress, CancellationToken::new(), &SystemClock).await?;

    let seen = seen.lock().expect("lock").clone();
    assert!(
        seen.iter().any(|s| s.path == "/arcgis/rest/services/Partner/MapServer/layers"),
        "the registered service's layers were read from the foreign host: {seen:?}"
    );
    for s in &seen {
        assert!(
            !s.headers.iter().any(|(k, _)| k == "x-esri-authorization" || k == "authorization" || k == "cookie"),
            "no credential header may reach a foreign host: {s:?}"
        );
        assert!(!s.query.to_ascii_lowercase().contains("token"), "no token parameter may reach a foreign host: {s:?}");
        assert!(!s.headers.iter().any(|(k, _)| k == "referer"), "the org's Referer goes only to org hosts: {s:?}");
    }
    let item =
        Catalog::new(&db).item(summary.scan_id, &registered).await?.expect("the registered service is cataloged");
    assert_eq!(
        (item.layer_count, item.last_edit_ms),
        (Some(1), Some(1_700_000_000_000)),
        "the anonymous answer was used for the layer facts"
    );
    Ok(())
}

/// Every byte both ways between a client and `target`, through a loopback TCP relay.
async fn start_tap(target: SocketAddr) -> anyhow::Result<(SocketAddr, Arc<Mutex<Vec<u8>>>)> {
    let tap = Arc::new(Mutex::new(Vec::new()));
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let t = tap.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let Ok(server) = tokio::net::TcpStream::connect(target).await else { continue };
            let (cr, cw) = client.into_split();
            let (sr, sw) = server.into_split();
            tokio::spawn(pump(cr, sw, t.clone()));
            tokio::spawn(pump(sr, cw, t.clone()));
        }
    });
    Ok((addr, tap))
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    tap: Arc<Mutex<Vec<u8>>>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => {
                let _ = to.shutdown().await;
                return;
            }
            Ok(n) => {
                tap.lock().expect("lock").extend_from_slice(&buf[..n]);
                if to.write_all(&buf[..n]).await.is_err() {
                    return;
                }
            }
        }
    }
}

fn contains(haystack: &[u8], needle: &str) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle.as_bytes())
}

#[tokio::test(flavor = "current_thread")]
async fn neither_the_database_nor_the_log_holds_a_password_or_token() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let log_path = dir.path().join("orgvault.log");
    let log_file = std::fs::File::create(&log_path)?;
    // The global subscriber: a thread-scoped one misses events whose callsites other tests in
    // this binary registered first (tracing caches callsite interest). Other tests' lines may
    // land here too, which only makes the check stricter. The simulator's own log is left out
    // (it is not our program).
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new("debug,orgvault_core=trace,arcgis=trace,portal_sim=off"))
        .with_writer(Mutex::new(log_file))
        .with_ansi(false)
        .finish();
    tracing::subscriber::set_global_default(subscriber).expect("only this test installs a global subscriber");

    // Tokens expire at every phase, so that several are issued during the scan; all pass
    // through the tap.
    let sim = start_sim(SimConfig { orgs: 1, items: 150, users: 15, groups: 6, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let (tap_addr, tap) = start_tap(sim.addr).await?;
    let portal_url = org.portal_url.replace(&sim.addr.to_string(), &tap_addr.to_string());
    assert_ne!(portal_url, org.portal_url, "the client must talk to the portal through the tap");

    let db_path = dir.path().join("data").join("orgvault.db");
    let db = Db::open(&db_path).await?;
    let identity = add_identity(&db, &portal_url, &org.admin.username).await?;
    let portal = connect(&portal_url, &org.admin).await?;
    let auth = sim.state.auth.clone();
    let expire = OnEveryPhase { action: move |_phase: &str| auth.expire_all_access_tokens() };
    let summary = scan(&db, &portal, &identity, &expire, CancellationToken::new(), &SystemClock).await?;
    assert!(summary.items > 0, "the scan read the org");
    db.close().await;

    let traffic = tap.lock().expect("lock").clone();
    let text = String::from_utf8_lossy(&traffic);
    let issued = regex::Regex::new(r#""(?:token|access_token)"\s*:\s*"([^"]+)""#)?;
    let sent = regex::Regex::new(r"(?i)x-esri-authorization:\s*bearer\s+(\S+)")?;
    let mut tokens: Vec<String> =
        issued.captures_iter(&text).chain(sent.captures_iter(&text)).map(|c| c[1].to_owned()).collect();
    tokens.sort();
    tokens.dedup();
    assert!(
        tokens.len() >= 2,
        "the tap must see the tokens issued during the scan for this test to mean anything (saw {})",
        tokens.len()
    );

    let mut stored = Vec::new();
    for entry in std::fs::read_dir(db_path.parent().expect("parent"))? {
        let entry = entry?;
        stored.push((entry.file_name().to_string_lossy().into_owned(), std::fs::read(entry.path())?));
    }
    let log = std::fs::read(&log_path)?;
    assert!(
        contains(&log, "scan started") && contains(&log, "scan ended"),
        "the log captured the scan, so its silence about secrets means something"
    );
    assert!(
        stored.iter().any(|(_, bytes)| contains(bytes, &org.admin.username)),
        "the database holds the scan (the username is not a secret)"
    );

    let secrets: Vec<(&str, &str)> = std::iter::once(("password", org.admin.password.as_str()))
        .chain(tokens.iter().map(|t| ("token", t.as_str())))
        .collect();
    for (what, secret) in &secrets {
        for (name, bytes) in &stored {
            assert!(!contains(bytes, secret), "a {what} was found in the database file {name}");
        }
        assert!(!contains(&log, secret), "a {what} was found in the log");
    }
    Ok(())
}
