//! The job history: list, per-item outcomes, and a job's log.

use std::sync::Arc;

use orgvault_core::jobs::{JobFilter, JobKind};
use tauri::State;

use crate::error::UiResult;
use crate::state::AppState;
use crate::views::{JobFilterInput, JobId, JobItemView, JobKindView, JobView};

#[tauri::command]
#[specta::specta]
pub async fn list_jobs(state: State<'_, Arc<AppState>>, filter: JobFilterInput) -> UiResult<Vec<JobView>> {
    let kind = match filter.kind {
        None => None,
        Some(JobKindView::Scan) => Some(JobKind::Scan),
        Some(JobKindView::Backup) => Some(JobKind::Backup),
        Some(JobKindView::Restore) => Some(JobKind::Restore),
        Some(JobKindView::Verify) => Some(JobKind::Verify),
        Some(JobKindView::Retention) => Some(JobKind::Retention),
        Some(JobKindView::Copy) => Some(JobKind::Copy),
        Some(JobKindView::Postprocess) => Some(JobKind::Postprocess),
    };
    let core = JobFilter {
        kind,
        identity_id: filter.identity_id,
        states: filter.state.map(|s| vec![s.to_core()]).unwrap_or_default(),
        limit: Some(500),
    };
    let mut mail = orgvault_core::mail::latest_job_mail(&state.db).await?;
    let jobs = state.jobs().list(&core).await?;
    Ok(jobs.iter().map(|j| JobView { mail: mail.remove(&j.id).map(|m| m.line()), ..JobView::from(j) }).collect())
}

#[tauri::command]
#[specta::specta]
pub async fn job_items(state: State<'_, Arc<AppState>>, job_id: JobId) -> UiResult<Vec<JobItemView>> {
    Ok(state.jobs().items(job_id).await?.iter().map(JobItemView::from).collect())
}

/// The job's record as text: its row, each recorded subject, and the app log lines naming it.
#[tauri::command]
#[specta::specta]
pub async fn job_log(state: State<'_, Arc<AppState>>, job_id: JobId) -> UiResult<String> {
    let job = state.jobs().get(job_id).await?;
    let mut out = format!("job {} ({:?}) \"{}\": {:?}\n{}\n", job.id, job.kind, job.name, job.state, job.summary());
    for it in state.jobs().items(job_id).await? {
        let o = &it.outcome;
        out.push_str(&format!("{} {:?} {:?} {} ({})", it.at_ms, o.outcome, o.kind, o.title, o.id));
        if let Some(r) = &o.reason {
            out.push_str(&format!(": {r}"));
        }
        out.push('\n');
    }
    let needle = format!("job_id={job_id}");
    for line in crate::support::recent_log_lines(&state.data_dir) {
        if line.split_whitespace().any(|w| w == needle || w.starts_with(&format!("{needle}:"))) {
            out.push_str(&line);
            out.push('\n');
        }
    }
    Ok(out)
}
