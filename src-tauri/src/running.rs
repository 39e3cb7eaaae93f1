//! Long work as background jobs: the command starts it on the tokio runtime and answers with
//! the job id at once; progress goes out as events; the end as a `JobFinished` event and a
//! system notification. `cancel_job` finds the job's cancellation token here.
//!
//! Job ids: scans and backups are rows of the job history, which the engine creates itself
//! when the work begins. The launcher therefore notes the newest job id of that identity and
//! kind, starts the work, and waits (a few milliseconds) for the new row to appear. Only one
//! job of a kind runs per identity at a time, which makes the new row unambiguous. Verify runs
//! have no row (the history knows scan, backup and restore) and get negative ids that live
//! until the app quits.

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use orgvault_core::jobs::{JobFilter, JobKind};
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;
use tauri_specta::Event;
use tokio_util::sync::CancellationToken;

use crate::error::{ErrorCode, UiError, UiResult};
use crate::events::{EventProgress, JobFinished};
use crate::state::AppState;
use crate::views::{job_summary, JobId, JobStateView};

/// Longest wait for the engine to record a job it was asked to start.
const JOB_ROW_WAIT: Duration = Duration::from_secs(120);
const JOB_ROW_POLL: Duration = Duration::from_millis(15);

/// The jobs running in this process.
#[derive(Default)]
pub struct RunningJobs {
    tokens: Mutex<HashMap<JobId, CancellationToken>>,
    /// (identity id, kind): at most one running job each.
    busy: Mutex<HashSet<(String, &'static str)>>,
    next_verify_id: AtomicI64,
}

/// A claim on (identity, kind), released when dropped.
pub struct Slot<'a> {
    jobs: &'a RunningJobs,
    key: Option<(String, &'static str)>,
}

impl Slot<'_> {
    /// Keeps the claim past this guard; the caller releases it with [`RunningJobs::release`].
    fn keep(mut self) -> (String, &'static str) {
        self.key.take().unwrap_or_default()
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some(key) = &self.key {
            self.jobs.release(key);
        }
    }
}

