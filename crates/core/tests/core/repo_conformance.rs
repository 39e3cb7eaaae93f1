//! One suite, three backends: a local folder, Azure Blob (Azurite) and S3 (moto's server on
//! loopback). All must behave the same.

use bytes::Bytes;
use futures::{stream, TryStreamExt};
use orgvault_core::repo::{BlobId, BlobRef, InitPolicy, RepoError, Repository, RetentionPolicy};
use orgvault_core::storage::StorageTarget;
use orgvault_core::NoProgress;

use super::repo_support::{files_under, local_target, noise, stored_manifest, Azurite, S3Server};

fn chunks(data: Vec<u8>, size: usize) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> + Send {
    let parts: Vec<Result<Bytes, std::io::Error>> = data.chunks(size).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
    stream::iter(parts)
}

async fn read_all(repo: &Repository, blob: &BlobRef) -> anyhow::Result<Vec<u8>> {
    let parts: Vec<Bytes> = repo.get_blob_stream(blob).await?.try_collect().await?;
    Ok(parts.concat())
}

/// The staging files present under `root`, ignoring the per-handle lock files.
fn staged_files(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    files_under(root).into_iter().filter(|p| p.file_name().is_some_and(|n| n != ".orgvault-staging.lock")).collect()
}

async fn conformance(target: StorageTarget, staging_root: std::path::PathBuf) -> anyhow::Result<()> {
    let repo = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;

    // put / has / get, write once
    let text = Bytes::from("the same words again and again ".repeat(1000));
    let b = repo.put_blob_bytes(text.clone()).await?;
    assert_eq!(b.id, BlobId::of(&text), "a blob's id is the SHA-256 of its content");
    assert_eq!(b.size, text.len() as u64, "a blob ref records the content size");
    assert!(repo.has_blob(&b.id).await?, "a stored blob is present");
    assert_eq!(repo.get_blob(&b).await?, text, "get returns the content stored");
    let before = repo.write_stats();
    assert!(before.bytes_stored < text.len() as u64 / 4, "compressible content is stored compressed: {before:?}");
    repo.put_blob_bytes(text.clone()).await?;
    let after = repo.write_stats();
    assert_eq!(after.blobs_new, before.blobs_new, "a blob already stored is not written again");
    assert_eq!(after.blobs_existing, before.blobs_existing + 1, "the skipped write is counted as existing");
    let absent = BlobId::of(b"never stored");
    assert!(!repo.has_blob(&absent).await?, "an unknown id is absent");
    assert!(
        matches!(repo.get_blob(&BlobRef { id: absent.clone(), size: 12 }).await, Err(RepoError::MissingBlob { .. })),
        "get of an unknown id says missing"
    );

    // streams: a large incompressible blob (multipart) and a large compressible one
    let big = noise(7, 12 * 1024 * 1024 + 17);
    let big_ref = repo.put_blob_stream(chunks(big.clone(), 64 * 1024)).await?;
    assert_eq!(big_ref.id, BlobId::of(&big), "a streamed blob gets the same id as the bytes");
    assert_eq!(read_all(&repo, &big_ref).await?, big, "a streamed blob reads back intact");
    let text_big = "line of a large CSV export, 1234567890\n".repeat(300_000).into_bytes();
    let stored_before = repo.write_stats().bytes_stored;
    let tb = repo.put_blob_stream(chunks(text_big.clone(), 100_000)).await?;
    let stored = repo.write_stats().bytes_stored - stored_before;
    assert!(stored < text_big.len() as u64 / 4, "a large compressible stream is stored compressed ({stored} bytes)");
    assert_eq!(read_all(&repo, &tb).await?, text_big, "a compressed streamed blob decodes to the content");
    assert_eq!(repo.get_blob(&tb).await?.len(), text_big.len(), "whole-blob get agrees with the stream");

    // a failing source stores nothing and leaves no staging file
    let failing =
        stream::iter(vec![Ok(Bytes::from_static(b"partial")), Err(std::io::Error::other("source went away"))]);
    let err = repo.put_blob_stream(failing).await.expect_err("a failing source must fail the put");
    assert!(matches!(err, RepoError::Source(_)), "the source's failure is reported as such: {err}");
    assert!(!repo.has_blob(&BlobId::of(b"partial")).await?, "nothing is stored from a failed source");
    assert!(
        staged_files(&staging_root).is_empty(),
        "staging is empty after uploads: {:?}",
        staged_files(&staging_root)
    );

    // snapshots
    let m1 = stored_manifest(&repo, "first", 1_700_000_000_000, 0, 3).await?;
    let s1 = repo.write_snapshot(&m1).await?;
    let list = repo.snapshots().await?;
    assert_eq!(list.len(), 1, "one snapshot listed after one write");
    assert_eq!((list[0].items, list[0].users, list[0].groups), (3, 1, 1), "the summary counts the manifest");
    assert_eq!(repo.manifest(&s1).await?, m1, "the manifest reads back as written");
    assert_eq!(repo.find_snapshot(&s1.as_str()[..8]).await?, s1, "a short id finds the snapshot");
    assert_eq!(repo.write_snapshot(&m1).await?, s1, "the same manifest gives the same snapshot id");
    assert_eq!(repo.snapshots().await?.len(), 1, "writing the same manifest twice adds no snapshot");
    let report = repo.verify(&s1, None, &NoProgress).await?;
    assert!(report.is_ok(), "a fresh snapshot verifies: {:?}", report.problems);
    assert_eq!(report.blobs_checked, report.blobs_total, "a full verify reads every blob");

    // a reopened handle sees the same repository
    let again = Repository::open_for_backup(&target, InitPolicy::IfEmpty).await?;
    assert_eq!(again.id(), repo.id(), "reopening keeps the repository id");
    assert_eq!(again.snapshots().await?.len(), 1, "reopening sees the snapshot");

    // forget and prune
    let m2 = stored_manifest(&repo, "second", 1_700_086_400_000, 2, 3).await?;
    let s2 = repo.write_snapshot(&m2).await?;
    let only_first: Vec<BlobId> = {
        let keep: std::collections::HashSet<_> = m2.blob_uses().into_iter().map(|u| u.blob.id.clone()).collect();
        m1.blob_uses().into_iter().map(|u| u.blob.id.clone()).filter(|id| !keep.contains(id)).collect()
    };
    assert!(!only_first.is_empty(), "the fixture must have blobs only the first snapshot uses");
    let plan = repo.forget(&RetentionPolicy { keep_last: Some(1), ..Default::default() }, 1_800_000_000_000).await?;
    assert_eq!(
        plan.remove.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![s1.clone()],
        "keep-last 1 forgets the older"
    );
    let pruned = repo.prune().await?;
    assert!(
        pruned.blobs_removed >= only_first.len() as u64,
        "prune removes the forgotten snapshot's own blobs: {pruned:?}"
    );
    for id in &only_first {
        assert!(!repo.has_blob(id).await?, "blob {id} only the forgotten snapshot used must be pruned");
    }
    assert!(!repo.has_blob(&big_ref.id).await?, "blobs no snapshot ever referenced are pruned");
    let report = repo.verify(&s2, None, &NoProgress).await?;
    assert!(report.is_ok(), "the kept snapshot still verifies after prune: {:?}", report.problems);
    let ids: Vec<_> = repo.snapshots().await?.into_iter().map(|s| s.id).collect();
    assert_eq!(ids, vec![s2], "only the kept snapshot is listed");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_local_folder() -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    let target = local_target(dir.path());
    conformance(target, dir.path().join("repo/tmp")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_azure_blob() -> anyhow::Result<()> {
    let azurite = Azurite::start().await?;
    let cache = tempfile::tempdir()?;
    let target = azurite.target(cache.path()).await?;
    conformance(target, cache.path().join("staging")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_s3() -> anyhow::Result<()> {
    let s3 = S3Server::start().await?;
    let cache = tempfile::tempdir()?;
    let target = s3.target(cache.path()).await?;
    conformance(target, cache.path().join("staging")).await
}
