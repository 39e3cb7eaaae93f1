//! What the backup reads from the scan's catalog instead of asking the portal again: item,
//! user and group JSON, folders, sharing, memberships, relationships. One query per subject
//! kind and scan, held in maps, so the per-subject work makes no SQL round trips.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use serde_json::Value;
use sqlx::Row;

use crate::catalog::{Catalog, ItemSummary, MemberType};
use crate::error::{Error, Result};

/// One relationship of an item, seen from that item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Related {
    pub item_id: String,
    pub relationship_type: String,
    /// `forward`: this item is the origin; `reverse`: it is the destination.
    pub direction: arcgis::Direction,
}

/// Catalog facts of one scan, for the selected subjects.
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// item id -> (summary, item JSON as the catalog holds it). Kept as text: a parsed `Value`
    /// per item cost several times the text's size for the whole job, for a 12,000-item org
    /// about a hundred megabytes; each item task parses its own JSON when it starts.
    pub items: BTreeMap<String, (ItemSummary, String)>,
    pub users: BTreeMap<String, Value>,
    pub groups: BTreeMap<String, Value>,
    /// folder id -> (owner, title)
    pub folders: BTreeMap<String, (String, String)>,
    /// item id -> group ids
    pub sharing: BTreeMap<String, BTreeSet<String>>,
    pub related: BTreeMap<String, Vec<Related>>,
    /// group id -> (username, role)
    pub members: BTreeMap<String, Vec<(String, MemberType)>>,
}

fn json_of(text: &str, what: &str) -> Result<Value> {
    serde_json::from_str(text).map_err(|e| Error::Corrupt(format!("catalog JSON of {what}: {e}")))
}

/// The backing hosted feature services of the Scene Services among `items` that `items` does
/// not hold yet: backing item id -> scene item id. A scene layer is only restorable with the
/// feature service it was published from; the portal links the two by a `Service2Service`
/// relationship (from the scene on Online; either direction is accepted).
pub(crate) async fn backing_services(
    catalog: &Catalog<'_>,
    scan_id: i64,
    items: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query_as::<_, (String, String, String, String)>(
        "SELECT r.origin, o.type, r.destination, d.type FROM relationships r
         JOIN items o ON o.scan_id = r.scan_id AND o.id = r.origin
         JOIN items d ON d.scan_id = r.scan_id AND d.id = r.destination
         WHERE r.scan_id = ? AND r.type = 'Service2Service'
         ORDER BY r.origin, r.destination",
    )
    .bind(scan_id)
    .fetch_all(catalog.db().pool())
    .await?;
    let mut backing = BTreeMap::new();
    for (origin, origin_type, dest, dest_type) in rows {
        let (scene, service) = match (origin_type.as_str(), dest_type.as_str()) {
            ("Scene Service", "Feature Service") => (origin, dest),
            ("Feature Service", "Scene Service") => (dest, origin),
            _ => continue,
        };
        if items.contains(&scene) && !items.contains(&service) {
            backing.entry(service).or_insert(scene);
        }
    }
    Ok(backing)
}

impl Facts {
    /// Loads the facts of `scan_id` for the given subjects.
    pub async fn load(
        catalog: &Catalog<'_>,
        scan_id: i64,
        items: &BTreeSet<String>,
        users: &BTreeSet<String>,
        groups: &BTreeSet<String>,
    ) -> Result<Facts> {
        let pool = catalog.db().pool();
        let mut facts = Facts::default();
        let rows = sqlx::query(
            "SELECT id, owner, folder_id, title, type, size, access, url, modified_ms, layer_count, last_edit_ms, json
             FROM items WHERE scan_id = ?",
        )
        .bind(scan_id)
        .fetch(pool);
        // Streamed row by row: holding every row and the maps at once doubled the peak.
        let mut rows = std::pin::pin!(rows);
        while let Some(r) = rows.try_next().await? {
            let id: String = r.get("id");
            if !items.contains(&id) {
                continue;
            }
            let summary = ItemSummary {
                id: id.clone(),
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
            };
            let json: String = r.get("json");
            facts.items.insert(id, (summary, json));
        }
        for (name, json) in sqlx::query_as::<_, (String, String)>("SELECT username, json FROM users WHERE scan_id = ?")
            .bind(scan_id)
            .fetch_all(pool)
            .await?
        {
            if users.contains(&name) {
                let v = json_of(&json, &name)?;
                facts.users.insert(name, v);
            }
        }
        for (id, json) in sqlx::query_as::<_, (String, String)>("SELECT id, json FROM groups WHERE scan_id = ?")
            .bind(scan_id)
            .fetch_all(pool)
            .await?
        {
            if groups.contains(&id) {
                let v = json_of(&json, &id)?;
                facts.groups.insert(id, v);
            }
        }
        for (id, owner, title) in
            sqlx::query_as::<_, (String, String, String)>("SELECT id, owner, title FROM folders WHERE scan_id = ?")
                .bind(scan_id)
                .fetch_all(pool)
                .await?
        {
            facts.folders.insert(id, (owner, title));
        }
        for (item, group) in
            sqlx::query_as::<_, (String, String)>("SELECT item_id, group_id FROM item_sharing WHERE scan_id = ?")
                .bind(scan_id)
                .fetch_all(pool)
                .await?
        {
            facts.sharing.entry(item).or_default().insert(group);
        }
        for (origin, dest, kind) in sqlx::query_as::<_, (String, String, String)>(
            "SELECT origin, destination, type FROM relationships WHERE scan_id = ? ORDER BY origin, destination, type",
        )
        .bind(scan_id)
        .fetch_all(pool)
        .await?
        {
            facts.related.entry(origin.clone()).or_default().push(Related {
                item_id: dest.clone(),
                relationship_type: kind.clone(),
                direction: arcgis::Direction::Forward,
            });
            facts.related.entry(dest).or_default().push(Related {
                item_id: origin,
                relationship_type: kind,
                direction: arcgis::Direction::Reverse,
            });
        }
        for (group, user, role) in sqlx::query_as::<_, (String, String, String)>(
            "SELECT group_id, username, member_type FROM group_members WHERE scan_id = ?
             ORDER BY group_id, CASE member_type WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 ELSE 2 END, username",
        )
        .bind(scan_id)
        .fetch_all(pool)
        .await?
        {
            let role = match role.as_str() {
                "owner" => MemberType::Owner,
                "admin" => MemberType::Admin,
                _ => MemberType::Member,
            };
            facts.members.entry(group).or_default().push((user, role));
        }
        Ok(facts)
    }

    /// The folders of a user: (id, title).
    pub fn folders_of(&self, username: &str) -> Vec<(String, String)> {
        self.folders.iter().filter(|(_, (o, _))| o == username).map(|(id, (_, t))| (id.clone(), t.clone())).collect()
    }

    /// The groups a user belongs to, with the role.
    pub fn groups_of(&self, username: &str) -> Vec<(String, MemberType)> {
        self.members
            .iter()
            .flat_map(|(g, ms)| ms.iter().filter(|(u, _)| u == username).map(move |(_, r)| (g.clone(), *r)))
            .collect()
    }

    /// Items shared with a group.
    pub fn content_of(&self, group_id: &str) -> Vec<String> {
        self.sharing.iter().filter(|(_, gs)| gs.contains(group_id)).map(|(i, _)| i.clone()).collect()
    }
}
