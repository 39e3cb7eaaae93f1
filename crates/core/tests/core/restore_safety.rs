//! A restore deletes, adopts or overwrites only what its journal (or a marker only it can make)
//! proves it created: another user's service of the same name, a planted marker keyword and
//! another restore's upload package are left alone; a migrated org keeps no id of its source.

use arcgis::write::{ItemContent, ItemFields};
use orgvault_core::repo::{ExportMethod, RelDirection};
use orgvault_core::restore::RestoreOptions;
use portal_sim::faults::{FaultKind, ForcedFault};
use serde_json::{json, Value};

use crate::restore_support::{fixture, fixture_of, options, sim_config, Fixture};
use crate::support::start_sim;

/// The target org's item `id` as the simulator holds it: (owner, title, typeKeywords, modified).
fn item_in(f: &Fixture, url_key: &str, id: &str) -> Option<(String, String, Vec<String>, i64)> {
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    org.items.get(id).map(|i| (i.owner.clone(), i.title.clone(), i.type_keywords.clone(), i.modified))
}

/// A hosted service of the snapshot that a restore makes by publishing its exported package.
fn published_service(manifest: &orgvault_core::repo::Manifest) -> &orgvault_core::repo::ItemEntry {
    manifest
        .items
        .iter()
        .find(|i| {
            i.service.as_ref().is_some_and(|s| {
                matches!(s.export_method, ExportMethod::Fgdb | ExportMethod::Replica) && s.export.is_some()
            }) && !i.related.iter().any(|r| r.rel_type == "Service2Service" && r.direction == RelDirection::Reverse)
        })
        .expect("a hosted service restored by publishing its package")
}

