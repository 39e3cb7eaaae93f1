//! Hosted feature services: published from the backed-up package, or re-created from the
//! service definition with createService, addToDefinition (layers and tables), updateDefinition
//! (relationships, after the layers) and the features by applyEdits (at most 2,000 a call) and
//! addAttachment.
//!
//! The uploaded package is deleted after the publish: it only duplicates the service's data and
//! costs the org storage. A half-made service (created, killed before its data was in) is never
//! completed: the next run deletes it and makes it again, since which features made it in
//! cannot be told.

use std::collections::BTreeMap;
use std::time::Duration;

use arcgis::write::{ItemContent, ItemFields, StreamedFile};
use arcgis::JobStatus;
use serde_json::{json, Value};

use super::item::{item_fields, parts, thumbnail};
use super::journal::EntryKind;
use super::plan::{ItemMethod, PlannedItem};
use super::run::{Done, Run, Stop};
use crate::repo::{ExportMethod, ItemEntry, ServiceEntry};

fn poll_delay(n: u32, max: Duration) -> Duration {
    Duration::from_millis(200u64.saturating_mul(1 << n.min(6))).min(max)
}

/// Restores one hosted feature service whose plan action is Create.
pub(crate) async fn restore_service(
    run: &Run<'_>,
    plan: &PlannedItem,
    entry: &ItemEntry,
    json: &Value,
) -> Result<Done, Stop> {
    let owner = plan.target_owner.as_str();
    let no_service = || Stop::Failed("the snapshot holds no service".into());
    // A hosted layer's service JSON may be missing; its URL is on its item.
    let old_url = match &entry.service {
        Some(s) => s.url.clone(),
        None => json.get("url").and_then(Value::as_str).map(str::to_owned).ok_or_else(no_service)?,
    };
    let name = plan.service_name.clone().ok_or_else(|| Stop::Failed("no service name".into()))?;
    if let Some(old) = &plan.replaces {
        let old_owner = run.owner_of_target(old, owner);
        run.portal
            .delete_item(&old_owner, old)
            .await
            .map_err(|e| Stop::portal("deleting the unfinished earlier attempt", e))?;
        run.journal.forget(EntryKind::Item, &plan.source_id).await?;
    }
    let folder = super::item::folder_id(run, owner, plan.target_folder.as_deref()).await?;
    let view_of = super::service_kinds::view_source_of(entry, json).and_then(|src| run.service_urls.get(&src).cloned());
    let definition = run.service_definitions.get(&plan.source_id);
    let created = if plan.method == ItemMethod::PublishPackage {
        let (file, kind) = run
            .layer_packages
            .get(&plan.source_id)
            .ok_or_else(|| Stop::Failed("the snapshot holds no package of this layer".into()))?;
        publish(run, plan, owner, folder.as_deref(), &name, file, Package::Layer(kind)).await?
    } else {
        let service = entry.service.as_ref().ok_or_else(no_service)?;
        match (plan.method, service.export_method, &service.export) {
            _ if view_of.is_some()
                && run.placed(&super::service_kinds::view_source_of(entry, json).unwrap_or_default()).is_some() =>
            {
                let source_url = run.rewriter().rewrite_str(view_of.as_deref().unwrap_or_default());
                create_view(run, plan, owner, &name, service, &source_url).await?
            }
            (ItemMethod::PublishDefinition, _, _) => {
                let sd =
                    definition.ok_or_else(|| Stop::Failed("the snapshot holds no service definition of it".into()))?;
                publish(run, plan, owner, folder.as_deref(), &name, sd, Package::ServiceDefinition).await?
            }
            (ItemMethod::Publish, ExportMethod::Fgdb | ExportMethod::Replica, Some(export)) => {
                publish(run, plan, owner, folder.as_deref(), &name, export, Package::FileGeodatabase).await?
            }
            _ => create_from_definition(run, plan, owner, &name, service).await?,
        }
    };
    run.place(&plan.source_id, owner, &created.item_id);
    run.map_url(old_url.trim_end_matches('/'), created.service_url.as_str().trim_end_matches('/'));
    // The service and its features are complete: from here on a failed step is finished by
    // updating the item (another attempt, or a later run), never by making the service again.
    run.journal
        .record(
            EntryKind::Item,
            &plan.source_id,
            &created.item_id,
            false,
            &json!({"content": true, "service_url": created.service_url.as_str(), "owner": owner}),
        )
        .await?;
    run.journal.forget(EntryKind::Upload, &plan.source_id).await?;

    // The item's own fields, thumbnail and metadata, now that the service exists.
    let mut fields: ItemFields = item_fields(run, plan, json);
    fields.url = None;
    fields.item_type = None;
    let thumb = thumbnail(run, entry).await?;
    run.portal
        .update_item(owner, &created.item_id, &fields, ItemContent::None, thumb)
        .await
        .map_err(|e| Stop::portal("describing the service item", e))?;
    let mut only_meta = entry.clone();
    only_meta.resources.clear();
    parts(run, &only_meta, owner, &created.item_id).await?;
    Ok(Done::Created)
}

