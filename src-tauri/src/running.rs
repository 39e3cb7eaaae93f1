//! Long work as background jobs: the command begins the job through core's
//! [`JobRunner`](orgvault_core::JobRunner) (which records it, queued, and refuses a second job
//! of the same identity and kind in any process with `busy`), answers with its id at once, and
//! runs the work in the background; progress goes out as events, the end as a `JobFinished`
//! event and a system notification.
//!
//! Cancelling: `cancel_job` cancels a job of this process by its token at once; for a job of
//! another process (the CLI, the background service) it records a cancel request in the job's
//! row, which that process's runner picks up within a second.

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use orgvault_core::mail::{report_on_demand, OnDemandMail};
use orgvault_core::{JobRunner, JobSpec};
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;
use tauri_specta::Event;
use tokio_util::sync::CancellationToken;

use crate::error::UiResult;
use crate::events::{EventProgress, JobFinished};
use crate::state::AppState;
use crate::views::{JobId, JobStateView};

/// The cancellation tokens of the jobs this process runs, and how many schedules it runs now
/// on request (those stop through their job's row).
#[derive(Default)]
pub struct RunningJobs {
    tokens: Mutex<HashMap<JobId, CancellationToken>>,
    background: Arc<AtomicUsize>,
}

/// Counts a background run while it lives.
pub struct BackgroundRun(Arc<AtomicUsize>);

impl Drop for BackgroundRun {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl RunningJobs {
    fn register(&self, id: JobId, token: CancellationToken) {
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(id, token);
        }
    }

    fn unregister(&self, id: JobId) {
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(&id);
        }
    }

    /// Cancels a job of this process; false when it does not run here.
    fn cancel_here(&self, id: JobId) -> bool {
        match self.tokens.lock().ok().and_then(|t| t.get(&id).cloned()) {
            Some(token) => {
                token.cancel();
                true
            }
            None => false,
        }
    }

    pub fn cancel_all(&self) {
        if let Ok(t) = self.tokens.lock() {
            t.values().for_each(CancellationToken::cancel);
        }
    }

    /// Jobs of this process, and schedules it runs now on request.
    pub fn count(&self) -> usize {
        self.tokens.lock().map(|t| t.len()).unwrap_or(0) + self.background.load(Ordering::SeqCst)
    }

    /// Counts a run that is not launched here (a schedule's "run now") until the guard drops.
    pub fn background_run(&self) -> BackgroundRun {
        self.background.fetch_add(1, Ordering::SeqCst);
        BackgroundRun(self.background.clone())
    }
}

/// Asks job `job_id` to stop, whichever process runs it. `not_running` when it has ended.
pub async fn cancel(state: &AppState, job_id: JobId) -> UiResult<()> {
    // The row records the request too, so the history shows who asked, and a job of this
    // process whose token is somehow gone still stops.
    state.jobs().request_cancel(job_id).await?;
    state.running.cancel_here(job_id);
    Ok(())
}

/// Begins the job `spec` and runs `work` (which gets the job's id) in the background; answers
/// with the id at once. When it ends its result is e-mailed as `mail` (or else the identity's
/// on-demand default) asks, then announced. A job of the same identity and kind already running, here or in another
/// process, is refused with `busy`, and nothing is started.
///
/// The work is a `tokio::spawn`ed task on the app's runtime: every engine's future is `Send`
/// (the backup boxes the few streams and futures whose `Send` the compiler could not otherwise
/// prove, see `orgvault_core::backup`).
pub async fn launch<F, Fut>(
    app: &AppHandle,
    state: &Arc<AppState>,
    spec: JobSpec,
    mail: OnDemandMail,
    work: F,
) -> UiResult<JobId>
where
    F: FnOnce(JobId, Arc<EventProgress<AppHandle>>, CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = UiResult<()>> + Send + 'static,
{
    let lease = JobRunner::new(&state.db, &state.clock).begin(&spec).await?;
    let job_id = lease.job_id;
    let progress = Arc::new(EventProgress::new(app.clone(), Some(job_id)));
    let cancel = CancellationToken::new();
    state.running.register(job_id, cancel.clone());
    let (app, state) = (app.clone(), state.clone());
    tokio::spawn(async move {
        let runner = JobRunner::new(&state.db, &state.clock);
        let result = runner.drive(&lease, &cancel, work(job_id, progress, cancel.clone()), |_| None).await;
        if let Err(e) = &result {
            tracing::info!(job_id, code = %e.code, "job ended with an error: {}", e.message);
        }
        // A send that fails is recorded on the job (and shown in the history); it never changes
        // the job's outcome.
        if let Err(e) = report_on_demand(&state.service(), &state.clock, job_id, &mail).await {
            tracing::warn!(job_id, "the job's result could not be e-mailed: {e}");
        }
        let finished = match state.jobs().get(job_id).await {
            Ok(job) => JobFinished { job_id, state: job.state.into(), summary: job.summary() },
            Err(e) => JobFinished { job_id, state: JobStateView::Failed, summary: e.to_string() },
        };
        state.running.unregister(job_id);
        announce(&app, finished);
    });
    Ok(job_id)
}

/// Sends `JobFinished` and shows a system notification.
pub(crate) fn announce(app: &AppHandle, finished: JobFinished) {
    let word = match finished.state {
        JobStateView::Succeeded => "finished",
        JobStateView::Partial => "finished with problems",
        JobStateView::Failed => "failed",
        JobStateView::Cancelled => "was cancelled",
        JobStateView::Queued | JobStateView::Running => "stopped",
    };
    let body = finished.summary.clone();
    if let Err(e) = finished.emit(app) {
        tracing::warn!("job-finished event not delivered: {e}");
    }
    if let Err(e) = app.notification().builder().title(format!("OrgVault: a job {word}")).body(body).show() {
        tracing::debug!("no system notification: {e}");
    }
}
