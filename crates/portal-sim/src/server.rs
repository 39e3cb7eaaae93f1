//! Server assembly: configuration, shared state, start-up on an ephemeral port, the ready line.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::faults::{DroppingService, SharedService};
use crate::model::Universe;

/// Which listener a request came in on: ArcGIS Online serves the portal (`<org>.maps.arcgis.com`),
/// hosted services (`services*.arcgis.com`) and item files (a storage host) from different
/// hosts, and so does the simulator, each on its own loopback port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Host {
    Portal,
    Services,
    Storage,
}

/// Whether `path` is served by the services host: `/<org id>/arcgis/rest/...` (feature,
/// scene and admin services) and `/tiles/...` (vector tiles).
pub fn is_services_path(path: &str) -> bool {
    let mut segments = path.trim_start_matches('/').split('/');
    let first = segments.next().unwrap_or("");
    first == "tiles" || (segments.next() == Some("arcgis") && segments.next() == Some("rest"))
}

/// Refuses, with the portal's 404, a path that belongs to the other host: a client that builds
/// a service URL on the portal host (or the reverse) fails here as it would on Online.
async fn host_scope(
    axum::extract::State(host): axum::extract::State<Host>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let services = is_services_path(req.uri().path());
    if services != (host == Host::Services) {
        use axum::response::IntoResponse;
        return (axum::http::StatusCode::NOT_FOUND, "Not Found").into_response();
    }
    next.run(req).await
}

/// Every route of one host, with the fault middleware on all of them except the test-control
/// API (portal host only).
fn app(state: SimState, host: Host) -> axum::Router {
    let faults = axum::middleware::from_fn_with_state(state.clone(), crate::faults::middleware);
    if host == Host::Storage {
        return crate::storage::routes().layer(faults).with_state(state);
    }
    let api = axum::Router::new()
        .merge(crate::routes::portal::routes())
        .merge(crate::routes::community::routes())
        .merge(crate::routes::content::routes())
        .merge(crate::auth::routes())
        .merge(crate::routes::hosted::routes())
        .merge(crate::routes::tiles::routes())
        .merge(crate::routes::write::routes())
        // Uploads (addItem files, addPart, publish packages) are larger than axum's 2 MB default;
        // the single-part limit itself is checked by the handlers, with Online's message.
        .layer(axum::extract::DefaultBodyLimit::max(crate::routes::write::MAX_BODY))
        .layer(faults)
        .layer(axum::middleware::from_fn_with_state(host, host_scope));
    if host == Host::Services {
        return api.with_state(state);
    }
    api.merge(crate::control::routes())
        .merge(crate::faults::control_routes())
        .merge(crate::auth::control_routes())
        .with_state(state)
}

/// What a simulator is started with. `Default` is a small org pair suited to unit tests.
#[derive(Debug, Clone)]
pub struct SimConfig {
    pub listen: SocketAddr,
    pub orgs: usize,
    pub items: usize,
    pub users: usize,
    pub groups: usize,
    pub seed: u64,
    /// Added to every request before it is answered.
    pub latency_ms: u64,
    /// Probability (0..=1) that a request fails with 500/502/504, a dropped connection or a stalled body.
    pub fault_rate: f64,
    /// Access-token lifetime in seconds (generateToken and oauth2).
    pub token_ttl_s: u64,
    /// OAuth refresh-token lifetime in seconds (two weeks, as on Online, unless an org's policy
    /// or a test says less); changeable while running (`POST /_sim/auth/refresh-token-ttl`).
    pub refresh_token_ttl_s: u64,
    /// Requests per second per org above which the server answers 429 with Retry-After; None = no limit.
    pub rate_limit_per_s: Option<u32>,
    /// Serve HTTPS with a self-signed certificate for 127.0.0.1 and localhost.
    pub tls: bool,
    /// Where to write the certificate's PEM when `tls` is on.
    pub tls_cert_out: Option<std::path::PathBuf>,
    /// oauth2/authorize approves at once (tests) instead of showing the approve page.
    pub oauth_auto_approve: bool,
    /// A URL on a foreign host that some generated item data names (for the "token never leaves the
    /// org" test). None = a fixed non-routable example host.
    pub foreign_service_url: Option<String>,
    /// The last `empty_orgs` orgs are restore targets: only their admin and the non-admin test user,
    /// no items, groups or folders. They are still listed on the ready line.
    pub empty_orgs: usize,
    /// How long a client's item write takes to reach search (`index`); 0 = at once.
    pub search_lag_ms: u64,
    /// Honour the token header (`X-Esri-Authorization`) on POST too, not only on GET as Esri
    /// documents it (`--token-header-everywhere`, `POST /_sim/auth/token-header`).
    pub token_header_everywhere: bool,
    /// Extra time some operations take before answering, by the last path segment
    /// (`applyEdits`, `addToDefinition`, `createService`, `publish`, ...), in ms: large writes
    /// take minutes on a real portal (`--slow-op NAME=MS`, `POST /_sim/faults/slow-ops`).
    pub slow_ops: Vec<(String, u64)>,
}

