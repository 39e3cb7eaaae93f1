//! Integration tests of the ArcGIS client against the simulated portal (`portal-sim`) over real
//! loopback sockets.

mod connect;
mod faults;
mod items;
mod oauth;
mod scan;
mod tls;

use std::time::Duration;

use arcgis::{Credentials, PortalConfig, RetryPolicy, Secret, Url};
use portal_sim::{Login, RunningSim, SimConfig};

/// Starts a simulator with `cfg`, panicking with the reason when it cannot.
pub async fn sim(cfg: SimConfig) -> RunningSim {
    RunningSim::start(cfg).await.expect("the simulated portal must start on loopback")
}

/// A client configuration for `login` on the sim's org `org`, with fast retries.
pub fn config_for(sim: &RunningSim, org: usize, login: &Login) -> PortalConfig {
    let url = Url::parse(&sim.orgs[org].portal_url).expect("the sim hands out valid portal URLs");
    let mut cfg = PortalConfig::new(
        url,
        Credentials::BuiltIn { username: login.username.clone(), password: Secret::new(login.password.clone()) },
    );
    cfg.retry = RetryPolicy {
        base_delay: Duration::from_millis(10),
        max_delay: Duration::from_millis(200),
        max_attempts: 5,
        max_retry_after: Duration::from_secs(2),
        ..RetryPolicy::default()
    };
    cfg
}
