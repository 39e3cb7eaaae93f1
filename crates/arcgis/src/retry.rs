//! When and how long to wait before trying a failed operation again: the one backoff of the
//! client, the backup and the restore.
//!
//! Exponential backoff with full jitter (a random delay between zero and `base * 2^n`, capped
//! by `max_delay`): many clients hitting one throttled org spread out instead of retrying in
//! lockstep. A `Retry-After` from the server is honoured, cut to `max_retry_after`, because
//! ArcGIS's quota cool-off is longer than any backoff we would pick ourselves, yet a portal must
//! not stall a job for hours. Two caps end the trying: the number of attempts and the time since
//! the first one began (a wait that would end past it is not started).
//!
//! Public API:
//! - [`RetryPolicy`]: the numbers (one per caller: the client's default, the backup's body and
//!   subject policies, the restore's options).
//! - [`Attempts`]: the bookkeeping of one operation; [`Attempts::after_failure`] answers the
//!   wait before the next attempt or `None` when a cap is reached. For loops with their own
//!   shape (the client's, which also feeds its concurrency limiter; the restore's send-then-read
//!   back).
//! - [`retry`] with a [`Retry`]: the plain loop over attempts that end in a [`Stop`].
//! - [`Stop`]: how one attempt of a subject ended when it did not succeed (`Failed`, `Transient`
//!   with the server's `Retry-After`, `Cancelled`, `Fatal` for a caller-defined failure that ends
//!   the whole job). What is worth another attempt stays with each caller: it says so by the
//!   `Stop` it returns.
//! - Time is injected: a [`Clock`] for the total-time cap and a [`Sleeper`] for the waits, so
//!   tests run without sleeping.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use rand::Rng;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::secret::Clock;

/// How failed operations are repeated. Tests use tiny delays; production uses the defaults.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RetryPolicy {
    /// First backoff ceiling; doubled each attempt.
    pub base_delay: Duration,
    /// Largest backoff ceiling.
    pub max_delay: Duration,
    /// Total attempts including the first; 1 means no retries.
    pub max_attempts: u32,
    /// Longest `Retry-After` that is honoured; longer ones are cut to this.
    pub max_retry_after: Duration,
    /// Longest time from the start of the first attempt to the start of the last one; a wait
    /// that would end later is not begun.
    pub max_elapsed: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_attempts: 6,
            max_retry_after: Duration::from_secs(120),
            // Five waits of the longest honoured Retry-After.
            max_elapsed: Duration::from_secs(600),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..Default::default() }
    }

    /// `max_attempts` attempts with backoff ceilings from `base_delay` doubling up to `max_delay`;
    /// `Retry-After` and total time capped as by default.
    pub fn attempts(max_attempts: u32, base_delay: Duration, max_delay: Duration) -> Self {
        RetryPolicy { max_attempts, base_delay, max_delay, ..Default::default() }
    }

    /// The ceiling of the backoff after failed attempt number `attempt` (0-based).
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let factor = 1u64.checked_shl(attempt.min(32)).unwrap_or(u64::MAX);
        let base_ms = self.base_delay.as_millis() as u64;
        let ceiling_ms = base_ms.saturating_mul(factor).min(self.max_delay.as_millis() as u64);
        Duration::from_millis(ceiling_ms)
    }

    /// A full-jitter backoff for failed attempt `attempt` (0-based): uniform in `[0, ceiling]`.
    pub fn backoff(&self, attempt: u32) -> Duration {
        let ceiling = self.ceiling(attempt).as_millis() as u64;
        if ceiling == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(rand::thread_rng().gen_range(0..=ceiling))
    }

    /// The wait after failed attempt `attempt` (0-based) when the server asked for
    /// `retry_after`: the jittered backoff, but never shorter than the server's wish, and neither
    /// longer than `max_retry_after`. Says nothing about the caps (see [`Attempts`]).
    pub fn delay(&self, attempt: u32, retry_after: Option<Duration>) -> Duration {
        let backoff = self.backoff(attempt);
        match retry_after {
            Some(after) => after.min(self.max_retry_after).max(backoff.min(self.max_retry_after)),
            None => backoff,
        }
    }

    /// How long to wait before repeating a request after `error` on attempt `attempt`
    /// (0-based), or `None` when the error is permanent or the attempts are used up. The
    /// client's rule; it does not know the total time (see [`Attempts`]).
    pub fn delay_after(&self, error: &Error, attempt: u32) -> Option<Duration> {
        if !error.is_retryable() || attempt + 1 >= self.max_attempts {
            return None;
        }
        Some(self.delay(attempt, error.retry_after()))
    }
}

