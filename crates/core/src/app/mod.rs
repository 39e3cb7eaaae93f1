//! Reads the desktop app needs in one piece: the whole graph of a catalog (items, users,
//! groups and every tie between them) for the visualizer. Kept here, not in the shell, because
//! it is SQL over the catalog, which only the core knows.
//!
//! Invariants: every edge names two nodes of the same graph by id (an edge to an item the
//! catalog does not hold, e.g. a reference to another org's item, is left out); an edge appears
//! once however many rows say it; an item tied to itself (a map referencing itself, a
//! relationship from an item to itself) is kept as a self-edge, which a drawing must tolerate.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use sqlx::Row;

use crate::catalog::Catalog;
use crate::db::Db;
use crate::error::Result;
use crate::jobs::SubjectKind;

mod snapshot;
pub use snapshot::graph_of_snapshot;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GraphItem {
    pub id: String,
    pub title: String,
    /// The portal's item type; `type` in JSON, as the portal and the UI name it.
    #[serde(rename = "type")]
    pub item_type: String,
    pub owner: String,
    pub size: i64,
    pub access: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GraphUser {
    pub username: String,
    pub full_name: String,
    pub role: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GraphGroup {
    pub id: String,
    pub title: String,
    pub owner: String,
}

/// How two nodes are tied. `Owns`: user to item or group; `Member`: user to group; `Shared`:
/// item to group; `References`: item to the item its data names; `Related`: a portal
/// relationship, origin to destination.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[serde(rename_all = "snake_case")]
pub enum EdgeKind {
    Owns,
    Member,
    Shared,
    References,
    Related,
}

#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GraphEdge {
    pub from: String,
    pub to: String,
    pub kind: EdgeKind,
}

/// A node that could not be read whole: by the scan (the backup may still manage it, since it
/// scans again first) or by the backup that made a snapshot (it has nothing to restore).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct GraphFailure {
    pub kind: SubjectKind,
    /// The node's id: item id, username or group id.
    pub id: String,
    pub reason: String,
}

/// One catalog (or one snapshot) as nodes and edges.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "specta", derive(specta::Type))]
pub struct Graph {
    /// The scan the graph was read from; 0 for a snapshot's graph.
    pub scan_id: i64,
    pub items: Vec<GraphItem>,
    pub users: Vec<GraphUser>,
    pub groups: Vec<GraphGroup>,
    pub edges: Vec<GraphEdge>,
    /// Nodes not read whole, each also among the nodes above.
    pub failed: Vec<GraphFailure>,
}

/// The graph of the identity's newest complete scan, or `None` when it was never scanned.
pub async fn load_graph(db: &Db, identity_id: &str) -> Result<Option<Graph>> {
    match Catalog::new(db).latest_complete_scan(identity_id).await? {
        Some(scan) => Ok(Some(graph_of_scan(db, scan.id).await?)),
        None => Ok(None),
    }
}

