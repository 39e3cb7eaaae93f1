//! `createReplica` with `syncModel=none` and `transportType=esriTransportTypeUrl`, as a backup
//! client uses it: async (a `statusUrl` to poll: Pending, ExportingData, Completed with a
//! `resultUrl`) or sync (a `responseUrl` at once). Requires the service's Sync capability.
//! `dataFormat` filegdb and sqlite give the service package (see `package`), json a JSON replica.
//!
//! Rows: Esri's Python client always sends a full-extent `geometry` and `layerQueries` with
//! `queryOption: "all"` for every layer (`FeatureLayerCollection.replicas.create`), because
//! without them the service applies its default filter (`queryOption` `useFilter`, the
//! replica's geometry defaulting to less than all of the data). portal-sim makes that visible:
//! a layer with geometry that is neither named `all` in `layerQueries` nor covered by a
//! request `geometry` keeps only the features in the middle half of its x-range (an
//! approximation of an initial extent; Esri does not document the exact default, so this is
//! our stand-in). Tables keep every row.

use std::time::Instant;

use axum::extract::{Form, Path, State};
use axum::http::header;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::formats::file_stem;
use super::jobs::{lock, new_id, snapshot, JOB_WORK};
use super::package::package_service;
use super::{caller_of, service_url, with_service};
use crate::auth::now_ms;
use crate::routes::error::{ApiError, ApiResult};
use crate::server::SimState;

#[derive(Debug, Clone)]
pub(super) struct ReplicaFile {
    bytes: bytes::Bytes,
    file_name: String,
}

#[derive(Debug, Clone)]
pub(super) struct ReplicaJob {
    org_id: String,
    service_name: String,
    replica_id: String,
    replica_name: String,
    layers: Vec<i64>,
    /// Layers whose rows are all included (`queryOption: all` or a request geometry).
    all_rows: Vec<i64>,
    data_format: String,
    attachments: bool,
    started: Instant,
    submitted_ms: i64,
    polls: u32,
    result: Option<ReplicaFile>,
}

#[derive(Deserialize, Default)]
pub(super) struct ReplicaForm {
    #[serde(default)]
    layers: Option<String>,
    #[serde(default, rename = "returnAttachments")]
    return_attachments: Option<String>,
    #[serde(default, rename = "async")]
    is_async: Option<String>,
    #[serde(default, rename = "dataFormat")]
    data_format: Option<String>,
    #[serde(default, rename = "replicaName")]
    replica_name: Option<String>,
    #[serde(default)]
    geometry: Option<String>,
    #[serde(default, rename = "layerQueries")]
    layer_queries: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

/// The layers whose rows the replica takes whole: every one when a `geometry` was sent (a
/// client sends the full extent), else those `layerQueries` names with `queryOption: "all"`.
fn layers_taken_whole(form: &ReplicaForm, layers: &[i64]) -> ApiResult<Vec<i64>> {
    if form.geometry.as_deref().is_some_and(|g| !g.trim().is_empty()) {
        return Ok(layers.to_vec());
    }
    let Some(raw) = form.layer_queries.as_deref().filter(|q| !q.trim().is_empty()) else { return Ok(vec![]) };
    let queries: Value = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request("Invalid 'layerQueries' parameter.").with_detail(e.to_string()))?;
    Ok(layers
        .iter()
        .copied()
        .filter(|id| {
            let q = &queries[id.to_string()];
            q["queryOption"].as_str().is_some_and(|o| o.eq_ignore_ascii_case("all"))
        })
        .collect())
}

/// The x of a geometry's first coordinate (point, multipoint, polyline or polygon).
fn first_x(g: &Value) -> Option<f64> {
    if let Some(x) = g.get("x").and_then(Value::as_f64) {
        return Some(x);
    }
    ["points", "paths", "rings"].iter().find_map(|k| {
        let v = g.get(*k)?;
        let first = if *k == "points" { v.get(0)? } else { v.get(0)?.get(0)? };
        first.get(0)?.as_f64()
    })
}

/// The service's default row filter: the features in the middle half of the layer's x-range.
fn default_filter(features: &mut Vec<crate::model::Feature>) {
    let xs: Vec<f64> = features.iter().filter_map(|f| f.geometry.as_ref().and_then(first_x)).collect();
    let (Some(lo), Some(hi)) = (xs.iter().copied().reduce(f64::min), xs.iter().copied().reduce(f64::max)) else {
        return;
    };
    let (from, to) = (lo + (hi - lo) / 4.0, hi - (hi - lo) / 4.0);
    features.retain(|f| f.geometry.as_ref().and_then(first_x).is_some_and(|x| x >= from && x <= to));
}

