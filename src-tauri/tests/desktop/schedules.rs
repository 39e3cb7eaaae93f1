//! The app and `orgvault service run` up together on one data folder: the app's scheduler loop
//! (`scheduler::run_schedules`, what the app runs while it is open) in this process, the CLI's
//! service as a child process, both looking for due slots every 200 ms. Each due run happens
//! exactly once: one slot row, one job per slot, whichever host ran it.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orgvault_core::jobs::{JobFilter, JobKind, JobState, Trigger};
use orgvault_core::schedule::{JobEndedHook, ScheduledJobEnded, Schedules};
use orgvault_desktop::secrets::VaultSource;
use orgvault_desktop::state::AppState;
use portal_sim::{RunningSim, SimConfig};
use tokio_util::sync::CancellationToken;

use crate::jobs::cli_binary;

/// Which slots the app ran, by schedule.
#[derive(Default)]
struct AppRuns(Mutex<Vec<(i64, i64)>>);

#[async_trait::async_trait]
impl JobEndedHook for AppRuns {
    async fn scheduled_job_ended(&self, ended: &ScheduledJobEnded<'_>) {
        if let Some(slot) = ended.slot_ms {
            self.0.lock().expect("lock").push((ended.schedule.id, slot));
        }
    }
}

async fn orgvault(data: &std::path::Path, args: &[&str], stdin: Option<&str>) -> std::process::Output {
    use tokio::io::AsyncWriteExt;
    let mut child = tokio::process::Command::new(cli_binary())
        .args(args)
        .env("ORGVAULT_DATA_DIR", data)
        .env("ORGVAULT_VAULT_KEY", "file")
        .env_remove("ORGVAULT_LOG")
        .stdin(if stdin.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("orgvault runs");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin");
        pipe.write_all(text.as_bytes()).await.expect("write");
    }
    child.wait_with_output().await.expect("orgvault ends")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_app_and_the_service_up_each_due_run_happens_exactly_once() -> anyhow::Result<()> {
    let sim = RunningSim::start(SimConfig { orgs: 2, items: 8, users: 3, groups: 1, ..SimConfig::default() }).await?;
    let data = tempfile::tempdir()?;
    let mut schedule_ids = Vec::new();
    for (n, org) in sim.orgs.iter().enumerate() {
        let name = format!("Org{n}");
        let to = data.path().join(format!("backups-{n}")).display().to_string();
        let add = [
            "identity",
            "add",
            "--name",
            &name,
            "--portal",
            &org.portal_url,
            "-u",
            &org.admin.username,
            "--password-stdin",
            "--to",
            &to,
        ];
        let out = orgvault(data.path(), &add, Some(&format!("{}\n", org.admin.password))).await;
        assert!(out.status.success(), "identity add: {}", String::from_utf8_lossy(&out.stderr));
        let schedule = format!("Every minute {n}");
        let add = [
            "schedule",
            "add",
            "--name",
            &schedule,
            "--identity",
            &name,
            "--kind",
            "backup",
            "--cron",
            "* * * * *",
            "--json",
        ];
        let out = orgvault(data.path(), &add, None).await;
        assert!(out.status.success(), "schedule add: {}", String::from_utf8_lossy(&out.stderr));
        let added: serde_json::Value = serde_json::from_slice(&out.stdout)?;
        schedule_ids.push(added["id"].as_i64().expect("id"));
    }

    // The app opens the data folder's vault with its key file, as it does at start.
    let (vault, source) = orgvault_core::vault::open_default(data.path())?;
    let key = match source {
        orgvault_core::vault::VaultKeySource::KeyFile(p) => p.display().to_string(),
        other => anyhow::bail!("the CLI made a key file, not {other}"),
    };
    let state = AppState::open(data.path(), (Arc::new(vault), VaultSource::KeyFile(key)), None)
        .await
        .map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let app_runs = Arc::new(AppRuns::default());
    let stop = CancellationToken::new();
    let app_loop = {
        let (service, hook, stop) = (state.service(), app_runs.clone(), stop.clone());
        tokio::spawn(async move {
            orgvault_desktop::scheduler::run_schedules(
                &service,
                &orgvault_core::SystemClock,
                hook.as_ref(),
                Duration::from_millis(200),
                stop,
            )
            .await;
        })
    };
    let service = tokio::process::Command::new(cli_binary())
        .args(["service", "run", "--json", "--tick-ms", "200"])
        .env("ORGVAULT_DATA_DIR", data.path())
        .env("ORGVAULT_VAULT_KEY", "file")
        .env_remove("ORGVAULT_LOG")
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;

    // Both hosts look at every slot; wait until each schedule has run one and ended.
    let schedules = Schedules::new(&state.db, &state.clock);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(150);
    loop {
        let mut done = true;
        for id in &schedule_ids {
            done &= schedules.slots(*id).await?.iter().any(|s| s.job_id.is_some());
        }
        if done {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the schedules did not run");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // A few more looks by both hosts at slots already taken.
    tokio::time::sleep(Duration::from_secs(1)).await;
    stop.cancel();
    app_loop.await?;
    let pid = service.id().expect("running").to_string();
    assert!(std::process::Command::new("kill").args(["-INT", &pid]).status()?.success());
    let out = tokio::time::timeout(Duration::from_secs(60), service.wait_with_output()).await??;
    assert!(out.status.success(), "the service stops on Ctrl-C: {}", String::from_utf8_lossy(&out.stderr));
    let service_runs: Vec<(i64, i64)> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).expect("a JSON report"))
        .map(|r| (r["schedule_id"].as_i64().expect("id"), r["slot_ms"].as_i64().expect("a slot")))
        .collect();
    let app_runs = app_runs.0.lock().expect("lock").clone();

    let jobs = state.jobs().list(&JobFilter { kind: Some(JobKind::Backup), ..Default::default() }).await?;
    for id in &schedule_ids {
        let slots = schedules.slots(*id).await?;
        let ran: Vec<_> = slots.iter().filter(|s| s.job_id.is_some()).collect();
        assert!(!ran.is_empty(), "schedule {id} ran");
        let mut per_slot: BTreeMap<i64, usize> = BTreeMap::new();
        for (s, slot) in app_runs.iter().chain(&service_runs) {
            if s == id {
                *per_slot.entry(*slot).or_default() += 1;
            }
        }
        for slot in &ran {
            assert_eq!(
                per_slot.get(&slot.slot_ms),
                Some(&1),
                "slot {} of schedule {id} was run by exactly one host (app {app_runs:?}, service {service_runs:?})",
                slot.slot_ms
            );
            assert_eq!(slot.error, None, "no host was refused as busy: the slot was claimed once");
        }
        let by_schedule: Vec<_> = jobs.iter().filter(|j| j.trigger == Trigger::Schedule(*id)).collect();
        assert_eq!(by_schedule.len(), ran.len(), "one backup job per slot of schedule {id}: {by_schedule:?}");
        assert!(by_schedule.iter().all(|j| j.state == JobState::Succeeded), "{by_schedule:?}");
        let job_ids: BTreeSet<i64> = ran.iter().filter_map(|s| s.job_id).collect();
        assert_eq!(job_ids.len(), ran.len(), "each slot has its own job");
    }
    Ok(())
}
