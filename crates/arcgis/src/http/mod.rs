//! The one place requests are built and sent.
//!
//! Everything that touches the wire goes through `Transport::send_once` (`transport.rs`): it
//! decides, from the URL's scheme+host+port alone, whether the request goes to one of the
//! organization's own hosts. Only then does it carry the token, the `Referer` and the configured
//! custom headers; any other host (a basemap, a foreign service named in item data) gets a bare
//! request. It follows redirects by hand, checking every hop: a form is resent only to the same
//! origin, and a request for an item URL (`Call::item_url`) follows a hop only to an org host or
//! an allowed one. Around it sit the retry loop, the org-wide concurrency limiter and the request
//! counter (`transport.rs`); reading answers, with their size cap, timeouts, stall detection and
//! the check for ArcGIS error bodies on HTTP 200, is in `body.rs`. This file holds the types a
//! request is made of, the client's TLS set-up, and how statuses and transport failures become
//! the crate's errors.

use std::pin::Pin;
use std::time::Duration;

use bytes::Bytes;
use futures::Stream;
use reqwest::header::HeaderMap;
use serde_json::Value;
use url::Url;

use crate::error::{Error, Result};
use crate::retry::RetryPolicy;

/// A streamed download. Each chunk is checked for stalls; a broken or stalled body ends the
/// stream with a retryable error.
pub type ByteStream = Pin<Box<dyn Stream<Item = Result<Bytes>> + Send>>;

/// How server certificates are checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsOptions {
    /// PEM certificate(s) of a private CA to trust in addition to the system's.
    pub extra_ca_pem: Option<String>,
    /// Accept any certificate. For lab setups only; it defeats TLS.
    pub accept_invalid_certs: bool,
}

/// Knobs of the HTTP layer, taken from `PortalConfig`.
#[derive(Debug, Clone)]
pub(crate) struct HttpSettings {
    pub tls: TlsOptions,
    pub custom_headers: Vec<(String, String)>,
    pub retry: RetryPolicy,
    pub initial_concurrency: usize,
    pub max_concurrency: usize,
    pub connect_timeout: Duration,
    pub request_timeout: Duration,
    pub stall_timeout: Duration,
    /// Longest wait for the answer of a write (`Call::wait == Wait::Write`).
    pub write_timeout: Duration,
    /// The largest JSON answer (or error body) read into memory, in bytes.
    pub max_json_answer: u64,
    pub referer: String,
}

/// GET or POST (form-encoded), the only two ArcGIS needs for reading and writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
}

/// How long a call may wait for its answer, by what it asks of the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wait {
    /// A small JSON answer: a short no-progress limit adaptive to the latency observed
    /// (`pace::Pace`), doubled on each repeat, and `request_timeout` for the whole answer.
    Read,
    /// A write the server may take minutes over (a large `applyEdits`, `addToDefinition`,
    /// `createService`, `publish`): `write_timeout` for the answer, so a slow answer is not
    /// taken for a lost one.
    Write,
}

/// A file sent as one part of a `multipart/form-data` POST (uploads: `addItem`, `addResources`,
/// `updateinfo`, `addAttachment`). `Bytes` makes a resend after a refusal cheap.
#[derive(Clone)]
pub struct FilePart {
    /// The form field, e.g. `file`, `thumbnail`, `attachment`.
    pub field: String,
    pub file_name: String,
    pub content_type: String,
    pub bytes: Bytes,
}

impl std::fmt::Debug for FilePart {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilePart")
            .field("field", &self.field)
            .field("file_name", &self.file_name)
            .field("len", &self.bytes.len())
            .finish()
    }
}

