//! Adaptive concurrency toward one organization (AIMD).
//!
//! ArcGIS throttles an org as a whole (429 with a cool-off of about a minute), so all requests to
//! the org share one [`Limiter`]: the limit halves on a 429 and grows by one after a run of
//! successes, never below one nor above the configured maximum. Permits in use above a lowered
//! limit are not revoked; new ones are simply not handed out until usage drops below the limit.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Debug)]
struct LimiterState {
    limit: usize,
    in_use: usize,
    successes: usize,
}

/// An AIMD concurrency limiter shared by every request to one org.
#[derive(Debug)]
pub struct Limiter {
    state: Mutex<LimiterState>,
    freed: Notify,
    max: usize,
    increase_after: usize,
    decreases: AtomicU64,
}

/// Held while a request is in flight; dropping it returns the slot.
#[derive(Debug)]
pub struct Permit {
    limiter: Arc<Limiter>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        {
            let mut s = self.limiter.state.lock().unwrap_or_else(|p| p.into_inner());
            s.in_use = s.in_use.saturating_sub(1);
        }
        self.limiter.freed.notify_waiters();
    }
}

impl Limiter {
    /// A limiter starting at `initial` permits, growing up to `max`, one permit at a time after
    /// `increase_after` consecutive successes.
    pub fn new(initial: usize, max: usize, increase_after: usize) -> Arc<Self> {
        let max = max.max(1);
        Arc::new(Limiter {
            state: Mutex::new(LimiterState { limit: initial.clamp(1, max), in_use: 0, successes: 0 }),
            freed: Notify::new(),
            max,
            increase_after: increase_after.max(1),
            decreases: AtomicU64::new(0),
        })
    }

    /// Waits for a free slot.
    pub async fn acquire(self: &Arc<Self>) -> Permit {
        loop {
            let notified = self.freed.notified();
            tokio::pin!(notified);
            {
                let mut s = self.lock();
                if s.in_use < s.limit {
                    s.in_use += 1;
                    return Permit { limiter: Arc::clone(self) };
                }
                // Registering before releasing the lock means a release in between cannot be missed.
                notified.as_mut().enable();
            }
            notified.await;
        }
    }

    /// Records a successful request; after enough of them in a row the limit grows by one.
    pub fn on_success(&self) {
        let grew = {
            let mut s = self.lock();
            s.successes += 1;
            if s.successes >= self.increase_after && s.limit < self.max {
                s.successes = 0;
                s.limit += 1;
                true
            } else {
                false
            }
        };
        if grew {
            self.freed.notify_waiters();
        }
    }

    /// Records throttling (429): the limit halves.
    pub fn on_throttled(&self) {
        let mut s = self.lock();
        s.limit = (s.limit / 2).max(1);
        s.successes = 0;
        self.decreases.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(limit = s.limit, "throttled by the portal; concurrency lowered");
    }

    /// The current limit.
    pub fn limit(&self) -> usize {
        self.lock().limit
    }

    /// How many times the limit was lowered.
    pub fn decreases(&self) -> u64 {
        self.decreases.load(Ordering::Relaxed)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, LimiterState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn aimd_halves_and_grows_within_bounds() {
        let l = Limiter::new(8, 16, 3);
        l.on_throttled();
        assert_eq!(l.limit(), 4, "a 429 must halve the limit");
        for _ in 0..3 {
            l.on_success();
        }
        assert_eq!(l.limit(), 5, "three successes must add exactly one permit");
        for _ in 0..10 {
            l.on_throttled();
        }
        assert_eq!(l.limit(), 1, "the limit never drops below one");
        for _ in 0..1000 {
            l.on_success();
        }
        assert_eq!(l.limit(), 16, "the limit never exceeds the maximum");
    }

    #[tokio::test]
    async fn acquire_waits_for_a_free_slot() {
        let l = Limiter::new(1, 1, 10);
        let first = l.acquire().await;
        let l2 = Arc::clone(&l);
        let waiter = tokio::spawn(async move { l2.acquire().await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!waiter.is_finished(), "a second request must wait while the only slot is taken");
        drop(first);
        let got = tokio::time::timeout(Duration::from_secs(2), waiter).await;
        assert!(got.is_ok(), "releasing the slot must wake the waiter");
    }
}
