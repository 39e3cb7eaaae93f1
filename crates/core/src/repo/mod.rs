//! The backup repository: content-addressed, write-once blobs and one manifest per snapshot,
//! in any [`StorageTarget`]. The format is specified in `docs/backup-format.md`.
//!
//! # Public API (stable; the backup job and CLI build on it)
//! ```text
//! Repository::open_or_init(&StorageTarget) -> RepoResult<Repository>          // Clone is cheap (Arc)
//! Repository::open_or_init_with_clock(&StorageTarget, Arc<dyn Clock>)         // tests pin time
//! repo.lock(LockKind::Shared | Exclusive) -> RepoResult<RepoLock>             // backup: Shared; prune takes Exclusive itself
//! RepoLock::release(self) -> RepoResult<()>                                   // dropping also releases (best effort)
//! repo.has_blob(&BlobId) -> RepoResult<bool>
//! repo.put_blob_bytes(Bytes) -> RepoResult<BlobRef>                           // hash, compress if it pays, write once
//! repo.put_blob_json(&impl Serialize) -> RepoResult<BlobRef>
//! repo.put_blob_stream(impl Stream<Item = Result<Bytes, E>>) -> RepoResult<BlobRef> // E: Into<Box<dyn Error+Send+Sync>>;
//!                                                                             // staged to a file, memory bounded
//! repo.get_blob(&BlobRef) -> RepoResult<Bytes>                                // hash- and size-checked
//! repo.get_blob_stream(&BlobRef) -> RepoResult<BlobStream>                    // size-bounded, hash-checked at the end
//! repo.write_snapshot(&Manifest) -> RepoResult<SnapshotId>                    // LAST; refuses if a referenced blob is missing
//! repo.snapshots() -> RepoResult<Vec<SnapshotSummary>>                        // oldest first
//! repo.find_snapshot("latest" | id | unique prefix) -> RepoResult<SnapshotId>
//! repo.manifest(&SnapshotId) -> RepoResult<Manifest>
//! repo.verify(&SnapshotId, sample: Option<f64>, &dyn Progress) -> RepoResult<VerifyReport> // problems by item
//! repo.forget(&RetentionPolicy, now_ms) -> RepoResult<ForgetPlan>             // removes snapshots only
//! plan_forget(&[SnapshotSummary], &RetentionPolicy, now_ms) -> RepoResult<ForgetPlan> // pure, for --dry-run
//! repo.prune() -> RepoResult<PruneReport>                                     // exclusive lock; unreferenced blobs, temp files
//! repo.export_zip(&SnapshotId, &Path) -> RepoResult<ExportReport>
//! repo.import_zip(&Path) -> RepoResult<SnapshotId>
//! repo.write_stats() -> WriteStats                                            // blobs/bytes new vs already present
//! ```
//! Types: [`BlobId`] (SHA-256 hex of the content), [`BlobRef`] `{id, size}`, [`Manifest`] with
//! [`ItemEntry`], [`UserEntry`], [`GroupEntry`], [`OrgRecord`], [`FailedEntry`]; [`SnapshotId`],
//! [`SnapshotSummary`]; [`RepoError`] (with `code()` and `is_retryable()`).
//!
//! # Invariants
//! - A blob is stored at `data/<2 hex>/<id>` and never modified; writing an existing id is a no-op.
//! - A snapshot file is written after every blob it references is stored; [`Repository::write_snapshot`]
//!   checks this itself. A crash leaves at most unreferenced blobs and staging files, which
//!   [`Repository::prune`] (and, for dead processes' staging folders, the next open) removes.
//! - Concurrent writers are safe: the same id means the same content. Prune never runs while a
//!   fresh shared lock exists.

mod blob;
mod blobs;
mod error;
mod lock;
mod manifest;
mod names;
mod retention;
mod snapshot;
mod staging;
mod verify;
mod zip_export;
mod zip_import;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload};
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::storage::{StorageError, StorageTarget};

