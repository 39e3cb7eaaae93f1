//! Secrets (passwords, tokens, refresh tokens) that must never be printed.

use std::fmt;

/// A secret string. `Debug` and `Display` print `***`, so a secret inside any struct, error or
/// log line stays hidden; the only way to read it is [`Secret::expose`], used where the value
/// is put on the wire.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret value.
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }

    /// The secret value, for putting it into a request or a vault. Never log it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Whether the secret is the empty string.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Secret(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Secret(value.to_string())
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Source of the current time in epoch milliseconds. Token expiry depends on it, so tests inject
/// a clock they can move.
pub trait Clock: Send + Sync + 'static {
    /// Milliseconds since the Unix epoch.
    fn now_ms(&self) -> i64;
}

/// The system clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now_ms(&self) -> i64 {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_redacted_in_debug_and_display() {
        let s = Secret::new("hunter2-token");
        assert_eq!(format!("{s:?}"), "***", "Debug must not reveal a secret");
        assert_eq!(format!("{s}"), "***", "Display must not reveal a secret");
        #[derive(Debug)]
        #[allow(dead_code)]
        struct Holder {
            password: Secret,
        }
        let shown = format!("{:?}", Holder { password: s.clone() });
        assert!(!shown.contains("hunter2"), "a struct holding a secret must not reveal it: {shown}");
        assert_eq!(s.expose(), "hunter2-token", "expose is the one way to read the value");
    }
}
