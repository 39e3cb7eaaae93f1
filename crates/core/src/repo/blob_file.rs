//! A blob written piece by piece: for documents the backup composes while it downloads them
//! (the query fallback's features, page after page), so that the document is never held whole.
//!
//! The pieces go to a file in the staging folder, hashed on the way. When the writer is done,
//! content up to [`IN_MEMORY_MAX`] is read back and stored like any small blob; larger content
//! is stored from the file like a large download (compressed when it pays, uploaded in parts),
//! unless a blob with its id exists already. The file is removed whatever happens.
//!
//! No staging slot is held while the pieces are written: the writer may wait for downloads
//! that need a slot themselves (attachments), and four such writers would otherwise wait on
//! each other forever. A slot is taken for the store. So the staging folder holds at most one
//! such file per subject being backed up, besides the slotted ones.

use bytes::Bytes;
use tokio::io::AsyncWriteExt;

use super::blob::{BlobRef, SAMPLE_LEN};
use super::blobs::IN_MEMORY_MAX;
use super::crypto::IdHasher;
use super::error::{RepoError, RepoResult};
use super::staging::StagedFile;
use super::Repository;

/// A blob being written; hand it to [`Repository::put_blob_file`] to store it.
pub(crate) struct BlobFile {
    staged: StagedFile,
    out: tokio::io::BufWriter<tokio::fs::File>,
    hasher: IdHasher,
    size: u64,
    sample: Vec<u8>,
}

impl BlobFile {
    /// Appends a piece.
    pub(crate) async fn write(&mut self, piece: &[u8]) -> RepoResult<()> {
        self.out.write_all(piece).await.map_err(|e| RepoError::io(&self.staged.path, e))?;
        self.hasher.update(piece);
        self.size += piece.len() as u64;
        let keep = (SAMPLE_LEN - self.sample.len().min(SAMPLE_LEN)).min(piece.len());
        self.sample.extend_from_slice(&piece[..keep]);
        Ok(())
    }
}

impl Repository {
    /// Starts a blob written piece by piece into a staging file.
    pub(crate) async fn blob_file(&self) -> RepoResult<BlobFile> {
        let staged = self.inner.staging.new_file("doc").await?;
        let file = tokio::fs::File::create(&staged.path).await.map_err(|e| RepoError::io(&staged.path, e))?;
        Ok(BlobFile {
            staged,
            out: tokio::io::BufWriter::with_capacity(256 * 1024, file),
            hasher: self.id_hasher(),
            size: 0,
            sample: Vec::new(),
        })
    }

    /// Stores what was written to `file` as one blob (see the module documentation).
    pub(crate) async fn put_blob_file(&self, file: BlobFile) -> RepoResult<BlobRef> {
        let BlobFile { staged, mut out, hasher, size, sample } = file;
        out.flush().await.map_err(|e| RepoError::io(&staged.path, e))?;
        drop(out);
        if size <= IN_MEMORY_MAX as u64 {
            let content = tokio::fs::read(&staged.path).await.map_err(|e| RepoError::io(&staged.path, e))?;
            return self.put_blob_bytes(Bytes::from(content)).await;
        }
        let blob = BlobRef { id: hasher.finalize(), size };
        if self.has_blob(&blob.id).await? {
            self.count_existing(size);
            return Ok(blob);
        }
        let _slot = self.inner.staging.slot().await;
        self.store_staged(&blob, &staged, &sample).await?;
        Ok(blob)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::repo::blobs::tests::local_repo;
    use crate::repo::BlobId;

    /// Writes `content` in pieces of `piece` bytes and stores it.
    async fn written(repo: &Repository, content: &[u8], piece: usize) -> BlobRef {
        let mut f = repo.blob_file().await.expect("blob file");
        for p in content.chunks(piece) {
            f.write(p).await.expect("write");
        }
        repo.put_blob_file(f).await.expect("stored")
    }

    #[tokio::test]
    async fn a_blob_written_in_pieces_is_the_blob_of_its_whole_content() {
        let (dir, repo) = local_repo().await;
        let small: Vec<u8> = br#"{"layers":[]}"#.to_vec();
        let large: Vec<u8> = (0..3 * IN_MEMORY_MAX).map(|i| b"{\"a\":1},"[i % 8]).collect();
        for content in [small, large] {
            let blob = written(&repo, &content, 1000).await;
            assert_eq!(
                blob,
                BlobRef { id: BlobId::of(&content), size: content.len() as u64 },
                "id and size of the content"
            );
            assert_eq!(
                repo.get_blob(&blob).await.expect("read").as_ref(),
                content.as_slice(),
                "the content reads back"
            );
            assert_eq!(written(&repo, &content, 4096).await, blob, "the same content again is the same blob");
        }
        let leftovers: Vec<_> = walkdir(&dir.path().join("repo/tmp"));
        assert!(!leftovers.is_empty(), "the staging folder was looked at (its lock file is there)");
        assert!(
            leftovers.iter().all(|p| p.ends_with(".orgvault-staging.lock")),
            "no staging file is left behind: {leftovers:?}"
        );
    }

    fn walkdir(dir: &std::path::Path) -> Vec<String> {
        let mut out = Vec::new();
        for e in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let p = e.path();
            if p.is_dir() {
                out.extend(walkdir(&p));
            } else {
                out.push(p.display().to_string());
            }
        }
        out
    }
}
