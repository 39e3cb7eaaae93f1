//! Snapshots: a small record in `snapshots/<id>` pointing at the manifest blob.

use std::collections::HashSet;
use std::fmt;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use object_store::{ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::storage::StorageError;

use super::blob::{BlobId, BlobRef, Encoding};
use super::crypto::AAD_SNAPSHOT;
use super::error::{RepoError, RepoResult};
use super::lock::{LockKind, RepoLock};
use super::manifest::Manifest;
use super::Repository;

const SNAPSHOTS: &str = "snapshots";
/// How many existence checks run at once before a snapshot is written.
const CHECK_CONCURRENCY: usize = 16;

/// A snapshot's id: the SHA-256 of its record, 64 hex digits. Short form: the first 8.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct SnapshotId(pub(crate) BlobId);

impl SnapshotId {
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The first 8 hex digits, as shown to users.
    pub fn short(&self) -> &str {
        &self.0.as_str()[..8]
    }
}

impl std::str::FromStr for SnapshotId {
    type Err = RepoError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SnapshotId(s.parse()?))
    }
}

impl fmt::Display for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Debug for SnapshotId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SnapshotId({})", self.short())
    }
}

/// The stored snapshot record: who, when, counts, and the manifest blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord {
    pub version: u32,
    pub name: String,
    pub identity_id: String,
    pub org_id: String,
    pub portal_url: String,
    pub time_ms: i64,
    pub tool_version: String,
    pub manifest: BlobRef,
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    pub failed: u64,
    /// Content bytes of the distinct blobs the snapshot references.
    pub bytes: u64,
}

/// A snapshot as listed: its id and record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotSummary {
    pub id: SnapshotId,
    pub name: String,
    pub identity_id: String,
    pub org_id: String,
    pub portal_url: String,
    pub time_ms: i64,
    pub tool_version: String,
    pub manifest: BlobRef,
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    pub failed: u64,
    pub bytes: u64,
}

impl SnapshotSummary {
    fn new(id: SnapshotId, r: SnapshotRecord) -> Self {
        SnapshotSummary {
            id,
            name: r.name,
            identity_id: r.identity_id,
            org_id: r.org_id,
            portal_url: r.portal_url,
            time_ms: r.time_ms,
            tool_version: r.tool_version,
            manifest: r.manifest,
            items: r.items,
            users: r.users,
            groups: r.groups,
            failed: r.failed,
            bytes: r.bytes,
        }
    }
}

/// The largest snapshot record read. A record is a few hundred bytes; anything near this is
/// not one, and is refused before it is read.
pub(crate) const RECORD_MAX: u64 = 64 * 1024;

impl SnapshotRecord {
    /// Parses a stored record; the error says what is wrong.
    pub(crate) fn parse(body: &[u8]) -> Result<SnapshotRecord, String> {
        serde_json::from_slice(body).map_err(|e| e.to_string())
    }
}

pub(crate) fn snapshot_path(id: &SnapshotId) -> String {
    format!("{SNAPSHOTS}/{}", id.as_str())
}

impl Repository {
    /// Writes the snapshot: checks that every blob the manifest references is stored, stores the
    /// manifest as a blob, then writes the snapshot record, the one object that makes the
    /// snapshot visible. Call it last, after all blobs are written. Writing the same manifest
    /// twice gives the same id and no second record.
    ///
    /// Against a concurrent prune: the checks run under a shared lock of their own (refused
    /// while a prune runs), and the leases of that lock and of every lock this handle holds
    /// (the backup's) are checked before and after the record is written. A lapsed lease means
    /// a prune may have ignored the lock and deleted blobs: the snapshot is then not written,
    /// or its record is removed again, and the answer is [`RepoError::LeaseLost`].
    pub async fn write_snapshot(&self, manifest: &Manifest) -> RepoResult<SnapshotId> {
        manifest.validate().map_err(|e| RepoError::InvalidInput(format!("manifest {e}")))?;
        self.inner.leases.check(self.now_ms())?;
        let lock = self.lock(LockKind::Shared).await?;
        let written = self.write_snapshot_locked(manifest, &lock).await;
        lock.release().await?;
        written
    }

