//! What the backup reads from the scan's catalog instead of asking the portal again: item,
//! user and group JSON, folders, sharing, memberships, relationships. One query per subject
//! kind and scan, held in maps, so the per-subject work makes no SQL round trips.

use std::collections::{BTreeMap, BTreeSet};

use futures::TryStreamExt;
use serde_json::Value;
use sqlx::Row;

use crate::catalog::{Catalog, ItemSummary, MemberType};
use crate::error::{Error, Result};
use crate::item_type::ItemType;

/// One relationship of an item, seen from that item.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Related {
    pub item_id: String,
    pub relationship_type: String,
    /// `forward`: this item is the origin; `reverse`: it is the destination.
    pub direction: arcgis::Direction,
}

/// Catalog facts of one scan, for the selected subjects. Items are not held here: they are read
/// page by page while the backup runs ([`selected_items`]).
#[derive(Debug, Default)]
pub(crate) struct Facts {
    /// username -> user JSON as the catalog holds it; kept as text (a parsed `Value` costs
    /// several times its text) and parsed by the user's task.
    pub users: BTreeMap<String, String>,
    /// group id -> group JSON text, as for users.
    pub groups: BTreeMap<String, String>,
    /// folder id -> (owner, title)
    pub folders: BTreeMap<String, (String, String)>,
    /// item id -> group ids
    pub sharing: BTreeMap<String, BTreeSet<String>>,
    pub related: BTreeMap<String, Vec<Related>>,
    /// group id -> (username, role)
    pub members: BTreeMap<String, Vec<(String, MemberType)>>,
}

/// Items read per catalog query while a backup runs.
const ITEM_PAGE: i64 = 256;

/// The selected items of `scan_id` in id order, each with its JSON as the catalog holds it,
/// read a page at a time as the consumer asks: with `buffer_unordered` over this stream only
/// the items in progress and one page are in memory, whatever the organization's size (all of
/// them at once cost ~1.2 KB per item for the whole job).
pub(crate) fn selected_items<'a>(
    catalog: &'a Catalog<'a>,
    scan_id: i64,
    items: &'a BTreeSet<String>,
) -> futures::stream::BoxStream<'a, Result<(ItemSummary, String)>> {
    // Boxed, so that `Send` is proven here with `'a` concrete (see `backup::run_begun`).
    // State: the last id read, or None once the catalog has no more rows.
    let pages = futures::stream::try_unfold(Some(String::new()), move |after| async move {
        let Some(after) = after else { return Ok(None) };
        let rows = sqlx::query(
            "SELECT id, owner, folder_id, title, type, size, access, url, modified_ms, layer_count, last_edit_ms, json
             FROM items WHERE scan_id = ? AND id > ? ORDER BY id LIMIT ?",
        )
        .bind(scan_id)
        .bind(&after)
        .bind(ITEM_PAGE)
        .fetch_all(catalog.db().pool())
        .await?;
        let next = (rows.len() as i64 == ITEM_PAGE).then(|| rows.last().map(|r| r.get::<String, _>("id"))).flatten();
        let page: Vec<Result<(ItemSummary, String)>> = rows
            .into_iter()
            .filter(|r| items.contains(r.get::<&str, _>("id")))
            .map(|r| {
                let summary = ItemSummary {
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
                };
                Ok((summary, r.get("json")))
            })
            .collect();
        Ok::<_, Error>(Some((futures::stream::iter(page), next)))
    });
    futures::StreamExt::boxed(pages.try_flatten())
}

/// The selected items the catalog of `scan_id` does not hold (changed since the selection was
/// resolved, e.g. by a concurrent rescan).
pub(crate) async fn missing_items(
    catalog: &Catalog<'_>,
    scan_id: i64,
    items: &BTreeSet<String>,
) -> Result<Vec<String>> {
    let mut present = BTreeSet::new();
    let mut rows = sqlx::query_as::<_, (String,)>("SELECT id FROM items WHERE scan_id = ?")
        .bind(scan_id)
        .fetch(catalog.db().pool());
    while let Some((id,)) = rows.try_next().await? {
        if items.contains(&id) {
            present.insert(id);
        }
    }
    Ok(items.iter().filter(|i| !present.contains(*i)).cloned().collect())
}

/// Parses a user's or group's catalog JSON (kept as text in [`Facts`]).
pub(crate) fn parse_json(text: &str, what: &str) -> std::result::Result<Value, String> {
    serde_json::from_str(text).map_err(|e| format!("the catalog's JSON of {what} is not valid: {e}"))
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
        let (scene, service) = match (ItemType::parse(&origin_type), ItemType::parse(&dest_type)) {
            (Some(ItemType::SceneService), Some(ItemType::FeatureService)) => (origin, dest),
            (Some(ItemType::FeatureService), Some(ItemType::SceneService)) => (dest, origin),
            _ => continue,
        };
        if items.contains(&scene) && !items.contains(&service) {
            backing.entry(service).or_insert(scene);
        }
    }
    Ok(backing)
}

