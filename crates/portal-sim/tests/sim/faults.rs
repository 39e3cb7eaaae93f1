//! Injected failures as a client sees them: the fault mix and rate, the 429 rate limit with
//! Retry-After, latency, forced faults, and the `/_sim/faults` control that must itself never fail.

use std::time::{Duration, Instant};

use futures::StreamExt;
use portal_sim::faults::{FaultKind, ForcedFault};
use portal_sim::SimConfig;
use serde_json::Value;

use crate::common::{client, start};

#[derive(Debug, Default)]
struct Seen {
    ok: usize,
    http500: usize,
    http502: usize,
    http504: usize,
    dropped: usize,
    stalled: usize,
}

/// One GET, classified the way a client has to: status, connection error, or timeout.
async fn classify(http: &reqwest::Client, url: &str) -> &'static str {
    match http.get(url).send().await {
        Ok(resp) => match resp.status().as_u16() {
            200 => match resp.bytes().await {
                Ok(_) => "ok",
                Err(e) if e.is_timeout() => "stalled",
                Err(e) => panic!("a 200 body must either arrive or time out (stall), got {e}"),
            },
            500 => "500",
            502 => "502",
            504 => "504",
            other => panic!("unexpected status {other}"),
        },
        Err(e) if e.is_timeout() => "stalled",
        Err(e) if e.is_connect() || e.is_request() => "dropped",
        Err(e) => panic!("unexpected client error {e:?}"),
    }
}

#[tokio::test]
async fn fault_rate_gives_every_kind_at_about_the_rate_asked() {
    let sim = start(SimConfig { fault_rate: 0.3, seed: 7, ..SimConfig::default() }).await;
    sim.state.faults.set_stall_ms(3_000);
    let _ = rustls::crypto::ring::default_provider().install_default();
    let http = reqwest::Client::builder().timeout(Duration::from_millis(700)).build().expect("client");
    let url = format!("{}/sharing/rest/info?f=json", sim.orgs[0].portal_url);
    const N: usize = 300;
    let outcomes: Vec<&str> =
        futures::stream::iter(0..N).map(|_| classify(&http, &url)).buffer_unordered(16).collect().await;
    let mut seen = Seen::default();
    for o in &outcomes {
        match *o {
            "ok" => seen.ok += 1,
            "500" => seen.http500 += 1,
            "502" => seen.http502 += 1,
            "504" => seen.http504 += 1,
            "dropped" => seen.dropped += 1,
            _ => seen.stalled += 1,
        }
    }
    let failed = N - seen.ok;
    let fraction = failed as f64 / N as f64;
    assert!((0.2..=0.4).contains(&fraction), "fault fraction {fraction} must be near 0.3: {seen:?}");
    for (kind, n) in [
        ("500", seen.http500),
        ("502", seen.http502),
        ("504", seen.http504),
        ("dropped", seen.dropped),
        ("stalled", seen.stalled),
    ] {
        assert!(n > 0, "fault kind {kind} must occur over {N} requests: {seen:?}");
    }
    let f = &sim.state.faults;
    assert_eq!(
        f.faults_injected() as usize,
        failed,
        "what the client saw failing is what the server injected: {seen:?}"
    );
    assert_eq!(
        f.faults_of_kind(FaultKind::DroppedConnection) as usize,
        seen.dropped,
        "dropped connections seen as connection errors"
    );
    assert_eq!(f.faults_of_kind(FaultKind::StalledBody) as usize, seen.stalled, "stalled bodies seen as timeouts");
    assert_eq!(f.total_requests() as usize, N, "every request is counted once (no client retries hidden)");
    assert_eq!(f.requests_containing("/sharing/rest/info") as usize, N, "per-path counter");
}

async fn get_status(http: &reqwest::Client, url: &str) -> (u16, Option<String>, Value) {
    let resp = http.get(url).send().await.expect("reachable");
    let status = resp.status().as_u16();
    let retry = resp.headers().get("retry-after").map(|v| v.to_str().expect("ascii").to_owned());
    let body = resp.json().await.unwrap_or(Value::Null);
    (status, retry, body)
}

