//! Copying snapshots between repositories (docs/copy.md), through the repositories' logical
//! API only: the source's reader (manifest, hash-checked blob streams) and the destination's
//! writer (which computes ids and stores objects as its own format says). Nothing is copied as
//! raw files, so a copy between differently keyed repositories re-encodes every blob.
//!
//! Order, as a backup: blobs first, then the snapshot record last. A copy killed midway leaves
//! only blobs (written once, atomically); a rerun finds them present and does not send them
//! again, and the snapshot is written once: a destination snapshot with the same origin (org,
//! identity, name, time) counts as the copy, and writing the same manifest twice gives the same
//! id and no second record.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};

use futures::{StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::progress::Progress;

use super::blob::{BlobId, BlobRef};
use super::blobs::IN_MEMORY_MAX;
use super::error::{RepoError, RepoResult};
use super::lock::LockKind;
use super::snapshot::{SnapshotId, SnapshotSummary};
use super::Repository;

/// Blobs in flight at once during a copy (each streamed, so memory stays a few MiB a blob).
const COPY_CONCURRENCY: usize = 4;

/// How a repository names its blobs. Two repositories with the same scheme give equal content
/// the same id, so a copy can ask the destination "do you have it?" without reading the content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BlobIdScheme {
    /// Format 1: the SHA-256 of the content.
    Sha256,
    /// Format 2: HMAC-SHA-256 under the repository's id key, named by a fingerprint of that key
    /// (the keyed hash of a fixed label, which reveals nothing of the key or of any content).
    Keyed(String),
}

/// What one snapshot's copy did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CopyOutcome {
    /// The snapshot in the source.
    pub source: SnapshotId,
    /// The snapshot in the destination.
    pub copied: SnapshotId,
    /// The destination already had it; nothing was written.
    pub already_there: bool,
    /// Blobs written to the destination, and their content bytes.
    pub blobs_copied: u64,
    pub bytes_copied: u64,
    /// Blobs the destination already had (not transferred).
    pub blobs_present: u64,
    pub bytes_present: u64,
}

impl Repository {
    /// How this repository names its blobs (see [`BlobIdScheme`]).
    pub fn blob_id_scheme(&self) -> BlobIdScheme {
        match &self.inner.crypto {
            None => BlobIdScheme::Sha256,
            Some(crypto) => {
                BlobIdScheme::Keyed(crypto.id_hasher().id_of(b"orgvault blob id scheme").as_str().to_owned())
            }
        }
    }

    /// Copies snapshot `id` into `to`: the blobs `to` lacks, each read back from `to` and
    /// hash-checked after it is written, then the manifest (references rewritten where `to`
    /// names blobs differently) and the snapshot record, last. A snapshot `to` already has (same
    /// org, identity, name and time) is not copied again. Holds a shared lock on `to` (a prune
    /// there waits); the source is only read, so read-only credentials suffice for it.
    pub async fn copy_snapshot(
        &self,
        id: &SnapshotId,
        to: &Repository,
        progress: &dyn Progress,
    ) -> RepoResult<CopyOutcome> {
        let summary = self
            .snapshots()
            .await?
            .into_iter()
            .find(|s| &s.id == id)
            .ok_or_else(|| RepoError::SnapshotNotFound(id.to_string()))?;
        let mut outcome = CopyOutcome {
            source: id.clone(),
            copied: id.clone(),
            already_there: false,
            blobs_copied: 0,
            bytes_copied: 0,
            blobs_present: 0,
            bytes_present: 0,
        };
        if let Some(there) = to.snapshots().await?.into_iter().find(|s| same_origin(s, &summary)) {
            outcome.copied = there.id;
            outcome.already_there = true;
            return Ok(outcome);
        }
        let lock = to.lock(LockKind::Shared).await?;
        let copied = self.copy_locked(&summary, to, progress, &mut outcome).await;
        lock.release().await?;
        outcome.copied = copied?;
        Ok(outcome)
    }

