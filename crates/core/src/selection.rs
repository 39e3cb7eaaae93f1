//! What to back up: a [`Selection`] says it in the user's terms (everything; these items, users
//! and groups; or filters), and resolves against one scan's catalog to concrete id sets with a
//! tally and an estimated size.
//!
//! Meaning of each form:
//! - `Everything`: every item, user and group of the catalog.
//! - `Explicit`: the listed items plus every item owned by a listed user; the listed users; the
//!   listed groups. Ids the catalog does not know are reported in `unknown`, not an error
//!   (the portal may have changed since the scan).
//! - `Exact`: the listed items, users and groups and nothing else (the desktop app, where each
//!   element is selected on its own and the tally shown must be what is backed up). Unknown ids
//!   are reported as for `Explicit`.
//! - `Filtered`: the items matching all (or any) of the filters; the users owning them; the
//!   groups they are shared with. `All` of no filter selects every item; `Any` of none, nothing.
//!
//! Dependencies (what selected items need and are not selected) are resolved too, so the UI can
//! say "3 more items are needed"; whether to include them is the backup's choice.
//!
//! Size estimate: items' `size` plus the length of every selected item's, user's and group's
//! JSON (the metadata a backup writes). Item resources and thumbnails are not known before a
//! backup and are not counted.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row, Sqlite};

use crate::catalog::Catalog;
use crate::error::Result;

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Combine {
    All,
    Any,
}

/// One condition on an item. Text comparisons ignore ASCII case.
#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Filter {
    TypeEquals(String),
    TypeContains(String),
    Owner(String),
    TitleContains(String),
    Tag(String),
    /// The item's owner is a member (any role) of this group.
    OwnerInGroup(String),
}

#[cfg_attr(feature = "specta", derive(specta::Type))]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum Selection {
    Everything,
    Explicit { items: Vec<String>, users: Vec<String>, groups: Vec<String> },
    Exact { items: Vec<String>, users: Vec<String>, groups: Vec<String> },
    Filtered { combine: Combine, filters: Vec<Filter> },
}

/// Counts and size of a resolved selection.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Tally {
    pub items: u64,
    pub users: u64,
    pub groups: u64,
    /// Items needed by the selection but not in it.
    pub dependencies: u64,
    /// Estimated bytes of the selection (see the module doc).
    pub estimated_bytes: u64,
    /// Estimated bytes of the dependencies alone.
    pub dependency_bytes: u64,
}

/// A selection turned into ids of one catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resolved {
    pub items: BTreeSet<String>,
    pub users: BTreeSet<String>,
    pub groups: BTreeSet<String>,
    pub dependencies: BTreeSet<String>,
    /// Explicit ids the catalog does not hold.
    pub unknown: Vec<String>,
    pub tally: Tally,
}

struct ItemFacts {
    owner: String,
    bytes: u64,
}

fn push_filter(q: &mut QueryBuilder<'_, Sqlite>, f: &Filter) {
    match f {
        Filter::TypeEquals(t) => {
            q.push("lower(i.type) = lower(").push_bind(t.clone()).push(")");
        }
        Filter::TypeContains(t) => {
            q.push("instr(lower(i.type), lower(").push_bind(t.clone()).push(")) > 0");
        }
        Filter::Owner(o) => {
            q.push("i.owner = ").push_bind(o.clone());
        }
        Filter::TitleContains(t) => {
            q.push("instr(lower(i.title), lower(").push_bind(t.clone()).push(")) > 0");
        }
        Filter::Tag(t) => {
            q.push("EXISTS (SELECT 1 FROM json_each(i.tags) WHERE lower(json_each.value) = lower(")
                .push_bind(t.clone())
                .push("))");
        }
        Filter::OwnerInGroup(g) => {
            q.push("EXISTS (SELECT 1 FROM group_members m WHERE m.scan_id = i.scan_id AND m.username = i.owner AND m.group_id = ")
                .push_bind(g.clone())
                .push(")");
        }
    }
}

