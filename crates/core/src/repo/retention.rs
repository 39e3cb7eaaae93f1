//! Retention: `forget` removes snapshot records by policy; `prune` removes the blobs no
//! remaining snapshot references, under an exclusive lock.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, Datelike, Timelike, Utc};
use futures::{StreamExt, TryStreamExt};
use object_store::ObjectStoreExt;
use serde::{Deserialize, Serialize};

use crate::storage::{StorageError, StorageTarget};

use super::blob::BlobId;
use super::error::{RepoError, RepoResult};
use super::lock::LockKind;
use super::snapshot::SnapshotSummary;
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
    /// removes. Blobs stay until [`Repository::prune`].
    pub async fn forget(&self, policy: &RetentionPolicy, now_ms: i64) -> RepoResult<ForgetPlan> {
        let plan = plan_forget(&self.snapshots().await?, policy, now_ms)?;
        for s in &plan.remove {
            self.delete_snapshot(&s.id).await?;
            tracing::info!(snapshot = %s.id.short(), name = %s.name, "forgot snapshot");
        }
        Ok(plan)
    }

    /// Deletes every blob that no snapshot references, stale locks, and the temporary files of
    /// writers that are gone. Takes an exclusive lock, so it refuses to run while a backup holds
    /// a fresh shared lock ([`RepoError::Locked`]). A snapshot that cannot be read stops the
    /// prune: deleting blobs it may reference would be irreversible.
    pub async fn prune(&self) -> RepoResult<PruneReport> {
        let stale_locks_removed = self.remove_stale_locks().await? as u64;
        let lock = self.lock(LockKind::Exclusive).await?;
        let result = self.prune_locked().await;
        lock.release().await?;
        let mut report = result?;
        report.stale_locks_removed = stale_locks_removed;
        Ok(report)
    }

    async fn prune_locked(&self) -> RepoResult<PruneReport> {
        let mut referenced: HashSet<BlobId> = HashSet::new();
        for id in self.snapshot_ids().await? {
            let record = self.record(&id).await?;
            referenced.insert(record.manifest.id.clone());
            let manifest = self.manifest(&id).await?;
            referenced.extend(manifest.blob_refs().into_iter().map(|b| b.id.clone()));
        }
        let prefix = self.path("data");
        let metas: Vec<_> = self
            .store()
            .list(Some(&prefix))
            .try_collect()
            .await
            .map_err(|e| StorageError::from_store("list", "data", e))?;
        let mut report = PruneReport::default();
        let mut doomed = Vec::new();
        for m in metas {
            let keep =
                m.location.filename().and_then(|f| f.parse::<BlobId>().ok()).is_some_and(|id| referenced.contains(&id));
            if keep {
                report.blobs_kept += 1;
                report.bytes_kept += m.size;
            } else {
                report.blobs_removed += 1;
                report.bytes_removed += m.size;
                doomed.push(m.location);
            }
        }
        futures::stream::iter(doomed)
            .map(|path| async move {
                match self.store().delete(&path).await {
                    Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
                    Err(e) => Err(RepoError::from(StorageError::from_store("delete", self.relative(&path), e))),
                }
            })
            .buffer_unordered(DELETE_CONCURRENCY)
            .try_collect::<Vec<()>>()
            .await?;
        report.temp_files_removed = self.remove_temp_files().await?;
        tracing::info!(removed = report.blobs_removed, bytes = report.bytes_removed, "pruned");
        Ok(report)
    }

    /// Dead writers' staging folders, and a local store's partial uploads (`<name>#<n>` files,
    /// which the store itself never lists). Only called under the exclusive lock.
    async fn remove_temp_files(&self) -> RepoResult<u64> {
        let staging_root = self.inner.staging.root().to_owned();
        let data_dir = match &self.inner.target {
            StorageTarget::Local { path } => Some(path.join("data")),
            StorageTarget::Azure { .. } => None,
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

fn remove_partials(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    let mut removed = 0;
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            removed += remove_partials(&path);
        } else if entry.file_name().to_string_lossy().contains('#') && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}
