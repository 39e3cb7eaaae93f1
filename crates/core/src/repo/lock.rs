//! Repository locks: `locks/<uuid>` objects. A backup (or import) holds a shared lock, prune an
//! exclusive one. Taking a lock writes it first and then looks for conflicts, removing itself
//! when it finds one: two racing takers may both back off, never both proceed.
//!
//! Staleness is decided on one clock, the storage's: a lock is stale when the storage's
//! modification time of its object is [`LOCK_STALE_MS`] older than that of the lock just written
//! by the process that looks. Machines' clocks are never compared with each other.
//!
//! The holder renews its lock every [`LOCK_REFRESH_MS`] and keeps a lease on its own clock: the
//! lease lapses when [`LEASE_MS`] pass between the start of one successful write of the lock and
//! the end of the next (or the present). Measured that way, while the lease holds every other
//! process sees the lock fresh. [`Repository::write_snapshot`] checks the leases of the handle's
//! locks before and after it writes the snapshot record, so a writer whose renewals failed for
//! long enough that a prune may have ignored its lock never leaves a snapshot behind.
//!
//! Where the handle may not delete (an append-only repository, see `append_only`), a lock is
//! released by overwriting its record with `released: true` instead of removing it. A released
//! lock conflicts with nothing; an exclusive lock removes released locks as it removes stale ones.
//! So a backup with no-delete credentials leaves at most released lock objects behind, and never
//! blocks a later prune for the stale period.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::storage::StorageError;

use super::crypto::AAD_LOCK;
use super::error::{RepoError, RepoResult};
use super::Repository;

const LOCKS: &str = "locks";
/// The largest lock record read (records are a few hundred bytes).
const LOCK_RECORD_MAX: u64 = 16 * 1024;
/// A lock not renewed for this long (30 minutes, storage time) is stale and ignored.
pub const LOCK_STALE_MS: i64 = 30 * 60 * 1000;
/// How often a holder renews its lock (5 minutes).
pub const LOCK_REFRESH_MS: i64 = 5 * 60 * 1000;
/// How long a holder trusts its lock without a successful renewal (25 minutes): the rest of
/// [`LOCK_STALE_MS`] is the margin for writing the snapshot record after the last check.
pub const LEASE_MS: i64 = LOCK_STALE_MS - LOCK_REFRESH_MS;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LockKind {
    /// Writers (backup, import): any number at once.
    Shared,
    /// Prune: alone.
    Exclusive,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct LockRecord {
    kind: LockKind,
    host: String,
    pid: u32,
    created_ms: i64,
    refreshed_ms: i64,
    /// The holder is done and could not delete the lock (append-only); see the module docs.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    released: bool,
}

/// A holder's view of its own lock, on its own clock; see the module documentation.
#[derive(Debug)]
pub(crate) struct Lease {
    /// Clock time at which the last successful write of the lock started.
    renewed_from_ms: AtomicI64,
    lapsed: AtomicBool,
}

impl Lease {
    fn new(written_from_ms: i64) -> Lease {
        Lease { renewed_from_ms: AtomicI64::new(written_from_ms), lapsed: AtomicBool::new(false) }
    }

    /// Records a successful renewal that started at `from_ms` and ended at `now_ms`.
    fn renewed(&self, from_ms: i64, now_ms: i64) {
        if now_ms - self.renewed_from_ms.load(Ordering::SeqCst) >= LEASE_MS {
            self.lapsed.store(true, Ordering::SeqCst);
        }
        self.renewed_from_ms.store(from_ms, Ordering::SeqCst);
    }

    /// Ok when the lock was certainly fresh, for every other process, until `now_ms`.
    pub(crate) fn check(&self, now_ms: i64) -> RepoResult<()> {
        if self.lapsed.load(Ordering::SeqCst) {
            return Err(RepoError::LeaseLost("a renewal came too late".into()));
        }
        let since = now_ms - self.renewed_from_ms.load(Ordering::SeqCst);
        if since >= LEASE_MS {
            return Err(RepoError::LeaseLost(format!("last renewed {} s ago", since / 1000)));
        }
        Ok(())
    }
}

/// The leases of the locks a repository handle (and its clones) hold.
#[derive(Debug, Default)]
pub(crate) struct Leases(Mutex<Vec<Weak<Lease>>>);

impl Leases {
    fn add(&self, lease: &Arc<Lease>) {
        let mut list = self.0.lock().unwrap_or_else(|p| p.into_inner());
        list.retain(|l| l.strong_count() > 0);
        list.push(Arc::downgrade(lease));
    }

    /// Checks every held lease at `now_ms`.
    pub(crate) fn check(&self, now_ms: i64) -> RepoResult<()> {
        let held: Vec<Arc<Lease>> =
            self.0.lock().unwrap_or_else(|p| p.into_inner()).iter().filter_map(Weak::upgrade).collect();
        held.iter().try_for_each(|l| l.check(now_ms))
    }
}

/// A held lock. Release it with [`RepoLock::release`]; dropping it stops the renewals and
/// removes it in the background (best effort; a lock left behind goes stale).
pub struct RepoLock {
    repo: Repository,
    name: String,
    kind: LockKind,
    created_ms: i64,
    heartbeat: Option<JoinHandle<()>>,
    lease: Arc<Lease>,
    /// Stale locks of other processes this (exclusive) lock removed when it was taken.
    pub(crate) stale_removed: usize,
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoLock").field("name", &self.name).field("kind", &self.kind).finish()
    }
}

