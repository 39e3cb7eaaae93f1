//! [`Portal`]: a signed-in connection to one organization: its configuration, the sign-in and
//! the checks made on connect, and the requests every other module builds on (`get_json`,
//! `json_at`, `post_form`, `get_stream`, `service_json`). Reading the org's content is in
//! `reads.rs`.

mod reads;

use std::sync::Arc;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;
use url::Url;

pub use crate::address::{check_portal_url, is_loopback};
use crate::auth::{Credentials, Session, TokenSource};
use crate::error::{Error, Result};
use crate::http::{display_url, ByteStream, Call, HttpSettings, TlsOptions, Transport};
use crate::model::PortalSelf;
use crate::retry::RetryPolicy;
use crate::secret::{Clock, SystemClock};

/// The default cap on one JSON answer: 64 MiB. The largest answers ArcGIS sends are pages of
/// 100 items or 2,000 features and service definitions, a few MiB at most.
pub const DEFAULT_MAX_JSON_ANSWER: u64 = 64 * 1024 * 1024;

/// Everything needed to connect to one organization.
#[derive(Clone)]
pub struct PortalConfig {
    /// The portal root, the part before `/sharing/rest` (e.g. `https://acme.maps.arcgis.com/`
    /// or `https://gis.example.com/portal/`). A URL ending in `/sharing/rest` or `/home` is
    /// accepted and trimmed.
    pub portal_url: Url,
    pub credentials: Credentials,
    /// Headers added to every request to the org's own hosts (never to foreign hosts).
    pub custom_headers: Vec<(String, String)>,
    pub tls: TlsOptions,
    /// Accept a plain `http://` portal that is not on this machine: the password, tokens and
    /// custom headers then travel readable. Off by default; loopback portals need no opt-in.
    pub allow_insecure_http: bool,
    pub retry: RetryPolicy,
    /// Concurrent requests to the org at the start (the limiter adapts from there).
    pub initial_concurrency: usize,
    /// Most concurrent requests to the org.
    pub max_concurrency: usize,
    pub connect_timeout: Duration,
    /// Longest time for one request and its whole JSON answer (downloads: until the answer starts).
    pub request_timeout: Duration,
    /// A body that delivers nothing for this long fails as a retryable timeout. For a JSON
    /// answer this is only the ceiling: its no-progress limit adapts to the latency observed
    /// (1 s at least), doubling on each repeat, so a stalled small answer fails fast.
    pub stall_timeout: Duration,
    /// Longest wait for the answer of a write (`applyEdits`, `addToDefinition`, `createService`,
    /// `publish`, `addItem`, ...): large ones take minutes on a real portal, and a slow answer
    /// must not be taken for a lost one (a write is not repeated blindly).
    pub write_timeout: Duration,
    /// The largest JSON answer read, in bytes. JSON answers are read whole before they are
    /// decoded, so a broken or hostile server could otherwise fill the memory; a larger answer
    /// fails as [`Error::TooLarge`] (permanent). Downloads are streamed and not capped here.
    pub max_json_answer_bytes: u64,
    /// Lifetime asked of `generateToken`, in minutes.
    pub token_expiration_minutes: u32,
    /// Concurrent search ranges and pages in `search_org_items`.
    pub search_concurrency: usize,
    /// Time source for token expiry.
    pub clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for PortalConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortalConfig")
            .field("portal_url", &self.portal_url.as_str())
            .field("credentials", &self.credentials)
            .field("custom_headers", &self.custom_headers.iter().map(|(k, _)| (k.as_str(), "***")).collect::<Vec<_>>())
            .field("tls", &self.tls)
            .field("allow_insecure_http", &self.allow_insecure_http)
            .field("retry", &self.retry)
            .field("max_concurrency", &self.max_concurrency)
            .field("request_timeout", &self.request_timeout)
            .finish_non_exhaustive()
    }
}

