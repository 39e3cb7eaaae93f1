//! `orgvault backup --identity NAME`: a saved identity backs up into its own storage, the one
//! it was added with, unless `--to` says otherwise; nothing is asked for but its name.

use portal_sim::{RunningSim, SimConfig};

use crate::support::{add_identity, json_line, run, stderr};

/// The ids of the snapshots in the repository at `dest`.
async fn snapshot_ids(data: &std::path::Path, dest: &str) -> Vec<String> {
    let out = run(data, &["snapshots", "--to", dest, "--json"], None, None).await;
    assert!(out.status.success(), "{dest} is a repository: {}", stderr(&out));
    let list = json_line(&out);
    list.as_array().expect("an array").iter().map(|s| s["id"].as_str().expect("an id").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_identity_without_to_writes_into_the_identitys_own_storage() {
    let sim = RunningSim::start(SimConfig { items: 30, users: 6, groups: 3, ..SimConfig::default() })
        .await
        .expect("sim starts");
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let own = data.path().join("acme-backups").display().to_string();
    add_identity(data.path(), org, "Acme", &own).await;

    // No --to and no password in the environment: the storage and the password are the identity's.
    let out = run(data.path(), &["backup", "--identity", "Acme", "--json", "--name", "own"], None, None).await;
    assert!(out.status.success(), "backup --identity without --to must use the identity's storage: {}", stderr(&out));
    let first = json_line(&out);
    let snapshot = first["snapshot"].as_str().expect("a snapshot id").to_owned();
    assert_eq!(first["failed"], 0, "nothing failed: {first}");
    assert_eq!(snapshot_ids(data.path(), &own).await, vec![snapshot], "the snapshot is in the identity's storage");

    let other = data.path().join("elsewhere").display().to_string();
    let out = run(data.path(), &["backup", "--identity", "Acme", "--to", &other, "--json"], None, None).await;
    assert!(out.status.success(), "--to still overrides the identity's storage: {}", stderr(&out));
    let second = json_line(&out)["snapshot"].as_str().expect("a snapshot id").to_owned();
    assert_eq!(snapshot_ids(data.path(), &other).await, vec![second], "the override got the second snapshot");
    assert_eq!(snapshot_ids(data.path(), &own).await.len(), 1, "and the identity's storage did not");

    let out = run(
        data.path(),
        &["backup", "--portal", &org.portal_url, "-u", &org.admin.username],
        None,
        Some(&org.admin.password),
    )
    .await;
    assert!(!out.status.success(), "without an identity there is no storage to default to");
    assert!(stderr(&out).contains("--to"), "the refusal names --to: {}", stderr(&out));
}

/// The lock files a folder repository holds (a released lock stays where it may not be deleted).
fn lock_files(repo: &std::path::Path) -> usize {
    std::fs::read_dir(repo.join("locks")).map(|d| d.count()).unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_identity_with_append_only_releases_its_lock_by_marking_not_deleting() {
    let sim = RunningSim::start(SimConfig { items: 12, users: 4, groups: 2, ..SimConfig::default() })
        .await
        .expect("sim starts");
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let own = data.path().join("acme-backups");
    add_identity(data.path(), org, "Acme", &own.display().to_string()).await;

    let out = run(data.path(), &["backup", "--identity", "Acme", "--json"], None, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(lock_files(&own), 0, "without the setting the backup deletes its lock when done");

    let out = run(data.path(), &["backup", "--identity", "Acme", "--append-only", "--json"], None, None).await;
    assert!(out.status.success(), "an append-only backup works: {}", stderr(&out));
    assert!(lock_files(&own) > 0, "with --append-only nothing is deleted: its locks stay, marked released");
}
