//! Asynchronous jobs that take a whole service out: the portal's `export` (which creates a real,
//! storage-costing item the client must delete afterwards) and the service's `createReplica`
//! (in `replica`). Also the portal's item `status` and `delete` endpoints the export needs.
//!
//! Both take simulated work (`JOB_WORK`) and at least one status poll that answers "not yet", so a
//! client must poll. An export of a service with `export_fails` ends `failed` with Online's
//! JSON-in-a-string `statusMessage`, and its export item stays behind (as on Online) until deleted.
//! Export items carry the type keyword `EXPORT_TYPE_KEYWORD` so tests can check none is left.
//!
//! Fidelity: like ArcGIS, `export` takes a `title` (the export item's title; the source item's
//! title when absent) and creates the item at once, in the root folder of the user named in the
//! path. An export's processing time is `JOB_WORK` unless a test sets it longer
//! (`JobState::set_export_work`, `POST /_sim/jobs`), e.g. to kill a client while it polls.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Form, Path, State};
use axum::http::request::Parts;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::caller_of;
use super::formats::{file_stem, ExportFormat};
use super::replica::ReplicaJob;
use crate::auth::{now_ms, Caller};
use crate::model::{FeatureService, Item, ItemData, Org};
use crate::routes::content::params::Req;
use crate::routes::error::{ApiError, ApiResult};
use crate::server::SimState;

/// Type keyword every export item carries: `typekeywords:"Exported Data"` finds leftovers.
pub const EXPORT_TYPE_KEYWORD: &str = "Exported Data";
/// Simulated processing time of an export or replica job.
pub(crate) const JOB_WORK: Duration = Duration::from_millis(300);

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Processing,
    Completed,
    Failed(String),
}

#[derive(Debug)]
struct ExportJob {
    org_id: String,
    export_item_id: String,
    service_name: String,
    format: ExportFormat,
    started: Instant,
    polls: u32,
    fails: bool,
    outcome: Outcome,
}

/// Export and replica jobs in flight or finished, across orgs.
#[derive(Debug, Default)]
pub struct JobState {
    exports: Mutex<HashMap<String, ExportJob>>,
    pub(super) replicas: Mutex<HashMap<String, ReplicaJob>>,
    /// Publish jobs (restore), polled through the same `status` endpoint with `jobType=publish`.
    pub publishes: crate::routes::write::PublishJobs,
    /// Asynchronous `addToDefinition` jobs, polled at the admin service's `jobs/<id>`.
    pub definitions: crate::routes::write::DefinitionJobs,
    /// Processing time of an export job in ms beyond `JOB_WORK`; 0 = `JOB_WORK`.
    export_work_ms: AtomicU64,
    /// How long a committed multipart upload stays "processing", in ms; `None` = `JOB_WORK`.
    commit_work_ms: Mutex<Option<u64>>,
    /// ArcGIS Enterprise's habit: an administrator may export into another user's content.
    /// Off (ArcGIS Online) by default.
    admin_exports_anywhere: std::sync::atomic::AtomicBool,
}

pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl JobState {
    pub fn new() -> Self {
        Self::default()
    }

    /// Export jobs started so far (finished ones included, until their item is deleted).
    pub fn export_jobs(&self) -> usize {
        lock(&self.exports).len()
    }

    /// Replica jobs started so far.
    pub fn replica_jobs(&self) -> usize {
        lock(&self.replicas).len()
    }

    /// How long an export job processes before it completes (jobs already running included);
    /// never shorter than `JOB_WORK`.
    pub fn set_export_work(&self, work: Duration) {
        self.export_work_ms.store(work.as_millis().min(u64::MAX as u128) as u64, Ordering::Relaxed);
    }

    /// An export job's processing time.
    pub fn export_work(&self) -> Duration {
        Duration::from_millis(self.export_work_ms.load(Ordering::Relaxed)).max(JOB_WORK)
    }

    /// Whether an administrator may export into another user's content (Enterprise) or only
    /// into their own (Online, the default).
    pub fn set_admin_exports_anywhere(&self, on: bool) {
        self.admin_exports_anywhere.store(on, Ordering::Relaxed);
    }

    pub fn admin_exports_anywhere(&self) -> bool {
        self.admin_exports_anywhere.load(Ordering::Relaxed)
    }

    /// How long an item stays "processing" after its multipart upload is committed.
    pub fn set_commit_work(&self, work: Duration) {
        *lock(&self.commit_work_ms) = Some(work.as_millis().min(u64::MAX as u128) as u64);
    }

    /// A commit's processing time.
    pub fn commit_work(&self) -> Duration {
        lock(&self.commit_work_ms).map_or(JOB_WORK, Duration::from_millis)
    }
}

