//! Repository locks: `locks/<uuid>` objects. A backup (or import) holds a shared lock, prune an
//! exclusive one. A lock is fresh while its `refreshed_ms` is younger than [`LOCK_STALE_MS`];
//! the holder refreshes it every [`LOCK_REFRESH_MS`], so a crashed holder's lock goes stale and
//! stops blocking. Taking a lock writes it first and then looks for conflicts, removing itself
//! when it finds one: two racing takers may both back off, never both proceed.

use futures::TryStreamExt;
use object_store::{ObjectStoreExt, PutPayload};
use serde::{Deserialize, Serialize};
use tokio::task::JoinHandle;

use crate::storage::StorageError;

use super::error::{RepoError, RepoResult};
use super::Repository;

const LOCKS: &str = "locks";
/// A lock not refreshed for this long (30 minutes) is stale and ignored.
pub const LOCK_STALE_MS: i64 = 30 * 60 * 1000;
/// How often a holder refreshes its lock (5 minutes).
pub const LOCK_REFRESH_MS: i64 = 5 * 60 * 1000;

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
}

/// A held lock. Release it with [`RepoLock::release`]; dropping it stops the refresh and
/// removes it in the background (best effort; a lock left behind goes stale).
pub struct RepoLock {
    repo: Repository,
    name: String,
    kind: LockKind,
    heartbeat: Option<JoinHandle<()>>,
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

    /// Removes the lock.
    pub async fn release(mut self) -> RepoResult<()> {
        if let Some(h) = self.heartbeat.take() {
            h.abort();
        }
        let rel = format!("{LOCKS}/{}", self.name);
        let result = match self.repo.store().delete(&self.repo.path(&rel)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(StorageError::from_store("delete", &rel, e).into()),
        };
        self.name.clear();
        result
    }
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
            let path = repo.path(&format!("{LOCKS}/{}", self.name));
            rt.spawn(async move {
                let _ = repo.store().delete(&path).await;
            });
        }
    }
}

fn host() -> String {
    std::env::var("HOSTNAME").or_else(|_| std::env::var("COMPUTERNAME")).unwrap_or_else(|_| "unknown".into())
}

impl Repository {
    /// Takes a lock. A shared lock is refused while a fresh exclusive lock exists; an exclusive
    /// lock while any other fresh lock exists. The refusal ([`RepoError::Locked`]) says who holds
    /// the conflicting lock and since when.
    pub async fn lock(&self, kind: LockKind) -> RepoResult<RepoLock> {
        let name = uuid::Uuid::new_v4().simple().to_string();
        let now = self.now_ms();
        let record = LockRecord { kind, host: host(), pid: std::process::id(), created_ms: now, refreshed_ms: now };
        self.write_lock(&name, &record).await?;
        let mut held = RepoLock { repo: self.clone(), name: name.clone(), kind, heartbeat: None };
        for (other, rec) in self.read_locks().await? {
            if other == name {
                continue;
            }
            let fresh = match &rec {
                Some(r) => now - r.refreshed_ms < LOCK_STALE_MS,
                None => true,
            };
            let conflicts = match &rec {
                Some(r) => kind == LockKind::Exclusive || r.kind == LockKind::Exclusive,
                None => true,
            };
            if fresh && conflicts {
                let who = match rec {
                    Some(r) => format!(
                        "a {} lock is held by process {} on {} (refreshed {} s ago)",
                        if r.kind == LockKind::Exclusive { "exclusive (prune)" } else { "shared (backup)" },
                        r.pid,
                        r.host,
                        (now - r.refreshed_ms).max(0) / 1000
                    ),
                    None => format!("lock {LOCKS}/{other} is unreadable; remove it if no OrgVault is running"),
                };
                held.release().await?;
                return Err(RepoError::Locked(who));
            }
        }
        let repo = self.clone();
        let mut rec = record;
        held.heartbeat = Some(tokio::spawn(async move {
            let period = std::time::Duration::from_millis(LOCK_REFRESH_MS as u64);
            loop {
                tokio::time::sleep(period).await;
                rec.refreshed_ms = repo.now_ms();
                if let Err(e) = repo.write_lock(&name, &rec).await {
                    tracing::warn!(error = %e, "could not refresh the repository lock");
                }
            }
        }));
        Ok(held)
    }

    /// Removes locks that are stale at the current time; returns how many.
    pub(crate) async fn remove_stale_locks(&self) -> RepoResult<usize> {
        let now = self.now_ms();
        let mut removed = 0;
        for (name, rec) in self.read_locks().await? {
            if rec.is_some_and(|r| now - r.refreshed_ms >= LOCK_STALE_MS) {
                let rel = format!("{LOCKS}/{name}");
                match self.store().delete(&self.path(&rel)).await {
                    Ok(()) => removed += 1,
                    Err(object_store::Error::NotFound { .. }) => {}
                    Err(e) => return Err(StorageError::from_store("delete", &rel, e).into()),
                }
            }
        }
        Ok(removed)
    }

    async fn write_lock(&self, name: &str, rec: &LockRecord) -> RepoResult<()> {
        let rel = format!("{LOCKS}/{name}");
        let body = serde_json::to_vec(rec).map_err(|e| RepoError::InvalidInput(e.to_string()))?;
        self.store()
            .put(&self.path(&rel), PutPayload::from(body))
            .await
            .map_err(|e| StorageError::from_store("write", &rel, e))?;
        Ok(())
    }

    /// Every lock with its record (`None` when unreadable). Locks deleted meanwhile are skipped.
    async fn read_locks(&self) -> RepoResult<Vec<(String, Option<LockRecord>)>> {
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
                    let rec = got.bytes().await.ok().and_then(|b| serde_json::from_slice(&b).ok());
                    out.push((name, rec));
                }
                Err(object_store::Error::NotFound { .. }) => {}
                Err(e) => return Err(StorageError::from_store("read", &format!("{LOCKS}/{name}"), e).into()),
            }
        }
        Ok(out)
    }
}
