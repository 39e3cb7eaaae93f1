//! The whole-org search against a mock `/search`: creation-time walks, ties, the cap.

use super::*;

#[tokio::test]
async fn keyset_walk_survives_a_millisecond_holding_more_than_a_page() {
    let (seen, portal) = mock().await;
    {
        let mut items = seen.items.lock().expect("lock");
        // 250 items created in the same millisecond (more than two pages), between ordinary ones.
        for i in 0..120 {
            items.push((format!("early{i:04}"), 1_600_000_000_000 + i * 1_000));
        }
        for i in 0..250 {
            items.push((format!("tie{i:04}"), 1_650_000_000_000));
        }
        for i in 0..130 {
            items.push((format!("late{i:04}"), 1_700_000_000_000 + i * 1_000));
        }
    }
    let got = portal.search_org_items(&|_, _| {}).await.expect("the walk must get past a page-sized tie");
    assert_eq!(got.len(), 500, "every item exactly once despite the tie");
    assert!(crate::search::duplicate_ids(&got).is_empty(), "no duplicates");
    assert!(got.windows(2).all(|w| w[0].created <= w[1].created), "results come back oldest first");
}

#[tokio::test]
async fn an_org_past_the_cap_is_returned_whole() {
    let (seen, portal) = mock().await;
    {
        let mut items = seen.items.lock().expect("lock");
        for i in 0..10_250i64 {
            items.push((format!("item{i:06}"), 1_500_000_000_000 + i * 60_000));
        }
    }
    let calls = AtomicU32::new(0);
    let got = portal
        .search_org_items(&|done, total| {
            calls.fetch_add(1, Ordering::Relaxed);
            assert!(done <= 10_250 && total == 10_250, "progress must count toward the true total: {done}/{total}");
        })
        .await
        .expect("an org of 10,250 items must be searchable");
    assert_eq!(got.len(), 10_250, "no item lost past the 10,000th");
    assert!(calls.load(Ordering::Relaxed) > 10, "progress is reported page by page");
    let past_cap = seen
        .requests
        .lock()
        .expect("lock")
        .iter()
        .filter(|(p, _, _)| p.ends_with("/search"))
        .filter(|(_, _, q)| {
            let start: usize = form_or_query(q, "start").parse().unwrap_or(1);
            let num: usize = form_or_query(q, "num").parse().unwrap_or(10);
            start + num.max(1) - 1 > 10_000
        })
        .count();
    assert_eq!(past_cap, 0, "the client never asks for results past the 10,000th");
}
