//! One item: its JSON (from the catalog, as the portal's search returned it), `/data` streamed
//! into the repository, every resource, the thumbnail, metadata.xml when there is one, and for
//! a hosted feature service the service and layer JSON plus an export of its data.
//!
//! A scene, tile, map or registered service item's `url` is read only on the org's own hosts or
//! an allowed one (`Portal::check_item_url`): any member can point it anywhere. Otherwise the
//! entry records `service_not_fetched` and the item is saved without its service JSON.
//!
//! Incremental rule: an item whose `modified` and `size` equal the previous snapshot's entry
//! reuses that entry's blobs without a request; a hosted feature service additionally needs its
//! layers' newest `editingInfo.lastEditDate` (read by the scan) unchanged, else its data is
//! exported again.

use serde_json::Value;
use url::Url;

use super::facts::Facts;
use super::run::{Download, Run, Stop};
use super::service::{export_service, ServiceLayers};
use crate::catalog::ItemSummary;
use crate::repo::{
    DataEntry, DataKind, ExportMethod, FileEntry, FolderRef, ItemEntry, NotFetched, RelDirection, Relationship,
    ResourceEntry, ServiceEntry, Sharing,
};

/// Whether the item is a hosted feature service of this org whose data can be exported.
fn hosted_feature_service(run: &Run<'_>, summary: &ItemSummary, json: &Value) -> Option<Url> {
    let hosted = crate::item_type::is_hosted_feature_service(&summary.item_type, json);
    let url = Url::parse(summary.url.as_deref()?.trim_end_matches('/')).ok()?;
    (hosted && run.portal.is_org_url(&url) && url.path().contains("/FeatureServer")).then_some(url)
}

/// The entry's parts that come from the catalog, not from downloads: they are rebuilt on every
/// backup, so a changed sharing or relationship shows even when the item's blobs are reused.
fn catalog_parts(entry: &mut ItemEntry, summary: &ItemSummary, facts: &Facts) {
    entry.title = summary.title.clone();
    entry.item_type = summary.item_type.clone();
    entry.owner = summary.owner.clone();
    entry.folder = summary
        .folder_id
        .as_ref()
        .map(|f| FolderRef { id: f.clone(), title: facts.folders.get(f).map(|(_, t)| t.clone()).unwrap_or_default() });
    entry.modified = summary.modified_ms.unwrap_or(0);
    entry.size = summary.size;
    entry.sharing = Sharing {
        access: summary.access.clone(),
        groups: facts.sharing.get(&summary.id).map(|g| g.iter().cloned().collect()).unwrap_or_default(),
    };
    entry.related = facts
        .related
        .get(&summary.id)
        .map(|rs| {
            rs.iter()
                .map(|r| Relationship {
                    rel_type: r.relationship_type.clone(),
                    direction: match r.direction {
                        arcgis::Direction::Forward => RelDirection::Forward,
                        arcgis::Direction::Reverse => RelDirection::Reverse,
                    },
                    item_id: r.item_id.clone(),
                })
                .collect()
        })
        .unwrap_or_default();
}