/// What is uploaded and published.
#[derive(Clone, Copy)]
enum Package {
    /// The backup's export (a File Geodatabase or a replica, zipped).
    FileGeodatabase,
    /// The `.sd` the service was published from.
    ServiceDefinition,
    /// The tile, vector tile or scene layer package a hosted layer was published from.
    Layer(&'static crate::item_type::LayerPackage),
}

impl Package {
    /// (item type of the upload, `fileType` of `publish`, content type, server kind made).
    fn kinds(self) -> (&'static str, &'static str, &'static str, &'static str) {
        let feature = super::plan::FEATURE_SERVER;
        match self {
            Package::FileGeodatabase => ("File Geodatabase", "fileGeodatabase", "application/zip", feature),
            Package::ServiceDefinition => {
                ("Service Definition", "serviceDefinition", "application/octet-stream", feature)
            }
            Package::Layer(p) => (p.item_type, p.file_type, "application/octet-stream", p.server),
        }
    }
}

async fn publish(
    run: &Run<'_>,
    plan: &PlannedItem,
    owner: &str,
    folder: Option<&str>,
    name: &str,
    export: &crate::repo::FileEntry,
    package: Package,
) -> Result<arcgis::write::CreatedService, Stop> {
    let (item_type, file_type, content_type, server) = package.kinds();
    let keyword = run.upload_keyword(&plan.source_id);
    let fields = ItemFields {
        title: Some(format!("orgvault upload {}", plan.target_title)),
        item_type: Some(item_type.into()),
        type_keywords: Some(vec![keyword.clone()]),
        ..Default::default()
    };
    // Journaled before the upload: whatever it leaves behind is found again by this restore's
    // own keyword and owner, and only that is deleted (never another restore's package).
    let mut intent = run.intent(owner);
    intent.insert("service_name".into(), json!(name));
    intent.insert("package".into(), json!(true));
    // What the publish makes, so that a lost answer's service is looked for by the right kind.
    intent.insert("server".into(), json!(server));
    let intent = Value::Object(intent);
    run.journal.record(EntryKind::Upload, &plan.source_id, "", false, &intent).await?;
    let file = StreamedFile {
        file_name: export.name.clone(),
        content_type: content_type.into(),
        size: export.blob.size,
        body: run.blob_stream(&export.blob).await?,
    };
    let upload = match run.portal.add_item(owner, folder, &fields, ItemContent::Streamed(file), None).await {
        Ok(id) => id,
        Err(e) => {
            // The upload may exist (a lost answer, a failed part): remove it now rather than
            // leave it to the next run.
            remove_packages(run, &keyword, owner).await;
            return Err(Stop::portal("uploading the package", e));
        }
    };
    run.journal.record(EntryKind::Upload, &plan.source_id, &upload, false, &intent).await?;
    let result = async {
        let mut made = run.intent(owner);
        let job = run
            .portal
            .publish(owner, &upload, file_type, name)
            .await
            .map_err(|e| Stop::portal("publishing the package", e))?;
        made.insert("service_url".into(), json!(job.service_url.as_str()));
        run.journal.record(EntryKind::Item, &plan.source_id, &job.service_item_id, false, &Value::Object(made)).await?;
        let deadline = tokio::time::Instant::now() + run.options.publish_timeout;
        let mut n = 0;
        loop {
            run.check_cancel()?;
            match run.portal.publish_status(&job).await {
                Ok(JobStatus::Completed { .. }) => break,
                Ok(JobStatus::Failed { message }) => {
                    return Err(Stop::Failed(format!("the publish job failed: {message}")))
                }
                Ok(JobStatus::Processing) => {}
                Err(e) => return Err(Stop::portal("polling the publish job", e)),
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(Stop::Failed(format!(
                    "the publish did not finish within {} s",
                    run.options.publish_timeout.as_secs()
                )));
            }
            tokio::time::sleep(poll_delay(n, run.options.poll_max)).await;
            n += 1;
        }
        Ok(arcgis::write::CreatedService {
            item_id: job.service_item_id,
            service_url: job.service_url,
            name: name.to_owned(),
        })
    }
    .await;
    // The package only duplicates the service's data: removed whatever happened. Its journal row
    // stays after a failure: it names the service a lost publish answer may have made.
    match run.portal.delete_item(owner, &upload).await {
        Ok(()) if result.is_ok() => run.journal.forget(EntryKind::Upload, &plan.source_id).await?,
        Ok(()) => {}
        Err(e) => tracing::warn!(item = %upload, "deleting the uploaded package failed: {e}"),
    }
    result
}

/// Deletes the packages marked `keyword` (this restore's own) that `owner` holds; a failure is
/// logged, and the package is found again by the next run.
pub(crate) async fn remove_packages(run: &Run<'_>, keyword: &str, owner: &str) {
    match run.portal.find_owned_by_keyword(owner, keyword).await {
        Ok(found) => {
            for i in found.into_iter().filter(|i| i.owner == owner) {
                if let Err(e) = run.portal.delete_item(&i.owner, &i.id).await {
                    tracing::warn!(item = %i.id, "deleting an uploaded package failed: {e}");
                }
            }
        }
        Err(e) => tracing::warn!("looking for uploaded packages failed: {e}"),
    }
}

/// A view of an already restored source service: createService with `isView`, then its
/// layers, each naming its source layer.
async fn create_view(
    run: &Run<'_>,
    plan: &PlannedItem,
    owner: &str,
    name: &str,
    service: &ServiceEntry,
    source_url: &str,
) -> Result<arcgis::write::CreatedService, Stop> {
    let source_name = super::plan::service_name(source_url)
        .ok_or_else(|| Stop::Failed(format!("the source of the view has no service URL ({source_url})")))?;
    let (sjson, layers) = saved_definition(run, service).await?;
    let params = json!({
        "name": name,
        "capabilities": sjson.get("capabilities").cloned().unwrap_or(json!("Query")),
        "spatialReference": sjson.get("spatialReference").cloned().unwrap_or(json!({"wkid": 102100})),
        "isView": true,
    });
    let created = create_empty_service(run, plan, owner, &params, true, "creating the view").await?;
    let def = json!({
        "layers": layer_definitions(layers.get("layers"), Some(&source_name)),
        "tables": layer_definitions(layers.get("tables"), Some(&source_name)),
    });
    run.portal
        .add_to_definition(&created.service_url, &def)
        .await
        .map_err(|e| Stop::portal("adding the view's layers", e))?;
    Ok(created)
}

/// Notes the service name before a createService: if its answer is lost, the next run finds the
/// service it may have made by this name and replaces it (see `prepare`).
async fn intend(run: &Run<'_>, plan: &PlannedItem, name: &str) -> Result<(), Stop> {
    let mut intent = run.intent(&plan.target_owner);
    intent.insert("service_name".into(), json!(name));
    run.journal.record(EntryKind::Upload, &plan.source_id, "", false, &Value::Object(intent)).await?;
    Ok(())
}

/// The backed-up service JSON and its `/layers` JSON (empty lists when the backup has none).
async fn saved_definition(run: &Run<'_>, service: &ServiceEntry) -> Result<(Value, Value), Stop> {
    let sjson = run.blob_json(&service.service_json).await?;
    let layers = match &service.layers_json {
        Some(b) => run.blob_json(b).await?,
        None => json!({"layers": [], "tables": []}),
    };
    Ok((sjson, layers))
}

/// createService for an empty service (or view), journaled first by name (`intend`) and right
/// after by its new item id, so a lost answer or a later failure is found again on the next try.
async fn create_empty_service(
    run: &Run<'_>,
    plan: &PlannedItem,
    owner: &str,
    params: &Value,
    is_view: bool,
    what: &str,
) -> Result<arcgis::write::CreatedService, Stop> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or_default();
    intend(run, plan, name).await?;
    let mut made = run.intent(owner);
    let created = run.portal.create_service(owner, params, is_view).await.map_err(|e| Stop::portal(what, e))?;
    made.insert("service_url".into(), json!(created.service_url.as_str()));
    run.journal.record(EntryKind::Item, &plan.source_id, &created.item_id, false, &Value::Object(made)).await?;
    Ok(created)
}