/// One logical request, possibly sent several times.
#[derive(Debug, Clone)]
pub(crate) struct Call {
    pub method: Method,
    pub url: Url,
    pub params: Vec<(String, String)>,
    /// File parts; a POST with any is sent as `multipart/form-data`, else form-encoded.
    pub files: Vec<FilePart>,
    /// Safe to send again after a failure. GETs always are; POSTs only when the caller says so.
    pub idempotent: bool,
    /// The URL came from an item (any member can edit it): every redirect hop must be on an org
    /// host or an allowed one, like the URL itself (`Portal::check_item_url`).
    pub item_url: bool,
    pub wait: Wait,
    /// A sign-in call (`generateToken`, `oauth2/token`): it does not queue for the org's request
    /// slots, because requests holding slots may be waiting for the token it brings.
    pub sign_in: bool,
}

impl Call {
    pub fn get(url: Url, params: Vec<(String, String)>) -> Self {
        Call {
            method: Method::Get,
            url,
            params,
            files: Vec::new(),
            idempotent: true,
            item_url: false,
            wait: Wait::Read,
            sign_in: false,
        }
    }
    /// A form POST, waited for as a write.
    pub fn post(url: Url, params: Vec<(String, String)>, idempotent: bool) -> Self {
        Call { method: Method::Post, files: Vec::new(), idempotent, wait: Wait::Write, ..Call::get(url, params) }
    }
    pub fn multipart(url: Url, params: Vec<(String, String)>, files: Vec<FilePart>, idempotent: bool) -> Self {
        Call { files, ..Call::post(url, params, idempotent) }
    }
    /// A sign-in POST: a small answer (waited for as a read) that needs no request slot.
    pub fn sign_in(url: Url, params: Vec<(String, String)>, idempotent: bool) -> Self {
        Call { wait: Wait::Read, sign_in: true, ..Call::post(url, params, idempotent) }
    }
    /// A GET of a URL found in an item: its redirects are followed only to org or allowed hosts.
    pub fn item_url(url: Url, params: Vec<(String, String)>) -> Self {
        Call { item_url: true, ..Call::get(url, params) }
    }
}

/// Installs the ring crypto provider for rustls once per process; a second install attempt (by
/// us or another crate) fails harmlessly.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// Builds the reqwest client with the TLS options.
pub(crate) fn build_client(tls: &TlsOptions, connect_timeout: Duration) -> Result<reqwest::Client> {
    install_crypto_provider();
    let mut builder = reqwest::Client::builder()
        .connect_timeout(connect_timeout)
        // Redirects are followed in `Transport::send_once`, where each hop is checked for the token.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("OrgVault/", env!("CARGO_PKG_VERSION")));
    if let Some(pem) = &tls.extra_ca_pem {
        let certs = reqwest::Certificate::from_pem_bundle(pem.as_bytes()).map_err(|e| Error::Config {
            message: format!("the trusted CA certificate is not valid PEM ({})", root_cause(&e)),
        })?;
        if certs.is_empty() {
            return Err(Error::Config { message: "the trusted CA certificate file holds no certificate".into() });
        }
        builder = builder.tls_certs_merge(certs);
    }
    if tls.accept_invalid_certs {
        builder = builder.tls_danger_accept_invalid_certs(true);
    }
    builder.build().map_err(|e| Error::Config { message: format!("cannot set up HTTPS ({})", root_cause(&e)) })
}

/// `scheme://host:port/path` without the query, for messages.
pub(crate) fn display_url(url: &Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let _ = u.set_password(None);
    let _ = u.set_username("");
    u.to_string()
}

/// `host:port` of a URL, for messages.
pub(crate) fn display_host(url: &Url) -> String {
    match (url.host_str(), url.port_or_known_default()) {
        (Some(h), Some(p)) => format!("{h}:{p}"),
        (Some(h), None) => h.to_string(),
        _ => url.to_string(),
    }
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut last = e.to_string();
    let mut cur = e.source();
    while let Some(s) = cur {
        last = s.to_string();
        cur = s.source();
    }
    last
}

