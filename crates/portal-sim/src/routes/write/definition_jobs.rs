//! Asynchronous `addToDefinition` (`async=true`): the answer is a `statusURL` at once, and the
//! job resource says when the change is done, as ArcGIS Online and Enterprise 11.4+ answer
//! ("Add To Definition (Feature Layer)", "New at 11.4: asynchronous requests"; Esri's Python
//! client `FeatureLayerCollectionManager.add_to_definition(future=True)` posts `async=true`, reads
//! `statusURL` case-insensitively and polls it until `status` is `completed`, failing on `failed`,
//! `esriJobFailed`, `cancelled` or `timedout`: arcgis 2.4.1 `features/managers.py`, `_check_status`).
//!
//! The simulator applies the change when it accepts the job and reports it `Processing` until the
//! operation's slow-op time (`FaultState::set_slow_op("addToDefinition", ms)`, 0 by default) has
//! passed and it was polled at least once; then `Completed` with the synchronous answer's fields.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::extract::{Path, State};
use axum::response::Response;
use serde_json::{json, Value};

use crate::routes::content::params::Req;
use crate::routes::error::{ApiError, ApiResult};
use crate::server::SimState;

#[derive(Debug)]
struct DefinitionJob {
    url_key: String,
    service: String,
    done_at: Instant,
    polls: u32,
    result: Value,
}

/// Accepted asynchronous definition changes by job id, across orgs.
#[derive(Debug, Default)]
pub struct DefinitionJobs {
    jobs: Mutex<HashMap<String, DefinitionJob>>,
}

impl DefinitionJobs {
    /// Asynchronous definition jobs accepted so far.
    pub fn count(&self) -> usize {
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).len()
    }

    /// Records a job whose change is done and whose answer is `result`; returns its id.
    pub(super) fn accept(&self, url_key: &str, service: &str, work: Duration, result: Value) -> String {
        let id = format!("j{}", uuid::Uuid::new_v4().simple());
        let job = DefinitionJob {
            url_key: url_key.to_owned(),
            service: service.to_owned(),
            done_at: Instant::now() + work,
            polls: 0,
            result,
        };
        self.jobs.lock().unwrap_or_else(|e| e.into_inner()).insert(id.clone(), job);
        id
    }
}

/// `GET .../rest/admin/services/<name>/FeatureServer/jobs/<job>`: the status of an accepted job.
pub(super) async fn definition_job_status(
    State(state): State<SimState>,
    Path((url_key, name, job)): Path<(String, String, String)>,
    req: Req,
) -> ApiResult<Response> {
    req.require_caller()?;
    let mut jobs = state.jobs.definitions.jobs.lock().unwrap_or_else(|e| e.into_inner());
    let Some(j) = jobs.get_mut(&job).filter(|j| j.url_key == url_key && j.service.eq_ignore_ascii_case(&name)) else {
        return Err(ApiError::bad_request("Job not found.").with_http_status(404));
    };
    j.polls += 1;
    let answer = if j.polls >= 2 && Instant::now() >= j.done_at {
        let mut done = json!({ "status": "Completed", "jobId": job });
        if let (Some(out), Some(fields)) = (done.as_object_mut(), j.result.as_object()) {
            out.extend(fields.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        done
    } else {
        json!({ "status": "Processing", "jobId": job })
    };
    Ok(req.json(answer))
}