#[derive(Deserialize)]
pub(super) struct ServicePath {
    url_key: String,
    name: String,
}

fn parse_layer_list(raw: Option<&str>, available: &[i64]) -> ApiResult<Vec<i64>> {
    let raw = raw.unwrap_or("").trim().trim_start_matches('[').trim_end_matches(']');
    if raw.is_empty() {
        return Ok(available.to_vec());
    }
    raw.split(',')
        .map(|s| {
            let id: i64 = s.trim().parse().map_err(|_| ApiError::bad_request("Invalid 'layers' parameter."))?;
            if available.contains(&id) {
                Ok(id)
            } else {
                Err(ApiError::bad_request("Invalid 'layers' parameter.")
                    .with_detail(format!("Layer {id} does not exist")))
            }
        })
        .collect()
}

fn is_true(v: &Option<String>) -> bool {
    v.as_deref().is_some_and(|s| s.trim().eq_ignore_ascii_case("true"))
}

pub(super) async fn create_replica(
    State(state): State<SimState>,
    Path(p): Path<ServicePath>,
    parts: Parts,
    Form(form): Form<ReplicaForm>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, form.token.as_deref())?;
    let available = with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, service, layers, tables| {
        if !(service.sync_enabled || service.capabilities.split(',').any(|c| c.trim() == "Sync")) {
            return Err(ApiError::new(400, "Unable to create replica.")
                .with_detail("The service does not have the Sync capability."));
        }
        Ok(layers.iter().chain(tables).map(|l| l.id).collect::<Vec<_>>())
    })?;
    let layers = parse_layer_list(form.layers.as_deref(), &available)?;
    let all_rows = layers_taken_whole(&form, &layers)?;
    let data_format = form.data_format.as_deref().unwrap_or("json").trim().to_ascii_lowercase();
    if !matches!(data_format.as_str(), "filegdb" | "sqlite" | "json") {
        return Err(ApiError::bad_request("Invalid 'dataFormat' parameter.").with_detail(data_format));
    }
    let job_id = new_id();
    let replica_id = format!("{{{}}}", uuid::Uuid::new_v4().hyphenated().to_string().to_uppercase());
    let replica_name =
        form.replica_name.clone().filter(|n| !n.is_empty()).unwrap_or_else(|| format!("{}_replica", p.name));
    let job = ReplicaJob {
        org_id: p.url_key.clone(),
        service_name: p.name.clone(),
        replica_id: replica_id.clone(),
        replica_name: replica_name.clone(),
        layers,
        all_rows,
        data_format,
        attachments: is_true(&form.return_attachments),
        started: Instant::now(),
        submitted_ms: now_ms(),
        polls: 0,
        result: None,
    };
    let svc_url = service_url(&state, &p.url_key, &p.name);
    if is_true(&form.is_async) {
        lock(&state.jobs.replicas).insert(job_id.clone(), job);
        return Ok(Json(json!({ "statusUrl": format!("{svc_url}/jobs/{job_id}") })));
    }
    let mut job = job;
    let file = build_replica(&state, &job).ok_or_else(super::invalid_url)?;
    let result_url = format!("{svc_url}/replicafiles/{job_id}/{}", file.file_name);
    job.result = Some(file);
    lock(&state.jobs.replicas).insert(job_id, job);
    Ok(Json(json!({
        "replicaName": replica_name,
        "replicaID": replica_id,
        "transportType": "esriTransportTypeUrl",
        "responseUrl": result_url,
    })))
}

