//! Test control: change the orgs while a client runs, as a library (`RunningSim::control()`) and
//! as HTTP under `/_sim/...` for out-of-process tests (the CLI end-to-end suite).
//!
//! HTTP (no token; never mounted under an org's portal path):
//! - `POST /_sim/items/{id}/delete` -> `{"deleted": bool}`
//! - `POST /_sim/items/{id}/touch` -> `{"touched": bool}`
//! - `POST /_sim/items/{id}/data` with a JSON body -> `{"updated": bool}`
//! - `GET /_sim/orgs/{url_key}/counts` -> `{id, urlKey, items, users, groups, folders, services}`
//! - `GET /_sim/orgs/{url_key}/items` -> `{"ids": [...]}`
//! - `GET /_sim/stats` -> requests per route (see `stats`)
//! - `POST /_sim/jobs` with `{"export_work_ms": n, "commit_work_ms": m, "admin_exports_anywhere":
//!   b}` -> how long export jobs and committed uploads process from now on; whether an
//!   administrator may export into another user's content (Enterprise) or not (Online, default)
//! - `POST /_sim/search/lag` with `{"ms": n}` -> how long item writes take to reach search;
//!   `POST /_sim/search/index-now` -> every write so far searchable (see `index`)
//! - `POST /_sim/items/{id}/lose-thumbnail-file` -> `{"lost": bool}`: its thumbnail answers HTTP 400
//! - `GET /_sim/orgs/{url_key}/downloads` -> every byte-carrying GET of a full backup, and
//!   `GET /_sim/orgs/{url_key}/services/{name}/package` (see `downloads`): the benchmark's ceiling
//! - account changes (see `accounts`): `POST /_sim/orgs/{url_key}/users/{username}/revoke-tokens`,
//!   `.../password`, `.../demote`, and `POST /_sim/auth/refresh-token-ttl`

mod accounts;
mod downloads;
pub mod stats;

use axum::extract::{Path, State};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Serialize;
use serde_json::{json, Value};

use crate::model::{ItemData, Universe};
use crate::routes::error::ApiError;
use crate::server::SimState;

/// How far `touch_item` moves `modified`: one day, a fixed step so runs stay deterministic.
pub const TOUCH_STEP_MS: i64 = 86_400_000;

/// Counts of one org, for assertions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OrgCounts {
    pub id: String,
    pub url_key: String,
    pub items: usize,
    pub users: usize,
    pub groups: usize,
    pub folders: usize,
    pub services: usize,
}

/// A handle on a running simulator's state. Cheap to clone; every method locks briefly.
#[derive(Clone)]
pub struct Control {
    state: SimState,
}

impl Control {
    pub fn new(state: SimState) -> Self {
        Self { state }
    }

    fn write<T>(&self, f: impl FnOnce(&mut Universe) -> T) -> T {
        let mut u = self.state.universe.write().unwrap_or_else(|e| e.into_inner());
        f(&mut u)
    }

    fn read<T>(&self, f: impl FnOnce(&Universe) -> T) -> T {
        let u = self.state.universe.read().unwrap_or_else(|e| e.into_inner());
        f(&u)
    }

    /// Deletes an item (with its relationships and hosted service); false if it did not exist.
    pub fn delete_item(&self, id: &str) -> bool {
        self.write(|u| u.org_of_item_mut(id).and_then(|o| o.remove_item(id)).is_some())
    }

    /// Marks an item changed: `modified` moves by [`TOUCH_STEP_MS`] and its data changes
    /// deterministically (JSON gains or bumps `_simRevision`; a generated file grows by one byte;
    /// no data becomes a small JSON document), and a hosted service's layers record an edit at the
    /// new `modified`. False if the item does not exist.
    pub fn touch_item(&self, id: &str) -> bool {
        self.write(|u| {
            let Some(org) = u.org_of_item_mut(id) else { return false };
            let Some(item) = org.items.get_mut(id) else { return false };
            item.modified += TOUCH_STEP_MS;
            match &mut item.data {
                ItemData::Json(v) => {
                    if let Some(obj) = v.as_object_mut() {
                        let rev = obj.get("_simRevision").and_then(Value::as_i64).unwrap_or(0) + 1;
                        obj.insert("_simRevision".into(), json!(rev));
                    } else {
                        *v = json!({ "_simRevision": 1, "value": v.clone() });
                    }
                }
                ItemData::Generated { len, .. } => *len += 1,
                ItemData::Bytes { bytes, .. } => {
                    let mut b = bytes.to_vec();
                    b.push(b'\n');
                    *bytes = b.into();
                }
                ItemData::None => item.data = ItemData::Json(json!({ "_simRevision": 1 })),
            }
            let (modified, service) = (item.modified, item.service_name.clone());
            if let Some(svc) = service.and_then(|s| org.services.get_mut(&s)) {
                for layer in svc.layers.iter_mut().chain(svc.tables.iter_mut()) {
                    layer.last_edit_date = layer.last_edit_date.max(modified);
                }
            }
            true
        })
    }

    /// How long a client's item writes take to reach search from now on (0 = at once).
    pub fn set_search_lag(&self, lag: std::time::Duration) {
        self.write(|u| u.search_lag = lag);
    }

    /// Makes every write so far searchable: a test's "wait until the index caught up".
    pub fn index_now(&self) {
        self.write(|u| u.orgs.iter_mut().for_each(crate::model::Org::index_now));
    }

