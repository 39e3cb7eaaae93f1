//! Unit tests of the HTTP behaviour against tiny axum portals on 127.0.0.1: error bodies,
//! retries, throttling, token renewal, the org-host allowlist, stalls and redaction.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::{Clock, Credentials, Error, Portal, PortalConfig, RetryPolicy, Secret, Url};

pub(crate) const PASSWORD: &str = "correct-horse-battery";

/// A clock tests can move.
#[derive(Debug)]
pub(crate) struct TestClock(pub AtomicI64);

impl Clock for TestClock {
    fn now_ms(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

pub(crate) fn real_now_ms() -> i64 {
    crate::SystemClock.now_ms()
}

/// Shared state of a mock server: what it saw and what it issued.
#[derive(Default)]
pub(crate) struct Seen {
    pub hits: Mutex<HashMap<String, u32>>,
    pub requests: Mutex<Vec<(String, HeaderMap, String)>>,
    pub tokens_issued: AtomicU32,
    pub valid_tokens: Mutex<HashSet<String>>,
    pub token_delay_ms: AtomicU32,
    pub refresh_tokens: Mutex<HashSet<String>>,
    pub grants: Mutex<Vec<String>>,
    /// Items `/search` answers with: (id, created).
    pub items: Mutex<Vec<(String, i64)>>,
    /// Answer as ArcGIS Enterprise (isPortal) with this federated server URL.
    pub federated_server: Mutex<Option<String>>,
    pub base: Mutex<String>,
    /// Answer `generateToken` and `oauth2/token` with this redirect (status, Location).
    pub redirect_sign_in: Mutex<Option<(u16, String)>>,
    /// Request bodies, as received.
    pub bodies: Mutex<Vec<String>>,
}

impl Seen {
    fn hit(&self, path: &str) -> u32 {
        let mut h = self.hits.lock().expect("lock");
        let n = h.entry(path.to_string()).or_insert(0);
        *n += 1;
        *n
    }
    pub fn hits(&self, path: &str) -> u32 {
        self.hits.lock().expect("lock").get(path).copied().unwrap_or(0)
    }
}

pub(crate) fn error_body(code: u16, message: &str) -> Response {
    axum::Json(json!({"error":{"code":code,"message":message,"details":[]}})).into_response()
}

pub(crate) fn bearer(headers: &HeaderMap) -> Option<String> {
    headers.get("x-esri-authorization")?.to_str().ok()?.strip_prefix("Bearer ").map(str::to_string)
}

pub(crate) fn form_or_query(query: &str, key: &str) -> String {
    serde_urlencoded::from_str::<HashMap<String, String>>(query).unwrap_or_default().remove(key).unwrap_or_default()
}

/// The mock portal: a handful of real endpoints plus fault endpoints under `/sharing/rest/t/`.
async fn portal_handler(seen: Arc<Seen>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let query = uri.query().unwrap_or("").to_string();
    let n = seen.hit(&path);
    seen.requests.lock().expect("lock").push((path.clone(), headers.clone(), query.clone()));
    let form: HashMap<String, String> = serde_urlencoded::from_bytes(&body).unwrap_or_default();
    let rest = path.strip_prefix("/sharing/rest/").unwrap_or("");
    let redirect = seen.redirect_sign_in.lock().expect("lock").clone();
    if let (Some((status, to)), "generateToken" | "oauth2/token") = (redirect, rest) {
        let status = StatusCode::from_u16(status).expect("status");
        return Response::builder().status(status).header("location", to).body(Body::empty()).expect("resp");
    }
    if rest == "info" {
        return axum::Json(
            json!({"owningSystemUrl": *seen.base.lock().expect("lock"), "authInfo":{"isTokenBasedSecurity":true}}),
        )
        .into_response();
    }
    if rest == "generateToken" {
        assert_eq!(method, Method::POST, "generateToken must be a POST so the password is not in a URL");
        let delay = seen.token_delay_ms.load(Ordering::SeqCst);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay.into())).await;
        }
        if form.get("password").map(String::as_str) != Some(PASSWORD) {
            return axum::Json(json!({"error":{"code":400,"message":"Unable to generate token.","details":["Invalid username or password."]}})).into_response();
        }
        let n = seen.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("tok-{n}");
        seen.valid_tokens.lock().expect("lock").insert(token.clone());
        return axum::Json(json!({"token": token, "expires": real_now_ms() + 3_600_000, "ssl": false})).into_response();
    }
    if rest == "oauth2/token" {
        let grant = form.get("grant_type").cloned().unwrap_or_default();
        seen.grants.lock().expect("lock").push(grant.clone());
        let rt = form.get("refresh_token").cloned().unwrap_or_default();
        if !seen.refresh_tokens.lock().expect("lock").contains(&rt) {
            return axum::Json(
                json!({"error":{"code":400,"error":"invalid_request","message":"Invalid refresh_token","details":[]}}),
            )
            .into_response();
        }
        if grant == "exchange_refresh_token" {
            assert!(
                form.get("redirect_uri").is_some_and(|r| !r.is_empty()),
                "exchange_refresh_token needs the redirect_uri"
            );
            let n = seen.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
            let new_rt = format!("rt-{n}");
            let mut rts = seen.refresh_tokens.lock().expect("lock");
            rts.remove(&rt);
            rts.insert(new_rt.clone());
            return axum::Json(
                json!({"refresh_token": new_rt, "refresh_token_expires_in": 1_209_600, "username": "admin"}),
            )
            .into_response();
        }
        let n = seen.tokens_issued.fetch_add(1, Ordering::SeqCst) + 1;
        let token = format!("tok-{n}");
        seen.valid_tokens.lock().expect("lock").insert(token.clone());
        return axum::Json(json!({"access_token": token, "expires_in": 1800, "username": "admin"})).into_response();
    }
    // Everything else needs a valid token: in the header of a GET, in the form of a POST (as
    // Esri documents the header for GET only; see portal-sim's `caller_for_request`).
    let token = if method == Method::GET { bearer(&headers) } else { form.get("token").cloned() };
    let valid = token.as_ref().map(|t| seen.valid_tokens.lock().expect("lock").contains(t)).unwrap_or(false);
    if !valid {
        return if token.is_some() { error_body(498, "Invalid token.") } else { error_body(499, "Token Required") };
    }
    let parts: Vec<&str> = rest.split('/').collect();
    match parts.as_slice() {
        ["portals", "self"] => {
            let enterprise = seen.federated_server.lock().expect("lock").is_some();
            axum::Json(json!({"id":"org1","urlKey":"acme","name":"Acme","isPortal":enterprise,"created": 1_500_000_000_000i64,
                "user":{"username":"admin","role":"org_admin","privileges":["portal:admin:viewItems"]}})).into_response()
        }
        ["portals", "self", "servers"] => {
            let server = seen.federated_server.lock().expect("lock").clone();
            axum::Json(json!({"servers": server.map(|u| vec![json!({"url": u, "serverRole": "HOSTING_SERVER"})]).unwrap_or_default()})).into_response()
        }
        ["portals", "org1", "urls"] => axum::Json(json!({"urls":{"features":{"http":[]}}})).into_response(),
        ["search"] => search_answer(&seen, &query),
        ["t", "ok"] => axum::Json(json!({"ok": true, "n": n})).into_response(),
        ["t", "errbody"] => axum::Json(json!({"error":{"code":400,"messageCode":"CONT_0001","message":"Item does not exist or is inaccessible: x","details":[]}})).into_response(),
        ["t", "forbidden"] => (StatusCode::FORBIDDEN, "no").into_response(),
        ["t", "status", code, fails] => {
            let fails: u32 = fails.parse().expect("fails");
            if n <= fails {
                let code: u16 = code.parse().expect("code");
                let mut r = (StatusCode::from_u16(code).expect("status"), "busy").into_response();
                if code == 429 {
                    r.headers_mut().insert("retry-after", "1".parse().expect("hv"));
                }
                r
            } else {
                axum::Json(json!({"ok": true, "attempts": n})).into_response()
            }
        }
        ["t", "drop", fails] => {
            let fails: u32 = fails.parse().expect("fails");
            if n <= fails {
                // Headers go out, then the body breaks: the connection dies mid-answer.
                let s = futures::stream::iter(vec![
                    Ok::<_, std::io::Error>(Bytes::from_static(b"{\"ok\":")),
                    Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "dropped")),
                ]);
                Response::builder().header("content-type", "application/json").body(Body::from_stream(s)).expect("resp")
            } else {
                axum::Json(json!({"ok": true, "attempts": n})).into_response()
            }
        }
        ["t", "stall", fails] => {
            let fails: u32 = fails.parse().expect("fails");
            if n <= fails {
                let s = futures::stream::unfold(0u8, |i| async move {
                    if i == 0 {
                        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"{\"ok\":")), 1))
                    } else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        None
                    }
                });
                Response::builder().header("content-type", "application/json").body(Body::from_stream(s)).expect("resp")
            } else {
                axum::Json(json!({"ok": true, "attempts": n})).into_response()
            }
        }
        ["t", "trickle", chunks] => {
            // A JSON answer that keeps flowing: a piece every 100 ms, `chunks` of them.
            let chunks: u32 = chunks.parse().expect("chunks");
            let s = futures::stream::unfold(0u32, move |i| async move {
                match i {
                    0 => Some((Ok::<_, std::io::Error>(Bytes::from_static(b"{\"ok\":true,\"pad\":[")), 1)),
                    i if i <= chunks => {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        Some((Ok(Bytes::from_static(b"1,")), i + 1))
                    }
                    i if i == chunks + 1 => Some((Ok(Bytes::from_static(b"1]}")), i + 1)),
                    _ => None,
                }
            });
            Response::builder().header("content-type", "application/json").body(Body::from_stream(s)).expect("resp")
        }
        ["t", "stall-sized", fails] => {
            // A small file announced by its Content-Length whose body stops after 6 bytes.
            let fails: u32 = fails.parse().expect("fails");
            if n <= fails {
                let s = futures::stream::unfold(0u8, |i| async move {
                    if i == 0 {
                        Some((Ok::<_, std::io::Error>(Bytes::from_static(b"<?xml ")), 1))
                    } else {
                        tokio::time::sleep(Duration::from_secs(30)).await;
                        None
                    }
                });
                Response::builder()
                    .header("content-type", "application/xml")
                    .header("content-length", "100")
                    .body(Body::from_stream(s))
                    .expect("resp")
            } else {
                axum::Json(json!({"ok": true, "attempts": n})).into_response()
            }
        }
        ["t", "revoke-once"] => {
            if n == 1 {
                seen.valid_tokens.lock().expect("lock").clear();
                error_body(498, "Invalid token.")
            } else {
                axum::Json(json!({"ok": true, "token_seen": token})).into_response()
            }
        }
        ["t", "slow", ms] => {
            // A write the server takes its time over (a large applyEdits, say).
            tokio::time::sleep(Duration::from_millis(ms.parse().expect("ms"))).await;
            axum::Json(json!({"ok": true, "attempts": n})).into_response()
        }
        ["t", "revoke", times] => {
            // The first `times` requests meet a token revoked under them (a short-lived token
            // expiring again while a retried request waited).
            if n <= times.parse().expect("times") {
                seen.valid_tokens.lock().expect("lock").clear();
                error_body(498, "Invalid token.")
            } else {
                axum::Json(json!({"ok": true, "token_seen": token})).into_response()
            }
        }
        ["t", "always498"] => error_body(498, "Invalid token."),
        ["t", "redirect"] => {
            let to = form_or_query(&query, "to");
            Response::builder().status(StatusCode::FOUND).header("location", to).body(Body::empty()).expect("resp")
        }
        ["t", "data-error"] => axum::Json(json!({"error":{"code":403,"message":"You do not have permissions to access this resource or perform this operation.","details":[]}})).into_response(),
        ["t", "big-json", len] => {
            // A valid JSON answer of `len` bytes, with a Content-Length.
            let len: usize = len.parse().expect("len");
            Response::builder().header("content-type", "application/json").body(Body::from(big_json(len))).expect("resp")
        }
        ["t", "big-json-chunked", len] => {
            // The same without a Content-Length: the size shows only while reading.
            let body = big_json(len.parse().expect("len"));
            let chunks: Vec<Result<Bytes, std::io::Error>> =
                body.chunks(8192).map(|c| Ok(Bytes::copy_from_slice(c))).collect();
            Response::builder()
                .header("content-type", "application/json")
                .body(Body::from_stream(futures::stream::iter(chunks)))
                .expect("resp")
        }
        ["t", "big-error", len] => {
            // A 502 whose page is `len` bytes and then never ends: only a reader that stops at
            // its cap sees the status before the stall timeout.
            let len: usize = len.parse().expect("len");
            let s = futures::stream::unfold(0u8, move |i| async move {
                if i == 0 {
                    Some((Ok::<_, std::io::Error>(Bytes::from(vec![b'x'; len])), 1))
                } else {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    None
                }
            });
            Response::builder().status(StatusCode::BAD_GATEWAY).body(Body::from_stream(s)).expect("resp")
        }
        ["t", "data-file"] => Response::builder().header("content-type", "application/pdf").body(Body::from(vec![b'%'; 200_000])).expect("resp"),
        _ => (StatusCode::NOT_FOUND, "not found").into_response(),
    }
}

