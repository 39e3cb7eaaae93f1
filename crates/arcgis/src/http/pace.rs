//! How long a small answer may keep the client waiting without a byte: adaptive to the latency
//! observed, so a stalled JSON answer fails fast instead of holding a request slot for the whole
//! stall limit.
//!
//! The estimate follows TCP's retransmission timer (RFC 6298): a smoothed latency `srtt` and its
//! mean deviation `rttvar`, updated from every JSON answer whose headers arrived; the patience is
//! `PATIENCE_FACTOR × (srtt + 4·rttvar)`, never below `READ_PATIENCE_FLOOR` nor above the
//! configured stall limit. Each repeat of the same request doubles it (up to the limit), so a
//! server that is merely slow costs a retry or two, never a failure.
//!
//! The same estimate sets three more waits:
//! - the hedge delay of a JSON read (`hedge_delay`): after one retransmission timeout without a
//!   complete answer, a second copy of an idempotent read is sent and the first answer to arrive
//!   is taken ("hedged requests", Dean and Barroso, "The Tail at Scale", CACM 2013). A stalled
//!   answer then costs about one RTO instead of the whole patience plus a backoff. Hedges are
//!   budgeted (`HEDGE_BUDGET_PERCENT` of the reads) so a slow portal is not sent twice the load.
//! - the body of a write once its answer has begun (`answer_patience`): the server did the work
//!   before it started answering, and the answer is small JSON; a stall there is a dead connection,
//!   not a slow write (the wait for the answer to begin stays `write_timeout`).
//! - the gaps of a download's body (`download_patience`): `DOWNLOAD_PATIENCE_FLOOR` at least,
//!   doubled per repeat, capped by the stall limit, so a stalled download no longer holds its
//!   slot for the whole stall limit.

use std::sync::Mutex;
use std::time::Duration;

/// The shortest patience for a JSON answer (RFC 6298's minimum RTO): below it, scheduling noise
/// on a busy machine would look like a stall.
pub(crate) const READ_PATIENCE_FLOOR: Duration = Duration::from_secs(1);
/// Patience before any answer was observed.
const INITIAL_PATIENCE: Duration = Duration::from_secs(10);
/// How many retransmission timeouts a JSON answer may take before it counts as stalled.
const PATIENCE_FACTOR: f64 = 2.0;
/// The shortest hedge delay: below it a hedge would mostly duplicate answers merely queued.
const HEDGE_FLOOR: Duration = Duration::from_millis(250);
/// Hedges allowed per hundred reads (a token bucket; see `Pace::take_hedge`).
const HEDGE_BUDGET_PERCENT: u64 = 10;
/// Hedges that may be spent at once before any read earned them (the bucket's size).
const HEDGE_BURST: u64 = 20;
/// The shortest no-progress wait inside a download's body: a storage host may pause a few
/// seconds between chunks without having failed.
pub(crate) const DOWNLOAD_PATIENCE_FLOOR: Duration = Duration::from_secs(5);
/// The shortest wait between the chunks of a write's answer once it has begun.
pub(crate) const ANSWER_PATIENCE_FLOOR: Duration = Duration::from_secs(5);

#[derive(Debug, Default)]
struct Estimate {
    srtt_ms: f64,
    rttvar_ms: f64,
    samples: u64,
    /// Hedge tokens, in hundredths: each read adds `HEDGE_BUDGET_PERCENT`, a hedge spends 100.
    hedge_credit: u64,
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

    /// How long a JSON read may go without its whole answer before a second copy is sent: one
    /// retransmission timeout (`srtt + 4·rttvar`), at least `HEDGE_FLOOR`; `None` before any
    /// answer was observed (nothing to judge by).
    pub fn hedge_delay(&self) -> Option<Duration> {
        let e = self.estimate.lock().unwrap_or_else(|p| p.into_inner());
        if e.samples == 0 {
            return None;
        }
        Some(Duration::from_secs_f64((e.srtt_ms + 4.0 * e.rttvar_ms) / 1000.0).max(HEDGE_FLOOR).min(self.ceiling))
    }

    /// Counts a read toward the hedge budget.
    pub fn earn_hedge(&self) {
        let mut e = self.estimate.lock().unwrap_or_else(|p| p.into_inner());
        e.hedge_credit = (e.hedge_credit + HEDGE_BUDGET_PERCENT).min(HEDGE_BURST * 100);
    }

    /// Spends one hedge if the budget allows.
    pub fn take_hedge(&self) -> bool {
        let mut e = self.estimate.lock().unwrap_or_else(|p| p.into_inner());
        if e.hedge_credit >= 100 {
            e.hedge_credit -= 100;
            true
        } else {
            false
        }
    }

    /// The no-progress wait between the chunks of a write's answer once it began.
    pub fn answer_patience(&self, attempt: u32) -> Duration {
        self.patience(attempt).max(ANSWER_PATIENCE_FLOOR).min(self.ceiling)
    }

    /// The no-progress wait inside a download's body on its `attempt`-th sending.
    pub fn download_patience(&self, attempt: u32) -> Duration {
        let base = self.patience(1).max(DOWNLOAD_PATIENCE_FLOOR);
        base.saturating_mul(1u32 << attempt.saturating_sub(1).min(16)).min(self.ceiling)
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
    fn hedges_wait_one_rto_and_are_budgeted() {
        let pace = Pace::new(Duration::from_secs(30));
        assert_eq!(pace.hedge_delay(), None, "no hedge before any answer was seen");
        for _ in 0..50 {
            pace.observe(Duration::from_millis(30));
        }
        assert_eq!(pace.hedge_delay(), Some(HEDGE_FLOOR), "a 30 ms portal hedges at the floor");
        for _ in 0..50 {
            pace.observe(Duration::from_millis(1_000));
        }
        let d = pace.hedge_delay().expect("delay");
        assert!(d >= Duration::from_millis(1_000) && d < pace.patience(1), "one RTO, less than the patience: {d:?}");
        assert!(!pace.take_hedge(), "no hedge before reads earned one");
        for _ in 0..10 {
            pace.earn_hedge();
        }
        assert!(pace.take_hedge(), "ten reads earn one hedge");
        assert!(!pace.take_hedge(), "and only one");
        for _ in 0..10_000 {
            pace.earn_hedge();
        }
        let spent = (0..100).filter(|_| pace.take_hedge()).count();
        assert_eq!(spent as u64, HEDGE_BURST, "the budget saved up is capped");
    }

    #[test]
    fn downloads_and_write_answers_get_a_floor_and_the_ceiling() {
        let pace = Pace::new(Duration::from_secs(30));
        for _ in 0..50 {
            pace.observe(Duration::from_millis(30));
        }
        assert_eq!(pace.download_patience(1), DOWNLOAD_PATIENCE_FLOOR, "a download's gap may last the floor");
        assert_eq!(pace.download_patience(2), DOWNLOAD_PATIENCE_FLOOR * 2, "a repeat doubles it");
        assert_eq!(pace.download_patience(20), Duration::from_secs(30), "never past the stall limit");
        assert_eq!(pace.answer_patience(1), ANSWER_PATIENCE_FLOOR, "a begun write answer waits the floor");
        let tight = Pace::new(Duration::from_secs(2));
        assert_eq!(tight.download_patience(1), Duration::from_secs(2), "a small stall limit still caps");
    }

    #[test]
    fn a_small_stall_limit_caps_everything() {
        let pace = Pace::new(Duration::from_millis(400));
        assert_eq!(pace.patience(1), Duration::from_millis(400), "the configured stall limit is the ceiling");
    }
}