/// Layer or table definitions for addToDefinition: relationships removed (they go to
/// updateDefinition after every layer exists); for a view, each names its source layer.
fn layer_definitions(list: Option<&Value>, view_of: Option<&str>) -> Vec<Value> {
    list.and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|l| {
            let mut l = l.clone();
            if let Some(o) = l.as_object_mut() {
                o.remove("relationships");
                if let Some(source_name) = view_of {
                    let id = o.get("id").cloned().unwrap_or(json!(0));
                    o.insert(
                        "adminLayerInfo".into(),
                        json!({"viewLayerDefinition": {"sourceServiceName": source_name, "sourceLayerId": id, "sourceLayerFields": "*"}}),
                    );
                }
            }
            l
        })
        .collect()
}

/// Relationship classes rebuilt from the layers' own `relationships` lists.
pub(crate) fn relationship_classes(layers: &Value) -> Vec<Value> {
    let all: Vec<&Value> = ["layers", "tables"].iter().filter_map(|k| layers.get(*k)?.as_array()).flatten().collect();
    let mut out: BTreeMap<i64, Value> = BTreeMap::new();
    for l in &all {
        let Some(lid) = l.get("id").and_then(Value::as_i64) else { continue };
        for r in l.get("relationships").and_then(Value::as_array).into_iter().flatten() {
            if r.get("role").and_then(Value::as_str) != Some("esriRelRoleOrigin") {
                continue;
            }
            let (Some(rid), Some(dest)) =
                (r.get("id").and_then(Value::as_i64), r.get("relatedTableId").and_then(Value::as_i64))
            else {
                continue;
            };
            let foreign = all
                .iter()
                .find(|d| d.get("id").and_then(Value::as_i64) == Some(dest))
                .and_then(|d| {
                    d.get("relationships")?
                        .as_array()?
                        .iter()
                        .find(|x| x.get("id").and_then(Value::as_i64) == Some(rid))
                        .cloned()
                })
                .and_then(|x| x.get("keyField").cloned())
                .unwrap_or(Value::Null);
            out.insert(rid, json!({
                "id": rid, "name": r.get("name").cloned().unwrap_or(json!("")),
                "originLayerId": lid, "destinationLayerId": dest,
                "originPrimaryKey": r.get("keyField").cloned().unwrap_or(Value::Null), "destinationForeignKey": foreign,
                "cardinality": r.get("cardinality").cloned().unwrap_or(json!("esriRelCardinalityOneToMany")),
                "composite": r.get("composite").cloned().unwrap_or(json!(false)),
            }));
        }
    }
    out.into_values().collect()
}

