//! The app and the `orgvault` CLI on one data folder: the app's start leaves a CLI job alone,
//! the app's runner is refused while the CLI backs the identity up (busy, naming the CLI
//! process), and the app's cancel stops the CLI's job.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use orgvault_core::jobs::{JobFilter, JobKind, JobState};
use orgvault_core::vault::MemoryVault;
use orgvault_core::{JobRunner, JobSpec};
use orgvault_desktop::secrets::VaultSource;
use orgvault_desktop::state::AppState;
use portal_sim::{RunningSim, SimConfig};

/// The `orgvault` binary `cargo test --workspace` builds beside this test's executable.
pub(crate) fn cli_binary() -> PathBuf {
    let exe = std::env::current_exe().expect("test executable");
    let dir = exe.parent().and_then(|deps| deps.parent()).expect("target profile folder");
    let bin = dir.join(format!("orgvault{}", std::env::consts::EXE_SUFFIX));
    assert!(
        bin.exists(),
        "{} is missing: build it with `cargo build -p orgvault-cli` (cargo test --workspace does)",
        bin.display()
    );
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_app_is_refused_while_the_cli_backs_up_and_cancels_the_cli_job() -> anyhow::Result<()> {
    let sim = RunningSim::start(SimConfig { orgs: 1, items: 60, latency_ms: 25, ..SimConfig::default() }).await?;
    let org = &sim.orgs[0];
    let data = tempfile::tempdir()?;
    let repo = tempfile::tempdir()?;
    let to = repo.path().join("vault");
    let cli = tokio::process::Command::new(cli_binary())
        .args(["backup", "--portal", &org.portal_url, "--username", &org.admin.username, "--json", "--to"])
        .arg(&to)
        .env("ORGVAULT_DATA_DIR", data.path())
        .env("ORGVAULT_PASSWORD", &org.admin.password)
        // New repositories are encrypted; without a terminal the CLI reads the password here.
        .env("ORGVAULT_REPOSITORY_PASSWORD", "desktop test repository password")
        .env_remove("ORGVAULT_LOG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;

    // The app starts on the same data folder while the CLI works.
    let mut job = None;
    for _ in 0..600 {
        if data.path().join("orgvault.sqlite").exists() {
            let state = AppState::open(
                data.path(),
                (Arc::new(MemoryVault::default()), VaultSource::MemoryOnly("t".into())),
                None,
            )
            .await
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
            let active = JobFilter {
                kind: Some(JobKind::Backup),
                states: vec![JobState::Queued, JobState::Running],
                ..Default::default()
            };
            if let Some(j) = state.jobs().list(&active).await?.into_iter().next() {
                job = Some((state, j));
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (state, backup) = job.expect("the CLI's backup job appears");
    let identity = backup.identity_id.clone().expect("the backup belongs to an identity");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(!state.jobs().get(backup.id).await?.state.is_final(), "the app's start left the CLI's live job alone");

    // What the app's launcher does first for a backup of the same identity.
    let refused = JobRunner::new(&state.db, &state.clock)
        .begin(&JobSpec::new(JobKind::Backup, Some(&identity), "from the app"))
        .await
        .expect_err("the app must not start a second backup of the identity");
    assert_eq!(refused.code(), orgvault_core::ErrorCode::Busy);
    let pid = cli.id().expect("pid");
    assert!(refused.to_string().contains(&format!("job {}", backup.id)), "names the CLI's job: {refused}");
    assert!(refused.to_string().contains(&format!("process {pid}")), "and its process: {refused}");

    // The app's cancel command.
    orgvault_desktop::running::cancel(&state, backup.id).await.map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let out = tokio::time::timeout(Duration::from_secs(60), cli.wait_with_output()).await??;
    assert!(!out.status.success(), "the CLI's backup stopped: {}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(state.jobs().get(backup.id).await?.state, JobState::Cancelled, "and its job ended cancelled");
    Ok(())
}
