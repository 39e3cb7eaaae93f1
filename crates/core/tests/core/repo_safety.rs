//! Crash safety, corruption found by verify, and concurrent writers.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use futures::stream;
use orgvault_core::repo::{BlobProblem, InitPolicy, OwnerKind, RepoError, Repository};
use orgvault_core::NoProgress;

use super::repo_support::{files_under, local_target, noise, stored_item, stored_manifest};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crash_mid_backup_leaves_no_snapshot_and_leftovers_are_cleaned() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    let repo = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&repo, "before", 1_700_000_000_000, 0, 2).await?;
    let good = repo.write_snapshot(&m).await?;

    // A second writer dies mid-way: its task is aborted while a large blob streams in, after
    // some blobs of the next snapshot were written. (A killed process's staging folder is
    // covered by `staging_of_a_dead_process_is_removed_at_open`.)
    let crashed = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    let writer = crashed.clone();
    let task = tokio::spawn(async move {
        let _ = stored_item(&writer, "item9000", "Half done", 9000).await;
        let endless = stream::unfold(0u64, |i| async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            Some((Ok::<_, std::io::Error>(Bytes::from(noise(i, 64 * 1024))), i + 1))
        });
        let _ = writer.put_blob_stream(endless).await;
    });
    let staging = dir.path().join("repo/tmp");
    let parts = || files_under(&staging).into_iter().filter(|p| p.extension().is_some_and(|e| e == "part")).count();
    // Waited for, not timed: on a loaded machine the first blobs take a while.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while parts() == 0 && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(parts(), 1, "the interrupted upload is being staged when the crash comes");
    task.abort();
    let _ = task.await;
    assert_eq!(parts(), 0, "a cancelled upload removes its staging file");
    drop(crashed);

    let ids: Vec<_> = repo.snapshots().await?.into_iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![good.clone()], "a crash before the snapshot record leaves no new snapshot");
    let report = repo.verify(&good, None, &NoProgress).await?;
    assert!(report.is_ok(), "existing snapshots still verify after a crash: {:?}", report.problems);

    // Prune removes the orphan blobs the dead writer left.
    let pruned = repo.prune().await?;
    assert!(pruned.blobs_removed >= 4, "prune removes the blobs of the unfinished snapshot: {pruned:?}");
    assert!(repo.verify(&good, None, &NoProgress).await?.is_ok(), "the kept snapshot verifies after prune");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn staging_of_a_dead_process_is_removed_at_open() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    let repo = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    // What a killed process leaves: a staging folder with an unlocked lock file and a part file.
    let dead = dir.path().join("repo/tmp/orgvault-0123456789abcdef0123456789abcdef");
    std::fs::create_dir_all(&dead)?;
    std::fs::write(dead.join(".orgvault-staging.lock"), b"")?;
    std::fs::write(dead.join("x.part"), noise(1, 1000))?;
    // A partial upload of the local store (`<blob>#<n>`), invisible to listings.
    let partial = dir.path().join(format!("repo/data/ab/ab{}#3", "0".repeat(62)));
    std::fs::create_dir_all(partial.parent().expect("has parent"))?;
    std::fs::write(&partial, b"half")?;

    let reopened = Repository::open(&target).await?;
    assert!(!dead.exists(), "a dead process's staging folder is removed at open");
    let pruned = reopened.prune().await?;
    assert!(!partial.exists(), "prune removes partial uploads");
    assert!(pruned.temp_files_removed >= 1, "prune reports the temporary files it removed: {pruned:?}");
    drop(repo);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn opening_and_reading_write_nothing_until_the_first_staged_blob() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    let writer = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&writer, "before", 1_700_000_000_000, 0, 1).await?;
    let id = writer.write_snapshot(&m).await?;
    drop(writer);
    let everything = || files_under(&dir.path().join("repo"));
    let before = everything();

    let reader = Repository::open(&target).await?;
    assert_eq!(reader.snapshots().await?.len(), 1, "the snapshot is listed");
    assert!(reader.verify(&id, None, &NoProgress).await?.is_ok(), "and verifies");
    assert_eq!(everything(), before, "opening, listing and verifying write nothing (a read-only destination works)");

    // Content up to 1 MiB is written from memory: no staging folder yet.
    reader.put_blob_stream(stream::iter([Ok::<_, std::io::Error>(Bytes::from(noise(9, 5000)))])).await?;
    let locks =
        || everything().into_iter().filter(|p| p.file_name().is_some_and(|n| n == ".orgvault-staging.lock")).count();
    assert_eq!(locks(), 0, "a small streamed blob is not staged, so no staging folder is created");
    // The first staged (larger) blob creates the handle's staging folder, held while the handle lives.
    reader.put_blob_stream(stream::iter([Ok::<_, std::io::Error>(Bytes::from(noise(10, 1_500_000)))])).await?;
    assert_eq!(locks(), 1, "a writing handle owns one staging folder");
    drop(reader);
    assert_eq!(locks(), 0, "and removes it when closed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshot_refused_when_a_blob_is_missing() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let mut m = stored_manifest(&repo, "x", 1_700_000_000_000, 0, 2).await?;
    let ghost = orgvault_core::repo::BlobRef { id: orgvault_core::repo::BlobId::of(b"never written"), size: 13 };
    m.items[1].metadata = Some(ghost.clone());
    let err = repo.write_snapshot(&m).await.expect_err("a manifest pointing at a missing blob must be refused");
    match &err {
        RepoError::IncompleteSnapshot { first, part, .. } => {
            assert_eq!(first, &ghost.id, "the error names the missing blob");
            assert!(
                part.contains("item0001") && part.contains("metadata.xml"),
                "the error names item and part: {part}"
            );
        }
        other => panic!("expected IncompleteSnapshot, got {other}"),
    }
    assert!(repo.snapshots().await?.is_empty(), "no snapshot record is written for an incomplete manifest");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_and_missing_blobs_are_named_by_item() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let repo = Repository::open_for_backup(&local_target(dir.path()), InitPolicy::IfEmpty).await?;
    let m = stored_manifest(&repo, "x", 1_700_000_000_000, 0, 3).await?;
    let id = repo.write_snapshot(&m).await?;

    let data = &m.items[1].data.as_ref().expect("fixture has data").blob.id;
    let path = dir.path().join("repo/data").join(&data.as_str()[..2]).join(data.as_str());
    let mut bytes = std::fs::read(&path)?;
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x40;
    std::fs::write(&path, bytes)?;
    let thumb = &m.items[2].thumbnail.as_ref().expect("fixture has a thumbnail").blob.id;
    std::fs::remove_file(dir.path().join("repo/data").join(&thumb.as_str()[..2]).join(thumb.as_str()))?;

    let report = repo.verify(&id, None, &NoProgress).await?;
    assert!(!report.is_ok(), "damage must be found");
    let corrupt: Vec<_> = report.problems.iter().filter(|p| matches!(p.problem, BlobProblem::Corrupt { .. })).collect();
    assert_eq!(corrupt.len(), 1, "exactly the flipped blob is corrupt: {:?}", report.problems);
    assert_eq!(
        (
            corrupt[0].owner.kind,
            corrupt[0].owner.id.as_str(),
            corrupt[0].owner.title.as_str(),
            corrupt[0].part.as_str()
        ),
        (OwnerKind::Item, "item0001", "Map 1", "data"),
        "the corrupt blob is named by item id, title and part"
    );
    let missing: Vec<_> = report.problems.iter().filter(|p| p.problem == BlobProblem::Missing).collect();
    assert_eq!(missing.len(), 1, "exactly the deleted blob is missing: {:?}", report.problems);
    assert_eq!(
        (missing[0].owner.id.as_str(), missing[0].part.as_str()),
        ("item0002", "thumbnail"),
        "missing blob named by item"
    );

    let sampled = repo.verify(&id, Some(0.5), &NoProgress).await?;
    assert!(sampled.blobs_checked < sampled.blobs_total, "a sample reads fewer blobs than a full verify: {sampled:?}");
    assert!(repo.verify(&id, Some(0.0), &NoProgress).await.is_err(), "a zero sample is refused");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writers_with_overlapping_blobs_both_verify() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    let a = Arc::new(Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?);
    let b = Arc::new(Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?);
    let lock_a = a.lock(orgvault_core::repo::LockKind::Shared).await?;
    let lock_b = b.lock(orgvault_core::repo::LockKind::Shared).await?;
    // Items 0..8 and 4..12: items 4..8 are the same content written by both at the same time.
    let (ra, rb) = tokio::join!(
        tokio::spawn({
            let a = a.clone();
            async move { stored_manifest(&a, "a", 1_700_000_000_000, 0, 8).await }
        }),
        tokio::spawn({
            let b = b.clone();
            async move { stored_manifest(&b, "b", 1_700_000_000_001, 4, 8).await }
        }),
    );
    let (ma, mb) = (ra??, rb??);
    let (sa, sb) = tokio::join!(a.write_snapshot(&ma), b.write_snapshot(&mb));
    let (sa, sb) = (sa?, sb?);
    lock_a.release().await?;
    lock_b.release().await?;
    assert_ne!(sa, sb, "two backups give two snapshots");
    assert_eq!(a.snapshots().await?.len(), 2, "both snapshots are listed");
    for s in [&sa, &sb] {
        let report = a.verify(s, None, &NoProgress).await?;
        assert!(report.is_ok(), "snapshot {s} written concurrently verifies: {:?}", report.problems);
    }
    Ok(())
}
