//! Backups, their retry and cancel.

use orgvault_core::mail::OnDemandMail;
use std::sync::Arc;

use orgvault_core::backup::{default_name, scan_and_backup_job, BackupOptions, BackupWhat, ScanThenBackup};
use orgvault_core::identity::Identity;
use orgvault_core::jobs::{JobKind, Trigger};
use orgvault_core::repo::{InitPolicy, Repository};
use orgvault_core::Clock;
use orgvault_core::JobSpec;
use tauri::{AppHandle, State};

use crate::error::{UiError, UiResult};
use crate::running::launch;
use crate::state::AppState;
use crate::views::{JobId, SelectionInput};

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
    service_definitions: bool,
    what: BackupWhat,
    mail: OnDemandMail,
) -> UiResult<JobId> {
    let identity = state.identity(&identity_id).await?;
    let portal = crate::portal::session(&state, &identity).await?;
    let repo = state.service().backup_repository_for(&identity, InitPolicy::IfEmpty).await?;
    let options = BackupOptions { name, service_definitions, ..BackupOptions::default() };
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
    service_definitions: Option<bool>,
) -> UiResult<JobId> {
    let name = Some(name).filter(|n| !n.trim().is_empty());
    let what = BackupWhat::Selection(selection.to_selection());
    let sd = service_definitions.unwrap_or(true);
    start(app, state.inner().clone(), identity_id, name, sd, what, email.unwrap_or_default()).await
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
    let what = BackupWhat::RetryFailed(job_id);
    start(app, state.inner().clone(), identity_id, name, true, what, OnDemandMail::default()).await
}

#[tauri::command]
#[specta::specta]
pub async fn cancel_job(state: State<'_, Arc<AppState>>, job_id: JobId) -> UiResult<()> {
    crate::running::cancel(&state, job_id).await
}
