//! Schedules run in the app while it is open: the app runs core's host loop
//! (`schedule::serve`, a look for due slots every 15 s), exactly as `orgvault service run` does. A slot is claimed in SQLite, so
//! with the app and the background service both up each run happens once. A scheduled job's end
//! is announced like any other job's (a `JobFinished` event and a system notification) and
//! e-mailed as its schedule asks (`orgvault_core::mail::MailHook`).

use std::sync::Arc;
use std::time::Duration;

use orgvault_core::schedule::{serve, JobEndedHook, LocalZone, ScheduledJobEnded, Scheduler, TICK};
use orgvault_core::{NoProgress, Service};
use tauri::AppHandle;
use tokio_util::sync::CancellationToken;

use crate::events::JobFinished;
use crate::state::AppState;

/// Tells the window and the desktop that a scheduled job ended.
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
        run_schedules(&service, &state.clock, &hook, TICK, stop).await;
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
