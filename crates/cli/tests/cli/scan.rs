use portal_sim::{RunningSim, SimConfig};

use crate::support::{all_files, contains, orgvault, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_json_counts_match_the_organization() {
    let sim = RunningSim::start(SimConfig { items: 150, users: 25, groups: 8, ..SimConfig::default() }).await.unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();

    let out = orgvault(
        data.path(),
        &org.admin.password,
        &["scan", "--portal", &org.portal_url, "--username", &org.admin.username, "--json"],
    )
    .await;
    assert!(out.status.success(), "scan as the admin must succeed: {}", stderr(&out));
    let text = stdout(&out);
    assert_eq!(text.trim().lines().count(), 1, "--json prints exactly one line: {text}");
    let v: serde_json::Value = serde_json::from_str(text.trim()).expect("--json output is JSON");
    for key in ["items", "users", "groups", "relationships", "references", "estimated_bytes"] {
        assert!(v[key].is_u64(), "--json must have the number {key}: {v}");
    }
    let counts = sim.control().org(&org.url_key).unwrap();
    assert_eq!(v["items"].as_u64().unwrap() as usize, counts.items, "every item of the org is counted");
    assert_eq!(v["users"].as_u64().unwrap() as usize, counts.users, "every user of the org is counted");
    assert_eq!(v["groups"].as_u64().unwrap() as usize, counts.groups, "every group of the org is counted");
    assert!(v["relationships"].as_u64().unwrap() > 0, "the generated org has item relationships");
    assert!(v["references"].as_u64().unwrap() > 0, "the generated web maps and apps reference items");
    assert!(v["estimated_bytes"].as_u64().unwrap() > 0, "a backup of everything has a size");

    // The human form says the same numbers.
    let out =
        orgvault(data.path(), &org.admin.password, &["scan", "--portal", &org.portal_url, "-u", &org.admin.username])
            .await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(stdout(&out).contains(&format!("items          {}", counts.items)), "{}", stdout(&out));

    // No secret reached the data folder (database, WAL, logs).
    let files = all_files(data.path());
    assert!(files.iter().any(|(p, _)| p.to_string_lossy().contains("orgvault.log")), "a log file is written");
    for (path, bytes) in &files {
        assert!(!contains(bytes, &org.admin.password), "the password must not be written to {}", path.display());
    }
}

async fn scan_error(portal: &str, user: &str, password: &str) -> (String, String) {
    let data = tempfile::tempdir().unwrap();
    let out = orgvault(data.path(), password, &["scan", "--portal", portal, "--username", user]).await;
    assert!(!out.status.success(), "a failing scan must exit non-zero");
    let err = stderr(&out);
    assert_eq!(err.trim().lines().count(), 1, "the failure is one line: {err}");
    assert!(err.starts_with("error: "), "{err}");
    (err, stdout(&out))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_failure_is_one_line_that_names_it() {
    let sim = RunningSim::start(SimConfig::default()).await.unwrap();
    let org = &sim.orgs[0];

    let (err, _) = scan_error(&org.portal_url, &org.user.username, &org.user.password).await;
    assert!(err.contains("not an administrator"), "a non-admin is told so: {err}");
    assert!(!err.contains(&org.user.password), "the message never shows the password");

    let (err, _) = scan_error(&org.portal_url, &org.admin.username, "wrong-password").await;
    assert!(err.contains("username or password"), "a wrong password is named: {err}");
    assert!(!err.contains("wrong-password"), "the message never shows the password");

    // A port nothing listens on.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap();
    let (err, _) = scan_error(&format!("http://{closed}/portal"), "a", "x").await;
    assert!(err.contains("cannot reach"), "an unreachable URL is named: {err}");

    // A web server that is not ArcGIS.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let app = axum::Router::new().fallback(|| async { "hello, I am not a portal" });
        axum::serve(listener, app).await.unwrap();
    });
    let (err, _) = scan_error(&format!("http://{addr}/portal"), "a", "x").await;
    assert!(err.contains("not an ArcGIS portal"), "a non-portal URL is named: {err}");

    let (err, _) = scan_error("not a url", "a", "x").await;
    assert!(err.contains("is not a URL"), "a malformed URL is named: {err}");
}