impl Selection {
    /// The tally of this selection in the identity's newest complete scan (what a backup
    /// started now would take, before its own fresh scan); `None` before any scan.
    pub async fn tally_in_latest_scan(&self, db: &crate::db::Db, identity_id: &str) -> Result<Option<Tally>> {
        let catalog = Catalog::new(db);
        match catalog.latest_complete_scan(identity_id).await? {
            Some(scan) => Ok(Some(self.resolve(&catalog, scan.id).await?.tally)),
            None => Ok(None),
        }
    }

    /// Resolves against the catalog of `scan_id`.
    pub async fn resolve(&self, catalog: &Catalog<'_>, scan_id: i64) -> Result<Resolved> {
        let pool = catalog.db().pool();
        let mut facts: BTreeMap<String, ItemFacts> = BTreeMap::new();
        for r in sqlx::query("SELECT id, owner, size + length(json) AS bytes FROM items WHERE scan_id = ?")
            .bind(scan_id)
            .fetch_all(pool)
            .await?
        {
            facts.insert(
                r.get("id"),
                ItemFacts { owner: r.get("owner"), bytes: u64::try_from(r.get::<i64, _>("bytes")).unwrap_or(0) },
            );
        }
        let mut user_bytes: BTreeMap<String, u64> = BTreeMap::new();
        for (u, n) in sqlx::query_as::<_, (String, i64)>("SELECT username, length(json) FROM users WHERE scan_id = ?")
            .bind(scan_id)
            .fetch_all(pool)
            .await?
        {
            user_bytes.insert(u, u64::try_from(n).unwrap_or(0));
        }
        let mut group_bytes: BTreeMap<String, u64> = BTreeMap::new();
        for (g, n) in sqlx::query_as::<_, (String, i64)>("SELECT id, length(json) FROM groups WHERE scan_id = ?")
            .bind(scan_id)
            .fetch_all(pool)
            .await?
        {
            group_bytes.insert(g, u64::try_from(n).unwrap_or(0));
        }

        let mut out = Resolved::default();
        match self {
            Selection::Everything => {
                out.items = facts.keys().cloned().collect();
                out.users = user_bytes.keys().cloned().collect();
                out.groups = group_bytes.keys().cloned().collect();
            }
            Selection::Explicit { items, users, groups } | Selection::Exact { items, users, groups } => {
                for id in items {
                    if facts.contains_key(id) {
                        out.items.insert(id.clone());
                    } else {
                        out.unknown.push(id.clone());
                    }
                }
                for u in users {
                    if user_bytes.contains_key(u) {
                        out.users.insert(u.clone());
                    } else {
                        out.unknown.push(u.clone());
                    }
                }
                if matches!(self, Selection::Explicit { .. }) {
                    out.items
                        .extend(facts.iter().filter(|(_, f)| out.users.contains(&f.owner)).map(|(id, _)| id.clone()));
                }
                for g in groups {
                    if group_bytes.contains_key(g) {
                        out.groups.insert(g.clone());
                    } else {
                        out.unknown.push(g.clone());
                    }
                }
            }
            Selection::Filtered { combine, filters } => {
                if filters.is_empty() {
                    if *combine == Combine::All {
                        out.items = facts.keys().cloned().collect();
                    }
                } else {
                    let mut q = QueryBuilder::<Sqlite>::new("SELECT i.id FROM items i WHERE i.scan_id = ");
                    q.push_bind(scan_id).push(" AND (");
                    for (n, f) in filters.iter().enumerate() {
                        if n > 0 {
                            q.push(if *combine == Combine::All { " AND " } else { " OR " });
                        }
                        q.push("(");
                        push_filter(&mut q, f);
                        q.push(")");
                    }
                    q.push(")");
                    out.items = q.build().fetch_all(pool).await?.iter().map(|r| r.get::<String, _>(0)).collect();
                }
                out.users = out
                    .items
                    .iter()
                    .filter_map(|id| facts.get(id))
                    .map(|f| f.owner.clone())
                    .filter(|u| user_bytes.contains_key(u))
                    .collect();
                let shared: Vec<(String, String)> =
                    sqlx::query_as("SELECT item_id, group_id FROM item_sharing WHERE scan_id = ?")
                        .bind(scan_id)
                        .fetch_all(pool)
                        .await?;
                out.groups = shared
                    .into_iter()
                    .filter(|(i, g)| out.items.contains(i) && group_bytes.contains_key(g))
                    .map(|(_, g)| g)
                    .collect();
            }
        }

        out.dependencies = dependencies(catalog, scan_id, &out.items).await?;
        out.dependencies.retain(|id| facts.contains_key(id));
        let item_bytes =
            |ids: &BTreeSet<String>| ids.iter().filter_map(|id| facts.get(id)).map(|f| f.bytes).sum::<u64>();
        out.tally = Tally {
            items: out.items.len() as u64,
            users: out.users.len() as u64,
            groups: out.groups.len() as u64,
            dependencies: out.dependencies.len() as u64,
            estimated_bytes: item_bytes(&out.items)
                + out.users.iter().filter_map(|u| user_bytes.get(u)).sum::<u64>()
                + out.groups.iter().filter_map(|g| group_bytes.get(g)).sum::<u64>(),
            dependency_bytes: item_bytes(&out.dependencies),
        };
        Ok(out)
    }
}

