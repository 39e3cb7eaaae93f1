//! A service the backup copied by paged query comes back whole through a streamed restore: a
//! layer far larger than a query page and than an `applyEdits` batch, written page by page
//! with each layer's id before its features, read back batch by batch.

use std::collections::BTreeMap;

use orgvault_core::repo::ExportMethod;
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_large_layer_copied_by_query_is_restored_whole_from_a_streamed_document() -> anyhow::Result<()> {
    let sim = start_sim(sim_config()).await?;
    let url_key = sim.orgs[0].url_key.clone();
    // A service that refuses to export and cannot replicate; its first layer grown past a page.
    let (item_id, name) = {
        let mut u = sim.state.universe.write().unwrap_or_else(|e| e.into_inner());
        let org = u.orgs.iter_mut().find(|o| o.url_key == url_key).expect("org A");
        // Relationship origins are loaded in a first reading of the document, the rest after:
        // a service with related layers, made to refuse export and replication.
        let s = org
            .services
            .values_mut()
            .filter(|s| s.view_of.is_none() && !s.relationships.is_empty())
            .min_by_key(|s| s.name.clone())
            .expect("the simulator has a service with related layers");
        s.export_fails = true;
        s.sync_enabled = false;
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
    let restore = RestoreOptions { items: Some([item_id].into()), ..options() };
    let s = f.apply(&restore).await?;
    assert_eq!(s.failed, 0, "the service is restored: {:?}", f.failures(s.job_id).await);
    assert_eq!(
        layer_contents(&f.sim, &b.url_key, &name),
        layer_contents(&f.sim, &url_key, &name),
        "every feature (with its global id and attributes) and attachment comes back once"
    );
    Ok(())
}