impl Default for SimConfig {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:0".parse().expect("valid literal"),
            orgs: 2,
            items: 60,
            users: 12,
            groups: 6,
            seed: 42,
            latency_ms: 0,
            fault_rate: 0.0,
            token_ttl_s: 3600,
            refresh_token_ttl_s: crate::auth::REFRESH_TTL_S,
            rate_limit_per_s: None,
            tls: false,
            tls_cert_out: None,
            oauth_auto_approve: true,
            foreign_service_url: None,
            empty_orgs: 0,
            search_lag_ms: crate::index::DEFAULT_SEARCH_LAG_MS,
            token_header_everywhere: false,
            slow_ops: Vec::new(),
        }
    }
}

/// State shared by every handler.
#[derive(Clone)]
pub struct SimState {
    pub universe: Arc<RwLock<Universe>>,
    pub config: Arc<SimConfig>,
    /// `http://127.0.0.1:PORT` or `https://...`: the portal host, the root of portal URLs.
    pub base_url: Arc<str>,
    /// The services host's root (hosted feature, scene and tile services).
    pub services_url: Arc<str>,
    /// The storage host's root, where `/data` of a file item redirects; `None` serves files
    /// from the portal host directly.
    pub storage_url: Option<Arc<str>>,
    pub storage: Arc<crate::storage::Storage>,
    pub auth: Arc<crate::auth::AuthState>,
    pub faults: Arc<crate::faults::FaultState>,
    pub jobs: Arc<crate::routes::hosted::JobState>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// One org as printed on the ready line.
#[derive(Debug, Clone, Serialize)]
pub struct OrgLogin {
    pub id: String,
    pub url_key: String,
    /// The root a client is given (the part before `/sharing/rest`).
    pub portal_url: String,
    pub admin: Login,
    /// A non-admin.
    pub user: Login,
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
pub enum SimError {
    #[error("binding {addr} failed: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("setting up the listener failed: {0}")]
    Io(#[from] std::io::Error),
}

/// A started simulator. Dropping it stops the server (gracefully, giving open requests a second).
pub struct RunningSim {
    /// The portal host (and the test-control API, `<base_url>/_sim/...`).
    pub base_url: String,
    /// The services host: hosted services' URLs start with it.
    pub services_url: String,
    /// The storage host: file downloads are redirected there.
    pub storage_url: String,
    pub addr: SocketAddr,
    pub orgs: Vec<OrgLogin>,
    pub state: SimState,
    pub(crate) shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningSim {
    /// Binds `cfg.listen` (port 0 = ephemeral), generates the universe with URLs on the real port,
    /// and serves it (HTTPS when `cfg.tls`) in a background task until the `RunningSim` is dropped.
    /// Must be called inside a tokio runtime.
    pub async fn start(cfg: SimConfig) -> Result<RunningSim, SimError> {
        let bind = |addr: std::net::SocketAddr| -> Result<std::net::TcpListener, SimError> {
            let l = std::net::TcpListener::bind(addr).map_err(|source| SimError::Bind { addr, source })?;
            l.set_nonblocking(true)?;
            Ok(l)
        };
        let listener = bind(cfg.listen)?;
        let addr = listener.local_addr()?;
        // The services and storage hosts listen on the same address, on ports of their own.
        let services_listener = bind(std::net::SocketAddr::new(cfg.listen.ip(), 0))?;
        let storage_listener = bind(std::net::SocketAddr::new(cfg.listen.ip(), 0))?;
        // A wildcard bind is still reached through loopback by the URLs the sim hands out.
        let url_addr =
            |a: SocketAddr| if a.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], a.port())) } else { a };
        let scheme = if cfg.tls { "https" } else { "http" };
        let base_url = format!("{scheme}://{}", url_addr(addr));
        let services_url = format!("{scheme}://{}", url_addr(services_listener.local_addr()?));
        let storage_url = format!("{scheme}://{}", url_addr(storage_listener.local_addr()?));