impl PortalConfig {
    /// A configuration with production defaults: 8 requests at once growing to 16, six attempts
    /// with backoff from 200 ms to 10 s, 10 s to connect, 60 s per request, 30 s stall limit, 15 min for a write's answer,
    /// JSON answers up to [`DEFAULT_MAX_JSON_ANSWER`], two-hour tokens.
    pub fn new(portal_url: Url, credentials: Credentials) -> Self {
        PortalConfig {
            portal_url,
            credentials,
            custom_headers: Vec::new(),
            tls: TlsOptions::default(),
            allow_insecure_http: false,
            retry: RetryPolicy::default(),
            initial_concurrency: 8,
            max_concurrency: 16,
            connect_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(60),
            stall_timeout: Duration::from_secs(30),
            write_timeout: Duration::from_secs(15 * 60),
            max_json_answer_bytes: DEFAULT_MAX_JSON_ANSWER,
            token_expiration_minutes: 120,
            search_concurrency: 4,
            clock: Arc::new(SystemClock),
        }
    }
}

/// Trims `/sharing/rest...` or `/home...` from a portal URL and ends it with a slash.
pub fn normalize_portal_url(url: &Url) -> Url {
    let mut u = url.clone();
    u.set_query(None);
    u.set_fragment(None);
    let path = u.path().to_string();
    let lower = path.to_ascii_lowercase();
    let cut = ["/sharing/rest", "/sharing", "/home"].iter().filter_map(|m| lower.find(m)).min();
    let mut p = match cut {
        Some(i) => path[..i].to_string(),
        None => path,
    };
    if !p.ends_with('/') {
        p.push('/');
    }
    u.set_path(&p);
    u
}

pub(crate) struct PortalInner {
    pub session: Session,
    pub portal_url: Url,
    pub rest_root: Url,
    pub self_info: PortalSelf,
    pub search_concurrency: usize,
    pub clock: Arc<dyn Clock>,
}

/// A signed-in connection to one organization. Cheap to clone; clones share the token, the
/// limiter and the request counter.
#[derive(Clone)]
pub struct Portal {
    pub(crate) inner: Arc<PortalInner>,
}

impl std::fmt::Debug for Portal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Portal")
            .field("portal_url", &self.inner.portal_url.as_str())
            .field("org_id", &self.org_id())
            .finish()
    }
}

fn bad_portal(url: &Url, e: Error) -> Error {
    match e {
        Error::Decode { detail, .. } => Error::NotAPortal { url: display_url(url), detail },
        Error::NotFound { .. } | Error::Http { status: 400..=499, .. } => {
            Error::NotAPortal { url: display_url(url), detail: "it has no ArcGIS REST API at /sharing/rest".into() }
        }
        // A server that speaks ArcGIS JSON but knows no organization at this address.
        Error::Api { code: 400 | 404, message, .. } => Error::NotAPortal { url: display_url(url), detail: message },
        other => other,
    }
}

