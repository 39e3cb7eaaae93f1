//! Schedules run in the app while it is open: every 15 s the app asks core's `run_due` for the
//! slots that are due, exactly as `orgvault service run` does. A slot is claimed in SQLite, so
//! with the app and the background service both up each run happens once. A scheduled job's end
//! is announced like any other job's (a `JobFinished` event and a system notification) and
//! e-mailed as its schedule asks (`orgvault_core::mail::MailHook`). The token watch runs here
//! too: every identity is checked when the app starts, before each scheduled run and every few
//! hours (`orgvault_core::token_watch`); a warning is a system notification (and an e-mail to the
//! identity's recipients).

use std::sync::Arc;
use std::time::Duration;

use orgvault_core::notify::Notifier;
use orgvault_core::schedule::{run_due, JobEndedHook, LocalZone, Schedule, ScheduledJobEnded, Scheduler};
use orgvault_core::token_watch::{TokenWatch, WatchHook};
use orgvault_core::NoProgress;
use tauri::AppHandle;
use tauri_plugin_notification::NotificationExt;
use tokio_util::sync::CancellationToken;

use crate::events::JobFinished;
use crate::state::AppState;
use crate::views::job_summary;

/// How often the app looks for due slots (a slot counts as on time for two minutes).
const TICK: Duration = Duration::from_secs(15);

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

    async fn scheduled_job_ended(&self, ended: &ScheduledJobEnded<'_>) {
        self.watch.scheduled_job_ended(ended).await;
        let finished = match (ended.job, ended.error) {
            (Some(job), _) => JobFinished { job_id: job.id, state: job.state.into(), summary: job_summary(job) },
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
        let tokens = TokenWatch::new(&service, &state.clock, notifier.as_ref());
        let scheduler = Scheduler {
            service: &service,
            clock: &state.clock,
            zone: LocalZone,
            progress: &NoProgress,
            cancel: stop.clone(),
            hook: &hook,
        };
        if let Err(e) = tokens.check_all().await {
            tracing::error!("checking the identities at start failed: {e}");
        }
        while !stop.is_cancelled() {
            if let Err(e) = tokens.check_due().await {
                tracing::error!("checking the identities failed: {e}");
            }
            match run_due(&scheduler).await {
                Ok(reports) => {
                    for r in reports {
                        tracing::info!(schedule = r.schedule_id, job = ?r.job_id, "scheduled run ended");
                    }
                }
                Err(e) => tracing::error!("looking for due schedules failed: {e}"),
            }
            tokio::select! {
                () = tokio::time::sleep(TICK) => {}
                () = stop.cancelled() => {}
            }
        }
    });
}
