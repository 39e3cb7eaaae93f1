//! The restore journal (what a restore made in a target org, per snapshot) and the saved
//! mapping profiles, both in SQLite.
//!
//! A row is written right after a create succeeds (`created`), before anything else is done
//! with the new subject, and moved to `done` when all its later steps are done. A re-run reads
//! the rows first: `done` subjects are skipped, `created` ones are finished, so nothing is made twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::error::RestoreError;
use super::options::Mapping;
use crate::clock::Clock;
use crate::db::Db;

/// What a journal row is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EntryKind {
    Item,
    User,
    Group,
    Folder,
    /// A package uploaded for publishing (deleted after the publish).
    Upload,
}

impl EntryKind {
    fn as_str(self) -> &'static str {
        match self {
            EntryKind::Item => "item",
            EntryKind::User => "user",
            EntryKind::Group => "group",
            EntryKind::Folder => "folder",
            EntryKind::Upload => "upload",
        }
    }
    fn parse(s: &str) -> Option<EntryKind> {
        Some(match s {
            "item" => EntryKind::Item,
            "user" => EntryKind::User,
            "group" => EntryKind::Group,
            "folder" => EntryKind::Folder,
            "upload" => EntryKind::Upload,
            _ => return None,
        })
    }
}

/// One journal row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalEntry {
    pub target_id: String,
    /// All steps done (not only created).
    pub done: bool,
    pub detail: serde_json::Value,
}

/// The journal of one (target org, snapshot) pair.
#[derive(Clone)]
pub struct Journal<'a> {
    db: &'a Db,
    clock: &'a dyn Clock,
    target_org: String,
    snapshot: String,
    /// One journal write at a time: many parallel item tasks write, and queueing them here keeps
    /// them from holding every pooled connection while SQLite serializes writers anyway.
    writes: std::sync::Arc<tokio::sync::Mutex<()>>,
}

impl<'a> Journal<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock, target_org: &str, snapshot: &str) -> Self {
        Journal {
            db,
            clock,
            target_org: target_org.to_owned(),
            snapshot: snapshot.to_owned(),
            writes: std::sync::Arc::new(tokio::sync::Mutex::new(())),
        }
    }

    /// Now, on the journal's clock (epoch ms): the time a row notes an intent at.
    pub(crate) fn now_ms(&self) -> i64 {
        self.clock.now_ms()
    }

    /// The snapshot this journal is about.
    pub(crate) fn snapshot(&self) -> &str {
        &self.snapshot
    }

    /// The lock journal writes take; other writers of the same restore (the job history) share it.
    pub(crate) fn write_lock(&self) -> std::sync::Arc<tokio::sync::Mutex<()>> {
        self.writes.clone()
    }

    /// Every row, by kind and source id.
    pub async fn load(&self) -> Result<BTreeMap<(EntryKind, String), JournalEntry>, RestoreError> {
        let rows: Vec<(String, String, String, String, String)> = sqlx::query_as(
            "SELECT kind, source_id, target_id, state, detail FROM restore_journal WHERE target_org = ? AND snapshot_id = ?",
        )
        .bind(&self.target_org)
        .bind(&self.snapshot)
        .fetch_all(self.db.pool())
        .await?;
        Ok(rows
            .into_iter()
            .filter_map(|(kind, source, target, state, detail)| {
                let kind = EntryKind::parse(&kind)?;
                let detail = serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null);
                Some(((kind, source), JournalEntry { target_id: target, done: state == "done", detail }))
            })
            .collect())
    }

    /// The row of one subject, if any.
    pub async fn get(&self, kind: EntryKind, source_id: &str) -> Result<Option<JournalEntry>, RestoreError> {
        let row: Option<(String, String, String)> = sqlx::query_as(
            "SELECT target_id, state, detail FROM restore_journal
             WHERE target_org = ? AND snapshot_id = ? AND kind = ? AND source_id = ?",
        )
        .bind(&self.target_org)
        .bind(&self.snapshot)
        .bind(kind.as_str())
        .bind(source_id)
        .fetch_optional(self.db.pool())
        .await?;
        Ok(row.map(|(target, state, detail)| JournalEntry {
            target_id: target,
            done: state == "done",
            detail: serde_json::from_str(&detail).unwrap_or(serde_json::Value::Null),
        }))
    }

    /// Records (or moves) a row.
    pub async fn record(
        &self,
        kind: EntryKind,
        source_id: &str,
        target_id: &str,
        done: bool,
        detail: &serde_json::Value,
    ) -> Result<(), RestoreError> {
        let _one_at_a_time = self.writes.lock().await;
        sqlx::query(
            "INSERT INTO restore_journal (target_org, snapshot_id, kind, source_id, target_id, state, detail, updated_ms)
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)
             ON CONFLICT (target_org, snapshot_id, kind, source_id)
             DO UPDATE SET target_id = excluded.target_id, state = excluded.state, detail = excluded.detail, updated_ms = excluded.updated_ms",
        )
        .bind(&self.target_org)
        .bind(&self.snapshot)
        .bind(kind.as_str())
        .bind(source_id)
        .bind(target_id)
        .bind(if done { "done" } else { "created" })
        .bind(detail.to_string())
        .bind(self.clock.now_ms())
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Forgets a row (its subject was removed to be made again).
    pub async fn forget(&self, kind: EntryKind, source_id: &str) -> Result<(), RestoreError> {
        let _one_at_a_time = self.writes.lock().await;
        sqlx::query(
            "DELETE FROM restore_journal WHERE target_org = ? AND snapshot_id = ? AND kind = ? AND source_id = ?",
        )
        .bind(&self.target_org)
        .bind(&self.snapshot)
        .bind(kind.as_str())
        .bind(source_id)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }
}

