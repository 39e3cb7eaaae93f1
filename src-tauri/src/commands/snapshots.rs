//! Snapshots of an identity's repository: the list, browse, verify, zip export and import,
//! forget and prune. Each command is a few lines over the core.

use std::sync::Arc;

use orgvault_core::jobs::{JobKind, SubjectKind};
use orgvault_core::mail::OnDemandMail;
use orgvault_core::maintenance::Upkeep;
use orgvault_core::repo::{InitPolicy, Repository, SnapshotId};
use orgvault_core::{JobSpec, NoProgress};
use tauri::{AppHandle, State};
use tokio_util::sync::CancellationToken;

use super::backup::repository;
use crate::error::{ErrorCode, UiResult};
use crate::running::launch;
use crate::state::AppState;
use crate::views::{JobId, PruneView, SnapshotEntry, SnapshotView};

#[tauri::command]
#[specta::specta]
pub async fn list_snapshots(state: State<'_, Arc<AppState>>, identity_id: String) -> UiResult<Vec<SnapshotView>> {
    let identity = state.identity(&identity_id).await?;
    let repo = match repository(&state, &identity).await {
        Ok(repo) => repo,
        // No backup has made the repository yet: nothing to list (and nothing is created).
        Err(e) if e.code == ErrorCode::NotARepository => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    // This identity's snapshots, and those of no identity saved here (imported from a zip made
    // elsewhere, or of an identity since removed): a repository shared by several identities
    // shows each its own.
    let known = known_identities(&state).await?;
    let mut list: Vec<SnapshotView> = repo
        .snapshots()
        .await?
        .into_iter()
        .filter(|s| shown_for(s, &identity_id, &known))
        .map(|s| SnapshotView {
            other_identity: s.identity_id != identity_id,
            verified: state.verified(s.id.as_str()),
            id: s.id.as_str().to_owned(),
            name: s.name,
            time_ms: s.time_ms,
            items: s.items,
            users: s.users,
            groups: s.groups,
            bytes: s.bytes,
        })
        .collect();
    list.sort_by_key(|s| std::cmp::Reverse(s.time_ms));
    Ok(list)
}

async fn known_identities(state: &AppState) -> UiResult<std::collections::HashSet<String>> {
    Ok(state.identities().list().await?.into_iter().map(|i| i.id).collect())
}

/// Whether the identity's Snapshots screen shows (and may act on) snapshot `s`: its own, or one
/// of no identity saved here (imported, or its identity removed); never another saved
/// identity's, in a repository several identities share.
fn shown_for(
    s: &orgvault_core::repo::SnapshotSummary,
    identity_id: &str,
    known: &std::collections::HashSet<String>,
) -> bool {
    s.identity_id == identity_id || !known.contains(&s.identity_id)
}

/// A snapshot the identity's screen shows, in the identity's repository.
async fn snapshot_of(state: &AppState, identity_id: &str, snapshot_id: &str) -> UiResult<(Repository, SnapshotId)> {
    let identity = state.identity(identity_id).await?;
    let repo = repository(state, &identity).await?;
    let id = repo.find_snapshot(snapshot_id).await?;
    let summary = repo.snapshot(&id).await?;
    if !shown_for(&summary, identity_id, &known_identities(state).await?) {
        return Err(crate::error::UiError::invalid(
            "that snapshot belongs to another identity sharing this storage: open it from that identity",
        ));
    }
    Ok((repo, id))
}

/// Re-reads every blob of the snapshot as a `verify` job; the result shows in `list_snapshots`
/// and the history.
#[tauri::command]
#[specta::specta]
pub async fn verify_snapshot(
    app: AppHandle,
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    snapshot_id: String,
) -> UiResult<JobId> {
    let (repo, id) = snapshot_of(&state, &identity_id, &snapshot_id).await?;
    let st = state.inner().clone();
    let spec = JobSpec::new(JobKind::Verify, Some(&identity_id), format!("Verify of snapshot {}", id.short()));
    launch(&app, &state, spec, OnDemandMail::default(), move |job_id, progress, cancel| async move {
        let upkeep = Upkeep {
            db: &st.db,
            clock: &st.clock,
            repo: &repo,
            identity_id: Some(&identity_id),
            progress: progress.as_ref(),
            cancel,
        };
        let reports = upkeep.verify_job(job_id, vec![id.clone()], None).await?;
        st.record_verified(id.as_str(), reports.iter().all(|r| r.is_ok()))?;
        Ok(())
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn export_snapshot_zip(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    snapshot_id: String,
    path: String,
) -> UiResult<()> {
    let (repo, id) = snapshot_of(&state, &identity_id, &snapshot_id).await?;
    repo.export_zip(&id, std::path::Path::new(&path)).await?;
    Ok(())
}

/// The snapshot as the visualizer's graph, for choosing what to restore; failed subjects are
/// nodes listed in `failed`.
#[tauri::command]
#[specta::specta]
pub async fn snapshot_graph(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    snapshot_id: String,
) -> UiResult<orgvault_core::app::Graph> {
    let (repo, id) = snapshot_of(&state, &identity_id, &snapshot_id).await?;
    Ok(orgvault_core::app::graph_of_snapshot(&repo, &id).await?)
}

#[tauri::command]
#[specta::specta]
pub async fn snapshot_contents(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    snapshot_id: String,
) -> UiResult<Vec<SnapshotEntry>> {
    let (repo, id) = snapshot_of(&state, &identity_id, &snapshot_id).await?;
    let m = repo.manifest(&id).await?;
    let items = m.items.into_iter().map(|i| SnapshotEntry {
        kind: SubjectKind::Item,
        id: i.id,
        title: i.title,
        item_type: i.item_type,
    });
    let users = m.users.into_iter().map(|u| SnapshotEntry {
        kind: SubjectKind::User,
        title: if u.full_name.is_empty() { u.username.clone() } else { u.full_name },
        id: u.username,
        item_type: u.role,
    });
    let groups = m.groups.into_iter().map(|g| SnapshotEntry {
        kind: SubjectKind::Group,
        id: g.id,
        title: g.title,
        item_type: "Group".into(),
    });
    Ok(items.chain(users).chain(groups).collect())
}

fn upkeep<'a>(state: &'a AppState, repo: &'a Repository, identity_id: &'a str) -> Upkeep<'a> {
    Upkeep {
        db: &state.db,
        clock: &state.clock,
        repo,
        identity_id: Some(identity_id),
        progress: &NoProgress,
        cancel: CancellationToken::new(),
    }
}

/// Forgets one snapshot (a `retention` job): its record goes now, its data at the next prune.
#[tauri::command]
#[specta::specta]
pub async fn forget_snapshot(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    snapshot_id: String,
) -> UiResult<()> {
    let (repo, id) = snapshot_of(&state, &identity_id, &snapshot_id).await?;
    upkeep(&state, &repo, &identity_id).forget_snapshots(&[id]).await?;
    Ok(())
}

/// What a prune would delete now; deletes nothing.
#[tauri::command]
#[specta::specta]
pub async fn prune_preview(state: State<'_, Arc<AppState>>, identity_id: String) -> UiResult<PruneView> {
    let identity = state.identity(&identity_id).await?;
    let repo = repository(&state, &identity).await?;
    Ok(PruneView::from(&repo.prune_preview().await?))
}

/// Deletes the data no snapshot references (a `retention` job); refused while a backup runs.
#[tauri::command]
#[specta::specta]
pub async fn prune_repository(state: State<'_, Arc<AppState>>, identity_id: String) -> UiResult<PruneView> {
    let identity = state.identity(&identity_id).await?;
    let repo = repository(&state, &identity).await?;
    let done = upkeep(&state, &repo, &identity_id).retention(None, true).await?;
    Ok(done.prune.as_ref().map(PruneView::from).unwrap_or_default())
}

/// Imports a zip made by "Export zip" (or `orgvault export-zip`) into the identity's repository,
/// creating the repository where the identity's storage is still empty; answers the snapshot id.
/// `zip_password` opens an AES-encrypted zip.
#[tauri::command]
#[specta::specta]
pub async fn import_snapshot_zip(
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    path: String,
    zip_password: Option<String>,
) -> UiResult<String> {
    let identity = state.identity(&identity_id).await?;
    let repo = state.service().backup_repository_for(&identity, InitPolicy::IfEmpty).await?;
    let password = zip_password.filter(|p| !p.is_empty()).map(arcgis::Secret::new);
    let id = repo.import_zip_with(std::path::Path::new(&path), password.as_ref()).await?;
    Ok(id.as_str().to_owned())
}
