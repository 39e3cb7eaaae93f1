//! Scan, the visualizer's graph (the engine's own `orgvault_core::app::Graph`) and the
//! selection estimate.

use std::sync::Arc;

use orgvault_core::app::Graph;
use orgvault_core::catalog::Catalog;
use orgvault_core::jobs::JobKind;
use orgvault_core::scan::scan_job;
use orgvault_core::JobSpec;
use tauri::{AppHandle, State};

use crate::error::{ErrorCode, UiError, UiResult};
use crate::running::launch;
use crate::state::AppState;
use crate::views::{JobId, SelectionInput, Tally};

#[tauri::command]
#[specta::specta]
pub async fn start_scan(app: AppHandle, state: State<'_, Arc<AppState>>, identity_id: String) -> UiResult<JobId> {
    let identity = state.identity(&identity_id).await?;
    let portal = crate::portal::session(&state, &identity).await?;
    let st = state.inner().clone();
    let spec = JobSpec::new(JobKind::Scan, Some(&identity_id), format!("Scan of {}", identity.spec.name));
    launch(&app, state.inner(), spec, move |job_id, progress, cancel| async move {
        scan_job(&st.db, &portal, job_id, &identity.id, progress.as_ref(), cancel, &st.clock).await?;
        Ok(())
    })
    .await
}

/// The scan the UI works on: the identity's newest complete one.
pub(crate) async fn latest_scan(state: &AppState, identity_id: &str) -> UiResult<i64> {
    Catalog::new(&state.db).latest_complete_scan(identity_id).await?.map(|s| s.id).ok_or_else(|| {
        UiError::new(ErrorCode::NoScan, "this organization has not been scanned yet; start a scan first")
    })
}

#[tauri::command]
#[specta::specta]
pub async fn load_graph(state: State<'_, Arc<AppState>>, identity_id: String) -> UiResult<Graph> {
    orgvault_core::app::load_graph(&state.db, &identity_id).await?.ok_or_else(|| {
        UiError::new(ErrorCode::NoScan, "this organization has not been scanned yet; start a scan first")
    })
}

#[tauri::command]
#[specta::specta]
pub async fn estimate_selection(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    selection: SelectionInput,
) -> UiResult<Tally> {
    let scan_id = latest_scan(&state, &identity_id).await?;
    let r = selection.to_selection().resolve(&Catalog::new(&state.db), scan_id).await?;
    Ok(Tally { items: r.tally.items, users: r.tally.users, groups: r.tally.groups, bytes: r.tally.estimated_bytes })
}
