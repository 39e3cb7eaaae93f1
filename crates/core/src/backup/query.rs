//! The last fallback for a hosted feature service, taken when the export failed and the service
//! cannot replicate: features copied by paged `query`, attachments downloaded one by one.
//!
//! Nothing is lost on this path either: every layer and table's features go into one JSON
//! document `{"layers":[{"id", "objectIdFieldName", "features":[...]}]}`, written page by page
//! to a staging file (each layer's `id` and `objectIdFieldName` before its `features`, which
//! lets the restore read it as a stream) and stored from there; every attachment
//! of a layer with `hasAttachments` becomes its own blob, listed in the service entry with the
//! layer, feature and attachment ids that place it back.
//!
//! Attachments are listed with `queryAttachments` by batches of object ids (the ids the query
//! just returned, so every feature is covered without relying on the server's paging of
//! attachment answers). A server that does not support `queryAttachments` is asked per feature
//! (`<layer>/<oid>/attachments`) instead.

use arcgis::{sub_url, AttachmentInfo};
use serde_json::{json, Value};
use url::Url;

use super::run::{Download, Run, Stop};
use super::service::ServiceLayers;
use crate::repo::{AttachmentEntry, BlobFile, BlobRef};

/// Features asked per `query` page; the server may cap it lower (`maxRecordCount`).
const PAGE: u64 = 1000;
/// Object ids per `queryAttachments` request: keeps the URL short on any server.
const ATTACHMENT_BATCH: usize = 200;

/// What the query fallback saved of a service.
#[derive(Debug, Clone)]
pub(crate) struct QueryCopy {
    /// The features document.
    pub features: BlobRef,
    pub attachments: Vec<AttachmentEntry>,
}

