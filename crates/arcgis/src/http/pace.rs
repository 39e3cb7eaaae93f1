//! How long a small answer may keep the client waiting without a byte: adaptive to the latency
//! observed, so a stalled JSON answer fails fast instead of holding a request slot for the whole
//! stall limit.
//!
//! The estimate follows TCP's retransmission timer (RFC 6298): a smoothed latency `srtt` and its
//! mean deviation `rttvar`, updated from every JSON answer whose headers arrived; the patience is
//! `PATIENCE_FACTOR × (srtt + 4·rttvar)`, never below `READ_PATIENCE_FLOOR` nor above the
//! configured stall limit. Each repeat of the same request doubles it (up to the limit), so a
//! server that is merely slow costs a retry or two, never a failure. Writes and downloads do not
//! use it: a write waits for `write_timeout`, a download's body for the stall limit.

use std::sync::Mutex;
use std::time::Duration;

/// The shortest patience for a JSON answer (RFC 6298's minimum RTO): below it, scheduling noise
/// on a busy machine would look like a stall.
pub(crate) const READ_PATIENCE_FLOOR: Duration = Duration::from_secs(1);
/// Patience before any answer was observed.
const INITIAL_PATIENCE: Duration = Duration::from_secs(10);
/// How many retransmission timeouts a JSON answer may take before it counts as stalled.
const PATIENCE_FACTOR: f64 = 2.0;

#[derive(Debug, Default)]
struct Estimate {
    srtt_ms: f64,
    rttvar_ms: f64,
    samples: u64,
}

/// The latency estimate of one organization's API calls.
#[derive(Debug)]
pub(crate) struct Pace {
    estimate: Mutex<Estimate>,
    ceiling: Duration,
}

impl Pace {
    /// `ceiling` is the configured stall limit: patience never exceeds it.
    pub fn new(ceiling: Duration) -> Self {
        Pace { estimate: Mutex::default(), ceiling }
    }

    /// Records how long an answer took to start (RFC 6298 §2, alpha 1/8, beta 1/4).
    pub fn observe(&self, took: Duration) {
        let r = took.as_secs_f64() * 1000.0;
        let mut e = self.estimate.lock().unwrap_or_else(|p| p.into_inner());
        if e.samples == 0 {
            e.srtt_ms = r;
            e.rttvar_ms = r / 2.0;
        } else {
            e.rttvar_ms = 0.75 * e.rttvar_ms + 0.25 * (e.srtt_ms - r).abs();
            e.srtt_ms = 0.875 * e.srtt_ms + 0.125 * r;
        }
        e.samples += 1;
    }

    /// How long the `attempt`-th sending (1 = first) of a JSON call waits for its answer to start
    /// and between its chunks.
    pub fn patience(&self, attempt: u32) -> Duration {
        let base = {
            let e = self.estimate.lock().unwrap_or_else(|p| p.into_inner());
            if e.samples == 0 {
                INITIAL_PATIENCE
            } else {
                Duration::from_secs_f64(PATIENCE_FACTOR * (e.srtt_ms + 4.0 * e.rttvar_ms) / 1000.0)
                    .max(READ_PATIENCE_FLOOR)
            }
        };
        let doubled = base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
        doubled.min(self.ceiling)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patience_follows_observed_latency_within_floor_and_ceiling() {
        let pace = Pace::new(Duration::from_secs(30));
        assert_eq!(pace.patience(1), INITIAL_PATIENCE, "before any answer the initial patience applies");
        for _ in 0..50 {
            pace.observe(Duration::from_millis(30));
        }
        assert_eq!(pace.patience(1), READ_PATIENCE_FLOOR, "a 30 ms portal gets the floor, not the 30 s stall limit");
        for _ in 0..50 {
            pace.observe(Duration::from_millis(2_000));
        }
        let slow = pace.patience(1);
        assert!(
            slow >= Duration::from_secs(4) && slow <= Duration::from_secs(30),
            "a portal answering in 2 s gets more than that: {slow:?}"
        );
        assert_eq!(pace.patience(2), (slow * 2).min(Duration::from_secs(30)), "a repeat doubles the patience");
        assert_eq!(pace.patience(10), Duration::from_secs(30), "patience never exceeds the stall limit");
    }

    #[test]
    fn a_small_stall_limit_caps_everything() {
        let pace = Pace::new(Duration::from_millis(400));
        assert_eq!(pace.patience(1), Duration::from_millis(400), "the configured stall limit is the ceiling");
    }
}
