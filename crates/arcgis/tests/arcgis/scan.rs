//! Reading a whole org: the 10,000-result search cap and token expiry during long runs.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use arcgis::Portal;
use portal_sim::SimConfig;

use crate::{config_for, sim};

#[tokio::test]
async fn search_of_a_12000_item_org_returns_every_item_once() {
    let sim = sim(SimConfig { orgs: 1, items: 12_000, users: 20, groups: 4, ..SimConfig::default() }).await;
    let portal = Portal::connect(config_for(&sim, 0, &sim.orgs[0].admin)).await.expect("connect");
    let expected: HashSet<String> = sim.control().item_ids(&sim.orgs[0].url_key).into_iter().collect();
    assert_eq!(expected.len(), 12_000, "the sim must hold 12,000 items for this test to mean anything");
    let last = AtomicUsize::new(0);
    let first_total = AtomicUsize::new(usize::MAX);
    let items = portal
        .search_org_items(&|done, total| {
            let _ = first_total.compare_exchange(usize::MAX, total, Ordering::Relaxed, Ordering::Relaxed);
            last.store(done, Ordering::Relaxed);
        })
        .await
        .expect("the org search must get past the 10,000 cap");
    let ids: HashSet<String> = items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(items.len(), 12_000, "every item exactly once: no item lost past the cap, none doubled");
    assert_eq!(ids, expected, "the ids found must be exactly the org's items");
    assert!(arcgis::search::duplicate_ids(&items).is_empty(), "no duplicates");
    assert_eq!(last.load(Ordering::Relaxed), 12_000, "progress ends at the item count");
    assert_eq!(
        first_total.load(Ordering::Relaxed),
        12_000,
        "progress announces the org's true total, beyond the cap, from the start"
    );
}

#[tokio::test]
async fn a_three_second_token_keeps_a_longer_run_working() {
    let sim = sim(SimConfig { orgs: 1, items: 400, token_ttl_s: 3, latency_ms: 40, ..SimConfig::default() }).await;
    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    cfg.search_concurrency = 1;
    let portal = Portal::connect(cfg).await.expect("connect");
    let started = Instant::now();
    let mut runs = 0;
    while started.elapsed() < Duration::from_secs(7) {
        let items = portal.search_org_items(&|_, _| {}).await.expect("paging must survive token expiry");
        assert_eq!(items.len(), 400, "each run finds every item");
        runs += 1;
    }
    assert!(runs >= 2, "the run must span several token lifetimes");
    assert!(
        portal.token_renewals() >= 3,
        "a 3 s token over 7 s must have been renewed (got {} tokens)",
        portal.token_renewals()
    );
}

#[tokio::test]
async fn items_deleted_and_modified_during_paging_are_neither_lost_nor_doubled() {
    let sim = sim(SimConfig { orgs: 1, items: 1_000, ..SimConfig::default() }).await;
    let mut cfg = config_for(&sim, 0, &sim.orgs[0].admin);
    // One page at a time, so the changes land between page 1 and page 2.
    cfg.search_concurrency = 1;
    let portal = Portal::connect(cfg).await.expect("connect");
    let before = portal.search_org_items(&|_, _| {}).await.expect("first scan");
    assert_eq!(before.len(), 1_000, "the org starts with 1,000 items");
    // `before` is oldest first: the oldest 30 sit on page 1, deleting them shifts every later page.
    let doomed: Vec<String> = before.iter().take(30).map(|i| i.id.clone()).collect();
    let touched: Vec<String> = before.iter().skip(100).take(30).map(|i| i.id.clone()).collect();
    let control = sim.control();
    let fired = std::sync::atomic::AtomicBool::new(false);
    let items = portal
        .search_org_items(&|done, _| {
            if done > 0 && !fired.swap(true, Ordering::SeqCst) {
                for id in &doomed {
                    assert!(control.delete_item(id), "the sim deletes {id}");
                }
                for id in &touched {
                    assert!(control.touch_item(id), "the sim modifies {id}");
                }
            }
        })
        .await
        .expect("scan with changes under way");
    assert!(fired.load(Ordering::SeqCst), "the changes must have happened mid-scan");
    let got: HashSet<String> = items.iter().map(|i| i.id.clone()).collect();
    assert!(arcgis::search::duplicate_ids(&items).is_empty(), "no item may be returned twice");
    let survivors: HashSet<String> = sim.control().item_ids(&sim.orgs[0].url_key).into_iter().collect();
    let lost: Vec<&String> = survivors.difference(&got).collect();
    assert!(lost.is_empty(), "no surviving item may be lost when earlier items vanish mid-scan: {} lost", lost.len());
    for id in &touched {
        assert!(got.contains(id), "an item modified mid-scan must still be found once ({id})");
    }
}