impl Portal {
    /// Signs in and reads `/info`, `portals/self` and the org's hosting hosts.
    ///
    /// Fails with `NotAPortal` when the URL answers but not like ArcGIS, `Connect`/`Tls` when it
    /// cannot be reached or trusted, `SignIn` when the credentials are refused.
    pub async fn connect(cfg: PortalConfig) -> Result<Portal> {
        check_portal_url(&cfg.portal_url, cfg.allow_insecure_http)?;
        let portal_url = normalize_portal_url(&cfg.portal_url);
        let rest_root =
            portal_url.join("sharing/rest/").map_err(|e| Error::Config { message: format!("bad portal URL ({e})") })?;
        let referer = portal_url.as_str().trim_end_matches('/').to_string();
        let settings = HttpSettings {
            tls: cfg.tls.clone(),
            custom_headers: cfg.custom_headers.clone(),
            retry: cfg.retry.clone(),
            initial_concurrency: cfg.initial_concurrency,
            max_concurrency: cfg.max_concurrency,
            connect_timeout: cfg.connect_timeout,
            request_timeout: cfg.request_timeout,
            stall_timeout: cfg.stall_timeout,
            write_timeout: cfg.write_timeout,
            max_json_answer: cfg.max_json_answer_bytes,
            referer: referer.clone(),
        };
        let transport = Transport::new(settings, &portal_url)?;

        // /info needs no sign-in; it tells a portal from any other web server before a password
        // is sent anywhere.
        let info_url = rest_root.join("info").map_err(|e| Error::Config { message: e.to_string() })?;
        let info = transport.json(&Call::get(info_url.clone(), vec![("f".into(), "json".into())]), None).await;
        let info = info.map_err(|e| bad_portal(&info_url, e))?;
        if !info.is_object() {
            return Err(Error::NotAPortal {
                url: display_url(&info_url),
                detail: "its /info answer is not an ArcGIS JSON object".into(),
            });
        }

        let tokens = TokenSource::new(
            cfg.credentials.clone(),
            rest_root.clone(),
            referer,
            cfg.token_expiration_minutes,
            cfg.clock.clone(),
        );
        let session = Session { transport, tokens: Some(tokens) };

        let self_url = rest_root.join("portals/self").map_err(|e| Error::Config { message: e.to_string() })?;
        let raw = session
            .json(&Call::get(self_url.clone(), vec![("f".into(), "json".into())]))
            .await
            .map_err(|e| bad_portal(&self_url, e))?;
        let self_info: PortalSelf = serde_json::from_value(raw).map_err(|e| Error::NotAPortal {
            url: display_url(&self_url),
            detail: format!("portals/self is not ArcGIS JSON ({e})"),
        })?;
        if self_info.id.is_empty() {
            return Err(Error::NotAPortal {
                url: display_url(&self_url),
                detail: "portals/self names no organization".into(),
            });
        }
        if self_info.user.is_none() {
            return Err(Error::SignIn { message: "the portal did not recognise the signed-in account".into() });
        }

        let inner = PortalInner {
            session,
            portal_url,
            rest_root,
            self_info,
            search_concurrency: cfg.search_concurrency.max(1),
            clock: cfg.clock,
        };
        let portal = Portal { inner: Arc::new(inner) };
        portal.learn_org_hosts().await;
        Ok(portal)
    }

    /// Reads `portals/<id>/urls` (and on Enterprise `portals/self/servers`) and admits those
    /// hosts for the token. A failure only narrows where the token goes, so it is logged, not
    /// returned.
    async fn learn_org_hosts(&self) {
        let url = match self.rest_url(&["portals", self.org_id(), "urls"]) {
            Ok(u) => u,
            Err(_) => return,
        };
        match self.inner.session.json(&Call::get(url, vec![("f".into(), "json".into())])).await {
            Ok(v) => {
                for origin in crate::search::origins_in_urls_answer(&v) {
                    self.admit_org_origin(origin);
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "could not read the organization's hosting servers; tokens go to the portal host only")
            }
        }
        // Enterprise: federated servers (the hosting server among them) accept the portal's token.
        if self.inner.self_info.is_portal {
            let Ok(url) = self.rest_url(&["portals", "self", "servers"]) else { return };
            match self.inner.session.json(&Call::get(url, vec![("f".into(), "json".into())])).await {
                Ok(v) => {
                    let servers = v.get("servers").and_then(Value::as_array).cloned().unwrap_or_default();
                    for server in servers {
                        for key in ["url", "adminUrl"] {
                            if let Some(u) = server.get(key).and_then(Value::as_str).and_then(|u| Url::parse(u).ok()) {
                                self.admit_org_origin(u.origin());
                            }
                        }
                    }
                }
                Err(e) => tracing::warn!(error = %e, "could not read the portal's federated servers"),
            }
        }
    }

    fn admit_org_origin(&self, origin: url::Origin) {
        // Behind HTTPS the token must never travel in clear text, even to an org host that also
        // answers plain HTTP.
        if self.inner.portal_url.scheme() == "https" && origin.ascii_serialization().starts_with("http://") {
            return;
        }
        self.inner.session.transport.add_org_origin(origin);
    }

    /// The org and signed-in user as `portals/self` described them at connect time.
    pub fn self_info(&self) -> &PortalSelf {
        &self.inner.self_info
    }

    /// The organization id.
    pub fn org_id(&self) -> &str {
        &self.inner.self_info.id
    }

    /// The normalized portal root (ends with `/`).
    pub fn portal_url(&self) -> &Url {
        &self.inner.portal_url
    }

    /// The REST root, `<portal>/sharing/rest/`.
    pub fn rest_root(&self) -> &Url {
        &self.inner.rest_root
    }

