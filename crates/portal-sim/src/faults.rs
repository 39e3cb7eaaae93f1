//! The ways a real portal fails a client, injected on purpose: latency, HTTP 500/502/504 with the
//! bodies a proxy sends, dropped connections, stalled bodies, and the 429 rate limit with
//! `Retry-After`. Every setting can change while the server runs (tests turn faults on mid-run), and
//! every decision is counted so tests can compare what the client saw with what was injected.
//!
//! Writes (`routes::write::is_write`): half of the faults injected on them, drawn from a second
//! seeded generator, strike AFTER the handler ran, so the write took effect while its answer is a
//! 5xx, a dropped connection or a stalled body. A forced fault can fix that timing
//! (`FaultState::force_timed`).
//!
//! A dropped connection cannot be expressed as an HTTP response: the middleware marks the response
//! with `DropConnection` and `DroppingService` (wrapped around the whole app by the server) turns the
//! mark into a service error, on which hyper closes the socket without writing anything.

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::server::{SimConfig, SimState};

mod control;
pub use control::control_routes;

/// Longest stall a stalled body may be configured to, so a forgotten test cannot hang forever.
pub const MAX_STALL_MS: u64 = 120_000;
const DEFAULT_STALL_MS: u64 = 30_000;
/// Longest extra time of a slow operation (ten minutes): more than the 60 s a client's
/// ordinary timeout allows, less than forever.
pub const MAX_SLOW_OP_MS: u64 = 600_000;

/// Marks the answer of an operation accepted as an asynchronous job: a slow operation's extra
/// time is spent by the job, not by this answer.
#[derive(Debug, Clone, Copy)]
pub struct AnsweredAsync;

/// One kind of injected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FaultKind {
    /// HTTP 500 with an ArcGIS-style JSON error body.
    Http500,
    /// HTTP 502 with a proxy's HTML page.
    Http502,
    /// HTTP 504 with a proxy's HTML page.
    Http504,
    /// The socket is closed without any response.
    DroppedConnection,
    /// Headers and a few bytes are sent, then nothing until the stall time, then the connection breaks.
    StalledBody,
}

impl FaultKind {
    pub const ALL: [FaultKind; 5] = [
        FaultKind::Http500,
        FaultKind::Http502,
        FaultKind::Http504,
        FaultKind::DroppedConnection,
        FaultKind::StalledBody,
    ];

    fn index(self) -> usize {
        Self::ALL.iter().position(|k| *k == self).unwrap_or(0)
    }
}

/// A fault to inject on the next `count` requests whose path contains `path_contains` (any path
/// when `None`), regardless of `fault_rate`: for tests that need one exact failure at one place.
#[derive(Debug, Clone)]
pub struct ForcedFault {
    pub path_contains: Option<String>,
    pub kind: FaultKind,
    pub count: u32,
}

/// Runtime-changeable fault settings and the counters of what was injected.
pub struct FaultState {
    /// Probability scaled to parts per million, so it fits an atomic.
    fault_rate_ppm: AtomicU32,
    latency_ms: AtomicU64,
    /// 0 = no limit.
    rate_limit_per_s: AtomicU32,
    stall_ms: AtomicU64,
    after_handler: std::sync::atomic::AtomicBool,
    /// Extra answer time of slow operations, by the last path segment (ms).
    slow_ops: Mutex<HashMap<String, u64>>,
    rng: Mutex<ChaCha8Rng>,
    /// Draws whether a write's fault strikes after it was applied. Apart from `rng`, so that the
    /// faults chosen for every request stay what they were before writes existed.
    timing_rng: Mutex<ChaCha8Rng>,
    /// Forced faults with their timing: `Some(true)` after the handler, `Some(false)` before,
    /// `None` as for random faults.
    forced: Mutex<Vec<(ForcedFault, Option<bool>)>>,
    /// Admission times per org within the last second (sliding window).
    windows: Mutex<HashMap<String, VecDeque<Instant>>>,
    total_requests: AtomicU64,
    faults_injected: AtomicU64,
    faults_by_kind: [AtomicU64; 5],
    rate_limited: AtomicU64,
    after_apply: AtomicU64,
    by_path: Mutex<HashMap<String, u64>>,
}