/// Named mapping profiles.
pub struct Profiles<'a> {
    db: &'a Db,
    clock: &'a dyn Clock,
}

impl<'a> Profiles<'a> {
    pub fn new(db: &'a Db, clock: &'a dyn Clock) -> Self {
        Profiles { db, clock }
    }

    /// Saves (or replaces) a profile.
    pub async fn save(&self, name: &str, mapping: &Mapping) -> Result<(), RestoreError> {
        if name.trim().is_empty() {
            return Err(RestoreError::InvalidInput("a profile needs a name".into()));
        }
        let text = serde_json::to_string(mapping).map_err(|e| RestoreError::InvalidInput(e.to_string()))?;
        let now = self.clock.now_ms();
        sqlx::query(
            "INSERT INTO restore_profiles (name, mapping, created_ms, updated_ms) VALUES (?, ?, ?, ?)
             ON CONFLICT (name) DO UPDATE SET mapping = excluded.mapping, updated_ms = excluded.updated_ms",
        )
        .bind(name.trim())
        .bind(text)
        .bind(now)
        .bind(now)
        .execute(self.db.pool())
        .await?;
        Ok(())
    }

    /// Puts `rules` (find -> replace; empty finds dropped) as the URL rules of the profile `name`,
    /// made when missing, keeping the rest of it; answers how many rules it held before.
    pub async fn set_url_rules(&self, name: &str, rules: Vec<(String, String)>) -> Result<usize, RestoreError> {
        let mut mapping = match self.get(name).await {
            Ok(m) => m,
            Err(RestoreError::NoProfile(_)) => Mapping::default(),
            Err(e) => return Err(e),
        };
        let before = mapping.url_replace.len();
        mapping.url_replace = rules.into_iter().filter(|(find, _)| !find.is_empty()).collect();
        self.save(name, &mapping).await?;
        Ok(before)
    }

    /// The profile named `name`.
    pub async fn get(&self, name: &str) -> Result<Mapping, RestoreError> {
        let row: Option<(String,)> = sqlx::query_as("SELECT mapping FROM restore_profiles WHERE name = ?")
            .bind(name.trim())
            .fetch_optional(self.db.pool())
            .await?;
        let (text,) = row.ok_or_else(|| RestoreError::NoProfile(name.to_owned()))?;
        serde_json::from_str(&text)
            .map_err(|e| RestoreError::Core(crate::Error::Corrupt(format!("profile {name:?}: {e}"))))
    }

    /// Every profile name, sorted.
    pub async fn names(&self) -> Result<Vec<String>, RestoreError> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT name FROM restore_profiles ORDER BY name").fetch_all(self.db.pool()).await?;
        Ok(rows.into_iter().map(|(n,)| n).collect())
    }

    pub async fn delete(&self, name: &str) -> Result<(), RestoreError> {
        sqlx::query("DELETE FROM restore_profiles WHERE name = ?").bind(name.trim()).execute(self.db.pool()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::SystemClock;
    use serde_json::json;

    #[tokio::test]
    async fn journal_rows_are_per_target_and_snapshot_and_move_to_done() {
        let db = Db::open_in_memory().await.expect("db");
        let j = Journal::new(&db, &SystemClock, "orgB", "snap1");
        j.record(EntryKind::Item, "src1", "new1", false, &json!({})).await.expect("record");
        j.record(EntryKind::Item, "src1", "new1", true, &json!({"x": 1})).await.expect("record again");
        let other = Journal::new(&db, &SystemClock, "orgC", "snap1");
        other.record(EntryKind::Item, "src1", "elsewhere", false, &json!({})).await.expect("record");
        let one = j.get(EntryKind::Item, "src1").await.expect("get");
        assert_eq!(one.map(|e| e.target_id), Some("new1".to_string()), "one row reads back by kind and source id");
        assert!(j.get(EntryKind::Group, "src1").await.expect("get").is_none(), "another kind is another row");
        let rows = j.load().await.expect("load");
        assert_eq!(rows.len(), 1, "a second record of the same subject updates its row, other targets are apart");
        let e = &rows[&(EntryKind::Item, "src1".to_string())];
        assert!(e.done && e.target_id == "new1" && e.detail["x"] == 1, "the row moved to done with its detail: {e:?}");
        j.forget(EntryKind::Item, "src1").await.expect("forget");
        assert!(j.load().await.expect("load").is_empty(), "a forgotten row is gone");
    }

    #[tokio::test]
    async fn profiles_round_trip_and_unknown_names_fail() {
        let db = Db::open_in_memory().await.expect("db");
        let p = Profiles::new(&db, &SystemClock);
        let mut m = Mapping::default();
        m.owners.insert("ann_a".into(), "ann_b".into());
        m.tags.push("migrated".into());
        p.save("to-b", &m).await.expect("save");
        assert_eq!(p.get("to-b").await.expect("get"), m, "a saved profile reads back identical");
        assert_eq!(p.names().await.expect("names"), vec!["to-b".to_string()], "it is listed");
        assert!(matches!(p.get("nope").await, Err(RestoreError::NoProfile(_))), "an unknown profile is an error");
    }
}
