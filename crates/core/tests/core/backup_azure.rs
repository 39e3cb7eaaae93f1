//! A full backup into an Azure Blob container (Azurite, started by the test), then verify, then
//! an incremental backup that adds almost nothing.

use orgvault_core::repo::{InitPolicy, Repository};
use orgvault_core::{NoProgress, Selection};
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{run_backup, scanned, verify_all};
use crate::repo_support::Azurite;
use crate::support::start_sim;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_backup_to_azurite_verifies_and_the_next_adds_almost_nothing() -> anyhow::Result<()> {
    let azurite = Azurite::start().await?;
    let cache = tempfile::tempdir()?;
    let target = azurite.target(cache.path()).await?;
    let sim = start_sim(SimConfig { orgs: 1, items: 60, users: 8, groups: 4, ..SimConfig::default() }).await?;
    let s = scanned(&sim).await?;
    let repo = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;

    let first = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(first.failed, 0, "a backup into Azure completes: {first:?}");
    assert_eq!(first.items, sim.control().org(&sim.orgs[0].url_key).expect("org").items as u64, "every item is saved");
    assert_eq!(verify_all(&repo).await?, 1, "the snapshot in the container verifies");

    let second = run_backup(&s, &repo, &Selection::Everything, &NoProgress, CancellationToken::new()).await?;
    assert_eq!(second.data_downloads, 0, "an unchanged org downloads no item data");
    assert!(
        second.bytes_new * 100 <= second.bytes_total,
        "at most 1% new bytes ({} of {})",
        second.bytes_new,
        second.bytes_total
    );
    assert_eq!(verify_all(&repo).await?, 2, "both snapshots verify");
    // The open repository keeps its staging folder's lock file; staged blob files must be gone.
    let staged: Vec<_> = walk(cache.path()).into_iter().filter(|p| !p.ends_with(".orgvault-staging.lock")).collect();
    assert!(staged.is_empty(), "no staged file is left in the cache after the backups: {staged:?}");
    Ok(())
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = vec![];
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                stack.push(e.path());
            } else {
                out.push(e.path());
            }
        }
    }
    out
}
