//! Scan, the visualizer's graph (the engine's own `orgvault_core::app::Graph`) and the
//! selection estimate.

use orgvault_core::mail::OnDemandMail;
use std::sync::Arc;

use orgvault_core::app::Graph;
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
    launch(&app, state.inner(), spec, OnDemandMail::default(), move |job_id, progress, cancel| async move {
        scan_job(&st.db, &portal, job_id, &identity.id, progress.as_ref(), cancel, &st.clock).await?;
        Ok(())
    })
    .await
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
    let t = selection.to_selection().tally_in_latest_scan(&state.db, &identity_id).await?.ok_or_else(|| {
        UiError::new(ErrorCode::NoScan, "this organization has not been scanned yet; start a scan first")
    })?;
    Ok(Tally { items: t.items, users: t.users, groups: t.groups, bytes: t.estimated_bytes })
}
