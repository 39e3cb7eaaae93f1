//! A subject that fails makes the job partial (the snapshot holds the rest); "retry failed
//! items" then backs up exactly that subject in a new job.

use orgvault_core::backup::{retry_failed, BackupContext};
use orgvault_core::jobs::{JobState, Jobs, Outcome};
use orgvault_core::{NoProgress, Selection, SystemClock};
use portal_sim::model::Resource;
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned, test_options, verify_all};
use crate::support::start_sim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_item_makes_the_job_partial_and_retry_fetches_just_it() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 40, ..SimConfig::default() }).await?;
    // A resource whose path cannot be requested: the client refuses it, a permanent failure.
    let broken = {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let item = u.orgs[0].items.values_mut().find(|i| i.service_name.is_none()).expect("an item");
        item.resources.push(Resource { path: "a/../escape.txt".into(), len: 10, created: 0, bytes: None });
        item.id.clone()
    };
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let first = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(first.state, JobState::Partial, "one failed subject makes the job partial");
    assert_eq!(first.failed, 1, "exactly the broken item failed");
    let manifest = repo.manifest(first.snapshot.as_ref().expect("a partial job still writes a snapshot")).await?;
    assert!(manifest.items.iter().all(|i| i.id != broken), "the failed item has no entry");
    assert_eq!(manifest.failed.len(), 1, "the manifest lists the failure");
    assert_eq!(manifest.failed[0].id, broken, "naming the item");
    let history = Jobs::new(&s.db, &SystemClock).items(first.job_id).await?;
    let failed: Vec<_> = history.iter().filter(|j| j.outcome.outcome == Outcome::Failed).collect();
    assert_eq!(failed.len(), 1, "the job history records one failure");
    assert!(failed[0].outcome.reason.as_deref().is_some_and(|r| r.contains("escape.txt")), "with its reason");

    {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let item = u.orgs[0].items.get_mut(&broken).expect("item");
        item.resources.retain(|r| !r.path.contains(".."));
    }
    let options = test_options();
    let ctx = BackupContext {
        db: &s.db,
        portal: &s.portal,
        repo: &repo,
        identity_id: &s.identity,
        scan_id: s.scan_id,
        options: &options,
        progress: &NoProgress,
        cancel: CancellationToken::new(),
        clock: &SystemClock,
    };
    let retry = retry_failed(&ctx, first.job_id).await?;
    assert_ne!(retry.job_id, first.job_id, "the retry is a new job");
    assert_eq!(
        (retry.state, retry.items, retry.users, retry.groups),
        (JobState::Succeeded, 1, 0, 0),
        "just the failed item"
    );
    let m = repo.manifest(retry.snapshot.as_ref().expect("snapshot")).await?;
    assert_eq!(
        m.items.iter().map(|i| i.id.as_str()).collect::<Vec<_>>(),
        vec![broken.as_str()],
        "the retry holds that item"
    );
    assert_eq!(verify_all(&repo).await?, 2, "both snapshots verify");
    Ok(())
}
