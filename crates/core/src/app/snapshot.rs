//! A snapshot as the same graph the visualizer draws for a scan, so that what to restore is chosen
//! the way what to back up is: from the manifest's items, users and groups, with the ties the
//! snapshot records (owners, memberships, sharing, portal relationships) and the references an
//! item's JSON data makes to other items of the snapshot (what a web map needs to draw).
//!
//! `references` and `related` edges run from the item that needs to the item it needs, which is
//! what the Restore screen offers to add: a map to the layers it names, a map or a form to its
//! service, a view (the destination of `Service2Service`) to its source service. `Service2Data`
//! ties (a service and the .sd or package it was published from) are left out: the restore reads
//! those from the snapshot itself.
//!
//! Subjects the backup could not save are nodes too, listed in `failed` with the backup's reason:
//! they are shown, never offered.

use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;

use futures::StreamExt;

use super::{EdgeKind, Graph, GraphEdge, GraphFailure, GraphGroup, GraphItem, GraphUser};
use crate::jobs::SubjectKind;
use crate::repo::{BlobRef, DataKind, RelDirection, RepoResult, Repository, SnapshotId};
// Portal relationships whose derived item is the origin point the other way in the graph: the
// graph's `related` edge runs from what needs to what is needed (a view to its source service).
const DERIVED_IS_DESTINATION: [&str; 1] = ["Service2Service"];
use crate::restore::ids_in;

/// Data documents larger than this are not read for references (no portal item's JSON data comes
/// near it; it bounds the memory one read may take).
const DATA_READ_MAX: u64 = 32 * 1024 * 1024;
/// Data documents read at once.
const READS_AT_ONCE: usize = 16;

/// The graph of snapshot `id` of `repo`.
pub async fn graph_of_snapshot(repo: &Repository, id: &SnapshotId) -> RepoResult<Graph> {
    let m = repo.manifest(id).await?;
    let mut items: Vec<GraphItem> = m
        .items
        .iter()
        .map(|i| GraphItem {
            id: i.id.clone(),
            title: i.title.clone(),
            item_type: i.item_type.clone(),
            owner: i.owner.clone(),
            size: i.size,
            access: i.sharing.access.clone(),
        })
        .collect();
    let mut users: Vec<GraphUser> = m
        .users
        .iter()
        .map(|u| GraphUser { username: u.username.clone(), full_name: u.full_name.clone(), role: u.role.clone() })
        .collect();
    let mut groups: Vec<GraphGroup> = m
        .groups
        .iter()
        .map(|g| GraphGroup { id: g.id.clone(), title: g.title.clone(), owner: g.owner.clone() })
        .collect();
    let mut failed: Vec<GraphFailure> = Vec::new();
    for f in &m.failed {
        failed.push(GraphFailure { kind: f.kind, id: f.id.clone(), reason: f.reason.clone() });
        // A failed subject has no entry; it is a node of its own, with what the backup knew.
        match f.kind {
            SubjectKind::Item if !items.iter().any(|i| i.id == f.id) => items.push(GraphItem {
                id: f.id.clone(),
                title: f.title.clone(),
                item_type: String::new(),
                owner: String::new(),
                size: 0,
                access: String::new(),
            }),
            SubjectKind::User if !users.iter().any(|u| u.username == f.id) => {
                users.push(GraphUser { username: f.id.clone(), full_name: f.title.clone(), role: String::new() })
            }
            SubjectKind::Group if !groups.iter().any(|g| g.id == f.id) => {
                groups.push(GraphGroup { id: f.id.clone(), title: f.title.clone(), owner: String::new() })
            }
            _ => {}
        }
    }
    failed.sort();
    failed.dedup();

    let item_ids: HashSet<&str> = items.iter().map(|i| i.id.as_str()).collect();
    let usernames: HashSet<&str> = users.iter().map(|u| u.username.as_str()).collect();
    let group_ids: HashSet<&str> = groups.iter().map(|g| g.id.as_str()).collect();
    let mut edges: BTreeSet<GraphEdge> = BTreeSet::new();
    let mut add = |from: &str, to: &str, kind: EdgeKind, ok: bool| {
        if ok {
            edges.insert(GraphEdge { from: from.to_owned(), to: to.to_owned(), kind });
        }
    };
    for i in &m.items {
        add(&i.owner, &i.id, EdgeKind::Owns, usernames.contains(i.owner.as_str()));
        for g in &i.sharing.groups {
            add(&i.id, g, EdgeKind::Shared, group_ids.contains(g.as_str()));
        }
        for r in &i.related {
            // What a service was published from (its .sd or package) is used from the snapshot
            // by the restore itself: not something the service needs restored beside it.
            if r.rel_type == "Service2Data" {
                continue;
            }
            let (origin, destination) = match r.direction {
                RelDirection::Forward => (i.id.as_str(), r.item_id.as_str()),
                RelDirection::Reverse => (r.item_id.as_str(), i.id.as_str()),
            };
            let (from, to) = if DERIVED_IS_DESTINATION.contains(&r.rel_type.as_str()) {
                (destination, origin)
            } else {
                (origin, destination)
            };
            add(from, to, EdgeKind::Related, item_ids.contains(from) && item_ids.contains(to));
        }
    }
    for g in &m.groups {
        add(&g.owner, &g.id, EdgeKind::Owns, usernames.contains(g.owner.as_str()));
        for u in g.members.iter().chain(&g.admins) {
            add(u, &g.id, EdgeKind::Member, usernames.contains(u.as_str()));
        }
        for i in &g.content {
            add(i, &g.id, EdgeKind::Shared, item_ids.contains(i.as_str()));
        }
    }
    for u in &m.users {
        for g in &u.groups {
            add(&u.username, g, EdgeKind::Member, group_ids.contains(g.as_str()));
        }
    }
    // What each item's JSON data names: read a few documents at a time.
    let documents: Vec<(String, BlobRef)> = m
        .items
        .iter()
        .filter_map(|i| {
            let d = i.data.as_ref().filter(|d| d.kind == DataKind::Json && d.blob.size <= DATA_READ_MAX)?;
            Some((i.id.clone(), d.blob.clone()))
        })
        .collect();
    let known: Arc<HashSet<String>> = Arc::new(item_ids.iter().map(|s| (*s).to_owned()).collect());
    let references: Vec<(String, Vec<String>)> = futures::stream::iter(documents)
        .map(|(id, blob)| {
            let known = known.clone();
            async move {
                // One unreadable document costs its item's reference edges, not the graph.
                let names = match repo.get_blob(&blob).await {
                    Ok(bytes) => match serde_json::from_slice::<serde_json::Value>(&bytes) {
                        Ok(v) => ids_in(&v, &|x: &str| known.contains(x)),
                        Err(_) => Vec::new(),
                    },
                    Err(e) => {
                        tracing::warn!(item = %id, "reading an item's data for the snapshot's graph failed: {e}");
                        Vec::new()
                    }
                };
                (id, names)
            }
        })
        .buffer_unordered(READS_AT_ONCE)
        .collect()
        .await;
    for (from, names) in &references {
        for to in names {
            add(from, to, EdgeKind::References, true);
        }
    }
    Ok(Graph { scan_id: 0, items, users, groups, edges: edges.into_iter().collect(), failed })
}
