//! `orgvault service run` started as a user starts it (a foreground child process, looking for
//! due runs often: the hidden `--tick-ms`), against portal-sim and a real SMTP server on
//! loopback: a schedule due every minute backs up, applies its retention and e-mails the result;
//! with the SMTP server down the job still succeeds and the failed send is shown on the job; a
//! service killed with SIGKILL mid-backup leaves a slot that the next service runs again once.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use portal_sim::{OrgLogin, RunningSim, SimConfig};
use tokio::process::Child;

use crate::smtp_sink::{free_port, SmtpSink};
use crate::support::{add_identity, add_minutely_backup, json_line, run, set_mail, stderr, stdout};

const SMTP_PASSWORD: &str = "svc-smtp-Pa55word";

/// Adds the identity "Acme" (the org's admin, backing up into `to`).
async fn add_acme(data: &Path, org: &OrgLogin, to: &str) {
    add_identity(data, org, "Acme", to).await;
}

/// Adds the schedule "Minutely": a backup of Acme every minute, e-mailed always.
async fn add_minutely(data: &Path, extra: &[&str]) -> i64 {
    add_minutely_backup(data, extra).await["id"].as_i64().expect("an id")
}

async fn mail_set(data: &Path, port: u16, login: bool) {
    set_mail(data, port, "o@example.org", login.then_some(("mailer", SMTP_PASSWORD))).await;
}

/// `orgvault service run --json` in the foreground, looking every 300 ms, without a desktop
/// session (no notification is tried, and none may fail loudly).
fn start_service(data: &Path) -> Child {
    start_service_on(data, None)
}