/// Backs up one item; `previous` (the last snapshot's entry) enables reuse. The entry's
/// `notes` name a fallback when one was taken.
pub(crate) async fn capture_item(
    run: &Run<'_>,
    summary: &ItemSummary,
    json_text: &str,
    facts: &Facts,
    previous: Option<&ItemEntry>,
) -> Result<ItemEntry, Stop> {
    let json: Value = serde_json::from_str(json_text)
        .map_err(|e| Stop::Failed(format!("the catalog's JSON of the item is not valid: {e}")))?;
    let json = &json;
    // Re-encoded rather than stored as the catalog's text, so blob ids stay those of earlier snapshots.
    let item_json = run.store_json_known(json, previous.map(|p| &p.item_json)).await?;
    let service_url = hosted_feature_service(run, summary, json);
    let other_url = if service_url.is_none() { other_service_url(summary) } else { None };
    let not_fetched = other_url.as_ref().and_then(|u| {
        run.portal
            .check_item_url(u)
            .err()
            .map(|e| NotFetched { origin: u.origin().ascii_serialization(), reason: e.to_string() })
    });
    let unchanged = previous.filter(|p| p.modified == summary.modified_ms.unwrap_or(0) && p.size == summary.size);
    if let Some(prev) = unchanged {
        let service_same = match (&service_url, &prev.service) {
            (None, _) => true,
            (Some(_), Some(s)) => s.last_edit_date == summary.last_edit_ms && s.export.is_some(),
            (Some(_), None) => false,
        };
        // A host allowed or disallowed since the previous snapshot changes what is saved.
        let same_hosts = prev.service_not_fetched == not_fetched;
        if service_same && same_hosts {
            let mut entry = prev.clone();
            entry.item_json = item_json;
            entry.notes.clear();
            catalog_parts(&mut entry, summary, facts);
            run.tally.reused.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            return Ok(entry);
        }
    }

    let id = summary.id.as_str();
    let mut entry = ItemEntry {
        id: summary.id.clone(),
        title: String::new(),
        item_type: String::new(),
        owner: String::new(),
        folder: None,
        modified: 0,
        size: 0,
        item_json,
        data: None,
        resources: Vec::new(),
        thumbnail: None,
        metadata: None,
        related: Vec::new(),
        sharing: Sharing::default(),
        service: None,
        notes: Vec::new(),
        included_as: None,
        service_not_fetched: None,
    };
    catalog_parts(&mut entry, summary, facts);

    let failed = Stop::portal;

    // A hosted service's /data is not its data; the export is.
    if service_url.is_none() {
        run.tally.data_downloads.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let blob = run
            .download(Download::File(&format!("item {id} (its data)")), || run.portal.item_data_stream(id))
            .await?
            .map_err(|e| failed("reading /data", e))?;
        if blob.size > 0 {
            let json_data = crate::item_type::has_json_data(&summary.item_type);
            entry.data = Some(DataEntry {
                kind: if json_data { DataKind::Json } else { DataKind::File },
                file_name: if json_data { None } else { json.get("name").and_then(Value::as_str).map(str::to_owned) },
                blob,
            });
        }
    }

    let resources =
        run.cancellable(run.portal.item_resources(id)).await?.map_err(|e| failed("listing the resources", e))?;
    for r in resources {
        let blob = run
            .download(Download::File(&format!("item {id} (resource {:?})", r.resource)), || {
                run.portal.item_resource_stream(id, &r.resource)
            })
            .await?
            .map_err(|e| failed(&format!("reading the resource {:?}", r.resource), e))?;
        entry.resources.push(ResourceEntry { path: r.resource, blob });
    }

    if let Some(thumb) = json.get("thumbnail").and_then(Value::as_str).filter(|t| !t.is_empty()) {
        let mut segments = vec!["content", "items", id, "info"];
        segments.extend(thumb.split('/').filter(|s| !s.is_empty() && *s != "." && *s != ".."));
        let url = run.portal.rest_url(&segments).map_err(|e| failed("the thumbnail URL", e))?;
        match run
            .download(Download::File(&format!("item {id} (its thumbnail)")), || run.portal.get_stream(&url, &[]))
            .await?
        {
            Ok(blob) => {
                let name = thumb.rsplit('/').next().unwrap_or(thumb).to_owned();
                entry.thumbnail = Some(FileEntry { name, blob });
            }
            // A thumbnail named but not served is common on real portals (they answer it with a
            // 400-class error): absent, not a failure.
            Err(e) if is_absent_file(&e, false) => {
                entry.notes.push(format!("the thumbnail {thumb:?} is named but not served ({e}); none kept"));
            }
            Err(e) => return Err(failed("reading the thumbnail", e)),
        }
    }

    let meta_url = run
        .portal
        .rest_url(&["content", "items", id, "info", "metadata", "metadata.xml"])
        .map_err(|e| failed("the metadata URL", e))?;
    match run
        .download(Download::File(&format!("item {id} (its metadata)")), || run.portal.get_stream(&meta_url, &[]))
        .await?
    {
        Ok(blob) => {
            entry.metadata = (blob.size > 0).then_some(blob);
        }
        // No metadata answers with HTTP 400 or 500 (Esri's Python client, `Item.metadata`, reads
        // both as "no metadata"), an error body, or a 404: the item has none, and the backup goes on.
        Err(e) if is_absent_file(&e, true) => {}
        Err(e) => return Err(failed("reading metadata.xml", e)),
    }

    if let Some(url) = service_url {
        entry.service = Some(capture_service(run, summary, &url, previous, &mut entry.notes).await?);
    } else if let Some(reason) = not_fetched {
        tracing::info!(item = id, origin = %reason.origin, "the item's service URL is not on an org or allowed host; not read");
        entry.service_not_fetched = Some(reason);
    } else if let Some(url) = other_url {
        // Scene, tile and registered services: their JSON when it answers; the item is kept either way.
        if let Ok(Ok(v)) = run.cancellable(run.portal.service_json(&url)).await {
            entry.service = Some(ServiceEntry {
                url: url.to_string(),
                service_json: run.store_json(&v).await?,
                layers_json: None,
                export: None,
                export_method: ExportMethod::None,
                last_edit_date: None,
                service_definition: None,
                attachments: Vec::new(),
            });
        }
    }
    Ok(entry)
}

