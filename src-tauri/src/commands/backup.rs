//! Backups, snapshots, verify and cancel.

use orgvault_core::mail::OnDemandMail;
use std::sync::Arc;

use orgvault_core::backup::{default_name, scan_and_backup_job, BackupOptions, BackupWhat, ScanThenBackup};
use orgvault_core::identity::Identity;
use orgvault_core::jobs::{JobKind, SubjectKind, Trigger};
use orgvault_core::maintenance::Upkeep;
use orgvault_core::repo::{InitPolicy, Repository, SnapshotId};
use orgvault_core::Clock;
use orgvault_core::JobSpec;
use tauri::{AppHandle, State};

use crate::error::{ErrorCode, UiError, UiResult};
use crate::running::launch;
use crate::state::AppState;
use crate::views::{JobId, SelectionInput, SnapshotEntry, SnapshotView};

/// The identity's existing backup repository, for reading; nothing is created.
pub(crate) async fn repository(state: &AppState, identity: &Identity) -> UiResult<Repository> {
    Ok(state.service().repository_for(identity).await?)
}

/// Begins a backup job of the identity and, in it, scans the organization afresh and backs up
/// `what` against that scan (core's `scan_and_backup_job`, as the CLI and the scheduler do).
async fn start(
    app: AppHandle,
    state: Arc<AppState>,
    identity_id: String,
    name: Option<String>,
    what: BackupWhat,
    mail: OnDemandMail,
) -> UiResult<JobId> {
    let identity = state.identity(&identity_id).await?;
    let portal = crate::portal::session(&state, &identity).await?;
    let repo = state.service().backup_repository_for(&identity, InitPolicy::IfEmpty).await?;
    let options = BackupOptions { name, ..BackupOptions::default() };
    let job_name = match &options.name {
        Some(n) => n.clone(),
        None => default_name(&identity.spec.name, state.clock.now_ms()),
    };
    let st = state.clone();
    launch(
        &app,
        &state,
        JobSpec::new(JobKind::Backup, Some(&identity_id), job_name),
        mail,
        move |job_id, progress, cancel| async move {
            let run = ScanThenBackup {
                db: &st.db,
                portal: &portal,
                repo: &repo,
                identity_id: &identity.id,
                options: &options,
                progress: progress.as_ref(),
                cancel,
                clock: &st.clock,
                trigger: Trigger::Manual,
            };
            scan_and_backup_job(&run, job_id, &what).await?;
            Ok(())
        },
    )
    .await
}

#[tauri::command]
#[specta::specta]
pub async fn start_backup(
    app: AppHandle,
    state: State<'_, Arc<AppState>>,
    identity_id: String,
    name: String,
    selection: SelectionInput,
    email: Option<OnDemandMail>,
) -> UiResult<JobId> {
    let name = Some(name).filter(|n| !n.trim().is_empty());
    let what = BackupWhat::Selection(selection.to_selection());
    start(app, state.inner().clone(), identity_id, name, what, email.unwrap_or_default()).await
}

/// Backs up again what failed in backup job `job_id`, as a new job.
#[tauri::command]
#[specta::specta]
pub async fn retry_failed(app: AppHandle, state: State<'_, Arc<AppState>>, job_id: JobId) -> UiResult<JobId> {
    let job = state.jobs().get(job_id).await?;
    let identity_id = job.identity_id.ok_or_else(|| UiError::invalid("that job's identity was removed"))?;
    if job.kind != JobKind::Backup {
        return Err(UiError::invalid("only a backup's failed items can be retried"));
    }
    let name = Some(format!("{} (retry)", job.name));
    start(app, state.inner().clone(), identity_id, name, BackupWhat::RetryFailed(job_id), OnDemandMail::default()).await
}

#[tauri::command]
#[specta::specta]
pub async fn cancel_job(state: State<'_, Arc<AppState>>, job_id: JobId) -> UiResult<()> {
    crate::running::cancel(&state, job_id).await
}

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
    let mut list: Vec<SnapshotView> = repo
        .snapshots()
        .await?
        .into_iter()
        .filter(|s| s.identity_id == identity_id)
        .map(|s| SnapshotView {
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

async fn snapshot_of(state: &AppState, identity_id: &str, snapshot_id: &str) -> UiResult<(Repository, SnapshotId)> {
    let identity = state.identity(identity_id).await?;
    let repo = repository(state, &identity).await?;
    let id = repo.find_snapshot(snapshot_id).await?;
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
