//! Connecting: admins, non-admins, wrong passwords, unreachable and non-portal URLs.

use arcgis::{Error, Portal, Secret, Url};
use portal_sim::SimConfig;

use crate::{config_for, sim};

const BACKUP_PRIVILEGES: &[&str] = &["portal:admin:viewUsers", "portal:admin:viewItems"];

#[tokio::test]
async fn admin_connects_and_passes_the_admin_check() {
    let sim = sim(SimConfig::default()).await;
    let portal = Portal::connect(config_for(&sim, 0, &sim.orgs[0].admin)).await.expect("the org admin must connect");
    assert_eq!(portal.org_id(), sim.orgs[0].id, "portals/self must name the org the URL points at");
    portal.require_admin(BACKUP_PRIVILEGES).expect("the org admin is a full administrator");
    let users = portal.org_users().await.expect("an admin may list users");
    assert!(users.iter().any(|u| u.username == sim.orgs[0].admin.username), "the user list must contain the admin");
    let groups = portal.org_groups().await.expect("an admin may list groups");
    for g in groups.iter().take(3) {
        let members = portal.group_members(&g.id).await.expect("group members");
        assert!(!members.owner.is_empty(), "every group has an owner");
    }
    let content = portal.user_content(&sim.orgs[0].admin.username).await.expect("the admin's content");
    let any_item = content.root_items.first().or_else(|| content.folders.iter().flat_map(|f| f.items.first()).next());
    if let Some(item) = any_item {
        let again = portal.item(&item.id).await.expect("an item listed in a folder can be read");
        assert_eq!(again.id, item.id);
        portal.item_sharing(&item.owner, &item.id).await.expect("an admin sees an item's sharing");
    }
    assert!(portal.requests_made() > 3, "requests are counted");
}

#[tokio::test]
async fn non_admin_is_refused_by_the_admin_check_naming_what_is_missing() {
    let sim = sim(SimConfig::default()).await;
    let portal = Portal::connect(config_for(&sim, 0, &sim.orgs[0].user)).await.expect("a plain user can still sign in");
    let err = portal.require_admin(BACKUP_PRIVILEGES).expect_err("a plain user must not pass the admin check");
    let msg = err.to_string();
    assert!(matches!(err, Error::NotAdmin { .. }), "the refusal must be NotAdmin, got {err:?}");
    assert!(msg.contains("not an administrator"), "the message must say the user is not an administrator: {msg}");
    assert!(msg.contains("portal:admin:viewItems"), "the message must name a missing privilege: {msg}");
    assert!(msg.contains(&sim.orgs[0].user.username), "the message must name the user: {msg}");
}

#[tokio::test]
async fn wrong_password_is_a_sign_in_error() {
    let sim = sim(SimConfig::default()).await;
    let mut login = sim.orgs[0].admin.clone();
    login.password = "not-the-password-42".into();
    let err = Portal::connect(config_for(&sim, 0, &login)).await.expect_err("a wrong password must be refused");
    assert!(matches!(err, Error::SignIn { .. }), "a wrong password must be SignIn, got {err:?}");
    assert!(err.to_string().contains("username or password"), "the message must say so: {err}");
    assert!(!err.to_string().contains("not-the-password-42"), "the password must not appear in the error");
}

#[tokio::test]
async fn unreachable_port_is_a_connect_error_naming_the_host() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let addr = listener.local_addr().expect("addr");
    drop(listener);
    let sim = sim(SimConfig::default()).await;
    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.portal_url = Url::parse(&format!("http://{addr}/acme")).expect("url");
    let err = Portal::connect(cfg).await.expect_err("nothing listens there");
    assert!(matches!(err, Error::Connect { .. }), "a closed port must be Connect, got {err:?}");
    assert!(err.to_string().contains(&addr.to_string()), "the message must name the host and port: {err}");
}

#[tokio::test]
async fn a_plain_web_server_is_not_a_portal() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let app = axum::Router::new().fallback(|| async { "hello" });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let sim = sim(SimConfig::default()).await;
    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.portal_url = Url::parse(&format!("http://{addr}/")).expect("url");
    cfg.credentials = arcgis::Credentials::BuiltIn { username: "admin".into(), password: Secret::new("pw") };
    let err = Portal::connect(cfg).await.expect_err("a hello server is no portal");
    assert!(matches!(err, Error::NotAPortal { .. }), "a plain web server must be NotAPortal, got {err:?}");
    assert!(err.to_string().contains("not an ArcGIS portal"), "the message must say it: {err}");
}

#[tokio::test]
async fn foreign_service_in_item_data_gets_no_token() {
    let seen: std::sync::Arc<std::sync::Mutex<Vec<String>>> = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let foreign = format!("http://{}/arcgis/rest/services/World/MapServer", listener.local_addr().expect("addr"));
    let record = seen.clone();
    let app = axum::Router::new().fallback(move |headers: axum::http::HeaderMap, uri: axum::http::Uri| {
        let record = record.clone();
        async move {
            record.lock().expect("lock").push(format!("{headers:?} {}", uri.query().unwrap_or("")));
            axum::Json(serde_json::json!({"currentVersion": 11.1}))
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    let sim = sim(SimConfig { foreign_service_url: Some(foreign.clone()), ..SimConfig::default() }).await;
    let portal = Portal::connect(config_for(&sim, 0, &sim.orgs[0].admin)).await.expect("connect");
    let url = Url::parse(&foreign).expect("url");
    assert!(!portal.is_org_url(&url), "the foreign server is not an org host");
    let refused = portal.service_json(&url).await.expect_err("a foreign item URL is not read unless allowed");
    assert!(matches!(refused, Error::HostNotAllowed { .. }), "refused as a foreign host: {refused}");
    assert!(seen.lock().expect("lock").is_empty(), "and not contacted");
    portal.allow_host(format!("127.0.0.1:{}", url.port().expect("port")).parse().expect("allowed host"));
    portal.service_json(&url).await.expect("the allowed foreign service answers");
    let seen = seen.lock().expect("lock").clone();
    assert_eq!(seen.len(), 1, "the foreign server saw the request");
    let lower = seen[0].to_lowercase();
    assert!(
        !lower.contains("x-esri-authorization") && !lower.contains("authorization") && !lower.contains("token"),
        "no token may reach a foreign host: {lower}"
    );
}
