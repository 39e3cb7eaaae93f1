//! A 12,000-item organization: past the search's 10,000 cap, exact counts, a bounded request
//! budget, complete side tables.

use std::collections::{BTreeSet, HashSet};
use std::time::Instant;

use orgvault_core::catalog::ScanState;
use orgvault_core::jobs::{JobCounts, JobState, Jobs};
use orgvault_core::references;
use orgvault_core::scan::{has_json_data, origin_relationships, service_layers_endpoint};
use orgvault_core::{scan, Catalog, NoProgress, SystemClock};
use portal_sim::model::ItemData;
use portal_sim::SimConfig;
use tokio_util::sync::CancellationToken;

use crate::support::{connect, db_with_identity, sim_tally, start_sim};

/// Requests the scan needs beyond the org-wide listings, computed from the simulator's state:
/// exact when nothing fails.
fn per_subject_requests(org: &portal_sim::model::Org) -> u64 {
    let groups = org.groups.len() as u64;
    let group_pages: u64 = org
        .groups
        .keys()
        .map(|g| {
            let n = org.items.values().filter(|i| i.shared_groups.contains(g)).count() as u64;
            n.div_ceil(100).max(1)
        })
        .sum();
    let folder_owners: BTreeSet<&str> =
        org.items.values().filter(|i| i.owner_folder.is_some()).map(|i| i.owner.as_str()).collect();
    let related: u64 = org.items.values().map(|i| origin_relationships(&i.item_type).len() as u64).sum();
    let data: u64 = org.items.values().filter(|i| has_json_data(&i.item_type)).count() as u64;
    let services: u64 =
        org.items.values().filter(|i| service_layers_endpoint(&i.item_type).is_some() && i.url.is_some()).count()
            as u64;
    groups + group_pages + folder_owners.len() as u64 + related + data + services
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_12000_item_org_is_cataloged_exactly_within_its_request_budget() -> anyhow::Result<()> {
    let sim =
        start_sim(SimConfig { orgs: 1, items: 12_000, users: 2_000, groups: 500, ..SimConfig::default() }).await?;
    let org = sim.orgs[0].clone();
    let portal = connect(&org.portal_url, &org.admin).await?;
    let (db, identity) = db_with_identity(&org.portal_url, &org.admin.username).await?;

    let started = Instant::now();
    let summary = scan(&db, &portal, &identity, &NoProgress, CancellationToken::new(), &SystemClock).await?;
    let elapsed = started.elapsed();

    let want = sim_tally(&sim, &org.url_key);
    assert_eq!(want.items, 12_000, "the simulator holds the configured 12,000 items");
    assert_eq!(
        (summary.items, summary.users, summary.groups),
        (want.items, want.users, want.groups),
        "items past the 10,000 cap, users and groups are all cataloged, once each"
    );
    assert_eq!(summary.problems, 0, "a healthy org yields no scan problems");

    let catalog = Catalog::new(&db);
    let counts = catalog.counts(summary.scan_id).await?;
    assert_eq!(counts.memberships, want.memberships, "every owner, admin and member of every group is recorded");
    assert_eq!(counts.sharing, want.sharing, "every item-to-group share is recorded from the group content searches");

    let (orphans,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM items WHERE scan_id = ?1 AND folder_id IS NOT NULL AND folder_id NOT IN (SELECT id FROM folders WHERE scan_id = ?1)")
        .bind(summary.scan_id)
        .fetch_one(db.pool())
        .await?;
    assert_eq!(orphans, 0, "every folder holding an item is in the catalog");

    let (sim_relationships, per_subject, sample) = {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let o = universe.org_by_url_key(&org.url_key).expect("org");
        let forward: HashSet<(String, String, String)> = o
            .relationships
            .iter()
            .filter(|r| {
                o.items.get(&r.origin).is_some_and(|i| origin_relationships(&i.item_type).contains(&r.kind.as_str()))
            })
            .map(|r| (r.origin.clone(), r.destination.clone(), r.kind.clone()))
            .collect();
        assert_eq!(
            forward.len(),
            o.relationships.len(),
            "every relationship the simulator has starts at a type the scan asks about"
        );
        let sample = o.items.values().find_map(|i| match (&i.data, i.item_type.as_str()) {
            (ItemData::Json(v), "Web Map") => Some((i.id.clone(), v.clone())),
            _ => None,
        });
        let ids: HashSet<String> = o.items.keys().cloned().collect();
        let sample = sample.map(|(id, v)| (id, references::extract(&v, &|x: &str| ids.contains(x))));
        (forward.len() as u64, per_subject_requests(o), sample)
    };
    assert_eq!(summary.relationships, sim_relationships, "forward relationships are read for every origin item");

    let (map_id, want_refs) = sample.expect("the simulator generates web maps");
    let got_refs: Vec<(Option<String>, Option<String>, String)> = catalog
        .references_of(summary.scan_id, &map_id)
        .await?
        .into_iter()
        .map(|r| (r.target_item_id, r.target_url, r.json_pointer))
        .collect();
    let want_refs: Vec<(Option<String>, Option<String>, String)> = want_refs
        .into_iter()
        .map(|r| match r.target {
            references::Target::Item(id) => (Some(id), None, r.pointer),
            references::Target::Url(u) => (None, Some(u), r.pointer),
        })
        .collect();
    assert!(!want_refs.is_empty(), "a generated web map references its layers");
    let sorted = |mut v: Vec<(Option<String>, Option<String>, String)>| {
        v.sort();
        v
    };
    assert_eq!(
        sorted(got_refs),
        sorted(want_refs),
        "the catalog holds exactly the references found in the web map's data, with their pointers"
    );

    // Org-wide listings: the item search (pages of 100 plus range splitting past the cap),
    // users and groups (pages of 100). Everything else is per group, owner or item, and exact.
    let listings_allowance = 12_000 / 100 + 2_000 / 100 + 500 / 100 + 120;
    assert!(
        summary.requests >= per_subject && summary.requests <= per_subject + listings_allowance,
        "the scan makes no request it can do without: {} requests, {} per-subject + at most {} for listings",
        summary.requests,
        per_subject,
        listings_allowance
    );

    let scan_record = catalog.scan(summary.scan_id).await?;
    assert_eq!(scan_record.state, ScanState::Complete, "the catalog is marked complete");
    let job = Jobs::new(&db, &SystemClock).get(summary.job_id).await?;
    assert_eq!(job.state, JobState::Succeeded, "the scan job succeeded");
    let JobCounts::Scan(counts) = &job.counts else { panic!("a scan job keeps scan counts: {:?}", job.counts) };
    assert_eq!(counts.catalog.items, 12_000, "the job records its counts");
    assert!(summary.estimated_bytes > 0, "an org with files has a positive backup estimate");
    eprintln!("12,000-item scan: {} requests in {:.1?}", summary.requests, elapsed);
    Ok(())
}