    /// HTTP requests sent so far (each retry counts), for benchmarks and progress.
    pub fn requests_made(&self) -> u64 {
        self.inner.session.transport.requests_made()
    }

    /// Second copies of slow reads sent so far (hedged requests; each counts in `requests_made`).
    pub fn hedges_sent(&self) -> u64 {
        self.inner.session.transport.hedges_sent()
    }

    /// The limiter's current concurrency limit.
    pub fn concurrency_limit(&self) -> usize {
        self.inner.session.transport.limiter().limit()
    }

    /// How many access tokens were obtained (sign-in included).
    pub fn token_renewals(&self) -> u64 {
        self.inner.session.tokens.as_ref().map(|t| t.renewals()).unwrap_or(0)
    }

    /// When the current access token expires (epoch ms); `None` for an anonymous connection.
    pub fn token_expires_ms(&self) -> Option<i64> {
        self.inner.session.tokens.as_ref().and_then(|t| t.expires_ms())
    }

    /// Whether the token would be sent to this URL (its scheme, host and port are the org's).
    pub fn is_org_url(&self, url: &Url) -> bool {
        self.inner.session.transport.is_org(url)
    }

    /// Checks that the signed-in user may back up the organization: a full administrator
    /// (`org_admin` without a custom `roleId`) always may; anyone else needs every privilege in
    /// `needed`. The error names the missing privileges.
    pub fn require_admin(&self, needed: &[&str]) -> Result<()> {
        require_admin(&self.inner.self_info, needed)
    }

    /// A REST URL from path segments, each percent-encoded (usernames and folder ids may hold
    /// characters that are special in paths).
    pub fn rest_url(&self, segments: &[&str]) -> Result<Url> {
        let mut u = self.inner.rest_root.clone();
        {
            let mut s = u
                .path_segments_mut()
                .map_err(|_| Error::Config { message: "the portal URL cannot hold a path".into() })?;
            s.pop_if_empty();
            s.extend(segments);
        }
        Ok(u)
    }

    /// Resolves `path_or_url`: an absolute `http(s)://` URL is taken as is, anything else is a
    /// path under the REST root.
    pub fn resolve(&self, path_or_url: &str) -> Result<Url> {
        if path_or_url.starts_with("http://") || path_or_url.starts_with("https://") {
            Url::parse(path_or_url).map_err(|e| Error::Config { message: format!("bad URL ({e})") })
        } else {
            self.inner
                .rest_root
                .join(path_or_url.trim_start_matches('/'))
                .map_err(|e| Error::Config { message: format!("bad path ({e})") })
        }
    }

    /// GET returning JSON (checked for an error body). `f=json` is added. The token goes only
    /// to org hosts.
    pub async fn get_json(&self, path_or_url: &str, params: &[(&str, &str)]) -> Result<Value> {
        let url = self.resolve(path_or_url)?;
        self.json_at(url, params).await
    }

    /// GET a URL returning JSON, `f=json` added.
    pub async fn json_at(&self, url: Url, params: &[(&str, &str)]) -> Result<Value> {
        self.inner.session.json(&Call::get(url, with_f_json(params))).await
    }

    /// POST a form returning JSON. Retried after failures only when `idempotent` (reads sent as
    /// POST); a write is sent again only when the server refused it unprocessed (429, no connection).
    pub async fn post_form(&self, path_or_url: &str, params: &[(&str, &str)], idempotent: bool) -> Result<Value> {
        let url = self.resolve(path_or_url)?;
        self.inner.session.json(&Call::post(url, with_f_json(params), idempotent)).await
    }

    /// GET a download as a stream. No `f` is added. Error bodies at the start are detected.
    pub async fn get_stream(&self, url: &Url, params: &[(&str, &str)]) -> Result<ByteStream> {
        let params = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.inner.session.stream(&Call::get(url.clone(), params)).await
    }

    /// A service's JSON (`<url>?f=json`). The token is sent only when the service is on an org host;
    /// a URL on neither an org host nor an allowed one is not requested at all
    /// ([`Portal::check_item_url`]): service URLs come from items, which any member can edit.
    pub async fn service_json(&self, url: &Url) -> Result<Value> {
        self.check_item_url(url)?;
        self.inner.session.json(&Call::item_url(url.clone(), with_f_json(&[]))).await
    }

