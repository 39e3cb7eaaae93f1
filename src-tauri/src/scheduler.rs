//! Schedules run in the app while it is open: the app runs core's host loop
//! (`schedule::serve`, a look for due slots every 15 s), exactly as `orgvault service run` does.
//! A slot is claimed in SQLite, so
//! with the app and the background service both up each run happens once. A scheduled job's end
//! is announced like any other job's (a `JobFinished` event and a system notification) and
//! e-mailed as its schedule asks (`orgvault_core::mail::MailHook`). The token watch runs here
//! too: every identity is checked when the app starts, before each scheduled run and every few
//! hours (`orgvault_core::token_watch`); a warning is a system notification (and an e-mail to the
//! identity's recipients).

use std::sync::Arc;
use std::time::Duration;

use orgvault_core::notify::Notifier;
use orgvault_core::schedule::{serve, JobEndedHook, LocalZone, Schedule, ScheduledJobEnded, Scheduler, TICK};
use orgvault_core::token_watch::{TokenWatch, WatchHook};
use orgvault_core::{NoProgress, Service};
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;
use tokio_util::sync::CancellationToken;

use crate::events::JobFinished;
use crate::state::AppState;

/// The desktop's notifications, for the engine's warnings.
pub(crate) struct AppNotifier(pub AppHandle);

impl Notifier for AppNotifier {
    fn notify(&self, title: &str, body: &str) {
        if let Err(e) = self.0.notification().builder().title(title).body(body).show() {
            tracing::debug!("no system notification: {e}");
        }
    }
}

/// Checks the schedule's identity before a run; tells the window and the desktop that a
/// scheduled job ended.
struct Announce {
    app: AppHandle,
    watch: WatchHook,
}

#[async_trait::async_trait]
impl JobEndedHook for Announce {
    async fn scheduled_run_starting(&self, schedule: &Schedule) {
        self.watch.scheduled_run_starting(schedule).await;
    }

    async fn tick(&self) {
        self.watch.tick().await;
    }

    async fn scheduled_job_ended(&self, ended: &ScheduledJobEnded<'_>) {
        self.watch.scheduled_job_ended(ended).await;
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
        let notifier: Arc<dyn Notifier> = Arc::new(AppNotifier(app.clone()));
        let mail = Arc::new(orgvault_core::mail::MailHook { service: service.clone() });
        let watch = WatchHook { service: service.clone(), notifier: notifier.clone(), then: mail };
        let hook = Announce { app, watch };
        if let Err(e) = TokenWatch::new(&service, &state.clock, notifier.as_ref()).check_all().await {
            tracing::error!("checking the identities at start failed: {e}");
        }
        // The hook's tick checks the identities not checked for a few hours before each look.
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
