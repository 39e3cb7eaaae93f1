//! The backup repository: content-addressed, write-once blobs and one manifest per snapshot,
//! in any [`StorageTarget`]. The format is specified in `docs/backup-format.md`.
//!
//! # Public API (stable; the backup job and CLI build on it)
//! ```text
//! Repository::open(&StorageTarget) -> RepoResult<Repository>                  // existing only; Clone is cheap (Arc)
//! Repository::open_for_backup(&StorageTarget, InitPolicy) -> RepoResult<Repository> // creates only where empty
//! Repository::open_with_clock / open_for_backup_with_clock(.., Arc<dyn Clock>) // tests pin time
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
//! repo.set_append_only() / is_append_only()                                   // refuse every delete from now on
//! repo.delete_rights() -> RepoResult<DeleteRights>                            // probe: may this handle delete?
//! repo.copy_snapshot(&SnapshotId, to: &Repository, &dyn Progress) -> RepoResult<CopyOutcome>
//!                                                                             // only blobs `to` lacks; verified; resumable
//! ```
//! Types: [`BlobId`] (SHA-256 hex of the content), [`BlobRef`] `{id, size}`, [`Manifest`] with
//! [`ItemEntry`], [`UserEntry`], [`GroupEntry`], [`OrgRecord`], [`FailedEntry`]; [`SnapshotId`],
//! [`SnapshotSummary`]; [`RepoError`] (with `code()` and `is_retryable()`).
//!
//! # Invariants
//! - A location is a repository when it has a `config` object. Reading never creates one;
//!   a backup creates one only where the location is empty or missing, or with `--init`
//!   ([`InitPolicy::EvenIfNotEmpty`]) where none of [`OWNED_NAMES`] is taken. OrgVault writes,
//!   and deletes, only under those names.
//! - A blob is stored at `data/<2 hex>/<id>` and never modified; writing an existing id is a no-op.
//! - A snapshot file is written after every blob it references is stored; [`Repository::write_snapshot`]
//!   checks this itself. A crash leaves at most unreferenced blobs and staging files, which
//!   [`Repository::prune`] (and, for dead processes' staging folders, the next open) removes.
//! - Concurrent writers are safe: the same id means the same content. Prune never runs while a
//!   fresh shared lock exists (staleness on the storage's clock), and a writer whose lease lapsed
//!   does not leave a snapshot (see `lock`).

mod append_only;
mod blob;
mod blob_file;
mod blobs;
mod config;
mod copy;
mod crypto;
mod error;
mod keys;
mod lock;
mod manifest;
mod names;
mod retention;
mod snapshot;
mod staging;
mod verify;
mod zip_export;
mod zip_import;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arcgis::Secret;

use object_store::path::Path as ObjectPath;
use object_store::ObjectStore;
use serde::{Deserialize, Serialize};

use crate::clock::{Clock, SystemClock};
use crate::storage::{StorageError, StorageTarget};
use config::{read_config, RepoConfig};

pub use append_only::DeleteRights;
pub use blob::{BlobId, BlobRef, Encoding};
pub(crate) use blob_file::BlobFile;
pub use blobs::BlobStream;
pub use config::{InitPolicy, OWNED_NAMES};
pub use copy::{BlobIdScheme, CopyOutcome};
pub use error::{RepoError, RepoResult};
pub use keys::{KeyInfo, KeyKind};
pub use lock::{LockKind, RepoLock, LEASE_MS, LOCK_REFRESH_MS, LOCK_STALE_MS};
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
    /// The locks this handle holds, whose leases `write_snapshot` checks.
    leases: lock::Leases,
    /// Set by [`Repository::set_append_only`]: every delete is refused (see `append_only`).
    append_only: AtomicBool,
    /// The ciphers of an encrypted repository (format 2); `None` for a plain one.
    crypto: Option<Arc<crypto::Crypto>>,
    /// The key object this handle was opened with (encrypted repositories).
    key_name: Mutex<Option<String>>,
    /// The recovery key, when this handle created the repository, until it is taken.
    recovery: Mutex<Option<Secret>>,
}