    /// GET and decode into `T`.
    pub(crate) async fn get_typed<T: DeserializeOwned>(&self, url: Url, params: &[(&str, &str)]) -> Result<T> {
        let shown = display_url(&url);
        let v = self.json_at(url, params).await?;
        serde_json::from_value(v).map_err(|e| Error::Decode { url: shown, detail: e.to_string() })
    }
}

fn with_f_json(params: &[(&str, &str)]) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    if !p.iter().any(|(k, _)| k == "f") {
        p.push(("f".into(), "json".into()));
    }
    p
}

pub(crate) fn decode_all<T: DeserializeOwned>(raw: Vec<Value>, what: &str) -> Result<Vec<T>> {
    raw.into_iter()
        .map(|v| serde_json::from_value(v).map_err(|e| Error::Decode { url: what.to_string(), detail: e.to_string() }))
        .collect()
}

/// The full-admin check on a `portals/self` answer; see [`Portal::require_admin`].
pub fn require_admin(info: &PortalSelf, needed: &[&str]) -> Result<()> {
    let user = info.user.as_ref().ok_or_else(|| Error::SignIn { message: "no user is signed in".into() })?;
    let role = user.role.clone().unwrap_or_default();
    let is_full_admin = role == "org_admin" && user.role_id.as_deref().map(str::is_empty).unwrap_or(true);
    if is_full_admin {
        return Ok(());
    }
    let missing: Vec<String> =
        needed.iter().filter(|p| !user.privileges.iter().any(|h| h == *p)).map(|p| p.to_string()).collect();
    // A custom administrator role is enough when it holds every privilege the caller needs.
    if missing.is_empty() && !needed.is_empty() {
        return Ok(());
    }
    let missing = if missing.is_empty() { vec!["the org_admin role".to_string()] } else { missing };
    Err(Error::NotAdmin { username: user.username.clone(), role, missing })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::PortalUser;

    fn info(role: &str, role_id: Option<&str>, privileges: &[&str]) -> PortalSelf {
        PortalSelf {
            id: "org1".into(),
            user: Some(PortalUser {
                username: "ann".into(),
                role: Some(role.into()),
                role_id: role_id.map(str::to_string),
                privileges: privileges.iter().map(|p| p.to_string()).collect(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn admin_check_follows_role_and_privileges() {
        let needed = ["portal:admin:viewItems", "portal:admin:viewUsers"];
        assert!(
            require_admin(&info("org_admin", None, &[]), &needed).is_ok(),
            "a full admin passes whatever its privilege list says"
        );
        assert!(
            require_admin(&info("org_admin", Some("custom1"), &needed), &needed).is_ok(),
            "a custom admin role holding every needed privilege passes"
        );
        let err = require_admin(&info("org_admin", Some("custom1"), &["portal:admin:viewItems"]), &needed)
            .expect_err("a custom admin lacking one fails");
        match &err {
            Error::NotAdmin { missing, .. } => assert_eq!(
                missing,
                &vec!["portal:admin:viewUsers".to_string()],
                "exactly the missing privilege is named"
            ),
            other => panic!("expected NotAdmin, got {other:?}"),
        }
        let err =
            require_admin(&info("org_user", None, &["portal:user:createItem"]), &needed).expect_err("a user fails");
        assert!(err.to_string().contains("not an administrator"), "a non-admin is told so: {err}");
    }

    #[test]
    fn portal_urls_are_normalized_to_the_root() {
        let n = |s: &str| normalize_portal_url(&Url::parse(s).expect("url")).to_string();
        assert_eq!(n("https://acme.maps.arcgis.com"), "https://acme.maps.arcgis.com/");
        assert_eq!(n("https://gis.example.com/portal/sharing/rest/"), "https://gis.example.com/portal/");
        assert_eq!(n("https://acme.maps.arcgis.com/home/index.html?x=1"), "https://acme.maps.arcgis.com/");
        assert_eq!(
            n("http://127.0.0.1:4000/acme"),
            "http://127.0.0.1:4000/acme/",
            "a path root gains a trailing slash"
        );
    }
}