/// The graph of one scan's catalog.
pub async fn graph_of_scan(db: &Db, scan_id: i64) -> Result<Graph> {
    let pool = db.pool();
    let items: Vec<GraphItem> =
        sqlx::query("SELECT id, title, type, owner, size, access FROM items WHERE scan_id = ? ORDER BY id")
            .bind(scan_id)
            .fetch_all(pool)
            .await?
            .iter()
            .map(|r| GraphItem {
                id: r.get("id"),
                title: r.get("title"),
                item_type: r.get("type"),
                owner: r.get("owner"),
                size: r.get("size"),
                access: r.get("access"),
            })
            .collect();
    let users: Vec<GraphUser> = sqlx::query(
        "SELECT username, COALESCE(json_extract(json, '$.fullName'), '') AS full_name, COALESCE(role, '') AS role
         FROM users WHERE scan_id = ? ORDER BY username",
    )
    .bind(scan_id)
    .fetch_all(pool)
    .await?
    .iter()
    .map(|r| GraphUser { username: r.get("username"), full_name: r.get("full_name"), role: r.get("role") })
    .collect();
    let groups: Vec<GraphGroup> = sqlx::query("SELECT id, title, owner FROM groups WHERE scan_id = ? ORDER BY id")
        .bind(scan_id)
        .fetch_all(pool)
        .await?
        .iter()
        .map(|r| GraphGroup { id: r.get("id"), title: r.get("title"), owner: r.get("owner") })
        .collect();

    let item_ids: BTreeSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let usernames: BTreeSet<&str> = users.iter().map(|u| u.username.as_str()).collect();
    let group_ids: BTreeSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    let mut edges: BTreeSet<GraphEdge> = BTreeSet::new();
    let mut add = |from: &str, to: &str, kind: EdgeKind, ok: bool| {
        if ok {
            edges.insert(GraphEdge { from: from.to_owned(), to: to.to_owned(), kind });
        }
    };
    for i in &items {
        add(&i.owner, &i.id, EdgeKind::Owns, usernames.contains(i.owner.as_str()));
    }
    for g in &groups {
        add(&g.owner, &g.id, EdgeKind::Owns, usernames.contains(g.owner.as_str()));
    }
    let pairs = |sql: &'static str| sqlx::query(sql).bind(scan_id).fetch_all(pool);
    for r in pairs("SELECT username AS a, group_id AS b FROM group_members WHERE scan_id = ?").await? {
        let (a, b): (&str, &str) = (r.get("a"), r.get("b"));
        add(a, b, EdgeKind::Member, usernames.contains(a) && group_ids.contains(b));
    }
    for r in pairs("SELECT item_id AS a, group_id AS b FROM item_sharing WHERE scan_id = ?").await? {
        let (a, b): (&str, &str) = (r.get("a"), r.get("b"));
        add(a, b, EdgeKind::Shared, item_ids.contains(a) && group_ids.contains(b));
    }
    for r in pairs(
        "SELECT item_id AS a, target_item_id AS b FROM item_references WHERE scan_id = ? AND target_item_id IS NOT NULL",
    )
    .await?
    {
        let (a, b): (&str, &str) = (r.get("a"), r.get("b"));
        add(a, b, EdgeKind::References, item_ids.contains(a) && item_ids.contains(b));
    }
    for r in pairs("SELECT origin AS a, destination AS b FROM relationships WHERE scan_id = ?").await? {
        let (a, b): (&str, &str) = (r.get("a"), r.get("b"));
        add(a, b, EdgeKind::Related, item_ids.contains(a) && item_ids.contains(b));
    }
    let mut failed: Vec<GraphFailure> = Vec::new();
    for r in pairs("SELECT item_id AS a, message AS b FROM scan_problems WHERE scan_id = ? AND incomplete = 1 AND item_id IS NOT NULL ORDER BY id")
        .await?
    {
        let (id, reason): (String, String) = (r.get("a"), r.get("b"));
        let kind = if item_ids.contains(id.as_str()) {
            SubjectKind::Item
        } else if usernames.contains(id.as_str()) {
            SubjectKind::User
        } else if group_ids.contains(id.as_str()) {
            SubjectKind::Group
        } else {
            continue;
        };
        if !failed.iter().any(|f| f.id == id && f.kind == kind) {
            failed.push(GraphFailure { kind, id, reason });
        }
    }
    Ok(Graph { scan_id, items, users, groups, edges: edges.into_iter().collect(), failed })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::fixture::{fixture, id};
    use crate::catalog::ScanState;

    fn has(g: &Graph, from: &str, to: &str, kind: EdgeKind) -> bool {
        g.edges.iter().any(|e| e.from == from && e.to == to && e.kind == kind)
    }

    #[tokio::test]
    async fn graph_holds_every_node_and_tie_of_the_catalog() {
        let f = fixture().await;
        let g = graph_of_scan(&f.db, f.scan_id).await.expect("graph");
        assert_eq!((g.items.len(), g.users.len(), g.groups.len()), (6, 3, 2), "every node of the fixture");
        assert!(has(&g, "ann", &id('a'), EdgeKind::Owns), "ann owns the city map");
        assert!(has(&g, "ann", "g1", EdgeKind::Owns), "a group's owner owns it");
        assert!(has(&g, "bob", "g1", EdgeKind::Member), "bob is a member of g1");
        assert!(has(&g, &id('a'), "g1", EdgeKind::Shared), "the map is shared with g1");
        assert!(has(&g, &id('a'), &id('b'), EdgeKind::References), "the map's data names the roads layer");
        assert!(has(&g, &id('c'), &id('d'), EdgeKind::Related), "the Service2Data relationship");
        assert!(has(&g, &id('a'), &id('a'), EdgeKind::References), "an item naming itself stays a self-edge");
        let nodes: BTreeSet<&str> = g
            .items
            .iter()
            .map(|i| i.id.as_str())
            .chain(g.users.iter().map(|u| u.username.as_str()))
            .chain(g.groups.iter().map(|g| g.id.as_str()))
            .collect();
        assert!(
            g.edges.iter().all(|e| nodes.contains(e.from.as_str()) && nodes.contains(e.to.as_str())),
            "no edge may point outside the graph"
        );
        let distinct: BTreeSet<&GraphEdge> = g.edges.iter().collect();
        assert_eq!(distinct.len(), g.edges.len(), "each edge appears once");
    }

    #[tokio::test]
    async fn only_a_complete_scan_gives_a_graph() {
        let f = fixture().await;
        let scan = Catalog::new(&f.db).scan(f.scan_id).await.expect("scan");
        assert_eq!(load_graph(&f.db, &scan.identity_id).await.expect("load"), None, "a running scan is not shown");
        Catalog::new(&f.db)
            .finish_scan(f.scan_id, ScanState::Complete, &crate::jobs::ScanCounts::default(), 1)
            .await
            .expect("finish");
        let g = load_graph(&f.db, &scan.identity_id).await.expect("load").expect("complete scan");
        assert_eq!(g.scan_id, f.scan_id, "the newest complete scan is the one drawn");
    }
}
