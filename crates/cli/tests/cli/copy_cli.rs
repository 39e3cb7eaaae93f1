//! `orgvault copy` as a script runs it: JSON output, a rerun that sends nothing, and kill -9
//! mid-copy followed by a rerun that completes without duplicating anything.

use std::path::Path;
use std::time::Duration;

use portal_sim::{RunningSim, SimConfig};

use crate::support::{json_line, orgvault, stderr, stdout};

/// The blob files under a folder repository's `data/` (names of 64 hex digits; a partial upload
/// a kill left behind, `<id>#<n>`, is not a blob, and prune removes it).
fn blob_files(repo: &Path) -> usize {
    let Ok(dirs) = std::fs::read_dir(repo.join("data")) else { return 0 };
    let is_blob = |n: &str| n.len() == 64 && n.bytes().all(|b| b.is_ascii_hexdigit());
    dirs.flatten()
        .flat_map(|d| std::fs::read_dir(d.path()).into_iter().flatten().flatten())
        .filter(|f| f.file_name().to_str().is_some_and(is_blob))
        .count()
}

fn snapshot_names(list: &serde_json::Value) -> Vec<String> {
    let mut names: Vec<String> =
        list.as_array().expect("an array").iter().map(|s| s["name"].as_str().expect("a name").to_owned()).collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn copy_killed_midway_completes_on_rerun_without_duplicates() {
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 150, users: 10, groups: 5, ..SimConfig::default() })
        .await
        .unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let from = dir.path().join("from").display().to_string();
    let to_path = dir.path().join("to");
    let to = to_path.display().to_string();
    for name in ["first", "second"] {
        let out = orgvault(
            data.path(),
            &org.admin.password,
            &["backup", "--portal", &org.portal_url, "--username", &org.admin.username, "--to", &from, "--name", name],
        )
        .await;
        assert!(out.status.success(), "the source backup succeeds: {}", stderr(&out));
    }
    let source = json_line(&orgvault(data.path(), "", &["snapshots", "--to", &from, "--json"]).await);
    let total_blobs = blob_files(&dir.path().join("from"));

    let mut killed_midway = 0;
    for wait in [150u64, 300, 500, 800, 1_200] {
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
            .args(["copy", "--from", &from, "--to", &to, "--json"])
            .env("ORGVAULT_DATA_DIR", data.path())
            .env("ORGVAULT_REPOSITORY_PASSWORD", crate::support::REPOSITORY_PASSWORD)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("orgvault starts");
        tokio::time::sleep(Duration::from_millis(wait)).await;
        // SIGKILL: no destructor, no cleanup, like a power cut for the process.
        let _ = child.start_kill();
        let status = child.wait().await.expect("the child is reaped");
        let copied = blob_files(&to_path);
        if !status.success() && copied > 0 && copied < total_blobs {
            killed_midway += 1;
        }
        if to_path.join("config").exists() {
            let out = orgvault(data.path(), "", &["verify", "--to", &to, "--json"]).await;
            assert!(out.status.success(), "after a kill at {wait} ms the destination verifies: {}", stderr(&out));
        }
    }
    assert!(killed_midway > 0, "at least one kill must land mid-copy (some but not all blobs copied)");

    let out = orgvault(data.path(), "", &["copy", "--from", &from, "--to", &to, "--json"]).await;
    assert!(out.status.success(), "the rerun completes: {}", stderr(&out));
    let report = json_line(&out);
    assert_eq!(report["snapshots"].as_array().expect("snapshots").len(), 2, "both snapshots are accounted for");
    let dest = json_line(&orgvault(data.path(), "", &["snapshots", "--to", &to, "--json"]).await);
    // Both repositories are encrypted, each under its own keys, so ids differ: count by name.
    assert_eq!(snapshot_names(&dest), snapshot_names(&source), "the destination has each snapshot exactly once");
    // The source may hold blobs no snapshot references (a backup's leftovers); a copy sends only
    // referenced ones, and verify below proves every one of those is there.
    assert!(blob_files(&to_path) <= total_blobs, "nothing beyond the source's blobs is stored");
    let out = orgvault(data.path(), "", &["verify", "--to", &to, "--json"]).await;
    assert!(out.status.success(), "the completed copy verifies: {} {}", stdout(&out), stderr(&out));

    let out = orgvault(data.path(), "", &["copy", "--from", &from, "--to", &to, "--json"]).await;
    let again = json_line(&out);
    for s in again["snapshots"].as_array().expect("snapshots") {
        assert_eq!(s["already_there"], true, "a copy already done sends nothing: {again}");
        assert_eq!(s["blobs_copied"], 0, "{again}");
    }
    let jobs = stdout(&orgvault(data.path(), "", &["jobs", "--json"]).await);
    assert!(jobs.contains("\"copy\""), "copies are jobs of the history: {jobs}");
    assert!(!jobs.contains("\"running\""), "no copy job stays running after the kills: {jobs}");
}
