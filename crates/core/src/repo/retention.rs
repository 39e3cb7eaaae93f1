//! Retention: `forget` removes snapshot records by policy; `prune` removes the blobs no
//! remaining snapshot references, under an exclusive lock.

use std::collections::{BTreeMap, HashSet};
use std::path::Path;

use chrono::{DateTime, Datelike, Timelike, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::storage::{StorageError, StorageTarget};

use super::blob::BlobId;
use super::blobs::blob_path;
use super::error::{RepoError, RepoResult};
use super::lock::{LockKind, RepoLock};
use super::snapshot::{SnapshotId, SnapshotSummary};
use super::{staging, Repository};

const DELETE_CONCURRENCY: usize = 16;

/// Which snapshots to keep, with restic's semantics: snapshots are grouped by organization
/// (`org_id`) and, within a group, taken newest first. `keep_last` keeps the newest N; each
/// `keep_<period>` keeps the newest snapshot of each of the N most recent periods (UTC calendar
/// hours, days, ISO weeks, months, years) that have one; `keep_within_ms` keeps everything
/// younger than that. A snapshot is kept if any rule keeps it. An empty policy is refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RetentionPolicy {
    pub keep_last: Option<u32>,
    pub keep_hourly: Option<u32>,
    pub keep_daily: Option<u32>,
    pub keep_weekly: Option<u32>,
    pub keep_monthly: Option<u32>,
    pub keep_yearly: Option<u32>,
    pub keep_within_ms: Option<i64>,
}

impl RetentionPolicy {
    fn is_empty(&self) -> bool {
        [self.keep_last, self.keep_hourly, self.keep_daily, self.keep_weekly, self.keep_monthly, self.keep_yearly]
            .iter()
            .all(|n| n.unwrap_or(0) == 0)
            && self.keep_within_ms.is_none()
    }
}

/// What `forget` keeps (with the rules that keep each) and removes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ForgetPlan {
    pub keep: Vec<(SnapshotSummary, Vec<String>)>,
    pub remove: Vec<SnapshotSummary>,
}

/// Decides what a policy keeps, without touching the repository. `now_ms` only matters for
/// `keep_within_ms`.
pub fn plan_forget(snapshots: &[SnapshotSummary], policy: &RetentionPolicy, now_ms: i64) -> RepoResult<ForgetPlan> {
    if policy.is_empty() {
        return Err(RepoError::InvalidInput(
            "a retention policy needs at least one keep rule; refusing to forget every snapshot".into(),
        ));
    }
    let mut groups: BTreeMap<&str, Vec<&SnapshotSummary>> = BTreeMap::new();
    for s in snapshots {
        groups.entry(s.org_id.as_str()).or_default().push(s);
    }
    let mut plan = ForgetPlan { keep: Vec::new(), remove: Vec::new() };
    type Bucket = fn(DateTime<Utc>) -> i64;
    let periods: [(&str, Option<u32>, Bucket); 5] = [
        ("hourly", policy.keep_hourly, |t| t.date_naive().num_days_from_ce() as i64 * 24 + t.hour() as i64),
        ("daily", policy.keep_daily, |t| t.date_naive().num_days_from_ce() as i64),
        ("weekly", policy.keep_weekly, |t| {
            let w = t.iso_week();
            w.year() as i64 * 100 + w.week() as i64
        }),
        ("monthly", policy.keep_monthly, |t| t.year() as i64 * 100 + t.month() as i64),
        ("yearly", policy.keep_yearly, |t| t.year() as i64),
    ];
    for (_, mut list) in groups {
        list.sort_by(|a, b| b.time_ms.cmp(&a.time_ms).then_with(|| b.id.cmp(&a.id)));
        let mut left: Vec<u32> = periods.iter().map(|(_, n, _)| n.unwrap_or(0)).collect();
        let mut last_bucket: Vec<Option<i64>> = vec![None; periods.len()];
        let mut last_left = policy.keep_last.unwrap_or(0);
        for s in list {
            let mut reasons = Vec::new();
            if last_left > 0 {
                last_left -= 1;
                reasons.push("last".to_owned());
            }
            let t = DateTime::<Utc>::from_timestamp_millis(s.time_ms).unwrap_or_default();
            for (i, (name, _, bucket)) in periods.iter().enumerate() {
                let b = bucket(t);
                if left[i] > 0 && last_bucket[i] != Some(b) {
                    left[i] -= 1;
                    last_bucket[i] = Some(b);
                    reasons.push((*name).to_owned());
                }
            }
            if policy.keep_within_ms.is_some_and(|w| now_ms - s.time_ms <= w) {
                reasons.push("within".to_owned());
            }
            if reasons.is_empty() {
                plan.remove.push(s.clone());
            } else {
                plan.keep.push((s.clone(), reasons));
            }
        }
    }
    Ok(plan)
}

/// What `prune` removed and kept.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PruneReport {
    pub blobs_removed: u64,
    /// Stored bytes freed.
    pub bytes_removed: u64,
    pub blobs_kept: u64,
    pub bytes_kept: u64,
    /// Staging and partial-upload files of dead writers removed.
    pub temp_files_removed: u64,
    pub stale_locks_removed: u64,
}

