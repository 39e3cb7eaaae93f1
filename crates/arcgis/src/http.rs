//! The one place requests are built and sent.
//!
//! Everything that touches the wire goes through [`Transport::send_once`]: it decides, from the
//! URL's scheme+host+port alone, whether the request goes to one of the organization's own hosts.
//! Only then does it carry the token, the `Referer` and the configured custom headers; any other
//! host (a basemap, a foreign service named in item data) gets a bare request. Around it sit the
//! retry loop, the org-wide concurrency limiter, the request counter, timeouts, stall detection
//! and the check for ArcGIS error bodies on HTTP 200.

use std::collections::HashSet;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use futures::Stream;
use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use serde_json::Value;
use url::{Origin, Url};

use crate::auth::TokenPick;
use crate::error::{Error, Result};
use crate::limiter::{Limiter, Permit};
use crate::retry::{Attempts, RetryPolicy, Sleeper, TokioSleeper};
use crate::secret::Secret;
use crate::secret::SystemClock;

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
}

impl Call {
    pub fn get(url: Url, params: Vec<(String, String)>) -> Self {
        Call { method: Method::Get, url, params, files: Vec::new(), idempotent: true }
    }
    pub fn post(url: Url, params: Vec<(String, String)>, idempotent: bool) -> Self {
        Call { method: Method::Post, url, params, files: Vec::new(), idempotent }
    }
    pub fn multipart(url: Url, params: Vec<(String, String)>, files: Vec<FilePart>, idempotent: bool) -> Self {
        Call { method: Method::Post, url, params, files, idempotent }
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

fn parse_retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
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
            401 | 403 => Error::Forbidden { message: format!("{} answered HTTP {status}", display_url(url)) },
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

/// The HTTP layer toward one organization: client, limiter, counters, the org host list.
pub(crate) struct Transport {
    client: reqwest::Client,
    settings: HttpSettings,
    custom_headers: HeaderMap,
    limiter: Arc<Limiter>,
    /// Downloads' own limiter once `set_download_limit` was called; until then downloads share
    /// `limiter`. A download holds its permit until its body has ended, like a curl transfer slot.
    downloads: OnceLock<Arc<Limiter>>,
    requests: AtomicU64,
    org_origins: RwLock<HashSet<Origin>>,
}

impl std::fmt::Debug for Transport {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Custom headers may hold gateway keys: only their names are shown.
        f.debug_struct("Transport")
            .field("custom_headers", &self.custom_headers.keys().collect::<Vec<_>>())
            .field("requests", &self.requests.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Successes in a row after which the limiter grows by one.
const LIMITER_INCREASE_AFTER: usize = 20;

impl Transport {
    pub fn new(settings: HttpSettings, portal_url: &Url) -> Result<Self> {
        let client = build_client(&settings.tls, settings.connect_timeout)?;
        let mut custom_headers = HeaderMap::new();
        for (name, value) in &settings.custom_headers {
            let n = HeaderName::from_bytes(name.trim().as_bytes())
                .map_err(|_| Error::Config { message: format!("{name:?} is not a valid HTTP header name") })?;
            let mut v = HeaderValue::from_str(value.trim()).map_err(|_| Error::Config {
                message: format!("the value of header {name} is not a valid HTTP header value"),
            })?;
            v.set_sensitive(true);
            custom_headers.append(n, v);
        }
        let limiter = Limiter::new(settings.initial_concurrency, settings.max_concurrency, LIMITER_INCREASE_AFTER);
        let mut origins = HashSet::new();
        origins.insert(portal_url.origin());
        Ok(Transport {
            client,
            settings,
            custom_headers,
            limiter,
            downloads: OnceLock::new(),
            requests: AtomicU64::new(0),
            org_origins: RwLock::new(origins),
        })
    }

    pub fn limiter(&self) -> &Arc<Limiter> {
        &self.limiter
    }

    /// Gives downloads (streamed GETs) their own limit of `max` at once, apart from the API
    /// calls'. Only the first call takes effect; returns whether this one did.
    pub fn set_download_limit(&self, max: usize) -> bool {
        let max = max.max(1);
        self.downloads.set(Limiter::new(max.div_ceil(2), max, LIMITER_INCREASE_AFTER)).is_ok()
    }

    /// The limiter downloads go through.
    pub fn download_limiter(&self) -> &Arc<Limiter> {
        self.downloads.get().unwrap_or(&self.limiter)
    }

    pub fn requests_made(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }

    /// Adds an org host (from `portals/<id>/urls`): the token may go there from now on.
    pub fn add_org_origin(&self, origin: Origin) {
        if origin.is_tuple() {
            self.org_origins.write().unwrap_or_else(|p| p.into_inner()).insert(origin);
        }
    }

    /// Whether the URL is on one of the org's own hosts (scheme, host and port all equal).
    pub fn is_org(&self, url: &Url) -> bool {
        self.org_origins.read().unwrap_or_else(|p| p.into_inner()).contains(&url.origin())
    }

    /// Sends the request once, following redirects by hand. THE place where requests are built:
    /// token, referer and custom headers are attached only when the URL (of each hop) is on an
    /// org host. Redirects are not left to reqwest because it would forward our custom token
    /// header to wherever a redirect points (ArcGIS sends item downloads to storage hosts). A
    /// 307/308 of a POST is followed only within the same origin.
    async fn send_once(&self, call: &Call, token: Option<&Secret>) -> Result<reqwest::Response> {
        let mut url = call.url.clone();
        let mut method = call.method;
        // A GET's parameters are in its query; after a redirect the Location holds the whole URL.
        let mut params: &[(String, String)] = &call.params;
        let mut files: &[FilePart] = &call.files;
        for _ in 0..=MAX_REDIRECTS {
            let resp = self.send_to(&url, method, params, files, token).await?;
            let status = resp.status().as_u16();
            if !matches!(status, 301 | 302 | 303 | 307 | 308) {
                return Ok(resp);
            }
            let Some(location) = resp.headers().get(reqwest::header::LOCATION).and_then(|v| v.to_str().ok()) else {
                return Ok(resp);
            };
            let next = url.join(location).map_err(|_| Error::Decode {
                url: display_url(&url),
                detail: "it redirected to an invalid address".into(),
            })?;
            let keeps_method = matches!(status, 307 | 308) && method == Method::Post;
            // A 307/308 would resend the form, and a POST's form carries a password, a refresh
            // token, a PKCE verifier or the org's data: it goes again only to the same origin
            // (scheme, host, port), never to another host nor from https to http.
            if keeps_method && next.origin() != url.origin() {
                return Err(Error::Decode {
                    url: display_url(&url),
                    detail: format!(
                        "it redirected a form to {}; OrgVault does not resend a form to another host or over plain http",
                        display_url(&next)
                    ),
                });
            }
            if !keeps_method {
                method = Method::Get;
                params = &[];
                files = &[];
            }
            tracing::trace!(from = %display_url(&url), to = %display_url(&next), status, "redirect");
            url = next;
        }
        Err(Error::Decode { url: display_url(&call.url), detail: format!("more than {MAX_REDIRECTS} redirects") })
    }

    async fn send_to(
        &self,
        url: &Url,
        method: Method,
        params: &[(String, String)],
        files: &[FilePart],
        token: Option<&Secret>,
    ) -> Result<reqwest::Response> {
        let org = self.is_org(url);
        let mut req = match method {
            Method::Get => self.client.get(url.clone()).query(params),
            Method::Post if files.is_empty() => self.client.post(url.clone()).form(params),
            Method::Post => self.client.post(url.clone()).multipart(multipart_form(params, files)?),
        };
        if org {
            req = req.headers(self.custom_headers.clone());
            if let Ok(v) = HeaderValue::from_str(&self.settings.referer) {
                req = req.header(reqwest::header::REFERER, v);
            }
            if let Some(token) = token {
                let mut v = HeaderValue::from_str(&format!("Bearer {}", token.expose())).map_err(|_| {
                    Error::SignIn { message: "the portal issued a token that cannot be sent in a header".into() }
                })?;
                v.set_sensitive(true);
                req = req.header("X-Esri-Authorization", v);
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        tracing::trace!(url = %display_url(url), org, "request");
        req.send().await.map_err(|e| classify_transport(e, url))
    }

    /// Reads a whole JSON answer (or error body) of at most `max_json_answer` bytes, failing
    /// when it stops flowing for the stall timeout. A larger answer fails as `TooLarge` as soon
    /// as its `Content-Length` or the bytes read so far show it, without reading the rest.
    async fn read_body(&self, mut resp: reqwest::Response, url: &Url) -> Result<Bytes> {
        let limit = self.settings.max_json_answer;
        let too_large = || Error::TooLarge { url: display_url(url), kind: "JSON", limit };
        if resp.content_length().is_some_and(|n| n > limit) {
            return Err(too_large());
        }
        let mut buf = BytesMut::new();
        loop {
            match tokio::time::timeout(self.settings.stall_timeout, resp.chunk()).await {
                Err(_) => return Err(stalled(url, self.settings.stall_timeout)),
                Ok(Err(e)) => return Err(classify_transport(e, url)),
                Ok(Ok(None)) => return Ok(buf.freeze()),
                Ok(Ok(Some(chunk))) => {
                    if (buf.len() + chunk.len()) as u64 > limit {
                        return Err(too_large());
                    }
                    buf.extend_from_slice(&chunk)
                }
            }
        }
    }

    async fn json_once(&self, call: &Call, token: Option<&Secret>) -> Result<Value> {
        let work = async {
            let resp = self.send_once(call, token).await?;
            let status = resp.status().as_u16();
            let retry_after = parse_retry_after(resp.headers());
            let body = self.read_body(resp, &call.url).await?;
            interpret_json(status, retry_after, &body, &call.url)
        };
        match tokio::time::timeout(self.settings.request_timeout, work).await {
            Ok(r) => r,
            Err(_) => Err(Error::Timeout {
                url: display_url(&call.url),
                what: format!("no complete answer within {} s", self.settings.request_timeout.as_secs()),
            }),
        }
    }

    /// Sends with retries and returns the decoded JSON (checked for an ArcGIS error body).
    /// `token` is picked after the slot wait, once per attempt (see [`TokenPick`]).
    pub async fn json(&self, call: &Call, token: Option<&TokenPick<'_>>) -> Result<Value> {
        self.with_retries(call, &self.limiter, |c, permit| async move {
            let token = token.map(TokenPick::pick);
            let answer = self.json_once(c, token.as_ref()).await;
            drop(permit);
            answer
        })
        .await
    }

    /// `permit` (the download slot) travels with the body and is returned when it ends.
    async fn stream_once(&self, call: &Call, token: Option<&Secret>, permit: Option<Permit>) -> Result<ByteStream> {
        let stall = self.settings.stall_timeout;
        let resp = match tokio::time::timeout(self.settings.request_timeout, self.send_once(call, token)).await {
            Ok(r) => r?,
            Err(_) => {
                return Err(Error::Timeout {
                    url: display_url(&call.url),
                    what: format!("no answer within {} s", self.settings.request_timeout.as_secs()),
                })
            }
        };
        let status = resp.status().as_u16();
        let retry_after = parse_retry_after(resp.headers());
        if !(200..300).contains(&status) {
            // An error page larger than a JSON answer is not read: its status says enough.
            let body = match self.read_body(resp, &call.url).await {
                Err(Error::TooLarge { .. }) => Bytes::new(),
                other => other?,
            };
            interpret_json(status, retry_after, &body, &call.url)?;
            return Err(Error::Http { status, url: display_url(&call.url) });
        }
        let mut resp = resp;
        // An ArcGIS error arrives as HTTP 200 with a small JSON body; look at the start of the
        // body before handing it out as data.
        let mut head = BytesMut::new();
        let mut ended = false;
        while head.len() < PEEK_LIMIT {
            match tokio::time::timeout(stall, resp.chunk()).await {
                Err(_) => return Err(stalled(&call.url, stall)),
                Ok(Err(e)) => return Err(classify_transport(e, &call.url)),
                Ok(Ok(None)) => {
                    ended = true;
                    break;
                }
                Ok(Ok(Some(chunk))) => {
                    head.extend_from_slice(&chunk);
                    if !looks_like_error_body(&head) {
                        break;
                    }
                }
            }
        }
        if looks_like_error_body(&head) {
            if let Ok(v) = serde_json::from_slice::<Value>(&head) {
                if let Some(err) = v.get("error").filter(|e| e.is_object()) {
                    return Err(Error::from_error_body(err));
                }
            }
        }
        let url = call.url.clone();
        let first = if head.is_empty() { None } else { Some(head.freeze()) };
        // The permit lives in the stream's state: dropped with the stream, whether it ran to its
        // end, failed or was abandoned.
        let state = (Some(resp), first, ended, url, permit);
        let stream = futures::stream::unfold(state, move |(resp, first, ended, url, permit)| async move {
            if let Some(chunk) = first {
                return Some((Ok(chunk), (resp, None, ended, url, permit)));
            }
            if ended {
                return None;
            }
            let mut resp = resp?;
            match tokio::time::timeout(stall, resp.chunk()).await {
                Err(_) => Some((Err(stalled(&url, stall)), (None, None, true, url, None))),
                Ok(Err(e)) => {
                    let err = classify_transport(e, &url);
                    Some((Err(err), (None, None, true, url, None)))
                }
                Ok(Ok(None)) => None,
                Ok(Ok(Some(chunk))) => Some((Ok(chunk), (Some(resp), None, false, url, permit))),
            }
        });
        Ok(Box::pin(stream))
    }

    /// Sends with retries and returns the body as a stream once the answer has started.
    pub async fn stream(&self, call: &Call, token: Option<&TokenPick<'_>>) -> Result<ByteStream> {
        self.with_retries(call, self.download_limiter(), |c, permit| async move {
            let token = token.map(TokenPick::pick);
            self.stream_once(c, token.as_ref(), permit).await
        })
        .await
    }

    /// Sends `call` through `once` until it succeeds or fails for good. `once` gets the
    /// limiter's permit (org hosts only) and decides how long to hold it.
    async fn with_retries<'a, T, F, Fut>(&'a self, call: &'a Call, limiter: &Arc<Limiter>, mut once: F) -> Result<T>
    where
        F: FnMut(&'a Call, Option<Permit>) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + 'a,
    {
        let org = self.is_org(&call.url);
        let mut attempts = Attempts::new(&self.settings.retry, &SystemClock);
        loop {
            let permit = if org { Some(limiter.acquire().await) } else { None };
            let result = once(call, permit).await;
            let err = match result {
                Ok(v) => {
                    if org {
                        limiter.on_success();
                    }
                    return Ok(v);
                }
                Err(e) => e,
            };
            if org && matches!(err, Error::RateLimited { .. }) {
                // The portal throttles the org as a whole: API calls and downloads both slow down.
                self.limiter.on_throttled();
                if let Some(d) = self.downloads.get() {
                    d.on_throttled();
                }
            }
            // A refused or throttled request was not carried out, so even a non-idempotent
            // POST may be sent again.
            let repeatable = call.idempotent || matches!(err, Error::RateLimited { .. } | Error::Connect { .. });
            if !(repeatable && err.is_retryable()) {
                return Err(err);
            }
            match attempts.after_failure(err.retry_after()) {
                Some(delay) => {
                    tracing::warn!(url = %display_url(&call.url), attempt = attempts.failed(), delay_ms = delay.as_millis() as u64, error = %err, "request failed; retrying");
                    TokioSleeper.sleep(delay).await;
                }
                None => return Err(err),
            }
        }
    }
}

/// A multipart body from text fields and file parts (rebuilt per attempt; `Bytes` clones are cheap).
fn multipart_form(params: &[(String, String)], files: &[FilePart]) -> Result<reqwest::multipart::Form> {
    let mut form = reqwest::multipart::Form::new();
    for (k, v) in params {
        form = form.text(k.clone(), v.clone());
    }
    for f in files {
        let body = reqwest::Body::from(f.bytes.clone());
        let part = reqwest::multipart::Part::stream_with_length(body, f.bytes.len() as u64)
            .file_name(f.file_name.clone())
            .mime_str(&f.content_type)
            .map_err(|_| Error::Config { message: format!("{:?} is not a valid content type", f.content_type) })?;
        form = form.part(f.field.clone(), part);
    }
    Ok(form)
}

/// Redirect hops followed for one request.
const MAX_REDIRECTS: usize = 5;

/// The most of a body's start that is buffered to look for an error body.
const PEEK_LIMIT: usize = 64 * 1024;

fn looks_like_error_body(head: &[u8]) -> bool {
    let trimmed: Vec<u8> = head.iter().copied().filter(|b| !b.is_ascii_whitespace()).take(9).collect();
    let probe = b"{\"error\"";
    let n = trimmed.len().min(probe.len());
    n > 0 && trimmed[..n] == probe[..n]
}

fn stalled(url: &Url, after: Duration) -> Error {
    Error::Timeout { url: display_url(url), what: format!("the answer stopped arriving for {} s", after.as_secs_f32()) }
}

#[cfg(test)]
mod tests {
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
    fn error_body_prefix_detection() {
        assert!(looks_like_error_body(b" { \"err"), "a partial prefix may still be an error body");
        assert!(looks_like_error_body(b"{\"error\":{}}"));
        assert!(!looks_like_error_body(b"{\"operationalLayers\":[]}"), "a web map is data");
        assert!(!looks_like_error_body(b"%PDF-1.7"), "a PDF is data");
    }
}