impl RunningJobs {
    pub fn claim(&self, identity_id: &str, kind: &'static str) -> UiResult<Slot<'_>> {
        let key = (identity_id.to_owned(), kind);
        let mut busy = self.busy.lock().map_err(|_| UiError::internal("the job registry is unusable"))?;
        if !busy.insert(key.clone()) {
            return Err(UiError::new(ErrorCode::Busy, format!("a {kind} of this identity is already running")));
        }
        Ok(Slot { jobs: self, key: Some(key) })
    }

    fn release(&self, key: &(String, &'static str)) {
        if let Ok(mut b) = self.busy.lock() {
            b.remove(key);
        }
    }

    pub fn register(&self, id: JobId, token: CancellationToken) {
        if let Ok(mut t) = self.tokens.lock() {
            t.insert(id, token);
        }
    }

    pub fn unregister(&self, id: JobId) {
        if let Ok(mut t) = self.tokens.lock() {
            t.remove(&id);
        }
    }

    /// Asks a running job to stop; false when it is not running here.
    pub fn cancel(&self, id: JobId) -> bool {
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

    pub fn count(&self) -> usize {
        self.tokens.lock().map(|t| t.len()).unwrap_or(0)
    }

    pub fn next_verify_id(&self) -> JobId {
        -(self.next_verify_id.fetch_add(1, Ordering::SeqCst) + 1)
    }
}

/// The newest job id of this identity and kind, 0 when none.
async fn newest_job(state: &AppState, identity_id: &str, kind: JobKind) -> UiResult<JobId> {
    let filter =
        JobFilter { kind: Some(kind), identity_id: Some(identity_id.to_owned()), states: vec![], limit: Some(1) };
    Ok(state.jobs().list(&filter).await?.first().map(|j| j.id).unwrap_or(0))
}

fn kind_word(kind: JobKind) -> &'static str {
    match kind {
        JobKind::Scan => "scan",
        JobKind::Backup => "backup",
        JobKind::Restore => "restore",
    }
}

/// Starts `work` (which makes the engine record a job of `kind` for `identity_id`) in the
/// background and answers with the recorded job's id. If the work fails before the engine
/// records anything, its error is the answer.
///
/// The work's future runs on a blocking-pool thread that drives it with the runtime's handle:
/// the engine's backup future is not provably `Send` (a compiler limit with higher-ranked
/// lifetimes in its streams), so it cannot be `tokio::spawn`ed; it still uses the app's one
/// runtime for I/O, timers and the tasks it spawns.
pub async fn launch<F, Fut>(
    app: &AppHandle,
    state: &Arc<AppState>,
    kind: JobKind,
    identity_id: &str,
    work: F,
) -> UiResult<JobId>
where
    F: FnOnce(Arc<EventProgress<AppHandle>>, CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = UiResult<()>> + 'static,
{
    let slot = state.running.claim(identity_id, kind_word(kind))?;
    let before = newest_job(state, identity_id, kind).await?;
    let progress = Arc::new(EventProgress::new(app.clone(), None));
    let cancel = CancellationToken::new();
    let (done_tx, mut done_rx) = tokio::sync::oneshot::channel();
    let handle = tokio::runtime::Handle::current();
    let (p, c) = (progress.clone(), cancel.clone());
    tokio::task::spawn_blocking(move || {
        let _ = done_tx.send(handle.block_on(work(p, c)));
    });

    let deadline = tokio::time::Instant::now() + JOB_ROW_WAIT;
    let mut early: Option<UiResult<()>> = None;
    let job_id = loop {
        let newest = newest_job(state, identity_id, kind).await?;
        if newest > before {
            break newest;
        }
        if let Some(result) = early.take() {
            // The work ended and no row appeared: it failed before the engine started a job.
            return Err(result.err().unwrap_or_else(|| UiError::internal("the job ended without being recorded")));
        }
        match done_rx.try_recv() {
            Ok(result) => early = Some(result),
            Err(tokio::sync::oneshot::error::TryRecvError::Closed) => {
                return Err(UiError::internal("the job stopped unexpectedly"))
            }
            Err(tokio::sync::oneshot::error::TryRecvError::Empty) => {
                if tokio::time::Instant::now() > deadline {
                    cancel.cancel();
                    return Err(UiError::internal("the job did not start in time"));
                }
                tokio::time::sleep(JOB_ROW_POLL).await;
            }
        }
    };
    progress.set_job_id(job_id);
    state.running.register(job_id, cancel);
    // The claim outlives this call: the job releases it when it ends.
    let key = slot.keep();
    let (app, state) = (app.clone(), state.clone());
    tokio::spawn(async move {
        let result = match early {
            Some(r) => r,
            None => done_rx.await.unwrap_or_else(|_| Err(UiError::internal("the job stopped unexpectedly"))),
        };
        if let Err(e) = &result {
            tracing::info!(job_id, code = %e.code, "job ended with an error: {}", e.message);
        }
        let finished = match state.jobs().get(job_id).await {
            Ok(job) => JobFinished { job_id, state: job.state.into(), summary: job_summary(&job) },
            Err(e) => JobFinished { job_id, state: JobStateView::Failed, summary: e.to_string() },
        };
        state.running.release(&key);
        state.running.unregister(job_id);
        announce(&app, finished);
    });
    Ok(job_id)
}

/// Runs `work` as an in-memory job (verify) with a fresh negative id, on a blocking-pool thread
/// as in [`launch`].
pub fn launch_untracked<F, Fut>(app: &AppHandle, state: &Arc<AppState>, work: F) -> JobId
where
    F: FnOnce(Arc<EventProgress<AppHandle>>, CancellationToken) -> Fut + Send + 'static,
    Fut: Future<Output = JobFinished> + 'static,
{
    let job_id = state.running.next_verify_id();
    let progress = Arc::new(EventProgress::new(app.clone(), Some(job_id)));
    let cancel = CancellationToken::new();
    state.running.register(job_id, cancel.clone());
    let (app, state) = (app.clone(), state.clone());
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut finished = handle.block_on(work(progress, cancel));
        finished.job_id = job_id;
        state.running.unregister(job_id);
        announce(&app, finished);
    });
    job_id
}

/// Sends `JobFinished` and shows a system notification.
fn announce(app: &AppHandle, finished: JobFinished) {
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
