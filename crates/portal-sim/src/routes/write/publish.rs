//! `publish`: a hosted feature service from an uploaded package (the zip the simulator's export
//! and replica produce, see `hosted::package`), as an asynchronous job polled through the item
//! `status` endpoint with `jobType=publish`.
//!
//! The new service and its item (a new id, owned by the publisher, in the source file's folder,
//! related to it by `Service2Data`) exist from the moment the job is accepted; the job then reports
//! `processing` at least once before `completed`. A taken name or a file that is not a package
//! makes the job `failed` with Online's JSON-in-a-string `statusMessage`, and nothing is created.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Instant;

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use super::items::{blank_item, PRIV_UPDATE_ITEMS};
use super::services::{name_taken, service_keywords};
use super::{check_user, may_write, org_mut, write_lock};
use crate::model::{ItemData, Org, Relationship};
use crate::routes::content::params::Req;
use crate::routes::error::{ApiError, ApiResult};
use crate::routes::hosted::{new_item_id, service_url, unpack_package, JOB_WORK};
use crate::server::SimState;

#[derive(Debug)]
struct PublishJob {
    org_id: String,
    service_item_id: String,
    started: Instant,
    polls: u32,
    /// `Some(statusMessage)` when the job fails.
    failure: Option<String>,
}

/// Publish jobs by job id, across orgs.
#[derive(Debug, Default)]
pub struct PublishJobs {
    jobs: Mutex<HashMap<String, PublishJob>>,
}

impl PublishJobs {
    /// Publish jobs accepted so far.
    pub fn count(&self) -> usize {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// The status answer for a poll of `item_id` (optionally naming `job_id`) by a caller of
    /// `org_id`; `None` when no publish job matches (the item may have an export job instead).
    pub fn poll(&self, org_id: &str, item_id: &str, job_id: Option<&str>) -> Option<Value> {
        let mut jobs = self.jobs.lock().unwrap_or_else(|e| e.into_inner());
        let (id, job) = jobs.iter_mut().find(|(id, j)| {
            j.org_id == org_id && j.service_item_id == item_id && job_id.is_none_or(|want| want == id.as_str())
        })?;
        job.polls += 1;
        let done = job.polls >= 2 && job.started.elapsed() >= JOB_WORK;
        let (status, message) = match (&job.failure, done) {
            (_, false) => ("processing", "processing".to_owned()),
            (Some(m), true) => ("failed", m.clone()),
            (None, true) => ("completed", "completed".to_owned()),
        };
        Some(
            json!({ "itemId": item_id, "jobId": id, "jobType": "publish", "status": status, "statusMessage": message }),
        )
    }
}

/// Online's failed-job message: a JSON document inside the string.
fn failure(code: u16, message: &str) -> String {
    json!({ "type": "error", "code": code, "message": message, "messages": [message] }).to_string()
}

/// A hosted tile, vector tile or scene layer published from its package (Esri, "Publish Item":
/// `fileType` tilePackage, vectorTilePackage, scenePackage). The simulator keeps no tiles: the
/// layer is its item, at the URL the tile and scene routes answer for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum LayerPackage {
    Tiles,
    VectorTiles,
    Scene,
}

impl LayerPackage {
    fn of(file_type: &str) -> Option<LayerPackage> {
        match file_type.to_ascii_lowercase().as_str() {
            "tilepackage" | "compacttilepackage" => Some(LayerPackage::Tiles),
            "vectortilepackage" => Some(LayerPackage::VectorTiles),
            "scenepackage" => Some(LayerPackage::Scene),
            _ => None,
        }
    }

    /// The package item types this publishes from.
    fn sources(self) -> &'static [&'static str] {
        match self {
            LayerPackage::Tiles => &["Tile Package", "Compact Tile Package"],
            LayerPackage::VectorTiles => &["Vector Tile Package"],
            LayerPackage::Scene => &["Scene Package", "Scene Layer Package"],
        }
    }

    fn service_type(self) -> &'static str {
        match self {
            LayerPackage::Tiles => "Map Service",
            LayerPackage::VectorTiles => "Vector Tile Service",
            LayerPackage::Scene => "Scene Service",
        }
    }

    fn url(self, state: &SimState, org_id: &str, name: &str) -> String {
        let services = state.services_url.trim_end_matches('/');
        match self {
            LayerPackage::Tiles => format!("{services}/tiles/{org_id}/arcgis/rest/services/{name}/MapServer"),
            LayerPackage::VectorTiles => {
                format!("{services}/tiles/{org_id}/arcgis/rest/services/{name}/VectorTileServer")
            }
            LayerPackage::Scene => format!("{services}/{org_id}/arcgis/rest/services/Hosted/{name}/SceneServer"),
        }
    }
}

/// Makes the layer item from a package item of the right type: answers the job failure message
/// when it cannot.
fn publish_layer(
    org: &mut Org,
    state: &SimState,
    owner: &str,
    source_id: &str,
    item_id: &str,
    params: &Value,
    kind: LayerPackage,
) -> Option<String> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("").trim().to_owned();
    let url = kind.url(state, &org.id, &name);
    if org.items.values().any(|i| i.url.as_deref() == Some(url.as_str())) {
        return Some(failure(400, &format!("Service name '{name}' already exists for '{}'.", org.id)));
    }
    let source = org.items.get(source_id)?;
    if !kind.sources().contains(&source.item_type.as_str()) {
        return Some(failure(
            500,
            &format!("Unable to publish: the item is a {}, not a {}.", source.item_type, kind.sources()[0]),
        ));
    }
    if matches!(source.data, ItemData::None) {
        return Some(failure(500, "Unable to publish: the item has no uploaded file to publish."));
    }
    let folder = source.owner_folder.clone();
    let title = params.get("title").and_then(Value::as_str).unwrap_or(&name).to_owned();
    let mut item = blank_item(item_id.to_owned(), owner, folder, &title, kind.service_type());
    item.type_keywords =
        ["Hosted Service", kind.service_type(), "Data", "Service"].iter().map(|k| (*k).to_owned()).collect();
    item.url = Some(url);
    org.items.insert(item_id.to_owned(), item);
    org.relationships.push(Relationship {
        origin: item_id.to_owned(),
        destination: source_id.to_owned(),
        kind: "Service2Data".into(),
    });
    None
}

