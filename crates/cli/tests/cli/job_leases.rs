//! Several `orgvault` processes on one data folder: the job runner's leases, as the user meets
//! them. A backup runs in one process while others list jobs, start a second backup of the same
//! identity, cancel it, or find it killed.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use portal_sim::{OrgLogin, RunningSim, SimConfig};
use tempfile::TempDir;
use tokio::process::Child;

use crate::support::{orgvault, stderr, stdout};

/// A sim slow enough that a backup of it takes seconds, a data folder, and a repository folder
/// (kept alive by the caller) with the destination path in it.
async fn setup() -> (RunningSim, TempDir, TempDir, String) {
    let sim =
        RunningSim::start(SimConfig { orgs: 1, items: 60, latency_ms: 25, ..SimConfig::default() }).await.unwrap();
    let data = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let to = repo.path().join("vault").display().to_string();
    (sim, data, repo, to)
}

fn backup_args<'a>(org: &'a OrgLogin, to: &'a str) -> Vec<&'a str> {
    vec!["backup", "--portal", &org.portal_url, "--username", &org.admin.username, "--to", to, "--json"]
}

fn spawn_backup(data: &Path, org: &OrgLogin, to: &str) -> Child {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
        .args(backup_args(org, to))
        .env("ORGVAULT_DATA_DIR", data)
        .env("ORGVAULT_REPOSITORY_PASSWORD", crate::support::REPOSITORY_PASSWORD)
        .env("ORGVAULT_PASSWORD", &org.admin.password)
        .env_remove("ORGVAULT_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("orgvault starts")
}

async fn jobs(data: &Path) -> Vec<serde_json::Value> {
    let out = orgvault(data, "", &["jobs", "--json"]).await;
    assert!(out.status.success(), "orgvault jobs: {}", stderr(&out));
    serde_json::from_str(stdout(&out).trim()).expect("jobs --json is a JSON array")
}

/// Waits (listing jobs from other processes all the while) until a backup job is active, and
/// until it has run `settle` longer; returns its id.
async fn active_backup(data: &Path, settle: Duration) -> i64 {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    let id = loop {
        let list = jobs(data).await;
        if let Some(j) =
            list.iter().find(|j| j["kind"] == "backup" && (j["state"] == "running" || j["state"] == "queued"))
        {
            break j["id"].as_i64().expect("job id");
        }
        assert!(tokio::time::Instant::now() < deadline, "no backup job became active: {list:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let until = tokio::time::Instant::now() + settle;
    while tokio::time::Instant::now() < until {
        // `orgvault jobs` opens the database and reconciles each time: it must not touch a live job.
        let list = jobs(data).await;
        let job = list.iter().find(|j| j["id"] == id).expect("still listed");
        assert!(
            job["state"] == "running" || job["state"] == "queued",
            "another process's `orgvault jobs` must leave a live job alone: {job}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    id
}

fn job(list: &[serde_json::Value], id: i64) -> &serde_json::Value {
    list.iter().find(|j| j["id"] == id).unwrap_or_else(|| panic!("job {id} in {list:?}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_backup_of_a_busy_identity_is_refused_and_the_first_succeeds() {
    let (sim, data, _repo, to) = setup().await;
    let org = &sim.orgs[0];

    let first = spawn_backup(data.path(), org, &to);
    let first_id = active_backup(data.path(), Duration::from_secs(1)).await;

    let second = orgvault(data.path(), &org.admin.password, &backup_args(org, &to)).await;
    assert!(!second.status.success(), "a second backup of the same identity must be refused");
    let why = stderr(&second);
    assert!(why.contains("already running"), "the refusal says busy: {why}");
    assert!(why.contains(&format!("job {first_id}")), "and names the first job ({first_id}): {why}");
    assert!(why.contains(&format!("process {}", first.id().expect("pid"))), "and its process: {why}");

    let out = first.wait_with_output().await.expect("the first backup ends");
    assert!(out.status.success(), "the first backup succeeds: {}", stderr(&out));
    let summary: serde_json::Value = serde_json::from_str(stdout(&out).trim()).expect("--json line");
    assert_eq!(summary["job_id"], first_id, "the job the others saw is the backup's own");
    assert_eq!(summary["state"], "succeeded");
    assert!(summary["snapshot"].is_string(), "with its snapshot: {summary}");

    let list = jobs(data.path()).await;
    assert_eq!(job(&list, first_id)["state"], "succeeded", "the history agrees: {list:?}");
    let backups = list.iter().filter(|j| j["kind"] == "backup").count();
    assert_eq!(backups, 1, "the refused backup began no job: {list:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_backup_is_marked_interrupted_and_a_retry_works() {
    let (sim, data, _repo, to) = setup().await;
    let org = &sim.orgs[0];

    let mut first = spawn_backup(data.path(), org, &to);
    let killed = active_backup(data.path(), Duration::from_millis(700)).await;
    // SIGKILL: no clean-up runs, the lease stays in the row.
    first.start_kill().expect("kill");
    first.wait().await.expect("reaped");

    // The holder process is gone from this host, so the next start settles its job at once.
    let list = jobs(data.path()).await;
    let dead = job(&list, killed);
    assert_eq!(dead["state"], "failed", "the killed job is not left running: {dead}");
    assert!(dead["error"].as_str().unwrap_or("").contains("interrupted"), "it says why: {dead}");

    let again = orgvault(data.path(), &org.admin.password, &backup_args(org, &to)).await;
    assert!(again.status.success(), "a retry after the kill is not refused as busy: {}", stderr(&again));
    let out = orgvault(data.path(), &org.admin.password, &["verify", "--to", &to, "--json"]).await;
    assert!(out.status.success(), "and its snapshot verifies: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_is_cancelled_from_another_process() {
    let (sim, data, _repo, to) = setup().await;
    let org = &sim.orgs[0];

    let first = spawn_backup(data.path(), org, &to);
    let id = active_backup(data.path(), Duration::from_millis(300)).await;
    let cancel = orgvault(data.path(), "", &["jobs", "--cancel", &id.to_string()]).await;
    assert!(cancel.status.success(), "the cancel request is recorded: {}", stderr(&cancel));

    let out = tokio::time::timeout(Duration::from_secs(60), first.wait_with_output())
        .await
        .expect("the cancelled backup stops within a minute")
        .expect("wait");
    assert!(!out.status.success(), "a cancelled backup exits non-zero");
    let list = jobs(data.path()).await;
    assert_eq!(job(&list, id)["state"], "cancelled", "the job ends cancelled: {list:?}");

    let again = orgvault(data.path(), "", &["jobs", "--cancel", &id.to_string()]).await;
    assert!(!again.status.success(), "an ended job cannot be cancelled");
    assert!(stderr(&again).contains("not running"), "and the error says so: {}", stderr(&again));
}
