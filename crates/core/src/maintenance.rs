//! Repository upkeep as jobs of the history: verify (re-read and hash a snapshot's blobs),
//! retention (forget snapshots by policy, prune unreferenced data) and copy (snapshots into
//! another repository, `copy`). Each run is begun through the
//! [`JobRunner`], so it shows in `orgvault jobs` and the app's history, can be cancelled from
//! another process, and holds the identity's slot of its kind. The app, the CLI and the
//! scheduler call these functions; none of them drives the repository's verify or prune alone.

mod copy;

use tokio_util::sync::CancellationToken;

use crate::clock::Clock;
use crate::db::Db;
use crate::error::Error;
use crate::jobs::runner::{JobRunner, JobSpec};
use crate::jobs::{JobCounts, JobEnd, JobKind, JobState, Jobs, RetentionCounts, Trigger, VerifyCounts};
use crate::progress::Progress;
use crate::repo::{ForgetPlan, PruneReport, RepoError, Repository, RetentionPolicy, SnapshotId, VerifyReport};

/// A failure of an upkeep job: of the job history, or of the repository.
#[derive(Debug, thiserror::Error)]
pub enum MaintenanceError {
    #[error(transparent)]
    Core(#[from] Error),
    #[error(transparent)]
    Repo(#[from] RepoError),
}

impl MaintenanceError {
    pub fn code(&self) -> crate::ErrorCode {
        match self {
            MaintenanceError::Core(e) => e.code(),
            MaintenanceError::Repo(e) => e.code(),
        }
    }

    pub fn is_retryable(&self) -> bool {
        match self {
            MaintenanceError::Core(e) => e.is_retryable(),
            MaintenanceError::Repo(e) => e.is_retryable(),
        }
    }
}

/// Where an upkeep job runs and whom it reports to.
pub struct Upkeep<'a> {
    pub db: &'a Db,
    pub clock: &'a dyn Clock,
    pub repo: &'a Repository,
    /// The identity whose repository this is, when known (a bare `--to DIR` has none).
    pub identity_id: Option<&'a str>,
    pub progress: &'a dyn Progress,
    pub cancel: CancellationToken,
}

/// What a retention job did.
#[derive(Debug)]
pub struct RetentionOutcome {
    pub forget: Option<ForgetPlan>,
    pub prune: Option<PruneReport>,
}

/// What a retention job forgets.
enum Forget<'a> {
    ByPolicy(&'a RetentionPolicy),
    These(&'a [SnapshotId]),
}

impl Upkeep<'_> {
    fn runner(&self) -> JobRunner<'_> {
        JobRunner::new(self.db, self.clock)
    }

    /// Verifies `snapshots` (all of them when empty) as one `verify` job. The job fails, naming
    /// the count, when any part is damaged; the reports say which.
    pub async fn verify(
        &self,
        snapshots: &[SnapshotId],
        sample: Option<f64>,
    ) -> Result<Vec<VerifyReport>, MaintenanceError> {
        self.verify_triggered(snapshots, sample, Trigger::Manual).await
    }

    /// [`Upkeep::verify`], recording what started it (a schedule).
    pub async fn verify_triggered(
        &self,
        snapshots: &[SnapshotId],
        sample: Option<f64>,
        trigger: Trigger,
    ) -> Result<Vec<VerifyReport>, MaintenanceError> {
        let ids = match snapshots {
            [] => self.repo.snapshots().await?.into_iter().map(|s| s.id).collect(),
            some => some.to_vec(),
        };
        let name = match ids.as_slice() {
            [one] => format!("Verify of snapshot {}", one.short()),
            many => format!("Verify of {} snapshots", many.len()),
        };
        let spec = JobSpec::new(JobKind::Verify, self.identity_id, name).triggered_by(trigger);
        let token = self.cancel.clone();
        self.runner().run(&spec, &token, |job_id| self.verify_job(job_id, ids, sample), |_| None).await
    }