pub use blob::{BlobId, BlobRef, Encoding};
pub use blobs::BlobStream;
pub use error::{RepoError, RepoResult};
pub use lock::{LockKind, RepoLock, LOCK_REFRESH_MS, LOCK_STALE_MS};
pub use manifest::{
    attachment_part, AttachmentEntry, BlobUse, DataEntry, DataKind, ExportMethod, FailedEntry, FileEntry, FolderRef,
    GroupEntry, ItemEntry, Manifest, NotFetched, OrgRecord, Owner, OwnerKind, RelDirection, Relationship,
    ResourceEntry, ServiceEntry, Sharing, UserEntry, MANIFEST_VERSION,
};
pub use names::sanitize_name;
pub use retention::{plan_forget, ForgetPlan, PruneReport, RetentionPolicy};
pub use snapshot::{SnapshotId, SnapshotSummary};
pub use verify::{BlobProblem, VerifyProblem, VerifyReport};
pub use zip_export::ExportReport;

const CONFIG: &str = "config";
const REPO_FORMAT: &str = "orgvault-repository";
const REPO_VERSION: u32 = 1;

/// The repository's `config` object, written once at init.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct RepoConfig {
    format: String,
    version: u32,
    id: String,
    created_ms: i64,
}

/// Counts of what this handle wrote, for "bytes new / bytes total" reports.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct WriteStats {
    /// Blobs written by this handle.
    pub blobs_new: u64,
    /// Content bytes of those blobs.
    pub bytes_new: u64,
    /// Bytes actually stored for them (after compression, with headers).
    pub bytes_stored: u64,
    /// Blobs offered that were already in the repository.
    pub blobs_existing: u64,
    /// Content bytes of those.
    pub bytes_existing: u64,
}

#[derive(Default)]
struct Counters {
    blobs_new: AtomicU64,
    bytes_new: AtomicU64,
    bytes_stored: AtomicU64,
    blobs_existing: AtomicU64,
    bytes_existing: AtomicU64,
}

/// An open repository. Cheap to clone; clones share the store, the staging folder and the
/// write counters.
#[derive(Clone)]
pub struct Repository {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn ObjectStore>,
    prefix: String,
    target: StorageTarget,
    staging: staging::Staging,
    clock: Arc<dyn Clock>,
    config: RepoConfig,
    counters: Counters,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("target", &self.inner.target.describe())
            .field("id", &self.inner.config.id)
            .finish()
    }
}

impl Repository {
    /// Opens the repository at `target`, creating it when the location is empty (a local folder
    /// is created if its parent exists; an Azure container must exist). Opening an existing
    /// repository writes nothing, so a read-only destination can be listed and verified: the
    /// staging folder is created at the first write. Staging folders left by crashed processes
    /// are removed where the destination is writable.
    pub async fn open_or_init(target: &StorageTarget) -> RepoResult<Repository> {
        Self::open_or_init_with_clock(target, Arc::new(SystemClock)).await
    }

    /// As [`Repository::open_or_init`], with the clock used for lock times and snapshot checks.
    pub async fn open_or_init_with_clock(target: &StorageTarget, clock: Arc<dyn Clock>) -> RepoResult<Repository> {
        if let StorageTarget::Local { path } = target {
            if !path.is_dir() {
                tokio::fs::create_dir(path).await.map_err(|e| {
                    StorageError::io(path, "does not exist and cannot be created (does its parent exist?)", e)
                })?;
            }
        }
        let opened = target.open()?;
        let staging = staging::Staging::open(&opened.staging_root).await?;
        let mut repo = Inner {
            store: opened.store,
            prefix: opened.prefix,
            target: target.clone(),
            staging,
            clock,
            config: RepoConfig { format: REPO_FORMAT.into(), version: REPO_VERSION, id: String::new(), created_ms: 0 },
            counters: Counters::default(),
        };
        repo.config = load_or_init_config(&repo).await?;
        Ok(Repository { inner: Arc::new(repo) })
    }

    /// The repository's id (a UUID chosen at init).
    pub fn id(&self) -> &str {
        &self.inner.config.id
    }

