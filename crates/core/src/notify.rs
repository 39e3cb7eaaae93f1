//! System notifications, behind a trait so each host brings its own: the desktop app raises
//! them through its notification plugin, the headless service through the desktop session's
//! notification daemon where one exists, tests record them. The engine only says what to show.

/// Shows a short message to the person at the machine. Must not block for long and must not
/// fail loudly: a notification that cannot be shown is skipped (the host may log it).
pub trait Notifier: Send + Sync {
    fn notify(&self, title: &str, body: &str);
}

/// A notifier that shows nothing (no desktop session, or a caller that does not want them).
pub struct NoNotifier;

impl Notifier for NoNotifier {
    fn notify(&self, _title: &str, _body: &str) {}
}