fn is_certificate_problem(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = cur {
        if let Some(r) = s.downcast_ref::<rustls::Error>() {
            if matches!(r, rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented) {
                return true;
            }
        }
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            if let Some(inner) = io.get_ref() {
                if is_certificate_problem(inner) {
                    return true;
                }
            }
        }
        let text = s.to_string().to_ascii_lowercase();
        if text.contains("certificate") || text.contains("unknownissuer") {
            return true;
        }
        cur = s.source();
    }
    false
}

/// Maps a transport failure onto the crate's error, naming the host and never the query.
pub(crate) fn classify_transport(e: reqwest::Error, url: &Url) -> Error {
    let e = e.without_url();
    let host = display_host(url);
    if is_certificate_problem(&e) {
        return Error::Tls { host, detail: root_cause(&e) };
    }
    if e.is_timeout() {
        return Error::Timeout { url: display_url(url), what: "no answer within the time limit".into() };
    }
    if e.is_connect() {
        return Error::Connect { host, detail: root_cause(&e) };
    }
    Error::ConnectionLost { host, detail: root_cause(&e) }
}

pub(super) fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    retry_after_at(v, std::time::SystemTime::now())
}

/// `Retry-After` as seconds or as an HTTP date (RFC 9110 §10.2.3: both forms are allowed, and
/// gateways in front of ArcGIS Enterprise send the date), as a wait from `now`; a date in the
/// past is no wait.
fn retry_after_at(value: &str, now: std::time::SystemTime) -> Option<Duration> {
    let v = value.trim();
    if let Ok(secs) = v.parse::<u64>() {
        return Some(Duration::from_secs(secs));
    }
    let at = http_date(v)?;
    Some(at.duration_since(now).unwrap_or(Duration::ZERO))
}

/// An IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), the form RFC 9110 requires senders to use.
fn http_date(v: &str) -> Option<std::time::SystemTime> {
    let (_, rest) = v.split_once(", ")?;
    let parts: Vec<&str> = rest.split_whitespace().collect();
    let [day, month, year, time, "GMT"] = parts.as_slice() else { return None };
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let month = MONTHS.iter().position(|m| m == month)? as i64 + 1;
    let (day, year): (i64, i64) = (day.parse().ok()?, year.parse().ok()?);
    let hms: Vec<i64> = time.split(':').map(|p| p.parse().ok()).collect::<Option<_>>()?;
    let [h, m, s] = hms.as_slice() else { return None };
    if !(1..=31).contains(&day) || *h > 23 || *m > 59 || *s > 60 {
        return None;
    }
    // Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + h * 3600 + m * 60 + s;
    Some(std::time::UNIX_EPOCH + Duration::from_secs(u64::try_from(secs).ok()?))
}

/// Interprets a complete answer: HTTP status, ArcGIS error body, then JSON.
pub(crate) fn interpret_json(status: u16, retry_after: Option<Duration>, body: &[u8], url: &Url) -> Result<Value> {
    let parsed: Option<Value> =
        if body.iter().all(u8::is_ascii_whitespace) { None } else { serde_json::from_slice(body).ok() };
    if status == 429 {
        return Err(Error::RateLimited { retry_after });
    }
    if let Some(err) = parsed.as_ref().and_then(|v| v.get("error")).filter(|e| e.is_object()) {
        return Err(match Error::from_error_body(err) {
            Error::RateLimited { .. } => Error::RateLimited { retry_after },
            other => other,
        });
    }
    if !(200..300).contains(&status) {
        return Err(match status {
            // HTTP 401 is an authentication challenge (web-tier authentication on ArcGIS
            // Enterprise, an expired session): sign in again, not "forbidden".
            401 => Error::InvalidToken,
            403 => Error::Forbidden { message: format!("{} answered HTTP {status}", display_url(url)) },
            404 => Error::NotFound { what: display_url(url) },
            _ => Error::Http { status, url: display_url(url) },
        });
    }
    match parsed {
        Some(v) => Ok(v),
        None if body.iter().all(u8::is_ascii_whitespace) => Ok(Value::Null),
        None => {
            let start: String = String::from_utf8_lossy(&body[..body.len().min(40)])
                .chars()
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            Err(Error::Decode {
                url: display_url(url),
                detail: format!("the answer is not JSON (it starts with {start:?})"),
            })
        }
    }
}

