//! Hosted feature services built piece by piece: `createService` (the item and an empty service),
//! the admin `addToDefinition` (layers and tables, never relationships) and `updateDefinition`
//! (relationships, capabilities, layer properties), then the data: `applyEdits` (at most 2,000
//! adds a call; the service assigns object ids) and `addAttachment`.

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Map, Value};

use super::items::{blank_item, resolve_folder, PRIV_UPDATE_ITEMS};
use super::{check_user, later_than, may_write, write_lock, MAX_ADDS};
use crate::auth::{now_ms, Caller};
use crate::model::{Attachment, Feature, FeatureService, Field, Layer, Org};
use crate::routes::content::params::Req;
use crate::routes::error::{ApiError, ApiResult};
use crate::routes::hosted::{new_item_id, service_url};
use crate::server::SimState;

/// Type keyword of a view service's item (how a view is known before its layers name a source).
pub const VIEW_KEYWORD: &str = "View Service";

/// The type keywords Online gives a hosted feature service item.
pub(super) fn service_keywords(sync: bool, view: bool) -> Vec<String> {
    let mut kw = vec!["ArcGIS Server", "Data", "Feature Access", "Feature Service", "Service", "Hosted Service"];
    if sync {
        kw.push("Sync");
    }
    if view {
        kw.push(VIEW_KEYWORD);
    }
    kw.into_iter().map(str::to_owned).collect()
}

/// Whether `name` is taken in `org` (service names compare case-insensitively).
pub(super) fn name_taken(org: &Org, name: &str) -> bool {
    let needle = format!("/services/{}/", name.to_lowercase());
    org.services.keys().any(|s| s.eq_ignore_ascii_case(name))
        || org.items.values().any(|i| i.url.as_deref().is_some_and(|u| u.to_lowercase().contains(&needle)))
}

/// Service names are path segments: letters, digits and `_` as Online requires.
fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || c == '_')
}

fn create_in(state: &SimState, url_key: &str, username: &str, folder: Option<&str>, req: &Req) -> ApiResult<Value> {
    let caller = req.require_caller()?;
    let params = req
        .json_param("createParameters")?
        .ok_or_else(|| ApiError::bad_request("'createParameters' must be specified."))?;
    if let Some(t) = req.get("outputType").filter(|t| !t.eq_ignore_ascii_case("featureService")) {
        return Err(ApiError::bad_request(format!("Invalid 'outputType' '{t}': only featureService is supported.")));
    }
    let name = params.get("name").and_then(Value::as_str).unwrap_or("").trim().to_owned();
    if !valid_name(&name) {
        return Err(ApiError::bad_request("'createParameters.name' must be a name of letters, digits and '_'."));
    }
    let is_view = req.flag("isView", false) || params.get("isView").and_then(Value::as_bool).unwrap_or(false);
    let capabilities = params.get("capabilities").and_then(Value::as_str).unwrap_or("Query").to_owned();
    let wkid = params
        .get("spatialReference")
        .and_then(|sr| sr.get("latestWkid").or_else(|| sr.get("wkid")))
        .and_then(Value::as_i64)
        .map_or(102100, |w| if w == 3857 { 102100 } else { w });
    let mut universe = write_lock(state);
    let lag = universe.search_lag;
    let org = super::org_mut(&mut universe, url_key)?;
    check_user(org, username)?;
    if !may_write(caller, username, PRIV_UPDATE_ITEMS) {
        return Err(ApiError::forbidden(format!("create a service for {username}")));
    }
    if name_taken(org, &name) {
        return Err(ApiError::bad_request(format!("Service name '{name}' already exists for '{}'", org.id)));
    }
    let folder_id = resolve_folder(org, username, folder)?;
    let url = service_url(state, &org.id, &name);
    let sync = capabilities.split(',').any(|c| c.trim() == "Sync");
    let mut item = blank_item(new_item_id(), username, folder_id, &name, "Feature Service");
    item.type_keywords = service_keywords(sync, is_view);
    item.url = Some(url.clone());
    item.service_name = Some(name.clone());
    item.description = params.get("serviceDescription").and_then(Value::as_str).unwrap_or("").to_owned();
    let service = FeatureService {
        name: name.clone(),
        item_id: item.id.clone(),
        layers: vec![],
        tables: vec![],
        relationships: vec![],
        view_of: None,
        sync_enabled: sync,
        change_tracking: capabilities.split(',').any(|c| c.trim() == "ChangeTracking"),
        capabilities,
        export_fails: false,
        spatial_reference_wkid: wkid,
    };
    let id = item.id.clone();
    org.indexing_new(&id, lag);
    org.items.insert(id.clone(), item);
    org.services.insert(name.clone(), service);
    tracing::info!(item = %id, service = %name, "service created");
    Ok(json!({
        "success": true, "itemId": id, "serviceItemId": id, "name": name, "serviceurl": url,
        "encodedServiceURL": url, "type": "Feature Service", "isView": is_view,
    }))
}

