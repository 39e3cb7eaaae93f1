//! Typed events (exported to TypeScript by tauri-specta) and the progress sink that produces
//! them from the engine's [`Progress`] calls.
//!
//! Rate: the engine calls `advance` from hot loops, so `JobProgress` is sent at most every
//! [`PROGRESS_EVERY`] (and at each phase change); `JobItemDone` goes out for every outcome
//! that is not a plain success, so a 50,000-item backup does not flood the webview; the full
//! list is in the job history.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use orgvault_core::jobs::{ItemOutcome, Outcome, SubjectKind};
use orgvault_core::Progress;
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::AppHandle;
use tauri_specta::Event;

use crate::views::{outcome_view, JobId, JobStateView, OutcomeView};

pub const PROGRESS_EVERY: Duration = Duration::from_millis(150);

/// Where a running job is. `total` is `None` while unknown (e.g. while items are listed);
/// `bytes` counts the bytes moved so far (downloaded by a backup, checked by a verify; 0 for a
/// scan) and never goes down within a job; `rate_per_s` is elements per second in the current
/// phase and `bytes_per_s` the job's average byte rate; `current` is the engine's latest
/// message (the item being written) or the phase.
#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct JobProgress {
    pub job_id: JobId,
    pub phase: String,
    pub done: u64,
    pub total: Option<u64>,
    pub bytes: u64,
    pub current: Option<String>,
    pub rate_per_s: f64,
    pub bytes_per_s: f64,
}

/// One subject's outcome, sent as the job records it.
#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct JobItemDone {
    pub job_id: JobId,
    pub kind: SubjectKind,
    pub id: String,
    pub title: String,
    pub outcome: OutcomeView,
    pub reason: Option<String>,
}

/// A job ended; `state` is its final state in the history.
#[derive(Debug, Clone, Serialize, Deserialize, Type, Event)]
pub struct JobFinished {
    pub job_id: JobId,
    pub state: JobStateView,
    pub summary: String,
}

/// Sends events somewhere: the app's webview, or a list in tests.
pub trait EventOut: Send + Sync {
    fn progress(&self, e: JobProgress);
    fn item(&self, e: JobItemDone);
}

impl EventOut for AppHandle {
    fn progress(&self, e: JobProgress) {
        if let Err(err) = e.emit(self) {
            tracing::debug!("progress event not delivered: {err}");
        }
    }

    fn item(&self, e: JobItemDone) {
        if let Err(err) = e.emit(self) {
            tracing::debug!("item event not delivered: {err}");
        }
    }
}

/// The engine's progress calls turned into events for one job. The job id is set once known
/// (the engine creates the job row itself); calls before that only update the counters.
pub struct EventProgress<O: EventOut> {
    out: O,
    job_id: AtomicI64,
    done: AtomicU64,
    bytes: AtomicU64,
    /// When the job began, for the byte rate (phases restart the element rate, not this).
    began: Instant,
    state: Mutex<PhaseState>,
}

struct PhaseState {
    phase: String,
    total: Option<u64>,
    current: Option<String>,
    started: Instant,
    last_sent: Option<Instant>,
}

impl<O: EventOut> EventProgress<O> {
    pub fn new(out: O, job_id: Option<JobId>) -> Self {
        Self {
            out,
            job_id: AtomicI64::new(job_id.unwrap_or(0)),
            done: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            began: Instant::now(),
            state: Mutex::new(PhaseState {
                phase: "starting".into(),
                total: None,
                current: None,
                started: Instant::now(),
                last_sent: None,
            }),
        }
    }

    pub fn set_job_id(&self, id: JobId) {
        self.job_id.store(id, Ordering::SeqCst);
    }

    fn job_id(&self) -> Option<JobId> {
        Some(self.job_id.load(Ordering::SeqCst)).filter(|id| *id != 0)
    }

    /// Sends a `JobProgress` if forced or if the last one is older than [`PROGRESS_EVERY`].
    fn send(&self, force: bool) {
        let Some(job_id) = self.job_id() else { return };
        // A busy lock means another thread is sending right now: skipping is the throttle.
        let Ok(mut st) =
            (if force { self.state.lock().map_err(|_| ()) } else { self.state.try_lock().map_err(|_| ()) })
        else {
            return;
        };
        let now = Instant::now();
        if !force && st.last_sent.is_some_and(|t| now.duration_since(t) < PROGRESS_EVERY) {
            return;
        }
        st.last_sent = Some(now);
        let done = self.done.load(Ordering::Relaxed);
        let secs = now.duration_since(st.started).as_secs_f64();
        let bytes = self.bytes.load(Ordering::Relaxed);
        let job_secs = now.duration_since(self.began).as_secs_f64();
        let event = JobProgress {
            job_id,
            phase: st.phase.clone(),
            done,
            total: st.total,
            bytes,
            current: st.current.clone().or_else(|| Some(st.phase.clone())),
            rate_per_s: if secs > 0.0 { done as f64 / secs } else { 0.0 },
            bytes_per_s: if job_secs > 0.0 { bytes as f64 / job_secs } else { 0.0 },
        };
        drop(st);
        self.out.progress(event);
    }
}

