//! Time, injected. Logic that depends on "now" (job timestamps, scan start and end) asks a
//! [`Clock`] so that tests can pin it; nothing in this crate reads the system clock directly
//! except [`SystemClock`].

use std::sync::atomic::{AtomicI64, Ordering};

/// A source of wall-clock time in epoch milliseconds, and the real one: the client's, so that
/// one injected clock serves token expiry, retry time caps, job timestamps and schedules.
pub use arcgis::{Clock, SystemClock};

/// A clock that only moves when told to; for tests of anything that timestamps.
#[derive(Debug, Default)]
pub struct ManualClock {
    now: AtomicI64,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        Self { now: AtomicI64::new(start_ms) }
    }

    pub fn set(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }

    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
}