/// The same with the desktop session bus `bus` (`DBUS_SESSION_BUS_ADDRESS`), if any.
fn start_service_on(data: &Path, bus: Option<&str>) -> Child {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_orgvault"));
    match bus {
        Some(address) => cmd.env("DBUS_SESSION_BUS_ADDRESS", address),
        None => cmd.env_remove("DBUS_SESSION_BUS_ADDRESS"),
    };
    cmd.args(["service", "run", "--json", "--tick-ms", "300"])
        .env("ORGVAULT_DATA_DIR", data)
        .env("ORGVAULT_VAULT_KEY", "file")
        .env_remove("ORGVAULT_PASSWORD")
        .env_remove("ORGVAULT_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("orgvault service run starts")
}

/// Stops the service as Ctrl-C does and returns its run reports (one JSON line each).
async fn stop_service(child: Child) -> Vec<serde_json::Value> {
    let pid = child.id().expect("running").to_string();
    let sent = std::process::Command::new("kill").args(["-INT", &pid]).status().expect("kill runs");
    assert!(sent.success());
    let out = tokio::time::timeout(Duration::from_secs(60), child.wait_with_output())
        .await
        .expect("the service stops on SIGINT")
        .expect("wait");
    assert!(out.status.success(), "the service exits cleanly on Ctrl-C: {}", stderr(&out));
    assert!(!stderr(&out).to_lowercase().contains("notification"), "notifications fail quietly: {}", stderr(&out));
    stdout(&out).lines().map(|l| serde_json::from_str(l).expect("one JSON report per line")).collect()
}

/// A private D-Bus session bus (dbus-daemon) and a dbus-monitor writing every call to the
/// desktop's notification service to a file: what a desktop session would receive. `None` where
/// dbus-daemon or dbus-monitor is not installed.
struct SessionBus {
    address: String,
    calls: std::path::PathBuf,
    daemon: std::process::Child,
    monitor: std::process::Child,
}

impl SessionBus {
    fn start(dir: &Path) -> Option<SessionBus> {
        use std::io::BufRead;
        let mut daemon = std::process::Command::new("dbus-daemon")
            .args(["--session", "--nofork", "--print-address=1"])
            .arg(format!("--address=unix:path={}", dir.join("bus").display()))
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        let mut address = String::new();
        std::io::BufReader::new(daemon.stdout.take()?).read_line(&mut address).ok()?;
        let address = address.trim().to_owned();
        let calls = dir.join("notifications.txt");
        let monitor = std::process::Command::new("dbus-monitor")
            .args(["--address", &address, "type='method_call',interface='org.freedesktop.Notifications'"])
            .stdout(std::fs::File::create(&calls).ok()?)
            .stderr(Stdio::null())
            .spawn()
            .ok()?;
        std::thread::sleep(Duration::from_millis(500)); // the monitor attaches
        Some(SessionBus { address, calls, daemon, monitor })
    }

    fn calls(&self) -> String {
        std::fs::read_to_string(&self.calls).unwrap_or_default()
    }
}

impl Drop for SessionBus {
    fn drop(&mut self) {
        for child in [&mut self.monitor, &mut self.daemon] {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

async fn jobs(data: &Path) -> Vec<serde_json::Value> {
    let out = run(data, &["jobs", "--json"], None, None).await;
    assert!(out.status.success(), "orgvault jobs: {}", stderr(&out));
    json_line(&out).as_array().expect("an array").clone()
}

/// Waits (up to 150 s: the next minute, then the backup) until `done` holds for the job list.
async fn wait_for_jobs(data: &Path, what: &str, done: impl Fn(&[serde_json::Value]) -> bool) -> Vec<serde_json::Value> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    loop {
        let list = jobs(data).await;
        if done(&list) {
            return list;
        }
        assert!(tokio::time::Instant::now() < deadline, "{what} did not happen: {list:?}");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn scheduled(j: &serde_json::Value, id: i64, kind: &str) -> bool {
    j["kind"] == kind && j["trigger"] == serde_json::json!({ "by": "schedule", "schedule_id": id })
}

async fn snapshot_ids(data: &Path, dest: &str) -> Vec<String> {
    let out = run(data, &["snapshots", "--to", dest, "--json"], None, None).await;
    assert!(out.status.success(), "{dest} is a repository: {}", stderr(&out));
    json_line(&out).as_array().expect("an array").iter().map(|s| s["id"].as_str().expect("id").to_owned()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_backs_up_on_schedule_applies_retention_and_e_mails_the_result_without_secrets() {
    let sim = RunningSim::start(SimConfig { items: 12, users: 4, groups: 2, ..SimConfig::default() })
        .await
        .expect("sim starts");
    let org = &sim.orgs[0];
    let sink = SmtpSink::start(Some(("mailer", SMTP_PASSWORD)));
    let data = tempfile::tempdir().unwrap();
    let own = data.path().join("acme-backups").display().to_string();
    add_acme(data.path(), org, &own).await;
    mail_set(data.path(), sink.port, true).await;
    let out = run(data.path(), &["backup", "--identity", "Acme", "--json", "--name", "by hand"], None, None).await;
    assert!(out.status.success(), "a manual backup first: {}", stderr(&out));
    let manual = json_line(&out)["snapshot"].as_str().expect("snapshot").to_owned();
    assert_eq!(snapshot_ids(data.path(), &own).await, vec![manual.clone()], "one snapshot before the schedule");
    let id = add_minutely(data.path(), &["--keep-last", "1"]).await;

    let service = start_service(data.path());
    let list = wait_for_jobs(data.path(), "the scheduled backup and its retention", |list| {
        list.iter().any(|j| scheduled(j, id, "retention") && j["state"] != "running" && j["state"] != "queued")
    })
    .await;
    let delivered = sink.wait_for(1);
    let reports = stop_service(service).await;

    // (A second minute may begin before the service is stopped; the first slot is the one.)
    let report = reports.first().expect("the service reported the run");
    assert_eq!((&report["slot_state"], &report["job_state"]), (&"ran".into(), &"succeeded".into()), "{report}");
    let backup = list.iter().find(|j| j["id"] == report["job_id"]).expect("the backup job is listed");
    assert!(scheduled(backup, id, "backup"), "the job says the schedule started it: {backup}");
    let retention = list.iter().find(|j| scheduled(j, id, "retention")).expect("retention ran");
    assert_eq!(retention["state"], "succeeded", "{retention}");
    let snapshot = backup["counts"]["snapshot"].as_str().expect("the backup's snapshot").to_owned();
    assert_eq!(snapshot_ids(data.path(), &own).await, vec![snapshot.clone()], "keep-last 1 kept only the new one");
    assert_ne!(snapshot, manual);

    assert_eq!(delivered.len(), 1, "one message for one run");
    let m = &delivered[0];
    assert_eq!(m.rcpt_tos, vec!["ops@example.com"]);
    assert_eq!(m.login.as_deref(), Some("mailer"), "sent through the saved server with its login");
    assert!(m.subject.contains("succeeded"), "{}", m.subject);
    assert!(m.text.contains(&format!("Snapshot: {snapshot}")), "the snapshot id is in the message:\n{}", m.text);
    let items = backup["counts"]["items"].as_u64().expect("an item count");
    let tally = if items == 1 { "1 item".to_owned() } else { format!("{items} items") };
    assert!(m.text.contains(&tally), "the counts are in the message:\n{}", m.text);
    assert!(m.html.contains(&snapshot), "the HTML part says the same");
    assert!(m.text.contains("Next run: "), "a scheduled result says when it runs next:\n{}", m.text);
    for secret in [org.admin.password.as_str(), SMTP_PASSWORD] {
        assert!(!m.raw.contains(secret), "no password in the message as sent");
    }
    for shape in ["token=", "AccountKey", "SharedAccessSignature", "password="] {
        assert!(!m.raw.to_lowercase().contains(&shape.to_lowercase()), "nothing shaped like a {shape} secret");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_smtp_server_down_the_scheduled_job_succeeds_and_the_failed_send_is_shown() {
    let sim = RunningSim::start(SimConfig { items: 6, users: 2, groups: 1, ..SimConfig::default() })
        .await
        .expect("sim starts");
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let own = data.path().join("acme-backups").display().to_string();
    add_acme(data.path(), org, &own).await;
    let down = free_port();
    mail_set(data.path(), down, false).await;
    let id = add_minutely(data.path(), &[]).await;

    // This service runs in a desktop session: its job's end is announced there.
    // dbus-daemon and dbus-monitor (Debian: dbus-daemon, dbus-bin) come from scripts/setup.sh.
    let bus = SessionBus::start(data.path());
    assert!(
        bus.is_some(),
        "a private D-Bus session starts (dbus-daemon and dbus-monitor are installed by scripts/setup.sh)"
    );
    let service = start_service_on(data.path(), bus.as_ref().map(|b| b.address.as_str()));
    let list = wait_for_jobs(data.path(), "the scheduled backup and its failed e-mail", |list| {
        list.iter().any(|j| scheduled(j, id, "backup") && j["mail"].as_array().is_some_and(|m| !m.is_empty()))
    })
    .await;
    let reports = stop_service(service).await;
    let job = list.iter().find(|j| scheduled(j, id, "backup")).expect("the scheduled backup");
    assert_eq!(job["state"], "succeeded", "a failed e-mail never changes the job: {job}");
    assert_eq!(reports[0]["job_state"], "succeeded", "{reports:?}");
    let mail = &job["mail"][0];
    assert_eq!(mail["state"], "failed", "`jobs --json` shows the failed send on the job: {job}");
    assert_eq!(mail["recipients"], serde_json::json!(["ops@example.com"]));
    assert!(
        mail["error"].as_str().is_some_and(|e| e.contains(&format!("127.0.0.1:{down}"))),
        "the reason names the server: {mail}"
    );

    let out = run(data.path(), &["jobs"], None, None).await;
    let text = stdout(&out);
    assert!(text.contains("e-mail FAILED after"), "`orgvault jobs` shows it too:\n{text}");

    if let Some(bus) = bus {
        let calls = bus.calls();
        assert!(
            calls.contains("member=Notify") && calls.contains("OrgVault: Minutely succeeded"),
            "the service asked the desktop session to show the job's end: {calls}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_whose_service_was_killed_mid_backup_is_run_again_once_by_the_next_service() {
    let sim =
        RunningSim::start(SimConfig { orgs: 1, items: 60, latency_ms: 25, ..SimConfig::default() }).await.unwrap();
    let org = &sim.orgs[0];
    let data = tempfile::tempdir().unwrap();
    let own = data.path().join("acme-backups").display().to_string();
    add_acme(data.path(), org, &own).await;
    let id = add_minutely(data.path(), &[]).await;

    let mut first = start_service(data.path());
    let list = wait_for_jobs(data.path(), "a scheduled backup running", |list| {
        list.iter().any(|j| scheduled(j, id, "backup") && j["state"] == "running")
    })
    .await;
    let killed_job = list.iter().find(|j| scheduled(j, id, "backup")).expect("running")["id"].as_i64().unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    first.start_kill().expect("SIGKILL");
    first.wait().await.expect("reaped");

    let out = run(data.path(), &["schedule", "list", "--json"], None, None).await;
    let killed_slot = json_line(&out)[0]["last_slot_ms"].as_i64().expect("the claimed slot");

    let out = run(data.path(), &["service", "run", "--once", "--json"], None, None).await;
    assert!(out.status.success(), "{}", stderr(&out));
    let reports = json_line(&out);
    let again = reports
        .as_array()
        .expect("an array")
        .iter()
        .find(|r| r["slot_ms"] == killed_slot)
        .unwrap_or_else(|| panic!("the killed slot is run again: {reports}"));
    assert_eq!(again["job_state"], "succeeded", "{again}");
    let note = again["note"].as_str().expect("the report says why it ran again");
    assert!(
        note.starts_with("run again: the process that ran it") && note.contains(&format!("job {killed_job}")),
        "{note}"
    );

    let list = jobs(data.path()).await;
    let killed = list.iter().find(|j| j["id"] == killed_job).expect("listed");
    assert_eq!(
        (&killed["state"], &killed["error"]),
        (&"failed".into(), &"interrupted (the app stopped while it ran)".into()),
        "the killed job is failed as interrupted, not left running"
    );
    let out = run(data.path(), &["schedule", "list"], None, None).await;
    let listed = stdout(&out);
    let out = run(data.path(), &["schedule", "list", "--json"], None, None).await;
    let last_note = json_line(&out)[0]["last_note"].clone();
    if json_line(&out)[0]["last_slot_ms"] == killed_slot {
        assert_eq!(last_note, serde_json::json!(note), "the slot keeps the note");
        assert!(listed.contains(note), "`schedule list` says it ran again:\n{listed}");
    }
    let out = run(data.path(), &["service", "run", "--once", "--json"], None, None).await;
    let later = json_line(&out);
    assert!(
        later.as_array().expect("an array").iter().all(|r| r["slot_ms"] != killed_slot),
        "a slot is run again once only: {later}"
    );
}