/// The attempts of one operation under a policy: how many failed, and since when it runs.
pub struct Attempts<'a> {
    policy: &'a RetryPolicy,
    clock: &'a dyn Clock,
    started_ms: i64,
    failed: u32,
}

impl<'a> Attempts<'a> {
    /// Starts counting; the first attempt begins now.
    pub fn new(policy: &'a RetryPolicy, clock: &'a dyn Clock) -> Self {
        Attempts { policy, clock, started_ms: clock.now_ms(), failed: 0 }
    }

    /// Attempts that failed so far.
    pub fn failed(&self) -> u32 {
        self.failed
    }

    /// Records a failed attempt that may pass (the server asked to wait `retry_after`) and
    /// answers the wait before the next one, or `None` when the attempt cap is reached or the
    /// wait would end past the total-time cap.
    pub fn after_failure(&mut self, retry_after: Option<Duration>) -> Option<Duration> {
        let attempt = self.failed;
        self.failed += 1;
        if self.failed >= self.policy.max_attempts.max(1) {
            return None;
        }
        let delay = self.policy.delay(attempt, retry_after);
        let elapsed_ms = self.clock.now_ms().saturating_sub(self.started_ms).max(0) as u128;
        if elapsed_ms + delay.as_millis() > self.policy.max_elapsed.as_millis() {
            return None;
        }
        Some(delay)
    }
}

/// How one attempt ended when it did not succeed. `F` is a failure that ends the caller's whole
/// job, not just this subject (the backup's repository failing); none by default.
#[derive(Debug)]
pub enum Stop<F = Infallible> {
    /// Failed for good; another attempt would fail alike.
    Failed(String),
    /// May pass (throttling, 5xx, a lost connection, a token revoked again); `wait` is the
    /// server's `Retry-After`, when it sent one.
    Transient { reason: String, wait: Option<Duration> },
    /// The job was cancelled.
    Cancelled,
    /// The caller's job cannot go on.
    Fatal(F),
}

impl<F> Stop<F> {
    /// A failure that may pass, with no wait asked for.
    pub fn transient(reason: impl Into<String>) -> Self {
        Stop::Transient { reason: reason.into(), wait: None }
    }

    /// A portal error met while doing `what`: transient when the client says a retry can help,
    /// or when a token was refused even after the client renewed it (revoked again meanwhile; a
    /// later attempt signs in afresh), with the server's `Retry-After`; else failed.
    pub fn portal(what: &str, e: Error) -> Self {
        let reason = format!("{what}: {e}");
        if e.is_retryable() || matches!(e, Error::InvalidToken | Error::TokenRequired) {
            Stop::Transient { reason, wait: e.retry_after() }
        } else {
            Stop::Failed(reason)
        }
    }

    /// A transient stop left when the attempts ran out, as a failure naming them; any other
    /// stop unchanged.
    pub fn gave_up(self, attempts: u32) -> Self {
        match self {
            Stop::Transient { reason, .. } => Stop::Failed(format!("{reason} (gave up after {attempts} attempts)")),
            other => other,
        }
    }
}

/// Waits. The tokio timer in production; tests pass one that only records and moves a clock.
pub trait Sleeper: Send + Sync {
    fn sleep(&self, delay: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>>;
}

/// The real wait.
#[derive(Debug, Default, Clone, Copy)]
pub struct TokioSleeper;

impl Sleeper for TokioSleeper {
    fn sleep(&self, delay: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        Box::pin(tokio::time::sleep(delay))
    }
}

/// Everything [`retry`] needs besides the operation.
pub struct Retry<'a> {
    pub policy: &'a RetryPolicy,
    pub clock: &'a dyn Clock,
    pub sleeper: &'a dyn Sleeper,
    /// Interrupts a wait (the loop then ends [`Stop::Cancelled`]).
    pub cancel: Option<&'a CancellationToken>,
}

impl Retry<'_> {
    /// Waits `delay` unless cancelled first.
    pub async fn pause(&self, delay: Duration) -> Result<(), ()> {
        match self.cancel {
            Some(cancel) => tokio::select! {
                biased;
                _ = cancel.cancelled() => Err(()),
                _ = self.sleeper.sleep(delay) => Ok(()),
            },
            None => {
                self.sleeper.sleep(delay).await;
                Ok(())
            }
        }
    }
}

