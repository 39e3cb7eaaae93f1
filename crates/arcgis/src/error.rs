//! Errors of the ArcGIS client.
//!
//! Policy:
//! - One enum, [`Error`], for the whole crate. Each variant is something a caller can act on:
//!   sign in again, ask for a different account, trust a certificate, try later, skip an item.
//!   ArcGIS's many failure shapes (HTTP statuses, `{"error":{...}}` bodies on HTTP 200, transport
//!   faults) are mapped onto these variants in one place, [`Error::from_error_body`] and
//!   `http::classify_transport`.
//! - Every error knows whether repeating the same request may succeed ([`Error::is_retryable`]):
//!   throttling, server hiccups, timeouts and lost connections are; permissions, missing items,
//!   bad input and undecodable answers are not.
//! - Messages are one line, in words an administrator understands, and name what is wrong (the
//!   host, the item, the missing privilege). They never contain a token, password, refresh token
//!   or a URL query string, because query strings may carry OAuth codes and error messages end up
//!   in logs and support bundles.

use std::time::Duration;

use serde_json::Value;

/// Everything that can go wrong talking to a portal or a hosted service.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An HTTP status that has no more specific meaning (5xx, unexpected 4xx).
    #[error("{url} answered HTTP {status}")]
    Http { status: u16, url: String },

    /// An ArcGIS error body (`{"error":{...}}`) that has no more specific meaning.
    #[error("the portal refused the request (code {code}): {message}{}", fmt_details(.details))]
    Api { code: i64, message: String, message_code: Option<String>, details: Vec<String> },

    /// The portal rejected the access token (code 498) even after signing in again.
    #[error("the portal rejected the sign-in token (expired or revoked) even after signing in again")]
    InvalidToken,

    /// The portal wanted a token (code 499) that was not accepted or not sent.
    #[error("the portal requires signing in for this request (token required)")]
    TokenRequired,

    /// The signed-in account lacks permission (HTTP or code 403).
    #[error("permission denied: {message}")]
    Forbidden { message: String },

    /// The item, user, group or resource does not exist or is not visible (`CONT_0001`, 404).
    #[error("not found: {what}")]
    NotFound { what: String },

    /// The organization's request quota was hit (429).
    #[error("the portal is throttling requests (HTTP 429){}", fmt_retry_after(.retry_after))]
    RateLimited { retry_after: Option<Duration> },

    /// No answer in time, or an answer whose body stopped flowing.
    #[error("{url} did not answer in time ({what})")]
    Timeout { url: String, what: String },

    /// The host could not be reached at all.
    #[error("cannot reach {host}: {detail}")]
    Connect { host: String, detail: String },

    /// The connection broke while a request or its answer was in flight.
    #[error("the connection to {host} was lost during the request: {detail}")]
    ConnectionLost { host: String, detail: String },

    /// The URL answers, but not like an ArcGIS portal.
    #[error("{url} is not an ArcGIS portal: {detail}")]
    NotAPortal { url: String, detail: String },

    /// The server's TLS certificate was refused.
    #[error("the TLS certificate of {host} was refused ({detail}); if the portal uses a private certificate authority, add its CA certificate (PEM) to the trusted certificates in the connection settings")]
    Tls { host: String, detail: String },

    /// Built-in sign-in failed: wrong username or password, or a disabled account.
    #[error("sign-in failed: {message}")]
    SignIn { message: String },

    /// The signed-in user is not allowed to back up the organization.
    #[error("{}", fmt_not_admin(.username, .role, .missing))]
    NotAdmin { username: String, role: String, missing: Vec<String> },

    /// The OAuth authorization could not be completed.
    #[error("OAuth sign-in failed: {message}")]
    OAuth { message: String },

    /// An answer that could not be understood.
    #[error("unexpected answer from {url}: {detail}")]
    Decode { url: String, detail: String },

    /// An answer larger than the client reads for its kind: JSON answers are read whole into
    /// memory (`PortalConfig::max_json_answer_bytes`); downloads are capped by their reader
    /// (`download::capped`: item files, exports). Permanent: the same request would get the same
    /// answer. `url` is the URL, or what the download is when its reader names it.
    #[error("the answer from {url} is larger than the limit of {} for {kind} answers", fmt_bytes(*.limit))]
    TooLarge { url: String, kind: &'static str, limit: u64 },

    /// A search that cannot be split below the 10,000-result cap.
    #[error("a search of {total} results within one millisecond of creation time cannot be split below the 10,000-result cap ({query})")]
    SearchTooLarge { query: String, total: u64 },

    /// A URL found in an item is on a host that is neither the org's own nor allowed by the
    /// user; it was not requested.
    #[error("{origin} is not a host of the organization and was not allowed (allow it with --allow-host), so it was not contacted")]
    HostNotAllowed { origin: String },

    /// The connection settings themselves are unusable (bad URL, header, certificate file).
    /// A file to send could not be read (from the repository, a stream), or was not the size
    /// announced. Permanent: sending it again reads the same source.
    #[error("reading {what} to send it failed: {detail}")]
    Source { what: String, detail: String },

    #[error("invalid connection settings: {message}")]
    Config { message: String },
}

