//! What a complete backup of an org downloads, as plain GETs: the benchmark's ceiling fetches
//! exactly these with curl, at the backup's concurrency, to compare the backup's MB/s with.
//!
//! `GET /_sim/orgs/{url_key}/downloads` answers `{"paths": [...], "hosted": n, "query_fallback": n}`:
//! server-relative, percent-encoded paths of every byte-carrying GET a full backup makes: each
//! item's `/data` (when it has data and is not a hosted feature service), each resource, the
//! thumbnail, metadata.xml where it exists, each group's thumbnail, and for every hosted feature
//! service `/_sim/orgs/{url_key}/services/{name}/package`, which serves the same bytes as the
//! service's File Geodatabase export or replica download. `query_fallback` counts the services
//! a backup copies by paged query instead (export fails, no Sync): for those the package stands
//! in for the query pages and attachments.
//!
//! The package route sleeps the configured latency first, as the portal routes do (the control
//! API is outside the fault middleware), so the ceiling pays the same latency per request.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use url::Url;

use crate::model::{FeatureService, ItemData, Org};
use crate::routes::error::ApiError;
use crate::routes::hosted::{package_service, EXPORT_TYPE_KEYWORD};
use crate::server::SimState;

/// `/<segments...>` with each segment percent-encoded.
fn encoded_path(segments: &[&str]) -> String {
    let mut u = Url::parse("http://sim.invalid/").expect("a valid literal URL");
    if let Ok(mut p) = u.path_segments_mut() {
        p.clear();
        p.extend(segments);
    }
    u.path().to_owned()
}

/// Whether a backup exports this item's service rather than downloading its `/data`.
fn exported(org: &Org, item: &crate::model::Item) -> bool {
    item.item_type == "Feature Service" && item.service_name.as_deref().is_some_and(|s| org.services.contains_key(s))
}

/// The org's download list (see the module documentation).
pub fn download_paths(org: &Org) -> Value {
    let key = org.url_key.as_str();
    let mut paths = Vec::new();
    let (mut hosted, mut query_fallback) = (0u64, 0u64);
    for item in org.items.values() {
        if item.type_keywords.iter().any(|k| k == EXPORT_TYPE_KEYWORD) {
            continue;
        }
        let id = item.id.as_str();
        let base = [key, "sharing", "rest", "content", "items", id];
        if exported(org, item) {
            let name = item.service_name.as_deref().unwrap_or_default();
            hosted += 1;
            if org.services.get(name).is_some_and(|s| s.export_fails && !s.sync_enabled) {
                query_fallback += 1;
            }
            paths.push(encoded_path(&["_sim", "orgs", key, "services", name, "package"]));
        } else if !matches!(item.data, ItemData::None) && !item.data.is_empty() {
            paths.push(encoded_path(&[&base[..], &["data"]].concat()));
        }
        for r in &item.resources {
            let mut segs: Vec<&str> = base.to_vec();
            segs.push("resources");
            segs.extend(r.path.split('/').filter(|s| !s.is_empty()));
            paths.push(encoded_path(&segs));
        }
        if let Some(t) = &item.thumbnail {
            let mut segs: Vec<&str> = base.to_vec();
            segs.push("info");
            segs.extend(t.split('/').filter(|s| !s.is_empty()));
            paths.push(encoded_path(&segs));
        }
        if item.metadata_len.is_some() {
            paths.push(encoded_path(&[&base[..], &["info", "metadata", "metadata.xml"]].concat()));
        }
    }
    for g in org.groups.values() {
        if let Some(t) = &g.thumbnail {
            let mut segs = vec![key, "sharing", "rest", "community", "groups", g.id.as_str(), "info"];
            segs.extend(t.split('/').filter(|s| !s.is_empty()));
            paths.push(encoded_path(&segs));
        }
    }
    json!({ "paths": paths, "hosted": hosted, "query_fallback": query_fallback })
}

pub(super) async fn downloads(
    State(state): State<SimState>,
    Path(url_key): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe
        .org_by_url_key(&url_key)
        .ok_or_else(|| ApiError::not_found(format!("No org '{url_key}'.")).with_http_status(404))?;
    Ok(Json(download_paths(org)))
}

/// A service as its export sees it: a view serves its source's layers.
fn as_exported(org: &Org, service: &FeatureService) -> FeatureService {
    let mut copy = service.clone();
    if let Some(src) = service.view_of.as_deref().and_then(|s| org.services.get(s)) {
        copy.layers = src.layers.clone();
        copy.tables = src.tables.clone();
    }
    copy
}

pub(super) async fn package(
    State(state): State<SimState>,
    Path((url_key, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let latency = state.faults.latency_ms();
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    let service = {
        let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
        let org = universe
            .org_by_url_key(&url_key)
            .ok_or_else(|| ApiError::not_found(format!("No org '{url_key}'.")).with_http_status(404))?;
        let svc = org
            .services
            .get(&name)
            .ok_or_else(|| ApiError::not_found(format!("No service '{name}'.")).with_http_status(404))?;
        as_exported(org, svc)
    };
    let bytes = package_service(&service);
    Ok(([(header::CONTENT_TYPE, "application/zip")], bytes).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_percent_encoded_per_segment() {
        assert_eq!(
            encoded_path(&["k", "resources", "images", "photo 1.jpg"]),
            "/k/resources/images/photo%201.jpg",
            "a space in a resource name must be encoded, the slash between parts kept"
        );
    }

    #[test]
    fn an_org_lists_data_thumbnails_and_packages() {
        let (universe, _) = crate::generate::universe(&crate::server::SimConfig::default(), "http://127.0.0.1:1");
        let org = universe.orgs.first().expect("the default config makes orgs");
        let v = download_paths(org);
        let paths: Vec<&str> = v["paths"].as_array().expect("paths").iter().filter_map(Value::as_str).collect();
        let packages = paths.iter().filter(|p| p.ends_with("/package")).count() as u64;
        assert_eq!(packages, v["hosted"].as_u64().unwrap_or(0), "one package per hosted feature service");
        assert!(packages > 0, "the generated org has hosted feature services");
        let thumbs = org.items.values().filter(|i| i.thumbnail.is_some()).count()
            + org.groups.values().filter(|g| g.thumbnail.is_some()).count();
        let listed_thumbs = paths.iter().filter(|p| p.contains("/info/") && !p.ends_with("metadata.xml")).count();
        assert_eq!(listed_thumbs, thumbs, "every item and group thumbnail is a download, no more");
        let metas = org.items.values().filter(|i| i.metadata_len.is_some()).count();
        assert_eq!(
            paths.iter().filter(|p| p.ends_with("metadata.xml")).count(),
            metas,
            "metadata.xml only where it exists: a missing one carries no bytes"
        );
    }
}