/// Runs `attempt` (given the 0-based attempt number) until it succeeds, stops for good, or
/// stops transiently once too often or too late; the last transient stop is then returned as
/// is (see [`Stop::gave_up`]). `what` names the operation in the log.
pub async fn retry<T, F, Fut, X>(r: &Retry<'_>, what: &str, mut attempt: F) -> Result<T, Stop<X>>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, Stop<X>>>,
{
    let mut attempts = Attempts::new(r.policy, r.clock);
    loop {
        let n = attempts.failed();
        let (reason, wait) = match attempt(n).await {
            Err(Stop::Transient { reason, wait }) => (reason, wait),
            other => return other,
        };
        let Some(delay) = attempts.after_failure(wait) else {
            return Err(Stop::Transient { reason, wait });
        };
        tracing::info!(subject = what, attempt = n + 1, delay_ms = delay.as_millis() as u64, "trying again: {reason}");
        if r.pause(delay).await.is_err() {
            return Err(Stop::Cancelled);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::Mutex;

    use super::*;

    /// A clock that moves only when the sleeper sleeps, and the waits it was asked for.
    #[derive(Default)]
    struct FakeTime {
        now: AtomicI64,
        slept: Mutex<Vec<Duration>>,
    }

    impl Clock for FakeTime {
        fn now_ms(&self) -> i64 {
            self.now.load(Ordering::SeqCst)
        }
    }

    impl Sleeper for FakeTime {
        fn sleep(&self, delay: Duration) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
            self.now.fetch_add(delay.as_millis() as i64, Ordering::SeqCst);
            self.slept.lock().unwrap().push(delay);
            Box::pin(std::future::ready(()))
        }
    }

    #[test]
    fn backoff_stays_within_bounds() {
        let p = RetryPolicy::default();
        for attempt in 0..40 {
            let ceiling = p.ceiling(attempt);
            assert!(ceiling <= p.max_delay, "ceiling {ceiling:?} for attempt {attempt} must respect the cap");
            for _ in 0..50 {
                let d = p.backoff(attempt);
                assert!(d <= ceiling, "jittered delay {d:?} must not exceed its ceiling {ceiling:?}");
            }
        }
        assert_eq!(p.ceiling(0), Duration::from_millis(200), "the first ceiling is the base delay");
        assert_eq!(p.ceiling(3), Duration::from_millis(1600), "ceilings double per attempt");
        assert_eq!(p.ceiling(10), Duration::from_secs(10), "ceilings stop at the cap");
    }

    #[test]
    fn jitter_spreads_delays_over_the_whole_range() {
        let p = RetryPolicy::attempts(6, Duration::from_millis(1000), Duration::from_secs(10));
        let draws: Vec<Duration> = (0..400).map(|_| p.backoff(0)).collect();
        let low = draws.iter().filter(|d| **d < Duration::from_millis(250)).count();
        let high = draws.iter().filter(|d| **d > Duration::from_millis(750)).count();
        assert!(low > 20 && high > 20, "full jitter must reach both ends of [0, ceiling]: {low} low, {high} high");
    }

    #[test]
    fn retry_after_is_honoured_and_permanent_errors_are_not_retried() {
        let p = RetryPolicy::default();
        let throttled = Error::RateLimited { retry_after: Some(Duration::from_secs(30)) };
        let d = p.delay_after(&throttled, 0).expect("429 is retryable");
        assert!(d >= Duration::from_secs(30), "Retry-After of 30 s must be waited at least, got {d:?}");
        let huge = Error::RateLimited { retry_after: Some(Duration::from_secs(3600)) };
        assert_eq!(p.delay_after(&huge, 0), Some(p.max_retry_after), "an hour-long Retry-After is cut to the maximum");
        let forbidden = Error::Forbidden { message: "no".into() };
        assert_eq!(p.delay_after(&forbidden, 0), None, "403 must not be retried");
        let busy = Error::Http { status: 503, url: "x".into() };
        assert!(p.delay_after(&busy, 4).is_some(), "attempt 5 of 6 may still retry");
        assert_eq!(p.delay_after(&busy, 5), None, "after the sixth attempt there is no seventh");
    }

    #[test]
    fn a_short_retry_after_never_shortens_the_backoff_beyond_its_draw() {
        let p = RetryPolicy::attempts(6, Duration::from_secs(4), Duration::from_secs(4));
        for _ in 0..100 {
            let d = p.delay(0, Some(Duration::from_millis(10)));
            assert!(d >= Duration::from_millis(10), "the server's wait is a floor, got {d:?}");
            assert!(d <= Duration::from_secs(4), "a short Retry-After does not lift the backoff ceiling, got {d:?}");
        }
    }

    #[tokio::test]
    async fn the_loop_waits_out_retry_after_capped_then_gives_up_at_the_attempt_cap() {
        let time = FakeTime::default();
        let policy = RetryPolicy {
            max_retry_after: Duration::from_secs(5),
            ..RetryPolicy::attempts(3, Duration::from_millis(1), Duration::from_millis(1))
        };
        let r = Retry { policy: &policy, clock: &time, sleeper: &time, cancel: None };
        let calls = AtomicI64::new(0);
        let out: Result<(), Stop> = retry(&r, "test", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(Stop::Transient { reason: "throttled".into(), wait: Some(Duration::from_secs(3600)) }) }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 3, "three attempts and no fourth");
        assert_eq!(
            *time.slept.lock().unwrap(),
            vec![Duration::from_secs(5), Duration::from_secs(5)],
            "an hour-long Retry-After is waited only up to the cap, between attempts only"
        );
        match out.map_err(|s| s.gave_up(3)) {
            Err(Stop::Failed(reason)) => assert!(reason.contains("gave up after 3 attempts"), "{reason}"),
            other => panic!("a transient failure past the cap must end as a failure, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn the_loop_stops_at_the_total_time_cap() {
        let time = FakeTime::default();
        let policy = RetryPolicy {
            max_elapsed: Duration::from_secs(10),
            ..RetryPolicy::attempts(100, Duration::from_millis(1), Duration::from_millis(1))
        };
        let r = Retry { policy: &policy, clock: &time, sleeper: &time, cancel: None };
        let calls = AtomicI64::new(0);
        let out: Result<(), Stop> = retry(&r, "test", |_| {
            calls.fetch_add(1, Ordering::SeqCst);
            async { Err(Stop::Transient { reason: "busy".into(), wait: Some(Duration::from_secs(3)) }) }
        })
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 4, "waits of 3 s fit three times in 10 s, then the time is up");
        assert!(time.now_ms() <= 10_000, "no wait may run past the total-time cap");
        assert!(matches!(out, Err(Stop::Transient { .. })), "the last transient stop is returned as is");
    }

    #[tokio::test]
    async fn permanent_stops_and_success_end_the_loop_at_once() {
        let time = FakeTime::default();
        let policy = RetryPolicy::attempts(5, Duration::from_millis(1), Duration::from_millis(1));
        let r = Retry { policy: &policy, clock: &time, sleeper: &time, cancel: None };
        let out: Result<(), Stop> = retry(&r, "test", |_| async { Err(Stop::Failed("403".into())) }).await;
        assert!(matches!(out, Err(Stop::Failed(_))), "a failure for good is not tried again");
        let ok: Result<u32, Stop> = retry(&r, "test", |n| async move {
            if n < 2 {
                Err(Stop::transient("dropped"))
            } else {
                Ok(n)
            }
        })
        .await;
        assert_eq!(ok.ok(), Some(2), "the third attempt's success is the answer");
        assert!(time.slept.lock().unwrap().len() == 2, "one wait per failed attempt");
    }

    #[tokio::test]
    async fn a_cancel_interrupts_the_wait() {
        let policy = RetryPolicy::attempts(5, Duration::from_secs(60), Duration::from_secs(60));
        let cancel = CancellationToken::new();
        cancel.cancel();
        let r = Retry { policy: &policy, clock: &crate::SystemClock, sleeper: &TokioSleeper, cancel: Some(&cancel) };
        let out: Result<(), Stop> = retry(&r, "test", |_| async { Err(Stop::transient("busy")) }).await;
        assert!(matches!(out, Err(Stop::Cancelled)), "a cancelled job does not sit out its backoff");
    }

    #[test]
    fn portal_errors_carry_their_retry_after() {
        let s: Stop = Stop::portal("reading", Error::RateLimited { retry_after: Some(Duration::from_secs(7)) });
        assert!(matches!(s, Stop::Transient { wait: Some(w), .. } if w == Duration::from_secs(7)));
        let s: Stop = Stop::portal("reading", Error::InvalidToken);
        assert!(matches!(s, Stop::Transient { wait: None, .. }), "a token revoked again may pass");
        let s: Stop = Stop::portal("reading", Error::Forbidden { message: "no".into() });
        assert!(matches!(s, Stop::Failed(_)), "403 is for good");
    }
}
