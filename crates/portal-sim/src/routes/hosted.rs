//! Hosted feature services at `/{orgId}/arcgis/rest/services/{name}/FeatureServer`, as Online's
//! services hosts serve them: service and layer JSON, paged `query`, attachments, relationships,
//! views' `/sources`, and the two ways to get a whole service out: the portal's `export` job and the
//! service's `createReplica` job (see `jobs`). What those download is described in `package`.
//!
//! Access follows the service's item: public items are readable anonymously; otherwise a token of
//! the org is required (499 without, 498 for another org's token, 403 when the item is not visible
//! to the caller). A view reads its source service's layers, so edits to the source show through.
//!
//! The first path segment is named `url_key` in the routes (the router requires one parameter name
//! per position across all routes) but holds the org id on these paths.

mod formats;
mod jobs;
mod package;
mod query;
mod replica;

use axum::extract::{Form, Path, State};
use axum::http::request::Parts;
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

pub use jobs::{export_items, JobState, EXPORT_TYPE_KEYWORD};
pub(crate) use jobs::{new_id as new_item_id, JOB_WORK};
pub use package::{package_service, unpack_package, PackageError};

use crate::auth::{caller_for_request, Caller};
use crate::model::{Audience, FeatureService, Field, Layer, Org};
use crate::routes::error::{ApiError, ApiResult};
use crate::server::SimState;

/// The ArcGIS Server version the services report.
pub(crate) const CURRENT_VERSION: f64 = 11.3;
/// Largest page a query answers; also what the service and layer JSON report.
pub const MAX_RECORD_COUNT: usize = 2000;

const FS: &str = "/{url_key}/arcgis/rest/services/{name}/FeatureServer";

/// Every hosted-service route plus the portal-side export/status/delete endpoints.
pub fn routes() -> Router<SimState> {
    let fs = |tail: &str| format!("{FS}{tail}");
    Router::new()
        .route(FS, get(service_json).post(service_json))
        .route(&fs("/"), get(service_json))
        .route(&fs("/layers"), get(layers_json).post(layers_json))
        .route(&fs("/relationships"), get(relationships_json).post(relationships_json))
        .route(&fs("/sources"), get(sources_json).post(sources_json))
        .route(&fs("/{layer}"), get(layer_json_handler).post(layer_json_handler))
        .route(&fs("/{layer}/query"), get(query::query).post(query::query))
        .route(&fs("/{layer}/queryAttachments"), get(query::query_attachments).post(query::query_attachments))
        .route(&fs("/{layer}/{oid}/attachments"), get(query::attachment_infos).post(query::attachment_infos))
        .route(&fs("/{layer}/{oid}/attachments/{aid}"), get(query::attachment_bytes))
        .merge(jobs::routes())
}

/// Query-string or form fields every hosted endpoint accepts besides its own.
#[derive(Deserialize, Default)]
pub(crate) struct TokenOnly {
    #[serde(default)]
    pub token: Option<String>,
}

pub(crate) fn invalid_url() -> ApiError {
    ApiError::new(400, "Invalid URL").with_detail("Invalid URL")
}

pub(crate) fn not_supported() -> ApiError {
    ApiError::new(400, "Requested operation is not supported by this service.")
}