#[tokio::test]
async fn rate_limit_answers_429_above_the_rate_and_none_below() {
    let sim = start(SimConfig { rate_limit_per_s: Some(20), ..SimConfig::default() }).await;
    let http = client();
    let url_a = format!("{}/sharing/rest/info?f=json", sim.orgs[0].portal_url);
    let url_b = format!("{}/sharing/rest/info?f=json", sim.orgs[1].portal_url);

    let started = Instant::now();
    let mut admitted = 0;
    let mut refused = 0;
    for _ in 0..60 {
        let (status, retry, body) = get_status(&http, &url_a).await;
        match status {
            200 => admitted += 1,
            429 => {
                refused += 1;
                assert_eq!(retry.as_deref(), Some("1"), "a 429 must carry Retry-After in seconds");
                assert_eq!(body["error"]["code"], 429, "a 429 carries an ArcGIS error body: {body}");
            }
            other => panic!("only 200 or 429 expected, got {other}"),
        }
    }
    let elapsed = started.elapsed();
    if elapsed < Duration::from_secs(1) {
        assert_eq!(admitted, 20, "within one second exactly the limit is admitted ({refused} refused)");
    } else {
        // A slow machine spread the burst over more than one window.
        let windows = elapsed.as_secs_f64().ceil() as usize;
        assert!(admitted >= 20 && admitted <= 20 * windows, "admitted {admitted} over {elapsed:?}");
    }
    let (status, _, _) = get_status(&http, &url_b).await;
    assert_eq!(status, 200, "the limit is per org: org B is not throttled by org A's burst");
    assert_eq!(sim.state.faults.rate_limited() as usize, refused, "server count of 429s matches the client's");

    tokio::time::sleep(Duration::from_millis(1_100)).await;
    for _ in 0..12 {
        let (status, _, _) = get_status(&http, &url_a).await;
        assert_eq!(status, 200, "10 requests per second stay under a 20/s limit");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn latency_and_forced_faults_can_change_mid_run() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let url = format!("{}/sharing/rest/info?f=json", sim.orgs[0].portal_url);
    let t = Instant::now();
    assert_eq!(get_status(&http, &url).await.0, 200, "no latency, no faults by default");
    let fast = t.elapsed();

    sim.state.faults.set_latency_ms(300);
    let t = Instant::now();
    assert_eq!(get_status(&http, &url).await.0, 200, "latency delays but does not fail");
    assert!(t.elapsed() >= Duration::from_millis(300), "latency must add at least 300 ms, took {:?}", t.elapsed());
    sim.state.faults.set_latency_ms(0);

    sim.state.faults.force(ForcedFault { path_contains: Some("/info".into()), kind: FaultKind::Http504, count: 1 });
    assert_eq!(get_status(&http, &url).await.0, 504, "a forced 504 hits the next matching request");
    let t = Instant::now();
    assert_eq!(get_status(&http, &url).await.0, 200, "and only that one");
    assert!(t.elapsed() < fast + Duration::from_millis(250), "latency was switched off again");
}

#[tokio::test]
async fn control_api_is_outside_the_faults() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let control = format!("{}/_sim/faults", sim.base_url);
    let v: Value = http
        .post(&control)
        .json(&serde_json::json!({ "fault_rate": 1.0, "rate_limit_per_s": 1 }))
        .send()
        .await
        .expect("control reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(v["fault_rate"], 1.0, "the control API sets the fault rate: {v}");
    let _ = rustls::crypto::ring::default_provider().install_default();
    let short = reqwest::Client::builder().timeout(Duration::from_millis(500)).build().expect("client");
    let portal = format!("{}/sharing/rest/info?f=json", sim.orgs[0].portal_url);
    for _ in 0..5 {
        let ok = match short.get(&portal).send().await {
            Ok(r) if r.status() == 200 => r.bytes().await.is_ok(),
            _ => false,
        };
        assert!(!ok, "with fault_rate 1 (or the 1/s limit) no portal call may succeed");
    }
    for _ in 0..5 {
        let r = http.get(&control).send().await.expect("control must stay reachable under faults");
        assert_eq!(r.status(), 200, "the control API is not subject to faults or the rate limit");
    }
    let v: Value = http
        .post(&control)
        .json(&serde_json::json!({ "fault_rate": 0.0, "rate_limit_per_s": null }))
        .send()
        .await
        .expect("reachable")
        .json()
        .await
        .expect("json");
    assert_eq!(v["rate_limit_per_s"], Value::Null, "null lifts the limit: {v}");
    assert_eq!(http.get(&portal).send().await.expect("reachable").status(), 200, "portal works again");
}

#[tokio::test]
async fn lost_answers_still_take_effect_when_faults_come_after_the_handler() {
    let sim = start(SimConfig::default()).await;
    let http = client();
    let org = &sim.orgs[0];
    let token = crate::common::sign_in(&http, &org.portal_url, &org.admin).await;
    let service_item = {
        let universe = sim.state.universe.read().expect("lock");
        let o = universe.org_by_id(&org.id).expect("org");
        o.services.values().find(|s| s.view_of.is_none()).expect("a service").item_id.clone()
    };
    let exports = |sim: &portal_sim::RunningSim| {
        let universe = sim.state.universe.read().expect("lock");
        portal_sim::routes::hosted::export_items(universe.org_by_id(&sim.orgs[0].id).expect("org")).len()
    };
    sim.state.faults.set_faults_after_handler(true);
    sim.state.faults.force(ForcedFault { path_contains: Some("/export".into()), kind: FaultKind::Http504, count: 1 });
    let resp = http
        .post(format!("{}/sharing/rest/content/users/{}/export", org.portal_url, org.admin.username))
        .form(&[
            ("f", "json"),
            ("token", token.as_str()),
            ("itemId", service_item.as_str()),
            ("exportFormat", "File Geodatabase"),
        ])
        .send()
        .await
        .expect("reachable");
    assert_eq!(resp.status(), 504, "the client sees a gateway timeout");
    assert_eq!(exports(&sim), 1, "yet the export item was created: the answer was lost, not the work");

    sim.state.faults.set_faults_after_handler(false);
    sim.state.faults.force(ForcedFault { path_contains: Some("/export".into()), kind: FaultKind::Http504, count: 1 });
    let resp = http
        .post(format!("{}/sharing/rest/content/users/{}/export", org.portal_url, org.admin.username))
        .form(&[
            ("f", "json"),
            ("token", token.as_str()),
            ("itemId", service_item.as_str()),
            ("exportFormat", "File Geodatabase"),
        ])
        .send()
        .await
        .expect("reachable");
    assert_eq!(resp.status(), 504, "a fault before the handler also answers 504");
    assert_eq!(exports(&sim), 1, "but nothing happens when the fault comes first");
}