/// The export items of an org: what a client that cleans up after itself leaves none of.
pub fn export_items(org: &Org) -> Vec<&Item> {
    org.items.values().filter(|i| i.type_keywords.iter().any(|k| k == EXPORT_TYPE_KEYWORD)).collect()
}

pub(super) fn routes() -> Router<SimState> {
    const FS: &str = "/{url_key}/arcgis/rest/services/{name}/FeatureServer";
    const USER: &str = "/{url_key}/sharing/rest/content/users/{username}";
    Router::new()
        .route(&format!("{USER}/export"), post(export))
        .route(&format!("{USER}/items/{{id}}/status"), get(status).post(status))
        .route(&format!("{USER}/items/{{id}}/delete"), post(delete))
        .route(&format!("{FS}/createReplica"), post(super::replica::create_replica))
        .route(&format!("{FS}/jobs/{{job}}"), get(super::replica::replica_status).post(super::replica::replica_status))
        .route(&format!("{FS}/replicafiles/{{job}}/{{file}}"), get(super::replica::replica_file))
}

pub(crate) fn new_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[derive(Deserialize, Default)]
struct ExportForm {
    #[serde(default, rename = "itemId")]
    item_id: String,
    #[serde(default, rename = "exportFormat")]
    export_format: String,
    #[serde(default)]
    title: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

#[derive(Deserialize)]
struct UserPath {
    url_key: String,
    username: String,
}

pub(super) fn require_caller(state: &SimState, parts: &Parts, token: Option<&str>) -> ApiResult<Caller> {
    caller_of(state, parts, token)?.ok_or_else(ApiError::token_required)
}

async fn export(
    State(state): State<SimState>,
    Path(p): Path<UserPath>,
    parts: Parts,
    Form(form): Form<ExportForm>,
) -> ApiResult<Json<Value>> {
    let caller = require_caller(&state, &parts, form.token.as_deref())?;
    let format = ExportFormat::parse(&form.export_format).ok_or_else(|| {
        ApiError::bad_request("'exportFormat' parameter is invalid.").with_detail(form.export_format.clone())
    })?;
    // The export item is created in the content of the user the path names. ArcGIS Online lets
    // only that user do so; an administrator exporting another user's item is refused there and
    // exports into their own content (Esri's Python client, `Item.export`: the owner's path
    // first, then the signed-in user's on "You do not have permissions"). Enterprise lets an
    // administrator export into anyone's content (`set_admin_exports_anywhere`).
    let anywhere = caller.is_admin && state.jobs.admin_exports_anywhere();
    if p.username != caller.username && !anywhere {
        return Err(ApiError::forbidden(format!("export into the content of {}", p.username)));
    }
    let mut universe = state.universe.write().unwrap_or_else(|e| e.into_inner());
    let lag = universe.search_lag;
    let audience = caller.audience(&universe);
    let org = universe.org_by_url_key_mut(&p.url_key).ok_or_else(|| ApiError::not_found("Organization not found."))?;
    if !org.users.contains_key(&p.username) {
        return Err(ApiError::bad_request(format!("User {} does not exist.", p.username)));
    }
    let source = org.items.get(&form.item_id).filter(|i| audience.can_see_item(org, i));
    let Some(source) = source.cloned() else { return Err(ApiError::item_missing(&form.item_id)) };
    let Some(service) = source.service_name.as_deref().and_then(|n| org.services.get(n)) else {
        return Err(ApiError::bad_request("Item is not a hosted feature service.").with_detail(form.item_id.clone()));
    };
    let may_export = source.owner == caller.username || caller.is_admin || service.capabilities.contains("Extract");
    if !may_export {
        return Err(ApiError::forbidden(format!("export of item {}", source.id)));
    }
    let (service_name, fails) = (service.name.clone(), service.export_fails);
    let export_item_id = new_id();
    let now = now_ms();
    let title = form.title.clone().filter(|t| !t.trim().is_empty()).unwrap_or_else(|| source.title.clone());
    let item = Item {
        id: export_item_id.clone(),
        owner: p.username.clone(),
        owner_folder: None,
        title,
        item_type: format.item_type().into(),
        type_keywords: vec![format.item_type().into(), EXPORT_TYPE_KEYWORD.into()],
        url: None,
        access: "private".into(),
        shared_groups: vec![],
        created: now,
        modified: now,
        thumbnail: None,
        thumbnail_len: 0,
        metadata_len: None,
        properties: None,
        protected: false,
        data: ItemData::None,
        resources: vec![],
        service_name: None,
        uploads: Default::default(),
        ..source.clone()
    };
    org.indexing_new(&export_item_id, lag);
    org.items.insert(export_item_id.clone(), item);
    let org_id = org.id.clone();
    drop(universe);

    let job_id = new_id();
    lock(&state.jobs.exports).insert(
        job_id.clone(),
        ExportJob {
            org_id,
            export_item_id: export_item_id.clone(),
            service_name,
            format,
            started: Instant::now(),
            polls: 0,
            fails,
            outcome: Outcome::Processing,
        },
    );
    tracing::info!(item = %source.id, export_item = %export_item_id, "export job started");
    Ok(Json(json!({
        "type": format.item_type(),
        "size": -1,
        "jobId": job_id,
        "exportItemId": export_item_id,
        "serviceItemId": source.id,
        "exportFormat": form.export_format,
    })))
}

/// The layers and tables a service serves, copied out of the lock (a view's come from its source).
pub(super) fn snapshot(org: &Org, service: &FeatureService) -> FeatureService {
    let source = service.view_of.as_deref().and_then(|s| org.services.get(s));
    let mut copy = service.clone();
    if let Some(src) = source {
        copy.layers = src.layers.clone();
        copy.tables = src.tables.clone();
    }
    copy
}

#[derive(Deserialize, Default)]
struct StatusQuery {
    #[serde(default, rename = "jobId")]
    job_id: Option<String>,
    #[serde(default, rename = "jobType")]
    job_type: Option<String>,
    #[serde(default)]
    token: Option<String>,
}

#[derive(Deserialize)]
struct ItemPath {
    url_key: String,
    username: String,
    id: String,
}

/// Checks the caller may manage `item_id` of the org at `url_key`: the owner, or an admin; and
/// that the item belongs to `username`, the user the path names (as on ArcGIS, where
/// `content/users/<u>/items/<id>/status` of another user's item is "not found").
fn check_item_access(state: &SimState, caller: &Caller, url_key: &str, username: &str, item_id: &str) -> ApiResult<()> {
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    let org = universe.org_by_url_key(url_key).ok_or_else(|| ApiError::item_missing(item_id))?;
    let item = org.items.get(item_id).filter(|i| i.owner == username).ok_or_else(|| ApiError::item_missing(item_id))?;
    if item.owner == caller.username || caller.is_admin {
        Ok(())
    } else {
        Err(ApiError::item_missing(item_id))
    }
}

async fn status(
    State(state): State<SimState>,
    Path(p): Path<ItemPath>,
    parts: Parts,
    Form(q): Form<StatusQuery>,
) -> ApiResult<Json<Value>> {
    let caller = require_caller(&state, &parts, q.token.as_deref())?;
    // A failed publish leaves no item behind, so its job is looked up before the item.
    if let Some(answer) = state.jobs.publishes.poll(&caller.org_id, &p.id, q.job_id.as_deref()) {
        return Ok(Json(answer));
    }
    if q.job_type.as_deref().is_some_and(|t| t.eq_ignore_ascii_case("publish")) && q.job_id.is_some() {
        return Err(ApiError::bad_request("Job not found.").with_detail(format!("item {}", p.id)));
    }
    check_item_access(&state, &caller, &p.url_key, &p.username, &p.id)?;
    let work = state.jobs.export_work();
    let finish = {
        let mut exports = lock(&state.jobs.exports);
        let found = exports
            .iter_mut()
            .find(|(jid, j)| j.export_item_id == p.id && q.job_id.as_deref().is_none_or(|want| want == jid.as_str()));
        let Some((job_id, job)) = found else {
            if q.job_id.is_some() {
                return Err(ApiError::bad_request("Job not found.").with_detail(format!("item {}", p.id)));
            }
            return Ok(Json(upload_status(&state, &p.url_key, &p.id)));
        };
        job.polls += 1;
        if job.outcome == Outcome::Processing && job.polls >= 2 && job.started.elapsed() >= work {
            if job.fails {
                let message = json!({
                    "type": "error",
                    "code": 500,
                    "message": "Export operation failed.",
                    "messages": ["Failed to export the service: the operation timed out."],
                })
                .to_string();
                job.outcome = Outcome::Failed(message);
                None
            } else {
                Some((job_id.clone(), job.org_id.clone(), job.service_name.clone(), job.format))
            }
        } else {
            None
        }
    };
    if let Some((job_id, org_id, service_name, format)) = finish {
        complete_export(&state, &job_id, &org_id, &service_name, &p.id, format);
    }
    let exports = lock(&state.jobs.exports);
    let job = exports.values().find(|j| j.export_item_id == p.id).ok_or_else(|| ApiError::item_missing(&p.id))?;
    let (status, message) = match &job.outcome {
        Outcome::Processing => ("processing", "processing".to_owned()),
        Outcome::Completed => ("completed", "completed".to_owned()),
        Outcome::Failed(m) => ("failed", m.clone()),
    };
    Ok(Json(json!({ "itemId": p.id, "status": status, "statusMessage": message, "jobType": "export" })))
}

/// The status of an item without a job: `partial` while a multipart upload awaits its commit,
/// `processing` while a commit is processed, else `completed` (the item was made
/// synchronously, or its processing ended). Esri, "Item Status" (`status`: partial, processing,
/// failed, completed).
fn upload_status(state: &SimState, url_key: &str, id: &str) -> Value {
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    let uploads = universe.org_by_url_key(url_key).and_then(|o| o.items.get(id)).map(|i| &i.uploads);
    let status = match uploads {
        Some(u) if u.multipart.is_some() => "partial",
        Some(u) if u.processing() => "processing",
        _ => "completed",
    };
    json!({ "itemId": id, "status": status, "statusMessage": status })
}

/// Produces the export file from the service as it is now and stores it as the item's data.
fn complete_export(
    state: &SimState,
    job_id: &str,
    org_id: &str,
    service_name: &str,
    item_id: &str,
    format: ExportFormat,
) {
    let service = {
        let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
        universe.org_by_id(org_id).and_then(|org| org.services.get(service_name).map(|s| snapshot(org, s)))
    };
    let outcome = match service {
        Some(service) => {
            let bytes = super::formats::export_bytes(format, &service);
            let mut universe = state.universe.write().unwrap_or_else(|e| e.into_inner());
            match universe.org_by_id_mut(org_id).and_then(|o| o.items.get_mut(item_id)) {
                Some(item) => {
                    let file_name = format!("{}.{}", file_stem(&item.title), format.extension());
                    item.data =
                        ItemData::Bytes { file_name, bytes: bytes.into(), content_type: format.content_type().into() };
                    item.modified = now_ms();
                    Outcome::Completed
                }
                None => Outcome::Failed(json!({ "code": 500, "message": "Export item was deleted." }).to_string()),
            }
        }
        None => Outcome::Failed(json!({ "code": 500, "message": "The service no longer exists." }).to_string()),
    };
    if let Some(job) = lock(&state.jobs.exports).get_mut(job_id) {
        job.outcome = outcome;
    }
}

/// Takes urlencoded and multipart bodies alike, as every write endpoint does.
async fn delete(State(state): State<SimState>, Path(p): Path<ItemPath>, req: Req) -> ApiResult<Json<Value>> {
    let caller = req.require_caller()?.clone();
    {
        let mut universe = state.universe.write().unwrap_or_else(|e| e.into_inner());
        let lag = universe.search_lag;
        let org = universe.org_by_url_key_mut(&p.url_key).ok_or_else(|| ApiError::item_missing(&p.id))?;
        let item =
            org.items.get(&p.id).filter(|i| i.owner == p.username).ok_or_else(|| ApiError::item_missing(&p.id))?;
        let allowed = item.owner == caller.username || caller.has_privilege("portal:admin:deleteItems");
        if !allowed {
            return Err(ApiError::forbidden(format!("delete item {}", p.id)));
        }
        if item.protected {
            return Err(ApiError::bad_request("Unable to delete item. Delete protection is turned on."));
        }
        org.indexing(&p.id, lag);
        org.remove_item(&p.id);
    }
    lock(&state.jobs.exports).retain(|_, j| j.export_item_id != p.id);
    tracing::info!(item = %p.id, "item deleted");
    Ok(Json(json!({ "success": true, "itemId": p.id })))
}
