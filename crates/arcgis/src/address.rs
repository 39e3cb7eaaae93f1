//! Which portal addresses may receive credentials: `https://` anywhere, `http://` only on this
//! machine unless the user accepted plain http for that portal.

use url::Url;

use crate::error::{Error, Result};
use crate::http::display_url;

/// Whether the URL's host is this machine: `localhost`, 127.0.0.0/8 or `::1`.
pub fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
        Some(url::Host::Domain(d)) => d.eq_ignore_ascii_case("localhost"),
        None => false,
    }
}

/// Checks a portal URL before anything is sent to it (or a browser is opened on it): it must be
/// `https://`, or `http://` on this machine, or `http://` elsewhere with `allow_insecure_http`
/// (the password, tokens and header values would travel readable). Fails with `Config`.
pub fn check_portal_url(url: &Url, allow_insecure_http: bool) -> Result<()> {
    match url.scheme() {
        "https" if url.host().is_some() => Ok(()),
        "http" if url.host().is_some() && (is_loopback(url) || allow_insecure_http) => Ok(()),
        "http" if url.host().is_some() => Err(Error::Config {
            message: format!(
                "{} is plain http: the password, tokens and headers would travel readable; use https, or accept plain http explicitly for this portal",
                display_url(url)
            ),
        }),
        "http" | "https" => Err(Error::Config { message: "the portal URL names no host".into() }),
        other => Err(Error::Config { message: format!("a portal URL starts with https://, not {other}:") }),
    }
}