impl RepoLock {
    pub fn kind(&self) -> LockKind {
        self.kind
    }

    /// Ok while the lock is certainly held (its lease has not lapsed).
    pub fn check(&self) -> RepoResult<()> {
        self.lease.check(self.repo.now_ms())
    }

    /// Removes the lock, or marks it released where this handle may not delete.
    pub async fn release(mut self) -> RepoResult<()> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        let result = release_lock(&self.repo, &self.name, self.kind, self.created_ms).await;
        self.name.clear();
        result
    }
}

/// Deletes the lock `name`; where deleting is refused by the setting or by the credentials,
/// overwrites it with a released record instead.
async fn release_lock(repo: &Repository, name: &str, kind: LockKind, created_ms: i64) -> RepoResult<()> {
    let rel = format!("{LOCKS}/{name}");
    if !repo.is_append_only() {
        match repo.store().delete(&repo.path(&rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => return Ok(()),
            Err(e) => {
                let e = StorageError::from_store("delete", &rel, e);
                if !super::append_only::denies_delete(&e) {
                    return Err(e.into());
                }
            }
        }
    }
    let now = repo.now_ms();
    let record = LockRecord {
        kind,
        host: crate::jobs::holder::host_name(),
        pid: std::process::id(),
        created_ms,
        refreshed_ms: now,
        released: true,
    };
    repo.write_lock(name, &record).await
}

impl Drop for RepoLock {
    fn drop(&mut self) {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        if self.name.is_empty() {
            return;
        }
        if let Ok(rt) = tokio::runtime::Handle::try_current() {
            let repo = self.repo.clone();
            let (name, kind, created_ms) = (std::mem::take(&mut self.name), self.kind, self.created_ms);
            rt.spawn(async move {
                let _ = release_lock(&repo, &name, kind, created_ms).await;
            });
        }
    }
}

/// A lock as found in the repository.
struct StoredLock {
    name: String,
    /// `None` when unreadable.
    record: Option<LockRecord>,
    /// The storage's modification time of the lock object.
    modified_ms: i64,
}

impl Repository {
    /// Takes a lock. A shared lock is refused while a fresh exclusive lock exists; an exclusive
    /// lock while any other fresh lock exists. The refusal ([`RepoError::Locked`]) says who holds
    /// the conflicting lock and since when. An exclusive lock removes the stale locks it ignored,
    /// so their holders, should they come back, find their lock gone.
    pub async fn lock(&self, kind: LockKind) -> RepoResult<RepoLock> {
        let name = uuid::Uuid::new_v4().simple().to_string();
        let written_from = self.now_ms();
        let record = LockRecord {
            kind,
            host: crate::jobs::holder::host_name(),
            pid: std::process::id(),
            created_ms: written_from,
            refreshed_ms: written_from,
            released: false,
        };
        self.write_lock(&name, &record).await?;
        let lease = Arc::new(Lease::new(written_from));
        let mut held = RepoLock {
            repo: self.clone(),
            name: name.clone(),
            kind,
            created_ms: written_from,
            heartbeat: None,
            lease,
            stale_removed: 0,
        };
        let locks = match self.read_locks().await {
            Ok(l) => l,
            Err(e) => {
                held.release().await?;
                return Err(e);
            }
        };
        let storage_now = match locks.iter().find(|l| l.name == name) {
            Some(own) => own.modified_ms,
            None => {
                let rel = format!("{LOCKS}/{name}");
                match self.store().head(&self.path(&rel)).await {
                    Ok(meta) => meta.last_modified.timestamp_millis(),
                    Err(e) => {
                        held.release().await?;
                        return Err(StorageError::from_store("read", &rel, e).into());
                    }
                }
            }
        };
        let mut stale = Vec::new();
        for other in locks.into_iter().filter(|l| l.name != name) {
            let age = storage_now - other.modified_ms;
            if age >= LOCK_STALE_MS || other.record.as_ref().is_some_and(|r| r.released) {
                stale.push(other.name);
                continue;
            }
            let conflicts = match &other.record {
                Some(r) => kind == LockKind::Exclusive || r.kind == LockKind::Exclusive,
                None => true,
            };
            if conflicts {
                let who = match other.record {
                    Some(r) => format!(
                        "a {} lock is held by process {} on {} (renewed {} s ago)",
                        if r.kind == LockKind::Exclusive { "exclusive (prune)" } else { "shared (backup)" },
                        r.pid,
                        r.host,
                        age.max(0) / 1000
                    ),
                    None => format!("lock {LOCKS}/{} is unreadable; remove it if no OrgVault is running", other.name),
                };
                held.release().await?;
                return Err(RepoError::Locked(who));
            }
        }
        if kind == LockKind::Exclusive && !self.is_append_only() {
            for other in stale {
                let rel = format!("{LOCKS}/{other}");
                match self.store().delete(&self.path(&rel)).await {
                    Ok(()) => held.stale_removed += 1,
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(StorageError::from_store("delete", &rel, e).into()),
                }
            }
        }
        self.inner.leases.add(&held.lease);
        let repo = self.clone();
        let lease = held.lease.clone();
        let mut rec = record;
        held.heartbeat = Some(tokio::spawn(async move {
            let period = std::time::Duration::from_millis(LOCK_REFRESH_MS as u64);
            loop {
                tokio::time::sleep(period).await;
                let from = repo.now_ms();
                rec.refreshed_ms = from;
                match repo.write_lock(&name, &rec).await {
                    Ok(()) => lease.renewed(from, repo.now_ms()),
                    Err(e) => tracing::warn!(error = %e, "could not renew the repository lock"),
                }
            }
        }));
        Ok(held)
    }

    async fn write_lock(&self, name: &str, rec: &LockRecord) -> RepoResult<()> {
        let rel = format!("{LOCKS}/{name}");
        let body = serde_json::to_vec(rec).map_err(|e| RepoError::InvalidInput(e.to_string()))?;
        let body = match self.crypto() {
            Some(c) => c.seal(AAD_LOCK.to_vec(), super::blob::Encoding::Raw, &[&body]),
            None => body,
        };
        self.store()
            .put(&self.path(&rel), PutPayload::from(body))
            .await
            .map_err(|e| StorageError::from_store("write", &rel, e))?;
        Ok(())
    }

    /// Every lock with its record and the storage's modification time. Locks deleted meanwhile
    /// are skipped.
    async fn read_locks(&self) -> RepoResult<Vec<StoredLock>> {
        let metas: Vec<_> = self
            .store()
            .list(Some(&self.path(LOCKS)))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store("list", LOCKS, e))?;
        let mut out = Vec::new();
        for m in metas {
            let Some(name) = m.location.filename().map(str::to_owned) else { continue };
            match self.store().get(&m.location).await {
                Ok(got) => {
                    let modified_ms = got.meta.last_modified.timestamp_millis();
                    // A lock record is a few hundred bytes; an oversized one is unreadable (and so
                    // counts as a conflicting lock), never read whole.
                    let record = if got.meta.size > LOCK_RECORD_MAX {
                        None
                    } else {
                        got.bytes().await.ok().and_then(|b| match self.crypto() {
                            Some(c) => {
                                c.open(AAD_LOCK.to_vec(), &b).ok().and_then(|(_, p)| serde_json::from_slice(&p).ok())
                            }
                            None => serde_json::from_slice(&b).ok(),
                        })
                    };
                    out.push(StoredLock { name, record, modified_ms });
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::from_store("read", &format!("{LOCKS}/{name}"), e).into()),
            }
        }
        Ok(out)
    }
}