/// Copies every layer in `layer_ids`; the attachments of those in `attachment_layers`.
/// The features document is written page by page to a staging file and stored from it, so
/// neither it nor a layer is ever held whole: only one page, and the object ids of a layer
/// with attachments (to list them). Attachments are streamed.
pub(crate) async fn query_all(run: &Run<'_>, service_url: &Url, layers: &ServiceLayers) -> Result<QueryCopy, Stop> {
    let (layer_ids, attachment_layers) = (&layers.ids, &layers.with_attachments);
    let work = async {
        let mut doc = run.repo.blob_file().await.map_err(Stop::Fatal)?;
        let mut attachments = Vec::new();
        write(&mut doc, br#"{"layers":["#).await?;
        for (i, &layer) in layer_ids.iter().enumerate() {
            if i > 0 {
                write(&mut doc, b",").await?;
            }
            let with_attachments = attachment_layers.contains(&layer);
            let oid_field = layers.oid_fields.get(&layer).map_or("OBJECTID", String::as_str);
            let oids = copy_layer(run, service_url, layer, oid_field, &mut doc, with_attachments).await?;
            if with_attachments {
                attachments.extend(layer_attachments(run, service_url, layer, &oids).await?);
            }
        }
        write(&mut doc, b"]}").await?;
        let features = run.repo.put_blob_file(doc).await.map_err(Stop::Fatal)?;
        Ok(QueryCopy { features, attachments })
    };
    run.cancellable(work).await?
}

async fn write(doc: &mut BlobFile, piece: &[u8]) -> Result<(), Stop> {
    doc.write(piece).await.map_err(Stop::Fatal)
}

/// Writes one layer's entry of the features document, `id` and `objectIdFieldName` before
/// `features` (so a restore can stream them), paging through the layer in object id order.
/// Answers the object ids of its features when `with_oids` (empty otherwise).
async fn copy_layer(
    run: &Run<'_>,
    service_url: &Url,
    layer: i64,
    order_by: &str,
    doc: &mut BlobFile,
    with_oids: bool,
) -> Result<Vec<i64>, Stop> {
    let mut oids = Vec::new();
    let mut oid_field: Option<String> = None;
    let mut first = true;
    let mut offset = 0u64;
    loop {
        let mut page = run
            .portal
            .query_page(service_url, layer, order_by, offset, PAGE)
            .await
            .map_err(|e| Stop::portal(&format!("querying layer {layer}"), e))?;
        let field = match &oid_field {
            Some(f) => f.clone(),
            None => {
                let f = page.get("objectIdFieldName").and_then(Value::as_str).unwrap_or("OBJECTID").to_owned();
                let head = format!(r#"{{"id":{layer},"objectIdFieldName":{},"features":["#, json!(f));
                write(doc, head.as_bytes()).await?;
                oid_field = Some(f.clone());
                f
            }
        };
        let got = match page.get_mut("features").map(Value::take) {
            Some(Value::Array(a)) => a,
            _ => Vec::new(),
        };
        let n = got.len() as u64;
        for feature in &got {
            if with_oids {
                let Some(oid) = feature.get("attributes").and_then(|a| a.get(&field)).and_then(Value::as_i64) else {
                    return Err(Stop::Failed(format!(
                        "layer {layer}: some features have no {field}, so their attachments cannot be found"
                    )));
                };
                oids.push(oid);
            }
            let text = serde_json::to_vec(feature).map_err(|e| Stop::Failed(format!("encoding a feature: {e}")))?;
            if !first {
                write(doc, b",").await?;
            }
            write(doc, &text).await?;
            first = false;
        }
        let more = page.get("exceededTransferLimit").and_then(Value::as_bool).unwrap_or(false);
        if !more || n == 0 {
            break;
        }
        offset += n;
    }
    write(doc, b"]}").await?;
    Ok(oids)
}

/// An attachment as listed by the service, before its bytes are fetched.
struct Listed {
    object_id: i64,
    id: i64,
    name: String,
    content_type: Option<String>,
}

fn listed(object_id: i64, info: &Value) -> Option<Listed> {
    AttachmentInfo::from_json(info).map(|a| from_info(object_id, a))
}

fn from_info(object_id: i64, a: AttachmentInfo) -> Listed {
    Listed { object_id, id: a.id, name: a.name, content_type: a.content_type }
}

/// Whether an error means "this server has no such operation" rather than a failure.
fn unsupported(e: &arcgis::Error) -> bool {
    matches!(
        e,
        arcgis::Error::Api { code: 400 | 404 | 405 | 501, .. }
            | arcgis::Error::NotFound { .. }
            | arcgis::Error::Http { status: 400 | 404 | 405 | 501, .. }
    )
}

/// Lists and downloads the attachments of the features `oids` of one layer.
async fn layer_attachments(
    run: &Run<'_>,
    service_url: &Url,
    layer: i64,
    oids: &[i64],
) -> Result<Vec<AttachmentEntry>, Stop> {
    let mut per_feature = false;
    let mut out = Vec::new();
    for batch in oids.chunks(ATTACHMENT_BATCH) {
        let list = if per_feature {
            per_feature_list(run, service_url, layer, batch).await?
        } else {
            match batch_list(run, service_url, layer, batch).await {
                Ok(list) => list,
                Err(e) if unsupported(&e) => {
                    tracing::info!(layer, "queryAttachments is not available, listing attachments per feature: {e}");
                    per_feature = true;
                    per_feature_list(run, service_url, layer, batch).await?
                }
                Err(e) => return Err(Stop::portal(&format!("listing the attachments of layer {layer}"), e)),
            }
        };
        for a in list {
            let url = sub_url(service_url, &format!("{layer}/{}/attachments/{}", a.object_id, a.id));
            let source = format!("attachment {} of feature {} in layer {layer}", a.id, a.object_id);
            let blob =
                run.download(Download::File(&source), || run.portal.get_stream(&url, &[])).await?.map_err(|e| {
                    Stop::portal(
                        &format!("downloading attachment {} of feature {} in layer {layer}", a.id, a.object_id),
                        e,
                    )
                })?;
            out.push(AttachmentEntry {
                layer_id: layer,
                object_id: a.object_id,
                attachment_id: a.id,
                name: a.name,
                content_type: a.content_type,
                blob,
            });
        }
    }
    Ok(out)
}

/// `queryAttachments` for a batch of object ids.
async fn batch_list(run: &Run<'_>, service_url: &Url, layer: i64, oids: &[i64]) -> arcgis::Result<Vec<Listed>> {
    let ids = oids.iter().map(i64::to_string).collect::<Vec<_>>().join(",");
    let url = sub_url(service_url, &format!("{layer}/queryAttachments"));
    let v = run.portal.json_at(url, &[("objectIds", ids.as_str()), ("returnUrl", "false")]).await?;
    let mut out = Vec::new();
    for group in v.get("attachmentGroups").and_then(Value::as_array).into_iter().flatten() {
        let Some(oid) = group.get("parentObjectId").and_then(Value::as_i64) else { continue };
        let infos = group.get("attachmentInfos").and_then(Value::as_array).into_iter().flatten();
        out.extend(infos.filter_map(|info| listed(oid, info)));
    }
    Ok(out)
}

/// `<layer>/<oid>/attachments` for each feature of a batch.
async fn per_feature_list(run: &Run<'_>, service_url: &Url, layer: i64, oids: &[i64]) -> Result<Vec<Listed>, Stop> {
    let mut out = Vec::new();
    for &oid in oids {
        let infos = run
            .portal
            .feature_attachments(service_url, layer, oid)
            .await
            .map_err(|e| Stop::portal(&format!("listing the attachments of feature {oid} in layer {layer}"), e))?;
        out.extend(infos.into_iter().map(|a| from_info(oid, a)));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sub_urls_keep_the_service_path_and_drop_its_query() {
        let base = Url::parse("https://services.example.com/org/arcgis/rest/services/Parks/FeatureServer?token=x")
            .expect("url");
        assert_eq!(
            sub_url(&base, "0/12/attachments/3").as_str(),
            "https://services.example.com/org/arcgis/rest/services/Parks/FeatureServer/0/12/attachments/3",
            "attachment URLs hang under the service path, without the service URL's query"
        );
    }

    #[test]
    fn attachment_infos_without_an_id_are_skipped_not_invented() {
        assert!(listed(7, &json!({"name": "a.jpg"})).is_none(), "an info without an id cannot be downloaded");
        let a = listed(7, &json!({"id": 2, "name": "a.jpg", "contentType": "image/jpeg"})).expect("listed");
        assert_eq!((a.object_id, a.id, a.name.as_str()), (7, 2, "a.jpg"), "the feature and attachment ids are kept");
    }
}