/// Creates the service from the package bytes: answers the job failure message when it cannot.
fn publish_service(
    org: &mut Org,
    state: &SimState,
    owner: &str,
    source_id: &str,
    service_item_id: &str,
    params: &Value,
) -> Option<String> {
    let name = params.get("name").and_then(Value::as_str).unwrap_or("").trim().to_owned();
    if name_taken(org, &name) {
        return Some(failure(400, &format!("Service name '{name}' already exists for '{}'.", org.id)));
    }
    let source = org.items.get(source_id)?;
    let unpacked = match &source.data {
        ItemData::Bytes { bytes, .. } => unpack_package(bytes),
        _ => return Some(failure(500, "Unable to publish: the item has no uploaded file to publish.")),
    };
    let mut service = match unpacked {
        Ok(s) => s,
        Err(e) => {
            tracing::info!(item = %source_id, error = %e, "publish of a file that is not a package");
            return Some(failure(500, "Unable to publish: the file is not a valid file geodatabase or replica."));
        }
    };
    let folder = source.owner_folder.clone();
    let title = params.get("title").and_then(Value::as_str).unwrap_or(&name).to_owned();
    service.name = name.clone();
    service.item_id = service_item_id.to_owned();
    // A published file becomes an independent service, whatever it was taken from.
    service.view_of = None;
    service.export_fails = false;
    let mut item = blank_item(service_item_id.to_owned(), owner, folder, &title, "Feature Service");
    item.type_keywords = service_keywords(service.sync_enabled, false);
    item.url = Some(service_url(state, &org.id, &name));
    item.service_name = Some(name.clone());
    org.items.insert(service_item_id.to_owned(), item);
    org.services.insert(name, service);
    org.relationships.push(Relationship {
        origin: service_item_id.to_owned(),
        destination: source_id.to_owned(),
        kind: "Service2Data".into(),
    });
    None
}

pub(super) async fn publish(
    State(state): State<SimState>,
    Path((url_key, username)): Path<(String, String)>,
    req: Req,
) -> ApiResult<Response> {
    let caller = req.require_caller()?;
    let source_id = req.required("itemid").or_else(|_| req.required("itemId"))?.to_owned();
    let file_type = req.required("filetype")?;
    let layer = LayerPackage::of(file_type);
    if layer.is_none()
        && !["fileGeodatabase", "sqlite", "serviceDefinition"].iter().any(|t| t.eq_ignore_ascii_case(file_type))
    {
        return Err(ApiError::bad_request(format!(
            "Invalid 'filetype' '{file_type}': expected fileGeodatabase, sqlite, serviceDefinition, tilePackage, vectorTilePackage or scenePackage."
        )));
    }
    let params = req
        .json_param("publishParameters")?
        .ok_or_else(|| ApiError::bad_request("'publishParameters' must be specified."))?;
    let name = params.get("name").and_then(Value::as_str).unwrap_or("").trim().to_owned();
    if name.is_empty() || !name.chars().all(|c| c.is_alphanumeric() || c == '_') {
        return Err(ApiError::bad_request("'publishParameters.name' must be a name of letters, digits and '_'."));
    }
    let (service_item_id, job_id) = (new_item_id(), new_item_id());
    let org_id = {
        let mut universe = write_lock(&state);
        let lag = universe.search_lag;
        let org = org_mut(&mut universe, &url_key)?;
        check_user(org, &username)?;
        let source = org.items.get(&source_id).ok_or_else(|| ApiError::item_missing(&source_id))?;
        if source.uploads.processing() || source.uploads.multipart.is_some() {
            return Err(ApiError::bad_request(format!(
                "Item {source_id} is not ready to publish: its upload is still being processed."
            )));
        }
        let source_owner = source.owner.clone();
        if !may_write(caller, &username, PRIV_UPDATE_ITEMS) || !may_write(caller, &source_owner, PRIV_UPDATE_ITEMS) {
            return Err(ApiError::forbidden(format!("publish item {source_id}")));
        }
        let failure = match layer {
            Some(kind) => publish_layer(org, &state, &username, &source_id, &service_item_id, &params, kind),
            None => publish_service(org, &state, &username, &source_id, &service_item_id, &params),
        };
        org.indexing_new(&service_item_id, lag);
        let org_id = org.id.clone();
        let job = PublishJob {
            org_id: org_id.clone(),
            service_item_id: service_item_id.clone(),
            started: Instant::now(),
            polls: 0,
            failure,
        };
        state.jobs.publishes.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(job_id.clone(), job);
        org_id
    };
    let (url, kind) = match layer {
        Some(kind) => (kind.url(&state, &org_id, &name), kind.service_type()),
        None => (service_url(&state, &org_id, &name), "Feature Service"),
    };
    tracing::info!(item = %source_id, service_item = %service_item_id, "publish job started");
    Ok(req.json(json!({ "services": [{
        "type": kind, "serviceurl": url, "encodedServiceURL": url, "serviceItemId": service_item_id,
        "jobId": job_id, "size": -1, "serviceName": name,
    }] })))
}