impl Repository {
    /// Applies [`plan_forget`] to the repository's snapshots and deletes the records it
    /// removes. Blobs stay until [`Repository::prune`]. Refused with [`RepoError::AppendOnly`],
    /// before anything is removed, where this handle may not delete.
    pub async fn forget(&self, policy: &RetentionPolicy, now_ms: i64) -> RepoResult<ForgetPlan> {
        let plan = plan_forget(&self.snapshots().await?, policy, now_ms)?;
        self.require_delete("forget").await?;
        for s in &plan.remove {
            self.delete_snapshot(&s.id).await?;
            tracing::info!(snapshot = %s.id.short(), name = %s.name, "forgot snapshot");
        }
        Ok(plan)
    }

    /// Deletes the records of snapshots `ids` (each must exist; nothing is deleted otherwise) and
    /// answers them. Blobs stay until [`Repository::prune`]. Refused with
    /// [`RepoError::AppendOnly`], before anything is removed, where this handle may not delete.
    pub async fn forget_snapshots(&self, ids: &[SnapshotId]) -> RepoResult<Vec<SnapshotSummary>> {
        let mut doomed = Vec::with_capacity(ids.len());
        for id in ids {
            doomed.push(self.snapshot(id).await?);
        }
        self.require_delete("forget").await?;
        for s in &doomed {
            self.delete_snapshot(&s.id).await?;
            tracing::info!(snapshot = %s.id.short(), name = %s.name, "forgot snapshot");
        }
        Ok(doomed)
    }

    /// What [`Repository::prune`] would remove now, without removing anything or taking a lock:
    /// the counts of the report (temporary files and stale locks are not counted).
    pub async fn prune_preview(&self) -> RepoResult<PruneReport> {
        let snapshots = self.snapshot_ids().await?;
        Ok(self.unreferenced(&snapshots).await?.0)
    }

    /// The blobs no snapshot of `snapshots` references, with the report's counts.
    async fn unreferenced(&self, snapshots: &[SnapshotId]) -> RepoResult<(PruneReport, Vec<BlobId>)> {
        let mut referenced: HashSet<BlobId> = HashSet::new();
        for id in snapshots {
            let record = self.record(id).await?;
            referenced.insert(record.manifest.id.clone());
            let manifest = self.manifest(id).await?;
            referenced.extend(manifest.blob_refs().into_iter().map(|b| b.id.clone()));
        }
        let mut report = PruneReport::default();
        let mut doomed = Vec::new();
        for (id, size) in self.stored_blobs().await? {
            if referenced.contains(&id) {
                report.blobs_kept += 1;
                report.bytes_kept += size;
            } else {
                report.blobs_removed += 1;
                report.bytes_removed += size;
                doomed.push(id);
            }
        }
        Ok((report, doomed))
    }

    /// Deletes the blobs that no snapshot references, stale locks, and the staging folders and
    /// partial uploads of writers that are gone. Only names of the blob form
    /// (`data/<2 hex>/<64 hex>`, the id starting with the folder's two digits) are candidates; a
    /// symbolic link is never followed nor removed, and any other name under `data/` is left
    /// alone. Takes an exclusive lock, so it refuses to run while a backup holds a fresh shared
    /// lock ([`RepoError::Locked`]); it stops when its own lease lapses. A snapshot that cannot
    /// be read stops the prune: deleting blobs it may reference would be irreversible. Refused
    /// with [`RepoError::AppendOnly`], before any lock is taken, where this handle may not delete.
    pub async fn prune(&self) -> RepoResult<PruneReport> {
        self.require_delete("prune").await?;
        let lock = self.lock(LockKind::Exclusive).await?;
        let stale_locks_removed = lock.stale_removed as u64;
        let result = self.prune_locked(&lock).await;
        lock.release().await?;
        let mut report = result?;
        report.stale_locks_removed = stale_locks_removed;
        Ok(report)
    }

