//! Post-processing after a restore: the URLs the restore's items name (registered services
//! marked), a preview of find/replace rules and one-by-one edits, the changes applied as a
//! `postprocess` job of the target identity, and the rules saved into a mapping profile. Each a
//! few lines over `orgvault_core::postprocess`.

use std::sync::Arc;

use orgvault_core::jobs::JobKind;
use orgvault_core::mail::OnDemandMail;
use orgvault_core::postprocess::{changes, job_name, Postprocess, UrlChange, UrlEdit, UrlUse};
use orgvault_core::restore::Profiles;
use orgvault_core::{JobSpec, NoProgress, Progress};
use tauri::{AppHandle, State};
use tokio_util::sync::CancellationToken;

use crate::error::UiResult;
use crate::restore_views::UrlReplacement;
use crate::running::launch;
use crate::state::AppState;
use crate::views::JobId;

/// The post-processing of the restore of `snapshot` into the organization `portal` is signed
/// in to, recorded for the target identity.
fn post<'a>(
    state: &'a AppState,
    portal: &'a arcgis::Portal,
    snapshot: &'a str,
    identity_id: &'a str,
    progress: &'a dyn Progress,
    cancel: CancellationToken,
) -> Postprocess<'a> {
    Postprocess {
        db: &state.db,
        clock: &state.clock,
        portal,
        snapshot,
        identity_id: Some(identity_id),
        progress,
        cancel,
    }
}

/// Every URL the items of the restore of `snapshot_id` into the target identity's organization
/// name; registered services are marked.
#[tauri::command]
#[specta::specta]
pub async fn restored_urls(
    state: State<'_, Arc<AppState>>,
    target_identity_id: String,
    snapshot_id: String,
) -> UiResult<Vec<UrlUse>> {
    let identity = state.identity(&target_identity_id).await?;
    let portal = crate::portal::session(&state, &identity).await?;
    let p = post(&state, &portal, &snapshot_id, &target_identity_id, &NoProgress, CancellationToken::new());
    Ok(p.url_uses().await?)
}

/// What the rules and edits would change; writes nothing.
#[tauri::command]
#[specta::specta]
pub fn preview_url_changes(uses: Vec<UrlUse>, rules: Vec<UrlReplacement>, edits: Vec<UrlEdit>) -> Vec<UrlChange> {
    let rules: Vec<(String, String)> = rules.into_iter().map(|r| (r.find, r.replace)).collect();
    changes(&uses, &rules, &edits)
}

/// Writes the previewed changes as a `postprocess` job of the target identity.
#[tauri::command]
#[specta::specta]
pub async fn apply_url_changes(
    app: AppHandle,
    state: State<'_, Arc<AppState>>,
    target_identity_id: String,
    snapshot_id: String,
    changes: Vec<UrlChange>,
) -> UiResult<JobId> {
    let identity = state.identity(&target_identity_id).await?;
    let portal = crate::portal::session(&state, &identity).await?;
    let st = state.inner().clone();
    let spec = JobSpec::new(JobKind::Postprocess, Some(&target_identity_id), job_name(&changes));
    launch(&app, &state, spec, OnDemandMail::default(), move |job_id, progress, cancel| async move {
        let p = post(&st, &portal, &snapshot_id, &target_identity_id, progress.as_ref(), cancel);
        p.apply_job(job_id, &changes).await?;
        Ok(())
    })
    .await
}

/// Puts `rules` as the URL rules of the mapping profile `name` (made when missing), keeping the
/// rest of it; answers how many rules it held before (the screen asked before replacing them).
#[tauri::command]
#[specta::specta]
pub async fn save_url_rules(
    state: State<'_, Arc<AppState>>,
    name: String,
    rules: Vec<UrlReplacement>,
) -> UiResult<u32> {
    let rules = rules.into_iter().map(|r| (r.find, r.replace)).collect();
    Ok(Profiles::new(&state.db, &state.clock).set_url_rules(&name, rules).await? as u32)
}