    async fn copy_locked(
        &self,
        summary: &SnapshotSummary,
        to: &Repository,
        progress: &dyn Progress,
        outcome: &mut CopyOutcome,
    ) -> RepoResult<SnapshotId> {
        let mut manifest = self.manifest(&summary.id).await?;
        let same_ids = self.blob_id_scheme() == to.blob_id_scheme();
        let mut seen: HashSet<&BlobId> = HashSet::new();
        let distinct: Vec<BlobRef> = manifest.blob_refs().into_iter().filter(|b| seen.insert(&b.id)).cloned().collect();
        progress.phase(&format!("Copying snapshot {}", summary.id.short()), Some(distinct.len() as u64));
        let (copied, copied_bytes, present, present_bytes) =
            (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
        let renamed: Vec<(BlobId, BlobRef)> = futures::FutureExt::boxed(
            futures::stream::iter(distinct.iter())
                .map(|blob| async {
                    if same_ids && to.has_blob(&blob.id).await? {
                        present.fetch_add(1, Ordering::Relaxed);
                        present_bytes.fetch_add(blob.size, Ordering::Relaxed);
                        progress.advance(1);
                        return Ok(None);
                    }
                    let written = self.copy_blob(blob, to).await?;
                    copied.fetch_add(1, Ordering::Relaxed);
                    copied_bytes.fetch_add(blob.size, Ordering::Relaxed);
                    progress.advance(1);
                    progress.bytes(blob.size);
                    Ok::<_, RepoError>((written != *blob).then(|| (blob.id.clone(), written)))
                })
                .buffer_unordered(COPY_CONCURRENCY)
                .try_filter_map(|renamed| async move { Ok(renamed) })
                .try_collect::<Vec<_>>(),
        )
        .await?;
        outcome.blobs_copied = copied.into_inner();
        outcome.bytes_copied = copied_bytes.into_inner();
        outcome.blobs_present = present.into_inner();
        outcome.bytes_present = present_bytes.into_inner();
        if !renamed.is_empty() {
            let map: HashMap<BlobId, BlobRef> = renamed.into_iter().collect();
            manifest.map_blob_refs(&mut |b| map.get(&b.id).cloned().unwrap_or_else(|| b.clone()));
        }
        let written = to.write_snapshot(&manifest).await?;
        // Read back what makes the copy visible: the record and the manifest it points at.
        let back = to.manifest(&written).await?;
        if back != manifest {
            return Err(RepoError::CorruptSnapshot {
                id: written.to_string(),
                reason: "the copied manifest reads back differently from what was written".into(),
            });
        }
        Ok(written)
    }

    /// Copies one blob's content (hash-checked as it is read) into `to`, then reads it back from
    /// `to` (hash-checked again). Small blobs go through memory, larger ones are streamed.
    async fn copy_blob(&self, blob: &BlobRef, to: &Repository) -> RepoResult<BlobRef> {
        let written = if blob.size <= IN_MEMORY_MAX as u64 {
            to.put_blob_bytes(self.get_blob(blob).await?).await?
        } else {
            to.put_blob_stream(self.get_blob_stream(blob).await?).await?
        };
        if written.size != blob.size || (self.blob_id_scheme() == to.blob_id_scheme() && written.id != blob.id) {
            return Err(RepoError::CorruptBlob {
                id: written.id,
                reason: format!("copied from {} but the destination computed a different content", blob.id),
            });
        }
        let mut back = to.get_blob_stream(&written).await?;
        while let Some(chunk) = back.next().await {
            chunk?;
        }
        Ok(written)
    }
}

/// Whether two snapshots are the same backup (a copy of each other): their record's origin.
fn same_origin(a: &SnapshotSummary, b: &SnapshotSummary) -> bool {
    a.org_id == b.org_id
        && a.identity_id == b.identity_id
        && a.name == b.name
        && a.time_ms == b.time_ms
        && a.portal_url == b.portal_url
        && a.items == b.items
}