/// Items reachable from `roots` in the dependency graph and not among them.
async fn dependencies(catalog: &Catalog<'_>, scan_id: i64, roots: &BTreeSet<String>) -> Result<BTreeSet<String>> {
    let edges: Vec<(String, String)> = sqlx::query_as(
        "SELECT item_id, target_item_id FROM item_references WHERE scan_id = ?1 AND target_item_id IS NOT NULL
         UNION SELECT origin, destination FROM relationships WHERE scan_id = ?1",
    )
    .bind(scan_id)
    .fetch_all(catalog.db().pool())
    .await?;
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    for (src, dst) in &edges {
        next.entry(src.as_str()).or_default().push(dst.as_str());
    }
    let mut seen: BTreeSet<&str> = roots.iter().map(String::as_str).collect();
    let mut queue: VecDeque<&str> = seen.iter().copied().collect();
    let mut found = BTreeSet::new();
    while let Some(id) = queue.pop_front() {
        for &dst in next.get(id).map(Vec::as_slice).unwrap_or(&[]) {
            if seen.insert(dst) {
                found.insert(dst.to_owned());
                queue.push_back(dst);
            }
        }
    }
    Ok(found)
}

impl Catalog<'_> {
    /// Estimated backup size of `selection` in this catalog, dependencies excluded.
    pub async fn estimated_bytes(&self, scan_id: i64, selection: &Selection) -> Result<u64> {
        Ok(selection.resolve(self, scan_id).await?.tally.estimated_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::fixture::{fixture, id};

    fn ids(letters: &str) -> BTreeSet<String> {
        letters.chars().map(id).collect()
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| (*s).to_owned()).collect()
    }

    async fn resolve(sel: Selection) -> Resolved {
        let f = fixture().await;
        sel.resolve(&Catalog::new(&f.db), f.scan_id).await.expect("resolve")
    }

    #[tokio::test]
    async fn everything_tallies_the_whole_catalog() {
        let r = resolve(Selection::Everything).await;
        assert_eq!(
            (r.tally.items, r.tally.users, r.tally.groups, r.tally.dependencies),
            (6, 3, 2, 0),
            "everything: nothing left to depend on"
        );
        let f = fixture().await;
        let (json_bytes,): (i64,) = sqlx::query_as("SELECT (SELECT SUM(length(json)) FROM items) + (SELECT SUM(length(json)) FROM users) + (SELECT SUM(length(json)) FROM groups)")
            .fetch_one(f.db.pool())
            .await
            .expect("sum");
        assert_eq!(
            r.tally.estimated_bytes,
            3400 + json_bytes as u64,
            "estimate = item sizes (3,400) + metadata JSON of items, users and groups"
        );
    }

    #[tokio::test]
    async fn explicit_users_bring_their_items_and_unknown_ids_are_reported() {
        let r = resolve(Selection::Explicit {
            items: vec![id('d'), id('z')],
            users: vec!["ann".into()],
            groups: vec!["g2".into(), "nope".into()],
        })
        .await;
        assert_eq!(r.items, ids("acd"), "ann's items plus the listed csv");
        assert_eq!(r.users, set(&["ann"]), "only listed users");
        assert_eq!(r.groups, set(&["g2"]), "only listed, known groups");
        assert_eq!(r.unknown, vec![id('z'), "nope".to_owned()], "ids missing from the catalog are reported, not fatal");
        assert_eq!(r.dependencies, ids("b"), "the map needs Roads, which is not selected");
        let f = fixture().await;
        let (roads_json,): (i64,) = sqlx::query_as("SELECT length(json) FROM items WHERE id = ?")
            .bind(id('b'))
            .fetch_one(f.db.pool())
            .await
            .expect("len");
        assert_eq!(r.tally.dependency_bytes, 1000 + roads_json as u64, "dependency bytes = size + JSON of Roads");
    }

    #[tokio::test]
    async fn exact_takes_only_the_listed_ids() {
        let r = resolve(Selection::Exact {
            items: vec![id('d'), id('z')],
            users: vec!["ann".into()],
            groups: vec!["g2".into()],
        })
        .await;
        assert_eq!(r.items, ids("d"), "a listed user does not bring their items: an item left out stays out");
        assert_eq!(r.users, set(&["ann"]), "the listed user");
        assert_eq!(r.groups, set(&["g2"]), "the listed group");
        assert_eq!(r.unknown, vec![id('z')], "unknown ids are reported as for Explicit");
        assert_eq!(r.tally.items, 1, "the tally counts exactly the listed, known items");
    }

    #[tokio::test]
    async fn filters_combine_with_all_and_any() {
        let all = resolve(Selection::Filtered {
            combine: Combine::All,
            filters: vec![Filter::TypeContains("service".into()), Filter::Owner("ann".into())],
        })
        .await;
        assert_eq!(all.items, ids("c"), "All: services owned by ann");
        assert_eq!(all.users, set(&["ann"]), "filtered users are the items' owners");
        assert_eq!(all.dependencies, ids("d"), "Parcels needs its csv through Service2Data");
        let any = resolve(Selection::Filtered {
            combine: Combine::Any,
            filters: vec![Filter::Tag("CITY".into()), Filter::TitleContains("ops".into())],
        })
        .await;
        assert_eq!(any.items, ids("abf"), "Any: tag city (case-insensitive) or title containing ops");
        assert_eq!(any.groups, set(&["g1", "g2"]), "groups the selected items are shared with");
        let member = resolve(Selection::Filtered {
            combine: Combine::All,
            filters: vec![Filter::OwnerInGroup("g1".into()), Filter::TypeEquals("web map".into())],
        })
        .await;
        assert_eq!(member.items, ids("a"), "owner in g1 (ann, bob) and type Web Map");
        let none = resolve(Selection::Filtered { combine: Combine::Any, filters: vec![] }).await;
        assert_eq!(none.tally, Tally::default(), "Any of no filter selects nothing");
        let every = resolve(Selection::Filtered { combine: Combine::All, filters: vec![] }).await;
        assert_eq!(every.tally.items, 6, "All of no filter selects every item");
    }

    #[tokio::test]
    async fn estimated_bytes_matches_the_tally() {
        let f = fixture().await;
        let c = Catalog::new(&f.db);
        let sel = Selection::Filtered { combine: Combine::All, filters: vec![Filter::Owner("bob".into())] };
        let bytes = c.estimated_bytes(f.scan_id, &sel).await.expect("estimate");
        let tally = sel.resolve(&c, f.scan_id).await.expect("resolve").tally;
        assert_eq!(bytes, tally.estimated_bytes, "the shortcut and the tally agree");
        assert!(bytes > 1000, "bob's Roads alone is 1,000 bytes: {bytes}");
    }

    #[test]
    fn selection_serializes_with_a_kind_tag() {
        let s = Selection::Filtered { combine: Combine::Any, filters: vec![Filter::Tag("x".into())] };
        let v = serde_json::to_value(&s).expect("json");
        assert_eq!(
            v,
            serde_json::json!({"kind": "filtered", "combine": "any", "filters": [{"kind": "tag", "value": "x"}]}),
            "the UI sends selections in this shape"
        );
        assert_eq!(serde_json::from_value::<Selection>(v).expect("back"), s, "round trip");
    }
}