fn only(id: &str) -> RestoreOptions {
    RestoreOptions { items: Some([id.to_owned()].into()), ..options() }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_publish_never_leads_to_deleting_another_users_service_of_that_name() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let item = published_service(&manifest);
    let opts = only(&item.id);
    let plan = f.plan(&opts).await?;
    let planned = plan.items.iter().find(|p| p.source_id == item.id).expect("planned");
    let name = planned.service_name.clone().expect("a service name");
    // The package goes up, the publish is refused every attempt before the portal acts on it.
    let fault = ForcedFault { path_contains: Some("/publish".into()), kind: FaultKind::Http502, count: opts.attempts };
    f.sim.state.faults.force_timed(fault, false);
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 1, "the publish failed: {s:?}");

    // Meanwhile another user of the target makes a service of that very name.
    let member = f.sim.orgs[1].user.username.clone();
    assert_ne!(member, planned.target_owner, "the other user is not the restore's owner");
    let params = json!({"name": name, "capabilities": "Query", "spatialReference": {"wkid": 102100}});
    let theirs = f.target.create_service(&member, &params, false).await?;
    f.scene_is_indexed();

    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|p| p.source_id == item.id).expect("planned");
    assert_eq!(p.replaces, None, "a service the journal does not prove this restore made is never replaced: {p:?}");
    let c = p.conflict.as_ref().expect("the taken name shows as a conflict");
    assert_eq!(
        (c.on.as_str(), c.existing_id.as_deref()),
        ("service_name", Some(theirs.item_id.as_str())),
        "the conflict names the other user's service"
    );
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    let kept = item_in(&f, &b, &theirs.item_id);
    assert_eq!(kept.map(|k| k.0), Some(member), "the other user's service still exists, still theirs");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_planted_source_marker_is_a_conflict_and_the_item_is_not_adopted() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let victim = manifest.items.iter().find(|i| i.service.is_none()).expect("an ordinary item");
    let member = f.sim.orgs[1].user.username.clone();
    let fields = ItemFields {
        title: Some("mine".into()),
        item_type: Some(victim.item_type.clone()),
        type_keywords: Some(vec![format!("orgvault-source-{}", victim.id)]),
        ..Default::default()
    };
    let planted = f.target.add_item(&member, None, &fields, ItemContent::Text("{}".into()), None).await?;
    f.scene_is_indexed();
    let before = item_in(&f, &b, &planted).expect("planted");

    let mut opts = only(&victim.id);
    opts.mapping.conflict = orgvault_core::restore::ConflictPolicy::Overwrite;
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|p| p.source_id == victim.id).expect("planned");
    assert_eq!(
        p.action,
        orgvault_core::restore::Action::Create,
        "an item someone marked is not adopted, even when overwriting is allowed: {p:?}"
    );
    let c = p.conflict.as_ref().expect("the plan shows the planted marker as a conflict");
    assert_eq!((c.on.as_str(), c.existing_id.as_deref()), ("marker", Some(planted.as_str())), "{c:?}");
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    assert_eq!(
        item_in(&f, &b, &planted),
        Some(before),
        "the marked item is untouched (owner, title, keywords, modified)"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_completed_migration_leaves_no_item_id_of_the_source_org_in_the_target() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let s = f.apply(&options()).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(&b).expect("org");
    let leaks: Vec<(String, String)> = org
        .items
        .values()
        .flat_map(|i| i.type_keywords.iter().map(move |k| (i.id.clone(), k.clone())))
        .filter(|(_, k)| manifest.items.iter().any(|src| k.contains(src.id.as_str())))
        .collect();
    assert!(org.items.len() >= manifest.items.len(), "the items were restored");
    assert!(leaks.is_empty(), "no typeKeyword of the target names a source item id: {leaks:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_package_of_another_restore_is_not_deleted() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let any = manifest.items.iter().find(|i| i.service.is_none()).expect("an ordinary item");
    // A package another restore into this org is publishing right now.
    let admin = f.sim.orgs[1].admin.username.clone();
    let fields = ItemFields {
        title: Some("orgvault upload 0123".into()),
        item_type: Some("File Geodatabase".into()),
        type_keywords: Some(vec![format!("orgvault-upload-{}", manifest.items[0].id)]),
        ..Default::default()
    };
    let package = f.target.add_item(&admin, None, &fields, ItemContent::None, None).await?;
    let s = f.apply(&only(&any.id)).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    assert!(item_in(&f, &b, &package).is_some(), "another restore's package survives this restore's apply");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_item_related_to_itself_is_not_restored_as_a_self_relationship() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let selfish = manifest
        .items
        .iter()
        .find(|i| i.related.iter().any(|r| r.item_id == i.id))
        .expect("the source org has an item related to itself (seeded)");
    let s = f.apply(&only(&selfish.id)).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(&b).expect("org");
    assert!(!org.items.is_empty(), "the item was restored");
    let loops: Vec<Value> =
        org.relationships.iter().filter(|r| r.origin == r.destination).map(|r| json!([r.origin, r.kind])).collect();
    assert!(loops.is_empty(), "no item of the target is related to itself: {loops:?}");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_retry_never_deletes_a_journaled_service_that_is_no_longer_provably_ours() -> anyhow::Result<()> {
    let f = fixture(sim_config()).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let item = published_service(&manifest);
    let opts = only(&item.id);
    let plan = f.plan(&opts).await?;
    let planned = plan.items.iter().find(|p| p.source_id == item.id).expect("planned");

    // An earlier run's journal names a half-made service, which has since become another user's
    // (reassigned to them): the journal's owner no longer matches, so it is no longer ours.
    let member = f.sim.orgs[1].user.username.clone();
    assert_ne!(member, planned.target_owner, "the other user is not the restore's owner");
    let params = json!({"name": "Theirs_Now", "capabilities": "Query", "spatialReference": {"wkid": 102100}});
    let theirs = f.target.create_service(&member, &params, false).await?;
    let clock = orgvault_core::clock::SystemClock;
    let journal = orgvault_core::restore::Journal::new(&f.db, &clock, f.target.org_id(), f.snapshot.as_str());
    let detail = json!({"owner": planned.target_owner, "at": orgvault_core::Clock::now_ms(&clock), "service_url": theirs.service_url.as_str()});
    journal.record(orgvault_core::restore::EntryKind::Item, &item.id, &theirs.item_id, false, &detail).await?;

    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|p| p.source_id == item.id).expect("planned");
    assert_eq!(p.replaces, None, "the plan leaves a service that is no longer provably ours alone: {p:?}");

    // The first attempt fails before it makes anything (the package upload is refused unprocessed),
    // so the retry sees only the old journal row.
    let fault = ForcedFault { path_contains: Some("/addItem".into()), kind: FaultKind::Http502, count: 1 };
    f.sim.state.faults.force_timed(fault, false);
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    let kept = item_in(&f, &b, &theirs.item_id);
    assert_eq!(kept.map(|k| k.0), Some(member), "a retry must not delete the other user's service");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enterprise_system_accounts_are_backed_up_as_listed_but_never_created() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let a = sim.orgs[0].url_key.clone();
    assert!(sim.control().add_system_accounts(&a), "org A gets Enterprise's esri_* accounts");
    let f = fixture_of(sim).await?;
    let b = f.url_key(1);
    let manifest = f.repo.manifest(&f.snapshot).await?;
    let system: Vec<&str> =
        manifest.users.iter().map(|u| u.username.as_str()).filter(|u| u.starts_with("esri_")).collect();
    assert_eq!(system.len(), 4, "the backup lists the system accounts like any user: {system:?}");

    let opts = RestoreOptions { users: true, ..options() };
    let plan = f.plan(&opts).await?;
    for u in plan.users.iter().filter(|u| u.source_username.starts_with("esri_")) {
        assert!(
            matches!(&u.action, orgvault_core::restore::Action::Skip { reason, .. } if reason.contains("system account")),
            "{} is never created: {:?}",
            u.source_username,
            u.action
        );
    }
    let s = f.apply(&opts).await?;
    assert_eq!(s.failed, 0, "{:?}", f.failures(s.job_id).await);
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let made: Vec<&String> =
        universe.org_by_url_key(&b).expect("B").users.keys().filter(|u| u.starts_with("esri_")).collect();
    assert!(made.is_empty(), "no esri_* account was created in the target: {made:?}");
    Ok(())
}
