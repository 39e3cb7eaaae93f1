//! A service the backup copied by paged query comes back whole through a streamed restore: a
//! layer far larger than a query page and than an `applyEdits` batch, written page by page
//! with each layer's id before its features, read back batch by batch.

use std::collections::BTreeMap;

use orgvault_core::repo::{BlobRef, ExportMethod};
use orgvault_core::restore::RestoreOptions;
use orgvault_core::{Db, NoProgress, Selection};
use portal_sim::RunningSim;
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use crate::backup_support::{open_repo, run_backup, scanned};
use crate::restore_support::{options, sim_config, Fixture};
use crate::support::{connect, start_sim};

/// More than four query pages (1,000) and two `applyEdits` batches (2,000) in one layer.
const LARGE_LAYER: usize = 4_500;

/// Per layer id: its features' attributes without the object id (which a new service assigns
/// anew), sorted, and the number of attachments.
fn layer_contents(sim: &RunningSim, url_key: &str, name: &str) -> BTreeMap<i64, (Vec<String>, usize)> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let s = org.services.values().find(|s| s.name == name).expect("the service");
    s.layers
        .iter()
        .chain(&s.tables)
        .map(|l| {
            let oid = l.fields.iter().find(|f| f.field_type == "esriFieldTypeOID").map(|f| f.name.clone());
            let mut rows: Vec<String> = l
                .features
                .iter()
                .map(|f| {
                    let mut a = f.attributes.clone();
                    if let Some(oid) = &oid {
                        a.remove(oid);
                    }
                    Value::Object(a).to_string()
                })
                .collect();
            rows.sort();
            (l.id, (rows, l.features.iter().map(|f| f.attachments.len()).sum()))
        })
        .collect()
}

/// Org A's service with related layers, made to refuse export and replication, its origin
/// layer grown past several query pages; backed up alone into a fresh repository.
struct Saved {
    f: Fixture,
    item_id: String,
    name: String,
    source: String,
    target: String,
    features: BlobRef,
}

async fn saved_large_service() -> anyhow::Result<Saved> {
    saved_service(true).await
}

