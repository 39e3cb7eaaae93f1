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

#[tokio::test]
async fn under_faults_with_short_tokens_stalls_fail_fast_and_every_read_completes() {
    let sim = sim(SimConfig { orgs: 1, items: 200, token_ttl_s: 2, ..SimConfig::default() }).await;
    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.retry.max_attempts = 10;
    // The production stall limit and the simulator's 30 s stalls: what a real user meets.
    assert_eq!(cfg.stall_timeout, Duration::from_secs(30), "the default stall limit");
    let portal = Portal::connect(cfg).await.expect("connect before faults");
    let items = portal.search_org_items(&|_, _| {}).await.expect("search before faults");
    let started = std::time::Instant::now();
    for _ in 0..3 {
        sim.state.faults.force(ForcedFault {
            path_contains: Some("/content/items/".into()),
            kind: FaultKind::StalledBody,
            count: 1,
        });
    }
    sim.state.faults.set_fault_rate(0.1);
    let reads = items.iter().take(120).map(|item| {
        let p = portal.clone();
        let id = item.id.clone();
        async move { p.item(&id).await }
    });
    let results = futures::future::join_all(reads).await;
    let took = started.elapsed();
    // The token the reads used has expired by now: the next calls must renew it when they leave.
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let users = portal.org_users().await;
    sim.state.faults.set_fault_rate(0.0);
    for r in results {
        r.expect("every item read must complete through faults and expiring tokens");
    }
    assert!(!users.expect("users").is_empty(), "users are listed through faults");
    assert!(sim.state.faults.faults_of_kind(FaultKind::StalledBody) >= 3, "stalls were injected");
    assert!(took < Duration::from_secs(25), "three or more 30 s stalls must not cost 30 s each: reads took {took:?}");
    assert!(portal.token_renewals() >= 2, "the expired 2 s token was renewed, under faults, for the users listing");
}

#[tokio::test]
async fn a_file_download_follows_the_redirect_to_storage_without_the_token() {
    let sim = sim(SimConfig { orgs: 1, items: 60, ..SimConfig::default() }).await;
    let portal = Portal::connect(config_for(&sim, 0, &sim.orgs[0].admin)).await.expect("connect");
    let files: Vec<String> = {
        let u = sim.state.universe.read().expect("universe");
        u.orgs[0].items.values().filter(|i| i.data.file_name().is_some()).map(|i| i.id.clone()).take(5).collect()
    };
    assert!(!files.is_empty(), "the org holds file items");
    for id in &files {
        let mut body = portal.item_data_stream(id).await.expect("the download starts through the redirect");
        let mut len = 0;
        while let Some(chunk) = futures::StreamExt::next(&mut body).await {
            len += chunk.expect("the body arrives").len();
        }
        assert!(len > 0, "item {id}: the file's bytes came from the storage host");
    }
    assert_eq!(sim.state.storage.served() as usize, files.len(), "every file was served by the storage host");
    assert_eq!(sim.state.storage.tokens_seen(), 0, "the token never reached the storage host");
}

#[tokio::test]
async fn a_slow_add_to_definition_runs_as_a_job_and_is_not_taken_for_a_lost_answer() {
    let sim = sim(SimConfig { orgs: 1, items: 10, ..SimConfig::default() }).await;
    let admin = sim.orgs[0].admin.clone();
    let mut cfg = config_for(&sim, 0, &admin);
    // Scaled down: a 1 s wait for a write's answer stands for the 15 min one, a 2.5 s
    // addToDefinition for one that takes longer than that.
    cfg.write_timeout = Duration::from_secs(1);
    let portal = Portal::connect(cfg).await.expect("connect");
    let params = serde_json::json!({ "name": "SlowDefinition", "spatialReference": { "wkid": 4326 } });
    let created = portal.create_service(&admin.username, &params, false).await.expect("createService");
    sim.state.faults.set_slow_op("addToDefinition", 2_500);
    let layer = serde_json::json!({ "layers": [{
        "id": 0, "name": "Points", "type": "Feature Layer", "geometryType": "esriGeometryPoint",
        "fields": [{ "name": "OBJECTID", "type": "esriFieldTypeOID", "alias": "OBJECTID" }],
    }]});
    let started = std::time::Instant::now();
    let answer = portal.add_to_definition(&created.service_url, &layer).await.expect("the definition change completes");
    assert!(started.elapsed() >= Duration::from_millis(2_500), "it took the operation's time: {:?}", started.elapsed());
    assert_eq!(answer["status"], "Completed", "the job's final answer: {answer}");
    assert_eq!(answer["layers"][0]["name"], "Points", "with the layers it added: {answer}");
    assert_eq!(sim.state.jobs.definitions.count(), 1, "the change ran as an asynchronous job");
    let layers = portal.service_layers(&created.service_url).await.expect("layers");
    assert!(layers.to_string().contains("Points"), "the service has the layer: {layers}");
}