/// `{"pad":"xxx..."}` of exactly `len` bytes (at least 10).
fn big_json(len: usize) -> Vec<u8> {
    let mut body = b"{\"pad\":\"".to_vec();
    body.resize(len - 2, b'x');
    body.extend_from_slice(b"\"}");
    body
}

/// `/search` over `Seen::items`: `created:[a TO b]` ranges, oldest first, 10,000-result cap.
fn search_answer(seen: &Seen, query: &str) -> Response {
    let q = form_or_query(query, "q");
    let start: usize = form_or_query(query, "start").parse().unwrap_or(1);
    let num: usize = form_or_query(query, "num").parse().unwrap_or(10);
    let (lo, hi) = match q.split_once("created:[") {
        Some((_, r)) => {
            let r = r.trim_end_matches(']');
            let (a, b) = r.split_once(" TO ").expect("range");
            (a.parse::<i64>().expect("lo"), b.parse::<i64>().expect("hi"))
        }
        None => (i64::MIN, i64::MAX),
    };
    let mut hits: Vec<(String, i64)> =
        seen.items.lock().expect("lock").iter().filter(|(_, c)| *c >= lo && *c <= hi).cloned().collect();
    hits.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    if start + num.max(1) - 1 > 10_000 {
        return error_body(400, "Requested start + num exceeds the maximum of 10000.");
    }
    let total = hits.len();
    let from = (start - 1).min(total);
    let to = (from + num).min(total);
    let results: Vec<_> =
        hits[from..to].iter().map(|(id, c)| json!({"id": id, "created": c, "type": "PDF", "title": id})).collect();
    let next = if num == 0 || start + num > total.min(10_000) { -1 } else { (start + num) as i64 };
    axum::Json(json!({"total": total, "start": start, "num": num, "nextStart": next, "results": results}))
        .into_response()
}

