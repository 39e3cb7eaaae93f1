//! Hosted services in a backup: the last fallback (paged query) keeps every feature and every
//! attachment, and a selected scene brings its backing feature service.

use std::collections::BTreeMap;

use orgvault_core::repo::{ExportMethod, RelDirection};
use orgvault_core::{NoProgress, Selection};
use portal_sim::SimConfig;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned, verify_all};
use crate::support::{start_sim, Recorder};

/// (layer, object id, attachment id) -> (name, bytes).
type Attachments = BTreeMap<(i64, i64, i64), (String, Vec<u8>)>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_query_fallback_keeps_every_feature_and_every_attachment() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 40, ..SimConfig::default() }).await?;
    // A service that refuses to export and cannot replicate, holding attachments.
    let (item_id, service) = {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let s = u.orgs[0]
            .services
            .values()
            .filter(|s| s.view_of.is_none() && s.export_fails && !s.sync_enabled)
            .find(|s| s.layers.iter().chain(&s.tables).any(|l| l.features.iter().any(|f| !f.attachments.is_empty())))
            .expect("the simulator has a service without sync, failing export, with attachments")
            .clone();
        (s.item_id.clone(), s)
    };
    let want_attachments: Attachments = service
        .layers
        .iter()
        .chain(&service.tables)
        .flat_map(|l| {
            l.features.iter().flat_map(move |f| {
                f.attachments.iter().map(move |a| ((l.id, f.object_id, a.id), (a.name.clone(), a.bytes.to_vec())))
            })
        })
        .collect();

    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let recorder = Recorder::default();
    let selection = Selection::Explicit { items: vec![item_id.clone()], users: vec![], groups: vec![] };
    let summary = run_backup(&s, &repo, &selection, &recorder, CancellationToken::new()).await?;
    // The service, and the service definition it was published from (kept with it by default).
    assert_eq!((summary.items, summary.failed), (2, 0), "the service is saved by the fallback");
    let reason =
        recorder.outcomes.lock().expect("lock").iter().find(|o| o.id == item_id).and_then(|o| o.reason.clone());
    assert!(
        reason.as_deref().is_some_and(|r| r.contains("paged query") && r.contains("attachment")),
        "the outcome names the query fallback and its attachments: {reason:?}"
    );

    let manifest = repo.manifest(summary.snapshot.as_ref().expect("snapshot")).await?;
    let entry = manifest.items.iter().find(|i| i.id == item_id).expect("the service's entry");
    assert!(
        manifest.items.iter().any(|i| i.item_type == "Service Definition" && i.included_as.is_some()),
        "the other item is the service's .sd, included for it"
    );
    let saved = entry.service.as_ref().expect("a service entry");
    assert_eq!(saved.export_method, ExportMethod::Query, "the manifest records the query fallback as such");

    let export = saved.export.as_ref().expect("the features document is stored");
    let doc: Value = serde_json::from_slice(&repo.get_blob(&export.blob).await?)?;
    let layers = doc["layers"].as_array().expect("a layers array");
    for l in service.layers.iter().chain(&service.tables) {
        let got =
            layers.iter().find(|g| g["id"] == l.id).unwrap_or_else(|| panic!("layer {} is in the document", l.id));
        let oid_field = got["objectIdFieldName"].as_str().expect("the object id field is recorded");
        let got_features: BTreeMap<i64, &Value> = got["features"]
            .as_array()
            .expect("features")
            .iter()
            .map(|f| (f["attributes"][oid_field].as_i64().expect("an object id"), f))
            .collect();
        assert_eq!(got_features.len(), l.features.len(), "layer {}: every feature is copied, none twice", l.id);
        for f in &l.features {
            let g = got_features
                .get(&f.object_id)
                .unwrap_or_else(|| panic!("layer {} feature {} is copied", l.id, f.object_id));
            for (name, value) in &f.attributes {
                assert_eq!(
                    &g["attributes"][name], value,
                    "layer {} feature {}: {name} as in the service",
                    l.id, f.object_id
                );
            }
            if let Some(geometry) = &f.geometry {
                assert_eq!(&g["geometry"], geometry, "layer {} feature {}: geometry kept", l.id, f.object_id);
            }
        }
    }

    let mut got_attachments: Attachments = BTreeMap::new();
    for a in &saved.attachments {
        let bytes = repo.get_blob(&a.blob).await?.to_vec();
        let key = (a.layer_id, a.object_id, a.attachment_id);
        assert!(got_attachments.insert(key, (a.name.clone(), bytes)).is_none(), "attachment {key:?} listed once");
    }
    assert!(!want_attachments.is_empty(), "the chosen service really has attachments");
    assert_eq!(got_attachments, want_attachments, "every attachment is stored with its name and exact bytes");
    assert_eq!(verify_all(&repo).await?, 1, "the snapshot, attachments included, verifies");

    // The zip export carries them as files, and an import restores the same entries.
    let id = summary.snapshot.as_ref().expect("snapshot");
    let zip_path = dir.path().join("export.zip");
    repo.export_zip(id, &zip_path).await?;
    let in_zip = {
        let mut a = zip::ZipArchive::new(std::fs::File::open(&zip_path)?)?;
        (0..a.len()).filter(|i| a.by_index(*i).is_ok_and(|e| e.name().contains("/service/attachments/"))).count()
    };
    assert_eq!(in_zip, want_attachments.len(), "one file per attachment in the zip");
    let other_dir = tempfile::tempdir()?;
    let other = open_repo(other_dir.path()).await?;
    let imported = other.manifest(&other.import_zip(&zip_path).await?).await?;
    let back = imported.items.iter().find(|i| i.id == item_id).and_then(|i| i.service.clone());
    assert_eq!(back.map(|s| s.attachments), Some(saved.attachments.clone()), "an import keeps every attachment");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_selected_scene_brings_its_backing_feature_service() -> anyhow::Result<()> {
    let sim = start_sim(SimConfig { orgs: 1, items: 40, ..SimConfig::default() }).await?;
    let (scene, backing) = {
        let u = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
        let o = &u.orgs[0];
        let scene = o.items.values().find(|i| i.item_type == "Scene Service").expect("a scene").id.clone();
        let backing = o
            .relationships
            .iter()
            .find(|r| r.origin == scene && r.kind == "Service2Service")
            .expect("the scene is related to its backing service")
            .destination
            .clone();
        (scene, backing)
    };
    let s = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;

    let only_scene = Selection::Explicit { items: vec![scene.clone()], users: vec![], groups: vec![] };
    let summary = run_backup(&s, &repo, &only_scene, &NoProgress, CancellationToken::new()).await?;
    assert_eq!((summary.items, summary.failed), (2, 0), "the scene and its backing service are both saved");
    let manifest = repo.manifest(summary.snapshot.as_ref().expect("snapshot")).await?;
    let of = |id: &str| manifest.items.iter().find(|i| i.id == id).cloned();
    let scene_entry = of(&scene).expect("the selected scene is in the snapshot");
    assert_eq!(scene_entry.included_as, None, "a selected item needs no reason");
    assert!(
        scene_entry
            .related
            .iter()
            .any(|r| r.item_id == backing && r.rel_type == "Service2Service" && r.direction == RelDirection::Forward),
        "the scene's entry keeps the link to its backing service: {:?}",
        scene_entry.related
    );
    let backing_entry = of(&backing).expect("the unselected backing service is in the snapshot");
    assert_eq!(
        backing_entry.included_as.as_deref(),
        Some(format!("backing service of {scene}").as_str()),
        "the manifest says why an unselected item is there"
    );
    let service = backing_entry.service.as_ref().expect("the backing service's data");
    assert!(service.export.as_ref().is_some_and(|e| e.blob.size > 0), "its features are exported, not only its JSON");

    let both = Selection::Explicit { items: vec![scene.clone(), backing.clone()], users: vec![], groups: vec![] };
    let summary = run_backup(&s, &repo, &both, &NoProgress, CancellationToken::new()).await?;
    let manifest = repo.manifest(summary.snapshot.as_ref().expect("snapshot")).await?;
    let again = manifest.items.iter().find(|i| i.id == backing).expect("backing service");
    assert_eq!(again.included_as, None, "once selected, the backing service is no longer marked as included");
    assert_eq!(verify_all(&repo).await?, 2, "both snapshots verify");
    Ok(())
}