fn fmt_details(details: &[String]) -> String {
    let details: Vec<&str> = details.iter().map(|d| d.trim()).filter(|d| !d.is_empty()).collect();
    if details.is_empty() {
        String::new()
    } else {
        format!(" ({})", details.join("; ").replace(['\n', '\r'], " "))
    }
}

/// `64 MiB`, `1 KiB`, or plain bytes when not a whole number of KiB.
fn fmt_bytes(n: u64) -> String {
    if n >= 1 << 30 && n % (1 << 30) == 0 {
        format!("{} GiB", n >> 30)
    } else if n >= 1 << 20 && n % (1 << 20) == 0 {
        format!("{} MiB", n >> 20)
    } else if n >= 1 << 10 && n % (1 << 10) == 0 {
        format!("{} KiB", n >> 10)
    } else {
        format!("{n} bytes")
    }
}

fn fmt_retry_after(retry_after: &Option<Duration>) -> String {
    match retry_after {
        Some(d) => format!("; asked to wait {} s", d.as_secs()),
        None => String::new(),
    }
}

fn fmt_not_admin(username: &str, role: &str, missing: &[String]) -> String {
    let list = missing.join(", ");
    if role != "org_admin" {
        format!("{username} is not an administrator of the organization (role {role}); missing privileges: {list}")
    } else {
        format!("{username} has an administrator role that lacks the privileges: {list}")
    }
}

impl Error {
    /// Whether repeating the same request later may succeed.
    ///
    /// Token errors are not retryable here: the token layer renews once and repeats the request
    /// itself; an `InvalidToken` that reaches a caller has already survived that.
    pub fn is_retryable(&self) -> bool {
        match self {
            Error::Http { status, .. } => matches!(status, 408 | 429 | 500 | 502 | 503 | 504),
            Error::Api { code, .. } => matches!(code, 429 | 500 | 502 | 503 | 504),
            Error::RateLimited { .. } | Error::Timeout { .. } | Error::ConnectionLost { .. } => true,
            Error::Connect { .. } => true,
            _ => false,
        }
    }

    /// How long the server asked to wait before the next request (a 429's `Retry-After`).
    pub fn retry_after(&self) -> Option<std::time::Duration> {
        match self {
            Error::RateLimited { retry_after } => *retry_after,
            _ => None,
        }
    }

    /// A 400 whose message says that what it names does not exist ("User not found: 'x'", "Group
    /// does not exist or is inaccessible."), as portals answer for a missing user or group, read
    /// as `NotFound`. Only for calls that name one thing (a user, a group): elsewhere such a
    /// message may mean something else (a sign-in refused).
    pub fn missing_as_not_found(self) -> Error {
        match self {
            Error::Api { code: 400, message, details, .. }
                if {
                    let m = message.to_ascii_lowercase();
                    m.contains("not found") || m.contains("does not exist")
                } =>
            {
                Error::NotFound { what: format!("{message}{}", fmt_details(&details)) }
            }
            other => other,
        }
    }

