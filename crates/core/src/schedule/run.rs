//! Running schedules: claim what is due and run it as a job triggered by the schedule.
//!
//! - scan: sign in ([`Service::connect`]) and scan, as a `scan` job;
//! - backup: sign in, open the identity's repository ([`Service::backup_repository_for`]),
//!   scan then back up the selection ([`scan_and_backup`]), then, after a success, apply the
//!   retention as a `retention` job;
//! - verify: open the identity's repository and verify every snapshot, as a `verify` job.
//!
//! Every job carries `Trigger::Schedule(id)`. After each run the [`JobEndedHook`] is called
//! with the schedule (its recipients and e-mail policy) and the job: the place where the mail
//! module sends the result. A run that could not start (sign-in refused, identity busy) is
//! recorded on its slot with the error and still reported to the hook.

use chrono::TimeZone;
use tokio_util::sync::CancellationToken;

use super::{owed, Recurrence, Schedule, ScheduleKind, Schedules, SlotState};
use crate::backup::{scan_and_backup, BackupOptions, BackupWhat, ScanThenBackup};
use crate::clock::Clock;
use crate::jobs::runner::{JobRunner, JobSpec};
use crate::jobs::{Job, JobKind, JobState, Jobs, Trigger};
use crate::maintenance::{MaintenanceError, Upkeep};
use crate::progress::Progress;
use crate::repo::InitPolicy;
use crate::service::{Service, ServiceError};

/// What a scheduled job's end tells the hook.
#[derive(Debug)]
pub struct ScheduledJobEnded<'a> {
    /// The schedule, with `spec.email_to` and `spec.email_when`.
    pub schedule: &'a Schedule,
    /// The slot run, or `None` for "run now".
    pub slot_ms: Option<i64>,
    /// The job of the schedule's kind (the backup for a backup), when one was begun.
    pub job: Option<&'a Job>,
    /// The retention job that followed a backup, if any.
    pub retention_job: Option<&'a Job>,
    /// Why the run failed, when it did (already free of secrets).
    pub error: Option<&'a str>,
}

/// Called around every scheduled run: the mail module sends the result after it, the token
/// watch checks the identity before it.
#[async_trait::async_trait]
pub trait JobEndedHook: Send + Sync {
    /// Before the run of `schedule` begins (its slot is claimed). Does nothing by default.
    async fn scheduled_run_starting(&self, _schedule: &Schedule) {}

    /// At every look for due slots of a long-running host ([`super::serve`]), before the look:
    /// periodic work such as the token watch. Does nothing by default.
    async fn tick(&self) {}

    async fn scheduled_job_ended(&self, ended: &ScheduledJobEnded<'_>);
}

/// A hook that does nothing.
pub struct NoHook;

#[async_trait::async_trait]
impl JobEndedHook for NoHook {
    async fn scheduled_job_ended(&self, _ended: &ScheduledJobEnded<'_>) {}
}

/// Where scheduled runs happen: the data folder's service, the clock, the local zone, a
/// progress sink and a cancel token for the running job, and the hook.
pub struct Scheduler<'a, Z: TimeZone> {
    pub service: &'a Service,
    pub clock: &'a dyn Clock,
    pub zone: Z,
    pub progress: &'a dyn Progress,
    pub cancel: CancellationToken,
    pub hook: &'a dyn JobEndedHook,
}

/// What one run did.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ScheduleRunReport {
    pub schedule_id: i64,
    pub schedule: String,
    /// The slot run; `None` for "run now".
    pub slot_ms: Option<i64>,
    pub slot_state: Option<SlotState>,
    pub job_id: Option<i64>,
    pub job_state: Option<JobState>,
    pub retention_job_id: Option<i64>,
    pub error: Option<String>,
    /// Set when the slot is run again because the process that first ran it died.
    pub note: Option<String>,
}

