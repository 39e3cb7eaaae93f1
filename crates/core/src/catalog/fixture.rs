//! A small hand-made catalog for unit tests of queries and selections.
//!
//! Items (id = letter repeated 32 times):
//! - `a` Web Map "City map" by ann, tags [city], 100 bytes, data references `b` and `c`, and itself
//! - `b` Feature Service "Roads" by bob, tags [roads, City], 1000 bytes
//! - `c` Feature Service "Parcels" by ann, 2000 bytes, relationship c -> d (Service2Data)
//! - `d` CSV "Parcels csv" by carl, 300 bytes
//! - `e` Web Mapping Application "City app" by bob, references `a`; `f` references `e` and `e`
//!   references `f` (an app cycle)
//! - `f` Dashboard "Ops" by carl
//!
//! Users ann, bob, carl. Groups g1 (owner ann, member bob), g2 (owner carl).
//!
//! Sharing: a -> g1, b -> g1, f -> g2.

use serde_json::json;

use super::{Catalog, GroupRow, ItemRow, MemberType, UserRow};
use crate::clock::ManualClock;
use crate::db::Db;
use crate::identity::{Identities, IdentitySpec, PortalKind, SignIn, Storage, TlsOptions};
use crate::references::{Reference, Target};

pub(crate) fn id(letter: char) -> String {
    letter.to_string().repeat(32)
}

pub(crate) struct Fixture {
    pub db: Db,
    pub scan_id: i64,
}

fn item(letter: char, title: &str, item_type: &str, owner: &str, size: i64, tags: &[&str]) -> ItemRow {
    let v = json!({"id": id(letter), "title": title, "type": item_type, "owner": owner, "size": size, "tags": tags, "access": "shared"});
    ItemRow::from_json(&v).expect("has an id")
}

fn refers(from: char, to: char) -> (String, Reference) {
    (id(from), Reference { target: Target::Item(id(to)), pointer: format!("/ref/{to}"), whole: true })
}