        let tls = if cfg.tls {
            let cert = crate::tls::self_signed()?;
            if let Some(path) = &cfg.tls_cert_out {
                cert.write_cert(path)?;
            }
            Some(cert.rustls_config().await?)
        } else {
            None
        };

        let (universe, orgs) = crate::generate::universe_on(&cfg, &base_url, &services_url);
        let state = SimState {
            universe: Arc::new(RwLock::new(universe)),
            auth: Arc::new(crate::auth::AuthState::new(&cfg)),
            faults: Arc::new(crate::faults::FaultState::new(&cfg)),
            jobs: Arc::new(crate::routes::hosted::JobState::new()),
            config: Arc::new(cfg),
            base_url: Arc::from(base_url.as_str()),
            services_url: Arc::from(services_url.as_str()),
            storage_url: Some(Arc::from(storage_url.as_str())),
            storage: Arc::default(),
        };
        for org in &orgs {
            state.auth.set_auto_approve_user(&org.id, &org.admin.username);
        }

        let handle = axum_server::Handle::new();
        let (shutdown, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let stopper = handle.clone();
        tokio::spawn(async move {
            // Sender dropped or fired: either way the sim is going away.
            let _ = shutdown_rx.await;
            stopper.graceful_shutdown(Some(std::time::Duration::from_secs(1)));
        });
        for (listener, host) in
            [(listener, Host::Portal), (services_listener, Host::Services), (storage_listener, Host::Storage)]
        {
            let service = SharedService(DroppingService::new(app(state.clone(), host)));
            match &tls {
                Some(tls) => {
                    let server = axum_server::from_tcp_rustls(listener, tls.clone())?.handle(handle.clone());
                    tokio::spawn(async move {
                        if let Err(e) = server.serve(service).await {
                            tracing::error!(error = %e, ?host, "portal-sim (https) stopped with an error");
                        }
                    });
                }
                None => {
                    let server = axum_server::from_tcp(listener)?.handle(handle.clone());
                    tokio::spawn(async move {
                        if let Err(e) = server.serve(service).await {
                            tracing::error!(error = %e, ?host, "portal-sim stopped with an error");
                        }
                    });
                }
            }
        }
        tracing::info!(%base_url, %services_url, %storage_url, orgs = orgs.len(), "portal-sim listening");
        Ok(RunningSim {
            base_url,
            services_url,
            storage_url,
            addr: url_addr(addr),
            orgs,
            state,
            shutdown: Some(shutdown),
        })
    }

    /// Test control: change the orgs while a client runs (see `control`).
    pub fn control(&self) -> crate::control::Control {
        crate::control::Control::new(self.state.clone())
    }

    /// The ready line: exactly one JSON object `{"base_url":"http://127.0.0.1:PORT",
    /// "services_url", "storage_url", "orgs":[...]}`, each org `{id, url_key, portal_url,
    /// admin:{username,password}, user:{username,password}}`. `base_url` is where the
    /// test-control API lives (`<base_url>/_sim/...`).
    pub fn ready_line(&self) -> String {
        serde_json::json!({
            "base_url": self.base_url,
            "services_url": self.services_url,
            "storage_url": self.storage_url,
            "orgs": self.orgs,
        })
        .to_string()
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
