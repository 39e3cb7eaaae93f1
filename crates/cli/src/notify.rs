//! System notifications from the headless commands (`orgvault service run`, `identity check`):
//! through the desktop session's notification daemon (notify-rust over D-Bus) when there is a
//! session (`DBUS_SESSION_BUS_ADDRESS` is set), skipped quietly on a server without one.

use orgvault_core::notify::Notifier;

/// Shows notifications on the user's desktop, when there is one.
pub struct DesktopNotifier {
    session: bool,
}

impl DesktopNotifier {
    /// A notifier for this process's environment.
    pub fn from_env() -> Self {
        DesktopNotifier { session: std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty()) }
    }
}

impl Notifier for DesktopNotifier {
    fn notify(&self, title: &str, body: &str) {
        if !self.session {
            tracing::debug!("no desktop session: notification skipped");
            return;
        }
        let (title, body) = (title.to_owned(), body.to_owned());
        // D-Bus may be slow to answer; the caller (an async loop) must not wait for it.
        std::thread::spawn(move || {
            if let Err(e) = notify_rust::Notification::new().appname("OrgVault").summary(&title).body(&body).show() {
                tracing::debug!("the system notification could not be shown: {e}");
            }
        });
    }
}
