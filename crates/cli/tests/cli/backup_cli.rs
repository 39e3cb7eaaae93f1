//! `orgvault backup`, `snapshots` and `verify` as a script runs them: JSON output, an incremental
//! second run, kill -9 at random moments, a full disk and a read-only destination.

use std::path::Path;
use std::time::Duration;

use portal_sim::{OrgLogin, RunningSim, SimConfig};

use crate::support::{json_line, orgvault, stderr, stdout};

fn backup_args<'a>(org: &'a OrgLogin, to: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut v = vec!["backup", "--portal", &org.portal_url, "--username", &org.admin.username, "--to", to];
    v.extend_from_slice(extra);
    v
}

async fn verify_ok(data: &Path, org: &OrgLogin, to: &str) -> serde_json::Value {
    let out = orgvault(data, &org.admin.password, &["verify", "--to", to, "--json"]).await;
    assert!(out.status.success(), "verify must pass: {} {}", stdout(&out), stderr(&out));
    json_line(&out)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_json_then_snapshots_verify_and_an_incremental_run() {
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 80, users: 10, groups: 5, ..SimConfig::default() })
        .await
        .unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let to = repo.path().join("vault").display().to_string();

    let out =
        orgvault(data.path(), &org.admin.password, &backup_args(org, &to, &["--json", "--name", "nightly"])).await;
    assert!(out.status.success(), "a backup of a healthy org succeeds: {}", stderr(&out));
    let first = json_line(&out);
    let counts = sim.control().org(&org.url_key).unwrap();
    assert_eq!(first["items"].as_u64().unwrap() as usize, counts.items, "every item is in the snapshot");
    assert_eq!(first["users"].as_u64().unwrap() as usize, counts.users, "every user is in the snapshot");
    assert_eq!(first["groups"].as_u64().unwrap() as usize, counts.groups, "every group is in the snapshot");
    assert_eq!(first["failed"], 0, "nothing failed");
    for key in ["bytes_new", "bytes_total"] {
        assert!(first[key].as_u64().unwrap() > 0, "{key} is a positive number: {first}");
    }
    let snapshot = first["snapshot"].as_str().expect("snapshot id").to_owned();

    let out = orgvault(data.path(), &org.admin.password, &["snapshots", "--to", &to, "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let list = json_line(&out);
    let list = list.as_array().expect("an array");
    assert_eq!(list.len(), 1, "one snapshot listed");
    assert_eq!(list[0]["id"], snapshot.as_str(), "the listed id is the backup's");
    assert_eq!(list[0]["name"], "nightly", "the given name is kept");
    for key in ["time", "items", "users", "groups", "bytes"] {
        assert!(!list[0][key].is_null(), "snapshots --json has {key}");
    }
    assert_eq!(verify_ok(data.path(), org, &to).await["ok"], true, "verify reports ok");

    let data_before = sim.state.faults.requests_containing("/data");
    let out = orgvault(data.path(), &org.admin.password, &backup_args(org, &to, &["--json"])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let second = json_line(&out);
    // The scan before the backup reads JSON /data of maps and apps; the backup itself must not.
    assert_eq!(second["data_downloads"], 0, "an unchanged org downloads no item data");
    let (new, total) = (second["bytes_new"].as_u64().unwrap(), second["bytes_total"].as_u64().unwrap());
    assert!(new * 100 <= total, "at most 1% new bytes on an unchanged org ({new} of {total})");
    assert!(
        sim.state.faults.requests_containing("/data") - data_before < counts.items as u64,
        "only the scan's JSON reads touched /data"
    );
    assert_eq!(verify_ok(data.path(), org, &to).await["snapshots"].as_array().unwrap().len(), 2, "both verify");
}

/// A tiny deterministic generator for kill moments (seeded, no dependency).
fn next(seed: &mut u64) -> u64 {
    *seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_at_random_moments_leaves_a_verifiable_repository() {
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 80, latency_ms: 5, ..SimConfig::default() }).await.unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let repo = tempfile::tempdir().unwrap();
    let to = repo.path().join("vault").display().to_string();
    let mut seed = 0x5eed_u64;
    for trial in 0..5 {
        let wait = 150 + next(&mut seed) % 2_500;
        let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
            .args(backup_args(org, &to, &["--json"]))
            .env("ORGVAULT_DATA_DIR", data.path())
            .env("ORGVAULT_REPOSITORY_PASSWORD", crate::support::REPOSITORY_PASSWORD)
            .env("ORGVAULT_PASSWORD", &org.admin.password)
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("orgvault starts");
        tokio::time::sleep(Duration::from_millis(wait)).await;
        // SIGKILL: no destructor, no cleanup, exactly like a power cut for the process.
        let _ = child.start_kill();
        let _ = child.wait().await;
        let out = orgvault(data.path(), &org.admin.password, &["verify", "--to", &to, "--json"]).await;
        assert!(
            out.status.success(),
            "trial {trial} (killed after {wait} ms): the repository must verify: {} {}",
            stdout(&out),
            stderr(&out)
        );
    }
    let out = orgvault(data.path(), &org.admin.password, &backup_args(org, &to, &["--json"])).await;
    assert!(out.status.success(), "the backup after the kills succeeds: {}", stderr(&out));
    let summary = json_line(&out);
    let job = summary["job_id"].to_string();
    let items = orgvault(data.path(), &org.admin.password, &["jobs", "--job", &job]).await;
    assert_eq!(summary["failed"], 0, "and is complete: {summary}\n{}", stdout(&items));
    verify_ok(data.path(), org, &to).await;
    let out = orgvault(data.path(), &org.admin.password, &["jobs", "--json"]).await;
    assert!(!stdout(&out).contains("\"running\""), "no job stays running after the kills: {}", stdout(&out));
}

/// Mounts a tmpfs of `size` at `dir` (needs root, which the test machines have).
fn mount_tmpfs(dir: &Path, size: &str) -> MountGuard {
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
        .arg(dir)
        .status()
        .expect("mount runs");
    assert!(st.success(), "mounting a tmpfs at {} failed: these tests need root (mount -t tmpfs)", dir.display());
    MountGuard(dir.to_owned())
}

struct MountGuard(std::path::PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

fn remount(dir: &Path, how: &str) {
    let st = std::process::Command::new("mount").args(["-o", how]).arg(dir).status().expect("mount runs");
    assert!(st.success(), "mount -o {how} {} failed", dir.display());
}

/// The smallest item with data of the org, for a backup that fits anywhere.
fn small_item(sim: &RunningSim) -> String {
    let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let o = &u.orgs[0];
    o.items
        .values()
        .filter(|i| i.service_name.is_none())
        .filter_map(|i| match &i.data {
            portal_sim::model::ItemData::Json(_) => Some(i.id.clone()),
            _ => None,
        })
        .next()
        .expect("an item with JSON data")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_and_a_read_only_destination_fail_clearly_and_keep_the_repository() {
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 80, ..SimConfig::default() }).await.unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let small = small_item(&sim);

    // Disk full: a 3 MB tmpfs holds one small snapshot, not the whole org (about 10 MB).
    let full = tempfile::tempdir().unwrap();
    let _m = mount_tmpfs(full.path(), "3m");
    let to = full.path().join("vault").display().to_string();
    let out = orgvault(data.path(), &org.admin.password, &backup_args(org, &to, &["--select-id", &small])).await;
    assert!(out.status.success(), "a one-item backup fits: {}", stderr(&out));
    let out = orgvault(data.path(), &org.admin.password, &backup_args(org, &to, &[])).await;
    assert!(!out.status.success(), "a backup that fills the disk must fail");
    let err = stderr(&out);
    assert!(
        err.to_lowercase().contains("no space left") || err.contains("room"),
        "the failure names the full disk: {err}"
    );
    let v = verify_ok(data.path(), org, &to).await;
    assert_eq!(v["snapshots"].as_array().unwrap().len(), 1, "the earlier snapshot is intact and the failed one absent");

    // Read-only: the same small snapshot, then the file system turns read-only.
    let ro = tempfile::tempdir().unwrap();
    let _m2 = mount_tmpfs(ro.path(), "8m");
    let to = ro.path().join("vault").display().to_string();
    let out = orgvault(data.path(), &org.admin.password, &backup_args(org, &to, &["--select-id", &small])).await;
    assert!(out.status.success(), "{}", stderr(&out));
    remount(ro.path(), "remount,ro");
    let out = orgvault(data.path(), &org.admin.password, &backup_args(org, &to, &[])).await;
    assert!(!out.status.success(), "a backup to a read-only destination must fail");
    let err = stderr(&out);
    assert!(err.to_lowercase().contains("read-only"), "the failure names the read-only destination: {err}");
    // Reading writes nothing, so the destination is listed and verified while still read-only.
    let out = orgvault(data.path(), &org.admin.password, &["snapshots", "--to", &to, "--json"]).await;
    assert!(out.status.success(), "snapshots must list a read-only destination: {}", stderr(&out));
    assert_eq!(json_line(&out).as_array().map(Vec::len), Some(1), "the read-only repository lists its one snapshot");
    let v = verify_ok(data.path(), org, &to).await;
    assert_eq!(
        v["snapshots"].as_array().unwrap().len(),
        1,
        "on the still read-only destination the earlier snapshot verifies and no new one appeared"
    );
    remount(ro.path(), "remount,rw");
}
