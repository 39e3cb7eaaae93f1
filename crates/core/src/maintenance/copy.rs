//! `copy` as a job of the history: snapshots of one repository copied into another
//! ([`Repository::copy_snapshot`], docs/copy.md), for the CLI's `orgvault copy` and a backup
//! schedule's "then copy to".

use crate::error::Error;
use crate::jobs::runner::JobSpec;
use crate::jobs::{CopyCounts, JobCounts, JobEnd, JobKind, JobState, Jobs, Trigger};
use crate::repo::{CopyOutcome, Repository, SnapshotId};

use super::{MaintenanceError, Upkeep};

impl Upkeep<'_> {
    /// Copies `snapshots` (all of the source's when empty) from this upkeep's repository into
    /// `to`, oldest first, as one `copy` job. A rerun after an interruption sends only what `to`
    /// still lacks and never writes a snapshot twice.
    pub async fn copy_to(
        &self,
        to: &Repository,
        snapshots: &[SnapshotId],
        trigger: Trigger,
    ) -> Result<Vec<CopyOutcome>, MaintenanceError> {
        let ids = match snapshots {
            [] => self.repo.snapshots().await?.into_iter().map(|s| s.id).collect(),
            some => some.to_vec(),
        };
        let name = match ids.as_slice() {
            [one] => format!("Copy of snapshot {} to {}", one.short(), to.target().describe()),
            many => format!("Copy of {} snapshots to {}", many.len(), to.target().describe()),
        };
        let spec = JobSpec::new(JobKind::Copy, self.identity_id, name).triggered_by(trigger);
        let token = self.cancel.clone();
        self.runner().run(&spec, &token, |job_id| self.copy_job(job_id, to, ids), |_| None).await
    }

    /// [`Upkeep::copy_to`] of `ids` in the job `job_id` the caller began and drives.
    pub async fn copy_job(
        &self,
        job_id: i64,
        to: &Repository,
        ids: Vec<SnapshotId>,
    ) -> Result<Vec<CopyOutcome>, MaintenanceError> {
        let jobs = Jobs::new(self.db, self.clock);
        jobs.mark_running(job_id).await?;
        let mut outcomes = Vec::new();
        for id in &ids {
            let outcome = tokio::select! {
                r = self.repo.copy_snapshot(id, to, self.progress) => r?,
                () = self.cancel.cancelled() => return Err(Error::Cancelled.into()),
            };
            outcomes.push(outcome);
        }
        let counts = JobCounts::Copy(CopyCounts {
            snapshots: outcomes.len() as u64,
            already_there: outcomes.iter().filter(|o| o.already_there).count() as u64,
            blobs_copied: outcomes.iter().map(|o| o.blobs_copied).sum(),
            bytes_copied: outcomes.iter().map(|o| o.bytes_copied).sum(),
            blobs_present: outcomes.iter().map(|o| o.blobs_present).sum(),
        });
        jobs.finish(job_id, &JobEnd { state: JobState::Succeeded, counts, error: None }).await?;
        Ok(outcomes)
    }
}
