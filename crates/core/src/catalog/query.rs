//! Catalog reads: tallies, lookups and the dependency graph.
//!
//! The graph's edges are "origin needs destination": an item's data referencing another item,
//! and a forward relationship (a web map's Map2Service: the map needs the service). Cycles are
//! normal (apps naming each other, an item naming itself); the recursive queries use `UNION`,
//! which stops at rows already seen, so they terminate on any graph.

use serde::{Deserialize, Serialize};
use sqlx::Row;

use super::Catalog;
use crate::error::{Error, Result};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MemberType {
    Owner,
    Admin,
    Member,
}

impl MemberType {
    pub fn as_str(self) -> &'static str {
        match self {
            MemberType::Owner => "owner",
            MemberType::Admin => "admin",
            MemberType::Member => "member",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        Ok(match s {
            "owner" => MemberType::Owner,
            "admin" => MemberType::Admin,
            "member" => MemberType::Member,
            other => return Err(Error::Corrupt(format!("group_members.member_type {other:?}"))),
        })
    }
}

/// Row counts of one catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CatalogCounts {
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    pub memberships: u64,
    pub folders: u64,
    pub sharing: u64,
    pub relationships: u64,
    pub references: u64,
    pub problems: u64,
}

/// An item without its JSON.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ItemSummary {
    pub id: String,
    pub owner: String,
    pub folder_id: Option<String>,
    pub title: String,
    pub item_type: String,
    pub size: i64,
    pub access: String,
    pub url: Option<String>,
    pub modified_ms: Option<i64>,
    pub layer_count: Option<i64>,
    pub last_edit_ms: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Member {
    pub group_id: String,
    pub username: String,
    pub member_type: MemberType,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredReference {
    pub item_id: String,
    pub target_item_id: Option<String>,
    pub target_url: Option<String>,
    pub json_pointer: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    pub item_id: Option<String>,
    pub message: String,
}

const SUMMARY_COLUMNS: &str =
    "id, owner, folder_id, title, type, size, access, url, modified_ms, layer_count, last_edit_ms";

fn summary(r: &sqlx::sqlite::SqliteRow) -> ItemSummary {
    ItemSummary {
        id: r.get("id"),
        owner: r.get("owner"),
        folder_id: r.get("folder_id"),
        title: r.get("title"),
        item_type: r.get("type"),
        size: r.get("size"),
        access: r.get("access"),
        url: r.get("url"),
        modified_ms: r.get("modified_ms"),
        layer_count: r.get("layer_count"),
        last_edit_ms: r.get("last_edit_ms"),
    }
}

/// Edges of the dependency graph of scan `?1` (bound twice as ?1).
const EDGES: &str = "edges(src, dst) AS (
    SELECT item_id, target_item_id FROM item_references WHERE scan_id = ?1 AND target_item_id IS NOT NULL
    UNION SELECT origin, destination FROM relationships WHERE scan_id = ?1)";