/// The password a repository is opened or created with.
#[derive(Clone, Default)]
pub enum RepoKey {
    /// No password: a plain repository (format 1) is created; an encrypted one cannot be opened.
    #[default]
    None,
    /// A password: a new repository is created encrypted (format 2) with it; an existing
    /// encrypted one is opened with it; a backup refuses an existing plain one.
    Password(Secret),
}

impl std::fmt::Debug for RepoKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RepoKey::None => f.write_str("RepoKey::None"),
            RepoKey::Password(_) => f.write_str("RepoKey::Password(***)"),
        }
    }
}

/// What a location holds, read from its `config` alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RepoState {
    /// No repository (yet).
    Missing,
    /// A plain repository (format 1).
    Plain,
    /// An encrypted repository (format 2).
    Encrypted,
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
    /// Opens the existing repository at `target`, for reading or for maintenance (snapshots,
    /// verify, export, restore, forget, prune). A location without a `config` object is not a
    /// repository: the answer is [`RepoError::NotARepository`] and nothing is created or
    /// removed there. Opening writes nothing; the staging folder is created at the first write.
    /// Staging folders that OrgVault made and whose process is gone are removed where the
    /// destination is writable.
    /// An encrypted repository needs [`Repository::open_with_key`].
    pub async fn open(target: &StorageTarget) -> RepoResult<Repository> {
        Self::open_with_key(target, &RepoKey::None).await
    }

    /// As [`Repository::open`], with the password of an encrypted repository (ignored by a
    /// plain one: reading it writes nothing).
    pub async fn open_with_key(target: &StorageTarget, key: &RepoKey) -> RepoResult<Repository> {
        Self::open_keyed_with_clock(target, key, Arc::new(SystemClock)).await
    }

    /// As [`Repository::open`], with the clock used for lock leases and snapshot checks.
    pub async fn open_with_clock(target: &StorageTarget, clock: Arc<dyn Clock>) -> RepoResult<Repository> {
        Self::open_keyed_with_clock(target, &RepoKey::None, clock).await
    }

    async fn open_keyed_with_clock(
        target: &StorageTarget,
        key: &RepoKey,
        clock: Arc<dyn Clock>,
    ) -> RepoResult<Repository> {
        let not_a_repository = || RepoError::NotARepository { location: target.describe() };
        if let StorageTarget::Local { path } = target {
            if !path.is_dir() {
                return Err(not_a_repository());
            }
        }
        let opened = target.open()?;
        let config = read_config(opened.store.as_ref(), &opened.prefix).await?.ok_or_else(not_a_repository)?;
        let unlocked = Self::unlock(target, &opened, &config, key).await?;
        Self::assemble(target, opened, config, clock, unlocked).await
    }

    /// Whether `target` holds a repository and whether it is encrypted; reads `config` only.
    pub async fn state(target: &StorageTarget) -> RepoResult<RepoState> {
        if let StorageTarget::Local { path } = target {
            if !path.is_dir() {
                return Ok(RepoState::Missing);
            }
        }
        let opened = target.open()?;
        Ok(match read_config(opened.store.as_ref(), &opened.prefix).await? {
            None => RepoState::Missing,
            Some(c) if c.encrypted() => RepoState::Encrypted,
            Some(_) => RepoState::Plain,
        })
    }

    /// The master key of an encrypted repository, from the key object `key` opens.
    async fn unlock(
        target: &StorageTarget,
        opened: &crate::storage::OpenedTarget,
        config: &RepoConfig,
        key: &RepoKey,
    ) -> RepoResult<Option<(crypto::MasterKey, String)>> {
        if !config.encrypted() {
            return Ok(None);
        }
        let RepoKey::Password(password) = key else {
            return Err(RepoError::PasswordRequired { location: target.describe() });
        };
        let store = opened.store.as_ref();
        keys::unlock(store, &opened.prefix, &config.id, &target.describe(), password).await.map(Some)
    }

    /// Opens the repository a backup writes to, creating it when the location is a missing
    /// folder (its parent must exist), an empty folder or an empty Azure prefix (the container
    /// must exist). A location that holds anything but a repository is refused with
    /// [`RepoError::DestinationNotEmpty`] unless `init` is [`InitPolicy::EvenIfNotEmpty`], and
    /// even then when one of the names a repository uses ([`OWNED_NAMES`]) is taken.
    /// Creates a plain repository (format 1); see [`Repository::open_for_backup_with_key`].
    pub async fn open_for_backup(target: &StorageTarget, init: InitPolicy) -> RepoResult<Repository> {
        Self::open_for_backup_with_clock(target, init, Arc::new(SystemClock)).await
    }

    /// As [`Repository::open_for_backup`]; with [`RepoKey::Password`] a new repository is
    /// encrypted (format 2; its recovery key is then in [`Repository::recovery_key`]), an
    /// existing encrypted one is opened with the password, and an existing plain one is refused
    /// ([`RepoError::NotEncrypted`]) so nothing unencrypted is written where encryption was
    /// expected.
    pub async fn open_for_backup_with_key(
        target: &StorageTarget,
        init: InitPolicy,
        key: &RepoKey,
    ) -> RepoResult<Repository> {
        Self::open_for_backup_keyed(target, init, key, Arc::new(SystemClock), |store| store).await
    }

    /// As [`Repository::open_for_backup`], with the clock used for lock leases and snapshot checks.
    pub async fn open_for_backup_with_clock(
        target: &StorageTarget,
        init: InitPolicy,
        clock: Arc<dyn Clock>,
    ) -> RepoResult<Repository> {
        Self::open_for_backup_wrapped(target, init, clock, |store| store).await
    }

    /// For tests: as [`Repository::open_for_backup_with_clock`], with the store wrapped (to
    /// inject faults, interleave operations or move the storage's clock).
    #[doc(hidden)]
    pub async fn open_for_backup_wrapped(
        target: &StorageTarget,
        init: InitPolicy,
        clock: Arc<dyn Clock>,
        wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> RepoResult<Repository> {
        Self::open_for_backup_keyed(target, init, &RepoKey::None, clock, wrap).await
    }

    /// For tests: as [`Repository::open_for_backup_with_key`], with a clock and a wrapped store.
    #[doc(hidden)]
    pub async fn open_for_backup_keyed(
        target: &StorageTarget,
        init: InitPolicy,
        key: &RepoKey,
        clock: Arc<dyn Clock>,
        wrap: impl FnOnce(Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore>,
    ) -> RepoResult<Repository> {
        if let StorageTarget::Local { path } = target {
            if !path.exists() {
                tokio::fs::create_dir(path).await.map_err(|e| {
                    StorageError::io(path, "does not exist and cannot be created (does its parent exist?)", e)
                })?;
            }
        }
        let mut opened = target.open()?;
        opened.store = wrap(opened.store);
        let store = opened.store.as_ref();
        let mut created = None;
        let config = match read_config(store, &opened.prefix).await? {
            Some(config) => config,
            None => {
                let location = target.describe();
                if !config::is_empty(store, &opened.prefix, target).await? {
                    if init == InitPolicy::IfEmpty {
                        return Err(RepoError::DestinationNotEmpty {
                            location: location.clone(),
                            reason: format!(
                                "it is not empty and is not an OrgVault repository; back up into a new or empty \
                                 sub-folder (for example {}), or pass --init to create the repository here",
                                suggested_subfolder(target)
                            ),
                        });
                    }
                    if let Some(name) = config::taken_name(store, &opened.prefix, target).await? {
                        return Err(RepoError::DestinationNotEmpty {
                            location,
                            reason: format!(
                                "it already holds {name:?}, a name an OrgVault repository uses; back up into a \
                                 new or empty sub-folder (for example {})",
                                suggested_subfolder(target)
                            ),
                        });
                    }
                }
                let password = match key {
                    RepoKey::Password(p) => Some(p),
                    RepoKey::None => None,
                };
                let fresh = RepoConfig::new(clock.now_ms(), password.is_some());
                let sealed = match password {
                    Some(password) => {
                        let (id, now, password) = (fresh.id.clone(), clock.now_ms(), password.clone());
                        let master = crypto::MasterKey::generate();
                        let m = master.clone();
                        let (bodies, recovery) =
                            tokio::task::spawn_blocking(move || keys::seal_new_keys(&id, &m, &password, now))
                                .await
                                .map_err(|e| RepoError::InvalidInput(format!("key derivation stopped: {e}")))??;
                        Some((master, bodies, recovery))
                    }
                    None => None,
                };
                let (config, won) = config::write_config_of(store, &opened.prefix, target, fresh).await?;
                if let (true, Some((master, bodies, recovery))) = (won, sealed) {
                    let name = keys::write_new_keys(store, &opened.prefix, bodies).await?;
                    created = Some((master, name, recovery));
                }
                config
            }
        };
        if let (RepoKey::Password(_), false) = (key, config.encrypted()) {
            return Err(RepoError::NotEncrypted { location: target.describe() });
        }
        let (unlocked, recovery) = match created {
            Some((master, name, recovery)) => (Some((master, name)), Some(recovery)),
            None => (Self::unlock(target, &opened, &config, key).await?, None),
        };
        let repo = Self::assemble(target, opened, config, clock, unlocked).await?;
        *repo.inner.recovery.lock().unwrap_or_else(|p| p.into_inner()) = recovery;
        Ok(repo)
    }

    async fn assemble(
        target: &StorageTarget,
        opened: crate::storage::OpenedTarget,
        config: RepoConfig,
        clock: Arc<dyn Clock>,
        unlocked: Option<(crypto::MasterKey, String)>,
    ) -> RepoResult<Repository> {
        let staging = staging::Staging::open(&opened.staging_root).await?;
        let (crypto, key_name) = match unlocked {
            Some((master, name)) => (Some(Arc::new(crypto::Crypto::new(master))), Some(name)),
            None => (None, None),
        };
        let inner = Inner {
            store: opened.store,
            prefix: opened.prefix,
            target: target.clone(),
            staging,
            clock,
            config,
            counters: Counters::default(),
            leases: lock::Leases::default(),
            append_only: AtomicBool::new(false),
            crypto,
            key_name: Mutex::new(key_name),
            recovery: Mutex::new(None),
        };
        Ok(Repository { inner: Arc::new(inner) })
    }

    /// The repository's id (a UUID chosen at init).
    pub fn id(&self) -> &str {
        &self.inner.config.id
    }

    /// Whether the repository is encrypted (format 2).
    pub fn is_encrypted(&self) -> bool {
        self.inner.crypto.is_some()
    }

    /// The blob id hasher of this repository: SHA-256, or HMAC-SHA-256 when encrypted.
    pub(crate) fn id_hasher(&self) -> crypto::IdHasher {
        match &self.inner.crypto {
            Some(c) => c.id_hasher(),
            None => crypto::IdHasher::plain(),
        }
    }

    /// The id `content` has in this repository.
    pub fn blob_id_of(&self, content: &[u8]) -> BlobId {
        self.id_hasher().id_of(content)
    }

    pub(crate) fn crypto(&self) -> Option<&crypto::Crypto> {
        self.inner.crypto.as_deref()
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

/// A sub-folder to suggest when a destination is not empty.
fn suggested_subfolder(target: &StorageTarget) -> String {
    match target {
        StorageTarget::Local { path } => path.join("orgvault-backups").display().to_string(),
        StorageTarget::Azure { container, prefix, .. } => {
            format!("az://{}/orgvault-backups", [container.as_str(), prefix.as_str()].join("/").trim_end_matches('/'))
        }
        StorageTarget::S3 { conn, prefix, .. } => {
            format!("s3://{}/orgvault-backups", [conn.bucket.as_str(), prefix.as_str()].join("/").trim_end_matches('/'))
        }
    }
}