    /// Makes the thumbnail file of an item that names one unreadable (HTTP 400), as happens on
    /// real portals; false if the item does not exist or names no thumbnail.
    pub fn lose_thumbnail_file(&self, id: &str) -> bool {
        self.write(|u| {
            let Some(item) = u.org_of_item_mut(id).and_then(|o| o.items.get_mut(id)) else { return false };
            item.uploads.thumbnail_file_missing = item.thumbnail.is_some();
            item.uploads.thumbnail_file_missing
        })
    }

    /// Replaces an item's data with `value` (and bumps `modified` like a save would).
    pub fn set_item_data_json(&self, id: &str, value: Value) -> bool {
        self.write(|u| {
            let Some(item) = u.org_of_item_mut(id).and_then(|o| o.items.get_mut(id)) else { return false };
            item.data = ItemData::Json(value);
            item.modified += TOUCH_STEP_MS;
            true
        })
    }

    /// Every item id of the org, in id order; empty for an unknown org.
    pub fn item_ids(&self, url_key: &str) -> Vec<String> {
        self.read(|u| u.org_by_url_key(url_key).map(|o| o.items.keys().cloned().collect()).unwrap_or_default())
    }

    /// Counts of the org, `None` for an unknown url key.
    pub fn org(&self, url_key: &str) -> Option<OrgCounts> {
        self.read(|u| {
            u.org_by_url_key(url_key).map(|o| OrgCounts {
                id: o.id.clone(),
                url_key: o.url_key.clone(),
                items: o.items.len(),
                users: o.users.len(),
                groups: o.groups.len(),
                folders: o.folders.len(),
                services: o.services.len(),
            })
        })
    }
}

/// The `/_sim/...` routes.
pub fn routes() -> Router<SimState> {
    Router::new()
        .route("/_sim/items/{id}/delete", post(delete))
        .route("/_sim/items/{id}/touch", post(touch))
        .route("/_sim/items/{id}/data", post(set_data))
        .route("/_sim/orgs/{url_key}/counts", get(counts))
        .route("/_sim/orgs/{url_key}/items", get(ids))
        .route("/_sim/orgs/{url_key}/downloads", get(downloads::downloads))
        .route("/_sim/orgs/{url_key}/services/{name}/package", get(downloads::package))
        .route("/_sim/stats", get(stats::stats))
        .route("/_sim/jobs", post(set_jobs))
        .route("/_sim/search/lag", post(set_search_lag))
        .route("/_sim/search/index-now", post(index_now))
        .route("/_sim/items/{id}/lose-thumbnail-file", post(lose_thumbnail_file))
        .merge(accounts::routes())
}

#[derive(serde::Deserialize)]
struct JobSettings {
    #[serde(default)]
    export_work_ms: u64,
    /// How long a committed multipart upload stays "processing".
    #[serde(default)]
    commit_work_ms: Option<u64>,
    /// Enterprise's export habit: an administrator may export into anyone's content.
    #[serde(default)]
    admin_exports_anywhere: Option<bool>,
}

async fn set_jobs(State(state): State<SimState>, Json(settings): Json<JobSettings>) -> Json<Value> {
    state.jobs.set_export_work(std::time::Duration::from_millis(settings.export_work_ms));
    if let Some(on) = settings.admin_exports_anywhere {
        state.jobs.set_admin_exports_anywhere(on);
    }
    if let Some(ms) = settings.commit_work_ms {
        state.jobs.set_commit_work(std::time::Duration::from_millis(ms));
    }
    Json(json!({
        "export_work_ms": state.jobs.export_work().as_millis() as u64,
        "commit_work_ms": state.jobs.commit_work().as_millis() as u64,
        "admin_exports_anywhere": state.jobs.admin_exports_anywhere(),
    }))
}

#[derive(serde::Deserialize)]
struct SearchLag {
    ms: u64,
}

async fn set_search_lag(State(state): State<SimState>, Json(lag): Json<SearchLag>) -> Json<Value> {
    Control::new(state).set_search_lag(std::time::Duration::from_millis(lag.ms));
    Json(json!({ "search_lag_ms": lag.ms }))
}

async fn index_now(State(state): State<SimState>) -> Json<Value> {
    Control::new(state).index_now();
    Json(json!({ "indexed": true }))
}

async fn lose_thumbnail_file(State(state): State<SimState>, Path(id): Path<String>) -> Json<Value> {
    Json(json!({ "lost": Control::new(state).lose_thumbnail_file(&id) }))
}

async fn delete(State(state): State<SimState>, Path(id): Path<String>) -> Json<Value> {
    Json(json!({ "deleted": Control::new(state).delete_item(&id) }))
}

async fn touch(State(state): State<SimState>, Path(id): Path<String>) -> Json<Value> {
    Json(json!({ "touched": Control::new(state).touch_item(&id) }))
}

async fn set_data(State(state): State<SimState>, Path(id): Path<String>, Json(value): Json<Value>) -> Json<Value> {
    Json(json!({ "updated": Control::new(state).set_item_data_json(&id, value) }))
}

async fn counts(State(state): State<SimState>, Path(url_key): Path<String>) -> Result<Json<OrgCounts>, ApiError> {
    Control::new(state)
        .org(&url_key)
        .map(Json)
        .ok_or_else(|| ApiError::not_found(format!("No org '{url_key}'.")).with_http_status(404))
}

async fn ids(State(state): State<SimState>, Path(url_key): Path<String>) -> Json<Value> {
    Json(json!({ "ids": Control::new(state).item_ids(&url_key) }))
}