pub(super) async fn create_service(
    State(state): State<SimState>,
    Path((url_key, username)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    Ok(req.json(create_in(&state, &url_key, &username, None, &req)?))
}

pub(super) async fn create_service_in_folder(
    State(state): State<SimState>,
    Path((url_key, username, folder)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    Ok(req.json(create_in(&state, &url_key, &username, Some(&folder), &req)?))
}

/// The service `name` of org `org_id` (the hosted paths' first segment) once the caller may
/// change it: its item's owner or an administrator. Runs `f` under the write lock.
fn with_service_mut<T>(
    state: &SimState,
    org_id: &str,
    name: &str,
    caller: &Caller,
    f: impl FnOnce(&mut Org, String) -> ApiResult<T>,
) -> ApiResult<T> {
    let mut universe = write_lock(state);
    let org = universe.org_by_id_mut(org_id).ok_or_else(crate::routes::hosted::invalid_url)?;
    let key = org
        .services
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
        .ok_or_else(crate::routes::hosted::invalid_url)?;
    let owner = org.items.get(&org.services[&key].item_id).map(|i| i.owner.clone());
    let allowed = match &owner {
        Some(owner) => may_write(caller, owner, PRIV_UPDATE_ITEMS),
        None => caller.is_admin,
    };
    if !allowed {
        return Err(ApiError::forbidden(format!("change service {name}")));
    }
    f(org, key)
}

fn definition_error(detail: impl Into<String>) -> ApiError {
    ApiError::bad_request("Unable to update the service definition.").with_detail(detail)
}

/// A layer or table as `addToDefinition` describes it.
fn layer_from_definition(def: &Value, fallback_id: i64, table: bool) -> ApiResult<Layer> {
    let name = def.get("name").and_then(Value::as_str).ok_or_else(|| definition_error("every layer needs a 'name'"))?;
    let mut fields: Vec<Field> = def
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .map(|f| {
            let s = |k: &str| f.get(k).and_then(Value::as_str).map(str::to_owned);
            let name = s("name").ok_or_else(|| definition_error(format!("a field of layer '{name}' has no name")))?;
            Ok(Field {
                alias: s("alias").unwrap_or_else(|| name.clone()),
                field_type: s("type").unwrap_or_else(|| "esriFieldTypeString".into()),
                length: f.get("length").and_then(Value::as_i64),
                nullable: f.get("nullable").and_then(Value::as_bool).unwrap_or(true),
                name,
            })
        })
        .collect::<ApiResult<_>>()?;
    // Every hosted layer has an object id field, named as the definition says.
    if !fields.iter().any(|f| f.field_type == "esriFieldTypeOID") {
        let oid = def.get("objectIdField").and_then(Value::as_str).unwrap_or("OBJECTID");
        fields.retain(|f| f.name != oid);
        fields.insert(
            0,
            Field {
                name: oid.into(),
                field_type: "esriFieldTypeOID".into(),
                alias: oid.into(),
                length: None,
                nullable: false,
            },
        );
    }
    let geometry_type =
        if table { String::new() } else { def.get("geometryType").and_then(Value::as_str).unwrap_or("").to_owned() };
    // A hosted layer with a GlobalID field keeps sent GlobalIDs unless its definition says
    // otherwise (as a layer copied from a service that did not may).
    let keeps_global_ids = def
        .get("supportsApplyEditsWithGlobalIds")
        .and_then(Value::as_bool)
        .unwrap_or_else(|| fields.iter().any(|f| f.field_type == "esriFieldTypeGlobalID"));
    Ok(Layer {
        id: def.get("id").and_then(Value::as_i64).unwrap_or(fallback_id),
        name: name.to_owned(),
        geometry_type,
        fields,
        features: vec![],
        has_attachments: def.get("hasAttachments").and_then(Value::as_bool).unwrap_or(false),
        last_edit_date: now_ms(),
        next_object_id: 1,
        keeps_global_ids,
    })
}

/// The source service a view layer's `adminLayerInfo.viewLayerDefinition` names.
fn view_source(def: &Value) -> Option<&str> {
    let v = def.get("adminLayerInfo")?.get("viewLayerDefinition")?;
    v.get("sourceServiceName").or_else(|| v.get("table").and_then(|t| t.get("sourceServiceName")))?.as_str()
}

pub(super) async fn add_to_definition(
    State(state): State<SimState>,
    Path((org_id, name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let def = req
        .json_param("addToDefinition")?
        .ok_or_else(|| ApiError::bad_request("'addToDefinition' must be specified."))?;
    if def.get("relationships").is_some() {
        return Err(ApiError::bad_request(
            "Relationships cannot be added with addToDefinition; add them with updateDefinition after the layers.",
        ));
    }
    let added = with_service_mut(&state, &org_id, &name, caller, |org, key| {
        let is_view = org
            .items
            .get(&org.services[&key].item_id)
            .is_some_and(|i| i.type_keywords.iter().any(|k| k == VIEW_KEYWORD));
        let mut source: Option<String> = None;
        let mut layers = vec![];
        let service = &org.services[&key];
        let mut next_id = service.layers.iter().chain(&service.tables).map(|l| l.id + 1).max().unwrap_or(0);
        for (list, table) in [("layers", false), ("tables", true)] {
            for d in def.get(list).and_then(Value::as_array).into_iter().flatten() {
                let is_table = table || d.get("type").and_then(Value::as_str) == Some("Table");
                let layer = layer_from_definition(d, next_id, is_table)?;
                next_id = next_id.max(layer.id + 1);
                if is_view {
                    let src = view_source(d).ok_or_else(|| {
                        definition_error("a view layer needs adminLayerInfo.viewLayerDefinition.sourceServiceName")
                    })?;
                    let found = org.services.keys().find(|k| k.eq_ignore_ascii_case(src)).cloned();
                    source = Some(found.ok_or_else(|| definition_error(format!("source service '{src}' not found")))?);
                }
                layers.push((layer, is_table));
            }
        }
        let service = org.services.get_mut(&key).ok_or_else(crate::routes::hosted::invalid_url)?;
        for (layer, _) in &layers {
            if service.layers.iter().chain(&service.tables).any(|l| l.id == layer.id) {
                return Err(definition_error(format!("layer id {} already exists", layer.id)));
            }
        }
        if source.is_some() {
            service.view_of = source;
        }
        let mut out = vec![];
        for (layer, is_table) in layers {
            out.push(json!({ "name": layer.name, "id": layer.id }));
            if is_table {
                service.tables.push(layer);
            } else {
                service.layers.push(layer);
            }
        }
        Ok(out)
    })?;
    let answer = json!({ "success": true, "layers": added });
    if req.flag("async", false) {
        // Answered at once with where to poll; the operation's slow-op time is spent by the job,
        // not by this answer (see `definition_jobs`).
        let work = state.faults.slow_ops().get("addToDefinition").copied().unwrap_or(0);
        let job = state.jobs.definitions.accept(&org_id, &name, std::time::Duration::from_millis(work), answer);
        let admin = format!("{}/{org_id}/arcgis/rest/admin/services/{name}/FeatureServer", state.services_url);
        let mut resp = req.json(json!({ "statusURL": format!("{admin}/jobs/{job}") }));
        resp.extensions_mut().insert(crate::faults::AnsweredAsync);
        return Ok(resp);
    }
    Ok(req.json(answer))
}

pub(super) async fn update_definition(
    State(state): State<SimState>,
    Path((org_id, name)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let def = req
        .json_param("updateDefinition")?
        .ok_or_else(|| ApiError::bad_request("'updateDefinition' must be specified."))?;
    with_service_mut(&state, &org_id, &name, caller, |org, key| {
        let service = org.services.get_mut(&key).ok_or_else(crate::routes::hosted::invalid_url)?;
        if let Some(rels) = def.get("relationships") {
            let rels = rels.as_array().ok_or_else(|| definition_error("'relationships' must be an array"))?;
            for r in rels {
                super::relationships::check(service, r)?;
            }
            service.relationships = rels.clone();
        }
        if let Some(caps) = def.get("capabilities").and_then(Value::as_str) {
            service.capabilities = caps.to_owned();
            service.change_tracking = caps.split(',').any(|c| c.trim() == "ChangeTracking");
            service.sync_enabled = caps.split(',').any(|c| c.trim() == "Sync");
        }
        if let Some(sync) = def.get("syncEnabled").and_then(Value::as_bool) {
            service.sync_enabled = sync;
        }
        for d in def.get("layers").into_iter().chain(def.get("tables")).filter_map(Value::as_array).flatten() {
            let id = d.get("id").and_then(Value::as_i64);
            let layer = service
                .layers
                .iter_mut()
                .chain(service.tables.iter_mut())
                .find(|l| Some(l.id) == id)
                .ok_or_else(|| definition_error(format!("layer {id:?} does not exist")))?;
            if let Some(n) = d.get("name").and_then(Value::as_str) {
                layer.name = n.to_owned();
            }
            if let Some(a) = d.get("hasAttachments").and_then(Value::as_bool) {
                layer.has_attachments = a;
            }
            layer.last_edit_date = later_than(layer.last_edit_date);
        }
        Ok(())
    })?;
    Ok(req.json(json!({ "success": true })))
}

/// The editable layer `layer` of a service (not a view: views are read-only).
fn layer_mut<'a>(service: &'a mut FeatureService, layer: &str) -> ApiResult<&'a mut Layer> {
    if service.view_of.is_some() {
        return Err(crate::routes::hosted::not_supported());
    }
    let id: i64 = layer.parse().map_err(|_| crate::routes::hosted::invalid_url())?;
    service
        .layers
        .iter_mut()
        .chain(service.tables.iter_mut())
        .find(|l| l.id == id)
        .ok_or_else(crate::routes::hosted::invalid_url)
}

fn new_global_id() -> String {
    let h = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    format!("{{{}-{}-{}-{}-{}}}", &h[0..8], &h[8..12], &h[12..16], &h[16..20], &h[20..32])
}

/// Adds one feature; `keep_global_ids` keeps a sent GlobalID that is not in use yet (so that
/// relationship keys survive a restore), otherwise the service makes a new one.
/// Adds one feature. With `keep_global_ids` (`useGlobalIds=true` on a layer that supports it) the
/// sent GlobalID is kept and one already in the layer fails the add (Esri, "Apply Edits":
/// with `useGlobalIds` the client supplies unique GlobalIDs; a duplicate is an error, and with
/// `rollbackOnFailure` the whole batch is undone); without it the layer assigns a new one.
fn add_feature(layer: &mut Layer, add: &Value, keep_global_ids: bool) -> Result<(i64, Option<String>), String> {
    let sent = add.get("attributes").and_then(Value::as_object).ok_or("an add needs 'attributes'")?;
    let oid_field = crate::routes::hosted::oid_field(layer).to_owned();
    let gid_field = crate::routes::hosted::global_id_field(layer).to_owned();
    let mut attributes = Map::new();
    for field in &layer.fields {
        if field.name == oid_field || field.name == gid_field {
            continue;
        }
        if let Some((_, v)) = sent.iter().find(|(k, _)| k.eq_ignore_ascii_case(&field.name)) {
            attributes.insert(field.name.clone(), v.clone());
        }
    }
    let object_id = layer.next_object_id;
    attributes.insert(oid_field, json!(object_id));
    let mut global_id = None;
    if !gid_field.is_empty() {
        let sent_gid = sent.iter().find(|(k, _)| k.eq_ignore_ascii_case(&gid_field)).and_then(|(_, v)| v.as_str());
        let in_use =
            |g: &str| layer.features.iter().any(|f| f.attributes.get(&gid_field).and_then(Value::as_str) == Some(g));
        let gid = match sent_gid {
            Some(g) if keep_global_ids && !g.is_empty() => {
                if in_use(g) {
                    return Err(format!("A feature with GlobalID {g} already exists."));
                }
                g.to_owned()
            }
            _ => new_global_id(),
        };
        attributes.insert(gid_field, json!(gid));
        global_id = Some(gid);
    }
    let geometry = add.get("geometry").filter(|g| !g.is_null() && !layer.geometry_type.is_empty()).cloned();
    layer.features.push(Feature { object_id, attributes, geometry, attachments: vec![] });
    layer.next_object_id += 1;
    Ok((object_id, global_id))
}

pub(super) async fn apply_edits(
    State(state): State<SimState>,
    Path((org_id, name, layer)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let adds = req.json_param("adds")?.unwrap_or(json!([]));
    let adds = adds.as_array().ok_or_else(|| ApiError::bad_request("Invalid 'adds' parameter: must be an array."))?;
    if adds.len() > MAX_ADDS {
        return Err(ApiError::bad_request(format!(
            "At most {MAX_ADDS} adds are allowed per call; {} were sent.",
            adds.len()
        )));
    }
    let updates = req.json_param("updates")?.unwrap_or(json!([]));
    let deletes: Vec<i64> =
        req.get("deletes").map(super::comma_list).unwrap_or_default().iter().filter_map(|d| d.parse().ok()).collect();
    let rollback = req.flag("rollbackOnFailure", true);
    // `useGlobalIds` defaults to false (Esri, "Apply Edits").
    let keep_global_ids = req.flag("useGlobalIds", false);
    let body = with_service_mut(&state, &org_id, &name, caller, |org, key| {
        let service = org.services.get_mut(&key).ok_or_else(crate::routes::hosted::invalid_url)?;
        let layer = layer_mut(service, &layer)?;
        if keep_global_ids && !layer.keeps_global_ids {
            return Err(ApiError::bad_request("Unable to complete operation.").with_detail(
                "'useGlobalIds' is not supported by this layer (supportsApplyEditsWithGlobalIds is false).",
            ));
        }
        // Edits run on a copy so that a rollback leaves the layer untouched.
        let mut edited = layer.clone();
        let mut add_results = vec![];
        let mut failed = false;
        for add in adds {
            match add_feature(&mut edited, add, keep_global_ids) {
                Ok((oid, gid)) => add_results.push(json!({ "objectId": oid, "globalId": gid, "success": true })),
                Err(why) => {
                    failed = true;
                    add_results.push(
                        json!({ "objectId": null, "success": false, "error": { "code": 1000, "description": why } }),
                    );
                }
            }
        }
        let mut update_results = vec![];
        let oid_field = crate::routes::hosted::oid_field(&edited).to_owned();
        for u in updates.as_array().into_iter().flatten() {
            let oid = u.get("attributes").and_then(|a| a.get(&oid_field)).and_then(Value::as_i64);
            match edited.features.iter_mut().find(|f| Some(f.object_id) == oid) {
                Some(f) => {
                    for (k, v) in u["attributes"].as_object().into_iter().flatten() {
                        if *k != oid_field {
                            f.attributes.insert(k.clone(), v.clone());
                        }
                    }
                    if let Some(g) = u.get("geometry").filter(|g| !g.is_null()) {
                        f.geometry = Some(g.clone());
                    }
                    update_results.push(json!({ "objectId": oid, "success": true }));
                }
                None => {
                    failed = true;
                    update_results.push(json!({ "objectId": oid, "success": false, "error": { "code": 1019, "description": "Object is missing." } }));
                }
            }
        }
        let mut delete_results = vec![];
        for oid in &deletes {
            let before = edited.features.len();
            edited.features.retain(|f| f.object_id != *oid);
            let ok = edited.features.len() < before;
            failed |= !ok;
            delete_results.push(json!({ "objectId": oid, "success": ok }));
        }
        if !(failed && rollback) {
            edited.last_edit_date = later_than(edited.last_edit_date);
            *layer = edited;
        }
        Ok(json!({ "addResults": add_results, "updateResults": update_results, "deleteResults": delete_results }))
    })?;
    Ok(req.json(body))
}

pub(super) async fn add_attachment(
    State(state): State<SimState>,
    Path((org_id, name, layer, oid)): Path<(String, String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let upload = req.files.get("attachment").ok_or_else(|| ApiError::bad_request("'attachment' must be specified."))?;
    let oid: i64 = oid.parse().map_err(|_| crate::routes::hosted::invalid_url())?;
    let attachment_id = with_service_mut(&state, &org_id, &name, caller, |org, key| {
        let service = org.services.get_mut(&key).ok_or_else(crate::routes::hosted::invalid_url)?;
        let layer = layer_mut(service, &layer)?;
        if !layer.has_attachments {
            return Err(ApiError::bad_request("Layer does not support attachments."));
        }
        // Attachment ids are unique within the layer.
        let id = layer.features.iter().flat_map(|f| &f.attachments).map(|a| a.id + 1).max().unwrap_or(1);
        let feature = layer
            .features
            .iter_mut()
            .find(|f| f.object_id == oid)
            .ok_or_else(|| ApiError::bad_request(format!("Object {oid} does not exist.")))?;
        feature.attachments.push(Attachment {
            id,
            name: upload.file_name.clone(),
            content_type: upload.content_type.clone(),
            bytes: upload.bytes.clone(),
        });
        layer.last_edit_date = later_than(layer.last_edit_date);
        Ok(id)
    })?;
    Ok(req.json(json!({ "addAttachmentResult": { "objectId": attachment_id, "globalId": null, "success": true } })))
}
