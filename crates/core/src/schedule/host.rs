//! The loop a host of schedules runs: `orgvault service run` and the desktop app alike look
//! for due slots every [`TICK`] until told to stop. One loop for both, so the app and the
//! service behave the same and a test can run the app's loop beside a service process.

use std::time::Duration;

use chrono::TimeZone;

use super::{run_due, ScheduleRunReport, Scheduler};

/// How often a host looks for due slots. A slot counts as on time for two minutes
/// ([`super::ON_TIME_MS`]), so a look every 15 s runs it well within that.
pub const TICK: Duration = Duration::from_secs(15);

/// Runs what is due every `tick` until `s.cancel` is cancelled; each run's report goes to
/// `ran`. A look that fails (the database busy, say) is logged and tried again at the next
/// tick: a host keeps running.
pub async fn serve<Z>(s: &Scheduler<'_, Z>, tick: Duration, mut ran: impl FnMut(&ScheduleRunReport) + Send)
where
    Z: TimeZone + Send + Sync,
{
    tracing::info!(tick_ms = tick.as_millis() as u64, "looking for due schedules");
    while !s.cancel.is_cancelled() {
        match run_due(s).await {
            Ok(reports) => reports.iter().for_each(&mut ran),
            Err(e) => tracing::error!("looking for due schedules failed: {e}"),
        }
        tokio::select! {
            () = tokio::time::sleep(tick) => {}
            () = s.cancel.cancelled() => {}
        }
    }
}