async fn create_from_definition(
    run: &Run<'_>,
    plan: &PlannedItem,
    owner: &str,
    name: &str,
    service: &ServiceEntry,
) -> Result<arcgis::write::CreatedService, Stop> {
    let (sjson, layers) = saved_definition(run, service).await?;
    let params = json!({
        "name": name,
        "serviceDescription": sjson.get("serviceDescription").cloned().unwrap_or(json!("")),
        "capabilities": sjson.get("capabilities").cloned().unwrap_or(json!("Query")),
        "spatialReference": sjson.get("spatialReference").cloned().unwrap_or(json!({"wkid": 102100})),
        "maxRecordCount": sjson.get("maxRecordCount").cloned().unwrap_or(json!(2000)),
    });
    let created = create_empty_service(run, plan, owner, &params, false, "creating the service").await?;
    let def = json!({"layers": layer_definitions(layers.get("layers"), None), "tables": layer_definitions(layers.get("tables"), None)});
    run.portal.add_to_definition(&created.service_url, &def).await.map_err(|e| Stop::portal("adding the layers", e))?;
    let rels = relationship_classes(&layers);
    if !rels.is_empty() {
        run.portal
            .update_definition(&created.service_url, &json!({"relationships": rels}))
            .await
            .map_err(|e| Stop::portal("adding the relationships", e))?;
    }
    if let (ExportMethod::Query, Some(export)) = (service.export_method, &service.export) {
        super::features::load_features(run, &created.service_url, &export.blob, &rels, service).await?;
    }
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relationship_classes_come_back_from_layer_json() {
        let layers = json!({
            "layers": [{"id": 0, "relationships": [{"id": 3, "name": "inspections", "relatedTableId": 1, "role": "esriRelRoleOrigin", "keyField": "GlobalID", "cardinality": "esriRelCardinalityOneToMany", "composite": false}]}],
            "tables": [{"id": 1, "relationships": [{"id": 3, "name": "inspections", "relatedTableId": 0, "role": "esriRelRoleDestination", "keyField": "ParentGUID"}]}]
        });
        let rels = relationship_classes(&layers);
        assert_eq!(rels.len(), 1, "one class from its two ends");
        assert_eq!(rels[0]["originLayerId"], 0, "origin from the origin role");
        assert_eq!(rels[0]["destinationLayerId"], 1, "destination from relatedTableId");
        assert_eq!(rels[0]["originPrimaryKey"], "GlobalID", "primary key from the origin's keyField");
        assert_eq!(rels[0]["destinationForeignKey"], "ParentGUID", "foreign key from the destination's keyField");
    }
}
