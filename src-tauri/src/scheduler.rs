//! Schedules run in the app while it is open: the app runs core's host loop
//! (`schedule::serve`, a look for due slots every 15 s), exactly as `orgvault service run` does. A slot is claimed in SQLite, so
//! with the app and the background service both up each run happens once. A scheduled job's end
//! is announced like any other job's (a `JobFinished` event and a system notification) and
//! e-mailed as its schedule asks (`orgvault_core::mail::MailHook`). "Run now" on the Schedules
//! screen runs core's `run_now` the same way, in the background.
//!
//! Beside it, every tick, the app reads again whether any schedule is enabled, which decides whether closing the
//! window keeps the app in the tray (`tray`).

use std::sync::Arc;
use std::time::Duration;

use orgvault_core::schedule::{run_now, serve, JobEndedHook, LocalZone, ScheduledJobEnded, Scheduler, TICK};
use orgvault_core::{NoProgress, Service};
use tauri::AppHandle;
use tokio_util::sync::CancellationToken;

use crate::events::JobFinished;
use crate::state::AppState;

/// Tells the window and the desktop that a scheduled job ended, and e-mails its result.
struct Announce {
    app: AppHandle,
    mail: orgvault_core::mail::MailHook,
}

#[async_trait::async_trait]
impl JobEndedHook for Announce {
    async fn scheduled_job_ended(&self, ended: &ScheduledJobEnded<'_>) {
        self.mail.scheduled_job_ended(ended).await;
        let finished = match (ended.job, ended.error) {
            (Some(job), _) => JobFinished { job_id: job.id, state: job.state.into(), summary: job.summary() },
            (None, Some(error)) => JobFinished {
                job_id: 0,
                state: crate::views::JobStateView::Failed,
                summary: format!("schedule {}: {error}", ended.schedule.spec.name),
            },
            (None, None) => return,
        };
        crate::running::announce(&self.app, finished);
    }
}

/// Starts the app's scheduler loop; it stops when `stop` is cancelled (the app quits).
pub fn start(app: AppHandle, state: Arc<AppState>, stop: CancellationToken) {
    tauri::async_runtime::spawn(async move {
        let service = state.service();
        let hook = Announce { app, mail: orgvault_core::mail::MailHook { service: service.clone() } };
        // Whether closing the window keeps the app in the tray follows the schedules.
        let flag = {
            let (state, stop) = (state.clone(), stop.clone());
            async move {
                while !stop.is_cancelled() {
                    state.refresh_schedules_flag().await;
                    tokio::select! {
                        () = tokio::time::sleep(TICK) => {}
                        () = stop.cancelled() => {}
                    }
                }
            }
        };
        tokio::join!(run_schedules(&service, &state.clock, &hook, TICK, stop.clone()), flag);
    });
}

/// The app's scheduler loop over `service`, until `stop`: what [`start`] runs, without the
/// window (a test runs it beside an `orgvault service run` process).
pub async fn run_schedules(
    service: &Service,
    clock: &dyn orgvault_core::Clock,
    hook: &dyn JobEndedHook,
    tick: Duration,
    stop: CancellationToken,
) {
    let scheduler = Scheduler { service, clock, zone: LocalZone, progress: &NoProgress, cancel: stop.clone(), hook };
    serve(&scheduler, tick, |r| tracing::info!(schedule = r.schedule_id, job = ?r.job_id, "scheduled run ended")).await;
}

/// Runs schedule `id` now in the background (core's `run_now`: a job triggered by the
/// schedule, which the Jobs screen lists and `cancel_job` stops through its row), announced and
/// e-mailed like a scheduled run. While it runs, closing the window keeps the app in the tray.
pub fn run_now_in_background(app: AppHandle, state: Arc<AppState>, id: i64) {
    let busy = state.running.background_run();
    tauri::async_runtime::spawn(async move {
        let _busy = busy;
        let service = state.service();
        let hook = Announce { app, mail: orgvault_core::mail::MailHook { service: service.clone() } };
        let scheduler = Scheduler {
            service: &service,
            clock: &state.clock,
            zone: LocalZone,
            progress: &NoProgress,
            cancel: CancellationToken::new(),
            hook: &hook,
        };
        match run_now(&scheduler, id).await {
            Ok(r) => tracing::info!(schedule = id, job = ?r.job_id, error = ?r.error, "schedule run now ended"),
            Err(e) => tracing::error!(schedule = id, "schedule run now failed: {e}"),
        }
    });
}
