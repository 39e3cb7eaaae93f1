//! Schedules run by two processes at once against the simulated portal: each due slot is
//! claimed once and runs one backup job, triggered by the schedule, followed by its retention;
//! a machine that was off runs the latest slot late and records the older ones as missed.
//! What the Schedules screen reads: previews before saving, the list with the identity's name
//! and the last run's outcome, switching off and on, and the real counts of a selection.

use std::sync::{Arc, Mutex};

use arcgis::Secret;
use orgvault_core::identity::{IdentitySpec, PortalKind, SignIn, Storage, TlsOptions};
use orgvault_core::jobs::JobCounts;
use orgvault_core::jobs::{JobFilter, JobKind, JobState, Trigger};
use orgvault_core::schedule::{
    preview, run_due, EmailWhen, JobEndedHook, Preset, RecurrenceChoice, ScheduleCopy, ScheduleKind, ScheduleRetention,
    ScheduleSpec, ScheduledJobEnded, Scheduler, Schedules, SlotState, Weekday,
};
use orgvault_core::selection::Selection;
use orgvault_core::service::IdentityDraft;
use orgvault_core::vault::MemoryVault;
use orgvault_core::{Db, JobRunner, JobSpec, Jobs, ManualClock, NoProgress, Service};
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::support::start_sim;

const MINUTE: i64 = 60_000;

/// Recipients, policy, job id, job state and error of one scheduled run.
type Heard = (Vec<String>, EmailWhen, Option<i64>, Option<JobState>, Option<String>);

/// What the mail module would be told after each scheduled run.
#[derive(Default)]
struct Told(Mutex<Vec<Heard>>);

#[async_trait::async_trait]
impl JobEndedHook for Told {
    async fn scheduled_job_ended(&self, ended: &ScheduledJobEnded<'_>) {
        self.0.lock().expect("lock").push((
            ended.schedule.spec.email_to.clone(),
            ended.schedule.spec.email_when,
            ended.job.map(|j| j.id),
            ended.job.map(|j| j.state),
            ended.error.map(str::to_owned),
        ));
    }
}

fn scheduler<'a>(service: &'a Service, clock: &'a ManualClock, hook: &'a Told) -> Scheduler<'a, chrono::Utc> {
    Scheduler { service, clock, zone: chrono::Utc, progress: &NoProgress, cancel: CancellationToken::new(), hook }
}