/// As [`saved_large_service`]; `keeps_global_ids` false makes every layer of the service report
/// `supportsApplyEditsWithGlobalIds: false`, which the restored layers inherit.
async fn saved_service(keeps_global_ids: bool) -> anyhow::Result<Saved> {
    let sim = start_sim(sim_config()).await?;
    let url_key = sim.orgs[0].url_key.clone();
    let (item_id, name) = {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let org = u.orgs.iter_mut().find(|o| o.url_key == url_key).expect("org A");
        // Relationship origins are loaded in a first reading of the document, the rest after.
        let s = org
            .services
            .values_mut()
            .filter(|s| s.view_of.is_none() && !s.relationships.is_empty())
            .min_by_key(|s| s.name.clone())
            .expect("the simulator has a service with related layers");
        s.export_fails = true;
        s.sync_enabled = false;
        for l in s.layers.iter_mut().chain(s.tables.iter_mut()) {
            l.keeps_global_ids = keeps_global_ids;
        }
        s.capabilities = s.capabilities.split(',').filter(|c| *c != "Sync").collect::<Vec<_>>().join(",");
        let origin = s.relationships[0]["originLayerId"].as_i64().expect("an origin layer");
        let origin_at = s.layers.iter().position(|l| l.id == origin).unwrap_or(0);
        let layer = &mut s.layers[origin_at];
        let oid = layer.fields.iter().find(|f| f.field_type == "esriFieldTypeOID").map(|f| f.name.clone());
        let guid = layer.fields.iter().find(|f| f.field_type == "esriFieldTypeGlobalID").map(|f| f.name.clone());
        let template = layer.features.first().expect("a feature to copy").clone();
        for n in layer.features.len()..LARGE_LAYER {
            let mut f = template.clone();
            f.object_id = layer.next_object_id;
            layer.next_object_id += 1;
            f.attachments.clear();
            if let Some(oid) = &oid {
                f.attributes.insert(oid.clone(), Value::from(f.object_id));
            }
            if let Some(g) = &guid {
                f.attributes.insert(g.clone(), Value::from(format!("{{{n:08X}-0000-4000-8000-000000000000}}")));
            }
            layer.features.push(f);
        }
        (s.item_id.clone(), s.name.clone())
    };

    let a = scanned(&sim).await?;
    let dir = tempfile::tempdir()?;
    let repo = open_repo(dir.path()).await?;
    let only = Selection::Explicit { items: vec![item_id.clone()], users: vec![], groups: vec![] };
    let summary = run_backup(&a, &repo, &only, &NoProgress, CancellationToken::new()).await?;
    assert_eq!((summary.items, summary.failed), (1, 0), "the service is saved by the query fallback");
    let snapshot = summary.snapshot.expect("a snapshot");
    let manifest = repo.manifest(&snapshot).await?;
    let saved = manifest.items.iter().find(|i| i.id == item_id).and_then(|i| i.service.clone()).expect("service");
    assert_eq!(saved.export_method, ExportMethod::Query, "the query fallback was taken");
    let text = repo.get_blob(&saved.export.as_ref().expect("the features document").blob).await?;
    let text = std::str::from_utf8(&text)?;
    assert!(text.starts_with(r#"{"layers":[{"id":"#), "a layer's id comes first: {}", &text[..80.min(text.len())]);
    let (field_at, features_at) = (text.find("\"objectIdFieldName\""), text.find("\"features\""));
    assert!(field_at.is_some() && field_at < features_at, "the object id field comes before the features");
    let doc: Value = serde_json::from_str(text)?;
    let largest =
        doc["layers"].as_array().into_iter().flatten().filter_map(|l| l["features"].as_array()).map(Vec::len).max();
    assert_eq!(largest, Some(LARGE_LAYER), "every page of the large layer is written");

    let b = sim.orgs.last().expect("an empty org").clone();
    let target = connect(&b.portal_url, &b.admin).await?;
    let db = Db::open(&dir.path().join("orgvault.db")).await?;
    let f = Fixture { sim, _dir: dir, repo, snapshot, target, db };
    let features = saved.export.expect("the features document").blob;
    Ok(Saved { f, item_id, name, source: url_key, target: b.url_key, features })
}

/// A snapshot like `saved.f.snapshot` whose features document is `text`.
async fn with_features_document(saved: &Saved, text: Vec<u8>) -> anyhow::Result<orgvault_core::repo::SnapshotId> {
    let mut manifest = saved.f.repo.manifest(&saved.f.snapshot).await?;
    let blob = saved.f.repo.put_blob_bytes(text.into()).await?;
    let item = manifest.items.iter_mut().find(|i| i.id == saved.item_id).expect("the service's entry");
    item.service.as_mut().and_then(|s| s.export.as_mut()).expect("a features document").blob = blob;
    Ok(saved.f.repo.write_snapshot(&manifest).await?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_layer_copied_by_query_is_restored_whole_from_a_streamed_document() -> anyhow::Result<()> {
    let Saved { f, item_id, name, source, target, .. } = saved_large_service().await?;
    let restore = RestoreOptions { items: Some([item_id].into()), ..options() };
    let s = f.apply(&restore).await?;
    assert_eq!(s.failed, 0, "the service is restored: {:?}", f.failures(s.job_id).await);
    assert_eq!(
        layer_contents(&f.sim, &target, &name),
        layer_contents(&f.sim, &source, &name),
        "every feature (with its global id and attributes) and attachment comes back once"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_features_document_of_the_old_key_order_is_restored_too() -> anyhow::Result<()> {
    let mut saved = saved_large_service().await?;
    // Written as OrgVault 0.1 did: each layer's keys sorted, so "features" before "id".
    let doc: Value = serde_json::from_slice(&saved.f.repo.get_blob(&saved.features).await?)?;
    let layers: Vec<String> = doc["layers"]
        .as_array()
        .expect("layers")
        .iter()
        .map(|l| {
            format!(
                r#"{{"features":{},"id":{},"objectIdFieldName":{}}}"#,
                l["features"], l["id"], l["objectIdFieldName"]
            )
        })
        .collect();
    let old = format!(r#"{{"layers":[{}]}}"#, layers.join(","));
    saved.f.snapshot = with_features_document(&saved, old.into_bytes()).await?;
    let restore = RestoreOptions { items: Some([saved.item_id.clone()].into()), ..options() };
    let s = saved.f.apply(&restore).await?;
    assert_eq!(s.failed, 0, "the service is restored: {:?}", saved.f.failures(s.job_id).await);
    assert_eq!(
        layer_contents(&saved.f.sim, &saved.target, &saved.name),
        layer_contents(&saved.f.sim, &saved.source, &saved.name),
        "an old document brings back every feature and attachment too"
    );
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_malformed_features_document_fails_its_service_with_a_message_naming_it() -> anyhow::Result<()> {
    let mut saved = saved_large_service().await?;
    let text = saved.f.repo.get_blob(&saved.features).await?;
    // Cut off in the middle of the large layer, as a damaged copy would be.
    let cut = text[..text.len() / 2].to_vec();
    saved.f.snapshot = with_features_document(&saved, cut).await?;
    let restore = RestoreOptions { items: Some([saved.item_id.clone()].into()), ..options() };
    let s = saved.f.apply(&restore).await?;
    assert_eq!(s.failed, 1, "the service fails, and the restore goes on to its end");
    let failures = saved.f.failures(s.job_id).await;
    let url = saved
        .f
        .repo
        .manifest(&saved.f.snapshot)
        .await?
        .items
        .iter()
        .find(|i| i.id == saved.item_id)
        .and_then(|i| i.service.as_ref())
        .map(|s| s.url.clone())
        .expect("the service URL");
    assert!(
        failures.iter().any(|r| r.contains(&saved.item_id) && r.contains("cannot be read") && r.contains(&url)),
        "the failure says the saved features cannot be read and names the service {url}: {failures:?}"
    );
    Ok(())
}

/// Per layer id of `name` in `url_key`: (every GlobalID, every ParentGUID).
fn keys_of(sim: &RunningSim, url_key: &str, name: &str) -> BTreeMap<i64, (Vec<String>, Vec<String>)> {
    let universe = sim.state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).expect("org");
    let s = org.services.values().find(|s| s.name == name).expect("the service");
    let col = |l: &portal_sim::model::Layer, field: &str| -> Vec<String> {
        l.features.iter().filter_map(|f| f.attributes.get(field).and_then(Value::as_str).map(str::to_owned)).collect()
    };
    s.layers.iter().chain(&s.tables).map(|l| (l.id, (col(l, "GlobalID"), col(l, "ParentGUID")))).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn layers_that_do_not_keep_global_ids_are_loaded_without_use_global_ids_and_keys_follow() -> anyhow::Result<()> {
    let Saved { f, item_id, name, source, target, .. } = saved_service(false).await?;
    let restore = RestoreOptions { items: Some([item_id].into()), ..options() };
    let s = f.apply(&restore).await?;
    assert_eq!(s.failed, 0, "the service is restored: {:?}", f.failures(s.job_id).await);
    let (got, want) = (keys_of(&f.sim, &target, &name), keys_of(&f.sim, &source, &name));
    assert_eq!(got.len(), want.len(), "every layer is there");
    let all_target_gids: std::collections::BTreeSet<&String> = got.values().flat_map(|(g, _)| g).collect();
    for (id, (gids, parents)) in &got {
        let (src_gids, src_parents) = &want[id];
        assert_eq!(gids.len(), src_gids.len(), "layer {id} holds every row");
        assert!(
            src_gids.is_empty() || gids.iter().all(|g| !src_gids.contains(g)),
            "layer {id}: a layer without supportsApplyEditsWithGlobalIds assigns its own GlobalIDs"
        );
        assert_eq!(parents.len(), src_parents.len(), "layer {id}: every child row keeps a parent key");
        assert!(
            parents.iter().all(|p| all_target_gids.contains(p)),
            "layer {id}: every ParentGUID names a GlobalID of the restored service, rewritten from the answers"
        );
    }
    Ok(())
}