    /// [`Upkeep::verify`] of `ids` in the job `job_id` the caller began and drives.
    pub async fn verify_job(
        &self,
        job_id: i64,
        ids: Vec<SnapshotId>,
        sample: Option<f64>,
    ) -> Result<Vec<VerifyReport>, MaintenanceError> {
        let jobs = Jobs::new(self.db, self.clock);
        jobs.mark_running(job_id).await?;
        let mut reports = Vec::new();
        for id in &ids {
            let report = tokio::select! {
                r = self.repo.verify(id, sample, self.progress) => r?,
                () = self.cancel.cancelled() => return Err(Error::Cancelled.into()),
            };
            reports.push(report);
        }
        let damaged: usize = reports.iter().map(|r| r.problems.len()).sum();
        let counts = JobCounts::Verify(VerifyCounts {
            snapshots: reports.len() as u64,
            blobs_checked: reports.iter().map(|r| r.blobs_checked).sum(),
            bytes_checked: reports.iter().map(|r| r.bytes_checked).sum(),
            problems: damaged as u64,
        });
        let end = if damaged == 0 {
            JobEnd { state: JobState::Succeeded, counts, error: None }
        } else {
            JobEnd { state: JobState::Failed, counts, error: Some(format!("{damaged} damaged part(s) found")) }
        };
        jobs.finish(job_id, &end).await?;
        Ok(reports)
    }

    /// Forgets the snapshots `policy` does not keep (when given) and then prunes unreferenced
    /// data (when `prune`), as one `retention` job.
    pub async fn retention(
        &self,
        policy: Option<&RetentionPolicy>,
        prune: bool,
    ) -> Result<RetentionOutcome, MaintenanceError> {
        self.retention_triggered(policy, prune, Trigger::Manual).await
    }

    /// [`Upkeep::retention`], recording what started it (a schedule).
    pub async fn retention_triggered(
        &self,
        policy: Option<&RetentionPolicy>,
        prune: bool,
        trigger: Trigger,
    ) -> Result<RetentionOutcome, MaintenanceError> {
        self.retention_of(policy.map(Forget::ByPolicy), prune, trigger).await
    }

    /// Forgets the snapshots `ids` (the app's "Forget" on one snapshot) as a `retention` job; their
    /// data stays until a prune. The outcome's plan keeps nothing and removes them.
    pub async fn forget_snapshots(&self, ids: &[SnapshotId]) -> Result<RetentionOutcome, MaintenanceError> {
        self.retention_of(Some(Forget::These(ids)), false, Trigger::Manual).await
    }

    async fn retention_of(
        &self,
        forget: Option<Forget<'_>>,
        prune: bool,
        trigger: Trigger,
    ) -> Result<RetentionOutcome, MaintenanceError> {
        let name = match (&forget, prune) {
            (Some(Forget::ByPolicy(_)), true) => "Forget by policy and prune".to_owned(),
            (Some(Forget::ByPolicy(_)), false) => "Forget by policy".to_owned(),
            (Some(Forget::These(ids)), _) if ids.len() == 1 => format!("Forget snapshot {}", ids[0].short()),
            (Some(Forget::These(ids)), _) => format!("Forget {} snapshots", ids.len()),
            (None, _) => "Prune unreferenced data".to_owned(),
        };
        let spec = JobSpec::new(JobKind::Retention, self.identity_id, name).triggered_by(trigger);
        let token = self.cancel.clone();
        self.runner()
            .run(
                &spec,
                &token,
                |job_id| async move {
                    let jobs = Jobs::new(self.db, self.clock);
                    jobs.mark_running(job_id).await?;
                    let forget = match forget {
                        Some(Forget::ByPolicy(p)) => Some(self.repo.forget(p, self.clock.now_ms()).await?),
                        Some(Forget::These(ids)) => {
                            Some(ForgetPlan { keep: Vec::new(), remove: self.repo.forget_snapshots(ids).await? })
                        }
                        None => None,
                    };
                    if self.cancel.is_cancelled() {
                        return Err(Error::Cancelled.into());
                    }
                    let prune = if prune { Some(self.repo.prune().await?) } else { None };
                    let counts = JobCounts::Retention(RetentionCounts {
                        kept: forget.as_ref().map(|f| f.keep.len() as u64),
                        forgotten: forget.as_ref().map(|f| f.remove.len() as u64),
                        blobs_removed: prune.as_ref().map(|p| p.blobs_removed),
                        bytes_removed: prune.as_ref().map(|p| p.bytes_removed),
                    });
                    jobs.finish(job_id, &JobEnd { state: JobState::Succeeded, counts, error: None }).await?;
                    Ok(RetentionOutcome { forget, prune })
                },
                |_| None,
            )
            .await
    }
}