/// Saves the org's admin as the identity "Acme", backing up into `folder`/repo.
async fn save_acme(
    service: &Service,
    org: &portal_sim::OrgLogin,
    folder: &std::path::Path,
) -> anyhow::Result<orgvault_core::service::SavedIdentity> {
    Ok(service
        .save_identity(
            IdentityDraft {
                id: None,
                spec: IdentitySpec {
                    name: "Acme".into(),
                    portal_url: org.portal_url.clone(),
                    kind: PortalKind::Online,
                    sign_in: SignIn::Builtin { username: org.admin.username.clone() },
                    storage: Storage::Local { path: folder.join("repo").display().to_string() },
                    custom_headers: vec![],
                    tls: TlsOptions::default(),
                },
                password: Some(Secret::new(&org.admin.password)),
                storage_secret: None,
                header_values: None,
            },
            None,
        )
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_processes_run_each_due_slot_once_with_retention_and_catch_up() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 6, users: 3, groups: 1, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let folder = tempfile::tempdir()?;
    let db_path = folder.path().join("orgvault.sqlite");
    let vault = Arc::new(MemoryVault::default());
    // Two pools on one file: the app and the service, as far as SQLite can tell.
    let app = Service::new(Db::open(&db_path).await?, vault.clone());
    let service = Service::new(Db::open(&db_path).await?, vault.clone());
    let saved = save_acme(&app, &org, folder.path()).await?;
    let identity = saved.identity.id.clone();

    // 2026-06-01 10:00:30 UTC.
    let t0 = 1_780_308_000_000 + 30_000;
    let clock = ManualClock::new(t0);
    let mut spec = ScheduleSpec::new("Every minute", &identity, ScheduleKind::Backup, "* * * * *");
    spec.retention = Some(ScheduleRetention { keep_last: Some(1), prune: true, ..Default::default() });
    spec.email_to = vec!["ops@example.com".into()];
    spec.email_when = EmailWhen::Always;
    let every_minute = Schedules::new(app.db(), &clock).add(&spec).await?;

    let told = Told::default();
    let (a, b) = (scheduler(&app, &clock, &told), scheduler(&service, &clock, &told));
    assert!(run_due(&a).await?.is_empty(), "nothing is due before the first slot after creation");

    for round in 1..=2 {
        clock.set(t0 + round * MINUTE - 20_000); // 10 s past the next minute
        let (ra, rb) = tokio::join!(run_due(&a), run_due(&b));
        let reports: Vec<_> = ra?.into_iter().chain(rb?).collect();
        assert_eq!(reports.len(), 1, "round {round}: exactly one process claimed the slot: {reports:?}");
        let report = &reports[0];
        assert_eq!(report.error, None, "the scheduled backup ran");
        assert_eq!(report.slot_state, Some(SlotState::Ran), "run on time");
        assert_eq!(report.job_state, Some(JobState::Succeeded));
        assert!(report.retention_job_id.is_some(), "retention followed the successful backup");
    }

    let jobs = Jobs::new(app.db(), &clock);
    let backups = jobs.list(&JobFilter { kind: Some(JobKind::Backup), ..Default::default() }).await?;
    assert_eq!(backups.len(), 2, "one backup per slot, never two");
    assert!(
        backups.iter().all(|j| j.trigger == Trigger::Schedule(every_minute.id)),
        "each backup records the schedule that started it"
    );
    let retention = jobs.list(&JobFilter { kind: Some(JobKind::Retention), ..Default::default() }).await?;
    assert_eq!(retention.len(), 2);
    assert!(retention
        .iter()
        .all(|j| j.trigger == Trigger::Schedule(every_minute.id) && j.state == JobState::Succeeded));
    let told_backups: Vec<_> = told.0.lock().expect("lock").drain(..).collect();
    assert_eq!(told_backups.len(), 2, "the hook heard of each run once");
    for (i, (to, when, job, state, error)) in told_backups.into_iter().enumerate() {
        assert_eq!(
            (to, when),
            (vec!["ops@example.com".to_owned()], EmailWhen::Always),
            "with the recipients and policy"
        );
        assert_eq!((job, state, error), (Some(backups[1 - i].id), Some(JobState::Succeeded), None), "and the job");
    }
    let repo = app.repository_for(&saved.identity).await?;
    assert_eq!(repo.snapshots().await?.len(), 1, "keep-last 1 left one snapshot after the second run");

    // The machine is off until June 4th 04:00; a daily verify at 03:00 catches up once.
    Schedules::new(app.db(), &clock).update(every_minute.id, &ScheduleSpec { enabled: false, ..spec.clone() }).await?;
    let verify = Schedules::new(app.db(), &clock)
        .add(&ScheduleSpec::new("Nightly verify", &identity, ScheduleKind::Verify, "0 3 * * *"))
        .await?;
    let day = 24 * 60 * MINUTE;
    clock.set(1_780_308_000_000 - 6 * 60 * MINUTE + 3 * day); // June 4th, 04:00, an hour after the slot
    let reports = run_due(&b).await?;
    assert_eq!(reports.len(), 1, "only the latest slot runs: {reports:?}");
    assert_eq!(reports[0].slot_state, Some(SlotState::Late), "an hour after its time, within 24 h: late");
    assert_eq!(reports[0].job_state, Some(JobState::Succeeded), "{reports:?}");
    let slots = Schedules::new(app.db(), &clock).slots(verify.id).await?;
    let states: Vec<SlotState> = slots.iter().map(|s| s.state).collect();
    assert_eq!(states, [SlotState::Missed, SlotState::Missed, SlotState::Late], "June 2nd and 3rd missed, 4th late");
    assert!(run_due(&a).await?.is_empty(), "the other process finds nothing left to run");
    let verifies = jobs.list(&JobFilter { kind: Some(JobKind::Verify), ..Default::default() }).await?;
    assert_eq!(verifies.len(), 1, "one verify for three owed slots");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_claimed_at_once_from_two_databases_has_one_owner() -> anyhow::Result<()> {
    let folder = tempfile::tempdir()?;
    let path = folder.path().join("orgvault.sqlite");
    let (one, two) = (Db::open(&path).await?, Db::open(&path).await?);
    let identity = crate::support::add_identity(&one, "https://example.invalid/portal", "admin").await?;
    let clock = ManualClock::new(1_000_000);
    let schedule = Schedules::new(&one, &clock)
        .add(&ScheduleSpec::new("Nightly", &identity, ScheduleKind::Backup, "0 3 * * *"))
        .await?;
    let claims = (0..16).map(|i| {
        let db = if i % 2 == 0 { one.clone() } else { two.clone() };
        let clock = ManualClock::new(1_000_000);
        tokio::spawn(async move { Schedules::new(&db, &clock).claim(schedule.id, 5_000_000, SlotState::Ran).await })
    });
    let mut won = 0;
    for claim in claims {
        if claim.await?? {
            won += 1;
        }
    }
    assert_eq!(won, 1, "sixteen claims of one slot from two processes: exactly one owner");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schedules_screen_reads_previews_outcomes_and_real_counts() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 6, users: 3, groups: 1, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let folder = tempfile::tempdir()?;
    let app = Service::new(Db::open(&folder.path().join("orgvault.sqlite")).await?, Arc::new(MemoryVault::default()));
    let saved = app
        .save_identity(
            IdentityDraft {
                id: None,
                spec: IdentitySpec {
                    name: "Acme".into(),
                    portal_url: org.portal_url.clone(),
                    kind: PortalKind::Online,
                    sign_in: SignIn::Builtin { username: org.admin.username.clone() },
                    storage: Storage::Local { path: folder.path().join("repo").display().to_string() },
                    custom_headers: vec![],
                    tls: TlsOptions::default(),
                },
                password: Some(Secret::new(&org.admin.password)),
                storage_secret: None,
                header_values: None,
            },
            None,
        )
        .await?;
    let identity = saved.identity.id.clone();
    // Monday 2026-06-01 10:00:30 UTC.
    let t0 = 1_780_308_000_000 + 30_000;
    let clock = ManualClock::new(t0);

    // Before saving: a preset's next five runs, and a typo refused with its reason.
    let weekly = RecurrenceChoice::Preset {
        preset: Preset::Weekly { days: vec![Weekday::Wed, Weekday::Mon], hour: 2, minute: 30 },
    };
    let shown = preview(&weekly, &chrono::Utc, t0, 5)?;
    assert_eq!(shown.cron, "30 2 * * 1,3", "the preset is stored as a standard expression");
    let day = 24 * 60 * MINUTE;
    let first = 1_780_308_000_000 - 10 * 60 * MINUTE + 2 * day + 150 * MINUTE; // Wednesday 02:30
    assert_eq!(
        shown.next_runs_ms,
        vec![first, first + 5 * day, first + 7 * day, first + 12 * day, first + 14 * day],
        "Wednesdays and Mondays at 02:30, the next five after Monday 10:00"
    );
    let typo = preview(&RecurrenceChoice::Cron { expression: "61 * * * *".into() }, &chrono::Utc, t0, 5)
        .expect_err("minute 61 does not exist");
    assert_eq!(typo.code(), orgvault_core::ErrorCode::InvalidInput, "{typo}");

    // No scan yet: no counts to state.
    assert_eq!(Selection::Everything.tally_in_latest_scan(app.db(), &identity).await?, None);

    let schedules = Schedules::new(app.db(), &clock);
    let every_minute =
        schedules.add(&ScheduleSpec::new("Every minute", &identity, ScheduleKind::Backup, "* * * * *")).await?;
    let listed = schedules.overviews(&chrono::Utc).await?;
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].identity_name, "Acme", "the list names the identity, not its id");
    assert_eq!((listed[0].status.last.clone(), listed[0].last_job_state), (None, None), "not run yet");
    assert_eq!(listed[0].status.next_run_ms, Some(1_780_308_060_000), "next run: 10:01");

    let told = Told::default();
    clock.set(t0 + MINUTE - 20_000);
    let reports = run_due(&scheduler(&app, &clock, &told)).await?;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let listed = schedules.overviews(&chrono::Utc).await?;
    assert_eq!(listed[0].last_job_state, Some(JobState::Succeeded), "the last outcome is the job's state");
    assert_eq!(listed[0].status.last.as_ref().map(|l| l.state), Some(SlotState::Ran));

    // The counts a confirmation states are those of the newest scan: what the backup took.
    let backup = Jobs::new(app.db(), &clock).get(reports[0].job_id.expect("a backup job")).await?;
    let JobCounts::Backup(took) = &backup.counts else { panic!("a backup's counts: {:?}", backup.counts) };
    let counts = Selection::Everything.tally_in_latest_scan(app.db(), &identity).await?.expect("scanned by the run");
    assert_eq!(
        (counts.items, counts.users, counts.groups),
        (took.items, took.users, took.groups),
        "everything, counted in the newest scan, is what the scheduled backup of everything took"
    );
    assert!(counts.items >= 6, "the simulated organization's items are counted: {counts:?}");

    // Switched off: no next run; on again: nothing owed from the time it was off.
    schedules.set_enabled(every_minute.id, false).await?;
    assert_eq!(schedules.overviews(&chrono::Utc).await?[0].status.next_run_ms, None, "disabled: no next run");
    clock.set(t0 + 10 * MINUTE);
    schedules.set_enabled(every_minute.id, true).await?;
    assert!(run_due(&scheduler(&app, &clock, &told)).await?.is_empty(), "enabled again, it owes nothing from before");
    assert_eq!(
        schedules.overviews(&chrono::Utc).await?[0].status.next_run_ms,
        Some(1_780_308_000_000 + 11 * MINUTE),
        "the next run is the next minute after it was enabled again"
    );
    Ok(())
}

