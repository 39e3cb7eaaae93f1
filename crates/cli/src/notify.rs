//! System notifications from the headless commands (`orgvault service run`, `identity check`):
//! through notify-rust (the session's notification daemon over D-Bus on Linux, the notification
//! centre on macOS, toasts on Windows) when there is a desktop session, skipped quietly on a
//! server without one. A notification that cannot be shown is logged at debug level.

use orgvault_core::notify::Notifier;

/// Shows notifications on the user's desktop, when there is one.
pub struct DesktopNotifier {
    session: bool,
}

impl DesktopNotifier {
    /// A notifier for this process's environment: on Linux and the BSDs only where a desktop
    /// session exists (`DBUS_SESSION_BUS_ADDRESS` set); macOS and Windows always have one.
    pub fn from_env() -> Self {
        let needs_dbus = cfg!(all(unix, not(target_os = "macos")));
        DesktopNotifier {
            session: !needs_dbus || std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some_and(|v| !v.is_empty()),
        }
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
