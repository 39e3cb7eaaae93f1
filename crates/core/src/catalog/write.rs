//! Catalog writes: rows built from the portal's JSON, inserted in batches (one transaction and
//! one multi-row statement per chunk). Inserting a row that exists replaces it, so the
//! overlapping ranges of a split search cannot duplicate an item.

use serde_json::Value;
use sqlx::{QueryBuilder, Sqlite};

use super::query::MemberType;
use super::Catalog;
use crate::error::Result;
use crate::references::{Reference, Target};

/// Rows per INSERT; keeps every statement well under SQLite's bound-parameter limit.
const CHUNK: usize = 400;

fn text(v: &Value, key: &str) -> Option<String> {
    v.get(key).and_then(Value::as_str).map(str::to_owned)
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    v.get(key)
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// One item as the catalog stores it.
#[derive(Debug, Clone, PartialEq)]
pub struct ItemRow {
    pub id: String,
    pub owner: String,
    pub folder_id: Option<String>,
    pub title: String,
    pub item_type: String,
    pub type_keywords: Vec<String>,
    pub tags: Vec<String>,
    pub size: i64,
    pub created_ms: Option<i64>,
    pub modified_ms: Option<i64>,
    pub access: String,
    pub url: Option<String>,
    pub json: String,
}

impl ItemRow {
    /// Builds the row from an item as the search or `content/items/<id>` answers it; `None`
    /// when it has no id (not an item).
    pub fn from_json(v: &Value) -> Option<ItemRow> {
        let id = text(v, "id")?;
        Some(ItemRow {
            owner: text(v, "owner").unwrap_or_default(),
            // Online answers "" or null for the root folder; the catalog says None for both.
            folder_id: text(v, "ownerFolder").filter(|f| !f.is_empty() && f != "/"),
            title: text(v, "title").unwrap_or_default(),
            item_type: text(v, "type").unwrap_or_default(),
            type_keywords: strings(v, "typeKeywords"),
            tags: strings(v, "tags"),
            // An item without a file reports -1.
            size: v.get("size").and_then(Value::as_i64).unwrap_or(0).max(0),
            created_ms: v.get("created").and_then(Value::as_i64),
            modified_ms: v.get("modified").and_then(Value::as_i64),
            access: text(v, "access").unwrap_or_else(|| "private".into()),
            url: text(v, "url").filter(|u| !u.is_empty()),
            json: v.to_string(),
            id,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct UserRow {
    pub username: String,
    pub role: Option<String>,
    pub role_id: Option<String>,
    pub license_type: Option<String>,
    pub json: String,
}

impl UserRow {
    pub fn from_json(v: &Value) -> Option<UserRow> {
        Some(UserRow {
            username: text(v, "username")?,
            role: text(v, "role"),
            role_id: text(v, "roleId").filter(|r| !r.is_empty()),
            license_type: text(v, "userLicenseTypeId"),
            json: v.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupRow {
    pub id: String,
    pub title: String,
    pub owner: String,
    pub access: String,
    /// The settings a restore re-creates the group with.
    pub settings: Value,
    pub json: String,
}

/// Group fields that `createGroup` takes back.
const GROUP_SETTINGS: &[&str] = &[
    "isInvitationOnly",
    "isViewOnly",
    "sortField",
    "sortOrder",
    "capabilities",
    "autoJoin",
    "tags",
    "description",
    "snippet",
    "membershipAccess",
    "leavingDisallowed",
    "hiddenMembers",
    "protected",
];

impl GroupRow {
    pub fn from_json(v: &Value) -> Option<GroupRow> {
        let settings: serde_json::Map<String, Value> =
            GROUP_SETTINGS.iter().filter_map(|k| v.get(*k).map(|x| ((*k).to_owned(), x.clone()))).collect();
        Some(GroupRow {
            id: text(v, "id")?,
            title: text(v, "title").unwrap_or_default(),
            owner: text(v, "owner").unwrap_or_default(),
            access: text(v, "access").unwrap_or_else(|| "private".into()),
            settings: Value::Object(settings),
            json: v.to_string(),
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FolderRow {
    pub id: String,
    pub owner: String,
    pub title: String,
}

/// What the scan learnt from a service item's layers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceInfo {
    pub item_id: String,
    pub layer_count: i64,
    /// The newest `editingInfo.lastEditDate` of its layers and tables, if any reports one.
    pub last_edit_ms: Option<i64>,
}

impl Catalog<'_> {
    pub async fn insert_items(&self, scan_id: i64, rows: &[ItemRow]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO items (scan_id, id, owner, folder_id, title, type, type_keywords, tags, size, created_ms, modified_ms, access, url, json) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(scan_id)
                    .push_bind(&r.id)
                    .push_bind(&r.owner)
                    .push_bind(&r.folder_id)
                    .push_bind(&r.title)
                    .push_bind(&r.item_type)
                    .push_bind(Value::from(r.type_keywords.clone()).to_string())
                    .push_bind(Value::from(r.tags.clone()).to_string())
                    .push_bind(r.size)
                    .push_bind(r.created_ms)
                    .push_bind(r.modified_ms)
                    .push_bind(&r.access)
                    .push_bind(&r.url)
                    .push_bind(&r.json);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_users(&self, scan_id: i64, rows: &[UserRow]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO users (scan_id, username, role, role_id, license_type, json) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(scan_id)
                    .push_bind(&r.username)
                    .push_bind(&r.role)
                    .push_bind(&r.role_id)
                    .push_bind(&r.license_type)
                    .push_bind(&r.json);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_groups(&self, scan_id: i64, rows: &[GroupRow]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR REPLACE INTO groups (scan_id, id, title, owner, access, settings, json) ",
            );
            q.push_values(chunk, |mut b, r| {
                b.push_bind(scan_id)
                    .push_bind(&r.id)
                    .push_bind(&r.title)
                    .push_bind(&r.owner)
                    .push_bind(&r.access)
                    .push_bind(r.settings.to_string())
                    .push_bind(&r.json);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Memberships as (group id, username, type). A username listed twice (owner and admin)
    /// keeps the strongest role: callers pass the owner first.
    pub async fn insert_members(&self, scan_id: i64, rows: &[(String, String, MemberType)]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO group_members (scan_id, group_id, username, member_type) ",
            );
            q.push_values(chunk, |mut b, (g, u, t)| {
                b.push_bind(scan_id).push_bind(g).push_bind(u).push_bind(t.as_str());
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn insert_folders(&self, scan_id: i64, rows: &[FolderRow]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT OR REPLACE INTO folders (scan_id, id, owner, title) ");
            q.push_values(chunk, |mut b, r| {
                b.push_bind(scan_id).push_bind(&r.id).push_bind(&r.owner).push_bind(&r.title);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Sharing as (item id, group id).
    pub async fn insert_sharing(&self, scan_id: i64, rows: &[(String, String)]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new("INSERT OR IGNORE INTO item_sharing (scan_id, item_id, group_id) ");
            q.push_values(chunk, |mut b, (i, g)| {
                b.push_bind(scan_id).push_bind(i).push_bind(g);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Relationships as (origin, destination, type), forward direction.
    pub async fn insert_relationships(&self, scan_id: i64, rows: &[(String, String, String)]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT OR IGNORE INTO relationships (scan_id, origin, destination, type) ",
            );
            q.push_values(chunk, |mut b, (o, d, t)| {
                b.push_bind(scan_id).push_bind(o).push_bind(d).push_bind(t);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// References found in items' data, as (item id, reference).
    pub async fn insert_references(&self, scan_id: i64, rows: &[(String, Reference)]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for chunk in rows.chunks(CHUNK) {
            let mut q = QueryBuilder::<Sqlite>::new(
                "INSERT INTO item_references (scan_id, item_id, target_item_id, target_url, json_pointer) ",
            );
            q.push_values(chunk, |mut b, (item, r)| {
                let (id, url) = match &r.target {
                    Target::Item(id) => (Some(id.as_str()), None),
                    Target::Url(url) => (None, Some(url.as_str())),
                };
                b.push_bind(scan_id).push_bind(item).push_bind(id).push_bind(url).push_bind(&r.pointer);
            });
            q.build().execute(&mut *tx).await?;
        }
        tx.commit().await?;
        Ok(())
    }

    pub async fn set_service_info(&self, scan_id: i64, rows: &[ServiceInfo]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for r in rows {
            sqlx::query("UPDATE items SET layer_count = ?, last_edit_ms = ? WHERE scan_id = ? AND id = ?")
                .bind(r.layer_count)
                .bind(r.last_edit_ms)
                .bind(scan_id)
                .bind(&r.item_id)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// Problems as (subject id if any, message, whether the subject was left incompletely read).
    pub async fn insert_problems(&self, scan_id: i64, rows: &[(Option<String>, String, bool)]) -> Result<()> {
        let mut tx = self.db().pool().begin().await?;
        for (item, message, incomplete) in rows {
            sqlx::query("INSERT INTO scan_problems (scan_id, item_id, message, incomplete) VALUES (?, ?, ?, ?)")
                .bind(scan_id)
                .bind(item)
                .bind(message)
                .bind(incomplete)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(())
    }
}

impl Catalog<'_> {
    /// Removes items (vanished during the scan) with their sharing, references and relationships.
    pub async fn remove_items(&self, scan_id: i64, ids: &[String]) -> Result<()> {
        if ids.is_empty() {
            return Ok(());
        }
        let mut tx = self.db().pool().begin().await?;
        for id in ids {
            for sql in [
                "DELETE FROM items WHERE scan_id = ?1 AND id = ?2",
                "DELETE FROM item_sharing WHERE scan_id = ?1 AND item_id = ?2",
                "DELETE FROM item_references WHERE scan_id = ?1 AND item_id = ?2",
                "DELETE FROM relationships WHERE scan_id = ?1 AND (origin = ?2 OR destination = ?2)",
            ] {
                sqlx::query(sql).bind(scan_id).bind(id).execute(&mut *tx).await?;
            }
        }
        tx.commit().await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn item_rows_normalize_what_the_portal_leaves_loose() {
        let row = ItemRow::from_json(&json!({"id": "x", "owner": "ann", "ownerFolder": "", "size": -1, "url": "", "tags": ["a", 3], "type": "CSV"})).expect("row");
        assert_eq!(row.folder_id, None, "an empty ownerFolder is the root folder");
        assert_eq!(row.size, 0, "a size of -1 (no file) counts as nothing");
        assert_eq!(row.url, None, "an empty url is no url");
        assert_eq!(row.tags, vec!["a"], "non-string tags are dropped");
        assert_eq!(row.access, "private", "missing access is the safest reading");
        assert!(ItemRow::from_json(&json!({"title": "no id"})).is_none(), "a result without an id is not an item");
        let user = UserRow::from_json(&json!({"username": "ann", "roleId": ""})).expect("user");
        assert_eq!(user.role_id, None, "an empty roleId is no custom role");
    }
}
