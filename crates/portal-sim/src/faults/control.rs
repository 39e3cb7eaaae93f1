//! The `/_sim/faults` HTTP control, for tests that run the sim out of process.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::{FaultKind, FaultState, ForcedFault};
use crate::server::SimState;

/// Fault settings as `/_sim/faults` reads and writes them; absent fields are left unchanged.
#[derive(Debug, Default, serde::Deserialize)]
struct FaultSettings {
    fault_rate: Option<f64>,
    latency_ms: Option<u64>,
    /// 0 or null lifts the limit.
    #[serde(default, deserialize_with = "nullable")]
    rate_limit_per_s: Option<Option<u32>>,
    stall_ms: Option<u64>,
    after_handler: Option<bool>,
    /// Operations answered late, by the last path segment, in ms (0 removes one); see
    /// `FaultState::set_slow_op`.
    #[serde(default)]
    slow_ops: Option<std::collections::BTreeMap<String, u64>>,
}

fn nullable<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Option<u32>>, D::Error> {
    <Option<u32> as serde::Deserialize>::deserialize(d).map(Some)
}

#[derive(Debug, serde::Deserialize)]
struct ForceRequest {
    path_contains: Option<String>,
    /// `http500` | `http502` | `http504` | `dropped_connection` | `stalled_body`
    kind: String,
    #[serde(default = "one")]
    count: u32,
    /// `true`: the request's handler runs first (a write takes effect, its answer is lost);
    /// `false`: the request fails before it; absent: as random faults (writes: half after).
    #[serde(default)]
    after_apply: Option<bool>,
}

fn one() -> u32 {
    1
}

fn kind_name(kind: FaultKind) -> &'static str {
    match kind {
        FaultKind::Http500 => "http500",
        FaultKind::Http502 => "http502",
        FaultKind::Http504 => "http504",
        FaultKind::DroppedConnection => "dropped_connection",
        FaultKind::StalledBody => "stalled_body",
    }
}

fn status_json(f: &FaultState) -> serde_json::Value {
    let by_kind: serde_json::Map<String, serde_json::Value> =
        FaultKind::ALL.iter().map(|k| (kind_name(*k).to_owned(), f.faults_of_kind(*k).into())).collect();
    serde_json::json!({
        "fault_rate": f.fault_rate(),
        "latency_ms": f.latency_ms(),
        "rate_limit_per_s": f.rate_limit(),
        "stall_ms": f.stall_ms(),
        "after_handler": f.faults_after_handler(),
        "slow_ops": f.slow_ops(),
        "total_requests": f.total_requests(),
        "faults_injected": f.faults_injected(),
        "faults_by_kind": by_kind,
        "rate_limited": f.rate_limited(),
        "faults_after_apply": f.faults_after_apply(),
    })
}

/// Fault control for out-of-process tests (the CLI end-to-end suite), mounted outside the fault
/// middleware: `GET /_sim/faults` (settings and counters), `POST /_sim/faults` with a JSON body
/// `{fault_rate?, latency_ms?, rate_limit_per_s?, stall_ms?, after_handler?, slow_ops?: {op: ms}}`, `POST /_sim/faults/force` with
/// `{path_contains?, kind, count, after_apply?}`, `POST /_sim/faults/reset` (counters to zero).
pub fn control_routes() -> axum::Router<SimState> {
    use axum::routing::{get, post};
    axum::Router::new()
        .route("/_sim/faults", get(get_faults).post(set_faults))
        .route("/_sim/faults/force", post(force_fault))
        .route("/_sim/faults/reset", post(reset_faults))
}

async fn get_faults(State(state): State<SimState>) -> axum::Json<serde_json::Value> {
    axum::Json(status_json(&state.faults))
}

async fn set_faults(
    State(state): State<SimState>,
    axum::Json(s): axum::Json<FaultSettings>,
) -> axum::Json<serde_json::Value> {
    let f = &state.faults;
    if let Some(p) = s.fault_rate {
        f.set_fault_rate(p);
    }
    if let Some(ms) = s.latency_ms {
        f.set_latency_ms(ms);
    }
    if let Some(limit) = s.rate_limit_per_s {
        f.set_rate_limit(limit.filter(|n| *n > 0));
    }
    if let Some(ms) = s.stall_ms {
        f.set_stall_ms(ms);
    }
    if let Some(on) = s.after_handler {
        f.set_faults_after_handler(on);
    }
    for (op, ms) in s.slow_ops.unwrap_or_default() {
        f.set_slow_op(&op, ms);
    }
    axum::Json(status_json(f))
}

async fn force_fault(State(state): State<SimState>, axum::Json(r): axum::Json<ForceRequest>) -> Response {
    let Some(kind) = FaultKind::ALL.iter().copied().find(|k| kind_name(*k) == r.kind) else {
        let body = serde_json::json!({ "error": format!("unknown fault kind {:?}", r.kind) });
        return (StatusCode::BAD_REQUEST, axum::Json(body)).into_response();
    };
    let fault = ForcedFault { path_contains: r.path_contains, kind, count: r.count };
    match r.after_apply {
        Some(after) => state.faults.force_timed(fault, after),
        None => state.faults.force(fault),
    }
    axum::Json(status_json(&state.faults)).into_response()
}

async fn reset_faults(State(state): State<SimState>) -> axum::Json<serde_json::Value> {
    state.faults.reset_counters();
    axum::Json(status_json(&state.faults))
}
