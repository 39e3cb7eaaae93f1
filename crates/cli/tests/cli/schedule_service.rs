//! A schedule due every minute, run by `orgvault service run --once` as a user would start it:
//! a real backup of portal-sim into the identity's storage, retention after it, the job's
//! trigger in `orgvault jobs --json`, and no second run of the same slot.

use portal_sim::{RunningSim, SimConfig};

use crate::support::{add_identity, add_minutely_backup, json_line, run, stderr};

async fn snapshot_ids(data: &std::path::Path, dest: &str) -> Vec<String> {
    let out = run(data, &["snapshots", "--to", dest, "--json"], None, None).await;
    assert!(out.status.success(), "{dest} is a repository: {}", stderr(&out));
    json_line(&out).as_array().expect("an array").iter().map(|s| s["id"].as_str().expect("id").to_owned()).collect()
}

/// Sleeps until 2 s past the next minute of the wall clock.
async fn after_the_next_minute() {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_millis() as u64;
    let wait = 60_000 - now % 60_000 + 2_000;
    tokio::time::sleep(std::time::Duration::from_millis(wait)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_minutely_schedule_runs_a_backup_with_retention_once_from_the_service() {
    let sim = RunningSim::start(SimConfig { items: 12, users: 4, groups: 2, ..SimConfig::default() })
        .await
        .expect("sim starts");
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let own = data.path().join("acme-backups").display().to_string();
    add_identity(data.path(), org, "Acme", &own).await;
    let out = run(data.path(), &["backup", "--identity", "Acme", "--json", "--name", "by hand"], None, None).await;
    assert!(out.status.success(), "a manual backup first: {}", stderr(&out));
    let manual = json_line(&out)["snapshot"].as_str().expect("snapshot").to_owned();

    let added = add_minutely_backup(data.path(), &["--keep-last", "1"]).await;
    let id = added["id"].as_i64().expect("an id");
    assert_eq!(added["next_runs"].as_array().map(Vec::len), Some(5), "the next five runs are shown: {added}");

    let out = run(data.path(), &["service", "run", "--once", "--json"], None, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(json_line(&out), serde_json::json!([]), "nothing is due before the first minute after adding");

    after_the_next_minute().await;
    let out = run(data.path(), &["service", "run", "--once", "--json"], None, None).await;
    assert!(out.status.success(), "the service runs: {}", stderr(&out));
    let reports = json_line(&out);
    let reports = reports.as_array().expect("an array");
    assert_eq!(reports.len(), 1, "one slot, one run: {reports:?}");
    assert_eq!(reports[0]["error"], serde_json::Value::Null, "the scheduled backup ran: {reports:?}");
    assert_eq!(reports[0]["slot_state"], "ran");
    assert_eq!(reports[0]["job_state"], "succeeded");
    let backup_job = reports[0]["job_id"].as_i64().expect("a job");

    let out = run(data.path(), &["service", "run", "--once", "--json"], None, None).await;
    assert_eq!(json_line(&out), serde_json::json!([]), "the same slot never runs twice");

    let snapshots = snapshot_ids(data.path(), &own).await;
    assert_eq!(snapshots.len(), 1, "keep-last 1 forgot the manual snapshot: {snapshots:?}");
    assert_ne!(snapshots[0], manual, "the one kept is the scheduled backup's");

    let out = run(data.path(), &["jobs", "--json"], None, None).await;
    let jobs = json_line(&out);
    let jobs = jobs.as_array().expect("jobs");
    let by_schedule = serde_json::json!({ "by": "schedule", "schedule_id": id });
    let job = jobs.iter().find(|j| j["id"] == backup_job).expect("the backup job is listed");
    assert_eq!(job["trigger"], by_schedule, "the job says the schedule started it: {job}");
    assert!(
        jobs.iter().any(|j| j["kind"] == "retention" && j["trigger"] == by_schedule && j["state"] == "succeeded"),
        "retention ran as a job of the schedule: {jobs:?}"
    );
    assert!(
        jobs.iter().any(|j| j["kind"] == "backup" && j["trigger"] == serde_json::json!({ "by": "manual" })),
        "the manual backup stays manual"
    );

    let out = run(data.path(), &["schedule", "list", "--json"], None, None).await;
    let list = json_line(&out);
    let listed = &list.as_array().expect("an array")[0];
    assert_eq!(
        (&listed["id"], &listed["name"], &listed["identity"], &listed["kind"], &listed["cron"]),
        (
            &serde_json::json!(id),
            &serde_json::json!("Minutely"),
            &serde_json::json!("Acme"),
            &serde_json::json!("backup"),
            &serde_json::json!("* * * * *")
        )
    );
    assert_eq!(listed["last_state"], "ran");
    assert_eq!(listed["enabled"], true);
    assert!(listed["next_run"].is_string(), "the next run is shown: {listed}");

    let out = run(data.path(), &["schedule", "run-now", "Minutely", "--json"], None, None).await;
    assert!(out.status.success(), "run-now runs the schedule at once: {}", stderr(&out));
    let now = json_line(&out);
    assert_eq!(
        (&now["slot_ms"], &now["job_state"]),
        (&serde_json::Value::Null, &serde_json::json!("succeeded")),
        "{now}"
    );
    let out = run(data.path(), &["jobs", "--job", &now["job_id"].to_string(), "--json"], None, None).await;
    assert_eq!(json_line(&out)["job"]["trigger"], by_schedule, "a run-now job is the schedule's too");

    let out = run(data.path(), &["schedule", "edit", &id.to_string(), "--disable", "--json"], None, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(data.path(), &["schedule", "list", "--json"], None, None).await;
    assert_eq!(json_line(&out)[0]["next_run"], serde_json::Value::Null, "a disabled schedule has no next run");
    let out = run(data.path(), &["schedule", "remove", "Minutely"], None, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run(data.path(), &["schedule", "list", "--json"], None, None).await;
    assert_eq!(json_line(&out), serde_json::json!([]));
}

#[tokio::test]
async fn service_install_writes_a_unit_that_systemd_accepts() {
    if !cfg!(target_os = "linux") {
        return; // the unit is a Linux one; launchd and Task Scheduler files are unit-tested
    }
    // systemd-analyze (Debian: systemd) is installed by scripts/setup.sh; no silent skip.
    let dir = tempfile::tempdir().unwrap();
    // A data folder with a space and a percent sign, which the unit must quote and escape.
    let data = dir.path().join("data 100%");
    let config = dir.path().join("config");
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
        .args(["service", "install", "--no-start"])
        .env("ORGVAULT_DATA_DIR", &data)
        .env("XDG_CONFIG_HOME", &config)
        .env("ORGVAULT_VAULT_KEY", "file")
        .output()
        .await
        .expect("orgvault runs");
    assert!(out.status.success(), "{}", stderr(&out));
    let unit = config.join("systemd/user/orgvault.service");
    let text = std::fs::read_to_string(&unit).expect("the unit was written");
    assert!(text.contains("service run"), "{text}");
    let verify = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&unit)
        .output()
        .expect("systemd-analyze (Debian: systemd, installed by scripts/setup.sh) runs");
    assert!(
        verify.status.success(),
        "systemd-analyze verify accepts the unit: {}\n{text}",
        String::from_utf8_lossy(&verify.stderr)
    );
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"))
        .args(["service", "uninstall"])
        .env("ORGVAULT_DATA_DIR", &data)
        .env("XDG_CONFIG_HOME", &config)
        .output()
        .await
        .expect("orgvault runs");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(!unit.exists(), "uninstall removes the unit");
}
