//! When and how long to wait before repeating a failed request.
//!
//! Exponential backoff with full jitter (a random delay between zero and `base * 2^attempt`,
//! capped): many clients hitting one throttled org spread out instead of retrying in lockstep.
//! A `Retry-After` from the server is honoured (up to `max_retry_after`) because ArcGIS's quota
//! cool-off is longer than any backoff we would pick ourselves.

use std::time::Duration;

use rand::Rng;

use crate::error::Error;

/// How failed requests are repeated. Tests use tiny delays; production uses the defaults.
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
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            max_attempts: 6,
            max_retry_after: Duration::from_secs(120),
        }
    }
}

impl RetryPolicy {
    /// A policy that never retries.
    pub fn none() -> Self {
        RetryPolicy { max_attempts: 1, ..Default::default() }
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

    /// How long to wait before repeating after `error` on attempt `attempt` (0-based), or `None`
    /// when the error is permanent or the attempts are used up.
    pub fn delay_after(&self, error: &Error, attempt: u32) -> Option<Duration> {
        if !error.is_retryable() || attempt + 1 >= self.max_attempts {
            return None;
        }
        let backoff = self.backoff(attempt);
        match error {
            Error::RateLimited { retry_after: Some(after) } => {
                Some((*after).min(self.max_retry_after).max(backoff.min(self.max_retry_after)))
            }
            _ => Some(backoff),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
