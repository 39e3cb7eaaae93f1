//! Downloads are capped per kind: an item file over `BackupOptions::max_file_bytes` fails that
//! item alone, with an error naming the item and the cap, and the backup goes on.

use orgvault_core::backup::{backup, BackupContext};
use orgvault_core::jobs::{JobState, Outcome};
use orgvault_core::{Selection, SystemClock};
use portal_sim::model::ItemData;
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, scanned, test_options};
use crate::support::{start_sim, Recorder};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_file_over_the_cap_fails_that_item_alone_naming_it_and_the_cap() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 60, ..SimConfig::default() }).await?;
    let s = scanned(&sim).await?;
    // Two file items: the portal now serves one of 3 MiB and one of 10 KiB.
    let (big, small) = {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let org = &mut u.orgs[0];
        let mut files =
            org.items.values_mut().filter(|i| matches!(i.data, ItemData::Generated { .. }) && i.resources.is_empty());
        let mut set = |len_to: u64| {
            let item = files.next().expect("a file item");
            if let ItemData::Generated { len, .. } = &mut item.data {
                *len = len_to;
            }
            item.id.clone()
        };
        (set(3 << 20), set(10 << 10))
    };
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let options = orgvault_core::backup::BackupOptions { max_file_bytes: 1 << 20, ..test_options() };
    let recorder = Recorder::default();
    let ctx = BackupContext {
        db: &s.db,
        portal: &s.portal,
        repo: &repo,
        identity_id: &s.identity,
        scan_id: s.scan_id,
        options: &options,
        progress: &recorder,
        cancel: CancellationToken::new(),
        clock: &SystemClock,
    };
    let selection = Selection::Explicit { items: vec![big.clone(), small.clone()], users: vec![], groups: vec![] };
    let summary = backup(&ctx, &selection).await?;

    assert_eq!(summary.state, JobState::Partial, "one item over its cap does not fail the job: it ends partial");
    assert!(summary.snapshot.is_some(), "the snapshot is written with the other item");
    assert_eq!((summary.items, summary.failed), (1, 1), "the small item is saved, the big one fails");
    let outcomes = recorder.outcomes.lock().expect("lock").clone();
    let failed = outcomes.iter().find(|o| o.id == big).expect("the big item has an outcome");
    assert_eq!(failed.outcome, Outcome::Failed, "the item over the cap failed");
    let reason = failed.reason.clone().unwrap_or_default();
    assert!(
        reason.contains(&big) && reason.contains("1 MiB") && reason.contains("item file"),
        "the error names the item, the cap and the kind: {reason}"
    );
    let saved = outcomes.iter().find(|o| o.id == small).expect("the small item has an outcome");
    assert_ne!(saved.outcome, Outcome::Failed, "the item under the cap is saved: {:?}", saved.reason);
    Ok(())
}
