//! The system browser for OAuth sign-ins. The flow itself (loopback listener, PKCE, code
//! exchange) is the core's [`orgvault_core::service::sign_in_in_browser`]; the shell only says
//! how to open a URL. The browser is injectable ([`Browser`]) so that tests drive the flow with
//! a plain HTTP client instead of launching one.

use std::sync::Arc;
use std::time::Duration;

use arcgis::Url;
pub use orgvault_core::service::Browser;

/// How long "Save and verify" waits for the user to approve OrgVault in the browser.
pub const APPROVAL_WAIT: Duration = Duration::from_secs(300);

/// The user's default browser.
pub fn system() -> Browser {
    Arc::new(|url: &Url| open::that_detached(url.as_str()).map_err(|e| e.to_string()))
}