/// What the selected hosted services were published from (`Service2Data`, origin the service)
/// and the selection leaves out: a feature service's `Service Definition`, a tile, vector tile or
/// scene layer's package. Answers source item -> service.
pub(crate) async fn service_definitions(
    catalog: &Catalog<'_>,
    scan_id: i64,
    items: &BTreeSet<String>,
) -> Result<BTreeMap<String, String>> {
    let rows = sqlx::query_as::<_, (String, String)>(
        "SELECT r.origin, r.destination FROM relationships r
         JOIN items o ON o.scan_id = r.scan_id AND o.id = r.origin
         JOIN items d ON d.scan_id = r.scan_id AND d.id = r.destination
         WHERE r.scan_id = ? AND r.type = 'Service2Data'
           AND ((o.type = 'Feature Service' AND d.type = 'Service Definition')
             OR (o.type IN ('Map Service', 'Vector Tile Service', 'Scene Service', 'Image Service')
                 AND d.type IN ('Tile Package', 'Compact Tile Package', 'Vector Tile Package', 'Scene Package', 'Scene Layer Package')))
         ORDER BY r.origin, r.destination",
    )
    .bind(scan_id)
    .fetch_all(catalog.db().pool())
    .await?;
    let mut out = BTreeMap::new();
    for (service, definition) in rows {
        if items.contains(&service) && !items.contains(&definition) {
            out.entry(definition).or_insert(service);
        }
    }
    Ok(out)
}

impl Facts {
    /// Loads the facts of `scan_id` for the given users and groups (all items' sharing,
    /// relationships and folders; items themselves stream through [`selected_items`]).
    pub async fn load(
        catalog: &Catalog<'_>,
        scan_id: i64,
        users: &BTreeSet<String>,
        groups: &BTreeSet<String>,
    ) -> Result<Facts> {
        let pool = catalog.db().pool();
        let mut facts = Facts::default();
        for (name, json) in sqlx::query_as::<_, (String, String)>("SELECT username, json FROM users WHERE scan_id = ?")
            .bind(scan_id)
            .fetch_all(pool)
            .await?
        {
            if users.contains(&name) {
                facts.users.insert(name, json);
            }
        }
        for (id, json) in sqlx::query_as::<_, (String, String)>("SELECT id, json FROM groups WHERE scan_id = ?")
            .bind(scan_id)
            .fetch_all(pool)
            .await?
        {
            if groups.contains(&id) {
                facts.groups.insert(id, json);
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

#[cfg(test)]
mod tests {
    use futures::TryStreamExt;

    use super::*;
    use crate::db::Db;

    /// A catalog holding `n` items of scan 1, ids `item-0000`.. in order.
    async fn catalog_with_items(n: usize) -> Db {
        let db = Db::open_in_memory().await.expect("in-memory db");
        // Only the items table matters here; its scan and identity rows are not the subject.
        sqlx::query("PRAGMA foreign_keys = OFF").execute(db.pool()).await.expect("pragma");
        for i in 0..n {
            sqlx::query(
                "INSERT INTO items (scan_id, id, owner, title, type, access, json) VALUES (1, ?, 'ann', ?, 'PDF', 'private', ?)",
            )
            .bind(format!("item-{i:04}"))
            .bind(format!("Title {i}"))
            .bind(format!("{{\"id\":\"item-{i:04}\"}}"))
            .execute(db.pool())
            .await
            .expect("insert item");
        }
        db
    }

    #[tokio::test]
    async fn selected_items_stream_across_pages_in_id_order() {
        let n = 2 * ITEM_PAGE as usize + 37;
        let db = catalog_with_items(n).await;
        let catalog = Catalog::new(&db);
        let mut selected: BTreeSet<String> = (0..n).step_by(3).map(|i| format!("item-{i:04}")).collect();
        selected.insert("item-9999".into());
        let got: Vec<(ItemSummary, String)> =
            selected_items(&catalog, 1, &selected).try_collect().await.expect("items stream");
        let got_ids: Vec<&str> = got.iter().map(|(s, _)| s.id.as_str()).collect();
        let want: Vec<String> = (0..n).step_by(3).map(|i| format!("item-{i:04}")).collect();
        assert_eq!(got_ids, want, "every selected item of every page comes once, in id order, and nothing else");
        let (summary, json) = &got[1];
        assert_eq!(summary.title, "Title 3", "the summary is read from the item's own row");
        assert_eq!(json, "{\"id\":\"item-0003\"}", "the JSON text is the catalog's, unparsed");
        assert_eq!(
            missing_items(&catalog, 1, &selected).await.expect("missing"),
            vec!["item-9999".to_owned()],
            "a selected id the catalog lacks is reported missing"
        );
        let other_scan: Vec<(ItemSummary, String)> =
            selected_items(&catalog, 2, &selected).try_collect().await.expect("items stream");
        assert!(other_scan.is_empty(), "items of another scan are never read");
    }
}
