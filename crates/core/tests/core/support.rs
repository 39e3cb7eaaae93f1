//! Shared set-up: a simulator, a signed-in client with test-sized retry delays, a database with
//! an identity, progress sinks that record or act.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use arcgis::{Credentials, Portal, PortalConfig, RetryPolicy, Secret, Url};
use orgvault_core::identity::{Identities, IdentitySpec, PortalKind, SignIn, Storage, TlsOptions};
use orgvault_core::jobs::ItemOutcome;
use orgvault_core::{Db, Progress, SystemClock};
use portal_sim::{Login, RunningSim, SimConfig};

/// Retries sized for a faulty loopback simulator: many quick attempts, short Retry-After waits.
pub fn test_retry() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(200),
        max_attempts: 12,
        max_retry_after: Duration::from_millis(1_500),
        ..RetryPolicy::default()
    }
}

pub async fn start_sim(cfg: SimConfig) -> anyhow::Result<RunningSim> {
    Ok(RunningSim::start(cfg).await?)
}

pub fn portal_config(portal_url: &str, login: &Login) -> anyhow::Result<PortalConfig> {
    let mut cfg = PortalConfig::new(
        Url::parse(portal_url)?,
        Credentials::BuiltIn { username: login.username.clone(), password: Secret::new(login.password.clone()) },
    );
    cfg.retry = test_retry();
    cfg.request_timeout = Duration::from_secs(20);
    // The simulator's injected stalls must cost little test time.
    cfg.stall_timeout = Duration::from_secs(1);
    cfg.connect_timeout = Duration::from_secs(5);
    Ok(cfg)
}

pub async fn connect(portal_url: &str, login: &Login) -> anyhow::Result<Portal> {
    Ok(Portal::connect(portal_config(portal_url, login)?).await?)
}

/// An in-memory database holding one identity for `portal_url`; answers the identity id.
pub async fn db_with_identity(portal_url: &str, username: &str) -> anyhow::Result<(Db, String)> {
    let db = Db::open_in_memory().await?;
    let id = add_identity(&db, portal_url, username).await?;
    Ok((db, id))
}

pub async fn add_identity(db: &Db, portal_url: &str, username: &str) -> anyhow::Result<String> {
    add_identity_named(db, portal_url, username, "Simulated org").await
}

pub async fn add_identity_named(db: &Db, portal_url: &str, username: &str, name: &str) -> anyhow::Result<String> {
    let identity = Identities::new(db, &SystemClock)
        .create(IdentitySpec {
            name: name.into(),
            portal_url: portal_url.into(),
            kind: PortalKind::Online,
            sign_in: SignIn::Builtin { username: username.into() },
            storage: Storage::Local { path: "/tmp/orgvault-test".into() },
            custom_headers: vec![],
            tls: TlsOptions::default(),
        })
        .await?;
    Ok(identity.id)
}

/// Records every call, so tests can assert the phases and outcomes seen.
#[derive(Default)]
pub struct Recorder {
    pub phases: Mutex<Vec<(String, Option<u64>)>>,
    pub outcomes: Mutex<Vec<ItemOutcome>>,
}

impl Progress for Recorder {
    fn phase(&self, name: &str, total: Option<u64>) {
        self.phases.lock().expect("lock").push((name.to_owned(), total));
    }
    fn advance(&self, _n: u64) {}
    fn item(&self, outcome: &ItemOutcome) {
        self.outcomes.lock().expect("lock").push(outcome.clone());
    }
    fn message(&self, _text: &str) {}
}

/// Runs `action` once, when the phase `phase` starts.
pub struct OnPhase<F: Fn() + Send + Sync> {
    pub phase: &'static str,
    pub action: F,
    pub fired: AtomicBool,
    pub inner: Arc<Recorder>,
}

impl<F: Fn() + Send + Sync> OnPhase<F> {
    pub fn new(phase: &'static str, action: F) -> Self {
        Self { phase, action, fired: AtomicBool::new(false), inner: Arc::new(Recorder::default()) }
    }
}

impl<F: Fn() + Send + Sync> Progress for OnPhase<F> {
    fn phase(&self, name: &str, total: Option<u64>) {
        if name == self.phase && !self.fired.swap(true, Ordering::SeqCst) {
            (self.action)();
        }
        self.inner.phase(name, total);
    }
    fn advance(&self, n: u64) {
        self.inner.advance(n);
    }
    fn item(&self, outcome: &ItemOutcome) {
        self.inner.item(outcome);
    }
    fn message(&self, text: &str) {
        self.inner.message(text);
    }
}

/// The simulator's own tallies of one org: items, users, groups, memberships, sharing rows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimTally {
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    pub memberships: u64,
    pub sharing: u64,
}

pub fn sim_tally(sim: &RunningSim, url_key: &str) -> SimTally {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org exists");
    let memberships = org
        .groups
        .values()
        .map(|g| {
            let mut people: std::collections::BTreeSet<&str> =
                g.admins.iter().chain(g.users.iter()).map(String::as_str).collect();
            people.insert(g.owner.as_str());
            people.len() as u64
        })
        .sum();
    let sharing =
        org.items.values().map(|i| i.shared_groups.iter().filter(|g| org.groups.contains_key(*g)).count() as u64).sum();
    SimTally {
        items: org.items.len() as u64,
        users: org.users.len() as u64,
        groups: org.groups.len() as u64,
        memberships,
        sharing,
    }
}

/// Runs `action` at the start of every phase.
pub struct OnEveryPhase<F: Fn(&str) + Send + Sync> {
    pub action: F,
}

impl<F: Fn(&str) + Send + Sync> Progress for OnEveryPhase<F> {
    fn phase(&self, name: &str, _total: Option<u64>) {
        (self.action)(name);
    }
    fn advance(&self, _n: u64) {}
    fn item(&self, _outcome: &ItemOutcome) {}
    fn message(&self, _text: &str) {}
}
