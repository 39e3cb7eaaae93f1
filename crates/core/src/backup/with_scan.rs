//! Scan, then back up: what an unattended or command-line backup does, so that the backup
//! resolves its selection against the organization as it is now, not as an old scan saw it.
//!
//! The backup job is begun first, through the [`JobRunner`]: a second backup of the identity,
//! in any process, is refused as busy at once instead of after a scan of many minutes. The scan
//! is its own `scan` job in the history; if it fails, the backup job fails and says so.

use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::{backup_job, backup_name, retry_failed_job, BackupContext, BackupError, BackupOptions, BackupSummary};
use crate::clock::Clock;
use crate::db::Db;
use crate::jobs::runner::{JobRunner, JobSpec};
use crate::jobs::{JobKind, Trigger};
use crate::progress::Progress;
use crate::repo::Repository;
use crate::scan::{scan_job, ScanSummary};
use crate::selection::Selection;

/// What the backup takes: a selection, or what failed in an earlier backup job.
#[derive(Debug, Clone)]
pub enum BackupWhat {
    Selection(Selection),
    RetryFailed(i64),
}

/// Everything [`scan_and_backup`] needs.
pub struct ScanThenBackup<'a> {
    pub db: &'a Db,
    pub portal: &'a arcgis::Portal,
    pub repo: &'a Repository,
    pub identity_id: &'a str,
    pub options: &'a BackupOptions,
    pub progress: &'a dyn Progress,
    pub cancel: CancellationToken,
    pub clock: &'a dyn Clock,
    /// What started it (a person, or a schedule).
    pub trigger: Trigger,
}

/// The two jobs' results, with their wall times.
#[derive(Debug)]
pub struct ScannedBackup {
    pub scan: ScanSummary,
    pub backup: BackupSummary,
    pub scan_seconds: f64,
    pub backup_seconds: f64,
}

/// Begins a backup job, scans the organization (a `scan` job), then backs up `what` against that
/// scan in the begun job.
pub async fn scan_and_backup(run: &ScanThenBackup<'_>, what: &BackupWhat) -> Result<ScannedBackup, BackupError> {
    let runner = JobRunner::new(run.db, run.clock);
    // The name is settled before the scan: the backup is named for when it was asked for.
    let name = backup_name(&context(run, 0)).await?;
    let spec = JobSpec::new(JobKind::Backup, Some(run.identity_id), name).triggered_by(run.trigger);
    let lease = runner.begin(&spec).await?;
    runner.drive(&lease, &run.cancel, scan_and_backup_job(run, lease.job_id, what), |_| None).await
}

/// [`scan_and_backup`] into the backup job `job_id` that the caller began and drives (the app,
/// which answers with the job id at once).
pub async fn scan_and_backup_job(
    run: &ScanThenBackup<'_>,
    job_id: i64,
    what: &BackupWhat,
) -> Result<ScannedBackup, BackupError> {
    let started = Instant::now();
    let scan = scan_in_its_job(run).await.map_err(|e| BackupError::ScanFailed(Box::new(e)))?;
    let scan_seconds = started.elapsed().as_secs_f64();
    let ctx = context(run, scan.scan_id);
    let started = Instant::now();
    let backup = match what {
        BackupWhat::Selection(s) => backup_job(&ctx, job_id, s).await?,
        BackupWhat::RetryFailed(failed) => retry_failed_job(&ctx, job_id, *failed).await?,
    };
    Ok(ScannedBackup { scan, backup, scan_seconds, backup_seconds: started.elapsed().as_secs_f64() })
}

fn context<'a>(run: &ScanThenBackup<'a>, scan_id: i64) -> BackupContext<'a> {
    BackupContext {
        db: run.db,
        portal: run.portal,
        repo: run.repo,
        identity_id: run.identity_id,
        scan_id,
        options: run.options,
        progress: run.progress,
        cancel: run.cancel.clone(),
        clock: run.clock,
    }
}

/// The scan, as its own job (refused as busy while another scan of the identity runs).
async fn scan_in_its_job(run: &ScanThenBackup<'_>) -> crate::Result<ScanSummary> {
    let identity = crate::identity::Identities::new(run.db, run.clock).get(run.identity_id).await?;
    let spec = JobSpec::new(JobKind::Scan, Some(run.identity_id), format!("Scan of {}", identity.spec.name))
        .triggered_by(run.trigger);
    let token = run.cancel.clone();
    JobRunner::new(run.db, run.clock)
        .run(
            &spec,
            &token,
            |job_id| scan_job(run.db, run.portal, job_id, run.identity_id, run.progress, run.cancel.clone(), run.clock),
            |_| None,
        )
        .await
}