    /// Where the repository lives.
    pub fn target(&self) -> &StorageTarget {
        &self.inner.target
    }

    /// What this handle (and its clones) wrote so far.
    pub fn write_stats(&self) -> WriteStats {
        let c = &self.inner.counters;
        WriteStats {
            blobs_new: c.blobs_new.load(Ordering::Relaxed),
            bytes_new: c.bytes_new.load(Ordering::Relaxed),
            bytes_stored: c.bytes_stored.load(Ordering::Relaxed),
            blobs_existing: c.blobs_existing.load(Ordering::Relaxed),
            bytes_existing: c.bytes_existing.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn path(&self, rel: &str) -> ObjectPath {
        object_path(&self.inner.prefix, rel)
    }

    pub(crate) fn store(&self) -> &Arc<dyn ObjectStore> {
        &self.inner.store
    }

    pub(crate) fn now_ms(&self) -> i64 {
        self.inner.clock.now_ms()
    }

    /// Object path relative to the repository root (prefix removed).
    pub(crate) fn relative<'a>(&self, full: &'a ObjectPath) -> &'a str {
        let full = full.as_ref();
        let prefix = self.inner.prefix.trim_matches('/');
        if prefix.is_empty() {
            full
        } else {
            full.strip_prefix(prefix).map(|s| s.trim_start_matches('/')).unwrap_or(full)
        }
    }
}

fn object_path(prefix: &str, rel: &str) -> ObjectPath {
    let prefix = prefix.trim_matches('/');
    if prefix.is_empty() {
        ObjectPath::from(rel)
    } else {
        ObjectPath::from(format!("{prefix}/{rel}"))
    }
}

async fn load_or_init_config(repo: &Inner) -> RepoResult<RepoConfig> {
    let path = object_path(&repo.prefix, CONFIG);
    let read = |bytes: &[u8]| -> RepoResult<RepoConfig> {
        let cfg: RepoConfig = serde_json::from_slice(bytes)
            .map_err(|e| RepoError::Format(format!("{CONFIG} is not an OrgVault repository config: {e}")))?;
        if cfg.format != REPO_FORMAT {
            return Err(RepoError::Format(format!("{CONFIG} says format {:?}", cfg.format)));
        }
        if cfg.version > REPO_VERSION {
            return Err(RepoError::Format(format!(
                "repository version {} is newer than this OrgVault reads ({REPO_VERSION}); upgrade OrgVault",
                cfg.version
            )));
        }
        Ok(cfg)
    };
    match repo.store.get(&path).await {
        Ok(got) => {
            let bytes = got.bytes().await.map_err(|e| StorageError::from_store("read", CONFIG, e))?;
            read(&bytes)
        }
        Err(object_store::Error::NotFound { .. }) => {
            let cfg = RepoConfig {
                format: REPO_FORMAT.into(),
                version: REPO_VERSION,
                id: uuid::Uuid::new_v4().simple().to_string(),
                created_ms: repo.clock.now_ms(),
            };
            let body = serde_json::to_vec_pretty(&cfg).map_err(|e| RepoError::Format(e.to_string()))?;
            let opts = PutOptions { mode: PutMode::Create, ..Default::default() };
            match repo.store.put_opts(&path, PutPayload::from(body), opts).await {
                Ok(_) => {
                    tracing::info!(target = %repo.target.describe(), id = %cfg.id, "initialised a new repository");
                    Ok(cfg)
                }
                // Another process initialised it between our read and write: use theirs.
                Err(object_store::Error::AlreadyExists { .. }) => {
                    let got = repo.store.get(&path).await.map_err(|e| StorageError::from_store("read", CONFIG, e))?;
                    read(&got.bytes().await.map_err(|e| StorageError::from_store("read", CONFIG, e))?)
                }
                Err(e) => Err(StorageError::from_store("write", CONFIG, e).into()),
            }
        }
        Err(e) => Err(StorageError::from_store("read", CONFIG, e).into()),
    }
}
