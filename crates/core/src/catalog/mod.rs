//! The catalog: what one scan found in an organization, in SQLite. Every row belongs to a scan
//! (`scans` table), so catalogs of successive scans live side by side and deleting a scan
//! removes its rows (foreign keys cascade).
//!
//! Invariants:
//! - a scan is `running` while written, then `complete`, `cancelled` (partial rows kept and
//!   marked so) or `failed`; readers should prefer the latest `complete` scan;
//! - item, user and group rows keep the portal's whole JSON as text, so a backup can write it
//!   out without another request; no row ever holds a token or password;
//! - writes come in batches, one transaction per batch.

mod query;
mod write;

pub use query::{CatalogCounts, ItemSummary, Member, MemberType, Problem, StoredReference};
pub use write::{FolderRow, GroupRow, ItemRow, ServiceInfo, UserRow};

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::db::Db;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ScanState {
    Running,
    Complete,
    Cancelled,
    Failed,
}

impl ScanState {
    fn as_str(self) -> &'static str {
        match self {
            ScanState::Running => "running",
            ScanState::Complete => "complete",
            ScanState::Cancelled => "cancelled",
            ScanState::Failed => "failed",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "running" => ScanState::Running,
            "complete" => ScanState::Complete,
            "cancelled" => ScanState::Cancelled,
            "failed" => ScanState::Failed,
            other => return Err(Error::Corrupt(format!("scans.state {other:?}"))),
        })
    }
}

/// One scan of one organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScanRecord {
    pub id: i64,
    pub identity_id: String,
    pub job_id: Option<i64>,
    pub org_id: String,
    pub started_ms: i64,
    pub finished_ms: Option<i64>,
    pub state: ScanState,
    /// What the scan counted (all zero until it finished).
    pub counts: crate::jobs::ScanCounts,
}

/// Access to the catalogs of one database.
#[derive(Debug, Clone, Copy)]
pub struct Catalog<'a> {
    db: &'a Db,
}

impl<'a> Catalog<'a> {
    pub fn new(db: &'a Db) -> Self {
        Self { db }
    }

    /// Opens a new, empty catalog in state `running`.
    pub async fn create_scan(&self, identity_id: &str, org_id: &str, job_id: Option<i64>, now_ms: i64) -> Result<i64> {
        let id = sqlx::query(
            "INSERT INTO scans (identity_id, job_id, org_id, started_ms, state) VALUES (?, ?, ?, ?, 'running')",
        )
        .bind(identity_id)
        .bind(job_id)
        .bind(org_id)
        .bind(now_ms)
        .execute(self.db.pool())
        .await?
        .last_insert_rowid();
        Ok(id)
    }

    /// Closes a catalog in its final state with its tallies.
    pub async fn finish_scan(
        &self,
        scan_id: i64,
        state: ScanState,
        counts: &crate::jobs::ScanCounts,
        now_ms: i64,
    ) -> Result<()> {
        sqlx::query("UPDATE scans SET state = ?, finished_ms = ?, counts = ? WHERE id = ?")
            .bind(state.as_str())
            .bind(now_ms)
            .bind(serde_json::to_string(counts).unwrap_or_else(|_| "{}".to_owned()))
            .bind(scan_id)
            .execute(self.db.pool())
            .await?;
        Ok(())
    }

    pub async fn scan(&self, scan_id: i64) -> Result<ScanRecord> {
        let row = sqlx::query("SELECT * FROM scans WHERE id = ?")
            .bind(scan_id)
            .fetch_optional(self.db.pool())
            .await?
            .ok_or_else(|| Error::NotFound { what: "scan", id: scan_id.to_string() })?;
        scan_from_row(&row)
    }

    /// The identity's scans, newest first.
    pub async fn scans(&self, identity_id: &str) -> Result<Vec<ScanRecord>> {
        let rows = sqlx::query("SELECT * FROM scans WHERE identity_id = ? ORDER BY started_ms DESC, id DESC")
            .bind(identity_id)
            .fetch_all(self.db.pool())
            .await?;
        rows.iter().map(scan_from_row).collect()
    }

    /// The newest complete scan of the identity: the catalog a selection or backup should use.
    pub async fn latest_complete_scan(&self, identity_id: &str) -> Result<Option<ScanRecord>> {
        Ok(self.scans(identity_id).await?.into_iter().find(|s| s.state == ScanState::Complete))
    }

    /// Deletes a scan and every catalog row of it.
    pub async fn delete_scan(&self, scan_id: i64) -> Result<()> {
        sqlx::query("DELETE FROM scans WHERE id = ?").bind(scan_id).execute(self.db.pool()).await?;
        Ok(())
    }

    pub(crate) fn db(&self) -> &'a Db {
        self.db
    }
}

fn scan_from_row(r: &sqlx::sqlite::SqliteRow) -> Result<ScanRecord> {
    let counts: String = r.get("counts");
    Ok(ScanRecord {
        id: r.get("id"),
        identity_id: r.get("identity_id"),
        job_id: r.get("job_id"),
        org_id: r.get("org_id"),
        started_ms: r.get("started_ms"),
        finished_ms: r.get("finished_ms"),
        state: ScanState::parse(r.get::<&str, _>("state"))?,
        counts: serde_json::from_str(&counts).unwrap_or_default(),
    })
}

#[cfg(test)]
pub(crate) mod fixture;