    async fn write_snapshot_locked(&self, manifest: &Manifest, lock: &RepoLock) -> RepoResult<SnapshotId> {
        // Ids only: owners and part names are built for a missing blob alone (a large
        // manifest has tens of thousands of references).
        let mut distinct: HashSet<&BlobId> = HashSet::new();
        let mut bytes = 0u64;
        for b in manifest.blob_refs() {
            if distinct.insert(&b.id) {
                bytes += b.size;
            }
        }
        // Boxed: the backup future that awaits this must be provably `Send` (see `backup::write_all`).
        let missing: Vec<&BlobId> = futures::FutureExt::boxed(
            futures::stream::iter(distinct)
                .map(|id| async move { self.has_blob(id).await.map(|present| (id, present)) })
                .buffer_unordered(CHECK_CONCURRENCY)
                .try_filter_map(|(id, present)| async move { Ok((!present).then_some(id)) })
                .try_collect::<Vec<&BlobId>>(),
        )
        .await?;
        if let Some(first) = missing.iter().min() {
            let part = manifest
                .blob_uses()
                .into_iter()
                .find(|u| &u.blob.id == *first)
                .map(|u| format!("{:?} {} {}", u.owner.kind, u.owner.id, u.part).to_lowercase())
                .unwrap_or_default();
            return Err(RepoError::IncompleteSnapshot { count: missing.len(), first: (*first).clone(), part });
        }
        // Streamed: the manifest's text is never held whole (see `put_blob_serialized`).
        let manifest_blob = self.put_blob_serialized(manifest).await?;
        let record = SnapshotRecord {
            version: manifest.version,
            name: manifest.name.clone(),
            identity_id: manifest.identity_id.clone(),
            org_id: manifest.org_id.clone(),
            portal_url: manifest.portal_url.clone(),
            time_ms: manifest.time_ms,
            tool_version: manifest.tool_version.clone(),
            manifest: manifest_blob,
            items: manifest.items.len() as u64,
            users: manifest.users.len() as u64,
            groups: manifest.groups.len() as u64,
            failed: manifest.failed.len() as u64,
            bytes,
        };
        let body = serde_json::to_vec_pretty(&record).map_err(|e| RepoError::InvalidInput(e.to_string()))?;
        // Keyed in an encrypted repository, like blob ids; the record itself is sealed there.
        let id = SnapshotId(self.blob_id_of(&body));
        let body = match self.crypto() {
            Some(c) => c.seal(AAD_SNAPSHOT.to_vec(), Encoding::Raw, &[&body]),
            None => body,
        };
        let rel = snapshot_path(&id);
        let leases_hold = || lock.check().and_then(|()| self.inner.leases.check(self.now_ms()));
        leases_hold()?;
        let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
        let created = match self.store().put_opts(&self.path(&rel), PutPayload::from(Bytes::from(body)), opts).await {
            Ok(_) => true,
            Err(object_store::Error::AlreadyExists { .. }) => false,
            Err(e) => return Err(StorageError::from_store("write", &rel, e).into()),
        };
        if let Err(lost) = leases_hold() {
            if created {
                // Only this call wrote the record; a prune may have deleted what it points at.
                self.delete_snapshot(&id).await?;
            }
            tracing::warn!(snapshot = %id.short(), "snapshot withdrawn: {lost}");
            return Err(lost);
        }
        tracing::info!(snapshot = %id.short(), items = record.items, "snapshot written");
        Ok(id)
    }

    /// Every snapshot, oldest first. A record that cannot be read is skipped with a warning, so
    /// one damaged record does not hide the others; `verify` reports it.
    pub async fn snapshots(&self) -> RepoResult<Vec<SnapshotSummary>> {
        let ids = self.snapshot_ids().await?;
        let mut out: Vec<SnapshotSummary> = futures::stream::iter(ids)
            .map(|id| async move { (id.clone(), self.record(&id).await) })
            .buffer_unordered(CHECK_CONCURRENCY)
            .filter_map(|(id, r)| async move {
                match r {
                    Ok(r) => Some(SnapshotSummary::new(id, r)),
                    Err(e) => {
                        tracing::warn!(snapshot = %id.short(), error = %e, "skipping an unreadable snapshot record");
                        None
                    }
                }
            })
            .collect()
            .await;
        out.sort_by(|a, b| a.time_ms.cmp(&b.time_ms).then_with(|| a.id.cmp(&b.id)));
        Ok(out)
    }

