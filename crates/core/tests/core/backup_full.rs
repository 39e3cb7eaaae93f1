//! A full backup holds every selected subject and verifies; the next backup of the unchanged org
//! downloads no item data and adds almost no bytes; after three items change, exactly those are
//! fetched again.

use std::collections::BTreeSet;

use orgvault_core::jobs::{JobState, Jobs, Outcome};
use orgvault_core::{NoProgress, Selection, SystemClock};
use portal_sim::model::ItemData;
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned, verify_all};
use crate::support::start_sim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_then_unchanged_then_three_changed() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 120, users: 12, groups: 6, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let mut s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;

    let first = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(first.failed, 0, "nothing fails against a healthy org: {first:?}");
    assert_eq!(first.state, JobState::Succeeded, "a backup without failures succeeds");
    let snap = first.snapshot.clone().expect("a successful backup writes a snapshot");
    assert_eq!(verify_all(&repo).await?, 1, "one snapshot, and it verifies");

    let manifest = repo.manifest(&snap).await?;
    let (want_items, want_users, want_groups) = {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let o = u.org_by_url_key(&org.url_key).expect("org");
        (
            o.items.keys().cloned().collect::<BTreeSet<_>>(),
            o.users.keys().cloned().collect::<BTreeSet<_>>(),
            o.groups.keys().cloned().collect::<BTreeSet<_>>(),
        )
    };
    let got_items: BTreeSet<String> = manifest.items.iter().map(|i| i.id.clone()).collect();
    assert_eq!(got_items, want_items, "the manifest holds every item of the org");
    let got_users: BTreeSet<String> = manifest.users.iter().map(|u| u.username.clone()).collect();
    assert_eq!(got_users, want_users, "the manifest holds every user");
    let got_groups: BTreeSet<String> = manifest.groups.iter().map(|g| g.id.clone()).collect();
    assert_eq!(got_groups, want_groups, "the manifest holds every group");
    assert!(manifest.org.portal_self.is_some(), "portals/self is kept for remapping");
    let exported = manifest.items.iter().filter(|i| i.service.as_ref().is_some_and(|s| s.export.is_some())).count();
    assert!(exported > 0, "hosted feature services carry an export of their data");
    let with_data = manifest.items.iter().filter(|i| i.data.is_some()).count();
    assert!(with_data > 50, "items' /data is stored ({with_data} of {})", manifest.items.len());

    // Second backup of the unchanged org.
    let data_before = sim.state.faults.requests_containing("/data");
    let second = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    let data_requests = sim.state.faults.requests_containing("/data") - data_before;
    assert_eq!(data_requests, 0, "an unchanged org costs no /data download");
    assert_eq!(second.data_downloads, 0, "the job itself counts no /data download");
    assert_eq!(second.reused, second.items, "every item is reused from the previous snapshot");
    assert!(
        second.bytes_new * 100 <= second.bytes_total,
        "an unchanged org adds at most 1% new bytes ({} new of {})",
        second.bytes_new,
        second.bytes_total
    );
    assert_eq!(verify_all(&repo).await?, 2, "both snapshots verify");

    // Three items with file or JSON data change.
    let touched: Vec<String> = {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let o = u.org_by_url_key(&org.url_key).expect("org");
        o.items
            .values()
            .filter(|i| i.service_name.is_none() && !matches!(i.data, ItemData::None))
            .map(|i| i.id.clone())
            .take(3)
            .collect()
    };
    assert_eq!(touched.len(), 3, "the org has three items with data to change");
    for id in &touched {
        assert!(sim.control().touch_item(id), "touch {id}");
    }
    s.rescan().await?;
    let before: Vec<u64> =
        touched.iter().map(|id| sim.state.faults.requests_containing(&format!("{id}/data"))).collect();
    let data_before = sim.state.faults.requests_containing("/data");
    let third = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(third.data_downloads, 3, "exactly the three changed items are downloaded again");
    assert_eq!(sim.state.faults.requests_containing("/data") - data_before, 3, "the portal saw three /data requests");
    for (id, b) in touched.iter().zip(before) {
        assert_eq!(
            sim.state.faults.requests_containing(&format!("{id}/data")) - b,
            1,
            "the changed item {id} is fetched once"
        );
    }
    let m3 = repo.manifest(third.snapshot.as_ref().expect("snapshot")).await?;
    let m1_touched: Vec<_> = manifest.items.iter().filter(|i| touched.contains(&i.id)).map(|i| &i.data).collect();
    let m3_touched: Vec<_> = m3.items.iter().filter(|i| touched.contains(&i.id)).map(|i| &i.data).collect();
    assert!(m1_touched.iter().zip(&m3_touched).all(|(a, b)| a != b), "the changed items reference new data blobs");
    assert_eq!(verify_all(&repo).await?, 3, "all three snapshots verify");

    let jobs = Jobs::new(&s.db, &SystemClock).items(third.job_id).await?;
    assert_eq!(
        jobs.iter().filter(|j| j.outcome.outcome == Outcome::Failed).count(),
        0,
        "the job history lists no failure"
    );
    Ok(())
}
