//! Restore: the plan (nothing written), the apply as a background job, saved mapping profiles.
//!
//! The snapshot comes from the SOURCE identity's storage; the writes go to the TARGET identity's
//! organization, signed in as its administrator. The job is recorded for the target identity
//! (it is that organization that changes), so only one restore runs into an organization at once.

use orgvault_core::mail::OnDemandMail;
use std::sync::Arc;

use orgvault_core::restore::{Profiles, RestoreError, RestoreOptions, RestorePlan};
use orgvault_core::service::PreparedRestore;
use orgvault_core::NoProgress;
use tauri::{AppHandle, State};
use tokio_util::sync::CancellationToken;

use crate::error::UiResult;
use crate::restore_views::{MappingProfile, MappingView, RestoreInput};
use crate::running::launch;
use crate::state::AppState;
use crate::views::JobId;

/// The restore `input` asks for, resolved in core: the snapshot in the source identity's
/// storage and a signed-in session of the target.
pub async fn prepare(state: &AppState, input: &RestoreInput) -> UiResult<PreparedRestore> {
    let source = state.identity(&input.source_identity_id).await?;
    let target = state.identity(&input.target_identity_id).await?;
    let mut options = RestoreOptions {
        mapping: input.mapping.to_core(),
        methods: input.methods.clone(),
        ..RestoreOptions::default()
    };
    if let Some(sel) = input.selection.as_ref().filter(|s| !s.everything) {
        options.items = Some(sel.item_ids.iter().cloned().collect());
        options.user_names = Some(sel.usernames.iter().cloned().collect());
        options.group_ids = Some(sel.group_ids.iter().cloned().collect());
    }
    Ok(state.service().prepare_restore(&source, &input.snapshot_id, &target, options).await?)
}

/// What the restore would do, read from the snapshot and the target as it is now; writes nothing.
#[tauri::command]
#[specta::specta]
pub async fn plan_restore(state: State<'_, Arc<AppState>>, input: RestoreInput) -> UiResult<RestorePlan> {
    Ok(prepare(&state, &input).await?.plan(&state.db, &state.clock, &NoProgress, CancellationToken::new()).await?)
}

/// Plans again against the target as it is now and carries the plan out, as a `restore` job of
/// the target identity; progress and outcomes arrive as events, `cancel_job` stops it (running
/// the same restore again resumes from its journal).
#[tauri::command]
#[specta::specta]
pub async fn start_restore(app: AppHandle, state: State<'_, Arc<AppState>>, input: RestoreInput) -> UiResult<JobId> {
    let restore = prepare(&state, &input).await?;
    let st = state.inner().clone();
    launch(
        &app,
        state.inner(),
        restore.job_spec(),
        OnDemandMail::default(),
        move |job_id, progress, cancel| async move {
            // A cancelled restore is not an error here: the job history says it was cancelled.
            match restore.apply_job(&st.db, &st.clock, job_id, progress.as_ref(), cancel).await {
                Ok(_) | Err(RestoreError::Cancelled) => Ok(()),
                Err(e) => Err(e.into()),
            }
        },
    )
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