/// Records the missed slots of every enabled schedule, claims each one's due slot and runs
/// the slots this process claimed, one after another. A schedule whose run fails does not
/// stop the others; the error is on its slot and in its report.
pub async fn run_due<Z>(s: &Scheduler<'_, Z>) -> crate::Result<Vec<ScheduleRunReport>>
where
    Z: TimeZone + Send + Sync,
{
    let schedules = Schedules::new(s.service.db(), s.clock);
    // Jobs of processes that died are failed "interrupted" first, so their slots can be found.
    JobRunner::new(s.service.db(), s.clock).reconcile().await?;
    let mut reports = Vec::new();
    for schedule in schedules.list().await? {
        if !schedule.spec.enabled || s.cancel.is_cancelled() {
            continue;
        }
        let recurrence = match Recurrence::parse(&schedule.spec.cron) {
            Ok(r) => r,
            Err(e) => {
                tracing::warn!(schedule = schedule.id, "schedule skipped: {e}");
                continue;
            }
        };
        // A slot whose process died before its run ended runs again once (see `abandoned`).
        if let Some((slot, state, note)) =
            super::abandoned::recover(&schedules, schedule.id, schedule.spec.catch_up_ms).await?
        {
            let mut report = run_one(s, &schedule, Some(slot)).await?;
            report.slot_state = Some(state);
            report.note = Some(note);
            schedules.record(schedule.id, slot, report.job_id, report.error.as_deref()).await?;
            reports.push(report);
        }
        let since =
            schedules.last_slot(schedule.id).await?.map_or(schedule.since_ms, |l| l.slot_ms.max(schedule.since_ms));
        let now = s.clock.now_ms();
        let due = owed(&recurrence, &s.zone, since, now, schedule.spec.catch_up_ms);
        for slot in &due.missed {
            if schedules.claim(schedule.id, *slot, SlotState::Missed).await? {
                tracing::warn!(schedule = schedule.id, slot_ms = slot, "scheduled run missed");
            }
        }
        let Some((slot, state)) = due.run else { continue };
        if !schedules.claim(schedule.id, slot, state).await? {
            continue; // another process took it
        }
        tracing::info!(schedule = schedule.id, slot_ms = slot, state = state.as_str(), "scheduled run");
        s.hook.scheduled_run_starting(&schedule).await;
        let mut report = run_one(s, &schedule, Some(slot)).await?;
        report.slot_state = Some(state);
        schedules.record(schedule.id, slot, report.job_id, report.error.as_deref()).await?;
        reports.push(report);
    }
    Ok(reports)
}

/// Runs the schedule `id` now, outside its recurrence (no slot is claimed).
pub async fn run_now<Z>(s: &Scheduler<'_, Z>, id: i64) -> crate::Result<ScheduleRunReport>
where
    Z: TimeZone + Send + Sync,
{
    let schedule = Schedules::new(s.service.db(), s.clock).get(id).await?;
    s.hook.scheduled_run_starting(&schedule).await;
    run_one(s, &schedule, None).await
}

/// Runs one schedule, finds its jobs, tells the hook.
async fn run_one<Z>(s: &Scheduler<'_, Z>, schedule: &Schedule, slot_ms: Option<i64>) -> crate::Result<ScheduleRunReport>
where
    Z: TimeZone + Send + Sync,
{
    let began = s.clock.now_ms();
    // Boxed: a backup's future is large, and the app runs this on a worker thread's stack.
    let outcome = Box::pin(execute(s, schedule)).await;
    // Refused as busy, the run began no job: the one found would be another run's.
    let busy = outcome.as_ref().err().is_some_and(|e| e.code() == crate::ErrorCode::Busy);
    let error = outcome.err().map(|e| e.to_string());
    if let Some(e) = &error {
        tracing::warn!(schedule = schedule.id, "scheduled run failed: {e}");
    }
    let main_kind = match schedule.spec.kind {
        ScheduleKind::Scan => JobKind::Scan,
        ScheduleKind::Backup => JobKind::Backup,
        ScheduleKind::Verify => JobKind::Verify,
    };
    let (job, retention) = match (busy, schedule.spec.kind) {
        (true, _) => (None, None),
        (false, ScheduleKind::Backup) => {
            (job_of(s, schedule.id, main_kind, began).await?, job_of(s, schedule.id, JobKind::Retention, began).await?)
        }
        (false, _) => (job_of(s, schedule.id, main_kind, began).await?, None),
    };
    s.hook
        .scheduled_job_ended(&ScheduledJobEnded {
            schedule,
            slot_ms,
            job: job.as_ref(),
            retention_job: retention.as_ref(),
            error: error.as_deref(),
        })
        .await;
    Ok(ScheduleRunReport {
        schedule_id: schedule.id,
        schedule: schedule.spec.name.clone(),
        slot_ms,
        slot_state: None,
        job_id: job.as_ref().map(|j| j.id),
        job_state: job.as_ref().map(|j| j.state),
        retention_job_id: retention.as_ref().map(|j| j.id),
        error,
        note: None,
    })
}

/// The newest job of `kind` the schedule started at or after `began_ms`.
async fn job_of<Z: TimeZone>(
    s: &Scheduler<'_, Z>,
    schedule_id: i64,
    kind: JobKind,
    began_ms: i64,
) -> crate::Result<Option<Job>> {
    let id: Option<i64> = sqlx::query_scalar(
        "SELECT id FROM jobs WHERE triggered_by = ? AND kind = ? AND created_ms >= ? ORDER BY id DESC LIMIT 1",
    )
    .bind(format!("schedule:{schedule_id}"))
    .bind(kind.as_str())
    .bind(began_ms)
    .fetch_optional(s.service.db().pool())
    .await?;
    match id {
        Some(id) => Ok(Some(Jobs::new(s.service.db(), s.clock).get(id).await?)),
        None => Ok(None),
    }
}

fn upkeep_error(e: MaintenanceError) -> ServiceError {
    match e {
        MaintenanceError::Core(e) => ServiceError::Core(e),
        MaintenanceError::Repo(e) => ServiceError::Repo(e),
    }
}

async fn execute<Z>(s: &Scheduler<'_, Z>, schedule: &Schedule) -> Result<(), ServiceError>
where
    Z: TimeZone + Send + Sync,
{
    let db = s.service.db();
    let identity = s.service.find_identity(&schedule.spec.identity_id).await?;
    let trigger = Trigger::Schedule(schedule.id);
    match schedule.spec.kind {
        ScheduleKind::Scan => {
            let portal = s.service.connect(&identity).await?;
            let spec = JobSpec::new(JobKind::Scan, Some(&identity.id), format!("Scan of {}", identity.spec.name))
                .triggered_by(trigger);
            JobRunner::new(db, s.clock)
                .run(
                    &spec,
                    &s.cancel,
                    |job_id| {
                        crate::scan::scan_job(db, &portal, job_id, &identity.id, s.progress, s.cancel.clone(), s.clock)
                    },
                    |_| None,
                )
                .await?;
        }
        ScheduleKind::Backup => {
            let portal = s.service.connect(&identity).await?;
            let repo = s.service.backup_repository_for(&identity, InitPolicy::IfEmpty).await?;
            let options = BackupOptions {
                name: Some(snapshot_name(schedule, &identity.spec.name, s.clock.now_ms(), &s.zone)),
                ..BackupOptions::default()
            };
            let run = ScanThenBackup {
                db,
                portal: &portal,
                repo: &repo,
                identity_id: &identity.id,
                options: &options,
                progress: s.progress,
                cancel: s.cancel.clone(),
                clock: s.clock,
                trigger,
            };
            let done = Box::pin(scan_and_backup(&run, &BackupWhat::Selection(schedule.spec.selection.clone()))).await?;
            if let (JobState::Succeeded, Some(retention)) = (done.backup.state, &schedule.spec.retention) {
                upkeep(s, &repo, &identity.id)
                    .retention_triggered(Some(&retention.policy()), retention.prune, trigger)
                    .await
                    .map_err(upkeep_error)?;
            }
            // A partial backup's snapshot is copied too: it is what the repository now holds.
            if let (Some(copy), Some(snapshot)) = (&schedule.spec.copy_to, &done.backup.snapshot) {
                let to = s.service.copy_destination(&identity, &copy.dest).await?;
                upkeep(s, &repo, &identity.id)
                    .copy_to(&to, std::slice::from_ref(snapshot), trigger)
                    .await
                    .map_err(upkeep_error)?;
            }
        }
        ScheduleKind::Verify => {
            let repo = s.service.repository_for(&identity).await?;
            upkeep(s, &repo, &identity.id).verify_triggered(&[], None, trigger).await.map_err(upkeep_error)?;
        }
    }
    Ok(())
}

fn upkeep<'a, Z: TimeZone>(
    s: &'a Scheduler<'_, Z>,
    repo: &'a crate::repo::Repository,
    identity: &'a str,
) -> Upkeep<'a> {
    Upkeep {
        db: s.service.db(),
        clock: s.clock,
        repo,
        identity_id: Some(identity),
        progress: s.progress,
        cancel: s.cancel.clone(),
    }
}

/// The snapshot name of a scheduled backup: the schedule's pattern with `{identity}`,
/// `{schedule}`, `{date}` (YYYY-MM-DD) and `{time}` (HH:MM) of `now_ms` in `zone` replaced;
/// without a pattern, "<identity> <date> <time>".
pub fn snapshot_name<Z: TimeZone>(schedule: &Schedule, identity: &str, now_ms: i64, zone: &Z) -> String {
    let when = chrono::DateTime::from_timestamp_millis(now_ms).map(|t| t.with_timezone(zone).naive_local());
    let date = when.map(|t| t.format("%Y-%m-%d").to_string()).unwrap_or_default();
    let time = when.map(|t| t.format("%H:%M").to_string()).unwrap_or_default();
    let pattern =
        schedule.spec.name_pattern.as_deref().filter(|p| !p.trim().is_empty()).unwrap_or("{identity} {date} {time}");
    pattern
        .replace("{identity}", identity)
        .replace("{schedule}", &schedule.spec.name)
        .replace("{date}", &date)
        .replace("{time}", &time)
}

/// The app spawns its jobs on the runtime: a scheduler's futures must be `Send`.
#[cfg(test)]
#[allow(dead_code)]
fn futures_are_send(s: &'static Scheduler<'static, super::LocalZone>) {
    fn send<T: Send>(_: &T) {}
    send(&run_due(s));
    send(&run_now(s, 1));
}