/// Looks the service up and checks the caller may read it, then runs `f` under the read lock.
/// `f` receives the service as stored and the layers and tables it serves (a view's come from its
/// source service).
pub(crate) fn with_service<T>(
    state: &SimState,
    org_id: &str,
    name: &str,
    caller: Option<&Caller>,
    f: impl FnOnce(&Org, &FeatureService, &[Layer], &[Layer]) -> ApiResult<T>,
) -> ApiResult<T> {
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_id(org_id).ok_or_else(invalid_url)?;
    let service = org
        .services
        .get(name)
        .or_else(|| org.services.values().find(|s| s.name.eq_ignore_ascii_case(name)))
        .ok_or_else(invalid_url)?;
    let audience = caller.map(|c| c.audience(&universe)).unwrap_or_else(Audience::anonymous);
    let visible = match org.items.get(&service.item_id) {
        Some(item) => audience.can_see_item(org, item),
        // A service whose item is gone is only reachable by the org's administrators.
        None => audience.org_admin && audience.is_member_of_org(&org.id),
    };
    if !visible {
        return Err(match caller {
            None => ApiError::token_required(),
            Some(_) => ApiError::forbidden(format!("service {name}")),
        });
    }
    let source = service.view_of.as_deref().and_then(|src| org.services.get(src));
    let (layers, tables) = match source {
        Some(src) => (&src.layers[..], &src.tables[..]),
        None => (&service.layers[..], &service.tables[..]),
    };
    f(org, service, layers, tables)
}

/// Resolves the caller from headers, query or the form's `token`; `None` for anonymous.
pub(crate) fn caller_of(state: &SimState, parts: &Parts, form_token: Option<&str>) -> ApiResult<Option<Caller>> {
    caller_for_request(state, parts, form_token)
}

pub(crate) fn service_url(state: &SimState, org_id: &str, name: &str) -> String {
    format!("{}/{org_id}/arcgis/rest/services/{name}/FeatureServer", state.services_url)
}

fn spatial_reference(wkid: i64) -> Value {
    let latest = if wkid == 102100 { 3857 } else { wkid };
    json!({ "wkid": wkid, "latestWkid": latest })
}

fn extent(wkid: i64) -> Value {
    json!({
        "xmin": -20037507.07, "ymin": -30240971.96, "xmax": 20037507.07, "ymax": 18422214.70,
        "spatialReference": spatial_reference(wkid),
    })
}

pub(crate) fn oid_field(layer: &Layer) -> &str {
    layer.fields.iter().find(|f| f.field_type == "esriFieldTypeOID").map_or("OBJECTID", |f| f.name.as_str())
}

pub(crate) fn global_id_field(layer: &Layer) -> &str {
    layer.fields.iter().find(|f| f.field_type == "esriFieldTypeGlobalID").map_or("", |f| f.name.as_str())
}

pub(crate) fn field_json(f: &Field) -> Value {
    let system = matches!(f.field_type.as_str(), "esriFieldTypeOID" | "esriFieldTypeGlobalID");
    let mut v = json!({
        "name": f.name,
        "type": f.field_type,
        "alias": f.alias,
        "sqlType": "sqlTypeOther",
        "nullable": f.nullable,
        "editable": !system,
        "domain": null,
        "defaultValue": null,
    });
    if let Some(len) = f.length {
        v["length"] = json!(len);
    }
    v
}

fn layer_kind(layer: &Layer) -> &'static str {
    if layer.geometry_type.is_empty() {
        "Table"
    } else {
        "Feature Layer"
    }
}

/// A layer's relationships as the layer JSON names them, derived from the service-level classes
/// (`{id, name, originLayerId, destinationLayerId, originPrimaryKey, destinationForeignKey,
/// cardinality, composite}`).
fn layer_relationships(service: &FeatureService, layer_id: i64) -> Vec<Value> {
    let mut out = vec![];
    for r in &service.relationships {
        let origin = r.get("originLayerId").and_then(Value::as_i64);
        let dest = r.get("destinationLayerId").and_then(Value::as_i64);
        let (related, role, key) = if origin == Some(layer_id) {
            (dest, "esriRelRoleOrigin", r.get("originPrimaryKey"))
        } else if dest == Some(layer_id) {
            (origin, "esriRelRoleDestination", r.get("destinationForeignKey"))
        } else {
            continue;
        };
        out.push(json!({
            "id": r.get("id").cloned().unwrap_or(json!(0)),
            "name": r.get("name").cloned().unwrap_or(json!("")),
            "relatedTableId": related,
            "cardinality": r.get("cardinality").cloned().unwrap_or(json!("esriRelCardinalityOneToMany")),
            "role": role,
            "keyField": key.cloned().unwrap_or(Value::Null),
            "composite": r.get("composite").cloned().unwrap_or(json!(false)),
        }));
    }
    out
}

