//! Map services, tile packages and hosted layers in a restore: a registered map service item and
//! a tile package restore without error (the seeds' "fix issues when restoring map services /
//! tile packages"); a hosted vector tile or scene layer, which a restore cannot re-create, is
//! planned with a note saying so and what to do by hand.

use orgvault_core::restore::ItemMethod;

use crate::restore_support::{fixture_of, options, sim_config};
use crate::support::{connect, start_sim};

const REGISTERED: &str = "https://gis.city.example/arcgis/rest/services/Parcels/MapServer";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn map_services_and_tile_packages_restore_and_hosted_layers_are_named_in_the_plan() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let a = sim.orgs[0].clone();
    let portal = connect(&a.portal_url, &a.admin).await?;
    let map = arcgis::write::ItemFields {
        title: Some("City parcels (map service)".into()),
        item_type: Some("Map Service".into()),
        url: Some(REGISTERED.into()),
        type_keywords: Some(vec!["ArcGIS Server".into(), "Map Service".into(), "Service".into()]),
        ..Default::default()
    };
    portal.add_item(&a.admin.username, None, &map, arcgis::write::ItemContent::None, None).await?;
    let tpk = arcgis::write::ItemFields {
        title: Some("City basemap tiles".into()),
        item_type: Some("Tile Package".into()),
        ..Default::default()
    };
    let file = arcgis::write::FilePart {
        field: "file".into(),
        file_name: "city.tpk".into(),
        content_type: "application/octet-stream".into(),
        bytes: bytes::Bytes::from(vec![7u8; 40_000]),
    };
    portal.add_item(&a.admin.username, None, &tpk, arcgis::write::ItemContent::File(file), None).await?;
    sim.control().index_now();

    let f = fixture_of(sim).await?;
    let plan = f.plan(&options()).await?;
    let by_title = |t: &str| plan.items.iter().find(|i| i.title == t);
    assert!(
        by_title("City parcels (map service)").is_some() && by_title("City basemap tiles").is_some(),
        "both are planned"
    );
    let layers: Vec<_> =
        plan.items.iter().filter(|i| i.item_type == "Vector Tile Service" || i.item_type == "Scene Service").collect();
    assert!(!layers.is_empty(), "the fixture holds hosted layers");
    let without_package: Vec<_> = layers.iter().filter(|l| l.package.is_none()).collect();
    assert!(!without_package.is_empty(), "the fixture holds hosted layers without a package");
    for l in &without_package {
        assert_eq!(l.method, ItemMethod::Item, "without a package only the item can be made");
        assert!(
            l.notes.iter().any(|n| n.contains("a hosted layer") && n.contains("By hand")),
            "{} ({}) is planned with what to do by hand: {:?}",
            l.title,
            l.item_type,
            l.notes
        );
    }

    let summary = f.apply(&options()).await?;
    assert_eq!(summary.failed, 0, "nothing fails: {:?}", f.failures(summary.job_id).await);
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let b = universe.org_by_url_key(&f.url_key(1)).expect("org B");
    let map = b.items.values().find(|i| i.title == "City parcels (map service)").expect("the map service item is in B");
    assert_eq!(map.url.as_deref(), Some(REGISTERED), "a registered map service keeps its URL");
    let tiles = b.items.values().find(|i| i.title == "City basemap tiles").expect("the tile package is in B");
    match &tiles.data {
        portal_sim::model::ItemData::Bytes { bytes, .. } => {
            assert_eq!(bytes.len(), 40_000, "the package's bytes came along")
        }
        other => panic!("the tile package holds its file: {other:?}"),
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_feature_service_is_backed_up_with_its_service_definition_and_restored_from_it() -> anyhow::Result<()>
{
    let sim = start_sim(sim_config()).await?;
    // The service published from the "Hydrant Inventory" .sd (Service2Data), and its feature count.
    let (service, service_title, features) = {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let a = universe.org_by_url_key(&sim.orgs[0].url_key).expect("org A");
        let rel = a
            .relationships
            .iter()
            .find(|r| {
                r.kind == "Service2Data"
                    && a.items.get(&r.destination).is_some_and(|d| d.item_type == "Service Definition")
            })
            .expect("a hosted feature service related to the service definition it was published from");
        let svc = a.services.values().find(|s| s.item_id == rel.origin).expect("the service");
        let n: usize = svc.layers.iter().chain(&svc.tables).map(|l| l.features.len()).sum();
        (rel.origin.clone(), a.items[&rel.origin].title.clone(), n)
    };

    // A backup of the service alone keeps its service definition too.
    let s = crate::backup_support::scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = crate::backup_support::open_repo(dir.path()).await?;
    let only = orgvault_core::Selection::Exact { items: vec![service.clone()], users: vec![], groups: vec![] };
    let summary =
        crate::backup_support::run_backup(&s, &repo, &only, &orgvault_core::NoProgress, Default::default()).await?;
    let manifest = repo.manifest(&summary.snapshot.expect("a snapshot")).await?;
    let sd = manifest.items.iter().find(|i| i.item_type == "Service Definition").expect("the .sd is in the snapshot");
    assert_eq!(sd.included_as.as_deref(), Some(format!("service definition of {service}").as_str()), "and says why");

    let f = fixture_of(sim).await?;
    let mut opts = options();
    opts.items = Some([service.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|i| i.source_id == service).expect("planned");
    assert!(p.methods.contains(&ItemMethod::PublishDefinition), "the service definition is offered: {:?}", p.methods);
    assert_ne!(p.method, ItemMethod::PublishDefinition, "the backed-up data stays the default");
    opts.methods.insert(service.clone(), ItemMethod::PublishDefinition);
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|i| i.source_id == service).expect("planned");
    assert_eq!(p.method, ItemMethod::PublishDefinition, "the admin's choice is the plan's");
    assert!(p.notes.iter().any(|n| n.contains("service definition")), "the plan says what that means: {:?}", p.notes);

    let summary = f.apply(&opts).await?;
    assert_eq!(summary.failed, 0, "failures: {:?}", f.failures(summary.job_id).await);
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let b = universe.org_by_url_key(&f.url_key(1)).expect("org B");
    let made = b
        .items
        .values()
        .find(|i| i.title == service_title && i.item_type == "Feature Service")
        .expect("the service is in B");
    let svc = b.services.values().find(|s| s.item_id == made.id).expect("its service");
    let n: usize = svc.layers.iter().chain(&svc.tables).map(|l| l.features.len()).sum();
    assert_eq!(n, features, "published from the service definition, with the features it holds");
    assert!(
        !b.items.values().any(|i| i.title.starts_with("orgvault upload")),
        "the uploaded service definition was removed after the publish"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_vector_tile_layer_is_published_again_from_its_package() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let (layer, title, old_url) = {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let a = universe.org_by_url_key(&sim.orgs[0].url_key).expect("org A");
        let rel = a
            .relationships
            .iter()
            .find(|r| a.items.get(&r.destination).is_some_and(|d| d.item_type == "Vector Tile Package"))
            .expect("a vector tile layer related to its package");
        let item = &a.items[&rel.origin];
        (item.id.clone(), item.title.clone(), item.url.clone().expect("its URL"))
    };
    // A backup of the layer alone keeps the package it was published from.
    let s = crate::backup_support::scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = crate::backup_support::open_repo(dir.path()).await?;
    let only = orgvault_core::Selection::Exact { items: vec![layer.clone()], users: vec![], groups: vec![] };
    let summary =
        crate::backup_support::run_backup(&s, &repo, &only, &orgvault_core::NoProgress, Default::default()).await?;
    let manifest = repo.manifest(&summary.snapshot.expect("a snapshot")).await?;
    assert!(
        manifest.items.iter().any(|i| i.item_type == "Vector Tile Package" && i.included_as.is_some()),
        "the layer's package is backed up with it"
    );
    let f = fixture_of(sim).await?;
    let mut opts = options();
    opts.items = Some([layer.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|i| i.source_id == layer).expect("planned");
    assert_eq!(p.method, ItemMethod::PublishPackage, "published again from its package: {:?}", p.notes);
    assert_eq!(p.methods, vec![ItemMethod::PublishPackage, ItemMethod::Item], "or made as an item only");
    assert!(p.package.is_some() && p.notes.iter().any(|n| n.contains("package")), "the plan names the package");

    let summary = f.apply(&opts).await?;
    assert_eq!(summary.failed, 0, "failures: {:?}", f.failures(summary.job_id).await);
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let b = universe.org_by_url_key(&f.url_key(1)).expect("org B");
    let made =
        b.items.values().find(|i| i.title == title && i.item_type == "Vector Tile Service").expect("the layer in B");
    let url = made.url.clone().unwrap_or_default();
    assert!(url.contains(&b.id) && url.ends_with("/VectorTileServer"), "it is B's own tile layer: {url}");
    assert_ne!(url, old_url, "not the source's service any more");
    assert!(
        !b.items.values().any(|i| i.title.starts_with("orgvault upload")),
        "the uploaded package was removed after the publish"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hosted_scene_layer_is_published_again_from_its_scene_layer_package() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let a = sim.orgs[0].clone();
    let (scene, title, owner) = {
        let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_url_key(&a.url_key).expect("org A");
        let s = org.items.values().find(|i| i.item_type == "Scene Service").expect("a hosted scene layer");
        (s.id.clone(), s.title.clone(), s.owner.clone())
    };
    // Its scene layer package, related to it as ArcGIS relates a published layer to its source.
    let portal = connect(&a.portal_url, &a.admin).await?;
    let fields = arcgis::write::ItemFields {
        title: Some(format!("{title} package")),
        item_type: Some("Scene Package".into()),
        ..Default::default()
    };
    let file = arcgis::write::FilePart {
        field: "file".into(),
        file_name: "buildings.spk".into(),
        content_type: "application/octet-stream".into(),
        bytes: bytes::Bytes::from(vec![3u8; 30_000]),
    };
    let package = portal.add_item(&owner, None, &fields, arcgis::write::ItemContent::File(file), None).await?;
    portal.add_relationship(&owner, &scene, &package, "Service2Data").await?;
    sim.control().index_now();

    let f = fixture_of(sim).await?;
    let mut opts = options();
    opts.items = Some([scene.clone()].into_iter().collect());
    let plan = f.plan(&opts).await?;
    let p = plan.items.iter().find(|i| i.source_id == scene).expect("planned");
    assert_eq!(p.method, ItemMethod::PublishPackage, "published again from its package: {:?}", p.notes);
    let summary = f.apply(&opts).await?;
    assert_eq!(summary.failed, 0, "failures: {:?}", f.failures(summary.job_id).await);
    let universe = f.sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let b = universe.org_by_url_key(&f.url_key(1)).expect("org B");
    let made =
        b.items.values().find(|i| i.title == title && i.item_type == "Scene Service").expect("the scene layer in B");
    let url = made.url.clone().unwrap_or_default();
    assert!(url.contains(&b.id) && url.ends_with("/SceneServer"), "B's own scene layer: {url}");
    Ok(())
}
