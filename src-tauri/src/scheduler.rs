//! Schedules run in the app while it is open: the app runs core's host loop
//! (`schedule::serve`, a look for due slots every 15 s), exactly as `orgvault service run` does.
//! A slot is claimed in SQLite, so
//! with the app and the background service both up each run happens once. A scheduled job's end
//! is announced like any other job's (a `JobFinished` event and a system notification) and
//! e-mailed as its schedule asks (`orgvault_core::mail::MailHook`). "Run now" on the Schedules
//! screen runs core's `run_now` the same way, in the background. The token watch runs here
//! too: every identity is checked when the app starts, before each scheduled run and every few
//! hours (`orgvault_core::token_watch`); a warning is a system notification (and an e-mail to the
//! identity's recipients).
//!
//! Beside it, every tick, the app reads again whether any schedule is enabled, which decides
//! whether closing the window keeps the app in the tray (`tray`).

use std::sync::Arc;
use std::time::Duration;

use orgvault_core::notify::Notifier;
use orgvault_core::schedule::{run_now, serve, JobEndedHook, LocalZone, Schedule, ScheduledJobEnded, Scheduler, TICK};
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

/// The app's hook for scheduled runs: the token watch before a run, then the mail, then the
/// window and the desktop are told.
fn announce(app: &AppHandle, service: &Service) -> Announce {
    let notifier: Arc<dyn Notifier> = Arc::new(AppNotifier(app.clone()));
    let mail = Arc::new(orgvault_core::mail::MailHook { service: service.clone() });
    Announce { app: app.clone(), watch: WatchHook { service: service.clone(), notifier, then: mail } }
}

/// Starts the app's scheduler loop; it stops when `stop` is cancelled (the app quits).
pub fn start(app: AppHandle, state: Arc<AppState>, stop: CancellationToken) {
    tauri::async_runtime::spawn(async move {
        let service = state.service();
        let hook = announce(&app, &service);
        if let Err(e) = TokenWatch::new(&service, &state.clock, &AppNotifier(app.clone())).check_all().await {
            tracing::error!("checking the identities at start failed: {e}");
        }
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
        // The hook's tick checks the identities not checked for a few hours before each look.
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
        let hook = announce(&app, &service);
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
