//! kill -9 while the backup polls an export: the export item it made is left in the org, and
//! the next backup of the org deletes it, and nothing else, and does not try to back it up.

use std::collections::BTreeSet;
use std::time::Duration;

use portal_sim::routes::hosted::export_items;
use portal_sim::{OrgLogin, RunningSim, SimConfig};

use crate::support::{json_line, orgvault, stderr};

/// A backup of `item`, or of everything when `item` is empty.
fn backup_args<'a>(org: &'a OrgLogin, to: &'a str, item: &'a str) -> Vec<&'a str> {
    let mut args = vec!["backup", "--portal", &org.portal_url, "--username", &org.admin.username, "--to", to, "--json"];
    if !item.is_empty() {
        args.extend(["--select-id", item]);
    }
    args
}

fn item_ids(sim: &RunningSim) -> BTreeSet<String> {
    let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    u.orgs[0].items.keys().cloned().collect()
}

fn export_item_ids(sim: &RunningSim) -> Vec<String> {
    let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    export_items(&u.orgs[0]).into_iter().map(|i| i.id.clone()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_while_polling_an_export_then_the_next_backup_deletes_the_export_item() {
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 60, ..SimConfig::default() }).await.unwrap();
    let org = &sim.orgs[0];
    let service = {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let s = u.orgs[0].services.values().find(|s| s.view_of.is_none() && !s.export_fails).expect("a service");
        s.item_id.clone()
    };
    let data = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let to = repo.path().join("vault").display().to_string();

    // Exports take a minute: the backup is surely polling when it is killed.
    sim.state.jobs.set_export_work(Duration::from_secs(60));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
        .args(backup_args(org, &to, &service))
        .env("ORGVAULT_DATA_DIR", data.path())
        .env("ORGVAULT_REPOSITORY_PASSWORD", crate::support::REPOSITORY_PASSWORD)
        .env("ORGVAULT_PASSWORD", &org.admin.password)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("orgvault starts");
    let started = tokio::time::timeout(Duration::from_secs(120), async {
        while sim.state.jobs.export_jobs() == 0 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert!(started.is_ok(), "the backup started an export");
    // A few polls in.
    tokio::time::sleep(Duration::from_millis(800)).await;
    // SIGKILL: no destructor, no clean-up.
    child.start_kill().expect("kill -9");
    let _ = child.wait().await;
    let left = export_item_ids(&sim);
    assert_eq!(left.len(), 1, "the killed backup left its export item in the org");

    sim.state.jobs.set_export_work(Duration::ZERO);
    let before = item_ids(&sim);
    // The next backup is of everything: its fresh scan sees the leftover export item, which is
    // this tool's own temporary item, neither the admin's content nor a failure.
    let out = orgvault(data.path(), &org.admin.password, &backup_args(org, &to, "")).await;
    assert!(out.status.success(), "the next backup succeeds: {}", stderr(&out));
    let summary = json_line(&out);
    assert_eq!(summary["failed"], 0, "the leftover export item is left out, not failed: {summary}");
    assert_eq!(
        summary["items"].as_u64(),
        Some(before.len() as u64 - 1),
        "every item but the leftover export item is in the snapshot: {summary}"
    );
    assert!(export_item_ids(&sim).is_empty(), "the next backup of the org deleted the leftover export item");
    let mut expected = before;
    expected.remove(&left[0]);
    assert_eq!(item_ids(&sim), expected, "and deleted no other item");
}

#[tokio::test(flavor = "current_thread")]
async fn an_allowed_host_that_is_not_a_host_is_refused_naming_it() {
    let data = tempfile::tempdir().unwrap();
    for command in ["backup", "scan"] {
        let out = orgvault(
            data.path(),
            "unused",
            &[command, "--portal", "http://127.0.0.1:9", "--allow-host", "https://gis.example.com/arcgis"],
        )
        .await;
        assert!(!out.status.success(), "{command}: a path is not a host");
        let err = stderr(&out);
        assert!(
            err.contains("https://gis.example.com/arcgis") && err.contains("--allow-host"),
            "{command}: the error names the flag and the input: {err}"
        );
    }
}
