//! Surviving the failures a real portal produces: 5xx, dropped connections, stalled bodies, 429.

use std::time::Duration;

use arcgis::Portal;
use portal_sim::faults::{FaultKind, ForcedFault};
use portal_sim::SimConfig;

use crate::{config_for, sim};

#[tokio::test]
async fn a_scan_completes_through_injected_faults() {
    let sim = sim(SimConfig { orgs: 1, items: 300, ..SimConfig::default() }).await;
    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.retry.max_attempts = 10;
    cfg.stall_timeout = Duration::from_millis(400);
    let portal = Portal::connect(cfg).await.expect("connect before faults");
    sim.state.faults.set_stall_ms(3_000);
    // Every kind once for certain (on item reads), then random faults everywhere.
    for kind in FaultKind::ALL {
        sim.state.faults.force(ForcedFault { path_contains: Some("/content/items/".into()), kind, count: 1 });
    }
    sim.state.faults.set_fault_rate(0.2);
    let items = portal.search_org_items(&|_, _| {}).await.expect("the search must survive a 20% fault rate");
    let users = portal.org_users().await.expect("listing users must survive faults");
    for item in items.iter().take(40) {
        portal.item(&item.id).await.expect("reading an item must survive faults");
    }
    sim.state.faults.set_fault_rate(0.0);
    assert_eq!(items.len(), 300, "no item may be lost to faults");
    assert!(!users.is_empty(), "users are listed");
    let injected = sim.state.faults.faults_injected();
    assert!(injected > 0, "the test must actually have injected faults");
    assert!(portal.requests_made() >= injected, "every injected fault costs a request that was retried");
    for kind in FaultKind::ALL {
        assert!(sim.state.faults.faults_of_kind(kind) > 0, "{kind:?} must have been injected and survived");
    }
}

#[tokio::test]
async fn the_rate_limit_lowers_concurrency_and_every_request_succeeds() {
    let sim = sim(SimConfig { orgs: 1, items: 80, ..SimConfig::default() }).await;
    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.retry.max_attempts = 12;
    let portal = Portal::connect(cfg).await.expect("connect");
    let items = portal.search_org_items(&|_, _| {}).await.expect("search");
    let start_limit = portal.concurrency_limit();
    sim.state.faults.set_rate_limit(Some(25));
    let reads = items.iter().map(|i| {
        let p = portal.clone();
        let id = i.id.clone();
        async move { p.item(&id).await }
    });
    let results = futures::future::join_all(reads).await;
    sim.state.faults.set_rate_limit(None);
    for r in results {
        r.expect("every throttled read must eventually succeed");
    }
    assert!(sim.state.faults.rate_limited() > 0, "the sim must actually have throttled");
    assert!(
        portal.concurrency_limit() < start_limit,
        "429s must lower the limit ({start_limit} -> {})",
        portal.concurrency_limit()
    );
}
