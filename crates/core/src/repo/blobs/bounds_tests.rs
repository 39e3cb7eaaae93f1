//! Reading blobs from a hostile or broken store: the size recorded for a blob bounds how much
//! is decoded, whole or streamed.

use futures::StreamExt;
use object_store::ObjectStoreExt;

use super::*;
use crate::storage::StorageTarget;

async fn local_repo() -> (tempfile::TempDir, Repository) {
    let dir = tempfile::tempdir().expect("temp dir");
    let target = StorageTarget::Local { path: dir.path().join("repo") };
    let repo = Repository::open_for_backup(&target, crate::repo::InitPolicy::IfEmpty).await.expect("repository");
    (dir, repo)
}

/// Plants `stored` as the object of `blob`, as a hostile writer of the store could.
async fn plant(repo: &Repository, blob: &BlobRef, stored: Vec<u8>) {
    repo.store().put(&repo.path(&blob_path(&blob.id)), PutPayload::from(stored)).await.expect("planted");
}

/// A stored zstd object that decompresses to `len` zero bytes.
fn zstd_of_zeros(len: usize) -> Vec<u8> {
    let mut stored = blob::header(Encoding::Zstd).to_vec();
    stored.extend(zstd::bulk::compress(&vec![0u8; len], 19).expect("compress"));
    stored
}

#[tokio::test]
async fn a_zstd_bomb_is_refused_at_the_recorded_size() {
    let (_dir, repo) = local_repo().await;
    let small = vec![0u8; 100_000];
    let claimed = BlobRef { id: BlobId::of(&small), size: small.len() as u64 };
    // 256 MiB of zeros in a few KB: a whole read without a bound would hold all of it.
    plant(&repo, &claimed, zstd_of_zeros(256 * 1024 * 1024)).await;

    let err = repo.get_blob(&claimed).await.expect_err("a bomb must not read back");
    assert!(
        matches!(&err, RepoError::CorruptBlob { reason, .. } if reason.contains("more than the 100000 bytes recorded")),
        "a whole read stops at the recorded size and says so: {err}"
    );

    let mut stream = repo.get_blob_stream(&claimed).await.expect("the stream opens");
    let mut delivered = 0u64;
    let mut failure = None;
    while let Some(chunk) = stream.next().await {
        match chunk {
            Ok(c) => delivered += c.len() as u64,
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let failure = failure.expect("a streamed bomb must end in an error");
    assert!(
        failure.to_string().contains("more than the 100000 bytes recorded"),
        "the stream stops at the recorded size and says so: {failure}"
    );
    assert!(delivered <= claimed.size, "no more than the recorded size is handed out ({delivered} bytes)");
}

#[tokio::test]
async fn a_stored_object_longer_than_recorded_is_refused_before_it_is_read() {
    let (_dir, repo) = local_repo().await;
    let content = b"twelve bytes".to_vec();
    let claimed = BlobRef { id: BlobId::of(&content), size: content.len() as u64 };
    let mut stored = blob::header(Encoding::Raw).to_vec();
    stored.extend_from_slice(&content);
    stored.extend(std::iter::repeat_n(b'x', 4 * 1024 * 1024));
    plant(&repo, &claimed, stored).await;
    for err in [
        repo.get_blob(&claimed).await.expect_err("whole read"),
        repo.get_blob_stream(&claimed).await.err().expect("stream"),
    ] {
        assert!(
            err.to_string().contains("more than any encoding of the 12 content bytes recorded"),
            "a stored object longer than its recorded content is refused by its length: {err}"
        );
    }
}
