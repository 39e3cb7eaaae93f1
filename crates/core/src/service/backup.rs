//! Scan, then back up: a backup resolves its selection against a catalog taken just before it,
//! not whatever scan happens to be newest.

use std::time::{Duration, Instant};

use arcgis::Portal;
use tokio_util::sync::CancellationToken;

use super::{Service, ServiceError};
use crate::backup::{backup, retry_failed, BackupContext, BackupOptions, BackupSummary};
use crate::clock::SystemClock;
use crate::db::Db;
use crate::identity::Identity;
use crate::progress::Progress;
use crate::repo::Repository;
use crate::scan::ScanSummary;
use crate::selection::Selection;

/// What a backup job backs up.
#[derive(Debug, Clone)]
pub enum BackupRun {
    /// A selection, resolved against the scan taken first.
    Selection(Selection),
    /// The subjects that failed in this earlier backup job.
    RetryFailed(i64),
}

/// What [`Service::scan_and_backup`] did, phase by phase.
#[derive(Debug)]
pub struct ScanAndBackup {
    pub scan: ScanSummary,
    pub scan_time: Duration,
    /// The backup's own outcome: a scan that worked is reported even when the backup failed.
    pub backup: Result<BackupSummary, ServiceError>,
    pub backup_time: Duration,
}

/// A backup to run after a scan: who, into which repository, what, and how.
pub struct BackupRequest<'a> {
    /// Signed in as `identity` ([`Service::connect`], or a one-off sign-in of the CLI).
    pub portal: &'a Portal,
    pub identity: &'a Identity,
    pub repo: &'a Repository,
    pub what: BackupRun,
    pub options: &'a BackupOptions,
}

impl Service {
    /// [`scan_and_backup`] in this service's database.
    pub async fn scan_and_backup(
        &self,
        request: BackupRequest<'_>,
        progress: &dyn Progress,
        cancel: CancellationToken,
    ) -> Result<ScanAndBackup, ServiceError> {
        scan_and_backup(&self.db, request, progress, cancel).await
    }
}

/// Scans the organization the request's portal is signed in to, then backs up what it asks
/// for against that fresh catalog. A failed or cancelled scan fails the whole (no backup job
/// starts); the scan and the backup are each a job of their own. It reads no secret, so a
/// front end that signed in without the vault can call it with just the database.
pub async fn scan_and_backup(
    db: &Db,
    request: BackupRequest<'_>,
    progress: &dyn Progress,
    cancel: CancellationToken,
) -> Result<ScanAndBackup, ServiceError> {
    let BackupRequest { portal, identity, repo, what, options } = request;
    let started = Instant::now();
    let scan = crate::scan(db, portal, &identity.id, progress, cancel.clone(), &SystemClock).await?;
    let scan_time = started.elapsed();
    let started = Instant::now();
    let ctx = BackupContext {
        db,
        portal,
        repo,
        identity_id: &identity.id,
        scan_id: scan.scan_id,
        options,
        progress,
        cancel,
        clock: &SystemClock,
    };
    let backup = match what {
        BackupRun::Selection(selection) => backup(&ctx, &selection).await,
        BackupRun::RetryFailed(job) => retry_failed(&ctx, job).await,
    };
    Ok(ScanAndBackup { scan, scan_time, backup: backup.map_err(ServiceError::from), backup_time: started.elapsed() })
}