/// At `at`, another machine holds the claim of `slot` and begins its backup, then goes silent
/// (no heartbeat, no end): returns that job.
async fn die_elsewhere(
    db: &Db,
    clock: &ManualClock,
    identity: &str,
    schedule: i64,
    slot: i64,
    at: i64,
) -> anyhow::Result<i64> {
    clock.set(at);
    let spec = JobSpec::new(JobKind::Backup, Some(identity), "Backup").triggered_by(Trigger::Schedule(schedule));
    let lease = JobRunner::new(db, clock).begin(&spec).await?;
    Jobs::new(db, clock).mark_running(lease.job_id).await?;
    sqlx::query(
        "UPDATE schedule_runs SET claim_host = 'elsewhere', claim_pid = 1, claim_pid_start = NULL,
             claimed_ms = ?, ended_ms = NULL WHERE schedule_id = ? AND slot_ms = ?",
    )
    .bind(at - 1)
    .bind(schedule)
    .bind(slot)
    .execute(db.pool())
    .await?;
    Ok(lease.job_id)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_whose_host_died_mid_job_runs_again_once_then_is_recorded_missed() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 4, users: 2, groups: 1, ..SimConfig::default() }).await?;
    let folder = tempfile::tempdir()?;
    let app = Service::new(Db::open(&folder.path().join("orgvault.sqlite")).await?, Arc::new(MemoryVault::default()));
    let identity = save_acme(&app, &sim.orgs[0], folder.path()).await?.identity.id;
    let t0 = 1_780_308_000_000 + 30_000; // 2026-06-01 10:00:30 UTC
    let clock = ManualClock::new(t0);
    let hourly = Schedules::new(app.db(), &clock)
        .add(&ScheduleSpec::new("Hourly", &identity, ScheduleKind::Backup, "0 * * * *"))
        .await?;
    let slot = t0 - 30_000 + 60 * MINUTE; // 11:00

    clock.set(slot + 5_000);
    assert!(Schedules::new(app.db(), &clock).claim(hourly.id, slot, SlotState::Ran).await?);
    let first = die_elsewhere(app.db(), &clock, &identity, hourly.id, slot, slot + 10_000).await?;

    let told = Told::default();
    let s = scheduler(&app, &clock, &told);
    clock.set(slot + 30_000);
    assert!(run_due(&s).await?.is_empty(), "a slot whose job's lease is alive is left to its host");

    clock.set(slot + 3 * MINUTE); // the lease expired: the runner declares the job interrupted
    let reports = run_due(&s).await?;
    assert_eq!(reports.len(), 1, "{reports:?}");
    let again = &reports[0];
    assert_eq!((again.slot_ms, again.job_state), (Some(slot), Some(JobState::Succeeded)), "11:00 ran again: {again:?}");
    assert_eq!(
        again.note.as_deref(),
        Some(
            format!("run again: the process that ran it (pid 1 on elsewhere) stopped before job {first} ended")
                .as_str()
        )
    );
    let jobs = Jobs::new(app.db(), &clock);
    assert_eq!(jobs.get(first).await?.state, JobState::Failed, "the died job is failed, interrupted");
    assert!(run_due(&s).await?.is_empty(), "a slot run again is not run a third time while it ended");

    // The run again dies too: the slot is not run a third time, but recorded missed, with why.
    let second = die_elsewhere(app.db(), &clock, &identity, hourly.id, slot, slot + 4 * MINUTE).await?;
    clock.set(slot + 6 * MINUTE);
    assert!(run_due(&s).await?.is_empty(), "a slot is run again once only");
    let last = Schedules::new(app.db(), &clock).slots(hourly.id).await?.pop().expect("the slot");
    assert_eq!((last.slot_ms, last.state, last.job_id), (slot, SlotState::Missed, Some(second)));
    assert_eq!(
        last.note.as_deref(),
        Some(
            format!(
                "not run again: the process that ran it (pid 1 on elsewhere) stopped before job {second} ended; \
                 it was already run again once"
            )
            .as_str()
        )
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_backup_is_followed_by_a_copy_of_its_snapshot_off_site() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 6, users: 3, groups: 1, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let folder = tempfile::tempdir()?;
    let service =
        Service::new(Db::open(&folder.path().join("orgvault.sqlite")).await?, Arc::new(MemoryVault::default()));
    let saved = save_acme(&service, &org, folder.path()).await?;
    // The identity's repository is encrypted; its copies are opened with the same password.
    service
        .set_up_repository(&saved.identity, Some(Secret::new("sched pw")), orgvault_core::repo::InitPolicy::IfEmpty)
        .await?;
    let clock = ManualClock::new(1_780_308_000_000);
    let offsite = folder.path().join("offsite");

    let mut spec = ScheduleSpec::new("Nightly", &saved.identity.id, ScheduleKind::Backup, "0 2 * * *");
    spec.copy_to = Some(ScheduleCopy { dest: "relative/path".into() });
    let err = Schedules::new(service.db(), &clock).add(&spec).await.expect_err("a relative copy folder is refused");
    assert!(err.to_string().contains("absolute"), "{err}");
    spec.copy_to = Some(ScheduleCopy { dest: offsite.display().to_string() });
    let nightly = Schedules::new(service.db(), &clock).add(&spec).await?;
    assert_eq!(
        Schedules::new(service.db(), &clock).get(nightly.id).await?.spec.copy_to,
        spec.copy_to,
        "the copy destination is stored with the schedule"
    );

    let told = Told::default();
    let report = orgvault_core::schedule::run_now(&scheduler(&service, &clock, &told), nightly.id).await?;
    assert_eq!(report.error, None, "the backup and its copy ran: {report:?}");
    let jobs = Jobs::new(service.db(), &clock);
    let copies = jobs.list(&JobFilter { kind: Some(JobKind::Copy), ..Default::default() }).await?;
    assert_eq!(copies.len(), 1, "one copy job followed the backup");
    assert_eq!(copies[0].trigger, Trigger::Schedule(nightly.id), "started by the schedule");
    assert_eq!(copies[0].state, JobState::Succeeded);

    let source = service.repository_for(&saved.identity).await?;
    let backed_up = source.snapshots().await?;
    let target = orgvault_core::storage::StorageTarget::Local { path: offsite.clone() };
    let copy =
        orgvault_core::repo::Repository::open_with_key(&target, &service.repository_key(&saved.identity)?).await?;
    assert!(copy.is_encrypted(), "the off-site repository is encrypted with the identity's password");
    let copied = copy.snapshots().await?;
    assert_eq!(copied.len(), 1, "the new snapshot is off-site");
    assert_eq!(copied[0].name, backed_up[0].name, "the same backup");
    let report = copy.verify(&copied[0].id, None, &NoProgress).await?;
    assert!(report.is_ok(), "the copy verifies: {:?}", report.problems);
    Ok(())
}