/// The JSON of one layer or table (`/{n}`, and each entry of `/layers`).
pub(crate) fn layer_json(service: &FeatureService, layer: &Layer) -> Value {
    let mut v = json!({
        "currentVersion": CURRENT_VERSION,
        "id": layer.id,
        "name": layer.name,
        "type": layer_kind(layer),
        "serviceItemId": service.item_id,
        "isView": service.view_of.is_some(),
        "displayField": layer.fields.iter().find(|f| f.field_type == "esriFieldTypeString").map_or("", |f| f.name.as_str()),
        "description": "",
        "copyrightText": "",
        "defaultVisibility": true,
        "editingInfo": { "lastEditDate": layer.last_edit_date, "schemaLastEditDate": layer.last_edit_date, "dataLastEditDate": layer.last_edit_date },
        "relationships": layer_relationships(service, layer.id),
        "hasAttachments": layer.has_attachments,
        "supportsApplyEditsWithGlobalIds": layer.keeps_global_ids,
        "objectIdField": oid_field(layer),
        "uniqueIdField": { "name": oid_field(layer), "isSystemMaintained": true },
        "globalIdField": global_id_field(layer),
        "fields": layer.fields.iter().map(field_json).collect::<Vec<_>>(),
        "capabilities": service.capabilities,
        "maxRecordCount": MAX_RECORD_COUNT,
        "supportedQueryFormats": "JSON, geoJSON, PBF",
        "advancedQueryCapabilities": {
            "supportsPagination": true,
            "supportsQueryAttachments": layer.has_attachments,
            "supportsReturningQueryGeometry": true,
            "supportsOrderBy": true,
        },
        "hasZ": false,
        "hasM": false,
    });
    if !layer.geometry_type.is_empty() {
        v["geometryType"] = json!(layer.geometry_type);
        v["extent"] = extent(service.spatial_reference_wkid);
    }
    v
}

#[derive(Deserialize)]
struct ServicePath {
    url_key: String,
    name: String,
}

async fn service_json(
    State(state): State<SimState>,
    Path(p): Path<ServicePath>,
    parts: Parts,
    Form(t): Form<TokenOnly>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, t.token.as_deref())?;
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |org, service, layers, tables| {
        let item = org.items.get(&service.item_id);
        let size: usize = layers
            .iter()
            .chain(tables)
            .flat_map(|l| &l.features)
            .map(|f| 200 + f.attachments.iter().map(|a| a.bytes.len()).sum::<usize>())
            .sum();
        let mut v = json!({
            "currentVersion": CURRENT_VERSION,
            "serviceItemId": service.item_id,
            "isView": service.view_of.is_some(),
            "hasViews": org.services.values().any(|s| s.view_of.as_deref() == Some(service.name.as_str())),
            "serviceDescription": item.map_or("", |i| i.description.as_str()),
            "hasVersionedData": false,
            "supportsDisconnectedEditing": service.sync_enabled,
            "hasStaticData": false,
            "hasSharedDomains": false,
            "maxRecordCount": MAX_RECORD_COUNT,
            "supportedQueryFormats": "JSON",
            "supportedExportFormats": "csv,shapefile,sqlite,geoPackage,filegdb,featureCollection,geojson",
            "capabilities": service.capabilities,
            "description": item.map_or("", |i| i.snippet.as_str()),
            "copyrightText": item.and_then(|i| i.access_information.as_deref()).unwrap_or(""),
            "spatialReference": spatial_reference(service.spatial_reference_wkid),
            "initialExtent": extent(service.spatial_reference_wkid),
            "fullExtent": extent(service.spatial_reference_wkid),
            "allowGeometryUpdates": true,
            "units": "esriMeters",
            "size": size,
            "syncEnabled": service.sync_enabled,
            "layers": layers.iter().map(|l| json!({
                "id": l.id, "name": l.name, "parentLayerId": -1, "defaultVisibility": true,
                "subLayerIds": null, "minScale": 0, "maxScale": 0, "geometryType": l.geometry_type,
            })).collect::<Vec<_>>(),
            "tables": tables.iter().map(|t| json!({ "id": t.id, "name": t.name })).collect::<Vec<_>>(),
            "relationships": service.relationships.iter().map(|r| json!({
                "id": r.get("id").cloned().unwrap_or(json!(0)),
                "name": r.get("name").cloned().unwrap_or(json!("")),
            })).collect::<Vec<_>>(),
        });
        if service.sync_enabled {
            v["syncCapabilities"] = json!({
                "supportsAsync": true, "supportsRegisteringExistingData": true, "supportsSyncDirectionControl": true,
                "supportsPerLayerSync": true, "supportsPerReplicaSync": false, "supportsSyncModelNone": true,
                "supportsAttachmentsSyncDirection": true,
            });
        }
        if service.change_tracking {
            v["changeTrackingInfo"] = json!({
                "lastSyncDate": layers.iter().chain(tables).map(|l| l.last_edit_date).max().unwrap_or(0),
                "layerServerGens": layers.iter().chain(tables).map(|l| json!({
                    "id": l.id, "minServerGen": 0, "serverGen": l.last_edit_date,
                })).collect::<Vec<_>>(),
            });
        }
        Ok(Json(v))
    })
}