mod body;
mod pace;
mod transport;

pub(crate) use transport::Transport;

#[cfg(test)]
mod tests {
    use super::body::looks_like_error_body;
    use super::*;

    fn url() -> Url {
        Url::parse("http://127.0.0.1:9/sharing/rest/x?token=abc").expect("url")
    }

    #[test]
    fn error_body_on_http_200_is_detected() {
        let body = br#"{"error":{"code":400,"messageCode":"CONT_0001","message":"Item does not exist or is inaccessible: x","details":[]}}"#;
        let got = interpret_json(200, None, body, &url());
        assert!(
            matches!(got, Err(Error::NotFound { .. })),
            "an error body on HTTP 200 must become an error, got {got:?}"
        );
        let ok = interpret_json(200, None, br#"{"total":1}"#, &url()).expect("plain JSON decodes");
        assert_eq!(ok["total"], 1);
    }

    #[test]
    fn non_json_and_statuses_are_classified_without_query() {
        let got = interpret_json(200, None, b"<html>hello</html>", &url()).expect_err("HTML is not JSON");
        assert!(matches!(got, Error::Decode { .. }), "HTML must be a Decode error: {got:?}");
        assert!(!got.to_string().contains("token=abc"), "messages must not carry the query string: {got}");
        let throttled = interpret_json(429, Some(Duration::from_secs(3)), b"", &url()).expect_err("429");
        assert!(
            matches!(throttled, Error::RateLimited { retry_after: Some(d) } if d == Duration::from_secs(3)),
            "429 must carry Retry-After: {throttled:?}"
        );
        let bad = interpret_json(502, None, b"bad gateway", &url()).expect_err("502");
        assert!(bad.is_retryable(), "502 must be retryable");
    }

    #[test]
    fn http_401_asks_for_a_new_sign_in_not_forbidden() {
        let got = interpret_json(401, None, b"Unauthorized", &url()).expect_err("401");
        assert!(matches!(got, Error::InvalidToken), "401 renews the token or reports sign-in: {got:?}");
        let got = interpret_json(403, None, b"no", &url()).expect_err("403");
        assert!(matches!(got, Error::Forbidden { .. }), "403 stays forbidden: {got:?}");
    }

    #[test]
    fn retry_after_is_read_as_seconds_or_as_an_http_date() {
        let now = std::time::UNIX_EPOCH + Duration::from_secs(784_111_777); // Sun, 06 Nov 1994 08:49:37 GMT
        assert_eq!(retry_after_at("120", now), Some(Duration::from_secs(120)), "delta-seconds");
        assert_eq!(
            retry_after_at("Sun, 06 Nov 1994 08:51:37 GMT", now),
            Some(Duration::from_secs(120)),
            "an HTTP date two minutes ahead is a two-minute wait"
        );
        assert_eq!(retry_after_at("Sun, 06 Nov 1994 08:00:00 GMT", now), Some(Duration::ZERO), "a past date: no wait");
        assert_eq!(http_date("Thu, 01 Jan 1970 00:00:00 GMT"), Some(std::time::UNIX_EPOCH), "the epoch is day zero");
        assert_eq!(
            http_date("Tue, 29 Feb 2028 23:59:59 GMT").and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()),
            Some(Duration::from_secs(1_835_481_599)),
            "a leap day"
        );
        assert_eq!(retry_after_at("soon", now), None, "anything else is no hint");
    }

    #[test]
    fn error_body_prefix_detection() {
        assert!(looks_like_error_body(b" { \"err"), "a partial prefix may still be an error body");
        assert!(looks_like_error_body(b"{\"error\":{}}"));
        assert!(!looks_like_error_body(b"{\"operationalLayers\":[]}"), "a web map is data");
        assert!(!looks_like_error_body(b"%PDF-1.7"), "a PDF is data");
    }
}
