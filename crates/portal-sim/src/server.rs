//! Server assembly: configuration, shared state, start-up on an ephemeral port, the ready line.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};

use serde::Serialize;

use crate::model::Universe;

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
            rate_limit_per_s: None,
            tls: false,
            tls_cert_out: None,
            oauth_auto_approve: true,
            foreign_service_url: None,
        }
    }
}

/// State shared by every handler.
#[derive(Clone)]
pub struct SimState {
    pub universe: Arc<RwLock<Universe>>,
    pub config: Arc<SimConfig>,
    /// `http://127.0.0.1:PORT` or `https://...`: the root every URL the sim hands out starts with.
    pub base_url: Arc<str>,
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

/// A started simulator. Dropping it stops the server.
pub struct RunningSim {
    pub base_url: String,
    pub addr: SocketAddr,
    pub orgs: Vec<OrgLogin>,
    pub state: SimState,
    pub(crate) shutdown: Option<tokio::sync::oneshot::Sender<()>>,
}

impl RunningSim {
    /// The ready line: exactly one JSON object `{"orgs":[...]}`.
    pub fn ready_line(&self) -> String {
        serde_json::json!({ "orgs": self.orgs }).to_string()
    }

    /// Test control: change the orgs while a client runs (see `control`).
    pub fn control(&self) -> crate::control::Control {
        crate::control::Control::new(self.state.clone())
    }
}

impl Drop for RunningSim {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}