pub(crate) async fn fixture() -> Fixture {
    let db = Db::open_in_memory().await.expect("db");
    let clock = ManualClock::new(0);
    let identity = Identities::new(&db, &clock)
        .create(IdentitySpec {
            name: "Acme".into(),
            portal_url: "https://acme.maps.arcgis.com".into(),
            kind: PortalKind::Online,
            sign_in: SignIn::Builtin { username: "admin".into() },
            storage: Storage::Local { path: "/tmp/b".into() },
            custom_headers: vec![],
            tls: TlsOptions::default(),
        })
        .await
        .expect("identity");
    let catalog = Catalog::new(&db);
    let scan_id = catalog.create_scan(&identity.id, "org1", None, 0).await.expect("scan");
    catalog
        .insert_items(
            scan_id,
            &[
                item('a', "City map", "Web Map", "ann", 100, &["city"]),
                item('b', "Roads", "Feature Service", "bob", 1000, &["roads", "City"]),
                item('c', "Parcels", "Feature Service", "ann", 2000, &[]),
                item('d', "Parcels csv", "CSV", "carl", 300, &[]),
                item('e', "City app", "Web Mapping Application", "bob", 0, &[]),
                item('f', "Ops", "Dashboard", "carl", 0, &[]),
            ],
        )
        .await
        .expect("items");
    let users: Vec<UserRow> = ["ann", "bob", "carl"]
        .iter()
        .map(|u| UserRow::from_json(&json!({"username": u, "role": "org_user"})).expect("user"))
        .collect();
    catalog.insert_users(scan_id, &users).await.expect("users");
    let groups: Vec<GroupRow> = [("g1", "ann"), ("g2", "carl")]
        .iter()
        .map(|(g, o)| {
            GroupRow::from_json(&json!({"id": g, "title": g, "owner": o, "access": "org", "isViewOnly": true}))
                .expect("group")
        })
        .collect();
    catalog.insert_groups(scan_id, &groups).await.expect("groups");
    catalog
        .insert_members(
            scan_id,
            &[
                ("g1".into(), "ann".into(), MemberType::Owner),
                ("g1".into(), "bob".into(), MemberType::Member),
                ("g2".into(), "carl".into(), MemberType::Owner),
            ],
        )
        .await
        .expect("members");
    catalog
        .insert_sharing(scan_id, &[(id('a'), "g1".into()), (id('b'), "g1".into()), (id('f'), "g2".into())])
        .await
        .expect("sharing");
    catalog.insert_relationships(scan_id, &[(id('c'), id('d'), "Service2Data".into())]).await.expect("relationships");
    catalog
        .insert_references(
            scan_id,
            &[
                refers('a', 'b'),
                refers('a', 'c'),
                refers('a', 'a'),
                refers('e', 'a'),
                refers('e', 'f'),
                refers('f', 'e'),
            ],
        )
        .await
        .expect("references");
    Fixture { db, scan_id }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn counts_and_lookups() {
        let f = fixture().await;
        let c = Catalog::new(&f.db);
        let counts = c.counts(f.scan_id).await.expect("counts");
        assert_eq!(
            (
                counts.items,
                counts.users,
                counts.groups,
                counts.memberships,
                counts.sharing,
                counts.relationships,
                counts.references
            ),
            (6, 3, 2, 3, 3, 1, 6),
            "counts match what was written"
        );
        let ann: Vec<String> =
            c.items_by_owner(f.scan_id, "ann").await.expect("owner").into_iter().map(|i| i.title).collect();
        assert_eq!(ann, vec!["City map", "Parcels"], "ann's items by title");
        assert_eq!(c.items_by_type(f.scan_id, "Feature Service").await.expect("type").len(), 2, "two services");
        let bob_groups = c.user_groups(f.scan_id, "bob").await.expect("groups");
        assert_eq!(
            bob_groups.iter().map(|m| (m.group_id.as_str(), m.member_type)).collect::<Vec<_>>(),
            vec![("g1", MemberType::Member)],
            "bob is a plain member of g1"
        );
        let content: Vec<String> =
            c.group_content(f.scan_id, "g1").await.expect("content").into_iter().map(|i| i.id).collect();
        assert_eq!(content, vec![id('a'), id('b')], "g1 holds City map and Roads, by title");
        let json = c.item_json(f.scan_id, &id('a')).await.expect("json").expect("present");
        assert_eq!(json["title"], "City map", "the item's JSON is kept whole");
        let g: (String,) = sqlx::query_as("SELECT settings FROM groups WHERE id = 'g1'")
            .fetch_one(f.db.pool())
            .await
            .expect("settings");
        assert_eq!(g.0, r#"{"isViewOnly":true}"#, "group settings keep what createGroup needs");
    }

    #[tokio::test]
    async fn dependency_graph_is_transitive_and_survives_cycles() {
        let f = fixture().await;
        let c = Catalog::new(&f.db);
        assert_eq!(
            c.dependencies_of(f.scan_id, &id('a')).await.expect("deps"),
            vec![id('b'), id('c'), id('d')],
            "a map needs its layers and, through the relationship, the service's data; not itself"
        );
        assert_eq!(
            c.dependencies_of(f.scan_id, &id('e')).await.expect("deps"),
            vec![id('a'), id('b'), id('c'), id('d'), id('f')],
            "the app cycle e<->f terminates and yields everything downstream"
        );
        assert_eq!(
            c.dependents_of(f.scan_id, &id('d')).await.expect("rdeps"),
            vec![id('a'), id('c'), id('e'), id('f')],
            "who needs the csv, transitively, through the reverse of the relationship"
        );
        assert!(c.dependencies_of(f.scan_id, &id('d')).await.expect("deps").is_empty(), "a leaf needs nothing");
    }

    #[tokio::test]
    async fn deleting_a_scan_removes_its_rows() {
        let f = fixture().await;
        let c = Catalog::new(&f.db);
        c.delete_scan(f.scan_id).await.expect("delete");
        let counts = c.counts(f.scan_id).await.expect("counts");
        assert_eq!(counts, crate::catalog::CatalogCounts::default(), "every catalog row cascades with its scan");
    }
}