impl Catalog<'_> {
    pub async fn counts(&self, scan_id: i64) -> Result<CatalogCounts> {
        let row = sqlx::query(
            "SELECT
                (SELECT COUNT(*) FROM items WHERE scan_id = ?1) AS items,
                (SELECT COUNT(*) FROM users WHERE scan_id = ?1) AS users,
                (SELECT COUNT(*) FROM groups WHERE scan_id = ?1) AS groups,
                (SELECT COUNT(*) FROM group_members WHERE scan_id = ?1) AS memberships,
                (SELECT COUNT(*) FROM folders WHERE scan_id = ?1) AS folders,
                (SELECT COUNT(*) FROM item_sharing WHERE scan_id = ?1) AS sharing,
                (SELECT COUNT(*) FROM relationships WHERE scan_id = ?1) AS relationships,
                (SELECT COUNT(*) FROM item_references WHERE scan_id = ?1) AS refs,
                (SELECT COUNT(*) FROM scan_problems WHERE scan_id = ?1) AS problems",
        )
        .bind(scan_id)
        .fetch_one(self.db().pool())
        .await?;
        let n = |c: &str| u64::try_from(row.get::<i64, _>(c)).unwrap_or(0);
        Ok(CatalogCounts {
            items: n("items"),
            users: n("users"),
            groups: n("groups"),
            memberships: n("memberships"),
            folders: n("folders"),
            sharing: n("sharing"),
            relationships: n("relationships"),
            references: n("refs"),
            problems: n("problems"),
        })
    }

    pub async fn item(&self, scan_id: i64, item_id: &str) -> Result<Option<ItemSummary>> {
        let row = sqlx::query(&format!("SELECT {SUMMARY_COLUMNS} FROM items WHERE scan_id = ? AND id = ?"))
            .bind(scan_id)
            .bind(item_id)
            .fetch_optional(self.db().pool())
            .await?;
        Ok(row.as_ref().map(summary))
    }

    /// The item's JSON as the portal answered it.
    pub async fn item_json(&self, scan_id: i64, item_id: &str) -> Result<Option<serde_json::Value>> {
        let row: Option<(String,)> = sqlx::query_as("SELECT json FROM items WHERE scan_id = ? AND id = ?")
            .bind(scan_id)
            .bind(item_id)
            .fetch_optional(self.db().pool())
            .await?;
        row.map(|(j,)| serde_json::from_str(&j).map_err(|e| Error::Corrupt(format!("items.json of {item_id}: {e}"))))
            .transpose()
    }

    /// Every item id of the scan.
    pub async fn item_ids(&self, scan_id: i64) -> Result<Vec<String>> {
        let rows: Vec<(String,)> = sqlx::query_as("SELECT id FROM items WHERE scan_id = ? ORDER BY id")
            .bind(scan_id)
            .fetch_all(self.db().pool())
            .await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    pub async fn items_by_owner(&self, scan_id: i64, owner: &str) -> Result<Vec<ItemSummary>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM items WHERE scan_id = ? AND owner = ? ORDER BY title, id"
        ))
        .bind(scan_id)
        .bind(owner)
        .fetch_all(self.db().pool())
        .await?;
        Ok(rows.iter().map(summary).collect())
    }

    pub async fn items_by_type(&self, scan_id: i64, item_type: &str) -> Result<Vec<ItemSummary>> {
        let rows = sqlx::query(&format!(
            "SELECT {SUMMARY_COLUMNS} FROM items WHERE scan_id = ? AND type = ? ORDER BY title, id"
        ))
        .bind(scan_id)
        .bind(item_type)
        .fetch_all(self.db().pool())
        .await?;
        Ok(rows.iter().map(summary).collect())
    }

    /// The groups a user belongs to, with the user's role in each.
    pub async fn user_groups(&self, scan_id: i64, username: &str) -> Result<Vec<Member>> {
        self.members_where(scan_id, "username", username).await
    }

    /// A group's members, owner first.
    pub async fn group_members(&self, scan_id: i64, group_id: &str) -> Result<Vec<Member>> {
        self.members_where(scan_id, "group_id", group_id).await
    }

    async fn members_where(&self, scan_id: i64, column: &str, value: &str) -> Result<Vec<Member>> {
        let sql = format!(
            "SELECT group_id, username, member_type FROM group_members WHERE scan_id = ? AND {column} = ?
             ORDER BY CASE member_type WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, group_id, username"
        );
        let rows = sqlx::query(&sql).bind(scan_id).bind(value).fetch_all(self.db().pool()).await?;
        rows.iter()
            .map(|r| {
                Ok(Member {
                    group_id: r.get("group_id"),
                    username: r.get("username"),
                    member_type: MemberType::parse(r.get::<&str, _>("member_type"))?,
                })
            })
            .collect()
    }

    /// Items of the catalog shared with a group.
    pub async fn group_content(&self, scan_id: i64, group_id: &str) -> Result<Vec<ItemSummary>> {
        let sql = format!(
            "SELECT {SUMMARY_COLUMNS} FROM items WHERE scan_id = ?1 AND id IN
             (SELECT item_id FROM item_sharing WHERE scan_id = ?1 AND group_id = ?2) ORDER BY title, id"
        );
        let rows = sqlx::query(&sql).bind(scan_id).bind(group_id).fetch_all(self.db().pool()).await?;
        Ok(rows.iter().map(summary).collect())
    }

    /// Groups an item is shared with.
    pub async fn item_groups(&self, scan_id: i64, item_id: &str) -> Result<Vec<String>> {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT group_id FROM item_sharing WHERE scan_id = ? AND item_id = ? ORDER BY group_id")
                .bind(scan_id)
                .bind(item_id)
                .fetch_all(self.db().pool())
                .await?;
        Ok(rows.into_iter().map(|(g,)| g).collect())
    }

    /// What `item_id` needs, transitively (referenced items and relationship destinations),
    /// restricted to items of this catalog and never including the item itself.
    pub async fn dependencies_of(&self, scan_id: i64, item_id: &str) -> Result<Vec<String>> {
        self.closure(scan_id, item_id, "e.src = r.id", "e.dst").await
    }

    /// What needs `item_id`, transitively; the reverse of [`Catalog::dependencies_of`].
    pub async fn dependents_of(&self, scan_id: i64, item_id: &str) -> Result<Vec<String>> {
        self.closure(scan_id, item_id, "e.dst = r.id", "e.src").await
    }

    async fn closure(&self, scan_id: i64, item_id: &str, join: &str, next: &str) -> Result<Vec<String>> {
        let sql = format!(
            "WITH RECURSIVE {EDGES},
             reach(id) AS (SELECT ?2 UNION SELECT {next} FROM edges e JOIN reach r ON {join})
             SELECT reach.id FROM reach JOIN items i ON i.scan_id = ?1 AND i.id = reach.id
             WHERE reach.id <> ?2 ORDER BY reach.id"
        );
        let rows: Vec<(String,)> = sqlx::query_as(&sql).bind(scan_id).bind(item_id).fetch_all(self.db().pool()).await?;
        Ok(rows.into_iter().map(|(id,)| id).collect())
    }

    /// The references found in an item's data.
    pub async fn references_of(&self, scan_id: i64, item_id: &str) -> Result<Vec<StoredReference>> {
        let rows = sqlx::query("SELECT item_id, target_item_id, target_url, json_pointer FROM item_references WHERE scan_id = ? AND item_id = ? ORDER BY json_pointer, id")
            .bind(scan_id)
            .bind(item_id)
            .fetch_all(self.db().pool())
            .await?;
        Ok(rows
            .iter()
            .map(|r| StoredReference {
                item_id: r.get("item_id"),
                target_item_id: r.get("target_item_id"),
                target_url: r.get("target_url"),
                json_pointer: r.get("json_pointer"),
            })
            .collect())
    }

    /// Relationships where `item_id` is the origin (forward) or the destination (reverse, derived).
    pub async fn relationships_of(&self, scan_id: i64, item_id: &str) -> Result<Vec<(String, String, String)>> {
        let rows: Vec<(String, String, String)> = sqlx::query_as(
            "SELECT origin, destination, type FROM relationships WHERE scan_id = ?1 AND (origin = ?2 OR destination = ?2) ORDER BY origin, destination, type",
        )
        .bind(scan_id)
        .bind(item_id)
        .fetch_all(self.db().pool())
        .await?;
        Ok(rows)
    }

    /// Subjects (item id, username or group id) the scan could not read whole, with the first
    /// reason recorded for each.
    pub async fn incomplete_subjects(&self, scan_id: i64) -> Result<std::collections::HashMap<String, String>> {
        let rows: Vec<(String, String)> = sqlx::query_as(
            "SELECT item_id, message FROM scan_problems WHERE scan_id = ? AND incomplete = 1 AND item_id IS NOT NULL ORDER BY id DESC",
        )
        .bind(scan_id)
        .fetch_all(self.db().pool())
        .await?;
        Ok(rows.into_iter().collect())
    }

    pub async fn problems(&self, scan_id: i64) -> Result<Vec<Problem>> {
        let rows: Vec<(Option<String>, String)> =
            sqlx::query_as("SELECT item_id, message FROM scan_problems WHERE scan_id = ? ORDER BY id")
                .bind(scan_id)
                .fetch_all(self.db().pool())
                .await?;
        Ok(rows.into_iter().map(|(item_id, message)| Problem { item_id, message }).collect())
    }
}