impl<O: EventOut> Progress for EventProgress<O> {
    fn phase(&self, name: &str, total: Option<u64>) {
        if let Ok(mut st) = self.state.lock() {
            st.phase = name.to_owned();
            st.total = total;
            st.current = None;
            st.started = Instant::now();
        }
        self.done.store(0, Ordering::Relaxed);
        self.send(true);
    }

    fn advance(&self, n: u64) {
        self.done.fetch_add(n, Ordering::Relaxed);
        let counts_bytes = self.state.try_lock().map(|st| st.phase == "verify").unwrap_or(false);
        if counts_bytes {
            self.bytes.fetch_add(n, Ordering::Relaxed);
        }
        self.send(false);
    }

    fn item(&self, o: &ItemOutcome) {
        if o.outcome == Outcome::Ok {
            return;
        }
        let Some(job_id) = self.job_id() else { return };
        let (outcome, _) = outcome_view(o.outcome);
        self.out.item(JobItemDone {
            job_id,
            kind: o.kind,
            id: o.id.clone(),
            title: o.title.clone(),
            outcome,
            reason: o.reason.clone(),
        });
    }

    fn message(&self, text: &str) {
        if let Ok(mut st) = self.state.lock() {
            st.current = Some(text.to_owned());
        }
        self.send(false);
    }

    fn bytes(&self, total: u64) {
        // Chunks of concurrent downloads report their totals out of order: keep the largest.
        self.bytes.fetch_max(total, Ordering::Relaxed);
        self.send(false);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Default)]
    struct Recorded {
        progress: Mutex<Vec<JobProgress>>,
        items: Mutex<Vec<JobItemDone>>,
    }

    impl EventOut for std::sync::Arc<Recorded> {
        fn progress(&self, e: JobProgress) {
            self.progress.lock().expect("lock").push(e);
        }
        fn item(&self, e: JobItemDone) {
            self.items.lock().expect("lock").push(e);
        }
    }

    fn outcome(o: Outcome) -> ItemOutcome {
        ItemOutcome { kind: SubjectKind::Item, id: "i1".into(), title: "Roads".into(), outcome: o, reason: None }
    }

    #[test]
    fn hot_loops_are_throttled_and_phases_always_sent() {
        let rec = std::sync::Arc::new(Recorded::default());
        let p = EventProgress::new(rec.clone(), Some(7));
        p.phase("items", Some(10_000));
        for _ in 0..10_000 {
            p.advance(1);
        }
        let sent = rec.progress.lock().expect("lock").clone();
        assert!(sent.len() <= 3, "10,000 advances within milliseconds must not send 10,000 events ({})", sent.len());
        assert_eq!(sent[0].phase, "items", "a phase change is sent at once");
        assert_eq!(sent[0].total, Some(10_000), "with its total");
        p.phase("users", None);
        let last = rec.progress.lock().expect("lock").last().cloned().expect("sent");
        assert_eq!((last.phase.as_str(), last.done, last.job_id), ("users", 0, 7), "a new phase restarts the count");
    }

    #[test]
    fn backup_bytes_reach_the_events_and_never_go_back() {
        let rec = std::sync::Arc::new(Recorded::default());
        let p = EventProgress::new(rec.clone(), Some(3));
        p.phase("backup", Some(2));
        p.bytes(4_000_000);
        // A slower concurrent download reports its older running total after a newer one.
        p.bytes(1_500_000);
        std::thread::sleep(Duration::from_millis(5));
        p.phase("snapshot", None);
        let last = rec.progress.lock().expect("lock").last().cloned().expect("sent");
        assert_eq!(last.bytes, 4_000_000, "the event carries the largest running total the backup reported");
        assert!(last.bytes_per_s > 0.0, "a backup that moved bytes has a byte rate: {}", last.bytes_per_s);
        let scan = std::sync::Arc::new(Recorded::default());
        let q = EventProgress::new(scan.clone(), Some(4));
        q.phase("items", Some(5));
        q.advance(5);
        q.phase("users", None);
        let last = scan.progress.lock().expect("lock").last().cloned().expect("sent");
        assert_eq!((last.bytes, last.bytes_per_s), (0, 0.0), "a scan's element counts are not bytes");
    }

    #[test]
    fn nothing_is_sent_before_the_job_id_is_known_and_successes_are_not_items() {
        let rec = std::sync::Arc::new(Recorded::default());
        let p = EventProgress::new(rec.clone(), None);
        p.phase("backup", Some(3));
        p.item(&outcome(Outcome::Failed));
        assert!(rec.progress.lock().expect("lock").is_empty(), "no event may carry an unknown job id");
        p.set_job_id(12);
        p.item(&outcome(Outcome::Ok));
        p.item(&outcome(Outcome::Failed));
        let items = rec.items.lock().expect("lock").clone();
        assert_eq!(items.len(), 1, "plain successes stay in the history, failures are sent");
        assert_eq!((items[0].job_id, items[0].outcome), (12, OutcomeView::Failed), "the failure, for job 12");
    }
}