async fn layers_json(
    State(state): State<SimState>,
    Path(p): Path<ServicePath>,
    parts: Parts,
    Form(t): Form<TokenOnly>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, t.token.as_deref())?;
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, service, layers, tables| {
        Ok(Json(json!({
            "layers": layers.iter().map(|l| layer_json(service, l)).collect::<Vec<_>>(),
            "tables": tables.iter().map(|l| layer_json(service, l)).collect::<Vec<_>>(),
        })))
    })
}

async fn relationships_json(
    State(state): State<SimState>,
    Path(p): Path<ServicePath>,
    parts: Parts,
    Form(t): Form<TokenOnly>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, t.token.as_deref())?;
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, service, _, _| {
        Ok(Json(json!({ "relationships": service.relationships })))
    })
}

async fn sources_json(
    State(state): State<SimState>,
    Path(p): Path<ServicePath>,
    parts: Parts,
    Form(t): Form<TokenOnly>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, t.token.as_deref())?;
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |org, service, _, _| {
        let source = service.view_of.as_deref().ok_or_else(not_supported)?;
        let services: Vec<Value> = org
            .services
            .get(source)
            .map(|src| {
                json!({
                    "name": src.name,
                    "type": "FeatureServer",
                    "url": service_url(&state, &org.id, &src.name),
                    "serviceItemId": src.item_id,
                })
            })
            .into_iter()
            .collect();
        Ok(Json(json!({ "currentVersion": CURRENT_VERSION, "services": services })))
    })
}

#[derive(Deserialize)]
struct LayerPath {
    url_key: String,
    name: String,
    layer: String,
}

/// Finds layer or table `id` among what the service serves.
pub(crate) fn find_layer<'a>(layers: &'a [Layer], tables: &'a [Layer], id: &str) -> ApiResult<&'a Layer> {
    let id: i64 = id.parse().map_err(|_| invalid_url())?;
    layers.iter().chain(tables).find(|l| l.id == id).ok_or_else(invalid_url)
}

async fn layer_json_handler(
    State(state): State<SimState>,
    Path(p): Path<LayerPath>,
    parts: Parts,
    Form(t): Form<TokenOnly>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, t.token.as_deref())?;
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, service, layers, tables| {
        Ok(Json(layer_json(service, find_layer(layers, tables, &p.layer)?)))
    })
}