impl std::fmt::Debug for FaultState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultState")
            .field("fault_rate", &self.fault_rate())
            .field("latency_ms", &self.latency_ms())
            .field("rate_limit_per_s", &self.rate_limit())
            .field("total_requests", &self.total_requests())
            .field("faults_injected", &self.faults_injected())
            .finish()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FaultState {
    pub fn new(cfg: &SimConfig) -> Self {
        let s = Self {
            fault_rate_ppm: AtomicU32::new(0),
            latency_ms: AtomicU64::new(cfg.latency_ms),
            rate_limit_per_s: AtomicU32::new(cfg.rate_limit_per_s.unwrap_or(0)),
            stall_ms: AtomicU64::new(DEFAULT_STALL_MS),
            after_handler: std::sync::atomic::AtomicBool::new(false),
            slow_ops: Mutex::new(cfg.slow_ops.iter().cloned().collect()),
            // Seeded so that a given seed and request order inject the same faults.
            rng: Mutex::new(ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xFA17_FA17)),
            timing_rng: Mutex::new(ChaCha8Rng::seed_from_u64(cfg.seed ^ 0xAF7E_A991)),
            forced: Mutex::default(),
            windows: Mutex::default(),
            total_requests: AtomicU64::new(0),
            faults_injected: AtomicU64::new(0),
            faults_by_kind: Default::default(),
            rate_limited: AtomicU64::new(0),
            after_apply: AtomicU64::new(0),
            by_path: Mutex::default(),
        };
        s.set_fault_rate(cfg.fault_rate);
        s
    }

    /// Probability (clamped to 0..=1) that a request fails with one of the `FaultKind`s.
    pub fn set_fault_rate(&self, p: f64) {
        let p = if p.is_finite() { p.clamp(0.0, 1.0) } else { 0.0 };
        self.fault_rate_ppm.store((p * 1_000_000.0).round() as u32, Ordering::Relaxed);
    }
    pub fn fault_rate(&self) -> f64 {
        self.fault_rate_ppm.load(Ordering::Relaxed) as f64 / 1_000_000.0
    }
    pub fn set_latency_ms(&self, ms: u64) {
        self.latency_ms.store(ms, Ordering::Relaxed);
    }
    pub fn latency_ms(&self) -> u64 {
        self.latency_ms.load(Ordering::Relaxed)
    }
    /// Requests per second per org above which 429 is answered; `None` lifts the limit.
    pub fn set_rate_limit(&self, per_s: Option<u32>) {
        self.rate_limit_per_s.store(per_s.unwrap_or(0), Ordering::Relaxed);
        lock(&self.windows).clear();
    }
    pub fn rate_limit(&self) -> Option<u32> {
        Some(self.rate_limit_per_s.load(Ordering::Relaxed)).filter(|n| *n > 0)
    }
    /// How long a stalled body stalls (capped at `MAX_STALL_MS`); the default is 30 s.
    pub fn set_stall_ms(&self, ms: u64) {
        self.stall_ms.store(ms.min(MAX_STALL_MS), Ordering::Relaxed);
    }
    pub fn stall_ms(&self) -> u64 {
        self.stall_ms.load(Ordering::Relaxed)
    }
    /// When on, 502, 504 and dropped connections happen AFTER the handler ran: the operation took
    /// effect but its answer is lost, as when a proxy times out on a slow `addItem`. Clients must
    /// then cope with work done twice (idempotent retries, finding what the lost call created).
    /// Off by default.
    pub fn set_faults_after_handler(&self, on: bool) {
        self.after_handler.store(on, Ordering::Relaxed);
    }
    pub fn faults_after_handler(&self) -> bool {
        self.after_handler.load(Ordering::Relaxed)
    }
    /// Makes POSTs whose last path segment is `op` (`applyEdits`, `addToDefinition`,
    /// `createService`, `publish`, ...) answer `ms` later than others, their work done first:
    /// large writes take minutes on a real portal, and a client that gives up early has lost
    /// an answer to a write that took effect. `ms = 0` makes `op` ordinary again.
    pub fn set_slow_op(&self, op: &str, ms: u64) {
        let mut ops = lock(&self.slow_ops);
        if ms == 0 {
            ops.remove(op);
        } else {
            ops.insert(op.to_owned(), ms.min(MAX_SLOW_OP_MS));
        }
    }
    /// The slow operations and their extra time (ms), sorted by name.
    pub fn slow_ops(&self) -> std::collections::BTreeMap<String, u64> {
        lock(&self.slow_ops).iter().map(|(k, v)| (k.clone(), *v)).collect()
    }
    fn slow_op_delay(&self, method: &axum::http::Method, path: &str) -> Option<Duration> {
        if method != axum::http::Method::POST {
            return None;
        }
        let op = path.trim_end_matches('/').rsplit('/').next()?;
        lock(&self.slow_ops).get(op).map(|ms| Duration::from_millis(*ms))
    }
    /// Queues an exact fault (see `ForcedFault`); forced faults are used before random ones.
    pub fn force(&self, fault: ForcedFault) {
        if fault.count > 0 {
            lock(&self.forced).push((fault, None));
        }
    }

    /// Like `force`, with a fixed timing: `after_apply` true makes the request's handler run (the
    /// write takes effect) before the fault replaces its answer; false fails it before the handler.
    pub fn force_timed(&self, fault: ForcedFault, after_apply: bool) {
        if fault.count > 0 {
            lock(&self.forced).push((fault, Some(after_apply)));
        }
    }

    /// Faults injected after the handler ran (the request's work was done, its answer lost).
    pub fn faults_after_apply(&self) -> u64 {
        self.after_apply.load(Ordering::Relaxed)
    }

    /// Every request that reached the middleware (control paths excluded), 429s and faults included.
    pub fn total_requests(&self) -> u64 {
        self.total_requests.load(Ordering::Relaxed)
    }
    pub fn faults_injected(&self) -> u64 {
        self.faults_injected.load(Ordering::Relaxed)
    }
    pub fn faults_of_kind(&self, kind: FaultKind) -> u64 {
        self.faults_by_kind[kind.index()].load(Ordering::Relaxed)
    }
    pub fn rate_limited(&self) -> u64 {
        self.rate_limited.load(Ordering::Relaxed)
    }
    /// Requests whose path starts with `prefix`, e.g. `/<urlKey>/sharing/rest/content/items/`.
    pub fn requests_with_prefix(&self, prefix: &str) -> u64 {
        lock(&self.by_path).iter().filter(|(p, _)| p.starts_with(prefix)).map(|(_, n)| n).sum()
    }
    /// Requests whose path contains `needle` anywhere, e.g. `/FeatureServer/0/query`.
    pub fn requests_containing(&self, needle: &str) -> u64 {
        lock(&self.by_path).iter().filter(|(p, _)| p.contains(needle)).map(|(_, n)| n).sum()
    }
    /// Every path requested so far with its count, sorted by path.
    pub fn path_counts(&self) -> Vec<(String, u64)> {
        let mut v: Vec<_> = lock(&self.by_path).iter().map(|(p, n)| (p.clone(), *n)).collect();
        v.sort();
        v
    }
    /// Sets every counter back to zero (settings are kept).
    pub fn reset_counters(&self) {
        self.total_requests.store(0, Ordering::Relaxed);
        self.faults_injected.store(0, Ordering::Relaxed);
        self.rate_limited.store(0, Ordering::Relaxed);
        self.after_apply.store(0, Ordering::Relaxed);
        for c in &self.faults_by_kind {
            c.store(0, Ordering::Relaxed);
        }
        lock(&self.by_path).clear();
    }

    fn count_request(&self, path: &str) {
        self.total_requests.fetch_add(1, Ordering::Relaxed);
        *lock(&self.by_path).entry(path.to_owned()).or_default() += 1;
    }

    /// Sliding one-second window: admits and records the request unless `limit` were already
    /// admitted for `org` within the last second.
    fn admit(&self, org: &str, limit: u32) -> bool {
        let now = Instant::now();
        let mut windows = lock(&self.windows);
        let window = windows.entry(org.to_owned()).or_default();
        while window.front().is_some_and(|t| now.duration_since(*t) >= Duration::from_secs(1)) {
            window.pop_front();
        }
        if window.len() >= limit as usize {
            return false;
        }
        window.push_back(now);
        true
    }

    /// The fault to inject on a request to `path`, if any, and whether it strikes after the
    /// handler ran: for a `write`, half the time (from the seeded generator) unless forced.
    fn pick_fault(&self, path: &str, write: bool) -> Option<(FaultKind, bool)> {
        let forced = {
            let mut forced = lock(&self.forced);
            forced.iter().position(|(f, _)| f.path_contains.as_deref().is_none_or(|needle| path.contains(needle))).map(
                |pos| {
                    let (kind, timing) = (forced[pos].0.kind, forced[pos].1);
                    forced[pos].0.count -= 1;
                    if forced[pos].0.count == 0 {
                        forced.remove(pos);
                    }
                    (kind, timing)
                },
            )
        };
        let (kind, timing) = match forced {
            Some(f) => f,
            None => {
                let ppm = self.fault_rate_ppm.load(Ordering::Relaxed);
                if ppm == 0 {
                    return None;
                }
                let mut rng = lock(&self.rng);
                if rng.gen_range(0..1_000_000u32) >= ppm {
                    return None;
                }
                (FaultKind::ALL[rng.gen_range(0..FaultKind::ALL.len())], None)
            }
        };
        let after = timing.unwrap_or_else(|| write && lock(&self.timing_rng).gen_bool(0.5));
        Some((kind, after))
    }

    fn record_fault(&self, kind: FaultKind) {
        self.faults_injected.fetch_add(1, Ordering::Relaxed);
        self.faults_by_kind[kind.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// Marks a response whose connection must be closed without sending it.
#[derive(Debug, Clone, Copy)]
pub struct DropConnection;

/// The org a request counts against for the rate limit: its first path segment, which is the org's
/// url key on portal paths and its id on hosted-service paths, both mapped to the org id.
fn org_key(state: &SimState, path: &str) -> String {
    let segment = path.trim_start_matches('/').split('/').next().unwrap_or("");
    let universe = state.universe.read().unwrap_or_else(|e| e.into_inner());
    universe
        .org_by_url_key(segment)
        .or_else(|| universe.org_by_id(segment))
        .map(|o| o.id.clone())
        .unwrap_or_else(|| segment.to_owned())
}

/// The fault middleware: count, delay, rate-limit, then maybe fail (before the handler, or after it
/// for lost answers, see `FaultState::set_faults_after_handler`); otherwise run the handler.
pub async fn middleware(State(state): State<SimState>, req: Request, next: Next) -> Response {
    let faults = &state.faults;
    let path = req.uri().path().to_owned();
    let write = crate::routes::write::is_write(req.method(), &path);
    faults.count_request(&path);
    let latency = faults.latency_ms();
    if latency > 0 {
        tokio::time::sleep(Duration::from_millis(latency)).await;
    }
    if let Some(limit) = faults.rate_limit() {
        let org = org_key(&state, &path);
        if !faults.admit(&org, limit) {
            faults.rate_limited.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(%path, "rate limit: 429");
            return too_many_requests();
        }
    }
    if let Some((kind, after_apply)) = faults.pick_fault(&path, write) {
        faults.record_fault(kind);
        tracing::debug!(%path, ?kind, after_apply, "injecting fault");
        let lost_answer = matches!(kind, FaultKind::Http502 | FaultKind::Http504 | FaultKind::DroppedConnection);
        if after_apply || (lost_answer && faults.faults_after_handler()) {
            // The work happens; only its answer is replaced.
            faults.after_apply.fetch_add(1, Ordering::Relaxed);
            drop(next.run(req).await);
        }
        return fault_response(kind, Duration::from_millis(faults.stall_ms()));
    }
    match faults.slow_op_delay(req.method(), &path) {
        Some(delay) => {
            let answer = next.run(req).await;
            // An operation run asynchronously answered at once; its job takes the time.
            if answer.extensions().get::<AnsweredAsync>().is_none() {
                tokio::time::sleep(delay).await;
            }
            answer
        }
        None => next.run(req).await,
    }
}

fn too_many_requests() -> Response {
    let body = serde_json::json!({ "error": {
        "code": 429,
        "message": "Too many requests. Please try again later.",
        "details": ["The organization's request rate limit was exceeded."],
    }});
    let mut resp = (StatusCode::TOO_MANY_REQUESTS, axum::Json(body)).into_response();
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
    resp
}

fn html_page(status: StatusCode, title: &str) -> Response {
    let body = format!(
        "<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    );
    (status, [(header::CONTENT_TYPE, "text/html")], body).into_response()
}

fn fault_response(kind: FaultKind, stall: Duration) -> Response {
    match kind {
        FaultKind::Http500 => {
            let body = serde_json::json!({ "error": { "code": 500, "message": "An error occurred.", "details": [] }});
            (StatusCode::INTERNAL_SERVER_ERROR, axum::Json(body)).into_response()
        }
        FaultKind::Http502 => html_page(StatusCode::BAD_GATEWAY, "502 Bad Gateway"),
        FaultKind::Http504 => html_page(StatusCode::GATEWAY_TIMEOUT, "504 Gateway Time-out"),
        FaultKind::DroppedConnection => {
            let mut resp = StatusCode::INTERNAL_SERVER_ERROR.into_response();
            resp.extensions_mut().insert(DropConnection);
            resp
        }
        FaultKind::StalledBody => {
            let stream = futures::stream::unfold(0u8, move |step| async move {
                match step {
                    0 => Some((Ok::<_, std::io::Error>(bytes::Bytes::from_static(b"{\"results\":[")), 1)),
                    1 => {
                        tokio::time::sleep(stall).await;
                        Some((Err(std::io::Error::other("stalled body: connection broken")), 2))
                    }
                    _ => None,
                }
            });
            let mut resp = Response::new(Body::from_stream(stream));
            resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
            // A length the body never reaches, so the client keeps waiting for the rest.
            resp.headers_mut().insert(header::CONTENT_LENGTH, HeaderValue::from_static("4096"));
            resp
        }
    }
}

/// The error a `DroppingService` returns so that hyper closes the connection.
#[derive(Debug, thiserror::Error)]
#[error("connection dropped on purpose (injected fault)")]
pub struct DroppedOnPurpose;

/// Wraps the app: a response marked `DropConnection` becomes a service error, on which hyper
/// closes the socket without a response.
#[derive(Clone)]
pub struct DroppingService<S> {
    inner: S,
}

impl<S> DroppingService<S> {
    pub fn new(inner: S) -> Self {
        Self { inner }
    }
}

impl<S, B> tower::Service<axum::http::Request<B>> for DroppingService<S>
where
    S: tower::Service<axum::http::Request<B>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = Response;
    type Error = DroppedOnPurpose;
    type Future = Pin<Box<dyn Future<Output = Result<Response, DroppedOnPurpose>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(Ok(())) => Poll::Ready(Ok(())),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, req: axum::http::Request<B>) -> Self::Future {
        let fut = self.inner.call(req);
        Box::pin(async move {
            let resp = match fut.await {
                Ok(r) => r,
                Err(never) => match never {},
            };
            if resp.extensions().get::<DropConnection>().is_some() {
                return Err(DroppedOnPurpose);
            }
            Ok(resp)
        })
    }
}

/// Hands every connection a clone of one service (what `tower::make::Shared` does).
#[derive(Clone)]
pub struct SharedService<S>(pub S);

impl<S: Clone, T> tower::Service<T> for SharedService<S> {
    type Response = S;
    type Error = Infallible;
    type Future = std::future::Ready<Result<S, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: T) -> Self::Future {
        std::future::ready(Ok(self.0.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sliding_window_admits_exactly_the_limit() {
        let f = FaultState::new(&SimConfig::default());
        let admitted = (0..25).filter(|_| f.admit("org", 10)).count();
        assert_eq!(admitted, 10, "within one second exactly `limit` requests may pass");
        assert!(f.admit("other", 10), "each org has its own window");
    }

    #[test]
    fn forced_faults_are_used_first_and_run_out() {
        let f = FaultState::new(&SimConfig::default());
        f.force(ForcedFault { path_contains: Some("/data".into()), kind: FaultKind::Http504, count: 2 });
        assert_eq!(f.pick_fault("/k/sharing/rest/search", false), None, "a forced fault only hits matching paths");
        assert_eq!(
            f.pick_fault("/k/sharing/rest/content/items/x/data", false),
            Some((FaultKind::Http504, false)),
            "first forced hit, before the handler on a read"
        );
        assert_eq!(
            f.pick_fault("/k/sharing/rest/content/items/y/data", false),
            Some((FaultKind::Http504, false)),
            "second forced hit"
        );
        assert_eq!(
            f.pick_fault("/k/sharing/rest/content/items/z/data", false),
            None,
            "forced faults run out after `count`"
        );
    }

    #[test]
    fn about_half_the_faults_on_writes_strike_after_the_handler() {
        let f = FaultState::new(&SimConfig { fault_rate: 1.0, ..SimConfig::default() });
        let picks: Vec<_> =
            (0..400).filter_map(|_| f.pick_fault("/k/sharing/rest/content/users/u/addItem", true)).collect();
        assert_eq!(picks.len(), 400, "a fault rate of 1 fails every request");
        let after = picks.iter().filter(|(_, after)| *after).count();
        assert!(
            (140..=260).contains(&after),
            "about half of the write faults must come after the write, got {after}/400"
        );
        assert!(
            (0..100).filter_map(|_| f.pick_fault("/k/sharing/rest/search", false)).all(|(_, after)| !after),
            "a read is never failed after its handler by the random draw"
        );
        f.force_timed(ForcedFault { path_contains: Some("/addItem".into()), kind: FaultKind::Http500, count: 1 }, true);
        f.set_fault_rate(0.0);
        assert_eq!(
            f.pick_fault("/k/sharing/rest/content/users/u/addItem", true),
            Some((FaultKind::Http500, true)),
            "a forced timing is obeyed"
        );
    }

    #[test]
    fn fault_rate_is_clamped() {
        let f = FaultState::new(&SimConfig::default());
        f.set_fault_rate(7.0);
        assert_eq!(f.fault_rate(), 1.0, "a rate above 1 means always");
        f.set_fault_rate(f64::NAN);
        assert_eq!(f.fault_rate(), 0.0, "NaN must not inject faults");
    }
}
