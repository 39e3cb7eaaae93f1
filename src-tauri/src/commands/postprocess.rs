//! Post-processing after a restore: the URLs the restore's items name (registered services
//! marked), a preview of find/replace rules and one-by-one edits, the changes applied as a
//! `postprocess` job of the target identity, and the rules saved into a mapping profile. Each a
//! few lines over `orgvault_core::postprocess`.

use std::sync::Arc;

use orgvault_core::mail::OnDemandMail;
use orgvault_core::postprocess::{changes, Postprocess, UrlChange, UrlEdit, UrlUse};
use orgvault_core::restore::{Mapping, Profiles};
use orgvault_core::{JobSpec, NoProgress};
use tauri::{AppHandle, State};
use tokio_util::sync::CancellationToken;

use crate::error::UiResult;
use crate::restore_views::UrlReplacement;
use crate::running::launch;
use crate::state::AppState;
use crate::views::JobId;

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
    let post = Postprocess {
        db: &state.db,
        clock: &state.clock,
        portal: &portal,
        snapshot: &snapshot_id,
        identity_id: Some(&target_identity_id),
        progress: &NoProgress,
        cancel: CancellationToken::new(),
    };
    Ok(post.url_uses().await?)
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
    let probe = Postprocess {
        db: &state.db,
        clock: &state.clock,
        portal: &portal,
        snapshot: &snapshot_id,
        identity_id: Some(&target_identity_id),
        progress: &NoProgress,
        cancel: CancellationToken::new(),
    };
    let spec =
        JobSpec::new(orgvault_core::jobs::JobKind::Postprocess, Some(&target_identity_id), probe.job_name(&changes));
    launch(&app, &state, spec, OnDemandMail::default(), move |job_id, progress, cancel| async move {
        let post = Postprocess {
            db: &st.db,
            clock: &st.clock,
            portal: &portal,
            snapshot: &snapshot_id,
            identity_id: Some(&target_identity_id),
            progress: progress.as_ref(),
            cancel,
        };
        post.apply_job(job_id, &changes).await?;
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
    let profiles = Profiles::new(&state.db, &state.clock);
    let mut mapping = match profiles.get(&name).await {
        Ok(m) => m,
        Err(orgvault_core::restore::RestoreError::NoProfile(_)) => Mapping::default(),
        Err(e) => return Err(e.into()),
    };
    let before = mapping.url_replace.len() as u32;
    mapping.url_replace = rules.into_iter().filter(|r| !r.find.is_empty()).map(|r| (r.find, r.replace)).collect();
    profiles.save(&name, &mapping).await?;
    Ok(before)
}