/// Starts a server on 127.0.0.1:0 answering with `handler`; returns its base URL.
pub(crate) async fn start_server(seen: Arc<Seen>, foreign: bool) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind loopback");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    *seen.base.lock().expect("lock") = base.clone();
    let s = seen.clone();
    let app = axum::Router::new().fallback(move |method: Method, uri: Uri, headers: HeaderMap, body: Bytes| {
        let s = s.clone();
        async move {
            if foreign {
                s.bodies.lock().expect("lock").push(String::from_utf8_lossy(&body).into_owned());
                s.hit(uri.path());
                s.requests.lock().expect("lock").push((
                    uri.path().to_string(),
                    headers,
                    uri.query().unwrap_or("").to_string(),
                ));
                if uri.path() == "/redirect" {
                    // A foreign host that sends its callers elsewhere (`/redirect?to=URL`).
                    let to = form_or_query(uri.query().unwrap_or(""), "to");
                    return Response::builder()
                        .status(StatusCode::FOUND)
                        .header("location", to)
                        .body(Body::empty())
                        .expect("resp");
                }
                return axum::Json(json!({"currentVersion": 11.1, "layers": []})).into_response();
            }
            portal_handler(s, method, uri, headers, body).await
        }
    });
    tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    base
}

pub(crate) fn fast_retry() -> RetryPolicy {
    RetryPolicy {
        base_delay: Duration::from_millis(5),
        max_delay: Duration::from_millis(40),
        max_attempts: 4,
        max_retry_after: Duration::from_secs(2),
        ..RetryPolicy::default()
    }
}

pub(crate) fn config(base: &str, password: &str) -> PortalConfig {
    let mut cfg = PortalConfig::new(
        Url::parse(base).expect("base url"),
        Credentials::BuiltIn { username: "admin".into(), password: Secret::new(password) },
    );
    cfg.retry = fast_retry();
    cfg.custom_headers = vec![("X-Gateway-Key".into(), "gw-secret-value".into())];
    cfg.stall_timeout = Duration::from_millis(300);
    cfg.request_timeout = Duration::from_secs(10);
    cfg
}

pub(crate) async fn mock() -> (Arc<Seen>, Portal) {
    let seen = Arc::new(Seen::default());
    let base = start_server(seen.clone(), false).await;
    let portal = Portal::connect(config(&base, PASSWORD)).await.expect("connect to the mock portal");
    (seen, portal)
}

mod hosts;
mod limits;
mod redirects;
mod retries;
mod search;
mod tokens;
