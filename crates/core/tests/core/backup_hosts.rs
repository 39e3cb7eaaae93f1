//! An item's service URL is read only on the org's own hosts or a host the user allowed: a
//! member who points a scene, tile or map item at another host (here another loopback port, a
//! different origin) must not make the scan or the backup contact it.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::Json;
use orgvault_core::backup::BackupOptions;
use orgvault_core::jobs::Outcome;
use orgvault_core::{Selection, SystemClock};
use portal_sim::{RunningSim, SimConfig};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, scanned, test_options, Scanned};
use crate::support::{start_sim, Recorder};

type Contacts = Arc<Mutex<Vec<String>>>;

async fn record(State(seen): State<Contacts>, req: Request) -> Json<serde_json::Value> {
    seen.lock().expect("lock").push(req.uri().to_string());
    Json(serde_json::json!({"layers": [{"id": 0, "name": "Elsewhere"}], "tables": [], "name": "Elsewhere"}))
}

/// A loopback listener that answers like a service and records every request it gets.
async fn start_listener() -> anyhow::Result<(SocketAddr, Contacts)> {
    let seen: Contacts = Arc::default();
    let app = axum::Router::new().fallback(record).with_state(seen.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((addr, seen))
}

/// Scene, map and tile items owned by a member, whose `url` points at `root`.
fn plant_member_services(sim: &RunningSim, root: &str) -> Vec<String> {
    let member = sim.orgs[0].user.username.clone();
    let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
    let org = &mut u.orgs[0];
    let template = org.items.values().find(|i| i.item_type == "Feature Service").expect("a service item").clone();
    let mut ids = Vec::new();
    for (n, (item_type, path)) in [
        ("Scene Service", "Buildings/SceneServer"),
        ("Map Service", "Basemap/MapServer"),
        ("Vector Tile Service", "Streets/VectorTileServer"),
    ]
    .into_iter()
    .enumerate()
    {
        let mut item = template.clone();
        item.id = format!("e1e1e1e1e1e1e1e1e1e1e1e1e1e1e1e{n}");
        item.title = format!("Elsewhere {item_type}");
        item.item_type = item_type.into();
        item.owner = member.clone();
        item.owner_folder = None;
        item.type_keywords.clear();
        item.url = Some(format!("{root}/arcgis/rest/services/{path}"));
        item.service_name = None;
        item.shared_groups.clear();
        org.items.insert(item.id.clone(), item.clone());
        ids.push(item.id);
    }
    ids
}

async fn backup_with(
    s: &Scanned,
    repo: &orgvault_core::repo::Repository,
    items: &[String],
    options: &BackupOptions,
    recorder: &Recorder,
) -> anyhow::Result<orgvault_core::backup::BackupSummary> {
    let ctx = orgvault_core::backup::BackupContext {
        db: &s.db,
        portal: &s.portal,
        repo,
        identity_id: &s.identity,
        scan_id: s.scan_id,
        options,
        progress: recorder,
        cancel: CancellationToken::new(),
        clock: &SystemClock,
    };
    let selection = Selection::Explicit { items: items.to_vec(), users: vec![], groups: vec![] };
    Ok(orgvault_core::backup::backup(&ctx, &selection).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_member_service_url_on_another_host_is_not_contacted_unless_allowed() -> anyhow::Result<()> {
    let (addr, seen) = start_listener().await?;
    let sim = start_sim(SimConfig { orgs: 1, items: 40, ..SimConfig::default() }).await?;
    let ids = plant_member_services(&sim, &format!("http://{addr}"));
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;

    let recorder = Recorder::default();
    let summary = backup_with(&s, &repo, &ids, &test_options(), &recorder).await?;
    assert!(
        seen.lock().expect("lock").is_empty(),
        "neither the scan nor the backup may contact a host outside the org: {:?}",
        seen.lock().expect("lock")
    );
    assert_eq!((summary.items, summary.failed), (3, 0), "the items are backed up, none failed");
    let manifest = repo.manifest(summary.snapshot.as_ref().expect("a snapshot")).await?;
    let origin = format!("http://{addr}");
    for id in &ids {
        let entry = manifest.items.iter().find(|i| &i.id == id).expect("the item is in the snapshot");
        assert!(entry.service.is_none(), "its service was not read");
        let why = entry.service_not_fetched.as_ref().expect("the manifest says the service was not fetched");
        assert_eq!(why.origin, origin, "and names the origin");
        assert!(why.reason.contains("not a host of the organization"), "and why: {}", why.reason);
        let json: serde_json::Value = serde_json::from_slice(&repo.get_blob(&entry.item_json).await?)?;
        assert_eq!(json["id"], id.as_str(), "the item JSON is kept");
    }
    let outcomes = recorder.outcomes.lock().expect("lock").clone();
    for id in &ids {
        let o = outcomes.iter().find(|o| &o.id == id).expect("an outcome");
        assert_eq!(o.outcome, Outcome::Ok, "not a failure of the item");
        assert!(
            o.reason.as_deref().is_some_and(|r| r.contains("service not fetched") && r.contains(&origin)),
            "but the outcome shows it: {o:?}"
        );
    }

    // Allowed explicitly: read, and anonymously (the token stays with the org).
    let host = format!("127.0.0.1:{}", addr.port());
    let options = BackupOptions { allow_hosts: vec![host.parse()?], ..test_options() };
    let summary = backup_with(&s, &repo, &ids, &options, &Recorder::default()).await?;
    let contacts = seen.lock().expect("lock").clone();
    assert!(contacts.len() >= 3, "an allowed host is read: {contacts:?}");
    assert!(contacts.iter().all(|c| !c.contains("token")), "without the token: {contacts:?}");
    let manifest = repo.manifest(summary.snapshot.as_ref().expect("a snapshot")).await?;
    for id in &ids {
        let entry = manifest.items.iter().find(|i| &i.id == id).expect("entry");
        assert!(entry.service.is_some() && entry.service_not_fetched.is_none(), "the allowed service is saved");
    }
    Ok(())
}