    async fn prune_locked(&self, lock: &RepoLock) -> RepoResult<PruneReport> {
        let snapshots = self.snapshot_ids().await?;
        let (mut report, doomed) = self.unreferenced(&snapshots).await?;
        // A lapsed lease means a backup may have started meanwhile, unseen.
        lock.check()?;
        futures::stream::iter(doomed.iter().map(blob_path))
            .map(|rel| async move {
                match self.store().delete(&self.path(&rel)).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(RepoError::from(StorageError::from_store("delete", &rel, e))),
                }
            })
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        self.recheck_after_prune(&snapshots, &doomed).await?;
        report.temp_files_removed = self.remove_temp_files().await?;
        tracing::info!(removed = report.blobs_removed, bytes = report.bytes_removed, "pruned");
        Ok(report)
    }

    /// Every stored blob with its stored size. A local folder is walked without following links,
    /// and only names of the blob form count; any other store is listed and filtered the same way.
    async fn stored_blobs(&self) -> RepoResult<Vec<(BlobId, u64)>> {
        if let StorageTarget::Local { path } = &self.inner.target {
            let data = path.join("data");
            return tokio::task::spawn_blocking(move || local_blobs(&data))
                .await
                .map_err(|e| RepoError::InvalidInput(format!("listing stopped: {e}")))?;
        }
        let metas: Vec<_> = self
            .store()
            .list(Some(&self.path("data")))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store("list", "data", e))?;
        Ok(metas
            .into_iter()
            .filter_map(|m| {
                let rel = self.relative(&m.location);
                let (folder, name) = rel.strip_prefix("data/")?.split_once('/')?;
                blob_name(folder, name).map(|id| (id, m.size))
            })
            .collect())
    }

    /// Snapshots written while the prune ran must not point at what it deleted (writers check
    /// their leases, so this is a last line of defence that makes a breach loud, not silent).
    async fn recheck_after_prune(&self, before: &[SnapshotId], deleted: &[BlobId]) -> RepoResult<()> {
        let before: HashSet<&SnapshotId> = before.iter().collect();
        let deleted: HashSet<&BlobId> = deleted.iter().collect();
        for id in self.snapshot_ids().await? {
            if before.contains(&id) {
                continue;
            }
            let record = self.record(&id).await?;
            let mut refs = vec![record.manifest.id.clone()];
            if let Ok(manifest) = self.manifest(&id).await {
                refs.extend(manifest.blob_refs().into_iter().map(|b| b.id.clone()));
            }
            if let Some(lost) = refs.iter().find(|b| deleted.contains(b)) {
                return Err(RepoError::IncompleteSnapshot {
                    count: refs.iter().filter(|b| deleted.contains(b)).count(),
                    first: lost.clone(),
                    part: format!("snapshot {} was written while prune ran", id.short()),
                });
            }
        }
        Ok(())
    }

    /// Dead writers' staging folders, and a local store's partial uploads (`<id>#<n>` files in
    /// the blob folders, which the store itself never lists). Only called under the exclusive lock.
    async fn remove_temp_files(&self) -> RepoResult<u64> {
        let staging_root = self.inner.staging.root().to_owned();
        let data_dir = match &self.inner.target {
            StorageTarget::Local { path } => Some(path.join("data")),
            StorageTarget::Azure { .. } | StorageTarget::S3 { .. } => None,
        };
        tokio::task::spawn_blocking(move || -> RepoResult<u64> {
            let mut removed = staging::clean_dead(&staging_root)? as u64;
            if let Some(data) = data_dir {
                removed += remove_partials(&data);
            }
            Ok(removed)
        })
        .await
        .map_err(|e| RepoError::InvalidInput(format!("cleaning stopped: {e}")))?
    }
}

/// The blob id a `data/<folder>/<name>` entry stands for, when it has the blob form.
fn blob_name(folder: &str, name: &str) -> Option<BlobId> {
    let id: BlobId = name.parse().ok()?;
    (folder.len() == 2 && id.as_str().starts_with(folder)).then_some(id)
}

/// The real sub-folders of `dir` (links are not followed) with their names.
fn real_entries(dir: &Path) -> Vec<(String, std::fs::DirEntry, std::fs::FileType)> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    entries
        .flatten()
        .filter_map(|e| {
            // `DirEntry::file_type` does not follow links.
            let kind = e.file_type().ok()?;
            let name = e.file_name().into_string().ok()?;
            (!kind.is_symlink()).then_some((name, e, kind))
        })
        .collect()
}

fn local_blobs(data: &Path) -> RepoResult<Vec<(BlobId, u64)>> {
    match data.symlink_metadata() {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(RepoError::io(data, e)),
        Ok(m) if m.file_type().is_symlink() => {
            return Err(RepoError::InvalidInput(format!(
                "{} is a symbolic link; prune does not follow links out of the repository",
                data.display()
            )))
        }
        Ok(_) => {}
    }
    let mut out = Vec::new();
    for (folder, entry, kind) in real_entries(data) {
        if !kind.is_dir() {
            continue;
        }
        for (name, file, kind) in real_entries(&entry.path()) {
            if !kind.is_file() {
                continue;
            }
            if let Some(id) = blob_name(&folder, &name) {
                let size = file.metadata().map(|m| m.len()).unwrap_or(0);
                out.push((id, size));
            }
        }
    }
    Ok(out)
}

/// Removes object_store's partial uploads, `data/<2 hex>/<64 hex>#<digits>`, without following
/// links. Returns how many.
fn remove_partials(data: &Path) -> u64 {
    if data.symlink_metadata().map(|m| m.file_type().is_symlink()).unwrap_or(true) {
        return 0;
    }
    let mut removed = 0;
    for (folder, entry, kind) in real_entries(data) {
        if !kind.is_dir() {
            continue;
        }
        for (name, file, kind) in real_entries(&entry.path()) {
            let partial = name.split_once('#').is_some_and(|(id, n)| {
                blob_name(&folder, id).is_some() && !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit())
            });
            if kind.is_file() && partial && std::fs::remove_file(file.path()).is_ok() {
                removed += 1;
            }
        }
    }
    removed
}
