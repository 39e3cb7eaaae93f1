//! The transport toward one organization: the client, the org's own hosts and the allowed
//! foreign ones, the limiters, and the one function that puts a request on the wire
//! (`send_once`, with its redirect checks) inside the retry loop (`with_retries`).

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};

use reqwest::header::{HeaderMap, HeaderName, HeaderValue};
use url::{Origin, Url};

use super::pace::Pace;
use super::{build_client, classify_transport, display_url, Call, FilePart, HttpSettings, Method};
use crate::allowed_host::AllowedHost;
use crate::error::{Error, Result};
use crate::limiter::{Limiter, Permit};
use crate::retry::{Attempts, Sleeper, TokioSleeper};
use crate::secret::{Secret, SystemClock};

/// The HTTP layer toward one organization: client, limiter, counters, the org host list.
pub(crate) struct Transport {
    pub(super) client: reqwest::Client,
    pub(super) settings: HttpSettings,
    pub(super) custom_headers: HeaderMap,
    pub(super) limiter: Arc<Limiter>,
    /// Downloads' own limiter once `set_download_limit` was called; until then downloads share
    /// `limiter`. A download holds its permit until its body has ended, like a curl transfer slot.
    pub(super) downloads: OnceLock<Arc<Limiter>>,
    pub(super) requests: AtomicU64,
    /// Second copies of reads sent because the first was slow (`body.rs`, `json_hedged`).
    pub(super) hedges: AtomicU64,
    /// The latency estimate behind a JSON answer's no-progress limit.
    pub(super) pace: Pace,
    pub(super) org_origins: RwLock<HashSet<Origin>>,
    /// Foreign hosts whose item URLs may be read (without the token), see `allowed_host`.
    allowed_hosts: RwLock<Vec<AllowedHost>>,
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
        let pace = Pace::new(settings.stall_timeout);
        let mut origins = HashSet::new();
        origins.insert(portal_url.origin());
        Ok(Transport {
            client,
            settings,
            custom_headers,
            limiter,
            downloads: OnceLock::new(),
            requests: AtomicU64::new(0),
            hedges: AtomicU64::new(0),
            pace,
            org_origins: RwLock::new(origins),
            allowed_hosts: RwLock::default(),
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

    /// Hedged reads sent so far (each also counts in `requests_made`).
    pub fn hedges_sent(&self) -> u64 {
        self.hedges.load(Ordering::Relaxed)
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

    /// Lets item URLs on `host` be read, without the token. Adding a host twice is harmless.
    pub fn allow_host(&self, host: AllowedHost) {
        let mut hosts = self.allowed_hosts.write().unwrap_or_else(|p| p.into_inner());
        if !hosts.contains(&host) {
            hosts.push(host);
        }
    }

    /// Whether a URL found in an item may be read: on an org host or an allowed one.
    /// `Err` is [`Error::HostNotAllowed`], naming the URL's origin.
    pub fn check_item_url(&self, url: &Url) -> Result<()> {
        let allowed = || self.allowed_hosts.read().unwrap_or_else(|p| p.into_inner()).iter().any(|h| h.matches(url));
        if self.is_org(url) || allowed() {
            Ok(())
        } else {
            Err(Error::HostNotAllowed { origin: url.origin().ascii_serialization() })
        }
    }

    /// Sends the request once, following redirects by hand. THE place where requests are built:
    /// token, referer and custom headers are attached only when the URL (of each hop) is on an
    /// org host. Redirects are not left to reqwest because it would forward our custom token
    /// header to wherever a redirect points (ArcGIS sends item downloads to storage hosts). A
    /// 307/308 of a POST is followed only within the same origin. For an item URL
    /// (`Call::item_url`) every hop is checked like the URL itself, before it is contacted: an
    /// allowed foreign host must not lead the client to a host the user did not allow.
    pub(super) async fn send_once(&self, call: &Call, token: Option<&Secret>) -> Result<reqwest::Response> {
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
            if call.item_url {
                self.check_item_url(&next)?;
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
        // The token of a POST travels in its form body, as arcgis-rest-js and Esri's Python
        // client send it: Esri documents the `X-Esri-Authorization` header for GET, and its
        // support on POST (admin and portaladmin endpoints, older Enterprise) is not established.
        // A GET carries it in the header. Never in a URL's query.
        let token = token.filter(|_| org);
        let with_token: Vec<(String, String)>;
        let form = match (method, token) {
            (Method::Post, Some(t)) => {
                with_token = params
                    .iter()
                    .filter(|(k, _)| k != "token")
                    .cloned()
                    .chain(std::iter::once(("token".to_string(), t.expose().to_string())))
                    .collect();
                &with_token[..]
            }
            _ => params,
        };
        let mut req = match method {
            Method::Get => self.client.get(url.clone()).query(params),
            Method::Post if files.is_empty() => self.client.post(url.clone()).form(form),
            Method::Post => self.client.post(url.clone()).multipart(multipart_form(form, files)?),
        };
        if org {
            req = req.headers(self.custom_headers.clone());
            if let Ok(v) = HeaderValue::from_str(&self.settings.referer) {
                req = req.header(reqwest::header::REFERER, v);
            }
            if let (Method::Get, Some(token)) = (method, token) {
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

    /// Sends `call` through `once` until it succeeds or fails for good. `once` gets the
    /// limiter's permit (org hosts only, sign-ins excepted), decides how long to hold it, and
    /// is told which sending this is (1 = the first).
    pub(super) async fn with_retries<'a, T, F, Fut>(
        &'a self,
        call: &'a Call,
        limiter: &Arc<Limiter>,
        mut once: F,
    ) -> Result<T>
    where
        F: FnMut(&'a Call, Option<Permit>, u32) -> Fut,
        Fut: std::future::Future<Output = Result<T>> + 'a,
    {
        let org = self.is_org(&call.url);
        // A sign-in does not queue for a slot: the requests holding them may wait for its token.
        let limited = org && !call.sign_in;
        let mut attempts = Attempts::new(&self.settings.retry, &SystemClock);
        loop {
            let permit = if limited { Some(limiter.acquire().await) } else { None };
            let result = once(call, permit, attempts.failed() + 1).await;
            let err = match result {
                Ok(v) => {
                    if limited {
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