fn other_service_url(summary: &ItemSummary) -> Option<Url> {
    crate::item_type::service_layers_endpoint(&summary.item_type)?;
    Url::parse(summary.url.as_deref()?.trim_end_matches('/')).ok()
}

async fn capture_service(
    run: &Run<'_>,
    summary: &ItemSummary,
    url: &Url,
    previous: Option<&ItemEntry>,
    notes: &mut Vec<String>,
) -> Result<ServiceEntry, Stop> {
    let failed = Stop::portal;
    let service = run.cancellable(run.portal.service_json(url)).await?.map_err(|e| failed("reading the service", e))?;
    let layers = run.cancellable(run.portal.service_layers(url)).await?.map_err(|e| failed("reading the layers", e))?;
    let last_edit_date = newest_edit(&layers).or(summary.last_edit_ms);
    let all_layers = ["layers", "tables"].iter().filter_map(|k| layers.get(*k).and_then(Value::as_array)).flatten();
    let mut service_layers = ServiceLayers {
        full_extent: service.get("fullExtent").filter(|e| e.is_object()).cloned(),
        ..Default::default()
    };
    for l in all_layers {
        let Some(id) = l.get("id").and_then(Value::as_i64) else { continue };
        service_layers.ids.push(id);
        let oid_field = l.get("objectIdField").and_then(Value::as_str).filter(|f| !f.is_empty()).or_else(|| {
            l.get("fields")?.as_array()?.iter().find_map(|f| {
                (f.get("type")?.as_str()? == "esriFieldTypeOID").then(|| f.get("name")?.as_str()).flatten()
            })
        });
        if let Some(f) = oid_field {
            service_layers.oid_fields.insert(id, f.to_owned());
        }
        if l.get("hasAttachments").and_then(Value::as_bool).unwrap_or(false) {
            service_layers.with_attachments.push(id);
        }
    }
    let mut entry = ServiceEntry {
        url: url.to_string(),
        service_json: run.store_json(&service).await?,
        layers_json: Some(run.store_json(&layers).await?),
        export: None,
        export_method: ExportMethod::None,
        last_edit_date,
        service_definition: None,
        attachments: Vec::new(),
    };

    // The item changed (title, tags) but its data did not: keep the previous export.
    let same_data = previous
        .and_then(|p| p.service.as_ref())
        .filter(|s| s.last_edit_date.is_some() && s.last_edit_date == last_edit_date && s.export.is_some());
    if let Some(prev) = same_data {
        entry.export = prev.export.clone();
        entry.export_method = prev.export_method;
        entry.attachments = prev.attachments.clone();
        return Ok(entry);
    }

    let can_sync = service
        .get("capabilities")
        .and_then(Value::as_str)
        .is_some_and(|c| c.split(',').any(|c| c.trim().eq_ignore_ascii_case("Sync")))
        || service.get("syncEnabled").and_then(Value::as_bool).unwrap_or(false);
    let exported = export_service(run, &summary.owner, &summary.id, url, &service_layers, can_sync).await?;
    entry.export_method = exported.method.into();
    entry.attachments = exported.attachments;
    entry.export = Some(FileEntry { name: exported.method.file_name(&summary.id), blob: exported.blob });
    if let Some(reason) = exported.fallback_reason {
        notes.push(reason);
    }
    Ok(entry)
}

/// The newest `editingInfo.lastEditDate` of a `/layers` answer.
pub(crate) fn newest_edit(layers: &Value) -> Option<i64> {
    ["layers", "tables"]
        .iter()
        .filter_map(|k| layers.get(*k).and_then(Value::as_array))
        .flatten()
        .filter_map(|l| l.get("editingInfo")?.get("lastEditDate")?.as_i64())
        .max()
}

/// Whether reading an item's `info/` file failed because the file is not there: a 404, an
/// error body of code 400/404, or a bare HTTP 400-class answer; for metadata also HTTP 500,
/// which ArcGIS answers for an item without metadata (after the client's retries of a 5xx).
fn is_absent_file(e: &arcgis::Error, metadata: bool) -> bool {
    match e {
        arcgis::Error::NotFound { .. } => true,
        arcgis::Error::Api { code, .. } => matches!(code, 400 | 404) || (metadata && *code == 500),
        arcgis::Error::Http { status, .. } => (400..500).contains(status) || (metadata && *status == 500),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn newest_edit_spans_layers_and_tables() {
        let v = json!({"layers":[{"editingInfo":{"lastEditDate":3}}],"tables":[{"editingInfo":{"lastEditDate":8}}]});
        assert_eq!(newest_edit(&v), Some(8), "a table edit counts as a change of the service");
        assert_eq!(newest_edit(&json!({"layers":[{"id":0}]})), None, "no edit info, no date");
    }
}
