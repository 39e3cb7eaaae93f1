//! Restore: a snapshot back into an organization, the same one (in place or as copies) or
//! another (migration). See docs/restore.md for the design.
//!
//! # Public API
//! ```text
//! plan(&RestoreContext, &SnapshotId, &RestoreOptions) -> Result<RestorePlan, RestoreError>   // writes nothing
//! apply(&RestoreContext, &SnapshotId, &RestoreOptions) -> Result<RestoreSummary, RestoreError>
//! Profiles::new(&Db, &dyn Clock).{save(name, &Mapping), get(name), names(), delete(name)}
//! parse_pair("OLD=NEW"), parse_group_pair("OLD=NEW|new")
//! ```
//!
//! Order of the apply: users, groups (with members), then items level by level (a level's items
//! in parallel, `concurrency` at a time), then the patch pass (data naming ids that did not
//! exist yet when the item was made: cycles, self references), relationships, sharing; each
//! item's journal row becomes `done` after its sharing. Every subject's outcome goes to the job
//! history (`restore` job), once, when its last step is done; one failed subject never stops the
//! others. A subject that fails for a passing reason (throttling, 5xx, a lost connection, an
//! expired token) is tried again within the run (`retry`), never made twice.

mod apply;
mod error;
mod features;
mod features_doc;
mod hosted;
mod item;
mod journal;
mod marks;
mod options;
mod order;
mod ownership;
mod plan;
mod prepare;
mod principals;
mod privileges;
mod retry;
mod rewrite;
mod run;
mod service_kinds;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

pub use error::RestoreError;
pub use journal::{EntryKind, Journal, JournalEntry, Profiles};
pub use options::{parse_group_pair, parse_pair, ConflictPolicy, GroupTarget, Mapping, RestoreMode, RestoreOptions};
pub use order::levels;
pub use plan::{
    service_name, Action, Conflict, ConflictOn, GroupLimit, ItemMethod, NotOffered, PlanCounts, PlanMode, PlannedGroup,
    PlannedItem, PlannedUser, RestorePlan,
};
pub use privileges::{is_full_admin, MissingPrivilege, ADMINISTRATOR_ROLE};
pub use rewrite::{ids_in, Rewrite, Rewriter};

use crate::clock::Clock;
use crate::db::Db;
use crate::jobs::JobState;
use crate::progress::Progress;
use crate::repo::{Repository, SnapshotId};

/// Everything a restore needs besides what to restore.
pub struct RestoreContext<'a> {
    pub db: &'a Db,
    /// Signed in to the TARGET organization (an administrator).
    pub portal: &'a arcgis::Portal,
    /// The repository holding the snapshot.
    pub repo: &'a Repository,
    /// The identity the job is recorded for, if any.
    pub identity_id: Option<&'a str>,
    pub progress: &'a dyn Progress,
    pub cancel: CancellationToken,
    pub clock: &'a dyn Clock,
}

/// What an apply did. `created + updated + skipped + failed` counts items, users and groups.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RestoreSummary {
    pub job_id: i64,
    pub state: JobState,
    pub created: u64,
    pub updated: u64,
    pub skipped: u64,
    pub failed: u64,
    /// HTTP requests sent to the target, planning included.
    pub requests: u64,
    /// Wall time of the apply, planning included, in milliseconds.
    pub elapsed_ms: u64,
}

/// What the restore would do; nothing is written.
pub async fn plan(
    ctx: &RestoreContext<'_>,
    snapshot: &SnapshotId,
    options: &RestoreOptions,
) -> Result<RestorePlan, RestoreError> {
    Ok(prepare::prepare(ctx, snapshot, options).await?.plan)
}

/// Plans (fresh, against the target as it is now) and carries the plan out.
pub async fn apply(
    ctx: &RestoreContext<'_>,
    snapshot: &SnapshotId,
    options: &RestoreOptions,
) -> Result<RestoreSummary, RestoreError> {
    apply::apply(ctx, snapshot, options).await
}

/// [`apply`] in the job `job_id` that the caller began through the
/// [`JobRunner`](crate::jobs::runner::JobRunner) and drives.
pub async fn apply_job(
    ctx: &RestoreContext<'_>,
    job_id: i64,
    snapshot: &SnapshotId,
    options: &RestoreOptions,
) -> Result<RestoreSummary, RestoreError> {
    apply::apply_begun(ctx, job_id, snapshot, options).await
}
