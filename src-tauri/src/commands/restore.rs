//! Restore: the plan (nothing written), the apply as a background job, saved mapping profiles.
//!
//! The snapshot comes from the SOURCE identity's storage; the writes go to the TARGET identity's
//! organization, signed in as its administrator. The job is recorded for the target identity
//! (it is that organization that changes), so only one restore runs into an organization at once.

use std::sync::Arc;

use orgvault_core::jobs::JobKind;
use orgvault_core::repo::{Repository, SnapshotId};
use orgvault_core::restore::{apply_job, plan, Profiles, RestoreContext, RestoreError, RestoreOptions, RestorePlan};
use orgvault_core::{JobSpec, NoProgress, Progress};
use tauri::{AppHandle, State};
use tokio_util::sync::CancellationToken;

use crate::error::{UiError, UiResult};
use crate::restore_views::{MappingProfile, MappingView, RestoreInput};
use crate::running::launch;
use crate::state::AppState;
use crate::views::JobId;

/// A restore request resolved: the snapshot found in the source identity's storage, a signed-in
/// session of the target, the engine's options. Both the plan and the apply start from one.
pub struct Restore {
    repo: Repository,
    snapshot: SnapshotId,
    portal: arcgis::Portal,
    target_identity_id: String,
    options: RestoreOptions,
}

impl Restore {
    pub async fn open(state: &AppState, input: &RestoreInput) -> UiResult<Self> {
        if input.snapshot_id.trim().is_empty() {
            return Err(UiError::invalid("choose a snapshot to restore"));
        }
        let source = state.identity(&input.source_identity_id).await?;
        let target = state.identity(&input.target_identity_id).await?;
        let repo = super::backup::repository(state, &source).await?;
        let snapshot = repo.find_snapshot(&input.snapshot_id).await?;
        let portal = crate::portal::session(state, &target).await?;
        let options = RestoreOptions { mapping: input.mapping.to_core(), ..RestoreOptions::default() };
        Ok(Self { repo, snapshot, portal, target_identity_id: target.id, options })
    }

    /// The identity whose organization the restore writes to; its job is recorded for it.
    pub fn target_identity_id(&self) -> &str {
        &self.target_identity_id
    }

    fn context<'a>(
        &'a self,
        state: &'a AppState,
        progress: &'a dyn Progress,
        cancel: CancellationToken,
    ) -> RestoreContext<'a> {
        RestoreContext {
            db: &state.db,
            portal: &self.portal,
            repo: &self.repo,
            identity_id: Some(&self.target_identity_id),
            progress,
            cancel,
            clock: &state.clock,
        }
    }

    /// What the restore would do; writes nothing.
    pub async fn plan(&self, state: &AppState) -> UiResult<RestorePlan> {
        Ok(plan(&self.context(state, &NoProgress, CancellationToken::new()), &self.snapshot, &self.options).await?)
    }

    /// Plans again and carries the plan out, recording a `restore` job with every outcome. A
    /// cancelled restore is not an error here: the job history says it was cancelled.
    pub async fn apply(
        &self,
        state: &AppState,
        job_id: i64,
        progress: &dyn Progress,
        cancel: CancellationToken,
    ) -> UiResult<()> {
        match apply_job(&self.context(state, progress, cancel), job_id, &self.snapshot, &self.options).await {
            Ok(_) | Err(RestoreError::Cancelled) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
}

/// What the restore would do, read from the snapshot and the target as it is now; writes nothing.
#[tauri::command]
#[specta::specta]
pub async fn plan_restore(state: State<'_, Arc<AppState>>, input: RestoreInput) -> UiResult<RestorePlan> {
    Restore::open(&state, &input).await?.plan(&state).await
}

/// Plans again against the target as it is now and carries the plan out, as a `restore` job of
/// the target identity; progress and outcomes arrive as events, `cancel_job` stops it (running
/// the same restore again resumes from its journal).
#[tauri::command]
#[specta::specta]
pub async fn start_restore(app: AppHandle, state: State<'_, Arc<AppState>>, input: RestoreInput) -> UiResult<JobId> {
    let restore = Restore::open(&state, &input).await?;
    let target = restore.target_identity_id.clone();
    let st = state.inner().clone();
    let spec =
        JobSpec::new(JobKind::Restore, Some(&target), format!("restore of snapshot {}", restore.snapshot.short()));
    launch(&app, state.inner(), spec, move |job_id, progress, cancel| async move {
        restore.apply(&st, job_id, progress.as_ref(), cancel).await
    })
    .await
}

/// Every saved mapping profile, by name.
pub async fn mapping_profiles(state: &AppState) -> UiResult<Vec<MappingProfile>> {
    let profiles = Profiles::new(&state.db, &state.clock);
    let mut out = Vec::new();
    for name in profiles.names().await? {
        let mapping = MappingView::from(&profiles.get(&name).await?);
        out.push(MappingProfile { name, mapping });
    }
    Ok(out)
}

#[tauri::command]
#[specta::specta]
pub async fn list_mapping_profiles(state: State<'_, Arc<AppState>>) -> UiResult<Vec<MappingProfile>> {
    mapping_profiles(&state).await
}

/// Saves (or replaces) the profile `name`.
#[tauri::command]
#[specta::specta]
pub async fn save_mapping_profile(state: State<'_, Arc<AppState>>, name: String, mapping: MappingView) -> UiResult<()> {
    Ok(Profiles::new(&state.db, &state.clock).save(&name, &mapping.to_core()).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn delete_mapping_profile(state: State<'_, Arc<AppState>>, name: String) -> UiResult<()> {
    Ok(Profiles::new(&state.db, &state.clock).delete(&name).await?)
}
