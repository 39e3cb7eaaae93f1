//! Prune against a concurrent backup: lock staleness on the storage's clock, a writer whose lock
//! renewals failed does not write its snapshot, and a snapshot written while a prune ran never
//! points at a blob the prune deleted. The interleavings come from [`StorageClock`].

use std::sync::Arc;

use futures::FutureExt;
use orgvault_core::repo::{InitPolicy, LockKind, RepoError, Repository, LEASE_MS, LOCK_STALE_MS};
use orgvault_core::{ManualClock, NoProgress};

use super::repo_support::{local_target, stored_manifest};
use super::store_clock::StorageClock;

const T0: i64 = 1_700_000_000_000;

async fn open(
    dir: &std::path::Path,
    storage: &Arc<StorageClock>,
    clock: &Arc<ManualClock>,
) -> anyhow::Result<Repository> {
    Ok(Repository::open_for_backup_wrapped(&local_target(dir), InitPolicy::IfEmpty, clock.clone(), storage.wrap())
        .await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_judges_a_backup_lock_on_the_storage_clock_not_its_own() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    let backup =
        Repository::open_for_backup_with_clock(&target, InitPolicy::IfEmpty, Arc::new(ManualClock::new(T0))).await?;
    // The pruning machine's clock is two hours ahead of the backup machine's.
    let pruner = Repository::open_with_clock(&target, Arc::new(ManualClock::new(T0 + 4 * LOCK_STALE_MS))).await?;
    let held = backup.lock(LockKind::Shared).await?;
    let err = pruner.prune().await.expect_err("a lock renewed moments ago (storage time) is fresh");
    assert!(matches!(err, RepoError::Locked(_)), "a skewed clock must not make a live backup's lock stale: {err}");
    held.release().await?;
    pruner.prune().await?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_writer_whose_lock_was_not_renewed_does_not_write_its_snapshot() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let clock = Arc::new(ManualClock::new(T0));
    let repo =
        Repository::open_for_backup_with_clock(&local_target(dir.path()), InitPolicy::IfEmpty, clock.clone()).await?;
    let lock = repo.lock(LockKind::Shared).await?;
    let m = stored_manifest(&repo, "late", T0, 0, 2).await?;
    // Every renewal failed (no renewal succeeded) for the length of the lease.
    clock.advance(LEASE_MS);
    assert!(lock.check().is_err(), "the lease has lapsed");
    let err = repo.write_snapshot(&m).await.expect_err("a writer that lost its lock must stop");
    assert_eq!(err.code(), orgvault_core::ErrorCode::LockLost, "the refusal says the lock was lost: {err}");
    assert!(repo.snapshots().await?.is_empty(), "no snapshot is written after the lease lapsed");
    drop(lock);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_snapshot_written_while_a_prune_ran_never_points_at_deleted_blobs() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let storage = StorageClock::new();
    let clock = Arc::new(ManualClock::new(T0));
    let writer = open(dir.path(), &storage, &clock).await?;
    let pruner = open(dir.path(), &storage, &clock).await?;
    let lock = writer.lock(LockKind::Shared).await?;
    let m = stored_manifest(&writer, "raced", T0, 0, 2).await?;

    // Just before the record is written, the writer stalls (no renewal gets through) for longer
    // than a lock stays fresh, and a prune runs meanwhile and sees only stale locks.
    let (pruned_tx, pruned_rx) = tokio::sync::oneshot::channel();
    let (storage2, clock2, pruner2) = (storage.clone(), clock.clone(), pruner.clone());
    storage
        .before_next_snapshot_record(
            async move {
                storage2.advance(LOCK_STALE_MS + 1);
                clock2.advance(LOCK_STALE_MS + 1);
                let _ = pruned_tx.send(pruner2.prune().await.map(|r| r.blobs_removed).map_err(|e| e.to_string()));
            }
            .boxed(),
        )
        .await;
    let written = writer.write_snapshot(&m).await;
    let pruned = pruned_rx.await?;
    assert!(matches!(pruned, Ok(n) if n > 0), "the prune ran and deleted the unreferenced blobs: {pruned:?}");
    for s in writer.snapshots().await? {
        let report = writer.verify(&s.id, None, &NoProgress).await?;
        assert!(report.is_ok(), "a snapshot written while a prune ran must not miss blobs: {:?}", report.problems);
    }
    let err = written.expect_err("the writer must not report a snapshot the prune may have gutted");
    assert_eq!(err.code(), orgvault_core::ErrorCode::LockLost, "the writer says its lock was lost: {err}");
    assert!(writer.snapshots().await?.is_empty(), "the withdrawn snapshot is not listed");
    drop(lock);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prune_refuses_while_a_fresh_shared_lock_exists_and_stale_locks_expire() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let storage = StorageClock::new();
    let clock = Arc::new(ManualClock::new(T0));
    let backup = open(dir.path(), &storage, &clock).await?;
    let pruner = open(dir.path(), &storage, &clock).await?;

    let held = backup.lock(LockKind::Shared).await?;
    let other = backup.lock(LockKind::Shared).await?;
    other.release().await?;
    let err = pruner.prune().await.expect_err("prune must refuse while a backup holds a fresh lock");
    assert!(matches!(err, RepoError::Locked(_)), "the refusal is a lock conflict: {err}");
    assert!(err.to_string().contains("shared (backup)"), "the refusal says a backup holds the lock: {err}");
    assert!(pruner.lock(LockKind::Exclusive).await.is_err(), "an exclusive lock is refused beside a fresh shared one");

    // The backup process dies without releasing: its lock goes stale after LOCK_STALE_MS of
    // storage time.
    std::mem::forget(held);
    storage.advance(LOCK_STALE_MS + 1);
    clock.advance(LOCK_STALE_MS + 1);
    let report = pruner.prune().await?;
    assert_eq!(report.stale_locks_removed, 1, "the stale lock is removed by prune");

    let prune_lock = pruner.lock(LockKind::Exclusive).await?;
    let refused = backup.lock(LockKind::Shared).await.expect_err("a backup may not start while prune runs");
    assert!(refused.to_string().contains("exclusive (prune)"), "the refusal names prune: {refused}");
    prune_lock.release().await?;
    backup.lock(LockKind::Shared).await?.release().await?;
    Ok(())
}
