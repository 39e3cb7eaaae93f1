//! A restore resolved once for every front end: the snapshot found in its repository, a
//! signed-in session of the target organization, and the engine's options. The app plans and
//! applies from two saved identities ([`Service::prepare_restore`]); the CLI from a repository
//! it was given and a sign-in of its own ([`PreparedRestore::new`]). Both then call the same
//! [`PreparedRestore::plan`] and [`PreparedRestore::apply`] / [`PreparedRestore::apply_job`].

use arcgis::Portal;
use tokio_util::sync::CancellationToken;

use super::{Service, ServiceError};
use crate::clock::Clock;
use crate::db::Db;
use crate::identity::Identity;
use crate::jobs::runner::JobSpec;
use crate::jobs::JobKind;
use crate::progress::Progress;
use crate::repo::{Repository, SnapshotId};
use crate::restore::{self, RestoreContext, RestoreError, RestoreOptions, RestorePlan, RestoreSummary};

/// Everything a plan and an apply need, opened and checked.
pub struct PreparedRestore {
    repo: Repository,
    snapshot: SnapshotId,
    portal: Portal,
    target_identity_id: Option<String>,
    options: RestoreOptions,
}

impl Service {
    /// The snapshot `snapshot` (an id, a unique prefix, or "latest") of `source`'s repository,
    /// to be restored into `target`'s organization, signed in as `target` through
    /// [`Service::connect`] (so a non-administrator is refused before anything is planned).
    pub async fn prepare_restore(
        &self,
        source: &Identity,
        snapshot: &str,
        target: &Identity,
        options: RestoreOptions,
    ) -> Result<PreparedRestore, ServiceError> {
        if snapshot.trim().is_empty() {
            return Err(crate::Error::InvalidInput("choose a snapshot to restore".into()).into());
        }
        let repo = self.repository_for(source).await?;
        let portal = self.connect(target).await?;
        PreparedRestore::new(repo, snapshot, portal, Some(target.id.clone()), options).await
    }
}

impl PreparedRestore {
    /// A restore of `snapshot` from `repo` through `portal`; the job is recorded for
    /// `target_identity_id` when one is given.
    pub async fn new(
        repo: Repository,
        snapshot: &str,
        portal: Portal,
        target_identity_id: Option<String>,
        options: RestoreOptions,
    ) -> Result<PreparedRestore, ServiceError> {
        let snapshot = repo.find_snapshot(snapshot).await?;
        Ok(PreparedRestore { repo, snapshot, portal, target_identity_id, options })
    }

    pub fn snapshot(&self) -> &SnapshotId {
        &self.snapshot
    }

    /// The identity whose organization the restore writes to, when it is a saved one.
    pub fn target_identity_id(&self) -> Option<&str> {
        self.target_identity_id.as_deref()
    }

    /// The job an apply runs as, for a front end that begins it through its own runner.
    pub fn job_spec(&self) -> JobSpec {
        JobSpec::new(
            JobKind::Restore,
            self.target_identity_id.as_deref(),
            format!("restore of snapshot {}", self.snapshot.short()),
        )
    }

    fn context<'a>(
        &'a self,
        db: &'a Db,
        clock: &'a dyn Clock,
        progress: &'a dyn Progress,
        cancel: CancellationToken,
    ) -> RestoreContext<'a> {
        RestoreContext {
            db,
            portal: &self.portal,
            repo: &self.repo,
            identity_id: self.target_identity_id.as_deref(),
            progress,
            cancel,
            clock,
        }
    }

    /// What the restore would do, read from the snapshot and the target as it is now; writes
    /// nothing.
    pub async fn plan(
        &self,
        db: &Db,
        clock: &dyn Clock,
        progress: &dyn Progress,
        cancel: CancellationToken,
    ) -> Result<RestorePlan, RestoreError> {
        restore::plan(&self.context(db, clock, progress, cancel), &self.snapshot, &self.options).await
    }

    /// Plans again and carries the plan out as a new `restore` job (running the same restore
    /// again resumes from its journal).
    pub async fn apply(
        &self,
        db: &Db,
        clock: &dyn Clock,
        progress: &dyn Progress,
        cancel: CancellationToken,
    ) -> Result<RestoreSummary, RestoreError> {
        restore::apply(&self.context(db, clock, progress, cancel), &self.snapshot, &self.options).await
    }

    /// [`PreparedRestore::apply`] in the job `job_id`, begun from [`PreparedRestore::job_spec`]
    /// by the caller's runner, which holds its lease.
    pub async fn apply_job(
        &self,
        db: &Db,
        clock: &dyn Clock,
        job_id: i64,
        progress: &dyn Progress,
        cancel: CancellationToken,
    ) -> Result<RestoreSummary, RestoreError> {
        restore::apply_job(&self.context(db, clock, progress, cancel), job_id, &self.snapshot, &self.options).await
    }
}
