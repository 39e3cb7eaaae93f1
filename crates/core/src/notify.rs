//! System notifications, behind one small trait so each host brings its own: the desktop app
//! through tauri-plugin-notification, `orgvault service run` through notify-rust where a
//! desktop session exists (and nowhere else), tests through a recorder.
//!
//! Public API:
//! - [`Notifier`]: `notify(title, body)`; it never fails (a host that cannot show a
//!   notification drops it quietly: a notification is a courtesy, the job history and the
//!   e-mail are the record).
//! - [`NotifyingHook`]: a schedule's [`JobEndedHook`] that runs another hook (the mail) and
//!   then notifies that the run ended, with its outcome in one line.
//!
//! Invariant: a notification holds no secret; its text comes from the job history (the job's
//! summary and error), which holds none by design.

use crate::schedule::{JobEndedHook, ScheduledJobEnded};

/// Shows a system notification.
pub trait Notifier: Send + Sync {
    fn notify(&self, title: &str, body: &str);
}

/// Shows nothing.
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn notify(&self, _title: &str, _body: &str) {}
}

/// The title and body of the notification for a scheduled run that ended.
pub fn job_ended_text(ended: &ScheduledJobEnded<'_>) -> Option<(String, String)> {
    let name = &ended.schedule.spec.name;
    match (ended.job, ended.error) {
        (Some(job), error) => {
            let state = format!("{:?}", job.state).to_lowercase();
            let mut body = job.summary();
            if let (Some(e), None) = (error, &job.error) {
                // The run failed after its job (the retention, say): say so too.
                body = if body.is_empty() { e.to_owned() } else { format!("{body}; {e}") };
            }
            Some((format!("OrgVault: {name} {state}"), body))
        }
        (None, Some(error)) => Some((format!("OrgVault: {name} could not run"), error.to_owned())),
        (None, None) => None,
    }
}

/// Runs `inner` (the mail hook), then notifies through `notifier` that the run ended.
pub struct NotifyingHook<H, N> {
    pub inner: H,
    pub notifier: N,
}

#[async_trait::async_trait]
impl<H: JobEndedHook, N: Notifier> JobEndedHook for NotifyingHook<H, N> {
    async fn scheduled_job_ended(&self, ended: &ScheduledJobEnded<'_>) {
        self.inner.scheduled_job_ended(ended).await;
        if let Some((title, body)) = job_ended_text(ended) {
            self.notifier.notify(&title, &body);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use super::*;
    use crate::jobs::{Job, JobCounts, JobKind, JobState, Trigger};
    use crate::schedule::{NoHook, Schedule, ScheduleKind, ScheduleSpec};

    #[derive(Default)]
    struct Recorder(Mutex<Vec<(String, String)>>);

    impl Notifier for &Recorder {
        fn notify(&self, title: &str, body: &str) {
            self.0.lock().expect("lock").push((title.to_owned(), body.to_owned()));
        }
    }

    fn schedule() -> Schedule {
        Schedule {
            id: 7,
            spec: ScheduleSpec::new("Nightly", "id-1", ScheduleKind::Backup, "0 3 * * *"),
            since_ms: 0,
            created_ms: 0,
            updated_ms: 0,
        }
    }

    #[tokio::test]
    async fn a_run_that_ended_is_announced_with_its_outcome_and_one_that_could_not_start_with_why() {
        let recorder = Recorder::default();
        let hook = NotifyingHook { inner: NoHook, notifier: &recorder };
        let schedule = schedule();
        let job = Job {
            id: 3,
            kind: JobKind::Backup,
            identity_id: Some("id-1".into()),
            name: "Backup of Acme".into(),
            created_ms: 0,
            started_ms: Some(0),
            finished_ms: Some(1),
            state: JobState::Partial,
            counts: JobCounts::None,
            error: Some("2 items failed".into()),
            trigger: Trigger::Schedule(7),
            holder: None,
            cancel_requested_ms: None,
        };
        let ended =
            |job, error| ScheduledJobEnded { schedule: &schedule, slot_ms: None, job, retention_job: None, error };
        hook.scheduled_job_ended(&ended(Some(&job), None)).await;
        hook.scheduled_job_ended(&ended(None, Some("the identity is busy"))).await;
        hook.scheduled_job_ended(&ended(None, None)).await;
        let got = recorder.0.lock().expect("lock").clone();
        assert_eq!(got.len(), 2, "a run with neither a job nor an error has nothing to say: {got:?}");
        assert_eq!(got[0].0, "OrgVault: Nightly partial");
        assert!(got[0].1.ends_with("2 items failed"), "the job's summary: {got:?}");
        assert_eq!(got[1], ("OrgVault: Nightly could not run".into(), "the identity is busy".into()));
    }
}
