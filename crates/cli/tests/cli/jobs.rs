use portal_sim::{RunningSim, SimConfig};

use crate::support::{orgvault, stderr, stdout};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_lists_succeeded_and_refused_scans() {
    let sim = RunningSim::start(SimConfig::default()).await.unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();

    let out = orgvault(data.path(), "", &["jobs", "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(stdout(&out).trim(), "[]", "a new data folder has no jobs");

    let ok =
        orgvault(data.path(), &org.admin.password, &["scan", "--portal", &org.portal_url, "-u", &org.admin.username])
            .await;
    assert!(ok.status.success(), "{}", stderr(&ok));
    let refused =
        orgvault(data.path(), &org.user.password, &["scan", "--portal", &org.portal_url, "-u", &org.user.username])
            .await;
    assert!(!refused.status.success());

    let out = orgvault(data.path(), "", &["jobs", "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let jobs: Vec<serde_json::Value> = serde_json::from_str(stdout(&out).trim()).expect("jobs --json is a JSON array");
    assert_eq!(jobs.len(), 2, "both scans are in the history: {jobs:?}");
    assert_eq!(jobs[0]["state"], "failed", "the newest job, the non-admin's scan, failed");
    assert!(
        jobs[0]["error"].as_str().unwrap_or("").contains("not an administrator"),
        "the history keeps why: {}",
        jobs[0]
    );
    assert_eq!(jobs[1]["state"], "succeeded", "the admin's scan succeeded");
    assert_eq!(jobs[1]["kind"], "scan");

    let id = jobs[1]["id"].as_i64().unwrap().to_string();
    let out = orgvault(data.path(), "", &["jobs", "--job", &id, "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let one: serde_json::Value = serde_json::from_str(stdout(&out).trim()).unwrap();
    assert_eq!(one["job"]["id"].as_i64().unwrap().to_string(), id);
    assert!(one["items"].is_array(), "a job shows its item outcomes");

    let out = orgvault(data.path(), "", &["jobs", "--job", "99999"]).await;
    assert!(!out.status.success(), "an unknown job id is an error");
    assert!(stderr(&out).contains("99999"), "the error names the id: {}", stderr(&out));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cli_removes_its_and_the_apps_log_files_older_than_settings_keep_them() {
    let data = tempfile::tempdir().unwrap();
    let logs = data.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    std::fs::write(data.path().join("settings.json"), r#"{"log_level":"info","headers":[],"log_keep_days":3}"#)
        .unwrap();
    let old = ["orgvault.log.2020-01-01", "orgvault-desktop.log.2020-01-02"];
    for f in old.iter().chain(&["orgvault.log.2020-01-01.txt", "readme.txt"]) {
        std::fs::write(logs.join(f), "x\n").unwrap();
    }
    let out = orgvault(data.path(), "", &["jobs", "--json"]).await;
    assert!(out.status.success(), "{}", stderr(&out));
    for f in old {
        assert!(!logs.join(f).exists(), "{f} is older than the 3 days Settings keep: removed");
    }
    for f in ["orgvault.log.2020-01-01.txt", "readme.txt"] {
        assert!(logs.join(f).exists(), "{f} is not a log file of OrgVault's: kept");
    }
}