fn build_replica(state: &SimState, job: &ReplicaJob) -> Option<ReplicaFile> {
    let mut service = {
        let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe.org_by_id(&job.org_id)?;
        snapshot(org, org.services.get(&job.service_name)?)
    };
    service.layers.retain(|l| job.layers.contains(&l.id));
    service.tables.retain(|l| job.layers.contains(&l.id));
    for layer in service.layers.iter_mut().filter(|l| !job.all_rows.contains(&l.id)) {
        default_filter(&mut layer.features);
    }
    if !job.attachments {
        for f in service.layers.iter_mut().chain(service.tables.iter_mut()).flat_map(|l| l.features.iter_mut()) {
            f.attachments.clear();
        }
    }
    let stem = file_stem(&job.replica_name);
    if job.data_format == "json" {
        let svc_url = service_url(state, &job.org_id, &job.service_name);
        let layers: Vec<Value> = service
            .layers
            .iter()
            .chain(&service.tables)
            .map(|l| {
                let attachments: Vec<Value> = l
                    .features
                    .iter()
                    .flat_map(|f| f.attachments.iter().map(move |a| (f, a)))
                    .map(|(f, a)| json!({
                        "id": a.id, "parentObjectId": f.object_id, "name": a.name, "contentType": a.content_type,
                        "size": a.bytes.len(), "url": format!("{svc_url}/{}/{}/attachments/{}", l.id, f.object_id, a.id),
                    }))
                    .collect();
                let features: Vec<Value> =
                    l.features.iter().map(|f| json!({ "attributes": f.attributes, "geometry": f.geometry })).collect();
                json!({ "id": l.id, "features": features, "attachments": attachments })
            })
            .collect();
        let body = json!({ "replicaName": job.replica_name, "replicaID": job.replica_id, "layers": layers });
        return Some(ReplicaFile {
            bytes: serde_json::to_vec(&body).unwrap_or_default().into(),
            file_name: format!("{stem}.json"),
        });
    }
    let ext = if job.data_format == "sqlite" { "geodatabase" } else { "zip" };
    Some(ReplicaFile { bytes: package_service(&service).into(), file_name: format!("{stem}.{ext}") })
}

#[derive(Deserialize)]
pub(super) struct JobPath {
    url_key: String,
    name: String,
    job: String,
}

pub(super) async fn replica_status(
    State(state): State<SimState>,
    Path(p): Path<JobPath>,
    parts: Parts,
    Form(t): Form<super::TokenOnly>,
) -> ApiResult<Json<Value>> {
    let caller = caller_of(&state, &parts, t.token.as_deref())?;
    with_service(&state, &p.url_key, &p.name, caller.as_ref(), |_, _, _, _| Ok(()))?;
    let build = {
        let mut replicas = lock(&state.jobs.replicas);
        let job = replicas
            .get_mut(&p.job)
            .filter(|j| j.org_id == p.url_key && j.service_name == p.name)
            .ok_or_else(|| ApiError::bad_request("Job not found.").with_detail(p.job.clone()))?;
        job.polls += 1;
        job.result.is_none() && job.polls >= 2 && job.started.elapsed() >= JOB_WORK
    };
    if build {
        // Built outside the lock: packaging a large service takes a while.
        let snapshot = lock(&state.jobs.replicas).get(&p.job).cloned();
        let file = snapshot.as_ref().and_then(|j| build_replica(&state, j));
        if let Some(job) = lock(&state.jobs.replicas).get_mut(&p.job) {
            job.result = file;
        }
    }
    let replicas = lock(&state.jobs.replicas);
    let job = replicas.get(&p.job).ok_or_else(|| ApiError::bad_request("Job not found."))?;
    let svc_url = service_url(&state, &p.url_key, &p.name);
    let (status, result_url) = match &job.result {
        Some(file) => ("Completed", format!("{svc_url}/replicafiles/{}/{}", p.job, file.file_name)),
        None if build => ("Failed", String::new()),
        None if job.polls <= 1 => ("Pending", String::new()),
        None => ("ExportingData", String::new()),
    };
    Ok(Json(json!({
        "replicaName": job.replica_name,
        "replicaID": job.replica_id,
        "submissionTime": job.submitted_ms,
        "lastUpdatedTime": now_ms(),
        "status": status,
        "resultUrl": result_url,
    })))
}

#[derive(Deserialize)]
pub(super) struct FilePath {
    url_key: String,
    name: String,
    job: String,
    file: String,
}

/// The replica download. Like Online's blob URLs it needs no token: the job id is unguessable.
pub(super) async fn replica_file(State(state): State<SimState>, Path(p): Path<FilePath>) -> ApiResult<Response> {
    let replicas = lock(&state.jobs.replicas);
    let file = replicas
        .get(&p.job)
        .filter(|j| j.org_id == p.url_key && j.service_name == p.name)
        .and_then(|j| j.result.clone())
        .filter(|f| f.file_name == p.file)
        .ok_or_else(|| ApiError::not_found("File not found.").with_http_status(404))?;
    let content_type = if file.file_name.ends_with(".json") { "application/json" } else { "application/octet-stream" };
    Ok((
        [
            (header::CONTENT_TYPE, content_type.to_owned()),
            (header::CONTENT_DISPOSITION, super::query::content_disposition(&file.file_name)),
        ],
        file.bytes,
    )
        .into_response())
}