    /// Resolves `"latest"`, a full id or a unique prefix (at least 4 hex digits).
    pub async fn find_snapshot(&self, text: &str) -> RepoResult<SnapshotId> {
        if text == "latest" {
            return self
                .snapshots()
                .await?
                .pop()
                .map(|s| s.id)
                .ok_or_else(|| RepoError::SnapshotNotFound("latest (the repository has no snapshot)".into()));
        }
        if text.len() < 4 || !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(RepoError::InvalidInput(format!(
                "{text:?} is not a snapshot id (at least 4 hex digits, or \"latest\")"
            )));
        }
        let want = text.to_ascii_lowercase();
        let matches: Vec<SnapshotId> =
            self.snapshot_ids().await?.into_iter().filter(|id| id.as_str().starts_with(&want)).collect();
        match matches.len() {
            0 => Err(RepoError::SnapshotNotFound(text.to_owned())),
            1 => Ok(matches.into_iter().next().expect("one match")),
            count => Err(RepoError::AmbiguousSnapshot { prefix: text.to_owned(), count }),
        }
    }

    /// The summary of one snapshot.
    pub async fn snapshot(&self, id: &SnapshotId) -> RepoResult<SnapshotSummary> {
        Ok(SnapshotSummary::new(id.clone(), self.record(id).await?))
    }

    /// The snapshot's manifest.
    pub async fn manifest(&self, id: &SnapshotId) -> RepoResult<Manifest> {
        let record = self.record(id).await?;
        let body = self.get_blob(&record.manifest).await.map_err(|e| match e {
            RepoError::MissingBlob { .. } | RepoError::CorruptBlob { .. } => {
                RepoError::CorruptSnapshot { id: id.to_string(), reason: format!("its manifest: {e}") }
            }
            other => other,
        })?;
        Manifest::parse(&body).map_err(|reason| RepoError::CorruptSnapshot { id: id.to_string(), reason })
    }

    pub(crate) async fn record(&self, id: &SnapshotId) -> RepoResult<SnapshotRecord> {
        let rel = snapshot_path(id);
        let got = match self.store().get(&self.path(&rel)).await {
            Ok(g) => g,
            Err(object_store::Error::NotFound { .. }) => return Err(RepoError::SnapshotNotFound(id.to_string())),
            Err(e) => return Err(StorageError::from_store("read", &rel, e).into()),
        };
        if got.meta.size > RECORD_MAX {
            return Err(RepoError::CorruptSnapshot {
                id: id.to_string(),
                reason: format!(
                    "the record is {} bytes, over the limit of {RECORD_MAX} for a snapshot record",
                    got.meta.size
                ),
            });
        }
        let stored = got.bytes().await.map_err(|e| StorageError::from_store("read", &rel, e))?;
        let body = match self.crypto() {
            Some(c) => match c.open(AAD_SNAPSHOT.to_vec(), &stored) {
                Ok((_, plain)) => Bytes::from(plain),
                Err(reason) => return Err(RepoError::CorruptSnapshot { id: id.to_string(), reason }),
            },
            None => stored,
        };
        if self.blob_id_of(&body) != id.0 {
            return Err(RepoError::CorruptSnapshot {
                id: id.to_string(),
                reason: "record does not match its id".into(),
            });
        }
        SnapshotRecord::parse(&body).map_err(|reason| RepoError::CorruptSnapshot { id: id.to_string(), reason })
    }

    pub(crate) async fn snapshot_ids(&self) -> RepoResult<Vec<SnapshotId>> {
        let prefix = self.path(SNAPSHOTS);
        let metas: Vec<_> = self
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store("list", SNAPSHOTS, e))?;
        let mut ids = HashSet::new();
        for m in metas {
            match m.location.filename().and_then(|f| f.parse::<SnapshotId>().ok()) {
                Some(id) => {
                    ids.insert(id);
                }
                None => tracing::warn!(object = %m.location, "ignoring a foreign object under snapshots/"),
            }
        }
        let mut ids: Vec<_> = ids.into_iter().collect();
        ids.sort();
        Ok(ids)
    }

    pub(crate) async fn delete_snapshot(&self, id: &SnapshotId) -> RepoResult<()> {
        let rel = snapshot_path(id);
        match self.store().delete(&self.path(&rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store("delete", &rel, e).into()),
        }
    }
}

#[cfg(test)]
mod tests;