    /// Maps the `error` object of an ArcGIS answer onto a variant.
    pub fn from_error_body(error: &Value) -> Error {
        let code = error.get("code").and_then(|c| c.as_i64().or_else(|| c.as_str()?.parse().ok()));
        let code = code.unwrap_or(500);
        let message = error.get("message").and_then(Value::as_str).unwrap_or("").trim().to_string();
        let message_code = error.get("messageCode").and_then(Value::as_str).map(str::to_string);
        let details: Vec<String> = match error.get("details") {
            Some(Value::Array(a)) => {
                a.iter().map(|d| d.as_str().map(str::to_string).unwrap_or_else(|| d.to_string())).collect()
            }
            Some(Value::String(s)) => vec![s.clone()],
            _ => Vec::new(),
        };
        let with_details = || format!("{message}{}", fmt_details(&details));
        match code {
            498 => Error::InvalidToken,
            499 => Error::TokenRequired,
            403 => Error::Forbidden { message: with_details() },
            404 => Error::NotFound { what: with_details() },
            400 if message_code.as_deref() == Some("CONT_0001") => Error::NotFound { what: with_details() },
            429 => Error::RateLimited { retry_after: None },
            _ => Error::Api { code, message, message_code, details },
        }
    }
}

/// The crate's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn error_bodies_map_to_actionable_variants() {
        let missing = Error::from_error_body(
            &json!({"code":400,"messageCode":"CONT_0001","message":"Item does not exist or is inaccessible: abc","details":[]}),
        );
        assert!(matches!(missing, Error::NotFound { .. }), "CONT_0001 must read as NotFound, got {missing:?}");
        assert!(!missing.is_retryable(), "a missing item must not be retried");
        let no_user =
            Error::from_error_body(&json!({"code":400,"message":"User not found: 'ana_contoso'","details":[]}))
                .missing_as_not_found();
        assert!(matches!(no_user, Error::NotFound { .. }), "a missing user reads as NotFound, got {no_user:?}");
        let no_group = Error::from_error_body(
            &json!({"code":400,"message":"Group does not exist or is inaccessible.","details":[]}),
        )
        .missing_as_not_found();
        assert!(matches!(no_group, Error::NotFound { .. }), "a missing group reads as NotFound, got {no_group:?}");
        let plain_user = Error::from_error_body(&json!({"code":400,"message":"User not found: 'ana_contoso'"}));
        assert!(
            matches!(plain_user, Error::Api { code: 400, .. }),
            "only calls naming one thing map it, got {plain_user:?}"
        );
        let refused = Error::from_error_body(&json!({"code":400,"message":"Unable to add item.","details":[]}))
            .missing_as_not_found();
        assert!(matches!(refused, Error::Api { code: 400, .. }), "other 400s stay refusals, got {refused:?}");
        assert!(matches!(Error::from_error_body(&json!({"code":498,"message":"Invalid token."})), Error::InvalidToken));
        assert!(matches!(
            Error::from_error_body(&json!({"code":"499","message":"Token Required"})),
            Error::TokenRequired
        ));
        let forbidden =
            Error::from_error_body(&json!({"code":403,"message":"You do not have permissions","details":["item x"]}));
        assert_eq!(forbidden.to_string(), "permission denied: You do not have permissions (item x)");
        assert!(!forbidden.is_retryable(), "403 is permanent");
        let busy = Error::from_error_body(&json!({"code":504,"message":"Gateway timeout"}));
        assert!(busy.is_retryable(), "a 504 in an error body is a server hiccup worth retrying");
    }

    #[test]
    fn messages_are_one_line() {
        let e = Error::from_error_body(&json!({"code":400,"message":"Bad","details":["line1\nline2"]}));
        assert!(!e.to_string().contains('\n'), "error messages must stay on one line: {e}");
        let tls = Error::Tls { host: "portal.example.com".into(), detail: "unknown issuer".into() };
        let msg = tls.to_string();
        assert!(
            msg.contains("certificate") && msg.contains("refused") && msg.contains("CA certificate"),
            "a TLS refusal must say the certificate was refused and how to fix it: {msg}"
        );
        let na = Error::NotAdmin {
            username: "ann".into(),
            role: "org_user".into(),
            missing: vec!["portal:admin:viewItems".into()],
        };
        assert!(
            na.to_string().contains("not an administrator") && na.to_string().contains("portal:admin:viewItems"),
            "a non-admin refusal must say so and name the missing privilege: {na}"
        );
    }
}
